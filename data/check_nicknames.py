#!/usr/bin/env python3
"""Validate data/nicknames.csv and print its counts.

Usage: python3 data/check_nicknames.py [path/to/nicknames.csv]

Checks:
  - the file is UTF-8 (no BOM), in Unicode NFC, with LF line ends;
  - the header is exactly  name,variant,language,note ;
  - every row has 4 fields, and name, variant and language are not empty;
  - language is en, es or en-es;
  - name and variant are letters, with single spaces, apostrophes or hyphens
    between them (no digits, no other punctuation, no surrounding spaces);
  - no self pair: name and variant differ even when case and accents are
    ignored (no "José,Jose");
  - no duplicate pair, ignoring case, and no duplicate that differs only by
    accents ("Angela,Angie" and "Ángela,Angie"), since the matching code
    compares names without accents;
  - no pair appears in both directions (name,variant and variant,name);
  - rows are sorted by name, then variant, each compared first without
    accents and case, then as written.
Exits 1 and lists the problems when any check fails.
"""

import csv
import io
import sys
import unicodedata
from collections import Counter
from pathlib import Path

HEADER = ["name", "variant", "language", "note"]
LANGUAGES = {"en", "es", "en-es"}
SEPARATORS = {" ", "'", "-"}


def fold(s):
    """Case- and accent-insensitive form of s."""
    decomposed = unicodedata.normalize("NFD", s)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def sort_key(row):
    name, variant = row[0], row[1]
    return (fold(name), name, fold(variant), variant)


def valid_name(s):
    if not s or not s[0].isalpha() or not s[-1].isalpha():
        return False
    previous_separator = False
    for c in s:
        if c.isalpha():
            previous_separator = False
        elif c in SEPARATORS:
            if previous_separator:
                return False
            previous_separator = True
        else:
            return False
    return True


def main(argv):
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("nicknames.csv")
    raw = path.read_bytes()
    problems = []

    if raw.startswith(b"\xef\xbb\xbf"):
        problems.append("file starts with a UTF-8 byte order mark")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        print(f"{path}: not UTF-8: {e}")
        return 1
    if "\r" in text:
        problems.append("file has CR characters (use LF line ends)")
    if unicodedata.normalize("NFC", text) != text:
        problems.append("file is not in Unicode NFC")
    if not text.endswith("\n"):
        problems.append("file does not end with a newline")

    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or rows[0] != HEADER:
        problems.append(f"header is {rows[0] if rows else None}, expected {HEADER}")
        rows = rows[1:] if rows else []
    else:
        rows = rows[1:]

    good = []
    for lineno, row in enumerate(rows, start=2):
        where = f"line {lineno}"
        if len(row) != 4:
            problems.append(f"{where}: {len(row)} fields, expected 4: {row}")
            continue
        name, variant, language, note = row
        for label, value in (("name", name), ("variant", variant), ("language", language)):
            if value == "":
                problems.append(f"{where}: empty {label}")
        if note != note.strip():
            problems.append(f"{where}: note has surrounding spaces")
        if language and language not in LANGUAGES:
            problems.append(f"{where}: language {language!r} is not one of {sorted(LANGUAGES)}")
        for label, value in (("name", name), ("variant", variant)):
            if value and not valid_name(value):
                problems.append(f"{where}: {label} {value!r} is not letters with single space, apostrophe or hyphen")
        if name and variant and fold(name) == fold(variant):
            problems.append(f"{where}: self pair {name!r} / {variant!r}")
        good.append((lineno, row))

    exact = {}
    folded = {}
    for lineno, row in good:
        name, variant = row[0], row[1]
        key = (name.casefold(), variant.casefold())
        if key in exact:
            problems.append(f"line {lineno}: duplicate of line {exact[key]}: {name},{variant}")
        else:
            exact[key] = lineno
        fkey = (fold(name), fold(variant))
        if fkey in folded and key != folded[fkey][1]:
            problems.append(
                f"line {lineno}: {name},{variant} differs from line {folded[fkey][0]} only by accents")
        folded.setdefault(fkey, (lineno, key))
    for (fname, fvariant), (lineno, _) in folded.items():
        if (fvariant, fname) in folded and fname < fvariant:
            other = folded[(fvariant, fname)][0]
            problems.append(f"line {lineno} and line {other}: the same pair in both directions")

    for (l1, r1), (l2, r2) in zip(good, good[1:]):
        if sort_key(r1) > sort_key(r2):
            problems.append(f"line {l2}: not sorted ({r1[0]},{r1[1]} comes before {r2[0]},{r2[1]})")

    if problems:
        for p in problems:
            print(f"{path}: {p}")
        print(f"{len(problems)} problem(s)")
        return 1

    languages = Counter(row[2] for _, row in good)
    names = {row[0] for _, row in good}
    variants = {row[1] for _, row in good}
    print(f"{path}: OK")
    print(f"pairs: {len(good)}")
    for language in sorted(LANGUAGES):
        print(f"  {language}: {languages[language]}")
    print(f"distinct names: {len(names)}")
    print(f"distinct variants: {len(variants)}")
    print(f"distinct given names (name or variant): {len(names | variants)}")
    print(f"pairs with a note: {sum(1 for _, row in good if row[3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
