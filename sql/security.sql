--
-- security: what pssync promises a district about secrets and privileges.
--

-- The functions belong to the extension and run as the caller
-- (SECURITY INVOKER); none of them is SECURITY DEFINER.
SELECT p.proname, p.prosecdef, pg_get_userbyid(p.proowner) = current_user AS owned_by_installer,
       d.deptype
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
 WHERE e.extname = 'pssync'
 ORDER BY p.proname;

-- The password is kept as postgres_fdw keeps it: pg_user_mappings shows a
-- mapping's options only to its own user (and to the server's owner).
CREATE ROLE regress_clerk;
CREATE ROLE regress_principal;
GRANT USAGE ON SCHEMA pssync, regress TO regress_clerk, regress_principal;
GRANT USAGE ON FOREIGN SERVER district_ldap TO regress_principal;
GRANT SELECT ON students, users, schoolstaff, schools TO regress_clerk, regress_principal;
GRANT UPDATE (student_web_id) ON students TO regress_principal;
SET ROLE regress_clerk;
SELECT srvname, usename, umoptions FROM pg_user_mappings WHERE srvname = 'district_ldap';
SELECT count(*) AS readable FROM pg_user_mapping;
RESET ROLE;

-- Row-level security applies: a principal who sees one school syncs only
-- that school's students.
ALTER TABLE students ENABLE ROW LEVEL SECURITY;
CREATE POLICY lincoln_only ON students TO regress_principal USING (schoolid = 100);
SET ROLE regress_principal;
BEGIN;
SELECT status, count(*), min(dcid), max(dcid)
  FROM pssync.ldap_sync_students('students') GROUP BY status ORDER BY status;
ROLLBACK;
-- ... and its real run wrote only rows it may see.
RESET ROLE;
CREATE TEMP TABLE before_sync AS SELECT dcid, student_web_id FROM students;
SET ROLE regress_principal;
BEGIN;
SELECT count(*) AS updated FROM pssync.ldap_sync_students('students') WHERE status = 'updated';
RESET ROLE;
SELECT s.schoolid, count(*) FILTER (WHERE s.student_web_id IS DISTINCT FROM b.student_web_id) AS changed
  FROM students s JOIN before_sync b USING (dcid)
 GROUP BY s.schoolid ORDER BY s.schoolid;
ROLLBACK;
RESET ROLE;
DROP POLICY lincoln_only ON students;
ALTER TABLE students DISABLE ROW LEVEL SECURITY;

-- Objects in the caller's schemas cannot stand in for what pssync uses:
-- every statement names PowerSchool's tables by schema and uses
-- pg_catalog's operators and functions.  (The tables and the selection
-- are the caller's to name, through search_path or pssync.*_table.)
CREATE TEMP TABLE normal_students AS
SELECT * FROM pssync.ldap_sync_students('students', dry_run => true);
CREATE TEMP TABLE normal_staff AS
SELECT * FROM pssync.ldap_sync_staff('users', dry_run => true);
CREATE SCHEMA evil;
CREATE FUNCTION evil.always(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.always);
CREATE FUNCTION evil.always_text(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.always_text);
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql AS 'SELECT NULL';
CREATE FUNCTION evil.text(bigint) RETURNS text LANGUAGE sql AS $$SELECT 'x'$$;
CREATE VIEW evil.tonight AS SELECT dcid FROM public.students WHERE dcid IN (1002, 1004);
SET search_path = evil, pg_catalog, public;
SELECT (SELECT count(*) FROM (SELECT * FROM pssync.ldap_sync_students('public.students', dry_run => true)
                              EXCEPT SELECT * FROM normal_students) d) AS students_differ,
       (SELECT count(*) FROM (SELECT * FROM pssync.ldap_sync_staff('public.users', dry_run => true)
                              EXCEPT SELECT * FROM normal_staff) d) AS staff_differ;
BEGIN;
SELECT status, dcid, new_username FROM pssync.ldap_sync_students('tonight');
RESET search_path;
SELECT dcid, student_web_id FROM public.students WHERE student_web_id IN ('jsmith', 'jdoe') ORDER BY dcid;
ROLLBACK;
DROP SCHEMA evil CASCADE;

-- A server's account is used only by roles with USAGE on the server, as
-- with dblink and postgres_fdw: pssync.server is any role's to set, and
-- the PUBLIC user mapping would otherwise be everyone's.  The clerk may
-- read the tables but has no USAGE: a sync, ldap_lookup and ldap_assign
-- are refused with 42501, naming the server.
SET ROLE regress_clerk;
SELECT regress.full_error_of($$SELECT pssync.ldap_sync_students('students', dry_run => true)$$);
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('staff', dry_run => true)$$);
SELECT regress.error_of($$SELECT pssync.ldap_lookup('Jones')$$);
SELECT regress.error_of($$SELECT pssync.ldap_assign('student', 1006, 'uid=kjones,ou=Students,dc=district,dc=org', dry_run => true)$$);
-- ... also when pssync.server names the server
SET pssync.server = 'district_ldap';
SELECT regress.error_of($$SELECT pssync.ldap_lookup('Jones')$$);
RESET pssync.server;
RESET ROLE;
-- USAGE granted: the clerk may run dry runs and look entries up.
GRANT USAGE ON FOREIGN SERVER district_ldap TO regress_clerk;
SET ROLE regress_clerk;
SELECT count(*) > 0 AS looked_up FROM pssync.ldap_lookup('Jones');
SELECT count(*) > 0 AS synced FROM pssync.ldap_sync_students('students', dry_run => true);
RESET ROLE;
REVOKE USAGE ON FOREIGN SERVER district_ldap FROM regress_clerk;

-- The history is an audit trail: only a superuser may turn it off ...
SET ROLE regress_principal;
SET pssync.history = off;
SHOW pssync.history;
RESET ROLE;
-- ... or a role it was delegated to with GRANT SET ON PARAMETER.
GRANT SET ON PARAMETER pssync.history TO regress_principal;
SET ROLE regress_principal;
SET pssync.history = off;
SHOW pssync.history;
RESET pssync.history;
RESET ROLE;
REVOKE SET ON PARAMETER pssync.history FROM regress_principal;

-- The worker's status (its last error can hold a bind DN and the
-- directory's diagnostics) is for monitoring roles: pg_monitor, not PUBLIC.
SELECT has_function_privilege('regress_clerk', 'pssync.worker_info()', 'EXECUTE') AS clerk_runs_worker_info,
       has_table_privilege('regress_clerk', 'pssync.worker_status', 'SELECT') AS clerk_reads_worker_status,
       has_function_privilege('pg_monitor', 'pssync.worker_info()', 'EXECUTE') AS monitor_runs_worker_info,
       has_table_privilege('pg_monitor', 'pssync.worker_status', 'SELECT') AS monitor_reads_worker_status;
SET ROLE regress_clerk;
SELECT count(*) FROM pssync.worker_status;
RESET ROLE;
GRANT pg_monitor TO regress_clerk;
SET ROLE regress_clerk;
SELECT count(*) >= 0 AS monitor_reads FROM pssync.worker_status;
RESET ROLE;
REVOKE pg_monitor FROM regress_clerk;

REVOKE ALL ON students, users, schoolstaff, schools FROM regress_clerk, regress_principal;
REVOKE ALL ON SCHEMA pssync, regress FROM regress_clerk, regress_principal;
REVOKE ALL ON FOREIGN SERVER district_ldap FROM regress_principal;
DROP ROLE regress_clerk;
DROP ROLE regress_principal;
