/*-------------------------------------------------------------------------
 *
 * matching.c
 *		  What the directory says about each record: PowerSchool's matching
 *		  rules, made safe.
 *
 * For each record the directory is searched, under the group's base DN and
 * with the server's filter, for entries whose first- and last-name
 * attributes equal the record's names; the directory's own matching rules
 * decide case.  Names are sent with leading and trailing white space
 * removed and inner runs of it reduced to one space, and every value is
 * escaped (RFC 4515).
 *
 *	- exactly one entry: an exact match; each checked username is compared
 *	  with the entry's user ID attribute (unchanged, or a change for
 *	  apply.c to check and write); an entry without the attribute, or with
 *	  several values of it, is "no_uid";
 *	- several entries: "ambiguous", nothing is chosen;
 *	- none: the last name alone is searched; entries found make "partial",
 *	  none "no_match".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/scansup.h"

#include "pssync.h"

/* What one search brought back. */
typedef struct FoundEntries
{
	List	   *dns;			/* char *, server encoding */
	DirectoryValues uid;		/* user ID values of the first entry */
} FoundEntries;

typedef struct MatchContext
{
	PssyncServer *server;
	PssyncDirectory *dir;
	const char *base_dn;
	const char *uid_attr;
	char	   *filter;			/* the server's filter, UTF-8 */
	List	   *results;
} MatchContext;

/*
 * A name as it is searched for: leading and trailing white space removed,
 * inner runs of it reduced to one space.  NULL when nothing is left.
 */
static char *
search_name(const char *name)
{
	StringInfoData buf;
	bool		space = false;

	if (name == NULL)
		return NULL;
	initStringInfo(&buf);
	for (; *name; name++)
	{
		if (scanner_isspace(*name))
			space = true;
		else
		{
			if (space && buf.len > 0)
				appendStringInfoChar(&buf, ' ');
			space = false;
			appendStringInfoChar(&buf, *name);
		}
	}
	if (buf.len == 0)
	{
		pfree(buf.data);
		return NULL;
	}
	return buf.data;
}

static void
collect_entry(void *arg, const char *dn, DirectoryValues *values)
{
	FoundEntries *found = (FoundEntries *) arg;

	if (found->dns == NIL && values)
		found->uid = values[0];
	found->dns = lappend(found->dns, pstrdup(dn));
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The DNs found, as a sorted array. */
static char **
sorted_dns(List *dns, int *count)
{
	char	  **array;
	ListCell   *cell;
	int			i = 0;

	*count = list_length(dns);
	array = palloc(sizeof(char *) * Max(*count, 1));
	foreach(cell, dns)
		array[i++] = (char *) lfirst(cell);
	qsort(array, *count, sizeof(char *), compare_strings);
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
 * An exact match: one row per checked username.
 */
static void
decide_exact(MatchContext *cxt, SyncRecord *rec, const char *dn,
			 DirectoryValues *uid)
{
	char	   *value = NULL;
	bool		storable = false;
	int			c;

	if (uid->count == 1)
	{
		value = uid_as_text(uid->values[0], uid->lengths[0]);
		storable = value != NULL;
	}

	for (c = 0; c < rec->nchecks; c++)
	{
		SyncResult *result;
		SyncStatus	status;

		if (uid->count != 1)
			status = STATUS_NO_UID;
		else if (!storable)
			status = STATUS_INVALID_UID;
		else if (rec->old_usernames[c] && strcmp(rec->old_usernames[c], value) == 0)
			status = STATUS_UNCHANGED;
		else
			status = STATUS_UPDATED;	/* apply.c checks and writes it */

		result = add_result(cxt, rec, status, c);
		result->dn = pstrdup(dn);
		result->new_username = value;
	}
}

static void
match_one(MatchContext *cxt, SyncRecord *rec)
{
	PssyncServer *server = cxt->server;
	char	   *first = search_name(rec->first_name);
	char	   *last = search_name(rec->last_name);
	char	   *filter;
	FoundEntries exact;
	FoundEntries partial;
	SyncResult *result;

	memset(&exact, 0, sizeof(exact));
	memset(&partial, 0, sizeof(partial));

	/* Without a last name there is nothing to search for. */
	if (last == NULL)
	{
		add_result(cxt, rec, STATUS_NO_MATCH, -1);
		return;
	}

	if (first != NULL)
	{
		const char *attrs[] = {cxt->uid_attr, NULL};

		filter = psprintf("(&%s(%s=%s)(%s=%s))", cxt->filter,
						  server->first_name_attr,
						  directory_escape_filter_value(first),
						  server->last_name_attr,
						  directory_escape_filter_value(last));
		directory_search(cxt->dir, cxt->base_dn, filter, attrs,
						 collect_entry, &exact);
	}

	if (list_length(exact.dns) == 1)
	{
		decide_exact(cxt, rec, linitial(exact.dns), &exact.uid);
		return;
	}
	if (list_length(exact.dns) > 1)
	{
		result = add_result(cxt, rec, STATUS_AMBIGUOUS, -1);
		result->candidates = sorted_dns(exact.dns, &result->ncandidates);
		return;
	}

	{
		const char *attrs[] = {NULL};

		filter = psprintf("(&%s(%s=%s))", cxt->filter, server->last_name_attr,
						  directory_escape_filter_value(last));
		directory_search(cxt->dir, cxt->base_dn, filter, attrs,
						 collect_entry, &partial);
	}
	if (partial.dns == NIL)
		add_result(cxt, rec, STATUS_NO_MATCH, -1);
	else
	{
		result = add_result(cxt, rec, STATUS_PARTIAL, -1);
		result->candidates = sorted_dns(partial.dns, &result->ncandidates);
	}
}

/*
 * Ask the directory about each record, in order; returns the result rows,
 * with STATUS_UPDATED standing for "the directory's value differs" until
 * apply.c has checked and written it.
 */
List *
match_records(PssyncServer *server, PssyncDirectory *dir, RecordGroup group,
			  const char *uid_attr, List *records)
{
	MatchContext cxt;
	ListCell   *cell;

	cxt.server = server;
	cxt.dir = dir;
	cxt.base_dn = server->base_dn[group];
	cxt.uid_attr = uid_attr;
	cxt.filter = directory_to_utf8(server->filter);
	cxt.results = NIL;

	foreach(cell, records)
	{
		match_one(&cxt, (SyncRecord *) lfirst(cell));
		CHECK_FOR_INTERRUPTS();
	}
	return cxt.results;
}
