/* buf.h - a growable byte buffer for building messages and pages. */
#ifndef GUARDLIST_BUF_H
#define GUARDLIST_BUF_H

#include <stddef.h>

struct buf {
    char *p;        /* always NUL-terminated when not NULL */
    size_t len, cap;
    int oom;        /* an allocation failed: the content is incomplete */
};

void buf_add(struct buf *b, const char *s, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);      /* empties, keeps the memory */
void buf_free(struct buf *b);       /* frees; the struct may be reused */

#endif
