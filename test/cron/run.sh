#!/usr/bin/env bash
# test/cron/run.sh: pssync run nightly by pg_cron, as the README shows.
#
# Its own throwaway cluster (pg_cron must be preloaded) and slapd; three
# jobs scheduled every minute: a district-wide sync of students, one of
# teachers with blank usernames, and one that fails.  pg_cron 1.4 runs
# jobs on minute boundaries, so this waits up to 90 seconds for them.
# Checks cron.job_run_details and pssync.sync_run.
set -u
cd "$(dirname "$0")/../.."
source test/packages.sh
ensure_packages postgresql-15-cron || exit 1

unset PSSYNC_WORK PGHOST PGPORT PGDATABASE
source test/servers.sh
trap stop_servers EXIT
PSSYNC_PG_CONF="shared_preload_libraries = 'pg_cron, pssync'
cron.database_name = 'district'
cron.use_background_workers = on
max_worker_processes = 16" start_postgres || exit 1
start_slapd main test/fixtures/directory.ldif || exit 1

status=0
check() {
	local name=$1 ok=$2
	if [ "$ok" = t ]; then
		echo "ok    $name"
	else
		echo "FAIL  $name"
		status=1
	fi
}
q() { psql -X -q -At -d district -c "$1"; }

createdb district
psql -X -q -d district -f test/fixtures/powerschool_schema.sql
psql -X -q -d district -f test/fixtures/district.sql
psql -X -q -d district -v ldap_uri="$PSSYNC_LDAP_URI" -v ldap_password="$PSSYNC_LDAP_PASSWORD" >/dev/null <<'SQL'
CREATE EXTENSION pssync;
CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'ldap_uri', base_dn 'dc=district,dc=org',
           student_base_dn 'ou=Students,dc=district,dc=org',
           staff_base_dn 'ou=Staff,dc=district,dc=org');
CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org', password :'ldap_password');
CREATE EXTENSION pg_cron;
-- the README's schedules, every minute instead of nightly
SELECT cron.schedule('pssync-students', '* * * * *',
       $$SELECT count(*) FROM pssync.ldap_sync_district('students')$$);
SELECT cron.schedule('pssync-teachers-blank', '* * * * *',
       $$SELECT count(*) FROM pssync.ldap_sync_district('teachers_blank')$$);
SELECT cron.schedule('pssync-broken', '* * * * *',
       $$SELECT count(*) FROM pssync.ldap_sync_district('everyone')$$);
SQL
echo "pg_cron $(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'"), jobs scheduled at $(date +%T)"

for i in $(seq 1 90); do
	finished=$(q "SELECT count(DISTINCT jobid) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')")
	[ "$finished" -ge 3 ] && break
	sleep 1
done
echo "waited ${i}s"
q "SELECT j.jobname, d.status, d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid) ORDER BY j.jobname"

check "the students job succeeded" \
	"$(q "SELECT bool_or(status = 'succeeded') FROM cron.job_run_details JOIN cron.job USING (jobid) WHERE jobname = 'pssync-students'")"
check "the teachers_blank job succeeded" \
	"$(q "SELECT bool_or(status = 'succeeded') FROM cron.job_run_details JOIN cron.job USING (jobid) WHERE jobname = 'pssync-teachers-blank'")"
check "the broken job failed, with pssync's message" \
	"$(q "SELECT bool_or(status = 'failed' AND return_message LIKE '%invalid scope \"everyone\"%') FROM cron.job_run_details JOIN cron.job USING (jobid) WHERE jobname = 'pssync-broken'")"
check "the students run is in pssync.sync_run" \
	"$(q "SELECT count(*) > 0 FROM pssync.sync_run WHERE function = 'ldap_sync_district' AND scope = 'students' AND role = 'postgres' AND updated = 10")"
check "the teachers_blank run is in pssync.sync_run" \
	"$(q "SELECT count(*) > 0 FROM pssync.sync_run WHERE scope = 'teachers_blank'")"
check "its exceptions wait in pssync.last_exceptions" \
	"$(q "SELECT count(*) = 11 FROM pssync.last_exceptions WHERE scope = 'students'")"
check "the usernames were written" \
	"$(q "SELECT student_web_id = 'jsmith' FROM students WHERE dcid = 1002")"
check "the failed job left no history" \
	"$(q "SELECT count(*) = 0 FROM pssync.sync_run WHERE scope NOT IN ('students', 'teachers_blank')")"
exit $status
