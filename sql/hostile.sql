--
-- hostile: names that hold control characters, quotes and filter syntax
-- are only names.  Every value put into a filter is escaped with libldap's
-- ldap_bv2escaped_filter_value (RFC 4515).
--
-- The directory holds Ctrl<c>X Controls for every control character c
-- but NUL (which PostgreSQL's text cannot hold), and people whose names
-- hold quotes; each record below finds exactly its own entry.
--
BEGIN;
INSERT INTO students (dcid, first_name, last_name)
SELECT 9000 + c, 'Ctrl' || chr(c) || 'X', 'Controls' FROM generate_series(1, 31) c;
INSERT INTO students (dcid, first_name, last_name) VALUES
  (9101, 'Say "Hi"', 'Quote'),
  (9102, 'D''Arcy', 'O''Quote'),
  (9103, 'Ctrl', 'Controls'),          -- only a partial match
  (9104, 'Ctrl*X', 'Controls'),        -- a wildcard matches nothing
  (9105, E'Ctrl\\09X', 'Controls');     -- an escape sequence is only text
CREATE TEMP TABLE hostile AS SELECT dcid FROM students WHERE dcid BETWEEN 9000 AND 9199;

SELECT status, dcid, to_json(first_name) AS first_name, last_name, new_username,
       array_length(candidates, 1) AS candidates
  FROM pssync.ldap_sync_students('hostile', dry_run => true)
 ORDER BY dcid;

-- Every control character found its own entry, and only it.
SELECT count(*) FILTER (WHERE status = 'would_update'
                          AND new_username = 'ctrl' || to_char(dcid - 9000, 'FM00')) AS own_entry,
       count(*) AS records
  FROM pssync.ldap_sync_students('hostile', dry_run => true)
 WHERE dcid BETWEEN 9001 AND 9031;
ROLLBACK;

-- A user ID that holds a control character or white space cannot be a
-- username: invalid_uid, not stored.
BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES (9201, 'Uid', 'Control'), (9202, 'Tab', 'Control');
CREATE TEMP TABLE bad_uids (dcid) AS VALUES (9201), (9202);
SELECT status, dcid, to_json(new_username) AS new_username, dn
  FROM pssync.ldap_sync_students('bad_uids') ORDER BY dcid;
SELECT dcid, student_web_id FROM students WHERE dcid IN (9201, 9202) ORDER BY dcid;
ROLLBACK;
