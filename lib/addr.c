/*
 * addr - envelope addresses: parse, normalise, and list the lookup keys in
 * Postfix access(5) order.
 *
 * Callers: the decision code (policy requests), the rule loader (table keys),
 * the CLI.  Input comes from the network: every length is checked and any
 * control character or malformed UTF-8 is an error, never silently dropped.
 */
#include "addr.h"
#include "strcopy.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unicode/ucasemap.h>

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static UCaseMap *fold_map;
static pthread_once_t fold_map_once = PTHREAD_ONCE_INIT;

static void fold_map_init(void)
{
    UErrorCode status = U_ZERO_ERROR;

    /* Postfix's casefold() opens its map the same way: full case folding,
     * default (non-Turkic) mappings.  A map that is only read is safe to
     * share between threads. */
    fold_map = ucasemap_open("en_US", U_FOLD_CASE_DEFAULT, &status);
    if (U_FAILURE(status))
        fold_map = NULL;
}

/* Case-folds valid UTF-8 IN (LEN bytes) into OUT exactly as Postfix does
 * (util/casefold.c): ASCII by hand, anything else with ICU's full case
 * folding, so "STRASSE", "straße" and "Straẞe" are one key, as they are one
 * mailbox to Postfix.  Returns the output length, or -1 if it does not fit
 * or ICU cannot fold it: an unfolded key could miss a protection. */
static long utf8_lower(const char *in, size_t len, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; i < len && !((unsigned char)in[i] & 0x80); i++)
        ;
    if (i == len) {
        if (len >= outlen)
            return -1;
        for (i = 0; i < len; i++)
            out[i] = lower(in[i]);
        out[len] = '\0';
        return (long)len;
    }
    pthread_once(&fold_map_once, fold_map_init);
    if (!fold_map || len > INT32_MAX || outlen > INT32_MAX)
        return -1;
    UErrorCode status = U_ZERO_ERROR;
    int32_t n = ucasemap_utf8FoldCase(fold_map, out, (int32_t)outlen, in, (int32_t)len, &status);
    /* U_STRING_NOT_TERMINATED_WARNING: exactly OUTLEN bytes, no room for NUL. */
    if (U_FAILURE(status) || n < 0 || (size_t)n >= outlen)
        return -1;
    out[n] = '\0';
    return (long)n;
}

int addr_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;

    while (s < end) {
        unsigned char c = *s;
        size_t n;
        unsigned int cp;

        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - s) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += n + 1;
    }
    return 1;
}

static int has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 1;
    }
    return 0;
}

/* Sets [*b, *e) to S without leading and trailing spaces. */
static void trim_spaces(const char *s, const char **b, const char **e)
{
    while (*s == ' ')
        s++;
    *b = s;
    *e = s + strlen(s);
    while (*e > s && (*e)[-1] == ' ')
        (*e)--;
}

static int domain_check(char *d, char *err, size_t errlen)
{
    size_t len = strlen(d);

    if (len > 0 && d[len - 1] == '.')
        d[--len] = '\0';
    if (len == 0) {
        snprintf(err, errlen, "empty domain");
        return -1;
    }
    if (d[0] == '[') {
        if (d[len - 1] != ']' || len < 3) {
            snprintf(err, errlen, "malformed address literal");
            return -1;
        }
        for (size_t i = 1; i + 1 < len; i++) {
            char c = d[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.' || c == ':'
                  || (i < 5 && strchr("ipv6", c))))
                return snprintf(err, errlen, "malformed address literal"), -1;
        }
        return 0;
    }
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.' || c == '\0') {
            if (label == 0) {
                snprintf(err, errlen, "empty label in domain");
                return -1;
            }
            if (label > 63) {
                snprintf(err, errlen, "domain label longer than 63 bytes");
                return -1;
            }
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c >= 0x80)) {
            snprintf(err, errlen, "invalid character in domain");
            return -1;
        }
        label++;
    }
    return 0;
}

/* Sets [*b, *e) to IN without blanks and one pair of outer <> (blanks
 * inside them too).  Returns 0, or -1 with ERR for control characters,
 * bad UTF-8 or unbalanced brackets. */
static int strip_envelope(const char *in, const char **b, const char **e, char *err, size_t errlen)
{
    const char *s = in ? in : "";
    size_t len = strlen(s);

    if (has_control(s, len)) {
        snprintf(err, errlen, "control character in address");
        return -1;
    }
    if (!addr_utf8_valid(s, len)) {
        snprintf(err, errlen, "invalid UTF-8 in address");
        return -1;
    }
    trim_spaces(s, b, e);
    if (*e > *b && (**b == '<' || (*e)[-1] == '>')) {
        if (!(**b == '<' && (*e)[-1] == '>' && *e - *b >= 2)) {
            snprintf(err, errlen, "unbalanced angle brackets");
            return -1;
        }
        (*b)++;
        (*e)--;
        while (*b < *e && **b == ' ')
            (*b)++;
        while (*e > *b && (*e)[-1] == ' ')
            (*e)--;
    }
    return 0;
}

/* Copies the local part of [s, e) into RAW (unquoted, escapes removed) and
 * sets *AT to its '@' (NULL if none; for an unquoted local part the last
 * '@', so "a@b@c" has the local part "a@b").  Returns its length, or -1
 * with ERR. */
static long split_local(const char *s, const char *e, char raw[ADDR_MAX + 1], const char **at,
                        char *err, size_t errlen)
{
    size_t llen = 0;

    if (*s == '"') {
        const char *p = s + 1;
        for (; p < e && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < e)
                p++;
            if (llen >= ADDR_MAX)
                return snprintf(err, errlen, "address longer than %d bytes", ADDR_MAX), -1;
            raw[llen++] = *p;
        }
        if (p >= e)
            return snprintf(err, errlen, "unbalanced quote in local part"), -1;
        *at = p + 1;
        if (*at < e && **at != '@')
            return snprintf(err, errlen, "text after quoted local part"), -1;
        if (*at >= e)
            *at = NULL;
        return (long)llen;
    }
    *at = NULL;
    for (const char *p = s; p < e; p++)
        if (*p == '@')
            *at = p;
    const char *lend = *at ? *at : e;
    if ((size_t)(lend - s) > ADDR_MAX)
        return snprintf(err, errlen, "address longer than %d bytes", ADDR_MAX), -1;
    memcpy(raw, s, (size_t)(lend - s));
    return (long)(lend - s);
}

/* Folds and checks the domain [at + 1, e) into A->domain. */
static int parse_domain(struct addr *a, const char *at, const char *e, char *err, size_t errlen)
{
    size_t dlen = (size_t)(e - at - 1);

    if (dlen > ADDR_MAX)
        return snprintf(err, errlen, "address longer than %d bytes", ADDR_MAX), -1;
    if (utf8_lower(at + 1, dlen, a->domain, sizeof(a->domain)) < 0)
        return snprintf(err, errlen, "address longer than %d bytes, or not foldable", ADDR_MAX), -1;
    if (domain_check(a->domain, err, errlen) < 0)
        return -1;
    if (strlen(a->local) + 1 + strlen(a->domain) > ADDR_MAX)
        return snprintf(err, errlen, "address longer than %d bytes", ADDR_MAX), -1;
    return 0;
}

int addr_parse(const char *in, const char *delims, struct addr *a, char *err, size_t errlen)
{
    const char *s, *e, *at;
    char raw[ADDR_MAX + 1];
    long llen;

    memset(a, 0, sizeof(*a));
    if (strip_envelope(in, &s, &e, err, errlen) < 0)
        return -1;
    if (e == s) {
        a->is_null = 1;
        return 0;
    }
    if ((size_t)(e - s) > 2 * ADDR_MAX)
        return snprintf(err, errlen, "address longer than %d bytes", ADDR_MAX), -1;
    if ((llen = split_local(s, e, raw, &at, err, errlen)) < 0)
        return -1;
    if (llen > 0 && (llen = utf8_lower(raw, (size_t)llen, a->local, sizeof(a->local))) < 0)
        return snprintf(err, errlen, "address longer than %d bytes, or not foldable", ADDR_MAX), -1;
    a->local[llen] = '\0';
    if (llen == 0) {
        snprintf(err, errlen, "empty local part");
        return -1;
    }
    /* Only a quoted local part can begin with a space.  addr_key_normalize()
     * trims the keys read from tables, so no stored rule could equal its
     * lookup keys, and a rule written for it would name another address. */
    if (a->local[0] == ' ') {
        snprintf(err, errlen, "local part begins with a space");
        return -1;
    }
    if (at && parse_domain(a, at, e, err, errlen) < 0)
        return -1;
    a->base_len = (size_t)llen;
    if (delims && *delims) {
        size_t pos = strcspn(a->local, delims);
        if (pos > 0 && pos < (size_t)llen)
            a->base_len = pos;
    }
    return 0;
}

int addr_format(const struct addr *a, int base, char *out, size_t outlen)
{
    size_t at = 0;

    if (outlen == 0)
        return -1;
    out[0] = '\0';
    if (a->is_null)
        return str_append(out, outlen, &at, "<>");
    if (str_append_n(out, outlen, &at, a->local, base ? a->base_len : strlen(a->local)) < 0)
        return -1;
    if (a->domain[0] && (str_append(out, outlen, &at, "@") < 0 || str_append(out, outlen, &at, a->domain) < 0))
        return -1;
    return 0;
}

void addr_keys(const struct addr *a, struct addr_keys *k)
{
    int has_ext = !a->is_null && a->base_len < strlen(a->local);

    k->n = 0;
    if (a->is_null) {
        memcpy(k->full, "<>", 3);
        k->key[k->n++] = k->full;
        return;
    }
    /* Sizes were checked by addr_parse: these fit. */
    addr_format(a, 0, k->full, sizeof(k->full));
    k->key[k->n++] = k->full;
    if (has_ext) {
        addr_format(a, 1, k->base, sizeof(k->base));
        k->key[k->n++] = k->base;
    }
    if (a->domain[0]) {
        const char *d = k->full + strlen(a->local) + 1;
        k->key[k->n++] = d;
        if (d[0] != '[')
            for (const char *p = strchr(d, '.'); p && k->n < ADDR_MAX_KEYS - 2; p = strchr(p + 1, '.'))
                k->key[k->n++] = p + 1;
    }
    size_t at = 0;
    str_append(k->local_at, sizeof(k->local_at), &at, a->local);
    str_append(k->local_at, sizeof(k->local_at), &at, "@");
    k->key[k->n++] = k->local_at;
    if (has_ext) {
        at = 0;
        str_append_n(k->base_at, sizeof(k->base_at), &at, a->local, a->base_len);
        str_append(k->base_at, sizeof(k->base_at), &at, "@");
        k->key[k->n++] = k->base_at;
    }
}

int addr_key_normalize(const char *in, char *out, size_t outlen)
{
    const char *s = in, *e;
    size_t len;

    if (!in)
        return -1;
    trim_spaces(in, &s, &e);
    if (e - s > 2 && *s == '<' && e[-1] == '>') {
        s++;
        e--;
        /* As addr_parse: blanks inside the brackets are not part of the key,
         * and "<<a>>" names nothing it accepts.  So a normalised key is its
         * own normal form. */
        while (s < e && *s == ' ')
            s++;
        while (e > s && e[-1] == ' ')
            e--;
        if (*s == '<' && e - s > 2 && e[-1] == '>')
            return -1;
    }
    len = (size_t)(e - s);
    if (len == 0 || len >= outlen || len > ADDR_MAX + 1 || has_control(s, len) || !addr_utf8_valid(s, len))
        return -1;
    return utf8_lower(s, len, out, outlen) < 0 ? -1 : 0;
}

int addr_key_check(const char *in, int allow_null, char *out, size_t outlen,
                   enum addr_key_kind *kind, char *err, size_t errlen)
{
    struct addr a;
    const char *s, *e;
    size_t len;

    if (!in) {
        snprintf(err, errlen, "address is missing");
        return -1;
    }
    len = strlen(in);
    if (has_control(in, len)) {
        snprintf(err, errlen, "address contains a control character");
        return -1;
    }
    if (!addr_utf8_valid(in, len)) {
        snprintf(err, errlen, "address is not valid UTF-8");
        return -1;
    }
    trim_spaces(in, &s, &e);
    if (e == s) {
        snprintf(err, errlen, "address is empty");
        return -1;
    }
    if ((e - s == 2 && s[0] == '<' && s[1] == '>')) {
        if (!allow_null) {
            snprintf(err, errlen, "the null sender <> is not valid here");
            return -1;
        }
        *kind = AK_NULL;
        if (snprintf(out, outlen, "<>") >= (int)outlen) {
            snprintf(err, errlen, "key too long");
            return -1;
        }
        return 0;
    }
    if (e - s > 254 + 2) {
        snprintf(err, errlen, "address is longer than 254 bytes");
        return -1;
    }
    char buf[ADDR_MAX + 4];
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    size_t blen = strlen(buf);
    if (blen >= 2 && buf[0] == '<' && buf[blen - 1] == '>') {
        memmove(buf, buf + 1, blen - 2);
        buf[blen - 2] = '\0';
        blen -= 2;
    }
    if (strchr(buf, ' ') && buf[0] != '"') {
        snprintf(err, errlen, "address contains a space");
        return -1;
    }
    if (blen > 0 && buf[blen - 1] == '@') {
        /* user@ key: the local part alone */
        buf[blen - 1] = '\0';
        if (blen - 1 == 0 || strchr(buf, '@')) {
            snprintf(err, errlen, "a user@ key needs exactly one local part before '@'");
            return -1;
        }
        if (blen - 1 > 64) {
            snprintf(err, errlen, "local part is longer than 64 bytes");
            return -1;
        }
        long n = utf8_lower(buf, blen - 1, out, outlen - 1);
        if (n < 0) {
            snprintf(err, errlen, "key too long");
            return -1;
        }
        memcpy(out + n, "@", 2);           /* the room was kept: outlen - 1 above */
        *kind = AK_USER;
        return 0;
    }
    if (!strchr(buf, '@')) {
        char dom[ADDR_MAX + 2] = "";    /* zeroed: the analyzers cannot follow utf8_lower()'s NUL */
        if (blen > 255) {
            snprintf(err, errlen, "domain is longer than 255 bytes");
            return -1;
        }
        /* Folding may lengthen it ("\xc4\xb0" becomes 3 bytes): err is
         * set on every failure, callers print it. */
        if (utf8_lower(buf, blen, dom, sizeof(dom)) < 0) {
            snprintf(err, errlen, "domain is longer than 255 bytes once lower-cased, or not foldable");
            return -1;
        }
        if (domain_check(dom, err, errlen) < 0)
            return -1;
        if (dom[0] == '[') {
            snprintf(err, errlen, "an address literal is not a valid key");
            return -1;
        }
        if (snprintf(out, outlen, "%s", dom) >= (int)outlen) {
            snprintf(err, errlen, "key too long");
            return -1;
        }
        *kind = AK_DOMAIN;
        return 0;
    }
    if (addr_parse(buf, "", &a, err, errlen) < 0)
        return -1;
    if (!a.domain[0]) {
        snprintf(err, errlen, "domain is empty");
        return -1;
    }
    if (strchr(a.local, '@')) {
        snprintf(err, errlen, "local part contains '@'");
        return -1;
    }
    if (strlen(a.local) > 64) {
        snprintf(err, errlen, "local part is longer than 64 bytes");
        return -1;
    }
    if (strlen(a.local) + 1 + strlen(a.domain) > 254) {
        snprintf(err, errlen, "address is longer than 254 bytes");
        return -1;
    }
    if (addr_format(&a, 0, out, outlen) < 0) {
        snprintf(err, errlen, "address too long");
        return -1;
    }
    *kind = AK_ADDRESS;
    return 0;
}
