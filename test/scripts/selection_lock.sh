#!/usr/bin/env bash
# selection_lock: a selection is locked (AccessShareLock) when it is
# checked, as PowerSchool's tables are, so the relation a sync checked is
# the relation it reads.  Session B renames the selection and creates
# another under its name, in an open transaction; session A's sync of the
# selection (passed as regclass: the old relation) waits for B, and then
# reads the rows of the relation it was given, not of the new one.
source "$(dirname "$0")/lib.bash"

DB=pssync_selection_lock
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
setup_database "$DB" || exit 1
sql "$DB" "
CREATE TABLE tonight (dcid bigint);
INSERT INTO tonight VALUES (1002), (1003);
GRANT USAGE ON FOREIGN SERVER district_ldap TO PUBLIC;
" || exit 1

# B: swap the selection, and keep the transaction open for a while.
psql -X -q -d "$DB" >"$OUT/b.log" 2>&1 <<'SQL' &
BEGIN;
ALTER TABLE tonight RENAME TO tonight_old;
CREATE TABLE tonight (dcid bigint);
INSERT INTO tonight VALUES (1017);
SELECT pg_sleep(2);
COMMIT;
SQL
b=$!
sleep 0.7
# A: 'tonight' as regclass is the old relation (B has not committed).
rows=$(sql "$DB" "SELECT string_agg(dcid::text, ',' ORDER BY dcid)
                    FROM pssync.ldap_sync_students('tonight', dry_run => true)")
wait "$b"
cat "$OUT/b.log"
detail="rows of dcids $rows"
check_eq "the sync read the relation it was given" "$rows" "1002,1003"

# A role that may not read a table cannot queue for a lock on it, as a
# selection or as a PowerSchool table: it is refused before, and does not
# wait behind B's ACCESS EXCLUSIVE lock.
sql "$DB" "CREATE TABLE private_list (dcid bigint);
           CREATE ROLE regress_snoop; GRANT USAGE ON SCHEMA pssync TO regress_snoop;
           GRANT SELECT ON tonight TO regress_snoop;
           CREATE TABLE students_copy (LIKE students); GRANT SELECT ON students_copy TO regress_snoop" || exit 1
psql -X -q -d "$DB" >"$OUT/b2.log" 2>&1 <<'SQL' &
BEGIN;
LOCK TABLE private_list, students IN ACCESS EXCLUSIVE MODE;
SELECT pg_sleep(3);
COMMIT;
SQL
b=$!
sleep 0.7
as_snoop() {
	PGOPTIONS="-c lock_timeout=1500 -c role=regress_snoop" psql -X -q -At -d "$DB" -c "$1" 2>&1
}
# both at once, while B holds its locks
as_snoop "SET pssync.students_table = 'students_copy';
          SELECT count(*) FROM pssync.ldap_sync_students('private_list', dry_run => true)" >"$OUT/selection.log" &
s1=$!
as_snoop "SELECT count(*) FROM pssync.ldap_sync_students('tonight', dry_run => true)" >"$OUT/table.log" &
s2=$!
wait "$s1" "$s2" "$b"
selection=$(cat "$OUT/selection.log")
table=$(cat "$OUT/table.log")
detail=$selection
check "a selection it may not read: refused, not waited for" \
	grep -q "permission denied for table private_list" <<<"$selection"
detail=$table
check "a PowerSchool table it may not read: refused, not waited for" \
	grep -q "permission denied for table students" <<<"$table"
sql "$DB" "DROP OWNED BY regress_snoop; DROP ROLE regress_snoop" >/dev/null
finish
