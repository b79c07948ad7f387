#!/usr/bin/python3
"""Rule matching: user@ protection keys in any domain, domain keys, case and
+extension handling, per-recipient rules beating global ones (both ways),
blocks, domain rules, other actions verbatim, the null sender, non-RCPT
states, unprotected recipients, and denied/expired challenges."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID1 = 'kid1@family.example'
KID2 = 'kid2@family.example'
DENIED = h.ACCESS_DENIED

RULES = [
    # protection keys: a user@ key (the article's vague@), addresses, a stored
    # mixed-case key, and a whole domain
    "INSERT INTO protected_users VALUES ('vague@','whitelist')",
    "INSERT INTO protected_users VALUES ('kid1@family.example','whitelist')",
    "INSERT INTO protected_users VALUES ('kid2@family.example','whitelist')",
    "INSERT INTO protected_users VALUES ('MixedCase@Family.Example','whitelist')",
    "INSERT INTO protected_users VALUES ('school.example','whitelist')",
    # global rules (the article's whitelist table)
    "INSERT INTO whitelist VALUES ('grandma@example.com','OK')",
    "INSERT INTO whitelist VALUES ('friend@x.example','OK')",
    "INSERT INTO whitelist VALUES ('bad@y.example','REJECT')",
    "INSERT INTO whitelist VALUES ('spammer@evil.example','REJECT')",
    "INSERT INTO whitelist VALUES ('trusted.example','OK')",
    "INSERT INTO whitelist VALUES ('Cousin@Example.ORG','OK')",
    # per-recipient rules
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid1@family.example','friend@x.example','REJECT')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid1@family.example','bad@y.example','OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid2@family.example','uncle.example','OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid2@family.example','holdme@z.example','HOLD')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid1@family.example','<>','OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('vague@','teacher@school.example','OK')",
    # the most specific recipient key wins
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('vague@','coach@school.example','OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('vague@imprecise.info','coach@school.example','REJECT')",
    # a per-recipient rule on a domain key covers every address of the domain
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('family.example','nanny@care.example','OK')",
    # actions in lower case (access(5) is case-insensitive), and an invalid one
    "INSERT INTO whitelist VALUES ('lower@example.com','ok')",
    "INSERT INTO whitelist VALUES ('lowerblock@example.com','reject')",
    "INSERT INTO whitelist VALUES ('weird@example.com','MAYBE')",
    # UTF-8 addresses
    "INSERT INTO protected_users VALUES ('kïd@exämple.org','whitelist')",
    "INSERT INTO whitelist VALUES ('grössmutter@exämple.org','OK')",
]


def main():
    db = h.start_db(*RULES)
    d = h.start_daemon(db)

    def q(sender, recipient, **a):
        return h.query(d.port, sender=sender, recipient=recipient, **a)

    # --- user@ protection in any domain, case, +extension
    h.defer_ok(q('stranger@example.net', 'vague@imprecise.info'),
               'vague@ protects vague@imprecise.info: stranger deferred')
    h.defer_ok(q('stranger@example.net', 'vague@other.example'),
               'vague@ protects vague in any domain: vague@other.example deferred')
    h.is_(q('grandma@example.com', 'vague@other.example'), 'DUNNO',
          'grandma -> vague@other.example: DUNNO')
    h.is_(q('GrandMa+News@EXAMPLE.com', 'Vague+Homework@Other.Example'), 'DUNNO',
          'mixed case and +ext on both sides: grandma still allowed')
    h.is_(q('stranger@example.net', 'notvague@other.example'), 'DUNNO',
          'vague@ does not protect notvague@: DUNNO')
    h.defer_ok(q('Stranger+Tag@Example.NET', 'VAGUE+x@Another.Example'),
               'mixed case and +ext: stranger -> vague@another.example deferred')
    rows = h.challenges(db, recipient='vague@another.example')
    h.is_([(r['sender'], r['recipient'], r['protected_key']) for r in rows],
          [('stranger+tag@example.net', 'vague@another.example', 'vague@')],
          'challenge row stores lower-case addresses, the sender with its +ext (as the guardian will see it, '
          'issue 25), the recipient without, and the vague@ key')
    h.defer_ok(q('stranger@example.net', 'MIXEDCASE@family.example'),
               'a mixed-case protected_users key protects the lower-case address')
    h.is_(q('cousin@example.org', KID1), 'DUNNO', 'a mixed-case whitelist key allows the lower-case sender')
    h.defer_ok(q('stranger@example.net', 'pupil@school.example'),
               'a domain key protects addresses in that domain')
    h.defer_ok(q('stranger@example.net', 'pupil@sub.school.example'),
               'a domain key protects addresses in subdomains')
    h.is_(q('stranger@example.net', 'pupil@notschool.example'), 'DUNNO',
          'a domain key does not protect notschool.example (label boundary)')

    # --- per-recipient rules beat global ones, both ways
    h.is_(q('friend@x.example', KID1), DENIED, 'per-recipient REJECT beats global OK (kid1)')
    h.is_(q('friend@x.example', KID2), 'DUNNO', 'global OK still applies to kid2')
    h.is_(q('bad@y.example', KID1), 'DUNNO', 'per-recipient OK beats global REJECT (kid1)')
    h.is_(q('bad@y.example', KID2), DENIED, 'global REJECT still applies to kid2')
    h.is_(q('Friend+list@X.Example', 'Kid1+pics@Family.Example'), DENIED,
          'per-recipient rule matches with mixed case and +ext')
    h.is_(q('teacher@school.example', 'vague@any.example'), 'DUNNO',
          'a per-recipient rule on the vague@ key applies in any domain')
    h.defer_ok(q('teacher@school.example', KID1), 'the vague@ rule does not leak to kid1')

    h.is_(q('coach@school.example', 'vague@imprecise.info'), DENIED,
          'the rule on vague@imprecise.info beats the one on vague@ (most specific recipient key first)')
    h.is_(q('coach@school.example', 'vague@other.example'), 'DUNNO', 'the vague@ rule applies elsewhere')
    h.is_(q('nanny@care.example', KID1), 'DUNNO', 'a per-recipient rule on a domain key: kid1 allowed')
    h.is_(q('nanny@care.example', KID2), 'DUNNO', 'a per-recipient rule on a domain key: kid2 allowed')
    h.defer_ok(q('nanny@care.example', 'vague@other.example'), 'the domain-key rule does not apply outside it')

    # --- blocks, domain rules, other actions
    h.is_(q('spammer@evil.example', KID2), DENIED, 'a blocked sender: REJECT Access denied')
    h.is_(h.challenges(db, sender='spammer@evil.example'), [], 'a blocked sender leaves no challenge')
    h.is_(q('anyone@trusted.example', KID2), 'DUNNO', 'global domain rule: anyone@trusted.example allowed')
    h.is_(q('x@mail.trusted.example', KID2), 'DUNNO', 'global domain rule covers subdomains')
    h.defer_ok(q('x@untrusted.example', KID2), 'global domain rule does not cover untrusted.example')
    h.is_(q('aunt@uncle.example', KID2), 'DUNNO', 'per-recipient domain rule: aunt@uncle.example -> kid2 allowed')
    h.defer_ok(q('aunt@uncle.example', KID1), 'per-recipient domain rule does not apply to kid1')
    h.is_(q('holdme@z.example', KID2), 'HOLD', 'another access(5) action is returned verbatim (HOLD)')
    h.is_(q('lower@example.com', KID2), 'DUNNO', "action 'ok' in lower case allows")
    h.is_(q('lowerblock@example.com', KID2), DENIED, "action 'reject' in lower case blocks")
    got = q('weird@example.com', KID2)
    h.is_(got, '451 4.3.0 Temporary lookup failure',
          "an invalid action ('MAYBE') allows nothing: its row keeps its place and answers 451")
    h.defer_ok(q('other@example.com', KID2), "... while other senders of that domain are not affected")
    # The invalid row must not let a less specific allow take its place.
    db.sql("INSERT INTO whitelist (sender, action) VALUES ('allowed-domain.example', 'OK')")
    db.sql("INSERT INTO whitelist (sender, action) VALUES ('spammer@allowed-domain.example', CONCAT('REJECT', CHAR(13)))")
    good, got, secs = h.wait_reply(d.port, lambda r: r != 'DUNNO' and not h.is_defer(r), 2.0,
                                   sender='spammer@allowed-domain.example', recipient=KID2)
    h.is_(got, '451 4.3.0 Temporary lookup failure',
          'a block row spoilt by a CR does not fall back to the domain allow (fail closed)')
    h.ok('weird@example.com' in d.log() or 'MAYBE' in d.log(), 'the invalid rule row is reported in the log',
         'log tail: %r' % d.log()[-800:])

    # --- UTF-8 addresses
    h.defer_ok(q('stranger@example.net', 'kïd@exämple.org'), 'a UTF-8 protected address is protected')
    h.is_(q('grössmutter@exämple.org', 'kïd@exämple.org'), 'DUNNO', 'a UTF-8 whitelisted sender is allowed')
    h.defer_ok(q('stranger@example.net', 'KÏD@EXÄMPLE.ORG'),
               'UTF-8 protected address in upper case is protected (compared case-insensitively)')
    h.is_(q('GRÖSSMUTTER@EXÄMPLE.ORG', 'kïd@exämple.org'), 'DUNNO',
          'UTF-8 whitelisted sender in upper case is allowed (compared case-insensitively)')

    # --- null sender
    h.is_(q('', KID2), DENIED, 'null sender, null_sender = reject: REJECT Access denied')
    h.is_(q('', KID1), 'DUNNO', 'null sender with a <> rule for kid1: DUNNO')

    # --- states other than RCPT, unprotected recipients
    for state in ('CONNECT', 'MAIL', 'DATA', 'END-OF-MESSAGE'):
        h.is_(q('state-test@example.net', KID1, protocol_state=state), 'DUNNO',
              'protocol_state=%s for a protected recipient: DUNNO' % state)
    h.is_(q('state-test@example.net', '', protocol_state='MAIL'), 'DUNNO',
          'protocol_state=MAIL with an empty recipient (as Postfix sends it): DUNNO')
    h.is_(h.challenges(db, sender='state-test@example.net'), [], 'non-RCPT requests leave no challenge')
    h.is_(q('stranger2@example.net', 'someone@elsewhere.example'), 'DUNNO', 'unprotected recipient: DUNNO')
    h.is_(h.challenges(db, sender='stranger2@example.net'), [], 'an unprotected recipient leaves no challenge')

    # --- denied and expired challenges.  Two senders per status: PROBE is
    # polled until the closed challenge is in force; CHECK is not sent during
    # that window, so what it gets and writes afterwards is the steady state.
    for status in ('denied', 'expired'):
        probe = 'probe-%s@example.net' % status
        check = 'pest-%s@example.net' % status
        for sender in (probe, check):
            h.defer_ok(q(sender, KID1), '%s: first a challenge (deferred)' % sender)
        db.sql("UPDATE challenges SET status = '%s', is_open = NULL WHERE sender IN (%s, %s)"
               % (status, h.sql_str(probe), h.sql_str(check)))
        # Before any refresh: the pair was recorded, so the next retry is
        # answered at once from memory (deferred, never allowed) while its
        # refresh, written behind the reply, finds the pair closed.
        got = q(probe, KID1)
        h.ok(got == DENIED or h.is_defer(got),
             'right after the %s UPDATE (before any refresh): refused or deferred, never allowed' % status,
             'got: %r' % got)
        good, got, secs = h.wait_reply(d.port, lambda r: r == DENIED, 2.0, sender=probe, recipient=KID1)
        h.ok(good, 'a %s challenge makes the pair REJECT Access denied (within 2 s)' % status,
             'last reply: %r after %.2fs' % (got, secs))
        reopened = db.value("SELECT COUNT(*) FROM challenges WHERE sender = %s AND is_open = 1"
                            % h.sql_str(probe))
        h.is_(reopened, '0', 'no new pending challenge (so no second email) for the %s pair' % status)
        h.is_(q(check, KID1), DENIED, 'a %s pair: REJECT Access denied' % status)
        # The sender's +ext form is a pair of its own to the challenge writer
        # (challenges record the sender as written); the closed challenge of
        # the plain address covers it once the rules in memory have it.
        good, got, secs = h.wait_reply(d.port, lambda r: r == DENIED, 2.0,
                                       sender=check.upper().replace('@', '+x@'), recipient='Kid1+y@family.example')
        h.ok(good, '%s pair matched with mixed case and +ext (within 2 s)' % status,
             'last reply: %r after %.2fs' % (got, secs))
        ext_rows = db.value("SELECT COUNT(*) FROM challenges WHERE sender = %s"
                            % h.sql_str(check.replace('@', '+x@')))
        h.is_(ext_rows, '0', 'the %s sender\'s +ext form got no challenge of its own (no email about a '
              'sender the guardian refused)' % status)
        h.defer_ok(q(check, KID2), 'the %s challenge is for kid1 only: kid2 still deferred' % status)
        rows = h.challenges(db, sender=check, recipient=KID1)
        h.is_([(r['status'], r['is_open'], r['attempts']) for r in rows], [(status, None, '1')],
              'the %s pair: its one closed row, unchanged; no new open challenge' % status)
        h.is_(q(probe, KID1), DENIED, 'the probe pair is refused as well')

    h.ok(d.running(), 'guardlistd is still running')
    d.stop()

    # --- null_sender = challenge / allow, and another recipient_delimiter
    d = h.start_daemon(db, null_sender='challenge', recipient_delimiter='+-')
    h.defer_ok(h.query(d.port, sender='', recipient=KID2), 'null_sender = challenge: <> -> kid2 deferred')
    rows = h.challenges(db, recipient=KID2)
    h.is_([r['sender'] for r in rows if r['sender'] in ('<>', '')], ['<>'],
          'null_sender = challenge: the challenge row has sender <>')
    h.is_(h.query(d.port, sender='', recipient=KID1), 'DUNNO', 'null_sender = challenge: the <> rule still allows')
    h.is_(h.query(d.port, sender='grandma-news@example.com', recipient='kid2-x@family.example'), 'DUNNO',
          'recipient_delimiter = +-: "-" extensions are removed on both sides')
    h.is_(h.query(d.port, sender='grandma+news@example.com', recipient=KID2), 'DUNNO',
          'recipient_delimiter = +-: "+" still works')
    d.stop()
    d = h.start_daemon(db, null_sender='allow', recipient_delimiter='')
    h.is_(h.query(d.port, sender='', recipient=KID2), 'DUNNO', 'null_sender = allow: <> -> kid2 allowed')
    h.defer_ok(h.query(d.port, sender='grandma+news@example.com', recipient=KID2),
               'recipient_delimiter empty: grandma+news is a different sender')
    d.stop()
    db.stop()


h.run(main, timeout=180)
