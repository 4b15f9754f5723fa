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
 * The ASCII letters a letter stands for when its compatibility
 * decomposition has none: the letters whose case mapping or folding is
 * ASCII (dotless and dotted i, long s, the Kelvin sign, and sharp s, which
 * full case folding makes "ss"), and the Latin letters without a
 * decomposition that a directory's collation may still take for ASCII
 * ones (Active Directory's does): æ as "ae", ł as "l", ø as "o", ...
 * Returns how many (1 or 2) are put in ascii, or 0 for any other letter.
 */
static int
ascii_letters(pg_wchar c, pg_wchar *ascii)
{
	switch (c)
	{
		case 0x0130:			/* LATIN CAPITAL LETTER I WITH DOT ABOVE */
		case 0x0131:			/* LATIN SMALL LETTER DOTLESS I */
			ascii[0] = 'i';
			return 1;
		case 0x017f:			/* LATIN SMALL LETTER LONG S */
			ascii[0] = 's';
			return 1;
		case 0x212a:			/* KELVIN SIGN */
		case 0x0138:			/* LATIN SMALL LETTER KRA */
			ascii[0] = 'k';
			return 1;
		case 0x00df:			/* LATIN SMALL LETTER SHARP S */
		case 0x1e9e:			/* LATIN CAPITAL LETTER SHARP S */
			ascii[0] = ascii[1] = 's';
			return 2;
		case 0x00c6:			/* LATIN CAPITAL LETTER AE */
		case 0x00e6:			/* LATIN SMALL LETTER AE */
			ascii[0] = 'a';
			ascii[1] = 'e';
			return 2;
		case 0x0152:			/* LATIN CAPITAL LIGATURE OE */
		case 0x0153:			/* LATIN SMALL LIGATURE OE */
			ascii[0] = 'o';
			ascii[1] = 'e';
			return 2;
		case 0x00de:			/* LATIN CAPITAL LETTER THORN */
		case 0x00fe:			/* LATIN SMALL LETTER THORN */
			ascii[0] = 't';
			ascii[1] = 'h';
			return 2;
		case 0x00d0:			/* LATIN CAPITAL LETTER ETH */
		case 0x00f0:			/* LATIN SMALL LETTER ETH */
		case 0x0110:			/* LATIN CAPITAL LETTER D WITH STROKE */
		case 0x0111:			/* LATIN SMALL LETTER D WITH STROKE */
			ascii[0] = 'd';
			return 1;
		case 0x0126:			/* LATIN CAPITAL LETTER H WITH STROKE */
		case 0x0127:			/* LATIN SMALL LETTER H WITH STROKE */
			ascii[0] = 'h';
			return 1;
		case 0x0141:			/* LATIN CAPITAL LETTER L WITH STROKE */
		case 0x0142:			/* LATIN SMALL LETTER L WITH STROKE */
			ascii[0] = 'l';
			return 1;
		case 0x00d8:			/* LATIN CAPITAL LETTER O WITH STROKE */
		case 0x00f8:			/* LATIN SMALL LETTER O WITH STROKE */
			ascii[0] = 'o';
			return 1;
		case 0x0166:			/* LATIN CAPITAL LETTER T WITH STROKE */
		case 0x0167:			/* LATIN SMALL LETTER T WITH STROKE */
			ascii[0] = 't';
			return 1;
		case 0x014a:			/* LATIN CAPITAL LETTER ENG */
		case 0x014b:			/* LATIN SMALL LETTER ENG */
			ascii[0] = 'n';
			return 1;
		case 0x0191:			/* LATIN CAPITAL LETTER F WITH HOOK */
		case 0x0192:			/* LATIN SMALL LETTER F WITH HOOK */
			ascii[0] = 'f';
			return 1;
	}
	return 0;
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
		pg_wchar	ascii[2];
		int			k;

		if (len <= 0 || i + len > length || !pg_utf8_islegal(p, len))
		{
			i++;
			continue;
		}
		c = utf8_to_unicode(p);
		i += len;
		k = ascii_letters(c, ascii);
		if (k == 0)
		{
			if (c != 0)
				chars[n++] = c;
		}
		else
		{
			chars[n++] = ascii[0];
			if (k == 2)
				chars[n++] = ascii[1];
		}
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
 * Names as the ranking of suggestions compares them (variants.c): in
 * words.  A name's "fold" is its words, lower-cased, with accents removed
 * (its compatibility decomposition without combining marks, and the
 * letters of ascii_letters as ASCII), separated by one space; its "lite"
 * form is the same words with only ASCII case folded, accents and other
 * letters kept.  In both, hyphens, white space (of any kind) and the
 * other ASCII punctuation separate words; apostrophes, control and
 * invisible characters are dropped ("O'Brien" is "obrien", "Mary-Jane"
 * is "mary jane").  Greek and Cyrillic capitals are folded to small
 * letters; other letters stay as they are.
 */

static bool is_invisible(pg_wchar c);

/*
 * A StringInfo's string in a chunk of its own size (a StringInfo starts
 * with 1 kB: names kept by the thousand take far less).
 */
static char *
compact_string(StringInfo buf)
{
	char	   *s = pnstrdup(buf->data, buf->len);

	pfree(buf->data);
	return s;
}

/*
 * The skeleton of a name, in a chunk of its own size: for skeletons kept
 * by the thousand.
 */
char *
name_skeleton_compact(const char *name, int length)
{
	char	   *skeleton = name_skeleton(name, length);
	char	   *s = pstrdup(skeleton);

	pfree(skeleton);
	return s;
}

/* combining marks: the blocks of combining diacritics */
static bool
is_combining_mark(pg_wchar c)
{
	return (c >= 0x0300 && c <= 0x036f) || (c >= 0x1ab0 && c <= 0x1aff) ||
		(c >= 0x1dc0 && c <= 0x1dff) || (c >= 0x20d0 && c <= 0x20ff) ||
		(c >= 0xfe20 && c <= 0xfe2f);
}

/* apostrophes, which join rather than separate: O'Brien, D’Angelo */
static bool
is_apostrophe(pg_wchar c)
{
	return c == '\'' || c == '`' || c == 0x00b4 || c == 0x02bc ||
		c == 0x2018 || c == 0x2019;
}

/* what separates words: white space and punctuation, of any kind */
static bool
is_word_separator(pg_wchar c)
{
	if (c < 0x80)
		return !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
			!(c >= '0' && c <= '9') && c >= 0x09 && c != 0x7f &&
			!(c > 0x0d && c < 0x20) && !is_apostrophe(c);
	return c == 0x0085 || c == 0x00a0 || c == 0x1680 ||
		(c >= 0x2000 && c <= 0x200a) || (c >= 0x2010 && c <= 0x2015) ||
		c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
		c == 0x2212 || c == 0x3000;
}

static pg_wchar
fold_case(pg_wchar c, bool ascii_only)
{
	if (c >= 'A' && c <= 'Z')
		return c + ('a' - 'A');
	if (ascii_only)
		return c;
	if (c >= 0x0391 && c <= 0x03a9 && c != 0x03a2)
		return c + 0x20;		/* Greek capitals */
	if (c >= 0x0410 && c <= 0x042f)
		return c + 0x20;		/* Cyrillic capitals */
	if (c >= 0x0400 && c <= 0x040f)
		return c + 0x50;
	return c;
}

/*
 * The fold of a name (UTF-8, length bytes, possibly invalid), or with
 * keep_accents its lite form: see above.  Never NULL; "" for a name
 * without letters or digits.
 */
char *
name_fold(const char *name, int length, bool keep_accents)
{
	StringInfoData buf;
	pg_wchar   *chars;
	pg_wchar   *decomposed = NULL;
	pg_wchar   *c;
	int			n = 0;
	int			i = 0;
	bool		separate = false;

	initStringInfo(&buf);
	for (i = 0; i < length && (unsigned char) name[i] < 0x80; i++)
		;
	if (i == length)
	{
		/* ASCII: nothing to decompose */
		for (i = 0; i < length; i++)
		{
			char		ch = name[i];

			if (is_word_separator((unsigned char) ch))
				separate = buf.len > 0;
			else if ((unsigned char) ch >= 0x20 && ch != 0x7f && !is_apostrophe((unsigned char) ch))
			{
				if (separate)
					appendStringInfoChar(&buf, ' ');
				separate = false;
				appendStringInfoChar(&buf, pg_ascii_tolower((unsigned char) ch));
			}
		}
		return compact_string(&buf);
	}
	i = 0;
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
		if (chars[n] != 0)
			n++;
		i += len;
	}
	chars[n] = 0;
	if (!keep_accents)
		decomposed = unicode_normalize(UNICODE_NFKD, chars);

	for (c = decomposed ? decomposed : chars; *c; c++)
	{
		pg_wchar	letters[2];
		int			k = 0;
		int			j;

		if (is_word_separator(*c))
		{
			separate = buf.len > 0;
			continue;
		}
		if (*c < 0x20 || (*c >= 0x7f && *c < 0xa0) || is_apostrophe(*c) ||
			is_invisible(*c) || (!keep_accents && is_combining_mark(*c)))
			continue;
		if (!keep_accents)
			k = ascii_letters(*c, letters);
		if (k == 0)
		{
			letters[0] = fold_case(*c, keep_accents);
			k = 1;
		}
		if (separate)
			appendStringInfoChar(&buf, ' ');
		separate = false;
		for (j = 0; j < k; j++)
		{
			unsigned char utf8[8];

			unicode_to_utf8(letters[j], utf8);
			appendBinaryStringInfo(&buf, (char *) utf8, pg_utf_mblen(utf8));
		}
	}
	pfree(chars);
	if (decomposed)
		pfree(decomposed);
	return compact_string(&buf);
}

/*
 * Does a name (UTF-8) hold a control character (C0, DEL or C1)?  Such a
 * name is only ever compared as it is: a control character is never taken
 * for anything else.
 */
bool
name_has_control(const char *utf8)
{
	const unsigned char *p;

	for (p = (const unsigned char *) utf8; *p; p++)
	{
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
			return true;
	}
	return false;
}

/*
 * The length in bytes of the character at s (not at its end): a lead byte
 * with all its continuation bytes, or else 1 (a stray continuation byte,
 * or a lead byte cut short, is a character of its own).  name_length and
 * decode_utf8 step alike, so they count the same characters.
 */
static int
utf8_char_len(const unsigned char *s)
{
	int			len = pg_utf_mblen(s);
	int			i;

	if (len <= 1 || (s[0] & 0xc0) != 0xc0)
		return 1;
	for (i = 1; i < len; i++)
	{
		if ((s[i] & 0xc0) != 0x80)
			return 1;			/* also at the terminating NUL */
	}
	return len;
}

/* The number of characters of a UTF-8 string. */
int
name_length(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	int			n = 0;

	while (*p)
	{
		p += utf8_char_len(p);
		n++;
	}
	return n;
}

/*
 * The characters of a UTF-8 string into out, at most max of them; an
 * invalid byte becomes a code of its own that no character has (0xDC00
 * plus the byte, a lone surrogate).
 */
static int
decode_utf8(const char *s, pg_wchar *out, int max)
{
	const unsigned char *p = (const unsigned char *) s;
	int			n = 0;

	while (*p && n < max)
	{
		int			len = utf8_char_len(p);

		if (len == 1 && *p >= 0x80)
			out[n++] = 0xDC00 + *p;
		else
			out[n++] = utf8_to_unicode(p);
		p += len;
	}
	return n;
}

/*
 * The edit distance of two UTF-8 strings, in characters: insertions,
 * deletions, substitutions and transpositions of two adjacent characters
 * (the optimal string alignment distance), or max + 1 when it is more
 * than max.
 */
int
name_distance(const char *a, const char *b, int max)
{
#define SHORT_NAME 64
	int			la = name_length(a);
	int			lb = name_length(b);
	pg_wchar	xs[SHORT_NAME];
	pg_wchar	ys[SHORT_NAME];
	int			rows_stack[3 * (SHORT_NAME + 1)];
	bool		small = la < SHORT_NAME && lb < SHORT_NAME;
	pg_wchar   *x;
	pg_wchar   *y;
	int		   *rows;
	int		   *prev2;
	int		   *prev;
	int		   *cur;
	int			i;
	int			j;
	int			result;

	if ((la > lb ? la - lb : lb - la) > max)
		return max + 1;
	x = small ? xs : palloc(sizeof(pg_wchar) * (la + 1));
	y = small ? ys : palloc(sizeof(pg_wchar) * (lb + 1));
	rows = small ? rows_stack : palloc(sizeof(int) * 3 * (lb + 1));
	decode_utf8(a, x, la);
	decode_utf8(b, y, lb);
	prev2 = rows;
	prev = rows + lb + 1;
	cur = rows + 2 * (lb + 1);
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	result = -1;
	for (i = 1; i <= la && result < 0; i++)
	{
		int			lowest;
		int		   *t;

		cur[0] = i;
		lowest = i;
		for (j = 1; j <= lb; j++)
		{
			int			d = prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1);

			d = Min(d, prev[j] + 1);
			d = Min(d, cur[j - 1] + 1);
			if (i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1])
				d = Min(d, prev2[j - 2] + 1);
			cur[j] = d;
			lowest = Min(lowest, d);
		}
		if (lowest > max)
			result = max + 1;
		t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	if (result < 0)
		result = Min(prev[lb], max + 1);
	if (!small)
	{
		pfree(x);
		pfree(y);
		pfree(rows);
	}
	return result;
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

