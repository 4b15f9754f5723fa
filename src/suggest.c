/*-------------------------------------------------------------------------
 *
 * suggest.c
 *		  Suggestions: the directory entries that could be a record,
 *		  ranked (pssync 2.1).
 *
 * The candidates of a record are found by a few questions.  Each is a
 * search filter of the group's entries (with the server's filter), and the
 * keys that the entries it keeps are filed under (name_pair_keys: a part
 * of one name, that is the skeleton of the whole name or of one of its
 * words, not a particle or a suffix of a surname, with the first two or
 * the last two letters of the other name):
 *
 *	1. its last name, or a part of it: (|(sn=L)(sn=*Part*)...), the
 *	   entries with a part of L and a first name with F's first or last
 *	   two letters (or F's initial);
 *	2. its first name or a word of it, with the last name's first letter,
 *	   its last, or one of its parts: (&(|(givenName=F)(givenName=*F*))
 *	   (|(sn=S*)(sn=*h)(sn=*Smith*))), the entries with a part of F and a
 *	   last name with L's first or last two letters;
 *	3. the first names it may be known by (its nicknames, its spellings in
 *	   pssync.nicknames, the words of a first name of several words, the
 *	   preferred first name), with the last name or those pieces of it;
 *	4. the names swapped: (&(givenName=L)(sn=F)), one of them whole and
 *	   the other whole or by its first or last letter;
 *	5. its ID, when the server matches on one: (employeeNumber=ID).
 *
 * A name with letters outside ASCII is also asked for with those letters
 * left open ("García" as (sn=Garc*a)); every piece of a filter is escaped
 * (RFC 4515), so that a name's "*", "(", ")" and "\" are only themselves;
 * a name with a control character is only asked for whole.  Every filter
 * holds a whole name, or at least three letters of one: no question reads
 * the whole directory.
 * The candidates' names are then compared in memory (variants.c), and the
 * entries with a score are ranked: score, then DN.
 *
 * The "search" strategy, and ldap_suggest, ask the directory these
 * questions, many at a time.  The "scan" strategy answers them from its
 * index, as it answers the questions of matching: the index lists the
 * entries under the key, and each is checked against the filter in
 * memory, in three values (names.c's rules: a plain value is decided;
 * another is decided when its ASCII letters alone match, or its skeleton
 * cannot; else it is unknown).  A question with an unknown entry is asked
 * of the directory, so that both strategies give the same suggestions.
 *
 * An entry linked to another record (linked_elsewhere), or whose user ID
 * another record holds in a username column the record's sync checks
 * (uid_taken), is listed with its score halved.
 *
 * Records are taken a round at a time: what a round finds lives in a
 * memory context of its own, reset after it, but for the candidates that
 * may be among the first (prune_candidates), which are lowered and ranked
 * once all rounds are done.  A round takes more records while the last one
 * took little memory, and fewer while it took much (the questions of a
 * common surname's parts find thousands of entries; without an index, what
 * the directory sends is kept until the round is scored).  With an index,
 * the pair keys all rounds will ask for are named to it first
 * (want_pair_keys).  The forms of the names scored are kept from round to
 * round, but are forgotten when they take more than FORMS_MEMORY.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "pssync.h"

/*
 * The records of a round: at first, and at most.  A round that took more
 * than its memory bound is followed by one of half as many records, one
 * that took less than a quarter of it by one of twice as many.  Without an
 * index, what the directory answers is kept until the round is scored:
 * fewer records, and more memory.
 */
#define RECORDS_PER_ROUND_FIRST 50
#define RECORDS_PER_ROUND 250
#define ROUND_MEMORY (2 * 1024 * 1024)
#define RECORDS_PER_ROUND_ASKED_FIRST 5
#define RECORDS_PER_ROUND_ASKED 25
#define ROUND_MEMORY_ASKED (8 * 1024 * 1024)

/* the forms of names kept from round to round, at most */
#define FORMS_MEMORY (4 * 1024 * 1024)

/* the first names one question 3 asks for, at most (it asks several) */
#define MAX_QUESTION_NAMES 16

/* the values of an attribute of an entry that are compared, at most */
#define MAX_VALUES 32

/*
 * A name longer than this (in bytes) is compared only whole: it gets no
 * substring patterns.  A name's parts asked for, and an assertion's
 * patterns, are at most these.  (Long names would make long filters.)
 */
#define MAX_FUZZY_NAME 256
#define MAX_NAME_PARTS 16
#define MAX_PATTERNS 64

/* What the index knows of an entry against a filter. */
typedef enum Truth
{
	CERTAINLY_NOT,
	CERTAINLY,
	UNKNOWN
} Truth;

/* The attributes questions are about: first and last name, and ID. */
typedef enum QuestionAttr
{
	ATTR_FIRST,
	ATTR_LAST,
	ATTR_ID,
	NUM_ATTRS
} QuestionAttr;

/*
 * A filter's assertion about one value: equality, or a substring (pieces
 * of printable ASCII, without spaces).
 */
typedef struct Pattern
{
	const char *equal;			/* the value (UTF-8), or NULL: a substring */
	const char *equal_key;		/* its skeleton, or for an ID its key */
	bool		equal_plain;
	const char *initial;		/* or NULL */
	List	   *any;			/* of char * */
	const char *final;			/* or NULL */
} Pattern;

/* The patterns of one attribute, ORed. */
typedef struct Assertion
{
	QuestionAttr attr;
	List	   *patterns;
} Assertion;

typedef struct Answer Answer;

typedef struct Question
{
	List	   *assertions;		/* ANDed, with the server's filter */
	IndexKey	kind;			/* the entries kept are filed under */
	List	   *keys;			/* one of these keys (for FULL, one key) */
	char	   *filter;			/* as sent: UTF-8, escaped */
	bool		ask;			/* asked of the directory */
	Answer	   *answer;
	int		   *entries;		/* answered from the index: their numbers */
	int			nentries;
} Question;

/* An entry a search found, with its values. */
typedef struct Found
{
	DirectoryEntry entry;
	int			nvalues[NUM_ATTRS];
	NameValue  *values[NUM_ATTRS];
	DirectoryValues raw[2];		/* first and last name, to show */
	struct EntryForms *forms;
} Found;

/* The entries a filter found, under every base DN. */
struct Answer
{
	const char *filter;
	List	   *found;			/* of Found */
	List	   *under_base;		/* while asking under one base DN */
	bool		cut_short;		/* a search of it stopped at a size limit */
	Suggester  *s;
};

/* The forms of an entry's values, as scored. */
typedef struct EntryForms
{
	EntryNames	names;
} EntryForms;

/* A record of a round: its names, questions and candidates. */
typedef struct Pending
{
	SyncRecord *rec;
	RecordNames names;
	List	   *questions;
	List	   *candidates;		/* of Candidate */
} Pending;

typedef struct Candidate
{
	DirectoryEntry *entry;
	Found	   *found;			/* or NULL: an entry of the index */
	int			score;
	uint32		reasons;
} Candidate;

/* A name's forms, by its text. */
typedef struct FormsEntry
{
	const char *text;			/* the key */
	NameForms	forms;
} FormsEntry;

struct Suggester
{
	PssyncServer *server;
	PssyncDirectory *dir;
	RecordGroup group;
	const char *entry_id_attr;	/* NULL: no links */
	const char *id_attr;		/* NULL: no IDs */
	DirectoryIndex *index;		/* NULL: every question is asked */
	PowerSchoolTables *tables;
	Nicknames  *nicknames;
	MemoryContext cxt;			/* lives as long as the suggester */
	MemoryContext round_cxt;
	MemoryContext forms_cxt;	/* forms and what it is in */
	const char *attrs[6];
	int			value_of[NUM_ATTRS];	/* which attribute holds each, or -1 */
	int			uid_value;
	int			entry_id_value; /* or -1 */
	HTAB	   *forms;			/* of FormsEntry, in forms_cxt: see
								 * forget_forms */
	int			cut_short;
	double		ms[4];			/* answering from the index, asking, scoring,
								 * lowering: suggester_summary() */
	long		checked;		/* entries of the index checked against a filter */
	long		scored;			/* entries scored */
	int			asked;			/* questions asked of the directory */
};


/*
 * Patterns and filters.
 */

static bool
is_piece_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/*
 * The pieces of a name (UTF-8): its runs of printable ASCII but the space.
 * *starts and *ends say whether the name starts and ends with one.
 */
static List *
name_pieces(const char *utf8, bool *starts, bool *ends)
{
	List	   *pieces = NIL;
	const char *p = utf8;
	size_t		len = strlen(utf8);

	*starts = len > 0 && is_piece_char((unsigned char) utf8[0]);
	*ends = len > 0 && is_piece_char((unsigned char) utf8[len - 1]);
	while (*p)
	{
		const char *start;

		while (*p && !is_piece_char((unsigned char) *p))
			p++;
		start = p;
		while (*p && is_piece_char((unsigned char) *p))
			p++;
		if (p > start)
			pieces = lappend(pieces, pnstrdup(start, p - start));
	}
	return pieces;
}

static bool
is_plain_utf8(const char *utf8)
{
	return is_plain_name(utf8, strlen(utf8));
}

static Pattern *
equal_pattern(const char *utf8, QuestionAttr attr)
{
	Pattern    *p = palloc0(sizeof(Pattern));

	p->equal = utf8;
	p->equal_plain = is_plain_utf8(utf8);
	p->equal_key = attr == ATTR_ID ? directory_index_id_key(utf8, strlen(utf8)) :
		name_skeleton(utf8, strlen(utf8));
	return p;
}

/*
 * A name with letters that are not printable ASCII, with them left open
 * ("García" as "Garc*a"), or NULL: a name of printable ASCII and spaces
 * (whose equality says it all), or one with too little of ASCII to ask
 * for (less than three letters, none of two in a row, or no piece at
 * either end).
 */
static Pattern *
open_pattern(const char *utf8)
{
	bool		starts;
	bool		ends;
	List	   *pieces = name_pieces(utf8, &starts, &ends);
	Pattern    *p;
	ListCell   *cell;
	int			total = 0;
	int			longest = 0;
	const char *c;

	for (c = utf8; *c; c++)
	{
		if (!is_piece_char((unsigned char) *c) && *c != ' ')
			break;
	}
	if (*c == '\0' || pieces == NIL || (!starts && !ends) || name_has_control(utf8) ||
		strlen(utf8) > MAX_FUZZY_NAME)
		return NULL;
	foreach(cell, pieces)
	{
		int			len = strlen((char *) lfirst(cell));

		total += len;
		longest = Max(longest, len);
	}
	if (total < 3 || longest < 2)
		return NULL;

	p = palloc0(sizeof(Pattern));
	if (starts)
		p->initial = (char *) linitial(pieces);
	if (ends && !(starts && list_length(pieces) == 1))
		p->final = (char *) llast(pieces);
	foreach(cell, pieces)
	{
		if ((p->initial && cell == list_head(pieces)) ||
			(p->final && lnext(pieces, cell) == NULL))
			continue;
		p->any = lappend(p->any, lfirst(cell));
	}
	return p;
}

/*
 * A name's first (or last) letter, as (attr=x*) or (attr=*x): asked only
 * with a whole name of the other attribute.
 */
static Pattern *
end_pattern(const char *utf8, bool at_start)
{
	bool		starts;
	bool		ends;
	List	   *pieces = name_pieces(utf8, &starts, &ends);
	Pattern    *p;
	char	   *piece;

	if (pieces == NIL || !(at_start ? starts : ends) || strlen(utf8) > MAX_FUZZY_NAME)
		return NULL;
	piece = (char *) (at_start ? linitial(pieces) : llast(pieces));
	if (!isalnum((unsigned char) (at_start ? piece[0] : piece[strlen(piece) - 1])))
		return NULL;			/* a letter, not punctuation */
	p = palloc0(sizeof(Pattern));
	if (at_start)
		p->initial = pnstrdup(piece, 1);
	else
		p->final = pstrdup(piece + strlen(piece) - 1);
	return p;
}

static bool
is_surname_particle_or_suffix(const char *word)
{
	static const char *const words[] = {
		"de", "del", "della", "dela", "la", "las", "los", "le", "les", "da",
		"das", "do", "dos", "di", "du", "van", "vander", "vanden", "von",
		"der", "den", "ter", "ten", "y", "e", "mc", "mac", "st", "al", "el",
		"jr", "sr", "ii", "iii", "iv", NULL
	};
	const char *const *w;

	for (w = words; *w; w++)
	{
		if (strcmp(word, *w) == 0)
			return true;
	}
	return false;
}

/*
 * The parts of a name (words between spaces and hyphens; of a surname,
 * those that are not particles or suffixes), each as (attr=*part*), with
 * letters outside ASCII left open: a part with a piece of at least three
 * letters.  A name with a control character has none.
 */
static List *
part_patterns(const char *utf8, bool surname)
{
	List	   *patterns = NIL;
	char	   *copy = pstrdup(utf8);
	char	   *part;
	char	   *saved;
	int			nparts = 0;

	if (name_has_control(utf8) || strlen(utf8) > MAX_FUZZY_NAME)
		return NIL;
	if (surname)
	{
		/* "CastilloVega" is also "Castillo Vega" */
		StringInfoData split;
		const char *c;

		initStringInfo(&split);
		for (c = utf8; *c; c++)
		{
			if (c > utf8 && *c >= 'A' && *c <= 'Z' && c[-1] >= 'a' && c[-1] <= 'z')
				appendStringInfoChar(&split, ' ');
			appendStringInfoChar(&split, *c);
		}
		if (strcmp(split.data, utf8) != 0)
			copy = psprintf("%s %s", utf8, split.data);
	}
	for (part = strtok_r(copy, " -", &saved); part; part = strtok_r(NULL, " -", &saved))
	{
		char	   *fold = name_fold(part, strlen(part), false);
		bool		starts;
		bool		ends;
		List	   *pieces;
		ListCell   *cell;
		int			longest = 0;
		Pattern    *p;

		CHECK_FOR_INTERRUPTS();
		if (fold[0] == '\0' || (surname && is_surname_particle_or_suffix(fold)))
			continue;
		if (++nparts > MAX_NAME_PARTS)
			break;
		pieces = name_pieces(part, &starts, &ends);
		foreach(cell, pieces)
			longest = Max(longest, (int) strlen((char *) lfirst(cell)));
		if (longest >= 3)
		{
			p = palloc0(sizeof(Pattern));
			p->any = pieces;
			patterns = lappend(patterns, p);
		}
		if (surname)
		{
			/* a part with a particle joined to it: "DelaCruz" is also "Cruz" */
			char	   *keys[4];
			int			n = name_part_keys(part, strlen(part), NULL, true, keys, 4);
			char	   *own = name_skeleton(fold, strlen(fold));
			int			k;

			for (k = 1; k < n; k++)
			{
				/* a part's own skeleton is asked for above */
				if (strcmp(keys[k], keys[0]) == 0 || strcmp(keys[k], own) == 0 ||
					strlen(keys[k]) < 3)
					continue;
				p = palloc0(sizeof(Pattern));
				p->any = list_make1(keys[k]);
				patterns = lappend(patterns, p);
			}
		}
	}
	return patterns;
}

/* A name's first and last letters, as patterns. */
static List *
end_patterns(const char *name)
{
	List	   *patterns = NIL;
	Pattern    *p;

	if (name_has_control(name))
		return NIL;				/* compared only as it is */
	if ((p = end_pattern(name, true)) != NULL)
		patterns = lappend(patterns, p);
	if ((p = end_pattern(name, false)) != NULL)
		patterns = lappend(patterns, p);
	return patterns;
}

/* A last name's fuzzy patterns: its first and last letters, its parts. */
static List *
fuzzy_last_patterns(const char *last)
{
	return list_concat(end_patterns(last), part_patterns(last, true));
}

static List *
name_patterns(const char *utf8, QuestionAttr attr)
{
	List	   *patterns = list_make1(equal_pattern(utf8, attr));
	Pattern    *open = attr == ATTR_ID ? NULL : open_pattern(utf8);

	if (open)
		patterns = lappend(patterns, open);
	return patterns;
}

/* A first name as the start of a longer one: "Robert" as (givenName=Robert*). */
static Pattern *
prefix_pattern(const char *utf8)
{
	bool		starts;
	bool		ends;
	List	   *pieces = name_pieces(utf8, &starts, &ends);
	Pattern    *p;

	if (pieces == NIL || !starts || strlen((char *) linitial(pieces)) < 3 ||
		name_has_control(utf8) || strlen(utf8) > MAX_FUZZY_NAME)
		return NULL;
	p = palloc0(sizeof(Pattern));
	p->initial = (char *) linitial(pieces);
	return p;
}

/*
 * The keys of a name with the other name's ends (name_pair_keys), as
 * String nodes, added to keys; none without the other name.
 */
static List *
pair_keys(const char *utf8, bool surname, NameForms *other, List *keys)
{
	char	   *pairs[32];
	int			n;
	int			i;

	if (other == NULL)
		return keys;
	n = name_pair_keys(utf8, strlen(utf8), NULL, surname, other->joined, true, pairs, 32);
	for (i = 0; i < n; i++)
	{
		if (!list_member(keys, makeString(pairs[i])))
			keys = lappend(keys, makeString(pairs[i]));
	}
	return keys;
}

static Assertion *
assertion(QuestionAttr attr, List *patterns)
{
	Assertion  *a = palloc(sizeof(Assertion));

	/* the first patterns are the whole names: those are kept */
	if (list_length(patterns) > MAX_PATTERNS)
		patterns = list_truncate(patterns, MAX_PATTERNS);
	a->attr = attr;
	a->patterns = patterns;
	return a;
}

static void
append_pattern(StringInfo buf, const char *attr, Pattern *p)
{
	ListCell   *cell;

	appendStringInfo(buf, "(%s=", attr);
	if (p->equal)
		appendStringInfoString(buf, directory_escape_utf8_value(p->equal));
	else
	{
		if (p->initial)
			appendStringInfoString(buf, directory_escape_utf8_value(p->initial));
		appendStringInfoChar(buf, '*');
		foreach(cell, p->any)
			appendStringInfo(buf, "%s*",
							 directory_escape_utf8_value((char *) lfirst(cell)));
		if (p->final)
			appendStringInfoString(buf, directory_escape_utf8_value(p->final));
	}
	appendStringInfoChar(buf, ')');
}

/* The filter of a question, as sent: "(&FILTER(...)(...))". */
static char *
question_filter(Suggester *s, List *assertions)
{
	StringInfoData buf;
	ListCell   *cell;
	ListCell   *pc;

	initStringInfo(&buf);
	appendStringInfo(&buf, "(&%s", directory_to_utf8(s->server->filter));
	foreach(cell, assertions)
	{
		Assertion  *a = (Assertion *) lfirst(cell);
		const char *attr = s->attrs[s->value_of[a->attr]];

		List	   *rendered = NIL;
		StringInfoData any;

		/* the same pattern twice is asked for once */
		initStringInfo(&any);
		foreach(pc, a->patterns)
		{
			StringInfoData one;

			CHECK_FOR_INTERRUPTS();
			initStringInfo(&one);
			append_pattern(&one, attr, (Pattern *) lfirst(pc));
			if (list_member(rendered, makeString(one.data)))
				continue;
			rendered = lappend(rendered, makeString(one.data));
			appendStringInfoString(&any, one.data);
		}
		if (list_length(rendered) > 1)
			appendStringInfo(&buf, "(|%s)", any.data);
		else
			appendStringInfoString(&buf, any.data);
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

static Question *
add_question(Suggester *s pg_attribute_unused(), Pending *p, List *assertions, IndexKey kind,
			 List *keys)
{
	Question   *q = palloc0(sizeof(Question));

	q->assertions = assertions;
	q->kind = kind;
	q->keys = keys;
	q->filter = NULL;			/* made when it is asked */
	p->questions = lappend(p->questions, q);
	return q;
}

static int
compare_strings(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/* The words of a name (UTF-8) between its spaces and hyphens. */
static List *
raw_words(const char *utf8)
{
	List	   *words = NIL;
	char	   *copy = pstrdup(utf8);
	char	   *w;
	char	   *saved;

	for (w = strtok_r(copy, " -", &saved); w; w = strtok_r(NULL, " -", &saved))
		words = lappend(words, w);
	return words;
}

static void
add_name(List **names, const char *name, const char *except)
{
	ListCell   *cell;

	if (name == NULL || name[0] == '\0' || (except && strcmp(name, except) == 0))
		return;
	foreach(cell, *names)
	{
		if (strcmp((char *) lfirst(cell), name) == 0)
			return;
	}
	*names = lappend(*names, unconstify(char *, name));
}

/*
 * The first names question 3 asks for: the spellings and nicknames of the
 * first name and of the preferred first name in the nickname table, the
 * preferred first name, and the words of a first name of several words
 * (not the first name itself, which question 2 asks for).
 */
static List *
other_first_names(Pending *p)
{
	List	   *names = NIL;
	const char *first = p->names.first ? p->names.first->text : NULL;
	ListCell   *cell;

	if (p->names.first)
	{
		foreach(cell, nickname_spellings(p->names.nicknames, p->names.first))
			add_name(&names, (char *) lfirst(cell), first);
		if (list_length(raw_words(first)) > 1)
		{
			foreach(cell, raw_words(first))
				add_name(&names, (char *) lfirst(cell), first);
		}
	}
	if (p->names.preferred)
	{
		add_name(&names, p->names.preferred->text, first);
		foreach(cell, nickname_spellings(p->names.nicknames, p->names.preferred))
			add_name(&names, (char *) lfirst(cell), first);
		if (list_length(raw_words(p->names.preferred->text)) > 1)
		{
			foreach(cell, raw_words(p->names.preferred->text))
				add_name(&names, (char *) lfirst(cell), first);
		}
	}
	list_sort(names, compare_strings);
	return names;
}

static void
build_questions(Suggester *s, Pending *p)
{
	const char *first = p->names.first ? p->names.first->text : NULL;
	const char *last = p->names.last ? p->names.last->text : NULL;
	List	   *names;
	List	   *patterns;
	List	   *keys;

	CHECK_FOR_INTERRUPTS();
	if (last)
	{
		/* 1: the last name, or a part of it */
		add_question(s, p,
					 list_make1(assertion(ATTR_LAST,
										  list_concat(name_patterns(last, ATTR_LAST),
													  part_patterns(last, true)))),
					 INDEX_KEY_LAST_PART,
					 pair_keys(last, true, p->names.preferred,
							   pair_keys(last, true, p->names.first, NIL)));

		/*
		 * 2: the first name, or a word of it, and pieces of the last.  (A
		 * name with a control character is only compared as it is:
		 * questions 1 and 4 find it.)
		 */
		patterns = fuzzy_last_patterns(last);
		if (first && patterns != NIL && !name_has_control(first))
			add_question(s, p,
						 list_make2(assertion(ATTR_FIRST,
											  list_concat(name_patterns(first, ATTR_FIRST),
														  part_patterns(first, false))),
									assertion(ATTR_LAST, patterns)),
						 INDEX_KEY_FIRST_PART, pair_keys(first, false, p->names.last, NIL));

		/*
		 * 3: the other first names, and the last name or pieces of it:
		 * MAX_QUESTION_NAMES names a question (the nicknames a name has are
		 * bounded: see variants.c)
		 */
		names = other_first_names(p);
		if (names != NIL && !name_has_control(last) &&
			!(first && name_has_control(first)))
		{
			int			start;

			for (start = 0; start < list_length(names); start += MAX_QUESTION_NAMES)
			{
				List	   *first_patterns = NIL;
				int			i;

				keys = NIL;
				for (i = start; i < Min(start + MAX_QUESTION_NAMES, list_length(names)); i++)
				{
					char	   *name = (char *) list_nth(names, i);
					Pattern    *prefix = prefix_pattern(name);

					first_patterns = list_concat(first_patterns, name_patterns(name, ATTR_FIRST));
					if (prefix)
						first_patterns = lappend(first_patterns, prefix);
					keys = pair_keys(name, false, p->names.last, keys);
				}
				add_question(s, p,
							 list_make2(assertion(ATTR_FIRST, first_patterns),
										assertion(ATTR_LAST,
												  list_concat(name_patterns(last, ATTR_LAST),
															  fuzzy_last_patterns(last)))),
							 INDEX_KEY_FIRST_PART, keys);
			}
		}

		/*
		 * 4: the names swapped: one whole, the other whole or by its first
		 * or last letter (two questions)
		 */
		if (first && !name_has_control(first) && !name_has_control(last))
		{
			keys = list_make1(makeString(directory_index_full_key(p->names.last->skeleton,
																  p->names.first->skeleton)));
			add_question(s, p,
						 list_make2(assertion(ATTR_FIRST, name_patterns(last, ATTR_FIRST)),
									assertion(ATTR_LAST,
											  list_concat(name_patterns(first, ATTR_LAST),
														  end_patterns(first)))),
						 INDEX_KEY_FULL, keys);
			add_question(s, p,
						 list_make2(assertion(ATTR_FIRST,
											  list_concat(name_patterns(last, ATTR_FIRST),
														  end_patterns(last))),
									assertion(ATTR_LAST, name_patterns(first, ATTR_LAST))),
						 INDEX_KEY_FULL, keys);
		}
		else if (first)
			add_question(s, p,
						 list_make2(assertion(ATTR_FIRST, name_patterns(last, ATTR_FIRST)),
									assertion(ATTR_LAST, name_patterns(first, ATTR_LAST))),
						 INDEX_KEY_FULL,
						 list_make1(makeString(directory_index_full_key(p->names.last->skeleton,
																		p->names.first->skeleton))));
	}

	/* 5: the ID */
	if (s->id_attr && p->names.id)
		add_question(s, p, list_make1(assertion(ATTR_ID, name_patterns(p->names.id->text, ATTR_ID))),
					 INDEX_KEY_ID,
					 list_make1(makeString(directory_index_id_key(p->names.id->text,
																  strlen(p->names.id->text)))));
}


/*
 * Answering from the index: a filter checked against an entry's values,
 * in three values.
 */

/*
 * The units of a value for (a): each printable ASCII character not
 * followed by a combining mark as itself, in lower case; every other
 * character as -1, which no piece matches.
 */
static int
value_units(const char *text, int len, int *units)
{
	int			n = 0;
	int			i = 0;

	while (i < len)
	{
		const unsigned char *p = (const unsigned char *) text + i;
		int			clen = pg_utf_mblen(p);

		if (clen <= 0 || i + clen > len)
			clen = 1;
		if (clen == 1 && *p < 0x80)
		{
			bool		combined = false;

			if (i + 1 < len && ((const unsigned char *) text)[i + 1] >= 0x80)
			{
				const unsigned char *next = p + 1;
				int			nlen = pg_utf_mblen(next);

				if (nlen > 0 && i + 1 + nlen <= len && pg_utf8_islegal(next, nlen))
				{
					pg_wchar	c = utf8_to_unicode(next);

					combined = (c >= 0x0300 && c <= 0x036f) || (c >= 0x1ab0 && c <= 0x1aff) ||
						(c >= 0x1dc0 && c <= 0x1dff) || (c >= 0x20d0 && c <= 0x20ff) ||
						(c >= 0xfe20 && c <= 0xfe2f);
				}
			}
			units[n++] = combined || *p < 0x20 || *p == 0x7f ? -1 :
				pg_ascii_tolower(*p);
		}
		else
			units[n++] = -1;
		i += clen;
	}
	return n;
}

static bool
piece_at(const int *units, int at, const char *piece, int len)
{
	int			i;

	for (i = 0; i < len; i++)
	{
		if (units[at + i] != pg_ascii_tolower((unsigned char) piece[i]))
			return false;
	}
	return true;
}

/* Does a substring pattern match the units, as a directory matches it? */
static bool
units_match(const int *units, int n, Pattern *p)
{
	int			start = 0;
	int			end = n;
	ListCell   *cell;

	if (p->initial)
	{
		int			len = strlen(p->initial);

		if (len > end || !piece_at(units, 0, p->initial, len))
			return false;
		start = len;
	}
	if (p->final)
	{
		int			len = strlen(p->final);

		if (len > end - start || !piece_at(units, n - len, p->final, len))
			return false;
		end = n - len;
	}
	foreach(cell, p->any)
	{
		const char *piece = (const char *) lfirst(cell);
		int			len = strlen(piece);

		while (start + len <= end && !piece_at(units, start, piece, len))
			start++;
		if (start + len > end)
			return false;
		start += len;
	}
	return true;
}

#define STACK_UNITS 128

/* A substring pattern against a skeleton (lower case ASCII, no spaces). */
static bool
skeleton_matches(const char *skeleton, int n, Pattern *p)
{
	int			stack[STACK_UNITS];
	int		   *units = n <= STACK_UNITS ? stack : palloc(sizeof(int) * n);
	int			i;
	bool		result;

	for (i = 0; i < n; i++)
		units[i] = (unsigned char) skeleton[i];
	result = units_match(units, n, p);
	if (units != stack)
		pfree(units);
	return result;
}

static Truth
pattern_truth(NameValue *v, Pattern *p, QuestionAttr attr)
{
	bool		plain;

	if (v->text == NULL)
		return UNKNOWN;			/* a value with a NUL */
	plain = attr != ATTR_ID && is_plain_name(v->text, v->len);
	if (p->equal)
	{
		if (plain && p->equal_plain)
			return pg_strcasecmp(v->text, p->equal) == 0 ? CERTAINLY : CERTAINLY_NOT;
		if (strcmp(v->text, p->equal) == 0)
			return CERTAINLY;
		if ((int) strlen(p->equal_key) != v->keylen ||
			strncmp(v->key, p->equal_key, v->keylen) != 0)
			return CERTAINLY_NOT;
		return UNKNOWN;
	}
	else
	{
		int			stack[STACK_UNITS];
		int		   *units = v->len <= STACK_UNITS ? stack : palloc(sizeof(int) * v->len);
		int			n = value_units(v->text, v->len, units);
		bool		matched = units_match(units, n, p);

		if (units != stack)
			pfree(units);
		if (matched)
			return CERTAINLY;
		if (plain || !skeleton_matches(v->key, v->keylen, p))
			return CERTAINLY_NOT;
		return UNKNOWN;
	}
}

static IndexKey
attr_key(QuestionAttr attr)
{
	return attr == ATTR_FIRST ? INDEX_KEY_FIRST :
		attr == ATTR_LAST ? INDEX_KEY_LAST : INDEX_KEY_ID;
}

/* Does an entry of the index pass a question's filter? */
static Truth
entry_truth(Suggester *s, Question *q, int entry)
{
	NameValue	values[MAX_VALUES];
	Truth		result = CERTAINLY;
	ListCell   *cell;

	foreach(cell, q->assertions)
	{
		Assertion  *a = (Assertion *) lfirst(cell);
		int			n = directory_index_values(s->index, entry, attr_key(a->attr),
											   values, MAX_VALUES);
		Truth		truth = CERTAINLY_NOT;
		ListCell   *pc;
		int			i;

		if (n == MAX_VALUES)
			return UNKNOWN;		/* perhaps more values */
		for (i = 0; i < n && truth != CERTAINLY; i++)
		{
			foreach(pc, a->patterns)
			{
				Truth		t = pattern_truth(&values[i], (Pattern *) lfirst(pc), a->attr);

				if (t == CERTAINLY)
				{
					truth = CERTAINLY;
					break;
				}
				if (t == UNKNOWN)
					truth = UNKNOWN;
			}
		}
		if (truth == CERTAINLY_NOT)
			return CERTAINLY_NOT;
		if (truth == UNKNOWN)
			result = UNKNOWN;
	}
	return result;
}

/*
 * Answer a question from the index; false when only the directory can
 * (an entry under its keys may or may not pass its filter).
 */
static bool
answer_from_index(Suggester *s, Question *q)
{
	ListCell   *cell;
	int			allocated = 16;

	if (s->index == NULL || !directory_index_knows(s->index, q->kind))
		return false;
	q->entries = palloc(sizeof(int) * allocated);
	q->nentries = 0;
	foreach(cell, q->keys)
	{
		int		   *entries;
		int			n = directory_index_entries(s->index, q->kind,
												strVal(lfirst(cell)), &entries);
		int			i;

		s->checked += n;
		for (i = 0; i < n; i++)
		{
			Truth		t = entry_truth(s, q, entries[i]);

			if (t == UNKNOWN)
				return false;
			if (t == CERTAINLY_NOT)
				continue;
			if (q->nentries == allocated)
			{
				allocated *= 2;
				q->entries = repalloc(q->entries, sizeof(int) * allocated);
			}
			q->entries[q->nentries++] = entries[i];
		}
		pfree(entries);
	}
	return true;
}


/*
 * Asking the directory.
 */
static void
collect_found(void *arg, const char *dn, DirectoryValues *values)
{
	Answer	   *answer = (Answer *) arg;
	Suggester  *s = answer->s;
	Found	   *f = palloc0(sizeof(Found));
	int			a;

	f->entry.dn = pstrdup(dn);
	copy_directory_values(NULL, &f->entry.uid, &values[s->uid_value]);
	if (s->entry_id_value >= 0)
		f->entry.entry_id = directory_entry_id(s->entry_id_attr,
											   &values[s->entry_id_value]);
	for (a = 0; a < NUM_ATTRS; a++)
	{
		DirectoryValues *v;
		int			i;

		if (s->value_of[a] < 0)
			continue;
		v = &values[s->value_of[a]];
		f->nvalues[a] = Min(v->count, MAX_VALUES);
		f->values[a] = palloc0(sizeof(NameValue) * Max(v->count, 1));
		for (i = 0; i < f->nvalues[a]; i++)
		{
			NameValue  *nv = &f->values[a][i];
			char	   *copy = pnstrdup(v->values[i], v->lengths[i]);

			nv->len = v->lengths[i];
			nv->text = memchr(v->values[i], '\0', v->lengths[i]) ? NULL : copy;
			nv->key = a == ATTR_ID ?
				directory_index_id_key(v->values[i], v->lengths[i]) :
				name_skeleton_compact(v->values[i], v->lengths[i]);
			nv->keylen = strlen(nv->key);
		}
		if (a != ATTR_ID)
			copy_directory_values(NULL, &f->raw[a], v);
	}
	answer->under_base = lappend(answer->under_base, f);
}

static void
forget_found(void *arg)
{
	((Answer *) arg)->under_base = NIL;
}

static int
compare_questions(const void *a, const void *b)
{
	return strcmp((*(Question *const *) a)->filter, (*(Question *const *) b)->filter);
}

/*
 * Ask the directory the questions of a round that the index could not
 * answer, each distinct filter once, under each base DN of the group,
 * many at a time.
 */
static void
ask_questions(Suggester *s, Pending *pending, int n)
{
	Question  **asked = NULL;
	Answer	  **answers;
	DirectorySearch *searches;
	int			nasked = 0;
	int			allocated = 0;
	int			nanswers = 0;
	int			i;
	ListCell   *cell;

	for (i = 0; i < n; i++)
	{
		foreach(cell, pending[i].questions)
		{
			Question   *q = (Question *) lfirst(cell);

			if (!q->ask)
				continue;
			q->filter = question_filter(s, q->assertions);
			if (nasked == allocated)
			{
				allocated = Max(64, allocated * 2);
				asked = asked ? repalloc(asked, sizeof(Question *) * allocated) :
					palloc(sizeof(Question *) * allocated);
			}
			asked[nasked++] = q;
		}
	}
	if (nasked == 0)
		return;

	qsort(asked, nasked, sizeof(Question *), compare_questions);
	answers = palloc(sizeof(Answer *) * nasked);
	for (i = 0; i < nasked; i++)
	{
		if (i == 0 || strcmp(asked[i]->filter, asked[i - 1]->filter) != 0)
		{
			answers[nanswers] = palloc0(sizeof(Answer));
			answers[nanswers]->filter = asked[i]->filter;
			answers[nanswers]->s = s;
			nanswers++;
		}
		asked[i]->answer = answers[nanswers - 1];
	}

	s->asked += nanswers;
	searches = palloc0(sizeof(DirectorySearch) * nanswers);
	for (i = 0; i < nanswers; i++)
		elog(DEBUG2, "pssync: suggestions ask %s", answers[i]->filter);
	foreach(cell, server_base_dns(s->server, s->group))
	{
		const char *base_dn = (const char *) lfirst(cell);

		for (i = 0; i < nanswers; i++)
		{
			searches[i].filter = answers[i]->filter;
			searches[i].callback = collect_found;
			searches[i].arg = answers[i];
			searches[i].reset = forget_found;
			answers[i]->under_base = NIL;
		}
		directory_search_batch(s->dir, list_make1((char *) base_dn), s->attrs,
							   searches, nanswers);
		for (i = 0; i < nanswers; i++)
		{
			if (!searches[i].complete)
			{
				s->cut_short++;
				answers[i]->cut_short = true;
			}
			answers[i]->found = list_concat(answers[i]->found, answers[i]->under_base);
		}
	}
}

/* Is an entry found by a search filed under one of a question's keys? */
static NameForms *forms_of(Suggester *s, const char *text, int len);
static void forget_forms(Suggester *s);

static bool
found_under_keys(Suggester *s, Question *q, Found *f)
{
	ListCell   *cell;
	int			i;

	foreach(cell, q->keys)
	{
		const char *key = strVal(lfirst(cell));

		switch (q->kind)
		{
			case INDEX_KEY_FIRST_PART:
			case INDEX_KEY_LAST_PART:
				{
					bool		of_last = q->kind == INDEX_KEY_LAST_PART;
					int			j;

					/* as the index files them: by pairs of names */
					for (i = 0; i < f->nvalues[ATTR_FIRST]; i++)
					{
						for (j = 0; j < f->nvalues[ATTR_LAST]; j++)
						{
							NameValue  *fv = &f->values[ATTR_FIRST][i];
							NameValue  *lv = &f->values[ATTR_LAST][j];
							NameValue  *v = of_last ? lv : fv;
							NameValue  *ov = of_last ? fv : lv;
							char	   *pairs[32];
							int			n;
							int			k;

							if (v->text == NULL)
								continue;
							n = name_pair_keys(v->text, v->len, v->key, of_last,
											   ov->text ? forms_of(s, ov->text, ov->len)->joined : "",
											   false, pairs, 32);
							for (k = 0; k < n; k++)
							{
								if (strcmp(pairs[k], key) == 0)
									return true;
							}
						}
					}
					break;
				}
			case INDEX_KEY_FIRST:
			case INDEX_KEY_LAST:
			case INDEX_KEY_ID:
				{
					QuestionAttr attr = q->kind == INDEX_KEY_FIRST ? ATTR_FIRST :
						q->kind == INDEX_KEY_LAST ? ATTR_LAST : ATTR_ID;

					for (i = 0; i < f->nvalues[attr]; i++)
					{
						if (strcmp(f->values[attr][i].key, key) == 0)
							return true;
					}
					break;
				}
			case INDEX_KEY_FULL:
				{
					int			j;

					/* entries with no last name are filed under no full key */
					for (i = 0; i < f->nvalues[ATTR_FIRST]; i++)
					{
						for (j = 0; j < f->nvalues[ATTR_LAST]; j++)
						{
							char	   *full = directory_index_full_key(f->values[ATTR_FIRST][i].key,
																		f->values[ATTR_LAST][j].key);

							if (strcmp(full, key) == 0)
								return true;
						}
					}
					break;
				}
		}
	}
	return false;
}


/*
 * Scoring.
 */

/* A name's forms, made once per text (the suggester keeps them). */
static NameForms *
forms_of(Suggester *s, const char *text, int len)
{
	FormsEntry *entry;
	bool		found;
	char	   *key = (char *) text;

	entry = hash_search(s->forms, &key, HASH_ENTER, &found);
	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(s->forms_cxt);
		char	   *copy = pnstrdup(text, len);

		entry->text = copy;
		name_forms(&entry->forms, copy, len, s->nicknames);
		MemoryContextSwitchTo(old);
	}
	return &entry->forms;
}

static void
values_forms(Suggester *s, NameValue *values, int n, int *nforms, NameForms ***forms)
{
	int			i;

	*forms = palloc(sizeof(NameForms *) * Max(n, 1));
	*nforms = 0;
	for (i = 0; i < n; i++)
	{
		if (values[i].text)
			(*forms)[(*nforms)++] = forms_of(s, values[i].text, values[i].len);
	}
}

/*
 * The forms of an entry of the index, into ef, whose arrays are forms
 * (room for NUM_ATTRS * MAX_VALUES): made when it is scored, the forms of
 * each name kept by the suggester (an entry is not).
 */
static void
index_entry_forms(Suggester *s, int entry, EntryForms *ef, NameForms **forms)
{
	NameValue	values[MAX_VALUES];
	int			k;
	int			i;

	memset(ef, 0, sizeof(EntryForms));
	ef->names.first = forms;
	ef->names.last = forms + MAX_VALUES;
	ef->names.id = forms + 2 * MAX_VALUES;
	for (k = 0; k < NUM_ATTRS; k++)
	{
		IndexKey	kind = k == ATTR_FIRST ? INDEX_KEY_FIRST :
			k == ATTR_LAST ? INDEX_KEY_LAST : INDEX_KEY_ID;
		NameForms **out = forms + k * MAX_VALUES;
		int		   *nout = k == ATTR_FIRST ? &ef->names.nfirst :
			k == ATTR_LAST ? &ef->names.nlast : &ef->names.nid;
		int			n;

		if (k == ATTR_ID && s->id_attr == NULL)
			continue;
		n = directory_index_values(s->index, entry, kind, values, MAX_VALUES);
		for (i = 0; i < n; i++)
		{
			if (values[i].text)
				out[(*nout)++] = forms_of(s, values[i].text, values[i].len);
		}
	}
}

static EntryForms *
found_forms(Suggester *s, Found *f)
{
	if (f->forms == NULL)
	{
		EntryForms *ef = palloc0(sizeof(EntryForms));

		values_forms(s, f->values[ATTR_FIRST], f->nvalues[ATTR_FIRST],
					 &ef->names.nfirst, &ef->names.first);
		values_forms(s, f->values[ATTR_LAST], f->nvalues[ATTR_LAST],
					 &ef->names.nlast, &ef->names.last);
		values_forms(s, f->values[ATTR_ID], f->nvalues[ATTR_ID],
					 &ef->names.nid, &ef->names.id);
		f->forms = ef;
	}
	return f->forms;
}

static void
consider_candidate(Suggester *s, Pending *p, DirectoryEntry *entry, Found *found,
				   EntryForms *forms)
{
	uint32		reasons;
	int			score;
	Candidate  *c;
	ListCell   *cell;

	score = score_entry(&p->names, &forms->names, &reasons);
	s->scored++;
	if (score <= 0)
		return;
	foreach(cell, p->candidates)
	{
		if (strcmp(((Candidate *) lfirst(cell))->entry->dn, entry->dn) == 0)
			return;
	}
	c = palloc(sizeof(Candidate));
	c->entry = entry;
	c->found = found;
	c->score = score;
	c->reasons = reasons;
	p->candidates = lappend(p->candidates, c);
}


/* A score halved, as each of linked_elsewhere and uid_taken halves it. */
static int
halved(int score)
{
	return (score * 500 + 500) / 1000;
}

static int compare_candidates(const ListCell *a, const ListCell *b);

/*
 * Keep of a record's candidates those that can still be among its first
 * keep once lowered: a candidate scored below a quarter of the keep-th
 * best (what two halvings leave of it) cannot.  The others are sorted.
 */
static void
prune_candidates(Pending *p, int keep)
{
	int			bound;
	ListCell   *cell;

	list_sort(p->candidates, compare_candidates);
	if (list_length(p->candidates) <= keep)
		return;
	bound = halved(halved(((Candidate *) list_nth(p->candidates, keep - 1))->score));
	foreach(cell, p->candidates)
	{
		if (((Candidate *) lfirst(cell))->score < bound)
		{
			p->candidates = list_truncate(p->candidates, foreach_current_index(cell));
			break;
		}
	}
}

/*
 * What lowers a candidate: a link to another record, a user ID another
 * record holds.
 */
/* A record's suggestions while they are lowered and ranked. */
typedef struct Kept
{
	SyncRecord *rec;
	List	   *suggestions;	/* of Suggestion */
	bool		complete;		/* no search of the record was cut short */
} Kept;

static void
mark_linked(Suggester *s, Kept *kept, int n)
{
	const char **ids;
	int64	   *dcids;
	ListCell   *cell;
	int			total = 0;
	int			i;
	int			k = 0;

	if (s->entry_id_attr == NULL)
		return;
	for (i = 0; i < n; i++)
		total += list_length(kept[i].suggestions);
	if (total == 0)
		return;
	ids = palloc(sizeof(char *) * total);
	dcids = palloc(sizeof(int64) * total);
	for (i = 0; i < n; i++)
	{
		foreach(cell, kept[i].suggestions)
			ids[k++] = ((Suggestion *) lfirst(cell))->entry->entry_id;
	}
	linked_records(s->server->servername, s->group, ids, k, dcids);
	k = 0;
	for (i = 0; i < n; i++)
	{
		foreach(cell, kept[i].suggestions)
		{
			Suggestion *sg = (Suggestion *) lfirst(cell);

			if (dcids[k] >= 0 && dcids[k] != kept[i].rec->dcid)
			{
				sg->reasons |= REASON_BIT(REASON_LINKED_ELSEWHERE);
				sg->score = halved(sg->score);
			}
			k++;
		}
	}
	pfree(ids);
	pfree(dcids);
}

/* A suggestion's user ID as a username would hold it, or NULL. */
static char *
suggestion_uid(Suggestion *c)
{
	DirectoryValues *uid = &c->entry->uid;

	if (uid->count != 1 || !is_username_text(uid->values[0], uid->lengths[0]))
		return NULL;
	return directory_value_text(uid->values[0], uid->lengths[0]);
}

typedef struct Holding
{
	char	   *value;
	int64		dcid;
} Holding;

typedef struct Holdings
{
	Holding    *h;
	int			n;
	int			allocated;
} Holdings;

static int
compare_holdings(const void *a, const void *b)
{
	return strcmp(((const Holding *) a)->value, ((const Holding *) b)->value);
}

static void
holding_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Holdings   *h = (Holdings *) arg;
	bool		isnull;

	if (h->n == h->allocated)
	{
		h->allocated = Max(64, h->allocated * 2);
		h->h = h->h ? repalloc(h->h, sizeof(Holding) * h->allocated) :
			palloc(sizeof(Holding) * h->allocated);
	}
	h->h[h->n].dcid = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	h->h[h->n].value = TextDatumGetCString(SPI_getbinval(tuple, desc, 2, &isnull));
	h->n++;
}

static void
mark_uid_taken(Suggester *s, Kept *pending, int n)
{
	UsernameColumn column;

	if (s->tables == NULL)
		return;
	for (column = 0; column < NUM_USERNAME_COLUMNS; column++)
	{
		Datum	   *values = NULL;
		int			nvalues = 0;
		int			allocated = 0;
		Holdings	holdings;
		int			i;
		int			c;
		ListCell   *cell;

		if ((s->group == GROUP_STUDENTS) != (column == COLUMN_STUDENT_WEB_ID))
			continue;
		for (i = 0; i < n; i++)
		{
			for (c = 0; c < pending[i].rec->nchecks; c++)
			{
				if (pending[i].rec->columns[c] != column)
					continue;
				foreach(cell, pending[i].suggestions)
				{
					char	   *uid = suggestion_uid((Suggestion *) lfirst(cell));

					if (uid == NULL)
						continue;
					if (nvalues == allocated)
					{
						allocated = Max(64, allocated * 2);
						values = values ? repalloc(values, sizeof(Datum) * allocated) :
							palloc(sizeof(Datum) * allocated);
					}
					values[nvalues++] = CStringGetTextDatum(uid);
				}
			}
		}
		if (nvalues == 0)
			continue;

		memset(&holdings, 0, sizeof(holdings));
		find_holders(column_table(s->tables, column), username_column_name(column),
					 PointerGetDatum(construct_array(values, nvalues, TEXTOID, -1,
													 false, TYPALIGN_INT)),
					 holding_row, &holdings);
		if (holdings.n > 1)
			qsort(holdings.h, holdings.n, sizeof(Holding), compare_holdings);
		for (i = 0; i < n && holdings.n > 0; i++)
		{
			for (c = 0; c < pending[i].rec->nchecks; c++)
			{
				if (pending[i].rec->columns[c] != column)
					continue;
				foreach(cell, pending[i].suggestions)
				{
					Suggestion *cand = (Suggestion *) lfirst(cell);
					char	   *uid = suggestion_uid(cand);
					Holding		key;
					Holding    *found;

					if (uid == NULL || (cand->reasons & REASON_BIT(REASON_UID_TAKEN)))
						continue;
					key.value = uid;
					found = bsearch(&key, holdings.h, holdings.n, sizeof(Holding),
									compare_holdings);
					if (found == NULL)
						continue;
					while (found > holdings.h && strcmp(found[-1].value, uid) == 0)
						found--;
					for (; found < holdings.h + holdings.n &&
						 strcmp(found->value, uid) == 0; found++)
					{
						if (found->dcid != pending[i].rec->dcid)
						{
							cand->reasons |= REASON_BIT(REASON_UID_TAKEN);
							cand->score = halved(cand->score);
							break;
						}
					}
				}
			}
		}
	}
}

static int
compare_ints(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static int
compare_suggestions(const ListCell *a, const ListCell *b)
{
	Suggestion *x = (Suggestion *) lfirst(a);
	Suggestion *y = (Suggestion *) lfirst(b);

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return strcmp(x->entry->dn, y->entry->dn);
}

static int
compare_candidates(const ListCell *a, const ListCell *b)
{
	Candidate  *x = (Candidate *) lfirst(a);
	Candidate  *y = (Candidate *) lfirst(b);

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return strcmp(x->entry->dn, y->entry->dn);
}

/* A value to show: the values of an attribute, joined by ", ". */
static char *
shown_value(DirectoryValues *values)
{
	StringInfoData buf;
	int			i;

	if (values->count == 0)
		return NULL;
	initStringInfo(&buf);
	for (i = 0; i < values->count; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "",
						 directory_text(values->values[i], values->lengths[i]));
	return buf.data;
}


/*
 * Make a suggester for the records of a group; index is the scan's, or
 * NULL.  tables are those the records came from, for uid_taken.
 */
Suggester *
suggester_create(PssyncServer *server, PssyncDirectory *dir, RecordGroup group,
				 const char *uid_attr, const char *entry_id_attr,
				 DirectoryIndex *index, PowerSchoolTables *tables)
{
	Suggester  *s = palloc0(sizeof(Suggester));
	int			nattrs = 0;

	s->server = server;
	s->dir = dir;
	s->group = group;
	s->entry_id_attr = entry_id_attr;
	s->id_attr = server->id_attr[group];
	s->index = index;
	s->tables = tables;
	s->cxt = AllocSetContextCreate(CurrentMemoryContext, "pssync suggestions",
								   ALLOCSET_DEFAULT_SIZES);
	s->round_cxt = AllocSetContextCreate(s->cxt, "pssync suggestions of a round",
										 ALLOCSET_DEFAULT_SIZES);

	s->value_of[ATTR_FIRST] = nattrs;
	s->attrs[nattrs++] = server->first_name_attr;
	s->value_of[ATTR_LAST] = nattrs;
	s->attrs[nattrs++] = server->last_name_attr;
	s->uid_value = nattrs;
	s->attrs[nattrs++] = uid_attr;
	s->value_of[ATTR_ID] = -1;
	if (s->id_attr)
	{
		s->value_of[ATTR_ID] = nattrs;
		s->attrs[nattrs++] = s->id_attr;
	}
	s->entry_id_value = -1;
	if (entry_id_attr)
	{
		s->entry_id_value = nattrs;
		s->attrs[nattrs++] = entry_id_attr;
	}
	s->attrs[nattrs] = NULL;

	s->forms_cxt = AllocSetContextCreate(s->cxt, "pssync name forms",
										 ALLOCSET_DEFAULT_SIZES);
	forget_forms(s);
	{
		MemoryContext old = MemoryContextSwitchTo(s->cxt);

		s->nicknames = load_nicknames();
		MemoryContextSwitchTo(old);
	}
	return s;
}

/*
 * The forms of names, made when first scored, forgotten (between rounds)
 * when they take more than FORMS_MEMORY: a district's names are many, and
 * those of common names are made again soon enough.
 */
static void
forget_forms(Suggester *s)
{
	MemoryContextReset(s->forms_cxt);
	s->forms = string_table_create("pssync name forms", 4096, sizeof(FormsEntry),
								   s->forms_cxt);
}

int
suggester_cut_short(Suggester *s)
{
	return s->cut_short;
}

void
suggester_free(Suggester *s)
{
	if (s->index)
		directory_index_forget_pairs(s->index);
	MemoryContextDelete(s->cxt);
	pfree(s);
}

/* A record's names, as its questions and scores use them (UTF-8). */
static NameForms *
record_forms(Suggester *s, const char *name)
{
	char	   *searched = search_name(name);
	char	   *utf8;
	NameForms  *forms;

	if (searched == NULL)
		return NULL;
	utf8 = pstrdup(directory_to_utf8(searched));
	forms = palloc(sizeof(NameForms));
	name_forms(forms, utf8, strlen(utf8), s->nicknames);
	return forms;
}

/* Copy a suggestion's entry into the current memory context. */
static DirectoryEntry *
copy_entry(DirectoryEntry *from)
{
	DirectoryEntry *to = palloc0(sizeof(DirectoryEntry));

	to->dn = pstrdup(from->dn);
	copy_directory_values(NULL, &to->uid, &from->uid);
	to->entry_id = from->entry_id ? pstrdup(from->entry_id) : NULL;
	return to;
}

/* A record's names and questions. */
static void
pending_questions(Suggester *s, Pending *p, SyncRecord *rec)
{
	p->rec = rec;
	p->names.nicknames = s->nicknames;
	p->names.first = record_forms(s, rec->first_name);
	p->names.last = record_forms(s, rec->last_name);
	p->names.preferred = record_forms(s, rec->preferred_name);
	p->names.id = s->id_attr ? record_forms(s, rec->id) : NULL;
	build_questions(s, p);
}

/*
 * Name to the index the pair keys the records' questions will ask for,
 * so that it files the entries under those alone (their questions are
 * made again, round by round).
 */
static void
want_pair_keys(Suggester *s, SyncRecord **records, int n)
{
	MemoryContext old = MemoryContextSwitchTo(s->round_cxt);
	int			i;

	for (i = 0; i < n; i++)
	{
		Pending		p;
		ListCell   *cell;

		memset(&p, 0, sizeof(p));
		pending_questions(s, &p, records[i]);
		foreach(cell, p.questions)
		{
			Question   *q = (Question *) lfirst(cell);

			if (q->kind == INDEX_KEY_FIRST_PART || q->kind == INDEX_KEY_LAST_PART)
				directory_index_want_pair_keys(s->index, q->kind, q->keys);
		}
		/* a record's questions take tens of kilobytes */
		MemoryContextReset(s->round_cxt);
	}
	MemoryContextSwitchTo(old);
}

static void
suggest_round(Suggester *s, SyncRecord **records, int n, int keep,
			  Kept *kept, MemoryContext out_cxt)
{
	Pending    *pending = palloc0(sizeof(Pending) * Max(n, 1));
	int			i;
	ListCell   *cell;
	instr_time	start;
	instr_time	now;

#define PHASE(k) \
	do { \
		INSTR_TIME_SET_CURRENT(now); \
		INSTR_TIME_SUBTRACT(now, start); \
		s->ms[k] += INSTR_TIME_GET_MILLISEC(now); \
		INSTR_TIME_SET_CURRENT(start); \
	} while (0)

	INSTR_TIME_SET_CURRENT(start);
	for (i = 0; i < n; i++)
	{
		Pending    *p = &pending[i];

		pending_questions(s, p, records[i]);
		foreach(cell, p->questions)
		{
			Question   *q = (Question *) lfirst(cell);

			q->ask = !answer_from_index(s, q);
		}
		CHECK_FOR_INTERRUPTS();
	}

	PHASE(0);
	ask_questions(s, pending, n);
	PHASE(1);

	for (i = 0; i < n; i++)
	{
		Pending    *p = &pending[i];
		int		   *entries = NULL;
		int			nentries = 0;
		int			k;

		kept[i].complete = true;
		foreach(cell, p->questions)
		{
			Question   *q = (Question *) lfirst(cell);

			if (q->ask)
			{
				ListCell   *fc;

				if (q->answer->cut_short)
					kept[i].complete = false;

				foreach(fc, q->answer->found)
				{
					Found	   *f = (Found *) lfirst(fc);

					if (found_under_keys(s, q, f))
						consider_candidate(s, p, &f->entry, f, found_forms(s, f));
				}
			}
			else if (q->nentries > 0)
			{
				/* the index's entries, each scored once */
				entries = entries ? repalloc(entries, sizeof(int) * (nentries + q->nentries)) :
					palloc(sizeof(int) * q->nentries);
				memcpy(entries + nentries, q->entries, sizeof(int) * q->nentries);
				nentries += q->nentries;
			}
		}
		if (nentries > 0)
		{
			qsort(entries, nentries, sizeof(int), compare_ints);
			for (k = 0; k < nentries; k++)
			{
				EntryForms	ef;
				NameForms  *forms[NUM_ATTRS * MAX_VALUES];

				if (k > 0 && entries[k] == entries[k - 1])
					continue;
				index_entry_forms(s, entries[k], &ef, forms);
				consider_candidate(s, p, directory_index_entry_at(s->index, entries[k]),
								   NULL, &ef);
			}
			pfree(entries);
		}
		CHECK_FOR_INTERRUPTS();
	}

	PHASE(2);

	/* what may be kept, as suggestions that outlive the round */
	for (i = 0; i < n; i++)
	{
		Pending    *p = &pending[i];
		MemoryContext old;

		prune_candidates(p, keep);
		old = MemoryContextSwitchTo(out_cxt);
		kept[i].rec = p->rec;
		kept[i].suggestions = NIL;
		foreach(cell, p->candidates)
		{
			Candidate  *c = (Candidate *) lfirst(cell);
			Suggestion *sg = palloc0(sizeof(Suggestion));

			sg->entry = copy_entry(c->entry);
			sg->score = c->score;
			sg->reasons = c->reasons;
			if (c->found)
			{
				sg->first_name = shown_value(&c->found->raw[ATTR_FIRST]);
				sg->last_name = shown_value(&c->found->raw[ATTR_LAST]);
			}
			kept[i].suggestions = lappend(kept[i].suggestions, sg);
		}
		MemoryContextSwitchTo(old);
	}
#undef PHASE
}

/*
 * The suggestions of records (at most keep each, best first) into lists
 * (one per record), allocated in the current memory context.
 */
void
suggest(Suggester *s, SyncRecord **records, int n, int keep,
		SuggestionList *lists)
{
	MemoryContext out_cxt = CurrentMemoryContext;
	Kept	   *kept = palloc0(sizeof(Kept) * Max(n, 1));
	instr_time	start_time;
	instr_time	now;
	int			per_round = s->index ? RECORDS_PER_ROUND_FIRST : RECORDS_PER_ROUND_ASKED_FIRST;
	int			most = s->index ? RECORDS_PER_ROUND : RECORDS_PER_ROUND_ASKED;
	Size		bound = s->index ? ROUND_MEMORY : ROUND_MEMORY_ASKED;
	int			start;
	int			i;

	INSTR_TIME_SET_CURRENT(start_time);
	if (s->index && directory_index_knows(s->index, INDEX_KEY_FIRST_PART))
		want_pair_keys(s, records, n);
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start_time);
	s->ms[0] += INSTR_TIME_GET_MILLISEC(now);

	for (start = 0; start < n;)
	{
		MemoryContext old;
		int			taken = Min(per_round, n - start);
		Size		used;

		if (MemoryContextMemAllocated(s->forms_cxt, true) > FORMS_MEMORY)
			forget_forms(s);
		old = MemoryContextSwitchTo(s->round_cxt);
		suggest_round(s, records + start, taken, keep, kept + start, out_cxt);
		MemoryContextSwitchTo(old);
		start += taken;

		/* as many records as fit */
		used = MemoryContextMemAllocated(s->round_cxt, true);
		if (used > bound)
			per_round = Max(per_round / 2, 1);
		else if (used < bound / 4)
			per_round = Min(per_round * 2, most);
		MemoryContextReset(s->round_cxt);
	}

	/* lowered, all at once, and ranked */
	INSTR_TIME_SET_CURRENT(start_time);
	mark_linked(s, kept, n);
	mark_uid_taken(s, kept, n);
	for (i = 0; i < n; i++)
	{
		ListCell   *cell;
		int			k = 0;

		list_sort(kept[i].suggestions, compare_suggestions);
		lists[i].n = Min(list_length(kept[i].suggestions), keep);
		lists[i].complete = kept[i].complete;
		lists[i].items = palloc0(sizeof(Suggestion) * Max(lists[i].n, 1));
		foreach(cell, kept[i].suggestions)
		{
			if (k == lists[i].n)
				break;
			lists[i].items[k++] = *(Suggestion *) lfirst(cell);
		}
		list_free_deep(kept[i].suggestions);
	}
	pfree(kept);
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start_time);
	s->ms[3] += INSTR_TIME_GET_MILLISEC(now);
}

/* What suggestions took, for a sync's DEBUG1 lines. */
char *
suggester_summary(Suggester *s)
{
	return psprintf("%.1f ms answering from the index (%ld entries checked), %.1f ms asking %d questions, %.1f ms scoring %ld entries, %.1f ms lowering and ranking",
					s->ms[0], s->checked, s->ms[1], s->asked, s->ms[2], s->scored, s->ms[3]);
}
