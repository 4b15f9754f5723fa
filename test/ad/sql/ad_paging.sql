--
-- ad_paging: answers larger than Active Directory's MaxPageSize.
--
-- AD sends at most MaxPageSize entries (1000 by default) per answer, and
-- ends a search that is not paged there with sizeLimitExceeded: a search
-- that can return many entries must use the paged results control (RFC
-- 2696) and follow its cookie.  Samba does not enforce MaxPageSize on
-- searches that are not paged, so counting the entries cannot prove the
-- paging; the relay's log (test/ad/ldaptap.py) shows each page instead.
--
-- OU=Class of 2030,OU=Students holds 1,500 students, Pupil0001 Many to
-- Pupil1500 Many: more than 1,000 under one OU and with one surname.
-- Samba returns them in no particular order (that of their GUIDs), so
-- any 100 of them are spread over every page.
--
CREATE TEMP TABLE class_of_2030 AS
  SELECT i, format('CN=Pupil%s Many,OU=Class of 2030,OU=Students,DC=district,DC=test',
                   lpad(i::text, 4, '0')) AS dn
    FROM generate_series(1, 1500) i;
-- A partial or ambiguous row lists the first 100 candidates in DN order.
CREATE TEMP VIEW first_100 AS
  SELECT array_agg(dn ORDER BY dn COLLATE "C") AS dns
    FROM (SELECT dn FROM class_of_2030 ORDER BY dn COLLATE "C" LIMIT 100) f;

-- A student named Nobody Many matches none of them exactly, so the
-- surname alone is searched: all 1,500 must arrive for the first 100 in
-- DN order to be right.
CREATE TEMP TABLE nobody_many (dcid bigint);
INSERT INTO nobody_many VALUES (5000);
BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES (5000, 'Nobody', 'Many');

CALL adtest.tap_mark();
SELECT status, cardinality(candidates) AS candidates,
       candidates = (SELECT dns FROM first_100) AS first_100_of_1500
  FROM pssync.ldap_sync_students('nobody_many', dry_run => true);

-- The surname search, page by page (pssync's default page_size is 500):
-- each request after the first returns the cookie of the page before.
-- (Samba sends a last, empty page.)
SELECT scope, filter, attrs, page, cookie, entries, more
  FROM adtest.tap_searches() WHERE filter !~ 'givenName';

-- page_size 1000, AD's MaxPageSize: two pages.
ALTER SERVER district_ad OPTIONS (ADD page_size '1000');
CALL adtest.tap_mark();
SELECT status, cardinality(candidates) AS candidates,
       candidates = (SELECT dns FROM first_100) AS first_100_of_1500
  FROM pssync.ldap_sync_students('nobody_many', dry_run => true);
SELECT page, cookie, entries, more
  FROM adtest.tap_searches() WHERE filter !~ 'givenName';

-- page_size 100: fifteen pages.
ALTER SERVER district_ad OPTIONS (SET page_size '100');
CALL adtest.tap_mark();
SELECT status, cardinality(candidates) AS candidates,
       candidates = (SELECT dns FROM first_100) AS first_100_of_1500
  FROM pssync.ldap_sync_students('nobody_many', dry_run => true);
SELECT count(*) AS requests, sum(entries) AS entries,
       count(*) FILTER (WHERE cookie = 'yes') AS with_cookie,
       count(*) FILTER (WHERE more = 'no') AS last_pages,
       min(page) AS page
  FROM adtest.tap_searches() WHERE filter !~ 'givenName';

-- page_size 2000: a real AD would still answer 1000 at a time, with a
-- cookie; Samba answers with all of them at once.
ALTER SERVER district_ad OPTIONS (SET page_size '2000');
CALL adtest.tap_mark();
SELECT status, candidates = (SELECT dns FROM first_100) AS first_100_of_1500
  FROM pssync.ldap_sync_students('nobody_many', dry_run => true);
SELECT page, cookie, entries, more
  FROM adtest.tap_searches() WHERE filter !~ 'givenName';
ROLLBACK;

-- The exact search pages too.  With first_name_attr set to sn, a student
-- named "Many Many" matches all 1,500: ambiguous, and each page of the
-- exact search asks for the user ID.
BEGIN;
ALTER SERVER district_ad OPTIONS (ADD first_name_attr 'sn');
INSERT INTO students (dcid, first_name, last_name) VALUES (5000, 'Many', 'Many');
CALL adtest.tap_mark();
SELECT status, cardinality(candidates) AS candidates,
       candidates = (SELECT dns FROM first_100) AS first_100_of_1500
  FROM pssync.ldap_sync_students('nobody_many', dry_run => true);
SELECT attrs, page, cookie, entries, more FROM adtest.tap_searches();
ROLLBACK;

-- The whole class: 1,500 records.  From 1,000 records on, pssync reads
-- the group's entries once (pssync.strategy "auto" chooses "scan"): one
-- paged search of OU=Students, then every record matched in memory.  Each
-- of the 1,500 finds its own entry only if every page arrived.
BEGIN;
INSERT INTO students (dcid, first_name, last_name)
  SELECT 100000 + i, format('Pupil%s', lpad(i::text, 4, '0')), 'Many'
    FROM generate_series(1, 1500) i;
CREATE TEMP VIEW whole_class AS SELECT dcid FROM students WHERE dcid > 100000;
CALL adtest.tap_mark();
SELECT status, count(*) FROM pssync.ldap_sync_students('whole_class') GROUP BY status;
SELECT base, scope, filter, attrs, page, cookie, entries, more FROM adtest.tap_searches();
SELECT count(*) AS written,
       count(*) FILTER (WHERE student_web_id = format('many%s', lpad((dcid - 100000)::text, 4, '0'))) AS right
  FROM students WHERE dcid > 100000;
ROLLBACK;

-- The same with a search per record: 1,500 searches, one entry each.
BEGIN;
SET LOCAL pssync.strategy = 'search';
INSERT INTO students (dcid, first_name, last_name)
  SELECT 100000 + i, format('Pupil%s', lpad(i::text, 4, '0')), 'Many'
    FROM generate_series(1, 1500) i;
CREATE TEMP VIEW whole_class AS SELECT dcid FROM students WHERE dcid > 100000;
CALL adtest.tap_mark();
SELECT status, count(*) FROM pssync.ldap_sync_students('whole_class') GROUP BY status;
SELECT count(*) AS searches, sum(entries) AS entries, min(page) AS page
  FROM adtest.tap_searches();
ROLLBACK;
