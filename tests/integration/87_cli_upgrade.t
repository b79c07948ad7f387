#!/usr/bin/python3
"""Schema upgrades: a database at schema version 1 (before the notifications
table of version 2) is brought to the current version by `guardlist db
migrate`, keeping every row; `db status` tells an old schema apart; a schema
newer than the program is refused with exit 1 and nothing changed.  From
version 4, the key columns become utf8mb4_bin and the rows that matched each
other only through the old comparison are reported, never merged or dropped.
From version 9, the accounts table (guardlist account) and its triggers."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('kid@family.test', 'whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com', 'OK')",
        "INSERT INTO guardians (recipient, email) VALUES ('kid@family.test', 'parent@family.test')",
    )
    cfg = h.cli_config(db)
    current = db.value('SELECT MAX(version) FROM schema_version')
    h.ok(int(current) >= 2, 'the schema loaded is version 2 or later (got %s)' % current)

    # Make it a version 1 database: no notifications table, no version 2 row.
    db.sql('DROP TABLE notifications')
    db.sql('DELETE FROM schema_version WHERE version >= 2')
    before = h.snapshot(db)

    rc, out, err = h.cli(cfg, 'db', 'status')
    h.is_(rc, 0, 'db status on a version 1 schema: exit 0') or h.diag(err)
    h.ok('schema version 1' in out and 'migrate' in out,
         'db status says version 1 and to run db migrate', out)

    rc, out, err = h.cli(cfg, 'db', 'migrate', actor='upgrader')
    h.is_(rc, 0, 'db migrate from version 1: exit 0') or h.diag(err)
    h.ok('was' in out, 'db migrate says what it upgraded from', out)
    h.is_(db.value('SELECT MAX(version) FROM schema_version'), current, 'schema_version is current again')
    h.is_(db.value("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'guardlist' "
                   "AND table_name = 'notifications'"), '1', 'the notifications table exists')
    after = h.snapshot(db, tables=[t for t in before if t not in ('schema_version', 'audit_log',
                                                                  'notifications')])
    h.is_(after, {t: v for t, v in before.items() if t not in ('schema_version', 'audit_log')},
          'every row of every other table kept')
    h.is_(db.sql("SELECT actor, action FROM audit_log WHERE action = 'db-migrate'"),
          [['upgrader', 'db-migrate']], 'one audit row for the upgrade, naming the actor')

    rc, out, err = h.cli(cfg, 'db', 'migrate')
    h.is_((rc, 'up to date' in out), (0, True), 'db migrate again: up to date')

    # A version 2 database: notifications without the per-guardian token columns.
    db.sql('ALTER TABLE notifications DROP INDEX token, DROP COLUMN token_sha256, DROP COLUMN token_expires_at')
    db.sql('DELETE FROM schema_version WHERE version >= 3')
    rc, out, err = h.cli(cfg, 'db', 'migrate')
    h.is_(rc, 0, 'db migrate from version 2: exit 0') or h.diag(err)
    h.is_(db.sql("SELECT column_name FROM information_schema.columns WHERE table_schema = 'guardlist' "
                 "AND table_name = 'notifications' AND column_name LIKE 'token%' ORDER BY column_name"),
          [['token_expires_at'], ['token_sha256']], 'version 3 added the token columns to notifications')
    h.is_(db.value('SELECT MAX(version) FROM schema_version'), current, 'schema_version is current')

    # A version 3 database: rule_generation without the destructive/closes
    # counters, triggers that bump only the generation.
    db.sql('DROP TRIGGER whitelist_ad')
    db.sql('CREATE TRIGGER whitelist_ad AFTER DELETE ON whitelist FOR EACH ROW '
           'UPDATE rule_generation SET generation = generation + 1 WHERE id = 1')
    db.sql('ALTER TABLE rule_generation DROP COLUMN destructive, DROP COLUMN closes')
    db.sql('DELETE FROM schema_version WHERE version >= 4')
    rc, out, err = h.cli(cfg, 'db', 'migrate')
    h.is_(rc, 0, 'db migrate from version 3: exit 0') or h.diag(err)
    h.is_(db.sql('SELECT destructive, closes FROM rule_generation WHERE id = 1'), [['0', '0']],
          'version 4 added the destructive and closes counters')
    db.sql("INSERT INTO whitelist (sender, action) VALUES ('gone@example.com', 'OK')")
    db.sql("DELETE FROM whitelist WHERE sender = 'gone@example.com'")
    h.is_(db.value('SELECT destructive FROM rule_generation WHERE id = 1'), '1',
          'version 4 triggers: a DELETE counts as destructive (the old trigger was replaced)')
    h.is_(db.value('SELECT MAX(version) FROM schema_version'), current, 'schema_version is current')

    # A version 4 database: key columns compare with utf8mb4_general_ci, which
    # let one family's rows hang on another's look-alike key.
    KEYCOLS = {'protected_users': ['recipient'], 'whitelist': ['sender'], 'guardians': ['recipient', 'email'],
               'sender_rules': ['recipient', 'sender'], 'challenges': ['sender', 'recipient', 'protected_key'],
               'notifications': ['guardian']}
    for table, cols in KEYCOLS.items():
        db.sql('ALTER TABLE %s %s' % (table, ', '.join(
            'MODIFY %s VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL' % c for c in cols)))
    db.sql('DELETE FROM schema_version WHERE version >= 5')
    db.sql("INSERT INTO protected_users (recipient, class) VALUES ('anna@school.test', 'whitelist'), "
           "('Zed@Family.Test', 'whitelist'), ('strasse@', 'whitelist'), ('stra\u00dfe@', 'whitelist')")
    # Written for \u00e4nna@ when anna@ (another family) was protected: the
    # old comparison took one for the other.
    db.sql("INSERT INTO guardians (recipient, email) VALUES ('\u00e4nna@school.test', 'other@family.test')")
    db.sql("INSERT INTO sender_rules (recipient, sender, action) VALUES "
           "('\u00e4nna@school.test', 'pal@example.com', 'OK')")
    lookalike = "SELECT COUNT(*) FROM protected_users WHERE recipient = '\u00e4nna@school.test'"
    h.is_(db.value(lookalike), '1', 'version 4: the old comparison finds \u00e4nna@ protected (as anna@)')
    before = h.snapshot(db)
    rc, out, err = h.cli(cfg, 'db', 'migrate')
    h.is_(rc, 0, 'db migrate from version 4: exit 0') or h.diag(err)
    h.ok('guardlist db init' in out and 'grants' in out,
         'db migrate from version 4 says to run db init for the new grants', out)
    h.is_(db.value('SELECT MAX(version) FROM schema_version'), current, 'schema_version is current')
    h.is_(db.sql("SELECT table_name, column_name, collation_name FROM information_schema.columns "
                 "WHERE table_schema = 'guardlist' AND collation_name <> 'utf8mb4_bin' AND (%s) "
                 "ORDER BY 1, 2" % ' OR '.join("(table_name = '%s' AND column_name IN (%s))"
                                             % (t, ', '.join("'%s'" % c for c in cols))
                                             for t, cols in KEYCOLS.items())), [],
          'version 5: every key column is utf8mb4_bin')
    h.is_(db.value(lookalike), '0', 'version 5: \u00e4nna@ is not protected (anna@ is another key)')
    after = h.snapshot(db, tables=[t for t in before if t not in ('schema_version', 'audit_log')])
    h.is_(after, {t: v for t, v in before.items() if t not in ('schema_version', 'audit_log')},
          'version 5: every row kept, nothing merged or dropped')
    warnings = [line for line in err.splitlines() if line.startswith('guardlist: warning: ')]
    for words, desc in (
            (('guardian other@family.test', '\u00e4nna@school.test', "'anna@school.test'"),
             "the guardian row of \u00e4nna@ that hung on anna@"),
            (('rule pal@example.com', '\u00e4nna@school.test', "'anna@school.test'"),
             "the rule of \u00e4nna@ that hung on anna@"),
            (("'Zed@Family.Test'", "'zed@family.test'"), 'the key typed in mixed case'),
            (("'strasse@'", "'stra\u00dfe@'", 'one key'), 'strasse@ and stra\u00dfe@, one key once folded')):
        h.ok(any(all(w in line for w in words) for line in warnings),
             'db migrate reports %s' % desc, *warnings)
    h.ok(len(warnings) == 6 and 'nothing was merged or dropped' in warnings[-1],
         'db migrate: five findings (stra\u00dfe@ twice: not folded, and one key with strasse@) '
         'and a summary line, nothing else', *warnings)
    rc, out, err = h.cli(cfg, 'db', 'migrate')
    h.ok(rc == 0 and 'up to date' in out and err.count('warning') == 6,
         'db migrate again: up to date, the same rows still reported until a person fixes them', out, err)
    db.sql("DELETE FROM guardians WHERE recipient = '\u00e4nna@school.test'")
    db.sql("DELETE FROM sender_rules WHERE recipient = '\u00e4nna@school.test'")
    db.sql("DELETE FROM protected_users WHERE recipient IN ('Zed@Family.Test', 'stra\u00dfe@')")
    rc, out, err = h.cli(cfg, 'db', 'migrate')
    h.is_((rc, err), (0, ''), 'once fixed by hand, db migrate reports nothing')

    # A version 9 database: no accounts table (guardlist account, version 10).
    db.sql('DROP TABLE accounts')
    db.sql('DELETE FROM schema_version WHERE version >= 10')
    snap = h.snapshot(db, tables=['protected_users', 'whitelist', 'guardians', 'sender_rules', 'challenges'])
    rc, out, err = h.cli(cfg, 'db', 'migrate')
    h.is_(rc, 0, 'db migrate from version 9: exit 0') or h.diag(err)
    h.ok('db init' in out and 'accounts' in out, 'db migrate from version 9 says to run db init for the grants', out)
    h.is_(db.value('SELECT MAX(version) FROM schema_version'), current, 'schema_version is current')
    gen = db.value('SELECT generation FROM rule_generation WHERE id = 1')
    db.sql("INSERT INTO accounts (login, address) VALUES ('kid', 'kid@family.test')")
    h.is_(int(db.value('SELECT generation FROM rule_generation WHERE id = 1')), int(gen) + 1,
          'version 10: the accounts table, whose insert bumps the rule generation (its trigger)')
    h.is_(h.snapshot(db, tables=list(snap)), snap, 'version 10: every row kept')

    # A schema newer than this program: refused, nothing changed.
    db.sql('INSERT INTO schema_version (version) VALUES (999)')
    snap = h.snapshot(db)
    rc, out, err = h.cli(cfg, 'db', 'migrate')
    h.is_(rc, 1, 'db migrate on a newer schema: exit 1')
    h.ok('newer' in err, 'the message says the schema is newer', err)
    h.is_(h.snapshot(db), snap, 'nothing changed')
    rc, out, err = h.cli(cfg, 'db', 'status')
    h.ok('newer than this guardlist' in out, 'db status says the schema is newer', out)
    db.stop()


h.run(main)
