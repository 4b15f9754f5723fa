/*-------------------------------------------------------------------------
 *
 * pssync.h
 *		  Internal declarations of pssync, LDAP directory synchronization of
 *		  PowerSchool usernames.
 *
 * Data flows one way through the files listed below: the selected records
 * are read from PowerSchool's tables (records.c), the directory is asked
 * about each of them (directory_*.c, scan.c, matching.c), a decision is
 * made per username (matching.c), the changes are checked and written
 * (apply.c), the run is recorded (history.c), and the result rows go back
 * to the caller (sync.c).  results.c names what a row says for the last
 * two; queries.c runs the statements of records.c, apply.c and history.c.
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

typedef struct RecordLink RecordLink;	/* links.c */

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
	RecordLink *link;			/* its link to a directory entry, or NULL */
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
	STATUS_INVALID_UID,
	STATUS_LINK_BROKEN,			/* 2.0: the linked entry is not found */
	NUM_STATUSES
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
	const char *matched_by;		/* "link", "id" or "name" for an exact match */
	const char *entry_id;		/* the exact match's permanent ID, when links
								 * are used */
	bool		linked_elsewhere;	/* conflict: the entry is linked to
									 * another record */
} SyncResult;


/* pssync.c: module load and configuration variables */
typedef enum MatchStrategy
{
	STRATEGY_AUTO,
	STRATEGY_SEARCH,
	STRATEGY_SCAN,
	STRATEGY_BATCH				/* not a setting: the scan's questions, many
								 * at a time, without reading the directory
								 * (ldap_sync_changes) */
} MatchStrategy;

/* pssync.history_rows */
typedef enum HistoryRows
{
	HISTORY_ROWS_CHANGES,		/* every row whose status is not unchanged */
	HISTORY_ROWS_ALL
} HistoryRows;

extern char *pssync_server_name;
extern char *pssync_students_table;
extern char *pssync_users_table;
extern char *pssync_schoolstaff_table;
extern char *pssync_student_id_column;
extern char *pssync_staff_id_column;
extern int	pssync_strategy;		/* MatchStrategy */
extern bool pssync_history;
extern bool pssync_use_links;
extern char *pssync_max_changes;
extern bool pssync_progress;
extern int	pssync_progress_interval;	/* milliseconds */
extern int	pssync_history_rows;	/* HistoryRows */
extern double pssync_min_directory_ratio;
extern char *pssync_worker_database;
extern char *pssync_worker_role;
extern char *pssync_worker_scope;
extern int	pssync_worker_naptime;	/* seconds */

extern void _PG_init(void);
extern bool parse_max_changes(const char *value, double *limit, bool *percent);
extern void log_phase_time(instr_time *phase, const char *what);


/* log_filter.c: user mapping passwords kept out of the server log */
extern void install_password_log_filter(void);


/* arena.c: a bump allocator for the many small things of a sync */
typedef struct Arena Arena;

extern Arena *arena_create(MemoryContext parent, const char *name);
extern MemoryContext arena_context(Arena *arena);
extern void *arena_alloc(Arena *arena, Size size);
extern void *arena_alloc0(Arena *arena, Size size);
extern char *arena_strdup(Arena *arena, const char *s);
extern char *arena_strndup(Arena *arena, const char *s, Size len);
extern char *copy_bytes(Arena *arena, const char *s, Size len);


/* options.c: the foreign data wrapper's validator and the server options */
typedef struct PssyncServer
{
	Oid			serverid;
	char	   *servername;
	char	   *uri;			/* one or more space-separated URIs */
	char	   *base_dn[2];		/* per RecordGroup */
	char	   *uid_attr[2];	/* per RecordGroup */
	char	   *id_attr[2];		/* per RecordGroup; NULL: match by name only */
	char	   *entry_id_attr;	/* entries' permanent ID; NULL: by the
								 * directory's kind */
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
extern PssyncServer *copy_server(PssyncServer *server);
extern List *group_base_dns(PssyncServer *server, RecordGroup group);
extern List *split_uri_list(const char *uris);
extern bool is_attribute_description(const char *name);
extern bool is_distinguished_name(const char *value);
extern void check_uid_attr_argument(const char *uid_attr);


/*
 * The directory: directory_text.c, directory_wait.c, directory_connect.c,
 * directory_schema.c and directory_search.c (directory_int.h says which
 * holds what).
 */
typedef struct PssyncDirectory PssyncDirectory;

/* The values of one requested attribute of an entry (UTF-8, as sent). */
typedef struct DirectoryValues
{
	int			count;
	char	  **values;
	int		   *lengths;
} DirectoryValues;

/*
 * An entry as matching sees it: its DN, its user ID values and, when links
 * are used, its permanent ID.
 */
typedef struct DirectoryEntry
{
	char	   *dn;				/* server encoding */
	DirectoryValues uid;
	char	   *entry_id;		/* text (see directory_entry_id), or NULL */
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

/* directory_text.c */
extern char *directory_to_utf8(const char *s);
extern char *directory_value_text(const char *s, size_t len);
extern char *directory_text(const char *s, size_t len);
extern char *directory_escape_filter_value(const char *value);
extern char *directory_equality_filter(PssyncServer *server, const char *attr,
									   const char *value);
extern char *directory_name_filter(PssyncServer *server, const char *first,
								   const char *last);
extern bool directory_is_guid_attribute(const char *attr);
extern char *directory_entry_id(const char *attr, DirectoryValues *values);
extern char *directory_entry_id_filter_value(const char *attr,
											 const char *entry_id);
extern bool directory_dn_in_scope(const char *dn, const char *base, int scope);
extern void copy_directory_values(Arena *arena, DirectoryValues *to,
								  DirectoryValues *from);

/* directory_schema.c */
extern const char *directory_entry_id_attr(PssyncDirectory *dir);

/* directory_connect.c */
extern PssyncDirectory *directory_connect(PssyncServer *server);
extern void directory_disconnect(PssyncDirectory *dir);
extern int	directory_requests_sent(PssyncDirectory *dir);
extern void directory_keepalive(PssyncDirectory *dir, int idle_s,
								int interval_s, int count);

/* directory_changes.c: what changed since a watermark (RFC 4533, uSNChanged) */
typedef enum ChangeMechanism
{
	CHANGES_NONE,				/* neither: every ldap_sync_changes is full */
	CHANGES_RFC4533,			/* Content Synchronization (OpenLDAP, 389-DS) */
	CHANGES_USN					/* uSNChanged (Active Directory, Samba) */
} ChangeMechanism;

typedef struct Watermark
{
	ChangeMechanism mechanism;
	char	   *cookie;			/* RFC 4533: the provider's cookie */
	int			cookie_len;
	int64		usn;			/* USN: highestCommittedUSN */
	char	   *host;			/* the directory host it came from */
	char	   *invocation_id;	/* USN: the domain controller's invocationId */
	const char *missing;		/* none could be had: why */
} Watermark;

/* An entry that changed, with the values of the attributes asked for. */
typedef struct ChangedEntry
{
	char	   *entry_id;
	DirectoryValues *values;
} ChangedEntry;

typedef struct DirectoryChanges
{
	List	   *found;			/* ChangedEntry: changed, and in the base DN's
								 * scope and the filter now */
	List	   *gone;			/* char *: IDs of entries that may have left
								 * (deleted, moved out, filtered out) */
	const char *full_reason;	/* set: not readable incrementally; why */
	bool		deletions_unseen;	/* AD: the bind account cannot see
									 * deleted objects */
	Watermark	next;			/* the watermark after them */
} DirectoryChanges;

extern ChangeMechanism directory_change_mechanism(PssyncDirectory *dir,
												  const char *entry_id_attr,
												  const char **why);
extern void directory_watermark(PssyncDirectory *dir, ChangeMechanism mechanism,
								const char *base_dn, Watermark *wm);
extern DirectoryChanges *directory_read_changes(PssyncDirectory *dir,
												const char *base_dn,
												Watermark *since,
												const char **attrs, int limit);
extern int	directory_change_stream(PssyncDirectory *dir,
									ChangeMechanism mechanism,
									const char *base_dn, const char **why);
extern bool directory_stream_wait(PssyncDirectory *dir, int msgid,
								  long timeout_ms, const char **why);

/* directory_search.c */
extern bool directory_search(PssyncDirectory *dir, const char *base_dn,
							 const char *filter, const char **attrs,
							 DirectoryEntryCallback callback, void *arg);
extern void directory_search_batch(PssyncDirectory *dir, const char *base_dn,
								   const char **attrs,
								   DirectorySearch *searches, int n);
extern bool directory_read_entry(PssyncDirectory *dir, const char *dn,
								 const char *filter, const char **attrs,
								 DirectoryEntryCallback callback, void *arg);


/* queries.c: statements through SPI, and the names of relations in them */
typedef void (*RowCallback) (HeapTuple tuple, TupleDesc desc, void *arg);

extern char *qualified_relation_name(Oid relid);
extern char *relation_display_name(Oid relid);
extern Oid	relation_owner(Oid relid);
extern void run_query(const char *sql, int nargs, Oid *types, Datum *values,
					  bool read_only, int expected);
extern void run_query_nulls(const char *sql, int nargs, Oid *types,
							Datum *values, const char *nulls, bool read_only,
							int expected);
extern void for_each_row(const char *sql, int nargs, Oid *types, Datum *values,
						 bool latest, RowCallback callback, void *arg);
extern char *row_text(HeapTuple tuple, TupleDesc desc, int column, Arena *arena);


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
	SELECT_ONE,					/* one dcid (ldap_assign) */
	SELECT_DCIDS				/* the dcids given (ldap_sync_changes) */
} SelectionKind;

typedef struct RecordSelection
{
	SelectionKind kind;
	Oid			relation;
	int64		dcid;
	int64	   *dcids;			/* SELECT_DCIDS */
	int			ndcids;
} RecordSelection;

/* A record's fingerprint and usernames (load_fingerprints). */
struct ArrayType;
typedef void (*FingerprintCallback) (void *arg, int64 dcid, int64 fingerprint,
									 struct ArrayType *usernames);

/* Which users a load of the users table keeps. */
typedef enum UserKinds
{
	USERS_ALL,
	USERS_TEACHERS,
	USERS_STAFF
} UserKinds;

extern const char *username_column_name(UsernameColumn column);
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
extern void sort_records(List *records);
extern char *fingerprint_sql(PowerSchoolTables *tables, RecordGroup group);
extern char *usernames_sql(RecordGroup group);
extern void load_fingerprints(PowerSchoolTables *tables, RecordGroup group,
							  RecordSelection *selection,
							  FingerprintCallback callback, void *arg);


/* names.c: names as they are searched for and compared in memory */
extern char *search_name(const char *name);
extern char *name_key(const char *name);
extern bool is_plain_name(const char *name, int length);
extern char *name_skeleton(const char *name, int length);
extern bool is_username_text(const char *value, int length);


/* scan.c: the "scan" strategy's in-memory index of the directory */
typedef struct DirectoryIndex DirectoryIndex;

extern DirectoryIndex *directory_index_build(PssyncServer *server,
											 PssyncDirectory *dir,
											 const char *base_dn,
											 const char *uid_attr,
											 const char *id_attr,
											 const char *entry_id_attr);
extern bool directory_index_complete(DirectoryIndex *index);
extern int	directory_index_size(DirectoryIndex *index);
extern bool directory_index_exact(DirectoryIndex *index, const char *first,
								  const char *last, List **entries);
extern bool directory_index_partial(DirectoryIndex *index, const char *last,
									List **entries);
extern bool directory_index_id(DirectoryIndex *index, const char *id,
							   List **entries);
extern bool directory_index_entry(DirectoryIndex *index, const char *entry_id,
								  DirectoryEntry **entry);
extern void directory_index_free(DirectoryIndex *index);
typedef void (*IndexEntryCallback) (void *arg, const char *entry_id,
									List *last_keys, List *id_keys);
extern bool directory_index_for_each(DirectoryIndex *index,
									 IndexEntryCallback callback, void *arg);
extern char *id_key(const char *id, int len);


/* matching.c: what the directory says about each record */
extern List *match_records(PssyncServer *server, PssyncDirectory *dir,
						   RecordGroup group, const char *uid_attr,
						   List *records, Arena *arena, MatchStrategy *used);
extern List *match_records_with(PssyncServer *server, PssyncDirectory *dir,
								RecordGroup group, const char *uid_attr,
								List *records, Arena *arena,
								MatchStrategy strategy, bool full_read,
								MatchStrategy *used, DirectoryIndex **index);
extern List *match_entry(PssyncServer *server, PssyncDirectory *dir,
						 RecordGroup group, const char *uid_attr,
						 SyncRecord *rec, const char *dn, Arena *arena);


/* links.c: each record's directory entry, remembered (2.0) */
struct RecordLink
{
	int64		dcid;
	RecordType	type;			/* as last matched */
	char	   *entry_id;
	char	   *dn;
	char	   *user_id;
	char	   *linked_by;		/* "name", "id" or "assign" */
	bool		unconfirmed;	/* not matched through by the latest
								 * district-wide run of its type */
};

/* What a run tells write_links(). */
typedef struct LinkRun
{
	const char *server;
	RecordGroup group;
	PowerSchoolTable *table;	/* the group's table */
	List	   *unloaded;		/* the links of the group's records the run
								 * did not load (attach_links) */
	int64		run_id;			/* 0 when the run is not recorded */
	const char *role;
	bool		assign;			/* ldap_assign: links made are "assign" */
	int			covered_type;	/* a RecordType the run covered whole, or -1 */
	bool		district;		/* a district-wide run of the group */
} LinkRun;

extern bool links_in_use(void);
extern List *attach_links(const char *server, RecordGroup group,
						  List *records, bool every_link, Arena *arena);
extern void mark_linked_elsewhere(const char *server, RecordGroup group,
								  List *results);
extern void write_links(LinkRun *run, List *results);
extern char *unlink_record(const char *server, RecordGroup group, int64 dcid);


/* changes.c: incremental sync (2.1): what runs remember, what changes touch */
typedef struct RunMemory RunMemory;
typedef struct GroupChanges GroupChanges;

extern bool changes_supported(void);
extern RunMemory *run_memory_begin(const char *server, RecordGroup group,
								   PowerSchoolTables *tables,
								   RecordSelection *selection);
extern void run_memory_end(RunMemory *memory, List *results, int64 run_id,
						   bool canonical);
extern void mark_records_dirty(const char *server, RecordGroup group,
							   int64 *dcids, int n);
extern void mark_link_dependents(const char *server, RecordGroup group,
								 const char **entry_ids, int64 *linked_dcids,
								 int n);
extern void mark_unlinked(const char *server, RecordGroup group, int64 dcid);
extern void check_directory_size(PssyncServer *server, RecordGroup group,
								 const char *base_dn, int entries);
extern void note_full_read(const char *server, RecordGroup group, int entries);
extern GroupChanges *changes_begin(PssyncServer *server, PssyncDirectory *dir,
								   RecordGroup group, PowerSchoolTables *tables,
								   bool dry_run);
extern const char *changes_full_reason(GroupChanges *gc);
extern void changes_full_read(GroupChanges *gc, DirectoryIndex *index);
extern int64 *changes_scope_begin(GroupChanges *gc, RunMemory **memory, int *n);
extern int64 *changes_scope_more(GroupChanges *gc, List *results, int *n);
extern List *changes_scope_rows(GroupChanges *gc, List *results);
extern void changes_scope_taken(GroupChanges *gc, List *records);
extern List *changes_gone_links(GroupChanges *gc);
extern void changes_end(GroupChanges *gc);


/* apply.c: checking and writing the changes */
extern void check_update_privileges(PowerSchoolTables *tables, RecordGroup group,
									UserKinds kinds);
extern void apply_changes(PowerSchoolTables *tables, RecordGroup group,
						  List *results, int records, bool dry_run,
						  bool limited, Arena *arena);


/* results.c: what a result row says, for the rows returned and the history */
extern const char *sync_status_name(SyncStatus status);
extern const char *record_type_name(RecordType type);
extern const char *result_section(SyncResult *result);
extern const char *result_field(SyncResult *result);
extern const char *result_old_username(SyncResult *result);


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
	const char *powerschool_table;	/* the table whose usernames it checked */
	const char *links_confirmed;	/* the record type whose links it
									 * confirmed, or NULL */
	int			records;
} HistoryRun;

extern int64 record_run(HistoryRun *run, List *rows);


/* sync.c: the SQL functions, and what the worker runs of them */
extern bool valid_change_scope(const char *scope);
extern List *sync_changes(const char *scope, bool dry_run, const char *function,
						  int *changed);


/* worker.c: the background worker (shared_preload_libraries) */
extern void worker_register(void);
extern PGDLLEXPORT void pssync_worker_main(Datum arg);

#endif							/* PSSYNC_H */
