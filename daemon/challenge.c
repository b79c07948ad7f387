/*
 * challenge - guardlistd's challenge writer thread.
 *
 * Takes the unknown (sender, recipient) pairs the event loop hands over and
 * creates or refreshes their one open challenge, many per transaction, on its
 * own connection, so the event loop never waits for the database; a
 * challenge keeps the SPF verdict it was made with (a write without one
 * leaves the column alone).  A job is reported ok only after COMMIT; on any failure
 * every job of the batch is reported failed and the loop answers 451 (never
 * an allow).  Fed by
 * answer.c from every event-loop thread (the queue has a mutex); each
 * finished batch goes to the done function main() gave (loop.c hands every
 * job back to the event-loop thread that made it).
 */
#include "challenge.h"
#include "cover.h"
#include "db.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_MAX 10000
#define BATCH_MAX 500
#define STOP_DRAIN_S 2

struct challenge_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    time_t stop_at;
    int failing;                    /* atomic: the last batch failed */
    struct challenge_job *head, *tail;
    size_t queued;
    struct db *db;
    challenge_done_fn *done;
};

/* Creates or refreshes the open challenge, unless the pair (or the sender
 * without its +ext, as decide() judges it) was closed meanwhile (the
 * ruleset in memory can be up to a refresh behind): denied or expired
 * (then the pair is refused), or approved in the last ten minutes (its
 * rule is about to be in force).  Either way the guardian is not asked
 * a second time.  A pair a block rule closed (decided_rule) is refused by
 * that rule while it exists, and is a stranger again once it is removed. */
#define UPSERT_TAIL \
    "FROM DUAL WHERE NOT EXISTS (" \
    "SELECT 1 FROM challenges WHERE sender IN (?, ?) AND recipient = ? AND is_open IS NULL " \
    "AND ((status IN ('denied', 'expired') AND decided_rule IS NULL) OR (status = 'approved' " \
    "AND decided_at > CURRENT_TIMESTAMP - INTERVAL 10 MINUTE))) " \
    "ON DUPLICATE KEY UPDATE attempts = attempts + CAST(? AS UNSIGNED), last_seen = CURRENT_TIMESTAMP, " \
    "client_address = VALUES(client_address), client_name = VALUES(client_name)"
static const char sql_upsert[] =
    "INSERT INTO challenges (sender, recipient, protected_key, client_address, client_name) "
    "SELECT ?, ?, ?, ?, ? " UPSERT_TAIL;
/* With an SPF verdict (spf = on).  Only then is the column named: with SPF
 * off, an account not yet granted spf_result (schema 7) still records. */
static const char sql_upsert_spf[] =
    "INSERT INTO challenges (sender, recipient, protected_key, client_address, client_name, spf_result) "
    "SELECT ?, ?, ?, ?, ?, ? " UPSERT_TAIL ", spf_result = VALUES(spf_result)";
/* Past a cap: only a challenge already open is refreshed. */
static const char sql_refresh_open[] =
    "UPDATE challenges SET attempts = attempts + CAST(? AS UNSIGNED), last_seen = CURRENT_TIMESTAMP, "
    "client_address = ?, client_name = ? WHERE sender = ? AND recipient = ? AND is_open = 1";
/* After the upsert wrote nothing: refused (denied/expired) or just approved? */
static const char sql_closed[] =
    "SELECT COUNT(*) FROM challenges WHERE sender IN (?, ?) AND recipient = ? AND is_open IS NULL "
    "AND status IN ('denied', 'expired') AND decided_rule IS NULL";

static const char sql_begin[] = "START TRANSACTION";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";

static int write_batch(struct challenge_writer *w, struct challenge_job *batch, char *err, size_t errlen)
{
    if (db_connect(w->db, err, errlen) < 0 || db_exec(w->db, sql_begin, NULL, 0, NULL, err, errlen) < 0)
        return -1;
    for (struct challenge_job *j = batch; j; j = j->next) {
        char attempts[16];
        snprintf(attempts, sizeof(attempts), "%u", j->attempts ? j->attempts : 1);
        const char *p[10] = { j->sender, j->recipient, j->protected_key,
                              j->client_address[0] ? j->client_address : NULL,
                              j->client_name[0] ? j->client_name : NULL, j->spf_result,
                              j->sender, j->base, j->recipient, attempts };
        const char *p9[9] = { p[0], p[1], p[2], p[3], p[4], p[6], p[7], p[8], p[9] };   /* without SPF */
        int spf = j->spf_result[0] != '\0';
        const char *pr[5] = { attempts, p[3], p[4], j->sender, j->recipient };
        unsigned long long affected = 0;
        const char *ruled = NULL;

        /* A new pair a rule written a moment ago already decides (the rules
         * in memory are up to a refresh behind): no challenge, so the
         * guardian is not asked about what is decided (lib/cover.c). */
        if (j->fd >= 0 && !j->capped && cover_pair(w->db, j->sender, j->recipient, j->protected_key, &ruled,
                                                   err, errlen) < 0) {
            char ignore[64];
            if (db_connected(w->db))
                db_exec(w->db, sql_rollback, NULL, 0, NULL, ignore, sizeof(ignore));
            return -1;
        }
        if (ruled) {
            j->closed = j->created = j->none = 0;
            j->ruled = 1;
            continue;
        }
        if (j->capped ? db_exec(w->db, sql_refresh_open, pr, 5, &affected, err, errlen) < 0
                      : (spf ? db_exec(w->db, sql_upsert_spf, p, 10, &affected, err, errlen)
                             : db_exec(w->db, sql_upsert, p9, 9, &affected, err, errlen)) < 0) {
            char ignore[64];
            if (db_connected(w->db))
                db_exec(w->db, sql_rollback, NULL, 0, NULL, ignore, sizeof(ignore));
            return -1;
        }
        j->closed = 0;
        j->created = !j->capped && affected == 1;   /* 1 inserted, 2 updated (ON DUPLICATE KEY) */
        j->none = 0;
        j->ruled = 0;
        if (affected == 0) {
            long long refused = 0;
            const char *pc[3] = { j->sender, j->base, j->recipient };
            if (db_query_number(w->db, sql_closed, pc, 3, &refused, err, errlen) < 0) {
                char ignore[64];
                if (db_connected(w->db))
                    db_exec(w->db, sql_rollback, NULL, 0, NULL, ignore, sizeof(ignore));
                return -1;
            }
            j->closed = refused > 0;    /* else just approved: the usual reply, no new challenge */
            j->none = j->capped && !j->closed;
        }
    }
    return db_exec(w->db, sql_commit, NULL, 0, NULL, err, errlen);
}

static void *writer_main(void *arg)
{
    struct challenge_writer *w = arg;
    char err[512];
    int failing = 0;

    for (;;) {
        struct challenge_job *batch, *last;
        size_t n = 0;

        pthread_mutex_lock(&w->mu);
        while (!w->stop && !w->head)
            pthread_cond_wait(&w->cv, &w->mu);
        /* Stopping: what is queued (the writes behind the last replies) is
         * still written while the database answers, for STOP_DRAIN_S. */
        if (w->stop && (!w->head || failing || time(NULL) - w->stop_at >= STOP_DRAIN_S)) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        batch = last = w->head;
        for (n = 1; n < BATCH_MAX && last->next; n++)
            last = last->next;
        w->head = last->next;
        if (!w->head)
            w->tail = NULL;
        last->next = NULL;
        w->queued -= n;
        pthread_mutex_unlock(&w->mu);

        int ok = write_batch(w, batch, err, sizeof(err)) == 0;
        if (!ok && !failing)
            log_error("recording challenges failed, answering 451: %s", err);
        else if (ok && failing)
            log_info("recording challenges works again");
        failing = !ok;
        __atomic_store_n(&w->failing, failing, __ATOMIC_RELAXED);
        for (struct challenge_job *j = batch; j; j = j->next)
            j->ok = ok;
        w->done(batch);
    }
    return NULL;
}

struct challenge_writer *challenge_writer_start(const struct config_db *dbp, challenge_done_fn *done)
{
    struct challenge_writer *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->db = db_new(dbp);
    w->done = done;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (!w->db || pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        db_free(w->db);
        free(w);
        return NULL;
    }
    return w;
}

static int submit(struct challenge_writer *w, struct challenge_job *job, size_t max)
{
    pthread_mutex_lock(&w->mu);
    if (w->queued >= max) {
        pthread_mutex_unlock(&w->mu);
        return -1;
    }
    job->next = NULL;
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    w->queued++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int challenge_submit(struct challenge_writer *w, struct challenge_job *job)
{
    return submit(w, job, QUEUE_MAX);
}

int challenge_submit_behind(struct challenge_writer *w, struct challenge_job *job)
{
    return submit(w, job, QUEUE_MAX / 2);
}

int challenge_writer_ok(const struct challenge_writer *w)
{
    return !__atomic_load_n(&w->failing, __ATOMIC_RELAXED);
}

static void free_list(struct challenge_job *j)
{
    while (j) {
        struct challenge_job *next = j->next;
        free(j);
        j = next;
    }
}

void challenge_writer_stop(struct challenge_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    w->stop_at = time(NULL);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    free_list(w->head);
    db_free(w->db);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
