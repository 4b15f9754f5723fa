#!/usr/bin/env bash
# endurance: 200 syncs in one backend, and no growth of its memory, no
# leaked LDAP connection.
#
# One psql session runs RUNS syncs, cycling through ten kinds (KINDS):
# dry runs and real runs (rolled back) of students under both strategies,
# over plain LDAP, LDAPS and StartTLS (ca_file), of teachers, and failing
# ones: a certificate the CA file does not trust, nothing listening, a
# wrong password, a search base that does not exist, a directory that
# never answers the TLS handshake (ended by statement_timeout).  Each ends
# as expected, every time.  After every sync the established connections
# to our slapd (both ports) and the TCP sockets of the backend are
# counted: both must be 0 (and the count sees the connection while a sync
# waits).  Every SAMPLE_EVERY runs the backend's memory is sampled:
#
#   contexts  sum(total_bytes) of pg_backend_memory_contexts: palloc'd
#             memory, all of PostgreSQL's and pssync's
#   RssAnon   the backend's private resident memory (/proc/PID/status):
#             it also sees malloc()'d memory, libldap's and GnuTLS's
#   fds       the backend's open descriptors, but for relation files
#
# Each kind has run at least once by run 10, so caches are warm there.
# From run 10 to run 200 the contexts may grow by at most CONTEXT_SLACK
# (32 kB): measured, they do not move (a few kB either way), and a leak of
# 200 bytes a sync in a long-lived context (an error message, a copy of the
# server's options) would exceed it.  RssAnon may grow by at most
# RSS_SLACK_KB (1 MB) from run 10 to run 200, and by RSS_TREND_SLACK_KB
# (128 kB) from run 100 to run 200: measured, it grows by 100 to 750 kB
# between runs 10 and 30 (malloc() settling: its mmap threshold adapts,
# freed memory is kept for reuse; GnuTLS's first handshakes) and then by
# 0 to 30 kB.  A libldap handle never unbound keeps about 9.5 kB of
# malloc()'d memory (measured with a small C client doing what a sync
# does: connect, bind, search): leaked by every sync it would show as
# 1.8 MB from run 10 and 950 kB from run 100, and a leak of 1.3 kB a sync
# would still exceed the second bound; the socket and descriptor checks
# catch a leaked handle anyway.  VmRSS is printed, not checked: it also
# counts the shared buffers the backend has touched (RssShmem), which grow
# with the tables the rolled-back real runs bloat.  Descriptors are counted
# but for relation files, which the backend's descriptor cache keeps open.
source "$(dirname "$0")/lib.bash"

DB=pssync_endurance
RUNS=${ENDURANCE_RUNS:-200}
SAMPLE_EVERY=10
CONTEXT_SLACK=32768
RSS_SLACK_KB=1024
RSS_TREND_SLACK_KB=128
BULK=300
HEALTHY_MAX_S=5      # the longest a sync of a working directory may take
                     # (it takes 5 to 100 ms; a wait for the timeout, 10 s)
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
rm -rf "${OUT:?}"/*

bulk_ldif Bulk "$BULK" E >"$OUT/bulk.ldif"
make_test_certs "$OUT/tls" || { echo "could not make certificates"; exit 1; }
SLAPD_TLS_DIR="$OUT/tls" start_own_slapd directory "$OUT/bulk.ldif" || { echo "could not start slapd"; exit 1; }
PORT=$OWN_SLAPD_PORT
ldaps_port_var="PSSYNC_SLAPD_LDAPS_PORT_${SCRIPT_NAME}_directory"
LDAPS_PORT=${!ldaps_port_var}

BH_PORT=$(free_port) || exit 1
blackhole "$BH_PORT" &
track_own_pid $!
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BH_PORT" || { echo "blackhole did not start"; exit 1; }

setup_database "$DB" "$OWN_SLAPD_URI" || exit 1
sql "$DB" "ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Bulk,dc=district,dc=org');
           $(bulk_students_sql "$BULK" E 500000)
           CREATE TABLE bulk_students AS SELECT dcid FROM students WHERE dcid > 500000;" || exit 1
BULK_DN='ou=Bulk,dc=district,dc=org'
# the certificate names localhost, not 127.0.0.1
add_server "$DB" ldaps "ldaps://localhost:$LDAPS_PORT" student_base_dn "$BULK_DN" ca_file "$OUT/tls/ca.pem" || exit 1
add_server "$DB" starttls "ldap://localhost:$PORT" starttls true ca_file "$OUT/tls/ca.pem" || exit 1
add_server "$DB" untrusted "ldaps://localhost:$LDAPS_PORT" student_base_dn "$BULK_DN" ca_file "$OUT/tls/other-ca.pem" || exit 1
add_server "$DB" nothing_listens "ldap://127.0.0.1:1" || exit 1
add_server "$DB" wrong_password "$OWN_SLAPD_URI" || exit 1
sql "$DB" "ALTER USER MAPPING FOR PUBLIC SERVER wrong_password OPTIONS (SET password 'not-the-password')" || exit 1
add_server "$DB" no_such_base "$OWN_SLAPD_URI" student_base_dn 'ou=Nowhere,dc=district,dc=org' || exit 1
# a TLS handshake that never completes, ended by statement_timeout
add_server "$DB" hung "ldaps://127.0.0.1:$BH_PORT" timeout 30 || exit 1

# The kinds of sync: server, strategy, call, real run (rolled back) or
# not, the SQLSTATE it ends with, and the count it returns (rows, or
# updated rows of a real run; - for a failing one).
KINDS=(
	"district_ldap search students dry 00000 $BULK"
	"district_ldap scan students dry 00000 $BULK"
	"district_ldap scan students real 00000 $BULK"
	"ldaps search students real 00000 $BULK"
	"starttls scan teachers real 00000 *"
	"untrusted search students dry 08001 -"
	"nothing_listens search students dry 08001 -"
	"wrong_password search students dry 28000 -"
	"no_such_base search students dry HV000 -"
	"hung search students dry 57014 -"
)
NKINDS=${#KINDS[@]}

# The sync of run I, by its kind: it prints "STATE i sqlstate count" and
# "TOOK i seconds".
sync_of_run() {
	local i=$1
	local server strategy what mode state count call
	read -r server strategy what mode state count <<<"${KINDS[$(((i - 1) % NKINDS))]}"
	case $what in
	students) call="pssync.ldap_sync_students('bulk_students'" ;;
	*) call="pssync.ldap_sync_district('$what'" ;;
	esac
	echo "SET pssync.server = $server;"
	echo "SET pssync.strategy = $strategy;"
	echo "\\set n -"
	echo "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset"
	if [ "$server" = hung ]; then
		echo "SET statement_timeout = 400;"
		echo "\\! (bash $OUT/during.sh $i \$PSSYNC_BACKEND_PID >>$OUT/during.out) &"
	fi
	if [ "$mode" = real ]; then
		echo "BEGIN;"
		echo "SELECT count(*) AS n FROM $call) WHERE status = 'updated' \\gset"
		echo "\\echo STATE $i :SQLSTATE :n"
		echo "ROLLBACK;"
	else
		echo "SELECT count(*) AS n FROM $call, dry_run => true) \\gset"
		echo "\\echo STATE $i :SQLSTATE :n"
	fi
	[ "$server" = hung ] && echo "RESET statement_timeout;"
	echo "SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3) AS took \\gset"
	echo "\\echo TOOK $i :took"
}

# Helpers for \\! (which does not interpolate psql variables: the backend's
# pid is in the environment): after each sync, the established
# connections to our slapd (both ports) and the backend's TCP sockets ...
{
	declare -f backend_tcp_sockets tcp_established_to
	echo 'case $2 in ""|*[!0-9]*) echo "RUN $1 bad-pid"; exit 1;; esac'
	echo 'echo "RUN $1 $(( $(tcp_established_to '"$PORT"') + $(tcp_established_to '"$LDAPS_PORT"') )) $(backend_tcp_sockets "$2")"'
} >"$OUT/sockets.sh"
# ... the backend's TCP sockets while a sync waits on the hung directory
# (looked at every 20 ms for up to 300 ms of its 400: the most seen; a
# loaded machine may start this late, so half the runs must see it) ...
{
	declare -f backend_tcp_sockets
	echo 'most=0; for _ in $(seq 15); do n=$(backend_tcp_sockets "$2"); [ "$n" -gt "$most" ] && most=$n; [ "$most" -ge 1 ] && break; sleep 0.02; done'
	echo 'echo "DURING $1 $most"'
} >"$OUT/during.sh"
# ... and its open descriptors, but for the files of relations, which its
# descriptor cache keeps open as it touches tables (the history's, a new
# free space map).
cat >"$OUT/fds.sh" <<EOF
echo "FDS \$1 \$(find /proc/\$2/fd -mindepth 1 -printf '%l\n' | grep -v '^$PSSYNC_PG_DATA/' | wc -l)"
EOF

{
	echo "SET pssync.server = district_ldap;"
	echo "SELECT pg_backend_pid() AS pid \\gset"
	echo "\\setenv PSSYNC_BACKEND_PID :pid"
	echo "\\echo PID :pid"
	for i in $(seq 1 "$RUNS"); do
		sync_of_run "$i"
		echo "\\! bash $OUT/sockets.sh $i \$PSSYNC_BACKEND_PID"
		if [ $((i % SAMPLE_EVERY)) -eq 0 ]; then
			cat <<EOF
SELECT 'MEMORY', $i,
       (SELECT sum(total_bytes) FROM pg_backend_memory_contexts),
       (SELECT substring(pg_read_file('/proc/self/status') FROM 'RssAnon:\\s*(\\d+) kB')),
       (SELECT substring(pg_read_file('/proc/self/status') FROM 'VmRSS:\\s*(\\d+) kB')),
       (SELECT substring(pg_read_file('/proc/self/status') FROM 'RssShmem:\\s*(\\d+) kB'));
\\! bash $OUT/fds.sh $i \$PSSYNC_BACKEND_PID
EOF
		fi
	done
} >"$OUT/session.sql"

pg_log_mark
start=$(now)
psql -X -q -At -d "$DB" -f "$OUT/session.sql" >"$OUT/session.out" 2>"$OUT/session.err"
took=$(elapsed "$start")
note "$RUNS syncs in $took s"

# Every kind did what it should: the good ones answered, the failing ones
# failed as they should.
check_eq "one backend ran all syncs" "$(grep -c '^PID' "$OUT/session.out")" 1
for k in $(seq 0 $((NKINDS - 1))); do
	read -r server strategy what mode state count <<<"${KINDS[$k]}"
	expected_runs=$(( (RUNS - 1 - k) / NKINDS + 1 ))
	outcomes=$(awk -v k="$k" -v n="$NKINDS" '$1 == "STATE" && ($2 - 1) % n == k { print $3 "/" $4 }' "$OUT/session.out" |
		sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')
	if [ "$count" = "*" ]; then
		expected="$state/"
		label="$state with a count > 0"
	else
		expected="$state/$count"
		label="$state, count $count"
	fi
	good=$(awk -v k="$k" -v n="$NKINDS" -v e="$expected" -v any="$count" \
		'$1 == "STATE" && ($2 - 1) % n == k && (any == "*" ? index($3 "/" $4, e) == 1 && $4 > 0 : $3 "/" $4 == e)' \
		"$OUT/session.out" | wc -l)
	# the runs that ended otherwise, and after how long (a timeout: 10 s)
	others=$(awk -v k="$k" -v n="$NKINDS" -v e="$state" '
		$1 == "STATE" && ($2 - 1) % n == k && $3 != e { bad[$2] = $3 }
		$1 == "TOOK" && ($2 in bad) { printf "%srun %d ended %s after %s s", sep, $2, bad[$2], $3; sep = ", " }' \
		"$OUT/session.out")
	detail="outcomes: $outcomes${others:+; $others}"
	check_eq "kind $k ($server, $strategy, $what, $mode): $expected_runs runs ended $label" "$good" "$expected_runs"
done
grep -v -E 'ERROR|DETAIL|HINT|^\s*$|CONTEXT|LINE|\^' "$OUT/session.err" | head -5 | sed 's/^/# stderr: /'
# the errors the runs ended with (the failing kinds' each RUNS / NKINDS times)
sed -n 's/^.*ERROR: *//p' "$OUT/session.err" | sort | uniq -c | sed 's/^/# errors: /'

# A sync of a working directory never waits for its timeout (10 s, the
# default): here such a sync takes 5 to 100 ms.
slow=$(awk -v n="$NKINDS" -v max="$HEALTHY_MAX_S" '
	$1 == "STATE" { state[$2] = $3 }
	$1 == "TOOK" && state[$2] == "00000" && $3 + 0 > max { printf "%srun %d (kind %d): %s s", sep, $2, ($2 - 1) % n, $3; sep = ", " }' \
	"$OUT/session.out")
slowest=$(awk '$1 == "STATE" { state[$2] = $3 } $1 == "TOOK" && state[$2] == "00000" && $3 + 0 > m { m = $3 + 0 } END { print m + 0 }' "$OUT/session.out")
note "the slowest successful sync took $slowest s"
detail=$slow
check_eq "no successful sync took longer than $HEALTHY_MAX_S s (a wait for the timeout)" \
	"$(echo "$slow" | grep -o 'run ' | wc -l)" 0

# No connection left after any sync; the count sees one while there is.
runs_seen=$(grep -c '^RUN ' "$OUT/session.out")
check_eq "sockets counted after every sync" "$runs_seen" "$RUNS"
leaks=$(awk '$1 == "RUN" && ($3 != 0 || $4 != 0)' "$OUT/session.out" | head -5 | tr '\n' ';')
detail="run, connections to slapd, backend TCP sockets: $leaks"
check "no connection to slapd, no TCP socket in the backend after any sync" [ -z "$leaks" ]
during=$(awk '$1 == "DURING" && $3 >= 1' "$OUT/during.out" 2>/dev/null | wc -l)
detail="sockets counted while waiting on the hung directory: $(awk '{ print $3 }' "$OUT/during.out" 2>/dev/null | tr '\n' ' ')"
hung_runs=$(awk '$1 == "STATE"' "$OUT/session.out" | grep -c ' 57014 ')
check_num "the count sees the connection while a sync waits ($hung_runs runs)" "$during" ">=" $(( (hung_runs + 1) / 2 ))

# Memory.
echo "# run  contexts(B)  RssAnon(kB)  VmRSS(kB)  RssShmem(kB)  fds(not relation files)"
awk -F'|' '/^FDS / { split($0, f, " "); fd[f[2]] = f[3] }
	$1 == "MEMORY" { line[$2] = sprintf("# %4d %11d %12d %10d %13d", $2, $3, $4, $5, $6) }
	END { for (r in line) printf "%s %6s\n", line[r], fd[r] }' "$OUT/session.out" | sort -k2 -n
sample() {
	awk -F'|' -v run="$1" -v col="$2" '$1 == "MEMORY" && $2 == run { print $col }' "$OUT/session.out"
}
ctx10=$(sample 10 3); ctx_end=$(sample "$RUNS" 3)
rss10=$(sample 10 4); rss_mid=$(sample $((RUNS / 2)) 4); rss_end=$(sample "$RUNS" 4)
vm10=$(sample 10 5); vm_end=$(sample "$RUNS" 5)
fd10=$(awk -v run=10 '$1 == "FDS" && $2 == run { print $3 }' "$OUT/session.out")
fd_end=$(awk -v run="$RUNS" '$1 == "FDS" && $2 == run { print $3 }' "$OUT/session.out")
note "memory contexts: $ctx10 B at run 10, $ctx_end B at run $RUNS"
note "RssAnon: $rss10 kB at run 10, $rss_end kB at run $RUNS; VmRSS: $vm10 kB, $vm_end kB"
check_num "memory contexts: growth from run 10 to run $RUNS" "$(( ${ctx_end:-0} - ${ctx10:-0} ))" "<=" "$CONTEXT_SLACK" " B"
check_num "memory contexts: sampled" "${ctx10:-0}" ">" 0 " B"
check_num "RssAnon: growth from run 10 to run $RUNS" "$(( ${rss_end:-0} - ${rss10:-0} ))" "<=" "$RSS_SLACK_KB" " kB"
check_num "RssAnon: growth from run $((RUNS / 2)) to run $RUNS" "$(( ${rss_end:-0} - ${rss_mid:-0} ))" "<=" "$RSS_TREND_SLACK_KB" " kB"
check_num "RssAnon: sampled" "${rss10:-0}" ">" 0 " kB"
check_num "open descriptors (but relation files): sampled" "${fd10:-0}" ">" 0
check_eq "open descriptors (but relation files): as many at run $RUNS as at run 10" "$fd_end" "$fd10"

check_no_crash "no backend crashed"
finish
