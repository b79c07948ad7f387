#!/usr/bin/python3
"""guardlist-notify (DESIGN.md "Notification"): approval emails through a
smarthost (Postfix's smtp-sink on loopback), read back with Python's email
package.  Challenges come from the real guardlistd answering policy queries
for unknown senders to protected recipients, except where a test needs many
rows at once or odd values the daemon would not accept (those are inserted
with SQL, and say so).

Covered: one well-formed multipart/alternative message per challenge whose
link token hashes to that challenge; retries of one sender never mail twice;
the hourly cap with exactly one digest whose links each redeem their own
challenge, then waiting; smarthost down then up (backoff, then exactly one
message); two notifiers on one queue (each message once); 250 due
challenges all go out in one --once run ("send what is due now"); a 5xx recorded as
'failed' and not retried; --dry-run changes nothing; start-up errors exit 2;
a key without a guardian fails naming the key; HTML escaping end to end; the
sender check (spf_result pass, none, neutral, NULL) in words, only a pass
called verified; a
bounce (null sender <>) challenge is told to the guardian without a link
(an admin decides it), alone and in a digest."""
import email
import email.policy
import email.utils
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

FROM = h.NOTIFIER_DEFAULTS['from']
APPROVE = h.NOTIFIER_DEFAULTS['approve_url']
LINK_RE = re.compile(re.escape(APPROVE) + r'\?t=([^\s"<>&]*)')
TOKEN_RE = re.compile(r'[0-9a-f]{32}\Z')
ERR = 'guardlist-notify: error: '
NOTIFY_COLS = ('status', 'notify_state', 'notify_attempts', 'notify_error', 'notify_next_in',
               'notified_at', 'notify_claimed_until')


NOTIFY_LOGS = h.NOTIFY_LOGS     # stderr of every guardlist-notify run, checked at the end
notify = h.notify_logged
no_sanitizer_reports = h.no_notify_sanitizer_reports


# ------------------------------------------------------------ helpers

def parse_mail(raw, env=None):
    """A dict for one message (bytes): msg (EmailMessage), env (envelope or
    None), parts [(content type, charset)], text, html (decoded str or None),
    tokens_text / tokens_html (link tokens in order), raw, error (str or None)."""
    out = {'raw': raw, 'env': env, 'msg': None, 'parts': [], 'text': None, 'html': None,
           'tokens_text': [], 'tokens_html': [], 'error': None}
    try:
        m = email.message_from_bytes(raw, policy=email.policy.default)
        out['msg'] = m
        if m.is_multipart():
            for part in m.iter_parts():
                ctype, cs = part.get_content_type(), part.get_content_charset()
                out['parts'].append((ctype, cs))
                if ctype == 'text/plain' and out['text'] is None:
                    out['text'] = part.get_content()
                elif ctype == 'text/html' and out['html'] is None:
                    out['html'] = part.get_content()
        if out['text'] is not None:
            out['tokens_text'] = LINK_RE.findall(out['text'])
        if out['html'] is not None:
            out['tokens_html'] = LINK_RE.findall(out['html'])
    except Exception as e:   # noqa: B902 - reported by the caller's tests
        out['error'] = '%s: %s' % (type(e).__name__, e)
    return out


def sink_mails(sink):
    return [parse_mail(msg, env) for env, msg in (h.SmtpSink.split(r) for r in sink.messages())]


def dry_run_mails(stdout):
    """The emails --dry-run printed: a list of (kind, guardian, count, parsed)."""
    out = []
    chunks = re.split(r'^==== (email|digest) to (\S+) \((\d+) challenge\(s\)\) ====\n', stdout, flags=re.M)
    for i in range(1, len(chunks) - 3 + 1, 4):
        kind, guardian, count, text = chunks[i], chunks[i + 1], int(chunks[i + 2]), chunks[i + 3]
        out.append((kind, guardian, count, parse_mail(text.encode('utf-8'))))
    return out


def header(mail, name):
    m = mail['msg']
    if m is None:
        return None
    try:
        v = m.get(name)
        return None if v is None else str(v)
    except Exception as e:   # noqa: B902
        return 'unparsable: %s' % e


def addr_of(mail, name):
    """The one addr_spec of an address header, or a description of what is wrong."""
    m = mail['msg']
    try:
        v = m[name]
        addrs = v.addresses
        return addrs[0].addr_spec if len(addrs) == 1 else 'addresses: %r' % (addrs,)
    except Exception as e:   # noqa: B902
        return 'unparsable %s: %s' % (name, e)


def is_digest(mail):
    # "N more senders want ..." / "1 more sender wants ..." (issue 25: the count agrees)
    return re.search(r'\bmore senders? wants?\b', header(mail, 'Subject') or '') is not None


def main():
    db = h.start_db()
    cfg_cli = h.cli_config(db, approver={'token_ttl_days': '7'})
    sink = h.SmtpSink()
    sink.start()
    cfg = h.notify_config(db, sink.port)
    t_all = time.monotonic()

    def protect(child, *guardians):
        args = ['protect', child]
        for g in guardians:
            args += ['--guardian', g]
        rc, out, err = h.cli(cfg_cli, *args)
        h.is_(rc, 0, 'guardlist protect %s%s' % (child, ''.join(' --guardian ' + g for g in guardians))) \
            or h.diag('stderr: ' + err)

    def challenge(sender, child, times=1, quiet=False, **attrs):
        """TIMES policy queries from SENDER to CHILD; returns the challenge id."""
        replies = [h.query(d.port, sender=sender, recipient=child, **attrs) for _ in range(times)]
        good_replies = all(h.is_defer(r) for r in replies)
        good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=sender, recipient=child),
                                     lambda r: len(r) == 1 and r[0]['attempts'] == str(times), 10)
        if not quiet or not (good and good_replies):
            h.ok(good_replies and good, '%s -> %s: %d quer%s deferred, one challenge (attempts %d)'
                 % (sender, child, times, 'y' if times == 1 else 'ies', times),
                 'replies: %r' % sorted(set(replies)), 'rows: %r' % (rows,))
        return int(rows[0]['id']) if good else -1

    def sql_challenge(sender, child, key=None, **cols):
        """Inserts a pending challenge with SQL (for many rows at once or odd values)."""
        cols = dict(sender=sender, recipient=child, protected_key=key or child, **cols)
        db.sql('INSERT INTO challenges (%s) VALUES (%s)' % (', '.join(cols), ', '.join(h.sql_str(v) for v in cols.values())))
        return int(db.value('SELECT MAX(id) FROM challenges'))

    def sql_challenges(senders, child):
        """Pending challenges from each of SENDERS (new senders) to CHILD in
        one INSERT; their ids in the order of SENDERS."""
        db.sql('INSERT INTO challenges (sender, recipient, protected_key) VALUES %s'
               % ', '.join('(%s, %s, %s)' % (h.sql_str(s), h.sql_str(child), h.sql_str(child)) for s in senders))
        ids = dict(db.sql('SELECT sender, id FROM challenges WHERE recipient = %s AND sender IN (%s)'
                          % (h.sql_str(child), ', '.join(h.sql_str(s) for s in senders))))
        return [int(ids[s]) for s in senders]

    def state(cid):
        rows = db.sql('SELECT status, notify_state, notify_attempts, notify_error, '
                      'TIMESTAMPDIFF(SECOND, CURRENT_TIMESTAMP, notify_next_at), notified_at, '
                      'notify_claimed_until FROM challenges WHERE id = %d' % cid)
        return dict(zip(NOTIFY_COLS, rows[0])) if rows else None

    def token_owner(tok):
        """The id of the challenge whose link has SHA-256(TOK) recorded, as MariaDB computes it."""
        if not TOKEN_RE.match(tok or ''):
            return None
        # A link's token is recorded with its notification (one per guardian).
        v = db.value("SELECT challenge_id FROM notifications WHERE token_sha256 = UNHEX(SHA2('%s', 256))" % tok)
        return int(v) if v is not None else None

    def token_owners(tokens):
        """token_owner() of each of TOKENS, in order, in one query."""
        good = [t for t in tokens if TOKEN_RE.match(t or '')]
        owners = {}
        for i in range(0, len(good), 500):
            part = good[i:i + 500]
            rows = db.sql('SELECT t.tok, n.challenge_id FROM (%s) t JOIN notifications n '
                          'ON n.token_sha256 = UNHEX(SHA2(t.tok, 256))'
                          % ' UNION ALL '.join("SELECT '%s' AS tok" % t for t in part))
            owners.update((tok, int(cid)) for tok, cid in rows)
        return [owners.get(t) for t in tokens]

    def run_once(desc, *args, config=None, want_rc=0):
        t0 = time.monotonic()
        rc, out, err = notify(config or cfg, '--once', *args)
        secs = time.monotonic() - t0
        h.is_(rc, want_rc, '%s: guardlist-notify --once exits %d' % (desc, want_rc)) \
            or h.diag('stderr: ' + err[-3000:])
        return out, err, secs

    def no_new_mail(desc, before):
        after = len(sink.files())
        h.is_(after - before, 0, '%s: no message reached the smarthost' % desc)

    def reset():
        db.sql('DELETE FROM notifications; DELETE FROM challenges')
        sink.clear()

    # Every protected key before guardlistd starts (it then has them loaded).
    protect('kid@family.test', 'parent@family.test')
    for i in range(2, 11):
        if i != 8:
            protect('kid%d@family.test' % i, 'parent%d@family.test' % i)
    rc, out, err = h.cli(cfg_cli, 'protect', 'orphan.example')
    h.is_(rc, 0, 'guardlist protect orphan.example (a domain key, no guardian)') or h.diag(err)
    d = h.start_daemon(db)

    # ================================================= one well-formed message
    sender = 'stranger@ext.example'
    cid = challenge(sender, 'kid@family.test', client_name='mx.ext.example', client_address='198.51.100.7')
    h.is_(state(cid)['notify_state'], 'new', 'a fresh challenge has notify_state new')
    out, err, secs = run_once('one challenge')
    h.diag('one challenge -> one message: %.3f s for guardlist-notify --once' % secs)
    mails = sink_mails(sink)
    h.is_(len(mails), 1, 'one challenge: exactly one message at the smarthost')
    if mails:
        m = mails[0]
        h.is_(m['error'], None, 'the message parses with email.policy.default')
        h.is_(m['env']['mail'], '<%s>' % FROM, 'envelope sender is [notifier] from')
        h.is_(m['env']['rcpt'], ['<parent@family.test>'], 'envelope recipient is the guardian, only')
        h.is_(addr_of(m, 'From'), FROM, 'From: is [notifier] from')
        h.is_(addr_of(m, 'To'), 'parent@family.test', 'To: is the guardian')
        subj = header(m, 'Subject') or ''
        h.ok(sender in subj and 'kid@family.test' in subj, 'Subject names the sender and the child',
             'Subject: %r' % subj)
        try:
            date = email.utils.parsedate_to_datetime(header(m, 'Date'))
            skew = abs((datetime.now(timezone.utc) - date).total_seconds())
        except Exception as e:   # noqa: B902
            date, skew = e, None
        h.ok(skew is not None and skew < 300, 'Date: is a valid RFC 5322 date of now',
             'Date: %r -> %r' % (header(m, 'Date'), date))
        mid = header(m, 'Message-ID') or ''
        h.ok(re.fullmatch(r'<[^<>@\s]+@[^<>@\s]+>', mid), 'Message-ID: is <unique@domain>', 'got %r' % mid)
        h.is_(header(m, 'Auto-Submitted'), 'auto-generated', 'Auto-Submitted: auto-generated')
        h.is_(m['msg'].get_content_type() if m['msg'] else None, 'multipart/alternative',
              'Content-Type is multipart/alternative')
        h.is_(m['parts'], [('text/plain', 'utf-8'), ('text/html', 'utf-8')],
              'two parts: text/plain then text/html, both charset UTF-8')
        for part in ('text', 'html'):
            body = m[part] or ''
            h.ok(sender in body and 'kid@family.test' in body,
                 '%s part names the sender and the child' % part, body[:3000])
            h.ok(re.search(r'Attempts\b.{0,40}\b1\b', body, re.S), '%s part says 1 attempt' % part, body[:3000])
        h.ok('mx.ext.example' in (m['text'] or '') and '198.51.100.7' in (m['text'] or ''),
             'text part shows the sending client (name and address)', (m['text'] or '')[:3000])
        h.ok(len(m['tokens_text']) == 1 and m['tokens_html'] == m['tokens_text'],
             'both parts carry the same one link %s?t=TOKEN' % APPROVE,
             'text: %r' % m['tokens_text'], 'html: %r' % m['tokens_html'])
        tok = m['tokens_text'][0] if m['tokens_text'] else ''
        h.ok(TOKEN_RE.match(tok), 'the token is 32 lowercase hex digits', 'token %r' % tok)
        h.is_(token_owner(tok), cid, "SELECT challenge_id FROM notifications WHERE token_sha256 = "
              "UNHEX(SHA2(TOKEN, 256)) is the challenge")
        h.is_(db.value('SELECT LOWER(HEX(token_sha256)) FROM notifications WHERE challenge_id = %d' % cid),
              hashlib.sha256(tok.encode()).hexdigest(), 'notifications.token_sha256 = SHA-256(token) (Python hashlib)')
        rows = h.snapshot(db)
        h.ok(tok and not any(tok in (v or '').lower() for t in rows.values() for r in t for v in r),
             'the token itself is stored nowhere in the database (not even as hex)')
        ttl = db.value('SELECT TIMESTAMPDIFF(SECOND, CURRENT_TIMESTAMP, token_expires_at) FROM notifications '
                       'WHERE challenge_id = %d' % cid)
        h.ok(ttl is not None and 7 * 86400 - 120 <= int(ttl) <= 7 * 86400,
             'token_expires_at is token_ttl_days (7) ahead', 'seconds ahead: %r' % ttl)
        long_lines = [ln for ln in m['raw'].split(b'\n') if len(ln.rstrip(b'\r')) > 998]
        h.ok(not long_lines, 'no line longer than 998 characters (RFC 5322)', repr(long_lines[:2]))
        h.ok(all(b < 128 for b in m['raw']), 'the message is 7-bit (quoted-printable bodies)')
        st = state(cid)
        h.is_((st['status'], st['notify_state'], st['notify_error']), ('pending', 'sent', None),
              'challenge: still pending, notify_state sent, no notify_error')
        h.ok(st['notified_at'] is not None, 'challenge: notified_at is set', repr(st))
        h.is_(db.sql('SELECT challenge_id, guardian, kind, digest_of, message_id FROM notifications'),
              [[str(cid), 'parent@family.test', 'single', '1', mid]],
              'one notifications row: challenge, guardian, single, 1, the Message-ID sent')
    rc, out, err = h.cli(cfg_cli, 'pending', '--json')
    try:
        j = {o['id']: o for o in json.loads(out)}
    except (ValueError, KeyError, TypeError) as e:
        j = {'error': str(e), 'out': out}
    h.is_((j.get(cid) or {}).get('notify_state'), 'sent', 'guardlist pending --json: notify_state sent')
    before = len(sink.files())
    run_once('nothing new')
    no_new_mail('a second run with nothing new', before)

    # ================================================= 20 retries, one message
    reset()
    retry = 'retrier@ext.example'
    cid = -1
    for i in range(1, 21):
        cid = challenge(retry, 'kid2@family.test', times=1, quiet=True) if i == 1 else cid
        if i > 1:
            h.query(d.port, sender=retry, recipient='kid2@family.test')
        if i in (1, 2, 5, 10, 15, 20):
            h.poll_until(lambda: h.challenges(db, sender=retry)[0]['attempts'], lambda a: a == str(i), 10)
            notify(cfg, '--once')
    h.is_(h.challenges(db, sender=retry)[0]['attempts'], '20', '20 retries: the challenge counts 20 attempts')
    h.is_(len(h.challenges(db, sender=retry)), 1, '20 retries: still one challenge')
    mails = sink_mails(sink)
    h.is_(len(mails), 1, '20 retries with 6 notifier runs in between: exactly one message')
    h.is_(db.value('SELECT COUNT(*) FROM notifications WHERE challenge_id = %d' % cid), '1',
          '20 retries: one notifications row')
    h.is_(state(cid)['notify_state'], 'sent', '20 retries: notify_state stays sent')
    if mails:
        h.is_(token_owner((mails[0]['tokens_text'] or [''])[0]), cid,
              '20 retries: the one message\'s token still redeems the challenge (no later run replaced it)')

    # ================================================= hourly cap and digest
    reset()
    strangers = ['s%02d@stranger%02d.example' % (i, i) for i in range(1, 31)]
    t0 = time.monotonic()
    ids = {s: challenge(s, 'kid3@family.test', quiet=True) for s in strangers}
    h.diag('30 challenges through guardlistd: %.3f s' % (time.monotonic() - t0))
    h.ok(all(v > 0 for v in ids.values()), '30 strangers: 30 challenges recorded by guardlistd')
    out, err, secs = run_once('30 strangers, max_per_hour 10')
    mails = sink_mails(sink)
    h.diag('30 challenges -> %d messages in %.3f s (one --once run)' % (len(mails), secs))
    singles = [m for m in mails if not is_digest(m)]
    digests = [m for m in mails if is_digest(m)]
    h.is_(len(singles), 10, '30 strangers: 10 single messages (max_per_hour 10)')
    h.is_(len(digests), 1, '30 strangers: exactly one digest')
    h.ok(all(m['error'] is None and addr_of(m, 'To') == 'parent3@family.test'
             and m['env']['rcpt'] == ['<parent3@family.test>'] for m in mails),
         'every message is to the guardian parent3@family.test', [(m['env'], header(m, 'To')) for m in mails])
    single_senders = []
    for m in singles:
        found = [s for s in strangers if s in (header(m, 'Subject') or '')]
        single_senders += found
        tok = (m['tokens_text'] or [''])[0]
        if not (len(found) == 1 and token_owner(tok) == ids[found[0]]):
            h.ok(False, 'single message for %r: its token redeems that sender\'s challenge' % found,
                 'token %r -> %r' % (tok, token_owner(tok)))
    oldest = sorted(ids.values())[:10]
    h.is_(sorted(ids[s] for s in single_senders), oldest, 'the 10 singles are for the 10 oldest challenges')
    if digests:
        dg = digests[0]
        h.ok(dg['error'] is None and header(dg, 'Auto-Submitted') == 'auto-generated'
             and dg['parts'] == [('text/plain', 'utf-8'), ('text/html', 'utf-8')],
             'digest: well formed (Auto-Submitted, multipart/alternative text + HTML, UTF-8)',
             'parts %r error %r' % (dg['parts'], dg['error']))
        h.ok('20' in (header(dg, 'Subject') or ''), 'digest: Subject counts 20', header(dg, 'Subject'))
        # An item: "* SENDER -> CHILD", its attempts, its sender check, its link.
        items = re.findall(r'^\* (\S+) -> (\S+)\n.*\n.*\n\s+' + LINK_RE.pattern, dg['text'] or '', re.M)
        listed = {s: t for s, _, t in items}
        others = set(strangers) - set(single_senders)
        h.is_(sorted(listed), sorted(others), 'digest (text): lists exactly the 20 other senders')
        h.is_(len(items), 20, 'digest (text): 20 items, none twice')
        h.ok(all(c == 'kid3@family.test' for _, c, _ in items), 'digest items name the child')
        owner = dict(zip(listed.values(), token_owners(list(listed.values()))))
        wrong = {s: (t, owner[t], ids.get(s)) for s, t in listed.items() if owner[t] != ids.get(s)}
        h.ok(not wrong and len(set(listed.values())) == len(listed),
             'digest: each sender has its own link whose token redeems its own challenge',
             'wrong: %r' % wrong)
        hitems = re.findall(r'<strong>([^<]+)</strong>.*?href="' + LINK_RE.pattern + '"', dg['html'] or '', re.S)
        h.is_(dict(hitems), listed, 'digest (HTML): the same 20 senders with the same links')
        h.is_(db.value("SELECT COUNT(*) FROM notifications WHERE kind = 'digest' AND digest_of = 20 "
                       "AND message_id = %s" % h.sql_str(header(dg, 'Message-ID') or '')), '20',
              'digest: 20 notifications rows (kind digest, digest_of 20, its Message-ID)')
    h.is_(db.sql("SELECT notify_state, COUNT(*) FROM challenges WHERE recipient = 'kid3@family.test' "
                 "GROUP BY notify_state"), [['sent', '30']], '30 strangers: all 30 challenges notify_state sent')
    before = len(sink.files())
    run_once('30 strangers, run again')
    no_new_mail('a further run after the digest', before)

    # a new stranger that hour: nothing goes out, it waits
    late = challenge('late@stranger31.example', 'kid3@family.test')
    snap = h.snapshot(db)
    rc, dout, derr = notify(cfg, '--dry-run')
    h.is_(rc, 0, 'cap reached, new stranger: --dry-run exits 0')
    h.is_([(k, g, n) for k, g, n, _ in dry_run_mails(dout)], [],
          'cap reached: --dry-run shows what a real run would send now (nothing: the hour\'s '
          'singles and digest are used up)')
    h.ok(h.snapshot(db) == snap, 'cap reached: --dry-run changed nothing')
    run_once('cap reached, new stranger')
    no_new_mail('cap reached (10 singles and a digest this hour), new stranger', before)
    st = state(late)
    h.ok(st['status'] == 'pending' and st['notify_state'] == 'new' and st['notified_at'] is None,
         'the late stranger\'s challenge waits: pending, notify_state new, not notified', repr(st))
    h.ok(st['notify_next_in'] is not None and int(st['notify_next_in']) > 0,
         'the late stranger\'s notify_next_at is in the future', repr(st))
    h.ok(st['notify_error'] is not None and 'cap' in st['notify_error'],
         'the late stranger\'s notify_error says why it waits (the hourly cap)', repr(st))
    h.is_(st['notify_attempts'], '0', 'waiting for the cap is not a failed attempt (notify_attempts 0)')
    h.is_(db.value('SELECT COUNT(*) FROM notifications WHERE challenge_id = %d' % late), '0',
          'the late stranger: no notifications row')
    run_once('cap reached, run again')
    no_new_mail('cap reached, another run', before)

    # ================================================= smarthost down, then up
    reset()
    down = h.SmtpSink()           # its port is reserved, nothing listens yet
    cfg_down = h.notify_config(db, down.port)
    cid = challenge('patient@ext.example', 'kid4@family.test')
    out, err, secs = run_once('smarthost down', config=cfg_down)
    h.diag('smarthost down: --once took %.3f s' % secs)
    h.is_(len(down.files()), 0, 'smarthost down: nothing sent')
    st = state(cid)
    h.is_((st['status'], st['notify_state'], st['notify_attempts']), ('pending', 'new', '1'),
          'smarthost down: challenge pending, notify_state new, notify_attempts 1')
    h.ok(st['notify_error'], 'smarthost down: notify_error is set', repr(st))
    h.diag('notify_error: %r' % st['notify_error'])
    h.ok(st['notify_next_in'] is not None and int(st['notify_next_in']) > 0,
         'smarthost down: notify_next_at is in the future (backoff)', repr(st))
    h.diag('smarthost down: next attempt in %s s' % st['notify_next_in'])
    h.is_(db.value('SELECT COUNT(*) FROM notifications'), '0', 'smarthost down: no notifications row')
    run_once('smarthost down, before notify_next_at', config=cfg_down)
    h.is_(state(cid)['notify_attempts'], '1', 'a run before notify_next_at does not try again')
    db.sql('UPDATE challenges SET notify_next_at = NOW() WHERE id = %d' % cid)
    down.start()
    out, err, secs = run_once('smarthost up', config=cfg_down)
    mails = sink_mails(down)
    h.is_(len(mails), 1, 'smarthost up, notify_next_at reached: exactly one message')
    h.is_(state(cid)['notify_state'], 'sent', 'smarthost up: notify_state sent')
    if mails:
        h.is_(token_owner((mails[0]['tokens_text'] or [''])[0]), cid, 'smarthost up: the token redeems the challenge')
    run_once('smarthost up, again', config=cfg_down)
    h.is_(len(down.files()), 1, 'smarthost up: a further run sends nothing more')
    down.stop()

    # ================================================= two notifiers, one queue
    reset()
    cfg_many = h.notify_config(db, sink.port, notifier={'max_per_hour': '100000'})
    binary = h.notify_binary()
    total_dups, total_lost = 0, 0
    for rnd in range(1, 4):
        sink.clear()
        # 40 rows with SQL: many at once
        new = sql_challenges(['q%d-%02d@queue.example' % (rnd, i) for i in range(40)], 'kid5@family.test')
        t0 = time.monotonic()
        procs = [subprocess.Popen([binary, '-c', cfg_many, '--once'], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, preexec_fn=h._die_with_parent) for _ in range(2)]
        results = []
        for p in procs:
            try:
                o, e = p.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                o, e = p.communicate()
            results.append((p.returncode, e.decode(errors='replace')))
            NOTIFY_LOGS.append(results[-1][1])
        secs = time.monotonic() - t0
        split = [len(re.findall(r'info: sent ', e)) for _, e in results]
        mails = sink_mails(sink)
        owners = token_owners([t for m in mails for t in m['tokens_text']])
        dups = sorted(set(i for i in owners if owners.count(i) > 1))
        lost = sorted(set(new) - set(owners))
        total_dups += len(dups)
        total_lost += len(lost)
        h.diag('round %d: 2 x --once on 40 challenges: %.3f s, messages sent per process %r' % (rnd, secs, split))
        h.ok(all(rc == 0 for rc, _ in results), 'round %d: both notifiers exit 0' % rnd,
             *['rc %s: %s' % (rc, e[-1500:]) for rc, e in results])
        h.ok(len(mails) == 40 and not dups and not lost,
             'round %d: 40 challenges, two notifiers at once: 40 messages, each challenge once' % rnd,
             'messages %d, duplicated %r, missing %r' % (len(mails), dups, lost))
        h.is_(db.sql("SELECT notify_state, COUNT(*) FROM challenges WHERE id IN (%s) GROUP BY notify_state"
                     % ','.join(map(str, new))), [['sent', '40']], 'round %d: all 40 challenges sent' % rnd)

    # two notifiers polling (poll_interval 1) while guardlistd records challenges
    sink.clear()
    ns = [h.Notifier(cfg_many) for _ in range(2)]
    for n in ns:
        n.start()
    t0 = time.monotonic()
    live = []
    for i in range(40):
        live.append(challenge('live%02d@trickle.example' % i, 'kid5@family.test', quiet=True))
        time.sleep(0.1)
    t_last = time.monotonic()
    good, _, _ = h.poll_until(
        lambda: db.value("SELECT COUNT(*) FROM challenges WHERE id IN (%s) AND notify_state = 'sent'"
                         % ','.join(map(str, live))), lambda v: v == '40', 30)
    h.diag('2 polling notifiers, 40 challenges over %.1f s: all sent %.3f s after the last one'
           % (t_last - t0, time.monotonic() - t_last))
    h.ok(good, 'two polling notifiers: all 40 challenges end sent within 30 s')
    # (stopping lets a cycle in progress finish: every send is in the sink afterwards)
    for i, n in enumerate(ns):
        rc, killed = n.stop()
        h.ok(rc == 0 and not killed, 'polling notifier %d exits 0 on SIGTERM within 10 s' % (i + 1),
             'rc %r killed %r' % (rc, killed), n.log()[-2000:])
    h.diag('messages sent per polling notifier: %r' % [len(re.findall(r'info: sent ', n.log())) for n in ns])
    NOTIFY_LOGS.extend(n.log() for n in ns)
    mails = sink_mails(sink)
    owners = token_owners([t for m in mails for t in m['tokens_text']])
    dups = sorted(set(i for i in owners if owners.count(i) > 1))
    h.ok(len(mails) == 40 and not dups and set(owners) == set(live),
         'two polling notifiers: 40 messages, each challenge exactly once',
         'messages %d, duplicated %r, missing %r' % (len(mails), dups, sorted(set(live) - set(owners))))
    h.is_(db.value('SELECT COUNT(*) FROM notifications WHERE challenge_id IN (%s)' % ','.join(map(str, live))),
          '40', 'two polling notifiers: 40 notifications rows')

    # ================================================= more due than one claim takes
    reset()
    # SQL: 250 rows at once
    db.sql('INSERT INTO challenges (sender, recipient, protected_key) VALUES '
           + ', '.join("('bulk%03d@bulk.example', 'kid5@family.test', 'kid5@family.test')" % i for i in range(250)))
    bulk = [int(r[0]) for r in db.sql("SELECT id FROM challenges WHERE sender LIKE 'bulk%'")]
    out, err, secs = run_once('250 due challenges', config=cfg_many)
    mails = sink_mails(sink)
    h.diag('250 due challenges: one --once run sent %d messages in %.3f s (%.0f messages/s)'
           % (len(mails), secs, len(mails) / secs if secs else 0))
    owners = token_owners([t for m in mails for t in m['tokens_text']])
    h.ok(len(mails) == 250 and sorted(owners) == sorted(bulk),
         '250 due challenges: --once ("send what is due now") sends all 250, each once',
         'messages %d, distinct challenges %d' % (len(mails), len(set(owners))))
    h.is_(db.sql("SELECT notify_state, COUNT(*) FROM challenges GROUP BY notify_state"), [['sent', '250']],
          '250 due challenges: all sent after one --once run')

    # ================================================= permanent failure (5xx)
    reset()
    hard = h.SmtpSink(options=['-f', 'RCPT'])
    hard.start()
    cfg_hard = h.notify_config(db, hard.port)
    cid = challenge('bounced@ext.example', 'kid6@family.test')
    out, err, secs = run_once('smarthost answers 5xx to RCPT', config=cfg_hard)
    st = state(cid)
    h.is_((st['status'], st['notify_state']), ('pending', 'failed'),
          '5xx for the guardian: challenge pending, notify_state failed')
    h.ok(st['notify_error'] and re.search(r'\b5\d\d\b', st['notify_error']),
         '5xx: notify_error holds the server\'s reply (a 5xx code)', repr(st))
    h.diag('notify_error: %r' % st['notify_error'])
    h.ok(st['notify_error'] and 'parent6@family.test' in st['notify_error'],
         '5xx: notify_error names the guardian', repr(st))
    h.is_(len(hard.files()), 0, '5xx: nothing was delivered')
    h.is_(db.value('SELECT COUNT(*) FROM notifications'), '0', '5xx: no notifications row')
    rc, out, err = h.cli(cfg_cli, 'pending')
    line = [ln for ln in out.splitlines() if re.match(r'%d\s' % cid, ln)]
    h.ok(line and 'failed' in line[0] and st['notify_error'] and st['notify_error'] in line[0],
         'guardlist pending: the challenge\'s line says failed and shows the error', out)
    rc, out, err = h.cli(cfg_cli, 'pending', '--json')
    try:
        o = {x['id']: x for x in json.loads(out)}.get(cid, {})
    except (ValueError, KeyError, TypeError):
        o = {}
    h.ok(o.get('notify_state') == 'failed' and o.get('notify_error') == st['notify_error'],
         'guardlist pending --json: notify_state failed with the error', repr(o))
    before_hard, before_good = len(hard.files()), len(sink.files())
    run_once('after a 5xx, same smarthost', config=cfg_hard)
    run_once('after a 5xx, an accepting smarthost')
    h.ok(len(hard.files()) == before_hard and len(sink.files()) == before_good,
         'a failed challenge is not retried by the next runs')
    h.is_(state(cid), st, 'a failed challenge is left as it was')
    hard.stop()

    # ================================================= --dry-run
    reset()
    dr = [challenge('dry%d@ext.example' % i, 'kid7@family.test') for i in (1, 2)]
    snap = h.snapshot(db)
    before = len(sink.files())
    rc, out, err = notify(cfg, '--dry-run')
    h.is_(rc, 0, '--dry-run exits 0') or h.diag(err)
    shown = dry_run_mails(out)
    h.is_(sorted((k, g, n) for k, g, n, _ in shown), [('email', 'parent7@family.test', 1)] * 2,
          '--dry-run prints the two due emails on stdout')
    for i, (_, _, _, m) in enumerate(shown):
        subj = header(m, 'Subject') or ''
        h.ok(m['error'] is None and addr_of(m, 'To') == 'parent7@family.test' and 'kid7@family.test' in subj
             and m['parts'] == [('text/plain', 'utf-8'), ('text/html', 'utf-8')] and len(m['tokens_text']) == 1,
             '--dry-run email %d is a whole message (To, Subject, text and HTML, a link)' % (i + 1),
             out[:3000])
    h.ok(h.snapshot(db) == snap, '--dry-run: no table changed')
    no_new_mail('--dry-run', before)
    dry_tokens = [t for _, _, _, m in shown for t in m['tokens_text']]
    h.ok(all(o is None for o in token_owners(dry_tokens)), '--dry-run: its links redeem nothing',
         repr(dry_tokens))
    run_once('after --dry-run, a real run')
    h.is_(len(sink.files()) - before, 2, 'after --dry-run a real run sends the two emails')

    # ================================================= no guardian
    reset()
    cid = challenge('lonely@ext.example', 'child@orphan.example')
    before = len(sink.files())
    run_once('a key without a guardian')
    st = state(cid)
    h.is_((st['status'], st['notify_state']), ('pending', 'failed'), 'no guardian: notify_state failed')
    h.ok(st['notify_error'] and 'orphan.example' in st['notify_error'] and 'guardian' in st['notify_error'],
         'no guardian: notify_error says so and names the protected key', repr(st))
    no_new_mail('no guardian', before)

    # ================================================= HTML escaping end to end
    reset()
    # SQL: the daemon would not record such values from a policy query
    nasty_sender = '"<script>alert(1)</script>"@evil.example'
    nasty_client = '<b>x</b> & "q"'
    cid = sql_challenge(nasty_sender, 'kid9@family.test', client_name=nasty_client, client_address='192.0.2.66')
    run_once('hostile values')
    mails = sink_mails(sink)
    h.is_(len(mails), 1, 'hostile sender and client name: one message')
    if mails:
        m = mails[0]
        html, text = m['html'] or '', m['text'] or ''
        h.ok('&lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot;' in html, 'HTML part: the client name is escaped',
             html[:4000])
        h.ok('&lt;script&gt;alert(1)&lt;/script&gt;' in html, 'HTML part: the sender is escaped')
        h.ok('<b>' not in html and '<script' not in html and '"q"' not in html,
             'HTML part: the raw values never appear', html[:4000])
        h.ok(nasty_client in text and nasty_sender in text, 'text part: the values appear as they are', text[:3000])
        h.ok(nasty_sender in (header(m, 'Subject') or ''), 'Subject: carries the sender as text',
             header(m, 'Subject'))
        h.is_(token_owner((m['tokens_html'] or [''])[0]), cid, 'hostile values: the link still redeems the challenge')

    # ================================================= the sender check (SPF) in words
    # SQL: guardlistd records spf_result from its SPF check (issue 17); here
    # each value is written as it would be.  One key (and guardian) each, so
    # every one is a single email.
    reset()
    spf_cases = {
        'kid2@family.test': ('pass', 'Verified: spf-pass.example allows the server this email came from to send '
                                     'its mail.'),
        'kid3@family.test': ('none', 'Not verified: spf-none.example does not say which servers send its mail, so '
                                     'guardlist cannot tell whether this email really came from spf-none.example.'),
        'kid7@family.test': ('neutral', 'Not verified: spf-neutral.example does not vouch for the server this email '
                                        'came from, so guardlist cannot tell whether this email really came from '
                                        'spf-neutral.example.'),
        'kid9@family.test': (None, 'Not checked: guardlist did not check whether this email really came from '
                                   'spf-null.example.'),
    }
    for child, (spf, _) in spf_cases.items():
        cols = {'spf_result': spf} if spf else {}
        sql_challenge('someone@spf-%s.example' % (spf or 'null'), child, **cols)
    run_once('four challenges with spf_result pass, none, neutral and NULL')
    mails = sink_mails(sink)
    h.is_(len(mails), 4, 'four challenges for four guardians: four single emails')
    for m in mails:
        child = next((c for c in spf_cases if c.replace('kid', 'parent') == addr_of(m, 'To')), None)
        spf, words = spf_cases.get(child, ('?', '?'))
        for part, body in (('text', ' '.join((m['text'] or '').split())), ('HTML', ' '.join((m['html'] or '').split()))):
            h.ok(words in body, 'spf_result %s (%s part): the email says %r' % (spf or 'NULL', part, words[:40]),
                 body[:3000])
            if spf != 'pass':
                h.ok(not re.search(r'(?<!Not )verified', body, re.I),
                     'spf_result %s (%s part): nothing is called verified' % (spf or 'NULL', part))
        h.ok('Sender check: ' + words in ' '.join((m['text'] or '').split()),
             'spf_result %s: the text part labels it "Sender check:"' % (spf or 'NULL'))

    # ================================================= a bounce (null sender <>) challenge
    # Only an admin decides those (allowing <> lets every bounce through):
    # the guardian is told, without a link.  SQL: guardlistd records <> only
    # with null_sender = challenge.
    reset()
    sql_challenge('<>', 'kid4@family.test', client_name='mx.ext.example', client_address='198.51.100.9')
    run_once('a null-sender challenge')
    mails = sink_mails(sink)
    h.is_(len(mails), 1, 'a null-sender challenge: one message')
    if mails:
        m = mails[0]
        html, text = m['html'] or '', m['text'] or ''
        h.is_(header(m, 'Subject'), 'A bounce message for kid4@family.test is waiting for your mail administrator',
              'bounce: the Subject says who decides')
        h.is_(addr_of(m, 'To'), 'parent4@family.test', 'bounce: the email goes to the guardian')
        for part, body in (('text', ' '.join(text.split())), ('HTML', ' '.join(html.split()))):
            h.ok('bounce message' in body and 'Only your mail administrator can decide this' in body
                 and 'every bounce message through to kid4@family.test' in body,
                 'bounce (%s part): says what it is, what allowing it means and who decides' % part, body[:3000])
        h.ok(not m['tokens_text'] and not m['tokens_html'] and APPROVE not in text + html,
             'bounce: no approval link', text[:3000])
    reset()
    cfg_cap1 = h.notify_config(db, sink.port, notifier={'max_per_hour': '1'})
    challenge('first@ext.example', 'kid5@family.test')
    sql_challenge('<>', 'kid5@family.test')
    run_once('a stranger, then a bounce, with max_per_hour 1', config=cfg_cap1)
    mails = sink_mails(sink)
    digests = [m for m in mails if is_digest(m)]
    h.ok(len(mails) == 2 and len(digests) == 1, 'the bounce goes out in a digest after the single email',
         [header(m, 'Subject') for m in mails])
    if digests:
        text, html = digests[0]['text'] or '', digests[0]['html'] or ''
        for part, body in (('text', ' '.join(text.split())), ('HTML', ' '.join(html.split()))):
            h.ok('ounce message' in body and 'Only your mail administrator can decide this' in body,
                 'digest (%s part): the bounce item says who decides' % part, body[:3000])
        h.ok(not digests[0]['tokens_text'] and not digests[0]['tokens_html'], 'digest: no link for the bounce',
             text[:3000])

    # ================================================= start-up errors
    reset()
    challenge('due@ext.example', 'kid10@family.test')     # a wrongly started notifier would send this
    work = h.tmpdir('guardlist-notify-cfg-')

    def make_due():
        # Puts the due challenge back, should a wrongly started notifier have sent it.
        db.sql("DELETE FROM notifications; UPDATE challenges SET notify_state = 'new', notify_next_at = NULL, "
               "notify_error = NULL, notify_claimed_until = NULL WHERE sender = 'due@ext.example'")

    def refused(desc, config, *words):
        make_due()
        snap = h.snapshot(db)
        before = len(sink.files())
        rc, out, err = notify(config, '--once', timeout=30)
        h.is_(rc, 2, '%s: exit 2' % desc) or h.diag('stderr: ' + err)
        lines = err.splitlines()
        h.ok(len(lines) == 1 and lines[0].startswith(ERR) and all(w in lines[0] for w in words),
             '%s: one line "%s..." naming %s' % (desc, ERR, ', '.join(repr(w) for w in words)),
             'stderr: %r' % err)
        h.ok(h.snapshot(db) == snap and len(sink.files()) == before, '%s: nothing sent, nothing written' % desc)

    tdir = os.path.join(work, 'templates')
    shutil.copytree(os.path.join(ROOT, 'templates'), tdir)
    with open(os.path.join(tdir, 'notify.txt'), 'a') as f:
        f.write('\nP.S. {{nope}}\n')
    refused('a template with {{nope}}', h.notify_config(db, sink.port, directory=h.tmpdir(),
                                                         notifier={'template_dir': tdir}),
            'notify.txt', 'nope')
    missing = os.path.join(work, 'no-such-dir')
    refused('a missing template_dir', h.notify_config(db, sink.port, directory=h.tmpdir(),
                                                       notifier={'template_dir': missing}), missing)
    tdir2 = os.path.join(work, 'templates2')
    shutil.copytree(os.path.join(ROOT, 'templates'), tdir2)
    os.unlink(os.path.join(tdir2, 'digest.html'))
    refused('a template_dir without digest.html', h.notify_config(db, sink.port, directory=h.tmpdir(),
                                                                   notifier={'template_dir': tdir2}),
            'digest.html')
    pw = os.path.join(work, 'smtp.secret')
    with open(pw, 'w') as f:
        f.write('s3cret\n')
    os.chmod(pw, 0o600)
    cfg_pw = h.notify_config(db, sink.port, directory=h.tmpdir(),
                             notifier={'smtp_user': 'relay', 'smtp_password_file': pw})
    rc, out, err = notify(cfg_pw, '--dry-run', timeout=30)
    h.is_(rc, 0, 'smtp_user with a 0600 smtp_password_file: starts (--dry-run exits 0)') or h.diag(err)
    os.chmod(pw, 0o644)
    refused('smtp_user with a world-readable (0644) smtp_password_file', cfg_pw, pw, 'chmod')
    for bad in ('not-an-address', 'guardlist@', '@guardlist.test', 'guardlist@bad domain.test',
                'a b@guardlist.test', 'a@b@guardlist.test'):
        refused('from = %r' % bad, h.notify_config(db, sink.port, directory=h.tmpdir(), notifier={'from': bad}),
                'from')
    # In angle brackets: refusing it or sending a well-formed From: are both fine; <<...>> is not.
    cfg_br = h.notify_config(db, sink.port, directory=h.tmpdir(), notifier={'from': '<%s>' % FROM})
    make_due()
    rc, out, err = notify(cfg_br, '--dry-run', timeout=30)
    shown = dry_run_mails(out)
    froms = [(addr_of(m, 'From'), [ln for ln in out.splitlines() if ln.startswith('From:')]) for _, _, _, m in shown]
    h.ok((rc == 2 and err.startswith(ERR) and not shown) or (rc == 0 and froms and all(f == FROM for f, _ in froms)),
         'from = <%s>: refused (exit 2), or a From: header that parses as %s' % (FROM, FROM),
         'rc %r, stderr %r, From: %r' % (rc, err[:300], froms))

    d.stop()
    sink.stop()
    no_sanitizer_reports()
    h.diag('100_notify.t total: %.1f s' % (time.monotonic() - t_all))


h.run(main, timeout=600)
