/* pssync--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pssync UPDATE TO '1.2'" to load this file. \quit

-- 1.2: the result rows say how many candidates a partial or ambiguous
-- match had (candidates lists at most 100 of them).
ALTER TYPE sync_result ADD ATTRIBUTE candidate_count integer;

-- 1.2: the PowerSchool table a run checked, for the statements of
-- last_exceptions.  Runs recorded before are NULL.
ALTER TABLE sync_run ADD COLUMN powerschool_table text;

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

-- 1.2: every statement of last_exceptions leads somewhere: a partial or
-- ambiguous row's lists every candidate with its names and user ID; a
-- conflict's names the table the run used; and where there is more than
-- one pssync server, each first chooses the run's.
CREATE OR REPLACE VIEW last_exceptions WITH (security_invoker = true) AS
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
