#!/usr/bin/python3
"""guardlist doctor against real Postfix configuration directories (main.cf,
master.cf and tables built with postmap/postalias in a temp dir; postconf -c
DIR needs no running Postfix) and a private MariaDB: a clean setup exits 0
and writes nothing; each kind of problem is found with exit 1 and a line
naming the alias and the protected address (virtual alias, recursion
a -> b -> kid, catch-all, texthash, hash, lmdb, btree and cdb tables, local
aliases and the other local domains, recipient_delimiter, the policy check
missing or behind a permit_*, in main.cf and in a master.cf -o override,
default actions); tables that cannot be listed (pcre:, proxy:mysql:) are
named in a warning; hostile table contents are warned about, printed
escaped, never crash; --fix protects every alias with the guardians of the
address it reaches, one audit row each, and a second run is clean.  Last, a
real Postfix with a virtual alias delivers a stranger's mail to the kid
through the alias (250) until doctor --fix, then defers it (450)."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import postfix  # noqa: E402

KID = 'kid@family.test'
MOM = 'mom@home.example'
DAD = 'dad@home.example'
ACTOR = 'doctor-test'
POLICY = 'inet:127.0.0.1:10040'
GOOD_ACTION = '451 4.3.5 Policy service unavailable, try again later'
PROBLEM = 'guardlist: problem: '
WARNING = 'guardlist: warning: '

# A setup doctor finds nothing in: one local domain, the policy check after
# reject_unauth_destination and before any permit_*, a 4xx default action.
BASE = {
    'compatibility_level': '3.6',
    'myhostname': 'mx.family.test',
    'mydomain': 'family.test',
    'myorigin': 'family.test',
    'mydestination': 'family.test',
    'recipient_delimiter': '+',
    'queue_directory': '/var/spool/postfix',
    'alias_maps': '',
    'virtual_alias_maps': '',
    'smtpd_relay_restrictions': 'permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination',
    'smtpd_recipient_restrictions': 'reject_unauth_destination, check_policy_service ' + POLICY,
    'smtpd_policy_service_default_action': GOOD_ACTION,
}
MASTER = 'smtp inet n - n - - smtpd\n'


class Conf:
    """One Postfix configuration directory: main.cf from BASE updated by
    SETTINGS (a value None leaves the parameter out), master.cf, and tables:
    name -> (map type or None for a plain file, text).  {dir} in any value is
    the directory."""

    def __init__(self, settings=None, tables=None, master=MASTER):
        self.dir = h.tmpdir('guardlist-doctor-pf-')
        main = dict(BASE)
        main.update(settings or {})
        lines = ['%s = %s' % (k, v.replace('{dir}', self.dir)) for k, v in main.items() if v is not None]
        self.write('main.cf', '\n'.join(lines) + '\n')
        self.write('master.cf', master)
        for name, (maptype, text) in (tables or {}).items():
            self.write(name, text)
            if maptype:
                tool = 'postalias' if name.startswith('aliases') else 'postmap'
                r = subprocess.run([tool, '-c', self.dir, '%s:%s/%s' % (maptype, self.dir, name)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
                if r.returncode != 0:
                    raise RuntimeError('%s %s:%s: %s' % (tool, maptype, name, r.stdout.decode(errors='replace')))

    def write(self, name, text):
        with open(os.path.join(self.dir, name), 'wb') as f:
            f.write(text.encode() if isinstance(text, str) else text)
        h.settled(os.path.join(self.dir, name))

    def path(self, name):
        return os.path.join(self.dir, name)


class Doctor:
    def __init__(self, db, cfg):
        self.db, self.cfg = db, cfg

    def run(self, conf, *args):
        rc, out, err = h.cli(self.cfg, 'doctor', '--postfix', conf.dir, *args, actor=ACTOR, timeout=300)
        for line in err.splitlines():
            if any(m in line for m in h.SANITIZER_MARKS):
                h.ok(False, 'no sanitizer report from guardlist doctor', err[-3000:])
                break
        return rc, out, err

    def check(self, desc, conf, want_rc, want=(), want_warn=(), not_want=(), readonly=True, args=()):
        """Runs doctor on CONF: exit WANT_RC; for each tuple of WANT a problem
        line holding every word of it, and for WANT_WARN a warning line; no
        problem line holding a word of NOT_WANT; every line printable; with
        READONLY no table changed.  Returns the output."""
        before = h.snapshot(self.db) if readonly else None
        rc, out, err = self.run(conf, *args)
        h.is_(rc, want_rc, '%s: exit %d' % (desc, want_rc)) or h.diag(out, err)
        problems = [ln for ln in out.splitlines() if ln.startswith(PROBLEM)]
        warnings = [ln for ln in out.splitlines() if ln.startswith(WARNING)]
        for words in want:
            h.ok(any(all(w in ln for w in words) for ln in problems),
                 '%s: a problem line names %s' % (desc, ' and '.join(words)), out, err)
        for words in want_warn:
            h.ok(any(all(w in ln for w in words) for ln in warnings),
                 '%s: a warning names %s' % (desc, ' and '.join(words)), out, err)
        for w in not_want:
            h.ok(not any(w in ln for ln in problems), '%s: no problem about %s' % (desc, w), out)
        h.ok(not re.search('[\x00-\x09\x0b-\x1f\x7f]', out + err),
             '%s: the output is printable (control characters escaped)' % desc, repr((out + err)[-2000:]))
        if want_rc == 0 and '--fix' not in args:
            h.ok(not problems, '%s: no problem line' % desc, out)
        if readonly:
            h.ok(h.snapshot(self.db) == before, '%s: nothing written' % desc)
        return out


def usage(doc, conf):
    rc, out, err = h.cli(doc.cfg, 'doctor', '--help')
    h.is_(rc, 0, 'doctor --help: exit 0')
    h.ok('--postfix' in out and '--fix' in out, 'doctor --help names --postfix and --fix', out)
    rc, out, err = h.cli(None, 'doctor', '--help', env={'GUARDLIST_CONFIG': '/nonexistent'})
    h.is_(rc, 0, 'doctor --help needs no configuration')
    rc, out, err = h.cli(None, '--help')
    h.ok('doctor' in out, 'guardlist --help lists doctor', out)
    for args, word in ((('--bogus',), 'help'), (('extra',), 'extra'),
                       (('--postfix', '/nonexistent/postfix'), 'postconf')):
        rc, out, err = h.cli(doc.cfg, 'doctor', *args)
        h.is_(rc, 2, 'doctor %s: exit 2' % ' '.join(args))
        h.ok(any(ln.startswith('guardlist: error: ') and word in ln for ln in err.splitlines()),
             'doctor %s: an error line naming %s' % (' '.join(args), word), err)
    man = open(os.path.join(ROOT, 'admin', 'guardlist.1')).read()
    h.ok('doctor' in man and '\\-\\-fix' in man, 'the man page documents doctor and --fix')
    readme = open(os.path.join(ROOT, 'README.md')).read()
    h.ok('guardlist doctor' in readme, 'the README has guardlist doctor')


def aliases_found(doc):
    h.diag('--- problem 1: aliases reaching a protected address')
    doc.check('clean setup', Conf(), 0)
    conf = Conf({'virtual_alias_maps': 'hash:{dir}/virtual'},
                {'virtual': ('hash', 'kidalias@family.test kid@family.test\ndad@family.test dad@home.example\n')})
    doc.check('hash virtual alias to the kid', conf, 1, want=[('kidalias@family.test', KID, 'hash:' + conf.path('virtual'))],
              not_want=['dad@family.test'])
    conf = Conf({'virtual_alias_maps': 'texthash:{dir}/virtual'},
                {'virtual': (None, 'a@other.test b@other.test\nb@other.test kid@family.test\n')})
    out = doc.check('recursion a -> b -> kid (texthash)', conf, 1,
                    want=[('a@other.test', KID, 'texthash:'), ('b@other.test', KID)])
    h.ok('a@other.test -> b@other.test -> kid@family.test' in out, 'recursion: the line shows the path a -> b -> kid', out)
    conf = Conf({'virtual_alias_maps': 'texthash:{dir}/virtual'},
                {'virtual': (None, 'list@family.test dad@home.example, "Kid" <kid+list@family.test>\n'
                                   'loop1@family.test loop2@family.test\nloop2@family.test loop1@family.test\n')})
    doc.check('a list with the kid (extension, phrase) and a loop', conf, 1, want=[('list@family.test', 'kid+list@family.test')],
              not_want=['loop1', 'loop2'])
    conf = Conf({'virtual_alias_maps': 'texthash:{dir}/virtual'},
                {'virtual': (None, '@catch.test kid@family.test\n')})
    doc.check('catch-all to the kid', conf, 1, want=[('catch-all @catch.test', KID)])
    conf = Conf({'virtual_alias_maps': 'texthash:{dir}/virtual'},
                {'virtual': (None, '@old.family.test @family.test\n')})
    doc.check('catch-all renaming a domain', conf, 1, want=[('kid@old.family.test', KID)], not_want=['catch-all'])
    for maptype in ('lmdb', 'btree', 'cdb'):
        conf = Conf({'virtual_alias_maps': '%s:{dir}/virtual' % maptype},
                    {'virtual': (maptype, 'via-%s@family.test kid@family.test\n' % maptype)})
        doc.check('a %s table is listed' % maptype, conf, 1, want=[('via-%s@family.test' % maptype, KID)])
    conf = Conf({'virtual_alias_maps': 'pcre:{dir}/v.pcre, proxy:mysql:{dir}/v.cf, proxy:texthash:{dir}/virtual'},
                {'v.pcre': (None, '/^kid/ kid@family.test\n'), 'v.cf': (None, 'hosts = x\n'),
                 'virtual': (None, 'proxied@family.test kid@family.test\n')})
    doc.check('unlistable tables are warned about, a proxy:texthash one listed', conf, 1,
              want=[('proxied@family.test', KID)],
              want_warn=[('cannot list', 'pcre:' + conf.path('v.pcre')), ('cannot list', 'proxy:mysql:' + conf.path('v.cf'))])
    conf = Conf({'virtual_alias_maps': 'pcre:{dir}/v.pcre'}, {'v.pcre': (None, '/^kid/ kid@family.test\n')})
    doc.check('an unlistable table alone: a warning, not a problem', conf, 0, want_warn=[('cannot list', 'pcre:')])
    conf = Conf({'virtual_alias_maps': 'hash:{dir}/missing'})
    doc.check('a table whose file is missing: a warning naming it', conf, 0,
              want_warn=[('cannot list', 'hash:' + conf.path('missing'))])


def local_domains(doc):
    h.diag('--- problems 1 and 2: local aliases, and the other local domains')
    conf = Conf({'mydestination': 'family.test, localhost, $myhostname', 'alias_maps': 'hash:{dir}/aliases'},
                {'aliases': ('hash', 'kidalias: kid\nroot: postmaster\nprog: "|/bin/cat"\n')})
    doc.check('local alias and local domains', conf, 1,
              want=[('kidalias@family.test', KID, 'alias_maps'), ('kidalias@localhost', KID),
                    ('kidalias@mx.family.test', KID), ('kid@localhost', 'mailbox', KID), ('kid@mx.family.test', KID)],
              not_want=['root@', 'prog@'])
    conf = Conf({'alias_maps': 'cdb:{dir}/aliases'}, {'aliases': ('cdb', 'kidalias: kid\n')})
    doc.check('a cdb alias table (read through its source)', conf, 1, want=[('kidalias@family.test', KID, 'cdb:')])


def settings(doc):
    h.diag('--- problems 3, 4, 5: delimiter, restrictions, default action')
    doc.check('recipient_delimiter differs', Conf({'recipient_delimiter': '+-'}), 1,
              want=[('recipient_delimiter', "'+-'", "'+'")])
    doc.check('Postfix has no recipient_delimiter', Conf({'recipient_delimiter': None}), 1,
              want=[('recipient_delimiter',)])
    doc.check('policy check missing', Conf({'smtpd_recipient_restrictions': 'reject_unauth_destination'}), 1,
              want=[('smtpd_recipient_restrictions', 'missing', POLICY)])
    doc.check('policy check only in smtpd_relay_restrictions',
              Conf({'smtpd_recipient_restrictions': 'reject_unauth_destination',
                    'smtpd_relay_restrictions': 'reject_unauth_destination, check_policy_service ' + POLICY}), 1,
              want=[('missing', 'smtpd_relay_restrictions has it')])
    doc.check('another policy service is not guardlist',
              Conf({'smtpd_recipient_restrictions': 'check_policy_service inet:127.0.0.1:10023'}), 1,
              want=[('missing', 'inet:127.0.0.1:10023')])
    for permit, who in (('permit_mynetworks', 'mynetworks'), ('permit_sasl_authenticated', 'SASL'),
                        ('permit_auth_destination', 'every client')):
        doc.check('%s before the policy check' % permit,
                  Conf({'smtpd_recipient_restrictions': '%s, reject_unauth_destination, check_policy_service %s'
                        % (permit, POLICY)}), 1, want=[('smtpd_recipient_restrictions', permit, who)])
    doc.check('permit after the policy check is fine',
              Conf({'smtpd_recipient_restrictions': 'reject_unauth_destination, check_policy_service { %s, timeout=10s },'
                    ' permit_mynetworks, permit' % POLICY}), 0)
    out = doc.check('a check_*_access before it is a warning',
                    Conf({'smtpd_recipient_restrictions': 'check_client_access hash:/etc/postfix/ok, check_policy_service '
                          + POLICY}), 0, want_warn=[('check_client_access', 'OK')])
    doc.check('master.cf -o override without the policy check',
              Conf(master=MASTER + 'submission inet n - n - - smtpd\n  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject\n'),
              1, want=[('master.cf service submission/inet', 'missing')])
    doc.check('default action not set', Conf({'smtpd_policy_service_default_action': None}), 1,
              want=[('smtpd_policy_service_default_action', 'not set')])
    doc.check('default action DUNNO', Conf({'smtpd_policy_service_default_action': 'DUNNO'}), 1,
              want=[('smtpd_policy_service_default_action = DUNNO',)])
    doc.check("the check's own default_action=OK",
              Conf({'smtpd_recipient_restrictions': 'check_policy_service { %s, default_action=OK }' % POLICY}), 1,
              want=[('default_action=OK',)])


def unix_listen(db):
    h.diag('--- a unix socket listen matches check_policy_service unix:private/...')
    cfg = h.cli_config(db, policy={'listen': 'unix:/var/spool/postfix/private/guardlist'})
    doc = Doctor(db, cfg)
    doc.check('unix:private/guardlist is [policy] listen under queue_directory',
              Conf({'smtpd_recipient_restrictions': 'reject_unauth_destination, check_policy_service unix:private/guardlist'}),
              0)
    doc.check('an inet check is not the unix listen', Conf(), 1, want=[('missing',)])


def hostile(doc):
    h.diag('--- hostile table contents')
    text = (b'ok@family.test kid@family.test\n'
            b'esc@family.test kid\x1b]0;pwned\x07@family.test\n'
            b'long@family.test ' + b'x' * 70000 + b'@family.test\n'
            b'quote@family.test "kid@family.test\n'
            b'many@family.test ' + b', '.join(b'm%d@family.test' % i for i in range(2000)) + b', kid@family.test\n'
            b'\xe2\x80\xae@family.test kid@family.test\n')
    conf = Conf({'virtual_alias_maps': 'texthash:{dir}/virtual'}, {'virtual': (None, text)})
    out = doc.check('hostile texthash table', conf, 1, want=[('ok@family.test', KID), ('many@family.test', KID)],
                    want_warn=[('texthash:' + conf.path('virtual'), 'left out')])
    h.ok('\\x1b' in out or 'esc@' not in out, 'hostile: an escape sequence is printed escaped, never raw', repr(out[-1500:]))


def fix(doc):
    h.diag('--- --fix')
    db = doc.db
    conf = Conf({'mydestination': 'family.test, localhost', 'alias_maps': 'hash:{dir}/aliases',
                 'virtual_alias_maps': 'texthash:{dir}/virtual'},
                {'aliases': ('hash', 'kidalias: kid\n'),
                 'virtual': (None, 'a@other.test b@other.test\nb@other.test kid@family.test\n')})
    fixable = ['a@other.test', 'b@other.test', 'kidalias@family.test', 'kidalias@localhost', 'kid@localhost']
    doc.check('before --fix', conf, 1, want=[(a,) for a in fixable])
    last = int(db.value('SELECT COALESCE(MAX(id), 0) FROM audit_log'))
    out = doc.check('--fix', conf, 0, readonly=False, args=('--fix',))
    for a in fixable:
        h.ok(any(ln.startswith('guardlist: fixed: ') and a in ln for ln in out.splitlines()),
             '--fix: says it protected %s' % a, out)
        h.is_(db.value("SELECT COUNT(*) FROM protected_users WHERE recipient = %s" % h.sql_str(a)), '1',
              '--fix: %s is protected' % a)
        h.is_(sorted(r[0] for r in db.sql('SELECT email FROM guardians WHERE recipient = %s' % h.sql_str(a))),
              [DAD, MOM], '--fix: %s has the kid\'s guardians' % a)
    rows = db.sql('SELECT actor, action, detail FROM audit_log WHERE id > %d ORDER BY id' % last)
    h.is_(len(rows), len(fixable), '--fix: one audit row per alias protected')
    h.ok(all(r[0] == ACTOR and r[1] == 'protect' for r in rows), '--fix: the audit rows name the actor and protect', rows)
    doc.check('after --fix: clean', conf, 0)
    conf = Conf({'virtual_alias_maps': 'texthash:{dir}/virtual', 'smtpd_policy_service_default_action': None},
                {'virtual': (None, '@catch.test kid@family.test\nfan@family.test kid@family.test\n')})
    before = int(db.value('SELECT COUNT(*) FROM protected_users'))
    out = doc.check('--fix with problems it cannot fix', conf, 1, readonly=False, args=('--fix',),
                    want=[('catch-all @catch.test',), ('smtpd_policy_service_default_action',)])
    h.is_(int(db.value('SELECT COUNT(*) FROM protected_users')), before + 1,
          '--fix: only fan@family.test was protected (not the catch-all\'s domain)')
    h.ok('left' in out.splitlines()[-1], '--fix: the last line counts what is left', out)


def real_postfix(db):
    h.diag('--- a real Postfix: the alias lets a stranger through until --fix')
    d = h.start_daemon(db)
    cfg = h.cli_config(db, policy={'listen': 'inet:127.0.0.1:%d' % d.port})
    doc = Doctor(db, cfg)
    vdir = h.tmpdir('guardlist-doctor-v-')
    with open(os.path.join(vdir, 'virtual'), 'w') as f:
        f.write('sweetie@family.test kid@family.test\n')
    pf = postfix.PrivatePostfix([
        'virtual_alias_maps = texthash:%s/virtual' % vdir,
        'smtpd_recipient_restrictions = reject_unauth_destination,',
        '    check_policy_service inet:127.0.0.1:%d' % d.port,
        'smtpd_policy_service_default_action = ' + GOOD_ACTION,
        'recipient_delimiter = +',
    ])
    pf.start()
    code, text, tr = pf.rcpt('stranger@example.net', 'sweetie@family.test')
    h.is_(code, 250, 'before --fix: the stranger reaches the kid through the alias (250)') or h.diag(tr)
    conf = Conf()
    conf.dir = pf.conf
    doc.check('the private Postfix: the alias is found', conf, 1, want=[('sweetie@family.test', KID)])
    doc.check('the private Postfix: --fix', conf, 0, readonly=False, args=('--fix',))
    good, got, _ = h.poll_until(lambda: pf.rcpt('stranger@example.net', 'sweetie@family.test')[0],
                                lambda c: c == 450, 10)
    h.ok(good, 'after --fix: the stranger is deferred (450) at the alias too', 'last RCPT code: %r' % (got,))
    pf.stop(check=True)
    d.stop()


def main():
    db = h.start_db()
    cfg = h.cli_config(db)
    for args in (('protect', KID, '--guardian', MOM, '--guardian', DAD),):
        rc, out, err = h.cli(cfg, *args, actor='setup')
        h.is_(rc, 0, 'setup: guardlist %s' % ' '.join(args)) or h.diag(err)
    doc = Doctor(db, cfg)
    usage(doc, None)
    aliases_found(doc)
    local_domains(doc)
    settings(doc)
    unix_listen(db)
    hostile(doc)
    fix(doc)
    real_postfix(db)


h.run(main, timeout=600)
