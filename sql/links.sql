--
-- links: pssync 2.0 remembers each match by the directory entry's
-- permanent ID (entryUUID here; objectGUID for Active Directory), and
-- follows it on later runs, whatever either side's names become.
--
-- The people are under ou=Linked, which this test adds to the directory
-- and changes between runs (test/fixtures/links/), with ldapmodify as the
-- directory's administrator.
--
\getenv ldap_uri PSSYNC_LDAP_URI
\setenv LDAPTLS_REQCERT never
\set ldap_admin '-x -H ' :ldap_uri ' -D cn=admin,dc=district,dc=org -w admin-secret'
\set ECHO none
\setenv LDAP_ADMIN :ldap_admin
\! ldapdelete $LDAP_ADMIN -r ou=Linked,dc=district,dc=org ou=Elsewhere,dc=district,dc=org >/dev/null 2>&1; ldapadd $LDAP_ADMIN -f test/fixtures/links/people.ldif >/dev/null && echo "the people of ou=Linked are in the directory"
\set ECHO all

ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Linked,dc=district,dc=org');
SHOW pssync.use_links;
SELECT pssync.ldap_user_id_attribute('student');
INSERT INTO students (dcid, first_name, last_name) VALUES
  (7001, 'Ada', 'Lovelace'),
  (7003, 'Grace', 'Murray'),
  (7004, 'Alan', 'Turing'),
  (7005, 'Kurt', 'Godel'),
  (7006, 'Emmy', 'Noether'),
  (7007, 'John', 'Neumann'),
  (7008, 'Barbara', 'Liskov'),
  (7009, 'Katherine', 'Johnson'),
  (7011, 'Edsger', 'Dijkstra'),
  (7012, 'Donald', 'Knuth');
CREATE TABLE linked (dcid bigint);
INSERT INTO linked SELECT dcid FROM students WHERE dcid BETWEEN 7000 AND 7099;

-- A dry run reads links and writes none; a rolled-back run leaves none.
SELECT count(*) FROM pssync.ldap_sync_students('linked', dry_run => true);
BEGIN;
SELECT count(*) FROM pssync.ldap_sync_students('linked');
SELECT count(*) AS links_inside FROM pssync.links;
ROLLBACK;
SELECT count(*) AS links FROM pssync.links;

-- The first real run links each record whose usernames end updated or
-- unchanged to its exact entry, by the entry's permanent ID.
SELECT status, dcid, new_username, matched_by
  FROM pssync.ldap_sync_students('linked') ORDER BY dcid;
SELECT record_type, dcid, first_name, last_name, dn, user_id, linked_by,
       entry_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' AS entry_uuid,
       run_id = (SELECT max(run_id) FROM pssync.sync_run) AS this_run
  FROM pssync.links ORDER BY dcid;

-- A partial match resolved by a person: ldap_assign links the record to
-- the entry chosen.
SELECT status, dcid, new_username, dn
  FROM pssync.ldap_assign('student', 7009, 'uid=kjohnson,ou=Linked,dc=district,dc=org');
SELECT dcid, dn, linked_by FROM pssync.links WHERE dcid = 7009;

-- The directory changes: Grace Murray's last name becomes Hopper, Alan
-- Turing's entry moves to another OU under the base DN, Kurt Godel's user
-- ID becomes kgoedel, a second John Neumann appears, Barbara Liskov's
-- entry is deleted (and a Barb Liskov added), Edsger Dijkstra's moves out
-- of the base DN, and Donald Knuth's becomes inactive, which the server's
-- filter leaves out.  PowerSchool changes Emmy Noether's last name.
\! ldapmodify $LDAP_ADMIN -f test/fixtures/links/changes.ldif >/dev/null && echo "the directory changed"
UPDATE students SET last_name = 'Noether-Smith' WHERE dcid = 7006;
ALTER SERVER district_ldap OPTIONS (ADD filter '(&(objectClass=person)(!(employeeType=inactive)))');

-- Linked records are matched through their links: across the rename, the
-- move, PowerSchool's new last name and the namesake; the new user ID is
-- an update; the resolved partial stays resolved.  A link whose entry is
-- gone (deleted, moved out of the base DN, filtered out) is link_broken,
-- with what a name search finds now, and nothing is written for it.
CREATE TEMP TABLE second_run AS
SELECT * FROM pssync.ldap_sync_students('linked') WITH ORDINALITY;
SELECT status, dcid, first_name, last_name, field, new_username, dn, matched_by,
       candidates, candidate_count
  FROM second_run ORDER BY ordinality;
SELECT dcid, student_web_id FROM students WHERE dcid IN (7005, 7008, 7011, 7012) ORDER BY dcid;

-- The links follow their entries: new DN, new user ID; the broken links
-- are kept until a person relinks or unlinks; an "assign" link stays one.
SELECT dcid, last_name, dn, user_id, linked_by FROM pssync.links ORDER BY dcid;

-- last_exceptions offers the suggestions (2.1): Barb Liskov, a nickname of
-- Barbara, is not strong enough to be assigned as it stands.
SELECT status, dcid, resolve_sql FROM pssync.last_exceptions
 WHERE function = 'ldap_sync_students' AND selection = 'linked' ORDER BY dcid;

-- A record that matches an entry linked to another record is a conflict:
-- it never takes the entry.  (7010 is Ada Lovelace again.)
INSERT INTO students (dcid, first_name, last_name) VALUES (7010, 'Ada', 'Lovelace');
INSERT INTO linked VALUES (7010);
SELECT status, dcid, field, new_username, dn, matched_by
  FROM pssync.ldap_sync_students('linked', dry_run => true) WHERE dcid IN (7001, 7010) ORDER BY dcid;
-- ... also when a person assigns it.
SELECT status, dcid, new_username, dn
  FROM pssync.ldap_assign('student', 7010, 'uid=alovelace,ou=Linked,dc=district,dc=org', dry_run => true);

-- A person resolves a broken link with ldap_assign: Barbara Liskov's only
-- candidate is Barb Liskov, whose entry replaces the link ...
SELECT status, dcid, new_username
  FROM pssync.ldap_assign('student', 7008, 'uid=bliskov2,ou=Linked,dc=district,dc=org');
SELECT dcid, dn, linked_by FROM pssync.links WHERE dcid = 7008;
-- ... or unlinks the record with ldap_unlink (true if it had a link): it
-- is matched by its names again (Donald Knuth's entry is inactive).
SELECT pssync.ldap_unlink('student', 7012);
SELECT pssync.ldap_unlink('student', 7012);
SELECT status, dcid, candidates, matched_by
  FROM pssync.ldap_sync_students('linked', dry_run => true) WHERE dcid IN (7008, 7012)
 ORDER BY dcid;
SELECT function, selection, records FROM pssync.sync_run WHERE function = 'ldap_unlink' ORDER BY run_id;
-- Unlinking takes what a real sync of the record takes.
CREATE ROLE regress_unlinker;
GRANT USAGE ON SCHEMA pssync TO regress_unlinker;
GRANT USAGE ON FOREIGN SERVER district_ldap TO regress_unlinker;
SET ROLE regress_unlinker;
SELECT pssync.ldap_unlink('student', 7011);
RESET ROLE;
REVOKE ALL ON SCHEMA pssync FROM regress_unlinker;
REVOKE ALL ON FOREIGN SERVER district_ldap FROM regress_unlinker;
DROP ROLE regress_unlinker;

-- pssync.use_links = off: links are neither read nor written, and the
-- rows are those of a database that never had links.
SET pssync.use_links = off;
CREATE TEMP TABLE without_links AS
SELECT * FROM pssync.ldap_sync_students('linked', dry_run => true) WITH ORDINALITY;
BEGIN;
DELETE FROM pssync.record_links;
CREATE TEMP TABLE never_linked AS
SELECT * FROM pssync.ldap_sync_students('linked', dry_run => true) WITH ORDINALITY;
SELECT (SELECT count(*) FROM without_links) AS rows,
       (SELECT count(*) FROM (TABLE without_links EXCEPT ALL TABLE never_linked) d) AS differ,
       (SELECT count(*) FROM without_links WHERE matched_by = 'link' OR status = 'link_broken') AS through_links;
ROLLBACK;
BEGIN;
SELECT count(*) FROM pssync.ldap_sync_students('linked');
SELECT count(*) AS links_made FROM pssync.links WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run);
ROLLBACK;
RESET pssync.use_links;

-- Both strategies give the same rows through links.
SET pssync.strategy = 'search';
CREATE TEMP TABLE by_search AS
SELECT * FROM pssync.ldap_sync_students('linked', dry_run => true) WITH ORDINALITY;
SET pssync.strategy = 'scan';
CREATE TEMP TABLE by_scan AS
SELECT * FROM pssync.ldap_sync_students('linked', dry_run => true) WITH ORDINALITY;
RESET pssync.strategy;
SELECT (SELECT count(*) FROM by_search) AS rows,
       (SELECT count(*) FROM (TABLE by_search EXCEPT ALL TABLE by_scan) d) AS only_search,
       (SELECT count(*) FROM (TABLE by_scan EXCEPT ALL TABLE by_search) d) AS only_scan;

-- A district-wide run matches through every link of its type; a link's
-- run_id is the latest run that made it or matched through it, and a
-- broken one keeps its own.  A link whose record is gone is removed.
BEGIN;
DELETE FROM students WHERE dcid = 7004;
DELETE FROM pssync.record_links WHERE dcid = 7005;  -- made again by this run
SELECT count(*) FROM pssync.ldap_sync_district('students');
SELECT dcid, run_id = (SELECT max(run_id) FROM pssync.sync_run) AS this_run
  FROM pssync.links ORDER BY dcid;
-- ... and the next district-wide run confirms them all again, without
-- writing them.
SELECT count(*) FROM pssync.ldap_sync_district('students');
SELECT dcid, run_id = (SELECT max(run_id) FROM pssync.sync_run) AS this_run
  FROM pssync.links ORDER BY dcid;
SELECT count(*) FILTER (WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run)) AS written_by_it
  FROM pssync.record_links;
ROLLBACK;

-- The history counts the broken links, and says how each match was made.
SELECT unchanged, updated, partial, no_match, conflict, link_broken, links_confirmed
  FROM pssync.sync_run WHERE function = 'ldap_sync_students' AND selection = 'linked'
 ORDER BY run_id;
SELECT matched_by, count(*) FROM pssync.sync_log l JOIN pssync.sync_run r USING (run_id)
 WHERE r.selection = 'linked' GROUP BY matched_by ORDER BY matched_by;

-- Clean up: the records, their links, and ou=Linked.
DELETE FROM pssync.record_links;
DELETE FROM students WHERE dcid BETWEEN 7000 AND 7099;
DROP TABLE linked;
ALTER SERVER district_ldap OPTIONS (DROP filter, SET student_base_dn 'ou=Students,dc=district,dc=org');
\set ECHO none
\! ldapdelete $LDAP_ADMIN -r ou=Linked,dc=district,dc=org ou=Elsewhere,dc=district,dc=org >/dev/null && echo "ou=Linked is gone"
\set ECHO all
