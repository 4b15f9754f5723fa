#!/usr/bin/env bash
# changes_provider: ldap_sync_changes against RFC 4533 providers that cannot
# say what changed since a cookie.  Each makes a full run, with a NOTICE
# saying why, and the rows of a full run; none costs a present phase.
# (nouuid, whose entries come without entryUUID, runs incrementally.)
#
#   nolog     syncprov without a session log: a cookie costs a present
#             phase (the UUID of every entry);
#   refusing  syncprov-reloadhint TRUE: a cookie older than the session log
#             is refused with e-syncRefreshRequired;
#   restarted a provider restarted: its session log (in memory) is empty;
#   sourced   the session log read from an accesslog database, which a
#             restart keeps;
#   nodone    the result of a sync search with a cookie comes without
#             its syncDone control;
#   bigcookie a cookie longer than pssync keeps (64 kB);
#   nosync    no syncprov: slapd lists the Sync Request control, and
#             answers a sync search without a cookie, so every run is
#             full and keeps no watermark.
source "$(dirname "$0")/lib.bash"

DB=pssync_changes_provider
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
bulk_ldif Prov 50 V >"$OUT/people.ldif"

# the first run is full (no watermark); the second, after a change, says why
# it is full again, or is incremental.  Prints the NOTICE of each.
two_runs() {
	local uri=$1
	setup_database "$DB" "$uri" >/dev/null || return 1
	sql "$DB" "ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Prov,dc=district,dc=org');
	           $(bulk_students_sql 50 V 600000)
	           INSERT INTO students (dcid, first_name, last_name) VALUES (600051, 'VGiven00051', 'VFamily00051')" >/dev/null || return 1
	sql "$DB" "SELECT count(*) FROM pssync.ldap_sync_changes('students')" 2>&1 | grep NOTICE
	# an account for the 51st student
	ldapadd -x -H "$uri" -D cn=admin,dc=district,dc=org -w admin-secret >/dev/null <<LDIF
dn: uid=v00051,ou=Prov,dc=district,dc=org
objectClass: inetOrgPerson
cn: VGiven00051 VFamily00051
sn: VFamily00051
givenName: VGiven00051
uid: v00051
LDIF
	[ -n "${BETWEEN:-}" ] && $BETWEEN
	sql "$DB" "SELECT 'rows: ' || count(*) || ', v00051: ' || count(*) FILTER (WHERE new_username = 'v00051')
	           FROM pssync.ldap_sync_changes('students') WHERE dcid > 600000" 2>&1 | grep -E "NOTICE|rows:"
}

# A provider with a session log answers the cookie with the one change:
# the new account.
start_own_slapd good "$OUT/people.ldif" || exit 1
out=$(two_runs "$OWN_SLAPD_URI")
echo "$out" | sed 's/^/# good: /'
check "good: the first run is full, there being no watermark" grep -q "there is no watermark" <<<"$out"
check "good: the second returns the one change, incrementally" grep -q "^rows: 1, v00051: 1" <<<"$out"
check "good: and runs in full no more" [ "$(grep -c 'in full' <<<"$out")" = 1 ]

# No session log: the cookie gets a present phase, which pssync stops.
SLAPD_SESSIONLOG=0 start_own_slapd nolog "$OUT/people.ldif" || exit 1
out=$(two_runs "$OWN_SLAPD_URI")
echo "$out" | sed 's/^/# nolog: /'
check "nolog: the second run is full, and says the session log does not reach back" \
	grep -q "session log does not reach back to the stored cookie" <<<"$out"
check "nolog: its rows are a full run's (all 51, the new account among them)" grep -q "^rows: 51, v00051: 1" <<<"$out"

# A provider that refuses a stale cookie (reloadhint): the cookie is made
# older than the session log.
SLAPD_SYNCPROV_CONF="syncprov-reloadhint TRUE" start_own_slapd refusing "$OUT/people.ldif" || exit 1
make_stale() {
	sql "$DB" "UPDATE pssync.sync_state SET cookie = convert_to(regexp_replace(convert_from(cookie, 'UTF8'),
	           'csn=[0-9]{14}', 'csn=20000101000000'), 'UTF8')" >/dev/null
}
out=$(BETWEEN=make_stale two_runs "$OWN_SLAPD_URI")
echo "$out" | sed 's/^/# refusing: /'
check "refusing: a refused cookie (e-syncRefreshRequired) makes a full run" \
	grep -q "refused the stored cookie (e-syncRefreshRequired)" <<<"$out"
check "refusing: its rows are a full run's" grep -q "^rows: 51, v00051: 1" <<<"$out"

# The provider restarts between two runs: its session log starts empty.
start_own_slapd restarted "$OUT/people.ldif" || exit 1
RESTART_PORT=$OWN_SLAPD_PORT
# restart_provider NAME: stop the slapd NAME and start it again on its port
# and data.  (two_runs runs in a command substitution, a subshell: the
# restarted slapd's pid comes back through a file, to be stopped on exit)
restart_provider() {
	stop_pids "$OWN_SLAPD_PID"
	untrack_own_pid "$OWN_SLAPD_PID"
	restart_own_slapd "$1" "$RESTART_PORT" || exit 1
	echo "$OWN_SLAPD_PID" >"$OUT/$1.pid"
}
out=$(BETWEEN="restart_provider restarted" two_runs "$OWN_SLAPD_URI")
[ -s "$OUT/restarted.pid" ] && track_own_pid "$(cat "$OUT/restarted.pid")"
echo "$out" | sed 's/^/# restarted: /'
check "restarted: after a restart of the provider, a full run" grep -q "session log does not reach back" <<<"$out"
check "restarted: its rows are a full run's" grep -q "^rows: 51, v00051: 1" <<<"$out"

# The session log taken from an accesslog database (OpenLDAP 2.5's
# syncprov-sessionlog-source, as the README shows): it survives a restart
# of the provider, so the second run is incremental all the same.
mkdir -p "$OUT/accesslog"
SLAPD_GLOBAL_CONF="moduleload accesslog

database mdb
suffix cn=accesslog
rootdn cn=accesslog
directory $OUT/accesslog
index reqStart,entryCSN eq
access to * by dn.exact=\"cn=pssync,ou=Services,dc=district,dc=org\" read by * none" \
SLAPD_SESSIONLOG=0 SLAPD_SYNCPROV_CONF="syncprov-sessionlog-source cn=accesslog

overlay accesslog
logdb cn=accesslog
logops writes
logsuccess TRUE" \
	start_own_slapd sourced "$OUT/people.ldif" || exit 1
# (the log must reach back to the first run's cookie, as a provider's log
# that has run for a while does: a change logged before it)
ldapmodify -x -H "$OWN_SLAPD_URI" -D cn=admin,dc=district,dc=org -w admin-secret >/dev/null <<LDIF
dn: ou=Prov,dc=district,dc=org
changetype: modify
replace: description
description: logged before the first run
LDIF
RESTART_PORT=$OWN_SLAPD_PORT
out=$(BETWEEN="restart_provider sourced" two_runs "$OWN_SLAPD_URI")
[ -s "$OUT/sourced.pid" ] && track_own_pid "$(cat "$OUT/sourced.pid")"
echo "$out" | sed 's/^/# sourced: /'
check "sourced: after a restart of the provider, the second run returns the one change, incrementally" \
	grep -q "^rows: 1, v00051: 1" <<<"$out"
check "sourced: and runs in full no more" [ "$(grep -c 'in full' <<<"$out")" = 1 ]

# A provider with a session log behind a relay that garbles the answers to
# a sync search with a cookie (test/tools/syncmangle.py MODE): its URI is
# MANGLED_URI.
start_mangled() {
	local port
	start_own_slapd "$1" "$OUT/people.ldif" || return 1
	port=$(free_port) || return 1
	python3 "$TOP/test/tools/syncmangle.py" "$1" "$port" "$OWN_SLAPD_PORT" >"$OUT/$1.log" 2>&1 &
	track_own_pid $!
	wait_for 10 bash -c "echo >/dev/tcp/127.0.0.1/$port" 2>/dev/null
	MANGLED_URI=ldap://127.0.0.1:$port
}

# A result without a syncDone control: the provider has not said what the
# refresh was, so a full run, not "nothing changed".
start_mangled nodone || exit 1
out=$(two_runs "$MANGLED_URI")
echo "$out" | sed 's/^/# nodone: /'
check "nodone: a sync result without a syncDone control makes a full run" \
	grep -q "ended the sync search without a syncDone control" <<<"$out"
check "nodone: its rows are a full run's" grep -q "^rows: 51, v00051: 1" <<<"$out"

# A changed entry without its entryUUID: its syncState names it, and the
# change is not lost.
start_mangled nouuid || exit 1
out=$(two_runs "$MANGLED_URI")
echo "$out" | sed 's/^/# nouuid: /'
check "nouuid: the second run returns the one change, incrementally" grep -q "^rows: 1, v00051: 1" <<<"$out"
check "nouuid: and runs in full no more" [ "$(grep -c 'in full' <<<"$out")" = 1 ]

# A cookie of 70,000 bytes: no cookie pssync keeps; a full run.
start_mangled bigcookie || exit 1
out=$(two_runs "$MANGLED_URI")
echo "$out" | sed 's/^/# bigcookie: /'
check "bigcookie: a cookie longer than 64 kB makes a full run" \
	grep -q "sent a cookie longer than 65536 bytes" <<<"$out"
check "bigcookie: its rows are a full run's" grep -q "^rows: 51, v00051: 1" <<<"$out"

# No syncprov: every run is full, and keeps no watermark.
SLAPD_SESSIONLOG=none start_own_slapd nosync "$OUT/people.ldif" || exit 1
out=$(two_runs "$OWN_SLAPD_URI")
echo "$out" | sed 's/^/# nosync: /'
check "nosync: the first run is full, and says it keeps no watermark, and why" \
	grep -q "keeps no watermark for students.*sync search" <<<"$out"
check "nosync: the second is full too" [ "$(grep -c 'runs students in full' <<<"$out")" = 2 ]
check "nosync: the second run's rows are a full run's" grep -q "^rows: 51, v00051: 1" <<<"$out"
check_eq "nosync: no watermark is kept" \
	"$(sql "$DB" "SELECT count(*) FROM pssync.sync_state WHERE mechanism IS NOT NULL")" 0

finish
