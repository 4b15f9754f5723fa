/*-------------------------------------------------------------------------
 *
 * pssync.h
 *		  Internal declarations of pssync, LDAP directory synchronization of
 *		  PowerSchool usernames.
 *
 * Data flows one way through the files listed below: the selected records
 * are read from PowerSchool's tables (records.c), the directory is asked
 * about each of them (directory.c, matching.c), a decision is made per
 * username (matching.c), the changes are checked and written (apply.c), and
 * the result rows go back to the caller (sync.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PSSYNC_H
#define PSSYNC_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "portability/instr_time.h"
#include "utils/palloc.h"

#include "compat.h"

/*
 * The kinds of PowerSchool records, and the username columns they have.
 */
typedef enum RecordType
{
	RECORD_STUDENT,
	RECORD_TEACHER,
	RECORD_STAFF
} RecordType;

typedef enum UsernameColumn
{
	COLUMN_STUDENT_WEB_ID,		/* students.student_web_id */
	COLUMN_TEACHERLOGINID,		/* users.teacherloginid: Teacher Username */
	COLUMN_LOGINID,				/* users.loginid: Admin Username */
	NUM_USERNAME_COLUMNS
} UsernameColumn;

/* Which directory group a record is searched in. */
typedef enum RecordGroup
{
	GROUP_STUDENTS,
	GROUP_STAFF					/* teachers and staff: PowerSchool's users */
} RecordGroup;

#define MAX_CHECKS_PER_RECORD 2

/*
 * One selected record, as read from the tables.  Strings are in the server
 * encoding; a NULL column stays NULL.
 */
typedef struct SyncRecord
{
	RecordType	type;
	int64		dcid;
	char	   *first_name;
	char	   *last_name;
	char	   *id;				/* the record's ID (student_number ...), or NULL */
	int			nchecks;		/* usernames checked for this record */
	UsernameColumn columns[MAX_CHECKS_PER_RECORD];
	char	   *old_usernames[MAX_CHECKS_PER_RECORD];
} SyncRecord;

/*
 * The statuses of a result row.  The first three are the "match" section,
 * the others the "exception" section.
 */
typedef enum SyncStatus
{
	STATUS_UNCHANGED,
	STATUS_UPDATED,
	STATUS_WOULD_UPDATE,
	STATUS_PARTIAL,
	STATUS_NO_MATCH,
	STATUS_AMBIGUOUS,
	STATUS_NO_UID,
	STATUS_CONFLICT,
	STATUS_INVALID_UID
} SyncStatus;

#define STATUS_IS_MATCH(s) ((s) <= STATUS_WOULD_UPDATE)

/*
 * One result row.  "check" is the index of the checked username in the
 * record, or -1 for an exception row without an exact match.
 */
typedef struct SyncResult
{
	SyncStatus	status;
	SyncRecord *record;
	int			check;
	char	   *new_username;	/* the directory's value, or NULL */
	char	   *dn;				/* the exact match's DN, or NULL */
	int			ncandidates;
	char	  **candidates;		/* sorted DNs, for partial and ambiguous */
	int			candidate_count;	/* candidates found; at most 100 listed */
	const char *matched_by;		/* "id" or "name" for an exact match */
} SyncResult;


/* pssync.c: module load and configuration variables */
typedef enum MatchStrategy
{
	STRATEGY_AUTO,
	STRATEGY_SEARCH,
	STRATEGY_SCAN
} MatchStrategy;

extern char *pssync_server_name;
extern char *pssync_students_table;
extern char *pssync_users_table;
extern char *pssync_schoolstaff_table;
extern char *pssync_student_id_column;
extern char *pssync_staff_id_column;
extern int	pssync_strategy;		/* MatchStrategy */
extern bool pssync_history;
extern char *pssync_max_changes;
extern bool pssync_progress;
extern int	pssync_progress_interval;	/* milliseconds */

extern void _PG_init(void);
extern bool parse_max_changes(const char *value, double *limit, bool *percent);
extern void log_phase_time(instr_time *phase, const char *what);


/* arena.c: a bump allocator for the many small things of a sync */
typedef struct Arena Arena;

extern Arena *arena_create(MemoryContext parent, const char *name);
extern MemoryContext arena_context(Arena *arena);
extern void *arena_alloc(Arena *arena, Size size);
extern void *arena_alloc0(Arena *arena, Size size);
extern char *arena_strdup(Arena *arena, const char *s);
extern char *arena_strndup(Arena *arena, const char *s, Size len);


/* options.c: the foreign data wrapper's validator and the server options */
typedef struct PssyncServer
{
	Oid			serverid;
	char	   *servername;
	char	   *uri;			/* one or more space-separated URIs */
	char	   *base_dn[2];		/* per RecordGroup */
	char	   *uid_attr[2];	/* per RecordGroup */
	char	   *id_attr[2];		/* per RecordGroup; NULL: match by name only */
	char	   *first_name_attr;
	char	   *last_name_attr;
	char	   *filter;
	int			scope;			/* LDAP_SCOPE_SUBTREE or LDAP_SCOPE_ONELEVEL */
	bool		starttls;
	bool		referrals;		/* follow referrals and continuations */
	char	   *ca_file;		/* NULL: libldap's default trust */
	int			timeout_ms;
	int			page_size;
	char	   *bind_dn;		/* NULL: anonymous */
	char	   *password;		/* never shown anywhere */
} PssyncServer;

extern PssyncServer *pssync_get_server(void);
extern bool is_attribute_description(const char *name);
extern void check_uid_attr_argument(const char *uid_attr);
extern void install_password_log_filter(void);


/* directory.c: the connection to the LDAP server and its searches */
typedef struct PssyncDirectory PssyncDirectory;

/* The values of one requested attribute of an entry (UTF-8, as sent). */
typedef struct DirectoryValues
{
	int			count;
	char	  **values;
	int		   *lengths;
} DirectoryValues;

/* An entry as matching sees it: its DN and its user ID values. */
typedef struct DirectoryEntry
{
	char	   *dn;				/* server encoding */
	DirectoryValues uid;
} DirectoryEntry;

/*
 * Called for each entry a search returns, with the entry's DN (converted to
 * the server encoding) and the values of each requested attribute.
 */
typedef void (*DirectoryEntryCallback) (void *arg, const char *dn,
										DirectoryValues *values);

/* One of many searches of a batch (directory_search_batch). */
typedef struct DirectorySearch
{
	const char *filter;			/* UTF-8, escaped */
	DirectoryEntryCallback callback;
	void	   *arg;
	void		(*reset) (void *arg);	/* forget what callback was given */
	bool		complete;		/* out: not cut short by a size limit */
} DirectorySearch;

extern PssyncDirectory *directory_connect(PssyncServer *server);
extern bool directory_search(PssyncDirectory *dir, const char *base_dn,
							 const char *filter, const char **attrs,
							 DirectoryEntryCallback callback, void *arg);
extern char *directory_escape_filter_value(const char *value);
extern char *directory_to_utf8(const char *s);
extern char *directory_text(const char *s, size_t len);
extern void copy_directory_values(Arena *arena, DirectoryValues *to,
								  DirectoryValues *from);
extern void directory_search_batch(PssyncDirectory *dir, const char *base_dn,
								   const char **attrs,
								   DirectorySearch *searches, int n);
extern bool directory_read_entry(PssyncDirectory *dir, const char *dn,
								 const char *filter, const char **attrs,
								 DirectoryEntryCallback callback, void *arg);
extern void directory_disconnect(PssyncDirectory *dir);
extern int	directory_requests_sent(PssyncDirectory *dir);


/* records.c: the PowerSchool tables and the selected records */
typedef struct PowerSchoolTable
{
	Oid			relid;
	char	   *qualified_name;	/* for statements: quoted, schema-qualified */
	char	   *display_name;	/* for messages: as the caller would write it */
} PowerSchoolTable;

typedef struct PowerSchoolTables
{
	PowerSchoolTable students;
	PowerSchoolTable users;
	PowerSchoolTable schoolstaff;
	const char *id_column;		/* the records' ID, or NULL: not read */
} PowerSchoolTables;

/* Which records a call takes. */
typedef enum SelectionKind
{
	SELECT_ALL,					/* a district scope: the whole table */
	SELECT_RELATION,			/* the dcids in a table or view */
	SELECT_ONE					/* one dcid (ldap_assign) */
} SelectionKind;

typedef struct RecordSelection
{
	SelectionKind kind;
	Oid			relation;
	int64		dcid;
} RecordSelection;

/* Which users a load of the users table keeps. */
typedef enum UserKinds
{
	USERS_ALL,
	USERS_TEACHERS,
	USERS_STAFF
} UserKinds;

extern const char *username_column_name(UsernameColumn column);
extern Oid	relation_owner(Oid relid);
extern void run_query(const char *sql, int nargs, Oid *types, Datum *values,
					  bool read_only, int expected);
extern void run_query_nulls(const char *sql, int nargs, Oid *types,
							Datum *values, const char *nulls, bool read_only,
							int expected);
typedef void (*RowCallback) (HeapTuple tuple, TupleDesc desc, void *arg);
extern char *row_text(HeapTuple tuple, TupleDesc desc, int column, Arena *arena);
extern void for_each_row(const char *sql, int nargs, Oid *types, Datum *values,
						 bool latest, RowCallback callback, void *arg);
extern void resolve_powerschool_tables(PowerSchoolTables *tables,
									   RecordGroup group, bool with_id);
extern void check_selection(Oid selection);
extern char *selection_name(RecordSelection *selection);
extern List *load_student_records(PowerSchoolTables *tables,
								  RecordSelection *selection,
								  bool blank_only, Arena *arena);
extern List *load_user_records(PowerSchoolTables *tables,
							   RecordSelection *selection, UserKinds kinds,
							   bool blank_only, Arena *arena);


/* names.c: names as they are searched for and compared in memory */
extern char *search_name(const char *name);
extern bool is_plain_name(const char *name, int length);
extern char *plain_name_key(const char *name, int length);
extern char *name_skeleton(const char *name, int length);


/* scan.c: the "scan" strategy's in-memory index of the directory */
typedef struct DirectoryIndex DirectoryIndex;

extern DirectoryIndex *directory_index_build(PssyncServer *server,
											 PssyncDirectory *dir,
											 const char *base_dn,
											 const char *uid_attr,
											 const char *id_attr);
extern bool directory_index_complete(DirectoryIndex *index);
extern int	directory_index_size(DirectoryIndex *index);
extern bool directory_index_exact(DirectoryIndex *index, const char *first,
								  const char *last, List **entries);
extern bool directory_index_partial(DirectoryIndex *index, const char *last,
									List **entries);
extern bool directory_index_id(DirectoryIndex *index, const char *id,
							   List **entries);
extern void directory_index_free(DirectoryIndex *index);


/* matching.c: what the directory says about each record */
extern List *match_records(PssyncServer *server, PssyncDirectory *dir,
						   RecordGroup group, const char *uid_attr,
						   List *records, Arena *arena, MatchStrategy *used);
extern List *match_entry(PssyncServer *server, PssyncDirectory *dir,
						 RecordGroup group, const char *uid_attr,
						 SyncRecord *rec, const char *dn, Arena *arena);


/* apply.c: checking and writing the changes */
extern void check_update_privileges(PowerSchoolTables *tables, RecordGroup group,
									UserKinds kinds);
extern void apply_changes(PowerSchoolTables *tables, RecordGroup group,
						  List *results, int records, bool dry_run,
						  Arena *arena);


/* history.c: the run history */
typedef struct HistoryRun
{
	TimestampTz started_at;
	const char *function;
	const char *scope;
	const char *selection;
	const char *server;
	const char *uid_attr;
	const char *strategy;
	int			records;
} HistoryRun;

extern void record_run(HistoryRun *run, List *rows);


/* sync.c: the SQL-callable functions and their result rows */
extern const char *sync_status_name(SyncStatus status);
extern const char *record_type_name(RecordType type);
extern const char *result_section(SyncResult *result);
extern const char *result_field(SyncResult *result);
extern const char *result_old_username(SyncResult *result);

#endif							/* PSSYNC_H */
