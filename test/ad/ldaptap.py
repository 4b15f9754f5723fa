#!/usr/bin/env python3
"""ldaptap: a logging TCP relay between pssync and the domain controller.

    ldaptap.py LISTEN_PORT TARGET_HOST TARGET_PORT LOG_FILE

Listens on 127.0.0.1:LISTEN_PORT, relays every connection to
TARGET_HOST:TARGET_PORT unchanged, and writes one line to LOG_FILE for each
LDAP request and result it sees, so that the tests can show what pssync
asked Active Directory for: the attributes requested, the filter as sent,
the paged results control of each request and what each page brought back.

Samba does not enforce MaxPageSize (AD's limit of 1000 entries per answer)
on searches that are not paged, so counting entries alone cannot prove that
pssync pages; these lines do.  Lines look like:

    c1 bind name="svc-pssync@district.test"          (never the password)
    c1 bind-result rc=0 data=none
    c1 search id=2 base="OU=Students,DC=district,DC=test" scope=sub
       filter="(&(objectCategory=person)...)" attrs=sAMAccountName
       page=500 cookie=no                               (one line in the log)
    c1 result id=2 rc=0 entries=500 references=0 more=yes
    c1 starttls                                        (nothing after: TLS)

Each connection is numbered in the order it was accepted.  The relay runs
until it is killed.
"""

import socket
import sys
import threading

PAGED_RESULTS = b"1.2.840.113556.1.4.319"
STARTTLS = b"1.3.6.1.4.1.1466.20037"
SCOPES = {0: "base", 1: "one", 2: "sub"}

log_lock = threading.Lock()
log_file = None


def log(line):
    with log_lock:
        log_file.write(line + "\n")
        log_file.flush()


class BerError(Exception):
    pass


def read_tlv(data, pos):
    """One BER element at pos: (tag, value start, value end)."""
    if pos + 2 > len(data):
        raise BerError("short")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise BerError("length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise BerError("short")
    return tag, pos, pos + length


def children(data, start, end):
    out = []
    pos = start
    while pos < end:
        tag, s, e = read_tlv(data, pos)
        out.append((tag, s, e))
        pos = e
    return out


def integer(data, s, e):
    return int.from_bytes(data[s:e], "big", signed=True) if e > s else 0


def escape_value(value):
    """A filter value as RFC 4515 writes it."""
    out = bytearray()
    for b in value:
        if b in b"*()\\" or b == 0:
            out += b"\\%02x" % b
        else:
            out.append(b)
    return out.decode("utf-8", "backslashreplace")


def text(data, s, e):
    return data[s:e].decode("utf-8", "backslashreplace")


def render_filter(data, tag, s, e):
    kind = tag & 0x1F
    if kind in (0, 1):  # and, or
        inner = "".join(render_filter(data, t, cs, ce) for t, cs, ce in children(data, s, e))
        return "(%s%s)" % ("&" if kind == 0 else "|", inner)
    if kind == 2:  # not
        t, cs, ce = children(data, s, e)[0]
        return "(!%s)" % render_filter(data, t, cs, ce)
    if kind in (3, 5, 6, 8):  # equality, >=, <=, ~=
        (_, as_, ae), (_, vs, ve) = children(data, s, e)
        op = {3: "=", 5: ">=", 6: "<=", 8: "~="}[kind]
        return "(%s%s%s)" % (text(data, as_, ae), op, escape_value(data[vs:ve]))
    if kind == 4:  # substrings
        (_, as_, ae), (_, ss, se) = children(data, s, e)
        parts = {0: "", 1: [], 2: ""}
        for t, cs, ce in children(data, ss, se):
            if t & 0x1F == 1:
                parts[1].append(escape_value(data[cs:ce]))
            else:
                parts[t & 0x1F] = escape_value(data[cs:ce])
        return "(%s=%s*%s%s)" % (text(data, as_, ae), parts[0],
                                "".join(p + "*" for p in parts[1]), parts[2])
    if kind == 7:  # present
        return "(%s=*)" % text(data, s, e)
    if kind == 9:  # extensible
        rule = attr = value = ""
        dn = False
        for t, cs, ce in children(data, s, e):
            k = t & 0x1F
            if k == 1:
                rule = ":" + text(data, cs, ce)
            elif k == 2:
                attr = text(data, cs, ce)
            elif k == 3:
                value = escape_value(data[cs:ce])
            elif k == 4:
                dn = data[cs:ce] != b"\x00"
        return "(%s%s%s:=%s)" % (attr, ":dn" if dn else "", rule, value)
    return "(?)"


def paged_control(data, controls):
    """(size, has cookie) of a paged results control, or None."""
    if controls is None:
        return None
    for _, cs, ce in children(data, *controls):
        parts = children(data, cs, ce)
        if data[parts[0][1]:parts[0][2]] != PAGED_RESULTS:
            continue
        value = [p for p in parts[1:] if p[0] == 0x04]
        if not value:
            return (None, False)
        _, vs, ve = value[0]
        _, ss, se = read_tlv(data, vs)
        (_, is_, ie), (_, ks, ke) = children(data, ss, se)
        return (integer(data, is_, ie), ke > ks)
    return None


def ad_data_code(diag):
    marker = b"data "
    i = diag.find(marker)
    if i < 0:
        return "none"
    return diag[i + 5:i + 8].decode("ascii", "replace")


class Connection:
    def __init__(self, number):
        self.number = number
        self.tls = False
        self.searches = {}      # message id -> [entries, references]
        self.starttls_id = None


def parse_request(conn, data, start, end):
    """Log a client message; return False when TLS starts after it."""
    parts = children(data, start, end)
    msgid = integer(data, parts[0][1], parts[0][2])
    op, os_, oe = parts[1]
    controls = None
    for t, cs, ce in parts[2:]:
        if t == 0xA0:
            controls = (cs, ce)
    c = "c%d" % conn.number
    if op == 0x60:  # bind: version, name, authentication (never logged)
        fields = children(data, os_, oe)
        log('%s bind name="%s"' % (c, text(data, fields[1][1], fields[1][2])))
    elif op == 0x63:  # search
        f = children(data, os_, oe)
        base = text(data, f[0][1], f[0][2])
        scope = SCOPES.get(integer(data, f[1][1], f[1][2]), "?")
        flt = render_filter(data, f[6][0], f[6][1], f[6][2])
        attrs = [text(data, s, e) for _, s, e in children(data, f[7][1], f[7][2])]
        paged = paged_control(data, controls)
        page = "none" if paged is None else str(paged[0])
        cookie = "no" if paged is None or not paged[1] else "yes"
        conn.searches[msgid] = [0, 0]
        log('%s search id=%d base="%s" scope=%s filter="%s" attrs=%s page=%s cookie=%s'
            % (c, msgid, base, scope, flt, ",".join(attrs) if attrs else "(all)",
               page, cookie))
    elif op == 0x77:  # extended
        fields = children(data, os_, oe)
        if fields and data[fields[0][1]:fields[0][2]] == STARTTLS:
            log("%s starttls" % c)
            conn.starttls_id = msgid
            return False
    elif op == 0x42:
        log("%s unbind" % c)
    elif op == 0x50:
        log("%s abandon" % c)
    return True


def parse_response(conn, data, start, end):
    """Log a server message; return False when TLS starts after it."""
    parts = children(data, start, end)
    msgid = integer(data, parts[0][1], parts[0][2])
    op, os_, oe = parts[1]
    controls = None
    for t, cs, ce in parts[2:]:
        if t == 0xA0:
            controls = (cs, ce)
    c = "c%d" % conn.number
    if op == 0x64:
        conn.searches.setdefault(msgid, [0, 0])[0] += 1
    elif op == 0x73:
        conn.searches.setdefault(msgid, [0, 0])[1] += 1
    elif op in (0x61, 0x65, 0x78):
        fields = children(data, os_, oe)
        rc = integer(data, fields[0][1], fields[0][2])
        if op == 0x61:
            diag = data[fields[2][1]:fields[2][2]]
            log("%s bind-result rc=%d data=%s" % (c, rc, ad_data_code(diag)))
        elif op == 0x65:
            entries, refs = conn.searches.pop(msgid, [0, 0])
            paged = paged_control(data, controls)
            more = "yes" if paged is not None and paged[1] else "no"
            log("%s result id=%d rc=%d entries=%d references=%d more=%s"
                % (c, msgid, rc, entries, refs, more))
        elif op == 0x78 and msgid == conn.starttls_id:
            log("%s starttls-result rc=%d" % (c, rc))
            return rc != 0
    return True


def pump(conn, src, dst, parse):
    buf = b""
    parsing = True
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            if parsing:
                buf += chunk
                pos = 0
                while parsing:
                    try:
                        tag, s, e = read_tlv(buf, pos)
                    except BerError:
                        break
                    try:
                        parsing = parse(conn, buf, s, e)
                    except (BerError, IndexError, ValueError):
                        log("c%d unparsed message" % conn.number)
                    pos = e
                buf = buf[pos:] if parsing else b""
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def handle(client, number, target):
    conn = Connection(number)
    try:
        server = socket.create_connection(target)
    except OSError as e:
        log("c%d connect-failed %s" % (number, e.strerror))
        client.close()
        return
    up = threading.Thread(target=pump, args=(conn, client, server, parse_request), daemon=True)
    down = threading.Thread(target=pump, args=(conn, server, client, parse_response), daemon=True)
    up.start()
    down.start()
    up.join()
    down.join()
    client.close()
    server.close()


def main():
    global log_file
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    port, host, target_port, path = sys.argv[1:]
    log_file = open(path, "a", encoding="utf-8")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(port)))
    listener.listen(16)
    number = 0
    while True:
        client, _ = listener.accept()
        number += 1
        threading.Thread(target=handle, args=(client, number, (host, int(target_port))),
                         daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
