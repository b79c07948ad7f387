"""dovecot.py - a private Dovecot for guardlist's tests: SASL authentication
only, for a private Postfix's submission service (tests/lib/postfix.py).

    import harness as h
    from dovecot import PrivateDovecot
    dc = PrivateDovecot({'kid@family.test': 'password'})
    dc.start()            # dovecot -F -c CONF; waits (bounded) until the auth port accepts
    dc.auth_port          # for Postfix: smtpd_sasl_type = dovecot,
                          #              smtpd_sasl_path = inet:127.0.0.1:PORT
    dc.add_user('kid2@family.test', 'other')    # takes effect at once (passwd-file is re-read)
    dc.stop()

Everything lives in one temp dir (mode 0755, removed at exit by the
harness): dovecot.conf, passwd (the users, scheme PLAIN, root:dovecot 0640:
Dovecot's auth process runs as its default_internal_user, dovecot), run/
(base_dir), state/ (state_dir) and dovecot.log.  The config includes
nothing from /etc/dovecot: `protocols =` (no IMAP or POP3 listener, no port
143 or 993), ssl = no, plain-text AUTH allowed (loopback only), one
passwd-file passdb keyed by the whole address (username_format=%u), a
static userdb, and the auth service's one listener on 127.0.0.1:AUTH_PORT
(inet rather than a unix socket: no path or permission trouble with
Postfix, whose smtpd may run chrooted elsewhere).

Dovecot runs in the foreground (-F) as the test's child with
PR_SET_PDEATHSIG, in harness._procs, so harness.run() stops it on failure,
on the time bound and on SIGTERM; it dies with the test even on SIGKILL.
Every wait is bounded.
"""

import grp
import os
import shutil
import socket
import subprocess
import time

import harness as h

DOVECOT = shutil.which('dovecot') or '/usr/sbin/dovecot'
START_TIMEOUT = 20.0      # dovecot -F until the auth port accepts
INTERNAL_USER = 'dovecot'     # Debian's default_internal_user (the auth process)


def _gid(group, default=-1):
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return default


def _check_user(address, password):
    # passwd-file is colon-separated, one user a line: refuse what would split it.
    for what, v in (('user', address), ('password', password)):
        if not v or any(c in v for c in ':\r\n\0'):
            raise ValueError('dovecot passwd-file: %s %r is empty or holds ":", CR, LF or NUL' % (what, v))


class PrivateDovecot:
    """One private Dovecot doing SASL authentication only (see the module doc).
    USERS: {address: password} (plain text, scheme PLAIN)."""

    def __init__(self, users=None, auth_port=None):
        self.dir = h.tmpdir('guardlist-dovecot-')
        self.conf = os.path.join(self.dir, 'dovecot.conf')
        self.passwd = os.path.join(self.dir, 'passwd')
        self.base_dir = os.path.join(self.dir, 'run')
        self.state_dir = os.path.join(self.dir, 'state')
        self.logfile = os.path.join(self.dir, 'dovecot.log')
        self.errfile = os.path.join(self.dir, 'stderr.log')
        self.auth_port = auth_port or h.free_port()
        self.users = {}
        self.proc = None
        for d in (self.base_dir, self.state_dir):
            os.mkdir(d, 0o755)
        for address, password in (users or {}).items():
            _check_user(address, password)
            self.users[address] = password
        self.write_passwd()
        self.write_config()

    # ------------------------------------------------------------ config

    def config_text(self):
        return '\n'.join([
            '# private test instance (tests/lib/dovecot.py): SASL authentication only',
            'protocols =',
            'listen = 127.0.0.1',
            'base_dir = ' + self.base_dir,
            'state_dir = ' + self.state_dir,
            'log_path = ' + self.logfile,
            'info_log_path = ' + self.logfile,
            'debug_log_path = ' + self.logfile,
            'instance_name = dovecot-gltest%d' % self.auth_port,
            'ssl = no',
            'disable_plaintext_auth = no',
            'auth_mechanisms = plain login',
            'auth_verbose = yes',
            'auth_failure_delay = 0',
            'passdb {',
            '  driver = passwd-file',
            '  args = scheme=PLAIN username_format=%u ' + self.passwd,
            '}',
            'userdb {',
            '  driver = static',
            '  args = uid=nobody gid=nogroup home=/nonexistent',
            '}',
            'service auth {',
            '  inet_listener {',
            '    address = 127.0.0.1',
            '    port = %d' % self.auth_port,
            '  }',
            '}',
            '',
        ])

    def write_config(self):
        with open(self.conf, 'w') as f:
            f.write(self.config_text())
        os.chmod(self.conf, 0o644)

    def write_passwd(self):
        """(Re)writes the passwd-file (root:dovecot 0640); the auth process
        reads it again when it changes, so no restart is needed."""
        tmp = self.passwd + '.new'
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            for address, password in sorted(self.users.items()):
                f.write('%s:{PLAIN}%s\n' % (address, password))
        if os.geteuid() == 0:
            os.chown(tmp, 0, _gid(INTERNAL_USER, 0))
        os.chmod(tmp, 0o640)
        os.rename(tmp, self.passwd)

    def add_user(self, address, password):
        """Adds (or changes) a user; in force at the next authentication."""
        _check_user(address, password)
        self.users[address] = password
        self.write_passwd()

    # ------------------------------------------------------------ running

    def start(self):
        """`dovecot -F -c CONF`; waits (bounded) until the auth port accepts
        and answers with Dovecot's auth handshake (VERSION).  Raises
        RuntimeError with the log on failure.  Returns the seconds taken."""
        t0 = time.monotonic()
        self.errfh = open(self.errfile, 'ab')
        self.proc = subprocess.Popen([DOVECOT, '-F', '-c', self.conf], stdin=subprocess.DEVNULL,
                                     stdout=self.errfh, stderr=self.errfh, preexec_fn=h._die_with_parent)
        h._procs.append(self)

        def probe():
            if self.proc.poll() is not None:
                return RuntimeError('dovecot exited with %s during start-up:\n%s'
                                    % (self.proc.returncode, self.log()[-3000:]))
            with socket.create_connection(('127.0.0.1', self.auth_port), timeout=1) as s:
                s.settimeout(2)
                return s.recv(512)
        good, got, _ = h.poll_until(probe, lambda r: isinstance(r, RuntimeError) or
                                    (isinstance(r, bytes) and r.startswith(b'VERSION\t')), START_TIMEOUT)
        if isinstance(got, RuntimeError):
            raise got
        if not good:
            raise RuntimeError('dovecot auth port %d gave no handshake within %ds (last: %r):\n%s'
                               % (self.auth_port, START_TIMEOUT, got, self.log()[-3000:]))
        return time.monotonic() - t0

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        """Dovecot's own log, then what it wrote to stderr (start-up errors)."""
        out = ''
        for path in (self.logfile, self.errfile):
            try:
                with open(path, 'rb') as f:
                    out += f.read().decode('utf-8', errors='replace')
            except OSError:
                pass
        return out

    def stop(self, check=False):
        """SIGTERM (the master stops its services), a bounded wait, SIGKILL if
        needed.  With CHECK, one test that it exited 0 in time.  Returns the
        exit status."""
        if self in h._procs:
            h._procs.remove(self)
        if self.proc is None:
            return None
        rc, killed = h.terminate(self.proc)
        self.errfh.close()
        self.proc = None
        if check:
            h.ok(rc == 0 and not killed, 'dovecot exits 0 on SIGTERM',
                 'exit %s%s' % (rc, ' (killed)' if killed else ''), self.log()[-2000:])
        return rc
