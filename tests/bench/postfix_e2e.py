#!/usr/bin/python3
"""postfix_e2e.py - `make bench`, section "Postfix end to end": messages per
second through a real Postfix with no policy, with guardlistd, with the
article's lookup tables and with postgrey.

    import postfix_e2e
    rows = postfix_e2e.run_all(ctx)

CTX is a dict: 'db' (a started harness.MariaDB with the guardlist schema,
protected kid0..kid99@family.test and the per-recipient rules
s<i>@known.test -> kid<i % 100>@family.test), 'guardlistd_port' (guardlistd
on 127.0.0.1 using that db), 'cli_config' (a guardlist CLI config for that
db); 'postgrey_port' is not used (see below), nor 'tmp': the Postfix
instances, the maps and postgrey live in harness temp dirs (mode 0755, as
the postfix user must enter them).
Optional: 'guardlistd', the harness Daemon behind guardlistd_port: then its
log shows guardlistd decided every measured message.
Returns one dict per configuration:
    {'name', 'messages', 'seconds', 'msgs_per_s', 'ratio_to_no_policy', 'note'}
A configuration that could not be set up or verified has seconds,
msgs_per_s and ratio None and a note starting with FAILED.

Method.  One private Postfix (tests/lib/postfix.py) per configuration on a
loopback port; family.test is its virtual domain and virtual_transport is
discard(8), so accepted mail is thrown away after the queue manager hands it
over.  smtp-source sends N messages of SIZE bytes in SESSIONS parallel
sessions, each from s5@known.test to kid5@family.test, a pair every
configuration lets through.  The time is from the start of smtp-source to its
exit (every message answered 250 after DATA); the time until the queue is
empty again is in the note.  Before each measured run a warm-up run (smtpd
processes, policy connections, caches); the configurations are measured in
turn, in a balanced order (round_order()), ROUNDS times, and each row gives
the median round: a single lucky or unlucky round (the machine is shared by
Postfix, MariaDB, the policy server and smtp-source on two cores) moves a
median less than a best-of; every round's rate is in the note.  The ratio
to no policy is paired: the median, over the rounds, of the configuration's
rate over the no-policy rate of the same round (each round's ratio is in the
note), so a slow drift of the machine over the section does not decide it.

Every configuration is checked before it is measured, and the measured mail
after: a blocked sender (a global rule `e2e-probe-blocked@known.test REJECT`
for the protected e2e-probe@family.test, both added for this run) must get
guardlistd's 554 Recipient ... Access denied, the lookup tables' 554 Sender
... Access denied (and a stranger the article's 554), postgrey's 450
Greylisted, and 250 with no policy; smtp-source must report no error, the
maillog no reject, and discard(8) must log exactly N deliveries.  During
each measured run the lookup tables must make MariaDB answer at least 2N
SELECTs, and, when CTX has 'guardlistd', guardlistd must log N decisions
for the pair.  A missing package or a failure to add the probe rows raises
SetupError; a failure of one configuration only fails its row.

The lookup tables need the measured sender in the article's global
`whitelist` table (they know no per-recipient rules): s5@known.test OK is
added for the run.  guardlistd keeps deciding that pair by its per-recipient
rule, which it looks at first.  The rows added are removed at the end, and
both times the module waits (bounded) until guardlistd has reloaded.

postgrey: its own instance (Debian's defaults and whitelists, but --delay=2):
with the default 300 s the triplet could not be passed honestly within the
bench.  The triplet is passed first (450 Greylisted, retried after the
delay, 250), so every measured request takes postgrey's whole path: its
client and recipient whitelists (Debian's files), then the triplet's record
read and rewritten.  Its client auto-whitelist counts at most one passed
triplet an hour, so it never short-cuts the run.

Standalone, for development: `/usr/bin/python3 tests/bench/postfix_e2e.py`
starts its own MariaDB (a smaller rule set, --rules), guardlistd, and prints
the rows; --help for the options.
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
if os.path.join(ROOT, 'tests', 'lib') not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import postfix as pfx  # noqa: E402
from postgrey import POSTGREY, Postgrey  # noqa: E402

SMTP_SOURCE = '/usr/sbin/smtp-source'

SENDER = 's5@known.test'             # per-recipient rule: s5 -> kid5
RECIPIENT = 'kid5@family.test'
STRANGER = 'stranger@example.net'
PROBE_SENDER = 'e2e-probe-blocked@known.test'
PROBE_RECIPIENT = 'e2e-probe@family.test'
DEFAULT_ACTION = '451 4.3.5 Policy service unavailable, try again later'

MESSAGES = 2000
WARMUP = 300
SESSIONS = 10
SIZE = 1024
ROUNDS = 12
POSTGREY_DELAY = 2

RELOAD_TIMEOUT = 180.0     # guardlistd reloads every rule after a change (1,000,000 rows)
DRAIN_TIMEOUT = 120.0      # accepted mail leaves the queue within this
LOG_TIMEOUT = 20.0         # postlogd has written every delivery line within this
PORT_TIMEOUT = 30.0        # postgrey accepts connections within this
STOP_TIMEOUT = 10.0

CONFIGS = ('no policy', 'guardlistd', 'lookup tables', 'postgrey')


def say(*args):
    sys.stderr.write('postfix-e2e: ' + ' '.join(str(a) for a in args) + '\n')
    sys.stderr.flush()


class SetupError(Exception):
    pass


# ------------------------------------------------------------ postgrey

# postgrey: tests/lib/postgrey.py, with a short --delay here


# ------------------------------------------------------------ Postfix

DISCARD_SENT = re.compile(r'/discard\[\d+\]: \w+: to=<([^>]*)>.* status=sent ')
NOT_SENT = re.compile(r'status=(deferred|bounced)|NOQUEUE: reject|\b(fatal|panic):')


class Instance:
    """One configuration: a private Postfix that discards what it accepts."""

    def __init__(self, name, restrictions):
        self.name = name
        lines = ['virtual_transport = discard:bench', 'default_transport = discard:bench',
                 'local_transport = discard:bench', 'relay_transport = discard:bench']
        self.pf = pfx.PrivatePostfix(lines + list(restrictions))
        self.log_offset = 0
        self.runs = []          # (accepted seconds, drained seconds) per measured run
        self.error = None
        self.checks = []        # what was verified, for the note
        # Policy lookups so far: (function returning a count, lookups expected
        # per message, what is counted); None where nothing can be counted.
        self.counter = None
        self.lookups = []       # lookups counted per measured run
        self.cpu = []           # per measured run: machine busy share, CPU µs per message by process

    def start(self):
        self.pf.start()

    def stop(self):
        self.pf.stop()

    def log_since(self):
        """maillog text written since the last call."""
        try:
            with open(self.pf.maillog, 'rb') as f:
                f.seek(self.log_offset)
                data = f.read()
        except OSError:
            return ''
        # Only whole lines: postlogd may be in the middle of one.
        cut = data.rfind(b'\n') + 1
        self.log_offset += cut
        return data[:cut].decode('utf-8', 'replace')

    def wait_drained(self, timeout=DRAIN_TIMEOUT, interval=0.02):
        good, left, secs = self.pf.wait_queue_empty(timeout, interval=interval)
        if not good:
            raise SetupError('%s: %d message(s) still queued after %ds: %s'
                             % (self.name, len(left) if isinstance(left, list) else -1, timeout,
                                self.pf.log()[-1500:]))
        return secs

    def expect_rcpt(self, sender, recipient, want_code, want_text, what):
        """One RCPT with swaks; raises SetupError unless the reply has
        WANT_CODE and contains WANT_TEXT."""
        code, text, transcript = self.pf.rcpt(sender, recipient)
        if code != want_code or want_text not in text:
            raise SetupError('%s: %s: RCPT %s -> %s got %r, expected %d ...%s...\n%s\n%s'
                             % (self.name, what, sender, recipient, text, want_code, want_text,
                                transcript[-1500:], self.pf.log()[-1500:]))
        self.checks.append('%s %d' % (what, code))
        return text

    def measure(self, count, sessions, size, watch=None):
        """send() and, where it can be counted, checks that the policy was
        asked for every message.  WATCH: {name: pid} whose CPU time is
        counted during the send, with the whole machine's busy share, into
        self.cpu (one dict per run).  Returns what send() returns."""
        fn, per_msg, what = self.counter or (None, 0, None)
        before = fn() if fn else 0
        cpu0 = cpu_sample(watch or {})
        result = self.send(count, sessions, size)
        self.cpu.append(cpu_delta(cpu0, cpu_sample(watch or {}), count))
        if fn is None:
            return result
        good, n, _ = h.poll_until(lambda: fn() - before, lambda d: d >= per_msg * count, LOG_TIMEOUT)
        if not good:
            raise SetupError('%s: %s: %r during %d messages, expected at least %d'
                             % (self.name, what, n, count, per_msg * count))
        self.lookups.append(n)
        return result

    def send(self, count, sessions, size, timeout=None):
        """smtp-source COUNT messages SENDER -> RECIPIENT; waits for the
        queue to drain and checks every message was accepted and discarded.
        Returns (seconds until smtp-source exited, seconds until the queue was empty)."""
        self.log_since()
        out = os.path.join(self.pf.dir, 'smtp-source.out')
        timeout = timeout or 60 + count / 20.0
        cmd = [SMTP_SOURCE, '-s', str(sessions), '-m', str(count), '-l', str(size),
               '-M', 'client.bench.test', '-f', SENDER, '-t', RECIPIENT, '127.0.0.1:%d' % self.pf.port]
        with open(out, 'wb') as fh:
            t0 = time.monotonic()
            try:
                r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                   timeout=timeout)
                rc = r.returncode
            except subprocess.TimeoutExpired:
                rc = None
            accepted = time.monotonic() - t0
        drained = accepted + self.wait_drained()
        with open(out, 'rb') as fh:
            text = fh.read().decode('utf-8', 'replace').strip()
        if rc != 0 or text:
            raise SetupError('%s: smtp-source %s: exit %s, output: %s\n%s'
                             % (self.name, ' '.join(cmd[1:]), 'timeout %ds' % timeout if rc is None else rc,
                                text[-1500:], self.pf.log()[-1500:]))
        # Every accepted message must be logged as discarded, nothing rejected.
        seen, bad = 0, []

        def count_log():
            nonlocal seen
            text = self.log_since()
            for line in text.splitlines():
                m = DISCARD_SENT.search(line)
                if m and m.group(1) == RECIPIENT:
                    seen += 1
                elif NOT_SENT.search(line):
                    bad.append(line)
            return seen
        good, _, _ = h.poll_until(count_log, lambda n: n >= count or bad, LOG_TIMEOUT)
        if bad or seen != count:
            raise SetupError('%s: %d message(s) sent, discard(8) logged %d; trouble in the log: %s'
                             % (self.name, count, seen, '\n'.join(bad[:5]) or 'none'))
        return accepted, drained


# ------------------------------------------------------------ rules for the run

class ProbeRows:
    """The rows this run adds to the database (and removes again): the
    protected probe recipient, its blocked probe sender, and SENDER in the
    global whitelist for the lookup tables."""

    def __init__(self, db, guardlistd_port):
        self.db = db
        self.port = guardlistd_port
        self.added = []       # (table, key column, key)

    def _wait_guardlistd(self, pred, what):
        good, got, secs = h.wait_reply(self.port, pred, RELOAD_TIMEOUT, sender=PROBE_SENDER,
                                       recipient=PROBE_RECIPIENT, client_address='127.0.0.1',
                                       client_name='localhost')
        if not good:
            raise SetupError('guardlistd did not %s within %ds (last reply %r)' % (what, RELOAD_TIMEOUT, got))
        return secs

    def add(self):
        q = h.sql_str
        rows = [('protected_users', 'recipient', PROBE_RECIPIENT, 'whitelist'),
                ('whitelist', 'sender', PROBE_SENDER, 'REJECT'),
                ('whitelist', 'sender', SENDER, 'OK')]
        for table, col, key, value in rows:
            other = 'class' if table == 'protected_users' else 'action'
            have = self.db.value('SELECT %s FROM %s WHERE %s = %s' % (other, table, col, q(key)))
            if have is None:
                self.db.sql('INSERT INTO %s (%s, %s) VALUES (%s, %s)' % (table, col, other, q(key), q(value)))
                self.added.append((table, col, key))
            elif have != value:
                raise SetupError('%s already has %s = %r with %s %r, not %r: leaving the database alone'
                                 % (table, col, key, other, have, value))
        secs = self._wait_guardlistd(lambda r: isinstance(r, str) and r.startswith('REJECT'),
                                     'load the probe rule')
        say('guardlistd follows the probe rows after %.1f s' % secs)

    def remove(self):
        if not self.added:
            return
        for table, col, key in self.added:
            self.db.sql('DELETE FROM %s WHERE %s = %s' % (table, col, h.sql_str(key)))
        self.added = []
        secs = self._wait_guardlistd(lambda r: r == 'DUNNO', 'drop the probe rule')
        say('guardlistd dropped the probe rows after %.1f s' % secs)


def lookup_table_lines(cli_config):
    """`guardlist postfix-config --lookup-tables --dir DIR`: the main.cf lines."""
    mapdir = h.tmpdir('guardlist-pfmaps-')       # 0755: proxymap (user postfix) reads the maps
    rc, out, err = h.cli(cli_config, 'postfix-config', '--lookup-tables', '--dir', mapdir)
    if rc != 0:
        raise SetupError('guardlist postfix-config --lookup-tables --dir %s: exit %d: %s' % (mapdir, rc, err))
    try:
        pfx.split_main_cf(out)
    except ValueError as e:
        raise SetupError('postfix-config --lookup-tables printed no main.cf: %s\n%s' % (e, out))
    return out.splitlines()


# ------------------------------------------------------------ the section

def _fmt_rate(r):
    return '%.0f' % r


def run_all(ctx, messages=MESSAGES, warmup=WARMUP, sessions=SESSIONS, size=SIZE, rounds=ROUNDS,
            postgrey_delay=POSTGREY_DELAY):
    """The section's rows (see the module doc).  Starts and stops its own
    Postfix instances and postgrey; adds and removes the probe rows."""
    for path, pkg in ((SMTP_SOURCE, 'postfix'), (pfx.POSTFIX, 'postfix'), (pfx.SWAKS, 'swaks'),
                      ('/usr/lib/postfix/postfix-mysql.so', 'postfix-mysql'), (POSTGREY, 'postgrey')):
        if not os.path.exists(path):
            raise SetupError('%s missing: install the Debian package %s (make deps)' % (path, pkg))
    t_all = time.monotonic()
    load = loadavg()
    gport = ctx['guardlistd_port']
    insts = {}
    grey = None
    probe = ProbeRows(ctx['db'], gport)
    try:
        probe.add()
        grey = Postgrey(postgrey_delay)
        try:
            grey.start()
        except RuntimeError as e:
            raise SetupError(str(e))
        policy = ['smtpd_policy_service_default_action = ' + DEFAULT_ACTION,
                  'smtpd_policy_service_timeout = 100s',
                  'smtpd_policy_service_try_limit = 2']
        restrictions = {
            'no policy': [],
            'guardlistd': ['smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination,',
                           '    check_policy_service inet:127.0.0.1:%d' % gport] + policy,
            'postgrey': ['smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination,',
                         '    check_policy_service inet:127.0.0.1:%d' % grey.port] + policy,
        }
        try:
            restrictions['lookup tables'] = lookup_table_lines(ctx['cli_config'])
        except SetupError as e:
            restrictions['lookup tables'] = None
            lookup_error = str(e)
        counters = policy_counters(ctx)
        watch = {'MariaDB': ctx['db'].proc.pid} if getattr(ctx['db'], 'proc', None) else {}
        if getattr(ctx.get('guardlistd'), 'proc', None):
            watch['guardlistd'] = ctx['guardlistd'].proc.pid
        if grey.proc is not None:
            watch['postgrey'] = grey.proc.pid
        for name in CONFIGS:
            inst = insts[name] = Instance(name, restrictions[name] or [])
            inst.counter = counters.get(name)
            if restrictions[name] is None:
                inst.error = lookup_error
                continue
            try:
                inst.start()
                verify(inst, grey)
                say('%s: Postfix on 127.0.0.1:%d verified: %s' % (name, inst.pf.port, ', '.join(inst.checks)))
            except (SetupError, RuntimeError) as e:
                inst.error = str(e)
                say('%s: FAILED: %s' % (name, e))
        for rnd in range(rounds):
            for name in round_order(rnd):
                inst = insts[name]
                if inst.error:
                    continue
                try:
                    inst.send(warmup, sessions, size)
                    acc, drained = inst.measure(messages, sessions, size, watch)
                    inst.runs.append((acc, drained, rnd))
                    c = inst.cpu[-1]
                    say('round %d/%d %-13s %5d msgs in %6.2f s = %5.0f msg/s (queue empty after %.2f s); '
                        'machine %.0f %% busy%s'
                        % (rnd + 1, rounds, name, messages, acc, messages / acc, drained, 100 * c['busy'],
                           ''.join(', %s %.0f µs/msg' % (k, v) for k, v in sorted(c.items()) if k != 'busy')))
                except (SetupError, RuntimeError) as e:
                    inst.error = str(e)
                    say('%s: FAILED: %s' % (name, e))
        for name in CONFIGS:
            inst = insts[name]
            if inst.error or name == 'no policy':
                continue
            try:
                verify_after(inst)
            except (SetupError, RuntimeError) as e:
                inst.error = str(e)
                say('%s: FAILED after the runs: %s' % (name, e))
        rows = make_rows(insts, messages, warmup, sessions, size, rounds, postgrey_delay, load)
        say('section done in %.0f s' % (time.monotonic() - t_all))
        return rows
    finally:
        for inst in insts.values():
            try:
                inst.stop()
            except Exception as e:       # noqa: B902 - stop the rest regardless
                say('stopping %s: %s' % (inst.name, e))
        if grey is not None:
            grey.stop()
        try:
            probe.remove()
        except SetupError as e:
            say('WARNING: %s' % e)


def round_order(rnd):
    """The configurations in the order round RND measures them: the rows of a
    Williams square, in turn.  Over every 4 rounds each configuration comes
    first once, and right after each other one once.  A plain rotation put
    guardlistd right after no policy in 3 rounds of 4 and no policy right
    after postgrey in 3 of 4, so whatever one run leaves to the next (caches,
    the machine's drift within a round) leaned on the ratio; here it cancels."""
    n = len(CONFIGS)
    first = [0, 1]
    while len(first) < n:       # 0, 1, n-1, 2, n-2, ...
        k = len(first)
        first.append(n - k // 2 if k % 2 == 0 else k // 2 + 1)
    return [CONFIGS[(i + rnd) % n] for i in first]


def policy_counters(ctx):
    """What can show that a policy was asked during the measured runs:
    guardlistd's log of decisions for the measured pair (only when CTX
    holds the harness Daemon as 'guardlistd'), and MariaDB's count of
    SELECTs (the lookup tables ask two per message: protected_users, then
    whitelist)."""
    out = {}
    daemon = ctx.get('guardlistd')
    if daemon is not None and getattr(daemon, 'errfile', None):
        marker = 'decision sender="%s" recipient="%s"' % (SENDER, RECIPIENT)
        out['guardlistd'] = (log_counter(daemon.errfile, marker), 1, 'guardlistd decisions for the pair')
    db = ctx['db']

    def selects():
        rows = db.sql("SHOW GLOBAL STATUS LIKE 'Com_select'", db=None)
        return int(rows[0][1])
    out['lookup tables'] = (selects, 2, 'MariaDB SELECTs')
    return out


def log_counter(path, marker):
    """A function returning how many whole lines of the log at PATH hold
    MARKER so far.  It reads only what was added since its last call: after
    the policy section guardlistd's log holds about a million lines."""
    state = {'off': 0, 'n': 0, 'rest': b''}
    mark = marker.encode()

    def count():
        with open(path, 'rb') as f:
            if os.fstat(f.fileno()).st_size < state['off']:     # rewritten: count it again
                state.update(off=0, n=0, rest=b'')
            f.seek(state['off'])
            data = f.read()
        state['off'] += len(data)
        data = state['rest'] + data
        cut = data.rfind(b'\n') + 1
        state['rest'] = data[cut:]
        state['n'] += data[:cut].count(mark)
        return state['n']
    return count


def verify(inst, grey):
    """Shows the configuration consults its policy, before it is measured."""
    name = inst.name
    if name == 'no policy':
        inst.expect_rcpt(PROBE_SENDER, PROBE_RECIPIENT, 250, '250', 'blocked sender accepted (no policy)')
    elif name == 'guardlistd':
        inst.expect_rcpt(PROBE_SENDER, PROBE_RECIPIENT, 554, 'Recipient address rejected: Access denied',
                         'blocked sender')
    elif name == 'lookup tables':
        inst.expect_rcpt(PROBE_SENDER, PROBE_RECIPIENT, 554, 'Sender address rejected: Access denied',
                         'blocked sender')
        inst.expect_rcpt(STRANGER, RECIPIENT, 554, '<%s>: Recipient address rejected: Access denied' % RECIPIENT,
                         'stranger')
    elif name == 'postgrey':
        inst.expect_rcpt(STRANGER, RECIPIENT, 450, 'Greylisted', 'stranger')
        inst.expect_rcpt(SENDER, RECIPIENT, 450, 'Greylisted', 'measured triplet first')
        # The triplet passes once the delay is over: retry, polled, bounded.
        good, got, secs = h.poll_until(lambda: inst.pf.rcpt(SENDER, RECIPIENT)[1],
                                       lambda t: isinstance(t, str) and t.startswith('250'),
                                       grey.delay + 30, interval=0.5)
        if not good:
            raise SetupError('postgrey: the triplet did not pass within %ds (last %r)' % (grey.delay + 30, got))
        inst.checks.append('triplet passed after %.1f s' % secs)
        return
    inst.expect_rcpt(SENDER, RECIPIENT, 250, '250', 'measured pair')


def verify_after(inst):
    """The policy is still answering after the runs (nothing fell back)."""
    name = inst.name
    if name == 'guardlistd':
        inst.expect_rcpt(PROBE_SENDER, PROBE_RECIPIENT, 554, 'Recipient address rejected: Access denied',
                         'blocked sender after the runs')
    elif name == 'lookup tables':
        inst.expect_rcpt(PROBE_SENDER, PROBE_RECIPIENT, 554, 'Sender address rejected: Access denied',
                         'blocked sender after the runs')
    elif name == 'postgrey':
        # A new triplet from a client address postgrey has never seen.
        inst.expect_rcpt('new-sender@example.org', 'kid7@family.test', 450, 'Greylisted',
                         'new triplet after the runs')


def cpu_sample(watch):
    """(machine busy ticks, all ticks, {name: ticks of that pid}) now."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    per = {}
    for name, pid in watch.items():
        try:
            with open('/proc/%d/stat' % pid) as f:
                x = f.read().rsplit(')', 1)[1].split()
            per[name] = int(x[11]) + int(x[12])
        except (OSError, IndexError, ValueError):
            per[name] = None
    return sum(v) - v[3] - v[4], sum(v), per


def cpu_delta(a, b, count):
    """{'busy': share of the machine busy, NAME: CPU µs per message}."""
    hz = os.sysconf('SC_CLK_TCK')
    out = {'busy': (b[0] - a[0]) / max(1, b[1] - a[1])}
    for name, t0 in a[2].items():
        t1 = b[2].get(name)
        if t0 is not None and t1 is not None:
            out[name] = (t1 - t0) * 1e6 / hz / count
    return out


def loadavg():
    """The 1-minute load average: other work on the machine skews every rate."""
    try:
        with open('/proc/loadavg') as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def paired_ratios(inst, base):
    """INST's rate over the no-policy rate of the same round, for every round
    both were measured in: the two ran within seconds of each other, so a
    drift of the machine's speed over the whole section (seen: no-policy
    rounds from 662 to 945 msg/s in one run) cancels out of each ratio."""
    if base is None or base.error or inst.error:
        return []
    nop = {r[2]: r[0] for r in base.runs}
    return [nop[r[2]] / r[0] for r in inst.runs if r[2] in nop]


def make_rows(insts, messages, warmup, sessions, size, rounds, postgrey_delay, load=None):
    method = '%d msgs (after %d warm-up), %d sessions, %d B, median of %d runs' % (
        messages, warmup, sessions, size, rounds)
    base = None
    stats = {}
    for name in CONFIGS:
        inst = insts[name]
        if inst.error or not inst.runs:
            continue
        acc = statistics.median(r[0] for r in inst.runs)
        drained = statistics.median(r[1] for r in inst.runs)
        stats[name] = (acc, drained)
        if name == 'no policy':
            base = messages / acc
    rows = []
    for name in CONFIGS:
        inst = insts[name]
        if name not in stats:
            rows.append({'name': name, 'messages': messages, 'seconds': None, 'msgs_per_s': None,
                         'ratio_to_no_policy': None,
                         'note': 'FAILED: ' + (inst.error or 'no run').splitlines()[0][:300]})
            continue
        acc, drained = stats[name]
        rate = messages / acc
        runs = '/'.join(_fmt_rate(messages / r[0]) for r in inst.runs)
        note = '%s (%s msg/s); queue empty after %.2f s' % (method, runs, drained)
        ratios = paired_ratios(inst, insts['no policy'])
        if ratios and name != 'no policy':
            q = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
            note += '; ratio per round %s (quartiles %.2f-%.2f)' % ('/'.join('%.2f' % x for x in ratios), q[0], q[2])
        if inst.lookups:
            note += '; %s per run: %s' % (inst.counter[2], '/'.join(str(n) for n in inst.lookups))
        if inst.cpu:
            note += '; machine busy %s %%' % '/'.join('%.0f' % (100 * c['busy']) for c in inst.cpu)
            for proc in sorted(k for k in inst.cpu[0] if k != 'busy'):
                vals = [c[proc] for c in inst.cpu if proc in c]
                if vals and statistics.median(vals) >= 1:
                    note += '; %s CPU %.0f µs/msg (median)' % (proc, statistics.median(vals))
        if name == 'guardlistd':
            note += '; check_policy_service, probe: blocked sender 554'
        elif name == 'lookup tables':
            note += ('; proxy:mysql maps from postfix-config --lookup-tables, %s in the global whitelist '
                     'for the run; probes: blocked sender 554, stranger 554' % SENDER)
        elif name == 'postgrey':
            note += ('; own postgrey, Debian defaults but --delay=%d; the triplet passed before the runs '
                     '(450, retry, 250); probes: stranger 450, new triplet 450 after the runs' % postgrey_delay)
        else:
            note += '; delivered to discard(8)'
            if load is not None:
                note += '; load average %.2f before the section (%d CPUs)' % (load, os.cpu_count() or 0)
        rows.append({'name': name, 'messages': messages, 'seconds': round(acc, 3),
                     'msgs_per_s': round(rate, 1),
                     'ratio_to_no_policy': (round(statistics.median(ratios), 3) if ratios
                                            else round(rate / base, 3) if base else None),
                     'note': note})
    return rows


# ------------------------------------------------------------ standalone

def load_rules(db, count):
    """protected kid0..kid99@family.test; s<i>@known.test -> kid<i % 100> for i < COUNT."""
    db.sql("INSERT INTO protected_users (recipient, class) "
           "SELECT CONCAT('kid', seq, '@family.test'), 'whitelist' FROM seq_0_to_99")
    db.sql("INSERT INTO sender_rules (recipient, sender, action, created_by) "
           "SELECT CONCAT('kid', seq %% 100, '@family.test'), CONCAT('s', seq, '@known.test'), 'OK', 'bench' "
           "FROM seq_0_to_%d" % (count - 1))


def print_rows(rows):
    print('%-14s %8s %9s %9s %7s  %s' % ('configuration', 'messages', 'seconds', 'msg/s', 'ratio', 'note'))
    for r in rows:
        def f(v, fmt):
            return fmt % v if v is not None else '-'
        print('%-14s %8d %9s %9s %7s  %s' % (r['name'], r['messages'], f(r['seconds'], '%.2f'),
                                              f(r['msgs_per_s'], '%.0f'), f(r['ratio_to_no_policy'], '%.2f'),
                                              r['note']))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description='Postfix end to end: messages per second through a private Postfix with no policy, '
                    'guardlistd, the article\'s lookup tables and postgrey.  Standalone: starts its own '
                    'MariaDB (with RULES sender rules), guardlistd, postgrey and Postfix instances on '
                    '127.0.0.1 and prints one row per configuration.  make bench imports run_all() instead.')
    ap.add_argument('--messages', type=int, default=MESSAGES, help='messages per measured run (%(default)s)')
    ap.add_argument('--warmup', type=int, default=WARMUP, help='messages in the warm-up before each run '
                    '(%(default)s)')
    ap.add_argument('--sessions', type=int, default=SESSIONS, help='parallel SMTP sessions (%(default)s)')
    ap.add_argument('--size', type=int, default=SIZE, help='message size in bytes (%(default)s)')
    ap.add_argument('--rounds', type=int, default=ROUNDS, help='measured runs per configuration; the median '
                    'is reported (%(default)s)')
    ap.add_argument('--rules', type=int, default=10000, help='sender rules in the private database '
                    '(%(default)s; make bench uses 1,000,000)')
    ap.add_argument('--postgrey-delay', type=int, default=POSTGREY_DELAY, help='postgrey --delay in seconds '
                    '(%(default)s)')
    args = ap.parse_args(argv)
    if min(args.messages, args.warmup, args.sessions, args.size, args.rounds, args.rules) < 1 \
            or args.rules < 100 or args.postgrey_delay < 1:
        ap.error('every number must be positive, --rules at least 100')
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))
    t0 = time.monotonic()
    rc = 1
    try:
        say('starting MariaDB with %d sender rules' % args.rules)
        db = h.start_db()
        load_rules(db, args.rules)
        d = h.start_daemon(db)
        say('guardlistd on 127.0.0.1:%d' % d.port)
        ctx = {'db': db, 'guardlistd_port': d.port, 'guardlistd': d, 'cli_config': h.cli_config(db),
               'tmp': h.tmpdir('guardlist-bench-')}
        rows = run_all(ctx, messages=args.messages, warmup=args.warmup, sessions=args.sessions,
                       size=args.size, rounds=args.rounds, postgrey_delay=args.postgrey_delay)
        print_rows(rows)
        rc = 0 if all(r['msgs_per_s'] is not None for r in rows) else 1
        d.stop(check=False)
    finally:
        for p in list(reversed(h._procs)):
            try:
                p.stop(check=False)
            except Exception as e:       # noqa: B902
                say('stopping %r: %s' % (p, e))
            if p in h._procs:
                h._procs.remove(p)
        h.cleanup()
        say('total %.0f s' % (time.monotonic() - t0))
    return rc


if __name__ == '__main__':
    sys.exit(main())
