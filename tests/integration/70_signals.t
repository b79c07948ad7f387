#!/usr/bin/python3
"""Signals: SIGHUP re-reads the config file (unknown_sender defer -> reject
takes effect without a restart, connections keep being served); SIGTERM
stops the daemon with exit status 0 within 10 s, also with idle clients
connected."""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

VAGUE = 'vague@imprecise.info'
GRANDMA = 'grandma@example.com'
HUP_BOUND = 5.0


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('vague@imprecise.info','whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
    )
    d = h.start_daemon(db, unknown_sender='defer')
    pid = d.proc.pid
    h.defer_ok(h.query(d.port, sender='before-hup@example.net', recipient=VAGUE),
               'unknown_sender = defer: stranger deferred')

    # A client connected before the reload keeps being served after it.
    persistent = h.PolicyConnection(d.port)
    h.is_(persistent.request(sender=GRANDMA, recipient=VAGUE), 'DUNNO', 'persistent connection: grandma allowed')

    d.write_config(unknown_sender='reject')
    t0 = time.monotonic()
    d.hup()
    counter = [0]

    def next_unknown():
        counter[0] += 1
        return h.query(d.port, sender='after-hup-%d@example.net' % counter[0], recipient=VAGUE)
    good, got, _ = h.poll_until(next_unknown, lambda r: r == h.ACCESS_DENIED, HUP_BOUND)
    secs = time.monotonic() - t0
    h.diag('SIGHUP: reject in force after %.3f s (%d probe request(s))' % (secs, counter[0]))
    h.ok(good, 'after SIGHUP with unknown_sender = reject, an unknown sender gets "REJECT Access denied"',
         'last reply: %r after %.3f s' % (got, secs))
    h.ok(counter[0] == 1, 'the first unknown sender after SIGHUP already gets the new reply',
         'took %d requests (%.3f s)' % (counter[0], secs))
    h.is_(d.proc.pid if d.running() else None, pid, 'SIGHUP did not restart or stop the daemon')
    h.is_(persistent.request(sender=GRANDMA, recipient=VAGUE), 'DUNNO',
          'the connection opened before SIGHUP is still served')
    h.is_(persistent.request(sender='after-hup-persistent@example.net', recipient=VAGUE), h.ACCESS_DENIED,
          'the connection opened before SIGHUP sees the new setting')
    rows = h.challenges(db, sender='after-hup-1@example.net')
    h.is_(len(rows), 1, 'unknown_sender = reject still records the challenge')

    # And back, to show the reload is repeatable.
    d.write_config(unknown_sender='defer')
    d.hup()
    good, got, secs = h.wait_reply(d.port, h.is_defer, HUP_BOUND, sender='back@example.net', recipient=VAGUE)
    h.ok(good, 'a second SIGHUP (back to defer) takes effect', 'last reply: %r after %.3f s' % (got, secs))

    # A broken config on SIGHUP: reported; the daemon must keep serving.
    with open(d.config, 'a') as f:
        f.write('\n[policy]\nno_such_key = 1\n')
    d.hup()
    # Watch for a (wrong) exit for up to 1 s; and for the error in the log.
    _, log, _ = h.poll_until(d.log, lambda t: 'no_such_key' in t or not d.running(), 1.0)
    h.ok(d.running(), 'SIGHUP with an invalid config file does not stop the daemon',
         'exit status %s; log tail:' % (d.proc.returncode,), d.log()[-1500:])
    h.ok('no_such_key' in log, 'the failed reload is logged, naming the bad key',
         'log tail:', log[-1000:])
    h.diag('log: ' + ''.join(l for l in log.splitlines(True) if 'no_such_key' in l).strip())
    if d.running():
        got = h.query(d.port, sender='bad-config@example.net', recipient=VAGUE)
        h.ok(h.is_defer(got), 'after a failed reload the previous settings stay in force', 'got %r' % got)
    d.write_config()

    # SIGTERM with idle clients connected (stop() tests exit 0 within 10 s).
    idle = [h.PolicyConnection(d.port) for _ in range(5)]
    h.is_(idle[0].request(sender=GRANDMA, recipient=VAGUE), 'DUNNO', 'idle clients connected')
    d.stop()
    for c in idle + [persistent]:
        c.close()

    # SIGTERM while challenge writes are in flight: a clean exit 0, no permit,
    # and every DEFER that was sent has its challenge row.
    d = h.start_daemon(db)
    c = h.PolicyConnection(d.port)
    c.send_raw(b''.join(h.request_bytes(sender='burst%d@example.net' % k, recipient=VAGUE)
                        for k in range(200)))
    replies = [c.read_reply()]
    d.stop()
    while True:
        try:
            replies.append(c.read_reply())
        except h.PolicyError:
            break
    c.close()
    h.diag('SIGTERM during a burst of 200 unknown senders: %d replies before the close' % len(replies))
    h.ok(all(h.is_defer(r) for r in replies), 'every reply sent during shutdown is a DEFER_IF_PERMIT',
         'replies: %r' % sorted(set(replies)))
    deferred = ['burst%d@example.net' % k for k in range(len(replies))]
    stored = set(r[0] for r in db.sql("SELECT sender FROM challenges WHERE sender LIKE 'burst%'"))
    h.is_(sorted(set(deferred) - stored), [], 'every deferred burst request has its challenge row')
    db.stop()


h.run(main, timeout=180)
