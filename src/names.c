/*-------------------------------------------------------------------------
 *
 * names.c
 *		  Names as pssync compares them, in memory.
 *
 * The directory decides whether two names are equal, by its own matching
 * rule (caseIgnoreMatch in OpenLDAP, its own collation in Active
 * Directory, RFC 4518's string preparation in others).  In memory, pssync
 * only relies on what every directory agrees on:
 *
 *	- a "plain" name, made of printable ASCII with single spaces between
 *	  words, equals another plain name exactly when both are equal after
 *	  ASCII lower-casing;
 *	- any name equals the same bytes;
 *
 * and for everything else it computes a "skeleton": a key that two names a
 * directory may consider equal always share.  It keeps the printable ASCII
 * of the name's compatibility decomposition (NFKD), lower-cased, and drops
 * everything else: white space and separators of every kind (which a
 * directory may map to a space, U+0085, U+1680, U+2028, U+2029 among them),
 * control and format characters (which RFC 4518 maps to nothing: "Ann\x01a"
 * is "Anna" there), and letters outside ASCII.  The few letters whose case
 * mapping or folding is ASCII are mapped first: dotless and dotted i, long
 * s, the Kelvin sign, and sharp s, which full case folding makes "ss";
 * and the Latin letters without a decomposition that a collation may take
 * for ASCII ones (æ as "ae", ł as "l", ø as "o", ...).
 * Names with the same skeleton are only candidates: the directory itself
 * is asked about them.
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
 * The key of a record's name as the scan's index files entries' names
 * (name_skeleton of its UTF-8 form), or NULL when nothing is left of it:
 * ldap_sync_changes finds the records a changed entry matters to by it.
 */
char *
name_key(const char *name)
{
	char	   *searched = search_name(name);
	char	   *utf8;

	if (searched == NULL)
		return NULL;
	utf8 = directory_to_utf8(searched);
	return name_skeleton(utf8, strlen(utf8));
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
 * The skeleton of a name (UTF-8, possibly invalid): see the head of the
 * file.  A plain name's is its lower-cased letters, digits and
 * punctuation.
 */
char *
name_skeleton(const char *name, int length)
{
	StringInfoData buf;
	pg_wchar   *chars;
	pg_wchar   *decomposed;
	int			n = 0;
	int			i = 0;

	initStringInfo(&buf);
	if (is_plain_name(name, length))
	{
		for (i = 0; i < length; i++)
		{
			if (name[i] != ' ')
				appendStringInfoChar(&buf, pg_ascii_tolower((unsigned char) name[i]));
		}
		return buf.data;
	}

	/* decode, skipping bytes that are not UTF-8; sharp s takes two */
	chars = palloc(sizeof(pg_wchar) * (2 * length + 1));
	while (i < length)
	{
		const unsigned char *p = (const unsigned char *) name + i;
		int			len = pg_utf_mblen(p);
		pg_wchar	c;

		if (len <= 0 || i + len > length || !pg_utf8_islegal(p, len))
		{
			i++;
			continue;
		}
		c = utf8_to_unicode(p);
		i += len;
		switch (c)
		{
				/* the letters whose case mapping or folding is ASCII */
			case 0x0130:		/* LATIN CAPITAL LETTER I WITH DOT ABOVE */
			case 0x0131:		/* LATIN SMALL LETTER DOTLESS I */
				c = 'i';
				break;
			case 0x017f:		/* LATIN SMALL LETTER LONG S */
				c = 's';
				break;
			case 0x212a:		/* KELVIN SIGN */
				c = 'k';
				break;
			case 0x00df:		/* LATIN SMALL LETTER SHARP S */
			case 0x1e9e:		/* LATIN CAPITAL LETTER SHARP S */
				chars[n++] = 's';
				c = 's';
				break;

				/*
				 * Letters without a decomposition that a directory's
				 * collation may still take for ASCII ones (Active
				 * Directory's does): kept as those, the names are only
				 * candidates, and the directory says.
				 */
			case 0x00c6:		/* LATIN CAPITAL LETTER AE */
			case 0x00e6:		/* LATIN SMALL LETTER AE */
				chars[n++] = 'a';
				c = 'e';
				break;
			case 0x0152:		/* LATIN CAPITAL LIGATURE OE */
			case 0x0153:		/* LATIN SMALL LIGATURE OE */
				chars[n++] = 'o';
				c = 'e';
				break;
			case 0x00de:		/* LATIN CAPITAL LETTER THORN */
			case 0x00fe:		/* LATIN SMALL LETTER THORN */
				chars[n++] = 't';
				c = 'h';
				break;
			case 0x00d0:		/* LATIN CAPITAL LETTER ETH */
			case 0x00f0:		/* LATIN SMALL LETTER ETH */
			case 0x0110:		/* LATIN CAPITAL LETTER D WITH STROKE */
			case 0x0111:		/* LATIN SMALL LETTER D WITH STROKE */
				c = 'd';
				break;
			case 0x0126:		/* LATIN CAPITAL LETTER H WITH STROKE */
			case 0x0127:		/* LATIN SMALL LETTER H WITH STROKE */
				c = 'h';
				break;
			case 0x0141:		/* LATIN CAPITAL LETTER L WITH STROKE */
			case 0x0142:		/* LATIN SMALL LETTER L WITH STROKE */
				c = 'l';
				break;
			case 0x00d8:		/* LATIN CAPITAL LETTER O WITH STROKE */
			case 0x00f8:		/* LATIN SMALL LETTER O WITH STROKE */
				c = 'o';
				break;
			case 0x0166:		/* LATIN CAPITAL LETTER T WITH STROKE */
			case 0x0167:		/* LATIN SMALL LETTER T WITH STROKE */
				c = 't';
				break;
			case 0x014a:		/* LATIN CAPITAL LETTER ENG */
			case 0x014b:		/* LATIN SMALL LETTER ENG */
				c = 'n';
				break;
			case 0x0138:		/* LATIN SMALL LETTER KRA */
				c = 'k';
				break;
			case 0x0191:		/* LATIN CAPITAL LETTER F WITH HOOK */
			case 0x0192:		/* LATIN SMALL LETTER F WITH HOOK */
				c = 'f';
				break;
		}
		if (c != 0)
			chars[n++] = c;
	}
	chars[n] = 0;

	decomposed = unicode_normalize(UNICODE_NFKD, chars);
	for (i = 0; decomposed[i]; i++)
	{
		pg_wchar	c = decomposed[i];

		/* printable ASCII but the space; everything else is dropped */
		if (c > 0x20 && c < 0x7f)
			appendStringInfoChar(&buf, pg_ascii_tolower((unsigned char) c));
	}
	pfree(chars);
	pfree(decomposed);
	return buf.data;
}

/*
 * The characters no username may hold, beyond the controls: Unicode's
 * format characters (Cf) and separators (Zs, Zl, Zp), and the other
 * Default_Ignorable_Code_Points that render as nothing (variation
 * selectors, the combining grapheme joiner, the Hangul fillers, Khmer's
 * inherent vowels).  They are invisible or look like a space, so a value
 * holding one makes a look-alike login (jsmith and jsmith with a
 * zero-width space).  From Unicode 15.0.
 */
static const struct
{
	pg_wchar	first;
	pg_wchar	last;
}			invisible_characters[] = {
	{0x0020, 0x0020},			/* Zs: space */
	{0x00A0, 0x00A0},			/* Zs: no-break space */
	{0x00AD, 0x00AD},			/* Cf: soft hyphen */
	{0x034F, 0x034F},			/* Mn: combining grapheme joiner */
	{0x0600, 0x0605},			/* Cf: Arabic number signs */
	{0x061C, 0x061C},			/* Cf: Arabic letter mark */
	{0x06DD, 0x06DD},			/* Cf */
	{0x070F, 0x070F},			/* Cf */
	{0x0890, 0x0891},			/* Cf */
	{0x08E2, 0x08E2},			/* Cf */
	{0x115F, 0x1160},			/* Lo: Hangul choseong and jungseong fillers */
	{0x1680, 0x1680},			/* Zs: Ogham space mark */
	{0x17B4, 0x17B5},			/* Mn: Khmer inherent vowels */
	{0x180B, 0x180D},			/* Mn: Mongolian variation selectors */
	{0x180E, 0x180E},			/* Cf: Mongolian vowel separator */
	{0x2000, 0x200A},			/* Zs: en quad ... hair space */
	{0x200B, 0x200F},			/* Cf: zero-width space, joiners, marks */
	{0x2028, 0x2028},			/* Zl: line separator */
	{0x2029, 0x2029},			/* Zp: paragraph separator */
	{0x202A, 0x202E},			/* Cf: bidirectional embeddings */
	{0x202F, 0x202F},			/* Zs: narrow no-break space */
	{0x205F, 0x205F},			/* Zs: medium mathematical space */
	{0x2060, 0x2064},			/* Cf: word joiner, invisible operators */
	{0x2066, 0x206F},			/* Cf: bidirectional isolates ... */
	{0x3000, 0x3000},			/* Zs: ideographic space */
	{0x3164, 0x3164},			/* Lo: Hangul filler */
	{0xFE00, 0xFE0F},			/* Mn: variation selectors */
	{0xFEFF, 0xFEFF},			/* Cf: zero-width no-break space (BOM) */
	{0xFFA0, 0xFFA0},			/* Lo: halfwidth Hangul filler */
	{0xFFF9, 0xFFFB},			/* Cf: interlinear annotation */
	{0x110BD, 0x110BD},			/* Cf */
	{0x110CD, 0x110CD},			/* Cf */
	{0x13430, 0x1343F},			/* Cf: Egyptian hieroglyph format */
	{0x1BCA0, 0x1BCA3},			/* Cf: shorthand format */
	{0x1D173, 0x1D17A},			/* Cf: musical symbol format */
	{0xE0001, 0xE0001},			/* Cf: language tag */
	{0xE0020, 0xE007F},			/* Cf: tags */
	{0xE0100, 0xE01EF},			/* Mn: variation selectors supplement */
};

static bool
is_invisible(pg_wchar c)
{
	int			low = 0;
	int			high = lengthof(invisible_characters) - 1;

	while (low <= high)
	{
		int			mid = (low + high) / 2;

		if (c < invisible_characters[mid].first)
			high = mid - 1;
		else if (c > invisible_characters[mid].last)
			low = mid + 1;
		else
			return true;
	}
	return false;
}

/*
 * Can a directory value (UTF-8, length bytes) be a username: not empty,
 * valid UTF-8, and without a control character (C0, DEL, C1), white space,
 * or an invisible character (see above)?
 */
bool
is_username_text(const char *value, int length)
{
	int			i = 0;

	if (length <= 0)
		return false;
	while (i < length)
	{
		const unsigned char *p = (const unsigned char *) value + i;
		int			len = pg_utf_mblen(p);
		pg_wchar	c;

		if (len <= 0 || i + len > length || !pg_utf8_islegal(p, len))
			return false;
		c = utf8_to_unicode(p);
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || is_invisible(c))
			return false;
		i += len;
	}
	return true;
}

