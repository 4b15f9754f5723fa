--
-- district: the district-wide scopes of PowerSchool's page.
--
-- students, teachers and staff take every record of the kind; the _blank
-- scopes take the records where any username checked for them is blank
-- (NULL, empty, or only white space), and then run all of that record's
-- checks.
--
SELECT 'students' AS scope, status, record_type, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_district('students', dry_run => true);

SELECT 'students_blank' AS scope, status, record_type, dcid, field,
       '"' || old_username || '"' AS old_username, new_username
  FROM pssync.ldap_sync_district('students_blank', dry_run => true);

SELECT 'teachers' AS scope, status, record_type, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_district('teachers', dry_run => true);

-- Ivy Admin has a blank teacherloginid and a loginid: both are checked.
-- Pam Plain's loginid is blank, but a teacher without admin access has
-- only the teacherloginid checked, so she is not in this scope.
SELECT 'teachers_blank' AS scope, status, record_type, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_district('teachers_blank', dry_run => true);

SELECT 'staff' AS scope, status, record_type, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_district('staff', dry_run => true);

SELECT 'staff_blank' AS scope, status, record_type, dcid, field,
       '"' || old_username || '"' AS old_username, new_username
  FROM pssync.ldap_sync_district('staff_blank', dry_run => true);

-- Every record is in exactly one of students, teachers, staff.
SELECT (SELECT count(DISTINCT dcid) FROM pssync.ldap_sync_district('students', dry_run => true))
         = (SELECT count(*) FROM students) AS all_students,
       (SELECT count(DISTINCT dcid) FROM pssync.ldap_sync_district('teachers', dry_run => true))
     + (SELECT count(DISTINCT dcid) FROM pssync.ldap_sync_district('staff', dry_run => true))
         = (SELECT count(*) FROM users) AS all_users;

-- A real run of a scope, and the _blank scope afterwards: only what is
-- still blank is left.
BEGIN;
SELECT status, count(*) FROM pssync.ldap_sync_district('teachers') GROUP BY status ORDER BY status;
SELECT status, dcid, field, old_username
  FROM pssync.ldap_sync_district('teachers_blank', dry_run => true);
ROLLBACK;

-- Scopes are exact names.
SELECT pssync.ldap_sync_district('everyone');
SELECT pssync.ldap_sync_district('Students');
SELECT pssync.ldap_sync_district(NULL);
SELECT pssync.ldap_sync_district('students', dry_run => NULL);
