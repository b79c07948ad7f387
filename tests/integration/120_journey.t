#!/usr/bin/python3
"""The whole journey with a real Postfix, as a family would see it.

A private Postfix (tests/lib/postfix.py: own config dir, loopback port, no
system service) asks guardlistd with `check_policy_service` placed after
reject_unauth_destination, with `smtpd_policy_service_default_action = 451
4.3.5 ...`, and delivers family.test by virtual(8) into Maildir files.  The
notifier sends its approval email INTO THE SAME POSTFIX, to
parent@family.test's mailbox (parent is not protected, so guardlistd says
DUNNO for it): the guardian reads the email where a guardian would.  A
private lighttpd runs guardlist-approve; headless chromium
(tests/browser/approve.js) opens the link from that email and taps "Allow
this sender" (screenshots build/test-output/browser/journey-*.png, or
journey-asan-* for the sanitizer build of the CGI).

  1. stranger -> kid (swaks, whole message): 450 4.7.1 at RCPT, nothing
     delivered, one challenge recorded;
  2. guardlist-notify --once: exactly one email in the guardian's mailbox,
     with one approval link;
  3. chromium opens the link, taps "Allow this sender", reads "Sender allowed";
  4. the same message (same file, same Message-ID) sent again is accepted
     and lands in the kid's mailbox; the retries mail the guardian no more;
  5. grandma (`guardlist allow`) 250 and delivered at once; a blocked sender
     (`guardlist block`) 554 5.7.1 ... Access denied; an unprotected
     recipient 250 and delivered; one message to an unprotected and a
     protected recipient from a stranger: 250 and 450 per RCPT, delivered to
     the unprotected one only; unknown_sender = reject (SIGHUP): exactly
     `554 5.7.1 <kid@family.test>: Recipient address rejected: Access denied`;
  6. guardlistd stopped: Postfix answers the default action 451 4.3.5 (never
     250 for a stranger); guardlistd started again: decisions resume;
  7. a retry inside the refresh window right after an approval must open no
     new challenge and mail the guardian no second time (TODO: known bug).

Every wait is a bounded poll; timings are printed as diagnostics."""
import email
import email.policy
import json
import os
import re
import shutil
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import postfix  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
OTHER = 'other@family.test'             # not protected
GUARDIAN = 'parent@family.test'
STRANGER = 'stranger@example.net'
GRANDMA = 'grandma@example.com'
SPAMMER = 'spammer@spam.example'
DEFAULT_ACTION = '451 4.3.5 Policy service unavailable, try again later'
ARTICLE_554 = '554 5.7.1 <kid@family.test>: Recipient address rejected: Access denied'
BROWSER_DIR = os.path.join(ROOT, 'tests', 'browser')
SHOTS = os.path.join(ROOT, 'build', 'test-output', 'browser')
BROWSER_TIMEOUT = 60            # the whole node run; approve.js bounds itself at 45 s
RETRY_WAIT = 6.0                # the approved sender's retry gets 250 within this (rules follow in ~2 s)
DELIVERY_WAIT = 15.0            # an accepted message reaches its Maildir within this
RESUME_WAIT = 10.0              # after guardlistd is back, Postfix uses it again within this
RUN_ID = uuid.uuid4().hex[:12]  # unique markers for this run's messages

TIMINGS = []


def timed(name, t0):
    secs = time.monotonic() - t0
    TIMINGS.append((name, secs))
    return secs


# ------------------------------------------------------------ helpers

_RCPT_CMD = re.compile(r'^\s*[-~*]+>\s+RCPT TO:\s*<([^>]*)>', re.I)
_REPLY = re.compile(r'^\s*<[-~*]+\s+(\d{3})([ -])(.*)$')
_CLIENT = re.compile(r'^\s*[-~*]+>')


def rcpt_replies(transcript):
    """Every RCPT TO in a swaks transcript with its reply: a list of
    (address, code or None, reply text as one line)."""
    lines = transcript.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = _RCPT_CMD.match(line)
        if not m:
            continue
        parts, code = [], None
        for nxt in lines[i + 1:]:
            r = _REPLY.match(nxt)
            if not r:
                if parts or _CLIENT.match(nxt):
                    break
                continue
            code = int(r.group(1))
            parts.append(r.group(3))
            if r.group(2) == ' ':
                break
        out.append((m.group(1), code, '%s %s' % (code, ' '.join(parts)) if code else ''))
    return out


def data_reply(transcript):
    """The reply to the end of DATA (the line after `.`), or None."""
    lines = transcript.splitlines()
    for i, line in enumerate(lines):
        if re.match(r'^\s*[-~*]+>\s+\.\s*$', line):
            for nxt in lines[i + 1:]:
                r = _REPLY.match(nxt)
                if r and r.group(2) == ' ':
                    return '%s %s' % (r.group(1), r.group(3))
    return None


def write_message(directory, sender, recipients, tag):
    """A whole message in a file (fixed Message-ID, so sending the file
    twice is sending the same message).  Returns (path, subject, marker)."""
    marker = 'journey-%s-%s' % (RUN_ID, tag)
    subject = 'Hello from %s (%s)' % (sender.split('@')[0], marker)
    text = ('From: <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@journey.test>\r\n'
            'Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nHi! Body marker: %s\r\n'
            % (sender, ', '.join('<%s>' % r for r in recipients), subject, marker, marker))
    path = os.path.join(directory, marker + '.eml')
    with open(path, 'w') as f:
        f.write(text)
    return path, subject, marker


def send(pf, sender, recipients, data_file=None, quit_after=None):
    """swaks to PF; RECIPIENTS a list.  Returns (per-RCPT replies, DATA reply, transcript)."""
    extra = ['--data', '@' + data_file] if data_file else []
    _, transcript = pf.swaks(sender, ','.join(recipients), quit_after=quit_after, extra_args=extra)
    return rcpt_replies(transcript), data_reply(transcript), transcript


def with_marker(pf, address, marker):
    """Files in ADDRESS's mailbox that hold MARKER."""
    found = []
    for p in pf.mailbox(address):
        try:
            with open(p, 'rb') as f:
                if marker.encode() in f.read():
                    found.append(p)
        except OSError:
            pass
    return found


def wait_queue_empty(pf, timeout=DELIVERY_WAIT):
    return pf.wait_queue_empty(timeout)


_LOADED = re.compile(r'rules loaded \([a-z ]+\): generation=(\d+)')


def wait_daemon_follows(d, db, timeout=5.0):
    """Waits (bounded) until guardlistd's log says it loaded the rule
    generation the database holds now.  Returns (success, generations
    loaded so far, seconds)."""
    want = int(db.value('SELECT generation FROM rule_generation WHERE id = 1'))
    return h.poll_until(lambda: [int(g) for g in _LOADED.findall(d.log())],
                        lambda gens: gens and max(gens) >= want, timeout)


run_group = h.run_group


def saw(transcript, pf):
    """Diagnostics for a failed SMTP step."""
    return [transcript[-2500:], '--- maillog tail ---', pf.log()[-2500:]]


# ------------------------------------------------------------ the journey

def main():
    t_all = time.monotonic()
    needed = (('postfix', postfix.POSTFIX), ('swaks', postfix.SWAKS), ('lighttpd', web.LIGHTTPD))
    missing = [pkg for pkg, path in needed if not os.path.exists(path)]
    node = shutil.which('node') or shutil.which('nodejs')
    if not node:
        missing.append('nodejs')
    if not h.ok(not missing, 'Postfix, swaks, lighttpd and node are there',
                'missing: %s (make deps)' % ', '.join(missing)):
        return
    # playwright-core as pinned, installed by the first browser test that
    # needs it (one npm ci at a time, whatever order the scripts run in).
    if not web.node_modules():
        return

    # --- the family's setup: database, accounts, rules, servers
    t0 = time.monotonic()
    db = h.start_db()
    secrets = web.init_accounts(db)
    admin = h.cli_config(db)
    for args in (('protect', KID, '--guardian', GUARDIAN), ('allow', GRANDMA), ('block', SPAMMER)):
        rc, out, err = h.cli(admin, *args, actor='journey-test')
        h.is_(rc, 0, 'guardlist %s: exit 0' % ' '.join(args)) or h.diag(out, err)
    d = h.start_daemon(db)
    pf = postfix.PrivatePostfix(postfix.policy_settings(d.port, DEFAULT_ACTION))
    pf.start()
    www = web.Lighttpd(web.approve_binary(), {'GUARDLIST_CONFIG': web.approver_config(db, secrets)})
    www.start()
    nconf = h.notify_config(db, pf.port, notifier={'approve_url': www.url()},
                            database={'user': 'guardlist_notifier',
                                      'password_file': os.path.join(secrets, 'db-notifier.secret')})
    msgdir = h.tmpdir('guardlist-msg-')
    timed('setup (MariaDB, accounts, rules, guardlistd, Postfix, lighttpd)', t0)
    h.diag('Postfix on 127.0.0.1:%d, guardlistd on %d, lighttpd on %d' % (pf.port, d.port, www.port))

    # ---------------------------------------------------- 1. the stranger
    h.diag('--- 1. a stranger writes to the protected kid')
    msg_file, subject, marker = write_message(msgdir, STRANGER, [KID], 'stranger')
    t0 = time.monotonic()
    replies, data, tr = send(pf, STRANGER, [KID], msg_file)
    timed('1. stranger -> kid (450)', t0)
    h.diag('the stranger sees: %r' % (replies,))
    code, text = (replies[0][1], replies[0][2]) if replies else (None, '')
    h.ok(code == 450 and text.startswith('450 4.7.1 <kid@family.test>: Recipient address rejected: '),
         'stranger -> kid: RCPT answered 450 4.7.1 (deferred, try later)', 'got: %r' % text, *saw(tr, pf))
    h.ok(data is None, 'no DATA was sent for the stranger (no accepted recipient)', 'DATA reply %r' % data)
    good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=STRANGER, recipient=KID),
                                 lambda r: len(r) == 1, 5)
    h.ok(good and rows[0]['status'] == 'pending' and rows[0]['is_open'] == '1',
         'one open challenge (stranger, kid) is recorded', repr(rows))
    rc, out, err = h.cli(admin, 'pending', '--json')
    h.ok(rc == 0 and STRANGER in out and KID in out, '`guardlist pending` lists the stranger waiting for the kid',
         out, err)

    # ------------------------------------------------- 2. the email to the parent
    h.diag('--- 2. guardlist-notify --once mails the guardian (through the same Postfix)')
    t0 = time.monotonic()
    rc, out, err = h.notify(nconf, '--once')
    timed('2. guardlist-notify --once', t0)
    h.is_(rc, 0, 'guardlist-notify --once exits 0') or h.diag(out, err)
    t0 = time.monotonic()
    good, files, _ = pf.wait_delivery(GUARDIAN, 1, DELIVERY_WAIT)
    empty, left, _ = wait_queue_empty(pf)
    timed('2. approval email delivered to the guardian', t0)
    files = pf.mailbox(GUARDIAN)
    h.is_(len(files), 1, "exactly one email reached the guardian's mailbox (queue empty: %s)" % empty) or \
        h.diag(err, pf.log()[-2500:])
    link = None
    if files:
        with open(files[0], 'rb') as f:
            msg = email.message_from_bytes(f.read(), policy=email.policy.default)
        h.diag('the guardian sees: From: %s / Subject: %s' % (msg['From'], msg['Subject']))
        h.is_(str(msg['Subject']), '%s wants to send email to %s' % (STRANGER, KID), "the email's subject")
        h.is_(msg.get_content_type(), 'multipart/alternative', 'the email is multipart/alternative')
        text = msg.get_body(('plain',)).get_content() if msg.get_body(('plain',)) else ''
        links = re.findall(re.escape(www.url()) + r'\?t=[0-9a-f]{32}(?![0-9A-Za-z])', text)
        h.is_(len(links), 1, 'the email holds one approval link to the approval page') or h.diag(text)
        link = links[0] if links else None
    if link is None:
        h.ok(False, 'the journey goes on (no approval link)')
        return

    # -------------------------------------------------- 3. the browser
    h.diag('--- 3. the guardian opens the link and taps "Allow this sender"')
    os.makedirs(SHOTS, exist_ok=True)
    shot_name = 'journey-asan' if '/asan/' in web.approve_binary() else 'journey'
    for suffix in ('-1-challenge.png', '-2-decided.png'):
        try:
            os.unlink(os.path.join(SHOTS, shot_name + suffix))
        except FileNotFoundError:
            pass
    t0 = time.monotonic()
    rc, out, err = run_group([node, os.path.join(BROWSER_DIR, 'approve.js'), '--url', link, '--out-dir', SHOTS,
                              '--name', shot_name, '--click', 'Allow this sender',
                              '--profile-dir', h.tmpdir('guardlist-chromium-'), '--timeout', '45'],
                             BROWSER_TIMEOUT, cwd=BROWSER_DIR)
    timed('3. browser (launch, open link, tap, read)', t0)
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = {}
    h.ok(rc == 0 and res.get('ok'), 'approve.js ran to the end (exit %s)' % rc,
         res.get('error') or '', 'stdout: ' + out[-2000:], 'stderr: ' + err[-2000:])
    before, after = res.get('before') or {}, res.get('after') or {}
    h.diag('the guardian sees first: %r' % (before.get('heading'),),
           'then: %r' % (after.get('heading'),), (after.get('main') or '')[:400])
    h.ok(before.get('status') == 200 and STRANGER in (before.get('main') or ''),
         'the link opens (200) and names the stranger', repr(before)[:1500])
    h.is_(after.get('heading'), 'Sender allowed', 'after the tap the page says "Sender allowed"')
    h.ok('Done: %s may now send email to %s.' % (STRANGER, KID) in (after.get('main') or ''),
         'the confirmation text names the sender and the kid', after.get('main'))
    shots = [p for p in res.get('screenshots', []) if os.path.exists(p)]
    h.is_(len(shots), 2, 'two screenshots: %s' % ', '.join(os.path.relpath(p, ROOT) for p in shots))

    # -------------------------------------------------- 4. the retry
    h.diag('--- 4. the stranger\'s server sends the same message again')
    # A real server retries minutes later; the test waits (bounded) only
    # until guardlistd has loaded the rule the tap wrote (its log says so),
    # without asking it about the pair.  A retry inside that window is
    # step 7's subject.
    t0 = time.monotonic()
    good, gens, secs = wait_daemon_follows(d, db)
    timed('4. guardlistd loaded the approval', t0)
    h.ok(good and secs <= 3, 'guardlistd loads the rule the tap wrote within 3 s (%.2f s)' % secs,
         'generations loaded %r' % (gens,), d.log()[-1500:])
    t0 = time.monotonic()
    attempts = []

    def retry():
        r, dr, t = send(pf, STRANGER, [KID], msg_file)
        attempts.append((r, dr))
        return r, dr, t
    good, got, _ = h.poll_until(retry, lambda v: v[0] and v[0][0][1] == 250 and (v[1] or '').startswith('250 '),
                                RETRY_WAIT, interval=0.5)
    timed('4. approved stranger accepted (%d attempt(s))' % len(attempts), t0)
    h.diag('the stranger sees: %r, then DATA: %r' % (got[0] if isinstance(got, tuple) else got,
                                                     got[1] if isinstance(got, tuple) else None))
    h.ok(good and len(attempts) == 1, 'the same message is accepted at once (RCPT 250, DATA 250; %d attempt(s))'
         % len(attempts), repr(attempts), *(saw(got[2], pf) if isinstance(got, tuple) else [repr(got)]))
    t0 = time.monotonic()
    good, found, _ = h.poll_until(lambda: with_marker(pf, KID, marker), lambda f: len(f) >= 1, DELIVERY_WAIT)
    timed('4. delivered into the kid\'s mailbox', t0)
    h.ok(good and len(found) == 1, "the message is in the kid's mailbox (once, found by its marker)",
         repr(found), pf.log()[-2000:])
    if found:
        with open(found[0], 'rb') as f:
            m = email.message_from_bytes(f.read(), policy=email.policy.default)
        h.is_(str(m['Subject']), subject, 'the kid sees the subject the stranger wrote')
    rc, out, err = h.notify(nconf, '--once')
    wait_queue_empty(pf)
    h.ok(rc == 0 and len(pf.mailbox(GUARDIAN)) == 1,
         'the retries mailed the guardian no more: still one email after another notify run',
         'exit %s, guardian mailbox %r' % (rc, pf.mailbox(GUARDIAN)), err)

    # -------------------------------------------------- 5. the other cases
    h.diag('--- 5. grandma, the blocked sender, another child, a mixed message, unknown_sender = reject')
    t0 = time.monotonic()
    gfile, _, gmark = write_message(msgdir, GRANDMA, [KID], 'grandma')
    replies, data, tr = send(pf, GRANDMA, [KID], gfile)
    h.diag('grandma sees: %r, DATA %r' % (replies, data))
    h.ok(replies and replies[0][1] == 250 and (data or '').startswith('250 '),
         'grandma (guardlist allow) -> kid: 250 at RCPT and DATA, first try', *saw(tr, pf))
    good, found, _ = h.poll_until(lambda: with_marker(pf, KID, gmark), lambda f: len(f) >= 1, DELIVERY_WAIT)
    timed('5. grandma delivered', t0)
    h.ok(good, "grandma's message is in the kid's mailbox", pf.log()[-2000:])

    t0 = time.monotonic()
    replies, data, tr = send(pf, SPAMMER, [KID], quit_after='RCPT')
    timed('5. blocked sender', t0)
    h.diag('the blocked sender sees: %r' % (replies,))
    h.is_(replies[0][2] if replies else None, ARTICLE_554,
          'blocked sender (guardlist block) -> kid: 554 5.7.1 ... Access denied') or h.diag(*saw(tr, pf))

    t0 = time.monotonic()
    ofile, _, omark = write_message(msgdir, 'someone@example.org', [OTHER], 'other')
    replies, data, tr = send(pf, 'someone@example.org', [OTHER], ofile)
    h.diag('a stranger writing to an unprotected address sees: %r, DATA %r' % (replies, data))
    h.ok(replies and replies[0][1] == 250 and (data or '').startswith('250 '),
         'stranger -> unprotected other@family.test: 250 at RCPT and DATA', *saw(tr, pf))
    good, found, _ = h.poll_until(lambda: with_marker(pf, OTHER, omark), lambda f: len(f) >= 1, DELIVERY_WAIT)
    timed('5. unprotected recipient delivered', t0)
    h.ok(good, "the message is in other@family.test's mailbox", pf.log()[-2000:])

    t0 = time.monotonic()
    mixed = 'newcomer@example.org'
    mfile, _, mmark = write_message(msgdir, mixed, [OTHER, KID], 'mixed')
    replies, data, tr = send(pf, mixed, [OTHER, KID], mfile)
    h.diag('the stranger writing to both sees: %r, DATA %r' % (replies, data))
    per = {a.lower(): (c, t) for a, c, t in replies}
    h.is_(len(replies), 2, 'swaks sent two RCPT commands') or h.diag(*saw(tr, pf))
    h.is_((per.get(OTHER) or (None,))[0], 250, 'mixed message: RCPT other@family.test (unprotected) 250')
    ok_kid = per.get(KID)
    h.ok(ok_kid and ok_kid[0] == 450 and ok_kid[1].startswith('450 4.7.1 '),
         'mixed message: RCPT kid@family.test (protected) 450 4.7.1', 'got %r' % (ok_kid,))
    h.ok((data or '').startswith('250 '), 'mixed message: DATA accepted for the remaining recipient',
         'DATA reply %r' % data)
    good, found, _ = h.poll_until(lambda: with_marker(pf, OTHER, mmark), lambda f: len(f) >= 1, DELIVERY_WAIT)
    empty, left, _ = wait_queue_empty(pf)
    timed('5. mixed message', t0)
    h.ok(good and len(found) == 1, 'mixed message: other@family.test got it', pf.log()[-2000:])
    kid_copy = with_marker(pf, KID, mmark)
    h.ok(empty and not kid_copy, 'mixed message: the kid did not get it (and nothing is left in the queue)',
         'kid copies %r, queue %r' % (kid_copy, left))
    h.is_(len(h.challenges(db, sender=mixed, recipient=KID)), 1,
          'mixed message: a challenge (newcomer, kid) is recorded')

    t0 = time.monotonic()
    d.write_config(unknown_sender='reject')
    d.hup()
    good, got, secs = h.wait_reply(d.port, lambda r: r == h.ACCESS_DENIED, 5,
                                   sender='hup-probe@probe.example', recipient=KID)
    h.ok(good, 'after SIGHUP with unknown_sender = reject guardlistd rejects a stranger (%.2f s)' % secs,
         'last reply %r' % (got,), d.log()[-2000:])
    replies, data, tr = send(pf, 'pushy@example.org', [KID], quit_after='RCPT')
    timed('5. unknown_sender = reject', t0)
    h.diag('with unknown_sender = reject a stranger sees: %r' % (replies,))
    h.is_(replies[0][2] if replies else None, ARTICLE_554,
          'unknown_sender = reject: a stranger gets exactly the article\'s 554') or h.diag(*saw(tr, pf))
    d.write_config(unknown_sender='defer')
    d.hup()
    good, got, secs = h.wait_reply(d.port, h.is_defer, 5, sender='hup-probe2@probe.example', recipient=KID)
    h.ok(good, 'SIGHUP back to unknown_sender = defer (%.2f s)' % secs, 'last reply %r' % (got,))

    # -------------------------------------------------- 6. guardlistd down
    h.diag('--- 6. guardlistd is down, then back')
    d.stop()        # two tests: exit 0, no sanitizer report
    t0 = time.monotonic()
    down = {}
    for sender, rcpt in ((STRANGER, KID), ('late@example.org', KID), ('late@example.org', OTHER),
                         (GRANDMA, KID)):
        replies, _, tr = send(pf, sender, [rcpt], quit_after='RCPT')
        down[(sender, rcpt)] = (replies[0][1], replies[0][2]) if replies else (None, tr[-1500:])
    timed('6. four RCPTs with guardlistd down', t0)
    h.diag('with guardlistd down the clients see:', *['  %s -> %s: %r' % (s, r, v[1]) for (s, r), v in down.items()])
    code, text = down[('late@example.org', KID)]
    h.ok(code == 451 and text.startswith('451 4.3.5 ') and 'Policy service unavailable' in text,
         'guardlistd down: a stranger -> kid gets the default action 451 4.3.5', 'got %r' % text, pf.log()[-2000:])
    never = [(k, v) for k, v in down.items() if v[0] is None or not 400 <= v[0] < 500]
    h.ok(not never, 'guardlistd down: every RCPT (protected or not, even the approved sender) is deferred 4xx, '
         'never 250', repr(never))

    t0 = time.monotonic()
    d.write_config()
    d.start()
    good, got, secs = h.poll_until(lambda: send(pf, GRANDMA, [KID], quit_after='RCPT')[0],
                                   lambda r: r and r[0][1] == 250, RESUME_WAIT, interval=0.2)
    timed('6. decisions resume after the restart', t0)
    h.ok(good, 'guardlistd back: grandma -> kid 250 again (%.2f s after the restart)' % secs, repr(got),
         pf.log()[-2000:])
    replies, _, tr = send(pf, STRANGER, [KID], quit_after='RCPT')
    h.is_(replies[0][1] if replies else None, 250, 'guardlistd back: the approved stranger -> kid 250')
    replies, _, tr = send(pf, 'late@example.org', [KID], quit_after='RCPT')
    h.ok(replies and replies[0][2].startswith('450 4.7.1 '), 'guardlistd back: a new stranger -> kid 450 4.7.1',
         repr(replies), *saw(tr, pf))
    replies, _, tr = send(pf, SPAMMER, [KID], quit_after='RCPT')
    h.is_(replies[0][2] if replies else None, ARTICLE_554, 'guardlistd back: the blocked sender 554 again')

    # -------------------------------------------------- the end
    h.is_(len(pf.mailbox(KID)), 2, "at the end the kid's mailbox holds exactly the two allowed messages")
    h.is_(len(pf.mailbox(GUARDIAN)), 1, "and the guardian's exactly the one approval email")

    # ------------------------------- 7. a retry right after an approval
    h.diag('--- 7. a retry inside the refresh window right after an approval')
    # guardlistd decides from rules in memory, up to refresh_interval (1 s)
    # behind.  A retry that lands between the approval and the reload is
    # deferred once more - harmless - but must not open a new challenge and
    # mail the guardian again about a sender they just allowed (the writer
    # already refuses to reopen denied/expired pairs, daemon/challenge.c).
    t0 = time.monotonic()
    hit = None
    for i in range(5):
        eager = 'eager%d@example.org' % i
        replies, _, tr = send(pf, eager, [KID], quit_after='RCPT')
        good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=eager, recipient=KID),
                                     lambda r: len(r) == 1, 5)
        if not (replies and replies[0][1] == 450 and good):
            h.diag('try %d: no first deferral/challenge: %r %r' % (i, replies, rows))
            continue
        rc, out, err = h.cli(admin, 'approve', rows[0]['id'], actor='parent@family.test')
        replies, _, tr = send(pf, eager, [KID], quit_after='RCPT')
        code = replies[0][1] if replies else None
        h.diag('try %d: approved challenge %s (exit %d), the retry right after got %r'
               % (i, rows[0]['id'], rc, replies[0][2] if replies else tr[-300:]))
        if rc == 0 and code == 450:
            hit = eager
            break
    if hit is None:
        h.ok(True, 'retry inside the refresh window: not reproduced in 5 tries (guardlistd was always quicker)')
    else:
        wait_daemon_follows(d, db)
        rows = h.challenges(db, sender=hit, recipient=KID)
        h.diag('challenges of (%s, kid) now:' % hit, *['  %r' % r for r in rows])
        open_rows = [r for r in rows if r['is_open'] == '1']
        h.ok(not open_rows, 'a retry right after the approval opens no new challenge for the approved pair',
             'open: %r' % (open_rows,))
        rc, out, err = h.notify(nconf, '--once')
        wait_queue_empty(pf)
        about = []
        for p in pf.mailbox(GUARDIAN):
            with open(p, 'rb') as f:
                m = email.message_from_bytes(f.read(), policy=email.policy.default)
            if hit in str(m['Subject']):
                about.append(str(m['Subject']))
        h.ok(not about, 'the guardian is not asked again about the sender they just allowed',
             'emails about %s: %r' % (hit, about))
        replies, _, _ = send(pf, hit, [KID], quit_after='RCPT')
        h.is_(replies[0][1] if replies else None, 250, 'after the reload the approved sender gets 250')
    timed('7. retry right after an approval', t0)

    marks = www.sanitizer_report()
    h.ok(not marks, "the CGI's stderr (lighttpd's error log) has no sanitizer report", repr(marks))
    www.stop()
    pf.stop(check=True)
    d.stop()
    db.stop()
    timed('whole test', t_all)
    for name, secs in TIMINGS:
        h.diag('timing: %-60s %6.2f s' % (name, secs))


h.run(main, timeout=150)
