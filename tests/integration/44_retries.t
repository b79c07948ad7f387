#!/usr/bin/python3
"""Retrying strangers.  A new unknown pair is answered only after its
challenge row is committed; a pair already recorded is answered at once from
memory and its refresh is written behind the reply, so no retry is lost from
`attempts`, a hung database does not delay it, and it is never allowed.
Also with unknown_sender = reject (the article's behaviour)."""
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID = 'kid@family.test'
RETRIES = 60
CONNS = 4
BOUND = 10.0


def attempts(db, sender):
    rows = h.challenges(db, sender=sender, recipient=KID)
    return int(rows[0]['attempts']) if len(rows) == 1 else None


def main():
    db = h.start_db("INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test','whitelist')")
    d = h.start_daemon(db)

    # First contact: the row exists when the reply arrives.
    first = 'first@stranger.test'
    h.defer_ok(h.query(d.port, sender=first, recipient=KID), 'first contact: deferred')
    h.is_([(r['status'], r['is_open'], r['attempts']) for r in h.challenges(db, sender=first)],
          [('pending', '1', '1')], 'first contact: its challenge was committed before the reply')

    # Retries from several connections at once: all deferred, none lost.
    replies = []
    lock = threading.Lock()

    def retry(n):
        with h.PolicyConnection(d.port) as c:
            for _ in range(n):
                got = c.request(sender=first, recipient=KID, client_address='192.0.2.7')
                with lock:
                    replies.append(got)
    threads = [threading.Thread(target=retry, args=(RETRIES // CONNS,)) for _ in range(CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    h.is_(len(replies), RETRIES, '%d retries over %d connections were all answered' % (RETRIES, CONNS))
    h.ok(all(h.is_defer(r) for r in replies), 'every retry was deferred',
         'replies: %r' % sorted(set(replies)))
    good, got, secs = h.poll_until(lambda: attempts(db, first), lambda n: n == RETRIES + 1, BOUND)
    h.diag('attempts reached %r after %.3f s' % (got, secs))
    h.ok(good, 'attempts counts the first contact and every retry (%d), written behind the replies'
         % (RETRIES + 1), 'attempts: %r' % (got,))
    h.is_(len(h.challenges(db, sender=first)), 1, 'still one challenge row for the pair')
    h.is_(h.challenges(db, sender=first)[0]['client_address'], '192.0.2.7',
          'the refresh records the latest client address')

    # A hung database: the recorded pair is answered at once, a new pair waits
    # for its write and gets the 451; the retries made meanwhile are counted
    # once the database answers again.
    before = attempts(db, first)
    db.freeze()
    try:
        t0 = time.monotonic()
        got = [h.query(d.port, sender=first, recipient=KID) for _ in range(3)]
        secs = time.monotonic() - t0
        h.diag('hung database: 3 retries of the recorded pair answered %r in %.3f s' % (sorted(set(got)), secs))
        h.ok(all(h.is_defer(r) for r in got) and secs < 1.0,
             'hung database: a recorded pair is deferred at once from memory', 'got %r in %.3f s' % (got, secs))
        t0 = time.monotonic()
        try:
            with h.PolicyConnection(d.port, timeout=30) as c:
                new = c.request(sender='new@stranger.test', recipient=KID)
        except Exception as e:  # noqa: B902
            new = 'error: %s' % e
        h.diag('hung database: a new pair answered %r in %.3f s' % (new, time.monotonic() - t0))
        h.is_(new, h.TEMPFAIL, 'hung database: a new pair (not recorded) gets the 451')
    finally:
        db.thaw()
    seen = []
    good, got, secs = h.wait_reply(d.port, lambda r: (seen.append(r), h.is_defer(r))[1], BOUND,
                                   sender=first, recipient=KID)
    h.ok(good, 'database answering again: the pair is deferred', 'last: %r' % (got,))
    # Every deferral of the pair is one attempt, no more, no less.
    deferred = before + 3 + sum(1 for r in seen if h.is_defer(r))
    good, got, secs = h.poll_until(lambda: attempts(db, first), lambda n: n == deferred, BOUND)
    h.ok(good, 'the 3 retries answered while the database hung are counted with the next one',
         'attempts %r, deferrals %d' % (got, deferred))

    # A stopped database: a recorded pair is never allowed; once its refresh
    # fails the pair waits for the database like a new one (451).  The
    # retries deferred from memory meanwhile are written once it is back,
    # though the sender does not try again.
    db.stop()
    seen = []
    good, got, secs = h.wait_reply(d.port, lambda r: (seen.append(r), r == h.TEMPFAIL)[1], BOUND,
                                   sender=first, recipient=KID)
    h.diag('database stopped: the recorded pair got %r, 451 after %.3f s' % (sorted(set(seen)), secs))
    h.ok(good, 'database stopped: the recorded pair gets the 451 once its refresh failed',
         'replies: %r' % sorted(set(seen)))
    h.ok(all(r == h.TEMPFAIL or h.is_defer(r) for r in seen), 'database stopped: never allowed',
         'replies: %r' % sorted(set(seen)))
    down = sum(1 for r in seen if h.is_defer(r))
    db.start()
    good, got, secs = h.poll_until(lambda: attempts(db, first), lambda n: n == deferred + down, BOUND)
    h.diag('database back: attempts %r after %.3f s (%d deferred from memory while it was down)'
           % (got, secs, down))
    h.ok(good and down > 0, 'database back: the %d retries deferred from memory while it was down are '
         'written, with no retry to carry them' % down, 'attempts %r, expected %d' % (got, deferred + down))
    good, got, secs = h.wait_reply(d.port, h.is_defer, BOUND, sender=first, recipient=KID)
    h.ok(good, 'database back: the pair is deferred again', 'last: %r' % (got,))
    d.stop()

    # unknown_sender = reject: the same, with the article's refusal.
    d = h.start_daemon(db, unknown_sender='reject')
    art = 'article@stranger.test'
    got = [h.query(d.port, sender=art, recipient=KID) for _ in range(5)]
    h.is_(sorted(set(got)), [h.ACCESS_DENIED], 'unknown_sender = reject: first contact and retries refused')
    good, n, secs = h.poll_until(lambda: attempts(db, art), lambda v: v == 5, BOUND)
    h.ok(good, 'unknown_sender = reject: one challenge row counting all 5 tries', 'attempts %r' % (n,))
    d.stop()
    db.stop()


h.run(main, timeout=240)
