#!/usr/bin/python3
"""guardlist CLI (docs/cli-contract.md): `db init` on an empty database (the
schema of sql/schema.sql, the four least-privilege accounts, 0600 secret
files; guardlistd runs as guardlist_daemon), `db init` again (idempotent, same
passwords), `db status`, `db migrate` on an up-to-date schema, and
`import-article` (also --dsn, and `db migrate`) converting a database made with
the article's exact statements, keeping every row, so that guardlistd decides
on it and the article's INSERTs keep working."""
import os
import re
import stat
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

ACCOUNTS = ('daemon', 'notifier', 'approver', 'web')
TABLES = ('protected_users', 'whitelist', 'guardians', 'sender_rules', 'challenges', 'audit_log',
          'schema_version', 'rule_generation')
ARTICLE = [
    'CREATE TABLE protected_users ( recipient VARCHAR(50) NOT NULL, class VARCHAR(10) NOT NULL, UNIQUE (recipient) );',
    'CREATE TABLE whitelist ( sender VARCHAR(50) NOT NULL, action VARCHAR(2) NOT NULL, UNIQUE (sender) );',
    "INSERT INTO protected_users (recipient, class) VALUES ('vague@imprecise.info', 'whitelist');",
    "INSERT INTO protected_users (recipient, class) VALUES ('Junior@Imprecise.INFO', 'whitelist');",
    "INSERT INTO protected_users (recipient, class) VALUES ('teen@', 'whitelist');",
    "INSERT INTO protected_users (recipient, class) VALUES ('kids.example', 'whitelist');",
    "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com', 'OK');",
    "INSERT INTO whitelist (sender, action) VALUES ('GrandPa@Example.COM', 'OK');",
    "INSERT INTO whitelist (sender, action) VALUES ('friends.example', 'OK');",
    "INSERT INTO whitelist (sender, action) VALUES ('Zo\u00eb@example.com', 'OK');",
]


def connect_as(db, user, password, statement, name='guardlist'):
    r = subprocess.run(['mariadb', '--no-defaults', '-u', user, '--password=' + password, '-S', db.socket,
                        name, '-N', '-B', '-e', statement],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def read_secret(path):
    try:
        with open(path) as f:
            lines = f.read().splitlines()
        return lines[0] if lines else ''
    except OSError:
        return None


def schema_desc(db, name):
    """Columns, indexes and triggers of database NAME, for comparison."""
    q = h.sql_str(name)
    cols = db.sql('SELECT TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, '
                  'COLUMN_DEFAULT, EXTRA, COLLATION_NAME FROM information_schema.COLUMNS '
                  'WHERE TABLE_SCHEMA = %s ORDER BY 1, 2' % q, db=None)
    idx = db.sql('SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME FROM '
                 'information_schema.STATISTICS WHERE TABLE_SCHEMA = %s ORDER BY 1, 2, 4' % q, db=None)
    trg = db.sql('SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING FROM '
                 'information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s ORDER BY 1' % q, db=None)
    return {'columns': [tuple(r) for r in cols], 'indexes': [tuple(r) for r in idx],
            'triggers': [tuple(r) for r in trg]}


def desc_diff(a, b):
    out = []
    for k in a:
        sa, sb = set(a[k]), set(b[k])
        out += ['%s only in the first: %r' % (k, r) for r in sorted(sa - sb)]
        out += ['%s only in the second: %r' % (k, r) for r in sorted(sb - sa)]
    return out or ['(same sets, different order)']


def diff_snap(a, b):
    lines = []
    for t in sorted(set(a) | set(b)):
        ra, rb = set(a.get(t, [])), set(b.get(t, []))
        lines += ['%s: removed %r' % (t, r) for r in sorted(ra - rb, key=str)]
        lines += ['%s: added %r' % (t, r) for r in sorted(rb - ra, key=str)]
    return lines


def tables_of(db, name):
    return set(r[0] for r in db.sql("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
                                    % h.sql_str(name), db=None))


def daemon_on(db, name, user=None, password_file=None, **policy):
    """A started guardlistd on database NAME, as USER with PASSWORD_FILE (default root)."""
    d = h.Daemon(db, **policy)
    text = d.config_text().replace('name = guardlist', 'name = ' + name)
    if user:
        text = text.replace('user = root', 'user = %s\npassword_file = %s' % (user, password_file))
    d.write_raw(text)
    d.start()
    return d


def make_article(db, name):
    db.sql('CREATE DATABASE `%s`' % name, db=None)
    for st in ARTICLE:
        db.sql(st, db=name)


def check_article(db, name, desc, ref):
    """The tests common to every conversion of an article database."""
    prot = db.sql('SELECT recipient, class FROM protected_users', db=name)
    wl = db.sql('SELECT sender, action FROM whitelist', db=name)
    h.is_(sorted((r.casefold(), c) for r, c in prot),
          sorted([('vague@imprecise.info', 'whitelist'), ('junior@imprecise.info', 'whitelist'),
                  ('teen@', 'whitelist'), ('kids.example', 'whitelist')]),
          '%s: every protected_users row kept (compared case-insensitively)' % desc)
    h.is_(sorted((s.casefold(), a) for s, a in wl),
          sorted([('grandma@example.com', 'OK'), ('grandpa@example.com', 'OK'), ('friends.example', 'OK'),
                  ('zo\u00eb@example.com', 'OK')]),
          '%s: every whitelist row kept, the non-ASCII one intact (compared case-insensitively)' % desc)
    widths = dict(((t, c), w) for t, c, w in db.sql(
        "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND COLUMN_NAME IN ('recipient', 'class', 'sender', 'action') "
        "AND TABLE_NAME IN ('protected_users', 'whitelist')" % h.sql_str(name), db=None))
    h.is_((widths.get(('protected_users', 'recipient')), widths.get(('whitelist', 'sender')),
           widths.get(('whitelist', 'action'))), ('255', '255', '255'),
          '%s: recipient, sender and action widened to 255' % desc)
    h.ok(int(widths.get(('protected_users', 'class')) or 0) >= 10, '%s: class not narrowed' % desc)
    h.ok(set(TABLES) <= tables_of(db, name), '%s: the rest of the schema is created' % desc,
         'tables: %r' % sorted(tables_of(db, name)))
    got = schema_desc(db, name)
    h.ok(got == ref, '%s: columns, indexes and triggers are those of sql/schema.sql' % desc,
         *desc_diff(got, ref))
    h.is_(len(db.sql('SELECT * FROM protected_users LIMIT 1', db=name)[0]), 2,
          '%s: SELECT * FROM protected_users still gives the article\'s two columns' % desc)
    h.is_(db.value('SELECT MAX(version) FROM schema_version', db=name),
          db.value('SELECT MAX(version) FROM schema_version', db='reference'),
          '%s: schema_version is current' % desc)


def main():
    db = h.MariaDB()
    db.start()
    db.load_schema('reference')
    ref = schema_desc(db, 'reference')
    ref_version = db.value('SELECT MAX(version) FROM schema_version', db='reference')

    # ------------------------------------------------------------ db init
    db.sql('CREATE DATABASE guardlist', db=None)
    adir = h.tmpdir('guardlist-secrets-')
    cfg = h.cli_config(db, directory=adir)
    rc, out, err = h.cli(cfg, 'db', 'init', actor='admin')
    h.is_(rc, 0, 'db init on an empty database: exit 0') or h.diag('stderr: ' + err)
    got = schema_desc(db, 'guardlist')
    h.ok(got == ref, 'db init: columns, indexes and triggers are those of sql/schema.sql', *desc_diff(got, ref))
    h.is_(db.value('SELECT MAX(version) FROM schema_version'), ref_version, 'db init: schema_version is current')
    h.is_(db.value('SELECT COUNT(*) FROM rule_generation WHERE id = 1'), '1', 'db init: rule_generation row')
    users = sorted(r[0] for r in db.sql("SELECT user FROM mysql.user WHERE host = 'localhost' "
                                        "AND user LIKE 'guardlist%'", db=None))
    h.is_(users, sorted('guardlist_' + a for a in ACCOUNTS), 'db init: the four accounts exist @localhost')
    secrets = {}
    for a in ACCOUNTS:
        p = os.path.join(adir, 'db-%s.secret' % a)
        st = os.stat(p) if os.path.exists(p) else None
        h.ok(st is not None and stat.S_IMODE(st.st_mode) == 0o600,
             'db init: %s exists in the config file\'s directory, mode 0600' % os.path.basename(p),
             'mode: %s' % (oct(stat.S_IMODE(st.st_mode)) if st else 'missing'))
        secrets[a] = read_secret(p)
        h.ok(secrets[a] and len(secrets[a]) >= 16, 'db init: %s holds a generated password (>= 16 chars)' % a,
             'got: %r' % secrets[a])
    h.is_(len(set(secrets.values())), 4, 'db init: the four passwords differ')
    for a in ACCOUNTS:
        rc2, o = connect_as(db, 'guardlist_' + a, secrets[a] or '', 'SELECT 1')
        h.is_((rc2, o), (0, '1'), 'guardlist_%s connects with its secret file\'s password' % a)

    # Least privilege (DESIGN.md): what each account must, and must not, do.
    can = [('daemon', 'SELECT COUNT(*) FROM whitelist'), ('daemon', 'SELECT generation FROM rule_generation'),
           ('notifier', 'SELECT COUNT(*) FROM guardians'), ('notifier', 'SELECT COUNT(*) FROM challenges'),
           ('approver', 'START TRANSACTION; INSERT INTO sender_rules (recipient, sender, action) '
                        "VALUES ('x@c.example', 'y@e.example', 'OK'); ROLLBACK"),
           ('approver', 'SELECT COUNT(*) FROM challenges'),
           ('daemon', 'START TRANSACTION; INSERT INTO challenges (sender, recipient, protected_key, spf_result) '
                      "VALUES ('y@e.example', 'x@c.example', 'x@c.example', 'pass') "
                      'ON DUPLICATE KEY UPDATE spf_result = VALUES(spf_result); ROLLBACK'),
           ('web', "START TRANSACTION; INSERT INTO whitelist (sender, action) VALUES ('y@e.example', 'OK'); ROLLBACK")]
    for a, st in can:
        rc2, o = connect_as(db, 'guardlist_' + a, secrets[a] or '', st)
        h.is_(rc2, 0, 'guardlist_%s may: %s' % (a, st)) or h.diag(o)
    cannot = [('daemon', "INSERT INTO whitelist (sender, action) VALUES ('y@e.example', 'OK')"),
              ('daemon', 'DELETE FROM protected_users'), ('daemon', 'SELECT COUNT(*) FROM audit_log'),
              ('notifier', "INSERT INTO whitelist (sender, action) VALUES ('y@e.example', 'OK')"),
              ('daemon', 'SELECT COUNT(*) FROM mysql.user'), ('web', 'SELECT COUNT(*) FROM mysql.user')]
    for a, st in cannot:
        rc2, o = connect_as(db, 'guardlist_' + a, secrets[a] or '', st)
        h.ok(rc2 != 0, 'guardlist_%s may not: %s' % (a, st), 'it could: %r' % o)
    h.is_(db.value('SELECT COUNT(*) FROM whitelist'), '0', 'the privilege probes left no row behind')

    # guardlistd runs with the daemon account and its secret file.
    rc, out, err = h.cli(cfg, 'protect', 'kid@c.example')
    h.is_(rc, 0, 'protect kid (as root, for the daemon test)') or h.diag(err)
    rc, out, err = h.cli(cfg, 'allow', 'grandma@example.com')
    h.is_(rc, 0, 'allow grandma (as root)') or h.diag(err)
    d = daemon_on(db, 'guardlist', 'guardlist_daemon', os.path.join(adir, 'db-daemon.secret'), outbound='on')
    h.is_(h.query(d.port, sender='grandma@example.com', recipient='kid@c.example'), 'DUNNO',
          'guardlistd as guardlist_daemon: grandma -> kid: DUNNO')
    h.defer_ok(h.query(d.port, sender='stranger@ext.example', recipient='kid@c.example'),
               'guardlistd as guardlist_daemon: stranger -> kid: deferred')
    good, rows, _ = h.poll_until(lambda: h.challenges(db, sender='stranger@ext.example'),
                                 lambda r: len(r) == 1, 10)
    h.ok(good, 'guardlistd as guardlist_daemon records the challenge (INSERT grant)', 'rows: %r' % (rows,))
    h.defer_ok(h.query(d.port, sender='stranger@ext.example', recipient='kid@c.example'),
               'guardlistd as guardlist_daemon: stranger retries: deferred')
    good, rows, _ = h.poll_until(lambda: h.challenges(db, sender='stranger@ext.example'),
                                 lambda r: len(r) == 1 and r[0]['attempts'] == '2', 10)
    h.ok(good, 'guardlistd as guardlist_daemon refreshes the challenge (UPDATE grant)', 'rows: %r' % (rows,))
    # A child's own mail (outbound = on): the contact request is an upsert
    # naming direction, which needs INSERT and UPDATE on that column.
    h.ok(h.query(d.port, sender='kid@c.example', recipient='pal@ext.example',
                 sasl_username='kid@c.example').startswith('550 5.7.1 Not in your contacts yet'),
         'guardlistd as guardlist_daemon, outbound: the kid\'s new contact is asked for, not 451')
    good, rows, _ = h.poll_until(lambda: db.sql("SELECT direction FROM challenges WHERE sender = 'pal@ext.example'"),
                                 lambda r: r == [['out']], 10)
    h.ok(good, 'guardlistd as guardlist_daemon records the contact request (direction out)', 'rows: %r' % (rows,))
    t0 = time.monotonic()
    rc, out, err = h.cli(cfg, 'allow', 'stranger@ext.example', '--to', 'kid@c.example')
    good, got, _ = h.wait_reply(d.port, lambda r: r == 'DUNNO', 3, sender='stranger@ext.example',
                                recipient='kid@c.example')
    h.ok(rc == 0 and good and time.monotonic() - t0 <= 2.0,
         'guardlistd as guardlist_daemon follows a rule change within 2 s', 'rc %r, last reply %r' % (rc, got))
    h.ok('denied' not in d.log().lower(), 'guardlistd as guardlist_daemon logged no "denied" error',
         d.log()[-2000:])
    d.stop()

    # ------------------------------------------------------------ db init again
    data_before = h.snapshot(db, tables=[t for t in TABLES if t != 'audit_log'])
    rc, out, err = h.cli(cfg, 'db', 'init', actor='admin')
    h.is_(rc, 0, 'db init again: exit 0') or h.diag('stderr: ' + err)
    h.is_({a: read_secret(os.path.join(adir, 'db-%s.secret' % a)) for a in ACCOUNTS}, secrets,
          'db init again: the secret files keep their passwords')
    for a in ACCOUNTS:
        rc2, o = connect_as(db, 'guardlist_' + a, secrets[a] or '', 'SELECT 1')
        h.is_((rc2, o), (0, '1'), 'db init again: guardlist_%s still connects with the same password' % a)
    got = schema_desc(db, 'guardlist')
    h.ok(got == ref, 'db init again: schema unchanged', *desc_diff(got, ref))
    after = h.snapshot(db, tables=[t for t in TABLES if t != 'audit_log'])
    h.ok(after == data_before, 'db init again: every row kept', *diff_snap(data_before, after))

    # An existing secret file's password is reused (--secrets-dir).
    def preset_init(desc, preset, old):
        """db init --secrets-dir NEWDIR holding only db-web.secret = PRESET.
        OLD: the passwords in force before (to check a failure changed none)."""
        sdir = h.tmpdir('guardlist-secrets-b-')
        fd = os.open(os.path.join(sdir, 'db-web.secret'), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, (preset + '\n').encode())
        os.close(fd)
        rc, out, err = h.cli(cfg, 'db', 'init', '--secrets-dir', sdir, actor='admin')
        h.is_(rc, 0, 'db init --secrets-dir DIR, %s: exit 0' % desc) or h.diag('stderr: ' + err)
        h.is_(read_secret(os.path.join(sdir, 'db-web.secret')), preset,
              'db init --secrets-dir, %s: the existing db-web.secret is left as it was' % desc)
        rc2, o = connect_as(db, 'guardlist_web', preset, 'SELECT 1')
        h.is_((rc2, o), (0, '1'), 'db init --secrets-dir, %s: guardlist_web now uses that password' % desc)
        if rc != 0:
            for a in ACCOUNTS:
                rc2, o = connect_as(db, 'guardlist_' + a, old[a] or '', 'SELECT 1')
                h.is_((rc2, o), (0, '1'), 'a failed db init leaves guardlist_%s\'s password as it was' % a)
            return None
        new = {}
        for a in ACCOUNTS:
            p = os.path.join(sdir, 'db-%s.secret' % a)
            st = os.stat(p) if os.path.exists(p) else None
            h.ok(st is not None and stat.S_IMODE(st.st_mode) == 0o600,
                 'db init --secrets-dir, %s: %s there, mode 0600' % (desc, os.path.basename(p)))
            new[a] = read_secret(p)
            rc2, o = connect_as(db, 'guardlist_' + a, new[a] or '', 'SELECT 1')
            h.is_((rc2, o), (0, '1'), 'db init --secrets-dir, %s: guardlist_%s connects with %s'
                  % (desc, a, os.path.basename(p)))
        return new

    cur = preset_init('a preset hex password', '0123456789abcdef0123456789abcdef', secrets) or secrets
    preset_init('a preset password chosen by the admin', 'Preset-web-Password-0123456789', cur)

    # ------------------------------------------------------------ db status
    db.sql("INSERT INTO guardians (recipient, email) VALUES ('kid@c.example', 'mom@home.example')")
    before = h.snapshot(db)
    rc, out, err = h.cli(cfg, 'db', 'status', actor='admin')
    h.is_(rc, 0, 'db status: exit 0') or h.diag('stderr: ' + err)
    h.ok(re.search(r'schema version %s\b' % ref_version, out, re.I),
         'db status: says "schema version %s"' % ref_version, 'output: %r' % out)
    for t in ('protected_users', 'whitelist', 'guardians', 'sender_rules', 'challenges', 'audit_log'):
        n = db.value('SELECT COUNT(*) FROM `%s`' % t)
        h.ok(any(re.search(r'\b%s\b' % t, ln) and re.search(r'(?<![\w.])%s(?![\w.])' % n,
                                                             ln.replace(t, ''))
                 for ln in out.splitlines()),
             'db status: a line with %s and its row count %s' % (t, n), 'output: %r' % out)
    gen = db.value('SELECT generation FROM rule_generation WHERE id = 1')
    h.ok(any('generation' in ln.lower() and re.search(r'(?<![\w.])%s(?![\w.])' % gen, ln)
             for ln in out.splitlines()),
         'db status: the rule generation (%s)' % gen, 'output: %r' % out)
    after = h.snapshot(db)
    h.ok(after == before, 'db status: read-only', *diff_snap(before, after))

    # ------------------------------------------------------------ db migrate
    before = h.snapshot(db)
    rc, out, err = h.cli(cfg, 'db', 'migrate', actor='admin')
    h.is_(rc, 0, 'db migrate on an up-to-date schema: exit 0') or h.diag('stderr: ' + err)
    got = schema_desc(db, 'guardlist')
    h.ok(got == ref, 'db migrate (up to date): schema unchanged', *desc_diff(got, ref))
    after = h.snapshot(db)
    nb = dict((t, r) for t, r in before.items() if t != 'audit_log')
    na = dict((t, r) for t, r in after.items() if t != 'audit_log')
    h.ok(na == nb, 'db migrate (up to date): no row changed', *diff_snap(nb, na))
    h.is_(after.get('audit_log'), before.get('audit_log'),
          'db migrate (up to date): nothing applied, so no audit row')

    # ------------------------------------------------------------ import-article
    make_article(db, 'article')
    h.is_(db.value('SELECT COUNT(*) FROM whitelist', db='article'), '4', 'the article database is built')
    acfg = h.cli_config(db, name='article')
    rc, out, err = h.cli(acfg, 'import-article', actor='admin')
    h.is_(rc, 0, 'import-article: exit 0') or h.diag('stderr: ' + err)
    check_article(db, 'article', 'import-article', ref)

    d = daemon_on(db, 'article')
    q = lambda s, r: h.query(d.port, sender=s, recipient=r)  # noqa: E731
    h.is_(q('grandma@example.com', 'vague@imprecise.info'), 'DUNNO', 'converted: grandma -> vague: DUNNO')
    h.is_(q('grandpa@example.com', 'junior@imprecise.info'), 'DUNNO',
          'converted: grandpa (stored GrandPa@Example.COM) -> junior (stored Junior@Imprecise.INFO): DUNNO')
    h.is_(q('Zo\u00cb@example.com', 'vague@imprecise.info'), 'DUNNO', 'converted: the non-ASCII sender: DUNNO')
    h.is_(q('anyone@friends.example', 'teen@school.example'), 'DUNNO',
          'converted: domain rule friends.example -> teen@ key: DUNNO')
    h.defer_ok(q('stranger@ext.example', 'teen@school.example'), 'converted: stranger -> teen@ key: deferred')
    h.defer_ok(q('stranger@ext.example', 'pupil@kids.example'), 'converted: stranger -> kids.example: deferred')
    h.is_(q('stranger@ext.example', 'someone@imprecise.info'), 'DUNNO', 'converted: unprotected: DUNNO')
    good, rows, _ = h.poll_until(lambda: db.sql("SELECT protected_key FROM challenges WHERE "
                                                "sender = 'stranger@ext.example' ORDER BY protected_key",
                                                db='article'), lambda r: len(r) == 2, 10)
    h.ok(good, 'converted: the challenges are recorded', 'rows: %r' % (rows,))

    # The article's INSERT statements keep working, and the daemon follows them.
    for st in ("INSERT INTO protected_users (recipient, class) VALUES ('new@imprecise.info', 'whitelist')",
               "INSERT INTO whitelist (sender, action) VALUES ('aunt@example.com', 'OK')",
               "INSERT INTO whitelist VALUES ('uncle@example.com', 'OK')",
               "INSERT INTO protected_users VALUES ('newer@imprecise.info', 'whitelist')"):
        try:
            db.sql(st, db='article')
            h.ok(True, 'converted: the article\'s statement works: ' + st)
        except RuntimeError as e:
            h.ok(False, 'converted: the article\'s statement works: ' + st, str(e))
    for s, r, pred, desc in (('aunt@example.com', 'vague@imprecise.info', lambda x: x == 'DUNNO', 'aunt: DUNNO'),
                             ('uncle@example.com', 'vague@imprecise.info', lambda x: x == 'DUNNO', 'uncle: DUNNO'),
                             ('stranger@ext.example', 'new@imprecise.info', h.is_defer, 'new@ protected')):
        good, got, secs = h.wait_reply(d.port, pred, 3, sender=s, recipient=r)
        h.ok(good and secs <= 2.0, 'converted: the daemon follows the article\'s INSERT within 2 s (%s)' % desc,
             'last %r after %.3f s' % (got, secs))
    d.stop()

    before = h.snapshot(db, name='article')
    rc, out, err = h.cli(acfg, 'import-article', actor='admin')
    after = h.snapshot(db, name='article')
    nb = dict((t, r) for t, r in before.items() if t != 'audit_log')
    na = dict((t, r) for t, r in after.items() if t != 'audit_log')
    h.ok(na == nb, 'import-article on an already converted database changes no row (exit %s)' % rc,
         *diff_snap(nb, na))

    # --dsn: another database name; the config's own database is not touched.
    make_article(db, 'article2')
    before = h.snapshot(db)
    dsn = 'socket=%s;name=article2;user=root' % db.socket
    rc, out, err = h.cli(cfg, 'import-article', '--dsn', dsn, actor='admin')
    h.is_(rc, 0, 'import-article --dsn "%s": exit 0' % dsn) or h.diag('stderr: ' + err)
    check_article(db, 'article2', 'import-article --dsn', ref)
    after = h.snapshot(db)
    nb = dict((t, r) for t, r in before.items() if t != 'audit_log')
    na = dict((t, r) for t, r in after.items() if t != 'audit_log')
    h.ok(na == nb, 'import-article --dsn leaves the config\'s database alone', *diff_snap(nb, na))
    for bad in ('garbage', 'socket=%s;name=article2;colour=red' % db.socket,
                'socket=%s;name=article2;user' % db.socket):
        before = h.snapshot(db, name='article2')
        rc, out, err = h.cli(cfg, 'import-article', '--dsn', bad, actor='admin')
        h.is_(rc, 2, 'import-article --dsn %r (malformed): exit 2' % bad) or h.diag('stderr: ' + err)
        h.ok(err.startswith('guardlist: error: '), 'import-article --dsn %r: error message' % bad, err)
        h.ok(h.snapshot(db, name='article2') == before, 'import-article --dsn %r: nothing written' % bad)

    # db migrate converts the article's tables too.
    make_article(db, 'article3')
    mcfg = h.cli_config(db, name='article3')
    rc, out, err = h.cli(mcfg, 'db', 'migrate', actor='admin')
    h.is_(rc, 0, 'db migrate on an article database: exit 0') or h.diag('stderr: ' + err)
    check_article(db, 'article3', 'db migrate (article)', ref)

    # ------------------------------------------------------------ db init, other names
    db.sql('CREATE DATABASE other_name', db=None)
    odir = h.tmpdir('guardlist-secrets-o-')
    ocfg = h.cli_config(db, name='other_name', directory=odir)
    rc, out, err = h.cli(ocfg, 'db', 'init', actor='admin')
    h.is_(rc, 0, 'db init on an empty database named other_name: exit 0') or h.diag('stderr: ' + err)
    sec = read_secret(os.path.join(odir, 'db-daemon.secret')) or ''
    rc2, o = connect_as(db, 'guardlist_daemon', sec, 'SELECT COUNT(*) FROM whitelist', name='other_name')
    h.is_((rc2, o), (0, '0'), 'db init (other_name): the daemon account\'s grants are on the configured database')

    cdir = h.tmpdir('guardlist-secrets-c-')
    ccfg = h.cli_config(db, name='fresh_db', directory=cdir)
    rc, out, err = h.cli(ccfg, 'db', 'init', actor='admin')
    h.is_(rc, 0, 'db init when the database does not exist yet (a new server): exit 0') or h.diag('stderr: ' + err)
    got = schema_desc(db, 'fresh_db')
    rc == 0 and h.ok(got == ref, 'db init (new database fresh_db): the schema of sql/schema.sql', *desc_diff(got, ref)[:10])
    db.stop()


h.run(main, timeout=600)
