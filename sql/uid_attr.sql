--
-- uid_attr: which LDAP attribute holds the username.
--
-- NULL means the server's student_uid_attr or staff_uid_attr (uid by
-- default); any other attribute can be given for one call, as PowerSchool's
-- page lets a person change it before running.
--
SELECT pssync.ldap_user_id_attribute('student');

-- employeeNumber as the username, for one call.
SELECT status, dcid, first_name, last_name, field, old_username, new_username
  FROM pssync.ldap_sync_students('students', uid_attr => 'employeeNumber', dry_run => true)
 WHERE section = 'match' OR status IN ('no_uid', 'invalid_uid');

-- cn holds white space: every value is invalid_uid.
SELECT status, count(*)
  FROM pssync.ldap_sync_students('students', 'cn', true)
 GROUP BY status ORDER BY status;

-- An attribute the entries lack gives no_uid for every exact match.
SELECT status, count(*)
  FROM pssync.ldap_sync_students('students', 'mail', true)
 GROUP BY status ORDER BY status;

-- The attribute name is case-insensitive, as in LDAP.
SELECT status, count(*)
  FROM pssync.ldap_sync_students('students', 'UID', true)
 GROUP BY status ORDER BY status;

-- By OID or by another of its names, the same attribute: the directory
-- answers with its own name for it, resolved through its schema.
SELECT status, count(*)
  FROM pssync.ldap_sync_students('students', '0.9.2342.19200300.100.1.1', true)
 GROUP BY status ORDER BY status;
SELECT status, count(*)
  FROM pssync.ldap_sync_students('students', 'userid', true)
 GROUP BY status ORDER BY status;
SELECT count(*) AS same_rows FROM (
  SELECT status, dcid, new_username FROM pssync.ldap_sync_students('students', 'userid', true)
  INTERSECT
  SELECT status, dcid, new_username FROM pssync.ldap_sync_students('students', 'uid', true)) same;
BEGIN;
ALTER SERVER district_ldap OPTIONS (ADD first_name_attr '2.5.4.42', ADD last_name_attr 'surname');
SELECT status, count(*) FROM pssync.ldap_sync_students('students', dry_run => true)
 GROUP BY status ORDER BY status;
ROLLBACK;

-- A server option per group.
BEGIN;
ALTER SERVER district_ldap OPTIONS (ADD staff_uid_attr 'employeeNumber');
SELECT pssync.ldap_user_id_attribute('student') AS student,
       pssync.ldap_user_id_attribute('staff') AS staff;
SELECT status, record_type, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_staff('users', dry_run => true)
 WHERE section = 'match';
ROLLBACK;

-- An attribute name that is not an LDAP attribute description is an error
-- before anything is searched, even with the directory down.
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri 'ldap://127.0.0.1:1');
SELECT pssync.ldap_sync_students('students', 'uid)(uid=*');
ROLLBACK;
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri 'ldap://127.0.0.1:1');
SELECT regress.error_of($$SELECT pssync.ldap_sync_students('students', 'user name')$$);
SELECT regress.error_of($$SELECT pssync.ldap_sync_staff('users', '')$$);
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students', '1uid')$$);
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students', 'uid;')$$);
-- while a valid one gets as far as the directory
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students', 'uid;x-legacy')$$);
ROLLBACK;
