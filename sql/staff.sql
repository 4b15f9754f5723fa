--
-- staff: teachers and staff, PowerSchool's users.
--
-- A user is a teacher when it has a current (status 1) schoolstaff row
-- with staffstatus 1; every other user is staff.  A teacher's Teacher
-- Username (teacherloginid) is checked, and its Admin Username (loginid)
-- too when it has access to the admin portion (psaccess 1), each in a row
-- of its own.  Staff have their Admin Username checked.
--
SELECT u.dcid, u.first_name, u.last_name, u.psaccess,
       string_agg(ss.staffstatus || '/' || ss.status, ', ' ORDER BY ss.dcid) AS "staffstatus/status"
  FROM users u LEFT JOIN schoolstaff ss ON ss.users_dcid = u.dcid
 GROUP BY u.dcid ORDER BY u.dcid;

SELECT section, status, record_type, dcid, first_name, last_name, field,
       old_username, new_username, dn, candidates
  FROM pssync.ldap_sync_staff('users', dry_run => true);

BEGIN;
SELECT status, record_type, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_staff('users');
SELECT dcid, first_name, last_name, loginid, teacherloginid FROM users ORDER BY dcid;
ROLLBACK;

-- Teachers and staff are searched under staff_base_dn: the teacher Chris
-- Lee has one entry there, while two students of that name are ambiguous.
SELECT status, record_type, dcid, new_username, candidates
  FROM pssync.ldap_sync_staff('users', dry_run => true) WHERE last_name = 'Lee'
UNION ALL
SELECT status, record_type, dcid, new_username, candidates
  FROM pssync.ldap_sync_students('students', dry_run => true) WHERE last_name = 'Lee';

-- Admin access decides whether a teacher's loginid is checked.
BEGIN;
UPDATE users SET psaccess = 0 WHERE dcid = 2002;
UPDATE users SET psaccess = 1 WHERE dcid = 2001;
SELECT status, record_type, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_staff('users', dry_run => true)
 WHERE dcid IN (2001, 2002);
ROLLBACK;

-- A teacher who stops teaching (the schoolstaff row no longer current)
-- becomes staff; a staff member who starts teaching becomes a teacher.
BEGIN;
UPDATE schoolstaff SET status = 2 WHERE users_dcid = 2001;
UPDATE schoolstaff SET staffstatus = 1 WHERE users_dcid = 2003;
SELECT status, record_type, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_staff('users', dry_run => true)
 WHERE dcid IN (2001, 2003);
ROLLBACK;
