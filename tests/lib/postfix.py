"""postfix.py - a private Postfix instance for guardlist's integration tests.

    import harness as h
    from postfix import PrivatePostfix
    pf = PrivatePostfix(['smtpd_recipient_restrictions = permit_mynetworks,',
                         '    reject_unauth_destination, check_policy_service inet:127.0.0.1:%d' % port])
    pf.start()                          # postfix check, postfix start; waits for the SMTP port
    code, transcript = pf.swaks('grandma@example.com', 'kid@family.test')   # RCPT reply code
    code, reply, transcript = pf.rcpt('grandma@example.com', 'kid@family.test')
    pf = PrivatePostfix(policy_settings(port, action),
                        submission=submission_settings(dovecot.auth_port, [port]))
    r = pf.submit('kid@family.test', 'password', 'kid@family.test', ['pal@family.test'], data)
    r = pf.smtp('stranger@example.net', ['"kid"@family.test'], data)  # exact bytes, SMTPUTF8 if needed
    pf.stop()                           # postfix stop; waits (bounded) until its processes are gone

Everything lives in one temp dir (mode 0755, removed at exit by the harness):
conf/ (main.cf, master.cf), queue/, data/, log/maillog and mail/ (virtual(8)
mailboxes: one Maildir, mail/maildir/, for every recipient, owned by
nobody:nogroup, as virtual_minimum_uid rules out root).  Every service runs
with chroot = n; the instance has its own syslog_name and multi_instance_name
and logs to log/maillog through postlogd (no syslog needed).  smtpd listens on
127.0.0.1:PORT only (a free port from harness.free_port()).  mynetworks is
127.0.0.2/32, so the test client on 127.0.0.1 is NOT trusted and every
restriction applies to it.  The DOMAINS (default family.test) are virtual
mailbox domains: every local part there is a valid recipient, delivered by
virtual(8) to the one Maildir (mailbox(ADDRESS) picks by Delivered-To).
With MAILBOXES ({address: name}) virtual_mailbox_maps is a hash: map
instead, each address its own Maildir mail/NAME/ (maildir_files(NAME)) and
any other local part unknown, as on a real server.  write_map() builds
further hash: maps (postmap, or postalias for alias_maps) under the
instance's own main.cf, so its smtputf8_enable case folding applies.  With
UNGUARDED, a second smtpd on another loopback port (unguarded_port) runs
with smtpd_recipient_restrictions = permit_mynetworks,
reject_unauth_destination only: what Postfix itself does with an address,
without the policy service, for a test to compare against.  With
SUBMISSION (the -o overrides from submission_settings()), another smtpd on
its own loopback port (submission_port) is an authenticated submission
service: SASL through a private Dovecot (tests/lib/dovecot.py), only
authenticated clients, the policy service asked at RCPT so it sees
sasl_username; submit() sends through it with AUTH PLAIN (smtplib).
PolicyRecorder is a policy service in the test process that records every
request's attributes and answers DUNNO, to see what Postfix sends.

EXTRA main.cf lines from the caller (a str or a list of lines; continuation
lines start with blanks, as in main.cf) are appended after the instance's own
lines; a parameter the caller sets replaces the instance's default of that
name (e.g. smtpd_recipient_restrictions), so no parameter is defined twice.

The master process is stopped by stop(), by harness.cleanup() (the instance
registers itself like the daemons do, so harness.run() stops it on failure,
on the file's time bound and on SIGTERM), at interpreter exit, and, if the
test process is killed outright (SIGKILL), by a watchdog shell that runs
`postfix stop` when the pipe only the test process holds closes.  Every
wait is bounded.
"""

import atexit
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import smtplib
import socketserver
import subprocess
import threading
import time

import harness as h

POSTFIX = shutil.which('postfix') or '/usr/sbin/postfix'
POSTMAP = shutil.which('postmap') or '/usr/sbin/postmap'
POSTALIAS = shutil.which('postalias') or '/usr/sbin/postalias'
SWAKS = shutil.which('swaks') or '/usr/bin/swaks'
START_TIMEOUT = 30.0      # postfix check / start, and the port accepting
STOP_TIMEOUT = 15.0       # postfix stop until the master and its children are gone
SWAKS_TIMEOUT = 30        # one swaks run (its own SMTP timeout is 10 s)
SMTP_TIMEOUT = 10.0       # one reply in smtp()
DELIVERY_TIMEOUT = 20.0
MAILDIR = 'maildir'       # under mail/: every virtual recipient's messages



def _uid(user, default=-1):
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return default


def _gid(group, default=-1):
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return default


# Debian: the virtual(8) mailbox owner (virtual_minimum_uid is 100, so not root).
NOBODY_UID = _uid('nobody', 65534)
NOGROUP_GID = _gid('nogroup', 65534)

_masters = set()    # pids of master processes started here and not yet seen gone


def _atexit_kill_masters():
    # Last resort when stop() was never reached: kill what we started, by pid.
    for pid in list(_masters):
        for pid2 in [pid] + _children(pid):
            try:
                os.kill(pid2, signal.SIGKILL)
            except OSError:
                pass


atexit.register(_atexit_kill_masters)


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return False
    # A zombie (state Z) is gone for our purposes.
    return stat.rsplit(')', 1)[1].split()[0] != 'Z'


def _children(ppid):
    """Pids whose parent is PPID (the master's service processes)."""
    kids = []
    try:
        names = os.listdir('/proc')
    except OSError:
        return kids
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            kids.append(int(name))
    return kids


def split_main_cf(text):
    """main.cf TEXT (str or list of lines) -> list of (name, whole logical line
    including its continuation lines).  Comments and blank lines are dropped."""
    if not isinstance(text, str):
        text = '\n'.join(text)
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        if line[0] in ' \t':
            if not entries:
                raise ValueError('main.cf continuation line without a parameter: %r' % line)
            name, whole = entries[-1]
            entries[-1] = (name, whole + '\n' + line)
            continue
        m = re.match(r'([A-Za-z0-9_.-]+)\s*=', line)
        if not m:
            raise ValueError('not a main.cf parameter line: %r' % line)
        entries.append((m.group(1), line))
    return entries


def policy_settings(port, default_action, timeouts=True):
    """main.cf lines for the recommended setup: at RCPT, mynetworks, then the
    relay check, then guardlistd on 127.0.0.1:PORT; DEFAULT_ACTION when it
    cannot be reached (never an accept).  TIMEOUTS: also a 10 s policy
    timeout and two tries."""
    lines = ['smtpd_recipient_restrictions = permit_mynetworks,',
             '    reject_unauth_destination,',
             '    check_policy_service inet:127.0.0.1:%d' % port,
             'smtpd_policy_service_default_action = ' + default_action]
    if timeouts:
        lines += ['smtpd_policy_service_timeout = 10s', 'smtpd_policy_service_try_limit = 2']
    return lines


def submission_settings(sasl_port, policy_ports=(), sasl_host='127.0.0.1'):
    """smtpd -o overrides, a list of (name, value), for an authenticated
    submission service (master.cf of PrivatePostfix(submission=...)): SASL
    through Dovecot's auth service on SASL_HOST:SASL_PORT; AUTH in plain text
    without TLS (loopback tests only); clients that did not authenticate are
    refused (554 at RCPT, smtpd_delay_reject); at RCPT every policy service on
    127.0.0.1:P for P in POLICY_PORTS (in that order, before any permit_*, so
    each sees the request with its sasl_username), then authenticated clients
    may send anywhere (relay included) and everyone else is refused."""
    policies = ', '.join('check_policy_service inet:127.0.0.1:%d' % p for p in policy_ports)
    return [
        ('smtpd_tls_security_level', 'none'),
        ('smtpd_tls_auth_only', 'no'),
        ('smtpd_sasl_auth_enable', 'yes'),
        ('smtpd_sasl_type', 'dovecot'),
        ('smtpd_sasl_path', 'inet:%s:%d' % (sasl_host, sasl_port)),
        ('smtpd_sasl_security_options', 'noanonymous'),
        ('smtpd_sasl_local_domain', ''),
        ('broken_sasl_auth_clients', 'no'),
        ('smtpd_client_restrictions', 'permit_sasl_authenticated, reject'),
        ('smtpd_relay_restrictions', 'permit_sasl_authenticated, reject'),
        ('smtpd_recipient_restrictions',
         (policies + ', ' if policies else '') + 'permit_sasl_authenticated, reject'),
    ]


def master_cf_options(options):
    """master.cf `-o` arguments for OPTIONS ((name, value) pairs); a value
    with blanks or commas, or an empty one, in Postfix's { name = value } form."""
    out = []
    for name, value in options:
        if any(c in value for c in ' \t,{}') or value == '':
            out.append('-o { %s = %s }' % (name, value))
        else:
            out.append('-o %s=%s' % (name, value))
    return ' '.join(out)


class PrivatePostfix:
    """One private Postfix instance (see the module doc)."""

    def __init__(self, extra_main_cf=(), domains=('family.test',), port=None, mailboxes=None,
                 unguarded=False, submission=None):
        self.dir = h.tmpdir('guardlist-pf-')           # 0755: the postfix user must enter it
        self.conf = os.path.join(self.dir, 'conf')
        self.queue = os.path.join(self.dir, 'queue')
        self.data = os.path.join(self.dir, 'data')
        self.logdir = os.path.join(self.dir, 'log')
        self.maillog = os.path.join(self.logdir, 'maillog')
        self.mail = os.path.join(self.dir, 'mail')
        self.port = port or h.free_port()
        self.name = 'postfix-gltest%d' % self.port
        self.domains = tuple(domains)
        self.extra = extra_main_cf
        self.mailboxes = dict(mailboxes) if mailboxes else None
        self.unguarded_port = h.free_port() if unguarded else None
        self.submission = list(submission) if submission is not None else None
        self.submission_port = h.free_port() if submission is not None else None
        self.master_pid = None
        self.watchdog = None
        for d in (self.conf, self.queue, self.logdir):
            os.mkdir(d, 0o755)
        os.mkdir(self.mail, 0o755)
        os.chown(self.mail, NOBODY_UID, NOGROUP_GID)
        os.mkdir(self.data, 0o700)
        os.chown(self.data, _uid('postfix'), -1)
        self.write_config()
        if self.mailboxes:
            self.write_map('vmailbox', [(a, n + '/') for a, n in self.mailboxes.items()])

    # ------------------------------------------------------------ config

    def own_main_cf(self):
        """The instance's plumbing, one (name, line) per parameter."""
        lines = [
            'compatibility_level = 3.6',
            'queue_directory = ' + self.queue,
            'data_directory = ' + self.data,
            'syslog_name = ' + self.name,
            'multi_instance_name = ' + self.name,
            'maillog_file = ' + self.maillog,
            'maillog_file_prefixes = /var, /dev/stdout, ' + self.logdir,
            'myhostname = mx.guardlist.test',
            'mydomain = guardlist.test',
            'myorigin = $myhostname',
            'mydestination =',
            'inet_interfaces = loopback-only',
            'inet_protocols = ipv4',
            'mynetworks = 127.0.0.2/32',
            'relay_domains =',
            'relayhost =',
            'alias_maps =',
            'alias_database =',
            'local_recipient_maps =',
            'biff = no',
            'append_dot_mydomain = no',
            'smtpd_banner = $myhostname ESMTP guardlist test instance',
            'in_flow_delay = 0',
            'smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination',
            'smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination',
            'virtual_mailbox_domains = ' + ', '.join(self.domains),
            'virtual_mailbox_base = ' + self.mail,
            # virtual(8) allows no regexp substitution: one Maildir for all,
            # unless the caller named one for each address.
            'virtual_mailbox_maps = ' + ('hash:' + os.path.join(self.conf, 'vmailbox') if self.mailboxes
                                         else 'static:' + MAILDIR + '/'),
            'virtual_minimum_uid = 100',
            'virtual_uid_maps = static:%d' % NOBODY_UID,
            'virtual_gid_maps = static:%d' % NOGROUP_GID,
            # A test wants answers, not retries spread over minutes.
            'queue_run_delay = 1s',
            'minimal_backoff_time = 1s',
            'maximal_backoff_time = 2s',
            # Nor smtpd's tarpit: after smtpd_soft_error_limit (10) 4xx/5xx
            # replies on one connection every further reply waits
            # smtpd_error_sleep_time (1 s), and clients that keep a
            # connection for many RCPTs (load, floods) would mostly wait.
            'smtpd_error_sleep_time = 0',
            'smtpd_soft_error_limit = 1000',
            'smtpd_hard_error_limit = 1000',
        ]
        return split_main_cf(lines)

    def main_cf_text(self):
        extra = split_main_cf(self.extra)
        names = {n for n, _ in extra}
        out = ['# private test instance (tests/lib/postfix.py)']
        out += [line for n, line in self.own_main_cf() if n not in names]
        out += ['', '# from the test'] + [line for _, line in extra]
        return '\n'.join(out) + '\n'

    def master_cf_text(self):
        smtpd = '%s:%d' % ('127.0.0.1', self.port)
        rows = [
            (smtpd, 'inet', 'n', '-', 'n', '-', '-', 'smtpd'),
            ('pickup', 'unix', 'n', '-', 'n', '60', '1', 'pickup'),
            ('cleanup', 'unix', 'n', '-', 'n', '-', '0', 'cleanup'),
            ('qmgr', 'unix', 'n', '-', 'n', '300', '1', 'qmgr'),
            ('rewrite', 'unix', '-', '-', 'n', '-', '-', 'trivial-rewrite'),
            ('bounce', 'unix', '-', '-', 'n', '-', '0', 'bounce'),
            ('defer', 'unix', '-', '-', 'n', '-', '0', 'bounce'),
            ('trace', 'unix', '-', '-', 'n', '-', '0', 'bounce'),
            ('verify', 'unix', '-', '-', 'n', '-', '1', 'verify'),
            ('flush', 'unix', 'n', '-', 'n', '1000?', '0', 'flush'),
            ('proxymap', 'unix', '-', '-', 'n', '-', '-', 'proxymap'),
            ('proxywrite', 'unix', '-', '-', 'n', '-', '1', 'proxymap'),
            ('smtp', 'unix', '-', '-', 'n', '-', '-', 'smtp'),
            ('relay', 'unix', '-', '-', 'n', '-', '-', 'smtp'),
            ('showq', 'unix', 'n', '-', 'n', '-', '-', 'showq'),
            ('error', 'unix', '-', '-', 'n', '-', '-', 'error'),
            ('retry', 'unix', '-', '-', 'n', '-', '-', 'error'),
            ('discard', 'unix', '-', '-', 'n', '-', '-', 'discard'),
            ('local', 'unix', '-', 'n', 'n', '-', '-', 'local'),
            ('virtual', 'unix', '-', 'n', 'n', '-', '-', 'virtual'),
            ('lmtp', 'unix', '-', '-', 'n', '-', '-', 'lmtp'),
            ('anvil', 'unix', '-', '-', 'n', '-', '1', 'anvil'),
            ('scache', 'unix', '-', '-', 'n', '-', '1', 'scache'),
            ('postlog', 'unix-dgram', 'n', '-', 'n', '-', '1', 'postlogd'),
        ]
        if self.unguarded_port:
            rows.insert(1, ('127.0.0.1:%d' % self.unguarded_port, 'inet', 'n', '-', 'n', '-', '-',
                            'smtpd -o smtpd_recipient_restrictions=permit_mynetworks,reject_unauth_destination'))
        if self.submission is not None:
            opts = [('syslog_name', self.name + '/submission')] + self.submission
            rows.insert(1, ('127.0.0.1:%d' % self.submission_port, 'inet', 'n', '-', 'n', '-', '-',
                            'smtpd ' + master_cf_options(opts)))
        return ''.join('%-16s %-10s %-2s %-2s %-2s %-6s %-2s %s\n' % r for r in rows)

    def write_config(self):
        """(Re)writes main.cf and master.cf."""
        for name, text in (('main.cf', self.main_cf_text()), ('master.cf', self.master_cf_text())):
            path = os.path.join(self.conf, name)
            with open(path, 'w') as f:
                f.write(text)
            os.chmod(path, 0o644)
            h.settled(path)

    def write_map(self, name, entries, aliases=False):
        """Writes conf/NAME from ENTRIES ((key, value) pairs, UTF-8) and builds
        conf/NAME.db: with postmap, or with ALIASES as `key: value` lines with
        postalias.  Both run with -c CONF, so the keys are folded as this
        instance's lookups fold them (smtputf8_enable).  Returns 'hash:PATH'.
        Raises RuntimeError with the tool's output on failure."""
        path = os.path.join(self.conf, name)
        with open(path, 'w', encoding='utf-8') as f:
            for key, value in entries:
                f.write('%s%s %s\n' % (key, ':' if aliases else '', value))
        os.chmod(path, 0o644)
        h.settled(path)
        cmd = [POSTALIAS if aliases else POSTMAP, '-c', self.conf, 'hash:' + path]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=START_TIMEOUT)
        if r.returncode != 0:
            raise RuntimeError('%s failed (exit %d): %s' % (' '.join(cmd), r.returncode,
                                                             r.stdout.decode('utf-8', 'replace')))
        return 'hash:' + path

    def set_extra(self, extra_main_cf):
        """Replaces the caller's main.cf lines (takes effect at the next start)."""
        self.extra = extra_main_cf
        self.write_config()

    # ------------------------------------------------------------ running

    def _postfix(self, *args, timeout=START_TIMEOUT):
        """Runs `postfix -c CONF ARGS`; returns (exit status or None on timeout, output).
        Output goes to a file, not a pipe: the master must not hold our pipe open."""
        out = os.path.join(self.dir, 'postfix-cmd.out')
        with open(out, 'wb') as fh:
            try:
                r = subprocess.run([POSTFIX, '-c', self.conf] + list(args), stdin=subprocess.DEVNULL,
                                   stdout=fh, stderr=subprocess.STDOUT, timeout=timeout)
                rc = r.returncode
            except subprocess.TimeoutExpired:
                rc = None
        with open(out, 'rb') as fh:
            return rc, fh.read().decode('utf-8', errors='replace')

    def _why(self, *args):
        """Fatal errors reach stderr only on a terminal: rerun under script(1)."""
        out = os.path.join(self.dir, 'postfix-why.out')
        cmd = ' '.join([POSTFIX, '-c', self.conf] + list(args))
        with open(out, 'wb') as fh:
            try:
                subprocess.run(['script', '-qec', cmd, '/dev/null'], stdin=subprocess.DEVNULL,
                               stdout=fh, stderr=subprocess.STDOUT, timeout=START_TIMEOUT)
            except (subprocess.TimeoutExpired, OSError) as e:
                fh.write(('\n(%s)' % e).encode())
        with open(out, 'rb') as fh:
            text = fh.read().decode('utf-8', errors='replace')
        return text + '\n--- maillog tail ---\n' + self.log()[-2000:]

    def _start_watchdog(self):
        # The master is not our child (postfix start daemonises it), so it would
        # outlive a test process killed by SIGKILL.  This shell reads a pipe only
        # we hold: when we are gone, for any reason, it stops the instance.
        if self.watchdog is not None and self.watchdog.poll() is None:
            return
        self.watchdog = subprocess.Popen(
            ['/bin/sh', '-c', 'read _ || exec "$0" -c "$1" stop', POSTFIX, self.conf],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def _stop_watchdog(self):
        w, self.watchdog = self.watchdog, None
        if w is None:
            return
        if w.poll() is None:
            w.kill()
        try:
            w.wait(5)
        except subprocess.TimeoutExpired:
            pass
        try:
            w.stdin.close()
        except OSError:
            pass

    def pidfile_pid(self):
        try:
            with open(os.path.join(self.queue, 'pid', 'master.pid')) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self):
        """`postfix check`, then `postfix start`; waits (bounded) until the
        SMTP port accepts.  Raises RuntimeError with the reason on failure.
        Returns the seconds taken."""
        t0 = time.monotonic()
        self.write_config()
        rc, out = self._postfix('check')
        if rc != 0:
            raise RuntimeError('postfix -c %s check failed (exit %s): %s\n%s'
                               % (self.conf, rc, out, self._why('check')))
        if self not in h._procs:
            h._procs.append(self)      # harness.cleanup() stops it, also on failure
        self._start_watchdog()
        rc, out = self._postfix('start')
        self.master_pid = self.pidfile_pid()
        if self.master_pid:
            _masters.add(self.master_pid)
        if rc != 0:
            raise RuntimeError('postfix -c %s start failed (exit %s): %s\n%s'
                               % (self.conf, rc, out, self._why('start')))
        ports = [p for p in (self.port, self.submission_port) if p]
        while True:
            try:
                for p in ports:
                    socket.create_connection(('127.0.0.1', p), timeout=1).close()
                break
            except OSError:
                pass
            if time.monotonic() - t0 > START_TIMEOUT:
                raise RuntimeError('postfix SMTP ports %r do not all accept within %ds\n%s'
                                   % (ports, START_TIMEOUT, self.log()[-3000:]))
            time.sleep(h.POLL)
        if not self.master_pid:
            self.master_pid = self.pidfile_pid()
            if self.master_pid:
                _masters.add(self.master_pid)
        return time.monotonic() - t0

    def running(self):
        return self.master_pid is not None and _alive(self.master_pid)

    def stop(self, check=False):
        """`postfix stop`; waits at most STOP_TIMEOUT until the master and
        its service processes are gone, then kills what is left (by pid).
        With CHECK, one test that the stop was clean.  Returns True if clean."""
        if self in h._procs:
            h._procs.remove(self)
        self._stop_watchdog()
        pid = self.master_pid or self.pidfile_pid()
        if pid is None or not _alive(pid):
            self.master_pid = None
            return True
        kids = _children(pid)
        rc, out = self._postfix('stop', timeout=STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        left = [pid] + kids
        while time.monotonic() < deadline:
            left = [p for p in left if _alive(p)]
            if not left:
                break
            time.sleep(h.POLL)
        left = [p for p in left if _alive(p)]
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        _masters.discard(pid)
        self.master_pid = None
        clean = rc == 0 and not left
        if check:
            h.ok(clean, 'postfix stop: exit 0 and the master and its processes gone within %ds'
                 % STOP_TIMEOUT, 'exit %s, output %r, still alive (killed): %r' % (rc, out, left))
        return clean

    def restart(self):
        """stop() then start(); returns the seconds start() took."""
        self.stop()
        return self.start()

    def log(self):
        try:
            with open(self.maillog, 'rb') as f:
                return f.read().decode('utf-8', errors='replace')
        except OSError:
            return ''

    # ------------------------------------------------------------ clients

    def swaks(self, sender, recipient, quit_after='RCPT', extra_args=()):
        """Runs swaks against the instance.  Returns (the RCPT reply code as
        an int, or None if there was none; the full transcript).  SENDER ''
        or '<>' is the null sender (swaks itself would turn '' into its
        default sender, user@host)."""
        if sender == '':
            sender = '<>'
        args = [SWAKS, '--server', '127.0.0.1:%d' % self.port, '--from', sender, '--to', recipient,
                '--helo', 'client.guardlist.test', '--timeout', '10s']
        if quit_after:
            args += ['--quit-after', quit_after]
        args += list(extra_args)
        try:
            r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=SWAKS_TIMEOUT)
            transcript = r.stdout.decode('utf-8', errors='replace')
            transcript += '\n(swaks exit %d)' % r.returncode
        except subprocess.TimeoutExpired as e:
            transcript = (e.stdout or b'').decode('utf-8', errors='replace') + \
                '\n(swaks killed after %ds)' % SWAKS_TIMEOUT
        code, _ = parse_rcpt(transcript)
        return code, transcript

    def rcpt(self, sender, recipient):
        """(RCPT reply code or None, the RCPT reply text as one line (lines of a
        multi-line reply joined by a blank), the transcript)."""
        code, transcript = self.swaks(sender, recipient)
        _, text = parse_rcpt(transcript)
        return code, text, transcript

    def mailbox(self, address):
        """Files delivered to ADDRESS (by their Delivered-To header, which
        virtual(8) adds), sorted by name (Maildir new/ and cur/)."""
        base = os.path.join(self.mail, MAILDIR)
        files = []
        for sub in ('new', 'cur'):
            try:
                names = os.listdir(os.path.join(base, sub))
            except OSError:
                continue
            for n in names:
                path = os.path.join(base, sub, n)
                try:
                    with open(path, 'rb') as f:
                        head = f.read(65536).split(b'\n\n', 1)[0].decode('utf-8', errors='replace')
                except OSError:
                    continue
                if re.search(r'^Delivered-To:\s*%s\s*$' % re.escape(address), head, re.I | re.M):
                    files.append(path)
        return sorted(files)

    def delivered(self, address, marker):
        """ADDRESS's files (mailbox()) that hold MARKER (str)."""
        out = []
        for path in self.mailbox(address):
            try:
                with open(path, 'rb') as f:
                    if marker.encode() in f.read():
                        out.append(path)
            except OSError:
                continue
        return out

    def maildir(self, name):
        """The path of Maildir mail/NAME/ (see MAILBOXES)."""
        return os.path.join(self.mail, name) + '/'

    def maildir_files(self, name):
        """Message files in Maildir mail/NAME/ (new/ and cur/), sorted."""
        files = []
        for sub in ('new', 'cur'):
            d = os.path.join(self.mail, name, sub)
            try:
                files += [os.path.join(d, n) for n in os.listdir(d)]
            except OSError:
                pass
        return sorted(files)

    def queue_files(self):
        """Messages still in the instance's queue (any state)."""
        out = []
        for sub in ('maildrop', 'incoming', 'active', 'deferred', 'hold'):
            for base, _, names in os.walk(os.path.join(self.queue, sub)):
                out += [os.path.join(base, n) for n in names]
        return out

    def wait_queue_empty(self, timeout=DELIVERY_TIMEOUT, interval=h.POLL):
        """Waits (bounded) until the queue is empty: every message accepted
        so far was delivered or bounced.  Returns (success, files left, seconds)."""
        return h.poll_until(self.queue_files, lambda q: isinstance(q, list) and not q, timeout,
                            interval=interval)

    def smtp(self, sender, recipients, data=None, smtputf8=None, port=None, timeout=SMTP_TIMEOUT, source=None):
        """One SMTP session: EHLO, `MAIL FROM:<SENDER>`, one `RCPT TO:<R>` per
        recipient written exactly as given (quotes, routes, UTF-8: no client
        rewrites it, unlike swaks, which splits --to at commas and knows no
        SMTPUTF8), DATA (str or bytes, dot-stuffed here) if a recipient was
        accepted, QUIT.  SMTPUTF8 (default: when an address is not ASCII) adds
        the SMTPUTF8 parameter to MAIL FROM.  PORT defaults to the guarded
        smtpd.  Every read is bounded by TIMEOUT.  Returns a dict: 'mail'
        (reply text), 'rcpt' (a list of (address, code, reply text)), 'data'
        (reply to the final dot, or None), 'error' (None, or why the session
        ended early) and 'transcript'.  SOURCE: the loopback address the
        client connects from (127.0.0.9 ...; Postfix sees it as client_address)."""
        return smtp_session(port or self.port, sender, recipients, data, smtputf8, timeout, source)

    def submit(self, user, password, sender, recipients, data=None, timeout=SMTP_TIMEOUT):
        """One session on the submission port (smtplib): EHLO, AUTH PLAIN as
        USER with PASSWORD unless USER is None, MAIL FROM:<SENDER>, RCPT TO
        each of RECIPIENTS, DATA (str or bytes) if DATA is given and a
        recipient was accepted, else RSET; QUIT.  A refused AUTH ends the
        session.  Every read is bounded by TIMEOUT.  Returns a dict: 'ehlo'
        (the EHLO reply text), 'auth' ((code, text) or None without USER),
        'mail' and 'data' ((code, text) or None), 'rcpt' (a list of
        (address, code, text)), 'error' (None or why the session ended early)."""
        if self.submission_port is None:
            raise RuntimeError('this instance has no submission service (submission=...)')
        return submit_session(self.submission_port, user, password, sender, recipients, data, timeout)

    def wait_delivery(self, address, count=1, timeout=DELIVERY_TIMEOUT):
        """Waits (bounded) until ADDRESS's mailbox holds COUNT messages.
        Returns (success, files, seconds)."""
        return h.poll_until(lambda: self.mailbox(address), lambda f: len(f) >= count, timeout)


def _text(b):
    return b.decode('utf-8', 'replace') if isinstance(b, bytes) else str(b)


def submit_session(port, user, password, sender, recipients, data=None, timeout=SMTP_TIMEOUT):
    """See PrivatePostfix.submit()."""
    res = {'ehlo': None, 'auth': None, 'mail': None, 'rcpt': [], 'data': None, 'error': None}
    try:
        s = smtplib.SMTP('127.0.0.1', port, local_hostname='client.guardlist.test', timeout=timeout)
    except (OSError, smtplib.SMTPException) as e:
        res['error'] = 'connect: %s: %s' % (type(e).__name__, e)
        return res
    try:
        code, text = s.ehlo()
        res['ehlo'] = '%d %s' % (code, _text(text))
        if user is not None:
            s.user, s.password = user, password
            try:
                code, text = s.auth('PLAIN', s.auth_plain, initial_response_ok=True)
            except smtplib.SMTPAuthenticationError as e:
                code, text = e.smtp_code, e.smtp_error
            res['auth'] = (code, _text(text))
            if code != 235:
                res['error'] = 'AUTH refused'
                return res
        code, text = s.mail(sender)
        res['mail'] = (code, _text(text))
        if code != 250:
            return res
        for r in recipients:
            code, text = s.rcpt(r)
            res['rcpt'].append((r, code, _text(text)))
        if data is not None and any(c // 100 == 2 for _, c, _ in res['rcpt']):
            body = data.encode('utf-8') if isinstance(data, str) else data
            code, text = s.data(body)
            res['data'] = (code, _text(text))
        else:
            s.rset()
    except (OSError, smtplib.SMTPException) as e:
        res['error'] = '%s: %s' % (type(e).__name__, e)
    finally:
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            s.close()
    return res


class PolicyRecorder:
    """A Postfix policy service in the test process, on a free loopback port:
    records every request (a dict of its attributes, in arrival order, in
    .requests) and answers ACTION (default DUNNO: the next restriction
    decides).  Registered in harness._procs, so harness.run() stops it.
    Bounded: lines of at most 2 KiB, 64 attributes, a 30 s idle timeout."""

    MAX_LINE = 2048
    MAX_ATTRS = 64
    IDLE = 30.0

    def __init__(self, action='DUNNO'):
        self.action = action
        self.requests = []
        self.lock = threading.Lock()
        self.port = h.free_port()
        self.server = None
        self.thread = None

    def start(self):
        rec = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = rec.IDLE

            def handle(self):
                attrs = {}
                while True:
                    line = self.rfile.readline(rec.MAX_LINE + 1)
                    if not line or len(line) > rec.MAX_LINE or not line.endswith(b'\n'):
                        return
                    line = line.rstrip(b'\r\n').decode('utf-8', 'replace')
                    if line:
                        if len(attrs) >= rec.MAX_ATTRS or '=' not in line:
                            return
                        k, v = line.split('=', 1)
                        attrs[k] = v
                        continue
                    with rec.lock:
                        rec.requests.append(attrs)
                    attrs = {}
                    self.wfile.write(('action=%s\n\n' % rec.action).encode())

        self.server, self.thread = h.serve_tcp(self.port, Handler)
        h._procs.append(self)

    def seen(self, **match):
        """The requests recorded so far whose attributes include MATCH."""
        with self.lock:
            return [r for r in self.requests if all(r.get(k) == v for k, v in match.items())]

    def running(self):
        return self.thread is not None and self.thread.is_alive()

    def stop(self, check=False):
        if self in h._procs:
            h._procs.remove(self)
        if self.server is None:
            return None
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        self.server = self.thread = None
        return 0


def _read_reply(sock, buf, deadline):
    """Reads one SMTP reply from SOCK (BUF: bytes already read).
    Returns (code, text with the lines joined by blanks, the rest of BUF)."""
    parts = []
    while True:
        while b'\r\n' not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout('no whole reply in time')
            sock.settimeout(left)
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError('connection closed by the server')
            buf += chunk
        line, buf = buf.split(b'\r\n', 1)
        text = line.decode('utf-8', 'replace')
        if len(text) < 3 or not text[:3].isdigit():
            raise ConnectionError('not an SMTP reply: %r' % text)
        parts.append(text[4:])
        if text[3:4] != '-':
            return int(text[:3]), '%s %s' % (text[:3], ' '.join(parts)), buf


def smtp_session(port, sender, recipients, data=None, smtputf8=None, timeout=SMTP_TIMEOUT, source=None):
    """See PrivatePostfix.smtp()."""
    if smtputf8 is None:
        smtputf8 = not all(a.isascii() for a in [sender] + list(recipients))
    res = {'mail': None, 'rcpt': [], 'data': None, 'error': None, 'transcript': ''}
    log = []
    try:
        sock = socket.create_connection(('127.0.0.1', port), timeout=timeout,
                                        source_address=(source, 0) if source else None)
    except OSError as e:
        res['error'] = 'connect: %s' % e
        return res
    buf = b''

    def cmd(line):
        log.append('-> ' + line)
        sock.sendall(line.encode('utf-8') + b'\r\n')

    def reply():
        nonlocal buf
        code, text, buf = _read_reply(sock, buf, time.monotonic() + timeout)
        log.append('<- ' + text)
        return code, text

    try:
        code, _ = reply()
        if code != 220:
            raise ConnectionError('no 220 greeting')
        cmd('EHLO client.guardlist.test')
        reply()
        cmd('MAIL FROM:<%s>%s' % (sender, ' SMTPUTF8' if smtputf8 else ''))
        code, res['mail'] = reply()
        if code == 250:
            for r in recipients:
                cmd('RCPT TO:<%s>' % r)
                code, text = reply()
                res['rcpt'].append((r, code, text))
        if data is not None and any(c // 100 == 2 for _, c, _ in res['rcpt']):
            cmd('DATA')
            code, _ = reply()
            if code == 354:
                body = data.encode('utf-8') if isinstance(data, str) else data
                lines = body.replace(b'\r\n', b'\n').split(b'\n')
                if lines and lines[-1] == b'':
                    lines.pop()
                out = b''.join((b'.' + ln if ln.startswith(b'.') else ln) + b'\r\n' for ln in lines)
                sock.sendall(out + b'.\r\n')
                log.append('-> (message, %d bytes) .' % len(out))
                _, res['data'] = reply()
        cmd('QUIT')
        reply()
    except (OSError, ConnectionError) as e:
        res['error'] = '%s: %s' % (type(e).__name__, e)
        log.append('!! ' + res['error'])
    finally:
        sock.close()
    res['transcript'] = '\n'.join(log)
    return res


_REPLY = re.compile(r'^\s*<[-~*]+\s+(\d{3})([ -])(.*)$')
_RCPT = re.compile(r'^\s*[-~*]+>\s+RCPT TO:', re.I)
_CLIENT = re.compile(r'^\s*[-~*]+>')


def parse_rcpt(transcript):
    """From a swaks transcript: (code as int, reply text) of the reply to
    RCPT TO, or (None, '') if there was none.  A multi-line reply is joined
    with single blanks ('250-a', '250 b' -> '250 a b')."""
    lines = transcript.splitlines()
    for i, line in enumerate(lines):
        if not _RCPT.match(line):
            continue
        parts, code = [], None
        for nxt in lines[i + 1:]:
            m = _REPLY.match(nxt)
            if not m:
                if parts or _CLIENT.match(nxt):
                    break       # the reply ended, or the client spoke first
                continue
            code = int(m.group(1))
            parts.append(m.group(3))
            if m.group(2) == ' ':
                break
        if code is not None:
            return code, '%d %s' % (code, ' '.join(parts))
        return None, ''
    return None, ''
