/*-------------------------------------------------------------------------
 *
 * directory_wait.c
 *		  Waiting on the directory's socket.
 *
 * No wait here blocks the backend without bound.  Every operation uses
 * libldap's asynchronous API, and the answer is awaited the way
 * postgres_fdw awaits libpq: ldap_result() with a zero timeout, then a
 * wait on the latch and the connection's socket, then
 * CHECK_FOR_INTERRUPTS(), so that a query cancel or statement_timeout
 * always gets through.  The server option "timeout" bounds each wait.
 *
 * libldap itself waits in one place we cannot reach with ldap_result(): the
 * TLS handshake (ldap_install_tls).  For it, a small Sockbuf I/O layer sits
 * between the TLS layer and the socket and turns "would block" into a
 * bounded wait on the latch; a cancel makes the handshake fail, and the
 * interrupt is then processed outside libldap.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/wait_event.h"

#include "directory_int.h"

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
int
directory_wait_socket(PssyncDirectory *dir, uint32 event, long timeout)
{
	WaitEvent	occurred;

	if (dir->wait_sock_events != event)
	{
		ModifyWaitEvent(dir->wait_set, dir->wait_sock_pos, event, NULL);
		dir->wait_sock_events = event;
	}
	if (WaitEventSetWait(dir->wait_set, timeout, &occurred, 1,
						 dir->wait_event) == 0)
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
 * cancel or a timeout sets a flag and fails the I/O, and directory_io_end()
 * reports it once libldap has returned.
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
		rc = directory_wait_socket(dir, event, remaining);
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

Sockbuf_IO directory_latch_io = {
	io_setup,
	io_remove,
	io_ctrl,
	io_read,
	io_write,
	NULL						/* the TCP layer below closes the socket */
};

/*
 * Around every libldap call that may do I/O: arm the layer with a deadline,
 * and afterwards report a cancel or a timeout that happened inside.  A
 * cancel is always an ERROR.  A timeout is an ERROR too, unless failure is
 * given: then it is described there, and false is returned.
 */
void
directory_io_begin(PssyncDirectory *dir, bool wait_reads)
{
	dir->io_wait_reads = wait_reads;
	dir->io_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   dir->server->timeout_ms);
	dir->io_interrupted = false;
	dir->io_timed_out = false;
}

bool
directory_io_end(PssyncDirectory *dir, const char *what,
				 DirectoryFailure *failure)
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
	{
		DirectoryFailure timeout;

		directory_describe_timeout(dir, what, failure ? failure : &timeout);
		if (failure == NULL)
			directory_raise(&timeout);
		return false;
	}
	return true;
}

/*
 * Waiting for answers.
 *
 * Returns the next message(s) for msgid, and holds them until
 * directory_release_message() (or an error) frees them.  Each wait is
 * bounded by the server's timeout; a cancel is processed while waiting.  A
 * timeout or a lost connection is an ERROR, unless failure is given: then
 * it is described there, and NULL is returned.
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

/*
 * The loop of both: wait up to timeout_ms for the next message(s); on a
 * timeout, describe it in *failure (when given) and return NULL, or, with
 * quiet_timeout, just return NULL.
 */
static LDAPMessage *
wait_result(PssyncDirectory *dir, int msgid, int all, const char *what,
			long timeout_ms, bool quiet_timeout, DirectoryFailure *failure)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   timeout_ms);
	DirectoryFailure lost;

	Assert(dir->held_message == NULL);
	for (;;)
	{
		struct timeval zero = {0, 0};
		LDAPMessage *res = NULL;
		uint64		bytes_before = dir->bytes_read;
		long		remaining;
		int			rc;

		directory_io_begin(dir, false);
		dir->io_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   dir->server->timeout_ms);
		if (!quiet_timeout)
			dir->io_deadline = deadline;
		rc = ldap_result(dir->ld, msgid, all, &zero, &res);
		if (rc > 0)
			dir->held_message = res;
		if (!directory_io_end(dir, what, failure))
			return NULL;

		if (rc > 0)
			return res;
		if (rc < 0)
		{
			int			err = LDAP_SERVER_DOWN;

			(void) ldap_get_option(dir->ld, LDAP_OPT_RESULT_CODE, &err);
			directory_describe_lost_connection(dir, err, what,
											   failure ? failure : &lost);
			if (failure == NULL)
				directory_raise(&lost);
			return NULL;
		}

		CHECK_FOR_INTERRUPTS();
		if (dir->bytes_read != bytes_before || data_buffered(dir))
			continue;			/* ask again before waiting */

		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (remaining <= 0)
		{
			if (quiet_timeout)
				return NULL;
			directory_describe_timeout(dir, what, failure ? failure : &lost);
			if (failure == NULL)
				directory_raise(&lost);
			return NULL;
		}

		rc = directory_wait_socket(dir, WL_SOCKET_READABLE, remaining);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			if (quiet_timeout)
				return NULL;	/* the caller looks at what set it */
		}
	}
}

LDAPMessage *
directory_wait_result(PssyncDirectory *dir, int msgid, int all,
					  const char *what, DirectoryFailure *failure)
{
	return wait_result(dir, msgid, all, what, dir->server->timeout_ms, false,
					   failure);
}

/*
 * The same, for a stream that may stay silent: wait up to timeout_ms (or
 * until the latch is set) and return NULL then, without an error.  A lost
 * connection is an ERROR.
 */
LDAPMessage *
directory_wait_result_for(PssyncDirectory *dir, int msgid, int all,
						  const char *what, long timeout_ms)
{
	return wait_result(dir, msgid, all, what, timeout_ms, true, NULL);
}

void
directory_release_message(PssyncDirectory *dir)
{
	if (dir->held_message)
		ldap_msgfree(dir->held_message);
	dir->held_message = NULL;
}

/*
 * Parse a result message: its code and the server's diagnostic message
 * (palloc'd, or NULL), and optionally its controls and the referral URLs
 * of a referral result (palloc'd).
 */
int
directory_parse_result(PssyncDirectory *dir, LDAPMessage *msg, char **diag,
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

