/*-------------------------------------------------------------------------
 *
 * pssync.c
 *		  Module load: the configuration variables of pssync.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "pssync.h"

PG_MODULE_MAGIC;

char	   *pssync_server_name = NULL;
char	   *pssync_students_table = NULL;
char	   *pssync_users_table = NULL;
char	   *pssync_schoolstaff_table = NULL;
int			pssync_strategy = STRATEGY_AUTO;

static const struct config_enum_entry strategy_options[] = {
	{"auto", STRATEGY_AUTO, false},
	{"search", STRATEGY_SEARCH, false},
	{"scan", STRATEGY_SCAN, false},
	{NULL, 0, false}
};

void
_PG_init(void)
{
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

	DefineCustomEnumVariable("pssync.strategy",
							 "How records are matched against the directory.",
							 "search: a search per record; scan: the directory read once and matched in memory; auto: scan for large selections.",
							 &pssync_strategy,
							 STRATEGY_AUTO,
							 strategy_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("pssync");
}
