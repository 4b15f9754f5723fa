--
-- max_changes: a misconfigured directory (a wrong base DN, a wrong
-- attribute) can rewrite thousands of usernames in one night.
-- pssync.max_changes caps how many records a sync may change: a count, or
-- a percentage of the records processed.  A sync that would change more
-- fails and changes nothing; a dry run says how many it would change.
--
SHOW pssync.max_changes;

-- The students sync changes 10 of 23 records.
SET pssync.max_changes = 10;
BEGIN;
SELECT count(*) AS updated FROM pssync.ldap_sync_district('students') WHERE status = 'updated';
ROLLBACK;
SET pssync.max_changes = 9;
SELECT count(*) FROM pssync.ldap_sync_district('students');
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS nothing_changed;
SELECT count(*) AS would_update FROM pssync.ldap_sync_district('students', dry_run => true)
 WHERE status = 'would_update';

-- A percentage of the records processed: 10 of 23 is 43%; 39% of 23
-- records allows 9.
SET pssync.max_changes = '39%';
SELECT count(*) FROM pssync.ldap_sync_district('students');
SET pssync.max_changes = '50%';
BEGIN;
SELECT count(*) AS updated FROM pssync.ldap_sync_district('students') WHERE status = 'updated';
ROLLBACK;

-- Counted in integers, to a ten-thousandth of a percent: 1.12% of 625
-- records allows 7 changes (in floating point it is 7.000000000000001,
-- which would have allowed 8).
BEGIN;
INSERT INTO students (dcid, first_name, last_name)
SELECT 50000 + g, 'Nobody', 'Number ' || g FROM generate_series(1, 617) g;
CREATE TEMP TABLE six_hundred_25 AS
SELECT dcid FROM pssync.ldap_sync_district('students', dry_run => true)
 WHERE status = 'would_update' ORDER BY dcid LIMIT 8;
INSERT INTO six_hundred_25 SELECT 50000 + g FROM generate_series(1, 617) g;
SET LOCAL pssync.max_changes = '1.12%';
SELECT count(*) FROM pssync.ldap_sync_students('six_hundred_25');
ROLLBACK;

-- A teacher whose two usernames change counts once: Alice Teacher, given
-- admin access, has both changed.
SET pssync.max_changes = 5;
BEGIN;
UPDATE users SET psaccess = 1 WHERE dcid = 2001;
SELECT count(DISTINCT dcid) AS records_changed, count(*) AS usernames_changed
  FROM pssync.ldap_sync_district('teachers') WHERE status = 'updated';
ROLLBACK;

-- The wrong attribute: everything would change.
SET pssync.max_changes = '5%';
SELECT count(*) FROM pssync.ldap_sync_district('students', 'employeeNumber');

-- A percentage allows ceil(records * p / 100) changes, so that a small
-- run is not blocked: 5% of 3 records (an hourly job of new students,
-- one of them new) allows one change.
SET pssync.max_changes = '5%';
CREATE TEMP TABLE new_students (dcid) AS VALUES (1001), (1002), (1017);
BEGIN;
SELECT status, dcid, new_username FROM pssync.ldap_sync_students('new_students');
ROLLBACK;
-- '0' allows none, as a count or a percentage.
SET pssync.max_changes = '0';
SELECT count(*) FROM pssync.ldap_sync_students('new_students');
SET pssync.max_changes = '0%';
SELECT count(*) FROM pssync.ldap_sync_students('new_students');
-- ldap_assign is a person's choice of one entry: no limit applies.
BEGIN;
SELECT status, dcid, new_username
  FROM pssync.ldap_assign('student', 1006, 'uid=kjones,ou=Students,dc=district,dc=org');
ROLLBACK;
DROP TABLE new_students;

-- Bad values are refused when set.
SET pssync.max_changes = 'many';
SET pssync.max_changes = '150%';
SET pssync.max_changes = '-1';
SET pssync.max_changes = '2.5';
RESET pssync.max_changes;
SHOW pssync.max_changes;
