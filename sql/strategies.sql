--
-- strategies: "search" (a search per record) and "scan" (the directory read
-- once, matched in memory) return the same rows.
--
-- The district is generated (test/fixtures/awkward_district.sql, seed
-- 0.42): 2,000 people under ou=Awkward, and 2,000 students, most of them
-- people of the directory spelled another way: case, white space,
-- combining and precomposed accents, look-alike letters (Kelvin sign,
-- dotless i, long s, fullwidth, mathematical and Cyrillic letters,
-- ligatures), filter syntax, quotes and control characters.  The test
-- script loaded the same district into the directory.
--
-- Where a name is only as equal as the directory says, both strategies ask
-- the directory, and directories differ: slapd 2.6 maps a vertical tab to
-- a space as RFC 4518 says (so "<VT>王" is "王": student 100002 matches
-- the entry student 101888 matches, a conflict for both), slapd 2.5 does
-- not (100002 no_match, and 101888 an update).  expected/strategies_1.out is slapd 2.6's.
--
\set ECHO none
\set seed 0.42
\set people 2000
\i test/fixtures/awkward_district.sql
\set ECHO all

SELECT count(*) AS students,
       count(*) FILTER (WHERE first_name ~ '[^ -~]' OR last_name ~ '[^ -~]') AS not_plain_ascii
  FROM awkward.records;

BEGIN;
INSERT INTO students (dcid, first_name, last_name, student_web_id)
SELECT dcid, first_name, last_name, student_web_id FROM awkward.records;
CREATE TEMP TABLE awkward_students AS SELECT dcid FROM awkward.records;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Awkward,dc=district,dc=org');

SET pssync.strategy = 'search';
CREATE TEMP TABLE by_search AS
SELECT * FROM pssync.ldap_sync_students('awkward_students', dry_run => true) WITH ORDINALITY;
SET pssync.strategy = 'scan';
CREATE TEMP TABLE by_scan AS
SELECT * FROM pssync.ldap_sync_students('awkward_students', dry_run => true) WITH ORDINALITY;

-- The same rows, in the same order.
SELECT (SELECT count(*) FROM by_search) AS search_rows,
       (SELECT count(*) FROM by_scan) AS scan_rows,
       (SELECT count(*) FROM (TABLE by_search EXCEPT ALL TABLE by_scan) d) AS only_search,
       (SELECT count(*) FROM (TABLE by_scan EXCEPT ALL TABLE by_search) d) AS only_scan;

-- Every status occurs.
SELECT section, status, count(*) FROM by_scan GROUP BY section, status
 ORDER BY section DESC, status;

-- Some of the decisions the directory made, which the scan had to agree
-- with: a record matches its entry across case, width and look-alikes as
-- the directory's matching rule says, and not otherwise.
SELECT s.status, to_json(r.first_name) AS record_first, to_json(r.last_name) AS record_last,
       to_json(e.first_name) AS entry_first, to_json(e.last_name) AS entry_last
  FROM by_scan s
  JOIN awkward.records r USING (dcid)
  JOIN awkward.entries e ON s.dn = 'employeeNumber=' || e.n || ',ou=Awkward,dc=district,dc=org'
 WHERE s.section = 'match'
   AND (r.first_name <> e.first_name OR r.last_name <> e.last_name)
 ORDER BY s.dcid LIMIT 12;

-- A real run writes the same under either strategy.
SET pssync.strategy = 'scan';
SELECT count(*) AS updated FROM pssync.ldap_sync_students('awkward_students') WHERE status = 'updated';
SELECT md5(string_agg(dcid || ':' || coalesce(student_web_id, ''), ',' ORDER BY dcid)) AS usernames
  FROM students WHERE dcid > 100000;
ROLLBACK;

BEGIN;
INSERT INTO students (dcid, first_name, last_name, student_web_id)
SELECT dcid, first_name, last_name, student_web_id FROM awkward.records;
CREATE TEMP TABLE awkward_students AS SELECT dcid FROM awkward.records;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Awkward,dc=district,dc=org');
SET pssync.strategy = 'search';
SELECT count(*) AS updated FROM pssync.ldap_sync_students('awkward_students') WHERE status = 'updated';
SELECT md5(string_agg(dcid || ':' || coalesce(student_web_id, ''), ',' ORDER BY dcid)) AS usernames
  FROM students WHERE dcid > 100000;
ROLLBACK;
