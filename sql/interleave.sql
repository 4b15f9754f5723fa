--
-- interleave: the scan asks the directory many questions at once on one
-- connection, and each answer must go to its own question.  Here the
-- directory is reached through a relay (test/tools/ldapshuffle.c) that
-- holds the server's answers for a moment and releases them interleaved
-- across the concurrent searches, in reads that end anywhere.  libldap 2.6
-- then chains the answers of several searches together, which pssync
-- dispatches by each message's own id.  Run after run, the rows are those
-- of a search per record on a direct connection.
--
\set ECHO none
\set seed 0.42
\set people 2000
\i test/fixtures/awkward_district.sql
\set ECHO all
\getenv shuffle_uri PSSYNC_SHUFFLE_URI

BEGIN;
INSERT INTO students (dcid, first_name, last_name, student_web_id)
SELECT dcid, first_name, last_name, student_web_id FROM awkward.records;
CREATE TEMP TABLE awkward_students AS SELECT dcid FROM awkward.records;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Awkward,dc=district,dc=org');

SET LOCAL pssync.strategy = 'search';
CREATE TEMP TABLE direct AS
SELECT * FROM pssync.ldap_sync_students('awkward_students', dry_run => true) WITH ORDINALITY;

ALTER SERVER district_ldap OPTIONS (SET uri :'shuffle_uri');
SET LOCAL pssync.strategy = 'scan';
CREATE TEMP TABLE runs (run int, only_direct bigint, only_shuffled bigint);
DO $$
BEGIN
  FOR run IN 1..3 LOOP
    CREATE TEMP TABLE shuffled AS
    SELECT * FROM pssync.ldap_sync_students('awkward_students', dry_run => true) WITH ORDINALITY;
    INSERT INTO runs
    SELECT run,
           (SELECT count(*) FROM (TABLE direct EXCEPT ALL TABLE shuffled) d),
           (SELECT count(*) FROM (TABLE shuffled EXCEPT ALL TABLE direct) d);
    DROP TABLE shuffled;
  END LOOP;
END $$;
SELECT (SELECT count(*) FROM direct) AS rows, * FROM runs ORDER BY run;
ROLLBACK;
