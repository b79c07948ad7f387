#!/usr/bin/python3
"""The approval link end to end, as a guardian on a phone would use it:
guardlistd records an unknown sender to a protected child; guardlist-notify
(--once) really sends the email to a smarthost (Postfix's smtp-sink on
loopback), its approve_url pointing at a private lighttpd running
guardlist-approve as a CGI; the test takes the link from the email (the text
part, quoted-printable decoded by Python's email package); headless chromium
(Debian's, driven by playwright-core through tests/browser/approve.js) opens
it on a 390x844 viewport (the sender check line, its longest, included),
takes a screenshot, taps "Allow this sender", reads
the confirmation and takes a second screenshot (both under
build/test-output/browser/, approve-* or, for the sanitizer build of the CGI,
approve-asan-*).  Both pages are also looked at in 390x844 and 1280x800:
a screenshot each (NAME-1-challenge-WxH.png, NAME-2-decided-WxH.png),
axe-core's violations (none allowed), no sideways scrolling, text at least
16 px, no word in a table broken.  Then guardlistd must accept the pair
within 2 s.

Node modules: tests/browser/node_modules is made by `npm ci` from
tests/browser/package-lock.json when it is missing or holds another
playwright-core or axe-core than the pinned ones (bounded by NPM_TIMEOUT)."""
import email
import email.policy
import json
import os
import re
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
GUARDIAN = 'parent@family.test'
SENDER = 'stranger@example.net'
BROWSER_DIR = web.BROWSER_DIR
SHOTS = web.SHOTS
VIEWPORT = (390, 844)
WIDTHS = ('390x844', '1280x800')
DEVICE_SCALE = 2                # approve.js: deviceScaleFactor
BROWSER_TIMEOUT = 120           # the whole node run; approve.js bounds itself at 90 s
FOLLOW_TIMEOUT = 2.0
MIN_TAP_HEIGHT = 44             # CSS px: a comfortable touch target on a phone


run_group = h.run_group


def main():
    timings = {}
    t_all = time.monotonic()
    db = h.start_db()
    admin = h.cli_config(db)
    secrets_dir = web.init_accounts(db)
    rc, out, err = h.cli(admin, 'protect', KID, '--guardian', GUARDIAN)
    h.is_(rc, 0, 'guardlist protect %s --guardian %s' % (KID, GUARDIAN)) or h.diag(out, err)
    d = h.start_daemon(db)

    reply = h.query(d.port, sender=SENDER, recipient=KID)
    h.defer_ok(reply, 'guardlistd defers the unknown sender')
    good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=SENDER, recipient=KID), lambda r: len(r) == 1, 10)
    h.ok(good, 'the challenge is recorded', repr(rows))
    cid = rows[0]['id']
    # The longest sender check line (neutral), so the phone layout is judged
    # with it; SQL: guardlistd writes spf_result from its own SPF check.
    db.sql("UPDATE challenges SET spf_result = 'neutral' WHERE id = %s" % cid)
    spf_words = ('Not verified: example.net does not vouch for the server this email came from, so guardlist '
                 'cannot tell whether this email really came from example.net.')

    www = web.Lighttpd(web.approve_binary(), {'GUARDLIST_CONFIG': web.approver_config(db, secrets_dir)})
    www.start()
    sink = h.SmtpSink()
    sink.start()

    # ------------------------------------------------ the email, really sent

    nconf = h.notify_config(db, sink.port, notifier={'approve_url': www.url()},
                            database={'user': 'guardlist_notifier',
                                      'password_file': os.path.join(secrets_dir, 'db-notifier.secret')})
    t0 = time.monotonic()
    rc, out, err = h.notify(nconf, '--once')
    timings['guardlist-notify --once'] = time.monotonic() - t0
    h.is_(rc, 0, 'guardlist-notify --once exits 0') or h.diag(out, err)
    good, files, _ = h.poll_until(sink.files, lambda f: len(f) == 1, 10)
    h.ok(good, 'the smarthost received one email', 'files: %r' % (files,), sink.log(), err)
    if not good:
        return
    env, raw = h.SmtpSink.split(sink.messages()[0])
    h.ok(any(GUARDIAN in r for r in env['rcpt']), 'the email goes to the guardian', repr(env))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    text = msg.get_body(('plain',)).get_content()
    html = msg.get_body(('html',)).get_content()
    link_rx = re.compile(re.escape(www.url()) + r'\?t=[0-9a-f]{32}(?![0-9A-Za-z])')
    links = link_rx.findall(text)
    h.is_(len(links), 1, 'the text part holds one approval link to the private web server') or h.diag(text)
    if len(links) != 1:
        return
    link = links[0]
    h.ok(('href="%s"' % link) in html, 'the HTML part links to the same URL', html[:3000])
    token = link.rsplit('=', 1)[1]
    h.is_(db.value("SELECT COUNT(*) FROM notifications WHERE challenge_id = %s AND token_sha256 = "
                   "UNHEX(SHA2('%s', 256)) AND token_expires_at > NOW() + INTERVAL 6 DAY" % (cid, token)), '1',
          'the database holds the SHA-256 of the link\'s token, valid for 7 days')

    # ---------------------------------------------------- the browser

    t0 = time.monotonic()
    web.node_modules()
    timings['node modules ready'] = time.monotonic() - t0
    node = shutil.which('node') or shutil.which('nodejs')
    if not node:
        h.ok(False, 'node is installed (make deps installs nodejs)')
        return
    os.makedirs(SHOTS, exist_ok=True)
    # The suite runs twice (plain and sanitizer builds): keep both runs' pictures.
    shot_name = 'approve-asan' if '/asan/' in web.approve_binary() else 'approve'
    for suffix in ['-1-challenge.png', '-2-decided.png'] + ['-%s-%s.png' % (p, w) for p in ('1-challenge', '2-decided')
                                                          for w in WIDTHS]:
        try:
            os.unlink(os.path.join(SHOTS, shot_name + suffix))
        except FileNotFoundError:
            pass
    before_rules = db.sql('SELECT COUNT(*) FROM sender_rules')[0][0]
    t0 = time.monotonic()
    rc, out, err = run_group([node, os.path.join(BROWSER_DIR, 'approve.js'), '--url', link, '--out-dir', SHOTS,
                              '--name', shot_name, '--click', 'Allow this sender',
                              '--viewport', '%dx%d' % VIEWPORT, '--widths', ','.join(WIDTHS),
                              '--profile-dir', h.tmpdir('guardlist-chromium-'),
                              '--timeout', '90'], BROWSER_TIMEOUT, cwd=BROWSER_DIR)
    timings['browser run (launch, open, look at 2 widths, tap, look at 2 widths)'] = time.monotonic() - t0
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = None
    h.ok(rc == 0 and res and res.get('ok'), 'approve.js ran to the end (exit %s)' % rc,
         (res or {}).get('error') or '', 'stdout: ' + out[-3000:], 'stderr: ' + err[-3000:])
    if not res or not res.get('before'):
        return
    h.diag('browser: %s %s' % (res.get('chromium'), res.get('browserVersion')))

    b = res['before']
    h.is_(b.get('status'), 200, 'the link opens with status 200')
    h.is_(b.get('heading'), 'Someone wants to write to your child', 'the page\'s heading')
    h.ok(SENDER in (b.get('main') or '') and KID in (b.get('main') or ''),
         'the page names the sender and the child', b.get('main'))
    h.ok(spf_words in ' '.join((b.get('main') or '').split()), 'the page says the sender check in words',
         b.get('main'))
    h.is_([x['text'] for x in b.get('buttons', [])],
          ['Allow this sender', 'Allow everyone at example.net and its subdomains', 'Block this sender'],
          'the page shows the three buttons, in this order')
    h.ok(not b.get('horizontalOverflow'), 'no horizontal scrolling at %d px wide' % VIEWPORT[0],
         'scrollWidth %s, viewport %s' % (b.get('scrollWidth'), b.get('viewportWidth')))
    off = [x for x in b.get('buttons', []) if x['left'] < 0 or x['right'] > b.get('viewportWidth', 0)]
    h.ok(not off, 'every button fits across the phone screen', repr(off))
    small = [x for x in b.get('buttons', []) if x['height'] < MIN_TAP_HEIGHT]
    h.ok(not small, 'every button is at least %d px tall (a touch target)' % MIN_TAP_HEIGHT, repr(small))
    h.ok(b.get('fontSizePx', 0) >= 16, 'body text is at least 16 px (no zooming needed)', repr(b.get('fontSizePx')))

    p = res.get('post') or {}
    h.is_(p.get('body'), 't=%s&choice=allow' % token, 'the browser posts t and choice=allow')
    h.is_(p.get('status'), 200, 'the POST answers 200')
    a = res.get('after') or {}
    h.is_(a.get('heading'), 'Sender allowed', 'the confirmation\'s heading')
    h.ok('Done: %s may now send email to %s.' % (SENDER, KID) in (a.get('main') or '')
         and "The sender's next retry will be delivered" in (a.get('main') or ''),
         'the confirmation says the sender is allowed and the next retry is delivered', a.get('main'))
    h.ok(not a.get('horizontalOverflow'), 'the confirmation has no horizontal scrolling either')

    origin = www.url('')
    foreign = [r for r in res.get('requests', []) if not r['url'].startswith(origin + '/')]
    h.ok(not foreign, 'the page loads nothing from elsewhere', repr(foreign))
    h.is_([(r['method'], r['url']) for r in res.get('requests', [])], [('GET', link), ('POST', www.url())],
          'the browser made exactly two requests: GET the link, POST the form')
    h.is_(res.get('failedRequests'), [], 'no request failed')
    noisy = [m for m in res.get('console', []) if m['type'] in ('error', 'warning')]
    h.is_(noisy, [], 'no console errors or warnings (CSP violations show up there)')
    h.is_(res.get('pageErrors'), [], 'no page errors')

    for which, page in (('the link\'s page', b), ('the confirmation', a)):
        for w in WIDTHS:
            f = (page.get('widths') or {}).get(w) or {}
            h.is_(f.get('axe'), [], '%s at %s: axe-core finds no violation' % (which, w))
            h.ok(f.get('viewportWidth') == int(w.split('x')[0]) and not f.get('horizontalOverflow')
                 and (f.get('fontSizePx') or 0) >= 16 and not f.get('brokenWords') and not f.get('cutPlaceholders'),
                 '%s at %s: no sideways scrolling, text at least 16 px, nothing cut' % (which, w), repr(f)[:2000])
            size = web.png_size(f['screenshot']) if f.get('screenshot') and os.path.exists(f['screenshot']) else None
            h.ok(size and size[0] == int(w.split('x')[0]), '%s at %s: a screenshot %s px wide: %s'
                 % (which, w, w.split('x')[0], os.path.relpath(f.get('screenshot') or '-', ROOT)), 'size: %r' % (size,))
    for i, path in enumerate(res.get('screenshots', [])):
        size = web.png_size(path) if os.path.exists(path) else None
        h.ok(size and size[0] == VIEWPORT[0] * DEVICE_SCALE and size[1] >= VIEWPORT[1] * DEVICE_SCALE,
             'screenshot %d is a %dx%d+ PNG: %s' % (i + 1, VIEWPORT[0] * DEVICE_SCALE, VIEWPORT[1] * DEVICE_SCALE,
                                                      os.path.relpath(path, ROOT)), 'size: %r' % (size,))
    h.is_(len(res.get('screenshots', [])), 2, 'two screenshots were taken')
    for path in res.get('screenshots', []):
        h.diag('screenshot: ' + os.path.relpath(path, ROOT))

    # ------------------------------------------------- what it changed

    h.is_(db.sql('SELECT status, decided_by FROM challenges WHERE id = %s' % cid),
          [['approved', 'approval-link:parent@family.test']],
          'the challenge is approved by the approval link, naming whose link it was')
    h.is_(db.sql("SELECT action FROM sender_rules WHERE recipient = '%s' AND sender = '%s'" % (KID, SENDER)),
          [['OK']], 'the rule (kid, sender, OK) exists')
    h.is_(int(db.sql('SELECT COUNT(*) FROM sender_rules')[0][0]), int(before_rules) + 1, 'one rule was added')
    t0 = time.monotonic()
    good, got, secs = h.wait_reply(d.port, lambda r: r == 'DUNNO', FOLLOW_TIMEOUT + 1, sender=SENDER, recipient=KID)
    timings['guardlistd follows'] = secs
    h.ok(good and secs <= FOLLOW_TIMEOUT, 'guardlistd now accepts the pair (DUNNO) within %.0f s (took %.2f s)'
         % (FOLLOW_TIMEOUT, time.monotonic() - t0), 'last reply: %r' % (got,))

    marks = www.sanitizer_report()
    h.ok(not marks, 'the CGI\'s stderr (lighttpd\'s error log) has no sanitizer report', 'found: %r' % marks,
         www.log(3000))
    www.stop()
    sink.stop()
    d.stop()
    timings['whole test'] = time.monotonic() - t_all
    for k, v in timings.items():
        h.diag('timing: %s: %.2f s' % (k, v))


h.run(main, timeout=420)
