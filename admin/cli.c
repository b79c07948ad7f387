/*
 * cli - what the guardlist CLI's commands share: the house format of its
 * messages, the database handle, exit codes for store_ results, option
 * helpers.  Everything of the CLI but main() (admin/guardlist.c), so that
 * unit tests can link the admin modules.
 */
#include "admin.h"
#include "rulesdb.h"
#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void say_v(FILE *f, const char *severity, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void say_v(FILE *f, const char *severity, const char *fmt, va_list ap)
{
    char msg[2048];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* Messages quote what was typed or read from Postfix's tables: keep
     * control characters (escape sequences, newlines) out of the terminal
     * and the one-line format. */
    fprintf(f, "guardlist: %s: ", severity);
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('\n', f);
}

void cli_say(FILE *f, const char *severity, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say_v(f, severity, fmt, ap);
    va_end(ap);
}

void cli_db_notice(int warning, const char *line)
{
    if (warning)
        cli_say(stderr, "warning", "%s", line);
}

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say_v(stderr, "error", fmt, ap);
    va_end(ap);
    return code;
}

struct db *cli_db(struct cli *cli)
{
    struct config_db p;
    char err[600];

    if (cli->db)
        return cli->db;
    cli->db_status = EXIT_RUNTIME;
    if (config_db_for(&cli->cfg, &cli->cfg.admin.account, &p, err, sizeof(err)) < 0) {
        cli->db_status = cli_fail(EXIT_USAGE, "%s", err);
        return NULL;
    }
    cli->db = db_new(&p);
    explicit_bzero(&p, sizeof(p));
    if (!cli->db) {
        cli_fail(EXIT_RUNTIME, "out of memory");
        return NULL;
    }
    if (db_connect(cli->db, err, sizeof(err)) < 0) {
        cli_fail(EXIT_RUNTIME, "%s", err);
        db_free(cli->db);
        cli->db = NULL;
        return NULL;
    }
    return cli->db;
}

struct ruleset *cli_rules(struct cli *cli, int *status)
{
    char err[600];
    struct rulesdb_skips skips;
    struct db *db = cli_db(cli);

    *status = cli->db_status;
    if (!db)
        return NULL;
    struct ruleset *rs = rulesdb_load(db, &skips, NULL, err, sizeof(err));
    if (!rs) {
        *status = cli_fail(EXIT_RUNTIME, "cannot load the rules: %s", err);
        return NULL;
    }
    if (skips.count)
        fprintf(stderr, "guardlist: warning: %zu unusable rule rows are ignored, first: %s\n", skips.count,
                skips.first);
    return rs;
}

int cli_store_exit(int rc, const char *err)
{
    switch (rc) {
    case STORE_DONE:
        return 0;
    case STORE_INVALID:
        return cli_fail(EXIT_USAGE, "%s", err);
    case STORE_NOTFOUND:
        return cli_fail(EXIT_RUNTIME, "%s", err);
    default:
        return cli_fail(EXIT_RUNTIME, "database: %s", err);
    }
}

int cli_parse_id(const char *s, unsigned long long *id)
{
    char *end;

    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 19)
        return -1;
    errno = 0;
    *id = strtoull(s, &end, 10);
    return (errno || *end || *id == 0) ? -1 : 0;
}

int cli_want_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        }
    }
    return 0;
}
