/* notifystats.h - guardlist-notify's counters for /metrics ([notifier]
 * metrics_listen). */
#ifndef GUARDLIST_NOTIFYSTATS_H
#define GUARDLIST_NOTIFYSTATS_H

#include <stddef.h>

#include "buf.h"
#include "db.h"
#include "mail.h"

/* After the smarthost answered MAILS[N]: sent, failed, retried, digests. */
void notifystats_mails(const struct mail *mails, size_t n);

/* After a cycle: counts it and reads the queue (challenges waiting for an
 * email, the oldest one's age) from DB; a failed read keeps the last. */
void notifystats_cycle(struct db *db);

/* The /metrics page (promhttp's render function; its own thread). */
void notifystats_render(struct buf *out);

#endif
