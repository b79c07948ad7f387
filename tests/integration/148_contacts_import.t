#!/usr/bin/python3
"""guardlist contacts import (issue 21): a child's vCard and a Google/Outlook
CSV address book become approved contacts: per-recipient OK rules written as
`guardlist allow --to` writes them, one rule-set audit row each with the
--actor, and a contacts-import summary row; `guardlist check` then allows the
contact to the child.  Already-allowed addresses are counted, blocked ones
left alone, duplicates counted once, invalid ones reported with their line.
The dry run writes nothing; the whole file is one transaction (a database
error injected at the third contact writes none of them).  Hostile files (over 5 MB, NUL, not UTF-8, an
unclosed quote, an unprotected child) are refused whole: exit 2, nothing
written.  A vCard cut short keeps its complete cards only."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

KID = 'kid@c.example'

VCARD = (
    'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Pal One\r\nEMAIL;TYPE=INTERNET,HOME:Pal1@Friends.Example\r\n'
    'item1.EMAIL;TYPE=INTERNET:pal1.work@friends.example\r\nitem1.X-ABLabel:work\r\nEND:VCARD\r\n'
    'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Grandma\r\nEMAIL:grand\r\n ma@home.example\r\n'
    'PHOTO;ENCODING=b:' + 'QUFB' * 500 + '\r\nEND:VCARD\r\n'
    'BEGIN:VCARD\r\nVERSION:2.1\r\nEMAIL;INTERNET:bully@bad.example\r\nEMAIL:not an address\r\n'
    'EMAIL:pal1@friends.example\r\nEND:VCARD\r\n')

GOOGLE_CSV = (
    'Name,Given Name,Notes,E-mail 1 - Type,E-mail 1 - Value,E-mail 2 - Type,E-mail 2 - Value\n'
    'Cousin,Cousin,"likes ""games"", chess\nand football",* Home,cousin@family.example ::: '
    'cousin2@family.example,,\n'
    'Teacher,Teacher,,Work,teacher@school.example,,grandma@home.example\n')

OUTLOOK_CSV = (
    '"First Name","Last Name","E-mail Address","E-mail Display Name","E-mail 2 Address"\r\n'
    '"Coach","Smith, Jr.","coach@club.example","Coach (coach@club.example)",""\r\n')


def write(d, name, data):
    path = os.path.join(d, name)
    with open(path, 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return path


def rules(db):
    return set(tuple(r) for r in db.sql("SELECT sender, action, created_by FROM sender_rules WHERE recipient = '%s'"
                                         % KID))


def main():
    db = h.start_db()
    cfg = h.cli_config(db)
    d = h.tmpdir()
    cli = lambda *a, actor='importer': h.cli(cfg, *a, actor=actor)  # noqa: E731

    rc, out, err = cli('protect', KID, '--guardian', 'mom@home.example')
    h.is_(rc, 0, 'protect the child') or h.diag(err)
    rc, out, err = cli('block', 'bully@bad.example', '--to', KID)
    h.is_(rc, 0, 'the guardian blocked bully@') or h.diag(err)
    rc, out, err = cli('allow', 'teacher@school.example', '--to', KID)
    h.is_(rc, 0, 'teacher@ is allowed already') or h.diag(err)
    vcf = write(d, 'kid.vcf', VCARD)

    # ---- usage and refusals: exit 2, nothing written
    def refused(desc, args, words):
        before = h.snapshot(db)
        rc, out, err = cli(*args)
        h.is_(rc, 2, desc + ': exit 2') or h.diag('stdout: ' + out, 'stderr: ' + err)
        h.ok(err.startswith('guardlist: error: ') and any(w in err for w in words),
             desc + ': the message says why (%s)' % ', '.join(words), 'stderr: %r' % err)
        h.ok(h.snapshot(db) == before, desc + ': nothing written')

    refused('no --child', ['contacts', 'import', vcf], ['--child'])
    refused('an unprotected child', ['contacts', 'import', '--child', 'other@c.example', vcf], ['not protected'])
    refused('a domain as child', ['contacts', 'import', '--child', 'c.example', vcf], ['full address'])
    refused('--format other', ['contacts', 'import', '--child', KID, '--format', 'ldif', vcf], ['vcard or csv'])
    refused('a missing file', ['contacts', 'import', '--child', KID, os.path.join(d, 'none.vcf')], ['No such file'])
    big = write(d, 'big.csv', b'Email\n' + b'a@x.example\n' * (5 * 1024 * 1024 // 12 + 10))
    refused('a file over 5 MB', ['contacts', 'import', '--child', KID, big], ['larger than 5 MB'])
    many = write(d, 'many.csv', ''.join('u%d@x.example\n' % i for i in range(5001)))
    refused('more than 5000 addresses', ['contacts', 'import', '--child', KID, many], ['more than 5000'])
    nul = write(d, 'nul.vcf', b'BEGIN:VCARD\nEMAIL:a@x.example\nEND:VCARD\nBEGIN:VCARD\nEMAIL:b\0@x.example\n')
    refused('a NUL byte', ['contacts', 'import', '--child', KID, nul], ['line 5', 'NUL'])
    latin1 = write(d, 'latin1.csv', 'Name,E-mail Address\nJos\xe9,jose@x.example\n'.encode('latin-1'))
    refused('bytes that are not UTF-8', ['contacts', 'import', '--child', KID, latin1], ['line 2: not UTF-8'])
    utf16 = write(d, 'utf16.csv', 'E-mail Address\r\npal@x.example\r\n'.encode('utf-16'))
    refused('a UTF-16 export', ['contacts', 'import', '--child', KID, utf16], ['NUL'])
    unclosed = write(d, 'unclosed.csv', 'Name,Email\n"Pal,pal@x.example\n')
    refused('a quote never closed', ['contacts', 'import', '--child', KID, unclosed], ['never closed'])
    nocol = write(d, 'nocol.csv', 'Name,Phone\nPal,123\n')
    refused('a CSV without an e-mail column', ['contacts', 'import', '--child', KID, nocol], ['no e-mail column'])

    # ---- the dry run
    before = h.snapshot(db)
    rc, out, err = cli('contacts', 'import', '--child', KID, '--dry-run', vcf)
    h.is_(rc, 0, 'dry run: exit 0') or h.diag(err)
    h.ok('dry run: 3 contacts would be added, 0 already contacts, 1 blocked (left alone), 1 invalid (line 18'
         in out and 'nothing written' in out, 'dry run: the summary says what it would do', out)
    h.ok('would add' in out and 'grandma@home.example' in out, 'dry run: lists the contacts it would add', out)
    h.ok(h.snapshot(db) == before, 'dry run: nothing written (no rule, no audit row)')

    # ---- the vCard
    last = int(db.value('SELECT COALESCE(MAX(id), 0) FROM audit_log'))
    rc, out, err = cli('contacts', 'import', '--child', KID, vcf)
    h.is_(rc, 0, 'vCard import: exit 0') or h.diag(err)
    h.ok('3 contacts added, 0 already contacts, 1 blocked (left alone), 1 invalid (line 18' in out,
         'vCard import: the summary', out)
    h.ok('1 duplicate counted once' in out, 'vCard import: pal1@ twice is one contact', out)
    h.is_(rules(db), {('pal1@friends.example', 'OK', 'importer'), ('pal1.work@friends.example', 'OK', 'importer'),
                      ('grandma@home.example', 'OK', 'importer'), ('bully@bad.example', 'REJECT', 'importer'),
                      ('teacher@school.example', 'OK', 'importer')},
          'vCard import: one OK rule a contact, the block left alone')
    audit = db.sql('SELECT actor, action, detail FROM audit_log WHERE id > %d ORDER BY id' % last)
    h.is_([a[:2] for a in audit], [['importer', 'rule-set']] * 3 + [['importer', 'contacts-import']],
          'vCard import: one rule-set audit row a contact and a summary row, actor from --actor')
    h.ok(audit and 'child=kid@c.example added=3 already=0 blocked=1 invalid=1' in audit[-1][2],
         'vCard import: the summary row says what was done', repr(audit[-1:]))
    rc, out, err = cli('check', 'grandma@home.example', KID)
    h.ok(rc == 0 and 'decision:    rule' in out and ('policy reply: DUNNO' in out or 'policy reply: OK' in out),
         'guardlist check: the imported contact may write to the child', out + err)
    rc, out, err = cli('check', 'bully@bad.example', KID)
    h.ok('REJECT' in out, 'guardlist check: the blocked address is still refused', out)

    # ---- Google and Outlook CSV
    g = write(d, 'google.csv', GOOGLE_CSV)
    rc, out, err = cli('contacts', 'import', '--child', KID, g)
    h.is_(rc, 0, 'Google CSV: exit 0') or h.diag(err)
    h.ok('2 contacts added, 2 already contacts, 0 blocked (left alone), 0 invalid' in out,
         'Google CSV: cousin@ and cousin2@ added, teacher@ and grandma@ already contacts', out)
    o = write(d, 'outlook.csv', OUTLOOK_CSV)
    rc, out, err = cli('contacts', 'import', '--child', KID, '--format', 'csv', o)
    h.is_(rc, 0, 'Outlook CSV: exit 0') or h.diag(err)
    h.ok('1 contact added' in out, 'Outlook CSV: coach@ added (not the display name column)', out)
    h.ok({'cousin@family.example', 'cousin2@family.example', 'coach@club.example'}
         <= set(r[0] for r in rules(db)), 'CSV imports: the rules are there')
    rc, out, err = cli('contacts', 'import', '--child', KID, g)
    h.ok(rc == 0 and '0 contacts added, 4 already contacts' in out, 'importing again adds nothing', out)

    # ---- a vCard cut short: the complete cards only
    cut = write(d, 'cut.vcf', 'BEGIN:VCARD\nEMAIL:whole@x.example\nEND:VCARD\nBEGIN:VCARD\nEMAIL:half@x.exa')
    rc, out, err = cli('contacts', 'import', '--child', KID, cut)
    h.is_(rc, 0, 'cut vCard: exit 0') or h.diag(err)
    h.ok('1 contact added' in out and '1 invalid (line 5: the card begun at line 4 has no END:VCARD' in out,
         'cut vCard: the complete card is imported, the cut one reported', out)
    senders = set(r[0] for r in rules(db))
    h.ok('whole@x.example' in senders and not any(s.startswith('half@') for s in senders),
         'cut vCard: half@ not written')

    # ---- one transaction: a row that fails midway (a database error
    # injected by a trigger on the third contact) writes nothing at all
    db.sql("CREATE TRIGGER fail_third BEFORE INSERT ON sender_rules FOR EACH ROW "
           "SET NEW.action = IF(NEW.sender = 'third@tx.example', NULL, NEW.action)")
    tx = write(d, 'tx.csv', 'Email\nfirst@tx.example\nsecond@tx.example\nthird@tx.example\nfourth@tx.example\n')
    before = h.snapshot(db)
    rc, out, err = cli('contacts', 'import', '--child', KID, tx)
    h.is_(rc, 1, 'a database error at the third contact: exit 1') or h.diag(out, err)
    h.ok('nothing was imported' in err and 'cannot be null' in err.lower(),
         '... the message says the database refused and nothing was imported', err)
    h.ok(h.snapshot(db) == before, '... nothing written: not first@ or second@, no audit row')
    db.sql('DROP TRIGGER fail_third')
    rc, out, err = cli('contacts', 'import', '--child', KID, tx)
    h.ok(rc == 0 and '4 contacts added' in out, 'without the fault the same file imports whole', out + err)
    db.stop()


h.run(main, timeout=300)
