/*
 * spfpool - guardlistd's SPF worker threads and verdict cache.
 *
 * answer.c asks spfpool_cached() on the event-loop threads (one mutex, held
 * for a hash lookup) and hands what is not cached to spfpool_submit(); a
 * worker evaluates it with its own checker (daemon/spf.c: libspf2 objects are
 * not shared between threads), keeps the verdict for its TTL, and hands the
 * job back through the done function (loop.c wakes the loop that asked).
 * The queue is bounded: past [policy] spf_queue the caller answers 451.
 * Workers block on DNS, never the loops; a worker stuck in DNS at shutdown
 * is not waited for beyond STOP_WAIT_S.
 */
#include "spfpool.h"
#include "log.h"
#include "spfcache.h"
#include "strcopy.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_MAX 32768             /* verdicts kept (~700 bytes each at most) */
#define STOP_WAIT_S 3
#define WORKERS_MAX 64
#define RELOAD_TRIES 3              /* evaluations of one job a run of SIGHUPs may overtake */

static const struct config *cfg;
static spfpool_done_fn *done_fn;

/* Guards everything below; adaptive: the event loops hold it for a cache
 * lookup, and spin that long rather than sleep in the kernel. */
static pthread_mutex_t mu = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t exited_cv = PTHREAD_COND_INITIALIZER;
static struct spf_job *head, *tail;
static size_t queued;
static int stopping, running;
static char resolver[sizeof(((struct config *)0)->policy.resolver)];
static unsigned long resolver_gen;
static struct spfcache *cache;
static pthread_t workers[WORKERS_MAX];
static int nworkers;

static time_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

int spfpool_key(const char *sender, const char *domain, const char *helo, char *out, size_t outlen)
{
    const char *at = strrchr(sender, '@');
    size_t n = 0;

    if (outlen == 0)
        return -1;
    out[0] = '\0';
    if (str_append_n(out, outlen, &n, sender, at ? (size_t)(at - sender) : 0) < 0
        || str_concat(out, outlen, &n, "@", domain, "\n", helo ? helo : "", (const char *)NULL) < 0)
        return -1;
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return 0;
}

/* The key of a verdict that holds for every sender of DOMAIN (no record
 * read used a sender or HELO macro): a sender's key never starts with a
 * newline (its local part is never empty). */
static void domain_key(const char *domain, char *out, size_t outlen)
{
    size_t n = 0;

    out[0] = '\0';
    str_concat(out, outlen, &n, "\n", domain, (const char *)NULL);
}

/* Caller holds mu. */
static int lookup(const struct spf_job *j, time_t now, enum spf_verdict *v)
{
    char dkey[SPFPOOL_KEY_MAX];

    if (!cache)
        return 0;
    domain_key(j->domain, dkey, sizeof(dkey));
    return spfcache_get(cache, dkey, j->client, now, v) || spfcache_get(cache, j->key, j->client, now, v);
}

int spfpool_cached(const struct spf_job *j, enum spf_verdict *v)
{
    pthread_mutex_lock(&mu);
    int hit = lookup(j, mono_now(), v);
    pthread_mutex_unlock(&mu);
    return hit;
}

int spfpool_submit(struct spf_job *job)
{
    pthread_mutex_lock(&mu);
    if (stopping || queued >= (size_t)cfg->policy.spf_queue) {
        pthread_mutex_unlock(&mu);
        return -1;
    }
    job->next = NULL;
    if (tail)
        tail->next = job;
    else
        head = job;
    tail = job;
    queued++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return 0;
}

void spfpool_reload(const char *fresh)
{
    pthread_mutex_lock(&mu);
    if (strcmp(fresh, resolver) != 0) {
        snprintf(resolver, sizeof(resolver), "%s", fresh);
        resolver_gen++;
        spfcache_clear(cache);      /* verdicts of the old server's answers */
    }
    pthread_mutex_unlock(&mu);
}

/* The next job, or NULL when stopping.  Caller holds mu. */
static struct spf_job *take(void)
{
    while (!stopping && !head)
        pthread_cond_wait(&cv, &mu);
    if (stopping)
        return NULL;
    struct spf_job *j = head;
    head = j->next;
    if (!head)
        tail = NULL;
    queued--;
    return j;
}

/* A checker for the current resolver, made again when it changed.  Caller
 * holds mu (the resolver is read under it); the checker is made outside. */
static struct spf_checker *current_checker(struct spf_checker *ck, unsigned long *gen)
{
    char want[sizeof(resolver)], err[300];

    if (ck && *gen == resolver_gen)
        return ck;
    snprintf(want, sizeof(want), "%s", resolver);
    *gen = resolver_gen;
    pthread_mutex_unlock(&mu);
    spf_checker_free(ck);
    ck = spf_checker_new(want, err, sizeof(err));
    if (!ck)
        log_error("SPF: cannot set up a checker for resolver \"%s\": %s; answering 451 until it can",
                  want[0] ? want : "system", err);
    pthread_mutex_lock(&mu);
    if (!ck)
        *gen = resolver_gen - 1;    /* try again with the next job */
    return ck;
}

/* Evaluates J with CK (NULL: no checker, temperror) into J->verdict and
 * *TTL.  Called without mu. */
static void evaluate(struct spf_checker *ck, struct spf_job *j, unsigned *ttl, int *personal)
{
    struct spf_query q = { j->client, j->sender, j->domain, j->helo };
    struct spf_outcome o;
    struct timespec t0, t1;
    char dom[300], why[300];

    *ttl = 0;
    *personal = 1;
    if (!ck) {
        j->verdict = SPF_V_TEMPERROR;
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    spf_check(ck, &q, &o);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    j->verdict = o.verdict;
    *ttl = o.ttl;
    *personal = o.personal;
    log_info("spf domain=\"%s\" client=%s verdict=%s ttl=%u queries=%u ms=%.0f why=\"%s\"",
             log_printable(dom, sizeof(dom), j->domain), j->client, spf_verdict_name(o.verdict), o.ttl,
             o.queries, (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
             log_printable(why, sizeof(why), o.why));
}

/* J's verdict from the resolver in force when it is handed back: an
 * evaluation that a SIGHUP overtook (the old server's answers, perhaps the
 * very reason for the change) is neither kept nor answered, but made again
 * with the new checker, RELOAD_TRIES times at most (then temperror).  Only
 * a verdict of the current resolver goes into the cache.  Caller holds mu;
 * it is let go around each evaluation. */
static struct spf_checker *judge(struct spf_checker *ck, unsigned long *gen, struct spf_job *j)
{
    for (int tries = 0; tries < RELOAD_TRIES; tries++) {
        unsigned ttl;
        int personal;

        ck = current_checker(ck, gen);
        unsigned long used = *gen;  /* the resolver generation this evaluation asks */
        pthread_mutex_unlock(&mu);
        evaluate(ck, j, &ttl, &personal);
        pthread_mutex_lock(&mu);
        if (!ck)
            return ck;              /* temperror, nothing kept */
        if (used == resolver_gen) {
            time_t now = mono_now();
            char dkey[SPFPOOL_KEY_MAX];
            domain_key(j->domain, dkey, sizeof(dkey));
            spfcache_put(cache, personal ? j->key : dkey, j->client, j->verdict, now, now + (time_t)ttl);
            return ck;
        }
        log_info("spf: the resolver changed during an evaluation; evaluating again");
    }
    j->verdict = SPF_V_TEMPERROR;
    return ck;
}

static void *worker_main(void *arg)
{
    struct spf_checker *ck = NULL;
    unsigned long gen = (unsigned long)-1;

    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        struct spf_job *j = take();
        if (!j)
            break;
        /* A burst of one new pair queues it many times: the first
         * evaluation answers the others from the cache. */
        if (!lookup(j, mono_now(), &j->verdict))
            ck = judge(ck, &gen, j);
        if (stopping)
            free(j);                /* the loops are gone: nobody to hand it to */
        else
            done_fn(j);             /* under mu: never after spfpool_stop() returns */
    }
    running--;
    pthread_cond_signal(&exited_cv);
    pthread_mutex_unlock(&mu);
    spf_checker_free(ck);
    return NULL;
}

int spfpool_start(const struct config *conf, spfpool_done_fn *done)
{
    cfg = conf;
    done_fn = done;
    snprintf(resolver, sizeof(resolver), "%s", conf->policy.resolver);
    cache = spfcache_new(CACHE_MAX);
    if (!cache)
        return -1;
    int n = conf->policy.spf_threads < WORKERS_MAX ? conf->policy.spf_threads : WORKERS_MAX;
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&workers[i], NULL, worker_main, NULL);
        if (rc != 0) {
            errno = rc;
            return -1;
        }
        pthread_mutex_lock(&mu);
        running++;
        nworkers++;
        pthread_mutex_unlock(&mu);
    }
    return 0;
}

/* Waits, STOP_WAIT_S at most, for every worker to leave.  Caller holds mu.
 * Returns 1 if all did. */
static int wait_workers(void)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += STOP_WAIT_S;
    while (running > 0)
        if (pthread_cond_timedwait(&exited_cv, &mu, &until) == ETIMEDOUT)
            break;
    return running == 0;
}

void spfpool_stop(void)
{
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_broadcast(&cv);
    int all = wait_workers();
    while (head) {
        struct spf_job *next = head->next;
        free(head);
        head = next;
    }
    tail = NULL;
    queued = 0;
    pthread_mutex_unlock(&mu);
    if (!all) {
        /* One is still in a DNS wait: it frees its own job and exits with
         * the process; the cache stays for it. */
        log_warning("SPF: a worker is still waiting for DNS; not waiting for it");
        for (int i = 0; i < nworkers; i++)
            pthread_detach(workers[i]);
        return;
    }
    for (int i = 0; i < nworkers; i++)
        pthread_join(workers[i], NULL);
    nworkers = 0;
    spfcache_free(cache);
    cache = NULL;
}
