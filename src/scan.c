/*-------------------------------------------------------------------------
 *
 * scan.c
 *		  The "scan" strategy: the directory read once, indexed in memory.
 *
 * One paged subtree search of the group's base DN, with the server's
 * filter, fetches every entry's DN, name attributes and user ID attribute.
 * Each entry is indexed by the skeletons of its names (see names.c): by
 * first and last name, by last name, and by ID when matching by ID.  Two
 * names the directory may consider equal always share a skeleton, so the
 * entries under a record's skeleton are all the entries the directory
 * could answer for it, and perhaps some more.  The index answers for the
 * directory when it is certain about each of them, one way or the other:
 *
 *	- a plain value (names.c) equals a plain name exactly when both are
 *	  equal after ASCII lower-casing, and differs from it otherwise;
 *	- any value equals a name that is the same bytes: equality is
 *	  reflexive in every directory.
 *
 * When an entry under the skeleton is neither, the directory must be
 * asked (matching.c does).  In a district, that is the rare record whose
 * name has another case or accents in the directory.
 *
 * An entry the read returns without a name attribute may still have it:
 * the bind account may be allowed to search an attribute without reading
 * it.  Such entries are counted, and the directory is asked, once, which
 * of them really lack the attribute (a search for "(!(sn=*))"); the others
 * make every answer about their names uncertain.
 *
 * The entries' DNs, user IDs and permanent IDs, which the result rows
 * point to, go into the arena of the rows.  Everything else the index keeps
 * (about 150 bytes an entry) is in an arena of its own, a child of the
 * call's memory context: directory_index_free() frees it once the records
 * are decided, and it goes with the call's context on error.
 *
 * Suggestions (suggest.c) ask the index for the entries under a name's
 * skeleton (first, last, both, or ID), and for the values of an entry:
 * an entry's rows are next to each other in each of full, last and id,
 * in the order of the entries, so they are found by a binary search.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "pssync.h"

/* What the index knows of a value against a name. */
typedef enum Equality
{
	CERTAINLY_EQUAL,
	CERTAINLY_NOT,
	UNKNOWN
} Equality;

/*
 * A value of an entry, packed into the arena: a byte of flags, the value's
 * key, and its raw form (as the directory sent it) after the key's NUL.
 * A plain value without spaces has no raw form of its own: its key spells
 * it in lower case, which is all that an ASCII-case comparison needs.  A
 * value with a NUL in it has none either: only the directory can say
 * whether it equals a name.
 */
#define VALUE_PLAIN		0x01	/* plain (names.c) */
#define VALUE_RAW		0x02	/* its raw form follows its key */
#define VALUE_OPAQUE	0x04	/* holds a NUL */

static inline const char *
value_key(const char *value)
{
	return value + 1;
}

static inline const char *
value_raw(const char *value)
{
	if (*value & VALUE_OPAQUE)
		return NULL;
	if (*value & VALUE_RAW)
		return value + 1 + strlen(value + 1) + 1;
	return value + 1;
}

/*
 * One value (or first and last name pair) of an entry, under its key: for
 * the full names, the key is both values' keys.  Rows live in chunks of
 * ROWS_PER_CHUNK that never move, so that the index grows without copying
 * or doubling what it holds.
 */
typedef struct IndexRow
{
	const char *value[2];		/* packed values; the second for full names */
	int			entry;
	int			next;			/* the next row in the key's bucket, or -1 */
} IndexRow;

/* the most first and last name pairs of an entry filed as full names */
#define MAX_NAME_PAIRS 256

#define ROW_CHUNK_BITS 12
#define ROWS_PER_CHUNK (1 << ROW_CHUNK_BITS)

/*
 * A hash table of rows: buckets hold the first row of a chain, and the
 * rows of a chain stay in the order they were added, so that the rows of
 * one entry under one key are next to each other.  The keys of a table
 * whose values are not packed (entry IDs, the last names of entries that
 * may hide their first name) are the values themselves.
 */
typedef struct NameIndex
{
	IndexRow  **chunks;
	int			nchunks;
	int			count;
	int		   *buckets;
	uint32		mask;			/* number of buckets - 1 */
	bool		packed;			/* values are packed (see above) */
	bool		pairs;			/* rows pair two values: full names */
	Arena	   *arena;			/* where its rows and buckets are: one of
								 * their own (entry IDs), or NULL: the
								 * index's */
} NameIndex;

static inline IndexRow *
row_at(NameIndex *names, int i)
{
	return &names->chunks[i >> ROW_CHUNK_BITS][i & (ROWS_PER_CHUNK - 1)];
}

/* The entries the read returned without an attribute, by DN. */
typedef struct Missing
{
	List	   *entries;		/* of int: entry numbers */
	List	   *last_keys;		/* of char *: their last names' keys */
} Missing;

/* entries are kept in chunks of this many, which never move */
#define ENTRY_CHUNK_BITS 10
#define ENTRIES_PER_CHUNK (1 << ENTRY_CHUNK_BITS)

struct DirectoryIndex
{
	Arena	   *arena;
	Arena	   *strings;		/* the entries' DNs, user IDs and entry IDs */
	MemoryContext scratch;		/* one entry's keys while they are made */
	DirectoryEntry **entry_chunks;
	int			nentries;
	int			allocated_chunks;
	NameIndex	full;			/* first and last name */
	NameIndex	last;			/* last name */
	NameIndex	id;				/* ID, when matching by ID */
	NameIndex	entry_ids;		/* permanent IDs, when links are used (see
								 * directory_index_forget_entry_ids) */
	bool		entry_ids_forgotten;
	NameIndex	hidden_first;	/* last names of entries whose first name
								 * may be hidden */
	struct PairKeys *pairs[2];	/* for suggestions: the name_pair_keys of
								 * first and last names, made when first
								 * asked for, in pairs_arena */
	Arena	   *pairs_arena;
	HTAB	   *wanted[2];		/* the pair keys to file (of char *), or
								 * NULL: all of them */
	MemoryContext wanted_cxt;
	int		   *row_of_entry[3];	/* for suggestions: the first row of each
									 * entry in full, last and id (and one
									 * more: the end), made when first asked
									 * for */
	int			hidden_last;	/* entries whose last name may be hidden */
	int			hidden_id;		/* entries whose ID may be hidden */
	int			without_entry_id;	/* entries read without a permanent ID */
	bool		complete;		/* the directory returned every entry */
	int			id_value;		/* which values hold the ID, or -1 */
	int			entry_id_value; /* which hold the permanent ID, or -1 */
	const char *entry_id_attr;

	/* while reading: the entries without an attribute */
	Missing		no_first;
	Missing		no_last;
	Missing		no_id;
};

static inline DirectoryEntry *
entry_at(DirectoryIndex *index, int i)
{
	return &index->entry_chunks[i >> ENTRY_CHUNK_BITS][i & (ENTRIES_PER_CHUNK - 1)];
}

/* Where a table's rows and buckets go. */
static inline Arena *
name_index_arena(DirectoryIndex *index, NameIndex *names)
{
	return names->arena ? names->arena : index->arena;
}

static void
add_row(DirectoryIndex *index, NameIndex *names, const char *v0,
		const char *v1, int entry)
{
	IndexRow   *row;

	if ((names->count & (ROWS_PER_CHUNK - 1)) == 0)
	{
		Arena	   *arena = name_index_arena(index, names);
		MemoryContext cxt = arena_context(arena);

		if (names->nchunks == 0)
			names->chunks = MemoryContextAlloc(cxt, sizeof(IndexRow *) * 16);
		else if ((names->nchunks & (names->nchunks - 1)) == 0 && names->nchunks >= 16)
			names->chunks = repalloc(names->chunks,
									 sizeof(IndexRow *) * names->nchunks * 2);
		names->chunks[names->nchunks++] =
			arena_alloc(arena, sizeof(IndexRow) * ROWS_PER_CHUNK);
	}
	row = row_at(names, names->count++);
	row->value[0] = v0;
	row->value[1] = v1;
	row->entry = entry;
}

/*
 * A value packed into the arena (see value_raw), with its key: made here
 * for a plain value, by the caller (key) otherwise.
 */
static const char *
pack_value(DirectoryIndex *index, const char *v, int len, const char *key,
		   bool plain, bool opaque)
{
	bool		raw = !opaque && !(plain && memchr(v, ' ', len) == NULL);
	Size		key_len = key ? strlen(key) : (Size) len;
	char	   *packed = arena_alloc_bytes(index->arena,
										   1 + key_len + 1 + (raw ? len + 1 : 0));
	char	   *p = packed + 1;
	int			i;

	packed[0] = (plain ? VALUE_PLAIN : 0) | (raw ? VALUE_RAW : 0) |
		(opaque ? VALUE_OPAQUE : 0);
	if (key)
	{
		memcpy(p, key, key_len);
		p += key_len;
	}
	else
	{
		/* a plain value's key: its characters but spaces, in lower case */
		for (i = 0; i < len; i++)
		{
			if (v[i] != ' ')
				*p++ = pg_ascii_tolower((unsigned char) v[i]);
		}
	}
	*p++ = '\0';
	if (raw)
	{
		memcpy(p, v, len);
		p[len] = '\0';
	}
	return packed;
}

/* The packed values of an attribute's values. */
static const char **
index_values(DirectoryIndex *index, DirectoryValues *values)
{
	const char **result = palloc(sizeof(char *) * Max(values->count, 1));
	int			i;

	for (i = 0; i < values->count; i++)
	{
		const char *v = values->values[i];
		int			len = values->lengths[i];

		/*
		 * A value with a NUL in it has no C string to compare: its key is
		 * made of what precedes and follows the NUL, and only the
		 * directory can say whether it equals a name.
		 */
		bool		opaque = memchr(v, '\0', len) != NULL;
		bool		plain = !opaque && is_plain_name(v, len);

		result[i] = pack_value(index, v, len,
							   plain ? NULL : name_skeleton(v, len),
							   plain, opaque);
	}
	return result;
}

/*
 * The key of an ID: the letters and digits of its skeleton, each run of
 * digits without its leading zeros.  An ID attribute may be matched by any
 * rule (caseExactMatch, numericStringMatch ignoring spaces,
 * telephoneNumberMatch ignoring hyphens, integerMatch taking 007 for 7):
 * IDs that any of them may take for the same share a key.
 */
char *
id_key(const char *id, int len)
{
	char	   *key = name_skeleton(id, len);
	char	   *from;
	char	   *to = key;

	for (from = key; *from; from++)
	{
		bool		digit = *from >= '0' && *from <= '9';

		/* integerMatch takes 007 for 7: a run of digits keeps no leading 0 */
		if (*from == '0' && (to == key || !(to[-1] >= '0' && to[-1] <= '9')) &&
			from[1] >= '0' && from[1] <= '9')
			continue;
		if ((*from >= 'a' && *from <= 'z') || digit)
			*to++ = *from;
	}
	*to = '\0';
	return key;
}

/*
 * The packed values of an ID attribute's values.  None is plain: an ID is
 * certainly a record's only when it is the same bytes, and for the rest
 * only the directory, which knows the attribute's matching rule, can say.
 */
static const char **
index_id_values(DirectoryIndex *index, DirectoryValues *values)
{
	const char **result = palloc(sizeof(char *) * Max(values->count, 1));
	int			i;

	for (i = 0; i < values->count; i++)
	{
		const char *v = values->values[i];
		int			len = values->lengths[i];

		result[i] = pack_value(index, v, len, id_key(v, len), false,
							   memchr(v, '\0', len) != NULL);
	}
	return result;
}

static void
note_missing(DirectoryIndex *index, Missing *missing, int entry,
			 const char *last_key)
{
	MemoryContext old = MemoryContextSwitchTo(arena_context(index->arena));

	missing->entries = lappend_int(missing->entries, entry);
	missing->last_keys = lappend(missing->last_keys,
								 last_key ? pstrdup(last_key) : NULL);
	MemoryContextSwitchTo(old);
}

/* Room for one more entry. */
static DirectoryEntry *
new_entry(DirectoryIndex *index)
{
	int			chunk = index->nentries >> ENTRY_CHUNK_BITS;

	if ((index->nentries & (ENTRIES_PER_CHUNK - 1)) == 0)
	{
		MemoryContext cxt = arena_context(index->arena);

		if (chunk == index->allocated_chunks)
		{
			index->allocated_chunks = Max(64, index->allocated_chunks * 2);
			index->entry_chunks = index->entry_chunks ?
				repalloc(index->entry_chunks,
						 sizeof(DirectoryEntry *) * index->allocated_chunks) :
				MemoryContextAlloc(cxt, sizeof(DirectoryEntry *) * index->allocated_chunks);
		}
		index->entry_chunks[chunk] =
			arena_alloc(index->arena, sizeof(DirectoryEntry) * ENTRIES_PER_CHUNK);
	}
	return entry_at(index, index->nentries++);
}

/*
 * Called for each entry of the scan: values are first name, last name,
 * user ID and, when matching by ID, the ID, and when links are used the
 * entry's permanent ID, in that order.
 */
static void
index_entry(void *arg, const char *dn, DirectoryValues *values)
{
	DirectoryIndex *index = (DirectoryIndex *) arg;
	MemoryContext old;
	DirectoryValues *first = &values[0];
	DirectoryValues *last = &values[1];
	DirectoryValues *id = index->id_value >= 0 ? &values[index->id_value] : NULL;
	const char **first_values;
	const char **last_values;
	int			entry = index->nentries;
	DirectoryEntry *e = new_entry(index);
	bool		pairs;
	int			f;
	int			l;

	CHECK_FOR_INTERRUPTS();
	e->dn = arena_strdup(index->strings, dn);
	copy_directory_values(index->strings, &e->uid, &values[2]);
	e->entry_id = NULL;

	old = MemoryContextSwitchTo(index->scratch);
	if (index->entry_id_value >= 0)
	{
		char	   *entry_id = directory_entry_id(index->entry_id_attr,
												  &values[index->entry_id_value]);

		if (entry_id)
		{
			e->entry_id = arena_strdup(index->strings, entry_id);
			add_row(index, &index->entry_ids, e->entry_id, NULL, entry);
		}
		else
			index->without_entry_id++;
	}
	first_values = index_values(index, first);
	last_values = index_values(index, last);

	/*
	 * An entry has a row of full names for each pair of its first and last
	 * names.  One with more pairs than MAX_NAME_PAIRS (a directory may let
	 * a person add values to their own entry) is filed by its last names
	 * alone, as an entry whose first name the read may have hidden: the
	 * directory is asked about it, and the index stays small.
	 */
	pairs = (int64) first->count * last->count <= MAX_NAME_PAIRS;
	for (l = 0; l < last->count; l++)
	{
		add_row(index, &index->last, last_values[l], NULL, entry);
		for (f = 0; pairs && f < first->count; f++)
			add_row(index, &index->full, first_values[f], last_values[l], entry);
		if (first->count == 0 || !pairs)
			note_missing(index, &index->no_first, entry, value_key(last_values[l]));
	}
	if (last->count == 0)
		note_missing(index, &index->no_last, entry, NULL);
	if (id)
	{
		const char **id_values = index_id_values(index, id);

		for (f = 0; f < id->count; f++)
			add_row(index, &index->id, id_values[f], NULL, entry);
		if (id->count == 0)
			note_missing(index, &index->no_id, entry, NULL);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(index->scratch);
}

static uint32
key_hash(const char *key)
{
	return hash_bytes((const unsigned char *) key, strlen(key));
}

/* The hash of a row's key. */
static uint32
row_hash(NameIndex *names, IndexRow *row)
{
	if (!names->packed)
		return key_hash(row->value[0]);
	if (names->pairs)
		return hash_combine(key_hash(value_key(row->value[0])),
							key_hash(value_key(row->value[1])));
	return key_hash(value_key(row->value[0]));
}

/* Is a row's key key (and, for full names, key2)? */
static inline bool
row_has_key(NameIndex *names, IndexRow *row, const char *key, const char *key2)
{
	if (!names->packed)
		return strcmp(row->value[0], key) == 0;
	if (strcmp(value_key(row->value[0]), key) != 0)
		return false;
	return !names->pairs || strcmp(value_key(row->value[1]), key2) == 0;
}

/*
 * Chain the rows into buckets, once they have all been added: at least as
 * many buckets as rows (rows of one key share a chain, and a key is a name
 * that many entries may have: the chains stay short).
 */
static void
build_buckets(DirectoryIndex *index, NameIndex *names)
{
	uint32		nbuckets = 1024;
	int			i;

	while (nbuckets < (uint32) names->count && nbuckets < (1U << 30))
		nbuckets <<= 1;
	names->mask = nbuckets - 1;
	names->buckets = arena_alloc(name_index_arena(index, names),
								 sizeof(int) * nbuckets);
	memset(names->buckets, -1, sizeof(int) * nbuckets);

	/* the last row first, so that each chain is in the order of the rows */
	for (i = names->count - 1; i >= 0; i--)
	{
		IndexRow   *row = row_at(names, i);
		int		   *bucket = &names->buckets[row_hash(names, row) & names->mask];

		row->next = *bucket;
		*bucket = i;
	}
}

/* A search's DNs. */
static void
collect_dn(void *arg, const char *dn, DirectoryValues *values pg_attribute_unused())
{
	List	  **dns = (List **) arg;

	*dns = lappend(*dns, pstrdup(dn));
}

static int
compare_dns(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

static bool
holds_dn(List *sorted, const char *dn)
{
	int			low = 0;
	int			high = list_length(sorted) - 1;

	while (low <= high)
	{
		int			mid = (low + high) / 2;
		int			cmp = strcmp(dn, (const char *) list_nth(sorted, mid));

		if (cmp == 0)
			return true;
		if (cmp < 0)
			high = mid - 1;
		else
			low = mid + 1;
	}
	return false;
}

/*
 * The entries the read returned without an attribute: ask the directory,
 * once, which of them lack it (it answers "(!(attr=*))" with what it
 * searches, read or not).  Returns how many may hold it hidden, and files
 * the last names of those under hidden (when given).
 */
static int
count_hidden(DirectoryIndex *index, PssyncDirectory *dir, PssyncServer *server,
			 List *base_dns, const char *attr, Missing *missing,
			 NameIndex *hidden)
{
	const char *no_attrs[] = {NULL};
	List	   *lacking = NIL;
	ListCell   *entry_cell;
	ListCell   *key_cell;
	int			count = 0;

	if (missing->entries == NIL)
		return 0;
	if (directory_search(dir, base_dns,
						 psprintf("(&%s(!(%s=*)))", directory_to_utf8(server->filter), attr),
						 no_attrs, collect_dn, &lacking))
		list_sort(lacking, compare_dns);
	else
		lacking = NIL;			/* cut short: believe none of them */

	forboth(entry_cell, missing->entries, key_cell, missing->last_keys)
	{
		int			entry = lfirst_int(entry_cell);

		if (holds_dn(lacking, entry_at(index, entry)->dn))
			continue;
		count++;
		if (hidden && lfirst(key_cell))
			add_row(index, hidden, (char *) lfirst(key_cell), NULL, entry);
	}
	list_free_deep(lacking);
	return count;
}

/*
 * Read the group's entries and index them.  The entries' DNs, user IDs and
 * permanent IDs go into strings, and stay there when the index is freed.
 */
DirectoryIndex *
directory_index_build(PssyncServer *server, PssyncDirectory *dir,
					  List *base_dns, const char *uid_attr,
					  const char *id_attr, const char *entry_id_attr,
					  Arena *strings)
{
	Arena	   *arena = arena_create_large(CurrentMemoryContext, "pssync directory index");
	DirectoryIndex *index = arena_alloc0(arena, sizeof(DirectoryIndex));
	const char *attrs[6];
	int			nattrs = 0;

	attrs[nattrs++] = server->first_name_attr;
	attrs[nattrs++] = server->last_name_attr;
	attrs[nattrs++] = uid_attr;
	index->id_value = id_attr ? nattrs : -1;
	if (id_attr)
		attrs[nattrs++] = id_attr;
	index->entry_id_value = entry_id_attr ? nattrs : -1;
	if (entry_id_attr)
		attrs[nattrs++] = entry_id_attr;
	attrs[nattrs] = NULL;

	index->arena = arena;
	index->strings = strings;
	index->entry_id_attr = entry_id_attr;
	index->full.packed = index->full.pairs = true;
	index->last.packed = true;
	index->id.packed = true;
	if (entry_id_attr)
		index->entry_ids.arena = arena_create(arena_context(arena),
											  "pssync entry IDs of the index");
	index->scratch = AllocSetContextCreate(arena_context(arena),
										   "pssync directory index entry",
										   ALLOCSET_SMALL_SIZES);
	index->complete = directory_search(dir, base_dns,
									   directory_to_utf8(server->filter),
									   attrs, index_entry, index);
	if (index->complete)
	{
		index->hidden_last = count_hidden(index, dir, server, base_dns,
										  server->last_name_attr,
										  &index->no_last, NULL);
		(void) count_hidden(index, dir, server, base_dns,
							server->first_name_attr, &index->no_first,
							&index->hidden_first);
		if (id_attr)
			index->hidden_id = count_hidden(index, dir, server, base_dns,
											id_attr, &index->no_id, NULL);
		if (index->hidden_last + index->hidden_first.count + index->hidden_id > 0)
			elog(DEBUG1, "pssync: %d entries may hide their last name, %d their first name, %d their ID",
				 index->hidden_last, index->hidden_first.count, index->hidden_id);
	}

	build_buckets(index, &index->full);
	build_buckets(index, &index->last);
	build_buckets(index, &index->id);
	build_buckets(index, &index->hidden_first);
	build_buckets(index, &index->entry_ids);
	return index;
}

bool
directory_index_complete(DirectoryIndex *index)
{
	return index->complete;
}

int
directory_index_size(DirectoryIndex *index)
{
	return index->nentries;
}

/*
 * A record's name as the index compares it: its key, its UTF-8 form, and
 * whether it is plain.
 */
typedef struct RecordName
{
	char	   *key;
	char	   *utf8;
	bool		plain;
} RecordName;

static void
record_name(const char *name, RecordName *result)
{
	result->utf8 = directory_to_utf8(name);
	result->plain = is_plain_name(result->utf8, strlen(result->utf8));
	result->key = name_skeleton(result->utf8, strlen(result->utf8));
}

/* What the index knows of one of a row's values against a name. */
static Equality
compare_value(IndexRow *row, int i, RecordName *name)
{
	const char *raw = value_raw(row->value[i]);

	if (raw == NULL)
		return UNKNOWN;			/* a value with a NUL in it */
	if ((*row->value[i] & VALUE_PLAIN) && name->plain)
		return pg_strcasecmp(raw, name->utf8) == 0 ?
			CERTAINLY_EQUAL : CERTAINLY_NOT;
	/* a plain value is never the same bytes as a name that is not */
	if (strcmp(raw, name->utf8) == 0)
		return CERTAINLY_EQUAL;
	return UNKNOWN;
}

static Equality
compare_row(IndexRow *row, RecordName *name0, RecordName *name1)
{
	Equality	first = compare_value(row, 0, name0);
	Equality	second;

	if (name1 == NULL)
		return first;
	second = compare_value(row, 1, name1);
	if (first == CERTAINLY_NOT || second == CERTAINLY_NOT)
		return CERTAINLY_NOT;
	if (first == CERTAINLY_EQUAL && second == CERTAINLY_EQUAL)
		return CERTAINLY_EQUAL;
	return UNKNOWN;
}

/*
 * The entries under the key of name0 (and name1, for full names) that the
 * directory would find for the names: one is found when any of its rows
 * certainly equals them.  Returns false, with no entries, when only the
 * directory can say: an entry under the key has no row that certainly
 * equals and one that may.  Without name1 a row's first value is compared
 * with name0 alone.
 */
static bool
lookup(DirectoryIndex *index, NameIndex *names, RecordName *name0,
	   RecordName *name1, List **entries)
{
	uint32		hash;
	int			current = -1;
	Equality	state = CERTAINLY_NOT;
	int			i;

	*entries = NIL;
	if (names->count == 0)
		return true;
	hash = key_hash(name0->key);
	if (name1)
		hash = hash_combine(hash, key_hash(name1->key));

	/* an entry's rows under a key are next to each other (see NameIndex) */
	for (i = names->buckets[hash & names->mask];; i = row_at(names, i)->next)
	{
		IndexRow   *row = i >= 0 ? row_at(names, i) : NULL;

		if (row && !row_has_key(names, row, name0->key, name1 ? name1->key : NULL))
			continue;
		if (row == NULL || row->entry != current)
		{
			/* the entry before is decided */
			if (state == UNKNOWN)
			{
				list_free(*entries);
				*entries = NIL;
				return false;
			}
			if (state == CERTAINLY_EQUAL)
				*entries = lappend(*entries, entry_at(index, current));
			if (row == NULL)
				break;
			current = row->entry;
			state = CERTAINLY_NOT;
		}
		if (state != CERTAINLY_EQUAL)
		{
			Equality	e = compare_row(row, name0, name1);

			if (e != CERTAINLY_NOT)
				state = e;
		}
	}
	return true;
}

/* The first row of an unpacked table under a key, or NULL. */
static IndexRow *
find_key(NameIndex *names, const char *key)
{
	int			i;

	if (names->count == 0)
		return NULL;
	for (i = names->buckets[key_hash(key) & names->mask]; i >= 0;
		 i = row_at(names, i)->next)
	{
		if (strcmp(row_at(names, i)->value[0], key) == 0)
			return row_at(names, i);
	}
	return NULL;
}

/* Are there entries that may hide their first name, under a last name? */
static bool
may_hide_first_name(DirectoryIndex *index, const char *last_key)
{
	return find_key(&index->hidden_first, last_key) != NULL;
}

/*
 * The entries with both of a record's names (as search_name() gives them,
 * in the server encoding).  Returns false if only the directory can say.
 */
bool
directory_index_exact(DirectoryIndex *index, const char *first,
					  const char *last, List **entries)
{
	RecordName	f;
	RecordName	l;

	record_name(first, &f);
	record_name(last, &l);
	*entries = NIL;
	if (index->hidden_last > 0 || may_hide_first_name(index, l.key))
		return false;
	return lookup(index, &index->full, &f, &l, entries);
}

/* The entries with a record's last name; false if only the directory can say. */
bool
directory_index_partial(DirectoryIndex *index, const char *last, List **entries)
{
	RecordName	l;

	record_name(last, &l);
	*entries = NIL;
	if (index->hidden_last > 0)
		return false;
	return lookup(index, &index->last, &l, NULL, entries);
}

/* The entries with a record's ID; false if only the directory can say. */
bool
directory_index_id(DirectoryIndex *index, const char *id, List **entries)
{
	RecordName	i;

	record_name(id, &i);
	i.plain = false;			/* see index_id_values */
	i.key = id_key(i.utf8, strlen(i.utf8));
	*entries = NIL;
	if (index->hidden_id > 0)
		return false;
	return lookup(index, &index->id, &i, NULL, entries);
}

/*
 * The entry with a permanent ID (a link's), or NULL; false when only the
 * directory can say (some entries were read without one, or the index has
 * forgotten them: directory_index_forget_entry_ids).
 */
bool
directory_index_entry(DirectoryIndex *index, const char *entry_id,
					  DirectoryEntry **entry)
{
	IndexRow   *row;

	*entry = NULL;
	if (index->entry_ids_forgotten)
		return false;
	row = find_key(&index->entry_ids, entry_id);
	if (row)
		*entry = entry_at(index, row->entry);
	return row != NULL || index->without_entry_id == 0;
}

/*
 * Forget the entries' permanent IDs (3 MB for a district) once the links
 * of a run's records are all found: directory_index_entry() then leaves
 * the question to the directory.  The entries keep theirs.
 */
void
directory_index_forget_entry_ids(DirectoryIndex *index)
{
	if (index->entry_ids.arena)
		MemoryContextDelete(arena_context(index->entry_ids.arena));
	memset(&index->entry_ids, 0, sizeof(NameIndex));
	index->entry_ids_forgotten = true;
}

void
directory_index_free(DirectoryIndex *index)
{
	MemoryContextDelete(arena_context(index->arena));
}


/*
 * Suggestions.
 */

/*
 * Can the index say which entries a question about names (or IDs) finds:
 * were they all read?
 */
bool
directory_index_knows(DirectoryIndex *index, IndexKey kind)
{
	if (kind == INDEX_KEY_ID)
		return index->hidden_id == 0;
	return index->hidden_last == 0 && index->hidden_first.count == 0;
}

/* The key of an ID (UTF-8) in the index: see id_key. */
char *
directory_index_id_key(const char *utf8, int len)
{
	return id_key(utf8, len);
}

/*
 * The key of a first and last name's skeletons, as suggestions give it:
 * both keys, separated by a byte no key holds.
 */
#define KEY_SEPARATOR '\001'

char *
directory_index_full_key(const char *first_key, const char *last_key)
{
	return psprintf("%s%c%s", first_key, KEY_SEPARATOR, last_key);
}

#define MAX_PAIR_KEYS 32

/*
 * The entries under each pair key (name_pair_keys) of first names, or of
 * last names, compactly: each distinct key once, with a number; the
 * entries grouped by key number.
 */
typedef struct PairKey
{
	const char *key;			/* the hash key */
	int			number;
} PairKey;

typedef struct PairKeys
{
	HTAB	   *keys;			/* of PairKey */
	int			nkeys;
	int		   *start;			/* of each key number in entries, and the end */
	int		   *entries;
} PairKeys;

/*
 * File the entries by the pair keys of the rows of full (each pair of an
 * entry's names): of their first names with their last names' ends, or of
 * their last names with their first names'; only the keys wanted, when
 * directory_index_want_pair_keys() named them.
 */
/* what ends the part of a pair key, before the other name's end (pair_key_ends) */
#define PAIR_KEY_END_MARK '\001'

/* The part keys of a name's text, made once per text while filing. */
typedef struct TextParts
{
	const char *text;			/* the hash key */
	int			nparts;
	char	  **parts;			/* NULL: not made yet */
	char	   *joined;			/* name_joined_fold(); NULL: not made yet */
	int8		wanted;			/* a part is one a wanted key starts with:
								 * 1, 0, or -1 when not known yet */
} TextParts;

/*
 * The part keys (skeleton given) or the joined fold of a text, kept in
 * texts' memory context; what making them takes is made in temp, and
 * freed at once.
 */
static TextParts *
text_parts(HTAB *texts, MemoryContext temp, const char *text,
		   const char *skeleton, bool surname)
{
	bool		found;
	TextParts  *tp = hash_search(texts, &text, HASH_ENTER, &found);
	MemoryContext keep;

	if (!found)
	{
		tp->text = text;
		tp->parts = NULL;
		tp->nparts = 0;
		tp->joined = NULL;
		tp->wanted = -1;
	}
	if (skeleton ? tp->parts != NULL : tp->joined != NULL)
		return tp;
	keep = MemoryContextSwitchTo(temp);
	if (skeleton)
	{
		char	   *parts[16];
		int			p;

		tp->nparts = name_part_keys(text, strlen(text), skeleton, surname, parts, 16);
		tp->parts = MemoryContextAlloc(keep, sizeof(char *) * Max(tp->nparts, 1));
		for (p = 0; p < tp->nparts; p++)
			tp->parts[p] = MemoryContextStrdup(keep, parts[p]);
	}
	else
		tp->joined = MemoryContextStrdup(keep, name_joined_fold(text, strlen(text)));
	MemoryContextSwitchTo(keep);
	MemoryContextReset(temp);
	return tp;
}

/*
 * The parts the wanted keys start with (a pair key is a part, then
 * PAIR_KEY_END_MARK and the other name's end): an entry none of whose
 * name's parts is among them is filed under no wanted key, and is passed
 * over before the keys of its pairs are made.
 */
static HTAB *
wanted_parts(HTAB *wanted, MemoryContext cxt)
{
	HTAB	   *parts = string_table_create("pssync parts of pair keys wanted", 4096,
											sizeof(char *), cxt);
	HASH_SEQ_STATUS status;
	char	  **key;

	/* each prefix before a mark: a part may hold the mark's byte itself */
	hash_seq_init(&status, wanted);
	while ((key = hash_seq_search(&status)) != NULL)
	{
		const char *mark;

		for (mark = strchr(*key, PAIR_KEY_END_MARK); mark != NULL;
			 mark = strchr(mark + 1, PAIR_KEY_END_MARK))
		{
			char	   *part = pnstrdup(*key, mark - *key);
			bool		found;
			char	  **entry = hash_search(parts, &part, HASH_ENTER, &found);

			if (!found)
				*entry = part;
			else
				pfree(part);
		}
	}
	return parts;
}

static bool
has_wanted_part(TextParts *tp, HTAB *parts)
{
	int			p;

	if (tp->wanted < 0)
	{
		tp->wanted = 0;
		for (p = 0; p < tp->nparts && !tp->wanted; p++)
			tp->wanted = hash_search(parts, &tp->parts[p], HASH_FIND, NULL) != NULL;
	}
	return tp->wanted != 0;
}

static PairKeys *
build_pair_keys(DirectoryIndex *index, bool of_last)
{
	MemoryContext cxt = arena_context(index->pairs_arena);
	NameIndex  *full = &index->full;
	PairKeys   *pk = MemoryContextAllocZero(cxt, sizeof(PairKeys));
	HTAB	   *wanted = index->wanted[of_last ? 1 : 0];
	HTAB	   *texts;
	HTAB	   *parts;
	MemoryContext work;
	MemoryContext old;
	MemoryContext temp;
	int64	   *filed = NULL;	/* (key number << 32) | entry */
	int			nfiled = 0;
	int			allocated = 0;
	int		   *next;
	int		   *last_entry;
	int			i;

	/* what filing makes on the way is freed at the end, each kind apart */
	work = AllocSetContextCreate(CurrentMemoryContext, "pssync filing pair keys",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	pk->keys = string_table_create("pssync pair keys", 4096, sizeof(PairKey), cxt);
	texts = string_table_create("pssync part keys of names", 4096,
								sizeof(TextParts), CurrentMemoryContext);
	temp = AllocSetContextCreate(CurrentMemoryContext, "pssync a name's part keys",
								 ALLOCSET_SMALL_SIZES);
	parts = wanted ? wanted_parts(wanted, CurrentMemoryContext) : NULL;

	for (i = 0; i < full->count; i++)
	{
		IndexRow   *row = row_at(full, i);
		const char *text = value_raw(row->value[of_last ? 1 : 0]);
		const char *this_key = value_key(row->value[of_last ? 1 : 0]);
		const char *other_text;
		char		ends[4][PAIR_END_SIZE];
		int			nends;
		TextParts  *tp;
		bool		found;
		int			p;
		int			k;

		CHECK_FOR_INTERRUPTS();
		if (text == NULL)
			continue;			/* a value with a NUL: never a candidate */

		tp = text_parts(texts, temp, text, this_key, of_last);
		if (parts && !has_wanted_part(tp, parts))
			continue;			/* filed under no key a question asks */
		other_text = value_raw(row->value[of_last ? 0 : 1]);
		nends = pair_key_ends(other_text ? text_parts(texts, temp, other_text, NULL, !of_last)->joined : "",
							  of_last, false, ends);
		for (p = 0; p < tp->nparts; p++)
		{
			for (k = 0; k < nends; k++)
			{
				char		buffer[256];
				char	   *key = buffer;
				PairKey    *entry;
				int64		f;

				if (snprintf(buffer, sizeof(buffer), "%s%s", tp->parts[p], ends[k]) >= (int) sizeof(buffer))
					key = psprintf("%s%s", tp->parts[p], ends[k]);
				if (wanted && hash_search(wanted, &key, HASH_FIND, NULL) == NULL)
				{
					if (key != buffer)
						pfree(key);
					continue;	/* a key no question asks */
				}
				entry = hash_search(pk->keys, &key, HASH_ENTER, &found);
				if (!found)
				{
					entry->key = arena_strdup(index->pairs_arena, key);
					entry->number = pk->nkeys++;
				}
				f = ((int64) entry->number << 32) | row->entry;
				if (key != buffer)
					pfree(key);
				if (nfiled == allocated)
				{
					allocated = Max(4096, allocated * 2);
					filed = filed ? repalloc_huge(filed, sizeof(int64) * allocated) :
						MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * allocated);
				}
				filed[nfiled++] = f;
			}
		}
	}

	/*
	 * An entry filed twice under a key (with another pair of its names) is
	 * kept once: the rows are in the order of the entries, so a key's last
	 * entry so far is the only one to compare with.
	 */
	last_entry = palloc(sizeof(int) * Max(pk->nkeys, 1));
	memset(last_entry, -1, sizeof(int) * Max(pk->nkeys, 1));
	for (i = 0; i < nfiled; i++)
	{
		int			number = (int) (filed[i] >> 32);
		int			e = (int) (filed[i] & 0xffffffff);

		if (last_entry[number] == e)
			filed[i] = -1;
		else
			last_entry[number] = e;
	}
	pfree(last_entry);

	/* the entries grouped by key number, each group in the order of entries */
	pk->start = MemoryContextAllocZero(cxt, sizeof(int) * (pk->nkeys + 1));
	pk->entries = MemoryContextAllocHuge(cxt, sizeof(int) * Max(nfiled, 1));
	for (i = 0; i < nfiled; i++)
	{
		if (filed[i] >= 0)
			pk->start[(filed[i] >> 32) + 1]++;
	}
	for (i = 0; i < pk->nkeys; i++)
		pk->start[i + 1] += pk->start[i];
	next = palloc(sizeof(int) * Max(pk->nkeys, 1));
	memcpy(next, pk->start, sizeof(int) * pk->nkeys);
	for (i = 0; i < nfiled; i++)
	{
		if (filed[i] >= 0)
			pk->entries[next[filed[i] >> 32]++] = (int) (filed[i] & 0xffffffff);
	}
	pfree(next);
	if (filed)
		pfree(filed);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	return pk;
}

static NameIndex *
names_of_kind(DirectoryIndex *index, IndexKey kind)
{
	switch (kind)
	{
		case INDEX_KEY_FIRST:
		case INDEX_KEY_FULL:
			return &index->full;
		case INDEX_KEY_LAST:
			return &index->last;
		case INDEX_KEY_ID:
			return &index->id;
		default:
			break;
	}
	return NULL;
}

/* The pair keys of first names (INDEX_KEY_FIRST_PART) or last names. */
static PairKeys *
pair_keys_of_kind(DirectoryIndex *index, IndexKey kind)
{
	int			which = kind == INDEX_KEY_LAST_PART ? 1 : 0;

	if (index->pairs[0] == NULL)
	{
		MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
													  "pssync pair keys",
													  ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(scratch);
		instr_time	start;


		INSTR_TIME_SET_CURRENT(start);
		index->pairs_arena = arena_create(arena_context(index->arena),
										  "pssync pair keys of the index");
		index->pairs[0] = build_pair_keys(index, false);
		index->pairs[1] = build_pair_keys(index, true);
		log_phase_time(&start, "filing the entries for suggestions");
		MemoryContextSwitchTo(old);
		MemoryContextDelete(scratch);
	}
	return index->pairs[which];
}

/*
 * The entries filed under a key (a name_part_keys key of a first or last
 * name, a directory_index_full_key or a directory_index_id_key), each
 * once, in the order of the entries; returns how many, the numbers
 * palloc'd in *entries.
 */
int
directory_index_entries(DirectoryIndex *index, IndexKey kind, const char *key,
						int **entries)
{
	NameIndex  *names;
	const char *first_key = key;
	const char *second_key = NULL;
	uint32		hash;
	int			allocated = 16;
	int			n = 0;
	int			i;

	if (kind == INDEX_KEY_FIRST_PART || kind == INDEX_KEY_LAST_PART)
	{
		PairKeys   *pk = pair_keys_of_kind(index, kind);
		PairKey    *found = hash_search(pk->keys, &key, HASH_FIND, NULL);
		HTAB	   *wanted = index->wanted[kind == INDEX_KEY_LAST_PART ? 1 : 0];

		if (found == NULL && wanted &&
			hash_search(wanted, &key, HASH_FIND, NULL) == NULL)
		{
			/* a key not named beforehand: file them all, and answer */
			elog(DEBUG1, "pssync: a suggestion asked for a pair key not named beforehand");
			directory_index_forget_pairs(index);
			pk = pair_keys_of_kind(index, kind);
			found = hash_search(pk->keys, &key, HASH_FIND, NULL);
		}
		if (found == NULL)
		{
			*entries = palloc(sizeof(int));
			return 0;
		}
		n = pk->start[found->number + 1] - pk->start[found->number];
		*entries = palloc(sizeof(int) * Max(n, 1));
		memcpy(*entries, pk->entries + pk->start[found->number], sizeof(int) * n);
		return n;
	}
	names = names_of_kind(index, kind);
	*entries = palloc(sizeof(int) * allocated);
	if (names->count == 0 || kind == INDEX_KEY_FIRST)
		return 0;				/* no entries are filed under a first name alone */
	if (kind == INDEX_KEY_FULL)
	{
		const char *separator = strchr(key, KEY_SEPARATOR);

		if (separator == NULL)
			return 0;
		first_key = pnstrdup(key, separator - key);
		second_key = separator + 1;
		hash = hash_combine(key_hash(first_key), key_hash(second_key));
	}
	else
		hash = key_hash(key);
	for (i = names->buckets[hash & names->mask]; i >= 0; i = row_at(names, i)->next)
	{
		IndexRow   *row = row_at(names, i);

		if (!row_has_key(names, row, first_key, second_key) ||
			(n > 0 && (*entries)[n - 1] == row->entry))
			continue;
		if (n == allocated)
		{
			allocated *= 2;
			*entries = repalloc(*entries, sizeof(int) * allocated);
		}
		(*entries)[n++] = row->entry;
	}
	return n;
}

/* The entries filed under pair keys, forgotten (the keys wanted are kept). */
static void
forget_filed_pairs(DirectoryIndex *index)
{
	if (index->pairs_arena)
		MemoryContextDelete(arena_context(index->pairs_arena));
	index->pairs_arena = NULL;
	index->pairs[0] = index->pairs[1] = NULL;
}

/*
 * Name pair keys (of first names, INDEX_KEY_FIRST_PART, or of last names)
 * that suggestions will ask for: once any is named, only the keys named
 * are filed, which takes a fraction of the memory and time of filing
 * every entry under all of its keys.  Comes before the pair keys are asked
 * for (what was filed before is filed again); a key asked for but not
 * named makes the index file them all.
 */
void
directory_index_want_pair_keys(DirectoryIndex *index, IndexKey kind, List *keys)
{
	int			which = kind == INDEX_KEY_LAST_PART ? 1 : 0;
	ListCell   *cell;
	int			k;

	Assert(kind == INDEX_KEY_FIRST_PART || kind == INDEX_KEY_LAST_PART);
	/* filed already: filed again, with these keys too, when next asked */
	forget_filed_pairs(index);
	if (index->wanted_cxt == NULL)
		index->wanted_cxt = AllocSetContextCreate(arena_context(index->arena),
												  "pssync pair keys wanted",
												  ALLOCSET_DEFAULT_SIZES);
	/* both kinds: a kind none is named of files nothing */
	for (k = 0; k < 2; k++)
	{
		if (index->wanted[k] == NULL)
			index->wanted[k] = string_table_create("pssync pair keys wanted", 4096,
												   sizeof(char *), index->wanted_cxt);
	}
	foreach(cell, keys)
	{
		const char *key = strVal(lfirst(cell));
		bool		found;
		char	  **entry = hash_search(index->wanted[which], &key, HASH_ENTER, &found);

		if (!found)
			*entry = MemoryContextStrdup(index->wanted_cxt, key);
	}
}

/* What suggestions filed in the index, forgotten once they are made. */
void
directory_index_forget_pairs(DirectoryIndex *index)
{
	forget_filed_pairs(index);
	if (index->wanted_cxt)
		MemoryContextDelete(index->wanted_cxt);
	index->wanted_cxt = NULL;
	index->wanted[0] = index->wanted[1] = NULL;
}

DirectoryEntry *
directory_index_entry_at(DirectoryIndex *index, int entry)
{
	return entry_at(index, entry);
}

/*
 * The first row of each entry in names (rows are in the order of the
 * entries), and after the last entry the end: an entry's rows are
 * [rows[e], rows[e + 1]).
 */
static int *
rows_of_entries(DirectoryIndex *index, NameIndex *names)
{
	int		   *first = MemoryContextAllocHuge(arena_context(index->arena),
											   sizeof(int) * (index->nentries + 1));
	int			e = 0;
	int			i;

	for (i = 0; i < names->count; i++)
	{
		while (e <= row_at(names, i)->entry)
			first[e++] = i;
	}
	while (e <= index->nentries)
		first[e++] = names->count;
	return first;
}

/*
 * The values of an entry's first names (INDEX_KEY_FIRST), last names
 * (INDEX_KEY_LAST) or IDs (INDEX_KEY_ID): at most max of them, each once.
 * A plain value without spaces is given as its key, in lower case; a value
 * with a NUL has no text.  The first names of an entry without a last name
 * are not known.  Returns how many.
 */
int
directory_index_values(DirectoryIndex *index, int entry, IndexKey kind,
					   NameValue *values, int max)
{
	int			which = kind == INDEX_KEY_FIRST ? 0 : kind == INDEX_KEY_LAST ? 1 : 2;
	NameIndex  *names = which == 0 ? &index->full : which == 1 ? &index->last : &index->id;
	int			n = 0;
	int			i;

	if (index->row_of_entry[which] == NULL)
		index->row_of_entry[which] = rows_of_entries(index, names);
	for (i = index->row_of_entry[which][entry];
		 i < index->row_of_entry[which][entry + 1] && n < max; i++)
	{
		IndexRow   *row = row_at(names, i);
		const char *text = value_raw(row->value[0]);
		const char *key = value_key(row->value[0]);
		int			keylen = strlen(key);
		int			k;

		for (k = 0; k < n; k++)
		{
			if (values[k].text == text && values[k].keylen == keylen &&
				strncmp(values[k].key, key, keylen) == 0)
				break;
		}
		if (k < n)
			continue;
		values[n].text = text;
		values[n].len = text ? strlen(text) : 0;
		values[n].key = key;
		values[n].keylen = keylen;
		n++;
	}
	return n;
}

/*
 * Hand each entry of the index to callback: its permanent ID and the keys
 * of its last names and IDs (ldap_sync_changes keeps them, to find the
 * records a later change of the entry matters to).  Returns false, having
 * handed none, when the index cannot tell them all: entries read without
 * a permanent ID, or whose last name or ID the bind account may search but
 * not read.
 */
bool
directory_index_for_each(DirectoryIndex *index, IndexEntryCallback callback,
						 void *arg)
{
	MemoryContext cxt;
	MemoryContext old;
	List	  **last_keys;
	List	  **id_keys;
	int			i;

	if (index->entry_id_value < 0 || index->without_entry_id > 0 ||
		index->hidden_last > 0 || index->hidden_id > 0)
		return false;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync index keys",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	last_keys = palloc0(sizeof(List *) * Max(index->nentries, 1));
	id_keys = palloc0(sizeof(List *) * Max(index->nentries, 1));
	for (i = 0; i < index->last.count; i++)
	{
		IndexRow   *row = row_at(&index->last, i);

		last_keys[row->entry] = lappend(last_keys[row->entry],
										unconstify(char *, value_key(row->value[0])));
	}
	for (i = 0; i < index->id.count; i++)
	{
		IndexRow   *row = row_at(&index->id, i);

		id_keys[row->entry] = lappend(id_keys[row->entry],
									  unconstify(char *, value_key(row->value[0])));
	}
	MemoryContextSwitchTo(old);
	for (i = 0; i < index->nentries; i++)
		callback(arg, entry_at(index, i)->entry_id, last_keys[i], id_keys[i]);
	MemoryContextDelete(cxt);
	return true;
}
