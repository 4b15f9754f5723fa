--
-- lookup: the manual lookup of PowerSchool's page, in SQL.
-- pssync.ldap_lookup() shows the entries a person looks through;
-- pssync.ldap_assign() stores one entry's user ID for one record, with the
-- rules and checks of a sync, recorded in the history.
--

-- The Joneses, for Katherine Jones (partial: there is no Katherine).
SELECT * FROM pssync.ldap_lookup('Jones') ORDER BY dn;
SELECT * FROM pssync.ldap_lookup('Jones', 'Katherine');
SELECT * FROM pssync.ldap_lookup('  jones ', 'KATE');
-- teachers and staff are looked up under staff_base_dn
SELECT * FROM pssync.ldap_lookup('Lee', 'Chris', 'teacher');
SELECT * FROM pssync.ldap_lookup('Lee', 'Chris', 'student') ORDER BY dn;
-- entries without the attribute, or with several values of it
SELECT * FROM pssync.ldap_lookup('Nouid');
SELECT * FROM pssync.ldap_lookup('Twouid');
-- escaped and paged like every search
SELECT count(*) FROM pssync.ldap_lookup('*');
SELECT * FROM pssync.ldap_lookup('*', 'John');
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Crowd,dc=district,dc=org');
SELECT count(*), min(dn), max(dn) FROM pssync.ldap_lookup('Smith');
ROLLBACK;
SELECT * FROM pssync.ldap_lookup('');
SELECT * FROM pssync.ldap_lookup(NULL);
SELECT * FROM pssync.ldap_lookup('Jones', NULL, 'parent');

-- Katherine Jones is Kate Jones: assign her entry, dry run first.
SELECT status, dcid, field, old_username, new_username, dn, matched_by
  FROM pssync.ldap_assign('student', 1006, 'uid=kjones,ou=Students,dc=district,dc=org', dry_run => true);
BEGIN;
SELECT status, dcid, field, old_username, new_username, dn
  FROM pssync.ldap_assign('student', 1006, 'uid=kjones,ou=Students,dc=district,dc=org');
SELECT dcid, student_web_id FROM students WHERE dcid = 1006;
SELECT function, selection, records, updated FROM pssync.sync_run ORDER BY run_id DESC LIMIT 1;
-- assigning again changes nothing
SELECT status, new_username
  FROM pssync.ldap_assign('student', 1006, 'uid=kjones,ou=Students,dc=district,dc=org');
ROLLBACK;

-- The checks of a sync apply: one person's username is not given to
-- another, and a value that cannot be a username is not stored.
BEGIN;
SELECT status, dcid, field, new_username
  FROM pssync.ldap_assign('student', 1010, 'uid=mbrown,ou=Students,dc=district,dc=org');
SELECT status, dcid, field, new_username
  FROM pssync.ldap_assign('student', 1019, 'cn=Tom Spacey,ou=Students,dc=district,dc=org');
SELECT status, dcid, field, new_username
  FROM pssync.ldap_assign('student', 1008, 'cn=Pat Nouid,ou=Students,dc=district,dc=org');
ROLLBACK;
-- a teacher with admin access gets both usernames
BEGIN;
SELECT status, record_type, dcid, field, old_username, new_username
  FROM pssync.ldap_assign('teacher', 2011, 'uid=iadmin,ou=Staff,dc=district,dc=org');
ROLLBACK;
-- another user ID attribute
SELECT status, dcid, new_username
  FROM pssync.ldap_assign('student', 1006, 'uid=kjones,ou=Students,dc=district,dc=org', 'cn', true);

-- Only an entry of the record's group that passes the server's filter,
-- and only an existing record.
SELECT pssync.ldap_assign('student', 1006, 'uid=ateacher,ou=Staff,dc=district,dc=org');
SELECT pssync.ldap_assign('student', 1006, 'uid=nobody,ou=Students,dc=district,dc=org');
SELECT pssync.ldap_assign('student', 1006, 'not a dn');
SELECT pssync.ldap_assign('student', 999999, 'uid=kjones,ou=Students,dc=district,dc=org');
SELECT pssync.ldap_assign('staff', 1006, 'uid=kjones,ou=Students,dc=district,dc=org');
SELECT pssync.ldap_assign('parent', 1006, 'uid=kjones,ou=Students,dc=district,dc=org');
SELECT pssync.ldap_assign('student', NULL, 'uid=kjones,ou=Students,dc=district,dc=org');
BEGIN;
ALTER SERVER district_ldap OPTIONS (ADD filter '(employeeNumber=*)');
SELECT pssync.ldap_assign('student', 1006, 'uid=kjones,ou=Students,dc=district,dc=org');
ROLLBACK;

-- With the server's scope "one", only the entries directly below the base
-- DN are its entries: Grace Hopper's, in ou=Graduated below it, is not.
BEGIN;
ALTER SERVER district_ldap OPTIONS (ADD scope 'one');
SELECT count(*) FROM pssync.ldap_lookup('Hopper');
SELECT regress.full_error_of($$SELECT pssync.ldap_assign('student', 1018, 'uid=ghopper,ou=Graduated,ou=Students,dc=district,dc=org', dry_run => true)$$);
SELECT status, dcid, new_username
  FROM pssync.ldap_assign('student', 1006, 'uid=kjones,ou=Students,dc=district,dc=org', dry_run => true);
ALTER SERVER district_ldap OPTIONS (SET scope 'sub');
SELECT status, dcid, new_username
  FROM pssync.ldap_assign('student', 1018, 'uid=ghopper,ou=Graduated,ou=Students,dc=district,dc=org', dry_run => true);
ROLLBACK;

-- An assignment resolves the exception in pssync.last_exceptions.
BEGIN;
SELECT count(*) FROM pssync.ldap_sync_district('students');
SELECT status, dcid FROM pssync.last_exceptions WHERE dcid IN (1006, 1011) ORDER BY dcid;
SELECT status FROM pssync.ldap_assign('student', 1006, 'uid=kjones,ou=Students,dc=district,dc=org');
SELECT status, dcid FROM pssync.last_exceptions WHERE dcid IN (1006, 1011) ORDER BY dcid;
ROLLBACK;
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;
