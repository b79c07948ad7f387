#!/usr/bin/python3
"""The admin page's address book import (issue 21), guardlist-web as a CGI
under a real lighttpd with HTTP Basic auth and a real MariaDB.

Checked: the import page lists the children the user may import for (an
admin: every protected address; a guardian: their own) and lets exactly
its one inline script run (its SHA-256 in the Content-Security-Policy);
the preview lists what would be added, what is already a contact and what
is blocked, and writes nothing; the confirm writes the new contacts, one
rule-set audit row each and a contacts-import row, actor web:USER, and
leaves the block alone; a block made between preview and confirm is kept
and reported; a guardian cannot import for another family's child (403);
hostile books (a NUL byte, bytes that are not UTF-8, a quote never
closed, over 1 MB, a body over the bound) get a clear error and write
nothing; a database error at the third contact writes none (one
transaction); a form without its token changes nothing; other POSTs keep
their 4096-byte bound; no sanitizer report in the CGI's stderr."""
import base64
import hashlib
import os
import re
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID, KID2 = 'kid@family.test', 'kid2@family.test'
PARENT, OTHER = 'parent@family.test', 'other@family.test'
USERS = {'admin': 'admin-pw-1', PARENT: 'parent-pw-2', OTHER: 'other-pw-3'}
FORM = 'application/x-www-form-urlencoded'
VCARD = ('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Pal\r\nEMAIL:pal@friends.example\r\nEND:VCARD\r\n'
         'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Pal Two\r\nEMAIL:pal2@friends.example\r\nEND:VCARD\r\n'
         'BEGIN:VCARD\r\nVERSION:3.0\r\nEMAIL:teacher@school.example\r\nEMAIL:bully@bad.example\r\n'
         'EMAIL:<b>not an address</b>\r\nEND:VCARD\r\n')


def main():
    db = h.start_db()
    admin_cli = h.cli_config(db)
    secrets_dir = web.init_accounts(db)
    for args in (('protect', KID, '--guardian', PARENT), ('protect', KID2, '--guardian', OTHER),
                 ('block', 'bully@bad.example', '--to', KID), ('allow', 'teacher@school.example', '--to', KID)):
        rc, out, err = h.cli(admin_cli, *args)
        h.is_(rc, 0, 'guardlist ' + ' '.join(args)) or h.diag(out, err)
    conf = web.web_config(db, secrets_dir, admins='admin')
    www = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': conf}, url_path='/admin', users=USERS)
    www.start()

    def auth(user):
        return 'Basic ' + base64.b64encode(('%s:%s' % (user, USERS[user])).encode()).decode()

    def get(query, user='admin'):
        return www.request('GET', '/admin?' + query, headers={'Authorization': auth(user)})

    tokens = {}

    def post(fields, user='admin', query='p=import', raw=None):
        if user not in tokens:
            tokens[user] = re.search(r'name="csrf" value="([^"]+)"', get('p=import', user).text).group(1)
        f = dict(fields)
        f.setdefault('csrf', tokens[user])
        body = raw if raw is not None else urllib.parse.urlencode(f, encoding='utf-8', errors='surrogateescape')
        return www.request('POST', '/admin' + ('?' + query if query else ''), body=body,
                           headers={'Authorization': auth(user), 'Content-Type': FORM})

    def rules():
        return set(tuple(r) for r in db.sql("SELECT sender, action FROM sender_rules WHERE recipient = '%s'" % KID))

    # ---- the page
    r = get('p=import')
    h.is_(r.status, 200, 'admin: the import page answers 200') or h.diag(r.text[-1500:], www.log(1500))
    opts = re.findall(r'<option[^>]*>([^<]*)</option>', r.text)
    h.is_(opts, [KID2, KID], 'admin: every protected child is offered, in order')
    script = re.search(r'<script>(.*?)</script>', r.text, re.S)
    want = "'sha256-%s'" % base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode() \
        if script else None
    csp = r.header('Content-Security-Policy') or ''
    h.ok(script and ('script-src %s;' % want) in csp and "default-src 'none'" in csp,
         'the inline script runs by its SHA-256 in the CSP, and nothing else does', csp)
    r = get('p=import', PARENT)
    h.is_(re.findall(r'<option[^>]*>([^<]*)</option>', r.text), [KID], 'a guardian is offered their own child only')

    # ---- preview: nothing written
    before = h.snapshot(db)
    r = post({'do': 'contacts-preview', 'p': 'import', 'child': KID, 'book': VCARD})
    h.is_(r.status, 200, 'preview: 200') or h.diag(r.text[-1500:], www.log(1500))
    rows = dict(re.findall(r'<tr><td data-label="Address">([^<]*)</td><td[^>]*>\d+</td><td[^>]*>([^<]*)</td>', r.text))
    h.is_(rows, {'pal@friends.example': 'would add', 'pal2@friends.example': 'would add',
                 'teacher@school.example': 'already a contact', 'bully@bad.example': 'blocked, left alone'},
          'preview: what would be added, is already a contact, is blocked')
    h.ok('2 contacts would be added, 1 already contact, 1 blocked (left alone), 1 invalid' in r.text,
         'preview: the summary', re.findall(r'<p id="import-summary">.*?</p>', r.text))
    h.ok('&lt;b&gt;not an address' in r.text and '<b>not' not in r.text, 'preview: the invalid entry is escaped')
    h.ok('Import 2 contacts' in r.text and 'name="book" hidden' in r.text, 'preview: the confirm button')
    h.ok(h.snapshot(db) == before, 'preview: nothing written')

    # ---- a block made since the preview is kept; the confirm writes the rest at once
    rc, out, err = h.cli(admin_cli, 'block', 'pal2@friends.example', '--to', KID)
    last = int(db.value('SELECT MAX(id) FROM audit_log'))
    r = post({'do': 'contacts-import', 'p': 'import', 'child': KID, 'book': VCARD})
    h.is_(r.status, 200, 'confirm: 200') or h.diag(r.text[-1500:], www.log(1500))
    h.ok('1 contact added, 1 already contact, 2 blocked (left alone)' in r.text,
         'confirm: the page says what was done, the new block counted as blocked',
         re.findall(r'<div class="msg[^"]*".*?</div>', r.text, re.S))
    h.is_(rules(), {('pal@friends.example', 'OK'), ('pal2@friends.example', 'REJECT'),
                    ('teacher@school.example', 'OK'), ('bully@bad.example', 'REJECT')},
          'confirm: pal@ is a contact; both blocks left alone, never turned into an allow')
    audit = db.sql('SELECT actor, action FROM audit_log WHERE id > %d ORDER BY id' % last)
    h.is_(audit, [['web:admin', 'rule-set'], ['web:admin', 'contacts-import']],
          'confirm: a rule-set row and the summary row, actor web:admin')

    # ---- refusals: a clear message, nothing written
    def refused(what, fields, status, words, user='admin', query='p=import', raw=None):
        before = h.snapshot(db)
        f = {'do': 'contacts-preview', 'p': 'import', 'child': KID}
        f.update(fields)
        r = post(f, user=user, query=query, raw=raw)
        h.is_(r.status, status, '%s: HTTP %d' % (what, status)) or h.diag(r.text[-800:])
        h.ok(all(w in r.text for w in words), '%s: the page says why (%s)' % (what, ', '.join(words)),
             re.findall(r'<div class="msg[^"]*".*?</div>', r.text, re.S)[:1] or r.text[-600:])
        h.ok(h.snapshot(db) == before, '%s: nothing written' % what)

    refused('a guardian, another family\'s child', {'child': KID2, 'do': 'contacts-import', 'book': VCARD}, 403,
            ['only import contacts for a child you guard'], user=PARENT)
    refused('a NUL byte', {'book': 'Email\nnul@x.example\x00\n', 'do': 'contacts-import'}, 400, ['NUL'])
    refused('bytes that are not UTF-8', {'book': 'Email\nJos\udce9 <jose@x.example>\n', 'do': 'contacts-import'},
            400, ['not UTF-8'])
    refused('a quote never closed', {'book': 'Name,Email\n"Pal,pal9@x.example\n', 'do': 'contacts-import'},
            400, ['never closed'])
    refused('a book over 1 MB', {'book': 'Email\n' + 'big@x.example\n' * 80000}, 413, ['larger than 1 MB'])
    refused('a body over the bound', {}, 413, ['larger than this page accepts'],
            raw='do=contacts-preview&book=' + '%41' * (1024 * 1024 + 3000))
    refused('no token', {'csrf': 'x', 'book': VCARD, 'do': 'contacts-import'}, 403, ['Form expired'])
    refused('another POST keeps its bound', {}, 413, ['larger than this page accepts'], query='',
            raw='do=protect&key=' + 'a' * 4980 + '%40x.test')
    refused('a child that is not protected', {'child': 'nobody@family.test', 'book': VCARD}, 400, ['not protected'])

    # ---- one transaction: a database error at the third contact writes none
    db.sql("CREATE TRIGGER fail_third BEFORE INSERT ON sender_rules FOR EACH ROW "
           "SET NEW.action = IF(NEW.sender = 'c3@tx.example', NULL, NEW.action)")
    book = 'Email\n' + ''.join('c%d@tx.example\n' % i for i in range(1, 6))
    refused('a database error at the third contact', {'book': book, 'do': 'contacts-import'}, 503,
            ['Nothing was imported'])
    db.sql('DROP TRIGGER fail_third')
    r = post({'do': 'contacts-import', 'p': 'import', 'child': KID, 'book': book})
    h.ok(r.status == 200 and '5 contacts added' in r.text, 'without the fault the same book imports whole')

    marks = www.sanitizer_report()
    h.ok(not marks, 'the CGI\'s stderr has no sanitizer report', 'found: %r' % marks, www.log(3000))
    www.stop()
    db.stop()


h.run(main, timeout=300)
