/*
 * rulesdb - copies the rule tables into a ruleset in one consistent read.
 *
 * Callers: guardlistd's refresher thread, `guardlist check`.  Rows written by
 * raw SQL are untrusted: keys are normalised and actions validated here, and
 * a row that fails is skipped, which can only ever withhold an allow.
 */
#include "rulesdb.h"
#include "account.h"
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
    int id_col;                     /* column holding the row id, or -1 */
    unsigned long long max_id, rows;
};

/* Notes the id of a delta row (the last column); 1 when it is unusable. */
static int note_id(struct load_ctx *c, const char *const *col)
{
    c->rows++;
    if (c->id_col < 0)
        return 0;
    const char *v = col[c->id_col];
    if (!v)
        return 1;
    unsigned long long id = strtoull(v, NULL, 10);
    if (id > c->max_id)
        c->max_id = id;
    return 0;
}

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

int rulesdb_add_rule(struct ruleset *rs, enum rs_kind kind, const char *k1, const char *k2,
                     const char *raw_action, struct rulesdb_skips *skips)
{
    struct load_ctx c = { .rs = rs, .skips = skips, .table = kind == RS_GLOBAL ? "whitelist" : "sender_rules",
                          .id_col = -1 };

    return add_rule(&c, kind, k1, k2, raw_action) ? -1 : 0;
}

static int row_protected(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct load_ctx *c = arg;

    if (note_id(c, col))
        return 1;
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

    if (note_id(c, col))
        return 1;
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

    if (note_id(c, col))
        return 1;
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

/* A login an admin mapped to a protected address (guardlist account). */
static int row_account(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct load_ctx *c = arg;

    if (note_id(c, col))
        return 1;
    char login[ACCOUNT_LOGIN_MAX + 1], address[ADDR_MAX + 2], why[96];

    (void)ncol;
    (void)len;
    if (!col[0] || account_login_fold(col[0], login, sizeof(login), why, sizeof(why)) < 0) {
        skip(c, col[0], "unusable login");
        return 0;
    }
    if (!col[1] || addr_key_normalize(col[1], address, sizeof(address)) < 0) {
        /* Skipped, the login is then read as an address: a mapping can
         * make a login a child, never make a child's login free. */
        skip(c, col[1], "unusable address");
        return 0;
    }
    return add(c, RS_ACCOUNT, login, NULL, address, 0);
}

static const char sql_generation[] = "SELECT generation FROM rule_generation WHERE id = 1";
static const char sql_counters[] =
    "SELECT generation, destructive, closes FROM rule_generation WHERE id = 1";
static const char sql_max_ids[] =
    "SELECT (SELECT COALESCE(MAX(id), 0) FROM protected_users), (SELECT COALESCE(MAX(id), 0) FROM whitelist), "
    "(SELECT COALESCE(MAX(id), 0) FROM sender_rules), (SELECT COALESCE(MAX(id), 0) FROM accounts)";
static const char sql_begin[] = "START TRANSACTION READ ONLY";
static const char sql_commit[] = "COMMIT";

/* The tables a ruleset is read from, in the order of rulesdb_mark.max_id:
 * every row (SQL_ALL), or the rows inserted since an id (SQL_NEW, whose
 * last column, ID_COL, is the row id).  Closed challenges have no SQL_NEW:
 * they are read whole. */
static const struct step {
    const char *table, *sql_all, *sql_new;
    db_row_fn fn;
    int id_col;
} steps[] = {
    { "protected_users", "SELECT recipient, class FROM protected_users",
      "SELECT recipient, class, id FROM protected_users WHERE id > ?", row_protected, 2 },
    { "whitelist", "SELECT sender, action FROM whitelist",
      "SELECT sender, action, id FROM whitelist WHERE id > ?", row_global, 2 },
    { "sender_rules", "SELECT recipient, sender, action FROM sender_rules",
      "SELECT recipient, sender, action, id FROM sender_rules WHERE id > ?", row_rule, 3 },
    { "accounts", "SELECT login, address FROM accounts",
      "SELECT login, address, id FROM accounts WHERE id > ?", row_account, 2 },
    /* A challenge a rule closed (decided_rule, lib/cover.c) is decided by
     * that rule alone: once the rule is removed the pair is a stranger again. */
    { "challenges", "SELECT sender, recipient, status FROM challenges "
                    "WHERE status IN ('denied', 'expired') AND is_open IS NULL AND decided_rule IS NULL",
      NULL, row_closed, -1 },
};
#define STEP_CLOSED 4

/* Adds the rows of STEP to RS: all of them, or (SINCE not NULL) those with
 * an id above *SINCE, which then gets the highest id read.  *ROWS gets the
 * number of rows.  Returns 0, or -1 with ERR set. */
static int read_step(struct db *db, const struct step *step, struct ruleset *rs, struct rulesdb_skips *skips,
                     unsigned long long *since, unsigned long long *rows, char *err, size_t errlen)
{
    struct load_ctx c = { .rs = rs, .skips = skips, .table = step->table, .id_col = -1 };
    char id[24];
    const char *p[1] = { id };

    if (since) {
        c.id_col = step->id_col;
        c.max_id = *since;
        snprintf(id, sizeof(id), "%llu", *since);
    }
    if (db_query(db, since ? step->sql_new : step->sql_all, since ? p : NULL, since ? 1 : 0, step->fn, &c,
                 err, errlen) < 0) {
        if (c.oom)
            snprintf(err, errlen, "out of memory loading %s", step->table);
        return -1;
    }
    if (since)
        *since = c.max_id;
    if (rows)
        *rows = c.rows;
    return 0;
}

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
    "AND table_name IN ('protected_users', 'whitelist', 'sender_rules', 'challenges', 'accounts')";

static int row_auto_inc(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    static const char *const names[RULESDB_STAMPED] = { "protected_users", "whitelist", "sender_rules",
                                                        "challenges", "accounts" };
    unsigned long long *v = arg;

    (void)ncol;
    (void)len;
    for (int i = 0; i < RULESDB_STAMPED; i++)
        if (col[0] && strcmp(col[0], names[i]) == 0)
            v[i] = col[1] ? strtoull(col[1], NULL, 10) : 0;
    return 0;
}

int rulesdb_truncated(struct db *db, struct rulesdb_stamp *stamp, int *truncated, char *err, size_t errlen)
{
    unsigned long long now[RULESDB_STAMPED] = { 0 };

    *truncated = 0;
    if (db_query(db, sql_auto_inc, NULL, 0, row_auto_inc, now, err, errlen) < 0)
        return -1;
    for (int i = 0; i < RULESDB_STAMPED && stamp->valid; i++)
        if (now[i] < stamp->auto_inc[i])
            *truncated = 1;
    memcpy(stamp->auto_inc, now, sizeof(now));
    stamp->valid = 1;
    return 0;
}

static int row_numbers(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    unsigned long long *v = arg;

    (void)len;
    for (int i = 0; i < ncol && i < 4; i++)
        v[i] = col[i] ? strtoull(col[i], NULL, 10) : 0;
    return 0;
}

/* Reads the three counters and (if IDS) the tables' highest ids into MARK. */
static int read_mark(struct db *db, struct rulesdb_mark *mark, int ids, char *err, size_t errlen)
{
    unsigned long long v[4] = { 0, 0, 0, 0 };
    long long n = db_query(db, sql_counters, NULL, 0, row_numbers, v, err, errlen);

    if (n < 0)
        return -1;
    if (n == 0) {
        snprintf(err, errlen, "rule_generation has no row (load sql/schema.sql)");
        return -1;
    }
    mark->generation = v[0];
    mark->destructive = v[1];
    mark->closes = v[2];
    if (ids && db_query(db, sql_max_ids, NULL, 0, row_numbers, mark->max_id, err, errlen) < 0)
        return -1;
    return 0;
}

static void end_tx(struct db *db)
{
    if (db_connected(db)) {
        char ignore[64];
        db_exec(db, sql_commit, NULL, 0, NULL, ignore, sizeof(ignore));
    }
}

struct ruleset *rulesdb_load(struct db *db, struct rulesdb_skips *skips, struct rulesdb_mark *mark,
                             char *err, size_t errlen)
{
    struct rulesdb_mark m;
    struct ruleset *rs;

    skips->count = 0;
    skips->first[0] = '\0';
    rs = ruleset_new();
    if (!rs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* One snapshot (REPEATABLE READ): the counters read first match the rows.
     * Without MARK they are not read: a one-off reader (the CLI, the admin
     * page, whose account may not read rule_generation) needs the rows only. */
    memset(&m, 0, sizeof(m));
    if (db_exec(db, sql_begin, NULL, 0, NULL, err, errlen) < 0)
        goto fail;
    if (mark && read_mark(db, &m, 1, err, errlen) < 0)
        goto fail_tx;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (read_step(db, &steps[i], rs, skips, NULL, NULL, err, errlen) < 0)
            goto fail_tx;
    if (db_exec(db, sql_commit, NULL, 0, NULL, err, errlen) < 0)
        goto fail;
    ruleset_set_generation(rs, m.generation);
    if (mark)
        *mark = m;
    return rs;
fail_tx:
    end_tx(db);
fail:
    ruleset_free(rs);
    return NULL;
}

int rulesdb_delta(struct db *db, struct ruleset *rs, struct rulesdb_mark *mark, struct rulesdb_skips *skips,
                  char *err, size_t errlen)
{
    struct rulesdb_mark now;
    unsigned long long rows = 0;
    int rc = 1;

    skips->count = 0;
    skips->first[0] = '\0';
    if (db_exec(db, sql_begin, NULL, 0, NULL, err, errlen) < 0)
        return -1;
    if (read_mark(db, &now, 0, err, errlen) < 0)
        goto fail_tx;
    if (now.destructive != mark->destructive || now.generation < mark->generation
        || now.closes < mark->closes || now.generation - mark->generation < now.closes - mark->closes) {
        end_tx(db);
        return 0;
    }
    for (int t = 0; t < STEP_CLOSED; t++) {
        unsigned long long n = 0;
        now.max_id[t] = mark->max_id[t];
        if (read_step(db, &steps[t], rs, skips, &now.max_id[t], &n, err, errlen) < 0)
            goto fail_tx;
        rows += n;
    }
    /* Each inserted row bumped the generation once, each close once: any
     * other difference is a row not yet visible by id order, or a change
     * made with the triggers off. */
    if (rows != (now.generation - mark->generation) - (now.closes - mark->closes))
        rc = 0;
    if (rc == 1 && now.closes != mark->closes
        && read_step(db, &steps[STEP_CLOSED], rs, skips, NULL, NULL, err, errlen) < 0)
        goto fail_tx;
    if (db_exec(db, sql_commit, NULL, 0, NULL, err, errlen) < 0)
        return -1;
    if (rc == 1) {
        *mark = now;
        ruleset_set_generation(rs, now.generation);
    }
    return rc;
fail_tx:
    end_tx(db);
    return -1;
}
