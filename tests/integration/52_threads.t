#!/usr/bin/python3
"""Several event-loop threads ([policy] threads): the connections are spread
over them, and every one of them answers right, takes a new rule, a SIGHUP
reload and stops cleanly, writing the retries it answered last.  threads =
auto is one per online CPU but one (at least 1); a value out of range is a
configuration error naming the file and line."""
import os
import re
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID = 'kid@family.test'
THREADS = 4
CONNS = 64
ROUNDS = 30
BOUND = 5.0


def every_conn(conns, attrs, pred):
    """Asks ATTRS on each connection until PRED holds on all of them (bounded);
    returns (all held, the replies last seen)."""
    def once():
        return [c.request(**attrs) for c in conns]
    good, got, _ = h.poll_until(once, lambda rs: isinstance(rs, list) and all(pred(r) for r in rs), BOUND)
    return good, got


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test', 'whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com', 'OK')",
        "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid@family.test', 'bully@example.com', 'REJECT')",
    )
    d = h.start_daemon(db, threads=str(THREADS))
    h.like(re.search(r'threads=\d+', d.log()).group(0) if re.search(r'threads=\d+', d.log()) else '',
           'threads=%d' % THREADS, 'the daemon says it runs %d event-loop threads' % THREADS)

    # CONNS connections at once, each from its own Python thread, each asking
    # a mix of known, blocked, unknown and unprotected pairs ROUNDS times.
    cases = [(dict(sender='grandma@example.com', recipient=KID), 'DUNNO'),
             (dict(sender='bully@example.com', recipient=KID), h.ACCESS_DENIED),
             (dict(sender='someone@example.net', recipient='adult@family.test'), 'DUNNO'),
             (dict(sender='stranger@example.net', recipient=KID), 'DEFER')]
    bad, answered, lock = [], [0], threading.Lock()

    def client(i):
        try:
            with h.PolicyConnection(d.port) as c:
                for n in range(ROUNDS):
                    attrs, want = cases[(i + n) % len(cases)]
                    got = c.request(**attrs)
                    ok = h.is_defer(got) if want == 'DEFER' else got == want
                    with lock:
                        answered[0] += 1
                        if not ok:
                            bad.append((attrs, want, got))
        except (OSError, h.PolicyError) as e:
            with lock:
                bad.append(('connection %d' % i, 'replies', repr(e)))
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    h.is_(answered[0], CONNS * ROUNDS, '%d connections x %d requests, all answered' % (CONNS, ROUNDS))
    h.is_(bad[:5], [], 'every reply right (known DUNNO, blocked REJECT, stranger deferred, unprotected DUNNO)')
    good, n, _ = h.poll_until(lambda: h.challenges(db, sender='stranger@example.net'),
                              lambda rs: len(rs) == 1 and int(rs[0]['attempts']) == CONNS * ROUNDS // len(cases),
                              BOUND * 2)
    h.ok(good, 'one challenge for the stranger, counting every one of its %d requests from all threads'
         % (CONNS * ROUNDS // len(cases)), 'rows %r' % (n,))

    # Connections held open on every loop: each sees a new rule and a reload.
    conns = [h.PolicyConnection(d.port) for _ in range(THREADS * 4)]
    db.sql("INSERT INTO whitelist (sender, action) VALUES ('new-friend@example.com', 'OK')")
    good, got = every_conn(conns, dict(sender='new-friend@example.com', recipient=KID), lambda r: r == 'DUNNO')
    h.ok(good, 'a new rule is in force on every connection, whichever thread has it', 'replies %r' % (got,))
    d.write_config(on_allow='OK')
    d.hup()
    good, got = every_conn(conns, dict(sender='grandma@example.com', recipient=KID), lambda r: r == 'OK')
    h.ok(good, 'after SIGHUP (on_allow = OK) every connection answers OK', 'replies %r' % (got,))
    h.ok('configuration reloaded' in d.log(), 'the reload is logged')

    # Retries answered just before SIGTERM: their writes are held for the
    # next flush, and written before the daemon exits.
    count = lambda: int(h.challenges(db, sender='stranger@example.net')[0]['attempts'])  # noqa: E731
    before = count()
    got = [c.request(sender='stranger@example.net', recipient=KID) for c in conns]
    h.ok(all(h.is_defer(r) for r in got), 'a retry on every connection: deferred', 'replies %r' % (got,))
    d.stop()        # SIGTERM with connections still open on every thread: exit 0
    for c in conns:
        c.close()
    h.is_(count(), before + len(conns), 'those retries were written before the daemon exited')

    # threads = auto; a value out of range is refused.
    d = h.Daemon(db, threads='auto')
    rc, err = d.run_to_exit(['--check-config', '-c', d.config])
    h.is_(rc, 0, 'threads = auto is valid') or h.diag(err)
    for bad_value in ('0', '65', 'many'):
        d.write_config(threads=bad_value)
        rc, err = d.run_to_exit(['--check-config', '-c', d.config])
        h.ok(rc == 2 and 'threads' in err and re.search(r'guardlist\.ini:\d+', err),
             'threads = %s: configuration error naming the file and line' % bad_value, err)
    d = h.start_daemon(db, threads='auto')
    m = re.search(r'threads=(\d+)', d.log())
    cpus = os.sysconf('SC_NPROCESSORS_ONLN')
    want = min(max(cpus - 1, 1), 64)
    h.is_(int(m.group(1)) if m else None, want, 'threads = auto: one per online CPU but one, at least 1 (%d of %d)'
          % (want, cpus))
    h.is_(h.query(d.port, sender='grandma@example.com', recipient=KID), 'DUNNO', '... and it answers')
    d.stop()
    db.stop()


h.run(main, timeout=300)
