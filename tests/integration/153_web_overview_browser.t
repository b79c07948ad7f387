#!/usr/bin/python3
"""The admin overview page (guardlist-web ?p=overview) in a real browser:
a private lighttpd runs the CGI behind HTTP Basic auth, headless chromium
(Debian's, driven by playwright-core through tests/browser/overview.js)
logs in as an administrator on a 390x844 phone, follows the navigation's
"Overview" link and looks at the page at 390x844 and 1280x800.

The rows are tests/lib/statsdata.py's (the figures worked out from them).
Checked from what the browser saw: the link leads to the page (200, its
title and heading); the chart is an inline SVG with 30 "created" and 30
"approved" bars, one a day with its count, each bar's height (attribute
and on screen) its count over the largest count; the chart fits the
screen and its smallest label is at least 9 CSS px tall on the phone; no
sideways scrolling, axe-core finds nothing, text at least 16 px, a
screenshot at each width (build/test-output/browser/admin-overview-WxH.png);
every request went to the page's own origin and none failed; no console
errors or page errors (the CSP stays enforced).  No sanitizer report in
the CGI's stderr."""
import json
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import statsdata  # noqa: E402
import web  # noqa: E402

ADMIN, ADMIN_PW = 'admin', 'admin-pw-153'
VIEWPORT = (390, 844)
WIDTHS = ('%dx%d' % VIEWPORT, '1280x800')
BROWSER_TIMEOUT = 120           # the whole node run; overview.js bounds itself at 90 s
MIN_LABEL_PX = 9


def check_chart(c, w, days):
    h.ok(c, 'at %s: the page has the chart' % w)
    if not c:
        return
    h.ok(c['viewBox'] and c['external'] == 0, 'at %s: an SVG with a viewBox, nothing loaded from elsewhere' % w,
         repr(c['viewBox']))
    bars = c['bars']
    peak = max(max(d['created'], d['approved']) for d in days)
    for kind in ('created', 'approved'):
        mine = [b for b in bars if b['kind'] == kind]
        h.is_([(b['day'], b['n']) for b in mine], [(d['date'], d[kind]) for d in days],
              'at %s: 30 %s bars, one a day, with its count' % (w, kind))
        want = [d[kind] * 100.0 / peak for d in days]
        h.ok(len(mine) == 30 and all(abs(b['height'] - x) < 0.01 for b, x in zip(mine, want)),
             'at %s: each %s bar is as tall as its count over the largest (%d)' % (w, kind, peak),
             repr([b['height'] for b in mine]))
        tallest = max(b['screenHeight'] for b in bars) or 1
        h.ok(all(abs(b['screenHeight'] / tallest - x / 100.0) < 0.02 for b, x in zip(mine, want)),
             'at %s: on screen too (tallest bar %.0f CSS px)' % (w, tallest),
             repr([round(b['screenHeight'], 1) for b in mine]))
    vw = int(w.split('x')[0])
    h.ok(c['left'] >= 0 and c['right'] <= vw and c['width'] > 0, 'at %s: the chart fits the screen (%.0f px wide)'
         % (w, c['width']), repr(c))
    h.ok(c['smallestLabelPx'] >= MIN_LABEL_PX, 'at %s: its labels are at least %d CSS px tall (%.1f)'
         % (w, MIN_LABEL_PX, c['smallestLabelPx']))


def main():
    db = h.start_db()
    secrets = web.init_accounts(db)
    want = statsdata.insert(db)
    www = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': web.web_config(db, secrets, admins=ADMIN)},
                       url_path='/admin', users={ADMIN: ADMIN_PW})
    secs = www.start()
    h.diag('guardlist-web under test: %s; lighttpd up in %.2f s' % (web.web_binary(), secs))
    url, origin = www.url(), www.url('')
    if not web.node_modules():
        return
    node = shutil.which('node') or shutil.which('nodejs')
    if not node:
        h.ok(False, 'node is installed (make deps installs nodejs)')
        return
    os.makedirs(web.SHOTS, exist_ok=True)
    name = 'admin-asan' if '/asan/' in web.web_binary() else 'admin'
    shots = {w: os.path.join(web.SHOTS, '%s-overview-%s.png' % (name, w)) for w in WIDTHS}
    for p in shots.values():
        if os.path.exists(p):
            os.unlink(p)
    t0 = time.monotonic()
    rc, out, err = h.run_group([node, os.path.join(web.BROWSER_DIR, 'overview.js'), '--url', url,
                                '--out-dir', web.SHOTS, '--name', name, '--user', ADMIN,
                                '--viewport', '%dx%d' % VIEWPORT, '--widths', ','.join(WIDTHS),
                                '--profile-dir', h.tmpdir('guardlist-chromium-'), '--timeout', '90'],
                               BROWSER_TIMEOUT, cwd=web.BROWSER_DIR, env=dict(os.environ, GUARDLIST_WEB_PASSWORD=ADMIN_PW))
    h.diag('browser run: %.1f s' % (time.monotonic() - t0))
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = None
    h.ok(rc == 0 and res and res.get('ok'), 'overview.js ran to the end (exit %s)' % rc,
         (res or {}).get('error') or '', 'stdout: ' + out[-3000:], 'stderr: ' + err[-3000:], www.log(2000))
    if not res:
        return
    h.is_((res.get('status'), res.get('url'), res.get('title'), res.get('heading')),
          (200, url + '?p=overview', 'Overview - guardlist', 'Overview'),
          'the navigation\'s Overview link opens the overview')
    for w in WIDTHS:
        f = (res.get('widths') or {}).get(w) or {}
        h.is_(f.get('axe'), [], 'at %s: axe-core finds no violation' % w)
        h.ok(f.get('viewportWidth') == int(w.split('x')[0]) and not f.get('horizontalOverflow'),
             'at %s: no sideways scrolling' % w, 'scrollWidth %s' % f.get('scrollWidth'))
        h.ok((f.get('fontSizePx') or 0) >= 16, 'at %s: body text is at least 16 px' % w)
        size = web.png_size(shots[w]) if os.path.exists(shots[w]) else None
        h.ok(size and size[0] == int(w.split('x')[0]), 'at %s: a screenshot: %s' % (w, os.path.relpath(shots[w], ROOT)),
             repr(size))
        check_chart((res.get('chart') or {}).get(w), w, want['days'])
    reqs = res.get('requests', [])
    h.is_([(r['method'], r['url']) for r in reqs], [('GET', url + '?p=protected'), ('GET', url + '?p=overview')],
          'the browser asked for the two pages and nothing else')
    h.ok(all(r['url'].startswith(origin + '/') for r in reqs), 'every request went to the page\'s own origin')
    h.is_(res.get('failedRequests'), [], 'no request failed')
    h.is_([m for m in res.get('console', []) if m['type'] in ('error', 'warning')], [],
          'no console errors or warnings (CSP violations show up there)')
    h.is_(res.get('pageErrors'), [], 'no page errors')
    marks = www.sanitizer_report()
    h.ok(not marks, 'the CGI\'s stderr has no sanitizer report', repr(marks), www.log(3000))
    www.stop()


h.run(main, timeout=240)
