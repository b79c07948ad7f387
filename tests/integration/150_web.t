#!/usr/bin/python3
"""guardlist-web, the admin page, as a CGI under a real lighttpd with HTTP
Basic auth (mod_auth, an htpasswd file), a real MariaDB and the real
guardlistd.

The CGI runs as lighttpd's user with the least-privilege account
guardlist_web made by `guardlist db init`.  Users: admin (in [web] admins),
parent@family.test (guards kid@family.test) and other@family.test (guards
kid2@family.test); the last two are guardians with the per-user scope.

Checked: no credentials or a wrong password get lighttpd's 401 and the CGI
never runs; a web server without a login gets the CGI's 403 page that says
how to configure one; every page answers 200 with the security headers and
changes nothing; each change (protect, guardians, rules for one recipient,
global rules, edit, remove, approve, approve the domain, deny, block,
unprotect) changes exactly its rows plus one audit row naming the user, and
guardlistd follows within 2 s; a POST without a token, with a wrong one,
another user's, a stale one (made with the key, 13 hours old) changes
nothing (403); a guardian sees and changes only what they guard (403
otherwise); a null-sender (bounce) challenge is decided by an admin only,
with a note next to the buttons; hostile input (markup in addresses and search, oversized
fields and bodies, long queries, unknown fields, other methods) is refused
or escaped; keyset paging over 100,000 rules; the account's grants are
limited to the rule, guardian, challenge and audit tables; no sanitizer
report in the CGI's stderr."""
import base64
import hashlib
import hmac
import os
import re
import sys
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID, KID2, KID3 = 'kid@family.test', 'kid2@family.test', 'kid3@family.test'
PARENT, OTHER = 'parent@family.test', 'other@family.test'
USERS = {'admin': 'admin-pw-1', PARENT: 'parent-pw-2', OTHER: 'other-pw-3', 'odd<name>': 'odd-pw-4'}
FORM = 'application/x-www-form-urlencoded'
FOLLOW_TIMEOUT = 2.0
CSP_PARTS = ("default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'")
RULE_ROWS = 100000
CHANGE_TABLES = ('protected_users', 'guardians', 'whitelist', 'sender_rules', 'challenges', 'audit_log')


def main():
    db = h.start_db()
    admin_cli = h.cli_config(db)
    secrets_dir = web.init_accounts(db)
    for kid, guardian in ((KID, PARENT), (KID2, OTHER), ('kis@family.test', OTHER), ('anna@family.test', OTHER),
                          ('kiss@family.test', 'g5@family.test')):
        rc, out, err = h.cli(admin_cli, 'protect', kid, '--guardian', guardian)
        h.is_(rc, 0, 'guardlist protect %s --guardian %s' % (kid, guardian)) or h.diag(out, err)
    d = h.start_daemon(db)
    conf = web.web_config(db, secrets_dir, admins='admin')
    www = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': conf}, url_path='/admin', users=USERS)
    secs = www.start()
    h.diag('guardlist-web under test: %s; lighttpd up in %.2f s on port %d' % (web.web_binary(), secs, www.port))
    key_file = [ln.split('=', 1)[1].strip() for ln in open(conf) if ln.startswith('secret_file')][0]
    key = open(key_file).read().split('\n')[0].encode()

    # ------------------------------------------------------------ helpers

    def auth(user, password=None):
        pw = USERS[user] if password is None else password
        return 'Basic ' + base64.b64encode(('%s:%s' % (user, pw)).encode()).decode()

    def get(query='', user='admin', **kw):
        return www.request('GET', '/admin' + ('?' + query if query else ''),
                           headers={'Authorization': auth(user)}, **kw)

    def token_of(page):
        m = re.search(r'name="csrf" value="([^"]+)"', page.text)
        return m.group(1) if m else None

    tokens = {}

    def token(user='admin'):
        if user not in tokens:      # every user has the add-rule form there
            tokens[user] = token_of(get('p=rules', user=user))
            if not tokens[user]:
                raise RuntimeError('no form token on the rules page of %s' % user)
        return tokens[user]

    def post(fields, user='admin', csrf=True, ctype=FORM, raw=None):
        f = dict(fields)
        if csrf is True:
            f['csrf'] = token(user)
        elif csrf:
            f['csrf'] = csrf
        body = raw if raw is not None else urllib.parse.urlencode(f)
        return www.request('POST', '/admin', body=body, headers={'Authorization': auth(user), 'Content-Type': ctype})

    def snap():
        """The rows a change may touch.  Challenges without attempts and
        last_seen: guardlistd refreshes those behind its replies."""
        s = h.snapshot(db, tables=[t for t in CHANGE_TABLES if t != 'challenges'])
        s['challenges'] = [tuple(r) for r in db.sql('SELECT id, sender, recipient, protected_key, status, '
                                                    'is_open, decided_by FROM challenges ORDER BY id')]
        return s

    def diff(a, b):
        """{table: (rows removed, rows added)} for the tables that changed."""
        out = {}
        for t in CHANGE_TABLES:
            ra, rb = list(a.get(t, [])), list(b.get(t, []))
            removed = [r for r in ra if r not in rb]
            added = [r for r in rb if r not in ra]
            if removed or added:
                out[t] = (removed, added)
        return out

    def headers_ok(r, what):
        csp = r.header('Content-Security-Policy') or ''
        good = (all(p in csp for p in CSP_PARTS) and r.header('X-Frame-Options') == 'DENY'
                and r.header('Cache-Control') == 'no-store' and r.header('Referrer-Policy') == 'no-referrer'
                and r.header('X-Content-Type-Options') == 'nosniff')
        h.ok(good, '%s: security headers' % what, repr(r.headers))

    def audit_rows():
        return db.sql('SELECT actor, action, detail FROM audit_log ORDER BY id')

    def follows(pred, what, **attrs):
        good, got, secs = h.wait_reply(d.port, pred, FOLLOW_TIMEOUT, client_address='192.0.2.7',
                                       client_name='mx.example.net', **attrs)
        h.ok(good, 'guardlistd follows within %.0f s: %s (%.2f s)' % (FOLLOW_TIMEOUT, what, secs), 'last: %r' % got)

    def change(fields, expect, what, user='admin', status=200):
        """POSTs FIELDS; the answer must be STATUS and the tables must differ
        by exactly EXPECT ({table: (removed count, added count)}) plus, for a
        200, one audit row by web:USER.  Returns the response."""
        before, audit_before = snap(), len(audit_rows())
        r = post(fields, user=user)
        after = snap()
        got = {t: (len(rm), len(ad)) for t, (rm, ad) in diff(before, after).items()}
        want = dict(expect)
        if status == 200:
            want['audit_log'] = (0, 1)
        h.is_(r.status, status, '%s: HTTP %d' % (what, status)) or h.diag(r.text[-1500:], www.log(1500))
        if status == 403:
            h.ok('too old' not in r.text, '%s: refused for what it asks, not for its form token' % what)
        h.ok(got == want, '%s: exactly its rows changed %r' % (what, want), 'got %r' % got,
             repr(diff(before, after))[:2000])
        if status == 200:
            last = audit_rows()[audit_before:]
            h.ok(len(last) == 1 and last[0][0] == 'web:' + user, '%s: the audit row names web:%s' % (what, user),
                 repr(last))
        headers_ok(r, what)
        return r

    # ------------------------------------------------------------ login

    r = www.request('GET', '/admin')
    h.is_(r.status, 401, 'no credentials: 401 from the web server')
    h.ok('Basic' in (r.header('WWW-Authenticate') or ''), 'the 401 asks for Basic auth', repr(r.headers))
    r = www.request('GET', '/admin', headers={'Authorization': auth('admin', 'wrong')})
    h.is_(r.status, 401, 'a wrong password: 401')
    r = www.request('POST', '/admin', body='do=protect&key=x%40y.test', headers={'Content-Type': FORM})
    h.is_(r.status, 401, 'a POST without credentials: 401')
    h.ok('guardlist-web' not in www.log(0), 'the CGI never ran for those (nothing in its log)')

    plain = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': conf}, url_path='/admin')
    plain.start()
    r = plain.request('GET', '/admin')
    h.is_(r.status, 403, 'behind a web server without a login, the CGI answers 403')
    h.ok('REMOTE_USER' in r.text and 'auth' in r.text and 'HTTPS' in r.text,
         'and its page says how to put a login in front of it', r.text[-800:])
    headers_ok(r, 'the 403 page')
    before = snap()
    r = plain.request('POST', '/admin', body='do=protect&key=evil%40x.test&csrf=1.2', headers={'Content-Type': FORM})
    h.ok(r.status == 403 and snap() == before, 'a POST there changes nothing (403)', r.status)
    plain.stop()
    r = get('p=protected', user='odd<name>')
    h.ok(r.status == 403 and '&lt;name&gt;' not in r.text and 'not one this page accepts' in r.text,
         'a login name with markup in it is refused (403), not shown', r.status)

    # Without a usable form-token key the page serves nothing.
    for what, spoil in (('no secret_file', 'unset'), ('a world-readable secret_file', 'world'),
                        ('a secret_file of 8 characters', 'short'), ('an empty secret_file', 'empty')):
        c2 = web.web_config(db, secrets_dir, admins='admin')
        lines = open(c2).read().splitlines()
        keyf = [ln.split('=', 1)[1].strip() for ln in lines if ln.startswith('secret_file')][0]
        if spoil == 'unset':
            with open(c2, 'w') as f:
                f.write('\n'.join('secret_file =' if ln.startswith('secret_file') else ln for ln in lines) + '\n')
        elif spoil == 'world':
            os.chmod(keyf, 0o644)
        else:
            with open(keyf, 'w') as f:
                f.write('12345678\n' if spoil == 'short' else '')
        bad = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': c2}, url_path='/admin', users=USERS)
        bad.start()
        r = bad.request('GET', '/admin', headers={'Authorization': auth('admin')})
        logged = [ln for ln in bad.log(0).splitlines() if 'guardlist-web: error' in ln]
        h.ok(r.status == 503 and 'name="csrf"' not in r.text and logged,
             'with %s: 503, no form, and the reason in the error log' % what, r.status, logged)
        h.diag('with %s: %s' % (what, logged[0] if logged else '-'))
        bad.stop()

    # [web] admins fails closed: without it nobody is an admin; "*" is everyone.
    for admins, user, is_admin in (('', 'admin', False), ('*', PARENT, True)):
        w2 = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': web.web_config(db, secrets_dir, admins=admins)},
                          url_path='/admin', users=USERS)
        w2.start()
        r = w2.request('GET', '/admin?p=global', headers={'Authorization': auth(user)})
        p = w2.request('GET', '/admin?p=protected', headers={'Authorization': auth(user)})
        h.ok(r.status == (200 if is_admin else 403) and ('value="protect"' in p.text) == is_admin
             and ('(admin)' in p.text) == is_admin,
             'with admins = %r, %s is %s' % (admins, user, 'an admin' if is_admin else 'a guardian'),
             r.status, p.status)
        w2.stop()

    # ------------------------------------------------------------ pages

    before = snap()
    for p in ('protected', 'rules', 'global', 'pending', 'audit', 'search&q=kid'):
        r = get('p=' + p)
        h.is_(r.status, 200, 'GET ?p=%s: 200' % p) or h.diag(r.text[-1000:], www.log(1500))
        headers_ok(r, 'GET ?p=%s' % p)
        h.ok('name="viewport"' in r.text and '<h1>' in r.text, '?p=%s is an HTML page with a viewport' % p)
    r = www.request('HEAD', '/admin?p=protected', headers={'Authorization': auth('admin')})
    h.ok(r.status == 200 and r.body == b'', 'HEAD: 200 without a body', r.status)
    h.ok(snap() == before, 'GET and HEAD changed nothing')
    r = get('p=protected')
    h.ok(KID in r.text and KID2 in r.text and PARENT in r.text, 'the admin sees every protected kid and guardian')
    r = get('p=nosuchpage')
    h.is_(r.status, 404, 'an unknown page: 404')

    # ------------------------------------------------------------ changes as admin

    follows(lambda x: x == 'DUNNO', '%s is not protected yet' % KID3, sender='stranger@example.net', recipient=KID3)
    change({'do': 'protect', 'key': KID3, 'email': 'g3@family.test', 'p': 'protected'},
           {'protected_users': (0, 1), 'guardians': (0, 1)}, 'protect %s with a guardian' % KID3)
    follows(h.is_defer, 'a stranger to %s is held off' % KID3, sender='stranger@example.net', recipient=KID3)
    r = get('p=protected')
    h.ok(KID3 in r.text and 'g3@family.test' in r.text, 'the protected page lists it with its guardian')
    change({'do': 'guardian-add', 'key': KID3, 'email': 'g4@family.test', 'p': 'protected'},
           {'guardians': (0, 1)}, 'add a second guardian')
    change({'do': 'guardian-rm', 'key': KID3, 'email': 'g4@family.test', 'p': 'protected'},
           {'guardians': (1, 0)}, 'remove that guardian')

    change({'do': 'rule-set', 'rcpt': KID3, 'sender': 'friend@example.org', 'kind': 'allow', 'p': 'rules'},
           {'sender_rules': (0, 1)}, 'allow friend@example.org for %s' % KID3)
    follows(lambda x: x == 'DUNNO', 'the friend is let through', sender='friend@example.org', recipient=KID3)
    row = db.sql("SELECT action, created_by FROM sender_rules WHERE sender = 'friend@example.org'")
    h.ok(row == [['OK', 'web:admin']], 'the rule is OK, created by web:admin', repr(row))
    change({'do': 'rule-set', 'rcpt': KID3, 'sender': 'friend@example.org', 'kind': 'action',
            'action': 'REJECT Not you', 'p': 'rules'},
           {'sender_rules': (1, 1)}, 'edit the rule to REJECT Not you')
    follows(lambda x: x == 'REJECT Not you', 'the edited rule is in force', sender='friend@example.org',
            recipient=KID3)
    change({'do': 'rule-set', 'rcpt': KID3, 'sender': 'blocked.example', 'kind': 'block', 'p': 'rules'},
           {'sender_rules': (0, 1)}, 'block the domain blocked.example for %s' % KID3)
    follows(lambda x: isinstance(x, str) and x.startswith('REJECT'), 'the blocked domain is refused',
            sender='anyone@blocked.example', recipient=KID3)
    change({'do': 'rule-rm', 'rcpt': KID3, 'sender': 'friend@example.org', 'p': 'rules'},
           {'sender_rules': (1, 0)}, 'remove the friend\'s rule')
    follows(h.is_defer, 'the friend is held off again', sender='friend@example.org', recipient=KID3)
    r = get('p=rules&r=' + urllib.parse.quote(KID3))
    h.ok('blocked.example' in r.text and 'friend@example.org' not in r.text,
         'the rules page for %s shows what is left' % KID3)

    change({'do': 'rule-set', 'rcpt': '', 'sender': 'spam.example', 'kind': 'block', 'p': 'global'},
           {'whitelist': (0, 1)}, 'a global rule blocks spam.example')
    follows(lambda x: isinstance(x, str) and x.startswith('REJECT'), 'the global block is in force',
            sender='x@spam.example', recipient=KID)
    r = get('p=global')
    h.ok('spam.example' in r.text, 'the global rules page lists it')
    change({'do': 'rule-rm', 'rcpt': '', 'sender': 'spam.example', 'p': 'global'},
           {'whitelist': (1, 0)}, 'remove the global rule')

    # The pending queue: strangers recorded by guardlistd.
    strangers = ['alice@pen.example', 'bob@pals.example', 'carl@pest.example', 'dora@pile.example']
    for s in strangers:
        h.ok(h.is_defer(h.query(d.port, sender=s, recipient=KID)), 'guardlistd holds off %s' % s)
    good, rows, _ = h.poll_until(lambda: db.sql("SELECT id, sender FROM challenges WHERE status = 'pending' "
                                                "AND recipient = '%s' AND sender IN (%s) ORDER BY id"
                                                % (KID, ', '.join(h.sql_str(x) for x in strangers))),
                                 lambda rows: len(rows) == len(strangers), 10)
    h.ok(good, 'four challenges recorded', repr(rows))
    ids = {s: i for i, s in rows}
    r = get('p=pending')
    h.ok(all(s in r.text for s in strangers), 'the pending page lists the four strangers')
    # The sender check (spf_result, which guardlistd records: written with
    # SQL here) in the words of the guardian's email; only a pass is verified.
    spf = {'alice@pen.example': ('pass', 'verified'), 'bob@pals.example': ('none', 'not verified'),
           'carl@pest.example': ('neutral', 'not verified'), 'dora@pile.example': (None, 'not checked')}
    for s, (v, _) in spf.items():
        db.sql('UPDATE challenges SET spf_result = %s WHERE id = %s' % ('NULL' if v is None else h.sql_str(v), ids[s]))
    r = get('p=pending')
    for s, (v, word) in spf.items():
        row = re.search(r'<tr><td data-label="Sender">%s</td>.*?</tr>' % re.escape(s), r.text, re.S)
        h.ok(row and '<td data-label="Sender check">%s</td>' % word in row.group(0)
             and len(re.findall(r'(?<!not )verified', row.group(0))) == (1 if v == 'pass' else 0),
             'the pending page: spf_result %s reads "%s" in the Sender check column' % (v or 'NULL', word),
             row.group(0) if row else r.text[-2000:])
    h.ok('<th>Sender check</th>' in r.text and 'not checked means guardlist did not check' in r.text,
         'the column is headed "Sender check" and the page says what its words mean', r.text[-3000:])
    # Who asked (issue 21): a sender who wrote, or the child asking to write to a new contact.
    db.sql("UPDATE challenges SET direction = 'out' WHERE id = %s" % ids['dora@pile.example'])
    r = get('p=pending')
    rows = {s: re.search(r'<tr><td data-label="Sender">%s</td>.*?</tr>' % re.escape(s), r.text, re.S)
            for s in ('alice@pen.example', 'dora@pile.example')}
    h.ok(rows['alice@pen.example'] and '<td data-label="Request" class="text">alice@pen.example wrote to %s</td>'
         % KID in rows['alice@pen.example'].group(0), 'the pending page: "alice wrote to kid"',
         rows['alice@pen.example'] and rows['alice@pen.example'].group(0))
    dora = rows['dora@pile.example'].group(0) if rows['dora@pile.example'] else ''
    h.ok('<td data-label="Request" class="text">%s wants to write to dora@pile.example</td>' % KID in dora
         and '>Allow contact<' in dora and '<td data-label="Sender check"></td>' in dora
         and '<th>Request</th>' in r.text,
         'the pending page: the child\'s own request reads "kid wants to write to dora", Allow contact, no sender check',
         dora)
    db.sql("UPDATE challenges SET direction = 'in' WHERE id = %s" % ids['dora@pile.example'])
    for s, how, expect_rules, reply in (
            ('alice@pen.example', 'approve', (0, 1), lambda x: x == 'DUNNO'),
            ('bob@pals.example', 'approve-domain', (0, 1), lambda x: x == 'DUNNO'),
            ('carl@pest.example', 'deny', None, lambda x: isinstance(x, str) and x.startswith('REJECT')),
            ('dora@pile.example', 'block', (0, 1), lambda x: isinstance(x, str) and x.startswith('REJECT'))):
        expect = {'challenges': (1, 1)}
        if expect_rules:
            expect['sender_rules'] = expect_rules
        change({'do': 'decide', 'id': ids[s], 'how': how, 'p': 'pending'}, expect, '%s %s' % (how, s))
        follows(reply, 'after %s, %s gets its answer' % (how, s), sender=s, recipient=KID)
    st = db.sql("SELECT sender, status, decided_by FROM challenges WHERE recipient = '%s' AND sender IN (%s) "
                "ORDER BY id" % (KID, ', '.join(h.sql_str(x) for x in strangers)))
    h.ok([r[1] for r in st] == ['approved', 'approved', 'denied', 'denied'] and all(r[2] == 'web:admin' for r in st),
         'the challenges are closed by web:admin', repr(st))
    r = change({'do': 'decide', 'id': ids['alice@pen.example'], 'how': 'approve', 'p': 'pending'}, {},
               'deciding a decided challenge again', status=409)
    h.ok('approved' in r.text, 'it says the challenge was already decided', r.text[-600:])

    # ------------------------------------------------------------ form tokens

    fields = {'do': 'protect', 'key': 'csrf@family.test', 'p': 'protected'}
    now = int(time.time())

    def forged(user, ts):
        mac = hmac.new(key, ('guardlist-web form\n%s\n%d' % (user, ts)).encode(), hashlib.sha256).hexdigest()
        return '%d.%s' % (ts, mac)
    t_admin = token('admin')
    for what, user, csrf in (('no token', 'admin', None),
                             ('an empty token', 'admin', ''),
                             ('a wrong MAC', 'admin', t_admin[:-4] + ('0000' if not t_admin.endswith('0000') else '1111')),
                             ('the token of another user', PARENT, t_admin),
                             ('a token 13 hours old', 'admin', forged('admin', now - 13 * 3600)),
                             ('a token from the future', 'admin', forged('admin', now + 3600)),
                             ('garbage', 'admin', '<script>')):
        before = snap()
        r = post(fields, user=user, csrf=csrf if csrf is not None else False)
        h.ok(r.status == 403 and snap() == before, 'POST with %s: 403, nothing changed' % what,
             'status %d' % r.status)
    r = post(fields, csrf=forged('admin', now - 3600))
    h.is_(r.status, 200, 'a token made with the key an hour ago works (the test computes tokens right)')
    db.sql("DELETE FROM protected_users WHERE recipient = 'csrf@family.test'")

    # ------------------------------------------------------------ a guardian's scope

    h.ok(h.is_defer(h.query(d.port, sender='eve@scope.example', recipient=KID2)), 'a stranger to %s' % KID2)
    h.ok(h.is_defer(h.query(d.port, sender='fay@scope.example', recipient=KID)), 'a stranger to %s' % KID)
    good, _, _ = h.poll_until(lambda: db.value("SELECT COUNT(*) FROM challenges WHERE sender LIKE '%%@scope.example'"),
                              lambda n: n == '2', 10)
    h.ok(good, 'both recorded')
    eve = db.value("SELECT id FROM challenges WHERE sender = 'eve@scope.example'")
    fay = db.value("SELECT id FROM challenges WHERE sender = 'fay@scope.example'")
    r = get('p=protected', user=PARENT)
    h.ok(r.status == 200 and KID in r.text and KID2 not in r.text and KID3 not in r.text,
         'a guardian sees only the kid they guard', r.text[-1500:])
    h.ok('do" value="protect"' not in r.text and 'Stop protecting' not in r.text,
         'and no form to protect or unprotect')
    r = get('p=pending', user=PARENT)
    h.ok('fay@scope.example' in r.text and 'eve@scope.example' not in r.text,
         'the pending page shows only their kid\'s senders')
    r = get('p=search&q=scope.example', user=PARENT)
    h.ok('fay@scope.example' in r.text and 'eve@scope.example' not in r.text, 'so does the search')
    r = get('p=search&q=FAY%40Scope.Example', user=PARENT)
    h.ok('fay@scope.example' in r.text, 'the search folds its text as keys are folded: FAY@Scope.Example finds '
         'fay@scope.example (key columns compare bytes)', r.text[-1500:])
    r = get('p=global', user=PARENT)
    h.is_(r.status, 403, 'the global rules page: 403 for a guardian')
    r = get('p=audit', user=PARENT)
    h.ok(r.status == 200 and 'web:admin' not in r.text, 'the audit page shows a guardian only their own changes')
    for what, f in (('protect an address', {'do': 'protect', 'key': 'mine@family.test'}),
                    ('unprotect another kid', {'do': 'unprotect', 'key': KID2}),
                    ('add themselves as guardian of another kid', {'do': 'guardian-add', 'key': KID2, 'email': PARENT}),
                    ('a rule for another kid', {'do': 'rule-set', 'rcpt': KID2, 'sender': 'x@y.example', 'kind': 'allow'}),
                    ('a global rule', {'do': 'rule-set', 'rcpt': '', 'sender': 'x@y.example', 'kind': 'allow'}),
                    ('remove another kid\'s rule', {'do': 'rule-rm', 'rcpt': KID2, 'sender': 'x@y.example'}),
                    ('approve another kid\'s sender', {'do': 'decide', 'id': eve, 'how': 'approve'})):
        change(dict(f, p='protected'), {}, 'a guardian tries to %s' % what, user=PARENT, status=403)
    change({'do': 'decide', 'id': fay, 'how': 'approve', 'p': 'pending'}, {'challenges': (1, 1), 'sender_rules': (0, 1)},
           'the guardian approves their own kid\'s sender', user=PARENT)
    follows(lambda x: x == 'DUNNO', 'the approved sender gets through', sender='fay@scope.example', recipient=KID)

    # A bounce (null sender <>) challenge: allowing it lets every bounce
    # message through, so only an admin decides it, told so next to the buttons.
    db.sql("INSERT INTO challenges (sender, recipient, protected_key) VALUES ('<>', %s, %s)"
           % (h.sql_str(KID), h.sql_str(KID)))
    bounce = db.value("SELECT id FROM challenges WHERE sender = '<>' AND status = 'pending'")
    row_rx = re.compile(r'<tr><td data-label="Sender">&lt;&gt;</td>.*?</tr>', re.S)
    r = get('p=pending', user=PARENT)
    row = row_rx.search(r.text)
    h.ok(row and 'only your mail administrator can decide it' in row.group(0) and '<form' not in row.group(0)
         and '<button' not in row.group(0), 'a guardian sees the bounce challenge without buttons, told who decides',
         row.group(0) if row else r.text[-2000:])
    for how in ('approve', 'deny', 'block'):
        r = change({'do': 'decide', 'id': bounce, 'how': how, 'p': 'pending'}, {},
                   'a guardian tries to %s the bounce challenge' % how, user=PARENT, status=403)
        h.ok('only an administrator can decide it' in r.text, 'the refusal says only an administrator decides it',
             r.text[-1500:])
    r = get('p=pending')
    row = row_rx.search(r.text)
    h.ok(row and 'value="approve"' in row.group(0)
         and 'allowing &lt;&gt; lets every bounce message through to this recipient, from anyone' in row.group(0),
         'the admin sees the buttons and, next to them, that allowing <> lets every bounce message through',
         row.group(0) if row else r.text[-2000:])
    r = change({'do': 'decide', 'id': bounce, 'how': 'approve', 'p': 'pending'},
               {'challenges': (1, 1), 'sender_rules': (0, 1)}, 'the admin approves the bounce challenge')
    h.ok('every bounce message is let through, from anyone' in r.text, 'the confirmation says what that means',
         r.text[-1500:])
    follows(lambda x: x == 'DUNNO', 'a bounce to %s gets through' % KID, sender='', recipient=KID)
    db.sql("DELETE FROM sender_rules WHERE sender = '<>'")
    change({'do': 'rule-set', 'rcpt': KID, 'sender': 'grandma@example.org', 'kind': 'allow', 'p': 'rules'},
           {'sender_rules': (0, 1)}, 'the guardian allows grandma for their kid', user=PARENT)
    r = get('p=rules', user=PARENT)
    h.ok('<select name="rcpt"' in r.text and KID in r.text and KID2 not in r.text,
         'the guardian\'s add-rule form offers only their kid')

    # Keys are compared byte for byte: MariaDB's utf8mb4_general_ci takes
    # "kiß" for "kis" and "änna" for "anna", and the stored form of "kiß"
    # is "kiss", another family's child.
    rc, out, err = h.cli(admin_cli, 'allow', 'friend@example.org', '--to', 'kiss@family.test')
    h.is_(rc, 0, 'grandma-style rule for kiss@family.test (another family)') or h.diag(out, err)
    db.sql("INSERT INTO sender_rules (recipient, sender, action, created_by) "
           "VALUES ('\u00e4nna@family.test', 'pal@example.org', 'OK', 'raw sql')")
    change({'do': 'rule-set', 'rcpt': 'ki\u00df@family.test', 'sender': 'evil@example.org', 'kind': 'allow',
            'p': 'rules'}, {}, 'the guardian of kis@ writes a rule for ki\u00df@ (stored as kiss@)', user=OTHER,
           status=403)
    change({'do': 'rule-rm', 'rcpt': 'ki\u00df@family.test', 'sender': 'friend@example.org', 'p': 'rules'}, {},
           'the guardian of kis@ removes kiss@\'s rule through ki\u00df@', user=OTHER, status=403)
    change({'do': 'rule-rm', 'rcpt': '\u00e4nna@family.test', 'sender': 'pal@example.org', 'p': 'rules'}, {},
           'the guardian of anna@ removes \u00e4nna@\'s rule', user=OTHER, status=403)
    r = get('p=rules', user=OTHER)
    h.ok('pal@example.org' not in r.text and 'friend@example.org' not in r.text,
         'the guardian of anna@ and kis@ sees neither \u00e4nna@\'s nor kiss@\'s rules')
    r = get('p=search&q=example.org', user=OTHER)
    h.ok('pal@example.org' not in r.text and 'friend@example.org' not in r.text, 'nor finds them by searching')
    db.sql("DELETE FROM sender_rules WHERE created_by = 'raw sql'")

    # A guardian's actions act on their child's copy only.
    for action in ('DISCARD', 'REDIRECT me@evil.test', 'FILTER smtp:[192.0.2.1]', 'HOLD', 'BCC me@evil.test',
                   'PREPEND X-Evil: 1'):
        change({'do': 'rule-set', 'rcpt': KID, 'sender': 'com', 'kind': 'action', 'action': action, 'p': 'rules'},
               {}, 'a guardian may not set %r (it acts on the whole message)' % action, user=PARENT, status=403)
    change({'do': 'rule-set', 'rcpt': KID, 'sender': 'pushy@example.net', 'kind': 'action',
            'action': 'REJECT Please stop writing', 'p': 'rules'}, {'sender_rules': (0, 1)},
           'a guardian may set REJECT with a text', user=PARENT)
    change({'do': 'rule-set', 'rcpt': KID, 'sender': 'pushy@example.net', 'kind': 'action',
            'action': '550 5.7.1 No', 'p': 'rules'}, {'sender_rules': (1, 1)}, 'and a 5NN code', user=PARENT)
    change({'do': 'rule-set', 'rcpt': KID, 'sender': 'quarantine.example', 'kind': 'action', 'action': 'HOLD',
            'p': 'rules'}, {'sender_rules': (0, 1)}, 'an admin may set HOLD')

    # ------------------------------------------------------------ hostile input

    hostile = '<script>alert(1)</script>@evil.test'
    change({'do': 'protect', 'key': hostile, 'p': 'protected'}, {}, 'markup as an address is refused', status=400)
    change({'do': 'rule-set', 'rcpt': KID, 'sender': '"><img src=x onerror=alert(1)>@evil.test', 'kind': 'allow',
            'p': 'rules'}, {}, 'markup as a sender is refused', status=400)
    change({'do': 'rule-set', 'rcpt': KID, 'sender': 'ok@evil.test', 'kind': 'action', 'action': 'OK\r\nREJECT',
            'p': 'rules'}, {}, 'an action with CR/LF is refused', status=400)
    change({'do': 'rule-set', 'rcpt': KID, 'sender': 'ok@evil.test', 'kind': 'action', 'action': 'PERMIT_ALL',
            'p': 'rules'}, {}, 'an unknown action is refused', status=400)
    r = get('p=search&q=' + urllib.parse.quote(hostile))
    h.ok(r.status == 200 and '<script>alert' not in r.text and '&lt;script&gt;alert(1)&lt;/script&gt;' in r.text,
         'markup in the search is shown escaped', r.text[:800])
    # A rule with markup in it written by raw SQL (the article's way) is shown escaped.
    db.sql("INSERT INTO whitelist (sender, action) VALUES ('<b>bold</b>@raw.test', 'REJECT <i>x</i>')")
    r = get('p=global')
    h.ok('<b>bold</b>' not in r.text and '&lt;b&gt;bold&lt;/b&gt;@raw.test' in r.text
         and 'REJECT &lt;i&gt;x&lt;/i&gt;' in r.text, 'markup stored by raw SQL is shown escaped')
    db.sql("DELETE FROM whitelist WHERE sender = '<b>bold</b>@raw.test'")
    before = snap()
    for what, kw, status in (
            ('a 5,000-byte body', {'raw': 'do=protect&key=' + 'a' * 4980 + '%40x.test'}, 413),
            ('a 600-byte field', {'raw': None, 'fields': {'do': 'protect', 'key': 'a' * 600 + '@x.test'}}, 400),
            ('an unknown field', {'raw': None, 'fields': {'do': 'protect', 'key': 'k@x.test', 'admin': '1'}}, 400),
            ('a repeated field', {'raw': 'do=protect&key=a%40x.test&key=b%40x.test'}, 400),
            ('a NUL byte', {'raw': 'do=protect&key=a%00%40x.test'}, 400),
            ('another content type', {'raw': None, 'fields': {'do': 'protect', 'key': 'k@x.test'},
                                      'ctype': 'text/plain'}, 415)):
        fields = kw.get('fields') or {}
        raw = kw.get('raw')
        if raw is not None:
            raw += '&csrf=' + urllib.parse.quote(token())
        r = post(fields, raw=raw, ctype=kw.get('ctype', FORM))
        h.is_(r.status, status, 'POST with %s: %d' % (what, status))
    h.ok(snap() == before, 'none of those changed anything')
    r = get('p=rules&q=' + 'x' * 1100)
    h.is_(r.status, 414, 'a 1,100-byte query: 414')
    r = get('p=rules&q=' + 'x' * 150)
    h.is_(r.status, 400, 'a 150-character search: 400')
    r = get('p=rules&after=1%20OR%201=1')
    h.ok(r.status == 200, 'a cursor that is not a number is ignored (200)')
    r = www.request('PUT', '/admin', body='x', headers={'Authorization': auth('admin'), 'Content-Type': FORM})
    h.ok(r.status == 405 and 'POST' in (r.header('Allow') or ''), 'PUT: 405 with Allow', r.status)

    # ------------------------------------------------------------ paging keeps an odd search

    odd = 'a&b+c%d#e='
    db.sql("INSERT INTO sender_rules (recipient, sender, action, created_by) SELECT 'odd@family.test', "
           "CONCAT(%s, seq, '@odd.test'), 'OK', 'test' FROM seq_0_to_59" % h.sql_str(odd))
    r = get('p=rules&q=' + urllib.parse.quote(odd, safe=''))
    first = re.findall(r'<td data-label="Sender">([^<]*)</td>', r.text)
    m = re.search(r'rel="next" href="\?([^"]+)"', r.text)
    h.ok(len(first) == 50 and m, 'a search for %r: 50 rows and a next link' % odd, len(first))
    if m:
        r = get(m.group(1).replace('&amp;', '&'))
        rest = re.findall(r'<td data-label="Sender">([^<]*)</td>', r.text)
        h.ok(r.status == 200 and len(rest) == 10 and not set(rest) & set(first)
             and all(x.startswith('a&amp;b+c%d#e=') for x in rest),
             'the next link keeps the search (%%-encoded): the other 10 rows' , r.status, rest[:3])
    db.sql("DELETE FROM sender_rules WHERE recipient = 'odd@family.test'")

    # ------------------------------------------------------------ paging over 100,000 rules

    db.sql("INSERT INTO sender_rules (recipient, sender, action, created_by) SELECT "
           "CONCAT('pk', seq %% 100, '@family.test'), CONCAT('p', seq, '@many.test'), 'OK', 'test' "
           "FROM seq_0_to_%d" % (RULE_ROWS - 1))
    seen, q, pages, times = [], 'p=rules', 0, []
    while pages < 4:
        t0 = time.monotonic()
        r = get(q)
        times.append(time.monotonic() - t0)
        got = re.findall(r'<td data-label="Sender">([^<]*)</td>', r.text)
        seen += got
        pages += 1
        m = re.search(r'rel="next" href="\?([^"]+)"', r.text)
        if not m:
            break
        q = m.group(1).replace('&amp;', '&')
    h.ok(pages == 4 and len(seen) == 200 and len(set(seen)) == 200, 'four pages of 50 rules, none twice',
         'pages %d, rows %d, distinct %d' % (pages, len(seen), len(set(seen))))
    last_id = int(db.value('SELECT MAX(id) FROM sender_rules'))
    t0 = time.monotonic()
    r = get('p=rules&after=%d' % (last_id - 10))
    times.append(time.monotonic() - t0)
    rows = re.findall(r'<td data-label="Sender">([^<]*)</td>', r.text)
    h.ok(len(rows) == 10 and 'rel="next"' not in r.text, 'the last page (after id %d) has 10 rows and no next link'
         % (last_id - 10), len(rows))
    t0 = time.monotonic()
    r = get('p=search&q=p99999%40many')
    times.append(time.monotonic() - t0)
    h.ok('p99999@many.test' in r.text, 'the search finds one rule among 100,000')
    h.diag('with %d rules: page times %s ms' % (RULE_ROWS, ', '.join('%.0f' % (t * 1000) for t in times)))

    # ------------------------------------------------------------ the account

    grants = db.sql("SELECT TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES "
                    "WHERE GRANTEE = \"'guardlist_web'@'localhost'\" UNION "
                    "SELECT TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.COLUMN_PRIVILEGES "
                    "WHERE GRANTEE = \"'guardlist_web'@'localhost'\"", db=None)
    tables = {t for t, _ in grants}
    glob = db.sql("SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES "
                  "WHERE GRANTEE = \"'guardlist_web'@'localhost'\" AND PRIVILEGE_TYPE <> 'USAGE'", db=None)
    h.ok(tables == {'protected_users', 'whitelist', 'guardians', 'sender_rules', 'challenges', 'audit_log',
                    'accounts'}
         and not glob, 'guardlist_web has rights on the rule, guardian, challenge, login mapping and audit tables '
         'only', repr(sorted(tables)), repr(glob))
    h.is_(sorted(p for t, p in grants if t == 'accounts'), ['SELECT'],
          'and only reads the login mappings (the import loads the rules with them)')
    h.ok(('audit_log', 'UPDATE') not in {tuple(g) for g in grants}
         and ('audit_log', 'DELETE') not in {tuple(g) for g in grants}, 'and cannot rewrite the audit log')

    log = www.log(0)
    infos = [ln for ln in log.splitlines() if 'guardlist-web: info' in ln]
    h.ok(len(infos) >= 15, 'the CGI logged its changes to the web server\'s error log (%d lines)' % len(infos))
    marks = www.sanitizer_report()
    h.ok(not marks, 'the CGI\'s stderr has no sanitizer report', 'found: %r' % marks, www.log(3000))
    www.stop()
    d.stop()


h.run(main, timeout=300)
