/*-------------------------------------------------------------------------
 *
 * log_filter.c
 *		  Keeping user mapping passwords out of the server log.
 *
 * A statement that sets a user mapping's password (CREATE or ALTER USER
 * MAPPING ... OPTIONS (password '...'), for any foreign data wrapper)
 * would be written to the server log in full: by log_statement,
 * log_min_duration_statement, as the STATEMENT of any error about it, and,
 * when it runs inside a DO block or a function, as the "SQL statement"
 * CONTEXT line and the internal query of an error.  While pssync is loaded
 * (shared_preload_libraries makes that every backend), this emit_log_hook
 * masks the password values in every part of a report that can hold them
 * (message, detail, hint, context and internal query), and leaves the
 * STATEMENT line out of a report whose statement sets one.
 *
 * The statements are recognized by their tokens, never by substrings: a
 * lexer that follows PostgreSQL's own (scan.l) finds the keywords CREATE
 * or ALTER, USER and MAPPING in a row, and in the OPTIONS list that
 * follows, an option named password (or ending in "password", such as
 * postgres_fdw's sslpassword).  Only the contents of the string constants
 * given as those options' values are masked; the rest of the statement is
 * logged as it was, so an audit log still shows every statement.  A word
 * in a comment, a string literal or an identifier counts for nothing.  The
 * string constants of a statement (the body of a DO block or a function,
 * a statement EXECUTE runs) are read in the same way, a few levels deep.
 *
 * The lexer reads the text with the current standard_conforming_strings;
 * it never throws and allocates only in a memory context of its own, so
 * the hook cannot disturb the report it is called for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/memutils.h"

#include "pssync.h"

/* what a masked password value reads in the log */
#define MASK "<hidden by pssync>"

/* how deep string constants are read as statements: DO, EXECUTE, ... */
#define MAX_DEPTH 3

static emit_log_hook_type prev_emit_log_hook = NULL;
static MemoryContext filter_cxt = NULL;

typedef enum TokenKind
{
	TOKEN_END,
	TOKEN_WORD,					/* an identifier or a keyword, unquoted */
	TOKEN_QUOTED_WORD,			/* "...", U&"..." */
	TOKEN_STRING,				/* a string constant of any kind */
	TOKEN_OPEN,					/* ( */
	TOKEN_CLOSE,				/* ) */
	TOKEN_SEMICOLON,
	TOKEN_OTHER					/* numbers, operators, parameters ... */
} TokenKind;

/* How a string constant's contents are written. */
typedef enum StringStyle
{
	STRING_STANDARD,			/* '...' (and U&'...'): '' is a quote */
	STRING_ESCAPED,				/* E'...', or '...' without
								 * standard_conforming_strings: \ escapes */
	STRING_DOLLAR,				/* $tag$...$tag$: as written */
	STRING_BITS					/* B'...', X'...': no escapes */
} StringStyle;

typedef struct Token
{
	TokenKind	kind;
	int			start;			/* the token's bytes: [start, end) */
	int			end;
	int			content_start;	/* a string's or quoted word's contents */
	int			content_end;
	StringStyle style;
} Token;

typedef struct Lexer
{
	const char *s;
	int			len;
	int			pos;
	bool		standard_strings;	/* standard_conforming_strings */
} Lexer;

/* The spans of a text to mask, in the coordinates of the outermost text. */
typedef struct Spans
{
	int			count;
	int			allocated;
	int		   *starts;
	int		   *ends;
} Spans;

static void find_secrets(const char *s, int len, const int *map, int offset,
						 int depth, Spans *spans);


/*
 * The lexer: where PostgreSQL's scanner (scan.l) puts the boundaries of
 * tokens, strings and comments, without what it does with their values.
 */
static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
		c == '\v';
}

static inline bool
is_ident_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
		IS_HIGHBIT_SET(c);
}

static inline bool
is_ident_cont(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static inline bool
is_op_char(char c)
{
	return c != '\0' && strchr("~!@#^&|`?+-*/%<>=", c) != NULL;
}

/* the character at i, or NUL past the end */
static inline char
at(Lexer *lx, int i)
{
	return i < lx->len ? lx->s[i] : '\0';
}

/* Skip white space and comments (-- to the end of the line, nested slash-star). */
static void
skip_space(Lexer *lx)
{
	while (lx->pos < lx->len)
	{
		char		c = lx->s[lx->pos];

		if (is_space(c))
			lx->pos++;
		else if (c == '-' && at(lx, lx->pos + 1) == '-')
		{
			while (lx->pos < lx->len && lx->s[lx->pos] != '\n' &&
				   lx->s[lx->pos] != '\r')
				lx->pos++;
		}
		else if (c == '/' && at(lx, lx->pos + 1) == '*')
		{
			int			depth = 1;

			lx->pos += 2;
			while (lx->pos < lx->len && depth > 0)
			{
				if (lx->s[lx->pos] == '/' && at(lx, lx->pos + 1) == '*')
				{
					depth++;
					lx->pos += 2;
				}
				else if (lx->s[lx->pos] == '*' && at(lx, lx->pos + 1) == '/')
				{
					depth--;
					lx->pos += 2;
				}
				else
					lx->pos++;
			}
		}
		else
			break;
	}
}

/*
 * A quoted string (quote ') or identifier (quote ") whose opening quote is
 * at lx->pos; it ends at the first quote that is not doubled (nor, in an
 * escaped string, after a backslash; in a bit string a quote always ends
 * it).  An unterminated one runs to the end.
 */
static void
lex_quoted(Lexer *lx, Token *t, char quote, StringStyle style)
{
	int			p = lx->pos + 1;

	t->kind = quote == '"' ? TOKEN_QUOTED_WORD : TOKEN_STRING;
	t->style = style;
	t->content_start = p;
	for (;;)
	{
		if (p >= lx->len)
		{
			t->content_end = p;
			break;
		}
		if (lx->s[p] == '\\' && style == STRING_ESCAPED)
		{
			p += 2;
			continue;
		}
		if (lx->s[p] == quote)
		{
			if (style != STRING_BITS && at(lx, p + 1) == quote)
			{
				p += 2;
				continue;
			}
			t->content_end = p;
			p++;
			break;
		}
		p++;
	}
	lx->pos = Min(p, lx->len);
}

/*
 * At a "$": a dollar-quoted string ($tag$ ... $tag$), or a parameter or a
 * lone "$".
 */
static void
lex_dollar(Lexer *lx, Token *t)
{
	int			p = lx->pos + 1;
	int			tag_len;
	int			q;

	if (p < lx->len && is_ident_start(lx->s[p]))
	{
		while (p < lx->len && is_ident_cont(lx->s[p]) && lx->s[p] != '$')
			p++;
	}
	if (at(lx, p) != '$')
	{
		/* $1, or a $ that starts nothing */
		t->kind = TOKEN_OTHER;
		p = lx->pos + 1;
		while (p < lx->len && lx->s[p] >= '0' && lx->s[p] <= '9')
			p++;
		lx->pos = p;
		return;
	}
	tag_len = p + 1 - lx->pos;
	t->kind = TOKEN_STRING;
	t->style = STRING_DOLLAR;
	t->content_start = p + 1;
	for (q = p + 1; q + tag_len <= lx->len; q++)
	{
		if (lx->s[q] == '$' &&
			memcmp(lx->s + q, lx->s + lx->pos, tag_len) == 0)
		{
			t->content_end = q;
			lx->pos = q + tag_len;
			return;
		}
	}
	t->content_end = lx->len;	/* unterminated */
	lx->pos = lx->len;
}

/* The next token, or TOKEN_END. */
static void
next_token(Lexer *lx, Token *t)
{
	char		c;
	char		c1;

	skip_space(lx);
	t->start = lx->pos;
	t->content_start = t->content_end = -1;
	if (lx->pos >= lx->len)
	{
		t->kind = TOKEN_END;
		t->end = lx->pos;
		return;
	}
	c = lx->s[lx->pos];
	c1 = at(lx, lx->pos + 1);

	if ((c == 'e' || c == 'E') && c1 == '\'')
	{
		lx->pos++;
		lex_quoted(lx, t, '\'', STRING_ESCAPED);
	}
	else if ((c == 'b' || c == 'B' || c == 'x' || c == 'X') && c1 == '\'')
	{
		lx->pos++;
		lex_quoted(lx, t, '\'', STRING_BITS);
	}
	else if ((c == 'u' || c == 'U') && c1 == '&' &&
			 (at(lx, lx->pos + 2) == '\'' || at(lx, lx->pos + 2) == '"'))
	{
		lx->pos += 2;
		lex_quoted(lx, t, lx->s[lx->pos], STRING_STANDARD);
	}
	else if ((c == 'n' || c == 'N') && c1 == '\'')
	{
		/* the keyword NCHAR; the string follows as a token of its own */
		t->kind = TOKEN_WORD;
		lx->pos++;
	}
	else if (is_ident_start(c))
	{
		t->kind = TOKEN_WORD;
		while (lx->pos < lx->len && is_ident_cont(lx->s[lx->pos]))
			lx->pos++;
	}
	else if (c == '\'')
		lex_quoted(lx, t, '\'', lx->standard_strings ? STRING_STANDARD : STRING_ESCAPED);
	else if (c == '"')
		lex_quoted(lx, t, '"', STRING_STANDARD);
	else if (c == '$')
		lex_dollar(lx, t);
	else if (c == '(' || c == ')' || c == ';')
	{
		t->kind = c == '(' ? TOKEN_OPEN : c == ')' ? TOKEN_CLOSE : TOKEN_SEMICOLON;
		lx->pos++;
	}
	else if (c >= '0' && c <= '9')
	{
		/* a number: digits, a point, an exponent and whatever sticks to it */
		t->kind = TOKEN_OTHER;
		while (lx->pos < lx->len &&
			   ((lx->s[lx->pos] >= '0' && lx->s[lx->pos] <= '9') ||
				lx->s[lx->pos] == '.' || lx->s[lx->pos] == '_' ||
				((lx->s[lx->pos] == 'e' || lx->s[lx->pos] == 'E') &&
				 at(lx, lx->pos + 1) != '\'')))
			lx->pos++;
	}
	else if (is_op_char(c))
	{
		/* an operator stops where a comment starts */
		t->kind = TOKEN_OTHER;
		lx->pos++;
		while (lx->pos < lx->len && is_op_char(lx->s[lx->pos]) &&
			   !(lx->s[lx->pos] == '-' && at(lx, lx->pos + 1) == '-') &&
			   !(lx->s[lx->pos] == '/' && at(lx, lx->pos + 1) == '*'))
			lx->pos++;
	}
	else
	{
		t->kind = TOKEN_OTHER;
		lx->pos++;
	}
	t->end = lx->pos;
}

/* Is a word token, ignoring ASCII case, this keyword? */
static bool
is_keyword(Lexer *lx, Token *t, const char *keyword)
{
	int			len = strlen(keyword);

	return t->kind == TOKEN_WORD && t->end - t->start == len &&
		pg_strncasecmp(lx->s + t->start, keyword, len) == 0;
}

/*
 * Does a word or quoted word name a password option: password, or a name
 * ending in it (sslpassword), ignoring ASCII case?
 */
static bool
names_a_password(Lexer *lx, Token *t)
{
	static const char suffix[] = "password";
	int			start;
	int			end;

	if (t->kind == TOKEN_WORD)
	{
		start = t->start;
		end = t->end;
	}
	else if (t->kind == TOKEN_QUOTED_WORD)
	{
		start = t->content_start;
		end = t->content_end;
	}
	else
		return false;
	return end - start >= (int) strlen(suffix) &&
		pg_strncasecmp(lx->s + end - strlen(suffix), suffix, strlen(suffix)) == 0;
}


/*
 * Spans, and the contents of string constants as statements.
 */
static void
add_span(Spans *spans, int start, int end)
{
	if (start >= end)
		return;
	if (spans->count == spans->allocated)
	{
		spans->allocated = Max(8, spans->allocated * 2);
		spans->starts = spans->starts ?
			repalloc(spans->starts, sizeof(int) * spans->allocated) :
			palloc(sizeof(int) * spans->allocated);
		spans->ends = spans->ends ?
			repalloc(spans->ends, sizeof(int) * spans->allocated) :
			palloc(sizeof(int) * spans->allocated);
	}
	spans->starts[spans->count] = start;
	spans->ends[spans->count] = end;
	spans->count++;
}

/* Where byte i of a text came from in the outermost one. */
#define OUTER(map, offset, i) ((map) ? (map)[i] : (offset) + (i))

/* Mask a string's contents, in the coordinates of the outermost text. */
static void
mask_contents(Token *t, const int *map, int offset, Spans *spans)
{
	add_span(spans, OUTER(map, offset, t->content_start),
			 OUTER(map, offset, t->content_end));
}

/* Does text hold the letters "mapping", ignoring ASCII case? */
static bool
mentions_mapping(const char *s, int len)
{
	int			i;

	for (i = 0; i + 7 <= len; i++)
	{
		if ((s[i] == 'm' || s[i] == 'M') && pg_strncasecmp(s + i, "mapping", 7) == 0)
			return true;
	}
	return false;
}

/*
 * The value of a string constant, with where each of its characters came
 * from (map[i], in the coordinates of the outermost text; map[len] is the
 * end of its contents), for reading it as statements in turn.
 */
static char *
string_value(Lexer *lx, Token *t, const int *outer_map, int offset, int **map,
			 int *len)
{
	int			n = t->content_end - t->content_start;
	char	   *value = palloc(n + 1);
	int		   *where = palloc(sizeof(int) * (n + 1));
	int			p = t->content_start;
	int			k = 0;

	while (p < t->content_end)
	{
		char		c = lx->s[p];

		where[k] = OUTER(outer_map, offset, p);
		if (c == '\'' && t->style != STRING_DOLLAR && p + 1 < t->content_end)
		{
			value[k++] = '\'';	/* a doubled quote */
			p += 2;
		}
		else if (c == '\\' && t->style == STRING_ESCAPED && p + 1 < t->content_end)
		{
			char		e = lx->s[p + 1];
			int			used = 2;

			switch (e)
			{
				case 'b':
					c = '\b';
					break;
				case 'f':
					c = '\f';
					break;
				case 'n':
					c = '\n';
					break;
				case 'r':
					c = '\r';
					break;
				case 't':
					c = '\t';
					break;
				case 'x':
					{
						int			v = 0;

						while (used < 4 && p + used < t->content_end &&
							   isxdigit((unsigned char) lx->s[p + used]))
						{
							char		h = lx->s[p + used++];

							v = v * 16 + (isdigit((unsigned char) h) ? h - '0' :
										  (pg_ascii_tolower((unsigned char) h) - 'a' + 10));
						}
						c = used > 2 ? (char) v : 'x';
						break;
					}
				case 'u':
				case 'U':
					/* a character outside ASCII: a letter, to the lexer */
					used = Min(e == 'u' ? 6 : 10, t->content_end - p);
					c = (char) 0x80;
					break;
				default:
					if (e >= '0' && e <= '7')
					{
						int			v = 0;

						used = 1;
						while (used < 4 && p + used < t->content_end &&
							   lx->s[p + used] >= '0' && lx->s[p + used] <= '7')
							v = v * 8 + (lx->s[p + used++] - '0');
						c = (char) v;
					}
					else
						c = e;
					break;
			}
			value[k++] = c;
			p += used;
		}
		else
		{
			value[k++] = c;
			p++;
		}
	}
	where[k] = OUTER(outer_map, offset, t->content_end);
	value[k] = '\0';
	*map = where;
	*len = k;
	return value;
}

/* Read a string constant's value as statements, one level deeper. */
static void
find_secrets_in_string(Lexer *lx, Token *t, const int *map, int offset,
					   int depth, Spans *spans)
{
	int		   *inner_map;
	int			inner_len;
	char	   *value;

	if (depth >= MAX_DEPTH || t->style == STRING_BITS)
		return;
	/* a cheap look first: only an escaped string can hide the word */
	if (t->style != STRING_ESCAPED &&
		!mentions_mapping(lx->s + t->content_start,
						  t->content_end - t->content_start))
		return;
	value = string_value(lx, t, map, offset, &inner_map, &inner_len);
	if (mentions_mapping(value, inner_len))
		find_secrets(value, inner_len, inner_map, 0, depth + 1, spans);
}

/*
 * Find the password values of the user mapping statements in text s (len
 * bytes), and add their spans.  Where each byte of s came from in the
 * outermost text is map[i], or offset + i without a map.  The keywords may
 * start anywhere: a log line quotes a statement after words of its own
 * ("statement: ...").
 */
static void
find_secrets(const char *s, int len, const int *map, int offset, int depth,
			 Spans *spans)
{
	Lexer		lx;
	Token		t;
	enum
	{
		OUTSIDE,				/* looking for CREATE or ALTER */
		AFTER_VERB,				/* CREATE or ALTER: USER? */
		AFTER_USER,				/* ... USER: MAPPING? */
		IN_MAPPING,				/* CREATE/ALTER USER MAPPING ...: OPTIONS? */
		AFTER_OPTIONS,			/* ... OPTIONS: ( ? */
		IN_OPTIONS				/* the option list */
	}			state = OUTSIDE;
	int			parens = 0;
	bool		value_is_secret = false;

	lx.s = s;
	lx.len = len;
	lx.pos = 0;
	lx.standard_strings = standard_conforming_strings;

	for (;;)
	{
		next_token(&lx, &t);
		if (t.kind == TOKEN_END)
			break;

		if (state == IN_OPTIONS)
		{
			if (t.kind == TOKEN_STRING && value_is_secret)
			{
				/* the value, and any string continuing it */
				mask_contents(&t, map, offset, spans);
				continue;
			}
			value_is_secret = false;
			if (t.kind == TOKEN_OPEN)
				parens++;
			else if (t.kind == TOKEN_CLOSE && --parens == 0)
				state = IN_MAPPING;
			else if (t.kind == TOKEN_SEMICOLON)
				state = OUTSIDE;
			else if (names_a_password(&lx, &t))
				value_is_secret = true;
			else if (t.kind == TOKEN_STRING)
				find_secrets_in_string(&lx, &t, map, offset, depth, spans);
			continue;
		}

		switch (state)
		{
			case AFTER_VERB:
				state = is_keyword(&lx, &t, "user") ? AFTER_USER : OUTSIDE;
				break;
			case AFTER_USER:
				state = is_keyword(&lx, &t, "mapping") ? IN_MAPPING : OUTSIDE;
				break;
			case IN_MAPPING:
				if (is_keyword(&lx, &t, "options"))
					state = AFTER_OPTIONS;
				else if (t.kind == TOKEN_SEMICOLON)
					state = OUTSIDE;
				break;
			case AFTER_OPTIONS:
				if (t.kind == TOKEN_OPEN)
				{
					state = IN_OPTIONS;
					parens = 1;
					value_is_secret = false;
				}
				else
					state = t.kind == TOKEN_SEMICOLON ? OUTSIDE : IN_MAPPING;
				break;
			default:
				break;
		}
		if (state == OUTSIDE)
		{
			if (is_keyword(&lx, &t, "create") || is_keyword(&lx, &t, "alter"))
				state = AFTER_VERB;
			else if (t.kind == TOKEN_STRING)
				find_secrets_in_string(&lx, &t, map, offset, depth, spans);
		}
		else if (state == IN_MAPPING && t.kind == TOKEN_STRING)
			find_secrets_in_string(&lx, &t, map, offset, depth, spans);
	}
}


/*
 * Masking the parts of a report.
 */
static int
compare_ints(const void *a, const void *b)
{
	return (*(const int *) a > *(const int *) b) - (*(const int *) a < *(const int *) b);
}

/*
 * The spans of a part of a report to mask.  A statement is read from the
 * start of the text, and from after each double quote that CREATE or
 * ALTER follows: a CONTEXT line quotes one as SQL statement "...".
 */
static void
find_secrets_in_report(const char *text, Spans *spans)
{
	int			len = strlen(text);
	int			i;

	find_secrets(text, len, NULL, 0, 0, spans);
	for (i = 0; i < len; i++)
	{
		const char *p;

		if (text[i] != '"')
			continue;
		for (p = text + i + 1; is_space(*p); p++)
			;
		if (pg_strncasecmp(p, "create", 6) == 0 || pg_strncasecmp(p, "alter", 5) == 0)
			find_secrets(text + i + 1, len - i - 1, NULL, i + 1, 0, spans);
	}
}

/*
 * Text with the spans masked, allocated in cxt.  The spans may repeat or
 * overlap (found from several starts): what any of them covers is masked,
 * once.
 */
static char *
masked_text(const char *text, Spans *spans, MemoryContext cxt)
{
	StringInfoData buf;
	MemoryContext old;
	int			len = strlen(text);
	int			pos = 0;
	int			i = 0;

	/*
	 * Sorting the starts and the ends apart pairs them anew, but covers the
	 * same places: as many spans start before any point as before.
	 */
	qsort(spans->starts, spans->count, sizeof(int), compare_ints);
	qsort(spans->ends, spans->count, sizeof(int), compare_ints);

	old = MemoryContextSwitchTo(cxt);
	initStringInfo(&buf);
	while (i < spans->count)
	{
		int			start = spans->starts[i];
		int			end = spans->ends[i];

		/* merge the spans that overlap or touch this one */
		for (i++; i < spans->count && spans->starts[i] <= end; i++)
			end = Max(end, spans->ends[i]);
		start = Max(start, pos);
		end = Min(end, len);
		if (start >= end)
			continue;
		appendBinaryStringInfo(&buf, text + pos, start - pos);
		appendStringInfoString(&buf, MASK);
		pos = end;
	}
	appendBinaryStringInfo(&buf, text + pos, len - pos);
	MemoryContextSwitchTo(old);
	return buf.data;
}

/* Could text hold a user mapping statement: the word, or an escape? */
static bool
may_hold_secrets(const char *text, int len)
{
	return mentions_mapping(text, len) || memchr(text, '\\', len) != NULL;
}

/*
 * A part of a report with its password values masked: a new string in the
 * report's memory context, or the part itself when it holds none.
 */
static char *
mask_report_part(char *text, MemoryContext report_cxt)
{
	Spans		spans;

	if (text == NULL || !may_hold_secrets(text, strlen(text)))
		return text;
	memset(&spans, 0, sizeof(spans));
	find_secrets_in_report(text, &spans);
	if (spans.count == 0)
		return text;
	return masked_text(text, &spans, report_cxt);
}

/* Does the statement being run set a password? */
static bool
statement_sets_a_password(const char *query)
{
	Spans		spans;
	int			len;

	if (query == NULL)
		return false;
	len = strlen(query);
	if (!may_hold_secrets(query, len))
		return false;
	memset(&spans, 0, sizeof(spans));
	find_secrets(query, len, NULL, 0, 0, &spans);
	return spans.count > 0;
}

/*
 * The hook.  The report's parts are replaced by masked copies in its own
 * memory context (which frees them with the report); everything else is
 * allocated in filter_cxt, reset before returning.
 */
static void
hide_passwords(ErrorData *edata)
{
	MemoryContext report_cxt = CurrentMemoryContext;
	MemoryContext old = MemoryContextSwitchTo(filter_cxt);

	if (statement_sets_a_password(debug_query_string))
		edata->hide_stmt = true;
	edata->message = mask_report_part(edata->message, report_cxt);
	edata->detail = mask_report_part(edata->detail, report_cxt);
	edata->detail_log = mask_report_part(edata->detail_log, report_cxt);
	edata->hint = mask_report_part(edata->hint, report_cxt);
	edata->context = mask_report_part(edata->context, report_cxt);
	if (edata->internalquery && statement_sets_a_password(edata->internalquery))
	{
		edata->internalquery = mask_report_part(edata->internalquery, report_cxt);
		edata->internalpos = 0;
	}

	MemoryContextSwitchTo(old);
	MemoryContextReset(filter_cxt);

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * Install the hook, from _PG_init.  It runs before the emit_log_hooks of
 * the modules loaded before pssync, and after those of the modules loaded
 * after it (each hook calls the one installed before it).
 */
void
install_password_log_filter(void)
{
	filter_cxt = AllocSetContextCreate(TopMemoryContext,
									   "pssync log filter",
									   ALLOCSET_SMALL_SIZES);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = hide_passwords;
}
