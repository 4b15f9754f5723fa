/* pssync--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pssync UPDATE TO '1.1'" to load this file. \quit

ALTER TYPE sync_result ADD ATTRIBUTE matched_by text;

-- 1.1: how an exact match was found: 'id' (the server's student_id_attr or
-- staff_id_attr) or 'name' (PowerSchool's name rules).

-- The entries a person looks through by hand: pssync.ldap_lookup().
CREATE TYPE directory_entry AS (
  dn text,
  first_name text,
  last_name text,
  user_id text
);

-- Run history: every sync that is not a dry run records itself, in the
-- caller's transaction.  The extension writes it as the tables' owner;
-- the roles that can use schema pssync (the roles that can run syncs)
-- may read the runs of the roles they are members of.
CREATE TABLE sync_run (
  run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  role name NOT NULL,
  function text NOT NULL,       -- ldap_sync_students | ldap_sync_staff | ldap_sync_district | ldap_assign
  scope text,                   -- ldap_sync_district's scope
  selection text,               -- the selection, or for ldap_assign the record
  server name NOT NULL,
  uid_attr text NOT NULL,
  strategy text,                -- search | scan (NULL for ldap_assign)
  records integer NOT NULL,
  unchanged integer NOT NULL,
  updated integer NOT NULL,
  partial integer NOT NULL,
  no_match integer NOT NULL,
  ambiguous integer NOT NULL,
  no_uid integer NOT NULL,
  conflict integer NOT NULL,
  invalid_uid integer NOT NULL
);
CREATE INDEX sync_run_started_at ON sync_run (started_at);

CREATE TABLE sync_log (
  run_id bigint NOT NULL REFERENCES sync_run ON DELETE CASCADE,
  row_number integer NOT NULL,
  section text NOT NULL,
  status text NOT NULL,
  record_type text NOT NULL,
  dcid bigint NOT NULL,
  first_name text,
  last_name text,
  field text,
  old_username text,
  new_username text,
  dn text,
  candidates text[],
  matched_by text,
  candidate_count integer,      -- candidates found (the row lists at most 100)
  PRIMARY KEY (run_id, row_number)
);
CREATE INDEX sync_log_dcid ON sync_log (dcid);

SELECT pg_catalog.pg_extension_config_dump('sync_run', '');
SELECT pg_catalog.pg_extension_config_dump('sync_log', '');
SELECT pg_catalog.pg_extension_config_dump(
  pg_catalog.pg_get_serial_sequence('@extschema@.sync_run', 'run_id')::regclass, '');

REVOKE ALL ON sync_run, sync_log FROM PUBLIC;
GRANT SELECT ON sync_run, sync_log TO PUBLIC;

-- Each role reads the runs of the roles it is a member of (its own among
-- them), so that the history shows nobody records that row-level security
-- hides from them; superusers and the history's owner read all.
CREATE FUNCTION may_read_run(run_role name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $$
  SELECT CASE
           WHEN run_role = current_user THEN true
           WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = run_role)
             THEN pg_has_role(run_role, 'MEMBER')
           ELSE false
         END
$$;
ALTER TABLE sync_run ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable_runs ON sync_run FOR SELECT
  USING (@extschema@.may_read_run(role));
CREATE POLICY readable_rows ON sync_log FOR SELECT
  USING (EXISTS (SELECT 1 FROM @extschema@.sync_run r WHERE r.run_id = sync_log.run_id));

-- The exception rows of each selection's latest run, with a ready
-- statement per row to resolve it: PowerSchool's "manual lookup" link.
-- A record assigned by hand since then (ldap_assign) is no longer shown.
CREATE VIEW last_exceptions WITH (security_invoker = true) AS
WITH latest AS (
  SELECT DISTINCT ON (r.function, r.scope, r.selection, r.server)
         r.run_id, r.started_at, r.function, r.scope, r.selection, r.server
    FROM @extschema@.sync_run r
   WHERE r.function <> 'ldap_assign'
   ORDER BY r.function, r.scope, r.selection, r.server, r.run_id DESC
)
SELECT r.run_id, r.started_at, r.function, r.scope, r.selection,
       l.status, l.record_type, l.dcid, l.first_name, l.last_name, l.field,
       l.old_username, l.new_username, l.dn, l.candidates, l.candidate_count,
       CASE
         WHEN l.status IN ('partial', 'ambiguous') AND l.candidate_count = 1 THEN
           pg_catalog.format('SELECT * FROM pssync.ldap_assign(%L, %s, %L);',
                             l.record_type, l.dcid, l.candidates[1])
         WHEN l.status = 'conflict' THEN
           pg_catalog.format('SELECT dcid, first_name, last_name, %I FROM %I WHERE %I = %L;',
                             l.field,
                             CASE l.record_type WHEN 'student' THEN 'students' ELSE 'users' END,
                             l.field, l.new_username)
         WHEN l.status = 'no_match' THEN
           pg_catalog.format('SELECT * FROM pssync.ldap_lookup(%L, NULL, %L);',
                             l.last_name, l.record_type)
         ELSE
           pg_catalog.format('SELECT * FROM pssync.ldap_lookup(%L, %L, %L);',
                             l.last_name, l.first_name, l.record_type)
       END AS resolve_sql
  FROM latest r
  JOIN @extschema@.sync_log l ON l.run_id = r.run_id
 WHERE l.section = 'exception'
   AND NOT EXISTS (
         SELECT 1
           FROM @extschema@.sync_run a
           JOIN @extschema@.sync_log al ON al.run_id = a.run_id
          WHERE a.function = 'ldap_assign'
            AND a.run_id > r.run_id
            AND al.dcid = l.dcid
            AND al.record_type = l.record_type
            AND al.status IN ('updated', 'unchanged'));

GRANT SELECT ON last_exceptions TO PUBLIC;

-- Delete the runs that started longer ago than older_than; returns how
-- many.  Only the history's owner may (others lack DELETE).
CREATE FUNCTION purge_history(older_than interval)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog
AS $$
  WITH gone AS (
    DELETE FROM @extschema@.sync_run WHERE started_at < now() - older_than RETURNING 1
  )
  SELECT count(*) FROM gone
$$;
REVOKE ALL ON FUNCTION purge_history(interval) FROM PUBLIC;

-- Manual lookup and resolution.
CREATE FUNCTION ldap_lookup(last_name text, first_name text DEFAULT NULL,
                            record_type text DEFAULT 'student')
RETURNS SETOF directory_entry
AS 'MODULE_PATHNAME', 'pssync_ldap_lookup'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 10;

CREATE FUNCTION ldap_assign(record_type text, dcid bigint, dn text,
                            uid_attr text DEFAULT NULL,
                            dry_run boolean DEFAULT false)
RETURNS SETOF sync_result
AS 'MODULE_PATHNAME', 'pssync_ldap_assign'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 2;

COMMENT ON TABLE sync_run IS 'pssync: one row per sync that was not a dry run';
COMMENT ON TABLE sync_log IS 'pssync: the result rows of each recorded sync';
COMMENT ON VIEW last_exceptions IS 'pssync: the exceptions of each selection''s latest sync, with a statement to resolve each';
COMMENT ON FUNCTION ldap_lookup(text, text, text) IS
  'the directory entries with a last name (and first name), for a person to look through';
COMMENT ON FUNCTION ldap_assign(text, bigint, text, text, boolean) IS
  'store the user ID of one directory entry for one record, with the checks of a sync';
COMMENT ON FUNCTION purge_history(interval) IS
  'delete the sync history older than an interval';
