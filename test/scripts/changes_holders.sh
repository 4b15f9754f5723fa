#!/usr/bin/env bash
# changes_holders: a username given up by a row that no run of the scope
# takes still frees the records that wanted it.
#
# A run finds a user ID "held by another record" in any row of the
# table's column, whether a run takes that row or not.  When such a row
# gives the value up, the record that wanted it (a conflict) would now be
# updated by ldap_sync_district, and ldap_sync_changes returns it with
# those rows:
#
#   - a staff member's loginid that a teacher wants, and the other way
#     round (scope 'all', and the teachers' scope alone);
#   - a student that pssync.students_table (a view) hides;
#   - an excluded student, whose username is set to NULL, or who is
#     deleted;
#   - with pssync.accept_variants, a record whose best suggestion (a
#     nickname) was halved because another row held its user ID, or
#     another record was linked to its entry; or whose rival suggestion
#     is halved now: it is matched to the variant.
#   - a username column of a case-insensitive collation (text, char(n)),
#     citext, or a domain over citext with an = of its own in public;
#   - two accounts that share a user ID, one of whose holder's account
#     changes it: the record that wanted it is taken and marked dirty, and
#     gets it at the next run (ten pairs, the user IDs looked for through
#     the records' index, or in one read of the records).
#
# Each is compared with ldap_sync_district's rows for the record at that
# moment (a real run, rolled back), and a second ldap_sync_changes returns
# nothing.
source "$(dirname "$0")/lib.bash"

DB=pssync_changes_holders
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
cat >"$OUT/people.ldif" <<'LDIF'
dn: ou=HoldS,dc=district,dc=org
objectClass: organizationalUnit
ou: HoldS

dn: ou=HoldT,dc=district,dc=org
objectClass: organizationalUnit
ou: HoldT

dn: cn=Ed Fox,ou=HoldT,dc=district,dc=org
objectClass: inetOrgPerson
cn: Ed Fox
sn: Fox
givenName: Ed
uid: efox

dn: cn=Amy Lane,ou=HoldT,dc=district,dc=org
objectClass: inetOrgPerson
cn: Amy Lane
sn: Lane
givenName: Amy
uid: alane

dn: cn=Cy Park,ou=HoldS,dc=district,dc=org
objectClass: inetOrgPerson
cn: Cy Park
sn: Park
givenName: Cy
uid: cpark

dn: cn=Bob Lee,ou=HoldS,dc=district,dc=org
objectClass: inetOrgPerson
cn: Bob Lee
sn: Lee
givenName: Bob
uid: blee

dn: cn=Bill Kim,ou=HoldS,dc=district,dc=org
objectClass: inetOrgPerson
cn: Bill Kim
sn: Kim
givenName: Bill
uid: bkim

dn: cn=Will Kim,ou=HoldS,dc=district,dc=org
objectClass: inetOrgPerson
cn: Will Kim
sn: Kim
givenName: Will
uid: wkim

dn: cn=Di Moss,ou=HoldS,dc=district,dc=org
objectClass: inetOrgPerson
cn: Di Moss
sn: Moss
givenName: Di
uid: dmoss

dn: cn=Dee Moss,ou=HoldS,dc=district,dc=org
objectClass: inetOrgPerson
cn: Dee Moss
sn: Moss
givenName: Dee
uid: DMOSS

LDIF
# Ten pairs of accounts that share a user ID (the directory need not keep
# them unique): Abe Hart's and Abe Hale's are both abeh, and so on.
PAIRS="Abe Ben Cal Dan Eli Fay Gil Hal Ian Jon"
for first in $PAIRS; do
	for last in Hart Hale; do
		printf 'dn: cn=%s %s,ou=HoldS,dc=district,dc=org\nobjectClass: inetOrgPerson\ncn: %s %s\nsn: %s\ngivenName: %s\nuid: %sh\n\n' \
			"$first" "$last" "$first" "$last" "$last" "$first" "${first,,}"
	done
done >>"$OUT/people.ldif"
start_own_slapd main "$OUT/people.ldif" || exit 1
ADMIN=(-x -H "$OWN_SLAPD_URI" -D cn=admin,dc=district,dc=org -w admin-secret)

ROWS="status || ' ' || coalesce(field, '-') || ' ' || coalesce(old_username, '-')
      || ' ' || coalesce(new_username, '-')"

# scenario NAME SQL: a new database whose only records are those of SQL,
# and a first ldap_sync_changes('all') (a full run); prints its rows.
scenario() {
	setup_database "$DB" "$OWN_SLAPD_URI" >/dev/null || return 1
	sql "$DB" "ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=HoldS,dc=district,dc=org',
	           SET staff_base_dn 'ou=HoldT,dc=district,dc=org');
	           DELETE FROM schoolstaff; DELETE FROM users; DELETE FROM students; $2" >/dev/null || return 1
	sql "$DB" "SELECT dcid || ' ' || $ROWS FROM pssync.ldap_sync_changes('all') ORDER BY 1" 2>/dev/null |
		sed "s/^/# $1, first run: /"
}

# compare LABEL SCOPE DISTRICT_SCOPE DCID CHANGE: after CHANGE, the rows
# ldap_sync_changes(SCOPE) returns are the district run's rows of DCID
# (DISTRICT_SCOPE, a real run rolled back; the record that gave the value
# up may be returned too), and a second run returns nothing.
compare() {
	local label=$1 scope=$2 district=$3 dcid=$4 change=$5 expected got again
	sql "$DB" "$change" >/dev/null || { check "$label: the change" false; return; }
	expected=$(sql_script "$DB" <<EOF
BEGIN;
SELECT $ROWS FROM pssync.ldap_sync_district('$district') WHERE dcid = $dcid ORDER BY 1;
ROLLBACK;
EOF
	)
	sql "$DB" "SELECT dcid || ' ' || $ROWS FROM pssync.ldap_sync_changes('$scope') ORDER BY 1" >"$OUT/rows"
	note "$label: ldap_sync_changes('$scope') returned: $(echo $(cat "$OUT/rows"))"
	got=$(grep "^$dcid " "$OUT/rows")
	check_eq "$label: ldap_sync_changes returns the record, with the district run's rows" \
		"$got" "$(sed "s/^/$dcid /" <<<"$expected")"
	check "$label: the district run would update it" grep -q "^updated" <<<"$expected"
	again=$(sql "$DB" "SELECT count(*) FROM pssync.ldap_sync_changes('$scope')")
	check_eq "$label: the next run returns nothing" "$again" 0
}

# A teacher with admin access (Ed Fox) whose loginid efox a staff member
# holds: his teacherloginid is written, his loginid is a conflict.
TEACHER_WANTS="INSERT INTO users (dcid, first_name, last_name, psaccess, loginid) VALUES
                 (11, 'Ed', 'Fox', 1, NULL), (12, 'Zed', 'Holder', 0, 'efox');
               INSERT INTO schoolstaff (dcid, users_dcid, staffstatus, status) VALUES (11, 11, 1, 1)"
scenario "staff holds a teacher's" "$TEACHER_WANTS"
compare "staff gives up a teacher's loginid (all)" all teachers 11 \
	"UPDATE users SET loginid = NULL WHERE dcid = 12"
scenario "staff holds a teacher's" "$TEACHER_WANTS"
compare "staff gives up a teacher's loginid (teachers)" teachers teachers 11 \
	"UPDATE users SET loginid = 'someone' WHERE dcid = 12"
scenario "staff holds a teacher's" "$TEACHER_WANTS"
compare "a staff member who held a teacher's loginid is deleted" all teachers 11 \
	"DELETE FROM users WHERE dcid = 12"

# Staff (Amy Lane) whose loginid alane a teacher holds.
STAFF_WANTS="INSERT INTO users (dcid, first_name, last_name, psaccess, loginid) VALUES
               (21, 'Bo', 'Holder', 0, 'alane'), (22, 'Amy', 'Lane', 1, NULL);
             INSERT INTO schoolstaff (dcid, users_dcid, staffstatus, status) VALUES (21, 21, 1, 1)"
scenario "a teacher holds staff's" "$STAFF_WANTS"
compare "a teacher gives up staff's loginid (all)" all staff 22 \
	"UPDATE users SET loginid = NULL WHERE dcid = 21"
scenario "a teacher holds staff's" "$STAFF_WANTS"
compare "a teacher gives up staff's loginid (staff)" staff staff 22 \
	"UPDATE users SET loginid = NULL WHERE dcid = 21"

# A graduate (enroll_status 3), whom the view of active students hides,
# holds Cy Park's user ID.
VIEW="INSERT INTO students (dcid, student_number, first_name, last_name, student_web_id, enroll_status)
        VALUES (5, 105, 'Cy', 'Park', NULL, 0), (6, 106, 'Old', 'Grad', 'cpark', 3);
      CREATE VIEW active_students AS SELECT * FROM students WHERE enroll_status = 0;
      GRANT SELECT, UPDATE ON active_students TO PUBLIC;
      ALTER DATABASE $DB SET pssync.students_table = 'active_students'"
scenario "a hidden student holds" "$VIEW"
compare "a student the view hides gives up a username" all students 5 \
	"UPDATE students SET student_web_id = NULL WHERE dcid = 6"

# An excluded student holds it.
EXCLUDED="INSERT INTO students (dcid, student_number, first_name, last_name, student_web_id)
            VALUES (5, 105, 'Cy', 'Park', NULL), (6, 106, 'Old', 'Grad', 'cpark');
          SELECT pssync.ldap_exclude('student', 6, 'holds a username')"
scenario "an excluded student holds" "$EXCLUDED"
compare "an excluded student gives up a username" all students 5 \
	"UPDATE students SET student_web_id = NULL WHERE dcid = 6"
scenario "an excluded student holds" "$EXCLUDED"
compare "an excluded student who held a username is deleted" students students 5 \
	"DELETE FROM students WHERE dcid = 6"

# With accept_variants = 'nickname': Robert Lee's suggestion, Bob Lee's
# account, is halved while another student holds its user ID (partial);
# once it is given up, he is matched to it.
VARIANTS="ALTER DATABASE $DB SET pssync.accept_variants = 'nickname'"
scenario "a variant's user ID held" "$VARIANTS;
  INSERT INTO students (dcid, student_number, first_name, last_name, student_web_id)
    VALUES (1, 101, 'Robert', 'Lee', NULL), (9, 109, 'Zed', 'Holder', 'blee')"
compare "accept_variants: a variant's user ID given up" students students 1 \
	"UPDATE students SET student_web_id = NULL WHERE dcid = 9"
# William Kim has two suggestions of one score (Bill and Will Kim): a
# partial match.  An excluded student takes Will Kim's user ID, which
# halves that one: he is matched to Bill Kim's.
scenario "two variants" "$VARIANTS;
  INSERT INTO students (dcid, student_number, first_name, last_name, student_web_id)
    VALUES (2, 102, 'William', 'Kim', NULL), (8, 108, 'Yan', 'Outside', NULL);
  SELECT pssync.ldap_exclude('student', 8, 'outside')"
compare "accept_variants: an excluded student takes a rival variant's user ID" students students 2 \
	"UPDATE students SET student_web_id = 'wkim' WHERE dcid = 8"
# Edward Fox (staff) has Ed Fox's account as his suggestion, halved while
# the teacher Ed Fox is linked to it; once that link is removed, he is
# matched to it.
scenario "a variant's entry linked" "$VARIANTS;
  INSERT INTO users (dcid, first_name, last_name, psaccess) VALUES
    (11, 'Ed', 'Fox', 0), (12, 'Edward', 'Fox', 0);
  INSERT INTO schoolstaff (dcid, users_dcid, staffstatus, status) VALUES (11, 11, 1, 1)"
compare "accept_variants: the link of a variant's entry removed" staff staff 12 \
	"SELECT pssync.ldap_unlink('teacher', 11)"

# taken_first SCOPE [ROLE]: what ldap_sync_changes(SCOPE) says it took
# first (its DEBUG1 line), and how many rows it returned; as ROLE if given.
taken_first() {
	sql "$DB" "${2:+SET ROLE $2;} SET client_min_messages = debug1;
	           SELECT count(*) || ' rows' FROM pssync.ldap_sync_changes('$1')" 2>&1 |
		sed -n 's/.*pssync: [a-z]*: \([0-9]*\) records changed in PowerSchool or dirty, \([0-9]*\) taken first.*/\1 changed, \2 taken/p; /rows$/p' |
		tr '\n' ' ' | sed 's/ $//'
}

# A record the caller does not see (row security) is not taken at every
# run for its remembered conflict, nor (accept_variants) for having no
# match: Cy Park (5) wants cpark, which an excluded student (7) holds, and
# Nobody Here (4) has no match; a principal may not see either.  No run of
# the principal's has rows for them, nor takes them, even once the holder
# gives cpark up; nor does it take the excluded record, which has no
# state, at every run.  A run that sees Cy Park takes him, and he gets it.
PRINCIPAL=pssync_holders_principal
scenario "a hidden student wants" "$VARIANTS;
  INSERT INTO students (dcid, student_number, first_name, last_name, student_web_id)
    VALUES (5, 105, 'Cy', 'Park', NULL), (7, 107, 'Out', 'Side', 'cpark'),
           (4, 104, 'Nobody', 'Here', NULL);
  SELECT pssync.ldap_exclude('student', 7, 'holds a username');
  DROP ROLE IF EXISTS $PRINCIPAL; CREATE ROLE $PRINCIPAL;
  GRANT USAGE ON SCHEMA pssync TO $PRINCIPAL;
  GRANT USAGE ON FOREIGN SERVER district_ldap TO $PRINCIPAL;
  GRANT SELECT ON students, users, schoolstaff TO $PRINCIPAL;
  GRANT UPDATE (student_web_id) ON students TO $PRINCIPAL;
  ALTER TABLE students ENABLE ROW LEVEL SECURITY;
  CREATE POLICY not_4_5 ON students TO $PRINCIPAL USING (dcid NOT IN (4, 5))"
check_eq "a record the caller may not see is not taken" "$(taken_first students $PRINCIPAL)" \
	"0 changed, 0 taken 0 rows"
sql "$DB" "UPDATE students SET student_web_id = NULL WHERE dcid = 7" >/dev/null
check_eq "nor once its conflict's value is given up" "$(taken_first students $PRINCIPAL)" \
	"0 changed, 0 taken 0 rows"
check_eq "nor at the next run" "$(taken_first students $PRINCIPAL)" "0 changed, 0 taken 0 rows"
compare "a run that sees it" students students 5 "SELECT 1"
sql "$DB" "DROP OWNED BY $PRINCIPAL; DROP ROLE $PRINCIPAL" >/dev/null

# A conflict because the entry is linked to another record is not
# remembered as a value another row holds (its link's change takes it):
# Cy Park (1) is linked to cpark; a second Cy Park (2) arrives.
scenario "an entry linked to another record" "
  INSERT INTO students (dcid, student_number, first_name, last_name, student_web_id)
    VALUES (1, 101, 'Cy', 'Park', 'cpark')"
sql "$DB" "INSERT INTO students (dcid, student_number, first_name, last_name, student_web_id)
             VALUES (2, 102, 'Cy', 'Park', NULL)" >/dev/null
check_eq "the second one is a conflict (linked to another record)" \
	"$(sql "$DB" "SELECT dcid || ' ' || $ROWS FROM pssync.ldap_sync_changes('students') ORDER BY 1")" \
	"2 conflict student_web_id - cpark"
check_eq "its state remembers no conflict of a value held" \
	"$(sql "$DB" "SELECT dcid || ' ' || coalesce(conflicts::text, '-') FROM pssync.record_state ORDER BY 1")" \
	"1 -
2 -"
check_eq "the next run takes nothing" "$(taken_first students)" "0 changed, 0 taken 0 rows"
compare "the link removed, the holder gives it up" students students 2 \
	"SELECT pssync.ldap_unlink('student', 1); UPDATE students SET student_web_id = NULL, last_name = 'Parker' WHERE dcid = 1"

# A username column of a case-insensitive (nondeterministic ICU)
# collation, whose unique index takes cpark and CPARK for one value: a
# user ID is held where the column's own equality finds it (not an error
# of the unique index).  Old Grad holds CPARK; Cy Park wants cpark: a
# conflict.  Old Grad gives it up: Cy Park gets cpark.  The same with a
# citext column, a type of its own.
CASE_INSENSITIVE="INSERT INTO students (dcid, student_number, first_name, last_name, student_web_id)
    VALUES (5, 105, 'Cy', 'Park', NULL), (6, 106, 'Old', 'Grad', 'CPARK')"
first=$(scenario "a case-insensitive column" "
  CREATE COLLATION case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
  ALTER TABLE students ALTER COLUMN student_web_id TYPE varchar(40) COLLATE case_insensitive;
  $CASE_INSENSITIVE")
echo "$first"
check "case-insensitive collation: the first run finds CPARK held" grep -q "first run: 5 conflict student_web_id - cpark" <<<"$first"
compare "case-insensitive collation: a user ID held in another case given up" students students 5 \
	"UPDATE students SET student_web_id = 'other' WHERE dcid = 6"
first=$(scenario "a citext column" "
  CREATE EXTENSION citext;
  ALTER TABLE students ALTER COLUMN student_web_id TYPE citext;
  $CASE_INSENSITIVE")
echo "$first"
check "citext: the first run finds CPARK held" grep -q "first run: 5 conflict student_web_id - cpark" <<<"$first"
compare "citext: a user ID held in another case given up" students students 5 \
	"UPDATE students SET student_web_id = 'other' WHERE dcid = 6"
# A domain over citext, for which someone who may create in public made
# an = of the domain's own: the user IDs are compared by citext's own
# equality (both sides cast to citext), never by that one, which would
# end the run.  And a char(n) column of the case-insensitive collation.
first=$(scenario "a domain over citext, with an = of its own" "
  CREATE EXTENSION citext;
  CREATE DOMAIN username_ci AS citext;
  CREATE FUNCTION public.hostile_equal(username_ci, username_ci) RETURNS boolean
    LANGUAGE plpgsql AS \$\$BEGIN RAISE EXCEPTION 'the domain''s own = was called'; END\$\$;
  CREATE OPERATOR public.= (LEFTARG = username_ci, RIGHTARG = username_ci,
                            FUNCTION = public.hostile_equal);
  ALTER TABLE students ALTER COLUMN student_web_id TYPE username_ci;
  $CASE_INSENSITIVE")
echo "$first"
check "domain over citext: the first run finds CPARK held" grep -q "first run: 5 conflict student_web_id - cpark" <<<"$first"
compare "domain over citext: a user ID held in another case given up" students students 5 \
	"UPDATE students SET student_web_id = 'other'::citext WHERE dcid = 6"
first=$(scenario "a char(n) column of a case-insensitive collation" "
  CREATE COLLATION case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
  ALTER TABLE students ALTER COLUMN student_web_id TYPE char(40) COLLATE case_insensitive;
  $CASE_INSENSITIVE")
echo "$first"
check "char(n), case-insensitive collation: the first run finds CPARK held" grep -q "first run: 5 conflict student_web_id - cpark" <<<"$first"
compare "char(n), case-insensitive collation: a user ID held in another case given up" students students 5 \
	"UPDATE students SET student_web_id = 'other' WHERE dcid = 6"
# Two records of one run want dmoss and DMOSS (two accounts whose user IDs
# differ only by case), which a citext column takes for one value: both
# are conflicts, not the unique index's error.  One of them leaves: the
# other gets its user ID.
first=$(scenario "two records want one citext value" "
  CREATE EXTENSION citext;
  ALTER TABLE students ALTER COLUMN student_web_id TYPE citext;
  INSERT INTO students (dcid, student_number, first_name, last_name, student_web_id)
    VALUES (31, 131, 'Di', 'Moss', NULL), (32, 132, 'Dee', 'Moss', NULL)")
echo "$first"
check_eq "citext: two records that want one value are both conflicts" \
	"$(grep -c -e "first run: 31 conflict student_web_id - dmoss" -e "first run: 32 conflict student_web_id - DMOSS" <<<"$first")" 2
compare "citext: the other record that wanted it leaves" students students 31 \
	"DELETE FROM students WHERE dcid = 32"

# A user ID two accounts have: Abe Hale (61) holds abeh, his account's;
# Abe Hart (41), whose account's is abeh too, wants it: a conflict.  Abe
# Hale's account changes its user ID: ldap_sync_changes updates him, and
# takes Abe Hart too, who wanted what Abe Hale held (still a conflict: the
# district run at that moment finds abeh held when it begins, so he is not
# returned), and marks him dirty, for his rows differ now; the next run
# gives him abeh.  The user IDs the records a run takes held or hold are
# looked for among the records': ten pairs, through the index on them, and
# (pssync.changes_indexed_user_ids = 2) in one read of the records.
hale_uids() {
	local first
	for first in $PAIRS; do
		printf 'dn: cn=%s Hale,ou=HoldS,dc=district,dc=org\nchangetype: modify\nreplace: uid\nuid: %s%s\n\n' \
			"$first" "${first,,}h" "$1"
	done | ldapmodify "${ADMIN[@]}" >/dev/null
}
# compare_district LABEL SCOPE: ldap_sync_changes(SCOPE) returns the rows
# of the district run (a real run rolled back) that are updated; its
# rows in $OUT/got, its DEBUG1 lines in $OUT/debug (for the scenarios below,
# whose records' rows change by updates alone)
compare_district() {
	local expected got
	expected=$(sql_script "$DB" <<EOF
BEGIN;
SELECT dcid || ' ' || $ROWS FROM pssync.ldap_sync_district('$2') WHERE status = 'updated' ORDER BY 1;
ROLLBACK;
EOF
	)
	got=$(sql "$DB" "SET client_min_messages = debug1;
	                 SELECT dcid || ' ' || $ROWS FROM pssync.ldap_sync_changes('$2') ORDER BY 1" 2>"$OUT/debug")
	echo "$got" >"$OUT/got"
	check_eq "$1: ldap_sync_changes returns the district run's rows" "$got" "$expected"
}
PAIR_STUDENTS="INSERT INTO students (dcid, student_number, first_name, last_name, student_web_id)
  SELECT 40 + n, 140 + n, f, 'Hart', NULL FROM unnest(string_to_array('$PAIRS', ' ')) WITH ORDINALITY AS p(f, n)
  UNION ALL
  SELECT 60 + n, 160 + n, f, 'Hale', lower(f) || 'h' FROM unnest(string_to_array('$PAIRS', ' ')) WITH ORDINALITY AS p(f, n)"
for per in 64 2; do
	first=$(scenario "ten pairs of accounts share a user ID" "$PAIR_STUDENTS")
	check_eq "pairs: those who want a held user ID are conflicts" \
		"$(grep -c "first run: 4[0-9] conflict student_web_id - [a-j][a-z]*h$\|first run: 50 conflict student_web_id - jonh$" <<<"$first")" 10
	hale_uids .hale || check "pairs: the directory's change" false
	sql "$DB" "ALTER DATABASE $DB SET pssync.changes_indexed_user_ids = $per" >/dev/null
	compare_district "pairs (indexed up to $per), the holders' accounts change" students
	check_eq "pairs (indexed up to $per): the holders are updated" "$(grep -c "^6[0-9] updated \|^70 updated " "$OUT/got")" 10
	check "pairs (indexed up to $per): those who wanted their user IDs are taken too" \
		grep -q "students: 10 more records taken" "$OUT/debug"
	check_eq "pairs (indexed up to $per): and marked dirty" \
		"$(sql "$DB" "SELECT count(*) FROM pssync.record_state WHERE dirty AND dcid BETWEEN 41 AND 50")" 10
	compare_district "pairs (indexed up to $per), the next run" students
	check_eq "pairs (indexed up to $per): the next run gives them the user IDs" "$(grep -c "^4[0-9] updated \|^50 updated " "$OUT/got")" 10
	hale_uids ""
done

# The conflict is remembered as such, and not for a record that got its
# value: the teacher's state after the first run.
scenario "staff holds a teacher's" "$TEACHER_WANTS"
check_eq "the teacher's state remembers his loginid's conflict" \
	"$(sql "$DB" "SELECT dcid || ' ' || conflicts::text FROM pssync.record_state WHERE conflicts IS NOT NULL")" \
	"11 {NULL,efox}"

finish
