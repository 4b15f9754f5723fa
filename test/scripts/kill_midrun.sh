#!/usr/bin/env bash
# kill_midrun: slapd killed (SIGKILL) in the middle of a large sync makes
# it an ERROR of class 08, and not one username changed.
#
# A slapd of our own holds the fixture directory and BULK people under
# ou=Bulk; as many students match them, each of which a real sync would
# change.  A sync of them is started, and KILL_AFTER seconds later, while
# it still runs, the slapd is killed; then it is started again on its data
# for the next case.  The cases:
#
#   search  a search per record (about 0.2 ms each here: 4 s in all);
#   scan    the directory read once, one entry a page (page_size 1), so
#           that the read itself takes seconds and the kill lands in it;
#           at the default page size of 500 the read of 20,000 entries
#           takes 0.3 s, too short to hit reliably
#
# each as a real run (autocommit, and inside BEGIN ... COMMIT) and as a
# dry run.  Then, with the slapd back, a real run (rolled back) changes
# every student: the kill, not the data, made the others fail.
source "$(dirname "$0")/lib.bash"

DB=pssync_kill_midrun
BULK=20000
KILL_AFTER=1.0
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
rm -rf "${OUT:?}"/*

bulk_ldif Bulk "$BULK" K >"$OUT/bulk.ldif"
start_own_slapd victim "$OUT/bulk.ldif" || { echo "could not start slapd"; exit 1; }
PORT=$OWN_SLAPD_PORT

setup_database "$DB" "$OWN_SLAPD_URI" || exit 1
sql "$DB" "ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Bulk,dc=district,dc=org');
           $(bulk_students_sql "$BULK" K 500000)
           CREATE TABLE bulk_students AS SELECT dcid FROM students WHERE dcid > 500000;" || exit 1
add_server "$DB" paged_by_one "$OWN_SLAPD_URI" student_base_dn 'ou=Bulk,dc=district,dc=org' page_size 1 || exit 1

# The usernames of students and users, and the run history (pssync 1.1:
# a failed run records nothing), as one fingerprint.
usernames() {
	sql "$DB" "SELECT md5((SELECT string_agg(dcid || ':' || coalesce(student_web_id, '<null>'), ',' ORDER BY dcid) FROM students)
                   || (SELECT string_agg(concat_ws(':', dcid, loginid, teacherloginid), ',' ORDER BY dcid) FROM users)
                   || CASE WHEN to_regclass('pssync.sync_run') IS NULL THEN ''
                           ELSE query_to_xml('SELECT (SELECT count(*) FROM pssync.sync_run) AS runs,
                                                     (SELECT count(*) FROM pssync.sync_log) AS logs', false, false, '')::text END)"
}

pg_log_mark

# kill_case NAME STRATEGY SERVER DRY_RUN TRANSACTION
kill_case() {
	local name=$1 strategy=$2 server=$3 dry_run=$4 transaction=$5
	local before after start took psql_pid running state
	before=$(usernames)
	{
		echo "SET pssync.strategy = $strategy;"
		echo "SET pssync.server = $server;"
		echo "\\set VERBOSITY verbose"
		[ "$transaction" = yes ] && echo "BEGIN;"
		echo "SELECT status, count(*) FROM pssync.ldap_sync_students('bulk_students', dry_run => $dry_run) GROUP BY 1;"
		echo "\\echo SQLSTATE :SQLSTATE"
		[ "$transaction" = yes ] && echo "COMMIT;"
	} >"$OUT/$name.sql"
	start=$(now)
	psql -X -q -d "$DB" -f "$OUT/$name.sql" >"$OUT/$name.out" 2>&1 &
	psql_pid=$!
	sleep "$KILL_AFTER"
	running=no
	kill -0 "$psql_pid" 2>/dev/null && running=yes
	kill -9 "$OWN_SLAPD_PID"
	wait "$psql_pid"
	took=$(elapsed "$start")
	state=$(sed -n 's/^SQLSTATE //p' "$OUT/$name.out")
	grep -E '^(ERROR|DETAIL)' "$OUT/$name.out" | sed "s/^/# $name: /"
	note "$name: $state after $took s"
	check_eq "$name: the sync was still running when slapd was killed" "$running" yes
	detail=$(head -3 "$OUT/$name.out" | tr '\n' ' ')
	check_eq "$name: SQLSTATE class 08 (got $state)" "${state:0:2}" 08
	after=$(usernames)
	check_eq "$name: not one username changed, no run recorded" "$after" "$before"
	untrack_own_pid "$OWN_SLAPD_PID"
	wait_for 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$PORT)" 2>/dev/null
	restart_own_slapd victim "$PORT" || { echo "could not restart slapd"; exit 1; }
}

kill_case search_real search district_ldap false no
kill_case search_real_in_transaction search district_ldap false yes
kill_case search_dry_run search district_ldap true no
kill_case scan_real scan paged_by_one false no
kill_case scan_real_in_transaction scan paged_by_one false yes
kill_case scan_dry_run scan paged_by_one true no

# With the directory back, the same syncs change every student.
for strategy in search scan; do
	server=district_ldap
	[ $strategy = scan ] && server=paged_by_one
	before=$(usernames)
	start=$(now)
	updated=$(PGOPTIONS="-c pssync.strategy=$strategy -c pssync.server=$server" sql "$DB" \
		"BEGIN; SELECT count(*) FROM pssync.ldap_sync_students('bulk_students') WHERE status = 'updated'; ROLLBACK;")
	took=$(elapsed "$start")
	note "a whole real run ($strategy, $server) takes $took s"
	check_eq "$strategy: with slapd back, a real run changes all $BULK students" "$updated" "$BULK"
	check_num "$strategy: the whole run takes longer than the kill came" "$took" ">" "$KILL_AFTER" " s"
	check_eq "$strategy: rolled back, nothing changed" "$(usernames)" "$before"
done

# The fingerprint sees a committed run: ten students, and its history.
before=$(usernames)
PGOPTIONS="-c pssync.server=district_ldap" sql "$DB" \
	"CREATE TABLE ten_students AS SELECT dcid FROM bulk_students ORDER BY dcid LIMIT 10;
	 SELECT count(*) FROM pssync.ldap_sync_students('ten_students');" >/dev/null
check "the fingerprint sees a committed run of ten students" [ "$(usernames)" != "$before" ]

check_no_crash "no backend crashed"
finish
