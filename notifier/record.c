/*
 * record - writes what guardlist-notify did in a cycle: a notification row
 * (with its token's SHA-256) for each challenge a sent email told a
 * guardian about, then each claimed challenge's state.
 *
 * cycle() calls it after send.c.  A notification is written only after the
 * smarthost accepted the message: a crash between the two is the one window
 * for a duplicate.  Temporary failures and the hourly cap make a challenge
 * due again after a backoff (notifyplan.c); permanent ones are recorded.
 */
#include "record.h"
#include "log.h"
#include "notifyplan.h"

#include <stdio.h>
#include <string.h>

static const char sql_record[] =
    "INSERT IGNORE INTO notifications (challenge_id, guardian, kind, digest_of, message_id, "
    "token_sha256, token_expires_at, digest_sha256) "
    "VALUES (?, ?, ?, ?, ?, UNHEX(?), CURRENT_TIMESTAMP + INTERVAL ? DAY, UNHEX(?))";
static const char sql_sent[] =
    "UPDATE challenges SET notify_state = 'sent', notified_at = CURRENT_TIMESTAMP, "
    "notify_claimed_until = NULL, notify_error = ? WHERE id = ?";
static const char sql_retry[] =
    "UPDATE challenges SET notify_state = 'new', notify_claimed_until = NULL, notify_attempts = ?, "
    "notify_next_at = CURRENT_TIMESTAMP + INTERVAL ? SECOND, notify_error = ? WHERE id = ?";
static const char sql_failed[] =
    "UPDATE challenges SET notify_state = 'failed', notify_claimed_until = NULL, notify_error = ? "
    "WHERE id = ?";

/* One notification row for each challenge of M, which the smarthost took. */
static void record_sent(struct db *db, struct mail *m, int ttl_days)
{
    char kind[8], of[16], ttl[16], err[600];

    snprintf(kind, sizeof(kind), "%s", m->digest ? "digest" : "single");
    snprintf(of, sizeof(of), "%zu", m->nitems);
    snprintf(ttl, sizeof(ttl), "%d", ttl_days);
    for (size_t j = 0; j < m->nitems; j++) {
        const char *p[8] = { m->items[j]->row.id_text, m->guardian, kind, of, m->message_id, m->token_hash[j], ttl,
                             m->digest || m->group ? m->digest_hash : NULL };
        if (db_exec(db, sql_record, p, 8, NULL, err, sizeof(err)) < 0) {
            /* Sent but not recorded: the one duplicate window. */
            log_error("sent but not recorded: recording the email to %s for challenge %s failed: "
                      "%s (the retry mails it again)", m->guardian, m->items[j]->row.id_text, err);
            m->items[j]->temp_fail++;
            continue;
        }
        m->items[j]->sent_now++;
    }
    log_info("sent %s to %s for %zu challenge(s) message_id=%s reply=\"%s\"", m->digest ? "digest" : "email",
             m->guardian, m->nitems, m->message_id, m->reply);
}

/* Temporary failures for one guardian in a row after which an admin must
 * hear of it: the usual cause is guardlist refusing its own email (the
 * guardian's address is protected and the notifier submits through the
 * port that asks guardlistd; docs/postfix.md). */
#define RECORD_ALARM_TRIES 3

/* M was not sent: its challenges fail, for now or for good. */
static void record_unsent(struct mail *m)
{
    int permanent = m->outcome == MAIL_PERMANENT, tries = 0;

    for (size_t j = 0; j < m->nitems; j++)
        if (m->items[j]->notify_attempts + 1 > tries)
            tries = m->items[j]->notify_attempts + 1;
    if (!permanent && tries >= RECORD_ALARM_TRIES)
        log_error("guardian %s has not been reachable for %d tries: %s (if the address is protected, "
                  "guardlist-notify must submit through a port that permits it before the policy check: "
                  "docs/postfix.md, guardlist doctor)", m->guardian, tries, m->reply);
    else
        log_warning("%s failure sending to %s: %s", permanent ? "permanent" : "temporary", m->guardian, m->reply);
    for (size_t j = 0; j < m->nitems; j++) {
        if (permanent)
            m->items[j]->perm_fail++;
        else
            m->items[j]->temp_fail++;
        snprintf(m->items[j]->error, sizeof(m->items[j]->error), "%.100s: %.140s", m->guardian, m->reply);
    }
}

long record_mails(struct db *db, struct mail *mails, size_t n, int ttl_days)
{
    long sent = 0;

    for (size_t k = 0; k < n; k++) {
        if (!mails[k].text.p)
            continue;
        if (mails[k].outcome == MAIL_ACCEPTED) {
            record_sent(db, &mails[k], ttl_days);
            sent++;
        } else {
            record_unsent(&mails[k]);
        }
    }
    return sent;
}

/* C is due again: after a backoff, the hourly cap, or another notifier. */
static int record_retry(struct db *db, struct challenge *c, char *err, size_t errlen)
{
    char attempts[16], delay[16];
    int a = c->notify_attempts + (c->temp_fail ? 1 : 0);

    snprintf(attempts, sizeof(attempts), "%d", a);
    snprintf(delay, sizeof(delay), "%ld", c->temp_fail ? notifyplan_backoff(a)
                                          : c->waiting ? (c->wait_seconds > 0 ? c->wait_seconds : 1) : 5L);
    const char *p[4] = { attempts, delay,
                         c->temp_fail ? c->error : c->waiting ? "waiting: hourly cap reached, in the next digest"
                                                              : "waiting: another notifier is mailing "
                                                                "this guardian",
                         c->row.id_text };
    return db_exec(db, sql_retry, p, 4, NULL, err, errlen);
}

static int record_state(struct db *db, struct challenge *c, char *err, size_t errlen)
{
    if (c->nguardians == 0) {
        char key[ADDR_MAX + 2];
        memcpy(key, c->row.key, sizeof(key));
        snprintf(c->error, sizeof(c->error), "no guardian for %.200s", key);
        const char *p[2] = { c->error, c->row.id_text };
        int rc = db_exec(db, sql_failed, p, 2, NULL, err, errlen);
        log_warning("challenge %s: %s (guardlist guardian add %s EMAIL)", c->row.id_text, c->error, c->row.key);
        return rc;
    }
    if (c->temp_fail || c->waiting || c->busy)
        return record_retry(db, c, err, errlen);
    if (c->perm_fail && !c->sent_now) {
        int any_before = 0;
        for (int g = 0; g < c->nguardians; g++)
            any_before |= c->done[g];
        const char *p[2] = { c->error, c->row.id_text };
        return any_before ? db_exec(db, sql_sent, p, 2, NULL, err, errlen)
                          : db_exec(db, sql_failed, p, 2, NULL, err, errlen);
    }
    const char *p[2] = { c->perm_fail ? c->error : NULL, c->row.id_text };
    return db_exec(db, sql_sent, p, 2, NULL, err, errlen);
}

void record_states(struct db *db, struct challenge *c, long n)
{
    char err[600];

    for (long i = 0; i < n; i++)
        if (record_state(db, &c[i], err, sizeof(err)) < 0)
            log_error("updating challenge %s: %s (its claim expires and it is tried again)", c[i].row.id_text, err);
}
