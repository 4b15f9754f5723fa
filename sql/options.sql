--
-- options: configuring the directory.  The validator rejects unknown
-- options and bad values with an error that names the option.
--

-- uri and base_dn are required.
CREATE SERVER no_options FOREIGN DATA WRAPPER pssync;
CREATE SERVER no_base FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://ldap.district.org');

-- An unknown option, with the list of valid ones.
CREATE SERVER typo FOREIGN DATA WRAPPER pssync
  OPTIONS (uri 'ldap://ldap.district.org', base_dn 'dc=district,dc=org', basedn 'x');

-- A password belongs in a user mapping, never in the server's options, and
-- is not echoed back.
CREATE SERVER with_password FOREIGN DATA WRAPPER pssync
  OPTIONS (uri 'ldap://ldap.district.org', base_dn 'dc=district,dc=org', password 'hunter2');
CREATE SERVER with_bind_dn FOREIGN DATA WRAPPER pssync
  OPTIONS (uri 'ldap://ldap.district.org', base_dn 'dc=district,dc=org', bind_dn 'cn=x');

-- Bad values, one option at a time.
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'http://ldap.district.org', base_dn 'dc=x');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a ldapi:///', base_dn 'dc=x');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://host/dc=x', base_dn 'dc=x');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri '  ', base_dn 'dc=x');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'not a dn');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn '');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', student_base_dn 'Students');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', uid_attr 'user id');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', staff_uid_attr 'uid)(uid=*');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', first_name_attr '');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', filter 'objectClass=person');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', filter '(objectClass=person))');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', filter '(a=1)(b=2)');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', filter '(cn=Tom (Jr))');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', filter '(&(objectClass=person)(!))');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', filter '(=person)');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', filter '(cn>=a*)');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', filter '(cn=a\2)');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', scope 'base');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', starttls 'maybe');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', ca_file 'ca.pem');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', timeout '0');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', timeout 'ten');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', page_size '0');
CREATE SERVER bad FOREIGN DATA WRAPPER pssync OPTIONS (uri 'ldap://a', base_dn 'dc=x', page_size '500.5');

-- ldaps:// is encrypted from the start; StartTLS is for ldap://.
CREATE SERVER bad FOREIGN DATA WRAPPER pssync
  OPTIONS (uri 'ldaps://dc1.district.org', base_dn 'dc=x', starttls 'true');

-- Every option at once, all valid.
CREATE SERVER full_options FOREIGN DATA WRAPPER pssync
  OPTIONS (uri 'ldaps://dc1.district.org ldaps://dc2.district.org:3269',
           base_dn 'DC=district,DC=org',
           student_base_dn 'OU=Students,DC=district,DC=org',
           staff_base_dn 'OU=Staff,DC=district,DC=org',
           uid_attr 'sAMAccountName',
           student_uid_attr 'userPrincipalName',
           staff_uid_attr 'mail',
           first_name_attr 'givenName',
           last_name_attr 'sn;lang-en',
           filter '(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))',
           scope 'one',
           starttls 'false',
           ca_file '/etc/ssl/certs/district-ca.pem',
           timeout '2.5',
           page_size '1000');
ALTER SERVER full_options OPTIONS (SET uid_attr '0.9.2342.19200300.100.1.1');
-- Filters as districts write them.
ALTER SERVER full_options OPTIONS (SET filter '(|(objectClass=inetOrgPerson)(objectClass=user))');
ALTER SERVER full_options OPTIONS (SET filter '(&(employeeType=student)(cn=*)(mail=*@district.org)(!(ou=Graduated)))');
ALTER SERVER full_options OPTIONS (SET filter '(&(memberOf:1.2.840.113556.1.4.1941:=cn=Staff,dc=district,dc=org)(cn=O\27Brien))');
ALTER SERVER full_options OPTIONS (SET uid_attr '0.9.02');
ALTER SERVER full_options OPTIONS (DROP uri);

-- User mappings take bind_dn and password; a password needs a bind_dn.
CREATE USER MAPPING FOR CURRENT_USER SERVER full_options OPTIONS (password 'hunter2');
CREATE USER MAPPING FOR CURRENT_USER SERVER full_options OPTIONS (bind_dn 'x', uri 'ldap://a');
CREATE USER MAPPING FOR CURRENT_USER SERVER full_options
  OPTIONS (bind_dn 'svc-pssync@district.org', password 'hunter2');
-- The wrapper itself takes no options.
ALTER FOREIGN DATA WRAPPER pssync OPTIONS (ADD timeout '5');

-- Which server a sync uses: the only pssync server, else pssync.server.
SELECT regress.error_of($$SELECT pssync.ldap_user_id_attribute('student')$$);
SET pssync.server = 'full_options';
SELECT pssync.ldap_user_id_attribute('student') AS student,
       pssync.ldap_user_id_attribute('teacher') AS teacher,
       pssync.ldap_user_id_attribute('staff') AS staff;
SET pssync.server = 'no_such_server';
SELECT regress.error_of($$SELECT pssync.ldap_user_id_attribute('student')$$);
RESET pssync.server;
DROP USER MAPPING FOR CURRENT_USER SERVER full_options;
DROP SERVER full_options;

-- A server of another wrapper is not a pssync server.
CREATE FOREIGN DATA WRAPPER other_wrapper;
CREATE SERVER other_server FOREIGN DATA WRAPPER other_wrapper;
SET pssync.server = 'other_server';
SELECT regress.error_of($$SELECT pssync.ldap_user_id_attribute('student')$$);
RESET pssync.server;
DROP SERVER other_server;
DROP FOREIGN DATA WRAPPER other_wrapper;

-- With no pssync server at all, the hint shows how to create one.
BEGIN;
DROP SERVER district_ldap CASCADE;
SELECT regress.full_error_of($$SELECT pssync.ldap_user_id_attribute('student')$$);
ROLLBACK;

-- The user ID attribute a sync would use: uid by default, else uid_attr,
-- else the group's own option.
SELECT pssync.ldap_user_id_attribute('student') AS student,
       pssync.ldap_user_id_attribute('staff') AS staff;
BEGIN;
ALTER SERVER district_ldap OPTIONS (ADD uid_attr 'mail');
SELECT pssync.ldap_user_id_attribute('student') AS student,
       pssync.ldap_user_id_attribute('staff') AS staff;
ALTER SERVER district_ldap OPTIONS (ADD staff_uid_attr 'employeeNumber');
SELECT pssync.ldap_user_id_attribute('student') AS student,
       pssync.ldap_user_id_attribute('teacher') AS teacher;
ROLLBACK;
SELECT pssync.ldap_user_id_attribute('parent');
SELECT pssync.ldap_user_id_attribute(NULL) IS NULL AS is_null;

-- The settings of pssync.
SELECT name, boot_val, short_desc FROM pg_settings WHERE name LIKE 'pssync.%' ORDER BY name;
SET pssync.no_such_setting = 'x';
