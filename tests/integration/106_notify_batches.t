#!/usr/bin/python3
"""guardlist-notify plans each guardian's batch from what that guardian has
not had yet (issue 26: a batch that ignored what was already sent passed
every other test).  Two guardians of one child, each temporarily refused
(4xx) by the smarthost at a different time, and new challenges arriving
before the retries:

  run 1: challenge A; p2 gets a 4xx, p1 gets A;
  run 2: challenge B (A waits for its backoff); p1 gets a 4xx, p2 gets B;
  run 3: challenge C, A and B due again, nobody refused: p1 gets exactly
         B and C, p2 exactly A and C, one email each, every link works;
  run 4: nothing more for anyone;
  run 5: a third guardian, at the hourly cap with the digest spent, gets
         nothing, and the challenge waits for them (not marked sent);
  run 6: a challenge another notifier holds (a live lease) is not mailed;
  run 7: once its lease has run out, it is mailed once to each guardian.

The smarthost is tests/lib/minismtp.py (loopback); challenges come from the
real guardlistd; the backoff is cut short with SQL (notify_next_at), which
is said where it is done."""
import email
import email.policy
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
from minismtp import MiniSmtp  # noqa: E402

APPROVE = h.NOTIFIER_DEFAULTS['approve_url']
LINK_RE = re.compile(re.escape(APPROVE) + r'\?t=([0-9a-f]{32})\b')
KID = 'kid@kids.test'
KID2 = 'kid2@kids.test'
P1, P2, P3 = 'p1@home.test', 'p2@home.test', 'p3@home.test'
BUSY = '450 4.2.0 mailbox busy, try again later'


def ids(owners):
    """Challenge ids sorted, a link that redeems nothing (None) last."""
    return sorted(owners, key=lambda i: (i is None, i or 0))


def links_by_guardian(srv, token_owner):
    """{guardian: [challenge id of each link, in order]} of the emails
    accepted since the last call (one recipient per email expected)."""
    out = {}
    for mail, rcpts, data in srv.take():
        msg = email.message_from_bytes(data, policy=email.policy.default)
        text = ''.join(part.get_content() for part in msg.walk() if part.get_content_type() == 'text/plain')
        for r in rcpts:
            out.setdefault(r, []).append(ids(token_owner(t) for t in LINK_RE.findall(text)))
    return out


def main():
    db = h.start_db()
    cfg_cli = h.cli_config(db)
    srv = MiniSmtp()
    cfg = h.notify_config(db, srv.port)
    rc, out, err = h.cli(cfg_cli, 'protect', KID, '--guardian', P1, '--guardian', P2)
    h.is_(rc, 0, 'guardlist protect %s with guardians p1@ and p2@' % KID) or h.diag(err)
    rc, out, err = h.cli(cfg_cli, 'protect', KID2, '--guardian', P3)
    h.is_(rc, 0, 'guardlist protect %s with guardian p3@' % KID2) or h.diag(err)
    d = h.start_daemon(db)

    def challenge(sender, kid=KID):
        h.defer_ok(h.query(d.port, sender=sender, recipient=kid), '%s -> %s: deferred' % (sender, kid))
        good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=sender, recipient=kid),
                                     lambda r: len(r) == 1, 5)
        h.ok(good, '%s: one challenge recorded' % sender, repr(rows))
        return int(rows[0]['id']) if good else -1

    def token_owner(tok):
        v = db.value("SELECT challenge_id FROM notifications WHERE token_sha256 = UNHEX(SHA2('%s', 256))" % tok)
        return int(v) if v is not None else None

    def run_once(desc):
        rc, out, err = h.notify_logged(cfg, '--once')
        h.is_(rc, 0, '%s: guardlist-notify --once exits 0' % desc) or h.diag(err[-2000:])
        return links_by_guardian(srv, token_owner)

    def states(*ids):
        return [db.value('SELECT notify_state FROM challenges WHERE id = %d' % i) for i in ids]

    a = challenge('anna@ext.example')
    srv.rules[P2] = BUSY
    got = run_once('run 1 (p2 busy)')
    h.is_(got, {P1: [[a]]}, 'run 1: p1 gets the link of A, p2 nothing (4xx)')
    h.is_(states(a), ['new'], 'run 1: A is retried later (p2 has not had it)')

    b = challenge('bert@ext.example')
    srv.rules.clear()
    srv.rules[P1] = BUSY
    got = run_once('run 2 (p1 busy)')
    h.is_(got, {P2: [[b]]}, 'run 2: A waits for its backoff; p2 gets the link of B, p1 nothing (4xx)')
    h.is_(states(a, b), ['new', 'new'], 'run 2: A and B are both retried later')

    c = challenge('carl@ext.example')
    srv.rules.clear()
    # SQL: the backoff has passed (instead of waiting a minute)
    db.sql("UPDATE challenges SET notify_next_at = NOW() WHERE notify_state = 'new'")
    got = run_once('run 3 (nobody busy)')
    h.is_(ids(sum(got.get(P1, []), [])), ids([b, c]), 'run 3: p1 gets exactly the links of B and C')
    h.is_(ids(sum(got.get(P2, []), [])), ids([a, c]), 'run 3: p2 gets exactly the links of A and C')
    h.is_(sorted(got), [P1, P2], 'run 3: nobody else is mailed')
    h.ok(None not in sum(got.get(P1, []) + got.get(P2, []), []), 'run 3: every link sent redeems its challenge',
         repr(got))
    h.is_(states(a, b, c), ['sent', 'sent', 'sent'], 'run 3: all three challenges are sent')
    h.is_(db.sql('SELECT challenge_id, guardian FROM notifications ORDER BY challenge_id, guardian'),
          [[str(i), g] for i in sorted([a, b, c]) for g in (P1, P2)],
          'each guardian is recorded once for each challenge')

    got = run_once('run 4')
    h.is_(got, {}, 'run 4: nothing more for anyone')

    # A guardian at the hourly cap, digest spent: the challenge waits for them.
    # SQL: p3@ had 10 single emails and a digest this hour
    db.sql("INSERT INTO notifications (challenge_id, guardian, kind, digest_of, message_id) VALUES "
           + ', '.join("(%d, '%s', 'single', 1, '<old%d@guardlist.test>')" % (900000 + i, P3, i) for i in range(10))
           + ", (900100, '%s', 'digest', 3, '<oldd@guardlist.test>')" % P3)
    e = challenge('dora@ext.example', KID2)
    got = run_once('run 5 (p3 at the cap)')
    h.is_(got, {}, 'run 5: p3, at the cap with the digest spent, gets nothing now')
    r = db.sql('SELECT notify_state, notify_next_at > NOW(), notify_error FROM challenges WHERE id = %d' % e)
    h.is_(r[0][:2] if r else r, ['new', '1'], 'run 5: the challenge waits (new, next try ahead), not sent') \
        or h.diag(repr(r))

    # A claim another notifier holds is left alone until its lease runs out.
    f = challenge('fred@ext.example')
    # SQL: another notifier claimed it a moment ago (a lease of 5 minutes)
    db.sql("UPDATE challenges SET notify_state = 'claimed', notify_claimed_until = NOW() + INTERVAL 5 MINUTE "
           "WHERE id = %d" % f)
    got = run_once('run 6 (claimed by another notifier)')
    h.is_(got, {}, 'run 6: a challenge another notifier holds is not mailed')
    # SQL: that notifier died; its lease has run out
    db.sql("UPDATE challenges SET notify_claimed_until = NOW() - INTERVAL 1 SECOND WHERE id = %d" % f)
    got = run_once('run 7 (the lease ran out)')
    h.is_(got, {P1: [[f]], P2: [[f]]}, 'run 7: after the lease ran out each guardian gets the link once')
    h.is_(states(f), ['sent'], 'run 7: and the challenge is sent')

    d.stop()
    srv.stop()
    h.no_notify_sanitizer_reports()
    db.stop()


h.run(main, timeout=180)
