/*
 * notifystats - guardlist-notify's counters and its /metrics page.
 *
 * The cycle (main thread) updates them with relaxed atomics; the page is
 * written on lib/promhttp.c's thread, which reads them and never touches
 * the database or the mails.  The queue is read once a cycle, one indexed
 * COUNT over the pending challenges.
 */
#include "notifystats.h"
#include "prom.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static const char sql_queue[] =
    "SELECT COUNT(*), COALESCE(TIMESTAMPDIFF(SECOND, MIN(first_seen), CURRENT_TIMESTAMP), 0) "
    "FROM challenges WHERE status = 'pending' AND notify_state IN ('new', 'claimed')";

static uint64_t sent, failed, retried, digests, cycles;     /* atomic, as are the three below */
static uint64_t queue_len, oldest_s, last_cycle;

void notifystats_mails(const struct mail *mails, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const struct mail *m = &mails[k];
        if (!m->text.p)
            continue;           /* never composed, never sent */
        if (m->outcome == MAIL_ACCEPTED) {
            __atomic_fetch_add(&sent, 1, __ATOMIC_RELAXED);
            if (m->digest)
                __atomic_fetch_add(&digests, 1, __ATOMIC_RELAXED);
        } else if (m->outcome == MAIL_TEMPORARY) {
            __atomic_fetch_add(&retried, 1, __ATOMIC_RELAXED);
        } else {
            __atomic_fetch_add(&failed, 1, __ATOMIC_RELAXED);
        }
    }
}

static int row_queue(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    uint64_t *got = arg;

    (void)len;
    if (ncol == 2 && col[0] && col[1]) {
        got[0] = strtoull(col[0], NULL, 10);
        got[1] = strtoull(col[1], NULL, 10);
        got[2] = 1;
    }
    return 0;
}

void notifystats_cycle(struct db *db)
{
    uint64_t got[3] = { 0, 0, 0 };
    char err[300];

    __atomic_fetch_add(&cycles, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&last_cycle, (uint64_t)time(NULL), __ATOMIC_RELAXED);
    if (db_query(db, sql_queue, NULL, 0, row_queue, got, err, sizeof(err)) >= 0 && got[2]) {
        __atomic_store_n(&queue_len, got[0], __ATOMIC_RELAXED);
        __atomic_store_n(&oldest_s, got[1], __ATOMIC_RELAXED);
    }
}

static void counter(struct buf *out, const char *name, const char *help, const uint64_t *v)
{
    prom_head(out, name, "counter", help);
    prom_count(out, name, NULL, __atomic_load_n(v, __ATOMIC_RELAXED));
}

static void gauge(struct buf *out, const char *name, const char *help, const uint64_t *v)
{
    prom_head(out, name, "gauge", help);
    prom_count(out, name, NULL, __atomic_load_n(v, __ATOMIC_RELAXED));
}

void notifystats_render(struct buf *out)
{
    counter(out, "guardlist_notify_emails_sent_total", "Emails the smarthost accepted (digests included).", &sent);
    counter(out, "guardlist_notify_emails_failed_total", "Emails the smarthost refused for good (5xx).", &failed);
    counter(out, "guardlist_notify_emails_retried_total",
            "Emails not sent this time (4xx, no connection), tried again later.", &retried);
    counter(out, "guardlist_notify_digests_sent_total", "Digest emails the smarthost accepted.", &digests);
    gauge(out, "guardlist_notify_queue_challenges", "Pending challenges waiting for their email.", &queue_len);
    gauge(out, "guardlist_notify_oldest_waiting_seconds",
          "Age of the oldest pending challenge waiting for its email (0 when none).", &oldest_s);
    counter(out, "guardlist_notify_cycles_total", "Notification cycles run.", &cycles);
    gauge(out, "guardlist_notify_last_cycle_timestamp_seconds", "When the last cycle ended, since the Unix epoch.",
          &last_cycle);
}
