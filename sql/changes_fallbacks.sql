--
-- changes_fallbacks: when ldap_sync_changes cannot tell what changed in
-- the directory since the watermark, it runs the scope in full, says why
-- in a NOTICE, and returns a full run's rows.  (test/scripts/
-- changes_provider.sh shows the providers that refuse a cookie, keep no
-- session log, restart, or do not offer Content Synchronization.)
--
\getenv ldap_uri PSSYNC_LDAP_URI
\set ldap_admin '-x -H ' :ldap_uri ' -D cn=admin,dc=district,dc=org -w admin-secret'
\set ECHO none
\setenv LDAP_ADMIN :ldap_admin
\! ldapdelete $LDAP_ADMIN -r ou=Changes,dc=district,dc=org ou=ChangesAway,dc=district,dc=org >/dev/null 2>&1; ldapadd $LDAP_ADMIN -f test/fixtures/changes/people.ldif >/dev/null && echo "the people of ou=Changes are in the directory"
\set ECHO all

ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Changes,dc=district,dc=org');
INSERT INTO students (dcid, first_name, last_name, student_web_id) VALUES
  (8201, 'Alice', 'Chapple', NULL),
  (8202, 'Bob', 'Chberry', 'cberry');
CREATE TEMP TABLE ours AS SELECT dcid FROM students WHERE dcid BETWEEN 8200 AND 8299;
-- a run's rows, and how many it returned
CREATE FUNCTION regress.changes_run(dry boolean DEFAULT false)
RETURNS TABLE (status text, dcid bigint, new_username text, records bigint)
LANGUAGE sql AS $$
  SELECT r.status, r.dcid, r.new_username, count(*) OVER ()
    FROM pssync.ldap_sync_changes('students', dry) r
$$;

-- No watermark: a full run.
SELECT status, dcid, new_username, records > 2 AS full_rows
  FROM regress.changes_run() WHERE dcid BETWEEN 8200 AND 8299 ORDER BY dcid;
SELECT count(*) FROM pssync.ldap_sync_changes('students');

-- A cookie the directory ignores without a word: garbage, or a cookie of
-- another provider (another server ID).  slapd sends its whole content
-- for it; pssync notices an entry the cookie already covers, stops, and
-- runs in full.  The watermark is the directory's own again afterwards.
UPDATE pssync.sync_state SET cookie = convert_to('rid=000,csn=garbage', 'UTF8')
 WHERE record_group = 'students';
SELECT status, dcid, records > 2 AS full_rows
  FROM regress.changes_run() WHERE dcid BETWEEN 8200 AND 8299 ORDER BY dcid;
UPDATE pssync.sync_state
   SET cookie = convert_to(regexp_replace(convert_from(cookie, 'UTF8'), '#[0-9a-f]{3}#', '#07f#'), 'UTF8')
 WHERE record_group = 'students';
SELECT status, dcid, records > 2 AS full_rows
  FROM regress.changes_run() WHERE dcid BETWEEN 8200 AND 8299 ORDER BY dcid;
SELECT count(*) FROM pssync.ldap_sync_changes('students');

-- A cookie older than the provider's session log reaches back: slapd
-- answers it with a present phase, the UUID of every entry, which costs as
-- much as a full read.  pssync stops it and runs in full.
UPDATE pssync.sync_state
   SET cookie = convert_to(regexp_replace(convert_from(cookie, 'UTF8'), 'csn=[0-9]{14}', 'csn=20000101000000'), 'UTF8')
 WHERE record_group = 'students';
SELECT status, dcid, records > 2 AS full_rows
  FROM regress.changes_run() WHERE dcid BETWEEN 8200 AND 8299 ORDER BY dcid;

-- The server's options change what a group's entries are, or what its
-- rows say: the watermark holds for the old ones, so a full run.
ALTER SERVER district_ldap OPTIONS (ADD filter '(&(objectClass=person)(!(employeeType=inactive)))');
SELECT status, dcid, records > 2 AS full_rows
  FROM regress.changes_run() WHERE dcid BETWEEN 8200 AND 8299 ORDER BY dcid;
SET pssync.use_links = off;
SELECT status, dcid, records > 2 AS full_rows
  FROM regress.changes_run(true) WHERE dcid BETWEEN 8200 AND 8299 ORDER BY dcid;
RESET pssync.use_links;
SELECT count(*) FROM pssync.ldap_sync_changes('students');
-- So do the variants a sync accepts (pssync.accept_variants), and with
-- them the nicknames; and the preferred first names.
SET pssync.accept_variants = 'nickname';
SELECT status, dcid, records > 2 AS full_rows
  FROM regress.changes_run() WHERE dcid BETWEEN 8200 AND 8299 ORDER BY dcid;
SELECT count(*) FROM pssync.ldap_sync_changes('students');
INSERT INTO pssync.nicknames (name, variant) VALUES ('Alicia', 'Allie');
SELECT status, dcid, records > 2 AS full_rows
  FROM regress.changes_run() WHERE dcid BETWEEN 8200 AND 8299 ORDER BY dcid;
DELETE FROM pssync.nicknames WHERE NOT shipped;
RESET pssync.accept_variants;
SELECT count(*) > 2 AS full_rows FROM pssync.ldap_sync_changes('students');
SET pssync.student_preferred_name_column = 'student_number';
SELECT count(*) > 2 AS full_rows FROM pssync.ldap_sync_changes('students');
SELECT count(*) FROM pssync.ldap_sync_changes('students');
RESET pssync.student_preferred_name_column;
SELECT count(*) > 2 AS full_rows FROM pssync.ldap_sync_changes('students');

-- Entries named by another permanent ID than the one Content
-- Synchronization names them by: every run is full, and keeps no watermark.
ALTER SERVER district_ldap OPTIONS (ADD entry_id_attr 'uid');
SELECT status, dcid, records > 2 AS full_rows
  FROM regress.changes_run(true) WHERE dcid BETWEEN 8200 AND 8299 ORDER BY dcid;
ALTER SERVER district_ldap OPTIONS (DROP entry_id_attr);

-- Many records changed at once (a bulk update in PowerSchool): a full run
-- is cheaper, and runs.
INSERT INTO students (dcid, first_name, last_name)
SELECT 820000 + g, 'Many', 'Chmany' || g FROM generate_series(1, 1100) g;
SELECT count(*) > 1100 AS full_rows FROM pssync.ldap_sync_changes('students', dry_run => true);
DELETE FROM students WHERE dcid > 820000;

-- Clean up.
DROP FUNCTION regress.changes_run(boolean);
DELETE FROM students WHERE dcid BETWEEN 8200 AND 8299;
DELETE FROM pssync.record_links WHERE dcid BETWEEN 8200 AND 8299;
DELETE FROM pssync.record_state;
DELETE FROM pssync.entry_state;
DELETE FROM pssync.sync_state;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Students,dc=district,dc=org', DROP filter);
\! ldapdelete $LDAP_ADMIN -r ou=Changes,dc=district,dc=org ou=ChangesAway,dc=district,dc=org >/dev/null && echo "ou=Changes is gone"
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;
