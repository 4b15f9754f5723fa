/*
 * compat.h: the PostgreSQL APIs that changed between the versions pssync
 * builds on (15, 16, 17, 18), each behind one name here, so that the code
 * is written once against the oldest and a call site names no version.
 *
 * Macros only: each expands where it is used, against the headers that
 * call site includes (storage/latch.h, miscadmin.h, utils/regproc.h,
 * utils/acl.h and catalog/pg_foreign_server.h), so this file needs only
 * postgres.h before it, and pssync.h can include it: it includes no
 * header itself (utils/acl.h would bring parsenodes.h's struct Query into
 * every file).
 */
#ifndef PSSYNC_COMPAT_H
#define PSSYNC_COMPAT_H

/* 16 folded the per-catalog ACL checks into object_aclcheck() */
#if PG_VERSION_NUM >= 160000
#define pssync_foreign_server_aclcheck(server, role, mode) \
	object_aclcheck(ForeignServerRelationId, (server), (role), (mode))
#else
#define pssync_foreign_server_aclcheck(server, role, mode) \
	pg_foreign_server_aclcheck((server), (role), (mode))
#endif

/*
 * A function that does not return.  18 removed pg_attribute_noreturn(),
 * written after the declarator, for pg_noreturn, written before the
 * declaration; older versions get pg_noreturn from their GCC attribute,
 * which may stand there too:
 *
 *     pg_noreturn static void report_timeout(...);
 */
#if PG_VERSION_NUM < 180000 && !defined(pg_noreturn)
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * A wait event set for the backend's own waits.  Up to 16 it is allocated
 * in a memory context; from 17 on it takes a ResourceOwner instead and is
 * allocated in TopMemoryContext.  NULL: no resource owner, the caller
 * frees it (the directory's reset callback calls FreeWaitEventSet on every
 * path, an error's included).
 */
#if PG_VERSION_NUM >= 170000
#define pssync_create_wait_event_set(cxt, nevents) \
	((void) (cxt), CreateWaitEventSet(NULL, (nevents)))
#else
#define pssync_create_wait_event_set(cxt, nevents) \
	CreateWaitEventSet((cxt), (nevents))
#endif

/*
 * Whether this backend is a background worker (pg_cron's jobs run in one).
 * 17 replaced the variable IsBackgroundWorker with a test of MyBackendType.
 */
#if PG_VERSION_NUM >= 170000
#define pssync_am_background_worker() AmBackgroundWorkerProcess()
#else
#define pssync_am_background_worker() IsBackgroundWorker
#endif

/*
 * A possibly qualified name, parsed into a List of String nodes.  16 added
 * a soft-error context; NULL keeps the old behaviour, an ERROR for a name
 * that does not parse.
 */
#if PG_VERSION_NUM >= 160000
#define pssync_string_to_qualified_name_list(string) \
	stringToQualifiedNameList((string), NULL)
#else
#define pssync_string_to_qualified_name_list(string) \
	stringToQualifiedNameList(string)
#endif

/*
 * The wait event of the backend's waits for the directory: from 17 on a
 * named one, which pg_stat_activity.wait_event shows ("PssyncDirectory");
 * before, "Extension".
 */
#if PG_VERSION_NUM >= 170000
#define pssync_directory_wait_event() WaitEventExtensionNew("PssyncDirectory")
#else
#define pssync_directory_wait_event() PG_WAIT_EXTENSION
#endif

/*
 * Memory for a GUC check hook's "extra".  From 16 on the GUC machinery
 * frees it with guc_free(), so it must come from guc_malloc(); before, it
 * is free()'d and comes from malloc().  NULL when out of memory (the check
 * hook then fails).
 */
#if PG_VERSION_NUM >= 160000
#define pssync_guc_malloc(size) guc_malloc(LOG, (size))
#else
#define pssync_guc_malloc(size) malloc(size)
#endif

#endif							/* PSSYNC_COMPAT_H */
