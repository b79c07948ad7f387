/*
 * db - guardlist db init/migrate/status and import-article: the schema, its
 * versioned upgrades (including from the article's two tables), and the
 * least-privilege program accounts.
 *
 * SQL here is guardlist's own constant text; the only values put into it
 * are checked first (database name: [A-Za-z0-9_]; generated passwords: hex).
 */
#include "admin.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* sql/schema.sql creates whatever is missing (new tables such as version 2's
 * notifications included) and records the versions it brings.  Changes to
 * existing tables are sql/migrations/NNN_*.sql, oldest first (embedded as
 * sql_migrations[]); each runs once, when the database is older, and must
 * record its version.  The newest migration is this program's version. */
#define SCHEMA_VERSION (sql_migrations[sql_migrations_count - 1].version)

/* One number, or -1 when there is no row or it is NULL; -2 on error. */
static long long scalar(struct db *db, const char *sql, const char *param, char *err, size_t errlen)
{
    long long v;
    const char *p[1] = { param };

    return db_query_number(db, sql, p, param ? 1 : 0, &v, err, errlen) < 0 ? -2 : v;
}

static int table_exists(struct db *db, const char *table, char *err, size_t errlen)
{
    long long n = scalar(db, "SELECT COUNT(*) FROM information_schema.tables "
                             "WHERE table_schema = DATABASE() AND table_name = ?", table, err, errlen);
    return n < -1 ? -1 : n > 0;
}

static int has_id_column(struct db *db, const char *table, char *err, size_t errlen)
{
    long long n = scalar(db, "SELECT COUNT(*) FROM information_schema.columns "
                             "WHERE table_schema = DATABASE() AND table_name = ? AND column_name = 'id'",
                         table, err, errlen);
    return n < -1 ? -1 : n > 0;
}

/* The article's tables (VARCHAR(50) addresses, VARCHAR(2) action, any engine
 * and charset) become guardlist's: wider columns, utf8mb4, binary key
 * columns, and invisible id/created_at columns after the article's own.
 * Every row is kept. */
static const char article_protected[] =
    "ALTER TABLE protected_users ENGINE=InnoDB, "
    "CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, "
    "MODIFY recipient VARCHAR(255) NOT NULL, "
    "MODIFY class VARCHAR(64) NOT NULL DEFAULT 'whitelist', "
    "ADD COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT INVISIBLE, "
    "ADD COLUMN created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP INVISIBLE, "
    "ADD PRIMARY KEY (id);\n"
    /* After CONVERT TO, which would override it in the same statement. */
    "ALTER TABLE protected_users "
    "MODIFY recipient VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL";
static const char article_whitelist[] =
    "ALTER TABLE whitelist ENGINE=InnoDB, "
    "CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, "
    "MODIFY sender VARCHAR(255) NOT NULL, "
    "MODIFY action VARCHAR(255) NOT NULL, "
    "ADD COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT INVISIBLE, "
    "ADD COLUMN created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP INVISIBLE, "
    "ADD PRIMARY KEY (id);\n"
    "ALTER TABLE whitelist MODIFY sender VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL";

/* Brings the schema from whatever version it has (*FROM; 0: the article's two
 * tables, -1: none) to SCHEMA_VERSION (*TO), for db init/migrate and
 * import-article.  Returns 0, or -1 with ERR. */
static int schema_migrate(struct db *db, const char *dbname, int *from, int *to, char *err, size_t errlen)
{
    int has_version = table_exists(db, "schema_version", err, errlen);

    (void)dbname;
    if (has_version < 0)
        return -1;
    if (has_version) {
        long long v = scalar(db, "SELECT MAX(version) FROM schema_version", NULL, err, errlen);
        if (v < -1)
            return -1;
        *from = (int)v;
    } else {
        int p = table_exists(db, "protected_users", err, errlen);
        int w = p < 0 ? -1 : table_exists(db, "whitelist", err, errlen);
        if (p < 0 || w < 0)
            return -1;
        *from = (p || w) ? 0 : -1;      /* 0: the article's tables; -1: empty */
        static const struct { const char *table, *sql; } article[] = {
            { "protected_users", article_protected },
            { "whitelist", article_whitelist },
        };
        for (size_t i = 0; i < 2; i++) {
            int exists = table_exists(db, article[i].table, err, errlen);
            int done = exists > 0 ? has_id_column(db, article[i].table, err, errlen) : 0;
            if (exists < 0 || done < 0)
                return -1;
            if (exists && !done && db_exec_script(db, article[i].sql, err, errlen) < 0)
                return -1;
        }
    }
    if (*from > SCHEMA_VERSION) {
        snprintf(err, errlen, "the database has schema version %d, newer than this guardlist (%d)",
                 *from, SCHEMA_VERSION);
        return -1;
    }
    /* schema.sql creates what is missing (tables in their newest form,
     * triggers) and records the versions; then the upgrades of tables that
     * already existed.  Every upgrade is idempotent (IF NOT EXISTS). */
    if (db_exec_script(db, sql_schema, err, errlen) < 0)
        return -1;
    int migrated = 0;
    for (size_t i = 0; i < sql_migrations_count; i++) {
        if (sql_migrations[i].version <= *from || *from < 1)
            continue;
        if (db_exec_script(db, sql_migrations[i].sql, err, errlen) < 0)
            return -1;
        migrated = 1;
    }
    /* Again, for what a migration dropped to be recreated in its new form. */
    if (migrated && db_exec_script(db, sql_schema, err, errlen) < 0)
        return -1;
    *to = SCHEMA_VERSION;
    return 0;
}

static const char *const roles[] = { "daemon", "notifier", "approver", "web" };

static int valid_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* A password is put into CREATE/ALTER USER as a quoted literal (these cannot
 * take bound parameters), so it must be plain printable ASCII without quote
 * or backslash: generated ones are hex; an admin's own choice is checked. */
static int password_ok(const char *pw)
{
    size_t n = strlen(pw);

    if (n < 12 || n > 100)
        return 0;
    for (const char *p = pw; *p; p++)
        if (*p < 0x21 || *p > 0x7e || *p == '\'' || *p == '\\')
            return 0;
    return 1;
}

/* Reads DIR/db-ROLE.secret if it exists (*exists = 1), checking it. */
static int read_role_secret(const char *dir, const char *role, char *pw, size_t pwlen, int *exists,
                            char *err, size_t errlen)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/db-%s.secret", dir, role);
    *exists = access(path, F_OK) == 0;
    if (!*exists)
        return 0;
    if (config_read_secret(path, pw, pwlen, err, errlen) < 0)
        return -1;
    if (!password_ok(pw)) {
        snprintf(err, errlen, "%.600s: the password must be 12 to 100 printable ASCII characters "
                 "without spaces, quotes or backslashes", path);
        return -1;
    }
    return 0;
}

/* Creates DIR/db-ROLE.secret (0600) with a fresh random password. */
static int new_role_secret(const char *dir, const char *role, char *pw, size_t pwlen, char *err, size_t errlen)
{
    char path[700], tmp[720];
    unsigned char raw[24];

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        snprintf(err, errlen, "getrandom: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(pw + 2 * i, pwlen - 2 * i, "%02x", raw[i]);
    snprintf(path, sizeof(path), "%s/db-%s.secret", dir, role);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %.600s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t n = strlen(pw);
    int ok = write(fd, pw, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot write %.600s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int create_accounts(struct db *db, const char *dbname, const char *dir, const char *host,
                           char *err, size_t errlen)
{
    char pw[4][128], sql[1024];
    int exists[4];

    /* Check every existing secret before anything changes, so a bad one
     * leaves all accounts (and the programs using them) as they were. */
    for (size_t i = 0; i < 4; i++)
        if (read_role_secret(dir, roles[i], pw[i], sizeof(pw[i]), &exists[i], err, errlen) < 0)
            goto fail;
    for (size_t i = 0; i < 4; i++)
        if (!exists[i] && new_role_secret(dir, roles[i], pw[i], sizeof(pw[i]), err, errlen) < 0)
            goto fail;
    for (size_t i = 0; i < 4; i++) {
        snprintf(sql, sizeof(sql),
                 "CREATE USER IF NOT EXISTS 'guardlist_%s'@'%s' IDENTIFIED BY '%s';"
                 "ALTER USER 'guardlist_%s'@'%s' IDENTIFIED BY '%s'",
                 roles[i], host, pw[i], roles[i], host, pw[i]);
        int rc = db_exec_script(db, sql, err, errlen);
        explicit_bzero(sql, sizeof(sql));
        if (rc < 0)
            goto fail;
        printf("account guardlist_%s@%s: password in %s/db-%s.secret%s\n", roles[i], host, dir, roles[i],
               exists[i] ? "" : " (new)");
    }
    explicit_bzero(pw, sizeof(pw));
    /* grants.sql names database `guardlist` and host localhost: put ours in. */
    size_t cap = strlen(sql_grants) * 2 + 1024;
    char *g = malloc(cap), *o = g;
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (const char *p = sql_grants; *p;) {
        if (strncmp(p, " guardlist.", 11) == 0) {
            o += sprintf(o, " `%s`.", dbname);
            p += 11;
        } else if (strncmp(p, "'@'localhost'", 13) == 0) {
            o += sprintf(o, "'@'%s'", host);
            p += 13;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    int rc = db_exec_script(db, g, err, errlen);
    free(g);
    return rc;
fail:
    explicit_bzero(pw, sizeof(pw));
    return -1;
}

/* guardlist db init: the database and its schema (created or upgraded), then the program accounts. */
static int db_init(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist db init [--secrets-dir DIR] [--account-host HOST] [--no-accounts]\n"
        "Creates the schema (or upgrades it, also from the article's tables), then the\n"
        "accounts guardlist_daemon, _notifier, _approver and _web with the least\n"
        "privileges each needs.  Their passwords go to DIR/db-ROLE.secret (mode 0600;\n"
        "an existing file's password is kept).  DIR defaults to the config file's\n"
        "folder; HOST to localhost.  Needs an account that may create tables and users.\n";
    static const struct option lo[] = { { "secrets-dir", required_argument, NULL, 's' },
                                        { "account-host", required_argument, NULL, 'H' },
                                        { "no-accounts", no_argument, NULL, 'n' },
                                        { "help", no_argument, NULL, 'h' }, { 0 } };
    const char *dir = NULL, *host = "localhost";
    int opt, from, to, accounts = 1;
    char err[800], dirbuf[CONFIG_STR_MAX], detail[256];

    while ((opt = getopt_long(argc, argv, "s:H:nh", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        } else if (opt == 's') {
            dir = optarg;
        } else if (opt == 'H') {
            host = optarg;
        } else if (opt == 'n') {
            accounts = 0;
        } else {
            return cli_fail(EXIT_USAGE, "see guardlist db init --help");
        }
    }
    if (optind != argc)
        return cli_fail(EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
    if (!valid_name(cli->cfg.db.name))
        return cli_fail(EXIT_USAGE, "database name '%s' must be letters, digits and _", cli->cfg.db.name);
    if (strspn(host, "abcdefghijklmnopqrstuvwxyz0123456789.-%:") != strlen(host) || !*host || strlen(host) > 60)
        return cli_fail(EXIT_USAGE, "--account-host '%s' is not a host name, address or pattern", host);
    if (!dir) {
        snprintf(dirbuf, sizeof(dirbuf), "%s", cli->cfg.path);
        dir = dirname(dirbuf);
    }
    struct stat st;
    if (accounts && (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)))
        return cli_fail(EXIT_USAGE, "secrets folder %s does not exist", dir);
    /* On a new server the database may not exist yet: connect without one,
     * create it if missing, then use it. */
    struct config_db p;
    char sql[1200];
    if (config_db_for(&cli->cfg, &cli->cfg.admin.account, &p, err, sizeof(err)) < 0)
        return cli_fail(EXIT_USAGE, "%s", err);
    p.name[0] = '\0';
    struct db *db = cli->db = db_new(&p);
    explicit_bzero(&p, sizeof(p));
    if (!db || db_connect(db, err, sizeof(err)) < 0)
        return cli_fail(EXIT_RUNTIME, "%s", db ? err : "out of memory");
    snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 "
             "COLLATE utf8mb4_general_ci; USE `%s`", cli->cfg.db.name, cli->cfg.db.name);
    if (db_exec_script(db, sql, err, sizeof(err)) < 0)
        return cli_fail(EXIT_RUNTIME, "cannot create or use database %s: %s", cli->cfg.db.name, err);
    if (schema_migrate(db, cli->cfg.db.name, &from, &to, err, sizeof(err)) < 0)
        return cli_fail(EXIT_RUNTIME, "schema: %s", err);
    if (from == -1)
        printf("schema version %d created in database %s\n", to, cli->cfg.db.name);
    else if (from == 0)
        printf("the article's tables converted; schema version %d\n", to);
    else
        printf("schema version %d (was %d)\n", to, from);
    if (accounts && create_accounts(db, cli->cfg.db.name, dir, host, err, sizeof(err)) < 0)
        return cli_fail(EXIT_RUNTIME, "accounts: %s", err);
    snprintf(detail, sizeof(detail), "schema %d -> %d%s", from, to, accounts ? ", accounts" : "");
    if (store_audit(db, cli->actor, "db-init", detail, err, sizeof(err)) < 0)
        return cli_fail(EXIT_RUNTIME, "audit: %s", err);
    return 0;
}

/* The rows keyreport.c finds, as warnings and a count.  Returns 0, or -1
 * after printing the error. */
static int warn_keys(struct db *db)
{
    char err[800];
    long long odd = keyreport_warn(db, err, sizeof(err));

    if (odd < 0)
        return cli_fail(EXIT_RUNTIME, "key report: %s", err), -1;
    if (odd > 0)
        fprintf(stderr, "guardlist: warning: %lld row%s whose keys do not compare as guardlist compares "
                "them (nothing was merged or dropped)\n", odd, odd == 1 ? "" : "s");
    return 0;
}

static int db_migrate(struct cli *cli, int argc, char **argv)
{
    int from, to;
    char err[800], detail[128];

    if (cli_want_help(argc, argv, "Usage: guardlist db migrate\n"
                      "Brings the schema to this guardlist's version (idempotent).\n"))
        return 0;
    if (argc != 1)
        return cli_fail(EXIT_USAGE, "db migrate takes no arguments");
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    if (schema_migrate(db, cli->cfg.db.name, &from, &to, err, sizeof(err)) < 0)
        return cli_fail(EXIT_RUNTIME, "schema: %s", err);
    if (warn_keys(db) < 0)
        return EXIT_RUNTIME;
    if (from == to) {
        printf("schema version %d: up to date\n", to);
        return 0;
    }
    printf("schema version %d (was %s)\n", to, from < 0 ? "empty" : from == 0 ? "the article's tables" : "older");
    /* The grants grow with the schema (version 5: the approver reads
     * guardians; 6: it reads whitelist and writes decided_rule; 7: the
     * daemon writes spf_result; 9: and direction; 10: it reads accounts); db init applies them, migrate does not
     * touch accounts. */
    if (from >= 1 && from < 6)
        printf("run `guardlist db init` once more to give the programs' accounts this version's grants "
               "(the approval page now reads guardians and whitelist: without it every link answers 503)\n");
    else if (from == 6)
        printf("run `guardlist db init` once more to give the programs' accounts this version's grants "
               "(with [policy] spf = on guardlistd records the SPF verdict: without it every new challenge "
               "answers 451)\n");
    else if (from >= 7 && from < 10)
        printf("run `guardlist db init` once more to give the programs' accounts this version's grants "
               "(guardlistd reads the accounts table of guardlist account and records a child's new "
               "contacts: without them it cannot load its rules, or answers each new contact 451)\n");
    snprintf(detail, sizeof(detail), "schema %d -> %d", from, to);
    if (store_audit(db, cli->actor, "db-migrate", detail, err, sizeof(err)) < 0)
        return cli_fail(EXIT_RUNTIME, "audit: %s", err);
    return 0;
}

static int db_status(struct cli *cli, int argc, char **argv)
{
    static const char *const tables[] = { "protected_users", "whitelist", "guardians", "sender_rules",
                                          "challenges", "audit_log" };
    static const char *const counts[] = {
        "SELECT COUNT(*) FROM protected_users", "SELECT COUNT(*) FROM whitelist",
        "SELECT COUNT(*) FROM guardians", "SELECT COUNT(*) FROM sender_rules",
        "SELECT COUNT(*) FROM challenges", "SELECT COUNT(*) FROM audit_log",
    };
    char err[800];

    if (cli_want_help(argc, argv, "Usage: guardlist db status\n"
                      "Shows the schema version, row counts and the rule change counter.\n"))
        return 0;
    if (argc != 1)
        return cli_fail(EXIT_USAGE, "db status takes no arguments");
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    int has = table_exists(db, "schema_version", err, sizeof(err));
    if (has < 0)
        return cli_fail(EXIT_RUNTIME, "database: %s", err);
    if (!has)
        return cli_fail(EXIT_RUNTIME, "database %s has no guardlist schema (run guardlist db init)", cli->cfg.db.name);
    long long v = scalar(db, "SELECT MAX(version) FROM schema_version", NULL, err, sizeof(err));
    if (v < -1)
        return cli_fail(EXIT_RUNTIME, "database: %s", err);
    printf("database %s: schema version %lld%s\n", cli->cfg.db.name, v,
           v == SCHEMA_VERSION ? "" : v < SCHEMA_VERSION ? " (run guardlist db migrate)" : " (newer than this guardlist)");
    for (size_t i = 0; i < 6; i++) {
        long long n = scalar(db, counts[i], NULL, err, sizeof(err));
        if (n < -1)
            return cli_fail(EXIT_RUNTIME, "database: %s", err);
        printf("  %-16s %lld rows\n", tables[i], n);
    }
    long long pending = scalar(db, "SELECT COUNT(*) FROM challenges WHERE status = 'pending'", NULL, err, sizeof(err));
    long long gen = scalar(db, "SELECT generation FROM rule_generation WHERE id = 1", NULL, err, sizeof(err));
    printf("  pending challenges: %lld\n  rule generation: %lld\n", pending, gen);
    return 0;
}

int cmd_db(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist db init [--secrets-dir DIR]\n"
        "       guardlist db migrate\n"
        "       guardlist db status\n";

    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "init") == 0)
        return db_init(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "migrate") == 0)
        return db_migrate(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0)
        return db_status(cli, argc - 1, argv + 1);
    return cli_fail(EXIT_USAGE, "unknown db command '%s' (init, migrate, status)", argv[1]);
}

/* DSN: "key=value;..." with host, port, socket, name, user, password_file. */
static int parse_dsn(const char *dsn, struct config_db *out, char *err, size_t errlen)
{
    char buf[2048], *save = NULL, why[300];
    int server = 0;         /* the DSN names the server: the configuration's socket and hosts go */

    if (strlen(dsn) >= sizeof(buf)) {
        snprintf(err, errlen, "--dsn is too long");
        return -1;
    }
    memcpy(buf, dsn, strlen(dsn) + 1);
    for (char *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            snprintf(err, errlen, "--dsn part '%.60s' is not key=value", kv);
            return -1;
        }
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        char *field = NULL;
        if (strcmp(k, "host") == 0) {
            if (!server++)
                out->socket[0] = '\0';
            if (config_db_hosts(out, v, why, sizeof(why)) < 0) {
                snprintf(err, errlen, "--dsn %s", why);
                return -1;
            }
            continue;
        }
        if (strcmp(k, "socket") == 0) {
            if (!server++)
                out->nhosts = 0;
            field = out->socket;
        } else if (strcmp(k, "name") == 0) field = out->name;
        else if (strcmp(k, "user") == 0) field = out->user;
        else if (strcmp(k, "password_file") == 0) field = out->password_file;
        else if (strcmp(k, "port") == 0) {
            char *end;
            long port = strtol(v, &end, 10);
            if (*end || port < 1 || port > 65535) {
                snprintf(err, errlen, "--dsn port must be 1 to 65535");
                return -1;
            }
            out->port = (int)port;
            continue;
        } else {
            snprintf(err, errlen, "--dsn key '%.40s' is unknown (host, port, socket, name, user, password_file)", k);
            return -1;
        }
        if (strlen(v) >= CONFIG_STR_MAX) {
            snprintf(err, errlen, "--dsn value of %s is too long", k);
            return -1;
        }
        memcpy(field, v, strlen(v) + 1);
    }
    if (out->password_file[0]) {
        if (config_read_secret(out->password_file, out->password, sizeof(out->password), err, errlen) < 0)
            return -1;
    } else {
        out->password[0] = '\0';
    }
    return 0;
}

/* guardlist import-article: the article's two tables converted in place, every row kept and counted. */
int cmd_import_article(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist import-article [--dsn DSN]\n"
        "Converts, in place, a database built from the article (tables protected_users\n"
        "and whitelist) into guardlist's schema, keeping every row.  DSN is\n"
        "\"key=value;...\" with host, port, socket, name, user, password_file; unset\n"
        "keys come from the configuration.\n";
    static const struct option lo[] = { { "dsn", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' }, { 0 } };
    const char *dsn = NULL;
    int opt, from, to;
    char err[800], detail[256];
    struct config_db p;

    while ((opt = getopt_long(argc, argv, "d:h", lo, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        } else if (opt == 'd') {
            dsn = optarg;
        } else {
            return cli_fail(EXIT_USAGE, "see guardlist import-article --help");
        }
    }
    if (optind != argc)
        return cli_fail(EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
    struct db *db;
    if (dsn) {
        if (config_db_for(&cli->cfg, &cli->cfg.admin.account, &p, err, sizeof(err)) < 0)
            return cli_fail(EXIT_USAGE, "%s", err);
        if (parse_dsn(dsn, &p, err, sizeof(err)) < 0)
            return cli_fail(EXIT_USAGE, "%s", err);
        db = db_new(&p);
        explicit_bzero(&p, sizeof(p));
        if (!db || db_connect(db, err, sizeof(err)) < 0) {
            db_free(db);
            return cli_fail(EXIT_RUNTIME, "%s", err);
        }
        cli->db = db;       /* freed by main */
    } else {
        db = cli_db(cli);
        if (!db)
            return cli->db_status;
    }
    long long before_p = -1, before_w = -1;
    if (table_exists(db, "protected_users", err, sizeof(err)) == 1)
        before_p = scalar(db, "SELECT COUNT(*) FROM protected_users", NULL, err, sizeof(err));
    if (table_exists(db, "whitelist", err, sizeof(err)) == 1)
        before_w = scalar(db, "SELECT COUNT(*) FROM whitelist", NULL, err, sizeof(err));
    if (before_p < 0 && before_w < 0)
        return cli_fail(EXIT_RUNTIME, "no article tables (protected_users, whitelist) in this database");
    if (schema_migrate(db, NULL, &from, &to, err, sizeof(err)) < 0)
        return cli_fail(EXIT_RUNTIME, "conversion failed: %s", err);
    long long after_p = scalar(db, "SELECT COUNT(*) FROM protected_users", NULL, err, sizeof(err));
    long long after_w = scalar(db, "SELECT COUNT(*) FROM whitelist", NULL, err, sizeof(err));
    printf("%s: protected_users %lld rows, whitelist %lld rows; schema version %d\n",
           from == 0 ? "converted" : "already converted", after_p, after_w, to);
    if (warn_keys(db) < 0)
        return EXIT_RUNTIME;
    if ((before_p >= 0 && after_p != before_p) || (before_w >= 0 && after_w != before_w))
        return cli_fail(EXIT_RUNTIME, "row counts changed (%lld/%lld before, %lld/%lld after)", before_p, before_w,
                        after_p, after_w);
    snprintf(detail, sizeof(detail), "from=%d protected_users=%lld whitelist=%lld", from, after_p, after_w);
    if (from != to && store_audit(db, cli->actor, "import-article", detail, err, sizeof(err)) < 0)
        return cli_fail(EXIT_RUNTIME, "audit: %s", err);
    return 0;
}
