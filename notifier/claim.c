/*
 * claim - guardlist-notify's first steps of a cycle: claim the challenges
 * that are due, then read each one's guardians.
 *
 * cycle() calls it.  A claim is a lease (notify_claimed_until), taken in one
 * transaction with FOR UPDATE SKIP LOCKED, so several notifiers never take
 * one challenge twice and a crashed notifier's claims are taken up again
 * once the lease ends.  On a Galera cluster row locks are each node's own:
 * two notifiers on two nodes may read the same due rows, and the second
 * COMMIT fails certification (a deadlock error); that claim is rolled back
 * whole and taken again (what the other took is no longer due), so a
 * challenge is still claimed once.  A dry run reads and claims nothing.
 *
 * SECURITY: guardian rows may come from raw SQL: one that is not an address
 * (a CR/LF would inject headers) is never mailed.
 */
#include "claim.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TEXT_OF(x) #x
#define NUMBER_TEXT(x) TEXT_OF(x)   /* CLAIM_MAX as "200", for the query */
#define LEASE_SECONDS "300"
#define CLAIM_TRIES 5               /* claims run again after a conflict */

#define DUE_QUERY \
    "SELECT " STORE_CHALLENGE_COLUMNS("") ", notify_attempts FROM challenges " \
    "WHERE status = 'pending' AND ((notify_state = 'new' AND (notify_next_at IS NULL " \
    "OR notify_next_at <= CURRENT_TIMESTAMP)) OR (notify_state = 'claimed' " \
    "AND notify_claimed_until < CURRENT_TIMESTAMP)) ORDER BY id LIMIT " NUMBER_TEXT(CLAIM_MAX)
static const char sql_due[] = DUE_QUERY " FOR UPDATE SKIP LOCKED";
static const char sql_due_dry[] = DUE_QUERY;
static const char sql_claim[] =
    "UPDATE challenges SET notify_state = 'claimed', "
    "notify_claimed_until = CURRENT_TIMESTAMP + INTERVAL " LEASE_SECONDS " SECOND WHERE id = ?";
static const char sql_guardians[] =
    "SELECT g.email, n.id FROM guardians g LEFT JOIN notifications n "
    "ON n.challenge_id = ? AND n.guardian = g.email WHERE g.recipient = ? ORDER BY g.email";

struct claim_ctx {
    struct challenge *c;
    size_t n;
};

static int row_due(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct claim_ctx *cc = arg;

    (void)ncol;
    (void)len;
    if (cc->n >= CLAIM_MAX)         /* cannot happen: the query has LIMIT CLAIM_MAX */
        return 0;
    struct challenge *c = &cc->c[cc->n];
    memset(c, 0, sizeof(*c));
    int k = store_challenge_read(&c->row, ncol, col);
    if (k < 0 || ncol < k + 1)
        return -1;
    cc->n++;
    const char *name = c->row.client_name, *address = c->row.client_address;
    if (name[0])
        snprintf(c->client, sizeof(c->client), "%.255s [%.64s]", name, address[0] ? address : "?");
    else
        snprintf(c->client, sizeof(c->client), "%.64s", address[0] ? address : "unknown");
    c->notify_attempts = atoi(col[k]);
    return 0;
}

/* One claim, in one transaction.  On failure sets *CONFLICT when it met
 * another notifier's claim (a deadlock; a Galera certification conflict). */
static long claim_once(struct db *db, struct challenge *c, int *conflict, char *err, size_t errlen)
{
    struct claim_ctx cc = { c, 0 };

    *conflict = 0;
    if (db_exec(db, "START TRANSACTION", NULL, 0, NULL, err, errlen) < 0)
        return -1;
    if (db_query(db, sql_due, NULL, 0, row_due, &cc, err, errlen) < 0)
        goto fail;
    /* Each claim in the transaction (else another notifier's claim, which
     * ended it on a Galera node, would be claimed over: db_in_transaction). */
    for (size_t i = 0; i < cc.n; i++) {
        const char *p[1] = { c[i].row.id_text };
        if (!db_in_transaction(db) || db_exec(db, sql_claim, p, 1, NULL, err, errlen) < 0)
            goto fail;
    }
    if (!db_in_transaction(db) || db_exec(db, "COMMIT", NULL, 0, NULL, err, errlen) < 0)
        goto fail;
    return (long)cc.n;
fail:
    if (!db_in_transaction(db) && db_connected(db) && !db_errno(db))
        snprintf(err, errlen, "the server ended the claim's transaction (a conflict with another notifier)");
    *conflict = db_error_retryable(db) || (db_connected(db) && !db_in_transaction(db));
    {
        char ignore[64];
        if (db_connected(db))
            db_exec(db, "ROLLBACK", NULL, 0, NULL, ignore, sizeof(ignore));
    }
    return -1;
}

long claim_due(struct db *db, struct challenge *c, int dry_run, char *err, size_t errlen)
{
    if (dry_run) {
        struct claim_ctx cc = { c, 0 };
        return db_query(db, sql_due_dry, NULL, 0, row_due, &cc, err, errlen) < 0 ? -1 : (long)cc.n;
    }
    static unsigned int seed;

    if (!seed)
        seed = (unsigned int)time(NULL) ^ ((unsigned int)getpid() << 16);
    for (int run = 1;; run++) {
        int conflict = 0;
        long n = claim_once(db, c, &conflict, err, errlen);
        if (n >= 0 || !conflict || run == CLAIM_TRIES)
            return n;
        log_debug("claiming challenges met another notifier (run %d of %d): %s", run, CLAIM_TRIES, err);
        /* Apart at random, so the two do not meet again. */
        usleep((useconds_t)(run * 20000 + rand_r(&seed) % 20000));
    }
}

static int row_guardian(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct challenge *c = arg;

    (void)ncol;
    (void)len;
    if (c->nguardians == CLAIM_MAX_GUARDIANS)
        return 0;
    /* Rows may come from raw SQL: an address that is not one (a CR/LF would
     * inject headers) is never mailed. */
    char checked[ADDR_MAX + 2], why[160], shown[300];
    enum addr_key_kind kind = AK_DOMAIN;
    if (addr_key_check(col[0], 0, checked, sizeof(checked), &kind, why, sizeof(why)) < 0 || kind != AK_ADDRESS) {
        log_warning("challenge %s: guardian '%s' of %s is not a usable address; skipped",
                    c->row.id_text, log_printable(shown, sizeof(shown), col[0]), c->row.key);
        return 0;
    }
    snprintf(c->guardian[c->nguardians], sizeof(c->guardian[0]), "%s", checked);
    c->done[c->nguardians] = col[1] != NULL;
    c->nguardians++;
    return 0;
}

int claim_guardians(struct db *db, struct challenge *c, long n, char *err, size_t errlen)
{
    for (long i = 0; i < n; i++) {
        const char *p[2] = { c[i].row.id_text, c[i].row.key };
        if (db_query(db, sql_guardians, p, 2, row_guardian, &c[i], err, errlen) < 0)
            return -1;
    }
    return 0;
}
