--
-- upgrade: each version updated to the next keeps its servers, user
-- mappings, history and everything else, and ends up with the same
-- catalog as a fresh install of the newest: every object, and every
-- definition of it (regress.extension_catalog()).
--
\set ECHO none
\i test/fixtures/extension_catalog.sql
\set ECHO all
SELECT extversion FROM pg_extension WHERE extname = 'pssync';
CREATE TEMP TABLE fresh AS SELECT * FROM regress.extension_catalog();
SELECT count(*) > 100 AS catalog_read FROM fresh;
CREATE TEMP TABLE fresh_nicknames AS SELECT name, variant, shipped FROM pssync.nicknames;

\getenv ldap_uri PSSYNC_LDAP_URI
\getenv ldap_password PSSYNC_LDAP_PASSWORD
CREATE FUNCTION regress.compare_with_fresh() RETURNS TABLE (difference text, object text, definition text)
LANGUAGE sql AS $$
  (SELECT 'only in a fresh install', * FROM fresh
   EXCEPT SELECT 'only in a fresh install', * FROM regress.extension_catalog())
  UNION ALL
  (SELECT 'only after the update', * FROM regress.extension_catalog()
   EXCEPT SELECT 'only after the update', * FROM fresh)
  ORDER BY 1, 2
$$;

BEGIN;
-- Install 1.0 as it was, with a server and a user mapping.
DROP EXTENSION pssync CASCADE;
CREATE EXTENSION pssync VERSION '1.0';
CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'ldap_uri', base_dn 'dc=district,dc=org',
           student_base_dn 'ou=Students,dc=district,dc=org',
           staff_base_dn 'ou=Staff,dc=district,dc=org');
CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org', password :'ldap_password');
CREATE VIEW tonight AS SELECT dcid FROM students WHERE dcid IN (1002, 1010, 1017);
SELECT extversion FROM pg_extension WHERE extname = 'pssync';

-- 1.0 returns 11 columns and keeps no history.
SELECT * FROM pssync.ldap_sync_students('tonight', dry_run => true);
SELECT count(*) FROM pssync.ldap_sync_students('tonight');

ALTER EXTENSION pssync UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'pssync';
-- The server, its options and the user mapping are still there.
SELECT srvname, array(SELECT split_part(o, '=', 1) FROM unnest(srvoptions) o) AS options
  FROM pg_foreign_server WHERE srvname = 'district_ldap';
SELECT umuser = 0 AS for_public, umoptions IS NOT NULL AS has_options
  FROM pg_user_mapping JOIN pg_foreign_server s ON s.oid = umserver;
-- so are the usernames the 1.0 sync wrote
SELECT dcid, student_web_id FROM students WHERE dcid IN (1002, 1010, 1017) ORDER BY dcid;
-- 1.1 returns matched_by (with the library of a later version, too), and
-- records its runs.
SELECT * FROM pssync.ldap_sync_students('tonight');
SELECT function, selection, records, unchanged, conflict FROM pssync.sync_run;

ALTER EXTENSION pssync UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'pssync';
-- 1.2 returns candidate_count, and keeps the history of 1.1.
SELECT status, dcid, candidate_count FROM pssync.ldap_sync_students('tonight');
SELECT function, selection, records, unchanged, conflict, powerschool_table
  FROM pssync.sync_run ORDER BY run_id;
SELECT status, dcid, resolve_sql FROM pssync.last_exceptions;

ALTER EXTENSION pssync UPDATE TO '2.0';
SELECT extversion FROM pg_extension WHERE extname = 'pssync';
-- 2.0 links the records its real runs match, and keeps the history.
SELECT status, dcid, matched_by FROM pssync.ldap_sync_students('tonight');
SELECT status, dcid, matched_by FROM pssync.ldap_sync_students('tonight');
SELECT record_type, dcid, dn, linked_by, run_id = (SELECT max(run_id) FROM pssync.sync_run) AS latest
  FROM pssync.links ORDER BY dcid;
SELECT count(*) AS runs FROM pssync.sync_run;

ALTER EXTENSION pssync UPDATE TO '2.1';
SELECT extversion FROM pg_extension WHERE extname = 'pssync';
-- 2.1 keeps the history and the links of 2.0, ships the same nicknames
-- as a fresh install, and keeps suggestions in the history of its runs.
SELECT count(*) AS runs FROM pssync.sync_run;
SELECT count(*) AS links FROM pssync.record_links;
SELECT (SELECT count(*) FROM (TABLE fresh_nicknames EXCEPT
                              SELECT name, variant, shipped FROM pssync.nicknames) d) AS only_fresh,
       (SELECT count(*) FROM (SELECT name, variant, shipped FROM pssync.nicknames
                              EXCEPT TABLE fresh_nicknames) d) AS only_updated;
SELECT dcid, status, suggestion_dn FROM pssync.sync_log
 WHERE run_id = (SELECT min(run_id) FROM pssync.sync_run) ORDER BY dcid;
UPDATE students SET last_name = 'Browne' WHERE dcid = 1010;
CREATE VIEW tonight_2 AS SELECT dcid FROM students WHERE dcid = 1010;
SELECT status, dcid FROM pssync.ldap_sync_students('tonight_2');
SELECT dcid, status, suggestion_dn, suggestion_score, suggestion_reasons FROM pssync.sync_log
 WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run) ORDER BY dcid;
SELECT dcid, status, resolve_sql FROM pssync.last_exceptions WHERE selection = 'tonight_2';


-- The same catalog as a fresh install.
SELECT * FROM regress.compare_with_fresh();
ROLLBACK;

-- The same from 1.1, from 1.2 and from 2.0.
BEGIN;
DROP EXTENSION pssync CASCADE;
CREATE EXTENSION pssync VERSION '1.1';
ALTER EXTENSION pssync UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pssync';
SELECT * FROM regress.compare_with_fresh();
ROLLBACK;
BEGIN;
DROP EXTENSION pssync CASCADE;
CREATE EXTENSION pssync VERSION '1.2';
ALTER EXTENSION pssync UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pssync';
SELECT * FROM regress.compare_with_fresh();
ROLLBACK;

BEGIN;
DROP EXTENSION pssync CASCADE;
CREATE EXTENSION pssync VERSION '2.0';
ALTER EXTENSION pssync UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pssync';
SELECT * FROM regress.compare_with_fresh();
ROLLBACK;

-- Each released version is also the same whichever way it was reached: a
-- fresh 1.2 and 1.0 -> 1.1 -> 1.2 give the same catalog, and a fresh 2.0
-- and 1.0 -> 1.1 -> 1.2 -> 2.0.
CREATE FUNCTION regress.compare_chain(version text) RETURNS TABLE (difference text, object text, definition text)
LANGUAGE plpgsql AS $$
BEGIN
  DROP EXTENSION pssync CASCADE;
  EXECUTE format('CREATE EXTENSION pssync VERSION %L', version);
  CREATE TEMP TABLE fresh_version AS SELECT * FROM regress.extension_catalog();
  DROP EXTENSION pssync CASCADE;
  CREATE EXTENSION pssync VERSION '1.0';
  EXECUTE format('ALTER EXTENSION pssync UPDATE TO %L', version);
  RETURN QUERY
    (SELECT 'only in a fresh ' || version, * FROM fresh_version
     EXCEPT SELECT 'only in a fresh ' || version, * FROM regress.extension_catalog())
    UNION ALL
    (SELECT 'only after 1.0 updated to ' || version, * FROM regress.extension_catalog()
     EXCEPT SELECT 'only after 1.0 updated to ' || version, * FROM fresh_version)
    ORDER BY 1, 2;
  DROP TABLE fresh_version;
END
$$;
BEGIN;
SELECT * FROM regress.compare_chain('1.2');
ROLLBACK;
BEGIN;
SELECT * FROM regress.compare_chain('2.0');
ROLLBACK;
DROP FUNCTION regress.compare_chain(text);

DROP FUNCTION regress.compare_with_fresh();
DROP FUNCTION regress.extension_catalog();
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;
