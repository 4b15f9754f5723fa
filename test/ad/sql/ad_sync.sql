--
-- ad_sync: the sample district against Active Directory, dry runs and
-- real runs, every status, and the six district-wide scopes.
--
-- The user ID is sAMAccountName, the filter the district's
-- (&(objectCategory=person)(objectClass=user)) (see ad_setup).
--

-- A dry run of every student: what a sync would do, and why.
SELECT section, status, dcid, first_name, last_name, field, old_username, new_username, dn, candidates
  FROM pssync.ldap_sync_students('students', dry_run => true);

-- Every teacher and staff member: teachers have their Teacher Username
-- checked, and their Admin Username too with admin access (psaccess 1).
SELECT section, status, record_type, dcid, first_name, last_name, field,
       old_username, new_username, dn, candidates
  FROM pssync.ldap_sync_staff('users', dry_run => true);

-- A dry run changes nothing.
SELECT adtest.usernames() = (SELECT usernames FROM adtest.fixture_usernames) AS as_before;

-- A real run writes what the dry run said it would ...
BEGIN;
SELECT status, string_agg(dcid::text, ' ' ORDER BY dcid) AS dcids
  FROM pssync.ldap_sync_students('students')
 GROUP BY status ORDER BY status;
SELECT dcid, first_name, last_name, student_web_id FROM students ORDER BY dcid;

-- ... and a second run finds the written usernames unchanged: only the
-- exceptions are left.
SELECT section, status, string_agg(dcid::text, ' ' ORDER BY dcid) AS dcids
  FROM pssync.ldap_sync_students('students')
 GROUP BY section, status ORDER BY section, status;

SELECT status, record_type, string_agg(dcid || coalesce(':' || field, ''), ' ' ORDER BY dcid, field) AS checks
  FROM pssync.ldap_sync_staff('users')
 GROUP BY status, record_type ORDER BY status, record_type;
SELECT dcid, first_name, last_name, loginid, teacherloginid FROM users ORDER BY dcid;
ROLLBACK;

-- The district-wide scopes (dry runs).  students, teachers and staff
-- take every record of the kind; the _blank scopes take the records where
-- a username checked for them is blank (NULL, empty, or white space).
-- (A student has one username, student_web_id; a user's are named.)
SELECT scope, status,
       string_agg(dcid || coalesce(':' || nullif(field, 'student_web_id'), ''), ' '
                  ORDER BY dcid, field) AS checks
  FROM unnest(ARRAY['students', 'students_blank', 'teachers', 'teachers_blank',
                    'staff', 'staff_blank']) WITH ORDINALITY AS s(scope, o),
       LATERAL pssync.ldap_sync_district(scope, dry_run => true)
 GROUP BY o, scope, status ORDER BY o, status;

-- A real run of a scope, then its _blank scope: only what is still blank
-- is left, and what remains is what the directory could not settle.
BEGIN;
SELECT status, count(*) FROM pssync.ldap_sync_district('students') GROUP BY status ORDER BY status;
SELECT status, dcid, first_name, last_name, '"' || old_username || '"' AS old_username
  FROM pssync.ldap_sync_district('students_blank', dry_run => true);
SELECT status, count(*) FROM pssync.ldap_sync_district('teachers') GROUP BY status ORDER BY status;
SELECT status, dcid, field, old_username
  FROM pssync.ldap_sync_district('teachers_blank', dry_run => true);
ROLLBACK;

-- A selection: a view of the records to sync.
BEGIN;
CREATE TEMP VIEW lincoln_grade_2 AS
  SELECT dcid FROM students WHERE schoolid = 100 AND grade_level = 2;
SELECT status, dcid, first_name, last_name, old_username, new_username
  FROM pssync.ldap_sync_students('lincoln_grade_2');
SELECT dcid, student_web_id FROM students WHERE dcid IN (SELECT dcid FROM lincoln_grade_2) ORDER BY dcid;
ROLLBACK;

SELECT adtest.usernames() = (SELECT usernames FROM adtest.fixture_usernames) AS as_before;
