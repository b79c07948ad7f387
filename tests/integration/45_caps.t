#!/usr/bin/python3
"""Abuse limits on new challenges: past max_new_challenges_per_recipient new
unknown senders an hour for one protected key, or max_new_challenges_per_client
from one SMTP client address, a new sender is refused with no challenge (so no
email): deferred ("Too many new senders", so a real sender gets through once
the hour is over), or REJECT Access denied with unknown_sender = reject.
Senders already waiting are still refreshed, and their retries do not count
as new senders; other recipients and clients are not affected; SIGHUP
changes the caps.  The caps are counted in the database too (cap_counts, per
clock hour), so a restarted daemon, or the daemon of another MX host, does
not start from zero.  An IPv6 client is counted by its /64, an IPv4-mapped
IPv6 address (::ffff:a.b.c.d) as the IPv4 address."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID = 'kid@family.test'
SIS = 'sis@family.test'
BRO = 'bro@family.test'
NAN = 'nan@family.test'
CAPPED = 'DEFER_IF_PERMIT Too many new senders for this recipient, try again later'
OUT_ASKED = '550 5.7.1 Not in your contacts yet; your guardian has been asked, you can write once they agree'
OUT_CAPPED = ('450 4.7.1 You have asked your guardian about many new contacts this hour; '
              'they were not asked about this one yet, try again later')


def count(db, where):
    return int(db.value('SELECT COUNT(*) FROM challenges WHERE ' + where))


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test', 'whitelist')",
        "INSERT INTO protected_users (recipient, class) VALUES ('sis@family.test', 'whitelist')",
        "INSERT INTO protected_users (recipient, class) VALUES ('bro@family.test', 'whitelist')",
        "INSERT INTO protected_users (recipient, class) VALUES ('nan@family.test', 'whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com', 'OK')",
    )
    d = h.start_daemon(db, max_new_challenges_per_recipient='3', max_new_challenges_per_client='5')
    q = lambda s, r, ip: h.query(d.port, sender=s, recipient=r, client_address=ip)  # noqa: E731

    # Per recipient: 3 new strangers an hour for kid, from different clients.
    for i in range(3):
        h.defer_ok(q('flood%d@spam.example' % i, KID, '192.0.2.%d' % (10 + i)),
                   'new stranger %d of 3 for kid: deferred with a challenge' % (i + 1))
    h.is_(count(db, "protected_key = 'kid@family.test'"), 3, 'three challenges for kid')
    h.is_(q('flood3@spam.example', KID, '192.0.2.13'), CAPPED,
          'the 4th new stranger for kid within the hour: deferred as too many')
    h.is_(count(db, "sender = 'flood3@spam.example'"), 0, '... and no challenge for it (so no email)')
    h.ok('hourly cap' in d.log(), 'the cap is logged')
    h.defer_ok(q('flood0@spam.example', KID, '192.0.2.10'),
               'a stranger already waiting is still deferred (its challenge refreshed)')
    good, got, _ = h.poll_until(lambda: db.value("SELECT attempts FROM challenges WHERE sender = "
                                                 "'flood0@spam.example'"), lambda v: v == '2', 5)
    h.is_(got, '2', '... attempts counted (written behind the reply)')
    h.is_(q('grandma@example.com', KID, '192.0.2.13'), 'DUNNO', 'known senders are not affected')
    h.defer_ok(q('friend@other.example', SIS, '192.0.2.20'), 'another protected recipient is not affected')

    # Per client: one client making up senders for several recipients (each
    # under its own cap of 3).
    for i in range(7):
        db.sql("INSERT INTO protected_users (recipient, class) VALUES ('c%d@family.test', 'whitelist')" % i)
    h.wait_reply(d.port, h.is_defer, 3.0, sender='probe@x.example', recipient='c6@family.test',
                 client_address='203.0.113.1')      # the new keys are loaded
    for i in range(5):
        h.defer_ok(q('made%d@up.example' % i, 'c%d@family.test' % i, '198.51.100.7'),
                   'client 198.51.100.7, new sender %d of 5: deferred' % (i + 1))
    h.is_(q('made5@up.example', 'c5@family.test', '198.51.100.7'), CAPPED,
          "the client's 6th new sender within the hour: deferred as too many")
    h.is_(count(db, "client_address = '198.51.100.7'"), 5, 'five challenges from that client, no more')
    h.defer_ok(q('made5@up.example', 'c5@family.test', '198.51.100.8'),
               'the same new sender from another client is deferred')

    # A sender already waiting that retries is no new sender: its retries
    # (refreshes written behind the reply) leave bro's cap of 3 to others.
    for n in range(1, 6):
        h.defer_ok(q('eager@spam.example', BRO, '192.0.2.110'), 'eager@ -> bro, try %d: deferred' % n)
        good, got, _ = h.poll_until(lambda: db.value("SELECT attempts FROM challenges WHERE sender = "
                                                     "'eager@spam.example'"), lambda v: v == str(n), 5)
        h.ok(good, '... its challenge counts %d attempts' % n, 'attempts %r' % (got,))
    for i in (1, 2):
        got = q('new%d@spam.example' % i, BRO, '192.0.2.11%d' % i)
        h.ok(h.is_defer(got) and got != CAPPED, 'new sender %d for bro after 5 tries of one sender: challenged, '
             'not capped' % (i + 1), 'got %r' % (got,))
    h.is_(count(db, "protected_key = 'bro@family.test'"), 3, 'three challenges for bro')

    # SIGHUP raises the caps.
    d.write_config(max_new_challenges_per_recipient='10', max_new_challenges_per_client='10')
    d.hup()
    challenged = lambda r: h.is_defer(r) and r != CAPPED  # noqa: E731
    good, got, secs = h.wait_reply(d.port, challenged, 3.0, sender='late@spam.example', recipient=KID,
                                   client_address='192.0.2.99')
    h.ok(good, 'after SIGHUP with a higher cap a new stranger for kid is challenged again', 'last %r' % (got,))
    h.is_(count(db, "sender = 'late@spam.example'"), 1, '... with a challenge')
    d.stop()

    # unknown_sender = reject: past the cap, the article's refusal, still no challenge.
    d = h.start_daemon(db, unknown_sender='reject', max_new_challenges_per_recipient='1')
    # The cap is the database's (cap_counts): this new daemon's memory starts
    # at zero, yet sis had a new stranger (friend@) this clock hour already.
    same_hour = db.value("SELECT HOUR(first_seen) = HOUR(NOW()) FROM challenges "
                         "WHERE sender = 'friend@other.example'") == '1'
    if same_hour:
        h.is_(h.query(d.port, sender='again@spam.example', recipient=SIS, client_address='192.0.2.49'),
              h.ACCESS_DENIED, 'a restarted daemon with a cap of 1: sis had a new stranger this hour, refused')
        h.is_(count(db, "sender = 'again@spam.example'"), 0, '... with no challenge: the count is in the database')
        # Learnt once: the next strangers for sis are answered from memory,
        # not one transaction each (a flood on a second MX host).
        for i in range(5):
            h.query(d.port, sender='flood%d@spam.example' % i, recipient=SIS, client_address='192.0.2.49')
        good, log, _ = h.poll_until(d.log, lambda t: 'decision sender="flood4@spam.example"' in t, 5)
        h.is_(log.count('hourly cap reached in the database'), 1,
              '... learnt once: 5 more strangers for sis are refused from memory, the database asked no more')
    else:
        for _ in range(3):
            h.ok(True, '# SKIP the clock hour turned since sis was challenged')
    h.is_(h.query(d.port, sender='one@spam.example', recipient=NAN, client_address='192.0.2.50'),
          h.ACCESS_DENIED, 'unknown_sender = reject: a new stranger is refused (and challenged)')
    h.is_(count(db, "sender = 'one@spam.example'"), 1, '... its challenge recorded')
    h.is_(h.query(d.port, sender='two@spam.example', recipient=NAN, client_address='192.0.2.51'),
          h.ACCESS_DENIED, 'unknown_sender = reject, past the cap: refused')
    h.is_(count(db, "sender = 'two@spam.example'"), 0, '... with no challenge')
    d.stop()

    # The per-client cap counts an IPv6 client by its /64 (a flood cannot
    # dodge it by moving inside its own network) and an IPv4-mapped IPv6
    # address as the IPv4 address.
    d = h.start_daemon(db, max_new_challenges_per_client='2', max_new_challenges_per_recipient='1000')
    q = lambda s, ip: h.query(d.port, sender=s, recipient=BRO, client_address=ip)  # noqa: E731
    h.defer_ok(q('v6a@spam.example', '2001:db8:1:2::1'), 'IPv6 client 2001:db8:1:2::1, new sender 1 of 2: challenged')
    h.defer_ok(q('v6b@spam.example', '2001:db8:1:2::2'), 'another host of the same /64, new sender 2 of 2: challenged')
    h.is_(q('v6c@spam.example', '2001:db8:1:2:ffff:ffff:ffff:ffff'), CAPPED,
          'a third host of the same /64: capped, the /64 is one client')
    h.is_(count(db, "sender = 'v6c@spam.example'"), 0, '... with no challenge')
    got = q('v6d@spam.example', '2001:db8:1:3::1')
    h.ok(h.is_defer(got) and got != CAPPED, 'the next /64 is another client: challenged', 'got %r' % (got,))
    h.defer_ok(q('v4a@spam.example', '203.0.113.5'), 'IPv4 client 203.0.113.5, new sender 1 of 2: challenged')
    got = q('v4b@spam.example', '::ffff:203.0.113.5')
    h.ok(h.is_defer(got) and got != CAPPED, 'the same address as ::ffff:203.0.113.5, new sender 2 of 2: challenged',
         'got %r' % (got,))
    h.is_(q('v4c@spam.example', '::FFFF:203.0.113.5'), CAPPED, '::FFFF:203.0.113.5 counts as 203.0.113.5: capped')
    h.is_(q('v4d@spam.example', '203.0.113.5'), CAPPED, '... and so does 203.0.113.5 itself')
    got = q('v4e@spam.example', '203.0.113.6')
    h.ok(h.is_defer(got) and got != CAPPED, 'the next IPv4 address is another client', 'got %r' % (got,))
    d.stop()
    outbound_capped(db)
    db.stop()


def outbound_capped(db):
    """A protected child's new contacts (sasl_username, outbound = on) count
    under the same cap; past it the child reads its own words, not the
    stranger's "Too many new senders", from memory and from the database."""
    kid = 'writer@family.test'
    db.sql("INSERT INTO protected_users (recipient, class) VALUES ('%s', 'whitelist')" % kid)
    d = h.start_daemon(db, outbound='on', max_new_challenges_per_recipient='2')
    q = lambda pal: h.query(d.port, sender=kid, recipient=pal, sasl_username=kid,  # noqa: E731
                            client_address='192.0.2.200')
    for i in range(2):
        h.is_(q('pal%d@friends.example' % i), OUT_ASKED, 'outbound: new contact %d of 2 asked for' % (i + 1))
    h.is_(q('pal2@friends.example'), OUT_CAPPED, 'outbound past the cap (from memory): the child\'s wording')
    h.is_(count(db, "sender = 'pal2@friends.example'"), 0, '... and no contact request recorded')
    d.stop()
    d = h.start_daemon(db, outbound='on', max_new_challenges_per_recipient='2')
    same_hour = db.value("SELECT HOUR(first_seen) = HOUR(NOW()) FROM challenges "
                         "WHERE sender = 'pal0@friends.example'") == '1'
    got = q('pal3@friends.example')
    if same_hour:
        h.is_(got, OUT_CAPPED, 'a restarted daemon: the cap counted in the database, the child\'s wording too')
    else:
        h.ok(True, '# SKIP the clock hour turned since the first contact request')
    d.stop()


h.run(main)
