--
-- ad_requests: what pssync asks Active Directory, as the relay saw it.
--
-- One connection and one bind per sync; each search is paged, under the
-- group's base DN, with the district's filter and the record's names
-- escaped (RFC 4515); it asks only for the attributes it needs (the user
-- ID for the exact search, none, "1.1", for the last-name search), never
-- for all of them.
--
SET pssync.strategy = 'search';
CALL adtest.tap_mark();
SELECT count(*) AS rows FROM pssync.ldap_sync_students('students', dry_run => true);

SELECT count(DISTINCT conn) AS connections,
       (SELECT count(*) FROM adtest.tap_lines() WHERE line ~ ' bind name=') AS binds,
       (SELECT string_agg(DISTINCT substring(line from 'bind name="(.*)"$'), ', ')
          FROM adtest.tap_lines() WHERE line ~ ' bind name=') AS bound_as,
       count(*) AS searches
  FROM adtest.tap_searches();

-- The kinds of search: the exact one (both names) asks for the user ID,
-- the partial one (the last name alone) for no attribute.
SELECT base, scope, attrs, page, cookie,
       CASE WHEN filter ~ 'givenName=' THEN 'first and last name' ELSE 'last name' END AS names,
       count(*) AS searches, sum(entries) AS entries, sum(refs) AS references
  FROM adtest.tap_searches()
 GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY names;

-- Never every attribute: no request for "*" or for an empty list.
SELECT count(*) FILTER (WHERE attrs IN ('(all)', '*') OR attrs ~ '(^|,)\*(,|$)') AS asked_for_all
  FROM adtest.tap_searches();

-- The filters as AD received them, for the names that need care:
-- ( ) \ and * escaped, accented names in UTF-8, white space trimmed and
-- reduced to one space.
SELECT filter FROM adtest.tap_searches()
 WHERE filter ~ '(Tables|\\2a|García|NGSTR|Kaye|KAYE|Brien)'
 ORDER BY n;

-- Staff: the same two kinds of search, under OU=Staff.
CALL adtest.tap_mark();
SELECT count(*) AS rows FROM pssync.ldap_sync_staff('users', dry_run => true);
SELECT base, attrs, count(*) AS searches
  FROM adtest.tap_searches() GROUP BY 1, 2 ORDER BY 2;

-- A uid_attr given for one call is the attribute asked for.
CALL adtest.tap_mark();
SELECT count(*) AS rows FROM pssync.ldap_sync_students('students', 'userPrincipalName', dry_run => true);
SELECT DISTINCT attrs FROM adtest.tap_searches() ORDER BY 1;
RESET pssync.strategy;
