--
-- conflicts: a username is never given to two records.
--
-- A directory value that another record already holds in the same column
-- (inside the selection or not) is a conflict, and so is a value that
-- more than one record of the sync would get.  Nothing is stored for
-- them, and no unique index is ever violated.
--

-- Mary Brown's entry says mbrown, which Maria Brown holds.
SELECT status, dcid, first_name, last_name, field, old_username, new_username
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE last_name = 'Brown';

-- The holder need not be in the selection.
CREATE TEMP TABLE only_mary (dcid bigint);
INSERT INTO only_mary VALUES (1010);
SELECT status, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_students('only_mary', dry_run => true);

-- Once the holder lets go of it, the value can be stored.
BEGIN;
UPDATE students SET student_web_id = 'mbrown.old' WHERE dcid = 1011;
SELECT status, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_students('only_mary');
SELECT dcid, student_web_id FROM students WHERE last_name = 'Brown' ORDER BY dcid;
ROLLBACK;

-- Two users of one name, with one entry: both would get hdup, so neither
-- does.
SELECT status, dcid, first_name, last_name, field, new_username
  FROM pssync.ldap_sync_staff('users', dry_run => true)
 WHERE last_name = 'Dup';

-- Usernames compare exactly: a holder of "JSmith" does not hold "jsmith".
BEGIN;
UPDATE students SET student_web_id = 'JSmith' WHERE dcid = 1007;
SELECT status, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid IN (1002, 1007);
ROLLBACK;

-- A record that already holds the directory's value is unchanged, even
-- when another record matches the same entry.
BEGIN;
INSERT INTO students (dcid, first_name, last_name, student_web_id) VALUES
  (6001, 'Li', 'Wei', NULL);
SELECT status, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE last_name = 'Wei';
ROLLBACK;

-- Conflicts are per column: Ned Conflict's Teacher Username is held by
-- Olga Oldaccount, while his Admin Username is free.
SELECT status, record_type, dcid, field, old_username, new_username
  FROM pssync.ldap_sync_staff('users', dry_run => true)
 WHERE dcid = 2016;
SELECT dcid, loginid, teacherloginid FROM users WHERE 'nconflict' IN (loginid, teacherloginid);

-- A real run with conflicts writes the rest, and no duplicate.
BEGIN;
SELECT status, count(*) FROM pssync.ldap_sync_staff('users') GROUP BY status ORDER BY status;
SELECT loginid, count(*) FROM users WHERE loginid IS NOT NULL GROUP BY loginid HAVING count(*) > 1;
SELECT teacherloginid, count(*) FROM users WHERE teacherloginid IS NOT NULL GROUP BY teacherloginid HAVING count(*) > 1;
ROLLBACK;

-- invalid_uid: a directory value that cannot be a username (white space,
-- or longer than the column) is reported and never stored or truncated.
SELECT status, dcid, field, old_username, new_username, dn
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE status = 'invalid_uid';
SELECT character_maximum_length FROM information_schema.columns
 WHERE table_name = 'students' AND column_name = 'student_web_id';

-- Without the unique index, the rules are the same.
BEGIN;
DROP INDEX students_student_web_id;
SELECT status, dcid, field, new_username
  FROM pssync.ldap_sync_students('students')
 WHERE status IN ('conflict', 'updated') AND dcid IN (1010, 1011, 1002);
SELECT student_web_id, count(*) FROM students WHERE student_web_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1;
ROLLBACK;
