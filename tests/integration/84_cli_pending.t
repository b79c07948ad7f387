#!/usr/bin/python3
"""guardlist CLI (docs/cli-contract.md): the pending queue.  Challenges made by
a running guardlistd are listed by `pending` (table and --json), approved
(also --domain) or denied by ID, and the daemon follows within 2 s; IDs that
are unknown, not pending or not numbers are refused; approving a
null-sender challenge warns on stderr that every bounce message now gets
through; the sender check (spf_result, set with SQL) is listed in words, only
a pass as verified; `expire` turns old
pending challenges into expired ones and purges old closed ones, per config."""
import json
import os
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID = 'kid@c.example'
KID2 = 'kid2@family.example'
FAMILY = 'family.example'
ERR = 'guardlist: error: '
BOUND = 2.0
JSON_KEYS = {'id', 'sender', 'recipient', 'first_seen', 'last_seen', 'attempts', 'status',
             'age_seconds', 'notify_state', 'notify_error', 'spf_result', 'sender_check'}


def diff_snap(a, b):
    lines = []
    for t in sorted(set(a) | set(b)):
        ra, rb = set(a.get(t, [])), set(b.get(t, []))
        for r in sorted(ra - rb, key=str):
            lines.append('%s: removed %r' % (t, r))
        for r in sorted(rb - ra, key=str):
            lines.append('%s: added %r' % (t, r))
    return lines


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@c.example','whitelist')",
        "INSERT INTO protected_users (recipient, class) VALUES ('family.example','whitelist')",
        "INSERT INTO guardians (recipient, email) VALUES ('kid@c.example','mom@home.example')",
    )
    cfg = h.cli_config(db, approver={'token_ttl_days': '7'})
    d = h.start_daemon(db)

    def run(*args, actor='tester'):
        return h.cli(cfg, *args, actor=actor)

    def audit_max():
        return int(db.value('SELECT COALESCE(MAX(id), 0) FROM audit_log'))

    def change(desc, *args, actor='tester'):
        last = audit_max()
        rc, out, err = run(*args, actor=actor)
        h.is_(rc, 0, '%s: exit 0' % desc) or h.diag('stderr: ' + err)
        h.is_(db.sql('SELECT actor FROM audit_log WHERE id > %d' % last), [[actor]],
              '%s: exactly one audit_log row, actor %r' % (desc, actor))
        return out

    def refused(desc, args, code):
        before = h.snapshot(db)
        rc, out, err = run(*args)
        h.is_(rc, code, '%s: exit %d' % (desc, code)) or h.diag('stderr: ' + err)
        lines = err.splitlines()
        h.ok(any(ln.startswith(ERR) for ln in lines) and (code == 2 or len(lines) == 1),
             '%s: "%s..." on stderr' % (desc, ERR), 'stderr: %r' % err)
        after = h.snapshot(db)
        h.ok(after == before, '%s: nothing written' % desc, *diff_snap(before, after))

    def readonly(desc, *args):
        before = h.snapshot(db)
        rc, out, err = run(*args)
        h.is_(rc, 0, '%s: exit 0' % desc) or h.diag('stderr: ' + err)
        after = h.snapshot(db)
        h.ok(after == before, '%s: read-only (nothing written, no audit row)' % desc,
             *diff_snap(before, after))
        return out

    def pending_json(desc, *extra):
        out = readonly(desc, 'pending', *extra, '--json')
        try:
            j = json.loads(out)
        except ValueError as e:
            h.ok(False, '%s: output parses as JSON' % desc, str(e), 'output: %r' % out[:2000])
            return None
        h.ok(isinstance(j, list) and all(isinstance(o, dict) for o in j),
             '%s: a JSON array of objects' % desc, 'got: %r' % (j,))
        return j if isinstance(j, list) else None

    def challenge(sender, recipient, times=1):
        for _ in range(times):
            h.defer_ok(h.query(d.port, sender=sender, recipient=recipient),
                       '%s -> %s: deferred (challenge)' % (sender, recipient))
        good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=sender, recipient=recipient),
                                     lambda r: len(r) == 1 and r[0]['attempts'] == str(times), 10)
        h.ok(good, 'challenge row for %s -> %s recorded (attempts %d)' % (sender, recipient, times),
             'rows: %r' % (rows,))
        return int(rows[0]['id']) if good else -1

    def follows(desc, sender, recipient, want):
        t0 = time.monotonic()
        good, got, _ = h.wait_reply(d.port, lambda r: r == want, BOUND + 1, sender=sender,
                                    recipient=recipient)
        secs = time.monotonic() - t0
        h.ok(good and secs <= BOUND, '%s: daemon answers %r within %.0f s' % (desc, want, BOUND),
             'last reply %r after %.3f s' % (got, secs))

    def status(cid):
        return db.sql('SELECT status, is_open FROM challenges WHERE id = %d' % cid)

    # ------------------------------------------------------------ challenges
    a = challenge('stranger1@ext.example', KID, times=2)
    b = challenge('stranger2@ext.example', KID)
    c3 = challenge('s3@other.example', KID2)
    dn = challenge('s4@deny.example', KID)
    e = challenge('dom@domain.example', KID)
    ids = {a, b, c3, dn, e}
    db.sql('UPDATE challenges SET first_seen = NOW() - INTERVAL 2 HOUR WHERE id = %d' % a)

    # ------------------------------------------------------------ pending
    j = pending_json('pending --json')
    if j is not None:
        h.ok(all(JSON_KEYS <= set(o) for o in j), 'pending --json: every object has the keys %s'
             % ', '.join(sorted(JSON_KEYS)), 'objects: %r' % j[:2])
        h.ok(all(type(o.get('id')) is int and type(o.get('attempts')) is int
                 and type(o.get('age_seconds')) in (int, float) for o in j),
             'pending --json: id, attempts and age_seconds are numbers', 'objects: %r' % j[:2])
        byid = {o.get('id'): o for o in j}
        h.is_(set(byid), ids, 'pending --json: exactly the open challenges, by id')
        dbrows = {int(r['id']): r for r in h.challenges(db)}
        h.ok(all(o.get('sender') == dbrows[i]['sender'] and o.get('recipient') == dbrows[i]['recipient']
                 and o.get('status') == 'pending' and str(o.get('attempts')) == dbrows[i]['attempts']
                 for i, o in byid.items() if i in dbrows),
             'pending --json: sender, recipient, status pending, attempts as in the table',
             'json: %r' % j)
        if a in byid:
            h.is_(byid[a].get('attempts'), 2, 'pending --json: the retried challenge has attempts 2')
            age = byid[a].get('age_seconds')
            h.ok(isinstance(age, (int, float)) and 7200 - 5 <= age <= 7200 + 300,
                 'pending --json: age_seconds of a challenge first seen 2 h ago is about 7200', 'got %r' % age)
        if b in byid:
            age = byid[b].get('age_seconds')
            h.ok(isinstance(age, (int, float)) and 0 <= age <= 300,
                 'pending --json: age_seconds of a new challenge is small and not negative', 'got %r' % age)
            h.is_(byid[b].get('notify_state'), 'new', 'pending --json: notify_state new')
            h.is_(byid[b].get('notify_error'), None, 'pending --json: notify_error null')
    out = readonly('pending (table)', 'pending')
    missing = [i for i in ids if not re.search(r'(?<![0-9])%d(?![0-9])' % i, out)]
    h.ok(not missing, 'pending (table) shows every id', 'missing %r in %r' % (missing, out))
    h.ok(all(s in out for s in ('stranger1@ext.example', 'stranger2@ext.example', 's3@other.example',
                                KID, KID2, 'pending')),
         'pending (table) shows senders, recipients and status', 'output: %r' % out)

    # ------------------------------------------------------------ the sender check
    # spf_result as guardlistd records it (issue 17), written with SQL here.
    spf = {a: ('pass', 'verified'), b: ('none', 'not verified'), c3: ('neutral', 'not verified'),
           dn: (None, 'not checked')}
    for cid, (v, _) in spf.items():
        db.sql('UPDATE challenges SET spf_result = %s WHERE id = %d' % ('NULL' if v is None else h.sql_str(v), cid))
    j = pending_json('pending --json with spf_result set')
    if j is not None:
        byid = {o.get('id'): o for o in j}
        got = {cid: (byid.get(cid, {}).get('spf_result'), byid.get(cid, {}).get('sender_check')) for cid in spf}
        h.is_(got, {cid: v for cid, v in spf.items()},
              'pending --json: spf_result as stored (null when nothing was checked) and sender_check in words')
    out = readonly('pending (table) with spf_result set', 'pending')
    lines = {cid: next((ln for ln in out.splitlines() if re.match(r'%d\s' % cid, ln)), '') for cid in spf}
    h.ok('SENDER CHECK' in out.splitlines()[0], 'pending (table): a SENDER CHECK column', out)
    for cid, (v, word) in spf.items():
        h.ok(re.search(r'\s%s\s' % word, lines[cid])
             and len(re.findall(r'(?<!not )verified', lines[cid])) == (1 if v == 'pass' else 0),
             'pending (table): spf_result %s reads "%s"' % (v or 'NULL', word), lines[cid])

    # ------------------------------------------------------------ approve
    last = audit_max()
    rc, out, err = run('approve', str(a), actor='mom')
    h.ok(rc == 0 and err == '' and len(out.splitlines()) == 1, 'approve ID: exit 0, one line, nothing on stderr',
         out, err)
    h.is_(db.sql('SELECT actor FROM audit_log WHERE id > %d' % last), [['mom']],
          'approve ID: exactly one audit_log row, actor \'mom\'')
    h.is_(db.sql("SELECT recipient, sender, action FROM sender_rules WHERE sender = 'stranger1@ext.example'"),
          [[KID, 'stranger1@ext.example', 'OK']], 'approve: sender_rules (protected key, sender, OK)')
    h.is_(status(a), [['approved', None]], 'approve: challenge approved and closed (is_open NULL)')
    follows('approve', 'stranger1@ext.example', KID, 'DUNNO')
    # approve without --domain: another sender of that domain is still deferred
    s9 = challenge('stranger9@ext.example', KID)

    change('approve ID of a challenge protected by a domain key', 'approve', str(c3))
    h.is_(db.sql("SELECT recipient, sender, action FROM sender_rules WHERE sender = 's3@other.example'"),
          [[FAMILY, 's3@other.example', 'OK']],
          'approve: the rule is for the protected key (family.example), not the recipient address')
    follows('approve (domain-protected recipient)', 's3@other.example', KID2, 'DUNNO')

    change('approve ID --domain', 'approve', str(e), '--domain')
    h.is_(db.sql("SELECT recipient, sender, action FROM sender_rules WHERE sender LIKE '%domain.example'"),
          [[KID, 'domain.example', 'OK']], 'approve --domain: sender_rules (kid, domain.example, OK)')
    h.is_(status(e), [['approved', None]], 'approve --domain: challenge approved and closed')
    follows('approve --domain: another sender of that domain', 'other@domain.example', KID, 'DUNNO')

    # ------------------------------------------------------------ deny
    change('deny ID', 'deny', str(dn), actor='dad')
    h.is_(status(dn), [['denied', None]], 'deny: challenge denied and closed')
    follows('deny', 's4@deny.example', KID, h.ACCESS_DENIED)

    j = pending_json('pending --json after the decisions')
    if j is not None:
        got = set(o.get('id') for o in j)
        # (Polling the daemon until it followed a decision may have recorded
        # new challenges in the meantime: the table says which are open.)
        h.is_(got, set(int(r[0]) for r in db.sql("SELECT id FROM challenges WHERE status = 'pending'")),
              'pending --json: exactly the challenges still pending')
        h.ok({b, s9} <= got and not got & {a, c3, dn, e},
             'pending --json: the decided challenges are gone, the undecided ones are left', 'got: %r' % got)
    j = pending_json('pending --all --json', '--all')
    if j is not None:
        got = {o.get('id'): o.get('status') for o in j}
        h.ok(all(got.get(i) == s for i, s in ((a, 'approved'), (b, 'pending'), (c3, 'approved'),
                                             (dn, 'denied'), (e, 'approved'))),
             'pending --all --json: closed challenges too, with their status', 'got: %r' % got)

    # ------------------------------------------------------------ refusals
    refused('approve an approved challenge', ['approve', str(a)], 1)
    refused('approve a denied challenge', ['approve', str(dn)], 1)
    refused('deny an approved challenge', ['deny', str(a)], 1)
    refused('approve --domain of a closed challenge', ['approve', str(e), '--domain'], 1)
    refused('approve an unknown ID', ['approve', '999999'], 1)
    refused('deny an unknown ID', ['deny', '999999'], 1)
    for bad in ('abc', '12x', '-1', '1.5', '', ' 7', '0x10', '99999999999999999999999'):
        refused('approve %r (not a number)' % bad, ['approve', bad], 2)
    refused('deny "abc" (not a number)', ['deny', 'abc'], 2)
    refused('approve without ID', ['approve'], 2)
    h.is_(status(b), [['pending', '1']], 'the refused commands left the open challenge pending')

    # ------------------------------------------------------------ edge cases
    def raw_challenge(sender, recipient='kid@c.example', key='kid@c.example'):
        db.sql("INSERT INTO challenges (sender, recipient, protected_key) VALUES (%s, %s, %s)"
               % (h.sql_str(sender), h.sql_str(recipient), h.sql_str(key)))
        return int(db.value('SELECT MAX(id) FROM challenges'))

    n = raw_challenge('<>')
    refused('approve --domain of a null-sender challenge (no domain)', ['approve', str(n), '--domain'], 2)
    last = audit_max()
    rc, out, err = run('approve', str(n))
    h.is_(rc, 0, 'approve a null-sender challenge: exit 0') or h.diag('stderr: ' + err)
    h.is_(db.sql('SELECT actor FROM audit_log WHERE id > %d' % last), [['tester']],
          'approve a null-sender challenge: exactly one audit_log row')
    h.ok(re.search(r'^guardlist: warning: challenge %d was for the null sender <>: every bounce message '
                   r'\(delivery report\) to kid@c\.example is now let through, from anyone' % n, err, re.M),
         'approve (null sender): a warning on stderr says every bounce message to the key now gets through', err)
    h.ok(('challenge=%d sender=<> ' % n) in out and len(out.splitlines()) == 1,
         'approve (null sender): stdout keeps its one result line', out)
    h.is_(db.sql("SELECT recipient, action FROM sender_rules WHERE sender = '<>'"), [[KID, 'OK']],
          'approve (null sender): rule for the key <>')

    rc, out, err = run('block', 'flip@ext.example', '--to', KID)
    h.is_(rc, 0, 'block flip --to kid (a rule made after the challenge)') or h.diag(err)
    n = raw_challenge('flip@ext.example')
    change('approve a challenge whose sender has a per-recipient REJECT meanwhile', 'approve', str(n))
    h.is_(db.sql("SELECT action FROM sender_rules WHERE sender = 'flip@ext.example' AND recipient = %s"
                 % h.sql_str(KID)), [['OK']], 'approve: the guardian\'s approval replaces the REJECT (one row, OK)')

    import threading
    for kinds in (('approve',) * 5, ('approve', 'deny', 'approve', 'deny')):
        n = raw_challenge('race-%s@ext.example' % len(kinds))
        last = audit_max()
        results = [None] * len(kinds)

        def worker(i, k):
            results[i] = run(k, str(n))[0]
        ts = [threading.Thread(target=worker, args=(i, k)) for i, k in enumerate(kinds)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        winners = [k for k, r in zip(kinds, results) if r == 0]
        h.ok(len(winners) == 1 and sorted(results).count(1) == len(kinds) - 1,
             '%d concurrent %s of one challenge: exactly one succeeds, the others exit 1'
             % (len(kinds), '/'.join(sorted(set(kinds)))), 'exit codes: %r' % list(zip(kinds, results)))
        h.is_(len(db.sql('SELECT id FROM audit_log WHERE id > %d' % last)), 1,
              'concurrent decisions: exactly one audit row')
        st = db.sql('SELECT status, is_open FROM challenges WHERE id = %d' % n)
        if len(winners) == 1:
            h.is_(st, [['approved' if winners[0] == 'approve' else 'denied', None]],
                  'concurrent decisions: the challenge has the winner\'s status')

    # ------------------------------------------------------------ expire
    p8 = challenge('old8@exp.example', KID)
    p6 = challenge('old6@exp.example', KID)
    db.sql('UPDATE challenges SET first_seen = NOW() - INTERVAL 8 DAY, last_seen = NOW() - INTERVAL 8 DAY '
           'WHERE id = %d' % p8)
    db.sql('UPDATE challenges SET first_seen = NOW() - INTERVAL 6 DAY, last_seen = NOW() - INTERVAL 6 DAY '
           'WHERE id = %d' % p6)

    def closed(sender, st, days):
        db.sql("INSERT INTO challenges (sender, recipient, protected_key, status, is_open, first_seen, "
               "last_seen, decided_at, decided_by) VALUES (%s, 'kid@c.example', 'kid@c.example', '%s', NULL, "
               "NOW() - INTERVAL %d DAY, NOW() - INTERVAL %d DAY, NOW() - INTERVAL %d DAY, 'someone')"
               % (h.sql_str(sender), st, days, days, days))
        return int(db.value('SELECT MAX(id) FROM challenges'))
    c31 = closed('gone31@exp.example', 'approved', 31)
    c40 = closed('gone40@exp.example', 'expired', 40)
    c35 = closed('gone35@exp.example', 'denied', 35)
    c29 = closed('kept29@exp.example', 'denied', 29)
    before = {int(r['id']): (r['status'], r['is_open']) for r in h.challenges(db)}
    # SQL: the hourly caps' counts (guardlistd's, cap_counts) of an hour long past and of this hour
    db.sql("INSERT INTO cap_counts (kind, cap_key, hour_start, n) VALUES "
           "('recipient', 'kid@c.example', FROM_UNIXTIME(UNIX_TIMESTAMP() DIV 3600 * 3600 - 3 * 3600), 7), "
           "('client', '192.0.2.77', FROM_UNIXTIME(UNIX_TIMESTAMP() DIV 3600 * 3600), 2)")

    last = audit_max()
    rc, out, err = run('expire', actor='cron')
    h.is_(rc, 0, 'expire: exit 0') or h.diag('stderr: ' + err)
    h.is_(db.value('SELECT COUNT(*) FROM cap_counts WHERE hour_start < NOW() - INTERVAL 2 HOUR'), '0',
          "expire: the hourly caps' count of an hour 3 hours past is deleted")
    h.is_(db.value("SELECT n FROM cap_counts WHERE kind = 'client' AND cap_key = '192.0.2.77'"), '2',
          "expire: this hour's count is kept")
    after = {int(r['id']): (r['status'], r['is_open']) for r in h.challenges(db)}
    h.is_(after.get(p8), ('expired', None), 'expire: pending for 8 days (token_ttl_days 7) -> expired, closed')
    h.is_(after.get(p6), ('pending', '1'), 'expire: pending for 6 days stays pending')
    h.is_(after.get(b), ('pending', '1'), 'expire: a new pending challenge stays pending')
    h.ok(all(i not in after for i in (c31, c40, c35)),
         'expire: closed challenges older than 30 days (purge_after_days default) are deleted',
         'left: %r' % [i for i in (c31, c40, c35) if i in after])
    h.is_(after.get(c29), ('denied', None), 'expire: a closed challenge 29 days old is kept')
    h.ok(all(after.get(i) == before[i] for i in (a, c3, dn, e)),
         'expire: recent closed challenges are kept unchanged',
         'before: %r' % {i: before[i] for i in (a, c3, dn, e)},
         'after: %r' % {i: after.get(i) for i in (a, c3, dn, e)})
    actors = [r[0] for r in db.sql('SELECT actor FROM audit_log WHERE id > %d' % last)]
    h.ok(len(actors) >= 1 and set(actors) == {'cron'}, 'expire: the change is audited with actor cron',
         'audit actors: %r' % actors)
    follows('expire', 'old8@exp.example', KID, h.ACCESS_DENIED)
    before2 = h.snapshot(db, tables=['challenges', 'sender_rules', 'whitelist', 'protected_users'])
    rc, out, err = run('expire', actor='cron')
    h.is_(rc, 0, 'expire again (nothing to do): exit 0') or h.diag('stderr: ' + err)
    h.ok(h.snapshot(db, tables=['challenges', 'sender_rules', 'whitelist', 'protected_users']) == before2,
         'expire again: no challenge or rule changed')
    d.stop()

    # Another config: token_ttl_days 3, purge_after_days 10.
    cfg2 = h.cli_config(db, approver={'token_ttl_days': '3'}, admin={'purge_after_days': '10'})
    db.sql("INSERT INTO challenges (sender, recipient, protected_key, first_seen, last_seen) VALUES "
           "('p4@exp2.example', 'kid@c.example', 'kid@c.example', NOW() - INTERVAL 4 DAY, NOW() - INTERVAL 4 DAY)")
    p4 = int(db.value('SELECT MAX(id) FROM challenges'))
    db.sql("INSERT INTO challenges (sender, recipient, protected_key, first_seen, last_seen) VALUES "
           "('p2@exp2.example', 'kid@c.example', 'kid@c.example', NOW() - INTERVAL 2 DAY, NOW() - INTERVAL 2 DAY)")
    p2 = int(db.value('SELECT MAX(id) FROM challenges'))
    c15 = closed('gone15@exp2.example', 'approved', 15)
    c5 = closed('kept5@exp2.example', 'denied', 5)
    rc, out, err = h.cli(cfg2, 'expire', actor='cron')
    h.is_(rc, 0, 'expire with token_ttl_days 3, purge_after_days 10: exit 0') or h.diag('stderr: ' + err)
    after = {int(r['id']): (r['status'], r['is_open']) for r in h.challenges(db)}
    h.is_(after.get(p4), ('expired', None), 'token_ttl_days 3: pending for 4 days -> expired')
    h.is_(after.get(p2), ('pending', '1'), 'token_ttl_days 3: pending for 2 days stays pending')
    h.ok(c15 not in after, 'purge_after_days 10: closed 15 days ago -> deleted')
    h.is_(after.get(c5), ('denied', None), 'purge_after_days 10: closed 5 days ago -> kept')
    h.ok(c29 not in after, 'purge_after_days 10: the 29-day-old closed challenge is deleted now')
    db.stop()


h.run(main, timeout=600)
