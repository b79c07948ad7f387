#!/usr/bin/python3
"""Faults under load, with a real Postfix asking guardlistd.

SMTP clients (threads, smtplib, loopback) keep sending MAIL/RCPT/RSET to a
protected kid through a private Postfix: an approved sender, strangers who
already have a challenge, and strangers never seen before.  Meanwhile:

  1. guardlistd is killed with SIGKILL: every RCPT gets Postfix's temporary
     default action (451 4.3.5) or guardlistd's own answer, never a 250 for a
     stranger; guardlistd started again: decisions resume, same replies as
     before;
  2. MariaDB is stopped and started again: the approved sender still gets 250
     (rules in memory), a new stranger gets guardlistd's 451 4.3.0 while it is
     down (never a 250), and after MariaDB is back new strangers are deferred
     and recorded again, with no restart of guardlistd.

Every reply is recorded and counted; every wait is a bounded poll."""
import os
import smtplib
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import postfix  # noqa: E402

KID = 'kid@family.test'
GRANDMA = 'grandma@example.com'
DEFAULT_ACTION = '451 4.3.5 Policy service unavailable, try again later'
CLIENTS = 4
MAX_ROUNDS = 20000          # per client: the load stops by itself
PHASE_WAIT = 30.0           # bound on each wait for a state change


class Load:
    """CLIENTS threads sending RCPTs through Postfix until stopped.  Each
    reply is kept as (phase, kind, code, text, sender), TEXT starting with
    the code as a client sees it; kind is 'approved',
    'pending' (a stranger with a challenge) or 'new' (never seen before)."""

    def __init__(self, port):
        self.port = port
        self.phase = 'start'
        self.replies = []
        self.errors = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.seq = 0
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def next_sender(self, n, i):
        pick = i % 3
        if pick == 0:
            return 'approved', GRANDMA
        if pick == 1:
            return 'pending', 'waiting%d@stranger.test' % n
        with self.lock:
            self.seq += 1
            return 'new', 'new%d-%d@stranger.test' % (n, self.seq)

    def run(self, n):
        s = None
        for i in range(MAX_ROUNDS):
            if self.stop_flag.is_set():
                break
            kind, sender = self.next_sender(n, i)
            try:
                if s is None:
                    s = smtplib.SMTP('127.0.0.1', self.port, timeout=60)
                    s.ehlo('load%d.test' % n)
                s.mail(sender)
                code, text = s.rcpt(KID)
                s.rset()
                text = '%d %s' % (code, text.decode('utf-8', 'replace'))
            except (OSError, smtplib.SMTPException) as e:
                with self.lock:
                    self.errors.append('%s: %s' % (self.phase, e))
                try:
                    if s is not None:
                        s.close()
                except OSError:
                    pass
                s = None
                self.stop_flag.wait(0.05)   # a refused connection: do not spin
                continue
            with self.lock:
                self.replies.append((self.phase, kind, code, text, sender))
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def count(self):
        with self.lock:
            return len(self.replies)

    def wait_more(self, n, timeout=PHASE_WAIT):
        """Waits until N more replies came in; True if they did."""
        want = self.count() + n
        good, _, _ = h.poll_until(self.count, lambda c: c >= want, timeout, interval=0.05)
        return good

    def since(self, phase):
        with self.lock:
            return [r for r in self.replies if r[0] == phase]

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(90)


def summary(replies):
    out = {}
    for _, kind, code, text, _ in replies:
        key = (kind, code, text.split(' ')[0] + ' ' + (text.split(' ')[1] if ' ' in text else ''))
        out[key] = out.get(key, 0) + 1
    return ['  %-8s %s %-12s x%d' % (k[0], k[1], k[2], v) for k, v in sorted(out.items())]


def strangers_allowed(replies):
    return [r for r in replies if r[1] != 'approved' and r[2] == 250]


def main():
    if not h.ok(os.path.exists(postfix.POSTFIX), 'Postfix is installed', 'make deps'):
        return
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test','whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
    )
    d = h.start_daemon(db)
    pf = postfix.PrivatePostfix(postfix.policy_settings(d.port, DEFAULT_ACTION))
    pf.start()
    load = Load(pf.port)
    load.start()
    try:
        load.phase = 'normal'
        h.ok(load.wait_more(60), 'load: Postfix answers the clients (60 RCPTs)', '; '.join(load.errors[-3:]))
        normal = load.since('normal')
        h.diag('normal operation:', *summary(normal))
        h.ok(normal and all((r[2] == 250) == (r[1] == 'approved') for r in normal),
             'normal: the approved sender gets 250, every stranger a 4xx', *summary(normal))

        # ---- 1. guardlistd killed
        pid = d.proc.pid
        load.phase = 'killed'
        d.proc.kill()
        d.proc.wait(10)
        h.ok(d.proc.returncode == -9, 'guardlistd (pid %d) killed with SIGKILL' % pid)
        outage = h.poll_until(lambda: [r for r in load.since('killed') if r[3].startswith('451 4.3.5')],
                              lambda rs: len(rs) >= 6, PHASE_WAIT, interval=0.1)[0]
        killed = load.since('killed')
        h.diag('guardlistd killed:', *summary(killed))
        h.ok(outage, 'guardlistd killed: clients get the default action 451 4.3.5', *summary(killed))
        h.is_(strangers_allowed(killed), [], 'guardlistd killed: no stranger got a 250')
        h.ok(all(r[2] == 250 or 400 <= r[2] < 500 for r in killed),
             'guardlistd killed: every reply is 250 (approved, answered before the kill) or 4xx',
             *summary(killed))

        load.phase = 'restarted'
        d.start()
        good, _, secs = h.poll_until(
            lambda: [r for r in load.since('restarted') if r[1] == 'approved' and r[2] == 250],
            lambda rs: len(rs) >= 3, PHASE_WAIT, interval=0.1)
        h.ok(good, 'guardlistd started again: the approved sender gets 250 again (%.2f s)' % secs,
             *summary(load.since('restarted')))
        good, _, _ = h.poll_until(
            lambda: [r for r in load.since('restarted') if r[1] == 'new' and r[3].startswith('450 4.7.1')],
            lambda rs: len(rs) >= 3, PHASE_WAIT, interval=0.1)
        h.ok(good, 'guardlistd started again: new strangers are deferred 450 4.7.1 again')
        h.is_(strangers_allowed(load.since('restarted')), [], 'after the restart: no stranger got a 250')

        # ---- 2. MariaDB stopped and started
        pid = d.proc.pid
        load.phase = 'db-down'
        db.stop()
        good, _, secs = h.poll_until(
            lambda: [r for r in load.since('db-down') if r[1] == 'new' and r[3].startswith('451 4.3.0')],
            lambda rs: len(rs) >= 3, PHASE_WAIT, interval=0.1)
        down = load.since('db-down')
        h.diag('MariaDB down:', *summary(down))
        h.ok(good, "MariaDB down: new strangers get guardlistd's 451 4.3.0 (%.2f s)" % secs, *summary(down))
        h.ok(load.wait_more(30), 'MariaDB down: the load goes on (30 more RCPTs)')
        down = load.since('db-down')
        h.ok(any(r[1] == 'approved' and r[2] == 250 for r in down),
             'MariaDB down: the approved sender still gets 250 (rules in memory)', *summary(down))
        h.is_(strangers_allowed(down), [], 'MariaDB down: no stranger got a 250')

        load.phase = 'db-up'
        db.start()
        good, _, secs = h.poll_until(
            lambda: [r for r in load.since('db-up') if r[1] == 'new' and r[3].startswith('450 4.7.1')],
            lambda rs: len(rs) >= 3, PHASE_WAIT, interval=0.1)
        h.ok(good, 'MariaDB back: new strangers are deferred and recorded again (%.2f s)' % secs,
             *summary(load.since('db-up')))
        h.is_(d.proc.pid if d.running() else None, pid, 'the same guardlistd process throughout the outage')
        h.is_(strangers_allowed(load.since('db-up')), [], 'MariaDB back: no stranger got a 250')
    finally:
        load.stop()
    everything = load.replies
    h.diag('%d RCPTs in all, %d client-side errors (connections refused or dropped)'
           % (len(everything), len(load.errors)))
    h.is_(strangers_allowed(everything), [], 'in all %d RCPTs no stranger was ever accepted' % len(everything))
    told = set(r[4] for r in everything if r[1] == 'new' and r[3].startswith('450 4.7.1'))
    rows = set(r[0] for r in db.sql("SELECT sender FROM challenges WHERE sender LIKE 'new%@stranger.test'"))
    h.diag('new strangers told 450 4.7.1: %d; their challenge rows: %d' % (len(told), len(told & rows)))
    h.ok(told and told <= rows, 'every new stranger told "not yet approved" has its challenge recorded '
         '(the guardian will be asked)', 'missing: %r' % sorted(told - rows)[:10])
    pf.stop()
    d.stop()
    db.stop()


h.run(main, timeout=400)
