#!/usr/bin/python3
"""Inserted rules reach guardlistd without a full reload: the daemon adds the
rows inserted since its last load to a copy of its rules ("new rows" in its
log), with the same judgement as a full load (a blocking row beats an
allowing one for the same key, an invalid action answers 451).  Updates and
deletes, and a row whose id is below one already seen, make it read every
table again, so nothing is ever missed."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID = 'kid@family.test'
BOUND = 3.0
LOADED = re.compile(r'rules loaded \(([a-z ]+)\): generation=(\d+)')


def loads(d):
    return LOADED.findall(d.log())


def change(d, db, desc, statement, sender, recipient, pred, how):
    """Runs STATEMENT, waits for PRED(reply), and checks which kind of load
    brought it (HOW: 'new rows' or 'all rows')."""
    before = len(loads(d))
    db.sql(statement)
    good, got, secs = h.wait_reply(d.port, pred, BOUND, sender=sender, recipient=recipient)
    h.diag('%s: in force after %.3f s' % (desc, secs))
    h.ok(good, '%s: in force within %.0f s' % (desc, BOUND), 'last reply: %r' % (got,))
    # (a closed challenge can be refused before any load, by the challenge
    # writer's own check: wait for the load as well)
    _, kinds, _ = h.poll_until(lambda: [k for k, _ in loads(d)[before:]], bool, BOUND)
    h.ok(kinds and kinds[-1] == how, '%s: brought by a load of %s' % (desc, how), 'loads since: %r' % kinds)


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test','whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('mixed@example.com','REJECT')",
    )
    d = h.start_daemon(db)
    h.ok(loads(d) and loads(d)[0][0] == 'all rows', 'the first load reads every table', repr(loads(d)))
    is_dunno = lambda r: r == 'DUNNO'  # noqa: E731

    change(d, db, "the article's INSERT INTO whitelist",
           "INSERT INTO whitelist VALUES ('grandma@example.com','OK')",
           'grandma@example.com', KID, is_dunno, 'new rows')
    change(d, db, 'a per-recipient allow',
           "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid@family.test','aunt@example.com','OK')",
           'aunt@example.com', KID, is_dunno, 'new rows')
    change(d, db, 'a new protected recipient',
           "INSERT INTO protected_users VALUES ('kid2@family.test','whitelist')",
           'stranger@example.net', 'kid2@family.test', h.is_defer, 'new rows')
    change(d, db, 'an invalid action inserted by hand answers 451',
           "INSERT INTO whitelist VALUES ('odd@example.com','MAYBE')",
           'odd@example.com', KID, lambda r: r == h.TEMPFAIL, 'new rows')

    # A second row for a key already blocked ('<x>' folds to x): the block stays.
    db.sql("INSERT INTO whitelist VALUES ('<mixed@example.com>','OK')")
    marker = 'marker@example.com'
    change(d, db, 'a later insert (marker)', "INSERT INTO whitelist VALUES ('%s','OK')" % marker,
           marker, KID, is_dunno, 'new rows')
    h.is_(h.query(d.port, sender='mixed@example.com', recipient=KID), h.ACCESS_DENIED,
          'an allowing row added for a blocked key: still blocked (as a full load decides)')

    # A challenge closed: added as new rows too.
    h.defer_ok(h.query(d.port, sender='pest@example.net', recipient=KID), 'pest: challenged')
    change(d, db, 'a challenge denied by hand',
           "UPDATE challenges SET status = 'denied', is_open = NULL WHERE sender = 'pest@example.net'",
           'pest@example.net', KID, lambda r: r == h.ACCESS_DENIED, 'new rows')

    # Updates and deletes read everything again.
    change(d, db, 'DELETE of the whitelist row',
           "DELETE FROM whitelist WHERE sender = 'grandma@example.com'",
           'grandma@example.com', KID, h.is_defer, 'all rows')
    change(d, db, 'UPDATE of a rule to a block',
           "UPDATE sender_rules SET action = 'REJECT' WHERE sender = 'aunt@example.com'",
           'aunt@example.com', KID, lambda r: r == h.ACCESS_DENIED, 'all rows')
    change(d, db, 'a denied challenge reopened by hand',
           "UPDATE challenges SET status = 'pending', is_open = 1 WHERE sender = 'pest@example.net'",
           'pest@example.net', KID, h.is_defer, 'all rows')

    # A row whose id is below one the daemon already saw (an explicit id here;
    # in life, an insert committed after a later one): the count of changes
    # does not add up, so the load reads every table and nothing is missed.
    change(d, db, 'a row with a high explicit id',
           "INSERT INTO whitelist (sender, action, id) VALUES ('high@example.com','OK', 100000)",
           'high@example.com', KID, is_dunno, 'new rows')
    change(d, db, 'a row with a lower id inserted after it',
           "INSERT INTO whitelist (sender, action, id) VALUES ('low@example.com','OK', 50000)",
           'low@example.com', KID, is_dunno, 'all rows')
    change(d, db, 'and the next insert is new rows again',
           "INSERT INTO whitelist VALUES ('next@example.com','OK')",
           'next@example.com', KID, is_dunno, 'new rows')
    d.stop()
    db.stop()


h.run(main, timeout=240)
