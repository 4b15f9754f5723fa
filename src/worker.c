/*-------------------------------------------------------------------------
 *
 * worker.c
 *		  The background worker: usernames in PowerSchool seconds after the
 *		  directory's accounts are made.
 *
 * With shared_preload_libraries = 'pssync' and pssync.worker_database set,
 * the postmaster starts one worker, connected to that database as
 * pssync.worker_role (never a superuser).  It keeps pssync.worker_scope in
 * step with the directory of pssync.server (or the only server):
 *
 *	- it waits on a change stream, which only wakes it: on OpenLDAP (RFC
 *	  4533) a refreshAndPersist search, on Active Directory a search with
 *	  the change notification control; where there is none, it polls every
 *	  pssync.worker_naptime seconds, and it runs a batch that often anyway
 *	  (PowerSchool's side sends no notice);
 *	- a batch is one transaction doing what ldap_sync_changes does, which
 *	  reads the changes since the stored watermark and keeps the new one
 *	  (the cookie or USN after every committed batch), recorded in the
 *	  history with function 'worker';
 *	- between batches it holds no transaction, snapshot or lock
 *	  (pg_stat_activity shows it idle, with no backend_xmin);
 *	- an error (a directory that is down) makes it back off, from 1 s
 *	  doubling to 5 minutes; the log gets one line when it starts backing
 *	  off, one for each other error while it does, and one when it is back,
 *	  not one a retry;
 *	- SIGHUP rereads the settings (another worker_role restarts it), SIGTERM
 *	  and shutdown end it cleanly, and the postmaster restarts it after a
 *	  crash.
 *
 * Its state is in shared memory, for the view pssync.worker_status.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ldap.h>

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "pssync.h"

PG_FUNCTION_INFO_V1(pssync_worker_info);

/* seconds before the postmaster starts a worker that died again */
#define WORKER_RESTART_SECONDS 5

/* a change stream the directory ends sooner than this was refused */
#define STREAM_REFUSED_MS 1000
/* ... and is asked for again after naptime, doubling up to this */
#define STREAM_RETRY_MAX_MS (60 * 60 * 1000L)
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS (5 * 60 * 1000)

#define LAST_ERROR_LEN 512

typedef enum WorkerState
{
	WORKER_STOPPED,
	WORKER_STREAMING,
	WORKER_POLLING,
	WORKER_BACKING_OFF
} WorkerState;

static const char *const state_names[] = {
	"stopped", "streaming", "polling", "backing off"
};

/* What the view shows; written by the worker. */
typedef struct WorkerShared
{
	slock_t		mutex;
	pid_t		pid;
	WorkerState state;
	TimestampTz last_batch_at;
	TimestampTz watermark_at;	/* the last committed batch's */
	char		last_error[LAST_ERROR_LEN];
	int64		batches;
	int64		changed_records;
} WorkerShared;

static WorkerShared *shared = NULL;

/* the error the log last had, while backing off */
static char logged_error[LAST_ERROR_LEN];

/* a batch is running: SIGTERM interrupts it, as die() would */
static volatile sig_atomic_t in_batch = false;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)));
}

static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("pssync worker", sizeof(WorkerShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(WorkerShared));
		SpinLockInit(&shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * At module load under shared_preload_libraries: the shared state, and the
 * worker when a database is given.
 */
void
worker_register(void)
{
	BackgroundWorker worker;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;

	if (pssync_worker_database == NULL || pssync_worker_database[0] == '\0')
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = WORKER_RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pssync");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pssync_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pssync worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pssync worker");
	RegisterBackgroundWorker(&worker);
}

/*
 * SIGTERM (pg_terminate_backend, shutdown): between batches the worker
 * ends at once, with exit code 0; in a batch it is cancelled as a query is
 * (the batch rolls back, and the directory's waits answer the cancel), and
 * then ends with exit code 0 too: a shutdown is no error.
 */
static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	ShutdownRequestPending = true;
	if (in_batch)
	{
		InterruptPending = true;
		QueryCancelPending = true;
	}
	SetLatch(MyLatch);
	errno = save_errno;
}

/* The state, and its error: none (NULL) clears the last one. */
static void
set_state(WorkerState state, const char *error)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	shared->state = state;
	strlcpy(shared->last_error, error ? error : "", sizeof(shared->last_error));
	SpinLockRelease(&shared->mutex);
}

/* Stopped: the last error stays, to say why. */
static void
worker_exit(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	if (shared)
	{
		SpinLockAcquire(&shared->mutex);
		shared->state = WORKER_STOPPED;
		shared->pid = 0;
		SpinLockRelease(&shared->mutex);
	}
}

static void reload_settings(const char *role);
static void nap(long timeout_ms);

/*
 * pssync.worker_role is (or became) a superuser: the worker runs nothing
 * as one.  It says so once, and waits until the role is none again (or
 * another is set).  Called out of any transaction.
 */
static void
wait_while_superuser(const char *role)
{
	set_state(WORKER_STOPPED, "pssync.worker_role is a superuser");
	ereport(LOG,
			(errmsg("pssync worker: pssync.worker_role \"%s\" is a superuser; the worker does not run as one",
					role),
			 errhint("Give it a role that has what a sync needs, and no more.")));
	for (;;)
	{
		bool		is_superuser;

		nap(60 * 1000L);
		if (ConfigReloadPending)
			reload_settings(role);
		StartTransactionCommand();
		is_superuser = superuser();
		CommitTransactionCommand();
		if (!is_superuser)
		{
			ereport(LOG,
					(errmsg("pssync worker: pssync.worker_role \"%s\" is no longer a superuser; the worker runs",
							role)));
			set_state(WORKER_STOPPED, NULL);
			return;
		}
	}
}

/*
 * One batch, in a transaction of its own: what ldap_sync_changes does.
 * Returns the server, copied into cxt, for the change stream.
 */
static PssyncServer *
run_batch(MemoryContext cxt, const char *role)
{
	PssyncServer *server;
	MemoryContext old;
	int			changed;
	char	   *activity = psprintf("SELECT count(*) FROM pssync.ldap_sync_changes(%s)",
									quote_literal_cstr(pssync_worker_scope));

	SetCurrentStatementStartTimestamp();
	in_batch = true;
	if (ShutdownRequestPending)
		proc_exit(0);
	StartTransactionCommand();

	/* the role may have become a superuser since the worker started */
	while (superuser())
	{
		CommitTransactionCommand();
		in_batch = false;
		wait_while_superuser(role);
		in_batch = true;
		if (ShutdownRequestPending)
			proc_exit(0);
		StartTransactionCommand();
	}
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);

	/* (default_transaction_read_only, of the role or the database) */
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("the pssync worker's transactions are read-only"),
				 errhint("default_transaction_read_only is read when the worker connects: reset it for pssync.worker_role and pssync.worker_database, then restart PostgreSQL.")));
	(void) sync_changes(pssync_worker_scope, false, "worker", &changed);
	old = MemoryContextSwitchTo(cxt);
	server = copy_server(pssync_get_server());
	MemoryContextSwitchTo(old);

	PopActiveSnapshot();
	CommitTransactionCommand();

	/* a SIGTERM during the commit: the batch is committed, and the worker ends */
	HOLD_INTERRUPTS();
	in_batch = false;
	QueryCancelPending = false;
	RESUME_INTERRUPTS();
	if (ShutdownRequestPending)
		proc_exit(0);
	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(true);

	SpinLockAcquire(&shared->mutex);
	shared->batches++;
	shared->changed_records += changed;
	shared->last_batch_at = GetCurrentTimestamp();
	shared->watermark_at = shared->last_batch_at;
	SpinLockRelease(&shared->mutex);
	if (changed > 0)
		elog(DEBUG1, "pssync worker: a batch changed %d records", changed);
	return server;
}

/*
 * The DN under which every base DN of the worker's scope lies (the change
 * stream's base), or NULL when they have none in common.
 */
static char *
stream_base(PssyncServer *server)
{
	List	   *dns = NIL;
	char	   *base;
	ListCell   *cell;

	if (strcmp(pssync_worker_scope, "teachers") != 0 &&
		strcmp(pssync_worker_scope, "staff") != 0)
		dns = list_concat(dns, server_base_dns(server, GROUP_STUDENTS));
	if (strcmp(pssync_worker_scope, "students") != 0)
		dns = list_concat(dns, server_base_dns(server, GROUP_STAFF));
	base = pstrdup((char *) linitial(dns));
	for (;;)
	{
		bool		holds_all = true;
		char	   *p;

		foreach(cell, dns)
		{
			if (!directory_dn_in_scope((char *) lfirst(cell), base, LDAP_SCOPE_SUBTREE))
				holds_all = false;
		}
		if (holds_all)
			return base;
		/* the parent: drop the first RDN (up to an unescaped comma) */
		for (p = base; *p && *p != ','; p++)
		{
			if (*p == '\\' && p[1])
				p++;
		}
		if (*p == '\0')
			return NULL;
		base = p + 1;
	}
}

/*
 * Open the change stream, if the directory has one.  Returns its message
 * id, or -1 (then the worker polls).
 */
static int
open_stream(PssyncServer *server, MemoryContext stream_cxt,
			PssyncDirectory **dir)
{
	MemoryContext old = MemoryContextSwitchTo(stream_cxt);
	const char *why = NULL;
	ChangeMechanism mechanism;
	char	   *base;
	int			msgid = -1;

	*dir = directory_connect(server);
	directory_keepalive(*dir, 60, 10, 6);
	mechanism = directory_change_mechanism(*dir, directory_entry_id_attr(*dir), &why);
	base = stream_base(server);
	if (base == NULL)
		why = "the base DNs of pssync.worker_scope have no DN in common";
	else if (mechanism != CHANGES_NONE)
		msgid = directory_change_stream(*dir, mechanism, base, &why);
	if (msgid < 0)
	{
		directory_disconnect(*dir);
		*dir = NULL;
		elog(DEBUG1, "pssync worker: no change stream: %s", why ? why : "?");
	}
	MemoryContextSwitchTo(old);
	return msgid;
}

/* Wait on the latch alone, up to timeout_ms. */
static void
nap(long timeout_ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (ShutdownRequestPending)
		proc_exit(0);
}

/* Reread the settings; another role takes a new worker. */
static void
reload_settings(const char *role)
{
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	ereport(LOG,
			(errmsg("pssync worker: settings reloaded: pssync.worker_scope \"%s\", pssync.worker_naptime %d s",
					pssync_worker_scope, pssync_worker_naptime)));
	if (strcmp(role, pssync_worker_role) != 0)
	{
		ereport(LOG,
				(errmsg("pssync worker: pssync.worker_role changed to \"%s\": restarting",
						pssync_worker_role)));
		proc_exit(1);			/* the postmaster starts it again */
	}
}

void
pssync_worker_main(Datum arg pg_attribute_unused())
{
	sigjmp_buf	local_sigjmp_buf;
	MemoryContext worker_cxt;
	MemoryContext batch_cxt;
	MemoryContext stream_cxt;
	PssyncDirectory *volatile stream = NULL;
	volatile int msgid = -1;
	volatile long backoff_ms = 0;
	volatile WorkerState logged_state = WORKER_STOPPED;
	/*
	 * A directory that ends each stream as it opens is polled instead, and
	 * asked for a stream again after naptime, doubling up to an hour.
	 */
	volatile bool stream_refused = false;
	volatile TimestampTz stream_opened = 0;
	volatile TimestampTz stream_retry_at = 0;
	volatile long stream_retry_ms = 0;
	char	   *role;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();

	role = pstrdup(pssync_worker_role);
	if (role[0] == '\0')
	{
		set_state(WORKER_STOPPED, "pssync.worker_role is not set");
		ereport(LOG,
				(errmsg("pssync worker: pssync.worker_role is not set; the worker waits for it"),
				 errhint("Set it to the role whose privileges the syncs use, and reload the configuration.")));
		for (;;)
		{
			nap(60 * 1000L);
			if (ConfigReloadPending)
				reload_settings(role);
		}
	}
	BackgroundWorkerInitializeConnection(pssync_worker_database, role, 0);
	pgstat_report_appname("pssync worker");
	on_shmem_exit(worker_exit, (Datum) 0);
	if (shared)
	{
		SpinLockAcquire(&shared->mutex);
		shared->pid = MyProcPid;
		SpinLockRelease(&shared->mutex);
	}

	StartTransactionCommand();
	if (superuser())
	{
		CommitTransactionCommand();
		wait_while_superuser(role);
	}
	else
		CommitTransactionCommand();

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "pssync worker",
									   ALLOCSET_DEFAULT_SIZES);
	batch_cxt = AllocSetContextCreate(worker_cxt, "pssync worker batch",
									  ALLOCSET_DEFAULT_SIZES);
	stream_cxt = AllocSetContextCreate(worker_cxt, "pssync worker stream",
									   ALLOCSET_DEFAULT_SIZES);

	/*
	 * An ERROR comes back here, out of any transaction: the worker backs
	 * off, logging once when it starts to.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		ErrorData  *edata;

		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		in_batch = false;
		QueryCancelPending = false;
		MemoryContextSwitchTo(worker_cxt);
		edata = CopyErrorData();
		AbortOutOfAnyTransaction();
		FlushErrorState();
		MemoryContextReset(batch_cxt);
		MemoryContextReset(stream_cxt);	/* closes the stream's connection */
		stream = NULL;
		msgid = -1;
		pgstat_report_activity(STATE_IDLE, NULL);
		RESUME_INTERRUPTS();

		/* SIGTERM cancelled the batch: it rolled back, and the worker ends */
		if (ShutdownRequestPending)
		{
			ereport(LOG,
					(errmsg("pssync worker: stopping; the batch in progress was rolled back")));
			proc_exit(0);
		}

		backoff_ms = backoff_ms == 0 ? BACKOFF_FIRST_MS :
			Min(backoff_ms * 2, BACKOFF_MAX_MS);
		set_state(WORKER_BACKING_OFF, edata->message);
		/* once when it starts backing off, and again for another error */
		if (logged_state != WORKER_BACKING_OFF ||
			strncmp(logged_error, edata->message, sizeof(logged_error) - 1) != 0)
		{
			ereport(LOG,
					(errmsg("pssync worker: backing off: %s", edata->message),
					 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
					 errhint("It tries again after 1 s, doubling the wait up to 5 minutes, and says so here when it is back.")));
			logged_state = WORKER_BACKING_OFF;
			strlcpy(logged_error, edata->message, sizeof(logged_error));
		}
		FreeErrorData(edata);
		nap(backoff_ms);
	}
	PG_exception_stack = &local_sigjmp_buf;

	for (;;)
	{
		PssyncServer *server;
		WorkerState state;
		const char *why = NULL;

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			proc_exit(0);
		if (ConfigReloadPending)
		{
			reload_settings(role);
			stream_refused = false;
		}

		MemoryContextReset(batch_cxt);
		MemoryContextSwitchTo(batch_cxt);
		server = run_batch(batch_cxt, role);
		MemoryContextSwitchTo(worker_cxt);

		if (stream == NULL &&
			(!stream_refused || GetCurrentTimestamp() >= stream_retry_at))
		{
			PssyncDirectory *dir;
			PssyncServer *kept;

			MemoryContextReset(stream_cxt);
			MemoryContextSwitchTo(stream_cxt);
			kept = copy_server(server);
			MemoryContextSwitchTo(worker_cxt);
			msgid = open_stream(kept, stream_cxt, &dir);
			stream = dir;
			stream_opened = GetCurrentTimestamp();
		}
		/* (a stream asked for again after a refusal polls until it lasts) */
		state = stream && !stream_refused ? WORKER_STREAMING : WORKER_POLLING;
		set_state(state, NULL);
		if (logged_state != state)
		{
			ereport(LOG,
					(errmsg("pssync worker: %s changes of pssync.worker_scope \"%s\" from server \"%s\"",
							state == WORKER_STREAMING ? "streaming" : "polling for",
							pssync_worker_scope, server->servername)));
			logged_state = state;
		}
		backoff_ms = 0;

		/* wait for the next change, or naptime */
		if (stream)
		{
			(void) directory_stream_wait(stream, msgid,
										 pssync_worker_naptime * 1000L, &why);
			if (ShutdownRequestPending)
				proc_exit(0);
			if (why)
			{
				TimestampTz now = GetCurrentTimestamp();
				long		lasted = TimestampDifferenceMilliseconds(stream_opened, now);

				/*
				 * The stream ended: open another after the next batch, but
				 * not sooner than naptime after this one was opened.  A
				 * directory that ends it within a second of opening it
				 * offers none (389-DS's OpenLDAP compatibility has no
				 * refreshAndPersist): the worker polls it instead, saying
				 * so once, and asks for a stream again after naptime,
				 * doubling up to an hour (or when its settings are
				 * reloaded).
				 */
				MemoryContextReset(stream_cxt);
				stream = NULL;
				msgid = -1;
				if (lasted < STREAM_REFUSED_MS)
				{
					if (!stream_refused)
					{
						ereport(LOG,
								(errmsg("pssync worker: %s as it began; polling every pssync.worker_naptime instead",
										why)));
						stream_refused = true;
						stream_retry_ms = pssync_worker_naptime * 1000L;
					}
					else
						stream_retry_ms = Min(stream_retry_ms * 2, STREAM_RETRY_MAX_MS);
					stream_retry_at = TimestampTzPlusMilliseconds(now, stream_retry_ms);
				}
				else
				{
					elog(DEBUG1, "pssync worker: %s", why);
					stream_refused = false;
				}
				if (lasted < pssync_worker_naptime * 1000L)
					nap(pssync_worker_naptime * 1000L - lasted);
			}
			else if (stream_refused &&
					 TimestampDifferenceExceeds(stream_opened, GetCurrentTimestamp(),
												pssync_worker_naptime * 1000))
			{
				/* asked for again, it lasts (naptime): it streams */
				ereport(LOG,
						(errmsg("pssync worker: the directory keeps a change stream open again")));
				stream_refused = false;
			}
		}
		else
			nap(pssync_worker_naptime * 1000L);
	}
}

/*
 * pssync.worker_status: the worker, as it is now.  No row when no worker is
 * configured; "stopped" when none runs.
 */
Datum
pssync_worker_info(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[7];
	bool		nulls[7];
	WorkerShared copy;
	bool		running = false;

	InitMaterializedSRF(fcinfo, 0);
	if (pssync_worker_database == NULL || pssync_worker_database[0] == '\0')
		return (Datum) 0;

	memset(&copy, 0, sizeof(copy));
	if (shared)
	{
		SpinLockAcquire(&shared->mutex);
		copy = *shared;
		SpinLockRelease(&shared->mutex);
		running = copy.pid != 0 && BackendPidGetProc(copy.pid) != NULL;
	}
	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(pssync_worker_database);
	values[1] = CStringGetTextDatum(running ? state_names[copy.state] :
									state_names[WORKER_STOPPED]);
	values[2] = TimestampTzGetDatum(copy.last_batch_at);
	nulls[2] = copy.last_batch_at == 0;
	values[3] = CStringGetTextDatum(copy.last_error);
	nulls[3] = copy.last_error[0] == '\0';
	nulls[4] = copy.watermark_at == 0;
	if (!nulls[4])
	{
		Interval   *age = DatumGetIntervalP(DirectFunctionCall2(timestamp_mi,
																TimestampTzGetDatum(GetCurrentTimestamp()),
																TimestampTzGetDatum(copy.watermark_at)));

		values[4] = IntervalPGetDatum(age);
	}
	values[5] = Int64GetDatum(copy.batches);
	values[6] = Int64GetDatum(copy.changed_records);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
