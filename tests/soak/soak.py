#!/usr/bin/python3
"""make soak: guardlistd's ASan+UBSan build under steady load for a set time
(default 300 s), with the rules changing under it, then a clean stop.

The load is tests/bench/policyload's mix (80 % known pairs, 15 % unknown
senders, 5 % unprotected recipients, 1,000 rules) on 8 connections for the
whole run.  Meanwhile, every two seconds, a rule is inserted (added to the
rules in memory), every ten seconds a rule is deleted (a full reload) and a
challenge is denied, and every thirty seconds the daemon gets SIGHUP.  VmRSS
is sampled every five seconds.

Passes when: policyload saw no error, the daemon exits 0 on SIGTERM, its
stderr holds no sanitizer report (LeakSanitizer runs at exit), and VmRSS in
the last minute is no more than 10 % above VmRSS one minute in (after the
warm-up; ASan's quarantine is kept small so it fills early).  Prints the
figures and exits 0 or 1.  Everything runs privately on 127.0.0.1."""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

LOAD = os.path.join(ROOT, 'build', 'bench', 'policyload')
ASAN_DAEMON = os.path.join(ROOT, 'build', 'asan', 'guardlistd')
RULES = 1000
KIDS = 100
RSS_GROWTH_MAX = 0.10


class QuietDaemon(h.Daemon):
    """guardlistd logging warnings only: a decision line per request would
    write gigabytes in a soak."""

    def write_config(self, **policy):
        super().write_config(**policy)
        with open(self.config) as f:
            text = f.read()
        with open(self.config, 'w') as f:
            f.write(text.replace('level = info', 'level = warning'))


def rss_kb(pid):
    rss = h.proc_status(pid).get('VmRSS')
    return int(rss[0]) if rss else None


def say(*lines):
    for line in lines:
        print('soak: ' + line, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seconds', type=int, default=300, help='length of the run (default 300)')
    args = p.parse_args()
    if args.seconds < 90:
        p.error('--seconds: at least 90 (RSS is compared from the first minute on)')
    for path in (LOAD, ASAN_DAEMON):
        if not os.access(path, os.X_OK):
            p.error('%s is missing: make asan build/bench/policyload (make soak does it)' % path)

    os.environ['GUARDLISTD'] = ASAN_DAEMON
    os.environ['ASAN_OPTIONS'] = 'detect_leaks=1:quarantine_size_mb=16:halt_on_error=0'
    os.environ['UBSAN_OPTIONS'] = 'print_stacktrace=1'
    failures = []
    db = h.start_db()
    d = None
    load = None
    try:
        for k in range(KIDS):
            db.sql("INSERT INTO protected_users (recipient, class) VALUES ('kid%d@family.test', 'whitelist')" % k)
        rows = subprocess.run([LOAD, '--print-rules', str(RULES)], stdout=subprocess.PIPE, check=True,
                              timeout=30).stdout.decode().splitlines()
        db.sql('INSERT INTO sender_rules (recipient, sender, action) VALUES '
               + ','.join('(%s, %s, %s)' % tuple(h.sql_str(v) for v in r.split('\t')) for r in rows))
        d = QuietDaemon(db)
        d.start()
        say('guardlistd (ASan+UBSan) pid %d on port %d, %d rules; %d s of load'
            % (d.proc.pid, d.port, RULES, args.seconds))
        load = subprocess.Popen([LOAD, '-t', '127.0.0.1:%d' % d.port, '-c', '8', '-d', str(args.seconds),
                                 '--rules', str(RULES), '--json'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t0 = time.monotonic()
        samples = []
        n = 0
        next_sample = 0.0
        while load.poll() is None and time.monotonic() - t0 < args.seconds + 30:
            el = time.monotonic() - t0
            if el >= next_sample:
                samples.append((round(el), rss_kb(d.proc.pid)))
                next_sample += 5
            n += 1
            db.sql("INSERT INTO whitelist (sender, action) VALUES ('soak%d@rules.test', 'OK')" % n)
            if n % 5 == 0:
                db.sql("DELETE FROM whitelist WHERE sender = 'soak%d@rules.test'" % (n - 4))
                db.sql("UPDATE challenges SET status = 'denied', is_open = NULL, decided_at = NOW() "
                       "WHERE is_open = 1 ORDER BY id LIMIT 1")
            if n % 15 == 0:
                d.hup()
            if not d.running():
                failures.append('guardlistd exited during the run')
                break
            load_wait = 2.0
            try:
                load.wait(load_wait)
            except subprocess.TimeoutExpired:
                pass
        out, err = load.communicate(timeout=60)
        res = json.loads(out.decode() or '{}')
        say('policyload: %s requests in %s s, %s/s, p50 %s ms, p99 %s ms, max %s ms, errors %s'
            % (res.get('requests'), res.get('seconds'), res.get('rps'), res.get('p50_ms'), res.get('p99_ms'),
               res.get('max_ms'), res.get('errors')))
        if res.get('errors') != 0 or not res.get('requests'):
            failures.append('policyload: %s errors (%s)' % (res.get('errors'), err.decode()[-300:].strip()))
        say('rule changes: %d inserts, %d deletes, %d denials, %d SIGHUPs' % (n, n // 5, n // 5, n // 15))
        say('VmRSS samples (s: kB): ' + ' '.join('%d:%d' % s for s in samples if s[1]))
        base = [kb for s, kb in samples if 55 <= s <= 65 and kb]
        tail = [kb for s, kb in samples if s >= args.seconds - 60 and kb]
        if base and tail:
            growth = max(tail) / float(base[0]) - 1
            say('VmRSS one minute in %d kB, highest in the last minute %d kB: %+.1f %%'
                % (base[0], max(tail), growth * 100))
            if growth > RSS_GROWTH_MAX:
                failures.append('VmRSS grew %.1f %% (limit %d %%)' % (growth * 100, RSS_GROWTH_MAX * 100))
        else:
            failures.append('too few VmRSS samples')
        rc = d.stop(check=False)
        marks = d.sanitizer_report()
        say('guardlistd exit status %s; sanitizer reports: %s' % (rc, ', '.join(marks) or 'none'))
        if rc != 0:
            failures.append('guardlistd exit status %s' % rc)
        if marks:
            failures.append('sanitizer report: %s\n%s' % (', '.join(marks), d.log()[-4000:]))
        d = None
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        if d is not None:
            d.stop(check=False)
        db.stop()
        h.cleanup()
    if failures:
        say('FAILED:', *failures)
        return 1
    say('passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
