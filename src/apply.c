/*-------------------------------------------------------------------------
 *
 * apply.c
 *		  Checking the changes the directory asks for, and writing them.
 *
 * A change (a username that differs from the directory's value) is
 * written only when the value can be stored and no other record holds it:
 *
 *	- a value longer than the column allows becomes "invalid_uid" (one
 *	  that is empty or holds white space, control or invisible characters
 *	  became it when it was matched);
 *	- a value already held in the same column by another record of the
 *	  table (inside the selection or not, compared exactly), or wanted by
 *	  more than one record of this sync, becomes "conflict": no duplicate
 *	  logins, and no unique violation that would abort the run.
 *
 * The rest is written with one set-based UPDATE per column, in the
 * caller's transaction.  Before that, syncs of the same table are
 * serialized with a lock of the table held to the end of the transaction
 * (lock_table_for_sync), and the rows to change are locked in dcid order
 * and read again, so that two sessions syncing at once neither deadlock
 * nor work from stale values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "pssync.h"

typedef struct PendingChange
{
	SyncResult *result;
	int64		dcid;
	const char *value;
} PendingChange;

static UsernameColumn
result_column(SyncResult *result)
{
	return result->record->columns[result->check];
}

PowerSchoolTable *
column_table(PowerSchoolTables *tables, UsernameColumn column)
{
	return column == COLUMN_STUDENT_WEB_ID ? &tables->students : &tables->users;
}

/*
 * Without UPDATE on the username columns a sync writes, it fails before it
 * asks the directory anything.  Students: student_web_id; staff: loginid;
 * teachers (or users of either kind): teacherloginid and loginid.
 */
void
check_update_privileges(PowerSchoolTables *tables, RecordGroup group,
						UserKinds kinds, const char *function)
{
	UsernameColumn first = COLUMN_STUDENT_WEB_ID;
	UsernameColumn last = COLUMN_STUDENT_WEB_ID;
	UsernameColumn column;

	if (group == GROUP_STAFF)
	{
		first = kinds == USERS_STAFF ? COLUMN_LOGINID : COLUMN_TEACHERLOGINID;
		last = COLUMN_LOGINID;
	}
	for (column = first; column <= last; column++)
	{
		PowerSchoolTable *table = column_table(tables, column);
		AttrNumber	attnum = get_attnum(table->relid, username_column_name(column));

		if (pg_class_aclcheck(table->relid, GetUserId(), ACL_UPDATE) != ACLCHECK_OK &&
			pg_attribute_aclcheck(table->relid, attnum, GetUserId(), ACL_UPDATE) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for table %s", table->display_name),
					 function ?
					 errdetail("%s takes what a sync that is not a dry run takes: UPDATE on column \"%s\".",
							   function, username_column_name(column)) :
					 errdetail("A sync that is not a dry run updates column \"%s\".",
							   username_column_name(column)),
					 function ?
					 errhint("Grant UPDATE on the column.") :
					 errhint("Grant UPDATE on the column, or run with dry_run => true.")));
	}
}

/*
 * The declared length of a varchar(n) or char(n) column, or -1.
 */
static int32
column_max_length(PowerSchoolTable *table, const char *column)
{
	AttrNumber	attnum = get_attnum(table->relid, column);
	Oid			type;
	int32		typmod;
	Oid			collation;

	get_atttypetypmodcoll(table->relid, attnum, &type, &typmod, &collation);
	type = getBaseTypeAndTypmod(type, &typmod);
	if ((type == VARCHAROID || type == BPCHAROID) && typmod >= (int32) VARHDRSZ)
		return typmod - VARHDRSZ;
	return -1;
}

/*
 * Does the directory's value fit the column?  (Its characters were checked
 * when it was matched: is_username_text.)
 */
static bool
fits_column(const char *value, int32 max_length)
{
	return max_length < 0 || pg_mbstrlen(value) <= max_length;
}

static int
compare_pending_values(const void *a, const void *b)
{
	const PendingChange *x = (const PendingChange *) a;
	const PendingChange *y = (const PendingChange *) b;
	int			cmp = strcmp(x->value, y->value);

	if (cmp != 0)
		return cmp;
	return (x->dcid > y->dcid) - (x->dcid < y->dcid);
}

static int
compare_pending_dcids(const void *a, const void *b)
{
	const PendingChange *x = (const PendingChange *) a;
	const PendingChange *y = (const PendingChange *) b;

	return (x->dcid > y->dcid) - (x->dcid < y->dcid);
}

static Datum
dcid_array(PendingChange *pending, int n)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		datums[i] = Int64GetDatum(pending[i].dcid);
	return PointerGetDatum(construct_array(datums, n, INT8OID, 8,
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
value_array(PendingChange *pending, int n)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		datums[i] = CStringGetTextDatum(pending[i].value);
	return PointerGetDatum(construct_array(datums, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/*
 * Serialize the writes of concurrent syncs of one table, until the end of
 * the transaction, with pssync's lock of the table (SET_LOCKTAG_PSSYNC),
 * which no SQL can take.
 */
static void
lock_table_for_sync(PowerSchoolTable *table)
{
	LOCKTAG		tag;

	SET_LOCKTAG_PSSYNC(tag, RelationRelationId, table->base_relid);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * The changes one UPDATE writes: its arrays, and the executor's hash join
 * of them with the table, take about 250 bytes a change.
 */
#define CHANGES_PER_STATEMENT 8192

/* find_holders: up to this many values, the column's index may find them */
#define HOLDERS_BY_INDEX 1000

/* What refresh_row() walks: the changes in dcid order. */
typedef struct Refresh
{
	PendingChange *pending;
	int			n;
	int			next;			/* the first change not yet passed */
	bool	   *locked;
	Arena	   *arena;
} Refresh;

static void
refresh_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Refresh    *r = (Refresh *) arg;
	bool		isnull;
	int64		dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	char	   *current = row_text(tuple, desc, 2, r->arena);

	for (; r->next < r->n && r->pending[r->next].dcid < dcid; r->next++)
		;
	for (; r->next < r->n && r->pending[r->next].dcid == dcid; r->next++)
	{
		PendingChange *change = &r->pending[r->next];
		SyncResult *result = change->result;

		r->locked[r->next] = true;
		result->record->old_usernames[result->check] = current;
		if (current && strcmp(current, change->value) == 0)
			result->status = STATUS_UNCHANGED;
	}
}

/*
 * Lock the rows to change, in dcid order, and read their usernames again:
 * another transaction may have changed them since the records were read.
 * A row that now holds the directory's value is unchanged after all (the
 * array is left in dcid order; gather the changes left again).  The
 * usernames read go into arena, with the records.
 */
static void
lock_and_refresh(PowerSchoolTable *table, const char *column,
				 PendingChange *pending, int n, Arena *arena)
{
	StringInfoData sql;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];
	Refresh		r;
	MemoryContext chunk_cxt;
	int			start;
	int			i;

	qsort(pending, n, sizeof(PendingChange), compare_pending_dcids);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT t.dcid::pg_catalog.int8, t.%s::pg_catalog.text FROM %s t"
					 " WHERE t.dcid OPERATOR(pg_catalog.=) ANY ($1)"
					 " ORDER BY t.dcid FOR UPDATE OF t",
					 quote_identifier(column), table->qualified_name);
	r.pending = pending;
	r.n = n;
	r.next = 0;
	r.locked = palloc0(sizeof(bool) * n);
	r.arena = arena;

	/* in dcid order, CONFLICT_VALUES_PER_STATEMENT rows at a time */
	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync rows locked",
									  ALLOCSET_DEFAULT_SIZES);
	for (start = 0; start < n; start += CONFLICT_VALUES_PER_STATEMENT)
	{
		MemoryContext old = MemoryContextSwitchTo(chunk_cxt);

		values[0] = dcid_array(pending + start,
							   Min(CONFLICT_VALUES_PER_STATEMENT, n - start));
		MemoryContextSwitchTo(old);
		for_each_row(sql.data, 1, types, values, false, refresh_row, &r);
		MemoryContextReset(chunk_cxt);
	}
	MemoryContextDelete(chunk_cxt);

	for (i = 0; i < n; i++)
	{
		if (!r.locked[i])
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("record with dcid " INT64_FORMAT " of table \"%s\" could not be locked for update",
							pending[i].dcid, table->display_name),
					 errdetail("Another transaction deleted it, or a row-level security policy lets you see it but not update it."),
					 errhint("Run the sync again, or exclude the record from the selection.")));
	}
}

/*
 * The first change in pending (sorted by value) for value, or n.
 */
static int
first_change_for(PendingChange *pending, int n, const char *value)
{
	return sorted_lower_bound(pending, sizeof(PendingChange),
							  offsetof(PendingChange, value), 0, n, value);
}

static bool find_equal_values(PowerSchoolTable *table, const char *column,
							  Datum values, RowCallback callback, void *arg);

/* What holder_row() marks: the changes in value order. */
typedef struct Holders
{
	PendingChange *pending;
	int			n;
} Holders;

/* A record that holds a value: the changes to it by others conflict. */
static void
holder_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Holders    *h = (Holders *) arg;
	bool		isnull;
	int64		holder = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	text	   *t = DatumGetTextPP(SPI_getbinval(tuple, desc, 2, &isnull));
	char	   *value = text_to_cstring(t);
	int			i;

	for (i = first_change_for(h->pending, h->n, value);
		 i < h->n && strcmp(h->pending[i].value, value) == 0; i++)
	{
		if (h->pending[i].dcid != holder)
			h->pending[i].result->status = STATUS_CONFLICT;
	}
	pfree(value);
}

/*
 * A value that another value wanted in the run equals (find_equal_values):
 * the changes to it conflict.
 */
static void
equal_value_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Holders    *h = (Holders *) arg;
	bool		isnull;
	char	   *value = TextDatumGetCString(SPI_getbinval(tuple, desc, 1, &isnull));
	int			i;

	for (i = first_change_for(h->pending, h->n, value);
		 i < h->n && strcmp(h->pending[i].value, value) == 0; i++)
		h->pending[i].result->status = STATUS_CONFLICT;
	pfree(value);
}

/*
 * Mark the changes that would give a value to more than one record, or a
 * value another record already holds, as conflicts.
 */
static void
find_conflicts(PowerSchoolTable *table, const char *column,
			   PendingChange *pending, int n)
{
	Holders		h;
	MemoryContext chunk_cxt;
	int			start;
	int			i;

	qsort(pending, n, sizeof(PendingChange), compare_pending_values);

	/* wanted by more than one record of this sync */
	for (i = 0; i < n;)
	{
		int			j = i + 1;

		while (j < n && strcmp(pending[j].value, pending[i].value) == 0)
			j++;
		if (j - i > 1)
		{
			for (; i < j; i++)
				pending[i].result->status = STATUS_CONFLICT;
		}
		i = j;
	}
	h.pending = pending;
	h.n = n;
	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync values asked",
									  ALLOCSET_DEFAULT_SIZES);

	/* ... or values its column takes for one (jsmith and JSmith in citext) */
	if (n > 1)
	{
		MemoryContext old = MemoryContextSwitchTo(chunk_cxt);
		const char **distinct = palloc(sizeof(char *) * n);
		int			ndistinct = 0;

		for (i = 0; i < n; i++)
		{
			if (ndistinct == 0 || strcmp(distinct[ndistinct - 1], pending[i].value) != 0)
				distinct[ndistinct++] = pending[i].value;
		}
		if (ndistinct > 1)
			(void) find_equal_values(table, column, text_array(distinct, ndistinct),
									 equal_value_row, &h);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);
	}

	/*
	 * Held by another record of the table: CONFLICT_VALUES_PER_STATEMENT
	 * values at a time
	 */
	for (start = 0; start < n; start += CONFLICT_VALUES_PER_STATEMENT)
	{
		MemoryContext old = MemoryContextSwitchTo(chunk_cxt);

		find_holders(table, column,
					 value_array(pending + start,
								 Min(CONFLICT_VALUES_PER_STATEMENT, n - start)),
					 holder_row, &h);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);
	}
	MemoryContextDelete(chunk_cxt);
}

/* A type's name, schema-qualified and quoted ("character" would be char(1)) */
static char *
qualified_type_name(Oid type)
{
	HeapTuple	tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
	Form_pg_type form;
	char	   *schema;
	char	   *name;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for type %u", type);
	form = (Form_pg_type) GETSTRUCT(tuple);
	schema = get_namespace_name(form->typnamespace);
	if (schema == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", form->typnamespace);
	name = psprintf("%s.%s", quote_identifier(schema),
					quote_identifier(NameStr(form->typname)));
	ReleaseSysCache(tuple);
	return name;
}

/*
 * SQL that is true when left equals right as a username column's own
 * equality (which its unique index enforces) has it, for a column whose
 * values may be equal without being the same bytes: of a string type in
 * a nondeterministic (case-insensitive, say) collation, or of a string
 * type of its own (citext), a domain over one among them.  Each side is
 * cast to the operator's own argument type, so that no other operator of
 * its name can match better, and compared in the column's collation.
 * NULL for every other column: its values are compared byte for byte,
 * as text (which is what the column's equality is for text, varchar and
 * char in a deterministic collation, but for char's trailing blanks).
 */
static char *
column_equality_sql(Oid relid, const char *column, const char *left,
					const char *right)
{
	AttrNumber	attnum = get_attnum(relid, column);
	Oid			type;
	int32		typmod;
	Oid			collation;
	Oid			base;
	char		category;
	bool		preferred;
	TypeCacheEntry *entry;
	HeapTuple	tuple;
	Form_pg_operator operator;
	char	   *schema;
	char	   *collate = "";
	char	   *sql;

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "column \"%s\" of relation %u does not exist", column, relid);
	get_atttypetypmodcoll(relid, attnum, &type, &typmod, &collation);
	base = getBaseType(type);
	get_type_category_preferred(base, &category, &preferred);
	if (category != TYPCATEGORY_STRING || base == NAMEOID)
		return NULL;
	if ((base == TEXTOID || base == VARCHAROID || base == BPCHAROID) &&
		(!OidIsValid(collation) || get_collation_isdeterministic(collation)))
		return NULL;
	entry = lookup_type_cache(base, TYPECACHE_EQ_OPR);
	if (!OidIsValid(entry->eq_opr))
		return NULL;
	tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(entry->eq_opr));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for operator %u", entry->eq_opr);
	operator = (Form_pg_operator) GETSTRUCT(tuple);
	if (IsPolymorphicType(operator->oprleft) || IsPolymorphicType(operator->oprright))
	{
		ReleaseSysCache(tuple);
		return NULL;
	}
	schema = get_namespace_name(operator->oprnamespace);
	if (schema == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", operator->oprnamespace);
	if (OidIsValid(collation))
	{
		HeapTuple	coll = SearchSysCache1(COLLOID, ObjectIdGetDatum(collation));
		Form_pg_collation form;
		char	   *coll_schema;

		if (!HeapTupleIsValid(coll))
			elog(ERROR, "cache lookup failed for collation %u", collation);
		form = (Form_pg_collation) GETSTRUCT(coll);
		coll_schema = get_namespace_name(form->collnamespace);
		if (coll_schema == NULL)
			elog(ERROR, "cache lookup failed for namespace %u", form->collnamespace);
		collate = psprintf(" COLLATE %s.%s", quote_identifier(coll_schema),
						   quote_identifier(NameStr(form->collname)));
		ReleaseSysCache(coll);
	}
	sql = psprintf("(%s)::%s%s OPERATOR(%s.%s) (%s)::%s",
				   left, qualified_type_name(operator->oprleft), collate,
				   quote_identifier(schema), NameStr(operator->oprname),
				   right, qualified_type_name(operator->oprright));
	ReleaseSysCache(tuple);
	return sql;
}

/* Run a query of find_holders() or find_equal_values() as the table's owner. */
static void
for_each_row_as_owner(PowerSchoolTable *table, const char *sql, Datum values,
					  RowCallback callback, void *arg)
{
	Oid			types[1] = {TEXTARRAYOID};
	Oid			save_userid;
	int			save_sec_context;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(relation_owner(table->base_relid),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	for_each_row(sql, 1, types, &values, true, callback, arg);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * The records of a table that hold values (a text[]) in a username
 * column, compared exactly, anywhere in the table (a view's base table):
 * callback gets each (dcid, value).  The rows the caller may not see
 * (row-level security) count too, so the holders are looked for as the
 * table's owner; the caller learns no more than that a value is held.
 * They are looked for in what is committed now: a concurrent sync that
 * stored a value after this transaction's snapshot (REPEATABLE READ) holds
 * it all the same.  In a column whose own equality is not byte equality
 * (column_equality_sql), a value is held where that equality finds it,
 * and callback gets the value asked.
 */
void
find_holders(PowerSchoolTable *table, const char *column, Datum values,
			 RowCallback callback, void *arg)
{
	StringInfoData sql;
	ArrayType  *array = DatumGetArrayTypeP(values);
	const char *base_column = quote_identifier(base_column_name(table, column));
	char	   *equality;

	initStringInfo(&sql);
	equality = column_equality_sql(table->base_relid, base_column_name(table, column),
								   psprintf("t.%s", base_column), "a.v");
	if (equality)
		appendStringInfo(&sql,
						 "SELECT t.%s::pg_catalog.int8, a.v FROM %s t,"
						 " pg_catalog.unnest($1) AS a(v) WHERE %s",
						 quote_identifier(base_column_name(table, "dcid")),
						 table->base_qualified_name, equality);
	else
	{
		/*
		 * Compared exactly.  A few values (an incremental run's, one
		 * record's) are compared first in the column's own collation,
		 * which finds the same rows and lets the column's index find them,
		 * rather than looking in every row; many are looked for in every
		 * row, once (a second comparison would hash them twice).
		 */
		appendStringInfo(&sql,
						 "SELECT t.%s::pg_catalog.int8, t.%s::pg_catalog.text FROM %s t WHERE ",
						 quote_identifier(base_column_name(table, "dcid")),
						 base_column, table->base_qualified_name);
		if (ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array)) <= HOLDERS_BY_INDEX)
			appendStringInfo(&sql, "t.%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1) AND ",
							 base_column);
		appendStringInfo(&sql,
						 "t.%s::pg_catalog.text COLLATE pg_catalog.\"C\" OPERATOR(pg_catalog.=) ANY ($1)",
						 base_column);
	}
	for_each_row_as_owner(table, sql.data, values, callback, arg);
}

/*
 * Of values (a text[], no two the same bytes) wanted in a username column
 * whose own equality is not byte equality, the pairs that it takes for
 * equal: callback gets each (value, other value), both ways round.
 * Returns false, asking nothing, for a column compared byte for byte.
 */
static bool
find_equal_values(PowerSchoolTable *table, const char *column, Datum values,
				  RowCallback callback, void *arg)
{
	char	   *equality;

	equality = column_equality_sql(table->base_relid, base_column_name(table, column),
								   "a.v", "b.v");
	if (equality == NULL)
		return false;
	for_each_row_as_owner(table,
						  psprintf("SELECT a.v, b.v FROM pg_catalog.unnest($1) AS a(v),"
								   " pg_catalog.unnest($1) AS b(v) WHERE %s"
								   " AND a.v COLLATE pg_catalog.\"C\" OPERATOR(pg_catalog.<>) b.v",
								   equality),
						  values, callback, arg);
	return true;
}

/*
 * Write the changes, CHANGES_PER_STATEMENT rows a statement (all of a
 * district's changes at once were the largest thing a sync held).
 */
static void
write_changes(PowerSchoolTable *table, const char *column,
			  PendingChange *pending, int n)
{
	StringInfoData sql;
	Oid			types[2] = {INT8ARRAYOID, TEXTARRAYOID};
	Datum		values[2];
	MemoryContext chunk_cxt;
	int			start;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "UPDATE %s t SET %s = v.u"
					 " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS v(dcid, u)"
					 " WHERE t.dcid OPERATOR(pg_catalog.=) v.dcid",
					 table->qualified_name, quote_identifier(column));
	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync rows written",
									  ALLOCSET_DEFAULT_SIZES);
	for (start = 0; start < n; start += CHANGES_PER_STATEMENT)
	{
		MemoryContext old = MemoryContextSwitchTo(chunk_cxt);
		int			count = Min(CHANGES_PER_STATEMENT, n - start);

		values[0] = dcid_array(pending + start, count);
		values[1] = value_array(pending + start, count);
		run_query(sql.data, 2, types, values, false, SPI_OK_UPDATE);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);
	}
	MemoryContextDelete(chunk_cxt);
}

/*
 * Gather the changes of one column that are still to be decided.
 */
static int
gather_pending(List *results, UsernameColumn column, PendingChange *pending)
{
	ListCell   *cell;
	int			n = 0;

	foreach(cell, results)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);

		if (result->status != STATUS_UPDATED || result_column(result) != column)
			continue;
		pending[n].result = result;
		pending[n].dcid = result->record->dcid;
		pending[n].value = result->new_username;
		n++;
	}
	return n;
}

/*
 * Decide the changes of one column: lock and read again the rows to change
 * (unless a dry run), then mark the values that cannot be stored and the
 * conflicts.  What is left is STATUS_UPDATED.
 */
static void
check_column(PowerSchoolTables *tables, UsernameColumn column, List *results,
			 bool dry_run, Arena *arena)
{
	PowerSchoolTable *table = column_table(tables, column);
	const char *name = username_column_name(column);
	PendingChange *pending = palloc(sizeof(PendingChange) * Max(list_length(results), 1));
	int32		max_length = column_max_length(table, name);
	int			n;
	int			i;

	n = gather_pending(results, column, pending);
	if (n == 0)
		return;

	if (!dry_run)
	{
		lock_table_for_sync(table);
		lock_and_refresh(table, name, pending, n, arena);
		n = gather_pending(results, column, pending);
	}

	for (i = 0; i < n; i++)
	{
		if (!fits_column(pending[i].value, max_length))
			pending[i].result->status = STATUS_INVALID_UID;
	}
	n = gather_pending(results, column, pending);
	if (n > 0)
		find_conflicts(table, name, pending, n);
}

static void
write_column(PowerSchoolTables *tables, UsernameColumn column, List *results,
			 bool dry_run)
{
	PendingChange *pending = palloc(sizeof(PendingChange) * Max(list_length(results), 1));
	int			n = gather_pending(results, column, pending);
	int			i;

	if (n == 0)
		return;
	if (dry_run)
	{
		for (i = 0; i < n; i++)
			pending[i].result->status = STATUS_WOULD_UPDATE;
		return;
	}
	write_changes(column_table(tables, column), username_column_name(column),
				  pending, n);
}

/*
 * pssync.max_changes: a sync that would change the usernames of more
 * records than allowed fails before it writes anything; a dry run says so.
 */
static void
check_max_changes(List *results, int records, bool dry_run)
{
	double		limit;
	bool		percent;
	int			allowed;
	int			changing = 0;
	int64		previous = -1;
	ListCell   *cell;

	if (!parse_max_changes(pssync_max_changes, &limit, &percent) || limit < 0)
		return;

	/*
	 * A percentage allows a part of a record at least: 5% of 10 records is
	 * one change, not none.  In integers, to a ten-thousandth of a percent:
	 * in floating point, 1.12% of 625 records is 7.000000000000001.
	 */
	if (percent)
	{
		int64		per_million = (int64) llround(limit * 10000.0);

		allowed = (int) (((int64) records * per_million + 999999) / 1000000);
	}
	else
		allowed = (int) limit;

	/* the records with a change; a record's rows are next to each other */
	foreach(cell, results)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);

		if (result->status == STATUS_UPDATED && result->record->dcid != previous)
		{
			changing++;
			previous = result->record->dcid;
		}
	}
	if (changing <= allowed)
		return;

	if (dry_run)
		ereport(NOTICE,
				(errmsg_plural("this sync would change the usernames of %d record, more than pssync.max_changes allows (%d)",
							   "this sync would change the usernames of %d records, more than pssync.max_changes allows (%d)",
							   changing, changing, allowed),
				 errdetail("pssync.max_changes is \"%s\" and %d records were processed.",
						   pssync_max_changes, records)));
	else
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg_plural("sync would change the usernames of %d record, more than pssync.max_changes allows (%d)",
							   "sync would change the usernames of %d records, more than pssync.max_changes allows (%d)",
							   changing, changing, allowed),
				 errdetail("pssync.max_changes is \"%s\" and %d records were processed; nothing was changed.",
						   pssync_max_changes, records),
				 errhint("Check the directory's configuration (base DN, attributes) with a dry run; if the changes are right, raise pssync.max_changes for this run.")));
}

/*
 * Check and write the changes in the results; afterwards each of them says
 * updated (would_update in a dry run), unchanged, conflict or invalid_uid.
 * With limited, pssync.max_changes applies (not to ldap_assign, a person's
 * choice of one entry).
 * What the rows keep (the usernames read again) goes into arena; the
 * statements' arrays and results are freed column by column.
 */
void
apply_changes(PowerSchoolTables *tables, RecordGroup group, List *results,
			  int records, bool dry_run, bool limited, Arena *arena)
{
	UsernameColumn first = group == GROUP_STUDENTS ? COLUMN_STUDENT_WEB_ID : COLUMN_TEACHERLOGINID;
	UsernameColumn last = group == GROUP_STUDENTS ? COLUMN_STUDENT_WEB_ID : COLUMN_LOGINID;
	UsernameColumn column;
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
												  "pssync changes of a column",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(scratch);

	for (column = first; column <= last; column++)
	{
		check_column(tables, column, results, dry_run, arena);
		MemoryContextReset(scratch);
	}
	if (limited)
		check_max_changes(results, records, dry_run);
	for (column = first; column <= last; column++)
	{
		write_column(tables, column, results, dry_run);
		MemoryContextReset(scratch);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(scratch);
}
