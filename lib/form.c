/*
 * form - parses CGI query strings and form bodies.  The input is whatever a
 * browser, a link scanner or an attacker sends: only expected fields are
 * accepted, every length is capped, and bad %-escapes, control characters
 * or repeated fields are errors, never guessed at.
 */
#include "form.h"
#include "addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes [s, e) into OUT (size OUTLEN).  Returns the length or -1. */
static long decode(const char *s, const char *e, char *out, size_t outlen)
{
    size_t o = 0;

    for (const char *p = s; p < e; p++) {
        char c = *p;
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int h, l;
            if (e - p < 3 || (h = hexval(p[1])) < 0 || (l = hexval(p[2])) < 0)
                return -1;
            c = (char)(h * 16 + l);
            p += 2;
        }
        if (o + 1 >= outlen)
            return -2;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

/* The long field's value [S, E) into F->text.  Returns 0 or -1 with ERR. */
static int take_text(const char *s, const char *e, const char *name, size_t text_max, struct form *f,
                     char *err, size_t errlen)
{
    size_t room = (size_t)(e - s) < text_max ? (size_t)(e - s) : text_max;   /* decoding never grows */

    if (f->text) {
        snprintf(err, errlen, "field %s given twice", name);
        return -1;
    }
    if (!(f->text = malloc(room + 1))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    long n = decode(s, e, f->text, room + 1);
    if (n < 0) {
        snprintf(err, errlen, n == -2 ? "value of %s too long" : "bad %%-escape in %s", name);
        form_free(f);
        return -1;
    }
    f->text_len = (size_t)n;
    return 0;
}

int form_parse(const char *in, size_t len, const char *const *allowed, struct form *f,
               char *err, size_t errlen)
{
    return form_parse_text(in, len, allowed, NULL, 0, f, err, errlen);
}

void form_free(struct form *f)
{
    if (!f)
        return;
    free(f->text);
    f->text = NULL;
    f->text_len = 0;
}

static int parse_fields(const char *in, size_t len, const char *const *allowed, const char *text_name,
                        size_t text_max, struct form *f, char *err, size_t errlen)
{
    const char *p = in, *end = in + len;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *fe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(fe - p));
        char name[32];

        if (fe == p) {          /* empty part ("a=1&&b=2"): skip */
            p = fe + 1;
            continue;
        }
        if (!eq) {
            snprintf(err, errlen, "field without '='");
            return -1;
        }
        long nl = decode(p, eq, name, sizeof(name));
        if (nl < 0) {
            snprintf(err, errlen, nl == -2 ? "field name too long" : "bad %%-escape in a field name");
            return -1;
        }
        for (long i = 0; i < nl; i++) {
            unsigned char c = (unsigned char)name[i];
            if (c < 0x20 || c >= 0x7f) {     /* a NUL would cut the name short */
                snprintf(err, errlen, "bad character in a field name");
                return -1;
            }
        }
        int known = 0;
        for (int i = 0; allowed[i]; i++)
            if (strcmp(allowed[i], name) == 0)
                known = 1;
        if (!known) {
            snprintf(err, errlen, "unexpected field");
            return -1;
        }
        if (text_name && strcmp(name, text_name) == 0) {
            if (take_text(eq + 1, fe, name, text_max, f, err, errlen) < 0)
                return -1;
            p = amp ? amp + 1 : end;
            continue;
        }
        if (form_get(f, name)) {
            snprintf(err, errlen, "field %s given twice", name);
            return -1;
        }
        if (f->n == FORM_MAX_FIELDS) {
            snprintf(err, errlen, "too many fields");
            return -1;
        }
        long vl = decode(eq + 1, fe, f->value[f->n], sizeof(f->value[0]));
        if (vl < 0) {
            snprintf(err, errlen, vl == -2 ? "value of %s too long" : "bad %%-escape in %s", name);
            return -1;
        }
        for (long i = 0; i < vl; i++) {
            unsigned char c = (unsigned char)f->value[f->n][i];
            unsigned char d = i + 1 < vl ? (unsigned char)f->value[f->n][i + 1] : 0;
            if (c < 0x20 || c == 0x7f || (c == 0xc2 && d >= 0x80 && d <= 0x9f)) {   /* C0, DEL, C1 */
                snprintf(err, errlen, "control character in %s", name);
                return -1;
            }
        }
        if (!addr_utf8_valid(f->value[f->n], (size_t)vl)) {
            snprintf(err, errlen, "value of %s is not UTF-8", name);
            return -1;
        }
        snprintf(f->name[f->n], sizeof(f->name[0]), "%s", name);
        f->n++;
        p = amp ? amp + 1 : end;
    }
    return 0;
}

int form_parse_text(const char *in, size_t len, const char *const *allowed, const char *text_name,
                    size_t text_max, struct form *f, char *err, size_t errlen)
{
    f->n = 0;
    f->text = NULL;
    f->text_len = 0;
    if (parse_fields(in, len, allowed, text_name, text_max, f, err, errlen) < 0) {
        form_free(f);
        return -1;
    }
    return 0;
}

const char *form_get(const struct form *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->name[i], name) == 0)
            return f->value[i];
    return NULL;
}
