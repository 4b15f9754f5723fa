--
-- directory_errors: a directory that cannot be reached, refuses the bind,
-- or rejects a search is an ERROR with a fitting SQLSTATE, the server's
-- name, and for a bind the DN; never the password.  Nothing is written.
--
\getenv ldap_password PSSYNC_LDAP_PASSWORD

-- Nothing listens: 08001.
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri 'ldap://127.0.0.1:1');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students')$$);
ROLLBACK;

-- The next URI is tried when the first cannot be reached.
\getenv ldap_uri PSSYNC_LDAP_URI
\set two_uris 'ldap://127.0.0.1:1 ' :ldap_uri
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'two_uris');
SELECT status, count(*) FROM pssync.ldap_sync_district('students') GROUP BY 1 ORDER BY 1;
ROLLBACK;

-- A host name that does not resolve.
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri 'ldap://no-such-host.invalid');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students')$$);
ROLLBACK;

-- A wrong password: 28000, naming the DN, never the password.
BEGIN;
ALTER USER MAPPING FOR PUBLIC SERVER district_ldap OPTIONS (SET password 'wrong-Pa55word');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students')$$);
SELECT regress.full_error_of($$SELECT pssync.ldap_sync_district('students')$$) LIKE '%wrong-Pa55word%' AS shows_password;
ROLLBACK;

-- An unknown bind DN.
BEGIN;
ALTER USER MAPPING FOR PUBLIC SERVER district_ldap OPTIONS (SET bind_dn 'cn=nobody,dc=district,dc=org');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('staff')$$);
SELECT regress.full_error_of($$SELECT pssync.ldap_sync_district('staff')$$) LIKE '%' || :'ldap_password' || '%' AS shows_password;
ROLLBACK;

-- A bind DN without a password would be an unauthenticated bind, which
-- directories treat as anonymous or refuse: it is refused before
-- connecting, and an empty password is not accepted at all.
BEGIN;
ALTER USER MAPPING FOR PUBLIC SERVER district_ldap OPTIONS (DROP password);
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('staff')$$);
ALTER USER MAPPING FOR PUBLIC SERVER district_ldap OPTIONS (ADD password '');
ROLLBACK;

-- Without a user mapping the bind is anonymous, which this directory
-- allows for searches.
BEGIN;
DROP USER MAPPING FOR PUBLIC SERVER district_ldap;
SELECT status, count(*) FROM pssync.ldap_sync_district('staff', dry_run => true) GROUP BY 1 ORDER BY 1;
ROLLBACK;

-- A base DN the directory does not hold.
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Pupils,dc=district,dc=org');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students')$$);
ROLLBACK;

-- StartTLS on a directory that does not offer TLS (the second test
-- server) ...
\getenv remote_uri PSSYNC_REMOTE_URI
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'remote_uri', ADD starttls 'true');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students')$$);
ROLLBACK;

-- ... and on one that does, without a ca_file that trusts its certificate.
BEGIN;
ALTER SERVER district_ldap OPTIONS (ADD starttls 'true');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students')$$);
ROLLBACK;

-- A failed sync left the usernames as they were.
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;

-- PowerSchool's tables are found through search_path, or the settings.
SET pssync.students_table = 'no_such_table';
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students')$$);
SET pssync.students_table = 'public.students';
SELECT count(*) > 0 AS found FROM pssync.ldap_sync_district('students', dry_run => true);
RESET pssync.students_table;
BEGIN;
CREATE SCHEMA ps;
ALTER TABLE users SET SCHEMA ps;
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('staff')$$);
SET LOCAL search_path = ps, public;
SELECT count(*) > 0 AS found FROM pssync.ldap_sync_district('staff', dry_run => true);
ROLLBACK;
BEGIN;
CREATE TABLE students_copy (dcid bigint, first_name text, last_name text);
SET LOCAL pssync.students_table = 'students_copy';
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students')$$);
ROLLBACK;
