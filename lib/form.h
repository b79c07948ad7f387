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
    char *text;         /* form_parse_text()'s long field, or NULL; form_free() frees it */
    size_t text_len;
};

/* Parses IN (LEN bytes).  Only names in ALLOWED (NULL-terminated) are
 * accepted, each at most once; values are %-decoded ('+' is a space) and
 * must be valid UTF-8 without control characters.  Returns 0, or -1 with
 * ERR saying what is wrong (unknown or repeated field, bad escape, too
 * long, too many fields). */
int form_parse(const char *in, size_t len, const char *const *allowed, struct form *f,
               char *err, size_t errlen);

/* As form_parse(), but the field TEXT_NAME (also in ALLOWED, at most once)
 * may be a text of up to TEXT_MAX bytes once decoded, of any bytes (lines,
 * NUL, not UTF-8: its own reader judges them): it goes, NUL-terminated,
 * into F->text (F->text_len bytes; malloc'd, form_free() frees it), not
 * into F's values.  A longer one is an error ("... too long"). */
int form_parse_text(const char *in, size_t len, const char *const *allowed, const char *text_name,
                    size_t text_max, struct form *f, char *err, size_t errlen);
void form_free(struct form *f);

/* The value of NAME, or NULL. */
const char *form_get(const struct form *f, const char *name);

#endif
