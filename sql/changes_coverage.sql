--
-- changes_coverage: what a run of ldap_sync_changes does not take stays
-- for a run that will.
--
-- - A full run (no watermark, a refused cookie, changed options) stores a
--   new watermark for the whole group: the group's records it did not
--   take (of a type another scope covers, or that the caller may not see)
--   are taken by the next run.
-- - A run whose rows are not a district run's (another pssync.use_links,
--   table, ID column or bind account than the watermark's) leaves its
--   records to the next ldap_sync_changes.
-- - With pssync.accept_variants, a changed entry may be a variant of any
--   unmatched record's names: they are all taken.
-- - A record that follows its link is not taken by another entry with its
--   names; once its link is broken, it is.
-- - The next run matches again a record that ldap_assign gave rows: when
--   the assignment made a link, a district run follows it, and the record
--   is not returned; when it made none (a conflict), a district run
--   matches the record by its names, and it is returned.
-- - A run that gives up usernames (here more than 64, which are looked for
--   among what every record wants in one read) takes the records that
--   wanted one of them, and were a conflict, in the next run.
-- - A staff member who becomes a teacher no longer conflicts with the staff
--   that wanted the same user ID: a district-wide run of the teachers
--   leaves those to the next ldap_sync_changes.
-- - A record a run links is remembered as one that follows its link: the
--   next district run, which matches it through the link, finds its rows
--   as they were, and writes nothing for it.  Should another transaction's
--   link keep that link out, the record is taken by the next run.
--
\getenv ldap_uri PSSYNC_LDAP_URI
\set ldap_admin '-x -H ' :ldap_uri ' -D cn=admin,dc=district,dc=org -w admin-secret'
\setenv LDAP_ADMIN :ldap_admin

-- A full run of the teachers stores the watermark of the users' group; the
-- staff's records it did not take are taken by the next staff run.  (The
-- watermark is deleted here as if the directory had refused its cookie.)
BEGIN;
SELECT count(*) > 0 AS all_in_full FROM pssync.ldap_sync_changes('all');
DELETE FROM pssync.sync_state WHERE record_group = 'users';
\! ldapmodrdn $LDAP_ADMIN -r uid=dlunch,ou=Staff,dc=district,dc=org uid=dlunch2 && echo "Dan Lunch's user ID is dlunch2"
SELECT count(*) > 0 AS teachers_in_full FROM pssync.ldap_sync_changes('teachers');
SELECT status, dcid, old_username, new_username FROM pssync.ldap_sync_changes('staff');
ROLLBACK;
\! ldapmodrdn $LDAP_ADMIN -r uid=dlunch2,ou=Staff,dc=district,dc=org uid=dlunch && echo "and dlunch again"

-- A run with links off gives rows of its own: the next ldap_sync_changes
-- takes its records, and returns the district run's rows for them.
BEGIN;
SELECT count(*) > 0 AS in_full FROM pssync.ldap_sync_changes('staff');
\! printf 'dn: uid=gsub,ou=Staff,dc=district,dc=org\nchangetype: modify\nreplace: sn\nsn: Subway\n' | ldapmodify $LDAP_ADMIN >/dev/null && echo "Gina Sub is Gina Subway in the directory"
SELECT status, dcid, matched_by FROM pssync.ldap_sync_changes('staff');
SET LOCAL pssync.use_links = off;
SELECT status, dcid FROM pssync.ldap_sync_district('staff') WHERE dcid = 2007;
RESET pssync.use_links;
-- (every record of that run is returned: matched_by was another)
SELECT count(*) > 1 AS every_record, count(*) FILTER (WHERE dcid = 2007 AND status = 'unchanged'
                                               AND matched_by = 'link') AS gina_by_link
  FROM pssync.ldap_sync_changes('staff');
ROLLBACK;
\! printf 'dn: uid=gsub,ou=Staff,dc=district,dc=org\nchangetype: modify\nreplace: sn\nsn: Sub\n' | ldapmodify $LDAP_ADMIN >/dev/null && echo "and Gina Sub again"

-- With accept_variants, a new entry that is a variant of an unmatched
-- record's names (one part of its surname) is found.
BEGIN;
SET LOCAL pssync.accept_variants = 'surname_part';
INSERT INTO students (dcid, first_name, last_name) VALUES (9901, 'Rita', 'Moreno Diaz');
SELECT status, dcid FROM pssync.ldap_sync_changes('students') WHERE dcid = 9901;
\! printf 'dn: uid=rmoreno,ou=Students,dc=district,dc=org\nobjectClass: inetOrgPerson\nuid: rmoreno\ncn: Rita Moreno\ngivenName: Rita\nsn: Moreno\n' | ldapadd $LDAP_ADMIN >/dev/null && echo "an account for Rita Moreno"
SELECT status, dcid, new_username, matched_by FROM pssync.ldap_sync_changes('students');
ROLLBACK;
\! ldapdelete $LDAP_ADMIN uid=rmoreno,ou=Students,dc=district,dc=org && echo "and it is gone"

-- John Smith (1002) is linked to uid=jsmith by the first run.  A second
-- John Smith account does not change his rows (he follows his link), so
-- he is not returned.  When his linked entry leaves the students' base DN
-- (moved to the staff's), his link is broken, and the other account is
-- his candidate.  A third John Smith account then changes his rows again
-- (a broken link's candidates are what a name search finds): he is
-- returned, with the district run's rows.
BEGIN;
SELECT count(*) > 0 AS in_full FROM pssync.ldap_sync_changes('students');
\! printf 'dn: uid=jsmith2,ou=Students,dc=district,dc=org\nobjectClass: inetOrgPerson\nuid: jsmith2\ncn: John Smith\ngivenName: John\nsn: Smith\n' | ldapadd $LDAP_ADMIN >/dev/null && echo "a second John Smith account"
SELECT count(*) FILTER (WHERE dcid = 1002) AS john_returned FROM pssync.ldap_sync_changes('students');
SELECT status, matched_by FROM pssync.ldap_sync_district('students', dry_run => true) WHERE dcid = 1002;
\! ldapmodrdn $LDAP_ADMIN -s ou=Staff,dc=district,dc=org uid=jsmith,ou=Students,dc=district,dc=org uid=jsmith && echo "his own account moves to the staff's OU"
SELECT status, dcid, candidates FROM pssync.ldap_sync_changes('students') WHERE dcid = 1002;
\! printf 'dn: uid=jsmith3,ou=Students,dc=district,dc=org\nobjectClass: inetOrgPerson\nuid: jsmith3\ncn: John Smith\ngivenName: John\nsn: Smith\n' | ldapadd $LDAP_ADMIN >/dev/null && echo "a third John Smith account"
SELECT status, dcid, candidates FROM pssync.ldap_sync_changes('students') WHERE dcid = 1002;
SELECT status, dcid, candidates FROM pssync.ldap_sync_district('students', dry_run => true) WHERE dcid = 1002;
ROLLBACK;
\! ldapmodrdn $LDAP_ADMIN -s ou=Students,dc=district,dc=org uid=jsmith,ou=Staff,dc=district,dc=org uid=jsmith && echo "John Smith's account is back"
\! ldapdelete -c $LDAP_ADMIN uid=jsmith2,ou=Students,dc=district,dc=org uid=jsmith3,ou=Students,dc=district,dc=org && echo "and the other two are gone"

-- Katherine Jones (1006, a partial match) assigned to Mary Brown's
-- account, whose user ID Maria Brown (1011) holds: a conflict, and no
-- link.  A district run still finds her partial match, and so does the
-- next ldap_sync_changes.
BEGIN;
SELECT count(*) > 0 AS in_full FROM pssync.ldap_sync_changes('students');
SELECT status, dcid, new_username FROM pssync.ldap_assign('student', 1006, 'uid=mbrown,ou=Students,dc=district,dc=org');
SELECT count(*) AS links FROM pssync.record_links WHERE dcid = 1006;
SELECT status, dcid FROM pssync.ldap_sync_changes('students') WHERE dcid = 1006;
SELECT status, dcid FROM pssync.ldap_sync_district('students', dry_run => true) WHERE dcid = 1006;
ROLLBACK;

-- Katherine Jones assigned to Kate Jones's account (one of her partial
-- candidates): she takes its user ID and is linked to it, and the next
-- run, which matches her again, does not return her (her rows are the
-- assignment's, as after its write).
BEGIN;
SELECT count(*) > 0 AS in_full FROM pssync.ldap_sync_changes('students');
SELECT status, dcid, new_username FROM pssync.ldap_assign('student', 1006, 'uid=kjones,ou=Students,dc=district,dc=org');
SELECT count(*) FILTER (WHERE dcid = 1006) AS katherine_returned FROM pssync.ldap_sync_changes('students');
SELECT status, dcid, matched_by FROM pssync.ldap_sync_district('students', dry_run => true) WHERE dcid = 1006;
ROLLBACK;
-- 66 students whose usernames old1 ... old66 give way to their accounts'
-- user IDs (bulk1 ...), and Alpha Zed, whose account's user ID is old1:
-- the first run writes the 66, and Alpha is a conflict (he was checked
-- while old1 was held).  The next run returns him, with old1 his.
BEGIN;
\! for i in $(seq 1 66); do printf 'dn: uid=bulk%d,ou=Students,dc=district,dc=org\nobjectClass: inetOrgPerson\nuid: bulk%d\ncn: Bulk Person%d\ngivenName: Bulk\nsn: Person%d\n\n' $i $i $i $i; done | ldapadd $LDAP_ADMIN >/dev/null && echo "66 accounts"
\! printf 'dn: cn=Alpha Zed,ou=Students,dc=district,dc=org\nobjectClass: inetOrgPerson\ncn: Alpha Zed\nuid: old1\ngivenName: Alpha\nsn: Zed\n' | ldapadd $LDAP_ADMIN >/dev/null && echo "an account for Alpha Zed, user ID old1"
INSERT INTO students (dcid, first_name, last_name, student_web_id)
SELECT 9800 + i, 'Bulk', 'Person' || i, 'old' || i FROM generate_series(1, 66) i;
INSERT INTO students (dcid, first_name, last_name) VALUES (9899, 'Alpha', 'Zed');
SELECT status, count(*), min(old_username) AS old, min(new_username) AS new
  FROM pssync.ldap_sync_changes('students') WHERE dcid > 9800 GROUP BY 1 ORDER BY 1;
SELECT status, dcid, old_username, new_username FROM pssync.ldap_sync_changes('students');
ROLLBACK;
\! (for i in $(seq 1 66); do echo "uid=bulk$i,ou=Students,dc=district,dc=org"; done; echo "cn=Alpha Zed,ou=Students,dc=district,dc=org") | ldapdelete $LDAP_ADMIN && echo "and they are gone"
-- Tess and Tom Twin (staff) are matched to two accounts with the user ID
-- twin: both a conflict.  Tom becomes a teacher, and a district-wide run
-- of the teachers finds him a conflict still (Holder Nobody has twin as
-- his teacher login); the next run of the staff returns Tess, who takes it.
BEGIN;
\! printf 'dn: cn=Tess Twin,ou=Staff,dc=district,dc=org\nobjectClass: inetOrgPerson\ncn: Tess Twin\nuid: twin\ngivenName: Tess\nsn: Twin\n\ndn: cn=Tom Twin,ou=Staff,dc=district,dc=org\nobjectClass: inetOrgPerson\ncn: Tom Twin\nuid: twin\ngivenName: Tom\nsn: Twin\n' | ldapadd $LDAP_ADMIN >/dev/null && echo "two accounts with the user ID twin"
INSERT INTO users (dcid, homeschoolid, first_name, last_name, teacherloginid, psaccess, ptaccess) VALUES
    (9901, 100, 'Tess', 'Twin', NULL, 0, 1),
    (9902, 100, 'Tom', 'Twin', NULL, 0, 1),
    (9903, 100, 'Holder', 'Nobody', 'twin', 0, 1);
SELECT count(*) > 0 AS in_full FROM pssync.ldap_sync_changes('staff');
SELECT status, dcid, new_username FROM pssync.ldap_sync_district('staff', dry_run => true)
 WHERE dcid IN (9901, 9902) ORDER BY dcid;
INSERT INTO schoolstaff (dcid, users_dcid, schoolid, staffstatus, status) VALUES (9902, 9902, 100, 1, 1);
SELECT status, dcid, field, new_username FROM pssync.ldap_sync_district('teachers') WHERE dcid = 9902;
SELECT status, dcid, new_username FROM pssync.ldap_sync_changes('staff') WHERE dcid IN (9901, 9902);
ROLLBACK;
\! ldapdelete $LDAP_ADMIN "cn=Tess Twin,ou=Staff,dc=district,dc=org" "cn=Tom Twin,ou=Staff,dc=district,dc=org" && echo "and they are gone"

-- The first run links the students it matches by name (12 of them), and
-- remembers what each record is.  A district run then follows those links
-- to the same entries, with the same rows: no record's state is written
-- again, and the next ldap_sync_changes has nothing to return.
BEGIN;
SELECT count(*) AS students, count(*) FILTER (WHERE matched_by = 'link') AS by_link
  FROM pssync.ldap_sync_changes('students');
SELECT count(*) AS links FROM pssync.record_links WHERE record_group = 'students';
SELECT count(*) AS students, count(*) FILTER (WHERE matched_by = 'link') AS by_link
  FROM pssync.ldap_sync_district('students');
SELECT count(*) AS states_written_again FROM pssync.record_state
 WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run);
SELECT count(*) AS returned FROM pssync.ldap_sync_changes('students');
ROLLBACK;

-- Another transaction links John Smith (1002) first, and commits: here a
-- trigger keeps the run's link of him out, as the INSERT's ON CONFLICT DO
-- NOTHING would.  He is not linked, so a second John Smith account makes
-- him ambiguous: the next ldap_sync_changes returns him so.
BEGIN;
CREATE FUNCTION pg_temp.keep_out() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN RETURN CASE WHEN NEW.dcid = 1002 THEN NULL ELSE NEW END; END $$;
CREATE TRIGGER keep_out BEFORE INSERT ON pssync.record_links
    FOR EACH ROW EXECUTE FUNCTION pg_temp.keep_out();
SELECT count(*) FILTER (WHERE dcid = 1002) AS john, count(*) > 1 AS others
  FROM pssync.ldap_sync_changes('students');
DROP TRIGGER keep_out ON pssync.record_links;
SELECT count(*) AS john_links FROM pssync.record_links WHERE dcid = 1002;
\! printf 'dn: uid=jsmith2,ou=Students,dc=district,dc=org\nobjectClass: inetOrgPerson\nuid: jsmith2\ncn: John Smith\ngivenName: John\nsn: Smith\n' | ldapadd $LDAP_ADMIN >/dev/null && echo "a second John Smith account"
SELECT status, dcid FROM pssync.ldap_sync_changes('students') WHERE dcid = 1002;
SELECT status, dcid FROM pssync.ldap_sync_district('students', dry_run => true) WHERE dcid = 1002;
ROLLBACK;
\! ldapdelete $LDAP_ADMIN uid=jsmith2,ou=Students,dc=district,dc=org && echo "and it is gone"
SELECT count(*) AS states_left FROM pssync.sync_state;
