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

-- Without the options, matching is by name only.
SELECT DISTINCT matched_by FROM pssync.ldap_sync_students('students', dry_run => true)
 ORDER BY 1;
