#!/usr/bin/python3
"""A rule closes what it covers (issue 25).  When a decision writes a rule
(the approval link, `guardlist approve`, `guardlist allow/block/rule set`),
every pending challenge the rule now decides is closed in the same
transaction, with an audit row each; guardlistd stops deferring those pairs
within its refresh; the closed challenge's own link says which decision
answered it.  The matching is decide()'s: address, user@, a domain and its
subdomains, per-recipient keys before global ones, and a more specific rule
wins (a challenge it decides otherwise closes by that rule, one with an
action that is neither allow nor block stays open).

Challenges come from the real guardlistd (unknown senders to protected
children); links are given by SQL as guardlist-notify records them; the
approval page runs as a CGI under a real lighttpd with its least-privilege
account."""
import os
import secrets
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
KID2 = 'kid2@family.test'
GUARDIAN = 'parent@family.test'
FORM = 'application/x-www-form-urlencoded'
FOLLOW = 3.0        # guardlistd follows a rule within about 2 s


def main():
    db = h.start_db()
    secrets_dir = web.init_accounts(db)
    admin = h.cli_config(db)
    for kid in (KID, KID2):
        rc, out, err = h.cli(admin, 'protect', kid, '--guardian', GUARDIAN)
        h.is_(rc, 0, 'guardlist protect %s' % kid) or h.diag(out, err)
    d = h.start_daemon(db)
    www = web.Lighttpd(web.approve_binary(), {'GUARDLIST_CONFIG': web.approver_config(db, secrets_dir)})
    www.start()

    def challenge(sender, kid=KID):
        h.defer_ok(h.query(d.port, sender=sender, recipient=kid), '%s -> %s: deferred' % (sender, kid))
        good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=sender, recipient=kid),
                                     lambda r: len(r) == 1, 5)
        h.ok(good, '%s -> %s: one challenge recorded' % (sender, kid), repr(rows))
        return rows[0]['id'] if good else '0'

    def status(cid):
        return db.value('SELECT status FROM challenges WHERE id = %s' % cid)

    def give_token(cid):
        tok = secrets.token_hex(16)
        db.sql("INSERT INTO notifications (challenge_id, guardian, kind, message_id, token_sha256, token_expires_at) "
               "VALUES (%s, %s, 'single', '<%s@test>', UNHEX(SHA2('%s', 256)), NOW() + INTERVAL 7 DAY)"
               % (cid, h.sql_str(GUARDIAN), tok, tok))
        return tok

    def follows(sender, kid, want, desc):
        good, got, secs = h.wait_reply(d.port, lambda r: r == want, FOLLOW, sender=sender, recipient=kid)
        h.ok(good, '%s (%.2f s)' % (desc, secs), 'last reply: %r' % (got,))

    def audits(action):
        return int(db.value("SELECT COUNT(*) FROM audit_log WHERE action = %s" % h.sql_str(action)))

    # ---- 1. the approval link: "everyone at example.net and its subdomains"
    a = challenge('a@example.net')
    x = challenge('x@sub.example.net')
    y = challenge('y@deep.sub.example.net')
    other = challenge('n@notexample.net')        # not a subdomain: stays
    elsewhere = challenge('b@example.net', KID2)  # another protected key: stays
    held = challenge('h@example.net')
    blocked = challenge('w@example.net')
    # SQL: rules written before this change, which left their challenges open
    db.sql("INSERT INTO sender_rules (recipient, sender, action) VALUES (%s, 'h@example.net', 'HOLD'), "
           "(%s, 'w@example.net', 'REJECT')" % (h.sql_str(KID), h.sql_str(KID)))
    tok_a, tok_x = give_token(a), give_token(x)
    r = www.request('GET', '/approve?t=' + tok_a)
    h.ok(r.status == 200 and 'Allow everyone at example.net and its subdomains' in r.text,
         'the domain button says "Allow everyone at example.net and its subdomains"', r.text[:2000])
    r = www.request('POST', '/approve', body='t=%s&choice=allow-domain' % tok_a, headers={'Content-Type': FORM})
    h.ok(r.status == 200 and 'everyone at example.net and its subdomains may now send email to %s' % KID in r.text,
         'POST allow-domain: the page says everyone at example.net and its subdomains', r.status, r.text[:2000])
    h.is_([status(c) for c in (a, x, y)], ['approved'] * 3,
          'the decided challenge and the two subdomain challenges it covers are approved')
    h.is_(status(blocked), 'denied', 'a challenge an address REJECT rule decides (more specific) closes as denied')
    h.is_([status(c) for c in (other, elsewhere, held)], ['pending'] * 3,
          'notexample.net, the other child\'s key and a HOLD rule\'s challenge stay pending')
    rows = db.sql("SELECT decided_by, decided_rule FROM challenges WHERE id IN (%s, %s) ORDER BY id" % (x, y))
    h.is_(rows, [['approval-link:' + GUARDIAN, '%s example.net OK' % KID]] * 2,
          'the covered challenges name the guardian and the rule that closed them')
    h.is_(audits('close-covered'), 3, 'one close-covered audit row for each covered challenge (x, y, w)')
    h.ok(db.value("SELECT COUNT(*) FROM audit_log WHERE action = 'approve' AND detail LIKE '%%closed=3'") == '1',
         'the approval\'s own audit row says it closed 3 more')
    follows('x@sub.example.net', KID, 'DUNNO', 'guardlistd: x@sub.example.net -> kid delivered')
    follows('y@deep.sub.example.net', KID, 'DUNNO', 'guardlistd: y@deep.sub.example.net -> kid delivered')
    h.defer_ok(h.query(d.port, sender='n@notexample.net', recipient=KID), 'guardlistd: notexample.net still deferred')
    h.defer_ok(h.query(d.port, sender='b@example.net', recipient=KID2), 'guardlistd: b@example.net -> kid2 still deferred')
    r = www.request('GET', '/approve?t=' + tok_x)
    h.ok(r.status == 410 and 'answered by another decision' in r.text
         and 'everyone at example.net and its subdomains was allowed for %s' % KID in r.text,
         'the covered challenge\'s own link names the decision that answered it', r.status, r.text[:2000])
    r = www.request('POST', '/approve', body='t=%s&choice=block' % tok_x, headers={'Content-Type': FORM})
    h.ok(r.status == 410 and status(x) == 'approved', 'and a POST on it changes nothing', r.status)

    # ---- 2. `guardlist approve` (admin) closes the same way
    p1 = challenge('pat@ext.example')
    p2 = challenge('pat@ext.example', KID2)
    rc, out, err = h.cli(admin, 'approve', p1)
    h.is_(rc, 0, 'guardlist approve %s' % p1) or h.diag(out, err)
    h.is_([status(p1), status(p2)], ['approved', 'pending'],
          'guardlist approve: a per-key rule for kid leaves the same sender to kid2 pending')

    # ---- 3. `guardlist allow` / `block` (global) and `rule set` close what they cover
    rc, out, err = h.cli(admin, 'allow', 'pat@ext.example')
    h.ok(rc == 0 and '1 pending request(s) it answers were closed' in out,
         'guardlist allow pat@ext.example (global): exit 0, says 1 request closed', out, err)
    h.is_(status(p2), 'approved', 'the global allow closes pat -> kid2')
    s1 = challenge('s1@spam.example')
    s2 = challenge('s2@mail.spam.example', KID2)
    rc, out, err = h.cli(admin, 'block', 'spam.example')
    h.is_(rc, 0, 'guardlist block spam.example (global)') or h.diag(out, err)
    h.is_([status(s1), status(s2)], ['denied', 'denied'], 'the global block denies both kids\' spam.example challenges')
    follows('s2@mail.spam.example', KID2, h.ACCESS_DENIED, 'guardlistd: s2@mail.spam.example -> kid2 refused')
    # A challenge a rule closed is decided by the rule alone: without it the
    # sender is a stranger again (asked about, not refused for ever).
    rc, out, err = h.cli(admin, 'rule', 'rm', 'spam.example')
    h.is_(rc, 0, 'guardlist rule rm spam.example') or h.diag(out, err)
    good, got, secs = h.wait_reply(d.port, h.is_defer, FOLLOW, sender='s2@mail.spam.example', recipient=KID2)
    h.ok(good, 'without the rule, s2@mail.spam.example -> kid2 is deferred again (%.2f s)' % secs, repr(got))
    good, rows, _ = h.poll_until(lambda: h.challenges(db, sender='s2@mail.spam.example', recipient=KID2),
                                 lambda r: any(x['status'] == 'pending' for x in r), 5)
    h.ok(good, 'and a new challenge asks the guardian again', repr(rows))
    u = challenge('someone@any.example')
    rc, out, err = h.cli(admin, 'rule', 'set', 'someone@', 'OK', '--to', KID)
    h.is_(rc, 0, 'a rule for someone@ (any domain) to kid') or h.diag(out, err)
    h.is_(status(u), 'approved', 'a user@ rule closes someone@any.example -> kid')
    h.is_(status(other), 'pending', 'and nothing else')

    # A sender with more keys than one database round trip reads (lib/cover.c
    # asks 8 keys at a time): its user@ key, the longest, comes last in the
    # second round, after short parent domains.
    deep_user = 'l' * 60
    deep = challenge(deep_user + '@a.b.c.d.e.f.g.h.i.example')
    rc, out, err = h.cli(admin, 'rule', 'set', deep_user + '@', 'OK', '--to', KID)
    h.is_(rc, 0, 'a rule for a 60-letter user@ to kid') or h.diag(out, err)
    h.is_(status(deep), 'approved', 'it closes that user at a domain of ten labels (its 12th key)')
    deep_global = challenge('m' * 60 + '@a.b.c.d.e.f.g.h.i.example')
    rc, out, err = h.cli(admin, 'allow', 'm' * 60 + '@')
    h.is_(rc, 0, 'a global allow of another 60-letter user@') or h.diag(out, err)
    h.is_(status(deep_global), 'approved', 'it closes that one too')

    marks = www.sanitizer_report()
    h.ok(not marks, "the CGI's stderr has no sanitizer report", repr(marks))
    www.stop()
    d.stop()
    db.stop()


h.run(main, timeout=180)
