/*
 * json - JSON string output for machine-readable listings.
 *
 * Callers: the CLI's --json options.  Values come from the database and so
 * possibly from the network (challenge senders): every byte that is not
 * plain printable text is escaped.
 */
#include "json.h"
#include "addr.h"

#include <string.h>

void json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    int utf8_ok = addr_utf8_valid(s, strlen(s));
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && !utf8_ok))
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}
