/*
 * cover - closes the pending challenges a rule now decides, in the
 * transaction that writes the rule, so that "allow everyone at example.net"
 * also answers every other example.net request that was waiting, and no
 * link keeps offering a choice that is already made.
 *
 * Called by store.c (store_rule_set, store_challenge_decide), so the CLI,
 * the web page and the approval page all close the same way.  Which rule
 * decides a challenge is asked of lib/decide.c itself, on a ruleset holding
 * the rows that could match the pair: the same keys, in the same order,
 * as guardlistd uses.  A challenge closes only for an allow (approved) or a
 * block (denied) rule; any other action leaves it open.
 *
 * It never decides by itself: it only writes what a rule already says.
 */
#include "cover.h"
#include "action.h"
#include "addr.h"
#include "decide.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct candidate {
    char id[24];
    char sender[ADDR_MAX + 2], recipient[ADDR_MAX + 2], key[ADDR_MAX + 2];
};

struct candidates {
    struct candidate *c;
    size_t n;
};

static int key_in(const struct addr_keys *k, const char *key)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->key[i], key) == 0)
            return 1;
    return 0;
}

/* Challenges store the sender as it wrote itself, +ext included: its keys
 * (and so which rules decide it) depend on the recipient delimiter, as in
 * guardlistd.  The programs set theirs from [policy] recipient_delimiter. */
static char cover_delims[16] = "+";

void cover_set_delimiters(const char *delims)
{
    snprintf(cover_delims, sizeof(cover_delims), "%s", delims ? delims : "");
}

/* The keys of ADDRESS as challenges store it. */
static int keys_of(const char *address, struct addr *a, struct addr_keys *k)
{
    char err[128];

    if (addr_parse(address, cover_delims, a, err, sizeof(err)) < 0)
        return -1;
    addr_keys(a, k);
    return 0;
}

int cover_matches(const char *rule_rcpt, const char *rule_sender, const char *sender, const char *recipient)
{
    struct addr sa, ra;
    struct addr_keys sk, rk;

    if (keys_of(sender, &sa, &sk) < 0 || !key_in(&sk, rule_sender))
        return 0;
    if (!rule_rcpt)
        return 1;
    return keys_of(recipient, &ra, &rk) == 0 && !ra.is_null && key_in(&rk, rule_rcpt);
}

static const char *outcome(const struct ruleset *rs, const char *sender, const char *recipient, int exact_domain,
                           char *rule, size_t rulelen)
{
    struct decide_opts opts = { .unknown_sender = UNKNOWN_DEFER, .on_allow = "DUNNO", .null_sender = NULL_CHALLENGE,
                                .delims = cover_delims, .exact_domain = exact_domain };
    struct decision d;
    char text[ACTION_MAX + 1], why[160];
    enum action_kind kind;
    const char *action;

    rule[0] = '\0';
    decide(rs, &opts, "RCPT", sender, recipient, NULL, &d);
    if (d.kind != DK_RULE)
        return NULL;
    int global = strcmp(d.rule_scope, "global") == 0;
    action = global ? ruleset_get(rs, RS_GLOBAL, d.rule_sender, NULL)
                    : ruleset_get(rs, RS_RULE, d.rule_recipient, d.rule_sender);
    if (!action || action_check(action, text, sizeof(text), &kind, why, sizeof(why)) < 0)
        return NULL;
    if (kind == ACTION_OTHER)
        return NULL;
    /* An action is one word and text; keys hold no space. */
    snprintf(rule, rulelen, "%s %s %s", global ? "*" : d.rule_recipient, d.rule_sender,
             kind == ACTION_ALLOW ? "OK" : "REJECT");
    return kind == ACTION_ALLOW ? "approved" : "denied";
}

const char *cover_outcome(const struct ruleset *rs, const char *sender, const char *recipient, char *rule,
                          size_t rulelen)
{
    return outcome(rs, sender, recipient, 0, rule, rulelen);
}

/* ---- reading what could match ---- */

/* S with LIKE's wildcards and its escape character escaped. */
static void like_escape(const char *prefix, const char *s, const char *suffix, char *out, size_t outlen)
{
    size_t o = 0;

    for (const char *p = prefix; *p && o + 1 < outlen; p++)
        out[o++] = *p;
    for (const char *p = s; *p && o + 2 < outlen; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            out[o++] = '\\';
        out[o++] = *p;
    }
    for (const char *p = suffix; *p && o + 1 < outlen; p++)
        out[o++] = *p;
    out[o] = '\0';
}

static int row_candidate(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct candidates *cs = arg;

    (void)len;
    if (ncol < 4 || cs->n >= COVER_MAX)
        return 0;
    struct candidate *c = &cs->c[cs->n++];
    snprintf(c->id, sizeof(c->id), "%s", col[0] ? col[0] : "");
    snprintf(c->sender, sizeof(c->sender), "%s", col[1] ? col[1] : "");
    snprintf(c->recipient, sizeof(c->recipient), "%s", col[2] ? col[2] : "");
    snprintf(c->key, sizeof(c->key), "%s", col[3] ? col[3] : "");
    return 0;
}

/* The pending challenges whose sender may fall under RULE_SENDER (the SQL
 * only narrows; cover_matches() decides), locked. */
static int read_candidates(struct db *db, const char *rule_sender, struct candidates *cs, char *err, size_t errlen)
{
    char k[ADDR_MAX + 2], why[160], p1[2 * ADDR_MAX + 8], p2[2 * ADDR_MAX + 8];
    enum addr_key_kind kind = AK_ADDRESS;

    if (addr_key_check(rule_sender, 1, k, sizeof(k), &kind, why, sizeof(why)) < 0)
        snprintf(k, sizeof(k), "%s", rule_sender);
    if (kind == AK_DOMAIN) {
        like_escape("%@", k, "", p1, sizeof(p1));       /* the domain */
        like_escape("%@%.", k, "", p2, sizeof(p2));     /* its subdomains */
    } else if (kind == AK_USER) {
        like_escape("", k, "%", p1, sizeof(p1));
        snprintf(p2, sizeof(p2), "%s", p1);
    } else {
        like_escape("", k, "", p1, sizeof(p1));
        snprintf(p2, sizeof(p2), "%s", p1);
    }
    const char *p[3] = { k, p1, p2 };
    return db_query(db, "SELECT id, sender, recipient, protected_key FROM challenges "
                        "WHERE status = 'pending' AND (sender = ? OR sender LIKE ? OR sender LIKE ?) "
                        "ORDER BY id LIMIT 1000 FOR UPDATE",
                    p, 3, row_candidate, cs, err, errlen) < 0 ? -1 : 0;
}

struct rule_rows {
    struct ruleset *rs;
    int oom;
};

/* The rules of up to RULE_KEYS sender keys in one round trip: for each key
 * its sender_rules rows and its whitelist row, each tagged with the table
 * ('r' or 'g') and the key asked for (so a row matched by the column's
 * collation is filed under the key decide() looks up, as one query a key
 * did).  Unused slots are NULL and match nothing. */
#define RULE_KEYS 8
#define RULES_OF_KEY \
    "SELECT 'r', ?, recipient, action FROM sender_rules WHERE sender = ? " \
    "UNION ALL SELECT 'g', ?, NULL, action FROM whitelist WHERE sender = ?"
#define RULES_OF_2_KEYS RULES_OF_KEY " UNION ALL " RULES_OF_KEY
#define RULES_OF_4_KEYS RULES_OF_2_KEYS " UNION ALL " RULES_OF_2_KEYS
static const char sql_rules_of_keys[] = RULES_OF_4_KEYS " UNION ALL " RULES_OF_4_KEYS;

static int row_rule(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct rule_rows *r = arg;

    (void)len;
    if (ncol < 4 || !col[0] || !col[1] || !col[3])
        return 0;
    if (col[0][0] == 'g') {
        if (ruleset_add(r->rs, RS_GLOBAL, col[1], NULL, col[3], 0) < 0)
            r->oom = 1;
    } else if (col[2]
               && (ruleset_add(r->rs, RS_RULE, col[2], col[1], col[3], 0) < 0
                   || ruleset_add(r->rs, RS_RULE_RCPT, col[2], NULL, "", 0) < 0)) {
        r->oom = 1;
    }
    return 0;
}

/* A ruleset with C's protected key and every rule for one of its sender's
 * keys: all decide() can consult for C.  NULL with ERR on failure. */
static struct ruleset *rules_for(struct db *db, const struct candidate *c, char *err, size_t errlen)
{
    struct addr sa;
    struct addr_keys sk;
    struct ruleset *rs = ruleset_new();
    struct rule_rows r = { rs, 0 };

    if (!rs || keys_of(c->sender, &sa, &sk) < 0 || ruleset_add(rs, RS_PROTECTED, c->key, NULL, "whitelist", 0) < 0) {
        snprintf(err, errlen, "challenge %s: cannot read its sender or out of memory", c->id);
        ruleset_free(rs);
        return NULL;
    }
    for (size_t j = 0; j < sk.n; j += RULE_KEYS) {
        const char *p[4 * RULE_KEYS];
        for (size_t i = 0; i < RULE_KEYS; i++) {
            const char *k = j + i < sk.n ? sk.key[j + i] : NULL;
            p[4 * i] = p[4 * i + 1] = p[4 * i + 2] = p[4 * i + 3] = k;
        }
        if (db_query(db, sql_rules_of_keys, p, 4 * RULE_KEYS, row_rule, &r, err, errlen) < 0) {
            ruleset_free(rs);
            return NULL;
        }
    }
    if (r.oom) {
        snprintf(err, errlen, "out of memory");
        ruleset_free(rs);
        return NULL;
    }
    return rs;
}

int cover_pair(struct db *db, const char *sender, const char *recipient, const char *key, int exact_domain,
               const char **status, char *err, size_t errlen)
{
    struct candidate c;
    char rule[COVER_RULE_MAX];

    *status = NULL;
    snprintf(c.id, sizeof(c.id), "new");
    snprintf(c.sender, sizeof(c.sender), "%s", sender);
    snprintf(c.recipient, sizeof(c.recipient), "%s", recipient);
    snprintf(c.key, sizeof(c.key), "%s", key);
    struct ruleset *rs = rules_for(db, &c, err, errlen);
    if (!rs)
        return -1;
    *status = outcome(rs, c.sender, c.recipient, exact_domain, rule, sizeof(rule));
    ruleset_free(rs);
    return 0;
}

static int close_one(struct db *db, const char *actor, const struct candidate *c, const char *status,
                     const char *rule, char *err, size_t errlen)
{
    char detail[1400];
    const char *p[4] = { status, actor, rule, c->id };

    if (db_exec(db, "UPDATE challenges SET status = ?, is_open = NULL, decided_at = CURRENT_TIMESTAMP, "
                    "decided_by = ?, decided_rule = ? WHERE id = ? AND status = 'pending'",
                p, 4, NULL, err, errlen) < 0)
        return -1;
    snprintf(detail, sizeof(detail), "challenge=%s sender=%s recipient=%s %s by rule=%s", c->id, c->sender,
             c->recipient, status, rule);
    return store_audit(db, actor, "close-covered", detail, err, errlen) < 0 ? -1 : 0;
}

int cover_close(struct db *db, const char *actor, const char *rule_rcpt, const char *rule_sender,
                unsigned long long *closed, char *err, size_t errlen)
{
    struct candidates cs = { calloc(COVER_MAX, sizeof(struct candidate)), 0 };
    int rc = 0;

    *closed = 0;
    if (!cs.c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (read_candidates(db, rule_sender, &cs, err, errlen) < 0) {
        free(cs.c);
        return -1;
    }
    for (size_t i = 0; i < cs.n && rc == 0; i++) {
        const struct candidate *c = &cs.c[i];
        char rule[COVER_RULE_MAX];
        if (!cover_matches(rule_rcpt, rule_sender, c->sender, c->recipient))
            continue;
        struct ruleset *rs = rules_for(db, c, err, errlen);
        if (!rs) {
            rc = -1;
            break;
        }
        const char *status = cover_outcome(rs, c->sender, c->recipient, rule, sizeof(rule));
        ruleset_free(rs);
        if (!status)
            continue;       /* a more specific rule, or another action, decides it */
        if (close_one(db, actor, c, status, rule, err, errlen) < 0)
            rc = -1;
        else
            (*closed)++;
    }
    free(cs.c);
    return rc;
}

/* ---- words ---- */

static void describe_sender(const char *key, char *out, size_t outlen)
{
    char k[ADDR_MAX + 2], why[160];
    enum addr_key_kind kind = AK_ADDRESS;

    if (addr_key_check(key, 1, k, sizeof(k), &kind, why, sizeof(why)) < 0)
        snprintf(out, outlen, "%s", key);
    else if (kind == AK_DOMAIN)
        snprintf(out, outlen, "everyone at %s and its subdomains", k);
    else if (kind == AK_USER)
        snprintf(out, outlen, "%s at any domain", k);
    else if (kind == AK_NULL)
        snprintf(out, outlen, "bounce messages (<>)");
    else
        snprintf(out, outlen, "%s", k);
}

void cover_describe(const char *rule, char *out, size_t outlen)
{
    char rcpt[ADDR_MAX + 2], sender[ADDR_MAX + 2], action[16], who[ADDR_MAX + 64];

    out[0] = '\0';
    if (!rule || !*rule || sscanf(rule, "%256s %256s %15s", rcpt, sender, action) != 3)
        return;
    describe_sender(sender, who, sizeof(who));
    if (strcmp(rcpt, "*") == 0)
        snprintf(out, outlen, "%s %s for every protected address", who,
                 strcmp(action, "OK") == 0 ? "was allowed" : "was blocked");
    else
        snprintf(out, outlen, "%s %s for %s", who, strcmp(action, "OK") == 0 ? "was allowed" : "was blocked",
                 rcpt);
}
