--
-- changes_privileges: ldap_sync_changes reads the records as the caller,
-- as any sync does: its privileges and row security apply.  Only pssync's
-- own state is read as its owner.  A record the caller may not see is
-- neither returned nor taken for gone, and a change to it stays for a run
-- that may see it.
--
\getenv ldap_uri PSSYNC_LDAP_URI
\set ldap_admin '-x -H ' :ldap_uri ' -D cn=admin,dc=district,dc=org -w admin-secret'
\set ECHO none
\setenv LDAP_ADMIN :ldap_admin
\! ldapdelete $LDAP_ADMIN -r ou=Changes,dc=district,dc=org ou=ChangesAway,dc=district,dc=org >/dev/null 2>&1; ldapadd $LDAP_ADMIN -f test/fixtures/changes/people.ldif >/dev/null && echo "the people of ou=Changes are in the directory"
\set ECHO all

SELECT coalesce(max(run_id), 0) AS runs_before FROM pssync.sync_run \gset
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Changes,dc=district,dc=org');
INSERT INTO students (dcid, first_name, last_name, student_web_id) VALUES
  (8101, 'Alice', 'Chapple', 'capple'),
  (8102, 'Bob', 'Chberry', 'cberry'),
  (8103, 'Carl', 'Chcherry', 'ccherry'),
  (8104, 'Dana', 'Chdate', 'cdate'),
  (8105, 'Evan', 'Chelder', 'celder');

-- The first run, as a superuser: in full (no watermark).
SELECT status, dcid, new_username FROM pssync.ldap_sync_changes('students')
 WHERE dcid BETWEEN 8100 AND 8199 ORDER BY dcid;

-- A principal who may not see Alice, Bob and Carl.
CREATE ROLE regress_changes_principal;
GRANT USAGE ON SCHEMA pssync, regress TO regress_changes_principal;
GRANT USAGE ON FOREIGN SERVER district_ldap TO regress_changes_principal;
GRANT SELECT ON students, users, schoolstaff TO regress_changes_principal;
GRANT UPDATE (student_web_id) ON students TO regress_changes_principal;
ALTER TABLE students ENABLE ROW LEVEL SECURITY;
CREATE POLICY not_abc ON students TO regress_changes_principal
  USING (dcid NOT IN (8101, 8102, 8103));

-- Changes on both sides: Alice's and Dana's usernames blanked in
-- PowerSchool, Bob's user ID in the directory.
UPDATE students SET student_web_id = NULL WHERE dcid IN (8101, 8104);
\! printf 'dn: cn=Bob Chberry,ou=Changes,dc=district,dc=org\nchangetype: modify\nreplace: uid\nuid: cberry2\n' | ldapmodify $LDAP_ADMIN >/dev/null && echo "Bob's user ID changed"

-- The principal's run returns and writes only what it may see: Dana's.
SET ROLE regress_changes_principal;
SELECT status, dcid, old_username, new_username FROM pssync.ldap_sync_changes('students')
 ORDER BY dcid;
RESET ROLE;
-- It took Dana's record alone: the state of the records the superuser's
-- run took counts for the principal's run too (it is read as its owner).
SELECT role, records, updated, unchanged FROM pssync.sync_run
 WHERE function = 'ldap_sync_changes' AND role = 'regress_changes_principal';
-- Alice, Bob and Carl are not taken for gone: their links stay.
SELECT dcid, user_id FROM pssync.links WHERE dcid BETWEEN 8100 AND 8199 ORDER BY dcid;
SELECT dcid, student_web_id FROM students WHERE dcid BETWEEN 8100 AND 8199 ORDER BY dcid;

-- A run that may see them returns what the principal's left: Alice's
-- blank username, and Bob's new user ID.
SELECT status, dcid, old_username, new_username FROM pssync.ldap_sync_changes('students')
 ORDER BY dcid;
SELECT count(*) FROM pssync.ldap_sync_changes('students');

-- Clean up.
DELETE FROM pssync.sync_run WHERE run_id > :runs_before;
DROP POLICY not_abc ON students;
ALTER TABLE students DISABLE ROW LEVEL SECURITY;
DELETE FROM students WHERE dcid BETWEEN 8100 AND 8199;
DELETE FROM pssync.record_links WHERE dcid BETWEEN 8100 AND 8199;
DELETE FROM pssync.record_state;
DELETE FROM pssync.entry_state;
DELETE FROM pssync.sync_state;
REVOKE ALL ON students, users, schoolstaff FROM regress_changes_principal;
REVOKE USAGE ON FOREIGN SERVER district_ldap FROM regress_changes_principal;
REVOKE USAGE ON SCHEMA pssync, regress FROM regress_changes_principal;
DROP ROLE regress_changes_principal;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Students,dc=district,dc=org');
\! ldapdelete $LDAP_ADMIN -r ou=Changes,dc=district,dc=org ou=ChangesAway,dc=district,dc=org >/dev/null && echo "ou=Changes is gone"
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;
