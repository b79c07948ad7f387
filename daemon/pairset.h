/* pairset.h - guardlistd's memory of the (sender, recipient) pairs whose open
 * challenge it has recorded, so a sender that keeps retrying is answered at
 * once while the refresh of its challenge is written behind the reply. */
#ifndef GUARDLIST_PAIRSET_H
#define GUARDLIST_PAIRSET_H

#include <stddef.h>
#include <stdint.h>

struct pair_entry {
    int recorded;           /* the writer committed this pair's challenge */
    int closed;             /* ... and found it denied or expired */
    int refresh_out;        /* a write-behind refresh is with the writer */
    unsigned int hits;      /* retries answered, not yet written */
    int warned;             /* caps.c: this key's cap refusal is logged */
    unsigned long none_window;  /* answer.c: caps window in which the writer found
                                   the capped pair with no open challenge */
};

struct pairset;

/* A set holding at most MAX pairs, or NULL when out of memory.  Free with
 * pairset_free(). */
struct pairset *pairset_new(size_t max);
void pairset_free(struct pairset *ps);

/* The entry of (SENDER, RECIPIENT), or NULL.  Valid until the next
 * pairset_put() or pairset_clear(). */
struct pair_entry *pairset_get(struct pairset *ps, const char *sender, const char *recipient);

/* The entry of (SENDER, RECIPIENT), added zeroed if absent.  When the set is
 * full it is emptied first (it only saves work; forgetting is safe).  NULL when
 * out of memory or when the pair's bucket is crowded (hostile input cannot make
 * a lookup slow). */
struct pair_entry *pairset_put(struct pairset *ps, const char *sender, const char *recipient);

/* Forgets every pair. */
void pairset_clear(struct pairset *ps);

/* Forgets what was learned of every pair (recorded, closed, none_window) but keeps the
 * pairs with their uncounted hits and writes out: the rules changed, so
 * each pair is to be checked by the writer again. */
void pairset_unverify(struct pairset *ps);

size_t pairset_count(const struct pairset *ps);

/* The hash of the pair (S, R) (SL and RL bytes) under SEED, and a random
 * SEED (SALT stirs the fallback when the kernel has no entropy yet): keys
 * from strangers cannot be made to collide.  spfcache.c uses them too. */
uint64_t pairset_hash(uint64_t seed, const char *s, size_t sl, const char *r, size_t rl);
uint64_t pairset_seed(const void *salt);

/* A zeroed table of *N elements of SIZE bytes, *N the least power of two
 * that is at least WANT and LEAST (a power of two), 2^30 at most; the
 * caller frees it.  NULL when out of memory.  Shared with spfcache.c. */
void *pairset_table(size_t want, size_t least, size_t size, size_t *n);

#endif
