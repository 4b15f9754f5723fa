--
-- history_rows: pssync.sync_log keeps the rows whose status is not
-- unchanged (pssync.history_rows = 'changes', the default): a nightly run
-- of a district need not write a row for each of its 100,000 unchanged
-- records.  pssync.sync_run counts every status all the same, and each
-- row keeps its number among all the run's rows.  'all' keeps every row.
--
LOAD 'pssync';
SHOW pssync.history_rows;
CREATE TEMP TABLE tonight AS SELECT dcid FROM students WHERE dcid BETWEEN 1001 AND 1021;

BEGIN;
CREATE TEMP TABLE returned AS
SELECT * FROM pssync.ldap_sync_students('tonight') WITH ORDINALITY;
SELECT status, count(*) AS returned,
       (SELECT count(*) FROM pssync.sync_log l
         WHERE l.run_id = (SELECT max(run_id) FROM pssync.sync_run) AND l.status = r.status) AS logged
  FROM returned r GROUP BY status ORDER BY status;
SELECT unchanged, updated, records FROM pssync.sync_run WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run);
-- the rows logged are those returned at the same place
SELECT count(*) AS logged,
       count(*) FILTER (WHERE (l.status, l.dcid, l.field) IS NOT DISTINCT FROM (r.status, r.dcid, r.field)) AS same
  FROM pssync.sync_log l JOIN returned r ON r.ordinality = l.row_number
 WHERE l.run_id = (SELECT max(run_id) FROM pssync.sync_run);

-- 'all': every row, unchanged ones too.
SET LOCAL pssync.history_rows = 'all';
SELECT count(*) AS returned FROM pssync.ldap_sync_students('tonight');
SELECT count(*) AS logged, count(*) FILTER (WHERE status = 'unchanged') AS unchanged_logged
  FROM pssync.sync_log WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run);
ROLLBACK;

-- The history is an audit trail: only a superuser (or a role granted SET
-- on the parameter) chooses what it keeps.
CREATE ROLE regress_history_rows;
SET ROLE regress_history_rows;
SET pssync.history_rows = 'all';
RESET ROLE;
DROP ROLE regress_history_rows;
SET pssync.history_rows = 'some';
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;
