/*-------------------------------------------------------------------------
 *
 * directory_schema.c
 *		  The directory's schema: the names an attribute is asked for and
 *		  returned under.
 *
 * An attribute may be asked for by a name or an OID, and a directory may
 * return it under another name: an alias (AD returns "sn" for "surname"),
 * the name of one asked for by OID, or a subtype.  The directory's
 * attribute types, read from its subschema entry when first needed,
 * resolve them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ldap_schema.h>

#include "utils/memutils.h"

#include "directory_int.h"

typedef struct TypeCacheEntry
{
	char	   *name;			/* lower-case attribute name or OID */
	int			type;			/* index in attribute_types, or -1 */
} TypeCacheEntry;

/*
 * An attribute description: its type (name or OID) and its options.
 */
static void
split_attribute(const char *description, size_t len, char **type,
				const char **options)
{
	const char *semicolon = memchr(description, ';', len);
	size_t		type_len = semicolon ? (size_t) (semicolon - description) : len;
	size_t		i;

	*type = palloc(type_len + 1);
	for (i = 0; i < type_len; i++)
		(*type)[i] = pg_ascii_tolower((unsigned char) description[i]);
	(*type)[type_len] = '\0';
	*options = semicolon ? pnstrdup(semicolon, len - type_len) : "";
}

static void
collect_first_value(void *arg, const char *dn pg_attribute_unused(),
					DirectoryValues *values)
{
	List	  **found = (List **) arg;
	int			i;

	for (i = 0; i < values[0].count; i++)
		*found = lappend(*found, copy_bytes(NULL, values[0].values[i], values[0].lengths[i]));
}

/*
 * Read the directory's attribute types (from its subschema entry), to
 * resolve the names and OIDs by which an attribute may be asked for and
 * returned.  A directory that does not show its schema leaves the list
 * empty: then only the names as given match.
 */
void
directory_read_schema(PssyncDirectory *dir)
{
	const char *root_attrs[] = {"subschemaSubentry", NULL};
	const char *schema_attrs[] = {"attributeTypes", NULL};
	List	   *subschema = NIL;
	List	   *definitions = NIL;
	ListCell   *cell;
	int			rc;

	MemoryContext old = MemoryContextSwitchTo(dir->cxt);

	dir->schema_read = true;
	directory_search_scope(dir, "", LDAP_SCOPE_BASE, "(objectClass=*)",
						   root_attrs, collect_first_value, &subschema, &rc);
	if (subschema == NIL)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	directory_search_scope(dir, (char *) linitial(subschema), LDAP_SCOPE_BASE,
						   "(objectClass=subschema)", schema_attrs,
						   collect_first_value, &definitions, &rc);

	foreach(cell, definitions)
	{
		LDAPAttributeType *at;
		const char *errp;
		int			code;
		List	   *names = NIL;
		int			i;

		at = ldap_str2attributetype((char *) lfirst(cell), &code, &errp,
									LDAP_SCHEMA_ALLOW_ALL);
		if (at == NULL)
			continue;
		if (at->at_oid)
			names = lappend(names, pstrdup(at->at_oid));
		for (i = 0; at->at_names && at->at_names[i]; i++)
			names = lappend(names, pstrdup(at->at_names[i]));
		ldap_attributetype_free(at);
		dir->attribute_types = lappend(dir->attribute_types, names);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The index of an attribute type (a name, in any case, or an OID) among
 * the directory's attribute types, or -1.
 */
static int
attribute_type(PssyncDirectory *dir, const char *type)
{
	TypeCacheEntry *entry;
	ListCell   *cell;
	MemoryContext old;
	int			index = 0;

	foreach(cell, dir->type_cache)
	{
		entry = (TypeCacheEntry *) lfirst(cell);
		if (strcmp(entry->name, type) == 0)
			return entry->type;
	}

	/* read before the search that needs it (directory_search_scope) */
	Assert(dir->schema_read);

	entry = MemoryContextAlloc(dir->cxt, sizeof(TypeCacheEntry));
	entry->name = MemoryContextStrdup(dir->cxt, type);
	entry->type = -1;
	foreach(cell, dir->attribute_types)
	{
		ListCell   *name;

		foreach(name, (List *) lfirst(cell))
		{
			if (pg_strcasecmp((char *) lfirst(name), type) == 0)
				entry->type = index;
		}
		if (entry->type >= 0)
			break;
		index++;
	}
	old = MemoryContextSwitchTo(dir->cxt);
	dir->type_cache = lappend(dir->type_cache, entry);
	MemoryContextSwitchTo(old);
	return entry->type;
}

/*
 * The name by which to ask for an attribute description: the first name
 * the directory's schema gives its type (with the options kept), or the
 * description itself when the schema does not know it.  Some directories
 * mishandle a paged search for an attribute asked for by OID.
 */
const char *
directory_schema_name(PssyncDirectory *dir, const char *description)
{
	char	   *type;
	const char *options;
	List	   *names;
	int			index;

	split_attribute(description, strlen(description), &type, &options);
	index = attribute_type(dir, type);
	if (index < 0)
		return description;
	names = (List *) list_nth(dir->attribute_types, index);
	if (list_length(names) < 2)
		return description;		/* only an OID */
	return psprintf("%s%s", (char *) lsecond(names), options);
}

/*
 * Does a returned attribute description answer a requested one: the same
 * type (by name, ignoring case, or through the schema, by an alias or the
 * OID), and the requested options, if any, the same?  A request without
 * options is answered by the type's subtypes too (RFC 4511).
 */
bool
directory_attribute_answers(PssyncDirectory *dir, const char *requested,
				  const char *returned, size_t len, bool use_schema)
{
	char	   *requested_type;
	char	   *returned_type;
	const char *requested_options;
	const char *returned_options;
	bool		same;

	split_attribute(requested, strlen(requested), &requested_type, &requested_options);
	split_attribute(returned, len, &returned_type, &returned_options);
	if (requested_options[0] != '\0' &&
		pg_strcasecmp(requested_options, returned_options) != 0)
		return false;
	same = strcmp(requested_type, returned_type) == 0;
	if (!same && use_schema)
	{
		int			type = attribute_type(dir, requested_type);

		same = type >= 0 && type == attribute_type(dir, returned_type);
	}
	return same;
}

/*
 * The attribute that holds entries' permanent IDs: the server's
 * entry_id_attr, or by the directory's kind, from its root DSE: objectGUID
 * for Active Directory (whose supportedCapabilities hold
 * 1.2.840.113556.1.4.800, LDAP_CAP_ACTIVE_DIRECTORY_OID), entryUUID
 * (RFC 4530) for the others, OpenLDAP and 389-DS among them.
 */
#define ACTIVE_DIRECTORY_CAPABILITY "1.2.840.113556.1.4.800"

const char *
directory_entry_id_attr(PssyncDirectory *dir)
{
	const char *root_attrs[] = {"supportedCapabilities", NULL};
	List	   *capabilities = NIL;
	ListCell   *cell;
	int			rc;

	if (dir->entry_id_attr)
		return dir->entry_id_attr;
	if (dir->server->entry_id_attr)
		return dir->entry_id_attr = dir->server->entry_id_attr;

	dir->entry_id_attr = "entryUUID";
	directory_search_scope(dir, "", LDAP_SCOPE_BASE, "(objectClass=*)",
						   root_attrs, collect_first_value, &capabilities, &rc);
	foreach(cell, capabilities)
	{
		if (strcmp((char *) lfirst(cell), ACTIVE_DIRECTORY_CAPABILITY) == 0)
			dir->entry_id_attr = "objectGUID";
	}
	return dir->entry_id_attr;
}

