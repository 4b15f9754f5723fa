--
-- ad_tls: LDAPS and StartTLS to the domain controller, with the domain's
-- CA certificate and host name verification.
--
-- The DC's certificate names its host, dc1.district.test, and is signed
-- by the domain's CA (Samba's own, made when the DC first started; its
-- certificate is in ca_file).  test/ad/run.sh maps dc1.district.test to
-- 127.0.0.1 in a copy of /etc/hosts, inside a mount namespace of its own.
-- These connections go to the DC directly, not through the relay.
--
\getenv ca_file PSSYNC_AD_CA_FILE

CREATE FUNCTION pg_temp.staff_dry_run() RETURNS text
LANGUAGE sql AS $$
  SELECT string_agg(status || ' ' || n, ', ' ORDER BY status)
    FROM (SELECT status, count(*) AS n
            FROM pssync.ldap_sync_district('staff', dry_run => true) GROUP BY status) s
$$;

-- The error of a sync, without what differs from run to run (the CA
-- file's path).
CREATE FUNCTION pg_temp.tls_error(ca_file text, OUT state text, OUT message text,
                                  OUT detail text, OUT hint text)
LANGUAGE sql AS $$
  SELECT e.state, e.message, replace(e.detail, ca_file, '<ca_file>'),
         replace(e.hint, ca_file, '<ca_file>')
    FROM adtest.error_parts($q$SELECT * FROM pssync.ldap_sync_district('staff', dry_run => true)$q$) e
$$;

-- ldaps:// by host name, with the domain's CA: as over plain LDAP.
BEGIN;
ALTER SERVER district_ad OPTIONS (SET uri 'ldaps://dc1.district.test', ADD ca_file :'ca_file');
SELECT pg_temp.staff_dry_run() AS ldaps;
-- the global catalog over TLS, port 3269
ALTER SERVER district_ad OPTIONS (SET uri 'ldaps://dc1.district.test:3269');
SELECT pg_temp.staff_dry_run() AS ldaps_global_catalog;
ROLLBACK;

-- StartTLS on port 389, by host name.
BEGIN;
ALTER SERVER district_ad OPTIONS (SET uri 'ldap://dc1.district.test', ADD starttls 'true',
                                  ADD ca_file :'ca_file');
SELECT pg_temp.staff_dry_run() AS starttls;
ROLLBACK;

-- By IP address the certificate's name does not match: host name
-- verification fails the connection, with the CA right.
BEGIN;
ALTER SERVER district_ad OPTIONS (SET uri 'ldaps://127.0.0.1', ADD ca_file :'ca_file');
SELECT * FROM pg_temp.tls_error(:'ca_file');
ALTER SERVER district_ad OPTIONS (SET uri 'ldap://127.0.0.1', ADD starttls 'true');
SELECT * FROM pg_temp.tls_error(:'ca_file');
ROLLBACK;

-- Without ca_file, the machine's trusted CAs do not include the
-- domain's: verification fails.
BEGIN;
ALTER SERVER district_ad OPTIONS (SET uri 'ldaps://dc1.district.test');
SELECT * FROM pg_temp.tls_error(:'ca_file');
ROLLBACK;

-- Another CA file (the machine's public CAs) fails too.
BEGIN;
ALTER SERVER district_ad OPTIONS (SET uri 'ldaps://dc1.district.test',
                                  ADD ca_file '/etc/ssl/certs/ca-certificates.crt');
SELECT * FROM pg_temp.tls_error(:'ca_file');
ROLLBACK;

-- A CA file that does not exist.
BEGIN;
ALTER SERVER district_ad OPTIONS (SET uri 'ldaps://dc1.district.test',
                                  ADD ca_file '/nonexistent/district-ca.pem');
SELECT * FROM pg_temp.tls_error(:'ca_file');
ROLLBACK;

-- ldaps:// and StartTLS together are refused when the server is defined.
BEGIN;
ALTER SERVER district_ad OPTIONS (SET uri 'ldaps://dc1.district.test', ADD starttls 'true');
ROLLBACK;

-- A failed TLS connection wrote nothing.
SELECT adtest.usernames() = (SELECT usernames FROM adtest.fixture_usernames) AS as_before;
