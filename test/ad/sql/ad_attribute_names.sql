--
-- ad_attribute_names: the user ID attribute named otherwise than AD
-- names it in its answers: in another case, or by its OID.
--
-- AD answers with the attribute's LDAP display name (sAMAccountName)
-- whatever it was asked for by.  Both strategies must read the value:
-- search asks for one attribute; scan asks for three (the names and the
-- user ID) and must tell them apart, through the directory's schema when
-- the names differ.  1.2.840.113556.1.4.221 is sAMAccountName's OID.
--
CREATE FUNCTION pg_temp.student_rows(uid_attr text) RETURNS text[]
LANGUAGE sql AS $$
  SELECT array_agg(row(status, dcid, field, new_username, dn)::text ORDER BY dcid, field)
    FROM pssync.ldap_sync_students('students', uid_attr, dry_run => true)
$$;

CREATE TEMP TABLE baseline AS SELECT pg_temp.student_rows('sAMAccountName') AS rows;

SET pssync.strategy = 'search';
SELECT 'search' AS strategy, a AS uid_attr,
       pg_temp.student_rows(a) = (SELECT rows FROM baseline) AS same_rows
  FROM unnest(ARRAY['samaccountname', 'SAMACCOUNTNAME', '1.2.840.113556.1.4.221']) a;

SET pssync.strategy = 'scan';
SELECT 'scan' AS strategy, a AS uid_attr,
       pg_temp.student_rows(a) = (SELECT rows FROM baseline) AS same_rows
  FROM unnest(ARRAY['samaccountname', 'SAMACCOUNTNAME']) a;
-- By OID, which needs the schema (read while the scan's first page is
-- being delivered).
SELECT 'scan' AS strategy, '1.2.840.113556.1.4.221' AS uid_attr,
       pg_temp.student_rows('1.2.840.113556.1.4.221') = (SELECT rows FROM baseline) AS same_rows;
RESET pssync.strategy;
