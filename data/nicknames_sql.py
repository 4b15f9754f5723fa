#!/usr/bin/env python3
"""Write the shipped nicknames of data/nicknames.csv into the install and
update scripts of pssync 2.1.

Usage: python3 data/nicknames_sql.py [--check]

The CSV is the source of truth.  The scripts pssync--2.1.sql and
pssync--2.0--2.1.sql carry its pairs as one INSERT into pssync.nicknames,
between the lines "-- BEGIN shipped nicknames" (and the comment line after
it) and "-- END shipped nicknames", so that installing needs neither this
script nor the CSV.  Run it after changing the CSV; with --check it only
says (exit status 1) whether the scripts are out of date.  The regression
test sql/nicknames.sql checks the table against the CSV too.

Only the Python 3 standard library is used.
"""

import csv
import io
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
CSV = TOP / "data" / "nicknames.csv"
SCRIPTS = [TOP / "pssync--2.1.sql", TOP / "pssync--2.0--2.1.sql"]
BEGIN = "-- BEGIN shipped nicknames"
END = "-- END shipped nicknames"


def literal(s):
    return "'" + s.replace("'", "''") + "'"


def block():
    rows = list(csv.DictReader(io.StringIO(CSV.read_text(encoding="utf-8"), newline="")))
    lines = ["INSERT INTO nicknames (name, variant, shipped) VALUES"]
    for i, row in enumerate(rows):
        end = "," if i < len(rows) - 1 else ""
        lines.append("  (%s, %s, true)%s" % (literal(row["name"]), literal(row["variant"]), end))
    lines.append("ON CONFLICT (name, variant) DO NOTHING;")
    return lines


def rewrite(text, data):
    lines = text.split("\n")
    try:
        start = lines.index(next(l for l in lines if l.startswith(BEGIN)))
        end = lines.index(END, start)
    except (StopIteration, ValueError):
        raise SystemExit("%s: no lines \"%s\" ... \"%s\"" % (text[:40], BEGIN, END))
    # the BEGIN line and the comment line after it stay
    head = lines[:start + 1]
    while start + 1 < len(lines) and lines[start + 1].startswith("--") and lines[start + 1] != END \
            and not lines[start + 1].startswith("INSERT"):
        start += 1
        head.append(lines[start])
    return "\n".join(head + data + lines[end:])


def main(argv):
    check = "--check" in argv[1:]
    data = block()
    stale = []
    for script in SCRIPTS:
        text = script.read_text(encoding="utf-8")
        new = rewrite(text, data)
        if new != text:
            stale.append(script.name)
            if not check:
                script.write_text(new, encoding="utf-8")
    if check and stale:
        print("out of date with data/nicknames.csv: %s (run python3 data/nicknames_sql.py)"
              % ", ".join(stale))
        return 1
    print("%d pairs; %s" % (len(data) - 2,
                             ("written into " + ", ".join(stale)) if stale and not check
                             else "the scripts are up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
