--
-- invisible: a user ID that holds an invisible character (a format
-- character, Unicode category Cf, a separator other than a plain space,
-- Zs, Zl, Zp, or another character that renders as nothing: a variation
-- selector, the combining grapheme joiner, a Hangul filler) would make a
-- login that looks like another one:
-- "in<U+200B>visible" reads as "invisible".  Such a value is invalid_uid,
-- never stored, even where the record already holds it.
--
BEGIN;
INSERT INTO students (dcid, first_name, last_name)
SELECT 9300 + n, name, 'Invisible'
  FROM unnest(ARRAY['Zwsp', 'Nbsp', 'Bom', 'Shy', 'Rlo', 'Wordjoiner', 'Figurespace',
                    'Narrownbsp', 'Linesep', 'Mongolian', 'Tag', 'Ideographic',
                    'Filler', 'Selector', 'Cgj'])
       WITH ORDINALITY AS t(name, n);
INSERT INTO students (dcid, first_name, last_name) VALUES (9399, 'Jose', 'Visible');
CREATE TEMP TABLE invisible AS SELECT dcid FROM students WHERE dcid BETWEEN 9300 AND 9399;

-- Each is shown, with its code points, and none is stored.
SELECT s.status, s.dcid, s.first_name,
       (SELECT string_agg(CASE WHEN ascii(c) BETWEEN 33 AND 126 THEN c
                               ELSE 'U+' || upper(to_hex(ascii(c))) END, '' ORDER BY o)
          FROM regexp_split_to_table(s.new_username, '') WITH ORDINALITY AS x(c, o)) AS new_username
  FROM pssync.ldap_sync_students('invisible') s
 ORDER BY s.dcid;
SELECT count(*) AS stored FROM students WHERE dcid BETWEEN 9300 AND 9315 AND student_web_id IS NOT NULL;
-- a username outside ASCII is a username
SELECT student_web_id FROM students WHERE dcid = 9399;

-- A record that already holds such a value is told so, not "unchanged".
UPDATE students SET student_web_id = E'in\u200Bvisible1' WHERE dcid = 9301;
SELECT status, dcid, field, new_username = old_username AS holds_it
  FROM pssync.ldap_sync_students('invisible', dry_run => true)
 WHERE dcid = 9301;
ROLLBACK;
