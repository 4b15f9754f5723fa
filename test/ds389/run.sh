#!/usr/bin/env bash
# test/ds389/run.sh: ldap_sync_changes against 389 Directory Server.
#
# 389-DS offers RFC 4533 through its Content Synchronization plug-in (with
# the Retro Changelog).  Installs 389-ds-base if it is missing, starts a
# throwaway instance (test/ds389/ds389.sh) and a PostgreSQL cluster
# (test/servers.sh), and checks:
#
#   - the guarantee of ldap_sync_changes after random mixes of changes to
#     both sides (test/scripts/changes_random.sh, with the instance as the
#     directory), which also shows that runs after the first are
#     incremental (each round's run says so, or the script fails);
#   - with syncrepl-allow-openldap off, a full run that says why, every
#     time, and keeps no watermark;
#   - the background worker, which 389-DS gives no persistent stream
#     (its OpenLDAP compatibility ends one as it begins): it polls, says
#     so once, and a new account's username lands.
#
# Prints "ok NAME" or "FAIL NAME" per check; exits non-zero on a failure.
# Stops everything it started, by process id.  Runs as root, with pssync
# built and installed (make && make install, as .ci/run does).
set -u
cd "$(dirname "$0")/../.." || exit 1
source test/packages.sh
ensure_packages 389-ds-base ldap-utils || { echo "FAIL  install 389-ds-base"; exit 1; }

unset PSSYNC_WORK PGHOST PGPORT PGDATABASE
source test/servers.sh
source test/ds389/ds389.sh
status=0
check() {
	local name=$1
	shift
	if "$@"; then
		echo "ok    $name"
	else
		echo "FAIL  $name"
		status=1
	fi
}
cleanup() {
	stop_ds389
	stop_servers
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T=$(now)
ensure_work_dir
WORK=$PSSYNC_WORK
PSSYNC_PG_CONF="shared_preload_libraries = 'pssync'" start_postgres ||
	{ echo "FAIL  start PostgreSQL"; exit 1; }
if ! start_ds389 "$WORK/ds389"; then
	echo "FAIL  start 389-DS"
	exit 1
fi
echo "389-DS $(dpkg-query -W -f '${Version}' 389-ds-base) on ldap://127.0.0.1:$DS389_PORT, started in $(since "$T") s"

# --- the guarantee, with the instance as the directory ---------------------
# LOG: rounds ran, and ldap_sync_changes ran in full only for its first run
# of each scope (no watermark)
incremental() {
	[ "$(grep -c '^ok round' "$1")" -gt 0 ] && [ "$(grep -c 'runs [a-z]* in full' "$1")" -eq 3 ]
}

# the sample's names, then (on another seed, fewer rounds) the names a
# district has: accents spelt or not, apostrophes, hyphens, particles
for names in sample awkward; do
	T=$(now)
	if [ "$names" = sample ]; then
		c_names="" c_seed=${CHANGES_SEED:-42} c_rounds=${CHANGES_ROUNDS:-30} c_log=changes_random_ds389
	else
		c_names=awkward c_seed=${CHANGES_SEED:-1} c_rounds=${CHANGES_ROUNDS:-15} c_log=changes_random_names_ds389
		# the first pass's entries go: the second starts from its own
		ldapdelete -r -x -H "ldap://127.0.0.1:$DS389_PORT" -D "cn=Directory Manager" -w "$DS389_PASSWORD" \
			ou=Rand,dc=district,dc=org ou=RandStaff,dc=district,dc=org ou=RandAway,dc=district,dc=org \
			>/dev/null 2>&1
	fi
	log=$WORK/$c_log.log
	if CHANGES_DS389_URI="ldap://127.0.0.1:$DS389_PORT" DS389_PASSWORD=$DS389_PASSWORD \
		PSSYNC_LDAP_URI="ldap://127.0.0.1:$DS389_PORT" PSSYNC_LDAP_PORT=$DS389_PORT \
		CHANGES_NAMES=$c_names CHANGES_SEED=$c_seed CHANGES_ROUNDS=$c_rounds PSSYNC_SCRIPT_NAME=$c_log \
		PATH="$PWD/test/tools/bin:$PATH" bash test/scripts/changes_random.sh >"$log" 2>&1; then
		grep -E '^# ' "$log" | tail -2
		echo "ok    ds389 $c_log ($(grep -c '^ok ' "$log") checks, $(since "$T") s)"
	else
		tail -40 "$log"
		grep -E '^FAIL ' "$log" | head -20 | sed 's/^/>> /'
		echo "FAIL  ds389 $c_log"
		status=1
	fi
	check "ds389 $c_log: runs after the first are incremental" incremental "$log"
done

# --- syncrepl-allow-openldap off: full runs that say why -------------------
T=$(now)
# ds389_database DB STUDENT_OU STAFF_OU: a database with PowerSchool's
# tables, pssync, and its server: the instance, bound as Directory Manager;
# then the statements on stdin
ds389_database() {
	createdb "$1" || return 1
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f test/fixtures/powerschool_schema.sql >/dev/null || return 1
	{
		cat <<'SQL'
CREATE EXTENSION pssync;
CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'uri', base_dn 'dc=district,dc=org',
           student_base_dn :'student_ou', staff_base_dn :'staff_ou');
CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (bind_dn 'cn=Directory Manager', password :'password');
SQL
		cat
	} | psql -X -q -v ON_ERROR_STOP=1 -d "$1" -v uri="ldap://127.0.0.1:$DS389_PORT" \
		-v password="$DS389_PASSWORD" -v student_ou="$2" -v staff_ou="$3" >/dev/null
}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d ds389 "$@"; }
ds389_set_openldap off || { echo "FAIL  ds389 restart"; exit 1; }
ds389_database ds389 ou=Rand,dc=district,dc=org ou=RandStaff,dc=district,dc=org <<'SQL' ||
INSERT INTO students (dcid, first_name, last_name) VALUES (1, 'Ann', 'Nobody');
SQL
	{ echo "FAIL  ds389 database"; exit 1; }
for run in first second; do
	out=$(q -c "SELECT count(*) FROM pssync.ldap_sync_changes('students')" 2>&1)
	echo "$out" | sed "s/^/# $run run: /"
	check "ds389 without syncrepl-allow-openldap: the $run run is full" \
		grep -q 'runs students in full' <<<"$out"
	check "ds389 without syncrepl-allow-openldap: the $run run says why" \
		grep -q 'keeps no watermark for students.*Invalid session cookie' <<<"$out"
done
check "ds389 without syncrepl-allow-openldap: no watermark kept" \
	[ "$(q -c "SELECT count(*) FROM pssync.sync_state WHERE mechanism IS NOT NULL")" = 0 ]
echo "took $(since "$T") s"

# --- the background worker: no refreshAndPersist there, so it polls -------
# (389-DS's OpenLDAP compatibility ends a persistent search as it begins)
T=$(now)
ds389_set_openldap on || { echo "FAIL  ds389 restart"; exit 1; }
ldapmodify -a -x -H "ldap://127.0.0.1:$DS389_PORT" -D "cn=Directory Manager" -w "$DS389_PASSWORD" >/dev/null <<'LDIF'
dn: ou=Work,dc=district,dc=org
objectClass: organizationalUnit
ou: Work
LDIF
w() { psql -X -q -At -v ON_ERROR_STOP=1 -d ds389w "$@"; }
ds389_database ds389w ou=Work,dc=district,dc=org ou=Work,dc=district,dc=org <<'SQL' ||
INSERT INTO students (dcid, first_name, last_name) VALUES (1, 'Wes', 'Newcomb');
CREATE ROLE ds389_worker LOGIN;
GRANT USAGE ON SCHEMA pssync TO ds389_worker;
GRANT USAGE ON FOREIGN SERVER district_ldap TO ds389_worker;
GRANT SELECT ON students, users, schoolstaff TO ds389_worker;
GRANT UPDATE (student_web_id) ON students TO ds389_worker;
GRANT UPDATE (loginid, teacherloginid) ON users TO ds389_worker;
ALTER SYSTEM SET pssync.worker_database = 'ds389w';
ALTER SYSTEM SET pssync.worker_role = 'ds389_worker';
ALTER SYSTEM SET pssync.worker_naptime = 2;
SQL
	{ echo "FAIL  ds389 worker database"; exit 1; }
restart_postgres || { echo "FAIL  ds389 restart PostgreSQL with the worker"; exit 1; }
state() { w -c "SELECT state FROM pssync.worker_status"; }
wait_for 60 bash -c "[ \"\$(psql -X -q -At -d ds389w -c 'SELECT state FROM pssync.worker_status')\" = polling ]"
check "ds389 worker: it polls (the directory ends its stream)" [ "$(state)" = polling ]
ldapmodify -a -x -H "ldap://127.0.0.1:$DS389_PORT" -D "cn=Directory Manager" -w "$DS389_PASSWORD" >/dev/null <<'LDIF'
dn: uid=wnewcomb,ou=Work,dc=district,dc=org
objectClass: inetOrgPerson
cn: Wes Newcomb
sn: Newcomb
givenName: Wes
uid: wnewcomb
LDIF
wait_for 60 bash -c "[ \"\$(psql -X -q -At -d ds389w -c 'SELECT student_web_id FROM students WHERE dcid = 1')\" = wnewcomb ]"
check "ds389 worker: a new account's username lands" \
	[ "$(w -c "SELECT student_web_id FROM students WHERE dcid = 1")" = wnewcomb ]
check "ds389 worker: it said once that it polls" \
	[ "$(grep -c 'polling every pssync.worker_naptime instead' "$PSSYNC_PG_LOG")" = 1 ]
check "ds389 worker: still polling" [ "$(state)" = polling ]
grep 'pssync worker' "$PSSYNC_PG_LOG" | sed 's/^/# /' | head -10
echo "took $(since "$T") s"

# The root password is in no log: PostgreSQL's, the tests', 389-DS's own
# (each must be there to be read)
logs=("$PSSYNC_PG_LOG" "$WORK"/changes_random*.log "$WORK/ds389/dscreate.log" "$WORK/ds389/dsconf.log"
	"$WORK"/ds389/var/log/dirsrv/slapd-*/access "$WORK"/ds389/var/log/dirsrv/slapd-*/errors)
missing=0
for f in "${logs[@]}"; do
	[ -r "$f" ] || { echo "# missing: $f"; missing=1; }
done
check "ds389: every log is there to be read" [ "$missing" = 0 ]
check "ds389: the password is in no log" bash -c '! grep -qF -- "$0" "${@}"' "$DS389_PASSWORD" "${logs[@]}"

cleanup
trap - EXIT
exit $status
