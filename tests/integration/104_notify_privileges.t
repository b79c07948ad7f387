#!/usr/bin/python3
"""Privileges (guardlist-notify): started as root it reads its config, its
database password file (0600 root, from `guardlist db init`) and its
templates, then runs as [notifier] run_as_user for good.

  1. run_as_user = nobody, polling: /proc/PID/status shows nobody/nogroup in
     all four Uid and Gid fields, only nogroup as supplementary group, no
     capability; it still connects to MariaDB with the least-privilege
     account and the approval email reaches the smarthost; SIGTERM exit 0;
  2. started as root with no run_as_user (or root, or an unknown user or
     group): exit 2, one line naming the key, nothing sent, nothing written;
  3. started as nobody (no root to drop): --once runs as is and sends."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
GUARDIAN = 'parent@family.test'
ERR = 'guardlist-notify: error: '
SEND_WAIT = 20.0


proc_status = h.proc_status


def main():
    if not h.ok(os.geteuid() == 0, 'the test runs as root (it starts guardlist-notify as root)'):
        return
    uid, gid = h.run_as_ids()
    db = h.start_db()
    secrets = web.init_accounts(db)
    admin = h.cli_config(db)
    rc, out, err = h.cli(admin, 'protect', KID, '--guardian', GUARDIAN, actor='privileges-test')
    h.is_(rc, 0, 'guardlist protect: exit 0') or h.diag(out, err)
    d = h.start_daemon(db)
    sink = h.SmtpSink()
    sink.start()
    account = {'user': 'guardlist_notifier', 'password_file': os.path.join(secrets, 'db-notifier.secret')}
    st = os.stat(account['password_file'])
    h.diag('password file: uid %d mode %o' % (st.st_uid, st.st_mode & 0o777))
    logs = []

    def due(sender):
        h.defer_ok(h.query(d.port, sender=sender, recipient=KID), '%s deferred: a challenge is due' % sender)

    # ------------------------------------- 1. root, run_as_user = nobody
    due('first@example.net')
    conf = h.notify_config(db, sink.port, database=account)
    n = h.Notifier(conf)
    n.start()
    good, log, _ = h.poll_until(n.log, lambda t: 'running as user nobody' in t or not n.running(), 20.0)
    h.ok(good and n.running(), 'the notifier says it runs as nobody', log[-1500:])
    if n.running():
        st = proc_status(n.proc.pid)
        h.diag('notifier: Uid %s Gid %s Groups %s CapEff %s' % (st['Uid'], st['Gid'], st['Groups'], st['CapEff']))
        h.is_(st['Uid'], [str(uid)] * 4, 'real, effective, saved and file-system uid are nobody')
        h.is_(st['Gid'], [str(gid)] * 4, 'real, effective, saved and file-system gid are nogroup')
        h.is_(st['Groups'], [str(gid)], 'no supplementary group but nogroup')
        h.ok(int(st['CapEff'][0], 16) == 0 and int(st['CapPrm'][0], 16) == 0, 'no effective or permitted capability',
             'CapEff %s CapPrm %s' % (st['CapEff'], st['CapPrm']))
    good, files, secs = h.poll_until(sink.files, lambda f: len(f) >= 1, SEND_WAIT)
    h.ok(good, 'as nobody, with the 0600 root password file read before the drop: the email is sent',
         n.log()[-2000:], sink.log())
    # Recorded right after the smarthost's 250: poll for it.
    _, rows, _ = h.poll_until(lambda: db.sql("SELECT notify_state FROM challenges WHERE sender = 'first@example.net'"),
                              lambda r: r == [['sent']], SEND_WAIT)
    h.is_(rows, [['sent']], 'as nobody: the challenge is recorded as notified')
    rc, killed = n.stop()
    logs.append(n.log())
    h.ok(rc == 0 and not killed, 'SIGTERM: exit 0', 'exit %s killed %s' % (rc, killed), n.log()[-1500:])

    # ------------------------------------------------- 2. refusals as root
    due('second@example.net')

    def refused(desc, notifier, *words):
        snap = h.snapshot(db)
        before = len(sink.files())
        cfg = h.notify_config(db, sink.port, directory=h.tmpdir(), notifier=notifier, database=account)
        rc, out, err = h.notify(cfg, '--once', timeout=30)
        logs.append(err)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        h.is_(rc, 2, '%s: exit 2' % desc)
        h.ok(len(lines) == 1 and lines[0].startswith(ERR) and all(w in lines[0] for w in words),
             '%s: one line "%s..." naming %s' % (desc, ERR, ', '.join(repr(w) for w in words)), 'stderr: %r' % err)
        h.ok(h.snapshot(db) == snap and len(sink.files()) == before, '%s: nothing sent, nothing written' % desc)
        h.diag('%s: %s' % (desc, lines[-1] if lines else '(nothing)'))

    refused('root, no run_as_user', {'run_as_user': None}, 'root', 'run_as_user')
    refused('run_as_user = root', {'run_as_user': 'root'}, 'run_as_user', 'root')
    refused('run_as_user = an unknown user', {'run_as_user': 'no-such-user-gl'}, 'run_as_user', 'no-such-user-gl')
    refused('run_as_group = an unknown group', {'run_as_group': 'no-such-group-gl'}, 'run_as_group',
            'no-such-group-gl')

    # ---------------------------------------------- 3. started as nobody
    # Its files must then be readable by nobody: the config (no password in
    # it) and a copy of the notifier's password file, both root:nogroup 0640.
    sdir = h.tmpdir()
    secret = os.path.join(sdir, 'db-notifier.secret')
    with open(account['password_file']) as src, open(secret, 'w') as dst:
        dst.write(src.read())
    h.share_with_run_as(secret)
    cfg = h.notify_config(db, sink.port, directory=h.tmpdir(), notifier={'run_as_user': None},
                          database={'user': 'guardlist_notifier', 'password_file': secret})
    h.share_with_run_as(cfg)
    before = len(sink.files())
    r = subprocess.run([h.notify_binary(), '-c', cfg, '--once'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60, user=h.RUN_AS_USER, group=gid, extra_groups=[])
    err = r.stderr.decode('utf-8', 'replace')
    logs.append(err)
    h.is_(r.returncode, 0, 'started as nobody without run_as_user: --once exits 0') or h.diag(err)
    h.is_(len(sink.files()), before + 1, 'started as nobody: the due email is sent')

    found = sorted(set(m for text in logs for m in h.SANITIZER_MARKS if m in text))
    h.ok(not found, 'guardlist-notify: no sanitizer report in any run', 'found: %s' % found)
    d.stop()
    sink.stop()
    db.stop()


h.run(main, timeout=240)
