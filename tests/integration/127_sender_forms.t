#!/usr/bin/python3
"""One sender, whatever its envelope (issue 17), approvals no wider than what
the guardian saw (issue 25), and no domain-wide approval of a public suffix or
a freemail domain.  Real MariaDB, the real guardlistd (trusted_forwarders =
192.0.2.0/24, 2001:db8::/32), the approval page and the admin page as CGIs
under a real lighttpd, the real CLI.

  BATV: one sender under prvs=TAG=user (two tags), prvs=user=TAG and
    btv1==TAG==user is one challenge for the plain address; approved once,
    every tagged form is let through (DUNNO).
  SRS: an SRS0/SRS1 address of an approved sender is let through from a
    trusted forwarder (IPv4 and IPv6 client), and deferred from anyone else,
    whose challenge names the SRS address itself (it grants nothing of the
    original's rules); an unknown original from a trusted forwarder is
    challenged as the original.  `guardlist check --client` agrees.
  Domain approvals: "allow everyone at" is not offered on the approval page
    or the admin page for gmail.com (freemail) or co.uk (public suffix), and a
    POST or `guardlist approve --domain` for them is refused with the reason,
    nothing written; --force writes it; a registrable domain still works; an
    admin's own freemail list ([policy] freemail_domains) is obeyed, and a
    missing one is a clear error.
  Extension: the approval link's "allow this sender" for a bulk host's
    bounces+CUSTOMER-...@sendgrid.net writes exactly that address (the page
    shows it); that sender is let through, another customer's is deferred."""
import base64
import os
import re
import secrets
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
GUARDIAN = 'parent@family.test'
FORM = 'application/x-www-form-urlencoded'
FOLLOW = 2.0                # a rule change is in force within about 2 s
TRUSTED = '192.0.2.0/24, 2001:db8::/32'
STRANGER_IP = '203.0.113.9'
USERS = {'admin': 'admin-pw-1', GUARDIAN: 'parent-pw-2'}
SENDGRID = 'bounces+1111111-aaaa-kid=family.test@sendgrid.net'
SENDGRID_OTHER = 'bounces+9999999-bbbb-kid=family.test@sendgrid.net'


def main():
    db = h.start_db()
    admin = h.cli_config(db, policy={'trusted_forwarders': TRUSTED})
    secrets_dir = web.init_accounts(db)
    rc, out, err = h.cli(admin, 'protect', KID, '--guardian', GUARDIAN)
    h.is_(rc, 0, 'guardlist protect %s' % KID) or h.diag(out, err)
    rc, out, err = h.cli(admin, 'allow', 'grandma@example.com', '--to', KID)
    h.is_(rc, 0, 'guardlist allow grandma@example.com --to kid') or h.diag(out, err)
    d = h.start_daemon(db, trusted_forwarders=TRUSTED)

    def q(sender, client=STRANGER_IP):
        return h.query(d.port, sender=sender, recipient=KID, client_address=client, client_name='mx.test')

    def follows(sender, pred, what, client=STRANGER_IP):
        good, got, secs = h.wait_reply(d.port, pred, FOLLOW, sender=sender, recipient=KID, client_address=client,
                                       client_name='mx.test')
        h.ok(good, what, 'last reply %r after %.2fs' % (got, secs))

    def rows_for(sender):
        return h.challenges(db, sender=sender, recipient=KID)

    def recorded(sender, attempts=None):
        good, rows, _ = h.poll_until(lambda: rows_for(sender),
                                     lambda r: len(r) == 1 and (attempts is None or r[0]['attempts'] == attempts),
                                     10)
        return rows if good else rows_for(sender)

    def rules_of(sender):
        return db.sql("SELECT recipient, sender, action FROM sender_rules WHERE sender = %s" % h.sql_str(sender))

    def check(sender, client):
        rc, out, err = h.cli(admin, 'check', sender, KID, '--client', client, '--json')
        import json
        return json.loads(out) if rc == 0 else {'error': err}

    # ------------------------------------------------------------ BATV
    batv = ['prvs=0123abcdef=newpal@pals.example', 'prvs=1124fedcba=newpal@pals.example',
            'prvs=newpal=2125abcdef@pals.example', 'btv1==0777abbcc85==newpal@pals.example']
    for s in batv:
        h.ok(h.is_defer(q(s)), 'BATV form %s of an unknown sender: deferred' % s)
    rows = recorded('newpal@pals.example', attempts=str(len(batv)))
    h.is_([(r['sender'], r['attempts']) for r in rows], [('newpal@pals.example', str(len(batv)))],
          'four BATV forms (two tags, the older order, Barracuda) are one challenge for the plain address')
    tagged = db.value("SELECT COUNT(*) FROM challenges WHERE sender LIKE 'prvs=%' OR sender LIKE 'btv1=%'")
    h.is_(tagged, '0', 'no challenge names a tagged address (so no second email)')
    rc, out, err = h.cli(admin, 'approve', rows[0]['id'])
    h.is_(rc, 0, 'guardlist approve of the BATV challenge') or h.diag(out, err)
    h.is_(rules_of('newpal@pals.example'), [[KID, 'newpal@pals.example', 'OK']],
          'the rule is written for the plain address the guardian saw')
    for s in batv + ['prvs=9999abcdef=newpal@pals.example']:
        follows(s, lambda r: r == 'DUNNO', 'after the approval, %s: DUNNO' % s)

    # ------------------------------------------------------------ SRS
    srs0 = 'SRS0=abcd=TT=example.com=grandma@fwd.test'
    srs1 = 'SRS1=wxyz=first.test==abcd=TT=example.com=grandma@fwd.test'
    h.is_(q(srs0, '192.0.2.25'), 'DUNNO', 'SRS0 of the approved grandma from a trusted forwarder: DUNNO')
    h.is_(q(srs1, '2001:db8::25'), 'DUNNO', 'SRS1 of grandma from a trusted IPv6 forwarder: DUNNO')
    h.ok(h.is_defer(q(srs0, STRANGER_IP)), 'the same SRS0 address from a stranger: deferred')
    rows = recorded(srs0.lower())
    h.is_([r['sender'] for r in rows], [srs0.lower()],
          "the stranger's challenge names the SRS address itself, not grandma")
    h.is_(rows_for('grandma@example.com'), [], 'no challenge for grandma was made')
    h.ok(h.is_defer(q('SRS0=efgh=TT=elsewhere.example=newfriend@fwd.test', '192.0.2.25')),
         'an unknown original via a trusted forwarder: deferred')
    h.is_([r['sender'] for r in recorded('newfriend@elsewhere.example')], ['newfriend@elsewhere.example'],
          'its challenge names the original sender')
    for sender, client, want in ((srs0, '192.0.2.25', 'DUNNO'), (srs1, '2001:db8::25', 'DUNNO'),
                                 ('prvs=0123abcdef=newpal@pals.example', STRANGER_IP, 'DUNNO')):
        j = check(sender, client)
        h.is_(j.get('action'), want, 'guardlist check --client %s %s agrees with the daemon' % (client, sender))
    j = check(srs0, STRANGER_IP)
    h.ok(str(j.get('action', '')).startswith('DEFER_IF_PERMIT') and j.get('kind') == 'challenge',
         'guardlist check: the SRS address from a stranger is a challenge, as the daemon says', repr(j))
    h.is_(j.get('sender'), srs0.lower(), 'guardlist check names the sender it judged')
    j = check(srs0, '192.0.2.25')
    h.is_(j.get('sender'), 'grandma@example.com', 'guardlist check: from the forwarder it judged grandma')

    # ------------------------------------------------------------ domain approvals
    senders = {'bob@gmail.com': 'freemail', 'ann@googlemail.com': 'freemail', 'pat@co.uk': 'public suffix',
               'max@sub.gmail.com': 'freemail', 'carol@pals2.example': None, 'dan@friends.co.uk': None}
    ids = {}
    for s in senders:
        h.ok(h.is_defer(q(s)), '%s: deferred' % s)
        ids[s] = recorded(s)[0]['id']

    # the approval page
    conf = web.approver_config(db, secrets_dir, policy={'trusted_forwarders': TRUSTED})
    www = web.Lighttpd(web.approve_binary(), {'GUARDLIST_CONFIG': conf})
    www.start()

    def give_token(cid):
        tok = secrets.token_hex(16)
        db.sql("INSERT INTO notifications (challenge_id, guardian, kind, message_id, token_sha256, token_expires_at) "
               "VALUES (%s, %s, 'single', '<%s@test>', UNHEX(SHA2('%s', 256)), NOW() + INTERVAL 7 DAY)"
               % (cid, h.sql_str(GUARDIAN), tok, tok))
        return tok

    tokens = {s: give_token(ids[s]) for s in senders}
    for s, why in senders.items():
        r = www.request('GET', '/approve?t=' + tokens[s])
        has = 'value="allow-domain"' in r.text
        h.is_(r.status, 200, 'approval page for %s: 200' % s)
        h.is_(has, why is None, 'approval page for %s: %s' % (
            s, 'offers "Allow everyone at"' if why is None else 'no "Allow everyone at" (%s)' % why))
    before = h.snapshot(db, tables=['sender_rules', 'whitelist'])
    r = www.request('POST', '/approve', body='t=%s&choice=allow-domain' % tokens['bob@gmail.com'],
                    headers={'Content-Type': FORM})
    h.is_(r.status, 400, 'POST allow-domain for bob@gmail.com: refused (400)')
    h.ok('freemail' in r.text, 'the page says gmail.com is a freemail provider', r.text[-1500:])
    r = www.request('POST', '/approve', body='t=%s&choice=allow-domain' % tokens['pat@co.uk'],
                    headers={'Content-Type': FORM})
    h.is_(r.status, 400, 'POST allow-domain for pat@co.uk: refused (400)')
    h.ok('public suffix' in r.text, 'the page says co.uk is a public suffix', r.text[-1500:])
    h.is_(h.snapshot(db, tables=['sender_rules', 'whitelist']), before, 'the refusals wrote no rule')
    h.is_(db.value('SELECT status FROM challenges WHERE id = %s' % ids['bob@gmail.com']), 'pending',
          'the gmail challenge is still pending (the sender alone can be allowed)')
    r = www.request('POST', '/approve', body='t=%s&choice=allow-domain' % tokens['dan@friends.co.uk'],
                    headers={'Content-Type': FORM})
    h.is_(r.status, 200, 'POST allow-domain for dan@friends.co.uk (a registrable domain): done')
    h.is_(rules_of('friends.co.uk'), [[KID, 'friends.co.uk', 'OK']], 'the friends.co.uk rule is written')

    # the sendgrid-style extension, through the link
    h.ok(h.is_defer(q(SENDGRID)), 'bulk host sender with a customer extension: deferred')
    cid = recorded(SENDGRID)[0]['id']
    tok = give_token(cid)
    r = www.request('GET', '/approve?t=' + tok)
    h.ok(SENDGRID in r.text.replace('&#61;', '=').replace('&#43;', '+'),
         'the approval page shows the address with its extension', r.text[-2000:])
    r = www.request('POST', '/approve', body='t=%s&choice=allow' % tok, headers={'Content-Type': FORM})
    h.is_(r.status, 200, 'POST allow for the bulk host sender')
    h.is_(rules_of(SENDGRID), [[KID, SENDGRID, 'OK']], 'the rule is the address as the sender used it')
    h.is_(rules_of('bounces@sendgrid.net'), [], 'no rule for bounces@sendgrid.net (every customer)')
    follows(SENDGRID, lambda x: x == 'DUNNO', 'the approved customer is let through')
    h.ok(h.is_defer(q(SENDGRID_OTHER)), "another customer's bounces+ address is still deferred")
    www.stop(check=True)

    # the admin page
    wconf = web.web_config(db, secrets_dir, admins='admin')
    ww = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': wconf}, url_path='/admin', users=USERS)
    ww.start()
    authz = 'Basic ' + base64.b64encode(b'admin:admin-pw-1').decode()
    r = ww.request('GET', '/admin?p=pending', headers={'Authorization': authz})
    h.is_(r.status, 200, 'admin page: pending list')
    forms = {}
    for m in re.finditer(r'<form[^>]*>.*?</form>', r.text, re.S):
        idm = re.search(r'name="id" value="(\d+)"', m.group(0))
        if idm:
            forms[idm.group(1)] = m.group(0)
    for s, why in senders.items():
        if s in ('carol@pals2.example', 'bob@gmail.com', 'pat@co.uk'):
            f = forms.get(str(ids[s]), '')
            h.is_('approve-domain' in f, why is None, 'admin page, %s: %s' % (
                s, 'offers "Allow everyone at"' if why is None else 'no "Allow everyone at" (%s)' % why))
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    body = urllib.parse.urlencode({'do': 'decide', 'id': ids['bob@gmail.com'], 'how': 'approve-domain',
                                   'p': 'pending', 'csrf': csrf})
    r = ww.request('POST', '/admin', body=body, headers={'Authorization': authz, 'Content-Type': FORM})
    h.ok(r.status >= 400 and 'freemail' in r.text, 'admin page: approve-domain for gmail.com refused, saying why',
         'status %d' % r.status, r.text[-1500:])
    h.is_(rules_of('gmail.com'), [], 'no gmail.com rule written by the admin page')
    # A guardian's own rule form obeys the same limit (an admin writes what
    # they type, as with guardlist allow).
    pauth = 'Basic ' + base64.b64encode(('%s:parent-pw-2' % GUARDIAN).encode()).decode()
    r = ww.request('GET', '/admin?p=rules', headers={'Authorization': pauth})
    pcsrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    for dom, word in (('gmail.com', 'freemail'), ('co.uk', 'public suffix')):
        body = urllib.parse.urlencode({'do': 'rule-set', 'rcpt': KID, 'sender': dom, 'kind': 'allow', 'p': 'rules',
                                       'csrf': pcsrf})
        r = ww.request('POST', '/admin', body=body, headers={'Authorization': pauth, 'Content-Type': FORM})
        h.ok(r.status == 403 and word in r.text, "a guardian's allow rule for %s is refused, saying why" % dom,
             'status %d' % r.status, r.text[-1200:])
        h.is_(rules_of(dom), [], 'no %s rule written by the guardian' % dom)
    # (yahoo.com, not gmail.com: a block rule closes the gmail.com requests
    # still pending, which the CLI part below decides.)
    body = urllib.parse.urlencode({'do': 'rule-set', 'rcpt': KID, 'sender': 'yahoo.com', 'kind': 'block',
                                   'p': 'rules', 'csrf': pcsrf})
    r = ww.request('POST', '/admin', body=body, headers={'Authorization': pauth, 'Content-Type': FORM})
    h.is_(rules_of('yahoo.com'), [[KID, 'yahoo.com', 'REJECT']],
          'blocking a freemail domain (yahoo.com) is still possible for a guardian')
    db.sql("DELETE FROM sender_rules WHERE sender = 'yahoo.com'")
    ww.stop(check=True)

    # the CLI
    rc, out, err = h.cli(admin, 'approve', ids['bob@gmail.com'], '--domain')
    h.is_(rc, 2, 'guardlist approve --domain for gmail.com: exit 2')
    h.ok('freemail' in err and '--force' in err, 'it says why and how to force it', err)
    rc, out, err = h.cli(admin, 'approve', ids['pat@co.uk'], '--domain')
    h.is_(rc, 2, 'guardlist approve --domain for co.uk: exit 2')
    h.ok('public suffix' in err, 'it says co.uk is a public suffix', err)
    rc, out, err = h.cli(admin, 'approve', ids['max@sub.gmail.com'], '--domain')
    h.is_(rc, 2, 'guardlist approve --domain for sub.gmail.com (under a freemail domain): exit 2')
    h.is_(rules_of('gmail.com') + rules_of('co.uk') + rules_of('sub.gmail.com'), [], 'the refusals wrote no rule')
    rc, out, err = h.cli(admin, 'approve', ids['bob@gmail.com'], '--domain', '--force')
    h.is_(rc, 0, 'guardlist approve --domain --force for gmail.com: exit 0') or h.diag(out, err)
    h.is_(rules_of('gmail.com'), [[KID, 'gmail.com', 'OK']], '--force wrote the gmail.com rule')
    rc, out, err = h.cli(admin, 'approve', ids['pat@co.uk'], '--force')
    h.is_(rc, 2, '--force without --domain: exit 2')
    own = os.path.join(h.tmpdir('guardlist-freemail-'), 'freemail')
    with open(own, 'w') as f:
        f.write('# our own list\npals2.example\n')
    admin2 = h.cli_config(db, policy={'freemail_domains': own})
    rc, out, err = h.cli(admin2, 'approve', ids['carol@pals2.example'], '--domain')
    h.ok(rc == 2 and own in err, "the admin's own freemail list is obeyed (pals2.example refused)", err)
    admin3 = h.cli_config(db, policy={'freemail_domains': own + '.missing'})
    rc, out, err = h.cli(admin3, 'approve', ids['carol@pals2.example'], '--domain')
    h.ok(rc == 2 and 'freemail' in err and '.missing' in err, 'a missing freemail list is a clear error', err)
    rc, out, err = h.cli(admin, 'approve', ids['carol@pals2.example'], '--domain')
    h.is_(rc, 0, 'with the built-in list, pals2.example may be approved as a whole') or h.diag(out, err)
    follows('anyone@pals2.example', lambda x: x == 'DUNNO', 'and everyone at pals2.example is let through')

    h.ok(d.running(), 'guardlistd is still running')
    d.stop()


h.run(main, timeout=600)
