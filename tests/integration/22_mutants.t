#!/usr/bin/python3
"""Decisions that a mutation run of the decision code (issue 26, `make
mutate`) found pinned down by no end-to-end test, each through the real
guardlistd (and `guardlist check`, which decides with the same code):

- ASCII case folding covers Z: a stranger writing to Zed@family.example,
  protected as zed@, is challenged, never answered DUNNO;
- a sender without a domain is refused, also when it spells an allowed
  domain (gmail.com) or an allowed user@ key (grandpa);
- !-paths are refused as routed addresses (5.1.3), protected or not, as the
  %-hack, @-routes and address literals are; a recipient without a domain
  is refused too;
- a leading recipient delimiter starts no extension: +news@lists.example is
  its own sender in the challenge, +kid@family.test its own recipient;
- two rows that fold to one key (the key columns are binary, so both can
  exist): the refusing one wins whichever was read first, in the full load
  (both insertion orders), in the incremental refresh (allow first, by id),
  and in `guardlist check`;
- a daemon whose rules are behind (refresh_interval 3600): a pair denied
  meanwhile is refused at its first request (the writer finds it closed),
  one approved meanwhile is deferred, never refused, and gets no second
  challenge; after such a find every pair the daemon remembers is checked
  again, so a second pair denied at the same time is refused at once too;
- approving a challenge whose sender is a domain (a raw SQL row) is refused:
  it would allow the whole domain;
- a denied and an expired challenge reach the daemon's memory through the
  incremental refresh: with MariaDB stopped they are still refused from
  memory, and the decision log names the challenge."""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID = 'kid@family.test'
DENIED = h.ACCESS_DENIED
ROUTED = 'REJECT 5.1.3 Routed addresses and address literals are not accepted here; use the plain address'
WRITE_WAIT = 5.0        # the daemon records challenges in the background
REFRESH_WAIT = 10.0     # refresh_interval is 1 s; a change is in force within about 2 s

RULES = [
    "INSERT INTO protected_users (recipient, class) VALUES ('zed@', 'whitelist')",
    "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test', 'whitelist')",
    "INSERT INTO protected_users (recipient, class) VALUES ('+kid@family.test', 'whitelist')",
    "INSERT INTO whitelist (sender, action) VALUES ('gmail.com', 'OK')",
    "INSERT INTO whitelist (sender, action) VALUES ('grandpa@', 'OK')",
    # Rows that fold to one key, in both insertion orders: whichever order a
    # table scan reads them in (by id or by the binary unique key), one of
    # the two pairs is read allow first.
    "INSERT INTO whitelist (sender, action) VALUES ('pal@x.example', 'OK')",
    "INSERT INTO whitelist (sender, action) VALUES ('PAL@x.example', 'REJECT')",
    "INSERT INTO whitelist (sender, action) VALUES ('ally@x.example', 'REJECT')",
    "INSERT INTO whitelist (sender, action) VALUES ('ALLY@x.example', 'OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid@family.test', 'mate@x.example', 'OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid@family.test', 'MATE@x.example', 'REJECT')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid@family.test', 'chum@x.example', 'REJECT')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid@family.test', 'CHUM@x.example', 'OK')",
]


def check_action(config, sender, rcpt):
    """`guardlist check SENDER RCPT --json`'s action (None if it gave none)."""
    rc, out, err = h.cli(config, 'check', sender, rcpt, '--json')
    try:
        return json.loads(out)['action']
    except (ValueError, KeyError, TypeError):
        h.diag('guardlist check %s %s: exit %d, %s %s' % (sender, rcpt, rc, out.strip(), err.strip()))
        return None


def decision_lines(d, sender):
    """The daemon's decision log lines for SENDER."""
    return [ln for ln in d.log().splitlines() if 'decision sender="%s"' % sender in ln]


def challenge_id(db, sender, rcpt=KID):
    good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=sender, recipient=rcpt),
                                 lambda r: len(r) == 1, WRITE_WAIT)
    h.ok(good, 'the challenge of %s -> %s is recorded' % (sender, rcpt), repr(rows))
    return rows[0]['id'] if good else None


def cli_ok(cfg, *args):
    rc, out, err = h.cli(cfg, *args)
    h.is_(rc, 0, 'guardlist ' + ' '.join(args)) or h.diag(out, err)


def loads(d):
    """(how, generation) of every 'rules loaded' line of the daemon so far."""
    return [(m.group(1), int(m.group(2)))
            for m in re.finditer(r'rules loaded \(([a-z ]+)\): generation=(\d+)', d.log())]


def main():
    db = h.start_db(*RULES)
    cfg = h.cli_config(db)
    # No full reload during the test: closes must come by the incremental refresh.
    d = h.start_daemon(db, full_reload_interval='86400')
    q = lambda s, r=KID: h.query(d.port, sender=s, recipient=r)  # noqa: E731

    # ---- case folding: Z is a letter too
    h.defer_ok(q('stranger@example.net', 'Zed@family.example'),
               'Zed@family.example (protected as zed@): a stranger is deferred, not DUNNO')
    h.defer_ok(q('stranger@example.net', 'ZED@FAMILY.EXAMPLE'), 'ZED@FAMILY.EXAMPLE: deferred')
    rows = h.poll_until(lambda: h.challenges(db, sender='stranger@example.net', recipient='zed@family.example'),
                        lambda r: len(r) == 1, WRITE_WAIT)[1]
    h.is_([r['protected_key'] for r in rows], ['zed@'],
          'one challenge, for zed@family.example (folded), protected by zed@')
    h.ok(h.is_defer(check_action(cfg, 'stranger@example.net', 'Zed@family.example')),
         'guardlist check agrees: Zed@family.example is protected')

    # ---- senders without a domain
    for sender, what in (('gmail.com', 'spells the allowed domain gmail.com'),
                         ('grandpa', 'matches the allowed user@ key grandpa@'),
                         ('Gmail.COM', 'the same in capitals')):
        h.is_(q(sender), DENIED, 'sender %r without a domain (%s) is refused' % (sender, what))
        h.is_(check_action(cfg, sender, KID), DENIED, 'guardlist check agrees: %r refused' % sender)
    h.is_(q('someone@gmail.com'), 'DUNNO', 'control: someone@gmail.com is allowed by the domain rule')
    h.is_(q('grandpa@anywhere.example'), 'DUNNO', 'control: grandpa@anywhere.example is allowed by grandpa@')
    h.is_(h.challenges(db, sender='gmail.com') + h.challenges(db, sender='grandpa'), [],
          'no challenge is recorded for a sender without a domain')

    # ---- routed forms: !-path, %-hack, @-route, protected or not
    for rcpt in ('family.test!kid@localhost', 'family.test!kid@family.test', 'localhost!kid@family.test',
                 'elsewhere.example!nobody@localhost', 'kid%family.test@localhost', 'kid@family.test@localhost',
                 'kid@[127.0.0.1]'):
        h.is_(q('stranger@example.net', rcpt), ROUTED, 'recipient %s is refused as a routed address' % rcpt)
        h.is_(check_action(cfg, 'stranger@example.net', rcpt), ROUTED, 'guardlist check agrees on %s' % rcpt)

    for rcpt in ('kid', 'zed', 'Zed'):
        h.is_(q('stranger@example.net', rcpt), DENIED, 'recipient %r without a domain is refused' % rcpt)
    h.is_(check_action(cfg, 'stranger@example.net', 'zed'), DENIED, "guardlist check agrees on 'zed'")

    # ---- a leading delimiter is part of the local part
    h.defer_ok(q('+news@lists.example'), '+news@lists.example -> kid: deferred')
    rows = h.poll_until(lambda: h.challenges(db, recipient=KID), lambda r: len(r) == 1, WRITE_WAIT)[1]
    h.is_([r['sender'] for r in rows], ['+news@lists.example'],
          'the challenge names the sender +news@lists.example (no empty base address)')
    h.defer_ok(q('stranger@example.net', '+kid@family.test'), 'stranger -> +kid@family.test: deferred')
    rows = h.poll_until(lambda: h.challenges(db, sender='stranger@example.net', recipient='+kid@family.test'),
                        lambda r: len(r) == 1, WRITE_WAIT)[1]
    h.is_([r['protected_key'] for r in rows], ['+kid@family.test'],
          'the challenge names the recipient +kid@family.test, protected by its own key')
    h.is_(h.challenges(db, recipient='@family.test') + h.challenges(db, sender='@lists.example'), [],
          'no challenge names an address with an empty local part')

    # ---- rows that fold to one key: the refusal wins
    for sender, what in (('pal@x.example', 'global: OK row inserted first, then REJECT'),
                         ('ally@x.example', 'global: REJECT row inserted first, then OK'),
                         ('mate@x.example', 'per recipient: OK row inserted first, then REJECT'),
                         ('chum@x.example', 'per recipient: REJECT row inserted first, then OK')):
        for spelled in (sender, sender.upper()):
            h.is_(q(spelled), DENIED, 'full load, %s: %s is refused' % (what, spelled))
        h.is_(check_action(cfg, sender, KID), DENIED, 'guardlist check agrees (%s): %s refused' % (what, sender))
    # Added while the daemon runs: the incremental refresh reads by id, allow first.
    for table, cols, allow, block in (
            ('whitelist', '(sender, action)', "('buddy@x.example', 'OK')", "('BUDDY@x.example', 'REJECT')"),
            ('sender_rules', '(recipient, sender, action)', "('kid@family.test', 'pen@x.example', 'OK')",
             "('kid@family.test', 'Pen@X.example', 'REJECT')")):
        sender = 'buddy@x.example' if table == 'whitelist' else 'pen@x.example'
        db.sql('INSERT INTO %s %s VALUES %s' % (table, cols, allow))
        good, got, _ = h.wait_reply(d.port, lambda r: r == 'DUNNO', REFRESH_WAIT, sender=sender, recipient=KID)
        h.ok(good, '%s: the allow row is in force first' % table, 'last reply %r' % (got,))
        db.sql('INSERT INTO %s %s VALUES %s' % (table, cols, block))
        good, got, secs = h.wait_reply(d.port, lambda r: r == DENIED, REFRESH_WAIT, sender=sender, recipient=KID)
        h.ok(good, '%s: a second row folding to the same key with REJECT replaces the allow (%.1f s)'
             % (table, secs), 'last reply %r' % (got,))
        h.is_(check_action(cfg, sender, KID), DENIED, 'guardlist check agrees: %s refused' % sender)
    h.ok(any(how == 'new rows' for how, _ in loads(d)), 'those rows came by the incremental refresh (new rows)',
         repr(loads(d)))

    # ---- a second daemon whose rules stay behind
    d2 = h.start_daemon(db, refresh_interval='3600', full_reload_interval='86400')
    q2 = lambda s, r=KID: h.query(d2.port, sender=s, recipient=r)  # noqa: E731
    for s in ('twin1@evil.example', 'twin2@evil.example'):
        h.defer_ok(q2(s), 'behind: %s is deferred, its challenge recorded' % s)
        challenge_id(db, s)
    for s in ('late-deny@evil.example', 'late-ok@fine.example'):
        h.defer_ok(q(s), '%s: deferred by the first daemon' % s)
    cli_ok(cfg, 'deny', challenge_id(db, 'late-deny@evil.example'))
    cli_ok(cfg, 'approve', challenge_id(db, 'late-ok@fine.example'))
    cli_ok(cfg, 'deny', challenge_id(db, 'twin1@evil.example'))
    cli_ok(cfg, 'deny', challenge_id(db, 'twin2@evil.example'))
    # twin1 is remembered as pending: answered from memory at once (deferred,
    # never allowed) while its refresh, written behind the reply, finds it
    # denied; from then on memory refuses it.
    got = q2('twin1@evil.example')
    h.ok(got == DENIED or h.is_defer(got), 'behind: twin1 right after the denial: refused or deferred', repr(got))
    good, got, secs = h.wait_reply(d2.port, lambda r: r == DENIED, WRITE_WAIT, sender='twin1@evil.example',
                                   recipient=KID)
    h.ok(good, 'behind: twin1 is refused once its refresh found it denied (%.1f s)' % secs,
         'last reply %r' % (got,))
    h.is_([q2('twin1@evil.example') for _ in range(3)], [DENIED] * 3, 'behind: and stays refused')
    h.is_(q2('twin2@evil.example'), DENIED,
          'behind: twin2, denied at the same time, is refused at its first retry (checked again)')
    h.is_(q2('late-deny@evil.example'), DENIED,
          'behind: a pair denied since the rules were loaded is refused at its first request')
    h.defer_ok(q2('late-ok@fine.example'),
               'behind: a pair approved since the rules were loaded is deferred (never refused)')
    h.is_([(r['status'], r['is_open']) for r in h.challenges(db, sender='late-ok@fine.example')],
          [('approved', None)], 'behind: and no second challenge is opened for it')
    d2.stop()

    # ---- approving a challenge whose sender is no single address (a raw SQL row)
    # SQL: a challenge the daemon would never record, its sender a domain key
    db.sql("INSERT INTO challenges (sender, recipient, protected_key) VALUES ('spam.example', %s, %s)"
           % (h.sql_str(KID), h.sql_str(KID)))
    did = db.value("SELECT id FROM challenges WHERE sender = 'spam.example'")
    rc, out, err = h.cli(cfg, 'approve', did)
    h.ok(rc != 0 and 'single address' in err, 'guardlist approve refuses a challenge whose sender is a domain',
         'exit %d, %s %s' % (rc, out.strip(), err.strip()))
    h.is_(db.sql("SELECT action FROM sender_rules WHERE sender = 'spam.example'"), [],
          '... and writes no rule allowing the whole domain')
    h.is_(db.value('SELECT status FROM challenges WHERE id = %s' % did), 'pending', '... the challenge stays pending')

    # ---- closes by the incremental refresh, then the database away
    for s in ('pest-denied@evil.example', 'pest-expired@evil.example'):
        h.defer_ok(q(s), '%s: deferred, challenge recorded' % s)
    cid = challenge_id(db, 'pest-denied@evil.example')
    eid = challenge_id(db, 'pest-expired@evil.example')
    # No request for either pair from here on: only the refresh may tell the daemon.
    cli_ok(cfg, 'deny', cid)
    db.sql('UPDATE challenges SET first_seen = first_seen - INTERVAL 30 DAY WHERE id = %s' % eid)
    cli_ok(cfg, 'expire')
    h.is_(db.value('SELECT status FROM challenges WHERE id = %s' % eid), 'expired', 'the old challenge is expired')
    gen = int(db.value('SELECT generation FROM rule_generation WHERE id = 1'))
    good, got, _ = h.poll_until(lambda: loads(d), lambda ls: ls and ls[-1][1] >= gen, REFRESH_WAIT)
    h.ok(good, 'the daemon loads generation %d (the two closes)' % gen, repr(got[-3:] if got else got))
    h.is_(got[-1][0] if good else None, 'new rows', 'by the incremental refresh')
    db.stop()
    for s, status in (('pest-denied@evil.example', 'denied'), ('pest-expired@evil.example', 'expired')):
        before = len(decision_lines(d, s))
        h.is_(q(s), DENIED, 'database stopped: the %s pair is refused from memory' % status)
        # The reply goes out before its log line: wait for the line.
        lines = h.poll_until(lambda: decision_lines(d, s), lambda ls: len(ls) > before, WRITE_WAIT)[1]
        h.ok(lines and 'rule="challenge"' in lines[-1] and 'why="challenge %s"' % status in lines[-1],
             'the decision log names the %s challenge' % status, lines[-1:] or 'no decision line')
    h.is_(q('pal@x.example'), DENIED, 'database stopped: the folded block still holds')
    d.stop()


h.run(main, timeout=240)
