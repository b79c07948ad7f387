#!/usr/bin/python3
"""Issue 17's "done when" through a real Postfix (tests/lib/postfix.py) asking
the real guardlistd (spf = on) at RCPT, with a private dnsmasq as its DNS:
pass.test publishes "v=spf1 ip4:127.0.0.9 -all" and grandma@pass.test is
approved for the protected kid.  A forged envelope of grandma from another
client (127.0.0.1) is refused at RCPT with 550 5.7.23 and nothing reaches the
kid's Maildir; the real grandma (the client connects from 127.0.0.9) gets 250
and her message is delivered; a stranger forging pass.test gets 550 and no
challenge.  Every wait is a bounded poll."""
import os
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import dns  # noqa: E402
import postfix  # noqa: E402

KID = 'kid@family.test'
GRANDMA = 'grandma@pass.test'
REAL = '127.0.0.9'              # the client pass.test's SPF names
DEFAULT_ACTION = '451 4.3.5 Policy service unavailable, try again later'
RUN = uuid.uuid4().hex[:8]


def message(sender, marker):
    return ('From: <%s>\r\nTo: <%s>\r\nSubject: spf %s\r\nMessage-ID: <%s@spf.test>\r\n'
            'Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nmarker: %s\r\n' % (sender, KID, marker, marker, marker))


def main():
    db = h.start_db("INSERT INTO protected_users (recipient, class) VALUES ('%s', 'whitelist')" % KID,
                    "INSERT INTO whitelist (sender, action) VALUES ('%s', 'OK')" % GRANDMA)
    zone = dns.start({'pass.test': 'v=spf1 ip4:127.0.0.9 -all'})
    d = h.start_daemon(db, spf='on', resolver=zone.address)
    pf = postfix.PrivatePostfix(postfix.policy_settings(d.port, DEFAULT_ACTION))
    pf.start()

    def send(sender, marker, source=None):
        r = pf.smtp(sender, [KID], message(sender, marker), source=source)
        codes = [c for _, c, _ in r['rcpt']]
        return (codes[0] if codes else None), r

    def delivered(marker):
        return pf.delivered(KID, marker)

    forged = 'gl129-%s-forged' % RUN
    code, r = send(GRANDMA, forged)
    h.is_(code, 550, "grandma's address from a client her domain's SPF does not name: 550 at RCPT") \
        or h.diag(r['transcript'])
    h.ok('5.7.23' in (r['rcpt'][0][2] if r['rcpt'] else ''), '... 5.7.23, the sender could not be verified',
         r['transcript'])
    real = 'gl129-%s-real' % RUN
    code, r = send(GRANDMA, real, source=REAL)
    h.is_(code, 250, 'the real grandma, from 127.0.0.9: 250') or h.diag(r['transcript'])
    ok, files, secs = h.poll_until(lambda: delivered(real), lambda f: len(f) == 1, 30)
    h.ok(ok, "her message lands in the kid's Maildir (%.1fs)" % secs, pf.log()[-2000:])
    stranger = 'gl129-%s-stranger' % RUN
    code, r = send('someone@pass.test', stranger)
    h.is_(code, 550, 'a stranger forging pass.test: 550, not 450') or h.diag(r['transcript'])
    h.is_(h.challenges(db, sender='someone@pass.test'), [], '... and no challenge (so no email)')
    ok, left, _ = pf.wait_queue_empty(30)
    h.ok(ok, 'the queue is empty: every accepted message delivered', repr(left))
    h.is_(delivered(forged), [], 'the forged message was never delivered')
    h.is_(len(pf.mailbox(KID)), 1, "the kid's Maildir holds the real message only")
    pf.stop()
    h.ok(d.running(), 'guardlistd is still running')
    d.stop()
    zone.stop()
    db.stop()


h.run(main, timeout=300)
