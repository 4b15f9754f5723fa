--
-- ad_filter: which directory objects count as people, and where they
-- are looked for.
--
-- In Active Directory a computer is a user too: objectClass computer is a
-- subclass of user, and so of organizationalPerson and person; only its
-- objectCategory (computer) tells it apart.  A contact is a person
-- (objectCategory person) without an account.  The district's filter
-- (&(objectCategory=person)(objectClass=user)) keeps both out; pssync's
-- default filter, (objectClass=person), lets both in.
--
-- Li Wei (1017) has a laptop named after him: CN=LWEI-LAPTOP in
-- OU=Laptops,OU=Students, givenName Li, sn Wei.  Carol Clerk (2003) has a
-- namesake contact in OU=Staff.  Frank Former (2006) has an old, disabled
-- account in OU=Former Staff,OU=Staff.
--
CREATE TEMP VIEW namesakes AS
  SELECT status, dcid, first_name, last_name, new_username, dn, candidates
    FROM pssync.ldap_sync_students('students', dry_run => true) WHERE dcid = 1017
  UNION ALL
  SELECT status, dcid, first_name, last_name, new_username, dn, candidates
    FROM pssync.ldap_sync_staff('users', dry_run => true) WHERE dcid IN (2003, 2006);

-- The district's filter: the laptop and the contact are not people; the
-- disabled account is, so Frank Former is ambiguous.
SELECT * FROM namesakes;

-- pssync's default filter, (objectClass=person): the laptop and the
-- contact are found too.
BEGIN;
ALTER SERVER district_ad OPTIONS (DROP filter);
SELECT * FROM namesakes;
ROLLBACK;

-- (objectCategory=person) alone keeps the computer out, not the contact;
-- (objectClass=user) alone keeps the contact out, not the computer.
BEGIN;
ALTER SERVER district_ad OPTIONS (SET filter '(objectCategory=person)');
SELECT * FROM namesakes;
ALTER SERVER district_ad OPTIONS (SET filter '(objectClass=user)');
SELECT * FROM namesakes;
ROLLBACK;

-- Disabled accounts are left out with AD's bitwise matching rule
-- (LDAP_MATCHING_RULE_BIT_AND) on userAccountControl's ACCOUNTDISABLE
-- bit: an extensible match the filter option accepts.
BEGIN;
ALTER SERVER district_ad
  OPTIONS (SET filter '(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))');
SELECT * FROM namesakes;
-- and nothing else changes for the rest of the district
SELECT status, count(*) FROM pssync.ldap_sync_district('students', dry_run => true)
 GROUP BY status ORDER BY status;
ROLLBACK;

-- The whole district under the default filter: the laptop makes Li Wei
-- ambiguous, the contact Carol Clerk.
BEGIN;
ALTER SERVER district_ad OPTIONS (DROP filter);
SELECT status, string_agg(dcid::text, ' ' ORDER BY dcid) AS dcids
  FROM (SELECT status, dcid FROM pssync.ldap_sync_students('students', dry_run => true)
        UNION ALL
        SELECT status, dcid FROM pssync.ldap_sync_staff('users', dry_run => true)) r
 WHERE status = 'ambiguous'
 GROUP BY status;
ROLLBACK;

-- Scope: Grace Hopper (1018) is in OU=Graduated, one level below
-- OU=Students.  The default scope, sub, finds her; scope one does not.
-- (Nor the 1,500 students of OU=Class of 2030: see ad_paging.)
SELECT status, dcid, dn FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid = 1018;
BEGIN;
ALTER SERVER district_ad OPTIONS (ADD scope 'one');
SELECT status, dcid, dn FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid = 1018;
ROLLBACK;

-- A filter AD does not know an attribute of is AD's business: it answers
-- with no entries, so every record is no_match.
BEGIN;
ALTER SERVER district_ad OPTIONS (SET filter '(&(objectCategory=person)(noSuchAttribute=x))');
SELECT status, count(*) FROM pssync.ldap_sync_district('staff', dry_run => true)
 GROUP BY status ORDER BY status;
ROLLBACK;
