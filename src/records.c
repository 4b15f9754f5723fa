/*-------------------------------------------------------------------------
 *
 * records.c
 *		  PowerSchool's tables, and the records a sync selects from them.
 *
 * pssync does not own PowerSchool's tables: it finds them where they are,
 * through the caller's search_path or the pssync.*_table settings, once at
 * the start of a call.  From then on every statement names them by schema
 * and uses only pg_catalog's operators, so that nothing in the caller's
 * schemas can stand in for them.  The statements run through SPI as the
 * calling role, so its privileges and row-level security apply.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parsetree.h"
#include "parser/scansup.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/varlena.h"

#include "pssync.h"

static const char *const username_columns[NUM_USERNAME_COLUMNS] = {
	"student_web_id",
	"teacherloginid",
	"loginid"
};

const char *
username_column_name(UsernameColumn column)
{
	return username_columns[column];
}

/*
 * Is a username "blank": NULL, empty, or only white space?
 */
static bool
is_blank(const char *s)
{
	if (s == NULL)
		return true;
	for (; *s; s++)
	{
		if (!scanner_isspace(*s))
			return false;
	}
	return true;
}

static void
require_column(PowerSchoolTable *table, const char *column, const char *setting)
{
	if (get_attnum(table->relid, column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of PowerSchool table \"%s\" does not exist",
						column, table->display_name),
				 errhint("Point %s at PowerSchool's table.", setting)));
}

/*
 * Refuse a relation the user may not read before it is locked, as LOCK
 * TABLE does: a role cannot hold a lock, for the rest of its transaction,
 * on a table it cannot see.  SELECT on any of its columns will do (a sync
 * reads only a few).
 */
static void
require_read_privilege(Oid relid)
{
	Oid			user = GetUserId();
	const char *kind;

	if (pg_class_aclcheck(relid, user, ACL_SELECT) == ACLCHECK_OK ||
		pg_attribute_aclcheck_all(relid, user, ACL_SELECT, ACLMASK_ANY) == ACLCHECK_OK)
		return;
	switch (get_rel_relkind(relid))
	{
		case RELKIND_VIEW:
			kind = gettext_noop("permission denied for view %s");
			break;
		case RELKIND_MATVIEW:
			kind = gettext_noop("permission denied for materialized view %s");
			break;
		case RELKIND_FOREIGN_TABLE:
			kind = gettext_noop("permission denied for foreign table %s");
			break;
		default:
			kind = gettext_noop("permission denied for table %s");
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg(kind, relation_display_name(relid)),
			 errdetail("A sync reads it."),
			 errhint("Grant SELECT on it, or on the columns the sync reads.")));
}

static void
check_read_privilege_before_lock(const RangeVar *relation pg_attribute_unused(),
								 Oid relid, Oid old_relid pg_attribute_unused(),
								 void *arg pg_attribute_unused())
{
	if (OidIsValid(relid))
		require_read_privilege(relid);
}

/*
 * A view as a PowerSchool table ("active_students": the enrolled rows of
 * students): it must be automatically updatable, so that updates go
 * through it and its WITH CHECK OPTION and the base table's row security
 * apply; and the columns a sync uses must be columns of its base table,
 * where conflicts are looked for.  A view of a view is followed down to
 * the table.
 */
static void
resolve_view(PowerSchoolTable *table, const char *setting)
{
	Oid			relid = table->relid;
	List	   *names = NIL;
	const char *const all_columns[] = {
		"dcid", "student_web_id", "loginid", "teacherloginid", NULL
	};
	const char *const *c;

	for (c = all_columns; *c; c++)
	{
		if (get_attnum(relid, *c) != InvalidAttrNumber)
		{
			table->view_columns = lappend(table->view_columns, pstrdup(*c));
			names = lappend(names, pstrdup(*c));
		}
	}

	while (get_rel_relkind(relid) == RELKIND_VIEW)
	{
		Relation	rel = relation_open(relid, AccessShareLock);
		Query	   *query = get_view_query(rel);
		const char *why = view_query_is_auto_updatable(query, false);
		RangeTblRef *rtr;
		RangeTblEntry *rte;
		ListCell   *cell;

		if (why)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("PowerSchool table \"%s\" is a view that is not automatically updatable",
							table->display_name),
					 errdetail_internal("%s", _(why)),
					 errhint("Point %s at the table, or at a view that selects some of its rows (WHERE enroll_status = 0, say).",
							 setting)));
		rtr = linitial_node(RangeTblRef, query->jointree->fromlist);
		rte = rt_fetch(rtr->rtindex, query->rtable);
		foreach(cell, names)
		{
			const char *name = (const char *) lfirst(cell);
			TargetEntry *tle = NULL;
			ListCell   *t;
			Var		   *var;

			foreach(t, query->targetList)
			{
				TargetEntry *candidate = lfirst_node(TargetEntry, t);

				if (!candidate->resjunk && candidate->resname &&
					strcmp(candidate->resname, name) == 0)
					tle = candidate;
			}
			var = tle && IsA(tle->expr, Var) ? (Var *) tle->expr : NULL;
			if (var == NULL || var->varno != rtr->rtindex || var->varattno <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_WRONG_OBJECT_TYPE),
						 errmsg("column \"%s\" of view \"%s\" is not a column of its base table",
								name, relation_display_name(relid)),
						 errdetail("Conflicts are looked for in the base table's column, and updates go to it."),
						 errhint("A view as %s must show the table's dcid and username columns as they are.",
								 setting)));
			lfirst(cell) = get_attname(rte->relid, var->varattno, false);
		}
		relation_close(rel, AccessShareLock);
		relid = rte->relid;
	}
	table->base_relid = relid;
	table->base_qualified_name = qualified_relation_name(relid);
	table->base_columns = names;
}

/*
 * The name in the base table of a column the sync uses (the same name for
 * a table).
 */
const char *
base_column_name(PowerSchoolTable *table, const char *column)
{
	ListCell   *v;
	ListCell   *b;

	forboth(v, table->view_columns, b, table->base_columns)
	{
		if (strcmp((const char *) lfirst(v), column) == 0)
			return (const char *) lfirst(b);
	}
	return column;
}

static void
resolve_table(PowerSchoolTable *table, const char *setting, const char *value,
			  const char *const *columns)
{
	List	   *names;
	Oid			relid;

	names = pssync_string_to_qualified_name_list(value);
	relid = RangeVarGetRelidExtended(makeRangeVarFromNameList(names), AccessShareLock,
									 RVR_MISSING_OK, check_read_privilege_before_lock,
									 NULL);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("PowerSchool table \"%s\" does not exist", value),
				 errhint("Set %s to the table's name, schema-qualified if its schema is not on search_path.",
						 setting)));
	table->relid = relid;
	table->qualified_name = qualified_relation_name(relid);
	table->display_name = relation_display_name(relid);
	table->base_relid = relid;
	table->base_qualified_name = table->qualified_name;
	table->view_columns = table->base_columns = NIL;
	for (; *columns; columns++)
		require_column(table, *columns, setting);
	if (get_rel_relkind(relid) == RELKIND_VIEW)
		resolve_view(table, setting);
}

/*
 * Find the tables a sync of the group works on.
 */
void
resolve_powerschool_tables(PowerSchoolTables *tables, RecordGroup group,
						   bool with_id)
{
	static const char *const student_columns[] = {
		"dcid", "first_name", "last_name", "student_web_id", NULL
	};
	static const char *const user_columns[] = {
		"dcid", "first_name", "last_name", "loginid", "teacherloginid",
		"psaccess", NULL
	};
	static const char *const schoolstaff_columns[] = {
		"users_dcid", "staffstatus", "status", NULL
	};

	memset(tables, 0, sizeof(PowerSchoolTables));
	if (group == GROUP_STUDENTS)
	{
		resolve_table(&tables->students, "pssync.students_table",
					  pssync_students_table, student_columns);
		if (with_id)
		{
			tables->id_column = pssync_student_id_column;
			require_column(&tables->students, tables->id_column,
						   "pssync.student_id_column");
		}
		if (pssync_student_preferred_name_column &&
			pssync_student_preferred_name_column[0] != '\0')
		{
			tables->preferred_column = pssync_student_preferred_name_column;
			require_column(&tables->students, tables->preferred_column,
						   "pssync.student_preferred_name_column");
		}
	}
	else
	{
		resolve_table(&tables->users, "pssync.users_table",
					  pssync_users_table, user_columns);
		resolve_table(&tables->schoolstaff, "pssync.schoolstaff_table",
					  pssync_schoolstaff_table, schoolstaff_columns);
		if (with_id)
		{
			tables->id_column = pssync_staff_id_column;
			require_column(&tables->users, tables->id_column,
						   "pssync.staff_id_column");
		}
		if (pssync_staff_preferred_name_column &&
			pssync_staff_preferred_name_column[0] != '\0')
		{
			tables->preferred_column = pssync_staff_preferred_name_column;
			require_column(&tables->users, tables->preferred_column,
						   "pssync.staff_preferred_name_column");
		}
	}
}

/*
 * A selection is any relation with a column dcid of an integer type; the
 * records processed are those whose dcid is in it.
 */
void
check_selection(Oid selection)
{
	char		relkind;
	AttrNumber	attnum;
	Oid			type;

	/*
	 * Locked as the PowerSchool tables are, until the end of the
	 * transaction, so that what is checked here is what is read: the
	 * statements name it again later; and not before the user's privilege
	 * to read it is checked.
	 */
	if (get_rel_relkind(selection) == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", selection)));
	require_read_privilege(selection);
	LockRelationOid(selection, AccessShareLock);
	relkind = get_rel_relkind(selection);
	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", selection)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_VIEW && relkind != RELKIND_MATVIEW &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("selection \"%s\" is not a table, view or materialized view",
						relation_display_name(selection))));

	attnum = get_attnum(selection, "dcid");
	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("selection \"%s\" has no column \"dcid\"",
						relation_display_name(selection)),
				 errhint("A selection is a table or view with a column dcid that holds the dcid of each record to synchronize.")));

	type = get_atttype(selection, attnum);
	if (type != INT2OID && type != INT4OID && type != INT8OID &&
		type != NUMERICOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"dcid\" of selection \"%s\" has type %s",
						relation_display_name(selection), format_type_be(type)),
				 errhint("dcid must be of an integer type, as PowerSchool's dcid columns are.")));
}

/*
 * What a selection is called in the run history.
 */
char *
selection_name(RecordSelection *selection)
{
	switch (selection->kind)
	{
		case SELECT_RELATION:
			return relation_display_name(selection->relation);
		case SELECT_ONE:
			return psprintf("dcid " INT64_FORMAT, selection->dcid);
		case SELECT_ALL:
		case SELECT_DCIDS:
			break;
	}
	return NULL;
}

/*
 * The WHERE clause that restricts a table aliased "t" to the selection.
 */
static void
append_selection(StringInfo sql, RecordSelection *selection)
{
	appendStringInfoString(sql, " WHERE t.dcid IS NOT NULL");
	if (selection->kind == SELECT_RELATION)
		appendStringInfo(sql,
						 " AND t.dcid OPERATOR(pg_catalog.=) ANY (SELECT sel.dcid FROM %s sel)",
						 qualified_relation_name(selection->relation));
	else if (selection->kind == SELECT_ONE)
		appendStringInfo(sql, " AND t.dcid OPERATOR(pg_catalog.=) " INT64_FORMAT "::pg_catalog.int8",
						 selection->dcid);
	else if (selection->kind == SELECT_DCIDS)
	{
		int			i;

		appendStringInfoString(sql, " AND t.dcid OPERATOR(pg_catalog.=) ANY ('{");
		for (i = 0; i < selection->ndcids; i++)
			appendStringInfo(sql, "%s" INT64_FORMAT, i > 0 ? "," : "",
							 selection->dcids[i]);
		appendStringInfoString(sql, "}'::pg_catalog.int8[])");
	}
}

/*
 * The ID column and the preferred first name's (2.1), when they are read,
 * as the query's last two columns.
 */
static void
append_id_column(StringInfo sql, PowerSchoolTables *tables)
{
	if (tables->id_column)
		appendStringInfo(sql, ", t.%s::pg_catalog.text",
						 quote_identifier(tables->id_column));
	else
		appendStringInfoString(sql, ", NULL::pg_catalog.text");
	if (tables->preferred_column)
		appendStringInfo(sql, ", t.%s::pg_catalog.text",
						 quote_identifier(tables->preferred_column));
	else
		appendStringInfoString(sql, ", NULL::pg_catalog.text");
}

/*
 * The order of the records, and of the result rows: last name, first name
 * (in the database's default collation, NULL last) and dcid.
 * sort_records() puts records in the same order in memory.
 */
static void
append_order(StringInfo sql)
{
	appendStringInfoString(sql,
						   " ORDER BY t.last_name::pg_catalog.text COLLATE pg_catalog.\"default\","
						   " t.first_name::pg_catalog.text COLLATE pg_catalog.\"default\","
						   " t.dcid");
}

/* What the row callbacks of the loads build. */
typedef struct LoadState
{
	Arena	   *arena;
	List	   *records;
	UserKinds	kinds;
	bool		blank_only;
	int			fingerprint;	/* the column of fingerprint_sql(), or 0 */
	int			excluded;		/* records of the scope left out */
} LoadState;

/*
 * The fingerprint a real run remembers a record by, read with the record
 * itself, so that what is remembered is what was matched.
 */
static void
read_fingerprint(LoadState *state, SyncRecord *rec, HeapTuple tuple,
				 TupleDesc desc)
{
	bool		isnull;

	if (state->fingerprint == 0)
		return;
	rec->fingerprint = DatumGetInt64(SPI_getbinval(tuple, desc,
												   state->fingerprint, &isnull));
	rec->has_fingerprint = !isnull;
}

/* The selection and order of a load, and the fingerprint if it is wanted. */
static void
finish_load_sql(StringInfo sql, PowerSchoolTables *tables, RecordGroup group,
				RecordSelection *selection, bool fingerprints, LoadState *state,
				int columns)
{
	if (fingerprints)
	{
		appendStringInfo(sql, ", %s", fingerprint_sql(tables, group));
		state->fingerprint = columns + 1;
	}
	appendStringInfo(sql, " FROM %s t", group == GROUP_STUDENTS ?
					 tables->students.qualified_name : tables->users.qualified_name);
	append_selection(sql, selection);
	append_order(sql);
}

/*
 * The students in the selection (or all of them), in the order of the
 * result rows.
 */
static void
student_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	LoadState  *state = (LoadState *) arg;
	SyncRecord *rec = arena_alloc0(state->arena, sizeof(SyncRecord));
	bool		isnull;

	rec->type = RECORD_STUDENT;
	rec->dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	rec->first_name = row_text(tuple, desc, 2, state->arena);
	rec->last_name = row_text(tuple, desc, 3, state->arena);
	rec->nchecks = 1;
	rec->columns[0] = COLUMN_STUDENT_WEB_ID;
	rec->old_usernames[0] = row_text(tuple, desc, 4, state->arena);
	rec->id = row_text(tuple, desc, 5, state->arena);
	rec->preferred_name = row_text(tuple, desc, 6, state->arena);
	if (state->blank_only && !is_blank(rec->old_usernames[0]))
		return;
	read_fingerprint(state, rec, tuple, desc);
	if (DatumGetBool(SPI_getbinval(tuple, desc, 7, &isnull)))
	{
		state->excluded++;		/* in the scope, and skipped */
		return;
	}
	state->records = lappend(state->records, rec);
}

List *
load_student_records(PowerSchoolTables *tables, RecordSelection *selection,
					 bool blank_only, bool fingerprints, Arena *arena,
					 int *excluded)
{
	StringInfoData sql;
	LoadState	state;

	memset(&state, 0, sizeof(state));
	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "SELECT t.dcid::pg_catalog.int8, t.first_name::pg_catalog.text,"
						   " t.last_name::pg_catalog.text, t.student_web_id::pg_catalog.text");
	append_id_column(&sql, tables);
	appendStringInfo(&sql, ", %s", exclusion_test(GROUP_STUDENTS));
	finish_load_sql(&sql, tables, GROUP_STUDENTS, selection, fingerprints,
					&state, 7);

	state.arena = arena;
	state.blank_only = blank_only;
	for_each_row(sql.data, 0, NULL, NULL, false, student_row, &state);
	*excluded = state.excluded;
	return state.records;
}

/*
 * The users in the selection, each a teacher or staff.  A teacher has a
 * current (status 1) schoolstaff row with staffstatus 1 (Teacher); its
 * Teacher Username is checked, and its Admin Username too where it has
 * access to the admin portion (psaccess 1).  Every other user is staff,
 * with its Admin Username checked.
 *
 * With blank_only, a user is kept when any username checked for it is
 * blank; all its checks run then.
 */
static void
user_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	LoadState  *state = (LoadState *) arg;
	SyncRecord *rec = arena_alloc0(state->arena, sizeof(SyncRecord));
	bool		isnull;
	bool		admin;
	bool		teacher;
	bool		blank = false;
	int			c;

	rec->dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	admin = DatumGetBool(SPI_getbinval(tuple, desc, 6, &isnull));
	teacher = DatumGetBool(SPI_getbinval(tuple, desc, 7, &isnull));
	if ((teacher && state->kinds == USERS_STAFF) ||
		(!teacher && state->kinds == USERS_TEACHERS))
		return;
	rec->first_name = row_text(tuple, desc, 2, state->arena);
	rec->last_name = row_text(tuple, desc, 3, state->arena);
	rec->id = row_text(tuple, desc, 8, state->arena);
	rec->preferred_name = row_text(tuple, desc, 9, state->arena);
	if (teacher)
	{
		rec->type = RECORD_TEACHER;
		rec->columns[rec->nchecks] = COLUMN_TEACHERLOGINID;
		rec->old_usernames[rec->nchecks++] = row_text(tuple, desc, 5, state->arena);
		if (admin)
		{
			rec->columns[rec->nchecks] = COLUMN_LOGINID;
			rec->old_usernames[rec->nchecks++] = row_text(tuple, desc, 4, state->arena);
		}
		else if (state->fingerprint)
			rec->unchecked_username = row_text(tuple, desc, 4, state->arena);
	}
	else
	{
		rec->type = RECORD_STAFF;
		rec->columns[rec->nchecks] = COLUMN_LOGINID;
		rec->old_usernames[rec->nchecks++] = row_text(tuple, desc, 4, state->arena);
		if (state->fingerprint)
			rec->unchecked_username = row_text(tuple, desc, 5, state->arena);
	}

	for (c = 0; c < rec->nchecks; c++)
		blank |= is_blank(rec->old_usernames[c]);
	if (state->blank_only && !blank)
		return;
	if (DatumGetBool(SPI_getbinval(tuple, desc, 10, &isnull)))
	{
		state->excluded++;		/* in the scope, and skipped */
		return;
	}
	read_fingerprint(state, rec, tuple, desc);
	state->records = lappend(state->records, rec);
}

List *
load_user_records(PowerSchoolTables *tables, RecordSelection *selection,
				  UserKinds kinds, bool blank_only, bool fingerprints,
				  Arena *arena, int *excluded)
{
	StringInfoData sql;
	LoadState	state;

	memset(&state, 0, sizeof(state));
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT t.dcid::pg_catalog.int8, t.first_name::pg_catalog.text,"
					 " t.last_name::pg_catalog.text, t.loginid::pg_catalog.text,"
					 " t.teacherloginid::pg_catalog.text,"
					 " COALESCE(t.psaccess::pg_catalog.int4 OPERATOR(pg_catalog.=) 1, false),"
					 " EXISTS (SELECT 1 FROM %s ss"
					 " WHERE ss.users_dcid OPERATOR(pg_catalog.=) t.dcid"
					 " AND ss.status::pg_catalog.int4 OPERATOR(pg_catalog.=) 1"
					 " AND ss.staffstatus::pg_catalog.int4 OPERATOR(pg_catalog.=) 1)",
					 tables->schoolstaff.qualified_name);
	append_id_column(&sql, tables);
	appendStringInfo(&sql, ", %s", exclusion_test(GROUP_STAFF));
	finish_load_sql(&sql, tables, GROUP_STAFF, selection, fingerprints,
					&state, 10);

	state.arena = arena;
	state.kinds = kinds;
	state.blank_only = blank_only;
	for_each_row(sql.data, 0, NULL, NULL, false, user_row, &state);
	*excluded = state.excluded;
	return state.records;
}

/* One name against another, as ORDER BY ... COLLATE "default" compares them. */
static int
compare_names(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == NULL) - (b == NULL);	/* NULL last */
	return varstr_cmp(a, strlen(a), b, strlen(b), DEFAULT_COLLATION_OID);
}

static int
compare_records(const ListCell *a, const ListCell *b)
{
	SyncRecord *x = (SyncRecord *) lfirst(a);
	SyncRecord *y = (SyncRecord *) lfirst(b);
	int			cmp = compare_names(x->last_name, y->last_name);

	if (cmp == 0)
		cmp = compare_names(x->first_name, y->first_name);
	if (cmp == 0)
		cmp = (x->dcid > y->dcid) - (x->dcid < y->dcid);
	return cmp;
}

/*
 * Records loaded apart (ldap_sync_changes loads some, then the ones they
 * lead to) in the order one load of them all would give.
 */
void
sort_records(List *records)
{
	list_sort(records, compare_records);
}

/*
 * What ldap_sync_changes compares from one run to the next, as SQL over
 * the group's table aliased "t": a fingerprint of the row's names, ID and
 * what makes a user a teacher (a bigint), and its usernames (a text[], in
 * the order of username_columns).
 */
char *
fingerprint_sql(PowerSchoolTables *tables, RecordGroup group)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "pg_catalog.hashtextextended(ROW(t.first_name::pg_catalog.text,"
						   " t.last_name::pg_catalog.text");
	if (tables->id_column)
		appendStringInfo(&sql, ", t.%s::pg_catalog.text",
						 quote_identifier(tables->id_column));
	if (tables->preferred_column)
		appendStringInfo(&sql, ", t.%s::pg_catalog.text",
						 quote_identifier(tables->preferred_column));
	if (group == GROUP_STAFF)
		appendStringInfo(&sql,
						 ", COALESCE(t.psaccess::pg_catalog.int4 OPERATOR(pg_catalog.=) 1, false),"
						 " EXISTS (SELECT 1 FROM %s ss"
						 " WHERE ss.users_dcid OPERATOR(pg_catalog.=) t.dcid"
						 " AND ss.status::pg_catalog.int4 OPERATOR(pg_catalog.=) 1"
						 " AND ss.staffstatus::pg_catalog.int4 OPERATOR(pg_catalog.=) 1)",
						 tables->schoolstaff.qualified_name);
	appendStringInfoString(&sql, ")::pg_catalog.text, 0)");
	return sql.data;
}

char *
usernames_sql(RecordGroup group)
{
	if (group == GROUP_STUDENTS)
		return pstrdup("ARRAY[t.student_web_id::pg_catalog.text]");
	return pstrdup("ARRAY[t.teacherloginid::pg_catalog.text, t.loginid::pg_catalog.text]");
}
