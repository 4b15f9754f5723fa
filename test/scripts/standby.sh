#!/usr/bin/env bash
# standby: on a hot standby (a read-only replica), a dry ldap_sync_changes
# and a dry ldap_sync_district answer as on the primary, and a real run is
# refused (25006) before it asks the directory anything.  A dry
# ldap_sync_changes takes the server's lock: pssync's lock tags are
# advisory ones, which a standby grants (it refuses object locks stronger
# than RowExclusiveLock).
source "$(dirname "$0")/lib.bash"

DB=pssync_standby
OUT=$PSSYNC_WORK/$SCRIPT_NAME
rm -rf "$OUT"
init_own_cluster "$OUT/primary" "wal_level = replica" || exit 1
start_own_cluster "$OUT/primary" || exit 1
export PGHOST=$OUT/primary/socket PGPORT=$OWN_PG_PORT
start_own_slapd dir || { echo "could not start slapd"; exit 1; }
setup_database "$DB" "$OWN_SLAPD_URI" || exit 1
sql "$DB" "SELECT count(*) FROM pssync.ldap_sync_changes('all')" >/dev/null || exit 1
# something for the next run to return
sql "$DB" "UPDATE students SET student_web_id = NULL WHERE dcid = 1001" || exit 1

# the standby, streaming from the primary
SB=$OUT/standby
mkdir -p "$SB/socket"
chown -R postgres:postgres "$SB"
timeout 120 runuser -u postgres -- "$PG_BIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres \
	-D "$SB/data" -R -X stream -c fast >"$SB/basebackup.log" 2>&1 ||
	{ cat "$SB/basebackup.log"; exit 1; }
SB_PORT=$(free_port) || exit 1
cat >>"$SB/data/postgresql.conf" <<EOF
port = $SB_PORT
unix_socket_directories = '$SB/socket'
EOF
start_own_cluster "$SB" || exit 1
on_standby() {
	PGHOST=$SB/socket PGPORT=$SB_PORT PGCONNECT_TIMEOUT=10 PGOPTIONS="-c statement_timeout=60s" \
		psql -X -q -At -v VERBOSITY=verbose -d "$DB" -c "$1" 2>&1
}
# the primary's last write replayed
lsn=$(sql "$DB" "SELECT pg_current_wal_lsn()")
caught_up() {
	[ "$(on_standby "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ]
}
wait_for 30 caught_up || { echo "the standby did not catch up"; exit 1; }

check_eq "the standby is in recovery" "$(on_standby "SELECT pg_is_in_recovery()")" t
rows="SELECT string_agg(dcid || ':' || status, ',' ORDER BY dcid, status) FROM"
primary=$(sql "$DB" "$rows pssync.ldap_sync_changes('all', dry_run => true)")
standby=$(on_standby "$rows pssync.ldap_sync_changes('all', dry_run => true)")
detail="primary: $primary; standby: $standby"
check_eq "a dry ldap_sync_changes on the standby has the primary's rows" "$standby" "$primary"
check "and they are not empty" test -n "$primary"
primary=$(sql "$DB" "$rows pssync.ldap_sync_district('students', dry_run => true)")
standby=$(on_standby "$rows pssync.ldap_sync_district('students', dry_run => true)")
detail="primary: $primary; standby: $standby"
check_eq "a dry ldap_sync_district on the standby has the primary's rows" "$standby" "$primary"
for f in "ldap_sync_changes('students')" "ldap_sync_district('students')"; do
	detail=$(on_standby "SELECT count(*) FROM pssync.$f")
	check "a real ${f%%(*} on the standby is refused before the directory (25006)" \
		grep -q "ERROR:  25006: cannot execute ${f%%(*}() in a read-only transaction" <<<"$detail"
done
finish
