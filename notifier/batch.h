/* batch.h - which guardian gets which email in one guardlist-notify cycle:
 * the hourly cap, one digest for the overflow, one notifier per guardian. */
#ifndef GUARDLIST_NOTIFY_BATCH_H
#define GUARDLIST_NOTIFY_BATCH_H

#include <stddef.h>

#include "claim.h"
#include "db.h"
#include "mail.h"

/* This cycle's emails, and the arrays they point into. */
struct batch {
    struct mail *mails;
    size_t nmails;
    struct challenge **items;       /* each guardian's waiting challenges, in a row */
    size_t nitems;
    char (*planned)[ADDR_MAX + 2];  /* guardians already planned */
    size_t nplanned;
    size_t nlocked;                 /* guardians whose locks this notifier holds */
};

/* Plans the emails for C[N] per guardian, oldest challenge first, within
 * MAX_PER_HOUR single emails a guardian an hour and past it one digest of
 * everything waiting every DIGEST_DELAY seconds.  Takes a
 * lock per guardian (not in a DRY_RUN; a named lock on this server and a
 * row in notify_locks, which holds across Galera nodes): a guardian another
 * notifier holds counts as busy on the challenges, as does the cap as waiting.  Returns 0,
 * or -1 when out of memory.  batch_free() frees B. */
int batch_plan(struct db *db, struct challenge *c, long n, int max_per_hour, int digest_delay, int dry_run,
               struct batch *b);

/* Frees B's emails and arrays; B may be reused. */
void batch_free(struct batch *b);

/* Releases every guardian lock this connection holds (rows and named locks).  Returns 0, or -1
 * with ERR set. */
int batch_release_locks(struct db *db, char *err, size_t errlen);

#endif
