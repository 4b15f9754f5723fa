/* pssync--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pssync" to load this file. \quit

-- The directory is configured as a foreign server of this wrapper, its
-- credentials as a user mapping, as postgres_fdw and dblink do.
CREATE FUNCTION pssync_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER pssync
  VALIDATOR pssync_validator;

COMMENT ON FOREIGN DATA WRAPPER pssync IS
  'LDAP directories to synchronize PowerSchool usernames with';

CREATE TYPE sync_result AS (
  section text,          -- 'match' | 'exception'
  status text,           -- match: 'unchanged' | 'updated' | 'would_update'
                         -- exception: 'partial' | 'no_match' | 'ambiguous'
                         --            | 'no_uid' | 'conflict' | 'invalid_uid'
  record_type text,      -- 'student' | 'teacher' | 'staff'
  dcid bigint,
  first_name text,
  last_name text,
  field text,            -- username column checked; NULL on an exception
                         -- without an exact match
  old_username text,
  new_username text,     -- the directory's value, where one was found
  dn text,               -- the exact match's DN
  candidates text[]      -- DNs found for 'partial' and 'ambiguous', sorted
);

CREATE FUNCTION ldap_sync_students(selection regclass,
                                   uid_attr text DEFAULT NULL,
                                   dry_run boolean DEFAULT false)
RETURNS SETOF sync_result
AS 'MODULE_PATHNAME', 'pssync_ldap_sync_students'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;

CREATE FUNCTION ldap_sync_staff(selection regclass,
                                uid_attr text DEFAULT NULL,
                                dry_run boolean DEFAULT false)
RETURNS SETOF sync_result
AS 'MODULE_PATHNAME', 'pssync_ldap_sync_staff'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;

CREATE FUNCTION ldap_sync_district(scope text,
                                   uid_attr text DEFAULT NULL,
                                   dry_run boolean DEFAULT false)
RETURNS SETOF sync_result
AS 'MODULE_PATHNAME', 'pssync_ldap_sync_district'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;

CREATE FUNCTION ldap_user_id_attribute(record_type text)
RETURNS text
AS 'MODULE_PATHNAME', 'pssync_ldap_user_id_attribute'
LANGUAGE C STABLE STRICT;

COMMENT ON FUNCTION ldap_sync_students(regclass, text, boolean) IS
  'synchronize the usernames of the students whose dcid is in the selection with the LDAP directory';
COMMENT ON FUNCTION ldap_sync_staff(regclass, text, boolean) IS
  'synchronize the usernames of the teachers and staff whose dcid is in the selection with the LDAP directory';
COMMENT ON FUNCTION ldap_sync_district(text, text, boolean) IS
  'synchronize the usernames of a district-wide scope with the LDAP directory';
COMMENT ON FUNCTION ldap_user_id_attribute(text) IS
  'the LDAP attribute a sync of student, teacher or staff records reads the username from';
