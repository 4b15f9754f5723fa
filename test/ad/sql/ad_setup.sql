--
-- ad_setup: the sample district in PowerSchool's tables, the extension,
-- and the district's Active Directory as a pssync server.
--
-- The domain controller is a Samba AD DC that test/ad/run.sh provisioned
-- as DISTRICT.TEST (DC=district,DC=test) and loaded with
-- test/ad/district.py.  pssync reaches it through test/ad/ldaptap.py, a
-- relay that logs every LDAP request, so that the tests can show what
-- pssync asked the directory.  The relay's URI and the service account's
-- password come from the environment: neither shows here.
--
\set ECHO none
\i test/fixtures/powerschool_schema.sql
\i test/ad/district.sql
\set ECHO all

CREATE EXTENSION pssync;

\getenv ad_uri PSSYNC_AD_URI
\getenv ad_password PSSYNC_AD_PASSWORD
\getenv tap_log PSSYNC_AD_TAP_LOG

-- Active Directory as a district configures it: the user ID is
-- sAMAccountName, the names givenName and sn, and the filter takes user
-- objects of people only (a computer is a user too).
CREATE SERVER district_ad FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'ad_uri',
           base_dn 'DC=district,DC=test',
           student_base_dn 'OU=Students,DC=district,DC=test',
           staff_base_dn 'OU=Staff,DC=district,DC=test',
           uid_attr 'sAMAccountName',
           filter '(&(objectCategory=person)(objectClass=user))');

-- The service account, by its user principal name.
CREATE USER MAPPING FOR PUBLIC SERVER district_ad
  OPTIONS (bind_dn 'svc-pssync@district.test', password :'ad_password');

SELECT pssync.ldap_user_id_attribute('student') AS student,
       pssync.ldap_user_id_attribute('staff') AS staff;

-- Helpers of the tests.
CREATE SCHEMA adtest;

-- An error as "SQLSTATE: message".
CREATE FUNCTION adtest.error_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  state text;
  message text;
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
  RETURN state || ': ' || message;
END $$;

-- An error with its detail and hint, each a column.
CREATE FUNCTION adtest.error_parts(statement text,
                                   OUT state text, OUT message text,
                                   OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  state := 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END $$;

-- A fingerprint of the username columns, to show that a statement left
-- them as they were.
CREATE FUNCTION adtest.usernames() RETURNS text
LANGUAGE sql AS $$
  SELECT (SELECT md5(string_agg(concat_ws('|', dcid, student_web_id), ',' ORDER BY dcid))
            FROM public.students)
      || (SELECT md5(string_agg(concat_ws('|', dcid, loginid, teacherloginid), ',' ORDER BY dcid))
            FROM public.users)
$$;
CREATE TABLE adtest.fixture_usernames AS SELECT adtest.usernames() AS usernames;

-- The relay's log.  CALL adtest.tap_mark() remembers where it ends;
-- adtest.tap_lines() returns the lines written since, in order.
CREATE TABLE adtest.tap (log text, mark bigint);
INSERT INTO adtest.tap VALUES (:'tap_log', 0);

CREATE PROCEDURE adtest.tap_mark()
LANGUAGE sql AS $$
  UPDATE adtest.tap SET mark = (pg_stat_file(log)).size
$$;

CREATE FUNCTION adtest.tap_lines() RETURNS TABLE (n bigint, line text)
LANGUAGE sql AS $$
  SELECT n, line
    FROM adtest.tap,
         regexp_split_to_table(pg_read_file(log, mark, (pg_stat_file(log)).size - mark), E'\n')
           WITH ORDINALITY AS l(line, n)
   WHERE line <> '' AND line !~ ' (unbind|abandon)$'
$$;

-- The searches since the mark, each with what its answer brought back.
CREATE FUNCTION adtest.tap_searches()
RETURNS TABLE (n bigint, conn text, base text, scope text, filter text, attrs text,
               page text, cookie text, entries int, refs int, rc int, more text)
LANGUAGE sql AS $$
  WITH lines AS (SELECT * FROM adtest.tap_lines()),
  s AS (
    SELECT l.n, m[1] AS conn, m[2] AS id, m[3] AS base, m[4] AS scope, m[5] AS filter,
           m[6] AS attrs, m[7] AS page, m[8] AS cookie
      FROM lines l,
           regexp_match(l.line, '^(c\d+) search id=(\d+) base="(.*)" scope=(\S+) filter="(.*)" attrs=(\S+) page=(\S+) cookie=(\S+)$') m
     WHERE m IS NOT NULL),
  r AS (
    SELECT l.n, m[1] AS conn, m[2] AS id, m[3]::int AS rc, m[4]::int AS entries,
           m[5]::int AS refs, m[6] AS more
      FROM lines l,
           regexp_match(l.line, '^(c\d+) result id=(\d+) rc=(\d+) entries=(\d+) references=(\d+) more=(\S+)$') m
     WHERE m IS NOT NULL)
  SELECT s.n, s.conn, s.base, s.scope, s.filter, s.attrs, s.page, s.cookie,
         r.entries, r.refs, r.rc, r.more
    FROM s LEFT JOIN r USING (conn, id)   -- message ids are unique on a connection
   ORDER BY s.n
$$;
