#!/usr/bin/env bash
# concurrency: two sessions syncing overlapping selections at the same time
# both finish, without deadlock or serialization error, and the tables end
# up correct.
#
# A slapd of our own holds BULK people under ou=Bulk (each with a uid of
# their own) and TWINS people under ou=Twins.
#
# Overlap: the students of ou=Bulk, each of whom a sync changes; session A
# syncs the first two thirds, session B the last two thirds, both real
# runs in explicit transactions that stay open HOLD seconds after the sync
# before COMMIT.  They start together (released by an advisory lock), in
# rounds with each strategy and each session first.  Both succeed, the
# syncs overlap in time, every student was updated exactly once, and the
# usernames are what one sync of all of them writes.
#
# Conflict across sessions: each person of ou=Twins is two students of the
# same name, one in A's selection, one in B's, so that both sessions would
# give the same username to different records.  Exactly one of each pair
# gets it, the other is a conflict; no duplicate, with the unique index on
# student_web_id (no unique violation either) and without it.  The same
# in REPEATABLE READ and SERIALIZABLE transactions, where a session may
# instead fail with a serialization failure (40001), to be retried, but
# must neither write a duplicate nor fail on the unique index (23505).
source "$(dirname "$0")/lib.bash"

DB=pssync_concurrency
BULK=3000
TWINS=300
HOLD=0.3
GUN=7104   # the advisory lock that starts both sessions at once
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
rm -rf "${OUT:?}"/*

{
	bulk_ldif Bulk "$BULK" C
	bulk_ldif Twins "$TWINS" W
} >"$OUT/people.ldif"
start_own_slapd people "$OUT/people.ldif" || { echo "could not start slapd"; exit 1; }

setup_database "$DB" "$OWN_SLAPD_URI" || exit 1
add_server "$DB" bulk "$OWN_SLAPD_URI" student_base_dn 'ou=Bulk,dc=district,dc=org' || exit 1
add_server "$DB" twins "$OWN_SLAPD_URI" student_base_dn 'ou=Twins,dc=district,dc=org' || exit 1
sql "$DB" "
$(bulk_students_sql "$BULK" C 500000)
-- the twins: the same person twice, neither with a username
INSERT INTO students (dcid, first_name, last_name)
SELECT d + i, 'WGiven' || to_char(i, 'FM00000'), 'WFamily' || to_char(i, 'FM00000')
  FROM generate_series(1, $TWINS) AS i, (VALUES (600000), (700000)) AS twin(d);
CREATE TABLE bulk_a AS SELECT dcid FROM students WHERE dcid BETWEEN 500001 AND 500000 + 2 * $BULK / 3;
CREATE TABLE bulk_b AS SELECT dcid FROM students WHERE dcid BETWEEN 500001 + $BULK / 3 AND 500000 + $BULK;
CREATE TABLE bulk_all AS SELECT dcid FROM students WHERE dcid > 500000 AND dcid < 600000;
CREATE TABLE twins_a AS SELECT dcid FROM students WHERE dcid BETWEEN 600001 AND 699999;
CREATE TABLE twins_b AS SELECT dcid FROM students WHERE dcid > 700000;
CREATE TABLE baseline AS SELECT dcid, student_web_id FROM students;
" || exit 1

usernames() {
	sql "$DB" "SELECT md5(string_agg(dcid || ':' || coalesce(student_web_id, '<null>'), ',' ORDER BY dcid)) FROM students"
}

reset_usernames() {
	sql "$DB" "UPDATE students s SET student_web_id = b.student_web_id FROM baseline b
	            WHERE b.dcid = s.dcid AND s.student_web_id IS DISTINCT FROM b.student_web_id" >/dev/null
}

# What one sync of all the bulk students writes.
EXPECTED=$(PGOPTIONS="-c pssync.server=bulk" sql_script "$DB" <<'EOF'
BEGIN;
SELECT count(*) FROM pssync.ldap_sync_students('bulk_all') \g /dev/null
SELECT md5(string_agg(dcid || ':' || coalesce(student_web_id, '<null>'), ',' ORDER BY dcid)) FROM students;
ROLLBACK;
EOF
)
BASELINE=$(usernames)
check "one sync of all changes the usernames" [ -n "$EXPECTED" -a "$EXPECTED" != "$BASELINE" ]

# session NAME SERVER SELECTION STRATEGY DELAY [ISOLATION]: a sync in a
# transaction held open HOLD seconds, started when the gun is released.
session() {
	local name=$1 server=$2 selection=$3 strategy=$4 delay=$5 isolation=${6:-}
	cat >"$OUT/$name.sql" <<EOF
\\set ON_ERROR_STOP 1
\\set VERBOSITY verbose
SET pssync.server = $server;
SET pssync.strategy = $strategy;
SELECT pg_advisory_lock_shared($GUN) \\g /dev/null
SELECT pg_advisory_unlock_shared($GUN) \\g /dev/null
SELECT pg_sleep($delay) \\g /dev/null
SELECT extract(epoch FROM clock_timestamp()) AS t_start \\gset
BEGIN${isolation:+ ISOLATION LEVEL $isolation};
SELECT 'STATUS', status, count(*) FROM pssync.ldap_sync_students('$selection') GROUP BY 2;
SELECT extract(epoch FROM clock_timestamp()) AS t_synced \\gset
SELECT pg_sleep($HOLD) \\g /dev/null
COMMIT;
SELECT extract(epoch FROM clock_timestamp()) AS t_commit \\gset
\\echo TIMES :t_start :t_synced :t_commit
EOF
	psql -X -q -At -d "$DB" -f "$OUT/$name.sql" >"$OUT/$name.out" 2>&1
	echo "EXIT $?" >>"$OUT/$name.out"
}

gun_held() {
	[ "$(sql "$DB" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $GUN AND objsubid = 1 AND granted")" = 1 ]
}

# race ROUND SERVER SEL_A SEL_B STRATEGY_A STRATEGY_B DELAY_A DELAY_B
# [ISOLATION]: both sessions, released together; leaves the outputs in
# ROUND-a.out and ROUND-b.out.
race() {
	local round=$1 server=$2 sel_a=$3 sel_b=$4 strategy_a=$5 strategy_b=$6 delay_a=$7 delay_b=$8
	local isolation=${9:-}
	local gun_pid a_pid b_pid
	psql -X -q -d "$DB" -c "SELECT pg_advisory_lock($GUN)" -c "SELECT pg_sleep(0.6)" >/dev/null 2>&1 &
	gun_pid=$!
	wait_for 10 gun_held || { echo "the gun session did not take its lock"; exit 1; }
	session "$round-a" "$server" "$sel_a" "$strategy_a" "$delay_a" "$isolation" &
	a_pid=$!
	session "$round-b" "$server" "$sel_b" "$strategy_b" "$delay_b" "$isolation" &
	b_pid=$!
	wait "$gun_pid" "$a_pid" "$b_pid"
}

status_count() {
	awk -F'|' -v s="$2" '$1 == "STATUS" && $2 == s { n += $3 } END { print n + 0 }' "$OUT/$1.out"
}

times_of() {
	sed -n 's/^TIMES //p' "$OUT/$1.out"
}

# Both sessions succeeded and their syncs overlapped: each started before
# the other committed.
race_checks() {
	local name=$1 round=$2
	local a_start a_synced a_commit b_start b_synced b_commit
	check_eq "$name: session A succeeded" "$(tail -1 "$OUT/$round-a.out")" "EXIT 0"
	check_eq "$name: session B succeeded" "$(tail -1 "$OUT/$round-b.out")" "EXIT 0"
	(cd "$OUT" && grep -E "ERROR|DETAIL" "$round-a.out" "$round-b.out") | sed "s/^/# /"
	read -r a_start a_synced a_commit <<<"$(times_of "$round-a")"
	read -r b_start b_synced b_commit <<<"$(times_of "$round-b")"
	detail="A $a_start..$a_commit, B $b_start..$b_commit"
	check "$name: the two syncs overlapped in time" \
		awk -v as="${a_start:-0}" -v ac="${a_commit:-0}" -v bs="${b_start:-1}" -v bc="${b_commit:-0}" \
		'BEGIN { exit !(as < bc && bs < ac) }'
	note "$name: A synced in $(elapsed "${a_start:-0}" "${a_synced:-0}") s, B in $(elapsed "${b_start:-0}" "${b_synced:-0}") s" \
		"(the second to write waits for the first's commit)"
}

pg_log_mark

# --- overlapping selections ------------------------------------------------
round=0
for order in "search search 0 0.05" "search search 0.05 0" "scan search 0 0" \
	"search scan 0.05 0" "scan scan 0 0.05"; do
	read -r strategy_a strategy_b delay_a delay_b <<<"$order"
	round=$((round + 1))
	name="overlap$round($strategy_a/$strategy_b)"
	reset_usernames
	race "overlap$round" bulk bulk_a bulk_b "$strategy_a" "$strategy_b" "$delay_a" "$delay_b"
	race_checks "$name" "overlap$round"
	updated=$(( $(status_count "overlap$round-a" updated) + $(status_count "overlap$round-b" updated) ))
	detail="A: $(status_count "overlap$round-a" updated), B: $(status_count "overlap$round-b" updated)"
	check_eq "$name: every student updated exactly once" "$updated" "$BULK"
	check_eq "$name: the usernames one sync of all writes" "$(usernames)" "$EXPECTED"
done

# --- the same username for different records, in two sessions -------------
twin_checks() {
	local name=$1 round=$2 pairs
	race_checks "$name" "$round"
	check_eq "$name: one of each pair updated" \
		"$(( $(status_count "$round-a" updated) + $(status_count "$round-b" updated) ))" "$TWINS"
	check_eq "$name: the other a conflict" \
		"$(( $(status_count "$round-a" conflict) + $(status_count "$round-b" conflict) ))" "$TWINS"
	check_eq "$name: no duplicate username" \
		"$(sql "$DB" "SELECT count(*) FROM (SELECT student_web_id FROM students WHERE student_web_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d")" 0
	pairs=$(sql "$DB" "SELECT count(*) FROM students a JOIN students b ON b.dcid = a.dcid + 100000
	                    WHERE a.dcid BETWEEN 600001 AND 699999
	                      AND (a.student_web_id IS NULL) <> (b.student_web_id IS NULL)")
	check_eq "$name: every pair has exactly one username" "$pairs" "$TWINS"
}

round=0
for order in "search search 0 0" "scan search 0.05 0" "search scan 0 0.05"; do
	read -r strategy_a strategy_b delay_a delay_b <<<"$order"
	round=$((round + 1))
	reset_usernames
	race "twins$round" twins twins_a twins_b "$strategy_a" "$strategy_b" "$delay_a" "$delay_b"
	twin_checks "twins$round($strategy_a/$strategy_b, unique index)" "twins$round"
done

sql "$DB" "DROP INDEX students_student_web_id" || exit 1
round=0
for order in "search search 0 0" "scan scan 0.05 0"; do
	read -r strategy_a strategy_b delay_a delay_b <<<"$order"
	round=$((round + 1))
	reset_usernames
	race "twins_noindex$round" twins twins_a twins_b "$strategy_a" "$strategy_b" "$delay_a" "$delay_b"
	twin_checks "twins_noindex$round($strategy_a/$strategy_b, no index)" "twins_noindex$round"
done

detail=$(pg_log_since_mark | grep -E 'deadlock|could not serialize' | head -3)
check "no deadlock or serialization failure in the server log" [ -z "$detail" ]

# --- the same, in REPEATABLE READ and SERIALIZABLE transactions -----------
# A sync may then fail with a serialization failure (40001), to be retried,
# but it must not write a duplicate, nor fail on the unique index (23505):
# the second sync's snapshot predates the first one's commit, yet it must
# not give away a username the first one gave.
sqlstate_of() {
	local state
	state=$(sed -nE 's/^(psql:[^ ]* )?ERROR: +([0-9A-Z]{5}):.*/\2/p' "$OUT/$1.out" | head -1)
	echo "${state:-00000}"
}

isolation_checks() {
	local name=$1 round=$2 a b dups pairs
	a=$(sqlstate_of "$round-a")
	b=$(sqlstate_of "$round-b")
	(cd "$OUT" && grep -E "ERROR|DETAIL" "$round-a.out" "$round-b.out") | sed "s/^/# /"
	check "$name: session A succeeded or may retry (got $a)" [ "$a" = 00000 -o "$a" = 40001 ]
	check "$name: session B succeeded or may retry (got $b)" [ "$b" = 00000 -o "$b" = 40001 ]
	dups=$(sql "$DB" "SELECT count(*) FROM (SELECT student_web_id FROM students WHERE student_web_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d")
	check_eq "$name: no duplicate username" "$dups" 0
	pairs=$(sql "$DB" "SELECT count(*) FROM students a JOIN students b ON b.dcid = a.dcid + 100000
	                    WHERE a.dcid BETWEEN 600001 AND 699999
	                      AND a.student_web_id IS NOT NULL AND b.student_web_id IS NOT NULL")
	check_eq "$name: no pair where both have the username" "$pairs" 0
}

for isolation in "REPEATABLE READ" SERIALIZABLE; do
	for index in with without; do
		round="twins_${isolation// /_}_$index"
		reset_usernames
		if [ $index = with ]; then
			sql "$DB" "CREATE UNIQUE INDEX IF NOT EXISTS students_student_web_id ON students (student_web_id)" || exit 1
		else
			sql "$DB" "DROP INDEX IF EXISTS students_student_web_id" || exit 1
		fi
		race "$round" twins twins_a twins_b search search 0 0 "$isolation"
		isolation_checks "twins($isolation, $index unique index)" "$round"
	done
done
check_no_crash "no backend crashed"
finish
