/*-------------------------------------------------------------------------
 *
 * pssync.c
 *		  Module load: the configuration variables of pssync.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "pssync.h"

PG_MODULE_MAGIC;

char	   *pssync_server_name = NULL;
char	   *pssync_students_table = NULL;
char	   *pssync_users_table = NULL;
char	   *pssync_schoolstaff_table = NULL;
char	   *pssync_student_id_column = NULL;
char	   *pssync_staff_id_column = NULL;
int			pssync_strategy = STRATEGY_AUTO;
bool		pssync_history = true;
bool		pssync_use_links = true;
char	   *pssync_max_changes = NULL;
bool		pssync_progress = true;
int			pssync_progress_interval = 5000;
char	   *pssync_student_preferred_name_column = NULL;
char	   *pssync_staff_preferred_name_column = NULL;
uint32		pssync_accept_variants = 0;
static char *accept_variants_string = NULL;

int			pssync_history_rows = HISTORY_ROWS_CHANGES;
double		pssync_min_directory_ratio = 0.5;
char	   *pssync_worker_database = NULL;
char	   *pssync_worker_role = NULL;
char	   *pssync_worker_scope = NULL;
int			pssync_worker_naptime = 60;
int			pssync_changes_scan_records = PSSYNC_SCAN_THRESHOLD;
int			pssync_changes_indexed_user_ids = 64;

static const struct config_enum_entry history_rows_options[] = {
	{"changes", HISTORY_ROWS_CHANGES, false},
	{"all", HISTORY_ROWS_ALL, false},
	{NULL, 0, false}
};

static const struct config_enum_entry strategy_options[] = {
	{"auto", STRATEGY_AUTO, false},
	{"search", STRATEGY_SEARCH, false},
	{"scan", STRATEGY_SCAN, false},
	{NULL, 0, false}
};

/*
 * pssync.max_changes: empty, a count, or a percentage ("5%").
 */
static bool
check_max_changes(char **newval, void **extra pg_attribute_unused(),
				  GucSource source pg_attribute_unused())
{
	double		limit;

	if (parse_max_changes(*newval, &limit, NULL))
		return true;
	GUC_check_errdetail("Give a number of usernames such as 500, a percentage of the records processed such as 5%%, or an empty string for no limit.");
	return false;
}

/* pssync.worker_scope: a scope of ldap_sync_changes. */
static bool
check_worker_scope(char **newval, void **extra pg_attribute_unused(),
				   GucSource source pg_attribute_unused())
{
	if (valid_change_scope(*newval))
		return true;
	GUC_check_errdetail("Valid scopes are students, teachers, staff and all.");
	return false;
}

/*
 * Parse a pssync.max_changes value; *percent says whether it is one.  An
 * empty value is no limit (a negative *limit).
 */
bool
parse_max_changes(const char *value, double *limit, bool *percent)
{
	char	   *end;
	bool		is_percent = false;

	*limit = -1;
	if (percent)
		*percent = false;
	while (*value == ' ')
		value++;
	if (*value == '\0')
		return true;
	errno = 0;
	*limit = strtod(value, &end);
	if (end == value || errno != 0 || *limit < 0 || !isfinite(*limit) ||
		*limit > PG_INT32_MAX)
		return false;
	while (*end == ' ')
		end++;
	if (*end == '%')
	{
		is_percent = true;
		end++;
		while (*end == ' ')
			end++;
	}
	if (*end != '\0' || (is_percent && *limit > 100) ||
		(!is_percent && *limit != floor(*limit)))
		return false;
	if (percent)
		*percent = is_percent;
	return true;
}

/* loaded by shared_preload_libraries: every backend has the log filter */
bool		pssync_preloaded = false;

/*
 * pssync.accept_variants: a list of the reasons of suggestions (2.1) that
 * a district accepts as an exact match.  linked_elsewhere and uid_taken
 * only lower a score: they cannot be accepted.
 */
static bool
check_accept_variants(char **newval, void **extra, GucSource source pg_attribute_unused())
{
	char	   *copy = pstrdup(*newval);
	List	   *names;
	ListCell   *cell;
	uint32		mask = 0;

	if (!SplitIdentifierString(copy, ',', &names))
	{
		GUC_check_errdetail("List syntax is invalid.");
		pfree(copy);
		list_free(names);
		return false;
	}
	foreach(cell, names)
	{
		SuggestReason reason;

		if (!parse_suggest_reason((char *) lfirst(cell), &reason) ||
			reason == REASON_LINKED_ELSEWHERE || reason == REASON_UID_TAKEN)
		{
			GUC_check_errdetail("\"%s\" is not a reason that can be accepted.",
								(char *) lfirst(cell));
			GUC_check_errhint("The reasons are case_accents, nickname, preferred_name, surname_part, suffix, swapped, middle_name, initial, typo_first, typo_last and same_id.");
			pfree(copy);
			list_free(names);
			return false;
		}
		if (reason != REASON_EXACT)
			mask |= REASON_BIT(reason);
	}
	pfree(copy);
	list_free(names);
	*extra = pssync_guc_malloc(sizeof(uint32));
	if (*extra == NULL)
		return false;
	*((uint32 *) *extra) = mask;
	return true;
}

static void
assign_accept_variants(const char *newval pg_attribute_unused(), void *extra)
{
	pssync_accept_variants = *((uint32 *) extra);
}

void
_PG_init(void)
{
	pssync_preloaded = process_shared_preload_libraries_in_progress;
	install_password_log_filter();

	DefineCustomStringVariable("pssync.server",
							   "Name of the pssync foreign server to synchronize with.",
							   "Empty means the only server of the pssync foreign data wrapper.",
							   &pssync_server_name,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pssync.students_table",
							   "PowerSchool's students table.",
							   "Resolved through search_path unless schema-qualified.",
							   &pssync_students_table,
							   "students",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pssync.users_table",
							   "PowerSchool's users table.",
							   "Resolved through search_path unless schema-qualified.",
							   &pssync_users_table,
							   "users",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pssync.schoolstaff_table",
							   "PowerSchool's schoolstaff table.",
							   "Resolved through search_path unless schema-qualified.",
							   &pssync_schoolstaff_table,
							   "schoolstaff",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pssync.student_id_column",
							   "Column of the students table that holds the ID the server's student_id_attr holds.",
							   NULL,
							   &pssync_student_id_column,
							   "student_number",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pssync.staff_id_column",
							   "Column of the users table that holds the ID the server's staff_id_attr holds.",
							   NULL,
							   &pssync_staff_id_column,
							   "teachernumber",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("pssync.history",
							 "Records every sync that is not a dry run in pssync.sync_run and pssync.sync_log.",
							 "Only a superuser, or a role granted SET on the parameter, may turn it off: the history is an audit trail.",
							 &pssync_history,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("pssync.use_links",
							 "Matches records through their links to directory entries, and makes links (pssync 2.0).",
							 "Off: links are neither read nor written, and a sync behaves as in pssync 1.x.",
							 &pssync_use_links,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("pssync.max_changes",
							   "Most usernames a sync may change: a count, or a percentage of the records processed such as 5%.",
							   "A sync that would change more fails and changes nothing; a dry run says how many it would change. Empty means no limit.",
							   &pssync_max_changes,
							   "",
							   PGC_USERSET,
							   0,
							   check_max_changes, NULL, NULL);

	DefineCustomBoolVariable("pssync.progress",
							 "Reports the progress of a long sync.",
							 "A NOTICE (LOG in a background worker) at most every pssync.progress_interval.",
							 &pssync_progress,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pssync.progress_interval",
							"Time between two progress reports of a sync.",
							NULL,
							&pssync_progress_interval,
							5000,
							100,
							3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pssync.changes_scan_records",
							"Records an ldap_sync_changes run must take to read the group's entries whole (for tests).",
							"Fewer are searched for in batches.",
							&pssync_changes_scan_records,
							PSSYNC_SCAN_THRESHOLD,
							1,
							INT_MAX,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pssync.changes_indexed_user_ids",
							"Most user IDs ldap_sync_changes looks for among the records' through their index (for tests).",
							"More are looked for in one read of the records.",
							&pssync_changes_indexed_user_ids,
							64,
							1,
							1000000,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("pssync.strategy",
							 "How records are matched against the directory.",
							 "search: a search per record; scan: the directory read once and matched in memory; auto: scan for large selections.",
							 &pssync_strategy,
							 STRATEGY_AUTO,
							 strategy_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("pssync.accept_variants",
							   "Reasons of suggestions accepted as an exact match (pssync 2.1).",
							   "A record without an exact match is matched to its best suggestion when every reason of it is in the list and no other suggestion is within 0.05 of its score (matched_by \"variant\"). Empty: none.",
							   &accept_variants_string,
							   "",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   check_accept_variants, assign_accept_variants, NULL);

	DefineCustomStringVariable("pssync.student_preferred_name_column",
							   "Column of the students table that holds a student's preferred first name (pssync 2.1).",
							   "Suggestions compare it with the entries' first names (reason preferred_name). Empty: none.",
							   &pssync_student_preferred_name_column,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pssync.staff_preferred_name_column",
							   "Column of the users table that holds a teacher's or staff member's preferred first name (pssync 2.1).",
							   "Suggestions compare it with the entries' first names (reason preferred_name). Empty: none.",
							   &pssync_staff_preferred_name_column,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);


	DefineCustomEnumVariable("pssync.history_rows",
							 "Which result rows of a sync the history keeps in pssync.sync_log.",
							 "changes: every row whose status is not unchanged; all: every row. pssync.sync_run counts every status either way.",
							 &pssync_history_rows,
							 HISTORY_ROWS_CHANGES,
							 history_rows_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("pssync.min_directory_ratio",
							 "Fewest entries a full read of a group may return, as a fraction of its last successful full read.",
							 "A full read that returns fewer is an ERROR, and nothing is written. 0 disables the check.",
							 &pssync_min_directory_ratio,
							 0.5,
							 0.0,
							 1.0,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * Read at server start, when the worker is registered; a library loaded
	 * later (not preloaded) starts no worker, and may not define a
	 * PGC_POSTMASTER setting: there it only shows the value.
	 */
	DefineCustomStringVariable("pssync.worker_database",
							   "Database the pssync background worker keeps in step with the directory.",
							   "Empty means no worker. Needs shared_preload_libraries = 'pssync'.",
							   &pssync_worker_database,
							   "",
							   process_shared_preload_libraries_in_progress ?
							   PGC_POSTMASTER : PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pssync.worker_role",
							   "Role whose privileges the background worker's syncs use.",
							   "It needs what a sync needs; never a superuser.",
							   &pssync_worker_role,
							   "",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pssync.worker_scope",
							   "Scope the background worker keeps in step: students, teachers, staff or all.",
							   NULL,
							   &pssync_worker_scope,
							   "all",
							   PGC_SIGHUP,
							   0,
							   check_worker_scope, NULL, NULL);

	DefineCustomIntVariable("pssync.worker_naptime",
							"Time between two polls of the directory by the background worker when no change stream is possible.",
							NULL,
							&pssync_worker_naptime,
							60,
							1,
							86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("pssync");

	/* the background worker, where pssync is preloaded and one is asked for */
	if (process_shared_preload_libraries_in_progress)
		worker_register();
}

/*
 * At DEBUG1, how long each phase of a call took, and the memory the
 * backend's memory contexts hold at its end (libldap's own allocations are
 * not among them): where a slow nightly run spends its time.
 */
void
log_phase_time(instr_time *phase, const char *what)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, *phase);
	elog(DEBUG1, "pssync: %s took %.1f ms (memory contexts %.1f MB)", what,
		 INSTR_TIME_GET_MILLISEC(now),
		 MemoryContextMemAllocated(TopMemoryContext, true) / 1048576.0);
	INSTR_TIME_SET_CURRENT(*phase);
}
