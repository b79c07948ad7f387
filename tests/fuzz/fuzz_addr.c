/*
 * fuzz_addr - libFuzzer target for lib/addr.c: envelope addresses from
 * policy requests (addr_parse, addr_format, addr_keys) and rule keys from
 * the database and the CLI (addr_key_normalize, addr_key_check); and
 * lib/contactaddr.c's contactaddr_check, which judges the raw address a
 * child writes to and an address book entry.
 *
 * Input: one selector byte, then the text.  The selector's low two bits
 * pick the recipient delimiters ("", "+", "+-", "-+_="), bit 2 allows the
 * null sender in addr_key_check.
 * Invariants: every string written lies NUL-terminated inside its buffer;
 * every lookup key points into its struct addr_keys and, for an address
 * with a domain, is a fixed point of addr_key_normalize (a rule stored as
 * that key matches it); normalising is
 * idempotent; a key accepted by addr_key_check is stored as one that
 * addr_key_normalize leaves alone; an address contactaddr_check accepts
 * parses, has a domain and no routed form.  No files, no network.
 */
#include "fuzz.h"
#include "addr.h"
#include "contactaddr.h"

#include <stdint.h>
#include <string.h>

static const char *const delim_sets[4] = { "", "+", "+-", "-+_=" };

static int has_upper_or_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p >= 'A' && *p <= 'Z') || *p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

/* KEY must be its own normal form. */
static void check_normal(const char *key)
{
    char out[ADDR_MAX + 2];

    FUZZ_CHECK(addr_key_normalize(key, out, sizeof(out)) == 0);
    FUZZ_CHECK(strcmp(out, key) == 0);
}

static void check_parsed(const struct addr *a, const char *delims)
{
    char full[ADDR_MAX + 2], base[ADDR_MAX + 2];
    static struct addr_keys k;

    FUZZ_CHECK(fuzz_terminated(a->local, sizeof(a->local)));
    FUZZ_CHECK(fuzz_terminated(a->domain, sizeof(a->domain)));
    size_t llen = strlen(a->local), dlen = strlen(a->domain);
    if (a->is_null) {
        FUZZ_CHECK(llen == 0 && dlen == 0);
    } else {
        FUZZ_CHECK(llen > 0 && llen <= ADDR_MAX);
        FUZZ_CHECK(a->base_len > 0 && a->base_len <= llen);
        if (a->base_len < llen)
            FUZZ_CHECK(delims[0] && strchr(delims, a->local[a->base_len]));
        FUZZ_CHECK(dlen == 0 || llen + 1 + dlen <= ADDR_MAX);
        FUZZ_CHECK(dlen == 0 || a->domain[dlen - 1] != '.');
        FUZZ_CHECK(!has_upper_or_control(a->local) && !has_upper_or_control(a->domain));
        FUZZ_CHECK(addr_utf8_valid(a->local, llen) && addr_utf8_valid(a->domain, dlen));
    }
    FUZZ_CHECK(addr_format(a, 0, full, sizeof(full)) == 0);
    FUZZ_CHECK(addr_format(a, 1, base, sizeof(base)) == 0);
    FUZZ_CHECK(strlen(base) <= strlen(full));

    memset(&k, 0xa5, sizeof(k));
    addr_keys(a, &k);
    FUZZ_CHECK(k.n >= 1 && k.n <= ADDR_MAX_KEYS);
    FUZZ_CHECK(strcmp(k.key[0], full) == 0);
    const char *lo = (const char *)&k, *hi = (const char *)(&k + 1);
    for (size_t i = 0; i < k.n; i++) {
        const char *key = k.key[i];
        FUZZ_CHECK(key >= lo && key < hi);
        FUZZ_CHECK(fuzz_terminated(key, (size_t)(hi - key)));
        FUZZ_CHECK(key[0] != '\0' && strlen(key) <= ADDR_MAX + 1);
        /* lib/decide.c refuses an address without a domain before it looks
         * up any key ("<a>" or "a " would be trimmed on the table side). */
        if (a->is_null || a->domain[0])
            check_normal(key);
    }
    if (a->is_null)
        FUZZ_CHECK(k.n == 1 && strcmp(k.key[0], "<>") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char out[ADDR_MAX + 2], err[200];
    struct addr a;
    enum addr_key_kind kind;

    if (len < 1)
        return 0;
    const char *delims = delim_sets[data[0] & 3];
    int allow_null = (data[0] >> 2) & 1;
    char *s = fuzz_cstr(data + 1, len - 1);

    err[0] = '\0';
    if (addr_parse(s, delims, &a, err, sizeof(err)) == 0)
        check_parsed(&a, delims);
    else
        FUZZ_CHECK(err[0] != '\0' && fuzz_terminated(err, sizeof(err)));

    err[0] = '\0';
    if (contactaddr_check(s, err, sizeof(err)) == CA_OK) {
        FUZZ_CHECK(addr_parse(s, "", &a, err, sizeof(err)) == 0 && !a.is_null && a.domain[0]);
        FUZZ_CHECK(!strpbrk(a.local, "%!@") && a.domain[0] != '[');
    } else {
        FUZZ_CHECK(err[0] != '\0' && fuzz_terminated(err, sizeof(err)));
    }

    memset(out, 0xa5, sizeof(out));
    if (addr_key_normalize(s, out, sizeof(out)) == 0) {
        char again[ADDR_MAX + 2];
        FUZZ_CHECK(fuzz_terminated(out, sizeof(out)));
        FUZZ_CHECK(addr_key_normalize(out, again, sizeof(again)) == 0);
        FUZZ_CHECK(strcmp(out, again) == 0);
    }

    err[0] = '\0';
    memset(out, 0xa5, sizeof(out));
    if (addr_key_check(s, allow_null, out, sizeof(out), &kind, err, sizeof(err)) == 0) {
        FUZZ_CHECK(fuzz_terminated(out, sizeof(out)));
        size_t olen = strlen(out);
        const char *at = strchr(out, '@');
        FUZZ_CHECK(olen > 0);
        switch (kind) {
        case AK_NULL:
            FUZZ_CHECK(allow_null && strcmp(out, "<>") == 0);
            break;
        case AK_USER:
            FUZZ_CHECK(at == out + olen - 1 && olen >= 2);
            break;
        case AK_DOMAIN:
            FUZZ_CHECK(at == NULL && out[0] != '[');
            break;
        case AK_ADDRESS:
            FUZZ_CHECK(at != NULL && olen <= 254);
            break;
        default:
            FUZZ_CHECK(!"unknown key kind");
        }
        check_normal(out);
    } else {
        FUZZ_CHECK(err[0] != '\0' && fuzz_terminated(err, sizeof(err)));
    }
    free(s);
    return 0;
}
