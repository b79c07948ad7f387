/* challenge.h - guardlistd's challenge writer thread: records challenges off
 * the event loop, in batches. */
#ifndef GUARDLISTD_CHALLENGE_H
#define GUARDLISTD_CHALLENGE_H

#include <stdint.h>

#include "addr.h"
#include "config.h"

struct challenge_job {
    struct challenge_job *next;
    void *owner;                            /* the event-loop thread the result goes back to */
    int fd;                                 /* -1: a write-behind refresh, nobody waits */
    uint64_t conn_id;
    unsigned long window;                   /* caps window of the reservation / the capped answer */
    int reserved;                           /* counted against the caps (caps_reserve) */
    unsigned int attempts;                  /* tries this write accounts for (0 = 1) */
    int ok;                                 /* set by the writer: recorded */
    int closed;                             /* set by the writer: pair denied/expired, refuse */
    int capped;                             /* a cap is reached: refresh an open challenge, create none */
    int created;                            /* set by the writer: a new challenge row */
    int none;                               /* set by the writer: capped and no open challenge */
    int ruled;                              /* set by the writer: a rule already decides the pair */
    int db_full;                            /* set by the writer: the database's count of this hour is
                                               full (CAP_FULL_RCPT, CAP_FULL_CLIENT; caps.h) */
    int cap_hit;                            /* capped in memory: which cap (CAP_FULL_*), for the metrics */
    int outbound;                           /* a child's request to write to SENDER (direction 'out') */
    char sender[ADDR_MAX + 2];
    char base[ADDR_MAX + 2];                /* SENDER without its +ext: a refusal of it covers SENDER */
    char recipient[ADDR_MAX + 2];
    char protected_key[ADDR_MAX + 2];
    char client_address[64];
    char client_name[256];
    int exact_domain;                       /* rules of the sender's parent domains do not count
                                               (a domain-wide rule whose SPF did not pass) */
    char spf_result[16];                    /* SPF verdict the challenge was made with; "": not checked */
};
struct challenge_writer;

/* Called on the writer thread with each batch written (a list linked by
 * next; ownership passes).  Must not block. */
typedef void challenge_done_fn(struct challenge_job *done);

/* Starts the thread on its own connection to DBP; it hands every finished
 * batch to DONE.  NULL on failure. */
struct challenge_writer *challenge_writer_start(const struct config_db *dbp, challenge_done_fn *done);
/* Queues JOB (ownership passes) for a request that waits for it.  Returns
 * -1 if the queue is full. */
int challenge_submit(struct challenge_writer *w, struct challenge_job *job);
/* Queues a write-behind JOB (nobody waits): refused (-1) once the queue is
 * half full, so writes behind replies never crowd out a waiting request. */
int challenge_submit_behind(struct challenge_writer *w, struct challenge_job *job);
/* 1 while the last batch was written (or none was tried yet), 0 while the
 * database fails: then nothing is answered from memory that today would
 * wait for it (safe from any thread). */
int challenge_writer_ok(const struct challenge_writer *w);
/* Stops the thread.  The jobs still queued are written first while the
 * database answers, for two seconds at most; the rest are dropped. */
void challenge_writer_stop(struct challenge_writer *w);

#endif
