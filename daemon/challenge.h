/* challenge.h - guardlistd's challenge writer thread: records challenges off
 * the event loop, in batches. */
#ifndef GUARDLISTD_CHALLENGE_H
#define GUARDLISTD_CHALLENGE_H

#include <stdint.h>

#include "addr.h"
#include "config.h"

struct challenge_job {
    struct challenge_job *next;
    int fd;                                 /* -1: a write-behind refresh, nobody waits */
    uint64_t conn_id;
    unsigned int attempts;                  /* tries this write accounts for (0 = 1) */
    int ok;                                 /* set by the writer: recorded */
    int closed;                             /* set by the writer: pair denied/expired, refuse */
    int capped;                             /* a cap is reached: refresh an open challenge, create none */
    int created;                            /* set by the writer: a new challenge row */
    int none;                               /* set by the writer: capped and no open challenge */
    int ruled;                              /* set by the writer: a rule already decides the pair */
    char sender[ADDR_MAX + 2];
    char recipient[ADDR_MAX + 2];
    char protected_key[ADDR_MAX + 2];
    char client_address[64];
    char client_name[256];
};
struct challenge_writer;

/* Starts the thread on its own connection to DBP; it calls loop_wake() when
 * jobs are done.  NULL on failure. */
struct challenge_writer *challenge_writer_start(const struct config_db *dbp);
/* Queues JOB (ownership passes).  Returns -1 if the queue is full. */
int challenge_submit(struct challenge_writer *w, struct challenge_job *job);
struct challenge_job *challenge_take_done(struct challenge_writer *w);  /* list, caller frees */
void challenge_writer_stop(struct challenge_writer *w);

#endif
