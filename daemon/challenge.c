/*
 * challenge - guardlistd's challenge writer thread.
 *
 * Takes the unknown (sender, recipient) pairs the event loop hands over and
 * creates or refreshes their one open challenge, many per transaction, on its
 * own connection, so the event loop never waits for the database; a
 * challenge keeps the SPF verdict it was made with (a write without one
 * leaves the column alone).  A new
 * challenge is counted against the hourly caps in the same transaction
 * (cap_counts), so every guardlistd sharing the database shares the caps.
 * A job is reported ok only after COMMIT.  A conflict with another writer
 * (a deadlock; on a Galera cluster, two nodes writing one row at once, e.g.
 * the same stranger seen by two MX hosts) runs the whole batch again, a few
 * times; on any other failure every job of the batch is reported failed and
 * the loop answers 451 (never an allow).  Fed by answer.c from every
 * event-loop thread (the queue has a mutex); each finished batch goes to
 * the done function main() gave (loop.c hands every job back to the
 * event-loop thread that made it).
 */
#include "challenge.h"
#include "capkey.h"
#include "caps.h"
#include "cover.h"
#include "db.h"
#include "log.h"
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_MAX 10000
#define BATCH_MAX 500
#define STOP_DRAIN_S 2
#define CONFLICT_TRIES 8            /* runs of a batch that meets conflicts */
#define CONFLICT_BACKOFF_MS 20      /* before run k+1: k times this, plus as much at random (1.1 s at most in all) */

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
    unsigned int seed;              /* the backoff's jitter */
    int ended;                      /* the server ended this run's transaction (in_transaction) */
};

/* Creates or refreshes the open challenge, unless the pair (or the sender
 * without its +ext, as decide() judges it) was closed meanwhile (the
 * ruleset in memory can be up to a refresh behind): denied or expired
 * (then the pair is refused), or approved in the last ten minutes (its
 * rule is about to be in force).  Either way the guardian is not asked
 * a second time.  A pair a block rule closed (decided_rule) is refused by
 * that rule while it exists, and is a stranger again once it is removed. */
#define UPSERT_TAIL_CLOSED(statuses) \
    "FROM DUAL WHERE NOT EXISTS (" \
    "SELECT 1 FROM challenges WHERE sender IN (?, ?) AND recipient = ? AND is_open IS NULL " \
    "AND ((status IN (" statuses ") AND decided_rule IS NULL) OR (status = 'approved' " \
    "AND decided_at > CURRENT_TIMESTAMP - INTERVAL 10 MINUTE))) " \
    "ON DUPLICATE KEY UPDATE attempts = attempts + CAST(? AS UNSIGNED), last_seen = CURRENT_TIMESTAMP, " \
    "client_address = VALUES(client_address), client_name = VALUES(client_name)"
#define UPSERT_TAIL UPSERT_TAIL_CLOSED("'denied', 'expired'")
static const char sql_upsert[] =
    "INSERT INTO challenges (sender, recipient, protected_key, client_address, client_name) "
    "SELECT ?, ?, ?, ?, ? " UPSERT_TAIL;
/* With an SPF verdict (spf = on).  Only then is the column named: with SPF
 * off, an account not yet granted spf_result (schema 7) still records. */
static const char sql_upsert_spf[] =
    "INSERT INTO challenges (sender, recipient, protected_key, client_address, client_name, spf_result) "
    "SELECT ?, ?, ?, ?, ?, ? " UPSERT_TAIL ", spf_result = VALUES(spf_result)";
/* A child's request to write to a new contact (daemon/outbound.c): the
 * direction is named only then, so an account not yet granted it (schema
 * 9) still records inbound challenges.  No SPF: it is the child's own mail.
 * A pair whose earlier challenge expired undecided is asked again: only a
 * denial refuses the child (lib/decide.c, recipient_contact). */
static const char sql_upsert_out[] =
    "INSERT INTO challenges (sender, recipient, protected_key, client_address, client_name, direction) "
    "SELECT ?, ?, ?, ?, ?, 'out' " UPSERT_TAIL_CLOSED("'denied'");
/* Past a cap: only a challenge already open is refreshed. */
static const char sql_refresh_open[] =
    "UPDATE challenges SET attempts = attempts + CAST(? AS UNSIGNED), last_seen = CURRENT_TIMESTAMP, "
    "client_address = ?, client_name = ? WHERE sender = ? AND recipient = ? AND is_open = 1";
/* After the upsert wrote nothing: refused (denied/expired) or just approved? */
#define SQL_CLOSED(statuses) \
    "SELECT COUNT(*) FROM challenges WHERE sender IN (?, ?) AND recipient = ? AND is_open IS NULL " \
    "AND status IN (" statuses ") AND decided_rule IS NULL"
static const char sql_closed[] = SQL_CLOSED("'denied', 'expired'");
static const char sql_closed_out[] = SQL_CLOSED("'denied'");

/* The caps, counted in the database with each new challenge: one more for
 * the key in this clock hour unless it is at the cap (affected rows: 1 the
 * first, 2 one more, 0 at the cap).  Two daemons counting one key on two
 * Galera nodes conflict, and one of them runs its batch again: the count
 * stays exact.  A challenge past a cap is undone alone (its savepoint). */
static const char sql_cap_count[] =
    "INSERT INTO cap_counts (kind, cap_key, hour_start, n) "
    "VALUES (?, ?, FROM_UNIXTIME(UNIX_TIMESTAMP() DIV 3600 * 3600), 1) "
    "ON DUPLICATE KEY UPDATE n = IF(n < CAST(? AS UNSIGNED), n + 1, n)";
static const char sql_savepoint[] = "SAVEPOINT job";
static const char sql_undo_job[] = "ROLLBACK TO SAVEPOINT job";

static const char sql_begin[] = "START TRANSACTION";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";

/* Before each write and before COMMIT: the run's transaction is still
 * open.  A Galera applier that aborts it (a conflict) ends it at once, and
 * the error does not always reach the next statement (a SELECT may pass it
 * by): the writes after it would each commit alone.  Returns 0, or -1 with
 * ERR set and the run marked as met by another writer. */
static int in_transaction(struct challenge_writer *w, char *err, size_t errlen)
{
    if (db_in_transaction(w->db))
        return 0;
    snprintf(err, errlen, "the server ended the transaction (a conflict with another writer)");
    w->ended = 1;
    return -1;
}

/* Counts J's new challenge against the hourly caps of its protected key
 * and its client.  Returns 1 (both had room, both counted), 0 (a cap is
 * reached: undo the job), or -1 with ERR set. */
static int count_caps(struct challenge_writer *w, struct challenge_job *j, char *err, size_t errlen)
{
    char ckey[CAPKEY_MAX], rmax[16], cmax[16];
    unsigned int per_recipient, per_client;
    unsigned long long affected = 0;

    caps_limits(&per_recipient, &per_client);
    snprintf(rmax, sizeof(rmax), "%u", per_recipient);
    snprintf(cmax, sizeof(cmax), "%u", per_client);
    const char *pr[3] = { "recipient", j->protected_key, rmax };
    if (in_transaction(w, err, errlen) < 0 || db_exec(w->db, sql_cap_count, pr, 3, &affected, err, errlen) < 0)
        return -1;
    if (affected == 0) {
        j->db_full = CAP_FULL_RCPT;
        return 0;
    }
    capkey_client(j->client_address, ckey, sizeof(ckey));
    if (!ckey[0])
        return 1;
    const char *pc[3] = { "client", ckey, cmax };
    if (in_transaction(w, err, errlen) < 0 || db_exec(w->db, sql_cap_count, pc, 3, &affected, err, errlen) < 0)
        return -1;
    if (affected == 0)
        j->db_full = CAP_FULL_CLIENT;
    return affected != 0;
}

/* J's new challenge (just written) is past a cap another daemon filled: it
 * is undone, and J answered as capped. */
static int undo_capped(struct challenge_writer *w, struct challenge_job *j, char *err, size_t errlen)
{
    char key[ADDR_MAX + 2], client[sizeof(j->client_address)];

    if (in_transaction(w, err, errlen) < 0 || db_exec(w->db, sql_undo_job, NULL, 0, NULL, err, errlen) < 0)
        return -1;
    j->created = 0;
    j->none = 1;
    log_info("hourly cap reached in the database (counted by every guardlistd) for protected=\"%s\" or "
             "client=\"%s\": no challenge", log_printable(key, sizeof(key), j->protected_key),
             log_printable(client, sizeof(client), j->client_address));
    return 0;
}

/* Writes J inside the batch's transaction and sets what the writer learned
 * (closed, created, none, ruled; every one, for a batch may run again).
 * Returns 0, or -1 with ERR set. */
static int write_job(struct challenge_writer *w, struct challenge_job *j, char *err, size_t errlen)
{
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

    j->closed = j->created = j->none = j->ruled = j->db_full = 0;
    /* A new pair a rule written a moment ago already decides (the rules
     * in memory are up to a refresh behind): no challenge, so the
     * guardian is not asked about what is decided (lib/cover.c). */
    if (j->fd >= 0 && !j->capped
        && cover_pair(w->db, j->sender, j->recipient, j->protected_key, j->exact_domain, &ruled, err, errlen) < 0)
        return -1;
    if (ruled) {
        j->ruled = 1;
        return 0;
    }
    if (j->capped) {
        if (in_transaction(w, err, errlen) < 0
            || db_exec(w->db, sql_refresh_open, pr, 5, &affected, err, errlen) < 0)
            return -1;
    } else {
        if (db_exec(w->db, sql_savepoint, NULL, 0, NULL, err, errlen) < 0
            || in_transaction(w, err, errlen) < 0
            || (spf ? db_exec(w->db, sql_upsert_spf, p, 10, &affected, err, errlen)
                    : db_exec(w->db, j->outbound ? sql_upsert_out : sql_upsert, p9, 9, &affected, err, errlen)) < 0)
            return -1;
        j->created = affected == 1;     /* 1 inserted, 2 updated (ON DUPLICATE KEY) */
        if (j->created) {
            int room = count_caps(w, j, err, errlen);
            if (room < 0 || (room == 0 && undo_capped(w, j, err, errlen) < 0))
                return -1;
            return 0;
        }
    }
    if (affected == 0) {
        long long refused = 0;
        const char *pc[3] = { j->sender, j->base, j->recipient };
        if (db_query_number(w->db, j->outbound ? sql_closed_out : sql_closed, pc, 3, &refused, err, errlen) < 0)
            return -1;
        j->closed = refused > 0;    /* else just approved: the usual reply, no new challenge */
        j->none = j->capped && !j->closed;
    }
    return 0;
}

/* One run of BATCH in one transaction.  On failure sets *CONFLICT when the
 * run met another writer (a deadlock; a Galera certification conflict) and
 * may run again, and *LOST when a connection made before this run broke
 * (the server went away while the writer was idle: the next connect tries
 * the next [database] host); the transaction is rolled back either way. */
static int write_batch(struct challenge_writer *w, struct challenge_job *batch, int *conflict, int *lost,
                       char *err, size_t errlen)
{
    *conflict = *lost = 0;
    w->ended = 0;
    db_prefer_first(w->db);     /* between transactions: back to the first database entry */
    int was_connected = db_connected(w->db);
    if (db_connect(w->db, err, errlen) < 0)
        return -1;
    if (db_exec(w->db, sql_begin, NULL, 0, NULL, err, errlen) < 0) {
        *lost = was_connected && !db_connected(w->db);
        return -1;
    }
    for (struct challenge_job *j = batch; j; j = j->next)
        if (write_job(w, j, err, errlen) < 0)
            goto fail;
    if (in_transaction(w, err, errlen) == 0 && db_exec(w->db, sql_commit, NULL, 0, NULL, err, errlen) == 0)
        return 0;
fail:
    *conflict = w->ended || db_error_retryable(w->db);
    *lost = was_connected && !db_connected(w->db);
    if (db_connected(w->db)) {
        char ignore[64];
        db_exec(w->db, sql_rollback, NULL, 0, NULL, ignore, sizeof(ignore));
    }
    return -1;
}

/* Writes BATCH, running it again after a conflict with another writer (up
 * to CONFLICT_TRIES runs, a short random wait between them, so two
 * daemons that met do not meet again), and once at once on a fresh
 * connection when the kept one turns out broken: the first stranger after
 * the database node died is recorded on the next one, not answered 451.
 * Returns 0, or -1 with ERR set. */
static int write_batch_retrying(struct challenge_writer *w, struct challenge_job *batch, char *err,
                                size_t errlen)
{
    int reconnected = 0;

    for (int run = 1;; run++) {
        int conflict = 0, lost = 0;
        if (write_batch(w, batch, &conflict, &lost, err, errlen) == 0) {
            if (run > 1)
                log_info("challenges recorded in run %d (%s)", run,
                         reconnected ? "on a new database connection" : "after a conflict with another writer");
            return 0;
        }
        if (lost && !reconnected) {
            reconnected = 1;
            log_warning("the database connection broke (%s); recording the challenges on a new one", err);
            continue;
        }
        if (!conflict || run >= CONFLICT_TRIES)
            return -1;
        log_debug("recording challenges met another writer (run %d of %d): %s", run, CONFLICT_TRIES, err);
        long ms = (long)run * CONFLICT_BACKOFF_MS + (long)(rand_r(&w->seed) % (run * CONFLICT_BACKOFF_MS + 1));
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
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

        int ok = write_batch_retrying(w, batch, err, sizeof(err)) == 0;
        unsigned int made = 0;
        if (!ok && !failing)
            log_error("recording challenges failed, answering 451: %s", err);
        else if (ok && failing)
            log_info("recording challenges works again");
        failing = !ok;
        __atomic_store_n(&w->failing, failing, __ATOMIC_RELAXED);
        for (struct challenge_job *j = batch; j; j = j->next) {
            j->ok = ok;
            made += ok && j->created;
        }
        if (ok)
            metrics_challenges_created(made);
        else
            metrics_db_error();
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
    w->seed = (unsigned int)time(NULL) ^ ((unsigned int)getpid() << 16);
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
