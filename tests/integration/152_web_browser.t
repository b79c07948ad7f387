#!/usr/bin/python3
"""The admin page (guardlist-web) in a real browser, as an administrator on a
phone would use it: a private lighttpd runs the CGI behind HTTP Basic auth
(mod_auth, an htpasswd file), headless chromium (Debian's, driven by
playwright-core through tests/browser/admin.js) logs in through the
context's httpCredentials on a 390x844 viewport and

  0. tours every page (protected, rules, global, pending, audit, search),
     looking at each at 390x844 and 1280x800: a screenshot
     (admin-tour-PAGE-WxH.png), axe-core's violations (none allowed), no
     word in a table broken over two lines at desktop width, no placeholder
     cut off, no sideways scrolling, text at least 16 px, touch-sized
     buttons on the phone;
  1. opens ?p=protected,
  2. fills the "Protect address" form (a new address and its guardian) and
     taps Protect,
  3. opens ?p=pending, where guardlistd has recorded two unknown senders,
  4. taps "Allow sender" in the first one's row,
  5. taps "Block sender" in the second one's row,

with a screenshot after each step (build/test-output/browser/admin-N-*.png,
or admin-asan-N-*.png for the sanitizer build of the CGI).

The tour's data: kid@family.test guarded by parent@, two rules for it (one
sender 36 characters long), a global rule, the two pending senders.

Checked from what the browser saw: each answer is 200 and its message box
says what happened; the lists show the change; no horizontal scrolling at
phone width and the buttons tapped are touch-sized; axe finds nothing on
the answer pages; every request went to the page's own origin, none
failed; no console errors or page errors (the pages' CSP stays enforced:
axe comes in through the DevTools protocol); the five screenshots are PNGs
of the phone's width.  Checked in the database:
the rows each change made, with audit rows by web:admin.  guardlistd
follows within 2 s: the allowed sender gets DUNNO, the blocked one a
REJECT, a stranger to the newly protected address a DEFER.  No sanitizer
report in the CGI's stderr.

Node modules: tests/browser/node_modules is made by `npm ci` from
tests/browser/package-lock.json when it is missing or holds another
playwright-core or axe-core than the pinned ones (bounded by NPM_TIMEOUT), as in
112_approve_browser.t."""
import json
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID, PARENT = 'kid@family.test', 'parent@family.test'
NEW_KID, NEW_GUARDIAN = 'kid3@family.test', 'grandpa@family.test'
ALLOW, BLOCK = 'alice@pen.example', 'dora@pile.example'
STRANGER = 'stranger@example.net'
GRANDMA, LISTS = 'grandma@example.org', 'newsletter-bounces@lists.example.org'     # rules for the tour
GLOBAL_OK = 'school.example'
ADMIN, ADMIN_PW = 'admin', 'admin-pw-152'
BROWSER_DIR = web.BROWSER_DIR
SHOTS = web.SHOTS
SHOT_SUFFIXES = ('-1-protected.png', '-2-protected-done.png', '-3-pending.png', '-4-approved.png',
                 '-5-blocked.png')
STEPS = ('protected', 'protected-done', 'pending', 'approved', 'blocked')
VIEWPORT = (390, 844)
DESKTOP = (1280, 800)
WIDTHS = ('%dx%d' % VIEWPORT, '%dx%d' % DESKTOP)
TOUR = ('protected', 'rules', 'global', 'pending', 'audit', 'search')
DEVICE_SCALE = 2                # admin.js: deviceScaleFactor
BROWSER_TIMEOUT = 150           # the whole node run; admin.js bounds itself at 120 s
FOLLOW_TIMEOUT = 2.0
MIN_TAP_HEIGHT = 44             # CSS px: a comfortable touch target on a phone


def main():
    timings = {}
    t_all = time.monotonic()
    db = h.start_db()
    admin_cli = h.cli_config(db)
    secrets_dir = web.init_accounts(db)
    for args in (('protect', KID, '--guardian', PARENT), ('allow', GRANDMA, '--to', KID), ('allow', LISTS, '--to', KID),
                 ('allow', GLOBAL_OK)):
        rc, out, err = h.cli(admin_cli, *args)
        h.is_(rc, 0, 'guardlist ' + ' '.join(args)) or h.diag(out, err)
    d = h.start_daemon(db)

    def follows(pred, what, sender, recipient):
        good, got, secs = h.wait_reply(d.port, pred, FOLLOW_TIMEOUT, sender=sender, recipient=recipient)
        h.ok(good, 'guardlistd follows within %.0f s: %s (%.2f s)' % (FOLLOW_TIMEOUT, what, secs),
             'last reply: %r' % (got,))

    # The state before: the new address is not protected, two strangers wait.
    h.is_(h.query(d.port, sender=STRANGER, recipient=NEW_KID), 'DUNNO',
          'before: %s is not protected (a stranger gets DUNNO)' % NEW_KID)
    for s in (ALLOW, BLOCK):
        h.defer_ok(h.query(d.port, sender=s, recipient=KID), 'guardlistd holds off %s' % s)
    good, rows, _ = h.poll_until(
        lambda: db.sql("SELECT id, sender FROM challenges WHERE status = 'pending' AND recipient = %s "
                       "AND sender IN (%s, %s) ORDER BY id" % (h.sql_str(KID), h.sql_str(ALLOW), h.sql_str(BLOCK))),
        lambda r: len(r) == 2, 10)
    h.ok(good, 'both strangers are recorded as pending challenges', repr(rows))
    if not good:
        return
    ids = {s: i for i, s in rows}
    # The Sender check column with its words (spf_result, which guardlistd
    # records from its SPF check, set with SQL here) at both widths.
    db.sql("UPDATE challenges SET spf_result = 'pass' WHERE id = %s" % ids[ALLOW])
    db.sql("UPDATE challenges SET spf_result = 'none' WHERE id = %s" % ids[BLOCK])
    audit_before = int(db.value('SELECT COUNT(*) FROM audit_log'))
    rules_before = int(db.value('SELECT COUNT(*) FROM sender_rules'))

    www = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': web.web_config(db, secrets_dir, admins=ADMIN)},
                       url_path='/admin', users={ADMIN: ADMIN_PW})
    secs = www.start()
    h.diag('guardlist-web under test: %s; lighttpd up in %.2f s on port %d' % (web.web_binary(), secs, www.port))
    url = www.url()
    origin = www.url('')

    # ---------------------------------------------------- the browser

    t0 = time.monotonic()
    if not web.node_modules():
        return
    timings['node modules ready'] = time.monotonic() - t0
    node = shutil.which('node') or shutil.which('nodejs')
    if not node:
        h.ok(False, 'node is installed (make deps installs nodejs)')
        return
    os.makedirs(SHOTS, exist_ok=True)
    # The suite runs twice (plain and sanitizer builds): keep both runs' pictures.
    shot_name = 'admin-asan' if '/asan/' in web.web_binary() else 'admin'
    shots = [os.path.join(SHOTS, shot_name + s) for s in SHOT_SUFFIXES]
    tour_shots = {(p, w): os.path.join(SHOTS, '%s-tour-%s-%s.png' % (shot_name, p, w)) for p in TOUR for w in WIDTHS}
    for p in shots + list(tour_shots.values()):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    env = dict(os.environ, GUARDLIST_WEB_PASSWORD=ADMIN_PW)
    t0 = time.monotonic()
    rc, out, err = h.run_group([node, os.path.join(BROWSER_DIR, 'admin.js'), '--url', url, '--out-dir', SHOTS,
                                '--name', shot_name, '--user', ADMIN, '--protect', NEW_KID,
                                '--guardian', NEW_GUARDIAN, '--approve', ALLOW, '--block', BLOCK,
                                '--viewport', '%dx%d' % VIEWPORT, '--widths', ','.join(WIDTHS), '--search', 'family',
                                '--profile-dir', h.tmpdir('guardlist-chromium-'),
                                '--timeout', '120'], BROWSER_TIMEOUT, cwd=BROWSER_DIR, env=env)
    timings['browser run (tour of 6 pages at 2 widths, then 5 steps)'] = time.monotonic() - t0
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = None
    h.ok(rc == 0 and res and res.get('ok'), 'admin.js ran to the end (exit %s)' % rc,
         (res or {}).get('error') or '', 'stdout: ' + out[-3000:], 'stderr: ' + err[-3000:], www.log(2000))
    if not res:
        return
    h.diag('browser: %s %s' % (res.get('chromium'), res.get('browserVersion')))
    steps = {s['name']: s for s in res.get('steps', [])}
    h.is_([s['name'] for s in res.get('steps', [])], list(STEPS), 'admin.js went through the five steps')

    def rows_text(step):
        return [r['text'] for r in (step.get('rows') or [])]

    def row_with(step, text):
        return [r for r in (step.get('rows') or []) if text in r['text']]

    # ------------------------------------------ the tour: every page at both widths

    tour = {t['name']: t for t in res.get('tour', [])}
    h.is_([t['name'] for t in res.get('tour', [])], list(TOUR), 'admin.js toured the six pages')
    for name in TOUR:
        t = tour.get(name) or {}
        h.is_(t.get('status'), 200, 'tour %s: the page answers 200' % name)
        for w in WIDTHS:
            f = (t.get('widths') or {}).get(w) or {}
            desktop = w != WIDTHS[0]
            h.is_(f.get('axe'), [], 'tour %s at %s: axe-core finds no violation' % (name, w))
            h.ok(f.get('viewportWidth') == int(w.split('x')[0]) and not f.get('horizontalOverflow'),
                 'tour %s at %s: no sideways scrolling' % (name, w),
                 'viewport %s, scrollWidth %s' % (f.get('viewportWidth'), f.get('scrollWidth')))
            h.ok((f.get('fontSizePx') or 0) >= 16, 'tour %s at %s: body text is at least 16 px' % (name, w),
                 repr(f.get('fontSizePx')))
            h.is_(f.get('cutPlaceholders'), [], 'tour %s at %s: every placeholder fits its box' % (name, w))
            if desktop:
                h.is_(f.get('brokenWords'), [], 'tour %s at %s: no word in a table is broken over lines'
                      % (name, w))
                h.diag('tour %s at %s: columns %s' % (name, w, '; '.join(
                    ', '.join('%s %d' % (c['text'] or '(none)', c['width']) for c in table)
                    for table in f.get('columns') or [])))
            else:
                h.is_(f.get('smallButtons'), [], 'tour %s at %s: every button is at least %d px tall'
                      % (name, w, MIN_TAP_HEIGHT))
            for part, ms in (f.get('ms') or {}).items():
                key = 'tour: %s (12 looks)' % part
                timings[key] = timings.get(key, 0) + ms / 1000.0
            path = tour_shots[(name, w)]
            size = web.png_size(path) if os.path.exists(path) else None
            h.ok(size and size[0] == int(w.split('x')[0]), 'tour %s at %s: a screenshot %s px wide (CSS px): %s'
                 % (name, w, w.split('x')[0], os.path.relpath(path, ROOT)), 'size: %r' % (size,))
            h.is_(f.get('screenshot'), path, 'tour %s at %s: admin.js reports it under its name' % (name, w))
    h.is_([(tour.get(p) or {}).get('heading') for p in TOUR],
          ['Protected recipients', 'Rules', 'Global rules', 'Pending senders', 'Audit log', 'Search'],
          'tour: each page has its own heading')

    # ------------------------------------------ what each step showed

    for name in STEPS:
        s = steps.get(name) or {}
        h.is_(s.get('status'), 200, '%s: the page answers 200' % name) or h.diag(www.log(1500))
        wide = s.get('wide') or []
        h.ok(s.get('viewportWidth') == VIEWPORT[0] and not wide,
             '%s: nothing sticks out at %d px wide, the message box neither' % (name, VIEWPORT[0]),
             'viewport %s, sticking out: %r' % (s.get('viewportWidth'), wide))
        h.ok(s.get('viewportWidth') == VIEWPORT[0] and not s.get('horizontalOverflow'),
             '%s: no horizontal scrolling at %d px wide' % (name, VIEWPORT[0]),
             'viewport %s, scrollWidth %s' % (s.get('viewportWidth'), s.get('scrollWidth')),
             'sticking out: %r' % (wide,))
        h.ok((s.get('fontSizePx') or 0) >= 16, '%s: body text is at least 16 px' % name, repr(s.get('fontSizePx')))
        if name not in ('protected', 'pending'):        # seen by the tour at this width
            h.is_(s.get('axe'), [], '%s: axe-core finds no violation' % name)
        small = [(b['text'], round(b['height'])) for b in s.get('buttons', []) if b['height'] < MIN_TAP_HEIGHT]
        h.ok(not small, '%s: every button is at least %d px tall (a touch target)' % (name, MIN_TAP_HEIGHT),
             repr(small))

    s = steps.get('protected') or {}
    h.is_((s.get('title'), s.get('heading')), ('Protected recipients - guardlist', 'Protected recipients'),
          'step 1: the title and heading of the protected list')
    h.ok(len(row_with(s, KID)) == 1 and PARENT in row_with(s, KID)[0]['text'] and not row_with(s, NEW_KID),
         'step 1: the list shows %s guarded by %s, not yet %s' % (KID, PARENT, NEW_KID), repr(rows_text(s)))
    h.is_(s.get('message'), None, 'step 1: no message box before any change')
    protect_btn = [b for b in s.get('buttons', []) if b['text'] == 'Protect']
    h.ok(len(protect_btn) == 1 and protect_btn[0]['height'] >= MIN_TAP_HEIGHT
         and 0 <= protect_btn[0]['left'] and protect_btn[0]['right'] <= VIEWPORT[0],
         'step 1: the Protect button is on screen and at least %d px tall' % MIN_TAP_HEIGHT, repr(protect_btn))

    s = steps.get('protected-done') or {}
    body = (s.get('post') or {}).get('body') or ''
    h.ok('do=protect' in body and 'key=kid3%40family.test' in body and 'email=grandpa%40family.test' in body
         and 'csrf=' in body, 'step 2: the browser posts the protect form with its token', body)
    h.is_(s.get('message'), '%s is now protected; guardian %s.' % (NEW_KID, NEW_GUARDIAN),
          'step 2: the message box says it is protected, with its guardian')
    h.ok('done' in (s.get('messageClass') or '').split(), 'step 2: as a success (class done)', s.get('messageClass'))
    h.is_(s.get('heading'), 'Protected recipients', 'step 2: the answer is the protected list again')
    h.ok(len(row_with(s, NEW_KID)) == 1 and NEW_GUARDIAN in row_with(s, NEW_KID)[0]['text'],
         'step 2: the list now shows %s guarded by %s' % (NEW_KID, NEW_GUARDIAN), repr(rows_text(s)))

    s = steps.get('pending') or {}
    h.is_(s.get('heading'), 'Pending senders', 'step 3: the pending queue')
    h.ok(len(row_with(s, ALLOW)) == 1 and len(row_with(s, BLOCK)) == 1 and KID in row_with(s, ALLOW)[0]['text'],
         'step 3: it lists both strangers, one row each, to %s' % KID, repr(rows_text(s)))
    for sender, label in ((ALLOW, 'Allow sender'), (BLOCK, 'Block sender')):
        b = [x for r in row_with(s, sender) for x in r['buttons'] if x['text'] == label]
        h.ok(len(b) == 1 and b[0]['height'] >= MIN_TAP_HEIGHT and 0 <= b[0]['left'] and b[0]['right'] <= VIEWPORT[0],
             'step 3: "%s" for %s is on screen and at least %d px tall' % (label, sender, MIN_TAP_HEIGHT), repr(b))

    s = steps.get('approved') or {}
    body = (s.get('post') or {}).get('body') or ''
    h.ok('do=decide' in body and 'id=%s' % ids[ALLOW] in body and 'how=approve' in body
         and 'how=approve-domain' not in body, 'step 4: the browser posts decide, how=approve for its id', body)
    msg = s.get('message') or ''
    h.is_(msg, '%s may now write to %s.' % (ALLOW, KID), 'step 4: the message box says the sender is allowed')
    h.ok('done' in (s.get('messageClass') or '').split(), 'step 4: as a success (class done)', s.get('messageClass'))
    h.ok(s.get('heading') == 'Pending senders' and not row_with(s, ALLOW) and len(row_with(s, BLOCK)) == 1,
         'step 4: the answer is the queue without %s, still with %s' % (ALLOW, BLOCK), s.get('heading'),
         repr(rows_text(s)))
    h.is_(res.get('reopenedPending'), False, 'step 5 started from that answer page (no reload needed)')

    s = steps.get('blocked') or {}
    body = (s.get('post') or {}).get('body') or ''
    h.ok('do=decide' in body and 'id=%s' % ids[BLOCK] in body and 'how=block' in body,
         'step 5: the browser posts decide, how=block for its id', body)
    msg = s.get('message') or ''
    h.is_(msg, '%s is blocked for %s.' % (BLOCK, KID), 'step 5: the message box says the sender is blocked')
    h.ok('done' in (s.get('messageClass') or '').split(), 'step 5: as a success (class done)', s.get('messageClass'))
    h.ok(s.get('heading') == 'Pending senders' and not row_with(s, BLOCK) and not row_with(s, ALLOW)
         and 'Nobody is waiting.' in (s.get('main') or ''),
         'step 5: the queue no longer lists either sender: nobody is waiting', repr(rows_text(s)), s.get('main'))

    # ------------------------------------------ requests, console, errors

    reqs = [(r['method'], r['url']) for r in res.get('requests', [])]
    foreign = [r for r in reqs if not r[1].startswith(origin + '/')]
    h.ok(reqs and not foreign, 'the page loaded nothing from other origins', repr(foreign))
    h.is_([(r['method'], r['url'].split('&')[0]) for t in res.get('tour', []) for r in t['requests']],
          [('GET', url + '?p=' + p) for p in TOUR], 'the tour made one GET a page')
    h.is_([(r['method'], r['url']) for s in res.get('steps', []) for r in s['requests']],
          [('GET', url + '?p=protected'), ('POST', url), ('GET', url + '?p=pending'), ('POST', url), ('POST', url)],
          'the journey made exactly its five requests')
    h.is_(len(reqs), len(TOUR) + 5, 'and the browser nothing else')
    h.is_(res.get('failedRequests'), [], 'no request failed')
    h.diag('responses: ' + ', '.join('%s %s %s' % (r['method'], r['url'][len(origin):], r['status'])
                                     for r in res.get('responses', [])))
    noisy = [m for m in res.get('console', []) if m['type'] in ('error', 'warning')]
    h.is_(noisy, [], 'no console errors or warnings (CSP violations show up there)')
    h.is_(res.get('pageErrors'), [], 'no page errors')

    # A full-page screenshot is as wide as the page: the phone's width, or
    # wider when the page scrolls sideways (checked above).
    for i, (path, name) in enumerate(zip(shots, STEPS)):
        size = web.png_size(path) if os.path.exists(path) else None
        width = max(VIEWPORT[0], (steps.get(name) or {}).get('scrollWidth') or 0) * DEVICE_SCALE
        h.ok(size and size[0] == width and size[1] >= VIEWPORT[1] * DEVICE_SCALE,
             'screenshot %d is a PNG of the page, %d px wide, %d+ px tall: %s'
             % (i + 1, width, VIEWPORT[1] * DEVICE_SCALE, os.path.relpath(path, ROOT)), 'size: %r' % (size,))
    h.is_(res.get('screenshots'), shots, 'admin.js reports the five screenshots under their names')

    # ------------------------------------------ what it changed

    h.is_(db.sql('SELECT recipient FROM protected_users WHERE recipient = %s' % h.sql_str(NEW_KID)), [[NEW_KID]],
          '%s is in protected_users' % NEW_KID)
    h.is_(db.sql('SELECT email FROM guardians WHERE recipient = %s' % h.sql_str(NEW_KID)), [[NEW_GUARDIAN]],
          'its guardian is %s' % NEW_GUARDIAN)
    audit = db.sql('SELECT actor, action, detail FROM audit_log ORDER BY id')[audit_before:]
    h.is_([(a[0], a[1]) for a in audit], [('web:admin', 'protect'), ('web:admin', 'approve'),
                                          ('web:admin', 'block')],
          'three audit rows by web:admin: protect, approve, block')
    h.ok(len(audit) == 3 and NEW_KID in audit[0][2] and ALLOW in audit[1][2] and BLOCK in audit[2][2],
         'each audit row names what it changed', repr(audit))
    h.is_(db.sql('SELECT recipient, action, created_by FROM sender_rules WHERE sender = %s' % h.sql_str(ALLOW)),
          [[KID, 'OK', 'web:admin']], 'the allowed sender has an OK rule for %s by web:admin' % KID)
    rej = db.sql('SELECT recipient, action, created_by FROM sender_rules WHERE sender = %s' % h.sql_str(BLOCK))
    h.ok(len(rej) == 1 and rej[0][0] == KID and rej[0][1].startswith('REJECT') and rej[0][2] == 'web:admin',
         'the blocked sender has a REJECT rule for %s by web:admin' % KID, repr(rej))
    h.is_(int(db.value('SELECT COUNT(*) FROM sender_rules')), rules_before + 2, 'exactly two rules were added')
    h.is_(db.sql('SELECT sender, status, decided_by FROM challenges WHERE id IN (%s, %s) ORDER BY id'
                 % (ids[ALLOW], ids[BLOCK])),
          [[ALLOW, 'approved', 'web:admin'], [BLOCK, 'denied', 'web:admin']],
          'the challenges are closed: approved and denied, by web:admin')

    t0 = time.monotonic()
    follows(lambda x: x == 'DUNNO', 'the allowed sender gets DUNNO', ALLOW, KID)
    follows(lambda x: isinstance(x, str) and x.startswith('REJECT'), 'the blocked sender gets a REJECT', BLOCK, KID)
    follows(h.is_defer, 'a stranger to the newly protected %s is held off' % NEW_KID, STRANGER, NEW_KID)
    timings['guardlistd follows (three checks)'] = time.monotonic() - t0

    marks = www.sanitizer_report()
    h.ok(not marks, 'the CGI\'s stderr (lighttpd\'s error log) has no sanitizer report', 'found: %r' % marks,
         www.log(3000))
    www.stop()
    d.stop()
    for p in shots:
        h.diag('screenshot: ' + os.path.relpath(p, ROOT))
    timings['whole test'] = time.monotonic() - t_all
    for k, v in timings.items():
        h.diag('timing: %s: %.2f s' % (k, v))


h.run(main, timeout=420)
