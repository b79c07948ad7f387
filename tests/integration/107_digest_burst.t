#!/usr/bin/python3
"""No sender waits unseen (issue 25).  30 strangers write to one protected
child within seconds; a polling guardlist-notify (max_per_hour 10,
digest_delay 4 s for the test) must name every one of them in an email to
the guardian within the delay (plus a poll and some slack), send no more
than the cap plus one digest per delay period, name nobody twice, and word
each digest's count right ("N more senders want", "1 more sender wants").

Challenges come from the real guardlistd; the smarthost is
tests/lib/minismtp.py.  Arrival times and email times are the test's own
clock: each sender is timed from its deferral to the email naming it."""
import email
import email.policy
import os
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
from minismtp import MiniSmtp  # noqa: E402

KID = 'kid@family.test'
GUARDIAN = 'parent@home.test'
CAP = 10
DELAY = 4                   # [notifier] digest_delay for this test
SLACK = 4.0                 # a poll (1 s), a cycle, a loaded machine
SUBJECT_DIGEST = re.compile(r'^(\d+) more (senders want|sender wants) to send email to your children$')
SUBJECT_SINGLE = re.compile(r'^(\S+) wants to send email to (\S+)$')


def main():
    db = h.start_db()
    admin = h.cli_config(db)
    rc, out, err = h.cli(admin, 'protect', KID, '--guardian', GUARDIAN)
    h.is_(rc, 0, 'guardlist protect %s' % KID) or h.diag(out, err)
    d = h.start_daemon(db)
    srv = MiniSmtp()
    cfg = h.notify_config(db, srv.port, notifier={'max_per_hour': str(CAP), 'digest_delay': str(DELAY),
                                                  'poll_interval': '1'})
    n = h.Notifier(cfg)
    n.start()

    arrived = {}            # sender -> monotonic time of its deferral
    named = {}              # sender -> monotonic time of the first email naming it
    mails = []              # (time, subject, [senders named])

    def collect():
        now = time.monotonic()
        for _, rcpts, data in srv.take():
            msg = email.message_from_bytes(data, policy=email.policy.default)
            text = msg.get_body(('plain',)).get_content() if msg.get_body(('plain',)) else ''
            subject = str(msg['Subject'])
            senders = re.findall(r'^\* (\S+) -> ', text, flags=re.M)
            m = SUBJECT_SINGLE.match(subject)
            if not SUBJECT_DIGEST.match(subject) and m:
                senders = [m.group(1)]
            mails.append((now, subject, senders, rcpts))
            for s in senders:
                named.setdefault(s, now)
        return len(named)

    def burst(senders, gap):
        for s in senders:
            h.defer_ok(h.query(d.port, sender=s, recipient=KID), '%s -> kid deferred' % s)
            arrived[s] = time.monotonic()
            if gap:
                time.sleep(gap)     # the senders' pace, not synchronisation

    t0 = time.monotonic()
    first = ['s%02d@burst%02d.example' % (i, i) for i in range(20)]
    burst(first, 0)
    good, got, secs = h.poll_until(collect, lambda k: k >= 20, DELAY * 2 + SLACK)
    h.ok(good, 'the first 20 senders are all named within %d s (%.1f s)' % (DELAY * 2 + SLACK, secs),
         '%d named' % got, n.log()[-2000:])
    later = ['t%02d@late%02d.example' % (i, i) for i in range(10)]
    burst(later, 0.2)
    good, got, secs = h.poll_until(collect, lambda k: k >= 30, DELAY * 2 + SLACK)
    h.ok(good, 'the 10 later senders are named too (%.1f s after the last)' % secs, '%d named' % got,
         n.log()[-2000:])
    elapsed = time.monotonic() - t0
    rc, killed = n.stop()
    h.ok(rc == 0 and not killed, 'the polling notifier exits 0 on SIGTERM')
    collect()

    h.is_(sorted(named), sorted(first + later), 'every one of the 30 senders is named in an email')
    waits = {s: named[s] - arrived[s] for s in named if s in arrived}
    worst = max(waits.values()) if waits else None
    h.ok(worst is not None and worst <= DELAY + SLACK,
         'no sender waits unseen longer than digest_delay plus a poll (worst %.1f s, bound %.1f s)'
         % (worst or -1, DELAY + SLACK), repr(sorted(waits.items(), key=lambda kv: -kv[1])[:5]))
    all_named = [s for _, _, ss, _ in mails for s in ss]
    h.is_(len(all_named), len(set(all_named)), 'nobody is named twice')
    h.ok(all(r == [GUARDIAN] for _, _, _, r in mails), 'every email goes to the guardian alone')
    digests = [(t, s, ss) for t, s, ss, _ in mails if SUBJECT_DIGEST.match(s)]
    singles = [m for m in mails if not SUBJECT_DIGEST.match(m[1])]
    h.is_(len(singles), CAP, 'exactly the cap (%d) of single emails' % CAP)
    # digest_delay is counted in whole seconds (sent_at has no fraction),
    # so two digests may be as little as DELAY - 1 s apart, as checked below.
    periods = int(elapsed // (DELAY - 1)) + 1
    h.ok(1 <= len(digests) <= periods, 'at most one digest per %d s period (of whole seconds): %d digests in '
         '%.1f s (at most %d)' % (DELAY, len(digests), elapsed, periods))
    gaps = [b[0] - a[0] for a, b in zip(digests, digests[1:])]
    h.ok(all(g >= DELAY - 1.0 for g in gaps), 'digests are at least digest_delay apart (%r)' % gaps)
    for t, subject, ss in digests:
        m = SUBJECT_DIGEST.match(subject)
        want = 'sender wants' if len(ss) == 1 else 'senders want'
        h.ok(m and int(m.group(1)) == len(ss) and m.group(2) == want,
             'digest "%s" counts its %d senders right' % (subject, len(ss)))
    h.diag('emails: ' + '; '.join('%+.1fs %s (%d)' % (t - t0, s, len(ss)) for t, s, ss, _ in mails))

    NOTIFY_LOGS = [n.log()]
    h.no_notify_sanitizer_reports(NOTIFY_LOGS)
    srv.stop()
    d.stop()
    db.stop()


h.run(main, timeout=180)
