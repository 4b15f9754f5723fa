#!/usr/bin/env bash
# make demo: from a fresh machine, install what is missing, build, start a
# throwaway PostgreSQL cluster and slapd with the sample district, run a
# district-wide sync, print the results, and stop everything again.
set -eu
cd "$(dirname "$0")/.."

source test/packages.sh
ensure_packages $PSSYNC_PACKAGES

echo "== building pssync"
make -s >/dev/null
make -s install >/dev/null

source test/servers.sh
trap stop_servers EXIT
echo "== starting a throwaway PostgreSQL cluster and slapd"
PSSYNC_PG_CONF="shared_preload_libraries = 'pssync'" start_postgres
start_slapd main test/fixtures/directory.ldif

createdb district
psql -q -d district -f test/fixtures/powerschool_schema.sql
psql -q -d district -f test/fixtures/district.sql

psql -X -q -d district -v ldap_uri="$PSSYNC_LDAP_URI" -v ldap_password="$PSSYNC_LDAP_PASSWORD" <<'SQL'
\pset footer off
CREATE EXTENSION pssync;
CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'ldap_uri', base_dn 'dc=district,dc=org',
           student_base_dn 'ou=Students,dc=district,dc=org',
           staff_base_dn 'ou=Staff,dc=district,dc=org');
CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org', password :'ldap_password');

\echo
\echo '== SELECT * FROM pssync.ldap_sync_district(''students'')'
SELECT status, dcid, first_name, last_name, old_username, new_username,
       coalesce(array_to_string(candidates, ' '), dn) AS dn_or_candidates
  FROM pssync.ldap_sync_district('students');

\echo
\echo '== SELECT * FROM pssync.ldap_sync_district(''teachers'')'
SELECT status, dcid, first_name, last_name, field, old_username, new_username
  FROM pssync.ldap_sync_district('teachers');

\echo
\echo '== SELECT * FROM pssync.ldap_sync_district(''staff'')'
SELECT status, dcid, first_name, last_name, field, old_username, new_username
  FROM pssync.ldap_sync_district('staff');

\echo
\echo '== the usernames now (run again: everything updated is unchanged)'
SELECT status, count(*) FROM pssync.ldap_sync_district('students', dry_run => true)
 GROUP BY status ORDER BY min(section) DESC, status;
SQL
echo
echo "== done; the servers are stopped"
