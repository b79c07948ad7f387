#!/usr/bin/python3
"""A digest's own link (issue 25): the digest email carries, besides one link
per sender, a link to a page that lists every sender of that email; GET only
shows (tables unchanged), POST with the link's token decides one sender or
all the waiting ones at once, through lib/store.c as the single link does
(per-guardian check, audit rows, covering rules).  Requests for two children
of one guardian arriving together go out in one digest.

Challenges come from the real guardlistd, the email from guardlist-notify
(max_per_hour 1, so all but the first go into the digest) through
tests/lib/minismtp.py; the page is guardlist-approve under a real lighttpd
with its least-privilege account.  The digest's items and its page say each
sender's check (spf_result, set with SQL) in words; only a pass is verified."""
import email
import email.policy
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402
from minismtp import MiniSmtp  # noqa: E402

KID, KID2 = 'kid@family.test', 'kid2@family.test'
GUARDIAN = 'parent@home.test'
FORM = 'application/x-www-form-urlencoded'


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
    srv = MiniSmtp()
    cfg = h.notify_config(db, srv.port, notifier={'max_per_hour': '1', 'approve_url': www.url()})

    pairs = [('first@one.example', KID), ('ann@two.example', KID), ('bob@three.example', KID2),
             ('cat@four.example', KID2)]
    ids = {}
    for s, kid in pairs:
        h.defer_ok(h.query(d.port, sender=s, recipient=kid), '%s -> %s deferred' % (s, kid))
        good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=s, recipient=kid), lambda r: len(r) == 1, 5)
        ids[s] = rows[0]['id'] if good else '0'
    # The SPF result as guardlistd records it (issue 17), written with SQL
    # here: the digest's items and its page say each in words.
    spf = {'ann@two.example': 'pass', 'bob@three.example': 'none', 'cat@four.example': None}
    for s, v in spf.items():
        db.sql('UPDATE challenges SET spf_result = %s WHERE id = %s' % ('NULL' if v is None else h.sql_str(v), ids[s]))
    words = {'ann@two.example': 'Verified: two.example allows the server this email came from to send its mail.',
             'bob@three.example': 'Not verified: three.example does not say which servers send its mail, so '
                                  'guardlist cannot tell whether this email really came from three.example.',
             'cat@four.example': 'Not checked: guardlist did not check whether this email really came from '
                                 'four.example.'}
    rc, out, err = h.notify_logged(cfg, '--once')
    h.is_(rc, 0, 'guardlist-notify --once exits 0') or h.diag(err[-2000:])
    mails = srv.take()
    h.is_(len(mails), 2, 'two emails: one single, one digest for the rest (both children)')
    digest = None
    for _, _, data in mails:
        msg = email.message_from_bytes(data, policy=email.policy.default)
        if 'more senders want' in str(msg['Subject']):
            digest = msg
    if not h.ok(digest is not None, 'a digest was sent'):
        return
    h.is_(str(digest['Subject']), '3 more senders want to send email to your children', 'the digest counts 3')
    text = digest.get_body(('plain',)).get_content()
    links = re.findall(re.escape(www.url()) + r'\?d=([0-9a-f]{32})\b', text)
    h.is_(len(links), 1, 'the digest holds one link to the page of all its senders') or h.diag(text)
    hlinks = re.findall(re.escape(www.url()) + r'\?d=([0-9a-f]{32})\b', digest.get_body(('html',)).get_content())
    h.is_(hlinks, links, 'the HTML part has the same digest link')
    html = digest.get_body(('html',)).get_content()
    for part, body in (('text', text), ('HTML', html)):
        flat = ' '.join(body.split())
        # Each item's own words, in the order of the items (one sentence an item).
        spots = [flat.find(s) for s, _ in pairs[1:]] + [len(flat)]
        items = [flat[spots[i]:spots[i + 1]] for i in range(3)]
        h.ok(all(words[s] in item for (s, _), item in zip(pairs[1:], items)),
             'digest (%s part): each sender\'s item says its sender check in words' % part, flat[:3000])
        h.is_(len(re.findall(r'(?<!Not )verified', flat, re.I)), 1,
              'digest (%s part): only the sender whose SPF passed is called verified' % part)
    tok = links[0] if links else '0' * 32
    h.is_(db.value("SELECT COUNT(*) FROM notifications WHERE digest_sha256 = UNHEX(SHA2('%s', 256))" % tok), '3',
          'the digest link is recorded (as its SHA-256) on the 3 notifications of that email')

    def status(s):
        return db.value('SELECT status FROM challenges WHERE id = %s' % ids[s])

    before = h.snapshot(db)
    r = www.request('GET', '/approve?d=' + tok)
    h.ok(r.status == 200 and all(s in r.text for s, _ in pairs[1:]) and 'first@one.example' not in r.text
         and KID2 in r.text and 'Allow all 3 waiting senders' in r.text,
         'GET: 200, lists the 3 senders of the digest (two children) and offers to allow all 3', r.status,
         r.text[:3000])
    flat = ' '.join(r.text.split())
    h.ok(all(w in flat for w in words.values()), 'GET: each sender\'s check in words (verified, not verified, '
         'not checked)', flat[:3000])
    h.is_(len(re.findall(r'(?<!Not )verified', flat, re.I)), 1, 'GET: only the pass is called verified')
    h.ok(h.snapshot(db) == before, 'GET changes nothing')
    r = www.request('HEAD', '/approve?d=' + tok)
    h.ok(r.status == 200 and h.snapshot(db) == before, 'HEAD: 200 and changes nothing')

    r = www.request('POST', '/approve', body='d=%s&id=%s&choice=allow' % (tok, ids['first@one.example']),
                    headers={'Content-Type': FORM})
    h.ok(r.status == 400 and status('first@one.example') == 'pending',
         'POST for a request that is not in this digest: 400, nothing decided', r.status)
    r = www.request('POST', '/approve', body='d=%s&choice=allow' % tok, headers={'Content-Type': FORM})
    h.ok(r.status == 400 and h.snapshot(db) == before, 'POST allow without an id: 400, nothing changed', r.status)
    r = www.request('POST', '/approve', body='d=%s&id=%s&choice=block' % ('f' * 32, ids['ann@two.example']),
                    headers={'Content-Type': FORM})
    h.ok(r.status == 404 and status('ann@two.example') == 'pending', 'POST with an unknown digest link: 404',
         r.status)

    r = www.request('POST', '/approve', body='d=%s&id=%s&choice=block' % (tok, ids['ann@two.example']),
                    headers={'Content-Type': FORM})
    h.ok(r.status == 200 and 'Done: 1 sender(s) blocked' in r.text and 'Allow all 2 waiting senders' in r.text,
         'POST block one: done, the page now offers the 2 left', r.status, r.text[:3000])
    h.is_([status(s) for s, _ in pairs[1:]], ['denied', 'pending', 'pending'], 'only ann@ is blocked')
    r = www.request('POST', '/approve', body='d=%s&choice=allow-all' % tok, headers={'Content-Type': FORM})
    h.ok(r.status == 200 and 'Done: 2 sender(s) allowed' in r.text and '0 of the 3 senders' in r.text,
         'POST allow-all: both waiting senders allowed', r.status, r.text[:3000])
    h.is_([status(s) for s, _ in pairs], ['pending', 'denied', 'approved', 'approved'],
          'bob@ and cat@ are allowed, ann@ stays blocked, the single email\'s sender is untouched')
    h.is_(db.sql("SELECT actor, action FROM audit_log WHERE actor LIKE 'digest-link:%' ORDER BY id"),
          [['digest-link:' + GUARDIAN, 'block'], ['digest-link:' + GUARDIAN, 'approve'],
           ['digest-link:' + GUARDIAN, 'approve']], 'one audit row per decision, naming the guardian')
    good, got, secs = h.wait_reply(d.port, lambda x: x == 'DUNNO', 3, sender='cat@four.example', recipient=KID2)
    h.ok(good, 'guardlistd lets cat@ -> kid2 through (%.2f s)' % secs, repr(got))
    r = www.request('POST', '/approve', body='d=%s&choice=block-all' % tok, headers={'Content-Type': FORM})
    h.ok(r.status == 200 and 'Done: 0 sender(s) blocked' in r.text, 'block-all afterwards: nothing left to decide')

    # SQL: the guardian no longer guards kid2
    db.sql("DELETE FROM guardians WHERE recipient = %s" % h.sql_str(KID2))
    r = www.request('GET', '/approve?d=' + tok)
    h.ok(r.status == 200 and 'Allow all' not in r.text, 'a removed guardian gets no buttons for kid2\'s senders')

    # Below the cap: requests for several children arriving together go out
    # in one email (counted as singles), with the same page behind its link.
    g2, kid3, kid4 = 'mum@home.test', 'kid3@family.test', 'kid4@family.test'
    for kid in (kid3, kid4):
        rc, out, err = h.cli(admin, 'protect', kid, '--guardian', g2)
        h.is_(rc, 0, 'guardlist protect %s --guardian %s' % (kid, g2)) or h.diag(out, err)
    together = [('dan@five.example', kid3), ('eve@six.example', kid4), ('fay@seven.example', kid3)]
    for s, kid in together:
        # until guardlistd has loaded the new protection, it says DUNNO
        good, got, _ = h.wait_reply(d.port, h.is_defer, 3, sender=s, recipient=kid)
        good, _, _ = h.poll_until(lambda: h.challenges(db, sender=s, recipient=kid), lambda r: len(r) == 1, 5)
        h.ok(good, '%s -> %s: deferred, challenge recorded' % (s, kid))
    cfg10 = h.notify_config(db, srv.port, directory=h.tmpdir(), notifier={'max_per_hour': '10',
                                                                         'approve_url': www.url()})
    rc, out, err = h.notify_logged(cfg10, '--once')
    got = [(r, email.message_from_bytes(data, policy=email.policy.default)) for _, r, data in srv.take()]
    to_g2 = [m for r, m in got if r == [g2]]
    h.is_(len(to_g2), 1, 'the guardian of two children gets one email for the 3 requests that came together')
    if to_g2:
        m = to_g2[0]
        h.is_(str(m['Subject']), '3 senders want to send email to your children', 'its subject counts 3 (no "more")')
        t = m.get_body(('plain',)).get_content()
        h.ok(all(s in t for s, _ in together) and kid3 in t and kid4 in t and '?d=' in t,
             'it names the 3 senders, both children, and has a link to decide all', t[:2000])
    h.is_(db.value("SELECT COUNT(*) FROM notifications WHERE guardian = %s AND kind = 'single'" % h.sql_str(g2)), '3',
          'they count as 3 singles against the hourly cap')
    marks = www.sanitizer_report()
    h.ok(not marks, "the CGI's stderr has no sanitizer report", repr(marks))
    h.no_notify_sanitizer_reports()
    www.stop()
    srv.stop()
    d.stop()
    db.stop()


h.run(main, timeout=180)
