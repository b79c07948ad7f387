/*
 * notifyplan - the rules that keep a guardian informed but never flooded.
 * Pure functions (no I/O), so the unit tests can pin every case down.
 * batch.c plans each guardian's emails with notifyplan_actions(); record.c
 * spaces the retries with notifyplan_backoff().
 */
#include "notifyplan.h"

void notifyplan_actions(int max_per_hour, int singles_sent, int digests_sent, size_t n,
                        enum notifyplan_action *actions)
{
    long room = (long)max_per_hour - singles_sent;

    for (size_t i = 0; i < n; i++) {
        if (room > 0) {
            actions[i] = NOTIFYPLAN_SINGLE;
            room--;
        } else {
            actions[i] = digests_sent > 0 ? NOTIFYPLAN_WAIT : NOTIFYPLAN_DIGEST;
        }
    }
}

long notifyplan_backoff(int attempts)
{
    long s = 60;

    for (int i = 1; i < attempts && s < 3600; i++)
        s *= 2;
    return s > 3600 ? 3600 : s;
}
