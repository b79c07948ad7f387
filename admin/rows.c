/*
 * rows - query results held in memory, for listings that need more than one
 * query (the connection streams rows, so queries cannot nest).
 */
#include "admin.h"

#include <stdlib.h>
#include <string.h>

int rows_collect(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct rows *r = arg;

    (void)len;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        char **v = realloc(r->v, cap * (size_t)ncol * sizeof(*v));
        if (!v)
            return 1;
        r->v = v;
        r->cap = cap;
    }
    r->ncol = ncol;
    for (int i = 0; i < ncol; i++) {
        char *c = col[i] ? strdup(col[i]) : NULL;
        if (col[i] && !c)
            return 1;
        r->v[r->n * (size_t)ncol + (size_t)i] = c;
    }
    r->n++;
    return 0;
}

const char *rows_cell(const struct rows *r, size_t row, int col)
{
    return r->v[row * (size_t)r->ncol + (size_t)col];
}

void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->n * (size_t)r->ncol; i++)
        free(r->v[i]);
    free(r->v);
}

