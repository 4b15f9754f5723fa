/*-------------------------------------------------------------------------
 *
 * changes.c
 *		  Incremental sync (pssync 2.1): what each run leaves for the next,
 *		  and which records a change touches.
 *
 * ldap_sync_changes() promises that the rows it returns for a record are
 * those ldap_sync_district() would return for it now, and that it returns
 * every record whose rows would now differ from its rows in its previous
 * run.  For that, every real run of any kind remembers each record it took
 * (pssync.record_state): a fingerprint of its row in PowerSchool's table
 * and its usernames, a hash of its result rows as they are after the run's
 * writes, and what those rows depend on in the directory: the key of its
 * last name and ID (names.c's skeletons, which two values a directory may
 * take for equal always share), the entry it matched, the user IDs it was
 * matched to.  pssync.entry_state keeps, for each entry of a group, the
 * keys of its last names and IDs as of the watermark (pssync.sync_state).
 *
 * A change matters to a record when it may change the record's rows:
 *
 *	- in PowerSchool: the record itself (new, another fingerprint or
 *	  usernames), and the records that were matched to a username it had
 *	  or has (a conflict: "held by another record");
 *	- in the directory: an entry that changed, left or came matters to the
 *	  records linked to it, and to those whose last name or ID has the key
 *	  of one of its old or new last names or IDs (exact and partial
 *	  matches, matches by ID), but for those that follow their link to
 *	  another entry (their rows are that entry's);
 *	- and in either case, to the records matched to a user ID that a
 *	  touched record was or is now matched to (two records that want one
 *	  value are both conflicts), or to the entry it was or is matched to
 *	  (an entry linked to another record is a conflict).
 *
 * Those records are matched again, the ones they lead to after them, and
 * checked and written together, exactly as a district-wide run would;
 * the records whose rows then differ from their remembered rows are
 * returned.  What a run does not take (a record of another type, of the
 * same group) but a change touched is marked dirty, for the run that
 * takes it; so is every record that a run's writes (a username taken or
 * given up) or its links (an entry linked to another record) make
 * different.  A group falls back to a full run, the scan's, when it has
 * no watermark or the directory cannot say what changed since it.
 *
 * The state is written as the owner of the extension's tables, in the
 * caller's transaction (a rolled-back run keeps the old watermark), as the
 * history is.  The real runs of one server (ldap_sync_changes and any
 * other) and ldap_unlink are serialized with a lock of the server
 * (lock_server_state), held to the end of the transaction and taken
 * before the records and their links are read; ldap_sync_changes' dry
 * runs take it shared, for a moment: they read under the snapshots they
 * take while they hold it (pin_snapshots), and hold it no longer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ldap.h>

#include "catalog/pg_foreign_server.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pssync.h"

/* records written by one statement */
#define STATES_PER_STATEMENT 2000
/* the entries mark_dependents() asks about in one statement */
#define DEPENDENTS_PER_STATEMENT 2000

/* what one search for entries' keys asks at most */
#define IDS_PER_QUERY 10000

/*
 * The extension's schema when the installed version keeps the state of
 * incremental sync (2.1 and later), else InvalidOid.
 */
static Oid
state_schema(void)
{
	return pssync_schema_with("record_state");
}

bool
changes_supported(void)
{
	return OidIsValid(state_schema());
}

static const char *
schema_name(Oid schema)
{
	return quote_identifier(get_namespace_name(schema));
}

/*
 * Statements as the owner of the state tables, as history.c and links.c
 * run theirs; an error in between restores the caller's identity with the
 * rest of the (sub)transaction.
 */
static void
become_owner(AsOwner *as, Oid schema)
{
	become_relation_owner(as, get_relname_relid("record_state", schema));
}

static Datum
name_datum(const char *name)
{
	return DirectFunctionCall1(namein, CStringGetDatum(name));
}

/*
 * Call callback with the dcid of each record_state row of a server and
 * group whose user_ids share a value with values (n of them).
 *
 * A few values: the && operator, which the GIN index on user_ids answers
 * (up to about a hundred values the planner uses it).  More: && compares
 * every value with every value of each row it checks, and a subquery run
 * once per row is as quadratic (a subplan too large to hash is scanned for
 * each row).  So all rows' values are joined with the values, which
 * PostgreSQL hashes (measured: 47,000 values against 100,000 rows in
 * 0.1 s, with or without a generic plan; but the hash of that many values
 * holds 14 MB, so mark_dependents looks for more than OVERLAP_FEW_VALUES
 * values in C instead: wanting_row).  Statements of a few values each
 * would not do: after a district run writes every record's state, the
 * index's pending list holds 100,000 entries, each statement reads them
 * all, and the planner reads the table instead (90 ms a statement).  A
 * record may come more than once.  The caller is the schema's owner
 * (become_owner).  OVERLAP_FEW_VALUES is pssync.changes_indexed_user_ids
 * (64), which tests lower.
 */
#define OVERLAP_FEW_VALUES pssync_changes_indexed_user_ids

static void
for_each_overlapping_record(Oid schema, const char *server, RecordGroup group,
							const char **values, int n, bool latest,
							RowCallback callback, void *arg)
{
	Oid			types[3] = {NAMEOID, TEXTOID, TEXTARRAYOID};
	Datum		params[3];

	if (n == 0)
		return;
	params[0] = name_datum(server);
	params[1] = CStringGetTextDatum(record_group_name(group));
	params[2] = text_array(values, n);
	if (n <= OVERLAP_FEW_VALUES)
		for_each_row(psprintf("SELECT v.dcid FROM %s.record_state v"
							  " WHERE v.server OPERATOR(pg_catalog.=) $1"
							  " AND v.record_group OPERATOR(pg_catalog.=) $2"
							  " AND v.user_ids OPERATOR(pg_catalog.&&) $3",
							  schema_name(schema)),
					 3, types, params, latest, callback, arg);
	else
		for_each_row(psprintf("SELECT v.dcid FROM %s.record_state v,"
							  " LATERAL pg_catalog.unnest(v.user_ids) AS u(id)"
							  " WHERE v.server OPERATOR(pg_catalog.=) $1"
							  " AND v.record_group OPERATOR(pg_catalog.=) $2"
							  " AND u.id IN (SELECT pg_catalog.unnest($3))",
							  schema_name(schema)),
					 3, types, params, latest, callback, arg);
}

/* A text[] column of a row as C strings (NULL elements as NULL). */
static int
row_text_array(HeapTuple tuple, TupleDesc desc, int column, char ***values)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, column, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	*values = NULL;
	if (isnull)
		return 0;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	*values = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
		(*values)[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return n;
}


/*
 * Sets of dcids, and of strings.
 */
typedef struct DcidSet
{
	HTAB	   *hash;
} DcidSet;

static void
dcid_set_init(DcidSet *set, MemoryContext cxt)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64);
	ctl.hcxt = cxt;
	set->hash = hash_create("pssync dcids", 256, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static bool
dcid_set_add(DcidSet *set, int64 dcid)
{
	bool		found;

	(void) hash_search(set->hash, &dcid, HASH_ENTER, &found);
	return !found;
}

static bool
dcid_set_has(DcidSet *set, int64 dcid)
{
	return hash_search(set->hash, &dcid, HASH_FIND, NULL) != NULL;
}

/* The dcids of a set, in a palloc'd array. */
static int64 *
dcid_set_array(DcidSet *set, int *n)
{
	HASH_SEQ_STATUS status;
	int64	   *dcid;
	int64	   *result = palloc(sizeof(int64) * Max(hash_get_num_entries(set->hash), 1));

	*n = 0;
	hash_seq_init(&status, set->hash);
	while ((dcid = hash_seq_search(&status)) != NULL)
		result[(*n)++] = *dcid;
	return result;
}

typedef struct StringSet
{
	List	   *values;
	HTAB	   *hash;
	MemoryContext cxt;
} StringSet;

static void
string_set_init(StringSet *set, MemoryContext cxt)
{
	set->hash = string_table_create("pssync strings", 256, sizeof(char *), cxt);
	set->values = NIL;
	set->cxt = cxt;
}

static void
string_set_add(StringSet *set, const char *value)
{
	bool		found;
	char	  **entry;

	if (value == NULL)
		return;
	entry = hash_search(set->hash, &value, HASH_ENTER, &found);
	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(set->cxt);

		*entry = pstrdup(value);
		set->values = lappend(set->values, *entry);
		MemoryContextSwitchTo(old);
	}
}

static const char **
string_set_array(StringSet *set, int *n)
{
	const char **result = palloc(sizeof(char *) * Max(list_length(set->values), 1));
	ListCell   *cell;

	*n = 0;
	foreach(cell, set->values)
		result[(*n)++] = (const char *) lfirst(cell);
	return result;
}


/*
 * The outcome of a record: a hash of its result rows.  matched_by is left
 * out (a name match that becomes a link match is no change), and so is the
 * section (the status says it).  Remembered as after the run's writes: a
 * row that says updated (or would_update) is then unchanged, with the new
 * username the old one.
 */
static void
append_field(StringInfo buf, const char *s)
{
	if (s == NULL)
		appendStringInfoString(buf, "\x01N");
	else
	{
		appendStringInfoChar(buf, '\x02');
		appendStringInfoString(buf, s);
	}
	appendStringInfoChar(buf, '\x03');
}

static int64
rows_hash(ListCell *first, List *results, bool after_writes)
{
	StringInfoData buf;
	SyncRecord *rec = ((SyncResult *) lfirst(first))->record;
	ListCell   *cell;
	uint64		hash;

	initStringInfo(&buf);
	append_field(&buf, record_type_name(rec->type));
	append_field(&buf, rec->first_name);
	append_field(&buf, rec->last_name);
	for_each_cell(cell, results, first)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);
		SyncStatus	status = result->status;
		const char *old_username = result_old_username(result);
		int			i;

		if (result->record != rec)
			break;
		if (status == STATUS_WOULD_UPDATE)
			status = STATUS_UPDATED;
		if (after_writes && status == STATUS_UPDATED)
		{
			status = STATUS_UNCHANGED;
			old_username = result->new_username;
		}
		append_field(&buf, sync_status_name(status));
		append_field(&buf, result_field(result));
		append_field(&buf, old_username);
		append_field(&buf, result->new_username);
		append_field(&buf, result->dn);
		if (result_candidates(result))
		{
			appendStringInfo(&buf, "%d/%d:", result_candidate_count(result),
							 result_ncandidates(result));
			for (i = 0; i < result_ncandidates(result); i++)
				append_field(&buf, result_candidates(result)[i]);
		}
		else
			append_field(&buf, NULL);
		appendStringInfoChar(&buf, '\x04');
	}
	hash = hash_bytes_extended((const unsigned char *) buf.data, buf.len, 0);
	pfree(buf.data);
	return (int64) hash;
}

/* The cells of each record's first row, in order. */
static List *
record_firsts(List *results)
{
	List	   *firsts = NIL;
	SyncRecord *previous = NULL;
	ListCell   *cell;

	foreach(cell, results)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);

		if (result->record != previous)
			firsts = lappend(firsts, cell);
		previous = result->record;
	}
	return firsts;
}


/*
 * What a record's state says, for comparing with what a run would write.
 */
typedef struct StoredState
{
	int64		dcid;			/* the hash key */
	int64		fingerprint;
	int64		outcome;
	int64		hash;			/* of every column a run writes */
	bool		dirty;
	char	   *usernames[2];
	int			nusernames;
	char	  **user_ids;
	int			nuser_ids;
	char	   *entry_id;
	char	   *record_type;
} StoredState;

/* The columns a run writes, as one hash. */
static int64
state_hash(const char *record_type, int64 fingerprint, int64 outcome,
		   const char *last_key, const char *id_key, const char *entry_id,
		   const char **usernames, int nusernames, const char **user_ids,
		   int nuser_ids, const char **conflicts, int nconflicts, bool variant)
{
	StringInfoData buf;
	uint64		hash;
	int			i;

	initStringInfo(&buf);
	append_field(&buf, record_type);
	appendStringInfo(&buf, INT64_FORMAT "/" INT64_FORMAT "/", fingerprint, outcome);
	append_field(&buf, last_key);
	append_field(&buf, id_key);
	append_field(&buf, entry_id);
	for (i = 0; i < nusernames; i++)
		append_field(&buf, usernames[i]);
	appendStringInfoChar(&buf, '\x04');
	for (i = 0; i < nuser_ids; i++)
		append_field(&buf, user_ids[i]);
	appendStringInfoChar(&buf, '\x04');
	for (i = 0; i < nconflicts; i++)
		append_field(&buf, conflicts[i]);
	appendStringInfoChar(&buf, variant ? 'v' : '-');
	hash = hash_bytes_extended((const unsigned char *) buf.data, buf.len, 0);
	pfree(buf.data);
	return (int64) hash;
}

static HTAB *
stored_state_table(MemoryContext cxt)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(StoredState);
	ctl.hcxt = cxt;
	return hash_create("pssync record states", 1024, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

typedef struct StateRead
{
	HTAB	   *states;
	MemoryContext cxt;			/* of the states */
} StateRead;

/* What a district-wide run compares of each stored state. */
typedef struct StateHash
{
	int64		dcid;
	int64		hash;
	bool		dirty;
	bool		teacher;		/* stored as a teacher */
} StateHash;

typedef struct StateHashes
{
	StateHash  *h;				/* sorted by dcid, once read */
	int			n;
	int			allocated;
	MemoryContext cxt;			/* of h */
	MemoryContext row_cxt;		/* a row's work, reset after it */
} StateHashes;

static void state_of_row(HeapTuple tuple, TupleDesc desc, StoredState *state);

#define STATE_COLUMNS "s.dcid, s.fingerprint, s.outcome, s.dirty, s.record_type," \
	" s.last_key, s.id_key, s.entry_id, s.usernames, s.user_ids, s.conflicts," \
	" s.variant"

static void
stored_state_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	StateRead  *read = (StateRead *) arg;
	bool		isnull;
	int64		dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	StoredState *state = hash_search(read->states, &dcid, HASH_ENTER, NULL);
	MemoryContext old = MemoryContextSwitchTo(read->cxt);

	state_of_row(tuple, desc, state);
	MemoryContextSwitchTo(old);
}

/*
 * A row of record_state (the columns of STATE_COLUMNS) as a StoredState,
 * its strings in the current memory context.
 */
static void
state_of_row(HeapTuple tuple, TupleDesc desc, StoredState *state)
{
	bool		isnull;
	char	  **usernames;
	char	  **conflicts;
	int			nconflicts;
	char	   *last_key;
	char	   *id_key;

	state->dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	state->fingerprint = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
	state->outcome = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
	state->dirty = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull));
	state->record_type = SPI_getvalue(tuple, desc, 5);
	last_key = SPI_getvalue(tuple, desc, 6);
	id_key = SPI_getvalue(tuple, desc, 7);
	state->entry_id = SPI_getvalue(tuple, desc, 8);
	state->nusernames = Min(row_text_array(tuple, desc, 9, &usernames), 2);
	for (int i = 0; i < state->nusernames; i++)
		state->usernames[i] = usernames[i];
	state->nuser_ids = row_text_array(tuple, desc, 10, &state->user_ids);
	nconflicts = row_text_array(tuple, desc, 11, &conflicts);
	state->hash = state_hash(state->record_type, state->fingerprint,
							 state->outcome, last_key, id_key, state->entry_id,
							 (const char **) state->usernames, state->nusernames,
							 (const char **) state->user_ids, state->nuser_ids,
							 (const char **) conflicts, nconflicts,
							 DatumGetBool(SPI_getbinval(tuple, desc, 12, &isnull)));
}

/*
 * A row of record_state as a district-wide run compares it: its hash and
 * dirty flag alone (24 bytes a record, in an array sorted afterwards).
 */
static void
state_hash_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	StateHashes *hashes = (StateHashes *) arg;
	MemoryContext old = MemoryContextSwitchTo(hashes->row_cxt);
	StoredState state;

	state_of_row(tuple, desc, &state);
	MemoryContextSwitchTo(old);
	MemoryContextReset(hashes->row_cxt);
	if (hashes->n == hashes->allocated)
	{
		hashes->allocated = Max(1024, hashes->allocated * 2);
		hashes->h = hashes->h ?
			repalloc_huge(hashes->h, sizeof(StateHash) * hashes->allocated) :
			MemoryContextAllocHuge(hashes->cxt, sizeof(StateHash) * hashes->allocated);
	}
	hashes->h[hashes->n].dcid = state.dcid;
	hashes->h[hashes->n].hash = state.hash;
	hashes->h[hashes->n].dirty = state.dirty;
	hashes->h[hashes->n].teacher = state.record_type &&
		strcmp(state.record_type, "teacher") == 0;
	hashes->n++;
}

/*
 * The stored states of the n records of dcids, read as the owner, as they
 * are now.
 */
static HTAB *
read_states(Oid schema, const char *server, RecordGroup group, int64 *dcids,
			int n, MemoryContext cxt)
{
	Oid			types[3] = {NAMEOID, TEXTOID, INT8ARRAYOID};
	Datum		values[3];
	StateRead	read;
	AsOwner		as;

	read.states = stored_state_table(cxt);
	read.cxt = cxt;
	if (n == 0)
		return read.states;
	values[0] = name_datum(server);
	values[1] = CStringGetTextDatum(record_group_name(group));
	values[2] = int8_array(dcids, n);
	become_owner(&as, schema);
	for_each_row(psprintf("SELECT " STATE_COLUMNS " FROM %s.record_state s"
						  " WHERE s.server OPERATOR(pg_catalog.=) $1"
						  " AND s.record_group OPERATOR(pg_catalog.=) $2"
						  " AND s.dcid OPERATOR(pg_catalog.=) ANY ($3)",
						  schema_name(schema)),
				 3, types, values, true, stored_state_row, &read);
	become_caller(&as);
	return read.states;
}

static int
compare_state_hashes(const void *a, const void *b)
{
	int64		x = ((const StateHash *) a)->dcid;
	int64		y = ((const StateHash *) b)->dcid;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The stored hash of a record, or NULL. */
static StateHash *
find_state_hash(StateHashes *hashes, int64 dcid)
{
	StateHash	key;

	if (hashes->n == 0)
		return NULL;
	key.dcid = dcid;
	return bsearch(&key, hashes->h, hashes->n, sizeof(StateHash),
				   compare_state_hashes);
}

/* What a stored state says its record held and wanted, into set. */
static void
add_state_values(StringSet *set, StoredState *state)
{
	int			i;

	for (i = 0; i < state->nusernames; i++)
		string_set_add(set, state->usernames[i]);
	for (i = 0; i < state->nuser_ids; i++)
		string_set_add(set, state->user_ids[i]);
}

/*
 * Every stored state of a group, as a district-wide run compares them
 * (state_hash_row), read as the owner; in cxt.
 */
static StateHashes *
read_state_hashes(Oid schema, const char *server, RecordGroup group,
				  MemoryContext cxt)
{
	Oid			types[2] = {NAMEOID, TEXTOID};
	Datum		values[2];
	StateHashes *hashes = MemoryContextAllocZero(cxt, sizeof(StateHashes));
	AsOwner		as;

	hashes->cxt = cxt;
	hashes->row_cxt = AllocSetContextCreate(CurrentMemoryContext,
											"pssync state row",
											ALLOCSET_SMALL_SIZES);
	values[0] = name_datum(server);
	values[1] = CStringGetTextDatum(record_group_name(group));
	become_owner(&as, schema);
	for_each_row(psprintf("SELECT " STATE_COLUMNS " FROM %s.record_state s"
						  " WHERE s.server OPERATOR(pg_catalog.=) $1"
						  " AND s.record_group OPERATOR(pg_catalog.=) $2",
						  schema_name(schema)),
				 2, types, values, true, state_hash_row, hashes);
	become_caller(&as);
	MemoryContextDelete(hashes->row_cxt);
	hashes->row_cxt = NULL;
	if (hashes->n > 1)
		qsort(hashes->h, hashes->n, sizeof(StateHash), compare_state_hashes);
	return hashes;
}


/*
 * Remembering what a run took: every real run, of any kind.
 */
struct RunMemory
{
	Oid			schema;
	const char *server;
	RecordGroup group;
	bool		with_id;		/* records have an ID the directory matches */
	bool		changes_run;	/* ldap_sync_changes' incremental run */
	bool		district;		/* of every record of the scope */
	MemoryContext cxt;
};

static RunMemory *
new_run_memory(Oid schema, const char *server, RecordGroup group,
			   PowerSchoolTables *tables)
{
	RunMemory  *memory = palloc0(sizeof(RunMemory));

	memory->schema = schema;
	memory->server = server;
	memory->group = group;
	memory->with_id = tables->id_column != NULL;
	memory->cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync run memory",
										ALLOCSET_DEFAULT_SIZES);
	return memory;
}

/* A statement's one text value. */
static void
text_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	*((char **) arg) = SPI_getvalue(tuple, desc, 1);
}

/*
 * A column (mechanism, options) of a server's group's watermarks, as text:
 * the first that is not NULL, or NULL.
 */
static char *
watermark_value(Oid schema, const char *server, RecordGroup group,
				const char *column)
{
	Oid			types[2] = {NAMEOID, TEXTOID};
	Datum		values[2];
	char	   *found = NULL;
	AsOwner		as;

	values[0] = name_datum(server);
	values[1] = CStringGetTextDatum(record_group_name(group));
	become_owner(&as, schema);
	for_each_row(psprintf("SELECT s.%1$s::pg_catalog.text FROM %2$s.sync_state s"
						  " WHERE s.server OPERATOR(pg_catalog.=) $1"
						  " AND s.record_group OPERATOR(pg_catalog.=) $2"
						  " AND s.%1$s IS NOT NULL LIMIT 1",
						  column, schema_name(schema)),
				 2, types, values, true, text_row, &found);
	become_caller(&as);
	return found;
}

/* Does ldap_sync_changes keep a watermark of a server's group? */
static bool
has_watermark(Oid schema, const char *server, RecordGroup group)
{
	return watermark_value(schema, server, group, "mechanism") != NULL;
}

/*
 * Before a real run loads its records: the server's lock (see
 * lock_server_state), and whether it remembers them (its
 * records are then loaded with their fingerprints, SyncRecord.fingerprint,
 * so that what is remembered is what was matched).  NULL when the
 * installed version keeps no state, or (but for ldap_sync_changes' own
 * full runs, changes_run) when ldap_sync_changes keeps no watermark of the
 * group: its next run is a full one, which remembers every record itself,
 * and a district that does not use it pays nothing for it.
 */
RunMemory *
run_memory_begin(PssyncServer *server, RecordGroup group,
				 PowerSchoolTables *tables, bool changes_run, bool district)
{
	Oid			schema = state_schema();
	RunMemory  *memory;

	if (!OidIsValid(schema))
		return NULL;

	/*
	 * Before the records and their links are read: an ldap_unlink (or
	 * another run) that commits while this run matches would otherwise
	 * have this run remember its record as following the link it read,
	 * clean, over the dirty mark ldap_unlink left; and before the
	 * watermark is looked for, which the first ldap_sync_changes may be
	 * writing.  (ldap_sync_changes took it already, in sync_changes.)
	 */
	lock_server_state(server, false);
	if (!changes_run && !has_watermark(schema, server->servername, group))
		return NULL;
	memory = new_run_memory(schema, server->servername, group, tables);
	memory->district = district;
	return memory;
}

/* The position of a username column in record_state.usernames. */
static int
username_position(UsernameColumn column)
{
	return column == COLUMN_LOGINID ? 1 : 0;
}

/* What a run writes for one record. */
typedef struct NewState
{
	int64		dcid;
	const char *record_type;
	int64		fingerprint;
	int64		outcome;
	const char *last_key;
	const char *id_key;
	const char *entry_id;
	const char *usernames[2];
	int			nusernames;
	const char *user_ids[MAX_CHECKS_PER_RECORD];
	int			nuser_ids;
	const char *conflicts[2];	/* as usernames */
	int			nconflicts;		/* nusernames, or 0: none */
	bool		variant;		/* matched to a variant, not by its link */
} NewState;

static bool
new_state(RunMemory *memory, ListCell *first, List *results, StoredState *stored,
		  NewState *state)
{
	SyncRecord *rec = ((SyncResult *) lfirst(first))->record;
	ListCell   *cell;
	bool		by_link = false;
	int			i;

	memset(state, 0, sizeof(NewState));
	state->dcid = rec->dcid;
	state->record_type = record_type_name(rec->type);
	state->outcome = rows_hash(first, results, true);
	state->last_key = name_key(rec->last_name);
	if (memory->with_id && rec->id && search_name(rec->id))
	{
		char	   *utf8 = directory_to_utf8(search_name(rec->id));

		state->id_key = id_key(utf8, strlen(utf8));
	}

	/*
	 * as read with the record (a record loaded without its fingerprint has
	 * the one remembered: if it changed since, the next run takes it)
	 */
	if (rec->has_fingerprint)
	{
		/*
		 * its usernames as usernames_sql() gives them: those its checks
		 * read (or read again when its row was locked to write it), and
		 * the one they do not
		 */
		state->fingerprint = rec->fingerprint;
		state->nusernames = rec->type == RECORD_STUDENT ? 1 : 2;
		for (i = 0; i < state->nusernames; i++)
			state->usernames[i] = rec->unchecked_username;
		for (i = 0; i < rec->nchecks; i++)
			state->usernames[username_position(rec->columns[i])] =
				rec->old_usernames[i];
	}
	else if (stored)
	{
		state->fingerprint = stored->fingerprint;
		state->nusernames = stored->nusernames;
		for (i = 0; i < stored->nusernames; i++)
			state->usernames[i] = stored->usernames[i];
	}
	else
		return false;			/* not known: the next run takes it */

	for_each_cell(cell, results, first)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);

		if (result->record != rec)
			break;
		if (result->entry_id && state->entry_id == NULL)
			state->entry_id = result->entry_id;
		if (result->matched_by && strcmp(result->matched_by, "link") == 0)
			by_link = true;
		if (result->matched_by && strcmp(result->matched_by, "variant") == 0)
			state->variant = true;
		if (result->check >= 0 && result->new_username &&
			state->nuser_ids < MAX_CHECKS_PER_RECORD)
			state->user_ids[state->nuser_ids++] = result->new_username;
		/* what this run wrote */
		if (result->status == STATUS_UPDATED && result->check >= 0)
		{
			int			pos = username_position(rec->columns[result->check]);

			if (pos < state->nusernames)
				state->usernames[pos] = result->new_username;
		}

		/*
		 * what it could not have: held by another row of the table (which
		 * may be one no run takes, see freed_conflicts()), or wanted by
		 * another record of the run; not a value whose entry is linked to
		 * another record (a change of that link takes it: its entry_id)
		 */
		if (result->status == STATUS_CONFLICT && result->check >= 0 &&
			result->new_username && !result->linked_elsewhere)
		{
			int			pos = username_position(rec->columns[result->check]);

			if (pos < state->nusernames)
			{
				state->conflicts[pos] = result->new_username;
				state->nconflicts = state->nusernames;
			}
		}
	}

	/*
	 * A record matched through its link has the rows of its linked entry,
	 * whatever other entries' names and IDs are (see match_one): only a
	 * change of that entry (its entry ID), of a username it wants, or of
	 * the record itself touches it.  Without these keys a common last name
	 * that changed does not take every linked record that has it.  A record
	 * this run links is remembered so too: the next run matches it through
	 * the link, to the entry it matched now, with the same rows (else that
	 * run would find its state changed, and write it again).  Should a
	 * concurrent transaction's link keep that link out, write_links()
	 * marks the record dirty.
	 */
	if (by_link || rec->link_made)
	{
		state->last_key = NULL;
		state->id_key = NULL;
		state->variant = false;
	}
	return true;
}

/* Rows of record_state to write, as arrays. */
typedef struct StateBatch
{
	int			n;
	int64	   *dcids;
	const char **record_types;
	int64	   *fingerprints;
	int64	   *outcomes;
	const char **last_keys;
	const char **id_keys;
	const char **entry_ids;
	const char **usernames;		/* text[] literals */
	const char **user_ids;
	const char **conflicts;		/* the same, or NULL */
	bool	   *variants;
} StateBatch;

static void
batch_init(StateBatch *b)
{
	b->n = 0;
	b->dcids = palloc(sizeof(int64) * STATES_PER_STATEMENT);
	b->record_types = palloc(sizeof(char *) * STATES_PER_STATEMENT);
	b->fingerprints = palloc(sizeof(int64) * STATES_PER_STATEMENT);
	b->outcomes = palloc(sizeof(int64) * STATES_PER_STATEMENT);
	b->last_keys = palloc(sizeof(char *) * STATES_PER_STATEMENT);
	b->id_keys = palloc(sizeof(char *) * STATES_PER_STATEMENT);
	b->entry_ids = palloc(sizeof(char *) * STATES_PER_STATEMENT);
	b->usernames = palloc(sizeof(char *) * STATES_PER_STATEMENT);
	b->user_ids = palloc(sizeof(char *) * STATES_PER_STATEMENT);
	b->conflicts = palloc(sizeof(char *) * STATES_PER_STATEMENT);
	b->variants = palloc(sizeof(bool) * STATES_PER_STATEMENT);
}

/* Write a batch of states, dirty (for the next run to take) or not. */
static void
write_states(RunMemory *memory, StateBatch *b, int64 run_id, bool dirty)
{
	Oid			types[16] = {NAMEOID, TEXTOID, INT8OID, NAMEOID, INT8ARRAYOID,
		TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, BOOLOID, TEXTARRAYOID, BOOLARRAYOID};
	Datum		values[16];
	char		nulls[16];
	Datum	   *variants;
	int			i;
	AsOwner		as;

	if (b->n == 0)
		return;
	memset(nulls, ' ', sizeof(nulls));
	values[0] = name_datum(memory->server);
	values[1] = CStringGetTextDatum(record_group_name(memory->group));
	values[2] = Int64GetDatum(run_id);
	if (run_id == 0)
		nulls[2] = 'n';
	values[3] = name_datum(GetUserNameFromId(GetUserId(), false));
	values[4] = int8_array(b->dcids, b->n);
	values[5] = text_array(b->record_types, b->n);
	values[6] = int8_array(b->fingerprints, b->n);
	values[7] = int8_array(b->outcomes, b->n);
	values[8] = text_array(b->last_keys, b->n);
	values[9] = text_array(b->id_keys, b->n);
	values[10] = text_array(b->entry_ids, b->n);
	values[11] = text_array(b->usernames, b->n);
	values[12] = text_array(b->user_ids, b->n);
	values[13] = BoolGetDatum(dirty);
	values[14] = text_array(b->conflicts, b->n);
	variants = palloc(sizeof(Datum) * b->n);
	for (i = 0; i < b->n; i++)
		variants[i] = BoolGetDatum(b->variants[i]);
	values[15] = PointerGetDatum(construct_array(variants, b->n, BOOLOID, 1, true,
												 TYPALIGN_CHAR));
	become_owner(&as, memory->schema);
	run_query_nulls(psprintf("INSERT INTO %s.record_state AS s (server, record_group, dcid,"
							 " record_type, fingerprint, outcome, last_key, id_key, entry_id,"
							 " usernames, user_ids, conflicts, variant, dirty, run_id, role)"
							 " SELECT $1, $2, v.dcid, v.record_type, v.fingerprint, v.outcome,"
							 " v.last_key, v.id_key, v.entry_id, v.usernames::pg_catalog.text[],"
							 " v.user_ids::pg_catalog.text[], v.conflicts::pg_catalog.text[],"
							 " v.variant, $14, $3, $4"
							 " FROM ROWS FROM (pg_catalog.unnest($5), pg_catalog.unnest($6),"
							 " pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9),"
							 " pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12),"
							 " pg_catalog.unnest($13), pg_catalog.unnest($15), pg_catalog.unnest($16))"
							 " AS v(dcid, record_type, fingerprint, outcome, last_key, id_key,"
							 " entry_id, usernames, user_ids, conflicts, variant)"
							 " ON CONFLICT (server, record_group, dcid) DO UPDATE SET"
							 " record_type = excluded.record_type,"
							 " fingerprint = excluded.fingerprint, outcome = excluded.outcome,"
							 " last_key = excluded.last_key, id_key = excluded.id_key,"
							 " entry_id = excluded.entry_id, usernames = excluded.usernames,"
							 " user_ids = excluded.user_ids, conflicts = excluded.conflicts,"
							 " variant = excluded.variant,"
							 " dirty = excluded.dirty,"
							 " run_id = excluded.run_id, role = excluded.role",
							 schema_name(memory->schema)),
					16, types, values, nulls, false, SPI_OK_INSERT);
	become_caller(&as);
	b->n = 0;
}

/*
 * Usernames, sorted (by compare_wanted), and the records found to want one
 * of them: for mark_dependents.
 */
typedef struct WantedValue
{
	const char *value;
	int			len;
} WantedValue;

typedef struct Wanting
{
	WantedValue *values;
	int			n;
	DcidList   *found;
	MemoryContext row_cxt;		/* one row's array, reset after it */
} Wanting;

static int
compare_wanted(const void *a, const void *b)
{
	const WantedValue *x = (const WantedValue *) a;
	const WantedValue *y = (const WantedValue *) b;
	int			c = memcmp(x->value, y->value, Min(x->len, y->len));

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* A record_state row (dcid, user_ids): does it want one of the values? */
static void
wanting_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Wanting    *w = (Wanting *) arg;
	bool		isnull;
	int64		dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	Datum		d = SPI_getbinval(tuple, desc, 2, &isnull);
	MemoryContext old;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (isnull)
		return;
	old = MemoryContextSwitchTo(w->row_cxt);
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		text	   *t;
		WantedValue key;

		if (nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		key.value = VARDATA_ANY(t);
		key.len = VARSIZE_ANY_EXHDR(t);
		if (bsearch(&key, w->values, w->n, sizeof(WantedValue), compare_wanted))
		{
			MemoryContextSwitchTo(old);
			dcid_list_add(w->found, dcid);
			break;
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(w->row_cxt);
}

/* An entry and the record now linked to it (-1: none), for mark_dependents */
typedef struct EntryHolder
{
	const char *entry_id;
	int64		dcid;
} EntryHolder;

typedef struct EntryHolders
{
	EntryHolder *pairs;			/* sorted by entry_id */
	int			n;
	DcidList   *found;
} EntryHolders;

static int
compare_entry_holders(const void *a, const void *b)
{
	return strcmp(((const EntryHolder *) a)->entry_id,
				  ((const EntryHolder *) b)->entry_id);
}

/*
 * A record matched to one of the entries: found, unless every record the
 * entry is given to is this one.
 */
static void
entry_holder_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	EntryHolders *h = (EntryHolders *) arg;
	bool		isnull;
	int64		dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	EntryHolder key;
	EntryHolder *at;

	key.entry_id = TextDatumGetCString(SPI_getbinval(tuple, desc, 2, &isnull));
	at = bsearch(&key, h->pairs, h->n, sizeof(EntryHolder), compare_entry_holders);
	if (at != NULL)
	{
		while (at > h->pairs && strcmp(at[-1].entry_id, key.entry_id) == 0)
			at--;
		for (; at < h->pairs + h->n && strcmp(at->entry_id, key.entry_id) == 0; at++)
		{
			if (at->dcid != dcid)
			{
				dcid_list_add(h->found, dcid);
				break;
			}
		}
	}
	pfree((char *) key.entry_id);
}

static int
compare_dcids(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Mark dirty the records of the group whose rows a run may have made
 * different, other than those it took (covered): those matched to a user
 * ID in values (a username written, or given up: "held by another
 * record"), or to an entry in entry_ids other than the record now linked
 * to it (linked_dcids, in step; an entry linked to another record).
 * They are found first, and those the run took left out here: a run of
 * every record would otherwise hand the statement all of their dcids.
 */
static void
mark_dependents(Oid schema, const char *server, RecordGroup group,
				const char **values, int nvalues, const char **entry_ids,
				int64 *linked_dcids, int nentries, int64 *covered, int ncovered)
{
	Oid			types[3] = {NAMEOID, TEXTOID, TEXTARRAYOID};
	Datum		params[3];
	DcidList	found;
	MemoryContext chunk_cxt;
	int64	   *taken = NULL;
	int			kept = 0;
	int			i;
	AsOwner		as;

	if (nvalues == 0 && nentries == 0)
		return;
	memset(&found, 0, sizeof(found));
	found.cxt = CurrentMemoryContext;	/* not the chunk's */
	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext,
									  "pssync dependents of a statement",
									  ALLOCSET_DEFAULT_SIZES);
	params[0] = name_datum(server);
	params[1] = CStringGetTextDatum(record_group_name(group));
	become_owner(&as, schema);
	/*
	 * Many values (a district-wide run takes tens of thousands): every
	 * record's user IDs are read once and looked for among them here, which
	 * holds nothing much; the statement that joined them took 14 MB.
	 */
	if (nvalues > OVERLAP_FEW_VALUES)
	{
		MemoryContext old = MemoryContextSwitchTo(chunk_cxt);
		Wanting		w;

		w.values = palloc(sizeof(WantedValue) * nvalues);
		w.n = 0;
		for (i = 0; i < nvalues; i++)
		{
			if (values[i] == NULL)
				continue;
			w.values[w.n].value = values[i];
			w.values[w.n].len = strlen(values[i]);
			w.n++;
		}
		qsort(w.values, w.n, sizeof(WantedValue), compare_wanted);
		w.found = &found;
		w.row_cxt = AllocSetContextCreate(chunk_cxt, "pssync user IDs of a record",
										  ALLOCSET_SMALL_SIZES);
		for_each_row(psprintf("SELECT v.dcid, v.user_ids FROM %s.record_state v"
							  " WHERE v.server OPERATOR(pg_catalog.=) $1"
							  " AND v.record_group OPERATOR(pg_catalog.=) $2",
							  schema_name(schema)),
					 2, types, params, false, wanting_row, &w);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);
	}
	else
		for_each_overlapping_record(schema, server, group, values, nvalues,
									false, dcid_list_row, &found);
	/*
	 * The records matched to the entries, DEPENDENTS_PER_STATEMENT entries
	 * at a time through the index on entry_id (a join would read the whole
	 * table for each), compared here with the records now linked to them.
	 */
	for (i = 0; i < nentries; i += DEPENDENTS_PER_STATEMENT)
	{
		int			ne = Min(DEPENDENTS_PER_STATEMENT, nentries - i);
		MemoryContext old = MemoryContextSwitchTo(chunk_cxt);
		EntryHolders holders;
		int			k;

		holders.pairs = palloc(sizeof(EntryHolder) * ne);
		holders.n = 0;
		holders.found = &found;
		for (k = 0; k < ne; k++)
		{
			if (entry_ids[i + k] == NULL)
				continue;		/* matches no record */
			holders.pairs[holders.n].entry_id = entry_ids[i + k];
			holders.pairs[holders.n].dcid = linked_dcids[i + k];
			holders.n++;
		}
		if (holders.n == 0)
		{
			MemoryContextSwitchTo(old);
			MemoryContextReset(chunk_cxt);
			continue;
		}
		qsort(holders.pairs, holders.n, sizeof(EntryHolder), compare_entry_holders);
		params[2] = text_array(entry_ids + i, ne);
		for_each_row(psprintf("SELECT m.dcid, m.entry_id FROM %s.record_state m"
							  " WHERE m.server OPERATOR(pg_catalog.=) $1"
							  " AND m.record_group OPERATOR(pg_catalog.=) $2"
							  " AND m.entry_id OPERATOR(pg_catalog.=) ANY ($3)",
							  schema_name(schema)),
					 3, types, params, false, entry_holder_row, &holders);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);
	}
	become_caller(&as);
	MemoryContextDelete(chunk_cxt);

	if (ncovered > 0 && found.n > 0)
	{
		taken = palloc(sizeof(int64) * ncovered);
		memcpy(taken, covered, sizeof(int64) * ncovered);
		qsort(taken, ncovered, sizeof(int64), compare_dcids);
	}
	for (i = 0; i < found.n; i++)
	{
		if (taken && bsearch(&found.dcids[i], taken, ncovered, sizeof(int64),
							 compare_dcids) != NULL)
			continue;
		found.dcids[kept++] = found.dcids[i];
	}
	mark_records_dirty(server, group, found.dcids, kept);
	if (taken)
		pfree(taken);
	if (found.dcids)
		pfree(found.dcids);
}

/*
 * After a real run has written its changes and history: remember each
 * record it took, where what is stored differs.  A run whose rows are not
 * those of a district-wide run (another uid_attr than the server's, other
 * options or settings than the watermark's) marks its records dirty, with
 * an outcome no rows have.  A run whose rows may not be a district run's
 * (retake: ldap_assign, which a district run matches otherwise unless the
 * assignment made a link that it follows) keeps its rows as the records'
 * previous ones, and marks them dirty: the next ldap_sync_changes matches
 * them again and returns them if their rows differ.  Then the records its
 * writes made different are marked dirty.  results are in the order of
 * the records.
 */
void
run_memory_end(RunMemory *memory, List *results, int64 run_id, bool canonical,
			   bool retake)
{
	MemoryContext old;
	List	   *firsts;
	HTAB	   *stored = NULL;
	StateHashes *hashes = NULL;
	DcidList	to_mark;		/* records to mark dirty, their states as stored */
	DcidList	flipped;		/* records whose stored type was the other */
	bool		all_dirty = !canonical || retake;
	StateBatch	batch;
	StringSet	taken;
	StringSet	given_up;
	int64	   *covered;
	int			ncovered = 0;
	int			nvalues;
	const char **values;
	ListCell   *cell;
	MemoryContext record_cxt;
	MemoryContext batch_cxt;

	if (memory == NULL)
		return;
	old = MemoryContextSwitchTo(memory->cxt);

	/*
	 * What one record's state is worked out in (its keys, the texts that
	 * are hashed) is freed after each record; what a batch of states to
	 * write holds, after each statement.  A district-wide run takes every
	 * record: kept for the whole run, they came to hundreds of megabytes.
	 */
	record_cxt = AllocSetContextCreate(memory->cxt, "pssync state of a record",
									   ALLOCSET_DEFAULT_SIZES);
	batch_cxt = AllocSetContextCreate(memory->cxt, "pssync states to write",
									  ALLOCSET_DEFAULT_SIZES);
	firsts = record_firsts(results);
	covered = palloc(sizeof(int64) * Max(list_length(firsts), 1));
	foreach(cell, firsts)
		covered[ncovered++] = ((SyncResult *) lfirst((ListCell *) lfirst(cell)))->record->dcid;

	/*
	 * a district-wide run (or one of many records) reads every state at
	 * once, and keeps of each what it compares
	 */
	if ((memory->district || ncovered > 1000) && !memory->changes_run)
		hashes = read_state_hashes(memory->schema, memory->server,
								   memory->group, memory->cxt);
	else
		stored = read_states(memory->schema, memory->server, memory->group,
							 covered, ncovered, memory->cxt);

	memset(&to_mark, 0, sizeof(to_mark));
	to_mark.cxt = memory->cxt;
	memset(&flipped, 0, sizeof(flipped));
	flipped.cxt = memory->cxt;
	string_set_init(&taken, memory->cxt);
	string_set_init(&given_up, memory->cxt);

	/*
	 * A user who was a teacher and is staff now, or the reverse: the
	 * records of the other type that wanted what it held or wanted may be
	 * free of a conflict with it, as with a username given up (below).  A
	 * district-wide run keeps no more of each stored state than its hash
	 * and type: the few such states are read whole before this run's are
	 * written.
	 */
	foreach(cell, firsts)
	{
		SyncRecord *rec = ((SyncResult *) lfirst((ListCell *) lfirst(cell)))->record;

		if (rec->type == RECORD_STUDENT)
			continue;
		if (stored)
		{
			StoredState *state = hash_search(stored, &rec->dcid, HASH_FIND, NULL);

			if (state && state->record_type &&
				strcmp(state->record_type, record_type_name(rec->type)) != 0)
				add_state_values(&given_up, state);
		}
		else
		{
			StateHash  *known = find_state_hash(hashes, rec->dcid);

			if (known && known->teacher != (rec->type == RECORD_TEACHER))
				dcid_list_add(&flipped, rec->dcid);
		}
	}
	if (flipped.n > 0)
	{
		HTAB	   *states = read_states(memory->schema, memory->server,
										 memory->group, flipped.dcids, flipped.n,
										 memory->cxt);
		HASH_SEQ_STATUS status;
		StoredState *state;

		hash_seq_init(&status, states);
		while ((state = hash_seq_search(&status)) != NULL)
			add_state_values(&given_up, state);
	}
	batch_init(&batch);
	foreach(cell, firsts)
	{
		ListCell   *first = (ListCell *) lfirst(cell);
		SyncRecord *rec = ((SyncResult *) lfirst(first))->record;
		StoredState *state = NULL;
		StateHash  *known = NULL;
		ListCell   *row;
		NewState	ns;
		int64		hash;

		if (stored)
			state = hash_search(stored, &rec->dcid, HASH_FIND, NULL);
		else
			known = find_state_hash(hashes, rec->dcid);

		/* the usernames it takes or gives up */
		for_each_cell(row, results, first)
		{
			SyncResult *result = (SyncResult *) lfirst(row);

			if (result->record != rec)
				break;
			if (result->status == STATUS_UPDATED)
			{
				string_set_add(&taken, result->new_username);
				string_set_add(&given_up, result_old_username(result));
			}
		}
		MemoryContextReset(record_cxt);
		MemoryContextSwitchTo(record_cxt);
		if (!new_state(memory, first, results, state, &ns))
		{
			/* what it was is not known: the next run takes it */
			if (known || all_dirty)
				dcid_list_add(&to_mark, rec->dcid);
			MemoryContextSwitchTo(memory->cxt);
			continue;
		}

		/*
		 * Rows that are not a district-wide run's: remembered as no rows
		 * are, so that the next run, which takes the record (below), returns
		 * its rows.
		 */
		if (!canonical)
			ns.outcome = 0;
		hash = state_hash(ns.record_type, ns.fingerprint, ns.outcome,
						  ns.last_key, ns.id_key, ns.entry_id, ns.usernames,
						  ns.nusernames, ns.user_ids, ns.nuser_ids,
						  ns.conflicts, ns.nconflicts, ns.variant);
		if ((state && !state->dirty && state->hash == hash) ||
			(known && !known->dirty && known->hash == hash))
		{
			/* as stored, but to be taken by the next run all the same */
			if (all_dirty)
				dcid_list_add(&to_mark, rec->dcid);
			MemoryContextSwitchTo(memory->cxt);
			continue;
		}
		MemoryContextSwitchTo(batch_cxt);
		batch.dcids[batch.n] = ns.dcid;
		batch.record_types[batch.n] = ns.record_type;
		batch.fingerprints[batch.n] = ns.fingerprint;
		batch.outcomes[batch.n] = ns.outcome;
		batch.last_keys[batch.n] = ns.last_key ? pstrdup(ns.last_key) : NULL;
		batch.id_keys[batch.n] = ns.id_key ? pstrdup(ns.id_key) : NULL;
		batch.entry_ids[batch.n] = ns.entry_id ? pstrdup(ns.entry_id) : NULL;
		batch.usernames[batch.n] = text_array_literal(ns.usernames, ns.nusernames);
		batch.user_ids[batch.n] = text_array_literal(ns.user_ids, ns.nuser_ids);
		batch.conflicts[batch.n] = ns.nconflicts == 0 ? NULL :
			text_array_literal(ns.conflicts, ns.nconflicts);
		batch.variants[batch.n] = ns.variant;
		batch.n++;
		if (batch.n == STATES_PER_STATEMENT)
		{
			write_states(memory, &batch, run_id, all_dirty);
			MemoryContextReset(batch_cxt);
		}
		MemoryContextSwitchTo(memory->cxt);
	}
	MemoryContextSwitchTo(batch_cxt);
	write_states(memory, &batch, run_id, all_dirty);
	MemoryContextSwitchTo(memory->cxt);
	MemoryContextDelete(batch_cxt);
	MemoryContextDelete(record_cxt);

	/* a group's first run wrote every record: plan what follows with that */
	analyze_if_never_analyzed(get_relname_relid("record_state", memory->schema));

	/*
	 * Its rows are not (or may not be) a district-wide run's: the next run
	 * takes them (those written were written dirty, the others are marked
	 * now).  Else the records whose state is not known are taken.
	 */
	mark_records_dirty(memory->server, memory->group, to_mark.dcids, to_mark.n);
	/*
	 * A username taken: the records that want it now conflict (those of this
	 * run knew, as they were checked with it).  A username given up: those
	 * that wanted it are free of the conflict now, this run's too where it
	 * was a conflict (checked while the value was held); this run's other
	 * records did not want it, or got it.
	 */
	values = string_set_array(&taken, &nvalues);
	mark_dependents(memory->schema, memory->server, memory->group,
					values, nvalues, NULL, NULL, 0, covered, ncovered);
	values = string_set_array(&given_up, &nvalues);
	if (nvalues > 0)
	{
		int64	   *clean = palloc(sizeof(int64) * Max(ncovered, 1));
		int			nclean = 0;

		foreach(cell, firsts)
		{
			ListCell   *first = (ListCell *) lfirst(cell);
			SyncRecord *rec = ((SyncResult *) lfirst(first))->record;
			ListCell   *row;
			bool		conflict = false;

			for_each_cell(row, results, first)
			{
				SyncResult *result = (SyncResult *) lfirst(row);

				if (result->record != rec)
					break;
				if (result->status == STATUS_CONFLICT)
					conflict = true;
			}
			if (!conflict)
				clean[nclean++] = rec->dcid;
		}
		mark_dependents(memory->schema, memory->server, memory->group,
						values, nvalues, NULL, NULL, 0, clean, nclean);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(memory->cxt);
}

/* Mark records dirty: the next ldap_sync_changes takes them. */
void
mark_records_dirty(const char *server, RecordGroup group, int64 *dcids, int n)
{
	Oid			schema = state_schema();
	Oid			types[3] = {NAMEOID, TEXTOID, INT8ARRAYOID};
	Datum		values[3];
	MemoryContext chunk_cxt;
	char	   *sql;
	int			start;
	AsOwner		as;

	if (!OidIsValid(schema) || n == 0)
		return;
	values[0] = name_datum(server);
	values[1] = CStringGetTextDatum(record_group_name(group));
	sql = psprintf("UPDATE %s.record_state s SET dirty = true"
				   " WHERE s.server OPERATOR(pg_catalog.=) $1"
				   " AND s.record_group OPERATOR(pg_catalog.=) $2"
				   " AND s.dcid OPERATOR(pg_catalog.=) ANY ($3) AND NOT s.dirty",
				   schema_name(schema));
	/* DEPENDENTS_PER_STATEMENT at a time: all of a district's took 20 MB */
	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync records marked",
									  ALLOCSET_DEFAULT_SIZES);
	become_owner(&as, schema);
	for (start = 0; start < n; start += DEPENDENTS_PER_STATEMENT)
	{
		MemoryContext old = MemoryContextSwitchTo(chunk_cxt);

		values[2] = int8_array(dcids + start, Min(DEPENDENTS_PER_STATEMENT, n - start));
		run_query(sql, 3, types, values, false, SPI_OK_UPDATE);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);
	}
	become_caller(&as);
	MemoryContextDelete(chunk_cxt);
}

/*
 * Forget what ldap_sync_changes remembers of a record, on every server: it
 * was excluded or included again (exclusions.c).  An excluded record has
 * no rows; once included again, its rows differ from the previous run's,
 * and the next ldap_sync_changes takes it as a record PowerSchool added.
 */
void
forget_record_state(RecordGroup group, int64 dcid)
{
	Oid			schema = state_schema();
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	AsOwner		as;

	if (!OidIsValid(schema))
		return;
	values[0] = CStringGetTextDatum(record_group_name(group));
	values[1] = Int64GetDatum(dcid);
	become_owner(&as, schema);
	run_query(psprintf("DELETE FROM %s.record_state s"
					   " WHERE s.record_group OPERATOR(pg_catalog.=) $1"
					   " AND s.dcid OPERATOR(pg_catalog.=) $2",
					   schema_name(schema)),
			  2, types, values, false, SPI_OK_DELETE);
	become_caller(&as);
}

/*
 * ldap_unlink: the record, and the records matched to its entry (which a
 * link no longer holds), may have other rows now.  Called before the link
 * is removed.  A linked record of type record_type (NULL: excluded, which
 * no run takes) that has no state yet gets one, dirty and with no rows (as
 * a run whose rows are not a district-wide run's leaves it): the next run
 * takes it.  And a real run under REPEATABLE READ or SERIALIZABLE whose
 * snapshot predates this transaction's commit, and so still reads the
 * link, then fails with a serialization failure when it writes the
 * record's state (its upsert meets a row its snapshot cannot see), rather
 * than remember the record, clean, as following the link this removed.
 * (A record that had a state is marked dirty, which such a run reads, as
 * it reads every state, with the latest snapshot: it writes the record's
 * state, and fails the same way.)
 */
void
mark_unlinked(PssyncServer *server, RecordGroup group, int64 dcid,
			  const char *record_type)
{
	Oid			schema = state_schema();
	Oid			types[5] = {NAMEOID, TEXTOID, INT8OID, TEXTOID, NAMEOID};
	Datum		values[5];
	AsOwner		as;

	if (!OidIsValid(schema))
		return;
	/* after any real run of the server (run_memory_begin) */
	lock_server_state(server, false);
	values[0] = name_datum(server->servername);
	values[1] = CStringGetTextDatum(record_group_name(group));
	values[2] = Int64GetDatum(dcid);
	values[4] = name_datum(GetUserNameFromId(GetUserId(), false));
	become_owner(&as, schema);
	run_query(psprintf("UPDATE %1$s.record_state s SET dirty = true"
					   " WHERE s.server OPERATOR(pg_catalog.=) $1"
					   " AND s.record_group OPERATOR(pg_catalog.=) $2"
					   " AND (s.dcid OPERATOR(pg_catalog.=) $3"
					   " OR s.entry_id OPERATOR(pg_catalog.=) (SELECT l.entry_id"
					   " FROM %1$s.record_links l WHERE l.server OPERATOR(pg_catalog.=) $1"
					   " AND l.record_group OPERATOR(pg_catalog.=) $2"
					   " AND l.dcid OPERATOR(pg_catalog.=) $3))",
					   schema_name(schema)),
			  3, types, values, false, SPI_OK_UPDATE);
	if (record_type)
	{
		values[3] = CStringGetTextDatum(record_type);
		run_query(psprintf("INSERT INTO %1$s.record_state (server, record_group, dcid,"
						   " record_type, fingerprint, outcome, dirty, role)"
						   " SELECT $1, $2, $3, $4, 0, 0, true, $5"
						   " WHERE EXISTS (SELECT FROM %1$s.record_links l"
						   " WHERE l.server OPERATOR(pg_catalog.=) $1"
						   " AND l.record_group OPERATOR(pg_catalog.=) $2"
						   " AND l.dcid OPERATOR(pg_catalog.=) $3)"
						   " ON CONFLICT (server, record_group, dcid) DO NOTHING",
						   schema_name(schema)),
				  5, types, values, false, SPI_OK_INSERT);
	}
	become_caller(&as);
}

/*
 * The links of entries changed hands (made, replaced, removed): the
 * records matched to those entries, other than the one now linked to each
 * (linked_dcids, in step; -1 for none), may now be conflicts or not.
 */
void
mark_link_dependents(const char *server, RecordGroup group,
					 const char **entry_ids, int64 *linked_dcids, int n)
{
	Oid			schema = state_schema();

	if (!OidIsValid(schema) || n == 0)
		return;
	mark_dependents(schema, server, group, NULL, 0, entry_ids, linked_dcids, n,
					NULL, 0);
}


/*
 * The size of a group's full reads, and pssync.min_directory_ratio.
 */

/* The entries of the group's last full read, or -1. */
static int
last_full_read(Oid schema, const char *server, RecordGroup group)
{
	Oid			types[2] = {NAMEOID, TEXTOID};
	Datum		values[2];
	AsOwner		as;
	int			entries = -1;

	values[0] = name_datum(server);
	values[1] = CStringGetTextDatum(record_group_name(group));
	become_owner(&as, schema);
	run_query(psprintf("SELECT pg_catalog.max(s.entries) FROM %s.sync_state s"
					   " WHERE s.server OPERATOR(pg_catalog.=) $1"
					   " AND s.record_group OPERATOR(pg_catalog.=) $2",
					   schema_name(schema)),
			  2, types, values, true, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			entries = DatumGetInt32(d);
	}
	become_caller(&as);
	return entries;
}

/*
 * A full read of a group that returned fewer than pssync.min_directory_ratio
 * of the entries of the group's last successful full read is an ERROR:
 * wrong credentials, an ACL change, a wrong base DN or a broken filter can
 * make a directory look empty, and a sync would then turn its records into
 * exceptions.  Nothing has been written yet.
 */
void
check_directory_size(PssyncServer *server, RecordGroup group,
					 const char *base_dn, int entries)
{
	Oid			schema = state_schema();
	int			last;

	if (!OidIsValid(schema) || pssync_min_directory_ratio <= 0)
		return;
	last = last_full_read(schema, server->servername, group);
	if (last <= 0 || entries >= pssync_min_directory_ratio * last)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("LDAP server \"%s\" returned %d entries under \"%s\", fewer than pssync.min_directory_ratio (%g) of the %d entries of its last full read",
					server->servername, entries, base_dn,
					pssync_min_directory_ratio, last),
			 errdetail("Nothing was changed.  Wrong credentials, an ACL change, a wrong base DN or a broken filter can make a directory look smaller than it is."),
			 errhint("Check the server's options and the bind account's access. If the directory really shrank, a superuser may lower the ratio for one run: SET pssync.min_directory_ratio = 0.")));
}

/*
 * Remember the size of a successful full read of a group (a real run's),
 * on every watermark row of the group, or a row of its own.
 */
void
note_full_read(const char *server, RecordGroup group, int entries)
{
	Oid			schema = state_schema();
	Oid			types[4] = {NAMEOID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[4];
	AsOwner		as;

	if (!OidIsValid(schema))
		return;
	values[0] = name_datum(server);
	values[1] = CStringGetTextDatum(record_group_name(group));
	values[2] = CStringGetTextDatum("");
	values[3] = Int32GetDatum(entries);
	become_owner(&as, schema);
	run_query(psprintf("UPDATE %s.sync_state s SET entries = $4,"
					   " full_read_at = pg_catalog.now(), updated_at = pg_catalog.now()"
					   " WHERE s.server OPERATOR(pg_catalog.=) $1"
					   " AND s.record_group OPERATOR(pg_catalog.=) $2",
					   schema_name(schema)),
			  4, types, values, false, SPI_OK_UPDATE);
	if (SPI_processed == 0)
		run_query(psprintf("INSERT INTO %s.sync_state (server, record_group, base_dn,"
						   " entries, full_read_at, updated_at)"
						   " VALUES ($1, $2, $3, $4, pg_catalog.now(), pg_catalog.now())",
						   schema_name(schema)),
				  4, types, values, false, SPI_OK_INSERT);
	become_caller(&as);
}


/*
 * ldap_sync_changes: a group's changes.
 */
struct GroupChanges
{
	Oid			schema;
	PssyncServer *server;
	PssyncDirectory *dir;
	RecordGroup group;
	PowerSchoolTables *tables;
	bool		dry_run;
	MemoryContext cxt;

	List	   *base_dns;
	ChangeMechanism mechanism;
	char	   *options;		/* what the watermark holds for */
	const char *full_reason;	/* set: the group runs in full */
	List	   *next;			/* Watermark per base DN, to store */
	int			entries;		/* of the last full read */

	/* the directory's changes */
	List	   *found;			/* ChangedEntry */
	List	   *gone;			/* entry IDs */
	List	   *found_keys;		/* per found entry: its last keys, id keys */
	List	   *found_id_keys;
	DcidSet		touched;		/* by the directory's changes */
	DirectoryIndex *index;		/* the full read's, for entry_state */

	/* the runs of the group's scopes */
	DcidSet		taken;			/* by a run of this call */
	DcidSet		gone_records;	/* no longer in PowerSchool's table */
	RunMemory  *memory;			/* of the scope being run */
	HTAB	   *stored;			/* the states of the records of the scope */
	StringSet	values;			/* usernames and user IDs that matter */
	StringSet	entries_seen;	/* entries the scope's records were or are
								 * matched to */
	DcidSet		scope_dcids;	/* taken by the scope's run */
};

/*
 * What a group's watermark holds for: the server options and settings
 * that decide which entries are a group's, and what its rows are (with
 * pssync.accept_variants, the nicknames too).  Another value means a full
 * run.
 */
static char *
watermark_options(PssyncServer *server, RecordGroup group,
				  PowerSchoolTables *tables, const char *entry_id_attr)
{
	char	   *nicknames = "";

	if (pssync_accept_variants != 0 && OidIsValid(state_schema()) &&
		OidIsValid(get_relname_relid("nicknames", state_schema())))
	{
		AsOwner		as;

		become_relation_owner(&as, get_relname_relid("nicknames", state_schema()));
		for_each_row(psprintf("SELECT pg_catalog.hashtextextended(pg_catalog.string_agg("
							  "n.name OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) n.variant,"
							  " ',' ORDER BY n.name, n.variant), 0)::pg_catalog.text"
							  " FROM %s.nicknames n", schema_name(state_schema())),
					 0, NULL, NULL, true, text_row, &nicknames);
		become_caller(&as);
	}
	return psprintf("filter=%s scope=%s first=%s last=%s uid=%s id=%s/%s entry_id=%s links=%s table=%s"
					" accept=%u preferred=%s nicknames=%s bind=%s",
					server->filter,
					server->scope == LDAP_SCOPE_ONELEVEL ? "one" : "sub",
					server->first_name_attr, server->last_name_attr,
					server->uid_attr[group],
					server->id_attr[group] ? server->id_attr[group] : "",
					tables->id_column ? tables->id_column : "",
					entry_id_attr, links_in_use() ? "on" : "off",
					group == GROUP_STUDENTS ? tables->students.qualified_name :
					tables->users.qualified_name,
					pssync_accept_variants,
					tables->preferred_column ? tables->preferred_column : "",
					nicknames ? nicknames : "",
					server->bind_dn ?
					psprintf(UINT64_FORMAT,
							 hash_bytes_extended((const unsigned char *) server->bind_dn,
												 strlen(server->bind_dn), 0)) : "");
}

/*
 * Are a run's rows those ldap_sync_changes' watermark holds for: made
 * with the options and settings of the group's watermark (another
 * pssync.use_links, ID column, table or bind account gives rows of their
 * own)?  True when there is no watermark: the next ldap_sync_changes runs
 * in full.
 */
bool
run_has_watermark_options(PssyncServer *server, RecordGroup group,
						  PowerSchoolTables *tables, const char *entry_id_attr)
{
	Oid			schema = state_schema();
	char	   *stored;

	if (!OidIsValid(schema))
		return true;
	stored = watermark_value(schema, server->servername, group, "options");
	return stored == NULL ||
		strcmp(stored, watermark_options(server, group, tables, entry_id_attr)) == 0;
}

/*
 * The lock of a server's state, until the end of the transaction: one for
 * all its groups, so that sessions that take it for students and for
 * staff in opposite orders (ldap_sync_changes('all'), and a transaction
 * that syncs teachers and then students) do not deadlock.  Taken as the
 * caller, before the run connects to the directory (whose connection
 * would sit idle while the run waits), and after the caller's privileges
 * are checked.  pssync's own lock tag (SET_LOCKTAG_PSSYNC), which no SQL
 * can take.  A dry ldap_sync_changes (shared) takes it in ShareLock, for
 * as long as it takes to pin its snapshots (pin_snapshots): it waits for
 * a real run under way to end, so as to read what it committed, but dry
 * runs do not wait for one another (and a role that may only read cannot
 * queue them ahead of the real runs), and nothing waits for a dry run
 * under way.
 *
 * The tag is the server's OID, and the state is kept under its name: a
 * real run also holds the server itself (AccessShareLock, as a query
 * holds a table), so that a DROP SERVER or ALTER SERVER ... RENAME waits
 * for it to end, and the server of another OID by that name, or of
 * another name by that OID, cannot share its state rows while it runs.
 * Either may have happened between pssync_get_server() and that lock: the
 * run then fails.  The server is locked after pssync's lock is granted, so
 * that a run waiting for its turn does not hold up the owner's DDL.
 */
void
lock_server_state(PssyncServer *server, bool shared)
{
	LOCKTAG		tag;
	HeapTuple	tuple;

	SET_LOCKTAG_PSSYNC(tag, ForeignServerRelationId, server->serverid);
	(void) LockAcquire(&tag, shared ? ShareLock : ExclusiveLock, false, false);
	if (shared)
		return;

	LockDatabaseObject(ForeignServerRelationId, server->serverid, 0,
					   AccessShareLock);
	tuple = SearchSysCache1(FOREIGNSERVEROID, ObjectIdGetDatum(server->serverid));
	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("server \"%s\" was dropped by another transaction",
						server->servername)));
	if (strcmp(NameStr(((Form_pg_foreign_server) GETSTRUCT(tuple))->srvname),
			   server->servername) != 0)
	{
		char	   *now = pstrdup(NameStr(((Form_pg_foreign_server) GETSTRUCT(tuple))->srvname));

		ReleaseSysCache(tuple);
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("server \"%s\" was renamed by another transaction",
						server->servername),
				 errdetail("It is now named \"%s\".", now),
				 errhint("Run the sync again.")));
	}
	ReleaseSysCache(tuple);
}

/*
 * Give back the ShareLock lock_server_state took, once a dry
 * ldap_sync_changes has pinned its snapshots: a role that may not write
 * could otherwise hold it while the dry run lasts, or in an open
 * transaction after it.  LockRelease gives back
 * the one hold of the current resource owner in that mode, so it must be
 * the owner that took it (no subtransaction or portal in between); a
 * ShareLock the transaction held before, under another owner, stays, and
 * so does an ExclusiveLock (another lock in the lock table).
 */
void
unlock_server_state(PssyncServer *server)
{
	LOCKTAG		tag;

	SET_LOCKTAG_PSSYNC(tag, ForeignServerRelationId, server->serverid);
	(void) LockRelease(&tag, ShareLock, false);
}

typedef struct WatermarkRow
{
	char	   *base_dn;
	Watermark	wm;
	char	   *options;
} WatermarkRow;

static void
watermark_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	List	  **rows = (List **) arg;
	WatermarkRow *row = palloc0(sizeof(WatermarkRow));
	char	   *mechanism = SPI_getvalue(tuple, desc, 2);
	bool		isnull;
	Datum		d;

	row->base_dn = SPI_getvalue(tuple, desc, 1);
	if (mechanism && strcmp(mechanism, "rfc4533") == 0)
		row->wm.mechanism = CHANGES_RFC4533;
	else if (mechanism && strcmp(mechanism, "usn") == 0)
		row->wm.mechanism = CHANGES_USN;
	d = SPI_getbinval(tuple, desc, 3, &isnull);
	if (!isnull)
	{
		bytea	   *cookie = DatumGetByteaPP(d);

		row->wm.cookie_len = VARSIZE_ANY_EXHDR(cookie);
		row->wm.cookie = copy_bytes(NULL, VARDATA_ANY(cookie), row->wm.cookie_len);
	}
	d = SPI_getbinval(tuple, desc, 4, &isnull);
	if (!isnull)
		row->wm.usn = DatumGetInt64(d);
	row->wm.host = SPI_getvalue(tuple, desc, 5);
	row->wm.invocation_id = SPI_getvalue(tuple, desc, 6);
	row->options = SPI_getvalue(tuple, desc, 7);
	*rows = lappend(*rows, row);
}

static List *
read_watermarks(GroupChanges *gc)
{
	Oid			types[2] = {NAMEOID, TEXTOID};
	Datum		values[2];
	List	   *rows = NIL;
	AsOwner		as;

	values[0] = name_datum(gc->server->servername);
	values[1] = CStringGetTextDatum(record_group_name(gc->group));
	become_owner(&as, gc->schema);
	for_each_row(psprintf("SELECT s.base_dn, s.mechanism, s.cookie, s.usn, s.host,"
						  " s.invocation_id, s.options FROM %s.sync_state s"
						  " WHERE s.server OPERATOR(pg_catalog.=) $1"
						  " AND s.record_group OPERATOR(pg_catalog.=) $2",
						  schema_name(gc->schema)),
				 2, types, values, true, watermark_row, &rows);
	become_caller(&as);
	gc->entries = last_full_read(gc->schema, gc->server->servername, gc->group);
	return rows;
}

static WatermarkRow *
watermark_of(List *rows, const char *base_dn)
{
	ListCell   *cell;

	foreach(cell, rows)
	{
		WatermarkRow *row = (WatermarkRow *) lfirst(cell);

		if (directory_dn_in_scope(row->base_dn, base_dn, LDAP_SCOPE_BASE))
			return row;
	}
	return NULL;
}

/* The keys of a changed entry's last names and IDs. */
static List *
value_keys(DirectoryValues *values, bool id)
{
	List	   *keys = NIL;
	int			i;

	for (i = 0; i < values->count; i++)
	{
		if (memchr(values->values[i], '\0', values->lengths[i]))
			continue;			/* the scan files such a value by its skeleton
								 * too */
		keys = lappend(keys, id ? id_key(values->values[i], values->lengths[i]) :
					   name_skeleton(values->values[i], values->lengths[i]));
	}
	return keys;
}

typedef struct OldKeys
{
	StringSet  *last_keys;
	StringSet  *id_keys;
	bool		unknown;		/* an entry whose names could not be read */
} OldKeys;

static void
old_keys_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	OldKeys    *keys = (OldKeys *) arg;
	char	  **values;
	int			n;
	int			i;
	bool		isnull;

	(void) SPI_getbinval(tuple, desc, 1, &isnull);
	if (isnull)
	{
		keys->unknown = true;
		return;
	}
	n = row_text_array(tuple, desc, 1, &values);
	for (i = 0; i < n; i++)
		string_set_add(keys->last_keys, values[i]);
	n = row_text_array(tuple, desc, 2, &values);
	for (i = 0; i < n; i++)
		string_set_add(keys->id_keys, values[i]);
}

static void
touched_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	bool		isnull;

	dcid_set_add((DcidSet *) arg,
				 DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull)));
}

/*
 * The records the directory's changes touch: those whose last name or ID
 * has a key of a changed entry's old or new last names or IDs (but for
 * those that follow their link to another entry), and those linked to or
 * matched to a changed entry.
 */
static void
find_touched(GroupChanges *gc)
{
	StringSet	last_keys;
	StringSet	id_keys;
	StringSet	ids;
	OldKeys		old;
	ListCell   *cell;
	ListCell   *keys;
	ListCell   *id_keys_cell;
	const char **id_array;
	const char **last_array;
	const char **id_key_array;
	int			nids;
	int			nlast;
	int			nid_keys;
	Oid			types[5] = {NAMEOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[5];
	AsOwner		as;

	string_set_init(&last_keys, gc->cxt);
	string_set_init(&id_keys, gc->cxt);
	string_set_init(&ids, gc->cxt);
	forthree(cell, gc->found, keys, gc->found_keys, id_keys_cell, gc->found_id_keys)
	{
		ListCell   *k;

		string_set_add(&ids, ((ChangedEntry *) lfirst(cell))->entry_id);
		foreach(k, (List *) lfirst(keys))
			string_set_add(&last_keys, (char *) lfirst(k));
		foreach(k, (List *) lfirst(id_keys_cell))
			string_set_add(&id_keys, (char *) lfirst(k));
	}
	foreach(cell, gc->gone)
		string_set_add(&ids, (char *) lfirst(cell));
	id_array = string_set_array(&ids, &nids);
	if (nids == 0)
		return;

	/* their keys as of the watermark */
	old.last_keys = &last_keys;
	old.id_keys = &id_keys;
	old.unknown = false;
	values[0] = name_datum(gc->server->servername);
	values[1] = CStringGetTextDatum(record_group_name(gc->group));
	values[2] = text_array(id_array, nids);
	become_owner(&as, gc->schema);
	for_each_row(psprintf("SELECT e.last_keys, e.id_keys FROM %s.entry_state e"
						  " WHERE e.server OPERATOR(pg_catalog.=) $1"
						  " AND e.record_group OPERATOR(pg_catalog.=) $2"
						  " AND e.entry_id OPERATOR(pg_catalog.=) ANY ($3)",
						  schema_name(gc->schema)),
				 3, types, values, true, old_keys_row, &old);
	become_caller(&as);
	if (old.unknown)
	{
		gc->full_reason = "an entry whose names the bind account could not read changed";
		return;
	}

	last_array = string_set_array(&last_keys, &nlast);
	id_key_array = string_set_array(&id_keys, &nid_keys);
	values[3] = text_array(last_array, nlast);
	values[4] = text_array(id_key_array, nid_keys);
	become_owner(&as, gc->schema);

	/*
	 * The records that share a last name or ID with a changed entry, but
	 * those last matched through their link, which a change of another
	 * entry does not touch (see match_one): a link of the record to the
	 * entry it was matched to (also one this run made) is one it follows
	 * next time.  A broken link has no entry in record_state.
	 */
	for_each_row(psprintf("SELECT s.dcid FROM %1$s.record_state s"
						  " WHERE s.server OPERATOR(pg_catalog.=) $1"
						  " AND s.record_group OPERATOR(pg_catalog.=) $2"
						  " AND (s.last_key OPERATOR(pg_catalog.=) ANY ($4)"
						  " OR s.id_key OPERATOR(pg_catalog.=) ANY ($5))"
						  "%2$s"
						  " UNION"
						  " SELECT s.dcid FROM %1$s.record_state s"
						  " WHERE s.server OPERATOR(pg_catalog.=) $1"
						  " AND s.record_group OPERATOR(pg_catalog.=) $2"
						  " AND s.entry_id OPERATOR(pg_catalog.=) ANY ($3)"
						  " UNION"
						  " SELECT l.dcid FROM %1$s.record_links l"
						  " WHERE l.server OPERATOR(pg_catalog.=) $1"
						  " AND l.record_group OPERATOR(pg_catalog.=) $2"
						  " AND l.entry_id OPERATOR(pg_catalog.=) ANY ($3)",
						  schema_name(gc->schema),
						  links_in_use() ?
						  psprintf(" AND NOT EXISTS (SELECT 1 FROM %s.record_links k"
								   " WHERE k.server OPERATOR(pg_catalog.=) $1"
								   " AND k.record_group OPERATOR(pg_catalog.=) $2"
								   " AND k.dcid OPERATOR(pg_catalog.=) s.dcid"
								   " AND k.entry_id OPERATOR(pg_catalog.=) s.entry_id)",
								   schema_name(gc->schema)) : ""),
				 5, types, values, true, touched_row, &gc->touched);

	become_caller(&as);
}

/*
 * Start a group's part of ldap_sync_changes, under the server's lock
 * (lock_server_state): read the group's watermarks and what changed in the
 * directory since.
 * Afterwards changes_full_reason() says whether (and why) the group runs
 * in full; if so its watermark now has been read already, before the full
 * read.
 */
GroupChanges *
changes_begin(PssyncServer *server, PssyncDirectory *dir, RecordGroup group,
			  PowerSchoolTables *tables, bool dry_run)
{
	GroupChanges *gc = palloc0(sizeof(GroupChanges));
	const char *entry_id_attr = directory_entry_id_attr(dir);
	List	   *rows;
	ListCell   *cell;
	int			limit;
	instr_time	phase;

	gc->schema = state_schema();
	gc->server = server;
	gc->dir = dir;
	gc->group = group;
	gc->tables = tables;
	gc->dry_run = dry_run;
	gc->cxt = CurrentMemoryContext;
	gc->base_dns = server_base_dns(server, group);
	dcid_set_init(&gc->touched, gc->cxt);
	dcid_set_init(&gc->taken, gc->cxt);
	dcid_set_init(&gc->gone_records, gc->cxt);
	gc->options = watermark_options(server, group, tables, entry_id_attr);

	if (!OidIsValid(gc->schema))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the installed version of pssync keeps no state for ldap_sync_changes"),
				 errhint("ALTER EXTENSION pssync UPDATE;")));
	/* (sync_changes holds the server's lock, lock_server_state) */
	INSTR_TIME_SET_CURRENT(phase);
	if (!dry_run)
	{
		analyze_if_never_analyzed(get_relname_relid("record_state", gc->schema));
		analyze_if_never_analyzed(get_relname_relid("entry_state", gc->schema));
		analyze_if_never_analyzed(get_relname_relid("record_links", gc->schema));
	}
	rows = read_watermarks(gc);
	gc->mechanism = directory_change_mechanism(dir, entry_id_attr, &gc->full_reason);
	log_phase_time(&phase, "reading the watermarks");
	if (gc->mechanism == CHANGES_NONE)
		return gc;				/* full, every time: no watermark to keep */

	foreach(cell, gc->base_dns)
	{
		WatermarkRow *row = watermark_of(rows, (char *) lfirst(cell));

		if (row == NULL || row->wm.mechanism == CHANGES_NONE)
			gc->full_reason = psprintf("there is no watermark for \"%s\"",
									   (char *) lfirst(cell));
		else if (row->wm.mechanism != gc->mechanism)
			gc->full_reason = "the watermark is of another kind of directory";
		else if (row->options == NULL || strcmp(row->options, gc->options) != 0)
			gc->full_reason = "the server's options or pssync's settings changed since the watermark";
		if (gc->full_reason)
			break;
	}

	if (gc->full_reason == NULL)
	{
		const char *attrs[3] = {server->last_name_attr, server->id_attr[group], NULL};

		limit = Max(1000, gc->entries / 2);
		foreach(cell, gc->base_dns)
		{
			WatermarkRow *row = watermark_of(rows, (char *) lfirst(cell));
			DirectoryChanges *changes;
			Watermark  *next = palloc(sizeof(Watermark));
			ListCell   *e;

			changes = directory_read_changes(dir, row->base_dn, &row->wm, attrs,
											 limit - list_length(gc->found));
			if (changes->full_reason)
			{
				gc->full_reason = psprintf("%s (\"%s\")", changes->full_reason,
										   row->base_dn);
				break;
			}
			if (changes->deletions_unseen)
				ereport(pssync_am_background_worker() ? LOG : NOTICE,
						(errmsg("LDAP server \"%s\": the bind account cannot see deleted objects, so deletions under \"%s\" are not seen",
								server->servername, row->base_dn),
						 errdetail("Links to deleted entries are found broken by the next full run."),
						 errhint("Grant the bind account the right to list the Deleted Objects container, or run ldap_sync_district() weekly.")));
			*next = changes->next;
			gc->next = lappend(gc->next, next);
			foreach(e, changes->found)
			{
				ChangedEntry *entry = (ChangedEntry *) lfirst(e);

				gc->found = lappend(gc->found, entry);
				gc->found_keys = lappend(gc->found_keys,
										 value_keys(&entry->values[0], false));
				gc->found_id_keys = lappend(gc->found_id_keys,
											server->id_attr[group] ?
											value_keys(&entry->values[1], true) : NIL);
			}
			gc->gone = list_concat(gc->gone, changes->gone);
		}
		log_phase_time(&phase, "reading what changed in the directory");
		if (gc->full_reason == NULL)
		{
			find_touched(gc);
			log_phase_time(&phase, "finding the records the directory's changes touch");
		}
		elog(DEBUG1, "pssync: %s: %d entries changed, %d may have left; %ld records touched",
			 record_group_name(group), list_length(gc->found), list_length(gc->gone),
			 hash_get_num_entries(gc->touched.hash));
	}

	if (gc->full_reason)
	{
		/* the watermark now, before the full read */
		gc->next = NIL;
		foreach(cell, gc->base_dns)
		{
			Watermark  *wm = palloc(sizeof(Watermark));

			directory_watermark(dir, gc->mechanism, (char *) lfirst(cell), wm);
			gc->next = lappend(gc->next, wm);
		}
		log_phase_time(&phase, "reading the directory's watermark");
	}
	return gc;
}

const char *
changes_full_reason(GroupChanges *gc)
{
	return gc->full_reason;
}

/*
 * The full read of a group's full run: entry_state is made from it at
 * changes_end(), which frees it.  Returns whether it was kept (the first
 * of the group's, in a real run that keeps watermarks); if not, the
 * caller frees it.
 */
bool
changes_full_read(GroupChanges *gc, DirectoryIndex *index)
{
	if (gc->index != NULL || index == NULL || gc->dry_run ||
		gc->mechanism == CHANGES_NONE)
		return false;
	gc->index = index;			/* changes_end() frees it */
	return true;
}


/*
 * A scope's records: what PowerSchool changed, and what the directory's
 * changes and earlier runs (dirty) touched.
 *
 * The records are read as the caller (its privileges and row security
 * apply); pssync's own state is read as its owner, so that the state of
 * records another role's runs took counts.  The two are compared here.
 */
typedef struct StoredPrint
{
	int64		dcid;			/* the key */
	int64		fingerprint;
	uint64		usernames;		/* a hash of its usernames */
	bool		usernames_null;
	bool		dirty;
	bool		seen;			/* in the table, as the caller sees it */
	bool		excluded;		/* in it, and excluded */
	bool		teacher;		/* last matched as a teacher */
	bool		of_scope;		/* last matched as a user of the scope's type */
	bool		unmatched;		/* no match, or a variant without a link */
} StoredPrint;

typedef struct StateConflicts StateConflicts;

typedef struct Detection
{
	GroupChanges *gc;
	UserKinds	kinds;			/* the scope's types of users */
	DcidSet    *dcids;
	HTAB	   *prints;			/* StoredPrint by dcid */
	StateConflicts *conflicts;	/* the remembered conflicts of the scope */
	MemoryContext row_cxt;		/* reset after each row */
	int			changed;
	int			excluded;		/* excluded records of the scope */
} Detection;

static void add_state_conflicts(StateConflicts *sc, int64 dcid, char **values,
								int n);

/* A hash of a text[] column's elements (NULL elements count). */
static uint64
usernames_hash(HeapTuple tuple, TupleDesc desc, int column, bool *isnull)
{
	Datum		d = SPI_getbinval(tuple, desc, column, isnull);
	uint64		hash = 0;
	Datum	   *elems;
	bool	   *nulls;
	int			n = 0;
	int			i;

	/* the elements' bytes where they are: a district has 100,000 of them */
	if (!*isnull)
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		hash = hash_combine64(hash, nulls[i] ? UINT64CONST(0x9e3779b97f4a7c15) :
							  hash_bytes_extended((const unsigned char *) VARDATA_ANY(elems[i]),
												  VARSIZE_ANY_EXHDR(elems[i]),
												  i + 1));
	return hash_combine64(hash, (uint64) n);
}

/* A row of the state, as its owner reads it. */
static void
stored_print_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Detection  *d = (Detection *) arg;
	MemoryContext old = MemoryContextSwitchTo(d->row_cxt);
	bool		isnull;
	int64		dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	StoredPrint *print = hash_search(d->prints, &dcid, HASH_ENTER, NULL);
	char	  **values;
	int			n;

	print->fingerprint = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
	print->usernames = usernames_hash(tuple, desc, 3, &print->usernames_null);
	print->dirty = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull));
	print->teacher = DatumGetBool(SPI_getbinval(tuple, desc, 5, &isnull)) && !isnull;
	print->of_scope = d->kinds == USERS_ALL ||
		print->teacher == (d->kinds == USERS_TEACHERS);
	print->unmatched = DatumGetBool(SPI_getbinval(tuple, desc, 7, &isnull)) && !isnull;
	print->seen = false;
	print->excluded = false;
	if (print->of_scope)
	{
		n = row_text_array(tuple, desc, 6, &values);
		if (n > 0)
			add_state_conflicts(d->conflicts, dcid, values, n);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(d->row_cxt);
}

/* A record of the table, as the caller reads it: taken if it changed. */
static void
detection_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Detection  *d = (Detection *) arg;
	GroupChanges *gc = d->gc;
	MemoryContext old = MemoryContextSwitchTo(d->row_cxt);
	bool		isnull;
	bool		fingerprint_null;
	bool		usernames_null;
	int64		dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	int64		fingerprint = DatumGetInt64(SPI_getbinval(tuple, desc, 2,
														  &fingerprint_null));
	StoredPrint *print = hash_search(d->prints, &dcid, HASH_FIND, NULL);
	char	  **usernames;
	uint64		hash;
	int			n;
	int			i;

	/*
	 * An excluded record has no state (forget_record_state) and no rows:
	 * taken, it would be taken at every run.  It is counted, as a run that
	 * takes the records of the scope counts them.  (A state it may still
	 * have, its exclusion inserted into the list by hand, stays as it is
	 * while it is excluded: neither gone nor asked about.)
	 */
	if (DatumGetBool(SPI_getbinval(tuple, desc, 5, &isnull)))
	{
		bool		teacher_null;
		bool		teacher = DatumGetBool(SPI_getbinval(tuple, desc, 4, &teacher_null));

		if (d->kinds == USERS_ALL || teacher_null ||
			teacher == (d->kinds == USERS_TEACHERS))
			d->excluded++;
		if (print != NULL)
			print->excluded = true;
		MemoryContextSwitchTo(old);
		MemoryContextReset(d->row_cxt);
		return;
	}

	hash = usernames_hash(tuple, desc, 3, &usernames_null);

	/*
	 * a user of the other type (teachers or staff): the other scope's to
	 * take, and not counted here (a scope of one type would otherwise run
	 * in full for the other's records)
	 */
	if (d->kinds != USERS_ALL)
	{
		bool		teacher_null;
		bool		teacher = DatumGetBool(SPI_getbinval(tuple, desc, 4, &teacher_null));

		if (!teacher_null && teacher != (d->kinds == USERS_TEACHERS))
		{
			if (print != NULL)
			{
				print->seen = true;

				/*
				 * It was of this scope's type: it left the scope (the other
				 * scope matches it), and the records of this one that
				 * wanted what it held or wanted may be free of a conflict
				 * now.  It is taken for what its state says (see
				 * changes_scope_begin), and loads as no record here.
				 */
				if (print->teacher == (d->kinds == USERS_TEACHERS))
					dcid_set_add(d->dcids, dcid);
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(d->row_cxt);
			return;
		}
	}
	if (print != NULL)
	{
		print->seen = true;
		if (!print->dirty &&
			(fingerprint_null || print->fingerprint == fingerprint) &&
			(usernames_null || print->usernames_null || print->usernames == hash))
		{
			MemoryContextSwitchTo(old);
			MemoryContextReset(d->row_cxt);
			return;				/* unchanged since its run */
		}
	}
	MemoryContextSwitchTo(old);

	d->changed++;
	dcid_set_add(d->dcids, dcid);
	if (!fingerprint_null)
	{
		n = row_text_array(tuple, desc, 3, &usernames);
		for (i = 0; i < n; i++)
			string_set_add(&gc->values, usernames[i]);
	}
	MemoryContextReset(d->row_cxt);
}

/* dcids of the state that the caller did not see in the table */
typedef struct Unseen
{
	int64	   *dcids;
	int			n;
} Unseen;

static void
gone_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Unseen	   *gone = (Unseen *) arg;
	bool		isnull;

	gone->dcids[gone->n++] = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
}

/*
 * Conflicts that may be over.  A run finds a username "held by another
 * record" in any row of the table's column (a view's base table), whether
 * a run takes that row or not: a user of the other type, a row the view
 * hides, an excluded record.  Detection sees no change of a row that no
 * run of this scope takes, so each remembered conflict is asked of the
 * table again: when no other row holds its value now, its record is taken.
 * (A conflict between two records of one run, which no row holds, is taken
 * so every time: they are few, and the other record may have left.)
 */
typedef struct StateConflict
{
	int64		dcid;
	UsernameColumn column;
	const char *value;
	bool		held;
} StateConflict;

struct StateConflicts
{
	RecordGroup group;
	MemoryContext cxt;			/* where they are kept */
	StateConflict *c;			/* sorted by column and value, once read */
	int			n;
	int			allocated;
	int			first;			/* those of the column asked: first ... */
	int			end;			/* ... end - 1 */
};

static int
compare_state_conflicts(const void *a, const void *b)
{
	const StateConflict *x = (const StateConflict *) a;
	const StateConflict *y = (const StateConflict *) b;

	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return strcmp(x->value, y->value);
}

/* A record's remembered conflicts (record_state.conflicts), kept in sc->cxt */
static void
add_state_conflicts(StateConflicts *sc, int64 dcid, char **values, int n)
{
	MemoryContext old = MemoryContextSwitchTo(sc->cxt);
	int			i;

	for (i = 0; i < n && i < 2; i++)
	{
		StateConflict *c;

		if (values[i] == NULL)
			continue;
		if (sc->n == sc->allocated)
		{
			sc->allocated = Max(64, sc->allocated * 2);
			sc->c = sc->c ? repalloc(sc->c, sizeof(StateConflict) * sc->allocated) :
				palloc(sizeof(StateConflict) * sc->allocated);
		}
		c = &sc->c[sc->n++];
		c->dcid = dcid;
		c->column = sc->group == GROUP_STUDENTS ? COLUMN_STUDENT_WEB_ID :
			i == username_position(COLUMN_LOGINID) ? COLUMN_LOGINID :
			COLUMN_TEACHERLOGINID;
		c->value = pstrdup(values[i]);
		c->held = false;
	}
	MemoryContextSwitchTo(old);
}

/* A row of the table (dcid, value) that holds a value of the column asked */
static void
conflict_holder_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	StateConflicts *sc = (StateConflicts *) arg;
	bool		isnull;
	int64		holder = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	char	   *value = TextDatumGetCString(SPI_getbinval(tuple, desc, 2, &isnull));
	int			low;

	/* the first of the value, in value order */
	low = sorted_lower_bound(sc->c, sizeof(StateConflict),
							 offsetof(StateConflict, value), sc->first, sc->end,
							 value);
	for (; low < sc->end && strcmp(sc->c[low].value, value) == 0; low++)
	{
		if (sc->c[low].dcid != holder)
			sc->c[low].held = true;
	}
	pfree(value);
}

/*
 * The remembered conflicts of the records the caller sees (prints) whose
 * value no other row holds now: their records are added to dcids.  A
 * record the caller no longer sees (a graduate a view hides) has no rows
 * in a run of the caller's; should it come back, it is seen again, and
 * asked about then.
 */
static void
freed_conflicts(GroupChanges *gc, StateConflicts *sc, HTAB *prints,
				DcidSet *dcids)
{
	MemoryContext old;
	MemoryContext chunk_cxt;
	int			freed = 0;
	int			kept = 0;
	int			i;

	chunk_cxt = AllocSetContextCreate(sc->cxt, "pssync conflicts of a statement",
									  ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(sc->cxt);
	for (i = 0; i < sc->n; i++)
	{
		StoredPrint *print = hash_search(prints, &sc->c[i].dcid, HASH_FIND, NULL);

		if (print != NULL && print->seen)
			sc->c[kept++] = sc->c[i];
	}
	sc->n = kept;
	if (sc->n > 1)
		qsort(sc->c, sc->n, sizeof(StateConflict), compare_state_conflicts);

	/*
	 * the holders of each column's values, as find_conflicts() asks them,
	 * CONFLICT_VALUES_PER_STATEMENT values at a time
	 */
	for (sc->first = 0; sc->first < sc->n; sc->first = sc->end)
	{
		UsernameColumn column = sc->c[sc->first].column;
		const char **asked;
		int			nasked = 0;
		int			start;

		for (sc->end = sc->first; sc->end < sc->n && sc->c[sc->end].column == column;)
			sc->end++;
		asked = palloc(sizeof(char *) * (sc->end - sc->first));
		for (i = sc->first; i < sc->end; i++)
		{
			if (nasked == 0 || strcmp(asked[nasked - 1], sc->c[i].value) != 0)
				asked[nasked++] = sc->c[i].value;
		}
		for (start = 0; start < nasked; start += CONFLICT_VALUES_PER_STATEMENT)
		{
			MemoryContextSwitchTo(chunk_cxt);
			find_holders(column_table(gc->tables, column), username_column_name(column),
						 text_array(asked + start,
									Min(CONFLICT_VALUES_PER_STATEMENT, nasked - start)),
						 conflict_holder_row, sc);
			MemoryContextSwitchTo(sc->cxt);
			MemoryContextReset(chunk_cxt);
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(chunk_cxt);
	for (i = 0; i < sc->n; i++)
	{
		if (!sc->c[i].held)
		{
			dcid_set_add(dcids, sc->c[i].dcid);
			freed++;
		}
	}
	elog(DEBUG1, "pssync: %s: %d of %d conflicts no longer held",
		 record_group_name(gc->group), freed, sc->n);
}

/*
 * The dcids a scope's incremental run takes first: the records PowerSchool
 * added or changed, those a directory change touched, and those marked
 * dirty.  Also notes the records gone from the table: a record the caller
 * may not see is not taken for gone (whether it exists is asked of the
 * table as its owner, as links.c does).  The run's memory is started here
 * (its records are loaded with their fingerprints).  *n is their number;
 * NULL with full_reason set when so many records changed that a full run
 * is cheaper.  *excluded is the number of excluded records of the scope,
 * which are not taken.
 */
int64 *
changes_scope_begin(GroupChanges *gc, UserKinds kinds, RunMemory **memory,
					int *n, int *excluded)
{
	PowerSchoolTable *table = gc->group == GROUP_STUDENTS ?
		&gc->tables->students : &gc->tables->users;
	Oid			types[2] = {NAMEOID, TEXTOID};
	Datum		values[2];
	DcidSet		dcids;
	Detection	d;
	StateConflicts conflicts;
	HASHCTL		ctl;
	HASH_SEQ_STATUS status;
	StoredPrint *print;
	Unseen		unseen;
	Unseen		gone;
	int64	   *dcid;
	int64	   *result;
	int			total;
	AsOwner		as;

	if (!gc->dry_run)
	{
		gc->memory = new_run_memory(gc->schema, gc->server->servername,
									gc->group, gc->tables);
		gc->memory->changes_run = true;
	}
	else
		gc->memory = NULL;
	*memory = gc->memory;
	string_set_init(&gc->values, gc->cxt);
	string_set_init(&gc->entries_seen, gc->cxt);
	dcid_set_init(&dcids, gc->cxt);
	d.gc = gc;
	d.kinds = kinds;
	d.dcids = &dcids;
	d.changed = 0;
	d.excluded = 0;
	d.row_cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync detection row",
									  ALLOCSET_SMALL_SIZES);
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(StoredPrint);
	ctl.hcxt = CurrentMemoryContext;
	d.prints = hash_create("pssync stored fingerprints", 1024, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	memset(&conflicts, 0, sizeof(conflicts));
	conflicts.group = gc->group;
	conflicts.cxt = AllocSetContextCreate(CurrentMemoryContext,
										  "pssync conflicts asked again",
										  ALLOCSET_DEFAULT_SIZES);
	d.conflicts = &conflicts;

	/* what the previous runs saw: pssync's own state, as its owner */
	values[0] = name_datum(gc->server->servername);
	values[1] = CStringGetTextDatum(record_group_name(gc->group));
	become_owner(&as, gc->schema);
	for_each_row(psprintf("SELECT s.dcid, s.fingerprint, s.usernames, s.dirty,"
						  " s.record_type OPERATOR(pg_catalog.=) 'teacher', s.conflicts,"
						  " s.entry_id IS NULL OR s.variant"
						  " FROM %s.record_state s WHERE s.server OPERATOR(pg_catalog.=) $1"
						  " AND s.record_group OPERATOR(pg_catalog.=) $2",
						  schema_name(gc->schema)),
				 2, types, values, true, stored_print_row, &d);
	become_caller(&as);

	/*
	 * the records as they are now: as the caller; for a scope of one type
	 * of users, whether each is a teacher (a current schoolstaff row with
	 * staffstatus 1, as records.c tells); and whether it is excluded
	 */
	for_each_row(psprintf("SELECT t.dcid::pg_catalog.int8, %s, %s, %s, %s FROM %s t"
						  " WHERE t.dcid IS NOT NULL",
						  fingerprint_sql(gc->tables, gc->group),
						  usernames_sql(gc->group),
						  kinds == USERS_ALL ? "NULL::pg_catalog.bool" :
						  psprintf("EXISTS (SELECT 1 FROM %s ss"
								   " WHERE ss.users_dcid OPERATOR(pg_catalog.=) t.dcid"
								   " AND ss.status::pg_catalog.int4 OPERATOR(pg_catalog.=) 1"
								   " AND ss.staffstatus::pg_catalog.int4 OPERATOR(pg_catalog.=) 1)",
								   gc->tables->schoolstaff.qualified_name),
						  exclusion_test(gc->group), table->qualified_name),
				 0, NULL, NULL, true, detection_row, &d);

	/*
	 * Stored but not seen: gone, or only hidden from the caller.
	 *
	 * With pssync.accept_variants, every record of the scope the caller
	 * sees that has no match, or is matched to a variant and not linked to
	 * it (no_uid, say): a run matches it to a variant when its best
	 * suggestion has only accepted reasons and no rival.  An entry that
	 * changed may be a variant of its names (another surname part, the
	 * names swapped, a typo), or a new rival; and a suggestion's score is
	 * halved when another row of the table holds its user ID, or another
	 * record is linked to its entry, which a row no run of the scope takes
	 * (of the other type, hidden, excluded) may change unseen.  So each run
	 * takes them all.
	 */
	unseen.dcids = palloc(sizeof(int64) * Max(hash_get_num_entries(d.prints), 1));
	unseen.n = 0;
	hash_seq_init(&status, d.prints);
	while ((print = hash_seq_search(&status)) != NULL)
	{
		if (!print->seen && !print->excluded)
			unseen.dcids[unseen.n++] = print->dcid;
		else if (print->unmatched && print->of_scope && pssync_accept_variants != 0)
			dcid_set_add(&dcids, print->dcid);
	}
	if (unseen.n > 0)
	{
		Oid			type = INT8ARRAYOID;
		Datum		value = int8_array(unseen.dcids, unseen.n);
		Oid			save_userid;
		int			save_sec_context;
		int			i;

		gone.dcids = palloc(sizeof(int64) * unseen.n);
		gone.n = 0;
		GetUserIdAndSecContext(&save_userid, &save_sec_context);
		SetUserIdAndSecContext(relation_owner(table->relid),
							   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		for_each_row(psprintf("SELECT u.dcid FROM pg_catalog.unnest($1) AS u(dcid)"
							  " WHERE NOT EXISTS (SELECT 1 FROM %s t"
							  " WHERE t.dcid OPERATOR(pg_catalog.=) u.dcid)",
							  table->qualified_name),
					 1, &type, &value, true, gone_row, &gone);
		SetUserIdAndSecContext(save_userid, save_sec_context);
		for (i = 0; i < gone.n; i++)
		{
			dcid_set_add(&gc->gone_records, gone.dcids[i]);
			dcid_set_add(&dcids, gone.dcids[i]);	/* its state says what it held */
		}
	}

	/* conflicts over because a row no run of the scope takes gave its value up */
	freed_conflicts(gc, &conflicts, d.prints, &dcids);
	MemoryContextDelete(conflicts.cxt);
	hash_destroy(d.prints);
	MemoryContextDelete(d.row_cxt);
	*excluded = d.excluded;

	hash_seq_init(&status, gc->touched.hash);
	while ((dcid = hash_seq_search(&status)) != NULL)
		dcid_set_add(&dcids, *dcid);

	/* so many that a full run is cheaper */
	total = gc->entries > 0 ? gc->entries : 0;
	if (hash_get_num_entries(dcids.hash) > Max(1000, total / 2))
	{
		gc->full_reason = psprintf("%ld records changed or were touched",
								   hash_get_num_entries(dcids.hash));
		*n = 0;
		return NULL;
	}
	gc->scope_dcids = dcids;
	result = dcid_set_array(&dcids, n);

	/* what the records held and were matched to before */
	gc->stored = read_states(gc->schema, gc->server->servername, gc->group,
							 result, *n, gc->cxt);
	hash_seq_init(&status, gc->stored);
	{
		StoredState *state;

		while ((state = hash_seq_search(&status)) != NULL)
		{
			add_state_values(&gc->values, state);
			string_set_add(&gc->entries_seen, state->entry_id);
		}
	}
	elog(DEBUG1, "pssync: %s: %d records changed in PowerSchool or dirty, %d taken first",
		 record_group_name(gc->group), d.changed, *n);
	return result;
}

/*
 * The records the first ones lead to: those matched to a user ID the
 * first ones held, hold, were or are matched to, or to an entry they were
 * or are matched to.  results are the first ones' rows.
 */
int64 *
changes_scope_more(GroupChanges *gc, List *results, int *n)
{
	Oid			types[3] = {NAMEOID, TEXTOID, TEXTARRAYOID};
	Datum		params[3];
	DcidSet		more;
	ListCell   *cell;
	const char **value_array;
	const char **entry_array;
	int			nvalues;
	int			nentries;
	StoredState *state;
	HTAB	   *stored;
	HASH_SEQ_STATUS status;
	int64	   *result;
	AsOwner		as;

	foreach(cell, results)
	{
		SyncResult *row = (SyncResult *) lfirst(cell);

		if (row->check >= 0)
		{
			string_set_add(&gc->values, row->new_username);
			string_set_add(&gc->values, row->record->old_usernames[row->check]);
		}
		string_set_add(&gc->entries_seen, row->entry_id);
	}
	value_array = string_set_array(&gc->values, &nvalues);
	entry_array = string_set_array(&gc->entries_seen, &nentries);
	dcid_set_init(&more, gc->cxt);
	become_owner(&as, gc->schema);
	for_each_overlapping_record(gc->schema, gc->server->servername, gc->group,
								value_array, nvalues, true, touched_row, &more);
	if (nentries > 0)
	{
		params[0] = name_datum(gc->server->servername);
		params[1] = CStringGetTextDatum(record_group_name(gc->group));
		params[2] = text_array(entry_array, nentries);
		for_each_row(psprintf("SELECT s.dcid FROM %s.record_state s"
							  " WHERE s.server OPERATOR(pg_catalog.=) $1"
							  " AND s.record_group OPERATOR(pg_catalog.=) $2"
							  " AND s.entry_id OPERATOR(pg_catalog.=) ANY ($3)",
							  schema_name(gc->schema)),
					 3, types, params, true, touched_row, &more);
	}
	become_caller(&as);

	/* not those taken already, nor those gone */
	{
		int64	   *dcid;
		DcidSet		kept;

		dcid_set_init(&kept, gc->cxt);
		hash_seq_init(&status, more.hash);
		while ((dcid = hash_seq_search(&status)) != NULL)
		{
			if (!dcid_set_has(&gc->scope_dcids, *dcid) &&
				!dcid_set_has(&gc->gone_records, *dcid))
				dcid_set_add(&kept, *dcid);
		}
		result = dcid_set_array(&kept, n);
	}

	/* their states too */
	stored = read_states(gc->schema, gc->server->servername, gc->group,
						 result, *n, gc->cxt);
	hash_seq_init(&status, stored);
	while ((state = hash_seq_search(&status)) != NULL)
	{
		StoredState *copy = hash_search(gc->stored, &state->dcid, HASH_ENTER, NULL);

		*copy = *state;
	}
	for (int i = 0; i < *n; i++)
		dcid_set_add(&gc->scope_dcids, result[i]);
	elog(DEBUG1, "pssync: %s: %d more records taken", record_group_name(gc->group), *n);
	return result;
}

/* The entries the group's last full read found (0: not known). */
int
changes_directory_entries(GroupChanges *gc)
{
	return gc->entries > 0 ? gc->entries : 0;
}

/*
 * The rows to return of a scope's incremental run: those of the records
 * whose rows differ from their remembered rows (or that have none).
 * results are in the order of the records.
 */
List *
changes_scope_rows(GroupChanges *gc, List *results)
{
	List	   *rows = NIL;
	List	   *firsts = record_firsts(results);
	ListCell   *cell;

	foreach(cell, firsts)
	{
		ListCell   *first = (ListCell *) lfirst(cell);
		SyncRecord *rec = ((SyncResult *) lfirst(first))->record;
		StoredState *state = hash_search(gc->stored, &rec->dcid, HASH_FIND, NULL);
		ListCell   *row;

		dcid_set_add(&gc->taken, rec->dcid);
		if (state && state->outcome == rows_hash(first, results, false))
			continue;
		for_each_cell(row, results, first)
		{
			if (((SyncResult *) lfirst(row))->record != rec)
				break;
			rows = lappend(rows, lfirst(row));
		}
	}
	return rows;
}

/*
 * The records found gone from the table, as links to look at: an
 * incremental run removes the links of those that are (as a district-wide
 * run removes the links of records gone).
 */
List *
changes_gone_links(GroupChanges *gc)
{
	List	   *links = NIL;
	int64	   *dcids;
	int			n;
	int			i;

	dcids = dcid_set_array(&gc->gone_records, &n);
	for (i = 0; i < n; i++)
	{
		RecordLink *link = palloc0(sizeof(RecordLink));

		link->dcid = dcids[i];
		link->unconfirmed = true;	/* nothing to confirm of it */
		links = lappend(links, link);
	}
	return links;
}

/* A full run of one of the group's scopes took these records. */
void
changes_scope_taken(GroupChanges *gc, List *records)
{
	ListCell   *cell;

	foreach(cell, records)
		dcid_set_add(&gc->taken, ((SyncRecord *) lfirst(cell))->dcid);
}


/* entry_state */
typedef struct EntryBatch
{
	GroupChanges *gc;
	int			n;
	const char **entry_ids;
	const char **last_keys;		/* text[] literals */
	const char **id_keys;
} EntryBatch;

static void
write_entries(EntryBatch *b)
{
	GroupChanges *gc = b->gc;
	Oid			types[5] = {NAMEOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[5];
	AsOwner		as;

	if (b->n == 0)
		return;
	values[0] = name_datum(gc->server->servername);
	values[1] = CStringGetTextDatum(record_group_name(gc->group));
	values[2] = text_array(b->entry_ids, b->n);
	values[3] = text_array(b->last_keys, b->n);
	values[4] = text_array(b->id_keys, b->n);
	become_owner(&as, gc->schema);
	run_query(psprintf("INSERT INTO %s.entry_state AS e (server, record_group, entry_id,"
					   " last_keys, id_keys)"
					   " SELECT $1, $2, v.entry_id, v.last_keys::pg_catalog.text[],"
					   " v.id_keys::pg_catalog.text[]"
					   " FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4),"
					   " pg_catalog.unnest($5)) AS v(entry_id, last_keys, id_keys)"
					   " ON CONFLICT (server, record_group, entry_id) DO UPDATE SET"
					   " last_keys = excluded.last_keys, id_keys = excluded.id_keys",
					   schema_name(gc->schema)),
			  5, types, values, false, SPI_OK_INSERT);
	become_caller(&as);
	b->n = 0;
}

static const char *
keys_literal(List *keys)
{
	const char **values = palloc(sizeof(char *) * Max(list_length(keys), 1));
	ListCell   *cell;
	int			n = 0;

	foreach(cell, keys)
		values[n++] = (const char *) lfirst(cell);
	return text_array_literal(values, n);
}

static void
add_entry(EntryBatch *b, const char *entry_id, List *last_keys, List *id_keys)
{
	if (entry_id == NULL)
		return;
	b->entry_ids[b->n] = entry_id;
	b->last_keys[b->n] = keys_literal(last_keys);
	b->id_keys[b->n] = keys_literal(id_keys);
	b->n++;
	if (b->n == STATES_PER_STATEMENT)
		write_entries(b);
}

static void
index_entry_state(void *arg, const char *entry_id, List *last_keys,
				  List *id_keys)
{
	add_entry((EntryBatch *) arg, entry_id, last_keys, id_keys);
}

static void
batch_entries_init(EntryBatch *b, GroupChanges *gc)
{
	b->gc = gc;
	b->n = 0;
	b->entry_ids = palloc(sizeof(char *) * STATES_PER_STATEMENT);
	b->last_keys = palloc(sizeof(char *) * STATES_PER_STATEMENT);
	b->id_keys = palloc(sizeof(char *) * STATES_PER_STATEMENT);
}

static void
delete_entries(GroupChanges *gc, const char **ids, int n, bool all)
{
	Oid			types[3] = {NAMEOID, TEXTOID, TEXTARRAYOID};
	Datum		values[3];
	AsOwner		as;

	if (!all && n == 0)
		return;
	values[0] = name_datum(gc->server->servername);
	values[1] = CStringGetTextDatum(record_group_name(gc->group));
	values[2] = text_array(ids, n);
	become_owner(&as, gc->schema);
	run_query(psprintf("DELETE FROM %s.entry_state e"
					   " WHERE e.server OPERATOR(pg_catalog.=) $1"
					   " AND e.record_group OPERATOR(pg_catalog.=) $2%s",
					   schema_name(gc->schema),
					   all ? "" : " AND e.entry_id OPERATOR(pg_catalog.=) ANY ($3)"),
			  all ? 2 : 3, types, values, false, SPI_OK_DELETE);
	become_caller(&as);
}

static void
store_watermarks(GroupChanges *gc, bool keep)
{
	Oid			types[10] = {NAMEOID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID, INT8OID,
	TEXTOID, TEXTOID, TEXTOID, INT4OID};
	ListCell   *dn_cell;
	ListCell   *wm_cell;
	AsOwner		as;

	become_owner(&as, gc->schema);
	/* base DNs no longer of the group go */
	{
		const char **dns = palloc(sizeof(char *) * Max(list_length(gc->base_dns), 1));
		Datum		values[3];
		int			n = 0;

		foreach(dn_cell, gc->base_dns)
			dns[n++] = (const char *) lfirst(dn_cell);
		values[0] = name_datum(gc->server->servername);
		values[1] = CStringGetTextDatum(record_group_name(gc->group));
		values[2] = text_array(dns, n);
		run_query(psprintf("DELETE FROM %s.sync_state s"
						   " WHERE s.server OPERATOR(pg_catalog.=) $1"
						   " AND s.record_group OPERATOR(pg_catalog.=) $2"
						   " AND NOT s.base_dn OPERATOR(pg_catalog.=) ANY ($3)"
						   " AND s.base_dn OPERATOR(pg_catalog.<>) ''",
						   schema_name(gc->schema)),
				  3, (Oid[]) {NAMEOID, TEXTOID, TEXTARRAYOID}, values, false,
				  SPI_OK_DELETE);
	}
	forboth(dn_cell, gc->base_dns, wm_cell, gc->next)
	{
		Watermark  *wm = (Watermark *) lfirst(wm_cell);
		Datum		values[10];
		char		nulls[10];
		bytea	   *cookie = NULL;

		memset(nulls, ' ', sizeof(nulls));
		values[0] = name_datum(gc->server->servername);
		values[1] = CStringGetTextDatum(record_group_name(gc->group));
		values[2] = CStringGetTextDatum((char *) lfirst(dn_cell));
		values[3] = CStringGetTextDatum(wm->mechanism == CHANGES_RFC4533 ? "rfc4533" : "usn");
		if (!keep || wm->mechanism == CHANGES_NONE)
			nulls[3] = 'n';
		if (wm->cookie)
		{
			cookie = palloc(VARHDRSZ + wm->cookie_len);
			SET_VARSIZE(cookie, VARHDRSZ + wm->cookie_len);
			memcpy(VARDATA(cookie), wm->cookie, wm->cookie_len);
			values[4] = PointerGetDatum(cookie);
		}
		else
			nulls[4] = 'n';
		values[5] = Int64GetDatum(wm->usn);
		if (wm->mechanism != CHANGES_USN)
			nulls[5] = 'n';
		values[6] = wm->host ? CStringGetTextDatum(wm->host) : (Datum) 0;
		if (wm->host == NULL)
			nulls[6] = 'n';
		values[7] = wm->invocation_id ? CStringGetTextDatum(wm->invocation_id) : (Datum) 0;
		if (wm->invocation_id == NULL)
			nulls[7] = 'n';
		values[8] = CStringGetTextDatum(gc->options);
		values[9] = Int32GetDatum(0);
		nulls[9] = 'n';
		run_query_nulls(psprintf("INSERT INTO %s.sync_state AS s (server, record_group, base_dn,"
								 " mechanism, cookie, usn, host, invocation_id, options, updated_at)"
								 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, pg_catalog.now())"
								 " ON CONFLICT (server, record_group, base_dn) DO UPDATE SET"
								 " mechanism = excluded.mechanism, cookie = excluded.cookie,"
								 " usn = excluded.usn, host = excluded.host,"
								 " invocation_id = excluded.invocation_id,"
								 " options = excluded.options, updated_at = pg_catalog.now()",
								 schema_name(gc->schema)),
						10, types, values, nulls, false, SPI_OK_INSERT);
	}
	/* rows of the full read's size alone, with no base DN */
	{
		Datum		values[2];

		values[0] = name_datum(gc->server->servername);
		values[1] = CStringGetTextDatum(record_group_name(gc->group));
		run_query(psprintf("UPDATE %1$s.sync_state s SET entries = e.entries,"
						   " full_read_at = e.full_read_at"
						   " FROM (SELECT pg_catalog.max(x.entries) AS entries,"
						   " pg_catalog.max(x.full_read_at) AS full_read_at FROM %1$s.sync_state x"
						   " WHERE x.server OPERATOR(pg_catalog.=) $1"
						   " AND x.record_group OPERATOR(pg_catalog.=) $2) e"
						   " WHERE s.server OPERATOR(pg_catalog.=) $1"
						   " AND s.record_group OPERATOR(pg_catalog.=) $2",
						   schema_name(gc->schema)),
				  2, types, values, false, SPI_OK_UPDATE);
		run_query(psprintf("DELETE FROM %s.sync_state s"
						   " WHERE s.server OPERATOR(pg_catalog.=) $1"
						   " AND s.record_group OPERATOR(pg_catalog.=) $2"
						   " AND s.base_dn OPERATOR(pg_catalog.=) ''"
						   " AND EXISTS (SELECT 1 FROM %s.sync_state o"
						   " WHERE o.server OPERATOR(pg_catalog.=) $1"
						   " AND o.record_group OPERATOR(pg_catalog.=) $2"
						   " AND o.base_dn OPERATOR(pg_catalog.<>) '')",
						   schema_name(gc->schema), schema_name(gc->schema)),
				  2, types, values, false, SPI_OK_DELETE);
	}
	become_caller(&as);
}

/*
 * The end of a group's part of ldap_sync_changes (a real run): the
 * watermarks, the entries' keys as of them, the records gone from the
 * table forgotten, and the records a change touched that no run of this
 * call took marked dirty.  False for a dry run, or a directory that keeps
 * no watermark: nothing to store.
 */
static bool end_group(GroupChanges *gc);

/*
 * The end of a group's ldap_sync_changes: its watermarks and what it
 * learned are stored (end_group), and the full read's index is freed.
 */
void
changes_end(GroupChanges *gc)
{
	instr_time	phase;

	INSTR_TIME_SET_CURRENT(phase);
	if (end_group(gc))
		log_phase_time(&phase, "keeping the watermark and the entries' keys");
	if (gc->index)
		directory_index_free(gc->index);
	gc->index = NULL;
}

static bool
end_group(GroupChanges *gc)
{
	EntryBatch	batch;
	HASH_SEQ_STATUS status;
	int64	   *dcid;
	DcidSet		untaken;
	int64	   *dcids;
	int			n;

	if (gc->dry_run || gc->mechanism == CHANGES_NONE)
		return false;

	batch_entries_init(&batch, gc);
	if (gc->full_reason)
	{
		bool		complete = false;
		ListCell   *cell;

		/* the directory gave no watermark before the full read */
		foreach(cell, gc->next)
		{
			Watermark  *wm = (Watermark *) lfirst(cell);

			if (wm->mechanism == CHANGES_NONE)
			{
				ereport(pssync_am_background_worker() ? LOG : NOTICE,
						(errmsg("ldap_sync_changes keeps no watermark for %s on server \"%s\": %s",
								record_group_name(gc->group), gc->server->servername,
								wm->missing ? wm->missing : "the directory gave none"),
						 errdetail("Every ldap_sync_changes of them is a full run."),
						 gc->mechanism == CHANGES_RFC4533 ?
						 errhint("The provider needs RFC 4533 Content Synchronization: OpenLDAP's syncprov overlay with a session log, or 389-DS's Content Synchronization plug-in with syncrepl-allow-openldap on.") : 0));
				store_watermarks(gc, false);
				return true;
			}
		}

		delete_entries(gc, NULL, 0, true);
		if (gc->index)
			complete = directory_index_for_each(gc->index, index_entry_state, &batch);
		write_entries(&batch);
		if (!complete)
		{
			/* names the bind account may search but not read: no watermark */
			ereport(pssync_am_background_worker() ? LOG : NOTICE,
					(errmsg("ldap_sync_changes keeps no watermark for %s on server \"%s\": some entries' permanent IDs, last names or IDs cannot be read",
							record_group_name(gc->group), gc->server->servername),
					 errdetail("Every ldap_sync_changes of them is a full run.")));
			store_watermarks(gc, false);
			return true;
		}
	}
	else
	{
		ListCell   *e;
		ListCell   *k;
		ListCell   *ik;
		StringSet	found;
		const char **gone;
		int			ngone = 0;

		string_set_init(&found, gc->cxt);
		forthree(e, gc->found, k, gc->found_keys, ik, gc->found_id_keys)
		{
			ChangedEntry *entry = (ChangedEntry *) lfirst(e);

			string_set_add(&found, entry->entry_id);
			add_entry(&batch, entry->entry_id, (List *) lfirst(k), (List *) lfirst(ik));
		}
		write_entries(&batch);
		gone = palloc(sizeof(char *) * Max(list_length(gc->gone), 1));
		foreach(e, gc->gone)
		{
			char	   *id = (char *) lfirst(e);

			if (hash_search(found.hash, &id, HASH_FIND, NULL) == NULL)
				gone[ngone++] = id;
		}
		delete_entries(gc, gone, ngone, false);
	}
	store_watermarks(gc, true);

	/* forget the records gone from the table */
	dcids = dcid_set_array(&gc->gone_records, &n);
	if (n > 0)
	{
		Oid			types[3] = {NAMEOID, TEXTOID, INT8ARRAYOID};
		Datum		values[3];
		AsOwner		as;

		values[0] = name_datum(gc->server->servername);
		values[1] = CStringGetTextDatum(record_group_name(gc->group));
		values[2] = int8_array(dcids, n);
		become_owner(&as, gc->schema);
		run_query(psprintf("DELETE FROM %s.record_state s"
						   " WHERE s.server OPERATOR(pg_catalog.=) $1"
						   " AND s.record_group OPERATOR(pg_catalog.=) $2"
						   " AND s.dcid OPERATOR(pg_catalog.=) ANY ($3)",
						   schema_name(gc->schema)),
				  3, types, values, false, SPI_OK_DELETE);
		become_caller(&as);
	}

	/*
	 * A full run read the directory as of the new watermark for the
	 * records it took; the others (of a type no run of this call took, or
	 * that the caller may not see) may have missed a change: the next run
	 * takes them.
	 */
	if (gc->full_reason)
	{
		Oid			types[3] = {NAMEOID, TEXTOID, INT8ARRAYOID};
		Datum		values[3];
		AsOwner		as;

		dcids = dcid_set_array(&gc->taken, &n);
		values[0] = name_datum(gc->server->servername);
		values[1] = CStringGetTextDatum(record_group_name(gc->group));
		values[2] = int8_array(dcids, n);
		become_owner(&as, gc->schema);
		run_query(psprintf("UPDATE %1$s.record_state s SET dirty = true"
						   " FROM (SELECT r.dcid FROM %1$s.record_state r"
						   " WHERE r.server OPERATOR(pg_catalog.=) $1"
						   " AND r.record_group OPERATOR(pg_catalog.=) $2"
						   " AND NOT r.dirty"
						   " EXCEPT SELECT pg_catalog.unnest($3)) d(dcid)"
						   " WHERE s.server OPERATOR(pg_catalog.=) $1"
						   " AND s.record_group OPERATOR(pg_catalog.=) $2"
						   " AND s.dcid OPERATOR(pg_catalog.=) d.dcid",
						   schema_name(gc->schema)),
				  3, types, values, false, SPI_OK_UPDATE);
		become_caller(&as);
	}

	/* touched, and of a type no run of this call took */
	dcid_set_init(&untaken, gc->cxt);
	hash_seq_init(&status, gc->touched.hash);
	while ((dcid = hash_seq_search(&status)) != NULL)
	{
		if (!dcid_set_has(&gc->taken, *dcid) && !dcid_set_has(&gc->gone_records, *dcid))
			dcid_set_add(&untaken, *dcid);
	}
	dcids = dcid_set_array(&untaken, &n);
	mark_records_dirty(gc->server->servername, gc->group, dcids, n);
	return true;
}
