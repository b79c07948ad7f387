/*
 * backup - guardlist export / import: every table as plain text, restored
 * exactly (same ids, times and token hashes).
 *
 * Format: "# guardlist export" header, then per table a line
 * "@table NAME COLUMN..." followed by one line per row, values separated by
 * TAB with \\ \t \n \r escaped and \N for NULL; "@end" last; "# " lines
 * are comments.  Import checks the whole file before it changes anything,
 * then replaces every table in one transaction.  A file of schema version 2 (before the accounts table
 * and challenges.direction, version 10) is read too: its challenges are 'in'.
 */
#include "admin.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_PREFIX "# guardlist export, schema version "
#define FILE_VERSION 10         /* what export writes */
#define OLD_VERSION 2           /* also read by import */
#define MAX_COLS 24
/* For a person reading the file; import skips "# " lines (every row starts
 * with its id, a number). */
#define BOTH_WAYS_NOTE "# With [policy] outbound = on every rule (sender_rules, whitelist) works both ways: " \
    "it decides mail from the sender to the protected recipient and the protected child's own mail to the " \
    "sender; a challenge with direction out is a child asking to write to a new contact."

/* A table as a file of versions SINCE..UNTIL holds it. */
struct table_spec {
    const char *name;
    int since, until;
    const char *columns;        /* as written in the file */
    int ncol;
    const char *select;         /* constant SQL: values as text */
    const char *insert;         /* constant SQL with ncol parameters */
};

static const struct table_spec tables[] = {
    { "protected_users", OLD_VERSION, FILE_VERSION, "id recipient class created_at", 4,
      "SELECT id, recipient, class, created_at FROM protected_users ORDER BY id",
      "INSERT INTO protected_users (id, recipient, class, created_at) VALUES (?, ?, ?, ?)" },
    { "whitelist", OLD_VERSION, FILE_VERSION, "id sender action created_at", 4,
      "SELECT id, sender, action, created_at FROM whitelist ORDER BY id",
      "INSERT INTO whitelist (id, sender, action, created_at) VALUES (?, ?, ?, ?)" },
    { "guardians", OLD_VERSION, FILE_VERSION, "id recipient email created_at", 4,
      "SELECT id, recipient, email, created_at FROM guardians ORDER BY id",
      "INSERT INTO guardians (id, recipient, email, created_at) VALUES (?, ?, ?, ?)" },
    { "sender_rules", OLD_VERSION, FILE_VERSION, "id recipient sender action created_at created_by", 6,
      "SELECT id, recipient, sender, action, created_at, created_by FROM sender_rules ORDER BY id",
      "INSERT INTO sender_rules (id, recipient, sender, action, created_at, created_by) "
      "VALUES (?, ?, ?, ?, ?, ?)" },
    { "challenges", OLD_VERSION, OLD_VERSION,
      "id token_sha256 sender recipient protected_key status is_open client_address client_name "
      "first_seen last_seen attempts notify_state notify_claimed_until notify_attempts notify_next_at "
      "notify_error notified_at token_expires_at decided_at decided_by", 21,
      "SELECT id, HEX(token_sha256), sender, recipient, protected_key, status, is_open, client_address, "
      "client_name, first_seen, last_seen, attempts, notify_state, notify_claimed_until, notify_attempts, "
      "notify_next_at, notify_error, notified_at, token_expires_at, decided_at, decided_by "
      "FROM challenges ORDER BY id",
      "INSERT INTO challenges (id, token_sha256, sender, recipient, protected_key, status, is_open, "
      "client_address, client_name, first_seen, last_seen, attempts, notify_state, notify_claimed_until, "
      "notify_attempts, notify_next_at, notify_error, notified_at, token_expires_at, decided_at, decided_by) "
      "VALUES (?, UNHEX(?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" },
    /* Version 10: who asked, the sender or the child (direction 'out'). */
    { "challenges", FILE_VERSION, FILE_VERSION,
      "id token_sha256 sender recipient protected_key status is_open client_address client_name "
      "first_seen last_seen attempts notify_state notify_claimed_until notify_attempts notify_next_at "
      "notify_error notified_at token_expires_at decided_at decided_by direction", 22,
      "SELECT id, HEX(token_sha256), sender, recipient, protected_key, status, is_open, client_address, "
      "client_name, first_seen, last_seen, attempts, notify_state, notify_claimed_until, notify_attempts, "
      "notify_next_at, notify_error, notified_at, token_expires_at, decided_at, decided_by, direction "
      "FROM challenges ORDER BY id",
      "INSERT INTO challenges (id, token_sha256, sender, recipient, protected_key, status, is_open, "
      "client_address, client_name, first_seen, last_seen, attempts, notify_state, notify_claimed_until, "
      "notify_attempts, notify_next_at, notify_error, notified_at, token_expires_at, decided_at, decided_by, "
      "direction) VALUES (?, UNHEX(?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" },
    { "accounts", FILE_VERSION, FILE_VERSION, "id login address created_at created_by", 5,
      "SELECT id, login, address, created_at, created_by FROM accounts ORDER BY id",
      "INSERT INTO accounts (id, login, address, created_at, created_by) VALUES (?, ?, ?, ?, ?)" },
    { "notifications", OLD_VERSION, FILE_VERSION, "id challenge_id guardian kind digest_of message_id sent_at token_sha256 token_expires_at", 9,
      "SELECT id, challenge_id, guardian, kind, digest_of, message_id, sent_at, HEX(token_sha256), "
      "token_expires_at FROM notifications ORDER BY id",
      "INSERT INTO notifications (id, challenge_id, guardian, kind, digest_of, message_id, sent_at, "
      "token_sha256, token_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, UNHEX(?), ?)" },
    { "audit_log", OLD_VERSION, FILE_VERSION, "id at actor action detail", 5,
      "SELECT id, at, actor, action, detail FROM audit_log ORDER BY id",
      "INSERT INTO audit_log (id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)" },
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

/* Deleting in this order, inserting in the file's, keeps any future
 * foreign keys happy; DELETE (not TRUNCATE) so it is one transaction.  An
 * old file without the accounts table leaves none behind either. */
static const char *const deletes[] = {
    "DELETE FROM audit_log", "DELETE FROM notifications", "DELETE FROM accounts", "DELETE FROM challenges",
    "DELETE FROM sender_rules", "DELETE FROM guardians", "DELETE FROM whitelist", "DELETE FROM protected_users",
};
#define NDELETES (sizeof(deletes) / sizeof(deletes[0]))

/* 1 if a file of VERSION holds table spec T. */
static int spec_in(size_t t, int version)
{
    return tables[t].since <= version && version <= tables[t].until;
}

static void put_escaped(FILE *f, const char *s)
{
    if (!s) {
        fputs("\\N", f);
        return;
    }
    for (; *s; s++) {
        switch (*s) {
        case '\\': fputs("\\\\", f); break;
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        default: fputc(*s, f);
        }
    }
}

static int row_export(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    FILE *f = arg;

    (void)len;
    for (int i = 0; i < ncol; i++) {
        if (i)
            fputc('\t', f);
        /* HEX() of NULL is NULL; an empty hex string stays empty. */
        put_escaped(f, col[i]);
    }
    fputc('\n', f);
    return ferror(f) ? 1 : 0;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist export [FILE]\n"
        "Writes every guardlist table to FILE (mode 0600) or standard output, as plain\n"
        "text that guardlist import restores exactly.\n";
    char err[800];
    FILE *f = stdout;

    if (cli_want_help(argc, argv, usage))
        return 0;
    if (argc > 2)
        return cli_fail(EXIT_USAGE, "export takes at most one file name");
    struct db *db = cli_db(cli);
    if (!db)
        return cli->db_status;
    if (argc == 2 && strcmp(argv[1], "-") != 0) {
        int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || !(f = fdopen(fd, "w"))) {
            if (fd >= 0)
                close(fd);
            return cli_fail(EXIT_RUNTIME, "cannot write %s: %s", argv[1], strerror(errno));
        }
    }
    /* One consistent snapshot of all tables. */
    int rc = 0;
    if (db_exec(db, "START TRANSACTION READ ONLY", NULL, 0, NULL, err, sizeof(err)) < 0) {
        rc = cli_fail(EXIT_RUNTIME, "database: %s", err);
        goto out;
    }
    fprintf(f, "%s%d\n%s\n", HEADER_PREFIX, FILE_VERSION, BOTH_WAYS_NOTE);
    for (size_t t = 0; t < NTABLES; t++) {
        if (!spec_in(t, FILE_VERSION))
            continue;
        fprintf(f, "@table %s %s\n", tables[t].name, tables[t].columns);
        if (db_query(db, tables[t].select, NULL, 0, row_export, f, err, sizeof(err)) < 0) {
            rc = cli_fail(EXIT_RUNTIME, "exporting %s: %s", tables[t].name, err);
            goto out;
        }
    }
    fprintf(f, "@end\n");
    db_exec(db, "COMMIT", NULL, 0, NULL, err, sizeof(err));
out:
    if (f != stdout) {
        if (fclose(f) != 0 && rc == 0)
            rc = cli_fail(EXIT_RUNTIME, "cannot write %s: %s", argv[1], strerror(errno));
    } else if (fflush(stdout) != 0 && rc == 0) {
        rc = cli_fail(EXIT_RUNTIME, "cannot write the export: %s", strerror(errno));
    }
    return rc;
}

/* Splits LINE in place into fields, unescaping; a field that is exactly \N
 * becomes NULL.  Returns the field count, or -1 on a bad escape. */
static int split_fields(char *line, char **field, int max)
{
    int n = 0, is_null = 0;
    char *o = line, *start = line;

    for (char *p = line;; p++) {
        if (*p == '\t' || *p == '\0') {
            int end = *p == '\0';
            *o = '\0';
            if (n == max)
                return -1;
            field[n++] = is_null ? NULL : start;
            if (end)
                break;
            start = o = p + 1;
            is_null = 0;
            continue;
        }
        if (is_null || *p == '\r')     /* \N must be the whole field; CR is always escaped */
            return -1;
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        p++;
        switch (*p) {
        case '\\': *o++ = '\\'; break;
        case 't': *o++ = '\t'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 'N':
            if (o != start)
                return -1;
            is_null = 1;
            break;
        default: return -1;
        }
    }
    return n;
}

struct parsed_row {
    int table;
    char *field[MAX_COLS];
};

/* An export file read whole, then checked line by line: each row's fields
 * point into TEXT.  Both are freed by import_file_free(). */
struct import_file {
    const char *path;
    char *text;
    struct parsed_row *rows;
    size_t nrows, cap;
    int version;                /* the header's: FILE_VERSION or OLD_VERSION */
    int current;                /* table of the rows that follow, -1 before any */
    int seen_end;
    int seen[NTABLES];
};

static void import_file_free(struct import_file *im)
{
    free(im->rows);
    free(im->text);
}

/* Reads PATH whole into IM->text.  Returns 0, or the exit status after
 * printing why. */
static int import_read(struct import_file *im)
{
    struct stat st;
    FILE *f = fopen(im->path, "r");

    if (!f)
        return cli_fail(EXIT_RUNTIME, "cannot read %s: %s", im->path, strerror(errno));
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 1024L * 1024 * 1024) {
        fclose(f);
        return cli_fail(EXIT_USAGE, "%s: not a regular file of at most 1 GiB", im->path);
    }
    im->text = malloc((size_t)st.st_size + 1);
    size_t len = im->text ? fread(im->text, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!im->text)
        return cli_fail(EXIT_RUNTIME, "out of memory");
    im->text[len] = '\0';
    if (memchr(im->text, '\0', len))
        return cli_fail(EXIT_USAGE, "%s: contains a NUL byte; not an export file", im->path);
    return 0;
}

/* The table an "@table NAME COLUMN..." line names (SPEC: what follows
 * "@table "), with exactly its columns in a file of VERSION; -1 if none. */
static int table_find(const char *spec, int version)
{
    for (size_t t = 0; t < NTABLES; t++) {
        size_t nl = strlen(tables[t].name);
        if (!spec_in(t, version))
            continue;
        if (strncmp(spec, tables[t].name, nl) == 0 && spec[nl] == ' '
            && strcmp(spec + nl + 1, tables[t].columns) == 0)
            return (int)t;
    }
    return -1;
}

/* Adds LINE (line LINENO of the file) as a row of the current table. */
static int import_row(struct import_file *im, char *line, int lineno)
{
    const struct table_spec *ts = &tables[im->current];

    if (im->nrows == im->cap) {
        struct parsed_row *more = realloc(im->rows, 2 * im->cap * sizeof(*im->rows));
        if (!more)
            return cli_fail(EXIT_RUNTIME, "out of memory");
        im->rows = more;
        im->cap *= 2;
    }
    if (split_fields(line, im->rows[im->nrows].field, MAX_COLS) != ts->ncol)
        return cli_fail(EXIT_USAGE, "%s:%d: expected %d fields for %s", im->path, lineno, ts->ncol, ts->name);
    im->rows[im->nrows].table = im->current;
    im->nrows++;
    return 0;
}

/* One line after the header: @end, @table or a row.  Returns 0, or the
 * exit status after printing what is wrong with line LINENO. */
static int import_line(struct import_file *im, char *line, int lineno)
{
    if (im->seen_end)
        return cli_fail(EXIT_USAGE, "%s:%d: text after @end", im->path, lineno);
    if (strncmp(line, "# ", 2) == 0)
        return 0;
    if (strcmp(line, "@end") == 0) {
        im->seen_end = 1;
        return 0;
    }
    if (strncmp(line, "@table ", 7) == 0) {
        im->current = table_find(line + 7, im->version);
        if (im->current < 0 || im->seen[im->current]++)
            return cli_fail(EXIT_USAGE, "%s:%d: unknown or repeated table line", im->path, lineno);
        return 0;
    }
    if (im->current < 0)
        return cli_fail(EXIT_USAGE, "%s:%d: row before any @table line", im->path, lineno);
    return import_row(im, line, lineno);
}

/* Parses and checks the whole file before anything touches the database:
 * header, every line, every table present, @end last. */
static int import_parse(struct import_file *im)
{
    char *save = NULL;
    int lineno = 1, rc;

    im->cap = 1024;
    im->rows = malloc(im->cap * sizeof(*im->rows));
    if (!im->rows)
        return cli_fail(EXIT_RUNTIME, "out of memory");
    size_t hl = strlen(HEADER_PREFIX);
    char *body = NULL;
    if (im->text && strncmp(im->text, HEADER_PREFIX, hl) == 0) {
        char *end = NULL;
        long v = strtol(im->text + hl, &end, 10);
        if ((v == FILE_VERSION || v == OLD_VERSION) && end && *end == '\n' && im->text[hl] >= '1' && im->text[hl] <= '9') {
            im->version = (int)v;
            body = end + 1;
        }
    }
    if (!body)
        return cli_fail(EXIT_USAGE, "%s:1: not a guardlist export of schema version %d or %d (expected \"%s%d\")",
                        im->path, OLD_VERSION, FILE_VERSION, HEADER_PREFIX, FILE_VERSION);
    for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if ((rc = import_line(im, line, ++lineno)) != 0)
            return rc;
    for (size_t t = 0; t < NTABLES; t++)
        if (spec_in(t, im->version) && !im->seen[t])
            return cli_fail(EXIT_USAGE, "%s: table %s is missing; not a whole export", im->path, tables[t].name);
    if (!im->seen_end)
        return cli_fail(EXIT_USAGE, "%s: no @end line; the file is cut short", im->path);
    return 0;
}

/* Replaces every table with the parsed rows and records the import, in one
 * transaction: all of it or, on any error, nothing. */
static int import_apply(struct cli *cli, const struct import_file *im)
{
    char err[800], detail[256], where[128] = "";
    struct db *db = cli_db(cli);

    if (!db)
        return cli->db_status;
    if (db_exec(db, "START TRANSACTION", NULL, 0, NULL, err, sizeof(err)) < 0)
        return cli_fail(EXIT_RUNTIME, "database: %s", err);
    for (size_t t = 0; t < NDELETES; t++)
        if (db_exec(db, deletes[t], NULL, 0, NULL, err, sizeof(err)) < 0)
            goto db_fail;
    for (size_t i = 0; i < im->nrows; i++) {
        const struct table_spec *ts = &tables[im->rows[i].table];
        if (db_exec(db, ts->insert, (const char *const *)im->rows[i].field, ts->ncol, NULL, err, sizeof(err)) < 0) {
            snprintf(where, sizeof(where), " (%s, row %zu of the file)", ts->name, i + 1);
            goto db_fail;
        }
    }
    snprintf(detail, sizeof(detail), "restored %zu rows from %s", im->nrows, im->path);
    if (store_audit(db, cli->actor, "import", detail, err, sizeof(err)) < 0
        || db_exec(db, "COMMIT", NULL, 0, NULL, err, sizeof(err)) < 0)
        goto db_fail;
    printf("imported %zu rows\n", im->nrows);
    return 0;
db_fail:
    {
        char ignore[64];
        if (db_connected(db))
            db_exec(db, "ROLLBACK", NULL, 0, NULL, ignore, sizeof(ignore));
    }
    return cli_fail(EXIT_RUNTIME, "import failed, nothing changed%s: %s", where, err);
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: guardlist import FILE\n"
        "Replaces the contents of every guardlist table with FILE (made by guardlist\n"
        "export), in one transaction.  The whole file is checked first: a damaged\n"
        "file changes nothing.\n";

    if (cli_want_help(argc, argv, usage))
        return 0;
    if (argc != 2)
        return cli_fail(EXIT_USAGE, "import takes one file name");
    struct import_file im = { .path = argv[1], .current = -1 };
    int rc = import_read(&im);
    if (rc == 0)
        rc = import_parse(&im);
    if (rc == 0)
        rc = import_apply(cli, &im);
    import_file_free(&im);
    return rc;
}
