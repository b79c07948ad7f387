/*
 * doctor - guardlist doctor: finds the ways mail can reach a protected
 * mailbox in a Postfix configuration without guardlistd deciding, and with
 * --fix protects the aliases it found.
 *
 * Reads Postfix through admin/pfread.c (postconf, postmap, postalias; never
 * writes there) and follows its aliases with admin/reach.c; an address is
 * protected exactly when lib/decide.c (guardlistd's code) finds its
 * protected_users key.  Every fix goes through store_protect(): validated
 * and audited.  Output: one line per problem or warning, "guardlist:
 * SEVERITY: ...", control characters escaped (table contents are outside
 * input).  Exit status: 0 no problem left, 1 problems (or a runtime
 * failure), 2 usage or configuration error.
 */
#include "admin.h"
#include "addr.h"
#include "decide.h"
#include "pfread.h"
#include "pftext.h"
#include "reach.h"
#include "rulesdb.h"
#include "store.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define POSTFIX_DEFAULT_DIR "/etc/postfix"
#define REPLY_SUGGESTED "451 4.3.5 Policy service unavailable, try again later"

struct fixable {
    char *alias, *key, *reached;
};

struct doctor {
    struct cli *cli;
    const char *dir;
    struct pfread_conf pc;
    struct ruleset *rs;
    struct decide_opts opts;
    struct fixable *fx;
    size_t nfx;
    unsigned long problems, warnings, fixed;
    int oom;
};

static void report(struct doctor *d, int is_problem, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void report(struct doctor *d, int is_problem, const char *fmt, ...)
{
    char msg[2000];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cli_say(stdout, is_problem ? "problem" : "warning", "%s", msg);
    if (is_problem)
        d->problems++;
    else
        d->warnings++;
}

static void on_warn(void *arg, const char *msg)
{
    report(arg, 0, "%s", msg);
}

/* What guardlistd decides for mail to ADDR: the daemon's own code. */
static enum reach_prot on_prot(void *arg, const char *addr, char *key, size_t keylen)
{
    const struct doctor *d = arg;
    struct decision dec;

    decide(d->rs, &d->opts, "RCPT", "<>", addr, NULL, &dec);
    if (dec.protected_key[0]) {
        snprintf(key, keylen, "%s", dec.protected_key);
        return REACH_PROTECTED;
    }
    return dec.kind == DK_BAD_ADDRESS ? REACH_REFUSED : REACH_OPEN;
}

static void keep_fixable(struct doctor *d, const struct reach_finding *f)
{
    struct fixable *v = realloc(d->fx, (d->nfx + 1) * sizeof(*v));

    if (!v) {
        d->oom = 1;
        return;
    }
    d->fx = v;
    v[d->nfx] = (struct fixable){ strdup(f->alias), strdup(f->key), strdup(f->reached) };
    if (!v[d->nfx].alias || !v[d->nfx].key || !v[d->nfx].reached)
        d->oom = 1;
    d->nfx++;
}

static void on_found(void *arg, const struct reach_finding *f)
{
    struct doctor *d = arg;

    if (f->kind == REACH_ALIAS) {
        report(d, 1, "%s (%s) is not protected, but its mail reaches protected %s: %s", f->alias, f->table,
               f->reached, f->path);
    } else if (f->kind == REACH_LOCAL) {
        report(d, 1, "%s is not protected, but it is the mailbox of protected %s (every mydestination domain "
               "reaches the same local user): %s", f->alias, f->reached, f->path);
    } else if (strncmp(f->reached, "*@", 2) == 0) {
        report(d, 1, "catch-all %s (%s) sends mail for any address there to the protected domain %s: "
               "protect %s too, or remove the catch-all (--fix does neither)", f->alias, f->table,
               f->reached + 2, f->alias + 1);
        return;
    } else {
        report(d, 1, "catch-all %s (%s) sends mail for any address there to protected %s: %s; protect the "
               "domain %s, or remove the catch-all (--fix does neither)", f->alias, f->table, f->reached,
               f->path, f->alias + 1);
        return;
    }
    keep_fixable(d, f);
}

static int row_reach_protected(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    char key[ADDR_MAX + 2];

    (void)ncol;
    (void)len;
    if (col[0] && addr_key_normalize(col[0], key, sizeof(key)) == 0)
        return reach_protected(arg, key) < 0;
    return 0;
}

/* Problem 1 and 2: aliases and local domains reaching a protected address. */
static int check_aliases(struct doctor *d, struct db *db)
{
    struct pftext_list l;
    char err[600];
    int propagate = 0;

    if (pftext_split(d->pc.propagate_unmatched_extensions, &l, err, sizeof(err)) == 0)
        for (size_t i = 0; i < l.n; i++)
            propagate |= strcasecmp(l.item[i], "virtual") == 0;
    pftext_list_free(&l);
    struct reach *r = reach_new(d->pc.myorigin, d->pc.recipient_delimiter, propagate);
    if (!r)
        return cli_fail(EXIT_USAGE, "Postfix's myorigin '%s' or recipient_delimiter '%s' is unusable",
                        d->pc.myorigin, d->pc.recipient_delimiter);
    int rc = pfread_local_domains(d->dir, d->pc.mydestination, r, on_warn, d);
    if (rc == 0)
        rc = pfread_tables(d->dir, "virtual_alias_maps", d->pc.virtual_alias_maps, 0, r, on_warn, d);
    if (rc == 0)
        rc = pfread_tables(d->dir, "alias_maps", d->pc.alias_maps, 1, r, on_warn, d);
    if (rc < 0) {
        reach_free(r);
        return cli_fail(EXIT_RUNTIME, "out of memory");
    }
    if (db_query(db, "SELECT recipient FROM protected_users", NULL, 0, row_reach_protected, r, err, sizeof(err)) < 0) {
        reach_free(r);
        return cli_fail(EXIT_RUNTIME, "database: %s", err);
    }
    long n = reach_check(r, on_prot, on_found, on_warn, d);
    reach_free(r);
    if (n < 0 || d->oom)
        return cli_fail(EXIT_RUNTIME, "out of memory");
    return 0;
}

/* Problem 3: both must cut the same extensions off, or kid-x@ is not kid@. */
static void check_delimiter(struct doctor *d)
{
    const char *pf = d->pc.recipient_delimiter, *gl = d->cli->cfg.policy.recipient_delimiter;

    if (pftext_same_chars(pf, gl))
        return;
    report(d, 1, "Postfix's recipient_delimiter is '%s' but guardlist's [policy] recipient_delimiter is '%s': "
           "make them equal (with a delimiter only Postfix knows, mail to user<delimiter>anything@domain "
           "reaches user@domain while guardlistd sees another, unprotected address)", pf, gl);
}

struct scan {
    int found;                  /* the policy check is in the list */
    char default_action[600];   /* its own default_action= option */
    char others[400];           /* other policy services seen */
};

/* Walks restriction list VALUE up to guardlist's policy check, reporting
 * every permit_* before it (WHERE names the list). */
static void scan_restrictions(struct doctor *d, const char *where, const char *value, int report_permits,
                              struct scan *s)
{
    struct pftext_list l;
    char err[200], ep[600];

    memset(s, 0, sizeof(*s));
    if (pftext_split(value, &l, err, sizeof(err)) < 0) {
        report(d, 1, "%s: cannot read it (%s)", where, err);
        pftext_list_free(&l);
        return;
    }
    for (size_t i = 0; i < l.n && !s->found; i++) {
        const char *r = l.item[i], *who = pftext_permit_who(r);
        if (strcasecmp(r, "check_policy_service") == 0 && i + 1 < l.n) {
            i++;
            if (pftext_policy_arg(l.item[i], ep, sizeof(ep), s->default_action, sizeof(s->default_action)) == 0
                && pftext_service_matches(ep, d->cli->cfg.policy.listen, d->pc.queue_directory)) {
                s->found = 1;
            } else {
                size_t o = strlen(s->others);
                snprintf(s->others + o, sizeof(s->others) - o, "%s%.200s", o ? ", " : "", l.item[i]);
            }
        } else if (who && report_permits) {
            report(d, 1, "%s: %s comes before guardlist's check_policy_service, so %s skip it", where, r, who);
        } else if (pftext_is_access_check(r) && report_permits) {
            report(d, 0, "%s: %s %s comes before guardlist's check_policy_service: an OK from that table "
                   "skips it", where, r, i + 1 < l.n ? l.item[i + 1] : "");
        }
        if (!s->found && pftext_takes_arg(r) && strcasecmp(r, "check_policy_service") != 0)
            i++;
    }
    pftext_list_free(&l);
}

/* Problem 4 (and 5 for a check's own default_action) in one restriction list. */
static void check_list(struct doctor *d, const char *where, const char *value, const char *relay)
{
    struct scan s, rs;
    char why[300];

    scan_restrictions(d, where, value, 0, &s);
    if (!s.found) {
        if (relay)
            scan_restrictions(d, "smtpd_relay_restrictions", relay, 0, &rs);
        report(d, 1, "%s: guardlist's policy check (check_policy_service for [policy] listen = %s) is missing%s%s%s",
               where, d->cli->cfg.policy.listen, s.others[0] ? "; it names other policy services: " : "",
               s.others, relay && rs.found ? "; smtpd_relay_restrictions has it, but guardlist belongs in "
               "smtpd_recipient_restrictions (docs/postfix.md)" : "");
        return;
    }
    scan_restrictions(d, where, value, 1, &s);
    if (s.default_action[0] && !pftext_action_holds(s.default_action, why, sizeof(why)))
        report(d, 1, "%s: guardlist's check_policy_service has default_action=%s, which %s while guardlistd "
               "cannot be asked: use a 4xx reply", where, s.default_action, why);
}

/* Problem 5: what Postfix does when guardlistd cannot answer. */
static void check_default_action(struct doctor *d)
{
    char why[300];

    if (!d->pc.default_action_set)
        report(d, 1, "smtpd_policy_service_default_action is not set in main.cf (the built-in default '%s' "
               "applies): set it, e.g. to '%s', so that mail waits while guardlistd cannot be asked",
               d->pc.default_action, REPLY_SUGGESTED);
    else if (!pftext_action_holds(d->pc.default_action, why, sizeof(why)))
        report(d, 1, "smtpd_policy_service_default_action = %s %s while guardlistd cannot be asked: use a 4xx "
               "reply, e.g. '%s'", d->pc.default_action, why, REPLY_SUGGESTED);
    for (size_t i = 0; i < d->pc.nsvc; i++)
        if (d->pc.svc[i].default_action && !pftext_action_holds(d->pc.svc[i].default_action, why, sizeof(why)))
            report(d, 1, "master.cf service %s: -o smtpd_policy_service_default_action=%s %s while guardlistd "
                   "cannot be asked", d->pc.svc[i].name, d->pc.svc[i].default_action, why);
}

/* 1 if master.cf service NAME ("127.0.0.1:2526/inet", "smtp/inet") listens
 * on the port guardlist-notify submits to. */
static int is_notifier_service(const struct doctor *d, const char *name)
{
    char port[16], want[24];
    const char *slash = strchr(name, '/');
    size_t len = slash ? (size_t)(slash - name) : strlen(name);

    snprintf(port, sizeof(port), "%d", d->cli->cfg.notifier.smtp_port);
    snprintf(want, sizeof(want), ":%s", port);
    if (len == 4 && strncmp(name, "smtp", 4) == 0)
        return d->cli->cfg.notifier.smtp_port == 25;
    if (len == strlen(port) && strncmp(name, port, len) == 0)
        return 1;
    return len > strlen(want) && strncmp(name + len - strlen(want), want, strlen(want)) == 0;
}

/* The guardian's own mail: the notifier's port must permit it before any
 * policy check, or a guardian whose address is protected gets nothing
 * (docs/postfix.md).  A notifier on the main smtpd is a warning. */
static void check_notifier_port(struct doctor *d)
{
    struct pftext_list l;
    char err[200];

    for (size_t i = 0; i < d->pc.nsvc; i++) {
        if (!is_notifier_service(d, d->pc.svc[i].name) || !d->pc.svc[i].restrictions)
            continue;
        if (pftext_split(d->pc.svc[i].restrictions, &l, err, sizeof(err)) < 0) {
            pftext_list_free(&l);
            return;
        }
        const char *first = NULL;
        for (size_t k = 0; k < l.n && !first; k++)
            if (pftext_permit_who(l.item[k]) || strcasecmp(l.item[k], "check_policy_service") == 0)
                first = l.item[k];
        if (!first || strcasecmp(first, "check_policy_service") == 0)
            report(d, 1, "master.cf service %s, where guardlist-notify submits ([notifier] smtp_port = %d), "
                   "%s: a guardian whose own address is protected gets no approval email (docs/postfix.md)",
                   d->pc.svc[i].name, d->cli->cfg.notifier.smtp_port,
                   first ? "asks the policy service before it permits" : "permits nothing before the end");
        pftext_list_free(&l);
        return;
    }
    report(d, 0, "guardlist-notify submits to port %d, which has no smtpd_recipient_restrictions of its own in "
           "master.cf: if that smtpd asks guardlistd, a guardian whose own address is protected gets no approval "
           "email; give the notifier its own port that permits first (docs/postfix.md)",
           d->cli->cfg.notifier.smtp_port);
}

static void check_postfix_settings(struct doctor *d)
{
    char where[300];

    check_delimiter(d);
    check_list(d, "smtpd_recipient_restrictions", d->pc.smtpd_recipient_restrictions,
               d->pc.smtpd_relay_restrictions);
    check_notifier_port(d);
    for (size_t i = 0; i < d->pc.nsvc; i++) {
        if (!d->pc.svc[i].restrictions || is_notifier_service(d, d->pc.svc[i].name))
            continue;
        snprintf(where, sizeof(where), "master.cf service %s (-o smtpd_recipient_restrictions)", d->pc.svc[i].name);
        check_list(d, where, d->pc.svc[i].restrictions, NULL);
    }
    check_default_action(d);
}

/* --fix: protects F->alias with the guardians of the key that protects the
 * address it reaches.  Returns 0 (fixed or not fixable), or an exit status
 * when the database failed. */
static int fix_one(struct doctor *d, struct db *db, const struct fixable *f)
{
    struct rows g = { 0 };
    const char *p[1] = { f->key }, *emails[16];
    char err[600], names[900] = "";
    size_t n = 0, o = 0;

    if (db_query(db, "SELECT email FROM guardians WHERE recipient = ? ORDER BY email", p, 1, rows_collect, &g,
                 err, sizeof(err)) < 0) {
        rows_free(&g);
        return cli_fail(EXIT_RUNTIME, "database: %s", err);
    }
    for (; n < g.n && n < 16; n++)
        emails[n] = rows_cell(&g, n, 0);
    int rc = store_protect(db, d->cli->actor, f->alias, emails, (int)n, err, sizeof(err));
    /* store_protect takes 16 guardians at a time. */
    for (size_t i = 16; (rc == STORE_DONE || rc == STORE_NOTFOUND) && i < g.n; i++) {
        int r2 = store_guardian_add(db, d->cli->actor, f->alias, rows_cell(&g, i, 0), err, sizeof(err));
        if (r2 == STORE_ERROR || r2 == STORE_INVALID)
            rc = r2;
    }
    for (size_t i = 0; i < g.n && o < sizeof(names); i++)
        o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "", rows_cell(&g, i, 0));
    rows_free(&g);
    if (rc == STORE_ERROR)
        return cli_fail(EXIT_RUNTIME, "database: %s", err);
    if (rc == STORE_INVALID) {
        cli_say(stdout, "error", "cannot protect %s: %s", f->alias, err);
        return 0;
    }
    cli_say(stdout, "fixed", "%s %s with the guardians of %s (%s)",
            rc == STORE_DONE ? "protected" : "already protected", f->alias, f->key, names[0] ? names : "none");
    d->fixed++;
    return 0;
}

static int parse_args(int argc, char **argv, const char **dir, int *fix)
{
    static const char usage[] = "Usage: guardlist doctor [--postfix DIR] [--fix]\n"
        "Looks for ways mail reaches a protected address in the Postfix configuration\n"
        "directory DIR (default " POSTFIX_DEFAULT_DIR ") without guardlistd deciding:\n"
        "  - aliases (virtual_alias_maps, alias_maps, followed recursively) and the other\n"
        "    mydestination domains of a protected address that are not protected\n"
        "    themselves (as guardlistd decides: the protected_users keys);\n"
        "  - recipient_delimiter different from [policy] recipient_delimiter;\n"
        "  - guardlist's check_policy_service missing from smtpd_recipient_restrictions\n"
        "    (main.cf, and master.cf -o overrides), or after a permit_* there;\n"
        "  - smtpd_policy_service_default_action not set in main.cf, or letting mail\n"
        "    through.\n"
        "One line per problem; a table it cannot list (mysql:, ldap:, pcre:, regexp:,\n"
        "...) is named in a warning.  --fix protects each such alias with the\n"
        "guardians of the address it reaches (validated and audited as `protect`); the\n"
        "other problems stay reported.  Exit status: 0 no problem (left), 1 problems,\n"
        "2 usage or configuration error.\n";
    static const struct option lo[] = { { "postfix", required_argument, NULL, 'p' }, { "fix", no_argument, NULL, 'f' },
                                        { "help", no_argument, NULL, 'h' }, { 0 } };
    int opt;

    while ((opt = getopt_long(argc, argv, "p:fh", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return -1;
        } else if (opt == 'p') {
            *dir = optarg;
        } else if (opt == 'f') {
            *fix = 1;
        } else {
            return cli_fail(EXIT_USAGE, "see guardlist doctor --help");
        }
    }
    if (optind != argc)
        return cli_fail(EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
    if (!**dir || strlen(*dir) > 1024)
        return cli_fail(EXIT_USAGE, "--postfix needs a directory");
    return 0;
}

static void doctor_free(struct doctor *d)
{
    for (size_t i = 0; i < d->nfx; i++) {
        free(d->fx[i].alias);
        free(d->fx[i].key);
        free(d->fx[i].reached);
    }
    free(d->fx);
    ruleset_free(d->rs);
    pfread_conf_free(&d->pc);
}

int cmd_doctor(struct cli *cli, int argc, char **argv)
{
    struct doctor d = { .cli = cli, .dir = POSTFIX_DEFAULT_DIR };
    struct rulesdb_skips skips;
    char err[600];
    int fix = 0, rc = parse_args(argc, argv, &d.dir, &fix);

    if (rc)
        return rc < 0 ? 0 : rc;
    if (pfread_conf(d.dir, &d.pc, err, sizeof(err)) < 0) {
        pfread_conf_free(&d.pc);
        return cli_fail(EXIT_USAGE, "%s", err);
    }
    struct db *db = cli_db(cli);
    if (!db) {
        pfread_conf_free(&d.pc);
        return cli->db_status;
    }
    if (!(d.rs = rulesdb_load(db, &skips, NULL, err, sizeof(err)))) {
        pfread_conf_free(&d.pc);
        return cli_fail(EXIT_RUNTIME, "cannot load the rules: %s", err);
    }
    if (skips.count)
        report(&d, 0, "%zu unusable rule rows are ignored, as guardlistd ignores them; the first: %s", skips.count,
               skips.first);
    d.opts = (struct decide_opts){ .unknown_sender = cli->cfg.policy.unknown_sender,
                                   .on_allow = cli->cfg.policy.on_allow,
                                   .null_sender = cli->cfg.policy.null_sender,
                                   .delims = cli->cfg.policy.recipient_delimiter };
    rc = check_aliases(&d, db);
    if (rc == 0)
        check_postfix_settings(&d);
    for (size_t i = 0; rc == 0 && fix && i < d.nfx; i++)
        rc = fix_one(&d, db, &d.fx[i]);
    if (rc == 0) {
        unsigned long left = d.problems - d.fixed;
        if (fix)
            cli_say(stdout, "info", "%lu problem%s, %lu fixed, %lu left; %lu warning%s", d.problems,
                    d.problems == 1 ? "" : "s", d.fixed, left, d.warnings, d.warnings == 1 ? "" : "s");
        else
            cli_say(stdout, "info", "%lu problem%s, %lu warning%s%s", d.problems, d.problems == 1 ? "" : "s",
                    d.warnings, d.warnings == 1 ? "" : "s",
                    d.nfx ? "; guardlist doctor --fix protects the aliases found" : "");
        rc = left ? EXIT_RUNTIME : 0;
    }
    doctor_free(&d);
    return rc;
}
