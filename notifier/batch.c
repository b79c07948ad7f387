/*
 * batch - plans one guardlist-notify cycle's emails: for each guardian of
 * the claimed challenges, oldest challenge first, a single email each up to
 * the hourly cap, past it one digest of every waiting challenge, at most
 * one every digest_delay seconds; the rest waits for the next digest
 * (the rules are notifyplan.c's).
 *
 * cycle() calls it after the claim.  One notifier at a time plans, sends
 * and records for a guardian, so two notifiers never both spend the same
 * hourly cap: it holds the guardian's row in notify_locks (a row, so a
 * MariaDB Galera cluster certifies it across nodes) and, on its own server,
 * a named lock; cycle() releases both at its end.  A dry run takes no lock.
 */
#include "batch.h"
#include "log.h"
#include "notifyplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Two locks per guardian.  The named lock (GET_LOCK) is the server's own:
 * MariaDB waits for it (up to 5 s: a cycle mails a batch in well under
 * that; without the wait two `--once` runs could leave half a batch
 * unsent), detects two notifiers waiting for each other's locks at once
 * (ER_USER_LOCK_DEADLOCK, counted as busy), and drops it with a crashed
 * notifier's connection.  Galera does not replicate it, so the row in
 * notify_locks is what holds across a cluster's nodes: its write is
 * certified, so of two notifiers on two nodes taking it at once one fails
 * (a deadlock error) or finds it held.  The row says who holds it
 * ("server:port/connection id") and until when (LOCK_LEASE): on the
 * holder's own server, whoever has the named lock may take the row over
 * (its holder there is gone: it would hold the named lock too); from
 * another node only once the lease is over, a crashed notifier's rows. */
#define LOCK_LEASE "300"            /* seconds; the claims' lease (claim.c) */
#define LOCK_WAIT_MS 5000           /* the row: as long as the named lock waits */
#define LOCK_POLL_MS 100
#define THIS_SERVER "CONCAT(@@hostname, ':', @@port, '/')"
#define THIS_HOLDER "CONCAT(@@hostname, ':', @@port, '/', CONNECTION_ID())"
static const char sql_lock_guardian[] = "SELECT GET_LOCK(CONCAT('guardlist-notify:', MD5(?)), 5)";
static const char sql_unlock_guardian[] = "SELECT RELEASE_LOCK(CONCAT('guardlist-notify:', MD5(?)))";
static const char sql_unlock_all[] = "SELECT RELEASE_ALL_LOCKS()";
static const char sql_lock_row[] =
    "INSERT INTO notify_locks (guardian, locked_by, locked_until) "
    "VALUES (?, " THIS_HOLDER ", CURRENT_TIMESTAMP + INTERVAL " LOCK_LEASE " SECOND) "
    "ON DUPLICATE KEY UPDATE locked_by = IF(locked_by IS NULL OR locked_until < CURRENT_TIMESTAMP "
    "OR LEFT(locked_by, CHAR_LENGTH(" THIS_SERVER ")) = " THIS_SERVER ", VALUES(locked_by), locked_by), "
    "locked_until = IF(locked_by = VALUES(locked_by), VALUES(locked_until), locked_until)";
static const char sql_holds_row[] =
    "SELECT COUNT(*) FROM notify_locks WHERE guardian = ? AND locked_by = " THIS_HOLDER;
static const char sql_unlock_rows[] =
    "UPDATE notify_locks SET locked_by = NULL, locked_until = NULL WHERE locked_by = " THIS_HOLDER;
static const char sql_singles[] =
    "SELECT COUNT(*) FROM notifications WHERE guardian = ? AND kind = 'single' "
    "AND sent_at > CURRENT_TIMESTAMP - INTERVAL 1 HOUR";
static const char sql_since_digest[] =
    "SELECT COALESCE(TIMESTAMPDIFF(SECOND, MAX(sent_at), CURRENT_TIMESTAMP), -1) FROM notifications "
    "WHERE guardian = ? AND kind = 'digest'";

/* 1 if GUARDIAN was planned already in this cycle, else notes it and 0. */
static int planned_before(struct batch *b, const char *guardian)
{
    for (size_t k = 0; k < b->nplanned; k++)
        if (strcmp(b->planned[k], guardian) == 0)
            return 1;
    snprintf(b->planned[b->nplanned++], sizeof(b->planned[0]), "%s", guardian);
    return 0;
}

/* Appends every challenge from C[I] to C[N-1] that waits for GUARDIAN. */
static void collect_items(struct batch *b, struct challenge *c, long i, long n, const char *guardian)
{
    for (long j = i; j < n; j++)
        for (int h = 0; h < c[j].nguardians; h++)
            if (!c[j].done[h] && strcmp(c[j].guardian[h], guardian) == 0)
                b->items[b->nitems++] = &c[j];
}

/* 1 if this notifier now holds GUARDIAN's row in notify_locks.  A write
 * that met another node's (a Galera certification conflict) counts as
 * held by the other. */
static int lock_row(struct db *db, const char *guardian)
{
    const char *p[1] = { guardian };
    long long mine = 0;
    char err[600];

    return db_exec(db, sql_lock_row, p, 1, NULL, err, sizeof(err)) == 0
           && db_query_number(db, sql_holds_row, p, 1, &mine, err, sizeof(err)) >= 0 && mine == 1;
}

/* 1 if this notifier now holds GUARDIAN's locks, the named one and the
 * row.  It waits for the row only while it holds no other guardian's (WAIT):
 * two notifiers never wait for each other. */
static int lock_guardian(struct db *db, const char *guardian, int wait)
{
    const char *p[1] = { guardian };
    long long locked = 0;
    char err[600];

    if (db_query_number(db, sql_lock_guardian, p, 1, &locked, err, sizeof(err)) < 0 || locked != 1)
        return 0;
    for (int waited = 0; !lock_row(db, guardian); waited += LOCK_POLL_MS) {
        if (!wait || waited >= LOCK_WAIT_MS) {
            db_query_number(db, sql_unlock_guardian, p, 1, &locked, err, sizeof(err));
            return 0;
        }
        usleep(LOCK_POLL_MS * 1000);
    }
    return 1;
}

/* Plans COUNT waiting challenges of GUARDIAN into ACT from what went out
 * to them in the last hour. */
static long plan_guardian(struct db *db, const char *guardian, int max_per_hour, int digest_delay, size_t count,
                          enum notifyplan_action *act)
{
    const char *p[1] = { guardian };
    long long singles = 0, since = -1;
    char err[600];

    if (db_query_number(db, sql_singles, p, 1, &singles, err, sizeof(err)) < 0
        || db_query_number(db, sql_since_digest, p, 1, &since, err, sizeof(err)) < 0) {
        log_error("counting emails to %s: %s", guardian, err);
        singles = max_per_hour;
        since = 0;          /* unknown: wait rather than flood */
    }
    notifyplan_actions(max_per_hour, (int)singles, (long)since, digest_delay, count, act);
    return notifyplan_digest_wait((long)since, digest_delay);
}

/* Turns the items from FIRST on, all GUARDIAN's, into emails as ACT says. */
/* 1 if the singles from FIRST on (ACT) are about two children or more:
 * they go out together, in one email. */
static int singles_for_several(const struct batch *b, size_t first, const enum notifyplan_action *act)
{
    for (size_t k = first + 1; k < b->nitems && act[k] == NOTIFYPLAN_SINGLE; k++)
        if (strcmp(b->items[k]->row.recipient, b->items[first]->row.recipient) != 0)
            return 1;
    return 0;
}

static void add_mails(struct batch *b, const char *guardian, size_t first, const enum notifyplan_action *act,
                      long wait)
{
    struct mail *digest = NULL, *group = NULL;
    int together = first < b->nitems && act[first] == NOTIFYPLAN_SINGLE && singles_for_several(b, first, act);

    for (size_t k = first; k < b->nitems; k++) {
        if (act[k] == NOTIFYPLAN_WAIT) {
            b->items[k]->waiting++;
            if (b->items[k]->wait_seconds == 0 || wait < b->items[k]->wait_seconds)
                b->items[k]->wait_seconds = wait;   /* due again when the next digest is */
        } else if (act[k] == NOTIFYPLAN_SINGLE && together) {
            if (!group) {       /* the singles are contiguous from FIRST */
                group = &b->mails[b->nmails++];
                snprintf(group->guardian, sizeof(group->guardian), "%s", guardian);
                group->group = 1;
                group->items = &b->items[k];
            }
            group->nitems++;
        } else if (act[k] == NOTIFYPLAN_SINGLE) {
            struct mail *m = &b->mails[b->nmails++];
            snprintf(m->guardian, sizeof(m->guardian), "%s", guardian);
            m->items = &b->items[k];
            m->nitems = 1;
        } else {
            if (!digest) {
                digest = &b->mails[b->nmails++];
                snprintf(digest->guardian, sizeof(digest->guardian), "%s", guardian);
                digest->digest = 1;
                digest->items = &b->items[k];
            }
            digest->nitems++;       /* digest items are contiguous from here */
        }
    }
    /* Digest items must be contiguous: NOTIFYPLAN_DIGEST entries always follow the singles. */
}

int batch_plan(struct db *db, struct challenge *c, long n, int max_per_hour, int digest_delay, int dry_run,
               struct batch *b)
{
    size_t cap = (size_t)n * CLAIM_MAX_GUARDIANS;
    enum notifyplan_action *act = calloc(cap, sizeof(*act));

    memset(b, 0, sizeof(*b));
    b->mails = calloc(cap, sizeof(*b->mails));
    b->items = calloc(cap, sizeof(*b->items));  /* NOLINT(bugprone-sizeof-expression) */
    b->planned = calloc(cap, sizeof(*b->planned));
    if (!act || !b->mails || !b->items || !b->planned) {
        free(act);
        batch_free(b);
        return -1;
    }
    for (long i = 0; i < n; i++) {
        for (int g = 0; g < c[i].nguardians; g++) {
            const char *guardian = c[i].guardian[g];
            if (c[i].done[g] || planned_before(b, guardian))
                continue;
            size_t first = b->nitems;
            collect_items(b, c, i, n, guardian);
            if (!dry_run && !lock_guardian(db, guardian, b->nlocked == 0)) {
                for (size_t k = first; k < b->nitems; k++)
                    b->items[k]->busy++;    /* another notifier is mailing this guardian */
                continue;
            }
            b->nlocked += !dry_run;
            long wait = plan_guardian(db, guardian, max_per_hour, digest_delay, b->nitems - first, act + first);
            add_mails(b, guardian, first, act, wait);
        }
    }
    free(act);
    return 0;
}

void batch_free(struct batch *b)
{
    for (size_t k = 0; k < b->nmails; k++)
        mail_free(&b->mails[k]);
    free(b->mails);
    free(b->items);
    free(b->planned);
    memset(b, 0, sizeof(*b));
}

int batch_release_locks(struct db *db, char *err, size_t errlen)
{
    long long released;

    /* The rows first: while this connection has the named locks, no
     * notifier on this server takes a row it still holds. */
    if (db_exec(db, sql_unlock_rows, NULL, 0, NULL, err, errlen) < 0)
        return -1;
    return db_query_number(db, sql_unlock_all, NULL, 0, &released, err, errlen) < 0 ? -1 : 0;
}
