/* notifyplan.h - who gets which approval email now: the per-guardian hourly
 * cap, the digest for the overflow, and the retry backoff. */
#ifndef GUARDLIST_NOTIFYPLAN_H
#define GUARDLIST_NOTIFYPLAN_H

#include <stddef.h>

enum notifyplan_action {
    NOTIFYPLAN_SINGLE,  /* its own email now */
    NOTIFYPLAN_DIGEST,  /* listed in this guardian's one digest email now */
    NOTIFYPLAN_WAIT     /* cap and digest used up this hour: later */
};

/* Plans N waiting challenges (oldest first) for one guardian who has had
 * SINGLES_SENT individual emails and DIGESTS_SENT digests in the last hour:
 * up to MAX_PER_HOUR individual emails in any hour; what goes past the cap
 * is listed in one digest an hour; the rest waits.  Writes ACTIONS[N]. */
void notifyplan_actions(int max_per_hour, int singles_sent, int digests_sent, size_t n,
                        enum notifyplan_action *actions);

/* Seconds to wait before the next try after ATTEMPTS failed tries:
 * 60, 120, 240, ... doubling, at most 3600. */
long notifyplan_backoff(int attempts);

#endif
