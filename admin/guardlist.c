/*
 * guardlist - the admin CLI: schema, protection, rules, the pending queue,
 * explaining a decision, backups and Postfix snippets.
 *
 * Every change goes through lib/store.c (validation, one transaction with
 * its audit row); decisions are explained with lib/decide.c, the daemon's
 * own code.  Exit status: 0 ok, 1 runtime failure or not found, 2 usage or
 * invalid input (then nothing was written).
 */
#include "admin.h"
#include "cover.h"

#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VERSION "0.1.0"

static const char usage_text[] =
    "Usage: guardlist [-c FILE] [--actor NAME] COMMAND [ARGS]\n"
    "\n"
    "Manage guardlist: protected recipients, sender rules and the pending queue.\n"
    "\n"
    "Commands:\n"
    "  db init [--secrets-dir DIR]     create or upgrade the schema and the program accounts\n"
    "  db migrate | db status          upgrade the schema / show its state\n"
    "  protect ADDR [--guardian EMAIL]...   protect a recipient key\n"
    "  unprotect ADDR                  stop protecting it\n"
    "  guardian add|remove RCPT EMAIL  change who approves for a protected key\n"
    "  guardian list [RCPT] [--json]\n"
    "  allow SENDER [--to RCPT]        let a sender through (everywhere, or to RCPT)\n"
    "  block SENDER [--to RCPT] [--message TEXT]\n"
    "  rule set SENDER ACTION [--to RCPT]   any access(5) action\n"
    "  rule rm SENDER [--to RCPT]\n"
    "  list [--to RCPT] [--json]       protected recipients and rules\n"
    "  pending [--all] [--json]        challenges waiting for a guardian\n"
    "  approve ID [--domain]           allow the challenge's sender (or its domain and subdomains)\n"
    "  deny ID                         refuse it\n"
    "  expire                          expire old challenges, purge old closed ones\n"
    "  check SENDER RCPT [--json]      what the daemon decides right now, and why\n"
    "  stats [--json] [--prometheus FILE]   figures: rules, challenges, time to decide\n"
    "  contacts import --child ADDR [--format vcard|csv] [--dry-run] FILE\n"
    "                                  a child's address book (vCard, CSV) as approved contacts\n"
    "  account add LOGIN ADDR | account remove LOGIN | account list [--json]\n"
    "                                  a child's submission login that is not its address\n"
    "  import-article [--dsn DSN]      convert the article's database in place\n"
    "  export [FILE] | import FILE     plain text backup and exact restore\n"
    "  postfix-config [--lookup-tables [--dir DIR]]   main.cf lines for Postfix\n"
    "  doctor [--postfix DIR] [--fix]  find where Postfix delivers to a protected address\n"
    "                                  unasked (aliases, local domains, restrictions)\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration (default $GUARDLIST_CONFIG, else " CONFIG_DEFAULT_PATH ")\n"
    "      --actor NAME    who is named in the audit log (default: the login user)\n"
    "  -h, --help          this help; `guardlist COMMAND --help` for one command\n"
    "  -V, --version\n"
    "\n"
    "Addresses: a full address, a user@ key (that user in every domain), a domain\n"
    "(and its subdomains), or <> (the null sender).  Exit status: 0 ok, 1 failure\n"
    "or not found, 2 usage or invalid input (nothing written).\n";

static const struct {
    const char *name;
    cmd_fn fn;
} commands[] = {
    { "db", cmd_db },
    { "protect", cmd_protect },
    { "unprotect", cmd_unprotect },
    { "guardian", cmd_guardian },
    { "allow", cmd_allow },
    { "block", cmd_block },
    { "rule", cmd_rule },
    { "list", cmd_list },
    { "pending", cmd_pending },
    { "approve", cmd_approve },
    { "deny", cmd_deny },
    { "expire", cmd_expire },
    { "check", cmd_check },
    { "stats", cmd_stats },
    { "contacts", cmd_contacts },
    { "account", cmd_account },
    { "import-article", cmd_import_article },
    { "export", cmd_export },
    { "import", cmd_import },
    { "postfix-config", cmd_postfix_config },
    { "doctor", cmd_doctor },
};

/* Global options and --actor, the command, the configuration (unless --help), then the command. */
int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "actor", required_argument, NULL, 'a' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    struct cli cli = { 0 };
    char err[600];
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': cli.config_file = optarg; break;
        case 'a': cli.actor = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': printf("guardlist %s\n", VERSION); return 0;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    if (!cli.actor) {
        struct passwd *pw = getpwuid(getuid());
        cli.actor = pw ? pw->pw_name : "unknown";
    }
    for (const unsigned char *p = (const unsigned char *)cli.actor; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return cli_fail(EXIT_USAGE, "--actor contains a control character");
    if (strlen(cli.actor) == 0 || strlen(cli.actor) > 255)
        return cli_fail(EXIT_USAGE, "--actor must be 1 to 255 bytes");

    const char *name = argv[optind];
    cmd_fn fn = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            fn = commands[i].fn;
    if (!fn)
        return cli_fail(EXIT_USAGE, "unknown command '%s' (see guardlist --help)", name);

    config_defaults(&cli.cfg);
    /* A command's --help needs no configuration. */
    int cargc = argc - optind;
    char **cargv = argv + optind;
    int asks_help = 0;
    for (int i = 1; i < cargc; i++)
        if (strcmp(cargv[i], "--help") == 0 || strcmp(cargv[i], "-h") == 0)
            asks_help = 1;
    if (!asks_help && config_load(&cli.cfg, config_path(cli.config_file), err, sizeof(err)) < 0)
        return cli_fail(EXIT_USAGE, "%s", err);
    cover_set_delimiters(cli.cfg.policy.recipient_delimiter);
    db_set_notice(cli_db_notice);
    optind = 0;     /* the command parses its own options */
    rc = fn(&cli, cargc, cargv);
    db_free(cli.db);
    return rc;
}
