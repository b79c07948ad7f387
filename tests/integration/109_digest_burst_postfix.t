#!/usr/bin/python3
"""No sender waits unseen, through a real Postfix (issue 25): 107_digest_burst.t
again, but with the mail going where a family's mail goes.

A private Postfix (tests/lib/postfix.py) asks guardlistd with
check_policy_service and delivers two local domains by virtual(8) into one
Maildir per address: the protected child kid@family.test, and the guardian
parent@home.test.  30 strangers write to the child through Postfix's SMTP
port (smtplib on 127.0.0.1), each deferred 450 4.7.1 at RCPT.  The real
guardlist-notify, polling, with max_per_hour 10 and digest_delay 4 s,
submits to the Postfix's second smtpd, which permits before any policy
check (the notifier's own port, as docs/postfix.md sets it up); what counts
is what lands in the guardian's Maildir:

  - every one of the 30 senders is named in an email there within
    digest_delay plus SLACK of its deferral (the slack covers a notifier
    poll, the Postfix queue and delivery, and a loaded machine);
  - no more emails than the cap plus one digest per digest_delay period
    elapsed (a period 1 s shorter: the notifier's clock is kept to the
    second), exactly the cap of single emails, nobody named twice, and
    each digest's subject counts its senders right ("N more senders
    want ...", "1 more sender wants ...");
  - from the first digest's link (?d=TOKEN, guardlist-approve under
    lighttpd) the guardian allows all of its senders with one POST; one of
    them retries through Postfix: 250 and the message lands in the child's
    Maildir.

Arrival and email times are the test's own clock: a sender's deferral is
the moment Postfix answered its RCPT, an email's time the poll that first
saw its file in Maildir/new.  Every wait is a bounded poll."""
import email
import email.policy
import os
import re
import smtplib
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import postfix  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
GUARDIAN = 'parent@home.test'
CAP = 10
DELAY = 4                   # [notifier] digest_delay for this test
SLACK = 8.0                 # a poll (1 s), Postfix's queue and virtual(8), a loaded machine
SMTP_TIMEOUT = 10           # one SMTP session's every reply
RETRY_WAIT = 10.0           # the allowed stranger's retry gets 250 within this
DELIVERY_WAIT = 15.0
DEFAULT_ACTION = '451 4.3.5 Policy service unavailable, try again later'
FORM = 'application/x-www-form-urlencoded'
SUBJECT_DIGEST = re.compile(r'^(\d+) more (senders want|sender wants) to send email to your children$')
SUBJECT_SINGLE = re.compile(r'^(\S+) wants to send email to (\S+)$')
_LOADED = re.compile(r'rules loaded \([a-z ]+\): generation=(\d+)')


def knock(port, sender, data=None):
    """One SMTP session with smtplib: EHLO, MAIL FROM SENDER, RCPT TO the
    child, DATA if the RCPT was accepted and DATA is given.  Returns
    (RCPT code or None, RCPT reply text, DATA code or None, error or None)."""
    rcpt, text, dcode, error = None, '', None, None
    try:
        with smtplib.SMTP('127.0.0.1', port, local_hostname='client.guardlist.test', timeout=SMTP_TIMEOUT) as s:
            s.ehlo()
            code, reply = s.mail(sender)
            if code != 250:
                return None, '', None, 'MAIL FROM: %d %s' % (code, reply.decode('utf-8', 'replace'))
            rcpt, reply = s.rcpt(KID)
            text = '%d %s' % (rcpt, reply.decode('utf-8', 'replace'))
            if rcpt == 250 and data is not None:
                dcode, _ = s.data(data)
    except (OSError, smtplib.SMTPException) as e:
        error = '%s: %s' % (type(e).__name__, e)
    return rcpt, text, dcode, error


def read_mail(path):
    """(subject, senders named, digest link token or None, To addresses) of one message file."""
    with open(path, 'rb') as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    body = msg.get_body(('plain',))
    text = body.get_content() if body else ''
    subject = str(msg['Subject'])
    m = SUBJECT_SINGLE.match(subject)
    if m and not SUBJECT_DIGEST.match(subject):
        senders = [m.group(1)]
    else:
        senders = re.findall(r'^\* (\S+) -> ', text, flags=re.M)
    link = re.search(r'\?d=([0-9a-f]{32})\b', text)
    to = [a.addr_spec for a in msg['To'].addresses] if msg['To'] else []
    return subject, senders, link.group(1) if link else None, to


def main():
    needed = (('postfix', postfix.POSTFIX), ('lighttpd', web.LIGHTTPD))
    missing = [pkg for pkg, path in needed if not os.path.exists(path)]
    if not h.ok(not missing, 'Postfix and lighttpd are there', 'missing: %s (make deps)' % ', '.join(missing)):
        return
    db = h.start_db()
    secrets = web.init_accounts(db)
    admin = h.cli_config(db)
    rc, out, err = h.cli(admin, 'protect', KID, '--guardian', GUARDIAN)
    h.is_(rc, 0, 'guardlist protect %s --guardian %s' % (KID, GUARDIAN)) or h.diag(out, err)
    d = h.start_daemon(db)
    pf = postfix.PrivatePostfix(postfix.policy_settings(d.port, DEFAULT_ACTION, timeouts=False),
                                domains=('family.test', 'home.test'), mailboxes={KID: 'kid', GUARDIAN: 'parent'},
                                unguarded=True)
    pf.start()
    www = web.Lighttpd(web.approve_binary(), {'GUARDLIST_CONFIG': web.approver_config(db, secrets)})
    www.start()
    cfg = h.notify_config(db, pf.unguarded_port,
                          notifier={'max_per_hour': str(CAP), 'digest_delay': str(DELAY), 'poll_interval': '1',
                                    'approve_url': www.url()},
                          database={'user': 'guardlist_notifier',
                                    'password_file': os.path.join(secrets, 'db-notifier.secret')})
    h.diag('Postfix on 127.0.0.1:%d (notifier port %d), guardlistd on %d, lighttpd on %d'
           % (pf.port, pf.unguarded_port, d.port, www.port))
    h.diag('guardlist-notify under test: %s; guardlist-approve: %s' % (h.notify_binary(), web.approve_binary()))
    n = h.Notifier(cfg)
    n.start()

    arrived = {}            # sender -> monotonic time of its deferral
    named = {}              # sender -> monotonic time of the first email naming it
    mails = []              # (time, subject, [senders named], digest token, To)
    seen = set()            # message files already read

    def collect():
        now = time.monotonic()
        for path in pf.maildir_files('parent'):
            if path in seen:
                continue
            seen.add(path)
            subject, senders, token, to = read_mail(path)
            mails.append((now, subject, senders, token, to))
            for s in senders:
                named.setdefault(s, now)
        return len(named)

    deferrals = []          # (sender, RCPT reply) of any sender not deferred 450 4.7.1

    def burst(senders, gap):
        for s in senders:
            code, text, _, error = knock(pf.port, s)
            arrived[s] = time.monotonic()
            if code != 450 or not text.startswith('450 4.7.1 '):
                deferrals.append((s, error or text))
            if gap:
                time.sleep(gap)     # the senders' pace, not synchronisation

    t0 = time.monotonic()
    first = ['s%02d@burst%02d.example' % (i, i) for i in range(20)]
    burst(first, 0)
    good, got, secs = h.poll_until(collect, lambda k: k >= 20, DELAY * 2 + SLACK)
    h.ok(good, 'the first 20 senders are all named in the guardian\'s Maildir within %d s (%.1f s)'
         % (DELAY * 2 + SLACK, secs), '%d named' % got, n.log()[-2000:], pf.log()[-2000:])
    later = ['t%02d@late%02d.example' % (i, i) for i in range(10)]
    burst(later, 0.2)
    good, got, secs = h.poll_until(collect, lambda k: k >= 30, DELAY * 2 + SLACK)
    h.ok(good, 'the 10 later senders are named too (%.1f s after the last)' % secs, '%d named' % got,
         n.log()[-2000:], pf.log()[-2000:])
    h.is_(deferrals, [], 'each of the 30 strangers gets 450 4.7.1 at RCPT through Postfix')
    rc, killed = n.stop()
    h.ok(rc == 0 and not killed, 'the polling notifier exits 0 on SIGTERM')
    empty, left, _ = pf.wait_queue_empty(DELIVERY_WAIT)
    h.ok(empty, "Postfix's queue is empty: every email the notifier handed over is delivered", repr(left))
    collect()
    elapsed = time.monotonic() - t0

    h.is_(sorted(named), sorted(first + later), "every one of the 30 senders is named in the guardian's Maildir")
    # A sender never named has waited unseen until now.
    end = time.monotonic()
    waits = {s: named.get(s, end) - arrived[s] for s in arrived}
    worst = max(waits.values()) if waits else None
    h.ok(worst is not None and worst <= DELAY + SLACK,
         'no sender waits unseen longer than digest_delay plus slack (worst %.1f s, bound %.1f s)'
         % (worst if worst is not None else -1, DELAY + SLACK),
         repr(sorted(waits.items(), key=lambda kv: -kv[1])[:5]))
    all_named = [s for _, _, ss, _, _ in mails for s in ss]
    h.is_(len(all_named), len(set(all_named)), 'nobody is named twice')
    h.ok(all(to == [GUARDIAN] for _, _, _, _, to in mails), 'every email is to the guardian alone',
         repr([to for _, _, _, _, to in mails if to != [GUARDIAN]]))
    digests = [(t, s, ss, tok) for t, s, ss, tok, _ in mails if SUBJECT_DIGEST.match(s)]
    singles = [m for m in mails if not SUBJECT_DIGEST.match(m[1])]
    h.is_(len(singles), CAP, 'exactly the cap (%d) of single emails' % CAP)
    # The notifier keeps sent_at to the whole second: two digests may go out
    # just over DELAY - 1 s apart, so a period here is DELAY - 1 s long.
    periods = int(elapsed // (DELAY - 1)) + 1
    h.ok(1 <= len(digests) <= periods and len(mails) <= CAP + periods,
         'no more emails than the cap plus one digest per digest_delay period: %d emails, %d digests in %.1f s '
         '(%d periods of %d s, the clock kept to the second)' % (len(mails), len(digests), elapsed, periods,
                                                                DELAY - 1))
    for _, subject, ss, _ in digests:
        m = SUBJECT_DIGEST.match(subject)
        want = 'sender wants' if len(ss) == 1 else 'senders want'
        h.ok(m and int(m.group(1)) == len(ss) and m.group(2) == want,
             'digest "%s" counts its %d senders right' % (subject, len(ss)))
    h.is_(pf.maildir_files('kid'), [], "nothing reached the child's Maildir during the burst")
    h.diag('emails: ' + '; '.join('%+.1fs %s (%d)' % (t - t0, s, len(ss)) for t, s, ss, _, _ in mails))

    # ---------------------------------------------- the guardian decides all
    if not h.ok(digests and digests[0][3], 'the first digest has a link to decide all its senders'):
        return
    _, _, dsenders, tok = digests[0]
    r = www.request('GET', '/approve?d=' + tok)
    # One sender has only its own buttons; two or more also "Allow all N".
    offer = ('Allow all %d waiting senders' % len(dsenders) if len(dsenders) > 1
             else 'value="allow">Allow</button>')
    h.ok(r.status == 200 and all(s in r.text for s in dsenders) and offer in r.text,
         'GET the digest link: 200, lists its %d senders and offers to allow %s' % (
             len(dsenders), 'them all' if len(dsenders) > 1 else 'it'),
         r.status, r.text[:3000])
    r = www.request('POST', '/approve', body='d=%s&choice=allow-all' % tok, headers={'Content-Type': FORM})
    h.ok(r.status == 200 and 'Done: %d sender(s) allowed' % len(dsenders) in r.text,
         'POST allow-all: the %d senders are allowed' % len(dsenders), r.status, r.text[:3000])
    statuses = {s: db.value('SELECT status FROM challenges WHERE sender = %s AND recipient = %s'
                            % (h.sql_str(s), h.sql_str(KID))) for s in dsenders}
    h.ok(set(statuses.values()) == {'approved'}, 'their challenges are approved', repr(statuses))

    # A real server retries minutes later; the test waits (bounded) until
    # guardlistd has loaded the rules the POST wrote (its log says so).
    want = int(db.value('SELECT generation FROM rule_generation WHERE id = 1'))
    good, gens, secs = h.poll_until(lambda: [int(g) for g in _LOADED.findall(d.log())],
                                    lambda gs: gs and max(gs) >= want, RETRY_WAIT)
    h.ok(good, 'guardlistd loads the rules the POST wrote (%.2f s)' % secs, repr(gens), d.log()[-1500:])
    stranger = dsenders[0]
    data = ('From: <%s>\r\nTo: <%s>\r\nSubject: hello again\r\nMessage-ID: <retry-%d@burst.test>\r\n\r\n'
            'The retry after the guardian allowed everyone in the digest.\r\n' % (stranger, KID, os.getpid()))
    good, got, secs = h.poll_until(lambda: knock(pf.port, stranger, data), lambda v: v[0] == 250 and v[2] == 250,
                                   RETRY_WAIT, interval=0.5)
    h.ok(good, '%s retries through Postfix: 250 at RCPT and DATA (%.1f s)' % (stranger, secs), repr(got),
         pf.log()[-2000:])
    good, files, secs = h.poll_until(lambda: pf.maildir_files('kid'), lambda f: len(f) == 1, DELIVERY_WAIT)
    h.ok(good, "the retry lands in the child's Maildir (%.1f s)" % secs, repr(files), pf.log()[-2000:])
    if files:
        with open(files[0], 'rb') as f:
            raw = f.read()
        h.ok(b'The retry after the guardian allowed everyone' in raw, 'it is the stranger\'s message')

    marks = www.sanitizer_report()
    h.ok(not marks, "the CGI's stderr has no sanitizer report", repr(marks))
    h.no_notify_sanitizer_reports([n.log()])
    www.stop()
    pf.stop(check=True)
    d.stop()
    db.stop()


h.run(main, timeout=120)
