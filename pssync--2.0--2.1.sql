/* pssync--2.0--2.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pssync UPDATE TO '2.1'" to load this file. \quit

-- ---------------------------------------------------------------------
-- 2.1 (pssync--2.1.sql ends with the same sections, in the same order)
-- ---------------------------------------------------------------------

-- 2.1: district realities (issue 14): exclusions.
-- The records every sync skips: never read from the directory, never
-- written, never in the result rows; ldap_assign refuses them.  Managed
-- with ldap_exclude and ldap_include, which take the UPDATE privileges a
-- real sync of the record takes, and record each change in the history;
-- readable by the roles that can use the schema, like the history.
CREATE TABLE exclusions (
  record_type text NOT NULL CHECK (record_type IN ('student', 'teacher', 'staff')),
  dcid bigint NOT NULL,
  reason text NOT NULL,
  excluded_by name NOT NULL,
  excluded_at timestamptz NOT NULL,
  PRIMARY KEY (record_type, dcid)
);
SELECT pg_catalog.pg_extension_config_dump('exclusions', '');
REVOKE ALL ON exclusions FROM PUBLIC;
GRANT SELECT ON exclusions TO PUBLIC;
COMMENT ON TABLE exclusions IS 'pssync: the records every sync skips';

-- How many records of its scope or selection a run skipped, and for the
-- changes to the list (which concern no server), the reason.
ALTER TABLE sync_run ADD COLUMN excluded integer NOT NULL DEFAULT 0;
ALTER TABLE sync_run ADD COLUMN detail text;
ALTER TABLE sync_run ALTER COLUMN server DROP NOT NULL;
ALTER TABLE sync_run ALTER COLUMN uid_attr DROP NOT NULL;

CREATE FUNCTION ldap_exclude(record_type text, dcid bigint, reason text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pssync_ldap_exclude'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION ldap_exclude(text, bigint, text) IS
  'make every sync skip a record; true if it was not excluded yet';
CREATE FUNCTION ldap_include(record_type text, dcid bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pssync_ldap_include'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION ldap_include(text, bigint) IS
  'let syncs take an excluded record again; true if it was excluded';

-- The changes to the exclusions have no exceptions to show, and an
-- excluded record's exceptions are not shown.
CREATE OR REPLACE VIEW last_exceptions WITH (security_invoker = true) AS
WITH latest AS (
  SELECT DISTINCT ON (r.function, r.scope, r.selection, r.server)
         r.run_id, r.started_at, r.function, r.scope, r.selection, r.server,
         r.powerschool_table, r.uid_attr
    FROM @extschema@.sync_run r
   WHERE r.function NOT IN ('ldap_assign', 'ldap_unlink', 'ldap_exclude', 'ldap_include')
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
            AND al.status IN ('updated', 'unchanged'))
   AND NOT EXISTS (
         SELECT 1
           FROM @extschema@.exclusions e
          WHERE e.dcid = l.dcid
            AND (e.record_type = l.record_type
                 OR (e.record_type IN ('teacher', 'staff') AND l.record_type IN ('teacher', 'staff'))));
