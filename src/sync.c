/*-------------------------------------------------------------------------
 *
 * sync.c
 *		  The SQL-callable functions of pssync.
 *
 * A sync reads the selected records, asks the directory about each, checks
 * and writes the changes, records itself in the run history, and returns
 * the result rows as PowerSchool's results page shows them: all "match"
 * rows, then all "exception" rows, each section in the order of last name,
 * first name and dcid.
 *
 * Everything a call allocates lives in its own memory context, deleted at
 * the end of the call; the directory connection goes with it, on error
 * too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pssync.h"

PG_FUNCTION_INFO_V1(pssync_ldap_sync_students);
PG_FUNCTION_INFO_V1(pssync_ldap_sync_staff);
PG_FUNCTION_INFO_V1(pssync_ldap_sync_district);
PG_FUNCTION_INFO_V1(pssync_ldap_user_id_attribute);
PG_FUNCTION_INFO_V1(pssync_ldap_lookup);
PG_FUNCTION_INFO_V1(pssync_ldap_assign);
PG_FUNCTION_INFO_V1(pssync_ldap_exclude);
PG_FUNCTION_INFO_V1(pssync_ldap_include);
PG_FUNCTION_INFO_V1(pssync_ldap_unlink);
PG_FUNCTION_INFO_V1(pssync_ldap_suggest);

static RecordGroup one_record(text *type_text, int64 dcid, const char **type,
							  PowerSchoolTables *tables, const char *what);
PG_FUNCTION_INFO_V1(pssync_ldap_sync_changes);

/*
 * sync_result has 11 columns in 1.0, matched_by besides from 1.1, and
 * candidate_count from 1.2; the rows fill the columns the installed
 * version has.
 */
#define MAX_RESULT_COLUMNS 13

#define VALID_SCOPES \
	"students, students_blank, teachers, teachers_blank, staff and staff_blank"

/* What a call asks for. */
typedef struct SyncRequest
{
	const char *function;
	RecordGroup group;
	RecordSelection selection;
	const char *scope;			/* ldap_sync_district's */
	UserKinds	kinds;
	bool		blank_only;
	const char *uid_attr;		/* NULL: the server's */
	bool		dry_run;
	const char *dn;				/* ldap_assign's entry */
	int			covered_type;	/* the RecordType a district-wide scope
								 * covers whole, or -1 */
	GroupChanges *changes;		/* a scope's run of ldap_sync_changes */
} SyncRequest;

/* What a run found out, besides its rows. */
typedef struct RunResult
{
	List	   *rows;			/* in the order they are returned */
	int			changed;		/* records updated (would_update) */
} RunResult;

static Datum
candidates_array(SyncResult *result)
{
	int			n = result_ncandidates(result);
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		datums[i] = CStringGetTextDatum(result_candidates(result)[i]);
	return PointerGetDatum(construct_array(datums, n, TEXTOID,
										   -1, false, TYPALIGN_INT));
}

static void
put_result_row(ReturnSetInfo *rsinfo, SyncResult *result)
{
	SyncRecord *rec = result->record;
	Datum		values[MAX_RESULT_COLUMNS];
	bool		nulls[MAX_RESULT_COLUMNS];
	const char *texts[MAX_RESULT_COLUMNS];
	int			natts = rsinfo->setDesc->natts;
	int			i;

	memset(nulls, 0, sizeof(nulls));
	memset(texts, 0, sizeof(texts));
	texts[0] = result_section(result);
	texts[1] = sync_status_name(result->status);
	texts[2] = record_type_name(rec->type);
	texts[4] = rec->first_name;
	texts[5] = rec->last_name;
	texts[6] = result_field(result);
	texts[7] = result_old_username(result);
	texts[8] = result->new_username;
	texts[9] = result->dn;
	texts[11] = result->matched_by;

	for (i = 0; i < MAX_RESULT_COLUMNS; i++)
	{
		if (i == 3)
			values[i] = Int64GetDatum(rec->dcid);
		else if (i == 10)
		{
			nulls[i] = result_candidates(result) == NULL;
			values[i] = nulls[i] ? (Datum) 0 : candidates_array(result);
		}
		else if (i == 12)
		{
			nulls[i] = result_candidates(result) == NULL;
			values[i] = Int32GetDatum(result_candidate_count(result));
		}
		else
		{
			nulls[i] = texts[i] == NULL;
			values[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(texts[i]);
		}
	}
	if (natts > MAX_RESULT_COLUMNS)
		elog(ERROR, "pssync.sync_result has %d columns, more than this version of pssync knows",
			 natts);

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* The rows in the order they are returned: matches, then exceptions. */
static List *
rows_in_order(List *results)
{
	List	   *rows = NIL;
	ListCell   *cell;
	int			section;

	for (section = 0; section < 2; section++)
	{
		foreach(cell, results)
		{
			SyncResult *result = (SyncResult *) lfirst(cell);

			if (STATUS_IS_MATCH(result->status) == (section == 0))
				rows = lappend(rows, result);
		}
	}
	return rows;
}

/* Records of a selection, as the loads of records.c read them. */
static List *
load_records(SyncRequest *request, PowerSchoolTables *tables,
			 RecordSelection *selection, bool fingerprints, Arena *arena,
			 int *excluded)
{
	if (request->group == GROUP_STUDENTS)
		return load_student_records(tables, selection, request->blank_only,
									fingerprints, arena, excluded);
	return load_user_records(tables, selection, request->kinds,
							 request->blank_only, fingerprints, arena, excluded);
}

static int
count_changed(List *rows)
{
	ListCell   *cell;
	SyncRecord *previous = NULL;
	int			n = 0;

	foreach(cell, rows)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);

		if ((result->status == STATUS_UPDATED ||
			 result->status == STATUS_WOULD_UPDATE) &&
			result->record != previous)
		{
			n++;
			previous = result->record;
		}
	}
	return n;
}

/*
 * Record a real run and what it learned: its history, what each record it
 * took now is (for ldap_sync_changes), and its links.
 */
/*
 * (unloaded: the links of records the run did not load, which a
 * district-wide run removes when their record is gone; an incremental run
 * gives those of the records it found gone.)
 */
static void
record_and_link(SyncRequest *request, PssyncServer *server,
				PowerSchoolTables *tables, const char *uid_attr,
				const char *strategy, List *records, int excluded,
				List *unloaded, bool district, List *results, List *rows,
				RunMemory *memory, const char *entry_id_attr,
				TimestampTz started_at, instr_time *phase)
{
	HistoryRun	run;
	LinkRun		link_run;

	memset(&run, 0, sizeof(run));
	memset(&link_run, 0, sizeof(link_run));
	run.started_at = started_at;
	run.function = request->function;
	run.scope = request->scope;
	run.selection = selection_name(&request->selection);
	run.server = server->servername;
	run.uid_attr = uid_attr;
	run.strategy = strategy;
	run.powerschool_table = request->group == GROUP_STUDENTS ?
		tables->students.base_qualified_name : tables->users.base_qualified_name;
	run.records = list_length(records);
	run.excluded = excluded;
	if (request->covered_type >= 0 && links_in_use())
		run.links_confirmed = record_type_name((RecordType) request->covered_type);
	link_run.run_id = record_run(&run, rows);
	log_phase_time(phase, "recording the run");

	link_run.server = server->servername;
	link_run.group = request->group;
	link_run.table = request->group == GROUP_STUDENTS ?
		&tables->students : &tables->users;
	link_run.unloaded = unloaded;
	link_run.role = GetUserNameFromId(GetUserId(), false);
	link_run.assign = request->dn != NULL;
	link_run.covered_type = request->covered_type;
	link_run.district = district;
	decide_links(&link_run, results);

	/*
	 * another uid_attr than the server's, or other options and settings
	 * than ldap_sync_changes' watermark holds for, give rows of their own;
	 * an ldap_assign's may be a district run's or not (it follows the link
	 * the assignment made; without one, it matches the record otherwise):
	 * the next ldap_sync_changes matches the record again
	 */
	run_memory_end(memory, results, link_run.run_id,
				   (request->uid_attr == NULL ||
					strcmp(request->uid_attr, server->uid_attr[request->group]) == 0) &&
				   (entry_id_attr == NULL ||
					run_has_watermark_options(server, request->group, tables,
											  entry_id_attr)),
				   request->dn != NULL);
	log_phase_time(phase, "remembering the records");

	write_links(&link_run, results);
	log_phase_time(phase, "writing the links");
}

/*
 * Suggestions for the exceptions of a run: the best of each is kept in the
 * history of a real run; with pssync.accept_variants, a record's may be its
 * match.  NULL when neither is wanted.
 */
static SuggestRun *
suggest_run_for(SyncRequest *request, PowerSchoolTables *tables,
				SuggestRun *suggest_run)
{
	memset(suggest_run, 0, sizeof(SuggestRun));
	suggest_run->tables = tables;
	suggest_run->keep_best = !request->dry_run && pssync_history &&
		history_keeps_suggestions();
	suggest_run->accept = pssync_accept_variants;
	return suggest_run->keep_best || suggest_run->accept ? suggest_run : NULL;
}

/*
 * One run, inside SPI: read the selected records, ask the directory about
 * each, check and write the changes, record the run.  A run of
 * ldap_sync_changes in full reads the directory whole (its entries' keys
 * are kept); dir is the connection to use, or NULL for one of the run's
 * own.
 */
static RunResult
execute_run(SyncRequest *request, PssyncServer *server,
			PowerSchoolTables *tables, PssyncDirectory *dir, Arena *arena)
{
	RunResult	result;
	const char *uid_attr;
	List	   *records;
	List	   *unloaded;
	List	   *results;
	MatchStrategy used = STRATEGY_SEARCH;
	DirectoryIndex *index = NULL;
	Arena	   *link_ids = NULL;
	RunMemory  *memory = NULL;
	SuggestRun	suggest_run;
	const char *entry_id_attr = NULL;
	int			excluded = 0;
	bool		own_dir = dir == NULL;
	TimestampTz started_at = GetCurrentTimestamp();
	instr_time	phase;

	INSTR_TIME_SET_CURRENT(phase);
	uid_attr = request->uid_attr ? request->uid_attr : server->uid_attr[request->group];

	/* whether it remembers what each record is, read with the record */
	if (!request->dry_run)
		memory = run_memory_begin(server, request->group, tables,
								  request->changes != NULL,
								  request->selection.kind == SELECT_ALL &&
								  !request->blank_only);
	records = load_records(request, tables, &request->selection, memory != NULL,
						   arena, &excluded);
	if (request->dn && records == NIL && excluded > 0)
		refuse_excluded_record(request->group, request->selection.dcid);
	/* the links' entry IDs apart, for matching to share or copy them */
	if (request->dn == NULL)
		link_ids = arena_create(arena_context(arena), "pssync links' entry IDs");
	unloaded = attach_links(server->servername, request->group, records,
							request->selection.kind == SELECT_ALL, arena,
							link_ids);
	log_phase_time(&phase, "loading the records");

	if (request->dn && records == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no %s with dcid " INT64_FORMAT " exists",
						request->group == GROUP_STUDENTS ? "student" : "user",
						request->selection.dcid),
				 errhint("A record_type of \"student\" looks in the students table, \"teacher\" and \"staff\" in the users table.")));

	if (own_dir)
		dir = directory_connect(server);
	if (request->dn)
		results = match_entry(server, dir, request->group, uid_attr,
							  (SyncRecord *) linitial(records), request->dn,
							  arena);
	else
		results = match_records_with(server, dir, request->group, uid_attr,
									 records, arena,
									 (MatchStrategy) pssync_strategy,
									 request->changes != NULL, &used, &index,
									 suggest_run_for(request, tables, &suggest_run),
									 link_ids);
	/*
	 * the permanent ID attribute, as a watermark's options name it (a full
	 * run of ldap_sync_changes stores the watermark it runs with; the rows
	 * of ldap_assign, a person's choice, are a record's as they are)
	 */
	if (memory && request->changes == NULL && request->dn == NULL)
		entry_id_attr = directory_entry_id_attr(dir);
	if (own_dir)
		directory_disconnect(dir);
	mark_linked_elsewhere(server->servername, request->group, results);
	log_phase_time(&phase, "matching");

	apply_changes(tables, request->group, results, list_length(records),
				  request->dry_run, request->dn == NULL, arena);
	result.rows = rows_in_order(results);
	result.changed = count_changed(results);
	log_phase_time(&phase, "applying the changes");

	if (!request->dry_run && index && directory_index_complete(index))
		note_full_read(server->servername, request->group,
					   directory_index_size(index));
	if (request->changes)
	{
		if (changes_full_read(request->changes, index))
			index = NULL;
		changes_scope_taken(request->changes, records);
	}
	/* the rows point to the entries' strings, in the rows' arena */
	if (index)
		directory_index_free(index);
	if (!request->dry_run)
		record_and_link(request, server, tables, uid_attr,
						request->dn ? NULL :
						(used == STRATEGY_SCAN ? "scan" : "search"),
						records, excluded, unloaded,
						request->selection.kind == SELECT_ALL,
						results, result.rows, memory, entry_id_attr,
						started_at, &phase);
	return result;
}

/*
 * Put the rows of records (loaded apart) in the order of the records.
 */
static List *
results_in_record_order(List *records, List *results)
{
	HASHCTL		ctl;
	HTAB	   *by_record;
	List	   *ordered = NIL;
	ListCell   *cell;
	typedef struct RecordRows
	{
		SyncRecord *record;
		List	   *rows;
	} RecordRows;

	ctl.keysize = sizeof(SyncRecord *);
	ctl.entrysize = sizeof(RecordRows);
	ctl.hcxt = CurrentMemoryContext;
	by_record = hash_create("pssync rows by record", Max(list_length(records), 16),
							&ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	foreach(cell, results)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);
		bool		found;
		RecordRows *entry = hash_search(by_record, &result->record, HASH_ENTER, &found);

		if (!found)
			entry->rows = NIL;
		entry->rows = lappend(entry->rows, result);
	}
	sort_records(records);
	foreach(cell, records)
	{
		SyncRecord *rec = (SyncRecord *) lfirst(cell);
		RecordRows *entry = hash_search(by_record, &rec, HASH_FIND, NULL);

		if (entry)
			ordered = list_concat(ordered, entry->rows);
	}
	hash_destroy(by_record);
	return ordered;
}

/*
 * A scope's incremental run of ldap_sync_changes: the records the changes
 * touch, then those they lead to, matched, checked and written together
 * as a district-wide run would; the rows of those whose rows changed are
 * returned.  NULL rows when the scope must run in full after all.
 */
static bool
execute_changes(SyncRequest *request, PssyncServer *server,
				PowerSchoolTables *tables, PssyncDirectory *dir, Arena *arena,
				RunResult *result)
{
	GroupChanges *gc = request->changes;
	RecordSelection selection;
	RunMemory  *memory;
	List	   *records;
	List	   *more_records;
	List	   *results;
	List	   *more_results;
	List	   *rows;
	int64	   *dcids;
	int			n;
	/*
	 * the excluded records of the scope, which detection passes over and
	 * counts; the loads' counts are not added (a record excluded or
	 * included between detection and a load, under READ COMMITTED, is
	 * counted as detection saw it)
	 */
	int			excluded = 0;
	int			loaded_excluded = 0;
	SuggestRun	suggest_run;
	SuggestRun *accepting;
	DirectoryIndex *index = NULL;
	bool		keep_suggestions;
	TimestampTz started_at = GetCurrentTimestamp();
	instr_time	phase;

	INSTR_TIME_SET_CURRENT(phase);
	dcids = changes_scope_begin(gc, request->kinds, &memory, &n, &excluded);
	if (dcids == NULL)
		return false;
	log_phase_time(&phase, "finding what changed in PowerSchool");

	memset(&selection, 0, sizeof(selection));
	selection.kind = SELECT_DCIDS;
	selection.dcids = dcids;
	selection.ndcids = n;
	/*
	 * Suggestions while matching only for the variants a district accepts;
	 * the best of each exception is kept for the rows returned, after.
	 */
	keep_suggestions = suggest_run_for(request, tables, &suggest_run) != NULL &&
		suggest_run.keep_best;
	suggest_run.keep_best = false;
	accepting = suggest_run.accept != 0 ? &suggest_run : NULL;

	records = n > 0 ? load_records(request, tables, &selection, memory != NULL,
								   arena, &loaded_excluded) : NIL;
	(void) attach_links(server->servername, request->group, records, false, arena,
						NULL);
	results = match_records_with(server, dir, request->group,
								 server->uid_attr[request->group], records,
								 arena, changes_match_strategy(n), false, NULL,
								 &index, accepting, NULL);
	/* a whole read of the group, checked by min_directory_ratio: its size */
	if (index && directory_index_complete(index) && !request->dry_run)
		note_full_read(server->servername, request->group,
					   directory_index_size(index));

	/* and the records they lead to */
	selection.dcids = changes_scope_more(gc, results, &n);
	selection.ndcids = n;
	more_records = n > 0 ? load_records(request, tables, &selection,
										memory != NULL, arena,
										&loaded_excluded) : NIL;
	(void) attach_links(server->servername, request->group, more_records, false,
						arena, NULL);
	more_results = match_records_with(server, dir, request->group,
									  server->uid_attr[request->group],
									  more_records, arena, STRATEGY_BATCH,
									  false, NULL, &index, accepting, NULL);
	records = list_concat(records, more_records);
	results = results_in_record_order(records, list_concat(results, more_results));
	mark_linked_elsewhere(server->servername, request->group, results);
	log_phase_time(&phase, "matching");

	apply_changes(tables, request->group, results, list_length(records),
				  request->dry_run, true, arena);
	rows = changes_scope_rows(gc, results);
	if (keep_suggestions)
		suggest_for_rows(server, dir, request->group,
						 server->uid_attr[request->group], tables, rows, index,
						 changes_directory_entries(gc));
	if (index)
		directory_index_free(index);
	result->rows = rows_in_order(rows);
	result->changed = count_changed(rows);
	log_phase_time(&phase, "applying the changes");

	if (!request->dry_run)
		record_and_link(request, server, tables, server->uid_attr[request->group],
						"changes", records, excluded,
						changes_gone_links(gc), true,
						results, result->rows, memory, NULL, started_at, &phase);
	return true;
}

static void
put_rows(ReturnSetInfo *rsinfo, List *rows, MemoryContext callcxt)
{
	MemoryContext row_cxt;
	ListCell   *cell;

	/* each row's datums are freed once the tuplestore has its copy */
	row_cxt = AllocSetContextCreate(callcxt, "pssync result row",
									ALLOCSET_SMALL_SIZES);
	foreach(cell, rows)
	{
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		put_result_row(rsinfo, (SyncResult *) lfirst(cell));
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
}

static void
run_sync(FunctionCallInfo fcinfo, SyncRequest *request)
{
	PinnedSnapshots outer_pins;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt;
	MemoryContext oldcxt;
	PssyncServer *server;
	PowerSchoolTables tables;
	RunResult	result;
	Arena	   *arena;
	instr_time	phase;
	int			nestlevel;

	InitMaterializedSRF(fcinfo, 0);
	INSTR_TIME_SET_CURRENT(phase);

	callcxt = AllocSetContextCreate(CurrentMemoryContext, "pssync sync",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(callcxt);
	arena = arena_create(callcxt, "pssync records and rows");

	/* Everything that can be checked is checked before the directory. */
	if (request->uid_attr)
		check_uid_attr_argument(request->uid_attr);
	if (!request->dry_run)
		PreventCommandIfReadOnly(psprintf("%s()", request->function));
	server = pssync_get_server();
	resolve_powerschool_tables(&tables, request->group,
							   server->id_attr[request->group] != NULL &&
							   request->dn == NULL);
	if (request->selection.kind == SELECT_RELATION)
		check_selection(request->selection.relation);
	if (!request->dry_run)
		check_update_privileges(&tables, request->group, request->kinds, NULL);

	statements_connect(&outer_pins);
	nestlevel = begin_statements();
	MemoryContextSwitchTo(callcxt);
	result = execute_run(request, server, &tables, NULL, arena);
	end_statements(nestlevel);
	statements_finish(&outer_pins);

	INSTR_TIME_SET_CURRENT(phase);
	put_rows(rsinfo, result.rows, callcxt);
	log_phase_time(&phase, "returning the rows");

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(callcxt);
}

static Oid
selection_argument(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("selection must not be NULL"),
				 errhint("Pass a table or view with a column dcid, such as 'students'.")));
	return PG_GETARG_OID(0);
}

static void
uid_attr_and_dry_run(FunctionCallInfo fcinfo, int first, SyncRequest *request)
{
	request->uid_attr = PG_ARGISNULL(first) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(first));
	if (PG_ARGISNULL(first + 1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dry_run must not be NULL")));
	request->dry_run = PG_GETARG_BOOL(first + 1);
}

/*
 * The group of a record type argument: students, or teachers and staff.
 */
static RecordGroup
record_type_group(text *type_text)
{
	char	   *type = text_to_cstring(type_text);

	if (strcmp(type, "student") == 0)
		return GROUP_STUDENTS;
	if (strcmp(type, "staff") == 0 || strcmp(type, "teacher") == 0)
		return GROUP_STAFF;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid record type \"%s\": valid record types are student, teacher and staff",
					type)));
	return GROUP_STUDENTS;		/* keep the compiler quiet */
}

/*
 * ldap_sync_students(selection regclass, uid_attr text, dry_run boolean)
 */
Datum
pssync_ldap_sync_students(PG_FUNCTION_ARGS)
{
	SyncRequest request;

	memset(&request, 0, sizeof(request));
	request.function = "ldap_sync_students";
	request.covered_type = -1;
	request.group = GROUP_STUDENTS;
	request.selection.kind = SELECT_RELATION;
	request.selection.relation = selection_argument(fcinfo);
	uid_attr_and_dry_run(fcinfo, 1, &request);
	run_sync(fcinfo, &request);
	return (Datum) 0;
}

/*
 * ldap_sync_staff(selection regclass, uid_attr text, dry_run boolean):
 * each selected user by its own kind, teacher or staff.
 */
Datum
pssync_ldap_sync_staff(PG_FUNCTION_ARGS)
{
	SyncRequest request;

	memset(&request, 0, sizeof(request));
	request.function = "ldap_sync_staff";
	request.covered_type = -1;
	request.group = GROUP_STAFF;
	request.kinds = USERS_ALL;
	request.selection.kind = SELECT_RELATION;
	request.selection.relation = selection_argument(fcinfo);
	uid_attr_and_dry_run(fcinfo, 1, &request);
	run_sync(fcinfo, &request);
	return (Datum) 0;
}

/*
 * ldap_sync_district(scope text, uid_attr text, dry_run boolean): the
 * district-wide choices of PowerSchool's page.
 */
Datum
pssync_ldap_sync_district(PG_FUNCTION_ARGS)
{
	static const struct
	{
		const char *name;
		RecordGroup group;
		UserKinds	kinds;
		bool		blank_only;
		int			covered_type;
	}			scopes[] = {
		{"students", GROUP_STUDENTS, USERS_ALL, false, RECORD_STUDENT},
		{"students_blank", GROUP_STUDENTS, USERS_ALL, true, -1},
		{"teachers", GROUP_STAFF, USERS_TEACHERS, false, RECORD_TEACHER},
		{"teachers_blank", GROUP_STAFF, USERS_TEACHERS, true, -1},
		{"staff", GROUP_STAFF, USERS_STAFF, false, RECORD_STAFF},
		{"staff_blank", GROUP_STAFF, USERS_STAFF, true, -1},
	};
	SyncRequest request;
	char	   *scope;
	size_t		i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("scope must not be NULL: valid scopes are %s",
						VALID_SCOPES)));
	scope = text_to_cstring(PG_GETARG_TEXT_PP(0));

	memset(&request, 0, sizeof(request));
	for (i = 0; i < lengthof(scopes); i++)
	{
		if (strcmp(scope, scopes[i].name) == 0)
			break;
	}
	if (i == lengthof(scopes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid scope \"%s\": valid scopes are %s",
						scope, VALID_SCOPES)));

	request.function = "ldap_sync_district";
	request.scope = scopes[i].name;
	request.group = scopes[i].group;
	request.kinds = scopes[i].kinds;
	request.blank_only = scopes[i].blank_only;
	request.covered_type = scopes[i].covered_type;
	request.selection.kind = SELECT_ALL;
	uid_attr_and_dry_run(fcinfo, 1, &request);
	run_sync(fcinfo, &request);
	return (Datum) 0;
}

/*
 * The district-wide scopes of ldap_sync_changes, in the order they run.
 */
static const struct
{
	const char *name;
	RecordGroup group;
	UserKinds	kinds;
	RecordType	type;
}			change_scopes[] = {
	{"students", GROUP_STUDENTS, USERS_ALL, RECORD_STUDENT},
	{"teachers", GROUP_STAFF, USERS_TEACHERS, RECORD_TEACHER},
	{"staff", GROUP_STAFF, USERS_STAFF, RECORD_STAFF},
};

#define VALID_CHANGE_SCOPES "students, teachers, staff and all"

/*
 * Is scope a valid scope of ldap_sync_changes (students, teachers, staff
 * or all)?
 */
bool
valid_change_scope(const char *scope)
{
	size_t		i;

	if (strcmp(scope, "all") == 0)
		return true;
	for (i = 0; i < lengthof(change_scopes); i++)
	{
		if (strcmp(scope, change_scopes[i].name) == 0)
			return true;
	}
	return false;
}

/*
 * sync_changes' runs, on a connection of their own to the directory: for
 * each group used, what changed since its watermark, and each of its
 * scopes in scope run on the records the changes touch, or in full.
 */
static List *
changes_of_groups(PssyncServer *server, PowerSchoolTables *tables,
				  const bool *in_scope, const bool *group_used, bool dry_run,
				  const char *function, Arena *arena, int *changed)
{
	PssyncDirectory *dir;
	List	   *rows = NIL;
	int			group;
	size_t		i;
	instr_time	phase;

	INSTR_TIME_SET_CURRENT(phase);
	dir = directory_connect(server);
	log_phase_time(&phase, "connecting to the directory");
	for (group = GROUP_STUDENTS; group <= GROUP_STAFF; group++)
	{
		GroupChanges *gc;

		if (!group_used[group])
			continue;
		gc = changes_begin(server, dir, (RecordGroup) group, &tables[group],
						   dry_run);
		for (i = 0; i < lengthof(change_scopes); i++)
		{
			SyncRequest request;
			RunResult	result;

			if (!in_scope[i] || change_scopes[i].group != (RecordGroup) group)
				continue;
			memset(&request, 0, sizeof(request));
			request.function = function;
			request.scope = change_scopes[i].name;
			request.group = change_scopes[i].group;
			request.kinds = change_scopes[i].kinds;
			request.covered_type = change_scopes[i].type;
			request.selection.kind = SELECT_ALL;
			request.dry_run = dry_run;
			request.changes = gc;

			if (changes_full_reason(gc) == NULL &&
				execute_changes(&request, server, &tables[group], dir, arena,
								&result))
			{
				rows = list_concat(rows, result.rows);
				*changed += result.changed;
				continue;
			}
			ereport(pssync_am_background_worker() ? LOG : NOTICE,
					(errmsg("ldap_sync_changes runs %s in full on server \"%s\": %s",
							request.scope, server->servername,
							changes_full_reason(gc))));
			result = execute_run(&request, server, &tables[group], dir, arena);
			rows = list_concat(rows, result.rows);
			*changed += result.changed;
		}
		changes_end(gc);
	}
	directory_disconnect(dir);
	return rows;
}

/*
 * changes_of_groups for a dry run, under snapshots pinned while it holds
 * the server's lock (pin_snapshots), which it gives back before it runs.
 */
static pg_noinline void
dry_changes_of_groups(PssyncServer *server, PowerSchoolTables *tables,
					  const bool *in_scope, const bool *group_used,
					  const char *function, Arena *arena, int *changed,
					  List **rows)
{
	PinnedSnapshots pinned;

	pin_snapshots(&pinned);
	PG_TRY();
	{
		unlock_server_state(server);
		*rows = changes_of_groups(server, tables, in_scope, group_used, true,
								  function, arena, changed);
	}
	PG_CATCH();
	{
		drop_pinned_snapshots(&pinned);
		PG_RE_THROW();
	}
	PG_END_TRY();
	unpin_snapshots(&pinned);
}

/*
 * What ldap_sync_changes and the background worker do: for each group the
 * scope covers, read what changed in the directory since the group's
 * watermark, run each of the group's scopes on the records the changes
 * touch (or in full, saying why in a NOTICE), and store the new watermark.
 * Returns the rows (students', then teachers', then staff's, each run's
 * matches then exceptions); *changed is how many records were updated.
 * function names the runs in the history.
 */
List *
sync_changes(const char *scope, bool dry_run, const char *function,
			 int *changed)
{
	PinnedSnapshots outer_pins;
	PssyncServer *server;
	PowerSchoolTables tables[2];
	bool		in_scope[lengthof(change_scopes)];
	bool		group_used[2] = {false, false};
	Arena	   *arena;
	List	   *rows = NIL;
	MemoryContext cxt = CurrentMemoryContext;
	int			group;
	int			nestlevel;
	size_t		i;
	instr_time	phase;

	if (!valid_change_scope(scope))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid scope \"%s\": valid scopes are %s",
						scope, VALID_CHANGE_SCOPES)));
	*changed = 0;
	arena = arena_create(CurrentMemoryContext, "pssync records and rows");

	/* Everything that can be checked is checked before the directory. */
	if (!dry_run)
		PreventCommandIfReadOnly(psprintf("%s()", function));
	server = pssync_get_server();
	for (i = 0; i < lengthof(change_scopes); i++)
	{
		in_scope[i] = strcmp(scope, "all") == 0 ||
			strcmp(scope, change_scopes[i].name) == 0;
		if (!in_scope[i])
			continue;
		group = change_scopes[i].group;
		if (!group_used[group])
			resolve_powerschool_tables(&tables[group], (RecordGroup) group,
									   server->id_attr[group] != NULL);
		group_used[group] = true;
		if (!dry_run)
			check_update_privileges(&tables[group], (RecordGroup) group,
									change_scopes[i].kinds, NULL);
	}

	statements_connect(&outer_pins);
	nestlevel = begin_statements();
	MemoryContextSwitchTo(cxt);
	INSTR_TIME_SET_CURRENT(phase);
	lock_server_state(server, dry_run);
	log_phase_time(&phase, "waiting for the server's lock");
	if (!dry_run)
		rows = changes_of_groups(server, tables, in_scope, group_used, false,
								 function, arena, changed);
	else
	{
		/*
		 * A dry run reads what was committed when it held the server's
		 * lock, and gives the lock back at once: real runs do not wait for
		 * it while it runs (a role that may only read could otherwise make
		 * one last, to hold them up).
		 */
		dry_changes_of_groups(server, tables, in_scope, group_used, function,
							  arena, changed, &rows);
	}
	end_statements(nestlevel);
	statements_finish(&outer_pins);
	MemoryContextSwitchTo(cxt);
	return rows;
}

/*
 * ldap_sync_changes(scope text, dry_run boolean): the rows of the records
 * that what changed since the previous run touches, on either side.
 */
Datum
pssync_ldap_sync_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt;
	MemoryContext oldcxt;
	List	   *rows;
	char	   *scope;
	int			changed;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("scope must not be NULL: valid scopes are %s",
						VALID_CHANGE_SCOPES)));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dry_run must not be NULL")));
	scope = text_to_cstring(PG_GETARG_TEXT_PP(0));

	callcxt = AllocSetContextCreate(CurrentMemoryContext, "pssync sync",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(callcxt);
	rows = sync_changes(scope, PG_GETARG_BOOL(1), "ldap_sync_changes", &changed);
	put_rows(rsinfo, rows, callcxt);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(callcxt);
	return (Datum) 0;
}

/*
 * ldap_assign(record_type text, dcid bigint, dn text, uid_attr text,
 * dry_run boolean): store the user ID of the entry a person chose for a
 * record, with the rules and checks of a sync, and recorded in the
 * history.
 */
Datum
pssync_ldap_assign(PG_FUNCTION_ARGS)
{
	SyncRequest request;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("record_type, dcid and dn must not be NULL")));

	memset(&request, 0, sizeof(request));
	request.function = "ldap_assign";
	request.covered_type = -1;
	request.group = record_type_group(PG_GETARG_TEXT_PP(0));
	request.kinds = USERS_ALL;
	request.selection.kind = SELECT_ONE;
	request.selection.dcid = PG_GETARG_INT64(1);
	request.dn = text_to_cstring(PG_GETARG_TEXT_PP(2));
	uid_attr_and_dry_run(fcinfo, 3, &request);
	run_sync(fcinfo, &request);
	return (Datum) 0;
}

/*
 * ldap_unlink(record_type text, dcid bigint): remove the record's link on
 * the server; true if it had one.  It takes what a real sync of the record
 * takes (USAGE on the server, UPDATE on its username columns), and is
 * recorded in the history.
 */
Datum
pssync_ldap_unlink(PG_FUNCTION_ARGS)
{
	PinnedSnapshots outer_pins;
	RecordGroup group;
	int64		dcid;
	PssyncServer *server;
	PowerSchoolTables tables;
	HistoryRun	run;
	char	   *dn;
	const char *type;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("record_type and dcid must not be NULL")));
	dcid = PG_GETARG_INT64(1);

	memset(&run, 0, sizeof(run));
	run.started_at = GetCurrentTimestamp();
	server = pssync_get_server();

	statements_connect(&outer_pins);
	group = one_record(PG_GETARG_TEXT_PP(0), dcid, &type, &tables, "ldap_unlink");
	mark_unlinked(server, group, dcid, type);
	dn = unlink_record(server->servername, group, dcid);
	run.function = "ldap_unlink";
	run.selection = psprintf("dcid " INT64_FORMAT, dcid);
	run.server = server->servername;
	run.uid_attr = server->uid_attr[group];
	run.powerschool_table = group == GROUP_STUDENTS ?
		tables.students.base_qualified_name : tables.users.base_qualified_name;
	run.records = dn ? 1 : 0;
	(void) record_run(&run, NIL);
	statements_finish(&outer_pins);
	PG_RETURN_BOOL(dn != NULL);
}

/*
 * The record of ldap_exclude, ldap_include or ldap_unlink: its group,
 * after checking that the caller has the UPDATE privileges a real sync of
 * it takes, and that it exists and the caller can see it (row security);
 * *type (when type is not NULL) is its type, "student", "teacher" or
 * "staff", or NULL when it is excluded.  Called inside SPI.
 */
static RecordGroup
one_record(text *type_text, int64 dcid, const char **type,
		   PowerSchoolTables *tables, const char *what)
{
	RecordGroup group = record_type_group(type_text);
	RecordSelection one;
	Arena	   *arena = arena_create(CurrentMemoryContext, "pssync exclusion");
	int			excluded;
	List	   *records;

	/*
	 * A user is one record whichever type names it, and a sync may update
	 * either of its usernames: both take UPDATE.
	 */
	resolve_powerschool_tables(tables, group, false);
	check_update_privileges(tables, group, USERS_ALL, what);

	memset(&one, 0, sizeof(one));
	one.kind = SELECT_ONE;
	one.dcid = dcid;
	records = group == GROUP_STUDENTS ?
		load_student_records(tables, &one, false, false, arena, &excluded) :
		load_user_records(tables, &one, USERS_ALL, false, false, arena,
						  &excluded);
	if (records == NIL && excluded == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no %s with dcid " INT64_FORMAT " exists",
						group == GROUP_STUDENTS ? "student" : "user", dcid),
				 errhint("A record_type of \"student\" looks in the students table, \"teacher\" and \"staff\" in the users table.")));
	if (type)
		*type = records == NIL ? NULL :
			record_type_name(((SyncRecord *) linitial(records))->type);
	return group;
}

/* The history's row of a change to the exclusions. */
static void
record_exclusion_change(const char *function, RecordGroup group, int64 dcid,
						PowerSchoolTables *tables, bool changed,
						const char *detail, TimestampTz started_at)
{
	HistoryRun	run;

	memset(&run, 0, sizeof(run));
	run.started_at = started_at;
	run.function = function;
	run.selection = psprintf("dcid " INT64_FORMAT, dcid);
	run.powerschool_table = group == GROUP_STUDENTS ?
		tables->students.base_qualified_name : tables->users.base_qualified_name;
	run.records = changed ? 1 : 0;
	run.detail = detail;
	(void) record_run(&run, NIL);
}

/*
 * ldap_exclude(record_type text, dcid bigint, reason text): make every sync
 * skip a record; true if it was not excluded yet (an exclusion already
 * there takes the new reason).  It takes the UPDATE privileges a real sync
 * of the record takes, and is recorded in the history.
 */
Datum
pssync_ldap_exclude(PG_FUNCTION_ARGS)
{
	PinnedSnapshots outer_pins;
	TimestampTz started_at = GetCurrentTimestamp();
	PowerSchoolTables tables;
	RecordGroup group;
	int64		dcid;
	char	   *reason;
	char	   *old_reason;
	bool		added;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("record_type and dcid must not be NULL")));
	reason = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (reason == NULL || search_name(reason) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an exclusion needs a reason"),
				 errhint("Say why syncs must leave the record alone: it is kept with the exclusion and in the history.")));
	dcid = PG_GETARG_INT64(1);

	statements_connect(&outer_pins);
	group = one_record(PG_GETARG_TEXT_PP(0), dcid, NULL, &tables, "managing the exclusions");
	added = exclude_record(group, text_to_cstring(PG_GETARG_TEXT_PP(0)), dcid,
						   reason, &old_reason);
	forget_record_state(group, dcid);
	record_exclusion_change("ldap_exclude", group, dcid, &tables, true,
							old_reason ? psprintf("%s (was: %s)", reason, old_reason) : reason,
							started_at);
	statements_finish(&outer_pins);
	PG_RETURN_BOOL(added);
}

/*
 * ldap_include(record_type text, dcid bigint): let syncs take an excluded
 * record again; true if it was excluded.  Privileges and history as for
 * ldap_exclude.
 */
Datum
pssync_ldap_include(PG_FUNCTION_ARGS)
{
	PinnedSnapshots outer_pins;
	TimestampTz started_at = GetCurrentTimestamp();
	PowerSchoolTables tables;
	RecordGroup group;
	int64		dcid;
	char	   *old_reason;
	bool		removed;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("record_type and dcid must not be NULL")));
	dcid = PG_GETARG_INT64(1);

	statements_connect(&outer_pins);
	group = one_record(PG_GETARG_TEXT_PP(0), dcid, NULL, &tables, "managing the exclusions");
	removed = include_record(group, dcid, &old_reason);
	if (removed)
		forget_record_state(group, dcid);
	record_exclusion_change("ldap_include", group, dcid, &tables, removed,
							old_reason, started_at);
	statements_finish(&outer_pins);
	PG_RETURN_BOOL(removed);
}

/*
 * ldap_user_id_attribute(record_type text): the attribute a sync of that
 * kind of record would use, so that a caller can show it and change it.
 */
Datum
pssync_ldap_user_id_attribute(PG_FUNCTION_ARGS)
{
	RecordGroup group = record_type_group(PG_GETARG_TEXT_PP(0));
	PssyncServer *server = pssync_get_server();

	PG_RETURN_TEXT_P(cstring_to_text(server->uid_attr[group]));
}

/* ldap_lookup: one row per entry found, in DN order */
typedef struct LookupRow
{
	char	   *texts[4];		/* dn, first name, last name, user ID */
} LookupRow;

static char *
lookup_value(DirectoryValues *values)
{
	StringInfoData buf;
	int			i;

	if (values->count == 0)
		return NULL;
	initStringInfo(&buf);
	for (i = 0; i < values->count; i++)
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
						 directory_text(values->values[i], values->lengths[i]));
	return buf.len > 0 ? buf.data : NULL;
}

static void
collect_lookup_row(void *arg, const char *dn, DirectoryValues *values)
{
	List	  **rows = (List **) arg;
	LookupRow  *row = palloc(sizeof(LookupRow));

	row->texts[0] = pstrdup(dn);
	row->texts[1] = lookup_value(&values[0]);
	row->texts[2] = lookup_value(&values[1]);
	row->texts[3] = lookup_value(&values[2]);
	*rows = lappend(*rows, row);
}

static int
compare_lookup_rows(const ListCell *a, const ListCell *b)
{
	return strcmp(((LookupRow *) lfirst(a))->texts[0],
				  ((LookupRow *) lfirst(b))->texts[0]);
}

static void
put_lookup_rows(ReturnSetInfo *rsinfo, List *rows)
{
	ListCell   *cell;

	list_sort(rows, compare_lookup_rows);
	foreach(cell, rows)
	{
		LookupRow  *row = (LookupRow *) lfirst(cell);
		Datum		values[4];
		bool		nulls[4];
		int			i;

		for (i = 0; i < 4; i++)
		{
			nulls[i] = row->texts[i] == NULL;
			values[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(row->texts[i]);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * ldap_lookup(last_name text, first_name text, record_type text): the
 * entries a person looks through by hand, searched under the group's base
 * DN with the server's filter, escaped and paged like every search, in DN
 * order.
 */
Datum
pssync_ldap_lookup(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt;
	MemoryContext oldcxt;
	PssyncServer *server;
	PssyncDirectory *dir;
	RecordGroup group;
	char	   *last;
	char	   *first;
	char	   *filter;
	List	   *rows = NIL;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("record_type must not be NULL: valid record types are student, teacher and staff")));
	group = record_type_group(PG_GETARG_TEXT_PP(2));
	last = PG_ARGISNULL(0) ? NULL : search_name(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	first = PG_ARGISNULL(1) ? NULL : search_name(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	if (last == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("last_name must not be empty")));

	callcxt = AllocSetContextCreate(CurrentMemoryContext, "pssync lookup",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(callcxt);

	server = pssync_get_server();
	{
		const char *attrs[] = {server->first_name_attr, server->last_name_attr,
		server->uid_attr[group], NULL};

		filter = directory_name_filter(server, first, last);

		dir = directory_connect(server);
		if (!directory_search(dir, server->base_dns[group], filter, attrs,
							  collect_lookup_row, &rows))
			ereport(NOTICE,
					(errmsg("LDAP server \"%s\" stopped the lookup at a size limit after %d entries",
							server->servername, list_length(rows))));
		directory_disconnect(dir);
		put_lookup_rows(rsinfo, rows);
	}

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(callcxt);
	return (Datum) 0;
}

/*
 * ldap_suggest(record_type text, dcid bigint, max_results integer): the
 * directory entries that could be a record, best first (suggest.c), with
 * their score and the reasons of it.  Asked of the directory with a few
 * escaped searches under the group's base DN, never a read of all of it.
 */
Datum
pssync_ldap_suggest(PG_FUNCTION_ARGS)
{
	PinnedSnapshots outer_pins;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt;
	MemoryContext oldcxt;
	RecordGroup group;
	RecordSelection selection;
	PssyncServer *server;
	PowerSchoolTables tables;
	PssyncDirectory *dir;
	Suggester  *s;
	SuggestionList list;
	SyncRecord *rec;
	List	   *records;
	Arena	   *arena;
	int			max_results;
	int			excluded = 0;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("record_type, dcid and max_results must not be NULL")));
	group = record_type_group(PG_GETARG_TEXT_PP(0));
	max_results = PG_GETARG_INT32(2);
	if (max_results < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_results must be at least 1")));
	if (max_results > MAX_SUGGEST_RESULTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_results must be at most %d", MAX_SUGGEST_RESULTS),
				 errhint("Lower max_results; the best candidates come first.")));

	callcxt = AllocSetContextCreate(CurrentMemoryContext, "pssync suggest",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(callcxt);
	arena = arena_create(callcxt, "pssync suggested record");

	server = pssync_get_server();
	resolve_powerschool_tables(&tables, group, server->id_attr[group] != NULL);
	memset(&selection, 0, sizeof(selection));
	selection.kind = SELECT_ONE;
	selection.dcid = PG_GETARG_INT64(1);

	statements_connect(&outer_pins);
	MemoryContextSwitchTo(callcxt);
	if (group == GROUP_STUDENTS)
		records = load_student_records(&tables, &selection, false, false, arena,
									   &excluded);
	else
		records = load_user_records(&tables, &selection, USERS_ALL, false, false,
									arena, &excluded);
	if (records == NIL && excluded > 0)
		refuse_excluded_record(group, selection.dcid);
	if (records == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no %s with dcid " INT64_FORMAT " exists",
						group == GROUP_STUDENTS ? "student" : "user",
						selection.dcid),
				 errhint("A record_type of \"student\" looks in the students table, \"teacher\" and \"staff\" in the users table.")));
	rec = (SyncRecord *) linitial(records);

	dir = directory_connect(server);
	s = suggester_create(server, dir, group, server->uid_attr[group],
						 links_in_use() ? directory_entry_id_attr(dir) : NULL,
						 NULL, &tables);
	suggest(s, &rec, 1, max_results, &list);
	if (suggester_cut_short(s) > 0)
		ereport(NOTICE,
				(errmsg_plural("LDAP server \"%s\" cut %d search short at a size limit",
							   "LDAP server \"%s\" cut %d searches short at a size limit",
							   suggester_cut_short(s), server->servername,
							   suggester_cut_short(s)),
				 errdetail("The suggestions may be incomplete.")));
	suggester_free(s);
	directory_disconnect(dir);
	statements_finish(&outer_pins);

	for (i = 0; i < list.n; i++)
	{
		Suggestion *sg = &list.items[i];
		Datum		values[7];
		bool		nulls[7];
		Datum	   *reasons = palloc(sizeof(Datum) * NUM_SUGGEST_REASONS);
		int			nreasons = 0;
		char	   *user_id = lookup_value(&sg->entry->uid);
		int			r;

		for (r = 0; r < NUM_SUGGEST_REASONS; r++)
		{
			if (sg->reasons & REASON_BIT(r))
				reasons[nreasons++] = CStringGetTextDatum(suggest_reason_name((SuggestReason) r));
		}
		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(i + 1);
		values[1] = CStringGetTextDatum(sg->entry->dn);
		nulls[2] = sg->first_name == NULL;
		values[2] = nulls[2] ? (Datum) 0 : CStringGetTextDatum(sg->first_name);
		nulls[3] = sg->last_name == NULL;
		values[3] = nulls[3] ? (Datum) 0 : CStringGetTextDatum(sg->last_name);
		nulls[4] = user_id == NULL;
		values[4] = nulls[4] ? (Datum) 0 : CStringGetTextDatum(user_id);
		values[5] = Float4GetDatum(sg->score / 1000.0f);
		values[6] = PointerGetDatum(construct_array(reasons, nreasons, TEXTOID, -1,
													false, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(callcxt);
	return (Datum) 0;
}
