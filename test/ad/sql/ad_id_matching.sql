--
-- ad_id_matching: matching by an ID before the names, as districts with
-- Active Directory often can: AD's employeeID holds the student number
-- (PowerSchool's students.student_number) or the teacher number
-- (users.teachernumber).  And the manual lookup and assignment of an
-- entry.
--
-- In test/ad/district.py, Ana García (900001), John Smith (900002), the
-- first Chris Lee (900005), Kate Jones (900006) and Alice Teacher (T001)
-- have an employeeID; both Jack Ambigs have T012.
--
BEGIN;
ALTER SERVER district_ad OPTIONS (ADD student_id_attr 'employeeID',
                                  ADD staff_id_attr 'employeeID');

-- Katherine Jones (1006) is Kate Jones by her number, whatever her name;
-- of the two Chris Lees, 1005 is the one with his number.  The others
-- fall back to the names.
SELECT status, dcid, first_name, last_name, new_username, dn, matched_by
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid IN (1001, 1002, 1003, 1005, 1006)
 ORDER BY dcid;

-- An ID two entries share decides nothing: the names do.
UPDATE users SET teachernumber = 'T012' WHERE dcid = 2012;
SELECT status, record_type, dcid, field, new_username, matched_by, candidates
  FROM pssync.ldap_sync_staff('users', dry_run => true)
 WHERE dcid IN (2001, 2012)
 ORDER BY dcid, field;

-- scan reads employeeID with the names and the user ID, and gives the
-- same rows.  Most entries have no employeeID: the scan asks, once, which
-- entries really lack it (a search for no attributes, "1.1"), since the
-- bind account might be allowed to search it without reading it.
CREATE TEMP TABLE by_search AS
  SELECT * FROM pssync.ldap_sync_students('students', dry_run => true);
SET LOCAL pssync.strategy = 'scan';
CALL adtest.tap_mark();
SELECT (SELECT array_agg(s::text ORDER BY s.dcid, s.field)
          FROM pssync.ldap_sync_students('students', dry_run => true) s)
     = (SELECT array_agg(s::text ORDER BY s.dcid, s.field) FROM by_search s) AS same_rows;
SELECT DISTINCT attrs FROM adtest.tap_searches() ORDER BY 1;
ROLLBACK;

-- The manual lookup: the entries with a last name (and first name), for
-- a person to choose from; with the district's filter, so not Li Wei's
-- laptop.  (They come in the directory's order, which for Samba is that
-- of the entries' GUIDs: sorted here.)
SELECT * FROM pssync.ldap_lookup('Jones') ORDER BY dn;
SELECT * FROM pssync.ldap_lookup('wei', 'li') ORDER BY dn;
SELECT * FROM pssync.ldap_lookup('Lee', NULL, 'staff') ORDER BY dn;

-- ... and the assignment of one of them to a record, with a sync's
-- checks: Katherine Jones is Kate.
BEGIN;
SELECT status, dcid, field, old_username, new_username, dn
  FROM pssync.ldap_assign('student', 1006, 'CN=Kate Jones,OU=Students,DC=district,DC=test');
SELECT dcid, student_web_id FROM students WHERE dcid = 1006;
-- an entry whose user ID another record holds: conflict, nothing written
SELECT status, dcid, new_username
  FROM pssync.ldap_assign('student', 1011, 'CN=Ana García,OU=Students,DC=district,DC=test');
-- the laptop is not a person: the district's filter applies
SELECT adtest.error_of($$SELECT * FROM pssync.ldap_assign('student', 1017, 'CN=LWEI-LAPTOP,OU=Laptops,OU=Students,DC=district,DC=test')$$);
ROLLBACK;
