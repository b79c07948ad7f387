/*
 * rules - guardlist protect/unprotect/guardian/allow/block/rule/list.
 *
 * Changes go through lib/store.c; listings read the tables directly and
 * print either aligned text or JSON (--json).
 */
#include "admin.h"
#include "addr.h"
#include "json.h"
#include "store.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static int run_store(int rc, const char *err, const char *done_msg)
{
    if (rc == STORE_DONE && done_msg)
        printf("%s\n", done_msg);
    return cli_store_exit(rc, err);
}

/* A guardian whose own address is protected receives guardlist's emails
 * only through the notifier's own submission port (docs/postfix.md). */
static void warn_guardians_protected(struct db *db, const char *key, const char *email)
{
    char warn[1200], err[600];

    if (store_guardians_protected(db, key, email, warn, sizeof(warn), err, sizeof(err)) > 0)
        fprintf(stderr, "guardlist: warning: %s: guardlist's approval emails to them are refused by guardlist "
                "itself unless guardlist-notify submits through a port that permits them before the policy "
                "check (see docs/postfix.md, guardlist doctor)\n", warn);
}

int cmd_protect(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist protect ADDR [--guardian EMAIL]...\n"
        "Protects ADDR (an address, user@ or a domain): only approved senders reach it.\n"
        "Each --guardian is asked to approve unknown senders.\n";
    static const struct option lo[] = { { "guardian", required_argument, NULL, 'g' }, { "help", no_argument, NULL, 'h' }, { 0 } };
    const char *g[16];
    int ng = 0, opt;
    char err[600], msg[600];

    while ((opt = getopt_long(argc, argv, "g:h", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (opt != 'g')
            return cli_fail(EXIT_USAGE, "see guardlist protect --help");
        if (ng == 16)
            return cli_fail(EXIT_USAGE, "at most 16 --guardian options");
        g[ng++] = optarg;
    }
    if (argc - optind != 1)
        return cli_fail(EXIT_USAGE, "protect takes one address (see guardlist protect --help)");
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    int rc = store_protect(db, cli->actor, argv[optind], g, ng, err, sizeof(err));
    if (rc == STORE_NOTFOUND) {     /* nothing new: not an error */
        printf("%s\n", err);
        return 0;
    }
    snprintf(msg, sizeof(msg), "protected %s", argv[optind]);
    rc = run_store(rc, err, msg);
    if (rc == 0) {
        warn_guardians_protected(db, argv[optind], NULL);
        for (int i = 0; i < ng; i++)
            warn_guardians_protected(db, NULL, g[i]);
    }
    return rc;
}

int cmd_unprotect(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist unprotect ADDR\n"
        "Stops protecting ADDR and forgets its guardians.  Its rules are kept.\n";
    char err[600];

    if (cli_want_help(argc, argv, usage))
        return 0;
    if (argc != 2)
        return cli_fail(EXIT_USAGE, "unprotect takes one address (see guardlist unprotect --help)");
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    return run_store(store_unprotect(db, cli->actor, argv[1], err, sizeof(err)), err, "unprotected");
}

struct listing {
    int json, n;
};

static int row_guardian_print(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct listing *l = arg;

    (void)ncol;
    (void)len;
    if (l->json) {
        printf("%s{\"recipient\":", l->n ? "," : "");
        json_string(stdout, col[0]);
        printf(",\"email\":");
        json_string(stdout, col[1]);
        printf("}");
    } else {
        printf("%-40s %s\n", col[0], col[1]);
    }
    l->n++;
    return 0;
}

/* guardlist guardian add | remove | list: who approves senders for a protected key. */
int cmd_guardian(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist guardian add RCPT EMAIL\n"
        "       guardlist guardian remove RCPT EMAIL\n"
        "       guardlist guardian list [RCPT] [--json]\n"
        "RCPT is a protected key; EMAIL is who approves senders for it.\n";
    char err[600], key[ADDR_MAX + 2];
    enum addr_key_kind kind;
    int json = 0;

    if (cli_want_help(argc, argv, usage))
        return 0;
    if (argc < 2)
        return cli_fail(EXIT_USAGE, "guardian needs add, remove or list (see guardlist guardian --help)");
    if (strcmp(argv[1], "add") == 0 || strcmp(argv[1], "remove") == 0) {
        if (argc != 4)
            return cli_fail(EXIT_USAGE, "guardian %s takes RCPT and EMAIL", argv[1]);
        struct db *db = cli_db(cli);
        if (!db)
            return cli->db_status;
        int rc = argv[1][0] == 'a' ? store_guardian_add(db, cli->actor, argv[2], argv[3], err, sizeof(err))
                                   : store_guardian_remove(db, cli->actor, argv[2], argv[3], err, sizeof(err));
        rc = run_store(rc, err, argv[1][0] == 'a' ? "guardian added" : "guardian removed");
        if (rc == 0 && argv[1][0] == 'a')
            warn_guardians_protected(db, NULL, argv[3]);
        return rc;
    }
    if (strcmp(argv[1], "list") != 0)
        return cli_fail(EXIT_USAGE, "unknown guardian command '%s'", argv[1]);
    const char *rcpt = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (!rcpt && argv[i][0] != '-')
            rcpt = argv[i];
        else
            return cli_fail(EXIT_USAGE, "unexpected argument '%s'", argv[i]);
    }
    if (rcpt && addr_key_check(rcpt, 0, key, sizeof(key), &kind, err, sizeof(err)) < 0)
        return cli_fail(EXIT_USAGE, "invalid recipient '%s': %s", rcpt, err);
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    struct listing l = { .json = json };
    const char *p[1] = { key };
    if (json)
        printf("[");
    long long n = rcpt ? db_query(db, "SELECT recipient, email FROM guardians WHERE recipient = ? "
                                      "ORDER BY recipient, email", p, 1, row_guardian_print, &l, err, sizeof(err))
                       : db_query(db, "SELECT recipient, email FROM guardians ORDER BY recipient, email",
                                  NULL, 0, row_guardian_print, &l, err, sizeof(err));
    if (json)
        printf("]\n");
    if (n < 0)
        return cli_fail(EXIT_RUNTIME, "database: %s", err);
    return 0;
}

/* allow / block / rule set share this. */
static int set_rule(struct cli *cli, const char *rcpt, const char *sender, const char *action)
{
    char err[600], msg[900];
    struct db *db = cli_db(cli);

    if (!db)
        return cli->db_status;
    int rc = store_rule_set(db, cli->actor, rcpt, sender, action, err, sizeof(err));
    /* On success ERR says how many pending requests the rule closed. */
    snprintf(msg, sizeof(msg), "rule set: %s -> %s: %s%s%s", sender, rcpt ? rcpt : "(every protected recipient)",
             action, rc == STORE_DONE && err[0] ? "; " : "", rc == STORE_DONE ? err : "");
    return run_store(rc, err, msg);
}

static const struct option to_opts[] = {
    { "to", required_argument, NULL, 't' },
    { "message", required_argument, NULL, 'm' },
    { "help", no_argument, NULL, 'h' },
    { 0 },
};

/* Parses [--to RCPT] [--message TEXT] and N positional arguments. */
static int parse_to(int argc, char **argv, const char *usage, int allow_message, int npos,
                    const char **to, const char **message)
{
    int opt;

    *to = NULL;
    if (message)
        *message = NULL;
    while ((opt = getopt_long(argc, argv, "t:m:h", to_opts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 1;
        } else if (opt == 't') {
            *to = optarg;
        } else if (opt == 'm' && allow_message) {
            *message = optarg;
        } else {
            cli_fail(EXIT_USAGE, "see guardlist %s --help", argv[0]);
            return -1;
        }
    }
    if (argc - optind != npos) {
        cli_fail(EXIT_USAGE, "wrong number of arguments (see guardlist %s --help)", argv[0]);
        return -1;
    }
    return 0;
}

int cmd_allow(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist allow SENDER [--to RCPT]\n"
        "Lets SENDER (address, user@, domain or <>) reach every protected recipient,\n"
        "or only RCPT.  A domain means everyone at it and its subdomains.  The pending\n"
        "challenges the rule now decides are closed with it.\n";
    const char *to;
    int r = parse_to(argc, argv, usage, 0, 1, &to, NULL);

    if (r)
        return r < 0 ? EXIT_USAGE : 0;
    return set_rule(cli, to, argv[optind], "OK");
}

int cmd_block(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist block SENDER [--to RCPT] [--message TEXT]\n"
        "Refuses SENDER (554 5.7.1 ... Access denied, or TEXT) for every protected\n"
        "recipient, or only RCPT.\n";
    const char *to, *message;
    char action[600];
    int r = parse_to(argc, argv, usage, 1, 1, &to, &message);

    if (r)
        return r < 0 ? EXIT_USAGE : 0;
    if (message && snprintf(action, sizeof(action), "REJECT %s", message) >= (int)sizeof(action))
        return cli_fail(EXIT_USAGE, "--message is too long");
    return set_rule(cli, to, argv[optind], message ? action : "REJECT");
}

int cmd_rule(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist rule set SENDER ACTION [--to RCPT]\n"
        "       guardlist rule rm SENDER [--to RCPT]\n"
        "ACTION is an access(5) action: OK, REJECT [text], DEFER [text], DEFER_IF_PERMIT,\n"
        "DUNNO, HOLD, DISCARD, 4NN text, 5NN text, ...\n";
    const char *to;
    char err[600];

    if (cli_want_help(argc, argv, usage))
        return 0;
    if (argc < 2)
        return cli_fail(EXIT_USAGE, "rule needs set or rm (see guardlist rule --help)");
    int set = strcmp(argv[1], "set") == 0;
    if (!set && strcmp(argv[1], "rm") != 0)
        return cli_fail(EXIT_USAGE, "unknown rule command '%s'", argv[1]);
    int r = parse_to(argc - 1, argv + 1, usage, 0, set ? 2 : 1, &to, NULL);
    if (r)
        return r < 0 ? EXIT_USAGE : 0;
    char **pos = argv + 1 + optind;
    if (set)
        return set_rule(cli, to, pos[0], pos[1]);
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    return run_store(store_rule_rm(db, cli->actor, to, pos[0], err, sizeof(err)), err, "rule removed");
}

/* ---- list ---- */

static int in_keys(const struct addr_keys *k, const char *key)
{
    for (size_t i = 0; k && i < k->n; i++)
        if (strcmp(k->key[i], key) == 0)
            return 1;
    return 0;
}

/* What a listing shows, each table read whole before anything is printed. */
struct list_tables {
    struct rows prot, guard, global, per;
    int both_ways;              /* [policy] outbound = on: a rule also decides the child's own mail to SENDER */
};

static void list_tables_free(struct list_tables *t)
{
    rows_free(&t->prot);
    rows_free(&t->guard);
    rows_free(&t->global);
    rows_free(&t->per);
}

/* Parses [--to RCPT] [--json]: 0 to go on, 1 after --help, -1 after a usage
 * error (printed). */
static int list_options(int argc, char **argv, const char *usage, const char **to, int *json)
{
    static const struct option lo[] = { { "to", required_argument, NULL, 't' }, { "json", no_argument, NULL, 'j' },
                                        { "help", no_argument, NULL, 'h' }, { 0 } };
    int opt;

    while ((opt = getopt_long(argc, argv, "t:jh", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 1;
        } else if (opt == 't') {
            *to = optarg;
        } else if (opt == 'j') {
            *json = 1;
        } else {
            cli_fail(EXIT_USAGE, "see guardlist list --help");
            return -1;
        }
    }
    if (optind != argc) {
        cli_fail(EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return 0;
}

static int list_fetch(struct db *db, struct list_tables *t)
{
    char err[600];

    if (db_query(db, "SELECT recipient, class FROM protected_users ORDER BY recipient", NULL, 0,
                 rows_collect, &t->prot, err, sizeof(err)) < 0
        || db_query(db, "SELECT recipient, email FROM guardians ORDER BY recipient, email", NULL, 0,
                    rows_collect, &t->guard, err, sizeof(err)) < 0
        || db_query(db, "SELECT sender, action FROM whitelist ORDER BY sender", NULL, 0,
                    rows_collect, &t->global, err, sizeof(err)) < 0
        || db_query(db, "SELECT recipient, sender, action FROM sender_rules ORDER BY recipient, sender",
                    NULL, 0, rows_collect, &t->per, err, sizeof(err)) < 0)
        return cli_fail(EXIT_RUNTIME, "database: %s", err);
    return 0;
}

/* With --to (KP): the one protecting key, in access(5) order; NULL if none. */
static const char *list_protecting(const struct rows *prot, const struct addr_keys *kp)
{
    for (size_t k = 0; kp && k < kp->n; k++)
        for (size_t i = 0; i < prot->n; i++)
            if (strcmp(rows_cell(prot, i, 0), kp->key[k]) == 0)
                return rows_cell(prot, i, 0);
    return NULL;
}

/* The guardians of protected key R, ending R's entry. */
static void list_guardians(const struct rows *guard, const char *r, int json)
{
    int g = 0;

    for (size_t j = 0; j < guard->n; j++) {
        if (strcmp(rows_cell(guard, j, 0), r) != 0)
            continue;
        if (json) {
            printf("%s", g ? "," : "");
            json_string(stdout, rows_cell(guard, j, 1));
        } else {
            printf(" %s", rows_cell(guard, j, 1));
        }
        g++;
    }
    printf(json ? "]}" : (g ? "\n" : " (none)\n"));
}

/* The protected keys (with --to: the one protecting it) and their guardians. */
static void list_show_protected(const struct list_tables *t, const struct addr_keys *kp, int json)
{
    const char *protecting = list_protecting(&t->prot, kp);
    int n = 0;

    printf(json ? "{\"protected\":[" : "Protected recipients:\n");
    for (size_t i = 0; i < t->prot.n; i++) {
        const char *r = rows_cell(&t->prot, i, 0);
        if (kp && (!protecting || strcmp(r, protecting) != 0))
            continue;
        if (json) {
            printf("%s{\"recipient\":", n ? "," : "");
            json_string(stdout, r);
            printf(",\"class\":");
            json_string(stdout, rows_cell(&t->prot, i, 1));
            printf(",\"guardians\":[");
        } else {
            printf("  %-40s guardians:", r);
        }
        list_guardians(&t->guard, r, json);
        n++;
    }
    if (!json && n == 0)
        printf("  (none)\n");
}

/* The rules: per-recipient ones (with --to: those of its keys), then the
 * global ones; ends the listing. */
static void list_show_rules(const struct list_tables *t, const struct addr_keys *kp, int json)
{
    int n = 0;

    const char *ways = t->both_ways ? "  (both ways)" : "";

    printf(json ? "],\"rules\":[" : "Rules (per-recipient rules win over global ones):\n");
    if (!json && t->both_ways)
        printf("  Both ways: a rule decides mail from SENDER to the protected recipient, and the\n"
               "  protected child's own mail to SENDER ([policy] outbound = on).\n");
    for (size_t i = 0; i < t->per.n; i++) {
        if (kp && !in_keys(kp, rows_cell(&t->per, i, 0)))
            continue;
        if (json) {
            printf("%s{\"scope\":\"recipient\",\"recipient\":", n ? "," : "");
            json_string(stdout, rows_cell(&t->per, i, 0));
            printf(",\"sender\":");
            json_string(stdout, rows_cell(&t->per, i, 1));
            printf(",\"action\":");
            json_string(stdout, rows_cell(&t->per, i, 2));
            printf(",\"both_ways\":%s}", t->both_ways ? "true" : "false");
        } else {
            printf("  to %-37s from %-30s %s%s\n", rows_cell(&t->per, i, 0), rows_cell(&t->per, i, 1),
                   rows_cell(&t->per, i, 2), ways);
        }
        n++;
    }
    for (size_t i = 0; i < t->global.n; i++) {
        if (json) {
            printf("%s{\"scope\":\"global\",\"recipient\":null,\"sender\":", n ? "," : "");
            json_string(stdout, rows_cell(&t->global, i, 0));
            printf(",\"action\":");
            json_string(stdout, rows_cell(&t->global, i, 1));
            printf(",\"both_ways\":%s}", t->both_ways ? "true" : "false");
        } else {
            printf("  %-40s from %-30s %s%s\n", "(everyone protected)", rows_cell(&t->global, i, 0),
                   rows_cell(&t->global, i, 1), ways);
        }
        n++;
    }
    if (!json && n == 0)
        printf("  (none)\n");
    if (json)
        printf("]}\n");
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist list [--to RCPT] [--json]\n"
        "Lists protected recipients with their guardians, then the rules: global\n"
        "ones (table whitelist) and per-recipient ones (sender_rules).  With --to,\n"
        "only what applies to the address RCPT.  With [policy] outbound = on every rule\n"
        "works both ways (marked so; JSON both_ways): it also decides the protected\n"
        "child's own mail to SENDER.\n";
    const char *to = NULL;
    int json = 0;
    char err[600];
    struct addr a;
    struct addr_keys keys, *kp = NULL;

    int r = list_options(argc, argv, usage, &to, &json);
    if (r)
        return r < 0 ? EXIT_USAGE : 0;
    if (to) {
        if (addr_parse(to, cli->cfg.policy.recipient_delimiter, &a, err, sizeof(err)) < 0 || a.is_null)
            return cli_fail(EXIT_USAGE, "invalid recipient '%s': %s", to, a.is_null ? "empty" : err);
        addr_keys(&a, &keys);
        kp = &keys;
    }
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    struct list_tables t = { .both_ways = cli->cfg.policy.outbound };
    int rc = list_fetch(db, &t);
    if (rc == 0) {
        list_show_protected(&t, kp, json);
        list_show_rules(&t, kp, json);
    }
    list_tables_free(&t);
    return rc;
}
