/*
 * contactscmd - guardlist contacts import: a child's existing address book
 * (admin/contacts.c reads it) becomes approved contacts of the child.
 *
 * Each contact is a rule `guardlist allow CONTACT --to CHILD` would write,
 * through the same store_rule_set() (its own transaction and audit_log
 * row, actor from --actor), so one contact covers both directions
 * (lib/outbound.c).  What the rules already decide is left alone, judged by
 * the daemon's own decide(): an allowed address is already a contact, a
 * blocked or refused one is never turned into an allow.  Nothing is written
 * for a refused file, and a database failure midway says exactly what was.
 */
#include "admin.h"
#include "addr.h"
#include "contacts.h"
#include "decide.h"
#include "rulesdb.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHOW_INVALID 50     /* invalid entries listed one a line; the rest counted */

/* Reads PATH whole, refusing more than CONTACTS_MAX_BYTES before reading
 * it.  Returns a malloc'd buffer (caller frees) or NULL with ERR. */
static char *read_bounded(const char *path, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    size_t n = 0;

    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    if ((unsigned long long)st.st_size > CONTACTS_MAX_BYTES) {
        snprintf(err, errlen, "%s: the file is larger than %u MB: refused unread", path,
                 CONTACTS_MAX_BYTES / (1024 * 1024));
        goto out;
    }
    /* One byte more than allowed, so a file that grew since fstat is caught. */
    if (!(buf = malloc(CONTACTS_MAX_BYTES + 1))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, CONTACTS_MAX_BYTES + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            free(buf);
            buf = NULL;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > CONTACTS_MAX_BYTES) {
            snprintf(err, errlen, "%s: the file is larger than %u MB", path, CONTACTS_MAX_BYTES / (1024 * 1024));
            free(buf);
            buf = NULL;
            goto out;
        }
    }
    *len = n;
out:
    close(fd);
    return buf;
}

enum verdict { V_ADD, V_ALREADY, V_BLOCKED, V_UNUSABLE };

struct import {
    enum verdict *v;            /* one a contact */
    size_t add, already, blocked, unusable;
};

/* What the rules decide now for CONTACT writing to CHILD (the decision the
 * child's own mail to CONTACT gets too). */
static enum verdict judge(const struct ruleset *rs, const struct decide_opts *o, const char *contact,
                          const char *child)
{
    struct decision d;

    decide(rs, o, "RCPT", contact, child, NULL, &d);
    switch (d.kind) {
    case DK_RULE:
        return d.allows ? V_ALREADY : V_BLOCKED;
    case DK_CLOSED:
        return V_BLOCKED;
    case DK_CHALLENGE:
    case DK_NULL_SENDER:
        return V_ADD;
    default:
        return V_UNUSABLE;
    }
}

/* 1 if CHILD is (or falls under) a protected key. */
static void print_plan(const struct contacts *c, const struct import *im, int dry)
{
    for (size_t i = 0; i < c->n; i++) {
        const char *what = im->v[i] == V_ADD ? (dry ? "would add" : "add")
                           : im->v[i] == V_ALREADY ? "already a contact"
                           : im->v[i] == V_BLOCKED ? "blocked, left alone" : "not usable here, skipped";
        printf("  %-26s %s (line %lu)\n", what, c->e[i].addr, c->e[i].line);
    }
    for (size_t i = 0; i < c->ninvalid && i < SHOW_INVALID; i++)
        cli_say(stdout, "warning", "line %lu: %s", c->bad[i].line, c->bad[i].why);
    if (c->ninvalid > SHOW_INVALID)
        cli_say(stdout, "warning", "... and %zu more invalid entries", c->ninvalid - SHOW_INVALID);
}

static void print_summary(const struct contacts *c, const struct import *im, size_t added, int dry)
{
    printf("%s%zu contact%s %s, %zu already contact%s, %zu blocked (left alone), %zu invalid",
           dry ? "dry run: " : "", dry ? im->add : added, (dry ? im->add : added) == 1 ? "" : "s",
           dry ? "would be added" : "added", im->already, im->already == 1 ? "" : "s", im->blocked,
           c->ninvalid + im->unusable);
    if (c->ninvalid)
        printf(" (line %lu: %s%s)", c->bad[0].line, c->bad[0].why, c->ninvalid > 1 ? "; ..." : "");
    if (c->ndup)
        printf(", %zu duplicate%s counted once", c->ndup, c->ndup == 1 ? "" : "s");
    printf("%s\n", dry ? "; nothing written" : "");
}

/* Writes the V_ADD contacts one by one through store_rule_set(), as
 * `guardlist allow` does.  Returns how many were written; on a failure
 * prints which were, and sets *RC. */
static size_t write_contacts(struct cli *cli, struct db *db, const char *child, const struct contacts *c,
                             const struct import *im, int *rc)
{
    char err[600];
    size_t added = 0;

    *rc = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (im->v[i] != V_ADD)
            continue;
        int r = store_rule_set(db, cli->actor, child, c->e[i].addr, "OK", err, sizeof(err));
        if (r != STORE_DONE) {
            cli_say(stderr, "error", "writing %s: %s", c->e[i].addr, err);
            cli_say(stderr, "error", "stopped: %zu of %zu contacts were written (those marked 'add' before %s); "
                    "the rest were not", added, im->add, c->e[i].addr);
            *rc = r == STORE_INVALID ? EXIT_USAGE : EXIT_RUNTIME;
            return added;
        }
        added++;
    }
    return added;
}

static int import_run(struct cli *cli, const char *child_in, const char *path, enum contacts_format fmt, int dry)
{
    char err[600], child[ADDR_MAX + 2], detail[900];
    enum addr_key_kind kind;
    struct contacts c;
    struct rulesdb_skips skips;
    size_t len = 0;
    int rc = 0;

    if (addr_key_check(child_in, 0, child, sizeof(child), &kind, err, sizeof(err)) < 0)
        return cli_fail(EXIT_USAGE, "invalid --child '%s': %s", child_in, err);
    if (kind != AK_ADDRESS)
        return cli_fail(EXIT_USAGE, "--child needs the child's full address (user@domain)");
    char *buf = read_bounded(path, &len, err, sizeof(err));
    if (!buf)
        return cli_fail(EXIT_USAGE, "%s; nothing imported", err);
    int prc = contacts_parse(buf, len, fmt, &c, err, sizeof(err));
    free(buf);
    if (prc < 0)
        return cli_fail(EXIT_USAGE, "%s: %s; nothing imported", path, err);
    struct db *db = cli_db(cli);
    if (!db) {
        contacts_free(&c);
        return cli->db_status;
    }
    struct ruleset *rs = rulesdb_load(db, &skips, NULL, err, sizeof(err));
    if (!rs) {
        contacts_free(&c);
        return cli_fail(EXIT_RUNTIME, "cannot load the rules: %s", err);
    }
    if (!decide_protected(rs, child, cli->cfg.policy.recipient_delimiter)) {
        ruleset_free(rs);
        contacts_free(&c);
        return cli_fail(EXIT_USAGE, "%s is not protected (guardlist protect %s first); nothing imported", child, child);
    }
    struct decide_opts o = {
        .unknown_sender = cli->cfg.policy.unknown_sender,
        .on_allow = cli->cfg.policy.on_allow,
        .null_sender = cli->cfg.policy.null_sender,
        .delims = cli->cfg.policy.recipient_delimiter,
        .trusted_forwarders = &cli->cfg.policy.trusted_forwarders,
    };
    struct import im = { .v = calloc(c.n + 1, sizeof(*im.v)) };
    if (!im.v) {
        ruleset_free(rs);
        contacts_free(&c);
        return cli_fail(EXIT_RUNTIME, "out of memory");
    }
    for (size_t i = 0; i < c.n; i++) {
        im.v[i] = judge(rs, &o, c.e[i].addr, child);
        im.add += im.v[i] == V_ADD;
        im.already += im.v[i] == V_ALREADY;
        im.blocked += im.v[i] == V_BLOCKED;
        im.unusable += im.v[i] == V_UNUSABLE;
    }
    ruleset_free(rs);
    printf("%s: %s, %zu address%s for %s\n", path, c.format == CONTACTS_VCARD ? "vCard" : "CSV", c.n,
           c.n == 1 ? "" : "es", child);
    print_plan(&c, &im, dry);
    size_t added = 0;
    if (!dry && im.add) {
        added = write_contacts(cli, db, child, &c, &im, &rc);
        snprintf(detail, sizeof(detail), "child=%s added=%zu already=%zu blocked=%zu invalid=%zu%s", child, added,
                 im.already, im.blocked, c.ninvalid + im.unusable, rc ? " stopped-by-error" : "");
        if (store_audit(db, cli->actor, "contacts-import", detail, err, sizeof(err)) < 0)
            cli_say(stderr, "warning", "the import's summary was not logged: %s", err);
    }
    print_summary(&c, &im, added, dry);
    free(im.v);
    contacts_free(&c);
    return rc;
}

int cmd_contacts(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist contacts import --child ADDR [--format vcard|csv] [--dry-run] FILE\n"
        "Makes the addresses of an address book (a vCard file, or a CSV export from\n"
        "Google, Outlook or Thunderbird, or one address a line) approved contacts of\n"
        "the protected child ADDR: each is the rule `guardlist allow CONTACT --to ADDR`\n"
        "writes, so they may write to the child and the child to them.  Addresses\n"
        "the rules already allow are counted as contacts; blocked or refused ones\n"
        "are left alone.  Files over 5 MB, with more than 5000 addresses, a NUL byte\n"
        "or bytes that are not UTF-8 are refused whole.  --dry-run writes nothing.\n";
    static const struct option lo[] = { { "child", required_argument, NULL, 'c' },
                                        { "format", required_argument, NULL, 'f' },
                                        { "dry-run", no_argument, NULL, 'n' },
                                        { "help", no_argument, NULL, 'h' }, { 0 } };
    const char *child = NULL;
    enum contacts_format fmt = CONTACTS_GUESS;
    int dry = 0, opt;

    if (cli_want_help(argc, argv, usage))
        return 0;
    if (argc < 2 || strcmp(argv[1], "import") != 0)
        return cli_fail(EXIT_USAGE, "contacts needs import (see guardlist contacts --help)");
    argc--;
    argv++;
    while ((opt = getopt_long(argc, argv, "c:f:nh", lo, NULL)) != -1) {
        if (opt == 'c') {
            child = optarg;
        } else if (opt == 'f' && strcmp(optarg, "vcard") == 0) {
            fmt = CONTACTS_VCARD;
        } else if (opt == 'f' && strcmp(optarg, "csv") == 0) {
            fmt = CONTACTS_CSV;
        } else if (opt == 'f') {
            return cli_fail(EXIT_USAGE, "--format is vcard or csv");
        } else if (opt == 'n') {
            dry = 1;
        } else {
            return cli_fail(EXIT_USAGE, "see guardlist contacts --help");
        }
    }
    if (!child)
        return cli_fail(EXIT_USAGE, "contacts import needs --child ADDR");
    if (argc - optind != 1)
        return cli_fail(EXIT_USAGE, "contacts import takes one FILE (see guardlist contacts --help)");
    return import_run(cli, child, argv[optind], fmt, dry);
}
