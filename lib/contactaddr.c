/*
 * contactaddr - whether an address as written can be a contact of a child:
 * it must name the one mailbox the rules are looked up by, and show the
 * guardian what it is.
 *
 * Callers: outbound.c (the address a child writes to, before any rule or
 * contact request) and contactplan.c (the address book import).  No I/O;
 * never accepts what it cannot check (an IDNA conversion that fails).
 */
#include "contactaddr.h"
#include "addr.h"

#include <idn2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

/* 1 if the UTF-8 text S holds a Unicode format character (Cf: U+200B
 * zero width space, U+200E/F, U+202A-E, U+2066-9 bidi controls, U+FEFF ...):
 * it shows the guardian another address than the one mail goes to. */
static int has_format_char(const char *s)
{
    int32_t len = (int32_t)strnlen(s, 4 * ADDR_MAX), i = 0;

    while (i < len) {
        UChar32 c;
        U8_NEXT((const uint8_t *)s, i, len, c);
        if (c < 0 || u_charType(c) == U_FORMAT_CHAR)
            return 1;
    }
    return 0;
}

int contactaddr_a_label(const char *dom, size_t len, char *out, size_t outlen)
{
    char in[ADDR_MAX + 1];
    char *ace = NULL;
    int utf8 = 0, n;

    if (len >= sizeof(in))
        return -1;
    memcpy(in, dom, len);
    in[len] = '\0';
    for (size_t i = 0; i < len; i++)
        utf8 |= (unsigned char)in[i] >= 0x80;
    if (utf8 && idn2_to_ascii_8z(in, &ace, IDN2_NONTRANSITIONAL) != IDN2_OK)
        return -1;
    n = snprintf(out, outlen, "%s", ace ? ace : in);
    idn2_free(ace);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return 0;
}

/* 1 if the raw domain of RAW and the folded domain A->domain have different
 * A-labels, or either has none. */
static int fold_crosses(const char *raw, const struct addr *a)
{
    const char *at = strrchr(raw, '@'), *e;
    char x[ADDR_MAX + 2], y[ADDR_MAX + 2];
    int ascii = 1;

    if (!at)
        return 1;
    at++;
    e = at + strlen(at);
    while (e > at && (e[-1] == ' ' || e[-1] == '>'))
        e--;
    if (e > at && e[-1] == '.')
        e--;
    for (const char *p = at; p < e; p++)
        ascii &= (unsigned char)*p < 0x80;
    if (ascii)
        return 0;       /* ASCII folds to ASCII lower case: the same name */
    return contactaddr_a_label(at, (size_t)(e - at), x, sizeof(x)) < 0
           || contactaddr_a_label(a->domain, strlen(a->domain), y, sizeof(y)) < 0 || strcmp(x, y) != 0;
}

enum contactaddr_verdict contactaddr_check(const char *raw, char *err, size_t errlen)
{
    struct addr a;
    char perr[128];

    if (!raw || addr_parse(raw, "", &a, perr, sizeof(perr)) < 0 || a.is_null || !a.domain[0]) {
        snprintf(err, errlen, "not a usable address");
        return CA_UNUSABLE;
    }
    if (strpbrk(a.local, "%!@") || a.domain[0] == '[') {
        snprintf(err, errlen, "a routed address or an address literal");
        return CA_ROUTED;
    }
    if (has_format_char(raw)) {
        snprintf(err, errlen, "holds an invisible or text-direction character");
        return CA_FORMAT_CHAR;
    }
    if (fold_crosses(raw, &a)) {
        snprintf(err, errlen, "its domain changes when lower-cased (such as ß or ς): another domain");
        return CA_FOLD_CROSSES;
    }
    return CA_OK;
}
