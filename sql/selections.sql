--
-- selections: which records a sync takes.
--
-- A selection is any relation with a column dcid; the records processed
-- are the students (or users) whose dcid is in it.  Duplicate, NULL and
-- unknown dcids are harmless.
--

-- A temporary table, as a person would build from a PowerSchool search.
CREATE TEMP TABLE tonight (dcid bigint);
INSERT INTO tonight VALUES (1002), (1002), (NULL), (999999), (1005), (1017);
SELECT status, dcid, first_name, last_name, new_username
  FROM pssync.ldap_sync_students('tonight', dry_run => true);

-- A view: the students of one school.
CREATE VIEW lincoln_students AS SELECT dcid FROM students WHERE schoolid = 100;
SELECT status, dcid, first_name, last_name, new_username
  FROM pssync.ldap_sync_students('lincoln_students', dry_run => true);

-- A materialized view, and a view of users.
CREATE MATERIALIZED VIEW graduates AS SELECT dcid FROM students WHERE enroll_status = 3;
SELECT status, dcid, first_name, last_name, new_username
  FROM pssync.ldap_sync_students('graduates', dry_run => true);
CREATE VIEW roosevelt_users AS SELECT dcid FROM users WHERE homeschoolid = 200;
SELECT status, record_type, dcid, field, new_username
  FROM pssync.ldap_sync_staff('roosevelt_users', dry_run => true);

-- dcid may be of any integer type, and the selection may live in any
-- schema, under any name.
CREATE SCHEMA "Night Jobs";
CREATE TABLE "Night Jobs"."Selection ""A""" (dcid numeric, note text);
INSERT INTO "Night Jobs"."Selection ""A""" VALUES (1003, 'x'), (1004.0, 'y');
SELECT status, dcid, new_username
  FROM pssync.ldap_sync_students('"Night Jobs"."Selection ""A"""', dry_run => true);
CREATE TEMP TABLE small_ids (dcid smallint);
INSERT INTO small_ids VALUES (2001);
SELECT status, record_type, dcid, new_username
  FROM pssync.ldap_sync_staff('small_ids', dry_run => true);

-- An empty selection syncs nothing.
CREATE TEMP TABLE nobody (dcid bigint);
SELECT count(*) FROM pssync.ldap_sync_students('nobody', dry_run => true);

-- A selection of users given to the students' function selects students
-- with those dcids: here, none.
SELECT count(*) FROM pssync.ldap_sync_students('roosevelt_users', dry_run => true);

-- What is not a selection is an error, before the directory is asked.
CREATE TEMP TABLE no_dcid (id bigint);
SELECT pssync.ldap_sync_students('no_dcid');
CREATE TEMP TABLE text_dcid (dcid text);
SELECT pssync.ldap_sync_students('text_dcid');
CREATE SEQUENCE a_sequence;
SELECT pssync.ldap_sync_students('a_sequence');
SELECT pssync.ldap_sync_students('no_such_table');
SELECT pssync.ldap_sync_students(NULL);
SELECT pssync.ldap_sync_students(0);
SELECT pssync.ldap_sync_staff('no_dcid');

-- The caller needs SELECT on the selection.
CREATE ROLE regress_nosel;
GRANT USAGE ON SCHEMA pssync, regress TO regress_nosel;
GRANT USAGE ON FOREIGN SERVER district_ldap TO regress_nosel;
GRANT SELECT ON students, users, schoolstaff TO regress_nosel;
CREATE TABLE private_selection (dcid bigint);
SET ROLE regress_nosel;
SELECT regress.error_of($$SELECT pssync.ldap_sync_students('private_selection', dry_run => true)$$);
RESET ROLE;
DROP TABLE private_selection;
REVOKE ALL ON students, users, schoolstaff FROM regress_nosel;
REVOKE ALL ON SCHEMA pssync, regress FROM regress_nosel;
REVOKE ALL ON FOREIGN SERVER district_ldap FROM regress_nosel;
DROP ROLE regress_nosel;

-- Nothing above wrote anything.
SELECT regress.usernames() = (SELECT usernames FROM regress.fixture_usernames) AS as_before;
