/*
 * ruleset - the rule tables in memory: one open-addressing hash table per
 * kind of key over one byte arena, built by the loader and then only read.
 *
 * Callers: rulesdb (builds), decide (reads).  A ruleset is never changed once
 * published, so readers need no locks; a new one (a fresh load, or a copy
 * with the rows inserted since) replaces it whole.  The reference count lets
 * the refresher keep the published set to copy from while the loop reads it.
 * A table per kind keeps the small ones (protected recipients, global rules,
 * closed challenges) in the CPU's cache, away from a million per-recipient
 * rules; the big arrays ask for transparent huge pages, so a lookup among
 * them costs one cache miss and no page-table walk.
 * Entry layout in the arena: kind(1) len1(2) len2(2) value(4) k1 NUL k2 NUL.
 */
#include "ruleset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HDR 9
#define KINDS (RS_VALUE + 1)
#define FIRST_SLOTS 64
#define HUGE_PAGE ((size_t)2 << 20)

struct table {
    uint64_t *slot;             /* (hash >> 32) << 32 | (offset + 1); 0 = empty */
    size_t nslot, nused;
};

struct ruleset {
    unsigned char *arena;
    size_t arena_used, arena_cap;
    struct table t[KINDS];
    unsigned long long generation;
    unsigned int refs;          /* atomic: holders; freed at 0 */
};

/* N bytes, or NULL.  A block of 2 MiB or more is aligned to 2 MiB and asks
 * for transparent huge pages before it is touched, so a lookup among a
 * million rules walks no page tables; a hint only (the kernel may have them
 * off), so madvise's answer is not checked. */
static void *alloc_big(size_t n)
{
    void *p = NULL;

    if (n < HUGE_PAGE)
        return malloc(n);
    if (posix_memalign(&p, HUGE_PAGE, n) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    return p;
}

static uint64_t *new_slots(size_t n)
{
    uint64_t *slot = alloc_big(n * sizeof(*slot));

    if (slot)
        memset(slot, 0, n * sizeof(*slot));
    return slot;
}

static uint64_t hash_key(enum rs_kind kind, const char *k1, size_t l1, const char *k2, size_t l2)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind;

    for (size_t i = 0; i < l1; i++)
        h = (h ^ (unsigned char)k1[i]) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (size_t i = 0; i < l2; i++)
        h = (h ^ (unsigned char)k2[i]) * 1099511628211ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

struct ruleset *ruleset_new(void)
{
    struct ruleset *rs = calloc(1, sizeof(*rs));

    if (!rs)
        return NULL;
    rs->refs = 1;
    for (int k = 0; k < KINDS; k++) {
        rs->t[k].nslot = FIRST_SLOTS;
        if (!(rs->t[k].slot = new_slots(FIRST_SLOTS))) {
            ruleset_free(rs);
            return NULL;
        }
    }
    rs->arena_cap = 64 * 1024;
    if (!(rs->arena = malloc(rs->arena_cap))) {
        ruleset_free(rs);
        return NULL;
    }
    return rs;
}

struct ruleset *ruleset_ref(struct ruleset *rs)
{
    __atomic_add_fetch(&rs->refs, 1, __ATOMIC_RELAXED);
    return rs;
}

struct ruleset *ruleset_clone(const struct ruleset *src)
{
    struct ruleset *rs = calloc(1, sizeof(*rs));

    if (!rs)
        return NULL;
    rs->refs = 1;
    rs->generation = src->generation;
    for (int k = 0; k < KINDS; k++) {
        rs->t[k] = src->t[k];
        if (!(rs->t[k].slot = alloc_big(src->t[k].nslot * sizeof(*rs->t[k].slot)))) {
            ruleset_free(rs);
            return NULL;
        }
        memcpy(rs->t[k].slot, src->t[k].slot, src->t[k].nslot * sizeof(*rs->t[k].slot));
    }
    rs->arena_used = src->arena_used;
    rs->arena_cap = src->arena_cap;
    if (!(rs->arena = alloc_big(src->arena_cap))) {
        ruleset_free(rs);
        return NULL;
    }
    memcpy(rs->arena, src->arena, src->arena_used);
    return rs;
}

void ruleset_free(struct ruleset *rs)
{
    if (!rs || __atomic_sub_fetch(&rs->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (int k = 0; k < KINDS; k++)
        free(rs->t[k].slot);
    free(rs->arena);
    free(rs);
}

static void entry_lens(const unsigned char *e, uint16_t *l1, uint16_t *l2)
{
    memcpy(l1, e + 1, 2);
    memcpy(l2, e + 3, 2);
}

/* Slot index of the key in its kind's table, or of the empty slot where it
 * would go. */
static size_t find_slot(const struct ruleset *rs, uint64_t h, enum rs_kind kind,
                        const char *k1, size_t l1, const char *k2, size_t l2)
{
    const struct table *t = &rs->t[kind];
    size_t mask = t->nslot - 1, i = (size_t)h & mask;
    uint64_t tag = h >> 32;

    for (;; i = (i + 1) & mask) {
        uint64_t s = t->slot[i];
        if (s == 0)
            return i;
        if ((s >> 32) != tag)
            continue;
        const unsigned char *e = rs->arena + (uint32_t)s - 1;
        uint16_t el1, el2;
        entry_lens(e, &el1, &el2);
        if (el1 == l1 && el2 == l2 && memcmp(e + HDR, k1, l1) == 0
            && (l2 == 0 || memcmp(e + HDR + l1 + 1, k2, l2) == 0))
            return i;
    }
}

static int grow_table(struct ruleset *rs, struct table *t)
{
    size_t n = t->nslot * 2;
    uint64_t *slot = new_slots(n);

    if (!slot)
        return -1;
    for (size_t i = 0; i < t->nslot; i++) {
        uint64_t s = t->slot[i];
        if (!s)
            continue;
        const unsigned char *e = rs->arena + (uint32_t)s - 1;
        uint16_t l1, l2;
        entry_lens(e, &l1, &l2);
        uint64_t h = hash_key(e[0], (const char *)e + HDR, l1, (const char *)e + HDR + l1 + 1, l2);
        size_t j = (size_t)h & (n - 1);
        while (slot[j])
            j = (j + 1) & (n - 1);
        slot[j] = s;
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = n;
    return 0;
}

/* Appends an entry; returns its offset, or UINT32_MAX when out of memory. */
static uint32_t append(struct ruleset *rs, enum rs_kind kind, const char *k1, size_t l1,
                       const char *k2, size_t l2, uint32_t value)
{
    size_t need = HDR + l1 + 1 + l2 + 1;

    if (rs->arena_used + need > UINT32_MAX - 1)
        return UINT32_MAX;
    if (rs->arena_used + need > rs->arena_cap) {
        size_t cap = rs->arena_cap * 2;
        while (cap < rs->arena_used + need)
            cap *= 2;
        unsigned char *a = alloc_big(cap);
        if (!a)
            return UINT32_MAX;
        memcpy(a, rs->arena, rs->arena_used);
        free(rs->arena);
        rs->arena = a;
        rs->arena_cap = cap;
    }
    unsigned char *e = rs->arena + rs->arena_used;
    uint16_t s1 = (uint16_t)l1, s2 = (uint16_t)l2;
    e[0] = (unsigned char)kind;
    memcpy(e + 1, &s1, 2);
    memcpy(e + 3, &s2, 2);
    memcpy(e + 5, &value, 4);
    memcpy(e + HDR, k1, l1);
    e[HDR + l1] = '\0';
    if (l2)
        memcpy(e + HDR + l1 + 1, k2, l2);
    e[HDR + l1 + 1 + l2] = '\0';
    uint32_t off = (uint32_t)rs->arena_used;
    rs->arena_used += need;
    return off;
}

/* Inserts or finds; *off gets the entry offset.  Returns 1 new, 0 found, -1 error. */
static int put(struct ruleset *rs, enum rs_kind kind, const char *k1, const char *k2,
               uint32_t value, uint32_t *off)
{
    size_t l1 = strlen(k1), l2 = k2 ? strlen(k2) : 0;
    struct table *t = &rs->t[kind];

    if (l1 > 65535 || l2 > 65535)
        return -1;
    if ((t->nused + 1) * 10 > t->nslot * 7 && grow_table(rs, t) < 0)
        return -1;
    uint64_t h = hash_key(kind, k1, l1, k2, l2);
    size_t i = find_slot(rs, h, kind, k1, l1, k2, l2);
    if (t->slot[i]) {
        *off = (uint32_t)t->slot[i] - 1;
        return 0;
    }
    uint32_t o = append(rs, kind, k1, l1, k2, l2, value);
    if (o == UINT32_MAX)
        return -1;
    t->slot[i] = ((h >> 32) << 32) | ((uint64_t)o + 1);
    t->nused++;
    *off = o;
    return 1;
}

int ruleset_add(struct ruleset *rs, enum rs_kind kind, const char *k1, const char *k2,
                const char *value, int replace)
{
    uint32_t voff, off;
    int r;

    if (kind == RS_VALUE || put(rs, RS_VALUE, value ? value : "", NULL, 0, &voff) < 0)
        return -1;
    r = put(rs, kind, k1, k2, voff, &off);
    if (r == 0 && replace)
        memcpy(rs->arena + off + 5, &voff, 4);
    return r;
}

const char *ruleset_get(const struct ruleset *rs, enum rs_kind kind, const char *k1, const char *k2)
{
    size_t l1 = strlen(k1), l2 = k2 ? strlen(k2) : 0;
    uint64_t h = hash_key(kind, k1, l1, k2, l2);
    size_t i = find_slot(rs, h, kind, k1, l1, k2, l2);
    uint64_t s = rs->t[kind].slot[i];
    uint32_t voff;

    if (!s)
        return NULL;
    memcpy(&voff, rs->arena + (uint32_t)s - 1 + 5, 4);
    return (const char *)rs->arena + voff + HDR;
}

size_t ruleset_count(const struct ruleset *rs, enum rs_kind kind)
{
    return rs->t[kind].nused;
}

size_t ruleset_bytes(const struct ruleset *rs)
{
    size_t n = sizeof(*rs) + rs->arena_cap;

    for (int k = 0; k < KINDS; k++)
        n += rs->t[k].nslot * sizeof(*rs->t[k].slot);
    return n;
}

unsigned long long ruleset_generation(const struct ruleset *rs)
{
    return rs->generation;
}

void ruleset_set_generation(struct ruleset *rs, unsigned long long gen)
{
    rs->generation = gen;
}
