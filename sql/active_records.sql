--
-- active_records: PowerSchool keeps graduated and transferred-out
-- students.  pssync.students_table (and pssync.users_table) may name an
-- automatically updatable view of the table, such as the enrolled
-- students: district scopes then take only the view's rows, while a
-- username held by a row outside the view still makes a conflict (the
-- base table is where conflicts are looked for), and updates go through
-- the view, under its WITH CHECK OPTION.
--
-- In the fixture, Maria Brown (1011) transferred out (enroll_status 2)
-- holding mbrown, which Mary Brown's entry (1010) also has; Grace Hopper
-- (1018) graduated (3).
--
BEGIN;
CREATE VIEW active_students AS SELECT * FROM students WHERE enroll_status = 0;
SET LOCAL pssync.students_table = 'active_students';

-- The district scope takes the enrolled students only: 1011 and 1018 are
-- not in it.  Mary Brown's mbrown is still held, by 1011: a conflict.
SELECT count(*) AS rows, count(*) FILTER (WHERE dcid IN (1011, 1018)) AS not_enrolled
  FROM pssync.ldap_sync_district('students', dry_run => true);
SELECT status, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_district('students', dry_run => true) WHERE dcid = 1010;

-- A real run writes through the view; the conflict's statement looks in
-- the base table, where the holder is.
SELECT count(*) FILTER (WHERE status = 'updated') AS updated
  FROM pssync.ldap_sync_district('students');
SELECT powerschool_table FROM pssync.sync_run ORDER BY run_id DESC LIMIT 1;
SELECT dcid, resolve_sql FROM pssync.last_exceptions WHERE status = 'conflict';
ROLLBACK;

-- The links of records outside the view stay: Grace Hopper graduated,
-- and a district-wide run through the view does not take her record for
-- one that is gone.
BEGIN;
CREATE VIEW active_students AS SELECT * FROM students WHERE enroll_status = 0;
SELECT count(*) > 0 AS linked FROM pssync.ldap_sync_district('students')
 WHERE dcid = 1018 AND section = 'match';
SET LOCAL pssync.students_table = 'active_students';
SELECT count(*) > 0 AS ran FROM pssync.ldap_sync_district('students');
SELECT dcid, dn FROM pssync.links WHERE dcid = 1018;
ROLLBACK;

-- A view of a view of the table is followed down to the table.
BEGIN;
CREATE VIEW active_students AS SELECT * FROM students WHERE enroll_status = 0;
CREATE VIEW active_lincoln AS SELECT * FROM active_students WHERE schoolid = 100;
SET LOCAL pssync.students_table = 'active_lincoln';
SELECT status, dcid, new_username
  FROM pssync.ldap_sync_district('students', dry_run => true)
 WHERE dcid IN (1010, 1011, 1003) ORDER BY dcid;
ROLLBACK;

-- WITH CHECK OPTION is honoured: this district's view refuses usernames
-- that start with "js", and John Smith's entry has jsmith.  The sync fails
-- (SQLSTATE 44000) and nothing is written; a dry run cannot know.
BEGIN;
CREATE VIEW checked_students AS
  SELECT * FROM students
   WHERE enroll_status = 0 AND (student_web_id IS NULL OR student_web_id NOT LIKE 'js%')
  WITH CHECK OPTION;
SET LOCAL pssync.students_table = 'checked_students';
SELECT status, dcid, new_username
  FROM pssync.ldap_sync_district('students', dry_run => true) WHERE dcid = 1002;
SAVEPOINT before;
SELECT count(*) FROM pssync.ldap_sync_district('students');
ROLLBACK TO SAVEPOINT before;
SELECT regress.full_error_of($$SELECT pssync.ldap_sync_district('students')$$);
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS nothing_changed;
ROLLBACK;

-- A view that cannot be updated, or that computes a column the sync uses,
-- is refused.
BEGIN;
CREATE VIEW joined_students AS
  SELECT s.* FROM students s JOIN schools ON schools.school_number = s.schoolid;
SET LOCAL pssync.students_table = 'joined_students';
SELECT regress.full_error_of($$SELECT pssync.ldap_sync_district('students', dry_run => true)$$);
CREATE VIEW lower_students AS
  SELECT dcid, first_name, last_name, lower(student_web_id) AS student_web_id FROM students;
SET LOCAL pssync.students_table = 'lower_students';
SELECT regress.full_error_of($$SELECT pssync.ldap_sync_district('students', dry_run => true)$$);
ROLLBACK;

-- The same for teachers and staff: a view of the current users.
BEGIN;
CREATE VIEW current_users AS SELECT * FROM users WHERE dcid <> 2001;
SET LOCAL pssync.users_table = 'current_users';
SELECT count(*) FILTER (WHERE dcid = 2001) AS outside_the_view, count(*) > 0 AS rows
  FROM pssync.ldap_sync_district('teachers', dry_run => true);
ROLLBACK;
