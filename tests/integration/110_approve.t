#!/usr/bin/python3
"""guardlist-approve, the approval page, as a CGI under a real lighttpd on a
loopback port, with a real MariaDB and the real guardlistd.

The CGI runs as lighttpd's user (www-data when the test runs as root) with the
least-privilege database account guardlist_approver made by `guardlist db
init`.  Challenges are made by guardlistd (an unknown sender to a protected
child) or, for senders guardlistd would never record (markup, the null
sender), by SQL.  Tokens: the test picks 32 random hex characters per link
and stores them the way guardlist-notify does, with SQL: a notifications row
for the guardian with token_sha256 = UNHEX(SHA2(token, 256)),
token_expires_at = NOW() + 7 days; old-style links (from before per-guardian
tokens) on the challenge row itself.

Checked: GET and HEAD show and change nothing (tables compared before and
after); every answer, errors too, has the security headers (CSP,
X-Frame-Options, no-store, no-referrer, nosniff) and is an HTML5 page with a
viewport, no external resource and no internals (SQL, file names, stack
traces); values are HTML-escaped; the sender check (spf_result pass, none,
neutral, NULL, set with SQL) is said in words, only a pass called verified; POST allow / allow-domain / block write the
rule, close the challenge and write one audit row, and guardlistd follows
within 2 s; a decided token gives 410 and changes nothing; expired 410,
unknown 404, malformed 400, a long query 414, an oversized body 413, a wrong
content type 415, other methods 405 with Allow; two POSTs racing on one token
decide once; a failure inside the transaction leaves nothing behind; a link
works only while its guardian still guards the key (removed, removed
between GET and POST, unprotected: 410 and nothing written; re-added: it
works again; an old-style link only while everyone it was mailed to still
does); a null-sender (<>) challenge is explained and never decided by a
link (403), only by an admin (`guardlist approve`, with a warning); the
token is looked up as guardlist_approver (MariaDB's general log); the CGI's
stderr (lighttpd's error log) has the expected lines and no sanitizer report."""
import html.parser
import os
import re
import secrets
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
GUARDIAN = 'parent@family.test'
GRAN = 'gran@family.test'           # a second guardian, for the removal tests
BY_LINK = 'approval-link:' + GUARDIAN
FORM = 'application/x-www-form-urlencoded'
FOLLOW_TIMEOUT = 2.0        # README: a rule change is in force within about 2 s
CSP_PARTS = ("default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'")

# Words that must never reach a page: SQL, the schema's names, C file
# positions, program diagnostics, crashes.
INTERNALS = [
    (re.compile(r'\b(select|insert|update|delete)\b[^<]{0,200}\b(from|into|set|where)\b', re.I), 'SQL statement'),
    (re.compile(r'\b(sql|mysql|mariadb|errno|sqlstate)\b', re.I), 'database words'),
    (re.compile(r'token_sha256|sender_rules|audit_log|protected_key|is_open|challenges\b', re.I), 'schema names'),
    (re.compile(r'denied for user|using password', re.I), 'database login error'),
    (re.compile(r'\b[\w/.-]+\.(c|h|py):\d+'), 'source position'),
    (re.compile(r'guardlist-approve:|\b(error|fatal|warning):', re.I), 'program diagnostic'),
    (re.compile(r'traceback|stack trace|segmentation|core dumped|sanitizer|abort', re.I), 'crash text'),
]
# Any URL with a scheme or a protocol-relative one in an attribute or CSS.
EXTERNAL = re.compile(r'''(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)'''
                      r'''|url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)|@import''', re.I)


class TagBalance(html.parser.HTMLParser):
    """Collects structure problems: an end tag that closes nothing open, an
    element left open, more or fewer than one html/head/body/title/h1."""
    VOID = {'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr'}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.problems, self.count = [], [], {}

    def handle_starttag(self, tag, attrs):
        self.count[tag] = self.count.get(tag, 0) + 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append('</%s> while %r are open' % (tag, self.stack))
            if tag in self.stack:
                del self.stack[self.stack.index(tag):]
        else:
            self.stack.pop()

    def check(self, text):
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append('left open: %r' % self.stack)
        for tag in ('html', 'head', 'body', 'title', 'h1'):
            if self.count.get(tag, 0) != 1:
                self.problems.append('%d <%s> elements' % (self.count.get(tag, 0), tag))
        return self.problems


def main():
    db = h.start_db()
    admin = h.cli_config(db)
    secrets_dir = web.init_accounts(db)
    rc, out, err = h.cli(admin, 'protect', KID, '--guardian', GUARDIAN)
    h.is_(rc, 0, 'guardlist protect %s' % KID) or h.diag(out, err)
    d = h.start_daemon(db)

    conf = web.approver_config(db, secrets_dir)
    www = web.Lighttpd(web.approve_binary(), {'GUARDLIST_CONFIG': conf})
    secs = www.start()
    h.diag('guardlist-approve under test: %s (copied to %s); lighttpd up in %.2fs on port %d'
           % (web.approve_binary(), www.cgi, secs, www.port))
    h.ok('password' not in open(conf).read().replace('password_file', ''),
         'the approver config names a password file, holds no password')

    timings = {}

    # ------------------------------------------------------------ helpers

    def challenge(sender, times=1):
        """guardlistd records SENDER -> KID (TIMES attempts); returns its row."""
        for _ in range(times):
            r = h.query(d.port, sender=sender, recipient=KID)
            if not h.is_defer(r):
                raise RuntimeError('expected DEFER_IF_PERMIT for %s, got %r' % (sender, r))
        good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=sender, recipient=KID),
                                     lambda rows: len(rows) == 1 and rows[0]['attempts'] == str(times), 10)
        if not good:
            raise RuntimeError('challenge for %s not recorded: %r' % (sender, rows))
        return rows[0]

    def sql_challenge(sender, recipient=KID, key=KID, attempts=1, spf=None):
        db.sql("INSERT INTO challenges (sender, recipient, protected_key, client_address, client_name, attempts, "
               "spf_result) VALUES (%s, %s, %s, '192.0.2.66', 'mx.evil.example', %d, %s)"
               % (h.sql_str(sender), h.sql_str(recipient), h.sql_str(key), attempts,
                  'NULL' if spf is None else h.sql_str(spf)))
        return h.challenges(db, sender=sender, recipient=recipient)[0]

    def give_token(cid, expires='NOW() + INTERVAL 7 DAY', guardian=GUARDIAN):
        """GUARDIAN's own link to challenge CID, as guardlist-notify records it."""
        tok = secrets.token_hex(16)
        db.sql("INSERT INTO notifications (challenge_id, guardian, kind, message_id, token_sha256, token_expires_at) "
               "VALUES (%s, %s, 'single', '<%s@test>', UNHEX(SHA2('%s', 256)), %s)"
               % (cid, h.sql_str(guardian), tok, tok, expires))
        return tok

    def old_token(cid, mailed_to=()):
        """An old-style link: the token on the challenge row, and a notifications
        row without a token for each guardian in MAILED_TO (what the notifier
        recorded before per-guardian links)."""
        tok = secrets.token_hex(16)
        db.sql("UPDATE challenges SET token_sha256 = UNHEX(SHA2('%s', 256)), "
               "token_expires_at = NOW() + INTERVAL 7 DAY WHERE id = %s" % (tok, cid))
        for g in mailed_to:
            db.sql("INSERT INTO notifications (challenge_id, guardian, kind, message_id) "
                   "VALUES (%s, %s, 'single', '<old-%s@test>')" % (cid, h.sql_str(g), tok))
        return tok

    def guardian_cli(*args):
        rc, out, err = h.cli(admin, *args)
        h.is_(rc, 0, 'guardlist %s' % ' '.join(args)) or h.diag(out, err)

    def status_of(cid):
        return db.value('SELECT status FROM challenges WHERE id = %s' % cid)

    def get(query, method='GET'):
        return www.request(method, '/approve' + ('?' + query if query is not None else ''))

    def post(body, ctype=FORM, headers=None):
        hd = {'Content-Type': ctype}
        hd.update(headers or {})
        return www.request('POST', '/approve', body=body, headers=hd)

    def page_ok(r, status, desc, words=(), head=False):
        """Three tests on response R: STATUS; the security headers; the page
        (HTML5, viewport, no external resource, no internals, WORDS present)."""
        h.is_(r.status, status, '%s: status %d' % (desc, status)) or h.diag(r.text[:1500], www.log(1500))
        csp = r.header('Content-Security-Policy') or ''
        bad = []
        if not all(p in csp for p in CSP_PARTS):
            bad.append('Content-Security-Policy %r' % csp)
        for name, want in (('X-Frame-Options', 'DENY'), ('Cache-Control', 'no-store'),
                           ('Referrer-Policy', 'no-referrer'), ('X-Content-Type-Options', 'nosniff'),
                           ('Content-Type', 'text/html; charset=utf-8')):
            if (r.header(name) or '').lower() != want.lower() or r.header_count(name) != 1:
                bad.append('%s: %r (want exactly %r)' % (name, r.header(name), want))
        h.ok(not bad, '%s: security headers (CSP, X-Frame-Options, no-store, no-referrer, nosniff)' % desc,
             *(bad + ['headers: %r' % (r.headers,)]))
        if head:
            h.is_(r.body, b'', '%s: HEAD has no body' % desc)
            return
        text = r.text
        problems = []
        if not text.lstrip().startswith('<!DOCTYPE html>'):
            problems.append('does not start with <!DOCTYPE html>')
        for need in ('<html lang="', '<meta charset="utf-8">',
                     '<meta name="viewport" content="width=device-width, initial-scale=1">', '<title>', '</html>'):
            if need not in text:
                problems.append('no %s' % need)
        problems += TagBalance().check(text)
        m = EXTERNAL.search(text)
        if m:
            problems.append('external resource: %r' % text[max(0, m.start() - 40):m.end() + 60])
        if re.search(r'<script|<iframe|<object|<embed|<link\b|<img\b', text, re.I):
            problems.append('script, frame, object, link or image element')
        for rx, what in INTERNALS:
            m = rx.search(text)
            if m:
                problems.append('%s: %r' % (what, text[max(0, m.start() - 60):m.end() + 60]))
        for w in words:
            if w not in text:
                problems.append('missing %r' % w)
        h.ok(not problems, '%s: an HTML5 page, no external resource, no internals%s'
             % (desc, (', says ' + ', '.join(repr(w) for w in words)) if words else ''),
             *(problems + ['page:', text[:3000]]))

    def unchanged(before, desc):
        after = h.snapshot(db)
        diff = table_diff(before, after)
        h.ok(not diff, '%s: nothing in the database changed' % desc, *diff)
        return after

    def table_diff(a, b):
        out = []
        for t in sorted(set(a) | set(b)):
            ra, rb = a.get(t, []), b.get(t, [])
            if ra != rb:
                gone = [r for r in ra if r not in rb]
                new = [r for r in rb if r not in ra]
                out.append('%s: -%r +%r' % (t, gone[:5], new[:5]))
        return out

    def audit_rows(cid):
        return db.sql("SELECT actor, action, detail FROM audit_log WHERE detail LIKE 'challenge=%s %%' ORDER BY id"
                      % cid)

    def rule(recipient, sender):
        return db.sql('SELECT action, created_by FROM sender_rules WHERE recipient = %s AND sender = %s'
                      % (h.sql_str(recipient), h.sql_str(sender)))

    def daemon_follows(sender, want, desc):
        t0 = time.monotonic()
        good, got, secs = h.wait_reply(d.port, lambda r: r == want, FOLLOW_TIMEOUT + 1,
                                       sender=sender, recipient=KID)
        timings[desc] = secs
        h.ok(good and secs <= FOLLOW_TIMEOUT, '%s: guardlistd answers %r within %.0f s (took %.2f s)'
             % (desc, want, FOLLOW_TIMEOUT, time.monotonic() - t0),
             'last reply: %r after %.2f s' % (got, secs), d.log()[-1500:])

    def decided_ok(r, desc, choice, cid, sender, rule_key, action, changed_before, words, by=BY_LINK):
        """A POST that decided: the page, the rule, the challenge, one audit row
        (all naming BY), and nothing else changed."""
        page_ok(r, 200, desc, words)
        after = h.snapshot(db)
        h.is_(rule(KID, rule_key), [[action, by]],
              '%s: sender_rules row (%s, %s, %s) by %s' % (desc, KID, rule_key, action, by))
        row = db.sql('SELECT status, is_open, decided_by, decided_at IS NOT NULL FROM challenges WHERE id = %s' % cid)
        want_status = 'denied' if choice == 'block' else 'approved'
        h.is_(row, [[want_status, None, by, '1']],
              '%s: challenge %s is %s, closed, decided by %s' % (desc, cid, want_status, by))
        verb = 'block' if choice == 'block' else 'approve'
        rows = audit_rows(cid)
        h.ok(len(rows) == 1 and rows[0][0] == by and rows[0][1] == verb
             and ('rule=%s/%s %s' % (KID, rule_key, action)) in rows[0][2],
             '%s: one audit_log row (%s, %s, rule=%s/%s %s)' % (desc, by, verb, KID, rule_key, action),
             'audit rows: %r' % (rows,))
        diff = table_diff(changed_before, after)
        tables = sorted(x.split(':')[0] for x in diff)
        h.ok(set(tables) <= {'sender_rules', 'challenges', 'audit_log', 'rule_generation'}
             and len(after['sender_rules']) == len(changed_before['sender_rules']) + 1
             and len(after['audit_log']) == len(changed_before['audit_log']) + 1
             and len(after['challenges']) == len(changed_before['challenges']),
             '%s: only the rule, the challenge, one audit row (and the change counter) changed' % desc, *diff)
        return after

    # -------------------------------------------------- the challenges

    alice = challenge('alice@example.net', times=3)
    bob = challenge('bob@domain.example')
    spam = challenge('spammer@bad.example')
    late = challenge('late@example.org')
    frank = challenge('frank@example.com')
    racer = challenge('racer@example.com')
    markup_sender = '"\'><b>x</b>@<i>evil</i>.example'
    evil = sql_challenge(markup_sender, attempts=2)
    null = sql_challenge('<>')
    tok = {c['sender']: give_token(c['id']) for c in (alice, bob, spam, frank, racer, evil, null)}
    tok[late['sender']] = give_token(late['id'], expires='NOW() - INTERVAL 1 MINUTE')
    t_alice = tok['alice@example.net']

    # -------------------------------------------- GET and HEAD only show

    before = h.snapshot(db)
    r = get('t=' + t_alice)
    page_ok(r, 200, 'GET a pending challenge',
            ['alice@example.net', KID, '<dt>Attempts</dt><dd>3</dd>', 'Allow this sender',
             'Allow everyone at example.net and its subdomains', 'Block this sender'])
    body = r.text
    h.ok(re.search(r'<form method="post" action="/approve">', body)
         and '<input type="hidden" name="t" value="%s">' % t_alice in body
         and '<button class="allow" type="submit" name="choice" value="allow">Allow this sender</button>' in body
         and '<button type="submit" name="choice" value="allow-domain">Allow everyone at example.net and its subdomains</button>' in body
         and '<button class="block" type="submit" name="choice" value="block">Block this sender</button>' in body,
         'the page has one POST form to /approve with the token and the three buttons (choice=allow|allow-domain|block)',
         body[:3000])
    h.ok(alice['first_seen'] + ' UTC' in body and alice['last_seen'] + ' UTC' in body,
         'the page shows the first and last attempt (UTC)', 'row: %r' % (alice,), body[:2500])
    rh = get('t=' + t_alice, method='HEAD')
    page_ok(rh, 200, 'HEAD a pending challenge', head=True)
    h.is_([(k, v) for k, v in rh.headers if k.lower() not in ('date', 'content-length')],
          [(k, v) for k, v in r.headers if k.lower() not in ('date', 'content-length')],
          'HEAD answers the same headers as GET')
    t0 = time.monotonic()
    statuses = []
    for _ in range(10):
        statuses.append(get('t=' + t_alice).status)
        statuses.append(get('t=' + t_alice, method='HEAD').status)
    timings['10 GET + 10 HEAD'] = time.monotonic() - t0
    h.is_(statuses, [200] * 20, 'ten GETs and ten HEADs all answer 200')
    unchanged(before, 'after 11 GETs and 11 HEADs')
    h.is_(status_of(alice['id']), 'pending', 'the challenge is still pending after GET and HEAD')
    h.ok(h.is_defer(h.query(d.port, sender='alice@example.net', recipient=KID)),
         'guardlistd still defers the pair after GET and HEAD')
    # guardlistd counts that attempt after it replied: wait for it, or it may
    # land inside the next check's before/after (seen under ASan).
    h.poll_until(lambda: h.challenges(db, sender='alice@example.net', recipient=KID),
                 lambda rows: len(rows) == 1 and rows[0]['attempts'] == '4', 10)
    # a link scanner that adds a choice to the URL decides nothing
    before = h.snapshot(db)
    for q in ('t=%s&choice=allow' % t_alice, 'choice=allow&t=%s' % t_alice):
        page_ok(get(q), 400, 'GET ?%s' % q.replace(t_alice, 'TOKEN'))
    unchanged(before, 'GET with choice=allow')

    # -------------------------------------------------- HTML escaping

    r = get('t=' + tok[markup_sender])
    page_ok(r, 200, 'GET a challenge whose sender holds markup',
            ['&quot;&#39;&gt;&lt;b&gt;x&lt;/b&gt;@&lt;i&gt;evil&lt;/i&gt;.example'])
    # "<i>evil</i>.example" is no domain: no domain rule could be written
    # for it, so no button offers one.
    h.ok('allow-domain' not in r.text, 'no "Allow everyone at" button for a sender whose domain is not one',
         r.text[:3000])
    h.ok('<b>x</b>' not in r.text and '<i>evil</i>' not in r.text and '"\'>' not in r.text,
         'the markup in the sender appears nowhere unescaped', r.text[:3000])

    # ------------------------------------- the sender check (SPF) in words
    # SQL: guardlistd records spf_result from its SPF check (issue 17); here
    # each value is written as it would be.  Only a pass may read
    # "verified"; NULL (nothing checked) says so.
    spf_cases = (('pass', 'Verified: spf-pass.example allows the server this email came from to send its mail.'),
                 ('none', 'Not verified: spf-none.example does not say which servers send its mail, so guardlist '
                          'cannot tell whether this email really came from spf-none.example.'),
                 ('neutral', 'Not verified: spf-neutral.example does not vouch for the server this email came '
                             'from, so guardlist cannot tell whether this email really came from spf-neutral.example.'),
                 (None, 'Not checked: guardlist did not check whether this email really came from spf-null.example.'))
    for spf, words in spf_cases:
        sender = 'someone@spf-%s.example' % (spf or 'null')
        c = sql_challenge(sender, spf=spf)
        r = get('t=' + give_token(c['id']))
        page_ok(r, 200, 'GET a challenge with spf_result %s' % (spf or 'NULL'),
                ['<dt>Sender check</dt><dd>%s</dd>' % words])
        if spf != 'pass':
            h.ok(not re.search(r'(?<!Not )(?<!not )verified', r.text, re.I),
                 'spf_result %s: the page calls nothing verified' % (spf or 'NULL'), r.text[:3000])
    r = get('t=' + tok[markup_sender])
    h.ok('<dd>Not checked: guardlist did not check whether this email really came from '
         '&lt;i&gt;evil&lt;/i&gt;.example.</dd>' in r.text,
         'the sender check names the markup sender\'s domain escaped', r.text[:3000])

    # ------------------------------------------------------ POST allow

    before = h.snapshot(db)
    t0 = time.monotonic()
    r = post('t=%s&choice=allow' % t_alice)
    timings['POST allow'] = time.monotonic() - t0
    decided_ok(r, 'POST choice=allow', 'allow', alice['id'], 'alice@example.net', 'alice@example.net', 'OK',
               before, ['Sender allowed', 'alice@example.net may now send email to %s' % KID,
                        "next retry will be delivered"])
    daemon_follows('alice@example.net', 'DUNNO', 'after allow')

    # the same token again: already decided, nothing changes
    before = h.snapshot(db)
    for choice in ('block', 'allow', 'allow-domain'):
        page_ok(post('t=%s&choice=%s' % (t_alice, choice)), 410, 'POST %s with a decided token' % choice,
                ['already answered', 'alice@example.net is allowed for %s' % KID, 'Nothing was changed'])
    page_ok(get('t=' + t_alice), 410, 'GET with a decided token', ['already answered'])
    page_ok(get('t=' + t_alice, method='HEAD'), 410, 'HEAD with a decided token', head=True)
    unchanged(before, 'after POST, GET and HEAD with a decided token')
    h.is_(rule(KID, 'alice@example.net'), [['OK', BY_LINK]], 'the allow rule is still OK after a later block')

    # ------------------------------------------------- POST allow-domain

    before = h.snapshot(db)
    r = post('choice=allow-domain&t=%s' % tok['bob@domain.example'])
    decided_ok(r, 'POST choice=allow-domain', 'allow-domain', bob['id'], 'bob@domain.example', 'domain.example',
               'OK', before, ['Sender allowed', 'everyone at domain.example and its subdomains may now send email to %s' % KID])
    daemon_follows('bob@domain.example', 'DUNNO', 'after allow-domain, the sender')
    daemon_follows('carol@domain.example', 'DUNNO', 'after allow-domain, another sender at the domain')
    h.ok(h.challenges(db, sender='carol@domain.example') == [], 'no challenge was recorded for the other sender')

    # ---------------------------------------------------------- POST block

    before = h.snapshot(db)
    r = post('t=%s&choice=block' % tok['spammer@bad.example'])
    decided_ok(r, 'POST choice=block', 'block', spam['id'], 'spammer@bad.example', 'spammer@bad.example', 'REJECT',
               before, ['Sender blocked', 'spammer@bad.example is blocked and cannot send email to %s' % KID])
    daemon_follows('spammer@bad.example', h.ACCESS_DENIED, 'after block')
    before = h.snapshot(db)
    page_ok(post('t=%s&choice=allow' % tok['spammer@bad.example']), 410, 'POST allow after block',
            ['already answered', 'spammer@bad.example is blocked'])
    unchanged(before, 'POST allow after block')
    h.is_(h.query(d.port, sender='spammer@bad.example', recipient=KID), h.ACCESS_DENIED,
          'guardlistd still refuses the blocked sender')

    # ---------------------------------------- the markup sender, decided

    # A body of exactly 1024 bytes (the limit) is read whole: padding with
    # empty fields, which the form parser skips.
    body = 't=%s&choice=allow' % tok[markup_sender]
    body += '&' * (1024 - len(body))
    before = h.snapshot(db)
    r = post(body)
    # Not an address, so no one-sender allow can be made of it: refused
    # (guardlistd never records such a sender; the row was made with SQL).
    page_ok(r, 400, 'POST allow, a 1024-byte body, sender with markup (not an address: no allow rule)',
            ['not possible'])
    h.ok('<b>x</b>' not in r.text and '<i>evil</i>' not in r.text, 'the refusal escapes the sender', r.text[:3000])
    h.is_(rule(KID, markup_sender), [], 'the markup sender got no allow rule')
    r = post('t=%s&choice=block' % tok[markup_sender])
    page_ok(r, 200, 'POST block for the markup sender', ['is blocked'])
    h.ok('<b>x</b>' not in r.text and '<i>evil</i>' not in r.text, 'the confirmation escapes the sender', r.text[:3000])
    h.is_(rule(KID, markup_sender), [['REJECT', BY_LINK]], 'the markup sender got its block rule')
    r = post('t=%s&choice=allow' % tok[markup_sender])
    page_ok(r, 410, 'POST again for the markup sender', ['already answered'])
    h.ok('<b>x</b>' not in r.text and '<i>evil</i>' not in r.text, 'the "already answered" page escapes the sender',
         r.text[:3000])

    # -------------------------------------------------------- expired

    before = h.snapshot(db)
    t_late = tok['late@example.org']
    page_ok(get('t=' + t_late), 410, 'GET with an expired token', ['expired'])
    page_ok(get('t=' + t_late, method='HEAD'), 410, 'HEAD with an expired token', head=True)
    for choice in ('allow', 'allow-domain', 'block'):
        page_ok(post('t=%s&choice=%s' % (t_late, choice)), 410, 'POST %s with an expired token' % choice, ['expired'])
    unchanged(before, 'expired token')
    h.is_(status_of(late['id']), 'pending', 'the expired link left the challenge pending')
    h.ok(h.is_defer(h.query(d.port, sender='late@example.org', recipient=KID)),
         'guardlistd still defers the sender of the expired link')

    # -------------------------------------------------------- unknown

    before = h.snapshot(db)
    unknown = secrets.token_hex(16)
    page_ok(get('t=' + unknown), 404, 'GET with an unknown token', ['not known'])
    page_ok(get('t=' + unknown, method='HEAD'), 404, 'HEAD with an unknown token', head=True)
    page_ok(post('t=%s&choice=allow' % unknown), 404, 'POST with an unknown token', ['not known'])
    unchanged(before, 'unknown token')

    # ------------------------------------------------------ malformed

    t_frank = tok['frank@example.com']
    before = h.snapshot(db)
    bad_queries = [
        ('31 hex characters', 't=' + t_frank[:31]),
        ('33 hex characters', 't=' + t_frank + 'a'),
        ('uppercase hex', 't=' + t_frank.upper()),
        ('non-hex', 't=' + 'g' * 32),
        ('a path', 't=../../etc/passwd'),
        ('a missing t', None),
        ('an empty query', ''),
        ('an empty t', 't='),
        ('t without =', 't'),
        ('t given twice', 't=%s&t=%s' % (t_frank, t_frank)),
        ('an extra field', 't=%s&x=1' % t_frank),
        ('a NUL byte', 't=%s%%00' % t_frank),
        ('a newline', 't=%s%%0a' % t_frank),
        ('a bad %-escape', 't=%s%%zz' % t_frank[:30]),
        ('a plus sign', 't=%s+' % t_frank[:31]),
        ('quotes and markup', 't=%22%3E%3Cscript%3Ealert(1)%3C/script%3E'),
    ]
    for what, q in bad_queries:
        r = get(q)
        page_ok(r, 400, 'GET with %s' % what)
        h.ok('alert(1)' not in r.text and '<script' not in r.text, 'GET with %s: the input is not echoed' % what)
    page_ok(get('t=' + t_frank + '&' + 'x' * 300), 414, 'GET with a 340-byte query')
    bad_posts = [
        ('31 hex characters', 't=%s&choice=allow' % t_frank[:31]),
        ('uppercase hex', 't=%s&choice=allow' % t_frank.upper()),
        ('a path', 't=../../etc/passwd&choice=allow'),
        ('a missing t', 'choice=allow'),
        ('a missing choice', 't=' + t_frank),
        ('an empty body', ''),
        ('an unknown choice', 't=%s&choice=approve' % t_frank),
        ('choice in upper case', 't=%s&choice=ALLOW' % t_frank),
        ('t given twice', 't=%s&t=%s&choice=allow' % (t_frank, t_frank)),
        ('choice given twice', 't=%s&choice=block&choice=allow' % t_frank),
        ('an extra field', 't=%s&choice=allow&x=1' % t_frank),
        ('a NUL byte', 't=%s&choice=allow%%00' % t_frank),
        ('JSON', '{"t": "%s", "choice": "allow"}' % t_frank),
    ]
    for what, b in bad_posts:
        page_ok(post(b), 400, 'POST with %s' % what)
    unchanged(before, 'malformed GETs and POSTs')

    before = h.snapshot(db)
    big = 't=%s&choice=allow' % t_frank
    r = post(big + '&' * (2048 - len(big)))
    page_ok(r, 413, 'POST with a 2 KiB body')
    r = post(big + '&' * (1025 - len(big)))
    page_ok(r, 413, 'POST with a 1025-byte body')
    for ct in ('text/plain', 'multipart/form-data; boundary=xyz', 'application/json',
               'application/x-www-form-urlencodedx', 'text/html; a=application/x-www-form-urlencoded', None):
        page_ok(post(big, ctype=ct), 415, 'POST with Content-Type %r' % ct)
    for m in ('PUT', 'DELETE', 'OPTIONS', 'PATCH'):
        r = www.request(m, '/approve?t=' + t_frank, body=big if m in ('PUT', 'PATCH') else None,
                        headers={'Content-Type': FORM} if m in ('PUT', 'PATCH') else None)
        page_ok(r, 405, '%s' % m)
        h.is_(r.header('Allow'), 'GET, HEAD, POST', '%s: Allow: GET, HEAD, POST' % m)
    unchanged(before, 'oversized bodies, wrong content types, other methods')
    h.is_(status_of(frank['id']), 'pending', 'the challenge behind all the bad requests is still pending')

    # a content type with parameters, in any case, is a form
    before = h.snapshot(db)
    r = post('t=%s&choice=allow' % t_frank, ctype='Application/X-WWW-Form-Urlencoded; charset=UTF-8')
    decided_ok(r, 'POST with Content-Type Application/X-WWW-Form-Urlencoded; charset=UTF-8', 'allow', frank['id'],
               'frank@example.com', 'frank@example.com', 'OK', before, ['Sender allowed'])

    # ------------------------------------------ the null sender: an admin's call

    # Allowing <> would let every bounce message through to the child: the
    # link explains that and decides nothing; an admin decides.
    t_null = tok['<>']
    before = h.snapshot(db)
    r = get('t=' + t_null)
    page_ok(r, 200, 'GET a null-sender challenge',
            ['This is a bounce message (delivery report) for %s' % KID,
             'Approving it would let all bounce messages through to %s' % KID,
             'only your mail administrator can decide this'])
    h.ok('<form' not in r.text and '<button' not in r.text and 'Allow this sender' not in r.text,
         'the page for <> has no form and no buttons', r.text[:3000])
    page_ok(get('t=' + t_null, method='HEAD'), 200, 'HEAD a null-sender challenge', head=True)
    for choice in ('allow', 'block', 'allow-domain'):
        page_ok(post('t=%s&choice=%s' % (t_null, choice)), 403, 'POST %s for the null sender' % choice,
                ['bounce message', 'only your mail administrator can decide this', 'Nothing was changed'])
    unchanged(before, 'GET, HEAD and three POSTs for the null sender')
    h.is_(status_of(null['id']), 'pending', 'the null-sender challenge is still pending')
    h.is_(rule(KID, '<>'), [], 'no rule for <>')

    rc, out, err = h.cli(admin, 'approve', null['id'], actor='ops')
    h.is_(rc, 0, 'guardlist approve %s (the null sender) as an admin' % null['id']) or h.diag(out, err)
    h.ok('warning' in err and 'null sender <>' in err and 'every bounce message (delivery report) to %s' % KID in err,
         'guardlist approve warns on stderr that every bounce message to %s is now let through' % KID, err)
    h.is_(rule(KID, '<>'), [['OK', 'ops']], 'the admin\'s approval wrote the rule for <>')
    good, got, _ = h.wait_reply(d.port, lambda x: x == 'DUNNO', FOLLOW_TIMEOUT + 1, sender='', recipient=KID)
    h.ok(good, 'guardlistd lets a bounce to %s through' % KID, 'last reply %r' % (got,))
    page_ok(get('t=' + t_null), 410, 'GET the <> link after the admin decided',
            ['already answered', '&lt;&gt; is allowed for %s' % KID])
    rc, out, err = h.cli(admin, 'approve', alice['id'], actor='ops')
    h.ok(rc != 0 and 'bounce' not in err, 'approving another (decided) challenge gives no bounce warning', err)

    # --------------------------------------------------------- a race

    before = h.snapshot(db)
    results = {}

    def racer_post(choice):
        try:
            results[choice] = post('t=%s&choice=%s' % (tok['racer@example.com'], choice))
        except Exception as e:    # noqa: B902
            results[choice] = e
    threads = [threading.Thread(target=racer_post, args=(c,)) for c in ('allow', 'block')]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = sorted(getattr(results.get(c), 'status', repr(results.get(c))) for c in ('allow', 'block'))
    h.is_(codes, [200, 410], 'two POSTs racing on one token: one decides (200), the other is told (410)')
    rules = db.sql("SELECT action FROM sender_rules WHERE sender = 'racer@example.com'")
    winner = [c for c in ('allow', 'block') if getattr(results.get(c), 'status', None) == 200]
    h.is_(rules, [['OK' if winner == ['allow'] else 'REJECT']], 'the race left exactly the winner\'s rule')
    h.is_(len(audit_rows(racer['id'])), 1, 'the race left one audit row')
    for c in ('allow', 'block'):
        if getattr(results.get(c), 'status', None) == 410:
            page_ok(results[c], 410, 'the race\'s loser', ['already answered'])

    # ---------------------------------------------- removed guardians

    # A link works only while the guardian it was mailed to still guards the key.
    refused_posts = 0
    guardian_cli('guardian', 'add', KID, GRAN)
    gone = challenge('gone@example.com')
    t_gone_parent, t_gone_gran = give_token(gone['id']), give_token(gone['id'], guardian=GRAN)
    page_ok(get('t=' + t_gone_gran), 200, 'GET with the second guardian\'s link', ['gone@example.com'])
    guardian_cli('guardian', 'remove', KID, GRAN)
    before = h.snapshot(db)
    r = get('t=' + t_gone_gran)
    page_ok(r, 410, 'GET with a removed guardian\'s link',
            ['This link no longer works: you are no longer a guardian of %s.' % KID])
    h.ok('gone@example.com' not in r.text and '<form' not in r.text, 'that page names no sender and has no form',
         r.text[:3000])
    page_ok(get('t=' + t_gone_gran, method='HEAD'), 410, 'HEAD with a removed guardian\'s link', head=True)
    for choice in ('allow', 'allow-domain', 'block'):
        page_ok(post('t=%s&choice=%s' % (t_gone_gran, choice)), 410, 'POST %s with a removed guardian\'s link'
                % choice, ['no longer a guardian of %s' % KID, 'Nothing was changed'])
        refused_posts += 1
    unchanged(before, 'GET, HEAD and three POSTs with a removed guardian\'s link')
    h.is_(rule(KID, 'gone@example.com'), [], 'no rule was written for the removed guardian')
    h.is_(audit_rows(gone['id']), [], 'and no audit row')
    h.ok(h.is_defer(h.query(d.port, sender='gone@example.com', recipient=KID)), 'guardlistd still defers the pair')
    before = h.snapshot(db)
    r = post('t=%s&choice=allow' % t_gone_parent)
    decided_ok(r, 'POST allow with the remaining guardian\'s link', 'allow', gone['id'], 'gone@example.com',
               'gone@example.com', 'OK', before, ['Sender allowed'])
    r = get('t=' + t_gone_gran)
    page_ok(r, 410, 'the removed guardian\'s link once the other decided', ['no longer a guardian'])
    h.ok('allowed' not in r.text and 'gone@example.com' not in r.text, 'it does not tell them what was decided',
         r.text[:3000])

    # Removed after the page was opened: the button decides nothing.
    guardian_cli('guardian', 'add', KID, GRAN)
    between = challenge('between@example.com')
    t_between = give_token(between['id'], guardian=GRAN)
    page_ok(get('t=' + t_between), 200, 'GET the second guardian\'s link: the page with the buttons',
            ['Allow this sender'])
    guardian_cli('guardian', 'remove', KID, GRAN)
    before = h.snapshot(db)
    page_ok(post('t=%s&choice=allow' % t_between), 410, 'POST from that page after the guardian was removed',
            ['no longer a guardian of %s' % KID])
    refused_posts += 1
    unchanged(before, 'the POST after the removal')

    # Removed while the POST is under way: the check is made inside the
    # decision's transaction.  A session holds the challenge's row lock, the
    # POST (past the page's own check) waits for it, the guardian is removed,
    # the lock is released: the POST must still decide nothing.
    guardian_cli('guardian', 'add', KID, GRAN)
    before = h.snapshot(db)
    holder = subprocess.Popen(db._client('guardlist') + ['-N', '-B', '-n'], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    holder.stdin.write('START TRANSACTION; SELECT id FROM challenges WHERE id = %s FOR UPDATE;\n' % between['id'])
    holder.stdin.flush()
    h.is_(holder.stdout.readline().strip(), between['id'], 'a session holds the challenge\'s row lock')
    results = {}
    poster = threading.Thread(target=lambda: results.setdefault('r', post('t=%s&choice=allow' % t_between)))
    poster.start()
    # The approver's own session, waiting in its locking read of the
    # challenge (MariaDB may wait for the row while the optimizer reads the
    # const row, state "Statistics", before INNODB_TRX lists the transaction).
    good, _, _ = h.poll_until(lambda: db.value("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                               "WHERE USER = 'guardlist_approver' AND INFO LIKE "
                                               "'%FROM challenges WHERE id = ? FOR UPDATE%'", db=None),
                              lambda n: n == '1', 8)
    # Bounded below the CGI's 10 s database read timeout, so a wait not seen
    # here fails this check alone, not the POST as well.
    h.ok(good, 'the POST waits for the lock inside its transaction',
         *['%r' % (row,) for row in db.sql("SELECT t.trx_mysql_thread_id, t.trx_state, p.USER, p.STATE, "
                                           "LEFT(p.INFO, 80) FROM information_schema.INNODB_TRX t "
                                           "LEFT JOIN information_schema.PROCESSLIST p "
                                           "ON p.ID = t.trx_mysql_thread_id", db=None)],
         *['session %r' % (row,) for row in db.sql("SELECT ID, USER, COMMAND, TIME, STATE, LEFT(INFO, 100) "
                                                   "FROM information_schema.PROCESSLIST", db=None)])
    rc, out, err = h.cli(admin, 'guardian', 'remove', KID, GRAN)
    h.is_(rc, 0, 'the guardian is removed meanwhile') or h.diag(out, err)
    holder.stdin.write('ROLLBACK;\n')
    holder.stdin.close()
    holder.wait(10)
    poster.join(60)
    page_ok(results.get('r'), 410, 'the POST that waited: the guardian was removed before it could decide',
            ['no longer a guardian of %s' % KID])
    refused_posts += 1
    after = h.snapshot(db)
    h.ok({x.split(':')[0] for x in table_diff(before, after)} == {'guardians', 'audit_log'}
         and len(after['guardians']) == len(before['guardians']) - 1
         and len(after['audit_log']) == len(before['audit_log']) + 1,
         'nothing changed but the removal (its guardians row and audit row)', *table_diff(before, after))
    h.is_(status_of(between['id']), 'pending', 'the challenge is still pending')

    # Added again: the same link works again.
    guardian_cli('guardian', 'add', KID, GRAN)
    before = h.snapshot(db)
    r = post('t=%s&choice=block' % t_between)
    decided_ok(r, 'POST block once the guardian is added again', 'block', between['id'], 'between@example.com',
               'between@example.com', 'REJECT', before, ['Sender blocked'], by='approval-link:' + GRAN)

    # ------------------------------------------ old-style links

    # From before per-guardian links, a token sat on the challenge row and
    # went to every guardian the notifier mailed then (notifications rows
    # without a token): it names no one, so it works only while every one of
    # them still guards the key, and not at all when nobody is on record.
    old1 = challenge('old1@example.com')
    t_old1 = old_token(old1['id'], mailed_to=[GUARDIAN, GRAN])
    page_ok(get('t=' + t_old1), 200, 'GET an old-style link mailed to two current guardians', ['Allow this sender'])
    before = h.snapshot(db)
    decided_ok(post('t=%s&choice=allow' % t_old1), 'POST allow with that old-style link', 'allow', old1['id'],
               'old1@example.com', 'old1@example.com', 'OK', before, ['Sender allowed'], by='approval-link')
    old2 = challenge('old2@example.com')
    t_old2 = old_token(old2['id'], mailed_to=[GUARDIAN, GRAN])
    old3 = challenge('old3@example.com')
    t_old3 = old_token(old3['id'])
    guardian_cli('guardian', 'remove', KID, GRAN)
    before = h.snapshot(db)
    for what, t in (('mailed to a guardian since removed', t_old2), ('with no record of whom it was mailed to', t_old3)):
        page_ok(get('t=' + t), 410, 'GET an old-style link %s' % what,
                ['This link no longer works', 'cannot be tied to one of the current guardians of %s' % KID,
                 'Your mail administrator can still decide this request'])
        page_ok(post('t=%s&choice=allow' % t), 410, 'POST allow with an old-style link %s' % what,
                ['This link no longer works'])
        refused_posts += 1
    unchanged(before, 'old-style links that cannot be tied to current guardians')

    # ------------------------------- a failure inside the transaction

    spare = challenge('spare@example.com')
    t_spare = give_token(spare['id'])
    db.sql("REVOKE INSERT ON guardlist.audit_log FROM 'guardlist_approver'@'localhost'", db=None)
    try:
        before = h.snapshot(db)
        r = post('t=%s&choice=allow' % t_spare)
        page_ok(r, 503, 'POST when the audit row cannot be written', ['could not be saved'])
        unchanged(before, 'POST that failed inside the transaction')
    finally:
        db.sql("GRANT INSERT ON guardlist.audit_log TO 'guardlist_approver'@'localhost'", db=None)
    h.ok(h.is_defer(h.query(d.port, sender='spare@example.com', recipient=KID)),
         'after the failed POST guardlistd still defers the pair')
    r = post('t=%s&choice=allow' % t_spare)
    page_ok(r, 200, 'the same POST once the database takes it again', ['Sender allowed'])

    # ------------------------------------ least privilege, by the server's log

    logged = sql_challenge('logged@example.com')
    t_logged = give_token(logged['id'])
    glog = os.path.join(db.dir, 'general.log')
    db.sql("SET GLOBAL general_log_file = %s, log_output = 'FILE', general_log = 1" % h.sql_str(glog), db=None)
    try:
        r = get('t=' + t_logged)
    finally:
        db.sql('SET GLOBAL general_log = 0', db=None)
    users, lookups = {}, []
    with open(glog, errors='replace') as f:
        for line in f:
            m = re.search(r'\s(\d+) Connect\s+(\S+)@', line)
            if m:
                users[m.group(1)] = m.group(2)
            m = re.search(r'\s(\d+) (?:Query|Execute|Prepare)\s.*FROM challenges(?: c)? WHERE (?:c\.)?token_sha256', line)
            if m:
                lookups.append(m.group(1))
    h.ok(r.status == 200 and lookups and {users.get(t) for t in lookups} == {'guardlist_approver'},
         'the CGI looks the token up as guardlist_approver (MariaDB general log)',
         'connections: %r, lookups by thread: %r' % (users, lookups))

    # ------------------------------------------------- unprotected

    guardian_cli('unprotect', KID)
    before = h.snapshot(db)
    page_ok(get('t=' + t_logged), 410, 'GET a link once the child is no longer protected',
            ['no longer a guardian of %s' % KID])
    page_ok(post('t=%s&choice=allow' % t_logged), 410, 'POST allow once the child is no longer protected',
            ['no longer a guardian of %s' % KID])
    refused_posts += 1
    unchanged(before, 'GET and POST after unprotect')
    guardian_cli('protect', KID, '--guardian', GUARDIAN)
    before = h.snapshot(db)
    decided_ok(post('t=%s&choice=allow' % t_logged), 'POST allow once protected again by the same guardian',
               'allow', logged['id'], 'logged@example.com', 'logged@example.com', 'OK', before, ['Sender allowed'])

    # ------------------------------------------------- the CGI's stderr

    log = www.log(0)
    errors = [ln for ln in log.splitlines() if 'guardlist-approve: error' in ln]
    h.ok(len(errors) == 1 and 'audit_log' in errors[0],
         'the CGI logged one error (the refused audit row) to the web server\'s error log', *errors)
    infos = [ln for ln in log.splitlines() if 'guardlist-approve: info: challenge=' in ln]
    h.is_(len(infos), 11, 'the CGI logged one info line per decision (11)')
    refusals = [ln for ln in log.splitlines() if 'guardlist-approve: info: refused: ' in ln]
    h.is_(len(refusals), refused_posts, 'and one per POST refused for a guardian no longer there (%d)' % refused_posts)

    marks = www.sanitizer_report()
    h.ok(not marks, 'the CGI\'s stderr (lighttpd\'s error log) has no sanitizer report', 'found: %r' % marks,
         www.log(3000))
    www.stop()
    d.stop()
    for k, v in timings.items():
        h.diag('timing: %s: %.2f s' % (k, v))


h.run(main, timeout=240)
