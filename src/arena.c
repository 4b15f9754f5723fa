/*-------------------------------------------------------------------------
 *
 * arena.c
 *		  A bump allocator for the many small things a district-wide sync
 *		  keeps: records, result rows, directory entries and their keys.
 *
 * A sync of 100,000 students keeps hundreds of thousands of small strings
 * and structs for the length of the call.  palloc() would round each up to
 * a power of two and add a chunk header; an arena packs them into large
 * blocks of its own memory context, and frees them all at once with it.
 * Nothing in an arena is freed on its own.
 *
 * Also tables keyed by such a string (a char * that their entries begin
 * with): string_table_create().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "common/hashfn.h"
#include "utils/hsearch.h"

#include "utils/memutils.h"

#include "pssync.h"

#define ARENA_BLOCK_SIZE (256 * 1024)

/*
 * A large arena's blocks: allocations of 32 MB and more are always mapped
 * by the C library on their own (glibc's mmap threshold is at most that),
 * so that they go back to the system when they are freed, and touch only
 * the pages used.
 */
#define ARENA_LARGE_BLOCK_SIZE (32 * 1024 * 1024)

struct Arena
{
	MemoryContext cxt;
	char	   *block;
	Size		used;
	Size		size;
	Size		block_size;
};

/*
 * An arena whose memory belongs to a new child of parent: deleting parent
 * (or the child, arena_context()) frees it.  name must be a string
 * constant, as for AllocSetContextCreate().
 */
Arena *
arena_create(MemoryContext parent, const char *name)
{
	MemoryContext cxt = AllocSetContextCreateInternal(parent, name,
													  ALLOCSET_DEFAULT_SIZES);
	Arena	   *arena = MemoryContextAllocZero(cxt, sizeof(Arena));

	arena->cxt = cxt;
	arena->block_size = ARENA_BLOCK_SIZE;
	return arena;
}

/*
 * An arena for many megabytes that are freed long before the call ends
 * (the scan's index): its memory is given back to the system when it is
 * freed, rather than left between the blocks of what lives on, where the
 * larger allocations that follow would not fit.
 */
Arena *
arena_create_large(MemoryContext parent, const char *name)
{
	Arena	   *arena = arena_create(parent, name);

	arena->block_size = ARENA_LARGE_BLOCK_SIZE;
	return arena;
}

MemoryContext
arena_context(Arena *arena)
{
	return arena->cxt;
}

/*
 * size bytes, MAXALIGNed when aligned (strings need no alignment: packed
 * one after another, they take a third less room than aligned).
 */
static void *
arena_alloc_internal(Arena *arena, Size size, bool aligned)
{
	void	   *p;

	if (size > arena->block_size / 4)
		return MemoryContextAllocHuge(arena->cxt, size);
	if (aligned)
		arena->used = MAXALIGN(arena->used);
	if (arena->block == NULL || arena->used + size > arena->size)
	{
		arena->block = MemoryContextAllocHuge(arena->cxt, arena->block_size);
		arena->size = arena->block_size;
		arena->used = 0;
	}
	p = arena->block + arena->used;
	arena->used += size;
	return p;
}

void *
arena_alloc(Arena *arena, Size size)
{
	return arena_alloc_internal(arena, size, true);
}

/* size bytes, unaligned: for strings and other bytes */
char *
arena_alloc_bytes(Arena *arena, Size size)
{
	return arena_alloc_internal(arena, size, false);
}

void *
arena_alloc0(Arena *arena, Size size)
{
	void	   *p = arena_alloc(arena, size);

	memset(p, 0, size);
	return p;
}

char *
arena_strndup(Arena *arena, const char *s, Size len)
{
	char	   *copy = arena_alloc_bytes(arena, len + 1);

	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

char *
arena_strdup(Arena *arena, const char *s)
{
	return arena_strndup(arena, s, strlen(s));
}

/*
 * A copy of len bytes, which may hold NUL bytes (a binary directory value),
 * NUL-terminated, in the arena or, without one, in the current memory
 * context.  (pnstrdup() would stop at the first NUL.)
 */
char *
copy_bytes(Arena *arena, const char *s, Size len)
{
	char	   *copy;

	if (arena)
		return arena_strndup(arena, s, len);
	copy = palloc(len + 1);
	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

/*
 * dynahash callbacks for a table whose entries begin with a char * key: a
 * NUL-terminated string that lives elsewhere (in an arena, say), hashed and
 * compared as a string, not as a pointer.
 */
static uint32
string_pointer_hash(const void *key, Size keysize pg_attribute_unused())
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
string_pointer_match(const void *a, const void *b, Size keysize pg_attribute_unused())
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * A dynahash table in cxt whose entries (of entrysize bytes) begin with
 * such a char * key.
 */
HTAB *
string_table_create(const char *name, long nelem, Size entrysize,
					MemoryContext cxt)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = entrysize;
	ctl.hash = string_pointer_hash;
	ctl.match = string_pointer_match;
	ctl.hcxt = cxt;
	return hash_create(name, nelem, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}
