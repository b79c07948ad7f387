/* strcopy.h - copying a string into a fixed buffer without printf: the
 * decision path copies a dozen short strings a request, and snprintf's
 * format parsing cost more than the copying. */
#ifndef GUARDLIST_STRCOPY_H
#define GUARDLIST_STRCOPY_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

/* Copies the first N bytes of SRC into DST (size LEN) after its first
 * *AT bytes, cut where DST is full, always NUL-terminated (LEN > 0), and
 * moves *AT on.  Returns 0, or -1 when it was cut. */
static inline int str_append_n(char *dst, size_t len, size_t *at, const char *src, size_t n)
{
    int cut = 0;

    if (*at >= len)
        return -1;
    if (n > len - 1 - *at) {
        n = len - 1 - *at;
        cut = -1;
    }
    memcpy(dst + *at, src, n);
    *at += n;
    dst[*at] = '\0';
    return cut;
}

static inline int str_append(char *dst, size_t len, size_t *at, const char *src)
{
    return str_append_n(dst, len, at, src, strlen(src));
}

/* Appends each string of AP up to a NULL, as str_append() does; -1 when
 * one was cut. */
static inline int str_vconcat(char *dst, size_t len, size_t *at, va_list ap)
{
    int cut = 0;

    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        cut |= str_append(dst, len, at, s);
    return cut;
}

/* str_vconcat() of the strings after AT, up to a NULL. */
static inline int str_concat(char *dst, size_t len, size_t *at, ...) __attribute__((sentinel));
static inline int str_concat(char *dst, size_t len, size_t *at, ...)
{
    va_list ap;

    va_start(ap, at);
    int cut = str_vconcat(dst, len, at, ap);
    va_end(ap);
    return cut;
}

/* snprintf(DST, LEN, "%s", SRC) without the printf. */
static inline int str_copy(char *dst, size_t len, const char *src)
{
    size_t at = 0;

    return str_append(dst, len, &at, src);
}

#endif
