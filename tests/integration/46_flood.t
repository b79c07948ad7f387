#!/usr/bin/python3
"""A flood of new senders from one client past the per-client hourly cap.
The capped strangers are answered from memory ("Too many new senders", no
challenge), so the flood costs no database round trip per request: it is
answered in full while the database is hung (SIGSTOP), and so are the known
pairs (DUNNO) and the retries of strangers already recorded (deferred as
usual).  What must be written is written behind the replies once the
database answers again: every retry is counted in `attempts` (none lost),
and the capped strangers get no challenge.  While the challenge writer fails
(database down), a capped stranger is answered as today: 451, never from
memory.  Runs with several event-loop threads."""
import os
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID = 'kid@family.test'
SIS = 'sis@family.test'
FLOOD_IP = '198.51.100.7'
CAP = 20                # max_new_challenges_per_client
FLOODERS = 200          # new senders past the cap
CONNS = 8
RETRIES = 3             # each recorded stranger retries this often during the flood
MANY = 120              # recorded strangers retrying at once: more than a flush's quiet 50
CAPPED = 'DEFER_IF_PERMIT Too many new senders for this recipient, try again later'
BOUND = 15.0


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test', 'whitelist')",
        "INSERT INTO protected_users (recipient, class) VALUES ('sis@family.test', 'whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com', 'OK')",
        "INSERT INTO sender_rules (recipient, sender, action) VALUES ('sis@family.test', 'aunt@example.org', 'OK')",
    )
    d = h.start_daemon(db, threads='3', max_new_challenges_per_client=str(CAP),
                       max_new_challenges_per_recipient='100000')
    q = lambda s, r, ip=FLOOD_IP: h.query(d.port, sender=s, recipient=r, client_address=ip)  # noqa: E731

    # The client's first CAP new senders are challenged, each committed
    # before its reply.
    early = ['early%d@spam.example' % i for i in range(CAP)]
    got = [q(s, KID) for s in early]
    h.ok(all(h.is_defer(r) and r != CAPPED for r in got), 'the first %d new senders of the client are challenged'
         % CAP, 'replies %r' % sorted(set(got)))
    h.is_(int(db.value("SELECT COUNT(*) FROM challenges WHERE client_address = '%s'" % FLOOD_IP)), CAP,
          '... %d challenges recorded' % CAP)
    h.is_(q('one-more@spam.example', KID), CAPPED, 'the next new sender is capped')

    # The flood, on CONNS connections at once, with the database hung: new
    # senders past the cap, known pairs, and retries of recorded strangers.
    work = []
    for i in range(FLOODERS):
        work.append(('flood%d@spam.example' % i, KID if i % 2 else SIS, CAPPED))
        if i % 10 == 0:
            work.append(('grandma@example.com', KID, 'DUNNO'))
            work.append(('aunt@example.org', SIS, 'DUNNO'))
    for n in range(RETRIES):
        for s in early:
            work.append((s, KID, 'DEFER'))
    results, lock = [], threading.Lock()

    def run(part):
        try:
            with h.PolicyConnection(d.port) as c:
                for s, r, want in part:
                    got = c.request(sender=s, recipient=r, client_address=FLOOD_IP)
                    with lock:
                        results.append((s, r, want, got))
        except (OSError, h.PolicyError) as e:
            with lock:
                results.append(('connection', '', 'a reply', repr(e)))
    db.freeze()
    try:
        threads = [threading.Thread(target=run, args=(work[i::CONNS],)) for i in range(CONNS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        db.thaw()
    wrong = [r for r in results if not (h.is_defer(r[3]) and r[3] != CAPPED if r[2] == 'DEFER' else r[3] == r[2])]
    h.is_(len(results), len(work), 'with the database hung, all %d requests of the flood were answered' % len(work))
    h.is_(wrong, [], 'every reply was right: capped strangers "Too many new senders", known pairs DUNNO, '
          'recorded strangers deferred as usual')

    # Nothing written is lost: every retry of the recorded strangers is in
    # attempts once the writes behind the replies are done.
    want = {s: 1 + RETRIES for s in early}
    good, got, secs = h.poll_until(
        lambda: {r['sender']: int(r['attempts']) for r in h.challenges(db) if r['sender'] in want},
        lambda a: a == want, BOUND)
    h.diag('attempts complete %.3f s after the flood' % secs)
    h.ok(good, 'attempts of each recorded stranger = its first contact and its %d retries' % RETRIES,
         'attempts %r' % (got,))
    fresh = db.value("SELECT COUNT(*) FROM challenges WHERE client_address = '%s' "
                     "AND last_seen >= NOW() - INTERVAL 60 SECOND" % FLOOD_IP)
    h.is_(int(fresh), CAP, "... and their last_seen is now")
    h.is_(int(db.value("SELECT COUNT(*) FROM challenges WHERE sender LIKE 'flood%'")), 0,
          'no challenge for a capped stranger (so no email)')
    h.is_(int(db.value("SELECT COUNT(*) FROM challenges")), CAP, 'no other challenge rows')

    # Other clients are not affected; a capped stranger asked again is still capped.
    h.defer_ok(q('flood0@spam.example', KID, '198.51.100.8'), 'the same sender from another client is challenged')
    h.is_(int(db.value("SELECT COUNT(*) FROM challenges WHERE sender = 'flood0@spam.example'")), 1,
          '... with a challenge')
    h.is_(q('flood1@spam.example', KID), CAPPED, 'a capped stranger asked again from the flooding client: capped')

    # Many recorded strangers retrying at once: guardlistd then hands their
    # writes to the writer every few seconds instead of every second; each
    # write carries all the retries counted meanwhile, so none is lost.
    many = ['many%d@bulk.example' % i for i in range(MANY)]
    ips = ['203.0.113.%d' % (i + 1) for i in range(MANY)]     # one each: under the per-client cap
    got = [q(s, KID, ip) for s, ip in zip(many, ips)]
    h.ok(all(h.is_defer(r) and r != CAPPED for r in got), '%d new senders from %d clients are challenged'
         % (MANY, MANY), 'replies %r' % sorted(set(got)))
    with h.PolicyConnection(d.port) as c:
        for n in range(RETRIES):
            for s, ip in zip(many, ips):
                c.request(sender=s, recipient=KID, client_address=ip)
    want = {s: 1 + RETRIES for s in many}
    good, got, secs = h.poll_until(
        lambda: {r['sender']: int(r['attempts']) for r in h.challenges(db) if r['sender'] in want},
        lambda a: a == want, BOUND)
    h.diag('attempts of %d retrying strangers complete %.3f s after their retries' % (MANY, secs))
    h.ok(good, 'attempts of each of %d strangers retrying at once = its first contact and its %d retries'
         % (MANY, RETRIES), 'wrong: %r' % ({k: v for k, v in (got or {}).items() if v != 1 + RETRIES},))

    # The database down: nothing that waits for it today comes from memory.
    db.stop()
    good, got, _ = h.poll_until(lambda: q('flood3@spam.example', SIS), lambda r: r == h.TEMPFAIL, BOUND)
    h.ok(good, 'database down: a capped stranger is answered 451 (the writer fails), not from memory',
         'last %r' % (got,))
    h.is_(q('grandma@example.com', KID), 'DUNNO', '... while known pairs are still decided from memory')
    d.stop()


h.run(main, timeout=300)
