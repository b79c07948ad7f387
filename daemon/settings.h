/* settings.h - guardlistd's configuration, read at start and on SIGHUP. */
#ifndef GUARDLISTD_SETTINGS_H
#define GUARDLISTD_SETTINGS_H

#include <stddef.h>

#include "config.h"
#include "decide.h"

struct refresher;

/* Reads the configuration (ARG: the -c argument or NULL) and the daemon's
 * database account into DBP.  Returns the configuration, which keeps its
 * address for the daemon's life (a reload changes it in place), or NULL
 * with ERR set. */
const struct config *settings_load(const char *arg, struct config_db *dbp, char *err, size_t errlen);

/* The decision options taken from the configuration; same address for
 * the daemon's life. */
const struct decide_opts *settings_opts(void);

/* SIGHUP: reads the file again and puts in force what can change without a
 * restart (max_connections at most MAX_CONNECTIONS); tells REFRESHER its
 * new intervals.  A file that does not load changes nothing.  Changes the
 * configuration under the write lock below. */
void settings_reload(size_t max_connections, struct refresher *refresher);

/* A loop thread holds the read lock while it handles one wake-up: the
 * configuration and the decision options do not change under it. */
void settings_read_lock(void);
void settings_read_unlock(void);

/* [policy] threads: the number to start ("auto": the online CPUs). */
int settings_threads(const struct config *cfg);

#endif
