--
-- suggest: pssync.ldap_suggest(record_type, dcid, max_results) ranks the
-- directory entries that could be a record, best first, with a score in
-- [0, 1] (1 is an exact match) and the reasons of it.
--
-- The records are those of test/fixtures/suggest_district.sql (schema
-- suggest, with a preferred first name), the directory ou=Suggest
-- (test/fixtures/suggest.ldif); each record shows one reason, or a
-- combination.  The server suggest_ldap matches on employeeNumber.
--
\set ECHO none
\i test/fixtures/suggest_district.sql
\set ECHO all
\getenv ldap_uri PSSYNC_LDAP_URI
\getenv ldap_password PSSYNC_LDAP_PASSWORD
CREATE SERVER suggest_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'ldap_uri', base_dn 'dc=district,dc=org',
           student_base_dn 'ou=Students,ou=Suggest,dc=district,dc=org',
           staff_base_dn 'ou=Staff,ou=Suggest,dc=district,dc=org',
           student_id_attr 'employeeNumber');
CREATE USER MAPPING FOR PUBLIC SERVER suggest_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org', password :'ldap_password');
SET pssync.server = 'suggest_ldap';
SET pssync.students_table = 'suggest.students';
SET pssync.users_table = 'suggest.users';
SET pssync.schoolstaff_table = 'suggest.schoolstaff';
SET pssync.student_preferred_name_column = 'preferred_first_name';

-- Every reason: each record's suggestions.  An exact match scores 1; the
-- others less, by what differs.  Kate Miller's two nicknames tie, and so
-- do the two entries that hold Patty Q's ID: rank breaks the tie in DN
-- order.  Walt White's entry has a user ID another student holds
-- (uid_taken): listed, at half the score.
SELECT s.dcid, s.first_name, s.last_name, s.preferred_first_name AS preferred,
       g.rank, g.dn, g.score, g.reasons
  FROM suggest.students s
  LEFT JOIN LATERAL pssync.ldap_suggest('student', s.dcid) g ON true
 WHERE s.dcid BETWEEN 5001 AND 5021
 ORDER BY s.dcid, g.rank;

-- What a suggestion shows: the entry's names and user ID.
SELECT * FROM pssync.ldap_suggest('student', 5002);
SELECT * FROM pssync.ldap_suggest('student', 5016);
-- at most max_results of them (5 by default)
SELECT rank, dn FROM pssync.ldap_suggest('student', 5016, max_results => 1);

-- Teachers and staff, in the users table, under staff_base_dn.
SELECT u.dcid, u.first_name, u.last_name, g.rank, g.dn, g.score, g.reasons
  FROM suggest.users u
  LEFT JOIN LATERAL pssync.ldap_suggest(CASE u.dcid WHEN 6001 THEN 'teacher' ELSE 'staff' END, u.dcid) g ON true
 ORDER BY u.dcid, g.rank;

-- An entry linked to another record is listed with linked_elsewhere, at
-- half the score: Lee Jones 5018 is assigned ljones (which also gives him
-- the user ID), so for the other Lee Jones (5019) the same entry is
-- linked elsewhere, and its user ID taken.
BEGIN;
SELECT status, dcid, new_username FROM pssync.ldap_assign('student', 5018,
       'uid=ljones,ou=Students,ou=Suggest,dc=district,dc=org');
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5018);
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5019);
ROLLBACK;

-- Names are data.  Filter syntax in a name is only itself: "*" finds the
-- entries named "*" and nothing else, and so do "(", ")" and "\"; a name
-- with a control character is only ever compared as it is.  The searches
-- asked (DEBUG2) show every value escaped, and no search that could read
-- the whole directory: each holds a whole name, or at least three letters
-- of one (a name's letters outside ASCII left open: "Jos*", "N*ez").
SELECT s.dcid, to_json(s.first_name) AS first_name, to_json(s.last_name) AS last_name,
       g.rank, g.dn, g.score, g.reasons
  FROM suggest.students s
  LEFT JOIN LATERAL pssync.ldap_suggest('student', s.dcid) g ON true
 WHERE s.dcid BETWEEN 5022 AND 5029 AND s.dcid <> 5028
 ORDER BY s.dcid, g.rank;
SET client_min_messages = debug2;
SELECT count(*) FROM pssync.ldap_suggest('student', 5023);
SELECT count(*) FROM pssync.ldap_suggest('student', 5024);
SELECT count(*) FROM pssync.ldap_suggest('student', 5029);
SELECT count(*) FROM pssync.ldap_suggest('student', 5003);
RESET client_min_messages;
-- A record named "John)(uid=*" Smith is compared by its words, "John" and
-- "uid": John Smith has one of them (middle_name), the other Smiths none;
-- a first name "*" has no words, so no Smith is suggested.
BEGIN;
UPDATE suggest.students SET first_name = 'John)(uid=*', last_name = 'Smith' WHERE dcid = 5023;
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5023);
UPDATE suggest.students SET first_name = '*', last_name = 'Smith' WHERE dcid = 5023;
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5023);
ROLLBACK;

-- A long name makes no long filter: a name's parts asked for are at most
-- 16, and a name longer than 256 bytes is compared only whole (no
-- substring).  Smith of 2,000 parts finds nothing, at once; Smith and 20
-- parts more still finds John Smith by the first part.
BEGIN;
ALTER TABLE suggest.students ALTER last_name TYPE text;
UPDATE suggest.students SET first_name = 'John',
       last_name = 'Smith' || repeat(' Smith', 1999) WHERE dcid = 5023;
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5023);
UPDATE suggest.students SET first_name = 'John',
       last_name = 'Smith' || repeat('-Xy', 20) WHERE dcid = 5023;
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5023);
ROLLBACK;

-- The preferred first name is read only when a superuser names its column.
RESET pssync.student_preferred_name_column;
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5007);
SET pssync.student_preferred_name_column = 'no_such_column';
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest('student', 5007)$$);
SET pssync.student_preferred_name_column = 'preferred_first_name';
CREATE ROLE regress_suggest_clerk;
GRANT USAGE ON SCHEMA pssync, regress, suggest TO regress_suggest_clerk;
GRANT SELECT ON ALL TABLES IN SCHEMA suggest TO regress_suggest_clerk;
SET ROLE regress_suggest_clerk;
SELECT regress.error_of($$SET pssync.student_preferred_name_column = 'first_name'$$);
SELECT regress.error_of($$SET pssync.staff_preferred_name_column = 'first_name'$$);

-- Suggesting takes what reading a record and the directory takes: USAGE
-- on the server, SELECT on the table.
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest('student', 5004)$$);
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER suggest_ldap TO regress_suggest_clerk;
SET ROLE regress_suggest_clerk;
SELECT rank, dn, score, reasons FROM pssync.ldap_suggest('student', 5004);
RESET ROLE;
REVOKE SELECT ON suggest.students FROM regress_suggest_clerk;
SET ROLE regress_suggest_clerk;
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest('student', 5004)$$);
RESET ROLE;
REVOKE ALL ON ALL TABLES IN SCHEMA suggest FROM regress_suggest_clerk;
REVOKE ALL ON SCHEMA pssync, regress, suggest FROM regress_suggest_clerk;
REVOKE USAGE ON FOREIGN SERVER suggest_ldap FROM regress_suggest_clerk;
DROP ROLE regress_suggest_clerk;

-- Bad arguments.
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest('pupil', 5004)$$);
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest(NULL, 5004)$$);
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest('student', NULL)$$);
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest('student', 5004, 0)$$);
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest('student', 5004, NULL)$$);
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest('student', 5004, 101)$$);
SELECT count(*) FROM pssync.ldap_suggest('student', 5004, 100);
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest('student', 99999)$$);
SELECT regress.error_of($$SELECT * FROM pssync.ldap_suggest('teacher', 5004)$$);

-- Nothing was written.
SELECT count(*) AS runs FROM pssync.sync_run WHERE server = 'suggest_ldap';
SELECT count(*) AS links FROM pssync.record_links WHERE server = 'suggest_ldap';
SELECT count(*) FILTER (WHERE student_web_id IS NOT NULL) AS usernames FROM suggest.students;
