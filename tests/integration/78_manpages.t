#!/usr/bin/python3
"""The man pages: guardlist(1), guardlistd(8), guardlist-notify(8),
guardlist-approve(8) and guardlist-web(8).

  - each renders with `groff -man -Tutf8 -ww` without a single warning, and
    its source is ASCII (other characters as groff escapes), so plain groff
    shows it as man(1) does;
  - its NAME is its program, and every long option the program's --help
    lists is in the page, with --help and --version, which every program
    takes (the CGIs' --help lists none);
  - every key of the program's own configuration section (lib/config.c's
    table) is named in its page, and guardlistd(8) quotes every reply of
    lib/decide.h (REPLY_*) exactly;
  - `make install DESTDIR=TMP` puts guardlist.1 in share/man/man1 and the
    four .8 pages in share/man/man8, under /usr/local and under PREFIX=/usr.

The programs are the ones the other tests run: $GUARDLISTD, $GUARDLIST,
$GUARDLIST_NOTIFY, $GUARDLIST_APPROVE, $GUARDLIST_WEB, else bin/."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402
import web  # noqa: E402

# page (relative to the repository), its program, the config section it documents
PAGES = [
    ('admin/guardlist.1', h.cli_binary, 'admin'),
    ('daemon/guardlistd.8', h.daemon_binary, 'policy'),
    ('notifier/guardlist-notify.8', h.notify_binary, 'notifier'),
    ('approver/guardlist-approve.8', web.approve_binary, 'approver'),
    ('web/guardlist-web.8', web.web_binary, 'web'),
]
# Read by guardlistd and documented in its page (the others refer to it).
SHARED = {'daemon/guardlistd.8': ('database', 'log')}
GROFF = '/usr/bin/groff'


def render(path):
    """The page as plain text: no overstrike or colour, one long line per
    paragraph and no hyphenation, so a word is never split."""
    r = subprocess.run([GROFF, '-man', '-Tutf8', '-P-cbou', '-rLL=1000n', '-rHY=0', path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return r.stdout.decode('utf-8', 'replace')


def has_word(text, word):
    return re.search(r'(?<![\w-])' + re.escape(word) + r'(?![\w-])', text) is not None


def config_keys():
    """{section: [key, ...]} from lib/config.c's table of keys."""
    with open(os.path.join(ROOT, 'lib', 'config.c')) as f:
        src = f.read()
    keys = {}
    for sec, name in re.findall(r'\b[SIE]\("(\w+)", "(\w+)"', src) + re.findall(r'\{ "(\w+)", "(\w+)", K_', src):
        keys.setdefault(sec, []).append(name)
    for sec in re.findall(r'\bACCOUNT\("(\w+)"', src):
        keys.setdefault(sec, []).extend(['user', 'password', 'password_file'])
    return keys


def decide_replies():
    """{name: text} of the REPLY_* strings in lib/decide.h."""
    with open(os.path.join(ROOT, 'lib', 'decide.h')) as f:
        return dict(re.findall(r'^#define (REPLY_\w+) "([^"]*)"', f.read(), re.M))


def check_replies(page):
    """Every REPLY_* of lib/decide.h, word for word, in PAGE."""
    text = ' '.join(render(os.path.join(ROOT, page)).split())
    replies = decide_replies()
    missing = ['%s (%s)' % (n, t) for n, t in sorted(replies.items()) if t not in text]
    h.ok(len(replies) >= 5 and not missing, '%s: quotes every reply of lib/decide.h (%s)' % (page, ' '.join(sorted(replies))),
         'missing: %s' % '; '.join(missing))


def check_page(page, binary, section, keys):
    path = os.path.join(ROOT, page)
    name = os.path.basename(page).rsplit('.', 1)[0]
    r = subprocess.run([GROFF, '-man', '-Tutf8', '-ww', '-z', path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    err = r.stderr.decode('utf-8', 'replace')
    h.ok(r.returncode == 0 and not err.strip(), '%s: groff -man -Tutf8 -ww renders it without a warning' % page,
         'exit status %r' % r.returncode, err[-2000:])
    with open(path, 'rb') as f:
        raw = f.read()
    bad = [n + 1 for n, line in enumerate(raw.split(b'\n')) if any(b > 127 for b in line)]
    h.ok(not bad, '%s: the source is ASCII (other characters as groff escapes)' % page,
         'lines with other bytes: %r' % bad[:10])

    text = render(path)
    h.ok(re.search(r'^NAME\n\s+' + re.escape(name) + r' - ', text, re.M) is not None,
         '%s: NAME says %s' % (page, name), text[:600])

    prog = binary()
    r = subprocess.run([prog, '--help'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    out = r.stdout.decode('utf-8', 'replace')
    h.ok(r.returncode == 0 and out.strip(), '%s --help: exit 0 and a help text' % name,
         'exit status %r' % r.returncode, 'stdout: %r' % out[-600:], 'stderr: %r' % r.stderr[-600:])
    options = sorted(set(re.findall(r'(?<![\w-])(--[a-z][a-z0-9-]*)', out)) | {'--help', '--version'})
    missing = [o for o in options if not has_word(text, o)]
    h.ok(not missing, '%s: every long option of --help is in the page (%s)' % (page, ' '.join(options)),
         'missing: %s' % ' '.join(missing))

    for sec in (section,) + SHARED.get(page, ()):
        missing = [k for k in keys.get(sec, []) if not has_word(text, k)]
        h.ok(keys.get(sec) and not missing, '%s: every [%s] key is named (%d keys)' % (page, sec, len(keys.get(sec, []))),
             'missing: %s' % ' '.join(missing))


def install(prefix=None):
    """Runs `make install` into a new DESTDIR.  Returns (exit status, output, DESTDIR)."""
    dest = h.tmpdir('guardlist-install-')
    args = ['make', '--no-print-directory', '-C', ROOT, 'install', 'DESTDIR=' + dest]
    if prefix:
        args.append('PREFIX=' + prefix)
    # Not the jobserver of a `make check` this may run under.
    env = {k: v for k, v in os.environ.items() if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEFILES')}
    r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env, timeout=900)
    return r.returncode, r.stdout.decode('utf-8', 'replace'), dest


def check_install(prefix):
    rc, out, dest = install(prefix)
    where = prefix or '/usr/local'
    h.is_(rc, 0, 'make install DESTDIR=TMP%s: exit 0' % (' PREFIX=' + prefix if prefix else ''))
    if rc != 0:
        h.diag(out[-3000:])
    for page, _, _ in PAGES:
        base = os.path.basename(page)
        target = os.path.join(dest + where, 'share', 'man', 'man' + base.rsplit('.', 1)[1], base)
        same = False
        if os.path.isfile(target):
            with open(target, 'rb') as a, open(os.path.join(ROOT, page), 'rb') as b:
                same = a.read() == b.read()
        h.ok(same and (os.stat(target).st_mode & 0o777) == 0o644,
             '%s lands in /%s/, mode 0644' % (base, os.path.relpath(os.path.dirname(target), dest)),
             'looked for %s' % target, 'installed: %r' % sorted(
                 os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs
                 if '/man/' in os.path.join(d, f)))


def main():
    keys = config_keys()
    h.ok(len(keys.get('policy', [])) > 10, 'lib/config.c: the table of keys is read (%d sections)' % len(keys))
    for page, binary, section in PAGES:
        check_page(page, binary, section, keys)
    check_replies('daemon/guardlistd.8')
    check_install(None)
    check_install('/usr')


h.run(main, timeout=1200)
