/* pssync--1.2--2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pssync UPDATE TO '2.0'" to load this file. \quit

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

-- 2.0: the runs count broken links, and a district-wide run records the
-- record type whose links it matched through (all but those it marked
-- unconfirmed).
ALTER TABLE sync_run ADD COLUMN link_broken integer NOT NULL DEFAULT 0;
ALTER TABLE sync_run ADD COLUMN links_confirmed text;

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

-- 2.0: a broken link's statement lists the candidates (every entry with
-- the record's last name), or assigns the only one.
CREATE OR REPLACE FUNCTION resolve_statement(server text, powerschool_table text,
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

-- 2.0: the runs of ldap_unlink have no exceptions to show.
CREATE OR REPLACE VIEW last_exceptions WITH (security_invoker = true) AS
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
