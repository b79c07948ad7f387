#!/usr/bin/python3
"""Privileges (guardlistd): started as root it binds, reads its config and
secret, then runs as [policy] run_as_user for good.

  1. run_as_user = nobody: /proc/PID/status shows nobody/nogroup in all four
     Uid and Gid fields, no supplementary group but nogroup, no capability;
     it answers, writes challenges, follows rule changes, and SIGHUP
     re-reads the config file (root:nogroup 0640, as docs/deploy.md says);
  2. a config file the user cannot read (0600 root): it starts, warns that
     SIGHUP cannot re-read it, and a SIGHUP keeps the old settings;
  3. started as root with no run_as_user (or root, or an unknown user or
     group): exit 2, one line naming the key, nothing bound;
  4. started as nobody (no root to drop): runs as is;
  5. listen = unix:QUEUE/private/guardlist in a private Postfix's queue
     directory (private/ is 0700 postfix): socket nobody:postfix 0660 with
     listen_group = postfix; smtpd with `check_policy_service
     unix:private/guardlist` gives a stranger 450 and grandma 250 (swaks); a
     second daemon on the live socket is refused; the socket left behind
     after a stop (private/ is not the daemon's to change) is replaced at the
     next start, 0666 without listen_group; a regular file at the path is
     refused and left alone."""
import grp
import os
import pwd
import stat
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import postfix  # noqa: E402

VAGUE = 'vague@imprecise.info'
KID = 'kid@family.test'
GRANDMA = 'grandma@example.com'
ERR = 'guardlistd: error: '


proc_status = h.proc_status


def check_ids(d, desc, groups=True):
    """Tests that guardlistd D runs as nobody:nogroup, every id, no capability
    (and, with GROUPS, no supplementary group but nogroup)."""
    uid, gid = h.run_as_ids()
    st = proc_status(d.proc.pid)
    h.diag('%s: Uid %s Gid %s Groups %s CapEff %s' % (desc, st.get('Uid'), st.get('Gid'), st.get('Groups'),
                                                      st.get('CapEff')))
    h.is_(st.get('Uid'), [str(uid)] * 4, '%s: real, effective, saved and file-system uid are nobody' % desc)
    h.is_(st.get('Gid'), [str(gid)] * 4, '%s: real, effective, saved and file-system gid are nogroup' % desc)
    if groups:
        h.is_(st.get('Groups'), [str(gid)], '%s: no supplementary group but nogroup (root\'s are gone)' % desc)
    h.ok(int(st.get('CapEff', ['1'])[0], 16) == 0 and int(st.get('CapPrm', ['1'])[0], 16) == 0,
         '%s: no effective or permitted capability' % desc, 'CapEff %s CapPrm %s' % (st.get('CapEff'), st.get('CapPrm')))


def refused(db, desc, policy, *words, drop=()):
    """A daemon whose [policy] is updated by POLICY (keys in DROP removed)
    must exit 2 with one `guardlistd: error:` line holding WORDS, and must not
    have bound its port."""
    d = h.Daemon(db, **policy)
    for k in drop:
        d.policy.pop(k, None)
    d.write_config()
    rc, err = d.run_to_exit()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    h.is_(rc, 2, '%s: exits 2' % desc)
    h.ok(len(lines) == 1 and lines[0].startswith(ERR) and all(w in lines[0] for w in words),
         '%s: one line "%s..." naming %s' % (desc, ERR, ', '.join(repr(w) for w in words)), 'stderr: %r' % err)
    h.diag('%s: %s' % (desc, lines[-1] if lines else '(nothing)'))
    return d


class DaemonAsNobody(h.Daemon):
    """guardlistd started by an unprivileged user (no root to drop)."""

    def _spawn(self):
        self._announce()
        self.errfh = open(self.errfile, 'ab')
        env = dict(os.environ)
        env.setdefault('ASAN_OPTIONS', 'detect_leaks=1')
        self.proc = subprocess.Popen([self.binary, '-f', '-c', self.config], stdin=subprocess.DEVNULL,
                                     stdout=self.errfh, stderr=self.errfh, env=env, user=h.RUN_AS_USER,
                                     group=h.run_as_ids()[1], extra_groups=[], preexec_fn=h._die_with_parent)
        h._procs.append(self)


def socket_facts(path):
    """(is a socket, owner name, group name, mode) of PATH, or None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (stat.S_ISSOCK(st.st_mode), pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
            oct(stat.S_IMODE(st.st_mode)))


def main():
    if not h.ok(os.geteuid() == 0, 'the test runs as root (it starts guardlistd as root)'):
        return
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('vague@imprecise.info','whitelist')",
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test','whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
    )

    # ------------------------------------------ 1. root, run_as_user = nobody
    d = h.start_daemon(db)
    check_ids(d, 'run_as_user = nobody')
    h.ok('running as user nobody' in d.log(), 'the log says which user it runs as', d.log()[-1500:])
    h.ok('SIGHUP cannot re-read' not in d.log(), 'no warning about the config file (root:nogroup 0640)',
         d.log()[-1500:])
    h.is_(h.query(d.port, sender=GRANDMA, recipient=VAGUE), 'DUNNO', 'as nobody: grandma allowed')
    h.defer_ok(h.query(d.port, sender='stranger@example.net', recipient=VAGUE), 'as nobody: a stranger deferred')
    h.is_(len(h.challenges(db, sender='stranger@example.net')), 1, 'as nobody: the challenge row is written')
    db.sql("INSERT INTO whitelist (sender, action) VALUES ('new-friend@example.org','OK')")
    good, got, secs = h.wait_reply(d.port, lambda r: r == 'DUNNO', 5.0, sender='new-friend@example.org',
                                   recipient=VAGUE)
    h.ok(good, 'as nobody: a rule added in the database is in force within 5 s',
         'last reply %r after %.2f s' % (got, secs))
    d.write_config(unknown_sender='reject')
    d.hup()
    good, got, secs = h.wait_reply(d.port, lambda r: r == h.ACCESS_DENIED, 5.0, sender='after-hup@example.net',
                                   recipient=VAGUE)
    h.ok(good, 'as nobody: SIGHUP re-reads the config file (unknown_sender = reject in force)',
         'last reply %r after %.2f s' % (got, secs), d.log()[-1500:])
    check_ids(d, 'after SIGHUP')
    d.stop()

    # ---------------------------- 2. a config file nobody cannot read (0600)
    d = h.Daemon(db)
    d.write_raw(d.config_text(), 0o600)
    d.start()
    warning = [ln for ln in d.log().splitlines() if 'SIGHUP cannot re-read' in ln]
    h.ok(warning and d.config in warning[0] and 'nobody' in warning[0],
         'config 0600 root: start-up warns that SIGHUP cannot re-read it, naming the file', d.log()[-1500:])
    d.write_raw(d.config_text().replace('unknown_sender = defer', 'unknown_sender = reject'), 0o600)
    d.hup()
    seen, log, _ = h.poll_until(d.log, lambda t: "configuration not reloaded" in t, 5.0)
    h.ok(seen and "Permission denied" in log, 'config 0600 root: SIGHUP logs that it cannot read the file',
         log[-1500:])
    h.defer_ok(h.query(d.port, sender='kept@example.net', recipient=VAGUE),
               'config 0600 root: after that SIGHUP the old settings stay in force')
    d.stop()

    # --------------------------------------------------- 3. refusals as root
    refused(db, 'root, no run_as_user', {}, 'root', 'run_as_user', drop=('run_as_user',))
    refused(db, 'run_as_user = root', {'run_as_user': 'root'}, 'run_as_user', 'root')
    refused(db, 'run_as_user = an unknown user', {'run_as_user': 'no-such-user-gl'}, 'run_as_user',
            'no-such-user-gl')
    refused(db, 'run_as_group = an unknown group', {'run_as_group': 'no-such-group-gl'}, 'run_as_group',
            'no-such-group-gl')
    refused(db, 'run_as_group = root', {'run_as_group': 'root'}, 'run_as_group', 'root')
    refused(db, 'listen_group with an inet listener', {'listen_group': 'postfix'}, 'listen_group', 'unix')
    d = h.Daemon(db)
    d.policy.pop('run_as_user')
    d.write_config()
    rc, err = d.run_to_exit(['-n', '-c', d.config])
    h.is_(rc, 0, '--check-config as root without run_as_user: 0 (the config may be for a User= unit)')

    # ------------------------------------------ 4. started as nobody: as is
    d = DaemonAsNobody(db)
    d.policy.pop('run_as_user')
    d.write_config()
    d.start()
    check_ids(d, 'started as nobody', groups=False)
    h.ok('running as user' not in d.log(), 'started as nobody: no drop is logged', d.log()[-800:])
    h.is_(h.query(d.port, sender=GRANDMA, recipient=VAGUE), 'DUNNO', 'started as nobody: grandma allowed')
    d.stop()

    # ----------------------- 5. a unix socket in Postfix's queue directory
    pf = postfix.PrivatePostfix([
        'smtpd_recipient_restrictions = permit_mynetworks,',
        '    reject_unauth_destination,',
        '    check_policy_service unix:private/guardlist',
        'smtpd_policy_service_default_action = 451 4.3.5 Policy service unavailable',
        'smtpd_policy_service_timeout = 10s',
    ])
    pf.start()
    private = os.path.join(pf.queue, 'private')
    path = os.path.join(private, 'guardlist')
    pst = os.stat(private)
    h.diag('private/: owner %s mode %s' % (pwd.getpwuid(pst.st_uid).pw_name, oct(stat.S_IMODE(pst.st_mode))))
    d = h.Daemon(db, listen='unix:' + path, listen_group='postfix')
    d.start()
    h.is_(socket_facts(path), (True, 'nobody', 'postfix', '0o660'),
          'private/guardlist: a socket, nobody:postfix, mode 0660 (listen_group = postfix)')
    check_ids(d, 'unix socket in private/')
    code, text, tr = pf.rcpt('stranger@example.net', KID)
    h.ok(code == 450 and text.startswith('450 4.7.1'), 'via Postfix and private/guardlist: a stranger gets 450 4.7.1',
         'got %r' % text, tr[-1500:], pf.log()[-1500:])
    code, text, tr = pf.rcpt(GRANDMA, KID)
    h.is_(code, 250, 'via Postfix and private/guardlist: grandma gets 250') or h.diag(tr[-1500:], pf.log()[-1500:])

    second = h.Daemon(db, listen='unix:' + path)
    rc, err = second.run_to_exit()
    h.is_(rc, 1, 'a second guardlistd on the live socket: exits 1')
    h.ok(ERR in err and path in err, 'a second guardlistd: the message names the socket', 'stderr: %r' % err)
    h.is_(h.query(path, sender=GRANDMA, recipient=VAGUE), 'DUNNO', 'the first daemon still answers on it')

    d.stop()
    h.is_((socket_facts(path) or (False,))[0], True,
          'after a stop the socket stays in private/ (the daemon, as nobody, may not change private/)')
    d = h.Daemon(db, listen='unix:' + path)
    d.start()
    h.is_(socket_facts(path), (True, 'nobody', 'nogroup', '0o666'),
          'the stale socket is replaced at the next start: nobody:nogroup, 0666 without listen_group')
    code, text, tr = pf.rcpt(GRANDMA, KID)
    h.is_(code, 250, 'via the new socket: grandma gets 250') or h.diag(tr[-1500:], pf.log()[-1500:])
    code, text, tr = pf.rcpt('stranger2@example.net', KID)
    h.is_(code, 450, 'via the new socket: a stranger gets 450') or h.diag(tr[-1500:], pf.log()[-1500:])
    d.stop()

    plain = os.path.join(private, 'not-a-socket')
    with open(plain, 'w') as f:
        f.write('keep me\n')
    d = h.Daemon(db, listen='unix:' + plain)
    rc, err = d.run_to_exit()
    h.is_(rc, 1, 'listen path is a regular file: exits 1')
    h.ok(ERR in err and 'not a socket' in err and plain in err,
         'listen path is a regular file: the message names it and says it is not a socket', 'stderr: %r' % err)
    with open(plain) as f:
        h.is_(f.read(), 'keep me\n', 'the regular file is left as it was')
    pf.stop(check=True)
    db.stop()


h.run(main, timeout=300)
