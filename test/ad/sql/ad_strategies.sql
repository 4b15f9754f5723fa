--
-- ad_strategies: "search" and "scan" give the same rows against Active
-- Directory.
--
-- search asks AD about each record; scan reads the group's entries once
-- and answers from memory wherever it is certain (plain ASCII names
-- compared by ASCII case, and names with the same bytes), asking AD (as
-- search does) about the rest, since only AD knows how it compares other
-- names (ad_sync: ZOË ÅNGSTRÖM finds Zoë Ångström).  An entry whose name
-- is not plain makes scan ask AD too: Dan Lunch's sn is "Lunch " (a space
-- typed after it), which Samba finds by "Lunch".
--
CREATE TEMP TABLE runs (strategy text, scope text, uid_attr text, rows text[]);

CREATE FUNCTION pg_temp.record_rows(scope text, uid_attr text) RETURNS text[]
LANGUAGE sql AS $$
  SELECT array_agg(row(section, status, record_type, dcid, field, old_username,
                       new_username, dn, candidates)::text ORDER BY dcid, field)
    FROM pssync.ldap_sync_district(scope, uid_attr, dry_run => true)
$$;

SET pssync.strategy = 'search';
INSERT INTO runs
  SELECT 'search', s, u, pg_temp.record_rows(s, u)
    FROM unnest(ARRAY['students', 'students_blank', 'teachers', 'teachers_blank',
                      'staff', 'staff_blank']) s,
         unnest(ARRAY['sAMAccountName', 'userPrincipalName', 'uid']) u;
SET pssync.strategy = 'scan';
INSERT INTO runs
  SELECT 'scan', s, u, pg_temp.record_rows(s, u)
    FROM unnest(ARRAY['students', 'students_blank', 'teachers', 'teachers_blank',
                      'staff', 'staff_blank']) s,
         unnest(ARRAY['sAMAccountName', 'userPrincipalName', 'uid']) u;
RESET pssync.strategy;

SELECT a.scope, a.uid_attr, cardinality(a.rows) AS rows, a.rows = b.rows AS same_rows
  FROM runs a JOIN runs b USING (scope, uid_attr)
 WHERE a.strategy = 'search' AND b.strategy = 'scan'
 ORDER BY a.scope, a.uid_attr;

-- What scan asks: one paged search of OU=Students for the names and the
-- user ID of every person, then a search for each record the index cannot
-- be certain about: ZOË ÅNGSTRÖM, whose entry is Zoë Ångström.  (Ana
-- García's entry has the same bytes as her record: no question.)  Those
-- searches go many at a time, unpaged; one that AD cut short at its
-- MaxPageSize would be asked again alone, paged.
SET pssync.strategy = 'scan';
CALL adtest.tap_mark();
SELECT count(*) FROM pssync.ldap_sync_students('students', dry_run => true);
SELECT base, scope, filter, attrs, page, entries, more FROM adtest.tap_searches();

-- Staff: one read of OU=Staff, and a search for Dan Lunch alone, whose
-- entry's sn is not plain.
CALL adtest.tap_mark();
SELECT count(*) FROM pssync.ldap_sync_staff('users', dry_run => true);
SELECT base, filter, attrs, page, entries, more FROM adtest.tap_searches();

-- The same under the default filter, which lets Li Wei's laptop in:
-- both strategies find it.
BEGIN;
ALTER SERVER district_ad OPTIONS (DROP filter);
SELECT status, dcid, candidates FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid = 1017;
SET LOCAL pssync.strategy = 'search';
SELECT status, dcid, candidates FROM pssync.ldap_sync_students('students', dry_run => true)
 WHERE dcid = 1017;
ROLLBACK;
RESET pssync.strategy;
