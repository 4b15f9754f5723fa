--
-- ad_links: pssync 2.0's links against Active Directory, where an entry's
-- permanent ID is objectGUID (found from the root DSE's
-- supportedCapabilities: no entry_id_attr is set).  It is kept in the
-- string form Windows tools show and searched with an escaped binary
-- filter.  The administrator changes the directory between runs.
--
\setenv LDAPTLS_REQCERT never
BEGIN;
-- The first real run links the exact matches.
SELECT status, count(*) FROM pssync.ldap_sync_students('students') GROUP BY 1 ORDER BY 1;
SELECT dcid, dn, user_id, linked_by,
       entry_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' AS guid_form
  FROM pssync.links WHERE dcid IN (1002, 1003, 1017) ORDER BY dcid;

-- The GUID as Python's uuid module reads objectGUID's bytes (the first
-- three groups little endian) is the one pssync keeps.
\set guid `python3 test/ad/object_guid.py 'CN=John Smith,OU=Students,DC=district,DC=test'`
SELECT entry_id = :'guid' AS same_guid FROM pssync.links WHERE dcid = 1002;

-- The directory changes John Smith's last name and user ID, and Emily
-- Johnson's last name; PowerSchool changes Li Wei's.
\! ldapmodify -x -H ldap://127.0.0.1:389 -D Administrator@district.test -w "$PSSYNC_AD_PASSWORD" -f test/ad/links_changes.ldif >/dev/null && echo "the directory changed"
UPDATE students SET last_name = 'Wei-Chen' WHERE dcid = 1017;

-- Both strategies match them through their links (search with one
-- filter of the escaped binary GUIDs, (|(objectGUID=\xx...)...)), and give
-- the same rows.
CREATE TEMP TABLE by_search AS
SELECT * FROM pssync.ldap_sync_students('students', dry_run => true) WITH ORDINALITY;
SELECT matched_by, count(*) FROM by_search GROUP BY 1 ORDER BY 1;
SET LOCAL pssync.strategy = 'scan';
CREATE TEMP TABLE by_scan AS
SELECT * FROM pssync.ldap_sync_students('students', dry_run => true) WITH ORDINALITY;
SELECT (SELECT count(*) FROM (TABLE by_search EXCEPT ALL TABLE by_scan) d) AS only_search,
       (SELECT count(*) FROM (TABLE by_scan EXCEPT ALL TABLE by_search) d) AS only_scan;
SELECT status, dcid, first_name, last_name, new_username, matched_by
  FROM by_scan WHERE dcid IN (1002, 1003, 1017) ORDER BY dcid;
ROLLBACK;

-- The directory as it was.
\! ldapmodify -x -H ldap://127.0.0.1:389 -D Administrator@district.test -w "$PSSYNC_AD_PASSWORD" -f test/ad/links_restore.ldif >/dev/null && echo "the directory is as it was"
