#!/usr/bin/python3
"""Every program refuses a world-readable file that holds a password
(STYLE.md "Secrets"), naming the file and the fix, and works with the same
file once it is not world-readable:

  guardlistd, guardlist-notify, guardlist (CLI) and guardlist-approve (CGI),
  each with (a) the config file holding `password =` and (b) the config
  naming a password_file; the file 0644 is refused, 0640/0600 works.

The accounts and their passwords come from `guardlist db init`."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
TOKEN = '0123456789abcdef0123456789abcdef'     # well-formed, unknown


def secret_of(secrets, role):
    with open(os.path.join(secrets, 'db-%s.secret' % role)) as f:
        return f.read().strip()


def world_readable_copy(secrets, role):
    """A copy of ROLE's password file, mode 0644."""
    path = os.path.join(h.tmpdir(), 'db-%s.secret' % role)
    with open(path, 'w') as f:
        f.write(secret_of(secrets, role) + '\n')
    os.chmod(path, 0o644)
    return path


def refusal(desc, rc, err, want_rc, path, todo=None):
    """One program's refusal: exit WANT_RC, an error naming PATH and the fix."""
    h.ok(rc == want_rc, '%s: exits %s' % (desc, want_rc), 'exit status %r' % rc, todo=todo)
    h.ok(path in err and ('chmod' in err or 'password_file' in err) and 'error:' in err,
         '%s: the message names the file and the fix' % desc, 'stderr: %r' % err[-800:])
    h.diag('%s: %s' % (desc, err.strip().splitlines()[-1] if err.strip() else '(nothing)'))


def approve(conf):
    """Runs the CGI (GET with a well-formed unknown token) as the web server
    would.  Returns (HTTP status, stderr)."""
    env = dict(os.environ, REQUEST_METHOD='GET', QUERY_STRING='t=' + TOKEN, GUARDLIST_CONFIG=conf,
               SERVER_NAME='guardlist.test', SCRIPT_NAME='/approve')
    r = subprocess.run([web.approve_binary()], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=30)
    out = r.stdout.decode('utf-8', 'replace')
    status = None
    for line in out.split('\r\n'):
        if line.startswith('Status: '):
            status = int(line.split()[1])
            break
    return status, r.stderr.decode('utf-8', 'replace')


def main():
    db = h.start_db()
    secrets = web.init_accounts(db)
    admin = h.cli_config(db)
    rc, out, err = h.cli(admin, 'protect', KID, '--guardian', 'parent@family.test', actor='secrets-test')
    h.is_(rc, 0, 'guardlist protect: exit 0') or h.diag(out, err)

    # ------------------------------------------------------------ guardlistd
    for how in ('password', 'password_file'):
        d = h.Daemon(db)
        base = d.config_text()
        if how == 'password':
            text = base.replace('user = root', 'user = guardlist_daemon\npassword = ' + secret_of(secrets, 'daemon'))
            d.write_raw(text, 0o644)
            bad = d.config
        else:
            bad = world_readable_copy(secrets, 'daemon')
            d.write_raw(base.replace('user = root', 'user = guardlist_daemon\npassword_file = ' + bad))
        rc, err = d.run_to_exit()
        refusal('guardlistd, %s in a world-readable file' % how, rc, err, 2, bad)
        if how == 'password':
            d.write_raw(text, 0o640)
        else:
            os.chmod(bad, 0o600)
        d.start()
        h.is_(h.query(d.port, sender='x@example.net', recipient='nobody@example.org'), 'DUNNO',
              'guardlistd, %s in a file that is not world-readable: starts and answers' % how)
        d.stop()

    # ------------------------------------------------------ guardlist-notify
    sink = h.SmtpSink()
    sink.start()
    for how in ('password', 'password_file'):
        if how == 'password':
            acct = {'user': 'guardlist_notifier', 'password': secret_of(secrets, 'notifier')}
            conf = h.notify_config(db, sink.port, directory=h.tmpdir(), database=acct)
            os.chmod(conf, 0o644)
            bad = conf
        else:
            bad = world_readable_copy(secrets, 'notifier')
            acct = {'user': 'guardlist_notifier', 'password_file': bad}
            conf = h.notify_config(db, sink.port, directory=h.tmpdir(), database=acct)
        rc, out, err = h.notify(conf, '--once', timeout=60)
        refusal('guardlist-notify, %s in a world-readable file' % how, rc, err, 2, bad)
        os.chmod(bad, 0o600)
        rc, out, err = h.notify(conf, '--once', timeout=60)
        h.is_(rc, 0, 'guardlist-notify, %s in a file that is not world-readable: --once exits 0' % how) \
            or h.diag(err)
    sink.stop()

    # ------------------------------------------------------ guardlist (CLI)
    for how in ('password', 'password_file'):
        if how == 'password':
            conf = h.cli_config(db, admin={'user': 'guardlist_web', 'password': secret_of(secrets, 'web')})
            os.chmod(conf, 0o644)
            bad = conf
        else:
            bad = world_readable_copy(secrets, 'web')
            conf = h.cli_config(db, admin={'user': 'guardlist_web', 'password_file': bad})
        rc, out, err = h.cli(conf, 'list')
        h.ok(rc != 0 and not out, 'guardlist list, %s in a world-readable file: refused, nothing listed' % how)
        refusal('guardlist list, %s in a world-readable file' % how, rc, err, 2, bad)
        os.chmod(bad, 0o600)
        rc, out, err = h.cli(conf, 'list')
        h.ok(rc == 0 and KID in out, 'guardlist list, %s in a file that is not world-readable: works' % how,
             'exit %s, stdout %r, stderr %r' % (rc, out[-300:], err[-500:]))

    # --------------------------------------------- guardlist-approve (CGI)
    for how in ('password', 'password_file'):
        if how == 'password':
            conf = web.approver_config(db, secrets, directory=h.tmpdir(),
                                       approver={'password_file': '', 'password': secret_of(secrets, 'approver')})
            os.chmod(conf, 0o644)
            bad = conf
        else:
            bad = world_readable_copy(secrets, 'approver')
            conf = web.approver_config(db, secrets, directory=h.tmpdir(), approver={'password_file': bad})
        status, err = approve(conf)
        h.is_(status, 503, 'guardlist-approve, %s in a world-readable file: 503, nothing shown' % how)
        refusal('guardlist-approve, %s in a world-readable file' % how, 0, err, 0, bad)
        os.chmod(bad, 0o640)
        status, err = approve(conf)
        h.is_(status, 404, 'guardlist-approve, %s in a file that is not world-readable: works '
              '(404 for the unknown link)' % how) or h.diag(err)
    db.stop()


h.run(main, timeout=240)
