#!/usr/bin/python3
"""guardlist-web: who is an admin is decided by whole names in [web] admins
(issue 26: a check that took a prefix of an admin's name for the name
passed every other test).  Under a real lighttpd with Basic auth and a real
MariaDB, admins = "admin, ops-team": admin and ops-team are admins; ad,
admi, ops and admin2 (a prefix of a listed name, or one that has a listed
name as its prefix) are guardians: their page says so, has no global rules,
and a POST that changes global rules is refused (403) and writes nothing.
With admins = "*" every login is an admin."""
import base64
import os
import re
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

ADMINS = ('admin', 'ops-team')
OTHERS = ('ad', 'admi', 'ops', 'admin2')
USERS = {u: 'pw-%s-1' % u for u in ADMINS + OTHERS}
FORM = 'application/x-www-form-urlencoded'


def main():
    db = h.start_db()
    secrets_dir = web.init_accounts(db)
    conf = web.web_config(db, secrets_dir, admins=', '.join(ADMINS))
    www = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': conf}, url_path='/admin', users=USERS)
    www.start()

    def auth(user):
        return {'Authorization': 'Basic ' + base64.b64encode(('%s:%s' % (user, USERS[user])).encode()).decode()}

    def role(user):
        r = www.request('GET', '/admin?p=rules', headers=auth(user))
        m = re.search(r'class="who">[^<]*\((admin|guardian)\)<', r.text)
        return r, (m.group(1) if m else None)

    def global_rule(user, sender):
        r, _ = role(user)
        m = re.search(r'name="csrf" value="([^"]+)"', r.text)
        body = urllib.parse.urlencode({'do': 'rule-set', 'csrf': m.group(1) if m else '', 'rcpt': '',
                                       'sender': sender, 'kind': 'allow'})
        return www.request('POST', '/admin', body=body, headers=dict(auth(user), **{'Content-Type': FORM}))

    for u in ADMINS:
        r, got = role(u)
        h.is_((r.status, got), (200, 'admin'), '%s (listed) is an admin' % u)
    for u in OTHERS:
        r, got = role(u)
        h.is_((r.status, got), (200, 'guardian'), '%s (not listed, only like a listed name) is a guardian' % u)
        h.ok('p=global' not in r.text, '%s: no global rules in the menu' % u)
        sender = 'friend-of-%s@example.com' % u
        r = global_rule(u, sender)
        h.is_(r.status, 403, '%s: a POST setting a global rule is refused' % u)
        h.is_(db.sql('SELECT action FROM whitelist WHERE sender = %s' % h.sql_str(sender)), [],
              '%s: ... and writes nothing' % u)
    r = global_rule('admin', 'friend-of-admin@example.com')
    h.is_(r.status, 200, 'control: admin sets a global rule')
    h.is_(db.sql("SELECT action FROM whitelist WHERE sender = 'friend-of-admin@example.com'"), [['OK']],
          'control: ... and it is written')
    www.stop()

    conf = web.web_config(db, secrets_dir, admins='*')
    www = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': conf}, url_path='/admin', users=USERS)
    www.start()
    for u in ('ad', 'admin2'):
        h.is_(role(u)[1], 'admin', 'admins = *: %s is an admin' % u)
    www.stop(check=True)
    db.stop()


h.run(main, timeout=180)
