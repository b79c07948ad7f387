#!/usr/bin/python3
"""The reads and writes of a loop wake-up made together (daemon/batchio.c,
io_uring where the kernel allows it): sixty connections asking at once each
get their own answer, round after round; a client that sends thousands of
requests without reading stalls only itself, then gets every reply in
order; clients that vanish right after asking (a close, a reset) cost
nothing to the others; the daemon says which way it does its I/O."""
import ctypes
import fcntl
import os
import socket
import struct
import sys
import termios
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KIDS = 10
SENDERS = 60
ROUNDS = 5
FLOOD = 30000           # requests one client sends before it reads a reply (6 MB of replies)
PAD = 'x' * 180         # long refusals: replies outgrow what the sockets buffer


def kid(i):
    return 'kid%d@family.test' % (i % KIDS)


def blocked(i):
    return 'blk%d@spam.test' % i


def refusal(i):
    return 'REJECT blocked n%d %s' % (i, PAD)


def kernel_has_uring():
    """Can this kernel make an io_uring at all (io_uring_setup, x86-64 425)?"""
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(425, 4, params)
    if fd < 0:
        return False
    os.close(fd)
    return True


def send_queue(server_port, client_port):
    """The bytes the daemon's end of this connection holds unsent (/proc/net/tcp)."""
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(':')[1], 16) == server_port and int(remote.split(':')[1], 16) == client_port:
                return int(fields[4].split(':')[0], 16)
    return None


def many_at_once(port):
    """SENDERS connections send, then all read: answers never cross."""
    conns = [h.PolicyConnection(port) for _ in range(SENDERS)]
    wrong = []
    for r in range(ROUNDS):
        for i, c in enumerate(conns):
            c.send_raw(h.request_bytes(sender=blocked(i), recipient=kid(i)))
        for i, c in enumerate(conns):
            got = c.read_reply()
            if got != refusal(i):
                wrong.append((r, i, got[:60]))
    for c in conns:
        c.close()
    h.ok(not wrong, '%d connections asking at once, %d rounds: each gets its own answer' % (SENDERS, ROUNDS),
         'wrong answers (round, connection, reply): %r' % wrong[:5])


def vanishing(port, n=40):
    """Clients that ask and go at once: by close, and by reset."""
    for k in range(n):
        s = socket.create_connection(('127.0.0.1', port), timeout=h.SOCK_TIMEOUT)
        if k % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        s.sendall(h.request_bytes(sender=blocked(k), recipient=kid(k)))
        s.close()


def fionread(sock):
    return struct.unpack('i', fcntl.ioctl(sock, termios.FIONREAD, b'\0' * 4))[0]


def stalled_client(port, path=None):
    """One client sends FLOOD requests and reads nothing until the daemon's
    output to it is stuck; meanwhile the others are answered; then every
    reply arrives, in order.  Over TCP (PORT) or a unix socket (PATH), where
    the daemon's writes also come out partly written."""
    if path:
        c = h.PolicyConnection(path, timeout=60)
        how = 'unix socket'
    else:
        c = h.PolicyConnection(port)
        c.sock.close()
        c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sock.settimeout(60)
        c.sock.connect(('127.0.0.1', port))
        how = 'TCP'
    s = c.sock
    client_port = None if path else s.getsockname()[1]
    payload = b''.join(h.request_bytes(sender=blocked(i % SENDERS), recipient=kid(i % SENDERS))
                       for i in range(FLOOD))
    total = FLOOD * len('action=%s\n\n' % refusal(0))
    errors = []

    def send_all():
        try:
            s.sendall(payload)
        except OSError as e:
            errors.append(e)

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()

    # Stalled: what the client holds unread no longer grows (three looks in
    # a row), and the daemon holds replies back: over TCP its send queue
    # and what arrived are less than all replies; over a unix socket the
    # client cannot even send all its requests.
    last, same = None, 0

    def stuck():
        nonlocal last, same
        now = (fionread(s), send_queue(port, client_port) if client_port else 0)
        same = same + 1 if now == last else 0
        last = now
        return same >= 3 and (sender.is_alive() if path else sum(now) < total)
    good, _, secs = h.poll_until(stuck, bool, 30, interval=0.1)
    h.ok(good, "%s: a client that does not read: the daemon's output to it stalls, replies wait in the daemon" % how,
         'after %.1f s: %r bytes (received, in send queue) of %d' % (secs, last, total))
    t0 = time.monotonic()
    other = h.query(path or port, sender=blocked(7), recipient=kid(7))
    h.is_(other, refusal(7), '%s: meanwhile another connection is answered (in %.3f s)' % (how, time.monotonic() - t0))

    wrong = []
    for i in range(FLOOD):
        got = c.read_reply()
        if got != refusal(i % SENDERS):
            wrong.append((i, got[:60]))
            break
    sender.join(30)
    h.ok(not wrong and not errors and not sender.is_alive(),
         '%s: then all %d replies arrive, in order' % (how, FLOOD), 'wrong: %r, send errors: %r' % (wrong, errors))
    c.close()


def main():
    statements = ["INSERT INTO protected_users (recipient, class) VALUES " +
                  ', '.join("('%s', 'whitelist')" % kid(i) for i in range(KIDS)),
                  "INSERT INTO sender_rules (recipient, sender, action) VALUES " +
                  ', '.join("('%s', '%s', '%s')" % (kid(i), blocked(i), refusal(i)) for i in range(SENDERS))]
    db = h.start_db(*statements)
    d = h.start_daemon(db)
    port = d.port

    # The first loop thread to start says it; another may answer the probe
    # before that line is written, so wait for it (bounded).
    said, log, _ = h.poll_until(d.log, lambda t: 'policy connections: reads and writes' in t, 10)
    if kernel_has_uring():
        h.ok(said and 'reads and writes batched through io_uring' in log,
             'the kernel allows io_uring: the daemon batches its reads and writes through it',
             'log: %r' % log[-600:])
    else:
        h.ok(said and 'by plain system calls (io_uring not available: ' in log,
             'no io_uring here: the daemon says it uses plain system calls', 'log: %r' % log[-600:])

    many_at_once(port)
    stopper = threading.Thread(target=vanishing, args=(port,), daemon=True)
    stopper.start()
    many_at_once(port)
    stopper.join(60)
    h.ok(not stopper.is_alive(), 'forty clients that asked and vanished (close, reset) are done with')
    stalled_client(port)
    h.is_(h.query(port, sender=blocked(3), recipient=kid(3)), refusal(3), 'afterwards a fresh connection is answered')
    h.ok(d.running(), 'guardlistd is still running')

    path = os.path.join(h.tmpdir(), 'policy')
    u = h.Daemon(db, listen='unix:' + path)
    u.start()
    stalled_client(port, path)
    h.is_(h.query(path, sender=blocked(3), recipient=kid(3)), refusal(3),
          'unix socket: afterwards a fresh connection is answered')
    u.stop()
    d.stop()
    db.stop()


h.run(main, timeout=240)
