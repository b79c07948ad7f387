#!/usr/bin/python3
"""MariaDB stopped: known pairs are still answered from memory, an unknown
sender (whose challenge cannot be written) gets exactly
"451 4.3.0 Temporary lookup failure" (never an allow), and after MariaDB
restarts decisions and rule changes resume with no daemon restart.  A hung
database (SIGSTOP) delays only unknown senders, which get the 451."""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

VAGUE = 'vague@imprecise.info'
GRANDMA = 'grandma@example.com'
RESUME_BOUND = 15.0
HUNG_BOUND = 30


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('vague@imprecise.info','whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
        "INSERT INTO whitelist (sender, action) VALUES ('bully@example.com','REJECT')",
    )
    d = h.start_daemon(db)
    pid = d.proc.pid
    q = lambda s, r: h.query(d.port, sender=s, recipient=r)  # noqa: E731
    h.defer_ok(q('before@example.net', VAGUE), 'database up: unknown sender deferred')

    for cycle in (1, 2):
        db.stop()
        h.ok(not db.running(), 'cycle %d: MariaDB stopped' % cycle)

        got = q(GRANDMA, VAGUE)
        h.diag('cycle %d: database down, grandma -> vague answered %r' % (cycle, got))
        h.is_(got, 'DUNNO', 'cycle %d: database down: grandma still allowed from memory' % cycle)
        h.is_(q('bully@example.com', VAGUE), h.ACCESS_DENIED,
              'cycle %d: database down: a blocked sender still refused from memory' % cycle)
        h.is_(q('someone@example.net', 'other@imprecise.info'), 'DUNNO',
              'cycle %d: database down: unprotected recipient still DUNNO' % cycle)

        for n in (1, 2):
            sender = 'down%d-%d@example.net' % (cycle, n)
            t0 = time.monotonic()
            got = q(sender, VAGUE)
            secs = time.monotonic() - t0
            h.diag('cycle %d: unknown sender %s answered %r in %.3f s' % (cycle, sender, got, secs))
            h.is_(got, h.TEMPFAIL, 'cycle %d: database down: unknown sender no. %d gets exactly the 451'
                  % (cycle, n))
        got = q('before@example.net', VAGUE)
        h.diag('cycle %d: already challenged sender (pending) answered %r' % (cycle, got))
        h.ok(got == h.TEMPFAIL or h.is_defer(got),
             'cycle %d: database down: a pending pair is not allowed' % cycle, 'got: %r' % got)
        h.ok(d.running(), 'cycle %d: guardlistd kept running with the database down' % cycle)

        t0 = time.monotonic()
        db.start()
        h.diag('cycle %d: MariaDB up again after %.2f s' % (cycle, time.monotonic() - t0))
        sender = 'after%d@example.net' % cycle
        good, got, _ = h.wait_reply(d.port, h.is_defer, RESUME_BOUND, sender=sender, recipient=VAGUE)
        secs = time.monotonic() - t0
        h.diag('cycle %d: challenges resumed %.3f s after the restart began' % (cycle, secs))
        h.ok(good, 'cycle %d: after MariaDB restarts, an unknown sender is deferred again within %ds'
             % (cycle, RESUME_BOUND), 'last reply: %r' % (got,))
        rows = h.challenges(db, sender=sender)
        h.is_([(r['recipient'], r['status'], r['is_open']) for r in rows], [(VAGUE, 'pending', '1')],
              'cycle %d: its challenge row was written' % cycle)

        # The rule path reconnects too.
        allowed = 'allowed%d@example.net' % cycle
        t0 = time.monotonic()
        db.sql("INSERT INTO whitelist (sender, action) VALUES (%s,'OK')" % h.sql_str(allowed))
        good, got, _ = h.wait_reply(d.port, lambda r: r == 'DUNNO', RESUME_BOUND,
                                    sender=allowed, recipient=VAGUE)
        secs = time.monotonic() - t0
        h.diag('cycle %d: a rule inserted after the restart was in force after %.3f s' % (cycle, secs))
        h.ok(good, 'cycle %d: rule changes are seen again after the restart' % cycle,
             'last reply: %r after %.3f s' % (got, secs))

    # A hung database (SIGSTOP: connections are accepted, nothing is answered).
    db.freeze()
    try:
        t0 = time.monotonic()
        got = q(GRANDMA, VAGUE)
        secs = time.monotonic() - t0
        h.diag('hung database: grandma answered %r in %.3f s' % (got, secs))
        h.ok(got == 'DUNNO' and secs < 1.0, 'hung database: a known pair is answered from memory at once',
             'got %r in %.3f s' % (got, secs))
        t0 = time.monotonic()
        try:    # Postfix waits up to smtpd_policy_service_timeout (100 s); allow 30 s here
            with h.PolicyConnection(d.port, timeout=HUNG_BOUND) as c:
                got = c.request(sender='hung@example.net', recipient=VAGUE)
        except Exception as e:   # noqa: B902
            got = 'error: %s' % e
        secs = time.monotonic() - t0
        h.diag('hung database: unknown sender answered %r in %.3f s' % (got, secs))
        h.is_(got, h.TEMPFAIL, 'hung database: an unknown sender gets the 451 (within %ds)' % HUNG_BOUND)
        t0 = time.monotonic()
        got = q(GRANDMA, VAGUE)
        secs = time.monotonic() - t0
        h.ok(got == 'DUNNO' and secs < 1.0, 'hung database: known pairs are still answered at once afterwards',
             'got %r in %.3f s' % (got, secs))
    finally:
        db.thaw()
    good, got, secs = h.wait_reply(d.port, h.is_defer, RESUME_BOUND, sender='thawed@example.net', recipient=VAGUE)
    h.diag('database answering again: challenges resumed after %.3f s' % secs)
    h.ok(good, 'after the database answers again, unknown senders are deferred within %ds' % RESUME_BOUND,
         'last reply: %r' % (got,))

    h.is_(d.proc.pid if d.running() else None, pid, 'the same daemon process answered throughout')
    d.stop()
    db.stop()


h.run(main, timeout=240)
