/*-------------------------------------------------------------------------
 *
 * results.c
 *		  What a result row says, in words: its section, status, record
 *		  type, the username column it checked and the username before.
 *
 * The rows a function returns (sync.c) and the rows of the history
 * (history.c) say the same things the same way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pssync.h"

static const char *const status_names[] = {
	"unchanged",
	"updated",
	"would_update",
	"partial",
	"no_match",
	"ambiguous",
	"no_uid",
	"conflict",
	"invalid_uid",
	"link_broken"
};

StaticAssertDecl(lengthof(status_names) == NUM_STATUSES,
				 "a name for every status");

static const char *const record_type_names[] = {
	"student",
	"teacher",
	"staff"
};

const char *
sync_status_name(SyncStatus status)
{
	return status_names[status];
}

const char *
record_type_name(RecordType type)
{
	return record_type_names[type];
}

/* A group's name in pssync's tables (record_links, record_state, ...). */
const char *
record_group_name(RecordGroup group)
{
	return group == GROUP_STUDENTS ? "students" : "users";
}

const char *
result_section(SyncResult *result)
{
	return STATUS_IS_MATCH(result->status) ? "match" : "exception";
}

/* The username column checked; NULL on an exception without a match. */
const char *
result_field(SyncResult *result)
{
	return result->check >= 0 ?
		username_column_name(result->record->columns[result->check]) : NULL;
}

/* The checked username, or for a row without a check the first one. */
const char *
result_old_username(SyncResult *result)
{
	return result->record->old_usernames[Max(result->check, 0)];
}
