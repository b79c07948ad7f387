#!/usr/bin/python3
"""`guardlist check SENDER RCPT --json` tells what guardlistd answers: for
every case of the daemon suite (10_article.t, 20_rules.t) - global OK,
per-recipient OK/REJECT beating global rules, user@ and domain protection,
domain rules, +ext and mixed case, the null sender, REJECT with a text, HOLD,
an invalid action, denied and expired challenges, unprotected recipients,
unknown senders in defer and reject modes - its "action" equals the daemon's
reply to the same request, made right after it (one test per case).  `check`
writes nothing: every table is the same before and after it, in particular no
challenge is recorded for an unknown sender (the daemon does record one)."""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID1 = 'kid1@family.example'
KID2 = 'kid2@family.example'
VAGUE = 'vague@imprecise.info'
DENIED = h.ACCESS_DENIED
DEFER = 'defer'          # expected: DEFER_IF_PERMIT with a reason
WRITE_WAIT = 5.0         # the daemon records challenges in the background

RULES = [
    "INSERT INTO protected_users (recipient, class) VALUES ('vague@imprecise.info','whitelist')",
    "INSERT INTO protected_users VALUES ('vague@','whitelist')",
    "INSERT INTO protected_users VALUES ('kid1@family.example','whitelist')",
    "INSERT INTO protected_users VALUES ('kid2@family.example','whitelist')",
    "INSERT INTO protected_users VALUES ('MixedCase@Family.Example','whitelist')",
    "INSERT INTO protected_users VALUES ('school.example','whitelist')",
    "INSERT INTO protected_users VALUES ('kïd@exämple.org','whitelist')",
    "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
    "INSERT INTO whitelist VALUES ('friend@x.example','OK')",
    "INSERT INTO whitelist VALUES ('bad@y.example','REJECT')",
    "INSERT INTO whitelist VALUES ('spammer@evil.example','REJECT')",
    "INSERT INTO whitelist VALUES ('rude@evil.example','REJECT Go away, please')",
    "INSERT INTO whitelist VALUES ('trusted.example','OK')",
    "INSERT INTO whitelist VALUES ('Cousin@Example.ORG','OK')",
    "INSERT INTO whitelist VALUES ('lower@example.com','ok')",
    "INSERT INTO whitelist VALUES ('lowerblock@example.com','reject')",
    "INSERT INTO whitelist VALUES ('weird@example.com','MAYBE')",
    "INSERT INTO whitelist VALUES ('grössmutter@exämple.org','OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid1@family.example','friend@x.example','REJECT')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid1@family.example','bad@y.example','OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid2@family.example','uncle.example','OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid2@family.example','holdme@z.example','HOLD')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid2@family.example','tempfail@z.example','450 4.7.1 Try later')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('kid1@family.example','<>','OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('vague@','teacher@school.example','OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('vague@','coach@school.example','OK')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('vague@imprecise.info','coach@school.example','REJECT')",
    "INSERT INTO sender_rules (recipient, sender, action) VALUES ('family.example','nanny@care.example','OK')",
]

# (sender for the daemon (''= null sender), recipient, what it shows, the
#  daemon's documented reply (DEFER: DEFER_IF_PERMIT + reason; None: not
#  pinned), whether the daemon records or refreshes a challenge)
DEFAULT_CASES = [
    ('grandma@example.com', VAGUE, "the article's global OK", 'DUNNO', False),
    ('GrandMa+News@EXAMPLE.com', 'Vague+Homework@Other.Example', 'mixed case and +ext, vague@ in another domain', 'DUNNO', False),
    ('cousin@example.org', KID1, 'mixed-case whitelist key', 'DUNNO', False),
    ('friend@x.example', KID1, 'per-recipient REJECT beats global OK', DENIED, False),
    ('friend@x.example', KID2, 'global OK where no per-recipient rule', 'DUNNO', False),
    ('bad@y.example', KID1, 'per-recipient OK beats global REJECT', 'DUNNO', False),
    ('bad@y.example', KID2, 'global REJECT', DENIED, False),
    ('Friend+list@X.Example', 'Kid1+pics@Family.Example', 'per-recipient rule, mixed case and +ext', DENIED, False),
    ('teacher@school.example', 'vague@any.example', 'per-recipient rule on the vague@ key', 'DUNNO', False),
    ('coach@school.example', VAGUE, 'most specific recipient key first', DENIED, False),
    ('coach@school.example', 'vague@other.example', 'the vague@ rule elsewhere', 'DUNNO', False),
    ('nanny@care.example', KID1, 'per-recipient rule on a domain key', 'DUNNO', False),
    ('spammer@evil.example', KID2, 'blocked sender', DENIED, False),
    ('rude@evil.example', KID2, 'REJECT with a text', 'REJECT Go away, please', False),
    ('anyone@trusted.example', KID2, 'global domain rule', 'DUNNO', False),
    ('x@mail.trusted.example', KID2, 'global domain rule, subdomain', 'DUNNO', False),
    ('aunt@uncle.example', KID2, 'per-recipient domain rule', 'DUNNO', False),
    ('holdme@z.example', KID2, 'HOLD verbatim', 'HOLD', False),
    ('tempfail@z.example', KID2, '4NN text verbatim', '450 4.7.1 Try later', False),
    ('lower@example.com', KID2, "action 'ok' in lower case", 'DUNNO', False),
    ('lowerblock@example.com', KID2, "action 'reject' in lower case", DENIED, False),
    ('grössmutter@exämple.org', 'kïd@exämple.org', 'UTF-8 whitelisted sender', 'DUNNO', False),
    ('GRÖSSMUTTER@EXÄMPLE.ORG', 'KÏD@EXÄMPLE.ORG', 'UTF-8, upper case', 'DUNNO', False),
    ('', KID2, 'null sender, null_sender = reject', DENIED, False),
    ('', KID1, 'null sender with a <> rule', 'DUNNO', False),
    ('', KID1, "null sender given to check as ''", 'DUNNO', False, ''),
    ('', KID2, "null sender given to check as '', null_sender = reject", DENIED, False, ''),
    ('someone@example.com', 'other@imprecise.info', 'unprotected recipient', 'DUNNO', False),
    ('stranger@example.net', 'notvague@other.example', 'vague@ does not protect notvague@', 'DUNNO', False),
    ('stranger@example.net', 'pupil@notschool.example', 'domain key stops at the label boundary', 'DUNNO', False),
    # unknown senders: the daemon records (then refreshes) a challenge
    ('stranger@example.net', VAGUE, 'unknown sender (defer)', DEFER, True),
    ('stranger@example.net', VAGUE, 'unknown sender again, challenge pending (defer)', DEFER, True),
    ('Stranger+Tag@Example.NET', 'VAGUE+x@Another.Example', 'unknown sender, mixed case and +ext', DEFER, True),
    ('stranger@example.net', 'pupil@sub.school.example', 'unknown sender, domain protection', DEFER, True),
    ('stranger@example.net', 'MIXEDCASE@family.example', 'unknown sender, mixed-case protected key', DEFER, True),
    ('stranger@example.net', 'KÏD@EXÄMPLE.ORG', 'unknown sender, UTF-8 recipient', DEFER, True),
    ('teacher@school.example', KID1, 'the vague@ rule does not leak to kid1', DEFER, True),
    ('x@untrusted.example', KID2, 'global domain rule does not cover untrusted.example', DEFER, True),
    ('weird@example.com', KID2, "invalid action 'MAYBE': its row answers 451", '451 4.3.0 Temporary lookup failure', False),
    # envelope forms (issue 17): BATV tags removed, SRS from an untrusted client kept
    ('prvs=0123abcdef=grandma@example.com', VAGUE, 'BATV prvs=TAG=user of a global OK', 'DUNNO', False),
    ('btv1==0777abbcc85==bad@y.example', KID2, 'Barracuda BATV of a global REJECT', DENIED, False),
    ('prvs=batvstranger=0123abcdef@example.net', VAGUE, 'BATV prvs=user=TAG of an unknown sender', DEFER, True),
    ('SRS0=abcd=TT=example.com=grandma@fwd.example', VAGUE, 'SRS of grandma from an untrusted client', DEFER, True),
]

# Closed challenges, made in the suite's way (a challenge, then an UPDATE).
CLOSED = [('denied', 'pest-denied@example.net'), ('expired', 'pest-expired@example.net')]


def closed_cases(status, sender):
    return [
        (sender, KID1, '%s challenge' % status, DENIED, False),
        (sender.upper().replace('@', '+x@'), 'Kid1+y@family.example', '%s challenge, mixed case and +ext' % status,
         DENIED, False),
        (sender, KID2, 'the %s challenge is for kid1 only (defer)' % status, DEFER, True),
    ]


REJECT_CASES = [
    ('grandma@example.com', VAGUE, 'on_allow = OK: global OK', 'OK', False),
    ('bad@y.example', KID1, 'on_allow = OK: per-recipient OK', 'OK', False),
    ('friend@x.example', KID1, 'per-recipient REJECT', DENIED, False),
    ('holdme@z.example', KID2, 'HOLD verbatim', 'HOLD', False),
    ('', KID2, 'null_sender = allow', None, False),
    ('', KID1, 'null sender with a <> rule, on_allow = OK', 'OK', False),
    ('someone@example.com', 'other@imprecise.info', 'unprotected recipient', 'DUNNO', False),
    ('stranger2@example.net', VAGUE, 'unknown sender (reject)', DENIED, True),
    ('stranger2@example.net', VAGUE, 'unknown sender again (reject)', DENIED, True),
    ('stranger@example.net', VAGUE, 'sender with a pending challenge from defer mode (reject)', DENIED, True),
    ('pest-denied@example.net', KID1, 'denied challenge (reject mode)', DENIED, False),
]

CHALLENGE_CASES = [
    ('', KID2, 'null_sender = challenge', DEFER, True),
    ('', KID1, 'null sender with a <> rule, null_sender = challenge', 'DUNNO', False),
    ('grandma-news@example.com', 'kid2-x@family.example', 'recipient_delimiter = +-: "-" extensions', 'DUNNO', False),
    ('grandma+news@example.com', KID2, 'recipient_delimiter = +-: "+" still works', 'DUNNO', False),
    ('stranger-x@example.net', 'kid1-y@family.example', 'recipient_delimiter = +-: unknown sender', DEFER, True),
]


STATE_DIGESTS = {'protected_users': 'recipient, class', 'whitelist': 'sender, action',
                 'sender_rules': 'recipient, sender, action', 'guardians': 'recipient, email',
                 'audit_log': 'id, actor, action, detail', 'rule_generation': 'id, generation',
                 'schema_version': 'version'}
# One query (one client process) for the whole state: every challenge row in
# full (JSON_ARRAY keeps NULL apart from ''), then each other table's row
# count and content digest.
STATE_SQL = ' UNION ALL '.join(
    ["(SELECT 'challenges', JSON_ARRAY(id, sender, recipient, protected_key, status, is_open, attempts, "
     "client_address, client_name, first_seen, last_seen, HEX(token_sha256), notify_state, decided_at, decided_by) "
     "FROM challenges ORDER BY id LIMIT 100000)"]
    + ["(SELECT '%s', JSON_ARRAY(COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS(0x1f, %s))), 0)) FROM %s)" % (t, cols, t)
       for t, cols in STATE_DIGESTS.items()])


def db_state(db):
    """Everything a writer could change: challenge rows, every other table's
    rows (counts and content digests) and the rule generation."""
    state = {t: [] for t in ['challenges'] + list(STATE_DIGESTS)}
    for table, row in db.sql(STATE_SQL):
        state[table].append(json.loads(row))
    return state


def diff(a, b):
    return ['%s: %r -> %r' % (k, a[k], b.get(k)) for k in a if a[k] != b.get(k)]


def check_json(config, sender, rcpt):
    """`guardlist -c CONFIG check SENDER RCPT --json` -> (action or None, rc, stdout, stderr)."""
    rc, out, err = h.cli(config, 'check', sender, rcpt, '--json')
    try:
        return json.loads(out)['action'], rc, out, err
    except (ValueError, KeyError, TypeError):
        return None, rc, out, err


def expected_ok(reply, want):
    if want is None:
        return True
    if want == DEFER:
        return h.is_defer(reply)
    return reply == want


class Run:
    def __init__(self, db):
        self.db = db
        self.check_wrote = []        # (case, diff) where check changed the database
        self.unexpected = []         # daemon replies unlike the suite's expectation
        self.cases = 0

    def case(self, d, mode, sender, rcpt, what, want, writes, cli_sender=None):
        """One case: `check` first (it must write nothing), then the daemon.
        The daemon gets SENDER ('' for the null sender, as Postfix sends it);
        check gets CLI_SENDER, by default SENDER or '<>' for the null sender."""
        self.cases += 1
        if cli_sender is None:
            cli_sender = sender if sender else '<>'
        label = '%s -> %s' % (cli_sender, rcpt)
        before = db_state(self.db)
        action, rc, out, err = check_json(d.config, cli_sender, rcpt)
        after = db_state(self.db)
        if before != after:
            self.check_wrote.append((label, diff(before, after)))
        if writes:
            h.is_(len(after['challenges']), len(before['challenges']),
                  '[%s] check %s (%s) records no challenge (count unchanged)' % (mode, label, what))
        reply = h.query(d.port, sender=sender, recipient=rcpt)
        if writes:
            # Let the daemon's background write land before the next case, so
            # that it is never mistaken for a write by `check`.
            good, _, secs = h.poll_until(lambda: db_state(self.db)['challenges'],
                                         lambda c: c != after['challenges'], WRITE_WAIT)
            if not good:
                self.unexpected.append('%s (%s): no challenge write seen within %ss' % (label, mode, WRITE_WAIT))
        h.ok(action == reply and rc == 0,
             '[%s] check agrees with guardlistd: %s (%s): %r' % (mode, label, what, reply),
             '  guardlistd: %r' % (reply,), '  check:      %r (exit %d)' % (action, rc),
             '  stdout: %s' % out.strip(), '  stderr: %s' % err.strip())
        if not expected_ok(reply, want):
            self.unexpected.append('%s (%s): %r, the daemon suite expects %r' % (label, mode, reply, want))


def main():
    db = h.start_db(*RULES)
    run = Run(db)

    d = h.start_daemon(db)
    for c in DEFAULT_CASES:
        run.case(d, 'defer', *c)

    # Denied and expired challenges: first a challenge by the daemon, then
    # closed by SQL, as the daemon suite does; wait until it is in force.
    for status, sender in CLOSED:
        h.defer_ok(h.query(d.port, sender=sender, recipient=KID1), '%s: first a challenge (deferred)' % sender)
        h.poll_until(lambda: h.challenges(db, sender=sender, recipient=KID1), lambda r: len(r) == 1, WRITE_WAIT)
        db.sql("UPDATE challenges SET status = '%s', is_open = NULL WHERE sender = %s"
               % (status, h.sql_str(sender)))
        good, got, secs = h.wait_reply(d.port, lambda r: r == DENIED, 2.0, sender=sender, recipient=KID1)
        h.ok(good, 'the %s challenge is in force in guardlistd within 2 s' % status, 'last reply %r' % (got,))
        for c in closed_cases(status, sender):
            run.case(d, 'defer', *c)
    # The same, right after the UPDATE, before the daemon's refresh: the
    # pair is recorded in the daemon's memory, so the next retry is answered
    # at once (deferred, never allowed) while its refresh, written behind the
    # reply, finds the pair closed; from then on both refuse.
    for status, sender in CLOSED:
        sender = sender.replace('pest-', 'quick-')
        h.defer_ok(h.query(d.port, sender=sender, recipient=KID1), '%s: first a challenge (deferred)' % sender)
        h.poll_until(lambda: h.challenges(db, sender=sender, recipient=KID1), lambda r: len(r) == 1, WRITE_WAIT)
        db.sql("UPDATE challenges SET status = '%s', is_open = NULL WHERE sender = %s"
               % (status, h.sql_str(sender)))
        got = h.query(d.port, sender=sender, recipient=KID1)
        h.ok(got == DENIED or h.is_defer(got), '%s: right after the UPDATE: refused or deferred, never allowed'
             % sender, 'got %r' % (got,))
        good, got, secs = h.wait_reply(d.port, lambda r: r == DENIED, 2.0, sender=sender, recipient=KID1)
        h.ok(good, '%s: refused %.3f s after the UPDATE' % (sender, secs), 'last reply %r' % (got,))
        run.case(d, 'defer', sender, KID1, '%s challenge, right after the UPDATE' % status, DENIED, False)
    d.stop()

    d = h.start_daemon(db, unknown_sender='reject', on_allow='OK', null_sender='allow')
    for c in REJECT_CASES:
        run.case(d, 'reject', *c)
    d.stop()

    d = h.start_daemon(db, null_sender='challenge', recipient_delimiter='+-')
    for c in CHALLENGE_CASES:
        run.case(d, 'null-challenge', *c)
    d.stop()

    h.ok(not run.check_wrote, '`check` changed nothing in the database in any of the %d cases' % run.cases,
         *['%s: %s' % (label, '; '.join(dd)) for label, dd in run.check_wrote])
    h.ok(not run.unexpected, "guardlistd's replies are the ones the daemon suite documents (fixture sanity)",
         *run.unexpected)
    db.stop()


h.run(main, timeout=240)
