#!/usr/bin/env python3
"""Random changes to both sides of a small district, for changes_random.sh.

    changes_random.py init STATE SEED [ad] the directory (LDIF) and the
                                           PowerSchool records (SQL), in
                                           STATE.ldif and STATE.sql; "ad":
                                           an Active Directory's entries
                                           (user objects under
                                           DC=district,DC=test, LDIF to
                                           add with ldapmodify -a)
    changes_random.py round STATE N        round N's changes: STATE.ldif
                                           (for ldapmodify -c) and
                                           STATE.sql

The directory's model (every entry under ou=Rand, ou=RandStaff and
ou=RandAway, which is outside both base DNs) is kept in STATE (JSON).  Names
come from small pools, so that records share last names (partial matches),
both names (ambiguous ones) and user IDs (conflicts).  PowerSchool's side
is changed by SQL that picks its rows by a hash of the round, so that a
seed gives the same run.
"""
import base64
import json
import os
import random
import sys

FIRST = ["Ann", "Bob", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo"]
LAST = ["Lee", "Kim", "Park", "Diaz", "Ng", "Roe", "Fox", "Yu"]
if os.environ.get("CHANGES_NAMES") == "awkward":
    # names a district has: accents spelt or not, apostrophes, hyphens,
    # particles, nicknames, names one letter apart
    FIRST = ["Ann", "Anne", "Bob", "Robert", "José", "Jose", "Mary-Ann", "Maryann",
             "Zoë", "Zoe", "Chris"]
    LAST = ["O'Brien", "OBrien", "O Brien", "García", "Garcia", "Nguyen-Tran", "Nguyen",
            "van der Berg", "Vanderberg", "Smith", "Smyth", "Müller", "Mueller"]
OUS = ["Rand", "RandStaff", "RandAway"]
STUDENTS = 60
# CHANGES_OUTSIDE=1: rows that hold usernames outside every run's records
# as well: students that pssync.students_table (a view of the enrolled)
# hides, and excluded records; each round may also enroll or graduate a
# student, exclude or include a record, and change the username of a row
# outside.  Those changes come from a generator of their own, so the
# other changes of a seed stay what they were.
OUTSIDE = os.environ.get("CHANGES_OUTSIDE") == "1"
USERS = 30


# The directory's suffix, and its entries' object class: OpenLDAP's
# inetOrgPerson, or Active Directory's user (set by init, kept in STATE).
SUFFIX = {"openldap": "dc=district,dc=org", "ad": "DC=district,DC=test"}
FLAVOR = "openldap"


def ou_dn(ou):
    return "ou=%s,%s" % (ou, SUFFIX[FLAVOR])


def dn(entry):
    return "cn=%s,%s" % (entry["rdn"], ou_dn(entry["ou"]))


def ldif_line(attr, value):
    """attr: value, in base64 where LDIF asks for it (not ASCII)."""
    if value.isascii():
        return "%s: %s" % (attr, value)
    return "%s:: %s" % (attr, base64.b64encode(value.encode()).decode())


def q(value):
    """A string as an SQL literal's contents."""
    return value.replace("'", "''")


def ldif_entry(entry, change=False):
    """The entry in LDIF: for slapadd (or ldapmodify -a), or as a change
    record for ldapmodify."""
    lines = ["dn: " + dn(entry)]
    if change:
        lines.append("changetype: add")
    if FLAVOR == "ad":
        # AD names cn after the RDN itself; sAMAccountName is unique,
        # and stays what it was when the entry is renamed
        lines += ["objectClass: user", "sAMAccountName: " + entry["rdn"]]
    else:
        lines += ["objectClass: inetOrgPerson", "cn: " + entry["rdn"]]
    lines.append(ldif_line("sn", entry["sn"]))
    if entry.get("givenName"):
        lines.append(ldif_line("givenName", entry["givenName"]))
    for uid in entry["uid"]:
        lines.append("uid: " + uid)
    if entry.get("employeeNumber"):
        lines.append("employeeNumber: " + entry["employeeNumber"])
    return "\n".join(lines) + "\n\n"


def name_variant(rng, name):
    """A name as the directory or PowerSchool may spell it otherwise."""
    r = rng.random()
    if r < 0.1:
        return name.upper()
    if r < 0.15:
        return " " + name + " "
    return name


def new_uid(rng, state):
    r = rng.random()
    taken = [u for e in state["entries"].values() for u in e["uid"]]
    if r < 0.15 and taken:
        return rng.choice(taken)            # a user ID two entries hold
    if r < 0.2:
        return "bad uid%d" % rng.randrange(100)  # invalid: a space
    state["next_uid"] += 1
    return "u%d" % state["next_uid"]


def new_entry(rng, state, ou):
    state["next_rdn"] += 1
    entry = {"rdn": "p%d" % state["next_rdn"], "ou": ou,
             "sn": name_variant(rng, rng.choice(LAST)),
             "givenName": rng.choice(FIRST) if rng.random() > 0.05 else None,
             "uid": [new_uid(rng, state)] if rng.random() > 0.05 else []}
    if ou == "Rand" and rng.random() < 0.2:
        entry["employeeNumber"] = str(70000 + rng.randrange(STUDENTS + 20))
    state["entries"][entry["rdn"]] = entry
    return entry


def init(path, seed, flavor):
    global FLAVOR
    FLAVOR = flavor
    rng = random.Random(seed)
    state = {"seed": seed, "flavor": flavor, "next_uid": 0, "next_rdn": 0, "entries": {}}
    out = []
    for ou in OUS:
        out.append("dn: %s\nobjectClass: organizationalUnit\nou: %s\n\n" % (ou_dn(ou), ou))
    for i in range(STUDENTS + 20):
        out.append(ldif_entry(new_entry(rng, state, "Rand")))
    for i in range(USERS + 10):
        out.append(ldif_entry(new_entry(rng, state, "RandStaff")))
    for i in range(10):
        out.append(ldif_entry(new_entry(rng, state, "RandAway")))
    open(path + ".ldif", "w").write("".join(out))

    sql = ["DELETE FROM schoolstaff; DELETE FROM users; DELETE FROM students;"]
    for i in range(STUDENTS):
        web_id = rng.choice(["NULL", "NULL", "'u%d'" % rng.randrange(1, 120)])
        sql.append("INSERT INTO students (dcid, student_number, first_name, last_name, student_web_id)"
                   " SELECT %d, %d, '%s', '%s', %s WHERE NOT EXISTS"
                   " (SELECT 1 FROM students WHERE student_web_id = %s);"
                   % (50000 + i, 70000 + i, q(rng.choice(FIRST)), q(rng.choice(LAST)), web_id, web_id))
    for i in range(USERS):
        sql.append("INSERT INTO users (dcid, first_name, last_name, psaccess) VALUES (%d, '%s', '%s', %d);"
                   % (60000 + i, q(rng.choice(FIRST)), q(rng.choice(LAST)), rng.random() < 0.3))
        if rng.random() < 0.5:
            sql.append("INSERT INTO schoolstaff (dcid, users_dcid, staffstatus, status) VALUES (%d, %d, 1, 1);"
                       % (60000 + i, 60000 + i))
    if OUTSIDE:
        state["outside"] = True
        sql.append("UPDATE students SET enroll_status = 3 WHERE dcid % 7 = 0;")
        sql.append("SELECT pssync.ldap_exclude('student', dcid, 'outside') FROM students WHERE dcid % 11 = 0 AND enroll_status = 0;")
        sql.append("SELECT pssync.ldap_exclude('staff', dcid, 'outside') FROM users WHERE dcid % 9 = 0;")
    open(path + ".sql", "w").write("\n".join(sql) + "\n")
    json.dump(state, open(path, "w"))


def directory_change(rng, state, out):
    entries = list(state["entries"].values())
    kind = rng.choice(["add", "add", "delete", "sn", "givenName", "uid", "uid",
                       "rename", "move", "employeeNumber"])
    if kind == "add" or not entries:
        out.append(ldif_entry(new_entry(rng, state, rng.choice(["Rand", "Rand", "RandStaff"])),
                              change=True))
        return
    entry = rng.choice(entries)
    if kind == "delete":
        out.append("dn: %s\nchangetype: delete\n\n" % dn(entry))
        del state["entries"][entry["rdn"]]
    elif kind == "sn":
        entry["sn"] = name_variant(rng, rng.choice(LAST))
        out.append("dn: %s\nchangetype: modify\nreplace: sn\n%s\n\n" % (dn(entry), ldif_line("sn", entry["sn"])))
    elif kind == "givenName":
        entry["givenName"] = name_variant(rng, rng.choice(FIRST))
        out.append("dn: %s\nchangetype: modify\nreplace: givenName\n%s\n\n"
                   % (dn(entry), ldif_line("givenName", entry["givenName"])))
    elif kind == "uid":
        r = rng.random()
        if r < 0.15:
            entry["uid"] = []
        elif r < 0.25:
            entry["uid"] = entry["uid"] + [new_uid(rng, state)]
        else:
            entry["uid"] = [new_uid(rng, state)]
        entry["uid"] = sorted(set(entry["uid"]))
        out.append("dn: %s\nchangetype: modify\nreplace: uid\n%s\n"
                   % (dn(entry), "".join("uid: %s\n" % u for u in entry["uid"])))
    elif kind == "rename":
        state["next_rdn"] += 1
        old = dn(entry)
        del state["entries"][entry["rdn"]]
        entry["rdn"] = "p%d" % state["next_rdn"]
        state["entries"][entry["rdn"]] = entry
        out.append("dn: %s\nchangetype: modrdn\nnewrdn: cn=%s\ndeleteoldrdn: 1\n\n" % (old, entry["rdn"]))
    elif kind == "move":
        old = dn(entry)
        entry["ou"] = rng.choice([o for o in OUS if o != entry["ou"]])
        out.append("dn: %s\nchangetype: modrdn\nnewrdn: cn=%s\ndeleteoldrdn: 1\nnewsuperior: %s\n\n"
                   % (old, entry["rdn"], ou_dn(entry["ou"])))
    elif kind == "employeeNumber":
        if entry.get("employeeNumber"):
            del entry["employeeNumber"]
            out.append("dn: %s\nchangetype: modify\ndelete: employeeNumber\n\n" % dn(entry))
        else:
            entry["employeeNumber"] = str(70000 + rng.randrange(STUDENTS + 20))
            out.append("dn: %s\nchangetype: modify\nreplace: employeeNumber\nemployeeNumber: %s\n\n"
                       % (dn(entry), entry["employeeNumber"]))


def pick(table, salt):
    """SQL: the dcid of a row of table, chosen by a hash of salt."""
    return "(SELECT dcid FROM %s ORDER BY md5(dcid::text || '%s') LIMIT 1)" % (table, salt)


def powerschool_change(rng, n, k, out):
    salt = "r%dk%d" % (n, k)
    table = rng.choice(["students", "students", "users"])
    kind = rng.choice(["first", "last", "last", "username", "username", "insert", "delete",
                       "teacher", "psaccess"])
    if kind in ("teacher", "psaccess"):
        table = "users"
    if kind == "first":
        out.append("UPDATE %s SET first_name = '%s' WHERE dcid = %s;"
                   % (table, q(name_variant(rng, rng.choice(FIRST))), pick(table, salt)))
    elif kind == "last":
        out.append("UPDATE %s SET last_name = '%s' WHERE dcid = %s;"
                   % (table, q(name_variant(rng, rng.choice(LAST))), pick(table, salt)))
    elif kind == "username":
        value = rng.choice(["NULL", "''", "'u%d'" % rng.randrange(1, 200)])
        columns = ["student_web_id"] if table == "students" else ["loginid", "teacherloginid"]
        column = rng.choice(columns)
        out.append("UPDATE %s SET %s = %s WHERE dcid = %s AND NOT EXISTS"
                   " (SELECT 1 FROM %s WHERE %s = %s);"
                   % (table, column, value, pick(table, salt), table, column, value))
    elif kind == "insert":
        base = 55000 if table == "students" else 65000
        dcid = base + n * 10 + k
        if table == "students":
            out.append("INSERT INTO students (dcid, student_number, first_name, last_name) VALUES (%d, %d, '%s', '%s');"
                       % (dcid, 70000 + rng.randrange(80), q(rng.choice(FIRST)), q(rng.choice(LAST))))
        else:
            out.append("INSERT INTO users (dcid, first_name, last_name, psaccess) VALUES (%d, '%s', '%s', %d);"
                       % (dcid, q(rng.choice(FIRST)), q(rng.choice(LAST)), rng.random() < 0.3))
    elif kind == "delete":
        if table == "users":
            out.append("DELETE FROM schoolstaff WHERE users_dcid = %s;" % pick("users", salt))
        out.append("DELETE FROM %s WHERE dcid = %s;" % (table, pick(table, salt)))
    elif kind == "teacher":
        out.append("WITH u AS (SELECT %s AS dcid)"
                   " , d AS (DELETE FROM schoolstaff s USING u WHERE s.users_dcid = u.dcid RETURNING 1)"
                   " INSERT INTO schoolstaff (dcid, users_dcid, staffstatus, status)"
                   " SELECT u.dcid, u.dcid, 1, 1 FROM u WHERE NOT EXISTS (SELECT 1 FROM schoolstaff s WHERE s.users_dcid = u.dcid);"
                   % pick("users", salt))
    elif kind == "psaccess":
        out.append("UPDATE users SET psaccess = 1 - psaccess WHERE dcid = %s;" % pick("users", salt))


def outside_change(rng, n, k, out):
    """A change of what lies outside every run's records (CHANGES_OUTSIDE)."""
    salt = "o%dk%d" % (n, k)
    kind = rng.choice(["enroll", "exclude", "hidden_username", "excluded_username"])
    if kind == "enroll":
        out.append("UPDATE students SET enroll_status = 3 - enroll_status WHERE dcid = %s;"
                   % pick("students", salt))
    elif kind == "exclude":
        # (the view's: a graduate cannot be named)
        table, record_type = rng.choice([("enrolled_students", "student"), ("users", "staff")])
        out.append("SELECT CASE WHEN pssync.ldap_include('%s', d) THEN true"
                   " ELSE pssync.ldap_exclude('%s', d, 'outside') END FROM (SELECT %s AS d) x;"
                   % (record_type, record_type, pick(table, salt)))
    else:
        value = rng.choice(["NULL", "'u%d'" % rng.randrange(1, 200)])
        if kind == "hidden_username":
            table, column = "students", "student_web_id"
            where = "enroll_status <> 0"
        else:
            table, column = rng.choice([("students", "student_web_id"), ("users", "loginid"),
                                        ("users", "teacherloginid")])
            where = "dcid IN (SELECT dcid FROM pssync.exclusions)"
        out.append("UPDATE %s SET %s = %s WHERE dcid = (SELECT dcid FROM %s WHERE %s"
                   " ORDER BY md5(dcid::text || '%s') LIMIT 1) AND NOT EXISTS"
                   " (SELECT 1 FROM %s WHERE %s = %s);"
                   % (table, column, value, table, where, salt, table, column, value))


def do_round(path, n):
    global FLAVOR
    state = json.load(open(path))
    FLAVOR = state.get("flavor", "openldap")
    rng = random.Random("%s/%d" % (state["seed"], n))
    ldif = []
    sql = []
    for k in range(rng.randrange(0, 6)):
        directory_change(rng, state, ldif)
    for k in range(rng.randrange(0, 6)):
        powerschool_change(rng, n, k, sql)
    if state.get("outside"):
        outside = random.Random("outside/%s/%d" % (state["seed"], n))
        for k in range(outside.randrange(0, 4)):
            outside_change(outside, n, k, sql)
    open(path + ".ldif", "w").write("".join(ldif))
    open(path + ".sql", "w").write("\n".join(sql) + "\n")
    json.dump(state, open(path, "w"))


if __name__ == "__main__":
    if sys.argv[1] == "init":
        init(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "openldap")
    else:
        do_round(sys.argv[2], int(sys.argv[3]))
