--
-- changes: pssync.ldap_sync_changes() returns the rows of the records that
-- what changed since the previous run touches, on either side, and they
-- are the rows a district-wide run would return for them now.
--
-- The people are under ou=Changes, which this test adds to the directory
-- and changes between runs (test/fixtures/changes/), with ldapmodify as
-- the directory's administrator.  The test directory is an RFC 4533
-- provider: slapd's syncprov overlay with a session log.
--
\getenv ldap_uri PSSYNC_LDAP_URI
\set ldap_admin '-x -H ' :ldap_uri ' -D cn=admin,dc=district,dc=org -w admin-secret'
\set ECHO none
\setenv LDAP_ADMIN :ldap_admin
\! ldapdelete $LDAP_ADMIN -r ou=Changes,dc=district,dc=org ou=ChangesAway,dc=district,dc=org >/dev/null 2>&1; ldapadd $LDAP_ADMIN -f test/fixtures/changes/people.ldif >/dev/null && echo "the people of ou=Changes are in the directory"
\set ECHO all

ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Changes,dc=district,dc=org',
                                    ADD filter '(&(objectClass=person)(!(employeeType=inactive)))');
INSERT INTO students (dcid, first_name, last_name, student_web_id) VALUES
  (8101, 'Alice', 'Chapple', 'capple'),
  (8102, 'Bob', 'Chberry', 'cberry'),
  (8103, 'Carl', 'Chcherry', 'ccherry'),
  (8104, 'Dana', 'Chdate', 'cdate'),
  (8105, 'Evan', 'Chelder', 'celder'),
  (8106, 'Fay', 'Chfig', 'cfig'),
  (8107, 'Gil', 'Chgrape', NULL),
  (8108, 'Hana', 'Chhazel', NULL),
  (8109, 'Ian', 'Chiris', 'ciris'),
  (8110, 'Jack', 'Chjune', NULL),
  (8111, 'Jill', 'Chjuniper', 'cjune'),
  (8112, 'Lu', 'Chlime', NULL),
  (8113, 'Mo', 'Chmint', 'cmint');

-- The first run has no watermark: it runs in full, and says so.  Its rows
-- are a full run's (here: of the records of this test).
SELECT status, dcid, first_name, last_name, new_username, dn, candidates
  FROM pssync.ldap_sync_changes('students')
 WHERE dcid BETWEEN 8100 AND 8199 ORDER BY dcid;
-- It keeps its watermark: the provider's cookie, the directory host it
-- came from, and the size of the full read.
SELECT server, record_group, base_dn, mechanism,
       convert_from(cookie, 'UTF8') LIKE 'rid=%csn=%' AS cookie,
       host = :'ldap_uri' AS host, invocation_id, entries > 0 AS entries
  FROM pssync.sync_state WHERE server = 'district_ldap' AND record_group = 'students';

-- Nothing changed: nothing is returned.
SELECT count(*) FROM pssync.ldap_sync_changes('students');

-- The directory changes (test/fixtures/changes/changes.ldif): Bob's user
-- ID, Carl's entry renamed, Dana's moved within the base DN, Evan's moved
-- out of it, Fay's deleted, an account for Gil, Ian's made inactive (the
-- server's filter leaves it out), a second Chlime for Lu's partial match,
-- and a description of Mo's.  PowerSchool changes: Hana's first name
-- (Hank, as the directory has it), Jill's username given up (which Jack's
-- entry has), Alice's username, and a new student.
\! ldapmodify $LDAP_ADMIN -f test/fixtures/changes/changes.ldif >/dev/null && echo "the directory changed"
UPDATE students SET first_name = 'Hank' WHERE dcid = 8108;
UPDATE students SET student_web_id = NULL WHERE dcid = 8111;
UPDATE students SET student_web_id = 'capple.old' WHERE dcid = 8101;
INSERT INTO students (dcid, first_name, last_name) VALUES (8114, 'Una', 'Chapple');

-- What a district-wide run says now.
CREATE TEMP TABLE full_now AS
SELECT * FROM pssync.ldap_sync_district('students', dry_run => true);

-- A dry run returns the records whose rows changed, and writes nothing:
-- not the usernames, and not the watermark.
CREATE TEMP TABLE watermark AS SELECT cookie FROM pssync.sync_state WHERE server = 'district_ldap' AND record_group = 'students';
SELECT status, dcid, new_username FROM pssync.ldap_sync_changes('students', dry_run => true)
 ORDER BY dcid;
SELECT (SELECT cookie FROM pssync.sync_state WHERE server = 'district_ldap' AND record_group = 'students')
       = (SELECT cookie FROM watermark) AS same_watermark;

-- A rolled-back run keeps the old watermark: the next run sees the same
-- changes again.
BEGIN;
SELECT count(*) FROM pssync.ldap_sync_changes('students');
SELECT (SELECT cookie FROM pssync.sync_state WHERE server = 'district_ldap' AND record_group = 'students')
       = (SELECT cookie FROM watermark) AS same_watermark_inside;
ROLLBACK;
SELECT (SELECT cookie FROM pssync.sync_state WHERE server = 'district_ldap' AND record_group = 'students')
       = (SELECT cookie FROM watermark) AS same_watermark;

-- The real run: the records the changes touched and whose rows changed,
-- in the order of a run's rows.  Mo's entry changed, but nothing of his
-- rows; Jack's records nothing changed, but the username he wants was
-- given up.
CREATE TEMP TABLE changes_now AS
SELECT * FROM pssync.ldap_sync_changes('students') WITH ORDINALITY;
SELECT status, dcid, first_name, last_name, old_username, new_username, dn,
       candidates, matched_by
  FROM changes_now ORDER BY ordinality;
-- Each record's rows are those of the district-wide run.
SELECT count(*) AS returned,
       count(*) FILTER (WHERE (c.section, replace(c.status, 'updated', 'would_update'),
                               c.first_name, c.last_name, c.field, c.old_username,
                               c.new_username, c.dn, c.candidates, c.candidate_count)
                              IS DISTINCT FROM
                              (f.section, f.status, f.first_name, f.last_name, f.field,
                               f.old_username, f.new_username, f.dn, f.candidates,
                               f.candidate_count)) AS different
  FROM changes_now c LEFT JOIN full_now f USING (dcid);
SELECT (SELECT cookie FROM pssync.sync_state WHERE server = 'district_ldap' AND record_group = 'students')
       <> (SELECT cookie FROM watermark) AS new_watermark;
-- It wrote the usernames, and links as any sync does.
SELECT dcid, student_web_id FROM students WHERE dcid IN (8101, 8102, 8107, 8108, 8110) ORDER BY dcid;
SELECT dcid, dn, user_id FROM pssync.links WHERE dcid BETWEEN 8100 AND 8199 ORDER BY dcid;

-- Then nothing is left to do.
SELECT count(*) FROM pssync.ldap_sync_changes('students');

-- The history: a run of each scope, with function ldap_sync_changes; an
-- incremental one says strategy "changes" (a full one, the strategy it
-- ran).  Its records are those it took; its rows, those it returned.
SELECT function, scope, strategy, records, unchanged, updated, link_broken,
       partial, conflict, no_match
  FROM pssync.sync_run WHERE function = 'ldap_sync_changes' AND strategy = 'changes'
 ORDER BY run_id;

-- pssync.max_changes holds as for any sync: too many changes, and nothing
-- is written, the watermark neither.
UPDATE students SET student_web_id = NULL WHERE dcid IN (8101, 8102);
SET pssync.max_changes = 1;
SELECT count(*) FROM pssync.ldap_sync_changes('students');
RESET pssync.max_changes;
SELECT dcid, student_web_id FROM students WHERE dcid IN (8101, 8102) ORDER BY dcid;
SELECT status, dcid, new_username FROM pssync.ldap_sync_changes('students') ORDER BY dcid;

-- A scope's records only: teachers and staff are another group, with a
-- watermark of their own.
BEGIN;
SELECT count(*) > 0 AS rows FROM pssync.ldap_sync_changes('teachers');
SELECT record_group, base_dn, mechanism FROM pssync.sync_state WHERE server = 'district_ldap' ORDER BY record_group;
ROLLBACK;
SELECT pssync.ldap_sync_changes('everyone');

-- Clean up: the records, their links and state, and ou=Changes.
DELETE FROM students WHERE dcid BETWEEN 8100 AND 8199;
DELETE FROM pssync.record_links WHERE dcid BETWEEN 8100 AND 8199;
DELETE FROM pssync.record_state;
DELETE FROM pssync.entry_state;
DELETE FROM pssync.sync_state;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Students,dc=district,dc=org', DROP filter);
\! ldapdelete $LDAP_ADMIN -r ou=Changes,dc=district,dc=org ou=ChangesAway,dc=district,dc=org >/dev/null && echo "ou=Changes is gone"
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;
