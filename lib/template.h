/* template.h - a tiny {{name}} template renderer that escapes by context. */
#ifndef GUARDLIST_TEMPLATE_H
#define GUARDLIST_TEMPLATE_H

#include <stddef.h>
#include "buf.h"

enum tpl_ctx {
    TPL_TEXT,       /* plain text: values with control characters are refused */
    TPL_HTML,       /* HTML: & < > " ' become entities */
    TPL_HEADER      /* one header value: CR/LF refused, non-ASCII RFC 2047-encoded */
};

struct template;

/* A value for a placeholder.  RAW marks text already rendered and escaped
 * for the same context by this module (a list built from another template). */
struct tpl_value {
    const char *name;
    const char *value;
    int raw;
};

/* Parses TEXT.  Every {{name}} must be in ALLOWED (NULL-terminated): an
 * unknown placeholder or an unclosed "{{" is an error naming NAME:LINE.
 * Returns the template (free with template_free) or NULL with ERR set. */
struct template *template_parse(const char *name, const char *text, const char *const *allowed,
                                char *err, size_t errlen);
/* Reads and parses a file (at most 256 KiB). */
struct template *template_load(const char *path, const char *const *allowed, char *err, size_t errlen);
void template_free(struct template *t);

/* One file of a program's template set: its name in the set's folder, the
 * placeholders it may use (as for template_load) and where it goes. */
struct template_file {
    const char *file;
    const char *const *names;
    struct template **t;
};

/* Loads each of LIST[N] from folder DIR.  Returns 0, or -1 with ERR naming
 * the file; then none of the set stays loaded. */
int template_load_set(const char *dir, const struct template_file *list, size_t n, char *err, size_t errlen);
/* Frees each template of LIST[N] and sets it to NULL. */
void template_free_set(const struct template_file *list, size_t n);

/* Appends T rendered in CTX with VALUES to OUT.  Returns 0, or -1 with ERR
 * set (a placeholder without a value, a refused value, out of memory);
 * then OUT may hold part of the text and must not be used. */
int template_render(const struct template *t, enum tpl_ctx ctx, const struct tpl_value *values, int n,
                    struct buf *out, char *err, size_t errlen);

/* Escapes S for HTML into OUT. */
void template_html_escape(struct buf *out, const char *s);

/* Appends S as a header value: unchanged if printable ASCII, else RFC 2047
 * encoded words (UTF-8, base64) folded to short lines.  Returns -1 if S
 * holds CR, LF or another control character, or is not valid UTF-8. */
int header_encode(struct buf *out, const char *s);

/* Appends S as quoted-printable (RFC 2045) with CRLF line ends. */
void qp_encode(struct buf *out, const char *s);

#endif
