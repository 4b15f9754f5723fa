/*-------------------------------------------------------------------------
 *
 * scan.c
 *		  The "scan" strategy: the directory read once, indexed in memory.
 *
 * One paged subtree search of the group's base DN, with the server's
 * filter, fetches every entry's DN, name attributes and user ID attribute.
 * They are indexed by name (see names.c):
 *
 *	- entries whose names are all plain, by their plain keys: these answer a
 *	  record with a plain name exactly;
 *	- every other entry, by its skeletons: these only say that the
 *	  directory must be asked about a record.
 *
 * The index lives in a memory context of its own, a child of the call's,
 * deleted at the end of the call or with it on error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "pssync.h"

/* separates the first and last name in a full-name key */
#define KEY_SEPARATOR "\001"

typedef struct IndexKey
{
	const char *key;
	int			entry;
} IndexKey;

typedef struct NameIndex
{
	IndexKey   *keys;
	int			count;
	int			allocated;
} NameIndex;

struct DirectoryIndex
{
	MemoryContext cxt;
	DirectoryEntry *entries;
	int			nentries;
	int			allocated;
	NameIndex	plain_full;		/* first + last name, plain entries */
	NameIndex	plain_last;		/* last name, plain entries */
	NameIndex	unsure_full;	/* skeletons, the other entries */
	NameIndex	unsure_last;
	NameIndex	plain_id;		/* IDs, when matching by ID */
	NameIndex	unsure_id;
	bool		complete;		/* the directory returned every entry */
	bool		with_id;		/* entries carry an ID (values[3]) */
};

static void
add_key(DirectoryIndex *index, NameIndex *names, char *key, int entry)
{
	if (names->count == names->allocated)
	{
		names->allocated = Max(1024, names->allocated * 2);
		names->keys = names->keys ?
			repalloc_huge(names->keys, sizeof(IndexKey) * names->allocated) :
			MemoryContextAllocHuge(index->cxt, sizeof(IndexKey) * names->allocated);
	}
	names->keys[names->count].key = key;
	names->keys[names->count].entry = entry;
	names->count++;
}

static bool
all_plain(DirectoryValues *values)
{
	int			i;

	for (i = 0; i < values->count; i++)
	{
		if (!is_plain_name(values->values[i], values->lengths[i]))
			return false;
	}
	return true;
}

/* The keys of an attribute's values: a plain name's skeleton is its key. */
static char **
value_keys(DirectoryValues *values)
{
	char	  **keys = palloc(sizeof(char *) * Max(values->count, 1));
	int			i;

	for (i = 0; i < values->count; i++)
		keys[i] = name_skeleton(values->values[i], values->lengths[i]);
	return keys;
}

/*
 * Called for each entry of the scan: values are first name, last name,
 * user ID and, when matching by ID, the ID, in that order.
 */
static void
index_entry(void *arg, const char *dn, DirectoryValues *values)
{
	DirectoryIndex *index = (DirectoryIndex *) arg;
	MemoryContext old = MemoryContextSwitchTo(index->cxt);
	DirectoryValues *first = &values[0];
	DirectoryValues *last = &values[1];
	DirectoryValues *id = index->with_id ? &values[3] : NULL;
	bool		last_plain = all_plain(last);
	bool		full_plain = last_plain && all_plain(first);
	NameIndex  *full_index = full_plain ? &index->plain_full : &index->unsure_full;
	NameIndex  *last_index = last_plain ? &index->plain_last : &index->unsure_last;
	char	  **first_keys;
	char	  **last_keys;
	int			entry = index->nentries;
	int			f;
	int			l;

	/* an entry without a last name (or ID) can match no record */
	if (last->count == 0 && (id == NULL || id->count == 0))
	{
		MemoryContextSwitchTo(old);
		return;
	}

	if (index->nentries == index->allocated)
	{
		index->allocated = Max(1024, index->allocated * 2);
		index->entries = index->entries ?
			repalloc_huge(index->entries, sizeof(DirectoryEntry) * index->allocated) :
			MemoryContextAllocHuge(index->cxt, sizeof(DirectoryEntry) * index->allocated);
	}
	index->entries[entry].dn = pstrdup(dn);
	copy_directory_values(&index->entries[entry].uid, &values[2]);
	index->nentries++;

	first_keys = value_keys(first);
	last_keys = value_keys(last);
	for (l = 0; l < last->count; l++)
	{
		add_key(index, last_index, last_keys[l], entry);
		for (f = 0; f < first->count; f++)
			add_key(index, full_index,
					psprintf("%s" KEY_SEPARATOR "%s", first_keys[f], last_keys[l]),
					entry);
	}
	pfree(first_keys);
	pfree(last_keys);

	if (id && id->count > 0)
	{
		char	  **id_keys = value_keys(id);

		for (f = 0; f < id->count; f++)
			add_key(index, all_plain(id) ? &index->plain_id : &index->unsure_id,
					id_keys[f], entry);
		pfree(id_keys);
	}

	MemoryContextSwitchTo(old);
}

static int
compare_keys(const void *a, const void *b)
{
	const IndexKey *x = (const IndexKey *) a;
	const IndexKey *y = (const IndexKey *) b;
	int			cmp = strcmp(x->key, y->key);

	if (cmp != 0)
		return cmp;
	return x->entry - y->entry;
}

/*
 * Read the group's entries and index them.
 */
DirectoryIndex *
directory_index_build(PssyncServer *server, PssyncDirectory *dir,
					  const char *base_dn, const char *uid_attr,
					  const char *id_attr)
{
	DirectoryIndex *index = palloc0(sizeof(DirectoryIndex));
	const char *attrs[] = {server->first_name_attr, server->last_name_attr,
	uid_attr, id_attr, NULL};

	index->with_id = id_attr != NULL;

	index->cxt = AllocSetContextCreate(CurrentMemoryContext,
									   "pssync directory index",
									   ALLOCSET_DEFAULT_SIZES);
	index->complete = directory_search(dir, base_dn,
									   directory_to_utf8(server->filter),
									   attrs, index_entry, index);

	qsort(index->plain_full.keys, index->plain_full.count, sizeof(IndexKey), compare_keys);
	qsort(index->plain_last.keys, index->plain_last.count, sizeof(IndexKey), compare_keys);
	qsort(index->unsure_full.keys, index->unsure_full.count, sizeof(IndexKey), compare_keys);
	qsort(index->unsure_last.keys, index->unsure_last.count, sizeof(IndexKey), compare_keys);
	qsort(index->plain_id.keys, index->plain_id.count, sizeof(IndexKey), compare_keys);
	qsort(index->unsure_id.keys, index->unsure_id.count, sizeof(IndexKey), compare_keys);
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
 * The entries indexed under key, each once, in the order they were read.
 */
static List *
lookup(NameIndex *names, const char *key)
{
	int			low = 0;
	int			high = names->count;
	List	   *entries = NIL;
	int			previous = -1;

	while (low < high)
	{
		int			mid = low + (high - low) / 2;

		if (strcmp(names->keys[mid].key, key) < 0)
			low = mid + 1;
		else
			high = mid;
	}
	for (; low < names->count && strcmp(names->keys[low].key, key) == 0; low++)
	{
		if (names->keys[low].entry != previous)
			entries = lappend_int(entries, names->keys[low].entry);
		previous = names->keys[low].entry;
	}
	return entries;
}

/*
 * What the index says about a record with plain names (first may be NULL):
 * the exact and partial entries, unless an entry that is not plain might
 * match too, in which case it returns false and the directory must be
 * asked.
 */
bool
directory_index_match(DirectoryIndex *index, const char *first,
					  const char *last, List **exact, List **partial)
{
	char	   *last_key = plain_name_key(last, strlen(last));
	List	   *found;
	ListCell   *cell;

	*exact = NIL;
	*partial = NIL;

	if (first != NULL)
	{
		char	   *full_key = psprintf("%s" KEY_SEPARATOR "%s",
										plain_name_key(first, strlen(first)),
										last_key);

		if (lookup(&index->unsure_full, full_key) != NIL)
			return false;
		found = lookup(&index->plain_full, full_key);
		foreach(cell, found)
			*exact = lappend(*exact, &index->entries[lfirst_int(cell)]);
		if (*exact != NIL)
			return true;
	}

	if (lookup(&index->unsure_last, last_key) != NIL)
		return false;
	found = lookup(&index->plain_last, last_key);
	foreach(cell, found)
		*partial = lappend(*partial, &index->entries[lfirst_int(cell)]);
	return true;
}

/*
 * The entries whose ID equals a record's plain ID, unless an entry whose ID
 * is not plain might equal it too (false: ask the directory).
 */
bool
directory_index_match_id(DirectoryIndex *index, const char *id, List **found)
{
	char	   *key = plain_name_key(id, strlen(id));
	List	   *entries;
	ListCell   *cell;

	*found = NIL;
	if (lookup(&index->unsure_id, key) != NIL)
		return false;
	entries = lookup(&index->plain_id, key);
	foreach(cell, entries)
		*found = lappend(*found, &index->entries[lfirst_int(cell)]);
	return true;
}

void
directory_index_free(DirectoryIndex *index)
{
	MemoryContextDelete(index->cxt);
	pfree(index);
}
