-- The sample district of the Active Directory tests, PowerSchool's side
-- (the tables of test/fixtures/powerschool_schema.sql).  Its directory
-- side is test/ad/district.py; each record is there for one rule.
--
-- The directory's user ID is sAMAccountName; the last column of each line
-- says what a sync of the record should find.

INSERT INTO schools VALUES
    (100, 'Lincoln Elementary'),
    (200, 'Roosevelt High');

INSERT INTO students (dcid, id, student_number, schoolid, grade_level, enroll_status,
                      first_name, last_name, student_web_id) VALUES
    (1001, 1, 900001, 100, 3, 0, 'Ana', 'García', 'agarcia'),          -- unchanged, accented
    (1002, 2, 900002, 100, 4, 0, 'John', 'Smith', NULL),               -- blank -> jsmith
    (1003, 3, 900003, 200, 9, 0, 'Emily', 'Johnson', 'ejohnson_old'),  -- -> ejohnson
    (1004, 4, 900004, 200, 10, 0, 'Jordan', 'Doe', 'JDoe'),            -- -> jdoe: case counts
    (1005, 5, 900005, 200, 11, 0, 'Chris', 'Lee', NULL),               -- ambiguous: two users
    (1006, 6, 900006, 100, 5, 0, 'Katherine', 'Jones', NULL),          -- partial: Kate, Mark Jones
    (1007, 7, 900007, 100, 2, 0, 'Zed', 'Nobody', NULL),               -- no_match
    (1008, 8, 900008, 200, 12, 0, 'Pat', 'Nouid', 'pnouid'),           -- unchanged; no UPN
    (1009, 9, 900009, 200, 12, 0, 'Sam', 'Twouid', NULL),              -- -> stwouid; two uid values
    (1010, 10, 900010, 100, 1, 0, 'Mary', 'Brown', NULL),              -- conflict: 1011 holds mbrown
    (1011, 11, 900011, 100, 1, 2, 'Maria', 'Brown', 'mbrown'),         -- partial (Mary Brown)
    (1012, 12, 900012, 200, 9, 0, 'Siobhan', 'O''Brien', NULL),        -- apostrophe
    (1013, 13, 900013, 200, 10, 0, 'Mary-Jane', 'Watson-Parker', 'mjwp'), -- hyphens
    (1014, 14, 900014, 100, 3, 0, '*', '*', NULL),                     -- must not match everyone
    (1015, 15, 900015, 200, 11, 0, 'Robert (Bob)', 'Tables\Drop', NULL), -- ( ) \ in names
    (1016, 16, 900016, 100, 4, 0, 'ZOË', 'ÅNGSTRÖM', NULL),            -- AD folds case
    (1017, 17, 900017, 100, 5, 0, 'Li', 'Wei', 'lwei'),                -- unchanged; a laptop too
    (1018, 18, 900018, 200, 12, 3, 'Grace', 'Hopper', NULL),           -- in OU=Graduated
    (1019, 19, 900019, 200, 9, 0, 'Tom', 'Spacey', NULL),              -- invalid_uid: 'tom spacey'
    (1020, 20, 900020, 100, 2, 0, 'Ann', 'Blank', '   '),              -- white space is blank
    (1021, 21, 900021, 100, 2, 0, 'Luis', 'Staffonly', NULL),          -- only under OU=Staff
    (1022, 22, 900022, 200, 10, 0, 'Bea', 'Kaye', NULL),               -- "  Bea  " "KAYE   " below
    (1023, 23, 900023, 200, 11, 0, 'Nora', 'Longname', NULL),          -- a UPN too long
    (1024, 24, 900024, 100, 5, 0, 'Uma', 'Unnamed', NULL);             -- AD's made-up sAMAccountName
UPDATE students SET first_name = '  Bea  ', last_name = 'KAYE   ' WHERE dcid = 1022;

INSERT INTO users (dcid, homeschoolid, teachernumber, first_name, last_name, email_addr,
                   loginid, teacherloginid, psaccess, ptaccess) VALUES
    (2001, 100, 'T001', 'Alice', 'Teacher', NULL, NULL, NULL, 0, 1),          -- blank -> ateacher
    (2002, 200, 'T002', 'Bob', 'Principal', NULL, NULL, 'bprincipal', 1, 1),  -- admin access too
    (2003, 100, NULL, 'Carol', 'Clerk', NULL, 'cclerk_old', NULL, 1, 0),      -- -> cclerk; a contact too
    (2004, 100, NULL, 'Dan', 'Lunch', NULL, 'dlunch', NULL, 0, 0),            -- unchanged
    (2005, 200, NULL, 'Eve', 'Nomaps', NULL, NULL, NULL, 1, 0),               -- staff: no schoolstaff row
    (2006, 200, 'T006', 'Frank', 'Former', NULL, 'fformer', NULL, 0, 1),      -- a disabled namesake
    (2007, 100, NULL, 'Gina', 'Sub', NULL, 'gsub', NULL, 0, 1),               -- unchanged
    (2008, 200, 'T008', 'Chris', 'Lee', NULL, NULL, NULL, 0, 1),              -- the teacher Chris Lee
    (2009, 100, NULL, 'Hank', 'Dup', NULL, NULL, NULL, 0, 0),                 -- conflict: two records,
    (2010, 200, NULL, 'Hank', 'Dup', NULL, NULL, NULL, 0, 0),                 --   one user
    (2011, 100, 'T011', 'Ivy', 'Admin', NULL, 'iadmin', NULL, 1, 1),          -- blank teacherloginid
    (2012, 200, NULL, 'Jack', 'Ambig', NULL, NULL, NULL, 0, 0),               -- ambiguous
    (2013, 100, NULL, 'Kim', 'Partial', NULL, NULL, NULL, 0, 0),              -- partial (Kimberly)
    (2014, 200, 'T014', 'Leo', 'Missing', NULL, NULL, NULL, 0, 1),            -- no_match
    (2015, 100, NULL, 'Mia', 'Nouid', NULL, NULL, NULL, 0, 0),                -- -> mnouid
    (2016, 200, 'T016', 'Ned', 'Conflict', NULL, NULL, NULL, 1, 1),           -- 2017 holds nconflict
    (2017, 100, NULL, 'Olga', 'Oldaccount', NULL, '  ', 'nconflict', 0, 0),   -- no_match
    (2018, 100, 'T018', 'Pam', 'Plain', NULL, NULL, 'pplain', 0, 1);          -- unchanged

INSERT INTO schoolstaff (dcid, users_dcid, schoolid, staffstatus, status) VALUES
    (3001, 2001, 100, 1, 1),   -- teacher
    (3002, 2002, 200, 1, 1),   -- teacher with admin access
    (3003, 2003, 100, 2, 1),   -- staff
    (3004, 2004, 100, 3, 1),   -- lunch staff
                               -- 2005 has no schoolstaff row: staff
    (3006, 2006, 200, 1, 2),   -- a teacher, but not current: staff
    (3007, 2007, 100, 4, 1),   -- substitute: staff
    (3008, 2008, 200, 1, 1),
    (3009, 2009, 100, 2, 1),
    (3010, 2010, 200, 2, 1),
    (3011, 2011, 100, 1, 1),   -- teacher with admin access
    (3013, 2012, 200, 2, 1),
    (3014, 2013, 100, 0, 1),   -- not assigned: staff
    (3015, 2014, 200, 1, 1),
    (3016, 2015, 100, 2, 1),
    (3017, 2016, 200, 1, 1),
    (3018, 2017, 100, 2, 1),
    (3019, 2018, 100, 1, 1);
