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
 *	  both names, and when that finds nothing one on the last name, every
 *	  value escaped (RFC 4515);
 *	- "scan" reads the directory once (scan.c) and answers from memory every
 *	  record whose names are plain ASCII, asking the directory, as "search"
 *	  does, only about the records that the index cannot decide exactly.
 *
 * Both give the same rows.  "auto" chooses "scan" for a selection of at
 * least SCAN_THRESHOLD records.  Measured on this project's benchmark (2
 * cores, slapd on the same machine, a directory of 110,000 entries): one
 * paged read of 100,000 student entries takes about 1.3 s, while "search"
 * costs about 0.15 ms per record locally and about 2.2 ms per record at
 * 1 ms round trip.  Scanning pays off from about 600 records at 1 ms
 * round trip and from about 9,000 on the same machine; 1,000 is the
 * threshold, since a district's directory is rarely on the same machine.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ldap.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "utils/timestamp.h"

#include "pssync.h"

#define SCAN_THRESHOLD 1000

/*
 * A partial or ambiguous row lists at most this many candidates, the first
 * in DN order; a person looks those up by hand, and a common surname can
 * have thousands.
 */
#define MAX_CANDIDATES 100

typedef struct MatchContext
{
	PssyncServer *server;
	PssyncDirectory *dir;
	DirectoryIndex *index;		/* NULL: search every record */
	const char *base_dn;
	const char *uid_attr;
	const char *id_attr;		/* NULL: match by name only */
	char	   *filter;			/* the server's filter, UTF-8 */
	List	   *results;
	int			asked;			/* records the directory was asked about */
	int			cut_short;		/* searches stopped by a size limit */
} MatchContext;

static void
collect_entry(void *arg, const char *dn, DirectoryValues *values)
{
	List	  **found = (List **) arg;
	DirectoryEntry *entry = palloc0(sizeof(DirectoryEntry));

	entry->dn = pstrdup(dn);
	if (values)
		copy_directory_values(&entry->uid, &values[0]);
	*found = lappend(*found, entry);
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * The DNs of the entries, sorted, at most MAX_CANDIDATES of them, copied.
 */
static char **
sorted_dns(List *entries, int *count)
{
	const char **all;
	char	  **array;
	ListCell   *cell;
	int			n = 0;
	int			i;

	all = palloc(sizeof(char *) * Max(list_length(entries), 1));
	foreach(cell, entries)
		all[n++] = ((DirectoryEntry *) lfirst(cell))->dn;
	qsort(all, n, sizeof(char *), compare_strings);

	*count = Min(n, MAX_CANDIDATES);
	array = palloc(sizeof(char *) * Max(*count, 1));
	for (i = 0; i < *count; i++)
		array[i] = pstrdup(all[i]);
	pfree(all);
	return array;
}

static SyncResult *
add_result(MatchContext *cxt, SyncRecord *rec, SyncStatus status, int check)
{
	SyncResult *result = palloc0(sizeof(SyncResult));

	result->status = status;
	result->record = rec;
	result->check = check;
	cxt->results = lappend(cxt->results, result);
	return result;
}

/*
 * The directory's user ID value in the server encoding, or NULL when it
 * cannot be text there (a NUL byte, invalid UTF-8, or a character the
 * database's encoding lacks).
 */
static char *
uid_as_text(const char *value, int length)
{
	int			encoding = GetDatabaseEncoding();
	Oid			proc;
	char	   *converted;

	if ((int) strlen(value) != length ||
		!pg_verify_mbstr(PG_UTF8, value, length, true))
		return NULL;
	if (encoding == PG_UTF8 || encoding == PG_SQL_ASCII)
		return pstrdup(value);

	proc = FindDefaultConversionProc(PG_UTF8, encoding);
	if (!OidIsValid(proc))
		return NULL;
	converted = palloc((Size) length * MAX_CONVERSION_GROWTH + 1);
	if (pg_do_encoding_conversion_buf(proc, PG_UTF8, encoding,
									  (unsigned char *) value, length,
									  (unsigned char *) converted,
									  length * MAX_CONVERSION_GROWTH + 1,
									  true) != length)
		return NULL;
	return converted;
}

/*
 * An exact match: one row per checked username.  What the rows keep is
 * copied: the entry may live in the scan's index, freed before the rows
 * are returned.
 */
static void
decide_exact(MatchContext *cxt, SyncRecord *rec, DirectoryEntry *entry,
			 const char *matched_by)
{
	char	   *dn = pstrdup(entry->dn);
	char	   *value = NULL;
	bool		storable = false;
	int			c;

	if (entry->uid.count == 1)
	{
		value = uid_as_text(entry->uid.values[0], entry->uid.lengths[0]);
		storable = value != NULL;
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
	}
}

/*
 * The decision, from the entries with both names (exact) and, when there
 * are none, those with the last name (partial).
 */
static void
decide(MatchContext *cxt, SyncRecord *rec, List *exact, List *partial)
{
	SyncResult *result;

	if (list_length(exact) == 1)
		decide_exact(cxt, rec, (DirectoryEntry *) linitial(exact), "name");
	else if (list_length(exact) > 1)
	{
		result = add_result(cxt, rec, STATUS_AMBIGUOUS, -1);
		result->candidates = sorted_dns(exact, &result->ncandidates);
		result->candidate_count = list_length(exact);
	}
	else if (partial != NIL)
	{
		result = add_result(cxt, rec, STATUS_PARTIAL, -1);
		result->candidates = sorted_dns(partial, &result->ncandidates);
		result->candidate_count = list_length(partial);
	}
	else
		add_result(cxt, rec, STATUS_NO_MATCH, -1);
}

/*
 * Ask the directory: the search strategy, for one record.
 */
static void
search_record(MatchContext *cxt, const char *first, const char *last,
			  List **exact, List **partial)
{
	PssyncServer *server = cxt->server;
	char	   *filter;

	*exact = NIL;
	*partial = NIL;
	cxt->asked++;

	if (first != NULL)
	{
		const char *attrs[] = {cxt->uid_attr, NULL};

		filter = psprintf("(&%s(%s=%s)(%s=%s))", cxt->filter,
						  server->first_name_attr,
						  directory_escape_filter_value(first),
						  server->last_name_attr,
						  directory_escape_filter_value(last));
		if (!directory_search(cxt->dir, cxt->base_dn, filter, attrs,
							  collect_entry, exact))
			cxt->cut_short++;
		if (*exact != NIL)
			return;
	}

	{
		const char *attrs[] = {NULL};

		filter = psprintf("(&%s(%s=%s))", cxt->filter, server->last_name_attr,
						  directory_escape_filter_value(last));
		if (!directory_search(cxt->dir, cxt->base_dn, filter, attrs,
							  collect_entry, partial))
			cxt->cut_short++;
	}
}

/*
 * The entries whose ID attribute equals the record's ID.
 */
static List *
find_by_id(MatchContext *cxt, const char *id)
{
	List	   *found = NIL;

	if (cxt->index == NULL || !is_plain_name(id, strlen(id)) ||
		!directory_index_match_id(cxt->index, id, &found))
	{
		const char *attrs[] = {cxt->uid_attr, NULL};
		char	   *filter;

		found = NIL;
		cxt->asked++;
		filter = psprintf("(&%s(%s=%s))", cxt->filter, cxt->id_attr,
						  directory_escape_filter_value(id));
		if (!directory_search(cxt->dir, cxt->base_dn, filter, attrs,
							  collect_entry, &found))
			cxt->cut_short++;
	}
	return found;
}

static void
match_one(MatchContext *cxt, SyncRecord *rec)
{
	char	   *first = search_name(rec->first_name);
	char	   *last = search_name(rec->last_name);
	List	   *exact;
	List	   *partial;

	/* An ID that finds exactly one entry is an exact match by ID. */
	if (cxt->id_attr)
	{
		char	   *id = search_name(rec->id);

		if (id != NULL)
		{
			List	   *found = find_by_id(cxt, id);

			if (list_length(found) == 1)
			{
				decide_exact(cxt, rec, (DirectoryEntry *) linitial(found), "id");
				return;
			}
		}
	}

	/* Without a last name there is nothing to search for. */
	if (last == NULL)
	{
		add_result(cxt, rec, STATUS_NO_MATCH, -1);
		return;
	}

	if (cxt->index == NULL ||
		(first != NULL && !is_plain_name(first, strlen(first))) ||
		!is_plain_name(last, strlen(last)) ||
		!directory_index_match(cxt->index, first, last, &exact, &partial))
		search_record(cxt, first, last, &exact, &partial);

	decide(cxt, rec, exact, partial);
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
	ereport(IsBackgroundWorker ? LOG : NOTICE,
			(errmsg("pssync: %d of %d records matched (%.0f records/s)",
					done, progress->total, seconds > 0 ? done / seconds : 0.0)));
}

/*
 * Ask the directory about each record, in order; returns the result rows,
 * with STATUS_UPDATED standing for "the directory's value differs" until
 * apply.c has checked and written it.  *used says which strategy ran.
 */
List *
match_records(PssyncServer *server, PssyncDirectory *dir, RecordGroup group,
			  const char *uid_attr, List *records, MatchStrategy *used)
{
	MatchContext cxt;
	ListCell   *cell;
	MatchStrategy strategy = (MatchStrategy) pssync_strategy;
	Progress	progress;
	int			done = 0;

	memset(&cxt, 0, sizeof(cxt));
	cxt.server = server;
	cxt.dir = dir;
	cxt.base_dn = server->base_dn[group];
	cxt.uid_attr = uid_attr;
	cxt.id_attr = server->id_attr[group];
	cxt.filter = directory_to_utf8(server->filter);

	if (strategy == STRATEGY_AUTO)
		strategy = list_length(records) >= SCAN_THRESHOLD ?
			STRATEGY_SCAN : STRATEGY_SEARCH;

	progress.started = progress.last_report = GetCurrentTimestamp();
	progress.total = list_length(records);

	if (strategy == STRATEGY_SCAN && records != NIL)
	{
		cxt.index = directory_index_build(server, dir, cxt.base_dn, uid_attr,
										  cxt.id_attr);
		if (!directory_index_complete(cxt.index))
		{
			ereport(NOTICE,
					(errmsg("LDAP server \"%s\" returned only %d entries of \"%s\" before a size limit",
							server->servername,
							directory_index_size(cxt.index), cxt.base_dn),
					 errdetail("Each record is searched for instead."),
					 errhint("Allow the bind account unlimited paged searches, for example with slapd's size.prtotal=unlimited.")));
			directory_index_free(cxt.index);
			cxt.index = NULL;
			strategy = STRATEGY_SEARCH;
		}
	}
	*used = strategy == STRATEGY_SCAN ? STRATEGY_SCAN : STRATEGY_SEARCH;

	foreach(cell, records)
	{
		match_one(&cxt, (SyncRecord *) lfirst(cell));
		report_progress(&progress, ++done);
		CHECK_FOR_INTERRUPTS();
	}

	if (cxt.cut_short > 0)
		ereport(NOTICE,
				(errmsg_plural("LDAP server \"%s\" cut %d search short at a size limit",
							   "LDAP server \"%s\" cut %d searches short at a size limit",
							   cxt.cut_short, server->servername, cxt.cut_short),
				 errdetail("The candidates of those records may be incomplete."),
				 errhint("Allow the bind account unlimited paged searches, for example with slapd's size.prtotal=unlimited.")));

	elog(DEBUG1, "pssync: %d records matched by %s, %d of them searched for, %d LDAP requests",
		 list_length(records),
		 cxt.index ? "scan" : "search", cxt.asked,
		 directory_requests_sent(dir));

	if (cxt.index)
		directory_index_free(cxt.index);
	return cxt.results;
}

/*
 * Does a DN lie under (or at) a base DN?  Compared RDN by RDN, attribute
 * types and values ignoring case, from the root.
 */
static bool
dn_is_under(const char *dn, const char *base)
{
	LDAPDN		parsed_dn = NULL;
	LDAPDN		parsed_base = NULL;
	int			n_dn = 0;
	int			n_base = 0;
	bool		under = false;
	int			i;

	if (ldap_str2dn(directory_to_utf8(dn), &parsed_dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
		ldap_str2dn(directory_to_utf8(base), &parsed_base, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
		parsed_dn && parsed_base)
	{
		while (parsed_dn[n_dn])
			n_dn++;
		while (parsed_base[n_base])
			n_base++;
		under = n_dn >= n_base;
		for (i = 1; under && i <= n_base; i++)
		{
			LDAPRDN		a = parsed_dn[n_dn - i];
			LDAPRDN		b = parsed_base[n_base - i];
			int			k;

			for (k = 0; under && (a[k] || b[k]); k++)
			{
				if (!a[k] || !b[k] ||
					a[k]->la_attr.bv_len != b[k]->la_attr.bv_len ||
					a[k]->la_value.bv_len != b[k]->la_value.bv_len ||
					pg_strncasecmp(a[k]->la_attr.bv_val, b[k]->la_attr.bv_val,
								   a[k]->la_attr.bv_len) != 0 ||
					pg_strncasecmp(a[k]->la_value.bv_val, b[k]->la_value.bv_val,
								   a[k]->la_value.bv_len) != 0)
					under = false;
			}
		}
	}
	if (parsed_dn)
		ldap_dnfree(parsed_dn);
	if (parsed_base)
		ldap_dnfree(parsed_base);
	return under;
}

/*
 * ldap_assign: the one entry a person chose for a record, decided as an
 * exact match.  The entry must lie under the group's base DN and pass the
 * server's filter.
 */
List *
match_entry(PssyncServer *server, PssyncDirectory *dir, RecordGroup group,
			const char *uid_attr, SyncRecord *rec, const char *dn)
{
	MatchContext cxt;
	const char *attrs[] = {uid_attr, NULL};
	List	   *found = NIL;

	memset(&cxt, 0, sizeof(cxt));
	cxt.server = server;
	cxt.dir = dir;
	cxt.base_dn = server->base_dn[group];
	cxt.uid_attr = uid_attr;

	if (!dn_is_under(dn, cxt.base_dn) ||
		!directory_read_entry(dir, dn, directory_to_utf8(server->filter), attrs,
							  collect_entry, &found) ||
		found == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no entry \"%s\" under \"%s\" on LDAP server \"%s\" passes the server's filter",
						dn, cxt.base_dn, server->servername),
				 errhint("Choose a DN that pssync.ldap_lookup() shows.")));

	decide_exact(&cxt, rec, (DirectoryEntry *) linitial(found), NULL);
	return cxt.results;
}
