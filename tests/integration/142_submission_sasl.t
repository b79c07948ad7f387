#!/usr/bin/python3
"""Issue 21's plumbing: an authenticated submission service on a real
Postfix (tests/lib/postfix.py, a second smtpd on its own loopback port) with
real SASL through a private Dovecot (tests/lib/dovecot.py, passwd-file),
asking at RCPT a recording policy service (PolicyRecorder, DUNNO) and then
the real guardlistd, so both see the request with its sasl_username.
Outbound control itself is not tested here (guardlistd does not decide on
sasl_username yet); this proves what it will stand on:

  0. Dovecot listens on its auth port only (no IMAP/POP3), the submission
     port offers AUTH PLAIN without TLS, the inbound port offers no AUTH.
  a. AUTH PLAIN with the right password: 235, the kid's mail to a local
     address is 250 at RCPT and DATA and lands in that Maildir; a relay to
     an outside address is 250 at RCPT for the authenticated kid (RSET, not
     sent); Postfix's log names sasl_username=kid@family.test.
  b. A wrong password and an unknown user: 535, nothing delivered, no policy
     request.
  c. Without AUTH the submission port refuses local and outside recipients
     (5xx at RCPT) and the inbound port refuses the relay: nothing delivered.
  d. Every request the policy recorder saw carries sasl_username=kid@...,
     sasl_method=PLAIN, the kid as sender; guardlistd answered the same
     requests (its decision lines name the kid and the recipients).
Every wait is a bounded poll."""
import os
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import dovecot  # noqa: E402
import postfix  # noqa: E402

KID = 'kid@family.test'
PASSWORD = 'kid-secret-%s' % uuid.uuid4().hex[:8]
PAL = 'pal@family.test'              # local, not protected: delivered to the one Maildir
OUTSIDE = 'friend@outside.example'   # a relay: never sent, only RCPT
DEFAULT_ACTION = '451 4.3.5 Policy service unavailable, try again later'
RUN = uuid.uuid4().hex[:8]


def message(marker):
    return ('From: <%s>\r\nTo: <%s>\r\nSubject: submission %s\r\nMessage-ID: <%s@submission.test>\r\n'
            'Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nmarker: %s\r\n' % (KID, PAL, marker, marker, marker))


def listening_ports(pids):
    """TCP ports (IPv4 and IPv6) on which any of PIDS listens, from /proc."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir('/proc/%d/fd' % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            if link.startswith('socket:['):
                inodes.add(link[8:-1])
    ports = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == '0A' and cols[9] in inodes:     # 0A: LISTEN
                ports.add(int(cols[1].rsplit(':', 1)[1], 16))
    return ports


def descendants(pid):
    out, todo = {pid}, [pid]
    while todo:
        todo += [k for k in postfix._children(todo.pop()) if k not in out]
        out |= set(todo)
    return out


def main():
    db = h.start_db()
    d = h.start_daemon(db)
    rec = postfix.PolicyRecorder()
    rec.start()
    dc = dovecot.PrivateDovecot({KID: PASSWORD})
    secs = dc.start()
    h.ok(True, 'private Dovecot up, auth on 127.0.0.1:%d (%.2fs)' % (dc.auth_port, secs))
    pf = postfix.PrivatePostfix(postfix.policy_settings(d.port, DEFAULT_ACTION),
                                submission=postfix.submission_settings(dc.auth_port, [rec.port, d.port]))
    pf.start()

    # ------------------------------------------------------------ 0. ports
    ports = listening_ports(descendants(dc.proc.pid))
    h.is_(sorted(ports), [dc.auth_port], 'Dovecot listens on its auth port only (no IMAP, no POP3)')
    r = pf.submit(None, None, KID, [])
    h.ok(r['ehlo'] and 'AUTH PLAIN' in r['ehlo'] and 'STARTTLS' not in r['ehlo'],
         'the submission port offers AUTH PLAIN, without TLS', repr(r))
    r = postfix.submit_session(pf.port, None, None, KID, [])
    h.ok(r['ehlo'] and 'AUTH' not in r['ehlo'], 'the inbound port offers no AUTH', repr(r))

    # ------------------------------------------------------------ a. AUTH, delivered
    mark_a = 'gl142-%s-auth' % RUN
    r = pf.submit(KID, PASSWORD, KID, [PAL], message(mark_a))
    h.is_(r['auth'] and r['auth'][0], 235, 'AUTH PLAIN as the kid with the right password: 235') or h.diag(repr(r))
    h.is_([c for _, c, _ in r['rcpt']], [250], 'RCPT to a local address: 250') or h.diag(repr(r))
    h.is_(r['data'] and r['data'][0], 250, 'DATA: 250') or h.diag(repr(r))

    def delivered(marker):
        out = []
        for path in pf.mailbox(PAL):
            with open(path, 'rb') as f:
                if marker.encode() in f.read():
                    out.append(path)
        return out
    ok, files, secs = h.poll_until(lambda: delivered(mark_a), lambda f: len(f) == 1, 30)
    h.ok(ok, "the kid's message lands in %s's Maildir (%.1fs)" % (PAL, secs), pf.log()[-2000:])
    h.ok('sasl_method=PLAIN, sasl_username=%s' % KID in pf.log(),
         "Postfix's log names the kid's login (sasl_username)", pf.log()[-2000:])
    r = pf.submit(KID, PASSWORD, KID, [OUTSIDE])
    h.is_([c for _, c, _ in r['rcpt']], [250], 'the authenticated kid may relay: RCPT to %s 250 (not sent)'
          % OUTSIDE) or h.diag(repr(r))

    # ------------------------------------------------------------ b. refused AUTH
    before = len(rec.requests)
    mark_b = 'gl142-%s-badpw' % RUN
    r = pf.submit(KID, 'wrong-' + PASSWORD, KID, [PAL], message(mark_b))
    h.is_(r['auth'] and r['auth'][0], 535, 'a wrong password: 535') or h.diag(repr(r))
    h.is_(r['rcpt'], [], '... and the session gets no further')
    r = pf.submit('nobody@family.test', PASSWORD, KID, [PAL], message(mark_b))
    h.is_(r['auth'] and r['auth'][0], 535, 'an unknown user: 535') or h.diag(repr(r))
    h.ok('Password mismatch' in dc.log(), "Dovecot's log shows the password mismatch", dc.log()[-2000:])

    # ------------------------------------------------------------ c. no AUTH
    mark_c = 'gl142-%s-noauth' % RUN
    r = pf.submit(None, None, KID, [PAL, OUTSIDE], message(mark_c))
    codes = [c for _, c, _ in r['rcpt']]
    h.ok(len(codes) == 2 and all(c // 100 == 5 for c in codes),
         'without AUTH the submission port refuses a local and an outside recipient (5xx at RCPT)', repr(r))
    h.is_(r['data'], None, '... and no DATA')
    r = pf.smtp(KID, [OUTSIDE], message(mark_c))
    h.is_([c for _, c, _ in r['rcpt']], [554], 'the inbound port refuses the relay: 554') \
        or h.diag(r['transcript'])
    h.is_(len(rec.requests), before, 'no policy request from a refused AUTH or an unauthenticated client')
    ok, left, _ = pf.wait_queue_empty(30)
    h.ok(ok, 'the queue is empty', repr(left))
    h.is_(delivered(mark_b) + delivered(mark_c), [], 'nothing of the refused sessions was delivered')

    # ------------------------------------------------------------ d. sasl_username reaches the policy services
    seen = rec.seen(request='smtpd_access_policy', protocol_state='RCPT')
    h.is_(sorted(x.get('recipient') for x in seen), sorted([PAL, OUTSIDE]),
          'the recorder saw one RCPT request for each accepted recipient') or h.diag(repr(rec.requests))
    h.ok(seen and all(x.get('sasl_username') == KID and x.get('sasl_method') == 'PLAIN'
                      and x.get('sender') == KID for x in seen),
         'each carries sasl_username=%s, sasl_method=PLAIN and the kid as sender' % KID, repr(seen))
    # A loop thread holds its decision lines up to 0.1 s (lib/log.c): wait for them, bounded.
    lines = {rcpt: 'sender="%s" recipient="%s"' % (KID, rcpt) for rcpt in (PAL, OUTSIDE)}
    _, log, _ = h.poll_until(d.log, lambda t: all(line in t for line in lines.values()), 10)
    for rcpt, line in lines.items():
        h.ok(line in log, 'guardlistd answered the request for %s too' % rcpt, log[-2000:])

    pf.stop()
    dc.stop(check=True)
    rec.stop()
    h.ok(d.running(), 'guardlistd is still running')
    d.stop()


h.run(main, timeout=300)
