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
 * directory when it is certain about each of them:
 *
 *	- a plain value (names.c) equals a plain name exactly when their
 *	  skeletons are equal, which here they are;
 *	- any value equals a name that is the same bytes: equality is
 *	  reflexive in every directory.
 *
 * When an entry under the skeleton is neither, the directory must be
 * asked (matching.c does).  In a district, that is the rare record whose
 * name has another case or accents in the directory.
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

/*
 * One value (or first and last name pair) of an entry, under its key.
 * raw holds the values as the directory sent them, or NULL for a plain
 * value, which its key decides.
 */
typedef struct IndexRow
{
	const char *key;
	const char *raw[2];
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
	bool		complete;		/* the directory returned every entry */
	bool		with_id;		/* entries carry an ID (values[3]) */
};

/* A value of an entry: its key in the arena, and its raw form if needed. */
typedef struct IndexValue
{
	const char *key;
	const char *raw;			/* NULL: plain */
} IndexValue;

static void
add_row(DirectoryIndex *index, NameIndex *names, const char *key,
		const char *raw0, const char *raw1, int entry)
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
	row->raw[0] = raw0;
	row->raw[1] = raw1;
	row->entry = entry;
}

/* The keys (and raw forms where not plain) of an attribute's values. */
static IndexValue *
index_values(DirectoryIndex *index, DirectoryValues *values)
{
	IndexValue *result = palloc(sizeof(IndexValue) * Max(values->count, 1));
	int			i;

	for (i = 0; i < values->count; i++)
	{
		const char *v = values->values[i];
		int			len = values->lengths[i];
		bool		plain = is_plain_name(v, len);

		result[i].key = arena_strdup(index->arena, plain ? plain_name_key(v, len) :
									 name_skeleton(v, len));
		result[i].raw = plain ? NULL : arena_strndup(index->arena, v, len);
	}
	return result;
}

/*
 * Called for each entry of the scan: values are first name, last name,
 * user ID and, when matching by ID, the ID, in that order.
 */
static void
index_entry(void *arg, const char *dn, DirectoryValues *values)
{
	DirectoryIndex *index = (DirectoryIndex *) arg;
	MemoryContext old;
	DirectoryValues *first = &values[0];
	DirectoryValues *last = &values[1];
	DirectoryValues *id = index->with_id ? &values[3] : NULL;
	IndexValue *first_values;
	IndexValue *last_values;
	int			entry = index->nentries;
	int			f;
	int			l;

	/* an entry without a last name (or ID) can match no record */
	if (last->count == 0 && (id == NULL || id->count == 0))
		return;

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
	index->nentries++;

	old = MemoryContextSwitchTo(index->scratch);
	first_values = index_values(index, first);
	last_values = index_values(index, last);
	for (l = 0; l < last->count; l++)
	{
		const char *last_key = last_values[l].key;
		size_t		last_len = strlen(last_key);

		add_row(index, &index->last, last_key, last_values[l].raw, NULL, entry);
		for (f = 0; f < first->count; f++)
		{
			size_t		first_len = strlen(first_values[f].key);
			char	   *key = arena_alloc(index->arena, first_len + last_len + 2);

			memcpy(key, first_values[f].key, first_len);
			key[first_len] = KEY_SEPARATOR;
			memcpy(key + first_len + 1, last_key, last_len + 1);
			add_row(index, &index->full, key, first_values[f].raw,
					last_values[l].raw, entry);
		}
	}
	if (id)
	{
		IndexValue *id_values = index_values(index, id);

		for (f = 0; f < id->count; f++)
			add_row(index, &index->id, id_values[f].key, id_values[f].raw,
					NULL, entry);
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

/*
 * Read the group's entries and index them.
 */
DirectoryIndex *
directory_index_build(PssyncServer *server, PssyncDirectory *dir,
					  const char *base_dn, const char *uid_attr,
					  const char *id_attr)
{
	Arena	   *arena = arena_create(CurrentMemoryContext, "pssync directory index");
	DirectoryIndex *index = arena_alloc0(arena, sizeof(DirectoryIndex));
	const char *attrs[] = {server->first_name_attr, server->last_name_attr,
	uid_attr, id_attr, NULL};

	index->arena = arena;
	index->with_id = id_attr != NULL;
	index->scratch = AllocSetContextCreate(arena_context(arena),
										   "pssync directory index entry",
										   ALLOCSET_SMALL_SIZES);
	index->complete = directory_search(dir, base_dn,
									   directory_to_utf8(server->filter),
									   attrs, index_entry, index);

	build_buckets(index, &index->full);
	build_buckets(index, &index->last);
	build_buckets(index, &index->id);
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
 * A record's name as the index compares it: its key, and its UTF-8 form
 * unless it is plain.
 */
typedef struct RecordName
{
	char	   *key;
	char	   *utf8;			/* NULL: plain */
} RecordName;

static void
record_name(const char *name, RecordName *result)
{
	int			len = strlen(name);

	if (is_plain_name(name, len))
	{
		result->key = plain_name_key(name, len);
		result->utf8 = NULL;
	}
	else
	{
		result->utf8 = directory_to_utf8(name);
		result->key = name_skeleton(result->utf8, strlen(result->utf8));
	}
}

/* Does the directory certainly find a value equal to the name? */
static bool
certainly_equal(const char *raw, RecordName *name)
{
	if (raw == NULL)
		return name->utf8 == NULL;	/* both plain, keys equal */
	return name->utf8 != NULL && strcmp(raw, name->utf8) == 0;
}

/*
 * The entries under key whose rows make the directory's answer certain:
 * returns false if any entry under the key is uncertain.  Without name1
 * a row's first value is compared with name0 alone.
 */
static bool
lookup(DirectoryIndex *index, NameIndex *names, const char *key,
	   RecordName *name0, RecordName *name1, List **entries)
{
	uint32		hash = key_hash(key);
	int			previous = -1;
	bool		certain = true;
	int			i;

	*entries = NIL;
	if (names->count == 0)
		return true;

	for (i = names->buckets[hash & names->mask]; i >= 0; i = names->rows[i].next)
	{
		IndexRow   *row = &names->rows[i];

		if (row->hash != hash || strcmp(row->key, key) != 0)
			continue;

		/* the first row of an entry: is the one before it certain? */
		if (row->entry != previous)
		{
			if (!certain)
				break;
			certain = false;
			previous = row->entry;
			*entries = lappend(*entries, &index->entries[row->entry]);
		}
		if (certainly_equal(row->raw[0], name0) &&
			(name1 == NULL || certainly_equal(row->raw[1], name1)))
			certain = true;
	}
	if (!certain)
	{
		list_free(*entries);
		*entries = NIL;
		return false;
	}
	return true;
}

/*
 * The entries with both of a record's names (as search_name() gives them,
 * in the server encoding).  Returns false if only the directory can say.
 */
bool
directory_index_exact(DirectoryIndex *index, const char *first,
					  const char *last, List **entries)
{
	RecordName f;
	RecordName l;
	char	   *key;

	record_name(first, &f);
	record_name(last, &l);
	key = psprintf("%s%c%s", f.key, KEY_SEPARATOR, l.key);
	return lookup(index, &index->full, key, &f, &l, entries);
}

/* The entries with a record's last name; false if only the directory can say. */
bool
directory_index_partial(DirectoryIndex *index, const char *last, List **entries)
{
	RecordName l;

	record_name(last, &l);
	return lookup(index, &index->last, l.key, &l, NULL, entries);
}

/* The entries with a record's ID; false if only the directory can say. */
bool
directory_index_id(DirectoryIndex *index, const char *id, List **entries)
{
	RecordName i;

	record_name(id, &i);
	return lookup(index, &index->id, i.key, &i, NULL, entries);
}

void
directory_index_free(DirectoryIndex *index)
{
	MemoryContextDelete(arena_context(index->arena));
}
