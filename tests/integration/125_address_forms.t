#!/usr/bin/python3
"""Every form of a protected address is protected, judged by what a real
Postfix 3.7 puts into the Maildirs (issue 16).

Postfix's resolver strips a local domain ($mydestination, an address
literal of the machine) and resolves what is left again, undoes quoting,
the %-hack and !-paths, drops a source route and a trailing dot, strips
the extension at the recipient_delimiter, and folds case (ICU full case
folding with smtputf8_enable).  So kid@family.test@localhost from a
stranger could reach kid@family.test's Maildir although the policy check
saw a recipient that is not protected.

Three layouts, each its own private Postfix (tests/lib/postfix.py) asking
one guardlistd (real MariaDB, unknown_sender = defer) at RCPT:

  (a) virtual mailbox domain family.test, one Maildir per address
      (hash: virtual_mailbox_maps), plus mydestination = $myhostname,
      localhost, so route forms through a local domain work; protected:
      kid@family.test, μαρία@family.test, straße@family.test and
      WEISS@family.test (whose mailbox key is weiß@family.test);
  (c) (a) plus virtual_alias_maps: kiddo@ -> kid, team@ -> kid + other,
      @alias.test -> kid; the aliases themselves are protected (kiddo@,
      team@, the domain alias.test), as `guardlist doctor --fix` will do;
  (b) local delivery: mydestination = $myhostname, localhost, the children
      are local names delivered by local(8) through alias_maps (`kid:
      /DIR/mail/kid/`, a Maildir; no Unix account is created).  Protected
      key: kid@, the article's user@ key: with several local domains every
      one of them (and the machine's address literal) spells the same
      mailbox, so only the local-part key covers them all.  ann is
      protected as ann@mx.guardlist.test only, to show (diagnostic, not
      asserted) that such a key leaves ann@localhost open.  A local alias
      kiddo: kid is protected as kiddo@; sneaky: kid is not (a known door,
      diagnostic only, like the unprotected virtual alias in (c)).

Every form is sent twice as a whole message with its own marker: once
through an smtpd WITHOUT the policy check (what Postfix alone does with the
form: the "Postfix alone" column; it makes each form's check meaningful)
and once by a stranger through the guarded smtpd.  Tests, per form: no
message of the stranger lands in a protected child's Maildir (polled until
the queue is empty, bounded); and where Postfix alone delivered the form
into a protected Maildir, the stranger's RCPT was not answered 2xx.
Positive controls per layout: an approved sender (`guardlist allow`) is
delivered to each protected child through the plain form, a stranger to
an unprotected sibling, so the Maildir checks cannot pass vacuously.  A
table form -> replies -> where it landed is printed as diagnostics.

Messages go over a small raw SMTP client (postfix.smtp()): swaks splits
--to at commas (source routes) and this Debian's swaks knows no SMTPUTF8."""
import os
import re
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import postfix  # noqa: E402

STRANGER = 'stranger@example.net'
GRANDMA = 'grandma@example.com'         # guardlist allow: the approved sender
GUARDIAN = 'parent@family.test'
DEFAULT_ACTION = '451 4.3.5 Policy service unavailable, try again later'
SETTLE_WAIT = 30.0      # every accepted message delivered or bounced within this
RELOAD_WAIT = 5.0       # a new protection is in force in guardlistd within this
RUN_ID = uuid.uuid4().hex[:10]
MARK = re.compile(rb'gl125-[0-9a-f]{10}-[a-z0-9]+')

# main.cf lines every layout shares.  Nothing leaves the machine: anything
# not delivered here (bounces to the strangers) goes to the error transport.
COMMON = [
    'recipient_delimiter = +',
    'smtputf8_enable = yes',
    'default_transport = error:5.3.0 test instance delivers nothing off the machine',
    'relay_transport = error:5.3.0 test instance delivers nothing off the machine',
    'smtpd_policy_service_default_action = ' + DEFAULT_ACTION,
    'smtpd_policy_service_timeout = 10s',
    'smtpd_policy_service_try_limit = 2',
]

KELVIN = '\u212a'       # KELVIN SIGN: ICU folds it to k
LONG_S = '\u017f'       # LATIN SMALL LETTER LONG S: folds to s
CAP_SHARP_S = '\u1e9e'  # LATIN CAPITAL LETTER SHARP S: folds to ss
MICRO = '\u00b5'        # MICRO SIGN: folds to μ (U+03BC)
DOOR = 'door'

# ------------------------------------------------------------ the layouts
#
# A layout: its main.cf lines, its Maildirs (protected or not), the forms a
# stranger tries, and the positive controls (sender, recipient, the Maildirs
# the message must land in).  A form is a string, or (form, note for the
# table[, DOOR]); DOOR marks a known open door (a key nobody protected that
# Postfix maps to a child's Maildir): reported, not asserted.

LAYOUT_A = {
    'id': 'a',
    'title': '(a) virtual mailboxes family.test + mydestination = $myhostname, localhost',
    'mailboxes': {'kid@family.test': 'kid', 'other@family.test': 'other',
                  'μαρία@family.test': 'maria', 'straße@family.test': 'strasse',
                  'weiß@family.test': 'weiss', 'δήμος@family.test': 'demos'},
    'protected': {'kid', 'maria', 'strasse', 'weiss'},
    'main_cf': ['mydestination = $myhostname, localhost'],
    'forms': [
        'kid@family.test',
        'KID@FAMILY.TEST',
        'Kid@Family.Test',
        'kid+x@family.test',
        'KID+Stuff@Family.TEST',
        'kid+@family.test',
        'kid+x+y@family.test',
        'kid@family.test.',
        'kid@family.test..',
        'kid(comment)@family.test',
        'kid@family.test(comment)',
        '"kid"@family.test',
        '"kid+x"@family.test',
        '"k\\id"@family.test',
        '"KID"@FAMILY.TEST',
        'kid@family.test@localhost',
        'KID@FAMILY.TEST@LOCALHOST',
        'kid@family.test@mx.guardlist.test',
        'kid@family.test@localhost.',
        'kid+x@family.test@localhost',
        '"kid@family.test"@localhost',
        'kid@family.test@[127.0.0.1]',
        '"kid@family.test"@[127.0.0.1]',
        'kid@family.test@[127.000.000.001]',
        'kid@family.test@[IPv6:::ffff:127.0.0.1]',
        '@localhost:kid@family.test',
        '@localhost,@mx.guardlist.test:kid@family.test',
        'kid%family.test@localhost',
        'kid%family.test@[127.0.0.1]',
        '"kid%family.test"@localhost',
        'kid%family.test',
        'family.test!kid@localhost',
        'family.test!kid',
        'kid',
        'kid@localhost',
        'kid@[127.0.0.1]',
        (KELVIN + 'id@family.test', 'U+212A KELVIN SIGN'),
        ('ｋｉｄ@family.test', 'fullwidth'),
        'μαρία@family.test',
        'ΜΑΡΊΑ@family.test',
        'Μαρία@FAMILY.TEST',
        (MICRO + 'αρία@family.test', 'U+00B5 MICRO SIGN'),
        ('μαρι\u0301α@family.test', 'NFD: ι + U+0301'),
        '"μαρία"@family.test',
        'μαρία@family.test@localhost',
        'straße@family.test',
        'STRASSE@family.test',
        'strasse@family.test',
        ('STRA' + CAP_SHARP_S + 'E@family.test', 'U+1E9E CAPITAL SHARP S'),
        (LONG_S + 'traße@family.test', 'U+017F LONG S'),
        'Straße+x@family.test',
        'strasse@family.test@localhost',
        ('weiß@family.test', 'protected as WEISS@family.test'),
        'weiss@family.test',
        ('WEI' + CAP_SHARP_S + '@family.test', 'U+1E9E CAPITAL SHARP S'),
    ],
    'controls': [
        (GRANDMA, 'kid@family.test', {'kid'}),
        (GRANDMA, 'μαρία@family.test', {'maria'}),
        (GRANDMA, 'straße@family.test', {'strasse'}),
        (GRANDMA, 'weiß@family.test', {'weiss'}),
        (STRANGER, 'other@family.test', {'other'}),
        (STRANGER, 'δήμος@family.test', {'demos'}),
    ],
}

LAYOUT_C = {
    'id': 'c',
    'title': '(c) (a) + virtual_alias_maps: kiddo@ -> kid, team@ -> kid + other, @alias.test -> kid',
    'mailboxes': {'kid@family.test': 'kid', 'other@family.test': 'other'},
    'protected': {'kid'},
    'main_cf': ['mydestination = $myhostname, localhost', 'virtual_alias_domains = alias.test'],
    'virtual_aliases': [('kiddo@family.test', 'kid@family.test'),
                        ('team@family.test', 'kid@family.test, other@family.test'),
                        ('@alias.test', 'kid@family.test'),
                        ('sneaky@family.test', 'kid@family.test')],     # NOT protected: a known door
    'forms': [
        'kiddo@family.test',
        'KIDDO@FAMILY.TEST',
        'kiddo+x@family.test',
        'kiddo@family.test.',
        '"kiddo"@family.test',
        'kiddo@family.test@localhost',
        '"kiddo@family.test"@localhost',
        'kiddo@family.test@[127.0.0.1]',
        'kiddo%family.test@localhost',
        'family.test!kiddo@localhost',
        'team@family.test',
        'Team+x@Family.Test',
        'team@family.test@localhost',
        'anyone@alias.test',
        'ANYONE@ALIAS.TEST',
        'kid@alias.test',
        'anyone@alias.test.',
        'anyone@alias.test@localhost',
        'anyone%alias.test@localhost',
        ('sneaky@family.test', 'alias NOT protected', DOOR),
    ],
    'controls': [
        (GRANDMA, 'kid@family.test', {'kid'}),
        (GRANDMA, 'kiddo@family.test', {'kid'}),
        (GRANDMA, 'team@family.test', {'kid', 'other'}),
        (GRANDMA, 'anyone@alias.test', {'kid'}),
        (STRANGER, 'other@family.test', {'other'}),
    ],
}

LAYOUT_B = {
    'id': 'b',
    'title': '(b) local delivery: mydestination = $myhostname, localhost; kid, ann (+ aliases kiddo, sneaky) '
             'via alias_maps',
    'mailboxes': None,
    'protected': {'kid', 'ann'},
    'main_cf': ['mydestination = $myhostname, localhost',
                'local_recipient_maps = proxy:unix:passwd.byname $alias_maps'],
    # name -> a Maildir of its own (trailing slash), or another local name.
    'aliases': [('kid', None), ('other', None), ('ann', None),
                ('kiddo', 'kid'), ('sneaky', 'kid')],       # sneaky is NOT protected: a known door
    'forms': [
        'kid@localhost',
        'kid@mx.guardlist.test',
        'KID@localhost',
        'Kid@MX.GUARDLIST.TEST',
        'kid+x@localhost',
        'KID+x@LOCALHOST',
        'kid@localhost.',
        '"kid"@localhost',
        '"k\\id"@mx.guardlist.test',
        'kid@[127.0.0.1]',
        'KID@[127.0.0.1]',
        '"kid"@[127.0.0.1]',
        'kid@[127.1]',
        'kid@[127.000.000.001]',
        'kid@[IPv6:::ffff:127.0.0.1]',
        'kid(comment)@localhost',
        'kid',
        'KID',
        'kid+x',
        'kid@localhost@localhost',
        '"kid@localhost"@localhost',
        'kid@mx.guardlist.test@[127.0.0.1]',
        '@localhost:kid@mx.guardlist.test',
        'kid%localhost@localhost',
        'kid%mx.guardlist.test@[127.0.0.1]',
        'localhost!kid@localhost',
        'localhost!kid',
        'kid%localhost',
        'kid@127.0.0.1',
        'kid@localhost.guardlist.test',
        (KELVIN + 'id@localhost', 'U+212A KELVIN SIGN'),
        ('ann@mx.guardlist.test', 'protected as ann@mx.guardlist.test'),
        'ANN@MX.GUARDLIST.TEST',
        ('ann@localhost', 'ann@ NOT protected', DOOR),
        ('ann@[127.0.0.1]', 'ann@ NOT protected', DOOR),
        ('kiddo@localhost', 'alias kiddo: kid, protected as kiddo@'),
        'KIDDO@mx.guardlist.test',
        'kiddo+x@localhost',
        'kiddo',
        'kiddo@localhost@localhost',
        ('sneaky@localhost', 'alias sneaky: kid, NOT protected', DOOR),
    ],
    'controls': [
        (GRANDMA, 'kid@localhost', {'kid'}),
        (GRANDMA, 'ann@mx.guardlist.test', {'ann'}),
        (GRANDMA, 'kiddo@localhost', {'kid'}),
        (STRANGER, 'other@localhost', {'other'}),
    ],
}

# Protected keys (guardlist protect): (a) and (c) from the start; (b)'s
# after (a) and (c), so that kid@ cannot hide a hole in (a)'s domain forms.
PROTECT_AC = ['kid@family.test', 'μαρία@family.test', 'straße@family.test', 'WEISS@family.test',
              'kiddo@family.test', 'team@family.test', 'alias.test']
PROTECT_B = ['kid@', 'ann@mx.guardlist.test', 'kiddo@']

TIMINGS = []


def timed(name, t0):
    TIMINGS.append((name, time.monotonic() - t0))


# ------------------------------------------------------------ helpers

def message(sender, marker):
    return ('From: <%s>\r\nTo: undisclosed-recipients:;\r\nSubject: address forms %s\r\n'
            'Message-ID: <%s@forms.test>\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\n'
            'marker: %s\r\n' % (sender, marker, marker, marker))


def landings(pf):
    """marker -> set of Maildir names (under mail/) holding a message with it."""
    out = {}
    try:
        names = os.listdir(pf.mail)
    except OSError:
        return out
    for name in names:
        for path in pf.maildir_files(name):
            try:
                with open(path, 'rb') as f:
                    text = f.read()
            except OSError:
                continue
            for m in set(MARK.findall(text)):
                out.setdefault(m.decode(), set()).add(name)
    return out


_QID = re.compile(r'queued as ([0-9A-Za-z]+)')


def fates(pf, data_reply):
    """What the maillog says happened to the message accepted with DATA_REPLY:
    'ADDRESS via RELAY: STATUS' per delivery attempt, joined by '; '."""
    m = _QID.search(data_reply or '')
    if not m:
        return ''
    out = []
    for line in pf.log().splitlines():
        if (m.group(1) + ': to=<') not in line:
            continue
        to = re.search(r'to=<([^>]*)>', line)
        relay = re.search(r'relay=([^,]+)', line)
        status = re.search(r'status=(\w+)', line)
        out.append('%s via %s: %s' % (to.group(1) if to else '?', relay.group(1) if relay else '?',
                                      status.group(1) if status else '?'))
    return '; '.join(out)


def brief(reply):
    """A reply without Postfix's '<rcpt>: Recipient address rejected: ' part."""
    text = re.sub(r'<[^>]*>: Recipient address rejected: ', '', reply or '-')
    return text if len(text) <= 44 else text[:43] + '…'


def rcpt_part(transcript):
    """The transcript from the RCPT command on (for failure diagnostics)."""
    i = transcript.find('-> RCPT')
    return transcript[i:] if i >= 0 else transcript


def cell(text):
    return (text or '-').replace('|', '\\|')


def protect(admin, keys):
    for key in keys:
        rc, out, err = h.cli(admin, 'protect', key, '--guardian', GUARDIAN, actor='forms-test')
        h.is_(rc, 0, 'guardlist protect %s: exit 0' % key) or h.diag(out, err)


def make_postfix(layout, d):
    restrictions = [
        'smtpd_recipient_restrictions = permit_mynetworks,',
        '    reject_unauth_destination,',
        '    check_policy_service inet:127.0.0.1:%d' % d.port,
    ]
    lines = restrictions + COMMON + layout['main_cf']
    pf = postfix.PrivatePostfix(lines, mailboxes=layout['mailboxes'], unguarded=True)
    if layout.get('virtual_aliases'):
        lines = lines + ['virtual_alias_maps = ' + pf.write_map('valias', layout['virtual_aliases'])]
    if layout.get('aliases'):
        amap = pf.write_map('aliases', [(n, to or pf.maildir(n)) for n, to in layout['aliases']], aliases=True)
        lines = lines + ['alias_maps = ' + amap, 'alias_database = ' + amap]
    pf.set_extra(lines)
    return pf


# ------------------------------------------------------------ one layout

def run_layout(layout, d):
    lid = layout['id']
    h.diag('--- layout ' + layout['title'])
    t0 = time.monotonic()
    pf = make_postfix(layout, d)
    pf.start()
    timed('%s: Postfix start' % lid, t0)
    h.diag('Postfix guarded on 127.0.0.1:%d, unguarded on %d' % (pf.port, pf.unguarded_port))

    # Sends: every form twice (Postfix alone, then the stranger through the
    # policy check), then the positive controls.
    t0 = time.monotonic()
    rows = []
    for i, form in enumerate(layout['forms']):
        form, note, kind = (form + ('', ''))[:3] if isinstance(form, tuple) else (form, '', '')
        alone_mark = 'gl125-%s-%s%02dp' % (RUN_ID, lid, i)
        mark = 'gl125-%s-%s%02ds' % (RUN_ID, lid, i)
        alone = pf.smtp(STRANGER, [form], message(STRANGER, alone_mark), port=pf.unguarded_port)
        guarded = pf.smtp(STRANGER, [form], message(STRANGER, mark))
        rows.append({'form': form, 'note': note, 'kind': kind, 'alone_mark': alone_mark, 'mark': mark,
                     'alone': alone, 'guarded': guarded})
    controls = []
    for i, (sender, rcpt, want) in enumerate(layout['controls']):
        mark = 'gl125-%s-%sc%d' % (RUN_ID, lid, i)
        controls.append((sender, rcpt, want, mark, pf.smtp(sender, [rcpt], message(sender, mark))))
    timed('%s: %d forms x 2 + %d controls sent' % (lid, len(rows), len(controls)), t0)

    # Bounded wait: every control landed and the queue is empty (everything
    # accepted was delivered or bounced), then the Maildirs are read.
    t0 = time.monotonic()
    good, _, secs = h.poll_until(
        lambda: (landings(pf), pf.queue_files()),
        lambda v: not v[1] and all(c[3] in v[0] for c in controls), SETTLE_WAIT, interval=0.1)
    timed('%s: settled' % lid, t0)
    h.ok(good, '(%s) every accepted message delivered or bounced, the queue is empty (%.1f s)' % (lid, secs),
         'queue: %r' % (pf.queue_files(),), pf.log()[-3000:])
    landed = landings(pf)

    # Positive controls: the checks below cannot pass vacuously.
    for sender, rcpt, want, mark, res in controls:
        got = landed.get(mark, set())
        reply = res['rcpt'][0][2] if res['rcpt'] else res['error']
        h.ok(got == want, '(%s) control: %s -> %s lands in %s' % (lid, sender, rcpt, '+'.join(sorted(want))),
             'RCPT %r, DATA %r, landed in %r' % (reply, res['data'], sorted(got)), rcpt_part(res['transcript']))
    plain = rows[0]
    h.ok(landed.get(plain['alone_mark'], set()) & layout['protected'],
         '(%s) control: Postfix alone (no policy check) delivers the plain form %s into a protected Maildir'
         % (lid, plain['form']), 'landed: %r' % (landed.get(plain['alone_mark']),))

    # Per form.
    table = []
    for r in rows:
        form, g, a = r['form'], r['guarded'], r['alone']
        g_rcpt = g['rcpt'][0] if g['rcpt'] else (form, None, g['mail'] or g['error'])
        a_rcpt = a['rcpt'][0] if a['rcpt'] else (form, None, a['mail'] or a['error'])
        a_in = landed.get(r['alone_mark'], set())
        g_in = landed.get(r['mark'], set())
        reaches = a_in & layout['protected']
        breach = g_in & layout['protected']
        if r['kind'] == DOOR:
            h.diag('(%s) KNOWN DOOR, not asserted: stranger -> %s (%s): %s, landed in %s'
                   % (lid, form, r['note'], g_rcpt[2], sorted(g_in) or 'nothing'))
        else:
            h.ok(not breach, '(%s) stranger -> %s: nothing in a protected Maildir' % (lid, form),
                 'landed in %r; RCPT %r, DATA %r' % (sorted(g_in), g_rcpt[2], g['data']),
                 'maillog: ' + fates(pf, g['data']), rcpt_part(g['transcript']))
            if reaches:
                code = g_rcpt[1]
                h.ok(code is not None and code // 100 != 2,
                     '(%s) stranger -> %s (Postfix alone delivers it to %s): RCPT not accepted'
                     % (lid, form, '+'.join(sorted(reaches))),
                     'RCPT reply %r' % (g_rcpt[2],), rcpt_part(g['transcript']))
        label = '`%s`' % form + (' (%s)' % r['note'] if r['note'] else '') + \
            (', known door, not asserted' if r['kind'] == DOOR else '')
        alone_where = '+'.join(sorted(a_in)) or fates(pf, a['data']) or '-'
        where = '+'.join(sorted(g_in)) or fates(pf, g['data']) or '-'
        if breach:
            where = '**%s**' % where
        table.append((label, '%s %s' % (a_rcpt[1] or '-', alone_where), brief(g_rcpt[2]),
                      (g['data'] or '-')[:3], where))
    h.diag('', 'Form table %s (protected Maildirs: %s)' % (layout['title'], ', '.join(sorted(layout['protected']))),
           '| form | Postfix alone: RCPT, landed in | stranger: RCPT reply | DATA | stranger: landed in |',
           '|---|---|---|---|---|')
    for row in table:
        h.diag('| ' + ' | '.join(cell(c) for c in row) + ' |')
    h.diag('')
    pf.stop(check=True)


# ------------------------------------------------------------ main

def main():
    t_all = time.monotonic()
    needed = (('postfix', postfix.POSTFIX), ('postfix (postmap)', postfix.POSTMAP),
              ('postfix (postalias)', postfix.POSTALIAS))
    missing = [pkg for pkg, path in needed if not os.path.exists(path)]
    if not h.ok(not missing, 'Postfix and its map tools are installed', 'missing: %s (make deps)' % missing):
        return
    t0 = time.monotonic()
    db = h.start_db()
    admin = h.cli_config(db)
    protect(admin, PROTECT_AC)
    rc, out, err = h.cli(admin, 'allow', GRANDMA, actor='forms-test')
    h.is_(rc, 0, 'guardlist allow %s: exit 0' % GRANDMA) or h.diag(out, err)
    d = h.start_daemon(db)
    timed('setup (MariaDB, rules, guardlistd)', t0)

    run_layout(LAYOUT_A, d)
    run_layout(LAYOUT_C, d)

    protect(admin, PROTECT_B)
    for probe in ('kid@localhost', 'ann@mx.guardlist.test'):
        good, got, secs = h.wait_reply(d.port, h.is_defer, RELOAD_WAIT,
                                       sender='reload-probe@probe.example', recipient=probe)
        h.ok(good, 'guardlistd protects %s within %.0f s (%.2f s)' % (probe, RELOAD_WAIT, secs),
             'last reply %r' % (got,), d.log()[-1500:])
    run_layout(LAYOUT_B, d)

    d.stop()
    db.stop()
    timed('whole test', t_all)
    for name, secs in TIMINGS:
        h.diag('timing: %-50s %6.2f s' % (name, secs))


h.run(main, timeout=150)
