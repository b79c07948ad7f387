/* guardlistd.h - the parts of guardlistd that run in their own threads. */
#ifndef GUARDLISTD_H
#define GUARDLISTD_H

#include <pthread.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "ruleset.h"

/* refresh.c: keeps a current ruleset, reloading when rule_generation moves. */
struct refresher;
struct refresher *refresher_start(const struct config_db *dbp, int interval, int full_interval,
                                  int wake_fd);
void refresher_set_intervals(struct refresher *r, int interval, int full_interval);
struct ruleset *refresher_take(struct refresher *r);   /* newest set or NULL; caller owns */
void refresher_stop(struct refresher *r);

/* challenge.c: records challenges off the event loop, in batches. */
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
    char sender[ADDR_MAX + 2];
    char recipient[ADDR_MAX + 2];
    char protected_key[ADDR_MAX + 2];
    char client_address[64];
    char client_name[256];
};
struct challenge_writer;
struct challenge_writer *challenge_writer_start(const struct config_db *dbp, int wake_fd);
/* Queues JOB (ownership passes).  Returns -1 if the queue is full. */
int challenge_submit(struct challenge_writer *w, struct challenge_job *job);
struct challenge_job *challenge_take_done(struct challenge_writer *w);  /* list, caller frees */
void challenge_writer_stop(struct challenge_writer *w);

/* Wakes the event loop (eventfd). */
void wake_loop(int wake_fd);

#endif
