/*-------------------------------------------------------------------------
 *
 * directory_changes.c
 *		  What changed in the directory since a watermark: RFC 4533
 *		  Content Synchronization (OpenLDAP's syncprov, 389-DS), and Active
 *		  Directory's uSNChanged.
 *
 * Both say which entries of a base DN changed, in the same form: the
 * entries that changed and are in the base DN's scope and pass the
 * server's filter now, with the attributes asked for, and the permanent
 * IDs of entries that may have left (deleted, moved out, filtered out).
 *
 *	- RFC 4533: a refreshOnly search with the Sync Request control and the
 *	  stored cookie.  libldap's ldap_sync_init() waits in a loop of its own,
 *	  which no timeout or cancel of ours reaches, so the control is built
 *	  and the answers (syncState on each entry, syncInfo intermediate
 *	  responses, syncDone on the result) are parsed here, in the
 *	  connection's usual bounded, cancellable wait.  A provider with a
 *	  session log answers a cookie with the entries changed since, and the
 *	  UUIDs of those that left.  What it answers otherwise is noticed, and
 *	  makes the caller run in full: e-syncRefreshRequired (the cookie is
 *	  refused); a present phase (no session log reaches back to the
 *	  cookie); and a cookie it ignored without a word (a garbage or foreign
 *	  cookie gets the whole content): an entry comes whose entryCSN is not
 *	  newer than the cookie's CSN of its server ID.
 *	- uSNChanged: the domain controller's highestCommittedUSN, read before
 *	  the changes, is the next watermark; the changes are the entries of
 *	  the base DN with uSNChanged above the stored one.  Those that left
 *	  are found among the objects of the whole naming context that changed
 *	  since (deleted objects with the Show Deleted control, where the bind
 *	  account may see them).  A USN belongs to one domain controller: a
 *	  watermark of another (its host name) or of the same one restored
 *	  from a backup (another invocationId) is no watermark.
 *
 * The background worker (worker.c) keeps a refreshAndPersist search open
 * on OpenLDAP, and on Active Directory a change notification search, which
 * only wakes it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "directory_int.h"

#define ACTIVE_DIRECTORY_CAPABILITY "1.2.840.113556.1.4.800"

/* a filter no entry passes: a refreshOnly search of it only gets a cookie */
#define NOTHING_FILTER "(!(objectClass=*))"

/* a cookie longer than this is no cookie of a provider's we keep */
#define MAX_COOKIE_LEN (64 * 1024)

/* messages a sync search for a watermark alone gets, at most */
#define WATERMARK_MAX_MESSAGES 100

/* messages a sync search for changes gets besides one per change */
#define SYNC_SPARE_MESSAGES 100

/*
 * What the answers of a sync search said, as they come.
 */
typedef struct SyncAnswers
{
	PssyncDirectory *dir;
	const char **attrs;			/* asked for: the caller's, the entry ID,
								 * entryCSN */
	int			nattrs;
	int			ncaller;		/* how many of attrs are the caller's */
	List	   *cookie_csns;	/* the stored cookie's CSNs */
	DirectoryChanges *changes;
	int			limit;			/* more changes than this: stop */
	char	   *cookie;			/* the latest cookie sent */
	int			cookie_len;
	bool		cookie_too_long;	/* one was longer than MAX_COOKIE_LEN */
	int			nmessages;		/* of the search, every kind */
	bool		watermark_only; /* no entry is asked for */
	int			nentries;		/* search entries come, every kind */
	bool		unreadable;		/* a changed entry had no readable ID */
	bool		done_control;	/* the result had a parsable syncDone */
	bool		present;		/* a present phase: the cookie reached no log */
	bool		ignored;		/* an entry older than the cookie came */
	bool		done;
	int			result_code;
	char	   *diag;
	MemoryContext entry_cxt;
	/* the worker's stream: changes are delivered as they come */
	bool		persisting;		/* the refresh is over */
} SyncAnswers;


/*
 * Reading the root DSE.
 */
typedef struct RootValues
{
	int			nattrs;
	List	  **values;			/* per attribute: palloc'd strings */
} RootValues;

static void
collect_root_values(void *arg, const char *dn pg_attribute_unused(),
					DirectoryValues *values)
{
	RootValues *root = (RootValues *) arg;
	int			a;
	int			i;

	for (a = 0; a < root->nattrs; a++)
	{
		for (i = 0; i < values[a].count; i++)
			root->values[a] = lappend(root->values[a],
									  copy_bytes(NULL, values[a].values[i],
												 values[a].lengths[i]));
	}
}

/*
 * The values of one attribute of an entry read by its DN (the root DSE
 * when dn is empty), one search per attribute so that no name needs the
 * schema; NIL when it has none or cannot be read.
 */
static List *
read_attribute(PssyncDirectory *dir, const char *dn, const char *attr)
{
	const char *attrs[2] = {attr, NULL};
	List	   *values[1] = {NIL};
	RootValues	root;
	int			rc;

	root.nattrs = 1;
	root.values = values;
	directory_search_scope(dir, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs,
						   collect_root_values, &root, &rc);
	return values[0];
}

static char *
first_value(List *values)
{
	return values ? (char *) linitial(values) : NULL;
}

static bool
holds_value(List *values, const char *value)
{
	ListCell   *cell;

	foreach(cell, values)
	{
		if (strcmp((char *) lfirst(cell), value) == 0)
			return true;
	}
	return false;
}

/*
 * How this directory tells what changed, if it does: Content
 * Synchronization where the root DSE lists its control, uSNChanged on
 * Active Directory.  Both name entries by their own permanent ID (entryUUID,
 * objectGUID), which must be what the links keep.  NONE, with *why, when
 * neither can be used.
 */
ChangeMechanism
directory_change_mechanism(PssyncDirectory *dir, const char *entry_id_attr,
						   const char **why)
{
	List	   *capabilities = read_attribute(dir, "", "supportedCapabilities");
	List	   *controls;

	if (holds_value(capabilities, ACTIVE_DIRECTORY_CAPABILITY))
	{
		if (pg_strcasecmp(entry_id_attr, "objectGUID") != 0)
		{
			*why = psprintf("the server's entry_id_attr is \"%s\", and Active Directory's changes name entries by objectGUID",
							entry_id_attr);
			return CHANGES_NONE;
		}
		return CHANGES_USN;
	}
	controls = read_attribute(dir, "", "supportedControl");
	if (holds_value(controls, LDAP_CONTROL_SYNC))
	{
		if (pg_strcasecmp(entry_id_attr, "entryUUID") != 0)
		{
			*why = psprintf("the server's entry_id_attr is \"%s\", and Content Synchronization names entries by entryUUID",
							entry_id_attr);
			return CHANGES_NONE;
		}
		return CHANGES_RFC4533;
	}
	*why = "the directory offers neither Content Synchronization (RFC 4533) nor Active Directory's uSNChanged";
	return CHANGES_NONE;
}


/*
 * RFC 4533.
 */

/*
 * The cookie of a first sync search: OpenLDAP's form, a replica ID and no
 * CSN, which slapd takes for no cookie.  389-DS answers it in OpenLDAP's
 * form too (with syncrepl-allow-openldap on): cookies with a CSN, and
 * entries named by their entryUUID, as pssync's links name them; its own
 * form names them by nsUniqueId.
 */
#define FIRST_COOKIE "rid=000"

/* The Sync Request control: mode, and the cookie (FIRST_COOKIE if none). */
static LDAPControl *
sync_request_control(int mode, Watermark *since)
{
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	struct berval value;
	struct berval cookie;
	LDAPControl *control = NULL;
	int			rc;

	if (ber == NULL)
		elog(ERROR, "could not allocate a BER element");
	if (since && since->cookie)
	{
		cookie.bv_val = since->cookie;
		cookie.bv_len = since->cookie_len;
	}
	else
	{
		cookie.bv_val = FIRST_COOKIE;
		cookie.bv_len = strlen(FIRST_COOKIE);
	}
	rc = ber_printf(ber, "{eO}", (ber_int_t) mode, &cookie);
	if (rc < 0 || ber_flatten2(ber, &value, 0) < 0 ||
		ldap_control_create(LDAP_CONTROL_SYNC, 1, &value, 1, &control) != LDAP_SUCCESS)
	{
		ber_free(ber, 1);
		elog(ERROR, "could not build the LDAP Sync Request control");
	}
	ber_free(ber, 1);
	return control;
}

/* A 16-byte syncUUID as entryUUID's text form. */
static char *
uuid_text(struct berval *uuid)
{
	StringInfoData buf;
	ber_len_t	i;

	if (uuid->bv_len != 16)
		return NULL;
	initStringInfo(&buf);
	for (i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			appendStringInfoChar(&buf, '-');
		appendStringInfo(&buf, "%02x", (unsigned char) uuid->bv_val[i]);
	}
	return buf.data;
}

/* The latest cookie of a search: the one before it is freed. */
static void
keep_cookie(SyncAnswers *answers, struct berval *cookie)
{
	if (cookie->bv_val == NULL || cookie->bv_len == 0)
		return;
	if (cookie->bv_len > MAX_COOKIE_LEN)
	{
		answers->cookie_too_long = true;
		return;
	}
	if (answers->cookie)
		pfree(answers->cookie);
	answers->cookie = copy_bytes(NULL, cookie->bv_val, cookie->bv_len);
	answers->cookie_len = cookie->bv_len;
}

/*
 * The CSNs of a cookie ("rid=001,sid=002,csn=CSN;CSN"), each
 * "YYYYmmddHHMMSS.uuuuuuZ#count#sid#mod".
 */
static List *
cookie_csns(const char *cookie, int len)
{
	char	   *text = pnstrdup(cookie, len);
	char	   *p = strstr(text, "csn=");
	List	   *csns = NIL;

	if (p == NULL)
		return NIL;
	p += 4;
	while (*p)
	{
		char	   *end = p + strcspn(p, ";,");
		char		stop = *end;

		*end = '\0';
		if (*p)
			csns = lappend(csns, pstrdup(p));
		if (stop != ';')
			break;
		p = end + 1;
	}
	return csns;
}

/* The server ID of a CSN: its third field. */
static char *
csn_sid(const char *csn)
{
	const char *p = strchr(csn, '#');

	if (p == NULL || (p = strchr(p + 1, '#')) == NULL)
		return NULL;
	p++;
	return pnstrdup(p, strcspn(p, "#"));
}

/*
 * Is an entry's CSN one the cookie already covers: not newer than the
 * cookie's CSN of the same server, or of a server the cookie does not
 * know?  A provider that took the cookie sends neither.
 */
static bool
csn_covered(List *cookie_csns, const char *csn)
{
	char	   *sid = csn_sid(csn);
	ListCell   *cell;

	if (sid == NULL)
		return false;
	foreach(cell, cookie_csns)
	{
		char	   *known = (char *) lfirst(cell);
		char	   *known_sid = csn_sid(known);

		if (known_sid && strcmp(known_sid, sid) == 0)
			return strcmp(csn, known) <= 0;
	}
	return true;
}

static void
note_gone(SyncAnswers *answers, struct berval *uuid)
{
	char	   *id = uuid_text(uuid);

	if (id)
		answers->changes->gone = lappend(answers->changes->gone, id);
}

/* A changed entry, with the values of the attributes the caller asked for. */
static void
keep_changed_entry(DirectoryChanges *changes, char *entry_id,
				   DirectoryValues *values, int n)
{
	ChangedEntry *entry = palloc0(sizeof(ChangedEntry));

	entry->entry_id = entry_id;
	entry->values = palloc0(sizeof(DirectoryValues) * Max(n, 1));
	for (int i = 0; i < n; i++)
		copy_directory_values(NULL, &entry->values[i], &values[i]);
	changes->found = lappend(changes->found, entry);
}

/* An entry of a sync search, with its syncState. */
typedef struct EntryState
{
	SyncAnswers *answers;
	int			state;
	char	   *uuid;			/* the syncState's entryUUID, as text */
} EntryState;

static void
collect_sync_entry(void *arg, const char *dn pg_attribute_unused(),
				   DirectoryValues *values)
{
	EntryState *es = (EntryState *) arg;
	SyncAnswers *answers = es->answers;
	DirectoryValues *csn = &values[answers->nattrs - 1];
	char	   *entry_id;

	if (answers->cookie_csns && csn->count > 0 &&
		csn_covered(answers->cookie_csns,
					directory_text(csn->values[0], csn->lengths[0])))
		answers->ignored = true;
	entry_id = directory_entry_id("entryUUID", &values[answers->ncaller]);
	if (entry_id == NULL)
		entry_id = es->uuid ? pstrdup(es->uuid) : NULL;
	if (entry_id == NULL)
	{
		/* a change that cannot be kept: the watermark must not pass it */
		answers->unreadable = true;
		return;
	}
	keep_changed_entry(answers->changes, entry_id, values, answers->ncaller);
}

/*
 * A search entry with its syncState control: added or modified (with
 * its attributes), deleted (a UUID), or present (a present phase).
 */
static void
sync_entry(SyncAnswers *answers, LDAPMessage *msg)
{
	PssyncDirectory *dir = answers->dir;
	LDAPControl **controls = NULL;
	LDAPControl *state_control;
	BerElement *ber;
	ber_int_t	state = -1;
	struct berval uuid = {0, NULL};
	struct berval cookie = {0, NULL};
	char	   *uuid_copy = NULL;
	int			uuid_len = 0;
	EntryState	es;

	if (ldap_get_entry_controls(dir->ld, msg, &controls) != LDAP_SUCCESS)
		controls = NULL;
	state_control = controls ? ldap_control_find(LDAP_CONTROL_SYNC_STATE, controls, NULL) : NULL;
	if (state_control &&
		(ber = ber_init(&state_control->ldctl_value)) != NULL)
	{
		if (ber_scanf(ber, "{em", &state, &uuid) != LBER_ERROR)
		{
			uuid_copy = copy_bytes(NULL, uuid.bv_val, uuid.bv_len);
			uuid_len = uuid.bv_len;
			if (ber_peek_tag(ber, &uuid.bv_len) == LDAP_TAG_SYNC_COOKIE &&
				ber_scanf(ber, "m", &cookie) != LBER_ERROR)
				keep_cookie(answers, &cookie);
		}
		ber_free(ber, 1);
	}
	if (controls)
		ldap_controls_free(controls);

	if (uuid_copy == NULL)
		return;					/* not an entry of the sync: ignored */
	uuid.bv_val = uuid_copy;
	uuid.bv_len = uuid_len;
	switch (state)
	{
		case LDAP_SYNC_PRESENT:
			answers->present = true;
			break;
		case LDAP_SYNC_DELETE:
			note_gone(answers, &uuid);
			break;
		case LDAP_SYNC_ADD:
		case LDAP_SYNC_MODIFY:
			es.answers = answers;
			es.state = state;
			es.uuid = uuid_text(&uuid);
			directory_deliver_entry(dir, msg, answers->attrs, answers->nattrs,
									collect_sync_entry, &es,
									answers->entry_cxt);
			break;
		default:
			break;
	}
}

/*
 * A syncInfo intermediate response: a new cookie, the end of a refresh
 * phase, or a set of UUIDs (deleted, or present).
 */
static void
sync_info(SyncAnswers *answers, LDAPMessage *msg)
{
	PssyncDirectory *dir = answers->dir;
	char	   *oid = NULL;
	struct berval *data = NULL;
	BerElement *ber;
	ber_tag_t	tag;
	ber_len_t	len;
	struct berval cookie = {0, NULL};
	BerVarray	uuids = NULL;
	ber_int_t	flag;
	bool		deletes = false;
	bool		present = false;

	if (ldap_parse_intermediate(dir->ld, msg, &oid, &data, NULL, 0) != LDAP_SUCCESS)
		return;
	if (oid == NULL || strcmp(oid, LDAP_SYNC_INFO) != 0 || data == NULL ||
		(ber = ber_init(data)) == NULL)
	{
		if (oid)
			ldap_memfree(oid);
		if (data)
			ber_bvfree(data);
		return;
	}

	tag = ber_peek_tag(ber, &len);
	switch (tag)
	{
		case LDAP_TAG_SYNC_NEW_COOKIE:
			if (ber_scanf(ber, "m", &cookie) != LBER_ERROR)
				keep_cookie(answers, &cookie);
			break;
		case LDAP_TAG_SYNC_REFRESH_DELETE:
		case LDAP_TAG_SYNC_REFRESH_PRESENT:
			if (ber_scanf(ber, "{") == LBER_ERROR)
				break;
			if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
				ber_scanf(ber, "m", &cookie) != LBER_ERROR)
				keep_cookie(answers, &cookie);
			if (tag == LDAP_TAG_SYNC_REFRESH_PRESENT)
				present = true;
			/* the refresh of a refreshAndPersist search is over */
			answers->persisting = true;
			break;
		case LDAP_TAG_SYNC_ID_SET:
			if (ber_scanf(ber, "{") == LBER_ERROR)
				break;
			if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
				ber_scanf(ber, "m", &cookie) != LBER_ERROR)
				keep_cookie(answers, &cookie);
			if (ber_peek_tag(ber, &len) == LBER_BOOLEAN &&
				ber_scanf(ber, "b", &flag) != LBER_ERROR)
				deletes = flag != 0;
			if (ber_scanf(ber, "[W]", &uuids) == LBER_ERROR)
				uuids = NULL;
			if (!deletes)
				present = true;
			else if (uuids)
			{
				int			i;

				for (i = 0; uuids[i].bv_val; i++)
					note_gone(answers, &uuids[i]);
			}
			break;
		default:
			break;
	}
	if (uuids)
		ber_bvarray_free(uuids);
	ber_free(ber, 1);
	ldap_memfree(oid);
	ber_bvfree(data);
	if (present)
		answers->present = true;
}

/* The result of a sync search, with its syncDone control. */
static void
sync_done(SyncAnswers *answers, LDAPMessage *msg)
{
	PssyncDirectory *dir = answers->dir;
	LDAPControl **controls = NULL;
	LDAPControl *done;
	char	   *diag;

	answers->done = true;
	answers->result_code = directory_parse_result(dir, msg, &diag, &controls, NULL);
	answers->diag = diag;
	done = controls ? ldap_control_find(LDAP_CONTROL_SYNC_DONE, controls, NULL) : NULL;
	if (done && answers->result_code == LDAP_SUCCESS)
	{
		BerElement *ber = ber_init(&done->ldctl_value);
		struct berval cookie = {0, NULL};
		ber_len_t	len;
		ber_int_t	deletes = 0;

		if (ber && ber_scanf(ber, "{") != LBER_ERROR)
		{
			answers->done_control = true;
			if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
				ber_scanf(ber, "m", &cookie) != LBER_ERROR)
				keep_cookie(answers, &cookie);
			if (ber_peek_tag(ber, &len) == LBER_BOOLEAN)
				(void) ber_scanf(ber, "b", &deletes);
			/* refreshDeletes FALSE: the refresh was a present phase */
			if (!deletes)
				answers->present = true;
		}
		if (ber)
			ber_free(ber, 1);
	}
	if (controls)
		ldap_controls_free(controls);
}

/* Handle the messages of a chain that belong to the sync search msgid. */
static void
sync_messages(SyncAnswers *answers, LDAPMessage *res, int msgid)
{
	PssyncDirectory *dir = answers->dir;
	LDAPMessage *msg;

	for (msg = ldap_first_message(dir->ld, res); msg;
		 msg = ldap_next_message(dir->ld, msg))
	{
		if (ldap_msgid(msg) != msgid)
			continue;
		answers->nmessages++;
		switch (ldap_msgtype(msg))
		{
			case LDAP_RES_SEARCH_ENTRY:
				answers->nentries++;
				/* a search for a watermark asks for none: not read */
				if (!answers->watermark_only)
					sync_entry(answers, msg);
				break;
			case LDAP_RES_INTERMEDIATE:
				sync_info(answers, msg);
				break;
			case LDAP_RES_SEARCH_RESULT:
				sync_done(answers, msg);
				break;
			default:
				break;			/* continuation references: not ours */
		}
	}
}

/*
 * Start a sync search of base_dn (refreshOnly or refreshAndPersist), with
 * the cookie of since (if any); returns its message id.
 */
static int
start_sync_search(PssyncDirectory *dir, const char *base_dn, int scope,
				  const char *filter, const char **attrs, int mode,
				  Watermark *since)
{
	static const char *no_attributes[] = {LDAP_NO_ATTRS, NULL};
	LDAPControl *controls[2] = {NULL, NULL};
	int			msgid = -1;
	int			rc;

	controls[0] = sync_request_control(mode, since);
	directory_io_begin(dir, false);
	rc = ldap_search_ext(dir->ld, directory_to_utf8(base_dn), scope, filter,
						 (char **) (attrs && attrs[0] ? attrs : no_attributes),
						 0, controls, NULL, NULL, 0, &msgid);
	ldap_control_free(controls[0]);
	(void) directory_io_end(dir, "sync search", NULL);
	if (rc != LDAP_SUCCESS)
		directory_report_lost_connection(dir, rc, "sync search");
	dir->requests++;
	return msgid;
}

/* Stop a search the server is still answering. */
static void
abandon_search(PssyncDirectory *dir, int msgid)
{
	directory_io_begin(dir, false);
	(void) ldap_abandon_ext(dir->ld, msgid, NULL, NULL);
	(void) directory_io_end(dir, "abandoning a search", NULL);
}

/*
 * The attributes of a sync search: the caller's, the entry ID, entryCSN;
 * each by its name in the schema, when there are several.
 */
static void
sync_attributes(SyncAnswers *answers, const char **attrs)
{
	int			n = 0;
	int			i;

	while (attrs && attrs[n])
		n++;
	answers->ncaller = n;
	answers->nattrs = n + 2;
	answers->attrs = palloc(sizeof(char *) * (n + 3));
	for (i = 0; i < n; i++)
		answers->attrs[i] = attrs[i];
	answers->attrs[n] = "entryUUID";
	answers->attrs[n + 1] = "entryCSN";
	answers->attrs[n + 2] = NULL;
	if (!answers->dir->schema_read)
		directory_read_schema(answers->dir);
	for (i = 0; i < answers->nattrs; i++)
		answers->attrs[i] = directory_schema_name(answers->dir, answers->attrs[i]);
}

static void
rfc4533_watermark(PssyncDirectory *dir, const char *base_dn, Watermark *wm)
{
	SyncAnswers answers;
	int			msgid;

	memset(&answers, 0, sizeof(answers));
	answers.dir = dir;
	answers.changes = palloc0(sizeof(DirectoryChanges));
	answers.entry_cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync sync entry",
											  ALLOCSET_SMALL_SIZES);
	answers.watermark_only = true;
	msgid = start_sync_search(dir, base_dn, LDAP_SCOPE_BASE, NOTHING_FILTER,
							  NULL, LDAP_SYNC_REFRESH_ONLY, NULL);
	while (!answers.done)
	{
		LDAPMessage *res = directory_wait_result(dir, msgid, LDAP_MSG_RECEIVED,
												 "sync search", NULL);

		sync_messages(&answers, res, msgid);
		directory_release_message(dir);
		CHECK_FOR_INTERRUPTS();

		/* a filter no entry passes gets no entry, and few messages */
		if (!answers.done &&
			(answers.nentries > 0 || answers.changes->gone != NIL ||
			 answers.cookie_too_long ||
			 answers.nmessages > WATERMARK_MAX_MESSAGES))
		{
			abandon_search(dir, msgid);
			break;
		}
	}
	MemoryContextDelete(answers.entry_cxt);
	if (answers.nentries > 0 || answers.changes->gone != NIL)
	{
		wm->missing = "the directory answered a sync search that asks for no entry with entries";
		return;
	}
	if (answers.cookie_too_long)
	{
		wm->missing = psprintf("the directory sent a cookie longer than %d bytes",
							   MAX_COOKIE_LEN);
		return;
	}
	if (!answers.done)
	{
		wm->missing = psprintf("the directory answered a sync search that asks for no entry with more than %d messages",
							   WATERMARK_MAX_MESSAGES);
		return;
	}
	if (answers.result_code != LDAP_SUCCESS)
	{
		wm->missing = psprintf("the directory answered the sync search with \"%s\"%s%s",
							   ldap_err2string(answers.result_code),
							   answers.diag ? ": " : "",
							   answers.diag ? answers.diag : "");
		return;
	}
	if (answers.cookie == NULL)
	{
		wm->missing = "the directory sent no cookie for a sync search";
		return;
	}
	wm->mechanism = CHANGES_RFC4533;
	wm->cookie = answers.cookie;
	wm->cookie_len = answers.cookie_len;
}

static const char *
rfc4533_refusal(SyncAnswers *answers)
{
	switch (answers->result_code)
	{
		case LDAP_SYNC_REFRESH_REQUIRED:
			return "the directory refused the stored cookie (e-syncRefreshRequired)";
		case LDAP_UNAVAILABLE_CRITICAL_EXTENSION:
			return "the directory does not offer Content Synchronization (RFC 4533) for this base DN";
		case LDAP_SIZELIMIT_EXCEEDED:
		case LDAP_ADMINLIMIT_EXCEEDED:
			return "the directory stopped the changes at a size limit";
		default:
			return psprintf("the directory answered the sync search with \"%s\"%s%s",
							ldap_err2string(answers->result_code),
							answers->diag ? ": " : "",
							answers->diag ? answers->diag : "");
	}
}

static void
rfc4533_changes(PssyncDirectory *dir, const char *base_dn, Watermark *since,
				const char **attrs, int limit, DirectoryChanges *changes)
{
	SyncAnswers answers;
	int			msgid;

	/* every message counts: entries of no sync, new cookies, ... */
	int			max_messages = limit > PG_INT32_MAX - SYNC_SPARE_MESSAGES ?
		PG_INT32_MAX : limit + SYNC_SPARE_MESSAGES;

	memset(&answers, 0, sizeof(answers));
	answers.dir = dir;
	answers.changes = changes;
	answers.limit = limit;
	answers.cookie_csns = cookie_csns(since->cookie, since->cookie_len);
	answers.entry_cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync sync entry",
											  ALLOCSET_SMALL_SIZES);
	sync_attributes(&answers, attrs);
	if (answers.cookie_csns == NIL)
	{
		changes->full_reason = "the stored cookie holds no CSN";
		return;
	}

	msgid = start_sync_search(dir, base_dn, dir->server->scope,
							  directory_to_utf8(dir->server->filter),
							  answers.attrs, LDAP_SYNC_REFRESH_ONLY, since);
	while (!answers.done)
	{
		LDAPMessage *res = directory_wait_result(dir, msgid, LDAP_MSG_RECEIVED,
												 "sync search", NULL);

		sync_messages(&answers, res, msgid);
		directory_release_message(dir);
		CHECK_FOR_INTERRUPTS();

		/* what is not incremental is stopped at once */
		if (!answers.done &&
			(answers.present || answers.ignored || answers.cookie_too_long ||
			 answers.unreadable ||
			 list_length(changes->found) + list_length(changes->gone) > limit ||
			 answers.nmessages > max_messages))
		{
			abandon_search(dir, msgid);
			break;
		}
	}
	MemoryContextDelete(answers.entry_cxt);

	if (answers.cookie_too_long)
		changes->full_reason = psprintf("the directory sent a cookie longer than %d bytes",
										MAX_COOKIE_LEN);
	else if (answers.unreadable)
		changes->full_reason = "the directory sent a changed entry whose entryUUID could not be read";
	else if (answers.ignored)
		changes->full_reason = "the directory ignored the stored cookie and sent its whole content";
	else if (answers.present)
		changes->full_reason = "the directory's session log does not reach back to the stored cookie (a present phase): configure syncprov-sessionlog";
	else if (list_length(changes->found) + list_length(changes->gone) > limit)
		changes->full_reason = psprintf("more than %d entries changed", limit);
	else if (!answers.done)
		changes->full_reason = psprintf("the directory sent more than %d messages for at most %d changes",
										max_messages, limit);
	else if (answers.result_code != LDAP_SUCCESS)
		changes->full_reason = unconstify(char *, rfc4533_refusal(&answers));
	else if (!answers.done_control)
		changes->full_reason = "the directory ended the sync search without a syncDone control";
	if (changes->full_reason)
		return;

	changes->next.mechanism = CHANGES_RFC4533;
	if (answers.cookie)
	{
		changes->next.cookie = answers.cookie;
		changes->next.cookie_len = answers.cookie_len;
	}
	else
	{
		/* nothing changed: the provider sends no new cookie */
		changes->next.cookie = since->cookie;
		changes->next.cookie_len = since->cookie_len;
	}
}


/*
 * Active Directory: uSNChanged.
 */

/* The root DSE's USN and host, and the invocationId of the DC's NTDS Settings. */
static void
usn_watermark(PssyncDirectory *dir, Watermark *wm)
{
	char	   *usn = first_value(read_attribute(dir, "", "highestCommittedUSN"));
	char	   *service = first_value(read_attribute(dir, "", "dsServiceName"));
	List	   *invocation;
	char	   *end;

	wm->host = first_value(read_attribute(dir, "", "dnsHostName"));
	if (usn == NULL)
	{
		wm->missing = "the domain controller's root DSE shows no highestCommittedUSN";
		return;
	}
	errno = 0;
	wm->usn = strtoi64(usn, &end, 10);
	if (errno != 0 || end == usn || *end != '\0' || wm->usn < 0)
	{
		wm->missing = psprintf("the domain controller's highestCommittedUSN \"%s\" is not a USN",
							   usn);
		return;
	}
	if (service)
	{
		invocation = read_attribute(dir, directory_text(service, strlen(service)),
									"invocationId");
		if (invocation)
		{
			DirectoryValues v;
			int			length = 16;

			v.count = 1;
			v.values = (char **) &linitial(invocation);
			v.lengths = &length;
			wm->invocation_id = directory_entry_id("objectGUID", &v);
		}
	}
	wm->mechanism = CHANGES_USN;
}

/* The naming context a base DN lies in: the longest that holds it. */
static char *
naming_context(PssyncDirectory *dir, const char *base_dn)
{
	List	   *contexts = read_attribute(dir, "", "namingContexts");
	char	   *best = NULL;
	ListCell   *cell;

	foreach(cell, contexts)
	{
		char	   *nc = directory_text((char *) lfirst(cell), strlen((char *) lfirst(cell)));

		if (directory_dn_in_scope(base_dn, nc, LDAP_SCOPE_SUBTREE) &&
			(best == NULL || strlen(nc) > strlen(best)))
			best = nc;
	}
	return best ? best : pstrdup(base_dn);
}

typedef struct UsnAnswers
{
	DirectoryChanges *changes;
	int			ncaller;
	List	   *changed_ids;	/* of the whole naming context */
} UsnAnswers;

static void
collect_usn_entry(void *arg, const char *dn pg_attribute_unused(),
				  DirectoryValues *values)
{
	UsnAnswers *answers = (UsnAnswers *) arg;
	char	   *entry_id = directory_entry_id("objectGUID", &values[answers->ncaller]);

	if (entry_id == NULL)
	{
		/* a change that cannot be kept: the watermark must not pass it */
		answers->changes->full_reason = "the domain controller sent a changed entry whose objectGUID could not be read";
		return;
	}
	keep_changed_entry(answers->changes, entry_id, values, answers->ncaller);
}

static void
collect_changed_id(void *arg, const char *dn pg_attribute_unused(),
				   DirectoryValues *values)
{
	UsnAnswers *answers = (UsnAnswers *) arg;
	char	   *entry_id = directory_entry_id("objectGUID", &values[0]);

	if (entry_id)
		answers->changed_ids = lappend(answers->changed_ids, entry_id);
	else
		answers->changes->full_reason = "the domain controller listed a changed object whose objectGUID could not be read";
}

/* An entry whose first attribute asked for has a value. */
static void
count_valued_entry(void *arg, const char *dn pg_attribute_unused(),
				   DirectoryValues *values)
{
	if (values[0].count > 0)
		(*(int *) arg)++;
}

/*
 * The objects of a naming context that changed since the watermark,
 * deleted ones among them (Show Deleted) where the bind account may see
 * them; and whether it may.
 */
static pg_noinline void
list_changed_objects(PssyncDirectory *dir, const char *nc, Watermark *since,
					 UsnAnswers *answers)
{
	const char *guid_attrs[] = {"objectGUID", NULL};
	const char *deleted_attrs[] = {"isDeleted", NULL};
	LDAPControl *show_deleted = NULL;
	DirectoryChanges *changes = answers->changes;
	int			deleted_objects = 0;
	int			rc;

	if (ldap_control_create(LDAP_CONTROL_X_SHOW_DELETED, 1, NULL, 0,
							&show_deleted) != LDAP_SUCCESS)
		elog(ERROR, "could not build the Show Deleted control");
	PG_TRY();
	{
		/*
		 * The bind account sees deleted objects when it may read the
		 * Deleted Objects container as one (isDeleted): Samba shows others
		 * its DN alone, Active Directory nothing.
		 */
		directory_search_control(dir, psprintf("CN=Deleted Objects,%s", nc),
								 LDAP_SCOPE_BASE, "(objectClass=*)", deleted_attrs,
								 show_deleted, count_valued_entry,
								 &deleted_objects, &rc);
		changes->deletions_unseen = rc != LDAP_SUCCESS || deleted_objects == 0;
		if (!directory_search_control(dir, nc, LDAP_SCOPE_SUBTREE,
									  psprintf("(uSNChanged>=" INT64_FORMAT ")", since->usn + 1),
									  guid_attrs, show_deleted,
									  collect_changed_id, answers, &rc) ||
			rc != LDAP_SUCCESS)
			changes->full_reason = "the domain controller did not list the changed objects of the domain";
	}
	PG_FINALLY();
	{
		ldap_control_free(show_deleted);
	}
	PG_END_TRY();
}

static void
usn_changes(PssyncDirectory *dir, const char *base_dn, Watermark *since,
			const char **attrs, int limit, DirectoryChanges *changes)
{
	const char **search_attrs;
	UsnAnswers	answers;
	char	   *nc;
	char	   *filter;
	char	  **found_ids;
	int			nfound = 0;
	ListCell   *cell;
	int			n = 0;
	int			i;

	/* the next watermark first: what changes during the read comes again */
	usn_watermark(dir, &changes->next);
	if (changes->next.mechanism != CHANGES_USN)
	{
		changes->full_reason = changes->next.missing ? changes->next.missing :
			"the domain controller's root DSE shows no highestCommittedUSN";
		return;
	}
	if (since->host == NULL || changes->next.host == NULL ||
		pg_strcasecmp(since->host, changes->next.host) != 0)
	{
		changes->full_reason = psprintf("the watermark is of domain controller \"%s\", and this is \"%s\"",
										since->host ? since->host : "?",
										changes->next.host ? changes->next.host : "?");
		return;
	}
	if (since->invocation_id == NULL || changes->next.invocation_id == NULL ||
		strcmp(since->invocation_id, changes->next.invocation_id) != 0)
	{
		changes->full_reason = psprintf("domain controller \"%s\" has another invocationId than the watermark's (restored from a backup?)",
										changes->next.host);
		return;
	}

	/*
	 * A USN rollback (the DC restored in a way that kept its invocationId):
	 * what changes now gets USNs the watermark already covers.
	 */
	if (changes->next.usn < since->usn)
	{
		changes->full_reason = psprintf("the domain controller's USN went backwards: its highestCommittedUSN is below the watermark's, " INT64_FORMAT,
										since->usn);
		return;
	}
	/* nothing can have a USN above the largest there is */
	if (since->usn == PG_INT64_MAX)
		return;

	memset(&answers, 0, sizeof(answers));
	answers.changes = changes;
	while (attrs && attrs[n])
		n++;
	answers.ncaller = n;
	search_attrs = palloc(sizeof(char *) * (n + 2));
	for (i = 0; i < n; i++)
		search_attrs[i] = attrs[i];
	search_attrs[n] = "objectGUID";
	search_attrs[n + 1] = NULL;

	/* the entries of the base DN that changed, as they are now */
	filter = psprintf("(&%s(uSNChanged>=" INT64_FORMAT "))",
					  directory_to_utf8(dir->server->filter), since->usn + 1);
	if (!directory_search_scope(dir, base_dn, dir->server->scope, filter,
								search_attrs, collect_usn_entry, &answers, NULL))
	{
		changes->full_reason = "the domain controller stopped the changes at a size limit";
		return;
	}
	if (changes->full_reason)
		return;

	/*
	 * The objects of the naming context that changed (deleted ones among
	 * them, where the bind account may see them): those not found above may
	 * have left the base DN or the filter.
	 */
	nc = naming_context(dir, base_dn);
	list_changed_objects(dir, nc, since, &answers);
	if (changes->full_reason)
		return;

	found_ids = palloc(sizeof(char *) * Max(list_length(changes->found), 1));
	foreach(cell, changes->found)
		found_ids[nfound++] = ((ChangedEntry *) lfirst(cell))->entry_id;
	qsort(found_ids, nfound, sizeof(char *), pg_qsort_strcmp);
	foreach(cell, answers.changed_ids)
	{
		char	   *id = (char *) lfirst(cell);

		if (!bsearch(&id, found_ids, nfound, sizeof(char *), pg_qsort_strcmp))
			changes->gone = lappend(changes->gone, id);
	}
	if (list_length(changes->found) + list_length(changes->gone) > limit)
		changes->full_reason = psprintf("more than %d objects changed", limit);
}


/*
 * The watermark of a base DN now, to be stored with a full read made after
 * it: what changes during the read comes again next time.  mechanism is
 * NONE when the directory gives none.
 */
void
directory_watermark(PssyncDirectory *dir, ChangeMechanism mechanism,
					const char *base_dn, Watermark *wm)
{
	memset(wm, 0, sizeof(Watermark));
	if (mechanism == CHANGES_RFC4533)
		rfc4533_watermark(dir, base_dn, wm);
	else if (mechanism == CHANGES_USN)
		usn_watermark(dir, wm);
	if (wm->host == NULL)
		wm->host = pstrdup(dir->uri);
}

/*
 * What changed under base_dn since a watermark: the entries that changed
 * and are in scope (with the values of attrs, each entry's permanent ID
 * besides), and the IDs of those that may have left.  With more than limit
 * changes, or changes that cannot be read incrementally, full_reason says
 * why a full run is needed.
 */
DirectoryChanges *
directory_read_changes(PssyncDirectory *dir, const char *base_dn,
					   Watermark *since, const char **attrs, int limit)
{
	DirectoryChanges *changes = palloc0(sizeof(DirectoryChanges));

	if (since->mechanism == CHANGES_RFC4533)
		rfc4533_changes(dir, base_dn, since, attrs, limit, changes);
	else if (since->mechanism == CHANGES_USN)
		usn_changes(dir, base_dn, since, attrs, limit, changes);
	else
		changes->full_reason = "there is no watermark";
	if (changes->next.host == NULL)
		changes->next.host = pstrdup(dir->uri);
	return changes;
}


/*
 * The background worker's change stream: a search the directory answers
 * whenever an entry under base_dn changes, which only wakes the worker (it
 * then reads the changes since its watermark, as ldap_sync_changes does).
 *
 *	- RFC 4533: a refreshAndPersist search from the directory's cookie now
 *	  (so that its refresh phase is empty), with the server's filter;
 *	- Active Directory: a search with the change notification control
 *	  (1.2.840.113556.1.4.528), which has no cookie.
 *
 * Returns the search's message id, or -1 (with *why) when the directory
 * offers no stream: the worker then polls.
 */
#define NOTIFICATION_CONTROL "1.2.840.113556.1.4.528"

int
directory_change_stream(PssyncDirectory *dir, ChangeMechanism mechanism,
						const char *base_dn, const char **why)
{
	static const char *no_attributes[] = {LDAP_NO_ATTRS, NULL};
	LDAPControl *controls[2] = {NULL, NULL};
	int			msgid = -1;
	int			rc;

	if (mechanism == CHANGES_RFC4533)
	{
		Watermark	now;

		memset(&now, 0, sizeof(now));
		rfc4533_watermark(dir, base_dn, &now);
		if (now.mechanism != CHANGES_RFC4533)
		{
			*why = now.missing;
			return -1;
		}
		return start_sync_search(dir, base_dn, dir->server->scope,
								 directory_to_utf8(dir->server->filter), NULL,
								 LDAP_SYNC_REFRESH_AND_PERSIST, &now);
	}
	if (mechanism != CHANGES_USN)
	{
		*why = "the directory offers no change stream";
		return -1;
	}
	if (!holds_value(read_attribute(dir, "", "supportedControl"), NOTIFICATION_CONTROL))
	{
		*why = "the domain controller does not offer the change notification control";
		return -1;
	}
	if (ldap_control_create(NOTIFICATION_CONTROL, 1, NULL, 0, &controls[0]) != LDAP_SUCCESS)
		elog(ERROR, "could not build the change notification control");
	directory_io_begin(dir, false);
	rc = ldap_search_ext(dir->ld, directory_to_utf8(base_dn), LDAP_SCOPE_SUBTREE,
						 "(objectClass=*)", (char **) no_attributes, 0,
						 controls, NULL, NULL, 0, &msgid);
	ldap_control_free(controls[0]);
	(void) directory_io_end(dir, "change notification search", NULL);
	if (rc != LDAP_SUCCESS)
		directory_report_lost_connection(dir, rc, "change notification search");
	dir->requests++;
	return msgid;
}

/* a burst of changes: what comes this soon after the last is the same */
#define STREAM_QUIET_MS 200
/* ... but a burst is read for no longer, nor further, than this */
#define STREAM_BURST_MS 1000
#define STREAM_BURST_MESSAGES 10000

/*
 * Wait up to timeout_ms (or until the latch is set) for the stream to say
 * that something changed; then read what else it has to say while it
 * comes within 200 ms of the last, for up to 1 s (or 10000 messages), so
 * that a burst of changes makes one batch and a long one several.
 * Returns whether something changed.  *why is set when the stream ended:
 * the directory answered the search with a result (it refused the
 * control, or stopped); a lost connection is an ERROR.
 */
bool
directory_stream_wait(PssyncDirectory *dir, int msgid, long timeout_ms,
					  const char **why)
{
	bool		changed = false;
	long		wait_ms = timeout_ms;
	TimestampTz burst_start = 0;
	int			nmessages = 0;

	*why = NULL;
	for (;;)
	{
		LDAPMessage *res = directory_wait_result_for(dir, msgid, LDAP_MSG_RECEIVED,
													 "change stream", wait_ms);
		LDAPMessage *msg;

		if (res == NULL)
			return changed;		/* quiet for wait_ms, or the latch */
		for (msg = ldap_first_message(dir->ld, res); msg;
			 msg = ldap_next_message(dir->ld, msg))
		{
			if (ldap_msgid(msg) != msgid)
				continue;
			if (ldap_msgtype(msg) == LDAP_RES_SEARCH_RESULT)
			{
				char	   *diag;
				int			rc = directory_parse_result(dir, msg, &diag, NULL, NULL);

				*why = psprintf("the directory ended the change stream: %s%s%s",
								ldap_err2string(rc), diag ? ": " : "",
								diag ? diag : "");
			}
			else if (ldap_msgtype(msg) == LDAP_RES_SEARCH_ENTRY ||
					 ldap_msgtype(msg) == LDAP_RES_INTERMEDIATE)
			{
				changed = true;
				nmessages++;
			}
		}
		directory_release_message(dir);
		if (*why)
			return changed;

		/*
		 * A burst of changes: what comes within STREAM_QUIET_MS is the same
		 * batch, but a batch runs at least every STREAM_BURST_MS (a bulk
		 * import would otherwise hold it off until it ends).
		 */
		if (burst_start == 0)
			burst_start = GetCurrentTimestamp();
		wait_ms = STREAM_BURST_MS -
			TimestampDifferenceMilliseconds(burst_start, GetCurrentTimestamp());
		if (wait_ms <= 0 || nmessages >= STREAM_BURST_MESSAGES)
			return changed;
		wait_ms = Min(wait_ms, STREAM_QUIET_MS);
	}
}
