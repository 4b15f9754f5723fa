/*
 * interleaved_searches: runs several LDAP searches at once on one
 * connection, reads their answers the way pssync's "scan" strategy does
 * (src/directory.c, run_queries()), and checks that every search gets
 * exactly its own entries: a test of how libldap hands out the answers of
 * concurrent searches, meant to be run through test/tools/ldapshuffle.c,
 * which interleaves them.
 *
 *   interleaved_searches [-n SEARCHES] [-r ROUNDS] [-t TIMEOUT_US] [-Z]
 *                        [-D BINDDN -w PASSWORD] [-v] URI BASE FILTER
 *
 * Search i (0 .. SEARCHES-1, default 16) is a subtree search of BASE with
 * FILTER, every "%d" in it replaced by i, asking for all attributes; with
 * the crowd of test/fixtures/crowd_ldif.sh, '(uid=crowd0%d*)' makes
 * searches of 99, 100 and 10 entries.  First each search runs alone
 * (ldap_search_ext_s), for the DNs it should return.  Then, ROUNDS times
 * (default 20), all of them are sent at once with ldap_search_ext and the
 * answers read with
 *
 *   ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_RECEIVED, {0, TIMEOUT_US}, &res)
 *
 * (TIMEOUT_US default 1000; 0 polls), walking each returned chain with
 * ldap_first_message/ldap_next_message.  It counts the chains whose
 * messages have more than one messageID (libldap 2.6.10 and later return
 * such chains for LDAP_RES_ANY with LDAP_MSG_RECEIVED, ITS#10229, when one
 * read brings in several messages: over TLS whose records hold several,
 * as with socat in front of ldapshuffle, see there; never on plain TCP.
 * 2.5 and 2.6.9 never do), and dispatches the messages two ways: each by
 * its own ldap_msgid(msg), and each to the search of its chain's first
 * message (run_queries()'s dispatch when this was written).  A search is
 * right when it got exactly the DNs it returns alone (as a sorted list,
 * duplicates counted) and its own SearchResultDone with success.
 *
 * Prints the libldap version it runs with, the counts, and for each
 * dispatch how many searches were right; exits 0 when every search was
 * right dispatched by ldap_msgid(msg), 1 when one was not, 2 on an error.
 * -v prints the messageIDs of the first mixed chains.  -Z starts TLS
 * (StartTLS) before binding; an ldaps:// URI works too; the CA comes from
 * ldap.conf or the environment (LDAPTLS_CACERT=..., LDAPTLS_REQCERT=never).
 *
 * Needs libldap; not built by .ci/run's loop over the .c files of test/tools
 * (which links nothing), hence its own directory:
 *   gcc -O2 -Wall -Wextra -o interleaved_searches \
 *       test/tools/ldap/interleaved_searches.c -lldap -llber
 *   ldapshuffle 3899 3890 &        # slapd on 3890 with the crowd loaded
 *   ./interleaved_searches ldap://127.0.0.1:3899 \
 *       ou=Crowd,dc=district,dc=org '(uid=crowd0%d*)'
 * Against another libldap, build with -I/-L of it and run with
 * LD_LIBRARY_PATH pointing at it: the version printed tells which ran.
 */
#include <ldap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SEARCHES 64

struct dns
{
	char	  **v;
	size_t		n;
	size_t		cap;
};

struct search
{
	char	   *filter;
	struct dns	expected;
	int			msgid;
	/* dispatched by each message's own messageID */
	struct dns	got;
	bool		done;
	int			result;
	/* dispatched to the search of the chain's first message */
	struct dns	got_first;
	bool		done_first;
	int			result_first;
	bool		done_twice;		/* a second SearchResultDone, by msgid */
	bool		done_twice_first;	/* ... by the chain's first message */
};

static struct search searches[MAX_SEARCHES];
static int	nsearches = 16;

static void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (p == NULL)
	{
		fprintf(stderr, "interleaved_searches: out of memory\n");
		exit(2);
	}
	return p;
}

static void
dns_add(struct dns *d, const char *dn)
{
	if (d->n == d->cap)
	{
		d->cap = d->cap ? d->cap * 2 : 64;
		d->v = xrealloc(d->v, sizeof(char *) * d->cap);
	}
	d->v[d->n] = strdup(dn);
	if (d->v[d->n] == NULL)
	{
		fprintf(stderr, "interleaved_searches: out of memory\n");
		exit(2);
	}
	d->n++;
}

static void
dns_clear(struct dns *d)
{
	size_t		i;

	for (i = 0; i < d->n; i++)
		free(d->v[i]);
	d->n = 0;
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void
dns_sort(struct dns *d)
{
	if (d->n > 1)
		qsort(d->v, d->n, sizeof(char *), compare_strings);
}

static bool
dns_equal(struct dns *a, struct dns *b)
{
	size_t		i;

	if (a->n != b->n)
		return false;
	dns_sort(a);
	dns_sort(b);
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

/* FILTER with every "%d" replaced by i. */
static char *
make_filter(const char *template, int i)
{
	char		num[16];
	size_t		len = strlen(template);
	char	   *out;
	char	   *o;
	const char *p;

	snprintf(num, sizeof(num), "%d", i);
	out = xrealloc(NULL, len * (strlen(num) + 1) + 1);
	o = out;
	for (p = template; *p; p++)
	{
		if (p[0] == '%' && p[1] == 'd')
		{
			strcpy(o, num);
			o += strlen(num);
			p++;
		}
		else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

static void
fail_ldap(LDAP *ld, const char *what, int rc)
{
	(void) ld;
	fprintf(stderr, "interleaved_searches: %s: %s (%d)\n", what, ldap_err2string(rc), rc);
	exit(2);
}

static int
search_of(int msgid)
{
	int			i;

	for (i = 0; i < nsearches; i++)
		if (searches[i].msgid == msgid)
			return i;
	return -1;
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: interleaved_searches [-n SEARCHES] [-r ROUNDS] [-t TIMEOUT_US] [-Z]\n"
			"                            [-D BINDDN -w PASSWORD] [-v] URI BASE FILTER\n"
			"  FILTER: every %%d is replaced by the search's number, 0 .. SEARCHES-1\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	LDAPAPIInfo info;
	LDAP	   *ld;
	const char *uri;
	const char *base;
	const char *binddn = NULL;
	const char *password = NULL;
	int			rounds = 20;
	long		timeout_us = 1000;
	bool		verbose = false;
	bool		starttls = false;
	int			version = LDAP_VERSION3;
	int			opt;
	int			rc;
	int			i;
	int			round;
	unsigned long expected_entries = 0;
	unsigned long chains = 0;
	unsigned long mixed_chains = 0;
	unsigned long messages = 0;
	unsigned long misfirst = 0;	/* messages not of their chain's first msgid */
	unsigned long stray = 0;	/* messages of no search of the round */
	unsigned long timeouts = 0;
	int			max_ids_in_chain = 0;
	int			max_chain_len = 0;
	int			shown = 0;
	int			right = 0;
	int			right_first = 0;
	int			total;

	while ((opt = getopt(argc, argv, "n:r:t:D:w:vZ")) != -1)
	{
		switch (opt)
		{
			case 'n':
				nsearches = atoi(optarg);
				if (nsearches < 1 || nsearches > MAX_SEARCHES)
					usage();
				break;
			case 'r':
				rounds = atoi(optarg);
				if (rounds < 1)
					usage();
				break;
			case 't':
				timeout_us = atol(optarg);
				if (timeout_us < 0 || timeout_us > 10000000)
					usage();
				break;
			case 'D':
				binddn = optarg;
				break;
			case 'w':
				password = optarg;
				break;
			case 'v':
				verbose = true;
				break;
			case 'Z':
				starttls = true;
				break;
			default:
				usage();
		}
	}
	if (argc - optind != 3)
		usage();
	uri = argv[optind];
	base = argv[optind + 1];
	for (i = 0; i < nsearches; i++)
		searches[i].filter = make_filter(argv[optind + 2], i);

	memset(&info, 0, sizeof(info));
	info.ldapai_info_version = LDAP_API_INFO_VERSION;
	if (ldap_get_option(NULL, LDAP_OPT_API_INFO, &info) == LDAP_OPT_SUCCESS)
	{
		printf("libldap: %s %d.%d.%d\n", info.ldapai_vendor_name,
			   info.ldapai_vendor_version / 10000,
			   info.ldapai_vendor_version / 100 % 100,
			   info.ldapai_vendor_version % 100);
		if (info.ldapai_extensions)
		{
			for (i = 0; info.ldapai_extensions[i]; i++)
				ldap_memfree(info.ldapai_extensions[i]);
			ldap_memfree(info.ldapai_extensions);
		}
		ldap_memfree(info.ldapai_vendor_name);
	}

	rc = ldap_initialize(&ld, uri);
	if (rc != LDAP_SUCCESS)
		fail_ldap(NULL, "ldap_initialize", rc);
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	if (starttls)
	{
		rc = ldap_start_tls_s(ld, NULL, NULL);
		if (rc != LDAP_SUCCESS)
			fail_ldap(ld, "StartTLS", rc);
	}
	if (binddn)
	{
		struct berval cred;

		cred.bv_val = (char *) (password ? password : "");
		cred.bv_len = strlen(cred.bv_val);
		rc = ldap_sasl_bind_s(ld, binddn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
		if (rc != LDAP_SUCCESS)
			fail_ldap(ld, "bind", rc);
	}

	/* each search alone: what it should return */
	for (i = 0; i < nsearches; i++)
	{
		LDAPMessage *res;
		LDAPMessage *msg;

		rc = ldap_search_ext_s(ld, base, LDAP_SCOPE_SUBTREE, searches[i].filter,
							   NULL, 0, NULL, NULL, NULL, 0, &res);
		if (rc != LDAP_SUCCESS)
			fail_ldap(ld, searches[i].filter, rc);
		for (msg = ldap_first_entry(ld, res); msg; msg = ldap_next_entry(ld, msg))
		{
			char	   *dn = ldap_get_dn(ld, msg);

			dns_add(&searches[i].expected, dn);
			ldap_memfree(dn);
		}
		ldap_msgfree(res);
		expected_entries += searches[i].expected.n;
	}
	printf("searches: %d at once, %lu entries in all, %d rounds, "
		   "ldap_result timeout %ld us\n",
		   nsearches, expected_entries, rounds, timeout_us);

	for (round = 0; round < rounds; round++)
	{
		int			pending = nsearches;
		long		idle = 0;

		for (i = 0; i < nsearches; i++)
		{
			struct search *s = &searches[i];

			dns_clear(&s->got);
			dns_clear(&s->got_first);
			s->done = s->done_first = false;
			s->done_twice = s->done_twice_first = false;
			s->result = s->result_first = -1;
			rc = ldap_search_ext(ld, base, LDAP_SCOPE_SUBTREE, s->filter,
								 NULL, 0, NULL, NULL, NULL, 0, &s->msgid);
			if (rc != LDAP_SUCCESS)
				fail_ldap(ld, "ldap_search_ext", rc);
		}

		while (pending > 0)
		{
			struct timeval tv;
			LDAPMessage *res = NULL;
			LDAPMessage *msg;
			int			first_id;
			int			first;
			int			chain_len = 0;
			int			ids_in_chain = 0;
			bool		seen[MAX_SEARCHES];

			tv.tv_sec = 0;
			tv.tv_usec = timeout_us;
			rc = ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_RECEIVED, &tv, &res);
			if (rc == 0)
			{
				timeouts++;
				if (++idle * (timeout_us ? timeout_us : 1) > 30000000L)
				{
					fprintf(stderr, "interleaved_searches: no answer for 30 s, "
							"%d searches of round %d unfinished\n", pending, round);
					exit(2);
				}
				continue;
			}
			idle = 0;
			if (rc < 0)
			{
				int			err = LDAP_OTHER;

				ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
				fail_ldap(ld, "ldap_result", err);
			}

			chains++;
			memset(seen, 0, sizeof(seen));
			first_id = ldap_msgid(res);
			first = search_of(first_id);
			for (msg = ldap_first_message(ld, res); msg;
				 msg = ldap_next_message(ld, msg))
			{
				int			id = ldap_msgid(msg);
				int			type = ldap_msgtype(msg);
				int			s = search_of(id);

				messages++;
				chain_len++;
				if (id != first_id)
					misfirst++;
				if (s < 0)
				{
					stray++;
					continue;
				}
				if (!seen[s])
				{
					seen[s] = true;
					ids_in_chain++;
				}
				if (type == LDAP_RES_SEARCH_ENTRY)
				{
					char	   *dn = ldap_get_dn(ld, msg);

					dns_add(&searches[s].got, dn ? dn : "(no DN)");
					if (first >= 0)
						dns_add(&searches[first].got_first, dn ? dn : "(no DN)");
					ldap_memfree(dn);
				}
				else if (type == LDAP_RES_SEARCH_RESULT)
				{
					int			err = -1;

					rc = ldap_parse_result(ld, msg, &err, NULL, NULL, NULL, NULL, 0);
					if (rc != LDAP_SUCCESS)
						err = rc;
					if (searches[s].done)
						searches[s].done_twice = true;
					else
						pending--;
					searches[s].done = true;
					searches[s].result = err;
					if (first >= 0)
					{
						if (searches[first].done_first)
							searches[first].done_twice_first = true;
						searches[first].done_first = true;
						searches[first].result_first = err;
					}
				}
				/* references: none in these searches */
			}
			if (ids_in_chain > 1)
			{
				mixed_chains++;
				if (verbose && shown < 5)
				{
					int			last = -1;
					int			run = 0;

					shown++;
					printf("mixed chain %lu (round %d), messageID x count:", chains, round);
					for (msg = ldap_first_message(ld, res); msg;
						 msg = ldap_next_message(ld, msg))
					{
						if (ldap_msgid(msg) != last && run > 0)
						{
							printf(" %dx%d", last, run);
							run = 0;
						}
						last = ldap_msgid(msg);
						run++;
					}
					printf(" %dx%d\n", last, run);
				}
			}
			if (ids_in_chain > max_ids_in_chain)
				max_ids_in_chain = ids_in_chain;
			if (chain_len > max_chain_len)
				max_chain_len = chain_len;
			ldap_msgfree(res);
		}

		for (i = 0; i < nsearches; i++)
		{
			struct search *s = &searches[i];

			if (s->done && !s->done_twice && s->result == LDAP_SUCCESS &&
				dns_equal(&s->got, &s->expected))
				right++;
			if (s->done_first && !s->done_twice_first &&
				s->result_first == LDAP_SUCCESS &&
				dns_equal(&s->got_first, &s->expected))
				right_first++;
		}
	}

	total = nsearches * rounds;
	printf("chains: %lu returned, %lu with more than one messageID "
		   "(at most %d messageIDs, %d messages in one chain); "
		   "%lu messages, %lu not of their chain's first messageID, %lu stray; "
		   "%lu timeouts\n",
		   chains, mixed_chains, max_ids_in_chain, max_chain_len,
		   messages, misfirst, stray, timeouts);
	printf("dispatch by ldap_msgid(msg): %d of %d searches right\n", right, total);
	printf("dispatch by the chain's first message: %d of %d searches right\n",
		   right_first, total);
	ldap_unbind_ext_s(ld, NULL, NULL);
	return right == total ? 0 : 1;
}
