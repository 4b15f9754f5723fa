/*-------------------------------------------------------------------------
 *
 * links.c
 *		  Links: each record's directory entry, remembered by the entry's
 *		  permanent ID (pssync 2.0).
 *
 * Once a record is matched to its entry (by ID attribute, by names, or by
 * a person with ldap_assign), and its usernames end updated or unchanged,
 * a real run links them: pssync.record_links keeps the entry's permanent
 * ID (entryUUID, objectGUID), its DN and user ID.  Later runs match the
 * record through the link first, whatever either side's names have
 * become; a link whose entry is gone is "link_broken", and kept until a
 * person relinks or unlinks the record.  One link per record and server;
 * an entry is linked to at most one record of its group per server.
 *
 * Links are read and written as the owner of the extension's tables, in
 * the caller's transaction, as the history is (history.c).  A link's
 * run_id is the latest run that made it or matched through it.  A
 * district-wide run of a record type matches through every link of that
 * type but the few it says otherwise about; rather than write each of
 * them every night, it records that it confirmed the type
 * (sync_run.links_confirmed) and marks the links it did not match through
 * (unconfirmed).  The pssync.links view works the run_id out from both.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "pssync.h"

/* The extension's schema when the installed version keeps links, else InvalidOid. */
static Oid
links_schema(void)
{
	return pssync_schema_with("record_links");
}

/* Are links read and written: pssync.use_links, and a version that has them? */
bool
links_in_use(void)
{
	return pssync_use_links && OidIsValid(links_schema());
}

/* the links (or entry IDs) one statement writes (or asks about) */
#define LINKS_PER_STATEMENT 2000

static RecordType
record_type_of(const char *name)
{
	if (strcmp(name, "teacher") == 0)
		return RECORD_TEACHER;
	if (strcmp(name, "staff") == 0)
		return RECORD_STAFF;
	return RECORD_STUDENT;
}

/*
 * Run statements as the owner of the links table, as history.c runs its
 * own; an error in between restores the caller's identity with the rest of
 * the (sub)transaction.
 */
static void
become_owner(AsOwner *as, Oid schema)
{
	become_relation_owner(as, get_relname_relid("record_links", schema));
}


/*
 * What a link keeps of its entry's DN and user ID as last seen, to tell
 * whether they changed: a 64-bit hash of both (a NULL user ID differs from
 * every other).
 */
static uint64
seen_hash(const char *dn, int dn_len, const char *user_id, int user_id_len)
{
	uint64		h = hash_bytes_extended((const unsigned char *) dn, dn_len, 0);

	return hash_combine64(h, user_id ?
						  hash_bytes_extended((const unsigned char *) user_id,
											  user_id_len, 1) :
						  UINT64CONST(0x9e3779b97f4a7c15));
}

/* How a link was made, as one of the names the table holds. */
static const char *
linked_by_name(const char *name, Arena *arena)
{
	static const char *const names[] = {"name", "id", "assign"};
	size_t		i;

	for (i = 0; i < lengthof(names); i++)
	{
		if (strcmp(name, names[i]) == 0)
			return names[i];
	}
	return arena_strdup(arena, name);
}

/*
 * Reading the links of the records of a sync.
 */
typedef struct RecordByDcid
{
	int64		dcid;
	SyncRecord *record;
} RecordByDcid;

typedef struct AttachState
{
	HTAB	   *records;
	Arena	   *arena;
	Arena	   *ids;			/* where the entry IDs go */
	List	   *unloaded;		/* the links of records not loaded */
	MemoryContext list_cxt;		/* where that list lives */
} AttachState;

static void
link_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	AttachState *state = (AttachState *) arg;
	bool		isnull;
	int64		dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	RecordByDcid *found = hash_search(state->records, &dcid, HASH_FIND, NULL);
	RecordLink *link = arena_alloc0(state->arena, sizeof(RecordLink));
	text	   *type = DatumGetTextPP(SPI_getbinval(tuple, desc, 2, &isnull));

	link->dcid = dcid;
	link->type = record_type_of(text_to_cstring(type));
	link->unconfirmed = DatumGetBool(SPI_getbinval(tuple, desc, 7, &isnull));
	if (found == NULL)
	{
		/* what the run needs of it: its record, type and confirmation */
		MemoryContext old = MemoryContextSwitchTo(state->list_cxt);

		state->unloaded = lappend(state->unloaded, link);
		MemoryContextSwitchTo(old);
		return;
	}
	link->entry_id = row_text(tuple, desc, 3, state->ids);
	{
		text	   *dn = DatumGetTextPP(SPI_getbinval(tuple, desc, 4, &isnull));
		Datum		user_id = SPI_getbinval(tuple, desc, 5, &isnull);

		link->seen = seen_hash(VARDATA_ANY(dn), VARSIZE_ANY_EXHDR(dn),
							   isnull ? NULL : VARDATA_ANY(DatumGetTextPP(user_id)),
							   isnull ? 0 : VARSIZE_ANY_EXHDR(DatumGetTextPP(user_id)));
	}
	link->linked_by = linked_by_name(TextDatumGetCString(SPI_getbinval(tuple, desc, 6, &isnull)),
									 state->arena);
	found->record->link = link;
}

/*
 * Attach to each record its link on the server, if it has one (and links
 * are in use).  With every_link (a district-wide run, which loads most of
 * the group's records), every link of the group is read at once, rather
 * than looked up by dcid; the links of the records that were not loaded
 * are returned (with their dcid, type and confirmation), for write_links.
 * The links are put in arena, their entry IDs in ids (see
 * match_records_with), or in arena when ids is NULL.
 */
List *
attach_links(const char *server, RecordGroup group, List *records,
			 bool every_link, Arena *arena, Arena *ids)
{
	Oid			schema = links_schema();
	Oid			types[3] = {NAMEOID, TEXTOID, INT8ARRAYOID};
	Datum		values[3];
	AttachState state;
	HASHCTL		ctl;
	ListCell   *cell;
	int64	   *dcids;
	int			n = 0;
	AsOwner		as;
	MemoryContext temp;
	MemoryContext old;

	if (!pssync_use_links || !OidIsValid(schema) ||
		(records == NIL && !every_link))
		return NIL;

	/* the list of unloaded links in the caller's context, the rest in temp */
	state.list_cxt = CurrentMemoryContext;
	temp = AllocSetContextCreate(CurrentMemoryContext, "pssync reading links",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(temp);
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(RecordByDcid);
	ctl.hcxt = temp;
	state.records = hash_create("pssync records by dcid", list_length(records),
								&ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	state.arena = arena;
	state.ids = ids ? ids : arena;
	state.unloaded = NIL;
	dcids = palloc(sizeof(int64) * Max(list_length(records), 1));
	foreach(cell, records)
	{
		SyncRecord *rec = (SyncRecord *) lfirst(cell);
		RecordByDcid *entry = hash_search(state.records, &rec->dcid, HASH_ENTER, NULL);

		entry->record = rec;
		dcids[n++] = rec->dcid;
	}

	values[0] = DirectFunctionCall1(namein, CStringGetDatum(server));
	values[1] = CStringGetTextDatum(record_group_name(group));
	values[2] = int8_array(dcids, n);
	become_owner(&as, schema);
	for_each_row(psprintf("SELECT l.dcid, l.record_type, l.entry_id, l.dn, l.user_id,"
						  " l.linked_by, l.unconfirmed FROM %s.record_links l"
						  " WHERE l.server OPERATOR(pg_catalog.=) $1"
						  " AND l.record_group OPERATOR(pg_catalog.=) $2%s",
						  quote_identifier(get_namespace_name(schema)),
						  every_link ? "" : " AND l.dcid OPERATOR(pg_catalog.=) ANY ($3)"),
				 3, types, values, false, link_row, &state);
	become_caller(&as);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(temp);
	return state.unloaded;
}


/*
 * An entry linked to another record: a match onto it is a conflict for
 * this record, which never takes the entry from the other.
 */
typedef struct LinkedEntry
{
	char	   *entry_id;
	int64		dcid;
} LinkedEntry;

static void
linked_entry_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	List	  **found = (List **) arg;
	LinkedEntry *entry = palloc(sizeof(LinkedEntry));
	bool		isnull;
	text	   *t = DatumGetTextPP(SPI_getbinval(tuple, desc, 1, &isnull));

	entry->entry_id = text_to_cstring(t);
	entry->dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
	*found = lappend(*found, entry);
}

static int
compare_linked_entries(const ListCell *a, const ListCell *b)
{
	return strcmp(((LinkedEntry *) lfirst(a))->entry_id,
				  ((LinkedEntry *) lfirst(b))->entry_id);
}

/* The record an entry is linked to, in a sorted list of them, or -1. */
static int64
linked_record(List *sorted, const char *entry_id)
{
	int			low = 0;
	int			high = list_length(sorted) - 1;

	while (low <= high)
	{
		int			mid = (low + high) / 2;
		LinkedEntry *e = (LinkedEntry *) list_nth(sorted, mid);
		int			cmp = strcmp(entry_id, e->entry_id);

		if (cmp == 0)
			return e->dcid;
		if (cmp < 0)
			high = mid - 1;
		else
			low = mid + 1;
	}
	return -1;
}

static void find_linked_elsewhere(Oid schema, const char *server,
								  RecordGroup group, List *results,
								  const char **ids, int n);

/*
 * The links of the group on the server to any of the entries with the
 * permanent IDs ids, sorted by entry ID (for linked_record).
 */
static List *
read_linked_entries(Oid schema, const char *server, RecordGroup group,
					const char **ids, int n)
{
	Oid			types[3] = {NAMEOID, TEXTOID, TEXTARRAYOID};
	Datum		values[3];
	List	   *linked = NIL;
	AsOwner		as;
	char	   *sql;
	MemoryContext chunk_cxt;
	int			start;

	values[0] = DirectFunctionCall1(namein, CStringGetDatum(server));
	values[1] = CStringGetTextDatum(record_group_name(group));
	sql = psprintf("SELECT l.entry_id, l.dcid FROM %s.record_links l"
				   " WHERE l.server OPERATOR(pg_catalog.=) $1"
				   " AND l.record_group OPERATOR(pg_catalog.=) $2"
				   " AND l.entry_id OPERATOR(pg_catalog.=) ANY ($3)",
				   quote_identifier(get_namespace_name(schema)));

	/* LINKS_PER_STATEMENT IDs at a time, each array dropped after its query */
	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync entry IDs asked",
									  ALLOCSET_DEFAULT_SIZES);
	become_owner(&as, schema);
	for (start = 0; start < n; start += LINKS_PER_STATEMENT)
	{
		MemoryContext old = MemoryContextSwitchTo(chunk_cxt);

		values[2] = text_array(ids + start, Min(LINKS_PER_STATEMENT, n - start));
		MemoryContextSwitchTo(old);
		for_each_row(sql, 3, types, values, true, linked_entry_row, &linked);
		MemoryContextReset(chunk_cxt);
	}
	become_caller(&as);
	MemoryContextDelete(chunk_cxt);
	list_sort(linked, compare_linked_entries);
	return linked;
}

/*
 * The record each entry (by permanent ID; NULL: none) is linked to on the
 * server, or -1: for suggestions, which list an entry linked to another
 * record lower.
 */
void
linked_records(const char *server, RecordGroup group, const char **entry_ids,
			   int n, int64 *dcids)
{
	Oid			schema = links_schema();
	const char **ids = palloc(sizeof(char *) * Max(n, 1));
	List	   *linked = NIL;
	int			nids = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		dcids[i] = -1;
		if (entry_ids[i])
			ids[nids++] = entry_ids[i];
	}
	if (!pssync_use_links || !OidIsValid(schema) || nids == 0)
		return;
	linked = read_linked_entries(schema, server, group, ids, nids);
	for (i = 0; i < n && linked != NIL; i++)
	{
		if (entry_ids[i])
			dcids[i] = linked_record(linked, entry_ids[i]);
	}
}

/*
 * Rows whose exact entry (found by ID attribute, by names, or chosen with
 * ldap_assign) is linked to another record of the group on the server
 * become conflicts.  Called before the changes are checked and written.
 */
void
mark_linked_elsewhere(const char *server, RecordGroup group, List *results)
{
	Oid			schema = links_schema();
	const char **ids;
	ListCell   *cell;
	int			n = 0;
	MemoryContext temp;
	MemoryContext old;

	if (!pssync_use_links || !OidIsValid(schema) || results == NIL)
		return;

	/* what is read and built here is dropped at the end */
	temp = AllocSetContextCreate(CurrentMemoryContext, "pssync linked entries",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(temp);
	ids = palloc(sizeof(char *) * list_length(results));
	foreach(cell, results)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);

		if (result->entry_id && result->check <= 0 &&
			(result->matched_by == NULL || strcmp(result->matched_by, "link") != 0))
			ids[n++] = result->entry_id;
	}
	if (n > 0)
		find_linked_elsewhere(schema, server, group, results, ids, n);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(temp);
}

/* The part of mark_linked_elsewhere() that asks the table. */
static void
find_linked_elsewhere(Oid schema, const char *server, RecordGroup group,
					  List *results, const char **ids, int n)
{
	List	   *linked;
	ListCell   *cell;

	linked = read_linked_entries(schema, server, group, ids, n);
	if (linked == NIL)
		return;

	foreach(cell, results)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);
		int64		holder;

		if (result->entry_id == NULL || result->check < 0 ||
			(result->matched_by && strcmp(result->matched_by, "link") == 0))
			continue;
		holder = linked_record(linked, result->entry_id);
		if (holder >= 0 && holder != result->record->dcid)
		{
			result->status = STATUS_CONFLICT;
			result->linked_elsewhere = true;
		}
	}
}


/*
 * Writing the links of a run.
 */
/*
 * The links a run makes or changes, of one kind: each with its row (a
 * record's first) and how it is linked.  Only pointers are kept: the
 * statements' arrays are made a chunk at a time (write_batch).
 */
typedef struct LinkBatch
{
	int			n;
	int			allocated;
	SyncResult **results;
	const char **linked_by;
	int64	   *missed;			/* an INSERT's chunks that did not take every
								 * row: their records' dcids */
	int			nmissed;
} LinkBatch;

static void
batch_add(LinkBatch *b, SyncResult *result, const char *linked_by)
{
	if (b->n == b->allocated)
	{
		b->allocated = Max(256, b->allocated * 2);
		b->results = b->results ?
			repalloc_huge(b->results, sizeof(SyncResult *) * b->allocated) :
			palloc_extended(sizeof(SyncResult *) * b->allocated, MCXT_ALLOC_HUGE);
		b->linked_by = b->linked_by ?
			repalloc_huge(b->linked_by, sizeof(char *) * b->allocated) :
			palloc_extended(sizeof(char *) * b->allocated, MCXT_ALLOC_HUGE);
	}
	b->results[b->n] = result;
	b->linked_by[b->n] = linked_by;
	b->n++;
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Is an entry ID in a sorted array of them more than once? */
static bool
wanted_twice(const char **sorted, int n, const char *entry_id)
{
	const char **found = bsearch(&entry_id, sorted, n, sizeof(char *), compare_strings);

	if (found == NULL)
		return false;
	return (found > sorted && strcmp(found[-1], entry_id) == 0) ||
		(found < sorted + n - 1 && strcmp(found[1], entry_id) == 0);
}

/* Did a record's usernames all end updated or unchanged? */
static bool
record_settled(ListCell *first, List *results)
{
	ListCell   *cell;
	SyncRecord *rec = ((SyncResult *) lfirst(first))->record;

	for_each_cell(cell, results, first)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);

		if (result->record != rec)
			break;
		if (result->status != STATUS_UPDATED && result->status != STATUS_UNCHANGED)
			return false;
	}
	return true;
}


/*
 * Run a statement over a batch of links, LINKS_PER_STATEMENT at a time:
 * each statement takes the links' columns as arrays ($5 to $10), made in a
 * memory context of their own and dropped after it.
 */
static void
write_batch(Oid schema, LinkRun *run, LinkBatch *b, const char *statement,
			int expected)
{
	Oid			types[10] = {NAMEOID, TEXTOID, INT8OID, NAMEOID, INT8ARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[10];
	char		nulls[10];
	char	   *sql;
	MemoryContext chunk_cxt;
	MemoryContext old;
	int			start;

	if (b->n == 0)
		return;
	memset(nulls, ' ', sizeof(nulls));
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(run->server));
	values[1] = CStringGetTextDatum(record_group_name(run->group));
	values[2] = Int64GetDatum(run->run_id);
	if (run->run_id == 0)
		nulls[2] = 'n';
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(run->role));
	sql = psprintf(statement, quote_identifier(get_namespace_name(schema)));

	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync links written",
									  ALLOCSET_DEFAULT_SIZES);
	for (start = 0; start < b->n; start += LINKS_PER_STATEMENT)
	{
		int			count = Min(LINKS_PER_STATEMENT, b->n - start);
		int64	   *dcids;
		const char **columns[5];
		int			i;
		int			c;

		old = MemoryContextSwitchTo(chunk_cxt);
		dcids = palloc(sizeof(int64) * count);
		for (c = 0; c < 5; c++)
			columns[c] = palloc(sizeof(char *) * count);
		for (i = 0; i < count; i++)
		{
			SyncResult *result = b->results[start + i];

			dcids[i] = result->record->dcid;
			columns[0][i] = record_type_name(result->record->type);
			columns[1][i] = result->entry_id;
			columns[2][i] = result->dn;
			columns[3][i] = result->status == STATUS_NO_UID ? NULL : result->new_username;
			columns[4][i] = b->linked_by[start + i];
		}
		values[4] = int8_array(dcids, count);
		for (c = 0; c < 5; c++)
			values[5 + c] = text_array(columns[c], count);
		run_query_nulls(sql, 10, types, values, nulls, false, expected);
		MemoryContextSwitchTo(old);
		if (expected == SPI_OK_INSERT && SPI_processed < (uint64) count)
		{
			/* (in the caller's context, which keeps b) */
			b->missed = b->missed ?
				repalloc_huge(b->missed, sizeof(int64) * (b->nmissed + count)) :
				palloc_extended(sizeof(int64) * count, MCXT_ALLOC_HUGE);
			memcpy(b->missed + b->nmissed, dcids, sizeof(int64) * count);
			b->nmissed += count;
		}
		MemoryContextReset(chunk_cxt);
	}
	MemoryContextDelete(chunk_cxt);
}

/*
 * A district-wide run removes the links of its group whose record is gone.
 * Only the links of records it did not load can be: whether those exist is
 * asked of the table as its owner (the caller may not see every row).
 */
static void
remove_dead_links(Oid schema, LinkRun *run)
{
	Oid			types[3] = {NAMEOID, TEXTOID, INT8ARRAYOID};
	Datum		values[3];
	int64	   *unloaded = palloc(sizeof(int64) * Max(list_length(run->unloaded), 1));
	DcidList	dead;
	ListCell   *cell;
	int			n = 0;
	AsOwner		as;
	Oid			save_userid;
	int			save_sec_context;

	foreach(cell, run->unloaded)
		unloaded[n++] = ((RecordLink *) lfirst(cell))->dcid;
	if (n == 0)
		return;
	memset(&dead, 0, sizeof(dead));

	/* gone from the table: asked as its owner, as conflicts are (apply.c) */
	values[0] = int8_array(unloaded, n);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(relation_owner(run->table->base_relid),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	/*
	 * In the base table: a record outside a view of active records
	 * (records.c) is not gone.
	 */
	for_each_row(psprintf("SELECT d.dcid FROM pg_catalog.unnest($1) AS d(dcid)"
						  " WHERE NOT EXISTS (SELECT 1 FROM %s t"
						  " WHERE t.%s OPERATOR(pg_catalog.=) d.dcid)",
						  run->table->base_qualified_name,
						  quote_identifier(base_column_name(run->table, "dcid"))),
				 1, &types[2], values, true, dcid_list_row, &dead);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (dead.n == 0)
		return;

	values[0] = DirectFunctionCall1(namein, CStringGetDatum(run->server));
	values[1] = CStringGetTextDatum(record_group_name(run->group));
	values[2] = int8_array(dead.dcids, dead.n);
	become_owner(&as, schema);
	run_query(psprintf("DELETE FROM %s.record_links l"
					   " WHERE l.server OPERATOR(pg_catalog.=) $1"
					   " AND l.record_group OPERATOR(pg_catalog.=) $2"
					   " AND l.dcid OPERATOR(pg_catalog.=) ANY ($3)"
					   " RETURNING l.entry_id",
					   quote_identifier(get_namespace_name(schema))),
			  3, types, values, false, SPI_OK_DELETE_RETURNING);
	become_caller(&as);

	/* their entries are free: records matched to them may be no conflicts now */
	{
		uint64		nfreed = SPI_processed;
		const char **ids = palloc(sizeof(char *) * Max(nfreed, 1));
		int64	   *nobody = palloc(sizeof(int64) * Max(nfreed, 1));
		uint64		i;

		for (i = 0; i < nfreed; i++)
		{
			ids[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			nobody[i] = -1;
		}
		mark_link_dependents(run->server, run->group, ids, nobody, (int) nfreed);
	}
}

/* unnest() in the target list: the arrays in step, cheaper than ROWS FROM */
#define LINK_ARRAYS \
	" FROM (SELECT pg_catalog.unnest($5) AS dcid, pg_catalog.unnest($6) AS record_type," \
	" pg_catalog.unnest($7) AS entry_id, pg_catalog.unnest($8) AS dn," \
	" pg_catalog.unnest($9) AS user_id, pg_catalog.unnest($10) AS linked_by) AS v"

/*
 * Decide which records a real run links (each gets link_made): a record
 * with no link whose usernames all ended updated or unchanged, matched to
 * an entry that no other record of the run was matched to; for
 * ldap_assign, the record assigned, when its usernames all ended updated
 * or unchanged, unless it is linked to that entry already.
 * run_memory_end() remembers those records as linked ones, since the next
 * run matches them through the link; write_links() writes the links.
 */
void
decide_links(LinkRun *run, List *results)
{
	const char **wanted;
	int			nwanted = 0;
	ListCell   *cell;
	SyncRecord *previous = NULL;

	run->decided = true;
	if (!pssync_use_links || !OidIsValid(links_schema()))
		return;

	/* the entries a name or ID match found for more than one record */
	wanted = palloc(sizeof(char *) * Max(list_length(results), 1));
	foreach(cell, results)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);

		if (result->record != previous && result->entry_id &&
			result->record->link == NULL)
			wanted[nwanted++] = result->entry_id;
		previous = result->record;
	}
	qsort(wanted, nwanted, sizeof(char *), compare_strings);

	previous = NULL;
	foreach(cell, results)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);
		SyncRecord *rec = result->record;

		if (rec == previous)
			continue;			/* a record's first row decides */
		previous = rec;
		rec->link_made = false;
		if ((result->matched_by && strcmp(result->matched_by, "link") == 0) ||
			result->entry_id == NULL || !record_settled(cell, results))
			continue;
		if (run->assign)
			rec->link_made = rec->link == NULL ||
				strcmp(rec->link->entry_id, result->entry_id) != 0;
		else
			rec->link_made = rec->link == NULL &&
				!wanted_twice(wanted, nwanted, result->entry_id);
	}
	pfree(wanted);
}

/*
 * Write what a real run learned: the links it made (decide_links() chose
 * them, and must have been called), the links it matched
 * through whose entry moved or changed its user ID, and, for a
 * district-wide run, the links of the type it did not match through and
 * those whose record is gone.  results are the run's rows after the
 * changes were checked and written.
 */
void
write_links(LinkRun *run, List *results)
{
	Oid			schema = links_schema();
	LinkBatch	made;
	LinkBatch	touched;
	LinkBatch	replaced;
	const char **handed;		/* entries whose link changed hands */
	int64	   *handed_to;
	int			nhanded = 0;
	ListCell   *cell;
	SyncRecord *previous = NULL;
	AsOwner		as;
	MemoryContext temp;
	MemoryContext old;

	Assert(run->decided);
	if (!pssync_use_links || !OidIsValid(schema))
		return;
	handed = palloc(sizeof(char *) * Max(2 * list_length(results), 1));
	handed_to = palloc(sizeof(int64) * Max(2 * list_length(results), 1));

	/* what is built here to write the links is dropped at the end */
	temp = AllocSetContextCreate(CurrentMemoryContext, "pssync writing links",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(temp);
	memset(&made, 0, sizeof(made));
	memset(&touched, 0, sizeof(touched));
	memset(&replaced, 0, sizeof(replaced));

	foreach(cell, results)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);
		SyncRecord *rec = result->record;
		RecordLink *link = rec->link;

		if (rec == previous)
			continue;			/* a record's first row decides */
		previous = rec;

		if (result->matched_by && strcmp(result->matched_by, "link") == 0)
		{
			const char *user_id = result->status == STATUS_NO_UID ? NULL :
				result->new_username;

			if (run->covered_type != (int) rec->type || link->unconfirmed ||
				link->type != rec->type ||
				link->seen != seen_hash(result->dn, strlen(result->dn),
										user_id, user_id ? strlen(user_id) : 0))
				batch_add(&touched, result, link->linked_by);
			continue;
		}
		if (run->assign && !rec->link_made && link && result->entry_id &&
			strcmp(link->entry_id, result->entry_id) == 0 &&
			record_settled(cell, results))
			batch_add(&touched, result, link->linked_by);
		if (!rec->link_made)
			continue;
		if (link)
		{
			/* only ldap_assign replaces a link */
			batch_add(&replaced, result, NULL);
			handed[nhanded] = link->entry_id;
			handed_to[nhanded++] = -1;
		}
		batch_add(&made, result, run->assign ? "assign" : result->matched_by);
		handed[nhanded] = result->entry_id;
		handed_to[nhanded++] = rec->dcid;
	}

	elog(DEBUG1, "pssync: links: %d made, %d replaced, %d brought up to date",
		 made.n, replaced.n, touched.n);
	become_owner(&as, schema);
	write_batch(schema, run, &touched,
				"UPDATE %s.record_links l SET record_type = v.record_type, dn = v.dn,"
				" user_id = v.user_id, run_id = $3, role = $4, unconfirmed = false"
				LINK_ARRAYS
				" WHERE l.server OPERATOR(pg_catalog.=) $1"
				" AND l.record_group OPERATOR(pg_catalog.=) $2"
				/* the chunk's links by their key, not a hash of the table */
				" AND l.dcid OPERATOR(pg_catalog.=) ANY ($5)"
				" AND l.dcid OPERATOR(pg_catalog.=) v.dcid",
				SPI_OK_UPDATE);
	/* (the statements need not use every parameter: their types are given) */
	write_batch(schema, run, &replaced,
				"DELETE FROM %s.record_links l"
				" WHERE l.server OPERATOR(pg_catalog.=) $1"
				" AND l.record_group OPERATOR(pg_catalog.=) $2"
				" AND l.dcid OPERATOR(pg_catalog.=) ANY ($5)",
				SPI_OK_DELETE);
	/* a concurrent run may have linked the entry first: it keeps it */
	write_batch(schema, run, &made,
				"INSERT INTO %s.record_links (server, record_group, dcid, record_type,"
				" entry_id, dn, user_id, linked_by, linked_at, run_id, role)"
				" SELECT $1, $2, v.dcid, v.record_type, v.entry_id, v.dn, v.user_id,"
				" v.linked_by, pg_catalog.now(), $3, $4"
				LINK_ARRAYS
				" ON CONFLICT DO NOTHING",
				SPI_OK_INSERT);

	/*
	 * A district-wide run of a type matched through every link of the type
	 * but those it marks here: of the records it loaded, those it did not
	 * match through their link (broken), and the links of records it did
	 * not load.  The view takes the others' run_id from the run.
	 */
	if (run->covered_type >= 0 && run->run_id != 0)
	{
		Oid			types[5] = {NAMEOID, TEXTOID, TEXTOID, INT8OID, INT8ARRAYOID};
		Datum		values[5];
		int64	   *unmatched = palloc(sizeof(int64) *
									   Max(list_length(results) + list_length(run->unloaded), 1));
		int			nunmatched = 0;

		previous = NULL;
		foreach(cell, results)
		{
			SyncResult *result = (SyncResult *) lfirst(cell);
			RecordLink *link = result->record->link;

			if (result->record == previous)
				continue;
			previous = result->record;
			if (link && !link->unconfirmed && (int) link->type == run->covered_type &&
				!(result->matched_by && strcmp(result->matched_by, "link") == 0))
				unmatched[nunmatched++] = link->dcid;
		}
		foreach(cell, run->unloaded)
		{
			RecordLink *link = (RecordLink *) lfirst(cell);

			if (!link->unconfirmed && (int) link->type == run->covered_type)
				unmatched[nunmatched++] = link->dcid;
		}
		if (nunmatched > 0)
		{
			values[0] = DirectFunctionCall1(namein, CStringGetDatum(run->server));
			values[1] = CStringGetTextDatum(record_group_name(run->group));
			values[2] = CStringGetTextDatum(record_type_name((RecordType) run->covered_type));
			values[3] = Int64GetDatum(run->run_id);
			values[4] = int8_array(unmatched, nunmatched);
			run_query(psprintf("UPDATE %1$s.record_links l SET unconfirmed = true,"
							   " run_id = GREATEST(l.run_id,"
							   " (SELECT pg_catalog.max(r.run_id) FROM %1$s.sync_run r"
							   " WHERE r.server OPERATOR(pg_catalog.=) $1"
							   " AND r.links_confirmed OPERATOR(pg_catalog.=) $3"
							   " AND r.run_id OPERATOR(pg_catalog.<) $4))"
							   " WHERE l.server OPERATOR(pg_catalog.=) $1"
							   " AND l.record_group OPERATOR(pg_catalog.=) $2"
							   " AND l.dcid OPERATOR(pg_catalog.=) ANY ($5)",
							   quote_identifier(get_namespace_name(schema))),
					  5, types, values, false, SPI_OK_UPDATE);
		}
	}
	become_caller(&as);

	/*
	 * A link a concurrent transaction's link kept out (the entry or the
	 * record linked first, and committed): run_memory_end() remembered its
	 * record as one that follows a link it does not have, so the next
	 * ldap_sync_changes takes it.  (The chunk's other records are taken
	 * too: this is rare.)
	 */
	if (made.nmissed > 0)
		mark_records_dirty(run->server, run->group, made.missed, made.nmissed);

	if (run->district)
		remove_dead_links(schema, run);
	/* records matched to those entries may be conflicts now, or not */
	mark_link_dependents(run->server, run->group, handed, handed_to, nhanded);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(temp);
}

/*
 * Remove a record's link on the server (ldap_unlink); returns its DN, or
 * NULL when the record had none.
 */
char *
unlink_record(const char *server, RecordGroup group, int64 dcid)
{
	Oid			schema = links_schema();
	Oid			types[3] = {NAMEOID, TEXTOID, INT8OID};
	Datum		values[3];
	char	   *dn = NULL;
	AsOwner		as;

	if (!OidIsValid(schema))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the installed version of pssync keeps no links"),
				 errhint("ALTER EXTENSION pssync UPDATE;")));
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(server));
	values[1] = CStringGetTextDatum(record_group_name(group));
	values[2] = Int64GetDatum(dcid);
	become_owner(&as, schema);
	run_query(psprintf("DELETE FROM %s.record_links l"
					   " WHERE l.server OPERATOR(pg_catalog.=) $1"
					   " AND l.record_group OPERATOR(pg_catalog.=) $2"
					   " AND l.dcid OPERATOR(pg_catalog.=) $3 RETURNING l.dn",
					   quote_identifier(get_namespace_name(schema))),
			  3, types, values, false, SPI_OK_DELETE_RETURNING);
	if (SPI_processed > 0)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		dn = isnull ? NULL : TextDatumGetCString(d);
	}
	become_caller(&as);
	return dn;
}

