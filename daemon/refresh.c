/*
 * refresh - guardlistd's rule refresher thread.
 *
 * Polls rule_generation every refresh_interval seconds on its own database
 * connection.  When it moved by inserts and closed challenges only, the rows
 * inserted since are added to a copy of the published ruleset (a copy costs
 * milliseconds; reading a million rules again costs seconds).  Anything else
 * (an update or delete, a table's AUTO_INCREMENT going down after a TRUNCATE,
 * which fires no trigger, or full_reload_interval passing) reads every table
 * again.  Either way a new ruleset goes to the control thread, which publishes it to the loops; a published
 * one is never changed.  Started and stopped by main(); of the control thread it
 * only ever calls control_wake().
 */
#include "refresh.h"
#include "db.h"
#include "log.h"
#include "control.h"
#include "metrics.h"
#include "rulesdb.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct refresher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int down;                       /* atomic: the last poll could not reach the database */
    int interval, full_interval;
    struct ruleset *ready;          /* built, not yet taken */
    struct ruleset *last;           /* the newest built, kept to copy from */
    struct db *db;
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A ruleset RS built (HOW: "all rows" or "new rows") in SECS: logged and counted. */
static void report_load(const struct ruleset *rs, const char *how, const struct rulesdb_skips *skips, double secs)
{
    if (skips->count)
        log_warning("skipped %zu unusable rule rows, first: %s", skips->count, skips->first);
    log_info("rules loaded (%s): generation=%llu protected=%zu global=%zu per_recipient=%zu "
             "closed_challenges=%zu accounts=%zu bytes=%zu ms=%.1f", how,
             ruleset_generation(rs), ruleset_count(rs, RS_PROTECTED),
             ruleset_count(rs, RS_GLOBAL), ruleset_count(rs, RS_RULE),
             ruleset_count(rs, RS_CLOSED), ruleset_count(rs, RS_ACCOUNT), ruleset_bytes(rs), secs * 1000);
    metrics_rules_loaded(strcmp(how, "all rows") == 0, secs, ruleset_count(rs, RS_GLOBAL) + ruleset_count(rs, RS_RULE),
                         ruleset_count(rs, RS_PROTECTED));
}

/* The thread: every interval, a delta or a full load when the rules moved. */
static void *refresher_main(void *arg)
{
    struct refresher *r = arg;
    unsigned long long loaded_gen = 0;
    int have = 0, down = 0, load_failing = 0, truncated = 0, entry = -1;
    struct rulesdb_stamp stamp = { .valid = 0 };
    struct rulesdb_mark mark;
    double last_full = 0;
    char err[512];

    for (;;) {
        unsigned long long gen;
        int interval, full_interval;

        pthread_mutex_lock(&r->mu);
        interval = r->interval;
        full_interval = r->full_interval;
        pthread_mutex_unlock(&r->mu);

        db_prefer_first(r->db);
        if (db_connect(r->db, err, sizeof(err)) < 0 || rulesdb_generation(r->db, &gen, err, sizeof(err)) < 0
            || rulesdb_truncated(r->db, &stamp, &truncated, err, sizeof(err)) < 0) {
            if (!down)
                log_warning("database unreachable, deciding from the rules in memory: %s", err);
            down = 1;
            metrics_db_error();
            __atomic_store_n(&r->down, 1, __ATOMIC_RELAXED);
        } else {
            if (down)
                log_info("database reachable again");
            down = 0;
            __atomic_store_n(&r->down, 0, __ATOMIC_RELAXED);
            metrics_refreshed();
            if (truncated)
                log_info("a table was truncated: reloading the rules");
            /* Another database server may hold another copy (a replica
             * behind, other row ids): the delta marks mean nothing there. */
            int now_entry = db_entry(r->db);
            int full = !have || truncated || now_entry != entry || mono_now() - last_full >= full_interval;
            if (full || gen != loaded_gen) {
                struct rulesdb_skips skips;
                double t0 = mono_now();
                struct ruleset *rs = NULL;
                const char *how = "all rows";
                if (!full) {
                    rs = ruleset_clone(r->last);
                    int rc = rs ? rulesdb_delta(r->db, rs, &mark, &skips, err, sizeof(err)) : 0;
                    if (rc != 1) {
                        if (rc < 0)
                            log_warning("reading the new rule rows failed, reading all: %s", err);
                        ruleset_free(rs);
                        rs = NULL;
                    } else {
                        how = "new rows";
                    }
                }
                if (!rs) {
                    rs = rulesdb_load(r->db, &skips, &mark, err, sizeof(err));
                    if (rs) {
                        last_full = mono_now();
                        entry = now_entry;
                    }
                }
                if (!rs) {
                    if (!load_failing)      /* once per failure, not every second */
                        log_error("loading rules failed (will keep trying): %s", err);
                    load_failing = 1;
                    metrics_db_error();
                } else {
                    load_failing = 0;
                    report_load(rs, how, &skips, mono_now() - t0);
                    loaded_gen = ruleset_generation(rs);
                    have = 1;
                    ruleset_free(r->last);
                    r->last = ruleset_ref(rs);
                    pthread_mutex_lock(&r->mu);
                    ruleset_free(r->ready);     /* a newer one replaces an untaken one */
                    r->ready = rs;
                    pthread_mutex_unlock(&r->mu);
                    control_wake();
                }
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += interval;
        pthread_mutex_lock(&r->mu);
        while (!r->stop) {
            if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT)
                break;
        }
        int stop = r->stop;
        pthread_mutex_unlock(&r->mu);
        if (stop)
            break;
    }
    return NULL;
}

struct refresher *refresher_start(const struct config_db *dbp, int interval, int full_interval)
{
    struct refresher *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->db = db_new(dbp);
    r->interval = interval;
    r->full_interval = full_interval;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (!r->db || pthread_create(&r->thread, NULL, refresher_main, r) != 0) {
        db_free(r->db);
        free(r);
        return NULL;
    }
    return r;
}

void refresher_set_intervals(struct refresher *r, int interval, int full_interval)
{
    pthread_mutex_lock(&r->mu);
    r->interval = interval;
    r->full_interval = full_interval;
    pthread_mutex_unlock(&r->mu);
}

struct ruleset *refresher_take(struct refresher *r)
{
    struct ruleset *rs;

    pthread_mutex_lock(&r->mu);
    rs = r->ready;
    r->ready = NULL;
    pthread_mutex_unlock(&r->mu);
    return rs;
}

int refresher_db_ok(const struct refresher *r)
{
    return !__atomic_load_n(&r->down, __ATOMIC_RELAXED);
}

void refresher_stop(struct refresher *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    ruleset_free(r->ready);
    ruleset_free(r->last);
    db_free(r->db);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
