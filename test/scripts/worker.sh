#!/usr/bin/env bash
# worker: the background worker puts a new account's username into
# PowerSchool seconds after the account is made, and keeps at it.
#
# A cluster of this script's own preloads pssync and runs the worker in
# database workerdb as role pssync_worker (what a sync needs, no more),
# against a slapd of its own (an RFC 4533 provider).  Checked:
#
#   - it streams; a new account lands (recorded with function 'worker');
#   - idle, it holds no transaction (backend_xmin NULL, state idle) and
#     shows as backend_type "pssync worker";
#   - the directory goes away: it backs off, with one log line for each
#     error however many retries; the directory comes back: it streams
#     again, the view shows no error, and the next account lands;
#   - SIGHUP rereads its settings (pssync.worker_scope);
#   - its role made a superuser, it stops at the next batch; made none
#     again, it runs;
#   - killed, it is restarted; its role read-only, it says why; at shutdown
#     it exits cleanly, and comes back with the server.
#
# Every wait below is for a condition, bounded (it never asserts a time).
source "$(dirname "$0")/lib.bash"

DIR=$PSSYNC_WORK/$SCRIPT_NAME
rm -rf "$DIR"
mkdir -p "$DIR"
bulk_ldif Work 20 W >"$DIR/people.ldif"
start_own_slapd dir "$DIR/people.ldif" || { echo "could not start slapd"; exit 1; }
SLAPD_PORT=$OWN_SLAPD_PORT
ADMIN=(-x -H "$OWN_SLAPD_URI" -D cn=admin,dc=district,dc=org -w admin-secret)

init_own_cluster "$DIR/cluster" "shared_preload_libraries = 'pssync'
pssync.worker_naptime = 30
log_min_messages = info" || exit 1
start_own_cluster "$DIR/cluster" || exit 1
LOG=$DIR/cluster/server.log
own() { PGHOST="$DIR/cluster/socket" PGPORT=$OWN_PG_PORT psql -X -q -At -v ON_ERROR_STOP=1 -d "${2:-workerdb}" -c "$1"; }
own "CREATE DATABASE workerdb" postgres || exit 1
PGHOST="$DIR/cluster/socket" PGPORT=$OWN_PG_PORT psql -X -q -v ON_ERROR_STOP=1 -d workerdb \
	-v uri="$OWN_SLAPD_URI" -v password="$PSSYNC_LDAP_PASSWORD" <<EOF || exit 1
SET client_min_messages = warning;
\i $TOP/test/fixtures/powerschool_schema.sql
\i $TOP/test/fixtures/district.sql
CREATE EXTENSION pssync;
CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'uri', base_dn 'dc=district,dc=org',
           student_base_dn 'ou=Work,dc=district,dc=org',
           staff_base_dn 'ou=Staff,dc=district,dc=org');
CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org', password :'password');
$(bulk_students_sql 20 W 700000)
INSERT INTO students (dcid, first_name, last_name) VALUES
  (700021, 'WGiven00021', 'WFamily00021'), (700022, 'WGiven00022', 'WFamily00022');
-- what a sync needs, and no more
CREATE ROLE pssync_worker LOGIN;
GRANT USAGE ON SCHEMA pssync TO pssync_worker;
GRANT USAGE ON FOREIGN SERVER district_ldap TO pssync_worker;
GRANT SELECT ON students, users, schoolstaff TO pssync_worker;
GRANT UPDATE (student_web_id) ON students TO pssync_worker;
GRANT UPDATE (loginid, teacherloginid) ON users TO pssync_worker;
ALTER SYSTEM SET pssync.worker_database = 'workerdb';
ALTER SYSTEM SET pssync.worker_role = 'pssync_worker';
EOF
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DIR/cluster/data" -l "$DIR/cluster/server.log" -w restart >/dev/null || exit 1
untrack_own_pid "$(sed -n 1p "$DIR/cluster/data/postmaster.pid" 2>/dev/null)"
track_own_pid "$(head -1 "$DIR/cluster/data/postmaster.pid")"

state() { own "SELECT state FROM pssync.worker_status"; }
username() { own "SELECT coalesce(student_web_id, '<none>') FROM students WHERE dcid = $1"; }
add_account() {
	ldapadd "${ADMIN[@]}" >/dev/null <<EOF
dn: uid=w$1,ou=Work,dc=district,dc=org
objectClass: inetOrgPerson
cn: WGiven$1 WFamily$1
sn: WFamily$1
givenName: WGiven$1
uid: w$1
EOF
}

# It starts, runs a first (full) batch, and streams.
detail=$(tail -5 "$LOG")
check "the worker streams" wait_for 60 bash -c "[ \"\$(PGHOST=$DIR/cluster/socket PGPORT=$OWN_PG_PORT psql -X -At -d workerdb -c 'SELECT state FROM pssync.worker_status')\" = streaming ]"
check_eq "it shows as backend_type 'pssync worker', connected as its role" \
	"$(own "SELECT backend_type || ' ' || usename FROM pg_stat_activity WHERE backend_type = 'pssync worker'")" \
	"pssync worker pssync_worker"
check "its first batch synced the students (W00002 has w00002)" [ "$(username 700002)" = w00002 ]

# Idle, it holds nothing.  Ten samples: one that falls on a batch (the
# stream or naptime woke it) is "active"; every other must be idle with
# no snapshot and no transaction, and most are.
idle_samples=0
holding=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	row=$(own "SELECT state || '/' || coalesce(backend_xmin::text, 'no xmin') || '/' || coalesce(backend_xid::text, 'no xid')
	            FROM pg_stat_activity WHERE backend_type = 'pssync worker'")
	case $row in
		"idle/no xmin/no xid") idle_samples=$((idle_samples + 1)) ;;
		active/*) ;;
		*) holding=$((holding + 1)); detail=$row ;;
	esac
	sleep 0.3
done
check_eq "idle, it holds no transaction and no snapshot (samples not in a batch)" "$holding" 0
check "and it is idle most of the time ($idle_samples of 10 samples)" [ "$idle_samples" -ge 5 ]

# A new account lands.
check_eq "before: W00021 has no username" "$(username 700021)" "<none>"
add_account 00021
check "a new account lands: W00021 gets w00021" wait_for 30 bash -c "[ \"\$(PGHOST=$DIR/cluster/socket PGPORT=$OWN_PG_PORT psql -X -At -d workerdb -c 'SELECT student_web_id FROM students WHERE dcid = 700021')\" = w00021 ]"
check_eq "recorded in the history with function 'worker'" \
	"$(own "SELECT count(*) > 0 FROM pssync.sync_log l JOIN pssync.sync_run r USING (run_id) WHERE r.function = 'worker' AND l.dcid = 700021 AND l.status = 'updated'")" t
check "the view counts its batches and the records changed" \
	[ "$(own "SELECT batches > 1 AND changed_records >= 1 AND watermark_age IS NOT NULL FROM pssync.worker_status")" = t ]

# The directory goes away: the worker backs off, with one log line.
kill -9 "$OWN_SLAPD_PID"
untrack_own_pid "$OWN_SLAPD_PID"
check "with the directory gone, it backs off" wait_for 30 bash -c "[ \"\$(PGHOST=$DIR/cluster/socket PGPORT=$OWN_PG_PORT psql -X -At -d workerdb -c 'SELECT state FROM pssync.worker_status')\" = 'backing off' ]"
check "the view says why" [ -n "$(own "SELECT last_error FROM pssync.worker_status")" ]
sleep 8	# retries after 1, 2 and 4 s
# one line for the lost stream, one for the connections refused since
backoff_lines=$(grep 'pssync worker: backing off' "$LOG")
detail=$backoff_lines
check_eq "one log line for each error, not one a retry" \
	"$(wc -l <<<"$backoff_lines")" "$(sed 's/.*backing off: //' <<<"$backoff_lines" | sort -u | wc -l)"
check_eq "the lost stream, then the refused connections" "$(wc -l <<<"$backoff_lines")" 2
restart_own_slapd dir "$SLAPD_PORT" || exit 1
check "the directory back, it streams again" wait_for 60 bash -c "[ \"\$(PGHOST=$DIR/cluster/socket PGPORT=$OWN_PG_PORT psql -X -At -d workerdb -c 'SELECT state FROM pssync.worker_status')\" = streaming ]"
check_eq "and says so once" "$(grep -c 'pssync worker: streaming changes' "$LOG")" 2
check_eq "the view no longer shows the error" "$(own "SELECT last_error IS NULL FROM pssync.worker_status")" t
add_account 00022
check "the next account lands: W00022 gets w00022" wait_for 30 bash -c "[ \"\$(PGHOST=$DIR/cluster/socket PGPORT=$OWN_PG_PORT psql -X -At -d workerdb -c 'SELECT student_web_id FROM students WHERE dcid = 700022')\" = w00022 ]"

# SIGHUP rereads its settings.
own "ALTER SYSTEM SET pssync.worker_scope = 'teachers'" && own "SELECT pg_reload_conf()" >/dev/null
check "SIGHUP: it rereads pssync.worker_scope" wait_for 30 grep -q 'settings reloaded: pssync.worker_scope "teachers"' "$LOG"
check "and its next batch is of the teachers" wait_for 30 bash -c "PGHOST=$DIR/cluster/socket PGPORT=$OWN_PG_PORT psql -X -At -d workerdb -c \"SELECT query FROM pg_stat_activity WHERE backend_type = 'pssync worker'\" | grep -q teachers"
own "ALTER SYSTEM RESET pssync.worker_scope" && own "SELECT pg_reload_conf()" >/dev/null

# Its role made a superuser, it runs no batch as one; made none again, it
# runs again.
own "ALTER ROLE pssync_worker SUPERUSER"
add_account 00023
check "its role a superuser, it stops at the next batch" wait_for 30 grep -q 'pssync.worker_role "pssync_worker" is a superuser' "$LOG"
check_eq "the view says why" "$(own "SELECT state || ': ' || last_error FROM pssync.worker_status")" "stopped: pssync.worker_role is a superuser"
own "ALTER ROLE pssync_worker NOSUPERUSER" && own "SELECT pg_reload_conf()" >/dev/null
check "its role none again, it runs" wait_for 60 grep -q 'pssync.worker_role "pssync_worker" is no longer a superuser' "$LOG"
check "and streams" wait_for 60 bash -c "[ \"\$(PGHOST=$DIR/cluster/socket PGPORT=$OWN_PG_PORT psql -X -At -d workerdb -c 'SELECT state FROM pssync.worker_status')\" = streaming ]"

# Killed, it is restarted (after the postmaster's crash restart).  Its
# role was made read-only meanwhile (default_transaction_read_only, which
# it reads when it connects): it writes nothing, and says why, in the log
# and the view.  Restarted with the role writable again, it streams.
own "ALTER ROLE pssync_worker SET default_transaction_read_only = on"
pid=$(own "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pssync worker'")
kill -9 "$pid"
check "killed, it is started again" wait_for 60 bash -c "p=\$(PGHOST=$DIR/cluster/socket PGPORT=$OWN_PG_PORT psql -X -At -d workerdb -c \"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pssync worker'\" 2>/dev/null); [ -n \"\$p\" ] && [ \"\$p\" != $pid ]"
check "its role read-only, it says why in the log" \
	wait_for 60 grep -q "pssync worker: backing off: the pssync worker's transactions are read-only" "$LOG"
check_eq "and in the view" "$(own "SELECT state || ': ' || last_error FROM pssync.worker_status")" \
	"backing off: the pssync worker's transactions are read-only"
own "ALTER ROLE pssync_worker RESET default_transaction_read_only"
pid=$(own "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pssync worker'")
kill -9 "$pid"
check "restarted with its role writable, it streams" wait_for 60 bash -c "[ \"\$(PGHOST=$DIR/cluster/socket PGPORT=$OWN_PG_PORT psql -X -At -d workerdb -c 'SELECT state FROM pssync.worker_status' 2>/dev/null)\" = streaming ]"

# At shutdown it exits cleanly, and comes back with the server.
pg_log_offset=$(stat -c %s "$LOG")
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DIR/cluster/data" -m fast -w stop >/dev/null
shutdown_log=$(tail -c +"$((pg_log_offset + 1))" "$LOG")
detail=$(echo "$shutdown_log" | grep -E 'pssync|exit code' | head -5)
check "at shutdown it exits cleanly (exit code 0, no error)" \
	bash -c "! grep -qE 'pssync worker.*(exited with exit code|terminated by signal)|FATAL|ERROR' <<<\"\$0\"" "$shutdown_log"
check "the server shuts down" grep -q "database system is shut down" <<<"$shutdown_log"
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DIR/cluster/data" -l "$LOG" -w start >/dev/null || exit 1
track_own_pid "$(head -1 "$DIR/cluster/data/postmaster.pid")"
check "it comes back with the server" wait_for 60 bash -c "[ \"\$(PGHOST=$DIR/cluster/socket PGPORT=$OWN_PG_PORT psql -X -At -d workerdb -c 'SELECT state FROM pssync.worker_status')\" = streaming ]"

check "no password in the server log" bash -c "! grep -qF \"\$0\" \"\$1\"" "$PSSYNC_LDAP_PASSWORD" "$LOG"
finish
