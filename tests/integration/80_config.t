#!/usr/bin/python3
"""Configuration and limits: configuration errors exit 2 with a message naming
FILE:LINE; a password in a world-readable file is refused; a busy port is a
runtime failure; listen = unix:PATH works; idle and read timeouts close
stalled connections; started with the database down, the daemon never
allows (451) and decides from the rules once the database is up."""
import os
import re
import socket
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

VAGUE = 'vague@imprecise.info'
GRANDMA = 'grandma@example.com'


def bad_config(db, desc, mutate, want_rc=2, want_text=None, mode=0o600, what='FILE:LINE'):
    """Writes a config changed by MUTATE(text), runs the daemon, expects it to
    exit WANT_RC within 10 s with a `guardlistd: error:` message."""
    d = h.Daemon(db)
    text = mutate(d.config_text())
    d.write_raw(text, mode)
    rc, err = d.run_to_exit()
    h.is_(rc, want_rc, '%s: exits %s' % (desc, want_rc))
    h.ok('guardlistd: error:' in err, '%s: stderr says "guardlistd: error: ..."' % desc, 'stderr: %r' % err[-600:])
    if want_text:
        h.ok(re.search(want_text(d), err) is not None, '%s: the message names %s' % (desc, what),
             'stderr: %r' % err[-600:])
    h.diag('%s: %s' % (desc, err.strip().splitlines()[-1] if err.strip() else '(no output)'))
    return d


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('vague@imprecise.info','whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
    )

    def line_of(marker):
        return lambda d: re.escape(d.config) + ':%d' % (d.config_text().splitlines().index(marker) + 1)

    bad_config(db, 'unknown key', lambda t: t.replace('[log]', '[log]\nlevle = info'),
               want_text=line_of('levle = info'))
    bad_config(db, 'unknown section', lambda t: t + '\n[polcy]\nlisten = inet:127.0.0.1:1\n',
               want_text=line_of('[polcy]'))
    bad_config(db, 'bad unknown_sender value', lambda t: t.replace('unknown_sender = defer', 'unknown_sender = maybe'),
               want_text=line_of('unknown_sender = maybe'))
    bad_config(db, 'world-readable file holding a password',
               lambda t: t.replace('user = root', 'user = root\npassword = secret'), mode=0o644,
               want_text=lambda d: re.escape(d.config), what='the file')
    secret = os.path.join(h.tmpdir(), 'db.secret')
    with open(secret, 'w') as f:
        f.write('secret\n')
    os.chmod(secret, 0o644)
    bad_config(db, 'world-readable password_file',
               lambda t: t.replace('user = root', 'user = root\npassword_file = ' + secret),
               want_text=lambda d: re.escape(secret), what='the secret file')

    d = h.Daemon(db)
    missing = os.path.join(d.dir, 'no-such.ini')
    rc, err = d.run_to_exit(['-f', '-c', missing])
    h.is_(rc, 2, 'missing config file: exits 2')
    h.ok(missing in err, 'missing config file: the message names the file', 'stderr: %r' % err[-600:])
    rc, err = d.run_to_exit(['-f', '--no-such-option', '-c', d.config])
    h.is_(rc, 2, 'unknown command-line option: exits 2')

    # A busy port is a runtime failure, reported, not a hang.
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(('127.0.0.1', d.port))
    blocker.listen(1)
    rc, err = d.run_to_exit()
    blocker.close()
    h.is_(rc, 1, 'listen port already in use: exits 1 within 10 s')
    h.ok('guardlistd: error:' in err, 'listen port in use: stderr says "guardlistd: error: ..."',
         'stderr: %r' % err[-600:])

    # listen = unix:PATH, in a directory the daemon may still change after it
    # dropped root (72_privileges.t has one it may not: Postfix's private/).
    sockdir = h.tmpdir()
    if os.geteuid() == 0:
        os.chown(sockdir, *h.run_as_ids())
    d = h.Daemon(db, listen='unix:' + os.path.join(sockdir, 'policy.sock'))
    path = d.port
    d.start()
    h.is_(h.query(path, sender=GRANDMA, recipient=VAGUE), 'DUNNO', 'listen = unix:PATH: grandma allowed')
    h.defer_ok(h.query(path, sender='unix-stranger@example.net', recipient=VAGUE),
               'listen = unix:PATH: stranger deferred')
    d.stop()
    h.ok(not os.path.exists(path), 'the unix socket is removed at exit')

    # Idle and read timeouts.
    d = h.start_daemon(db, idle_timeout=2, read_timeout=1)
    active = h.PolicyConnection(d.port)
    t0 = time.monotonic()
    partial = socket.create_connection(('127.0.0.1', d.port), timeout=h.SOCK_TIMEOUT)
    partial.sendall(b'request=smtpd_access_policy\nprotocol_state=RCPT\nsender=slow')
    idle = socket.create_connection(('127.0.0.1', d.port), timeout=h.SOCK_TIMEOUT)
    closed_at = {}

    def watch():
        for name, s in (('partial', partial), ('idle', idle)):
            if name in closed_at:
                continue
            s.settimeout(0.01)
            try:
                if s.recv(100) == b'':
                    closed_at[name] = time.monotonic() - t0
            except socket.timeout:
                pass
            except OSError:
                closed_at[name] = time.monotonic() - t0
        # The active client sends a request every poll and must stay connected.
        return active.request(sender=GRANDMA, recipient=VAGUE)
    good, got, _ = h.poll_until(watch, lambda r: len(closed_at) == 2 or r != 'DUNNO', 6.0, interval=0.25)
    h.diag('timeouts: partial request closed after %s s, idle connection closed after %s s'
           % tuple(('%.2f' % closed_at[k]) if k in closed_at else 'never' for k in ('partial', 'idle')))
    h.ok('partial' in closed_at and closed_at['partial'] <= 1 + 1.5,
         'read_timeout = 1: a stalled half request is closed within 2.5 s', 'closed: %r' % closed_at)
    h.ok('idle' in closed_at and 2 - 0.5 <= closed_at['idle'] <= 2 + 1.5,
         'idle_timeout = 2: an idle connection is closed after about 2 s', 'closed: %r' % closed_at)
    h.is_(got, 'DUNNO', 'a connection in use is not closed by idle_timeout')
    for s in (partial, idle):
        s.close()
    active.close()
    d.stop()

    # Started while the database is down: never an allow; rules once it is up.
    db.stop()
    d = h.Daemon(db)
    try:
        d.start(ready=False)
        started = True
    except RuntimeError as e:
        started = False
        h.diag('start with the database down: %s' % e)
    h.ok(started, 'guardlistd starts while the database is down')
    if started:
        got = h.query(d.port, sender=GRANDMA, recipient=VAGUE)
        h.is_(got, h.TEMPFAIL, 'no rules loaded yet: even grandma gets the 451 (never fail open)')
        got = h.query(d.port, sender='x@example.net', recipient='anyone@example.org')
        h.is_(got, h.TEMPFAIL, 'no rules loaded yet: an (unknown to be) unprotected recipient gets the 451')
        h.is_(h.query(d.port, sender=GRANDMA, recipient=VAGUE, protocol_state='DATA'), 'DUNNO',
              'no rules loaded yet: non-RCPT states still DUNNO')
        t0 = time.monotonic()
        db.start()
        good, got, _ = h.wait_reply(d.port, lambda r: r == 'DUNNO', 15.0, sender=GRANDMA, recipient=VAGUE)
        h.diag('rules loaded %.3f s after the database start began' % (time.monotonic() - t0))
        h.ok(good, 'once the database is up, decisions come from the rules within 15 s', 'last: %r' % (got,))
        h.defer_ok(h.query(d.port, sender='late@example.net', recipient=VAGUE),
                   'and an unknown sender is deferred with a challenge')
        h.is_(len(h.challenges(db, sender='late@example.net')), 1, 'its challenge row was written')
        d.stop()
    db.stop()


h.run(main, timeout=180)
