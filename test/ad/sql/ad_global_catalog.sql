--
-- ad_global_catalog: a multi-domain forest is searched through the Global
-- Catalog (port 3268, or 3269 for TLS) with base_dn at the forest root.
-- The Global Catalog carries a partial set of each object's attributes:
-- givenName, sn, sAMAccountName, userPrincipalName and objectGUID among
-- them, so names, user IDs and links work as through a domain
-- controller's own port; employeeID is not among them unless the forest
-- adds it (the README says what to do then).
--
-- Samba's AD DC answers on 3268 for the forest of DISTRICT.TEST (one
-- domain here; Samba's Global Catalog returns every attribute of its own
-- domain, so the partial attribute set cannot be shown here).  The server
-- forest_gc reaches it directly.
--
\getenv gc_uri PSSYNC_AD_GC_URI
\getenv ad_password PSSYNC_AD_PASSWORD
CREATE SERVER forest_gc FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'gc_uri',
           base_dn 'DC=district,DC=test',
           student_base_dn 'OU=Students,DC=district,DC=test',
           staff_base_dn 'OU=Staff,DC=district,DC=test',
           uid_attr 'sAMAccountName',
           filter '(&(objectCategory=person)(objectClass=user))');
CREATE USER MAPPING FOR PUBLIC SERVER forest_gc
  OPTIONS (bind_dn 'svc-pssync@district.test', password :'ad_password');

-- The same rows through the Global Catalog as through the domain's own
-- port, by both strategies, for students and for teachers and staff.
CREATE FUNCTION pg_temp.rows_of(server text, strategy text, scope text) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  result text[];
BEGIN
  PERFORM set_config('pssync.server', server, true);
  PERFORM set_config('pssync.strategy', strategy, true);
  SELECT array_agg(row(section, status, record_type, dcid, field, old_username,
                       new_username, dn, candidates)::text ORDER BY dcid, field)
    INTO result
    FROM pssync.ldap_sync_district(scope, dry_run => true);
  RETURN result;
END $$;
BEGIN;
SELECT scope, strategy,
       cardinality(pg_temp.rows_of('forest_gc', strategy, scope)) AS rows,
       pg_temp.rows_of('forest_gc', strategy, scope)
         = pg_temp.rows_of('district_ad', strategy, scope) AS same_as_the_domain_port
  FROM unnest(ARRAY['students', 'teachers', 'staff']) scope,
       unnest(ARRAY['search', 'scan']) strategy
 ORDER BY scope, strategy;
ROLLBACK;

-- The forest root as every group's base: the whole forest's people.
BEGIN;
SET LOCAL pssync.server = 'forest_gc';
ALTER SERVER forest_gc OPTIONS (DROP student_base_dn, DROP staff_base_dn);
SELECT dn, user_id FROM pssync.ldap_lookup('Smith') ORDER BY dn;
ROLLBACK;

-- Links: objectGUID is in the Global Catalog.  A real run links what it
-- matches, and the next run matches through the links.
BEGIN;
SET LOCAL pssync.server = 'forest_gc';
SELECT count(*) FILTER (WHERE matched_by = 'name') > 0 AS by_name
  FROM pssync.ldap_sync_district('students') WHERE section = 'match';
SELECT count(*) FILTER (WHERE matched_by = 'link') = count(*) AS all_by_link
  FROM pssync.ldap_sync_district('students') WHERE section = 'match';
ROLLBACK;

-- userPrincipalName is in the Global Catalog too: the same user IDs by it.
CREATE FUNCTION pg_temp.user_ids(server text, uid_attr text) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  result text[];
BEGIN
  PERFORM set_config('pssync.server', server, true);
  SELECT array_agg(new_username ORDER BY dcid) INTO result
    FROM pssync.ldap_sync_district('students', uid_attr, dry_run => true);
  RETURN result;
END $$;
BEGIN;
SELECT cardinality(pg_temp.user_ids('forest_gc', 'userPrincipalName')) AS user_ids,
       pg_temp.user_ids('forest_gc', 'userPrincipalName')
         = pg_temp.user_ids('district_ad', 'userPrincipalName') AS same_as_the_domain_port;
ROLLBACK;

DROP USER MAPPING FOR PUBLIC SERVER forest_gc;
DROP SERVER forest_gc;
