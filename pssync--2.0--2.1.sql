/* pssync--2.0--2.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pssync UPDATE TO '2.1'" to load this file. \quit

-- ---------------------------------------------------------------------
-- 2.1 (pssync--2.1.sql ends with the same sections, in the same order)
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
