#!/usr/bin/python3
"""bench.py - `make bench`: guardlist's benchmark.  Starts everything it
measures privately on 127.0.0.1 under temp dirs (MariaDB, guardlistd,
postgrey, smtp-sink, lighttpd, and through tests/bench/postfix_e2e.py a
Postfix), measures, stops everything, and prints one table, also written to
var/bench/results.md and var/bench/results.json.

Sections (one run, one machine):
  policy   guardlistd with RULES per-recipient rules (1,000,000 by default,
           100 protected kids, `policyload --print-rules`) and its default
           hourly caps against postgrey (Debian's package, its defaults) and
           the always-DUNNO reference server (tests/bench/dunnod.c, every
           core) at 1, 8 and 64 connections with policyload's 80/15/5 mix
           (known pairs / unknown senders / unprotected recipients; the
           1,500 strangers all come from one client address, a flood past
           the per-client cap of 200): requests/s, p50, p99, errors, and
           the ratios guardlistd/postgrey and guardlistd/reference (at 64
           connections the median of five rounds, the three servers run
           back to back, in turn in the other order).  A warm-up run before each measured run.  Beside the 8-connection
           figure, "metrics on": a second guardlistd on the same rules with
           [policy] metrics_listen set, scraped every second meanwhile (the
           cost of counting on the decision path).
  memory   guardlistd's VmRSS with 0 rules, after the RULES were loaded into
           the running daemon, and after a fresh start with them.
  start    from spawning guardlistd to the first request answered from the
           rules (a known pair answered DUNNO), with RULES rules.
  spf      the policy mix again at 8 and 64 connections with [policy] spf = on
           against a private dnsmasq (tests/lib/dns.py; known.test's SPF
           passes the mix's client, unknown.test has none); its share of
           spf = off is the median of three paired rounds beside the policy
           section's daemon: every verdict is cached after the warm-up, so
           this is the cost of the cache lookup.
  fold     the same decisions with ASCII and with non-ASCII mixed-case
           addresses (ICU's full case folding, as Postfix's casefold()).
  change   from a raw SQL INSERT (the article's whitelist, and sender_rules)
           to the first request decided by it, polled every few ms.
  postfix  Postfix end to end (tests/bench/postfix_e2e.py, when present).
  notify   guardlist-notify --once: emails/s into smtp-sink, one email per
           challenge (no digests).
  approve  the approval page through lighttpd, as a CGI and as FastCGI
           processes (mod_fastcgi, bin-path): GET and POST latency on
           distinct tokens taken from the notifier's emails.
  admin    the admin page through lighttpd with Basic auth (checked logins
           cached, as etc/web sets it up), as a CGI and as FastCGI: GET (the
           protected list) and POST (a rule set) latency.

Benchmarks are not tests: nothing here fails on a slow figure.  Each target
is printed with the measured value, whether it holds and by what margin.  The
exit status is 1 only when a section could not be run (its row says why).

Progress goes to stderr, the table to stdout.  Run with Debian's
/usr/bin/python3 after `make all build/bench/policyload build/bench/dunnod` (make bench does it).
"""

import argparse
import base64
import email
import email.policy
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
sys.path.insert(1, os.path.join(ROOT, 'tests', 'bench'))
import harness as h  # noqa: E402
import dns  # noqa: E402
import web  # noqa: E402
from postgrey import POSTGREY, Postgrey  # noqa: E402

LOAD = os.path.join(ROOT, 'build', 'bench', 'policyload')
DUNNOD = os.path.join(ROOT, 'build', 'bench', 'dunnod')
OUT_DIR = os.path.join(ROOT, 'var', 'bench')

KIDS = 100                          # policyload's protected kid0..kid99@family.test
FIRST_CONTACT_PAIRS = 400000        # more new strangers than a run can send
START_TIMEOUT = 180.0               # guardlistd up with every rule loaded
RELOAD_TIMEOUT = 180.0              # the running daemon has taken in a bulk load
CHANGE_TIMEOUT = 30.0               # one rule change in force
CHANGE_POLL = 0.003
LOAD_TIMEOUT = 600                  # LOAD DATA of the rules
OVERALL_TIMEOUT = 1500              # the whole run, whatever happens

TARGET_RATIO_64 = 25.0              # guardlistd >= 25x postgrey requests/s at 64 connections
TARGET_REF_64 = 0.70                # ... and >= 70 % of the always-DUNNO reference's
TARGET_P99_8_MS = 0.5               # p99 < 0.5 ms at 8 connections
TARGET_SPF_SHARE = 0.90             # spf = on >= 90 % of spf = off requests/s (issue 17)
TARGET_SPF_P99_8_MS = 1.0           # ... and p99 < 1 ms at 8 connections
SPF_CONNS = (8, 64)
DEFAULT_CAPS = {'max_new_challenges_per_recipient': '100',     # guardlistd's defaults: the mix's
                'max_new_challenges_per_client': '200'}        # strangers are a flood past them
TARGET_RSS_BASE = 64 * 1024 * 1024  # RSS < 64 MB + 150 bytes a rule
TARGET_RSS_PER_RULE = 150
TARGET_CHANGE_S = 2.0               # a rule change is in force within 2 s
TARGET_E2E_RATIO = 0.95             # Postfix with guardlistd >= 95 % of no policy
TARGET_EMAILS_S = 200.0             # guardlist-notify >= 200 emails/s
TARGET_APPROVE_P99_MS = 10.0        # approval page p99 < 10 ms (as a CGI)
TARGET_FCGI_GET_P99_MS = 2.0        # approval page as FastCGI: GET p99 < 2 ms (issue 19)
TARGET_FCGI_POST_P99_MS = 5.0       # and POST p99 < 5 ms
FCGI_PROCS = 2                      # FastCGI processes lighttpd spawns (etc/web's example)


def say(*args):
    sys.stderr.write('bench: ' + ' '.join(str(a) for a in args) + '\n')
    sys.stderr.flush()


def _diag_to_stderr(line):
    try:
        sys.stderr.write(line + '\n')
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass


# The harness reports in TAP on stdout; here stdout carries only the table.
h._out = _diag_to_stderr
# Every daemon measured runs the product's default event loops (the tests'
# harness asks for two on any machine).
h.DEFAULT_POLICY['threads'] = 'auto'


# ------------------------------------------------------------ results

class Results:
    """Rows of the one table, and the raw figures for results.json."""

    def __init__(self):
        self.rows = []          # dicts: section, what, value, target, holds, margin
        self.data = {}          # section -> raw figures
        self.failed = []        # (section, reason)

    def row(self, section, what, value, target='', holds='', margin=''):
        self.rows.append({'section': section, 'what': what, 'value': value, 'target': target,
                          'holds': holds, 'margin': margin})

    def target(self, section, what, value, measured, op, limit, target_text, unit_fmt=None):
        """A row with a target: OP '>=' or '<'.  MEASURED None: n/a.  The
        margin is signed slack in percent of the limit (negative: missed)."""
        if measured is None:
            self.row(section, what, value, target_text, 'n/a', '')
            return
        if op == '>=':
            holds = measured >= limit
            slack = (measured - limit) / limit
        else:
            holds = measured < limit
            slack = (limit - measured) / limit
        self.row(section, what, value, target_text, 'yes' if holds else 'no', '%+.0f %%' % (slack * 100))
        self.data.setdefault('targets', []).append(
            {'target': target_text, 'what': what, 'measured': measured, 'op': op, 'limit': limit,
             'holds': holds, 'slack': round(slack, 4)})

    def fail(self, section, reason):
        self.failed.append((section, reason))
        self.row(section, 'FAILED', reason.splitlines()[0][:160] if reason else 'failed')


def table(rows):
    """A Markdown table, columns padded."""
    head = ['Section', 'Measurement', 'Result', 'Target', 'Holds', 'Margin (+ = slack)']
    keys = ['section', 'what', 'value', 'target', 'holds', 'margin']
    cells = [[str(r.get(k, '')) for k in keys] for r in rows]
    width = [max(len(head[i]), *(len(c[i]) for c in cells)) if cells else len(head[i]) for i in range(len(head))]

    def line(vals):
        return '| ' + ' | '.join(v.ljust(width[i]) for i, v in enumerate(vals)) + ' |'
    out = [line(head), '|' + '|'.join('-' * (w + 2) for w in width) + '|']
    out += [line(c) for c in cells]
    return '\n'.join(out)


# ------------------------------------------------------------ helpers

def vm_rss(pid):
    """VmRSS of PID in bytes (None if gone)."""
    try:
        rss = h.proc_status(pid).get('VmRSS')
    except OSError:
        return None
    return int(rss[0]) * 1024 if rss else None


def mb(n):
    return '%.1f MB' % (n / 1e6) if n is not None else 'n/a'


def policyload(port, conns, seconds, rules, pairs_file=None):
    """One policyload run (the built-in mix, or PAIRS_FILE); returns its JSON
    result (rps, p50_ms, p99_ms, errors ...)."""
    source = ['-f', pairs_file] if pairs_file else ['--rules', str(rules)]
    r = subprocess.run([LOAD, '-t', '127.0.0.1:%d' % port, '-c', str(conns), '-d', str(seconds)]
                       + source + ['--json'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=seconds + 60)
    try:
        res = json.loads(r.stdout.decode())
    except ValueError:
        raise RuntimeError('policyload gave no result (exit %d): %s' % (r.returncode, r.stderr.decode()[-500:]))
    if r.returncode not in (0, 1):          # 1: errors were counted, the figures stand
        raise RuntimeError('policyload exit %d: %s' % (r.returncode, r.stderr.decode()[-500:]))
    m = re.search(r'first error: (.*)', r.stderr.decode(errors='replace'))
    res['first_error'] = m.group(1).strip() if m else None
    return res


def load_rules(db, rules, directory):
    """Loads RULES rows of `policyload --print-rules` into sender_rules with
    LOAD DATA LOCAL INFILE.  Returns the seconds the load took."""
    tsv = os.path.join(directory, 'rules.tsv')
    with open(tsv, 'wb') as f:
        subprocess.run([LOAD, '--print-rules', str(rules)], stdout=f, check=True, timeout=120)
    stmt = ("LOAD DATA LOCAL INFILE %s INTO TABLE sender_rules CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' (recipient, sender, action)" % h.sql_str(tsv))
    t0 = time.monotonic()
    r = subprocess.run(db._client('guardlist') + ['--local-infile=1', '-e', stmt],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=LOAD_TIMEOUT, text=True)
    secs = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError('LOAD DATA failed: %s' % r.stderr.strip())
    os.unlink(tsv)
    n = int(db.value('SELECT COUNT(*) FROM sender_rules'))
    if n != rules:
        raise RuntimeError('sender_rules holds %d rows after loading %d' % (n, rules))
    return secs


def known_pair(rules):
    """The last rule policyload prints: a known (sender, recipient)."""
    i = rules - 1
    return 's%d@known.test' % i, 'kid%d@family.test' % (i % KIDS)


class Poller:
    """Sends one request again and again on one connection (reconnecting after
    an error) until the reply is WANT or TIMEOUT passes.  wait() returns the
    seconds from T0 (default: its start) to that reply, None on time-out."""

    def __init__(self, port, sender, recipient, interval=CHANGE_POLL):
        self.port, self.sender, self.recipient, self.interval = port, sender, recipient, interval
        self.conn = None
        self.last = None

    def ask(self):
        if self.conn is None:
            self.conn = h.PolicyConnection(self.port, timeout=5)
        try:
            return self.conn.request(sender=self.sender, recipient=self.recipient)
        except Exception:
            self.close()
            raise

    def wait(self, want, timeout, t0=None, alive=None):
        t0 = time.monotonic() if t0 is None else t0
        while True:
            if alive is not None and not alive():
                raise RuntimeError('the server exited while being polled (last reply %r)' % (self.last,))
            try:
                self.last = self.ask()
            except (OSError, h.PolicyError) as e:
                self.last = e
            now = time.monotonic()
            if self.last == want:
                return now - t0
            if now - t0 > timeout:
                return None
            time.sleep(self.interval)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def stop_daemon(d):
    """Stops guardlistd without the harness's TAP checks; returns its exit status."""
    if d is not None and d.proc is not None:
        return d.stop(check=False)
    return None


def daemon_log_ms(d):
    """The time guardlistd logged for its last rule load (ms), or None."""
    found = re.findall(r'rules loaded(?: \([^)]*\))?: .*? ms=([0-9.]+)', d.log())
    return float(found[-1]) if found else None


# postgrey: tests/lib/postgrey.py


class Reference:
    """tests/bench/dunnod: answers DUNNO at once on every core."""

    def __init__(self):
        self.port = h.free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([DUNNOD, '-p', str(self.port)], stdin=subprocess.DEVNULL,
                                     preexec_fn=h._die_with_parent)
        h._procs.append(self)
        good, got, _ = h.poll_until(lambda: h.query(self.port, sender='a@b.test', recipient='c@d.test'),
                                    lambda r: r == 'DUNNO', 10)
        if not good:
            raise RuntimeError('dunnod gave no DUNNO within 10 s (last %r)' % (got,))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check=False):
        if self in h._procs:
            h._procs.remove(self)
        if self.proc is None:
            return None
        rc, _ = h.terminate(self.proc)
        self.proc = None
        return rc


def version_of(cmd, pattern):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20, text=True)
        m = re.search(pattern, r.stdout)
        return m.group(1) if m else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine():
    cpu = None
    try:
        with open('/proc/cpuinfo') as f:
            for ln in f:
                if ln.startswith('model name'):
                    cpu = ln.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    commit = None
    try:
        r = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=10, text=True)
        commit = r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        load = open('/proc/loadavg').read().split()[:3]
    except OSError:
        load = None
    return {
        'cpu': cpu or platform.processor() or 'unknown',
        'cores': os.cpu_count(),
        'kernel': platform.release(),
        'date': datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        'commit': commit,
        'loadavg_at_start': load,
        'mariadb': version_of(['mariadbd', '--version'], r'Ver\s+(\S+)'),
        'postgrey': version_of([POSTGREY, '--version'], r'(\d+\.\d+\S*)'),
    }


# ------------------------------------------------------------ sections

def metrics_on_run(ctx, args, conns=8):
    """The policy mix at CONNS connections against a second guardlistd on
    the same rules with [policy] metrics_listen on, its /metrics scraped
    every second during the runs.  Returns policyload's result."""
    mport = h.free_port()
    d = h.Daemon(ctx['db'], metrics_listen='inet:127.0.0.1:%d' % mport, **DEFAULT_CAPS)
    d.start()
    stop = threading.Event()

    def scraper():
        while not stop.wait(1.0):
            try:
                urllib.request.urlopen('http://127.0.0.1:%d/metrics' % mport, timeout=5).read()
            except OSError:
                pass

    t = threading.Thread(target=scraper, daemon=True)
    t.start()
    try:
        policyload(d.port, conns, args.warmup, args.rules)
        return policyload(d.port, conns, args.seconds, args.rules)
    finally:
        stop.set()
        t.join(10)
        stop_daemon(d)


def section_policy(res, ctx, args, grey, ref):
    """guardlistd (ctx['daemon'], every rule loaded, default caps) vs postgrey
    and the always-DUNNO reference at each connection count."""
    servers = (('guardlistd', ctx['guardlistd_port']), ('reference', ref.port), ('postgrey', grey.port))
    figures = {name: {} for name, _ in servers}
    res.data['policy'] = figures
    for name, port in servers:
        for conns in args.conns:
            policyload(port, conns, args.warmup, args.rules)
            r = policyload(port, conns, args.seconds, args.rules)
            figures[name][conns] = r
            say('%-10s %3d conn: %8.0f req/s  p50 %.3f ms  p99 %.3f ms  errors %d'
                % (name, conns, r['rps'], r['p50_ms'], r['p99_ms'], r['errors']))
    # The ratios at 64 connections, paired: four more rounds of guardlistd,
    # the reference and postgrey back to back (in turn the other way round),
    # the median of the five rounds' ratios, so a drift of the machine
    # between the servers' runs does not decide them.
    pairs = {}
    if 64 in args.conns:
        ports = dict(servers)
        pairs = {name: [figures[name][64]['rps']] for name in ports}
        for order in (('postgrey', 'reference', 'guardlistd'), ('guardlistd', 'reference', 'postgrey')) * 2:
            for name in order:
                port = ports[name]
                policyload(port, 64, args.warmup, args.rules)
                r = policyload(port, 64, args.seconds, args.rules)
                pairs[name].append(r['rps'])
                say('%-10s  64 conn (paired round %d): %8.0f req/s  p99 %.3f ms'
                    % (name, len(pairs[name]), r['rps'], r['p99_ms']))
        figures['paired_64'] = pairs
    if 8 in args.conns:
        m = metrics_on_run(ctx, args)
        figures['guardlistd_metrics_on'] = {8: m}
        say('metrics on   8 conn: %8.0f req/s  p50 %.3f ms  p99 %.3f ms  errors %d'
            % (m['rps'], m['p50_ms'], m['p99_ms'], m['errors']))
    for conns in args.conns:
        g, f, p = figures['guardlistd'][conns], figures['reference'][conns], figures['postgrey'][conns]
        for name, r in (('guardlistd', g), ('DUNNO reference', f), ('postgrey', p)):
            what = '%s, %d conn' % (name, conns)
            value = '%.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d' % (r['rps'], r['p50_ms'], r['p99_ms'],
                                                                      r['errors'])
            if r['errors']:
                value += ' (first: %s)' % (r.get('first_error') or 'requests unanswered when the run ended')[:60]
            if name == 'guardlistd' and conns == 8:
                res.target('policy', what, value, r['p99_ms'], '<', TARGET_P99_8_MS,
                           'p99 < %g ms' % TARGET_P99_8_MS)
                m = figures['guardlistd_metrics_on'][8]
                res.row('policy', 'guardlistd, 8 conn, metrics on (a second daemon, scraped every 1 s)',
                        '%.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d'
                        % (m['rps'], m['p50_ms'], m['p99_ms'], m['errors']))
                res.row('policy', 'metrics on / metrics off, 8 conn',
                        '%.0f %%' % (100 * m['rps'] / r['rps']) if r['rps'] else 'n/a')
            else:
                res.row('policy', what, value)
        ratio = g['rps'] / p['rps'] if p['rps'] else None
        what = 'ratio guardlistd/postgrey, %d conn' % conns
        value = '%.1fx' % ratio if ratio is not None else 'n/a'
        if conns == 64 and pairs and all(pairs['postgrey']):
            ratios = [gr / pr for gr, pr in zip(pairs['guardlistd'], pairs['postgrey'])]
            ratio = sorted(ratios)[len(ratios) // 2]
            what = 'ratio guardlistd/postgrey, 64 conn (median of %d paired rounds)' % len(ratios)
            value = '%.1fx (rounds: %s)' % (ratio, ', '.join('%.1fx' % x for x in ratios))
        if conns == 64:
            res.target('policy', what, value, ratio, '>=', TARGET_RATIO_64, '>= %gx' % TARGET_RATIO_64)
        else:
            res.row('policy', what, value)
        share = g['rps'] / f['rps'] if f['rps'] else None
        what = 'guardlistd / DUNNO reference, %d conn' % conns
        value = '%.0f %%' % (share * 100) if share is not None else 'n/a'
        if conns == 64 and pairs and all(pairs['reference']):
            shares = [gr / rr for gr, rr in zip(pairs['guardlistd'], pairs['reference'])]
            share = sorted(shares)[len(shares) // 2]
            what = 'guardlistd / DUNNO reference, 64 conn (median of %d paired rounds)' % len(shares)
            value = '%.0f %% (rounds: %s)' % (share * 100, ', '.join('%.0f %%' % (x * 100) for x in shares))
        if conns == 64:
            res.target('policy', what, value, share, '>=', TARGET_REF_64, '>= %.0f %%' % (TARGET_REF_64 * 100))
        else:
            res.row('policy', what, value)
    d = ctx['daemon']
    capped = len(re.findall(r'reply="DEFER_IF_PERMIT Too many new senders', d.log()))
    res.data['policy']['capped_replies_logged'] = capped
    say('guardlistd answered %d requests past a cap (logged)' % capped)


SPF_PAIRED_ROUNDS = 3


def spf_paired(ctx, args, on_port, conns):
    """spf = on / spf = off at CONNS connections: the median of
    SPF_PAIRED_ROUNDS rounds, each the two daemons back to back (in turn the
    other way round), so a drift of the machine does not decide it.
    Returns (median, [shares])."""
    shares = []
    for k in range(SPF_PAIRED_ROUNDS):
        rps = {}
        for port in ((on_port, ctx['guardlistd_port']) if k % 2 else (ctx['guardlistd_port'], on_port)):
            policyload(port, conns, args.warmup, args.rules)
            rps[port] = policyload(port, conns, args.seconds, args.rules)['rps']
        if rps[ctx['guardlistd_port']]:
            shares.append(rps[on_port] / rps[ctx['guardlistd_port']])
        say('spf on/off %3d conn (paired round %d): %.0f / %.0f req/s'
            % (conns, k + 1, rps[on_port], rps[ctx['guardlistd_port']]))
    return (statistics.median(shares) if shares else None), shares


def section_spf(res, ctx, args):
    """The policy mix with spf = on (a second guardlistd on the same rules,
    asking a private dnsmasq); its share of spf = off (the policy section's
    daemon) in paired rounds."""
    off = res.data.get('policy', {}).get('guardlistd', {})
    zone = dns.start({'known.test': 'v=spf1 ip4:192.0.2.1 -all', 'unknown.test': 'v=spf1 ?all'})
    d = h.Daemon(ctx['db'], spf='on', resolver=zone.address, **DEFAULT_CAPS)
    d.start()
    try:
        figures = {}
        res.data['spf'] = figures
        for conns in SPF_CONNS:
            policyload(d.port, conns, args.warmup, args.rules)
            r = policyload(d.port, conns, args.seconds, args.rules)
            figures[conns] = r
            say('spf on     %3d conn: %8.0f req/s  p50 %.3f ms  p99 %.3f ms  errors %d'
                % (conns, r['rps'], r['p50_ms'], r['p99_ms'], r['errors']))
            value = '%.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d' % (r['rps'], r['p50_ms'], r['p99_ms'],
                                                                      r['errors'])
            if conns == 8:
                res.target('spf', 'guardlistd spf = on, %d conn' % conns, value, r['p99_ms'], '<',
                           TARGET_SPF_P99_8_MS, 'p99 < %g ms' % TARGET_SPF_P99_8_MS)
            else:
                res.row('spf', 'guardlistd spf = on, %d conn' % conns, value)
            share, shares = spf_paired(ctx, args, d.port, conns) if off.get(conns) else (None, [])
            if share is not None:
                figures['paired_%d' % conns] = shares
                res.target('spf', 'spf = on / spf = off, %d conn (median of %d paired rounds)' % (conns, len(shares)),
                           '%.0f %% (rounds: %s)' % (share * 100, ', '.join('%.0f %%' % (x * 100) for x in shares)),
                           share, '>=', TARGET_SPF_SHARE, '>= %.0f %%' % (TARGET_SPF_SHARE * 100))
            else:
                res.row('spf', 'spf = on / spf = off, %d conn' % conns, 'n/a (no spf = off run at %d)' % conns)
        evaluations = len(re.findall(r' spf domain="', d.log()))
        res.data['spf_evaluations'] = evaluations
        res.row('spf', 'SPF evaluations (DNS) in all the runs', '%d (the rest from the cache)' % evaluations)
    finally:
        stop_daemon(d)
        zone.stop()


def set_caps(d, caps):
    """Rewrites guardlistd's caps and sends SIGHUP; waits (bounded) for the reload."""
    before = d.log().count('configuration reloaded')
    d.write_config(**caps)
    d.hup()
    good, _, _ = h.poll_until(lambda: d.log().count('configuration reloaded'), lambda n: n > before, 10)
    if not good:
        raise RuntimeError('guardlistd did not reload its configuration within 10 s')


def section_first_contact(res, ctx, args):
    """Only strangers never seen before, each a new pair: every request waits
    for its challenge to be committed (the writer batches the commits).  The
    caps are raised for it (SIGHUP), or all but a few would be capped."""
    path = os.path.join(ctx['tmp'], 'first-contact.txt')
    with open(path, 'w') as f:
        for i in range(FIRST_CONTACT_PAIRS):
            f.write('new%d@first.test kid%d@family.test\n' % (i, i % KIDS))
    set_caps(ctx['daemon'], {k: '1000000' for k in DEFAULT_CAPS})
    try:
        r = policyload(ctx['guardlistd_port'], 8, args.seconds, args.rules, pairs_file=path)
    finally:
        set_caps(ctx['daemon'], DEFAULT_CAPS)
    res.data['first_contact'] = r
    say('first contact 8 conn: %8.0f req/s  p50 %.3f ms  p99 %.3f ms  errors %d'
        % (r['rps'], r['p50_ms'], r['p99_ms'], r['errors']))
    res.row('policy', 'guardlistd, 8 conn, first contact only (every request a new stranger, '
            'answered after its challenge commits)',
            '%.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d' % (r['rps'], r['p50_ms'], r['p99_ms'], r['errors']))


def section_fold(res, ctx, args):
    """The cost of folding like Postfix (ICU) on the decision path: the same
    decisions (a protected kid, a sender allowed by a global domain rule)
    with ASCII addresses and with non-ASCII ones in mixed case, which go
    through ICU's full case folding; 8 connections each, same length."""
    db, d = ctx['db'], ctx['daemon']
    db.sql("INSERT IGNORE INTO whitelist (sender, action) VALUES ('fold-ascii.test', 'OK'), "
           "('f\u00f6ld-\u00fcml\u00e4ut.test', 'OK')")
    kinds = {'ASCII': 'Grandma%d@Fold-Ascii.TEST',
             'non-ASCII': 'Gr\u00c4ndm\u00c4%d@F\u00d6LD-\u00dcML\u00c4UT.test'}
    paths = {}
    for name, sender in kinds.items():
        paths[name] = os.path.join(ctx['tmp'], 'fold-%s.txt' % name)
        with open(paths[name], 'w', encoding='utf-8') as f:
            for i in range(1000):
                f.write('%s Kid%d@Family.TEST\n' % (sender % i, i % KIDS))
        poll = Poller(d.port, sender % 0, 'kid0@family.test')
        try:
            if poll.wait('DUNNO', CHANGE_TIMEOUT, t0=time.monotonic(), alive=d.running) is None:
                raise RuntimeError('the %s domain rule is not in force (last reply %r)' % (name, poll.last))
        finally:
            poll.close()
    # ABBA order, so that a drift of the machine during the runs leans on
    # neither kind; each kind's figure is the mean of its two runs.
    samples = {name: [] for name in kinds}
    for name in ('ASCII', 'non-ASCII', 'non-ASCII', 'ASCII'):
        policyload(d.port, 8, args.warmup, args.rules, pairs_file=paths[name])
        r = policyload(d.port, 8, args.seconds, args.rules, pairs_file=paths[name])
        samples[name].append(r)
        say('fold %s 8 conn: %8.0f req/s  p50 %.3f ms  p99 %.3f ms  errors %d'
            % (name, r['rps'], r['p50_ms'], r['p99_ms'], r['errors']))
    runs = {}
    for name, rs in samples.items():
        runs[name] = {k: statistics.mean(r[k] for r in rs) for k in ('rps', 'p50_ms', 'p99_ms')}
        runs[name]['errors'] = sum(r['errors'] for r in rs)
        r = runs[name]
        res.row('fold', 'guardlistd, 8 conn, allowed by a domain rule, %s addresses in mixed case (mean of 2)' % name,
                '%.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d' % (r['rps'], r['p50_ms'], r['p99_ms'], r['errors']))
    res.data['fold'] = runs
    res.row('fold', 'non-ASCII (ICU folding) / ASCII throughput', '%.2f' % (runs['non-ASCII']['rps'] / runs['ASCII']['rps']))


def section_change(res, ctx, args):
    """Raw SQL INSERTs (whitelist, sender_rules) until the daemon decides by them."""
    db, d = ctx['db'], ctx['daemon']
    nonce = '%x' % random.getrandbits(32)
    samples = {'whitelist': [], 'sender_rules': []}
    res.data['change'] = samples
    for i in range(args.changes):
        for table in ('whitelist', 'sender_rules'):
            sender = 'change-%s-%s-%d@rules.test' % (table.replace('_', ''), nonce, i)
            kid = 'kid%d@family.test' % (i % KIDS)
            if table == 'whitelist':
                stmt = "INSERT INTO whitelist (sender, action) VALUES (%s, 'OK')" % h.sql_str(sender)
            else:
                stmt = ("INSERT INTO sender_rules (recipient, sender, action) VALUES (%s, %s, 'OK')"
                        % (h.sql_str(kid), h.sql_str(sender)))
            # Not a synchronisation: spreads the inserts over the daemon's
            # refresh period so the samples do not all fall at one phase of it.
            time.sleep(random.uniform(0, 1.0))
            poll = Poller(d.port, sender, kid)
            try:
                t0 = time.monotonic()
                db.sql(stmt)
                secs = poll.wait('DUNNO', CHANGE_TIMEOUT, t0=t0, alive=d.running)
            finally:
                poll.close()
            if secs is None:
                raise RuntimeError('%s insert not in force within %ds (last reply %r)'
                                   % (table, CHANGE_TIMEOUT, poll.last))
            samples[table].append(round(secs, 4))
            say('rule change %d (%s): in force after %.3f s' % (i + 1, table, secs))
    every = samples['whitelist'] + samples['sender_rules']
    for table in ('whitelist', 'sender_rules'):
        s = samples[table]
        res.row('change', 'INSERT INTO %s -> in force (%d times)' % (table, len(s)),
                'median %.2f s, max %.2f s' % (statistics.median(s), max(s)))
    res.target('change', 'rule change in force, worst of %d' % len(every),
               'max %.2f s (median %.2f s)' % (max(every), statistics.median(every)),
               max(every), '<', TARGET_CHANGE_S, '< %g s' % TARGET_CHANGE_S)


def section_postfix(res, ctx):
    """tests/bench/postfix_e2e.py's rows, when the file is there."""
    # ---- Postfix end to end: tests/bench/postfix_e2e.py, run_all(ctx) -> rows ----
    if not os.path.exists(os.path.join(ROOT, 'tests', 'bench', 'postfix_e2e.py')):
        res.row('postfix', 'end to end', 'not measured (tests/bench/postfix_e2e.py absent)')
        return
    import postfix_e2e
    pctx = {k: ctx[k] for k in ('db', 'guardlistd_port', 'postgrey_port', 'cli_config', 'tmp')}
    pctx['guardlistd'] = ctx['daemon']     # lets it confirm guardlistd decided every message
    rows = postfix_e2e.run_all(pctx)
    # ---- end of the Postfix call site ----
    res.data['postfix'] = rows
    base = None
    for r in rows:
        if r.get('name') == 'no policy':
            base = r.get('msgs_per_s')
    for r in rows:
        name = r.get('name', '?')
        rate = r.get('msgs_per_s')
        ratio = r.get('ratio_to_no_policy')
        if rate is None:
            value = (r.get('note') or 'FAILED')[:160]
        else:
            value = '%.0f msg/s (%s msgs)' % (rate, r.get('messages', '?'))
            if ratio is not None and name != 'no policy':
                value += ', %.0f %% of no policy' % (ratio * 100)
        what = 'smtp-source -> Postfix, %s' % name
        if name == 'guardlistd':
            res.target('postfix', what, value, ratio if base else None, '>=', TARGET_E2E_RATIO,
                       '>= %.0f %% of no policy' % (TARGET_E2E_RATIO * 100))
        else:
            res.row('postfix', what, value)
        if rate is None and name in ('no policy', 'guardlistd'):
            res.failed.append(('postfix', '%s: %s' % (name, r.get('note'))))


TOKEN_LINK = re.compile(re.escape(h.NOTIFIER_DEFAULTS['approve_url']) + r'\?t=([0-9a-f]{32})\b')


def section_notify(res, ctx, args):
    """guardlist-notify --once over ARGS.emails pending challenges, one
    guardian a kid, the hourly cap above the count: every email a single."""
    db, name = ctx['db'], 'guardlist_mail'
    ctx['secrets'] = web.init_accounts(db, name=name)     # schema and accounts, for the approver too
    kids = ['kid%d@family.test' % k for k in range(KIDS)]
    db.sql('INSERT INTO protected_users (recipient, class) VALUES '
           + ', '.join("(%s, 'whitelist')" % h.sql_str(k) for k in kids), db=name)
    db.sql('INSERT INTO guardians (recipient, email) VALUES '
           + ', '.join('(%s, %s)' % (h.sql_str(k), h.sql_str('parent-' + k)) for k in kids), db=name)
    for start in range(0, args.emails, 500):
        db.sql('INSERT INTO challenges (sender, recipient, protected_key, client_address, client_name) VALUES '
               + ', '.join("(%s, %s, %s, '192.0.2.1', 'mx.example.net')"
                           % (h.sql_str('stranger%d@unknown.test' % i), h.sql_str(kids[i % KIDS]),
                              h.sql_str(kids[i % KIDS]))
                           for i in range(start, min(args.emails, start + 500))), db=name)
    sink = h.SmtpSink()
    sink.start()
    ctx['sink'] = sink
    cfg = h.notify_config(db, sink.port, name=name, notifier={'max_per_hour': str(args.emails * 10)})
    t0 = time.monotonic()
    rc, out, err = h.notify(cfg, '--once', timeout=600)
    secs = time.monotonic() - t0
    if rc != 0:
        raise RuntimeError('guardlist-notify --once exited %d: %s' % (rc, err[-800:]))
    good, n, _ = h.poll_until(lambda: len(sink.files()), lambda v: v >= args.emails, 30)
    singles = int(db.value("SELECT COUNT(*) FROM notifications WHERE kind = 'single'", db=name))
    rate = n / secs
    res.data['notify'] = {'emails': n, 'singles': singles, 'seconds': round(secs, 3), 'emails_per_s': round(rate, 1)}
    say('guardlist-notify --once: %d emails (%d singles recorded) in %.2f s = %.0f/s' % (n, singles, secs, rate))
    if n != args.emails or singles != args.emails:
        res.failed.append(('notify', 'expected %d single emails, got %d at the sink, %d recorded'
                           % (args.emails, n, singles)))
    res.target('notify', 'guardlist-notify --once, %d challenges -> smtp-sink' % args.emails,
               '%.0f emails/s (%d emails in %.2f s)' % (rate, n, secs), rate, '>=', TARGET_EMAILS_S,
               '>= %g emails/s' % TARGET_EMAILS_S)


def mail_tokens(sink):
    """The approval-link tokens of the emails at SINK, one an email."""
    out = []
    for raw in sink.messages():
        _, body = h.SmtpSink.split(raw)
        m = email.message_from_bytes(body, policy=email.policy.default)
        part = m.get_body(preferencelist=('plain',))
        text = part.get_content() if part is not None else ''
        found = TOKEN_LINK.findall(text)
        if found:
            out.append(found[0])
    return out


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round((len(s) - 1) * p)))]


def latency_rows(res, section, label, runs_by_method, targets):
    """Figures and target rows for {method: [(ms, status)]}; returns the figures."""
    figures = {}
    for method, runs in runs_by_method:
        ms = [m for m, _ in runs]
        bad = sum(1 for _, st in runs if st != 200)
        figures[method] = {'n': len(ms), 'p50_ms': round(pct(ms, 0.5), 3), 'p99_ms': round(pct(ms, 0.99), 3),
                           'max_ms': round(max(ms), 3), 'non_200': bad}
        say('%s %s %s x%d: p50 %.2f ms p99 %.2f ms max %.2f ms, %d not 200'
            % (section, label, method, len(ms), pct(ms, 0.5), pct(ms, 0.99), max(ms), bad))
        if bad:
            res.failed.append((section, '%s: %d of %d %s requests not answered 200' % (label, bad, len(ms), method)))
        limit = targets[method]
        res.target(section, '%s %s, %d requests' % (method, label, len(ms)),
                   'p50 %.2f ms, p99 %.2f ms, %d not 200' % (pct(ms, 0.5), pct(ms, 0.99), bad),
                   pct(ms, 0.99), '<', limit, 'p99 < %g ms' % limit)
    return figures


def section_approve(res, ctx, args):
    """GET and POST of the approval page through lighttpd, distinct tokens:
    as a CGI, then as FastCGI processes."""
    db, name = ctx['db'], 'guardlist_mail'
    if 'sink' not in ctx:
        raise RuntimeError('needs the notifier section (its emails carry the tokens)')
    tokens = mail_tokens(ctx['sink'])
    warm = 10
    need = warm + args.gets + args.posts
    if len(set(tokens)) < 2 * need:
        raise RuntimeError('%d distinct tokens in the emails, %d needed' % (len(set(tokens)), 2 * need))
    random.shuffle(tokens)
    conf = web.approver_config(db, ctx['secrets'], name=name)
    figures = {}
    for mode, toks in (('cgi', tokens[:need]), ('fastcgi', tokens[need:2 * need])):
        www = web.Lighttpd(web.approve_binary(), {'GUARDLIST_CONFIG': conf},
                           fastcgi=FCGI_PROCS if mode == 'fastcgi' else 0)
        cpu = {}
        runs = approve_runs(www, toks, warm, args, cpu, db.proc.pid if db.proc else None)
        label = '/approve through lighttpd, %s' % ('CGI' if mode == 'cgi' else
                                                   'FastCGI (%d processes)' % FCGI_PROCS)
        targets = ({'GET': TARGET_APPROVE_P99_MS, 'POST': TARGET_APPROVE_P99_MS} if mode == 'cgi'
                   else {'GET': TARGET_FCGI_GET_P99_MS, 'POST': TARGET_FCGI_POST_P99_MS})
        figures[mode] = latency_rows(res, 'approve', label, runs, targets)
        if cpu:
            figures[mode]['cpu'] = cpu
            res.row('approve', 'CPU a request, FastCGI (the processes + MariaDB)',
                    ', '.join('%s %d + %d µs' % (m, c['program_us'], c['mariadb_us']) for m, c in sorted(cpu.items())))
    decided = int(db.value("SELECT COUNT(*) FROM challenges WHERE status = 'approved'", db=name))
    figures['approved_after_posts'] = decided
    res.data['approve'] = figures
    if decided != 2 * args.posts:
        res.failed.append(('approve', '%d POSTs approved %d challenges' % (2 * args.posts, decided)))


def cpu_seconds(pids):
    """User + system CPU seconds of PIDS so far (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf('SC_CLK_TCK')


def approve_runs(www, tokens, warm, args, cpu=None, db_pid=None):
    """WARM GETs, then ARGS.gets timed GETs and ARGS.posts timed POSTs
    (allow) of TOKENS at WWW; returns [(method, [(ms, status)])].  For
    FastCGI, CPU (a dict) gets each method's CPU per request in µs of the
    processes and of DB_PID (MariaDB): figures the machine's load does not
    change the way it changes latency."""
    www.start()
    try:
        def timed(method, tok):
            t0 = time.perf_counter()
            if method == 'GET':
                r = www.request('GET', '/approve?t=' + tok)
            else:
                r = www.request('POST', '/approve', body='t=%s&choice=allow' % tok,
                                headers={'Content-Type': 'application/x-www-form-urlencoded'})
            return (time.perf_counter() - t0) * 1000, r.status

        def measured(method, toks):
            pids = www.fastcgi_pids()
            p0, d0 = cpu_seconds(pids), cpu_seconds([db_pid] if db_pid else [])
            out = [timed(method, t) for t in toks]
            if cpu is not None and pids:
                cpu[method] = {'program_us': round((cpu_seconds(pids) - p0) / len(toks) * 1e6),
                               'mariadb_us': round((cpu_seconds([db_pid] if db_pid else []) - d0) / len(toks) * 1e6)}
            return out

        for tok in tokens[:warm]:
            timed('GET', tok)
        gets = measured('GET', tokens[warm:warm + args.gets])
        posts = measured('POST', tokens[warm + args.gets:warm + args.gets + args.posts])
    finally:
        www.stop()
    return [('GET', gets), ('POST', posts)]


ADMIN_USER, ADMIN_PW = 'admin', 'bench-admin-pw'


def section_admin(res, ctx, args):
    """The admin page (Basic auth, an admin): ARGS.gets GETs of the
    protected list and ARGS.posts POSTs setting a rule, as a CGI and as
    FastCGI processes."""
    db, name = ctx['db'], 'guardlist_mail'
    if 'secrets' not in ctx:
        raise RuntimeError('needs the notifier section (its schema and accounts)')
    conf = web.web_config(db, ctx['secrets'], admins=ADMIN_USER, name=name)
    auth = 'Basic ' + base64.b64encode(('%s:%s' % (ADMIN_USER, ADMIN_PW)).encode()).decode()
    figures = {}
    for mode in ('cgi', 'fastcgi'):
        www = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': conf}, url_path='/admin',
                           users={ADMIN_USER: ADMIN_PW}, fastcgi=FCGI_PROCS if mode == 'fastcgi' else 0,
                           auth_cache=True)
        www.start()
        try:
            def timed(method, body=None):
                hd = {'Authorization': auth}
                if body:
                    hd['Content-Type'] = 'application/x-www-form-urlencoded'
                t0 = time.perf_counter()
                r = www.request(method, '/admin' + ('' if body else '?p=protected'), body=body, headers=hd)
                return (time.perf_counter() - t0) * 1000, r.status, r

            page = None
            for _ in range(10):
                page = timed('GET')[2]
            m = re.search(r'name="csrf" value="([^"]+)"', page.text if page else '')
            if not m:
                raise RuntimeError('no form token on the admin page (status %s)' % (page and page.status))
            gets = [timed('GET')[:2] for _ in range(args.gets)]
            posts = [timed('POST', 'do=rule-set&p=rules&rcpt=kid%d%%40family.test&sender=bench%s%d%%40admin.test'
                           '&kind=allow&csrf=%s' % (i % KIDS, mode, i, m.group(1)))[:2]
                     for i in range(args.posts)]
        finally:
            www.stop()
        label = '/admin through lighttpd, %s' % ('CGI' if mode == 'cgi' else 'FastCGI (%d processes)' % FCGI_PROCS)
        targets = ({'GET': TARGET_APPROVE_P99_MS, 'POST': TARGET_APPROVE_P99_MS} if mode == 'cgi'
                   else {'GET': TARGET_FCGI_GET_P99_MS, 'POST': TARGET_FCGI_POST_P99_MS})
        figures[mode] = latency_rows(res, 'admin', label, [('GET', gets), ('POST', posts)], targets)
    res.data['admin'] = figures


# ------------------------------------------------------------ the run

def run(args, res):
    ctx = {'tmp': h.tmpdir('guardlist-bench-')}
    mach = machine()
    res.data['machine'] = mach
    say('machine: %s, %s cores, kernel %s, commit %s' % (mach['cpu'], mach['cores'], mach['kernel'], mach['commit']))

    db = h.start_db()
    ctx['db'] = db
    ctx['cli_config'] = h.cli_config(db)
    db.sql('INSERT INTO protected_users (recipient, class) VALUES '
           + ', '.join("('kid%d@family.test', 'whitelist')" % k for k in range(KIDS)))
    sender, kid = known_pair(args.rules)

    # memory with 0 rules, then the load taken in by the running daemon
    d = h.Daemon(db)
    d.start()
    rss0 = vm_rss(d.proc.pid)
    say('guardlistd with 0 rules: VmRSS %s' % mb(rss0))
    load_secs = load_rules(db, args.rules, ctx['tmp'])
    say('loaded %d rules with LOAD DATA in %.1f s' % (args.rules, load_secs))
    poll = Poller(d.port, sender, kid, interval=0.02)
    try:
        took = poll.wait('DUNNO', RELOAD_TIMEOUT, alive=d.running)
    finally:
        poll.close()
    if took is None:
        raise RuntimeError('the running guardlistd did not take in the %d rules within %ds (last %r):\n%s'
                           % (args.rules, RELOAD_TIMEOUT, poll.last, d.log()[-2000:]))
    rss_live = vm_rss(d.proc.pid)
    live_ms = daemon_log_ms(d)
    say('running guardlistd took the rules in %.2f s after the load (reload %s ms); VmRSS %s'
        % (took, live_ms, mb(rss_live)))
    stop_daemon(d)

    # start-up with every rule; the default caps, as deployed
    d = h.Daemon(db, **DEFAULT_CAPS)
    ctx['daemon'] = d
    poll = Poller(d.port, sender, kid)
    try:
        t0 = time.monotonic()
        d._spawn()
        startup = poll.wait('DUNNO', START_TIMEOUT, t0=t0, alive=d.running)
    finally:
        poll.close()
    if startup is None:
        raise RuntimeError('guardlistd with %d rules answered no known pair within %ds (last %r):\n%s'
                           % (args.rules, START_TIMEOUT, poll.last, d.log()[-2000:]))
    start_ms = daemon_log_ms(d)
    rss_fresh = vm_rss(d.proc.pid)
    ctx['guardlistd_port'] = d.port
    say('guardlistd start-up to the first known pair answered: %.3f s (rules loaded in %s ms); VmRSS %s'
        % (startup, start_ms, mb(rss_fresh)))

    limit = TARGET_RSS_BASE + TARGET_RSS_PER_RULE * args.rules
    res.data['setup'] = {'rules': args.rules, 'load_data_s': round(load_secs, 2)}
    res.data['memory'] = {'rss_0_rules': rss0, 'rss_after_live_load': rss_live, 'rss_fresh_start': rss_fresh,
                          'limit': limit}
    res.data['start'] = {'seconds_to_first_known_pair': round(startup, 3), 'daemon_load_ms': start_ms,
                         'live_reload_s': round(took, 3), 'live_reload_daemon_ms': live_ms}
    res.row('setup', '%s rules into sender_rules (LOAD DATA LOCAL INFILE)' % '{:,}'.format(args.rules),
            '%.1f s' % load_secs)
    res.row('memory', 'guardlistd VmRSS, 0 rules', mb(rss0))
    rules_text = '{:,}'.format(args.rules)
    res.target('memory', 'guardlistd VmRSS, %s rules loaded while running' % rules_text, mb(rss_live),
               rss_live, '<', limit, '< 64 MB + 150 B/rule = %s' % mb(limit))
    res.target('memory', 'guardlistd VmRSS, %s rules, fresh start' % rules_text, mb(rss_fresh),
               rss_fresh, '<', limit, '< %s' % mb(limit))
    res.row('start', 'spawn -> first known pair answered DUNNO, %s rules' % rules_text,
            '%.2f s (daemon logged load %s ms)' % (startup, '%.0f' % start_ms if start_ms is not None else '?'))
    res.row('start', 'bulk load -> in force in the running daemon', '%.2f s' % took)

    grey = Postgrey()
    grey.start()
    ctx['postgrey_port'] = grey.port
    ref = Reference()
    ref.start()
    res.data['versions'] = {'postgrey': mach.get('postgrey'), 'mariadb': mach.get('mariadb')}

    sections = [
        ('policy', lambda: section_policy(res, ctx, args, grey, ref)),
        ('spf', lambda: section_spf(res, ctx, args)),
        ('first', lambda: section_first_contact(res, ctx, args)),
        ('fold', lambda: section_fold(res, ctx, args)),
        ('change', lambda: section_change(res, ctx, args)),
        ('postfix', lambda: section_postfix(res, ctx)),
        ('notify', lambda: section_notify(res, ctx, args)),
        ('approve', lambda: section_approve(res, ctx, args)),
        ('admin', lambda: section_admin(res, ctx, args)),
    ]
    for name, fn in sections:
        if name in args.skip:
            res.row(name, 'skipped (--skip)', '')
            continue
        if name in ('approve', 'admin') and 'notify' in args.skip:
            res.row(name, 'skipped (its tokens come from the notify section)', '')
            continue
        if not d.running():
            res.fail(name, 'guardlistd is no longer running (exit %s): %s'
                     % (d.proc.returncode, d.log()[-300:].replace('\n', ' ')))
            continue
        say('--- %s' % name)
        t0 = time.monotonic()
        try:
            fn()
        except (Exception, h.TimeLimit) as e:    # noqa: B902 - one section's failure is a row
            say('%s FAILED:\n%s' % (name, traceback.format_exc()))
            res.fail(name, '%s: %s' % (type(e).__name__, e))
        say('--- %s: %.1f s' % (name, time.monotonic() - t0))
    grey.stop()
    ref.stop()
    stop_daemon(d)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog='bench.py',
        description='guardlist benchmark (make bench): guardlistd with many rules against postgrey, '
                    'memory, start-up, rule-change latency, Postfix end to end, notifier and approval '
                    'page.  Everything runs privately on 127.0.0.1; prints one table and writes it to '
                    'var/bench/results.md and results.json.',
        epilog='Needs `make all build/bench/policyload build/bench/dunnod` and the packages of '
               '`sh scripts/deps.sh bench`; '
               'make bench does all of it.  Exit status 0, or 1 when a section could not be run '
               '(a missed target is not a failure).')
    p.add_argument('--rules', type=int, default=1000000, help='per-recipient rules loaded (default 1000000)')
    p.add_argument('--seconds', type=float, default=5, help='each measured policyload run (default 5)')
    p.add_argument('--warmup', type=float, default=1, help='warm-up run before each (default 1)')
    p.add_argument('--conns', default='1,8,64', help='connection counts (default 1,8,64)')
    p.add_argument('--changes', type=int, default=5, help='rule changes per table (default 5)')
    p.add_argument('--emails', type=int, default=1000, help='challenges for the notifier (default 1000)')
    p.add_argument('--gets', type=int, default=200, help='approval-page GETs (default 200)')
    p.add_argument('--posts', type=int, default=100, help='approval-page POSTs (default 100)')
    p.add_argument('--skip', default='', help='comma-separated sections to skip: policy,spf,first,fold,change,'
                                              'postfix,notify,approve,admin')
    p.add_argument('--out', default=OUT_DIR, help='where results.md and results.json go (default var/bench)')
    args = p.parse_args(argv)
    try:
        args.conns = [int(c) for c in args.conns.split(',') if c]
    except ValueError:
        p.error('--conns: comma-separated numbers')
    args.skip = set(s for s in args.skip.split(',') if s)
    unknown = args.skip - {'policy', 'spf', 'first', 'fold', 'change', 'postfix', 'notify', 'approve', 'admin'}
    if unknown:
        p.error('--skip: unknown section(s) %s' % ', '.join(sorted(unknown)))
    if args.rules < KIDS or args.seconds <= 0 or args.warmup <= 0 or not args.conns or args.changes < 1 \
            or args.emails < 1 or args.gets < 1 or args.posts < 1:
        p.error('--rules at least %d; times, counts and connections positive' % KIDS)
    if args.emails < 2 * (10 + args.gets + args.posts) and 'approve' not in args.skip:
        p.error('--emails must be at least 2 x (10 + --gets + --posts) (the approval page, as a CGI and as '
                'FastCGI, uses their tokens)')
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    for path, what in ((LOAD, 'make build/bench/policyload'), (DUNNOD, 'make build/bench/dunnod'),
                       (h.daemon_binary(), 'make all'),
                       (POSTGREY, 'sh scripts/deps.sh bench')):
        if not os.access(path, os.X_OK):
            sys.stderr.write('bench: error: %s missing: run %s (or make bench)\n' % (path, what))
            return 2
    signal.signal(signal.SIGTERM, h._terminated)
    signal.signal(signal.SIGALRM, h._alarm)
    signal.alarm(OVERALL_TIMEOUT)
    res = Results()
    t_start = time.monotonic()
    try:
        run(args, res)
    except (Exception, h.TimeLimit, h.Terminated, KeyboardInterrupt) as e:   # noqa: B902
        say('FAILED:\n%s' % traceback.format_exc())
        res.fail('run', '%s: %s' % (type(e).__name__, e))
    finally:
        signal.alarm(0)
        for p in list(h._procs):            # daemons first, MariaDB last (harness order)
            if isinstance(p, h.Daemon):
                stop_daemon(p)
        h.cleanup()
    total = time.monotonic() - t_start
    mach = res.data.get('machine') or machine()
    head = ('guardlist bench, commit %s, %s; %s, %s cores, kernel %s; MariaDB %s, postgrey %s; '
            'load average at start %s; run %.0f s.\nPolicy runs: policyload mix 80/15/5 (known pairs / '
            'unknown senders / unprotected recipients), %g s measured after a %g s warm-up; '
            'guardlistd logs every decision (level info, to a file) and has its default hourly caps on new '
            'challenges: the mix\'s 1,500 strangers all come from one client address, a flood past the '
            'per-client cap of 200.  The DUNNO reference (tests/bench/dunnod) answers at once on every core.'
            % (mach['commit'], mach['date'], mach['cpu'], mach['cores'], mach['kernel'], mach['mariadb'],
               mach['postgrey'], ' '.join(mach['loadavg_at_start'] or ['?']), total, args.seconds, args.warmup))
    text = head + '\n\n' + table(res.rows) + '\n'
    sys.stdout.write(text)
    sys.stdout.flush()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'results.md'), 'w') as f:
        f.write(text)
    out = {'machine': mach, 'run_seconds': round(total, 1), 'rows': res.rows,
           'failed': [{'section': s, 'reason': r} for s, r in res.failed]}
    out.update({k: v for k, v in res.data.items() if k != 'machine'})
    with open(os.path.join(args.out, 'results.json'), 'w') as f:
        json.dump(out, f, indent=2, default=str)
        f.write('\n')
    say('written: %s, %s' % (os.path.join(args.out, 'results.md'), os.path.join(args.out, 'results.json')))
    return 1 if res.failed else 0


if __name__ == '__main__':
    sys.exit(main())
