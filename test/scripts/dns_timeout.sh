#!/usr/bin/env bash
# dns_timeout: a name server that never answers must not hang a sync
# either: the host name of the uri is resolved within the server's
# timeout, and a cancel or statement_timeout ends the wait within 1 s.
#
# The name server is a dnshole (UDP, never answers) on a random address of
# 127.0.0.0/8 (all of which is the loopback interface), port 53.  Only a
# PostgreSQL cluster of our own sees it as its name server: the cluster is
# started in a mount namespace of its own (unshare -m) where
# /etc/resolv.conf is bind-mounted over with "nameserver" that address; the
# rest of the machine keeps its resolver.  A lookup there waits RESOLVER_S
# seconds, as the resolver is told to, longer than every bound checked.
#
# Needs root (unshare, mount), as .ci/run has.
source "$(dirname "$0")/lib.bash"

TIMEOUT=2            # the server's timeout option
LONG_TIMEOUT=30      # of the server that only a cancel can end
RESOLVER_S=5         # how long a lookup waits for the silent name server
CANCEL_AFTER=0.5
HOST=directory.district.example
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
rm -rf "${OUT:?}"/*

if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
	detail="needs root and unshare"
	check "a mount namespace can be made" false
	finish
fi

NAMESERVER=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
dnshole "$NAMESERVER" 53 &
track_own_pid $!
sleep 0.2
kill -0 "${_own_pids[-1]}" 2>/dev/null || { echo "dnshole could not listen on $NAMESERVER:53"; exit 1; }

printf 'nameserver %s\noptions timeout:%s attempts:1\n' "$NAMESERVER" "$RESOLVER_S" >"$OUT/resolv.conf"
PG_DIR=$OUT/pg
init_own_cluster "$PG_DIR" || exit 1
INNER_PORT=$OWN_PG_PORT

stop_inner_cluster() {
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
}
trap 'stop_inner_cluster; _cleanup' EXIT

# In the namespace: the resolver configuration, a check that a lookup
# hangs there, and the cluster, whose processes keep the namespace.
cat >"$OUT/inner.sh" <<EOF
set -e
mount --bind "$OUT/resolv.conf" /etc/resolv.conf
start=\$(date +%s.%N)
if timeout 3.5 getent hosts $HOST >/dev/null; then echo "LOOKUP answered"; else echo "LOOKUP rc \$?"; fi
echo "LOOKUP took \$(awk -v a=\$start -v b=\$(date +%s.%N) 'BEGIN { printf "%.3f", b - a }')"
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null
EOF
unshare -m bash "$OUT/inner.sh" >"$OUT/inner.out" 2>&1 || { cat "$OUT/inner.out"; exit 1; }
sed 's/^/# /' "$OUT/inner.out"
detail="a lookup in the namespace: $(tr '\n' ' ' <"$OUT/inner.out")"
check_eq "in the namespace, a lookup hangs (killed after 3.5 s)" "$(sed -n 's/^LOOKUP rc //p' "$OUT/inner.out")" 124
check_eq "outside it, the resolver is as it was" "$(grep -cF "$NAMESERVER" /etc/resolv.conf)" 0

export PGHOST=$PG_DIR/socket PGPORT=$INNER_PORT PGDATABASE=postgres
psql -X -q -v ON_ERROR_STOP=1 -v password="$PSSYNC_LDAP_PASSWORD" -v main_uri="$PSSYNC_LDAP_URI" >"$OUT/setup.out" 2>&1 <<EOF || { cat "$OUT/setup.out"; exit 1; }
SET client_min_messages = warning;
\i $TOP/test/fixtures/powerschool_schema.sql
\i $TOP/test/fixtures/district.sql
CREATE EXTENSION pssync;
CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'main_uri', base_dn 'dc=district,dc=org',
           student_base_dn 'ou=Students,dc=district,dc=org', staff_base_dn 'ou=Staff,dc=district,dc=org');
CREATE SERVER slow_dns FOREIGN DATA WRAPPER pssync
  OPTIONS (uri 'ldap://$HOST', base_dn 'dc=district,dc=org', timeout '$TIMEOUT');
CREATE SERVER slow_dns_30 FOREIGN DATA WRAPPER pssync
  OPTIONS (uri 'ldap://$HOST', base_dn 'dc=district,dc=org', timeout '$LONG_TIMEOUT');
CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org', password :'password');
EOF

BASELINE=$(psql -X -q -At -c "SET pssync.server = district_ldap" \
	-c "SELECT count(*) FROM pssync.ldap_sync_students('students', dry_run => true)")
check_num "this cluster syncs with the main directory ($BASELINE rows)" "${BASELINE:-0}" ">" 0

# One session: each case's SQLSTATE and times, then a sync with the main
# directory in the same backend.
case_sql() {
	local name=$1 server=$2
	cat <<EOF
\\echo CASE $name
SET pssync.server = $server;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset
SELECT count(*) FROM pssync.ldap_sync_students('students', dry_run => true);
\\echo RESULT $name sqlstate :SQLSTATE
SELECT extract(epoch FROM clock_timestamp()) AS t1 \\gset
RESET statement_timeout;
\\echo RESULT $name start :t0
\\echo RESULT $name end :t1
SET pssync.server = district_ldap;
\\unset after
SELECT count(*) AS after FROM pssync.ldap_sync_students('students', dry_run => true) \\gset
\\echo RESULT $name after :after
EOF
}
{
	echo "\\set VERBOSITY verbose"
	echo "SELECT pg_backend_pid() AS pid \\gset"
	echo "\\setenv PSSYNC_BACKEND_PID :pid"
	case_sql timeout slow_dns
	echo "SET statement_timeout = 1000;"
	case_sql statement_timeout slow_dns_30
	echo "\\! (sleep $CANCEL_AFTER; psql -X -qAt -c \"SELECT extract(epoch FROM clock_timestamp()), pg_cancel_backend(\$PSSYNC_BACKEND_PID)\" >$OUT/cancel.out 2>&1) &"
	case_sql cancel slow_dns_30
} >"$OUT/session.sql"
psql -X -q -f "$OUT/session.sql" >"$OUT/session.out" 2>&1
grep -E '^(CASE|ERROR|DETAIL)|ERROR:' "$OUT/session.out" | sed 's/^/# /'

result() {
	awk -v c="$1" -v k="$2" '$1 == "RESULT" && $2 == c && $3 == k { print $4; exit }' "$OUT/session.out"
}

state=$(result timeout sqlstate)
took=$(elapsed "$(result timeout start)" "$(result timeout end)")
note "timeout: $state after $took s"
check_eq "timeout: SQLSTATE class 08 (got $state)" "${state:0:2}" 08
check_num "timeout: within timeout + 1 s" "$took" "<=" $((TIMEOUT + 1)) " s"
check_eq "timeout: then the same backend syncs again" "$(result timeout after)" "$BASELINE"

state=$(result statement_timeout sqlstate)
took=$(elapsed "$(result statement_timeout start)" "$(result statement_timeout end)")
note "statement_timeout: $state after $took s"
check_eq "statement_timeout: canceled, 57014 (got $state)" "$state" 57014
check_num "statement_timeout: ended within 1 s of it" "$took" "<=" 2 " s"
check_eq "statement_timeout: then the same backend syncs again" "$(result statement_timeout after)" "$BASELINE"

state=$(result cancel sqlstate)
sent=$(sed -n 's/^\([0-9.]*\)|t$/\1/p' "$OUT/cancel.out" 2>/dev/null)
latency=$(elapsed "${sent:-0}" "$(result cancel end)")
note "cancel: $state, $latency s after the cancel"
check_eq "cancel: canceled, 57014 (got $state)" "$state" 57014
check_num "cancel: ended within 1 s of the cancel" "$latency" "<=" 1 " s"
check_eq "cancel: then the same backend syncs again" "$(result cancel after)" "$BASELINE"

finish
