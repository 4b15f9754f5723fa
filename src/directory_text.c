/*-------------------------------------------------------------------------
 *
 * directory_text.c
 *		  Text to and from the directory: the database's encoding and the
 *		  directory's UTF-8, the escaping of filter values, and the
 *		  filters pssync builds from names and IDs.
 *
 * Every value put into a filter goes through directory_escape_filter_value
 * (RFC 4515, by libldap), so that a name such as "*" or "John)(uid=*"
 * matches only itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "directory_int.h"

/*
 * A string in the server encoding, in UTF-8 for the directory (the same
 * pointer when nothing needs converting).
 */
char *
directory_to_utf8(const char *s)
{
	return pg_server_to_any(s, strlen(s), PG_UTF8);
}

/*
 * A string from the directory (UTF-8, len bytes) in the server encoding,
 * or NULL when it cannot be text there: a NUL byte, invalid UTF-8, or a
 * character the database's encoding lacks.  Without copy, s itself is
 * returned when it needs no conversion.
 */
static char *
from_directory(const char *s, size_t len, bool copy)
{
	int			encoding = GetDatabaseEncoding();
	Oid			proc;
	char	   *converted;

	if (memchr(s, '\0', len) != NULL || !pg_verify_mbstr(PG_UTF8, s, len, true))
		return NULL;
	if (encoding == PG_UTF8 || encoding == PG_SQL_ASCII)
		return copy ? pnstrdup(s, len) : unconstify(char *, s);

	proc = FindDefaultConversionProc(PG_UTF8, encoding);
	if (!OidIsValid(proc))
		return NULL;
	converted = palloc(len * MAX_CONVERSION_GROWTH + 1);
	if (pg_do_encoding_conversion_buf(proc, PG_UTF8, encoding,
									  (unsigned char *) s, len,
									  (unsigned char *) converted,
									  len * MAX_CONVERSION_GROWTH + 1,
									  true) != (int) len)
	{
		pfree(converted);
		return NULL;
	}
	return converted;
}

/*
 * A directory value as a username or other text the tables keep: in the
 * server encoding, or NULL when it cannot be text there.  The value itself
 * is returned when it needs no conversion (s must then stay as long as the
 * result is used).
 */
char *
directory_value_text(const char *s, size_t len)
{
	return from_directory(s, len, false);
}

/*
 * A string from the directory (a DN, a name) in the server encoding, for
 * showing.  What the database's encoding cannot hold (or what is not
 * UTF-8) is written as RFC 4514 escapes of its bytes (\xx), which keeps a
 * DN valid and the same DN to the directory; this never fails.
 */
char *
directory_text(const char *s, size_t len)
{
	char	   *text = from_directory(s, len, true);
	StringInfoData buf;
	size_t		i;

	if (text)
		return text;
	initStringInfo(&buf);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x20 && c < 0x7f)
			appendStringInfoChar(&buf, c);
		else
			appendStringInfo(&buf, "\\%02x", c);
	}
	return buf.data;
}

/*
 * Escape a value for an LDAP search filter (RFC 4515), with libldap's
 * ldap_bv2escaped_filter_value.  The value is in the server encoding; the
 * result is UTF-8, as the directory expects.
 */
char *
directory_escape_filter_value(const char *value)
{
	return directory_escape_utf8_value(directory_to_utf8(value));
}

/* The same, for a value already in UTF-8. */
char *
directory_escape_utf8_value(const char *utf8)
{
	struct berval in;
	struct berval out = {0, NULL};
	char	   *result;

	in.bv_val = unconstify(char *, utf8);
	in.bv_len = strlen(utf8);
	if (ldap_bv2escaped_filter_value(&in, &out) != 0)
		elog(ERROR, "could not escape an LDAP filter value");
	result = pnstrdup(out.bv_val, out.bv_len);
	ber_memfree(out.bv_val);
	return result;
}

/*
 * The filter of the entries of the server's filter whose attribute equals
 * a value: "(&FILTER(attr=value))", the value escaped.
 */
char *
directory_equality_filter(PssyncServer *server, const char *attr,
						  const char *value)
{
	return psprintf("(&%s(%s=%s))", directory_to_utf8(server->filter),
					attr, directory_escape_filter_value(value));
}

/*
 * The filter of the entries of the server's filter with a last name and,
 * unless first is NULL, a first name (in the server encoding, as
 * search_name() gives them): "(&FILTER(givenName=first)(sn=last))".
 */
char *
directory_name_filter(PssyncServer *server, const char *first,
					  const char *last)
{
	if (first == NULL)
		return directory_equality_filter(server, server->last_name_attr, last);
	return psprintf("(&%s(%s=%s)(%s=%s))", directory_to_utf8(server->filter),
					server->first_name_attr, directory_escape_filter_value(first),
					server->last_name_attr, directory_escape_filter_value(last));
}

/*
 * Permanent IDs of entries (2.0's links).
 *
 * Active Directory's objectGUID (and mS-DS-ConsistencyGuid, which Entra
 * Connect copies it to) holds 16 binary bytes.  It is kept and shown in the
 * form Windows tools show: lower case, 8-4-4-4-12, the first three groups
 * byte-swapped (Microsoft's GUID layout stores Data1, Data2 and Data3 little
 * endian), and searched with each byte escaped.  Any other ID attribute
 * (entryUUID, or an ID of the district's) is text.
 */
bool
directory_is_guid_attribute(const char *attr)
{
	return pg_strcasecmp(attr, "objectGUID") == 0 ||
		pg_strcasecmp(attr, "mS-DS-ConsistencyGuid") == 0;
}

/* The order in which the GUID string form shows the 16 bytes. */
static const int guid_byte_order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

/*
 * An entry's permanent ID, as text, from the values of attr: its first
 * value (an entry has one), or NULL when it has none, or a GUID attribute
 * holds something other than 16 bytes.
 */
char *
directory_entry_id(const char *attr, DirectoryValues *values)
{
	StringInfoData buf;
	int			i;

	if (values->count < 1)
		return NULL;
	if (!directory_is_guid_attribute(attr))
		return directory_text(values->values[0], values->lengths[0]);
	if (values->lengths[0] != 16)
		return NULL;
	initStringInfo(&buf);
	for (i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			appendStringInfoChar(&buf, '-');
		appendStringInfo(&buf, "%02x",
						 (unsigned char) values->values[0][guid_byte_order[i]]);
	}
	return buf.data;
}

/*
 * An entry ID as a filter value, escaped: a GUID's 16 bytes each as \xx,
 * anything else as text.  NULL when a GUID attribute's ID is not a GUID.
 */
char *
directory_entry_id_filter_value(const char *attr, const char *entry_id)
{
	unsigned char bytes[16];
	StringInfoData buf;
	int			n = 0;
	const char *p;
	int			i;

	if (!directory_is_guid_attribute(attr))
		return directory_escape_filter_value(entry_id);
	for (p = entry_id; *p && n < 16; p++)
	{
		char		hex[3];

		if (*p == '-')
			continue;
		if (!isxdigit((unsigned char) p[0]) || !isxdigit((unsigned char) p[1]))
			return NULL;
		hex[0] = p[0];
		hex[1] = p[1];
		hex[2] = '\0';
		bytes[guid_byte_order[n++]] = (unsigned char) strtol(hex, NULL, 16);
		p++;
	}
	if (n != 16 || *p != '\0')
		return NULL;
	initStringInfo(&buf);
	for (i = 0; i < 16; i++)
		appendStringInfo(&buf, "\\%02x", bytes[i]);
	return buf.data;
}

/*
 * Is a DN (server encoding) in the scope of a search of a base DN: the base
 * or any entry under it (LDAP_SCOPE_SUBTREE), an entry directly below it
 * (LDAP_SCOPE_ONELEVEL), or the base itself (LDAP_SCOPE_BASE)?  Compared RDN by RDN from the root, attribute
 * types and values ignoring ASCII case.
 */
bool
directory_dn_in_scope(const char *dn, const char *base, int scope)
{
	LDAPDN		parsed_dn = NULL;
	LDAPDN		parsed_base = NULL;
	int			n_dn = 0;
	int			n_base = 0;
	bool		under = false;
	int			i;

	if (ldap_str2dn(directory_to_utf8(dn), &parsed_dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
		ldap_str2dn(directory_to_utf8(base), &parsed_base, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
		parsed_dn && parsed_base)
	{
		while (parsed_dn[n_dn])
			n_dn++;
		while (parsed_base[n_base])
			n_base++;
		under = scope == LDAP_SCOPE_ONELEVEL ? n_dn == n_base + 1 :
			scope == LDAP_SCOPE_BASE ? n_dn == n_base : n_dn >= n_base;
		for (i = 1; under && i <= n_base; i++)
		{
			LDAPRDN		a = parsed_dn[n_dn - i];
			LDAPRDN		b = parsed_base[n_base - i];
			int			k;

			for (k = 0; under && (a[k] || b[k]); k++)
			{
				if (!a[k] || !b[k] ||
					a[k]->la_attr.bv_len != b[k]->la_attr.bv_len ||
					a[k]->la_value.bv_len != b[k]->la_value.bv_len ||
					pg_strncasecmp(a[k]->la_attr.bv_val, b[k]->la_attr.bv_val,
								   a[k]->la_attr.bv_len) != 0 ||
					pg_strncasecmp(a[k]->la_value.bv_val, b[k]->la_value.bv_val,
								   a[k]->la_value.bv_len) != 0)
					under = false;
			}
		}
	}
	if (parsed_dn)
		ldap_dnfree(parsed_dn);
	if (parsed_base)
		ldap_dnfree(parsed_base);
	return under;
}

/*
 * A copy of a set of directory values, in the arena if one is given, else
 * in the current memory context.
 */
void
copy_directory_values(Arena *arena, DirectoryValues *to, DirectoryValues *from)
{
	Size		count = Max(from->count, 1);
	int			i;

	to->count = from->count;
	if (arena)
	{
		to->values = arena_alloc(arena, sizeof(char *) * count);
		to->lengths = arena_alloc(arena, sizeof(int) * count);
	}
	else
	{
		to->values = palloc(sizeof(char *) * count);
		to->lengths = palloc(sizeof(int) * count);
	}
	for (i = 0; i < from->count; i++)
	{
		to->values[i] = copy_bytes(arena, from->values[i], from->lengths[i]);
		to->lengths[i] = from->lengths[i];
	}
}
