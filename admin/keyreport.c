/*
 * keyreport - the rows whose address keys do not compare the way guardlist
 * compares keys (folded once, in C, then byte for byte), for `guardlist db
 * migrate`.
 *
 * Before schema version 5 the key columns compared with utf8mb4_general_ci,
 * which took "änna@" for "anna@": a guardian row or rule could hang on
 * another family's key.  This module only reports (one warning line a row,
 * on stderr); it never merges, rewrites or drops a row: which one is right
 * is a person's decision.
 */
#include "admin.h"
#include "addr.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_MAX 50           /* lines of one kind; the rest are only counted */

/* Rows that point at a protected key which matched them only through the
 * old comparison: the protected key equal under utf8mb4_general_ci, but not
 * byte for byte, and no byte-equal protected key. */
static const struct {
    const char *what;
    const char *sql;
} orphans[] = {
    { "guardian",
      "SELECT g.recipient, g.email, MIN(p.recipient) FROM guardians g JOIN protected_users p "
      "ON p.recipient COLLATE utf8mb4_general_ci = g.recipient COLLATE utf8mb4_general_ci "
      "WHERE NOT EXISTS (SELECT 1 FROM protected_users q WHERE q.recipient = g.recipient) "
      "GROUP BY g.id ORDER BY g.id" },
    { "rule",
      "SELECT r.recipient, r.sender, MIN(p.recipient) FROM sender_rules r JOIN protected_users p "
      "ON p.recipient COLLATE utf8mb4_general_ci = r.recipient COLLATE utf8mb4_general_ci "
      "WHERE NOT EXISTS (SELECT 1 FROM protected_users q WHERE q.recipient = r.recipient) "
      "GROUP BY r.id ORDER BY r.id" },
    { "open challenge",
      "SELECT c.protected_key, c.sender, MIN(p.recipient) FROM challenges c JOIN protected_users p "
      "ON p.recipient COLLATE utf8mb4_general_ci = c.protected_key COLLATE utf8mb4_general_ci "
      "WHERE c.is_open = 1 "
      "AND NOT EXISTS (SELECT 1 FROM protected_users q WHERE q.recipient = c.protected_key) "
      "GROUP BY c.id ORDER BY c.id" },
};

/* Key columns read whole, to fold each key in C as the daemon does. */
static const struct {
    const char *table;
    const char *sql;            /* one or two key columns */
} key_tables[] = {
    { "protected_users", "SELECT recipient FROM protected_users ORDER BY id" },
    { "whitelist", "SELECT sender FROM whitelist ORDER BY id" },
    { "guardians", "SELECT recipient, email FROM guardians ORDER BY id" },
    { "sender_rules", "SELECT recipient, sender FROM sender_rules ORDER BY id" },
};

static void warn_line(size_t *shown, size_t *total, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn_line(size_t *shown, size_t *total, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;

    (*total)++;
    if (*shown >= REPORT_MAX)
        return;
    (*shown)++;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cli_say(stderr, "warning", "%s", msg);  /* escapes what came from the database */
}

struct folded {
    char *key;                  /* the folded key (pair joined by a NUL-free separator) */
    char *stored;               /* as stored */
};

static int folded_cmp(const void *a, const void *b)
{
    return strcmp(((const struct folded *)a)->key, ((const struct folded *)b)->key);
}

/* Folds the key column(s) of table I; warns for keys not in their folded
 * form and for rows whose folded keys are equal.  Returns 0 or -1. */
static int fold_table(struct db *db, size_t i, size_t *total, char *err, size_t errlen)
{
    struct rows r = { 0 };
    size_t shown_form = 0, shown_same = 0;

    if (db_query(db, key_tables[i].sql, NULL, 0, rows_collect, &r, err, errlen) < 0) {
        rows_free(&r);
        return -1;
    }
    struct folded *f = calloc(r.n ? r.n : 1, sizeof(*f));
    if (!f) {
        rows_free(&r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t nf = 0;
    for (size_t row = 0; row < r.n; row++) {
        char k[2][ADDR_MAX + 2], joined[2 * ADDR_MAX + 8], stored[2 * ADDR_MAX + 8];
        int bad = 0;
        for (int c = 0; c < r.ncol; c++) {
            const char *v = rows_cell(&r, row, c);
            if (!v || addr_key_normalize(v, k[c], sizeof(k[c])) < 0) {
                warn_line(&shown_form, total, "%s: key '%s' cannot be read as a key; "
                          "guardlistd ignores it", key_tables[i].table, v ? v : "NULL");
                bad = 1;
                break;
            }
            if (strcmp(v, k[c]) != 0)
                warn_line(&shown_form, total, "%s: key '%s' is not in guardlist's form '%s': "
                          "guardlistd folds it, but plain SQL and the article's own Postfix maps "
                          "compare bytes", key_tables[i].table, v, k[c]);
        }
        if (bad)
            continue;
        snprintf(joined, sizeof(joined), "%s%s%s", k[0], r.ncol > 1 ? " -> " : "", r.ncol > 1 ? k[1] : "");
        snprintf(stored, sizeof(stored), "%s%s%s", rows_cell(&r, row, 0), r.ncol > 1 ? " -> " : "",
                 r.ncol > 1 ? rows_cell(&r, row, 1) : "");
        f[nf].key = strdup(joined);
        f[nf].stored = strdup(stored);
        if (!f[nf].key || !f[nf].stored) {
            free(f[nf].key);
            free(f[nf].stored);
            break;
        }
        nf++;
    }
    qsort(f, nf, sizeof(*f), folded_cmp);
    for (size_t j = 1; j < nf; j++)
        if (strcmp(f[j - 1].key, f[j].key) == 0)
            warn_line(&shown_same, total, "%s: rows '%s' and '%s' are one key to guardlistd ('%s'); "
                      "keep one of them", key_tables[i].table, f[j - 1].stored, f[j].stored, f[j].key);
    for (size_t j = 0; j < nf; j++) {
        free(f[j].key);
        free(f[j].stored);
    }
    free(f);
    rows_free(&r);
    return 0;
}

long long keyreport_warn(struct db *db, char *err, size_t errlen)
{
    size_t total = 0;

    for (size_t i = 0; i < sizeof(orphans) / sizeof(orphans[0]); i++) {
        struct rows r = { 0 };
        size_t shown = 0;
        if (db_query(db, orphans[i].sql, NULL, 0, rows_collect, &r, err, errlen) < 0) {
            rows_free(&r);
            return -1;
        }
        for (size_t row = 0; row < r.n; row++)
            warn_line(&shown, &total, "%s %s for '%s' belongs to no protected key: it matched '%s' only "
                      "through the comparison before schema version 5 (nothing was changed; "
                      "fix or remove it by hand)", orphans[i].what, rows_cell(&r, row, 1),
                      rows_cell(&r, row, 0), rows_cell(&r, row, 2));
        rows_free(&r);
    }
    for (size_t i = 0; i < sizeof(key_tables) / sizeof(key_tables[0]); i++)
        if (fold_table(db, i, &total, err, errlen) < 0)
            return -1;
    return (long long)total;
}
