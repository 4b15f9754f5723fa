#!/usr/bin/env bash
# changes_random: the guarantee of ldap_sync_changes, after random mixes of
# changes to both sides.
#
# A small district whose names collide on purpose (test/scripts/
# changes_random.py): students under ou=Rand, teachers and staff under
# ou=RandStaff, and entries that move in and out of both from ou=RandAway.
# Each round changes the directory (adds, deletes, new names, user IDs
# added, taken, duplicated, made invalid or removed, renames, moves, IDs)
# and PowerSchool (names, usernames, new and deleted records, teachers
# becoming staff and back, admin access), and sometimes does what other
# functions do between runs (a district-wide run of one scope, ldap_unlink,
# ldap_assign).  Then, with the full dry runs of every scope taken as what
# ldap_sync_district says now:
#
#   - every record ldap_sync_changes('all') returns has the rows the full
#     run has for it (real runs of the scopes one after the other, as
#     ldap_sync_changes runs them, rolled back; dry runs for its dry run);
#   - it returns exactly the records whose rows in the full run differ from
#     their rows in their previous run (any run's, as after its writes;
#     matched_by aside).
#
# In odd rounds ldap_sync_changes matches as a scan (the group's entries
# read, as a run that takes 1,000 records does: pssync.changes_scan_records
# = 1), in even rounds by batches of searches.  In every third round the
# user IDs of the records taken are looked for among the records' through
# their index only up to two, and past that in one read of the records
# (pssync.changes_indexed_user_ids = 2), as a run of hundreds does.
#
# CHANGES_ROUNDS (40) rounds; CHANGES_SEED (42) seeds the changes;
# CHANGES_NAMES=awkward takes names with accents, apostrophes, hyphens,
# particles and nicknames (changes_random_names.sh); CHANGES_OUTSIDE=1
# reads the students through a view of the enrolled ones, excludes records,
# and changes the usernames of rows outside every run: graduates and
# excluded records (changes_random_outside.sh); CHANGES_VARIANTS, a list
# of reasons, is the database's pssync.accept_variants
# (changes_random_variants.sh).
#
# With CHANGES_AD_URI set (test/ad/run.sh does), the directory is Active
# Directory's instead (a Samba AD DC: users under OU=Rand,DC=district,
# DC=test and the others, changed by its Administrator, whose password is
# PSSYNC_AD_PASSWORD, on ldap://127.0.0.1:389), which ldap_sync_changes
# polls on uSNChanged, seeing the deletions in Deleted Objects; the user ID
# is the multi-valued uid.  The OUs are deleted at the end.
#
# With CHANGES_DS389_URI set (test/ds389/run.sh does), the directory is a
# 389 Directory Server instance's (its Content Synchronization plug-in,
# with syncrepl-allow-openldap on), changed by its Directory Manager,
# whose password is DS389_PASSWORD.
source "$(dirname "$0")/lib.bash"

DB=pssync_changes_random
ROUNDS=${CHANGES_ROUNDS:-40}
SEED=${CHANGES_SEED:-42}
AD_URI=${CHANGES_AD_URI:-}
DS389_URI=${CHANGES_DS389_URI:-}
OUT=$PSSYNC_WORK/$SCRIPT_NAME
mkdir -p "$OUT"
STATE=$OUT/state
if [ -n "$DS389_URI" ]; then
	python3 "$SCRIPTS_DIR/changes_random.py" init "$STATE" "$SEED" || exit 1
	ADMIN=(-x -H "$DS389_URI" -D "cn=Directory Manager" -w "$DS389_PASSWORD")
	ldapmodify -a "${ADMIN[@]}" -f "$STATE.ldif" >"$OUT/ldapadd.log" 2>&1 ||
		{ cat "$OUT/ldapadd.log"; echo "could not add the entries"; exit 1; }
	setup_database "$DB" "$DS389_URI" || exit 1
	sql "$DB" "ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Rand,dc=district,dc=org',
	                                               SET staff_base_dn 'ou=RandStaff,dc=district,dc=org',
	                                               ADD student_id_attr 'employeeNumber')" || exit 1
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -v password="$DS389_PASSWORD" <<'EOF' || exit 1
ALTER USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (SET bind_dn 'cn=Directory Manager', SET password :'password');
EOF
elif [ -z "$AD_URI" ]; then
	python3 "$SCRIPTS_DIR/changes_random.py" init "$STATE" "$SEED" || exit 1
	start_own_slapd dir "$STATE.ldif" || { echo "could not start slapd"; exit 1; }
	ADMIN=(-x -H "$OWN_SLAPD_URI" -D cn=admin,dc=district,dc=org -w admin-secret)
	setup_database "$DB" "$OWN_SLAPD_URI" || exit 1
	sql "$DB" "ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Rand,dc=district,dc=org',
	                                               SET staff_base_dn 'ou=RandStaff,dc=district,dc=org',
	                                               ADD student_id_attr 'employeeNumber')" || exit 1
else
	python3 "$SCRIPTS_DIR/changes_random.py" init "$STATE" "$SEED" ad || exit 1
	ADMIN=(-x -H ldap://127.0.0.1:389 -D Administrator@district.test -w "$PSSYNC_AD_PASSWORD")
	remove_ous() {
		local ou
		for ou in Rand RandStaff RandAway; do
			ldapdelete -r "${ADMIN[@]}" "OU=$ou,DC=district,DC=test" >/dev/null 2>&1
		done
	}
	remove_ous
	trap 'remove_ous; _cleanup' EXIT
	ldapmodify -a "${ADMIN[@]}" -f "$STATE.ldif" >"$OUT/ldapadd.log" 2>&1 ||
		{ cat "$OUT/ldapadd.log"; echo "could not add the entries"; exit 1; }
	setup_database "$DB" "$AD_URI" || exit 1
	sql "$DB" "ALTER SERVER district_ldap OPTIONS (SET base_dn 'DC=district,DC=test',
	                                               SET student_base_dn 'OU=Rand,DC=district,DC=test',
	                                               SET staff_base_dn 'OU=RandStaff,DC=district,DC=test',
	                                               ADD uid_attr 'uid',
	                                               ADD student_id_attr 'employeeNumber',
	                                               ADD filter '(&(objectCategory=person)(objectClass=user))')" || exit 1
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -v password="$PSSYNC_AD_PASSWORD" <<'EOF' || exit 1
ALTER USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (SET bind_dn 'Administrator@district.test', SET password :'password');
EOF
fi
STUDENTS_TABLE=students
if [ "${CHANGES_OUTSIDE:-}" = 1 ]; then
	# the view of the enrolled students, which every run reads
	STUDENTS_TABLE=enrolled_students
	sql "$DB" "CREATE VIEW enrolled_students AS SELECT * FROM students WHERE enroll_status = 0;
	           ALTER DATABASE $DB SET pssync.students_table = 'enrolled_students'" || exit 1
fi
if [ -n "${CHANGES_VARIANTS:-}" ]; then
	sql "$DB" "ALTER DATABASE $DB SET pssync.accept_variants = '$CHANGES_VARIANTS'" || exit 1
fi
sql_script "$DB" <"$STATE.sql" >/dev/null || exit 1

# Each record's rows as one text (key: s or u, and dcid): a line per row,
# sorted; would_update reads updated; "after" shows them as after the
# run's writes (updated rows unchanged, the new username the old one).
sql_script "$DB" <<'EOF' || exit 1
CREATE SCHEMA rt;
CREATE FUNCTION rt.line(r pssync.sync_result, after boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT concat_ws('|',
           CASE WHEN r.status IN ('updated', 'would_update')
                THEN CASE WHEN after THEN 'unchanged' ELSE 'updated' END
                ELSE r.status END,
           r.record_type, coalesce(r.first_name, '<>'), coalesce(r.last_name, '<>'),
           coalesce(r.field, '<>'),
           CASE WHEN after AND r.status IN ('updated', 'would_update') THEN r.new_username
                ELSE coalesce(r.old_username, '<>') END,
           coalesce(r.new_username, '<>'), coalesce(r.dn, '<>'),
           coalesce(r.candidates::text, '<>'), coalesce(r.candidate_count::text, '<>'))
$$;
CREATE FUNCTION rt.key(record_type text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT CASE record_type WHEN 'student' THEN 's' ELSE 'u' END $$;
-- the previous run's rows of each record, as after its writes
CREATE TABLE rt.prev (k text, dcid bigint, rows text, PRIMARY KEY (k, dcid));
CREATE TABLE rt.full (k text, dcid bigint, rows text, after text);
CREATE TABLE rt.got (k text, dcid bigint, rows text, after text);
CREATE FUNCTION rt.collect(target text, statement text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('INSERT INTO rt.%I SELECT rt.key(r.record_type), r.dcid,'
                 ' string_agg(rt.line(r, false), E''\n'' ORDER BY rt.line(r, false)),'
                 ' string_agg(rt.line(r, true), E''\n'' ORDER BY rt.line(r, true))'
                 ' FROM (%s) r GROUP BY 1, 2', target, statement);
END $$;
-- what every scope's full run says now, one after the other
CREATE FUNCTION rt.full_runs(dry boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE rt.full;
  PERFORM rt.collect('full', format('SELECT * FROM pssync.ldap_sync_district(''students'', dry_run => %L)', dry));
  PERFORM rt.collect('full', format('SELECT * FROM pssync.ldap_sync_district(''teachers'', dry_run => %L)', dry));
  PERFORM rt.collect('full', format('SELECT * FROM pssync.ldap_sync_district(''staff'', dry_run => %L)', dry));
END $$;
-- what differs: returned with other rows than the full run's, not
-- returned though its rows changed, returned though they did not
-- (a full run returns every record of its scope: full_types are the
-- record types of the scopes that ran in full)
CREATE FUNCTION rt.differences(full_types text[]) RETURNS TABLE (what text, k text, dcid bigint, detail text)
LANGUAGE sql AS $$
  SELECT 'rows differ', g.k, g.dcid, E'\n  full:    ' || coalesce(f.rows, '(none)') || E'\n  changes: ' || g.rows
    FROM rt.got g LEFT JOIN rt.full f USING (k, dcid) WHERE f.rows IS DISTINCT FROM g.rows
  UNION ALL
  SELECT 'missed', f.k, f.dcid, E'\n  previous: ' || coalesce(p.rows, '(none)') || E'\n  now:      ' || f.rows
    FROM rt.full f LEFT JOIN rt.prev p USING (k, dcid)
   WHERE p.rows IS DISTINCT FROM f.rows AND NOT EXISTS (SELECT 1 FROM rt.got g WHERE g.k = f.k AND g.dcid = f.dcid)
  UNION ALL
  SELECT 'not changed, but returned', g.k, g.dcid, E'\n  ' || g.rows
    FROM rt.got g JOIN rt.prev p USING (k, dcid)
   WHERE p.rows = g.rows AND NOT split_part(g.rows, '|', 2) = ANY (full_types)
$$;
EOF

# The record types of the scopes ldap_sync_changes ran in full, from its
# NOTICEs, as a text[] literal.
full_types() {
	local types
	types=$(sed -n 's/.*runs \(students\|teachers\|staff\) in full.*/\1/p' "$OUT/notices.log" |
		sed 's/students/student/; s/teachers/teacher/' | paste -sd, -)
	echo "{$types}"
}

failures=0
pg_log_mark
scan_reads=0
refused=0
for round in $(seq 1 "$ROUNDS"); do
	python3 "$SCRIPTS_DIR/changes_random.py" round "$STATE" "$round" || exit 1
	if [ -s "$STATE.ldif" ]; then
		ldapmodify -c "${ADMIN[@]}" -f "$STATE.ldif" >"$OUT/ldapmodify.log" 2>&1 || {
			# the model and the directory part: later rounds test less
			refused=$((refused + 1))
			grep -v '^modifying\|^adding\|^deleting\|^renaming\|^$' "$OUT/ldapmodify.log" |
				head -3 | sed "s/^/# round $round: /"
		}
	fi
	sql_script "$DB" <"$STATE.sql" >/dev/null 2>"$OUT/sql.log" || { cat "$OUT/sql.log"; exit 1; }

	# now and then, what other functions do between two runs of the changes
	what=$(( (round * 7 + SEED) % 11 ))
	case $what in
		3) # that run is now these records' previous run
		   sql "$DB" "TRUNCATE rt.got; SELECT rt.collect('got', 'SELECT * FROM pssync.ldap_sync_district(''teachers'')');
		              DELETE FROM rt.prev p USING rt.got g WHERE p.k = g.k AND p.dcid = g.dcid;
		              INSERT INTO rt.prev SELECT k, dcid, after FROM rt.got;" >/dev/null || exit 1
		   note "round $round: a district-wide run of the teachers in between" ;;
		6) sql "$DB" "SELECT pssync.ldap_unlink('student', dcid)
		                FROM (SELECT l.dcid FROM pssync.links l JOIN $STUDENTS_TABLE s USING (dcid)
		                       WHERE l.record_type = 'student'
		                       ORDER BY md5(l.dcid::text || '$round') LIMIT 1) l" >/dev/null || exit 1
		   note "round $round: ldap_unlink of a student in between" ;;
		9) # a person chooses the first candidate of a partial match
		   sql "$DB" "TRUNCATE rt.got;
		              SELECT rt.collect('got', format('SELECT * FROM pssync.ldap_assign(''student'', %s, %L)', dcid, candidates[1]))
		                FROM pssync.ldap_sync_district('students', dry_run => true)
		               WHERE status = 'partial' ORDER BY md5(dcid::text || '$round') LIMIT 1;
		              DELETE FROM rt.prev p USING rt.got g WHERE p.k = g.k AND p.dcid = g.dcid;
		              INSERT INTO rt.prev SELECT k, dcid, after FROM rt.got;" >/dev/null || exit 1
		   note "round $round: ldap_assign of a partial match in between" ;;
	esac

	scan=""
	[ $(( round % 2 )) = 1 ] && scan="SET pssync.changes_scan_records = 1; "
	chunks=""
	[ $(( round % 3 )) = 2 ] && chunks="SET pssync.changes_indexed_user_ids = 2; "
	if [ $(( round % 5 )) = 4 ]; then
		sql "$DB" "SELECT rt.full_runs(true)" >/dev/null || exit 1
		# a dry run returns the same, and changes nothing
		sql "$DB" "${scan}${chunks}TRUNCATE rt.got; SELECT rt.collect('got', 'SELECT * FROM pssync.ldap_sync_changes(''all'', dry_run => true)')" >/dev/null 2>"$OUT/notices.log"
		differences=$(sql "$DB" "SELECT what || ' ' || k || dcid || detail FROM rt.differences('$(full_types)') ORDER BY 1")
		detail=$differences
		check "round $round: a dry run of ldap_sync_changes returns what a full dry run says changed" [ -z "$differences" ]
		[ -z "$differences" ] || failures=$((failures + 1))
	fi
	# the real runs, in a transaction rolled back; their rows kept outside it
	sql_script "$DB" >/dev/null <<EOF || exit 1
BEGIN;
SELECT rt.full_runs(false);
\\copy rt.full TO '$OUT/full.copy'
ROLLBACK;
TRUNCATE rt.full;
\\copy rt.full FROM '$OUT/full.copy'
EOF
	read_before=$(sql "$DB" "SELECT coalesce(max(full_read_at)::text, '') FROM pssync.sync_state")
	sql "$DB" "${scan}${chunks}TRUNCATE rt.got; SELECT rt.collect('got', 'SELECT * FROM pssync.ldap_sync_changes(''all'')')" >/dev/null 2>"$OUT/notices.log"
	# an incremental run on the scan path read a group whole, and noted it
	if [ -n "$scan" ] && [ "$round" -gt 1 ] &&
		[ "$(sql "$DB" "SELECT coalesce(max(full_read_at)::text, '') FROM pssync.sync_state")" != "$read_before" ]; then
		scan_reads=$((scan_reads + 1))
	fi
	grep -h "NOTICE" "$OUT/notices.log" | sed "s/^/# round $round: /"
	returned=$(sql "$DB" "SELECT count(*) FROM rt.got")
	differences=$(sql "$DB" "SELECT what || ' ' || k || dcid || detail FROM rt.differences('$(full_types)') ORDER BY 1")
	detail=$differences
	check "round $round: ldap_sync_changes returns exactly the $returned records whose rows changed, with the full run's rows" [ -z "$differences" ]
	[ -z "$differences" ] || failures=$((failures + 1))
	# the previous run of every record is now this one, or is unchanged
	sql "$DB" "TRUNCATE rt.prev; INSERT INTO rt.prev SELECT k, dcid, after FROM rt.full" >/dev/null
	if [ "$failures" -ge "${CHANGES_MAX_FAILURES:-3}" ]; then
		note "stopping after $failures failed rounds"
		break
	fi
done

# Each round after the first was incremental, not a full run in disguise.
full_runs=$(sql "$DB" "SELECT count(*) FROM pssync.sync_run WHERE function = 'ldap_sync_changes' AND strategy = 'scan'")
incremental=$(sql "$DB" "SELECT count(*) FROM pssync.sync_run WHERE function = 'ldap_sync_changes' AND strategy = 'changes'")
note "runs of ldap_sync_changes: $full_runs full (scopes), $incremental incremental (scopes)"
check_eq "only the first run of each scope is a full run" "$full_runs" 3
odd_rounds=$(( (round - 1) / 2 ))
if [ "$(sql "$DB" "SHOW pssync.strategy")" = search ]; then
	check_eq "under pssync.strategy = search no round read a group whole" "$scan_reads" 0
else
	check_num "the odd rounds after the first read a group whole (the scan path), as they should" \
		"$scan_reads" ">=" $(( odd_rounds * 3 / 4 ))
fi
check_eq "the directory took every change of every round" "$refused" 0
check_no_crash "no backend crashed"
finish
