#!/usr/bin/python3
"""guardlist stats and the web overview page (issue 22) over rows this test
inserts (tests/lib/statsdata.py works the figures out from the rows).

Checked: `guardlist stats --json` gives exactly the expected figures
(protected recipients, rules by what they do, challenges by status in the
last day and 7 days, the median time a person took to decide, the ten
senders held off most often, the last 30 days); the text says the same in
words, a control character in a sender escaped; `--prometheus FILE` writes
the textfile collector's format that `promtool check metrics` accepts, with
the same values and no temporary file left behind, and fails cleanly for a
directory that does not exist; usage errors exit 2; the queries use the
first_seen and decided_at keys (EXPLAIN).  The web overview (guardlist-web
under lighttpd, the guardlist_web account) shows an administrator the same
figures, the senders HTML-escaped, and a chart of 30 days with one
"created" and one "approved" bar a day, each as tall as its count over the
largest; it is in the administrator's navigation; a guardian gets 403 and
no link."""
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import statsdata  # noqa: E402
import web  # noqa: E402

ADMIN, ADMIN_PW, PARENT_PW = 'admin', 'admin-pw-156', 'parent-pw-156'
PLOT = 100.0                # web/overview.c: the tallest bar, in viewBox units


def check_cli(db, cfg, want):
    rc, out, err = h.cli(cfg, 'stats', '--json')
    h.is_(rc, 0, 'stats --json: exit 0') or h.diag(err)
    try:
        got = json.loads(out)
    except ValueError:
        got = {}
    for key in ('date', 'protected_recipients', 'rules', 'open_now', 'challenges', 'decisions_7d',
                'median_decision_seconds', 'held_off', 'days'):
        h.is_(got.get(key), want[key], 'stats --json: %s' % key)

    # A sender with a control character (it came from the network).
    db.sql("UPDATE challenges SET sender = CONCAT('esc', CHAR(27), '[31m@odd.example') "
           "WHERE sender = 'p0@many.example'")
    rc, out, err = h.cli(cfg, 'stats')
    h.is_(rc, 0, 'stats: exit 0') or h.diag(err)
    h.diag(out)
    ch = want['challenges']
    for line in ('Protected recipients   3', 'Rules                  5 allow, 3 block, 1 other',
                 'Waiting now            %d challenges' % want['open_now'],
                 '  arrived, still open  %8d  %11d' % (ch['1d']['open'], ch['7d']['open']),
                 '  approved             %8d  %11d' % (ch['1d']['approved'], ch['7d']['approved']),
                 '  denied               %8d  %11d' % (ch['1d']['denied'], ch['7d']['denied']),
                 '  expired              %8d  %11d' % (ch['1d']['expired'], ch['7d']['expired']),
                 'Median time to decide  2h00m (3 decisions in the last 7 days)',
                 '        12           2  spam1@bad.example'):
        h.ok(line in out.splitlines(), 'stats: the text has the line %r' % line)
    h.ok('esc\\x1b[31m@odd.example' in out and '\x1b' not in out, 'stats: a control character in a sender is '
         'shown as \\x1b, never sent to the terminal')
    db.sql("UPDATE challenges SET sender = 'p0@many.example' WHERE sender = CONCAT('esc', CHAR(27), '[31m@odd.example')")
    h.is_(db.value("SELECT COUNT(*) FROM challenges WHERE sender = 'p0@many.example'"), '1', 'the sender is back')

    # --prometheus
    d = h.tmpdir('guardlist-stats-')
    path = os.path.join(d, 'guardlist.prom')
    rc, out, err = h.cli(cfg, 'stats', '--prometheus', path)
    h.ok(rc == 0 and out == '' and os.path.exists(path), 'stats --prometheus FILE: exit 0, silent, the file is there',
         out, err)
    text = open(path).read() if os.path.exists(path) else ''
    h.is_(sorted(os.listdir(d)), ['guardlist.prom'], 'no temporary file is left beside it')
    p = subprocess.run(['promtool', 'check', 'metrics'], input=text, capture_output=True, text=True, timeout=30)
    h.ok(p.returncode == 0, 'promtool check metrics accepts the file', p.stdout, p.stderr)
    samples = {}
    for ln in text.splitlines():
        if ln and not ln.startswith('#'):
            name, value = ln.rsplit(' ', 1)
            samples[name] = value
    wanted = {'guardlist_stats_protected_recipients': '3',
              'guardlist_stats_rules{kind="allow"}': '5', 'guardlist_stats_rules{kind="block"}': '3',
              'guardlist_stats_rules{kind="other"}': '1',
              'guardlist_stats_decision_median_seconds{window="7d"}': '7200.0'}
    for w in ('1d', '7d'):
        for s in ('open', 'approved', 'denied', 'expired'):
            wanted['guardlist_stats_challenges{status="%s",window="%s"}' % (s, w)] = str(ch[w][s])
    h.is_({k: samples.get(k) for k in wanted}, wanted, 'the file holds the expected samples')
    now = int(db.value('SELECT UNIX_TIMESTAMP()'))
    gen = int(samples.get('guardlist_stats_generated_timestamp_seconds', '0'))
    h.ok(0 <= now - gen <= 60, 'guardlist_stats_generated_timestamp_seconds is the database\'s clock', gen, now)
    h.ok(all(k.startswith('guardlist_stats_') for k in samples), 'every sample is named guardlist_stats_*')
    h.ok('odd.example' not in text and 'bad.example' not in text, 'no sender is in a metric')

    rc, out, err = h.cli(cfg, 'stats', '--prometheus', os.path.join(d, 'missing', 'x.prom'))
    h.ok(rc == 1 and 'guardlist: error: cannot create' in err, 'a directory that does not exist: exit 1, '
         'says so', rc, err)
    for args, what in ((('--json', '--prometheus', path), '--json with --prometheus'),
                       (('extra',), 'an extra argument'), (('--bogus',), 'an unknown option')):
        rc, out, err = h.cli(cfg, 'stats', *args)
        h.ok(rc == 2 and 'guardlist: error: ' in err, 'stats %s: usage error, exit 2' % what, rc, err)
    rc, out, err = h.cli(cfg, 'stats', '--help')
    h.ok(rc == 0 and '--prometheus FILE' in out, 'stats --help documents its options')

    # The window queries read their rows through the new keys.
    for col, where in (('first_seen', "first_seen >= CURRENT_TIMESTAMP - INTERVAL 7 DAY AND status = 'pending'"),
                       ('decided_at', 'decided_at >= CURRENT_TIMESTAMP - INTERVAL 7 DAY')):
        plan = db.sql('EXPLAIN SELECT COUNT(*) FROM challenges FORCE INDEX (%s) WHERE %s' % (col, where))
        keys = db.sql("SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'guardlist' "
                      "AND TABLE_NAME = 'challenges' AND INDEX_NAME = %s" % h.sql_str(col))
        h.ok(keys and any(col in (r[5] or '') for r in plan), 'challenges has the key %s and a window uses it' % col,
             repr(plan))


def figures(html):
    return {m.group(1): m.group(2) for m in re.finditer(r'data-figure="([^"]+)">([^<]*)<', html)}


def check_web(db, want):
    secrets = web.init_accounts(db)
    conf = web.web_config(db, secrets, admins=ADMIN)
    www = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': conf}, url_path='/admin',
                       users={ADMIN: ADMIN_PW, statsdata.PARENT: PARENT_PW})
    secs = www.start()
    h.diag('guardlist-web under test: %s; lighttpd up in %.2f s' % (web.web_binary(), secs))
    import base64

    def get(query, user, pw):
        a = 'Basic ' + base64.b64encode(('%s:%s' % (user, pw)).encode()).decode()
        return www.request('GET', '/admin?' + query, headers={'Authorization': a})

    r = get('p=overview', ADMIN, ADMIN_PW)
    h.is_(r.status, 200, 'overview: 200 for an administrator') or h.diag(r.text[:2000], www.log(2000))
    page = r.text
    h.ok('<h1>Overview</h1>' in page, 'overview: its heading')
    h.ok('href="?p=overview"' in page, 'overview: in the navigation')
    ch = want['challenges']
    f = figures(page)
    wanted = {'protected': '3', 'rules-allow': '5', 'rules-block': '3', 'rules-other': '1',
              'open-now': str(want['open_now']), 'median': '2h00m', 'decisions-7d': '3'}
    for w in ('1d', '7d'):
        for s in ('open', 'approved', 'denied', 'expired'):
            wanted['%s-%s' % (s, w)] = str(ch[w][s])
    h.is_({k: f.get(k) for k in wanted}, wanted, 'overview: the figures match the rows')
    held = re.findall(r'<tr class="held"><td data-label="Sender" class="text" style="overflow-wrap:anywhere">([^<]*)</td><td data-label="Attempts" '
                      r'data-figure="attempts">(\d+)</td><td data-label="Recipients" data-figure="recipients">(\d+)<',
                      page)
    esc = lambda s: s.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')  # noqa: E731
    h.is_(held, [(esc(x['sender']), str(x['attempts']), str(x['recipients'])) for x in want['held_off']],
          'overview: the ten senders held off most often, escaped')
    h.ok(statsdata.ODD not in page, 'overview: markup in a sender never reaches the page raw')
    svg = re.search(r'<svg class="chart" viewBox="0 0 (\d+) (\d+)".*?</svg>', page, re.S)
    h.ok(svg and '<script' not in svg.group(0) and 'href' not in svg.group(0),
         'overview: an inline SVG chart with a viewBox, no script, no link')
    bars = re.findall(r'<rect class="bar (created|approved)" data-day="([\d-]+)" data-n="(\d+)" x="[\d.]+" '
                      r'y="[\d.]+" width="[\d.]+" height="([\d.]+)"', svg.group(0) if svg else '')
    days = want['days']
    peak = max(max(d['created'], d['approved']) for d in days)
    for kind in ('created', 'approved'):
        got = [(b[1], int(b[2])) for b in bars if b[0] == kind]
        h.is_(got, [(d['date'], d[kind]) for d in days], 'chart: 30 %s bars, one a day, with the counts' % kind)
        heights = [float(b[3]) for b in bars if b[0] == kind]
        expect = [d[kind] * PLOT / peak for d in days]
        h.ok(len(heights) == 30 and all(abs(a - b) < 0.01 for a, b in zip(heights, expect)),
             'chart: each %s bar is as tall as its count over the largest (%d)' % (kind, peak),
             repr(heights), repr(expect))

    r = get('p=overview', statsdata.PARENT, PARENT_PW)
    h.ok(r.status == 403 and 'only an administrator' in r.text, 'overview: a guardian gets 403', r.status)
    r = get('p=pending', statsdata.PARENT, PARENT_PW)
    h.ok(r.status == 200 and '?p=overview' not in r.text, 'a guardian\'s navigation has no overview link', r.status)
    marks = www.sanitizer_report()
    h.ok(not marks, 'the CGI\'s stderr has no sanitizer report', repr(marks), www.log(3000))
    www.stop()


def main():
    if not shutil.which('promtool'):
        h.ok(False, 'promtool is installed (make deps installs prometheus)')
        return
    db = h.start_db()
    cfg = h.cli_config(db)
    rc, out, err = h.cli(cfg, 'db', 'migrate')
    h.is_(rc, 0, 'db migrate on the fresh schema') or h.diag(out, err)
    want = statsdata.insert(db)
    check_cli(db, cfg, want)
    check_web(db, want)


h.run(main, timeout=120)
