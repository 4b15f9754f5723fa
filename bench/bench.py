#!/usr/bin/env python3
"""The measurements of the pssync benchmark; bench/run.sh starts the servers
and the relay, then runs this.

    python3 bench/bench.py --district DIR --direct-uri URI --relay-uri URI
                           [--delay-us US] [--search-sample N] ...

PostgreSQL is reached through PGHOST/PGPORT/PGUSER/PGDATABASE; the service
account's password is PSSYNC_LDAP_PASSWORD.  Everything is measured in this
one run, and printed as one table (also written to --results as Markdown,
and as JSON beside it).

How each number is taken:
  wall time   around the statement, from the client, in a fresh session
              (strategy set, the module loaded, before the clock starts);
  LDAP reqs   slapd's own count of the operations it received (back-monitor,
              cn=Operations,cn=Monitor, every operation type), before and
              after, less the monitor's own reads;
  peak mem    the backend's RssAnon (/proc/PID/status, anonymous memory:
              palloc'd and malloc'd, not shared buffers), sampled every
              50 ms during the statement, minus the same session's value just
              before it;
  floor       ldapsearch reading the same subtree (paged, 500 a page, the
              same attributes) plus, for a real run, one set-based UPDATE ...
              FROM of the same changes; through the relay for the relay rows.
Real runs (and the floor's UPDATE) start from the same table state: the
students table is restored from a saved copy, vacuumed and checkpointed,
outside the timing.
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

BIND_DN = "cn=pssync,ou=Services,dc=district,dc=org"
STUDENT_BASE = "ou=Students,dc=district,dc=org"
GRADUATED_BASE = "ou=Graduated,ou=Students,dc=district,dc=org"
ADMIN_DN = "cn=admin,dc=district,dc=org"
ADMIN_PASSWORD = "admin-secret"

# Each record's rows as one text, as bench.rows_of() gives them: a line per
# row, sorted; would_update reads updated; "after" shows them as after the
# run's writes (updated rows unchanged, the new username the old one).
ROWS_SQL = """
CREATE OR REPLACE FUNCTION bench.line(r pssync.sync_result, after boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT concat_ws('|',
           CASE WHEN r.status IN ('updated', 'would_update')
                THEN CASE WHEN after THEN 'unchanged' ELSE 'updated' END
                ELSE r.status END,
           coalesce(r.first_name, '<>'), coalesce(r.last_name, '<>'), coalesce(r.field, '<>'),
           CASE WHEN after AND r.status IN ('updated', 'would_update') THEN r.new_username
                ELSE coalesce(r.old_username, '<>') END,
           coalesce(r.new_username, '<>'), coalesce(r.dn, '<>'),
           coalesce(r.candidates::text, '<>'), coalesce(r.candidate_count::text, '<>'))
$$;
CREATE OR REPLACE FUNCTION bench.rows_of(target text, statement text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('CREATE TABLE bench.%I AS SELECT r.dcid,'
                 ' string_agg(bench.line(r, false), E''\n'' ORDER BY bench.line(r, false)) AS rows,'
                 ' string_agg(bench.line(r, true), E''\n'' ORDER BY bench.line(r, true)) AS after'
                 ' FROM (%s) r GROUP BY r.dcid', target, statement);
  EXECUTE format('SELECT count(*) FROM bench.%I', target) INTO n;
  RETURN n;
END $$;
"""


# --------------------------------------------------------------------------
# psql as a coprocess

class Psql:
    """One session: statements in, rows and messages out."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", bufsize=1)
        self.err_lines = []
        self.err_cv = threading.Condition()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self):
        for line in self.proc.stderr:
            with self.err_cv:
                self.err_lines.append(line.rstrip("\n"))
                self.err_cv.notify_all()

    def run(self, sql):
        """Run statements; returns (rows as lists of fields, messages)."""
        marker = "@@pssync-bench-%d@@" % time.monotonic_ns()
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + marker +
                              "\n\\warn " + marker + "\n")
        self.proc.stdin.flush()
        rows = []
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line == marker:
                break
            if line != "":
                rows.append(line.split("|"))
        else:
            raise RuntimeError("psql ended: %s" % "\n".join(self.err_lines[-5:]))
        with self.err_cv:
            while marker not in self.err_lines:
                if not self.err_cv.wait(30):
                    raise RuntimeError("psql did not answer")
            i = self.err_lines.index(marker)
            messages = self.err_lines[:i]
            del self.err_lines[:i + 1]
        return rows, messages

    def must(self, sql):
        rows, messages = self.run(sql)
        errors = [m for m in messages if "ERROR" in m]
        if errors:
            raise RuntimeError("%s\n  in: %s" % ("\n".join(errors), sql[:300]))
        return rows

    def value(self, sql):
        rows = self.must(sql)
        return rows[0][0] if rows else None

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(30)


def sql_literal(s):
    return "'" + s.replace("'", "''") + "'"


# --------------------------------------------------------------------------
# slapd's counters and the backend's memory

class Monitor:
    """slapd's operation counters (back-monitor)."""

    def __init__(self, uri):
        self.uri = uri
        # what one read of the counters adds between two reads (its bind
        # and search, the previous read's unbind)
        self.overhead = {}
        a = self.read()
        b = self.read()
        self.overhead = {k: b[k] - a.get(k, 0) for k in b}

    def read(self):
        out = subprocess.run(
            ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", self.uri,
             "-b", "cn=Operations,cn=Monitor", "-s", "one", "(objectClass=*)",
             "monitorOpInitiated"],
            check=True, capture_output=True, text=True).stdout
        counts = {}
        name = None
        for line in out.splitlines():
            m = re.match(r"dn: cn=([^,]+),cn=Operations", line)
            if m:
                name = m.group(1).lower()
            m = re.match(r"monitorOpInitiated: (\d+)", line)
            if m and name:
                counts[name] = int(m.group(1))
        counts["total"] = sum(v for k, v in counts.items())
        return counts

    def diff(self, before, after):
        return {k: after.get(k, 0) - before.get(k, 0) - self.overhead.get(k, 0)
                for k in after}


class MemorySampler:
    """The peak of a process's RssAnon, sampled every interval seconds."""

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.interval = interval
        self.peak = rss_anon_kb(pid)
        self.samples = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop_event.is_set():
            v = rss_anon_kb(self.pid)
            if v is not None:
                self.peak = max(self.peak, v)
                self.samples += 1
            self.stop_event.wait(self.interval)

    def stop(self):
        self.stop_event.set()
        self.thread.join()
        v = rss_anon_kb(self.pid)
        if v is not None:
            self.peak = max(self.peak, v)
        return self.peak


def rss_anon_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------
# LDAP round trip, measured with a minimal client (no bind: a rootDSE read)

def ber(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + length + content


def ber_int(tag, v):
    return ber(tag, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def rootdse_request(msgid):
    search = (ber(0x04, b"") + ber_int(0x0a, 0) + ber_int(0x0a, 0) + ber_int(0x02, 0) +
              ber_int(0x02, 0) + ber(0x01, b"\x00") + ber(0x87, b"objectClass") +
              ber(0x30, ber(0x04, b"1.1")))
    return ber(0x30, ber_int(0x02, msgid) + ber(0x63, search))


def read_message(sock, buf):
    """One LDAPMessage from sock: (protocolOp tag, rest of buffer)."""
    while True:
        if len(buf) >= 2:
            n = buf[1]
            hdr = 2
            if n & 0x80:
                k = n & 0x7f
                if len(buf) >= 2 + k:
                    n = int.from_bytes(buf[2:2 + k], "big")
                    hdr = 2 + k
                else:
                    n = None
            if n is not None and len(buf) >= hdr + n:
                body = buf[hdr:hdr + n]
                # skip the messageID
                idlen = body[1]
                op = body[2 + idlen]
                return op, buf[hdr + n:]
        d = sock.recv(65536)
        if not d:
            raise EOFError("LDAP server closed the connection")
        buf += d


def ldap_round_trip_us(host, port, count=300):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    times = []
    for i in range(count):
        t = time.perf_counter()
        s.sendall(rootdse_request(i + 1))
        while True:
            op, buf = read_message(s, buf)
            if op == 0x65:      # SearchResultDone
                break
        times.append(time.perf_counter() - t)
    s.close()
    return statistics.median(times[10:]) * 1e6


# --------------------------------------------------------------------------
# the benchmark

def summarize_runs(row, runs):
    """A measurement's repeated runs: the median run's time; memory: the
    highest peak."""
    runs.sort(key=lambda r: r["seconds"])
    row.update(runs[len(runs) // 2])
    row["runs"] = len(runs)
    row["all_seconds"] = [r["seconds"] for r in runs]
    row["peak_above_idle_kb"] = max(r["peak_above_idle_kb"] for r in runs)


def history_seconds(row):
    """The time a real run spent writing its history, as shown."""
    seconds = row.get("phases", {}).get("recording the run")
    if seconds is None:
        return ""
    if row.get("sample"):
        return "~%.2f*" % (seconds * row["seconds"] / row["measured_seconds"])
    return "%.2f" % seconds


def suggest_phases(row):
    """The time a run spent on suggestions (pssync 2.1): finding and
    ranking them, and keeping the best in the history; None without."""
    phases = row.get("phases", {})
    if "suggesting" not in phases:
        return None
    return phases["suggesting"] + phases.get("recording the suggestions", 0.0)


def suggest_seconds(row):
    seconds = suggest_phases(row)
    if seconds is None:
        return ""
    if row.get("sample"):
        return "~%.2f*" % (seconds * row["seconds"] / row["measured_seconds"])
    return "%.2f" % seconds


class Bench:
    def __init__(self, args):
        self.args = args
        self.password = os.environ.get("PSSYNC_LDAP_PASSWORD", "pssync-test-secret")
        with open(os.path.join(args.district, "summary.json")) as f:
            self.summary = json.load(f)
        self.db = Psql()
        self.monitor = Monitor(args.direct_uri)
        self.dirty = True
        self.rows = []
        self.floors = {}
        self.notes = []

    # ---- setup

    def load(self):
        d = self.args.district
        t0 = time.perf_counter()
        db = self.db
        db.must("SET client_min_messages = warning")
        db.must("DROP SCHEMA IF EXISTS bench CASCADE")
        db.must("DROP TABLE IF EXISTS schoolstaff, users, students, schools CASCADE")
        db.must(open(self.args.schema).read())
        for table in ("schools", "students", "users", "schoolstaff"):
            db.must("\\copy %s FROM %s" % (table, sql_literal(os.path.join(d, table + ".tsv"))))
        db.must("""CREATE SCHEMA bench;
            CREATE TABLE bench.students_saved AS SELECT * FROM students;
            CREATE TABLE bench.expected (dcid bigint PRIMARY KEY, status text, final text)""")
        db.must("\\copy bench.expected FROM %s" % sql_literal(os.path.join(d, "expected_students.tsv")))
        # the changes a real run should make, for the floor's UPDATE
        db.must("""CREATE TABLE bench.changes AS
            SELECT e.dcid, e.final AS new_username
              FROM bench.expected e JOIN bench.students_saved s USING (dcid)
             WHERE e.final IS DISTINCT FROM s.student_web_id;
            ALTER TABLE bench.changes ADD PRIMARY KEY (dcid)""")
        # a sample of students, for the search strategy where all of them
        # would take too long
        n = max(self.args.search_sample, self.args.search_sample_direct)
        db.must("""CREATE TABLE bench.sample AS
            SELECT dcid FROM students ORDER BY hashint8(dcid), dcid LIMIT %d;
            ALTER TABLE bench.sample ADD PRIMARY KEY (dcid)""" % n)
        # one student with plain names and an exact match: the scan
        # strategy on it costs the directory read and index alone
        db.must("""CREATE TABLE bench.one AS
            SELECT s.dcid FROM students s JOIN bench.expected e USING (dcid)
             WHERE e.status = 'would_update' AND s.first_name ~ '^[A-Za-z]+$'
               AND s.last_name ~ '^[A-Za-z]+$'
             ORDER BY s.dcid LIMIT 1""")
        db.must("VACUUM ANALYZE")
        db.must("CREATE EXTENSION IF NOT EXISTS pssync")
        db.must("""DROP SERVER IF EXISTS district_ldap CASCADE;
            CREATE SERVER district_ldap FOREIGN DATA WRAPPER pssync
              OPTIONS (uri %s, base_dn 'dc=district,dc=org',
                       student_base_dn 'ou=Students,dc=district,dc=org',
                       staff_base_dn 'ou=Staff,dc=district,dc=org');
            CREATE USER MAPPING FOR PUBLIC SERVER district_ldap
              OPTIONS (bind_dn %s, password %s)""" %
                (sql_literal(self.args.direct_uri), sql_literal(BIND_DN),
                 sql_literal(self.password)))
        self.counts = {
            "students": int(db.value("SELECT count(*) FROM students")),
            "users": int(db.value("SELECT count(*) FROM users")),
            "changes": int(db.value("SELECT count(*) FROM bench.changes")),
        }
        self.expected_full = self.expected_counts("")
        self.expected_sample = {}
        self.load_seconds = time.perf_counter() - t0

    def expected_counts(self, where):
        rows = self.db.must("SELECT status, count(*) FROM bench.expected e %s GROUP BY 1" % where)
        return {r[0]: int(r[1]) for r in rows}

    def sample_expected(self, n):
        if n not in self.expected_sample:
            self.expected_sample[n] = self.expected_counts(
                "WHERE dcid IN (SELECT dcid FROM bench.sample ORDER BY hashint8(dcid), dcid LIMIT %d)" % n)
        return self.expected_sample[n]

    def strategies(self):
        s = Psql()
        s.must("LOAD 'pssync'")
        rows = s.must("SELECT vartype, coalesce(array_to_string(enumvals, ','), '') "
                      "FROM pg_settings WHERE name = 'pssync.strategy'")
        s.close()
        if not rows:
            return None
        vartype, enumvals = rows[0]
        if vartype == "enum":
            return enumvals.split(",")
        return ["search", "scan", "auto"]       # a string setting: tried when set

    def reset(self, keep_links=False):
        """The students table as generated, outside any timing; and no
        links, unless kept (a real run of pssync 2.0 links what it
        matches, and the runs of the main table are runs of a district
        without links)."""
        self.db.must("""TRUNCATE students;
            INSERT INTO students SELECT * FROM bench.students_saved;
            VACUUM ANALYZE students;
            CHECKPOINT""")
        if not keep_links and self.has_links():
            self.db.must("TRUNCATE pssync.record_links")
        self.dirty = False

    def has_links(self):
        return self.db.value("SELECT to_regclass('pssync.record_links') IS NOT NULL") == "t"

    def use_uri(self, uri):
        self.db.must("ALTER SERVER district_ldap OPTIONS (SET uri %s)" % sql_literal(uri))

    # ---- measurements

    def timed_sync(self, strategy, sql, available, settings=()):
        """One statement in a fresh session with the strategy set (and any
        settings): its time, status counts, LDAP requests and memory (a
        dict), or {"error": ...}."""
        if available is None and strategy != "search":
            return {"error": "not available"}
        if available is not None and strategy not in available:
            return {"error": "not available"}
        s = Psql()
        try:
            s.must("LOAD 'pssync'")
            if available is not None:
                _, msgs = s.run("SET pssync.strategy = %s" % sql_literal(strategy))
                if any("ERROR" in m for m in msgs):
                    return {"error": "not available: " + " ".join(msgs)[:80]}
            for setting in settings:
                s.must(setting)
            s.must("SET client_min_messages = debug1")
            pid = int(s.value("SELECT pg_backend_pid()"))
            idle = rss_anon_kb(pid)
            before = self.monitor.read()
            sampler = MemorySampler(pid)
            t0 = time.perf_counter()
            rows, msgs = s.run(sql)
            elapsed = time.perf_counter() - t0
            peak = sampler.stop()
            after = self.monitor.read()
        finally:
            s.close()
        errors = [m for m in msgs if "ERROR" in m]
        if errors:
            return {"error": errors[0][:120]}
        reqs = self.monitor.diff(before, after)
        m = {
            "seconds": elapsed,
            "statuses": {r[0]: int(r[1]) for r in rows},
            "ldap_requests": reqs["total"],
            "ldap_searches": reqs.get("search", 0),
            "idle_kb": idle,
            "peak_kb": peak,
            "peak_above_idle_kb": peak - idle,
        }
        m["phases"] = {}
        for line in msgs:
            mm = re.search(r"pssync: (.+) took ([0-9.]+) ms", line)
            if mm:
                m["phases"][mm.group(1)] = float(mm.group(2)) / 1000.0
            mm = re.search(r"pssync: (\d+) records matched by (\w+), (\d+) of them searched for, "
                           r"(\d+) LDAP requests", line)
            if mm:
                m["matched_by"] = mm.group(2)
                m["searched_for"] = int(mm.group(3))
                m["pssync_requests"] = int(mm.group(4))
        return m

    def measure_sync(self, network, strategy, dry, sample, available):
        """A sync of all students (or of a sample, extrapolated), repeated
        while it is short; returns a result row (dict)."""
        row = {"network": network, "strategy": strategy,
               "run": "dry run" if dry else "real run", "sample": sample}
        if sample:
            sql = ("SELECT status, count(*) FROM pssync.ldap_sync_students("
                   "'bench.sample_%d'::regclass, dry_run => %s) GROUP BY 1" %
                   (sample, "true" if dry else "false"))
        else:
            sql = ("SELECT status, count(*) FROM pssync.ldap_sync_district("
                   "'students', dry_run => %s) GROUP BY 1" % ("true" if dry else "false"))
        runs = []
        while True:
            if self.dirty:
                self.reset()
            m = self.timed_sync(strategy, sql, available)
            if not dry:
                self.dirty = True
            if "error" in m:
                row.update(m)
                return row
            runs.append(m)
            if not dry:
                row["check_writes"] = self.check_writes(sample)
            if len(runs) >= self.args.repeat or m["seconds"] > self.args.repeat_below:
                break
        summarize_runs(row, runs)
        row["records"] = sum(row["statuses"].values())
        # what the generator expects
        expected = dict(self.sample_expected(sample) if sample else self.expected_full)
        if not dry and "would_update" in expected:
            expected["updated"] = expected.pop("would_update")
        checks = [r["statuses"] == expected for r in runs]
        row["check"] = "ok" if all(checks) else "differs: " + diff_counts(
            expected, next(r["statuses"] for r in runs if r["statuses"] != expected))
        if row.get("check_writes"):
            row["check"] += "; " + row["check_writes"]
        if sample:
            scale = self.counts["students"] / sample
            row["measured_seconds"] = row["seconds"]
            row["measured_requests"] = row["ldap_requests"]
            row["seconds"] = row["seconds"] * scale
            # the bind and unbind are paid once
            row["ldap_requests"] = int(round((row["ldap_requests"] - 2) * scale + 2))
            row["records"] = self.counts["students"]
        return row

    def check_writes(self, sample):
        """After a real run: the usernames that are not what the generator
        expects (empty when all are)."""
        where = ("AND s.dcid IN (SELECT dcid FROM bench.sample_%d)" % sample) if sample else ""
        wrong = int(self.db.value(
            "SELECT count(*) FROM students s JOIN bench.expected e USING (dcid) "
            "WHERE s.student_web_id IS DISTINCT FROM e.final %s" % where))
        return "%d usernames not as expected" % wrong if wrong else ""

    def measure_index_only(self, network, available):
        """The scan strategy on one record: what reading and indexing the
        directory costs by itself."""
        row = {"network": network, "strategy": "scan", "run": "1 record",
               "sample": 0}
        sql = ("SELECT status, count(*) FROM pssync.ldap_sync_students("
               "'bench.one'::regclass, dry_run => true) GROUP BY 1")
        runs = []
        while True:
            m = self.timed_sync("scan", sql, available)
            if "error" in m:
                row.update(m)
                return row
            runs.append(m)
            if len(runs) >= self.args.repeat or m["seconds"] > self.args.repeat_below:
                break
        summarize_runs(row, runs)
        row["records"] = 1
        row["check"] = "the directory read and indexed"
        return row

    def ldapsearch_floor(self, uri, out_path):
        cmd = ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", uri, "-D", BIND_DN,
               "-w", self.password, "-E", "pr=500/noprompt", "-b", STUDENT_BASE,
               "(objectClass=person)", "givenName", "sn", "uid"]
        times = []
        while True:
            before = self.monitor.read()
            t0 = time.perf_counter()
            with open(out_path, "w") as f:
                subprocess.run(cmd, check=True, stdout=f)
            times.append(time.perf_counter() - t0)
            after = self.monitor.read()
            if len(times) >= self.args.repeat:
                break
        entries = 0
        with open(out_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("dn:"):
                    entries += 1
        return statistics.median(times), entries, self.monitor.diff(before, after)["total"], times

    def update_floor(self):
        times = []
        for _ in range(self.args.repeat):
            if self.dirty:
                self.reset()
            t0 = time.perf_counter()
            self.db.must("UPDATE students s SET student_web_id = c.new_username "
                         "FROM bench.changes c WHERE s.dcid = c.dcid")
            times.append(time.perf_counter() - t0)
            self.dirty = True
        return statistics.median(times), times

    def run(self):
        args = self.args
        available = self.strategies()
        self.available = available
        networks = [("direct", args.direct_uri)]
        if args.relay_uri:
            networks.append(("relay", args.relay_uri))

        # the relay's added latency, seen by an LDAP client
        host, port = parse_uri(args.direct_uri)
        self.rtt = {"direct": ldap_round_trip_us(host, port)}
        if args.relay_uri:
            host, port = parse_uri(args.relay_uri)
            self.rtt["relay"] = ldap_round_trip_us(host, port)

        self.update_seconds, self.update_times = self.update_floor()
        outputs = {}
        for network, uri in networks:
            self.use_uri(uri)
            path = os.path.join(args.work, "floor-%s.ldif" % network)
            secs, entries, reqs, times = self.ldapsearch_floor(uri, path)
            outputs[network] = path
            self.floors[network] = {"ldapsearch_seconds": secs, "entries": entries,
                                    "ldap_requests": reqs, "all_seconds": times}
            print("  %-6s floor: ldapsearch %s s, %d entries; UPDATE %s s" %
                  (network, "/".join("%.2f" % t for t in times), entries,
                   "/".join("%.2f" % t for t in self.update_times)), file=sys.stderr, flush=True)
            if "scan" in args.strategies and args.index_row:
                try:
                    row = self.measure_index_only(network, available)
                except Exception as e:
                    row = {"network": network, "strategy": "scan", "run": "1 record", "sample": 0,
                           "error": "failed: %s" % str(e).splitlines()[0][:100]}
                self.rows.append(row)
                self.progress(row)
            for strategy in args.strategies:
                sample = 0
                if strategy == "search":
                    sample = args.search_sample if network == "relay" else args.search_sample_direct
                if sample:
                    self.ensure_sample_view(sample)
                for dry in (True, False):
                    try:
                        row = self.measure_sync(network, strategy, dry, sample, available)
                    except Exception as e:      # reported in the table; go on
                        row = {"network": network, "strategy": strategy, "sample": sample,
                               "run": "dry run" if dry else "real run",
                               "error": "failed: %s" % str(e).splitlines()[0][:100]}
                        self.dirty = True
                    self.rows.append(row)
                    self.progress(row)
        if "relay" in outputs:
            self.relay_identical = files_equal(outputs["direct"], outputs["relay"])
        self.use_uri(args.direct_uri)
        if args.changes:
            try:
                self.measure_changes()
            except Exception as e:
                self.changes = {"error": "failed: %s" % str(e)[:300]}
                print("  changes: %s" % self.changes["error"], file=sys.stderr, flush=True)
            if args.worker:
                try:
                    self.measure_worker()
                except Exception as e:
                    self.worker = {"error": "failed: %s" % str(e)[:300]}
                    print("  worker: %s" % self.worker["error"], file=sys.stderr, flush=True)
        if args.links and self.has_links():
            try:
                self.measure_links(available)
            except Exception as e:
                self.links = {"error": "failed: %s" % str(e).splitlines()[0][:100]}

    # ---- links (pssync 2.0)

    def links_run(self, strategy, sql, available, linked, dry):
        """A run with links used or not: the median of --repeat runs."""
        settings = () if linked else ("SET pssync.use_links = off",)
        runs = []
        for _ in range(self.args.repeat):
            if self.dirty:
                self.reset(keep_links=True)
            m = self.timed_sync(strategy, sql, available, settings)
            if not dry:
                self.dirty = True
            if "error" in m:
                return m
            runs.append(m)
        row = {}
        summarize_runs(row, runs)
        return row

    def measure_links(self, available):
        """Every student linked (a real scan run first, untimed), then the
        same runs with links used and with pssync.use_links = off: scan's
        time, and search's LDAP requests on the sample."""
        print("  links: linking every student that matches (a real scan run) ...",
              file=sys.stderr, flush=True)
        self.reset()
        s = Psql()
        s.must("LOAD 'pssync'")
        s.must("SET pssync.strategy = 'scan'")
        s.must("SELECT count(*) FROM pssync.ldap_sync_district('students')")
        s.close()
        self.dirty = True
        links = {"linked": int(self.db.value("SELECT count(*) FROM pssync.record_links")),
                 "students": self.counts["students"]}
        # the students that are linked: a run of them, all linked, against
        # the same run unlinked
        self.db.must("""DROP TABLE IF EXISTS bench.linked;
            CREATE TABLE bench.linked AS
              SELECT dcid FROM pssync.record_links WHERE record_type = 'student';
            ALTER TABLE bench.linked ADD PRIMARY KEY (dcid);
            ANALYZE bench.linked""")
        full = ("SELECT status, count(*) FROM pssync.ldap_sync_students('bench.linked'::regclass, "
                "dry_run => %s) GROUP BY 1")
        for run, dry in (("dry run", True), ("real run", False)):
            for linked in (False, True):
                key = "scan %s %s" % (run, "linked" if linked else "unlinked")
                links[key] = self.links_run("scan", full % ("true" if dry else "false"),
                                            available, linked, dry)
                self.links_progress(key, links[key])
        sample = min(self.args.links_search_sample, links["linked"])
        if sample:
            self.db.must("""CREATE OR REPLACE VIEW bench.linked_sample AS
                SELECT dcid FROM bench.linked ORDER BY hashint8(dcid), dcid LIMIT %d""" % sample)
            sql = ("SELECT status, count(*) FROM pssync.ldap_sync_students("
                   "'bench.linked_sample'::regclass, dry_run => true) GROUP BY 1")
            for linked in (False, True):
                key = "search dry run linked" if linked else "search dry run unlinked"
                links[key] = self.links_run("search", sql, available, linked, True)
                self.links_progress(key, links[key])
            links["search_sample"] = sample
        self.links = links

    def links_progress(self, key, m):
        if "error" in m:
            msg = m["error"]
        else:
            msg = "%.2f s, %d LDAP requests, peak +%.1f MB" % (
                m["seconds"], m["ldap_requests"], m["peak_above_idle_kb"] / 1024.0)
        print("  links: %-28s %s" % (key, msg), file=sys.stderr, flush=True)

    def links_lines(self):
        l = getattr(self, "links", None)
        if not l:
            return []
        if "error" in l:
            return ["", "Links: %s" % l["error"]]
        out = ["", "Links (pssync 2.0), direct: %d of %d students linked by a real scan run; "
               "a run of the linked students (ldap_sync_students), all linked, with links used "
               "and with pssync.use_links = off:" % (l["linked"], l["students"]), ""]
        rows = [["run", "unlinked s", "linked s", "linked / unlinked", "unlinked LDAP reqs",
                 "linked LDAP reqs", "linked peak MB"]]
        for run in ("scan dry run", "scan real run", "search dry run"):
            u = l.get(run + " unlinked")
            k = l.get(run + " linked")
            if not u or not k:
                continue
            if "error" in u or "error" in k:
                rows.append([run, u.get("error", ""), k.get("error", ""), "", "", "", ""])
                continue
            label = "%s (%d students)" % (run, l["linked"] if not run.startswith("search")
                                         else l.get("search_sample", 0))
            rows.append([label, "%.2f" % u["seconds"], "%.2f" % k["seconds"],
                         "%.2f" % (k["seconds"] / u["seconds"]), str(u["ldap_requests"]),
                         str(k["ldap_requests"]), "%.1f" % (k["peak_above_idle_kb"] / 1024.0)])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out.append("| " + " | ".join(h.ljust(w) for h, w in zip(rows[0], widths)) + " |")
        out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for r in rows[1:]:
            out.append("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |")
        return out

    def links_targets(self):
        l = getattr(self, "links", None)
        out = []
        if not l or "error" in l:
            return out
        for run in ("scan dry run", "scan real run"):
            u, k = l.get(run + " unlinked"), l.get(run + " linked")
            if u and k and "seconds" in u and "seconds" in k:
                extra = k["seconds"] / u["seconds"] - 1
                out.append("target linked scan at most 10%% over unlinked (%s): %+.0f%% %s" %
                           (run[5:], 100 * extra, "met" if extra <= 0.10 else "NOT met"))
        u, k = l.get("search dry run unlinked"), l.get("search dry run linked")
        if u and k and "ldap_requests" in u and "ldap_requests" in k:
            ratio = u["ldap_requests"] / max(k["ldap_requests"], 1)
            out.append("target linked search 20x fewer LDAP requests than unlinked (%d students): "
                       "%.0fx %s" % (l["search_sample"], ratio, "met" if ratio >= 20 else "NOT met"))
        return out

    def ensure_sample_view(self, n):
        self.db.must("CREATE OR REPLACE VIEW bench.sample_%d AS "
                     "SELECT dcid FROM bench.sample ORDER BY hashint8(dcid), dcid LIMIT %d" % (n, n))

    def progress(self, row):
        if "error" in row:
            msg = row["error"]
        else:
            msg = "%.2f s%s%s, %d LDAP requests, peak +%.1f MB, %s" % (
                row["seconds"], " (extrapolated from %d)" % row["sample"] if row["sample"] else "",
                " (median of %d)" % row["runs"] if row.get("runs", 1) > 1 else "",
                row["ldap_requests"], row["peak_above_idle_kb"] / 1024.0, row["check"])
        print("  %-6s %-6s %-8s %s" % (row["network"], row["strategy"], row["run"], msg),
              file=sys.stderr, flush=True)

    # ---- ldap_sync_changes and the background worker

    def ldapmodify(self, ldif):
        subprocess.run(["ldapmodify", "-x", "-H", self.args.direct_uri, "-D", ADMIN_DN,
                        "-w", ADMIN_PASSWORD], input=ldif, check=True, capture_output=True,
                       text=True)

    def timed_statement(self, sql):
        """A statement in a fresh session: its time, peak memory, messages."""
        s = Psql()
        try:
            s.must("LOAD 'pssync'")
            s.must("SET client_min_messages = debug1")
            pid = int(s.value("SELECT pg_backend_pid()"))
            idle = rss_anon_kb(pid)
            sampler = MemorySampler(pid)
            t0 = time.perf_counter()
            rows, msgs = s.run(sql)
            elapsed = time.perf_counter() - t0
            peak = sampler.stop()
        finally:
            s.close()
        errors = [m for m in msgs if "ERROR" in m]
        if errors:
            raise RuntimeError(errors[0])
        phases = {}
        for line in msgs:
            mm = re.search(r"pssync: (.+) took ([0-9.]+) ms", line)
            if mm:
                phases[mm.group(1)] = phases.get(mm.group(1), 0) + float(mm.group(2)) / 1000.0
        return {"seconds": elapsed, "rows": rows, "peak_above_idle_kb": peak - idle,
                "idle_kb": idle, "notices": [m for m in msgs if "NOTICE" in m],
                "phases": phases}

    def the_changes(self):
        """100 directory changes (50 user IDs, 30 moves, 10 deletions, 10 new
        accounts for records that had none) and 20 in PowerSchool (10
        usernames blanked, 5 last names, 5 new records), on records chosen
        by a hash of their dcid."""
        db = self.db
        linked = db.must("""SELECT l.dcid, l.dn, l.user_id FROM pssync.record_links l
                             WHERE l.record_type = 'student' AND l.user_id ~ '^[a-z0-9.]+$'
                               AND l.dn ~ '^uid=[a-z0-9.]+,ou=Students,dc='
                             ORDER BY hashint8(l.dcid), l.dcid LIMIT 90""")
        missing = db.must("""SELECT s.dcid, s.first_name, s.last_name FROM students s
                              JOIN bench.expected e USING (dcid)
                             WHERE e.status IN ('partial', 'no_match')
                               AND s.first_name ~ '^[A-Za-z]+$' AND s.last_name ~ '^[A-Za-z]+$'
                             ORDER BY hashint8(s.dcid + 1), s.dcid LIMIT 70""")
        if len(linked) < 90 or len(missing) < 70:
            raise RuntimeError("the district has too few linked or unmatched students")
        ldif = []
        for dcid, dn, uid in linked[:50]:
            ldif.append("dn: %s\nchangetype: modrdn\nnewrdn: uid=%s.x\ndeleteoldrdn: 1\n" % (dn, uid))
        for dcid, dn, uid in linked[50:80]:
            ldif.append("dn: %s\nchangetype: modrdn\nnewrdn: uid=%s\ndeleteoldrdn: 1\nnewsuperior: %s\n"
                        % (dn, uid, GRADUATED_BASE))
        for dcid, dn, uid in linked[80:90]:
            ldif.append("dn: %s\nchangetype: delete\n" % dn)
        for dcid, first, last in missing[:10]:
            uid = "new%s" % dcid
            ldif.append("dn: uid=%s,%s\nchangetype: add\nobjectClass: inetOrgPerson\n"
                        "cn: %s %s\ngivenName: %s\nsn: %s\nuid: %s\n"
                        % (uid, STUDENT_BASE, first, last, first, last, uid))
        self.ldapmodify("\n".join(ldif))
        others = db.must("""SELECT l.dcid FROM pssync.record_links l WHERE l.record_type = 'student'
                             ORDER BY hashint8(l.dcid + 2), l.dcid LIMIT 200""")
        others = [r[0] for r in others if r[0] not in set(x[0] for x in linked)][:15]
        db.must("UPDATE students SET student_web_id = NULL WHERE dcid IN (%s)" % ",".join(others[:10]))
        db.must("UPDATE students SET last_name = last_name || '-Changed' WHERE dcid IN (%s)"
                % ",".join(others[10:15]))
        db.must("""INSERT INTO students (dcid, first_name, last_name)
                   SELECT 9000000 + g, 'Newstudent', 'Changes' || g FROM generate_series(1, 5) g""")
        return missing[10:]

    def measure_changes(self):
        """ldap_sync_changes after 100 directory and 20 PowerSchool changes to
        a district of linked students, against a scan real run of
        ldap_sync_district('students'); and whether it returns exactly the
        records whose rows a full run shows changed."""
        db = self.db
        print("  changes: the first run of ldap_sync_changes (full) ...", file=sys.stderr, flush=True)
        self.reset()
        db.must("""DROP TABLE IF EXISTS bench.prev, bench.prev2, bench.full, bench.got;
            DELETE FROM students WHERE dcid >= 9000000;
            DELETE FROM pssync.record_state; DELETE FROM pssync.entry_state;
            DELETE FROM pssync.sync_state; DELETE FROM pssync.record_links""")
        db.must(ROWS_SQL)
        c = {}
        first = self.timed_statement("SELECT bench.rows_of('prev', "
                                     "'SELECT * FROM pssync.ldap_sync_changes(''students'')')")
        c["first_seconds"] = first["seconds"]
        c["first_notices"] = first["notices"]
        c["linked"] = int(db.value("SELECT count(*) FROM pssync.record_links WHERE record_type = 'student'"))
        # the second run: what the first one's own writes made different
        # (its records' rows replace theirs in prev: their previous run)
        nothing = self.timed_statement("SELECT bench.rows_of('prev2', "
                                       "'SELECT * FROM pssync.ldap_sync_changes(''students'')')")
        c["nothing_seconds"] = nothing["seconds"]
        c["nothing_rows"] = int(nothing["rows"][0][0])
        db.must("""DELETE FROM bench.prev p USING bench.prev2 q WHERE p.dcid = q.dcid;
            INSERT INTO bench.prev SELECT * FROM bench.prev2; DROP TABLE bench.prev2""")
        self.latency_students = self.the_changes()
        db.must("VACUUM ANALYZE students")
        hold = os.environ.get("PSSYNC_BENCH_HOLD")
        if hold:
            # for a developer: the servers stay up, just after the changes,
            # until the file HOLD names is removed
            with open(hold, "w") as f:
                f.write("PGHOST=%s PGPORT=%s\n" % (os.environ.get("PGHOST", ""), os.environ.get("PGPORT", "")))
            while os.path.exists(hold):
                time.sleep(1)

        # what a full run says now, and how long a scan real run takes
        db.must("SELECT bench.rows_of('full', 'SELECT * FROM pssync.ldap_sync_district(''students'', dry_run => true)')")
        c["expected"] = int(db.value(
            "SELECT count(*) FROM bench.full f LEFT JOIN bench.prev p USING (dcid) "
            "WHERE p.after IS DISTINCT FROM f.rows"))
        full = self.timed_statement("BEGIN; SET LOCAL pssync.strategy = 'scan'; "
                                    "SELECT count(*) FROM pssync.ldap_sync_district('students'); ROLLBACK")
        c["full_seconds"] = full["seconds"]
        c["full_peak_kb"] = full["peak_above_idle_kb"]
        print("  changes: a scan real run of ldap_sync_district('students') takes %.2f s"
              % full["seconds"], file=sys.stderr, flush=True)
        got = self.timed_statement("SELECT bench.rows_of('got', "
                                   "'SELECT * FROM pssync.ldap_sync_changes(''students'')')")
        c["changes_seconds"] = got["seconds"]
        c["changes_peak_kb"] = got["peak_above_idle_kb"]
        c["changes_phases"] = got["phases"]
        c["changes_notices"] = got["notices"]
        c["returned"] = int(got["rows"][0][0])
        c["missed"] = int(db.value(
            "SELECT count(*) FROM bench.full f LEFT JOIN bench.prev p USING (dcid) "
            "WHERE p.after IS DISTINCT FROM f.rows AND NOT EXISTS "
            "(SELECT 1 FROM bench.got g WHERE g.dcid = f.dcid)"))
        c["extra"] = int(db.value(
            "SELECT count(*) FROM bench.got g JOIN bench.prev p USING (dcid) WHERE p.after = g.rows"))
        c["rows_differ"] = int(db.value(
            "SELECT count(*) FROM bench.got g LEFT JOIN bench.full f USING (dcid) "
            "WHERE f.rows IS DISTINCT FROM g.rows"))
        c["speedup"] = c["full_seconds"] / c["changes_seconds"]
        self.changes = c
        print("  changes: %d records changed; ldap_sync_changes took %.3f s (%.0fx faster), "
              "returned %d: %d missed, %d extra, %d with other rows"
              % (c["expected"], c["changes_seconds"], c["speedup"], c["returned"], c["missed"],
                 c["extra"], c["rows_differ"]), file=sys.stderr, flush=True)

    def measure_worker(self):
        """The background worker's latency: from an entry added in slapd for
        a record that had no match to the record's username committed, over
        args.worker_adds adds, one after the other."""
        db = self.db
        students = getattr(self, "latency_students", [])[:self.args.worker_adds]
        if len(students) < self.args.worker_adds:
            raise RuntimeError("too few unmatched students for the worker's adds")
        if not db.must("SELECT 1 FROM pg_settings WHERE name = 'pssync.worker_database' "
                       "AND setting <> ''"):
            raise RuntimeError("the server was not started with pssync's worker (bench/run.sh does)")
        print("  worker: starting it ...", file=sys.stderr, flush=True)
        db.must("""DO $$ BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_worker') THEN
                CREATE ROLE bench_worker LOGIN;
              END IF;
            END $$;
            GRANT USAGE ON SCHEMA pssync TO bench_worker;
            GRANT USAGE ON FOREIGN SERVER district_ldap TO bench_worker;
            GRANT SELECT ON students, users, schoolstaff TO bench_worker;
            GRANT UPDATE (student_web_id) ON students TO bench_worker""")
        db.must("ALTER SYSTEM SET pssync.worker_role = 'bench_worker'")
        db.must("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if db.value("SELECT state FROM pssync.worker_status") == "streaming":
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the worker did not start streaming: %s" %
                               db.value("SELECT last_error FROM pssync.worker_status"))
        time.sleep(1)
        poll = Psql()
        latencies = []
        try:
            for dcid, first, last in students:
                uid = "w%s" % dcid
                ldif = ("dn: uid=%s,%s\nchangetype: add\nobjectClass: inetOrgPerson\n"
                        "cn: %s %s\ngivenName: %s\nsn: %s\nuid: %s\n"
                        % (uid, STUDENT_BASE, first, last, first, last, uid))
                t0 = time.perf_counter()
                self.ldapmodify(ldif)
                while True:
                    if poll.value("SELECT student_web_id FROM students WHERE dcid = %s" % dcid) == uid:
                        break
                    if time.perf_counter() - t0 > 60:
                        raise RuntimeError("student %s did not get %s within 60 s" % (dcid, uid))
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - t0)
        finally:
            poll.close()
            db.must("ALTER SYSTEM RESET pssync.worker_role")
            db.must("SELECT pg_reload_conf()")
        latencies.sort()
        self.worker = {"adds": len(latencies), "latencies": latencies,
                       "median": statistics.median(latencies),
                       "p95": latencies[max(0, int(round(0.95 * len(latencies))) - 1)],
                       "max": latencies[-1]}
        print("  worker: %d adds: median %.3f s, p95 %.3f s, max %.3f s"
              % (len(latencies), self.worker["median"], self.worker["p95"], self.worker["max"]),
              file=sys.stderr, flush=True)

    # ---- the report

    def table(self):
        a = self.args
        s = self.summary
        c = self.counts
        lines = []
        lines.append("pssync benchmark: %d students, %d users, %d directory entries "
                     "(%d student entries); seed %s" %
                     (c["students"], c["users"], s["directory_entries"], s["student_entries"],
                      s["seed"]))
        lines.append("machine: %d cores (nproc), %s; load average at start %s" %
                     (int(subprocess.run(["nproc"], capture_output=True, text=True).stdout),
                      cpu_model(), a.load_at_start))
        lines.append("relay: %d us each way; LDAP round trip %.0f us direct, %.0f us through the relay (+%.0f us)" %
                     (a.delay_us, self.rtt["direct"], self.rtt.get("relay", 0),
                      self.rtt.get("relay", 0) - self.rtt["direct"]))
        lines.append("strategies: %s; real runs write %d changes (generator's count)" %
                     (",".join(self.available) if self.available else "pssync.strategy not available (search only)",
                      c["changes"]))
        lines.append("floor: ldapsearch of %s (paged, 500 a page) + one UPDATE ... FROM of the %d changes (%.2f s); "
                     "a dry run's floor is the ldapsearch alone" %
                     (STUDENT_BASE, c["changes"], self.update_seconds))
        lines = [lines[0], ""] + ["- " + l for l in lines[1:]]
        lines.append("")
        hdr = ["network", "strategy", "run", "wall s", "records/s", "LDAP reqs",
               "asked", "x floor", "history s", "suggest s", "peak MB", "check"]
        table = [hdr]
        for network in self.floors:
            f = self.floors[network]
            table.append([network, "floor", "ldapsearch", "%.2f" % f["ldapsearch_seconds"],
                          "%.0f" % (f["entries"] / f["ldapsearch_seconds"]),
                          str(f["ldap_requests"]), "", "1.0", "", "", "",
                          "%d entries" % f["entries"]])
            full = f["ldapsearch_seconds"] + self.update_seconds
            table.append([network, "floor", "+ UPDATE", "%.2f" % full,
                          "%.0f" % (c["students"] / full), str(f["ldap_requests"]), "",
                          "1.0", "", "", "", "%d rows" % c["changes"]])
            for r in self.rows:
                if r["network"] != network:
                    continue
                strat = r["strategy"]
                if "error" in r:
                    table.append([network, strat, r["run"], r["error"], "", "", "", "", "", "", "", ""])
                    continue
                floor = f["ldapsearch_seconds"] + (self.update_seconds if r["run"] == "real run" else 0)
                secs = "%.2f" % r["seconds"]
                if r["sample"]:
                    secs = "~%.1f*" % r["seconds"]
                table.append([
                    network, strat + (" (%s)" % r["matched_by"] if strat == "auto" and r.get("matched_by") else ""),
                    r["run"], secs,
                    "%.0f" % (r["records"] / r["seconds"]) if r["records"] > 1 else "",
                    ("~%d*" if r["sample"] else "%d") % r["ldap_requests"],
                    str(r.get("searched_for", "")) + ("*" if r["sample"] and "searched_for" in r else ""),
                    "%.1f" % (r["seconds"] / floor),
                    history_seconds(r),
                    suggest_seconds(r),
                    "%.1f" % (r["peak_above_idle_kb"] / 1024.0) + ("*" if r["sample"] else ""),
                    r["check"]])
        widths = [max(len(row[i]) for row in table) for i in range(len(hdr))]
        lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(hdr, widths)) + " |")
        lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in table[1:]:
            lines.append("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |")
        lines.append("")
        notes_start = len(lines)
        sampled = sorted(set((r["network"], r["sample"]) for r in self.rows if r.get("sample")))
        if sampled:
            lines.append("\\* extrapolated: timed on a random sample (%s) with "
                         "ldap_sync_students(sample), scaled to all students; peak memory "
                         "and 'asked' are the sample's own." %
                         ", ".join("%s: %d students" % s for s in sampled))
        if self.args.repeat > 1:
            lines.append("wall s: the median of %d runs for a measurement whose run takes under "
                         "%.0f s, one run otherwise; peak MB: the highest of them." %
                         (self.args.repeat, self.args.repeat_below))
        if any(r["run"] == "1 record" for r in self.rows):
            lines.append("scan, 1 record: ldap_sync_students on one student (plain names, exact match) "
                         "under the scan strategy: the directory read and indexed, nearly nothing matched.")
        lines.append("history s: of the wall time, writing the run history (pssync.sync_run and "
                     "a sync_log row for each result row), from pssync's DEBUG1 timings; real runs only.")
        lines.append("suggest s: of the wall time, the suggestions of a real run's exceptions "
                     "(finding and ranking them, and keeping the best of each in sync_log), from "
                     "pssync's DEBUG1 timings.")
        lines.append("asked: records the directory was searched for one by one (pssync's DEBUG1 "
                     "line); LDAP reqs: operations slapd received (bind, searches, one per page, unbind).")
        lines.append("peak MB: the backend's RssAnon peak during the statement above its value just "
                     "before (idle backend: %.1f MB RssAnon)." %
                     (min((r["idle_kb"] for r in self.rows if "idle_kb" in r), default=0) / 1024.0))
        if hasattr(self, "relay_identical"):
            lines.append("relay check: the floor's ldapsearch output through the relay is %s direct." %
                         ("identical to" if self.relay_identical else "DIFFERENT from"))
        lines[notes_start:] = ["- " + l for l in lines[notes_start:]]
        lines.extend(self.links_lines())
        lines.extend(self.changes_report())
        targets = self.targets() + self.links_targets()
        if targets:
            lines.append("")
            lines.append("Targets at %d students:" % self.counts["students"])
            lines.append("")
            lines.extend("- " + t for t in targets)
        return "\n".join(lines)

    def changes_report(self):
        out = []
        c = getattr(self, "changes", None)
        w = getattr(self, "worker", None)
        if c:
            out += ["", "ldap_sync_changes (direct), after 100 directory changes (50 user IDs, 30 moves, "
                    "10 deletions, 10 new accounts for records that had none) and 20 in PowerSchool "
                    "(10 usernames blanked, 5 last names, 5 new records):", ""]
            if "error" in c:
                out.append("- %s" % c["error"])
            else:
                out.append("- its first run (no watermark: full, scan): %.2f s; %d students linked"
                           % (c["first_seconds"], c["linked"]))
                out.append("- its second run, before any change: %.3f s, %d records returned (what the first "
                           "run's own writes made different)" % (c["nothing_seconds"], c["nothing_rows"]))
                out.append("- after the changes: %.3f s, %d records returned; a scan real run of "
                           "ldap_sync_district('students'): %.2f s; %.0fx faster"
                           % (c["changes_seconds"], c["returned"], c["full_seconds"], c["speedup"]))
                out.append("- exactness: %d records' rows changed in the full run; %d of them missed, "
                           "%d returned though unchanged, %d returned with other rows than the full run's"
                           % (c["expected"], c["missed"], c["extra"], c["rows_differ"]))
                out.append("- peak MB above idle: ldap_sync_changes %.1f, the scan real run %.1f"
                           % (c["changes_peak_kb"] / 1024.0, c["full_peak_kb"] / 1024.0))
                phases = ", ".join("%s %.0f ms" % (k, v * 1000) for k, v in c["changes_phases"].items()
                                   if v >= 0.001)
                if phases:
                    # phases timed inside others (matching's, the suggestions')
                    nested = ("reading the directory", "finding the linked entries",
                              "searching for what the index cannot decide", "deciding",
                              "suggesting", "filing the entries for suggestions",
                              "recording the suggestions")
                    rest = c["changes_seconds"] - sum(v for k, v in c["changes_phases"].items()
                                                      if k not in nested)
                    out.append("- its phases: %s; in no phase (the statement around it, returning "
                               "the rows, the client) %.0f ms" % (phases, rest * 1000))
        if w:
            out += ["", "The background worker (streaming from slapd, scope students):", ""]
            if "error" in w:
                out.append("- %s" % w["error"])
            else:
                out.append("- latency from an entry added in slapd (for a record that had no match) to the "
                           "record's username committed, over %d adds one after the other: median %.3f s, "
                           "p95 %.3f s, max %.3f s" % (w["adds"], w["median"], w["p95"], w["max"]))
        return out

    def targets(self):
        out = []
        c = getattr(self, "changes", None)
        if c and "error" not in c:
            out.append("target ldap_sync_changes at least 20x faster than a scan real run of "
                       "ldap_sync_district('students') (100 directory and 20 PowerSchool changes): %.0fx %s"
                       % (c["speedup"], "met" if c["speedup"] >= 20 else "NOT met"))
            exact = c["missed"] == 0 and c["extra"] == 0 and c["rows_differ"] == 0
            out.append("target ldap_sync_changes returns exactly the records a full run shows changed: %s"
                       % ("met (%d records)" % c["returned"] if exact else
                          "NOT met (%d missed, %d extra, %d other rows)" % (c["missed"], c["extra"], c["rows_differ"])))
        w = getattr(self, "worker", None)
        if w and "error" not in w:
            out.append("target worker latency p95 at most 2 s (%d adds): %.3f s %s"
                       % (w["adds"], w["p95"], "met" if w["p95"] <= 2 else "NOT met"))
        for network in self.floors:
            for r in self.rows:
                if (r["network"], r["strategy"], r["run"]) == (network, "scan", "real run") and "seconds" in r:
                    floor = self.floors[network]["ldapsearch_seconds"] + self.update_seconds
                    ratio = r["seconds"] / floor
                    out.append("target a full real run (scan, history on, pssync.history_rows = changes) "
                               "at most 1.5x the floor (%s): %.2fx %s" %
                               (network, ratio, "met" if ratio <= 1.5 else "NOT met"))

        def find(network, strategy, run):
            for r in self.rows:
                if (r["network"], r["strategy"], r["run"]) == (network, strategy, run) and "seconds" in r:
                    return r
            return None
        for run in ("dry run", "real run"):
            for network in self.floors:
                scan = find(network, "scan", run)
                if scan:
                    floor = self.floors[network]["ldapsearch_seconds"] + \
                        (0 if run == "dry run" else self.update_seconds)
                    ratio = scan["seconds"] / floor
                    history = scan.get("phases", {}).get("recording the run")
                    out.append("target scan within 2x of the floor (%s, %s): %.1fx %s%s" %
                               (network, run, ratio, "met" if ratio <= 2 else "NOT met",
                                "; %.1fx without writing the run history (%.2f s)" %
                                ((scan["seconds"] - history) / floor, history) if history else ""))
            scan = find("relay", "scan", run)
            search = find("relay", "search", run)
            if scan and search:
                speedup = search["seconds"] / scan["seconds"]
                out.append("target scan 20x faster than search at %.1f ms round trip (%s): %.0fx %s" %
                           (2 * self.args.delay_us / 1000.0, run, speedup,
                            "met" if speedup >= 20 else "NOT met"))
        for network in self.floors:
            scan = find(network, "scan", "real run")
            added = suggest_phases(scan) if scan else None
            if added is not None:
                exceptions = sum(scan["statuses"].get(k, 0) for k in ("partial", "no_match", "link_broken"))
                pct = 100.0 * added / (scan["seconds"] - added)
                out.append("target suggestions for every exception of a scan real run add at most 20%% "
                           "(%s): %.0f%% (%.2f s for %d exceptions, on %.2f s without them) %s" %
                           (network, pct, added, exceptions, scan["seconds"] - added,
                            "met" if pct <= 20 else "NOT met"))
        # issue 11: at most 64 MB above an idle backend during any run of
        # the benchmark (the sampled ones and the links section's too)
        peaks = [(r["peak_above_idle_kb"], "%s %s %s" % (r["network"], r["strategy"], r["run"]))
                 for r in self.rows if "peak_above_idle_kb" in r]
        links = getattr(self, "links", None) or {}
        peaks += [(m["peak_above_idle_kb"], "links: " + k) for k, m in links.items()
                  if isinstance(m, dict) and "peak_above_idle_kb" in m]
        c = getattr(self, "changes", None)
        if c and "error" not in c:
            peaks += [(c["changes_peak_kb"], "ldap_sync_changes"),
                      (c["full_peak_kb"], "ldap_sync_changes' full run")]
        if peaks:
            kb, run = max(peaks)
            out.append("target backend peak at most 64 MB above idle (every run): max %.1f MB (%s) %s" %
                       (kb / 1024.0, run, "met" if kb <= 64 * 1024 else "NOT met"))
        return out


def diff_counts(expected, got):
    keys = sorted(set(expected) | set(got))
    return ", ".join("%s %d->%d" % (k, expected.get(k, 0), got.get(k, 0))
                     for k in keys if expected.get(k, 0) != got.get(k, 0))


def parse_uri(uri):
    m = re.match(r"ldap://([^:/]+):(\d+)", uri)
    return m.group(1), int(m.group(2))


def files_equal(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x = fa.read(1 << 20)
            y = fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--district", required=True, help="the generator's output directory")
    ap.add_argument("--schema", required=True, help="test/fixtures/powerschool_schema.sql")
    ap.add_argument("--direct-uri", required=True)
    ap.add_argument("--relay-uri", default="")
    ap.add_argument("--delay-us", type=int, default=500)
    ap.add_argument("--strategies", default="search,scan,auto")
    ap.add_argument("--search-sample", type=int, default=10000,
                    help="through the relay, time search on this many students and "
                         "extrapolate (0: all of them)")
    ap.add_argument("--search-sample-direct", type=int, default=0,
                    help="the same, direct (default 0: all of them)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="run each measurement up to this many times and take the median "
                         "(default 3) ...")
    ap.add_argument("--repeat-below", type=float, default=10.0,
                    help="... as long as one run takes less than this many seconds (default 10)")
    ap.add_argument("--no-index-row", dest="index_row", action="store_false",
                    help="leave out the scan strategy's one-record run")
    ap.add_argument("--no-links", dest="links", action="store_false",
                    help="leave out the runs with every student linked")
    ap.add_argument("--links-search-sample", type=int, default=10000,
                    help="count search's LDAP requests, linked and not, on this many students "
                         "(default 10000; 0: leave out)")
    ap.add_argument("--no-changes", dest="changes", action="store_false",
                    help="leave out ldap_sync_changes and the worker")
    ap.add_argument("--no-worker", dest="worker", action="store_false",
                    help="leave out the worker's latency")
    ap.add_argument("--worker-adds", type=int, default=50,
                    help="entries added for the worker's latency (default 50)")
    ap.add_argument("--work", required=True, help="a scratch directory")
    ap.add_argument("--results", default="", help="write the table here (Markdown) and JSON beside it")
    ap.add_argument("--load-at-start", default="")
    args = ap.parse_args()
    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if not args.work or not os.path.isdir(args.work):
        raise SystemExit("bench.py: --work must be an existing directory")

    b = Bench(args)
    t0 = time.perf_counter()
    print("loading the district into PostgreSQL ...", file=sys.stderr, flush=True)
    b.load()
    print("  %.1f s" % b.load_seconds, file=sys.stderr)
    print("measuring ...", file=sys.stderr, flush=True)
    b.run()
    text = b.table()
    print(text)
    if args.results:
        with open(args.results, "w") as f:
            f.write(text + "\n")
        with open(os.path.splitext(args.results)[0] + ".json", "w") as f:
            json.dump({"rows": b.rows, "floors": b.floors, "update_seconds": b.update_seconds,
                       "links": getattr(b, "links", None),
                       "changes": getattr(b, "changes", None), "worker": getattr(b, "worker", None),
                       "update_times": b.update_times,
                       "counts": b.counts, "rtt_us": b.rtt, "summary": b.summary,
                       "load_seconds": b.load_seconds,
                       "measure_seconds": time.perf_counter() - t0}, f, indent=1,
                      ensure_ascii=False)
    b.db.close()


if __name__ == "__main__":
    sys.exit(main())
