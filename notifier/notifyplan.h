/* notifyplan.h - who gets which approval email now: the per-guardian hourly
 * cap, the digests past it, and the retry backoff. */
#ifndef GUARDLIST_NOTIFYPLAN_H
#define GUARDLIST_NOTIFYPLAN_H

#include <stddef.h>

enum notifyplan_action {
    NOTIFYPLAN_SINGLE,  /* its own email now */
    NOTIFYPLAN_DIGEST,  /* listed in this guardian's one digest email now */
    NOTIFYPLAN_WAIT     /* cap used, a digest went out less than digest_delay ago: the next digest */
};

/* Plans N waiting challenges (oldest first) for one guardian who has had
 * SINGLES_SENT individual emails in the last hour and whose last digest
 * went out SINCE_DIGEST seconds ago (negative: none): up to MAX_PER_HOUR
 * individual emails in any hour; everything past the cap is listed in one
 * digest, at most one every DIGEST_DELAY seconds; until the next one is
 * due, the rest waits.  Writes ACTIONS[N]. */
void notifyplan_actions(int max_per_hour, int singles_sent, long since_digest, int digest_delay, size_t n,
                        enum notifyplan_action *actions);

/* Seconds until the guardian's next digest may go out (at least 1). */
long notifyplan_digest_wait(long since_digest, int digest_delay);

/* Seconds to wait before the next try after ATTEMPTS failed tries:
 * 60, 120, 240, ... doubling, at most 3600. */
long notifyplan_backoff(int attempts);

#endif
