#!/usr/bin/env bash
# state_lock: the real runs of a server and ldap_unlink take turns (the
# server's lock, pssync's own lock tag, which no SQL can take), so that
# ldap_unlink committing while a real run is under way leaves
# ldap_sync_changes returning what changed, and runs of students and staff
# in opposite orders do not deadlock.  A role cannot stall the syncs by
# holding a lock first (nor by a dry ldap_sync_changes left in an open
# transaction), and a real run under REPEATABLE READ whose snapshot still
# shows a link ldap_unlink removed fails (40001).  A dry
# ldap_sync_changes takes the lock shared for a moment and reads under the
# snapshots it took then: no run waits for one under way.  A real run
# holds the server until its transaction ends: renaming it waits.
#
# John Smith (1002) is linked to jsmith, and PowerSchool renames him John
# Smythe (a run through his link would still match him).  Session A unlinks him and
# holds its transaction open; session B starts a real district run
# meanwhile.  Had B read his link before A committed, it would match him
# through it and remember him, clean, as following the link A removed
# (over the dirty mark A left), with the fingerprint of his new name: no
# later ldap_sync_changes would return him, though a full run then finds
# no John Smythe.  B waits for A (the server's lock; A commits
# once it sees B wait) and matches him by name.  The guarantee is then
# checked twice: right after the race, and after an account for John
# Smythe appears; ldap_sync_changes returns him exactly when a full run's
# rows for him differ from the last run's.
source "$(dirname "$0")/lib.bash"

DB=pssync_state_lock
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
rm -rf "${OUT:?}"/*
start_own_slapd dir || { echo "could not start slapd"; exit 1; }
ADMIN=(-x -H "$OWN_SLAPD_URI" -D cn=admin,dc=district,dc=org -w admin-secret)
setup_database "$DB" "$OWN_SLAPD_URI" || exit 1

# 1002's status in a call's rows ("-" for none; a dry run's would_update
# is updated)
status_of() {
	local s
	s=$(sql "$DB" "SELECT string_agg(CASE status WHEN 'would_update' THEN 'updated' ELSE status END, ','
	                                 ORDER BY status) FROM ($1) r WHERE r.dcid = 1002")
	echo "${s:--}"
}
full_status() {
	status_of "SELECT * FROM pssync.ldap_sync_district('students', dry_run => true)"
}
link_of() {
	sql "$DB" "SELECT coalesce(max(dn), '-') FROM pssync.record_links WHERE record_group = 'students' AND dcid = 1002"
}
# wait_until_sql NAME WHAT CONDITION: a DO block that waits (at most
# 10 s) until another session of pg_stat_activity meets CONDITION, and
# says "NAME WHAT: yes" (or no) in a NOTICE
wait_until_sql() {
	cat <<EOF
DO \$\$ /* waiting for $1 */
DECLARE
	i int := 0;
BEGIN
	LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN i >= 200 OR EXISTS (SELECT 1 FROM pg_stat_activity
		                               WHERE pid <> pg_backend_pid() AND ($3));
		PERFORM pg_sleep(0.05);
		i := i + 1;
	END LOOP;
	RAISE NOTICE '$1 $2: %', CASE WHEN i < 200 THEN 'yes' ELSE 'no' END;
END \$\$;
EOF
}
# wait_sql NAME PATTERN: wait_until_sql for a session whose query is LIKE
# PATTERN to wait for the server's lock (an advisory lock tag) this
# session holds: "NAME waited for the lock: yes"
wait_sql() {
	wait_until_sql "$1" "waited for the lock" "wait_event_type = 'Lock' AND wait_event = 'advisory'
		AND query LIKE '$2' AND pg_backend_pid() = ANY (pg_blocking_pids(pid))"
}
# sql_true QUERY: whether QUERY says true
sql_true() {
	[ "$(sql "$DB" "$1")" = t ]
}
# holding NAME: whether a session runs its statement marked "NAME holds"
holding() {
	sql_true "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
	                          WHERE state = 'active' AND query LIKE '%/* $1 holds */%'
	                            AND pid <> pg_backend_pid())"
}
# waiting_for NAME: whether a session runs wait_sql NAME
waiting_for() {
	[ "$(sql "$DB" "SELECT count(*) FROM pg_stat_activity
	                 WHERE query LIKE '%/* waiting for $1 */%' AND pid <> pg_backend_pid()")" = 1 ]
}

sql "$DB" "SELECT count(*) FROM pssync.ldap_sync_changes('students')" >/dev/null || exit 1
check_eq "the first ldap_sync_changes links John Smith" "$(link_of)" \
	"uid=jsmith,ou=Students,dc=district,dc=org"
# (no run between the rename and the race: B is the first to see it)
sql "$DB" "UPDATE students SET last_name = 'Smythe' WHERE dcid = 1002" || exit 1

# A: unlink him, and keep the transaction open until B waits for the
# server's lock (at most 10 s)
psql -X -q -At -d "$DB" >"$OUT/a.log" 2>&1 <<SQL &
BEGIN;
SELECT pssync.ldap_unlink('student', 1002);
SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
  AND classid = 'pg_foreign_server'::regclass AND objsubid = 28787
  AND objid = (SELECT oid FROM pg_foreign_server WHERE srvname = 'district_ldap');
$(wait_sql B '%ldap_sync_district%')
COMMIT;
SQL
a=$!
wait_for 10 waiting_for B || { echo "session A did not get to its wait"; exit 1; }
# B: a real district run, meanwhile
b_status=$(PGOPTIONS="-c statement_timeout=60s" status_of "SELECT * FROM pssync.ldap_sync_district('students')")
wait "$a"
detail=$(cat "$OUT/a.log")
check_eq "session A unlinked him" "$(head -1 "$OUT/a.log")" "t"
check_eq "session A holds the server's lock, shown in pg_locks" "$(sed -n 2p "$OUT/a.log")" "1"
check "session B waited for A's lock" grep -q "B waited for the lock: yes" "$OUT/a.log"
detail="B's run said $b_status"
check_eq "session B matched him by name" "$b_status" "no_match"

# the guarantee: ldap_sync_changes returns him exactly when a full run's
# rows for him differ from the previous run's, with the full run's
guarantee() {
	local name=$1 previous=$2 now got
	now=$(full_status)
	got=$(status_of "SELECT * FROM pssync.ldap_sync_changes('students')")
	detail="previous run: $previous, a full run now: $now, ldap_sync_changes: $got"
	if [ "$now" = "$previous" ]; then
		check_eq "$name: ldap_sync_changes does not return him" "$got" "-"
	else
		check_eq "$name: ldap_sync_changes returns him, with the full run's rows" "$got" "$now"
	fi
	LAST=$now
}
guarantee "after the race" "$b_status"
ldapadd "${ADMIN[@]}" >/dev/null <<LDIF || exit 1
dn: uid=jsmythe,ou=Students,dc=district,dc=org
objectClass: inetOrgPerson
uid: jsmythe
cn: John Smythe
givenName: John
sn: Smythe
LDIF
guarantee "after an account for John Smythe appears" "$LAST"
check_eq "and he is linked to it" "$(link_of)" "uid=jsmythe,ou=Students,dc=district,dc=org"

# Session C syncs teachers, then (once D waits for the lock) students, in
# one transaction; session D runs ldap_sync_changes('all'), which takes
# students and then staff.  With a lock per group they would deadlock; with
# the server's, D waits for C, and both succeed.
sql "$DB" "SELECT count(*) FROM pssync.ldap_sync_changes('all')" >/dev/null || exit 1
psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" >"$OUT/c.log" 2>&1 <<SQL &
BEGIN;
SELECT 'teachers', count(*) FROM pssync.ldap_sync_district('teachers');
$(wait_sql D '%ldap_sync_changes%')
SELECT 'students', count(*) FROM pssync.ldap_sync_district('students');
COMMIT;
SQL
c=$!
wait_for 10 waiting_for D || { echo "session C did not get to its wait"; exit 1; }
PGOPTIONS="-c statement_timeout=60s" psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" \
	-c "SELECT 'changes', count(*) FROM pssync.ldap_sync_changes('all')" >"$OUT/d.log" 2>&1
d_exit=$?
wait "$c"
c_exit=$?
detail=$(cat "$OUT/c.log")
check_eq "session C (teachers, then students) succeeded" "$c_exit" 0
check "session D waited for C's lock" grep -q "D waited for the lock: yes" "$OUT/c.log"
detail=$(cat "$OUT/d.log")
check_eq "session D (ldap_sync_changes('all')) succeeded" "$d_exit" 0

# A role that holds the advisory locks pssync took until 2.1 (of the
# server's state, and of the students table's writes), and has run a dry
# ldap_sync_changes, in an open transaction, does not hold up a real run:
# pssync's lock tags are its own, which no SQL takes, and a dry
# ldap_sync_changes gives the server's lock back when it is done.
psql -X -q -At -d "$DB" >"$OUT/e.log" 2>&1 <<SQL &
BEGIN;
SELECT pg_advisory_xact_lock(1886614388, hashtext('district_ldap')),
       pg_advisory_xact_lock(1886614393, 'students'::regclass::oid::int);
SELECT count(*) >= 0 FROM pssync.ldap_sync_changes('all', dry_run => true);
SELECT pg_sleep(8) /* E holds */;
COMMIT;
SQL
e=$!
wait_for 10 holding E ||
	{ echo "session E did not get to its wait"; cat "$OUT/e.log"; exit 1; }
detail=$(PGOPTIONS="-c statement_timeout=5s" psql -X -q -At -d "$DB" \
	-c "UPDATE students SET student_web_id = NULL WHERE dcid = 1001" \
	-c "SELECT status FROM pssync.ldap_sync_district('students') WHERE dcid = 1001" 2>&1)
check_eq "a real run does not wait for a role's advisory locks or dry run, and writes" \
	"$detail" "updated"
wait "$e"

# Under REPEATABLE READ a run reads with the snapshot its transaction took
# before it waited for the lock.  R takes its snapshot, then U unlinks John
# Smythe (who has no state yet, as a record linked before pssync 2.1 has
# none) and commits; R's real run still sees his link.  ldap_unlink gave
# him a dirty state, so R fails when it writes his, rather than remember
# him as following the link U removed.
sql "$DB" "DELETE FROM pssync.record_state WHERE record_group = 'students' AND dcid = 1002" || exit 1
PGOPTIONS="-c statement_timeout=60s" psql -X -q -At -d "$DB" >"$OUT/r.log" 2>&1 <<SQL &
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM pssync.record_links WHERE record_group = 'students' AND dcid = 1002;
$(wait_until_sql U committed "query LIKE '%/* U committed */%' AND state = 'active'")
DO \$\$
BEGIN
	PERFORM count(*) FROM pssync.ldap_sync_district('students');
	RAISE NOTICE 'R: no error';
EXCEPTION WHEN serialization_failure THEN
	RAISE NOTICE 'R: serialization failure';
END \$\$;
COMMIT;
SQL
r=$!
wait_for 10 waiting_for U || { echo "session R did not get to its wait"; cat "$OUT/r.log"; exit 1; }
PGOPTIONS="-c statement_timeout=60s" psql -X -q -At -d "$DB" \
	-c "SELECT pssync.ldap_unlink('student', 1002)" \
	-c "SELECT pg_sleep(3) /* U committed */" >"$OUT/u.log" 2>&1 &
u=$!
wait "$r"
wait "$u"
detail=$(cat "$OUT/r.log" "$OUT/u.log")
check_eq "session R saw his link" "$(head -1 "$OUT/r.log")" "1"
check_eq "session U unlinked him" "$(head -1 "$OUT/u.log")" "t"
check "session R's real run failed with a serialization failure" grep -q "R: serialization failure" "$OUT/r.log"
state_of() {
	sql "$DB" "SELECT dirty, outcome FROM pssync.record_state
	            WHERE record_group = 'students' AND dcid = 1002"
}
check_eq "he is left dirty, with no rows" "$(state_of)" "t|0"
# Had R remembered him as following jsmythe's link, a second John Smythe
# would not touch him (a record that follows its link is not touched by
# names); a full run now finds him ambiguous.  (His previous run, before
# the unlink, had him unchanged, matched through his link.)
ldapadd "${ADMIN[@]}" >/dev/null <<LDIF || exit 1
dn: uid=jsmythe2,ou=Students,dc=district,dc=org
objectClass: inetOrgPerson
uid: jsmythe2
cn: John Smythe
givenName: John
sn: Smythe
LDIF
guarantee "after a second John Smythe appears" "unchanged"
# R retried in READ COMMITTED: it waits for nothing, and what it remembers
# leaves nothing for ldap_sync_changes to return
PGOPTIONS="-c statement_timeout=60s" sql "$DB" \
	"SELECT count(*) FROM pssync.ldap_sync_district('students')" >/dev/null || exit 1
guarantee "after R's retry" "$(full_status)"
# ldap_unlink gives a record with no state one only when it had a link
sql "$DB" "DELETE FROM pssync.record_state WHERE record_group = 'students' AND dcid = 1002" || exit 1
check_eq "ldap_unlink of a record with no link says so" \
	"$(link_of),$(sql "$DB" "SELECT pssync.ldap_unlink('student', 1002)")" "-,f"
check_eq "and gives it no state" "$(state_of)" ""
# A dry ldap_sync_changes takes the server's lock shared, for a moment: it
# reads under the snapshots it took then, and holds the lock no longer.
# Neither another dry run nor a real run waits for one under way, however
# long it takes.  G's dry run reads the students through a view that
# sleeps once (4 s); another students table than the watermark's makes it
# a full run, which says so.
sql "$DB" "CREATE VIEW slow_students AS SELECT s.* FROM students s
            WHERE (SELECT pg_sleep(4)::text) IS NOT NULL" || exit 1
psql -X -q -At -d "$DB" >"$OUT/g.log" 2>&1 <<SQL &
SET pssync.students_table = 'slow_students';
SELECT count(*) >= 0 FROM pssync.ldap_sync_changes('students', dry_run => true) /* G dry */;
SQL
g=$!
wait_for 10 sql_true "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                                    WHERE wait_event = 'PgSleep' AND query LIKE '%/* G dry */%'
                                      AND pid <> pg_backend_pid())" ||
	{ echo "session G did not get to its sleep"; cat "$OUT/g.log"; exit 1; }
check_eq "a dry run under way holds no lock of the server's" \
	"$(sql "$DB" "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	               WHERE l.locktype = 'advisory' AND l.objsubid = 28787
	                 AND a.query LIKE '%/* G dry */%' AND a.pid <> pg_backend_pid()")" 0
detail=$(PGOPTIONS="-c lock_timeout=2s" psql -X -q -At -d "$DB" \
	-c "SELECT count(*) >= 0 FROM pssync.ldap_sync_changes('students', dry_run => true)" 2>&1)
check_eq "another dry run does not wait for a dry run under way" "$detail" "t"
detail=$(PGOPTIONS="-c lock_timeout=2s" psql -X -q -At -d "$DB" \
	-c "SELECT count(*) >= 0 FROM pssync.ldap_sync_changes('students')" 2>&1)
check_eq "nor does a real run, which writes" "$detail" "t"
still=$(sql "$DB" "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%/* G dry */%' AND state = 'active' AND pid <> pg_backend_pid()")
check_eq "while the dry run is still under way" "$still" 1
wait "$g"
detail=$(cat "$OUT/g.log")
check_eq "and the dry run ends well" "$(grep -v NOTICE "$OUT/g.log")" "t"

# A function of pssync's that a dry run's statement calls (a view as
# students_table that calls ldap_unlink of a teacher) runs its statements as a call of
# its own would, and writes (its history); the dry run goes on.
sql "$DB" "CREATE VIEW unlinking_students AS SELECT s.* FROM students s
            WHERE (SELECT pssync.ldap_unlink('teacher', 2001)) IS NOT NULL" || exit 1
before=$(sql "$DB" "SELECT count(*) FROM pssync.sync_run WHERE function = 'ldap_unlink'")
detail=$(psql -X -q -At -d "$DB" -c "SET pssync.students_table = 'unlinking_students'" \
	-c "SELECT count(*) >= 0 FROM pssync.ldap_sync_changes('students', dry_run => true)" 2>&1 |
	grep -v NOTICE)
check_eq "a dry run whose statement calls ldap_unlink ends well" "$detail" "t"
check_eq "and ldap_unlink wrote its history" \
	"$(sql "$DB" "SELECT count(*) - $before FROM pssync.sync_run WHERE function = 'ldap_unlink'")" 1

# Such a call that fails, in a subtransaction that the view's function
# rolls back and goes on from, leaves the dry run its snapshots: every
# statement it runs reads what was committed when it began, while another
# session commits again and again.  The teachers' and the staff's records
# are read by two statements through a view whose STABLE function calls
# ldap_unlink of a student that does not exist, and then shows the
# statement's snapshot in a NOTICE.
sql_script "$DB" <<'SQL' || exit 1
CREATE FUNCTION probe_snapshot() RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
  BEGIN
    PERFORM pssync.ldap_unlink('student', -1);   -- no such student: an error
  EXCEPTION WHEN no_data_found THEN NULL;
  END;
  RAISE NOTICE 'snapshot %', pg_current_snapshot();
  PERFORM pg_sleep(0.2);                       -- while others commit
  RETURN true;
END $$;
CREATE VIEW probing_users AS SELECT u.* FROM users u WHERE probe_snapshot();
SQL
touch "$OUT/committing"
( while [ -f "$OUT/committing" ]; do sql "$DB" "SELECT pg_catalog.txid_current()" >/dev/null; done ) &
committer=$!
sleep 0.5
probed=$(psql -X -q -At -d "$DB" -c "SET pssync.users_table = 'probing_users'" \
	-c "SELECT count(*) >= 0 FROM pssync.ldap_sync_changes('all', dry_run => true)" 2>&1)
rm -f "$OUT/committing"
wait "$committer"
snapshots=$(grep -o "NOTICE:  snapshot .*" <<<"$probed" | sort | uniq -c)
note "the dry run's statements (count, snapshot): $(echo $snapshots)"
check_eq "a dry run whose statement calls ldap_unlink that fails ends well" \
	"$(grep -v NOTICE <<<"$probed")" "t"
check_num "the dry run read the users in more than one statement" \
	"$(grep -c "NOTICE:  snapshot" <<<"$probed")" ">=" 2
check_eq "each of them under the one snapshot it pinned" "$(grep -c . <<<"$snapshots")" 1

# A real run holds the server itself until its transaction ends, as a
# query holds a table: the state is kept under the server's name, so
# renaming (or dropping) the server waits for the run.
psql -X -q -At -d "$DB" >"$OUT/f.log" 2>&1 <<SQL &
BEGIN;
SELECT count(*) >= 0 FROM pssync.ldap_sync_changes('students');
SELECT pg_sleep(4) /* F holds */;
COMMIT;
SQL
f=$!
wait_for 10 holding F ||
	{ echo "session F did not get to its wait"; cat "$OUT/f.log"; exit 1; }
detail=$(PGOPTIONS="-c lock_timeout=1s" psql -X -q -At -d "$DB" \
	-c "ALTER SERVER district_ldap RENAME TO district_ldap_renamed" 2>&1)
check_eq "renaming the server waits for a real run in its transaction" \
	"$(grep -c 'canceling statement due to lock timeout' <<<"$detail")" 1
wait "$f"
detail=$(cat "$OUT/f.log")
check_eq "and the run commits" "$(head -1 "$OUT/f.log")|$(grep -c ERROR "$OUT/f.log")" "t|0"
# The server renamed by a transaction that commits while a real run, which
# has read the server's name, waits (X holds the students table): the run
# fails with a serialization failure, rather than keep the state under the
# old name.
psql -X -q -At -d "$DB" >"$OUT/x.log" 2>&1 <<SQL &
BEGIN;
LOCK TABLE students IN ACCESS EXCLUSIVE MODE;
ALTER SERVER district_ldap RENAME TO district_ldap_renamed;
$(wait_until_sql Y "waited for the table" "wait_event_type = 'Lock' AND query LIKE '%/* Y */%'")
COMMIT;
SQL
x=$!
wait_for 10 waiting_for Y || { echo "session X did not get to its wait"; cat "$OUT/x.log"; exit 1; }
detail=$(PGOPTIONS="-c statement_timeout=60s" psql -X -q -At -d "$DB" \
	-c "SELECT count(*) FROM pssync.ldap_sync_changes('students') /* Y */" 2>&1)
wait "$x"
check "a real run that finds the server renamed as it starts fails (40001)" \
	grep -q 'ERROR:  server "district_ldap" was renamed by another transaction' <<<"$detail"
detail=$(cat "$OUT/x.log")
check "and X saw it wait" grep -q "Y waited for the table: yes" "$OUT/x.log"
sql "$DB" "ALTER SERVER district_ldap_renamed RENAME TO district_ldap" || exit 1
finish
