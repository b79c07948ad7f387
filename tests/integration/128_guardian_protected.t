#!/usr/bin/python3
"""The guardian's own mail always arrives (issue 25).  A parent whose own
address is protected by guardlist used to receive nothing: guardlist-notify
handed the approval email to the Postfix that asks guardlistd, which
deferred guardlist's own sender and recorded a new challenge for it.

With a real Postfix (tests/lib/postfix.py) whose main smtpd asks guardlistd
and whose second smtpd (the notifier's submission port, as docs/postfix.md
and `make run` set it up) permits before any policy check:

  - `guardlist protect` and `guardian add` warn when a guardian's address is
    or becomes protected (stderr names the guardian and the key);
  - through the guarded port the email is refused again and again, and after
    3 tries the notifier logs an error naming the guardian (an admin sees it);
  - through the submission port the email lands in the protected parent's
    mailbox."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import postfix  # noqa: E402

KID = 'kid@family.test'
KID2 = 'kid2@family.test'
PARENT = 'parent@family.test'
STRANGER = 'stranger@example.net'
DELIVERY_WAIT = 15.0


def main():
    needed = (('postfix', postfix.POSTFIX), ('swaks', postfix.SWAKS))
    missing = [pkg for pkg, path in needed if not os.path.exists(path)]
    if not h.ok(not missing, 'Postfix and swaks are there', 'missing: %s (make deps)' % ', '.join(missing)):
        return
    db = h.start_db()
    admin = h.cli_config(db)
    rc, out, err = h.cli(admin, 'protect', KID, '--guardian', PARENT)
    h.ok(rc == 0 and 'warning' not in err, 'protect kid with guardian parent: no warning yet', err)
    rc, out, err = h.cli(admin, 'protect', PARENT)
    h.ok(rc == 0 and 'warning: guardian %s is protected (by %s)' % (PARENT, PARENT) in err,
         'protect parent@: warns that a guardian is now protected', err)
    rc, out, err = h.cli(admin, 'protect', KID2)
    rc, out, err = h.cli(admin, 'guardian', 'add', KID2, PARENT)
    h.ok(rc == 0 and 'warning: guardian %s is protected' % PARENT in err,
         'guardian add with a protected address: warns', err)
    rc, out, err = h.cli(admin, 'protect', 'example.org', '--guardian', 'mum@example.org')
    h.ok(rc == 0 and 'warning: guardian mum@example.org is protected (by example.org)' in err,
         'protect a domain with a guardian inside it: warns', err)

    d = h.start_daemon(db)
    pf = postfix.PrivatePostfix([
        'smtpd_recipient_restrictions = permit_mynetworks,',
        '    reject_unauth_destination,',
        '    check_policy_service inet:127.0.0.1:%d' % d.port,
        'smtpd_policy_service_default_action = 451 4.3.5 Policy service unavailable',
    ], unguarded=True)
    pf.start()
    code, text, tr = pf.rcpt(STRANGER, KID)
    h.is_(code, 450, 'stranger -> kid: 450 at RCPT') or h.diag(tr[-1500:])
    good, rows, _ = h.poll_until(lambda: h.challenges(db, sender=STRANGER, recipient=KID), lambda r: len(r) == 1, 5)
    h.ok(good, 'the challenge is recorded')

    # Through the port that asks guardlistd: guardlist defers its own email.
    guarded = h.notify_config(db, pf.port, directory=h.tmpdir())
    errs = []
    for i in range(3):
        rc, out, err = h.notify_logged(guarded, '--once')
        errs.append(err)
        # SQL: the retry backoff has passed (instead of waiting minutes)
        db.sql("UPDATE challenges SET notify_next_at = NOW() - INTERVAL 1 SECOND WHERE notify_state = 'new'")
    h.ok(any('temporary failure sending to %s' % PARENT in e for e in errs[:2]),
         'through the guarded port the first tries are temporary failures', errs[0][-1500:])
    h.ok('error: guardian %s has not been reachable for 3 tries' % PARENT in errs[2],
         'the third try logs an error naming the guardian', errs[2][-1500:])
    h.is_(pf.mailbox(PARENT), [], 'nothing reached the parent that way')

    # Through the notifier's own submission port: delivered.
    direct = h.notify_config(db, pf.unguarded_port, directory=h.tmpdir())
    rc, out, err = h.notify_logged(direct, '--once')
    h.is_(rc, 0, 'through the submission port: guardlist-notify --once exits 0') or h.diag(err[-1500:])
    good, files, secs = pf.wait_delivery(PARENT, 1, DELIVERY_WAIT)
    h.ok(good, "the approval email lands in the protected parent's mailbox (%.1f s)" % secs, pf.log()[-2000:])
    if files:
        with open(files[0], 'rb') as f:
            raw = f.read()
        h.ok(b'wants to send email to' in raw and STRANGER.encode() in raw, 'it is the approval email about the stranger')

    # guardlist doctor checks the notifier's port.
    listen = {'listen': 'inet:127.0.0.1:%d' % d.port}
    good_cfg = h.cli_config(db, directory=h.tmpdir(), notifier={'smtp_port': str(pf.unguarded_port)}, policy=listen)
    rc, out, err = h.cli(good_cfg, 'doctor', '--postfix', pf.conf)
    h.ok('guardlist-notify' not in out, 'doctor: the notifier\'s own port permits first: nothing said about it', out, err)
    bad_cfg = h.cli_config(db, directory=h.tmpdir(), notifier={'smtp_port': str(pf.port)}, policy=listen)
    rc, out, err = h.cli(bad_cfg, 'doctor', '--postfix', pf.conf)
    h.ok('guardlist-notify submits to port %d' % pf.port in out, 'doctor: a notifier on the guarded smtpd is named',
         out, err)

    h.no_notify_sanitizer_reports()
    pf.stop(check=True)
    d.stop()
    db.stop()


h.run(main, timeout=180)
