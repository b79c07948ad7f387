#!/usr/bin/python3
"""The admin page's address book import in a real browser (Debian's
chromium, headless, driven by playwright-core through
tests/browser/import.js) on a phone's viewport, behind a private lighttpd
with HTTP Basic auth: the admin opens ?p=import, picks the child, picks a
Latin-1 CSV (the page's script says it is not UTF-8 and fills nothing),
picks a vCard (the script puts its text in the form), taps Preview (what
would be added, what is blocked), taps "Import 2 contacts".

Checked from what the browser saw: each page answers 200 with no axe-core
violation and no sideways scrolling; the script's refusal names the
problem; the preview's rows and summary; the answer's message box; every
request went to the page's own origin, none failed; no console errors or
page errors (a script the CSP blocked would show there, and nothing would
fill the form).  Checked in the database: the two new contacts, the block
kept, the audit rows by web:admin.  Screenshots in
build/test-output/browser/import-N-*.png (import-asan-... for the sanitizer
build).  No sanitizer report in the CGI's stderr."""
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID, PARENT = 'kid@family.test', 'parent@family.test'
ADMIN, ADMIN_PW = 'admin', 'admin-pw-158'
BROWSER_TIMEOUT = 90
STEPS = ['page', 'refused', 'picked', 'preview', 'imported']
VCARD = ('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Pal\r\nEMAIL:pal@friends.example\r\nEND:VCARD\r\n'
         'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Grandma\r\nEMAIL:grandma@home.example\r\nEND:VCARD\r\n'
         'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bully\r\nEMAIL:bully@bad.example\r\nEND:VCARD\r\n')


def main():
    db = h.start_db()
    admin_cli = h.cli_config(db)
    secrets_dir = web.init_accounts(db)
    for args in (('protect', KID, '--guardian', PARENT), ('block', 'bully@bad.example', '--to', KID)):
        rc, out, err = h.cli(admin_cli, *args)
        h.is_(rc, 0, 'guardlist ' + ' '.join(args)) or h.diag(out, err)
    www = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': web.web_config(db, secrets_dir, admins=ADMIN)},
                       url_path='/admin', users={ADMIN: ADMIN_PW})
    www.start()
    url, origin = www.url(), www.url('')
    d = h.tmpdir('guardlist-books-')
    good, bad = os.path.join(d, 'kid.vcf'), os.path.join(d, 'latin1.csv')
    with open(good, 'w', newline='') as f:
        f.write(VCARD)
    with open(bad, 'wb') as f:
        f.write('Name,E-mail Address\nJos\xe9,jose@x.example\n'.encode('latin-1'))
    audit_before = int(db.value('SELECT COUNT(*) FROM audit_log'))

    if not web.node_modules():
        return
    node = shutil.which('node') or shutil.which('nodejs')
    if not node:
        h.ok(False, 'node is installed (make deps installs nodejs)')
        return
    os.makedirs(web.SHOTS, exist_ok=True)
    name = 'import-asan' if '/asan/' in web.web_binary() else 'import'
    rc, out, err = h.run_group([node, os.path.join(web.BROWSER_DIR, 'import.js'), '--url', url, '--out-dir', web.SHOTS,
                                '--name', name, '--user', ADMIN, '--child', KID, '--file', good, '--bad-file', bad,
                                '--profile-dir', h.tmpdir('guardlist-chromium-'), '--timeout', '60'],
                               BROWSER_TIMEOUT, cwd=web.BROWSER_DIR, env=dict(os.environ, GUARDLIST_WEB_PASSWORD=ADMIN_PW))
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = None
    h.ok(rc == 0 and res and res.get('ok'), 'import.js ran to the end (exit %s)' % rc,
         (res or {}).get('error') or '', 'stdout: ' + out[-3000:], 'stderr: ' + err[-3000:], www.log(2000))
    if not res:
        return
    steps = {s['name']: s for s in res.get('steps', [])}
    h.is_([s['name'] for s in res.get('steps', [])], STEPS, 'import.js went through the five steps')
    for s in res.get('steps', []):
        h.is_(s.get('axe'), [], 'step %s: axe-core finds no violation' % s['name'])
        h.ok(not s.get('horizontalOverflow'), 'step %s: no sideways scrolling on the phone' % s['name'])
    page, refused, picked, preview, imported = (steps.get(n, {}) for n in STEPS)
    h.is_(page.get('status'), 200, 'step 1: the import page answers 200')
    h.ok('latin1.csv is not UTF-8' in (refused.get('error') or '') and refused.get('bookLength') == 0,
         'step 2: the page says the Latin-1 file is not UTF-8 and fills nothing', repr(refused.get('error')))
    h.ok(picked.get('bookLength') == len(VCARD.replace('\r\n', '\n')) and not picked.get('error'),
         'step 3: the vCard\'s text (its lines as a text field holds them) is in the form: the script ran '
         'under the CSP', repr(picked.get('bookLength')))
    h.is_(preview.get('status'), 200, 'step 4: the preview answers 200')
    h.is_([(r[0], r[2]) for r in preview.get('rows') or []],
          [('pal@friends.example', 'would add'), ('grandma@home.example', 'would add'),
           ('bully@bad.example', 'blocked, left alone')], 'step 4: the preview lists each address and its fate')
    h.ok('2 contacts would be added' in (preview.get('summary') or ''), 'step 4: the summary',
         repr(preview.get('summary')))
    h.is_(imported.get('status'), 200, 'step 5: the import answers 200')
    h.ok('2 contacts added' in (imported.get('message') or ''), 'step 5: the message says what was done',
         repr(imported.get('message')))

    rules = set(tuple(r) for r in db.sql("SELECT sender, action, created_by FROM sender_rules WHERE recipient = '%s'"
                                         % KID))
    h.ok({('pal@friends.example', 'OK', 'web:admin'), ('grandma@home.example', 'OK', 'web:admin')} <= rules
         and ('bully@bad.example', 'REJECT') in {r[:2] for r in rules}, 'database: two contacts, the block kept',
         repr(rules))
    audit = db.sql('SELECT actor, action FROM audit_log ORDER BY id')[audit_before:]
    h.is_(audit, [['web:admin', 'rule-set']] * 2 + [['web:admin', 'contacts-import']],
          'database: a rule-set row a contact and the summary row, by web:admin')

    reqs = [(r['method'], r['url']) for r in res.get('requests', [])]
    h.ok(reqs and all(u.startswith(origin + '/') for _, u in reqs), 'every request went to the page\'s origin',
         repr(reqs))
    h.is_([m for m, _ in reqs], ['GET', 'POST', 'POST'], 'the journey made one GET and two POSTs, nothing else')
    h.is_(res.get('failedRequests'), [], 'no request failed')
    h.is_([m for m in res.get('console', []) if m['type'] in ('error', 'warning')], [],
          'no console errors or warnings (CSP violations show up there)')
    h.is_(res.get('pageErrors'), [], 'no page errors')
    marks = www.sanitizer_report()
    h.ok(not marks, 'the CGI\'s stderr has no sanitizer report', 'found: %r' % marks, www.log(3000))
    www.stop()
    db.stop()


h.run(main, timeout=200)
