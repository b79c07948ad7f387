/* record.h - what guardlist-notify writes after sending: one notification
 * row per (challenge, guardian) emailed, and each challenge's state. */
#ifndef GUARDLIST_NOTIFY_RECORD_H
#define GUARDLIST_NOTIFY_RECORD_H

#include <stddef.h>

#include "claim.h"
#include "db.h"
#include "mail.h"

/* Records every sent mail of MAILS[N] (with its tokens' hashes, valid
 * TTL_DAYS) and logs every mail's outcome onto its challenges.  Mails
 * without text (not composed) are skipped.  Returns how many were sent. */
long record_mails(struct db *db, struct mail *mails, size_t n, int ttl_days);

/* Writes the state of each of C[N] from this cycle's outcome: sent, failed,
 * or due again after a backoff; an error is logged (the claim expires and
 * the challenge is tried again). */
void record_states(struct db *db, struct challenge *c, long n);

#endif
