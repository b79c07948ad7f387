#!/usr/bin/python3
"""Issue 21: a protected child's own mail.  A real Postfix with an
authenticated submission service (private Dovecot SASL, as 142) asks the
real guardlistd ([policy] outbound = on) at RCPT on both ports.

  a. the child writes to a new address: 5xx at RCPT with the plain text,
     nothing delivered, one challenge row direction='out'; a second try
     makes no second row;
  b. guardlist-notify sends one email worded "kid@ wants to write to pal@";
  b2. the approval page refuses allow-domain for the child's request (400);
  c. `guardlist approve` -> the child's retry is delivered, and mail from
     the contact to the child over the inbound port is accepted too;
  d. a sender approved inbound: the child can write back at once;
  e. a login that is not protected is untouched;
  g. a bare login no account maps ("kiddo", as with system users) sending
     as the child is the child's mail: 550, a request; one warning a login;
  h. the child's login with another envelope sender: 550 "only from your
     own address", nothing recorded;
  i. an earlier inbound request that expired undecided: the child's request
     is a new 'out' request (550 asked); a denied one: 550 not allowed;
  f. outbound = off: the child can write anywhere.
Every wait is a bounded poll."""
import email
import email.policy
import os
import re
import subprocess
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import dovecot  # noqa: E402
import postfix  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
MUM = 'mum@family.test'              # a login, not protected
GUARDIAN = 'mum@home.example'
PAL = 'pal@friends.test'             # a new contact
GRAN = 'gran@friends.test'           # approved inbound beforehand
OTHER = 'other@friends.test'
NEW_G = 'g@friends.test'
EXPIRED = 'old@friends.test'         # wrote to the kid once; nobody decided, it expired
DENIED = 'no@friends.test'           # the guardian refused it
BARE = 'kiddo'                       # a login without a domain, mapped by nobody
STRANGER = 'stranger@evil.example'   # a foreign envelope sender, a new address
PW = {KID: 'kid-%s' % uuid.uuid4().hex[:8], MUM: 'mum-%s' % uuid.uuid4().hex[:8], BARE: 'b-%s' % uuid.uuid4().hex[:8]}
DEFAULT_ACTION = '451 4.3.5 Policy service unavailable, try again later'
RUN = uuid.uuid4().hex[:8]
ASKED = 'Not in your contacts yet; your guardian has been asked'
REFUSED = 'Your guardian has not allowed mail to this address'
OWN_SENDER = 'You can only send from your own address'


def message(sender, rcpt, marker):
    return ('From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@outbound.test>\r\n'
            'Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nmarker: %s\r\n' % (sender, rcpt, marker, marker, marker))


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test', 'whitelist')",
        "INSERT INTO guardians (recipient, email) VALUES ('kid@family.test', '%s')" % GUARDIAN,
        "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid@family.test', '%s', 'OK')" % GRAN,
        *["INSERT INTO challenges (sender, recipient, protected_key, status, is_open, notify_state) "
          "VALUES ('%s', '%s', '%s', '%s', NULL, 'sent')" % (who, KID, KID, st)
          for who, st in ((EXPIRED, 'expired'), (DENIED, 'denied'))])
    d = h.start_daemon(db, outbound='on')
    dc = dovecot.PrivateDovecot(PW)
    dc.start()
    pf = postfix.PrivatePostfix(postfix.policy_settings(d.port, DEFAULT_ACTION),
                                domains=('family.test', 'friends.test'),
                                submission=postfix.submission_settings(dc.auth_port, [d.port]))
    pf.start()
    cli_cfg = h.cli_config(db, approver={'token_ttl_days': '7'})

    def delivered(rcpt, marker):
        out = []
        for path in pf.mailbox(rcpt):
            with open(path, 'rb') as f:
                if marker.encode() in f.read():
                    out.append(path)
        return out

    def wait_delivered(rcpt, marker, desc):
        ok, files, secs = h.poll_until(lambda: delivered(rcpt, marker), lambda f: len(f) == 1, 30)
        h.ok(ok, '%s (%.1fs)' % (desc, secs), pf.log()[-2000:])

    def out_rows(contact):
        return db.sql("SELECT direction, status, protected_key FROM challenges WHERE sender = '%s' "
                      "AND recipient = '%s'" % (contact, KID))

    # ------------------------------------------------------------ a. a new contact
    mark_a = 'gl146-%s-new' % RUN
    r = pf.submit(KID, PW[KID], KID, [PAL], message(KID, PAL, mark_a))
    h.is_(r['auth'] and r['auth'][0], 235, 'the kid logs in') or h.diag(repr(r))
    rc = r['rcpt'][0] if r['rcpt'] else (None, 0, '')
    h.ok(rc[1] == 550 and ASKED in str(rc[2]), 'RCPT to a new contact: 550 with the plain text', repr(r))
    h.is_(r['data'], None, '... no DATA')
    rows = out_rows(PAL)
    h.is_([tuple(x) for x in rows], [('out', 'pending', KID)], "one challenge row (pal -> kid), direction 'out'")
    r = pf.submit(KID, PW[KID], KID, [PAL], message(KID, PAL, mark_a))
    rc = r['rcpt'][0] if r['rcpt'] else (None, 0, '')
    h.ok(rc[1] == 550 and ASKED in str(rc[2]), 'a second try: 550 again', repr(r))
    h.is_(len(out_rows(PAL)), 1, '... and no second row')

    # ------------------------------------------------------------ b. the guardian's email
    sink = h.SmtpSink()
    sink.start()
    ncfg = h.notify_config(db, sink.port)
    nrc, _, nerr = h.notify_logged(ncfg, '--once')
    h.is_(nrc, 0, 'guardlist-notify --once') or h.diag(nerr)
    msgs = sink.messages()
    h.is_(len(msgs), 1, 'one email to the guardian')
    m = email.message_from_bytes(h.SmtpSink.split(msgs[0])[1], policy=email.policy.default) if msgs else None
    h.is_(m and str(m['Subject']), '%s wants to write to %s' % (KID, PAL), 'its subject says the kid wants to write')
    body = m.get_body(('plain',)).get_content() if m else ''
    h.ok('%s wants to write to %s.' % (KID, PAL) in body, '... and so does its text', body)
    sink.stop()
    link = re.search(re.escape(h.NOTIFIER_DEFAULTS['approve_url']) + r'\?t=([0-9a-f]{32})', body)
    acfg = h.cli_config(db, approver={'template_dir': str(h.ROOT / 'templates')}, log={'target': 'stderr'})
    env = dict(os.environ, GUARDLIST_CONFIG=acfg, REQUEST_METHOD='GET', QUERY_STRING='t=%s' % (link and link.group(1)),
               GATEWAY_INTERFACE='CGI/1.1', SERVER_PROTOCOL='HTTP/1.1')
    page = subprocess.run([web.approve_binary()], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60).stdout.decode('utf-8', 'replace')
    h.ok(link and page.startswith('Status: 200') and 'wants to write to <strong>%s</strong>' % PAL in page
         and 'Allow this contact' in page and 'Sender check' not in page,
         "the email's link: the approval page says the kid wants to write to the contact (no sender check)",
         page[:1500])

    body_post = 't=%s&choice=allow-domain' % (link and link.group(1))
    penv = dict(env, REQUEST_METHOD='POST', QUERY_STRING='', CONTENT_TYPE='application/x-www-form-urlencoded',
                CONTENT_LENGTH=str(len(body_post)))
    posted = subprocess.run([web.approve_binary()], env=penv, input=body_post.encode(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=60).stdout.decode('utf-8', 'replace')
    h.ok(posted.startswith('Status: 400') and 'not its domain' in posted,
         "POST allow-domain for the kid's request: 400, no domain rule", posted[:1500])
    h.is_(db.value("SELECT COUNT(*) FROM sender_rules WHERE sender = 'friends.test'"), '0', '... none written')
    h.ok('everyone at' not in body, "the email offers no domain-wide allow for the kid's request", body)

    # ------------------------------------------------------------ c. approved: both directions
    cid = db.value("SELECT id FROM challenges WHERE sender = '%s' AND recipient = '%s'" % (PAL, KID))
    arc, out, err = h.cli(cli_cfg, 'approve', str(cid), actor='ops')
    h.is_(arc, 0, 'guardlist approve %s' % cid) or h.diag(err)
    mark_c = 'gl146-%s-approved' % RUN

    def try_send():
        return pf.submit(KID, PW[KID], KID, [PAL], message(KID, PAL, mark_c))
    ok, r, secs = h.poll_until(try_send, lambda x: [c for _, c, _ in x['rcpt']] == [250], 15)
    h.ok(ok, "the kid's retry is accepted once the rule is in force (%.1fs)" % secs, repr(r))
    wait_delivered(PAL, mark_c, '... and delivered to %s' % PAL)
    mark_in = 'gl146-%s-inbound' % RUN
    r = pf.smtp(PAL, [KID], message(PAL, KID, mark_in))
    h.is_([c for _, c, _ in r['rcpt']], [250], 'the contact writes to the kid over the inbound port: 250') \
        or h.diag(r['transcript'])
    wait_delivered(KID, mark_in, "... delivered to the kid")

    # ------------------------------------------------------------ d. approved inbound: write back at once
    mark_d = 'gl146-%s-gran' % RUN
    r = pf.submit(KID, PW[KID], KID, [GRAN], message(KID, GRAN, mark_d))
    h.is_([c for _, c, _ in r['rcpt']], [250], 'a sender approved inbound: the kid writes back at once') \
        or h.diag(repr(r))
    wait_delivered(GRAN, mark_d, '... delivered')

    # ------------------------------------------------------------ e. a login that is not protected
    mark_e = 'gl146-%s-mum' % RUN
    r = pf.submit(MUM, PW[MUM], MUM, [OTHER], message(MUM, OTHER, mark_e))
    h.is_([c for _, c, _ in r['rcpt']], [250], 'a login that is not protected writes anywhere') or h.diag(repr(r))
    wait_delivered(OTHER, mark_e, '... delivered')
    h.is_(db.value("SELECT COUNT(*) FROM challenges WHERE recipient = '%s'" % MUM), '0', '... and asks nobody')

    # ------------------------------------------------------------ g. a bare login sending as the kid
    for attempt in (1, 2):
        r = pf.submit(BARE, PW[BARE], KID, [NEW_G], message(KID, NEW_G, 'gl146-%s-bare' % RUN))
        rc = r['rcpt'][0] if r['rcpt'] else (None, 0, '')
        h.ok(r['auth'] and r['auth'][0] == 235 and rc[1] == 550 and ASKED in str(rc[2]),
             'an unmapped bare login sending as the kid (try %d): 550, the guardian asked' % attempt, repr(r))
    h.is_([tuple(x) for x in out_rows(NEW_G)], [('out', 'pending', KID)], "... one 'out' request (the address -> kid)")
    ok, log, _ = h.poll_until(d.log, lambda t: 'login=kiddo is no protected child' in t, 10)
    h.ok(ok and log.count('login=kiddo is no protected child') == 1, '... and one warning for the login',
         log[-2000:])

    # ------------------------------------------------------------ h. another envelope sender
    r = pf.submit(KID, PW[KID], STRANGER, [PAL], message(STRANGER, PAL, 'gl146-%s-foreign' % RUN))
    rc = r['rcpt'][0] if r['rcpt'] else (None, 0, '')
    h.ok(rc[1] == 550 and OWN_SENDER in str(rc[2]),
         "the kid's login with a stranger's envelope sender, to an approved contact: 550 with the plain text", repr(r))
    h.is_(db.value("SELECT COUNT(*) FROM challenges WHERE sender = '%s'" % STRANGER), '0', '... nothing recorded')

    # ------------------------------------------------------------ i. expired versus denied
    r = pf.submit(KID, PW[KID], KID, [EXPIRED], message(KID, EXPIRED, 'gl146-%s-expired' % RUN))
    rc = r['rcpt'][0] if r['rcpt'] else (None, 0, '')
    h.ok(rc[1] == 550 and ASKED in str(rc[2]), 'an expired earlier request: the guardian is asked anew', repr(r))
    h.is_(sorted(tuple(x) for x in out_rows(EXPIRED)), [('in', 'expired', KID), ('out', 'pending', KID)],
          "... a new 'out' row beside the expired one")
    r = pf.submit(KID, PW[KID], KID, [DENIED], message(KID, DENIED, 'gl146-%s-denied' % RUN))
    rc = r['rcpt'][0] if r['rcpt'] else (None, 0, '')
    h.ok(rc[1] == 550 and REFUSED in str(rc[2]), 'a denied one: 550 "not allowed"', repr(r))
    h.is_(len(out_rows(DENIED)), 1, '... and no new row')

    # ------------------------------------------------------------ f. outbound = off
    d.stop()
    d2 = h.start_daemon(db, outbound='off')
    pf.stop()
    pf2 = postfix.PrivatePostfix(postfix.policy_settings(d2.port, DEFAULT_ACTION),
                                 domains=('family.test', 'friends.test'),
                                 submission=postfix.submission_settings(dc.auth_port, [d2.port]))
    pf2.start()
    r = pf2.submit(KID, PW[KID], KID, [OTHER])
    h.is_([c for _, c, _ in r['rcpt']], [250], 'outbound = off: the kid writes to a new address') or h.diag(repr(r))
    h.is_(len(out_rows(OTHER)), 0, '... and nobody is asked')
    log = d.log()
    h.ok('outbound: new contact, guardian asked' in log, "guardlistd's log says why", log[-2000:])
    pf2.stop()
    dc.stop(check=True)
    d2.stop()


h.run(main, timeout=300)
