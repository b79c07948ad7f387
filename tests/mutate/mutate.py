#!/usr/bin/python3
"""mutate.py - `make mutate`: a small mutation run over guardlist's C code.

Each mutant in tests/mutate/mutants.txt names a file, a snippet that occurs
exactly once in it, its replacement, the unit tests and integration scripts
that should notice, and why the change matters.  One mutant at a time, this
writes the change, builds (`make unit`, then `make all` when integration
scripts are listed), runs the listed unit test binaries and then `prove`s the
listed scripts (GUARDLISTD as tests/run-all.sh sets it), stopping at the
first failure: the mutant is killed.  A mutant nothing fails for survives.

The file is always restored: in a finally block, with SIGINT, SIGTERM and
SIGHUP turned into an exception and blocked while restoring, each child run
in its own process group and killed with it; the original is also kept in
build/mutate/journal/ first, so a run killed with SIGKILL is undone by the
next run.  After restoring, `git diff --quiet -- FILE` must hold, or the run
stops.  At the end the clean tree is built again, so bin/ is not a mutant.

Output: a line per mutant, then exactly one line
`mutation score: K of N killed`, then each survivor (and each mutant that
could not run: a snippet not found exactly once, a build that fails) with
its file, snippet and why.  N counts every mutant listed; one that could
not run counts as not killed.  Logs: build/mutate/logs/ID.log.
Exit status: 0, or 1 when a mutant could not run or the score is below
--min-score (default 95), 2 for usage errors.

Usage: tests/mutate/mutate.py [--list FILE] [--only ID[,ID...]] [--every]
       [--check] [--min-score PCT]
  --only   run just these mutants (ids as in the list)
  --every  run every test listed for a mutant, not only up to the first
           that fails, and name each one that failed (to show which tests
           catch a mutant)
  --check  only check that every snippet is found exactly once; build nothing
"""
import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIST = ROOT / 'tests' / 'mutate' / 'mutants.txt'
WORK = ROOT / 'build' / 'mutate'
JOURNAL = WORK / 'journal'
LOGS = WORK / 'logs'
KEYS = ('id', 'file', 'find', 'repl', 'unit', 'it', 'why')
SEARCH_DIRS = ('lib', 'daemon', 'notifier', 'approver', 'web', 'admin')
BUILD_TIMEOUT = 900
UNIT_TIMEOUT = 120
IT_TIMEOUT = 900
MAKE = ['make', '--no-print-directory', '-j2']


class Interrupted(BaseException):
    pass


def on_signal(signum, frame):
    raise Interrupted('signal %d' % signum)


# ------------------------------------------------------------------ the list

def parse_list(path):
    """Mutants from PATH: blocks of `key: value` lines separated by blank
    lines; '#' lines are comments.  Values are literal (one line each; the
    blanks after the colon and at the end of the line are not part of it)."""
    mutants, cur, errors = [], {}, []
    n = 0

    def close(lineno):
        if not cur:
            return
        missing = [k for k in ('id', 'file', 'find', 'repl', 'why') if not cur.get(k)]
        if missing:
            errors.append('%s: mutant ending at line %d lacks %s' % (path, lineno, ', '.join(missing)))
        elif not cur.get('unit') and not cur.get('it'):
            errors.append('%s: mutant %s lists no unit test and no integration script' % (path, cur['id']))
        else:
            cur['unit'] = cur.get('unit', '').split()
            cur['it'] = cur.get('it', '').split()
            mutants.append(dict(cur))
        cur.clear()

    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip('\n').rstrip()
            if line.startswith('#'):
                continue
            if not line:
                close(n)
                continue
            key, sep, value = line.partition(':')
            if not sep or key not in KEYS:
                errors.append('%s:%d: expected one of %s, then ":"' % (path, n, ', '.join(KEYS)))
                continue
            if key in cur:
                errors.append('%s:%d: %s given twice in one mutant' % (path, n, key))
            cur[key] = value.lstrip()
        close(n + 1)
    seen = set()
    for m in mutants:
        if m['id'] in seen:
            errors.append('%s: mutant id %s used twice' % (path, m['id']))
        seen.add(m['id'])
    return mutants, errors


def locate(m):
    """Checks that M's snippet occurs exactly once in its file.  Returns
    None, or why not (naming where the snippet is now, after a move)."""
    path = ROOT / m['file']
    if not path.is_file():
        text = None
    else:
        text = path.read_text(encoding='utf-8')
    if text is not None:
        n = text.count(m['find'])
        if n == 1:
            if m['find'] == m['repl']:
                return 'the replacement equals the snippet'
            return None
        if n > 1:
            return 'snippet found %d times in %s (make it longer, unique)' % (n, m['file'])
    elsewhere = []
    for d in SEARCH_DIRS:
        for p in sorted((ROOT / d).glob('*.[ch]')):
            if m['find'] in p.read_text(encoding='utf-8', errors='replace'):
                elsewhere.append(str(p.relative_to(ROOT)))
    where = ('; it is in %s now' % ', '.join(elsewhere)) if elsewhere else ''
    return ('%s does not exist' % m['file'] if text is None else 'snippet not found in %s' % m['file']) + where


# ------------------------------------------------------------ running things

def run(cmd, log, timeout, env=None):
    """Runs CMD in its own process group, output appended to LOG.  Returns
    the exit status, or None on timeout.  On any exception (an interrupt)
    the whole group is killed first."""
    log.write('$ %s\n' % ' '.join(cmd))
    log.flush()
    p = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         env=env, start_new_session=True)
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_group(p)
        log.write('(timed out after %d s)\n' % timeout)
        return None
    except BaseException:
        kill_group(p)
        raise
    log.write('(exit %d)\n' % rc)
    log.flush()
    return rc


def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        pass


def git_clean(files):
    r = subprocess.run(['git', 'diff', '--quiet', 'HEAD', '--'] + list(files), cwd=ROOT)
    return r.returncode == 0


def write_atomic(path, data):
    tmp = path.with_name(path.name + '.mutate-tmp')
    tmp.write_bytes(data)
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)


def journal_path(rel):
    return JOURNAL / rel.replace('/', '%')


def restore_from_journal():
    """Undoes a run that was killed before it could restore (SIGKILL)."""
    if not JOURNAL.is_dir():
        return []
    done = []
    for j in sorted(JOURNAL.iterdir()):
        rel = j.name.replace('%', '/')
        write_atomic(ROOT / rel, j.read_bytes())
        j.unlink()
        done.append(rel)
    return done


SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class Mutation:
    """Context: the file holds the mutant inside, the original after.  The
    signals are blocked while a file is written, so an interrupt cannot
    leave half a change; one that comes in between is undone from the
    journal by main()."""

    def __init__(self, m):
        self.rel = m['file']
        self.path = ROOT / m['file']
        self.m = m

    def __enter__(self):
        old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            self.orig = self.path.read_bytes()
            JOURNAL.mkdir(parents=True, exist_ok=True)
            journal_path(self.rel).write_bytes(self.orig)
            text = self.orig.decode('utf-8')
            write_atomic(self.path, text.replace(self.m['find'], self.m['repl'], 1).encode('utf-8'))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return self

    def __exit__(self, *exc):
        old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            write_atomic(self.path, self.orig)
            journal_path(self.rel).unlink()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        if not git_clean([self.rel]):
            sys.stderr.write('mutate: fatal: %s differs from git after restoring it; stopping\n' % self.rel)
            os._exit(1)
        return False


def run_mutant(m, log, every=False):
    """Returns ('killed', by what) or ('survived', '') or ('error', why).
    Stops at the first test that fails, unless EVERY: then every listed
    test runs and 'by what' names each one that failed."""
    failed = []
    with Mutation(m):
        if m['unit']:
            rc = run(MAKE + ['unit'], log, BUILD_TIMEOUT)
            if rc != 0:
                return 'error', 'the mutant does not build (make unit)'
            env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT='TAP')
            for t in m['unit']:
                binary = ROOT / 'build' / 'tests' / t
                if not binary.exists():
                    return 'error', 'no unit test %s' % t
                rc = run([str(binary)], log, UNIT_TIMEOUT, env)
                if rc != 0:
                    failed.append('unit %s' % t + (' (timeout)' if rc is None else ''))
                    if not every:
                        return 'killed', failed[0]
        if m['it']:
            rc = run(MAKE + ['all'], log, BUILD_TIMEOUT)
            if rc != 0:
                return 'error', 'the mutant does not build (make all)'
            env = dict(os.environ, GUARDLISTD=str(ROOT / 'bin' / 'guardlistd'))
            for t in m['it']:
                script = ROOT / 'tests' / 'integration' / t
                if not script.exists():
                    return 'error', 'no integration script %s' % t
                rc = run(['prove', '-v', str(script)], log, IT_TIMEOUT, env)
                if rc != 0:
                    failed.append(t + (' (timeout)' if rc is None else ''))
                    if not every:
                        return 'killed', failed[0]
    return ('killed', ', '.join(failed)) if failed else ('survived', '')


def fmt_time(secs):
    return '%d min %02d s' % (secs // 60, secs % 60)


def main():
    ap = argparse.ArgumentParser(description='mutation run over guardlist (see the docstring)')
    ap.add_argument('--list', default=str(LIST))
    ap.add_argument('--only', action='append', default=[])
    ap.add_argument('--check', action='store_true')
    ap.add_argument('--every', action='store_true')
    ap.add_argument('--min-score', type=float, default=95.0)
    args = ap.parse_args()

    mutants, errors = parse_list(args.list)
    if errors:
        for e in errors:
            print('mutate: error: ' + e, file=sys.stderr)
        return 2
    if args.only:
        want = [i for o in args.only for i in o.split(',') if i]
        unknown = [i for i in want if i not in {m['id'] for m in mutants}]
        if unknown:
            print('mutate: error: no mutant %s in %s' % (', '.join(unknown), args.list), file=sys.stderr)
            return 2
        mutants = [m for m in mutants if m['id'] in want]

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    restored = restore_from_journal()
    for rel in restored:
        print('mutate: restored %s, left mutated by a run that was killed' % rel)

    problems = {m['id']: locate(m) for m in mutants}
    if args.check:
        bad = [(m, problems[m['id']]) for m in mutants if problems[m['id']]]
        for m, why in bad:
            print('%s: %s' % (m['id'], why))
        print('%d of %d snippets found exactly once' % (len(mutants) - len(bad), len(mutants)))
        return 1 if bad else 0

    files = sorted({m['file'] for m in mutants if not problems[m['id']]})
    if not git_clean(files):
        print('mutate: error: uncommitted changes in %s; commit or stash them first (the run restores '
              'each file to what git has)' % ' '.join(files), file=sys.stderr)
        return 2
    LOGS.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    results = []
    try:
        for i, m in enumerate(mutants, 1):
            t0 = time.monotonic()
            if problems[m['id']]:
                status, how = 'error', problems[m['id']]
            else:
                with open(LOGS / ('%s.log' % m['id']), 'w') as log:
                    status, how = run_mutant(m, log, args.every)
            results.append((m, status, how))
            print('[%2d/%d] %-8s %-28s %5.0fs  %s' % (i, len(mutants), status, m['id'], time.monotonic() - t0,
                                                     how), flush=True)
    except Interrupted as e:
        print('mutate: interrupted (%s) after %d of %d mutants; every file is restored' % (e, len(results),
                                                                                          len(mutants)))
        raise SystemExit(130)
    finally:
        # Whatever an interrupt caught half done, then bin/ and build/, which
        # hold the last mutant: build the clean tree again.
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        for rel in restore_from_journal():
            print('mutate: restored %s' % rel)
        if not git_clean(files):
            print('mutate: error: %s differ from git after the run' % ' '.join(files), file=sys.stderr)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        try:
            with open(WORK / 'rebuild.log', 'w') as log:
                if run(MAKE + ['all', 'unit'], log, BUILD_TIMEOUT) != 0:
                    print('mutate: warning: rebuilding the clean tree failed (see build/mutate/rebuild.log)')
        except Interrupted:
            print('mutate: the clean tree was not rebuilt (interrupted): run make before using bin/')

    killed = sum(1 for _, s, _ in results if s == 'killed')
    n = len(results)
    print('mutation run: %s' % fmt_time(time.monotonic() - t_start))
    print('mutation score: %d of %d killed' % (killed, n))
    for m, status, how in results:
        if status != 'killed':
            print('  %s %s: %s: `%s` -> `%s`: %s%s' % ('survivor' if status == 'survived' else 'ERROR',
                                                     m['id'], m['file'], m['find'], m['repl'], m['why'],
                                                     '' if status == 'survived' else ' [%s]' % how))
    low = n and 100.0 * killed / n < args.min_score
    return 1 if any(s == 'error' for _, s, _ in results) or low else 0


if __name__ == '__main__':
    sys.exit(main())
