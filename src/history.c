/*-------------------------------------------------------------------------
 *
 * history.c
 *		  The run history: pssync.sync_run and pssync.sync_log.
 *
 * Every sync that is not a dry run records itself in the caller's
 * transaction, so that a rolled-back sync leaves no history, and a nightly
 * job whose rows nobody reads leaves them for a person to work through
 * (pssync.last_exceptions).  The rows are written as the owner of the
 * history tables: a caller needs no privilege on them, and cannot write
 * them by hand.  (An error in between restores the caller's identity with
 * the rest of the (sub)transaction.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pssync.h"

/* the columns of sync_log after run_id, as arrays */
enum
{
	LOG_ROW_NUMBER,
	LOG_SECTION,
	LOG_STATUS,
	LOG_RECORD_TYPE,
	LOG_DCID,
	LOG_FIRST_NAME,
	LOG_LAST_NAME,
	LOG_FIELD,
	LOG_OLD_USERNAME,
	LOG_NEW_USERNAME,
	LOG_DN,
	LOG_CANDIDATES,
	LOG_MATCHED_BY,
	LOG_CANDIDATE_COUNT,
	NUM_LOG_COLUMNS
};

/*
 * The extension's schema (pssync, fixed by the control file) when the
 * installed version keeps a history (1.1 and later), else InvalidOid.
 */
static Oid
history_schema(void)
{
	return pssync_schema_with("sync_run");
}

/* The text of a text[] literal of the candidates, or NULL. */
static char *
candidates_literal(SyncResult *result)
{
	if (result_candidates(result) == NULL)
		return NULL;
	return text_array_literal((const char **) result_candidates(result),
							  result_ncandidates(result));
}

/* A column of sync_run, and its value. */
typedef struct RunColumn
{
	const char *name;
	Oid			type;
	Datum		value;
	char		null;			/* 'n' or ' ', as SPI takes it */
} RunColumn;

#define MAX_RUN_COLUMNS 32

static void
run_column(RunColumn *columns, int *n, const char *name, Oid type,
		   Datum value, bool isnull)
{
	Assert(*n < MAX_RUN_COLUMNS);
	columns[*n].name = name;
	columns[*n].type = type;
	columns[*n].value = value;
	columns[*n].null = isnull ? 'n' : ' ';
	(*n)++;
}

static void
run_text(RunColumn *columns, int *n, const char *name, const char *text)
{
	run_column(columns, n, name, TEXTOID,
			   text ? CStringGetTextDatum(text) : (Datum) 0, text == NULL);
}

/*
 * Insert the run's row, with the columns the installed version of the
 * extension has (a column added by a later version is left out until
 * ALTER EXTENSION pssync UPDATE adds it).  Returns its run_id.
 */
static int64
insert_run(Oid schema, HistoryRun *run, List *rows, const char *role)
{
	int			counts[NUM_STATUSES];
	RunColumn	columns[MAX_RUN_COLUMNS];
	Datum		values[MAX_RUN_COLUMNS];
	Oid			types[MAX_RUN_COLUMNS];
	char		nulls[MAX_RUN_COLUMNS];
	Oid			relid = get_relname_relid("sync_run", schema);
	StringInfoData names;
	StringInfoData params;
	ListCell   *cell;
	bool		isnull;
	int			ncolumns = 0;
	int			n = 0;
	int			c;
	SyncStatus	status;

	memset(counts, 0, sizeof(counts));
	foreach(cell, rows)
		counts[((SyncResult *) lfirst(cell))->status]++;

	run_column(columns, &ncolumns, "started_at", TIMESTAMPTZOID,
			   TimestampTzGetDatum(run->started_at), false);
	run_text(columns, &ncolumns, "role", role);
	run_text(columns, &ncolumns, "function", run->function);
	run_text(columns, &ncolumns, "scope", run->scope);
	run_text(columns, &ncolumns, "selection", run->selection);
	run_text(columns, &ncolumns, "server", run->server);
	run_text(columns, &ncolumns, "uid_attr", run->uid_attr);
	run_text(columns, &ncolumns, "strategy", run->strategy);
	run_column(columns, &ncolumns, "records", INT4OID,
			   Int32GetDatum(run->records), false);
	for (status = STATUS_UNCHANGED; status < NUM_STATUSES; status++)
	{
		if (status == STATUS_WOULD_UPDATE)
			continue;			/* a dry run is not recorded */
		run_column(columns, &ncolumns, sync_status_name(status), INT4OID,
				   Int32GetDatum(counts[status]), false);
	}
	run_text(columns, &ncolumns, "powerschool_table", run->powerschool_table);
	run_text(columns, &ncolumns, "links_confirmed", run->links_confirmed);
	run_column(columns, &ncolumns, "excluded", INT4OID,
			   Int32GetDatum(run->excluded), false);
	run_text(columns, &ncolumns, "detail", run->detail);

	initStringInfo(&names);
	initStringInfo(&params);
	appendStringInfoString(&names, "finished_at");
	appendStringInfoString(&params, "pg_catalog.clock_timestamp()");
	for (c = 0; c < ncolumns; c++)
	{
		if (get_attnum(relid, columns[c].name) == InvalidAttrNumber)
			continue;
		values[n] = columns[c].value;
		types[n] = columns[c].type;
		nulls[n] = columns[c].null;
		n++;
		appendStringInfo(&names, ", %s", quote_identifier(columns[c].name));
		appendStringInfo(&params, ", $%d", n);
	}

	run_query_nulls(psprintf("INSERT INTO %s.sync_run (%s) VALUES (%s) RETURNING run_id",
							 quote_identifier(get_namespace_name(schema)),
							 names.data, params.data),
					n, types, values, nulls, false, SPI_OK_INSERT_RETURNING);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

static Datum
make_array(Datum *values, bool *nulls, int n, Oid type)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  type, typlen, typbyval, typalign));
}

/* the rows of sync_log inserted by one statement, and their memory */
#define LOG_ROWS_PER_STATEMENT 2000
#define LOG_BYTES_PER_STATEMENT (2 * 1024 * 1024)

/*
 * Insert the rows of a run into sync_log through one prepared statement,
 * at most LOG_ROWS_PER_STATEMENT rows or LOG_BYTES_PER_STATEMENT bytes at
 * a time: each statement takes the columns as arrays, and what they take
 * is freed before the next.
 */
static void
insert_rows(Oid schema, int64 run_id, List *rows, int *numbers)
{
	static const Oid column_types[NUM_LOG_COLUMNS] = {
		INT4OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID
	};
	int			n = list_length(rows);
	Datum	   *columns[NUM_LOG_COLUMNS];
	bool	   *column_nulls[NUM_LOG_COLUMNS];
	Datum		values[NUM_LOG_COLUMNS + 1];
	Oid			types[NUM_LOG_COLUMNS + 1];
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext chunk_cxt;
	SPIPlanPtr	plan;
	int			start;
	int			count;
	int			c;

	if (n == 0)
		return;
	forbid_writes_while_pinned();

	types[0] = INT8OID;
	for (c = 0; c < NUM_LOG_COLUMNS; c++)
		types[c + 1] = get_array_type(column_types[c]);
	/* unnest() in the target list: the arrays in step, cheaper than ROWS FROM */
	plan = SPI_prepare(psprintf("INSERT INTO %s.sync_log"
								" (run_id, row_number, section, status, record_type, dcid,"
								" first_name, last_name, field, old_username, new_username, dn,"
								" candidates, matched_by, candidate_count)"
								" SELECT $1, pg_catalog.unnest($2), pg_catalog.unnest($3),"
								" pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
								" pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9),"
								" pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12),"
								" pg_catalog.unnest($13)::pg_catalog.text[], pg_catalog.unnest($14),"
								" pg_catalog.unnest($15)",
								quote_identifier(get_namespace_name(schema))),
					   NUM_LOG_COLUMNS + 1, types);
	MemoryContextSwitchTo(cxt);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));

	chunk_cxt = AllocSetContextCreate(cxt, "pssync history rows",
									  ALLOCSET_DEFAULT_SIZES);
	values[0] = Int64GetDatum(run_id);
	for (start = 0; start < n; start += count)
	{
		int			row;
		int			rc;

		MemoryContextSwitchTo(chunk_cxt);
		for (c = 0; c < NUM_LOG_COLUMNS; c++)
		{
			columns[c] = palloc0(sizeof(Datum) * LOG_ROWS_PER_STATEMENT);
			column_nulls[c] = palloc0(sizeof(bool) * LOG_ROWS_PER_STATEMENT);
		}

#define SET_TEXT(c, s) \
	do { \
		const char *s_ = (s); \
		if (s_) \
			columns[c][row] = CStringGetTextDatum(s_); \
		else \
			column_nulls[c][row] = true; \
	} while (0)

		/*
		 * Up to LOG_ROWS_PER_STATEMENT rows, and fewer when they are large
		 * (exception rows with many candidates); at least one.
		 */
		for (row = 0; row < LOG_ROWS_PER_STATEMENT && start + row < n &&
			 (row == 0 ||
			  MemoryContextMemAllocated(chunk_cxt, false) < LOG_BYTES_PER_STATEMENT);
			 row++)
		{
			SyncResult *result = (SyncResult *) list_nth(rows, start + row);

			columns[LOG_ROW_NUMBER][row] = Int32GetDatum(numbers[start + row]);
			SET_TEXT(LOG_SECTION, result_section(result));
			SET_TEXT(LOG_STATUS, sync_status_name(result->status));
			SET_TEXT(LOG_RECORD_TYPE, record_type_name(result->record->type));
			columns[LOG_DCID][row] = Int64GetDatum(result->record->dcid);
			SET_TEXT(LOG_FIRST_NAME, result->record->first_name);
			SET_TEXT(LOG_LAST_NAME, result->record->last_name);
			SET_TEXT(LOG_FIELD, result_field(result));
			SET_TEXT(LOG_OLD_USERNAME, result_old_username(result));
			SET_TEXT(LOG_NEW_USERNAME, result->new_username);
			SET_TEXT(LOG_DN, result->dn);
			SET_TEXT(LOG_CANDIDATES, candidates_literal(result));
			SET_TEXT(LOG_MATCHED_BY, result->matched_by);
			if (result_candidates(result))
				columns[LOG_CANDIDATE_COUNT][row] = Int32GetDatum(result_candidate_count(result));
			else
				column_nulls[LOG_CANDIDATE_COUNT][row] = true;
		}
#undef SET_TEXT
		count = row;

		for (c = 0; c < NUM_LOG_COLUMNS; c++)
			values[c + 1] = make_array(columns[c], column_nulls[c], count,
									   column_types[c]);
		rc = SPI_execute_plan(plan, values, NULL, false, 0);
		MemoryContextSwitchTo(cxt);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		MemoryContextReset(chunk_cxt);
	}
	MemoryContextDelete(chunk_cxt);
	SPI_freeplan(plan);
}

/*
 * Does the installed version keep suggestions in sync_log (2.1)?
 */
bool
history_keeps_suggestions(void)
{
	Oid			schema = history_schema();

	return OidIsValid(schema) &&
		get_attnum(get_relname_relid("sync_log", schema), "suggestion_dn") != InvalidAttrNumber;
}

/*
 * The best suggestion of each partial, no_match and link_broken row of a
 * run (2.1), in the columns sync_log has for them: set on the rows
 * written, found by their record and status (such a row is the only row
 * of its record).
 */
static void
record_suggestions(Oid schema, int64 run_id, List *rows)
{
	Oid			types[9] = {INT8OID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, FLOAT4ARRAYOID, TEXTARRAYOID, FLOAT4ARRAYOID};
	Datum		values[9];
	char		nulls[9];
	Datum	   *columns[8];
	bool	   *column_nulls[8];
	int			n = 0;
	int			c;
	ListCell   *cell;

	foreach(cell, rows)
	{
		if (result_suggestion((SyncResult *) lfirst(cell)))
			n++;
	}
	if (n == 0)
		return;
	for (c = 0; c < 8; c++)
	{
		columns[c] = palloc0(sizeof(Datum) * n);
		column_nulls[c] = palloc0(sizeof(bool) * n);
	}
	n = 0;
	foreach(cell, rows)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);
		Suggestion *best = result_suggestion(result);
		DirectoryValues *uid;
		char	   *user_id = NULL;

		if (best == NULL)
			continue;
		uid = &best->entry->uid;
		if (uid->count == 1)
			user_id = directory_value_text(uid->values[0], uid->lengths[0]);
		columns[0][n] = Int64GetDatum(result->record->dcid);
		columns[1][n] = CStringGetTextDatum(record_type_name(result->record->type));
		columns[2][n] = CStringGetTextDatum(sync_status_name(result->status));
		columns[3][n] = CStringGetTextDatum(best->entry->dn);
		if (user_id)
			columns[4][n] = CStringGetTextDatum(user_id);
		else
			column_nulls[4][n] = true;
		columns[5][n] = Float4GetDatum(best->score / 1000.0f);
		columns[6][n] = CStringGetTextDatum(suggestion_reasons_text(best->reasons));
		if (result->detail->next_score >= 0)
			columns[7][n] = Float4GetDatum(result->detail->next_score / 1000.0f);
		else
			column_nulls[7][n] = true;
		n++;
	}

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(run_id);
	values[1] = make_array(columns[0], column_nulls[0], n, INT8OID);
	for (c = 1; c < 8; c++)
		values[c + 1] = make_array(columns[c], column_nulls[c], n,
								   c == 5 || c == 7 ? FLOAT4OID : TEXTOID);
	run_query_nulls(psprintf("UPDATE %s.sync_log l SET suggestion_dn = v.dn,"
							 " suggestion_user_id = v.user_id, suggestion_score = v.score,"
							 " suggestion_reasons = v.reasons::pg_catalog.text[],"
							 " suggestion_next_score = v.next_score"
							 " FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3),"
							 " pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
							 " pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9))"
							 " AS v(dcid, record_type, status, dn, user_id, score, reasons, next_score)"
							 " WHERE l.run_id OPERATOR(pg_catalog.=) $1"
							 " AND l.dcid OPERATOR(pg_catalog.=) v.dcid"
							 " AND l.record_type OPERATOR(pg_catalog.=) v.record_type"
							 " AND l.status OPERATOR(pg_catalog.=) v.status",
							 quote_identifier(get_namespace_name(schema))),
					9, types, values, nulls, false, SPI_OK_UPDATE);
}

/*
 * The rows sync_log keeps (pssync.history_rows): every row whose status
 * is not unchanged, or all.  A row keeps its row_number among all the
 * rows, so that a gap says where unchanged rows were left out.
 */
static List *
rows_to_log(List *rows, int **numbers)
{
	List	   *kept = NIL;
	ListCell   *cell;
	int			n = 0;

	*numbers = palloc(sizeof(int) * Max(list_length(rows), 1));
	foreach(cell, rows)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);

		n++;
		if (pssync_history_rows == HISTORY_ROWS_CHANGES &&
			result->status == STATUS_UNCHANGED)
			continue;
		(*numbers)[list_length(kept)] = n;
		kept = lappend(kept, result);
	}
	return kept;
}

/*
 * Record a run and its result rows (in the order they are returned),
 * unless pssync.history is off or the installed version keeps none.
 * sync_run counts every status; sync_log keeps the rows
 * pssync.history_rows says.  Returns the run's run_id, or 0 when it was
 * not recorded.
 */
int64
record_run(HistoryRun *run, List *rows)
{
	Oid			schema;
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	char	   *role;
	int64		run_id;
	List	   *logged;
	int		   *numbers;

	if (!pssync_history || !OidIsValid(schema = history_schema()))
		return 0;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	role = GetUserNameFromId(save_userid, false);
	owner = relation_owner(get_relname_relid("sync_run", schema));

	SetUserIdAndSecContext(owner, save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	run_id = insert_run(schema, run, rows, role);
	logged = rows_to_log(rows, &numbers);
	insert_rows(schema, run_id, logged, numbers);
	if (get_attnum(get_relname_relid("sync_log", schema), "suggestion_dn") != InvalidAttrNumber)
	{
		instr_time	start;

		INSTR_TIME_SET_CURRENT(start);
		record_suggestions(schema, run_id, logged);
		log_phase_time(&start, "recording the suggestions");
	}
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return run_id;
}
