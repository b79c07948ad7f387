#!/usr/bin/python3
"""/metrics (issue 22): guardlistd on [policy] metrics_listen and
guardlist-notify on [notifier] metrics_listen serve the Prometheus text
format; the numbers equal what this test did (allowed pairs, strangers, a
cap hit, a rule change, emails sent, refused and retried); promtool accepts
the text; a scrape under load answers within a bound; a hostile HTTP client
(huge header, slowloris, many connections, POST, another path) neither
crashes the daemon nor slows its policy port; with metrics off nothing more
listens than the policy port."""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
from minismtp import MiniSmtp  # noqa: E402

KID = 'kid@family.test'
SIS = 'sis@family.test'
BRO = 'bro@family.test'
LOAD = os.path.join(ROOT, 'build', 'bench', 'policyload')
PROMTOOL = '/usr/bin/promtool'
SCRAPE_BOUND = 1.0          # seconds a scrape may take, even under load
POLICY_BOUND = 1.0          # seconds a policy answer may take while /metrics is attacked
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape(port, timeout=5):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=timeout) as r:
        return r.status, r.headers.get('Content-Type', ''), r.read().decode()


def samples(text):
    """{'name{labels}': value} of every sample line."""
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            out[m.group(1) + (m.group(2) or '')] = float(m.group(3))
    return out


def delta(after, before, key):
    return after.get(key, 0) - before.get(key, 0)


def dec(outcome, reason):
    return 'guardlist_decisions_total{outcome="%s",reason="%s"}' % (outcome, reason)


def promtool_ok(text, what):
    if not os.access(PROMTOOL, os.X_OK):
        h.ok(False, '%s: promtool check metrics (promtool missing: sh scripts/deps.sh)' % what)
        return
    r = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    h.ok(r.returncode == 0, '%s: promtool check metrics accepts the text' % what, r.stdout.decode()[-1500:])


def listening_ports(pid):
    """The TCP ports process PID listens on (from its socket inodes)."""
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            m = re.match(r'socket:\[(\d+)\]', os.readlink('/proc/%d/fd/%s' % (pid, fd)))
        except OSError:
            continue
        if m:
            inodes.add(m.group(1))
    ports = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(table) as f:
            for line in f.readlines()[1:]:
                col = line.split()
                if col[3] == '0A' and col[9] in inodes:      # LISTEN
                    ports.add(int(col[1].rsplit(':', 1)[1], 16))
    return ports


def http_raw(port, data, timeout=5):
    """Sends DATA to /metrics's port; returns what came back before the close."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        s.sendall(data)
        got = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    finally:
        s.close()
    return got


def timed_query(port, **attrs):
    t0 = time.monotonic()
    reply = h.query(port, **attrs)
    return reply, time.monotonic() - t0


def check_counts(db, d, mp):
    """The known mix, and the numbers it must move."""
    _, ctype, text = scrape(mp)
    h.ok(ctype.startswith('text/plain; version=0.0.4'), 'the text format 0.0.4 content type', ctype)
    before = samples(text)
    h.is_(before.get('guardlist_rules'), 2.0, 'guardlist_rules: the two rules loaded')
    h.is_(before.get('guardlist_protected_keys'), 3.0, 'guardlist_protected_keys: three')
    h.ok(before.get('guardlist_rule_loads_total{kind="full"}', 0) >= 1, 'a full rule load counted')
    h.is_(before.get('guardlist_build_info{version="0.1.0"}'), 1.0, 'guardlist_build_info')
    h.ok(abs(before.get('process_start_time_seconds', 0) - time.time()) < 120, 'process_start_time_seconds is now')
    n_allowed, n_strangers, n_unprotected = 5, 3, 2
    for i in range(n_allowed):
        h.is_(h.query(d.port, sender='grandma@example.com', recipient=KID), 'DUNNO',
              'known pair %d: allowed (on_allow = DUNNO)' % (i + 1))
    for i in range(n_strangers):
        h.defer_ok(h.query(d.port, sender='s%d@spam.example' % i, recipient=KID), 'stranger %d: deferred' % (i + 1))
    h.is_(h.query(d.port, sender='s9@spam.example', recipient=KID),
          'DEFER_IF_PERMIT Too many new senders for this recipient, try again later', 'the 4th stranger: capped')
    for i in range(n_unprotected):
        h.is_(h.query(d.port, sender='x@example.com', recipient='nobody%d@else.test' % i), 'DUNNO', 'unprotected')
    h.is_(h.query(d.port, sender='bad@example.com', recipient=KID), 'REJECT blocked', 'a block rule refuses')
    # a rule change: the refresher's load is counted, the gauge follows
    loads = before.get('guardlist_rule_loads_total{kind="full"}', 0) + \
        before.get('guardlist_rule_loads_total{kind="incremental"}', 0)
    db.sql("INSERT INTO whitelist (sender, action) VALUES ('uncle@example.com', 'OK')")
    good, after, _ = h.poll_until(lambda: samples(scrape(mp)[2]),
                                  lambda s: s.get('guardlist_rules') == 3.0, 10)
    h.ok(good, 'a rule added: guardlist_rules 3 within 10 s', 'last: %r' % after.get('guardlist_rules'))
    h.ok(after.get('guardlist_rule_loads_total{kind="full"}', 0)
         + after.get('guardlist_rule_loads_total{kind="incremental"}', 0) > loads, '... and its load counted')
    h.is_(delta(after, before, dec('allowed', 'rule')), n_allowed, 'allowed by a rule: %d' % n_allowed)
    h.is_(delta(after, before, dec('deferred', 'unknown_sender')), n_strangers, 'strangers deferred: %d' % n_strangers)
    h.is_(delta(after, before, dec('deferred', 'cap')), 1, 'deferred by the cap: 1')
    h.is_(delta(after, before, 'guardlist_cap_refusals_total{cap="recipient"}'), 1, 'cap refusals (recipient): 1')
    h.is_(delta(after, before, 'guardlist_cap_refusals_total{cap="client"}'), 0, 'cap refusals (client): 0')
    h.is_(delta(after, before, dec('allowed', 'not_protected')), n_unprotected, 'not protected: %d' % n_unprotected)
    h.is_(delta(after, before, dec('refused', 'rule')), 1, 'refused by a rule: 1')
    h.is_(delta(after, before, 'guardlist_challenges_created_total'), n_strangers, 'challenges created: %d' % n_strangers)
    total = sum(v for k, v in after.items() if k.startswith('guardlist_decisions_total'))
    h.is_(total - sum(v for k, v in before.items() if k.startswith('guardlist_decisions_total')),
          n_allowed + n_strangers + 1 + n_unprotected + 1, 'no other decision counted')
    h.is_(after.get('guardlist_decision_duration_seconds_count'), total, 'the latency histogram counts each decision')
    h.is_(after.get('guardlist_decision_duration_seconds_bucket{le="+Inf"}'), total, '... its +Inf bucket too')
    h.is_(after.get('guardlist_db_errors_total'), 0.0, 'no database error')
    h.ok(after.get('guardlist_rules_refresh_age_seconds', 99) < 5, 'the rules were confirmed within 5 s')
    return after


def check_connections(d, mp):
    conns = [h.PolicyConnection(d.port) for _ in range(3)]
    for c in conns:
        c.request(sender='x@example.com', recipient='nobody@else.test')
    good, got, _ = h.poll_until(lambda: samples(scrape(mp)[2]).get('guardlist_connections'),
                                lambda v: v == 3.0, 5)
    h.ok(good, 'guardlist_connections: the 3 open', 'got %r' % got)
    for c in conns:
        c.close()
    good, got, _ = h.poll_until(lambda: samples(scrape(mp)[2]).get('guardlist_connections'),
                                lambda v: v == 0.0, 5)
    h.ok(good, 'guardlist_connections: 0 once closed', 'got %r' % got)


def check_under_load(d, mp):
    if not os.access(LOAD, os.X_OK):
        h.ok(False, 'policyload missing: make build/bench/policyload')
        return
    load = subprocess.Popen([LOAD, '-t', '127.0.0.1:%d' % d.port, '-c', '8', '-d', '3', '--rules', '100'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)     # not a synchronisation: the load is under way when the scrapes start
        worst = 0.0
        for _ in range(5):
            t0 = time.monotonic()
            status, _, text = scrape(mp)
            worst = max(worst, time.monotonic() - t0)
        h.ok(status == 200 and worst < SCRAPE_BOUND, 'under load (policyload, 8 connections): 5 scrapes each '
             'within %.1f s' % SCRAPE_BOUND, 'slowest %.3f s' % worst)
    finally:
        load.wait(30)


def check_hostile(d, mp):
    def status_of(method, path):
        req = urllib.request.Request('http://127.0.0.1:%d%s' % (mp, path), method=method,
                                     data=b'x=1' if method == 'POST' else None)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    h.is_(status_of('POST', '/metrics'), 405, 'POST /metrics: 405')
    h.is_(status_of('GET', '/'), 404, 'GET /: 404')
    h.is_(status_of('GET', '/metrics/../etc/passwd'), 404, 'GET /metrics/../etc/passwd: 404')
    got = http_raw(mp, b'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 200000 + b'\r\n\r\n')
    h.ok(not got.startswith(b'HTTP/1.1 200'), 'a 200 KB header: no page (431 or closed)', got[:80])
    # slowloris and many connections: /metrics's slots fill, the policy port does not care
    held = []
    for _ in range(40):
        try:
            s = socket.create_connection(('127.0.0.1', mp), timeout=2)
            s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ')
            held.append(s)
        except OSError:
            break
    reply, secs = timed_query(d.port, sender='grandma@example.com', recipient=KID)
    h.ok(reply == 'DUNNO' and secs < POLICY_BOUND, '%d slow /metrics connections held: the policy port answers at '
         'once' % len(held), 'reply %r in %.3f s' % (reply, secs))
    for s in held:
        s.close()
    good, _, _ = h.poll_until(lambda: scrape_or_none(mp), lambda r: r is not None and r[0] == 200, 15)
    h.ok(good, 'the slow connections closed: /metrics answers again')
    h.ok(d.running(), 'guardlistd still running after the hostile clients')


def scrape_or_none(port):
    try:
        return scrape(port, timeout=2)
    except OSError:
        return None


def check_notifier(db, d):
    srv = MiniSmtp()
    srv.rules['refuser@home.test'] = '550 5.1.1 no such user'
    srv.rules['busy@home.test'] = '451 4.3.0 try later'
    np = h.free_port()
    cfg = h.notify_config(db, srv.port, directory=h.tmpdir(),
                          notifier={'metrics_listen': 'inet:127.0.0.1:%d' % np})
    n = h.Notifier(cfg)
    # one stranger each for sis (guardian refuses) and bro (guardian busy); kid's 3 are waiting already
    h.defer_ok(h.query(d.port, sender='t1@spam.example', recipient=SIS), 'a stranger for sis')
    h.defer_ok(h.query(d.port, sender='t2@spam.example', recipient=BRO), 'a stranger for bro')
    n.start()
    try:
        good, got, _ = h.poll_until(lambda: scrape_or_none(np),
                                    lambda r: r is not None and samples(r[2]).get(
                                        'guardlist_notify_cycles_total', 0) >= 2, 15)
        h.ok(good, 'guardlist-notify: /metrics answers, two cycles counted', n.log()[-1500:])
        if not got:
            return
        s = samples(got[2])
        sent = len(srv.messages)
        h.ok(sent >= 1, 'the smarthost took emails for kid (%d)' % sent)
        h.is_(s.get('guardlist_notify_emails_sent_total'), float(sent), 'emails sent: what the smarthost took')
        h.is_(s.get('guardlist_notify_emails_failed_total'), 1.0, 'emails failed: the one refused (550)')
        h.ok(s.get('guardlist_notify_emails_retried_total', 0) >= 1, 'emails retried: the 451 one')
        h.is_(s.get('guardlist_notify_digests_sent_total'), 0.0, 'no digest (under the hourly cap)')
        h.is_(s.get('guardlist_notify_queue_challenges'), 1.0, 'queue: the one waiting for its retry')
        h.ok(0 <= s.get('guardlist_notify_oldest_waiting_seconds', -1) < 120, 'oldest waiting: its age')
        h.ok(abs(s.get('guardlist_notify_last_cycle_timestamp_seconds', 0) - time.time()) < 30,
             'last cycle: just now')
        promtool_ok(got[2], 'guardlist-notify')
    finally:
        rc, killed = n.stop()
        h.ok(rc == 0 and not killed, 'guardlist-notify exits 0 on SIGTERM', n.log()[-1500:])
        h.NOTIFY_LOGS.append(n.log())
        srv.stop()


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test', 'whitelist'), "
        "('sis@family.test', 'whitelist'), ('bro@family.test', 'whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com', 'OK'), "
        "('bad@example.com', 'REJECT blocked')",
        "INSERT INTO guardians (recipient, email) VALUES ('kid@family.test', 'mum@home.test'), "
        "('sis@family.test', 'refuser@home.test'), ('bro@family.test', 'busy@home.test')",
    )
    mp = h.free_port()
    d = h.start_daemon(db, metrics_listen='inet:127.0.0.1:%d' % mp, max_new_challenges_per_recipient='3')
    h.is_(listening_ports(d.proc.pid), {d.port, mp}, 'metrics on: the policy port and /metrics listen')
    after = check_counts(db, d, mp)
    promtool_ok(scrape(mp)[2], 'guardlistd')
    h.ok(after, 'counted')
    check_connections(d, mp)
    check_under_load(d, mp)
    check_hostile(d, mp)
    check_notifier(db, d)
    d.stop()
    h.no_notify_sanitizer_reports()

    off = h.start_daemon(db)
    h.is_(listening_ports(off.proc.pid), {off.port}, 'metrics off (the default): only the policy port listens')
    off.stop()
    h.done()


h.run(main, timeout=120)
