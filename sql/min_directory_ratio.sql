--
-- min_directory_ratio: a full read of a group that returns fewer than
-- pssync.min_directory_ratio of the entries its last successful full read
-- returned is an ERROR, naming both counts, and nothing is written.  Wrong
-- credentials, an ACL change, a wrong OU or a broken filter can make a
-- directory look empty; a sync would then make exceptions of thousands of
-- records, and break their links.
--
-- (setup.sql turns the check off for the other tests, which point one
-- server at OUs of very different sizes.)
--
SET pssync.min_directory_ratio = 0.5;
SHOW pssync.min_directory_ratio;
SET pssync.strategy = 'scan';

BEGIN;
-- A real run's full read of ou=Students is remembered, with its size.
SELECT count(*) > 0 AS rows FROM pssync.ldap_sync_district('students');
SELECT record_group, entries, full_read_at IS NOT NULL AS read
  FROM pssync.sync_state WHERE server = 'district_ldap' AND record_group = 'students';

-- A wrong OU: the read of ou=Stringprep (18 entries) is refused, dry run
-- or not, and nothing is written.
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Stringprep,dc=district,dc=org');
SELECT regress.full_error_of($$SELECT * FROM pssync.ldap_sync_district('students', dry_run => true)$$);
SAVEPOINT before;
SELECT count(*) FROM pssync.ldap_sync_district('students');
ROLLBACK TO before;

-- A superuser lowers the ratio for one run; 0 turns the check off.
SET LOCAL pssync.min_directory_ratio = 0;
SELECT count(*) > 0 AS rows FROM pssync.ldap_sync_district('students', dry_run => true);
ROLLBACK;
RESET pssync.strategy;

-- Only a superuser, or a role granted SET on the parameter, may.
CREATE ROLE regress_ratio_lowerer;
SET ROLE regress_ratio_lowerer;
SET pssync.min_directory_ratio = 0;
RESET ROLE;
DROP ROLE regress_ratio_lowerer;
RESET pssync.min_directory_ratio;
