--
-- ad_uid_attr: the user ID attributes districts use with Active
-- Directory: sAMAccountName (the server's here), userPrincipalName, mail,
-- and uid.
--
-- sAMAccountName is on every account, single-valued and unique in the
-- domain (AD makes one up when an account is created without it: see Uma
-- Unnamed, 1024, in ad_sync).  userPrincipalName and mail are optional;
-- uid is optional and multi-valued.
--
-- userPrincipalName: Pat Nouid (1008) has none, so no_uid; Nora
-- Longname's (1023) is longer than student_web_id's 40 characters, so
-- invalid_uid.
SELECT status, dcid, first_name, last_name, old_username, new_username
  FROM pssync.ldap_sync_students('students', 'userPrincipalName', dry_run => true)
 WHERE section = 'match' OR status IN ('no_uid', 'invalid_uid')
 ORDER BY dcid;

-- mail: only Ana García has one.
SELECT status, string_agg(dcid::text, ' ' ORDER BY dcid) AS dcids
  FROM pssync.ldap_sync_students('students', 'mail', dry_run => true)
 GROUP BY status ORDER BY status;
SELECT status, dcid, new_username
  FROM pssync.ldap_sync_students('students', 'mail', dry_run => true)
 WHERE section = 'match';

-- uid: Li Wei (1017) has one; Sam Twouid (1009) has two, which is no_uid
-- (nothing is chosen); everyone else has none.
SELECT status, dcid, first_name, last_name, old_username, new_username
  FROM pssync.ldap_sync_students('students', 'uid', dry_run => true)
 WHERE dcid IN (1009, 1017, 1002)
 ORDER BY dcid;

-- Attribute names are case-insensitive, as in LDAP: AD answers with
-- sAMAccountName whatever case was asked for.
SELECT (SELECT array_agg(row(status, dcid, new_username)::text ORDER BY dcid, status)
          FROM pssync.ldap_sync_students('students', 'samaccountname', dry_run => true))
     = (SELECT array_agg(row(status, dcid, new_username)::text ORDER BY dcid, status)
          FROM pssync.ldap_sync_students('students', dry_run => true)) AS same_rows;

-- A server option per group: staff by their user principal name.
BEGIN;
ALTER SERVER district_ad OPTIONS (ADD staff_uid_attr 'userPrincipalName');
SELECT pssync.ldap_user_id_attribute('student') AS student,
       pssync.ldap_user_id_attribute('teacher') AS teacher;
SELECT status, record_type, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_staff('users', dry_run => true)
 WHERE section = 'match' OR status IN ('no_uid', 'invalid_uid')
 ORDER BY dcid, field;
ROLLBACK;

-- One student's account, attribute by attribute (displayName holds a
-- space: no username).
SELECT a.attr, r.status, r.new_username
  FROM unnest(ARRAY['sAMAccountName', 'userPrincipalName', 'mail', 'uid', 'displayName']) WITH ORDINALITY AS a(attr, o),
       LATERAL pssync.ldap_sync_students('students', a.attr, dry_run => true) r
 WHERE r.dcid = 1001
 ORDER BY a.o;
