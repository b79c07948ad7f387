#!/usr/bin/python3
"""An approval link mailed before guardlist hashed with OpenSSL's libcrypto
still works: its notifications row holds the SHA-256 that guardlist's own
implementation wrote (3eb1bd43... for the token 0123...cdef, computed by the
code before the change), the approval page finds it, shows the challenge and
records the guardian's Allow; a token one character off finds nothing.
Both CGIs, run by a web server that passes an ISINDEX query (no '=') as
arguments, answer as CGIs (400), not with their --help text."""
import os
import subprocess
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
GUARDIAN = 'parent@family.test'
SENDER = 'oldfriend@example.net'
OLD_TOKEN = '0123456789abcdef0123456789abcdef'
OLD_HASH = '3eb1bd439947eb762998e566ccc2e099c791118b2f40579cc4f7da2b5061b7f9'   # written by the old code


def main():
    db = h.start_db()
    admin = h.cli_config(db)
    secrets_dir = web.init_accounts(db)
    rc, out, err = h.cli(admin, 'protect', KID, '--guardian', GUARDIAN)
    h.is_(rc, 0, 'guardlist protect %s' % KID) or h.diag(out, err)
    db.sql("INSERT INTO challenges (sender, recipient, protected_key, client_address, notify_state) "
           "VALUES (%s, %s, %s, '192.0.2.7', 'sent')" % (h.sql_str(SENDER), h.sql_str(KID), h.sql_str(KID)))
    cid = int(db.value('SELECT id FROM challenges WHERE sender = %s' % h.sql_str(SENDER)))
    db.sql("INSERT INTO notifications (challenge_id, guardian, kind, message_id, token_sha256, token_expires_at) "
           "VALUES (%d, %s, 'single', '<old@guardlist.test>', UNHEX('%s'), NOW() + INTERVAL 7 DAY)"
           % (cid, h.sql_str(GUARDIAN), OLD_HASH))

    conf = web.approver_config(db, secrets_dir)
    www = web.Lighttpd(web.approve_binary(), {'GUARDLIST_CONFIG': conf})
    www.start()
    r = www.request('GET', '/approve?t=' + OLD_TOKEN)
    h.ok(r.status == 200 and SENDER in r.text and KID in r.text,
         'GET with a token hashed by the old code: 200, the page names the sender and the child',
         'status %d' % r.status, r.text[:1500], www.log())
    wrong = OLD_TOKEN[:-1] + '0'
    r2 = www.request('GET', '/approve?t=' + wrong)
    h.ok(r2.status != 200 and SENDER not in r2.text, 'a token one character off finds nothing',
         'status %d' % r2.status)
    h.ok('name="t" value="%s"' % OLD_TOKEN in r.text and 'value="allow"' in r.text,
         'the page carries the token and an Allow button in its form')
    body = urllib.parse.urlencode({'t': OLD_TOKEN, 'choice': 'allow'})
    r3 = www.request('POST', '/approve', body=body,
                     headers={'Content-Type': 'application/x-www-form-urlencoded'})
    h.ok(r3.status == 200, 'POST allow with the old token: 200', 'status %d' % r3.status, r3.text[:1500],
         www.log())
    h.is_(db.sql("SELECT recipient, sender, action FROM sender_rules WHERE sender = %s" % h.sql_str(SENDER)),
          [[KID, SENDER, 'OK']], 'the allow rule is written for the pair')
    h.is_(db.value('SELECT status FROM challenges WHERE id = %d' % cid), 'approved', 'the challenge is approved')
    www.stop()
    for name, binary in (('guardlist-approve', web.approve_binary()), ('guardlist-web', web.web_binary())):
        env = dict(os.environ, REQUEST_METHOD='GET', QUERY_STRING='x', GUARDLIST_CONFIG=conf,
                   REMOTE_USER='admin', SCRIPT_NAME='/x')
        r = subprocess.run([binary, 'x'], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        head = r.stdout.decode('utf-8', 'replace')[:200]
        h.ok(head.startswith('Status: ') and 'Usage' not in head,
             '%s under a web server with an ISINDEX argument answers as a CGI (%r)' % (name, head[:20]),
             head, r.stderr.decode('utf-8', 'replace')[-500:])
    db.stop()


h.run(main)
