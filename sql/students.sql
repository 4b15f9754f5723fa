--
-- students: a sync of students, every status, dry run and real run.
--
-- Each row is a student of test/fixtures/district.sql; the comments there
-- say what each one shows.
--

-- A dry run writes nothing; a change says would_update.  Match rows come
-- first, then exception rows, each by last name, first name, dcid.
SELECT section, status, record_type, dcid, first_name, last_name, field,
       old_username, new_username, dn, candidates
  FROM pssync.ldap_sync_students('students', dry_run => true);
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS nothing_written;

-- The real run, in a transaction to keep the fixture for the next tests.
BEGIN;
SELECT status, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_students('students');
SELECT dcid, first_name, last_name, student_web_id FROM students ORDER BY dcid;

-- Run again: what was updated is unchanged now; the exceptions remain.
SELECT status, count(*)
  FROM pssync.ldap_sync_students('students')
 GROUP BY status ORDER BY status;
ROLLBACK;

-- The exceptions a person has to look at, as a report.
SELECT status, dcid, first_name || ' ' || last_name AS name,
       coalesce(array_to_string(candidates, '; '), dn) AS look_at
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE section = 'exception';

-- Counts per status, as a summary.
SELECT section, status, count(*)
  FROM pssync.ldap_sync_students('students', dry_run => true)
 GROUP BY section, status ORDER BY section DESC, status;

-- scope 'one' searches only one level below the group's base DN: the
-- graduate under ou=Graduated is not found then.
BEGIN;
ALTER SERVER district_ldap OPTIONS (ADD scope 'one');
SELECT status, dcid, first_name, last_name, candidates
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE last_name = 'Hopper';
ALTER SERVER district_ldap OPTIONS (SET scope 'sub');
SELECT status, dcid, first_name, last_name, dn
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE last_name = 'Hopper';
ROLLBACK;

-- The filter is ANDed into every search: here it leaves out everyone
-- without an employeeNumber, so those become exceptions.
BEGIN;
ALTER SERVER district_ldap OPTIONS (ADD filter '(&(objectClass=inetOrgPerson)(employeeNumber=*))');
SELECT status, dcid, first_name, last_name, candidates
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE last_name IN ('Lee', 'Jones', 'Smith');
ROLLBACK;

-- Students are searched under student_base_dn only: Luis Staffonly has an
-- entry under ou=Staff, and no match here.  With the base DN at the root,
-- he is found.
SELECT status, dcid, dn FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE last_name = 'Staffonly';
BEGIN;
ALTER SERVER district_ldap OPTIONS (DROP student_base_dn);
SELECT status, dcid, dn FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE last_name = 'Staffonly';
ROLLBACK;
