--
-- upgrade: version 1.0 updated to 1.1 keeps its servers, user mappings
-- and everything else, and ends up with the same objects as a fresh 1.1.
--
SELECT pg_describe_object(classid, objid, objsubid) AS object
  INTO TEMP fresh_objects
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pssync')
   AND deptype = 'e';

BEGIN;
-- Install 1.0 as it was, with a server and a user mapping.
DROP EXTENSION pssync CASCADE;
CREATE EXTENSION pssync VERSION '1.0';
\getenv ldap_uri PSSYNC_LDAP_URI
\getenv ldap_password PSSYNC_LDAP_PASSWORD
CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'ldap_uri', base_dn 'dc=district,dc=org',
           student_base_dn 'ou=Students,dc=district,dc=org',
           staff_base_dn 'ou=Staff,dc=district,dc=org');
CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org', password :'ldap_password');
CREATE VIEW tonight AS SELECT dcid FROM students WHERE dcid IN (1002, 1017);
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
SELECT dcid, student_web_id FROM students WHERE dcid IN (1002, 1017) ORDER BY dcid;

-- 1.1 returns matched_by, and records its runs.
SELECT * FROM pssync.ldap_sync_students('tonight');
SELECT function, selection, records, unchanged FROM pssync.sync_run;

-- The same objects as a fresh install.
SELECT pg_describe_object(classid, objid, objsubid) AS object
  INTO TEMP updated_objects
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pssync')
   AND deptype = 'e';
(SELECT 'only in a fresh install' AS difference, object FROM fresh_objects
 EXCEPT SELECT 'only in a fresh install', object FROM updated_objects)
UNION ALL
(SELECT 'only after the update', object FROM updated_objects
 EXCEPT SELECT 'only after the update', object FROM fresh_objects)
ORDER BY 1, 2;
SELECT count(*) AS objects FROM updated_objects;
-- and the same result type
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'pssync.sync_result'::regclass AND attnum > 0 ORDER BY attnum;
ROLLBACK;
