"""minismtp.py - a small scriptable SMTP server on 127.0.0.1 (socketserver,
standard library only) for the notifier tests: it can refuse one recipient
with a 5xx or 4xx, never greet, answer slowly, or drop the connection after
the message.  Used by tests/integration/102_notify_faults.t and
106_notify_batches.t:

    from minismtp import MiniSmtp
    srv = MiniSmtp()                      # listening on srv.port
    srv.rules['bad@home.test'] = '450 4.2.0 busy'
    ... srv.take() ...                    # [(mail from, [rcpts], data bytes)]
    srv.stop()
"""
import socketserver
import threading
import time

import harness as h


class MiniSmtp:
    """A small SMTP server on 127.0.0.1.  rules maps a lower-cased RCPT
    address to the whole reply line for it (e.g. '550 5.1.1 ...'); mode is
    None, 'silent' (accepts connections, never greets) or 'drop' (closes the
    connection after the message's final dot, without a reply).  messages:
    [(mail from, [rcpts], data bytes)] accepted with 250; dropped: the same
    for messages read but never acknowledged."""

    def __init__(self):
        self.port = h.free_port()
        self.rules = {}
        self.mode = None
        self.greet_delay = 0.0    # seconds before the 220 greeting
        self.dot_delay = 0.0      # seconds before the reply to the final dot
        self.before_250 = None    # called after the final dot, before the 250
        self.messages = []
        self.dropped = []
        self.sessions = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 120

            def reply(self, line):
                self.wfile.write(line.encode() + b'\r\n')
                self.wfile.flush()

            def handle(self):
                with outer.lock:
                    outer.sessions += 1
                    mode = outer.mode
                if mode == 'silent':
                    while self.rfile.readline():
                        pass
                    return
                if outer.greet_delay:
                    time.sleep(outer.greet_delay)
                self.reply('220 mini.test ESMTP')
                mail, rcpts = None, []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode('utf-8', 'replace').rstrip('\r\n')
                    verb = cmd.split(' ', 1)[0].upper()
                    if verb == 'EHLO':
                        self.reply('250-mini.test')
                        self.reply('250 8BITMIME')
                    elif verb == 'HELO':
                        self.reply('250 mini.test')
                    elif verb == 'MAIL':
                        mail, rcpts = cmd[10:].strip(), []
                        self.reply('250 2.1.0 Ok')
                    elif verb == 'RCPT':
                        addr = cmd[8:].strip().strip('<>').lower()
                        with outer.lock:
                            rule = outer.rules.get(addr)
                        if rule:
                            self.reply(rule)
                        else:
                            rcpts.append(addr)
                            self.reply('250 2.1.5 Ok')
                    elif verb == 'DATA':
                        if not rcpts:
                            self.reply('554 5.5.1 No valid recipients')
                            continue
                        self.reply('354 End data with <CR><LF>.<CR><LF>')
                        data = []
                        while True:
                            ln = self.rfile.readline()
                            if not ln:
                                return
                            if ln in (b'.\r\n', b'.\n'):
                                break
                            data.append(ln[1:] if ln.startswith(b'..') else ln)
                        entry = (mail, list(rcpts), b''.join(data))
                        if outer.dot_delay:
                            time.sleep(outer.dot_delay)     # a content filter at work
                        if outer.before_250:
                            outer.before_250()
                        with outer.lock:
                            drop = outer.mode == 'drop'
                            (outer.dropped if drop else outer.messages).append(entry)
                        if drop:
                            return
                        self.reply('250 2.0.0 Ok: queued')
                        mail, rcpts = None, []
                    elif verb == 'RSET':
                        mail, rcpts = None, []
                        self.reply('250 2.0.0 Ok')
                    elif verb == 'NOOP':
                        self.reply('250 2.0.0 Ok')
                    elif verb == 'QUIT':
                        self.reply('221 2.0.0 Bye')
                        return
                    else:
                        self.reply('502 5.5.2 Error: command not recognized')

        self.server, self.thread = h.serve_tcp(self.port, Handler)

    def take(self):
        """The accepted messages so far (and forgets them)."""
        with self.lock:
            out, self.messages = self.messages, []
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
