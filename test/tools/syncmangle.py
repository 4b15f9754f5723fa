#!/usr/bin/env python3
"""syncmangle: an LDAP relay that garbles the answers to sync searches.

    syncmangle.py MODE LISTEN_PORT TARGET_PORT

Listens on 127.0.0.1:LISTEN_PORT and relays every connection to
127.0.0.1:TARGET_PORT, unchanged but for the answers to a sync search that
carries a cookie (the Sync Request control, RFC 4533, with a cookie); a
sync search without one, or with pssync's first cookie "rid=000" (what
pssync asks a watermark with), is left alone.
MODE says what becomes of them:

    nodone     the result comes without its controls, so without its
               syncDone control: a provider that ends a refresh without
               saying what it was;
    nouuid     the entries come without their entryUUID attribute (their
               syncState control still names them);
    bigcookie  the result's syncDone control holds a cookie of 70,000
               bytes (and refreshDeletes TRUE).

Runs until killed.
"""

import socket
import sys
import threading

SYNC_REQUEST = b"1.3.6.1.4.1.4203.1.9.1.1"
SYNC_DONE = b"1.3.6.1.4.1.4203.1.9.1.3"
FIRST_COOKIE = b"rid=000"


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
            raise BerError("short")
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


def encode_length(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag, body):
    return bytes([tag]) + encode_length(len(body)) + body


def messages(buf):
    """The complete LDAP messages at the start of buf, and the rest."""
    out = []
    pos = 0
    while True:
        try:
            _, _, end = read_tlv(buf, pos)
        except BerError:
            break
        out.append(bytes(buf[pos:end]))
        pos = end
    return out, buf[pos:]


def sync_with_cookie(msg):
    """Is msg a search request with a Sync Request control holding a cookie?"""
    _, s, e = read_tlv(msg, 0)
    parts = children(msg, s, e)
    if len(parts) < 3 or parts[1][0] != 0x63 or parts[2][0] != 0xA0:
        return False
    for _, cs, ce in children(msg, parts[2][1], parts[2][2]):
        fields = children(msg, cs, ce)
        if msg[fields[0][1]:fields[0][2]] != SYNC_REQUEST:
            continue
        value = [f for f in fields[1:] if f[0] == 0x04]
        if not value:
            return False
        vs, ve = value[0][1], value[0][2]
        _, ss, se = read_tlv(msg, vs)
        # pssync's first cookie, a replica ID without a CSN, is no cookie
        return any(t == 0x04 and msg[cs2:ce2] != FIRST_COOKIE
                   for t, cs2, ce2 in children(msg, ss, se))
    return False


def msgid(msg):
    _, s, e = read_tlv(msg, 0)
    _, is_, ie = children(msg, s, e)[0]
    return int.from_bytes(msg[is_:ie], "big")


def mangle(msg):
    """An answer to a sync search with a cookie, as MODE has it."""
    _, s, e = read_tlv(msg, 0)
    parts = children(msg, s, e)
    if len(parts) < 2:
        return msg
    head = msg[s:parts[0][2]]  # the message ID
    rest = msg[parts[1][2]:e]  # the controls
    op_tag, os_, oe = parts[1]
    if MODE == "nodone" and op_tag == 0x65:
        return tlv(0x30, msg[s:oe])
    if MODE == "bigcookie" and op_tag == 0x65:
        value = tlv(0x30, tlv(0x04, b"x" * 70000) + b"\x01\x01\xff")
        control = tlv(0x30, tlv(0x04, SYNC_DONE) + tlv(0x04, value))
        return tlv(0x30, msg[s:oe] + tlv(0xA0, control))
    if MODE == "nouuid" and op_tag == 0x64:
        (_, ns, ne), (_, as_, ae) = children(msg, os_, oe)
        attrs = b""
        for _, cs, ce in children(msg, as_, ae):
            (_, ts, te) = children(msg, cs, ce)[0]
            if msg[ts:te].lower() != b"entryuuid":
                attrs += tlv(0x30, msg[cs:ce])
        entry = tlv(0x64, tlv(0x04, msg[ns:ne]) + tlv(0x30, attrs))
        return tlv(0x30, head + entry + rest)
    return msg


def relay(client):
    server = socket.create_connection(("127.0.0.1", TARGET_PORT))
    marked = set()
    lock = threading.Lock()

    def upstream():
        buf = b""
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                buf += data
                msgs, buf = messages(buf)
                for m in msgs:
                    try:
                        if sync_with_cookie(m):
                            with lock:
                                marked.add(msgid(m))
                    except (BerError, IndexError):
                        pass
                    server.sendall(m)
        except OSError:
            pass
        for sock in (server, client):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    threading.Thread(target=upstream, daemon=True).start()
    buf = b""
    try:
        while True:
            data = server.recv(65536)
            if not data:
                break
            buf += data
            msgs, buf = messages(buf)
            for m in msgs:
                try:
                    with lock:
                        strip = msgid(m) in marked
                    if strip:
                        m = mangle(m)
                except (BerError, IndexError):
                    pass
                client.sendall(m)
    except OSError:
        pass
    for sock in (server, client):
        try:
            sock.close()
        except OSError:
            pass


MODE = sys.argv[1]
LISTEN_PORT = int(sys.argv[2])
TARGET_PORT = int(sys.argv[3])
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", LISTEN_PORT))
listener.listen(16)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=relay, args=(conn,), daemon=True).start()
