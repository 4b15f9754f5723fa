#!/usr/bin/env bash
# progress: a long sync reports its progress (records done, total, rate)
# at most every pssync.progress_interval, and not at all with
# pssync.progress off.  So that the sync lasts several intervals whatever
# the machine's speed, it reaches slapd through a relay of our own that
# holds the directory's answers 2 ms (test/tools/ldapshuffle.c).
set -u
cd "$(dirname "$0")/../.."
source test/scripts/lib.bash
db=pssync_progress
status=0
port=$(free_port) || exit 1
ldapshuffle -w 2000 -p 0 "$port" "$PSSYNC_LDAP_PORT" >/dev/null 2>&1 &
track_own_pid $!
wait_for 10 ldapsearch -x -H "ldap://127.0.0.1:$port" -b "" -s base >/dev/null ||
	{ echo "FAIL  the relay does not answer"; exit 1; }
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
psql -X -q -d "$db" -f test/fixtures/powerschool_schema.sql >/dev/null
psql -X -q -d "$db" -v seed=0.42 -v people=2000 -f test/fixtures/awkward_district.sql >/dev/null
psql -X -q -d "$db" -v ldap_uri="ldap://127.0.0.1:$port" -v ldap_password="$PSSYNC_LDAP_PASSWORD" >/dev/null <<'SQL'
CREATE EXTENSION pssync;
CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'ldap_uri', base_dn 'ou=Awkward,dc=district,dc=org');
CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org', password :'ldap_password');
INSERT INTO students (dcid, first_name, last_name) SELECT dcid, first_name, last_name FROM awkward.records;
SQL

run() {
	psql -X -q -d "$db" -c "SET pssync.strategy = 'search'" -c "$1" \
		-c "SELECT count(*) FROM pssync.ldap_sync_district('students', dry_run => true)" 2>&1 >/dev/null
}

notices=$(run "SET pssync.progress_interval = '100ms'")
echo "$notices" | head -3
n=$(echo "$notices" | grep -cE '^NOTICE:  pssync: [0-9]+ of 2000 records matched \([0-9]+ records/s\)$')
if [ "$n" -ge 2 ]; then
	echo "ok    $n progress reports, every 100 ms"
else
	echo "FAIL  expected progress reports every 100 ms, got $n"
	status=1
fi

# the rest need no slow directory
psql -X -q -d "$db" -c "ALTER SERVER district_ldap OPTIONS (SET uri '$PSSYNC_LDAP_URI')"
notices=$(run "SET pssync.progress = off; SET pssync.progress_interval = '100ms'")
if [ -z "$notices" ]; then
	echo "ok    none with pssync.progress off"
else
	echo "FAIL  reports with pssync.progress off: $notices"
	status=1
fi

notices=$(run "SET pssync.progress_interval = '1h'")
if [ -z "$notices" ]; then
	echo "ok    none within the interval"
else
	echo "FAIL  reports within the interval: $notices"
	status=1
fi

dropdb "$db"
exit $status
