#!/usr/bin/python3
"""tests/bench/policyload works against the real daemon: one second of the
benchmark's mix (80 % known pairs, 15 % unknown senders, 5 % unprotected
recipients) over 8 connections, every reply a decision, no errors.  No
timing assertion: speed is `make bench`'s business; the figures are printed."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

LOAD = os.path.join(ROOT, 'build', 'bench', 'policyload')
RULES = 1000


def main():
    db = h.start_db()
    for k in range(100):
        db.sql("INSERT INTO protected_users (recipient, class) VALUES ('kid%d@family.test', 'whitelist')" % k)
    rows = subprocess.run([LOAD, '--print-rules', str(RULES)], stdout=subprocess.PIPE, check=True,
                          timeout=30).stdout.decode().splitlines()
    h.is_(len(rows), RULES, 'policyload --print-rules %d prints %d rules' % (RULES, RULES))
    values = ','.join("(%s, %s, %s)" % tuple(h.sql_str(v) for v in r.split('\t')) for r in rows)
    db.sql('INSERT INTO sender_rules (recipient, sender, action) VALUES ' + values)
    d = h.start_daemon(db)
    h.is_(h.query(d.port, sender='s5@known.test', recipient='kid5@family.test'), 'DUNNO',
          'a pair of the printed rules is known to the daemon')

    r = subprocess.run([LOAD, '-t', '127.0.0.1:%d' % d.port, '-c', '8', '-d', '1', '--rules', str(RULES),
                        '--json'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    h.is_(r.returncode, 0, 'policyload exits 0 (no errors)') or h.diag(r.stderr.decode())
    try:
        res = json.loads(r.stdout.decode())
    except ValueError:
        res = {}
    h.ok(res.get('requests', 0) > 0, 'requests were answered', r.stdout.decode())
    h.is_(res.get('errors'), 0, 'no errors: every reply was a decision')
    h.diag('policyload, 1 s, 8 connections: %s requests/s, p50 %s ms, p99 %s ms (not a benchmark: '
           'shared machine, daemon logging every decision)' % (res.get('rps'), res.get('p50_ms'), res.get('p99_ms')))
    pending = int(db.value("SELECT COUNT(*) FROM challenges WHERE status = 'pending'"))
    h.ok(pending > 0, 'the unknown senders of the mix left challenges (%d)' % pending)

    r = subprocess.run([LOAD, '-t', '192.0.2.1:10040', '-d', '1'], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    h.is_(r.returncode, 2, 'policyload refuses a target outside 127.0.0.0/8')
    d.stop()
    db.stop()


h.run(main)
