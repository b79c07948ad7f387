/*
 * store - the changes people make, shared by the CLI, the web admin page and
 * the approval page, so there is one copy of each rule.
 *
 * Every function validates its input first (STORE_INVALID, nothing written),
 * then makes the change and its audit_log row in one transaction: either
 * both are written or neither.
 */
#include "store.h"
#include "storetx.h"
#include "account.h"
#include "action.h"
#include "addr.h"
#include "cover.h"
#include "domainwide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_begin[] = "START TRANSACTION";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";
static const char sql_audit[] = "INSERT INTO audit_log (actor, action, detail) VALUES (?, ?, ?)";

int store_tx_begin(struct db *db, char *err, size_t errlen)
{
    return db_exec(db, sql_begin, NULL, 0, NULL, err, errlen) < 0 ? STORE_ERROR : 0;
}

/* Rolls back and returns RC (the error text in ERR is kept). */
int store_tx_rollback(struct db *db, int rc)
{
    char ignore[128];

    if (db_connected(db))
        db_exec(db, sql_rollback, NULL, 0, NULL, ignore, sizeof(ignore));
    return rc;
}

int store_tx_commit(struct db *db, const char *actor, const char *action,
                    const char *detail, char *err, size_t errlen)
{
    if (store_audit(db, actor, action, detail, err, errlen) < 0
        || db_exec(db, sql_commit, NULL, 0, NULL, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    return STORE_DONE;
}

int store_audit(struct db *db, const char *actor, const char *action, const char *detail,
                char *err, size_t errlen)
{
    const char *p[3] = { actor, action, detail };
    return db_exec(db, sql_audit, p, 3, NULL, err, errlen);
}

int store_check_key(const char *what, const char *in, int allow_null, char *out, size_t outlen,
                    enum addr_key_kind *kind, char *err, size_t errlen)
{
    char why[160];
    enum addr_key_kind k;

    if (addr_key_check(in, allow_null, out, outlen, kind ? kind : &k, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "invalid %s '%.80s': %s", what, in ? in : "", why);
        return STORE_INVALID;
    }
    return 0;
}

static int check_email(const char *in, char *out, size_t outlen, char *err, size_t errlen)
{
    enum addr_key_kind kind;

    if (store_check_key("guardian address", in, 0, out, outlen, &kind, err, errlen) < 0)
        return STORE_INVALID;
    if (kind != AK_ADDRESS) {
        snprintf(err, errlen, "invalid guardian address '%.80s': a full address (user@domain) is needed", in);
        return STORE_INVALID;
    }
    return 0;
}

int store_protect(struct db *db, const char *actor, const char *key, const char *const *guardians,
                  int nguardians, char *err, size_t errlen)
{
    char k[ADDR_MAX + 2], g[16][ADDR_MAX + 2], detail[1024];
    size_t o;

    if (nguardians > 16) {
        snprintf(err, errlen, "at most 16 guardians at a time");
        return STORE_INVALID;
    }
    if (store_check_key("recipient", key, 0, k, sizeof(k), NULL, err, errlen) < 0)
        return STORE_INVALID;
    for (int i = 0; i < nguardians; i++)
        if (check_email(guardians[i], g[i], sizeof(g[i]), err, errlen) < 0)
            return STORE_INVALID;
    if (store_tx_begin(db, err, errlen) < 0)
        return STORE_ERROR;
    const char *p[2] = { k, NULL };
    unsigned long long n = 0, changed = 0;
    if (db_exec(db, "INSERT IGNORE INTO protected_users (recipient, class) VALUES (?, 'whitelist')",
                p, 1, &n, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    changed += n;
    o = (size_t)snprintf(detail, sizeof(detail), "recipient=%s%s", k, n ? "" : " (already protected)");
    for (int i = 0; i < nguardians; i++) {
        p[1] = g[i];
        if (db_exec(db, "INSERT IGNORE INTO guardians (recipient, email) VALUES (?, ?)", p, 2, &n,
                    err, errlen) < 0)
            return store_tx_rollback(db, STORE_ERROR);
        changed += n;
        if (n && o < sizeof(detail))
            o += (size_t)snprintf(detail + o, sizeof(detail) - o, " guardian=%s", g[i]);
    }
    if (changed == 0) {
        snprintf(err, errlen, "%s is already protected%s", k, nguardians ? " by these guardians" : "");
        return store_tx_rollback(db, STORE_NOTFOUND);
    }
    return store_tx_commit(db, actor, "protect", detail, err, errlen);
}

int store_unprotect(struct db *db, const char *actor, const char *key, char *err, size_t errlen)
{
    char k[ADDR_MAX + 2], detail[300];
    unsigned long long n = 0;
    const char *p[1];

    if (store_check_key("recipient", key, 0, k, sizeof(k), NULL, err, errlen) < 0)
        return STORE_INVALID;
    p[0] = k;
    if (store_tx_begin(db, err, errlen) < 0)
        return STORE_ERROR;
    if (db_exec(db, "DELETE FROM protected_users WHERE recipient = ?", p, 1, &n, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    if (n == 0) {
        snprintf(err, errlen, "%s is not protected", k);
        return store_tx_rollback(db, STORE_NOTFOUND);
    }
    if (db_exec(db, "DELETE FROM guardians WHERE recipient = ?", p, 1, NULL, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    snprintf(detail, sizeof(detail), "recipient=%s", k);
    return store_tx_commit(db, actor, "unprotect", detail, err, errlen);
}

static int guardian_change(struct db *db, const char *actor, const char *rcpt, const char *email,
                           int add, char *err, size_t errlen)
{
    char k[ADDR_MAX + 2], e[ADDR_MAX + 2], detail[600];
    unsigned long long n = 0;

    if (store_check_key("recipient", rcpt, 0, k, sizeof(k), NULL, err, errlen) < 0
        || check_email(email, e, sizeof(e), err, errlen) < 0)
        return STORE_INVALID;
    const char *p[2] = { k, e };
    if (store_tx_begin(db, err, errlen) < 0)
        return STORE_ERROR;
    if (add) {
        long long found = db_query(db, "SELECT 1 FROM protected_users WHERE recipient = ?", p, 1,
                                   NULL, NULL, err, errlen);
        if (found < 0)
            return store_tx_rollback(db, STORE_ERROR);
        if (found == 0) {
            snprintf(err, errlen, "%s is not protected (guardlist protect %s first)", k, k);
            return store_tx_rollback(db, STORE_NOTFOUND);
        }
    }
    if (db_exec(db, add ? "INSERT IGNORE INTO guardians (recipient, email) VALUES (?, ?)"
                        : "DELETE FROM guardians WHERE recipient = ? AND email = ?",
                p, 2, &n, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    if (n == 0) {
        snprintf(err, errlen, add ? "%s already guards %s" : "%s does not guard %s", e, k);
        return store_tx_rollback(db, STORE_NOTFOUND);
    }
    snprintf(detail, sizeof(detail), "recipient=%s guardian=%s", k, e);
    return store_tx_commit(db, actor, add ? "guardian-add" : "guardian-remove", detail, err, errlen);
}

int store_guardian_add(struct db *db, const char *actor, const char *rcpt, const char *email,
                       char *err, size_t errlen)
{
    return guardian_change(db, actor, rcpt, email, 1, err, errlen);
}

int store_guardian_remove(struct db *db, const char *actor, const char *rcpt, const char *email,
                          char *err, size_t errlen)
{
    return guardian_change(db, actor, rcpt, email, 0, err, errlen);
}

int store_rule_set(struct db *db, const char *actor, const char *rcpt, const char *sender,
                   const char *action, char *err, size_t errlen)
{
    char r[ADDR_MAX + 2], s[ADDR_MAX + 2], a[ACTION_MAX + 1], why[200], detail[900];
    enum action_kind kind;

    if (rcpt && store_check_key("recipient", rcpt, 0, r, sizeof(r), NULL, err, errlen) < 0)
        return STORE_INVALID;
    if (store_check_key("sender", sender, 1, s, sizeof(s), NULL, err, errlen) < 0)
        return STORE_INVALID;
    if (action_check(action, a, sizeof(a), &kind, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "invalid action: %s", why);
        return STORE_INVALID;
    }
    if (store_tx_begin(db, err, errlen) < 0)
        return STORE_ERROR;
    if (rcpt) {
        const char *p[4] = { r, s, a, actor };
        if (db_exec(db, "INSERT INTO sender_rules (recipient, sender, action, created_by) "
                        "VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE action = VALUES(action), "
                        "created_by = VALUES(created_by)", p, 4, NULL, err, errlen) < 0)
            return store_tx_rollback(db, STORE_ERROR);
        snprintf(detail, sizeof(detail), "recipient=%s sender=%s action=%s", r, s, a);
    } else {
        const char *p[2] = { s, a };
        if (db_exec(db, "INSERT INTO whitelist (sender, action) VALUES (?, ?) "
                        "ON DUPLICATE KEY UPDATE action = VALUES(action)", p, 2, NULL, err, errlen) < 0)
            return store_tx_rollback(db, STORE_ERROR);
        snprintf(detail, sizeof(detail), "global sender=%s action=%s", s, a);
    }
    /* The challenges this rule now answers close with it. */
    unsigned long long closed = 0;
    if (cover_close(db, actor, rcpt ? r : NULL, s, &closed, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    if (closed) {
        size_t o = strlen(detail);
        snprintf(detail + o, sizeof(detail) - o, " closed=%llu", closed);
    }
    int rc = store_tx_commit(db, actor, "rule-set", detail, err, errlen);
    if (rc == STORE_DONE && closed)
        snprintf(err, errlen, "%llu pending request(s) it answers were closed with it", closed);
    else if (rc == STORE_DONE && errlen)
        err[0] = '\0';
    return rc;
}

int store_rule_rm(struct db *db, const char *actor, const char *rcpt, const char *sender,
                  char *err, size_t errlen)
{
    char r[ADDR_MAX + 2], s[ADDR_MAX + 2], detail[600];
    unsigned long long n = 0;

    if (rcpt && store_check_key("recipient", rcpt, 0, r, sizeof(r), NULL, err, errlen) < 0)
        return STORE_INVALID;
    if (store_check_key("sender", sender, 1, s, sizeof(s), NULL, err, errlen) < 0)
        return STORE_INVALID;
    if (store_tx_begin(db, err, errlen) < 0)
        return STORE_ERROR;
    const char *p[2] = { rcpt ? r : s, s };
    int rc = rcpt ? db_exec(db, "DELETE FROM sender_rules WHERE recipient = ? AND sender = ?", p, 2, &n, err, errlen)
                  : db_exec(db, "DELETE FROM whitelist WHERE sender = ?", p, 1, &n, err, errlen);
    if (rc < 0)
        return store_tx_rollback(db, STORE_ERROR);
    if (n == 0) {
        if (rcpt)
            snprintf(err, errlen, "no rule for sender %s and recipient %s", s, r);
        else
            snprintf(err, errlen, "no global rule for sender %s", s);
        return store_tx_rollback(db, STORE_NOTFOUND);
    }
    if (rcpt)
        snprintf(detail, sizeof(detail), "recipient=%s sender=%s", r, s);
    else
        snprintf(detail, sizeof(detail), "global sender=%s", s);
    return store_tx_commit(db, actor, "rule-rm", detail, err, errlen);
}

int store_is_outbound(const struct store_challenge *c)
{
    return strcmp(c->direction, "out") == 0;
}

const char *store_rule_recipient(const struct store_challenge *c)
{
    return store_is_outbound(c) ? c->recipient : c->key;
}

int store_challenge_read(struct store_challenge *c, int ncol, const char *const *col)
{
    struct { char *to; size_t size; } f[STORE_CHALLENGE_NCOLS] = {
        { c->id_text, sizeof(c->id_text) }, { c->sender, sizeof(c->sender) },
        { c->recipient, sizeof(c->recipient) }, { c->key, sizeof(c->key) },
        { c->status, sizeof(c->status) }, { c->first_seen, sizeof(c->first_seen) },
        { c->last_seen, sizeof(c->last_seen) }, { c->attempts, sizeof(c->attempts) },
        { c->client_name, sizeof(c->client_name) }, { c->client_address, sizeof(c->client_address) },
        { c->decided_by, sizeof(c->decided_by) }, { c->decided_at, sizeof(c->decided_at) },
        { c->decided_rule, sizeof(c->decided_rule) }, { c->spf_result, sizeof(c->spf_result) },
        { c->direction, sizeof(c->direction) },
    };

    memset(c, 0, sizeof(*c));
    if (ncol < STORE_CHALLENGE_NCOLS)
        return -1;
    for (int i = 0; i < STORE_CHALLENGE_NCOLS; i++)
        snprintf(f[i].to, f[i].size, "%s", col[i] ? col[i] : "");
    c->id = strtoull(c->id_text, NULL, 10);
    c->found = 1;
    return STORE_CHALLENGE_NCOLS;
}

int store_challenge_row(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    (void)len;
    return store_challenge_read(arg, ncol, col) < 0 ? -1 : 0;
}

int store_is_null_sender(const char *sender)
{
    char key[ADDR_MAX + 2], why[160];
    enum addr_key_kind kind = AK_DOMAIN;

    /* guardlistd stores the key "<>"; whatever else a row written by hand
     * holds counts as <> exactly when an approval would write a <> rule. */
    if (!sender || !*sender)
        return 1;
    return addr_key_check(sender, 1, key, sizeof(key), &kind, why, sizeof(why)) == 0 && kind == AK_NULL;
}

int store_decider_ok(struct db *db, const struct store_decider *by, unsigned long long id, const char *key,
                     char *err, size_t errlen)
{
    char idbuf[24];
    long long n = 0;

    /* Plain equalities on normalised keys: the key columns compare byte for
     * byte.  LOCK IN SHARE MODE: inside store_challenge_decide's
     * transaction, a removal waits until the decision is written. */
    snprintf(idbuf, sizeof(idbuf), "%llu", id);
    if (by->role == STORE_BY_ADMIN)
        return 1;
    if (by->role == STORE_BY_GUARDIAN) {
        const char *p[2] = { key, by->guardian ? by->guardian : "" };
        if (db_query_number(db, "SELECT COUNT(*) FROM guardians WHERE recipient = ? AND email = ? "
                                "LOCK IN SHARE MODE", p, 2, &n, err, errlen) < 0)
            return -1;
        if (n <= 0)
            snprintf(err, errlen, "%s is no longer a guardian of %s", by->guardian ? by->guardian : "", key);
        return n > 0;
    }
    const char *p[2] = { key, idbuf };
    if (db_query_number(db, "SELECT COUNT(*) > 0 AND COUNT(*) = COUNT(g.email) FROM notifications n "
                            "LEFT JOIN guardians g ON g.recipient = ? AND g.email = n.guardian "
                            "WHERE n.challenge_id = ? AND n.token_sha256 IS NULL LOCK IN SHARE MODE",
                        p, 2, &n, err, errlen) < 0)
        return -1;
    if (n <= 0)
        snprintf(err, errlen, "the old link of challenge %s cannot be tied to current guardians of %s",
                 idbuf, key);
    return n > 0;
}

static const struct domainwide *domain_policy;

void store_use_domainwide(const struct domainwide *dw)
{
    domain_policy = dw;
}

static struct domainwide *configured;   /* store_configure()'s own policy */

int store_configure(const char *freemail_domains, const char *recipient_delimiter, char *err, size_t errlen)
{
    store_unconfigure();
    if (!(configured = domainwide_load(freemail_domains, err, errlen)))
        return -1;
    store_use_domainwide(configured);
    cover_set_delimiters(recipient_delimiter);
    return 0;
}

void store_unconfigure(void)
{
    if (configured && domain_policy == configured)
        store_use_domainwide(NULL);
    domainwide_free(configured);
    configured = NULL;
}

/* The domain key "everyone at" names for SENDER into OUT; 0 or -1. */
static int sender_domain(const char *sender, char *out, size_t outlen)
{
    const char *at = sender ? strrchr(sender, '@') : NULL;
    char why[160];
    enum addr_key_kind kind = AK_ADDRESS;

    if (!at || !at[1] || addr_key_check(at + 1, 0, out, outlen, &kind, why, sizeof(why)) < 0)
        return -1;
    return kind == AK_DOMAIN ? 0 : -1;
}

int store_domain_approvable(const char *sender, char *why, size_t whylen)
{
    char d[ADDR_MAX + 2];

    if (sender_domain(sender, d, sizeof(d)) < 0) {
        snprintf(why, whylen, "sender %s has no domain to approve", sender ? sender : "");
        return 0;
    }
    return domainwide_ok(domain_policy, d, why, whylen);
}

/* The sender key of the rule that decision HOW writes for sender SENDER.
 * A domain approval is judged here, so the approval page, the admin page
 * and the CLI refuse the same domains. */
static int rule_sender_for(const char *sender, enum store_decision how, char *out, size_t outlen,
                           char *err, size_t errlen)
{
    char why[300];
    enum addr_key_kind kind = AK_DOMAIN;

    if (how == STORE_APPROVE_DOMAIN || how == STORE_APPROVE_DOMAIN_FORCED) {
        if (sender_domain(sender, out, outlen) < 0) {
            snprintf(err, errlen, "sender %s has no domain to approve", sender);
            return STORE_INVALID;
        }
        if (how == STORE_APPROVE_DOMAIN && !store_domain_approvable(sender, why, sizeof(why))) {
            snprintf(err, errlen, "%s", why);
            return STORE_INVALID;
        }
    } else if (how == STORE_BLOCK) {
        snprintf(out, outlen, "%s", sender);     /* refusing is always safe */
    } else if (addr_key_check(sender, 1, out, outlen, &kind, why, sizeof(why)) < 0
               || (kind != AK_ADDRESS && kind != AK_NULL)) {
        /* Only a whole address (or <>) makes a one-sender allow; anything
         * else would be a key for many senders. */
        snprintf(err, errlen, "sender %s is not a single address; approve it with guardlist rule set", sender);
        return STORE_INVALID;
    }
    return 0;
}

int store_challenge_decide(struct db *db, const struct store_decider *by, unsigned long long id,
                           enum store_decision how, char *result, size_t resultlen,
                           char *err, size_t errlen)
{
    struct store_challenge c = { 0 };
    char idbuf[24], detail[1400], rule_sender[ADDR_MAX + 2];
    int refuse = how == STORE_DENY || how == STORE_BLOCK;
    const char *verb = how == STORE_BLOCK ? "block" : refuse ? "deny" : "approve";

    snprintf(idbuf, sizeof(idbuf), "%llu", id);
    const char *pid[1] = { idbuf };
    if (store_tx_begin(db, err, errlen) < 0)
        return STORE_ERROR;
    if (db_query(db, "SELECT " STORE_CHALLENGE_COLUMNS("") " FROM challenges "
                     "WHERE id = ? FOR UPDATE", pid, 1, store_challenge_row, &c, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    if (!c.found) {
        snprintf(err, errlen, "no challenge with id %s", idbuf);
        return store_tx_rollback(db, STORE_NOTFOUND);
    }
    /* Who may decide, asked with the challenge row locked: a guardian
     * removed a moment ago decides nothing. */
    int may = store_decider_ok(db, by, id, c.key, err, errlen);
    if (may <= 0)
        return store_tx_rollback(db, may < 0 ? STORE_ERROR : STORE_NOT_GUARDIAN);
    if (strcmp(c.status, "pending") != 0) {
        snprintf(err, errlen, "challenge %s is already %s", idbuf, c.status);
        return store_tx_rollback(db, STORE_NOTFOUND);
    }
    if (how == STORE_APPROVE_DOMAIN_FORCED && by->role != STORE_BY_ADMIN) {
        snprintf(err, errlen, "only an administrator can approve any domain as a whole");
        return store_tx_rollback(db, STORE_ADMIN_ONLY);
    }
    if (by->role != STORE_BY_ADMIN && store_is_null_sender(c.sender)) {
        snprintf(err, errlen, "challenge %s is for the null sender <> (bounce messages): only an administrator "
                 "can decide it, as allowing it lets every bounce message through", idbuf);
        return store_tx_rollback(db, STORE_ADMIN_ONLY);
    }
    if (store_is_outbound(&c) && (how == STORE_APPROVE_DOMAIN || how == STORE_APPROVE_DOMAIN_FORCED)) {
        snprintf(err, errlen, "challenge %s is a child's request to write to %s: it allows that one address, "
                 "not its domain", idbuf, c.sender);
        return store_tx_rollback(db, STORE_INVALID);
    }
    const char *rcpt = store_rule_recipient(&c);
    if (how != STORE_DENY) {
        int rc = rule_sender_for(c.sender, how, rule_sender, sizeof(rule_sender), err, errlen);
        if (rc < 0)
            return store_tx_rollback(db, rc);
        const char *p[4] = { rcpt, rule_sender, how == STORE_BLOCK ? "REJECT" : "OK", by->actor };
        if (db_exec(db, "INSERT INTO sender_rules (recipient, sender, action, created_by) "
                        "VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE action = VALUES(action), "
                        "created_by = VALUES(created_by)", p, 4, NULL, err, errlen) < 0)
            return store_tx_rollback(db, STORE_ERROR);
    }
    const char *pu[3] = { refuse ? "denied" : "approved", by->actor, idbuf };
    if (db_exec(db, "UPDATE challenges SET status = ?, is_open = NULL, decided_at = CURRENT_TIMESTAMP, "
                    "decided_by = ? WHERE id = ?", pu, 3, NULL, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    /* The other requests the new rule answers close with this one. */
    unsigned long long closed = 0;
    if (how != STORE_DENY && cover_close(db, by->actor, rcpt, rule_sender, &closed, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    if (how == STORE_DENY)
        snprintf(detail, sizeof(detail), "challenge=%s sender=%s recipient=%s denied", idbuf, c.sender,
                 c.recipient);
    else
        snprintf(detail, sizeof(detail), "challenge=%s sender=%s recipient=%s rule=%s/%s %s%s", idbuf,
                 c.sender, c.recipient, rcpt, rule_sender, how == STORE_BLOCK ? "REJECT" : "OK",
                 how == STORE_APPROVE_DOMAIN_FORCED ? " forced" : "");
    if (closed) {
        size_t o = strlen(detail);
        snprintf(detail + o, sizeof(detail) - o, " closed=%llu", closed);
    }
    if (result)
        snprintf(result, resultlen, "%s", detail);
    return store_tx_commit(db, by->actor, verb, detail, err, errlen);
}

int store_expire(struct db *db, const char *actor, int ttl_days, int purge_days,
                 unsigned long long *expired, unsigned long long *purged, char *err, size_t errlen)
{
    char ttl[16], purge[16], detail[128];

    snprintf(ttl, sizeof(ttl), "%d", ttl_days);
    snprintf(purge, sizeof(purge), "%d", purge_days);
    const char *p1[1] = { ttl }, *p2[1] = { purge };
    *expired = *purged = 0;
    if (store_tx_begin(db, err, errlen) < 0)
        return STORE_ERROR;
    if (db_exec(db, "UPDATE challenges SET status = 'expired', is_open = NULL, "
                    "decided_at = CURRENT_TIMESTAMP, decided_by = 'expire' "
                    "WHERE status = 'pending' AND first_seen < CURRENT_TIMESTAMP - INTERVAL ? DAY",
                p1, 1, expired, err, errlen) < 0
        || db_exec(db, "DELETE FROM challenges WHERE status <> 'pending' "
                       "AND COALESCE(decided_at, last_seen) < CURRENT_TIMESTAMP - INTERVAL ? DAY",
                   p2, 1, purged, err, errlen) < 0
        /* The hourly caps' counts of hours past (guardlistd counts the current one). */
        || db_exec(db, "DELETE FROM cap_counts WHERE hour_start < CURRENT_TIMESTAMP - INTERVAL 2 HOUR",
                   NULL, 0, NULL, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    if (*expired == 0 && *purged == 0) {
        if (db_exec(db, sql_commit, NULL, 0, NULL, err, errlen) < 0)
            return store_tx_rollback(db, STORE_ERROR);
        return STORE_NOTFOUND;
    }
    snprintf(detail, sizeof(detail), "expired=%llu purged=%llu", *expired, *purged);
    return store_tx_commit(db, actor, "expire", detail, err, errlen);
}

/* ---- guardians whose own address is protected ---- */

struct guardian_scan {
    const char *key;            /* protected key just added, or NULL */
    char *warn;
    size_t warnlen, used;
    int found;
    struct db *db;
};

static void warn_add(struct guardian_scan *s, const char *email, const char *key)
{
    if (s->used >= s->warnlen)
        return;
    int w = snprintf(s->warn + s->used, s->warnlen - s->used, "%sguardian %s is protected (by %s)",
                     s->found ? "; " : "", email, key);
    s->used = w < 0 ? s->warnlen : s->used + (size_t)w;
    s->found++;
}

/* The protected_users key that covers EMAIL (decide()'s keys), in OUT, or "". */
static int protecting_key(struct db *db, const char *email, char *out, size_t outlen, char *err, size_t errlen)
{
    struct addr a;
    struct addr_keys k;
    char why[128];

    out[0] = '\0';
    if (addr_parse(email, "", &a, why, sizeof(why)) < 0 || a.is_null)
        return 0;
    addr_keys(&a, &k);
    for (size_t i = 0; i < k.n; i++) {
        const char *p[1] = { k.key[i] };
        long long n = 0;
        if (db_query_number(db, "SELECT COUNT(*) FROM protected_users WHERE recipient = ?", p, 1, &n, err,
                            errlen) < 0)
            return -1;
        if (n > 0) {
            snprintf(out, outlen, "%s", k.key[i]);
            return 1;
        }
    }
    return 0;
}

/* ---- logins mapped to a protected child (guardlist account) ---- */

int store_account_set(struct db *db, const char *actor, const char *login, const char *address,
                      char *err, size_t errlen)
{
    char l[ACCOUNT_LOGIN_MAX + 1], a[ADDR_MAX + 2], key[ADDR_MAX + 2], why[120], detail[900];
    enum addr_key_kind kind;
    unsigned long long n = 0;

    if (account_login_fold(login, l, sizeof(l), why, sizeof(why)) < 0) {
        snprintf(err, errlen, "invalid login '%.80s': %s", login ? login : "", why);
        return STORE_INVALID;
    }
    if (store_check_key("address", address, 0, a, sizeof(a), &kind, err, errlen) < 0)
        return STORE_INVALID;
    if (kind != AK_ADDRESS) {
        snprintf(err, errlen, "invalid address '%.80s': the child's full address (user@domain) is needed", address);
        return STORE_INVALID;
    }
    if (store_tx_begin(db, err, errlen) < 0)
        return STORE_ERROR;
    int p = protecting_key(db, a, key, sizeof(key), err, errlen);
    if (p < 0)
        return store_tx_rollback(db, STORE_ERROR);
    if (p == 0) {
        /* Checked inside the transaction: a mapping to an address nobody
         * protects would only look like control. */
        snprintf(err, errlen, "%s is not protected: protect it first (guardlist protect %s)", a, a);
        return store_tx_rollback(db, STORE_INVALID);
    }
    const char *v[3] = { l, a, actor };
    if (db_exec(db, "INSERT INTO accounts (login, address, created_by) VALUES (?, ?, ?) "
                    "ON DUPLICATE KEY UPDATE created_by = IF(address = VALUES(address), created_by, "
                    "VALUES(created_by)), address = VALUES(address)", v, 3, &n, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    if (n == 0) {
        snprintf(err, errlen, "login %s already maps to %s", l, a);
        return store_tx_rollback(db, STORE_NOTFOUND);
    }
    snprintf(detail, sizeof(detail), "login=%s address=%s protected_by=%s", l, a, key);
    return store_tx_commit(db, actor, "account-add", detail, err, errlen);
}

int store_account_remove(struct db *db, const char *actor, const char *login, char *err, size_t errlen)
{
    char l[ACCOUNT_LOGIN_MAX + 1], why[120], detail[400];
    unsigned long long n = 0;

    if (account_login_fold(login, l, sizeof(l), why, sizeof(why)) < 0) {
        snprintf(err, errlen, "invalid login '%.80s': %s", login ? login : "", why);
        return STORE_INVALID;
    }
    const char *p[1] = { l };
    if (store_tx_begin(db, err, errlen) < 0)
        return STORE_ERROR;
    if (db_exec(db, "DELETE FROM accounts WHERE login = ?", p, 1, &n, err, errlen) < 0)
        return store_tx_rollback(db, STORE_ERROR);
    if (n == 0) {
        snprintf(err, errlen, "no account for login %s", l);
        return store_tx_rollback(db, STORE_NOTFOUND);
    }
    snprintf(detail, sizeof(detail), "login=%s", l);
    return store_tx_commit(db, actor, "account-remove", detail, err, errlen);
}

static int row_guardian_email(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct guardian_scan *s = arg;
    char key[ADDR_MAX + 2], err[200];

    (void)len;
    if (ncol < 1 || !col[0])
        return 0;
    if (s->key) {
        if (cover_matches(NULL, s->key, col[0], "") && s->found < 8)
            warn_add(s, col[0], s->key);
        return 0;
    }
    if (protecting_key(s->db, col[0], key, sizeof(key), err, sizeof(err)) > 0 && s->found < 8)
        warn_add(s, col[0], key);
    return 0;
}

int store_guardians_protected(struct db *db, const char *key, const char *email, char *warn, size_t warnlen,
                              char *err, size_t errlen)
{
    struct guardian_scan s = { NULL, warn, warnlen, 0, 0, db };
    char k[ADDR_MAX + 2], e[ADDR_MAX + 2];

    if (warnlen)
        warn[0] = '\0';
    if (email) {
        if (check_email(email, e, sizeof(e), err, errlen) < 0)
            return STORE_INVALID;
        int rc = protecting_key(db, e, k, sizeof(k), err, errlen);
        if (rc > 0)
            warn_add(&s, e, k);
        return rc < 0 ? STORE_ERROR : s.found;
    }
    if (store_check_key("recipient", key, 0, k, sizeof(k), NULL, err, errlen) < 0)
        return STORE_INVALID;
    s.key = k;
    /* Every guardian address (of any key) the new key covers. */
    return db_query(db, "SELECT DISTINCT email FROM guardians ORDER BY email", NULL, 0, row_guardian_email, &s,
                    err, errlen) < 0 ? STORE_ERROR : s.found;
}
