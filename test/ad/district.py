#!/usr/bin/env python3
"""district.py: the sample district as Active Directory objects.

    PSSYNC_AD_PASSWORD=... python3 test/ad/district.py > district.ldif

Writes LDIF for ldbadd into the sam.ldb of a freshly provisioned domain
DISTRICT.TEST (DC=district,DC=test).  Its PowerSchool side is
test/ad/district.sql; the comment on each entry says which record it is
there for and what pssync should make of it.

    OU=Students            students, searched by student_base_dn
      OU=Graduated         one student one level down (scope 'sub' vs 'one')
      OU=Laptops           a computer named after a student
      OU=Class of 2030     1,500 students, all with the surname "Many"
    OU=Staff               teachers and staff, searched by staff_base_dn
      OU=Former Staff      a disabled account with a current teacher's name
    OU=Service Accounts    the accounts pssync binds as

Accounts without a password are created enabled (userAccountControl 544:
a normal account that needs no password), as an import would; the service
accounts get PSSYNC_AD_PASSWORD.  Everything is plain ASCII LDIF except the
names, which ldbadd reads as UTF-8.
"""

import base64
import os
import sys

BASE = "DC=district,DC=test"
REALM = "district.test"
BULK = 1500

STUDENTS = "OU=Students," + BASE
STAFF = "OU=Staff," + BASE
SERVICES = "OU=Service Accounts," + BASE

out = []


def value(attr, v):
    """One attribute line; base64 where LDIF needs it."""
    if isinstance(v, int):
        v = str(v)
    raw = v.encode("utf-8")
    if (not raw or raw[0] in b" :<" or raw[-1:] == b" " or
            any(b < 0x20 or b > 0x7e for b in raw)):
        return "%s:: %s" % (attr, base64.b64encode(raw).decode("ascii"))
    return "%s: %s" % (attr, v)


def entry(dn, *attrs):
    lines = [value("dn", dn)]
    for attr, v in attrs:
        if v is None:
            continue
        for one in (v if isinstance(v, list) else [v]):
            lines.append(value(attr, one))
    out.append("\n".join(lines) + "\n")


def ou(dn):
    entry(dn, ("objectClass", "organizationalUnit"))


def rdn_value(s):
    """An RDN value with the characters a DN escapes escaped."""
    for c in '\\,+"<>;=#':
        s = s.replace(c, "\\" + c)
    return s


def person(ou_dn, given, sn, sam, upn=True, uid=None, mail=None, cn=None,
           uac=544, object_class="user", employee_id=None):
    """A user object as a district's import makes it."""
    cn = cn or ("%s %s" % (given, sn))
    entry("CN=%s,%s" % (rdn_value(cn), ou_dn),
          ("objectClass", object_class),
          ("givenName", given),
          ("sn", sn),
          ("displayName", "%s %s" % (given, sn)),
          ("sAMAccountName", sam),
          ("userPrincipalName", ("%s@%s" % (sam, REALM)) if upn is True else upn or None),
          ("uid", uid),
          ("mail", mail),
          ("employeeID", employee_id),
          ("userAccountControl", uac))


def unicode_pwd(password):
    return base64.b64encode(('"%s"' % password).encode("utf-16-le")).decode("ascii")


def service_account(name, password, uac=66048, extra=()):
    """66048: a normal account whose password does not expire; 66050: and disabled."""
    entry("CN=%s,%s" % (name, SERVICES),
          ("objectClass", "user"),
          ("sAMAccountName", name),
          ("userPrincipalName", "%s@%s" % (name, REALM)),
          ("description", "service account of the PowerSchool username sync"),
          ("userAccountControl", uac),
          *extra)
    out[-1] = out[-1] + "unicodePwd:: %s\n" % unicode_pwd(password)


def main():
    password = os.environ.get("PSSYNC_AD_PASSWORD")
    if not password:
        sys.stderr.write("PSSYNC_AD_PASSWORD is not set\n")
        return 2

    for dn in (STUDENTS, "OU=Graduated," + STUDENTS, "OU=Laptops," + STUDENTS,
               "OU=Class of 2030," + STUDENTS, STAFF, "OU=Former Staff," + STAFF,
               SERVICES):
        ou(dn)

    # --- students (test/ad/district.sql, dcid 1001-1024) --------------------
    # employeeID: the student number (or teacher number) of some, for
    # matching by ID (ad_id_matching); two Jack Ambigs share one.
    person(STUDENTS, "Ana", "García", "agarcia", mail="agarcia@district.test",  # 1001 unchanged,
           employee_id="900001")                                        #      accented
    person(STUDENTS, "John", "Smith", "jsmith", employee_id="900002")    # 1002 blank -> jsmith
    person(STUDENTS, "Emily", "Johnson", "ejohnson")                     # 1003 ejohnson_old -> ejohnson
    person(STUDENTS, "Jordan", "Doe", "jdoe")                            # 1004 JDoe -> jdoe: case counts
    person(STUDENTS, "Chris", "Lee", "clee1", cn="Chris Lee (1)",        # 1005 ambiguous ...
           employee_id="900005")
    person(STUDENTS, "Chris", "Lee", "clee2", cn="Chris Lee (2)")        #      ... two users
    person(STUDENTS, "Kate", "Jones", "kjones", employee_id="900006")    # 1006 Katherine: partial ...
    person(STUDENTS, "Mark", "Jones", "mjones")                          #      ... two Joneses
    person(STUDENTS, "Pat", "Nouid", "pnouid", upn=None)                 # 1008 no userPrincipalName
    person(STUDENTS, "Sam", "Twouid", "stwouid", uid=["stwouid", "samt"])  # 1009 two uid values
    person(STUDENTS, "Mary", "Brown", "mbrown")                          # 1010 conflict: 1011 holds mbrown
    person(STUDENTS, "Siobhan", "O'Brien", "sobrien")                    # 1012 apostrophe
    person(STUDENTS, "Mary-Jane", "Watson-Parker", "mjwatsonparker")     # 1013 hyphens
    person(STUDENTS, "*", "Smith", "starsmith", cn="Star Smith")         # 1014 "*" must only match "*" ...
    person(STUDENTS, "John", "*", "johnstar", cn="John Star")            #      ... literally
    person(STUDENTS, "Robert (Bob)", "Tables\\Drop", "rtables")          # 1015 ( ) \ in names and the CN
    person(STUDENTS, "Zoë", "Ångström", "zangstrom")                     # 1016 written ZOË ÅNGSTRÖM
    person(STUDENTS, "Li", "Wei", "lwei", uid="lwei")                    # 1017 unchanged
    person("OU=Graduated," + STUDENTS, "Grace", "Hopper", "ghopper")     # 1018 one level down
    person(STUDENTS, "Tom", "Spacey", "tom spacey",                      # 1019 AD allows the space:
           upn="tom.spacey@district.test")                               #      invalid_uid
    person(STUDENTS, "Ann", "Blank", "ablank")                           # 1020 '   ' is blank
    person(STAFF, "Luis", "Staffonly", "lstaffonly")                     # 1021 only under OU=Staff
    person(STUDENTS, "Bea", "Kaye", "bkaye")                             # 1022 white space around names
    person(STUDENTS, "Nora", "Longname", "nlongname",                    # 1023 a UPN too long for
           upn="nora.longname-with-a-long-upn@district.test")            #      student_web_id (40)
    # 1024: an account created without a sAMAccountName; AD (and Samba)
    # then make one up, "$" and random characters.  Fixed here to be stable.
    person(STUDENTS, "Uma", "Unnamed", "$K5D000-P1TLG3MVA5LA", upn=None)
    # A computer named after its student: objectClass user (and person),
    # objectCategory computer.  The district filter keeps it out.
    entry("CN=LWEI-LAPTOP,OU=Laptops," + STUDENTS,
          ("objectClass", "computer"),
          ("givenName", "Li"),
          ("sn", "Wei"),
          ("sAMAccountName", "LWEI-LAPTOP$"),
          ("dNSHostName", "lwei-laptop." + REALM),
          ("userAccountControl", 4096))

    # --- staff (test/ad/district.sql, dcid 2001-2018) -----------------------
    person(STAFF, "Alice", "Teacher", "ateacher", employee_id="T001")    # 2001 blank teacherloginid
    person(STAFF, "Bob", "Principal", "bprincipal")                      # 2002 teacher with admin access
    person(STAFF, "Carol", "Clerk", "cclerk")                            # 2003 cclerk_old -> cclerk
    # ... and a contact of the same name (objectCategory person, not a
    # user): the district filter keeps it out too.
    entry("CN=Carol Clerk (vendor),OU=Staff," + BASE,
          ("objectClass", "contact"),
          ("givenName", "Carol"),
          ("sn", "Clerk"),
          ("mail", "carol.clerk@vendor.example"))
    person(STAFF, "Dan", "Lunch ", "dlunch", cn="Dan Lunch")             # 2004 unchanged; a space
                                                                         #      was typed after sn
    person(STAFF, "Eve", "Nomaps", "enomaps")                            # 2005 no schoolstaff row: staff
    person(STAFF, "Frank", "Former", "fformer")                          # 2006 unchanged ...
    person("OU=Former Staff," + STAFF, "Frank", "Former", "fformer.old",  # ... and a disabled
           cn="Frank Former (old)", uac=546)                             #     account of his name
    person(STAFF, "Gina", "Sub", "gsub", cn="Sub, Gina")                 # 2007 unchanged; "Last, First"
    person(STAFF, "Chris", "Lee", "chris.lee")                           # 2008 the teacher Chris Lee
    person(STAFF, "Hank", "Dup", "hdup")                                 # 2009, 2010: one entry, two records
    person(STAFF, "Ivy", "Admin", "iadmin")                              # 2011 blank teacherloginid
    person(STAFF, "Jack", "Ambig", "jambig1", cn="Jack Ambig (1)",       # 2012 ambiguous
           employee_id="T012")
    person(STAFF, "Jack", "Ambig", "jambig2", cn="Jack Ambig (2)",
           employee_id="T012")
    person(STAFF, "Kimberly", "Partial", "kpartial")                     # 2013 Kim: partial
    person(STAFF, "Mia", "Nouid", "mnouid", upn=None)                    # 2015
    person(STAFF, "Ned", "Conflict", "nconflict")                        # 2016 2017 holds nconflict
    person(STAFF, "Pam", "Plain", "pplain")                              # 2018 unchanged

    # --- 1,500 students under one OU and one surname ------------------------
    # (test/ad/sql/ad_paging.sql): more than AD's MaxPageSize of 1000.
    for i in range(1, BULK + 1):
        person("OU=Class of 2030," + STUDENTS, "Pupil%04d" % i, "Many", "many%04d" % i)

    # --- the accounts pssync binds as ----------------------------------------
    service_account("svc-pssync", password)
    service_account("svc-disabled", password, uac=66050)
    service_account("svc-expired", password, uac=512)       # pwdLastSet set back by samba.sh
    service_account("svc-mustchange", password, uac=512,
                    extra=[("pwdLastSet", 0)])               # "must change password at next logon"
    service_account("svc-locked", password)                  # locked out by ad_bind.sql itself
    service_account("svc-acctexpired", password,
                    extra=[("accountExpires", 1)])           # expired in 1601
    # Locks svc-locked out after one wrong password, for ten minutes.
    entry("CN=lock-after-one,CN=Password Settings Container,CN=System," + BASE,
          ("objectClass", "msDS-PasswordSettings"),
          ("msDS-PasswordSettingsPrecedence", 1),
          ("msDS-PasswordReversibleEncryptionEnabled", "FALSE"),
          ("msDS-PasswordHistoryLength", 0),
          ("msDS-PasswordComplexityEnabled", "FALSE"),
          ("msDS-MinimumPasswordLength", 0),
          ("msDS-MinimumPasswordAge", 0),
          ("msDS-MaximumPasswordAge", 0),
          ("msDS-LockoutThreshold", 1),
          ("msDS-LockoutObservationWindow", -6000000000),
          ("msDS-LockoutDuration", -6000000000),
          ("msDS-PSOAppliesTo", "CN=svc-locked," + SERVICES))

    sys.stdout.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
