#!/usr/bin/env bash
# fuzz: random Unicode names, in the directory and in the tables, never
# crash the backend, and the "search" and "scan" strategies agree.
#
# For each of a few random seeds, test/fixtures/awkward_district.sql
# generates a district of PEOPLE people whose names are mangled the ways
# real data is, and with a probability of "fuzz" also get a random code
# point (any plane, controls, combining marks, unassigned ones); the rounds
# take fuzz 0.5, 0.8 and 0.5 (FUZZ_LEVEL sets one for all).  At 0.5 the
# statuses are well mixed; at 0.8 most records no longer match.  The
# directory is loaded into a slapd of our own, the records into students
# (in a transaction, rolled back).  Then, against ou=Awkward:
#
#   - dry runs under "search" and under "scan" return identical rows in
#     identical order (WITH ORDINALITY, EXCEPT ALL both ways);
#   - real runs under each write identical usernames;
#   - the server log shows no crashed backend.
#
# The seeds are printed with their fuzz level; FUZZ_SEED=0.123456
# FUZZ_LEVEL=0.5 runs that round again (FUZZ_ROUNDS and FUZZ_PEOPLE change
# the rest).
source "$(dirname "$0")/lib.bash"

DB=pssync_fuzz
PEOPLE=${FUZZ_PEOPLE:-3000}
LEVELS=(0.5 0.8 0.5)
ROUNDS=${FUZZ_ROUNDS:-3}
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
rm -rf "${OUT:?}"/*

if [ -n "${FUZZ_SEED:-}" ]; then
	seeds=("$FUZZ_SEED")
else
	seeds=()
	for _ in $(seq 1 "$ROUNDS"); do
		# setseed() takes a number from -1 to 1
		seeds+=("0.$(od -An -N4 -tu4 /dev/urandom | tr -d ' ' | cut -c1-6)")
	done
fi

setup_database "$DB" || exit 1
sql "$DB" "ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Awkward,dc=district,dc=org')" || exit 1
pg_log_mark

round=0
for seed in "${seeds[@]}"; do
	round=$((round + 1))
	LEVEL=${FUZZ_LEVEL:-${LEVELS[$(((round - 1) % ${#LEVELS[@]}))]}}
	name="seed $seed"
	echo "# round $round: seed $seed, fuzz $LEVEL (reproduce: FUZZ_SEED=$seed FUZZ_LEVEL=$LEVEL FUZZ_PEOPLE=$PEOPLE bash test/scripts/fuzz.sh)"
	ldif="$OUT/awkward-$round.ldif"
	if ! psql -X -q -d "$DB" -v seed="$seed" -v people="$PEOPLE" -v fuzz="$LEVEL" -v ldif="$ldif" \
		-f "$TOP/test/fixtures/awkward_district.sql" >"$OUT/generate-$round.log" 2>&1; then
		detail=$(tail -3 "$OUT/generate-$round.log")
		check "$name: the district is generated" false
		continue
	fi
	if ! start_own_slapd "r$round" "$ldif"; then
		detail=$(tail -3 "$PSSYNC_WORK/slapd-${SCRIPT_NAME}_r$round/slapadd.log" 2>/dev/null)
		check "$name: slapd loads the directory" false
		continue
	fi
	slapd_pid=$OWN_SLAPD_PID
	sql "$DB" "ALTER SERVER district_ldap OPTIONS (SET uri '$OWN_SLAPD_URI')" || exit 1

	sql_script "$DB" >"$OUT/compare-$round.out" 2>"$OUT/compare-$round.err" <<'EOF'
BEGIN;
INSERT INTO students (dcid, first_name, last_name, student_web_id)
SELECT dcid, first_name, last_name, student_web_id FROM awkward.records;
CREATE TEMP TABLE selection AS SELECT dcid FROM awkward.records;
SELECT 'FUZZED', count(*) FILTER (WHERE first_name ~ '[^\u0001-\u024f]' OR last_name ~ '[^\u0001-\u024f]'),
       count(*) FILTER (WHERE first_name ~ '[\U00010000-\U0010ffff]' OR last_name ~ '[\U00010000-\U0010ffff]')
  FROM awkward.records;

SET pssync.strategy = search;
CREATE TEMP TABLE by_search AS
SELECT * FROM pssync.ldap_sync_students('selection', dry_run => true) WITH ORDINALITY;
SET pssync.strategy = scan;
CREATE TEMP TABLE by_scan AS
SELECT * FROM pssync.ldap_sync_students('selection', dry_run => true) WITH ORDINALITY;
SELECT 'ROWS', (SELECT count(*) FROM by_search), (SELECT count(*) FROM by_scan),
       (SELECT count(*) FROM (TABLE by_search EXCEPT ALL TABLE by_scan) d),
       (SELECT count(*) FROM (TABLE by_scan EXCEPT ALL TABLE by_search) d);
SELECT 'STATUSES', string_agg(status || ' ' || n, ', ' ORDER BY status)
  FROM (SELECT status, count(*) AS n FROM by_scan GROUP BY 1) s;
-- the first differences, for the log
SELECT 'ONLY_SEARCH', to_json(d) FROM (TABLE by_search EXCEPT ALL TABLE by_scan ORDER BY ordinality LIMIT 3) d;
SELECT 'ONLY_SCAN', to_json(d) FROM (TABLE by_scan EXCEPT ALL TABLE by_search ORDER BY ordinality LIMIT 3) d;

SAVEPOINT before_writing;
SET pssync.strategy = search;
SELECT count(*) FROM pssync.ldap_sync_students('selection') \g /dev/null
SELECT 'WRITTEN_SEARCH', md5(string_agg(dcid || ':' || coalesce(student_web_id, '<null>'), ',' ORDER BY dcid)) FROM students;
ROLLBACK TO before_writing;
SET pssync.strategy = scan;
SELECT count(*) FROM pssync.ldap_sync_students('selection') \g /dev/null
SELECT 'WRITTEN_SCAN', md5(string_agg(dcid || ':' || coalesce(student_web_id, '<null>'), ',' ORDER BY dcid)) FROM students;
ROLLBACK;
EOF
	rc=$?
	detail=$(head -5 "$OUT/compare-$round.err")
	check_eq "$name: the syncs ran" "$rc" 0
	field() {
		awk -F'|' -v k="$1" -v c="$2" '$1 == k { print $c; exit }' "$OUT/compare-$round.out"
	}
	note "$name: $(field FUZZED 2) records with characters beyond Latin, $(field FUZZED 3) beyond the BMP"
	note "$name: $(field STATUSES 2)"
	grep -E '^ONLY_' "$OUT/compare-$round.out" | sed 's/^/# /'
	check_num "$name: rows returned" "$(field ROWS 2)" ">=" "$PEOPLE"
	check_eq "$name: as many rows from search as from scan" "$(field ROWS 2)" "$(field ROWS 3)"
	check_eq "$name: rows only search returned" "$(field ROWS 4)" 0
	check_eq "$name: rows only scan returned" "$(field ROWS 5)" 0
	written=$(field WRITTEN_SEARCH 2)
	check "$name: real runs wrote something" [ -n "$written" ]
	check_eq "$name: real runs write the same usernames" "$(field WRITTEN_SCAN 2)" "$written"
	check_no_crash "$name: no backend crashed"

	kill "$slapd_pid"
	untrack_own_pid "$slapd_pid"
done

finish
