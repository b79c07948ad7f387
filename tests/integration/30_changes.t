#!/usr/bin/python3
"""Rule changes made with raw SQL (as in the article) are in force within 2 s
with no daemon restart: inserts, updates and deletes of whitelist,
sender_rules and protected_users rows, a challenge closed by hand, and
TRUNCATE of each of those tables (which fires no trigger)."""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID = 'kid@c.example'
NEWKID = 'newkid@c.example'
STRANGER = 'stranger@ext.example'
GRANDMA = 'grandma@example.com'
BOUND = 2.0
latencies = []


def change(d, db, desc, statement, sender, recipient, pred, bound=BOUND):
    """Runs STATEMENT, then polls every 50 ms until PRED(reply); one test that
    the new answer appeared within BOUND seconds of issuing the statement."""
    t0 = time.monotonic()
    db.sql(statement)
    good, got, _ = h.wait_reply(d.port, pred, bound + 1.0, sender=sender, recipient=recipient)
    secs = time.monotonic() - t0
    if good:
        latencies.append(secs)
    h.diag('%s: new answer after %.3f s' % (desc, secs) if good else
           '%s: no new answer after %.3f s' % (desc, secs))
    h.ok(good and secs <= bound, '%s: in force within %.1f s' % (desc, bound),
         'statement: ' + statement, 'last reply: %r, %.3f s' % (got, secs))
    return got


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@c.example','whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
        "INSERT INTO whitelist (sender, action) VALUES ('friend@ext.example','OK')",
    )
    d = h.start_daemon(db)
    pid = d.proc.pid
    q = lambda s, r: h.query(d.port, sender=s, recipient=r)  # noqa: E731
    deny = lambda r: r == h.ACCESS_DENIED  # noqa: E731
    dunno = lambda r: r == 'DUNNO'  # noqa: E731

    h.defer_ok(q(STRANGER, KID), 'before: stranger -> kid deferred')
    change(d, db, 'INSERT INTO whitelist (the article\'s statement)',
           "INSERT INTO whitelist (sender, action) VALUES ('stranger@ext.example','OK')",
           STRANGER, KID, dunno)
    change(d, db, 'DELETE FROM whitelist',
           "DELETE FROM whitelist WHERE sender = 'stranger@ext.example'", STRANGER, KID, h.is_defer)

    h.is_(q(STRANGER, NEWKID), 'DUNNO', 'before: newkid is not protected')
    change(d, db, 'INSERT INTO protected_users (the article\'s statement)',
           "INSERT INTO protected_users (recipient, class) VALUES ('newkid@c.example','whitelist')",
           STRANGER, NEWKID, h.is_defer)

    h.is_(q(GRANDMA, KID), 'DUNNO', 'before: grandma -> kid allowed')
    change(d, db, 'INSERT INTO sender_rules (block grandma for kid)',
           "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid@c.example','grandma@example.com','REJECT')",
           GRANDMA, KID, deny)
    h.is_(q(GRANDMA, NEWKID), 'DUNNO', 'the per-recipient block leaves newkid alone')
    change(d, db, 'UPDATE sender_rules (allow again)',
           "UPDATE sender_rules SET action = 'OK' WHERE recipient = 'kid@c.example'",
           GRANDMA, KID, dunno)
    change(d, db, 'UPDATE whitelist (OK -> REJECT)',
           "UPDATE whitelist SET action = 'REJECT' WHERE sender = 'grandma@example.com'",
           GRANDMA, NEWKID, deny)
    h.is_(q(GRANDMA, KID), 'DUNNO', 'kid\'s per-recipient OK still beats the global REJECT')
    change(d, db, 'DELETE FROM protected_users',
           "DELETE FROM protected_users WHERE recipient = 'newkid@c.example'", GRANDMA, NEWKID, dunno)

    if latencies:
        h.diag('change latency over %d changes: min %.3f s, max %.3f s, mean %.3f s'
               % (len(latencies), min(latencies), max(latencies), sum(latencies) / len(latencies)))

    # TRUNCATE fires no trigger, yet it is a raw SQL change like any other.
    h.is_(q(GRANDMA, KID), 'DUNNO', 'before: grandma -> kid allowed by the per-recipient rule')
    change(d, db, 'TRUNCATE sender_rules', 'TRUNCATE TABLE sender_rules', GRANDMA, KID, deny)
    h.is_(q('friend@ext.example', KID), 'DUNNO', 'before: friend -> kid allowed')
    change(d, db, 'TRUNCATE whitelist', 'TRUNCATE TABLE whitelist', 'friend@ext.example', KID, h.is_defer)
    h.defer_ok(q('pest@ext.example', KID), 'before: pest -> kid deferred (challenge)')
    change(d, db, 'UPDATE challenges (deny pest)',
           "UPDATE challenges SET status = 'denied', is_open = NULL WHERE sender = 'pest@ext.example'",
           'pest@ext.example', KID, deny)
    change(d, db, 'TRUNCATE challenges (the denial disappears)', 'TRUNCATE TABLE challenges',
           'pest@ext.example', KID, h.is_defer)
    change(d, db, 'TRUNCATE protected_users', 'TRUNCATE TABLE protected_users', STRANGER, KID, dunno)
    h.diag('change latency including TRUNCATE, %d changes: max %.3f s' % (len(latencies), max(latencies or [0])))
    h.is_(d.proc.pid if d.running() else None, pid, 'the same daemon process answered throughout (no restart)')
    d.stop()
    db.stop()


h.run(main, timeout=180)
