"""harness.py - integration test harness for guardlist: TAP output, a private
MariaDB, the guardlistd daemon under test and a Postfix policy client.

Used by tests/integration/*.t (Debian's /usr/bin/python3, standard library only):

    import harness as h
    def main():
        db = h.start_db("INSERT INTO whitelist VALUES ('grandma@example.com','OK')")
        d = h.start_daemon(db, unknown_sender='reject')   # [policy] keys
        h.is_(h.query(d.port, sender='a@b.example', recipient='c@d.example'), 'DUNNO', '...')
        d.stop()        # two tests: exit status 0 within 10 s, no sanitizer report
        db.stop()
    h.run(main, timeout=180)    # overall bound; exceptions become failed tests

GUARDLISTD=path selects the binary (default bin/guardlistd), e.g. the ASan build.

Every server started here listens on 127.0.0.1 only, on a free port outside the
kernel's ephemeral range, and lives in a temp dir that is removed at exit
(unless KEEP_TMP is set).  Everything started is stopped at exit, also when a
test throws or the file's overall time bound (alarm) fires.  Synchronisation is
by bounded polling of the real condition, never by a fixed sleep.
"""

import atexit
import fcntl
import os
import pwd
import random
import shutil
import signal
import socket
import socketserver
import threading
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / 'sql' / 'schema.sql'

SOCK_TIMEOUT = 10.0          # every socket operation
DB_START_TIMEOUT = 30.0
DB_STOP_TIMEOUT = 30.0
DAEMON_START_TIMEOUT = 20.0  # ASan builds start slower
DAEMON_STOP_TIMEOUT = 10.0
POLL = 0.05

ACCESS_DENIED = 'REJECT Access denied'
TEMPFAIL = '451 4.3.0 Temporary lookup failure'
SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'runtime error:', 'LeakSanitizer', 'WARNING: ThreadSanitizer')


# --------------------------------------------------------------------- TAP

class _Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.done = False


_tap = _Tap()


def _out(line):
    # A reader that went away (prove killed, `| head`) must not stop clean-up.
    try:
        sys.stdout.write(line + '\n')
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        try:
            sys.stdout = open(os.devnull, 'w')
        except OSError:
            pass


def diag(*lines):
    """Prints each line (multi-line strings split) as a TAP diagnostic."""
    for text in lines:
        for line in str(text).splitlines() or ['']:
            _out('# ' + line)


def ok(cond, desc, *diagnostics, todo=None):
    """One test: passes when COND is true.  DIAGNOSTICS are printed on failure.
    With TODO (a reason), a failure is reported as a TAP TODO (not counted)."""
    _tap.n += 1
    desc = str(desc).replace('\n', ' ').replace('#', '\\#')
    suffix = ' # TODO %s' % todo if todo else ''
    if cond:
        _out('ok %d - %s%s' % (_tap.n, desc, suffix))
    else:
        if not todo:
            _tap.failed += 1
        _out('not ok %d - %s%s' % (_tap.n, desc, suffix))
        here = os.path.abspath(__file__)
        for frame in reversed(traceback.extract_stack()):
            if os.path.abspath(frame.filename) != here:
                diag('  Failed test at %s line %d.' % (os.path.basename(frame.filename), frame.lineno))
                break
        diag(*diagnostics)
    return bool(cond)


def is_(got, want, desc):
    """Passes when GOT == WANT; on failure prints both."""
    return ok(got == want, desc, '         got: %r' % (got,), '    expected: %r' % (want,))


def like(got, prefix, desc):
    """Passes when GOT is a string starting with PREFIX."""
    good = isinstance(got, str) and got.startswith(prefix)
    return ok(good, desc, '         got: %r' % (got,), '    expected: a string starting with %r' % (prefix,))


def done():
    """Prints the plan (done_testing style).  Returns the exit status to use."""
    if not _tap.done:
        _tap.done = True
        _out('1..%d' % _tap.n)
        if _tap.failed:
            diag('Looks like you failed %d test(s) of %d.' % (_tap.failed, _tap.n))
    return 1 if _tap.failed or _tap.n == 0 else 0


def skip_all(reason):
    """Ends the test file as skipped (TAP `1..0 # SKIP REASON`), exit 0."""
    _tap.done = True
    _out('1..0 # SKIP %s' % str(reason).replace('\n', ' '))
    sys.exit(0)


class TimeLimit(Exception):
    pass


def _alarm(signum, frame):
    raise TimeLimit('the test file ran over its overall time bound')


class Terminated(Exception):
    pass


def _terminated(signum, frame):
    raise Terminated('the test file got signal %d' % signum)


def run(main, timeout=300):
    """Runs MAIN() under an overall time bound, reports an exception as a failed
    test, stops everything started, prints the plan and exits."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGTERM, _terminated)
    signal.alarm(int(timeout))
    try:
        main()
    except BaseException as e:     # noqa: B902 - also SystemExit/KeyboardInterrupt/TimeLimit
        ok(False, 'test code finished without an exception (%s: %s)' % (type(e).__name__, e),
           traceback.format_exc())
    finally:
        signal.alarm(0)
        try:
            cleanup()
        except BaseException as e:  # noqa: B902
            ok(False, 'clean-up finished (%s: %s)' % (type(e).__name__, e), traceback.format_exc())
    sys.exit(done())


# ------------------------------------------------------------ resources

_tmpdirs = []
_procs = []     # MariaDB and Daemon objects still running


def tmpdir(prefix='guardlist-it-'):
    """A new temp dir (mode 0755), removed at exit unless KEEP_TMP is set."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    _tmpdirs.append(d)
    return d


def settled(path, age=5):
    """Sets PATH's times AGE seconds in the past.  Postfix's programs wait
    while main.cf (or a table source) was modified in the last second or so,
    in 0.3 s steps, up to about 2 s, so a file a test has just written makes
    every postconf, postmap and `postfix start` pay that wait."""
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def cleanup():
    """Stops every daemon and MariaDB still running; removes temp dirs."""
    while _procs:
        p = _procs[-1]
        try:
            p.stop(check=isinstance(p, Daemon))
        finally:
            if p in _procs:
                _procs.remove(p)
    if os.environ.get('KEEP_TMP'):
        for d in _tmpdirs:
            diag('KEEP_TMP: kept ' + d)
    else:
        for d in _tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
    del _tmpdirs[:]


def _atexit_kill():
    # Last resort if run() was not used or was bypassed: no TAP, just kill.
    for p in list(_procs):
        proc = getattr(p, 'proc', None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
    if not os.environ.get('KEEP_TMP'):
        for d in _tmpdirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_atexit_kill)


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM if this test process dies (even by SIGKILL)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)     # PR_SET_PDEATHSIG
    except Exception:   # noqa: B902 - best effort
        pass

_ports_given = set()
_port_locks = {}    # port -> its lock file, open for the life of this process


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_tcp(port, handler):
    """A threaded TCP server of HANDLER (a socketserver handler class) on
    127.0.0.1:PORT, served from a daemon thread.  Returns (server, thread);
    server.shutdown() stops it."""
    server = _ThreadingServer(('127.0.0.1', port), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    return server, thread


def _reserve_port(port):
    """Reserves PORT among the test processes of this machine (the suites
    run side by side, several scripts each): an exclusive flock on a file
    named by the port, held until this process ends, so no other script
    picks it while the server it is for still starts (mariadbd binds its
    port only after InnoDB is up).  Returns False if another holds it."""
    d = os.path.join(tempfile.gettempdir(), 'guardlist-test-ports')
    os.makedirs(d, exist_ok=True)
    f = open(os.path.join(d, str(port)), 'a')
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return False
    _port_locks[port] = f
    return True


def free_port():
    """A random TCP port outside ip_local_port_range that binds on 127.0.0.1
    now and that no other test process on this machine was given."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    ranges = [(r0, r1) for r0, r1 in ((10000, lo - 1), (hi + 1, 65535)) if r1 >= r0]
    weights = [r1 - r0 + 1 for r0, r1 in ranges]
    for _ in range(500):
        r0, r1 = random.choices(ranges, weights)[0]
        port = random.randint(r0, r1)
        if port in _ports_given:
            continue
        _ports_given.add(port)          # tried once: bound by someone, or ours
        if not _reserve_port(port):
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            continue
        finally:
            s.close()
        return port
    raise RuntimeError('no free port found outside the ephemeral range')


def poll_until(fn, pred, timeout, interval=POLL):
    """Calls FN() every INTERVAL seconds until PRED(value) holds or TIMEOUT
    passes.  Returns (success, last value, seconds elapsed).  Exceptions from FN
    count as a value (the exception object) that PRED sees."""
    t0 = time.monotonic()
    while True:
        try:
            v = fn()
        except Exception as e:   # noqa: B902
            v = e
        elapsed = time.monotonic() - t0
        try:
            good = pred(v)
        except Exception:        # noqa: B902
            good = False
        if good:
            return True, v, elapsed
        if elapsed >= timeout:
            return False, v, elapsed
        time.sleep(interval)


# --------------------------------------------------------------- MariaDB

def terminate(proc, timeout=DAEMON_STOP_TIMEOUT):
    """SIGTERM to PROC, a wait of at most TIMEOUT seconds, then SIGKILL if it
    is still there.  Returns (exit status, killed)."""
    killed = False
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            killed = True
            proc.kill()
            proc.wait(10)
    return proc.returncode, killed


class MariaDB:
    """A private MariaDB server: its own datadir, socket and loopback port."""

    def __init__(self):
        self.dir = tmpdir('guardlist-db-')
        self.datadir = os.path.join(self.dir, 'data')
        self.socket = os.path.join(self.dir, 'sock')
        self.errlog = os.path.join(self.dir, 'err.log')
        # Its own tmpdir: at start-up mariadbd deletes every #sql* file in its
        # tmpdir, which breaks other instances sharing /tmp (parallel prove -j).
        self.tmp = os.path.join(self.dir, 'tmp')
        os.mkdir(self.tmp)
        self.port = free_port()
        self.proc = None
        self.installed = False

    def _install(self):
        r = subprocess.run(
            ['mariadb-install-db', '--no-defaults', '--user=root', '--datadir=' + self.datadir,
             '--auth-root-authentication-method=normal', '--skip-test-db', '--tmpdir=' + self.tmp],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, text=True)
        if r.returncode != 0:
            raise RuntimeError('mariadb-install-db failed (%d):\n%s' % (r.returncode, r.stdout))
        self.installed = True

    def _command(self):
        """The mariadbd command line (a Galera node adds its wsrep settings)."""
        return ['mariadbd', '--no-defaults', '--user=root', '--datadir=' + self.datadir,
                '--socket=' + self.socket, '--port=%d' % self.port, '--bind-address=127.0.0.1',
                '--skip-log-bin', '--log-error=' + self.errlog, '--tmpdir=' + self.tmp]

    def start(self):
        """Starts mariadbd (installing the datadir the first time) and waits,
        at most 30 s, until it answers on its socket."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.spawn()
        return self.wait_answering()

    def spawn(self):
        """Starts mariadbd (installing the datadir the first time), no wait."""
        if not self.installed:
            self._install()
        self.proc = subprocess.Popen(
            self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        if self not in _procs:
            _procs.insert(0, self)     # stopped after the daemons that use it

    def wait_answering(self, timeout=DB_START_TIMEOUT):
        """Waits, at most TIMEOUT seconds, until the server answers on its
        socket.  Returns the seconds taken."""
        t0 = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('mariadbd exited with %s:\n%s' % (self.proc.returncode, self.log_tail()))
            r = subprocess.run(self._client() + ['-e', 'select 1'], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=10)
            if r.returncode == 0:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise RuntimeError('mariadbd did not answer within %ds:\n%s' % (timeout, self.log_tail()))
            time.sleep(0.1)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check=False):
        """SIGTERM, then wait (bounded); SIGKILL if it does not stop."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)      # in case a test froze it
        terminate(self.proc, DB_STOP_TIMEOUT)
        if self in _procs:
            _procs.remove(self)

    def freeze(self):
        """SIGSTOP: the server keeps its sockets but answers nothing (a hung database)."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def log_tail(self, n=30):
        try:
            with open(self.errlog, errors='replace') as f:
                return ''.join(f.readlines()[-n:])
        except OSError:
            return '(no error log)'

    def _client(self, db=None):
        cmd = ['mariadb', '--no-defaults', '-uroot', '-S', self.socket]
        if db:
            cmd.append(db)
        return cmd

    def sql(self, statement, db='guardlist'):
        """Runs STATEMENT; returns the rows as lists of strings (NULL as None)."""
        r = subprocess.run(self._client(db) + ['-N', '-B', '-e', statement],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, text=True)
        if r.returncode != 0:
            raise RuntimeError('SQL failed: %s\n%s' % (statement, r.stderr.strip()))
        rows = []
        for line in r.stdout.splitlines():
            rows.append([None if c == 'NULL' else c for c in line.split('\t')])
        return rows

    def value(self, statement, db='guardlist'):
        """The single value of a one-row, one-column query (None if no row)."""
        rows = self.sql(statement, db)
        return rows[0][0] if rows else None

    def load_schema(self, name='guardlist'):
        """Creates database NAME and loads sql/schema.sql into it."""
        self.sql('CREATE DATABASE IF NOT EXISTS `%s`' % name, db=None)
        with open(SCHEMA, 'rb') as f:
            r = subprocess.run(self._client(name), stdin=f, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            raise RuntimeError('loading %s failed: %s' % (SCHEMA, r.stderr.decode(errors='replace')))


# ---------------------------------------------------------------- daemon

def daemon_binary():
    """$GUARDLISTD (relative to the current dir, else to the repo root), else bin/guardlistd."""
    env = os.environ.get('GUARDLISTD')
    if not env:
        return str(ROOT / 'bin' / 'guardlistd')
    if os.path.isabs(env) or os.path.exists(env):
        return os.path.abspath(env)
    return str(ROOT / env)


_announced = set()


DEFAULT_POLICY = {
    # Two event loops whatever the machine (auto makes one on two cores):
    # every test then crosses threads (hand-overs, results handed back).
    'threads': '2',
    'unknown_sender': 'defer',
    'on_allow': 'DUNNO',
    'null_sender': 'reject',
    'recipient_delimiter': '+',
    'refresh_interval': '1',
    # Tests make hundreds of strangers from one client address on purpose;
    # the abuse caps have their own test (45_caps.t).
    'max_new_challenges_per_recipient': '100000',
    'max_new_challenges_per_client': '100000',
    # Tests run as root: the daemon binds, then really runs as this user
    # (72_privileges.t checks it); config files are given to its group.
    'run_as_user': 'nobody',
}

RUN_AS_USER = 'nobody'


def proc_status(pid):
    """/proc/PID/status as a dict of field -> list of words (OSError if PID is gone)."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            out[k] = v.split()
    return out


def run_as_ids(user=RUN_AS_USER):
    """(uid, primary gid) of USER: the ids the daemons drop to in tests."""
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


def share_with_run_as(path, mode=0o640):
    """When running as root: gives PATH to group RUN_AS_USER's group with MODE,
    so a daemon that dropped to RUN_AS_USER can still read it (SIGHUP)."""
    if os.geteuid() == 0:
        os.chown(path, 0, run_as_ids()[1])
    os.chmod(path, mode)


class Daemon:
    """guardlistd run in the foreground with its own config file."""

    def __init__(self, db, **policy):
        self.db = db
        self.dir = tmpdir('guardlist-d-')
        self.config = os.path.join(self.dir, 'guardlist.ini')
        self.errfile = os.path.join(self.dir, 'stderr.log')
        self.port = free_port()
        self.policy = dict(DEFAULT_POLICY)
        self.policy.update(policy)
        self.extra = {}
        self.proc = None
        self.binary = daemon_binary()
        self.write_config()

    def write_config(self, **policy):
        """(Re)writes the config file; POLICY updates [policy] keys."""
        self.policy.update(policy)
        lines = ['[database]',
                 'socket = ' + self.db.socket,
                 'name = guardlist',
                 'user = root',
                 '',
                 '[policy]']
        if 'listen' in self.policy:     # e.g. unix:/path: then self.port is that path
            spec = self.policy['listen']
            self.port = spec[5:] if spec.startswith('unix:') else self.port
        else:
            lines.append('listen = inet:127.0.0.1:%d' % self.port)
        for k, v in self.policy.items():
            lines.append('%s = %s' % (k, v))
        lines += ['', '[log]', 'target = stderr', 'level = info', '']
        tmp = self.config + '.new'
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write('\n'.join(lines))
        share_with_run_as(tmp)      # root:nogroup 0640, as deploy.md says (root:guardlist)
        os.rename(tmp, self.config)

    def _spawn(self):
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError('daemon binary %s missing or not executable (make, or set GUARDLISTD)'
                               % self.binary)
        self._announce()
        self.errfh = open(self.errfile, 'ab')
        env = dict(os.environ)
        env.setdefault('ASAN_OPTIONS', 'detect_leaks=1')
        self.proc = subprocess.Popen([self.binary, '-f', '-c', self.config],
                                     stdin=subprocess.DEVNULL, stdout=self.errfh, stderr=self.errfh,
                                     env=env, preexec_fn=_die_with_parent)
        _procs.append(self)

    def _connect_when_up(self, interval):
        """Connects as soon as the port accepts; returns (socket, seconds)."""
        t0 = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('guardlistd exited with %s during start-up:\n%s'
                                   % (self.proc.returncode, self.log()[-3000:]))
            try:
                return PolicyConnection(self.port, timeout=1).sock, time.monotonic() - t0
            except OSError:
                pass
            if time.monotonic() - t0 > DAEMON_START_TIMEOUT:
                raise RuntimeError('guardlistd did not accept on %s within %ds:\n%s'
                                   % (self.port, DAEMON_START_TIMEOUT, self.log()[-3000:]))
            time.sleep(interval)

    def write_raw(self, text, mode=0o640):
        """Replaces the config file with TEXT (for tests of bad configs), mode
        MODE, group RUN_AS_USER's (when root)."""
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        share_with_run_as(self.config, mode)

    def config_text(self):
        with open(self.config) as f:
            return f.read()

    def _announce(self):
        if self.binary not in _announced:
            _announced.add(self.binary)
            diag('guardlistd under test: ' + self.binary)

    def run_to_exit(self, args=None, timeout=DAEMON_STOP_TIMEOUT):
        """Runs guardlistd ARGS (default -f -c CONFIG) expecting it to exit by
        itself.  Returns (exit status or None if it was still running after
        TIMEOUT and got killed, stderr text)."""
        self._announce()
        if args is None:
            args = ['-f', '-c', self.config]
        with open(self.errfile, 'wb') as errfh:
            p = subprocess.Popen([self.binary] + args, stdin=subprocess.DEVNULL, stdout=errfh,
                                 stderr=errfh, preexec_fn=_die_with_parent)
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
                rc = None
        return rc, self.log()

    def start(self, ready=True):
        """Starts `guardlistd -f -c CONFIG` and waits (bounded) until its port
        accepts connections.  With READY, also waits (bounded) until a probe
        request to an unprotected address is answered with something other
        than the 451 given before the first rules are loaded (the start-up
        window itself is tested by first_reply()).  Returns the seconds taken."""
        self._spawn()
        t0 = time.monotonic()
        s, _ = self._connect_when_up(POLL)
        s.close()
        if ready:
            good, got, secs = wait_reply(
                self.port, lambda r: isinstance(r, str) and r != TEMPFAIL, DAEMON_START_TIMEOUT,
                sender='harness-probe@probe.invalid', recipient='harness-probe@probe.invalid')
            if not good:
                raise RuntimeError('guardlistd answered no probe within %ds (last: %r):\n%s'
                                   % (DAEMON_START_TIMEOUT, got, self.log()[-3000:]))
        return time.monotonic() - t0

    def first_reply(self, **attrs):
        """Starts the daemon, connects the moment its port accepts and sends
        ATTRS as the very first request.  Returns (reply, seconds from spawn
        to the first accepted connection)."""
        self._spawn()
        s, secs = self._connect_when_up(0.002)
        s.settimeout(SOCK_TIMEOUT)
        c = PolicyConnection.__new__(PolicyConnection)
        c.sock, c.buf = s, b''
        try:
            return c.request(**attrs), secs
        finally:
            c.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        """Everything the daemon wrote to stderr so far."""
        try:
            with open(self.errfile, 'rb') as f:
                return f.read().decode('utf-8', errors='replace')
        except OSError:
            return ''

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def sanitizer_report(self):
        text = self.log()
        return [m for m in SANITIZER_MARKS if m in text]

    def stop(self, check=True):
        """SIGTERM; waits at most 10 s.  With CHECK, one test for a clean exit
        (status 0) and one for a stderr free of sanitizer reports."""
        if self.proc is None:
            return None
        if self in _procs:
            _procs.remove(self)
        rc, killed = terminate(self.proc)
        self.errfh.close()
        if check:
            tail = self.log()[-3000:]
            ok(rc == 0 and not killed,
               'guardlistd exits 0 on SIGTERM within %ds' % DAEMON_STOP_TIMEOUT,
               'exit status %s%s' % (rc, ' (killed after the timeout)' if killed else ''),
               'stderr tail:', tail)
            marks = self.sanitizer_report()
            ok(not marks, 'guardlistd stderr has no sanitizer report',
               'found: %s' % ', '.join(marks), 'stderr tail:', tail)
        self.proc = None
        return rc


# ---------------------------------------------------------- policy client

class PolicyError(Exception):
    pass


class Closed(PolicyError):
    """The server closed the connection (DATA is what came before the close)."""

    def __init__(self, msg, data=b''):
        super().__init__(msg)
        self.data = data


def request_bytes(**attrs):
    """A policy request.  Order: request, protocol_state, sender, recipient,
    client_address, client_name, then any other attributes in the order given.
    A value of None leaves the attribute out."""
    base = {'request': 'smtpd_access_policy', 'protocol_state': 'RCPT', 'sender': '',
            'recipient': '', 'client_address': '192.0.2.10', 'client_name': 'mx.example.net'}
    base.update(attrs)
    out = []
    for k, v in base.items():
        if v is None:
            continue
        out.append('%s=%s\n' % (k, v))
    out.append('\n')
    return ''.join(out).encode('utf-8', errors='surrogateescape')


class PolicyConnection:
    """One connection to the policy server, many requests in turn."""

    def __init__(self, port, host='127.0.0.1', timeout=SOCK_TIMEOUT):
        """PORT is a TCP port on HOST, or a str path of a unix-domain socket."""
        if isinstance(port, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(port)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b''

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_reply(self):
        """Reads one reply `action=TEXT\\n\\n`; returns TEXT."""
        while b'\n\n' not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b''
            if not chunk:
                raise Closed('connection closed by the server before a whole reply', self.buf)
            self.buf += chunk
        reply, self.buf = self.buf.split(b'\n\n', 1)
        text = reply.decode('utf-8', errors='replace')
        if not text.startswith('action=') or '\n' in text:
            raise PolicyError('malformed reply: %r' % text)
        return text[len('action='):]

    def request(self, **attrs):
        self.send_raw(request_bytes(**attrs))
        return self.read_reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def query(port, **attrs):
    """One request on a fresh connection; returns the action text."""
    with PolicyConnection(port) as c:
        return c.request(**attrs)


def raw_exchange(port, data, timeout=SOCK_TIMEOUT):
    """Sends DATA on a fresh connection, then reads until the server closes it
    or TIMEOUT passes.  Returns (bytes received, closed: bool)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    s.settimeout(timeout)
    got = b''
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return got, True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return got, True
            except socket.timeout:
                return got, False
            if not chunk:
                return got, True
            got += chunk
        return got, False
    finally:
        s.close()


# ------------------------------------------------------------ conveniences

DEFER_PREFIX = 'DEFER_IF_PERMIT '


def is_defer(reply):
    """True for `DEFER_IF_PERMIT <some text>`."""
    return isinstance(reply, str) and reply.startswith(DEFER_PREFIX) and bool(reply[len(DEFER_PREFIX):].strip())


def defer_ok(got, desc):
    return ok(is_defer(got), desc, '         got: %r' % (got,),
              '    expected: %r followed by a reason' % DEFER_PREFIX)


def start_db(*statements):
    """A running private MariaDB with the schema loaded and STATEMENTS run."""
    db = MariaDB()
    db.start()
    db.load_schema()
    for st in statements:
        db.sql(st)
    return db


def start_daemon(db, **policy):
    d = Daemon(db, **policy)
    d.start()
    return d


CHALLENGE_COLS = ('id', 'sender', 'recipient', 'protected_key', 'status', 'is_open', 'attempts',
                  'client_address', 'client_name', 'first_seen', 'last_seen')


def sql_str(s):
    """A quoted SQL string literal for test-controlled values."""
    return "'" + s.replace('\\', '\\\\').replace("'", "''") + "'"


def challenges(db, sender=None, recipient=None):
    """Challenge rows (dicts of CHALLENGE_COLS), optionally for one pair."""
    where = []
    if sender is not None:
        where.append('sender = ' + sql_str(sender))
    if recipient is not None:
        where.append('recipient = ' + sql_str(recipient))
    q = 'SELECT %s FROM challenges%s ORDER BY id' % (
        ', '.join(CHALLENGE_COLS), (' WHERE ' + ' AND '.join(where)) if where else '')
    return [dict(zip(CHALLENGE_COLS, r)) for r in db.sql(q)]


def wait_reply(port, pred, timeout, **attrs):
    """Sends the request every 50 ms on one connection (reconnecting after an
    error) until PRED(reply) holds or TIMEOUT passes.
    Returns (success, last reply or exception, seconds)."""
    state = {'c': None}

    def once():
        if state['c'] is None:
            state['c'] = PolicyConnection(port)
        try:
            return state['c'].request(**attrs)
        except Exception:
            state['c'].close()
            state['c'] = None
            raise
    try:
        return poll_until(once, pred, timeout)
    finally:
        if state['c'] is not None:
            state['c'].close()


# ------------------------------------------------------------ admin CLI

def cli_binary():
    """$GUARDLIST (relative to the current dir, else to the repo root), else bin/guardlist."""
    env = os.environ.get('GUARDLIST')
    if not env:
        return str(ROOT / 'bin' / 'guardlist')
    if os.path.isabs(env) or os.path.exists(env):
        return os.path.abspath(env)
    return str(ROOT / env)


def ini_text(conf, **sections):
    """CONF ({section: {key: value}}) extended by SECTIONS, as guardlist.ini text."""
    conf = {sec: dict(keys) for sec, keys in conf.items()}
    for sec, keys in sections.items():
        conf.setdefault(sec, {}).update(keys)
    lines = []
    for sec, keys in conf.items():
        lines.append('[%s]' % sec)
        lines += ['%s = %s' % kv for kv in keys.items()]
        lines.append('')
    return '\n'.join(lines)


def cli_config(db, name='guardlist', directory=None, **sections):
    """Writes a guardlist.ini (mode 0600) for the admin CLI into DIRECTORY (a
    new temp dir by default): [database] on DB's socket, database NAME, user
    root with no password.  SECTIONS add or extend sections, e.g.
    admin={'purge_after_days': '10'}.  Returns the file's path."""
    directory = directory or tmpdir('guardlist-cli-')
    path = os.path.join(directory, 'guardlist.ini')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(ini_text({'database': {'socket': db.socket, 'name': name, 'user': 'root'}}, **sections))
    return path


def cli(config, *args, actor=None, env=None, timeout=60, stdin=None):
    """Runs `guardlist [-c CONFIG] [--actor ACTOR] ARGS...` (CONFIG None: no
    -c).  ENV updates the environment (a value of None removes the variable).
    Returns (exit status, stdout, stderr), the output as text."""
    binary = cli_binary()
    if not os.access(binary, os.X_OK):
        raise RuntimeError('CLI binary %s missing or not executable (make, or set GUARDLIST)' % binary)
    if binary not in _announced:
        _announced.add(binary)
        diag('guardlist under test: ' + binary)
    cmd = [binary]
    if config is not None:
        cmd += ['-c', config]
    if actor is not None:
        cmd += ['--actor', actor]
    cmd += list(args)
    e = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    r = subprocess.run(cmd, input=stdin.encode() if isinstance(stdin, str) else stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env=e, stdin=None if stdin is not None else subprocess.DEVNULL)
    return (r.returncode, r.stdout.decode('utf-8', errors='replace'),
            r.stderr.decode('utf-8', errors='replace'))


_snapshot_columns = {}      # (id(db), database name) -> the column rows last seen


def snapshot(db, name='guardlist', tables=None):
    """Every row of every base table of database NAME (or of TABLES), all
    columns including invisible ones, binary columns as hex: a dict
    table -> sorted list of row tuples.  For "nothing changed" checks.
    One client run: the column list is the one seen last time, read again
    in the same run and compared; when it changed (a migration), once more
    with the new one."""
    cols_q = ("SELECT '#cols', TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS "
              "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION" % sql_str(name))
    key = (id(db), name)
    for _ in range(2):
        cols = _snapshot_columns.get(key)
        if cols is None:
            cols = [tuple(r[1:]) for r in db.sql(cols_q, db=None)]
        bytable = {}
        for t, c, typ in cols:
            if tables is not None and t not in tables:
                continue
            expr = '`%s`' % c
            if typ in ('binary', 'varbinary', 'blob', 'tinyblob', 'mediumblob', 'longblob'):
                expr = 'HEX(%s)' % expr
            bytable.setdefault(t, []).append(expr)
        q = '; '.join(['SET NAMES utf8mb4', cols_q]
                      + ["SELECT %s, %s FROM `%s`.`%s`" % (sql_str(t), ', '.join(e), name, t)
                         for t, e in bytable.items()])
        rows = db.sql(q, db=None)
        now = [tuple(r[1:]) for r in rows if r[0] == '#cols']
        _snapshot_columns[key] = now
        if now == cols:
            break
    out = {t: [] for t in bytable}
    for row in rows:
        if row[0] != '#cols':
            out[row[0]].append(tuple(row[1:]))
    for t in out:
        out[t].sort(key=lambda r: tuple('' if v is None else v for v in r))
    return out


# ------------------------------------------------- notifier and smarthost

SINK_START_TIMEOUT = 10.0


NOTIFY_LOGS = []     # stderr of every guardlist-notify run of this test file (notify_logged)


def notify_logged(*args, **kw):
    """notify(), keeping its stderr in NOTIFY_LOGS for the sanitizer check."""
    rc, out, err = notify(*args, **kw)
    NOTIFY_LOGS.append(err)
    return rc, out, err


def no_notify_sanitizer_reports(extra=()):
    """One test: no sanitizer report in NOTIFY_LOGS nor in the texts EXTRA."""
    logs = NOTIFY_LOGS + list(extra)
    found = sorted(set(m for text in logs for m in SANITIZER_MARKS if m in text))
    ok(not found, 'guardlist-notify: no sanitizer report in any of its %d runs' % len(logs),
       'found: %s' % ', '.join(found),
       *[text[-3000:] for text in logs if any(m in text for m in SANITIZER_MARKS)][:2])


def run_group(cmd, timeout, **kw):
    """Runs CMD in its own process group (so a browser it starts goes too),
    at most TIMEOUT seconds; on timeout kills the whole group.  Returns
    (exit status or None on timeout, stdout, stderr) as text."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
        rc = None
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
        raise
    # Anything the run left behind in its group (a browser) goes now.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return rc, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


def notify_binary():
    """$GUARDLIST_NOTIFY (relative to the current dir, else to the repo root), else bin/guardlist-notify."""
    env = os.environ.get('GUARDLIST_NOTIFY')
    if not env:
        return str(ROOT / 'bin' / 'guardlist-notify')
    if os.path.isabs(env) or os.path.exists(env):
        return os.path.abspath(env)
    return str(ROOT / env)


NOTIFIER_DEFAULTS = {
    'smtp_host': '127.0.0.1',
    'starttls': 'off',
    'from': 'guardlist@guardlist.test',
    'approve_url': 'https://guardlist.test/approve',
    'template_dir': str(ROOT / 'templates'),
    'max_per_hour': '10',
    'poll_interval': '1',
    'run_as_user': RUN_AS_USER,     # as root it must drop (72_privileges.t)
}


def notify_config(db, smtp_port, directory=None, notifier=None, name='guardlist', **sections):
    """Writes a guardlist.ini (mode 0600) for guardlist-notify: cli_config()'s
    [database], [notifier] with NOTIFIER_DEFAULTS and smtp_port SMTP_PORT,
    updated by NOTIFIER (a value of None drops the key), [approver]
    token_ttl_days 7 and [log] to stderr, unless SECTIONS say otherwise."""
    keys = dict(NOTIFIER_DEFAULTS, smtp_port=str(smtp_port))
    keys.update(notifier or {})
    keys = {k: v for k, v in keys.items() if v is not None}
    conf = {'notifier': keys, 'approver': {'token_ttl_days': '7'},
            'log': {'target': 'stderr', 'level': 'info'}}
    for sec, kv in sections.items():
        conf.setdefault(sec, {}).update(kv)
    return cli_config(db, name=name, directory=directory, **conf)


def notify(config, *args, timeout=120, env=None):
    """Runs `guardlist-notify -c CONFIG ARGS...` (CONFIG None: no -c) to its
    exit, at most TIMEOUT seconds.  Returns (exit status, stdout, stderr)."""
    binary = notify_binary()
    if not os.access(binary, os.X_OK):
        raise RuntimeError('notifier binary %s missing or not executable (make, or set GUARDLIST_NOTIFY)'
                           % binary)
    if binary not in _announced:
        _announced.add(binary)
        diag('guardlist-notify under test: ' + binary)
    cmd = [binary] + (['-c', config] if config is not None else []) + list(args)
    e = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=e, preexec_fn=_die_with_parent)
    return (r.returncode, r.stdout.decode('utf-8', errors='replace'),
            r.stderr.decode('utf-8', errors='replace'))


class SmtpSink:
    """Postfix's smtp-sink on 127.0.0.1 as a smarthost: one file per message
    accepted in DIR (its own smtp-sink headers X-Client-Addr ... Received:
    first, then the message as received).  OPTIONS are extra smtp-sink
    arguments, e.g. ['-f', 'RCPT'] (5xx to every RCPT) or ['-r', 'RCPT'] (4xx)."""

    def __init__(self, port=None, options=()):
        self.dir = tmpdir('guardlist-sink-')
        self.maildir = os.path.join(self.dir, 'mail')
        os.mkdir(self.maildir)
        self.errfile = os.path.join(self.dir, 'stderr.log')
        self.port = port or free_port()
        self.options = list(options)
        self.proc = None

    def start(self):
        """Starts smtp-sink and waits (bounded) for its 220 greeting."""
        self.errfh = open(self.errfile, 'ab')
        self.proc = subprocess.Popen(
            ['smtp-sink', '-u', 'root', '-d', os.path.join(self.maildir, '%Y%m%d%H%M%S.')] + self.options
            + ['127.0.0.1:%d' % self.port, '64'],
            stdin=subprocess.DEVNULL, stdout=self.errfh, stderr=self.errfh, preexec_fn=_die_with_parent)
        _procs.append(self)
        t0 = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('smtp-sink exited with %s:\n%s' % (self.proc.returncode, self.log()))
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=1) as s:
                    if s.recv(512).startswith(b'220'):
                        s.sendall(b'QUIT\r\n')
                        return time.monotonic() - t0
            except OSError:
                pass
            if time.monotonic() - t0 > SINK_START_TIMEOUT:
                raise RuntimeError('smtp-sink gave no greeting on %d within %ds:\n%s'
                                   % (self.port, SINK_START_TIMEOUT, self.log()))
            time.sleep(POLL)

    def files(self):
        """Paths of the message files so far, sorted by name."""
        out = []
        for base, _, names in os.walk(self.maildir):
            out += [os.path.join(base, n) for n in names]
        return sorted(out)

    def messages(self):
        """The message files' contents (bytes), sorted by file name."""
        out = []
        for p in self.files():
            with open(p, 'rb') as f:
                out.append(f.read())
        return out

    @staticmethod
    def split(raw):
        """Splits one message file into (envelope, message bytes): envelope is
        {'mail': X-Mail-Args, 'rcpt': [X-Rcpt-Args...]}; the message is what
        the client sent, smtp-sink's own header lines removed."""
        lines = raw.split(b'\n')
        env = {'mail': None, 'rcpt': []}
        i = 0
        while i < len(lines):
            ln = lines[i]
            if ln.startswith(b'X-Mail-Args: '):
                env['mail'] = ln[13:].decode('utf-8', 'replace').strip()
            elif ln.startswith(b'X-Rcpt-Args: '):
                env['rcpt'].append(ln[13:].decode('utf-8', 'replace').strip())
            elif ln.startswith(b'Received: '):
                i += 1
                while i < len(lines) and lines[i][:1] in (b' ', b'\t'):
                    i += 1
                break
            elif not ln.startswith(b'X-'):
                break
            i += 1
        return env, b'\n'.join(lines[i:])

    def clear(self):
        """Removes the message files received so far."""
        for p in self.files():
            os.unlink(p)

    def log(self):
        try:
            with open(self.errfile, 'rb') as f:
                return f.read().decode('utf-8', errors='replace')[-3000:]
        except OSError:
            return ''

    def stop(self, check=False):
        """SIGTERM, bounded wait, SIGKILL if needed."""
        if self in _procs:
            _procs.remove(self)
        if self.proc is None:
            return None
        rc, _ = terminate(self.proc)
        self.errfh.close()
        self.proc = None
        return rc


class Notifier:
    """guardlist-notify running in the background (polling, no --once) with
    CONFIG; stopped at exit like the daemons."""

    def __init__(self, config, *args):
        self.config = config
        self.args = list(args)
        self.dir = tmpdir('guardlist-n-')
        self.errfile = os.path.join(self.dir, 'stderr.log')
        self.proc = None

    def start(self):
        binary = notify_binary()
        if not os.access(binary, os.X_OK):
            raise RuntimeError('notifier binary %s missing or not executable' % binary)
        self.errfh = open(self.errfile, 'ab')
        self.proc = subprocess.Popen([binary, '-c', self.config] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=self.errfh, stderr=self.errfh, preexec_fn=_die_with_parent)
        _procs.append(self)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.errfile, 'rb') as f:
                return f.read().decode('utf-8', errors='replace')
        except OSError:
            return ''

    def stop(self, check=False):
        """SIGTERM; waits at most 10 s, then SIGKILL.  Returns (exit status, killed)."""
        if self in _procs:
            _procs.remove(self)
        if self.proc is None:
            return None, False
        rc, killed = terminate(self.proc)
        self.errfh.close()
        self.proc = None
        return rc, killed
