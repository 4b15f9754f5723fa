#!/usr/bin/env bash
# external_fds: pssync counts its LDAP sockets among the backend's external
# file descriptors (AcquireExternalFD), as postgres_fdw and dblink count
# theirs, so that a backend out of them fails a sync clearly instead of
# running PostgreSQL itself out of files.  A cluster of our own with
# max_files_per_process = 64 leaves about 17 external descriptors: dblink
# connections take them all, and a sync is then refused with "too many
# open files"; with two given back (the socket, and the set of events
# that waits on it), it runs.
source "$(dirname "$0")/lib.bash"

OUT=$PSSYNC_WORK/$SCRIPT_NAME
rm -rf "$OUT"
init_own_cluster "$OUT" "max_files_per_process = 64" || exit 1
start_own_cluster "$OUT" || exit 1
port=$OWN_PG_PORT

export PGHOST=$OUT/socket PGPORT=$port
setup_database fds || exit 1
sql fds "CREATE EXTENSION dblink" || exit 1

result=$(psql -X -q -At -d fds -v conn="host=$OUT/socket port=$port dbname=fds user=postgres" 2>&1 <<'SQL'
\set VERBOSITY default
SELECT set_config('regress.conn', :'conn', false) IS NOT NULL AS configured;
SELECT 'before: ' || count(*) FROM pssync.ldap_sync_district('students', dry_run => true);
DO $$
DECLARE
  n int := 0;
BEGIN
  LOOP
    PERFORM dblink_connect('c' || n, current_setting('regress.conn'));
    n := n + 1;
    EXIT WHEN n > 200;
  END LOOP;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'dblink connections: %', n;
END $$;
SELECT 'starved: ' || count(*) FROM pssync.ldap_sync_district('students', dry_run => true);
-- one descriptor back: not enough for a socket and the epoll set that
-- waits on it; the refused sync keeps none, and takes none back twice:
-- there is room for exactly one more dblink connection after it
SELECT dblink_disconnect('c0');
SELECT 'one short: ' || count(*) FROM pssync.ldap_sync_district('students', dry_run => true);
DO $$
DECLARE
  n int := 0;
BEGIN
  LOOP
    PERFORM dblink_connect('d' || n, current_setting('regress.conn'));
    n := n + 1;
    EXIT WHEN n > 10;
  END LOOP;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'room after the refusal: %', n;
END $$;
-- two back
SELECT dblink_disconnect('d0'), dblink_disconnect('c1');
SELECT 'after: ' || count(*) FROM pssync.ldap_sync_district('students', dry_run => true);
SQL
)
echo "$result" | sed 's/^/# /'
check "the sync ran before" grep -q "^before: [1-9]" <<<"$result"
check "dblink took every external descriptor" grep -qE "dblink connections: [0-9]+" <<<"$result"
check "the starved sync is refused: too many open files" \
	grep -q "There are too many open files on the local server" <<<"$result"
check "the starved sync returned no rows" bash -c '! grep -q "^starved:" <<<"$1"' _ "$result"
check "one descriptor short, the sync is refused" bash -c '! grep -q "^one short:" <<<"$1"' _ "$result"
check "the refused sync leaves the count of descriptors as it was" \
	grep -q "room after the refusal: 1$" <<<"$result"
check "with two descriptors back, the sync runs" grep -q "^after: [1-9]" <<<"$result"
finish
