#!/usr/bin/env bash
# test/chroot/package_inside.sh: inside the Debian 12 chroot where
# test/chroot/package.sh installed postgresql-15-pssync: a throwaway
# cluster and slapd with the sample district, CREATE EXTENSION pssync and
# a district-wide sync of the students.  Prints "ok    NAME" / "FAIL  NAME";
# exits non-zero on any failure.
set -u
exec 2>&1
cd "$(dirname "$0")/../.." || exit 1
failed=0
check() {
	if [ "$2" = t ]; then
		echo "ok    $1"
	else
		echo "FAIL  $1"
		failed=$((failed + 1))
	fi
}

source test/servers.sh
trap stop_servers EXIT
PSSYNC_PG_CONF="shared_preload_libraries = 'pssync'" start_postgres ||
	{ echo "FAIL  package: start PostgreSQL"; exit 1; }
start_slapd main test/fixtures/directory.ldif || { echo "FAIL  package: start slapd"; exit 1; }

q() { psql -X -q -At -d district -c "$1"; }
createdb district
psql -X -q -d district -f test/fixtures/powerschool_schema.sql >/dev/null
psql -X -q -d district -f test/fixtures/district.sql >/dev/null
if psql -X -q -d district -v ON_ERROR_STOP=1 -v ldap_uri="$PSSYNC_LDAP_URI" \
	-v ldap_password="$PSSYNC_LDAP_PASSWORD" <<'SQL'
CREATE EXTENSION pssync;
CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'ldap_uri', base_dn 'dc=district,dc=org',
           student_base_dn 'ou=Students,dc=district,dc=org',
           staff_base_dn 'ou=Staff,dc=district,dc=org');
CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org', password :'ldap_password');
SQL
then
	check "package: CREATE EXTENSION pssync (version $(q "SELECT extversion FROM pg_extension WHERE extname = 'pssync'"))" t
else
	check "package: CREATE EXTENSION pssync" f
	exit 1
fi
psql -X -d district -c "SELECT status, dcid, first_name, last_name, old_username, new_username
  FROM pssync.ldap_sync_district('students')"
check "package: the sync wrote usernames and recorded its run" \
	"$(q "SELECT count(*) > 0 FROM students WHERE student_web_id = 'ablank'
	        AND (SELECT updated > 0 AND records > 0 FROM pssync.sync_run ORDER BY run_id DESC LIMIT 1)")"
check "package: the sync's exceptions are there" \
	"$(q "SELECT count(*) > 0 FROM pssync.last_exceptions WHERE status = 'ambiguous'")"
[ "$failed" -eq 0 ]
