#!/usr/bin/env bash
# state_statistics: a group's first run of ldap_sync_changes fills
# pssync.record_state (and entry_state, record_links) in one transaction,
# and until autovacuum analyzes them PostgreSQL plans the next statements on
# them as if they held a few rows.  A real run analyzes them, as their
# owner, when they have no statistics and 64 pages or more, and only if
# their SHARE UPDATE EXCLUSIVE lock is free at once: with another session
# holding it (a VACUUM, another sync's first run), the run goes on without
# waiting.
#
# N students, all matched; autovacuum is off for the three tables, so that
# only pssync analyzes them here.
source "$(dirname "$0")/lib.bash"

DB=pssync_state_statistics
N=4000
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
rm -rf "${OUT:?}"/*

bulk_ldif Stats "$N" S >"$OUT/people.ldif"
start_own_slapd directory "$OUT/people.ldif" || { echo "could not start slapd"; exit 1; }
setup_database "$DB" "$OWN_SLAPD_URI" || exit 1
sql "$DB" "ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Stats,dc=district,dc=org');
           $(bulk_students_sql "$N" S 700000)
           ALTER TABLE pssync.record_state SET (autovacuum_enabled = off);
           ALTER TABLE pssync.entry_state SET (autovacuum_enabled = off);
           ALTER TABLE pssync.record_links SET (autovacuum_enabled = off);" || exit 1

statistics_of() {
	sql "$DB" "SELECT count(*) FROM pg_stats WHERE schemaname = 'pssync' AND tablename = '$1'"
}
pages_of() {
	sql "$DB" "SELECT pg_relation_size('pssync.$1') / current_setting('block_size')::int"
}
check_eq "record_state has no statistics before the first run" "$(statistics_of record_state)" 0
pg_log_mark

# Another session holds record_state's SHARE UPDATE EXCLUSIVE lock, as a
# VACUUM of it would, while the group's first run fills it.
psql -X -q -d "$DB" >"$OUT/holder.out" 2>&1 <<'EOF' &
BEGIN;
LOCK TABLE pssync.record_state IN SHARE UPDATE EXCLUSIVE MODE;
SELECT pg_sleep(60);
ROLLBACK;
EOF
holder=$!
track_own_pid "$holder"
wait_for 10 bash -c "[ \"\$(psql -X -At -d $DB -c \"SELECT count(*) FROM pg_locks WHERE relation = 'pssync.record_state'::regclass AND mode = 'ShareUpdateExclusiveLock' AND granted AND pid <> pg_backend_pid()\")\" = 1 ]" ||
	{ echo "the other session did not take the lock"; exit 1; }

start=$(now)
first=$(sql "$DB" "SET statement_timeout = '30s'; SELECT count(*) FROM pssync.ldap_sync_changes('students')" 2>"$OUT/first.err")
took=$(elapsed "$start")
detail=$(head -3 "$OUT/first.err")
check_eq "the first run returns every student, with the lock held elsewhere" "$first" \
	"$(sql "$DB" "SELECT count(*) FROM students")"
note "the first run took $took s"
check_num "record_state filled past 64 pages" "$(pages_of record_state)" ">=" 64
check_eq "record_state was not analyzed: its lock was held elsewhere" "$(statistics_of record_state)" 0

# The lock is free again: the next real run analyzes the tables first.
sql "$DB" "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 'pssync.record_state'::regclass AND mode = 'ShareUpdateExclusiveLock' AND pid <> pg_backend_pid()" >/dev/null
wait "$holder" 2>/dev/null
second=$(sql "$DB" "SELECT count(*) FROM pssync.ldap_sync_changes('students')" 2>"$OUT/second.err")
detail=$(head -3 "$OUT/second.err")
check_eq "the second run returns nothing: nothing changed" "$second" 0
check_num "then record_state has statistics" "$(statistics_of record_state)" ">" 0
for table in entry_state record_links; do
	pages=$(pages_of $table)
	if [ "$pages" -ge 64 ]; then
		check_num "and so has $table ($pages pages)" "$(statistics_of $table)" ">" 0
	else
		check_eq "$table ($pages pages, under 64) is left to autovacuum" "$(statistics_of $table)" 0
	fi
done

check_no_crash "no backend crashed"
finish
