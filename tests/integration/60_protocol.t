#!/usr/bin/python3
"""Hostile and unusual input on the policy socket: an over-long line and a
request without request= close the connection without a reply, and the
daemon answers a fresh connection after each; requests split into single
bytes or pipelined two in one write are answered correctly; network text
reaches the log only in printable form."""
import os
import socket
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

VAGUE = 'vague@imprecise.info'
GRANDMA = 'grandma@example.com'


def still_answers(port, what):
    try:
        got = h.query(port, sender=GRANDMA, recipient=VAGUE)
    except Exception as e:   # noqa: B902
        got = 'error: %s' % e
    h.is_(got, 'DUNNO', 'after %s: a fresh connection is answered' % what)


def closed_without_reply(port, data, desc):
    got, closed = h.raw_exchange(port, data)
    h.ok(closed and got == b'', desc,
         'received %r, connection %s' % (got[:200], 'closed' if closed else 'still open after %ds' % h.SOCK_TIMEOUT))


def main():
    db = h.start_db(
        "INSERT INTO protected_users (recipient, class) VALUES ('vague@imprecise.info','whitelist')",
        "INSERT INTO whitelist (sender, action) VALUES ('grandma@example.com','OK')",
    )
    d = h.start_daemon(db)
    port = d.port
    still_answers(port, 'start-up')

    long_line = b'sender=' + b'a' * (3000 - len('sender=') - len('@example.com')) + b'@example.com\n'
    assert len(long_line) == 3001       # 3000 bytes and the newline
    closed_without_reply(port, b'request=smtpd_access_policy\nprotocol_state=RCPT\n' + long_line +
                         b'recipient=vague@imprecise.info\n\n',
                         'a 3000-byte line: connection closed without a reply')
    still_answers(port, 'the 3000-byte line')

    # The same over-long line with no newline at all (the server must not wait for one).
    closed_without_reply(port, b'request=smtpd_access_policy\nsender=' + b'b' * 3000,
                         'a 3000-byte line without a newline: connection closed without a reply')
    still_answers(port, 'the unterminated 3000-byte line')

    closed_without_reply(port, h.request_bytes(request=None, sender=GRANDMA, recipient=VAGUE),
                         'a request without request=: connection closed without a reply')
    still_answers(port, 'the request without request=')

    closed_without_reply(port, b'request=smtpd_access_policy\nprotocol_state=RCPT\nthis line has no equals sign\n'
                         b'sender=grandma@example.com\nrecipient=vague@imprecise.info\n\n',
                         'a line without "=": connection closed without a reply')
    still_answers(port, 'the line without "="')

    # More attributes than the 64 the daemon keeps: a clear error or a closed
    # connection, never a permit.
    many = ''.join('x_attr%d=%d\n' % (k, k) for k in range(200))
    data = ('request=smtpd_access_policy\nprotocol_state=RCPT\nsender=stranger@example.net\n'
            'recipient=vague@imprecise.info\n' + many + '\n').encode()
    got, closed = h.raw_exchange(port, data)
    h.diag('200 attributes: received %r, %s' % (got[:120], 'closed' if closed else 'open'))
    h.ok(got not in (b'action=DUNNO\n\n', b'action=OK\n\n'), '200 attributes: not answered with a permit',
         'received %r' % got[:200])
    still_answers(port, '200 attributes')

    # A NUL byte inside a value.
    got, closed = h.raw_exchange(port, b'request=smtpd_access_policy\nprotocol_state=RCPT\n'
                                 b'sender=grandma@example.com\x00evil@example.net\n'
                                 b'recipient=vague@imprecise.info\n\n')
    h.diag('NUL in sender: received %r, %s' % (got[:120], 'closed' if closed else 'open'))
    h.ok(got not in (b'action=DUNNO\n\n', b'action=OK\n\n'), 'a NUL byte in the sender is never a permit',
         'received %r' % got[:200])
    still_answers(port, 'a NUL byte')

    # A client that goes away mid-request.
    s = socket.create_connection(('127.0.0.1', port), timeout=h.SOCK_TIMEOUT)
    s.sendall(b'request=smtpd_access_policy\nprotocol_state=RCPT\nsender=gra')
    s.close()
    still_answers(port, 'a client that hung up mid-request')

    # A request dribbled one byte at a time.
    data = h.request_bytes(sender=GRANDMA, recipient=VAGUE)
    with h.PolicyConnection(port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for k in range(len(data)):
            c.send_raw(data[k:k + 1])
            time.sleep(0.001)       # shaping the input, not synchronising
        h.is_(c.read_reply(), 'DUNNO', 'a request sent one byte at a time is answered')
        h.defer_ok(c.request(sender='stranger@example.net', recipient=VAGUE),
                   'the same connection answers a second request')

    # Two requests in one write: two replies, in order.
    with h.PolicyConnection(port) as c:
        c.send_raw(h.request_bytes(sender='stranger2@example.net', recipient=VAGUE) +
                   h.request_bytes(sender=GRANDMA, recipient=VAGUE))
        first, second = c.read_reply(), c.read_reply()
        h.ok(h.is_defer(first) and second == 'DUNNO', 'two pipelined requests: two replies in order',
             'got %r then %r' % (first, second))

    # Postfix's real attribute set (3.7 sends all of these) is accepted.
    full = dict(sender=GRANDMA, recipient=VAGUE, client_address='192.0.2.1', client_name='mx.example.com',
                reverse_client_name='mx.example.com', helo_name='mx.example.com', queue_id='',
                instance='123.456.7', size='0', etrn_domain='', stress='', sasl_method='',
                sasl_username='', sasl_sender='', ccert_subject='', ccert_issuer='',
                ccert_fingerprint='', ccert_pubkey_fingerprint='', encryption_protocol='',
                encryption_cipher='', encryption_keysize='0', recipient_count='0',
                client_port='54321', policy_context='', server_address='127.0.0.1',
                server_port='25', compatibility_level='3.6', mail_version='3.7.11')
    h.is_(h.query(port, **full), 'DUNNO', "a request with Postfix 3.7's full attribute set is answered")

    # Control characters from the network never reach the log raw.
    got = h.query(port, sender='evil\x1b[31m@example.net', recipient=VAGUE,
                  helo_name='bad\x1b]0;title\x07helo')
    h.diag('sender with ESC: answered %r' % got)
    h.ok(got not in ('DUNNO', 'OK'), 'a sender with control characters is never a permit', 'got %r' % got)
    log = d.log()
    h.ok('\x1b' not in log and '\x07' not in log, 'the log holds no raw control characters from the network',
         'log tail: %r' % log[-500:])
    h.ok(d.running(), 'guardlistd is still running')
    d.stop()
    db.stop()


h.run(main, timeout=180)
