--
-- referrals: a directory may refer part of the tree to another server
-- (Active Directory does so at the domain root, for DomainDnsZones,
-- ForestDnsZones and Configuration).  pssync does not follow referrals or
-- continuation references unless the server's referrals option says so.
--
-- Here ou=Remote,ou=Students is a referral to a second slapd, which holds
-- Remy Remote.  A followed referral is searched with an anonymous bind.
--
BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES (8001, 'Remy', 'Remote');
CREATE TEMP TABLE remy (dcid) AS VALUES (8001);

-- Not followed: Remy is not found, and nothing else changes.
SELECT status, dcid, new_username, dn FROM pssync.ldap_sync_students('remy', dry_run => true);
SELECT status, count(*) FROM pssync.ldap_sync_students('students', dry_run => true)
 GROUP BY status ORDER BY status;

-- Followed.
ALTER SERVER district_ldap OPTIONS (ADD referrals 'true');
SELECT status, dcid, new_username, dn FROM pssync.ldap_sync_students('remy', dry_run => true);
SELECT status, count(*) FROM pssync.ldap_sync_students('students', dry_run => true)
 GROUP BY status ORDER BY status;
ALTER SERVER district_ldap OPTIONS (SET referrals 'false');
SELECT status, dcid, new_username, dn FROM pssync.ldap_sync_students('remy', dry_run => true);
ROLLBACK;

-- A boolean, checked by the validator.
ALTER SERVER district_ldap OPTIONS (ADD referrals 'sometimes');
