/* pssync--1.2.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pssync" to load this file. \quit

-- The directory is configured as a foreign server of this wrapper, its
-- credentials as a user mapping, as postgres_fdw and dblink do.
CREATE FUNCTION pssync_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER pssync
  VALIDATOR pssync_validator;

COMMENT ON FOREIGN DATA WRAPPER pssync IS
  'LDAP directories to synchronize PowerSchool usernames with';

CREATE TYPE sync_result AS (
  section text,          -- 'match' | 'exception'
  status text,           -- match: 'unchanged' | 'updated' | 'would_update'
                         -- exception: 'partial' | 'no_match' | 'ambiguous'
                         --            | 'no_uid' | 'conflict' | 'invalid_uid'
  record_type text,      -- 'student' | 'teacher' | 'staff'
  dcid bigint,
  first_name text,
  last_name text,
  field text,            -- username column checked; NULL on an exception
                         -- without an exact match
  old_username text,
  new_username text,     -- the directory's value, where one was found
  dn text,               -- the exact match's DN
  candidates text[],     -- DNs found for 'partial' and 'ambiguous', sorted (at most 100)
  matched_by text,       -- 'id' | 'name': how the exact match was found
  candidate_count integer -- 1.2: how many entries were found, for 'partial' and 'ambiguous'
);

CREATE FUNCTION ldap_sync_students(selection regclass,
                                   uid_attr text DEFAULT NULL,
                                   dry_run boolean DEFAULT false)
RETURNS SETOF sync_result
AS 'MODULE_PATHNAME', 'pssync_ldap_sync_students'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;

CREATE FUNCTION ldap_sync_staff(selection regclass,
                                uid_attr text DEFAULT NULL,
                                dry_run boolean DEFAULT false)
RETURNS SETOF sync_result
AS 'MODULE_PATHNAME', 'pssync_ldap_sync_staff'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;

CREATE FUNCTION ldap_sync_district(scope text,
                                   uid_attr text DEFAULT NULL,
                                   dry_run boolean DEFAULT false)
RETURNS SETOF sync_result
AS 'MODULE_PATHNAME', 'pssync_ldap_sync_district'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;

CREATE FUNCTION ldap_user_id_attribute(record_type text)
RETURNS text
AS 'MODULE_PATHNAME', 'pssync_ldap_user_id_attribute'
LANGUAGE C STABLE STRICT;

COMMENT ON FUNCTION ldap_sync_students(regclass, text, boolean) IS
  'synchronize the usernames of the students whose dcid is in the selection with the LDAP directory';
COMMENT ON FUNCTION ldap_sync_staff(regclass, text, boolean) IS
  'synchronize the usernames of the teachers and staff whose dcid is in the selection with the LDAP directory';
COMMENT ON FUNCTION ldap_sync_district(text, text, boolean) IS
  'synchronize the usernames of a district-wide scope with the LDAP directory';
COMMENT ON FUNCTION ldap_user_id_attribute(text) IS
  'the LDAP attribute a sync of student, teacher or staff records reads the username from';

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
  invalid_uid integer NOT NULL,
  powerschool_table text        -- 1.2: the table whose usernames the run checked
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

-- The statement that resolves an exception of last_exceptions: the
-- assignment when one candidate is left; else the manual lookup that lists
-- every candidate with its names and user ID (the entries with the last
-- name for a partial match, with both names for an ambiguous one); for a
-- conflict, the record that holds the username, in the table the run
-- used.  Where there is more than one pssync server, it first chooses the
-- run's.
CREATE FUNCTION resolve_statement(server text, powerschool_table text,
                                  uid_attr text, status text, record_type text, dcid bigint,
                                  first_name text, last_name text, field text,
                                  new_username text, candidates text[],
                                  candidate_count integer)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $$
  SELECT CASE WHEN servers > 1
              THEN pg_catalog.format('BEGIN; SET LOCAL pssync.server = %L; %s COMMIT;',
                                     server, statement)
              ELSE statement
         END
    FROM (SELECT (SELECT count(*)
                    FROM pg_catalog.pg_foreign_server s
                    JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
                   WHERE w.fdwname = 'pssync') AS servers,
         CASE
           WHEN status IN ('partial', 'ambiguous') AND candidate_count = 1 THEN
             pg_catalog.format('SELECT * FROM pssync.ldap_assign(%L, %s, %L, uid_attr => %L);',
                               record_type, dcid, candidates[1], uid_attr)
           WHEN status IN ('partial', 'no_match') THEN
             pg_catalog.format('SELECT * FROM pssync.ldap_lookup(%L, NULL, %L);',
                               last_name, record_type)
           WHEN status = 'conflict' THEN
             pg_catalog.format('SELECT dcid, first_name, last_name, %I FROM %s WHERE %I = %L;',
                               field,
                               coalesce(powerschool_table,
                                        CASE record_type WHEN 'student' THEN 'students' ELSE 'users' END),
                               field, new_username)
           ELSE
             pg_catalog.format('SELECT * FROM pssync.ldap_lookup(%L, %L, %L);',
                               last_name, first_name, record_type)
         END AS statement) s
$$;
COMMENT ON FUNCTION resolve_statement(text, text, text, text, text, bigint, text, text, text, text, text[], integer) IS
  'the statement that resolves an exception of pssync.last_exceptions';

-- The exception rows of each selection's latest run, with a ready
-- statement per row to resolve it: PowerSchool's "manual lookup" link.
-- A record assigned by hand since then (ldap_assign) is no longer shown.
CREATE VIEW last_exceptions WITH (security_invoker = true) AS
WITH latest AS (
  SELECT DISTINCT ON (r.function, r.scope, r.selection, r.server)
         r.run_id, r.started_at, r.function, r.scope, r.selection, r.server,
         r.powerschool_table, r.uid_attr
    FROM @extschema@.sync_run r
   WHERE r.function <> 'ldap_assign'
   ORDER BY r.function, r.scope, r.selection, r.server, r.run_id DESC
)
SELECT r.run_id, r.started_at, r.function, r.scope, r.selection,
       l.status, l.record_type, l.dcid, l.first_name, l.last_name, l.field,
       l.old_username, l.new_username, l.dn, l.candidates, l.candidate_count,
       @extschema@.resolve_statement(r.server::text, r.powerschool_table, r.uid_attr, l.status,
                                     l.record_type, l.dcid, l.first_name,
                                     l.last_name, l.field, l.new_username,
                                     l.candidates, l.candidate_count)
         COLLATE pg_catalog."default" AS resolve_sql
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
