/* refresh.h - guardlistd's rule refresher thread: keeps a current ruleset,
 * reloading when rule_generation moves. */
#ifndef GUARDLISTD_REFRESH_H
#define GUARDLISTD_REFRESH_H

#include "config.h"
#include "ruleset.h"

struct refresher;

/* Starts the thread on its own connection to DBP; it calls control_wake() when a
 * new ruleset is ready.  NULL on failure. */
struct refresher *refresher_start(const struct config_db *dbp, int interval, int full_interval);
void refresher_set_intervals(struct refresher *r, int interval, int full_interval);
struct ruleset *refresher_take(struct refresher *r);   /* newest set or NULL; caller owns */
/* 0 while the last poll could not reach the database (safe from any
 * thread; 1 before the first). */
int refresher_db_ok(const struct refresher *r);
void refresher_stop(struct refresher *r);

#endif
