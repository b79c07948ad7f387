#!/usr/bin/python3
"""make cluster: guardlist on a private 3-node MariaDB Galera cluster
(docs/scaling.md), as several MX hosts would run it, on 127.0.0.1 only.

Starts three Galera nodes (tests/lib/galera.py: rsync SST, loopback ports),
loads the schema and the program accounts (`guardlist db init --account-host
127.0.0.1`) on node 1, adds an example household, then two guardlistd as two
MX hosts would run them: MX 1 with [database] host = node 1, node 2, node 3,
MX 2 with node 2, node 3, node 1.  Prints which node each daemon uses (its
"database: connected to" log lines, also later ones: kill a node's pid to
watch a daemon move), the ports and a policy request to try.  Runs until
Ctrl-C or SIGTERM, then stops the daemons and the nodes and removes its temp
dir.  GUARDLIST_CLUSTER_PORTS=P1,P2 picks the daemons' ports (default: free
ports).  Needs root (a joiner's data directory is given to nobody for the
SST) and galera-4 and rsync (scripts/deps.sh)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import galera  # noqa: E402
import harness as h  # noqa: E402

KID, GUARDIAN, FRIEND = 'kid@family.test', 'parent@family.test', 'grandma@example.com'
FAILBACK = 5
DB_LINE = re.compile(r'database: connected to (\S+) \(entry (\d+) of \d+\)')


def say(*lines):
    for line in lines:
        print('cluster: ' + line, flush=True)


def node_of(cluster, hostport):
    for n in cluster.nodes:
        if hostport == '127.0.0.1:%d' % n.port:
            return n.name
    return '?'


def daemon_ports():
    """The daemons' two ports: GUARDLIST_CLUSTER_PORTS or free ones; each checked to bind."""
    spec = os.environ.get('GUARDLIST_CLUSTER_PORTS')
    if not spec:
        return [h.free_port(), h.free_port()]
    try:
        ports = [int(p) for p in spec.split(',')]
    except ValueError:
        ports = []
    if len(ports) != 2 or not all(0 < p < 65536 for p in ports):
        raise SystemExit('cluster: error: GUARDLIST_CLUSTER_PORTS must be two ports, e.g. 10050,10051')
    for p in ports:
        s = socket.socket()
        try:
            s.bind(('127.0.0.1', p))
        except OSError as e:
            raise SystemExit('cluster: error: port %d is taken (%s); pick others in GUARDLIST_CLUSTER_PORTS' % (p, e))
        finally:
            s.close()
    return ports


def cli_config(cluster):
    """A guardlist.ini for the CLI: root over node 1's socket."""
    return h.cli_config(cluster.nodes[0], directory=tempfile.mkdtemp(prefix='cli-'), log={'target': 'stderr'})


def setup(cluster, secrets):
    """Schema, the program accounts (for 127.0.0.1: the daemons use TCP),
    an example household."""
    cfg = cli_config(cluster)
    for args in (['db', 'init', '--secrets-dir', secrets, '--account-host', '127.0.0.1'],
                 ['protect', KID, '--guardian', GUARDIAN], ['allow', FRIEND]):
        rc, out, err = h.cli(cfg, *args, actor='make-cluster')
        if rc != 0:
            raise RuntimeError('guardlist %s failed (%d): %s' % (' '.join(args), rc, err.strip()))


def start_daemon(cluster, order, port, secrets, name):
    """guardlistd with [database] host = the nodes in ORDER, as an MX's."""
    d = h.Daemon(cluster.nodes[order[0]])
    d.port = port
    hosts = ', '.join('127.0.0.1:%d' % cluster.nodes[i].port for i in order)
    d.write_raw('\n'.join([
        '; written by make cluster: %s' % name,
        '[database]',
        'host = ' + hosts,
        'failback_interval = %d' % FAILBACK,
        'name = guardlist',
        'user = guardlist_daemon',
        'password_file = ' + os.path.join(secrets, 'db-daemon.secret'),
        '',
        '[policy]',
        'listen = inet:127.0.0.1:%d' % port,
        'unknown_sender = defer',
        'refresh_interval = 1',
        'run_as_user = nobody',
        '',
        '[log]',
        'target = stderr',
        'level = info',
        '']))
    d.start()
    return d, hosts


def wait_connected(d):
    good, got, _ = h.poll_until(lambda: DB_LINE.findall(d.log()), lambda v: len(v) > 0, 20)
    return got if good else []


def main():
    reason = galera.missing()
    if reason:
        raise SystemExit('cluster: error: ' + reason)
    for b in (h.daemon_binary(), h.cli_binary()):
        if not os.access(b, os.X_OK):
            raise SystemExit('cluster: error: %s missing: run make first' % b)
    ports = daemon_ports()
    h._announced.update([h.daemon_binary(), h.cli_binary()])     # no "under test" lines
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    signal.signal(signal.SIGTERM, lambda *a: stop.set())

    top = tempfile.mkdtemp(prefix='guardlist-cluster-')
    os.chmod(top, 0o755)
    tempfile.tempdir = top          # every temp dir of harness and galera under this one
    daemons = []
    cluster = None
    try:
        say('temp dir %s' % top, 'starting 3 Galera nodes on 127.0.0.1 (rsync SST; about 11-30 s) ...')
        cluster = galera.Cluster()
        secs = cluster.start()
        say('3 nodes up and Synced in %.1f s:' % secs)
        for n in cluster.nodes:
            say('  %s  SQL 127.0.0.1:%d  (pid %d; mariadb --no-defaults -uroot -S %s guardlist)'
                % (n.name, n.port, n.proc.pid, n.socket))
        secrets = tempfile.mkdtemp(prefix='secrets-')
        setup(cluster, secrets)
        h.share_with_run_as(os.path.join(secrets, 'db-daemon.secret'))
        os.chmod(secrets, 0o750)
        h.share_with_run_as(secrets, 0o750)
        say('schema, program accounts and %s (guardian %s, %s allowed) loaded on node1' % (KID, GUARDIAN, FRIEND))
        for name, order, port in (('MX 1', (0, 1, 2), ports[0]), ('MX 2', (1, 2, 0), ports[1])):
            if stop.is_set():
                return 0
            d, hosts = start_daemon(cluster, order, port, secrets, name)
            daemons.append((name, d))
            seen = wait_connected(d)
            where = ', '.join('%s (entry %s)' % (node_of(cluster, hp), e) for hp, e in seen[:1])
            say('%s: guardlistd on 127.0.0.1:%d (pid %d), host = %s: uses %s'
                % (name, port, d.proc.pid, hosts, where or 'nothing yet'))
            for ln in d.log().splitlines():
                if 'database:' in ln:
                    say('  ' + ln)
        say('try (a stranger is deferred and recorded once, on every node):',
            "  printf 'request=smtpd_access_policy\\nprotocol_state=RCPT\\nclient_address=192.0.2.1\\n"
            "sender=stranger@example.net\\nrecipient=%s\\n\\n' | nc -q1 127.0.0.1 %d" % (KID, ports[0]),
            "  the same to port %d (MX 2), or sender=%s (allowed: action=DUNNO)" % (ports[1], FRIEND),
            '  mariadb --no-defaults -uroot -h127.0.0.1 -P%d guardlist -e "SELECT id, sender, status FROM challenges"'
            % cluster.nodes[2].port,
            '  kill -9 %d (node2): MX 2 moves to node3 (its next entry); its first stranger after the '
            'loss may get 451 (the sender retries), later ones are deferred again' % cluster.nodes[1].proc.pid,
            'daemon logs: %s' % '  '.join(d.errfile for _, d in daemons),
            'Ctrl-C stops everything and removes %s' % top)
        shown = {name: len(DB_LINE.findall(d.log())) for name, d in daemons}
        while not stop.wait(1):
            for name, d in daemons:          # a move or a return, as it happens
                lines = [ln for ln in d.log().splitlines() if DB_LINE.search(ln)]
                for ln in lines[shown[name]:]:
                    say('%s: %s' % (name, ln))
                shown[name] = len(lines)
                if not d.running():
                    say('%s: guardlistd exited (%s); stopping' % (name, d.proc.returncode))
                    stop.set()
        return 0
    finally:
        say('stopping ...')
        for name, d in reversed(daemons):
            d.stop(check=False)
        if cluster is not None:
            cluster.stop()
        h.cleanup()
        shutil.rmtree(top, ignore_errors=True)
        say('stopped; %s removed' % top)


if __name__ == '__main__':
    sys.exit(main())
