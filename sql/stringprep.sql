--
-- stringprep: "scan" answers from its index only where it is certain,
-- whatever the directory's matching rules: RFC 4518's string preparation
-- deletes most control characters ("Ann<U+0001>a" is "Anna"), makes
-- U+0085, U+1680, U+2028 and U+2029 spaces, and full case folding makes
-- "ß" "ss".  Names with each of these, against the directory's own
-- answers: the rows of "scan" are those of "search".  The same for
-- entries whose names the bind account may search but not read: the scan
-- reads them without names, and must not take that for an answer.
--
CREATE FUNCTION regress.compare_strategies(selection regclass)
RETURNS TABLE (search_rows bigint, scan_rows bigint, only_search bigint, only_scan bigint)
LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL pssync.strategy = 'search';
  CREATE TEMP TABLE by_search ON COMMIT DROP AS
  SELECT * FROM pssync.ldap_sync_students(selection, dry_run => true) WITH ORDINALITY;
  SET LOCAL pssync.strategy = 'scan';
  CREATE TEMP TABLE by_scan ON COMMIT DROP AS
  SELECT * FROM pssync.ldap_sync_students(selection, dry_run => true) WITH ORDINALITY;
  RETURN QUERY
  SELECT (SELECT count(*) FROM by_search), (SELECT count(*) FROM by_scan),
         (SELECT count(*) FROM (TABLE by_search EXCEPT ALL TABLE by_scan) d),
         (SELECT count(*) FROM (TABLE by_scan EXCEPT ALL TABLE by_search) d);
END $$;

BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES
  (9401, 'Anna', 'Prep'),
  (9402, 'Ann a', 'Prep'),
  (9403, 'ANN A', 'Prep'),
  (9404, E'Ann\u0001a', 'Prep'),
  (9405, E'Ann\u0085a', 'Prep'),
  (9406, E'Ann\u1680a', 'Prep'),
  (9407, E'Ann\u2028a', 'Prep'),
  (9408, E'Ann\u00A0a', 'Prep'),
  (9409, E'Ann\u200Ba', 'Prep'),
  (9410, E'Ann\ta', 'Prep'),
  (9411, 'Hans', 'Strauss'),
  (9412, 'Hans', 'Strauß'),
  (9413, 'Hanna', 'Strauß'),
  (9414, 'Jorg', 'Weiß'),
  (9415, 'Jörg', 'Weiss'),
  (9416, 'Lea', 'Fuss'),
  (9417, 'Max', 'GROSS'),
  (9418, 'Max', 'Groß'),
  (9419, 'Nula', 'Prep');
CREATE TEMP TABLE stringprep AS SELECT dcid FROM students WHERE dcid BETWEEN 9401 AND 9499;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Stringprep,dc=district,dc=org');

SELECT * FROM regress.compare_strategies('stringprep');
-- each character outside printable ASCII shown as <U+XXXX>, so that the
-- output reads the same whatever width a terminal gives it
CREATE FUNCTION regress.visible(name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(CASE WHEN ascii(c) BETWEEN 32 AND 126 THEN c
                         ELSE format('<U+%s>', upper(lpad(to_hex(ascii(c)), 4, '0'))) END,
                    '' ORDER BY n)
    FROM regexp_split_to_table(name, '') WITH ORDINALITY AS chars(c, n)
$$;
-- the directory's answers, as both strategies give them
SELECT status, dcid, regress.visible(first_name) AS first_name, last_name, new_username,
       array_length(candidates, 1) AS candidates
  FROM pssync.ldap_sync_students('stringprep', dry_run => true)
 ORDER BY dcid;
ROLLBACK;

-- Names the bind account may search but not read: under ou=NoFirst the
-- first name, under ou=NoLast the last name.  The scan reads those
-- entries without them, asks the directory which entries really lack
-- them (Nofirst Hidden has no first name at all), and asks about the
-- records the others could match.
BEGIN;
INSERT INTO students (dcid, first_name, last_name) VALUES
  (9501, 'Hedy', 'Hidden'),
  (9502, 'Hedwig', 'Lamarr'),
  (9503, 'Hal', 'Visible'),
  (9504, 'Nobody', 'Hidden');
CREATE TEMP TABLE hidden AS SELECT dcid FROM students WHERE dcid BETWEEN 9501 AND 9599;
ALTER SERVER district_ldap OPTIONS (SET student_base_dn 'ou=Hidden,dc=district,dc=org');
SELECT * FROM regress.compare_strategies('hidden');
SELECT status, dcid, first_name, last_name, new_username, candidates
  FROM pssync.ldap_sync_students('hidden', dry_run => true)
 ORDER BY dcid;
ROLLBACK;

DROP FUNCTION regress.compare_strategies(regclass);
