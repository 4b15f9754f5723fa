#!/usr/bin/env bash
# progress: a long sync reports its progress (records done, total, rate)
# at most every pssync.progress_interval, and not at all with
# pssync.progress off.
set -u
cd "$(dirname "$0")/../.."
db=pssync_progress
status=0
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
psql -X -q -d "$db" -f test/fixtures/powerschool_schema.sql >/dev/null
psql -X -q -d "$db" -v seed=0.42 -v people=2000 -f test/fixtures/awkward_district.sql >/dev/null
psql -X -q -d "$db" -v ldap_uri="$PSSYNC_LDAP_URI" -v ldap_password="$PSSYNC_LDAP_PASSWORD" >/dev/null <<'SQL'
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
