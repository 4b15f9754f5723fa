--
-- many_values: a directory may let a person add values to their own entry
-- (givenName and sn hold several values in inetOrgPerson).  The scan files
-- an entry under each pair of its first and last names; one with more
-- pairs than it files (256) is filed by its last names alone and asked
-- about, so that one entry cannot blow up the index or the suggestions.
-- The rows are the same under either strategy.
--
\getenv ldap_uri PSSYNC_LDAP_URI
\set ldap_admin '-x -H ' :ldap_uri ' -D cn=admin,dc=district,dc=org -w admin-secret'
\setenv LDAP_ADMIN :ldap_admin
\! (printf 'dn: ou=ManyValues,dc=district,dc=org\nobjectClass: organizationalUnit\nou: ManyValues\n\ndn: uid=many,ou=ManyValues,dc=district,dc=org\nobjectClass: inetOrgPerson\nuid: many\ncn: Ann Val\n'; for i in $(seq 1 20); do printf 'givenName: Ann%s\nsn: Val%s\n' $i $i; done; printf '\ndn: uid=few,ou=ManyValues,dc=district,dc=org\nobjectClass: inetOrgPerson\nuid: few\ncn: Ann7 Other\ngivenName: Ann7\nsn: Other\n') | ldapadd $LDAP_ADMIN >/dev/null && echo "an entry of 20 first and 20 last names is in the directory"

BEGIN;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=ManyValues,dc=district,dc=org');
INSERT INTO students (dcid, first_name, last_name) VALUES
  (9801, 'Ann7', 'Val13'),
  (9802, 'ann20', 'VAL1'),
  (9803, 'Ann21', 'Val2'),
  (9804, 'Ann7', 'Others');
CREATE TEMP TABLE many AS SELECT dcid FROM students WHERE dcid BETWEEN 9801 AND 9899;
SET LOCAL pssync.strategy = 'scan';
CREATE TEMP TABLE by_scan AS
SELECT status, dcid, new_username, candidates
  FROM pssync.ldap_sync_students('many', dry_run => true);
SET LOCAL pssync.strategy = 'search';
CREATE TEMP TABLE by_search AS
SELECT status, dcid, new_username, candidates
  FROM pssync.ldap_sync_students('many', dry_run => true);
-- Ann7 Val13 and ann20 VAL1 both find the entry (so both want its user
-- ID: a conflict); Ann21 Val2 finds its last name only.
SELECT * FROM by_scan ORDER BY dcid;
SELECT (SELECT count(*) FROM (TABLE by_scan EXCEPT ALL TABLE by_search) d) AS only_scan,
       (SELECT count(*) FROM (TABLE by_search EXCEPT ALL TABLE by_scan) d) AS only_search;
-- Suggestions see the entry's names too.
SET LOCAL pssync.strategy = 'scan';
SELECT rank, dn, reasons FROM pssync.ldap_suggest('student', 9804) ORDER BY rank;
ROLLBACK;
\! ldapdelete $LDAP_ADMIN -r ou=ManyValues,dc=district,dc=org
