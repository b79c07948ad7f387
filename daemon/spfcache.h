/* spfcache.h - guardlistd's memory of SPF verdicts by (key, client
 * address), the key spfpool_key()'s (sender, domain, HELO), each kept for
 * its TTL, in a bounded table.  The functions name the key DOMAIN. */
#ifndef GUARDLISTD_SPFCACHE_H
#define GUARDLISTD_SPFCACHE_H

#include <stddef.h>
#include <time.h>

#include "spf.h"

#define SPFCACHE_WAYS 4         /* entries a key may land in */

struct spfcache;

/* A cache holding at most MAX verdicts (rounded up to whole sets of
 * SPFCACHE_WAYS), or NULL when out of memory.  No locking: the caller
 * serialises.  Free with spfcache_free() (NULL is fine). */
struct spfcache *spfcache_new(size_t max);
void spfcache_free(struct spfcache *sc);

/* 1 and *V if (DOMAIN, CLIENT) has a verdict that has not expired at NOW
 * (seconds on any clock the caller keeps to), else 0. */
int spfcache_get(struct spfcache *sc, const char *domain, const char *client, time_t now, enum spf_verdict *v);

/* Keeps V for (DOMAIN, CLIENT) until EXPIRES, replacing what the key had;
 * a full set gives up its expired entry, else the one that expires first.
 * Returns 0, or -1 when out of memory (then nothing is kept). */
int spfcache_put(struct spfcache *sc, const char *domain, const char *client, enum spf_verdict v,
                 time_t now, time_t expires);

/* Forgets every verdict (the resolver changed). */
void spfcache_clear(struct spfcache *sc);

/* Verdicts held (expired ones included until they are replaced) and the
 * bound. */
size_t spfcache_count(const struct spfcache *sc);
size_t spfcache_capacity(const struct spfcache *sc);

#endif
