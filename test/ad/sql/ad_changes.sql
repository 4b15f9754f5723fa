--
-- ad_changes: ldap_sync_changes against Active Directory, which it polls
-- on uSNChanged: the entries of the base DN changed since the stored
-- highestCommittedUSN, and the objects of the domain changed since, for
-- the entries that left (moved out, filtered out, and deleted ones, seen
-- in the Deleted Objects container with the Show Deleted control, where
-- the bind account may read it).  A watermark is of one domain controller:
-- its host name and invocationId are kept with it.
--
-- The service account svc-pssync may not read Deleted Objects; the
-- domain's Administrator may.  The administrator changes the directory
-- between runs.
--
\setenv LDAPTLS_REQCERT never
\getenv ad_uri PSSYNC_AD_URI
\getenv ad_password PSSYNC_AD_PASSWORD
\! ldapmodify -x -H ldap://127.0.0.1:389 -D Administrator@district.test -w "$PSSYNC_AD_PASSWORD" -f test/ad/changes_setup.ldif >/dev/null && echo "Del Etable has an account"
BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES (1099, 'Del', 'Etable');
CREATE SERVER district_ad_admin FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'ad_uri', base_dn 'DC=district,DC=test',
           student_base_dn 'OU=Students,DC=district,DC=test',
           staff_base_dn 'OU=Staff,DC=district,DC=test',
           uid_attr 'sAMAccountName',
           filter '(&(objectCategory=person)(objectClass=user))');
CREATE USER MAPPING FOR PUBLIC SERVER district_ad_admin
  OPTIONS (bind_dn 'Administrator@district.test', password :'ad_password');

-- The first run of each server has no watermark: a full run.
SET LOCAL pssync.server = 'district_ad';
SELECT status, count(*) FROM pssync.ldap_sync_changes('students') GROUP BY 1 ORDER BY 1;
SET LOCAL pssync.server = 'district_ad_admin';
SELECT count(*) > 0 AS full FROM pssync.ldap_sync_changes('students');
-- The watermark: the USN before the full read, the DC's host name and
-- invocationId.
SELECT server, base_dn, mechanism, usn > 0 AS usn, host, cookie,
       invocation_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' AS invocation_id
  FROM pssync.sync_state WHERE record_group = 'students' ORDER BY server;

-- Nothing changed.  The service account cannot see deleted objects: its
-- runs say so.
SET LOCAL pssync.server = 'district_ad';
SELECT count(*) FROM pssync.ldap_sync_changes('students');
SET LOCAL pssync.server = 'district_ad_admin';
SELECT count(*) FROM pssync.ldap_sync_changes('students');

-- The directory changes: John Smith's user ID, an account for Zed Nobody,
-- Li Wei's account moved to OU=Staff, Del Etable's deleted.
\! ldapmodify -x -H ldap://127.0.0.1:389 -D Administrator@district.test -w "$PSSYNC_AD_PASSWORD" -f test/ad/changes_changes.ldif >/dev/null && echo "the directory changed"

-- The service account's run: the new user ID, the new account, the link
-- to the moved entry broken; the deletion is not seen, as it says.
SET LOCAL pssync.server = 'district_ad';
SELECT status, dcid, first_name, last_name, new_username, dn
  FROM pssync.ldap_sync_changes('students') ORDER BY dcid;
-- The administrator's: the deletion too (the usernames were written by
-- the run before).
SET LOCAL pssync.server = 'district_ad_admin';
CREATE TEMP TABLE full_now AS
SELECT * FROM pssync.ldap_sync_district('students', dry_run => true);
CREATE TEMP TABLE changes_now AS SELECT * FROM pssync.ldap_sync_changes('students');
SELECT status, dcid, first_name, last_name, new_username, dn FROM changes_now ORDER BY dcid;
-- ... and its rows are those of a district-wide run.
SELECT count(*) AS returned,
       count(*) FILTER (WHERE (replace(c.status, 'updated', 'would_update'), c.field,
                               c.old_username, c.new_username, c.dn, c.candidates)
                              IS DISTINCT FROM
                              (f.status, f.field, f.old_username, f.new_username, f.dn,
                               f.candidates)) AS different
  FROM changes_now c LEFT JOIN full_now f USING (dcid);
SELECT count(*) FROM pssync.ldap_sync_changes('students');

-- A watermark of another domain controller, or of this one restored from
-- a backup (another invocationId): a full run.
UPDATE pssync.sync_state SET host = 'dc2.district.test'
 WHERE server = 'district_ad_admin' AND record_group = 'students';
SELECT count(*) > 0 AS full FROM pssync.ldap_sync_changes('students', dry_run => true);
-- ... or of this one with its USN gone back (restored keeping its
-- invocationId), so that new changes would get USNs the watermark covers.
UPDATE pssync.sync_state SET host = 'dc1.district.test', usn = 9223372036854775807
 WHERE server = 'district_ad_admin' AND record_group = 'students';
SELECT count(*) > 0 AS full FROM pssync.ldap_sync_changes('students', dry_run => true);
UPDATE pssync.sync_state SET host = 'dc1.district.test',
       invocation_id = '00000000-0000-0000-0000-000000000000'
 WHERE server = 'district_ad_admin' AND record_group = 'students';
SELECT count(*) > 0 AS full FROM pssync.ldap_sync_changes('students', dry_run => true);
ROLLBACK;

-- The directory as it was.
\! ldapmodify -x -H ldap://127.0.0.1:389 -D Administrator@district.test -w "$PSSYNC_AD_PASSWORD" -f test/ad/changes_restore.ldif >/dev/null && echo "the directory is as it was"
