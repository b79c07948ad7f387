/*
 * addr - envelope addresses: parse, normalise, and list the lookup keys in
 * Postfix access(5) order.
 *
 * Callers: the decision code (policy requests), the rule loader (table keys),
 * the CLI.  Input comes from the network: every length is checked and any
 * control character or malformed UTF-8 is an error, never silently dropped.
 */
#include "addr.h"

#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <wctype.h>

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static locale_t utf8_locale;
static pthread_once_t utf8_locale_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void)
{
    utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* The code points whose Unicode full case folding (CaseFolding.txt, status
 * F, plus the S/C entries towlower does not cover) is not their simple
 * lower case, for the letters that can occur in addresses. */
static const char *full_fold(unsigned int cp)
{
    switch (cp) {
    case 0x00df: return "ss";               /* ß */
    case 0x0130: return "i\xcc\x87";        /* İ -> i + combining dot above */
    case 0x0149: return "\xca\xbcn";        /* ŉ */
    case 0x017f: return "s";                /* ſ long s */
    case 0x01f0: return "j\xcc\x8c";        /* ǰ */
    case 0x03c2: return "\xcf\x83";         /* ς final sigma -> σ */
    case 0x1e96: return "h\xcc\xb1";
    case 0x1e97: return "t\xcc\x88";
    case 0x1e98: return "w\xcc\x8a";
    case 0x1e99: return "y\xcc\x8a";
    case 0x1e9a: return "a\xca\xbe";
    case 0x1e9b: return "\xe1\xb9\xa1";     /* ẛ -> ṡ */
    case 0x1e9e: return "ss";               /* ẞ capital sharp s */
    case 0xfb00: return "ff";
    case 0xfb01: return "fi";
    case 0xfb02: return "fl";
    case 0xfb03: return "ffi";
    case 0xfb04: return "ffl";
    case 0xfb05:                            /* ﬅ long s t */
    case 0xfb06: return "st";               /* ﬆ */
    default: return NULL;
    }
}

/* Case-folds valid UTF-8 IN (LEN bytes) into OUT, one code point at a time
 * (towlower, and full_fold() where full folding differs).  ASCII needs no
 * locale; without the C.UTF-8 locale non-ASCII is an error, never left
 * unfolded, since an unfolded key could miss a protection.  Returns the
 * output length, or -1 if it does not fit or the locale is missing. */
static long utf8_lower(const char *in, size_t len, char *out, size_t outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)in[i];
        unsigned int cp;
        size_t n;

        if (c < 0x80) {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = lower((char)c);
            i++;
            continue;
        }
        pthread_once(&utf8_locale_once, utf8_locale_init);
        if (utf8_locale == (locale_t)0)
            return -1;
        n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
        cp = c & (0x3f >> n);
        for (size_t k = 1; k <= n; k++)
            cp = (cp << 6) | ((unsigned char)in[i + k] & 0x3f);
        i += n + 1;
        /* Full case folding, as Postfix's casefold() (ICU) does, where it
         * differs from simple lower-casing: else "ſam@" or "ﬁx@" would
         * miss the key of "sam@" or "fix@" that Postfix delivers to. */
        const char *special = full_fold(cp);
        if (special) {
            size_t sl = strlen(special);
            if (o + sl >= outlen)
                return -1;
            memcpy(out + o, special, sl);
            o += sl;
            continue;
        }
        cp = (unsigned int)towlower_l((wint_t)cp, utf8_locale);
        unsigned char buf[4];
        size_t m;
        if (cp < 0x80) {
            buf[0] = (unsigned char)cp;
            m = 1;
        } else if (cp < 0x800) {
            buf[0] = (unsigned char)(0xc0 | (cp >> 6));
            buf[1] = (unsigned char)(0x80 | (cp & 0x3f));
            m = 2;
        } else if (cp < 0x10000) {
            buf[0] = (unsigned char)(0xe0 | (cp >> 12));
            buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            buf[2] = (unsigned char)(0x80 | (cp & 0x3f));
            m = 3;
        } else {
            buf[0] = (unsigned char)(0xf0 | (cp >> 18));
            buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
            buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            buf[3] = (unsigned char)(0x80 | (cp & 0x3f));
            m = 4;
        }
        if (o + m >= outlen)
            return -1;
        memcpy(out + o, buf, m);
        o += m;
    }
    out[o] = '\0';
    return (long)o;
}

int utf8_valid(const char *str, size_t len)
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

int addr_parse(const char *in, const char *delims, struct addr *a, char *err, size_t errlen)
{
    const char *s = in ? in : "", *e;
    size_t len, llen = 0;

    memset(a, 0, sizeof(*a));
    len = strlen(s);
    if (has_control(s, len)) {
        snprintf(err, errlen, "control character in address");
        return -1;
    }
    if (!utf8_valid(s, len)) {
        snprintf(err, errlen, "invalid UTF-8 in address");
        return -1;
    }
    trim_spaces(s, &s, &e);
    if (e > s && (*s == '<' || e[-1] == '>')) {
        if (!(*s == '<' && e[-1] == '>' && e - s >= 2)) {
            snprintf(err, errlen, "unbalanced angle brackets");
            return -1;
        }
        s++;
        e--;
        while (s < e && *s == ' ')
            s++;
        while (e > s && e[-1] == ' ')
            e--;
    }
    if (e == s) {
        a->is_null = 1;
        return 0;
    }
    if ((size_t)(e - s) > 2 * ADDR_MAX) {
        snprintf(err, errlen, "address longer than %d bytes", ADDR_MAX);
        return -1;
    }

    const char *at;
    char raw[ADDR_MAX + 1];
    if (*s == '"') {
        const char *p = s + 1;
        for (; p < e && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < e)
                p++;
            if (llen >= ADDR_MAX)
                return snprintf(err, errlen, "address longer than %d bytes", ADDR_MAX), -1;
            raw[llen++] = *p;
        }
        if (p >= e) {
            snprintf(err, errlen, "unbalanced quote in local part");
            return -1;
        }
        at = p + 1;
        if (at < e && *at != '@') {
            snprintf(err, errlen, "text after quoted local part");
            return -1;
        }
        if (at >= e)
            at = NULL;
    } else {
        at = NULL;
        for (const char *p = s; p < e; p++)
            if (*p == '@')
                at = p;
        const char *lend = at ? at : e;
        if ((size_t)(lend - s) > ADDR_MAX)
            return snprintf(err, errlen, "address longer than %d bytes", ADDR_MAX), -1;
        memcpy(raw, s, (size_t)(lend - s));
        llen = (size_t)(lend - s);
    }
    if (llen > 0) {
        long folded = utf8_lower(raw, llen, a->local, sizeof(a->local));
        if (folded < 0)
            return snprintf(err, errlen, "address longer than %d bytes, or not foldable", ADDR_MAX), -1;
        llen = (size_t)folded;
    }
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
    if (at) {
        size_t dlen = (size_t)(e - at - 1);
        if (dlen > ADDR_MAX)
            return snprintf(err, errlen, "address longer than %d bytes", ADDR_MAX), -1;
        if (utf8_lower(at + 1, dlen, a->domain, sizeof(a->domain)) < 0)
            return snprintf(err, errlen, "address longer than %d bytes, or not foldable", ADDR_MAX), -1;
        if (domain_check(a->domain, err, errlen) < 0)
            return -1;
        if (llen + 1 + strlen(a->domain) > ADDR_MAX) {
            snprintf(err, errlen, "address longer than %d bytes", ADDR_MAX);
            return -1;
        }
    }
    a->base_len = llen;
    if (delims && *delims) {
        size_t pos = strcspn(a->local, delims);
        if (pos > 0 && pos < llen)
            a->base_len = pos;
    }
    return 0;
}

int addr_format(const struct addr *a, int base, char *out, size_t outlen)
{
    int n;

    if (a->is_null)
        n = snprintf(out, outlen, "<>");
    else
        n = snprintf(out, outlen, "%.*s%s%s", (int)(base ? a->base_len : strlen(a->local)),
                     a->local, a->domain[0] ? "@" : "", a->domain);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
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
    snprintf(k->local_at, sizeof(k->local_at), "%s@", a->local);
    k->key[k->n++] = k->local_at;
    if (has_ext) {
        snprintf(k->base_at, sizeof(k->base_at), "%.*s@", (int)a->base_len, a->local);
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
    if (len == 0 || len >= outlen || len > ADDR_MAX + 1 || has_control(s, len) || !utf8_valid(s, len))
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
    if (!utf8_valid(in, len)) {
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
