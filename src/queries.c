/*-------------------------------------------------------------------------
 *
 * queries.c
 *		  Running statements through SPI, and naming relations in them.
 *
 * Every statement pssync runs names its relations schema-qualified and
 * quoted (qualified_relation_name), so that nothing on the caller's
 * search_path can stand in for them.  SPI leaves its own memory context
 * current after each statement; these helpers put the caller's back, so
 * that what is allocated next lives as long as the call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "pssync.h"

/* the rows an SPI cursor fetches at a time */
#define ROWS_PER_FETCH 10000

/*
 * While a dry ldap_sync_changes runs (pin_snapshots): the snapshot every
 * statement reads with, and the one of for_each_row's "latest" reads.
 */
static Snapshot pinned_snapshot = NULL;
static Snapshot pinned_latest = NULL;

/*
 * The pins in force when each subtransaction began (those begun while
 * there were pins): an error that a subtransaction rolls back (a view's
 * function that catches the error of a pssync call it makes from a dry
 * run's statement) puts them back, and the end of the transaction drops
 * them all.
 */
typedef struct PinsAtSubxact
{
	SubTransactionId subid;
	Snapshot	snapshot;
	Snapshot	latest;
	struct PinsAtSubxact *next;
} PinsAtSubxact;

static PinsAtSubxact *pins_at_subxact = NULL;
static bool pin_callbacks_registered = false;

static void
pins_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* in TopTransactionContext, freed with it */
			pins_at_subxact = NULL;
			pinned_snapshot = pinned_latest = NULL;
			break;
		default:
			break;
	}
}

static void
pins_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid pg_attribute_unused(),
					  void *arg pg_attribute_unused())
{
	PinsAtSubxact *at;

	switch (event)
	{
		case SUBXACT_EVENT_START_SUB:
			if (pinned_snapshot == NULL)
				break;
			at = MemoryContextAlloc(TopTransactionContext, sizeof(PinsAtSubxact));
			at->subid = mySubid;
			at->snapshot = pinned_snapshot;
			at->latest = pinned_latest;
			at->next = pins_at_subxact;
			pins_at_subxact = at;
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
		case SUBXACT_EVENT_ABORT_SUB:
			if (event == SUBXACT_EVENT_ABORT_SUB)
				pinned_snapshot = pinned_latest = NULL;		/* none at its start */
			while (pins_at_subxact != NULL && pins_at_subxact->subid >= mySubid)
			{
				at = pins_at_subxact;
				if (event == SUBXACT_EVENT_ABORT_SUB && at->subid == mySubid)
				{
					pinned_snapshot = at->snapshot;
					pinned_latest = at->latest;
				}
				pins_at_subxact = at->next;
				pfree(at);
			}
			break;
		default:
			break;
	}
}

/*
 * pssync's statements run without JIT compilation, from begin_statements()
 * to end_statements().  A district's statements read or write 100,000 rows
 * with a few simple expressions each: their costs pass jit_above_cost,
 * and compiling them takes longer (0.1 s for the load of the records
 * alone) and far more memory (25 MB of LLVM's) than running them
 * uncompiled.  jit is the caller's again at end_statements(), or at the
 * end of the (sub)transaction when an error comes first.  Returns what
 * end_statements() takes.
 */
int
begin_statements(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
end_statements(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/* The name a statement uses: schema-qualified, quoted. */
char *
qualified_relation_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* The owner of a relation. */
Oid
relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* The name a message uses: as the caller would write it. */
char *
relation_display_name(Oid relid)
{
	return DatumGetCString(DirectFunctionCall1(regclassout,
											   ObjectIdGetDatum(relid)));
}

/*
 * From here until unpin_snapshots(), every statement reads with the
 * snapshot taken now, read-only (a statement that writes is an error), and
 * for_each_row's latest reads with the latest snapshot taken now: what a
 * dry ldap_sync_changes reads is what was committed when it held the
 * server's lock, without holding the lock while it runs (a real run that
 * commits meanwhile is not seen in part).  Under READ COMMITTED both are a
 * new snapshot; under REPEATABLE READ or SERIALIZABLE the first is the
 * transaction's.  pinned keeps the pins in force before, which
 * unpin_snapshots() puts back, and the snapshots registered here.
 */
void
pin_snapshots(PinnedSnapshots *pinned)
{
	if (!pin_callbacks_registered)
	{
		RegisterXactCallback(pins_xact_callback, NULL);
		RegisterSubXactCallback(pins_subxact_callback, NULL);
		pin_callbacks_registered = true;
	}
	pinned->outer_snapshot = pinned_snapshot;
	pinned->outer_latest = pinned_latest;
	pinned->snapshot = RegisterSnapshot(GetTransactionSnapshot());
	pinned->latest = IsolationUsesXactSnapshot() ?
		RegisterSnapshot(GetLatestSnapshot()) : RegisterSnapshot(pinned->snapshot);
	pinned_snapshot = pinned->snapshot;
	pinned_latest = pinned->latest;
}

/*
 * A dry run's statements only read: a statement that may write, run while
 * its snapshots are pinned, is a bug.  (A query that locks rows, which
 * for_each_row() opens read-only then, SPI refuses itself.)
 */
void
forbid_writes_while_pinned(void)
{
	if (pinned_snapshot)
		elog(ERROR, "cannot run a statement that may write while a dry run's snapshots are pinned");
}

/*
 * The end of what pin_snapshots() began: at the end of the run.
 */
void
unpin_snapshots(PinnedSnapshots *pinned)
{
	pinned_snapshot = pinned->outer_snapshot;
	pinned_latest = pinned->outer_latest;
	UnregisterSnapshot(pinned->snapshot);
	UnregisterSnapshot(pinned->latest);
}

/*
 * Its end on the way out with an error: the pins in force before are put
 * back, and the snapshots are left to the (sub)transaction's abort, which
 * releases them with the resource owner they were registered with (the
 * current one may be another by now).
 */
void
drop_pinned_snapshots(PinnedSnapshots *pinned)
{
	pinned_snapshot = pinned->outer_snapshot;
	pinned_latest = pinned->outer_latest;
}

/*
 * SPI_connect() for a function of pssync's, and SPI_finish(): a call made
 * from inside a dry ldap_sync_changes' statement (a view of the caller's
 * that calls one) runs its own statements with no pin, as a call of its
 * own would, and the pin is the dry run's again when it returns, or when
 * the subtransaction it failed in is rolled back (pins_subxact_callback).
 */
void
statements_connect(PinnedSnapshots *outer)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	outer->outer_snapshot = pinned_snapshot;
	outer->outer_latest = pinned_latest;
	outer->snapshot = outer->latest = NULL;
	pinned_snapshot = pinned_latest = NULL;
}

void
statements_finish(PinnedSnapshots *outer)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	pinned_snapshot = outer->outer_snapshot;
	pinned_latest = outer->outer_latest;
}

/*
 * Run a statement through SPI and check its result code.  SPI leaves its
 * own memory context current after each statement; the caller's is put
 * back, so that what is allocated next lives as long as the call.
 */
void
run_query(const char *sql, int nargs, Oid *types, Datum *values,
		  bool read_only, int expected)
{
	run_query_nulls(sql, nargs, types, values, NULL, read_only, expected);
}

/* The same, with some arguments NULL ('n' in nulls). */
void
run_query_nulls(const char *sql, int nargs, Oid *types, Datum *values,
				const char *nulls, bool read_only, int expected)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;

	if (pinned_snapshot)
	{
		if (!read_only)
			forbid_writes_while_pinned();
		PushActiveSnapshot(pinned_snapshot);
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, true, 0);
		PopActiveSnapshot();
	}
	else
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != expected)
		elog(ERROR, "SPI_execute_with_args failed: %s",
			 SPI_result_code_string(rc));
}

/*
 * Run a query through an SPI cursor and hand each row to callback, a batch
 * of rows at a time, so that a district's rows are never all held at once.
 * The caller's memory context is current in the callback and afterwards.
 *
 * With latest, a read-only query sees what has been committed up to now,
 * even in a REPEATABLE READ or SERIALIZABLE transaction, as PostgreSQL's
 * own foreign key checks do: a username another transaction stored after
 * this one's snapshot is held all the same.
 */
void
for_each_row(const char *sql, int nargs, Oid *types, Datum *values,
			 bool latest, RowCallback callback, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	Portal		portal;

	if (pinned_snapshot)
	{
		PushActiveSnapshot(latest ? pinned_latest : pinned_snapshot);
		portal = SPI_cursor_open_with_args(NULL, sql, nargs, types, values,
										   NULL, true, 0);
		PopActiveSnapshot();
	}
	else if (latest && IsolationUsesXactSnapshot())
	{
		PushActiveSnapshot(GetLatestSnapshot());
		portal = SPI_cursor_open_with_args(NULL, sql, nargs, types, values,
										   NULL, true, 0);
		PopActiveSnapshot();
	}
	else
		portal = SPI_cursor_open_with_args(NULL, sql, nargs, types, values,
										   NULL, false, 0);
	MemoryContextSwitchTo(cxt);
	if (portal == NULL)
		elog(ERROR, "SPI_cursor_open_with_args failed: %s",
			 SPI_result_code_string(SPI_result));
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, ROWS_PER_FETCH);
		MemoryContextSwitchTo(cxt);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
			callback(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, arg);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_freetuptable(SPI_tuptable);
	SPI_cursor_close(portal);
	MemoryContextSwitchTo(cxt);
}

/*
 * A RowCallback that collects the first column of each row (a bigint) in
 * list->dcids, allocated in list->cxt (NULL: the memory context current in
 * the callback, the caller's of for_each_row); and dcid_list_add(), which
 * adds one.
 */
void
dcid_list_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	bool		isnull;

	dcid_list_add((DcidList *) arg,
				  DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull)));
}

void
dcid_list_add(DcidList *list, int64 dcid)
{
	MemoryContext cxt = list->cxt ? list->cxt : CurrentMemoryContext;

	if (list->n == list->allocated)
	{
		list->allocated = Max(256, list->allocated * 2);
		list->dcids = list->dcids ?
			repalloc_huge(list->dcids, sizeof(int64) * list->allocated) :
			MemoryContextAllocHuge(cxt, sizeof(int64) * list->allocated);
	}
	list->dcids[list->n++] = dcid;
}

/* A text column of a row, copied into the arena, or NULL. */
char *
row_text(HeapTuple tuple, TupleDesc desc, int column, Arena *arena)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, column, &isnull);
	text	   *t;

	if (isnull)
		return NULL;
	t = DatumGetTextPP(d);
	return arena_strndup(arena, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * Statements as the owner of a relation (pssync's own tables are written
 * as their owner, the extension's), and back as the caller; an error in
 * between restores the caller's identity with the rest of the
 * (sub)transaction.
 */
void
become_relation_owner(AsOwner *as, Oid relid)
{
	GetUserIdAndSecContext(&as->save_userid, &as->save_sec_context);
	SetUserIdAndSecContext(relation_owner(relid),
						   as->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
become_caller(AsOwner *as)
{
	SetUserIdAndSecContext(as->save_userid, as->save_sec_context);
}

/*
 * pssync's schema (fixed by the control file) when the installed version
 * has the table relname, else InvalidOid: a version from before the table
 * came in lacks what uses it.
 */
Oid
pssync_schema_with(const char *relname)
{
	Oid			schema = get_namespace_oid("pssync", true);

	if (!OidIsValid(schema) || !OidIsValid(get_relname_relid(relname, schema)))
		return InvalidOid;
	return schema;
}

/*
 * ANALYZE one of pssync's own tables (as its owner) that has no statistics
 * yet and has grown past STATISTICS_MIN_PAGES: the first run of a group
 * fills record_state with a district's records in one transaction, and
 * autovacuum analyzes it a minute later at best.  Until then PostgreSQL
 * estimates that "server = $1 AND record_group = $2" keeps a few rows of
 * it, and plans a nested loop around every row, which against tens of
 * thousands of values is quadratic (measured: minutes at 100,000
 * students, against 1 s).  ANALYZE counts this transaction's own rows.
 *
 * Only when its lock (SHARE UPDATE EXCLUSIVE, held to the end of the
 * transaction) is free at once: another sync's first run, a VACUUM or
 * autovacuum holding it means waiting, or a deadlock with a sync of
 * another group, for what only makes plans better.  Not in a read-only
 * transaction or during recovery, where it cannot run.  Once the
 * statistics are there it costs a catalog lookup.
 */
#define STATISTICS_MIN_PAGES 64

void
analyze_if_never_analyzed(Oid relid)
{
	Relation	rel;
	BlockNumber pages;
	MemoryContext save_portal = PortalContext;
	AsOwner		as;

	if (!OidIsValid(relid) || XactReadOnly || RecoveryInProgress())
		return;
	if (SearchSysCacheExists3(STATRELATTINH, ObjectIdGetDatum(relid),
							  Int16GetDatum(1), BoolGetDatum(false)))
		return;
	rel = relation_open(relid, AccessShareLock);
	pages = RelationGetNumberOfBlocks(rel);
	relation_close(rel, AccessShareLock);
	if (pages < STATISTICS_MIN_PAGES)
		return;
	if (!ConditionalLockRelationOid(relid, ShareUpdateExclusiveLock))
		return;
	/* (again, now that nobody else analyzes it) */
	if (SearchSysCacheExists3(STATRELATTINH, ObjectIdGetDatum(relid),
							  Int16GetDatum(1), BoolGetDatum(false)))
	{
		UnlockRelationOid(relid, ShareUpdateExclusiveLock);
		return;
	}
	elog(DEBUG1, "pssync: analyzing %s (%u pages, no statistics yet)",
		 relation_display_name(relid), pages);

	/*
	 * ANALYZE makes its memory context under PortalContext, which the
	 * background worker (no portal) does not have: under the current one.
	 */
	if (PortalContext == NULL)
		PortalContext = CurrentMemoryContext;
	PG_TRY();
	{
		become_relation_owner(&as, relid);
		run_query(psprintf("ANALYZE %s", qualified_relation_name(relid)),
				  0, NULL, NULL, false, SPI_OK_UTILITY);
		become_caller(&as);
	}
	PG_FINALLY();
	{
		PortalContext = save_portal;
	}
	PG_END_TRY();
}

/* An int8[] of values, for a statement's parameter. */
Datum
int8_array(int64 *values, int n)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		datums[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(datums, n, INT8OID, 8,
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* A text[] of C strings (NULL: a NULL element), for a statement's parameter. */
Datum
text_array(const char **values, int n)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < n; i++)
	{
		nulls[i] = values[i] == NULL;
		datums[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(values[i]);
	}
	return PointerGetDatum(construct_md_array(datums, nulls, 1, dims, lbs,
											  TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * The text of a text[] literal of strings (NULL: a NULL element), for
 * unnest() of arrays of arrays, or a text column of a history row.
 */
char *
text_array_literal(const char **values, int n)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < n; i++)
	{
		const char *p;

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (values[i] == NULL)
		{
			appendStringInfoString(&buf, "NULL");
			continue;
		}
		appendStringInfoChar(&buf, '"');
		for (p = values[i]; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, *p);
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}
