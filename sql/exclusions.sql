--
-- exclusions: some records must never be changed by a sync (a
-- superintendent's account managed by hand, a shared test student).
-- pssync.ldap_exclude puts a record on pssync.exclusions, with a reason;
-- every sync then skips it: it is never read from the directory, never
-- written and never in the result rows, and each run counts the records
-- of its scope or selection it skipped (sync_run.excluded).  ldap_assign
-- refuses it.  pssync.ldap_include takes it off the list.
--
BEGIN;
SELECT coalesce(max(run_id), 0) AS before FROM pssync.sync_run \gset
-- John Smith (1002) is a shared test student; Chris Lee (1005) too.
SELECT pssync.ldap_exclude('student', 1002, 'shared test account');
SELECT pssync.ldap_exclude('student', 1005, 'test');
-- Excluding again replaces the reason, and says it was already excluded.
SELECT pssync.ldap_exclude('student', 1005, 'shared test account, class of 2030');
SELECT record_type, dcid, reason, excluded_by = current_user AS by_me
  FROM pssync.exclusions ORDER BY dcid;

-- Every scope and selection skips them.
SELECT count(*) FILTER (WHERE dcid IN (1002, 1005)) AS excluded_rows, count(*) AS rows
  FROM pssync.ldap_sync_district('students', dry_run => true);
SELECT count(*) FILTER (WHERE dcid IN (1002, 1005)) AS excluded_rows
  FROM pssync.ldap_sync_district('students_blank', dry_run => true);
CREATE TEMP TABLE tonight (dcid) AS VALUES (1002), (1003), (1005);
SELECT status, dcid FROM pssync.ldap_sync_students('tonight', dry_run => true);

-- A real run counts the excluded records of its scope or selection: both
-- in "students" and in "students_blank" (their usernames are blank), one
-- of the two in a selection of 1002 and 1003.
SELECT count(*) FROM pssync.ldap_sync_district('students');
SELECT count(*) FROM pssync.ldap_sync_district('students_blank');
CREATE TEMP TABLE two (dcid) AS VALUES (1002), (1003);
SELECT count(*) FROM pssync.ldap_sync_students('two');
SELECT function, scope, selection, records, excluded
  FROM pssync.sync_run WHERE function LIKE 'ldap_sync%' AND run_id > :before ORDER BY run_id;
-- and never writes them
SELECT dcid, student_web_id FROM students WHERE dcid IN (1002, 1005) ORDER BY dcid;

-- ldap_assign refuses an excluded record, saying why, and so does
-- ldap_suggest: the directory is never searched for it.
SELECT regress.error_of($$
  SELECT pssync.ldap_assign('student', 1002, 'uid=jsmith,ou=Students,dc=district,dc=org')$$);
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest('student', 1002)$$);

-- Teachers and staff: a user is one record, whichever type names it.
SELECT pssync.ldap_exclude('teacher', 2001, 'managed by hand');
SELECT count(*) FILTER (WHERE dcid = 2001) AS excluded_rows
  FROM pssync.ldap_sync_district('teachers', dry_run => true);
SELECT pssync.ldap_exclude('staff', 2001, 'the superintendent, managed by hand');
SELECT record_type, dcid, reason FROM pssync.exclusions WHERE dcid = 2001;
SELECT pssync.ldap_include('teacher', 2001), pssync.ldap_include('teacher', 2001);

-- ldap_include takes a record off the list: syncs take it again.
SELECT pssync.ldap_include('student', 1002);
SELECT status, dcid, new_username FROM pssync.ldap_sync_students('tonight', dry_run => true);

-- Every change to the list is in the history, with its reason.
SELECT function, selection, records, detail, server IS NULL AS no_server
  FROM pssync.sync_run WHERE function IN ('ldap_exclude', 'ldap_include') AND run_id > :before
 ORDER BY run_id;

-- Bad input.
SELECT regress.full_error_of($$SELECT pssync.ldap_exclude('student', 9999, 'gone')$$);
SELECT regress.full_error_of($$SELECT pssync.ldap_exclude('student', 1003, '  ')$$);
SELECT regress.full_error_of($$SELECT pssync.ldap_exclude('student', 1003, NULL)$$);
SELECT regress.full_error_of($$SELECT pssync.ldap_exclude('pupil', 1003, 'x')$$);
ROLLBACK;

-- An excluded record's exceptions leave last_exceptions.
BEGIN;
SELECT count(*) FROM pssync.ldap_sync_district('students');
SELECT dcid, status FROM pssync.last_exceptions WHERE dcid = 1005;
SELECT pssync.ldap_exclude('student', 1005, 'test account');
SELECT dcid, status FROM pssync.last_exceptions WHERE dcid = 1005;
ROLLBACK;

-- Managing the list takes the UPDATE privileges a real sync of the
-- record takes; reading it, USAGE on the schema.  Nobody writes it
-- directly.
BEGIN;
CREATE ROLE regress_reader;
CREATE ROLE regress_updater;
GRANT USAGE ON SCHEMA pssync, regress TO regress_reader, regress_updater;
GRANT SELECT ON students TO regress_reader, regress_updater;
GRANT UPDATE (student_web_id) ON students TO regress_updater;
SET ROLE regress_reader;
SELECT regress.full_error_of($$SELECT pssync.ldap_exclude('student', 1003, 'mine')$$);
SELECT count(*) FROM pssync.exclusions;
SELECT regress.full_error_of($$INSERT INTO pssync.exclusions VALUES ('student', 1003, 'x', 'x', now())$$);
SET ROLE regress_updater;
SELECT pssync.ldap_exclude('student', 1003, 'mine');
SELECT regress.full_error_of($$DELETE FROM pssync.exclusions$$);
SELECT pssync.ldap_include('student', 1003);
RESET ROLE;
-- A user is one record, and a sync may update either of its usernames:
-- UPDATE on loginid alone does not let a role include a teacher's record
-- by calling it staff.
SELECT pssync.ldap_exclude('teacher', 2001, 'the superintendent');
CREATE ROLE regress_staff_clerk;
GRANT USAGE ON SCHEMA pssync, regress TO regress_staff_clerk;
GRANT SELECT ON users, schoolstaff TO regress_staff_clerk;
GRANT UPDATE (loginid) ON users TO regress_staff_clerk;
GRANT USAGE ON FOREIGN SERVER district_ldap TO regress_staff_clerk;
SET ROLE regress_staff_clerk;
SELECT regress.error_of($$SELECT pssync.ldap_include('staff', 2001)$$);
SELECT regress.error_of($$SELECT pssync.ldap_unlink('staff', 2001)$$);
RESET ROLE;
SELECT count(*) AS still_excluded FROM pssync.exclusions WHERE dcid = 2001;
ROLLBACK;

-- ldap_sync_changes skips excluded records as every sync does, and counts
-- them.  Once included again, a record's rows differ from the previous
-- run's (it had none), so the next ldap_sync_changes returns them.
BEGIN;
SELECT count(*) > 0 AS first_run_in_full FROM pssync.ldap_sync_changes('students');
SELECT pssync.ldap_exclude('student', 1003, 'managed by hand');
SELECT status, dcid FROM pssync.ldap_sync_changes('students');
SELECT function, records, excluded FROM pssync.sync_run ORDER BY run_id DESC LIMIT 1;
SELECT pssync.ldap_include('student', 1003);
SELECT status, dcid FROM pssync.ldap_sync_changes('students');
SELECT status, dcid FROM pssync.ldap_sync_district('students', dry_run => true) WHERE dcid = 1003;
-- and then nothing more
SELECT count(*) FROM pssync.ldap_sync_changes('students');
ROLLBACK;
