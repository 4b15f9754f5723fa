/*-------------------------------------------------------------------------
 *
 * variants.c
 *		  How a directory entry's names relate to a record's: the reasons
 *		  of a suggestion, and its score.
 *
 * PowerSchool matches names exactly.  In a district most exceptions are
 * the same person spelled differently, and each difference has a name
 * (the fixed vocabulary of pssync.ldap_suggest):
 *
 *	exact			both names equal, as the directory compares them
 *	case_accents	equal after folding case and removing accents (and
 *					punctuation: "O'Brien" and "OBrien")
 *	nickname		a first name is a nickname of the other, in
 *					pssync.nicknames, directly or through a common name
 *					(Bill and Will, both William's)
 *	preferred_name	the record's preferred first name is the entry's
 *	surname_part	one part of a hyphenated or multi-word surname, or
 *					the same surname with its particles apart, joined or
 *					left out (de la Cruz, DelaCruz, Cruz)
 *	suffix			Jr, Sr, II, III or IV on one side only
 *	swapped			first and last name swapped
 *	middle_name		a first name of two words against one of them
 *	initial			a first name given as an initial
 *	typo_first,
 *	typo_last		an edit distance of 1 (a name of 4 letters or more),
 *					or 2 for names of 8 letters or more
 *	same_id			the ID attribute holds the record's ID
 *
 * An entry is a candidate when both its names are explained (each equal,
 * or different for one of these reasons), or by the ID alone.  Its score
 * is in thousandths: 1000 is an exact match, and each reason multiplies it
 * by a factor that says how often that difference still means the same
 * person (case_accents 0.97, suffix and preferred_name 0.95, nickname
 * 0.85, ..., initial 0.60), so that two candidates with the same reasons
 * have the same score, and only an exact match has 1000.  The ID is
 * independent evidence: it gives 0.90 alone, and raises a name score s to
 * 1 - (1 - s) * 0.10.  suggest.c lowers the score of an entry linked to
 * another record or whose user ID another record holds.
 *
 * Everything here works on the names' UTF-8 text, in memory, and is the
 * same whichever strategy found the entry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bitutils.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "pssync.h"

static const char *const reason_names[NUM_SUGGEST_REASONS] = {
	"exact",
	"case_accents",
	"nickname",
	"preferred_name",
	"surname_part",
	"suffix",
	"swapped",
	"middle_name",
	"initial",
	"typo_first",
	"typo_last",
	"same_id",
	"linked_elsewhere",
	"uid_taken"
};

/* The factors of the reasons, in thousandths. */
#define FACTOR_CASE_ACCENTS		970
#define FACTOR_PREFERRED		950
#define FACTOR_NICKNAME			850
#define FACTOR_NICKNAME_STEP	800 /* through a common name */
#define FACTOR_MIDDLE_FIRST		850 /* the first of the words */
#define FACTOR_MIDDLE_OTHER		800
#define FACTOR_INITIAL			600
#define FACTOR_TYPO_FIRST		750 /* 6 letters or more */
#define FACTOR_TYPO_FIRST_SHORT 650 /* 4 or 5 letters, or a distance of 2 */
#define FACTOR_SUFFIX			950
#define FACTOR_SURNAME_JOINED	950 /* the same words, joined or apart */
#define FACTOR_SURNAME_PARTICLES 880	/* the same but for particles */
#define FACTOR_SURNAME_PART		850 /* one side's parts among the other's */
#define FACTOR_TYPO_LAST		800
#define FACTOR_TYPO_LAST_TWO	700
#define FACTOR_SWAPPED			800
#define SCORE_SAME_ID			900

const char *
suggest_reason_name(SuggestReason reason)
{
	return reason_names[reason];
}

bool
parse_suggest_reason(const char *name, SuggestReason *reason)
{
	int			r;

	for (r = 0; r < NUM_SUGGEST_REASONS; r++)
	{
		if (pg_strcasecmp(name, reason_names[r]) == 0)
		{
			*reason = (SuggestReason) r;
			return true;
		}
	}
	return false;
}

/* Reasons as the text of a text[]: "{nickname,typo_last}". */
char *
suggestion_reasons_text(uint32 reasons)
{
	StringInfoData buf;
	int			r;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (r = 0; r < NUM_SUGGEST_REASONS; r++)
	{
		if (reasons & REASON_BIT(r))
			appendStringInfo(&buf, "%s%s", buf.len > 1 ? "," : "", reason_names[r]);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* a * b in thousandths, rounded */
static int
times(int a, int b)
{
	return (a * b + 500) / 1000;
}


/*
 * The nickname table, pssync.nicknames, in memory: for each name (as
 * folded), the names it has as variants, the names it is a variant of,
 * and how the table spells it.
 */
/*
 * A name's variants and names (each way), its spellings, and the
 * spellings nickname_spellings() returns, at most: a very large table is
 * read and searched in bounded time.
 */
#define MAX_NICKNAME_LINKS 64
#define MAX_NICKNAME_SPELLINGS 8
#define MAX_KNOWN_BY 64

struct Nickname
{
	char	   *fold;			/* the key */
	List	   *variants;		/* of Nickname *: name -> variant */
	List	   *names;			/* of Nickname *: variant -> name */
	List	   *spellings;		/* of char *, UTF-8 */
};

struct Nicknames
{
	HTAB	   *names;
	MemoryContext cxt;			/* where it lives */
};

static Nickname *
nickname_entry(Nicknames *nicknames, const char *fold, bool create)
{
	Nickname   *entry;
	bool		found;

	entry = hash_search(nicknames->names, &fold, create ? HASH_ENTER : HASH_FIND,
						&found);
	if (entry && !found)
	{
		entry->fold = MemoryContextStrdup(nicknames->cxt, fold);
		entry->variants = NIL;
		entry->names = NIL;
		entry->spellings = NIL;
	}
	return entry;
}

static void
add_spelling(Nickname *entry, const char *spelling)
{
	ListCell   *cell;

	if (list_length(entry->spellings) >= MAX_NICKNAME_SPELLINGS)
		return;
	foreach(cell, entry->spellings)
	{
		if (strcmp((char *) lfirst(cell), spelling) == 0)
			return;
	}
	entry->spellings = lappend(entry->spellings, pstrdup(spelling));
}

static void
nickname_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Nicknames  *nicknames = (Nicknames *) arg;
	bool		name_null;
	bool		variant_null;
	Datum		name_datum = SPI_getbinval(tuple, desc, 1, &name_null);
	Datum		variant_datum = SPI_getbinval(tuple, desc, 2, &variant_null);
	char	   *name;
	char	   *variant;
	char	   *name_key;
	char	   *variant_key;
	Nickname   *n;
	Nickname   *v;

	CHECK_FOR_INTERRUPTS();
	if (name_null || variant_null)
		return;
	name = directory_to_utf8(TextDatumGetCString(name_datum));
	variant = directory_to_utf8(TextDatumGetCString(variant_datum));
	name_key = name_fold(name, strlen(name), false);
	variant_key = name_fold(variant, strlen(variant), false);
	if (name_key[0] == '\0' || variant_key[0] == '\0' ||
		strcmp(name_key, variant_key) == 0)
		return;
	n = nickname_entry(nicknames, name_key, true);
	v = nickname_entry(nicknames, variant_key, true);
	add_spelling(n, name);
	add_spelling(v, variant);
	if (list_length(n->variants) < MAX_NICKNAME_LINKS &&
		!list_member_ptr(n->variants, v))
		n->variants = lappend(n->variants, v);
	if (list_length(v->names) < MAX_NICKNAME_LINKS &&
		!list_member_ptr(v->names, n))
		v->names = lappend(v->names, n);
}

/*
 * Read pssync.nicknames, as the caller (it is granted to PUBLIC), into
 * the current memory context.  An installed version without the table
 * has no nicknames.
 */
Nicknames *
load_nicknames(void)
{
	Nicknames  *nicknames = palloc0(sizeof(Nicknames));
	Oid			schema = pssync_schema_with("nicknames");

	nicknames->cxt = CurrentMemoryContext;
	nicknames->names = string_table_create("pssync nicknames", 2048, sizeof(Nickname),
										   CurrentMemoryContext);
	if (!OidIsValid(schema))
		return nicknames;
	for_each_row(psprintf("SELECT n.name::pg_catalog.text, n.variant::pg_catalog.text"
						  " FROM %s.nicknames n",
						  quote_identifier(get_namespace_name(schema))),
				 0, NULL, NULL, false, nickname_row, nicknames);
	return nicknames;
}

/*
 * How two first names are nicknames of each other: directly (one is
 * listed as a variant of the other), or through a common name (two
 * variants of one name, or a variant of a variant).  Two names that merely
 * share a variant (Alberto and Roberto are both "Beto") are not related.
 * Returns the factor, or 0.
 */
static int
nickname_factor(Nickname *a, Nickname *b)
{
	ListCell   *cell;

	if (a == NULL || b == NULL || a == b)
		return 0;
	if (list_member_ptr(a->variants, b) || list_member_ptr(a->names, b))
		return FACTOR_NICKNAME;
	foreach(cell, a->names)
	{
		Nickname   *x = (Nickname *) lfirst(cell);

		/* siblings (x -> a, x -> b), or b -> x -> a */
		if (list_member_ptr(x->variants, b) || list_member_ptr(x->names, b))
			return FACTOR_NICKNAME_STEP;
	}
	foreach(cell, a->variants)
	{
		Nickname   *x = (Nickname *) lfirst(cell);

		/* a -> x -> b */
		if (list_member_ptr(x->variants, b))
			return FACTOR_NICKNAME_STEP;
	}
	return 0;
}

static void
add_spellings(List **spellings, Nickname *entry)
{
	ListCell   *cell;

	foreach(cell, entry->spellings)
	{
		char	   *s = (char *) lfirst(cell);
		ListCell   *other;
		bool		known = false;

		if (list_length(*spellings) >= MAX_KNOWN_BY)
			return;

		foreach(other, *spellings)
		{
			if (strcmp((char *) lfirst(other), s) == 0)
				known = true;
		}
		if (!known)
			*spellings = lappend(*spellings, s);
	}
}

/*
 * The first names a first name may be known by, as the table spells them
 * (UTF-8): its own spellings there (José for Jose), and those of the
 * names nickname_factor() relates to it; at most MAX_KNOWN_BY of them.
 */
List *
nickname_spellings(Nicknames *nicknames pg_attribute_unused(), NameForms *name)
{
	Nickname   *entry = name->nickname;
	List	   *spellings = NIL;
	ListCell   *cell;
	ListCell   *inner;

	if (entry == NULL)
		return NIL;
	add_spellings(&spellings, entry);

	/*
	 * The names it is a nickname of first (Bob: Robert), then their other
	 * nicknames, then its own: when the list is cut at MAX_KNOWN_BY (a
	 * district's table may give a name hundreds of variants), the formal
	 * names stay.
	 */
	foreach(cell, entry->names)
	{
		add_spellings(&spellings, (Nickname *) lfirst(cell));
		CHECK_FOR_INTERRUPTS();
	}
	foreach(cell, entry->names)
	{
		Nickname   *x = (Nickname *) lfirst(cell);

		foreach(inner, x->variants)
			add_spellings(&spellings, (Nickname *) lfirst(inner));
		foreach(inner, x->names)
			add_spellings(&spellings, (Nickname *) lfirst(inner));
		CHECK_FOR_INTERRUPTS();
	}
	foreach(cell, entry->variants)
	{
		Nickname   *x = (Nickname *) lfirst(cell);

		add_spellings(&spellings, x);
		foreach(inner, x->variants)
			add_spellings(&spellings, (Nickname *) lfirst(inner));
		CHECK_FOR_INTERRUPTS();
	}
	return spellings;
}


/* The words of a fold or lite form; returns how many. */
static int
split_words(const char *form, char ***words)
{
	char	   *copy = pstrdup(form);
	char	   *p;
	char	   *saved;
	int			n = 0;

	*words = palloc(sizeof(char *) * (strlen(form) / 2 + 2));
	for (p = strtok_r(copy, " ", &saved); p; p = strtok_r(NULL, " ", &saved))
		(*words)[n++] = p;
	return n;
}

/*
 * The forms of a name (UTF-8, len bytes) the reasons compare: see names.c.
 * With nicknames, its entry in the nickname table is found too.
 */
void
name_forms(NameForms *forms, const char *text, int len, Nicknames *nicknames)
{
	char	   *p;
	char	   *q;

	forms->text = text;
	forms->plain = is_plain_name(text, len);
	if (memchr(text, '\0', len) != NULL || name_has_control(text))
	{
		/* compared only as it is (exact, or same_id) */
		forms->fold = forms->lite = forms->joined = pstrdup("");
		forms->length = 0;
		forms->skeleton = name_skeleton_compact(text, len);
		forms->nwords = 0;
		forms->words = NULL;
		forms->nickname = NULL;
		return;
	}
	forms->fold = name_fold(text, len, false);
	forms->lite = name_fold(text, len, true);
	forms->joined = pstrdup(forms->fold);
	for (p = q = forms->joined; *p; p++)
	{
		if (*p != ' ')
			*q++ = *p;
	}
	*q = '\0';
	forms->length = name_length(forms->joined);
	forms->skeleton = name_skeleton_compact(text, len);
	forms->nwords = split_words(forms->fold, &forms->words);
	forms->nickname = nicknames && forms->fold[0] ?
		nickname_entry(nicknames, forms->fold, false) : NULL;
}

/* Equal as every directory compares them (see names.c)? */
static bool
forms_exact(NameForms *a, NameForms *b)
{
	if (a->plain && b->plain)
		return pg_strcasecmp(a->text, b->text) == 0;
	return strcmp(a->text, b->text) == 0;
}

/* Words: some of a name's, by position. */
static char *
join_words(char **words, int n, int skip_mask, const char *separator)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		if (skip_mask & (1 << Min(i, 30)))
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, separator);
		appendStringInfoString(&buf, words[i]);
	}
	return buf.data;
}


/*
 * First names.
 */
typedef struct Likeness
{
	int			factor;			/* thousandths; 0: not explained */
	uint32		reasons;
} Likeness;

/* Keep the higher factor; of equal ones, the fewer reasons. */
static void
consider(Likeness *best, int factor, uint32 reasons)
{
	int			n = pg_popcount32(reasons);
	int			best_n = pg_popcount32(best->reasons);

	if (factor > best->factor ||
		(factor == best->factor && factor > 0 &&
		 (n < best_n || (n == best_n && reasons < best->reasons))))
	{
		best->factor = factor;
		best->reasons = reasons;
	}
}

/* Is a (one letter) the initial of b (longer)? */
static bool
is_initial_of(const char *a, const char *b)
{
	int			la = pg_utf_mblen((const unsigned char *) a);

	return a[0] != '\0' && a[la] == '\0' && b[la] != '\0' &&
		strncmp(a, b, la) == 0;
}

/* Two single words of first names. */
static Likeness
word_relation(Nicknames *nicknames, const char *a, const char *b)
{
	Likeness	r = {0, 0};
	int			f;

	if (strcmp(a, b) == 0)
		r.factor = 1000;
	else if (nicknames &&
			 (f = nickname_factor(nickname_entry(nicknames, a, false),
								  nickname_entry(nicknames, b, false))) > 0)
	{
		r.factor = f;
		r.reasons = REASON_BIT(REASON_NICKNAME);
	}
	else if (is_initial_of(a, b) || is_initial_of(b, a))
	{
		r.factor = FACTOR_INITIAL;
		r.reasons = REASON_BIT(REASON_INITIAL);
	}
	return r;
}

/* Are all words of a among those of b? */
static bool
words_within(NameForms *a, NameForms *b)
{
	int			i;
	int			j;

	for (i = 0; i < a->nwords; i++)
	{
		for (j = 0; j < b->nwords; j++)
		{
			if (strcmp(a->words[i], b->words[j]) == 0)
				break;
		}
		if (j == b->nwords)
			return false;
	}
	return true;
}

/*
 * What two names are when they are exact, empty or equal but for case and
 * accents: true, with *best set; false when the caller must look further.
 */
static bool
plain_likeness(NameForms *r, NameForms *e, Likeness *best)
{
	if (forms_exact(r, e))
	{
		best->factor = 1000;
		return true;
	}
	if (r->fold[0] == '\0' || e->fold[0] == '\0')
		return true;
	if (strcmp(r->fold, e->fold) == 0)
	{
		best->factor = FACTOR_CASE_ACCENTS;
		best->reasons = REASON_BIT(REASON_CASE_ACCENTS);
		return true;
	}
	return false;
}

/*
 * A typo: an edit distance of 1 where the name has 4 letters or more
 * (one of them: a letter left out of "Jack" is "Jck"), or 2 between names
 * of 8 or more.
 */
static void
consider_typo(Likeness *best, const char *a, int la, const char *b, int lb,
			  uint32 reasons, int factor_one, int factor_one_short, int factor_two)
{
	int			d;

	if (Max(la, lb) < 4)
		return;
	d = name_distance(a, b, 2);
	if (d == 1)
		consider(best, Min(la, lb) >= 6 ? factor_one : factor_one_short, reasons);
	else if (d == 2 && Min(la, lb) >= 8)
		consider(best, factor_two, reasons);
}

static Likeness
first_relation(Nicknames *nicknames, NameForms *r, NameForms *e)
{
	Likeness	best = {0, 0};
	int			f;

	if (plain_likeness(r, e, &best))
		return best;
	if ((f = nickname_factor(r->nickname, e->nickname)) > 0)
		consider(&best, f, REASON_BIT(REASON_NICKNAME));

	if (r->nwords == 1 && e->nwords == 1)
	{
		if (is_initial_of(r->fold, e->fold) || is_initial_of(e->fold, r->fold))
			consider(&best, FACTOR_INITIAL, REASON_BIT(REASON_INITIAL));
	}
	else if (r->nwords == 1 || e->nwords == 1)
	{
		/* a single name against one of the words of the other */
		const char *single = r->nwords == 1 ? r->words[0] : e->words[0];
		NameForms  *multi = r->nwords == 1 ? e : r;
		int			i;

		for (i = 0; i < multi->nwords; i++)
		{
			Likeness	w = word_relation(nicknames, single, multi->words[i]);

			if (w.factor > 0)
				consider(&best,
						 times(w.factor, i == 0 ? FACTOR_MIDDLE_FIRST : FACTOR_MIDDLE_OTHER),
						 w.reasons | REASON_BIT(REASON_MIDDLE_NAME));
		}
	}
	else if (r->nwords > 0 && e->nwords > 0 &&
			 words_within(r->nwords < e->nwords ? r : e, r->nwords < e->nwords ? e : r))
		consider(&best, FACTOR_MIDDLE_FIRST, REASON_BIT(REASON_MIDDLE_NAME));

	consider_typo(&best, r->joined, r->length, e->joined, e->length,
				  REASON_BIT(REASON_TYPO_FIRST),
				  FACTOR_TYPO_FIRST, FACTOR_TYPO_FIRST_SHORT, FACTOR_TYPO_FIRST_SHORT);
	return best;
}

/* The record's preferred first name against the entry's first name. */
static Likeness
preferred_relation(NameForms *p, NameForms *e)
{
	Likeness	r = {0, 0};

	if (forms_exact(p, e))
	{
		r.factor = FACTOR_PREFERRED;
		r.reasons = REASON_BIT(REASON_PREFERRED_NAME);
	}
	else if (p->fold[0] != '\0' && strcmp(p->fold, e->fold) == 0)
	{
		r.factor = times(FACTOR_PREFERRED, FACTOR_CASE_ACCENTS);
		r.reasons = REASON_BIT(REASON_PREFERRED_NAME) | REASON_BIT(REASON_CASE_ACCENTS);
	}
	return r;
}


/*
 * Last names.
 */
static const char *const suffixes[] = {"jr", "sr", "ii", "iii", "iv", NULL};

/* particles of surnames, as folded */
static const char *const particles[] = {
	"de", "del", "della", "dela", "la", "las", "los", "le", "les", "da",
	"das", "do", "dos", "di", "du", "van", "vander", "vanden", "von", "der",
	"den", "ter", "ten", "y", "e", "mc", "mac", "st", "al", "el", NULL
};

/* particles that may be joined to the rest: DelaCruz, Vandenberg */
static const char *const joined_particles[] = {
	"delos", "dela", "del", "de", "vander", "vanden", "van", "von", "da",
	"di", "du", "dos", "das", "la", "le", "mc", "mac", "st", NULL
};

static bool
in_list(const char *word, const char *const *list)
{
	for (; *list; list++)
	{
		if (strcmp(word, *list) == 0)
			return true;
	}
	return false;
}

/* The mask of the words of a surname that are suffixes. */
static int
suffix_mask(NameForms *name)
{
	int			mask = 0;
	int			i;

	for (i = 0; i < name->nwords && i < 30; i++)
	{
		if (in_list(name->words[i], suffixes))
			mask |= 1 << i;
	}
	/* a surname of suffix words only keeps them */
	if (mask == (1 << Min(name->nwords, 30)) - 1)
		return 0;
	return mask;
}

/*
 * The core of a surname: its words that are not particles or suffixes,
 * each with the alternative of itself without a joined particle
 * ("delacruz" is also "cruz") when at least 4 letters are left.
 */
#define MAX_CORE_WORDS 16

typedef struct Core
{
	int			n;
	const char *word[MAX_CORE_WORDS];
	const char *alternative[MAX_CORE_WORDS];	/* or NULL */
} Core;

static void
surname_core(NameForms *name, int skip, Core *core)
{
	int			i;

	core->n = 0;
	for (i = 0; i < name->nwords && core->n < MAX_CORE_WORDS; i++)
	{
		const char *w = name->words[i];
		const char *const *p;

		if ((skip & (1 << Min(i, 30))) || in_list(w, particles))
			continue;
		core->word[core->n] = w;
		core->alternative[core->n] = NULL;
		for (p = joined_particles; *p; p++)
		{
			size_t		len = strlen(*p);

			if (strncmp(w, *p, len) == 0 && name_length(w + len) >= 4)
			{
				core->alternative[core->n] = w + len;
				break;
			}
		}
		core->n++;
	}
}

static bool
core_word_matches(const Core *a, int i, const Core *b, int j)
{
	return strcmp(a->word[i], b->word[j]) == 0 ||
		(a->alternative[i] && strcmp(a->alternative[i], b->word[j]) == 0) ||
		(b->alternative[j] && strcmp(a->word[i], b->alternative[j]) == 0) ||
		(a->alternative[i] && b->alternative[j] &&
		 strcmp(a->alternative[i], b->alternative[j]) == 0);
}

/* Is every word of core a matched by a word of core b? */
static bool
core_within(const Core *a, const Core *b)
{
	int			i;
	int			j;

	if (a->n == 0)
		return false;
	for (i = 0; i < a->n; i++)
	{
		for (j = 0; j < b->n; j++)
		{
			if (core_word_matches(a, i, b, j))
				break;
		}
		if (j == b->n)
			return false;
	}
	return true;
}

static Likeness
last_relation(NameForms *r, NameForms *e)
{
	Likeness	best = {0, 0};
	int			rskip;
	int			eskip;
	int			base = 1000;
	uint32		base_reasons = 0;
	char	   *rjoined;
	char	   *ejoined;
	Core		rc;
	Core		ec;

	if (plain_likeness(r, e, &best))
		return best;

	rskip = suffix_mask(r);
	eskip = suffix_mask(e);
	if (rskip || eskip)
	{
		base = FACTOR_SUFFIX;
		base_reasons = REASON_BIT(REASON_SUFFIX);
		if (strcmp(join_words(r->words, r->nwords, rskip, " "),
				   join_words(e->words, e->nwords, eskip, " ")) == 0)
		{
			char	  **rl;
			char	  **el;
			int			nrl = split_words(r->lite, &rl);
			int			nel = split_words(e->lite, &el);

			/* the rest is the same name, perhaps in another case or accents */
			best.factor = base;
			best.reasons = base_reasons;
			if (nrl == r->nwords && nel == e->nwords &&
				strcmp(join_words(rl, nrl, rskip, " "),
					   join_words(el, nel, eskip, " ")) != 0)
			{
				best.factor = times(base, FACTOR_CASE_ACCENTS);
				best.reasons |= REASON_BIT(REASON_CASE_ACCENTS);
			}
			return best;
		}
	}

	/* the same letters, with the words apart or joined */
	rjoined = rskip ? join_words(r->words, r->nwords, rskip, "") : r->joined;
	ejoined = eskip ? join_words(e->words, e->nwords, eskip, "") : e->joined;
	if (rjoined[0] != '\0' && strcmp(rjoined, ejoined) == 0)
	{
		best.factor = times(base, FACTOR_SURNAME_JOINED);
		best.reasons = base_reasons | REASON_BIT(REASON_SURNAME_PART);
		return best;
	}

	surname_core(r, rskip, &rc);
	surname_core(e, eskip, &ec);
	if (core_within(&rc, &ec) && core_within(&ec, &rc))
		consider(&best, times(base, FACTOR_SURNAME_PARTICLES),
				 base_reasons | REASON_BIT(REASON_SURNAME_PART));
	else if (core_within(&rc, &ec) || core_within(&ec, &rc))
		consider(&best, times(base, FACTOR_SURNAME_PART),
				 base_reasons | REASON_BIT(REASON_SURNAME_PART));

	/* a typo in what is left */
	if (best.factor == 0)
		consider_typo(&best, rjoined, rskip ? name_length(rjoined) : r->length,
					  ejoined, eskip ? name_length(ejoined) : e->length,
					  base_reasons | REASON_BIT(REASON_TYPO_LAST),
					  times(base, FACTOR_TYPO_LAST), times(base, FACTOR_TYPO_LAST),
					  times(base, FACTOR_TYPO_LAST_TWO));
	return best;
}

/* Equal (1000), or equal but for case and accents (factor), or 0. */
static int
same_or_folded(NameForms *a, NameForms *b)
{
	if (forms_exact(a, b))
		return 1000;
	if (a->fold[0] != '\0' && strcmp(a->fold, b->fold) == 0)
		return FACTOR_CASE_ACCENTS;
	return 0;
}

/*
 * The score of an entry for a record (thousandths), and its reasons; 0
 * when the entry is not a candidate.  An entry with several values of an
 * attribute is scored with each, and the best is kept.
 */
int
score_entry(RecordNames *record, EntryNames *entry, uint32 *reasons)
{
	Likeness	best = {0, 0};
	int			f;
	int			l;
	int			score;

	for (f = 0; f < entry->nfirst; f++)
	{
		NameForms  *ef = entry->first[f];
		Likeness	first = {0, 0};

		if (record->first)
			first = first_relation(record->nicknames, record->first, ef);
		if (record->preferred)
		{
			Likeness	p = preferred_relation(record->preferred, ef);

			consider(&first, p.factor, p.reasons);
		}
		for (l = 0; l < entry->nlast; l++)
		{
			NameForms  *el = entry->last[l];

			if (first.factor > 0 && record->last)
			{
				Likeness	last = last_relation(record->last, el);

				if (last.factor > 0)
					consider(&best, times(first.factor, last.factor),
							 first.reasons | last.reasons);
			}
			if (record->first && record->last)
			{
				int			a = same_or_folded(record->first, el);
				int			b = a ? same_or_folded(record->last, ef) : 0;

				if (a && b)
					consider(&best, times(times(a, b), FACTOR_SWAPPED),
							 REASON_BIT(REASON_SWAPPED) |
							 (a < 1000 || b < 1000 ? REASON_BIT(REASON_CASE_ACCENTS) : 0));
			}
		}
	}

	score = best.factor;
	*reasons = best.reasons;
	if (score >= 1000 && best.reasons == 0)
		*reasons = REASON_BIT(REASON_EXACT);
	else if (score >= 1000)
		score = 999;

	if (record->id)
	{
		for (f = 0; f < entry->nid; f++)
		{
			if (forms_exact(record->id, entry->id[f]))
			{
				*reasons |= REASON_BIT(REASON_SAME_ID);
				if (score < 1000)
					score = Min(999, 1000 - times(1000 - score, 1000 - SCORE_SAME_ID));
				break;
			}
		}
	}
	return score;
}


/*
 * A name's fold without its spaces (NameForms.joined): "" for a name with
 * a control character, which is only compared as it is.
 */
char *
name_joined_fold(const char *text, int len)
{
	NameForms	forms;

	name_forms(&forms, text, len, NULL);
	return forms.joined;
}

/*
 * The keys a name is filed under for suggestions (suggest.c): the
 * skeleton of the whole name (skeleton: name_skeleton(), or NULL to make
 * it), and that of each of its words of two letters or more; of a
 * surname, only the words that are not particles or suffixes, and of a
 * word with a particle joined to it, also the rest ("delacruz", "cruz").
 * "Watson-Parker" is filed under "watson-parker", "watson" and "parker";
 * "María José" under "mariajose", "maria" and "jose".  Puts at most max
 * keys (palloc'd, each once) in keys; returns how many.
 */
int
name_part_keys(const char *text, int len, const char *skeleton, bool surname,
			   char **keys, int max)
{
	NameForms	forms;
	Core		core;
	int			n = 0;
	int			i;
	bool		simple = true;

	if (max < 1)
		return 0;
	keys[n++] = skeleton ? pstrdup(skeleton) : name_skeleton_compact(text, len);

	/* a name of letters alone is one word */
	for (i = 0; i < len && simple; i++)
		simple = (text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z');
	if (simple && !surname)
		return n;
	if (simple)
	{
		const char *const *p;
		char	   *lower = keys[0];

		for (p = joined_particles; *p && n < max; p++)
		{
			size_t		plen = strlen(*p);

			if (strncmp(lower, *p, plen) == 0 && strlen(lower + plen) >= 4)
			{
				keys[n++] = pstrdup(lower + plen);
				break;
			}
		}
		return n;
	}

	name_forms(&forms, text, len, NULL);
	if (surname)
	{
		surname_core(&forms, suffix_mask(&forms), &core);
		for (i = 0; i < core.n; i++)
		{
			int			k;
			const char *words[2] = {core.word[i], core.alternative[i]};

			for (k = 0; k < 2 && n < max; k++)
			{
				char	   *key;
				int			j;

				if (words[k] == NULL)
					continue;
				key = name_skeleton_compact(words[k], strlen(words[k]));
				if (strlen(key) < 2)
					continue;
				for (j = 0; j < n && strcmp(keys[j], key) != 0; j++)
					;
				if (j == n)
					keys[n++] = key;
			}
		}
	}
	else
	{
		for (i = 0; i < forms.nwords && n < max; i++)
		{
			char	   *key = name_skeleton_compact(forms.words[i], strlen(forms.words[i]));
			int			j;

			if (strlen(key) < 2)
				continue;
			for (j = 0; j < n && strcmp(keys[j], key) != 0; j++)
				;
			if (j == n)
				keys[n++] = key;
		}
	}
	return n;
}

/*
 * The keys of a pair of names for suggestions: each of name_part_keys of
 * one name (text, its skeleton; a surname or a first name), with the
 * first two letters of the other name (its fold without spaces, so that
 * case, accents and punctuation do not count), and with its last two:
 * "smith\001^jo" and "smith\001$hn" for John Smith's last name;
 * "part\001" alone when the other's skeleton is empty.  A surname's keys
 * say more of the first name (initials): filed (lookup false) with "^1j"
 * too, and "!j" when the first name is an initial (two letters or fewer);
 * looked up (lookup true) by an initial as "^1j" alone, else with "!j"
 * besides.  Puts at most max keys in keys (palloc'd); returns how many.
 */
int
name_pair_keys(const char *text, int len, const char *skeleton, bool surname,
			   const char *other_joined, bool lookup, char **keys, int max)
{
	char	   *parts[16];
	int			nparts = name_part_keys(text, len, skeleton, surname, parts, 16);
	char		ends[4][PAIR_END_SIZE];
	int			nends = pair_key_ends(other_joined, surname, lookup, ends);
	int			n = 0;
	int			i;
	int			k;

	for (i = 0; i < nparts; i++)
	{
		for (k = 0; k < nends && n < max; k++)
			keys[n++] = psprintf("%s%s", parts[i], ends[k]);
	}
	return n;
}

/*
 * What name_pair_keys puts after each part key, for a pair whose other
 * name's fold without spaces (NameForms.joined, "" for a name with a NUL)
 * is other_joined (see there): at most 4 ends, each a string of fewer than
 * PAIR_END_SIZE bytes.  Returns how many.
 */
int
pair_key_ends(const char *other_skeleton, bool surname, bool lookup,
			  char ends[][PAIR_END_SIZE])
{
	size_t		olen = strlen(other_skeleton);
	bool		initial = olen <= 2;
	int			n = 0;

	if (olen == 0)
	{
		strcpy(ends[n++], "\001");
		return n;
	}
	if (surname && lookup && initial)
	{
		snprintf(ends[n++], PAIR_END_SIZE, "\001^1%c", other_skeleton[0]);
		return n;
	}
	snprintf(ends[n++], PAIR_END_SIZE, "\001^%.2s", other_skeleton);
	snprintf(ends[n++], PAIR_END_SIZE, "\001$%s", other_skeleton + Max((int) olen - 2, 0));
	if (surname && (lookup || initial))
		snprintf(ends[n++], PAIR_END_SIZE, "\001!%c", other_skeleton[0]);
	if (surname && !lookup)
		snprintf(ends[n++], PAIR_END_SIZE, "\001^1%c", other_skeleton[0]);
	return n;
}
