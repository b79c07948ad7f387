#!/usr/bin/python3
"""Connection limits: past max_connections_per_client open connections from
one address, a new connection from it is closed at once with no reply (and
logged), while other addresses are still served up to max_connections in
all; closing a connection frees its slot.  Clients connect from several
loopback source addresses (127.0.0.1, .2, .3)."""
import os
import socket
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID = 'kid@family.test'
GRANDMA = 'grandma@example.com'


def connect(port, source):
    s = socket.create_connection(('127.0.0.1', port), timeout=h.SOCK_TIMEOUT, source_address=(source, 0))
    s.settimeout(h.SOCK_TIMEOUT)
    return s


def ask(s):
    """One request on S: the action, or 'closed' when the server closed it."""
    try:
        s.sendall(h.request_bytes(sender=GRANDMA, recipient=KID))
        data = b''
        while b'\n\n' not in data:
            chunk = s.recv(4096)
            if not chunk:
                return 'closed'
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return 'closed'
    line = data.split(b'\n', 1)[0].decode()
    return line[len('action='):] if line.startswith('action=') else line


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test','whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
    )
    d = h.start_daemon(db, max_connections='5', max_connections_per_client='3')
    held = []
    try:
        # start_daemon's readiness probe came from 127.0.0.1 too: its close
        # is counted off by an event-loop thread a moment later, so three
        # connections all answered (tried again, bounded) also show that no
        # earlier one still holds a slot.
        def three():
            socks = [connect(d.port, '127.0.0.1') for _ in range(3)]
            answers = [ask(s) for s in socks]
            if answers != ['DUNNO'] * 3:
                for s in socks:
                    s.close()
            return socks, answers
        good, (socks, answers), _ = h.poll_until(three, lambda r: r[1] == ['DUNNO'] * 3, 5.0)
        held.extend(socks)
        for i in range(3):
            h.is_(answers[i], 'DUNNO', '127.0.0.1, connection %d of 3: answered' % (i + 1))
        extra = connect(d.port, '127.0.0.1')
        h.is_(ask(extra), 'closed', '127.0.0.1, a 4th connection: closed with no reply (3 per client)')
        extra.close()
        good, _, _ = h.poll_until(d.log, lambda t: 'connection limit 3 per client reached for 127.0.0.1' in t, 5.0)
        h.ok(good, 'the per-client limit is logged with the address')
        for i, s in enumerate(held):
            h.is_(ask(s), 'DUNNO', '127.0.0.1, connection %d still served' % (i + 1))

        for i in range(2):
            held.append(connect(d.port, '127.0.0.2'))
            h.is_(ask(held[-1]), 'DUNNO', '127.0.0.2, connection %d: answered (another client)' % (i + 1))
        third = connect(d.port, '127.0.0.3')
        h.is_(ask(third), 'closed', '127.0.0.3: closed, 5 connections in all (max_connections)')
        third.close()

        held.pop(0).close()
        good, got, _ = h.poll_until(lambda: ask_fresh(d.port, '127.0.0.1'), lambda r: r == 'DUNNO', 5.0)
        h.ok(good, 'a closed connection frees its slot: 127.0.0.1 is served again', 'last: %r' % (got,))
    finally:
        for s in held:
            s.close()
    # The closes are counted off by the event-loop threads a moment later.
    good, got, _ = h.poll_until(lambda: h.query(d.port, sender=GRANDMA, recipient=KID), lambda r: r == 'DUNNO', 5.0)
    h.ok(good, 'all closed: a new client is served', 'last: %r' % (got,))
    d.stop()
    db.stop()


def ask_fresh(port, source):
    s = connect(port, source)
    try:
        return ask(s)
    finally:
        s.close()


h.run(main)
