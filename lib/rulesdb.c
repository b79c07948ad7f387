/*
 * rulesdb - copies the rule tables into a ruleset in one consistent read.
 *
 * Callers: guardlistd's refresher thread, `guardlist check`.  Rows written by
 * raw SQL are untrusted: keys are normalised and actions validated here, and
 * a row that fails is skipped, which can only ever withhold an allow.
 */
#include "rulesdb.h"
#include "action.h"
#include "addr.h"
#include "decide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct load_ctx {
    struct ruleset *rs;
    struct rulesdb_skips *skips;
    const char *table;
    int oom;
};

static void skip(struct load_ctx *c, const char *key, const char *why)
{
    if (c->skips->count++ == 0)
        snprintf(c->skips->first, sizeof(c->skips->first), "%s row '%.80s': %s", c->table,
                 key ? key : "NULL", why);
}

static int add(struct load_ctx *c, enum rs_kind kind, const char *k1, const char *k2,
               const char *value, int replace)
{
    if (ruleset_add(c->rs, kind, k1, k2, value, replace) < 0) {
        c->oom = 1;
        return 1;
    }
    return 0;
}

/* Adds a rule; on a key collision a blocking action replaces an allowing one. */
static int add_rule(struct load_ctx *c, enum rs_kind kind, const char *k1, const char *k2,
                    const char *raw_action)
{
    char action[ACTION_MAX + 1], err[160];
    enum action_kind ak, old_kind;
    const char *old;

    if (action_check(raw_action, action, sizeof(action), &ak, err, sizeof(err)) < 0) {
        /* Not dropped: a less specific allow would then match.  The row
         * keeps its place and refuses, temporarily, until it is fixed. */
        skip(c, k2 ? k2 : k1, err);
        snprintf(action, sizeof(action), "%s", REPLY_TEMPFAIL);
        ak = ACTION_OTHER;
        if (ruleset_get(c->rs, kind, k1, k2))
            return add(c, kind, k1, k2, action, 1);
        return add(c, kind, k1, k2, action, 0);
    }
    old = ruleset_get(c->rs, kind, k1, k2);
    if (old) {
        char oldbuf[ACTION_MAX + 1];
        if (action_check(old, oldbuf, sizeof(oldbuf), &old_kind, err, sizeof(err)) == 0
            && old_kind == ACTION_ALLOW && ak != ACTION_ALLOW)
            return add(c, kind, k1, k2, action, 1);
        return 0;
    }
    return add(c, kind, k1, k2, action, 0);
}

static int row_protected(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct load_ctx *c = arg;
    char key[ADDR_MAX + 2];

    (void)ncol;
    (void)len;
    if (!col[0] || addr_key_normalize(col[0], key, sizeof(key)) < 0) {
        /* Safe to skip: such a key (control characters, bad UTF-8) can
         * match no recipient that addr_parse accepts. */
        skip(c, col[0], "unusable recipient key");
        return 0;
    }
    return add(c, RS_PROTECTED, key, NULL, col[1] ? col[1] : "", 0);
}

static int row_global(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct load_ctx *c = arg;
    char key[ADDR_MAX + 2];

    (void)ncol;
    (void)len;
    if (!col[0] || addr_key_normalize(col[0], key, sizeof(key)) < 0) {
        skip(c, col[0], "unusable sender key");
        return 0;
    }
    return add_rule(c, RS_GLOBAL, key, NULL, col[1]);
}

static int row_rule(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct load_ctx *c = arg;
    char rkey[ADDR_MAX + 2], skey[ADDR_MAX + 2];

    (void)ncol;
    (void)len;
    if (!col[0] || addr_key_normalize(col[0], rkey, sizeof(rkey)) < 0) {
        skip(c, col[0], "unusable recipient key");
        return 0;
    }
    if (!col[1] || addr_key_normalize(col[1], skey, sizeof(skey)) < 0) {
        skip(c, col[1], "unusable sender key");
        return 0;
    }
    if (add(c, RS_RULE_RCPT, rkey, NULL, "", 0))
        return 1;
    return add_rule(c, RS_RULE, rkey, skey, col[2]);
}

static int row_closed(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct load_ctx *c = arg;
    char s[ADDR_MAX + 2], r[ADDR_MAX + 2];

    (void)ncol;
    (void)len;
    if (!col[0] || !col[1] || addr_key_normalize(col[0], s, sizeof(s)) < 0
        || addr_key_normalize(col[1], r, sizeof(r)) < 0) {
        skip(c, col[0], "unusable challenge address");
        return 0;
    }
    return add(c, RS_CLOSED, s, r, col[2] ? col[2] : "closed", 0);
}

static const char sql_generation[] = "SELECT generation FROM rule_generation WHERE id = 1";
static const char sql_begin[] = "START TRANSACTION READ ONLY";
static const char sql_commit[] = "COMMIT";
static const char sql_protected[] = "SELECT recipient, class FROM protected_users";
static const char sql_global[] = "SELECT sender, action FROM whitelist";
static const char sql_rules[] = "SELECT recipient, sender, action FROM sender_rules";
static const char sql_closed[] =
    "SELECT sender, recipient, status FROM challenges "
    "WHERE status IN ('denied', 'expired') AND is_open IS NULL";

int rulesdb_generation(struct db *db, unsigned long long *gen, char *err, size_t errlen)
{
    long long v;
    int rc = db_query_number(db, sql_generation, NULL, 0, &v, err, errlen);

    if (rc < 0)
        return -1;
    if (rc == 0 || v < 0) {
        snprintf(err, errlen, "rule_generation has no row (load sql/schema.sql)");
        return -1;
    }
    *gen = (unsigned long long)v;
    return 0;
}

static const char sql_auto_inc[] =
    "SELECT table_name, auto_increment FROM information_schema.tables "
    "WHERE table_schema = DATABASE() "
    "AND table_name IN ('protected_users', 'whitelist', 'sender_rules', 'challenges')";

static int row_auto_inc(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    static const char *const names[4] = { "protected_users", "whitelist", "sender_rules", "challenges" };
    unsigned long long *v = arg;

    (void)ncol;
    (void)len;
    for (int i = 0; i < 4; i++)
        if (col[0] && strcmp(col[0], names[i]) == 0)
            v[i] = col[1] ? strtoull(col[1], NULL, 10) : 0;
    return 0;
}

int rulesdb_truncated(struct db *db, struct rulesdb_stamp *stamp, int *truncated, char *err, size_t errlen)
{
    unsigned long long now[4] = { 0, 0, 0, 0 };

    *truncated = 0;
    if (db_query(db, sql_auto_inc, NULL, 0, row_auto_inc, now, err, errlen) < 0)
        return -1;
    for (int i = 0; i < 4 && stamp->valid; i++)
        if (now[i] < stamp->auto_inc[i])
            *truncated = 1;
    memcpy(stamp->auto_inc, now, sizeof(now));
    stamp->valid = 1;
    return 0;
}

struct ruleset *rulesdb_load(struct db *db, struct rulesdb_skips *skips, char *err, size_t errlen)
{
    struct load_ctx c = { .skips = skips };
    unsigned long long gen = 0;
    static const struct { const char *table, *sql; db_row_fn fn; } steps[] = {
        { "protected_users", sql_protected, row_protected },
        { "whitelist", sql_global, row_global },
        { "sender_rules", sql_rules, row_rule },
        { "challenges", sql_closed, row_closed },
    };

    skips->count = 0;
    skips->first[0] = '\0';
    c.rs = ruleset_new();
    if (!c.rs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* One snapshot (REPEATABLE READ): the generation read first matches the rows. */
    if (db_exec(db, sql_begin, NULL, 0, NULL, err, errlen) < 0)
        goto fail;
    if (rulesdb_generation(db, &gen, err, errlen) < 0)
        goto fail_tx;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        c.table = steps[i].table;
        if (db_query(db, steps[i].sql, NULL, 0, steps[i].fn, &c, err, errlen) < 0) {
            if (c.oom)
                snprintf(err, errlen, "out of memory loading %s", c.table);
            goto fail_tx;
        }
    }
    if (db_exec(db, sql_commit, NULL, 0, NULL, err, errlen) < 0)
        goto fail;
    ruleset_set_generation(c.rs, gen);
    return c.rs;
fail_tx:
    if (db_connected(db)) {
        char ignore[64];
        db_exec(db, sql_commit, NULL, 0, NULL, ignore, sizeof(ignore));
    }
fail:
    ruleset_free(c.rs);
    return NULL;
}
