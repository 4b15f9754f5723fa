/*-------------------------------------------------------------------------
 *
 * log_filter.c
 *		  Keeping user mapping passwords out of the server log.
 *
 * A statement that sets a user mapping's password (CREATE or ALTER USER
 * MAPPING ... OPTIONS (password '...'), for any foreign data wrapper)
 * would be written to the server log in full: by log_statement,
 * log_min_duration_statement, pgaudit, as the STATEMENT of any error, and,
 * when it runs inside a DO block or a function, as the CONTEXT and QUERY
 * lines of an error.  While pssync is loaded (shared_preload_libraries
 * makes that every backend), this emit_log_hook masks the password values
 * wherever a report can hold them, and nothing else: every statement is
 * still logged, the STATEMENT line included, with only the values of its
 * password options replaced by "<hidden by pssync>".
 *
 * The statements are recognized by their tokens, never by substrings: a
 * lexer that follows PostgreSQL's own (scan.l: its strings, their
 * continuation over a newline, escapes, dollar quotes, comments) finds the
 * keywords CREATE or ALTER, USER and MAPPING in a row, and in the OPTIONS
 * list that follows, an option whose name says it is a secret (password,
 * sslpassword, passwd, passphrase, secret; and any name written with
 * Unicode escapes, which the lexer does not decode).  The value of such an
 * option is masked.  A word in a comment, a string or an identifier counts
 * for nothing.  The string constants of a statement (the body of a DO
 * block or a function, the statement EXECUTE runs) are read as statements
 * in turn, a few levels deep.
 *
 * Where a report quotes a statement, the statement is read from where it
 * starts, so that the lexer sees the tokens the parser saw: the statement
 * being run (debug_query_string) wherever the report repeats it, the
 * statement field of a pgaudit line, the internal query, and each CONTEXT
 * line that quotes a statement.  A report that quotes none of them is read
 * from its start (pg_cron's "cron job 1 starting: ...").  When the
 * statement being run sets a password, debug_query_string is pointed, for
 * the rest of the message, at a masked copy in MessageContext, which is
 * what the STATEMENT lines then show.
 *
 * How a statement's quotes read depends on standard_conforming_strings as
 * it was when the statement was parsed; a statement string may change it
 * before a later report, so the value is remembered at the parse analysis
 * of the string's first statement.
 *
 * The hook never throws: it allocates only with MCXT_ALLOC_NO_OOM, in a
 * memory context of its own (and the report's own for the masked parts),
 * and when memory runs out it overwrites, in place, every part of the
 * report that could hold a password.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pssync.h"

/* what a masked password value reads in the log */
#define MASK "<hidden by pssync>"

/* how deep string constants are read as statements: DO, EXECUTE, ... */
#define MAX_DEPTH 8

/*
 * What a text whose quotes read differently under the two settings of
 * standard_conforming_strings reads in the log, when only one reading sets
 * a password: neither a secret nor the statement can be told apart.
 */
#define AMBIGUOUS "<hidden by pssync: its quoting depends on standard_conforming_strings>"

/* the most spans one part of a report may have masked; past it, all of it */
#define MAX_SPANS 65536

/* the most secret values looked for where a report may repeat them */
#define MAX_SECRET_ECHOES 64

/* ... and the least length of one (a shorter value is not looked for) */
#define MIN_SECRET_ECHO 6

/* PostgreSQL 16 made the vertical tab white space */
#if PG_VERSION_NUM >= 160000
#define VERTICAL_TAB_IS_SPACE true
#else
#define VERTICAL_TAB_IS_SPACE false
#endif

/*
 * How a text's quotes are read: under standard_conforming_strings on, off,
 * or both (when which one PostgreSQL used, or will use, is not known: the
 * body of a function or DO block is parsed when it runs).
 */
typedef enum Quoting
{
	QUOTING_STANDARD,
	QUOTING_ESCAPED,
	QUOTING_EITHER
} Quoting;

static emit_log_hook_type prev_emit_log_hook = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;
static MemoryContext filter_cxt = NULL;

/* set when an allocation of the filter failed: then it masks wholesale */
static bool out_of_memory = false;

/*
 * standard_conforming_strings as it was when the statement string being
 * run was parsed: recorded at the parse analysis of its first statement.
 * The text is only compared, never read.
 */
static struct
{
	const char *text;
	TimestampTz started;
	bool		standard_strings;
}			parsed_statement;

/*
 * The same by content, for a statement run from a copy of the text it was
 * parsed from (the extended protocol's Execute of a prepared statement):
 * the settings each text was analysed under (1: on, 2: off), in a table
 * of fixed size, which is emptied when three quarters full (a text it no
 * longer knows is then read both ways).
 */
#define PARSED_TEXTS 1024

typedef struct ParsedText
{
	uint64		hash;
	Size		len;			/* 0: an empty slot */
	uint8		settings;
} ParsedText;

static ParsedText parsed_texts[PARSED_TEXTS];
static int	parsed_text_count = 0;
static bool parsed_texts_forgotten = false;

/*
 * The statement being run, when it sets a password: our copy of it as sent
 * and the masked copy debug_query_string points to, both in MessageContext
 * (forgotten when it is reset).
 */
static struct
{
	char	   *original;
	char	   *shown;
	Quoting		quoting;
	bool		callback_registered;
}			masked_statement;
static MemoryContextCallback masked_statement_callback;

typedef enum TokenKind
{
	TOKEN_END,
	TOKEN_WORD,					/* an identifier or a keyword, unquoted */
	TOKEN_QUOTED_WORD,			/* "..." */
	TOKEN_UNICODE_WORD,			/* U&"..." */
	TOKEN_STRING,				/* a string constant of any kind */
	TOKEN_OPEN,					/* ( */
	TOKEN_CLOSE,				/* ) */
	TOKEN_COMMA,
	TOKEN_SEMICOLON,
	TOKEN_OTHER					/* numbers, operators, parameters ... */
} TokenKind;

/* How a string constant's contents are written (scan.l's states). */
typedef enum StringStyle
{
	STRING_STANDARD,			/* '...' (xq): '' is a quote */
	STRING_ESCAPED,				/* E'...', or '...' without
								 * standard_conforming_strings (xe) */
	STRING_UNICODE,				/* U&'...' (xus) */
	STRING_BITS,				/* B'...', X'...' (xb, xh) */
	STRING_DOLLAR				/* $tag$...$tag$ */
} StringStyle;

typedef struct Token
{
	TokenKind	kind;
	int			start;			/* the token's bytes: [start, end) */
	int			end;
	int			content_start;	/* a string's or quoted word's contents: */
	int			content_end;	/* from its first segment to its last */
	StringStyle style;
} Token;

typedef struct Lexer
{
	const char *s;
	int			len;
	int			pos;
	bool		standard_strings;	/* standard_conforming_strings */
} Lexer;

/* What a span of text masked reads in the log. */
typedef enum SpanKind
{
	SPAN_SECRET,				/* a secret's value: MASK */
	SPAN_AMBIGUOUS				/* a text whose quoting depends on
								 * standard_conforming_strings: AMBIGUOUS */
} SpanKind;

typedef struct Span
{
	int			start;			/* [start, end), in the outermost text */
	int			end;
	SpanKind	kind;
} Span;

/*
 * The spans of a text to mask.  Past MAX_SPANS the part is masked whole
 * (overflow): masking is bounded, whatever the text.
 */
typedef struct Spans
{
	int			count;
	int			allocated;
	Span	   *spans;
	bool		overflow;
} Spans;

/* Where the bytes of a text being read came from in the outermost one. */
typedef struct Origin
{
	const int  *map;			/* map[i] for byte i (and map[len]), or */
	int			offset;			/* offset + i without a map */
} Origin;

static void find_secrets(const char *s, int len, Origin origin,
						 Quoting quoting, int depth, Spans *spans);


/*
 * Memory: never an error, in filter_cxt.
 */
static void *
filter_alloc(Size size)
{
	void	   *p;

	if (out_of_memory)
		return NULL;
	p = palloc_extended(Max(size, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (p == NULL)
		out_of_memory = true;
	return p;
}


/*
 * The lexer: where PostgreSQL's scanner (scan.l) puts the boundaries of
 * tokens, strings and comments, without what it does with their values.
 */
static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
		(c == '\v' && VERTICAL_TAB_IS_SPACE);
}

static inline bool
is_horiz_space(char c)
{
	return c == ' ' || c == '\t' || c == '\f' ||
		(c == '\v' && VERTICAL_TAB_IS_SPACE);
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
at(const Lexer *lx, int i)
{
	return i < lx->len ? lx->s[i] : '\0';
}

/* the end of a -- comment that starts at p: its newline, or the end */
static int
line_comment_end(const Lexer *lx, int p)
{
	while (p < lx->len && lx->s[p] != '\n' && lx->s[p] != '\r')
		p++;
	return p;
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
			lx->pos = line_comment_end(lx, lx->pos);
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
 * After the closing quote of a string segment (p is just past it): where
 * the string continues, just past the opening quote of its next segment,
 * or -1.  scan.l: white space with a newline and then a quote; -- comments
 * count as white space, slash-star ones do not.
 */
static int
string_continues_at(const Lexer *lx, int p)
{
	while (p < lx->len)
	{
		if (is_horiz_space(lx->s[p]))
			p++;
		else if (lx->s[p] == '-' && at(lx, p + 1) == '-')
			p = line_comment_end(lx, p);
		else
			break;
	}
	if (p >= lx->len || (lx->s[p] != '\n' && lx->s[p] != '\r'))
		return -1;
	p++;
	while (p < lx->len)
	{
		if (is_space(lx->s[p]))
			p++;
		else if (lx->s[p] == '-' && at(lx, p + 1) == '-')
		{
			p = line_comment_end(lx, p);
			if (p >= lx->len)
				return -1;
			p++;				/* a comment counts with its newline */
		}
		else
			break;
	}
	return at(lx, p) == '\'' ? p + 1 : -1;
}

/*
 * The closing quote of a string segment whose contents start at p, or the
 * end of the text.  A doubled quote is a quote (but not in a bit string);
 * in an escaped string, a backslash takes the next byte with it.
 */
static int
segment_end(const Lexer *lx, int p, StringStyle style)
{
	while (p < lx->len)
	{
		char		c = lx->s[p];

		if (c == '\\' && style == STRING_ESCAPED)
			p += 2;
		else if (c == '\'')
		{
			if (style != STRING_BITS && at(lx, p + 1) == '\'')
				p += 2;
			else
				return p;
		}
		else
			p++;
	}
	return lx->len;
}

/* A string constant whose contents start at p, over all its segments. */
static void
lex_string(Lexer *lx, Token *t, int p, StringStyle style)
{
	t->kind = TOKEN_STRING;
	t->style = style;
	t->content_start = p;
	for (;;)
	{
		int			next;

		p = segment_end(lx, p, style);
		t->content_end = p;
		if (p >= lx->len)
		{
			lx->pos = lx->len;	/* unterminated */
			return;
		}
		next = string_continues_at(lx, p + 1);
		if (next < 0)
		{
			lx->pos = p + 1;
			return;
		}
		p = next;
	}
}

/* A quoted identifier whose contents start at p: "" is a quote. */
static void
lex_quoted_word(Lexer *lx, Token *t, int p, TokenKind kind)
{
	t->kind = kind;
	t->content_start = p;
	while (p < lx->len)
	{
		if (lx->s[p] == '"')
		{
			if (at(lx, p + 1) != '"')
				break;
			p++;
		}
		p++;
	}
	t->content_end = Min(p, lx->len);
	lx->pos = Min(p + 1, lx->len);
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

/*
 * A number, and whatever letters stick to it: PostgreSQL takes those for
 * an exponent, a radix (0x1F) or an error, never for the start of a
 * string.
 */
static void
lex_number(Lexer *lx)
{
	while (lx->pos < lx->len)
	{
		char		c = lx->s[lx->pos];

		if ((c >= '0' && c <= '9') || c == '.' || c == '_' ||
			(c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IS_HIGHBIT_SET(c))
			lx->pos++;
		else if ((c == '+' || c == '-') &&
				 (lx->s[lx->pos - 1] == 'e' || lx->s[lx->pos - 1] == 'E') &&
				 at(lx, lx->pos + 1) >= '0' && at(lx, lx->pos + 1) <= '9')
			lx->pos++;
		else
			break;
	}
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
	t->style = STRING_STANDARD;
	if (lx->pos >= lx->len)
	{
		t->kind = TOKEN_END;
		t->end = lx->pos;
		return;
	}
	c = lx->s[lx->pos];
	c1 = at(lx, lx->pos + 1);

	if ((c == 'e' || c == 'E') && c1 == '\'')
		lex_string(lx, t, lx->pos + 2, STRING_ESCAPED);
	else if ((c == 'b' || c == 'B' || c == 'x' || c == 'X') && c1 == '\'')
		lex_string(lx, t, lx->pos + 2, STRING_BITS);
	else if ((c == 'u' || c == 'U') && c1 == '&' && at(lx, lx->pos + 2) == '\'')
		lex_string(lx, t, lx->pos + 3, STRING_UNICODE);
	else if ((c == 'u' || c == 'U') && c1 == '&' && at(lx, lx->pos + 2) == '"')
		lex_quoted_word(lx, t, lx->pos + 3, TOKEN_UNICODE_WORD);
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
		lex_string(lx, t, lx->pos + 1,
				   lx->standard_strings ? STRING_STANDARD : STRING_ESCAPED);
	else if (c == '"')
		lex_quoted_word(lx, t, lx->pos + 1, TOKEN_QUOTED_WORD);
	else if (c == '$')
		lex_dollar(lx, t);
	else if (c == '(' || c == ')' || c == ',' || c == ';')
	{
		t->kind = c == '(' ? TOKEN_OPEN : c == ')' ? TOKEN_CLOSE :
			c == ',' ? TOKEN_COMMA : TOKEN_SEMICOLON;
		lx->pos++;
	}
	else if ((c >= '0' && c <= '9') || (c == '.' && c1 >= '0' && c1 <= '9'))
	{
		t->kind = TOKEN_OTHER;
		lex_number(lx);
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

/* Does text hold word, ignoring ASCII case? */
static bool
contains_word(const char *s, int len, const char *word)
{
	int			n = strlen(word);
	int			i;

	for (i = 0; i + n <= len; i++)
	{
		if (pg_ascii_tolower((unsigned char) s[i]) == word[0] &&
			pg_strncasecmp(s + i, word, n) == 0)
			return true;
	}
	return false;
}

/* Is a word token, ignoring ASCII case, this keyword? */
static bool
is_keyword(const Lexer *lx, const Token *t, const char *keyword)
{
	int			len = strlen(keyword);

	return t->kind == TOKEN_WORD && t->end - t->start == len &&
		pg_strncasecmp(lx->s + t->start, keyword, len) == 0;
}

/*
 * Does an option name say its value is a secret?  Any name with password,
 * passwd, passphrase, secret or pwd in it (odbc_fdw's odbc_PWD), ignoring
 * ASCII case, and any name written with Unicode escapes.
 */
static bool
names_a_secret(const Lexer *lx, const Token *t)
{
	static const char *const words[] = {"password", "passwd", "passphrase", "secret", "pwd"};
	const char *name;
	int			len;
	int			i;

	if (t->kind == TOKEN_UNICODE_WORD)
		return true;
	if (t->kind == TOKEN_WORD)
	{
		name = lx->s + t->start;
		len = t->end - t->start;
	}
	else if (t->kind == TOKEN_QUOTED_WORD)
	{
		name = lx->s + t->content_start;
		len = t->content_end - t->content_start;
	}
	else
		return false;
	for (i = 0; i < (int) lengthof(words); i++)
	{
		if (contains_word(name, len, words[i]))
			return true;
	}
	return false;
}


/*
 * Spans, and the contents of string constants as statements.
 */
static void
add_span_kind(Spans *spans, int start, int end, SpanKind kind)
{
	if (start >= end || spans->overflow)
		return;
	if (spans->count >= MAX_SPANS)
	{
		spans->overflow = true;
		return;
	}
	if (spans->count == spans->allocated)
	{
		int			allocated = Min(Max(8, spans->allocated * 2), MAX_SPANS);
		Span	   *more = filter_alloc(sizeof(Span) * allocated);

		if (more == NULL)
			return;
		if (spans->count > 0)
		{
			memcpy(more, spans->spans, sizeof(Span) * spans->count);
			pfree(spans->spans);
		}
		spans->spans = more;
		spans->allocated = allocated;
	}
	spans->spans[spans->count].start = start;
	spans->spans[spans->count].end = end;
	spans->spans[spans->count].kind = kind;
	spans->count++;
}

static void
add_span(Spans *spans, int start, int end)
{
	add_span_kind(spans, start, end, SPAN_SECRET);
}

/* Add every span of one set to another. */
static void
add_spans(Spans *to, const Spans *from)
{
	int			i;

	to->overflow |= from->overflow;
	for (i = 0; i < from->count; i++)
		add_span_kind(to, from->spans[i].start, from->spans[i].end, from->spans[i].kind);
}

static int
compare_spans(const void *a, const void *b)
{
	const Span *x = (const Span *) a;
	const Span *y = (const Span *) b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return (int) x->kind - (int) y->kind;
}

static void
sort_spans(Spans *spans)
{
	if (spans->count > 1)
		qsort(spans->spans, spans->count, sizeof(Span), compare_spans);
}

static bool
same_spans(Spans *a, Spans *b)
{
	int			i;

	if (a->count != b->count || a->overflow != b->overflow)
		return false;
	sort_spans(a);
	sort_spans(b);
	for (i = 0; i < a->count; i++)
	{
		if (compare_spans(&a->spans[i], &b->spans[i]) != 0)
			return false;
	}
	return true;
}

static void
free_spans(Spans *spans)
{
	if (spans->spans)
		pfree(spans->spans);
	memset(spans, 0, sizeof(Spans));
}

/* Where byte i of a text came from in the outermost one. */
static inline int
outer(Origin origin, int i)
{
	return origin.map ? origin.map[i] : origin.offset + i;
}

/* Mask bytes [start, end) of the text being read. */
static void
mask_range(Origin origin, int start, int end, Spans *spans)
{
	add_span(spans, outer(origin, start), outer(origin, end));
}

/* Mask a secret token: a string's contents segment by segment, or all of it. */
static void
mask_token(const Lexer *lx, const Token *t, Origin origin, Spans *spans)
{
	int			p;

	if (t->kind != TOKEN_STRING)
	{
		mask_range(origin, t->start, t->end, spans);
		return;
	}
	if (t->style == STRING_DOLLAR)
	{
		mask_range(origin, t->content_start, t->content_end, spans);
		return;
	}
	p = t->content_start;
	for (;;)
	{
		int			q = segment_end(lx, p, t->style);

		mask_range(origin, p, q, spans);
		if (q >= t->content_end)
			return;
		p = string_continues_at(lx, q + 1);
		if (p < 0)
			return;
	}
}

static inline int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return pg_ascii_tolower((unsigned char) c) - 'a' + 10;
}

/* n hex digits at s[p], or -1 */
static int
hex_digits(const Lexer *lx, int p, int n)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (p + i >= lx->len || !isxdigit((unsigned char) lx->s[p + i]))
			return -1;
		v = v * 16 + hex_value(lx->s[p + i]);
	}
	return v;
}

/*
 * A character given by its code point, as the lexer needs it: itself in
 * ASCII, any other letter beyond it.
 */
static inline char
code_point_char(int c)
{
	return c > 0 && c < 0x80 ? (char) c : (char) 0x80;
}

/*
 * The escape character of a U&'...' string: what a UESCAPE clause after
 * it gives, or a backslash.
 */
static char
unicode_escape_char(const Lexer *lx, const Token *t)
{
	Lexer		ahead = *lx;
	Token		u;

	ahead.pos = t->end;
	next_token(&ahead, &u);
	if (!is_keyword(&ahead, &u, "uescape"))
		return '\\';
	next_token(&ahead, &u);
	if (u.kind == TOKEN_STRING && u.content_end - u.content_start == 1)
		return ahead.s[u.content_start];
	return '\\';
}

/*
 * The decoded value of one segment of a string, [p, end), appended at
 * value[*k] with where each byte came from.
 */
static void
decode_segment(const Lexer *lx, int p, int end, StringStyle style, char escape,
			   char *value, int *where, int *k, Origin origin)
{
	while (p < end)
	{
		char		c = lx->s[p];
		int			used = 1;

		if (c == '\'' && style != STRING_DOLLAR && p + 1 < end)
			used = 2;			/* a doubled quote */
		else if (c == '\\' && style == STRING_ESCAPED && p + 1 < end)
		{
			char		e = lx->s[p + 1];
			int			v;

			used = 2;
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
					v = hex_digits(lx, p + 2, 2);
					if (v >= 0 && p + 4 <= end)
						used = 4;
					else if ((v = hex_digits(lx, p + 2, 1)) >= 0 && p + 3 <= end)
						used = 3;
					c = used > 2 ? (char) v : 'x';
					break;
				case 'u':
				case 'U':
					{
						int			n = e == 'u' ? 4 : 8;

						v = hex_digits(lx, p + 2, n);
						if (v >= 0 && p + 2 + n <= end)
						{
							used = 2 + n;
							c = code_point_char(v);
						}
						else
							c = e;	/* an error to PostgreSQL */
						break;
					}
				default:
					if (e >= '0' && e <= '7')
					{
						v = 0;
						used = 1;
						while (used < 4 && p + used < end &&
							   lx->s[p + used] >= '0' && lx->s[p + used] <= '7')
							v = v * 8 + (lx->s[p + used++] - '0');
						c = (char) v;
					}
					else
						c = e;
					break;
			}
		}
		else if (c == escape && style == STRING_UNICODE && p + 1 < end)
		{
			int			v;

			if (lx->s[p + 1] == escape)
				used = 2;
			else if (lx->s[p + 1] == '+' && (v = hex_digits(lx, p + 2, 6)) >= 0 &&
					 p + 8 <= end)
			{
				used = 8;
				c = code_point_char(v);
			}
			else if ((v = hex_digits(lx, p + 1, 4)) >= 0 && p + 5 <= end)
			{
				used = 5;
				c = code_point_char(v);
			}
		}
		where[*k] = outer(origin, p);
		value[(*k)++] = c;
		p += used;
	}
}

/*
 * The value of a string constant, with where each of its bytes came from
 * (map[i]; map[len] is the end of its contents), for reading it as
 * statements in turn.  NULL when memory runs out.
 */
static char *
string_value(const Lexer *lx, const Token *t, Origin origin, int **map, int *len)
{
	int			n = t->content_end - t->content_start;
	char	   *value = filter_alloc(n + 1);
	int		   *where = filter_alloc(sizeof(int) * (n + 1));
	char		escape = '\\';
	int			k = 0;
	int			p;

	if (value == NULL || where == NULL)
		return NULL;
	if (t->style == STRING_UNICODE)
		escape = unicode_escape_char(lx, t);
	if (t->style == STRING_DOLLAR)
		decode_segment(lx, t->content_start, t->content_end, t->style, escape,
					   value, where, &k, origin);
	else
	{
		p = t->content_start;
		for (;;)
		{
			int			q = segment_end(lx, p, t->style);

			decode_segment(lx, p, q, t->style, escape, value, where, &k, origin);
			if (q >= t->content_end)
				break;
			p = string_continues_at(lx, q + 1);
			if (p < 0)
				break;
		}
	}
	where[k] = outer(origin, t->content_end);
	value[k] = '\0';
	*map = where;
	*len = k;
	return value;
}

/*
 * Could a text hold a user mapping statement: the word, or an escape that
 * could spell it in a string (a backslash, or a U& string, whose escape
 * character may be any)?
 */
static bool
may_hold_secrets(const char *s, int len)
{
	return contains_word(s, len, "mapping") || memchr(s, '\\', len) != NULL ||
		contains_word(s, len, "u&");
}

/*
 * Can a text read differently under the two settings of
 * standard_conforming_strings?  Only where a backslash comes before a
 * quote (in '...', "\'" ends the string or not).
 */
static bool
quoting_matters(const char *s, int len)
{
	const char *p = s;
	const char *end = s + len;

	while (p < end && (p = memchr(p, '\\', end - p)) != NULL)
	{
		if (p + 1 < end && p[1] == '\'')
			return true;
		p++;
	}
	return false;
}

/* Read a string constant's value as statements, one level deeper. */
static void
find_secrets_in_string(const Lexer *lx, const Token *t, Origin origin,
					   int depth, Spans *spans)
{
	Origin		inner;
	int		   *map;
	int			len;
	char	   *value;

	if (depth >= MAX_DEPTH || t->style == STRING_BITS ||
		!may_hold_secrets(lx->s + t->content_start,
						  t->content_end - t->content_start))
		return;
	value = string_value(lx, t, origin, &map, &len);
	if (value == NULL)
		return;
	inner.map = map;
	inner.offset = 0;

	/*
	 * The value is parsed when it runs (a DO block, EXECUTE, a function's
	 * body), under whatever standard_conforming_strings is then: read it
	 * both ways.
	 */
	if (may_hold_secrets(value, len))
		find_secrets(value, len, inner, QUOTING_EITHER, depth + 1, spans);
	pfree(value);
	pfree(map);
}

/*
 * Find the secret values of the user mapping statements in text s (len
 * bytes) read with one setting of standard_conforming_strings, and add
 * their spans.  The keywords may start anywhere: a log line quotes a
 * statement after words of its own ("cron job 1 starting: ...").
 */
static void
find_secrets_read(const char *s, int len, Origin origin, bool standard_strings,
				  int depth, Spans *spans)
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
	bool		in_secret = false;

	lx.s = s;
	lx.len = len;
	lx.pos = 0;
	lx.standard_strings = standard_strings;

	while (!out_of_memory && !spans->overflow)
	{
		next_token(&lx, &t);
		if (t.kind == TOKEN_END)
			break;

		if (state == IN_OPTIONS)
		{
			if (in_secret)
			{
				/*
				 * A secret's value: a string (one token, over all its
				 * segments).  In a statement sent as it is, a password typed
				 * without quotes (a syntax error, logged with the
				 * statement) is one token too.  Within a string, a statement
				 * may be a template: format()'s %L stays.
				 */
				in_secret = false;
				if (t.kind == TOKEN_STRING ||
					(depth == 0 && t.kind != TOKEN_COMMA && t.kind != TOKEN_CLOSE &&
					 t.kind != TOKEN_OPEN && t.kind != TOKEN_SEMICOLON))
				{
					mask_token(&lx, &t, origin, spans);
					continue;
				}
			}
			if (t.kind == TOKEN_OPEN)
				parens++;
			else if (t.kind == TOKEN_CLOSE && --parens == 0)
				state = IN_MAPPING;
			else if (t.kind == TOKEN_SEMICOLON)
				state = OUTSIDE;
			else if (names_a_secret(&lx, &t))
				in_secret = true;
			else if (t.kind == TOKEN_STRING)
				find_secrets_in_string(&lx, &t, origin, depth, spans);
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
					in_secret = false;
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
		}
		if (t.kind == TOKEN_STRING && state != IN_OPTIONS)
			find_secrets_in_string(&lx, &t, origin, depth, spans);
	}
}

/*
 * The secrets of a text under a quoting.  Read both ways, the two readings
 * must agree: where only one of them finds a secret, or they find
 * different ones, the text's tokens depend on the setting, and the whole
 * text is masked as ambiguous (visibly, never as a password): so a string
 * crafted to read as a password value under one setting cannot hide the
 * statements that follow it under the other, and no password is shown
 * either.
 */
static void
find_secrets(const char *s, int len, Origin origin, Quoting quoting,
			 int depth, Spans *spans)
{
	Spans		standard;
	Spans		escaped;

	if (quoting != QUOTING_EITHER || !quoting_matters(s, len))
	{
		find_secrets_read(s, len, origin, quoting != QUOTING_ESCAPED, depth, spans);
		return;
	}
	memset(&standard, 0, sizeof(standard));
	memset(&escaped, 0, sizeof(escaped));
	find_secrets_read(s, len, origin, true, depth, &standard);
	find_secrets_read(s, len, origin, false, depth, &escaped);
	if (same_spans(&standard, &escaped))
		add_spans(spans, &standard);
	else
		add_span_kind(spans, outer(origin, 0), outer(origin, len), SPAN_AMBIGUOUS);
	free_spans(&standard);
	free_spans(&escaped);
}

/* The secrets of a whole text, read from its start. */
static void
find_secrets_in_text(const char *s, int len, int offset, Quoting quoting,
					 Spans *spans)
{
	Origin		origin;

	if (!may_hold_secrets(s, len))
		return;
	origin.map = NULL;
	origin.offset = offset;
	find_secrets(s, len, origin, quoting, 0, spans);
}


/*
 * The statement being run, read once: its secrets are looked for at its
 * first report and kept, with how it was read, for the rest of the
 * message (a statement that reports thousands of times is not read
 * thousands of times).  Forgotten when MessageContext is reset, and when
 * another statement is run.
 */
typedef struct StatementSecrets
{
	const char *text;			/* compared, never read after the message */
	TimestampTz started;
	Size		len;
	Quoting		quoting;
	Spans		spans;			/* in statement_cxt */
} StatementSecrets;

static StatementSecrets statement_secrets;
static MemoryContext statement_cxt = NULL;

static ParsedText *
parsed_text(const char *text, Size len, bool add)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) text, len, 0);
	int			i = (int) (hash % PARSED_TEXTS);

	if (add && parsed_text_count >= PARSED_TEXTS * 3 / 4)
	{
		memset(parsed_texts, 0, sizeof(parsed_texts));
		parsed_text_count = 0;
		parsed_texts_forgotten = true;
	}
	for (;;)
	{
		ParsedText *slot = &parsed_texts[i];

		if (slot->len == 0)
		{
			if (!add)
				return NULL;
			slot->hash = hash;
			slot->len = len;
			parsed_text_count++;
			return slot;
		}
		if (slot->hash == hash && slot->len == len)
			return slot;
		i = (i + 1) % PARSED_TEXTS;
	}
}

/*
 * How the statement being run was parsed.  Before the analysis of its
 * first statement nothing in a query string has run, so a text never
 * analysed (the reports of log_statement and of parse errors come then)
 * was parsed with the setting in force now.
 */
static Quoting
parse_time_quoting(const char *statement, Size len)
{
	ParsedText *parsed;

	if (statement == parsed_statement.text &&
		parsed_statement.started == GetCurrentStatementStartTimestamp())
		return parsed_statement.standard_strings ? QUOTING_STANDARD : QUOTING_ESCAPED;
	parsed = parsed_text(statement, len, false);
	if (parsed == NULL)
	{
		if (parsed_texts_forgotten)
			return QUOTING_EITHER;
		return standard_conforming_strings ? QUOTING_STANDARD : QUOTING_ESCAPED;
	}
	if (parsed->settings == 1)
		return QUOTING_STANDARD;
	if (parsed->settings == 2)
		return QUOTING_ESCAPED;
	return QUOTING_EITHER;
}

/*
 * The secrets of the statement being run, and how it was parsed (quoting
 * NULL: as parse_time_quoting() says).
 */
static Spans *
statement_spans(const char *statement, Quoting *quoting)
{
	TimestampTz started = GetCurrentStatementStartTimestamp();
	Size		len = strlen(statement);
	MemoryContext old;

	if (statement_secrets.text == statement && statement_secrets.started == started &&
		statement_secrets.len == len)
	{
		*quoting = statement_secrets.quoting;
		return &statement_secrets.spans;
	}

	MemoryContextReset(statement_cxt);
	memset(&statement_secrets, 0, sizeof(statement_secrets));
	if (*quoting == QUOTING_EITHER)
		*quoting = parse_time_quoting(statement, len);
	old = MemoryContextSwitchTo(statement_cxt);
	find_secrets_in_text(statement, len, 0, *quoting, &statement_secrets.spans);
	MemoryContextSwitchTo(old);
	if (out_of_memory)
	{
		/* not kept: read again at the next report */
		memset(&statement_secrets, 0, sizeof(statement_secrets));
		statement_secrets.spans.overflow = true;
		return &statement_secrets.spans;
	}
	sort_spans(&statement_secrets.spans);
	statement_secrets.text = statement;
	statement_secrets.started = started;
	statement_secrets.len = len;
	statement_secrets.quoting = *quoting;
	return &statement_secrets.spans;
}


/*
 * Where reports quote statements.
 */

/*
 * The spans of a statement text, shifted to each place a part repeats it;
 * those places are marked in *repeated (a bitmap-free list of [start,
 * end) ranges: the repeats themselves, as spans of a Spans).
 */
static void
mask_occurrences(const char *part, int part_len, const char *text, int text_len,
				 const Spans *text_spans, Spans *spans, Spans *repeats)
{
	const char *p = part;

	if (text_len == 0)
		return;
	while (p + text_len <= part + part_len && !spans->overflow)
	{
		const char *hit = memmem(p, part + part_len - p, text, text_len);
		int			i;

		if (hit == NULL)
			break;
		if (text_spans->overflow)
			add_span(spans, hit - part, (hit - part) + text_len);
		for (i = 0; i < text_spans->count; i++)
			add_span_kind(spans, (hit - part) + text_spans->spans[i].start,
						  (hit - part) + text_spans->spans[i].end,
						  text_spans->spans[i].kind);
		if (repeats)
			add_span(repeats, hit - part, (hit - part) + text_len);
		p = hit + text_len;
	}
}

/*
 * pgaudit's line: "AUDIT: <type>,<id>,<id>,<class>,<command>,<object
 * type>,<object name>,<statement>,<parameters>", its fields quoted as CSV
 * when they hold a comma, a quote or a line break.  The statement field's
 * contents: [*start, *end), and whether it is quoted.
 */
static bool
audit_statement_field(const char *s, int len, int *start, int *end, bool *quoted)
{
	static const char prefix[] = "AUDIT: ";
	int			p = sizeof(prefix) - 1;
	int			field;

	if (len < p || memcmp(s, prefix, p) != 0)
		return false;
	for (field = 0; field < 8; field++)
	{
		bool		in_quotes = p < len && s[p] == '"';
		int			q = in_quotes ? p + 1 : p;

		if (in_quotes)
		{
			while (q < len && !(s[q] == '"' && (q + 1 >= len || s[q + 1] != '"')))
				q += s[q] == '"' ? 2 : 1;
		}
		else
		{
			while (q < len && s[q] != ',')
				q++;
		}
		if (field == 7)
		{
			*start = in_quotes ? p + 1 : p;
			*end = Min(q, len);
			*quoted = in_quotes;
			return true;
		}
		if (in_quotes)
			q++;
		if (q >= len || s[q] != ',')
			return false;
		p = q + 1;
	}
	return false;
}

/* The secrets of pgaudit's statement field, its "" read as ". */
static void
find_secrets_in_audit_line(const char *s, int len, const char *statement,
						   Quoting statement_quoting, Spans *spans)
{
	int			start;
	int			end;
	bool		quoted;
	char	   *value;
	int		   *map;
	int			k = 0;
	int			p;
	Origin		origin;
	Quoting		quoting = QUOTING_EITHER;

	if (!audit_statement_field(s, len, &start, &end, &quoted))
		return;
	value = filter_alloc(end - start + 1);
	map = filter_alloc(sizeof(int) * (end - start + 1));
	if (value == NULL || map == NULL)
		return;
	for (p = start; p < end; p++)
	{
		map[k] = p;
		value[k++] = s[p];
		if (quoted && s[p] == '"')
			p++;
	}
	map[k] = end;
	value[k] = '\0';
	/* the statement being run, or one it ran (a DO block's, a function's) */
	if (statement != NULL && strcmp(value, statement) == 0)
		quoting = statement_quoting;
	origin.map = map;
	origin.offset = 0;
	if (may_hold_secrets(value, k))
		find_secrets(value, k, origin, quoting, 0, spans);
}

/*
 * A part of a report: where it repeats the statement being run
 * (log_statement, log_min_duration_statement, ...), that statement's
 * spans; a pgaudit line's statement field; and the rest of it read from
 * its start, the repeats left out (so that what precedes a repeat cannot
 * shift how the repeat is read).
 */
static void
find_secrets_in_part(const char *part, const char *statement,
					 const Spans *statement_spans, Quoting statement_quoting,
					 Spans *spans)
{
	int			len = strlen(part);
	Spans		repeats;
	char	   *rest;
	int		   *map;
	int			k = 0;
	int			p = 0;
	int			i;
	Origin		origin;

	if (!may_hold_secrets(part, len))
		return;
	if (strncmp(part, "AUDIT: ", 7) == 0)
	{
		find_secrets_in_audit_line(part, len, statement, statement_quoting, spans);
		return;
	}
	memset(&repeats, 0, sizeof(repeats));
	if (statement != NULL)
		mask_occurrences(part, len, statement, strlen(statement), statement_spans,
						 spans, &repeats);
	if (repeats.count == 0)
	{
		find_secrets_in_text(part, len, 0, QUOTING_EITHER, spans);
		return;
	}

	/* the rest, each repeat a space */
	rest = filter_alloc(len + 1);
	map = filter_alloc(sizeof(int) * (len + 1));
	if (rest == NULL || map == NULL)
		return;
	for (i = 0; i <= repeats.count; i++)
	{
		int			until = i < repeats.count ? repeats.spans[i].start : len;

		for (; p < until; p++)
		{
			map[k] = p;
			rest[k++] = part[p];
		}
		if (i < repeats.count)
		{
			map[k] = p;
			rest[k++] = ' ';
			p = repeats.spans[i].end;
		}
	}
	map[k] = len;
	rest[k] = '\0';
	origin.map = map;
	origin.offset = 0;
	if (may_hold_secrets(rest, k))
		find_secrets(rest, k, origin, QUOTING_EITHER, 0, spans);
}

/*
 * An error about a statement that holds secrets may quote it from the
 * error's position on ("unterminated quoted string at or near ..."): when
 * the position (in characters, from 1) falls on a secret, or on the quote
 * that opens it, what the part repeats of the statement from there to the
 * secret's end is masked (its first repeat only).
 */
static void
mask_secret_at_position(const char *part, const char *statement,
						const Spans *statement_spans, int position, Spans *spans)
{
	int			len;
	int			byte = 0;
	int			chars;
	int			i;

	if (position <= 0 || statement_spans->count == 0)
		return;
	len = strlen(statement);
	for (chars = 1; chars < position && byte < len; chars++)
		byte += pg_mblen(statement + byte);
	for (i = 0; i < statement_spans->count; i++)
	{
		const Span *secret = &statement_spans->spans[i];
		const char *hit;

		/* the secret, or the quote (E', U&', $tag$) that opens it */
		if (byte > secret->end || secret->start - byte > NAMEDATALEN + 2)
			continue;
		hit = memmem(part, strlen(part), statement + byte, secret->end - byte);
		if (hit)
			add_span(spans, hit - part + Max(secret->start - byte, 0),
					 hit - part + (secret->end - byte));
		break;
	}
}

/*
 * Where a report repeats a secret of the statement being run in a form no
 * lexer reads (debug_print_parse's dump of the parse tree, a message that
 * echoes a value): each secret of at least MIN_SECRET_ECHO bytes, up to
 * MAX_SECRET_ECHOES of them, is masked wherever the part holds it.
 */
static void
mask_secret_echoes(const char *part, const char *statement,
				   const Spans *statement_spans, Spans *spans)
{
	int			len = strlen(part);
	int			looked = 0;
	int			i;

	for (i = 0; i < statement_spans->count && looked < MAX_SECRET_ECHOES; i++)
	{
		const Span *secret = &statement_spans->spans[i];
		int			n = secret->end - secret->start;
		const char *p = part;

		if (secret->kind != SPAN_SECRET || n < MIN_SECRET_ECHO)
			continue;
		looked++;
		while (!spans->overflow &&
			   (p = memmem(p, part + len - p, statement + secret->start, n)) != NULL)
		{
			add_span(spans, p - part, p - part + n);
			p += n;
		}
	}
}

/*
 * The formats of the CONTEXT lines that quote a statement SPI ran, in the
 * language of the server's messages (lc_messages): "SQL statement \"%s\""
 * and the like.  Each line is read from just after its opening quote.
 */
static const char *const context_formats[] = {
	gettext_noop("SQL statement \"%s\""),
	gettext_noop("SQL expression \"%s\""),
	gettext_noop("PL/pgSQL expression \"%s\""),
	gettext_noop("PL/pgSQL assignment \"%s\"")
};

/*
 * The context's lines that quote a statement: each read from where it
 * starts to where the next such line starts (each read once), under both
 * settings of standard_conforming_strings (each level of a nest of
 * functions may have its own).
 */
static void
find_secrets_in_context(const char *context, Spans *spans)
{
	const char *markers[lengthof(context_formats)];
	int			marker_lengths[lengthof(context_formats)];
	int			len = strlen(context);
	int			previous = -1;
	int			p;
	int			i;

	if (!may_hold_secrets(context, len))
		return;
	for (i = 0; i < (int) lengthof(context_formats); i++)
	{
		const char *format = dgettext(PG_TEXTDOMAIN("postgres"), context_formats[i]);
		const char *hole = strstr(format, "%s");

		markers[i] = format;
		marker_lengths[i] = (int) (hole ? (size_t) (hole - format) : strlen(format));
	}
	for (p = 0; p <= len && !spans->overflow; p++)
	{
		int			start = -1;

		if (p < len && p > 0 && context[p - 1] != '\n')
			continue;
		for (i = 0; p < len && i < (int) lengthof(context_formats); i++)
		{
			if (marker_lengths[i] > 0 &&
				strncmp(context + p, markers[i], marker_lengths[i]) == 0)
			{
				start = p + marker_lengths[i];
				break;
			}
		}
		if (start < 0 && p < len)
			continue;
		/* the statement before this line: up to here */
		if (previous >= 0)
			find_secrets_in_text(context + previous, p - previous, previous,
								 QUOTING_EITHER, spans);
		previous = start;
	}
}


/*
 * Masking.
 */

/*
 * Text with the spans masked, allocated in cxt, or NULL when memory runs
 * out or the text would grow past what a log line may hold.  The spans may
 * repeat or overlap: what any of them covers is masked once, as ambiguous
 * if any of those spans is.
 */
static char *
masked_text(const char *text, Spans *spans, MemoryContext cxt)
{
	int			len = strlen(text);
	char	   *out = NULL;
	int			pass;

	sort_spans(spans);
	for (pass = 0; pass < 2; pass++)
	{
		Size		n = 0;
		int			pos = 0;
		int			i = 0;

		while (i < spans->count)
		{
			int			start = spans->spans[i].start;
			int			end = spans->spans[i].end;
			SpanKind	kind = spans->spans[i].kind;
			const char *mask;

			/* merge the spans that overlap or touch this one */
			for (i++; i < spans->count && spans->spans[i].start <= end; i++)
			{
				end = Max(end, spans->spans[i].end);
				kind = Max(kind, spans->spans[i].kind);
			}
			start = Max(start, pos);
			end = Min(end, len);
			if (start >= end)
				continue;
			mask = kind == SPAN_AMBIGUOUS ? AMBIGUOUS : MASK;
			if (out)
			{
				memcpy(out + n, text + pos, start - pos);
				memcpy(out + n + (start - pos), mask, strlen(mask));
			}
			n += (start - pos) + strlen(mask);
			pos = end;
		}
		if (out)
		{
			memcpy(out + n, text + pos, len - pos);
			out[n + (len - pos)] = '\0';
			return out;
		}
		n += (len - pos) + 1;
		if (n > MaxAllocSize / 4)
			return NULL;		/* masked whole instead */
		out = MemoryContextAllocExtended(cxt, n, MCXT_ALLOC_NO_OOM);
		if (out == NULL)
		{
			out_of_memory = true;
			return NULL;
		}
	}
	return out;
}

/*
 * A part masked whole, in place, as far as the mask fits in it, if it
 * could hold a secret: when memory ran out, when it had too many spans, or
 * inside a critical section (where nothing may be allocated).
 */
static void
mask_wholesale(char *text)
{
	int			len;

	if (text == NULL)
		return;
	len = strlen(text);
	if (may_hold_secrets(text, len))
		strlcpy(text, MASK, len + 1);
}

/* A part with its spans masked: a new string in cxt, or itself. */
static char *
apply_spans(char *text, Spans *spans, MemoryContext cxt)
{
	char	   *masked;

	if (spans->overflow)
	{
		mask_wholesale(text);
		return text;
	}
	if (spans->count == 0 || out_of_memory)
		return text;
	masked = masked_text(text, spans, cxt);
	if (masked == NULL)
	{
		mask_wholesale(text);
		return text;
	}
	return masked;
}


/*
 * The statement being run: debug_query_string pointed at a masked copy.
 */
static void
forget_masked_statement(void *arg pg_attribute_unused())
{
	masked_statement.original = NULL;
	masked_statement.shown = NULL;
	masked_statement.callback_registered = false;
	memset(&statement_secrets, 0, sizeof(statement_secrets));
}

/*
 * Point debug_query_string at a masked copy of the statement, kept in
 * MessageContext with a copy of the statement as sent; false when that
 * cannot be (no MessageContext outside a client's backend, or no memory).
 */
static bool
show_masked_statement(const char *statement, Spans *spans, Quoting quoting)
{
	char	   *original;
	char	   *shown;

	if (MessageContext == NULL || spans->overflow)
		return false;
	original = MemoryContextAllocExtended(MessageContext, strlen(statement) + 1,
										  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (original == NULL)
		return false;
	strcpy(original, statement);
	shown = masked_text(statement, spans, MessageContext);
	if (shown == NULL)
	{
		pfree(original);
		return false;
	}
	if (!masked_statement.callback_registered)
	{
		masked_statement_callback.func = forget_masked_statement;
		masked_statement_callback.arg = NULL;
		MemoryContextRegisterResetCallback(MessageContext, &masked_statement_callback);
		masked_statement.callback_registered = true;
	}
	masked_statement.original = original;
	masked_statement.shown = shown;
	masked_statement.quoting = quoting;
	debug_query_string = shown;
	return true;
}

/*
 * Inside a critical section nothing may be allocated: every part that
 * could hold a secret is masked whole in place, and the STATEMENT line is
 * left out if the statement could hold one.
 */
static void
hide_passwords_in_critical_section(ErrorData *edata)
{
	const char *statement = debug_query_string;

	if (statement && statement != masked_statement.shown &&
		may_hold_secrets(statement, strlen(statement)))
		edata->hide_stmt = true;
	mask_wholesale(edata->message);
	mask_wholesale(edata->detail);
	mask_wholesale(edata->detail_log);
	mask_wholesale(edata->hint);
	mask_wholesale(edata->context);
	mask_wholesale(edata->internalquery);
}

/*
 * The hook.  The report's parts are replaced by masked copies in its own
 * memory context (which frees them with the report); everything else is
 * allocated in filter_cxt, reset before returning, but the statement's
 * secrets, kept in statement_cxt for its next reports.
 */
static void
hide_passwords(ErrorData *edata)
{
	MemoryContext report_cxt = CurrentMemoryContext;
	MemoryContext old;
	const char *statement = debug_query_string;
	Quoting		statement_quoting = QUOTING_EITHER;
	Spans		none;
	Spans	   *secrets = &none;
	Spans		internal_spans;
	Spans		spans[5];
	char	  **parts[5];
	int			i;

	if (CritSectionCount > 0)
	{
		hide_passwords_in_critical_section(edata);
		if (prev_emit_log_hook)
			prev_emit_log_hook(edata);
		return;
	}

	old = MemoryContextSwitchTo(filter_cxt);
	out_of_memory = false;
	memset(&none, 0, sizeof(none));
	memset(&internal_spans, 0, sizeof(internal_spans));

	/* the statement being run, as it was sent and parsed */
	if (statement != NULL && statement == masked_statement.shown)
	{
		statement = masked_statement.original;
		statement_quoting = masked_statement.quoting;
	}
	if (statement != NULL)
		secrets = statement_spans(statement, &statement_quoting);
	if ((secrets->count > 0 || secrets->overflow) &&
		debug_query_string != masked_statement.shown &&
		!show_masked_statement(statement, secrets, statement_quoting))
		edata->hide_stmt = true;

	/* the internal query, being parsed under the setting in force */
	if (edata->internalquery)
		find_secrets_in_text(edata->internalquery, strlen(edata->internalquery), 0,
							 standard_conforming_strings ? QUOTING_STANDARD : QUOTING_ESCAPED,
							 &internal_spans);

	/* message, details, hint */
	parts[0] = &edata->message;
	parts[1] = &edata->detail;
	parts[2] = &edata->detail_log;
	parts[3] = &edata->hint;
	parts[4] = &edata->context;
	for (i = 0; i < 5; i++)
	{
		memset(&spans[i], 0, sizeof(Spans));
		if (*parts[i] == NULL)
			continue;
		if (i == 4)
			find_secrets_in_context(*parts[i], &spans[i]);
		else
			find_secrets_in_part(*parts[i], statement, secrets, statement_quoting,
								 &spans[i]);
		if (statement != NULL)
		{
			mask_secret_at_position(*parts[i], statement, secrets, edata->cursorpos,
									&spans[i]);
			mask_secret_echoes(*parts[i], statement, secrets, &spans[i]);
		}
		if (edata->internalquery)
			mask_secret_at_position(*parts[i], edata->internalquery,
									&internal_spans, edata->internalpos, &spans[i]);
	}

	if (!out_of_memory)
	{
		for (i = 0; i < 5; i++)
		{
			if (*parts[i] != NULL)
				*parts[i] = apply_spans(*parts[i], &spans[i], report_cxt);
		}
		if (internal_spans.count > 0 || internal_spans.overflow)
		{
			edata->internalquery = apply_spans(edata->internalquery,
											   &internal_spans, report_cxt);
			edata->internalpos = 0;
		}
	}
	if (out_of_memory)
	{
		/* what could hold a secret goes, and nothing throws */
		for (i = 0; i < 5; i++)
			mask_wholesale(*parts[i]);
		mask_wholesale(edata->internalquery);
		if (debug_query_string != masked_statement.shown)
			edata->hide_stmt = true;
	}

	MemoryContextSwitchTo(old);
	MemoryContextReset(filter_cxt);

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * standard_conforming_strings as the statement string being run was
 * parsed: PostgreSQL parses a whole string before it runs any of it, so at
 * the analysis of its first statement nothing in it has changed the
 * setting yet.
 */
static void
remember_standard_strings(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);
	if (pstate->p_sourcetext != NULL && pstate->p_sourcetext == debug_query_string &&
		!(parsed_statement.text == debug_query_string &&
		  parsed_statement.started == GetCurrentStatementStartTimestamp()))
	{
		ParsedText *parsed = parsed_text(debug_query_string, strlen(debug_query_string), true);

		parsed_statement.text = debug_query_string;
		parsed_statement.started = GetCurrentStatementStartTimestamp();
		parsed_statement.standard_strings = standard_conforming_strings;
		parsed->settings |= standard_conforming_strings ? 1 : 2;
	}
}

/*
 * Install the hooks, from _PG_init.  The log hook runs before the
 * emit_log_hooks of the modules loaded before pssync, and after those of
 * the modules loaded after it (each hook calls the one installed before
 * it).
 */
void
install_password_log_filter(void)
{
	filter_cxt = AllocSetContextCreate(TopMemoryContext,
									   "pssync log filter",
									   ALLOCSET_SMALL_SIZES);
	statement_cxt = AllocSetContextCreate(TopMemoryContext,
										  "pssync log filter statement",
										  ALLOCSET_SMALL_SIZES);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = hide_passwords;
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = remember_standard_strings;
}
