--
-- setup: the sample PowerSchool district, the extension, and the directory.
--
-- The directory is a slapd that the test script started on 127.0.0.1 with
-- test/fixtures/directory.ldif; its URI and the service account's password
-- come from the environment, so neither shows here.
--
\set ECHO none
\i test/fixtures/powerschool_schema.sql
\i test/fixtures/district.sql
\set ECHO all

CREATE EXTENSION pssync;
SELECT e.extname, e.extversion, n.nspname AS schema, x.comment
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  JOIN pg_available_extensions x ON x.name = e.extname
 WHERE e.extname = 'pssync';

\getenv ldap_uri PSSYNC_LDAP_URI
\getenv ldap_password PSSYNC_LDAP_PASSWORD

-- The tests point one server at OUs of very different sizes, one after
-- the other: a full read of a small one is no sign of a broken directory
-- here (sql/min_directory_ratio.sql shows the check).
SELECT current_database() AS regress_database \gset
ALTER DATABASE :"regress_database" SET pssync.min_directory_ratio = 0;

-- The directory: a foreign server of the pssync wrapper ...
CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'ldap_uri',
           base_dn 'dc=district,dc=org',
           student_base_dn 'ou=Students,dc=district,dc=org',
           staff_base_dn 'ou=Staff,dc=district,dc=org');

-- ... and the account to bind as: a user mapping, as for postgres_fdw.
CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org',
           password :'ldap_password');

-- Helpers of the tests: an error as "SQLSTATE: message", and with its
-- detail and hint, for checks on what an error says.
CREATE SCHEMA regress;
CREATE FUNCTION regress.error_of(statement text) RETURNS text
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

CREATE FUNCTION regress.full_error_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  state text;
  message text;
  detail text;
  hint text;
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
  RETURN state || ': ' || message || ' / ' || coalesce(detail, '') || ' / ' || coalesce(hint, '');
END $$;

-- A fingerprint of the username columns, to show that a statement left
-- them as they were.
CREATE FUNCTION regress.usernames() RETURNS text
LANGUAGE sql AS $$
  SELECT (SELECT md5(string_agg(concat_ws('|', dcid, student_web_id), ',' ORDER BY dcid))
            FROM public.students)
      || (SELECT md5(string_agg(concat_ws('|', dcid, loginid, teacherloginid), ',' ORDER BY dcid))
            FROM public.users)
$$;
CREATE TABLE regress.fixture_usernames AS SELECT regress.usernames() AS usernames;
