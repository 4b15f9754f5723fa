--
-- paging: every search that can return many entries is paged (RFC 2696),
-- so that a directory that limits a search to 1,000 entries, as Active
-- Directory does (MaxPageSize), still gives every one of them.
--
-- ou=Crowd holds 1,500 people named Smith, Person0001 to Person1500
-- (test/fixtures/crowd_ldif.sh), added in the reverse of their DN order.
-- The test directory limits its accounts as a district's would:
--   cn=pssync-paged   1,000 entries a search unless the search is paged,
--                     as Active Directory does;
--   cn=pssync-capped  1,000 entries a search, paged or not.
--
BEGIN;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Crowd,dc=district,dc=org');
ALTER USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (SET bind_dn 'cn=pssync-paged,ou=Services,dc=district,dc=org');
INSERT INTO students (dcid, first_name, last_name)
SELECT 20000 + n, 'Person' || to_char(n, 'FM0000'), 'Smith' FROM generate_series(1, 1500) n;
INSERT INTO students (dcid, first_name, last_name) VALUES (29999, 'Nobody', 'SMITH');
CREATE TEMP TABLE crowd (dcid) AS VALUES (20042), (21500), (29999);

-- A last-name search for a common surname: all 1,500 candidates arrive
-- (the row lists the first 100 in DN order, and says how many there were).
SET pssync.strategy = 'search';
SELECT status, dcid, first_name, new_username, array_length(candidates, 1) AS listed,
       candidate_count, candidates[1] AS first_candidate, candidates[100] AS last_listed
  FROM pssync.ldap_sync_students('crowd', dry_run => true);

-- Reading the whole OU: all 1,500 people are found.
SET pssync.strategy = 'scan';
SELECT status, count(*), min(new_username), max(new_username)
  FROM pssync.ldap_sync_students('students', dry_run => true)
 GROUP BY status ORDER BY status;
SET pssync.strategy = 'search';
SELECT status, count(*), min(new_username), max(new_username)
  FROM pssync.ldap_sync_students('students', dry_run => true)
 GROUP BY status ORDER BY status;

-- Records the scan must ask the directory about (their names are not
-- plain ASCII) are asked many at a time; a search among them that runs to
-- several pages is run again on its own, paged (a directory runs one paged
-- search at a time on a connection).
INSERT INTO students (dcid, first_name, last_name) VALUES
  (29001, 'Pérson0001', 'Smith'), (29002, 'Persön0002', 'Smith'),
  (29003, 'Person0003', 'Smíth'), (29004, 'Persón0004', 'Smith');
CREATE TEMP TABLE uncertain (dcid) AS VALUES (29001), (29002), (29003), (29004);
SET pssync.strategy = 'scan';
SELECT status, dcid, array_length(candidates, 1) AS listed,
       candidates[1] AS first_candidate, candidates[100] AS last_listed
  FROM pssync.ldap_sync_students('uncertain', dry_run => true) ORDER BY dcid;
SET pssync.strategy = 'search';
SELECT status, dcid, array_length(candidates, 1) AS listed,
       candidates[1] AS first_candidate, candidates[100] AS last_listed
  FROM pssync.ldap_sync_students('uncertain', dry_run => true) ORDER BY dcid;

-- A directory that stops every search at 1,000 entries: the candidates
-- are cut short, and a notice says so; the scan cannot read the whole OU,
-- and searches each record instead.
ALTER USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (SET bind_dn 'cn=pssync-capped,ou=Services,dc=district,dc=org');
SET pssync.strategy = 'search';
SELECT status, dcid, array_length(candidates, 1) AS listed, candidates[1] AS first_candidate
  FROM pssync.ldap_sync_students('crowd', dry_run => true) WHERE dcid = 29999;
SET pssync.strategy = 'scan';
SELECT status, count(*)
  FROM pssync.ldap_sync_students('students', dry_run => true)
 GROUP BY status ORDER BY status;
SELECT status, dcid, array_length(candidates, 1) AS listed, candidates[1] AS first_candidate
  FROM pssync.ldap_sync_students('uncertain', dry_run => true) ORDER BY dcid;
ROLLBACK;
