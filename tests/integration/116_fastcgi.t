#!/usr/bin/python3
"""guardlist-approve and guardlist-web as persistent FastCGI processes under a
real lighttpd (mod_fastcgi, "bin-path": lighttpd spawns them), with a real
MariaDB.  The programs are $GUARDLIST_APPROVE and $GUARDLIST_WEB (the ASan
builds in make check's second pass), else bin/.

Each page runs as one FastCGI process, so every request of a sequence
reaches the process that answered the one before.  Checked: the process
stays (same pid over many requests: FastCGI, not a CGI); a burst of 200
concurrent mixed requests is answered right (shows, refusals, decisions,
each decision written once); nothing of one request is seen in the next (a
guardian's link then no token, a malformed and an unknown one; a POST's
token not used by a POST without one; HEAD then GET; an admin's login, role
and search text not seen by a guardian or by a request without login); the
database connection killed between requests (the next request is right)
and the database restarted (a clean 503 with every header while it is
down, then right again, same process); SIGTERM ends a process between
requests and lighttpd starts another; a process's memory does not grow
over 400 more requests; the approval page under spawn-fcgi, as nginx uses
it (etc/systemd/guardlist-fcgi@.service), answers through lighttpd's
"socket" and exits 0 on SIGTERM; no sanitizer report in lighttpd's error log (where the
processes' stderr goes), the leak check at their exit included."""
import base64
import concurrent.futures
import os
import re
import secrets
import signal
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

KID = 'kid@family.test'
GUARDIAN = 'parent@family.test'
USERS = {'admin': 'admin-pw-1', GUARDIAN: 'parent-pw-2'}
FORM = 'application/x-www-form-urlencoded'
HEADERS = ('Content-Security-Policy', 'X-Frame-Options', 'Cache-Control', 'Referrer-Policy')
BURST = 200
BURST_THREADS = 16
RECOVER_TIMEOUT = 20.0      # the database client's backoff reaches 5 s
EXIT_TIMEOUT = 10.0
RSS_GROWTH_KB = 1024        # 2.5 kB a request: a leak of every request's page or form shows


def main():
    db = h.start_db()
    admin_cli = h.cli_config(db)
    secrets_dir = web.init_accounts(db)
    rc, out, err = h.cli(admin_cli, 'protect', KID, '--guardian', GUARDIAN)
    h.is_(rc, 0, 'guardlist protect %s' % KID) or h.diag(out, err)

    aconf = web.approver_config(db, secrets_dir)
    app = web.Lighttpd(web.approve_binary(), {'GUARDLIST_CONFIG': aconf}, fastcgi=1)
    app.start()
    wconf = web.web_config(db, secrets_dir, admins='admin')
    adm = web.Lighttpd(web.web_binary(), {'GUARDLIST_CONFIG': wconf}, url_path='/admin', users=USERS, fastcgi=1)
    adm.start()
    h.diag('under test: %s and %s as FastCGI (lighttpd ports %d, %d)'
           % (web.approve_binary(), web.web_binary(), app.port, adm.port))

    # ------------------------------------------------------------ helpers

    def sql_challenge(sender):
        db.sql("INSERT INTO challenges (sender, recipient, protected_key, client_address, client_name, attempts) "
               "VALUES (%s, %s, %s, '192.0.2.66', 'mx.example', 1)" % (h.sql_str(sender), h.sql_str(KID), h.sql_str(KID)))
        return h.challenges(db, sender=sender, recipient=KID)[0]['id']

    def give_token(cid):
        tok = secrets.token_hex(16)
        db.sql("INSERT INTO notifications (challenge_id, guardian, kind, message_id, token_sha256, token_expires_at) "
               "VALUES (%s, %s, 'single', '<%s@test>', UNHEX(SHA2('%s', 256)), NOW() + INTERVAL 7 DAY)"
               % (cid, h.sql_str(GUARDIAN), tok, tok))
        return tok

    def link(sender):
        cid = sql_challenge(sender)
        return cid, give_token(cid)

    def status_of(cid):
        return db.value('SELECT status FROM challenges WHERE id = %s' % cid)

    def get(query=None, method='GET'):
        return app.request(method, '/approve' + ('?' + query if query is not None else ''))

    def post(body):
        return app.request('POST', '/approve', body=body, headers={'Content-Type': FORM})

    def auth(user):
        return 'Basic ' + base64.b64encode(('%s:%s' % (user, USERS[user])).encode()).decode()

    def wget(query='', user='admin', path='/admin'):
        hd = {'Authorization': auth(user)} if user else {}
        return adm.request('GET', path + ('?' + query if query else ''), headers=hd)

    def headers_ok(r):
        return all(r.header(n) for n in HEADERS)

    def one_pid(www, what):
        good, pids, _ = h.poll_until(www.fastcgi_pids, lambda p: len(p) == 1, EXIT_TIMEOUT)
        h.ok(good, '%s: lighttpd runs one FastCGI process' % what, 'pids: %r' % (pids,), www.log(1500))
        return pids[0] if pids else None

    def gone(pid):
        return not os.path.exists('/proc/%d' % pid)

    # ------------------------------------------------------------ persistent

    cid_a, tok_a = link('alice@sender.test')
    apid = one_pid(app, 'approval page')
    for i in range(20):
        r = get('t=' + tok_a)
        if r.status != 200 or 'alice@sender.test' not in r.text:
            break
    h.ok(r.status == 200 and 'alice@sender.test' in r.text and headers_ok(r),
         'approval page: 20 GETs of a link show its sender, with every header', r, r.text[:800], app.log(1500))
    h.is_(app.fastcgi_pids(), [apid], 'approval page: the same process answered them all (FastCGI, not a CGI)')
    wpid = one_pid(adm, 'admin page')

    # ------------------------------------------------------------ no leaks, approval page

    r1 = get('t=' + tok_a)
    r2 = get(None)
    h.ok(r1.status == 200 and r2.status == 400 and 'alice@sender.test' not in r2.text and tok_a not in r2.text,
         'a link, then no token: 400, nothing of the link on the page', r1, r2, r2.text[:800])
    get('t=' + tok_a)
    r = get('t=zz' + tok_a[2:])
    h.ok(r.status == 400 and 'alice@sender.test' not in r.text and tok_a[2:] not in r.text,
         'a link, then a malformed one: 400, nothing of the first', r, r.text[:800])
    get('t=' + tok_a)
    unknown = secrets.token_hex(16)
    r = get('t=' + unknown)
    h.ok(r.status == 404 and 'alice@sender.test' not in r.text and tok_a not in r.text,
         'a link, then an unknown one: 404, nothing of the first', r, r.text[:800])
    r = get('t=' + tok_a, method='HEAD')
    r2 = get('t=' + tok_a)
    h.ok(r.status == 200 and r.body == b'' and r2.status == 200 and 'alice@sender.test' in r2.text,
         'HEAD then GET: the GET has its page (HEAD is not kept)', r, r2)

    r1 = post('t=%s&choice=maybe' % tok_a)
    r2 = post('choice=allow')
    h.ok(r1.status == 400 and r2.status == 400 and status_of(cid_a) == 'pending',
         "a POST's token is not used by the next POST without one: 400, the challenge still pending",
         r1, r2, r2.text[:800], 'status: %s' % status_of(cid_a))
    r2 = post('')
    h.ok(r2.status == 400 and status_of(cid_a) == 'pending', 'then an empty POST: 400, nothing decided', r2)

    # ------------------------------------------------------------ burst

    shows = [link('show%d@burst.test' % i) for i in range(4)]
    decides = [link('dec%d@burst.test' % i) for i in range(40)]
    jobs = []
    for i in range(BURST):
        k = i % 5
        if k == 0 and decides:
            cid, tok = decides.pop()
            choice = ('allow', 'block')[i % 2]
            jobs.append(('post', cid, tok, choice))
        elif k in (0, 1, 2):
            cid, tok = shows[i % len(shows)]
            jobs.append(('show', cid, tok, None))
        elif k == 3:
            jobs.append(('bad', None, 'x' * 31 + str(i % 10), None))
        else:
            jobs.append(('unknown', None, secrets.token_hex(16), None))

    def one(job):
        kind, cid, tok, choice = job
        if kind == 'post':
            r = post('t=%s&choice=%s' % (tok, choice))
            return r.status == 200 and ('Done' in r.text) and headers_ok(r)
        r = get('t=' + tok)
        if kind == 'show':
            return r.status == 200 and headers_ok(r) and tok in r.text and '@burst.test' in r.text
        return r.status == (400 if kind == 'bad' else 404) and headers_ok(r) and '@burst.test' not in r.text

    with concurrent.futures.ThreadPoolExecutor(BURST_THREADS) as ex:
        results = list(ex.map(lambda j: (j, one(j)), jobs))
    wrong = [j for j, good in results if not good]
    h.ok(not wrong, 'a burst of %d concurrent mixed requests (%d threads): every answer right' % (BURST, BURST_THREADS),
         'wrong: %r' % wrong[:10], app.log(2000))
    posted = [(cid, choice) for kind, cid, tok, choice in jobs if kind == 'post']
    want = {'allow': 'approved', 'block': 'denied'}
    bad = [(cid, choice, status_of(cid)) for cid, choice in posted if status_of(cid) != want[choice]]
    audits = db.value("SELECT COUNT(*) FROM audit_log WHERE actor = %s" % h.sql_str('approval-link:' + GUARDIAN))
    h.ok(not bad and int(audits) == len(posted), 'the burst: each of its %d decisions written once' % len(posted),
         'wrong: %r' % bad, 'audit rows: %s' % audits)
    h.is_(app.fastcgi_pids(), [apid], 'the burst: still the same process')

    # ------------------------------------------------------------ no leaks, admin page

    r1 = wget('p=search&q=secretword42', user='admin')
    r2 = wget('p=protected', user=GUARDIAN)
    h.ok(r1.status == 200 and '(admin)' in r1.text and r2.status == 200 and '(guardian)' in r2.text
         and 'secretword42' not in r2.text and 'p=global' not in r2.text,
         "admin page: an admin's search, then a guardian: the guardian's role and page, no search text",
         r1, r2, r2.text[:1500])
    m1 = re.search(r'name="csrf" value="([^"]+)"', wget('p=rules', user='admin').text)
    m2 = re.search(r'name="csrf" value="([^"]+)"', wget('p=rules', user=GUARDIAN).text)
    h.ok(m1 and m2 and m1.group(1) != m2.group(1), 'admin page: each request makes its own form token')
    if m1:
        body = urllib.parse.urlencode({'do': 'protect', 'key': 'leak@family.test', 'p': 'protected',
                                       'csrf': m1.group(1)})
        r = adm.request('POST', '/admin', body=body, headers={'Authorization': auth(GUARDIAN), 'Content-Type': FORM})
        h.ok(r.status == 403 and db.value("SELECT COUNT(*) FROM protected_users WHERE recipient = 'leak@family.test'")
             == '0', "admin page: the admin's form token, posted by the guardian next: 403, nothing changed", r)
    wget('p=global', user='admin')
    r = wget('p=global', user=None, path='/open')
    h.ok(r.status == 403 and '(admin)' not in r.text and 'Login required' in r.text,
         'admin page: an admin, then a request without login to the same process: 403, no login kept',
         r, r.text[:1000])
    h.is_(adm.fastcgi_pids(), [wpid], 'admin page: the same process answered them all')

    # ------------------------------------------------------------ database connection loss

    def kill_sessions(user):
        ids = db.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '%s'" % user, db=None)
        for (i,) in ids:
            try:
                db.sql('KILL %s' % i, db=None)
            except RuntimeError:
                pass
        return len(ids)

    get('t=' + tok_a)
    n = kill_sessions('guardlist_approver')
    r = get('t=' + tok_a)
    h.ok(n >= 1 and r.status == 200 and 'alice@sender.test' in r.text,
         "approval page: its database session killed between requests: the next request is right",
         'sessions killed: %d' % n, r, app.log(1500))
    wget('p=protected')
    n = kill_sessions('guardlist_web')
    r = wget('p=protected')
    h.ok(n >= 1 and r.status == 200 and KID in r.text,
         "admin page: its database session killed between requests: the next request is right",
         'sessions killed: %d' % n, r, adm.log(1500))

    db.stop()
    r = get('t=' + tok_a)
    rw = wget('p=protected')
    h.ok(r.status == 503 and headers_ok(r) and '<!DOCTYPE html>' in r.text and rw.status == 503 and headers_ok(rw),
         'the database down: a clean 503 page with every header from both', r, rw, r.text[:600])
    h.ok('guardlist-approve: error:' in app.log(0) and 'guardlist-web: error:' in adm.log(0),
         "the processes' stderr is lighttpd's error log (where a sanitizer reports): the outage is there",
         app.log(800), adm.log(800))
    db.start()
    good, r, _ = h.poll_until(lambda: get('t=' + tok_a), lambda x: x.status == 200, RECOVER_TIMEOUT)
    h.ok(good and 'alice@sender.test' in r.text, 'the database back: the approval page answers right again', r)
    good, r, _ = h.poll_until(lambda: wget('p=protected'), lambda x: x.status == 200, RECOVER_TIMEOUT)
    h.ok(good and KID in r.text, 'the database back: the admin page answers right again', r)
    h.ok(app.fastcgi_pids() == [apid] and adm.fastcgi_pids() == [wpid],
         'through the outage the processes stayed', app.fastcgi_pids(), adm.fastcgi_pids())

    # ------------------------------------------------------------ SIGTERM, request bound

    os.kill(apid, signal.SIGTERM)
    good, _, _ = h.poll_until(lambda: gone(apid), bool, EXIT_TIMEOUT)
    h.ok(good, 'SIGTERM between requests: the process ends')
    good, r, _ = h.poll_until(lambda: get('t=' + tok_a), lambda x: x.status == 200, RECOVER_TIMEOUT)
    h.ok(good and apid not in app.fastcgi_pids(), 'then lighttpd starts another, which answers right',
         r, app.fastcgi_pids(), app.log(1500))

    # ------------------------------------------------------------ memory

    def rss_kb(pid):
        with open('/proc/%d/status' % pid) as f:
            return int([ln for ln in f if ln.startswith('VmRSS:')][0].split()[1])

    apid = one_pid(app, 'approval page, restarted')
    mixed = [lambda: get('t=' + tok_a), lambda: get('t=' + unknown), lambda: post('t=%s&choice=maybe' % tok_a),
             lambda: get(None)]
    for i in range(100):
        mixed[i % 4]()
    before = rss_kb(apid)
    for i in range(400):
        mixed[i % 4]()
    after = rss_kb(apid)
    h.diag('approval page VmRSS: %d kB after 100 requests, %d kB after 400 more' % (before, after))
    with open('/proc/%d/maps' % apid) as f:
        asan = 'libasan' in f.read()
    if asan:    # ASan keeps freed memory in quarantine; its leak check at exit stands in
        h.ok(True, '# SKIP the ASan build: memory growth is left to its leak check at exit')
    else:
        h.ok(after - before < RSS_GROWTH_KB, 'approval page: 400 more requests grow the process by less than %d kB'
             % RSS_GROWTH_KB, 'VmRSS %d kB -> %d kB' % (before, after))

    # ------------------------------------------------------------ spawn-fcgi, as for nginx

    sp = web.SpawnFcgi(web.approve_binary(), {'GUARDLIST_CONFIG': aconf})
    sp.start()
    front = web.Lighttpd(web.approve_binary(), fastcgi_socket=sp.socket, copy=False)
    front.start()
    r = front.request('GET', '/approve?t=' + tok_a)
    r2 = front.request('GET', '/approve')
    h.ok(r.status == 200 and 'alice@sender.test' in r.text and r2.status == 400
         and 'alice@sender.test' not in r2.text,
         'spawn-fcgi: the process answers through a server that connects to its socket', r, r2, sp.log())
    front.stop()
    rc, killed = sp.stop()
    h.ok(rc == 0 and not killed, 'spawn-fcgi: SIGTERM ends the process with exit status 0',
         'exit %r, killed %r' % (rc, killed), sp.log())
    h.is_(sp.sanitizer_report(), [], 'spawn-fcgi: no sanitizer report on its stderr') or h.diag(sp.log())

    # ------------------------------------------------------------ sanitizers, at exit too

    for www in (app, adm):
        pids = www.fastcgi_pids()
        www.stop()
        good, _, _ = h.poll_until(lambda: all(gone(p) for p in pids), bool, EXIT_TIMEOUT)
        h.ok(good, '%s: its FastCGI processes end with lighttpd' % www.url_path)
        h.is_(www.sanitizer_report(), [], '%s: no sanitizer report in the error log' % www.url_path) \
            or h.diag(www.log(4000))
    h.done()


h.run(main, timeout=240)
