"""galera.py - a private 3-node MariaDB Galera cluster on 127.0.0.1 for the
integration tests (docs/scaling.md has what it measured and the facts it
follows).

    import harness as h, galera
    cluster = galera.start_cluster()        # or h.skip_all(...) when galera.missing()
    cluster.load_schema()                   # on node 1; DDL replicates to the others
    d = h.start_daemon(cluster.nodes[1])    # a node is a harness.MariaDB: socket, sql(), value()
    cluster.nodes[2].kill(); cluster.nodes[2].start()   # lose a node, bring it back (IST/SST)
    cluster.stop()

Each node is harness.MariaDB with a defaults file holding the wsrep settings:
the first node is installed with mariadb-install-db and bootstraps the
cluster (--wsrep-new-cluster); the others join with an empty data directory
owned by nobody (rsync SST: its rsync daemon runs as nobody) and copy node
1.  Every port (SQL, group communication, IST, SST) is a free loopback port.
Start-up waits (bounded) for wsrep_local_state_comment = Synced on each node.
Everything is stopped at exit with the rest of harness's processes.
"""

import os
import pwd
import shutil
import signal
import subprocess
import time

import harness as h

PROVIDER = '/usr/lib/galera/libgalera_smm.so'
SYNC_TIMEOUT = 60.0          # per node, an SST included (about 4 s here)

# Faster failure detection than Galera's defaults (a lost node is evicted
# after ~5-15 s there): in a test a killed node's peers stall writes until it
# is evicted.  keepalive <= inactive_check <= suspect <= install <= inactive.
EVS_OPTIONS = ('evs.keepalive_period=PT0.5S;evs.inactive_check_period=PT0.5S;evs.suspect_timeout=PT2S;'
               'evs.install_timeout=PT3S;evs.inactive_timeout=PT4S')


def missing():
    """None when a cluster can be started here, else why not (a skip
    reason).  Installs galera-4 and rsync (scripts/deps.sh) when running as
    root and they are missing."""
    if os.geteuid() != 0:
        return 'a private Galera cluster needs root here (its joiners\' data directories are given to nobody)'
    need = [p for p in (PROVIDER,) if not os.path.exists(p)]
    tools = [t for t in ('rsync', 'mariadbd', 'mariadb-install-db') if not shutil.which(t)]
    if need or tools:
        subprocess.run(['sh', str(h.ROOT / 'scripts' / 'deps.sh')], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600)
        need = [p for p in (PROVIDER,) if not os.path.exists(p)]
        tools = [t for t in ('rsync', 'mariadbd', 'mariadb-install-db') if not shutil.which(t)]
    if need or tools:
        return 'galera-4 cannot be installed here (missing: %s; sh scripts/deps.sh as root installs them)' \
            % ', '.join(need + tools)
    return None


class Node(h.MariaDB):
    """One Galera node: harness.MariaDB started from a defaults file with the
    cluster's wsrep settings."""

    def __init__(self, cluster, index):
        super().__init__()
        self.cluster = cluster
        self.index = index
        self.name = 'node%d' % (index + 1)
        self.gcomm_port = h.free_port()
        self.ist_port = h.free_port()
        self.sst_port = h.free_port()
        self.cnf = os.path.join(self.dir, 'my.cnf')
        self.bootstrap = False

    def _install(self):
        if self.index == 0:
            super()._install()
            return
        # A joiner gets its data by SST: an empty directory that rsync's
        # daemon (running as nobody) can write into.
        os.makedirs(self.datadir, exist_ok=True)
        nobody = pwd.getpwnam('nobody')
        os.chown(self.datadir, nobody.pw_uid, nobody.pw_gid)
        self.installed = True

    def write_cnf(self):
        peers = ','.join('127.0.0.1:%d' % n.gcomm_port for n in self.cluster.nodes)
        lines = [
            '[mysqld]',
            'user=root',
            'datadir=' + self.datadir,
            'socket=' + self.socket,
            'port=%d' % self.port,
            'bind-address=127.0.0.1',
            'tmpdir=' + self.tmp,
            'log-error=' + self.errlog,
            'skip-log-bin',
            'binlog_format=ROW',
            'default_storage_engine=InnoDB',
            'innodb_autoinc_lock_mode=2',
            'innodb_buffer_pool_size=64M',
            'wsrep_on=ON',
            'wsrep_provider=' + PROVIDER,
            'wsrep_cluster_name=guardlist-test',
            'wsrep_cluster_address=gcomm://' + peers,
            'wsrep_node_name=' + self.name,
            'wsrep_node_address=127.0.0.1:%d' % self.gcomm_port,
            'wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d;'
            'gcache.size=32M;%s"' % (self.gcomm_port, self.ist_port, EVS_OPTIONS),
            'wsrep_sst_method=rsync',
            'wsrep_sst_receive_address=127.0.0.1:%d' % self.sst_port,
        ]
        if os.environ.get('GALERA_GENERAL_LOG'):      # debugging: every statement of every session
            lines += ['general_log=1', 'general_log_file=' + os.path.join(self.dir, 'general.log')]
        lines.append('')
        with open(self.cnf, 'w') as f:
            f.write('\n'.join(lines))

    def _command(self):
        cmd = ['mariadbd', '--defaults-file=' + self.cnf]
        return cmd + (['--wsrep-new-cluster'] if self.bootstrap else [])

    def spawn(self, bootstrap=False):
        """Starts mariadbd (BOOTSTRAP: a new cluster of its own), no wait.  A
        joiner that ran before (killed or stopped) starts over from an empty
        data directory: a full SST, as a replaced machine would."""
        self.bootstrap = bootstrap
        if self.index > 0 and self.installed:
            shutil.rmtree(self.datadir)
            self.installed = False
        self.write_cnf()
        super().spawn()

    def start(self, bootstrap=False):
        """spawn(), then waits (bounded) until the node is Synced.  Returns
        the seconds taken."""
        t0 = time.monotonic()
        self.spawn(bootstrap)
        self.wait_synced()
        return time.monotonic() - t0

    def state(self):
        """wsrep_local_state_comment ('Synced', 'Donor/Desynced', ...), or
        an error text while the node does not answer."""
        try:
            return self.sql("SHOW STATUS LIKE 'wsrep_local_state_comment'", db=None)[0][1]
        except Exception as e:   # noqa: B902 - a node starting or gone
            return 'unreachable: %s' % e

    def cluster_size(self):
        return int(self.sql("SHOW STATUS LIKE 'wsrep_cluster_size'", db=None)[0][1])

    def readiness(self):
        """(wsrep_local_state_comment, wsrep_ready, wsrep_cluster_size) as
        strings, or an error text while the node does not answer."""
        try:
            rows = dict(self.sql("SHOW STATUS WHERE Variable_name IN ('wsrep_local_state_comment', "
                                 "'wsrep_ready', 'wsrep_cluster_size')", db=None))
        except Exception as e:   # noqa: B902 - a node starting or gone
            return 'unreachable: %s' % e
        return (rows.get('wsrep_local_state_comment'), rows.get('wsrep_ready'), rows.get('wsrep_cluster_size'))

    def wait_synced(self, timeout=SYNC_TIMEOUT, size=None):
        """Waits, at most TIMEOUT seconds, until the node answers (after its
        SST), is Synced and takes queries (wsrep_ready ON: a Synced node may
        still be outside the primary component for a moment while a view
        changes, and then refuses every statement with ER 1047); with SIZE,
        also until it sees SIZE nodes in the cluster."""
        t0 = time.monotonic()
        self.wait_answering(timeout)
        good, got, _ = h.poll_until(
            self.readiness,
            lambda r: r[0] == 'Synced' and r[1] == 'ON' and (size is None or r[2] == str(size)),
            timeout - (time.monotonic() - t0), interval=0.1)
        if not good:
            raise RuntimeError('%s not Synced and ready within %ds (state, ready, size %r):\n%s'
                               % (self.name, timeout, got, self.log_tail()))

    def kill(self):
        """SIGKILL: the node is lost as by a crash (no goodbye to its peers)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)


class Cluster:
    """Three nodes (Node objects in .nodes, node 1 first)."""

    def __init__(self, size=3):
        self.nodes = []
        for i in range(size):
            self.nodes.append(Node(self, i))

    def start(self):
        """Bootstraps node 1, then starts the others together (a joiner that
        finds no Synced donor free waits for one).  Returns the seconds taken."""
        t0 = time.monotonic()
        self.nodes[0].start(bootstrap=True)
        for n in self.nodes[1:]:
            n.spawn()
        for n in self.nodes[1:]:
            n.wait_synced()
        # Each node Synced in a cluster of all of them (node 1 was checked
        # before the others joined; a view change follows each join).
        for n in self.nodes:
            n.wait_synced(size=len(self.nodes))
        return time.monotonic() - t0

    def load_schema(self, name='guardlist'):
        """sql/schema.sql into node 1, as harness.MariaDB.load_schema() does;
        then waits (bounded) until every running node has its tables."""
        self.nodes[0].load_schema(name)
        want = self.nodes[0].value("SELECT COUNT(*) FROM information_schema.triggers "
                                   "WHERE trigger_schema = '%s'" % name, db=None)
        for n in self.nodes[1:]:
            if n.running():
                good, got, _ = h.poll_until(
                    lambda: n.value("SELECT COUNT(*) FROM information_schema.triggers "
                                    "WHERE trigger_schema = '%s'" % name, db=None),
                    lambda v: v == want, 10)
                if not good:
                    raise RuntimeError('%s has %s triggers of %s after 10 s' % (n.name, got, want))

    def stop(self):
        """Stops the nodes, last first (each leaves the cluster cleanly)."""
        for n in reversed(self.nodes):
            n.stop()


def start_cluster(size=3):
    """A started cluster of SIZE nodes, all Synced."""
    c = Cluster(size)
    c.start()
    return c
