/*
 * account - guardlist account add/remove/list: SASL logins an admin maps to
 * a protected child, for a child whose submission login is not its own
 * address (issue 21).  Changes go through lib/store.c (audited); the
 * listing judges each mapping as guardlistd does (lib/account.c).
 */
#include "admin.h"
#include "decide.h"
#include "json.h"
#include "ruleset.h"
#include "store.h"

#include <string.h>

static const char usage[] = "Usage: guardlist account add LOGIN ADDRESS\n"
    "       guardlist account remove LOGIN\n"
    "       guardlist account list [--json]\n"
    "A child whose login on the submission service (sasl_username) is not its own\n"
    "address (kid, kid@mail.family.test) is held to the contacts of ADDRESS, a\n"
    "protected address, like a child that logs in as ADDRESS.  Logins compare\n"
    "without regard to ASCII case.  A mapping to an address that is no longer\n"
    "protected is not in force (list says so); the login is then read as an\n"
    "address, as without a mapping.\n";

/* Prints the mappings, each judged by RS (the rules guardlistd holds). */
static void account_print(const struct rows *r, const struct ruleset *rs, const char *delims, int json)
{
    if (!json && r->n == 0) {
        printf("no accounts\n");
        return;
    }
    if (json)
        printf("[");
    else
        printf("%-32s %-40s %-8s %s\n", "LOGIN", "ADDRESS", "IN FORCE", "ADDED");
    for (size_t i = 0; i < r->n; i++) {
        const char *login = rows_cell(r, i, 0), *address = rows_cell(r, i, 1);
        int on = decide_protected(rs, address, delims);
        if (json) {
            printf("%s{\"login\":", i ? "," : "");
            json_string(stdout, login);
            printf(",\"address\":");
            json_string(stdout, address);
            printf(",\"in_force\":%s,\"created_at\":", on ? "true" : "false");
            json_string(stdout, rows_cell(r, i, 2));
            printf(",\"created_by\":");
            json_string(stdout, rows_cell(r, i, 3));
            printf("}");
        } else {
            printf("%-32s %-40s %-8s %s by %s\n", login, address, on ? "yes" : "no (not protected)",
                   rows_cell(r, i, 2), rows_cell(r, i, 3) ? rows_cell(r, i, 3) : "-");
        }
    }
    if (json)
        printf("]\n");
}

static int account_list(struct cli *cli, int json)
{
    char err[600];
    struct rows r = { 0 };
    int status;
    struct ruleset *rs = cli_rules(cli, &status);

    if (!rs)
        return status;
    if (db_query(cli->db, "SELECT login, address, created_at, created_by FROM accounts ORDER BY login", NULL, 0,
                 rows_collect, &r, err, sizeof(err)) < 0) {
        rows_free(&r);
        ruleset_free(rs);
        return cli_fail(EXIT_RUNTIME, "database: %s", err);
    }
    account_print(&r, rs, cli->cfg.policy.recipient_delimiter, json);
    rows_free(&r);
    ruleset_free(rs);
    return 0;
}

int cmd_account(struct cli *cli, int argc, char **argv)
{
    char err[600];

    if (cli_want_help(argc, argv, usage))
        return 0;
    if (argc < 2)
        return cli_fail(EXIT_USAGE, "account needs add, remove or list (see guardlist account --help)");
    const char *sub = argv[1];
    if (strcmp(sub, "list") == 0) {
        if (argc > 3 || (argc == 3 && strcmp(argv[2], "--json") != 0))
            return cli_fail(EXIT_USAGE, "unexpected argument '%s'", argv[2]);
        return account_list(cli, argc == 3);
    }
    int add = strcmp(sub, "add") == 0;
    if (!add && strcmp(sub, "remove") != 0)
        return cli_fail(EXIT_USAGE, "unknown account command '%s' (see guardlist account --help)", sub);
    if (argc != (add ? 4 : 3))
        return cli_fail(EXIT_USAGE, add ? "account add takes LOGIN and ADDRESS" : "account remove takes LOGIN");
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    int rc = add ? store_account_set(db, cli->actor, argv[2], argv[3], err, sizeof(err))
                 : store_account_remove(db, cli->actor, argv[2], err, sizeof(err));
    if (rc == STORE_DONE)
        printf(add ? "account added\n" : "account removed\n");
    return cli_store_exit(rc, err);
}
