--
-- transactions: a sync writes in the caller's transaction.
--

-- A rollback undoes the sync.
BEGIN;
SELECT count(*) AS updated FROM pssync.ldap_sync_district('students') WHERE status = 'updated';
SELECT count(*) AS usernames FROM students WHERE student_web_id IS NOT NULL;
ROLLBACK;
SELECT count(*) AS usernames FROM students WHERE student_web_id IS NOT NULL;
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;

-- A rollback to a savepoint undoes only what came after it.
BEGIN;
SELECT count(*) AS updated FROM pssync.ldap_sync_district('teachers') WHERE status = 'updated';
SAVEPOINT before_staff;
SELECT count(*) AS updated FROM pssync.ldap_sync_district('staff') WHERE status = 'updated';
ROLLBACK TO before_staff;
SELECT dcid, loginid, teacherloginid FROM users WHERE dcid IN (2001, 2003) ORDER BY dcid;
ROLLBACK;

-- A sync sees what the transaction did before it.
BEGIN;
UPDATE students SET student_web_id = NULL WHERE dcid = 1017;
SELECT status, dcid, old_username, new_username
  FROM pssync.ldap_sync_students('students') WHERE dcid = 1017;
ROLLBACK;

-- A sync that fails changes nothing, and neither does an error after it.
BEGIN;
SELECT count(*) FROM pssync.ldap_sync_district('students') WHERE status = 'updated';
SELECT 1 / 0;
ROLLBACK;
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;

-- A committed sync stays; then the usernames are put back for the tests
-- that follow.
CREATE TEMP TABLE saved AS SELECT dcid, student_web_id FROM students;
SELECT count(*) AS updated FROM pssync.ldap_sync_district('students') WHERE status = 'updated';
SELECT count(*) AS usernames FROM students WHERE student_web_id IS NOT NULL;
SELECT status, count(*) FROM pssync.ldap_sync_district('students') GROUP BY 1 ORDER BY 1;
-- The second run matched the records through the links the first made.
SELECT matched_by, count(*) FROM pssync.ldap_sync_district('students', dry_run => true)
 WHERE section = 'match' GROUP BY 1 ORDER BY 1;
UPDATE students s SET student_web_id = saved.student_web_id FROM saved WHERE saved.dcid = s.dcid;
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;
DELETE FROM pssync.record_links;

-- A dry run needs no UPDATE privilege; a real run does, and fails before
-- anything is written.
CREATE ROLE regress_reader;
GRANT USAGE ON SCHEMA pssync, regress TO regress_reader;
GRANT USAGE ON FOREIGN SERVER district_ldap TO regress_reader;
GRANT SELECT ON students, users, schoolstaff TO regress_reader;
SET ROLE regress_reader;
SELECT count(*) FROM pssync.ldap_sync_students('students', dry_run => true);
SELECT regress.error_of($$SELECT pssync.ldap_sync_students('students')$$);
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('teachers')$$);
RESET ROLE;
-- UPDATE on the username column is enough.
GRANT UPDATE (student_web_id) ON students TO regress_reader;
SET ROLE regress_reader;
BEGIN;
SELECT count(*) FROM pssync.ldap_sync_students('students') WHERE status = 'updated';
ROLLBACK;
RESET ROLE;
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;
REVOKE ALL ON students, users, schoolstaff FROM regress_reader;
REVOKE ALL ON SCHEMA pssync, regress FROM regress_reader;
REVOKE ALL ON FOREIGN SERVER district_ldap FROM regress_reader;
DROP ROLE regress_reader;

-- A sync runs its own statements without JIT (a district's statements
-- are simple, and compiling them costs more than it saves), and the
-- caller's setting is as it was afterwards, after an error too.
SET jit = on;
BEGIN;
SELECT count(*) > 0 AS synced FROM pssync.ldap_sync_students('students', dry_run => true);
SHOW jit;
SET LOCAL pssync.max_changes = 0;
SELECT regress.error_of($$SELECT pssync.ldap_sync_students('students')$$);
SHOW jit;
COMMIT;
RESET jit;
