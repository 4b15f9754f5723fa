--
-- accept_variants: pssync.accept_variants lists the reasons of
-- suggestions a district accepts as an exact match.  A record without an
-- exact match (partial or no_match) is matched to its best suggestion,
-- with matched_by 'variant', when every reason of it is in the list and
-- no other suggestion is within 0.05 of its score; the match is checked,
-- written and linked like any other.  Empty (the default), results are
-- those of 2.0 exactly.
--
-- The records and directory of sql/suggest.sql (schema suggest,
-- ou=Suggest).
--
SET pssync.server = 'suggest_ldap';
SET pssync.students_table = 'suggest.students';
SET pssync.users_table = 'suggest.users';
SET pssync.schoolstaff_table = 'suggest.schoolstaff';
SET pssync.student_preferred_name_column = 'preferred_first_name';

CREATE TEMP TABLE before AS
SELECT * FROM pssync.ldap_sync_district('students', dry_run => true) WITH ORDINALITY;
SHOW pssync.accept_variants;
SELECT status, count(*) FROM before GROUP BY status ORDER BY status;
SELECT count(*) AS variants FROM before WHERE matched_by = 'variant';

-- A list of reasons; only a superuser sets it (or a role granted SET on it).
SET pssync.accept_variants = 'case_accents, suffix, surname_part, preferred_name';
SHOW pssync.accept_variants;
SELECT regress.error_of($$SET pssync.accept_variants = 'case_accents, sounds_alike'$$);
SELECT regress.error_of($$SET pssync.accept_variants = 'uid_taken'$$);
SELECT regress.error_of($$SET pssync.accept_variants = 'linked_elsewhere'$$);
SELECT regress.error_of($$SET pssync.accept_variants = 'case_accents,,suffix'$$);
CREATE ROLE regress_variant_clerk;
GRANT USAGE ON SCHEMA regress TO regress_variant_clerk;
SET ROLE regress_variant_clerk;
SELECT regress.error_of($$SET pssync.accept_variants = 'nickname'$$);
RESET ROLE;
REVOKE ALL ON SCHEMA regress FROM regress_variant_clerk;
DROP ROLE regress_variant_clerk;

-- The variants accepted: case and accents (Maria Garcia, José Núñez), a
-- suffix (John Smith Jr.), a preferred name (Margaret "Skye" Taylor),
-- surname parts (Ana De la Cruz, Luis DelaCruz, Tom Parker).  Not: a
-- nickname (not in the list), Kate Miller's nicknames (and two of them),
-- Walt White's entry (its user ID is taken).
SELECT status, dcid, first_name, last_name, new_username, dn, matched_by
  FROM pssync.ldap_sync_district('students', dry_run => true)
 WHERE matched_by = 'variant' OR section = 'exception'
 ORDER BY section DESC, dcid;

-- Even a reason that is listed is not accepted when another suggestion
-- is as good: Kate Miller's two nicknames tie.
SET pssync.accept_variants = 'nickname';
SELECT status, dcid, first_name, last_name, new_username, matched_by
  FROM pssync.ldap_sync_district('students', dry_run => true)
 WHERE dcid IN (5004, 5016, 5020)
 ORDER BY dcid;

-- A real run writes them, and links them (linked_by 'variant'): the next
-- run matches through the links, whatever the list says then.
SET pssync.accept_variants = 'case_accents, suffix, surname_part, preferred_name';
BEGIN;
SELECT status, count(*) FILTER (WHERE matched_by = 'variant') AS variants, count(*)
  FROM pssync.ldap_sync_district('students') GROUP BY status ORDER BY status;
SELECT dcid, student_web_id FROM suggest.students
 WHERE dcid IN (5002, 5003, 5006, 5007, 5008, 5009, 5010) ORDER BY dcid;
SELECT dcid, linked_by, dn FROM pssync.links
 WHERE server = 'suggest_ldap' AND linked_by = 'variant' ORDER BY dcid;
SELECT dcid, status, matched_by FROM pssync.sync_log
 WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run) AND matched_by = 'variant'
 ORDER BY dcid;
RESET pssync.accept_variants;
SELECT status, dcid, matched_by
  FROM pssync.ldap_sync_district('students')
 WHERE dcid IN (5002, 5003, 5006, 5007, 5008, 5009, 5010)
 ORDER BY dcid;
ROLLBACK;

-- A variant is accepted only when every search of its suggestions was
-- complete: one that a size limit cut short may have lost a runner-up,
-- which would make the best look alone.  ou=Crowd holds 1,500 Smiths
-- (test/fixtures/crowd_ldif.sh); cn=pssync-capped gets at most 1,000
-- entries a search, so the search for the Smiths is cut short, and
-- Person0001 and Person1500 Smith Jr. stay exceptions (a notice says
-- why).  Read without a limit, both are accepted (suffix).
SET pssync.accept_variants = 'suffix';
BEGIN;
ALTER SERVER suggest_ldap OPTIONS (SET student_base_dn 'ou=Crowd,dc=district,dc=org');
ALTER USER MAPPING FOR PUBLIC SERVER suggest_ldap
  OPTIONS (SET bind_dn 'cn=pssync-capped,ou=Services,dc=district,dc=org');
INSERT INTO suggest.students (dcid, first_name, last_name)
VALUES (5098, 'Person0001', 'Smith Jr.'), (5099, 'Person1500', 'Smith Jr.');
CREATE TEMP TABLE crowd (dcid) AS VALUES (5098), (5099);
-- (the scan would read only 1,000 of them, and search instead)
SET LOCAL pssync.strategy = 'search';
SELECT status, dcid, new_username, matched_by
  FROM pssync.ldap_sync_students('crowd', dry_run => true) ORDER BY dcid;
ALTER USER MAPPING FOR PUBLIC SERVER suggest_ldap
  OPTIONS (SET bind_dn 'cn=pssync,ou=Services,dc=district,dc=org');
SELECT status, dcid, new_username, matched_by
  FROM pssync.ldap_sync_students('crowd', dry_run => true) ORDER BY dcid;
ROLLBACK;

-- A variant counts against max_changes like any change.
SET pssync.accept_variants = 'case_accents';
SET pssync.max_changes = 1;
SELECT regress.error_of($$SELECT * FROM pssync.ldap_sync_district('students', dry_run => false)$$);
RESET pssync.max_changes;

-- Empty again: 2.0's results, exactly.
RESET pssync.accept_variants;
CREATE TEMP TABLE after AS
SELECT * FROM pssync.ldap_sync_district('students', dry_run => true) WITH ORDINALITY;
SELECT (SELECT count(*) FROM (TABLE before EXCEPT ALL TABLE after) d) AS only_before,
       (SELECT count(*) FROM (TABLE after EXCEPT ALL TABLE before) d) AS only_after;

-- The suggestion tests are done.
RESET pssync.server;
RESET pssync.students_table;
RESET pssync.users_table;
RESET pssync.schoolstaff_table;
DROP USER MAPPING FOR PUBLIC SERVER suggest_ldap;
DROP SERVER suggest_ldap;
DROP SCHEMA suggest CASCADE;
