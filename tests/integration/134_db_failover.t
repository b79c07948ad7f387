#!/usr/bin/python3
"""[database] host as a list (docs/scaling.md "Several database hosts"): two
independent private MariaDB servers with the same schema and rules (a test of
the client side's failover, not of replication), every program configured
with host = first, second and failback_interval = 2.

Covered: guardlistd answers from the first; the first killed: known pairs are
still answered from memory at once, no stranger is ever allowed, a new
stranger's challenge is recorded on the second, a rule written on the second
is in force (the refresher moved too), the log says where it went; a running
guardlist-notify mails the challenge from the second and the approval page
(a CGI) shows it; the first restarted (same
data directory): within the failback interval the daemon writes new challenges
to the first again, reads its rules, and the notifier comes back too; the CLI
and `guardlist-notify --once` with the first hung (SIGSTOP) use the second
within the connect timeout; postfix-config's map lists both hosts; a bad host
entry is a configuration error naming FILE:LINE and the entry."""
import email
import email.policy
import os
import re
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

VAGUE = 'vague@imprecise.info'
GRANDMA = 'grandma@example.com'
MUM = 'mum@guardlist.test'
FAILBACK = 2            # [database] failback_interval in this test
MOVE_BOUND = 15.0       # seconds to move to the second after the first dies
BACK_BOUND = FAILBACK + 8.0   # seconds to be back on the first once it answers
MAIL_BOUND = 15.0
HUNG_BOUND = 8.0        # a hung first entry: 3 s connect timeout, then the second
RULES = (
    "INSERT INTO protected_users (recipient, class) VALUES ('vague@imprecise.info','whitelist')",
    "INSERT INTO guardians (recipient, email) VALUES ('vague@imprecise.info','mum@guardlist.test')",
    "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
)
ALLOWS = ('DUNNO', 'OK')
LINK_RE = re.compile(re.escape(h.NOTIFIER_DEFAULTS['approve_url']) + r'\?t=([0-9a-f]{32})')


def kill(db):
    """SIGKILL: the node dies at once, as a crashed host's server would."""
    db.proc.send_signal(signal.SIGCONT)
    db.proc.kill()
    db.proc.wait(10)


def rows_on(db, sender):
    return [(r['recipient'], r['status']) for r in h.challenges(db, sender=sender)]


def stranger_until_recorded(d, db, prefix, bound, new_each=False):
    """Asks for strangers (PREFIX-N@example.net, one sender unless NEW_EACH)
    until one's challenge row is on DB.  Returns (sender or None, seconds,
    replies that allowed a stranger)."""
    t0 = time.monotonic()
    allowed = []
    n = 0
    sender = '%s-%d@example.net' % (prefix, n)
    while time.monotonic() - t0 < bound:
        if new_each:
            n += 1
            sender = '%s-%d@example.net' % (prefix, n)
        try:
            got = h.query(d.port, sender=sender, recipient=VAGUE)
        except Exception as e:   # noqa: B902 - a closed connection is not an allow
            got = 'error: %s' % e
        if got in ALLOWS:
            allowed.append((sender, got))
        if h.is_defer(got) and rows_on(db, sender):
            return sender, time.monotonic() - t0, allowed
        time.sleep(0.2)
    return None, time.monotonic() - t0, allowed


def wait_for(pred, bound):
    t0 = time.monotonic()
    while time.monotonic() - t0 < bound:
        if pred():
            return True, time.monotonic() - t0
        time.sleep(0.2)
    return pred(), time.monotonic() - t0


def mailed(sink, sender):
    return any(sender.encode() in raw for raw in sink.messages())


def link_for(sink, sender):
    """The approval link token of the email about SENDER's challenge, or None."""
    for raw in sink.messages():
        _, data = h.SmtpSink.split(raw)
        msg = email.message_from_bytes(data, policy=email.policy.default)
        part = msg.get_body(preferencelist=('plain',))
        text = part.get_content() if part else ''
        if sender in text:
            m = LINK_RE.search(text)
            return m.group(1) if m else None
    return None


OTHER_LOGS = []    # stderr of every CLI and approval page run, checked for sanitizer reports


def cli(*args):
    rc, out, err = h.cli(*args)
    OTHER_LOGS.append(err)
    return rc, out, err


def approve_cgi(config, query):
    """guardlist-approve run as a CGI GET by hand.  Returns (status, stdout, stderr, seconds)."""
    env = dict(os.environ, GUARDLIST_CONFIG=config, REQUEST_METHOD='GET', QUERY_STRING=query,
               GATEWAY_INTERFACE='CGI/1.1', SERVER_PROTOCOL='HTTP/1.1')
    t0 = time.monotonic()
    r = subprocess.run([web.approve_binary()], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    OTHER_LOGS.append(r.stderr.decode('utf-8', 'replace'))
    return (r.returncode, r.stdout.decode('utf-8', 'replace'), OTHER_LOGS[-1], time.monotonic() - t0)


def main():
    t_all = time.monotonic()
    db1 = h.start_db(*RULES)
    db2 = h.start_db(*RULES)
    hosts = '127.0.0.1:%d, 127.0.0.1:%d' % (db1.port, db2.port)
    first, second = '127.0.0.1:%d' % db1.port, '127.0.0.1:%d' % db2.port
    database = {'socket': '', 'host': hosts, 'failback_interval': str(FAILBACK)}

    d = h.Daemon(db1)
    d.write_raw(d.config_text().replace('socket = ' + db1.socket,
                                        'host = %s\nfailback_interval = %d' % (hosts, FAILBACK)))
    d.start()
    sink = h.SmtpSink()
    sink.start()
    ncfg = h.notify_config(db1, sink.port, database=database)
    notifier = h.Notifier(ncfg)
    notifier.start()

    # ---- both up: the first is used
    h.defer_ok(h.query(d.port, sender='before@example.net', recipient=VAGUE), 'both up: a stranger is deferred')
    h.is_(rows_on(db1, 'before@example.net'), [(VAGUE, 'pending')], 'both up: its challenge is on the first')
    h.is_(rows_on(db2, 'before@example.net'), [], 'both up: nothing on the second')
    h.ok('database: connected to %s (entry 1 of 2)' % first in d.log(),
         'the daemon logs the entry it connected to', d.log()[-1500:])
    good, secs = wait_for(lambda: mailed(sink, 'before@example.net'), MAIL_BOUND)
    h.ok(good, 'both up: the notifier mails the challenge from the first', notifier.log()[-1500:])

    # ---- the first dies
    kill(db1)
    t0 = time.monotonic()
    got = h.query(d.port, sender=GRANDMA, recipient=VAGUE)
    secs = time.monotonic() - t0
    h.ok(got == 'DUNNO' and secs < 1.0, 'first dead: a known pair is answered from memory at once',
         'got %r in %.3f s' % (got, secs))
    # The writer's kept connection to the first is broken: the very first
    # stranger is recorded on a new connection (the second), not 451.
    t0 = time.monotonic()
    got = h.query(d.port, sender='first-after@example.net', recipient=VAGUE)
    h.diag('first dead: the first stranger after the kill was answered in %.2f s' % (time.monotonic() - t0))
    h.defer_ok(got, 'first dead: the first stranger after the kill is deferred, not 451 (the writer reconnects)')
    h.is_(rows_on(db2, 'first-after@example.net'), [(VAGUE, 'pending')], '... and its challenge is on the second')
    sender, secs, allowed = stranger_until_recorded(d, db2, 'moved', MOVE_BOUND)
    h.diag('first dead: a stranger was deferred and recorded on the second after %.2f s' % secs)
    h.ok(sender is not None, 'first dead: a stranger\'s challenge is recorded on the second within %ds'
         % MOVE_BOUND, d.log()[-2000:])
    h.is_(allowed, [], 'first dead: no stranger was allowed while the daemon moved')
    if sender:
        h.is_(rows_on(db2, sender), [(VAGUE, 'pending')], 'first dead: exactly one challenge row, pending')
    h.ok(re.search(r'warning: database: connected to %s \(entry 2 of 2\); entry 1 %s: ' % (
        re.escape(second), re.escape(first)), d.log()),
        'the daemon logs the move to entry 2 and why entry 1 failed', d.log()[-2000:])
    got = h.query(d.port, sender=GRANDMA, recipient=VAGUE)
    h.is_(got, 'DUNNO', 'first dead: the known pair is still allowed')
    db2.sql("INSERT INTO whitelist (sender, action) VALUES ('second-rule@example.net','OK')")
    good, got, secs = h.wait_reply(d.port, lambda r: r == 'DUNNO', MOVE_BOUND,
                                   sender='second-rule@example.net', recipient=VAGUE)
    h.diag('a rule written on the second was in force after %.2f s' % secs)
    h.ok(good, 'first dead: a rule written on the second is in force (the refresher moved)',
         'last reply %r' % (got,))
    if sender:
        good, secs = wait_for(lambda: mailed(sink, sender), MAIL_BOUND)
        h.diag('the running notifier mailed the second\'s challenge after %.2f s' % secs)
        h.ok(good, 'first dead: the running notifier mails the challenge recorded on the second',
             notifier.log()[-2000:])
    h.ok('database: connected to %s (entry 2 of 2)' % second in notifier.log(),
         'the notifier logs its move to entry 2', notifier.log()[-2000:])
    token = link_for(sink, sender) if sender else None
    acfg = h.cli_config(db1, database=database, approver={'template_dir': str(h.ROOT / 'templates')},
                        log={'target': 'stderr'})
    rc, out, err, secs = approve_cgi(acfg, 't=%s' % token)
    h.diag('the approval page with the first dead: %s in %.2f s' % ((out.splitlines() or [''])[0], secs))
    h.ok(token and rc == 0 and out.startswith('Status: 200') and (sender or '') in out,
         'first dead: the approval page shows the challenge recorded on the second',
         'token %r, rc %s, stdout %r, stderr %r' % (token, rc, out[:300], err[-600:]))
    h.ok('warning: database: connected to %s (entry 2 of 2)' % second in err,
         'the approval page logs that it used entry 2', 'stderr %r' % err[-600:])

    # ---- the first comes back (same data directory)
    restart = db1.start()
    h.diag('first restarted in %.2f s' % restart)
    sender, secs, allowed = stranger_until_recorded(d, db1, 'back', BACK_BOUND, new_each=True)
    h.diag('new challenges were written to the first again %.2f s after it answered' % secs)
    h.ok(sender is not None, 'first back: within %ds new challenges go to the first again' % BACK_BOUND,
         d.log()[-2000:])
    h.is_(allowed, [], 'first back: no stranger was allowed')
    if sender:
        h.is_(rows_on(db2, sender), [], 'first back: that challenge is not on the second')
    h.ok('database: connected to %s (entry 1 of 2), the first entry is back' % first in d.log(),
         'the daemon logs its return to the first entry', d.log()[-2000:])
    db1.sql("INSERT INTO whitelist (sender, action) VALUES ('first-rule@example.net','OK')")
    good, got, secs = h.wait_reply(d.port, lambda r: r == 'DUNNO', BACK_BOUND,
                                   sender='first-rule@example.net', recipient=VAGUE)
    h.diag('a rule written on the first only was in force after %.2f s' % secs)
    h.ok(good, 'first back: the refresher reads the first again', 'last reply %r' % (got,))
    good, secs = wait_for(lambda: 'database: connected to %s (entry 1 of 2), the first entry is back' % first
                          in notifier.log(), BACK_BOUND)
    h.ok(good, 'first back: the notifier comes back to the first within %ds' % BACK_BOUND,
         notifier.log()[-2000:])
    if sender:
        good, secs = wait_for(lambda: mailed(sink, sender), MAIL_BOUND)
        h.ok(good, 'first back: the notifier mails a challenge recorded on the first', notifier.log()[-2000:])
    h.ok(d.running(), 'guardlistd ran throughout')
    notifier.stop()
    d.stop()

    # ---- the CLI and a --once notifier with the first hung (accepts, never answers)
    db2.sql("INSERT INTO challenges (sender, recipient, protected_key) "
            "VALUES ('hung-once@example.net', 'vague@imprecise.info', 'vague@imprecise.info')")
    cfg = h.cli_config(db1, database=database)
    db1.freeze()
    try:
        t0 = time.monotonic()
        rc, out, err = cli(cfg, 'list', '--json')
        secs = time.monotonic() - t0
        h.diag('guardlist list with the first hung took %.2f s' % secs)
        h.ok(rc == 0 and 'second-rule@example.net' in out and secs < HUNG_BOUND,
             'first hung: guardlist list reads the second within %ds' % HUNG_BOUND,
             'rc %s in %.2f s, stdout %r, stderr %r' % (rc, secs, out[-500:], err[-500:]))
        h.ok(re.search(r'^guardlist: warning: database: connected to %s \(entry 2 of 2\); entry 1 %s: '
                       % (re.escape(second), re.escape(first)), err, re.M),
             'first hung: the CLI warns that it used entry 2', 'stderr %r' % err)
        rc, out, err = cli(cfg, 'check', 'second-rule@example.net', VAGUE)
        h.is_(rc, 0, 'first hung: guardlist check answers from the second')
        t0 = time.monotonic()
        rc, out, err = h.notify_logged(ncfg, '--once')
        secs = time.monotonic() - t0
        h.diag('guardlist-notify --once with the first hung took %.2f s' % secs)
        h.ok(rc == 0 and mailed(sink, 'hung-once@example.net'),
             'first hung: guardlist-notify --once mails what is due on the second',
             'rc %s, stderr %r' % (rc, err[-1500:]))
    finally:
        db1.thaw()
    rc, out, err = cli(cfg, 'list', '--json')
    h.ok(rc == 0 and 'first-rule@example.net' in out and 'warning' not in err,
         'both up: the CLI reads the first, silently', 'rc %s, stderr %r' % (rc, err))

    # ---- postfix-config: mysql_table(5) hosts lists every entry
    rc, out, err = cli(cfg, 'postfix-config', '--lookup-tables')
    h.ok(rc == 0 and 'hosts = inet:127.0.0.1:%d inet:127.0.0.1:%d\n' % (db1.port, db2.port) in out,
         'postfix-config --lookup-tables: hosts lists both entries', out[:600] + err)

    # ---- a bad entry is a configuration error naming FILE:LINE and the entry
    bad = h.Daemon(db1)
    text = bad.config_text().replace('socket = ' + db1.socket, 'host = %s, 127.0.0.1:99999' % first)
    bad.write_raw(text)
    rc, err = bad.run_to_exit()
    line = text.splitlines().index('host = %s, 127.0.0.1:99999' % first) + 1
    h.is_(rc, 2, 'bad host entry: guardlistd exits 2')
    h.ok(re.search(r'guardlistd: error: %s:%d: host entry 2 \'127\.0\.0\.1:99999\': port must be a number '
                   r'from 1 to 65535' % (re.escape(bad.config), line), err),
         'bad host entry: the message names FILE:LINE, the entry and the fix', 'stderr %r' % err[-600:])
    h.diag('bad host entry: %s' % (err.strip().splitlines() or ['(no output)'])[-1])
    badcli = h.cli_config(db1, database={'socket': '', 'host': '127.0.0.1:3306,, 127.0.0.1:3307'})
    rc, out, err = cli(badcli, 'list')
    h.ok(rc == 2 and 'host entry 2 is empty' in err, 'bad host list: the CLI refuses it (exit 2), naming the entry',
         'rc %s, stderr %r' % (rc, err))

    h.no_notify_sanitizer_reports([notifier.log()])
    found = sorted(set(m for text in OTHER_LOGS for m in h.SANITIZER_MARKS if m in text))
    h.ok(not found, 'guardlist and guardlist-approve: no sanitizer report in any of their %d runs'
         % len(OTHER_LOGS), 'found: %s' % ', '.join(found))
    sink.stop()
    db1.stop()
    db2.stop()
    h.diag('total %.1f s' % (time.monotonic() - t_all))


h.run(main, timeout=240)
