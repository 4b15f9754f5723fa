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
	int16		nchecks;		/* usernames checked for this record */
	bool		has_fingerprint;	/* fingerprint and unchecked_username
									 * were read */
	bool		link_made;		/* this real run links it (decide_links) */
	int64		dcid;
	char	   *first_name;
	char	   *last_name;
	char	   *id;				/* the record's ID (student_number ...), or NULL */
	char	   *preferred_name; /* 2.1: its preferred first name, or NULL */
	UsernameColumn columns[MAX_CHECKS_PER_RECORD];
	char	   *old_usernames[MAX_CHECKS_PER_RECORD];
	RecordLink *link;			/* its link to a directory entry, or NULL */
	/* as read for a real run that remembers it (ldap_sync_changes' state) */
	int64		fingerprint;	/* fingerprint_sql() */
	char	   *unchecked_username; /* a user's username column that no check
									 * reads (usernames_sql()), or NULL */
} SyncRecord;					/* (96 bytes: a district has 100,000) */

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
 * What an exception row lists: its candidates, and its suggestions.
 */
typedef struct ResultDetail
{
	char	  **candidates;		/* sorted DNs, for partial, ambiguous and
								 * link_broken, or NULL */
	int			ncandidates;
	int			candidate_count;	/* candidates found; at most 100 listed */
	struct Suggestion *suggestion;	/* 2.1: the best suggestion of a
									 * partial, no_match or link_broken row
									 * of a real run, or NULL */
	int			next_score;		/* 2.1: the score of the suggestion after
								 * the best one, or -1 */
} ResultDetail;

/*
 * One result row.  "check" is the index of the checked username in the
 * record, or -1 for an exception row without an exact match.
 */
typedef struct SyncResult
{
	SyncRecord *record;
	char	   *new_username;	/* the directory's value, or NULL */
	char	   *dn;				/* the exact match's DN, or NULL */
	const char *matched_by;		/* "link", "id" or "name" for an exact match */
	const char *entry_id;		/* the exact match's permanent ID, when links
								 * are used */
	ResultDetail *detail;		/* or NULL: no candidates, no suggestion */
	SyncStatus	status;
	int			check;
	bool		linked_elsewhere;	/* conflict: the entry is linked to
									 * another record */
} SyncResult;					/* (a district has 100,000: 64 bytes) */

/* A row's candidates (NULL: none listed), their number, and how many were found */
static inline char **
result_candidates(SyncResult *result)
{
	return result->detail ? result->detail->candidates : NULL;
}

static inline int
result_ncandidates(SyncResult *result)
{
	return result->detail ? result->detail->ncandidates : 0;
}

static inline int
result_candidate_count(SyncResult *result)
{
	return result->detail ? result->detail->candidate_count : 0;
}

/* A row's best suggestion, or NULL */
static inline struct Suggestion *
result_suggestion(SyncResult *result)
{
	return result->detail ? result->detail->suggestion : NULL;
}

/*
 * Of elements low .. high - 1 of an array sorted by a string member (a
 * const char * at value_offset in each element of size bytes), the first
 * whose string is not below value; high if none.
 */
static inline int
sorted_lower_bound(const void *array, size_t size, size_t value_offset,
				   int low, int high, const char *value)
{
	while (low < high)
	{
		int			mid = low + (high - low) / 2;
		const char *s = *(const char *const *) ((const char *) array +
												mid * size + value_offset);

		if (strcmp(s, value) < 0)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}


/*
 * pssync's locks, of a foreign server (its state, changes.c) and of a
 * PowerSchool table (its writes, apply.c), are advisory lock tags whose
 * fourth field is pssync's own ("ps"), which the pg_advisory_* functions
 * never set (they set 1 or 2): no role can take one to stall the syncs.
 * Their class and object are those of the catalog, as pg_locks shows them
 * (classid, objid, objsubid 28787).  Advisory, not object, locks: a
 * standby grants them, and pg_describe_object() is not asked about them.
 * (storage/lock.h)
 */
#define PSSYNC_LOCK_FIELD4 0x7073
#define SET_LOCKTAG_PSSYNC(tag, classid, objid) \
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, classid, objid, PSSYNC_LOCK_FIELD4)


/* pssync.c: module load and configuration variables */

/* a selection this large is scanned under pssync.strategy auto */
#define PSSYNC_SCAN_THRESHOLD 1000

typedef enum MatchStrategy
{
	STRATEGY_AUTO,
	STRATEGY_SEARCH,
	STRATEGY_SCAN,
	STRATEGY_BATCH,				/* not a setting: the scan's questions, many
								 * at a time, without reading the directory
								 * (ldap_sync_changes) */
	STRATEGY_SCAN_OR_BATCH		/* not a setting: a scan, or the batch when
								 * a size limit cuts the read short
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
extern int	pssync_changes_scan_records;
extern int	pssync_changes_indexed_user_ids;
extern char *pssync_student_preferred_name_column;
extern char *pssync_staff_preferred_name_column;
extern uint32 pssync_accept_variants;	/* bits of SuggestReason */
extern int	pssync_history_rows;	/* HistoryRows */
extern double pssync_min_directory_ratio;
extern char *pssync_worker_database;
extern char *pssync_worker_role;
extern char *pssync_worker_scope;
extern int	pssync_worker_naptime;	/* seconds */

extern void _PG_init(void);
extern bool parse_max_changes(const char *value, double *limit, bool *percent);
extern void log_phase_time(instr_time *phase, const char *what);


/* pssync.c */
extern bool pssync_preloaded;

/* log_filter.c: user mapping passwords kept out of the server log */
extern void install_password_log_filter(void);


/*
 * arena.c: a bump allocator for the many small things of a sync, and
 * tables keyed by such strings
 */
typedef struct Arena Arena;

extern Arena *arena_create(MemoryContext parent, const char *name);
extern Arena *arena_create_large(MemoryContext parent, const char *name);
extern MemoryContext arena_context(Arena *arena);
extern void *arena_alloc(Arena *arena, Size size);
extern void *arena_alloc0(Arena *arena, Size size);
extern char *arena_alloc_bytes(Arena *arena, Size size);
extern char *arena_strdup(Arena *arena, const char *s);
extern char *arena_strndup(Arena *arena, const char *s, Size len);
extern char *copy_bytes(Arena *arena, const char *s, Size len);
extern struct HTAB *string_table_create(const char *name, long nelem,
										Size entrysize, MemoryContext cxt);


/* options.c: the foreign data wrapper's validator and the server options */
typedef struct PssyncServer
{
	Oid			serverid;
	char	   *servername;
	char	   *uri;			/* one or more space-separated URIs */
	char	   *base_dn[2];		/* per RecordGroup, as the option gives it */
	List	   *base_dns[2];	/* per RecordGroup: its DNs (split_dn_list) */
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
extern List *server_base_dns(PssyncServer *server, RecordGroup group);
extern PssyncServer *copy_server(PssyncServer *server);
extern List *split_uri_list(const char *uris);
extern List *split_dn_list(const char *value);
extern char *dn_list_text(List *dns);
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
extern char *directory_escape_utf8_value(const char *utf8);
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
extern bool directory_search(PssyncDirectory *dir, List *base_dns,
							 const char *filter, const char **attrs,
							 DirectoryEntryCallback callback, void *arg);
extern void directory_search_batch(PssyncDirectory *dir, List *base_dns,
								   const char **attrs,
								   DirectorySearch *searches, int n);
extern bool directory_read_entry(PssyncDirectory *dir, const char *dn,
								 const char *filter, const char **attrs,
								 DirectoryEntryCallback callback, void *arg);


/* exclusions.c: the records every sync skips (pssync.exclusions) */
extern char *exclusion_test(RecordGroup group);
extern void refuse_excluded_record(RecordGroup group, int64 dcid);
extern bool exclude_record(RecordGroup group, const char *record_type,
						   int64 dcid, const char *reason, char **old_reason);
extern bool include_record(RecordGroup group, int64 dcid, char **old_reason);


/* queries.c: statements through SPI, and the names of relations in them */
typedef void (*RowCallback) (HeapTuple tuple, TupleDesc desc, void *arg);

/* The bigints a statement returns (dcid_list_row). */
typedef struct DcidList
{
	int64	   *dcids;
	int			n;
	int			allocated;
	MemoryContext cxt;			/* where dcids is, or NULL */
} DcidList;

extern int	begin_statements(void);
extern void end_statements(int nestlevel);
extern char *qualified_relation_name(Oid relid);
extern char *relation_display_name(Oid relid);
extern Oid	relation_owner(Oid relid);
extern void run_query(const char *sql, int nargs, Oid *types, Datum *values,
					  bool read_only, int expected);
extern void run_query_nulls(const char *sql, int nargs, Oid *types,
							Datum *values, const char *nulls, bool read_only,
							int expected);

/* a dry ldap_sync_changes' snapshots (pin_snapshots) */
typedef struct PinnedSnapshots
{
	struct SnapshotData *outer_snapshot;	/* the pins in force before */
	struct SnapshotData *outer_latest;
	struct SnapshotData *snapshot;	/* registered by pin_snapshots */
	struct SnapshotData *latest;
} PinnedSnapshots;

extern void pin_snapshots(PinnedSnapshots *pinned);
extern void unpin_snapshots(PinnedSnapshots *pinned);
extern void drop_pinned_snapshots(PinnedSnapshots *pinned);
extern void forbid_writes_while_pinned(void);
extern void statements_connect(PinnedSnapshots *outer);
extern void statements_finish(PinnedSnapshots *outer);

typedef struct AsOwner
{
	Oid			save_userid;
	int			save_sec_context;
} AsOwner;

extern void become_relation_owner(AsOwner *as, Oid relid);
extern void become_caller(AsOwner *as);
extern Oid	pssync_schema_with(const char *relname);
extern void analyze_if_never_analyzed(Oid relid);
extern Datum int8_array(int64 *values, int n);
extern Datum text_array(const char **values, int n);
extern char *text_array_literal(const char **values, int n);
extern void for_each_row(const char *sql, int nargs, Oid *types, Datum *values,
						 bool latest, RowCallback callback, void *arg);
extern void dcid_list_row(HeapTuple tuple, TupleDesc desc, void *arg);
extern void dcid_list_add(DcidList *list, int64 dcid);
extern char *row_text(HeapTuple tuple, TupleDesc desc, int column, Arena *arena);


/* records.c: the PowerSchool tables and the selected records */
typedef struct PowerSchoolTable
{
	Oid			relid;
	char	   *qualified_name;	/* for statements: quoted, schema-qualified */
	char	   *display_name;	/* for messages: as the caller would write it */

	/*
	 * The table whose rows hold the usernames: the table itself, or the base
	 * table of an automatically updatable view, where conflicts are looked
	 * for (a row outside the view holds its usernames all the same).
	 */
	Oid			base_relid;
	char	   *base_qualified_name;
	List	   *view_columns;	/* for a view: the columns the sync uses, */
	List	   *base_columns;	/* and what they are in the base table */
} PowerSchoolTable;

typedef struct PowerSchoolTables
{
	PowerSchoolTable students;
	PowerSchoolTable users;
	PowerSchoolTable schoolstaff;
	const char *id_column;		/* the records' ID, or NULL: not read */
	const char *preferred_column;	/* the records' preferred first name,
									 * or NULL: not read */
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
extern const char *base_column_name(PowerSchoolTable *table, const char *column);
extern char *selection_name(RecordSelection *selection);
extern List *load_student_records(PowerSchoolTables *tables,
								  RecordSelection *selection,
								  bool blank_only, bool fingerprints,
								  Arena *arena, int *excluded);
extern List *load_user_records(PowerSchoolTables *tables,
							   RecordSelection *selection, UserKinds kinds,
							   bool blank_only, bool fingerprints,
							   Arena *arena, int *excluded);
extern void sort_records(List *records);
extern char *fingerprint_sql(PowerSchoolTables *tables, RecordGroup group);
extern char *usernames_sql(RecordGroup group);


/* names.c: names as they are searched for and compared in memory */
extern char *search_name(const char *name);
extern char *name_key(const char *name);
extern bool is_plain_name(const char *name, int length);
extern char *name_skeleton(const char *name, int length);
extern bool is_username_text(const char *value, int length);
extern char *name_fold(const char *name, int length, bool keep_accents);
extern char *name_skeleton_compact(const char *name, int length);
extern bool name_has_control(const char *utf8);
extern int	name_length(const char *s);
extern int	name_distance(const char *a, const char *b, int max);


/* scan.c: the "scan" strategy's in-memory index of the directory */
typedef struct DirectoryIndex DirectoryIndex;

extern DirectoryIndex *directory_index_build(PssyncServer *server,
											 PssyncDirectory *dir,
											 List *base_dns,
											 const char *uid_attr,
											 const char *id_attr,
											 const char *entry_id_attr,
											 Arena *strings);
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
extern void directory_index_forget_entry_ids(DirectoryIndex *index);
extern void directory_index_free(DirectoryIndex *index);
typedef void (*IndexEntryCallback) (void *arg, const char *entry_id,
									List *last_keys, List *id_keys);
extern bool directory_index_for_each(DirectoryIndex *index,
									 IndexEntryCallback callback, void *arg);
extern char *id_key(const char *id, int len);

/* what suggestions (suggest.c) ask of the index */
typedef enum IndexKey
{
	INDEX_KEY_FIRST,			/* the first names (their values) */
	INDEX_KEY_LAST,				/* the last names (their values) */
	INDEX_KEY_FIRST_PART,		/* a first name's name_pair_keys (its parts,
								 * with the last name's ends) */
	INDEX_KEY_LAST_PART,		/* a last name's (with the first name's) */
	INDEX_KEY_FULL,				/* both names' skeletons
								 * (directory_index_full_key) */
	INDEX_KEY_ID				/* the ID's key (directory_index_id_key) */
} IndexKey;

/* A value of an entry: NULL text when it holds a NUL. */
typedef struct NameValue
{
	const char *text;			/* UTF-8; a plain value may be in lower case */
	int			len;
	const char *key;			/* its skeleton, or for an ID its key ... */
	int			keylen;			/* ... of keylen bytes (not terminated) */
} NameValue;

extern bool directory_index_knows(DirectoryIndex *index, IndexKey kind);
extern char *directory_index_id_key(const char *utf8, int len);
extern char *directory_index_full_key(const char *first_key, const char *last_key);
extern int	directory_index_entries(DirectoryIndex *index, IndexKey kind,
									const char *key, int **entries);
extern DirectoryEntry *directory_index_entry_at(DirectoryIndex *index, int entry);
extern void directory_index_want_pair_keys(DirectoryIndex *index, IndexKey kind,
										   List *keys);
extern void directory_index_forget_pairs(DirectoryIndex *index);
extern int	directory_index_values(DirectoryIndex *index, int entry,
								   IndexKey kind, NameValue *values, int max);


/* matching.c: what the directory says about each record */
typedef struct SuggestRun SuggestRun;	/* suggest.c */

extern List *match_records(PssyncServer *server, PssyncDirectory *dir,
						   RecordGroup group, const char *uid_attr,
						   List *records, Arena *arena, MatchStrategy *used,
						   SuggestRun *suggest);
extern MatchStrategy changes_match_strategy(int nrecords);
extern void suggest_for_rows(PssyncServer *server, PssyncDirectory *dir,
							 RecordGroup group, const char *uid_attr,
							 PowerSchoolTables *tables, List *rows,
							 DirectoryIndex *run_index, int entries);
extern List *match_records_with(PssyncServer *server, PssyncDirectory *dir,
								RecordGroup group, const char *uid_attr,
								List *records, Arena *arena,
								MatchStrategy strategy, bool full_read,
								MatchStrategy *used, DirectoryIndex **index,
								SuggestRun *suggest, Arena *link_ids);
extern List *match_entry(PssyncServer *server, PssyncDirectory *dir,
						 RecordGroup group, const char *uid_attr,
						 SyncRecord *rec, const char *dn, Arena *arena);


/* links.c: each record's directory entry, remembered (2.0) */
struct RecordLink
{
	int64		dcid;
	char	   *entry_id;		/* in attach_links' ids arena until matching
								 * (see match_records_with), then its entry's
								 * own or a copy with the rows */
	uint64		seen;			/* the DN and user ID as last seen, hashed
								 * (a district's 93,000 links would keep
								 * 6 MB of them) */
	const char *linked_by;		/* "name", "id" or "assign" */
	RecordType	type;			/* as last matched */
	bool		unconfirmed;	/* not matched through by the latest
								 * district-wide run of its type */
};								/* (40 bytes: a district has 93,000) */

/* What a run tells decide_links() and write_links(). */
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
	bool		decided;		/* decide_links() has set link_made */
} LinkRun;

extern bool links_in_use(void);
extern List *attach_links(const char *server, RecordGroup group,
						  List *records, bool every_link, Arena *arena,
						  Arena *ids);
extern void mark_linked_elsewhere(const char *server, RecordGroup group,
								  List *results);
extern void decide_links(LinkRun *run, List *results);
extern void write_links(LinkRun *run, List *results);
extern char *unlink_record(const char *server, RecordGroup group, int64 dcid);
extern void linked_records(const char *server, RecordGroup group,
						   const char **entry_ids, int n, int64 *dcids);


/* changes.c: incremental sync (2.1): what runs remember, what changes touch */
typedef struct RunMemory RunMemory;
typedef struct GroupChanges GroupChanges;

extern bool changes_supported(void);
extern RunMemory *run_memory_begin(PssyncServer *server, RecordGroup group,
								   PowerSchoolTables *tables, bool changes_run,
								   bool district);
extern void run_memory_end(RunMemory *memory, List *results, int64 run_id,
						   bool canonical, bool retake);
extern void mark_records_dirty(const char *server, RecordGroup group,
							   int64 *dcids, int n);
extern void mark_link_dependents(const char *server, RecordGroup group,
								 const char **entry_ids, int64 *linked_dcids,
								 int n);
extern void mark_unlinked(PssyncServer *server, RecordGroup group, int64 dcid,
						  const char *record_type);
extern void lock_server_state(PssyncServer *server, bool shared);
extern void unlock_server_state(PssyncServer *server);
extern void forget_record_state(RecordGroup group, int64 dcid);
extern bool run_has_watermark_options(PssyncServer *server, RecordGroup group,
									  PowerSchoolTables *tables,
									  const char *entry_id_attr);
extern void check_directory_size(PssyncServer *server, RecordGroup group,
								 const char *base_dn, int entries);
extern void note_full_read(const char *server, RecordGroup group, int entries);
extern GroupChanges *changes_begin(PssyncServer *server, PssyncDirectory *dir,
								   RecordGroup group, PowerSchoolTables *tables,
								   bool dry_run);
extern const char *changes_full_reason(GroupChanges *gc);
extern bool changes_full_read(GroupChanges *gc, DirectoryIndex *index);
extern int64 *changes_scope_begin(GroupChanges *gc, UserKinds kinds,
								   RunMemory **memory, int *n, int *excluded);
extern int64 *changes_scope_more(GroupChanges *gc, List *results, int *n);
extern int	changes_directory_entries(GroupChanges *gc);
extern List *changes_scope_rows(GroupChanges *gc, List *results);
extern void changes_scope_taken(GroupChanges *gc, List *records);
extern List *changes_gone_links(GroupChanges *gc);
extern void changes_end(GroupChanges *gc);


/* apply.c: checking and writing the changes */
extern void check_update_privileges(PowerSchoolTables *tables, RecordGroup group,
									UserKinds kinds, const char *function);
extern void apply_changes(PowerSchoolTables *tables, RecordGroup group,
						  List *results, int records, bool dry_run,
						  bool limited, Arena *arena);
extern PowerSchoolTable *column_table(PowerSchoolTables *tables,
									  UsernameColumn column);
extern void find_holders(PowerSchoolTable *table, const char *column,
						 Datum values, RowCallback callback, void *arg);

/*
 * The rows one statement locks, or the values it looks for holders of:
 * the statement's array, its copies in the plan and the executor's hash of
 * it take about 200 bytes a value, which for a district's 65,000 changes
 * would be 13 MB at once.
 */
#define CONFLICT_VALUES_PER_STATEMENT 16384


/* results.c: what a result row says, for the rows returned and the history */
extern const char *sync_status_name(SyncStatus status);
extern const char *record_type_name(RecordType type);
extern const char *record_group_name(RecordGroup group);
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
	int			excluded;		/* records of its scope it skipped */
	const char *detail;			/* ldap_exclude's reason, ... */
} HistoryRun;

extern int64 record_run(HistoryRun *run, List *rows);
extern bool history_keeps_suggestions(void);


/*
 * variants.c: how a directory entry's names relate to a record's, the
 * reasons of a suggestion and its score (2.1)
 */
typedef enum SuggestReason
{
	REASON_EXACT,
	REASON_CASE_ACCENTS,
	REASON_NICKNAME,
	REASON_PREFERRED_NAME,
	REASON_SURNAME_PART,
	REASON_SUFFIX,
	REASON_SWAPPED,
	REASON_MIDDLE_NAME,
	REASON_INITIAL,
	REASON_TYPO_FIRST,
	REASON_TYPO_LAST,
	REASON_SAME_ID,
	REASON_LINKED_ELSEWHERE,
	REASON_UID_TAKEN,
	NUM_SUGGEST_REASONS
} SuggestReason;

#define REASON_BIT(r) (1U << (r))

typedef struct Nicknames Nicknames;
typedef struct Nickname Nickname;

/* A name as the reasons compare it (see names.c). */
typedef struct NameForms
{
	const char *text;			/* UTF-8 */
	bool		plain;
	char	   *fold;			/* words, lower case, without accents */
	char	   *lite;			/* words, ASCII lower case, accents kept */
	char	   *joined;			/* fold without its spaces */
	int			length;			/* characters of joined */
	char	   *skeleton;		/* name_skeleton() */
	int			nwords;
	char	  **words;			/* of fold */
	Nickname   *nickname;		/* its entry in the nickname table, or NULL */
} NameForms;

/* A record's names, and an entry's, as scored. */
typedef struct RecordNames
{
	Nicknames  *nicknames;
	NameForms  *first;			/* or NULL */
	NameForms  *last;
	NameForms  *preferred;
	NameForms  *id;
} RecordNames;

typedef struct EntryNames
{
	int			nfirst;
	NameForms **first;
	int			nlast;
	NameForms **last;
	int			nid;
	NameForms **id;
} EntryNames;

extern const char *suggest_reason_name(SuggestReason reason);
extern bool parse_suggest_reason(const char *name, SuggestReason *reason);
extern char *suggestion_reasons_text(uint32 reasons);
extern void name_forms(NameForms *forms, const char *text, int len,
					   Nicknames *nicknames);
extern Nicknames *load_nicknames(void);
extern List *nickname_spellings(Nicknames *nicknames, NameForms *name);
extern int	score_entry(RecordNames *record, EntryNames *entry,
						uint32 *reasons);
extern char *name_joined_fold(const char *text, int len);
extern int	name_part_keys(const char *text, int len, const char *skeleton,
						   bool surname, char **keys, int max);
extern int	name_pair_keys(const char *text, int len, const char *skeleton,
						   bool surname, const char *other_joined,
						   bool lookup, char **keys, int max);
#define PAIR_END_SIZE 8
extern int	pair_key_ends(const char *other_joined, bool surname, bool lookup,
						  char ends[][PAIR_END_SIZE]);


/* suggest.c: the entries that could be a record, ranked (2.1) */
typedef struct Suggestion
{
	DirectoryEntry *entry;		/* DN, user ID, permanent ID */
	char	   *first_name;		/* to show, in the server encoding; NULL */
	char	   *last_name;		/* when found through the scan's index */
	int			score;			/* thousandths: 1000 is an exact match */
	uint32		reasons;		/* bits of SuggestReason */
} Suggestion;

/* What a sync asks of suggestions (match_records). */
struct SuggestRun
{
	PowerSchoolTables *tables;
	bool		keep_best;		/* for the history */
	uint32		accept;			/* pssync.accept_variants */
};

/* ldap_suggest's max_results, at most */
#define MAX_SUGGEST_RESULTS 100

/* how far apart the best suggestion must be from the next (thousandths) */
#define SUGGESTION_MARGIN 50

/* A record's suggestions, best first. */
typedef struct SuggestionList
{
	int			n;
	Suggestion *items;
	bool		complete;		/* false: a search of the record was cut short
								 * by a size limit, and a suggestion may be
								 * missing */
} SuggestionList;

typedef struct Suggester Suggester;

extern Suggester *suggester_create(PssyncServer *server, PssyncDirectory *dir,
								   RecordGroup group, const char *uid_attr,
								   const char *entry_id_attr,
								   DirectoryIndex *index,
								   PowerSchoolTables *tables);
extern void suggest(Suggester *s, SyncRecord **records, int n, int keep,
					SuggestionList *lists);
extern int	suggester_cut_short(Suggester *s);
extern char *suggester_summary(Suggester *s);
extern void suggester_free(Suggester *s);


/* sync.c: the SQL functions, and what the worker runs of them */
extern bool valid_change_scope(const char *scope);
extern List *sync_changes(const char *scope, bool dry_run, const char *function,
						  int *changed);


/* worker.c: the background worker (shared_preload_libraries) */
extern void worker_register(void);
extern PGDLLEXPORT void pssync_worker_main(Datum arg);

#endif							/* PSSYNC_H */
