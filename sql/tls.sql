--
-- tls: ldaps:// and StartTLS, with the server's certificate checked
-- against ca_file and against the host name of the URI.
--
-- The test script made a throwaway CA and a server certificate it signed
-- for this machine's host names (not for 127.0.0.1), and another CA that
-- signed nothing here; slapd speaks ldaps:// on one port and StartTLS on
-- its ldap:// port.
--
\getenv ldaps_uri PSSYNC_LDAPS_URI
\getenv ldaps_ip_uri PSSYNC_LDAPS_IP_URI
\getenv starttls_uri PSSYNC_STARTTLS_URI
\getenv ca_file PSSYNC_CA_FILE
\getenv other_ca_file PSSYNC_OTHER_CA_FILE

-- ldaps:// with the district's CA.
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'ldaps_uri', ADD ca_file :'ca_file');
SELECT status, count(*) FROM pssync.ldap_sync_district('students', dry_run => true)
 GROUP BY status ORDER BY status;
ROLLBACK;

-- StartTLS on ldap://.
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'starttls_uri', ADD starttls 'true', ADD ca_file :'ca_file');
SELECT status, count(*) FROM pssync.ldap_sync_district('staff', dry_run => true)
 GROUP BY status ORDER BY status;
ROLLBACK;

-- A certificate that does not chain to ca_file is refused, on either.
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'ldaps_uri', ADD ca_file :'other_ca_file');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students', dry_run => true)$$);
ROLLBACK;
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'starttls_uri', ADD starttls 'true', ADD ca_file :'other_ca_file');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students', dry_run => true)$$);
ROLLBACK;

-- Without ca_file, libldap's default trust (the system's CAs) does not
-- know the test CA either.
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'ldaps_uri');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students', dry_run => true)$$);
ROLLBACK;

-- The certificate names host names: connecting by IP address fails the
-- host name check, even with the right CA.
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'ldaps_ip_uri', ADD ca_file :'ca_file');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students', dry_run => true)$$);
ROLLBACK;

-- A CA file that cannot be read.
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'ldaps_uri', ADD ca_file '/nonexistent/district-ca.pem');
SELECT regress.error_of($$SELECT pssync.ldap_sync_district('students', dry_run => true)$$);
ROLLBACK;

-- Nothing was written by any of it.
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;
