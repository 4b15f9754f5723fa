/*-------------------------------------------------------------------------
 *
 * exclusions.c
 *		  The records every sync skips: pssync.exclusions.
 *
 * A superintendent's account managed by hand, a shared test student: some
 * records must never be changed by a sync.  Their rows in pssync.exclusions
 * (record_type, dcid, reason, excluded_by, excluded_at) make every sync
 * leave them out when it loads its records (records.c asks for the test
 * below), so that they are never read from the directory, never written
 * and never in the result rows; a run counts them.  ldap_assign refuses
 * them.  ldap_exclude and ldap_include (sync.c) change the list, as its
 * owner, the caller having shown the privileges a real sync of the record
 * takes.
 *
 * A user is one record whether it is taken as a teacher or as staff: its
 * exclusion is found under either type.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "pssync.h"

/* pssync.exclusions, or InvalidOid before ALTER EXTENSION pssync UPDATE */
static Oid
exclusions_relid(void)
{
	Oid			schema = get_namespace_oid("pssync", true);

	return OidIsValid(schema) ? get_relname_relid("exclusions", schema) : InvalidOid;
}

/* The record types of a group, as a SQL array literal. */
static const char *
group_types(RecordGroup group)
{
	return group == GROUP_STUDENTS ? "'{student}'" : "'{teacher,staff}'";
}

/*
 * A SQL expression, for a table aliased "t", that is true when the record
 * is excluded; "false" while the installed extension has no list.
 */
char *
exclusion_test(RecordGroup group)
{
	if (!OidIsValid(exclusions_relid()))
		return pstrdup("false");
	return psprintf("EXISTS (SELECT 1 FROM pssync.exclusions e"
					" WHERE e.dcid OPERATOR(pg_catalog.=) t.dcid"
					" AND e.record_type OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[]))",
					group_types(group));
}

/* What a row of the list says, read by exclusion_row(). */
typedef struct ExclusionRow
{
	bool		found;
	char	   *reason;
	char	   *excluded_by;
	char	   *excluded_at;
} ExclusionRow;

static void
exclusion_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	ExclusionRow *row = (ExclusionRow *) arg;

	row->found = true;
	row->reason = SPI_getvalue(tuple, desc, 1);
	row->excluded_by = SPI_getvalue(tuple, desc, 2);
	row->excluded_at = SPI_getvalue(tuple, desc, 3);
}

/* An exclusion another session made at the same time, taken over. */
static void
taken_over_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	ExclusionRow *row = (ExclusionRow *) arg;
	bool		isnull;

	if (DatumGetBool(SPI_getbinval(tuple, desc, 1, &isnull)))
		row->found = true;
}

/*
 * Refuse a record that is excluded (ldap_assign), saying why and by whom.
 * Called inside SPI.
 */
void
refuse_excluded_record(RecordGroup group, int64 dcid)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dcid)};
	ExclusionRow row;

	if (!OidIsValid(exclusions_relid()))
		return;
	memset(&row, 0, sizeof(row));
	for_each_row(psprintf("SELECT e.reason, e.excluded_by, e.excluded_at"
						  " FROM pssync.exclusions e"
						  " WHERE e.dcid OPERATOR(pg_catalog.=) $1"
						  " AND e.record_type OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[])",
						  group_types(group)),
				 1, types, values, false, exclusion_row, &row);
	if (row.found)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s " INT64_FORMAT " is excluded from syncs",
						group == GROUP_STUDENTS ? "student" : "user", dcid),
				 errdetail("Excluded by %s at %s: %s", row.excluded_by,
						   row.excluded_at, row.reason),
				 errhint("SELECT pssync.ldap_include('%s', " INT64_FORMAT "); lets syncs take it again.",
						 group == GROUP_STUDENTS ? "student" : "staff", dcid)));
}

/*
 * Run a statement on the list as its owner: the caller may read the list
 * but not write it.
 */
static void
as_list_owner(const char *sql, int nargs, Oid *types, Datum *values,
			  int expected, RowCallback callback, void *arg)
{
	Oid			save_userid;
	int			save_sec_context;
	uint64		i;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(relation_owner(exclusions_relid()),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	run_query(sql, nargs, types, values, false, expected);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	for (i = 0; callback && i < SPI_processed; i++)
		callback(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, arg);
}

static void
require_list(void)
{
	if (!OidIsValid(exclusions_relid()))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the installed version of pssync has no list of exclusions"),
				 errhint("ALTER EXTENSION pssync UPDATE;")));
}

/*
 * Exclude a record (ldap_exclude): true if it was not excluded yet.  An
 * exclusion already there takes the new reason.  *old_reason is the one
 * it had, or NULL.  Called inside SPI.
 */
bool
exclude_record(RecordGroup group, const char *record_type, int64 dcid,
			   const char *reason, char **old_reason)
{
	Oid			types[4] = {TEXTOID, INT8OID, TEXTOID, NAMEOID};
	Datum		values[4];
	ExclusionRow row;

	require_list();
	memset(&row, 0, sizeof(row));
	values[0] = CStringGetTextDatum(record_type);
	values[1] = Int64GetDatum(dcid);
	values[2] = CStringGetTextDatum(reason);
	values[3] = DirectFunctionCall1(namein,
									CStringGetDatum(GetUserNameFromId(GetUserId(), false)));

	/*
	 * What was there goes (a user is excluded under one type: the other
	 * type's row goes too), and the new row comes.  A session excluding the
	 * same record at the same time inserts first or waits for the other's
	 * row and takes it over (ON CONFLICT): then the record was excluded.
	 */
	as_list_owner(psprintf("DELETE FROM pssync.exclusions e"
						   " WHERE e.dcid OPERATOR(pg_catalog.=) $1"
						   " AND e.record_type OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[])"
						   " RETURNING e.reason, e.excluded_by, e.excluded_at",
						   group_types(group)),
				  1, &types[1], &values[1], SPI_OK_DELETE_RETURNING,
				  exclusion_row, &row);
	as_list_owner("INSERT INTO pssync.exclusions AS e"
				  " (record_type, dcid, reason, excluded_by, excluded_at)"
				  " VALUES ($1, $2, $3, $4, pg_catalog.now())"
				  " ON CONFLICT (record_type, dcid) DO UPDATE"
				  " SET reason = excluded.reason, excluded_by = excluded.excluded_by,"
				  " excluded_at = excluded.excluded_at"
				  " RETURNING e.xmax OPERATOR(pg_catalog.<>) '0'::pg_catalog.xid",
				  4, types, values, SPI_OK_INSERT_RETURNING, taken_over_row, &row);
	*old_reason = row.found ? row.reason : NULL;
	return !row.found;
}

/*
 * Let syncs take a record again (ldap_include): true if it was excluded;
 * *old_reason is why.  Called inside SPI.
 */
bool
include_record(RecordGroup group, int64 dcid, char **old_reason)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dcid)};
	ExclusionRow row;

	require_list();
	memset(&row, 0, sizeof(row));
	as_list_owner(psprintf("DELETE FROM pssync.exclusions e"
						   " WHERE e.dcid OPERATOR(pg_catalog.=) $1"
						   " AND e.record_type OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[])"
						   " RETURNING e.reason, e.excluded_by, e.excluded_at",
						   group_types(group)),
				  1, types, values, SPI_OK_DELETE_RETURNING, exclusion_row, &row);
	*old_reason = row.found ? row.reason : NULL;
	return row.found;
}
