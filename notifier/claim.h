/* claim.h - guardlist-notify's claim on the challenges that are due, and
 * each one's guardians. */
#ifndef GUARDLIST_NOTIFY_CLAIM_H
#define GUARDLIST_NOTIFY_CLAIM_H

#include <stddef.h>

#include "addr.h"
#include "db.h"
#include "store.h"

#define CLAIM_MAX 200               /* challenges a cycle claims at most */
#define CLAIM_MAX_GUARDIANS 16      /* guardians of one challenge that are mailed */

/* A claimed challenge, and what this cycle did about it per guardian. */
struct challenge {
    struct store_challenge row;
    char client[340];               /* "name [address]", as the email shows it */
    int notify_attempts;
    /* outcome of this cycle, per guardian */
    int nguardians;
    char guardian[CLAIM_MAX_GUARDIANS][ADDR_MAX + 2];
    int done[CLAIM_MAX_GUARDIANS];  /* 1 sent before or now, 0 pending */
    int temp_fail, perm_fail, waiting, busy, sent_now;
    long wait_seconds;              /* waiting: seconds until the guardian's next digest */
    char error[256];
};

/* Claims up to CLAIM_MAX due challenges into C[] for a lease (FOR UPDATE
 * SKIP LOCKED, so several notifiers never claim one twice); DRY_RUN only
 * reads them.  Returns the count, or -1 with ERR set. */
long claim_due(struct db *db, struct challenge *c, int dry_run, char *err, size_t errlen);

/* Reads the guardians of C[N] and whom each challenge's email already
 * reached; an address that is not one is warned about and skipped.
 * Returns 0, or -1 with ERR set. */
int claim_guardians(struct db *db, struct challenge *c, long n, char *err, size_t errlen);

#endif
