"""web.py - a private lighttpd running guardlist's CGI programs, for the
integration tests (Debian's /usr/bin/python3, standard library only).

    import harness as h
    import web
    www = web.Lighttpd(web.approve_binary(), {'GUARDLIST_CONFIG': conf})
    www.start()                       # waits (bounded) until the port answers HTTP
    r = www.request('GET', '/approve?t=' + token)
    r.status, r.header('Content-Security-Policy'), r.text
    www.stop()                        # SIGTERM, bounded wait, SIGKILL if needed

lighttpd runs in the foreground (`lighttpd -D -f CONF`) as a child of the test,
bound to 127.0.0.1 on a free port outside the ephemeral range, with its own
temp dir (mode 0755) holding lighttpd.conf, an empty document root, the upload
dir and the error log (where the CGI's stderr goes as well).  The CGI binary is
copied into that dir, so a repository the web server's user cannot enter (a
clone under /root) still works.  URL_PATH (default /approve) is aliased to the
copy (mod_alias) and the copy is run as a CGI (mod_cgi) with ENV added to its
environment (mod_setenv).  lighttpd's URL checks are its defaults except that
%-encoded control characters are passed on to the CGI, which must refuse them.

With fastcgi=N the program runs as a persistent FastCGI process instead
(mod_fastcgi, "bin-path": lighttpd spawns N processes at start, one socket
in a dir of the temp dir that CGI_USER owns, ENV given as their environment
with "bin-environment"; with USERS every path goes to them, the login
only in front of URL_PATH); fastcgi_pids() lists them.  auth_cache=True
keeps checked logins (lighttpd's auth.cache), as etc/web's set-up does.
fastcgi_socket=PATH passes URL_PATH to a FastCGI process already listening
there (SpawnFcgi below, as nginx would) and starts none.

Started as root, lighttpd switches to www-data (server.username) before it
runs a CGI: whatever the CGI reads must be readable by that user.
share_with_cgi() gives a file to CGI_USER's group (mode 0640 by default), so a
config file or password file stays unreadable by others, as guardlist demands.

The instance registers itself with the harness like the daemons do, so
harness.run() stops it on failure, on the file's time bound and on SIGTERM;
if the test process dies outright, PR_SET_PDEATHSIG stops it.
"""

import fcntl
import grp
import http.client
import json
import os
import pwd
import secrets as secrets_mod
import shutil
import socket
import subprocess
import time

import harness as h

LIGHTTPD = shutil.which('lighttpd') or '/usr/sbin/lighttpd'
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 20.0        # one request: the CGI connects to MariaDB

# The user lighttpd runs CGIs as: www-data when started as root, else ourselves.
if os.geteuid() == 0:
    CGI_USER = 'www-data'
else:
    CGI_USER = pwd.getpwuid(os.geteuid()).pw_name


def _program(env_name, name):
    """$ENV_NAME (relative to the current dir, else to the repo root), else bin/NAME."""
    env = os.environ.get(env_name)
    if not env:
        return str(h.ROOT / 'bin' / name)
    if os.path.isabs(env) or os.path.exists(env):
        return os.path.abspath(env)
    return str(h.ROOT / env)


def approve_binary():
    """$GUARDLIST_APPROVE, else bin/guardlist-approve."""
    return _program('GUARDLIST_APPROVE', 'guardlist-approve')


def web_binary():
    """$GUARDLIST_WEB, else bin/guardlist-web."""
    return _program('GUARDLIST_WEB', 'guardlist-web')


def share_with_cgi(path, mode=0o640):
    """Makes PATH readable by the CGI's user and nobody else: group CGI_USER's
    group (when running as root), mode MODE."""
    if os.geteuid() == 0:
        gid = grp.getgrnam(CGI_USER).gr_gid if _has_group(CGI_USER) else pwd.getpwnam(CGI_USER).pw_gid
        os.chown(path, 0, gid)
    os.chmod(path, mode)


def _has_group(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def copy_templates(directory=None):
    """A copy of the repository's templates/ in a temp dir the CGI user can
    read (dir 0755, files 0644).  Returns its path."""
    directory = directory or os.path.join(h.tmpdir('guardlist-tpl-'), 'templates')
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    src = h.ROOT / 'templates'
    for name in sorted(os.listdir(src)):
        p = os.path.join(directory, name)
        shutil.copyfile(src / name, p)
        os.chmod(p, 0o644)
    return directory


def crypt_sha512(password):
    """An htpasswd hash of PASSWORD ($6$, SHA-512 crypt) from `openssl passwd -6`."""
    r = subprocess.run(['openssl', 'passwd', '-6', '-stdin'], input=password, capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0 or not r.stdout.startswith('$6$'):
        raise RuntimeError('openssl passwd -6 failed: %s' % r.stderr)
    return r.stdout.strip()


def _quote(s):
    """A lighttpd config string literal."""
    if '"' in s or '\\' in s or '\n' in s:
        raise ValueError('unexpected character in a lighttpd config value: %r' % s)
    return '"%s"' % s


class Response:
    """One HTTP response: status, reason, headers (list of (name, value)) and body bytes."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name):
        """The value of header NAME (case-insensitive), None if absent; several joined by ', '."""
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return ', '.join(vals) if vals else None

    def header_count(self, name):
        return sum(1 for k, _ in self.headers if k.lower() == name.lower())

    @property
    def text(self):
        return self.body.decode('utf-8', errors='replace')

    def __repr__(self):
        return '<Response %d %s, %d bytes>' % (self.status, self.reason, len(self.body))


class Lighttpd:
    """One private lighttpd serving CGI_PATH at URL_PATH (see the module doc)."""

    def __init__(self, cgi_path, env=None, port=None, url_path='/approve', copy=True, users=None, fastcgi=0,
                 auth_cache=False, fastcgi_socket=None):
        self.dir = h.tmpdir('guardlist-www-')
        self.fastcgi = fastcgi
        self.fastcgi_socket = fastcgi_socket
        self.auth_cache = auth_cache
        self.sockdir = os.path.join(self.dir, 'fcgi')
        self.docroot = os.path.join(self.dir, 'htdocs')
        self.uploads = os.path.join(self.dir, 'uploads')
        self.conf = os.path.join(self.dir, 'lighttpd.conf')
        self.errorlog = os.path.join(self.dir, 'error.log')
        self.outfile = os.path.join(self.dir, 'stdout.log')
        for d in (self.docroot, self.uploads):
            os.mkdir(d)
            os.chmod(d, 0o755)
        # lighttpd opens its error log and writes request bodies to the upload
        # dir after it switched to CGI_USER: give both to that user.
        with open(self.errorlog, 'ab'):
            pass
        if os.geteuid() == 0:
            pw = pwd.getpwnam(CGI_USER)
            for p in (self.errorlog, self.uploads):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(self.errorlog, 0o640)
        os.chmod(self.uploads, 0o700)
        if fastcgi:
            # lighttpd binds the backends' socket after it switched to CGI_USER
            os.mkdir(self.sockdir)
            if os.geteuid() == 0:
                os.chown(self.sockdir, pw.pw_uid, pw.pw_gid)
            os.chmod(self.sockdir, 0o700)
        if copy:
            self.cgi = os.path.join(self.dir, os.path.basename(cgi_path))
            shutil.copyfile(cgi_path, self.cgi)
            os.chmod(self.cgi, 0o755)
        else:
            self.cgi = os.path.abspath(cgi_path)
        self.env = dict(env or {})
        for k in ('ASAN_OPTIONS', 'UBSAN_OPTIONS'):     # a sanitizer build of the CGI
            if k in os.environ and k not in self.env:
                self.env[k] = os.environ[k]
        self.port = port or h.free_port()
        self.url_path = url_path
        # USERS ({name: password}): HTTP Basic auth in front of URL_PATH
        # (mod_auth, an htpasswd file of SHA-512 crypt hashes made by openssl).
        self.htpasswd = None
        if users:
            self.htpasswd = os.path.join(self.dir, 'htpasswd')
            with open(self.htpasswd, 'w') as f:
                for name, password in users.items():
                    f.write('%s:%s\n' % (name, crypt_sha512(password)))
            share_with_cgi(self.htpasswd)      # lighttpd reads it as CGI_USER
        self.proc = None
        self.outfh = None
        self.write_config()

    def write_config(self):
        lines = [
            'server.modules = ("mod_alias", "mod_setenv", "mod_cgi")',
            'server.bind = "127.0.0.1"',
            'server.port = %d' % self.port,
            'server.document-root = ' + _quote(self.docroot),
            'server.upload-dirs = (%s)' % _quote(self.uploads),
            'server.errorlog = ' + _quote(self.errorlog),
            'server.tag = "lighttpd"',
            # lighttpd's own defaults, except that %-encoded control characters
            # (%00, %0a) in a URL reach the CGI: the program under test must
            # refuse them itself (another web server may pass them on).
            'server.http-parseopts = ("header-strict" => "enable", "host-strict" => "enable", '
            '"host-normalize" => "enable", "url-normalize-unreserved" => "enable", '
            '"url-normalize-required" => "enable", "url-ctrls-reject" => "disable", '
            '"url-path-2f-decode" => "disable", "url-path-dotseg-remove" => "enable")',
            'alias.url = (%s => %s)' % (_quote(self.url_path), _quote(self.cgi)),
            'cgi.assign = (%s => "")' % _quote('/' + os.path.basename(self.cgi)),
        ]
        if self.fastcgi_socket:    # a FastCGI process someone else started (spawn-fcgi)
            lines[0] = 'server.modules = ("mod_alias", "mod_setenv", "mod_fastcgi")'
            lines = [ln for ln in lines if not ln.startswith(('alias.url', 'cgi.assign'))]
            lines.append('fastcgi.server = (%s => (("socket" => %s, "check-local" => "disable")))'
                         % (_quote(self.url_path), _quote(self.fastcgi_socket)))
        elif self.fastcgi:
            lines[0] = 'server.modules = ("mod_alias", "mod_setenv", "mod_fastcgi")'
            lines = [ln for ln in lines if not ln.startswith(('alias.url', 'cgi.assign'))]
            env = ', '.join('%s => %s' % (_quote(k), _quote(v)) for k, v in self.env.items())
            # Behind a login, every path goes to the one pool of processes
            # (auth only on URL_PATH): a request without REMOTE_USER can then
            # reach the process that served a logged-in one.
            lines.append('fastcgi.server = (%s => (("bin-path" => %s, "socket" => %s, "max-procs" => %d, '
                         '"check-local" => "disable", "bin-environment" => (%s))))'
                         % (_quote('/' if self.htpasswd else self.url_path), _quote(self.cgi),
                            _quote(os.path.join(self.sockdir, 'app.sock')), self.fastcgi, env))
        if self.htpasswd:
            if self.fastcgi:    # mod_auth before the module that runs the program
                lines[0] = 'server.modules = ("mod_auth", "mod_authn_file", "mod_alias", "mod_setenv", "mod_fastcgi")'
            else:
                lines[0] = 'server.modules = ("mod_alias", "mod_setenv", "mod_auth", "mod_authn_file", "mod_cgi")'
            lines += ['auth.backend = "htpasswd"',
                      'auth.backend.htpasswd.userfile = ' + _quote(self.htpasswd),
                      'auth.require = (%s => ("method" => "basic", "realm" => "guardlist", '
                      '"require" => "valid-user"))' % _quote(self.url_path)]
            if self.auth_cache:    # a checked login is kept (etc/web's set-up), not hashed again
                lines.append('auth.cache = ("max-age" => "600")')
        if os.geteuid() == 0:
            lines += ['server.username = ' + _quote(CGI_USER),
                      'server.groupname = ' + _quote(grp.getgrgid(pwd.getpwnam(CGI_USER).pw_gid).gr_name)]
        if self.env and not self.fastcgi:
            lines.append('setenv.add-environment = (%s)'
                         % ', '.join('%s => %s' % (_quote(k), _quote(v)) for k, v in self.env.items()))
        with open(self.conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        os.chmod(self.conf, 0o644)

    def start(self):
        """Checks the config (lighttpd -tt), starts `lighttpd -D -f CONF` and
        waits, at most START_TIMEOUT seconds, until it answers an HTTP request.
        Returns the seconds taken."""
        r = subprocess.run([LIGHTTPD, '-tt', '-f', self.conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30, text=True)
        if r.returncode != 0:
            raise RuntimeError('lighttpd -tt refused %s:\n%s\n%s' % (self.conf, r.stdout, self.config_text()))
        self.outfh = open(self.outfile, 'ab')
        t0 = time.monotonic()
        self.proc = subprocess.Popen([LIGHTTPD, '-D', '-f', self.conf], stdin=subprocess.DEVNULL,
                                     stdout=self.outfh, stderr=self.outfh, preexec_fn=h._die_with_parent)
        h._procs.append(self)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('lighttpd exited with %s during start-up:\n%s'
                                   % (self.proc.returncode, self.log()))
            try:
                self.request('GET', '/', timeout=1)
                return time.monotonic() - t0
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() - t0 > START_TIMEOUT:
                raise RuntimeError('lighttpd did not answer on port %d within %ds:\n%s'
                                   % (self.port, START_TIMEOUT, self.log()))
            time.sleep(h.POLL)

    def url(self, path=None):
        return 'http://127.0.0.1:%d%s' % (self.port, self.url_path if path is None else path)

    def request(self, method, path=None, body=None, headers=None, timeout=HTTP_TIMEOUT):
        """One request on a fresh connection; returns a Response.  PATH
        defaults to URL_PATH; BODY (str or bytes) is sent as is with a
        Content-Length; HEADERS are added (a value of None leaves it out)."""
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)
        try:
            if isinstance(body, str):
                body = body.encode('utf-8')
            hdrs = {}
            for k, v in (headers or {}).items():
                if v is not None:
                    hdrs[k] = v
            conn.request(method, self.url_path if path is None else path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, resp.reason, resp.getheaders(), data)
        finally:
            conn.close()

    def raw(self, data, timeout=HTTP_TIMEOUT):
        """Sends DATA (bytes) on a fresh connection, reads until the server
        closes it or TIMEOUT passes; returns the bytes received."""
        s = socket.create_connection(('127.0.0.1', self.port), timeout=timeout)
        s.settimeout(timeout)
        got = b''
        try:
            s.sendall(data)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    break
                if not chunk:
                    break
                got += chunk
        finally:
            s.close()
        return got

    def config_text(self):
        with open(self.conf) as f:
            return f.read()

    def log(self, tail=4000):
        """lighttpd's error log (with the CGI's stderr) and its own output, the last TAIL characters."""
        out = ''
        for p in (self.errorlog, self.outfile):
            try:
                with open(p, 'rb') as f:
                    out += f.read().decode('utf-8', errors='replace')
            except OSError:
                pass
        return out[-tail:] if tail else out

    def sanitizer_report(self):
        """The sanitizer marks (harness.SANITIZER_MARKS) found in the error log,
        where a sanitizer build of the CGI reports."""
        text = self.log(0)
        return [m for m in h.SANITIZER_MARKS if m in text]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def fastcgi_pids(self):
        """The pids of the FastCGI processes lighttpd spawned (its children
        running the program's copy)."""
        if self.proc is None:
            return []
        pids = []
        for d in os.listdir('/proc'):
            if not d.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % d) as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
                if ppid == self.proc.pid and os.readlink('/proc/%s/exe' % d) == self.cgi:
                    pids.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
        return sorted(pids)

    def stop(self, check=False):
        """SIGTERM, waits at most STOP_TIMEOUT seconds, then SIGKILL.
        Returns (exit status, killed)."""
        if self in h._procs:
            h._procs.remove(self)
        if self.proc is None:
            return None, False
        rc, killed = h.terminate(self.proc, STOP_TIMEOUT)
        if self.outfh:
            self.outfh.close()
            self.outfh = None
        self.proc = None
        return rc, killed


class SpawnFcgi:
    """PROGRAM (a copy in a temp dir) as one FastCGI process under spawn-fcgi,
    the way etc/systemd/guardlist-fcgi@.service runs it for nginx: `spawn-fcgi
    -n` binds SOCKET (owned by CGI_USER, 0660), drops to CGI_USER and becomes
    the program, with ENV as its environment.  stop() sends SIGTERM and
    returns the program's exit status."""

    def __init__(self, program, env=None):
        self.dir = h.tmpdir('guardlist-spawn-')
        self.program = os.path.join(self.dir, os.path.basename(program))
        shutil.copyfile(program, self.program)
        os.chmod(self.program, 0o755)
        self.socket = os.path.join(self.dir, 'fcgi.sock')
        self.errlog = os.path.join(self.dir, 'stderr.log')
        self.env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin')}
        for k in ('ASAN_OPTIONS', 'UBSAN_OPTIONS'):
            if k in os.environ:
                self.env[k] = os.environ[k]
        self.env.update(env or {})
        self.proc = None
        self.errfh = None

    def start(self):
        """Starts it and waits (bounded) for the socket."""
        cmd = [shutil.which('spawn-fcgi') or '/usr/bin/spawn-fcgi', '-n', '-s', self.socket, '-M', '0660']
        if os.geteuid() == 0:
            group = grp.getgrgid(pwd.getpwnam(CGI_USER).pw_gid).gr_name
            cmd += ['-U', CGI_USER, '-G', group, '-u', CGI_USER, '-g', group]
        self.errfh = open(self.errlog, 'ab')
        self.proc = subprocess.Popen(cmd + ['--', self.program], env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.errfh, stderr=self.errfh, preexec_fn=h._die_with_parent)
        h._procs.append(self)
        good, _, _ = h.poll_until(lambda: os.path.exists(self.socket) or self.proc.poll() is not None, bool,
                                  START_TIMEOUT)
        if not good or self.proc.poll() is not None:
            raise RuntimeError('spawn-fcgi did not bind %s:\n%s' % (self.socket, self.log()))

    def log(self):
        try:
            with open(self.errlog, 'rb') as f:
                return f.read().decode('utf-8', errors='replace')
        except OSError:
            return ''

    def sanitizer_report(self):
        return [m for m in h.SANITIZER_MARKS if m in self.log()]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check=False):
        """SIGTERM, bounded wait (SIGKILL after STOP_TIMEOUT); returns (exit status, killed)."""
        if self in h._procs:
            h._procs.remove(self)
        if self.proc is None:
            return None, False
        rc, killed = h.terminate(self.proc, STOP_TIMEOUT)
        self.proc = None
        if self.errfh:
            self.errfh.close()
            self.errfh = None
        return rc, killed


# ------------------------------------------------------ the approval page

def init_accounts(db, name='guardlist'):
    """Runs `guardlist db init --secrets-dir DIR` on DB as root: the schema
    and the least-privilege accounts, their passwords in DIR/db-ROLE.secret.
    The approver's secret is given to the CGI user (share_with_cgi, 0640).
    Returns DIR."""
    secrets = h.tmpdir('guardlist-secrets-')
    rc, out, err = h.cli(h.cli_config(db, name=name), 'db', 'init', '--secrets-dir', secrets)
    if rc != 0:
        raise RuntimeError('guardlist db init failed (%d):\n%s%s' % (rc, out, err))
    share_with_cgi(os.path.join(secrets, 'db-approver.secret'))
    return secrets


def approver_config(db, secrets, template_dir=None, directory=None, name='guardlist', **sections):
    """Writes a guardlist.ini for guardlist-approve run by the web server:
    [database] on DB's socket with no account of its own, [approver] with the
    guardlist_approver account (password file SECRETS/db-approver.secret),
    TEMPLATE_DIR (default: a readable copy of templates/) and token_ttl_days 7,
    [log] to stderr (lighttpd's error log).  SECTIONS add or extend sections.
    The file is given to the CGI user (0640).  Returns its path."""
    directory = directory or h.tmpdir('guardlist-approve-')
    conf = {
        'database': {'socket': db.socket, 'name': name},
        'approver': {'user': 'guardlist_approver',
                     'password_file': os.path.join(secrets, 'db-approver.secret'),
                     'template_dir': template_dir or copy_templates(),
                     'token_ttl_days': '7'},
        'log': {'target': 'stderr', 'level': 'info'},
    }
    path = os.path.join(directory, 'guardlist.ini')
    with open(path, 'w') as f:
        f.write(h.ini_text(conf, **sections))
    share_with_cgi(path)
    return path


# ------------------------------------------------------ the admin page

def web_config(db, secrets, admins='', template_dir=None, directory=None, name='guardlist', **sections):
    """Writes a guardlist.ini for guardlist-web run by the web server:
    [database] on DB's socket, [web] with the guardlist_web account
    (SECRETS/db-web.secret, made by init_accounts), a fresh form-token key
    in its own secret file, ADMINS, TEMPLATE_DIR (default: a readable copy
    of templates/).  The config and both secrets are given to the CGI user
    (0640).  Returns the config's path."""
    directory = directory or h.tmpdir('guardlist-web-')
    key = os.path.join(directory, 'web.secret')
    with open(key, 'w') as f:
        f.write(secrets_mod.token_hex(32) + '\n')
    share_with_cgi(key)
    share_with_cgi(os.path.join(secrets, 'db-web.secret'))
    conf = {
        'database': {'socket': db.socket, 'name': name},
        'web': {'user': 'guardlist_web', 'password_file': os.path.join(secrets, 'db-web.secret'),
                'secret_file': key, 'admins': admins, 'template_dir': template_dir or copy_templates()},
        'log': {'target': 'stderr', 'level': 'info'},
    }
    path = os.path.join(directory, 'guardlist.ini')
    with open(path, 'w') as f:
        f.write(h.ini_text(conf, **sections))
    share_with_cgi(path)
    return path


# ------------------------------------------------------ the browser tests

BROWSER_DIR = str(h.ROOT / 'tests' / 'browser')
SHOTS = str(h.ROOT / 'build' / 'test-output' / 'browser')     # screenshots, kept with the test output
NPM_TIMEOUT = 300


def node_modules():
    """tests/browser/node_modules with the pinned packages (package.json's
    dependencies: playwright-core, axe-core), made by `npm ci` (from
    package-lock.json, bounded by NPM_TIMEOUT) when one is missing or another
    version.  One test line says which versions it holds; returns whether
    that line passed."""
    with open(os.path.join(BROWSER_DIR, 'package.json')) as f:
        want = json.load(f)['dependencies']

    def installed():
        got = {}
        for name in want:
            try:
                with open(os.path.join(BROWSER_DIR, 'node_modules', name, 'package.json')) as f:
                    got[name] = json.load(f)['version']
            except (OSError, ValueError, KeyError):
                got[name] = None
        return got
    # Two suites may run side by side (tests/run-all.sh): one npm ci at a time,
    # the second finds the first's result.
    lock = open(os.path.join(BROWSER_DIR, '.npm-lock'), 'w')
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        _npm_ci(installed, want)
    finally:
        lock.close()
    return h.is_(installed(), want, 'tests/browser/node_modules has %s as pinned'
                 % ', '.join('%s %s' % kv for kv in sorted(want.items())))


def _npm_ci(installed, want):
    if installed() != want:
        npm = shutil.which('npm')
        if not npm:
            raise RuntimeError('npm is missing (make deps installs nodejs and npm)')
        t0 = time.monotonic()
        rc, out, err = h.run_group([npm, 'ci', '--no-audit', '--no-fund', '--loglevel=error'], NPM_TIMEOUT,
                                   cwd=BROWSER_DIR)
        h.diag('npm ci in tests/browser: exit %s in %.1f s' % (rc, time.monotonic() - t0))
        if rc != 0:
            raise RuntimeError('npm ci failed (%s):\n%s%s' % (rc, out[-2000:], err[-2000:]))


def png_size(path):
    """(width, height) of a PNG file, None if it is not one."""
    with open(path, 'rb') as f:
        head = f.read(24)
    if head[:8] != b'\x89PNG\r\n\x1a\n':
        return None
    return int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big')
