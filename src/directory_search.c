/*-------------------------------------------------------------------------
 *
 * directory_search.c
 *		  Searching the directory: paged searches (RFC 2696), many at a
 *		  time on one connection, and referrals.
 *
 * Each search's answers are awaited as directory_wait.c awaits every
 * answer: bounded by the server's timeout, and cancellable.  An entry is
 * handed to the search's callback with its DN and the values of each
 * requested attribute; what is built for it lives in a memory context
 * reset after each entry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "directory_int.h"

#define SEARCHES_IN_FLIGHT 16

/* A search being run: what it asks, and where it is. */
typedef struct Query
{
	const char *base;			/* server encoding */
	int			scope;
	const char *filter;			/* UTF-8 */
	DirectoryEntryCallback callback;
	void	   *arg;
	int			msgid;			/* of the page asked for, or -1 */
	struct berval cookie;		/* of the next page (palloc'd) */
	bool		paged;			/* with the paged results control */
	LDAPControl *extra;			/* another control to send, or NULL */
	List	   *references;		/* URLs to follow afterwards */
	bool		complete;
	int			result_code;
} Query;

static void run_queries(PssyncDirectory *dir, Query *queries, int n,
						const char **attrs, bool tolerate_errors);
static bool follow_reference(PssyncDirectory *dir, const char *url,
							 const char *base_dn, int scope,
							 const char *filter, const char **attrs,
							 DirectoryEntryCallback callback, void *arg);


static void
append_values(DirectoryValues *v, struct berval *values)
{
	int			old = v->count;
	int			n;

	for (n = 0; values[n].bv_val; n++)
		;
	if (n == 0)
		return;
	v->count += n;
	v->values = old ? repalloc(v->values, v->count * sizeof(char *)) :
		palloc(v->count * sizeof(char *));
	v->lengths = old ? repalloc(v->lengths, v->count * sizeof(int)) :
		palloc(v->count * sizeof(int));
	for (n = 0; old + n < v->count; n++)
	{
		v->values[old + n] = copy_bytes(NULL, values[n].bv_val, values[n].bv_len);
		v->lengths[old + n] = values[n].bv_len;
	}
}


/*
 * Hand one search entry to the callback: its DN, and the values of each
 * requested attribute.  What is built here lives in entry_cxt, reset after
 * each entry; the callback runs in the caller's context and copies what it
 * keeps.  (directory_changes.c delivers the entries of its searches too.)
 */
void
directory_deliver_entry(PssyncDirectory *dir, LDAPMessage *entry, const char **attrs,
			  int nattrs, DirectoryEntryCallback callback, void *arg,
			  MemoryContext entry_cxt)
{
	MemoryContext caller_cxt = MemoryContextSwitchTo(entry_cxt);
	DirectoryValues *values = palloc0(sizeof(DirectoryValues) * Max(nattrs, 1));
	struct berval dn;
	struct berval attr;
	char	   *dn_string;
	int			rc;

	rc = ldap_get_dn_ber(dir->ld, entry, &dir->held_ber, &dn);
	if (rc != LDAP_SUCCESS)
		directory_report_lost_connection(dir, rc, "reading a search entry");
	dn_string = directory_text(dn.bv_val, dn.bv_len);

	for (;;)
	{
		bool		answered = false;
		int			i;

		rc = ldap_get_attribute_ber(dir->ld, entry, dir->held_ber, &attr,
									&dir->held_values);
		if (rc != LDAP_SUCCESS)
			directory_report_lost_connection(dir, rc, "reading a search entry");
		if (attr.bv_val == NULL)
			break;

		if (dir->held_values)
		{
			for (i = 0; i < nattrs; i++)
			{
				if (directory_attribute_answers(dir, attrs[i], attr.bv_val, attr.bv_len, false))
				{
					append_values(&values[i], dir->held_values);
					answered = true;
				}
			}
			/* returned under another name: one asked for, or an alias */
			if (!answered && nattrs == 1)
				append_values(&values[0], dir->held_values);
			else if (!answered)
			{
				for (i = 0; i < nattrs; i++)
				{
					if (directory_attribute_answers(dir, attrs[i], attr.bv_val, attr.bv_len, true))
						append_values(&values[i], dir->held_values);
				}
			}
			ber_memfree(dir->held_values);
			dir->held_values = NULL;
		}
	}
	ber_free(dir->held_ber, 0);
	dir->held_ber = NULL;

	MemoryContextSwitchTo(caller_cxt);
	callback(arg, dn_string, values);
	MemoryContextReset(entry_cxt);
}

static void
report_search_error(PssyncDirectory *dir, int rc, const char *diag,
					const char *base_dn, const char *filter)
{
	if (rc == LDAP_NO_SUCH_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("search base \"%s\" does not exist on LDAP server \"%s\"",
						base_dn, dir->server->servername),
				 diag ? errdetail_internal("%s", diag) : 0,
				 errhint("Check the server's base_dn, student_base_dn and staff_base_dn options.")));
	if (rc == LDAP_FILTER_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid LDAP search filter for server \"%s\"",
						dir->server->servername),
				 errdetail_internal("Filter: %s", filter),
				 errhint("Check the server's filter option.")));
	if (rc == LDAP_SERVER_DOWN || rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY ||
		rc == LDAP_CONNECT_ERROR)
		directory_report_lost_connection(dir, rc, "search");
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("LDAP search failed on server \"%s\"",
					dir->server->servername),
			 errdetail_internal("%s%s%s (base \"%s\", filter %s)",
								ldap_err2string(rc), diag ? ": " : "",
								diag ? diag : "", base_dn, filter),
			 dir->server->bind_dn == NULL ?
			 errhint("pssync bound anonymously, as no user mapping for the current user or PUBLIC gives a bind_dn; many directories (Active Directory among them) answer searches only after a bind: CREATE USER MAPPING FOR PUBLIC SERVER %s OPTIONS (bind_dn '...', password '...').",
					 quote_identifier(dir->server->servername)) : 0));
}

/*
 * Search base_dn (server encoding) with the server's scope for a filter
 * (UTF-8, already escaped), asking for attrs (NULL-terminated; an empty
 * list asks for no attributes), one page at a time (RFC 2696).  Each entry
 * goes to callback.  Continuation references are ignored, or followed
 * with the server's referrals option.
 *
 * Returns false when the server stopped the search early at a size or
 * administrative limit (the entries sent before it still came), true when
 * it returned everything.
 */
bool
directory_search(PssyncDirectory *dir, List *base_dns,
				 const char *filter, const char **attrs,
				 DirectoryEntryCallback callback, void *arg)
{
	bool		complete = true;
	ListCell   *cell;

	/* a group's entries are the union over its base DNs */
	foreach(cell, base_dns)
	{
		if (!directory_search_scope(dir, (const char *) lfirst(cell),
									dir->server->scope, filter, attrs,
									callback, arg, NULL))
			complete = false;
	}
	return complete;
}

/*
 * Many searches of a group's base DNs, asking for the same attributes, run
 * SEARCHES_IN_FLIGHT at a time on the connection, so that each costs the
 * directory's time rather than a round trip.  Each search's entries go to
 * its own callback; search->complete says whether it was cut short.
 */
void
directory_search_batch(PssyncDirectory *dir, List *base_dns,
					   const char **attrs, DirectorySearch *searches, int n)
{
	int			ndns = list_length(base_dns);
	Query	   *queries;
	int			i;
	int			d;

	if (n == 0 || ndns == 0)
		return;

	/* each search once per base DN: query i * ndns + d */
	queries = palloc0(sizeof(Query) * n * ndns);
	for (i = 0; i < n; i++)
	{
		for (d = 0; d < ndns; d++)
		{
			Query	   *q = &queries[i * ndns + d];

			q->base = (const char *) list_nth(base_dns, d);
			q->scope = dir->server->scope;
			q->filter = searches[i].filter;
			q->callback = searches[i].callback;
			q->arg = searches[i].arg;
		}
	}
	run_queries(dir, queries, n * ndns, attrs, false);

	/*
	 * A directory runs one paged search at a time on a connection (OpenLDAP
	 * does), so the searches of a batch go unpaged; one that a size limit
	 * cut short is run again, alone and paged, under each of its base DNs.
	 */
	for (i = 0; i < n; i++)
	{
		bool		complete = true;

		for (d = 0; d < ndns; d++)
			complete = complete && queries[i * ndns + d].complete;
		if (!complete)
		{
			if (searches[i].reset)
				searches[i].reset(searches[i].arg);
			complete = true;
			for (d = 0; d < ndns; d++)
			{
				Query	   *q = &queries[i * ndns + d];

				q->complete = false;
				q->paged = true;
				q->references = NIL;
				run_queries(dir, q, 1, attrs, false);
				complete = complete && q->complete;
			}
		}
		searches[i].complete = complete;
	}
	pfree(queries);
}

/*
 * Read one entry, by its DN (server encoding), if it passes a filter
 * (UTF-8).  Returns false when the directory has no such entry (or the
 * bind account may not see it).
 */
bool
directory_read_entry(PssyncDirectory *dir, const char *dn, const char *filter,
					 const char **attrs, DirectoryEntryCallback callback,
					 void *arg)
{
	int			rc;

	directory_search_scope(dir, dn, LDAP_SCOPE_BASE, filter, attrs, callback,
						   arg, &rc);
	if (rc == LDAP_NO_SUCH_OBJECT || rc == LDAP_INVALID_DN_SYNTAX ||
		rc == LDAP_INSUFFICIENT_ACCESS)
		return false;
	if (rc != LDAP_SUCCESS)
		report_search_error(dir, rc, NULL, dn, filter);
	return true;
}

/*
 * One search.  With result_code, a search the directory refuses returns
 * its code instead of raising an error (a lost connection or a timeout
 * still does).
 */
bool
directory_search_scope(PssyncDirectory *dir, const char *base_dn, int scope,
					   const char *filter, const char **attrs,
					   DirectoryEntryCallback callback, void *arg,
					   int *result_code)
{
	return directory_search_control(dir, base_dn, scope, filter, attrs, NULL,
									callback, arg, result_code);
}

/*
 * One paged search with another control besides (Active Directory's Show
 * Deleted, say; or none), as directory_search_scope otherwise.
 */
bool
directory_search_control(PssyncDirectory *dir, const char *base_dn, int scope,
						 const char *filter, const char **attrs,
						 LDAPControl *control, DirectoryEntryCallback callback,
						 void *arg, int *result_code)
{
	Query		query;

	memset(&query, 0, sizeof(query));
	query.base = base_dn;
	query.scope = scope;
	query.filter = filter;
	query.callback = callback;
	query.arg = arg;
	query.paged = true;
	query.extra = control;
	run_queries(dir, &query, 1, attrs, result_code != NULL);
	if (result_code)
		*result_code = query.result_code;
	return query.complete;
}

/*
 * Send the next page request of a query.
 */
static void
send_page(PssyncDirectory *dir, Query *query, const char **request_attrs)
{
	LDAPControl *page = NULL;
	LDAPControl *controls[3] = {NULL, NULL, NULL};
	int			n = 0;
	int			rc;

	if (query->paged)
	{
		rc = ldap_create_page_control(dir->ld, dir->server->page_size,
									  query->cookie.bv_len > 0 ? &query->cookie : NULL,
									  0, &page);
		if (rc != LDAP_SUCCESS)
			elog(ERROR, "could not create an LDAP paged results control: %s",
				 ldap_err2string(rc));
		controls[n++] = page;
	}
	if (query->extra)
		controls[n++] = query->extra;

	directory_io_begin(dir, false);
	rc = ldap_search_ext(dir->ld, directory_to_utf8(query->base), query->scope,
						 query->filter, (char **) request_attrs, 0,
						 n > 0 ? controls : NULL,
						 NULL, NULL, 0, &query->msgid);
	if (page)
		ldap_control_free(page);
	(void) directory_io_end(dir, "search", NULL);
	if (rc != LDAP_SUCCESS)
		report_search_error(dir, rc, NULL, query->base, query->filter);
	dir->requests++;
}

/*
 * A query's page result: its code, and the cookie of the next page (copied
 * at once: nothing libldap allocated is kept across a wait).  Returns
 * whether another page is to be asked for.
 */
static bool
finish_page(PssyncDirectory *dir, LDAPMessage *msg, Query *query,
			bool tolerate_errors)
{
	LDAPControl **server_controls = NULL;
	LDAPControl *response;
	struct berval cookie = {0, NULL};
	char	   *diag;
	int			rc;

	rc = directory_parse_result(dir, msg, &diag, &server_controls,
								dir->server->referrals ? &query->references : NULL);
	if (rc == LDAP_REFERRAL && dir->server->referrals)
		rc = LDAP_SUCCESS;		/* the base is elsewhere: followed later */
	response = server_controls ?
		ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, server_controls, NULL) : NULL;
	if (response && rc == LDAP_SUCCESS)
	{
		ber_int_t	estimate;

		if (ldap_parse_pageresponse_control(dir->ld, response, &estimate,
											&cookie) != LDAP_SUCCESS)
			cookie.bv_val = NULL;
	}
	if (server_controls)
		ldap_controls_free(server_controls);

	if (query->cookie.bv_val)
		pfree(query->cookie.bv_val);
	query->cookie.bv_val = NULL;
	query->cookie.bv_len = 0;
	if (cookie.bv_val)
	{
		if (cookie.bv_len > 0)
		{
			query->cookie.bv_val = palloc(cookie.bv_len);
			memcpy(query->cookie.bv_val, cookie.bv_val, cookie.bv_len);
			query->cookie.bv_len = cookie.bv_len;
		}
		ber_memfree(cookie.bv_val);
	}

	if (rc == LDAP_SIZELIMIT_EXCEEDED || rc == LDAP_ADMINLIMIT_EXCEEDED)
		query->complete = false;
	else if (rc != LDAP_SUCCESS)
	{
		query->cookie.bv_len = 0;
		if (tolerate_errors && rc != LDAP_SERVER_DOWN &&
			rc != LDAP_UNAVAILABLE && rc != LDAP_BUSY)
			query->result_code = rc;
		else
			report_search_error(dir, rc, diag, query->base, query->filter);
	}
	return query->cookie.bv_len > 0;
}

/*
 * Run queries, at most SEARCHES_IN_FLIGHT at a time, each paged, all
 * asking for the same attributes; then follow the references they met.
 */
static void
run_queries(PssyncDirectory *dir, Query *queries, int n, const char **attrs,
			bool tolerate_errors)
{
	static const char *no_attributes[] = {LDAP_NO_ATTRS, NULL};
	const char **request_attrs = attrs[0] ? attrs : no_attributes;
	Query	   *in_flight[SEARCHES_IN_FLIGHT];
	MemoryContext entry_cxt;
	int			nattrs = 0;
	int			next = 0;
	int			active = 0;
	int			i;

	while (attrs[nattrs])
		nattrs++;
	for (i = 0; i < n; i++)
	{
		queries[i].complete = true;
		queries[i].result_code = LDAP_SUCCESS;
		queries[i].msgid = -1;
	}

	/*
	 * With several attributes asked for, one returned under another name (an
	 * alias, or the name of one asked for by OID) is resolved through the
	 * directory's schema.  It is read now, never in the middle of a search
	 * whose message is being read; and each attribute is asked for by its
	 * name in the schema.
	 */
	if (nattrs > 1)
	{
		const char **named = palloc(sizeof(char *) * (nattrs + 1));

		if (!dir->schema_read)
			directory_read_schema(dir);
		for (i = 0; i < nattrs; i++)
			named[i] = directory_schema_name(dir, attrs[i]);
		named[nattrs] = NULL;
		attrs = named;
		request_attrs = named;
	}
	entry_cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync entry",
									  ALLOCSET_SMALL_SIZES);

	memset(in_flight, 0, sizeof(in_flight));
	while (next < n || active > 0)
	{
		LDAPMessage *res;
		LDAPMessage *msg;

		for (i = 0; i < SEARCHES_IN_FLIGHT && next < n; i++)
		{
			if (in_flight[i] == NULL)
			{
				in_flight[i] = &queries[next++];
				send_page(dir, in_flight[i], request_attrs);
				active++;
			}
		}

		/*
		 * The messages received, as a chain.  libldap 2.6 may chain the
		 * answers of several searches together: each message goes to the
		 * search of its own message id.
		 */
		res = directory_wait_result(dir, LDAP_RES_ANY, LDAP_MSG_RECEIVED, "search",
									NULL);
		for (msg = ldap_first_message(dir->ld, res); msg;
			 msg = ldap_next_message(dir->ld, msg))
		{
			int			type = ldap_msgtype(msg);
			int			msgid = ldap_msgid(msg);
			Query	   *query = NULL;
			int			slot;

			for (slot = 0; slot < SEARCHES_IN_FLIGHT; slot++)
			{
				if (in_flight[slot] && in_flight[slot]->msgid == msgid)
				{
					query = in_flight[slot];
					break;
				}
			}
			if (query == NULL)
				continue;		/* not an answer to a search of ours */

			if (type == LDAP_RES_SEARCH_ENTRY)
				directory_deliver_entry(dir, msg, attrs, nattrs, query->callback,
							  query->arg, entry_cxt);
			else if (type == LDAP_RES_SEARCH_REFERENCE && dir->server->referrals)
			{
				char	  **urls = NULL;

				if (ldap_parse_reference(dir->ld, msg, &urls, NULL, 0) == LDAP_SUCCESS &&
					urls)
				{
					for (i = 0; urls[i]; i++)
						query->references = lappend(query->references, pstrdup(urls[i]));
					ber_memvfree((void **) urls);
				}
			}
			/* otherwise a continuation reference is ignored */
			else if (type == LDAP_RES_SEARCH_RESULT)
			{
				query->msgid = -1;
				if (finish_page(dir, msg, query, tolerate_errors))
					send_page(dir, query, request_attrs);
				else
				{
					in_flight[slot] = NULL;
					active--;
				}
			}
		}
		directory_release_message(dir);
	}
	MemoryContextDelete(entry_cxt);

	/* Referrals, once this server is done with: each a search of its own. */
	for (i = 0; i < n; i++)
	{
		ListCell   *cell;

		foreach(cell, queries[i].references)
		{
			if (!follow_reference(dir, (char *) lfirst(cell), queries[i].base,
								  queries[i].scope, queries[i].filter, attrs,
								  queries[i].callback, queries[i].arg))
				queries[i].complete = false;
		}
	}
}

/*
 * The connection to the server a referral leads to: one per server and
 * sync, made as every connection is (bounded, cancellable), and bound
 * anonymously: the bind account belongs to the first server.
 */
static PssyncDirectory *
referral_connection(PssyncDirectory *dir, const char *uri)
{
	PssyncDirectory *target;
	PssyncServer *server;
	MemoryContext old;
	ListCell   *cell;

	foreach(cell, dir->referral_dirs)
	{
		target = (PssyncDirectory *) lfirst(cell);
		if (pg_strcasecmp(target->uri, uri) == 0)
			return target;
	}

	old = MemoryContextSwitchTo(dir->cxt);
	server = palloc(sizeof(PssyncServer));
	*server = *dir->server;
	server->uri = pstrdup(uri);
	server->bind_dn = NULL;
	server->password = NULL;
	target = directory_connect(server);
	target->hops = dir->hops + 1;
	dir->referral_dirs = lappend(dir->referral_dirs, target);
	MemoryContextSwitchTo(old);
	return target;
}

/*
 * Follow a referral or continuation reference (RFC 4511 4.1.10, 4.5.3):
 * the same search, on the server of the URL, under its DN (or the same
 * base), with its scope (or the same, a one-level search becoming a base
 * search).  The search is new there: a paged search's cookie belongs to
 * the server that gave it.
 */
static bool
follow_reference(PssyncDirectory *dir, const char *url, const char *base_dn,
				 int scope, const char *filter, const char **attrs,
				 DirectoryEntryCallback callback, void *arg)
{
	LDAPURLDesc *lud = NULL;
	char	   *target_base;
	char	   *target_uri;
	int			target_scope;

	if (dir->hops >= MAX_REFERRAL_HOPS)
	{
		ereport(NOTICE,
				(errmsg("LDAP server \"%s\": not following the referral to %s, %d referrals away",
						dir->server->servername, url, dir->hops)));
		return false;
	}
	if (ldap_url_parse(url, &lud) != LDAP_URL_SUCCESS ||
		(pg_strcasecmp(lud->lud_scheme, "ldap") != 0 &&
		 pg_strcasecmp(lud->lud_scheme, "ldaps") != 0) ||
		lud->lud_host == NULL || lud->lud_host[0] == '\0')
	{
		if (lud)
			ldap_free_urldesc(lud);
		ereport(NOTICE,
				(errmsg("LDAP server \"%s\" referred to \"%s\", which pssync cannot follow",
						dir->server->servername, url)));
		return false;
	}
	target_uri = psprintf("%s://%s:%d", lud->lud_scheme, lud->lud_host,
						  lud->lud_port ? lud->lud_port :
						  (pg_strcasecmp(lud->lud_scheme, "ldaps") == 0 ? LDAPS_PORT : LDAP_PORT));
	target_base = (lud->lud_dn && lud->lud_dn[0]) ?
		directory_text(lud->lud_dn, strlen(lud->lud_dn)) : pstrdup(base_dn);
	if (lud->lud_scope != LDAP_SCOPE_DEFAULT)
		target_scope = lud->lud_scope;
	else
		target_scope = scope == LDAP_SCOPE_ONELEVEL ? LDAP_SCOPE_BASE : scope;
	ldap_free_urldesc(lud);

	return directory_search_scope(referral_connection(dir, target_uri),
								  target_base, target_scope, filter, attrs,
								  callback, arg, NULL);
}

