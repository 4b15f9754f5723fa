#!/usr/bin/env bash
# suggest_quality: how good pssync's suggestions are, measured on a test
# district of realistic exceptions (test/fixtures/quality_district.py):
# 360 records whose entry is spelled differently, for each reason of
# ldap_suggest and combinations of them, and 120 records of people with no
# entry at all.  It prints, and checks a floor for:
#
#   top-1            how often the record's entry is the first suggestion
#   top-3            how often it is among the first three
#   false confidence how often a record with no entry gets a suggestion
#                    scored 0.9 or more
#
# (targets: top-1 >= 90%, top-3 >= 98%, false confidence <= 5%), and the
# figures of each kind of difference.  Then both strategies sync the
# district: the suggestions they keep are the same, and ldap_suggest's.
source "$(dirname "$0")/lib.bash"

TOP1_FLOOR=0.90
TOP3_FLOOR=0.98
FALSE_CONFIDENCE_CEILING=0.05

DB=suggest_quality
python3 "$TOP/test/fixtures/quality_district.py" --ldif "$PSSYNC_WORK/quality.ldif" \
	--sql "$PSSYNC_WORK/quality.sql" | sed 's/^/# /'
start_own_slapd quality "$PSSYNC_WORK/quality.ldif" || { echo "FAIL start slapd"; exit 1; }
setup_database "$DB" "$OWN_SLAPD_URI" || { echo "FAIL setup"; exit 1; }
sql_script "$DB" <"$PSSYNC_WORK/quality.sql" >/dev/null || { echo "FAIL load the district"; exit 1; }
sql "$DB" "ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Quality,dc=district,dc=org',
             ADD student_id_attr 'employeeNumber')" >/dev/null
SETTINGS="SET pssync.students_table = 'quality.students';
SET pssync.student_preferred_name_column = 'preferred_first_name';
SET client_min_messages = warning;"

# every record's first three suggestions (ldap_suggest: the bounded searches)
sql_script "$DB" <<EOF >/dev/null || { echo "FAIL ldap_suggest"; exit 1; }
$SETTINGS
CREATE TABLE quality.suggested AS
SELECT s.dcid, g.rank, g.dn, g.score, g.reasons
  FROM quality.students s, LATERAL pssync.ldap_suggest('student', s.dcid, 3) g;
EOF

figures=$(sql "$DB" "
  SELECT round(avg((g.dn IS NOT DISTINCT FROM a.dn)::int), 3),
         round(avg((EXISTS (SELECT 1 FROM quality.suggested t
                             WHERE t.dcid = a.dcid AND t.dn = a.dn))::int), 3)
    FROM quality.answers a
    LEFT JOIN quality.suggested g ON g.dcid = a.dcid AND g.rank = 1
   WHERE a.dn IS NOT NULL")
top1=${figures%|*}
top3=${figures#*|}
false_confidence=$(sql "$DB" "
  SELECT round(avg((coalesce(g.score, 0) >= 0.9)::int), 3)
    FROM quality.answers a
    LEFT JOIN quality.suggested g ON g.dcid = a.dcid AND g.rank = 1
   WHERE a.dn IS NULL")
records=$(sql "$DB" "SELECT count(*) FILTER (WHERE dn IS NOT NULL) || ' records with an entry, '
                            || count(*) FILTER (WHERE dn IS NULL) || ' without'
                       FROM quality.answers")
note "$records"
note "top-1 $top1, top-3 $top3, false confidence $false_confidence"
note "each kind of difference (records, top-1, top-3, mean score of the first suggestion):"
sql "$DB" "
  SELECT rpad(a.kind, 36) || lpad(count(*)::text, 4)
         || lpad(round(avg((g.dn IS NOT DISTINCT FROM a.dn)::int), 2)::text, 7)
         || lpad(round(avg((EXISTS (SELECT 1 FROM quality.suggested t
                                    WHERE t.dcid = a.dcid AND t.dn = a.dn))::int), 2)::text, 7)
         || lpad(coalesce(round(avg(g.score)::numeric, 2)::text, ''), 7)
    FROM quality.answers a
    LEFT JOIN quality.suggested g ON g.dcid = a.dcid AND g.rank = 1
   GROUP BY a.kind ORDER BY min(a.dcid)" | sed 's/^/#   /'
note "the records without an entry whose first suggestion scores 0.9 or more:"
sql "$DB" "
  SELECT s.first_name || ' ' || s.last_name || ': ' || g.dn || ' ' || g.score || ' ' || g.reasons::text
    FROM quality.answers a JOIN quality.students s USING (dcid)
    JOIN quality.suggested g ON g.dcid = a.dcid AND g.rank = 1
   WHERE a.dn IS NULL AND g.score >= 0.9 ORDER BY a.dcid" | sed 's/^/#   /'

note "the records whose entry is not the first suggestion (entry; first suggestion):"
sql "$DB" "
  SELECT a.kind || ': ' || s.first_name || ' ' || s.last_name
         || coalesce(' (' || s.preferred_first_name || ')', '') || ' -> '
         || regexp_replace(a.dn, ',ou=Quality.*', '') || ' ['
         || coalesce((SELECT t.rank::text FROM quality.suggested t WHERE t.dcid = a.dcid AND t.dn = a.dn), '-')
         || ']; ' || coalesce(regexp_replace(g.dn, ',ou=Quality.*', '') || ' ' || g.score || ' '
                             || g.reasons::text, 'none')
    FROM quality.answers a JOIN quality.students s USING (dcid)
    LEFT JOIN quality.suggested g ON g.dcid = a.dcid AND g.rank = 1
   WHERE a.dn IS NOT NULL AND g.dn IS DISTINCT FROM a.dn ORDER BY a.dcid" | sed 's/^/#   /'

check_num "top-1: the record's entry is the first suggestion" "$top1" ">=" "$TOP1_FLOOR"
check_num "top-3: the record's entry is among the first three" "$top3" ">=" "$TOP3_FLOOR"
check_num "false confidence: a record without an entry gets 0.9 or more" \
	"$false_confidence" "<=" "$FALSE_CONFIDENCE_CEILING"

# Both strategies sync the district: the suggestions kept are the same,
# and the same as ldap_suggest's first.
result=$(sql_script "$DB" <<EOF
$SETTINGS
CREATE TEMP TABLE everyone AS SELECT dcid FROM quality.students;
CREATE TEMP TABLE by_search (dcid bigint, status text, suggestion_dn text, suggestion_score real,
                             suggestion_reasons text[], suggestion_next_score real);
CREATE TEMP TABLE by_scan (LIKE by_search);
-- each run rolled back, what it kept read before
BEGIN;
SET LOCAL pssync.strategy = 'search';
SELECT count(*) FROM pssync.ldap_sync_students('everyone') \\g /dev/null
\\copy (SELECT dcid, status, suggestion_dn, suggestion_score, suggestion_reasons, suggestion_next_score FROM pssync.sync_log WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run)) TO '$PSSYNC_WORK/quality-search.tsv'
ROLLBACK;
BEGIN;
SET LOCAL pssync.strategy = 'scan';
SELECT count(*) FROM pssync.ldap_sync_students('everyone') \\g /dev/null
\\copy (SELECT dcid, status, suggestion_dn, suggestion_score, suggestion_reasons, suggestion_next_score FROM pssync.sync_log WHERE run_id = (SELECT max(run_id) FROM pssync.sync_run)) TO '$PSSYNC_WORK/quality-scan.tsv'
ROLLBACK;
\\copy by_search FROM '$PSSYNC_WORK/quality-search.tsv'
\\copy by_scan FROM '$PSSYNC_WORK/quality-scan.tsv'
SELECT (SELECT count(*) FROM by_scan WHERE suggestion_dn IS NOT NULL) || ' '
       || (SELECT count(*) FROM (TABLE by_search EXCEPT TABLE by_scan) d)
          + (SELECT count(*) FROM (TABLE by_scan EXCEPT TABLE by_search) d) || ' '
       || (SELECT count(*) FROM by_scan b
             LEFT JOIN quality.suggested g ON g.dcid = b.dcid AND g.rank = 1
            WHERE b.status IN ('partial', 'no_match')
              AND (g.dn IS DISTINCT FROM b.suggestion_dn OR g.score IS DISTINCT FROM b.suggestion_score
                   OR g.reasons IS DISTINCT FROM b.suggestion_reasons));
EOF
)
read -r kept differ differ_from_suggest <<<"$result"
note "a sync kept $kept suggestions"
check "the sync kept suggestions" [ "${kept:-0}" -gt 300 ]
check_eq "search and scan keep the same suggestions" "$differ" 0
check_eq "the suggestions kept are ldap_suggest's first" "$differ_from_suggest" 0

finish
