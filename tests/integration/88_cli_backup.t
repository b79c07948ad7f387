#!/usr/bin/python3
"""guardlist CLI (docs/cli-contract.md): `export [FILE]` / `import FILE`.  Every
table filled (rules, guardians, challenges with binary token hashes, NULLs,
awkward text, audit rows), exported, imported into a fresh database that held
other rows, exported again: the files are identical (but for a timestamp
header) and every table matches row by row.  Corrupt files are refused with
a non-zero exit and the database left exactly as it was."""
import difflib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

DATA_TABLES = ['protected_users', 'whitelist', 'guardians', 'sender_rules', 'challenges', 'accounts', 'audit_log']
AWKWARD = 'line1\nline2\ttab \\ backslash \'single\' "double" \u00e9\u00fc \U0001F600 NULL \\N ;--'
TOKEN_ODD = '000A090D5C27221A' + 'FF' * 8 + '80' * 8 + '2C3B' * 4    # 32 bytes incl. NUL, LF, TAB, CR, \ ' "


def diff_snap(a, b):
    lines = []
    for t in sorted(set(a) | set(b)):
        ra, rb = set(a.get(t, [])), set(b.get(t, []))
        lines += ['%s: only before/first %r' % (t, r) for r in sorted(ra - rb, key=str)]
        lines += ['%s: only after/second %r' % (t, r) for r in sorted(rb - ra, key=str)]
    return lines


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def header_equal(l1, l2):
    """Two header lines are the same but for a timestamp (digits may differ)."""
    return re.sub(r'\d', '0', l1) == re.sub(r'\d', '0', l2) or (
        l1.lstrip().startswith(('#', '--')) and l2.lstrip().startswith(('#', '--')))


def compare_exports(a, b, allow_import_audit=False):
    """(same, diagnostics): A and B (bytes) are the same file but for header
    lines (the first three) that differ only in a timestamp; with
    ALLOW_IMPORT_AUDIT, B may add lines that record the import itself."""
    la = a.decode('utf-8', errors='surrogateescape').split('\n')
    lb = b.decode('utf-8', errors='surrogateescape').split('\n')
    for i in range(min(3, len(la), len(lb))):
        if la[i] != lb[i] and header_equal(la[i], lb[i]):
            lb[i] = la[i]
    if la == lb:
        return True, []
    diff = list(difflib.unified_diff(la, lb, 'first export', 'second export', lineterm='', n=1))
    if allow_import_audit:
        changed = [d for d in diff[2:] if d[:1] in '+-']
        if changed and all(d.startswith('+') and 'import' in d.lower() for d in changed):
            return True, ['(the second export adds the audit row of the import: %r)' % changed]
    return False, diff[:80]


def main():
    db = h.start_db()
    cfg = h.cli_config(db)
    tmp = h.tmpdir('guardlist-backup-')

    def cli(*args, c=cfg):
        rc, out, err = h.cli(c, *args, actor='backup-test')
        if rc != 0:
            h.diag('%r: exit %s: %s' % (args, rc, err))
        return rc

    # ------------------------------------------------------------ fill every table
    steps = [
        ('protect', 'kid@c.example', '--guardian', 'mom@home.example', '--guardian', 'dad@home.example'),
        ('protect', 'kid2@c.example', '--guardian', 'aunt@home.example'),
        ('protect', 'school.example'),
        ('protect', 'teen@'),
        ('allow', 'grandma@example.com'),
        ('allow', '<>'),
        ('block', 'spam@bad.example', '--message', 'Go "away" \\ now; it\'s over'),
        ('rule', 'set', 'unicode@example.org', 'REJECT \u00dcn\u00efc\u00f6d\u00e9 \U0001F600 text'),
        ('rule', 'set', 'temp@example.org', '450 4.7.1 Later, please'),
        ('allow', 'friend@ext.example', '--to', 'kid@c.example'),
        ('block', 'bully@ext.example', '--to', 'kid@c.example', '--message', 'Not you'),
        ('rule', 'set', 'bad.example', 'DISCARD', '--to', 'kid2@c.example'),
        ('allow', 'gone@ext.example', '--to', 'kid2@c.example'),
        ('rule', 'rm', 'gone@ext.example', '--to', 'kid2@c.example'),     # a gap in the ids
        ('allow', 'later@ext.example', '--to', 'kid2@c.example'),
        ('account', 'add', 'Kid', 'kid@c.example'),
        ('account', 'add', 'gone', 'kid2@c.example'),
        ('account', 'remove', 'gone'),                                     # a gap in the ids
        ('account', 'add', 'kid2@mail.c.example', 'kid2@c.example'),
    ]
    rcs = [cli(*s) for s in steps]
    h.is_(rcs, [0] * len(steps), 'the CLI filled protected_users, guardians, whitelist and sender_rules')
    db.sql("INSERT INTO challenges (token_sha256, sender, recipient, protected_key, status, is_open, "
           "client_address, client_name, first_seen, last_seen, attempts, notify_state, notify_attempts, "
           "notify_next_at, notify_error, notified_at, token_expires_at) VALUES "
           "(UNHEX(SHA2('token-one', 256)), 'stranger@ext.example', 'kid@c.example', 'kid@c.example', "
           "'pending', 1, '198.51.100.7', 'mail.ext.example', '2026-01-02 03:04:05', '2026-01-03 04:05:06', 3, "
           "'sent', 1, NULL, NULL, '2026-01-02 03:05:00', '2026-01-09 03:05:00')")
    db.sql("SET NAMES utf8mb4; INSERT INTO challenges (token_sha256, sender, recipient, protected_key, status, is_open, "
           "client_address, client_name, attempts, notify_state, notify_error, decided_at, decided_by) VALUES "
           "(UNHEX('%s'), 'odd@ext.example', 'kid2@c.example', 'kid2@c.example', 'approved', NULL, "
           "'\\\\N', 'NULL', 7, 'failed', %s, NOW(), 'mom@home.example')" % (TOKEN_ODD, h.sql_str(AWKWARD)))
    db.sql("INSERT INTO challenges (sender, recipient, protected_key, status, is_open, client_address, "
           "client_name, notify_state, notify_error) VALUES "
           "('denied@ext.example', 'pupil@school.example', 'school.example', 'denied', NULL, '2001:db8::1', '', "
           "'new', '')")
    db.sql("INSERT INTO challenges (sender, recipient, protected_key, status, is_open, notify_state) VALUES "
           "('<>', 'teen@x.example', 'teen@', 'expired', NULL, 'digest')")
    db.sql("SET NAMES utf8mb4; INSERT INTO audit_log (at, actor, action, detail) VALUES ('2020-01-02 03:04:05', "
           "'weird actor \u00e9', 'edit', %s)" % h.sql_str(AWKWARD))
    # Long values (lines of several KiB), leading and trailing blanks.
    db.sql("SET NAMES utf8mb4; INSERT INTO audit_log (actor, action, detail) VALUES ('long', 'edit', %s), "
           "('long', 'edit', %s)" % (h.sql_str('\u00e9' * 1024), h.sql_str('x' * 1023 + '\\')))
    db.sql("SET NAMES utf8mb4; INSERT INTO guardians (recipient, email) VALUES ('kid2@c.example', %s)"
           % h.sql_str('\U0001F600' * 255))
    db.sql("SET NAMES utf8mb4; INSERT INTO whitelist (sender, action) VALUES (%s, %s)"
           % (h.sql_str('w' * 255), h.sql_str('REJECT ' + '\u00fc' * 248)))
    db.sql("INSERT INTO challenges (sender, recipient, protected_key, status, is_open, client_name, decided_by) "
           "VALUES ('spaced@ext.example', 'kid@c.example', 'kid@c.example', 'denied', NULL, '  spaced  ', ' ')")
    db.sql("INSERT INTO challenges (sender, recipient, protected_key, status, is_open, direction) VALUES "
           "('newpal@ext.example', 'kid@c.example', 'kid@c.example', 'pending', 1, 'out')")
    counts = dict((t, int(db.value('SELECT COUNT(*) FROM `%s`' % t))) for t in DATA_TABLES)
    h.ok(all(counts.values()), 'every table has rows', 'counts: %r' % counts)
    h.is_(db.value("SELECT HEX(token_sha256) FROM challenges WHERE sender = 'odd@ext.example'"), TOKEN_ODD,
          'the odd binary token hash is stored')

    # ------------------------------------------------------------ export
    f1 = os.path.join(tmp, 'first.txt')
    before = h.snapshot(db)
    rc, out, err = h.cli(cfg, 'export', f1, actor='backup-test')
    h.is_(rc, 0, 'export FILE: exit 0') or h.diag('stderr: ' + err)
    h.ok(os.path.exists(f1) and os.path.getsize(f1) > 0, 'export FILE: the file is written')
    h.ok(os.path.exists(f1) and 'works both ways' in read(f1).decode('utf-8', 'replace').split('\n')[1],
         'export FILE: a comment says every rule works both ways (outbound)')
    after = h.snapshot(db)
    h.ok(after == before, 'export: read-only (nothing written, no audit row)', *diff_snap(before, after))
    rc, out, err = h.cli(cfg, 'export', actor='backup-test')
    h.is_(rc, 0, 'export (to stdout): exit 0') or h.diag('stderr: ' + err)
    if os.path.exists(f1):
        same, diag = compare_exports(read(f1), out.encode('utf-8', errors='surrogateescape'))
        h.ok(same, 'export to stdout is the same as export FILE', *diag)

    # ------------------------------------------------------------ import into a fresh database
    db.load_schema('restore')
    for st in ("INSERT INTO protected_users (recipient, class) VALUES ('junk@x.example', 'whitelist')",
               "INSERT INTO whitelist (sender, action) VALUES ('junk@y.example', 'OK')",
               "INSERT INTO sender_rules (recipient, sender, action) VALUES ('junk@x.example', 'a@b.example', 'OK')",
               "INSERT INTO audit_log (actor, action, detail) VALUES ('junk', 'junk', 'junk')"):
        db.sql(st, db='restore')
    rcfg = h.cli_config(db, name='restore')
    rc, out, err = h.cli(rcfg, 'import', f1, actor='backup-test')
    h.is_(rc, 0, 'import FILE into a fresh database: exit 0') or h.diag('stderr: ' + err)
    src = h.snapshot(db, tables=DATA_TABLES)
    dst = h.snapshot(db, name='restore', tables=DATA_TABLES)
    import_row = []
    if dst.get('audit_log') != src.get('audit_log'):
        extra = set(dst.get('audit_log', [])) - set(src.get('audit_log', []))
        if (set(src.get('audit_log', [])) <= set(dst.get('audit_log', [])) and len(extra) == 1
                and 'import' in ' '.join(str(v) for v in list(extra)[0]).lower()):
            import_row = list(extra)
            h.diag('import added its own audit row: %r' % import_row)
            dst['audit_log'] = [r for r in dst['audit_log'] if r not in extra]
    for t in DATA_TABLES:
        h.ok(src.get(t) == dst.get(t), 'import: %s matches row by row (every column, ids and times kept)' % t,
             *diff_snap({t: src.get(t, [])}, {t: dst.get(t, [])}))
    h.is_(db.sql('SELECT version FROM schema_version ORDER BY version', db='restore'),
          db.sql('SELECT version FROM schema_version ORDER BY version'), 'import: schema_version matches')
    h.is_(db.value("SELECT COUNT(*) FROM protected_users WHERE recipient = 'junk@x.example'", db='restore'), '0',
          'import replaced the contents (the fresh database\'s own rows are gone)')

    f2 = os.path.join(tmp, 'second.txt')
    rc, out, err = h.cli(rcfg, 'export', f2, actor='backup-test')
    h.is_(rc, 0, 'export of the restored database: exit 0') or h.diag('stderr: ' + err)
    if os.path.exists(f1) and os.path.exists(f2):
        same, diag = compare_exports(read(f1), read(f2), allow_import_audit=bool(import_row))
        h.ok(same, 'the two exports are identical (ignoring a timestamp header line)', *diag)

    # ------------------------------------------------------------ corrupt files
    good = read(f1) if os.path.exists(f1) else b''
    text = good.decode('utf-8', errors='surrogateescape')
    lines = text.split('\n')
    body = lines[:-1] if lines and lines[-1] == '' else lines
    variants = [
        ('cut in the middle of the file', good[:len(good) // 2]),
        ('last line missing (cut at a line boundary)', ('\n'.join(body[:-1]) + '\n').encode(
            'utf-8', errors='surrogateescape')),
        ('a garbage line at the end', good + b'this is not a backup line\n'),
        ('a garbage line in the middle', ('\n'.join(body[:len(body) // 2] + ['@@@ garbage @@@'] +
                                                    body[len(body) // 2:]) + '\n').encode(
            'utf-8', errors='surrogateescape')),
        ('random bytes', bytes(range(256)) * 4),
        ('empty', b''),
    ]
    def enc(ls):
        return ('\n'.join(ls) + '\n').encode('utf-8', errors='surrogateescape')
    # Lines that are rows: a field is exactly the value (the format is the CLI's own).
    dup = [ln for ln in body if 'grandma@example.com' in re.split(r'[\t,;|]', ln)]
    if len(dup) == 1:
        i = body.index(dup[0])
        variants.append(('a row twice (unique key)', enc(body[:i + 1] + [dup[0]] + body[i + 1:])))
        if '\t' in dup[0]:
            variants.append(('a row with a field missing', enc(body[:i] + [dup[0].rsplit('\t', 1)[0]] + body[i + 1:])))
            variants.append(('a row with a field too many', enc(body[:i] + [dup[0] + '\textra'] + body[i + 1:])))
    else:
        h.diag('no single row line with grandma@example.com: the row-level variants are skipped')
    pend = [i for i, ln in enumerate(body) if '\tpending\t' in ln]
    if len(pend) == 1:
        i = pend[0]
        variants.append(('an invalid status value', enc(body[:i] + [body[i].replace('\tpending\t', '\tbogus\t')]
                                                        + body[i + 1:])))
    if body and re.search(r'schema version \d+', body[0]):
        variants.append(('a newer schema version in the header',
                         enc([re.sub(r'schema version \d+', 'schema version 99', body[0])] + body[1:])))
    target_before = h.snapshot(db, name='restore')
    for what, data in variants:
        p = os.path.join(tmp, 'corrupt.txt')
        with open(p, 'wb') as f:
            f.write(data)
        rc, out, err = h.cli(rcfg, 'import', p, actor='backup-test')
        h.ok(rc != 0, 'import of a corrupt file (%s): non-zero exit' % what, 'exit %s, stderr %r' % (rc, err))
        h.ok(any(ln.startswith('guardlist: error: ') for ln in err.splitlines()),
             'import of a corrupt file (%s): "guardlist: error: ..." on stderr' % what, 'stderr: %r' % err)
        now = h.snapshot(db, name='restore')
        h.ok(now == target_before, 'import of a corrupt file (%s): database unchanged' % what,
             *diff_snap(target_before, now)[:40])
    rc, out, err = h.cli(rcfg, 'import', os.path.join(tmp, 'does-not-exist.txt'), actor='backup-test')
    h.ok(rc != 0, 'import of a missing file: non-zero exit', 'exit %s' % rc)
    h.ok(h.snapshot(db, name='restore') == target_before, 'import of a missing file: database unchanged')
    rc, out, err = h.cli(rcfg, 'import', actor='backup-test')
    h.is_(rc, 2, 'import without FILE: exit 2')

    # ------------------------------------------------------------ a file of schema version 2
    # (before accounts and challenges.direction): still imported, every challenge 'in'.
    old, table, drop_col = [], None, None
    for ln in body:
        if ln.startswith('# guardlist export'):
            ln = re.sub(r'schema version \d+', 'schema version 2', ln)
        elif ln.startswith('@table '):
            table = ln.split()[1]
            cols = ln.split()[2:]
            drop_col = cols.index('direction') if table == 'challenges' and 'direction' in cols else None
            if table == 'accounts':
                continue
            if drop_col is not None:
                ln = ' '.join(ln.split()[:2 + drop_col] + ln.split()[3 + drop_col:])
        elif table == 'accounts' and not ln.startswith('@'):
            continue
        elif drop_col is not None and not ln.startswith('@'):
            f = ln.split('\t')
            ln = '\t'.join(f[:drop_col] + f[drop_col + 1:])
        old.append(ln)
    p = os.path.join(tmp, 'version2.txt')
    with open(p, 'wb') as f:
        f.write(enc(old))
    rc, out, err = h.cli(rcfg, 'import', p, actor='backup-test')
    h.is_(rc, 0, 'import of a schema version 2 file: exit 0') or h.diag(err)
    h.is_((db.value('SELECT COUNT(*) FROM accounts', db='restore'),
           db.value("SELECT COUNT(*) FROM challenges WHERE direction <> 'in'", db='restore'),
           db.value('SELECT COUNT(*) FROM challenges', db='restore')),
          ('0', '0', str(counts['challenges'])), '... no accounts, every challenge in, all of them')
    h.is_(db.value("SELECT COUNT(*) FROM sender_rules", db='restore'), str(counts['sender_rules']),
          '... and the rules')

    # ------------------------------------------------------------ export of a busy database
    # Each transaction adds a whitelist row and its audit row together; an
    # export is a backup only if it is one consistent snapshot of all tables.
    n = 2000
    script = os.path.join(tmp, 'writer.sql')
    with open(script, 'w') as f:
        for i in range(n):
            f.write("START TRANSACTION; INSERT INTO whitelist (sender, action) VALUES ('race%d@r.example', 'OK'); "
                    "INSERT INTO audit_log (actor, action, detail) VALUES ('race', 'rule-set', 'race%d'); COMMIT;\n"
                    % (i, i))
    import subprocess
    with open(script) as f:
        writer = subprocess.Popen(['mariadb', '--no-defaults', '-uroot', '-S', db.socket, 'guardlist'],
                                  stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    files = []
    while writer.poll() is None and len(files) < 12:
        p = os.path.join(tmp, 'busy%d.txt' % len(files))
        rc, out, err = h.cli(cfg, 'export', p, actor='backup-test')
        if rc != 0:
            h.ok(False, 'export while another client writes: exit 0', 'stderr: ' + err)
            break
        files.append(p)
    writer.wait(120)
    h.is_(writer.returncode, 0, 'the concurrent writer finished')
    db.load_schema('scratch')
    scfg = h.cli_config(db, name='scratch')
    mid = 0
    for p in files:
        rc, out, err = h.cli(scfg, 'import', p, actor='backup-test')
        if rc != 0:
            h.ok(False, 'an export taken under load imports', 'stderr: ' + err)
            continue
        w = int(db.value("SELECT COUNT(*) FROM whitelist WHERE sender LIKE 'race%'", db='scratch'))
        a = int(db.value("SELECT COUNT(*) FROM audit_log WHERE actor = 'race'", db='scratch'))
        mid += 0 < w < n
        h.is_(a, w, 'an export taken while rows were being written is one consistent snapshot '
              '(%s: race rules %d, their audit rows %d)' % (os.path.basename(p), w, a))
    h.diag('%d exports under load, %d of them taken in the middle of the writes' % (len(files), mid))
    db.stop()


h.run(main, timeout=600)
