#!/usr/bin/python3
"""Issue 25's bulk-host approval and issue 17's BATV sender through a real
Postfix (tests/lib/postfix.py: private instance on loopback, virtual(8)
Maildir for family.test) asking the real guardlistd at RCPT, with the
approval page under a real lighttpd and the real CLI.

  1. SendGrid-style customer bounces+1111111-aaaa-kid=family.test@sendgrid.net
     writes to the protected kid: 450 4.7.1 at RCPT, nothing delivered, one
     challenge naming that address; the guardian's link page shows it, "Allow
     this sender" writes exactly it; the same message again: 250 and in the
     kid's Maildir; another customer bounces+9999999-...@sendgrid.net: still
     450 and nothing delivered (an approval no wider than what was seen).
  2. A BATV-signed sender with a tag per message: two tags, 450 each, one
     challenge for the plain address and one email to the guardian
     (guardlist-notify through the same Postfix; a third tag and another run
     mail nothing more); approved once (`guardlist approve`), a message under
     a new tag is 250 and delivered.
Every wait is a bounded poll."""
import os
import secrets
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import postfix  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
GUARDIAN = 'parent@family.test'
CUSTOMER = 'bounces+1111111-aaaa-kid=family.test@sendgrid.net'
OTHER_CUSTOMER = 'bounces+9999999-bbbb-kid=family.test@sendgrid.net'
PAL = 'newpal@pals.example'
DEFAULT_ACTION = '451 4.3.5 Policy service unavailable, try again later'
FOLLOW = 2.0
RUN = uuid.uuid4().hex[:8]


def message(sender, marker):
    return ('From: <%s>\r\nTo: <%s>\r\nSubject: sender forms %s\r\nMessage-ID: <%s@forms.test>\r\n'
            'Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nmarker: %s\r\n' % (sender, KID, marker, marker, marker))


def main():
    db = h.start_db()
    secrets_dir = web.init_accounts(db)
    admin = h.cli_config(db)
    rc, out, err = h.cli(admin, 'protect', KID, '--guardian', GUARDIAN)
    h.is_(rc, 0, 'guardlist protect kid') or h.diag(out, err)
    d = h.start_daemon(db)
    pf = postfix.PrivatePostfix(postfix.policy_settings(d.port, DEFAULT_ACTION))
    pf.start()
    www = web.Lighttpd(web.approve_binary(), {'GUARDLIST_CONFIG': web.approver_config(db, secrets_dir)})
    www.start()

    def send(sender, marker):
        r = pf.smtp(sender, [KID], message(sender, marker))
        codes = [c for _, c, _ in r['rcpt']]
        return (codes[0] if codes else None), r

    def delivered(marker):
        return pf.delivered(KID, marker)

    def retry_until(sender, marker, code):
        """Sends until the RCPT reply is CODE (rules are in force within ~2 s)."""
        good, got, _ = h.poll_until(lambda: send(sender, marker), lambda x: x[0] == code, FOLLOW + 3)
        return good, got

    # -------------------------------------------------- 1. bulk host customer
    mark1 = 'gl128-%s-customer' % RUN
    code, r = send(CUSTOMER, mark1)
    h.is_(code, 450, 'customer 1111111 of the bulk host: 450 at RCPT') or h.diag(r['transcript'])
    rows = h.challenges(db, recipient=KID)
    h.is_([x['sender'] for x in rows], [CUSTOMER], 'one challenge, naming the address with its extension')
    tok = secrets.token_hex(16)
    db.sql("INSERT INTO notifications (challenge_id, guardian, kind, message_id, token_sha256, token_expires_at) "
           "VALUES (%s, %s, 'single', '<%s@test>', UNHEX(SHA2('%s', 256)), NOW() + INTERVAL 7 DAY)"
           % (rows[0]['id'], h.sql_str(GUARDIAN), tok, tok))
    page = www.request('GET', '/approve?t=' + tok)
    h.ok(CUSTOMER in page.text.replace('&#61;', '=').replace('&#43;', '+'),
         'the approval page shows the address the rule will be written for', page.text[-1500:])
    r = www.request('POST', '/approve', body='t=%s&choice=allow' % tok,
                    headers={'Content-Type': 'application/x-www-form-urlencoded'})
    h.is_(r.status, 200, '"Allow this sender" on the page')
    h.is_(db.sql("SELECT sender FROM sender_rules WHERE recipient = '%s'" % KID), [[CUSTOMER]],
          'the rule is the address as the sender used it')
    good, got = retry_until(CUSTOMER, mark1, 250)
    h.ok(good, 'the same message again: 250', repr(got[1]['transcript'] if got else got))
    ok, files, secs = h.poll_until(lambda: delivered(mark1), lambda f: len(f) == 1, 30)
    h.ok(ok, "it lands in the kid's Maildir (%.1fs)" % secs, pf.log()[-2000:])
    mark2 = 'gl128-%s-other' % RUN
    code, r = send(OTHER_CUSTOMER, mark2)
    h.is_(code, 450, "another customer's bounces+ address of the same host: 450") or h.diag(r['transcript'])

    # -------------------------------------------------- 2. BATV
    mark3 = 'gl128-%s-batv' % RUN
    for tag in ('0123abcdef', '1124fedcba'):
        code, r = send('prvs=%s=%s' % (tag, PAL), mark3)
        h.is_(code, 450, 'BATV tag %s: 450' % tag) or h.diag(r['transcript'])
    good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=PAL, recipient=KID),
                                 lambda x: len(x) == 1 and x[0]['attempts'] == '2', 10)
    h.ok(good, 'two tags, one challenge for %s (attempts 2)' % PAL, repr(rows))
    h.is_(db.value("SELECT COUNT(*) FROM challenges WHERE sender LIKE 'prvs=%'"), '0',
          'no challenge names a tagged address')
    # One challenge, so one email: guardlist-notify mails the guardian through
    # the same Postfix (parent@ is not protected); a third tag and another
    # notifier run mail nothing more about this sender.
    nconf = h.notify_config(db, pf.port)

    def pal_mails():
        out = []
        for path in pf.mailbox(GUARDIAN):
            with open(path, 'rb') as f:
                if PAL.encode() in f.read():
                    out.append(path)
        return out

    rc, out, err = h.notify_logged(nconf, '--once')
    h.is_(rc, 0, 'guardlist-notify --once') or h.diag(out, err)
    good, mails, _ = h.poll_until(pal_mails, lambda m: len(m) >= 1, 30)
    h.is_(len(mails), 1, 'the guardian got one email about %s' % PAL)
    code, r = send('prvs=3126abcdef=' + PAL, mark3)
    h.is_(code, 450, 'a third tag before the approval: 450') or h.diag(r['transcript'])
    rc, out, err = h.notify_logged(nconf, '--once')
    ok, left, _ = pf.wait_queue_empty(30)
    h.is_(len(pal_mails()), 1, 'still one email about %s after the third tag and another notifier run' % PAL)
    rows = h.challenges(db, sender=PAL, recipient=KID)
    rc, out, err = h.cli(admin, 'approve', rows[0]['id'])
    h.is_(rc, 0, 'guardlist approve (once)') or h.diag(out, err)
    good, got = retry_until('prvs=2125abcdef=' + PAL, mark3, 250)
    h.ok(good, 'a third tag after the approval: 250', repr(got[1]['transcript'] if got else got))
    ok, files, secs = h.poll_until(lambda: delivered(mark3), lambda f: len(f) >= 1, 30)
    h.ok(ok, "the BATV sender's message lands in the kid's Maildir (%.1fs)" % secs)

    # nothing of the other customer arrived, ever
    ok, left, _ = pf.wait_queue_empty(30)
    h.ok(ok, 'the queue is empty: every accepted message delivered', repr(left))
    h.is_(delivered(mark2), [], "the other customer's message was never delivered")
    www.stop(check=True)
    pf.stop()
    h.no_notify_sanitizer_reports()
    h.ok(d.running(), 'guardlistd is still running')
    d.stop()


h.run(main, timeout=600)
