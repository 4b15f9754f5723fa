# test/scripts/lib.bash: helpers of the scripted tests.  Sourced by each
# test/scripts/*.sh (its name does not end in .sh, so it is not run as a
# test itself).
#
# The scripts run after pg_regress in .ci/run, with the environment of
# test/servers.sh: PGHOST, PGPORT, PGUSER, PSSYNC_LDAP_URI,
# PSSYNC_LDAP_PORT, PSSYNC_LDAP_PASSWORD, PSSYNC_WORK, PSSYNC_PG_LOG.
#
# Each script works in a database of its own, and stops the servers it
# starts itself (by process id, on EXIT).  Never stop_servers here: that
# would stop the main PostgreSQL and slapd of the whole run.
#
#   check NAME COMMAND...        "ok NAME" when COMMAND succeeds, else
#                                "FAIL NAME: COMMAND..." (and $detail, if
#                                set: it is cleared after each check)
#   check_num NAME VALUE OP LIMIT [UNIT]
#                                a numeric comparison, OP one of
#                                < <= > >= == !=, showing the value
#   check_eq NAME ACTUAL EXPECTED
#   note TEXT                    "# TEXT": a measurement, for the log
#   finish                       exit 1 if any check failed (or none ran)
#   sql DB STATEMENTS; sql_script DB <FILE
#                                psql, unaligned, stopping at an error
#   setup_database DB [URI]      the fixture district, the extension, the
#                                server district_ldap and its user mapping
#                                (the database is dropped on EXIT)
#   add_server DB NAME URI [OPTION VALUE]...
#                                another server like district_ldap
#   start_own_slapd NAME LDIF... a slapd of this script with the fixture
#                                directory and the LDIF files (stopped on
#                                EXIT): OWN_SLAPD_PID, _PORT, _URI
#   restart_own_slapd NAME PORT  start it again after a SIGKILL, same port
#   track_own_pid PID; untrack_own_pid PID
#                                a process to stop on EXIT, or not
#   bulk_ldif OU N PREFIX; bulk_students_sql N PREFIX FIRST_DCID
#                                N people under ou=OU, and their students
#   now; elapsed START [END]     wall-clock seconds, as decimals
#   backend_tcp_sockets PID      TCP sockets the process holds open
#   tcp_established_to PORT      established connections to PORT
#   pg_log_mark; pg_log_since_mark; check_no_crash NAME
#                                the server log since the mark shows no
#                                backend that crashed
#
# psql's \! does not interpolate psql variables: a session that needs its
# backend's pid in a shell command puts it in the environment first, with
# "SELECT pg_backend_pid() AS pid \gset" and "\setenv PID :pid".

set -u

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$SCRIPTS_DIR/../.." && pwd)
# start_slapd, free_port, wait_for; PSSYNC_TOP, SLAPD
source "$TOP/test/servers.sh"

: "${PGHOST:?run under .ci/run, or with the environment of test/servers.sh}"
: "${PSSYNC_LDAP_URI:?}" "${PSSYNC_WORK:?}"
export PSSYNC_LDAP_PASSWORD

# (a script that runs another under its own name sets PSSYNC_SCRIPT_NAME)
SCRIPT_NAME=${PSSYNC_SCRIPT_NAME:-$(basename "$0" .sh)}
_checks_failed=0
_checks_run=0
_own_pids=()
_own_databases=()
detail=""

# --- checks ---------------------------------------------------------------

check() {
	local name=$1
	shift
	_checks_run=$((_checks_run + 1))
	if "$@"; then
		echo "ok $name"
	else
		_checks_failed=$((_checks_failed + 1))
		echo "FAIL $name: $*${detail:+ ($detail)}"
	fi
	detail=""
}

# check_num NAME VALUE OP LIMIT [UNIT]
check_num() {
	local name=$1 value=$2 op=$3 limit=$4 unit=${5:-}
	_checks_run=$((_checks_run + 1))
	if [ -n "$value" ] && awk -v v="$value" -v l="$limit" -v op="$op" 'BEGIN {
		if (v !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) exit 1
		if (op == "<")  exit !(v + 0 <  l + 0)
		if (op == "<=") exit !(v + 0 <= l + 0)
		if (op == ">")  exit !(v + 0 >  l + 0)
		if (op == ">=") exit !(v + 0 >= l + 0)
		if (op == "==") exit !(v + 0 == l + 0)
		if (op == "!=") exit !(v + 0 != l + 0)
		exit 2 }'; then
		echo "ok $name ($value$unit $op $limit$unit)"
	else
		_checks_failed=$((_checks_failed + 1))
		echo "FAIL $name: ${value:-(none)}$unit, expected $op $limit$unit${detail:+ ($detail)}"
	fi
	detail=""
}

check_eq() {
	local name=$1 actual=$2 expected=$3
	_checks_run=$((_checks_run + 1))
	if [ "$actual" = "$expected" ]; then
		echo "ok $name"
	else
		_checks_failed=$((_checks_failed + 1))
		echo "FAIL $name: got \"$actual\", expected \"$expected\"${detail:+ ($detail)}"
	fi
	detail=""
}

note() {
	echo "# $*"
}

finish() {
	echo "# $SCRIPT_NAME: $_checks_run checks, $_checks_failed failed, $(elapsed "$_script_start") s"
	if [ "$_checks_failed" -gt 0 ] || [ "$_checks_run" -eq 0 ]; then
		exit 1
	fi
	exit 0
}

# --- time -----------------------------------------------------------------

now() {
	date +%s.%N
}

elapsed() {
	local start=$1 end=${2:-}
	[ -n "$end" ] || end=$(now)
	awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

_script_start=$(now)

# --- cleanup --------------------------------------------------------------

track_own_pid() {
	_own_pids+=("$1")
}

# Forget a process that is gone (killed), so that its id, if reused, is
# not killed on EXIT.
untrack_own_pid() {
	local pid kept=()
	for pid in "${_own_pids[@]}"; do
		[ "$pid" = "$1" ] || kept+=("$pid")
	done
	_own_pids=("${kept[@]}")
}

_cleanup() {
	local pid
	# the psql sessions started in the background, if any are left
	for pid in $(jobs -p); do
		kill "$pid" 2>/dev/null || true
	done
	stop_pids "${_own_pids[@]}"
	_own_pids=()
	if [ -z "${PSSYNC_KEEP_WORK:-}" ]; then
		for db in "${_own_databases[@]}"; do
			psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
		done
	fi
}
trap _cleanup EXIT

# --- SQL ------------------------------------------------------------------

# sql DB STATEMENT...: run statements, unaligned, tuples only; stops at the
# first error.
sql() {
	local db=$1
	shift
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$*"
}

# sql_script DB: run the statements (and psql commands) on stdin, likewise.
sql_script() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -f -
}

# setup_database DB [URI]: a new database with PowerSchool's tables and the
# sample district, the extension, the foreign server district_ldap at URI
# (default: the main slapd) and a PUBLIC user mapping of the service
# account.  Dropped again on EXIT.
setup_database() {
	local db=$1 uri=${2:-$PSSYNC_LDAP_URI}
	psql -X -q -d postgres -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || return 1
	psql -X -q -d postgres -c "CREATE DATABASE \"$db\"" || return 1
	_own_databases+=("$db")
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v uri="$uri" -v password="$PSSYNC_LDAP_PASSWORD" <<EOF || return 1
SET client_min_messages = warning;
\i $TOP/test/fixtures/powerschool_schema.sql
\i $TOP/test/fixtures/district.sql
CREATE EXTENSION pssync;
CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'uri',
           base_dn 'dc=district,dc=org',
           student_base_dn 'ou=Students,dc=district,dc=org',
           staff_base_dn 'ou=Staff,dc=district,dc=org');
CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org',
           password :'password');
EOF
}

# add_server DB NAME URI [OPTION VALUE]...: another pssync server, like
# district_ldap (the options given replace or add to its), with a user
# mapping of the service account.
add_server() {
	local db=$1 name=$2 uri=$3
	shift 3
	local -A opts=([base_dn]='dc=district,dc=org'
		[student_base_dn]='ou=Students,dc=district,dc=org'
		[staff_base_dn]='ou=Staff,dc=district,dc=org')
	local options="uri :'uri'" key
	while [ $# -ge 2 ]; do
		opts[$1]=$2
		shift 2
	done
	for key in "${!opts[@]}"; do
		options="$options, $key '${opts[$key]}'"
	done
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v uri="$uri" -v password="$PSSYNC_LDAP_PASSWORD" <<EOF
CREATE SERVER "$name" FOREIGN DATA WRAPPER pssync OPTIONS ($options);
CREATE USER MAPPING FOR PUBLIC SERVER "$name"
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org',
           password :'password');
EOF
}

# --- clusters of a script's own -------------------------------------------

# init_own_cluster DIR [CONF]: initdb a cluster of this script in DIR
# (owned by postgres), listening on a Unix socket in DIR/socket only, on
# a free port (OWN_PG_PORT), with the lines CONF added to its
# postgresql.conf.  Start it with start_own_cluster, or as the script
# needs (in a namespace of its own, say).
init_own_cluster() {
	local dir=$1 conf=${2:-}
	mkdir -p "$dir/socket"
	chown -R postgres:postgres "$dir"
	OWN_PG_PORT=$(free_port) || return 1
	runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" --auth=trust --encoding=UTF8 \
		--locale=C.UTF-8 --username=postgres >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
	cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir/socket'
port = $OWN_PG_PORT
fsync = off
$conf
EOF
}

# start_own_cluster DIR: start it, to be stopped (by its pid) on EXIT.
start_own_cluster() {
	local dir=$1
	if ! runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
		# a postmaster that did not get ready in time is stopped all the same
		[ -f "$dir/data/postmaster.pid" ] && track_own_pid "$(head -1 "$dir/data/postmaster.pid")"
		cat "$dir/server.log"
		return 1
	fi
	track_own_pid "$(head -1 "$dir/data/postmaster.pid")"
}

# --- directories ----------------------------------------------------------

# start_own_slapd NAME LDIF...: a slapd of this script, with the fixture
# directory (service accounts and all) and the LDIF files loaded; sets
# OWN_SLAPD_PID, OWN_SLAPD_PORT and OWN_SLAPD_URI, and stops it on EXIT.
start_own_slapd() {
	local name="${SCRIPT_NAME}_$1"
	shift
	rm -rf "$PSSYNC_WORK/slapd-$name"
	start_slapd "$name" "$TOP/test/fixtures/directory.ldif" "$@" || return 1
	local pid_var="PSSYNC_SLAPD_PID_$name" port_var="PSSYNC_SLAPD_PORT_$name"
	OWN_SLAPD_PID=${!pid_var}
	OWN_SLAPD_PORT=${!port_var}
	OWN_SLAPD_URI="ldap://127.0.0.1:$OWN_SLAPD_PORT"
	track_own_pid "$OWN_SLAPD_PID"
}

# restart_own_slapd NAME PORT: start a slapd of this script again, on its
# data as it is (after a SIGKILL); sets OWN_SLAPD_PID.
restart_own_slapd() {
	local name="${SCRIPT_NAME}_$1" port=$2
	local dir="$PSSYNC_WORK/slapd-$name"
	run_slapd "$dir" "ldap://127.0.0.1:$port/" "$port" || return 1
	OWN_SLAPD_PID=$SLAPD_STARTED_PID
	track_own_pid "$OWN_SLAPD_PID"
}

# bulk_ldif OU N PREFIX: N people under ou=OU,dc=district,dc=org, named
# "<PREFIX>Given<i>" "<PREFIX>Family<i>" with uid <prefix><i> (i from 1, five
# digits), for syncs that take a while.  bulk_students_sql gives the
# students of the same people.
bulk_ldif() {
	local ou=$1 n=$2 prefix=$3
	awk -v ou="$ou" -v n="$n" -v p="$prefix" 'BEGIN {
		lp = tolower(p)
		printf "dn: ou=%s,dc=district,dc=org\nobjectClass: organizationalUnit\nou: %s\n\n", ou, ou
		for (i = 1; i <= n; i++)
			printf "dn: uid=%s%05d,ou=%s,dc=district,dc=org\nobjectClass: inetOrgPerson\ncn: %sGiven%05d %sFamily%05d\nsn: %sFamily%05d\ngivenName: %sGiven%05d\nuid: %s%05d\n\n", lp, i, ou, p, i, p, i, p, i, p, i, lp, i
	}'
}

# bulk_students_sql N PREFIX FIRST_DCID: the INSERT of the students of
# bulk_ldif, dcid FIRST_DCID + i; every other one has an old username, the
# others none, so a real sync changes every one of them.
bulk_students_sql() {
	local n=$1 prefix=$2 first=$3
	cat <<EOF
INSERT INTO students (dcid, first_name, last_name, student_web_id)
SELECT $first + i, '${prefix}Given' || to_char(i, 'FM00000'), '${prefix}Family' || to_char(i, 'FM00000'),
       CASE WHEN i % 2 = 0 THEN 'old_' || lower('$prefix') || i END
  FROM generate_series(1, $n) AS i;
EOF
}

# --- processes and sockets ------------------------------------------------

# The TCP sockets (IPv4 and IPv6, any state) a process holds open.
backend_tcp_sockets() {
	local pid=$1
	local inodes
	inodes=$(ls -l "/proc/$pid/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ')
	awk -v inodes=" $inodes " 'FNR > 1 && index(inodes, " " $10 " ") { n++ } END { print n + 0 }' \
		/proc/net/tcp /proc/net/tcp6
}

# Established TCP connections whose remote end is port PORT (the client
# side of connections to a server on PORT).
tcp_established_to() {
	local port
	port=$(printf '%04X' "$1")
	awk -v port="$port" 'FNR > 1 && $4 == "01" { split($3, r, ":"); if (r[2] == port) n++ } END { print n + 0 }' \
		/proc/net/tcp /proc/net/tcp6
}

# --- the server log -------------------------------------------------------

pg_log_mark() {
	_pg_log_offset=$(stat -c %s "$PSSYNC_PG_LOG" 2>/dev/null || echo 0)
}

pg_log_since_mark() {
	tail -c +"$((${_pg_log_offset:-0} + 1))" "$PSSYNC_PG_LOG" 2>/dev/null
}

# check_no_crash NAME: no backend died of a signal or an assertion, and no
# PANIC, since pg_log_mark.
check_no_crash() {
	local crashes
	crashes=$(pg_log_since_mark | grep -E 'terminated by signal|exited with exit code|was terminated|PANIC|TRAP:|server process .* (crashed|exited)|terminating any other active server processes' | head -5)
	detail=$crashes
	check "$1" [ -z "$crashes" ]
}
