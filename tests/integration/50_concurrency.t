#!/usr/bin/python3
"""Load: 200 concurrent connections x 50 requests each, mixed known, blocked,
unknown (challenge writes), unprotected and non-RCPT requests; every reply is
checked against its expected value; requests/s is reported.  Then pipelined
requests on one connection come back in order.  Challenge rows afterwards:
one per unknown pair, attempts = the requests sent for it."""
import os
import selectors
import socket
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

N_CONN = 200
N_REQ = 50
N_UNKNOWN = 20
DEADLINE = 120.0
KID = 'kid@c.example'
KID2 = 'kid2@c.example'


def make_request(i, j):
    """(attrs, predicate on the reply, expected text) for request J of connection I."""
    kind = (i * 7 + j) % 6
    if kind == 0:
        return dict(sender='friend+%d@c.example' % j, recipient=KID), 'DUNNO'
    if kind == 1:
        return dict(sender='unknown%d@c.example' % ((i + j) % N_UNKNOWN), recipient=KID), 'DEFER'
    if kind == 2:
        return dict(sender='x%d@any.example' % i, recipient='nobody%d@c.example' % j), 'DUNNO'
    if kind == 3:
        return dict(sender='Blocked@C.example', recipient=KID2), h.ACCESS_DENIED
    if kind == 4:
        return dict(sender='unknown%d@c.example' % (j % N_UNKNOWN), recipient=KID,
                    protocol_state='DATA'), 'DUNNO'
    return dict(sender='grandma@example.com', recipient='Kid2+x@c.example'), 'DUNNO'


def matches(reply, want):
    return h.is_defer(reply) if want == 'DEFER' else reply == want


class Conn:
    def __init__(self, i, sock):
        self.i, self.sock, self.j, self.buf = i, sock, 0, b''
        self.sent_at = None
        self.attrs = self.want = None

    def send_next(self):
        self.attrs, self.want = make_request(self.i, self.j)
        self.sock.setblocking(True)
        self.sock.sendall(h.request_bytes(**self.attrs))
        self.sock.setblocking(False)
        self.sent_at = time.monotonic()


def load_phase(port):
    sel = selectors.DefaultSelector()
    conns = []
    t_connect = time.monotonic()
    for i in range(N_CONN):
        s = socket.create_connection(('127.0.0.1', port), timeout=h.SOCK_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(Conn(i, s))
    h.diag('%d connections open after %.3f s' % (N_CONN, time.monotonic() - t_connect))
    h.is_(len(conns), N_CONN, '%d concurrent connections accepted' % N_CONN)

    results = Counter()
    bad = []
    sent_unknown = Counter()
    latencies = []
    t0 = time.monotonic()
    for c in conns:
        c.send_next()
        sel.register(c.sock, selectors.EVENT_READ, c)
    active = len(conns)
    replies = 0
    while active and time.monotonic() - t0 < DEADLINE:
        events = sel.select(timeout=1.0)
        now = time.monotonic()
        for key, _ in events:
            c = key.data
            try:
                chunk = c.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                chunk = b''
                bad.append((c.i, c.j, c.attrs, c.want, 'recv error %s' % e))
            if not chunk:
                if not any(b[0] == c.i for b in bad):
                    bad.append((c.i, c.j, c.attrs, c.want, 'connection closed'))
                sel.unregister(c.sock)
                active -= 1
                continue
            c.buf += chunk
            while b'\n\n' in c.buf:
                raw, c.buf = c.buf.split(b'\n\n', 1)
                text = raw.decode('utf-8', 'replace')
                reply = text[7:] if text.startswith('action=') else None
                replies += 1
                latencies.append(now - c.sent_at)
                if matches(reply, c.want):
                    results['ok'] += 1
                    if c.want == 'DEFER':
                        sent_unknown[c.attrs['sender']] += 1
                else:
                    results['bad'] += 1
                    bad.append((c.i, c.j, c.attrs, c.want, text))
                c.j += 1
                if c.j < N_REQ:
                    c.send_next()
                else:
                    sel.unregister(c.sock)
                    active -= 1
        for c in conns:     # a reply overdue by more than the socket timeout
            if c.j < N_REQ and c.sent_at and now - c.sent_at > h.SOCK_TIMEOUT and c.sock.fileno() >= 0:
                try:
                    sel.unregister(c.sock)
                except KeyError:
                    continue
                bad.append((c.i, c.j, c.attrs, c.want, 'no reply within %ds' % h.SOCK_TIMEOUT))
                active -= 1
    elapsed = time.monotonic() - t0
    for c in conns:
        c.sock.close()
    sel.close()

    total = N_CONN * N_REQ
    h.is_(replies, total, 'all %d requests answered (within %ds)' % (total, DEADLINE))
    h.is_(results['ok'], total, 'every reply matches its expected value')
    for b in bad[:5]:
        h.diag('conn %d request %d %r: expected %r, got %r' % b)
    latencies.sort()
    if latencies:
        h.diag('%d requests on %d connections in %.2f s: %.0f requests/s; latency p50 %.2f ms, '
               'p99 %.2f ms, max %.2f ms'
               % (replies, N_CONN, elapsed, replies / elapsed, latencies[len(latencies) // 2] * 1000,
                  latencies[int(len(latencies) * 0.99)] * 1000, latencies[-1] * 1000))
    return sent_unknown


def pipeline_phase(port):
    """20 connections each write 50 requests in one go, then read 50 replies."""
    ok_all, problems = True, []
    for i in range(20):
        reqs = [make_request(1000 + i, j) for j in range(N_REQ)]
        with h.PolicyConnection(port) as c:
            c.send_raw(b''.join(h.request_bytes(**a) for a, _ in reqs))
            for j, (a, want) in enumerate(reqs):
                try:
                    got = c.read_reply()
                except h.PolicyError as e:
                    got = 'error: %s' % e
                if not matches(got, want):
                    ok_all = False
                    problems.append('conn %d request %d %r: expected %r, got %r' % (i, j, a, want, got))
                    break
    h.ok(ok_all, 'pipelined requests (50 per write, 20 connections) are answered in order', *problems[:5])
    return Counter(a['sender'] for i in range(20) for a, w in
                   (make_request(1000 + i, j) for j in range(N_REQ)) if w == 'DEFER')


def main():
    db = h.start_db(
        "INSERT INTO protected_users VALUES ('kid@c.example','whitelist')",
        "INSERT INTO protected_users VALUES ('kid2@c.example','whitelist')",
        "INSERT INTO whitelist VALUES ('grandma@example.com','OK')",
        "INSERT INTO whitelist VALUES ('friend@c.example','OK')",
        "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid2@c.example','blocked@c.example','REJECT')",
    )
    d = h.start_daemon(db)
    sent = load_phase(d.port)
    sent.update(pipeline_phase(d.port))

    rows = h.challenges(db)
    per_pair = Counter((r['sender'], r['recipient']) for r in rows)
    h.is_(sorted(k for k, v in per_pair.items() if v != 1), [], 'one challenge row per unknown pair')
    h.is_(sorted(r['sender'] for r in rows), sorted(sent), 'challenge rows exist exactly for the unknown senders')
    # Retries are counted by refreshes written behind the replies: wait for
    # the last of them (bounded) before comparing.
    want = dict(sent)
    good, attempts, secs = h.poll_until(
        lambda: {r['sender']: int(r['attempts']) for r in h.challenges(db)}, lambda a: a == want, 10.0)
    h.diag('attempts complete %.3f s after the load' % secs)
    h.is_(attempts, want, 'attempts of each challenge = the deferred requests sent for it')
    h.is_(h.query(d.port, sender='grandma@example.com', recipient=KID), 'DUNNO',
          'a fresh connection is answered after the load')
    d.stop()
    db.stop()


h.run(main, timeout=300)
