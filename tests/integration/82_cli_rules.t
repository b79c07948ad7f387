#!/usr/bin/python3
"""guardlist CLI (docs/cli-contract.md): protect, unprotect, guardian
add/remove/list, allow, block, rule set/rm, list; bad keys and actions are
refused with exit 2 and nothing written; one audit_log row per change with the
right actor, none for failures and read-only commands; a running guardlistd
follows a CLI change within 2 s."""
import json
import os
import pwd
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID = 'kid@c.example'
KID2 = 'kid2@c.example'
MOM = 'mom@home.example'
DAD = 'dad@home.example'
AUNT = 'aunt@home.example'
ERR = 'guardlist: error: '


def mkdomain(n):
    """A syntactically valid domain of exactly N bytes (labels <= 63)."""
    d = 'example'
    need = n - len(d)
    while need > 0:
        k = min(63, need - 1)
        if need - 1 - k == 1:
            k -= 1
        d = 'b' * k + '.' + d
        need -= k + 1
    assert len(d) == n, (n, len(d))
    return d


class Cli:
    def __init__(self, db, cfg):
        self.db, self.cfg = db, cfg

    def run(self, *args, **kw):
        return h.cli(self.cfg, *args, **kw)

    def audit_max(self):
        return int(self.db.value('SELECT COALESCE(MAX(id), 0) FROM audit_log'))

    def change(self, desc, *args, actor='tester', env=None, closes=0):
        """ARGS must succeed (exit 0) and write exactly one audit_log row by ACTOR,
        and CLOSES more ("close-covered": the pending challenges the rule
        closes with it, issue 25)."""
        last = self.audit_max()
        rc, out, err = self.run(*args, actor=actor, env=env)
        h.is_(rc, 0, '%s: exit 0' % desc) or h.diag('stderr: ' + err)
        want = actor
        if actor is None:
            want = pwd.getpwuid(os.geteuid()).pw_name
        rows = self.db.sql('SELECT actor FROM audit_log WHERE id > %d ORDER BY id' % last)
        if closes:
            h.is_(rows, [[want]] * (1 + closes), '%s: exactly one new audit_log row and %d close-covered, actor %r'
                  % (desc, closes, want))
            h.is_(self.db.value("SELECT COUNT(*) FROM audit_log WHERE id > %d AND action = 'close-covered'" % last),
                  str(closes), '%s: %d pending challenge(s) closed with the rule' % (desc, closes))
        else:
            h.is_(rows, [[want]], '%s: exactly one new audit_log row, actor %r' % (desc, want))
        return out

    def refused(self, desc, args, code, words=None, one_line=True, usage_ok=False):
        """ARGS must exit CODE with one "guardlist: error: ..." line on stderr
        (naming one of WORDS, if given), printable, and leave every table
        unchanged.  USAGE_OK: the usage text instead of an error line will do."""
        before = h.snapshot(self.db)
        rc, out, err = self.run(*args, actor='tester')
        h.is_(rc, code, '%s: exit %d' % (desc, code)) or h.diag('stderr: ' + err)
        lines = err.splitlines()
        if one_line:
            h.ok(len(lines) == 1 and lines[0].startswith(ERR),
                 '%s: one "%s..." line on stderr' % (desc, ERR), 'stderr: %r' % err)
            h.ok(not re.search('[\x00-\x1f\x7f]', err[:-1] if err.endswith('\n') else err),
                 '%s: the message is printable (input with control characters is not echoed raw)' % desc,
                 'stderr: %r' % err)
        elif usage_ok:
            h.ok(any(ln.startswith(ERR) for ln in lines) or 'usage' in err.lower(),
                 '%s: an error line or the usage on stderr' % desc, 'stderr: %r' % err)
        else:
            h.ok(any(ln.startswith(ERR) for ln in lines),
                 '%s: a "%s..." line on stderr' % (desc, ERR), 'stderr: %r' % err)
        if words:
            h.ok(any(w in err.lower() for w in words),
                 '%s: the message says what is wrong (one of %s)' % (desc, ', '.join(words)),
                 'stderr: %r' % err)
        after = h.snapshot(self.db)
        h.ok(after == before, '%s: nothing written (all tables unchanged)' % desc,
             *diff_snap(before, after))
        return out, err

    def readonly(self, desc, *args):
        """ARGS must succeed and change nothing (no audit row either)."""
        before = h.snapshot(self.db)
        rc, out, err = self.run(*args, actor='tester')
        h.is_(rc, 0, '%s: exit 0' % desc) or h.diag('stderr: ' + err)
        after = h.snapshot(self.db)
        h.ok(after == before, '%s: read-only (no table changed, no audit row)' % desc,
             *diff_snap(before, after))
        return out


def diff_snap(a, b):
    lines = []
    for t in sorted(set(a) | set(b)):
        ra, rb = set(a.get(t, [])), set(b.get(t, []))
        for r in sorted(ra - rb, key=str):
            lines.append('%s: removed %r' % (t, r))
        for r in sorted(rb - ra, key=str):
            lines.append('%s: added %r' % (t, r))
    return lines


def parse_json(desc, text):
    try:
        j = json.loads(text)
        h.ok(True, '%s: output parses as JSON' % desc)
        return j
    except ValueError as e:
        h.ok(False, '%s: output parses as JSON' % desc, str(e), 'output: %r' % text[:2000])
        return None


def guardian_pairs(j):
    """(recipient, email) pairs from `guardian list --json`, whose exact shape the
    contract leaves open: a list of {recipient, email|guardian} or of
    {recipient, guardians: [...]}, or a mapping recipient -> [emails]."""
    pairs = set()

    def email_of(e):
        return e if isinstance(e, str) else (e.get('email') or e.get('guardian'))
    if isinstance(j, dict) and isinstance(j.get('guardians'), list) and 'recipient' not in j:
        j = j['guardians']
    if isinstance(j, dict):
        for r, v in j.items():
            for e in (v if isinstance(v, list) else [v]):
                pairs.add((r, email_of(e)))
        return pairs
    for item in j or []:
        if not isinstance(item, dict):
            pairs.add((None, email_of(item)))
            continue
        r = item.get('recipient')
        if 'guardians' in item:
            for e in item['guardians']:
                pairs.add((r, email_of(e)))
        else:
            pairs.add((r, email_of(item)))
    return pairs


def db_guardians(db, rcpt=None):
    where = (' WHERE recipient = ' + h.sql_str(rcpt)) if rcpt else ''
    return set(tuple(r) for r in db.sql('SELECT recipient, email FROM guardians' + where))


def db_list(db):
    """What `list --json` must say, from the tables."""
    prot = {}
    for r, c in db.sql('SELECT recipient, class FROM protected_users'):
        prot[r] = (c, sorted(e for rr, e in db_guardians(db, r)))
    rules = set(('global', None, s, a) for s, a in db.sql('SELECT sender, action FROM whitelist'))
    rules |= set(('recipient', r, s, a) for r, s, a in
                 db.sql('SELECT recipient, sender, action FROM sender_rules'))
    return prot, rules


def json_list(j):
    prot, rules = {}, set()
    for p in j.get('protected', []):
        prot[p.get('recipient')] = (p.get('class'), sorted(p.get('guardians') or []))
    for r in j.get('rules', []):
        rules.add((r.get('scope'), r.get('recipient'), r.get('sender'), r.get('action')))
    return prot, rules


def main():
    db = h.start_db()
    cfg = h.cli_config(db)
    c = Cli(db, cfg)
    sql = db.sql

    # ---------------------------------------------------------- protect
    c.change('protect Kid@C.Example with two --guardian', 'protect', 'Kid@C.Example',
             '--guardian', MOM, '--guardian', DAD, actor='alice')
    h.is_(sql('SELECT recipient, class FROM protected_users'), [[KID, 'whitelist']],
          'protect: protected_users row, key lower-cased, class whitelist')
    h.is_(db_guardians(db), {(KID, MOM), (KID, DAD)}, 'protect: both guardians stored for kid')
    h.is_(db.value('SELECT action <> \'\' AND detail <> \'\' FROM audit_log ORDER BY id DESC LIMIT 1'),
          '1', 'the audit row says what was done (action and detail filled)')
    c.change('protect kid2 (no guardian)', 'protect', KID2)
    c.change('protect a domain key', 'protect', 'school.example')
    c.change('protect a user@ key', 'protect', 'vague@')
    c.change('protect a 64-byte local part (the limit)', 'protect', 'a' * 64 + '@c.example')
    h.is_(sorted(r[0] for r in sql('SELECT recipient FROM protected_users')),
          sorted([KID, KID2, 'school.example', 'vague@', 'a' * 64 + '@c.example']),
          'protected_users holds every protected key')

    # ---------------------------------------------------------- actor default
    c.change('no --actor, USER/LOGNAME set: actor is the login user', 'protect',
             'solo1@c.example', actor=None, env={'USER': pwd.getpwuid(os.geteuid()).pw_name,
                                                 'LOGNAME': pwd.getpwuid(os.geteuid()).pw_name})
    c.change('no --actor, no USER/LOGNAME and no tty (cron, systemd): actor is the user running it',
             'protect', 'solo2@c.example', actor=None, env={'USER': None, 'LOGNAME': None})

    # ---------------------------------------------------------- guardians
    c.change('guardian add kid2 aunt', 'guardian', 'add', KID2, AUNT, actor='bob')
    h.is_(db_guardians(db, KID2), {(KID2, AUNT)}, 'guardian add: row stored')
    out = c.readonly('guardian list --json', 'guardian', 'list', '--json')
    j = parse_json('guardian list --json', out)
    if j is not None:
        h.is_(guardian_pairs(j), db_guardians(db), 'guardian list --json: every (recipient, email) pair')
    out = c.readonly('guardian list kid --json', 'guardian', 'list', KID, '--json')
    j = parse_json('guardian list kid --json', out)
    if j is not None:
        got = guardian_pairs(j)
        # A list for one recipient may leave the recipient out of each item.
        got = set((KID if r is None else r, e) for r, e in got)
        h.is_(got, {(KID, MOM), (KID, DAD)}, 'guardian list kid --json: kid\'s guardians only')
    out = c.readonly('guardian list (text)', 'guardian', 'list')
    h.ok(all(x in out for x in (KID, MOM, DAD, KID2, AUNT)),
         'guardian list (text) names every protected key and guardian', 'output: %r' % out)
    c.change('guardian remove Kid@C.example DAD@home.example (other case)', 'guardian', 'remove',
             'Kid@C.example', 'DAD@home.example')
    h.is_(db_guardians(db, KID), {(KID, MOM)}, 'guardian remove: dad gone, mom kept')
    c.refused('guardian remove of a guardian that is not there', ['guardian', 'remove', KID, DAD], 1)

    # ---------------------------------------------------------- allow / block
    c.change('allow grandma (global)', 'allow', 'grandma@example.com')
    c.change('allow GrandPa@Example.COM (global, mixed case)', 'allow', 'GrandPa@Example.COM')
    c.change('allow friend --to kid', 'allow', 'friend@ext.example', '--to', KID)
    c.change('allow <> (the null sender key)', 'allow', '<>')
    c.change('block spam@bad.example (global)', 'block', 'spam@bad.example')
    c.change('block bad.example --message', 'block', 'bad.example', '--message', 'Go away')
    c.change('block bully --to kid --message', 'block', 'bully@ext.example', '--to', KID,
             '--message', 'Not you')
    c.change('block meanie --to Kid@C.EXAMPLE (no message)', 'block', 'meanie@ext.example',
             '--to', 'Kid@C.EXAMPLE')
    h.is_(sql('SELECT sender, action FROM whitelist ORDER BY sender'),
          [['<>', 'OK'], ['bad.example', 'REJECT Go away'], ['grandma@example.com', 'OK'],
           ['grandpa@example.com', 'OK'], ['spam@bad.example', 'REJECT']],
          'whitelist: global rules, keys lower-case, REJECT / REJECT TEXT')
    h.is_(sql('SELECT recipient, sender, action FROM sender_rules ORDER BY sender'),
          [[KID, 'bully@ext.example', 'REJECT Not you'], [KID, 'friend@ext.example', 'OK'],
           [KID, 'meanie@ext.example', 'REJECT']],
          'sender_rules: per-recipient rules for the lower-cased recipient key')
    c.change('allow spam@bad.example (was blocked)', 'allow', 'spam@bad.example')
    h.is_(sql("SELECT action FROM whitelist WHERE sender = 'spam@bad.example'"), [['OK']],
          'allow on a blocked sender replaces the action (one row, OK)')
    c.change('allow <Auntie@Example.COM> (angle brackets)', 'allow', '<Auntie@Example.COM>')
    h.is_(sql("SELECT sender FROM whitelist WHERE sender LIKE '%auntie%'"), [['auntie@example.com']],
          'allow <Auntie@Example.COM>: stored as auntie@example.com')
    c.change('allow --to a domain key', 'allow', 'teacher@staff.example', '--to', 'School.Example')
    h.is_(sql("SELECT recipient, action FROM sender_rules WHERE sender = 'teacher@staff.example'"),
          [['school.example', 'OK']], 'allow --to school.example: per-recipient rule for the domain key')
    c.change('rm <Auntie@...> again', 'rule', 'rm', '<AUNTIE@example.com>')
    c.refused('block --message making the action longer than 255 bytes',
              ['block', 'x@bad.example', '--message', 'm' * 300], 2)
    c.refused('block --message with a newline', ['block', 'x@bad.example', '--message', 'a\nb'], 2)
    c.refused('block --message with a control character',
              ['block', 'x@bad.example', '--message', 'a\x07b'], 2)

    # ---------------------------------------------------------- rule set
    valid = ['OK', 'REJECT', 'REJECT Go away please', 'DEFER_IF_PERMIT Try again later',
             'DEFER_IF_REJECT', 'DEFER come back later', '450 4.7.1 Slow down',
             '550 5.7.1 Not welcome here', 'DISCARD', 'HOLD', 'DUNNO', 'WARN odd sender',
             'INFO seen', 'PREPEND X-Guardlist: checked', 'REDIRECT mom@home.example',
             'BCC mom@home.example', 'FILTER smtp:[127.0.0.1]:10025', '200',
             'REJECT ' + 'x' * 248]
    for i, action in enumerate(valid):
        s = 'rs%d@set.example' % i
        c.change('rule set %r (global)' % action[:40], 'rule', 'set', s, action)
        h.is_(db.value('SELECT action FROM whitelist WHERE sender = %s' % h.sql_str(s)), action,
              'rule set %r: stored verbatim in whitelist' % action[:40])
    for i, action in enumerate(['OK', 'REJECT Not for you', '451 4.7.1 Later', 'HOLD']):
        s = 'rt%d@set.example' % i
        c.change('rule set %r --to kid' % action, 'rule', 'set', s, action, '--to', KID)
        h.is_(sql('SELECT recipient, action FROM sender_rules WHERE sender = %s' % h.sql_str(s)),
              [[KID, action]], 'rule set %r --to kid: stored in sender_rules' % action)
    c.change('rule set lower-case keyword "ok"', 'rule', 'set', 'lc@set.example', 'ok')
    h.is_((db.value("SELECT action FROM whitelist WHERE sender = 'lc@set.example'") or '').upper(), 'OK',
          'rule set "ok": stored as OK (any case)')
    c.change('rule set on an existing per-recipient rule', 'rule', 'set', 'friend@ext.example',
             'REJECT changed my mind', '--to', KID)
    h.is_(sql("SELECT action FROM sender_rules WHERE sender = 'friend@ext.example'"),
          [['REJECT changed my mind']], 'rule set replaces the action of an existing rule (one row)')

    invalid = [('unknown keyword', 'FOO'), ('empty', ''), ('blank', '   '),
               ('FILTER without its argument', 'FILTER'), ('REDIRECT without its argument', 'REDIRECT'),
               ('PREPEND without its argument', 'PREPEND'),
               ('2NN code', '299 Nope'), ('6NN code', '600 Nope'), ('two-digit code', '45 short'),
               ('control character', 'REJECT bad\x01char'), ('newline', 'REJECT two\nlines'),
               ('DEL character', 'OK\x7f'), ('256 bytes', 'REJECT ' + 'x' * 249),
               ('invalid UTF-8', 'REJECT caf\udce9')]
    for what, action in invalid:
        c.refused('rule set with an invalid action (%s)' % what, ['rule', 'set', 'inv@set.example', action], 2)
    c.refused('rule set --to kid with an invalid action (unknown keyword)',
              ['rule', 'set', 'inv@set.example', 'ACCEPT', '--to', KID], 2)
    c.refused('rule set --to kid with an invalid action (2NN)',
              ['rule', 'set', 'friend@ext.example', '250 fine', '--to', KID], 2)

    # ---------------------------------------------------------- rule rm
    c.change('rule rm grandpa (global)', 'rule', 'rm', 'GRANDPA@example.com')
    h.is_(sql("SELECT * FROM whitelist WHERE sender = 'grandpa@example.com'"), [],
          'rule rm: the global row is gone')
    c.change('rule rm meanie --to kid', 'rule', 'rm', 'meanie@ext.example', '--to', KID)
    h.is_(sql("SELECT * FROM sender_rules WHERE sender = 'meanie@ext.example'"), [],
          'rule rm --to: the per-recipient row is gone')
    c.refused('rule rm of a missing global rule', ['rule', 'rm', 'nobody@nowhere.example'], 1)
    c.refused('rule rm without --to of a sender that only has a per-recipient rule',
              ['rule', 'rm', 'bully@ext.example'], 1)
    c.refused('rule rm --to a recipient the rule is not for',
              ['rule', 'rm', 'bully@ext.example', '--to', KID2], 1)
    c.refused('rule rm of a rule already removed', ['rule', 'rm', 'grandpa@example.com'], 1)

    # ---------------------------------------------------------- list
    out = c.readonly('list --json', 'list', '--json')
    j = parse_json('list --json', out)
    if isinstance(j, dict):
        got_p, got_r = json_list(j)
        want_p, want_r = db_list(db)
        h.is_(got_p, want_p, 'list --json: protected recipients with class and guardians')
        h.ok(got_r == want_r, 'list --json: every rule (scope, recipient, sender, action)',
             'missing: %r' % sorted(want_r - got_r, key=str), 'extra: %r' % sorted(got_r - want_r, key=str))
    else:
        h.ok(False, 'list --json: a JSON object', 'got: %r' % (j,))
    out = c.readonly('list --to kid --json', 'list', '--to', KID, '--json')
    j = parse_json('list --to kid --json', out)
    if isinstance(j, dict):
        got_p, got_r = json_list(j)
        want_p, want_r = db_list(db)
        h.is_(got_p, {KID: want_p[KID]}, 'list --to kid --json: kid only, with guardians')
        mine = set(r for r in want_r if r[0] == 'recipient' and r[1] == KID)
        h.ok(mine <= got_r, 'list --to kid --json: every per-recipient rule of kid',
             'missing: %r' % sorted(mine - got_r, key=str))
        others = set(r for r in got_r if r[0] == 'recipient' and r[1] != KID)
        h.ok(not others, 'list --to kid --json: no per-recipient rule of another recipient',
             'extra: %r' % sorted(others, key=str))
        bogus = got_r - want_r
        h.ok(not bogus, 'list --to kid --json: no rule that is not in the tables', 'extra: %r' % sorted(bogus, key=str))
    else:
        h.ok(False, 'list --to kid --json: a JSON object', 'got: %r' % (j,))
    out = c.readonly('list (text)', 'list')
    names = [KID, KID2, 'school.example', MOM, AUNT, 'grandma@example.com', 'bully@ext.example',
             'REJECT Not you', 'bad.example']
    h.ok(all(n in out for n in names), 'list (text) shows recipients, guardians, rules and actions',
         'missing: %r' % [n for n in names if n not in out], 'output: %r' % out[:3000])

    # ---------------------------------------------------------- bad keys
    d256 = mkdomain(256)
    bad = [
        ('control character', 'a\x01b@example.com', ('control',)),
        ('tab', 'a\tb@example.com', ('control',)),
        ('escape sequence', 'a\x1b[31mred@example.com', ('control',)),
        ('trailing newline', 'user@example.com\n', ('control',)),
        ('local part of 65 bytes', 'a' * 65 + '@example.com', ('local', '64')),
        ('domain of 256 bytes', 'user@' + d256, ('domain', '255', 'long')),
        ('domain key of 256 bytes', d256, ('domain', '255', 'long')),
        ('address of 255 bytes', 'a' * 64 + '@' + mkdomain(190), ('254', 'long')),
        ('empty', '', ('empty', 'missing')),
        ('only blanks', '   ', ('empty', 'missing')),
        ('empty local part', '@example.com', ('local', 'empty')),
        ('double @', 'user@@example.com', ('@', 'domain', 'invalid', 'character')),
        ('blank in domain', 'user@exa mple.com', ('domain', 'invalid', 'character')),
        ('empty domain label', 'user@example..com', ('domain', 'label', 'empty')),
        ('unbalanced <', '<user@example.com', ('bracket', '<', 'angle', 'unbalanced')),
        ('invalid UTF-8', 'us\udcffer@example.com', ('utf-8', 'utf8', 'encoding')),
    ]
    for what, key, words in bad:
        c.refused('protect: %s' % what, ['protect', key], 2, words)
        c.refused('allow: %s' % what, ['allow', key], 2, words)
        c.refused('block --to: %s' % what, ['block', 'x@ok.example', '--to', key], 2, words)
        c.refused('rule set: %s' % what, ['rule', 'set', key, 'OK', '--to', KID], 2, words)
    for what, key, words in [b for b in bad if b[0] not in ('domain key of 256 bytes', 'address of 255 bytes',
                                                            'blank in domain', 'empty domain label',
                                                            'unbalanced <', 'invalid UTF-8')]:
        c.refused('guardian add, email: %s' % what, ['guardian', 'add', KID, key], 2, words)
    c.refused('protect <> (the null sender is a sender key only)', ['protect', '<>'], 2)
    c.refused('allow --to <> (not a recipient key)', ['allow', 'x@ok.example', '--to', '<>'], 2)
    c.change('allow an address of 254 bytes (the limit)', 'allow', 'a' * 64 + '@' + mkdomain(189))

    # ---------------------------------------------------------- usage errors
    c.refused('no command', [], 2, one_line=False, usage_ok=True)
    c.refused('unknown command', ['frobnicate'], 2, one_line=False)
    c.refused('protect without ADDR', ['protect'], 2, one_line=False)
    c.refused('rule set without ACTION', ['rule', 'set', 'x@ok.example'], 2, one_line=False)
    c.refused('allow --to without its value', ['allow', 'x@ok.example', '--to'], 2, one_line=False)
    c.refused('unknown option', ['allow', 'x@ok.example', '--frob'], 2, one_line=False)
    c.refused('guardian with an unknown subcommand', ['guardian', 'frob', KID, MOM], 2, one_line=False)

    # ---------------------------------------------------------- odd actors
    for what, actor in (('empty', ''), ('newline', 'eve\nforged line'), ('escape', 'eve\x1b[2J')):
        last = c.audit_max()
        rc, out, err = c.run('allow', 'actor-%s@ok.example' % what, actor=actor)
        rows = [r[0] for r in sql('SELECT actor FROM audit_log WHERE id > %d' % last)]
        h.ok(all(r and not re.search('[\x00-\x1f\x7f]', r) for r in rows) and (rc == 0) == (len(rows) == 1)
             and (rc == 0 or rc == 2),
             '--actor %s: refused (exit 2, nothing written) or recorded as a non-empty printable name' % what,
             'exit %s, stderr %r, audit actors %r' % (rc, err, rows))

    # ---------------------------------------------------------- look-alike keys
    # Keys compare byte for byte once folded: another family's look-alike is
    # another key, never the same row (utf8mb4_general_ci took zoë@ for zoe@).
    ZOE, ZOE2 = 'zoe@school.example', 'zo\u00eb@school.example'
    c.change('protect zoe@ with mom', 'protect', ZOE, '--guardian', MOM)
    c.change('protect zo\u00eb@ (a look-alike, another family) with aunt', 'protect', ZOE2, '--guardian', AUNT)
    h.is_(sorted(r[0] for r in sql("SELECT recipient FROM protected_users WHERE recipient LIKE 'zo%school.example'")),
          sorted([ZOE, ZOE2]), 'zoe@ and zo\u00eb@ are two protected keys')
    h.is_(db_guardians(db, ZOE2), {(ZOE2, AUNT)}, "zo\u00eb@'s guardian is aunt only")
    h.is_(db_guardians(db, ZOE), {(ZOE, MOM)}, "zoe@'s guardian is mom only")
    c.change('unprotect zo\u00eb@', 'unprotect', ZOE2)
    h.is_(sql("SELECT recipient FROM protected_users WHERE recipient = '%s'" % ZOE), [[ZOE]],
          'unprotecting zo\u00eb@ leaves zoe@ protected')
    h.is_(db_guardians(db, ZOE), {(ZOE, MOM)}, "unprotecting zo\u00eb@ leaves zoe@'s guardian")
    c.change('block grandma@gm\u00e4il.example (look-alike of an allowed sender)', 'block',
             'grandma@gm\u00e4il.example')
    c.change('allow grandma@gmail.example', 'allow', 'grandma@gmail.example')
    h.is_(sql("SELECT sender, action FROM whitelist WHERE sender LIKE 'grandma@gm%' ORDER BY sender"),
          [['grandma@gmail.example', 'OK'], ['grandma@gm\u00e4il.example', 'REJECT']],
          'a block on grandma@gm\u00e4il and an allow on grandma@gmail are two rows')
    c.change('block jose@evil.example', 'block', 'jose@evil.example', '--to', KID2)
    c.change('allow jos\u00e9@evil.example', 'allow', 'jos\u00e9@evil.example', '--to', KID2)
    h.is_(sql("SELECT action FROM sender_rules WHERE recipient = '%s' AND sender = 'jose@evil.example'" % KID2),
          [['REJECT']], 'allowing jos\u00e9@ leaves jose@ blocked')
    c.change('protect STRASSE@ (folds to strasse@)', 'protect', 'STRASSE@')
    h.is_(sql("SELECT recipient FROM protected_users WHERE recipient LIKE 'stra%'"), [['strasse@']],
          'STRASSE@ is stored folded as strasse@')
    before = h.snapshot(db)
    rc, out, err = c.run('protect', 'Stra\u00dfe@')
    h.ok(rc == 0 and 'already protected' in out + err and h.snapshot(db) == before,
         'protect Stra\u00dfe@: the same key once folded (ICU: \u00df is ss), already protected, nothing written',
         'exit %d' % rc, out, err)
    rc, out, err = c.run('check', 'stranger@ext.example', 'kid2@c.example@localhost')
    h.ok(rc == 0 and '5.1.3' in out, 'guardlist check agrees with the daemon: a routed recipient is refused',
         out, err)

    # ---------------------------------------------------------- daemon follows
    d = h.start_daemon(db)
    stranger = 'stranger@ext.example'
    h.defer_ok(h.query(d.port, sender=stranger, recipient=KID2), 'daemon: stranger -> kid2 deferred')
    recorded, _, _ = h.poll_until(lambda: h.challenges(db, sender=stranger, recipient=KID2), lambda r: len(r) == 1, 5)
    h.ok(recorded, 'daemon: the challenge of stranger -> kid2 is recorded')
    t0 = time.monotonic()
    # The allow answers the pending challenge too: it closes with the rule (issue 25).
    c.change('allow stranger --to kid2 with the daemon running', 'allow', stranger, '--to', KID2, closes=1)
    good, got, _ = h.wait_reply(d.port, lambda r: r == 'DUNNO', 3.0, sender=stranger, recipient=KID2)
    secs = time.monotonic() - t0
    h.ok(good and secs <= 2.0, 'daemon follows the CLI change within 2 s (stranger -> kid2: DUNNO)',
         'last reply %r after %.3f s' % (got, secs))
    h.diag('CLI allow -> daemon DUNNO after %.3f s' % secs)
    d.stop()

    # ---------------------------------------------------------- unprotect
    c.change('unprotect kid', 'unprotect', 'KID@c.example', actor='carol')
    h.is_(sql("SELECT * FROM protected_users WHERE recipient = 'kid@c.example'"), [],
          'unprotect: the protected_users row is gone')
    h.is_(db_guardians(db, KID), set(), 'unprotect: kid\'s guardians are gone')
    h.is_(db_guardians(db, KID2), {(KID2, AUNT)}, 'unprotect: other recipients keep their guardians')
    c.refused('unprotect kid again (no longer protected)', ['unprotect', KID], 1)
    c.refused('unprotect an address never protected', ['unprotect', 'nobody@c.example'], 1)
    c.refused('unprotect with a bad key', ['unprotect', 'a\x01b@example.com'], 2, ('control',))

    actors = [r[0] for r in sql('SELECT DISTINCT actor FROM audit_log')]
    h.ok('tester' in actors and 'alice' in actors and 'carol' in actors,
         'audit_log actors come from --actor', 'actors: %r' % actors)
    db.stop()


h.run(main, timeout=600)
