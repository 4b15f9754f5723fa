--
-- nicknames: pssync.nicknames(name, variant), the given names and their
-- nicknames that the reason "nickname" of ldap_suggest uses.  The
-- extension ships data/nicknames.csv (English and Spanish pairs); a
-- district adds its own rows, which pg_dump keeps and an update leaves.
--
SELECT count(*) AS shipped_pairs, count(*) >= 500 AS at_least_500
  FROM pssync.nicknames WHERE shipped;

-- The shipped rows are data/nicknames.csv, exactly (its source and
-- licence: data/README.md).
CREATE TEMP TABLE csv (name text, variant text, language text, note text);
\copy csv FROM 'data/nicknames.csv' WITH (FORMAT csv, HEADER true)
SELECT language, count(*) FROM csv GROUP BY language ORDER BY language;
SELECT (SELECT count(*) FROM (SELECT name, variant FROM csv
                              EXCEPT SELECT name, variant FROM pssync.nicknames WHERE shipped) d) AS only_in_csv,
       (SELECT count(*) FROM (SELECT name, variant FROM pssync.nicknames WHERE shipped
                              EXCEPT SELECT name, variant FROM csv) d) AS only_in_table;
SELECT name, variant FROM pssync.nicknames
 WHERE name IN ('Robert', 'Francisco', 'Guadalupe', 'José') ORDER BY name, variant;

-- Looked up either way round (Bob is Robert's, Robert is Bobby's), with
-- case and accents ignored, and through a common name, at a lower score:
-- Robbie and Bob are both Robert's.
SET pssync.server = 'suggest_ldap';
SET pssync.students_table = 'suggest.students';
SET pssync.users_table = 'suggest.users';
SET pssync.schoolstaff_table = 'suggest.schoolstaff';
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5004);  -- Bob Smith
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('teacher', 6001);  -- Robert Tables
BEGIN;
UPDATE suggest.students SET first_name = 'ROBBIE', last_name = 'Jones' WHERE dcid = 5027;
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5027);
ROLLBACK;

-- A district's own nickname: Bobbert Jones finds nobody ...
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5028);
-- ... until the district says Bobbert is Bob.  Its rows are not shipped.
INSERT INTO pssync.nicknames (name, variant) VALUES ('Bobbert', 'Bob');
SELECT name, variant, shipped FROM pssync.nicknames WHERE name = 'Bobbert';
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5028);
-- pg_dump keeps the district's rows, not the shipped ones (which come
-- with the extension): test/scripts/nicknames_dump.sh restores a dump.
SELECT c.relname, x.condition
  FROM pg_extension e,
       unnest(e.extconfig, e.extcondition) AS x(oid, condition)
  JOIN pg_class c ON c.oid = x.oid
 WHERE e.extname = 'pssync' AND c.relname = 'nicknames';
-- An update to 2.1 leaves them (sql/upgrade.sql); a later version that
-- ships a new list replaces the shipped rows only.
BEGIN;
DELETE FROM pssync.nicknames WHERE shipped;
INSERT INTO pssync.nicknames (name, variant, shipped)
SELECT name, variant, true FROM csv ON CONFLICT (name, variant) DO NOTHING;
SELECT count(*) FILTER (WHERE shipped) AS shipped, count(*) FILTER (WHERE NOT shipped) AS added
  FROM pssync.nicknames;
ROLLBACK;

-- Everyone may read the table; only its owner (or whom it grants) writes.
CREATE ROLE regress_nickname_reader;
GRANT USAGE ON SCHEMA pssync, regress TO regress_nickname_reader;
SET ROLE regress_nickname_reader;
SELECT count(*) > 500 AS readable FROM pssync.nicknames;
SELECT regress.error_of($$INSERT INTO pssync.nicknames (name, variant) VALUES ('Robert', 'Bobbo')$$);
RESET ROLE;
REVOKE ALL ON SCHEMA pssync, regress FROM regress_nickname_reader;
DROP ROLE regress_nickname_reader;

-- A very large table is read in bounded time: a name keeps at most 64
-- variants (and 64 names it is a variant of), 8 spellings.  With 20,000
-- rows more (Alexander with 10,000 variants, and 10,000 names of Xander),
-- Bob is still Robert's nickname.
BEGIN;
INSERT INTO pssync.nicknames (name, variant)
SELECT 'Alexander', 'Alexander' || n FROM generate_series(1, 10000) n
UNION ALL
SELECT 'Xander' || n, 'Xander' FROM generate_series(1, 10000) n;
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5004);
ROLLBACK;

-- A name with many variants keeps the names it is a nickname of first:
-- with 100 more variants of Bob, all before Robert in the alphabet, Bob
-- Smith still finds Robert Smith.
BEGIN;
INSERT INTO pssync.nicknames (name, variant)
SELECT 'Bob', 'Aabob' || n FROM generate_series(1, 100) n;
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5004);
ROLLBACK;

DELETE FROM pssync.nicknames WHERE NOT shipped;
