/*-------------------------------------------------------------------------
 *
 * directory.c
 *		  The connection to the LDAP directory: connecting, TLS, binding,
 *		  paged searches, and the escaping of filter values.
 *
 * No call here blocks the backend without bound.  The TCP connection is
 * made by us, non-blocking, waiting on the backend's latch; it is then
 * handed to libldap (ldap_init_fd).  Every operation uses libldap's
 * asynchronous API, and the answer is awaited the way postgres_fdw awaits
 * libpq: ldap_result() with a zero timeout, then WaitLatchOrSocket() on the
 * connection's socket, then CHECK_FOR_INTERRUPTS(), so that a query cancel
 * or statement_timeout always gets through.  The server option "timeout"
 * bounds the connect, the TLS handshake, the bind, and each wait for the
 * next answer of a search.
 *
 * libldap itself waits in one place we cannot reach with ldap_result(): the
 * TLS handshake (ldap_install_tls).  For it, a small Sockbuf I/O layer sits
 * between the TLS layer and the socket and turns "would block" into a
 * bounded wait on the latch; a cancel makes the handshake fail, and the
 * interrupt is then processed outside libldap.
 *
 * The handle, the socket and any message being read are freed by a reset
 * callback of the memory context the connection was made in, so an ERROR
 * anywhere releases them without special code on each path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lber.h>
#include <ldap.h>
#include <ldap_schema.h>
#include <openldap.h>

#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pssync.h"

struct PssyncDirectory
{
	MemoryContext cxt;			/* what lives as long as the connection */
	PssyncServer *server;
	LDAP	   *ld;
	pgsocket	sock;
	WaitEventSet *wait_set;		/* the latch, postmaster death, sock */
	int			wait_sock_pos;	/* sock's event in wait_set */
	uint32		wait_sock_events;	/* what it is waited for now */
	char	   *uri;			/* the URI connected to */
	int			requests;		/* LDAP requests sent */

	/* what libldap allocated and we are reading; freed on error */
	LDAPMessage *held_message;
	BerElement *held_ber;
	struct berval *held_values;

	/* connections to the servers referrals lead to, and how far away */
	List	   *referral_dirs;	/* of PssyncDirectory */
	int			hops;

	/* the directory's attribute types, read when a name must be resolved */
	bool		schema_read;
	List	   *attribute_types;	/* of List of the OID and the names */
	List	   *type_cache;		/* of TypeCacheEntry */

	/* state of the latch-aware I/O layer */
	uint64		bytes_read;		/* through it, ever */
	bool		closing;
	bool		io_wait_reads;
	TimestampTz io_deadline;
	bool		io_interrupted;
	bool		io_timed_out;

	MemoryContextCallback cleanup;
};

typedef struct TypeCacheEntry
{
	char	   *name;			/* lower-case attribute name or OID */
	int			type;			/* index in attribute_types, or -1 */
} TypeCacheEntry;

/* how many referrals may lead from one server to the next */
#define MAX_REFERRAL_HOPS 5

static void directory_cleanup(void *arg);
static int	parse_result_referrals(PssyncDirectory *dir, LDAPMessage *msg,
								   char **diag, LDAPControl ***controls,
								   List **referrals);
static void io_begin(PssyncDirectory *dir, bool wait_reads);
static void io_end(PssyncDirectory *dir, const char *what);
pg_noreturn static void report_timeout(PssyncDirectory *dir, const char *what);


/*
 * Strings to and from the directory, which speaks UTF-8.
 */
char *
directory_to_utf8(const char *s)
{
	return pg_server_to_any(s, strlen(s), PG_UTF8);
}

/*
 * A string from the directory (UTF-8) in the server encoding.  What the
 * database's encoding cannot hold (or what is not UTF-8) is written as
 * RFC 4514 escapes of its bytes (\xx), which keeps a DN valid and the
 * same DN to the directory, and never fails.
 */
char *
directory_text(const char *s, size_t len)
{
	int			encoding = GetDatabaseEncoding();
	StringInfoData buf;
	size_t		i;

	if (pg_verify_mbstr(PG_UTF8, s, len, true) && memchr(s, '\0', len) == NULL)
	{
		Oid			proc;
		char	   *converted;

		if (encoding == PG_UTF8 || encoding == PG_SQL_ASCII)
			return pnstrdup(s, len);
		proc = FindDefaultConversionProc(PG_UTF8, encoding);
		converted = palloc(len * MAX_CONVERSION_GROWTH + 1);
		if (OidIsValid(proc) &&
			pg_do_encoding_conversion_buf(proc, PG_UTF8, encoding,
										  (unsigned char *) s, len,
										  (unsigned char *) converted,
										  len * MAX_CONVERSION_GROWTH + 1,
										  true) == (int) len)
			return converted;
		pfree(converted);
	}

	initStringInfo(&buf);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x20 && c < 0x7f)
			appendStringInfoChar(&buf, c);
		else
			appendStringInfo(&buf, "\\%02x", c);
	}
	return buf.data;
}

static char *
directory_from_utf8(const char *s, size_t len)
{
	return directory_text(s, len);
}

/*
 * Wait up to timeout milliseconds for the connection's socket to become
 * readable or writeable (event), or the latch to be set.  Returns the
 * events that happened, 0 on timeout.
 *
 * The wait set is made once per connection: a district-wide search waits
 * tens of thousands of times, and WaitLatchOrSocket() would make and close
 * an epoll set on each.  Nothing here allocates, so the I/O layer below
 * libldap may call it.
 */
static int
wait_for_socket(PssyncDirectory *dir, uint32 event, long timeout)
{
	WaitEvent	occurred;

	if (dir->wait_sock_events != event)
	{
		ModifyWaitEvent(dir->wait_set, dir->wait_sock_pos, event, NULL);
		dir->wait_sock_events = event;
	}
	if (WaitEventSetWait(dir->wait_set, timeout, &occurred, 1,
						 PG_WAIT_EXTENSION) == 0)
		return 0;
	return occurred.events;
}

/*
 * The latch-aware Sockbuf I/O layer.
 *
 * Writes that would block wait (bounded, cancellable) for the socket to
 * drain.  Reads that would block do the same only while io_wait_reads is
 * set, during the TLS handshake; otherwise "would block" goes up to
 * libldap, whose asynchronous reads expect it.  The layer never throws: a
 * cancel or a timeout sets a flag and fails the I/O, and io_end() reports
 * it once libldap has returned.
 */
static bool
io_wait(PssyncDirectory *dir, int event)
{
	if (dir->closing || dir->io_interrupted || dir->io_timed_out)
		return false;

	for (;;)
	{
		long		remaining;
		int			rc;

		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
													dir->io_deadline);
		if (remaining <= 0)
		{
			dir->io_timed_out = true;
			return false;
		}
		rc = wait_for_socket(dir, event, remaining);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			if (QueryCancelPending || ProcDiePending)
			{
				dir->io_interrupted = true;
				return false;
			}
		}
		if (rc & event)
			return true;
	}
}

static int
io_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	sbiod->sbiod_pvt = arg;
	return 0;
}

static int
io_remove(Sockbuf_IO_Desc *sbiod pg_attribute_unused())
{
	return 0;
}

static int
io_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

static ber_slen_t
io_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	PssyncDirectory *dir = (PssyncDirectory *) sbiod->sbiod_pvt;

	for (;;)
	{
		ber_slen_t	n = LBER_SBIOD_READ_NEXT(sbiod, buf, len);

		if (n > 0)
			dir->bytes_read += n;
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK) ||
			!dir->io_wait_reads)
			return n;
		if (!io_wait(dir, WL_SOCKET_READABLE))
		{
			errno = dir->io_timed_out ? ETIMEDOUT : ECONNABORTED;
			return -1;
		}
	}
}

static ber_slen_t
io_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	PssyncDirectory *dir = (PssyncDirectory *) sbiod->sbiod_pvt;

	for (;;)
	{
		ber_slen_t	n = LBER_SBIOD_WRITE_NEXT(sbiod, buf, len);

		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return n;
		if (!io_wait(dir, WL_SOCKET_WRITEABLE))
		{
			errno = dir->io_timed_out ? ETIMEDOUT : ECONNABORTED;
			return -1;
		}
	}
}

static Sockbuf_IO latch_io = {
	io_setup,
	io_remove,
	io_ctrl,
	io_read,
	io_write,
	NULL						/* the TCP layer below closes the socket */
};

/*
 * Around every libldap call that may do I/O: arm the layer with a deadline,
 * and afterwards report a cancel or a timeout that happened inside.
 */
static void
io_begin(PssyncDirectory *dir, bool wait_reads)
{
	dir->io_wait_reads = wait_reads;
	dir->io_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   dir->server->timeout_ms);
	dir->io_interrupted = false;
	dir->io_timed_out = false;
}

static void
io_end(PssyncDirectory *dir, const char *what)
{
	dir->io_wait_reads = false;
	if (dir->io_interrupted)
	{
		CHECK_FOR_INTERRUPTS();
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("%s with LDAP server \"%s\" was interrupted",
						what, dir->server->servername)));
	}
	if (dir->io_timed_out)
		report_timeout(dir, what);
}

/*
 * Errors.  Each names the server; none ever contains a password.
 */
static void
report_timeout(PssyncDirectory *dir, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("LDAP server \"%s\" did not answer within %.1f seconds",
					dir->server->servername, dir->server->timeout_ms / 1000.0),
			 errdetail_internal("Waiting for: %s at %s.", what, dir->uri),
			 errhint("Check that the directory is running, or raise the server's timeout option.")));
}

static char *
diagnostic_message(PssyncDirectory *dir)
{
	char	   *msg = NULL;
	char	   *copy;

	if (dir->ld == NULL ||
		ldap_get_option(dir->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) != LDAP_OPT_SUCCESS ||
		msg == NULL)
		return NULL;
	copy = pstrdup(msg);
	ldap_memfree(msg);
	return copy;
}

static void
report_lost_connection(PssyncDirectory *dir, int rc, const char *what)
{
	char	   *diag = diagnostic_message(dir);

	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("lost the connection to LDAP server \"%s\"",
					dir->server->servername),
			 errdetail_internal("%s at %s: %s%s%s", what, dir->uri,
								ldap_err2string(rc),
								diag ? ": " : "", diag ? diag : "")));
}

/*
 * Active Directory explains a failed bind in its diagnostic message, as
 * "80090308: LdapErr: DSID-..., comment: AcceptSecurityContext error,
 * data 52e, v4563".  Turn the code after "data" into advice.
 */
static const char *
active_directory_bind_hint(const char *diag)
{
	static const struct
	{
		const char *code;
		const char *hint;
	}			codes[] = {
		{"525", "Active Directory: the bind account does not exist. Check bind_dn in the user mapping."},
		{"52e", "Active Directory: the password is wrong. Correct it with ALTER USER MAPPING ... OPTIONS (SET password '...')."},
		{"530", "Active Directory: the bind account may not log on at this time."},
		{"531", "Active Directory: the bind account may not log on from this workstation."},
		{"532", "Active Directory: the password of the bind account has expired. Set a new one in the directory and in the user mapping."},
		{"533", "Active Directory: the bind account is disabled. Enable it, or bind as another account."},
		{"568", "Active Directory: the bind account is in too many security groups."},
		{"701", "Active Directory: the bind account has expired."},
		{"773", "Active Directory: the password of the bind account must be reset before it can be used."},
		{"775", "Active Directory: the bind account is locked out."},
	};
	const char *p;
	size_t		i;

	if (diag == NULL || (p = strstr(diag, "data ")) == NULL)
		return NULL;
	p += 5;
	for (i = 0; i < lengthof(codes); i++)
	{
		size_t		n = strlen(codes[i].code);

		if (pg_strncasecmp(p, codes[i].code, n) == 0 &&
			!isxdigit((unsigned char) p[n]))
			return codes[i].hint;
	}
	return NULL;
}


/*
 * Waiting for answers.
 *
 * Returns the next message(s) for msgid, and holds them until
 * directory_release() (or an error) frees them.  Each wait is bounded by
 * the server's timeout; a cancel is processed while waiting.
 *
 * ldap_result() with a zero timeout may read a message and keep it for
 * later (a search entry, when all the messages received are asked for),
 * and the read-ahead and TLS layers may hold the next ones: waiting on the
 * socket then would wait for data that has already arrived.  So the socket
 * is waited on only when the last call read nothing and nothing is
 * buffered.
 */
static bool
data_buffered(PssyncDirectory *dir)
{
	Sockbuf    *sb = NULL;

	return ldap_get_option(dir->ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS &&
		sb != NULL && ber_sockbuf_ctrl(sb, LBER_SB_OPT_DATA_READY, NULL) > 0;
}

static LDAPMessage *
wait_result(PssyncDirectory *dir, int msgid, int all, const char *what)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   dir->server->timeout_ms);

	Assert(dir->held_message == NULL);
	for (;;)
	{
		struct timeval zero = {0, 0};
		LDAPMessage *res = NULL;
		uint64		bytes_before = dir->bytes_read;
		long		remaining;
		int			rc;

		io_begin(dir, false);
		dir->io_deadline = deadline;
		rc = ldap_result(dir->ld, msgid, all, &zero, &res);
		if (rc > 0)
			dir->held_message = res;
		io_end(dir, what);

		if (rc > 0)
			return res;
		if (rc < 0)
		{
			int			err = LDAP_SERVER_DOWN;

			(void) ldap_get_option(dir->ld, LDAP_OPT_RESULT_CODE, &err);
			report_lost_connection(dir, err, what);
		}

		CHECK_FOR_INTERRUPTS();
		if (dir->bytes_read != bytes_before || data_buffered(dir))
			continue;			/* ask again before waiting */

		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (remaining <= 0)
			report_timeout(dir, what);

		rc = wait_for_socket(dir, WL_SOCKET_READABLE, remaining);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
}

static void
release_message(PssyncDirectory *dir)
{
	if (dir->held_message)
		ldap_msgfree(dir->held_message);
	dir->held_message = NULL;
}

/*
 * Parse a result message: its code and the server's diagnostic message
 * (palloc'd, or NULL), and optionally its controls.
 */
static int
parse_result(PssyncDirectory *dir, LDAPMessage *msg, char **diag,
			 LDAPControl ***controls)
{
	return parse_result_referrals(dir, msg, diag, controls, NULL);
}

/* The same, and the referral URLs of a referral result (palloc'd). */
static int
parse_result_referrals(PssyncDirectory *dir, LDAPMessage *msg, char **diag,
					   LDAPControl ***controls, List **referrals)
{
	int			err = LDAP_OTHER;
	char	   *message = NULL;
	char	  **urls = NULL;

	*diag = NULL;
	if (ldap_parse_result(dir->ld, msg, &err, NULL, &message,
						  referrals ? &urls : NULL, controls, 0) != LDAP_SUCCESS)
		return LDAP_OTHER;
	if (message)
	{
		if (message[0] != '\0')
			*diag = pstrdup(message);
		ldap_memfree(message);
	}
	if (urls)
	{
		int			i;

		for (i = 0; urls[i]; i++)
			*referrals = lappend(*referrals, pstrdup(urls[i]));
		ber_memvfree((void **) urls);
	}
	return err;
}


/*
 * Connecting.
 */

/*
 * A host name resolution in progress (getaddrinfo_a).  It is malloc'd, not
 * palloc'd: glibc's resolver thread may still write to it after an error
 * or a cancel has left this backend's code, in which case it is left to
 * that thread, as gai_cancel() requires.
 */
typedef struct Resolution
{
	struct gaicb request;
	struct addrinfo hints;
	char		port[16];
	char		host[FLEXIBLE_ARRAY_MEMBER];
} Resolution;

static void
abandon_resolution(Resolution *r)
{
	int			rc = gai_cancel(&r->request);

	if (rc == EAI_CANCELED || rc == EAI_ALLDONE)
	{
		if (r->request.ar_result)
			freeaddrinfo(r->request.ar_result);
		free(r);
	}
	/* EAI_NOTCANCELED: still running; the few bytes stay with it */
}

/*
 * Resolve host:port without blocking the backend: the lookup runs in
 * glibc's resolver thread, and this waits for it on the latch, polling,
 * bounded by the server's timeout and ended by a cancel.  A name server
 * that never answers cannot hang a sync.  Returns the addresses (free
 * them with freeaddrinfo()), or NULL with *failure saying why.
 */
static struct addrinfo *
resolve_host(PssyncDirectory *dir, const char *host, int port,
			 StringInfo failure)
{
	Resolution *r = malloc(offsetof(Resolution, host) + strlen(host) + 1);
	struct gaicb *requests[1];
	struct addrinfo *result;
	TimestampTz deadline;
	volatile long poll_ms = 1;
	volatile int rc;

	if (r == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	memset(r, 0, offsetof(Resolution, host));
	strcpy(r->host, host);
	snprintf(r->port, sizeof(r->port), "%d", port);
	r->hints.ai_family = AF_UNSPEC;
	r->hints.ai_socktype = SOCK_STREAM;
	r->request.ar_name = r->host;
	r->request.ar_service = r->port;
	r->request.ar_request = &r->hints;
	requests[0] = &r->request;

	rc = getaddrinfo_a(GAI_NOWAIT, requests, 1, NULL);
	if (rc != 0)
	{
		free(r);
		appendStringInfo(failure, "could not resolve host \"%s\": %s",
						 host, gai_strerror(rc));
		return NULL;
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   dir->server->timeout_ms);
	PG_TRY();
	{
		while ((rc = gai_error(&r->request)) == EAI_INPROGRESS)
		{
			long		remaining;

			CHECK_FOR_INTERRUPTS();
			remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
														deadline);
			if (remaining <= 0)
				break;
			/* most lookups take microseconds: poll soon, then every 20 ms */
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Min(poll_ms, remaining), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			poll_ms = Min(poll_ms * 2, 20);
		}
	}
	PG_CATCH();
	{
		abandon_resolution(r);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (rc == EAI_INPROGRESS)
	{
		abandon_resolution(r);
		appendStringInfo(failure, "could not resolve host \"%s\": timed out after %.1f seconds",
						 host, dir->server->timeout_ms / 1000.0);
		return NULL;
	}

	result = r->request.ar_result;
	free(r);
	if (rc != 0)
	{
		if (result)
			freeaddrinfo(result);
		appendStringInfo(failure, "could not resolve host \"%s\": %s",
						 host, gai_strerror(rc));
		return NULL;
	}
	return result;
}

/*
 * Open a TCP connection to host:port, trying each address, without
 * blocking.  Returns the socket, or PGINVALID_SOCKET with *failure saying
 * why.  The socket being connected is kept in dir->sock so that an error
 * (a cancel) closes it.
 */
static pgsocket
connect_host(PssyncDirectory *dir, const char *host, int port,
			 StringInfo failure)
{
	struct addrinfo *addrs;
	struct addrinfo *ai;
	int			rc;
	volatile pgsocket result = PGINVALID_SOCKET;

	addrs = resolve_host(dir, host, port, failure);
	if (addrs == NULL)
		return PGINVALID_SOCKET;

	PG_TRY();
	{
		for (ai = addrs; ai != NULL && result == PGINVALID_SOCKET; ai = ai->ai_next)
		{
			int			one = 1;
			int			err = 0;
			socklen_t	errlen = sizeof(err);
			TimestampTz deadline;

			dir->sock = socket(ai->ai_family, SOCK_STREAM, 0);
			if (dir->sock == PGINVALID_SOCKET)
			{
				appendStringInfo(failure, "could not create socket: %m");
				continue;
			}
			(void) setsockopt(dir->sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (!pg_set_noblock(dir->sock) ||
				fcntl(dir->sock, F_SETFD, FD_CLOEXEC) < 0)
			{
				appendStringInfo(failure, "could not set socket options: %m");
				closesocket(dir->sock);
				dir->sock = PGINVALID_SOCKET;
				continue;
			}

			if (connect(dir->sock, ai->ai_addr, ai->ai_addrlen) < 0)
			{
				if (errno != EINPROGRESS)
					err = errno;
				else
				{
					deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   dir->server->timeout_ms);
					for (;;)
					{
						long		remaining;

						remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
																	deadline);
						if (remaining <= 0)
						{
							err = ETIMEDOUT;
							break;
						}
						rc = WaitLatchOrSocket(MyLatch,
											   WL_LATCH_SET | WL_SOCKET_CONNECTED |
											   WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
											   dir->sock, remaining, PG_WAIT_EXTENSION);
						if (rc & WL_LATCH_SET)
						{
							ResetLatch(MyLatch);
							CHECK_FOR_INTERRUPTS();
						}
						if (rc & WL_SOCKET_CONNECTED)
						{
							if (getsockopt(dir->sock, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
								err = errno;
							break;
						}
					}
				}
			}

			if (err == 0)
				result = dir->sock;
			else
			{
				if (failure->len > 0)
					appendStringInfoString(failure, "; ");
				if (err == ETIMEDOUT)
					appendStringInfo(failure, "timed out after %.1f seconds",
									 dir->server->timeout_ms / 1000.0);
				else
					appendStringInfoString(failure, strerror(err));
				closesocket(dir->sock);
				dir->sock = PGINVALID_SOCKET;
			}
		}
	}
	PG_FINALLY();
	{
		freeaddrinfo(addrs);
	}
	PG_END_TRY();

	return result;
}

/*
 * Connect to the first URI of the uri option that can be reached.
 */
static void
connect_first_reachable(PssyncDirectory *dir, bool *ldaps)
{
	char	   *uris = pstrdup(dir->server->uri);
	char	   *save = NULL;
	char	   *uri;
	StringInfoData failures;

	initStringInfo(&failures);
	for (uri = strtok_r(uris, " \t\n,", &save); uri;
		 uri = strtok_r(NULL, " \t\n,", &save))
	{
		LDAPURLDesc *lud = NULL;
		StringInfoData failure;
		char	   *host;
		int			port;
		bool		secure;

		if (ldap_url_parse(uri, &lud) != LDAP_URL_SUCCESS)
		{
			appendStringInfo(&failures, "%s%s: not an LDAP URL",
							 failures.len ? "\n" : "", uri);
			continue;
		}
		host = pstrdup(lud->lud_host ? lud->lud_host : "localhost");
		secure = pg_strcasecmp(lud->lud_scheme, "ldaps") == 0;
		port = lud->lud_port ? lud->lud_port : (secure ? LDAPS_PORT : LDAP_PORT);
		ldap_free_urldesc(lud);

		initStringInfo(&failure);
		if (connect_host(dir, host, port, &failure) != PGINVALID_SOCKET)
		{
			dir->uri = pstrdup(uri);
			*ldaps = secure;
			return;
		}
		appendStringInfo(&failures, "%s%s: %s", failures.len ? "\n" : "",
						 uri, failure.data);
	}

	ereport(ERROR,
			(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
			 errmsg("could not connect to LDAP server \"%s\"",
					dir->server->servername),
			 errdetail_internal("%s", failures.data),
			 errhint("Check that the directory is running and the server's uri option.")));
}

static void
set_ldap_option(PssyncDirectory *dir, int option, const void *value)
{
	if (ldap_set_option(dir->ld, option, value) != LDAP_OPT_SUCCESS)
		elog(ERROR, "could not set LDAP option %d", option);
}

/*
 * Encrypt the connection: the TLS handshake, with the server's certificate
 * checked against ca_file (or libldap's default trust) and its host name.
 */
static void
start_tls_handshake(PssyncDirectory *dir)
{
	int			require = LDAP_OPT_X_TLS_DEMAND;
	int			client = 0;
	int			rc;

	if (dir->server->ca_file && access(dir->server->ca_file, R_OK) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not read the CA file \"%s\" of server \"%s\": %m",
						dir->server->ca_file, dir->server->servername),
				 errhint("Give ca_file the absolute path of a PEM file that the PostgreSQL server's operating system user can read.")));

	set_ldap_option(dir, LDAP_OPT_X_TLS_REQUIRE_CERT, &require);
	if (dir->server->ca_file)
	{
		/* ca_file is the trust: not also a CA directory from ldap.conf */
		set_ldap_option(dir, LDAP_OPT_X_TLS_CACERTFILE, dir->server->ca_file);
		set_ldap_option(dir, LDAP_OPT_X_TLS_CACERTDIR, NULL);
	}
	rc = ldap_set_option(dir->ld, LDAP_OPT_X_TLS_NEWCTX, &client);
	if (rc != LDAP_OPT_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not set up TLS for LDAP server \"%s\"",
						dir->server->servername),
				 dir->server->ca_file ?
				 errhint("Check that ca_file \"%s\" holds PEM certificates.",
						 dir->server->ca_file) : 0));

	io_begin(dir, true);
	rc = ldap_install_tls(dir->ld);
	io_end(dir, "TLS handshake");
	if (rc != LDAP_SUCCESS)
	{
		char	   *diag = diagnostic_message(dir);

		/* libldap's GnuTLS layer explains little; say only what it knows */
		if (diag && strcmp(diag, "(unknown error code)") == 0)
			diag = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not establish TLS with LDAP server \"%s\"",
						dir->server->servername),
				 errdetail_internal("%s: %s%s%s", dir->uri, ldap_err2string(rc),
									diag ? ": " : "", diag ? diag : ""),
				 errhint("The server's certificate must be signed by a CA in ca_file (or libldap's default trust) and name the host of the URI; a certificate naming a host is not valid for its IP address.")));
	}
}

static void
start_tls_operation(PssyncDirectory *dir)
{
	LDAPMessage *res;
	char	   *diag;
	int			msgid;
	int			rc;

	io_begin(dir, false);
	rc = ldap_start_tls(dir->ld, NULL, NULL, &msgid);
	io_end(dir, "StartTLS");
	if (rc != LDAP_SUCCESS)
		report_lost_connection(dir, rc, "StartTLS");
	dir->requests++;

	res = wait_result(dir, msgid, LDAP_MSG_ALL, "StartTLS");
	rc = parse_result(dir, res, &diag, NULL);
	release_message(dir);
	if (rc != LDAP_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("LDAP server \"%s\" refused StartTLS",
						dir->server->servername),
				 errdetail_internal("%s: %s%s%s", dir->uri, ldap_err2string(rc),
									diag ? ": " : "", diag ? diag : ""),
				 errhint("Configure TLS on the directory, or set starttls 'false'.")));
	start_tls_handshake(dir);
}

static void
bind_simple(PssyncDirectory *dir)
{
	struct berval cred;
	LDAPMessage *res;
	char	   *diag;
	int			msgid;
	int			rc;

	cred.bv_val = directory_to_utf8(dir->server->password ? dir->server->password : "");
	cred.bv_len = strlen(cred.bv_val);

	io_begin(dir, false);
	rc = ldap_sasl_bind(dir->ld, directory_to_utf8(dir->server->bind_dn),
						LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid);
	io_end(dir, "bind");
	if (rc != LDAP_SUCCESS)
		report_lost_connection(dir, rc, "bind");
	dir->requests++;

	res = wait_result(dir, msgid, LDAP_MSG_ALL, "bind");
	rc = parse_result(dir, res, &diag, NULL);
	release_message(dir);
	if (rc != LDAP_SUCCESS)
	{
		const char *hint = active_directory_bind_hint(diag);

		if (hint == NULL &&
			(rc == LDAP_STRONG_AUTH_REQUIRED || rc == LDAP_CONFIDENTIALITY_REQUIRED))
			hint = "The directory accepts simple binds only over an encrypted connection: use ldaps:// URIs, or starttls 'true', with ca_file.";

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not bind to LDAP server \"%s\" as \"%s\"",
						dir->server->servername, dir->server->bind_dn),
				 errdetail_internal("%s%s%s", ldap_err2string(rc),
									diag ? ": " : "", diag ? diag : ""),
				 hint ? errhint("%s", hint) :
				 errhint("Check bind_dn and password in the user mapping for server \"%s\".",
						 dir->server->servername)));
	}
}

/*
 * Connect, encrypt as configured, and bind.  The connection lives as long
 * as the current memory context, and is closed when that is reset or
 * deleted, by an error too.
 */
PssyncDirectory *
directory_connect(PssyncServer *server)
{
	PssyncDirectory *dir = palloc0(sizeof(PssyncDirectory));
	Sockbuf    *sb = NULL;
	bool		ldaps = false;
	int			version = LDAP_VERSION3;
	int			deref = LDAP_DEREF_NEVER;
	int			zero = 0;
	struct timeval network_timeout;
	int			rc;

	if (server->bind_dn && server->password == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the user mapping for server \"%s\" gives bind_dn \"%s\" but no password",
						server->servername, server->bind_dn),
				 errdetail("A bind with a DN and no password is an unauthenticated bind, which directories treat as anonymous or refuse."),
				 errhint("ALTER USER MAPPING ... SERVER %s OPTIONS (ADD password '...'), or drop bind_dn to bind anonymously.",
						 quote_identifier(server->servername))));

	dir->cxt = CurrentMemoryContext;
	dir->server = server;
	dir->sock = PGINVALID_SOCKET;
	dir->cleanup.func = directory_cleanup;
	dir->cleanup.arg = dir;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &dir->cleanup);

	connect_first_reachable(dir, &ldaps);

	dir->wait_set = pssync_create_wait_event_set(dir->cxt, 3);
	AddWaitEventToSet(dir->wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(dir->wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	dir->wait_sock_events = WL_SOCKET_READABLE;
	dir->wait_sock_pos = AddWaitEventToSet(dir->wait_set, dir->wait_sock_events,
										   dir->sock, NULL, NULL);

	rc = ldap_init_fd(dir->sock, LDAP_PROTO_TCP, dir->uri, &dir->ld);
	if (rc != LDAP_SUCCESS)
	{
		dir->ld = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not initialize LDAP connection to server \"%s\"",
						server->servername),
				 errdetail_internal("%s: %s", dir->uri, ldap_err2string(rc))));
	}

	/*
	 * Whatever ldap.conf or .ldaprc say, these are ours: LDAPv3, no
	 * referral chasing by libldap (whose own connections would block; see
	 * follow_reference), no alias dereferencing, no client-side limits.
	 */
	set_ldap_option(dir, LDAP_OPT_PROTOCOL_VERSION, &version);
	set_ldap_option(dir, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	set_ldap_option(dir, LDAP_OPT_DEREF, &deref);
	set_ldap_option(dir, LDAP_OPT_SIZELIMIT, &zero);
	set_ldap_option(dir, LDAP_OPT_TIMELIMIT, &zero);
	network_timeout.tv_sec = server->timeout_ms / 1000;
	network_timeout.tv_usec = (server->timeout_ms % 1000) * 1000;
	set_ldap_option(dir, LDAP_OPT_NETWORK_TIMEOUT, &network_timeout);

	/*
	 * Above the TCP layer: liblber's read-ahead buffer, so that an entry is
	 * not two or three read() calls of its own, and our latch-aware layer.
	 */
	if (ldap_get_option(dir->ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS ||
		sb == NULL ||
		ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead,
						   LBER_SBIOD_LEVEL_PROVIDER, NULL) != 0 ||
		ber_sockbuf_add_io(sb, &latch_io, LBER_SBIOD_LEVEL_PROVIDER + 5, dir) != 0)
		elog(ERROR, "could not install the pssync I/O layers on the LDAP connection");

	if (ldaps)
		start_tls_handshake(dir);
	else if (server->starttls)
		start_tls_operation(dir);

	if (server->bind_dn)
		bind_simple(dir);

	return dir;
}

static void
directory_cleanup(void *arg)
{
	PssyncDirectory *dir = (PssyncDirectory *) arg;
	ListCell   *cell;

	foreach(cell, dir->referral_dirs)
		directory_cleanup(lfirst(cell));
	dir->referral_dirs = NIL;
	dir->closing = true;
	if (dir->held_values)
		ber_memfree(dir->held_values);
	if (dir->held_ber)
		ber_free(dir->held_ber, 0);
	if (dir->held_message)
		ldap_msgfree(dir->held_message);
	if (dir->ld)
		ldap_unbind_ext(dir->ld, NULL, NULL);	/* closes the socket */
	else if (dir->sock != PGINVALID_SOCKET)
		closesocket(dir->sock);
	if (dir->wait_set)
		FreeWaitEventSet(dir->wait_set);
	dir->wait_set = NULL;
	dir->held_values = NULL;
	dir->held_ber = NULL;
	dir->held_message = NULL;
	dir->ld = NULL;
	dir->sock = PGINVALID_SOCKET;
}

/*
 * Close the connection now, rather than when its memory context goes.
 */
void
directory_disconnect(PssyncDirectory *dir)
{
	directory_cleanup(dir);
}

int
directory_requests_sent(PssyncDirectory *dir)
{
	return dir->requests;
}


/*
 * Searching.
 */

/*
 * Escape a value for an LDAP search filter (RFC 4515), with libldap's
 * ldap_bv2escaped_filter_value.  The value is in the server encoding; the
 * result is UTF-8, as the directory expects.
 */
char *
directory_escape_filter_value(const char *value)
{
	struct berval in;
	struct berval out = {0, NULL};
	char	   *result;

	in.bv_val = directory_to_utf8(value);
	in.bv_len = strlen(in.bv_val);
	if (ldap_bv2escaped_filter_value(&in, &out) != 0)
		elog(ERROR, "could not escape an LDAP filter value");
	result = pnstrdup(out.bv_val, out.bv_len);
	ber_memfree(out.bv_val);
	return result;
}

/*
 * A copy of a set of directory values, in the arena if one is given, else
 * in the current memory context.
 */
void
copy_directory_values(Arena *arena, DirectoryValues *to, DirectoryValues *from)
{
	Size		count = Max(from->count, 1);
	int			i;

	to->count = from->count;
	if (arena)
	{
		to->values = arena_alloc(arena, sizeof(char *) * count);
		to->lengths = arena_alloc(arena, sizeof(int) * count);
	}
	else
	{
		to->values = palloc(sizeof(char *) * count);
		to->lengths = palloc(sizeof(int) * count);
	}
	for (i = 0; i < from->count; i++)
	{
		to->values[i] = arena ?
			arena_strndup(arena, from->values[i], from->lengths[i]) :
			pnstrdup(from->values[i], from->lengths[i]);
		to->lengths[i] = from->lengths[i];
	}
}

/*
 * An attribute description: its type (name or OID) and its options.
 */
static void
split_attribute(const char *description, size_t len, char **type,
				const char **options)
{
	const char *semicolon = memchr(description, ';', len);
	size_t		type_len = semicolon ? (size_t) (semicolon - description) : len;
	size_t		i;

	*type = palloc(type_len + 1);
	for (i = 0; i < type_len; i++)
		(*type)[i] = pg_ascii_tolower((unsigned char) description[i]);
	(*type)[type_len] = '\0';
	*options = semicolon ? pnstrdup(semicolon, len - type_len) : "";
}

/* how many searches of a batch are sent before their answers are read */
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
	List	   *references;		/* URLs to follow afterwards */
	bool		complete;
	int			result_code;
} Query;

static bool search_entries(PssyncDirectory *dir, const char *base_dn,
						   int scope, const char *filter, const char **attrs,
						   DirectoryEntryCallback callback, void *arg,
						   int *result_code);
static void run_queries(PssyncDirectory *dir, Query *queries, int n,
						const char **attrs, bool tolerate_errors);
static bool follow_reference(PssyncDirectory *dir, const char *url,
							 const char *base_dn, int scope,
							 const char *filter, const char **attrs,
							 DirectoryEntryCallback callback, void *arg);

static void
collect_first_value(void *arg, const char *dn pg_attribute_unused(),
					DirectoryValues *values)
{
	List	  **found = (List **) arg;
	int			i;

	for (i = 0; i < values[0].count; i++)
		*found = lappend(*found, pnstrdup(values[0].values[i], values[0].lengths[i]));
}

/*
 * Read the directory's attribute types (from its subschema entry), to
 * resolve the names and OIDs by which an attribute may be asked for and
 * returned.  A directory that does not show its schema leaves the list
 * empty: then only the names as given match.
 */
static void
read_attribute_types(PssyncDirectory *dir)
{
	const char *root_attrs[] = {"subschemaSubentry", NULL};
	const char *schema_attrs[] = {"attributeTypes", NULL};
	List	   *subschema = NIL;
	List	   *definitions = NIL;
	ListCell   *cell;
	int			rc;

	MemoryContext old = MemoryContextSwitchTo(dir->cxt);

	dir->schema_read = true;
	search_entries(dir, "", LDAP_SCOPE_BASE, "(objectClass=*)", root_attrs,
				   collect_first_value, &subschema, &rc);
	if (subschema == NIL)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	search_entries(dir, (char *) linitial(subschema), LDAP_SCOPE_BASE,
				   "(objectClass=subschema)", schema_attrs,
				   collect_first_value, &definitions, &rc);

	foreach(cell, definitions)
	{
		LDAPAttributeType *at;
		const char *errp;
		int			code;
		List	   *names = NIL;
		int			i;

		at = ldap_str2attributetype((char *) lfirst(cell), &code, &errp,
									LDAP_SCHEMA_ALLOW_ALL);
		if (at == NULL)
			continue;
		if (at->at_oid)
			names = lappend(names, pstrdup(at->at_oid));
		for (i = 0; at->at_names && at->at_names[i]; i++)
			names = lappend(names, pstrdup(at->at_names[i]));
		ldap_attributetype_free(at);
		dir->attribute_types = lappend(dir->attribute_types, names);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The index of an attribute type (a name, in any case, or an OID) among
 * the directory's attribute types, or -1.
 */
static int
attribute_type(PssyncDirectory *dir, const char *type)
{
	TypeCacheEntry *entry;
	ListCell   *cell;
	MemoryContext old;
	int			index = 0;

	foreach(cell, dir->type_cache)
	{
		entry = (TypeCacheEntry *) lfirst(cell);
		if (strcmp(entry->name, type) == 0)
			return entry->type;
	}

	/* read before the search that needs it (search_entries) */
	Assert(dir->schema_read);

	entry = MemoryContextAlloc(dir->cxt, sizeof(TypeCacheEntry));
	entry->name = MemoryContextStrdup(dir->cxt, type);
	entry->type = -1;
	foreach(cell, dir->attribute_types)
	{
		ListCell   *name;

		foreach(name, (List *) lfirst(cell))
		{
			if (pg_strcasecmp((char *) lfirst(name), type) == 0)
				entry->type = index;
		}
		if (entry->type >= 0)
			break;
		index++;
	}
	old = MemoryContextSwitchTo(dir->cxt);
	dir->type_cache = lappend(dir->type_cache, entry);
	MemoryContextSwitchTo(old);
	return entry->type;
}

/*
 * The name by which to ask for an attribute description: the first name
 * the directory's schema gives its type (with the options kept), or the
 * description itself when the schema does not know it.  Some directories
 * mishandle a paged search for an attribute asked for by OID.
 */
static const char *
schema_attribute_name(PssyncDirectory *dir, const char *description)
{
	char	   *type;
	const char *options;
	List	   *names;
	int			index;

	split_attribute(description, strlen(description), &type, &options);
	index = attribute_type(dir, type);
	if (index < 0)
		return description;
	names = (List *) list_nth(dir->attribute_types, index);
	if (list_length(names) < 2)
		return description;		/* only an OID */
	return psprintf("%s%s", (char *) lsecond(names), options);
}

/*
 * Does a returned attribute description answer a requested one: the same
 * type (by name, ignoring case, or through the schema, by an alias or the
 * OID), and the requested options, if any, the same?  A request without
 * options is answered by the type's subtypes too (RFC 4511).
 */
static bool
attribute_answers(PssyncDirectory *dir, const char *requested,
				  const char *returned, size_t len, bool use_schema)
{
	char	   *requested_type;
	char	   *returned_type;
	const char *requested_options;
	const char *returned_options;
	bool		same;

	split_attribute(requested, strlen(requested), &requested_type, &requested_options);
	split_attribute(returned, len, &returned_type, &returned_options);
	if (requested_options[0] != '\0' &&
		pg_strcasecmp(requested_options, returned_options) != 0)
		return false;
	same = strcmp(requested_type, returned_type) == 0;
	if (!same && use_schema)
	{
		int			type = attribute_type(dir, requested_type);

		same = type >= 0 && type == attribute_type(dir, returned_type);
	}
	return same;
}

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
		v->values[old + n] = pnstrdup(values[n].bv_val, values[n].bv_len);
		v->lengths[old + n] = values[n].bv_len;
	}
}

/*
 * Hand one search entry to the callback: its DN, and the values of each
 * requested attribute.  What is built here lives in entry_cxt, reset after
 * each entry; the callback runs in the caller's context and copies what it
 * keeps.
 */
static void
deliver_entry(PssyncDirectory *dir, LDAPMessage *entry, const char **attrs,
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
		report_lost_connection(dir, rc, "reading a search entry");
	dn_string = directory_from_utf8(dn.bv_val, dn.bv_len);

	for (;;)
	{
		bool		answered = false;
		int			i;

		rc = ldap_get_attribute_ber(dir->ld, entry, dir->held_ber, &attr,
									&dir->held_values);
		if (rc != LDAP_SUCCESS)
			report_lost_connection(dir, rc, "reading a search entry");
		if (attr.bv_val == NULL)
			break;

		if (dir->held_values)
		{
			for (i = 0; i < nattrs; i++)
			{
				if (attribute_answers(dir, attrs[i], attr.bv_val, attr.bv_len, false))
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
					if (attribute_answers(dir, attrs[i], attr.bv_val, attr.bv_len, true))
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
		report_lost_connection(dir, rc, "search");
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
directory_search(PssyncDirectory *dir, const char *base_dn,
				 const char *filter, const char **attrs,
				 DirectoryEntryCallback callback, void *arg)
{
	return search_entries(dir, base_dn, dir->server->scope, filter, attrs,
						  callback, arg, NULL);
}

/*
 * Many searches of one base DN, asking for the same attributes, run
 * SEARCHES_IN_FLIGHT at a time on the connection, so that each costs the
 * directory's time rather than a round trip.  Each search's entries go to
 * its own callback; search->complete says whether it was cut short.
 */
void
directory_search_batch(PssyncDirectory *dir, const char *base_dn,
					   const char **attrs, DirectorySearch *searches, int n)
{
	Query	   *queries;
	int			i;

	if (n == 0)
		return;
	queries = palloc0(sizeof(Query) * n);
	for (i = 0; i < n; i++)
	{
		queries[i].base = base_dn;
		queries[i].scope = dir->server->scope;
		queries[i].filter = searches[i].filter;
		queries[i].callback = searches[i].callback;
		queries[i].arg = searches[i].arg;
	}
	run_queries(dir, queries, n, attrs, false);

	/*
	 * A directory runs one paged search at a time on a connection (OpenLDAP
	 * does), so the searches of a batch go unpaged; one that a size limit
	 * cut short is run again, alone and paged.
	 */
	for (i = 0; i < n; i++)
	{
		if (!queries[i].complete)
		{
			if (searches[i].reset)
				searches[i].reset(searches[i].arg);
			queries[i].paged = true;
			queries[i].references = NIL;
			run_queries(dir, &queries[i], 1, attrs, false);
		}
		searches[i].complete = queries[i].complete;
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

	search_entries(dir, dn, LDAP_SCOPE_BASE, filter, attrs, callback, arg, &rc);
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
static bool
search_entries(PssyncDirectory *dir, const char *base_dn, int scope,
			   const char *filter, const char **attrs,
			   DirectoryEntryCallback callback, void *arg, int *result_code)
{
	Query		query;

	memset(&query, 0, sizeof(query));
	query.base = base_dn;
	query.scope = scope;
	query.filter = filter;
	query.callback = callback;
	query.arg = arg;
	query.paged = true;
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
	LDAPControl *controls[2] = {NULL, NULL};
	int			rc;

	if (query->paged)
	{
		rc = ldap_create_page_control(dir->ld, dir->server->page_size,
									  query->cookie.bv_len > 0 ? &query->cookie : NULL,
									  0, &page);
		if (rc != LDAP_SUCCESS)
			elog(ERROR, "could not create an LDAP paged results control: %s",
				 ldap_err2string(rc));
		controls[0] = page;
	}

	io_begin(dir, false);
	rc = ldap_search_ext(dir->ld, directory_to_utf8(query->base), query->scope,
						 query->filter, (char **) request_attrs, 0,
						 query->paged ? controls : NULL,
						 NULL, NULL, 0, &query->msgid);
	if (page)
		ldap_control_free(page);
	io_end(dir, "search");
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

	rc = parse_result_referrals(dir, msg, &diag, &server_controls,
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
			read_attribute_types(dir);
		for (i = 0; i < nattrs; i++)
			named[i] = schema_attribute_name(dir, attrs[i]);
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
		Query	   *query = NULL;
		int			slot = -1;

		for (i = 0; i < SEARCHES_IN_FLIGHT && next < n; i++)
		{
			if (in_flight[i] == NULL)
			{
				in_flight[i] = &queries[next++];
				send_page(dir, in_flight[i], request_attrs);
				active++;
			}
		}

		res = wait_result(dir, LDAP_RES_ANY, LDAP_MSG_RECEIVED, "search");
		for (i = 0; i < SEARCHES_IN_FLIGHT && query == NULL; i++)
		{
			if (in_flight[i] && in_flight[i]->msgid == ldap_msgid(res))
			{
				query = in_flight[i];
				slot = i;
			}
		}

		for (msg = ldap_first_message(dir->ld, res); msg && query;
			 msg = ldap_next_message(dir->ld, msg))
		{
			int			type = ldap_msgtype(msg);

			if (type == LDAP_RES_SEARCH_ENTRY)
				deliver_entry(dir, msg, attrs, nattrs, query->callback,
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
		release_message(dir);
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
		directory_from_utf8(lud->lud_dn, strlen(lud->lud_dn)) : pstrdup(base_dn);
	if (lud->lud_scope != LDAP_SCOPE_DEFAULT)
		target_scope = lud->lud_scope;
	else
		target_scope = scope == LDAP_SCOPE_ONELEVEL ? LDAP_SCOPE_BASE : scope;
	ldap_free_urldesc(lud);

	return search_entries(referral_connection(dir, target_uri), target_base,
						  target_scope, filter, attrs, callback, arg, NULL);
}
