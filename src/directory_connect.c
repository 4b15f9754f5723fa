/*-------------------------------------------------------------------------
 *
 * directory_connect.c
 *		  Connecting to the directory: the host name's lookup, the TCP
 *		  connection, TLS and the bind, and their errors.
 *
 * The TCP connection is made by us, non-blocking, waiting on the backend's
 * latch; it is then handed to libldap (ldap_init_fd).  The host name is
 * resolved in glibc's resolver thread, also awaited on the latch.  The
 * server option "timeout" bounds the lookup, the connect, the TLS
 * handshake and the bind.
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

#include <openldap.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "directory_int.h"

static void directory_cleanup(void *arg);

/*
 * Errors.  Each names the server; none ever contains a password.  A
 * failure is described first, so that one met while connecting to one URI
 * can be kept and the next URI tried; directory_raise() makes it an ERROR.
 */
void
directory_raise(DirectoryFailure *failure)
{
	ereport(ERROR,
			(errcode(failure->sqlerrcode),
			 errmsg_internal("%s", failure->message),
			 failure->detail ? errdetail_internal("%s", failure->detail) : 0,
			 failure->hint ? errhint("%s", failure->hint) : 0));
	pg_unreachable();
}

static void
describe(DirectoryFailure *failure, int sqlerrcode, const char *hint,
		 char *message, char *detail, char *reason)
{
	failure->sqlerrcode = sqlerrcode;
	failure->message = message;
	failure->detail = detail;
	failure->hint = hint;
	failure->reason = reason;
}

void
directory_describe_timeout(PssyncDirectory *dir, const char *what,
						   DirectoryFailure *failure)
{
	describe(failure, ERRCODE_CONNECTION_FAILURE,
			 "Check that the directory is running, or raise the server's timeout option.",
			 psprintf("LDAP server \"%s\" did not answer within %.1f seconds",
					  dir->server->servername, dir->server->timeout_ms / 1000.0),
			 psprintf("Waiting for: %s at %s.", what, dir->uri),
			 psprintf("no answer to the %s within %.1f seconds", what,
					  dir->server->timeout_ms / 1000.0));
}

char *
directory_diagnostic_message(PssyncDirectory *dir)
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

/* "text" or "text: the server's diagnostic message" */
static char *
with_diagnostic(const char *text, const char *diag)
{
	return diag && diag[0] ? psprintf("%s: %s", text, diag) : pstrdup(text);
}

void
directory_describe_lost_connection(PssyncDirectory *dir, int rc,
								   const char *what, DirectoryFailure *failure)
{
	char	   *why = with_diagnostic(ldap_err2string(rc),
									  directory_diagnostic_message(dir));

	describe(failure, ERRCODE_CONNECTION_FAILURE, NULL,
			 psprintf("lost the connection to LDAP server \"%s\"",
					  dir->server->servername),
			 psprintf("%s at %s: %s", what, dir->uri, why),
			 psprintf("connection lost during the %s: %s", what, why));
}

void
directory_report_lost_connection(PssyncDirectory *dir, int rc, const char *what)
{
	DirectoryFailure failure;

	directory_describe_lost_connection(dir, rc, what, &failure);
	directory_raise(&failure);
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
							 Min(poll_ms, remaining), dir->wait_event);
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
 * A socket of our own, counted among the backend's external file
 * descriptors as postgres_fdw counts its connections' sockets: when none is
 * left the sync fails clearly, rather than PostgreSQL's own files later.
 * The wait on the socket needs one more (an epoll set, which PostgreSQL
 * counts too): that it is there is checked first.
 */
static pgsocket
open_socket(PssyncDirectory *dir, int family)
{
	pgsocket	sock;
	bool		enough = AcquireExternalFD();

	if (enough)
	{
		/* room for the wait set's too, checked and given back */
		if (AcquireExternalFD())
			ReleaseExternalFD();
		else
		{
			ReleaseExternalFD();	/* the socket's */
			enough = false;
		}
	}
	if (!enough)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to LDAP server \"%s\"",
						dir->server->servername),
				 errdetail("There are too many open files on the local server."),
				 errhint("Raise the server's max_files_per_process and/or \"ulimit -n\" limits.")));
	sock = socket(family, SOCK_STREAM, 0);
	if (sock == PGINVALID_SOCKET)
		ReleaseExternalFD();
	return sock;
}

/* Close the socket of a connection that libldap does not own (yet). */
static void
close_socket(PssyncDirectory *dir)
{
	if (dir->sock != PGINVALID_SOCKET)
	{
		closesocket(dir->sock);
		ReleaseExternalFD();
	}
	dir->sock = PGINVALID_SOCKET;
}

/*
 * Open a TCP connection to host:port, trying each address, without
 * blocking.  Returns whether it was made (in dir->sock); if not, *failure
 * says why.  The socket being connected is kept in dir->sock so that an
 * error (a cancel) closes it.
 */
static bool
connect_host(PssyncDirectory *dir, const char *host, int port,
			 StringInfo failure)
{
	struct addrinfo *addrs;
	struct addrinfo *ai;
	int			rc;

	addrs = resolve_host(dir, host, port, failure);
	if (addrs == NULL)
		return false;

	PG_TRY();
	{
		for (ai = addrs; ai != NULL && dir->sock == PGINVALID_SOCKET; ai = ai->ai_next)
		{
			int			one = 1;
			int			err = 0;
			socklen_t	errlen = sizeof(err);
			TimestampTz deadline;

			dir->sock = open_socket(dir, ai->ai_family);
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
				close_socket(dir);
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
											   dir->sock, remaining, dir->wait_event);
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

			if (err != 0)
			{
				if (failure->len > 0)
					appendStringInfoString(failure, "; ");
				if (err == ETIMEDOUT)
					appendStringInfo(failure, "timed out after %.1f seconds",
									 dir->server->timeout_ms / 1000.0);
				else
					appendStringInfoString(failure, strerror(err));
				close_socket(dir);
			}
		}
	}
	PG_FINALLY();
	{
		freeaddrinfo(addrs);
	}
	PG_END_TRY();

	return dir->sock != PGINVALID_SOCKET;
}

static void
set_ldap_option(PssyncDirectory *dir, int option, const void *value)
{
	if (ldap_set_option(dir->ld, option, value) != LDAP_OPT_SUCCESS)
		elog(ERROR, "could not set LDAP option %d", option);
}

/*
 * Hand the connected socket to libldap, with our options and I/O layers,
 * and make the wait set of the connection.
 */
static void
start_session(PssyncDirectory *dir)
{
	Sockbuf    *sb = NULL;
	int			version = LDAP_VERSION3;
	int			deref = LDAP_DEREF_NEVER;
	int			zero = 0;
	struct timeval network_timeout;
	int			rc;

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
						dir->server->servername),
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
	network_timeout.tv_sec = dir->server->timeout_ms / 1000;
	network_timeout.tv_usec = (dir->server->timeout_ms % 1000) * 1000;
	set_ldap_option(dir, LDAP_OPT_NETWORK_TIMEOUT, &network_timeout);

	/*
	 * Above the TCP layer: liblber's read-ahead buffer, so that an entry is
	 * not two or three read() calls of its own, and our latch-aware layer.
	 */
	if (ldap_get_option(dir->ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS ||
		sb == NULL ||
		ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead,
						   LBER_SBIOD_LEVEL_PROVIDER, NULL) != 0 ||
		ber_sockbuf_add_io(sb, &directory_latch_io, LBER_SBIOD_LEVEL_PROVIDER + 5, dir) != 0)
		elog(ERROR, "could not install the pssync I/O layers on the LDAP connection");
}

/*
 * Encrypt the connection: the TLS handshake, with the server's certificate
 * checked against ca_file (or libldap's default trust) and its host name.
 * A ca_file that cannot be used is an ERROR, as it would be for every URI;
 * a handshake that fails or stalls is a failure of this URI.
 */
static bool
tls_handshake(PssyncDirectory *dir, DirectoryFailure *failure)
{
	int			require = LDAP_OPT_X_TLS_DEMAND;
	int			client = 0;
	int			rc;
	char	   *diag;

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

	directory_io_begin(dir, true);
	rc = ldap_install_tls(dir->ld);
	if (!directory_io_end(dir, "TLS handshake", failure))
		return false;
	if (rc == LDAP_SUCCESS)
		return true;

	/* libldap's GnuTLS layer explains little; say only what it knows */
	diag = directory_diagnostic_message(dir);
	if (diag && strcmp(diag, "(unknown error code)") == 0)
		diag = NULL;
	describe(failure, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
			 "The server's certificate must be signed by a CA in ca_file (or libldap's default trust) and name the host of the URI; a certificate naming a host is not valid for its IP address.",
			 psprintf("could not establish TLS with LDAP server \"%s\"",
					  dir->server->servername),
			 psprintf("%s: %s", dir->uri, with_diagnostic(ldap_err2string(rc), diag)),
			 psprintf("TLS handshake failed: %s",
					  with_diagnostic(ldap_err2string(rc), diag)));
	return false;
}

/* StartTLS (RFC 4511, 4.14), then the handshake. */
static bool
start_tls(PssyncDirectory *dir, DirectoryFailure *failure)
{
	LDAPMessage *res;
	char	   *diag;
	int			msgid;
	int			rc;

	directory_io_begin(dir, false);
	rc = ldap_start_tls(dir->ld, NULL, NULL, &msgid);
	if (!directory_io_end(dir, "StartTLS", failure))
		return false;
	if (rc != LDAP_SUCCESS)
	{
		directory_describe_lost_connection(dir, rc, "StartTLS", failure);
		return false;
	}
	dir->requests++;

	res = directory_wait_result(dir, msgid, LDAP_MSG_ALL, "StartTLS", failure);
	if (res == NULL)
		return false;
	rc = directory_parse_result(dir, res, &diag, NULL, NULL);
	directory_release_message(dir);
	if (rc != LDAP_SUCCESS)
	{
		describe(failure, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
				 "Configure TLS on the directory, or set starttls 'false'.",
				 psprintf("LDAP server \"%s\" refused StartTLS",
						  dir->server->servername),
				 psprintf("%s: %s", dir->uri, with_diagnostic(ldap_err2string(rc), diag)),
				 psprintf("StartTLS refused: %s",
						  with_diagnostic(ldap_err2string(rc), diag)));
		return false;
	}
	return tls_handshake(dir, failure);
}

/*
 * The simple bind.  One the directory refuses (bad credentials, a disabled
 * account, a bind that needs TLS) is an ERROR: another domain controller
 * would refuse it too.  One that is not answered in time, or that a busy or
 * unavailable server declines, is a failure of this URI.
 */
static bool
bind_simple(PssyncDirectory *dir, DirectoryFailure *failure)
{
	struct berval cred;
	LDAPMessage *res;
	char	   *diag;
	const char *hint;
	int			msgid;
	int			rc;

	cred.bv_val = directory_to_utf8(dir->server->password ? dir->server->password : "");
	cred.bv_len = strlen(cred.bv_val);

	directory_io_begin(dir, false);
	rc = ldap_sasl_bind(dir->ld, directory_to_utf8(dir->server->bind_dn),
						LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid);
	if (!directory_io_end(dir, "bind", failure))
		return false;
	if (rc != LDAP_SUCCESS)
	{
		directory_describe_lost_connection(dir, rc, "bind", failure);
		return false;
	}
	dir->requests++;

	res = directory_wait_result(dir, msgid, LDAP_MSG_ALL, "bind", failure);
	if (res == NULL)
		return false;
	rc = directory_parse_result(dir, res, &diag, NULL, NULL);
	directory_release_message(dir);
	if (rc == LDAP_SUCCESS)
		return true;
	if (rc == LDAP_BUSY || rc == LDAP_UNAVAILABLE)
	{
		describe(failure, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
				 "Check that the directory is running and the server's uri option.",
				 psprintf("LDAP server \"%s\" is unavailable",
						  dir->server->servername),
				 psprintf("bind at %s: %s", dir->uri,
						  with_diagnostic(ldap_err2string(rc), diag)),
				 psprintf("the bind was declined: %s",
						  with_diagnostic(ldap_err2string(rc), diag)));
		return false;
	}

	hint = active_directory_bind_hint(diag);
	if (hint == NULL &&
		(rc == LDAP_STRONG_AUTH_REQUIRED || rc == LDAP_CONFIDENTIALITY_REQUIRED))
		hint = "The directory accepts simple binds only over an encrypted connection: use ldaps:// URIs, or starttls 'true', with ca_file.";
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("could not bind to LDAP server \"%s\" as \"%s\"",
					dir->server->servername, dir->server->bind_dn),
			 errdetail_internal("%s", with_diagnostic(ldap_err2string(rc), diag)),
			 hint ? errhint("%s", hint) :
			 errhint("Check bind_dn and password in the user mapping for server \"%s\".",
					 dir->server->servername)));
	return false;				/* keep the compiler quiet */
}

/*
 * Connect to one URI, encrypt as configured, and bind.  Returns false, with
 * *failure saying why, when this URI cannot be used but another might.
 */
static bool
connect_uri(PssyncDirectory *dir, const char *uri, DirectoryFailure *failure)
{
	LDAPURLDesc *lud = NULL;
	StringInfoData reason;
	char	   *host;
	int			port;
	bool		secure;

	dir->uri = pstrdup(uri);
	if (ldap_url_parse(uri, &lud) != LDAP_URL_SUCCESS)
	{
		describe(failure, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
				 "Check the server's uri option.",
				 psprintf("could not connect to LDAP server \"%s\"",
						  dir->server->servername),
				 psprintf("%s: not an LDAP URL", uri),
				 pstrdup("not an LDAP URL"));
		return false;
	}
	host = pstrdup(lud->lud_host ? lud->lud_host : "localhost");
	secure = pg_strcasecmp(lud->lud_scheme, "ldaps") == 0;
	port = lud->lud_port ? lud->lud_port : (secure ? LDAPS_PORT : LDAP_PORT);
	ldap_free_urldesc(lud);

	initStringInfo(&reason);
	if (!connect_host(dir, host, port, &reason))
	{
		describe(failure, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
				 "Check that the directory is running and the server's uri option.",
				 psprintf("could not connect to LDAP server \"%s\"",
						  dir->server->servername),
				 psprintf("%s: %s", uri, reason.data),
				 psprintf("could not connect: %s", reason.data));
		return false;
	}
	start_session(dir);

	if (secure && !tls_handshake(dir, failure))
		return false;
	if (!secure && dir->server->starttls && !start_tls(dir, failure))
		return false;
	if (dir->server->bind_dn && !bind_simple(dir, failure))
		return false;
	return true;
}

/*
 * The ERROR after the last URI failed: that URI's own when there was one,
 * else one that says what happened at each.
 */
static void
report_failures(PssyncDirectory *dir, List *failures)
{
	DirectoryFailure *last = (DirectoryFailure *) llast(failures);
	DirectoryFailure all;
	StringInfoData detail;
	ListCell   *cell;
	bool		same_hint = true;

	if (list_length(failures) == 1)
		directory_raise(last);

	initStringInfo(&detail);
	foreach(cell, failures)
	{
		DirectoryFailure *f = (DirectoryFailure *) lfirst(cell);

		appendStringInfo(&detail, "%s%s: %s", detail.len > 0 ? "\n" : "",
						 f->uri, f->reason);
		if (f->hint == NULL || last->hint == NULL || strcmp(f->hint, last->hint) != 0)
			same_hint = false;
	}
	describe(&all, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
			 same_hint ? last->hint :
			 "Check that the directory's servers are running, and the server's uri option.",
			 psprintf("could not connect to LDAP server \"%s\" at any of its %d URIs",
					  dir->server->servername, list_length(failures)),
			 detail.data, NULL);
	directory_raise(&all);
}

/*
 * The wait event of the backend's waits for the directory (compat.h),
 * registered once per backend.
 */
static uint32
directory_wait_event(void)
{
	static uint32 event = 0;

	if (event == 0)
		event = pssync_directory_wait_event();
	return event;
}

/*
 * Connect, encrypt as configured, and bind, to the first URI of the uri
 * option where that succeeds: a URI that cannot be reached, or whose
 * server stalls or fails in the TLS handshake or does not answer the bind
 * in time, sends pssync to the next, as libpq's host list does.  The
 * connection lives as long as the current memory context, and is closed
 * when that is reset or deleted, by an error too.
 */
PssyncDirectory *
directory_connect(PssyncServer *server)
{
	PssyncDirectory *dir = palloc0(sizeof(PssyncDirectory));
	List	   *failures = NIL;
	ListCell   *cell;

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
	dir->wait_event = directory_wait_event();
	dir->cleanup.func = directory_cleanup;
	dir->cleanup.arg = dir;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &dir->cleanup);

	foreach(cell, split_uri_list(server->uri))
	{
		DirectoryFailure *failure = palloc0(sizeof(DirectoryFailure));

		if (connect_uri(dir, (char *) lfirst(cell), failure))
			return dir;
		failure->uri = dir->uri;
		failures = lappend(failures, failure);
		directory_cleanup(dir);	/* and try the next */
		dir->closing = false;
	}
	report_failures(dir, failures);
	return NULL;				/* keep the compiler quiet */
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
	{
		ldap_unbind_ext(dir->ld, NULL, NULL);	/* closes the socket */
		ReleaseExternalFD();
	}
	else
		close_socket(dir);
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
 * TCP keepalive on a connection that may stay silent for hours (the
 * background worker's change stream), so that one dropped without a word
 * is noticed: the first probe after idle_s seconds, then every
 * interval_s, count of them.
 */
void
directory_keepalive(PssyncDirectory *dir, int idle_s, int interval_s, int count)
{
	int			one = 1;

	if (dir->sock == PGINVALID_SOCKET)
		return;
	(void) setsockopt(dir->sock, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
#ifdef TCP_KEEPIDLE
	(void) setsockopt(dir->sock, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
#endif
#ifdef TCP_KEEPINTVL
	(void) setsockopt(dir->sock, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof(interval_s));
#endif
#ifdef TCP_KEEPCNT
	(void) setsockopt(dir->sock, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
#endif
}
