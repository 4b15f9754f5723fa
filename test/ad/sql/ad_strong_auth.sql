--
-- ad_strong_auth: a domain controller that refuses simple binds on a
-- connection that is not encrypted.
--
-- Windows Server 2025 does so by default, and so do districts that set
-- "Domain controller: LDAP server signing requirements" to "Require
-- signing".  test/ad/run.sh restarts Samba with "ldap server require
-- strong auth = yes" for this test (the other tests run without it).
--
\getenv ca_file PSSYNC_AD_CA_FILE

-- Over plain LDAP the bind is refused with strongerAuthRequired ...
SELECT state, message, detail
  FROM adtest.error_parts($$SELECT * FROM pssync.ldap_sync_district('staff', dry_run => true)$$);

-- ... and the hint should say what helps, an encrypted connection (ldaps://
-- or StartTLS), rather than to check the name and the password.
SELECT hint ~* '(ldaps|starttls|encrypt)' AS hint_says_encrypt,
       hint ~* 'password' AS hint_blames_password
  FROM adtest.error_parts($$SELECT * FROM pssync.ldap_sync_district('staff', dry_run => true)$$);

-- LDAPS and StartTLS, with the domain's CA, bind and sync.
BEGIN;
ALTER SERVER district_ad OPTIONS (SET uri 'ldaps://dc1.district.test', ADD ca_file :'ca_file');
SELECT status, count(*) FROM pssync.ldap_sync_district('staff', dry_run => true)
 GROUP BY status ORDER BY status;
ROLLBACK;
BEGIN;
ALTER SERVER district_ad OPTIONS (SET uri 'ldap://dc1.district.test', ADD starttls 'true',
                                  ADD ca_file :'ca_file');
SELECT status, count(*) FROM pssync.ldap_sync_district('staff', dry_run => true)
 GROUP BY status ORDER BY status;
ROLLBACK;
