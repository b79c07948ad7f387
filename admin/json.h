/* json.h - writing JSON strings safely (CLI --json output). */
#ifndef GUARDLIST_JSON_H
#define GUARDLIST_JSON_H

#include <stdio.h>

/* Writes S as a JSON string literal (with quotes), or null when S is NULL.
 * Control characters and non-UTF-8 bytes are escaped (\u00XX), never copied. */
void json_string(FILE *f, const char *s);

#endif
