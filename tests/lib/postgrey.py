"""postgrey, the peer of `make bench`: Debian's package run in the
foreground on 127.0.0.1 with its own database dir (never the system service
on 10023).  Used by tests/bench/bench.py (its defaults) and
tests/bench/postfix_e2e.py (a short --delay, so a triplet can pass)."""
import os
import shutil
import subprocess

import harness as h

POSTGREY = shutil.which('postgrey') or '/usr/sbin/postgrey'
START_TIMEOUT = 30.0        # postgrey answers a policy request within this


class Postgrey:
    """One private postgrey.  DELAY: its --delay in seconds, None for its default."""

    def __init__(self, delay=None):
        self.dir = h.tmpdir('guardlist-postgrey-')
        self.port = h.free_port()
        self.delay = delay
        self.errfile = os.path.join(self.dir, 'postgrey.log')
        self.proc = None

    def start(self):
        """Starts it and waits for its first policy reply; returns the seconds
        that took.  Raises RuntimeError if it exits or does not answer."""
        cmd = [POSTGREY, '--inet=127.0.0.1:%d' % self.port, '--dbdir=' + self.dir,
               '--pidfile=' + os.path.join(self.dir, 'pid'), '--user=root', '--group=root']
        if self.delay is not None:
            cmd.append('--delay=%d' % self.delay)
        self.errfh = open(self.errfile, 'ab')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.errfh, stderr=self.errfh,
                                     preexec_fn=h._die_with_parent)
        h._procs.append(self)

        def probe():
            if self.proc.poll() is not None:
                return RuntimeError('postgrey exited with %s: %s' % (self.proc.returncode, self.log()))
            return h.query(self.port, sender='probe@postgrey.test', recipient='probe@postgrey.test',
                           client_address='192.0.2.1', client_name='probe.postgrey.test')
        good, got, secs = h.poll_until(probe, lambda r: isinstance(r, (str, RuntimeError)), START_TIMEOUT)
        if isinstance(got, RuntimeError):
            raise got
        if not good:
            raise RuntimeError('postgrey gave no policy reply within %ds (last: %r): %s'
                               % (START_TIMEOUT, got, self.log()))
        return secs

    def log(self):
        try:
            with open(self.errfile, 'rb') as f:
                return f.read().decode('utf-8', 'replace')[-3000:]
        except OSError:
            return ''

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check=False):
        """SIGTERM, a bounded wait, SIGKILL if needed; returns the exit status."""
        if self in h._procs:
            h._procs.remove(self)
        if self.proc is None:
            return None
        rc, _ = h.terminate(self.proc)
        self.errfh.close()
        self.proc = None
        return rc
