/*
 * notifyplan - the rules that keep a guardian informed but never flooded.
 * Pure functions (no I/O), so the unit tests can pin every case down.
 * Past the hourly cap no sender waits unseen: every waiting challenge goes
 * into the next digest, and one is due every [notifier] digest_delay.
 * batch.c plans each guardian's emails with notifyplan_actions(); record.c
 * spaces the retries with notifyplan_backoff().
 */
#include "notifyplan.h"

void notifyplan_actions(int max_per_hour, int singles_sent, long since_digest, int digest_delay, size_t n,
                        enum notifyplan_action *actions)
{
    long room = (long)max_per_hour - singles_sent;
    int digest_due = since_digest < 0 || since_digest >= digest_delay;

    for (size_t i = 0; i < n; i++) {
        if (room > 0) {
            actions[i] = NOTIFYPLAN_SINGLE;
            room--;
        } else {
            actions[i] = digest_due ? NOTIFYPLAN_DIGEST : NOTIFYPLAN_WAIT;
        }
    }
}

long notifyplan_digest_wait(long since_digest, int digest_delay)
{
    long left = since_digest < 0 ? 1 : (long)digest_delay - since_digest;

    return left < 1 ? 1 : left;
}

long notifyplan_backoff(int attempts)
{
    long s = 60;

    for (int i = 1; i < attempts && s < 3600; i++)
        s *= 2;
    return s > 3600 ? 3600 : s;
}
