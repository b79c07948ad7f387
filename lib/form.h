/* form.h - strict parsing of application/x-www-form-urlencoded text (CGI
 * query strings and POST bodies). */
#ifndef GUARDLIST_FORM_H
#define GUARDLIST_FORM_H

#include <stddef.h>

#define FORM_MAX_FIELDS 8
#define FORM_VALUE_MAX 512

struct form {
    int n;
    char name[FORM_MAX_FIELDS][32];
    char value[FORM_MAX_FIELDS][FORM_VALUE_MAX + 1];
};

/* Parses IN (LEN bytes).  Only names in ALLOWED (NULL-terminated) are
 * accepted, each at most once; values are %-decoded ('+' is a space) and
 * must be valid UTF-8 without control characters.  Returns 0, or -1 with
 * ERR saying what is wrong (unknown or repeated field, bad escape, too
 * long, too many fields). */
int form_parse(const char *in, size_t len, const char *const *allowed, struct form *f,
               char *err, size_t errlen);

/* The value of NAME, or NULL. */
const char *form_get(const struct form *f, const char *name);

#endif
