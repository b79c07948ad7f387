/*
 * spfcache - a fixed-size, set-associative table of SPF verdicts keyed by
 * (spfpool_key(): sender, domain judged and HELO; client address), used by guardlistd's loops under spfpool's
 * mutex, so a pair already judged costs a hash lookup and no DNS.
 *
 * Keys come from strangers: the hash is seeded at random, and a key can only
 * ever evict one of the SPFCACHE_WAYS entries of its own set, the one that
 * expires first.  Memory is bounded by the entry count (keys are at most
 * SPFPOOL_KEY_MAX and an address long).  Forgetting a verdict costs a DNS lookup,
 * never a wrong answer.
 */
#include "spfcache.h"
#include "pairset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    char *key;                  /* domain '\0' client '\0'; NULL: empty */
    size_t dlen, clen;
    uint64_t hash;
    time_t expires;
    enum spf_verdict verdict;
};

struct spfcache {
    struct slot *slots;
    size_t nsets, count;
    uint64_t seed;
};

struct spfcache *spfcache_new(size_t max)
{
    struct spfcache *sc = calloc(1, sizeof(*sc));
    size_t n;

    if (!sc)
        return NULL;
    sc->slots = pairset_table(max, SPFCACHE_WAYS, sizeof(*sc->slots), &n);
    if (!sc->slots) {
        free(sc);
        return NULL;
    }
    sc->nsets = n / SPFCACHE_WAYS;
    sc->seed = pairset_seed(sc);
    return sc;
}

void spfcache_clear(struct spfcache *sc)
{
    if (!sc)
        return;
    for (size_t i = 0; i < sc->nsets * SPFCACHE_WAYS; i++) {
        free(sc->slots[i].key);
        sc->slots[i].key = NULL;
    }
    sc->count = 0;
}

void spfcache_free(struct spfcache *sc)
{
    if (!sc)
        return;
    spfcache_clear(sc);
    free(sc->slots);
    free(sc);
}

static struct slot *set_of(struct spfcache *sc, uint64_t h)
{
    return &sc->slots[(h & (sc->nsets - 1)) * SPFCACHE_WAYS];
}

static int same_key(const struct slot *s, uint64_t h, const char *d, size_t dl, const char *c, size_t cl)
{
    return s->key && s->hash == h && s->dlen == dl && s->clen == cl && memcmp(s->key, d, dl) == 0
           && memcmp(s->key + dl + 1, c, cl) == 0;
}

int spfcache_get(struct spfcache *sc, const char *domain, const char *client, time_t now, enum spf_verdict *v)
{
    size_t dl = strlen(domain), cl = strlen(client);
    uint64_t h = pairset_hash(sc->seed, domain, dl, client, cl);
    struct slot *set = set_of(sc, h);

    for (int i = 0; i < SPFCACHE_WAYS; i++)
        if (same_key(&set[i], h, domain, dl, client, cl)) {
            if (set[i].expires <= now)
                return 0;
            *v = set[i].verdict;
            return 1;
        }
    return 0;
}

/* The slot of SET that (D, C) goes into: its own, an empty or expired one,
 * else the one that expires first. */
static struct slot *victim(struct slot *set, uint64_t h, const char *d, size_t dl, const char *c, size_t cl,
                           time_t now)
{
    struct slot *best = NULL;

    for (int i = 0; i < SPFCACHE_WAYS; i++)
        if (same_key(&set[i], h, d, dl, c, cl))
            return &set[i];
    for (int i = 0; i < SPFCACHE_WAYS; i++) {
        if (!set[i].key || set[i].expires <= now)
            return &set[i];
        if (!best || set[i].expires < best->expires)
            best = &set[i];
    }
    return best;
}

int spfcache_put(struct spfcache *sc, const char *domain, const char *client, enum spf_verdict v, time_t now,
                 time_t expires)
{
    size_t dl = strlen(domain), cl = strlen(client);
    uint64_t h = pairset_hash(sc->seed, domain, dl, client, cl);
    struct slot *s = victim(set_of(sc, h), h, domain, dl, client, cl, now);

    if (!same_key(s, h, domain, dl, client, cl)) {
        char *key = malloc(dl + cl + 2);
        if (!key)
            return -1;
        memcpy(key, domain, dl + 1);
        memcpy(key + dl + 1, client, cl + 1);
        if (s->key)
            free(s->key);
        else
            sc->count++;
        s->key = key;
        s->hash = h;
        s->dlen = dl;
        s->clen = cl;
    }
    s->verdict = v;
    s->expires = expires;
    return 0;
}

size_t spfcache_count(const struct spfcache *sc)
{
    return sc ? sc->count : 0;
}

size_t spfcache_capacity(const struct spfcache *sc)
{
    return sc ? sc->nsets * SPFCACHE_WAYS : 0;
}
