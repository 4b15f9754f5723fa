--
-- id_matching: with student_id_attr / staff_id_attr, a record whose ID
-- finds exactly one entry is an exact match by ID, whatever its name;
-- only the others fall back to PowerSchool's name rules.  matched_by says
-- which.  The IDs are in students.student_number and users.teachernumber
-- (pssync.student_id_column, pssync.staff_id_column).
--
BEGIN;
ALTER SERVER district_ldap OPTIONS (ADD student_id_attr 'employeeNumber',
                                    ADD staff_id_attr 'employeeNumber');
-- A misspelled name does not matter when the ID finds the entry; an ID
-- that finds nothing, or no ID, falls back to the name rules; one of two
-- Chris Lees (ambiguous by name) is found by his ID.
DELETE FROM students WHERE dcid IN (1002, 1012);
INSERT INTO students (dcid, student_number, first_name, last_name) VALUES
  (6101, 900002, 'Jon', 'Smyth'),        -- John Smith's number
  (6102, 123456, 'Siobhan', 'O''Brien'), -- a number nobody has
  (6103, 900005, 'Chris', 'Lee');        -- clee1's number
UPDATE students SET student_number = NULL WHERE dcid = 1005;
SELECT status, dcid, first_name, last_name, new_username, matched_by, candidates
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid IN (1001, 1005, 1006, 1017, 6101, 6102, 6103)
 ORDER BY dcid;

-- Teachers and staff by teachernumber.
SELECT status, record_type, dcid, field, new_username, matched_by
  FROM pssync.ldap_sync_staff('users', dry_run => true)
 WHERE section = 'match'
 ORDER BY dcid, field;

-- The ID column may be another one.
ALTER TABLE users ADD COLUMN employee_id text;
UPDATE users SET employee_id = teachernumber WHERE dcid = 2008;
SET LOCAL pssync.staff_id_column = 'employee_id';
SELECT status, dcid, field, new_username, matched_by
  FROM pssync.ldap_sync_staff('users', dry_run => true) WHERE dcid IN (2001, 2008)
 ORDER BY dcid;
SET LOCAL pssync.staff_id_column = 'no_such_column';
SELECT regress.error_of($$SELECT pssync.ldap_sync_staff('users', dry_run => true)$$);
ROLLBACK;

-- An ID attribute has its own matching rule: labeledURI's is
-- caseExactMatch, so "caseexact-id-7" is not John Smith's "CaseExact-ID-7".
-- scan, which cannot know the rule, is certain only of the same bytes and
-- asks the directory about the rest: both strategies fall back to the
-- names for Jon Smyth, and find John Smith by his ID.
BEGIN;
ALTER SERVER district_ldap OPTIONS (ADD student_id_attr 'labeledURI');
ALTER TABLE students ADD COLUMN state_id text;
INSERT INTO students (dcid, first_name, last_name, state_id)
  VALUES (6104, 'Jon', 'Smyth', 'caseexact-id-7');
UPDATE students SET state_id = 'CaseExact-ID-7' WHERE dcid = 1001;
CREATE TEMP TABLE by_state_id (dcid) AS VALUES (1001), (6104);
SET LOCAL pssync.student_id_column = 'state_id';
SET LOCAL pssync.strategy = 'search';
CREATE TEMP TABLE id_search AS
SELECT status, dcid, new_username, matched_by
  FROM pssync.ldap_sync_students('by_state_id', dry_run => true);
SET LOCAL pssync.strategy = 'scan';
CREATE TEMP TABLE id_scan AS
SELECT status, dcid, new_username, matched_by
  FROM pssync.ldap_sync_students('by_state_id', dry_run => true);
SELECT * FROM id_scan ORDER BY dcid;
SELECT (SELECT count(*) FROM (TABLE id_search EXCEPT ALL TABLE id_scan) d) AS only_search,
       (SELECT count(*) FROM (TABLE id_scan EXCEPT ALL TABLE id_search) d) AS only_scan;
ROLLBACK;

-- Without the options, matching is by name only.
SELECT DISTINCT matched_by FROM pssync.ldap_sync_students('students', dry_run => true)
 ORDER BY 1;
