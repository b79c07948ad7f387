#!/usr/bin/python3
"""Issue 21: `guardlist account`, a submission login that is not the child's
own address.  A real Postfix with an authenticated submission service
(private Dovecot SASL, as 146) asks the real guardlistd ([policy] outbound
= on) at RCPT; Dovecot's logins are `kid` and `mum`, neither an address.

  a. before any mapping the login `kid` sending as an unprotected address is
     untouched (writes anywhere); sending as kid@family.test it is held to
     the kid's contacts all the same (the review's finding 1);
  b. `guardlist account add kid kid@family.test`: within the refresh time
     `kid` is the kid: another envelope sender is refused ("only from your
     own address"), and as the kid a new address is refused
     with the plain text and recorded once as kid's contact request
     (direction 'out'); an approved contact is delivered;
  c. `guardlist check --login` says what the daemon answered, direction out;
     `pending` shows the request's direction, `list` that a rule is both ways;
  d. the unmapped login `mum` is untouched;
  e. `account remove kid`: back to untouched (with another sender);
  f. the CLI refuses what it must (an address nobody protects, a bad login),
     lists the mappings, audits each change; TRUNCATE of the table is
     noticed; a mapping whose address is unprotected afterwards is not in
     force (never an allow by accident).
Every wait is a bounded poll."""
import json
import os
import re
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import dovecot  # noqa: E402
import postfix  # noqa: E402

KID = 'kid@family.test'
GUARDIAN = 'mum@home.example'
PAL = 'pal@friends.test'             # kid's approved contact
PW = {'kid': 'kid-%s' % uuid.uuid4().hex[:8], 'mum': 'mum-%s' % uuid.uuid4().hex[:8]}
DEFAULT_ACTION = '451 4.3.5 Policy service unavailable, try again later'
RUN = uuid.uuid4().hex[:8]
ASKED = 'Not in your contacts yet; your guardian has been asked'
OWN = 'You can only send from your own address'
ELSEWHERE = 'kid@home.example'       # an envelope sender nobody protects
REFRESH = 15                         # seconds: refresh_interval 1 s, with room for a loaded machine


def codes(r):
    return [c for _, c, _ in r['rcpt']]


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('%s', 'whitelist')" % KID,
        "INSERT INTO guardians (recipient, email) VALUES ('%s', '%s')" % (KID, GUARDIAN),
        "INSERT INTO sender_rules (recipient, sender, action) VALUES ('%s', '%s', 'OK')" % (KID, PAL))
    d = h.start_daemon(db, outbound='on')
    dc = dovecot.PrivateDovecot(PW)
    dc.start()
    pf = postfix.PrivatePostfix(postfix.policy_settings(d.port, DEFAULT_ACTION),
                                domains=('family.test', 'friends.test'),
                                submission=postfix.submission_settings(dc.auth_port, [d.port]))
    pf.start()
    cfg = h.cli_config(db, policy={'outbound': 'on'})

    def out_rows(contact):
        return [tuple(x) for x in db.sql("SELECT direction, status, protected_key FROM challenges "
                                         "WHERE sender = '%s' AND recipient = '%s'" % (contact, KID))]

    # ------------------------------------------------------------ a. unmapped: untouched
    first = 'first-%s@friends.test' % RUN
    r = pf.submit('kid', PW['kid'], ELSEWHERE, [first])
    h.is_(r['auth'] and r['auth'][0], 235, 'the login kid authenticates') or h.diag(repr(r))
    h.is_(codes(r), [250], 'no mapping yet: the login kid, sending as another address, writes anywhere') \
        or h.diag(repr(r))
    h.is_(out_rows(first), [], '... and nobody is asked')
    unmapped = 'unmapped-%s@friends.test' % RUN
    r = pf.submit('kid', PW['kid'], KID, [unmapped])
    h.ok(codes(r) == [550] and ASKED in str(r['rcpt'][0][2]),
         "no mapping yet, sending as the kid: held to the kid's contacts, the guardian asked", repr(r))

    # ------------------------------------------------------------ b. mapped: held to kid's contacts
    rc, out, err = h.cli(cfg, 'account', 'add', 'Kid', KID, actor='ops')
    h.is_(rc, 0, 'guardlist account add Kid %s' % KID) or h.diag(err)
    new = 'new-%s@friends.test' % RUN
    ok, r, secs = h.poll_until(lambda: pf.submit('kid', PW['kid'], ELSEWHERE, [new]),
                               lambda x: codes(x) == [550], REFRESH)
    h.ok(ok and OWN in str(r['rcpt'][0][2]),
         'mapped within the refresh time (%.1fs): the login is the kid, another sender is refused' % secs, repr(r))
    r = pf.submit('kid', PW['kid'], KID, [new])
    h.ok(codes(r) == [550] and ASKED in str(r['rcpt'][0][2]),
         '... and as the kid a new contact is refused with the plain text', repr(r))
    daemon_reply = r['rcpt'][0] if r['rcpt'] else (None, 0, '')
    h.ok('rules loaded (new rows)' in d.log() and 'accounts=1 ' in d.log(),
         "... read as a new row (the incremental refresh), the daemon's log counts it", d.log()[-1500:])
    h.is_(out_rows(new), [('out', 'pending', KID)], "one contact request (new -> kid), direction 'out'")
    r = pf.submit('kid', PW['kid'], KID, [new])
    h.is_(codes(r), [550], 'a second try: 550 again') or h.diag(repr(r))
    h.is_(len(out_rows(new)), 1, '... and no second row')
    mark = 'gl147-%s-pal' % RUN
    data = ('From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@accounts.test>\r\n'
            'Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nmarker: %s\r\n' % (KID, PAL, mark, mark, mark))
    r = pf.submit('kid', PW['kid'], KID, [PAL], data)
    h.is_(codes(r), [250], 'the approved contact: 250') or h.diag(repr(r))
    ok, n, secs = h.poll_until(lambda: pf.delivered(PAL, mark), lambda x: x, 30)
    h.ok(ok, '... delivered (%.1fs)' % secs, pf.log()[-2000:])

    # ------------------------------------------------------------ c. guardlist check --login agrees
    rc, out, err = h.cli(cfg, 'check', '--json', '--login', 'kid', KID, new)
    j = json.loads(out) if rc == 0 else {}
    h.ok(rc == 0 and j.get('direction') == 'out' and j.get('child') == KID and j.get('kind') == 'challenge',
         'check --login kid: direction out, the child, a contact request', out + err)
    h.ok(j.get('smtp', '').startswith('%d ' % daemon_reply[1]) and ASKED in j.get('smtp', '')
         and ASKED in str(daemon_reply[2]), '... and the reply the daemon gave', repr((j.get('smtp'), daemon_reply)))
    rc, out, err = h.cli(cfg, 'check', '--json', '--login', 'KID', KID, PAL)
    j = json.loads(out) if rc == 0 else {}
    h.ok(j.get('direction') == 'out' and j.get('smtp', '').startswith('250'),
         'check --login KID (any ASCII case) to the contact: out, 250', out + err)
    rc, out, err = h.cli(cfg, 'check', '--login', 'kid', KID, new)
    h.ok(rc == 0 and 'direction:   out' in out and KID in out, 'check --login (text) says the direction', out + err)
    rc, out, err = h.cli(cfg, 'check', '--json', '--login', 'mum', 'mum@family.test', new)
    j = json.loads(out) if rc == 0 else {}
    h.is_(j.get('direction'), 'in', 'check --login mum (unmapped): not the outbound decision')
    rc, out, err = h.cli(cfg, 'check', '--json', '--login', 'nobody', KID, new)
    j = json.loads(out) if rc == 0 else {}
    h.ok(j.get('direction') == 'out' and j.get('child') == KID and j.get('kind') == 'challenge',
         "check --login nobody (unmapped) sending as the kid: the kid's outbound decision", out + err)
    rc, out, err = h.cli(cfg, 'check', '--json', '--login', 'kid', 'stranger@evil.example', PAL)
    j = json.loads(out) if rc == 0 else {}
    h.ok(j.get('direction') == 'out' and 'only send from your own address' in j.get('smtp', ''),
         "check --login kid with a stranger's sender: refused", out + err)

    # ------------------------------------------------------------ c2. the direction shown
    rc, out, err = h.cli(cfg, 'pending', '--json')
    j = {o['sender']: o for o in json.loads(out)} if rc == 0 else {}
    h.is_((j.get(new, {}).get('direction'), j.get(new, {}).get('request')),
          ('out', '%s wants to write to %s' % (KID, new)), 'pending --json: direction out, the request in words')
    rc, out, err = h.cli(cfg, 'pending')
    line = [ln for ln in out.splitlines() if new in ln]
    h.ok(line and re.match(r'\d+\s+out\s', line[0]) and 'DIR out: the protected RECIPIENT wants to write' in out,
         'pending (table): DIR out, and what it means', out)
    rc, out, err = h.cli(cfg, 'list', '--json')
    rules = json.loads(out)['rules'] if rc == 0 else []
    h.ok(rules and all(r.get('both_ways') is True for r in rules), 'list --json: each rule both_ways (outbound on)',
         out)
    rc, out, err = h.cli(cfg, 'list')
    h.ok(re.search(r'to %s\s+from %s\s+OK  \(both ways\)' % (re.escape(KID), re.escape(PAL)), out)
         and 'Both ways: a rule decides mail from SENDER' in out, 'list (text): the rule is marked both ways', out)

    # ------------------------------------------------------------ d. an unmapped login
    other = 'other-%s@friends.test' % RUN
    r = pf.submit('mum', PW['mum'], 'mum@family.test', [other])
    h.is_(codes(r), [250], 'the unmapped login mum writes anywhere') or h.diag(repr(r))

    # ------------------------------------------------------------ e. removed: untouched again
    rc, out, err = h.cli(cfg, 'account', 'remove', 'KID', actor='ops')
    h.is_(rc, 0, 'guardlist account remove KID') or h.diag(err)
    probe = 'probe-%s@friends.test' % RUN      # asked about while the old rules hold
    ok, r, secs = h.poll_until(lambda: pf.submit('kid', PW['kid'], ELSEWHERE, [probe]),
                               lambda x: codes(x) == [250], REFRESH)
    h.ok(ok, 'mapping removed: the login kid (another sender) is untouched again (%.1fs)' % secs, repr(r))
    later = 'later-%s@friends.test' % RUN
    r = pf.submit('kid', PW['kid'], ELSEWHERE, [later])
    h.is_(codes(r), [250], '... a new address: 250') or h.diag(repr(r))
    h.is_(out_rows(later), [], '... and nobody is asked')
    rc, out, err = h.cli(cfg, 'account', 'remove', 'kid')
    h.ok(rc == 1 and 'no account' in err, 'removing it again: exit 1, no account', err)

    # ------------------------------------------------------------ f. refusals, list, audit, unprotected
    for desc, args, code, words in [
            ('an address nobody protects', ['add', 'kid', 'mum@family.test'], 2, 'not protected'),
            ('a domain, not an address', ['add', 'kid', 'family.test'], 2, 'full address'),
            ('a login with a space', ['add', 'k id', KID], 2, 'spaces'),
            ('a login with a control character', ['add', 'k\x01', KID], 2, 'control'),
            ('a login over 255 bytes', ['add', 'k' * 256, KID], 2, '255'),
            ('no address', ['add', 'kid'], 2, 'LOGIN and ADDRESS'),
            ('an unknown subcommand', ['move', 'kid'], 2, 'unknown')]:
        rc, out, err = h.cli(cfg, 'account', *args)
        h.ok(rc == code and words in err, 'account refuses %s (exit %d)' % (desc, code), repr((rc, err)))
    h.is_(db.value('SELECT COUNT(*) FROM accounts'), '0', '... and wrote nothing')
    rc, out, err = h.cli(cfg, 'account', 'add', 'kid@mail.family.test', KID, actor='ops')
    h.is_(rc, 0, 'account add kid@mail.family.test') or h.diag(err)
    rc, out, err = h.cli(cfg, 'account', 'add', 'KID@mail.family.test', KID)
    h.ok(rc == 1 and 'already maps' in err, 'the same login in capitals: already so (exit 1)', err)
    rc, out, err = h.cli(cfg, 'account', 'list', '--json')
    j = json.loads(out) if rc == 0 else []
    h.is_([(a['login'], a['address'], a['in_force'], a['created_by']) for a in j],
          [('kid@mail.family.test', KID, True, 'ops')], 'account list --json')
    audit = [tuple(x) for x in db.sql("SELECT actor, action, detail FROM audit_log "
                                      "WHERE action LIKE 'account-%' ORDER BY id")]
    h.is_([a[:2] for a in audit], [('ops', 'account-add'), ('ops', 'account-remove'), ('ops', 'account-add')],
          'each change has its audit row')
    h.ok(audit and 'login=kid address=%s' % KID in audit[0][2], '... naming the login and the address', repr(audit))
    # TRUNCATE fires no trigger: guardlistd sees the table's AUTO_INCREMENT go down.
    rc, out, err = h.cli(cfg, 'account', 'add', 'kid', KID)
    h.is_(rc, 0, 'account add kid again') or h.diag(err)
    ok, r, secs = h.poll_until(lambda: pf.submit('kid', PW['kid'], ELSEWHERE, ['t1-%s@friends.test' % RUN]),
                               lambda x: codes(x) == [550], REFRESH)
    h.ok(ok, '... in force (%.1fs)' % secs, repr(r))
    db.sql('TRUNCATE accounts')
    ok, r, secs = h.poll_until(lambda: pf.submit('kid', PW['kid'], ELSEWHERE, ['t2-%s@friends.test' % RUN]),
                               lambda x: codes(x) == [250], REFRESH)
    h.ok(ok, 'TRUNCATE accounts: the login kid is untouched again (%.1fs)' % secs, repr(r))
    rc, out, err = h.cli(cfg, 'account', 'add', 'kid@mail.family.test', KID)
    h.is_(rc, 0, 'account add kid@mail.family.test again') or h.diag(err)
    db.sql("DELETE FROM protected_users WHERE recipient = '%s'" % KID)
    rc, out, err = h.cli(cfg, 'account', 'list')
    h.ok(rc == 0 and 'no (not protected)' in out, 'account list: a mapping to an unprotected address is not in force',
         out)
    rc, out, err = h.cli(cfg, 'check', '--json', '--login', 'kid@mail.family.test', KID, new)
    j = json.loads(out) if rc == 0 else {}
    h.is_((j.get('direction'), j.get('kind')), ('in', 'not-protected'),
          'check: that login is no child (nothing is held, and nothing allowed by the mapping)')
    pf.stop()
    dc.stop(check=True)
    d.stop()


h.run(main, timeout=240)
