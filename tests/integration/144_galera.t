#!/usr/bin/python3
"""Many MX hosts on one MariaDB Galera cluster (issue 20, docs/scaling.md): a
private 3-node cluster on 127.0.0.1 (tests/lib/galera.py), guardlistd on
node 1 and on node 2, guardlist-notify on node 1 and on node 3, one smarthost.

  - the same strangers sent to both daemons at the same moment: one open
    challenge each, never an allow, no 451 (two nodes inserting one
    challenge conflict at COMMIT, and the loser runs its batch again);
  - both notifiers running: one email per (challenge, guardian), and each
    guardian's hourly cap of single emails holds across both (notify_locks,
    which Galera certifies; GET_LOCK is each node's own);
  - the hourly cap on new challenges for one recipient holds across both
    daemons (cap_counts, counted in the challenge's transaction);
  - a rule inserted on node 3 is in force in both daemons within 2 s;
  - node 2 killed under load: its daemon (whose [database] host lists node
    2, node 1, node 3) keeps answering known pairs from memory, never allows
    a stranger, answers 451 until it has moved, then defers new strangers
    with a challenge recorded once on the surviving nodes; a notifier with
    the same list moves and mails; the daemon on node 1 keeps recording;
  - node 2 started again (a full SST): the daemon and the notifier come
    back to it within failback_interval (2 s here).
Measured figures (cluster start, rule propagation, throughput with two
daemons, failover and return) are printed as diagnostics for
docs/scaling.md.  Skipped where
galera-4 cannot be installed."""
import email
import email.policy
import hashlib
import os
import re
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import galera  # noqa: E402
import harness as h  # noqa: E402

KIDS = ['kid%d@family.test' % i for i in range(8)]
TPUT_KIDS = ['t%02d@family.test' % i for i in range(30)]     # 8 strangers each in throughput(): under the cap
LOST_KIDS = ['l%02d@family.test' % i for i in range(16)]     # node_lost(): a few strangers each
BACK_KIDS = ['b%02d@family.test' % i for i in range(12)]      # node_back(): under the cap however long it takes
CALM_KID = 'calm@family.test'
NOTE_KID = 'note@family.test'      # node_lost(): a guardian the notifier with a host list mails
CAPPED_KID = 'busy@family.test'
CAP = 10                    # [policy] max_new_challenges_per_recipient
MAIL_CAP = 4                # [notifier] max_per_hour
CAPPED = 'DEFER_IF_PERMIT Too many new senders for this recipient, try again later'
FAILBACK = 2                # [database] failback_interval of d2 and the notifier with a host list
MOVE_BOUND = 15.0           # seconds for d2 to record strangers again after its node dies
BACK_BOUND = 2 * FAILBACK + 6.0   # seconds for d2 to be back on node 2 once it is Synced
LOST_AFTER_MOVE = 12        # new strangers recorded by d2 after the move (the recipients' cap is CAP each)


def guardians_of(kid):
    return [kid.replace('@', '-mom@'), kid.replace('@', '-dad@')]


def at_once(jobs):
    """Runs each job (a function) on its own thread, all released together;
    returns their results in order (an exception as its value)."""
    out = [None] * len(jobs)
    gate = threading.Barrier(len(jobs))

    def work(i, fn):
        try:
            gate.wait(10)
            out[i] = fn()
        except Exception as e:   # noqa: B902 - the caller's tests report it
            out[i] = e
    threads = [threading.Thread(target=work, args=(i, fn)) for i, fn in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def open_rows(node, sender, recipient):
    return int(node.value("SELECT COUNT(*) FROM challenges WHERE sender = %s AND recipient = %s AND is_open = 1"
                          % (h.sql_str(sender), h.sql_str(recipient))))


def conflicts_retried(d):
    """Batches a daemon ran again after conflicts, as it logged them."""
    return sum(int(n) for n in re.findall(r'after (\d+) conflict\(s\) with another writer', d.log()))


def sent_together(requests):
    """REQUESTS [(daemon, attrs)], each on its own connection, all opened
    first, then written one right after another, then the replies read:
    they reach the daemons within a millisecond or so.  Returns the replies
    (an exception as its value)."""
    conns = [h.PolicyConnection(d.port) for d, _ in requests]
    try:
        for c, (_, attrs) in zip(conns, requests):
            c.send_raw(h.request_bytes(**attrs))
        replies = []
        for c in conns:
            try:
                replies.append(c.read_reply())
            except Exception as e:   # noqa: B902 - the caller's tests report it
                replies.append(e)
        return replies
    finally:
        for c in conns:
            c.close()


def same_strangers(node, d1, d2):
    """Each stranger sent to both daemons at the same moment, in rounds."""
    strangers = [('same%02d@stranger.example' % i, KIDS[i % len(KIDS)]) for i in range(24)]
    replies = []
    t0 = time.monotonic()
    for r in range(3):
        batch = strangers[r::3]
        # Node 1's daemon gets them in one order, node 2's in the other: the
        # two batches meet, each holding rows the other writes.
        requests = [(d1, dict(sender=s, recipient=k)) for s, k in batch] \
            + [(d2, dict(sender=s, recipient=k)) for s, k in reversed(batch)]
        got = sent_together(requests)
        half = len(batch)
        for i, (s, k) in enumerate(batch):
            replies.append(((s, k), got[i], got[2 * half - 1 - i]))
    secs = time.monotonic() - t0
    flat = [x for _, a, b in replies for x in (a, b)]
    tempfail = [sk for sk, a, b in replies if h.TEMPFAIL in (a, b)]
    h.diag('%d strangers, each to both daemons at once: %d replies in %.2f s, %d x 451, batches run again '
           'after conflicts: node1 %d, node2 %d' % (len(strangers), len(flat), secs, len(tempfail),
                                                    conflicts_retried(d1), conflicts_retried(d2)))
    replies = flat
    allowed = [r for r in replies if r == 'DUNNO' or (isinstance(r, str) and r.startswith('OK'))]
    other = [r for r in replies if not h.is_defer(r) and r != h.TEMPFAIL]
    h.ok(not allowed, 'the same strangers on both daemons at once: never an allow', 'allowed: %r' % allowed[:5])
    h.ok(not other, '... every reply a deferral (or a 451)', 'others: %r' % other[:5])
    h.is_(len(tempfail), 0, '... and no 451: a conflict between the nodes is run again, not answered 451')
    # A 451 is acceptable only if the retry then records it: the sender's server retries.
    for s, kid in tempfail:
        h.defer_ok(h.query(d1.port, sender=s, recipient=kid), 'the retry of %s after a 451 is deferred' % s)

    def counts():
        return {s: open_rows(node, s, kid) for s, kid in strangers}
    good, got, _ = h.poll_until(counts, lambda c: all(n == 1 for n in c.values()), 5)
    h.ok(good, 'exactly one open challenge for each of the %d strangers (both nodes inserted it at once)'
         % len(strangers), 'counts: %r' % {s: n for s, n in got.items() if n != 1})
    for node_ in (d1.db, d2.db):
        good, got, _ = h.poll_until(
            lambda: node_.value("SELECT COUNT(*) FROM challenges WHERE sender LIKE 'same%'"),
            lambda v: v == str(len(strangers)), 5)
        h.ok(good, '%s sees the %d challenges' % (node_.name, len(strangers)), 'got %r' % (got,))
    return strangers


def throughput(node, d1, d2):
    """New strangers, spread over both daemons, 8 at a time."""
    n, width = 240, 8
    strangers = ['fast%03d@stranger.example' % i for i in range(n)]
    replies = []
    lock = threading.Lock()

    def worker(k):
        with h.PolicyConnection((d1 if k % 2 else d2).port) as c:
            for i in range(k, n, width):
                r = c.request(sender=strangers[i], recipient=TPUT_KIDS[i % len(TPUT_KIDS)],
                              client_address='198.51.100.%d' % (i % 200))
                with lock:
                    replies.append(r)
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(width)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    secs = time.monotonic() - t0
    h.diag('challenge throughput, two daemons on two nodes, %d connections: %d new strangers in %.2f s = %.0f/s'
           % (width, n, secs, n / secs))
    h.ok(len(replies) == n and all(h.is_defer(r) for r in replies),
         '%d new strangers over both daemons: every one deferred' % n,
         'not deferred: %r' % [r for r in replies if not h.is_defer(r)][:5])
    good, got, _ = h.poll_until(lambda: node.value("SELECT COUNT(*) FROM challenges WHERE sender LIKE 'fast%'"),
                                lambda v: v == str(n), 5)
    h.is_(got, str(n), '... one challenge each (as node 3 sees them)')
    # SQL: these need no email (their recipients have no guardian): closed.
    node.sql("UPDATE challenges SET status = 'expired', is_open = NULL WHERE sender LIKE 'fast%'")


def caps(node, d1, d2):
    """More new strangers for one recipient than its cap, over both daemons."""
    n = 3 * CAP
    replies = sent_together([(d1 if i % 2 else d2, dict(sender='flood%02d@spam.example' % i, recipient=CAPPED_KID,
                                                         client_address='203.0.113.%d' % i)) for i in range(n)])
    challenged = [r for r in replies if h.is_defer(r) and r != CAPPED]
    # As node 3 sees them (it applies the other nodes' writes a moment later).
    _, made, _ = h.poll_until(
        lambda: int(node.value("SELECT COUNT(*) FROM challenges WHERE protected_key = %s" % h.sql_str(CAPPED_KID))),
        lambda v: v >= len(challenged), 5)
    h.diag('%d new strangers for one recipient at once over both daemons (cap %d each): %d challenges, '
           '%d answered as capped; batches run again after conflicts so far: node1 %d, node2 %d'
           % (n, CAP, made, replies.count(CAPPED), conflicts_retried(d1), conflicts_retried(d2)))
    h.ok(made <= CAP, 'the hourly cap holds across both daemons: at most %d challenges for %s' % (CAP, CAPPED_KID),
         '%d challenges' % made,
         *['%s: %r' % (n.name, n.sql("SELECT id, sender FROM challenges WHERE protected_key = %s"
                                     % h.sql_str(CAPPED_KID))) for n in (d1.db, d2.db, node)])
    h.is_(made + replies.count(CAPPED) + replies.count(h.TEMPFAIL), n,
          '... every other stranger is answered as capped (or 451)')
    h.ok(not [r for r in replies if r == 'DUNNO'], '... and none allowed')
    # Each daemon alone has counted fewer than the cap: the database refused the rest.
    h.is_(node.value("SELECT n FROM cap_counts WHERE kind = 'recipient' AND cap_key = %s" % h.sql_str(CAPPED_KID)),
          str(made), "cap_counts holds the cluster's count")


def start_notifiers(cluster, sink):
    """Two notifiers polling, on nodes 1 and 3."""
    ns = []
    for node in (cluster.nodes[0], cluster.nodes[2]):
        cfg = h.notify_config(node, sink.port, directory=h.tmpdir(),
                              notifier={'max_per_hour': str(MAIL_CAP), 'digest_delay': '2', 'poll_interval': '1'})
        ns.append(h.Notifier(cfg))
        ns[-1].start()
    return ns


def trickle(d1, d2):
    """Two more strangers for each kid, one every 0.1 s, over both daemons
    (the notifiers mail as they come: each guardian's emails on either)."""
    for i in range(2 * len(KIDS)):
        d = d1 if i % 2 else d2
        if not h.defer_ok(h.query(d.port, sender='late%02d@stranger.example' % i, recipient=KIDS[i % len(KIDS)]),
                          'late stranger %d deferred' % i):
            h.diag('its daemon: ' + d.log()[-1500:])
        time.sleep(0.1)


def check_notifiers(cluster, sink, ns, t0):
    """Every pending challenge mailed once to each guardian, within the caps."""
    node = cluster.nodes[1]
    total = int(node.value("SELECT COUNT(*) FROM challenges WHERE status = 'pending'"))
    good, left, _ = h.poll_until(
        lambda: node.value("SELECT COUNT(*) FROM challenges WHERE status = 'pending' AND notify_state <> 'sent'"),
        lambda v: v == '0', 60)      # the ASan builds under a loaded machine took over 30 s once
    secs = time.monotonic() - t0
    for i, n in enumerate(ns):
        rc, killed = n.stop()
        h.ok(rc == 0 and not killed, 'notifier %d exits 0 on SIGTERM' % (i + 1), n.log()[-2000:])
    h.ok(good, 'two notifiers on nodes 1 and 3: every challenge is mailed', '%s left' % left)
    if not good:
        h.diag('not sent: %r' % node.sql("SELECT id, notify_state, notify_attempts, notify_error, notify_next_at, "
                                         "notify_claimed_until, CURRENT_TIMESTAMP FROM challenges "
                                         "WHERE status = 'pending' AND notify_state <> 'sent'"))
    h.is_(node.value("SELECT COUNT(*) FROM challenges WHERE notify_state = 'claimed'"), '0',
          'no claim is left behind by the notifiers (a claim that committed alone would wait for its lease)')
    h.diag('two notifiers (nodes 1 and 3), %d challenges of 2 guardians each: all sent %.1f s after the '
           'notifiers started; emails sent per notifier %r'
           % (total, secs, [len(re.findall(r'info: sent ', n.log())) for n in ns]))
    # Each link's token names one notifications row: (challenge, guardian).
    pairs, per_guardian = [], {}
    for raw in sink.messages():
        m = email.message_from_bytes(h.SmtpSink.split(raw)[1], policy=email.policy.default)
        g = m['To'].addresses[0].addr_spec if m['To'] and m['To'].addresses else '?'
        digest = re.search(r'\bmore senders? wants?\b', str(m['Subject'] or '')) is not None
        per_guardian.setdefault(g, {'single': 0, 'digest': 0})['digest' if digest else 'single'] += 1
        text = ''.join(part.get_content() for part in m.walk() if part.get_content_type() == 'text/plain')
        for tok in set(re.findall(r'\?t=([0-9a-f]{32})', text)):
            row = node.sql("SELECT challenge_id, guardian FROM notifications WHERE token_sha256 = UNHEX('%s')"
                           % hashlib.sha256(tok.encode()).hexdigest())
            pairs.append(tuple(row[0]) if row else ('unknown token', g))
    want = node.sql("SELECT c.id, g.email FROM challenges c JOIN guardians g ON g.recipient = c.protected_key "
                    "WHERE c.status = 'pending'")
    dups = sorted(set(p for p in pairs if pairs.count(p) > 1))
    h.ok(not dups, 'one email per (challenge, guardian): no pair mailed twice', 'twice: %r' % dups[:5])
    h.is_(sorted(set(pairs)), sorted(tuple(r) for r in want),
          'every (challenge, guardian) pair mailed (%d pairs)' % len(want))
    over = {g: c for g, c in per_guardian.items() if c['single'] > MAIL_CAP}
    h.ok(not over, "each guardian's hourly cap of %d single emails holds across both notifiers" % MAIL_CAP,
         'over: %r' % over)
    h.NOTIFY_LOGS.extend(n.log() for n in ns)


def rule_on_node3(cluster, d1, d2):
    """A rule inserted on node 3 is in force in both daemons."""
    sender, kid = 'friend@rule.example', KIDS[0]
    for d in (d1, d2):
        h.defer_ok(h.query(d.port, sender=sender, recipient=kid), 'before the rule: %s is a stranger' % sender)
    cluster.nodes[2].sql("INSERT INTO sender_rules (recipient, sender, action) VALUES (%s, %s, 'OK')"
                         % (h.sql_str(kid), h.sql_str(sender)))
    t0 = time.monotonic()
    results = at_once([lambda d=d: h.wait_reply(d.port, lambda r: r == 'DUNNO', 5, sender=sender, recipient=kid)
                       for d in (d1, d2)])
    secs = [r[2] if isinstance(r, tuple) and r[0] else None for r in results]
    h.diag('a rule inserted on node 3 in force in the daemon on node 1 after %s s, on node 2 after %s s '
           '(from the INSERT\'s return; refresh_interval 1)'
           % tuple('%.2f' % s if s is not None else 'never' for s in secs))
    h.ok(all(s is not None and s <= 2.0 for s in secs), 'the rule from node 3 is in force in both daemons within 2 s',
         'seconds: %r, %.2f s since the insert' % (secs, time.monotonic() - t0))


def db_ports_of(proc):
    """The remote ports of PROC's established TCP connections (its database
    connections and any policy clients'), from /proc: which node it uses."""
    inodes = set()
    fddir = '/proc/%d/fd' % proc.pid
    for fd in os.listdir(fddir):
        try:
            link = os.readlink(os.path.join(fddir, fd))
        except OSError:
            continue
        if link.startswith('socket:['):
            inodes.add(link[8:-1])
    ports = []
    with open('/proc/net/tcp') as f:
        next(f)
        for line in f:
            p = line.split()
            if p[3] == '01' and p[9] in inodes:      # ESTABLISHED
                ports.append(int(p[2].split(':')[1], 16))
    return ports


def nodes_used(proc, cluster):
    """Names of the nodes PROC holds connections to, sorted."""
    by_port = {n.port: n.name for n in cluster.nodes}
    return sorted(set(by_port[p] for p in db_ports_of(proc) if p in by_port))


def lost_load(d2, stop, seen, killed, moved_enough):
    """Known pairs and new strangers on one connection to d2 until STOP;
    once KILLED is set, each stranger's reply is kept with its times, and
    after MOVED_ENOUGH post-move challenges no new stranger is sent (the
    recipients' hourly cap stays far away)."""
    known_allowed = ('friend@rule.example', KIDS[0])       # the rule of rule_on_node3()
    known_blocked = ('bully@rule.example', KIDS[0])        # a block rule from the start
    waiting = seen['waiting']                              # a stranger with an open challenge
    i = 0
    with h.PolicyConnection(d2.port) as c:
        while not stop.is_set():
            i += 1
            r1 = c.request(sender=known_allowed[0], recipient=known_allowed[1])
            r2 = c.request(sender=known_blocked[0], recipient=known_blocked[1])
            r3 = None
            if seen['post_move'] < moved_enough:
                sender, kid = 'lost%05d@stranger.example' % i, LOST_KIDS[i % len(LOST_KIDS)]
                sent = time.monotonic()
                r3 = c.request(sender=sender, recipient=kid)
            r4 = c.request(sender=waiting[0], recipient=waiting[1])
            seen['known'] += 2
            if r1 != 'DUNNO' or r2 != seen['blocked']:
                seen['known_wrong'].append((r1, r2))
            # A stranger waiting since before is deferred from memory until
            # its write behind fails, then 451: never allowed.
            if not (h.is_defer(r4) or r4 == h.TEMPFAIL):
                seen['allowed_stranger'].append(r4)
            if r3 is None:
                continue
            seen['new'] += 1
            if r3 == 'DUNNO' or r3.startswith('OK'):
                seen['allowed_stranger'].append(r3)
            elif r3 == h.TEMPFAIL:
                seen['new_451'] += 1
            elif r3 == CAPPED:
                seen['capped'] += 1
            elif h.is_defer(r3):
                seen['new_defer'] += 1
            else:
                seen['other'].append(r3)
            if killed.is_set() and sent >= seen['killed_at']:
                seen['after_kill'].append((sender, kid, r3, sent, time.monotonic()))
                if h.is_defer(r3) and r3 != CAPPED:
                    seen['post_move'] += 1


def node_lost(cluster, d1, d2, sink, strangers):
    """Node 2 (d2's first host) killed while d2 answers a mix of known pairs
    and new strangers: d2 moves to another node; then node 2 is started
    again (a full SST) and d2 comes back to it."""
    n1, n2, n3 = cluster.nodes
    seen = {'allowed_stranger': [], 'known_wrong': [], 'other': [], 'known': 0, 'new': 0, 'new_451': 0,
            'new_defer': 0, 'capped': 0, 'post_move': 0, 'after_kill': [], 'waiting': strangers[0],
            'killed_at': None}
    seen['blocked'] = h.query(d2.port, sender='bully@rule.example', recipient=KIDS[0])
    h.like(seen['blocked'], 'REJECT', 'before the loss: the block rule refuses bully@rule.example')
    h.is_(nodes_used(d2.proc, cluster), ['node2'], 'before the loss: d2 (host = node 2, node 1, node 3) uses node 2')
    # A notifier whose host list starts with node 2 too.
    ncfg = h.notify_config(n2, sink.port, directory=h.tmpdir(), database=node_hosts(n2, n1, n3),
                           notifier={'max_per_hour': str(MAIL_CAP), 'digest_delay': '2', 'poll_interval': '1'})
    notifier = h.Notifier(ncfg)
    notifier.start()
    good, _, _ = h.poll_until(notifier.log, lambda t: 'database: connected to 127.0.0.1:%d (entry 1 of 3)'
                              % n2.port in t, 10)
    h.ok(good, 'a notifier with the same host list connects to node 2', notifier.log()[-1500:])

    stop, killed = threading.Event(), threading.Event()
    t = threading.Thread(target=lost_load, args=(d2, stop, seen, killed, LOST_AFTER_MOVE))
    t.start()
    h.poll_until(lambda: seen['new'], lambda v: v >= 20, 10)
    n2.kill()
    seen['killed_at'] = time.monotonic()
    killed.set()
    # d2 moves: new strangers are deferred with a challenge again.
    moved, _, _ = h.poll_until(lambda: seen['post_move'], lambda v: v >= LOST_AFTER_MOVE, MOVE_BOUND)
    h.poll_until(lambda: time.monotonic() - seen['killed_at'], lambda v: v >= 1, 2)   # known pairs a while longer
    stop.set()
    t.join(30)
    after = list(seen['after_kill'])
    first_defer = next((x for x in after if h.is_defer(x[2]) and x[2] != CAPPED), None)
    failover = first_defer[4] - seen['killed_at'] if first_defer else None
    h.diag('node 2 killed under load on d2: %d known-pair replies, %d new strangers after the kill '
           '(%d answered 451, then %d deferred with a challenge); failover (kill to the first stranger '
           'recorded again) %s'
           % (seen['known'], len(after), sum(1 for x in after if x[2] == h.TEMPFAIL),
              sum(1 for x in after if h.is_defer(x[2]) and x[2] != CAPPED),
              '%.2f s' % failover if failover is not None else 'never'))
    h.ok(not seen['allowed_stranger'], 'node 2 lost: no stranger is ever allowed', repr(seen['allowed_stranger'][:5]))
    h.ok(not seen['known_wrong'], 'node 2 lost: known pairs (an allow rule, a block rule) keep their answers '
         '(from memory)', repr(seen['known_wrong'][:5]))
    h.ok(not seen['other'] and not seen['capped'], 'node 2 lost: every new stranger deferred or 451, none capped',
         'others %r, capped %d' % (seen['other'][:5], seen['capped']))
    h.ok(moved and failover is not None and failover < MOVE_BOUND,
         'node 2 lost: d2 moves and new strangers are deferred with a challenge again within %ds' % MOVE_BOUND,
         'post-move deferrals %d' % seen['post_move'], d2.log()[-2000:])
    h.ok(re.search(r'warning: database: connected to 127\.0\.0\.1:(%d|%d) \(entry [23] of 3\); entry 1 '
                   r'127\.0\.0\.1:%d: ' % (n1.port, n3.port, n2.port), d2.log()),
         'd2 logs its move to another node and why node 2 failed', d2.log()[-2000:])
    deferred = [(s, k) for s, k, r, _, _ in after if h.is_defer(r) and r != CAPPED]
    for node in (n1, n3):
        good, got, _ = h.poll_until(
            lambda: int(node.value("SELECT COUNT(*) FROM challenges WHERE is_open = 1 AND (sender, recipient) IN (%s)"
                                   % ', '.join('(%s, %s)' % (h.sql_str(s), h.sql_str(k)) for s, k in deferred))),
            lambda v: v == len(deferred), 5)
        dups = node.value("SELECT COUNT(*) FROM (SELECT sender FROM challenges WHERE sender LIKE 'lost%' "
                          "GROUP BY sender, recipient HAVING COUNT(*) > 1) x")
        h.ok(deferred and good and dups == '0',
             'node 2 lost: each of the %d strangers deferred after the kill is recorded exactly once on %s'
             % (len(deferred), node.name), 'open rows %r, pairs with more than one row %s' % (got, dups))
    used = nodes_used(d2.proc, cluster)
    h.ok(used and 'node2' not in used, 'node 2 lost: d2 is connected to the surviving nodes only (%s)'
         % ', '.join(used), repr(used))

    # The notifier moves too: it mails a challenge d2 records now, once.
    note = 'moved-note@stranger.example'
    h.defer_ok(h.query(d2.port, sender=note, recipient=NOTE_KID), 'node 2 lost: a stranger for a kid with a guardian')
    good, _, secs = h.poll_until(lambda: sum(note.encode() in raw for raw in sink.messages()), lambda v: v >= 1,
                                 MOVE_BOUND)
    h.diag('node 2 lost: the notifier (host list from node 2) mailed a challenge recorded after the kill '
           '%.2f s after it was recorded' % secs)
    h.ok(good, 'node 2 lost: the notifier moves and mails the new challenge', notifier.log()[-2000:])
    h.ok(re.search(r'warning: database: connected to 127\.0\.0\.1:(%d|%d) \(entry [23] of 3\)' % (n1.port, n3.port),
                   notifier.log()), 'the notifier logs its move', notifier.log()[-2000:])

    # The daemon on node 1 is not affected: the cluster goes on with 2 nodes.
    t0 = time.monotonic()
    got = h.query(d1.port, sender='after@stranger.example', recipient=CALM_KID)
    h.diag('a new stranger on node 1 after node 2 died: answered in %.2f s' % (time.monotonic() - t0))
    if not h.defer_ok(got, 'node 2 lost: the daemon on node 1 still records new strangers'):
        h.diag('d1: ' + d1.log()[-1500:])
    h.is_(open_rows(n1, 'after@stranger.example', CALM_KID), 1, '... its challenge is there')

    node_back(cluster, d2, notifier, sink, note)


def node_back(cluster, d2, notifier, sink, note):
    """Node 2 started again (an empty data directory: a full SST): d2 and the
    notifier come back to it within failback_interval."""
    n2 = cluster.nodes[1]
    secs = n2.start()
    synced_at = time.monotonic()
    h.diag('node 2 started again and Synced (full rsync SST) in %.1f s' % secs)
    h.is_(n2.cluster_size(), 3, 'node 2 back: the cluster has 3 nodes again')
    # The writer tries its first entry again before a transaction: new
    # strangers until d2's connections are all on node 2 and one is recorded.
    back = None
    i = 0
    while time.monotonic() - synced_at < BACK_BOUND:
        i += 1
        sender, kid = 'back%03d@stranger.example' % i, BACK_KIDS[i % len(BACK_KIDS)]
        got = h.query(d2.port, sender=sender, recipient=kid)
        if got == 'DUNNO' or got.startswith('OK'):
            h.ok(False, 'node 2 back: a stranger allowed', got)
            break
        if h.is_defer(got) and nodes_used(d2.proc, cluster) == ['node2'] and open_rows(n2, sender, kid) == 1:
            back = time.monotonic() - synced_at
            break
        time.sleep(0.1)
    h.diag('node 2 back: d2 records new strangers with only node 2 connected %s after it was Synced '
           '(failback_interval %d)' % ('%.2f s' % back if back is not None else 'never', FAILBACK))
    h.diag(*['d2: ' + ln for ln in d2.log().splitlines() if 'database:' in ln])
    h.ok(back is not None, 'node 2 back: within %ds d2 is on node 2 again and records a stranger there'
         % BACK_BOUND, 'nodes used %r' % nodes_used(d2.proc, cluster), d2.log()[-2000:])
    h.ok('info: database: connected to 127.0.0.1:%d (entry 1 of 3), the first entry is back' % n2.port in d2.log(),
         'd2 logs its return to node 2', d2.log()[-2000:])
    good, _, secs = h.poll_until(notifier.log, lambda t: 'connected to 127.0.0.1:%d (entry 1 of 3), the first entry '
                                 'is back' % n2.port in t, BACK_BOUND)
    h.ok(good, 'node 2 back: the notifier comes back to node 2', notifier.log()[-2000:])
    rc, killed = notifier.stop()
    h.ok(rc == 0 and not killed, 'the notifier with the host list exits 0 on SIGTERM', notifier.log()[-2000:])
    h.is_(sum(note.encode() in raw for raw in sink.messages()), 1, 'the challenge recorded during the loss was '
          'mailed once')
    h.NOTIFY_LOGS.append(notifier.log())


def node_hosts(*nodes):
    """[database] keys for a host list of NODES (their TCP ports on 127.0.0.1), socket off."""
    return {'socket': '', 'host': ', '.join('127.0.0.1:%d' % n.port for n in nodes),
            'failback_interval': str(FAILBACK)}


def main():
    cluster = galera.Cluster()
    secs = cluster.start()
    h.diag('3-node Galera cluster (rsync SST) up and Synced in %.1f s' % secs)
    cluster.load_schema()
    n1, n2, n3 = cluster.nodes
    stmts = []
    for kid in KIDS + [CAPPED_KID] + TPUT_KIDS + LOST_KIDS + BACK_KIDS + [CALM_KID, NOTE_KID]:
        stmts.append("INSERT INTO protected_users (recipient, class) VALUES (%s, 'whitelist')" % h.sql_str(kid))
        for g in guardians_of(kid)[:1] if kid == NOTE_KID else guardians_of(kid) if kid in KIDS + [CAPPED_KID] else []:
            stmts.append("INSERT INTO guardians (recipient, email) VALUES (%s, %s)" % (h.sql_str(kid), h.sql_str(g)))
    stmts.append("INSERT INTO sender_rules (recipient, sender, action) VALUES (%s, 'bully@rule.example', "
                 "'REJECT go away')" % h.sql_str(KIDS[0]))
    n1.sql('; '.join(stmts))
    h.poll_until(lambda: n2.value('SELECT COUNT(*) FROM guardians'), lambda v: v == str(2 * len(KIDS) + 3), 5)
    policy = {'max_new_challenges_per_recipient': str(CAP), 'max_new_challenges_per_client': '100000'}
    d1 = h.start_daemon(n1, **policy)
    # d2's [database] is a host list, its own node first (docs/scaling.md):
    # node_lost() kills node 2 and d2 moves, then comes back.
    d2 = h.Daemon(n2, **policy)
    d2.write_raw(d2.config_text().replace('socket = ' + n2.socket, '\n'.join(
        '%s = %s' % kv for kv in node_hosts(n2, n1, n3).items() if kv[0] != 'socket')))
    d2.start()

    strangers = same_strangers(n3, d1, d2)
    throughput(n3, d1, d2)
    sink = h.SmtpSink()
    sink.start()
    t0 = time.monotonic()
    ns = start_notifiers(cluster, sink)
    caps(n3, d1, d2)
    trickle(d1, d2)
    check_notifiers(cluster, sink, ns, t0)
    rule_on_node3(cluster, d1, d2)
    node_lost(cluster, d1, d2, sink, strangers)
    d1.stop()
    d2.stop()
    sink.stop()
    h.no_notify_sanitizer_reports()
    cluster.stop()


reason = galera.missing()
if reason:
    h.skip_all(reason)
h.run(main, timeout=300)
