"""dns.py - a private DNS server for the SPF tests: Debian's dnsmasq on a free
loopback port, answering only from its command line (nothing leaves the machine).

    import dns
    d = dns.start({'pass.test': 'v=spf1 ip4:192.0.2.9 -all'},
                  dead=['broken.test'], local='test')
    h.start_daemon(db, spf='on', resolver=d.address)
    # hosts={'a.example.test': '127.0.0.2'} adds A records (for exists:).
    d.queries('pass.test')      # TXT queries it was asked for that name
    d.stop()                    # also done by the harness at exit

Names under LOCAL that have no record are answered NXDOMAIN (--local); without
it dnsmasq would answer REFUSED (it has no upstream), which SPF rightly treats
as a DNS failure (temperror).  A DEAD domain is forwarded to 127.0.0.1#9, where
nothing answers: every lookup under it times out.  SILENT domains are forwarded
to a UDP socket of this process that reads and never answers (the same, on a
port nobody else can take).  Queries are logged to a file the test reads.
"""

import os
import socket
import struct
import subprocess
import threading
import time

import harness as h

START_TIMEOUT = 10.0


class DNS:
    def __init__(self, records, dead=(), silent=(), local='test', ttl=300, hosts=None):
        self.dir = h.tmpdir('guardlist-dns-')
        self.log = os.path.join(self.dir, 'queries.log')
        self.port = h.free_port()
        self.address = '127.0.0.1:%d' % self.port
        self.hole = None
        cmd = ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=%d' % self.port,
               '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts',
               '--user=root', '--pid-file=', '--log-queries', '--log-facility=' + self.log,
               '--local-ttl=%d' % ttl]
        if local:
            cmd.append('--local=/%s/' % local)
        for name, texts in records.items():
            for txt in ([texts] if isinstance(texts, str) else texts):
                cmd.append('--txt-record=%s,%s' % (name, txt))   # SPF records have no commas
        for name, ip in (hosts or {}).items():
            cmd.append('--host-record=%s,%s' % (name, ip))     # A records, for exists:
        for name in dead:
            cmd.append('--server=/%s/127.0.0.1#9' % name)
        if silent:
            self.hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.hole.bind(('127.0.0.1', 0))
            for name in silent:
                cmd.append('--server=/%s/127.0.0.1#%d' % (name, self.hole.getsockname()[1]))
        self.cmd = cmd
        self.proc = None

    def start(self):
        """Starts dnsmasq and waits (bounded) until it answers a query."""
        self.errfh = open(os.path.join(self.dir, 'stderr.log'), 'wb')
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self.errfh, stderr=self.errfh,
                                     preexec_fn=h._die_with_parent)
        h._procs.append(self)
        good, got, _ = h.poll_until(lambda: self.rcode('probe.invalid'), lambda v: isinstance(v, int),
                                    START_TIMEOUT)
        if not good:
            raise RuntimeError('dnsmasq did not answer within %ds (%r): %s'
                               % (START_TIMEOUT, got, self.stderr()))
        return self

    def rcode(self, name, qtype=16, timeout=1.0):
        """Asks NAME (TXT by default) over UDP; returns the answer's RCODE."""
        q = struct.pack('>HHHHHH', 0x4242, 0x0100, 1, 0, 0, 0)
        q += b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\0'
        q += struct.pack('>HH', qtype, 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            s.sendto(q, ('127.0.0.1', self.port))
            data = s.recv(4096)
        finally:
            s.close()
        return struct.unpack('>H', data[2:4])[0] & 0xf

    def queries(self, name, qtype='TXT'):
        """How many QTYPE queries for NAME dnsmasq has logged."""
        try:
            with open(self.log, errors='replace') as f:
                text = f.read()
        except OSError:
            return 0
        want = ' query[%s] %s from ' % (qtype, name)
        return sum(1 for line in text.splitlines() if want in line)

    def stderr(self):
        try:
            with open(os.path.join(self.dir, 'stderr.log'), errors='replace') as f:
                return f.read()[-2000:]
        except OSError:
            return ''

    def stop(self, check=False):
        if self in h._procs:
            h._procs.remove(self)
        if self.proc is not None:
            h.terminate(self.proc)
            self.errfh.close()
            self.proc = None
        if self.hole is not None:
            self.hole.close()
            self.hole = None


class Slow:
    """A DNS server that answers every query, after DELAY seconds, with one
    TXT record TXT (a resolver about to be replaced): .address, .stop()."""

    def __init__(self, txt, delay):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.address = '127.0.0.1:%d' % self.sock.getsockname()[1]
        self.txt, self.delay = txt.encode(), delay
        threading.Thread(target=self._loop, daemon=True).start()

    def _answer(self, q, peer):
        time.sleep(self.delay)
        i = 12
        while i < len(q) and q[i]:
            i += q[i] + 1
        rd = bytes([len(self.txt)]) + self.txt
        rr = b'\xc0\x0c' + struct.pack('>HHIH', 16, 1, 300, len(rd)) + rd
        try:
            self.sock.sendto(q[:2] + b'\x81\x80' + struct.pack('>HHHH', 1, 1, 0, 0) + q[12:i + 5] + rr, peer)
        except OSError:
            pass

    def _loop(self):
        while True:
            try:
                q, peer = self.sock.recvfrom(512)
            except OSError:
                return
            threading.Thread(target=self._answer, args=(q, peer), daemon=True).start()

    def stop(self):
        self.sock.close()


def start(records, **kw):
    """A started DNS (see the module text)."""
    return DNS(records, **kw).start()

