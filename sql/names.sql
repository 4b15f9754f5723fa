--
-- names: every name is escaped (RFC 4515) before it goes into a filter,
-- and the directory's own matching rules decide case.
--
SELECT status, dcid, first_name, last_name, new_username, dn
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid IN (1001, 1012, 1013, 1014, 1015, 1016, 1022)
 ORDER BY dcid;

-- A record named "*" must not match everyone: the directory has entries
-- named "* Smith" and "John *", and only those match, literally.
BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES
  (5001, '*', 'Smith'), (5002, 'John', '*'), (5003, 'Jo*', 'Sm*th');
SELECT status, dcid, first_name, last_name, dn, candidates
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid >= 5000 OR dcid = 1014;
ROLLBACK;

-- Filter syntax in a name is only a name.  (5014 and 5015 both match
-- Robert (Bob)'s entry, whose uid 1015 would get too: conflicts.)
BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES
  (5011, 'John)(uid=*', 'Smith'),
  (5012, 'John', 'Smith)(|(uid=*'),
  (5013, '\2a', 'Smith'),
  (5014, 'Robert (Bob)', 'Tables\Drop'),
  (5015, 'robert (BOB)', 'TABLES\DROP');
SELECT status, dcid, first_name, last_name, dn, candidates
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid > 5010
 ORDER BY dcid;
ROLLBACK;

-- Case, accents and white space: the directory folds case (also of
-- non-ASCII letters) but keeps accents and punctuation; names are sent
-- with leading and trailing white space removed and inner runs of it
-- reduced to one space.  (Most of these match an entry whose uid another
-- record holds, hence the conflicts: the dn shows the entry matched.)
BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES
  (5021, 'ana', 'GARCÍA'),
  (5022, 'Ana', 'Garcia'),
  (5023, E'\tMary-Jane ', E'Watson-Parker\n'),
  (5024, 'Robert   (Bob)', 'Tables\Drop'),
  (5025, 'Siobhan', 'O''BRIEN'),
  (5026, 'Siobhan', 'O’Brien');
SELECT status, dcid, to_json(first_name) AS first_name, to_json(last_name) AS last_name,
       dn, candidates
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid > 5020
 ORDER BY dcid;
ROLLBACK;

-- A record without a first name can only be a partial match; without a
-- last name there is nothing to search for.
BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES
  (5031, NULL, 'Jones'),
  (5032, '   ', 'Jones'),
  (5033, 'Kate', NULL),
  (5034, 'Kate', ''),
  (5035, NULL, NULL);
SELECT status, dcid, first_name, last_name, candidates
  FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid > 5030
 ORDER BY dcid;
ROLLBACK;
