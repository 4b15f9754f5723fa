#!/usr/bin/env python3
"""Tests of bench/relay.c, against small servers of this script.

    python3 bench/test_relay.py RELAY_BINARY [--delay-us 500] [--big-mb 300]

Checks, each printing "ok" or "FAIL":
  - a request/response round trip through the relay takes 2 x delay more
    than direct (median of many, over one connection);
  - delays do not add up: messages sent 100 us apart come back 100 us apart,
    each one round trip late, not one delay per message queued before it;
  - a large transfer in both directions at once arrives intact (SHA-256),
    with the relay's peak memory bounded;
  - half-close: EOF from the client reaches the server, whose answer still
    comes back, then EOF;
  - many concurrent connections, each echoing its own data;
  - a refused upstream connection closes the client's connection.
Exit status 0 when all pass.
"""
import argparse
import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

failures = []


def check(name, ok, detail=""):
    print(("ok    " if ok else "FAIL  ") + name + (": " + detail if detail else ""))
    if not ok:
        failures.append(name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A threaded TCP server on 127.0.0.1; handler(conn) per connection."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.errors = []
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.run, args=(conn,), daemon=True).start()

    def run(self, conn):
        try:
            self.handler(conn)
        except Exception as e:  # reported by the test that used it
            self.errors.append(repr(e))
        finally:
            conn.close()


def echo_handler(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            conn.shutdown(socket.SHUT_WR)
            return
        conn.sendall(data)


def start_relay(binary, listen, target, delay_us):
    proc = subprocess.Popen([binary, "-d", str(delay_us), str(listen), str(target)])
    # listening once the port cannot be bound (no connection: that would
    # reach the server behind the relay)
    for _ in range(250):
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", listen))
        except OSError:
            return proc
        finally:
            probe.close()
        time.sleep(0.02)
    proc.kill()
    raise SystemExit("relay did not start")


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return bytes(buf)


def round_trips(port, count=400):
    s = connect(port)
    times = []
    for i in range(count):
        msg = b"x" * 64
        t = time.perf_counter()
        s.sendall(msg)
        recv_exact(s, len(msg))
        times.append(time.perf_counter() - t)
    s.close()
    return statistics.median(times[20:])


def test_round_trip(relay_port, echo_port, delay_us):
    direct = round_trips(echo_port)
    relayed = round_trips(relay_port)
    added_us = (relayed - direct) * 1e6
    expect = 2 * delay_us
    ok = abs(added_us - expect) <= max(0.25 * expect, 100)
    check("round trip adds 2 x delay", ok,
          "direct %.0f us, relayed %.0f us, added %.0f us (expected %d)" %
          (direct * 1e6, relayed * 1e6, added_us, expect))


def message_latencies(port, n=20, spacing=200e-6):
    """Send n small messages spacing seconds apart over one connection to
    an echo server; the time each took to come back, in microseconds."""
    s = connect(port)
    sent = []
    arrivals = []

    def reader():
        pending = b""
        while len(arrivals) < n:
            d = s.recv(65536)
            if not d:
                return
            now = time.perf_counter()
            pending += d
            while len(pending) >= 8:
                pending = pending[8:]
                arrivals.append(now)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    start = time.perf_counter()
    for i in range(n):
        delay = start + i * spacing - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent.append(time.perf_counter())
        s.sendall(b"%07d\n" % i)
    t.join(10)
    s.close()
    return [(a - t) * 1e6 for a, t in zip(arrivals, sent)]


def test_no_cumulative_delay(relay_port, echo_port, delay_us):
    """20 messages 200 us apart, their echoes read by another thread: each
    must come back about one round trip (2 x delay) after it was sent, not
    one delay later per message in flight before it."""
    n = 20
    direct = message_latencies(echo_port, n)
    relayed = message_latencies(relay_port, n)
    if len(relayed) != n or len(direct) != n:
        check("delays do not add up", False, "got %d of %d messages" % (len(relayed), n))
        return
    # queued delays would add up to n round trips; allow scheduling noise
    ok = max(relayed) < max(direct) + 2 * delay_us + 1500
    check("delays do not add up", ok,
          "%d messages 200 us apart: latency through the relay median %.0f us, worst %.0f us "
          "(direct median %.0f us; one round trip adds %d us; delays queued behind each "
          "other would make the last %d us)" %
          (n, statistics.median(relayed), max(relayed), statistics.median(direct),
           2 * delay_us, 2 * delay_us * n))


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def test_big_transfer(relay_port_for, relay_pid, big_mb):
    """Client sends big_mb MB while the server sends big_mb MB back at the
    same time; both sides check SHA-256."""
    size = big_mb * 1024 * 1024
    block = os.urandom(1 << 20)
    expect = hashlib.sha256()
    for i in range(big_mb):
        expect.update(block)
    expect = expect.hexdigest()
    result = {}

    def handler(conn):
        def sender():
            for i in range(big_mb):
                conn.sendall(block)
            conn.shutdown(socket.SHUT_WR)
        t = threading.Thread(target=sender)
        t.start()
        h = hashlib.sha256()
        n = 0
        while True:
            d = conn.recv(1 << 20)
            if not d:
                break
            h.update(d)
            n += len(d)
        t.join()
        result["server"] = (n, h.hexdigest())

    server = Server(handler)
    port = relay_port_for(server.port)
    before = vm_hwm_kb(relay_pid())
    t0 = time.perf_counter()
    s = connect(port)

    def client_sender():
        for i in range(big_mb):
            s.sendall(block)
        s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=client_sender)
    t.start()
    h = hashlib.sha256()
    n = 0
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        h.update(d)
        n += len(d)
    t.join()
    s.close()
    elapsed = time.perf_counter() - t0
    for _ in range(100):
        if "server" in result:
            break
        time.sleep(0.05)
    server_n, server_h = result.get("server", (0, ""))
    ok = n == size and h.hexdigest() == expect and server_n == size and server_h == expect
    check("large transfer both ways", ok,
          "%d MB each way in %.1f s, client got %d bytes, server got %d bytes, hashes %s" %
          (big_mb, elapsed, n, server_n, "match" if ok else "DIFFER"))
    after = vm_hwm_kb(relay_pid())
    check("relay memory bounded", after < 64 * 1024,
          "peak RSS %d kB before, %d kB after %d MB each way" % (before, after, 2 * big_mb))


def test_half_close(relay_port_for):
    payload = os.urandom(300000)

    def handler(conn):
        got = b""
        while True:
            d = conn.recv(65536)
            if not d:
                break
            got += d
        conn.sendall(b"got %d bytes\n" % len(got) + payload)
        conn.shutdown(socket.SHUT_WR)
        # wait for the client's close
        conn.recv(1)

    server = Server(handler)
    s = connect(relay_port_for(server.port))
    s.sendall(b"hello" * 1000)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(10)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    expect = b"got 5000 bytes\n" + payload
    check("half-close", got == expect,
          "answer of %d bytes after client EOF, then EOF" % len(got))


def test_many_connections(relay_port_for, count=300):
    server = Server(echo_handler)
    port = relay_port_for(server.port)
    errors = []
    ok_count = [0]
    lock = threading.Lock()

    def client(i):
        try:
            data = os.urandom(1000 + (i * 7919) % 200000)
            s = connect(port)
            s.settimeout(30)
            t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
            t.start()
            got = bytearray()
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
            t.join()
            s.close()
            if bytes(got) != data:
                raise ValueError("echo differs (%d of %d bytes)" % (len(got), len(data)))
            with lock:
                ok_count[0] += 1
        except Exception as e:
            with lock:
                errors.append("%d: %r" % (i, e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check("%d concurrent connections" % count, ok_count[0] == count and not server.errors,
          "%d echoed intact in %.1f s%s" % (ok_count[0], time.perf_counter() - t0,
                                            ("; " + errors[0]) if errors else ""))


def test_refused(binary, delay_us):
    listen = free_port()
    dead = free_port()
    proc = start_relay(binary, listen, dead, delay_us)
    try:
        s = connect(listen)
        s.settimeout(5)
        try:
            s.sendall(b"anyone?")
            d = s.recv(10)
            ok = d == b""
            detail = "EOF" if ok else "got data"
        except ConnectionResetError:
            ok, detail = True, "reset"
        except socket.timeout:
            ok, detail = False, "connection left open"
        s.close()
        check("refused upstream closes the client", ok, detail)
    finally:
        proc.terminate()
        proc.wait()


def echo_server_process():
    """An echo server in a process of its own, printing its port: a server
    thread of this process would wait for the GIL of a busy client."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--echo-server"],
                            stdout=subprocess.PIPE)
    port = int(proc.stdout.readline())
    return proc, port


def main():
    if sys.argv[1:] == ["--echo-server"]:
        server = Server(echo_handler)
        print(server.port, flush=True)
        threading.Event().wait()
    ap = argparse.ArgumentParser()
    ap.add_argument("relay")
    ap.add_argument("--delay-us", type=int, default=500)
    ap.add_argument("--big-mb", type=int, default=300)
    args = ap.parse_args()

    relays = []

    def relay_for(target):
        port = free_port()
        relays.append(start_relay(args.relay, port, target, args.delay_us))
        return port

    try:
        echo, echo_port = echo_server_process()
        relays.append(echo)
        port = relay_for(echo_port)
        test_round_trip(port, echo_port, args.delay_us)
        test_no_cumulative_delay(port, echo_port, args.delay_us)
        test_half_close(relay_for)
        test_many_connections(relay_for)
        big_port = [None]

        def big_relay(target):
            big_port[0] = relay_for(target)
            return big_port[0]
        test_big_transfer(big_relay, lambda: relays[-1].pid, args.big_mb)
        test_refused(args.relay, args.delay_us)
        # still alive after all that?
        alive = all(p.poll() is None for p in relays[1:])
        check("relays still running", alive)
    finally:
        for p in relays:
            p.send_signal(signal.SIGTERM)
            p.wait()
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
