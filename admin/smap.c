/*
 * smap - a string map for `guardlist doctor`: keys (and optional values)
 * copied in, open addressing, grows as needed.
 *
 * Callers: admin/reach.c (lookup tables, sets of visited addresses).
 */
#include "smap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ^ (h >> 31);
}

const struct smap_ent *smap_get(const struct smap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->e[i].key)
            return NULL;
        if (strcmp(m->e[i].key, key) == 0)
            return &m->e[i];
    }
}

static int smap_grow(struct smap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct smap_ent *e = calloc(cap, sizeof(*e));

    if (!e)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->e[i].key)
            continue;
        size_t j = hash_str(m->e[i].key) & (cap - 1);
        while (e[j].key)
            j = (j + 1) & (cap - 1);
        e[j] = m->e[i];
    }
    free(m->e);
    m->e = e;
    m->cap = cap;
    return 0;
}

int smap_put(struct smap *m, const char *key, const char *val, int tab)
{
    if (smap_get(m, key))
        return 0;
    if ((m->n + 1) * 2 > m->cap && smap_grow(m) < 0)
        return -1;
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->e[i].key)
        i = (i + 1) & (m->cap - 1);
    char *k = strdup(key), *v = val ? strdup(val) : NULL;
    if (!k || (val && !v)) {
        free(k);
        free(v);
        return -1;
    }
    m->e[i] = (struct smap_ent){ k, v, tab };
    m->n++;
    return 1;
}

void smap_clear(struct smap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->e[i].key);
        free(m->e[i].val);
        m->e[i] = (struct smap_ent){ NULL, NULL, 0 };
    }
    m->n = 0;
}

void smap_free(struct smap *m)
{
    smap_clear(m);
    free(m->e);
    m->e = NULL;
    m->cap = 0;
}
