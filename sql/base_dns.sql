--
-- base_dns: districts keep one OU per school, or students and staff under
-- different branches.  student_base_dn, staff_base_dn and base_dn take
-- several DNs separated by ";" (a ";" inside a DN is written "\;", as RFC
-- 4514 escapes it), and a group's entries are the union over its DNs:
-- exact and partial matches, ambiguity across OUs, the scan's read,
-- ldap_lookup, ldap_assign's scope, and links.
--
-- Under ou=Schools: Sam Same in ou=North and in ou=South, Nina Northcott
-- in ou=North, Sol Southby in ou=South, Ed Eastwest in ou=East\;West, and
-- Otto Outside directly under ou=Schools, in none of the three.
--
BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES
  (9601, 'Sam', 'Same'),
  (9602, 'Sol', 'Southby'),
  (9603, 'Ed', 'Eastwest'),
  (9604, 'Otto', 'Outside'),
  (9605, 'Nina', 'Northcott'),
  (9606, 'Solange', 'Southby');
CREATE TEMP TABLE schools AS SELECT dcid FROM students WHERE dcid BETWEEN 9601 AND 9699;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn
  'ou=North,ou=Schools,dc=district,dc=org; ou=South,ou=Schools,dc=district,dc=org;ou=East\;West,ou=Schools,dc=district,dc=org');

-- Sam Same is in two OUs: ambiguous.  Sol Southby is found in the second
-- OU, Ed Eastwest in the third; Solange Southby is a partial match there.
-- Otto Outside lies under none of them.
SELECT status, dcid, first_name, last_name, new_username, dn, candidates
  FROM pssync.ldap_sync_students('schools', dry_run => true)
 ORDER BY dcid;

-- The same rows from both strategies.
SET LOCAL pssync.strategy = 'search';
CREATE TEMP TABLE by_search AS
SELECT * FROM pssync.ldap_sync_students('schools', dry_run => true) WITH ORDINALITY;
SET LOCAL pssync.strategy = 'scan';
CREATE TEMP TABLE by_scan AS
SELECT * FROM pssync.ldap_sync_students('schools', dry_run => true) WITH ORDINALITY;
SELECT (SELECT count(*) FROM by_search) AS search_rows,
       (SELECT count(*) FROM (TABLE by_search EXCEPT ALL TABLE by_scan) d) AS only_search,
       (SELECT count(*) FROM (TABLE by_scan EXCEPT ALL TABLE by_search) d) AS only_scan;
RESET pssync.strategy;

-- ldap_lookup searches every OU of the group.
SELECT dn, user_id FROM pssync.ldap_lookup('Same') ORDER BY dn;

-- ldap_suggest takes its candidates from every OU, and none from outside
-- them: Sammy Same has a nickname candidate in ou=North and one in
-- ou=South; Otto Outside has none.
INSERT INTO students (dcid, first_name, last_name) VALUES (9607, 'Sammy', 'Same');
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 9607) ORDER BY rank;
SELECT count(*) AS outside FROM pssync.ldap_suggest('student', 9604);
-- A real run keeps the same best suggestion under either strategy (scan
-- finds it in its index of every OU).
CREATE TEMP TABLE sammy (dcid) AS VALUES (9607::bigint);
SET LOCAL pssync.strategy = 'search';
SELECT status, dcid FROM pssync.ldap_sync_students('sammy');
SELECT suggestion_dn, suggestion_reasons FROM pssync.sync_log
 WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run);
SET LOCAL pssync.strategy = 'scan';
SELECT status, dcid FROM pssync.ldap_sync_students('sammy');
SELECT suggestion_dn, suggestion_reasons FROM pssync.sync_log
 WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run);
RESET pssync.strategy;

-- ldap_assign takes an entry of any of them, and none outside.
SELECT status, dcid, new_username, dn
  FROM pssync.ldap_assign('student', 9601, 'uid=ssame,ou=South,ou=Schools,dc=district,dc=org');
SELECT regress.full_error_of($$
  SELECT pssync.ldap_assign('student', 9604, 'uid=ooutside,ou=Schools,dc=district,dc=org')$$);

-- A real run links what it matches; the links are followed in every OU.
SELECT status, dcid, new_username, matched_by
  FROM pssync.ldap_sync_students('schools') WHERE section = 'match' ORDER BY dcid;
SELECT status, dcid, new_username, matched_by
  FROM pssync.ldap_sync_students('schools') WHERE section = 'match' ORDER BY dcid;
ROLLBACK;

-- The validator refuses an empty DN, a DN listed twice (in any case), a
-- DN under another of the list (its entries would count twice), and
-- anything that is not a DN.
BEGIN;
SELECT regress.full_error_of($$ALTER SERVER district_ldap OPTIONS (SET student_base_dn
  'ou=North,ou=Schools,dc=district,dc=org;;ou=South,ou=Schools,dc=district,dc=org')$$);
SELECT regress.full_error_of($$ALTER SERVER district_ldap OPTIONS (SET student_base_dn
  'ou=North,ou=Schools,dc=district,dc=org; OU=north, OU=Schools, DC=district, DC=org')$$);
SELECT regress.full_error_of($$ALTER SERVER district_ldap OPTIONS (SET staff_base_dn
  'ou=Schools,dc=district,dc=org;ou=North,ou=Schools,dc=district,dc=org')$$);
SELECT regress.full_error_of($$ALTER SERVER district_ldap OPTIONS (SET base_dn
  'dc=district,dc=org;not a dn')$$);
-- A ";" escaped inside a DN is part of it: one DN, not two.
ALTER SERVER district_ldap OPTIONS (SET staff_base_dn 'ou=East\;West,ou=Schools,dc=district,dc=org');
ROLLBACK;
