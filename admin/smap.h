/* smap.h - a string map: key -> value (may be NULL) and a small number. */
#ifndef GUARDLIST_SMAP_H
#define GUARDLIST_SMAP_H

#include <stddef.h>

struct smap_ent {
    char *key, *val;
    int tab;
};

/* Zero-initialised is empty.  Entries are read through e[0..cap) (a NULL key
 * is a free slot); free with smap_free(). */
struct smap {
    struct smap_ent *e;
    size_t cap, n;
};

/* The entry of KEY, or NULL.  Valid until the next smap_put(). */
const struct smap_ent *smap_get(const struct smap *m, const char *key);

/* Adds KEY -> VAL (copied; VAL may be NULL) and TAB, unless KEY is there.
 * Returns 1 added, 0 present (unchanged), -1 out of memory. */
int smap_put(struct smap *m, const char *key, const char *val, int tab);

void smap_clear(struct smap *m);    /* empties; keeps the slots */
void smap_free(struct smap *m);     /* empties and frees; the struct may be reused */

#endif
