--
-- ad_bind: binding to Active Directory.
--
-- A simple bind names the account by its DN, its user principal name
-- (name@realm), or its down-level logon name (DOMAIN\name).  AD explains
-- a failed bind in its diagnostic message: "80090308: LdapErr: DSID-...,
-- comment: AcceptSecurityContext error, data 52e, v..."; the code after
-- "data" says why, and pssync turns it into a hint.  The password never
-- shows: not in the message, the detail or the hint.
--
-- The service accounts are in OU=Service Accounts (test/ad/district.py),
-- all with the same password: svc-pssync (enabled), svc-disabled,
-- svc-expired (password older than the domain's maximum age),
-- svc-mustchange ("must change password at next logon"),
-- svc-acctexpired (account expired) and svc-locked (locked out after one
-- wrong password).
--
\getenv ad_password PSSYNC_AD_PASSWORD

-- The ways to name the account; each binds and syncs.
CREATE TEMP TABLE bind_names (o int, bind_dn text);
INSERT INTO bind_names VALUES
  (1, 'CN=svc-pssync,OU=Service Accounts,DC=district,DC=test'),
  (2, 'svc-pssync@district.test'),
  (3, 'DISTRICT\svc-pssync'),
  (4, 'cn=SVC-PSSYNC,ou=service accounts,dc=DISTRICT,dc=TEST'),
  (5, 'district\SVC-PSSYNC');

CREATE FUNCTION pg_temp.sync_as(bind_dn text, password text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  result text;
BEGIN
  EXECUTE format('ALTER USER MAPPING FOR PUBLIC SERVER district_ad OPTIONS (SET bind_dn %L, SET password %L)',
                 bind_dn, password);
  SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) INTO result
    FROM (SELECT status, count(*) AS n
            FROM pssync.ldap_sync_district('staff', dry_run => true) GROUP BY status) s;
  RETURN result;
END $$;

BEGIN;
SELECT bind_dn, pg_temp.sync_as(bind_dn, :'ad_password') AS staff_dry_run
  FROM bind_names ORDER BY o;
ROLLBACK;

-- Failed binds: the SQLSTATE, the message (with the bind DN), AD's code
-- from the detail, and the hint.
CREATE FUNCTION pg_temp.bind_failure(bind_dn text, password text,
                                     OUT state text, OUT message text,
                                     OUT ad_code text, OUT hint text,
                                     OUT shows_password boolean)
LANGUAGE plpgsql AS $$
DECLARE
  detail text;
BEGIN
  EXECUTE format('ALTER USER MAPPING FOR PUBLIC SERVER district_ad OPTIONS (SET bind_dn %L, SET password %L)',
                 bind_dn, password);
  SELECT e.state, e.message, e.detail, e.hint INTO state, message, detail, hint
    FROM adtest.error_parts($q$SELECT * FROM pssync.ldap_sync_district('staff', dry_run => true)$q$) e;
  ad_code := substring(detail from 'data ([0-9a-f]+)');
  shows_password := password <> '' AND concat(message, detail, hint) LIKE '%' || password || '%';
END $$;

BEGIN;
-- A wrong password: data 52e.
SELECT * FROM pg_temp.bind_failure('svc-pssync@district.test', 'Wrong-Pa55word!');
SELECT * FROM pg_temp.bind_failure('DISTRICT\svc-pssync', 'Wrong-Pa55word!');
SELECT * FROM pg_temp.bind_failure('CN=svc-pssync,OU=Service Accounts,DC=district,DC=test', 'Wrong-Pa55word!');
-- The right password of a disabled account: data 533.
SELECT * FROM pg_temp.bind_failure('svc-disabled@district.test', :'ad_password');
-- An expired password: data 532.
SELECT * FROM pg_temp.bind_failure('svc-expired@district.test', :'ad_password');
-- A password that must be changed first: data 773.
SELECT * FROM pg_temp.bind_failure('svc-mustchange@district.test', :'ad_password');
-- An expired account: data 701.
SELECT * FROM pg_temp.bind_failure('svc-acctexpired@district.test', :'ad_password');
-- A locked-out account: one wrong password (52e) locks svc-locked out;
-- then the right one is refused with data 775.
SELECT * FROM pg_temp.bind_failure('svc-locked@district.test', 'Wrong-Pa55word!');
SELECT * FROM pg_temp.bind_failure('svc-locked@district.test', :'ad_password');
-- An account that does not exist: Samba says 52e (Windows says 525).
SELECT * FROM pg_temp.bind_failure('svc-nobody@district.test', :'ad_password');
-- An empty password would make an unauthenticated bind (RFC 4513 5.1.2),
-- which Windows treats as anonymous and Samba refuses: pssync refuses it
-- before anything is sent.
SELECT state, message, detail
  FROM adtest.error_parts($$ALTER USER MAPPING FOR PUBLIC SERVER district_ad OPTIONS (SET password '')$$);
ROLLBACK;

-- No user mapping: an anonymous bind.  AD lets it read the root DSE only;
-- a search fails.
BEGIN;
DROP USER MAPPING FOR PUBLIC SERVER district_ad;
SELECT state, message, detail ~ 'without authentication' AS needs_a_bind, hint
  FROM adtest.error_parts($$SELECT * FROM pssync.ldap_sync_district('staff', dry_run => true)$$);
ROLLBACK;

-- A user mapping for the current user wins over PUBLIC's.
BEGIN;
CREATE USER MAPPING FOR CURRENT_USER SERVER district_ad
  OPTIONS (bind_dn 'svc-disabled@district.test', password :'ad_password');
SELECT state, hint FROM adtest.error_parts($$SELECT * FROM pssync.ldap_sync_district('staff', dry_run => true)$$);
ROLLBACK;

-- A failed bind wrote nothing.
SELECT adtest.usernames() = (SELECT usernames FROM adtest.fixture_usernames) AS as_before;
