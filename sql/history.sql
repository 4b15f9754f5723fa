--
-- history: every sync that is not a dry run records itself, in the
-- caller's transaction, in pssync.sync_run (one row per run) and
-- pssync.sync_log (its result rows); pssync.last_exceptions shows what a
-- person must still look at.
--
SELECT pssync.purge_history('0 seconds') >= 0 AS emptied;
SELECT count(*) AS runs FROM pssync.sync_run;

-- A dry run records nothing; neither does a rolled-back sync.
SELECT count(*) FROM pssync.ldap_sync_district('students', dry_run => true);
BEGIN;
SELECT count(*) FROM pssync.ldap_sync_district('students');
SELECT count(*) AS runs_inside FROM pssync.sync_run;
ROLLBACK;
SELECT count(*) AS runs FROM pssync.sync_run;

-- Committed syncs are recorded, with the counts per status.
CREATE TEMP TABLE saved_students AS SELECT dcid, student_web_id FROM students;
CREATE TEMP TABLE saved_users AS SELECT dcid, loginid, teacherloginid FROM users;
CREATE TEMP TABLE returned AS
SELECT * FROM pssync.ldap_sync_district('students') WITH ORDINALITY;
CREATE TEMP TABLE tonight (dcid) AS VALUES (2001), (2002), (2012), (2016);
SELECT count(*) FROM pssync.ldap_sync_staff('tonight', 'uid');
SELECT function, scope, selection, role, server, uid_attr,
       strategy IN ('search', 'scan') AS strategy_recorded, records,
       unchanged, updated, partial, no_match, ambiguous, no_uid, conflict, invalid_uid,
       finished_at >= started_at AS timed
  FROM pssync.sync_run ORDER BY run_id;

-- The log holds the rows the sync returned, each at its place among them,
-- but for the unchanged ones (pssync.history_rows, sql/history_rows.sql).
SELECT count(*) AS logged,
       count(*) FILTER (WHERE (l.section, l.status, l.record_type, l.dcid, l.first_name,
                               l.last_name, l.field, l.old_username, l.new_username,
                               l.dn, l.candidates, l.matched_by)
                              IS NOT DISTINCT FROM
                              (r.section, r.status, r.record_type, r.dcid, r.first_name,
                               r.last_name, r.field, r.old_username, r.new_username,
                               r.dn, r.candidates, r.matched_by)) AS same
  FROM pssync.sync_log l
  JOIN returned r ON r.ordinality = l.row_number
 WHERE l.run_id = (SELECT min(run_id) FROM pssync.sync_run);

SELECT row_number, section, status, dcid, field, matched_by, candidate_count
  FROM pssync.sync_log
 WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run)
 ORDER BY row_number;

-- The exceptions of each selection's latest run, each with a statement
-- that resolves it: for a partial or no_match row, its suggestions (2.1:
-- pssync.ldap_suggest, or the assignment of the best suggestion when it
-- is strong and alone; see sql/suggest_sync.sql); for an ambiguous one,
-- the lookup that lists every candidate; for a conflict, the holder of
-- the username in the table the run used.
SELECT function, coalesce(scope, selection) AS selection, status, dcid, resolve_sql
  FROM pssync.last_exceptions
 ORDER BY function, dcid, field;

-- Run as shown, the statement of an ambiguous row lists every candidate
-- the sync found, and a partial row's the candidates that could be the
-- record (Katherine Jones: Kate, not Mark), with their names and user
-- IDs; and a conflict's finds the record that holds the username.
CREATE FUNCTION regress.resolve_rows(statement text)
RETURNS TABLE (dn text, first_name text, last_name text, user_id text)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE 'SELECT dn, first_name, last_name, user_id FROM (' || rtrim(statement, ';') || ') s';
END $$;
SELECT e.status, e.dcid, e.candidate_count,
       (SELECT count(*) FROM regress.resolve_rows(e.resolve_sql)) AS listed,
       (SELECT array_agg(dn ORDER BY dn) FROM regress.resolve_rows(e.resolve_sql)) @> e.candidates
         AS lists_every_candidate,
       (SELECT bool_and(first_name IS NOT NULL AND last_name IS NOT NULL)
          FROM regress.resolve_rows(e.resolve_sql)) AS with_names
  FROM pssync.last_exceptions e
 WHERE e.status IN ('partial', 'ambiguous') AND e.candidate_count > 1
 ORDER BY e.dcid;
SELECT * FROM regress.resolve_rows(
  (SELECT resolve_sql FROM pssync.last_exceptions WHERE status = 'partial' AND dcid = 1006))
 ORDER BY dn;
DO $$
DECLARE
  holder record;
BEGIN
  EXECUTE (SELECT resolve_sql FROM pssync.last_exceptions WHERE status = 'conflict' AND dcid = 1010)
     INTO holder;
  RAISE NOTICE 'mbrown is held by %', holder;
END $$;
DROP FUNCTION regress.resolve_rows(text);
-- With more than one pssync server, each statement first chooses the
-- server of the run.
CREATE SERVER other_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri 'ldap://127.0.0.1:1', base_dn 'dc=other,dc=org');
SELECT resolve_sql FROM pssync.last_exceptions WHERE dcid = 1005;
DROP SERVER other_ldap;

-- A later run of the same selection replaces its exceptions.
UPDATE students SET student_web_id = 'mbrown.old' WHERE dcid = 1011;
SELECT count(*) FROM pssync.ldap_sync_district('students');
SELECT status, dcid FROM pssync.last_exceptions
 WHERE function = 'ldap_sync_district' AND dcid IN (1010, 1011) ORDER BY dcid;

-- pssync.history = off records nothing.
SET pssync.history = off;
SELECT count(*) FROM pssync.ldap_sync_district('teachers');
RESET pssync.history;
SELECT count(*) AS runs FROM pssync.sync_run;

-- The history is readable by the roles that can use schema pssync (the
-- roles that can run syncs), each reading the runs of the roles it is a
-- member of (so that it shows nobody records that row-level security hides
-- from them), and written only by pssync.
CREATE ROLE regress_outsider;
CREATE ROLE regress_operator;
GRANT USAGE ON SCHEMA pssync TO regress_operator;
GRANT USAGE ON FOREIGN SERVER district_ldap TO regress_operator;
GRANT SELECT ON students, users, schoolstaff TO regress_operator;
GRANT UPDATE (student_web_id) ON students TO regress_operator;
SET ROLE regress_outsider;
SELECT count(*) FROM pssync.sync_run;
SELECT count(*) FROM pssync.last_exceptions;
RESET ROLE;
SET ROLE regress_operator;
SELECT count(*) AS runs_of_others FROM pssync.sync_run;
SELECT count(*) AS rows_of_others FROM pssync.sync_log;
SELECT count(*) AS exceptions_of_others FROM pssync.last_exceptions;
INSERT INTO pssync.sync_run (started_at, finished_at, role, function, server, uid_attr, records,
                             unchanged, updated, partial, no_match, ambiguous, no_uid, conflict, invalid_uid)
VALUES (now(), now(), 'nobody', 'forged', 'x', 'uid', 0, 0, 0, 0, 0, 0, 0, 0, 0);
DELETE FROM pssync.sync_log;
SELECT pssync.purge_history('0 seconds');
-- its syncs are recorded all the same, under its name
CREATE TEMP TABLE one_student (dcid) AS VALUES (1002);
SELECT status, dcid FROM pssync.ldap_sync_students('one_student');
SELECT function, selection, role, updated FROM pssync.sync_run;
RESET ROLE;
-- a member of regress_operator reads its runs too; a superuser reads all
GRANT regress_operator TO regress_outsider;
GRANT USAGE ON SCHEMA pssync TO regress_outsider;
SET ROLE regress_outsider;
SELECT function, selection, role FROM pssync.sync_run;
RESET ROLE;
REVOKE USAGE ON SCHEMA pssync FROM regress_outsider;
SELECT function, selection, role, updated FROM pssync.sync_run ORDER BY run_id;

-- purge_history deletes the runs older than an interval, with their rows.
SELECT pssync.purge_history('1 hour') AS purged;
SELECT pssync.purge_history('0 seconds') AS purged;
SELECT (SELECT count(*) FROM pssync.sync_run) AS runs, (SELECT count(*) FROM pssync.sync_log) AS rows;

-- Put the usernames back for the tests that follow.
UPDATE students s SET student_web_id = v.student_web_id FROM saved_students v WHERE v.dcid = s.dcid;
UPDATE users u SET loginid = v.loginid, teacherloginid = v.teacherloginid FROM saved_users v WHERE v.dcid = u.dcid;
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;
-- ... and forget the links its real runs made (pssync 2.0), which the
-- tests that follow do not expect.
DELETE FROM pssync.record_links;
DROP TABLE one_student;
REVOKE ALL ON students, users, schoolstaff FROM regress_operator;
REVOKE ALL ON SCHEMA pssync FROM regress_operator;
REVOKE ALL ON FOREIGN SERVER district_ldap FROM regress_operator;
DROP ROLE regress_outsider;
DROP ROLE regress_operator;
