/*-------------------------------------------------------------------------
 *
 * names.c
 *		  Names as pssync compares them, in memory.
 *
 * The directory decides whether two names are equal, by its own matching
 * rule (caseIgnoreMatch in OpenLDAP, its own collation in Active
 * Directory).  In memory, pssync only relies on what every directory
 * agrees on:
 *
 *	- a "plain" name, made of printable ASCII with single spaces between
 *	  words, equals another plain name exactly when both are equal after
 *	  ASCII lower-casing;
 *
 * and for everything else it computes a "skeleton": a key that two names a
 * directory may consider equal always share (lower-cased ASCII letters of
 * the compatibility decomposition, the few letters whose case mapping is
 * ASCII, and white space collapsed).  Names with the same skeleton are only
 * candidates: the directory itself is asked about them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/unicode_norm.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "parser/scansup.h"

#include "pssync.h"

/*
 * A name as it is searched for: white space removed from both ends, and
 * inner runs of spaces reduced to one, as directories compare names (a tab
 * or any other character inside a name stays).  NULL when nothing is left.
 */
char *
search_name(const char *name)
{
	const char *start;
	const char *end;
	StringInfoData buf;

	if (name == NULL)
		return NULL;
	for (start = name; *start && scanner_isspace(*start); start++)
		;
	for (end = start + strlen(start); end > start && scanner_isspace(end[-1]); end--)
		;
	if (end == start)
		return NULL;

	initStringInfo(&buf);
	for (; start < end; start++)
	{
		if (*start == ' ' && buf.len > 0 && buf.data[buf.len - 1] == ' ')
			continue;
		appendStringInfoChar(&buf, *start);
	}
	return buf.data;
}

/*
 * Is a name "plain": printable ASCII, not empty, no space at either end
 * and never two in a row?
 */
bool
is_plain_name(const char *name, int length)
{
	int			i;

	if (length <= 0 || name[0] == ' ' || name[length - 1] == ' ')
		return false;
	for (i = 0; i < length; i++)
	{
		unsigned char c = (unsigned char) name[i];

		if (c < 0x20 || c > 0x7e)
			return false;
		if (c == ' ' && name[i + 1] == ' ')
			return false;
	}
	return true;
}

/*
 * The key of a plain name: lower-cased.
 */
char *
plain_name_key(const char *name, int length)
{
	char	   *key = palloc(length + 1);
	int			i;

	for (i = 0; i < length; i++)
		key[i] = pg_ascii_tolower((unsigned char) name[i]);
	key[length] = '\0';
	return key;
}

static void
append_skeleton_char(StringInfo buf, pg_wchar c)
{
	if (c >= 0x80)
		return;					/* not ASCII: no part of the skeleton */
	if (c < 0x20 || c == 0x7f || c == ' ')
	{
		/* white space and controls: at most one space between words */
		if (buf->len > 0 && buf->data[buf->len - 1] != ' ')
			appendStringInfoChar(buf, ' ');
		return;
	}
	appendStringInfoChar(buf, pg_ascii_tolower((unsigned char) c));
}

/*
 * The skeleton of a name (UTF-8, possibly invalid): see the head of the
 * file.  For a plain name, it is its key.
 */
char *
name_skeleton(const char *name, int length)
{
	StringInfoData buf;
	pg_wchar   *chars;
	pg_wchar   *decomposed;
	int			n = 0;
	int			i = 0;

	if (is_plain_name(name, length))
		return plain_name_key(name, length);

	/* decode, skipping bytes that are not UTF-8 */
	chars = palloc(sizeof(pg_wchar) * (length + 1));
	while (i < length)
	{
		const unsigned char *p = (const unsigned char *) name + i;
		int			len = pg_utf_mblen(p);

		if (len <= 0 || i + len > length || !pg_utf8_islegal(p, len))
		{
			i++;
			continue;
		}
		chars[n] = utf8_to_unicode(p);
		switch (chars[n])
		{
				/* the letters whose simple case mapping is ASCII */
			case 0x0130:		/* LATIN CAPITAL LETTER I WITH DOT ABOVE */
			case 0x0131:		/* LATIN SMALL LETTER DOTLESS I */
				chars[n] = 'i';
				break;
			case 0x017f:		/* LATIN SMALL LETTER LONG S */
				chars[n] = 's';
				break;
			case 0x212a:		/* KELVIN SIGN */
				chars[n] = 'k';
				break;
		}
		if (chars[n] != 0)
			n++;
		i += len;
	}
	chars[n] = 0;

	decomposed = unicode_normalize(UNICODE_NFKD, chars);
	initStringInfo(&buf);
	for (i = 0; decomposed[i]; i++)
		append_skeleton_char(&buf, decomposed[i]);
	if (buf.len > 0 && buf.data[buf.len - 1] == ' ')
		buf.data[--buf.len] = '\0';
	pfree(chars);
	pfree(decomposed);
	return buf.data;
}
