--
-- failover: the server's uri option lists the district's directory
-- servers (domain controllers) in order.  pssync uses the first where it
-- can connect, complete TLS and bind within the server's timeout; a server
-- that cannot be reached, that accepts the connection and then stalls or
-- fails in the TLS handshake, or that does not answer the bind, sends it
-- to the next.  A bind the directory refuses (bad credentials) is an
-- error at once: another server would refuse it too.  When no URI can be
-- used, the error says what happened at each.
--
\getenv ldap_uri PSSYNC_LDAP_URI
\getenv ldaps_uri PSSYNC_LDAPS_URI
\getenv ldaps_ip_uri PSSYNC_LDAPS_IP_URI
\getenv remote_uri PSSYNC_REMOTE_URI
\getenv ca_file PSSYNC_CA_FILE
\getenv hung_port PSSYNC_HUNG_PORT
\set hung_uri 'ldap://127.0.0.1:' :hung_port
\set hung_ldaps_uri 'ldaps://localhost:' :hung_port

-- A server that accepts the connection and never answers the bind.
\set uris :hung_uri ' ' :ldap_uri
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'uris', ADD timeout '1');
SELECT status, count(*) FROM pssync.ldap_sync_district('students', dry_run => true)
 GROUP BY status ORDER BY status;
ROLLBACK;

-- A server that never answers the TLS handshake.
\set uris :hung_ldaps_uri ' ' :ldaps_uri
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'uris', ADD timeout '1', ADD ca_file :'ca_file');
SELECT count(*) FROM pssync.ldap_lookup('Jones');
ROLLBACK;

-- A server whose certificate fails the check (it names the host, not the
-- address the URI gives).
\set uris :ldaps_ip_uri ' ' :ldaps_uri
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'uris', ADD ca_file :'ca_file');
SELECT count(*) FROM pssync.ldap_lookup('Jones');
ROLLBACK;

-- A bind refused for bad credentials is an error, not a reason to try
-- the next server (the second test server does not know the account).
\getenv remote_uri PSSYNC_REMOTE_URI
\set uris :remote_uri ' ' :ldap_uri
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'uris');
SELECT regress.error_of($$SELECT pssync.ldap_lookup('Jones')$$);
ROLLBACK;

-- No URI can be used: the error names what happened at each (the ports
-- and timings vary, so they are replaced here).
\set uris 'ldap://127.0.0.1:1 ' :hung_uri
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'uris', ADD timeout '1');
SELECT regexp_replace(regress.full_error_of($$SELECT pssync.ldap_lookup('Jones')$$),
                      '127\.0\.0\.1:[0-9]+', '127.0.0.1:PORT', 'g') AS error;
ROLLBACK;
\set uris :hung_ldaps_uri ' ' :ldaps_ip_uri
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET uri :'uris', ADD timeout '1', ADD ca_file :'ca_file');
SELECT regexp_replace(regexp_replace(regress.full_error_of($$SELECT pssync.ldap_lookup('Jones')$$),
                      '(localhost|127\.0\.0\.1):[0-9]+', '\1:PORT', 'g'),
                      'TLS handshake failed: [^/\n]*', 'TLS handshake failed: (the TLS library''s reason) ', 'g') AS error;
ROLLBACK;
