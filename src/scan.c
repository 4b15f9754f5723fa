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
 * Everything the index keeps is in an arena of its own, a child of the
 * call's memory context: the result rows point to its entries' DNs and
 * user IDs, and it goes with the call's context at its end, or on error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/memutils.h"

#include "pssync.h"

/* separates the first and last name in a full-name key */
#define KEY_SEPARATOR '\001'

/* What the index knows of a value against a name. */
typedef enum Equality
{
	CERTAINLY_EQUAL,
	CERTAINLY_NOT,
	UNKNOWN
} Equality;

/*
 * One value (or first and last name pair) of an entry, under its key.
 * raw holds a value as the directory sent it, or for a plain value without
 * spaces the value's own key, which spells it in lower case.
 */
typedef struct IndexRow
{
	const char *key;
	const char *raw[2];
	bool		plain[2];
	int			entry;
	uint32		hash;			/* of key */
	int			next;			/* the next row in the key's bucket, or -1 */
} IndexRow;

/*
 * A hash table of rows: buckets hold the first row of a chain, and the
 * rows of a chain stay in the order they were added, so that the rows of
 * one entry under one key are next to each other.
 */
typedef struct NameIndex
{
	IndexRow   *rows;
	int			count;
	int			allocated;
	int		   *buckets;
	uint32		mask;			/* number of buckets - 1 */
} NameIndex;

/* The entries the read returned without an attribute, by DN. */
typedef struct Missing
{
	List	   *entries;		/* of int: entry numbers */
	List	   *last_keys;		/* of char *: their last names' keys */
} Missing;

struct DirectoryIndex
{
	Arena	   *arena;
	MemoryContext scratch;		/* one entry's keys while they are made */
	DirectoryEntry *entries;
	int			nentries;
	int			allocated;
	NameIndex	full;			/* first and last name */
	NameIndex	last;			/* last name */
	NameIndex	id;				/* ID, when matching by ID */
	NameIndex	entry_ids;		/* permanent IDs, when links are used */
	NameIndex	hidden_first;	/* last names of entries whose first name
								 * may be hidden */
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

/* A value of an entry: its key in the arena, and its raw form if needed. */
typedef struct IndexValue
{
	const char *key;
	const char *raw;			/* NULL: plain without spaces */
	bool		plain;
	bool		opaque;			/* holds a NUL: only the directory can say */
} IndexValue;

static void
add_row(DirectoryIndex *index, NameIndex *names, const char *key,
		IndexValue *v0, IndexValue *v1, int entry)
{
	IndexRow   *row;

	if (names->count == names->allocated)
	{
		names->allocated = Max(4096, names->allocated * 2);
		names->rows = names->rows ?
			repalloc_huge(names->rows, sizeof(IndexRow) * names->allocated) :
			MemoryContextAllocHuge(arena_context(index->arena),
								   sizeof(IndexRow) * names->allocated);
	}
	row = &names->rows[names->count++];
	row->key = key;
	row->raw[0] = v0 && !v0->opaque ? (v0->raw ? v0->raw : v0->key) : NULL;
	row->plain[0] = v0 ? v0->plain : false;
	row->raw[1] = v1 && !v1->opaque ? (v1->raw ? v1->raw : v1->key) : NULL;
	row->plain[1] = v1 ? v1->plain : false;
	row->entry = entry;
}

/* The keys (and raw forms where needed) of an attribute's values. */
static IndexValue *
index_values(DirectoryIndex *index, DirectoryValues *values)
{
	IndexValue *result = palloc(sizeof(IndexValue) * Max(values->count, 1));
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
		result[i].opaque = memchr(v, '\0', len) != NULL;
		result[i].plain = !result[i].opaque && is_plain_name(v, len);
		result[i].key = arena_strdup(index->arena, name_skeleton(v, len));
		result[i].raw = result[i].opaque ||
			(result[i].plain && memchr(v, ' ', len) == NULL) ? NULL :
			arena_strndup(index->arena, v, len);
	}
	return result;
}

/*
 * The key of an ID: the letters and digits of its skeleton.  An ID
 * attribute may be matched by any rule (caseExactMatch, numericStringMatch
 * ignoring spaces, telephoneNumberMatch ignoring hyphens): IDs that any of
 * them may take for the same share a key.
 */
char *
id_key(const char *id, int len)
{
	char	   *key = name_skeleton(id, len);
	char	   *from;
	char	   *to = key;

	for (from = key; *from; from++)
	{
		if ((*from >= 'a' && *from <= 'z') || (*from >= '0' && *from <= '9'))
			*to++ = *from;
	}
	*to = '\0';
	return key;
}

/*
 * The keys and raw forms of an ID attribute's values.  None is plain: an
 * ID is certainly a record's only when it is the same bytes, and for the
 * rest only the directory, which knows the attribute's matching rule, can
 * say.
 */
static IndexValue *
index_id_values(DirectoryIndex *index, DirectoryValues *values)
{
	IndexValue *result = palloc(sizeof(IndexValue) * Max(values->count, 1));
	int			i;

	for (i = 0; i < values->count; i++)
	{
		const char *v = values->values[i];
		int			len = values->lengths[i];

		result[i].opaque = memchr(v, '\0', len) != NULL;
		result[i].plain = false;
		result[i].key = arena_strdup(index->arena, id_key(v, len));
		result[i].raw = result[i].opaque ? NULL : arena_strndup(index->arena, v, len);
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
	IndexValue *first_values;
	IndexValue *last_values;
	int			entry = index->nentries;
	int			f;
	int			l;

	if (index->nentries == index->allocated)
	{
		index->allocated = Max(4096, index->allocated * 2);
		index->entries = index->entries ?
			repalloc_huge(index->entries, sizeof(DirectoryEntry) * index->allocated) :
			MemoryContextAllocHuge(arena_context(index->arena),
								   sizeof(DirectoryEntry) * index->allocated);
	}
	index->entries[entry].dn = arena_strdup(index->arena, dn);
	copy_directory_values(index->arena, &index->entries[entry].uid, &values[2]);
	index->entries[entry].entry_id = NULL;
	index->nentries++;

	old = MemoryContextSwitchTo(index->scratch);
	if (index->entry_id_value >= 0)
	{
		char	   *entry_id = directory_entry_id(index->entry_id_attr,
												  &values[index->entry_id_value]);

		if (entry_id)
		{
			index->entries[entry].entry_id = arena_strdup(index->arena, entry_id);
			add_row(index, &index->entry_ids, index->entries[entry].entry_id,
					NULL, NULL, entry);
		}
		else
			index->without_entry_id++;
	}
	first_values = index_values(index, first);
	last_values = index_values(index, last);
	for (l = 0; l < last->count; l++)
	{
		const char *last_key = last_values[l].key;
		size_t		last_len = strlen(last_key);

		add_row(index, &index->last, last_key, &last_values[l], NULL, entry);
		for (f = 0; f < first->count; f++)
		{
			size_t		first_len = strlen(first_values[f].key);
			char	   *key = arena_alloc(index->arena, first_len + last_len + 2);

			memcpy(key, first_values[f].key, first_len);
			key[first_len] = KEY_SEPARATOR;
			memcpy(key + first_len + 1, last_key, last_len + 1);
			add_row(index, &index->full, key, &first_values[f],
					&last_values[l], entry);
		}
		if (first->count == 0)
			note_missing(index, &index->no_first, entry, last_key);
	}
	if (last->count == 0)
		note_missing(index, &index->no_last, entry, NULL);
	if (id)
	{
		IndexValue *id_values = index_id_values(index, id);

		for (f = 0; f < id->count; f++)
			add_row(index, &index->id, id_values[f].key, &id_values[f], NULL,
					entry);
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

/* Chain the rows into buckets, once they have all been added. */
static void
build_buckets(DirectoryIndex *index, NameIndex *names)
{
	uint32		nbuckets = 1024;
	int			i;

	while (nbuckets < (uint32) names->count * 2 && nbuckets < (1U << 30))
		nbuckets <<= 1;
	names->mask = nbuckets - 1;
	names->buckets = MemoryContextAllocHuge(arena_context(index->arena),
											sizeof(int) * nbuckets);
	memset(names->buckets, -1, sizeof(int) * nbuckets);

	/* the last row first, so that each chain is in the order of the rows */
	for (i = names->count - 1; i >= 0; i--)
	{
		IndexRow   *row = &names->rows[i];
		int		   *bucket;

		row->hash = key_hash(row->key);
		bucket = &names->buckets[row->hash & names->mask];
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
			 const char *base_dn, const char *attr, Missing *missing,
			 NameIndex *hidden)
{
	const char *no_attrs[] = {NULL};
	List	   *lacking = NIL;
	ListCell   *entry_cell;
	ListCell   *key_cell;
	int			count = 0;

	if (missing->entries == NIL)
		return 0;
	if (directory_search(dir, base_dn,
						 psprintf("(&%s(!(%s=*)))", directory_to_utf8(server->filter), attr),
						 no_attrs, collect_dn, &lacking))
		list_sort(lacking, compare_dns);
	else
		lacking = NIL;			/* cut short: believe none of them */

	forboth(entry_cell, missing->entries, key_cell, missing->last_keys)
	{
		int			entry = lfirst_int(entry_cell);

		if (holds_dn(lacking, index->entries[entry].dn))
			continue;
		count++;
		if (hidden && lfirst(key_cell))
			add_row(index, hidden, (char *) lfirst(key_cell), NULL, NULL, entry);
	}
	list_free_deep(lacking);
	return count;
}

/*
 * Read the group's entries and index them.
 */
DirectoryIndex *
directory_index_build(PssyncServer *server, PssyncDirectory *dir,
					  const char *base_dn, const char *uid_attr,
					  const char *id_attr, const char *entry_id_attr)
{
	Arena	   *arena = arena_create(CurrentMemoryContext, "pssync directory index");
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
	index->entry_id_attr = entry_id_attr;
	index->scratch = AllocSetContextCreate(arena_context(arena),
										   "pssync directory index entry",
										   ALLOCSET_SMALL_SIZES);
	index->complete = directory_search(dir, base_dn,
									   directory_to_utf8(server->filter),
									   attrs, index_entry, index);
	if (index->complete)
	{
		index->hidden_last = count_hidden(index, dir, server, base_dn,
										  server->last_name_attr,
										  &index->no_last, NULL);
		(void) count_hidden(index, dir, server, base_dn,
							server->first_name_attr, &index->no_first,
							&index->hidden_first);
		if (id_attr)
			index->hidden_id = count_hidden(index, dir, server, base_dn,
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
	const char *raw = row->raw[i];

	if (raw == NULL)
		return UNKNOWN;			/* a value with a NUL in it */
	if (row->plain[i] && name->plain)
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
 * The entries under key that the directory would find for the names: one
 * is found when any of its rows certainly equals them.  Returns false,
 * with no entries, when only the directory can say: an entry under the
 * key has no row that certainly equals and one that may.  Without name1 a
 * row's first value is compared with name0 alone.
 */
static bool
lookup(DirectoryIndex *index, NameIndex *names, const char *key,
	   RecordName *name0, RecordName *name1, List **entries)
{
	uint32		hash = key_hash(key);
	int			current = -1;
	Equality	state = CERTAINLY_NOT;
	int			i;

	*entries = NIL;
	if (names->count == 0)
		return true;

	/* an entry's rows under a key are next to each other (see NameIndex) */
	for (i = names->buckets[hash & names->mask];; i = names->rows[i].next)
	{
		IndexRow   *row = i >= 0 ? &names->rows[i] : NULL;

		if (row && (row->hash != hash || strcmp(row->key, key) != 0))
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
				*entries = lappend(*entries, &index->entries[current]);
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

/* Are there entries that may hide their first name, under a last name? */
static bool
may_hide_first_name(DirectoryIndex *index, const char *last_key)
{
	NameIndex  *names = &index->hidden_first;
	uint32		hash;
	int			i;

	if (names->count == 0)
		return false;
	hash = key_hash(last_key);
	for (i = names->buckets[hash & names->mask]; i >= 0; i = names->rows[i].next)
	{
		if (names->rows[i].hash == hash && strcmp(names->rows[i].key, last_key) == 0)
			return true;
	}
	return false;
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
	char	   *key;

	record_name(first, &f);
	record_name(last, &l);
	*entries = NIL;
	if (index->hidden_last > 0 || may_hide_first_name(index, l.key))
		return false;
	key = psprintf("%s%c%s", f.key, KEY_SEPARATOR, l.key);
	return lookup(index, &index->full, key, &f, &l, entries);
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
	return lookup(index, &index->last, l.key, &l, NULL, entries);
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
	return lookup(index, &index->id, i.key, &i, NULL, entries);
}

/*
 * The entry with a permanent ID (a link's), or NULL; false when only the
 * directory can say (some entries were read without one).
 */
bool
directory_index_entry(DirectoryIndex *index, const char *entry_id,
					  DirectoryEntry **entry)
{
	NameIndex  *names = &index->entry_ids;
	uint32		hash = key_hash(entry_id);
	int			i;

	*entry = NULL;
	if (names->count > 0)
	{
		for (i = names->buckets[hash & names->mask]; i >= 0; i = names->rows[i].next)
		{
			if (names->rows[i].hash == hash && strcmp(names->rows[i].key, entry_id) == 0)
			{
				*entry = &index->entries[names->rows[i].entry];
				return true;
			}
		}
	}
	return index->without_entry_id == 0;
}

void
directory_index_free(DirectoryIndex *index)
{
	MemoryContextDelete(arena_context(index->arena));
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
		last_keys[index->last.rows[i].entry] =
			lappend(last_keys[index->last.rows[i].entry],
					unconstify(char *, index->last.rows[i].key));
	for (i = 0; i < index->id.count; i++)
		id_keys[index->id.rows[i].entry] =
			lappend(id_keys[index->id.rows[i].entry],
					unconstify(char *, index->id.rows[i].key));
	MemoryContextSwitchTo(old);
	for (i = 0; i < index->nentries; i++)
		callback(arg, index->entries[i].entry_id, last_keys[i], id_keys[i]);
	MemoryContextDelete(cxt);
	return true;
}
