/* caps.h - guardlistd's hourly caps on new challenges ([policy]
 * max_new_challenges_per_recipient, max_new_challenges_per_client). */
#ifndef GUARDLISTD_CAPS_H
#define GUARDLISTD_CAPS_H

#include <time.h>

#include "config.h"

/* Allocates the counters; the limits are read from CFG at each use, so a
 * reload that changes *CFG is in force at once.  Returns -1 when out of
 * memory.  caps_free() releases them. */
int caps_init(const struct config *cfg);
void caps_free(void);

/* Takes one new challenge of this hour's allowance for PROTECTED_KEY and
 * for CLIENT (a client address as Postfix sends it, counted by
 * capkey_client(); NULL or empty: no client cap), before the challenge is
 * written, so a burst cannot overshoot while its writes are out.  Starts a
 * new window when the hour since the last one is over, and sets *WINDOW to
 * the current window's number (for what holds for one window only).
 * Returns 1 when both had room (both are counted), 0 when a cap is reached
 * (nothing counted; *FULL says which, CAP_FULL_RCPT or CAP_FULL_CLIENT; the
 * first refusal of a key in a window is logged).
 * Safe from any thread. */
int caps_reserve(const char *protected_key, const char *client, time_t now, unsigned long *window, int *full);

/* Gives back a reservation of WINDOW that created no challenge (the pair
 * had one, or the write failed).  A reservation of an older window is
 * already forgotten. */
void caps_release(const char *protected_key, const char *client, unsigned long window);

/* What the database's count (every guardlistd's) says is full this hour:
 * the protected key's cap, the client's, or both. */
#define CAP_FULL_RCPT 1
#define CAP_FULL_CLIENT 2

/* Marks the caps WHICH (CAP_FULL_*) of PROTECTED_KEY and CLIENT full for
 * the rest of WINDOW, as the database counted them: the next strangers are
 * answered from memory instead of each costing a transaction to learn it
 * again (another daemon, or this one before a restart, filled them). */
void caps_fill(const char *protected_key, const char *client, unsigned long window, int which);

/* The caps in force now ([policy] max_new_challenges_per_recipient and
 * _per_client), for the count in the database (challenge.c).  Safe from
 * any thread. */
void caps_limits(unsigned int *per_recipient, unsigned int *per_client);

#endif
