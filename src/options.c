/*-------------------------------------------------------------------------
 *
 * options.c
 *		  The foreign data wrapper's validator, and the server options and
 *		  user mapping of the server a sync uses.
 *
 * The directory is configured the way postgres_fdw and dblink configure a
 * remote server: connection options on a foreign server of the "pssync"
 * foreign data wrapper, credentials in a user mapping.  The same table of
 * options serves the validator (CREATE/ALTER SERVER and USER MAPPING) and
 * the reading of the options when a sync starts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ldap.h>
#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/scansup.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/syscache.h"

#include "pssync.h"

PG_FUNCTION_INFO_V1(pssync_validator);

typedef enum OptionKind
{
	OPTION_URI,
	OPTION_DN,
	OPTION_ATTRIBUTE,
	OPTION_FILTER,
	OPTION_SCOPE,
	OPTION_BOOLEAN,
	OPTION_PATH,
	OPTION_SECONDS,
	OPTION_PAGE_SIZE,
	OPTION_TEXT,
	OPTION_SECRET
} OptionKind;

typedef struct PssyncOption
{
	const char *name;
	Oid			context;		/* catalog the option belongs to */
	OptionKind	kind;
	bool		required;
} PssyncOption;

static const PssyncOption pssync_options[] = {
	/* the directory: foreign server options */
	{"uri", ForeignServerRelationId, OPTION_URI, true},
	{"base_dn", ForeignServerRelationId, OPTION_DN, true},
	{"student_base_dn", ForeignServerRelationId, OPTION_DN, false},
	{"staff_base_dn", ForeignServerRelationId, OPTION_DN, false},
	{"uid_attr", ForeignServerRelationId, OPTION_ATTRIBUTE, false},
	{"student_uid_attr", ForeignServerRelationId, OPTION_ATTRIBUTE, false},
	{"staff_uid_attr", ForeignServerRelationId, OPTION_ATTRIBUTE, false},
	{"student_id_attr", ForeignServerRelationId, OPTION_ATTRIBUTE, false},
	{"staff_id_attr", ForeignServerRelationId, OPTION_ATTRIBUTE, false},
	{"entry_id_attr", ForeignServerRelationId, OPTION_ATTRIBUTE, false},
	{"first_name_attr", ForeignServerRelationId, OPTION_ATTRIBUTE, false},
	{"last_name_attr", ForeignServerRelationId, OPTION_ATTRIBUTE, false},
	{"filter", ForeignServerRelationId, OPTION_FILTER, false},
	{"scope", ForeignServerRelationId, OPTION_SCOPE, false},
	{"starttls", ForeignServerRelationId, OPTION_BOOLEAN, false},
	{"ca_file", ForeignServerRelationId, OPTION_PATH, false},
	{"timeout", ForeignServerRelationId, OPTION_SECONDS, false},
	{"page_size", ForeignServerRelationId, OPTION_PAGE_SIZE, false},
	{"referrals", ForeignServerRelationId, OPTION_BOOLEAN, false},
	/* the credentials: user mapping options */
	{"bind_dn", UserMappingRelationId, OPTION_TEXT, false},
	{"password", UserMappingRelationId, OPTION_SECRET, false},
	{NULL, InvalidOid, OPTION_TEXT, false}
};

#define DEFAULT_UID_ATTR		"uid"
#define DEFAULT_FIRST_NAME_ATTR "givenName"
#define DEFAULT_LAST_NAME_ATTR	"sn"
#define DEFAULT_FILTER			"(objectClass=person)"
#define DEFAULT_TIMEOUT_MS		10000
#define DEFAULT_PAGE_SIZE		500
#define MAX_TIMEOUT_SECONDS		86400
#define MAX_PAGE_SIZE			100000

#define EXAMPLE_CREATE_SERVER \
	"CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync " \
	"OPTIONS (uri 'ldap://ldap.district.org', base_dn 'dc=district,dc=org');"

static const PssyncOption *
find_option(const char *name)
{
	const PssyncOption *opt;

	for (opt = pssync_options; opt->name; opt++)
	{
		if (strcmp(opt->name, name) == 0)
			return opt;
	}
	return NULL;
}

/*
 * Is "name" an attribute description of RFC 4512 (section 2.5): a
 * descriptor or a numeric OID, followed by options, each after a ';'?
 */
bool
is_attribute_description(const char *name)
{
	const char *p = name;

	if (isdigit((unsigned char) *p))
	{
		/* numericoid: number 1*( DOT number ), no leading zeros */
		int			numbers = 0;

		for (;;)
		{
			if (!isdigit((unsigned char) *p))
				return false;
			if (*p == '0' && isdigit((unsigned char) p[1]))
				return false;
			while (isdigit((unsigned char) *p))
				p++;
			numbers++;
			if (*p != '.')
				break;
			p++;
		}
		if (numbers < 2)
			return false;
	}
	else if (isalpha((unsigned char) *p) && IS_HIGHBIT_SET(*p) == false)
	{
		/* descr: ALPHA *( ALPHA / DIGIT / HYPHEN ) */
		while (isalnum((unsigned char) *p) || *p == '-')
		{
			if (IS_HIGHBIT_SET(*p))
				return false;
			p++;
		}
	}
	else
		return false;

	/* options: *( SEMI 1*keychar ) */
	while (*p == ';')
	{
		p++;
		if (!(isalnum((unsigned char) *p) || *p == '-'))
			return false;
		while ((isalnum((unsigned char) *p) && !IS_HIGHBIT_SET(*p)) || *p == '-')
			p++;
	}
	return *p == '\0';
}

/*
 * A search filter of RFC 4515, checked by recursive descent:
 *
 *	filter	   = "(" filtercomp ")"
 *	filtercomp = "&" *filter / "|" *filter / "!" filter / item
 *	item	   = attr ("=" / "~=" / ">=" / "<=") value	(simple, substring, present)
 *			   / [attr] [":dn"] [":" rule] ":=" value	(extensible)
 *
 * A value holds no unescaped "(", ")" or "\"; an escape is "\" and two hex
 * digits.  "*" is allowed in an equality value (substring, present).  The
 * directory checks what only it knows: the attributes and matching rules.
 */
static bool parse_filter(const char **p, int depth);

static bool
parse_filter_value(const char **p, bool allow_star)
{
	const char *s = *p;

	while (*s && *s != ')')
	{
		if (*s == '(')
			return false;
		if (*s == '*' && !allow_star)
			return false;
		if (*s == '\\')
		{
			if (!isxdigit((unsigned char) s[1]) || !isxdigit((unsigned char) s[2]))
				return false;
			s += 2;
		}
		s++;
	}
	*p = s;
	return true;
}

static bool
parse_filter_item(const char **p)
{
	const char *s = *p;
	const char *start = s;
	char		attr[256];
	bool		equality = false;	/* "=": may hold "*" */

	while (*s && strchr("=~<>:()", *s) == NULL)
		s++;
	if (s - start >= (int) sizeof(attr))
		return false;
	memcpy(attr, start, s - start);
	attr[s - start] = '\0';

	if (*s == ':')
	{
		/* extensible: [attr] [":dn"] [":" rule] ":=" value */
		if (attr[0] != '\0' && !is_attribute_description(attr))
			return false;
		if (strncmp(s, ":dn", 3) == 0 && (s[3] == ':'))
			s += 3;
		if (s[0] == ':' && s[1] != '=')
		{
			const char *rule = ++s;

			while (*s && *s != ':' && *s != ')')
				s++;
			if (s == rule || *s != ':')
				return false;
		}
		else if (attr[0] == '\0')
			return false;		/* without an attribute, a rule is needed */
		if (s[0] != ':' || s[1] != '=')
			return false;
		s += 2;
	}
	else
	{
		if (!is_attribute_description(attr))
			return false;
		if (*s == '=')
		{
			equality = true;
			s++;
		}
		else if ((*s == '~' || *s == '>' || *s == '<') && s[1] == '=')
			s += 2;
		else
			return false;
	}

	if (!parse_filter_value(&s, equality))
		return false;
	*p = s;
	return true;
}

static bool
parse_filter(const char **p, int depth)
{
	const char *s = *p;

	if (depth > 100 || *s != '(')
		return false;
	s++;
	if (*s == '&' || *s == '|')
	{
		s++;
		while (*s == '(')
		{
			if (!parse_filter(&s, depth + 1))
				return false;
		}
	}
	else if (*s == '!')
	{
		s++;
		if (!parse_filter(&s, depth + 1))
			return false;
	}
	else if (!parse_filter_item(&s))
		return false;
	if (*s != ')')
		return false;
	*p = s + 1;
	return true;
}

static bool
is_search_filter(const char *filter)
{
	const char *p = filter;

	return parse_filter(&p, 0) && *p == '\0';
}

bool
is_distinguished_name(const char *value)
{
	LDAPDN		dn = NULL;

	if (value[0] == '\0')
		return false;
	if (ldap_str2dn(value, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		return false;
	ldap_dnfree(dn);
	return true;
}

/*
 * Check one URI of the uri option; on failure, *problem says why.
 */
static bool
is_directory_uri(const char *uri, const char **problem)
{
	LDAPURLDesc *lud = NULL;
	bool		ok = true;

	if (ldap_url_parse(uri, &lud) != LDAP_URL_SUCCESS)
	{
		*problem = "It is not an LDAP URL";
		return false;
	}
	if (pg_strcasecmp(lud->lud_scheme, "ldap") != 0 &&
		pg_strcasecmp(lud->lud_scheme, "ldaps") != 0)
	{
		*problem = "Only ldap:// and ldaps:// are supported";
		ok = false;
	}
	else if (lud->lud_host == NULL || lud->lud_host[0] == '\0')
	{
		*problem = "It names no host";
		ok = false;
	}
	else if ((lud->lud_dn && lud->lud_dn[0]) || lud->lud_attrs ||
			 lud->lud_filter || lud->lud_exts)
	{
		*problem = "The search base belongs in base_dn, not in the URL";
		ok = false;
	}
	ldap_free_urldesc(lud);
	return ok;
}

/*
 * The URIs of the uri option, in order: it separates them by white space
 * (or commas, as ldap.conf's URI does).
 */
List *
split_uri_list(const char *uris)
{
	char	   *copy = pstrdup(uris);
	char	   *save = NULL;
	char	   *uri;
	List	   *result = NIL;

	for (uri = strtok_r(copy, " \t\n,", &save); uri;
		 uri = strtok_r(NULL, " \t\n,", &save))
		result = lappend(result, uri);
	return result;
}

/*
 * The DNs of a base DN option, in order: it separates them by ";".  A
 * backslash escapes the character after it (RFC 4514 writes a ";" in a
 * value as "\;"), and the escape stays in the DN.  White space around each
 * DN goes; an empty DN stays in the list, for the validator to refuse.
 */
List *
split_dn_list(const char *value)
{
	List	   *result = NIL;
	StringInfoData dn;
	const char *p;

	initStringInfo(&dn);
	for (p = value;; p++)
	{
		if (*p == '\\' && p[1] != '\0')
		{
			appendStringInfoChar(&dn, *p++);
			appendStringInfoChar(&dn, *p);
			continue;
		}
		if (*p == ';' || *p == '\0')
		{
			int			start = 0;
			int			end = dn.len;

			while (start < end && scanner_isspace(dn.data[start]))
				start++;
			/* a trailing space escaped by a backslash is part of the DN */
			while (end > start && scanner_isspace(dn.data[end - 1]) &&
				   !(end - 2 >= start && dn.data[end - 2] == '\\'))
				end--;
			result = lappend(result, pnstrdup(dn.data + start, end - start));
			resetStringInfo(&dn);
			if (*p == '\0')
				break;
			continue;
		}
		appendStringInfoChar(&dn, *p);
	}
	pfree(dn.data);
	return result;
}

/* A list of DNs as messages show it. */
char *
dn_list_text(List *dns)
{
	StringInfoData buf;
	ListCell   *cell;

	initStringInfo(&buf);
	foreach(cell, dns)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, "; ");
		appendStringInfoString(&buf, (char *) lfirst(cell));
	}
	return buf.data;
}

/* Does a list of URIs hold one of the scheme ("ldaps:" or "ldap:")? */
static bool
uri_has_scheme(const char *uris, const char *scheme)
{
	ListCell   *cell;

	foreach(cell, split_uri_list(uris))
	{
		if (pg_strncasecmp((char *) lfirst(cell), scheme, strlen(scheme)) == 0)
			return true;
	}
	return false;
}

static bool
uri_has_ldaps(const char *uris)
{
	return uri_has_scheme(uris, "ldaps:");
}

static bool
uri_has_plain(const char *uris)
{
	return uri_has_scheme(uris, "ldap:");
}

static void
invalid_option_value(const PssyncOption *opt, const char *value,
					 const char *problem, const char *hint, bool hide_statement)
{
	/* A secret is never echoed back, not even in an error. */
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 opt->kind == OPTION_SECRET ?
			 errmsg("invalid value for option \"%s\"", opt->name) :
			 errmsg("invalid value for option \"%s\": \"%s\"",
					opt->name, value),
			 problem ? errdetail("%s", problem) : 0,
			 hint ? errhint("%s", hint) : 0,
			 errhidestmt(hide_statement)));
}

/*
 * A base DN option: one DN, or several separated by ";".  Each must be a
 * DN, none twice, and none under another of the list (its entries would
 * count twice).
 */
static void
check_dn_list(const PssyncOption *opt, const char *value, bool hide)
{
	List	   *dns = split_dn_list(value);
	ListCell   *a;
	ListCell   *b;

	foreach(a, dns)
	{
		char	   *dn = (char *) lfirst(a);

		if (dn[0] == '\0')
			invalid_option_value(opt, value,
								 list_length(dns) > 1 ? "One of its DNs is empty." :
								 "It is not a distinguished name.",
								 "Give a DN such as ou=Students,dc=district,dc=org, or several separated by \";\".", hide);
		if (!is_distinguished_name(dn))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"%s\": \"%s\"", opt->name,
							hide ? "..." : dn),
					 errdetail("It is not a distinguished name."),
					 errhint("Give a DN such as ou=Students,dc=district,dc=org, or several separated by \";\" (a \";\" inside a DN is written \"\\;\")."),
					 errhidestmt(hide)));
	}
	foreach(a, dns)
	{
		char	   *dn = (char *) lfirst(a);

		for_each_cell(b, dns, lnext(dns, a))
		{
			char	   *other = (char *) lfirst(b);

			if (directory_dn_in_scope(dn, other, LDAP_SCOPE_BASE))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"%s\": the DN \"%s\" is listed twice",
								opt->name, dn),
						 errdetail("Its entries would be counted twice."),
						 errhint("List each DN once."),
						 errhidestmt(hide)));
			if (directory_dn_in_scope(dn, other, LDAP_SCOPE_SUBTREE) ||
				directory_dn_in_scope(other, dn, LDAP_SCOPE_SUBTREE))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"%s\": the DN \"%s\" lies under \"%s\"",
								opt->name,
								directory_dn_in_scope(dn, other, LDAP_SCOPE_SUBTREE) ? dn : other,
								directory_dn_in_scope(dn, other, LDAP_SCOPE_SUBTREE) ? other : dn),
						 errdetail("Its entries would be counted twice."),
						 errhint("List only the higher of the two DNs."),
						 errhidestmt(hide)));
		}
	}
}

/*
 * Check the value of one option; error out, naming the option, when it is
 * not valid.  Shared by the validator and by pssync_get_server().
 */
static void
check_option_value(const PssyncOption *opt, const char *value, bool hide)
{
	switch (opt->kind)
	{
		case OPTION_URI:
			{
				List	   *uris = split_uri_list(value);
				ListCell   *cell;

				foreach(cell, uris)
				{
					char	   *uri = (char *) lfirst(cell);
					const char *problem = NULL;

					if (!is_directory_uri(uri, &problem))
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"%s\": \"%s\"",
										opt->name, uri),
								 errdetail("%s.", problem),
								 errhint("Give one or more space-separated URIs such as ldap://ldap.district.org or ldaps://dc1.district.org:636."),
								 errhidestmt(hide)));
				}
				if (uris == NIL)
					invalid_option_value(opt, value, "No URI is given.",
										 "Give one or more space-separated URIs such as ldap://ldap.district.org.", hide);
				if (uri_has_ldaps(value) && uri_has_plain(value))
					invalid_option_value(opt, value,
										 "It mixes ldaps:// and ldap:// URIs: when the first could not be reached, the bind password would cross the network unencrypted.",
										 "Use ldaps:// URIs only, or ldap:// URIs only (with starttls 'true').", hide);
				break;
			}
		case OPTION_DN:
			check_dn_list(opt, value, hide);
			break;
		case OPTION_ATTRIBUTE:
			if (!is_attribute_description(value))
				invalid_option_value(opt, value,
									 "It is not an LDAP attribute description.",
									 "Give an attribute name such as uid or sAMAccountName.", hide);
			break;
		case OPTION_FILTER:
			if (!is_search_filter(value))
				invalid_option_value(opt, value, "It is not an LDAP search filter.",
									 "Give one parenthesized filter such as (objectClass=person) or (&(objectCategory=person)(objectClass=user)).", hide);
			break;
		case OPTION_SCOPE:
			if (strcmp(value, "sub") != 0 && strcmp(value, "one") != 0)
				invalid_option_value(opt, value, NULL,
									 "Valid values are \"sub\" (the whole subtree) and \"one\" (one level below the base DN).", hide);
			break;
		case OPTION_BOOLEAN:
			{
				bool		result;

				if (!parse_bool(value, &result))
					invalid_option_value(opt, value, NULL,
										 "Give a boolean such as true or false.", hide);
				break;
			}
		case OPTION_PATH:
			if (!is_absolute_path(value))
				invalid_option_value(opt, value, NULL,
									 "Give the absolute path of a file of PEM certificates.", hide);
			break;
		case OPTION_SECONDS:
			{
				char	   *end;
				double		seconds;

				errno = 0;
				seconds = strtod(value, &end);
				if (errno != 0 || end == value || *end != '\0' ||
					isnan(seconds) || seconds <= 0 ||
					seconds > MAX_TIMEOUT_SECONDS)
					invalid_option_value(opt, value, NULL,
										 "Give a number of seconds greater than 0 and at most 86400.", hide);
				break;
			}
		case OPTION_PAGE_SIZE:
			{
				char	   *end;
				long		size;

				errno = 0;
				size = strtol(value, &end, 10);
				if (errno != 0 || end == value || *end != '\0' ||
					size < 1 || size > MAX_PAGE_SIZE)
					invalid_option_value(opt, value, NULL,
										 "Give a whole number of entries from 1 to 100000.", hide);
				break;
			}
		case OPTION_TEXT:
			if (value[0] == '\0')
				invalid_option_value(opt, value, "It is empty.", NULL, hide);
			break;
		case OPTION_SECRET:
			if (value[0] == '\0')
				invalid_option_value(opt, value, "It is empty.",
									 "Give the bind account's password, or drop the option (and bind_dn) to bind anonymously.",
									 hide);
			break;
	}
}

static char *
valid_option_names(Oid context)
{
	const PssyncOption *opt;
	StringInfoData buf;

	initStringInfo(&buf);
	for (opt = pssync_options; opt->name; opt++)
	{
		if (opt->context == context)
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", opt->name);
	}
	return buf.data;
}

/*
 * Validate the generic options given for the pssync foreign data wrapper,
 * a server of it, or a user mapping for such a server.
 *
 * The statement that set a password would be logged with the error
 * (log_min_error_statement), so errors about an option list that holds one
 * hide the statement.
 */
Datum
pssync_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	bool		has_secret = false;
	bool		starttls = false;
	char	   *uri = NULL;
	char	   *bind_dn = NULL;
	ListCell   *cell;
	const PssyncOption *opt;

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "password") == 0)
			has_secret = true;
	}

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);
		char	   *value = defGetString(def);

		opt = find_option(def->defname);
		if (opt == NULL || opt->context != catalog)
		{
			if (opt != NULL && opt->context == UserMappingRelationId)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("option \"%s\" is only valid in a user mapping",
								def->defname),
						 errhint("Store the directory's credentials with CREATE USER MAPPING FOR ... SERVER ... OPTIONS (bind_dn '...', password '...')."),
						 errhidestmt(true)));
			if (opt != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("option \"%s\" is only valid for a server",
								def->defname),
						 errhint("Set it with ALTER SERVER ... OPTIONS (ADD %s '...').",
								 def->defname),
						 errhidestmt(has_secret)));
			if (catalog == ForeignServerRelationId ||
				catalog == UserMappingRelationId)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("invalid option \"%s\"", def->defname),
						 errhint("Valid options in this context are: %s.",
								 valid_option_names(catalog)),
						 errhidestmt(has_secret)));
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 errhint("The pssync foreign data wrapper takes no options; give them to its servers and user mappings."),
					 errhidestmt(has_secret)));
		}

		check_option_value(opt, value, has_secret);

		if (strcmp(opt->name, "starttls") == 0)
			(void) parse_bool(value, &starttls);
		else if (strcmp(opt->name, "uri") == 0)
			uri = value;
		else if (strcmp(opt->name, "bind_dn") == 0)
			bind_dn = value;
	}

	/*
	 * Without shared_preload_libraries, the backend that runs this
	 * statement loaded pssync (and its log filter) only now: the statement
	 * may have been logged already.
	 */
	if (catalog == UserMappingRelationId && has_secret && !pssync_preloaded)
		ereport(WARNING,
				(errmsg("pssync is not in shared_preload_libraries: this statement may have been written to the server log with its password"),
				 errdetail("pssync's log filter masks passwords only in the backends that load it before their first statement."),
				 errhint("Add pssync to shared_preload_libraries and restart the server; then change this password."),
				 errhidestmt(true)));

	if (catalog == ForeignServerRelationId)
	{
		for (opt = pssync_options; opt->name; opt++)
		{
			bool		found = false;

			if (opt->context != catalog || !opt->required)
				continue;
			foreach(cell, options)
			{
				if (strcmp(((DefElem *) lfirst(cell))->defname, opt->name) == 0)
					found = true;
			}
			if (!found)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
						 errmsg("option \"%s\" is required for a pssync server",
								opt->name),
						 errhint("For example: %s", EXAMPLE_CREATE_SERVER)));
		}
		if (starttls && uri && uri_has_ldaps(uri))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("option \"starttls\" cannot be used with an ldaps:// URI"),
					 errdetail("An ldaps:// connection is encrypted from the start; StartTLS upgrades an ldap:// connection."),
					 errhint("Use either ldaps:// URIs, or ldap:// URIs with starttls 'true'.")));
	}

	if (catalog == UserMappingRelationId && has_secret && bind_dn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"password\" requires option \"bind_dn\""),
				 errhint("Give the DN (or, for Active Directory, the user principal name) of the account to bind as."),
				 errhidestmt(true)));

	PG_RETURN_VOID();
}

static int
list_sort_cmp_names(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/*
 * The pssync server a sync uses: the one named by pssync.server, or else
 * the only server of the pssync foreign data wrapper.
 */
static ForeignServer *
choose_server(void)
{
	ForeignDataWrapper *fdw;
	ForeignServer *server;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *names = NIL;
	Oid			found = InvalidOid;

	fdw = GetForeignDataWrapperByName("pssync", false);

	if (pssync_server_name && pssync_server_name[0] != '\0')
	{
		server = GetForeignServerByName(pssync_server_name, true);
		if (server == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("server \"%s\" does not exist", pssync_server_name),
					 errhint("Set pssync.server to the name of a server of the pssync foreign data wrapper, or create it: %s",
							 EXAMPLE_CREATE_SERVER)));
		if (server->fdwid != fdw->fdwid)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("server \"%s\" is not a pssync server",
							pssync_server_name),
					 errhint("Set pssync.server to the name of a server of the pssync foreign data wrapper.")));
		return server;
	}

	rel = table_open(ForeignServerRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_foreign_server form = (Form_pg_foreign_server) GETSTRUCT(tuple);

		if (form->srvfdw != fdw->fdwid)
			continue;
		found = form->oid;
		names = lappend(names, pstrdup(NameStr(form->srvname)));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (list_length(names) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no pssync server is defined"),
				 errhint("Create one for the district's directory, for example: %s",
						 EXAMPLE_CREATE_SERVER)));
	if (list_length(names) > 1)
	{
		StringInfoData buf;
		ListCell   *cell;

		list_sort(names, list_sort_cmp_names);
		initStringInfo(&buf);
		foreach(cell, names)
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
							 quote_identifier((char *) lfirst(cell)));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("more than one pssync server is defined"),
				 errdetail("The pssync servers are: %s.", buf.data),
				 errhint("Choose one with SET pssync.server = '...'.")));
	}
	return GetForeignServer(found);
}

/*
 * The options of the user mapping for the current user, or else of the
 * PUBLIC one; NIL when there is none (an anonymous bind).
 */
static List *
user_mapping_options(Oid serverid)
{
	HeapTuple	tuple;
	Datum		datum;
	bool		isnull;
	List	   *options = NIL;

	tuple = SearchSysCache2(USERMAPPINGUSERSERVER,
							ObjectIdGetDatum(GetUserId()),
							ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tuple))
		tuple = SearchSysCache2(USERMAPPINGUSERSERVER,
								ObjectIdGetDatum(InvalidOid),
								ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tuple))
		return NIL;

	datum = SysCacheGetAttr(USERMAPPINGUSERSERVER, tuple,
							Anum_pg_user_mapping_umoptions, &isnull);
	if (!isnull)
		options = untransformRelOptions(datum);
	ReleaseSysCache(tuple);
	return options;
}

/*
 * The value of option "name" in a list of DefElems, or NULL.
 */
static char *
option_value(List *options, const char *name)
{
	ListCell   *cell;

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}

static char *
option_value_or(List *options, const char *name, char *fallback)
{
	char	   *value = option_value(options, name);

	return value ? value : fallback;
}

/*
 * Read the configuration of the server a sync uses: its options, with
 * defaults filled in, and the credentials of the current user's mapping.
 * The options were checked by the validator when they were set; they are
 * checked again here, since the validator of an older version may have set
 * them.
 */
PssyncServer *
pssync_get_server(void)
{
	ForeignServer *fs = choose_server();
	PssyncServer *server;
	List	   *options = fs->options;
	List	   *mapping = user_mapping_options(fs->serverid);
	char	   *base_dn;
	char	   *uid_attr;
	char	   *value;
	ListCell   *cell;

	/*
	 * Using a server's account takes USAGE on the server, as dblink and
	 * postgres_fdw require: pssync.server is any role's to set.
	 */
	if (pssync_foreign_server_aclcheck(fs->serverid, GetUserId(),
									   ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for foreign server %s",
						fs->servername),
				 errdetail("A sync, ldap_lookup and ldap_assign use the directory account of the server they use."),
				 errhint("GRANT USAGE ON FOREIGN SERVER %s TO %s;",
						 quote_identifier(fs->servername),
						 quote_identifier(GetUserNameFromId(GetUserId(), false)))));

	server = palloc0(sizeof(PssyncServer));
	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);
		const PssyncOption *opt = find_option(def->defname);

		if (opt && opt->context == ForeignServerRelationId)
			check_option_value(opt, defGetString(def), false);
	}

	server->serverid = fs->serverid;
	server->servername = pstrdup(fs->servername);
	server->uri = option_value(options, "uri");
	base_dn = option_value(options, "base_dn");
	if (server->uri == NULL || base_dn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("server \"%s\" lacks the options \"uri\" and \"base_dn\"",
						server->servername),
				 errhint("ALTER SERVER %s OPTIONS (ADD uri '...', ADD base_dn '...');",
						 quote_identifier(server->servername))));

	server->base_dn[GROUP_STUDENTS] = option_value_or(options, "student_base_dn", base_dn);
	server->base_dn[GROUP_STAFF] = option_value_or(options, "staff_base_dn", base_dn);
	server->base_dns[GROUP_STUDENTS] = split_dn_list(server->base_dn[GROUP_STUDENTS]);
	server->base_dns[GROUP_STAFF] = split_dn_list(server->base_dn[GROUP_STAFF]);
	uid_attr = option_value_or(options, "uid_attr", DEFAULT_UID_ATTR);
	server->uid_attr[GROUP_STUDENTS] = option_value_or(options, "student_uid_attr", uid_attr);
	server->uid_attr[GROUP_STAFF] = option_value_or(options, "staff_uid_attr", uid_attr);
	server->id_attr[GROUP_STUDENTS] = option_value(options, "student_id_attr");
	server->id_attr[GROUP_STAFF] = option_value(options, "staff_id_attr");
	server->entry_id_attr = option_value(options, "entry_id_attr");
	server->first_name_attr = option_value_or(options, "first_name_attr",
											  DEFAULT_FIRST_NAME_ATTR);
	server->last_name_attr = option_value_or(options, "last_name_attr",
											 DEFAULT_LAST_NAME_ATTR);
	server->filter = option_value_or(options, "filter", DEFAULT_FILTER);

	value = option_value(options, "scope");
	server->scope = (value && strcmp(value, "one") == 0) ?
		LDAP_SCOPE_ONELEVEL : LDAP_SCOPE_SUBTREE;
	value = option_value(options, "starttls");
	server->starttls = false;
	if (value)
		(void) parse_bool(value, &server->starttls);
	value = option_value(options, "referrals");
	server->referrals = false;
	if (value)
		(void) parse_bool(value, &server->referrals);
	server->ca_file = option_value(options, "ca_file");
	value = option_value(options, "timeout");
	server->timeout_ms = value ?
		(int) ceil(strtod(value, NULL) * 1000.0) : DEFAULT_TIMEOUT_MS;
	value = option_value(options, "page_size");
	server->page_size = value ? (int) strtol(value, NULL, 10) : DEFAULT_PAGE_SIZE;

	server->bind_dn = option_value(mapping, "bind_dn");
	server->password = option_value(mapping, "password");
	if (server->password && server->password[0] == '\0')
		server->password = NULL;	/* set before 1.1 refused it */

	return server;
}

/*
 * The base DNs of a group's entries: the searches of one record
 * (suggestions) go to each, and a group's entries are the union of what
 * is found under them.
 */
List *
server_base_dns(PssyncServer *server, RecordGroup group)
{
	return server->base_dns[group];
}

/*
 * A uid_attr argument given to a function: it must be an attribute
 * description before anything is searched.
 */
void
check_uid_attr_argument(const char *uid_attr)
{
	if (!is_attribute_description(uid_attr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid LDAP attribute name \"%s\"", uid_attr),
				 errdetail("The user ID attribute must be an attribute description of RFC 4512, such as uid, sAMAccountName or 0.9.2342.19200300.100.1.1."),
				 errhint("Pass NULL to use the server's student_uid_attr or staff_uid_attr.")));
}

static char *
copy_string(const char *s)
{
	return s ? pstrdup(s) : NULL;
}

/*
 * A copy of a server's configuration, in the current memory context (the
 * background worker keeps one between its transactions).
 */
PssyncServer *
copy_server(PssyncServer *server)
{
	PssyncServer *copy = palloc(sizeof(PssyncServer));
	int			g;

	*copy = *server;
	copy->servername = copy_string(server->servername);
	copy->uri = copy_string(server->uri);
	for (g = 0; g < 2; g++)
	{
		ListCell   *cell;

		copy->base_dn[g] = copy_string(server->base_dn[g]);
		copy->base_dns[g] = NIL;
		foreach(cell, server->base_dns[g])
			copy->base_dns[g] = lappend(copy->base_dns[g],
										copy_string((char *) lfirst(cell)));
		copy->uid_attr[g] = copy_string(server->uid_attr[g]);
		copy->id_attr[g] = copy_string(server->id_attr[g]);
	}
	copy->entry_id_attr = copy_string(server->entry_id_attr);
	copy->first_name_attr = copy_string(server->first_name_attr);
	copy->last_name_attr = copy_string(server->last_name_attr);
	copy->filter = copy_string(server->filter);
	copy->ca_file = copy_string(server->ca_file);
	copy->bind_dn = copy_string(server->bind_dn);
	copy->password = copy_string(server->password);
	return copy;
}
