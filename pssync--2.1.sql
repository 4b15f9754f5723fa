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
-- excluded record's exceptions are not shown: last_exceptions is made
-- once, with the suggestions' columns, at the end of the next section.

-- ---------------------------------------------------------------------
-- 2.1: suggestions (issue 12)
-- ---------------------------------------------------------------------

-- Given-name nicknames, English and Spanish, for the reason "nickname" of
-- ldap_suggest: variant is a nickname or short form of name (Robert, Bob).
-- The pairs the extension ships (shipped) are data/nicknames.csv; a
-- district adds its own rows (shipped is false by default).  pg_dump
-- dumps the district's rows only, and an update script replaces only the
-- shipped ones: a later version that ships a new list runs
--   DELETE FROM nicknames WHERE shipped;
--   INSERT ... ON CONFLICT (name, variant) DO NOTHING;
-- so that the rows a district added survive it.
CREATE TABLE nicknames (
  name text NOT NULL,
  variant text NOT NULL,
  shipped boolean NOT NULL DEFAULT false,
  PRIMARY KEY (name, variant)
);
SELECT pg_catalog.pg_extension_config_dump('nicknames', 'WHERE NOT shipped');
REVOKE ALL ON nicknames FROM PUBLIC;
GRANT SELECT ON nicknames TO PUBLIC;
COMMENT ON TABLE nicknames IS
  'pssync: given names and their nicknames (name, variant), for suggestions; add your own rows';

-- BEGIN shipped nicknames: written from data/nicknames.csv by
-- data/nicknames_sql.py; sql/nicknames.sql checks that they agree.
INSERT INTO nicknames (name, variant, shipped) VALUES
  ('Abigail', 'Abbie', true),
  ('Abigail', 'Abby', true),
  ('Abigail', 'Gail', true),
  ('Abraham', 'Abe', true),
  ('Abraham', 'Bram', true),
  ('Abram', 'Abe', true),
  ('Adalberto', 'Beto', true),
  ('Addison', 'Addie', true),
  ('Adelaide', 'Addie', true),
  ('Adeline', 'Addie', true),
  ('Adolfo', 'Fito', true),
  ('Adrián', 'Adri', true),
  ('Adriana', 'Adri', true),
  ('Agnes', 'Aggie', true),
  ('Agustín', 'Agus', true),
  ('Agustina', 'Agus', true),
  ('Agustina', 'Tina', true),
  ('Alan', 'Al', true),
  ('Albert', 'Al', true),
  ('Albert', 'Bert', true),
  ('Albert', 'Bertie', true),
  ('Alberto', 'Albert', true),
  ('Alberto', 'Beto', true),
  ('Alejandra', 'Ale', true),
  ('Alejandra', 'Alex', true),
  ('Alejandra', 'Jandra', true),
  ('Alejandro', 'Ale', true),
  ('Alejandro', 'Alex', true),
  ('Alejandro', 'Jandro', true),
  ('Alexander', 'Alec', true),
  ('Alexander', 'Alex', true),
  ('Alexander', 'Lex', true),
  ('Alexander', 'Sandy', true),
  ('Alexander', 'Xander', true),
  ('Alexander', 'Zander', true),
  ('Alexandra', 'Alex', true),
  ('Alexandra', 'Alexa', true),
  ('Alexandra', 'Ali', true),
  ('Alexandra', 'Allie', true),
  ('Alexandra', 'Lexi', true),
  ('Alexandra', 'Lexie', true),
  ('Alexandra', 'Sandy', true),
  ('Alexandria', 'Alex', true),
  ('Alexandria', 'Lexi', true),
  ('Alexis', 'Alex', true),
  ('Alexis', 'Lexi', true),
  ('Alfonso', 'Poncho', true),
  ('Alfred', 'Al', true),
  ('Alfred', 'Alf', true),
  ('Alfred', 'Alfie', true),
  ('Alfred', 'Fred', true),
  ('Alfred', 'Freddie', true),
  ('Alfredo', 'Alfred', true),
  ('Alfredo', 'Freddy', true),
  ('Alfredo', 'Fredo', true),
  ('Alice', 'Allie', true),
  ('Alice', 'Ally', true),
  ('Alicia', 'Ali', true),
  ('Alicia', 'Licha', true),
  ('Alison', 'Ali', true),
  ('Alison', 'Allie', true),
  ('Alison', 'Ally', true),
  ('Allan', 'Al', true),
  ('Allen', 'Al', true),
  ('Allison', 'Ali', true),
  ('Allison', 'Allie', true),
  ('Allison', 'Ally', true),
  ('Alphonse', 'Al', true),
  ('Alvin', 'Al', true),
  ('Amanda', 'Manda', true),
  ('Amanda', 'Mandy', true),
  ('Amelia', 'Millie', true),
  ('Ana', 'Anita', true),
  ('Ana', 'Annie', true),
  ('Anastasia', 'Ana', true),
  ('Anastasia', 'Stacey', true),
  ('Anastasia', 'Stacy', true),
  ('Anastasio', 'Tacho', true),
  ('Andrea', 'Andi', true),
  ('Andrea', 'Andie', true),
  ('Andrea', 'Drea', true),
  ('Andrés', 'Andrew', true),
  ('Andrés', 'Andy', true),
  ('Andrew', 'Andy', true),
  ('Andrew', 'Drew', true),
  ('Angela', 'Angie', true),
  ('Angelica', 'Angie', true),
  ('Angelina', 'Angie', true),
  ('Angelina', 'Lina', true),
  ('Angus', 'Gus', true),
  ('Ann', 'Annie', true),
  ('Ann', 'Nan', true),
  ('Anna', 'Annie', true),
  ('Annabel', 'Annie', true),
  ('Annabel', 'Belle', true),
  ('Annabelle', 'Annie', true),
  ('Annabelle', 'Belle', true),
  ('Anne', 'Annie', true),
  ('Anne', 'Nan', true),
  ('Anthony', 'Tony', true),
  ('Antoinette', 'Nettie', true),
  ('Antoinette', 'Toni', true),
  ('Antonia', 'Toña', true),
  ('Antonia', 'Toni', true),
  ('Antonio', 'Anthony', true),
  ('Antonio', 'Toni', true),
  ('Antonio', 'Toño', true),
  ('Antonio', 'Tony', true),
  ('Apolinar', 'Polo', true),
  ('Arabella', 'Bella', true),
  ('Araceli', 'Chely', true),
  ('Archibald', 'Arch', true),
  ('Archibald', 'Archie', true),
  ('Ariana', 'Ari', true),
  ('Arianna', 'Ari', true),
  ('Armando', 'Mando', true),
  ('Arnold', 'Arnie', true),
  ('Arthur', 'Art', true),
  ('Arthur', 'Artie', true),
  ('Arturo', 'Art', true),
  ('Arturo', 'Arthur', true),
  ('Asunción', 'Asun', true),
  ('Asunción', 'Chon', true),
  ('Asunción', 'Chona', true),
  ('August', 'Augie', true),
  ('August', 'Gus', true),
  ('Augusta', 'Gussie', true),
  ('Augustine', 'Augie', true),
  ('Augustine', 'Gus', true),
  ('Augustus', 'Augie', true),
  ('Augustus', 'Gus', true),
  ('Baltasar', 'Balta', true),
  ('Barbara', 'Babs', true),
  ('Barbara', 'Barb', true),
  ('Barbara', 'Barbie', true),
  ('Barnabas', 'Barney', true),
  ('Barnaby', 'Barney', true),
  ('Bartholomew', 'Bart', true),
  ('Bartolomé', 'Bartolo', true),
  ('Bautista', 'Bauti', true),
  ('Beatrice', 'Bea', true),
  ('Beatrice', 'Bee', true),
  ('Beatrice', 'Trixie', true),
  ('Beatriz', 'Bea', true),
  ('Ben', 'Benny', true),
  ('Benedict', 'Ben', true),
  ('Benjamin', 'Ben', true),
  ('Benjamin', 'Benji', true),
  ('Benjamin', 'Benjy', true),
  ('Benjamin', 'Benny', true),
  ('Benjamín', 'Benja', true),
  ('Bernadette', 'Bernie', true),
  ('Bernard', 'Bernie', true),
  ('Bernardo', 'Nardo', true),
  ('Bernice', 'Bernie', true),
  ('Bertha', 'Bertie', true),
  ('Bertram', 'Bert', true),
  ('Bess', 'Bessie', true),
  ('Bethany', 'Beth', true),
  ('Beverly', 'Bev', true),
  ('Bill', 'Billy', true),
  ('Bob', 'Bobby', true),
  ('Bradford', 'Brad', true),
  ('Bradley', 'Brad', true),
  ('Brianna', 'Bree', true),
  ('Brianna', 'Bri', true),
  ('Bridget', 'Bridie', true),
  ('Brittany', 'Britt', true),
  ('Buenaventura', 'Ventura', true),
  ('Calvin', 'Cal', true),
  ('Cameron', 'Cam', true),
  ('Camilla', 'Cami', true),
  ('Camille', 'Cami', true),
  ('Candace', 'Candy', true),
  ('Candelaria', 'Cande', true),
  ('Candelaria', 'Candy', true),
  ('Caridad', 'Cari', true),
  ('Carlos', 'Charles', true),
  ('Carlos', 'Charlie', true),
  ('Carmen', 'Menchu', true),
  ('Carolina', 'Caro', true),
  ('Caroline', 'Carrie', true),
  ('Carolyn', 'Carrie', true),
  ('Cassandra', 'Cass', true),
  ('Cassandra', 'Cassie', true),
  ('Cassidy', 'Cassie', true),
  ('Catalina', 'Cata', true),
  ('Catherine', 'Cat', true),
  ('Catherine', 'Cate', true),
  ('Catherine', 'Cathy', true),
  ('Catherine', 'Kate', true),
  ('Catherine', 'Katie', true),
  ('Catherine', 'Kit', true),
  ('Cayetano', 'Tano', true),
  ('Cecilia', 'Cece', true),
  ('Cecilia', 'Ceci', true),
  ('Cecilia', 'Celia', true),
  ('Cecilia', 'Cissy', true),
  ('Celestino', 'Tino', true),
  ('Charles', 'Charley', true),
  ('Charles', 'Charlie', true),
  ('Charles', 'Chas', true),
  ('Charles', 'Chaz', true),
  ('Charles', 'Chuck', true),
  ('Charlotte', 'Char', true),
  ('Charlotte', 'Charlie', true),
  ('Charlotte', 'Lottie', true),
  ('Chester', 'Chet', true),
  ('Christian', 'Chris', true),
  ('Christina', 'Chris', true),
  ('Christina', 'Chrissy', true),
  ('Christina', 'Christy', true),
  ('Christina', 'Tina', true),
  ('Christine', 'Chris', true),
  ('Christine', 'Chrissy', true),
  ('Christine', 'Christy', true),
  ('Christine', 'Tina', true),
  ('Christopher', 'Chris', true),
  ('Christopher', 'Kit', true),
  ('Christopher', 'Topher', true),
  ('Claudia', 'Clau', true),
  ('Clement', 'Clem', true),
  ('Clementina', 'Tina', true),
  ('Clementine', 'Clem', true),
  ('Clifford', 'Cliff', true),
  ('Clifton', 'Cliff', true),
  ('Clinton', 'Clint', true),
  ('Concepción', 'Concha', true),
  ('Concepción', 'Conchi', true),
  ('Concepción', 'Conchita', true),
  ('Concha', 'Conchita', true),
  ('Constance', 'Connie', true),
  ('Constantino', 'Tino', true),
  ('Consuelo', 'Chelo', true),
  ('Cornelius', 'Neil', true),
  ('Cristian', 'Cris', true),
  ('Cristina', 'Cris', true),
  ('Cristina', 'Tina', true),
  ('Cristóbal', 'Chris', true),
  ('Cristóbal', 'Christopher', true),
  ('Cuauhtémoc', 'Temo', true),
  ('Cynthia', 'Cindy', true),
  ('Cynthia', 'Cyndi', true),
  ('Cyrus', 'Cy', true),
  ('Dagoberto', 'Beto', true),
  ('Dagoberto', 'Dago', true),
  ('Dan', 'Danny', true),
  ('Daniel', 'Dan', true),
  ('Daniel', 'Dani', true),
  ('Daniel', 'Danny', true),
  ('Daniela', 'Dani', true),
  ('Danielle', 'Dani', true),
  ('Dave', 'Davey', true),
  ('David', 'Dave', true),
  ('David', 'Davey', true),
  ('David', 'Davy', true),
  ('Deb', 'Debbie', true),
  ('Deborah', 'Deb', true),
  ('Deborah', 'Debbie', true),
  ('Deborah', 'Debby', true),
  ('Debra', 'Deb', true),
  ('Debra', 'Debbie', true),
  ('Delbert', 'Del', true),
  ('Dennis', 'Denny', true),
  ('Desmond', 'Des', true),
  ('Desmond', 'Dez', true),
  ('Dexter', 'Dex', true),
  ('Diana', 'Di', true),
  ('Diane', 'Di', true),
  ('Dolores', 'Lola', true),
  ('Dolores', 'Loli', true),
  ('Dolores', 'Lolita', true),
  ('Dominga', 'Minga', true),
  ('Domingo', 'Mingo', true),
  ('Dominic', 'Dom', true),
  ('Dominick', 'Dom', true),
  ('Don', 'Donnie', true),
  ('Donald', 'Don', true),
  ('Donald', 'Donnie', true),
  ('Donald', 'Donny', true),
  ('Dorothea', 'Dora', true),
  ('Dorothea', 'Dot', true),
  ('Dorothea', 'Dottie', true),
  ('Dorothy', 'Dolly', true),
  ('Dorothy', 'Dot', true),
  ('Dorothy', 'Dottie', true),
  ('Douglas', 'Doug', true),
  ('Ed', 'Eddie', true),
  ('Edgar', 'Ed', true),
  ('Edgar', 'Eddie', true),
  ('Edilberto', 'Beto', true),
  ('Edith', 'Edie', true),
  ('Edmund', 'Ed', true),
  ('Edmund', 'Eddie', true),
  ('Edmund', 'Ned', true),
  ('Eduardo', 'Eddie', true),
  ('Eduardo', 'Edu', true),
  ('Eduardo', 'Edward', true),
  ('Eduardo', 'Guayo', true),
  ('Eduardo', 'Lalo', true),
  ('Edward', 'Ed', true),
  ('Edward', 'Eddie', true),
  ('Edward', 'Eddy', true),
  ('Edward', 'Ned', true),
  ('Edward', 'Ted', true),
  ('Edward', 'Teddy', true),
  ('Edwin', 'Ed', true),
  ('Edwin', 'Eddie', true),
  ('Efraín', 'Efra', true),
  ('Elbert', 'Bert', true),
  ('Eleanor', 'Ellie', true),
  ('Eleanor', 'Nell', true),
  ('Eleanor', 'Nellie', true),
  ('Eleanor', 'Nora', true),
  ('Elias', 'Eli', true),
  ('Elijah', 'Eli', true),
  ('Elisabeth', 'Beth', true),
  ('Elisabeth', 'Liz', true),
  ('Elisabeth', 'Lizzie', true),
  ('Elizabeth', 'Bess', true),
  ('Elizabeth', 'Bessie', true),
  ('Elizabeth', 'Beth', true),
  ('Elizabeth', 'Betsy', true),
  ('Elizabeth', 'Betty', true),
  ('Elizabeth', 'Eliza', true),
  ('Elizabeth', 'Ellie', true),
  ('Elizabeth', 'Elsie', true),
  ('Elizabeth', 'Libby', true),
  ('Elizabeth', 'Liz', true),
  ('Elizabeth', 'Liza', true),
  ('Elizabeth', 'Lizzie', true),
  ('Elizabeth', 'Lizzy', true),
  ('Ellen', 'Ellie', true),
  ('Ellen', 'Nell', true),
  ('Ellen', 'Nellie', true),
  ('Elwood', 'Woody', true),
  ('Em', 'Emmy', true),
  ('Emanuel', 'Manny', true),
  ('Emily', 'Em', true),
  ('Emily', 'Emmie', true),
  ('Emily', 'Emmy', true),
  ('Emma', 'Em', true),
  ('Emma', 'Emmy', true),
  ('Emmanuel', 'Manny', true),
  ('Encarnación', 'Encarna', true),
  ('Enrique', 'Henry', true),
  ('Enrique', 'Kike', true),
  ('Enrique', 'Quique', true),
  ('Enriqueta', 'Queta', true),
  ('Ernest', 'Ernie', true),
  ('Ernestina', 'Tina', true),
  ('Ernesto', 'Ernie', true),
  ('Ernesto', 'Neto', true),
  ('Esmeralda', 'Esme', true),
  ('Esperanza', 'Espe', true),
  ('Esteban', 'Stephen', true),
  ('Esteban', 'Steve', true),
  ('Esteban', 'Steven', true),
  ('Estefanía', 'Estefi', true),
  ('Estefanía', 'Fanny', true),
  ('Estefanía', 'Stephanie', true),
  ('Eugene', 'Gene', true),
  ('Eulalia', 'Lala', true),
  ('Eusebio', 'Chebo', true),
  ('Evangeline', 'Evie', true),
  ('Evelyn', 'Eve', true),
  ('Evelyn', 'Evie', true),
  ('Ezekiel', 'Zeke', true),
  ('Ezequiel', 'Eze', true),
  ('Fabiola', 'Fabi', true),
  ('Fátima', 'Fati', true),
  ('Faustino', 'Tino', true),
  ('Federico', 'Fede', true),
  ('Feliciano', 'Chano', true),
  ('Felipe', 'Philip', true),
  ('Felipe', 'Pipe', true),
  ('Fernanda', 'Fer', true),
  ('Fernando', 'Fer', true),
  ('Fernando', 'Nando', true),
  ('Filiberto', 'Beto', true),
  ('Florence', 'Flo', true),
  ('Florence', 'Flossie', true),
  ('Florencia', 'Flor', true),
  ('Florentina', 'Tina', true),
  ('Florentino', 'Tino', true),
  ('Frances', 'Fran', true),
  ('Frances', 'Frankie', true),
  ('Frances', 'Frannie', true),
  ('Frances', 'Franny', true),
  ('Francis', 'Fran', true),
  ('Francis', 'Frank', true),
  ('Francis', 'Frankie', true),
  ('Francisca', 'Paca', true),
  ('Francisca', 'Pancha', true),
  ('Francisca', 'Panchita', true),
  ('Francisca', 'Paquita', true),
  ('Francisco', 'Cisco', true),
  ('Francisco', 'Curro', true),
  ('Francisco', 'Frank', true),
  ('Francisco', 'Frankie', true),
  ('Francisco', 'Kiko', true),
  ('Francisco', 'Pacho', true),
  ('Francisco', 'Paco', true),
  ('Francisco', 'Pancho', true),
  ('Francisco', 'Paquito', true),
  ('Frank', 'Frankie', true),
  ('Franklin', 'Frank', true),
  ('Franklin', 'Frankie', true),
  ('Fred', 'Freddie', true),
  ('Frederic', 'Fred', true),
  ('Frederic', 'Freddie', true),
  ('Frederick', 'Fred', true),
  ('Frederick', 'Freddie', true),
  ('Frederick', 'Freddy', true),
  ('Frederick', 'Rick', true),
  ('Frederick', 'Ricky', true),
  ('Fredrick', 'Fred', true),
  ('Fredrick', 'Freddie', true),
  ('Fredrick', 'Freddy', true),
  ('Gabriel', 'Gabe', true),
  ('Gabriel', 'Gabo', true),
  ('Gabriela', 'Gabby', true),
  ('Gabriela', 'Gabi', true),
  ('Gabriela', 'Gaby', true),
  ('Gabriella', 'Gabby', true),
  ('Gabriella', 'Gabi', true),
  ('Gabrielle', 'Gabby', true),
  ('Gabrielle', 'Gabi', true),
  ('Genevieve', 'Gen', true),
  ('Genevieve', 'Genny', true),
  ('Geoffrey', 'Geoff', true),
  ('Geoffrey', 'Jeff', true),
  ('Georgia', 'Georgie', true),
  ('Georgina', 'Georgie', true),
  ('Georgina', 'Gina', true),
  ('Gerald', 'Gerry', true),
  ('Gerald', 'Jerry', true),
  ('Geraldine', 'Geri', true),
  ('Geraldine', 'Gerry', true),
  ('Gerard', 'Gerry', true),
  ('Gerardo', 'Gera', true),
  ('Gerardo', 'Gerry', true),
  ('Gertrude', 'Gertie', true),
  ('Gertrude', 'Trudy', true),
  ('Gilbert', 'Bert', true),
  ('Gilbert', 'Gil', true),
  ('Gilberto', 'Beto', true),
  ('Gilberto', 'Gil', true),
  ('Gillian', 'Gill', true),
  ('Gillian', 'Jill', true),
  ('Gisela', 'Gise', true),
  ('Gonzalo', 'Chalo', true),
  ('Gonzalo', 'Gonza', true),
  ('Gordon', 'Gordy', true),
  ('Graciela', 'Chela', true),
  ('Gregoria', 'Goya', true),
  ('Gregorio', 'Goyo', true),
  ('Gregorio', 'Greg', true),
  ('Gregory', 'Greg', true),
  ('Griffin', 'Griff', true),
  ('Guadalupe', 'Lupe', true),
  ('Guadalupe', 'Lupita', true),
  ('Guillermina', 'Mina', true),
  ('Guillermo', 'Guille', true),
  ('Guillermo', 'Memo', true),
  ('Guillermo', 'Will', true),
  ('Guillermo', 'William', true),
  ('Guillermo', 'Willy', true),
  ('Gustav', 'Gus', true),
  ('Gustave', 'Gus', true),
  ('Gustavo', 'Gus', true),
  ('Gustavo', 'Tavo', true),
  ('Gwendolyn', 'Gwen', true),
  ('Gwendolyn', 'Wendy', true),
  ('Harold', 'Hal', true),
  ('Harold', 'Harry', true),
  ('Harriet', 'Hattie', true),
  ('Helen', 'Nell', true),
  ('Helen', 'Nellie', true),
  ('Henrietta', 'Etta', true),
  ('Henrietta', 'Hettie', true),
  ('Henry', 'Hal', true),
  ('Henry', 'Hank', true),
  ('Henry', 'Harry', true),
  ('Herbert', 'Bert', true),
  ('Herbert', 'Herb', true),
  ('Herbert', 'Herbie', true),
  ('Heriberto', 'Beto', true),
  ('Herminia', 'Mina', true),
  ('Hipólito', 'Polo', true),
  ('Hortensia', 'Tencha', true),
  ('Howard', 'Howie', true),
  ('Humberto', 'Beto', true),
  ('Ignacia', 'Nacha', true),
  ('Ignacio', 'Nacho', true),
  ('Ignatius', 'Iggy', true),
  ('Ildefonso', 'Poncho', true),
  ('Inmaculada', 'Inma', true),
  ('Irving', 'Irv', true),
  ('Isaac', 'Ike', true),
  ('Isabel', 'Chabela', true),
  ('Isabel', 'Chavela', true),
  ('Isabel', 'Isa', true),
  ('Isabel', 'Izzy', true),
  ('Isabella', 'Bella', true),
  ('Isabella', 'Isa', true),
  ('Isabella', 'Izzy', true),
  ('Isabelle', 'Belle', true),
  ('Isabelle', 'Izzy', true),
  ('Isidore', 'Izzy', true),
  ('Israel', 'Isra', true),
  ('Jack', 'Jackie', true),
  ('Jackson', 'Jack', true),
  ('Jacob', 'Jake', true),
  ('Jacqueline', 'Jackie', true),
  ('Jacqueline', 'Jacqui', true),
  ('Jacquelyn', 'Jackie', true),
  ('Jaime', 'James', true),
  ('Jaime', 'Jimmy', true),
  ('James', 'Jamie', true),
  ('James', 'Jim', true),
  ('James', 'Jimmie', true),
  ('James', 'Jimmy', true),
  ('Janet', 'Jan', true),
  ('Janice', 'Jan', true),
  ('Jasmine', 'Jaz', true),
  ('Jedediah', 'Jed', true),
  ('Jedidiah', 'Jed', true),
  ('Jefferson', 'Jeff', true),
  ('Jeffery', 'Jeff', true),
  ('Jeffrey', 'Jeff', true),
  ('Jen', 'Jenny', true),
  ('Jennifer', 'Jen', true),
  ('Jennifer', 'Jenn', true),
  ('Jennifer', 'Jennie', true),
  ('Jennifer', 'Jenny', true),
  ('Jeremiah', 'Jeremy', true),
  ('Jeremiah', 'Jerry', true),
  ('Jeremy', 'Jerry', true),
  ('Jerome', 'Jerry', true),
  ('Jess', 'Jessie', true),
  ('Jessica', 'Jess', true),
  ('Jessica', 'Jessie', true),
  ('Jesús', 'Chucho', true),
  ('Jesús', 'Chus', true),
  ('Jesús', 'Chuy', true),
  ('Jesús', 'Jesse', true),
  ('Jillian', 'Jill', true),
  ('Jim', 'Jimmy', true),
  ('Jimena', 'Jime', true),
  ('Joan', 'Joanie', true),
  ('Joanna', 'Jo', true),
  ('Joanna', 'Joanie', true),
  ('Joanne', 'Jo', true),
  ('Joaquín', 'Joaco', true),
  ('Joaquín', 'Quino', true),
  ('Joe', 'Joey', true),
  ('John', 'Jack', true),
  ('John', 'Johnny', true),
  ('Johnathan', 'Johnny', true),
  ('Johnathan', 'Jon', true),
  ('Jon', 'Jonny', true),
  ('Jonathan', 'Johnny', true),
  ('Jonathan', 'Jon', true),
  ('Jonathan', 'Jonny', true),
  ('Jonathon', 'Jon', true),
  ('Jonathon', 'Jonny', true),
  ('Jorge', 'Coque', true),
  ('Jorge', 'George', true),
  ('José', 'Cheo', true),
  ('José', 'Chepe', true),
  ('José', 'Joe', true),
  ('José', 'Joey', true),
  ('José', 'Joseph', true),
  ('José', 'Pepe', true),
  ('José', 'Pepito', true),
  ('José Manuel', 'Chema', true),
  ('José María', 'Chema', true),
  ('José María', 'Josema', true),
  ('Josefa', 'Chepa', true),
  ('Josefa', 'Pepa', true),
  ('Josefa', 'Pepita', true),
  ('Josefina', 'Fina', true),
  ('Josefina', 'Josephine', true),
  ('Josefina', 'Josie', true),
  ('Josefina', 'Pepita', true),
  ('Joseph', 'Joe', true),
  ('Joseph', 'Joey', true),
  ('Josephine', 'Jo', true),
  ('Josephine', 'Josie', true),
  ('Joshua', 'Josh', true),
  ('Juan', 'John', true),
  ('Juan', 'Johnny', true),
  ('Juan', 'Juanito', true),
  ('Juan Carlos', 'Juanca', true),
  ('Juan Francisco', 'Juanfran', true),
  ('Juan José', 'Juanjo', true),
  ('Juan Manuel', 'Juanma', true),
  ('Juan Miguel', 'Juanmi', true),
  ('Juan Pablo', 'Juampa', true),
  ('Juan Pablo', 'Juanpa', true),
  ('Juana', 'Juanita', true),
  ('Judith', 'Jude', true),
  ('Judith', 'Judy', true),
  ('Julia', 'Jules', true),
  ('Julia', 'Julie', true),
  ('Julian', 'Jules', true),
  ('Juliana', 'Juli', true),
  ('Juliana', 'Julie', true),
  ('Julius', 'Jules', true),
  ('Kate', 'Katie', true),
  ('Katelyn', 'Kate', true),
  ('Katelyn', 'Katie', true),
  ('Katharine', 'Kate', true),
  ('Katharine', 'Kathy', true),
  ('Katharine', 'Katie', true),
  ('Katherine', 'Kat', true),
  ('Katherine', 'Kate', true),
  ('Katherine', 'Kathie', true),
  ('Katherine', 'Kathy', true),
  ('Katherine', 'Katie', true),
  ('Katherine', 'Katy', true),
  ('Katherine', 'Kay', true),
  ('Katherine', 'Kit', true),
  ('Katherine', 'Kitty', true),
  ('Kathleen', 'Kat', true),
  ('Kathleen', 'Kate', true),
  ('Kathleen', 'Kathy', true),
  ('Kathleen', 'Katie', true),
  ('Kathryn', 'Kat', true),
  ('Kathryn', 'Kate', true),
  ('Kathryn', 'Kathy', true),
  ('Kathryn', 'Katie', true),
  ('Kathryn', 'Katy', true),
  ('Katrina', 'Kat', true),
  ('Katrina', 'Trina', true),
  ('Ken', 'Kenny', true),
  ('Kenneth', 'Ken', true),
  ('Kenneth', 'Kenny', true),
  ('Kim', 'Kimmy', true),
  ('Kimberley', 'Kim', true),
  ('Kimberly', 'Kim', true),
  ('Kimberly', 'Kimmy', true),
  ('Kristina', 'Kris', true),
  ('Kristina', 'Krissy', true),
  ('Kristina', 'Tina', true),
  ('Kristopher', 'Kris', true),
  ('Lancelot', 'Lance', true),
  ('Laura', 'Lau', true),
  ('Laura', 'Laurie', true),
  ('Laurence', 'Larry', true),
  ('Lawrence', 'Larry', true),
  ('Leonard', 'Len', true),
  ('Leonard', 'Lenny', true),
  ('Leonard', 'Leo', true),
  ('Leonardo', 'Leo', true),
  ('Leonardo', 'Nardo', true),
  ('Leopold', 'Leo', true),
  ('Leopoldo', 'Leo', true),
  ('Leopoldo', 'Polo', true),
  ('Lester', 'Les', true),
  ('Leticia', 'Leti', true),
  ('Leticia', 'Lety', true),
  ('Letitia', 'Letty', true),
  ('Letitia', 'Tish', true),
  ('Lewis', 'Lew', true),
  ('Lewis', 'Lou', true),
  ('Liliana', 'Lili', true),
  ('Liliana', 'Lily', true),
  ('Lillian', 'Lil', true),
  ('Lillian', 'Lillie', true),
  ('Lillian', 'Lilly', true),
  ('Lillian', 'Lily', true),
  ('Lincoln', 'Linc', true),
  ('Liz', 'Lizzie', true),
  ('Liz', 'Lizzy', true),
  ('Lola', 'Lolita', true),
  ('Lorena', 'Lore', true),
  ('Lorenzo', 'Lencho', true),
  ('Lou', 'Louie', true),
  ('Louis', 'Lou', true),
  ('Louis', 'Louie', true),
  ('Louisa', 'Lou', true),
  ('Louise', 'Lou', true),
  ('Louise', 'Lulu', true),
  ('Lourdes', 'Lulú', true),
  ('Lucas', 'Luke', true),
  ('Lucía', 'Luci', true),
  ('Lucía', 'Lucy', true),
  ('Luciana', 'Luci', true),
  ('Luciano', 'Chano', true),
  ('Lucille', 'Lucy', true),
  ('Lucinda', 'Cindy', true),
  ('Lucinda', 'Lucy', true),
  ('Luis', 'Louie', true),
  ('Luis', 'Louis', true),
  ('Luis', 'Lucho', true),
  ('Luis', 'Wicho', true),
  ('Lupe', 'Lupita', true),
  ('Macarena', 'Maca', true),
  ('Mackenzie', 'Kenzie', true),
  ('Madeleine', 'Maddie', true),
  ('Madeleine', 'Maddy', true),
  ('Madeline', 'Maddie', true),
  ('Madeline', 'Maddy', true),
  ('Madelyn', 'Maddie', true),
  ('Madelyn', 'Maddy', true),
  ('Madison', 'Maddie', true),
  ('Madison', 'Maddy', true),
  ('Madison', 'Madi', true),
  ('Magdalena', 'Magda', true),
  ('Magdalena', 'Malena', true),
  ('Manuel', 'Manny', true),
  ('Manuel', 'Manolo', true),
  ('Manuel', 'Manu', true),
  ('Manuela', 'Manoli', true),
  ('Manuela', 'Manu', true),
  ('Marcela', 'Chela', true),
  ('Marcela', 'Marce', true),
  ('Marcelo', 'Chelo', true),
  ('Margaret', 'Greta', true),
  ('Margaret', 'Madge', true),
  ('Margaret', 'Maggie', true),
  ('Margaret', 'Marge', true),
  ('Margaret', 'Margie', true),
  ('Margaret', 'Meg', true),
  ('Margaret', 'Peg', true),
  ('Margaret', 'Peggy', true),
  ('Margarita', 'Maggie', true),
  ('Margarita', 'Marga', true),
  ('Margarita', 'Margaret', true),
  ('Margarita', 'Rita', true),
  ('Marge', 'Margie', true),
  ('María', 'Mari', true),
  ('María', 'Mary', true),
  ('María de la Luz', 'Luz', true),
  ('María de los Ángeles', 'Ángeles', true),
  ('María de los Ángeles', 'Marián', true),
  ('María del Carmen', 'Carmen', true),
  ('María del Carmen', 'Mamen', true),
  ('María del Carmen', 'Mari Carmen', true),
  ('María del Carmen', 'Maricarmen', true),
  ('María del Pilar', 'Pilar', true),
  ('María del Pilar', 'Pili', true),
  ('María del Rosario', 'Charo', true),
  ('María del Rosario', 'Rosario', true),
  ('María Dolores', 'Lola', true),
  ('María Dolores', 'Mariló', true),
  ('María Elena', 'Malena', true),
  ('María Eugenia', 'Maru', true),
  ('María Fernanda', 'Mafer', true),
  ('María Fernanda', 'Marifer', true),
  ('María Guadalupe', 'Lupe', true),
  ('María Guadalupe', 'Lupita', true),
  ('María Isabel', 'Maribel', true),
  ('María Jesús', 'Chus', true),
  ('María José', 'Majo', true),
  ('María Luisa', 'Malú', true),
  ('María Luisa', 'Marisa', true),
  ('María Soledad', 'Marisol', true),
  ('María Soledad', 'Sole', true),
  ('María Teresa', 'Maite', true),
  ('María Teresa', 'Marité', true),
  ('María Teresa', 'Tere', true),
  ('María Victoria', 'Mariví', true),
  ('Mariana', 'Mari', true),
  ('Mariano', 'Chano', true),
  ('Maricela', 'Chela', true),
  ('Marisela', 'Chela', true),
  ('Marisol', 'Sol', true),
  ('Marjorie', 'Marge', true),
  ('Marjorie', 'Margie', true),
  ('Marjorie', 'Marj', true),
  ('Martha', 'Marty', true),
  ('Martha', 'Mattie', true),
  ('Martin', 'Marty', true),
  ('Martín', 'Tincho', true),
  ('Martina', 'Tina', true),
  ('Marvin', 'Marv', true),
  ('Mary', 'Mamie', true),
  ('Mary', 'Molly', true),
  ('Mary', 'Polly', true),
  ('Mathew', 'Matt', true),
  ('Mathilda', 'Tilly', true),
  ('Matías', 'Mati', true),
  ('Matilda', 'Mattie', true),
  ('Matilda', 'Tillie', true),
  ('Matilda', 'Tilly', true),
  ('Matilde', 'Mati', true),
  ('Matilde', 'Tilde', true),
  ('Matt', 'Matty', true),
  ('Matthew', 'Matt', true),
  ('Matthew', 'Matty', true),
  ('Matthias', 'Matt', true),
  ('Maurice', 'Mo', true),
  ('Maurice', 'Morrie', true),
  ('Mauricio', 'Mau', true),
  ('Mauricio', 'Mauri', true),
  ('Maximilian', 'Max', true),
  ('Maximiliano', 'Max', true),
  ('Maximiliano', 'Maxi', true),
  ('Máximo', 'Max', true),
  ('Maxwell', 'Max', true),
  ('McKenzie', 'Kenzie', true),
  ('Megan', 'Meg', true),
  ('Melanie', 'Mel', true),
  ('Melinda', 'Mel', true),
  ('Melinda', 'Mindy', true),
  ('Melissa', 'Lissa', true),
  ('Melissa', 'Mel', true),
  ('Melissa', 'Missy', true),
  ('Melvin', 'Mel', true),
  ('Mercedes', 'Mecha', true),
  ('Mercedes', 'Meche', true),
  ('Mercedes', 'Merche', true),
  ('Mercedes', 'Mercy', true),
  ('Mervyn', 'Merv', true),
  ('Micaela', 'Mica', true),
  ('Michael', 'Mick', true),
  ('Michael', 'Mickey', true),
  ('Michael', 'Mike', true),
  ('Michael', 'Mikey', true),
  ('Michelle', 'Shelley', true),
  ('Michelle', 'Shelly', true),
  ('Miguel', 'Michael', true),
  ('Miguel', 'Mike', true),
  ('Mike', 'Mikey', true),
  ('Milagros', 'Mili', true),
  ('Mildred', 'Millie', true),
  ('Millicent', 'Millie', true),
  ('Mitchell', 'Mitch', true),
  ('Moisés', 'Moy', true),
  ('Mónica', 'Moni', true),
  ('Montgomery', 'Monty', true),
  ('Montserrat', 'Montse', true),
  ('Mortimer', 'Mort', true),
  ('Mortimer', 'Morty', true),
  ('Natalia', 'Nati', true),
  ('Natalia', 'Naty', true),
  ('Natalie', 'Nat', true),
  ('Natasha', 'Nat', true),
  ('Natasha', 'Tasha', true),
  ('Nathan', 'Nat', true),
  ('Nathan', 'Nate', true),
  ('Nathaniel', 'Nat', true),
  ('Nathaniel', 'Nate', true),
  ('Nathaniel', 'Nathan', true),
  ('Natividad', 'Nati', true),
  ('Nell', 'Nellie', true),
  ('Newton', 'Newt', true),
  ('Nicholas', 'Nick', true),
  ('Nicholas', 'Nicky', true),
  ('Nicholas', 'Nico', true),
  ('Nick', 'Nicky', true),
  ('Nicolás', 'Nick', true),
  ('Nicolás', 'Nico', true),
  ('Nicole', 'Nicki', true),
  ('Nicole', 'Nikki', true),
  ('Norberto', 'Beto', true),
  ('Norman', 'Norm', true),
  ('Octavio', 'Tavo', true),
  ('Oliver', 'Ollie', true),
  ('Olivia', 'Liv', true),
  ('Olivia', 'Livvy', true),
  ('Olivia', 'Ollie', true),
  ('Oscar', 'Ozzie', true),
  ('Oswald', 'Oz', true),
  ('Oswald', 'Ozzie', true),
  ('Pablo', 'Paul', true),
  ('Paco', 'Paquito', true),
  ('Pam', 'Pammy', true),
  ('Pamela', 'Pam', true),
  ('Pamela', 'Pammy', true),
  ('Patricia', 'Pat', true),
  ('Patricia', 'Pati', true),
  ('Patricia', 'Patsy', true),
  ('Patricia', 'Patti', true),
  ('Patricia', 'Patty', true),
  ('Patricia', 'Paty', true),
  ('Patricia', 'Tricia', true),
  ('Patricia', 'Trish', true),
  ('Patricia', 'Trisha', true),
  ('Patricio', 'Pat', true),
  ('Patricio', 'Pato', true),
  ('Patricio', 'Patrick', true),
  ('Patrick', 'Paddy', true),
  ('Patrick', 'Pat', true),
  ('Paula', 'Pau', true),
  ('Paulina', 'Pau', true),
  ('Pedro', 'Pete', true),
  ('Pedro', 'Peter', true),
  ('Peg', 'Peggy', true),
  ('Penelope', 'Penny', true),
  ('Pepe', 'Pepito', true),
  ('Percival', 'Percy', true),
  ('Peter', 'Pete', true),
  ('Philip', 'Phil', true),
  ('Philippa', 'Pippa', true),
  ('Phillip', 'Phil', true),
  ('Pilar', 'Pili', true),
  ('Priscilla', 'Cilla', true),
  ('Prudence', 'Pru', true),
  ('Prudence', 'Prue', true),
  ('Purificación', 'Puri', true),
  ('Rafael', 'Rafa', true),
  ('Rafael', 'Rafi', true),
  ('Rafaela', 'Fela', true),
  ('Rafaela', 'Rafa', true),
  ('Raimundo', 'Mundo', true),
  ('Raimundo', 'Ray', true),
  ('Raimundo', 'Raymond', true),
  ('Ramón', 'Moncho', true),
  ('Ramona', 'Mona', true),
  ('Ramona', 'Moncha', true),
  ('Randall', 'Randy', true),
  ('Randolph', 'Randy', true),
  ('Raymond', 'Ray', true),
  ('Raymundo', 'Mundo', true),
  ('Raymundo', 'Ray', true),
  ('Raymundo', 'Raymond', true),
  ('Rebeca', 'Becky', true),
  ('Rebecca', 'Becca', true),
  ('Rebecca', 'Becky', true),
  ('Rebecca', 'Reba', true),
  ('Rebekah', 'Becca', true),
  ('Rebekah', 'Becky', true),
  ('Refugio', 'Cuca', true),
  ('Refugio', 'Cuco', true),
  ('Regina', 'Gina', true),
  ('Reginald', 'Reg', true),
  ('Reginald', 'Reggie', true),
  ('Reinaldo', 'Naldo', true),
  ('Reinaldo', 'Rey', true),
  ('Remedios', 'Reme', true),
  ('Reuben', 'Rube', true),
  ('Reynaldo', 'Naldo', true),
  ('Reynaldo', 'Rey', true),
  ('Ricardo', 'Richard', true),
  ('Ricardo', 'Rick', true),
  ('Ricardo', 'Ricky', true),
  ('Rich', 'Richie', true),
  ('Richard', 'Dick', true),
  ('Richard', 'Rich', true),
  ('Richard', 'Richie', true),
  ('Richard', 'Rick', true),
  ('Richard', 'Ricky', true),
  ('Rick', 'Ricky', true),
  ('Rigoberto', 'Beto', true),
  ('Rigoberto', 'Rigo', true),
  ('Rob', 'Robbie', true),
  ('Robert', 'Bob', true),
  ('Robert', 'Bobby', true),
  ('Robert', 'Rob', true),
  ('Robert', 'Robbie', true),
  ('Robert', 'Robby', true),
  ('Roberta', 'Bobbi', true),
  ('Roberta', 'Bobbie', true),
  ('Roberto', 'Beto', true),
  ('Roberto', 'Bobby', true),
  ('Roberto', 'Robert', true),
  ('Rocío', 'Chío', true),
  ('Roderick', 'Rod', true),
  ('Roderick', 'Roddy', true),
  ('Rodney', 'Rod', true),
  ('Rodolfo', 'Fito', true),
  ('Rodolfo', 'Rudy', true),
  ('Rodrigo', 'Rodri', true),
  ('Roger', 'Rog', true),
  ('Ron', 'Ronnie', true),
  ('Ronald', 'Ron', true),
  ('Ronald', 'Ronnie', true),
  ('Ronald', 'Ronny', true),
  ('Rosa', 'Rosie', true),
  ('Rosa', 'Rosita', true),
  ('Rosalie', 'Rosie', true),
  ('Rosario', 'Charo', true),
  ('Rosario', 'Chayo', true),
  ('Rose', 'Rosie', true),
  ('Rosemary', 'Rose', true),
  ('Rosemary', 'Rosie', true),
  ('Rosendo', 'Chendo', true),
  ('Roxanne', 'Roxie', true),
  ('Roxanne', 'Roxy', true),
  ('Rudolph', 'Rudy', true),
  ('Russell', 'Russ', true),
  ('Russell', 'Rusty', true),
  ('Ruth', 'Ruthie', true),
  ('Salvador', 'Chava', true),
  ('Salvador', 'Sal', true),
  ('Salvador', 'Salva', true),
  ('Salvatore', 'Sal', true),
  ('Sam', 'Sammy', true),
  ('Samantha', 'Sam', true),
  ('Samantha', 'Sammie', true),
  ('Samantha', 'Sammy', true),
  ('Samuel', 'Sam', true),
  ('Samuel', 'Sammy', true),
  ('Sandra', 'Sandy', true),
  ('Santiago', 'Chago', true),
  ('Santiago', 'Santi', true),
  ('Sarah', 'Sadie', true),
  ('Sarah', 'Sally', true),
  ('Sebastian', 'Seb', true),
  ('Sebastián', 'Sebas', true),
  ('Sergio', 'Checo', true),
  ('Sidney', 'Sid', true),
  ('Socorro', 'Coco', true),
  ('Sofía', 'Sofi', true),
  ('Soledad', 'Chole', true),
  ('Soledad', 'Sole', true),
  ('Solomon', 'Sol', true),
  ('Sophia', 'Sophie', true),
  ('Stanley', 'Stan', true),
  ('Stefanie', 'Steph', true),
  ('Stephanie', 'Steph', true),
  ('Stephanie', 'Stevie', true),
  ('Stephen', 'Steve', true),
  ('Stephen', 'Stevie', true),
  ('Steve', 'Stevie', true),
  ('Steven', 'Steve', true),
  ('Steven', 'Stevie', true),
  ('Stewart', 'Stu', true),
  ('Stuart', 'Stu', true),
  ('Sue', 'Susie', true),
  ('Susan', 'Sue', true),
  ('Susan', 'Susie', true),
  ('Susan', 'Suzy', true),
  ('Susana', 'Susan', true),
  ('Susana', 'Susi', true),
  ('Susana', 'Susie', true),
  ('Susanna', 'Sue', true),
  ('Susanna', 'Susie', true),
  ('Susannah', 'Sue', true),
  ('Susannah', 'Susie', true),
  ('Suzanne', 'Sue', true),
  ('Suzanne', 'Susie', true),
  ('Suzanne', 'Suzy', true),
  ('Sydney', 'Sid', true),
  ('Tabitha', 'Tabby', true),
  ('Tamara', 'Tammy', true),
  ('Tatiana', 'Tati', true),
  ('Ted', 'Teddy', true),
  ('Teodoro', 'Teo', true),
  ('Teófilo', 'Teo', true),
  ('Terence', 'Terry', true),
  ('Teresa', 'Tere', true),
  ('Teresa', 'Teresita', true),
  ('Teresa', 'Terri', true),
  ('Teresa', 'Terry', true),
  ('Teresa', 'Tess', true),
  ('Terrance', 'Terry', true),
  ('Terrence', 'Terry', true),
  ('Thaddeus', 'Tad', true),
  ('Thaddeus', 'Thad', true),
  ('Theodore', 'Ted', true),
  ('Theodore', 'Teddy', true),
  ('Theodore', 'Theo', true),
  ('Theresa', 'Terri', true),
  ('Theresa', 'Terry', true),
  ('Theresa', 'Tess', true),
  ('Theresa', 'Tessa', true),
  ('Theresa', 'Tessie', true),
  ('Thomas', 'Tom', true),
  ('Thomas', 'Tommy', true),
  ('Tiffany', 'Tiff', true),
  ('Tim', 'Timmy', true),
  ('Timoteo', 'Teo', true),
  ('Timothy', 'Tim', true),
  ('Timothy', 'Timmy', true),
  ('Tobias', 'Toby', true),
  ('Tom', 'Tommy', true),
  ('Tomás', 'Thomas', true),
  ('Tomás', 'Tom', true),
  ('Tomás', 'Tommy', true),
  ('Trinidad', 'Trini', true),
  ('Tyler', 'Ty', true),
  ('Tyrone', 'Ty', true),
  ('Valentín', 'Vale', true),
  ('Valentina', 'Vale', true),
  ('Valentine', 'Val', true),
  ('Valeria', 'Vale', true),
  ('Valerie', 'Val', true),
  ('Vanessa', 'Nessa', true),
  ('Vernon', 'Vern', true),
  ('Veronica', 'Roni', true),
  ('Veronica', 'Ronnie', true),
  ('Verónica', 'Vero', true),
  ('Vicente', 'Chente', true),
  ('Vicente', 'Vince', true),
  ('Vicente', 'Vincent', true),
  ('Victor', 'Vic', true),
  ('Victoria', 'Tori', true),
  ('Victoria', 'Vicki', true),
  ('Victoria', 'Vickie', true),
  ('Victoria', 'Vicky', true),
  ('Vince', 'Vinny', true),
  ('Vincent', 'Vince', true),
  ('Vincent', 'Vinnie', true),
  ('Vincent', 'Vinny', true),
  ('Violet', 'Vi', true),
  ('Virginia', 'Ginger', true),
  ('Virginia', 'Ginny', true),
  ('Vivian', 'Viv', true),
  ('Wallace', 'Wally', true),
  ('Walter', 'Wally', true),
  ('Walter', 'Walt', true),
  ('Wenceslao', 'Wences', true),
  ('Wesley', 'Wes', true),
  ('Wilfredo', 'Willy', true),
  ('Will', 'Willie', true),
  ('William', 'Bill', true),
  ('William', 'Billy', true),
  ('William', 'Liam', true),
  ('William', 'Will', true),
  ('William', 'Willie', true),
  ('William', 'Willy', true),
  ('Winifred', 'Winnie', true),
  ('Woodrow', 'Woody', true),
  ('Ximena', 'Xime', true),
  ('Yolanda', 'Yoli', true),
  ('Yolanda', 'Yoly', true),
  ('Zachariah', 'Zach', true),
  ('Zachariah', 'Zack', true),
  ('Zachary', 'Zac', true),
  ('Zachary', 'Zach', true),
  ('Zachary', 'Zack', true),
  ('Zackary', 'Zach', true),
  ('Zackary', 'Zack', true)
ON CONFLICT (name, variant) DO NOTHING;
-- END shipped nicknames

-- The best suggestion of each partial, no_match and link_broken row of a
-- real run, and the score of the next one (NULL: none), which tells
-- whether it stands alone.
ALTER TABLE sync_log
  ADD COLUMN suggestion_dn text,
  ADD COLUMN suggestion_user_id text,
  ADD COLUMN suggestion_score real,
  ADD COLUMN suggestion_reasons text[],
  ADD COLUMN suggestion_next_score real;

-- The entries that could be a record, best first: score in [0, 1] (1 is
-- an exact match), and its reasons (exact, case_accents, nickname,
-- preferred_name, surname_part, suffix, swapped, middle_name, initial,
-- typo_first, typo_last, same_id; linked_elsewhere and uid_taken lower
-- the score).
CREATE FUNCTION ldap_suggest(record_type text, dcid bigint,
                             max_results integer DEFAULT 5)
RETURNS TABLE (rank integer, dn text, first_name text, last_name text,
               user_id text, score real, reasons text[])
AS 'MODULE_PATHNAME', 'pssync_ldap_suggest'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 5;
COMMENT ON FUNCTION ldap_suggest(text, bigint, integer) IS
  'the directory entries that could be a record, ranked, with the reasons';

-- The statement that resolves a partial, no_match or link_broken row of
-- last_exceptions: the assignment of its best suggestion when that is
-- strong (0.9 or more) and alone (no other within 0.05 of it), else the
-- suggestions; NULL for the other rows.  Where there is more than one
-- pssync server, it first chooses the run's, as resolve_statement does.
CREATE FUNCTION suggestion_statement(server text, uid_attr text, status text,
                                     record_type text, dcid bigint,
                                     suggestion_dn text, suggestion_score real,
                                     suggestion_next_score real)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $$
  SELECT CASE WHEN statement IS NULL THEN NULL
              WHEN servers > 1
              THEN pg_catalog.format('BEGIN; SET LOCAL pssync.server = %L; %s COMMIT;',
                                     server, statement)
              ELSE statement
         END
    FROM (SELECT (SELECT count(*)
                    FROM pg_catalog.pg_foreign_server s
                    JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
                   WHERE w.fdwname = 'pssync') AS servers,
         CASE
           WHEN status NOT IN ('partial', 'no_match', 'link_broken') THEN NULL
           WHEN suggestion_dn IS NOT NULL
                AND pg_catalog.round(suggestion_score::numeric, 3) >= 0.9
                AND (suggestion_next_score IS NULL
                     OR pg_catalog.round(suggestion_score::numeric, 3)
                        - pg_catalog.round(suggestion_next_score::numeric, 3) > 0.05) THEN
             pg_catalog.format('SELECT * FROM pssync.ldap_assign(%L, %s, %L, uid_attr => %L);',
                               record_type, dcid, suggestion_dn, uid_attr)
           ELSE
             pg_catalog.format('SELECT * FROM pssync.ldap_suggest(%L, %s);',
                               record_type, dcid)
         END AS statement) s
$$;
COMMENT ON FUNCTION suggestion_statement(text, text, text, text, bigint, text, real, real) IS
  'the statement that resolves a partial, no_match or link_broken row of pssync.last_exceptions';

-- last_exceptions shows the best suggestion, and resolves with it; it
-- leaves out the changes to the exclusions and excluded records.
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
       coalesce(@extschema@.suggestion_statement(r.server::text, r.uid_attr, l.status,
                                                 l.record_type, l.dcid, l.suggestion_dn,
                                                 l.suggestion_score, l.suggestion_next_score),
                @extschema@.resolve_statement(r.server::text, r.powerschool_table, r.uid_attr,
                                              l.status, l.record_type, l.dcid, l.first_name,
                                              l.last_name, l.field, l.new_username,
                                              l.candidates, l.candidate_count))
         COLLATE pg_catalog."default" AS resolve_sql,
       l.suggestion_dn, l.suggestion_user_id, l.suggestion_score, l.suggestion_reasons
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
  last_key text,                -- the key of its last name (names.c); NULL
                                -- when matched through its link
  id_key text,                  -- the key of its ID (the same)
  entry_id text,                -- the permanent ID of the entry it matched
  usernames text[],             -- its usernames
  user_ids text[],              -- the directory's user IDs it was matched to
  conflicts text[],             -- per username (as usernames), the user ID its
                                -- check wanted and could not have (a conflict);
                                -- NULL when it has none
  variant boolean NOT NULL DEFAULT false,  -- matched to a variant of its names
                                         -- (pssync.accept_variants), not through
                                         -- a link
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
CREATE INDEX record_state_conflicts ON record_state (server, record_group)
  WHERE conflicts IS NOT NULL;
CREATE INDEX record_state_unmatched ON record_state (server, record_group)
  WHERE entry_id IS NULL OR variant;
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
-- last_error can hold a bind DN and the directory's diagnostics: for
-- monitoring roles, not for everyone
REVOKE EXECUTE ON FUNCTION worker_info() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION worker_info() TO pg_monitor;
REVOKE ALL ON worker_status FROM PUBLIC;
GRANT SELECT ON worker_status TO pg_monitor;
COMMENT ON VIEW worker_status IS 'pssync: the background worker, as it is now';
