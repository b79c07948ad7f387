#!/usr/bin/python3
"""The article's own tables and INSERT statements drive guardlistd: grandma
gets through, a stranger is deferred (or refused with unknown_sender = reject)
and leaves exactly one challenge row that counts the attempts."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

VAGUE = 'vague@imprecise.info'
GRANDMA = 'grandma@example.com'


def main():
    db = h.start_db(
        # The article's statements, verbatim ...
        "INSERT INTO protected_users (recipient, class) VALUES ('vague@imprecise.info','whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
        # ... and the same without a column list.
        "INSERT INTO protected_users VALUES ('junior@imprecise.info','whitelist')",
        "INSERT INTO whitelist VALUES ('grandpa@example.com','OK')",
    )
    h.is_(db.sql('SELECT recipient, class FROM protected_users ORDER BY recipient'),
          [['junior@imprecise.info', 'whitelist'], [VAGUE, 'whitelist']],
          "the article's protected_users rows are stored as written")

    # Postfix connects as soon as the port accepts: the very first request
    # must already be decided from the rules (the database is up).
    d = h.Daemon(db)
    first, secs = d.first_reply(sender=GRANDMA, recipient=VAGUE)
    h.is_(first, 'DUNNO', 'the first request, sent the moment the port accepts (%.3f s after '
          'spawn), is answered from the rules: grandma -> vague: DUNNO' % secs)
    d.stop()

    d = h.start_daemon(db)
    q = lambda **a: h.query(d.port, **a)  # noqa: E731

    h.is_(q(sender=GRANDMA, recipient=VAGUE), 'DUNNO', 'grandma -> vague: DUNNO (whitelisted)')
    h.is_(q(sender='grandpa@example.com', recipient='junior@imprecise.info'), 'DUNNO',
          'column-list-less INSERTs work: grandpa -> junior: DUNNO')
    h.is_(q(sender='grandpa@example.com', recipient=VAGUE), 'DUNNO',
          'a whitelist row is global: grandpa -> vague: DUNNO')
    h.is_(q(sender='someone@example.com', recipient='other@imprecise.info'), 'DUNNO',
          'unprotected recipient: DUNNO')

    stranger = 'stranger@example.net'
    h.defer_ok(q(sender=stranger, recipient=VAGUE, client_address='198.51.100.7',
                 client_name='mail.example.net'),
               'stranger -> vague: DEFER_IF_PERMIT with a reason')
    rows = h.challenges(db, sender=stranger)
    h.is_(len(rows), 1, 'one challenge row for the stranger')
    if rows:
        r = rows[0]
        h.is_((r['sender'], r['recipient'], r['protected_key']), (stranger, VAGUE, VAGUE),
              'challenge row: sender, recipient, protected_key')
        h.is_((r['status'], r['is_open'], r['attempts']), ('pending', '1', '1'),
              'challenge row: status pending, open, attempts 1')
        h.is_((r['client_address'], r['client_name']), ('198.51.100.7', 'mail.example.net'),
              'challenge row: client address and name')
    # Move the row's times an hour back, so that a refresh is visible.
    db.sql("UPDATE challenges SET first_seen = first_seen - INTERVAL 1 HOUR, "
           "last_seen = last_seen - INTERVAL 1 HOUR WHERE sender = 'stranger@example.net'")
    h.defer_ok(q(sender=stranger, recipient=VAGUE, client_address='198.51.100.7',
                 client_name='mail.example.net'),
               'stranger retries: DEFER_IF_PERMIT again')
    # The retry's refresh is written behind the reply (within about a
    # second): wait for it, bounded.
    good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=stranger),
                                 lambda rs: len(rs) != 1 or rs[0]['attempts'] != '1', 5.0)
    h.is_(len(rows), 1, 'still one challenge row after the retry')
    if rows:
        h.is_(rows[0]['attempts'], '2', 'attempts counts the retry: 2')
        fresh = db.value("SELECT last_seen > first_seen AND last_seen >= NOW() - INTERVAL 60 SECOND "
                         "FROM challenges WHERE sender = 'stranger@example.net'")
        h.is_(fresh, '1', 'last_seen moved to now, first_seen kept')
    h.is_(h.challenges(db, sender=GRANDMA), [], 'no challenge row for whitelisted grandma')
    h.is_(len(h.challenges(db)), 1, 'no other challenge rows were written')
    d.stop()

    # The article's behaviour: strangers are refused outright.
    d = h.start_daemon(db, unknown_sender='reject', on_allow='OK')
    q = lambda **a: h.query(d.port, **a)  # noqa: E731
    h.is_(q(sender='stranger2@example.net', recipient=VAGUE), h.ACCESS_DENIED,
          'unknown_sender = reject: stranger2 -> vague: exactly "REJECT Access denied"')
    rows = h.challenges(db, sender='stranger2@example.net')
    h.is_([(r['recipient'], r['status'], r['attempts']) for r in rows], [(VAGUE, 'pending', '1')],
          'unknown_sender = reject still records one pending challenge')
    h.is_(q(sender=stranger, recipient=VAGUE), h.ACCESS_DENIED,
          'unknown_sender = reject: the already challenged stranger gets "REJECT Access denied"')
    h.is_(q(sender=GRANDMA, recipient=VAGUE), 'OK', 'on_allow = OK: grandma -> vague: OK')
    h.is_(q(sender='someone@example.com', recipient='other@imprecise.info'), 'DUNNO',
          'on_allow = OK: an unprotected recipient still gets DUNNO')
    d.stop()
    db.stop()


h.run(main, timeout=180)
