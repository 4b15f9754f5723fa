/*-------------------------------------------------------------------------
 *
 * sync.c
 *		  The SQL-callable functions of pssync.
 *
 * A sync reads the selected records, asks the directory about each, checks
 * and writes the changes, and returns the result rows as PowerSchool's
 * results page shows them: all "match" rows, then all "exception" rows,
 * each section in the order of last name, first name and dcid.
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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "pssync.h"

PG_FUNCTION_INFO_V1(pssync_ldap_sync_students);
PG_FUNCTION_INFO_V1(pssync_ldap_sync_staff);
PG_FUNCTION_INFO_V1(pssync_ldap_sync_district);
PG_FUNCTION_INFO_V1(pssync_ldap_user_id_attribute);

#define NUM_RESULT_COLUMNS 11

#define VALID_SCOPES \
	"students, students_blank, teachers, teachers_blank, staff and staff_blank"

static const char *const status_names[] = {
	"unchanged",
	"updated",
	"would_update",
	"partial",
	"no_match",
	"ambiguous",
	"no_uid",
	"conflict",
	"invalid_uid"
};

static const char *const record_type_names[] = {
	"student",
	"teacher",
	"staff"
};

const char *
sync_status_name(SyncStatus status)
{
	return status_names[status];
}

const char *
record_type_name(RecordType type)
{
	return record_type_names[type];
}

/* What a call asks for. */
typedef struct SyncRequest
{
	RecordGroup group;
	bool		whole_table;	/* a district scope: no selection */
	Oid			selection;
	UserKinds	kinds;
	bool		blank_only;
	const char *uid_attr;		/* NULL: the server's */
	bool		dry_run;
} SyncRequest;

static Datum
candidates_array(SyncResult *result)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(result->ncandidates, 1));
	int			i;

	for (i = 0; i < result->ncandidates; i++)
		datums[i] = CStringGetTextDatum(result->candidates[i]);
	return PointerGetDatum(construct_array(datums, result->ncandidates, TEXTOID,
										   -1, false, TYPALIGN_INT));
}

static void
put_result_row(ReturnSetInfo *rsinfo, SyncResult *result)
{
	SyncRecord *rec = result->record;
	Datum		values[NUM_RESULT_COLUMNS];
	bool		nulls[NUM_RESULT_COLUMNS];
	int			check = result->check >= 0 ? result->check : 0;

	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(STATUS_IS_MATCH(result->status) ? "match" : "exception");
	values[1] = CStringGetTextDatum(sync_status_name(result->status));
	values[2] = CStringGetTextDatum(record_type_name(rec->type));
	values[3] = Int64GetDatum(rec->dcid);

#define SET_TEXT(i, s) \
	do { \
		if ((s) != NULL) \
			values[i] = CStringGetTextDatum(s); \
		else \
			nulls[i] = true; \
	} while (0)

	SET_TEXT(4, rec->first_name);
	SET_TEXT(5, rec->last_name);
	SET_TEXT(6, result->check >= 0 ?
			 username_column_name(rec->columns[result->check]) : NULL);
	SET_TEXT(7, rec->old_usernames[check]);
	SET_TEXT(8, result->new_username);
	SET_TEXT(9, result->dn);
	if (result->candidates)
		values[10] = candidates_array(result);
	else
		nulls[10] = true;

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

static void
run_sync(FunctionCallInfo fcinfo, SyncRequest *request)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt;
	MemoryContext oldcxt;
	PssyncServer *server;
	PowerSchoolTables tables;
	PssyncDirectory *dir;
	const char *uid_attr;
	List	   *records;
	List	   *results;
	ListCell   *cell;
	int			section;

	InitMaterializedSRF(fcinfo, 0);

	callcxt = AllocSetContextCreate(CurrentMemoryContext, "pssync sync",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(callcxt);

	/* Everything that can be checked is checked before the directory. */
	if (request->uid_attr)
		check_uid_attr_argument(request->uid_attr);
	server = pssync_get_server();
	uid_attr = request->uid_attr ? request->uid_attr : server->uid_attr[request->group];
	resolve_powerschool_tables(&tables, request->group);
	if (!request->whole_table)
		check_selection(request->selection);
	if (!request->dry_run)
		check_update_privileges(&tables, request->group);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(callcxt);

	if (request->group == GROUP_STUDENTS)
		records = load_student_records(&tables, request->whole_table,
									   request->selection,
									   request->blank_only);
	else
		records = load_user_records(&tables, request->whole_table,
									request->selection, request->kinds,
									request->blank_only);

	dir = directory_connect(server);
	results = match_records(server, dir, request->group, uid_attr, records);
	directory_disconnect(dir);

	apply_changes(&tables, request->group, results, request->dry_run);

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");

	/* match rows first, then exception rows, each in record order */
	for (section = 0; section < 2; section++)
	{
		foreach(cell, results)
		{
			SyncResult *result = (SyncResult *) lfirst(cell);

			if (STATUS_IS_MATCH(result->status) == (section == 0))
				put_result_row(rsinfo, result);
		}
	}

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
common_arguments(FunctionCallInfo fcinfo, SyncRequest *request)
{
	request->uid_attr = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dry_run must not be NULL")));
	request->dry_run = PG_GETARG_BOOL(2);
}

/*
 * ldap_sync_students(selection regclass, uid_attr text, dry_run boolean)
 */
Datum
pssync_ldap_sync_students(PG_FUNCTION_ARGS)
{
	SyncRequest request;

	memset(&request, 0, sizeof(request));
	request.group = GROUP_STUDENTS;
	request.selection = selection_argument(fcinfo);
	common_arguments(fcinfo, &request);
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
	request.group = GROUP_STAFF;
	request.kinds = USERS_ALL;
	request.selection = selection_argument(fcinfo);
	common_arguments(fcinfo, &request);
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
	}			scopes[] = {
		{"students", GROUP_STUDENTS, USERS_ALL, false},
		{"students_blank", GROUP_STUDENTS, USERS_ALL, true},
		{"teachers", GROUP_STAFF, USERS_TEACHERS, false},
		{"teachers_blank", GROUP_STAFF, USERS_TEACHERS, true},
		{"staff", GROUP_STAFF, USERS_STAFF, false},
		{"staff_blank", GROUP_STAFF, USERS_STAFF, true},
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

	request.group = scopes[i].group;
	request.kinds = scopes[i].kinds;
	request.blank_only = scopes[i].blank_only;
	request.whole_table = true;
	common_arguments(fcinfo, &request);
	run_sync(fcinfo, &request);
	return (Datum) 0;
}

/*
 * ldap_user_id_attribute(record_type text): the attribute a sync of that
 * kind of record would use, so that a caller can show it and change it.
 */
Datum
pssync_ldap_user_id_attribute(PG_FUNCTION_ARGS)
{
	char	   *type = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PssyncServer *server;
	RecordGroup group;

	if (strcmp(type, "student") == 0)
		group = GROUP_STUDENTS;
	else if (strcmp(type, "staff") == 0 || strcmp(type, "teacher") == 0)
		group = GROUP_STAFF;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid record type \"%s\": valid record types are student, teacher and staff",
						type)));

	server = pssync_get_server();
	PG_RETURN_TEXT_P(cstring_to_text(server->uid_attr[group]));
}
