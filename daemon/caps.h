/* caps.h - guardlistd's hourly caps on new challenges ([policy]
 * max_new_per_recipient, max_new_per_client). */
#ifndef GUARDLISTD_CAPS_H
#define GUARDLISTD_CAPS_H

#include <time.h>

#include "config.h"

/* Allocates the counters; the limits are read from CFG at each use, so a
 * reload that changes *CFG is in force at once.  Returns -1 when out of
 * memory.  caps_free() releases them. */
int caps_init(const struct config *cfg);
void caps_free(void);

/* Starts a new window when the hour since the last one is over. */
void caps_roll(time_t now);

/* 1 if PROTECTED_KEY, or CLIENT (may be NULL or empty), had its cap of new
 * challenges in this window: an open challenge is refreshed, none created. */
int caps_reached(const char *protected_key, const char *client);

/* Counts a challenge the writer created for PROTECTED_KEY and CLIENT (may
 * be empty), and warns when that reaches a cap. */
void caps_count(const char *protected_key, const char *client);

#endif
