/*-------------------------------------------------------------------------
 *
 * matching.c
 *		  What the directory says about each record: PowerSchool's matching
 *		  rules, made safe.
 *
 * For each record, the entries under the group's base DN (with the
 * server's filter) whose first- and last-name attributes equal the
 * record's names are found; the directory's own matching rules decide
 * case.  Names are searched with leading and trailing white space removed
 * and inner runs of it reduced to one space (names.c).
 *
 *	- exactly one entry: an exact match; each checked username is compared
 *	  with the entry's user ID attribute (unchanged, or a change for
 *	  apply.c to check and write); an entry without the attribute, or with
 *	  several values of it, is "no_uid";
 *	- several entries: "ambiguous", nothing is chosen;
 *	- none: the entries with the last name alone make "partial", or, when
 *	  there are none, "no_match".
 *
 * The entries are found by one of two strategies (pssync.strategy):
 *
 *	- "search" asks the directory about each record: an equality search on
 *	  both names, and when that finds nothing one on the last name (once
 *	  per last name: its candidates are the same for every record), every
 *	  value escaped (RFC 4515);
 *	- "scan" reads the directory once (scan.c) and answers from memory
 *	  whatever its index is certain about, asking the directory the
 *	  questions "search" asks only where it is not; those questions are
 *	  asked before the decisions, many at a time and each distinct one once
 *	  (directory_search_batch), so that they cost the directory's time
 *	  rather than a round trip each.
 *
 * Both give the same rows.  "auto" chooses "scan" for a selection of at
 * least SCAN_THRESHOLD records.  Measured on this project's benchmark (2
 * cores, slapd on the same machine, a directory of 110,000 entries): one
 * paged read and index of 99,000 student entries takes about 0.7 s, while
 * "search" costs about 0.13 ms per record locally and about 1.3 ms per
 * record at 1 ms round trip.  Scanning pays off from about 550 records at
 * 1 ms round trip and from about 5,000 on the same machine; 1,000 is the
 * threshold, since a district's directory is rarely on the same machine.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ldap.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pssync.h"

#define SCAN_THRESHOLD PSSYNC_SCAN_THRESHOLD

/*
 * A partial or ambiguous row lists at most this many candidates, the first
 * in DN order; a person looks those up by hand, and a common surname can
 * have thousands.  How many there were is kept (candidate_count).
 */
#define MAX_CANDIDATES 100

/*
 * The first MAX_CANDIDATES DNs of a search, in order, and their number:
 * room for MAX_CANDIDATES while they are found (new_candidates), then
 * for what was kept (kept_candidates).  A district has thousands.
 */
typedef struct Candidates
{
	int			count;			/* found */
	int			n;				/* kept */
	bool		copies;			/* dns are copies, not the entries' own */
	bool		kept;			/* no room for more: kept_candidates() */
	char	   *dns[FLEXIBLE_ARRAY_MEMBER];
} Candidates;

#define CANDIDATES_SIZE(n) (offsetof(Candidates, dns) + sizeof(char *) * (n))

/* Room for MAX_CANDIDATES, in the current memory context. */
static Candidates *
new_candidates(void)
{
	return palloc0(CANDIDATES_SIZE(MAX_CANDIDATES));
}

/*
 * The candidates found, in just the room they take, in cxt (and the DNs
 * they copied, if c is in another context, which the caller frees); c is
 * freed.
 */
static Candidates *
kept_candidates(Candidates *c, MemoryContext cxt)
{
	Candidates *kept = MemoryContextAlloc(cxt, CANDIDATES_SIZE(c->n));
	int			i;

	memcpy(kept, c, CANDIDATES_SIZE(c->n));
	kept->kept = true;
	if (c->copies && cxt != GetMemoryChunkContext(c))
	{
		for (i = 0; i < c->n; i++)
			kept->dns[i] = MemoryContextStrdup(cxt, c->dns[i]);
	}
	pfree(c);
	return kept;
}

/*
 * What the directory answered about one record, asked in advance: for the
 * scan, the questions its index could not answer.
 */
typedef struct Asked
{
	List	   *id_found;		/* DirectoryEntry */
	List	   *exact;			/* DirectoryEntry */
	Candidates *partial;
	bool		id_asked;
	bool		exact_asked;
	bool		partial_asked;
} Asked;

/*
 * One record's lookup: its linked entry (from the scan's index, or asked
 * many at a time), and what was asked in advance.
 */
typedef struct Lookup
{
	DirectoryEntry *linked;		/* the linked entry, or NULL: not found */
	Asked	   *asked;			/* what was asked, or NULL: nothing (most
								 * records of a scan) */
#ifdef USE_ASSERT_CHECKING
	bool		link_known;		/* its link was looked for */
#endif
} Lookup;						/* (one per record: 16 bytes) */

/* What was asked about a record, made (in cxt) when it is first asked. */
static Asked *
asked_of(Lookup *lookup, MemoryContext cxt)
{
	if (lookup->asked == NULL)
		lookup->asked = MemoryContextAllocZero(cxt, sizeof(Asked));
	return lookup->asked;
}

typedef struct MatchContext
{
	PssyncServer *server;
	PssyncDirectory *dir;
	DirectoryIndex *index;		/* NULL: search every record */
	List	   *base_dns;		/* the group's base DNs */
	const char *base_dn_text;	/* as messages show them */
	const char *uid_attr;
	const char *id_attr;		/* NULL: match by name only */
	const char *entry_id_attr;	/* entries' permanent ID; NULL: no links */
	const char *attrs[3];		/* what a search for entries asks for */
	Arena	   *arena;			/* the rows and what they keep */
	MemoryContext result_cxt;	/* the list of rows */
	MemoryContext record_cxt;	/* one record's scratch, reset after it */
	List	   *results;
	HTAB	   *last_names;		/* of LastName */
	int			asked;			/* records the directory was asked about */
	bool		asking;			/* the directory was asked about this one */
	int			cut_short;		/* searches stopped by a size limit */
} MatchContext;

/*
 * The entries a search finds, with their user ID values (values[0]) and,
 * when links are used, their permanent IDs (values[1]).
 */
typedef struct EntryList
{
	List	   *entries;		/* of DirectoryEntry */
	const char *entry_id_attr;	/* NULL: no entry IDs asked for */
} EntryList;

static void
collect_entry(void *arg, const char *dn, DirectoryValues *values)
{
	EntryList  *found = (EntryList *) arg;
	DirectoryEntry *entry = palloc0(sizeof(DirectoryEntry));

	entry->dn = pstrdup(dn);
	copy_directory_values(NULL, &entry->uid, &values[0]);
	if (found->entry_id_attr)
		entry->entry_id = directory_entry_id(found->entry_id_attr, &values[1]);
	found->entries = lappend(found->entries, entry);
}

static EntryList *
entry_list(MatchContext *cxt)
{
	EntryList  *list = palloc0(sizeof(EntryList));

	list->entry_id_attr = cxt->entry_id_attr;
	return list;
}

/*
 * Keep a DN among the first MAX_CANDIDATES, in order.  A DN that does not
 * live as long as the rows is copied into the memory context of the
 * Candidates.
 */
static void
add_candidate(Candidates *c, char *dn, bool copy)
{
	int			low = 0;
	int			high = c->n;

	Assert(!c->kept);
	c->count++;
	if (c->n == MAX_CANDIDATES && strcmp(dn, c->dns[MAX_CANDIDATES - 1]) >= 0)
		return;
	while (low < high)
	{
		int			mid = low + (high - low) / 2;

		if (strcmp(c->dns[mid], dn) < 0)
			low = mid + 1;
		else
			high = mid;
	}
	if (c->n == MAX_CANDIDATES && c->copies)
		pfree(c->dns[MAX_CANDIDATES - 1]);
	if (c->n == MAX_CANDIDATES)
		c->n--;
	memmove(&c->dns[low + 1], &c->dns[low], (c->n - low) * sizeof(char *));
	c->dns[low] = copy ? MemoryContextStrdup(GetMemoryChunkContext(c), dn) : dn;
	c->copies |= copy;
	c->n++;
}

static void
collect_candidate(void *arg, const char *dn, DirectoryValues *values pg_attribute_unused())
{
	add_candidate((Candidates *) arg, unconstify(char *, dn), true);
}

/* Forget what a search gave, to run it again. */
static void
reset_entries(void *arg)
{
	((EntryList *) arg)->entries = NIL;
}

static void
reset_candidates(void *arg)
{
	Assert(!((Candidates *) arg)->kept);
	memset(arg, 0, CANDIDATES_SIZE(MAX_CANDIDATES));
}

/*
 * The candidates among entries (which live as long as the rows), in room
 * for MAX_CANDIDATES.
 */
static Candidates *
candidates_of(List *entries)
{
	Candidates *c = new_candidates();
	ListCell   *cell;

	foreach(cell, entries)
		add_candidate(c, ((DirectoryEntry *) lfirst(cell))->dn, false);
	return c;
}

static SyncResult *
add_result(MatchContext *cxt, SyncRecord *rec, SyncStatus status, int check)
{
	SyncResult *result = arena_alloc0(cxt->arena, sizeof(SyncResult));
	MemoryContext old = MemoryContextSwitchTo(cxt->result_cxt);

	result->status = status;
	result->record = rec;
	result->check = check;
	cxt->results = lappend(cxt->results, result);
	MemoryContextSwitchTo(old);
	return result;
}

/*
 * A row's detail, made when first needed: in arena, or (without one) in
 * the current memory context.
 */
static ResultDetail *
result_detail(SyncResult *result, Arena *arena)
{
	if (result->detail == NULL)
		result->detail = arena ? arena_alloc0(arena, sizeof(ResultDetail)) :
			palloc0(sizeof(ResultDetail));
	return result->detail;
}

/*
 * A partial or ambiguous row lists the candidates.  The DNs live as long
 * as the rows; the list of them is shared when it does too (the
 * candidates of a last name, which many rows may list), copied otherwise.
 */
static void
set_candidates(MatchContext *cxt, SyncResult *result, Candidates *c, bool copy)
{
	ResultDetail *detail = result_detail(result, cxt->arena);

	detail->ncandidates = c->n;
	detail->candidate_count = c->count;
	if (!copy)
	{
		detail->candidates = c->dns;
		return;
	}
	detail->candidates = arena_alloc(cxt->arena, sizeof(char *) * Max(c->n, 1));
	memcpy(detail->candidates, c->dns, sizeof(char *) * c->n);
}

/*
 * An exact match: one row per checked username.  The entry lives as long
 * as the rows (in the scan's index, or found by a search into the rows'
 * context), so the rows point to its DN and user ID.
 */
static void
decide_exact(MatchContext *cxt, SyncRecord *rec, DirectoryEntry *entry,
			 const char *matched_by)
{
	char	   *dn = entry->dn;
	char	   *value = NULL;
	bool		storable = false;
	int			c;

	/*
	 * A value that cannot be a username (see is_username_text) is
	 * invalid_uid, even where the record holds it already; it is shown when
	 * it can be text at all.
	 */
	if (entry->uid.count == 1)
	{
		value = directory_value_text(entry->uid.values[0], entry->uid.lengths[0]);
		storable = value != NULL &&
			is_username_text(entry->uid.values[0], entry->uid.lengths[0]);
		if (value && value != entry->uid.values[0])
			value = arena_strdup(cxt->arena, value);
	}

	for (c = 0; c < rec->nchecks; c++)
	{
		SyncResult *result;
		SyncStatus	status;

		if (entry->uid.count != 1)
			status = STATUS_NO_UID;
		else if (!storable)
			status = STATUS_INVALID_UID;
		else if (rec->old_usernames[c] && strcmp(rec->old_usernames[c], value) == 0)
			status = STATUS_UNCHANGED;
		else
			status = STATUS_UPDATED;	/* apply.c checks and writes it */

		result = add_result(cxt, rec, status, c);
		result->dn = dn;
		result->new_username = value;
		result->matched_by = matched_by;
		result->entry_id = entry->entry_id;
	}
}

/*
 * A record whose linked entry is not found (deleted, moved out of the base
 * DN, filtered out): an exception, with what a name search finds now (the
 * exact entries if any, else the partial candidates) for a person to
 * choose from.  The link stays until a person relinks or unlinks.
 */
static void
decide_link_broken(MatchContext *cxt, SyncRecord *rec, List *exact,
				   Candidates *partial)
{
	SyncResult *result = add_result(cxt, rec, STATUS_LINK_BROKEN, -1);

	if (exact != NIL)
		set_candidates(cxt, result, candidates_of(exact), true);
	else if (partial)
		set_candidates(cxt, result, partial, false);
	else
	{
		/* none listed, rather than no list */
		result_detail(result, cxt->arena)->candidates =
			arena_alloc(cxt->arena, sizeof(char *));
	}
}

/*
 * The decision, from the entries with both names (exact) and, when there
 * are none, those with the last name (partial).
 */
static void
decide(MatchContext *cxt, SyncRecord *rec, List *exact, Candidates *partial)
{
	SyncResult *result;

	if (list_length(exact) == 1)
		decide_exact(cxt, rec, (DirectoryEntry *) linitial(exact), "name");
	else if (list_length(exact) > 1)
	{
		result = add_result(cxt, rec, STATUS_AMBIGUOUS, -1);
		set_candidates(cxt, result, candidates_of(exact), true);
	}
	else if (partial && partial->count > 0)
	{
		result = add_result(cxt, rec, STATUS_PARTIAL, -1);
		set_candidates(cxt, result, partial, false);
	}
	else
		add_result(cxt, rec, STATUS_NO_MATCH, -1);
}

/*
 * The candidates with a last name are the same for every record with it:
 * they are found once per last name, kept with the rows, and shared by
 * their partial rows.
 */
typedef struct LastName
{
	char	   *name;			/* the hash key: as search_name() gives it */
	Candidates *candidates;		/* NULL: not known yet */
} LastName;

/*
 * The entry of a last name, made on first use, with the candidates the
 * index knows for it, if it does.
 */
static LastName *
last_name(MatchContext *cxt, const char *name)
{
	LastName   *known;
	bool		found;

	if (cxt->last_names == NULL)
		cxt->last_names = string_table_create("pssync last names", 1024,
											  sizeof(LastName), cxt->result_cxt);
	known = hash_search(cxt->last_names, &name, HASH_ENTER, &found);
	if (!found)
	{
		List	   *entries;

		known->name = MemoryContextStrdup(cxt->result_cxt, name);
		known->candidates = NULL;
		if (cxt->index && directory_index_partial(cxt->index, name, &entries))
		{
			MemoryContext old = MemoryContextSwitchTo(cxt->result_cxt);

			known->candidates = kept_candidates(candidates_of(entries),
												CurrentMemoryContext);
			MemoryContextSwitchTo(old);
		}
	}
	return known;
}

/*
 * The questions the search strategy asks the directory about a record:
 * the entries a filter finds (with both names, or with the ID), kept with
 * the rows, and the candidates with a last name.
 */
static List *
ask_for_entries(MatchContext *cxt, const char *filter)
{
	MemoryContext old = MemoryContextSwitchTo(cxt->result_cxt);
	EntryList  *found = entry_list(cxt);

	cxt->asking = true;
	if (!directory_search(cxt->dir, cxt->base_dns, filter, cxt->attrs,
						  collect_entry, found))
		cxt->cut_short++;
	MemoryContextSwitchTo(old);
	return found->entries;
}

static Candidates *
ask_for_candidates(MatchContext *cxt, const char *last)
{
	const char *attrs[] = {NULL};
	MemoryContext old = MemoryContextSwitchTo(cxt->result_cxt);
	Candidates *partial = new_candidates();

	MemoryContextSwitchTo(old);
	cxt->asking = true;
	if (!directory_search(cxt->dir, cxt->base_dns,
						  directory_name_filter(cxt->server, NULL, last),
						  attrs, collect_candidate, partial))
		cxt->cut_short++;
	return kept_candidates(partial, cxt->result_cxt);
}

/*
 * The entries whose ID attribute equals the record's ID: from what was
 * asked in advance, from the index, or asked now.
 */
static List *
find_by_id(MatchContext *cxt, Lookup *lookup, const char *id)
{
	List	   *found;

	if (lookup && lookup->asked && lookup->asked->id_asked)
		return lookup->asked->id_found;
	if (cxt->index && directory_index_id(cxt->index, id, &found))
		return found;
	return ask_for_entries(cxt, directory_equality_filter(cxt->server,
														  cxt->id_attr, id));
}

/*
 * The entries with both names and, when there are none, the candidates
 * with the last name: from what was asked in advance, from the index, or
 * asked now.
 */
static void
find_by_name(MatchContext *cxt, Lookup *lookup, const char *first,
			 const char *last, List **exact, Candidates **partial)
{
	*exact = NIL;
	*partial = NULL;
	if (first != NULL)
	{
		if (lookup && lookup->asked && lookup->asked->exact_asked)
			*exact = lookup->asked->exact;
		else if (!cxt->index ||
				 !directory_index_exact(cxt->index, first, last, exact))
			*exact = ask_for_entries(cxt, directory_name_filter(cxt->server,
																first, last));
		if (*exact != NIL)
			return;
	}

	if (lookup && lookup->asked && lookup->asked->partial_asked)
		*partial = lookup->asked->partial;
	else
	{
		LastName   *known = last_name(cxt, last);

		if (known->candidates == NULL)
			known->candidates = ask_for_candidates(cxt, last);
		*partial = known->candidates;
	}
}

static void
match_one(MatchContext *cxt, SyncRecord *rec, Lookup *lookup)
{
	MemoryContext old = MemoryContextSwitchTo(cxt->record_cxt);
	char	   *first = search_name(rec->first_name);
	char	   *last = search_name(rec->last_name);
	char	   *id = cxt->id_attr ? search_name(rec->id) : NULL;
	List	   *exact;
	Candidates *partial;

	cxt->asking = lookup && lookup->asked &&
		(lookup->asked->id_asked || lookup->asked->exact_asked ||
		 lookup->asked->partial_asked);

	/*
	 * A linked record is matched through its link first: the entry with its
	 * ID, under the base DN and passing the filter, whatever either side's
	 * names are now.  When it is gone, the link is broken.
	 */
	if (rec->link)
	{
		Assert(lookup->link_known);
		if (lookup->linked)
			decide_exact(cxt, rec, lookup->linked, "link");
		else if (last == NULL)
			decide_link_broken(cxt, rec, NIL, NULL);
		else
		{
			find_by_name(cxt, lookup, first, last, &exact, &partial);
			decide_link_broken(cxt, rec, exact, partial);
		}
		goto done;
	}

	/* An ID that finds exactly one entry is an exact match by ID. */
	if (id != NULL)
	{
		List	   *found = find_by_id(cxt, lookup, id);

		if (list_length(found) == 1)
		{
			decide_exact(cxt, rec, (DirectoryEntry *) linitial(found), "id");
			goto done;
		}
	}

	/* Without a last name there is nothing to search for. */
	if (last == NULL)
	{
		add_result(cxt, rec, STATUS_NO_MATCH, -1);
		goto done;
	}

	find_by_name(cxt, lookup, first, last, &exact, &partial);
	decide(cxt, rec, exact, partial);

done:
	if (cxt->asking)
		cxt->asked++;
	MemoryContextSwitchTo(old);
	MemoryContextReset(cxt->record_cxt);
}

/*
 * The scan: ask the directory in advance, many questions at a time, what
 * the index cannot answer: IDs, then both names, then last names alone
 * for the records whose names found nothing.  lookups say where the
 * answers are (they live with the rows, which may share candidates); what
 * each record's names and index lookups need lives in the record's
 * scratch context.  A question asked for many records is sent once.
 */
typedef struct Question
{
	const char *filter;
	List	  **entries;		/* where the entries found go, or */
	Candidates **candidates;	/* where the candidates found go */
} Question;

typedef struct Questions
{
	MatchContext *cxt;
	Question   *questions;		/* in filters */
	int			count;
	int			allocated;
	MemoryContext filters;		/* the filters of the batch */
	MemoryContext answers;		/* the answers */
} Questions;

static void
ask(Questions *q, const char *filter, List **entries, Candidates **candidates)
{
	Question   *question;

	if (q->count == q->allocated)
	{
		q->allocated = Max(q->allocated * 2, 64);
		q->questions = q->questions ?
			repalloc_huge(q->questions, sizeof(Question) * q->allocated) :
			MemoryContextAllocHuge(q->filters, sizeof(Question) * q->allocated);
	}
	question = &q->questions[q->count++];
	question->filter = MemoryContextStrdup(q->filters, filter);
	question->entries = entries;
	question->candidates = candidates;
}

static int
compare_questions(const void *a, const void *b)
{
	return strcmp(((const Question *) a)->filter, ((const Question *) b)->filter);
}

/*
 * Ask the questions of a batch; a question asked for many records (a
 * common name with an accent) is sent once, and its answer shared.
 */
static void
run_questions(Questions *q, const char **attrs)
{
	MemoryContext old = MemoryContextSwitchTo(q->answers);
	DirectorySearch *searches;
	int			nsearches = 0;
	int			i;

	qsort(q->questions, q->count, sizeof(Question), compare_questions);
	searches = MemoryContextAlloc(q->filters, sizeof(DirectorySearch) * Max(q->count, 1));
	for (i = 0; i < q->count; i++)
	{
		Question   *question = &q->questions[i];
		DirectorySearch *search;

		if (i > 0 && strcmp(question->filter, q->questions[i - 1].filter) == 0)
			continue;
		search = &searches[nsearches++];
		search->filter = question->filter;
		if (question->entries)
		{
			search->arg = entry_list(q->cxt);
			search->callback = collect_entry;
			search->reset = reset_entries;
		}
		else
		{
			/* gathered with the filters, kept with the answers (below) */
			search->arg = MemoryContextAllocZero(q->filters,
												 CANDIDATES_SIZE(MAX_CANDIDATES));
			search->callback = collect_candidate;
			search->reset = reset_candidates;
		}
	}

	directory_search_batch(q->cxt->dir, q->cxt->base_dns, attrs, searches, nsearches);
	for (i = 0; i < nsearches; i++)
	{
		if (searches[i].callback == collect_candidate)
			searches[i].arg = kept_candidates((Candidates *) searches[i].arg,
											  q->answers);
	}

	for (i = 0, nsearches = -1; i < q->count; i++)
	{
		Question   *question = &q->questions[i];

		if (i == 0 || strcmp(question->filter, q->questions[i - 1].filter) != 0)
		{
			nsearches++;
			if (!searches[nsearches].complete)
				q->cxt->cut_short++;
		}
		if (question->entries)
			*question->entries = ((EntryList *) searches[nsearches].arg)->entries;
		else
			*question->candidates = (Candidates *) searches[nsearches].arg;
	}
	q->count = 0;
	q->questions = NULL;		/* in filters */
	q->allocated = 0;
	MemoryContextReset(q->filters);
	MemoryContextSwitchTo(old);
}

/*
 * How many entry IDs one search for linked entries asks for.  A filter of
 * 100 objectGUIDs (each 16 escaped bytes) is 6 KB and finds at most 100
 * entries: far under Active Directory's limits on a request
 * (MaxReceiveBuffer, 10 MB), on a search's time (MaxQueryDuration, 120 s)
 * and on the entries of a search that is not paged (MaxPageSize, 1,000),
 * and under slapd's default size limit (500).  Measured on the benchmark
 * (10,000 linked students, entryUUID indexed): 100 IDs a search take the
 * time of 50 with half the searches; 200 take 40% longer, since the
 * directory tests each entry it finds against every term of the filter.
 */
#define LINKS_PER_SEARCH 100

/*
 * The linked entries of the records that have a link: from the scan's
 * index, which knows whether an entry with the ID is among the group's
 * entries, and otherwise from the directory, LINKS_PER_SEARCH IDs to a
 * search ("(|(entryUUID=...)(entryUUID=...)...)" under the base DN, with
 * the server's filter), many searches at a time.
 */
static void
find_linked_entries(MatchContext *cxt, SyncRecord **records, int n,
					Lookup *lookups)
{
	MemoryContext old = MemoryContextSwitchTo(cxt->result_cxt);
	DirectorySearch *searches;
	int		   *asking = palloc(sizeof(int) * Max(n, 1));
	int			nasking = 0;
	int			nsearches = 0;
	int			i;
	int			s;

	for (i = 0; i < n; i++)
	{
		RecordLink *link = records[i]->link;

		if (link == NULL)
			continue;
		if (cxt->index &&
			directory_index_entry(cxt->index, link->entry_id, &lookups[i].linked))
		{
#ifdef USE_ASSERT_CHECKING
			lookups[i].link_known = true;
#endif
		}
		else
			asking[nasking++] = i;
	}

	searches = palloc0(sizeof(DirectorySearch) *
					   Max((nasking + LINKS_PER_SEARCH - 1) / LINKS_PER_SEARCH, 1));
	for (i = 0; i < nasking; i += LINKS_PER_SEARCH)
	{
		StringInfoData filter;
		int			k;

		initStringInfo(&filter);
		appendStringInfo(&filter, "(&%s(|", directory_to_utf8(cxt->server->filter));
		for (k = i; k < Min(i + LINKS_PER_SEARCH, nasking); k++)
		{
			char	   *value = directory_entry_id_filter_value(cxt->entry_id_attr,
																records[asking[k]]->link->entry_id);

			/* an ID that cannot be one of the attribute finds nothing */
			if (value)
				appendStringInfo(&filter, "(%s=%s)", cxt->entry_id_attr, value);
		}
		appendStringInfoString(&filter, "))");
		searches[nsearches].filter = filter.data;
		searches[nsearches].arg = entry_list(cxt);
		searches[nsearches].callback = collect_entry;
		searches[nsearches].reset = reset_entries;
		nsearches++;
	}
	if (nsearches > 0)
	{
		cxt->asking = true;
		directory_search_batch(cxt->dir, cxt->base_dns, cxt->attrs, searches,
							   nsearches);
	}

	/* each asked record's entry, among those of its search */
	for (s = 0; s < nsearches; s++)
	{
		EntryList  *found = (EntryList *) searches[s].arg;

		if (!searches[s].complete)
			cxt->cut_short++;
		for (i = s * LINKS_PER_SEARCH; i < Min((s + 1) * LINKS_PER_SEARCH, nasking); i++)
		{
			Lookup	   *lookup = &lookups[asking[i]];
			const char *entry_id = records[asking[i]]->link->entry_id;
			ListCell   *cell;

#ifdef USE_ASSERT_CHECKING
			lookup->link_known = true;
#endif
			foreach(cell, found->entries)
			{
				DirectoryEntry *entry = (DirectoryEntry *) lfirst(cell);

				if (entry->entry_id && pg_strcasecmp(entry->entry_id, entry_id) == 0)
					lookup->linked = entry;
			}
		}
	}
	pfree(asking);
	MemoryContextSwitchTo(old);
}

static void
ask_in_advance(MatchContext *cxt, SyncRecord **records, int n, Lookup *lookups)
{
	const char *no_attrs[] = {NULL};
	Questions	q;
	bool	   *by_id = palloc0(sizeof(bool) * Max(n, 1));
	bool	   *no_exact = palloc0(sizeof(bool) * Max(n, 1));
	int			i;

	q.cxt = cxt;
	q.questions = NULL;
	q.count = 0;
	q.allocated = 0;
	q.filters = AllocSetContextCreate(CurrentMemoryContext, "pssync filters",
									  ALLOCSET_DEFAULT_SIZES);
	q.answers = cxt->result_cxt;	/* partial rows share candidates */

	/* IDs, of the records without a link */
	if (cxt->id_attr)
	{
		for (i = 0; i < n; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt->record_cxt);
			char	   *id = search_name(records[i]->id);
			List	   *found;

			if (id == NULL || records[i]->link)
				 /* nothing to look for */ ;
			else if (cxt->index && directory_index_id(cxt->index, id, &found))
				by_id[i] = list_length(found) == 1;
			else
			{
				Asked	   *asked = asked_of(&lookups[i], old);

				asked->id_asked = true;
				ask(&q, directory_equality_filter(cxt->server, cxt->id_attr, id),
					&asked->id_found, NULL);
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(cxt->record_cxt);
		}
		run_questions(&q, cxt->attrs);
		for (i = 0; i < n; i++)
		{
			if (lookups[i].asked && lookups[i].asked->id_asked &&
				list_length(lookups[i].asked->id_found) == 1)
				by_id[i] = true;
		}
	}

	/* both names */
	for (i = 0; i < n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt->record_cxt);
		char	   *first = search_name(records[i]->first_name);
		char	   *last = search_name(records[i]->last_name);
		List	   *exact;

		if (by_id[i] || lookups[i].linked || last == NULL)
			 /* decided without names */ ;
		else if (first == NULL)
			no_exact[i] = true;
		else if (cxt->index &&
				 directory_index_exact(cxt->index, first, last, &exact))
			no_exact[i] = exact == NIL;
		else
		{
			Asked	   *asked = asked_of(&lookups[i], old);

			asked->exact_asked = true;
			ask(&q, directory_name_filter(cxt->server, first, last),
				&asked->exact, NULL);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(cxt->record_cxt);
		CHECK_FOR_INTERRUPTS();
	}
	run_questions(&q, cxt->attrs);

	/* last names, where both names found nothing */
	for (i = 0; i < n; i++)
	{
		MemoryContext old;
		char	   *last;

		if (!no_exact[i] &&
			!(lookups[i].asked && lookups[i].asked->exact_asked &&
			  lookups[i].asked->exact == NIL))
			continue;
		old = MemoryContextSwitchTo(cxt->record_cxt);
		last = search_name(records[i]->last_name);
		if (last_name(cxt, last)->candidates == NULL)
		{
			Asked	   *asked = asked_of(&lookups[i], old);

			asked->partial_asked = true;
			ask(&q, directory_name_filter(cxt->server, NULL, last), NULL,
				&asked->partial);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(cxt->record_cxt);
	}
	run_questions(&q, no_attrs);

	MemoryContextDelete(q.filters);
	pfree(by_id);
	pfree(no_exact);
}

/*
 * Suggestions (2.1): the exceptions without an exact match (partial,
 * no_match, link_broken) get their best suggestion and the next one's
 * score, for the history; and with pssync.accept_variants, a partial or
 * no_match record whose best suggestion has only accepted reasons, and no
 * other within SUGGESTION_MARGIN of its score, is matched to it
 * (matched_by "variant"), in place of its exception row; unless a search
 * of its suggestions was cut short by a size limit, which leaves it an
 * exception (with its best suggestion in the history).  The scan's index
 * answers what it can; the rest is asked of the directory.
 */
static bool
accepted_variant(SuggestionList *list, uint32 accept)
{
	Suggestion *best = &list->items[0];

	/* a runner-up that a size limit cut off would make the best look alone */
	if (list->n == 0 || accept == 0 || !list->complete)
		return false;
	if ((best->reasons & ~(accept | REASON_BIT(REASON_EXACT))) != 0)
		return false;
	return list->n == 1 || best->score - list->items[1].score > SUGGESTION_MARGIN;
}

/*
 * From this many exceptions on, and one for every SUGGEST_INDEX_ENTRIES
 * entries of the group's last full read, ldap_sync_changes reads and
 * indexes the group's entries for their suggestions rather than asking
 * the directory each one's questions: at 100,000 entries, reading and
 * indexing them took 0.5 s, and asking took 10 ms an exception (229
 * exceptions: 2.6 s).
 */
#define SUGGEST_INDEX_MIN_ROWS 50
#define SUGGEST_INDEX_ENTRIES 2000

/* An exception without suggestions yet: see exceptions_wanting_suggestions */
static bool
wants_suggestions(SyncResult *result)
{
	return (result->status == STATUS_PARTIAL || result->status == STATUS_NO_MATCH ||
			result->status == STATUS_LINK_BROKEN) && result_suggestion(result) == NULL;
}

/*
 * The rows of an exception (partial, no_match, link_broken) without
 * suggestions yet, and their records, into arrays of their own (counted
 * first: a district has 100,000 rows, and a few thousand exceptions);
 * returns how many.
 */
static int
exceptions_wanting_suggestions(List *rows, SyncResult ***wanting,
							   SyncRecord ***records)
{
	ListCell   *cell;
	int			n = 0;

	foreach(cell, rows)
	{
		if (wants_suggestions((SyncResult *) lfirst(cell)))
			n++;
	}
	if (n == 0)
		return 0;
	*wanting = palloc(sizeof(SyncResult *) * n);
	*records = palloc(sizeof(SyncRecord *) * n);
	n = 0;
	foreach(cell, rows)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);

		if (wants_suggestions(result))
		{
			(*wanting)[n] = result;
			(*records)[n++] = result->record;
		}
	}
	return n;
}

/*
 * The best suggestion of each partial, no_match and link_broken row of
 * rows that has none yet: for ldap_sync_changes, which keeps them only
 * for the rows it returns.  With run_index (the run's matching read the
 * directory), from it.  Else a few are asked of the directory; many are
 * answered from an index of the group's entries, read for them (unless
 * pssync.strategy is search, or the read was cut short by a size limit):
 * the same answers as a scan run's.  The rows' details (ResultDetail) are
 * made in the current memory context, as the suggestions they point to.
 */
void
suggest_for_rows(PssyncServer *server, PssyncDirectory *dir, RecordGroup group,
				 const char *uid_attr, PowerSchoolTables *tables, List *rows,
				 DirectoryIndex *run_index, int entries)
{
	SyncResult **wanting;
	SyncRecord **records;
	SuggestionList *lists;
	Suggester  *s;
	DirectoryIndex *index = NULL;
	Arena	   *strings = NULL;
	const char *entry_id_attr = links_in_use() ? directory_entry_id_attr(dir) : NULL;
	int			n;
	int			i;

	n = exceptions_wanting_suggestions(rows, &wanting, &records);
	if (n == 0)
		return;
	if (run_index)
		index = run_index;
	else if (n >= Max(SUGGEST_INDEX_MIN_ROWS, entries / SUGGEST_INDEX_ENTRIES) &&
			 pssync_strategy != STRATEGY_SEARCH)
	{
		strings = arena_create_large(CurrentMemoryContext, "pssync entries for suggestions");
		index = directory_index_build(server, dir, server_base_dns(server, group),
									  uid_attr, server->id_attr[group],
									  entry_id_attr, strings);

		/*
		 * cut short by a size limit, or with entries that may hide their
		 * names from the bind account (the questions about them would all
		 * be asked anyway): asked instead
		 */
		if (!directory_index_complete(index) ||
			!directory_index_knows(index, INDEX_KEY_FIRST_PART) ||
			!directory_index_knows(index, INDEX_KEY_LAST_PART) ||
			!directory_index_knows(index, INDEX_KEY_FULL))
		{
			directory_index_free(index);
			MemoryContextDelete(arena_context(strings));
			index = NULL;
			strings = NULL;
		}
	}
	s = suggester_create(server, dir, group, uid_attr, entry_id_attr, index, tables);
	lists = palloc(sizeof(SuggestionList) * n);
	suggest(s, records, n, 2, lists);
	elog(DEBUG1, "pssync: suggestions for %d exceptions returned%s: %s", n,
		 index ? " (from an index of the entries)" : "", suggester_summary(s));
	suggester_free(s);
	if (index && index != run_index)
		directory_index_free(index);
	if (strings)
		MemoryContextDelete(arena_context(strings));
	for (i = 0; i < n; i++)
	{
		if (lists[i].n > 0)
		{
			ResultDetail *detail = result_detail(wanting[i], NULL);

			detail->suggestion = &lists[i].items[0];
			detail->next_score = lists[i].n > 1 ? lists[i].items[1].score : -1;
		}
	}
}

static void
suggest_exceptions(MatchContext *cxt, RecordGroup group, SuggestRun *run)
{
	SyncResult **rows;
	SyncRecord **records;
	SuggestionList *lists;
	bool	   *accepted;
	List	   *decided;
	Suggester  *s;
	ListCell   *cell;
	MemoryContext old;
	int			n;
	int			i;

	/* the exceptions (none has suggestions yet) */
	n = exceptions_wanting_suggestions(cxt->results, &rows, &records);
	if (n == 0)
		return;

	s = suggester_create(cxt->server, cxt->dir, group, cxt->uid_attr,
						 cxt->entry_id_attr, cxt->index, run->tables);
	lists = palloc(sizeof(SuggestionList) * n);
	suggest(s, records, n, 2, lists);
	if (suggester_cut_short(s) > 0)
		cxt->cut_short += suggester_cut_short(s);
	elog(DEBUG1, "pssync: suggestions for %d exceptions: %s", n, suggester_summary(s));
	suggester_free(s);

	accepted = palloc0(sizeof(bool) * n);
	for (i = 0; i < n; i++)
	{
		if (run->keep_best && lists[i].n > 0)
		{
			ResultDetail *detail = result_detail(rows[i], cxt->arena);

			detail->suggestion = &lists[i].items[0];
			detail->next_score = lists[i].n > 1 ? lists[i].items[1].score : -1;
		}
		accepted[i] = rows[i]->status != STATUS_LINK_BROKEN &&
			accepted_variant(&lists[i], run->accept);
	}

	/* the accepted variants' exact rows, in place of their exceptions */
	old = MemoryContextSwitchTo(cxt->result_cxt);
	decided = cxt->results;
	cxt->results = NIL;
	i = 0;
	foreach(cell, decided)
	{
		SyncResult *result = (SyncResult *) lfirst(cell);

		if (i < n && result == rows[i])
		{
			if (accepted[i])
			{
				decide_exact(cxt, result->record, lists[i].items[0].entry, "variant");
				i++;
				continue;
			}
			i++;
		}
		cxt->results = lappend(cxt->results, result);
	}
	MemoryContextSwitchTo(old);
}

/*
 * Progress of a long sync: a NOTICE (LOG in a background worker, whose
 * notices nobody reads) at most every pssync.progress_interval.
 */
typedef struct Progress
{
	TimestampTz started;
	TimestampTz last_report;
	int			total;
} Progress;

static void
report_progress(Progress *progress, int done)
{
	TimestampTz now;
	double		seconds;

	if (!pssync_progress || (done & 63) != 0)
		return;
	now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(progress->last_report, now,
									pssync_progress_interval))
		return;
	progress->last_report = now;
	seconds = (now - progress->started) / 1000000.0;
	ereport(pssync_am_background_worker() ? LOG : NOTICE,
			(errmsg("pssync: %d of %d records matched (%.0f records/s)",
					done, progress->total, seconds > 0 ? done / seconds : 0.0)));
}

static void
init_context(MatchContext *cxt, PssyncServer *server, PssyncDirectory *dir,
			 RecordGroup group, const char *uid_attr, Arena *arena)
{
	memset(cxt, 0, sizeof(MatchContext));
	cxt->arena = arena;
	cxt->server = server;
	cxt->dir = dir;
	cxt->base_dns = server->base_dns[group];
	cxt->base_dn_text = dn_list_text(cxt->base_dns);
	cxt->uid_attr = uid_attr;
	cxt->id_attr = server->id_attr[group];
	cxt->entry_id_attr = links_in_use() ? directory_entry_id_attr(dir) : NULL;
	cxt->attrs[0] = uid_attr;
	cxt->attrs[1] = cxt->entry_id_attr;
	cxt->attrs[2] = NULL;
	cxt->result_cxt = CurrentMemoryContext;
	cxt->record_cxt = AllocSetContextCreate(CurrentMemoryContext,
											"pssync record",
											ALLOCSET_DEFAULT_SIZES);
}

/*
 * Ask the directory about each record; returns the result rows, in record
 * order, with STATUS_UPDATED standing for "the directory's value differs"
 * until apply.c has checked and written it.  The rows and what they keep
 * are in arena.  *used says which strategy ran.
 */
List *
match_records(PssyncServer *server, PssyncDirectory *dir, RecordGroup group,
			  const char *uid_attr, List *records, Arena *arena,
			  MatchStrategy *used, SuggestRun *suggest_run)
{
	return match_records_with(server, dir, group, uid_attr, records, arena,
							  (MatchStrategy) pssync_strategy, false, used,
							  NULL, suggest_run, NULL);
}

/*
 * How ldap_sync_changes matches the records it takes: as a scan (reading
 * the group's entries, which its suggestions then use too) when there are
 * as many as a selection that "auto" scans for (pssync.changes_scan_records,
 * for tests), unless pssync.strategy is search; else, or when a size limit
 * cuts the read short, a batch of searches for just them.
 */
MatchStrategy
changes_match_strategy(int nrecords)
{
	if (nrecords >= pssync_changes_scan_records && pssync_strategy != STRATEGY_SEARCH)
		return STRATEGY_SCAN_OR_BATCH;
	return STRATEGY_BATCH;
}

/*
 * The same with the strategy given: STRATEGY_BATCH asks the scan's
 * questions, many at a time, without reading the directory first (for the
 * few records ldap_sync_changes takes).  With full_read, the directory is
 * read whole (the scan), even for no record.  *index (when given) is the
 * index of the directory read, or NULL: the caller frees it with
 * directory_index_free() (otherwise it is freed here once the records are
 * decided); an index the caller gives in *index is used instead of a read
 * (a scan).  suggest_run (when given) makes the suggestions of the
 * exceptions.  link_ids (when given) is where attach_links() put the
 * records' links' entry IDs: once their entries are found, each link
 * shares its entry's ID where it is the same bytes (the index has it) or
 * gets a copy in arena, and link_ids is freed (a district's links would
 * otherwise keep 93,000 IDs twice); so are the index's entry IDs, which
 * only finding the links needs (an index returned in *index has none:
 * directory_index_entry() leaves the question to the directory).  An
 * index given in *index is never given with link_ids.
 */
List *
match_records_with(PssyncServer *server, PssyncDirectory *dir,
				   RecordGroup group, const char *uid_attr, List *records,
				   Arena *arena, MatchStrategy strategy, bool full_read,
				   MatchStrategy *used, DirectoryIndex **index,
				   SuggestRun *suggest_run, Arena *link_ids)
{
	MatchContext cxt;
	MemoryContext advance_cxt = NULL;
	SyncRecord **array = NULL;
	MatchStrategy fallback = STRATEGY_SEARCH;
	Lookup	   *lookups = NULL;
	Progress	progress;
	instr_time	phase;
	int			n = list_length(records);
	int			i;

	Assert(link_ids == NULL || index == NULL || *index == NULL);
	init_context(&cxt, server, dir, group, uid_attr, arena);
	INSTR_TIME_SET_CURRENT(phase);

	if (strategy == STRATEGY_AUTO)
		strategy = n >= SCAN_THRESHOLD ? STRATEGY_SCAN : STRATEGY_SEARCH;
	if (strategy == STRATEGY_SCAN_OR_BATCH)
	{
		strategy = STRATEGY_SCAN;
		fallback = STRATEGY_BATCH;
	}
	if (full_read)
		strategy = STRATEGY_SCAN;

	progress.started = progress.last_report = GetCurrentTimestamp();
	progress.total = n;

	if (index && *index)
	{
		cxt.index = *index;		/* read by the caller for other records */
		strategy = STRATEGY_SCAN;
	}
	else if (strategy == STRATEGY_SCAN && (n > 0 || full_read))
	{
		/* the permanent IDs are read for ldap_sync_changes even without links */
		cxt.index = directory_index_build(server, dir, cxt.base_dns, uid_attr,
										  cxt.id_attr,
										  full_read && !cxt.entry_id_attr ?
										  directory_entry_id_attr(dir) :
										  cxt.entry_id_attr,
										  arena);
		if (!directory_index_complete(cxt.index))
		{
			ereport(pssync_am_background_worker() ? LOG : NOTICE,
					(errmsg("LDAP server \"%s\" returned only %d entries of \"%s\" before a size limit",
							server->servername,
							directory_index_size(cxt.index), cxt.base_dn_text),
					 fallback == STRATEGY_BATCH ?
					 errdetail("The records are searched for in batches instead.") :
					 errdetail("Each record is searched for instead."),
					 errhint("Allow the bind account unlimited paged searches, for example with slapd's size.prtotal=unlimited, or 389-DS's nsPagedSizeLimit and nsPagedLookThroughLimit of -1.")));
			directory_index_free(cxt.index);
			cxt.index = NULL;
			strategy = fallback;
		}
		else
			check_directory_size(server, group, cxt.base_dn_text,
								 directory_index_size(cxt.index));
		log_phase_time(&phase, "reading the directory");
	}
	if (index)
		*index = cxt.index;
	if (used)
		*used = strategy == STRATEGY_SCAN ? STRATEGY_SCAN :
			strategy == STRATEGY_BATCH ? STRATEGY_BATCH : STRATEGY_SEARCH;

	/* the records as an array, and what is asked about them: until decided */
	advance_cxt = AllocSetContextCreate(CurrentMemoryContext,
										"pssync answers asked in advance",
										ALLOCSET_DEFAULT_SIZES);
	array = MemoryContextAlloc(advance_cxt, sizeof(SyncRecord *) * Max(n, 1));
	for (i = 0; i < n; i++)
		array[i] = (SyncRecord *) list_nth(records, i);
	lookups = MemoryContextAllocZero(advance_cxt, sizeof(Lookup) * Max(n, 1));
	if (cxt.entry_id_attr)
	{
		find_linked_entries(&cxt, array, n, lookups);
		log_phase_time(&phase, "finding the linked entries");
	}
	if (link_ids)
	{
		for (i = 0; i < n; i++)
		{
			RecordLink *link = array[i]->link;
			DirectoryEntry *entry = lookups[i].linked;

			if (link == NULL || link->entry_id == NULL)
				continue;
			if (entry && entry->entry_id && strcmp(entry->entry_id, link->entry_id) == 0)
				link->entry_id = entry->entry_id;
			else
				link->entry_id = arena_strdup(arena, link->entry_id);
		}
		MemoryContextDelete(arena_context(link_ids));
		/* the run's links are all found: the index's entry IDs are not needed */
		if (cxt.index)
			directory_index_forget_entry_ids(cxt.index);
	}
	if (cxt.index || strategy == STRATEGY_BATCH)
	{
		MemoryContext old = MemoryContextSwitchTo(advance_cxt);

		ask_in_advance(&cxt, array, n, lookups);
		MemoryContextSwitchTo(old);
		log_phase_time(&phase, "searching for what the index cannot decide");
	}

	for (i = 0; i < n; i++)
	{
		match_one(&cxt, array[i], &lookups[i]);
		report_progress(&progress, i + 1);
		CHECK_FOR_INTERRUPTS();
	}
	log_phase_time(&phase, "deciding");
	/* the rows point to the entries' strings, which are in the rows' arena */
	MemoryContextDelete(advance_cxt);

	if (suggest_run)
	{
		suggest_exceptions(&cxt, group, suggest_run);
		log_phase_time(&phase, "suggesting");
	}

	if (cxt.cut_short > 0)
		ereport(pssync_am_background_worker() ? LOG : NOTICE,
				(errmsg_plural("LDAP server \"%s\" cut %d search short at a size limit",
							   "LDAP server \"%s\" cut %d searches short at a size limit",
							   cxt.cut_short, server->servername, cxt.cut_short),
				 errdetail("The candidates of those records may be incomplete."),
				 errhint("Allow the bind account unlimited paged searches, for example with slapd's size.prtotal=unlimited, or 389-DS's nsPagedSizeLimit and nsPagedLookThroughLimit of -1.")));

	elog(DEBUG1, "pssync: %d records matched by %s, %d of them searched for, %d LDAP requests",
		 n, cxt.index ? "scan" : strategy == STRATEGY_BATCH ? "batch" : "search",
		 cxt.asked, directory_requests_sent(dir));

	if (cxt.index && index == NULL)
		directory_index_free(cxt.index);
	MemoryContextDelete(cxt.record_cxt);
	return cxt.results;
}

/* Is a DN in the scope of one of the group's base DNs? */
static bool
dn_in_group_scope(MatchContext *cxt, const char *dn)
{
	ListCell   *cell;

	foreach(cell, cxt->base_dns)
	{
		if (directory_dn_in_scope(dn, (const char *) lfirst(cell),
								  cxt->server->scope))
			return true;
	}
	return false;
}

/*
 * ldap_assign: the one entry a person chose for a record, decided as an
 * exact match.  The entry must lie in the server's scope of one of the
 * group's base DNs and pass the server's filter.
 */
List *
match_entry(PssyncServer *server, PssyncDirectory *dir, RecordGroup group,
			const char *uid_attr, SyncRecord *rec, const char *dn, Arena *arena)
{
	MatchContext cxt;
	EntryList  *found;
	DirectoryEntry *entry;

	init_context(&cxt, server, dir, group, uid_attr, arena);
	found = entry_list(&cxt);

	if (!is_distinguished_name(dn))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid DN \"%s\"", dn),
				 errhint("Choose a DN that pssync.ldap_lookup() shows.")));
	if (!dn_in_group_scope(&cxt, dn))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entry \"%s\" is not in the scope of LDAP server \"%s\"",
						dn, server->servername),
				 server->scope == LDAP_SCOPE_ONELEVEL ?
				 errdetail("The server's scope is \"one\": its entries are those directly below \"%s\".",
						   cxt.base_dn_text) :
				 errdetail("Its entries are those under \"%s\".", cxt.base_dn_text),
				 errhint("Choose a DN that pssync.ldap_lookup() shows.")));
	if (!directory_read_entry(dir, dn, directory_to_utf8(server->filter),
							  cxt.attrs, collect_entry, found) ||
		found->entries == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no entry \"%s\" under \"%s\" on LDAP server \"%s\" passes the server's filter",
						dn, cxt.base_dn_text, server->servername),
				 errhint("Choose a DN that pssync.ldap_lookup() shows.")));

	/*
	 * A read of one DN returns that entry; a directory (or a referral it
	 * chased) that returns more, or one outside the scope, is not taken at
	 * its word.
	 */
	if (list_length(found->entries) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("LDAP server \"%s\" returned %d entries for the DN \"%s\"",
						server->servername, list_length(found->entries), dn),
				 errdetail("A read of one DN returns one entry; nothing was changed.")));
	entry = (DirectoryEntry *) linitial(found->entries);
	if (!dn_in_group_scope(&cxt, entry->dn))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("LDAP server \"%s\" returned the entry \"%s\" for the DN \"%s\", outside its scope",
						server->servername, entry->dn, dn),
				 errdetail("Its entries are those under \"%s\"; nothing was changed.", cxt.base_dn_text)));

	decide_exact(&cxt, rec, entry, NULL);
	MemoryContextDelete(cxt.record_cxt);
	return cxt.results;
}
