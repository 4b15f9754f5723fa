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
finish
