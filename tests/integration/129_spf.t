#!/usr/bin/python3
"""SPF at RCPT time (issue 17), against a private dnsmasq on loopback: with
[policy] spf = on, an approved sender is let through only when its domain's
SPF does not say the client may not send for it (pass, none and neutral
allow; fail, softfail and permerror refuse 550 5.7.23 with no challenge;
a DNS failure is 451 4.4.3, never an allow), include: and redirect= are
followed; an unknown sender whose SPF fails gets no challenge, one that
passes or has no SPF gets its challenge with spf_result recorded.  Block
rules, trusted forwarders and unprotected recipients never ask DNS; a
verdict is asked once and then cached; a DNS that does not answer never
delays a known pair on another connection; a full SPF queue is 451 4.3.0;
spf = off is the old behaviour; SIGHUP switches spf and the resolver; a
child's own mail (outbound = on) is not judged by SPF.
Also: every rule that lets mail on (DUNNO, PREPEND, WARN, HOLD, BCC, a
number) is judged like OK; a domain-wide rule holds for a subdomain only with
pass (none/neutral: challenged); a UTF-8 domain is judged by its A-labels; the
cache keys the whole sender (a %{l} record); an address-literal sender is
permerror; a verdict of a resolver replaced mid-evaluation is not used."""
import os
import socket
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import dns  # noqa: E402

KID = 'kid@family.test'
GOOD = '192.0.2.9'          # the client pass.test's SPF names
BAD = '192.0.2.66'          # any other client
FORWARDER = '198.51.100.5'  # a trusted forwarder
REFUSED = '550 5.7.23 '
DNSFAIL = '451 4.4.3 '

ZONES = {
    'pass.test': 'v=spf1 ip4:192.0.2.9 -all',
    'soft.test': 'v=spf1 ip4:192.0.2.9 ~all',
    'neutral.test': 'v=spf1 ?all',
    'incpass.test': 'v=spf1 include:pass.test -all',
    'incfail.test': 'v=spf1 include:soft.test -all',
    'redirect.test': 'v=spf1 redirect=pass.test',
    'twice.test': ['v=spf1 -all', 'v=spf1 +all'],
    'syntax.test': 'v=spf1 ip4:300.1.1.1 -all',
    'blocked.test': 'v=spf1 +all',
    'deferred.test': 'v=spf1 +all',
    'strict.test': 'v=spf1 ip4:192.0.2.9 -all',
    'mail.strict.test': 'v=spf1 ip4:192.0.2.9 -all',
    'n.strict.test': 'v=spf1 ?all',
    'xn--bcher-kva.test': 'v=spf1 ip4:192.0.2.9 -all',     # bücher.test
    'race.test': 'v=spf1 ip4:192.0.2.9 -all',
    # A macro record: only alice may send from 192.0.2.66 (her own host).
    'lm.test': 'v=spf1 exists:%{l}.%{i}.u.lm.test -all',
    # A macro term longer than libspf2 compiles safely (CVE-2023-42118 is not
    # fixed in Debian 12's libspf2): refused before libspf2 sees it.
    'longmacro.test': 'v=spf1 exists:%{l}.' + 'a' * 60 + '.' + 'b' * 60 + '.' + 'c' * 20 + '.test +all',
}
APPROVED = ['grandma@pass.test', 'a@soft.test', 'a@neutral.test', 'a@nospf.test', 'a@incpass.test',
            'a@incfail.test', 'a@redirect.test', 'a@twice.test', 'a@syntax.test', 'a@x.broken.test',
            'a@x.slow.test', 'a@refused.example', 'a@longmacro.test', 'grandma@bücher.test',
            'grandma@race.test', 'grandma@lm.test']
# Rules that let the mail through with an effect other than OK: each needs
# the sender verified as much as an OK does.
ACTIONS = [('dunno', 'DUNNO'), ('prep', 'PREPEND X-Approved: yes'), ('warn', 'WARN approved'),
           ('num', '250'), ('hold', 'HOLD'), ('bcc', 'BCC guardian@family.test')]


def main():
    stmts = ["INSERT INTO protected_users (recipient, class) VALUES ('%s', 'whitelist')" % KID,
             "INSERT INTO whitelist (sender, action) VALUES ('blocked.test', 'REJECT')",
             "INSERT INTO whitelist (sender, action) VALUES ('deferred.test', '450 4.7.1 later')",
             "INSERT INTO whitelist (sender, action) VALUES ('strict.test', 'OK')"]
    stmts += ["INSERT INTO whitelist (sender, action) VALUES ('%s@pass.test', '%s')" % a for a in ACTIONS]
    stmts += ["INSERT INTO whitelist (sender, action) VALUES ('%s', 'OK')" % s for s in APPROVED]
    stmts += ["INSERT INTO sender_rules (recipient, sender, action) VALUES ('%s', 'pal@pass.test', 'OK')" % KID]
    db = h.start_db(*stmts)
    d1 = dns.start(ZONES, dead=['broken.test'], silent=['slow.test'], hosts={'alice.192.0.2.66.u.lm.test': '127.0.0.2'})
    d = h.start_daemon(db, spf='on', resolver=d1.address, trusted_forwarders=FORWARDER, outbound='on')

    def q(sender, client, recipient=KID, **kw):
        return h.query(d.port, sender=sender, recipient=recipient, client_address=client, **kw)

    verdicts(d, q)
    outbound(q)
    actions(d1, q)
    domain_wide(db, q)
    strangers(db, q)
    no_dns(db, d1, q)
    cached(d1, q)
    slow_dns(d, d1, q)
    reload(d, q)
    capped(d, d1, q)
    hup_in_flight(d, d1, q)
    d.stop()

    queue_full(db, d1)
    spf_off(db)
    d1.stop()
    db.stop()


def outbound(q):
    """A child's own mail (outbound = on, sasl_username the kid) to an
    approved contact is never judged by SPF: it is sent as the child, by the
    client that logged in as the child; SPF would judge the contact's domain
    (pass.test: -all) against the child's connection (review finding 7)."""
    for sender in (KID, 'kid+list@family.test', ''):
        h.is_(q(sender, BAD, recipient='pal@pass.test', sasl_username=KID), 'DUNNO',
              "the kid's own mail (sender %r) to its contact at an SPF -all domain: DUNNO, no SPF" % sender)
    h.like(q('grandma@pass.test', BAD, recipient='pal@pass.test', sasl_username=KID), '550 5.7.1 ',
           "the kid's login with a stranger's sender: refused before any SPF")


def verdicts(d, q):
    """Approved senders: the SPF verdict decides whether the allow holds."""
    h.is_(q('grandma@pass.test', GOOD), 'DUNNO', 'pass: approved sender from the client its SPF names: DUNNO')
    h.like(q('grandma@pass.test', BAD), REFUSED, 'fail (-all): the same sender from another client: 550 5.7.23')
    # The replies of a wake-up go out before its log lines: poll (bounded).
    good, _, _ = h.poll_until(d.log, lambda t: 'SPF fail: the sender could not be verified, refused' in t, 5)
    h.ok(good, 'the refusal is logged with why', d.log()[-1500:])
    h.is_(h.challenges(d.db, sender='grandma@pass.test'), [], '... and no challenge row is made for the forgery')
    h.like(q('a@soft.test', BAD), REFUSED, 'softfail (~all): 550 5.7.23')
    h.is_(q('a@soft.test', GOOD), 'DUNNO', 'softfail domain from its own client: DUNNO')
    h.is_(q('a@neutral.test', BAD), 'DUNNO', 'neutral (?all): the allow holds')
    h.is_(q('a@nospf.test', BAD), 'DUNNO', 'no SPF record: the allow holds (not verified)')
    h.is_(q('a@incpass.test', GOOD), 'DUNNO', 'include: of a record that passes: DUNNO')
    h.like(q('a@incpass.test', BAD), REFUSED, 'include: that does not match, then -all: 550')
    h.like(q('a@incfail.test', BAD), REFUSED, 'include: of a softfail record is no match, then -all: 550')
    h.is_(q('a@redirect.test', GOOD), 'DUNNO', 'redirect= to a record that passes: DUNNO')
    h.like(q('a@redirect.test', BAD), REFUSED, 'redirect= to a record that fails: 550')
    h.like(q('a@twice.test', GOOD), REFUSED, 'two SPF records (permerror): 550')
    h.like(q('a@syntax.test', GOOD), REFUSED, 'an SPF syntax error (permerror): 550')
    h.like(q('a@longmacro.test', GOOD), REFUSED, 'a record with an over-long macro term: refused unread (permerror), '
           'even though it ends in +all')
    h.like(q('a@x.broken.test', GOOD), DNSFAIL, 'a dead DNS server (temperror): 451 4.4.3, never an allow')
    h.like(q('a@refused.example', GOOD), DNSFAIL, 'a DNS server that answers REFUSED (temperror): 451 4.4.3')
    h.like(q('prvs=0123abcdef=grandma@pass.test', BAD), REFUSED,
           'a BATV-tagged form of the approved sender from a wrong client: 550')
    h.is_(q('grandma@pass.test', '::ffff:' + GOOD), 'DUNNO', 'an IPv4-mapped client counts as its IPv4 address')
    h.like(q('grandma@pass.test', '2001:db8::9'), REFUSED, 'an IPv6 client that ip4: does not name: 550')
    h.is_(q('a@nospf.test', '2001:db8::9'), 'DUNNO', 'no SPF record, IPv6 client: the allow holds')
    h.like(q('grandma@bücher.test', BAD), REFUSED, 'a UTF-8 domain is judged by its A-labels\' SPF: fail, 550')
    h.like(q('grandma@BÜCHER.test', BAD), REFUSED, '... in upper case too')
    h.is_(q('grandma@bücher.test', GOOD), 'DUNNO', '... and pass from the client it names: DUNNO')
    h.is_(q('grandma@pass.test', BAD, recipient='someone@else.test'), 'DUNNO',
          'an unprotected recipient: DUNNO, SPF not asked')
    h.is_(q('grandma@pass.test', BAD, sasl_username='grandma@pass.test', sasl_method='PLAIN'), 'DUNNO',
          'logged in (SASL) as the very sender: not judged by SPF (the user\'s own connection): DUNNO')
    h.like(q('grandma@pass.test', BAD, sasl_username='other@pass.test', sasl_method='PLAIN'), REFUSED,
           'logged in as someone else, sending as an approved sender from a wrong client: 550')


def actions(d1, q):
    """Every rule that lets the mail through is judged by SPF, not only OK."""
    for who, action in ACTIONS:
        h.like(q(who + '@pass.test', BAD), REFUSED, 'a %s rule, forged envelope (SPF fail): 550 5.7.23' % action)
        h.is_(q(who + '@pass.test', GOOD), 'DUNNO' if action in ('DUNNO', '250') else action,
              'a %s rule from the client SPF names: the rule\'s action' % action)
    h.is_(q('later@deferred.test', BAD), '450 4.7.1 later', 'a 4NN rule defers as before')
    h.is_(d1.queries('deferred.test'), 0, '... and asks no DNS')


def domain_wide(db, q):
    """A domain-wide approval holds for a subdomain only when SPF passes."""
    h.is_(q('anyone@strict.test', GOOD), 'DUNNO', 'domain rule, the domain itself, SPF pass: DUNNO')
    h.like(q('anyone@strict.test', BAD), REFUSED, 'domain rule, the domain itself, SPF fail: 550')
    h.is_(q('anyone@mail.strict.test', GOOD), 'DUNNO', 'domain rule, a subdomain whose SPF passes: DUNNO')
    h.like(q('anyone@mail.strict.test', BAD), REFUSED, 'domain rule, a subdomain whose SPF fails: 550')
    h.defer_ok(q('anyone@nx.strict.test', BAD),
               'domain rule, a subdomain with no SPF (none): no allow, a challenge as for an unknown sender')
    h.is_(db.value("SELECT spf_result FROM challenges WHERE sender = 'anyone@nx.strict.test'"), 'none',
          '... recorded with spf_result = none')
    h.defer_ok(q('anyone@n.strict.test', BAD), 'domain rule, a subdomain with SPF neutral: a challenge')
    h.is_(db.value("SELECT spf_result FROM challenges WHERE sender = 'anyone@n.strict.test'"), 'neutral',
          '... recorded with spf_result = neutral')


def strangers(db, q):
    """Unknown senders: a challenge only when SPF does not refuse."""
    h.defer_ok(q('stranger@pass.test', GOOD), 'unknown sender, SPF pass: deferred with a challenge')
    h.is_(db.value("SELECT spf_result FROM challenges WHERE sender = 'stranger@pass.test'"), 'pass',
          '... the challenge records spf_result = pass')
    h.defer_ok(q('stranger@nospf.test', BAD), 'unknown sender, no SPF: deferred with a challenge')
    h.is_(db.value("SELECT spf_result FROM challenges WHERE sender = 'stranger@nospf.test'"), 'none',
          '... spf_result = none')
    h.defer_ok(q('stranger@neutral.test', BAD), 'unknown sender, SPF neutral: challenged')
    h.is_(db.value("SELECT spf_result FROM challenges WHERE sender = 'stranger@neutral.test'"), 'neutral',
          '... spf_result = neutral')
    h.like(q('forger@pass.test', BAD), REFUSED, 'unknown sender, SPF fail: 550 5.7.23')
    h.like(q('forger@soft.test', BAD), REFUSED, 'unknown sender, SPF softfail: 550 5.7.23')
    h.like(q('forger@x.broken.test', GOOD), DNSFAIL, 'unknown sender, DNS dead: 451 4.4.3')
    n = db.value("SELECT COUNT(*) FROM challenges WHERE sender IN "
                 "('forger@pass.test', 'forger@soft.test', 'forger@x.broken.test')")
    h.is_(n, '0', '... and none of the three has a challenge row (so no email)')
    h.defer_ok(q('stranger@pass.test', FORWARDER), 'an unknown sender through a trusted forwarder: challenged')
    h.defer_ok(q('other@pass.test', FORWARDER), 'a new one through the trusted forwarder: challenged')
    h.is_(db.value("SELECT spf_result FROM challenges WHERE sender = 'other@pass.test'"), None,
          '... spf_result NULL: not checked')


def no_dns(db, d1, q):
    """Block rules and trusted forwarders decide with no DNS query at all."""
    h.is_(q('spam@blocked.test', BAD), h.ACCESS_DENIED, 'a block rule refuses: REJECT Access denied')
    h.is_(d1.queries('blocked.test'), 0, '... and no DNS query was made for it')
    h.is_(q('grandma@pass.test', FORWARDER), 'DUNNO', 'an approved sender through a trusted forwarder: DUNNO')
    h.is_(q('a@soft.test', FORWARDER), 'DUNNO', '... even one whose SPF would fail from there')
    h.is_(q('', BAD), h.ACCESS_DENIED, 'null sender (null_sender = reject): REJECT, SPF not asked')
    h.like(q('someone@[192.0.2.66]', BAD), REFUSED, 'an address-literal sender: permerror, 550 (not a 451 forever)')
    h.is_(d1.queries('[192.0.2.66]'), 0, '... asking no DNS')


def cached(d1, q):
    """A verdict is asked once, then answered from the cache: for the domain
    and client, or, when a record used a sender or HELO macro, for that
    sender and HELO alone."""
    q('a@redirect.test', GOOD)          # caches redirect.test for GOOD
    before = d1.queries('redirect.test')
    for _ in range(3):
        h.is_(q('a@redirect.test', GOOD), 'DUNNO', 'a verdict already known: DUNNO')
    h.is_(d1.queries('redirect.test'), before, '... with no new DNS query (the verdict is cached)')
    h.defer_ok(q('b@redirect.test', GOOD, helo_name='other.example'),
               'another sender of that domain from that client, a stranger: challenged (SPF pass)')
    h.is_(d1.queries('redirect.test'), before, '... from the domain\'s cached verdict (no macro in its records)')
    h.defer_ok(q('alice@lm.test', BAD), 'a %{l} record that names alice\'s host: alice passes (challenged)')
    h.like(q('grandma@lm.test', BAD), REFUSED,
           'the approved grandma at the same domain from that host: fail, 550 (not alice\'s cached pass)')


def slow_dns(d, d1, q):
    """A request parked on a DNS that never answers does not hold up others."""
    parked = h.PolicyConnection(d.port)
    parked.send_raw(h.request_bytes(sender='a@x.slow.test', recipient=KID, client_address=GOOD))
    ok, _, _ = h.poll_until(lambda: d1.queries('x.slow.test'), lambda v: v >= 1, 5)
    h.ok(ok, 'the slow domain is being asked')
    t0 = time.monotonic()
    h.is_(q('grandma@pass.test', GOOD), 'DUNNO', 'meanwhile a known pair (verdict cached) is answered')
    h.is_(q('grandma@pass.test', FORWARDER), 'DUNNO', '... and one from a trusted forwarder')
    took = time.monotonic() - t0
    h.ok(took < 1.0, 'both within a second while DNS hangs (%.3f s)' % took)
    parked.sock.settimeout(20)
    h.like(parked.read_reply(), DNSFAIL, 'the parked request gets 451 4.4.3 when its DNS times out')
    parked.close()


def reload(d, q):
    """SIGHUP: spf = off lets the forgery through as before; on again refuses."""
    d.write_config(spf='off')
    d.hup()
    good, got, _ = h.wait_reply(d.port, lambda r: r == 'DUNNO', 5, sender='grandma@pass.test', recipient=KID,
                                client_address=BAD)
    h.ok(good, 'SIGHUP with spf = off: the forged envelope is allowed again (the old behaviour)', got)
    good, _, _ = h.poll_until(d.log, lambda t: 'spf=off' in t, 5)
    h.ok(good, 'the reload log says spf=off')
    d2 = dns.start({'pass.test': 'v=spf1 ip4:192.0.2.66 -all'})
    d.write_config(spf='on', resolver=d2.address)
    d.hup()
    good, got, _ = h.wait_reply(d.port, lambda r: isinstance(r, str) and r.startswith(REFUSED), 5,
                                sender='grandma@pass.test', recipient=KID, client_address=GOOD)
    h.ok(good, 'SIGHUP with spf = on and another resolver: its answers count at once (cache emptied)', got)
    h.is_(q('grandma@pass.test', BAD), 'DUNNO', '... the new record allows the other client')
    d2.stop()


def capped(d, d1, q):
    """Past an hourly cap a new stranger is answered from memory: no DNS."""
    d.write_config(max_new_challenges_per_client='2', resolver=d1.address)   # d2 is gone
    d.hup()
    good, _, _ = h.poll_until(d.log, lambda t: t.count('configuration reloaded') >= 3, 5)
    h.ok(good, 'SIGHUP: a cap of 2 new challenges per client')
    client = '203.0.113.7'
    for i in (1, 2):
        h.defer_ok(q('new@c%d.test' % i, client), 'new stranger %d from one client: challenged' % i)
    h.is_(q('new@c3.test', client), 'DEFER_IF_PERMIT Too many new senders for this recipient, try again later',
          'the third: deferred as too many')
    h.is_(d1.queries('c3.test'), 0, '... from memory, without asking DNS')


def hup_in_flight(d, d1, q):
    """A verdict the old resolver gives after the SIGHUP that replaced it is
    neither answered nor cached: the evaluation is made again with the new."""
    old = dns.Slow('v=spf1 +all', 1.5)     # the resolver being replaced (say, poisoned)
    d.write_config(resolver=old.address)
    d.hup()
    good, _, _ = h.poll_until(d.log, lambda t: t.count('configuration reloaded') >= 4, 5)
    h.ok(good, 'SIGHUP: a slow resolver that passes everyone')
    parked = h.PolicyConnection(d.port)
    parked.send_raw(h.request_bytes(sender='grandma@race.test', recipient=KID, client_address=BAD))
    time.sleep(0.3)                         # the worker now waits for the old server
    d.write_config(resolver=d1.address)
    d.hup()
    good, _, _ = h.poll_until(d.log, lambda t: t.count('configuration reloaded') >= 5, 5)
    h.ok(good, 'SIGHUP: back to the real resolver while the evaluation is out')
    parked.sock.settimeout(15)
    h.like(parked.read_reply(), REFUSED, 'the request in flight is judged by the new resolver: 550, not the old pass')
    parked.close()
    h.like(q('grandma@race.test', BAD), REFUSED, '... and the old verdict was not cached')
    old.stop()


def queue_full(db, d1):
    """One worker, a queue of 2, a DNS that never answers: the rest is 451 4.3.0."""
    d = h.start_daemon(db, spf='on', resolver=d1.address, spf_threads='1', spf_queue='2')
    conns, quick = [], []
    for i in range(6):
        c = h.PolicyConnection(d.port)
        c.send_raw(h.request_bytes(sender='x@q%d.slow.test' % i, recipient=KID, client_address=GOOD))
        c.sock.settimeout(0.3)
        try:
            quick.append(c.read_reply())
        except (socket.timeout, TimeoutError):
            quick.append(None)
        conns.append(c)
    h.is_(quick[0], None, 'the first request waits for the worker')
    h.ok(quick.count(h.TEMPFAIL) >= 2, 'past the queue requests are answered 451 4.3.0 at once', quick)
    h.ok(all(r in (None, h.TEMPFAIL) for r in quick), 'none is allowed or challenged', quick)
    for i, c in enumerate(conns):
        if quick[i] is None:
            c.sock.settimeout(30)
            h.like(c.read_reply(), DNSFAIL, 'parked request %d: 451 4.4.3 once its DNS times out' % i)
        c.close()
    h.is_(db.value("SELECT COUNT(*) FROM challenges WHERE sender LIKE 'x@q%'"), '0', 'no challenge for any')
    good, _, _ = h.poll_until(d.log, lambda t: 'SPF queue full' in t, 5)
    h.ok(good, 'the full queue is logged')
    d.stop()


def spf_off(db):
    """spf = off (the default): exactly as before, no DNS."""
    d = h.start_daemon(db)
    h.is_(h.query(d.port, sender='grandma@pass.test', recipient=KID, client_address=BAD), 'DUNNO',
          'spf off: a forged envelope of an approved sender is allowed, as before')
    h.defer_ok(h.query(d.port, sender='new@soft.test', recipient=KID, client_address=BAD),
               'spf off: an unknown sender is challenged')
    h.is_(db.value("SELECT spf_result FROM challenges WHERE sender = 'new@soft.test'"), None,
          '... with spf_result NULL')
    decisions = lambda: [line for line in d.log().splitlines() if 'decision sender=' in line]  # noqa: E731
    _, lines, _ = h.poll_until(decisions, lambda v: len(v) >= 2, 5)
    h.ok(len(lines) >= 2 and not any(' spf=' in line for line in lines), 'no decision line mentions spf', lines)
    d.stop()


h.run(main, timeout=240)
