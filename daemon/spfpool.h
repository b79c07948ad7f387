/* spfpool.h - guardlistd's SPF worker threads: they wait for DNS so the
 * event loops never do, and keep the verdicts in a shared cache. */
#ifndef GUARDLISTD_SPFPOOL_H
#define GUARDLISTD_SPFPOOL_H

#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "spf.h"

/* Bytes of a cache key: a local part, '@', a domain, '\n', a HELO name. */
#define SPFPOOL_KEY_MAX (2 * (ADDR_MAX + 2) + 256 + 2)

struct spf_job {
    struct spf_job *next;
    void *owner;                    /* the event-loop thread the verdict goes back to */
    int fd;
    uint64_t conn_id;
    char client[64];                /* client_address */
    char domain[ADDR_MAX + 2];      /* the sender's domain, lower case */
    char sender[ADDR_MAX + 2];      /* the envelope sender as given */
    char helo[256];
    char key[SPFPOOL_KEY_MAX];      /* spfpool_key() of sender, domain and HELO */
    enum spf_verdict verdict;       /* set by the worker */
};

/* Called on a worker thread with one finished job (ownership passes).
 * Must not block. */
typedef void spfpool_done_fn(struct spf_job *done);

/* Starts [policy] spf_threads workers asking [policy] resolver, and the
 * cache.  Their limits are read from CFG at each use.  Returns -1 when a
 * thread or the memory cannot be had (then spfpool_stop() cleans up). */
int spfpool_start(const struct config *cfg, spfpool_done_fn *done);

/* Stops the workers: each finishes the evaluation it is in, for a few
 * seconds at most (one stuck in DNS is left behind, never waited for);
 * nothing is handed to DONE after this returns.  Frees the queue and cache. */
void spfpool_stop(void);

/* The verdict cache's key for SENDER (its local part), DOMAIN (the one SPF
 * judges) and HELO: "local@domain\nhelo", ASCII lower case, into OUT
 * (SPFPOOL_KEY_MAX bytes).  A verdict is kept under it only when a record
 * read used a macro of the sender or HELO (%{l}, %{s}, %{h}, %{o}): it then
 * holds for that sender and host alone.  Every other verdict is kept for
 * the domain and client (spfpool_cached()), so the many senders of one
 * domain cost one evaluation.  Returns 0, or -1 when it does not fit
 * (never for a job's fields). */
int spfpool_key(const char *sender, const char *domain, const char *helo, char *out, size_t outlen);

/* Any thread: 1 and *V when J's pair has a verdict in force: the domain's
 * for J's client (most records: any sender of the domain), else the one for
 * J's very sender and HELO (a record with their macros). */
int spfpool_cached(const struct spf_job *j, enum spf_verdict *v);

/* Loop thread: queues JOB (ownership passes).  -1 when [policy] spf_queue
 * jobs already wait (the caller keeps JOB). */
int spfpool_submit(struct spf_job *job);

/* SIGHUP, under the settings' write lock: [policy] resolver is RESOLVER
 * from now on; when it changed, the cache is emptied and each worker makes
 * a new checker before its next job; an evaluation already out with the old
 * one is made again, its verdict neither kept nor answered. */
void spfpool_reload(const char *resolver);

#endif
