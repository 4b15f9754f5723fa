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
-- Followed in the middle of a paged read, in pages of 2: the referred
-- server's search is a search of its own (a paged search's cookie belongs
-- to the server that gave it).
ALTER SERVER district_ldap OPTIONS (ADD page_size '2');
SET LOCAL pssync.strategy = 'scan';
SELECT status, dcid, new_username, dn FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid = 8001;
SET LOCAL pssync.strategy = 'search';
SELECT status, dcid, new_username, dn FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid = 8001;
SELECT * FROM pssync.ldap_lookup('Remote');
ALTER SERVER district_ldap OPTIONS (SET referrals 'false');
SELECT status, dcid, new_username, dn FROM pssync.ldap_sync_students('remy', dry_run => true);
ROLLBACK;

-- pssync follows a referral on a connection of its own, bounded and
-- cancellable like every other: ou=Hung,ou=Staff refers to a server that
-- accepts connections and never answers.
BEGIN;
ALTER SERVER district_ldap OPTIONS (ADD referrals 'true', ADD timeout '1');
DO $$
DECLARE
  started timestamptz := clock_timestamp();
  message text;
BEGIN
  PERFORM * FROM pssync.ldap_sync_district('staff', dry_run => true);
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
  RAISE NOTICE '% (within 3 s: %)', message, clock_timestamp() - started < interval '3 seconds';
END $$;
ROLLBACK;

-- ldap_assign takes only an entry in the server's scope, whatever DN it
-- was asked for: uid=pointer,ou=Students is a referral to an entry of the
-- second slapd under ou=Elsewhere.
BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES (8002, 'Pia', 'Pointed');
ALTER SERVER district_ldap OPTIONS (ADD referrals 'true');
SELECT status, dcid, new_username, dn
  FROM pssync.ldap_assign('student', 8002, 'uid=pointer,ou=Students,dc=district,dc=org');
ROLLBACK;

-- A boolean, checked by the validator.
ALTER SERVER district_ldap OPTIONS (ADD referrals 'sometimes');
