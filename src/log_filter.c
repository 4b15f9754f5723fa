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
#include "mb/pg_wchar.h"
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

/* how many statements quoted by one CONTEXT are read; past that, it goes */
#define MAX_CONTEXT_STATEMENTS 32

/* PostgreSQL 16 made the vertical tab white space */
#if PG_VERSION_NUM >= 160000
#define VERTICAL_TAB_IS_SPACE true
#else
#define VERTICAL_TAB_IS_SPACE false
#endif

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
 * The statement being run, when it sets a password: our copy of it as sent
 * and the masked copy debug_query_string points to, both in MessageContext
 * (forgotten when it is reset).
 */
static struct
{
	char	   *original;
	char	   *shown;
	bool		standard_strings;
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

/* The spans of a text to mask, in the coordinates of the outermost text. */
typedef struct Spans
{
	int			count;
	int			allocated;
	int		   *starts;
	int		   *ends;
} Spans;

/* Where the bytes of a text being read came from in the outermost one. */
typedef struct Origin
{
	const int  *map;			/* map[i] for byte i (and map[len]), or */
	int			offset;			/* offset + i without a map */
} Origin;

static void find_secrets(const char *s, int len, Origin origin,
						 bool standard_strings, int depth, Spans *spans);


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
 * passwd, passphrase or secret in it, ignoring ASCII case, and any name
 * written with Unicode escapes.
 */
static bool
names_a_secret(const Lexer *lx, const Token *t)
{
	static const char *const words[] = {"password", "passwd", "passphrase", "secret"};
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
add_span(Spans *spans, int start, int end)
{
	if (start >= end)
		return;
	if (spans->count == spans->allocated)
	{
		int			allocated = Max(8, spans->allocated * 2);
		int		   *starts = filter_alloc(sizeof(int) * allocated);
		int		   *ends = filter_alloc(sizeof(int) * allocated);

		if (starts == NULL || ends == NULL)
			return;
		if (spans->count > 0)
		{
			memcpy(starts, spans->starts, sizeof(int) * spans->count);
			memcpy(ends, spans->ends, sizeof(int) * spans->count);
			pfree(spans->starts);
			pfree(spans->ends);
		}
		spans->starts = starts;
		spans->ends = ends;
		spans->allocated = allocated;
	}
	spans->starts[spans->count] = start;
	spans->ends[spans->count] = end;
	spans->count++;
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
	if (may_hold_secrets(value, len))
		find_secrets(value, len, inner, lx->standard_strings, depth + 1, spans);
	pfree(value);
	pfree(map);
}

/*
 * Find the secret values of the user mapping statements in text s (len
 * bytes), and add their spans.  The keywords may start anywhere: a log
 * line quotes a statement after words of its own ("cron job 1 starting:
 * ...").
 */
static void
find_secrets(const char *s, int len, Origin origin, bool standard_strings,
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

	while (!out_of_memory)
	{
		next_token(&lx, &t);
		if (t.kind == TOKEN_END)
			break;

		if (state == IN_OPTIONS)
		{
			if (in_secret)
			{
				/*
				 * A secret's value: a string, and in a statement sent as it
				 * is, everything up to the next , or ) (a password typed
				 * without quotes is a syntax error, logged with the
				 * statement).  Within a string, a statement may be a
				 * template: format()'s %L stays.
				 */
				if (t.kind == TOKEN_STRING ||
					(depth == 0 && t.kind != TOKEN_COMMA && t.kind != TOKEN_CLOSE &&
					 t.kind != TOKEN_OPEN && t.kind != TOKEN_SEMICOLON))
				{
					mask_token(&lx, &t, origin, spans);
					continue;
				}
				in_secret = false;
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

/* The secrets of a whole text, read from its start. */
static void
find_secrets_in_text(const char *s, int len, int offset, bool standard_strings,
					 Spans *spans)
{
	Origin		origin;

	if (!may_hold_secrets(s, len))
		return;
	origin.map = NULL;
	origin.offset = offset;
	find_secrets(s, len, origin, standard_strings, 0, spans);
}


/*
 * Where reports quote statements.
 */

/* The spans of a statement text, shifted to each place a part repeats it. */
static bool
mask_occurrences(const char *part, int part_len, const char *text, int text_len,
				 const Spans *text_spans, Spans *spans)
{
	const char *p = part;
	bool		found = false;

	if (text_len == 0)
		return false;
	while (p + text_len <= part + part_len)
	{
		const char *hit = memmem(p, part + part_len - p, text, text_len);
		int			i;

		if (hit == NULL)
			break;
		found = true;
		for (i = 0; i < text_spans->count; i++)
			add_span(spans, (hit - part) + text_spans->starts[i],
					 (hit - part) + text_spans->ends[i]);
		p = hit + text_len;
	}
	return found;
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
						   bool statement_standard_strings, Spans *spans)
{
	int			start;
	int			end;
	bool		quoted;
	char	   *value;
	int		   *map;
	int			k = 0;
	int			p;
	Origin		origin;
	bool		standard_strings = standard_conforming_strings;

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
	if (statement != NULL && strcmp(value, statement) == 0)
		standard_strings = statement_standard_strings;
	origin.map = map;
	origin.offset = 0;
	if (may_hold_secrets(value, k))
		find_secrets(value, k, origin, standard_strings, 0, spans);
}

/*
 * A report part that quotes a statement: the statement being run, which
 * it may repeat (log_statement, log_min_duration_statement, ...); else a
 * pgaudit line; else a statement anywhere in it.
 */
static void
find_secrets_in_part(const char *part, const char *statement,
					 const Spans *statement_spans, bool statement_standard_strings,
					 Spans *spans)
{
	int			len = strlen(part);

	if (!may_hold_secrets(part, len))
		return;
	if (strncmp(part, "AUDIT: ", 7) == 0)
		find_secrets_in_audit_line(part, len, statement,
								   statement_standard_strings, spans);
	else if (statement != NULL &&
			 mask_occurrences(part, len, statement, strlen(statement),
							  statement_spans, spans))
		return;
	else
		find_secrets_in_text(part, len, 0, standard_conforming_strings, spans);
}

/*
 * An error about a statement that holds secrets may quote it from the
 * error's position on ("unterminated quoted string at or near ..."): when
 * the position (in characters, from 1) falls on a secret, mask what the
 * part repeats of it.
 */
static void
mask_secret_at_position(const char *part, const char *statement,
						const Spans *statement_spans, int position, Spans *spans)
{
	int			len = strlen(statement);
	int			byte = 0;
	int			chars;
	int			i;

	if (position <= 0 || statement_spans->count == 0)
		return;
	for (chars = 1; chars < position && byte < len; chars++)
		byte += pg_mblen(statement + byte);
	for (i = 0; i < statement_spans->count; i++)
	{
		int			start = statement_spans->starts[i];
		int			end = statement_spans->ends[i];
		Spans		secret;

		/* the secret, or the quote (E', U&', $tag$) that opens it */
		if (byte > end || start - byte > NAMEDATALEN + 2)
			continue;
		memset(&secret, 0, sizeof(secret));
		add_span(&secret, 0, end - start);
		mask_occurrences(part, strlen(part), statement + start, end - start,
						 &secret, spans);
	}
}

/*
 * A CONTEXT quotes the statements SPI ran, a line each: SQL statement
 * "...", and the like.  Each is read from where it starts, under both
 * settings of standard_conforming_strings (each level may have its own).
 * Returns false when there are too many of them to read.
 */
static bool
find_secrets_in_context(const char *context, Spans *spans)
{
	static const char *const markers[] = {
		"SQL statement \"", "SQL expression \"",
		"PL/pgSQL expression \"", "PL/pgSQL assignment \""
	};
	int			len = strlen(context);
	int			read = 0;
	int			p;

	if (!may_hold_secrets(context, len))
		return true;
	for (p = 0; p < len; p++)
	{
		int			i;

		if (p > 0 && context[p - 1] != '\n')
			continue;
		for (i = 0; i < (int) lengthof(markers); i++)
		{
			int			n = strlen(markers[i]);

			if (strncmp(context + p, markers[i], n) != 0)
				continue;
			if (++read > MAX_CONTEXT_STATEMENTS)
				return false;
			find_secrets_in_text(context + p + n, len - p - n, p + n, true, spans);
			find_secrets_in_text(context + p + n, len - p - n, p + n, false, spans);
		}
	}
	return true;
}


/*
 * Masking.
 */
static int
compare_ints(const void *a, const void *b)
{
	return (*(const int *) a > *(const int *) b) - (*(const int *) a < *(const int *) b);
}

/*
 * Text with the spans masked, allocated in cxt, or NULL when memory runs
 * out.  The spans may repeat or overlap: what any of them covers is
 * masked, once.
 */
static char *
masked_text(const char *text, Spans *spans, MemoryContext cxt)
{
	int			len = strlen(text);
	Size		size = 0;
	char	   *out;
	int			pass;

	/*
	 * Sorting the starts and the ends apart pairs them anew, but covers the
	 * same places: as many spans start before any point as before.
	 */
	qsort(spans->starts, spans->count, sizeof(int), compare_ints);
	qsort(spans->ends, spans->count, sizeof(int), compare_ints);

	/* the length first, then the text */
	out = NULL;
	for (pass = 0; pass < 2; pass++)
	{
		Size		n = 0;
		int			pos = 0;
		int			i = 0;

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
			if (out)
			{
				memcpy(out + n, text + pos, start - pos);
				memcpy(out + n + (start - pos), MASK, strlen(MASK));
			}
			n += (start - pos) + strlen(MASK);
			pos = end;
		}
		if (out)
		{
			memcpy(out + n, text + pos, len - pos);
			out[n + (len - pos)] = '\0';
			return out;
		}
		size = n + (len - pos) + 1;
		out = MemoryContextAllocExtended(cxt, size,
										 MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (out == NULL)
		{
			out_of_memory = true;
			return NULL;
		}
	}
	return out;
}

/*
 * When memory ran out: the part overwritten in place, as far as the mask
 * fits in it, if it could hold a secret.
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

	if (spans->count == 0 || out_of_memory)
		return text;
	masked = masked_text(text, spans, cxt);
	return masked ? masked : text;
}


/*
 * The statement being run: its secrets, and debug_query_string pointed at a
 * masked copy.
 */
static void
forget_masked_statement(void *arg pg_attribute_unused())
{
	masked_statement.original = NULL;
	masked_statement.shown = NULL;
	masked_statement.callback_registered = false;
}

/*
 * Point debug_query_string at a masked copy of the statement, kept in
 * MessageContext with a copy of the statement as sent; false when that
 * cannot be (no MessageContext outside a client's backend, or no memory).
 */
static bool
show_masked_statement(const char *statement, Spans *spans, bool standard_strings)
{
	char	   *original;
	char	   *shown;

	if (MessageContext == NULL)
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
	masked_statement.standard_strings = standard_strings;
	debug_query_string = shown;
	return true;
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
	const char *statement = debug_query_string;
	bool		statement_standard_strings = standard_conforming_strings;
	Spans		statement_spans;
	Spans		internal_spans;
	Spans		spans[5];
	char	  **parts[5];
	int			i;

	out_of_memory = false;
	memset(&statement_spans, 0, sizeof(statement_spans));
	memset(&internal_spans, 0, sizeof(internal_spans));

	/* the statement being run, as it was sent and parsed */
	if (statement != NULL && statement == masked_statement.shown)
	{
		statement = masked_statement.original;
		statement_standard_strings = masked_statement.standard_strings;
	}
	else if (statement != NULL && statement == parsed_statement.text &&
			 parsed_statement.started == GetCurrentStatementStartTimestamp())
		statement_standard_strings = parsed_statement.standard_strings;
	if (statement != NULL)
		find_secrets_in_text(statement, strlen(statement), 0,
							 statement_standard_strings, &statement_spans);
	if (statement_spans.count > 0 && debug_query_string != masked_statement.shown &&
		!show_masked_statement(statement, &statement_spans, statement_standard_strings))
		edata->hide_stmt = true;

	/* the internal query, read under the setting it was parsed with */
	if (edata->internalquery)
		find_secrets_in_text(edata->internalquery, strlen(edata->internalquery), 0,
							 standard_conforming_strings, &internal_spans);

	/* message, details, hint: where they repeat a statement */
	parts[0] = &edata->message;
	parts[1] = &edata->detail;
	parts[2] = &edata->detail_log;
	parts[3] = &edata->hint;
	for (i = 0; i < 4; i++)
	{
		memset(&spans[i], 0, sizeof(Spans));
		if (*parts[i] == NULL)
			continue;
		find_secrets_in_part(*parts[i], statement, &statement_spans,
							 statement_standard_strings, &spans[i]);
		if (statement != NULL)
			mask_secret_at_position(*parts[i], statement, &statement_spans,
									edata->cursorpos, &spans[i]);
		if (edata->internalquery)
			mask_secret_at_position(*parts[i], edata->internalquery,
									&internal_spans, edata->internalpos, &spans[i]);
	}
	parts[4] = &edata->context;
	memset(&spans[4], 0, sizeof(Spans));
	if (edata->context && !find_secrets_in_context(edata->context, &spans[4]))
	{
		/* too many statements to read: the context goes whole */
		mask_wholesale(edata->context);
		spans[4].count = 0;
	}

	if (!out_of_memory)
	{
		for (i = 0; i < 5; i++)
		{
			if (*parts[i] != NULL)
				*parts[i] = apply_spans(*parts[i], &spans[i], report_cxt);
		}
		if (internal_spans.count > 0)
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
		parsed_statement.text = debug_query_string;
		parsed_statement.started = GetCurrentStatementStartTimestamp();
		parsed_statement.standard_strings = standard_conforming_strings;
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
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = hide_passwords;
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = remember_standard_strings;
}
