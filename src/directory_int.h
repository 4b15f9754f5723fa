/*-------------------------------------------------------------------------
 *
 * directory_int.h
 *		  What the files of the directory connection share, and nobody
 *		  else: the connection itself.
 *
 * The connection to the LDAP directory is split by concern, as
 * postgres_fdw keeps connection.c apart from the rest:
 *
 *	directory_text.c	text to and from the directory: encodings, the
 *						escaping of filter values, the filters of names
 *	directory_wait.c	waiting on the socket: the wait set, the latch-aware
 *						I/O layer under libldap, waiting for answers
 *	directory_connect.c connecting, TLS and the bind, their errors and
 *						Active Directory's hints, the next URI on failure
 *	directory_schema.c	the directory's schema: the names attributes are
 *						asked for and returned under
 *	directory_search.c	searches: paged, many at a time, and referrals
 *	directory_changes.c what changed: RFC 4533 Content Synchronization,
 *						Active Directory's uSNChanged and notifications
 *
 * pssync.h declares what the rest of pssync may use.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTORY_INT_H
#define DIRECTORY_INT_H

#include <lber.h>
#include <ldap.h>

#include "storage/latch.h"
#include "utils/timestamp.h"

#include "pssync.h"

struct PssyncDirectory
{
	MemoryContext cxt;			/* what lives as long as the connection */
	PssyncServer *server;
	LDAP	   *ld;
	pgsocket	sock;
	WaitEventSet *wait_set;		/* the latch, postmaster death, sock */
	int			wait_sock_pos;	/* sock's event in wait_set */
	uint32		wait_sock_events;	/* what it is waited for now */
	uint32		wait_event;		/* what pg_stat_activity shows meanwhile */
	char	   *uri;			/* the URI connected to */
	int			requests;		/* LDAP requests sent */

	/* what libldap allocated and we are reading; freed on error */
	LDAPMessage *held_message;
	BerElement *held_ber;
	struct berval *held_values;

	/* connections to the servers referrals lead to, and how far away */
	List	   *referral_dirs;	/* of PssyncDirectory */
	int			hops;

	/* the attribute of entries' permanent IDs, once known */
	const char *entry_id_attr;

	/* the directory's attribute types, read when a name must be resolved */
	bool		schema_read;
	List	   *attribute_types;	/* of List of the OID and the names */
	List	   *type_cache;		/* of TypeCacheEntry */

	/* state of the latch-aware I/O layer */
	uint64		bytes_read;		/* through it, ever */
	bool		closing;
	bool		io_wait_reads;
	TimestampTz io_deadline;
	bool		io_interrupted;
	bool		io_timed_out;

	MemoryContextCallback cleanup;
};

/* how many referrals may lead from one server to the next */
#define MAX_REFERRAL_HOPS 5

/*
 * Why the directory could not be used, as the ERROR that says so: a
 * failure to connect to one URI is kept, and the next URI tried.
 */
typedef struct DirectoryFailure
{
	int			sqlerrcode;
	char	   *message;
	char	   *detail;
	const char *hint;
	char	   *uri;			/* where */
	char	   *reason;			/* what happened there, in a few words */
} DirectoryFailure;


/* directory_wait.c */
extern Sockbuf_IO directory_latch_io;
extern int	directory_wait_socket(PssyncDirectory *dir, uint32 event,
								  long timeout);
extern void directory_io_begin(PssyncDirectory *dir, bool wait_reads);
extern bool directory_io_end(PssyncDirectory *dir, const char *what,
							 DirectoryFailure *failure);
extern LDAPMessage *directory_wait_result(PssyncDirectory *dir, int msgid,
										  int all, const char *what,
										  DirectoryFailure *failure);
extern LDAPMessage *directory_wait_result_for(PssyncDirectory *dir, int msgid,
											  int all, const char *what,
											  long timeout_ms);
extern void directory_release_message(PssyncDirectory *dir);
extern int	directory_parse_result(PssyncDirectory *dir, LDAPMessage *msg,
								   char **diag, LDAPControl ***controls,
								   List **referrals);

/* directory_connect.c */
extern void directory_describe_timeout(PssyncDirectory *dir, const char *what,
									   DirectoryFailure *failure);
extern void directory_describe_lost_connection(PssyncDirectory *dir, int rc,
											   const char *what,
											   DirectoryFailure *failure);
pg_noreturn extern void directory_raise(DirectoryFailure *failure);
pg_noreturn extern void directory_report_lost_connection(PssyncDirectory *dir,
														 int rc,
														 const char *what);
extern char *directory_diagnostic_message(PssyncDirectory *dir);

/* directory_schema.c */
extern void directory_read_schema(PssyncDirectory *dir);
extern const char *directory_schema_name(PssyncDirectory *dir,
										 const char *description);
extern bool directory_attribute_answers(PssyncDirectory *dir,
										const char *requested,
										const char *returned, size_t len,
										bool use_schema);

/* directory_search.c */
extern void directory_deliver_entry(PssyncDirectory *dir, LDAPMessage *entry,
									const char **attrs, int nattrs,
									DirectoryEntryCallback callback, void *arg,
									MemoryContext entry_cxt);
extern bool directory_search_control(PssyncDirectory *dir, const char *base_dn,
									 int scope, const char *filter,
									 const char **attrs, LDAPControl *control,
									 DirectoryEntryCallback callback,
									 void *arg, int *result_code);
extern bool directory_search_scope(PssyncDirectory *dir, const char *base_dn,
								   int scope, const char *filter,
								   const char **attrs,
								   DirectoryEntryCallback callback,
								   void *arg, int *result_code);

#endif							/* DIRECTORY_INT_H */
