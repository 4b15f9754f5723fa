#!/usr/bin/env bash
# timeouts: never hang, always cancellable.
#
# A connection that never completes (synqueue: SYN_SENT), a directory that
# accepts the connection and never answers (blackhole, on plain LDAP, LDAPS
# and StartTLS), one that sends an entry of a search and then nothing more
# (halfanswer), and a slapd stopped with SIGSTOP (before the sync, and in
# the middle of one), make a sync fail with an 08-class SQLSTATE within the
# server's timeout + 1 s, and not before the timeout; with a second URI,
# the sync goes on to it after the first one's connect timed out.
# pg_cancel_backend() and statement_timeout end a sync waiting on such a
# server within 1 s, while its timeout (30 s) is far away.  After each,
# the same backend syncs again with the working directory, and holds no
# TCP socket (no connection left behind).  The same for ldap_lookup() and
# ldap_assign(), which ask the directory too.
#
# Everything runs in one psql session; each case prints "RESULT case key
# value" lines, checked afterwards.
source "$(dirname "$0")/lib.bash"

DB=pssync_timeouts
TIMEOUT=2           # the timeout option of the servers that time out
LONG_TIMEOUT=30     # of the servers that only a cancel can end
CANCEL_AFTER=0.5    # seconds into the sync that the cancel comes
STATEMENT_TIMEOUT_MS=1000
BULK=20000          # people of the directory stopped in the middle of a sync
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
rm -rf "${OUT:?}"/*

setup_database "$DB" || exit 1

# A listener that accepts and never answers.
BH_PORT=$(free_port) || exit 1
blackhole "$BH_PORT" &
track_own_pid $!
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BH_PORT" || { echo "blackhole did not start"; exit 1; }

# A listener whose accept queue is full: a connection to it never
# completes (SYN_SENT), as to a host behind a firewall that drops packets.
SQ_PORT=$(free_port) || exit 1
synqueue "$SQ_PORT" &
track_own_pid $!
sleep 0.3

# A directory that answers the bind, sends one entry of a search, and
# then falls silent: the search's result never comes.
HA_PORT=$(free_port) || exit 1
halfanswer "$HA_PORT" jsmith &
track_own_pid $!
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HA_PORT" || { echo "halfanswer did not start"; exit 1; }

# A slapd of our own, to be stopped: the fixture directory and a bulk of
# people, so that a sync of them takes seconds.
bulk_ldif Bulk "$BULK" T >"$OUT/bulk.ldif"
start_own_slapd stopped "$OUT/bulk.ldif" || { echo "could not start slapd"; exit 1; }
STOP_PID=$OWN_SLAPD_PID
STOP_PORT=$OWN_SLAPD_PORT

add_server "$DB" hung "ldap://127.0.0.1:$BH_PORT" timeout "$TIMEOUT" || exit 1
add_server "$DB" hung_30 "ldap://127.0.0.1:$BH_PORT" timeout "$LONG_TIMEOUT" || exit 1
add_server "$DB" hung_tls "ldaps://127.0.0.1:$BH_PORT" timeout "$TIMEOUT" || exit 1
add_server "$DB" hung_tls_30 "ldaps://127.0.0.1:$BH_PORT" timeout "$LONG_TIMEOUT" || exit 1
add_server "$DB" hung_starttls "ldap://127.0.0.1:$BH_PORT" timeout "$TIMEOUT" starttls true || exit 1
add_server "$DB" hung_starttls_30 "ldap://127.0.0.1:$BH_PORT" timeout "$LONG_TIMEOUT" starttls true || exit 1
add_server "$DB" unreachable "ldap://127.0.0.1:$SQ_PORT" timeout "$TIMEOUT" || exit 1
add_server "$DB" unreachable_30 "ldap://127.0.0.1:$SQ_PORT" timeout "$LONG_TIMEOUT" || exit 1
add_server "$DB" failover "ldap://127.0.0.1:$SQ_PORT $PSSYNC_LDAP_URI" timeout "$TIMEOUT" || exit 1
add_server "$DB" half "ldap://127.0.0.1:$HA_PORT" timeout "$TIMEOUT" || exit 1
add_server "$DB" stopped "ldap://127.0.0.1:$STOP_PORT" timeout "$TIMEOUT" || exit 1
add_server "$DB" stopped_30 "ldap://127.0.0.1:$STOP_PORT" timeout "$LONG_TIMEOUT" || exit 1
add_server "$DB" stopped_bulk "ldap://127.0.0.1:$STOP_PORT" timeout "$TIMEOUT" \
	student_base_dn "ou=Bulk,dc=district,dc=org" || exit 1
sql "$DB" "CREATE TABLE fixture_students AS SELECT dcid FROM students;
           $(bulk_students_sql "$BULK" T 500000)
           CREATE TABLE bulk_students AS SELECT dcid FROM students WHERE dcid > 500000;
           CREATE TABLE one_student AS SELECT 1002 AS dcid;" || exit 1

# The working directory's answer, and the stopped one's while it still runs.
BASELINE=$(PGOPTIONS="-c pssync.server=district_ldap" sql "$DB" \
	"SELECT count(*) FROM pssync.ldap_sync_students('fixture_students', dry_run => true)")
check_num "the main directory answers ($BASELINE rows)" "${BASELINE:-0}" ">" 0
BEFORE_STOP=$(PGOPTIONS="-c pssync.server=stopped" sql "$DB" \
	"SELECT count(*) FROM pssync.ldap_sync_students('fixture_students', dry_run => true)")
check_eq "our slapd answers before it is stopped" "$BEFORE_STOP" "$BASELINE"

# A helper for \!: the TCP sockets the backend holds.
{
	declare -f backend_tcp_sockets
	echo 'case $1 in ""|*[!0-9]*) echo "no-pid:$1"; exit 1;; esac'
	echo 'backend_tcp_sockets "$1"'
} >"$OUT/sockets.sh"

# The statements of one case: the sync, its SQLSTATE, start and end times;
# then a sync with the working directory in the same backend, and the
# backend's TCP sockets.
sync_case() {
	local name=$1 server=$2 selection=${3:-fixture_students}
	local call="pssync.ldap_sync_students('$selection', dry_run => true)"
	case $selection in
	lookup) call="pssync.ldap_lookup('Smith', 'John', 'student')" ;;
	assign) call="pssync.ldap_assign('student', 1002, 'uid=jsmith,ou=Students,dc=district,dc=org', dry_run => true)" ;;
	esac
	cat <<EOF
\\echo CASE $name
SET pssync.server = '$server';
SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset
\\unset rows
SELECT count(*) AS rows FROM $call \\gset
\\echo RESULT $name sqlstate :SQLSTATE
\\echo RESULT $name rows :rows
SELECT extract(epoch FROM clock_timestamp()) AS t1 \\gset
RESET statement_timeout;
\\echo RESULT $name start :t0
\\echo RESULT $name end :t1
SET pssync.server = 'district_ldap';
\\unset after
SELECT count(*) AS after FROM pssync.ldap_sync_students('fixture_students', dry_run => true) \\gset
\\echo RESULT $name after :after
\\! echo "RESULT $name sockets \$(bash $OUT/sockets.sh \$PSSYNC_BACKEND_PID)"
EOF
}

# A case with a pg_cancel_backend() from another session, CANCEL_AFTER
# seconds in; that session writes the time just before it sends the
# cancel (the target list is evaluated in order), and whether it did.
cancel_case() {
	local name=$1 server=$2 selection=${3:-}
	echo "\\! (sleep $CANCEL_AFTER; psql -X -qAt -d postgres -c \"SELECT extract(epoch FROM clock_timestamp()), pg_cancel_backend(\$PSSYNC_BACKEND_PID)\" >$OUT/$name.cancel 2>&1) &"
	sync_case "$name" "$server" $selection
}

# A case with statement_timeout.
statement_timeout_case() {
	local name=$1 server=$2 selection=${3:-}
	echo "SET statement_timeout = $STATEMENT_TIMEOUT_MS;"
	sync_case "$name" "$server" $selection
}

{
	# \! does not interpolate psql variables: the pid goes in the environment
	echo "SELECT pg_backend_pid() AS pid \\gset"
	echo "\\setenv PSSYNC_BACKEND_PID :pid"
	echo "\\set VERBOSITY verbose"
	# slapd stopped in the middle of a sync (a search per record): the
	# wait for the next answer of a search is bounded too
	echo "SET pssync.strategy = search;"
	echo "\\! (sleep $CANCEL_AFTER; kill -STOP $STOP_PID; date +%s.%N >$OUT/stopped_at) &"
	sync_case stopped_midsync stopped_bulk bulk_students
	# from here on the slapd stays stopped
	sync_case unreachable unreachable
	sync_case failover failover
	sync_case blackhole hung
	sync_case stopped stopped
	sync_case blackhole_ldaps hung_tls
	sync_case blackhole_starttls hung_starttls
	# an entry, then silence: under each strategy
	sync_case half_answer_search half one_student
	echo "SET pssync.strategy = scan;"
	sync_case half_answer_scan half one_student
	echo "SET pssync.strategy = search;"
	# the other functions that ask the directory (pssync 1.1)
	sync_case lookup_blackhole hung lookup
	sync_case assign_stopped stopped assign
	cancel_case cancel_connect unreachable_30
	cancel_case cancel_blackhole hung_30
	cancel_case cancel_stopped stopped_30
	cancel_case cancel_ldaps hung_tls_30
	cancel_case cancel_starttls hung_starttls_30
	cancel_case cancel_lookup hung_30 lookup
	statement_timeout_case statement_timeout_connect unreachable_30
	statement_timeout_case statement_timeout_blackhole hung_30
	statement_timeout_case statement_timeout_stopped stopped_30
	statement_timeout_case statement_timeout_ldaps hung_tls_30
	statement_timeout_case statement_timeout_assign stopped_30 assign
} >"$OUT/session.sql"

pg_log_mark
psql -X -q -d "$DB" -f "$OUT/session.sql" >"$OUT/session.out" 2>&1
grep -E '^(ERROR|DETAIL|CASE)' "$OUT/session.out" | sed 's/^/# /'

result() {
	awk -v c="$1" -v k="$2" '$1 == "RESULT" && $2 == c && $3 == k { print $4; exit }' "$OUT/session.out"
}

# The checks of each case, after the session.
timeout_checks() {
	local name=$1 offset=${2:-0}
	local state start end took
	state=$(result "$name" sqlstate)
	start=$(result "$name" start)
	end=$(result "$name" end)
	took=$(elapsed "${start:-0}" "${end:-0}")
	note "$name: $state after $took s"
	check_eq "$name: SQLSTATE class 08 (got $state)" "${state:0:2}" 08
	check_num "$name: not before the timeout" "$took" ">=" "$(awk -v t=$TIMEOUT -v o="$offset" 'BEGIN { print t + o - 0.1 }')" " s"
	check_num "$name: within timeout + 1 s" "$took" "<=" "$(awk -v t=$TIMEOUT -v o="$offset" 'BEGIN { print t + o + 1 }')" " s"
	after_checks "$name"
}

cancel_checks() {
	local name=$1 sent=$2
	local state start end latency
	state=$(result "$name" sqlstate)
	start=$(result "$name" start)
	end=$(result "$name" end)
	latency=$(elapsed "${sent:-0}" "${end:-0}")
	note "$name: $state after $(elapsed "${start:-0}" "${end:-0}") s, $latency s after the cancel"
	check_eq "$name: canceled, 57014 (got $state)" "$state" 57014
	check_num "$name: ended within 1 s of the cancel" "$latency" "<=" 1 " s"
	check_num "$name: ended after the cancel" "$latency" ">=" 0 " s"
	after_checks "$name"
}

after_checks() {
	local name=$1
	check_eq "$name: then the same backend syncs again" "$(result "$name" after)" "$BASELINE"
	check_eq "$name: no TCP socket left in the backend" "$(result "$name" sockets)" 0
}

# stopped in the middle: the bounds count from the moment it was stopped
stopped_at=$(cat "$OUT/stopped_at" 2>/dev/null)
note "stopped_midsync: slapd stopped $(elapsed "$(result stopped_midsync start)" "${stopped_at:-0}") s into the sync"
timeout_checks stopped_midsync "$(elapsed "$(result stopped_midsync start)" "${stopped_at:-0}")"
# a connection that never completes: the connect is bounded too
timeout_checks unreachable
# ... and the next URI is tried after it
state=$(result failover sqlstate)
took=$(elapsed "$(result failover start)" "$(result failover end)")
note "failover: $state after $took s"
check_eq "failover: the second URI answers after the first timed out" "$(result failover rows)" "$BASELINE"
check_num "failover: not before the first URI's timeout" "$took" ">=" "$(awk -v t=$TIMEOUT 'BEGIN { print t - 0.1 }')" " s"
check_num "failover: within its timeout + 1 s" "$took" "<=" $((TIMEOUT + 1)) " s"
after_checks failover
for c in blackhole stopped blackhole_ldaps blackhole_starttls half_answer_search half_answer_scan lookup_blackhole assign_stopped; do
	timeout_checks "$c"
done
for c in cancel_connect cancel_blackhole cancel_stopped cancel_ldaps cancel_starttls cancel_lookup; do
	sent=$(sed -n 's/^\([0-9.]*\)|t$/\1/p' "$OUT/$c.cancel" 2>/dev/null)
	[ -n "$sent" ] || detail="the cancel: $(cat "$OUT/$c.cancel" 2>/dev/null)"
	cancel_checks "$c" "$sent"
done
for c in statement_timeout_connect statement_timeout_blackhole statement_timeout_stopped statement_timeout_ldaps statement_timeout_assign; do
	sent=$(awk -v s="$(result "$c" start)" -v ms=$STATEMENT_TIMEOUT_MS 'BEGIN { printf "%.6f", s + ms / 1000 }')
	cancel_checks "$c" "$sent"
done

# The socket count sees sockets where there are some: the blackhole's.
check_num "the socket count works (blackhole's sockets)" "$(backend_tcp_sockets "${_own_pids[0]}")" ">=" 1

# The blackhole saw the connections, and none is still open on our side.
check_eq "no connection to the blackhole left open" "$(tcp_established_to "$BH_PORT")" 0
check_no_crash "no backend crashed"

finish
