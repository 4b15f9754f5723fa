--
-- ad_referrals: the base DN at the domain root.
--
-- A subtree search from DC=district,DC=test also returns continuation
-- references to the domain's other naming contexts (CN=Configuration,
-- DC=DomainDnsZones, DC=ForestDnsZones), pointing at ldap://district.test/
-- (a name that resolves nowhere here).  pssync must not chase them (that
-- would need another connection and bind) and must not fail on them.
--
BEGIN;
ALTER SERVER district_ad OPTIONS (DROP student_base_dn, DROP staff_base_dn);

SET LOCAL pssync.strategy = 'search';
CALL adtest.tap_mark();
SELECT status, string_agg(dcid::text, ' ' ORDER BY dcid) AS dcids
  FROM pssync.ldap_sync_students('students', dry_run => true)
 GROUP BY status ORDER BY status;

-- Every search got the three references, and the sync kept to one
-- connection.
SELECT count(DISTINCT conn) AS connections, count(*) AS searches,
       min(refs) AS min_references, max(refs) AS max_references,
       count(*) FILTER (WHERE rc <> 0) AS failed
  FROM adtest.tap_searches();
SELECT DISTINCT base, scope FROM adtest.tap_searches();

-- What changed from the OU bases: Luis Staffonly (1021), whose only
-- account is under OU=Staff, is now found; the teacher Chris Lee joins
-- the two students of that name.
SELECT status, dcid, first_name, last_name, new_username, dn, candidates
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid IN (1005, 1021);

-- Staff from the root: the same as from OU=Staff, except that Chris Lee
-- is ambiguous now, and Luis Staffonly is a student record.
SELECT status, record_type, dcid, first_name, last_name, candidates
  FROM pssync.ldap_sync_staff('users', dry_run => true)
 WHERE dcid = 2008;

-- The scan strategy reads the whole domain once (Samba sends the
-- references with the first page).
SET LOCAL pssync.strategy = 'scan';
CALL adtest.tap_mark();
SELECT status, count(*) FROM pssync.ldap_sync_students('students', dry_run => true)
 GROUP BY status ORDER BY status;
SELECT base, attrs, page, entries, refs, more
  FROM adtest.tap_searches() WHERE attrs ~ 'givenName';

-- A real run from the root writes as from the OU.
SELECT status, count(*) FROM pssync.ldap_sync_district('students')
 GROUP BY status ORDER BY status;
SELECT dcid, student_web_id FROM students WHERE dcid = 1021;
ROLLBACK;

-- The global catalog (port 3268) holds the whole forest: a search from
-- the root gets no references there.  (pssync connects to it directly,
-- not through the relay.)
BEGIN;
ALTER SERVER district_ad OPTIONS (SET uri 'ldap://127.0.0.1:3268',
                                  DROP student_base_dn, DROP staff_base_dn);
SELECT status, string_agg(dcid::text, ' ' ORDER BY dcid) AS dcids
  FROM pssync.ldap_sync_students('students', dry_run => true)
 GROUP BY status ORDER BY status;
ROLLBACK;
