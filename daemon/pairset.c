/*
 * pairset - a bounded hash set of (sender, recipient) pairs with a little
 * state each, used by guardlistd's event loop only (no locking).
 *
 * The keys come from strangers, so the hash is seeded at random and a bucket
 * holds at most CHAIN_MAX pairs: past that a pair is simply not remembered,
 * which costs a database write, never a wrong answer.
 */
#include "pairset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define CHAIN_MAX 8

struct node {
    struct node *next;
    uint64_t hash;
    struct pair_entry entry;
    size_t slen, rlen;
    char key[];                 /* sender '\0' recipient '\0' */
};

struct pairset {
    struct node **bucket;
    size_t nbuckets, count, max;
    uint64_t seed;
};

uint64_t pairset_hash(uint64_t seed, const char *s, size_t sl, const char *r, size_t rl)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;

    for (size_t i = 0; i < sl; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    h = (h ^ 0xff) * 0x100000001b3ULL;      /* no byte of an address: keeps "a","bc" apart from "ab","c" */
    for (size_t i = 0; i < rl; i++)
        h = (h ^ (unsigned char)r[i]) * 0x100000001b3ULL;
    h ^= h >> 33;                           /* spread the high bits into the bucket index */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

uint64_t pairset_seed(const void *salt)
{
    uint64_t seed;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)salt;
    return seed;
}

void *pairset_table(size_t want, size_t least, size_t size, size_t *n)
{
    size_t count = least;

    while (count < want && count < ((size_t)1 << 30))
        count <<= 1;
    *n = count;
    return calloc(count, size);
}

struct pairset *pairset_new(size_t max)
{
    struct pairset *ps = calloc(1, sizeof(*ps));

    if (!ps)
        return NULL;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    ps->bucket = pairset_table(max, 64, sizeof(*ps->bucket), &ps->nbuckets);
    if (!ps->bucket) {
        free(ps);
        return NULL;
    }
    ps->max = max ? max : 1;
    ps->seed = pairset_seed(ps);
    return ps;
}

void pairset_clear(struct pairset *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->nbuckets; i++) {
        struct node *n = ps->bucket[i];
        while (n) {
            struct node *next = n->next;
            free(n);
            n = next;
        }
        ps->bucket[i] = NULL;
    }
    ps->count = 0;
}

void pairset_unverify(struct pairset *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->nbuckets; i++)
        for (struct node *n = ps->bucket[i]; n; n = n->next) {
            n->entry.recorded = n->entry.closed = 0;
            n->entry.none_window = 0;
        }
}

void pairset_free(struct pairset *ps)
{
    if (!ps)
        return;
    pairset_clear(ps);
    free(ps->bucket);
    free(ps);
}

static struct node *find(struct pairset *ps, const char *s, size_t sl, const char *r, size_t rl,
                         uint64_t h, size_t *chain)
{
    size_t len = 0;
    struct node *n = ps->bucket[h & (ps->nbuckets - 1)];

    for (; n; n = n->next, len++) {
        if (n->hash == h && n->slen == sl && n->rlen == rl && memcmp(n->key, s, sl) == 0
            && memcmp(n->key + sl + 1, r, rl) == 0)
            return n;
    }
    if (chain)
        *chain = len;
    return NULL;
}

struct pair_entry *pairset_get(struct pairset *ps, const char *sender, const char *recipient)
{
    size_t sl = strlen(sender), rl = strlen(recipient);
    struct node *n = find(ps, sender, sl, recipient, rl, pairset_hash(ps->seed, sender, sl, recipient, rl), NULL);

    return n ? &n->entry : NULL;
}

struct pair_entry *pairset_put(struct pairset *ps, const char *sender, const char *recipient)
{
    size_t sl = strlen(sender), rl = strlen(recipient), chain = 0;
    uint64_t h = pairset_hash(ps->seed, sender, sl, recipient, rl);
    struct node *n = find(ps, sender, sl, recipient, rl, h, &chain);

    if (n)
        return &n->entry;
    if (ps->count >= ps->max) {
        pairset_clear(ps);
        chain = 0;
    }
    if (chain >= CHAIN_MAX)
        return NULL;
    n = malloc(sizeof(*n) + sl + rl + 2);
    if (!n)
        return NULL;
    memset(&n->entry, 0, sizeof(n->entry));
    n->hash = h;
    n->slen = sl;
    n->rlen = rl;
    memcpy(n->key, sender, sl + 1);
    memcpy(n->key + sl + 1, recipient, rl + 1);
    n->next = ps->bucket[h & (ps->nbuckets - 1)];
    ps->bucket[h & (ps->nbuckets - 1)] = n;
    ps->count++;
    return &n->entry;
}

size_t pairset_count(const struct pairset *ps)
{
    return ps ? ps->count : 0;
}
