#!/usr/bin/python3
"""The article's pure-Postfix setup, as `guardlist postfix-config
--lookup-tables --dir DIR` writes and prints it, run in a real private
Postfix (tests/lib/postfix.py) against a private MariaDB with the article's
rows, and checked over SMTP with swaks: the whitelisted sender gets 250, a
stranger exactly the article's 554, an unprotected recipient 250, a
mixed-case sender 250, and a rule added with `guardlist allow` is in force
(polled, no Postfix restart).  The maps compare folded keys byte for byte: a
row typed by hand in mixed case (Zed@Family.Test) still protects, and
`postmap -q` with a look-alike (grandma@exämple.com, zoë@) finds nothing.  The maps are written mode 0640 and use the
daemon's least-privilege account made by `guardlist db init`; without --dir
the password is shown as a placeholder."""
import os
import re
import shutil
import stat
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import postfix  # noqa: E402

KID = 'kid@family.test'
GRANDMA = 'grandma@example.com'
STRANGER = 'stranger@example.net'
ARTICLE_554 = '554 5.7.1 <kid@family.test>: Recipient address rejected: Access denied'
MAPS = ('guardlist-protected.cf', 'guardlist-whitelist.cf')
RULE_WAIT = 10.0      # a new rule must be in force in Postfix within this


def password_lines(text):
    return [m.group(1).strip() for m in re.finditer(r'^\s*password\s*=(.*)$', text, re.M)]


def describe_file(path):
    try:
        st = os.stat(path)
    except OSError as e:
        return '%s: %s' % (path, e)
    import grp
    import pwd
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return '%s: mode %04o, owner %s, group %s' % (path, stat.S_IMODE(st.st_mode), owner, group)


def postfix_gid():
    import grp
    try:
        return grp.getgrnam('postfix').gr_gid
    except KeyError:
        return -1


def main():
    needed = (('postfix', postfix.POSTFIX), ('swaks', postfix.SWAKS),
              ('postfix-mysql', '/usr/lib/postfix/postfix-mysql.so'))
    missing = [pkg for pkg, path in needed if not os.path.exists(path)]
    if not h.ok(not missing, 'Postfix with MySQL maps and swaks are installed',
                'missing Debian packages: %s (make deps)' % ' '.join(missing)):
        return
    db = h.start_db(
        # The article's rows: kid@family.test protected, grandma whitelisted.
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test','whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
        # Typed by hand in mixed case; and a look-alike pair of families.
        "INSERT INTO protected_users (recipient, class) VALUES ('Zed@Family.Test','whitelist')",
        "INSERT INTO protected_users (recipient, class) VALUES ('zoe@school.test','whitelist')")

    # --- accounts: `db init` makes the least-privilege users and secrets
    cfgdir = h.tmpdir('guardlist-cli-')
    secrets = h.tmpdir('guardlist-secrets-')
    config = h.cli_config(db, directory=cfgdir)
    rc, out, err = h.cli(config, 'db', 'init', '--secrets-dir', secrets)
    h.is_(rc, 0, 'guardlist db init --secrets-dir DIR: exit 0') or h.diag(out, err)
    secret_file = os.path.join(secrets, 'db-daemon.secret')
    password = ''
    if os.path.exists(secret_file):
        with open(secret_file) as f:
            password = f.readline().rstrip('\n')
        config = h.cli_config(db, directory=cfgdir,
                              policy={'user': 'guardlist_daemon', 'password_file': secret_file})
    h.ok(len(password) >= 12, 'db init wrote the daemon password to %s' % secret_file,
         describe_file(secret_file))

    # --- without --dir: everything printed, the password only as a placeholder
    rc, out, err = h.cli(config, 'postfix-config', '--lookup-tables')
    h.is_(rc, 0, 'postfix-config --lookup-tables (no --dir): exit 0') or h.diag(err)
    shown = password_lines(out)
    h.ok(len(shown) == 2 and all(shown), 'without --dir both maps are printed with a non-empty password line',
         'password values: %r' % shown, out)
    h.ok(password and password not in out and password not in err,
         'without --dir the real password is not printed (a placeholder instead)', 'values: %r' % shown)

    # --- with --dir: the maps written mode 0640, main.cf lines printed
    pfdir = h.tmpdir('guardlist-pfmaps-')
    rc, lines, err = h.cli(config, 'postfix-config', '--lookup-tables', '--dir', pfdir)
    h.is_(rc, 0, 'postfix-config --lookup-tables --dir DIR: exit 0') or h.diag(err)
    h.diag('printed main.cf lines:', lines)
    for name in MAPS:
        path = os.path.join(pfdir, name)
        mode = stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else None
        h.ok(mode == 0o640, '%s written with mode 0640' % name, describe_file(path))
        # proxymap(8) opens the map after dropping privileges: only the
        # group can make a 0640 file readable to it (the CLI's own printed
        # hint says "owner root, group postfix").
        gid = os.stat(path).st_gid if os.path.exists(path) else None
        h.ok(gid == postfix_gid(), '%s belongs to group postfix (readable by proxymap)' % name,
             describe_file(path))
        h.ok(path in lines, 'the printed main.cf lines use %s' % path)
    for name in MAPS:
        try:
            with open(os.path.join(pfdir, name)) as f:
                written = f.read()
        except OSError as e:
            written = str(e)
        h.is_(password_lines(written), [password],
              '%s holds the real password of the [policy] account (guardlist_daemon)' % name)
    try:
        parsed = postfix.split_main_cf(lines)
        perr = None
    except ValueError as e:
        parsed, perr = [], str(e)
    h.ok(perr is None and parsed, 'the printed text is main.cf syntax (parameters, comments, blanks only)',
         perr or 'nothing printed')

    # --- a private Postfix with exactly those lines (plus its own plumbing)
    pf = postfix.PrivatePostfix(lines if perr is None else [])
    try:
        secs = pf.start()
        started, why = True, None
        h.ok(True, 'postfix check and start with the printed lines (%.2f s)' % secs)
    except RuntimeError as e:
        started, why = False, str(e)
        h.ok(False, 'postfix check and start with the printed lines', why,
             'main.cf:', pf.main_cf_text(), *[describe_file(os.path.join(pfdir, n)) for n in MAPS])

    def rcpt_is(sender, rcpt, want, desc):
        if not started:
            return h.ok(False, desc, 'not run: Postfix did not start')
        code, text, transcript = pf.rcpt(sender, rcpt)
        good = text == want if isinstance(want, str) else code == want
        return h.ok(good, desc, '         got: %r' % text, '    expected: %r' % (want,), transcript,
                    '--- maillog tail ---', pf.log()[-2500:],
                    *[describe_file(os.path.join(pfdir, n)) for n in MAPS])

    rcpt_is(GRANDMA, KID, 250, 'whitelisted grandma -> kid: 250')
    rcpt_is(STRANGER, KID, ARTICLE_554, "stranger -> kid: exactly the article's 554 reply")
    rcpt_is(STRANGER, 'another@family.test', 250, 'stranger -> unprotected another@family.test: 250')
    rcpt_is('GrandMa@Example.COM', KID, 250, 'mixed-case GrandMa@Example.COM -> kid: 250')
    rcpt_is('newfriend@example.org', KID, ARTICLE_554, 'newfriend -> kid before any rule: 554')
    rcpt_is(STRANGER, 'zed@family.test', ARTICLE_554.replace('kid@', 'zed@'),
            "stranger -> zed@family.test, protected by a row typed as Zed@Family.Test: the article's 554")

    # postmap -q asks a map the way Postfix does (the key folded first).
    def lookup(mapname, key):
        path = os.path.join(pfdir, mapname)
        r = subprocess.run([shutil.which('postmap') or '/usr/sbin/postmap', '-c', pf.conf, '-q', key,
                            'mysql:' + path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return r.returncode, r.stdout.decode('utf-8', 'replace').strip(), r.stderr.decode('utf-8', 'replace')
    for mapname, key, want, desc in (
            ('guardlist-whitelist.cf', 'grandma@example.com', 'OK', 'the whitelisted sender itself'),
            ('guardlist-whitelist.cf', 'GRANDMA@example.com', 'OK', 'the whitelisted sender in upper case'),
            ('guardlist-whitelist.cf', 'grandma@ex\u00e4mple.com', '', 'a look-alike (\u00e4 for a) of the whitelisted sender'),
            ('guardlist-protected.cf', 'zoe@school.test', 'whitelist', 'the protected zoe@school.test'),
            ('guardlist-protected.cf', 'zo\u00eb@school.test', '', "zo\u00eb@, another family's look-alike of zoe@"),
            ('guardlist-protected.cf', 'zed@family.test', 'whitelist', 'the row typed as Zed@Family.Test')):
        rc, out, err = lookup(mapname, key)
        # Exit 0 with the value, or 1 for "not found"; anything on stderr
        # (a map that cannot be read) is a failure, never an empty answer.
        h.ok((out, rc, err.strip()) == (want, 0 if want else 1, ''),
             'postmap -q %r %s: %r (%s)' % (key, mapname, want, desc), 'got %r, exit %d' % (out, rc), err)

    rc, out, err = h.cli(config, 'allow', 'newfriend@example.org')
    h.is_(rc, 0, 'guardlist allow newfriend@example.org: exit 0') or h.diag(out, err)
    if started:
        # No restart: the mysql: map asks MariaDB on every lookup (through
        # proxymap), so the new row should be seen at once; polled, bounded.
        good, got, secs = h.poll_until(lambda: pf.rcpt('newfriend@example.org', KID)[1],
                                       lambda t: t.startswith('250 '), RULE_WAIT, interval=0.2)
        h.ok(good, 'the rule added by `guardlist allow` is in force in Postfix without a restart '
             '(250 after %.2f s, bound %ds)' % (secs, RULE_WAIT), 'last reply %r' % (got,), pf.log()[-2000:])
    else:
        h.ok(False, 'the rule added by `guardlist allow` is in force in Postfix', 'not run: Postfix did not start')

    # End to end: grandma's message is delivered to kid's mailbox.
    if started:
        code, transcript = pf.swaks(GRANDMA, KID, quit_after=None)
        good, files, secs = pf.wait_delivery(KID)
        h.ok(code == 250 and good, "grandma's whole message is delivered to kid's mailbox (%.2f s)" % secs,
             transcript, pf.log()[-2000:])
    else:
        h.ok(False, "grandma's whole message is delivered to kid's mailbox", 'not run: Postfix did not start')

    if started:
        pf.stop(check=True)
    else:
        pf.stop()
    db.stop()


h.run(main, timeout=240)
