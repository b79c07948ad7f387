/*
 * contactscmd - guardlist contacts import: a child's existing address book
 * (admin/contacts.c reads it) becomes approved contacts of the child.
 *
 * Each contact is the rule `guardlist allow CONTACT --to CHILD` would write
 * (actor from --actor), so one contact covers both directions
 * (daemon/outbound.c).  What the rules already decide is left alone, judged
 * by the daemon's own decide() (lib/contactplan.c): an allowed address is
 * already a contact, a blocked or refused one is never turned into an
 * allow.  The whole file is one transaction with its audit rows: a refused
 * file, a rule that changed since, or a database failure midway writes
 * nothing.
 */
#include "admin.h"
#include "contactplan.h"
#include "contacts.h"
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

/* Prints what happens to each contact of C under plan P. */
static void print_plan(const struct contacts *c, const struct contactplan *p, int dry)
{
    for (size_t i = 0; i < c->n; i++)
        printf("  %-26s %s (line %lu)\n", contactplan_word(p->v[i], dry), c->e[i].addr, c->e[i].line);
    for (size_t i = 0; i < c->ninvalid && i < SHOW_INVALID; i++)
        cli_say(stdout, "warning", "line %lu: %s", c->bad[i].line, c->bad[i].why);
    if (c->ninvalid > SHOW_INVALID)
        cli_say(stdout, "warning", "... and %zu more invalid entries", c->ninvalid - SHOW_INVALID);
}

static void print_summary(const struct contacts *c, const struct contactplan *p, size_t added, int dry)
{
    char line[800];

    contactplan_summary(c, p, added, dry, line, sizeof(line));
    printf("%s%s%s\n", dry ? "dry run: " : "", line, dry ? "; nothing written" : "");
}

static int import_run(struct cli *cli, const char *child, const char *path, enum contacts_format fmt, int dry)
{
    char err[600];
    struct contacts c;
    struct contactplan p;
    size_t len = 0, added = 0;
    int rc = 0;

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
    int mrc = contactplan_make(db, &cli->cfg, child, &c, &p, err, sizeof(err));
    if (mrc < 0) {
        contacts_free(&c);
        return mrc == CONTACTPLAN_BAD_CHILD ? cli_fail(EXIT_USAGE, "--child: %s; nothing imported", err)
                                            : cli_fail(EXIT_RUNTIME, "cannot load the rules: %s", err);
    }
    printf("%s: %s, %zu address%s for %s\n", path, c.format == CONTACTS_VCARD ? "vCard" : "CSV", c.n,
           c.n == 1 ? "" : "es", p.child);
    print_plan(&c, &p, dry);
    if (!dry && p.add) {
        int w = contactplan_write(db, cli->actor, &c, &p, &added, err, sizeof(err));
        if (w != STORE_DONE) {
            cli_say(stderr, "error", "%s", err);
            rc = cli_fail(w == STORE_ERROR ? EXIT_RUNTIME : EXIT_USAGE,
                          "nothing was imported (the whole file is one transaction)");
            contactplan_free(&p);
            contacts_free(&c);
            return rc;
        }
    }
    print_summary(&c, &p, added, dry);
    contactplan_free(&p);
    contacts_free(&c);
    return 0;
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
