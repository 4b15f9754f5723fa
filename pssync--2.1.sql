/* pssync--2.1.sql */

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
  powerschool_table text,       -- 1.2: the table whose usernames the run checked
  link_broken integer NOT NULL DEFAULT 0,  -- 2.0
  links_confirmed text          -- 2.0: the record type whose links a district-wide
                                -- run matched through (all but those it marked
                                -- unconfirmed)
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
           WHEN status IN ('partial', 'ambiguous', 'link_broken') AND candidate_count = 1 THEN
             pg_catalog.format('SELECT * FROM pssync.ldap_assign(%L, %s, %L, uid_attr => %L);',
                               record_type, dcid, candidates[1], uid_attr)
           WHEN status IN ('partial', 'no_match', 'link_broken') THEN
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
   WHERE r.function NOT IN ('ldap_assign', 'ldap_unlink')
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

-- 2.0: links.  Each record's directory entry, remembered by the entry's
-- permanent ID (the server option entry_id_attr: entryUUID, or objectGUID
-- for Active Directory), once a real run matched them and the record's
-- usernames ended updated or unchanged, or a person chose the entry with
-- ldap_assign.  Later runs match the record through its link first.
-- Written by the extension as the table's owner, in the caller's
-- transaction, as the history is; read through the view pssync.links.
CREATE TABLE record_links (
  server name NOT NULL,
  record_group text NOT NULL,   -- 'students' | 'users': the record's table
  dcid bigint NOT NULL,
  record_type text NOT NULL,    -- 'student' | 'teacher' | 'staff', as last matched
  entry_id text NOT NULL,       -- the entry's permanent ID
  dn text NOT NULL,             -- the entry's DN, as last seen
  user_id text,                 -- the entry's user ID, as last seen
  linked_by text NOT NULL,      -- 'name' | 'id' | 'assign': how it was first made
  linked_at timestamptz NOT NULL,
  run_id bigint,                -- the run that made it, or last changed it or
                                -- matched through it (see the view links)
  unconfirmed boolean NOT NULL DEFAULT false,
                                -- the latest district-wide run of its type did
                                -- not match through it
  role name NOT NULL,           -- the role of that run
  PRIMARY KEY (server, record_group, dcid),
  UNIQUE (server, record_group, entry_id)
);
SELECT pg_catalog.pg_extension_config_dump('record_links', '');
REVOKE ALL ON record_links FROM PUBLIC;
GRANT SELECT ON record_links TO PUBLIC;
ALTER TABLE record_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable_links ON record_links FOR SELECT
  USING (@extschema@.may_read_run(role));
COMMENT ON TABLE record_links IS 'pssync: each record''s directory entry, by its permanent ID';

-- The names of PowerSchool's records now, for the view links: from the
-- tables the settings pssync.students_table and pssync.users_table name
-- (or students and users on search_path), where the caller may read them.
CREATE FUNCTION record_names()
RETURNS TABLE (record_group text, dcid bigint, first_name text, last_name text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  students regclass := pg_catalog.to_regclass(coalesce(pg_catalog.current_setting('pssync.students_table', true), 'students'));
  users regclass := pg_catalog.to_regclass(coalesce(pg_catalog.current_setting('pssync.users_table', true), 'users'));
BEGIN
  IF students IS NOT NULL AND pg_catalog.has_table_privilege(students, 'SELECT') THEN
    RETURN QUERY EXECUTE pg_catalog.format(
      'SELECT ''students''::pg_catalog.text, t.dcid::pg_catalog.int8, t.first_name::pg_catalog.text, t.last_name::pg_catalog.text FROM %s t',
      students);
  END IF;
  IF users IS NOT NULL AND pg_catalog.has_table_privilege(users, 'SELECT') THEN
    RETURN QUERY EXECUTE pg_catalog.format(
      'SELECT ''users''::pg_catalog.text, t.dcid::pg_catalog.int8, t.first_name::pg_catalog.text, t.last_name::pg_catalog.text FROM %s t',
      users);
  END IF;
END $$;

-- The links, with the records' names now.  run_id is the latest run that
-- made the link or matched through it: a district-wide run of a record
-- type matches through every link of the type that it does not mark
-- unconfirmed, and says so in sync_run.links_confirmed.
CREATE VIEW links WITH (security_invoker = true) AS
SELECT l.server, l.record_type, l.dcid, n.first_name, n.last_name,
       l.entry_id, l.dn, l.user_id, l.linked_by, l.linked_at,
       CASE WHEN l.unconfirmed THEN l.run_id
            ELSE GREATEST(l.run_id,
                   (SELECT pg_catalog.max(r.run_id) FROM @extschema@.sync_run r
                     WHERE r.server = l.server AND r.links_confirmed = l.record_type))
       END AS run_id
  FROM @extschema@.record_links l
  LEFT JOIN @extschema@.record_names() n
         ON n.record_group = l.record_group AND n.dcid = l.dcid;
GRANT SELECT ON links TO PUBLIC;
COMMENT ON VIEW links IS 'pssync: each record''s link to its directory entry';

CREATE FUNCTION ldap_unlink(record_type text, dcid bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pssync_ldap_unlink'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION ldap_unlink(text, bigint) IS
  'remove a record''s link to its directory entry';

-- ---------------------------------------------------------------------
-- 2.1 (pssync--2.0--2.1.sql has the same sections, in the same order)
-- ---------------------------------------------------------------------

-- 2.1: incremental sync (issue 11)
--
-- pssync.ldap_sync_changes() returns the rows of the records that what
-- changed since the previous run touches, on either side; the tables
-- below are what it keeps to tell.  They are written by the extension as
-- their owner, in the caller's transaction (a rolled-back run keeps the
-- old watermark), and are caches: pg_dump leaves them out, and a database
-- restored without them starts with a full run.

-- The watermarks: per server, group and base DN, how far the directory's
-- changes have been read (an RFC 4533 cookie, or Active Directory's
-- uSNChanged), where from, and the size of the group's last full read.
CREATE TABLE sync_state (
  server name NOT NULL,
  record_group text NOT NULL,   -- 'students' | 'users'
  base_dn text NOT NULL,
  mechanism text,               -- 'rfc4533' | 'usn'; NULL: no watermark
  cookie bytea,                 -- rfc4533: the provider's cookie
  usn bigint,                   -- usn: highestCommittedUSN before the read
  host text,                    -- the directory host the watermark came from
  invocation_id text,           -- usn: the domain controller's invocationId
  options text,                 -- the server options the watermark holds for
  entries integer,              -- entries of the group's last full read
  full_read_at timestamptz,     -- when it was
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (server, record_group, base_dn)
);
REVOKE ALL ON sync_state FROM PUBLIC;
GRANT SELECT ON sync_state TO PUBLIC;
COMMENT ON TABLE sync_state IS 'pssync: how far the directory''s changes have been read, per server, group and base DN';

-- Per record, what its previous run saw and returned: a fingerprint of its
-- row in PowerSchool's table, one of its result rows (as after the run's
-- writes), and what they depend on in the directory.
CREATE TABLE record_state (
  server name NOT NULL,
  record_group text NOT NULL,   -- 'students' | 'users'
  dcid bigint NOT NULL,
  record_type text NOT NULL,
  fingerprint bigint NOT NULL,  -- its row's names, ID and kind in PowerSchool's table
  outcome bigint NOT NULL,      -- its result rows, as after the run's writes
  last_key text,                -- the key of its last name (names.c)
  id_key text,                  -- the key of its ID
  entry_id text,                -- the permanent ID of the entry it matched
  usernames text[],             -- its usernames
  user_ids text[],              -- the directory's user IDs it was matched to
  dirty boolean NOT NULL DEFAULT false,  -- a change touched it, and no run
                                         -- of its type has taken it since
  run_id bigint,                -- the latest run that took it
  role name NOT NULL,           -- the role of that run
  PRIMARY KEY (server, record_group, dcid)
);
CREATE INDEX record_state_last_key ON record_state (server, record_group, last_key);
CREATE INDEX record_state_id_key ON record_state (server, record_group, id_key)
  WHERE id_key IS NOT NULL;
CREATE INDEX record_state_entry_id ON record_state (server, record_group, entry_id)
  WHERE entry_id IS NOT NULL;
CREATE INDEX record_state_user_ids ON record_state USING gin (user_ids);
CREATE INDEX record_state_dirty ON record_state (server, record_group) WHERE dirty;
REVOKE ALL ON record_state FROM PUBLIC;
GRANT SELECT ON record_state TO PUBLIC;
ALTER TABLE record_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable_states ON record_state FOR SELECT
  USING (role = CURRENT_USER OR @extschema@.may_read_run(role));
COMMENT ON TABLE record_state IS 'pssync: what each record''s previous run saw and returned';

-- Per entry of a group, as of the watermark: the keys of its last names
-- and IDs, so that a change to it finds the records that it mattered to.
CREATE TABLE entry_state (
  server name NOT NULL,
  record_group text NOT NULL,
  entry_id text NOT NULL,
  last_keys text[],             -- NULL: its names could not be read
  id_keys text[],
  PRIMARY KEY (server, record_group, entry_id)
);
REVOKE ALL ON entry_state FROM PUBLIC;
COMMENT ON TABLE entry_state IS 'pssync: the directory''s entries of each group, as of the watermark';

CREATE FUNCTION ldap_sync_changes(scope text DEFAULT 'all',
                                  dry_run boolean DEFAULT false)
RETURNS SETOF sync_result
AS 'MODULE_PATHNAME', 'pssync_ldap_sync_changes'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 100;
COMMENT ON FUNCTION ldap_sync_changes(text, boolean) IS
  'synchronize the records that what changed since the previous run touches, on either side';

-- The background worker (shared_preload_libraries = 'pssync',
-- pssync.worker_database), as it is now.
CREATE FUNCTION worker_info(
  OUT database text, OUT state text, OUT last_batch_at timestamptz,
  OUT last_error text, OUT watermark_age interval, OUT batches bigint,
  OUT changed_records bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pssync_worker_info'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1;
CREATE VIEW worker_status AS
SELECT database, state, last_batch_at, last_error, watermark_age, batches,
       changed_records
  FROM @extschema@.worker_info();
GRANT SELECT ON worker_status TO PUBLIC;
COMMENT ON VIEW worker_status IS 'pssync: the background worker, as it is now';
