/*
 * fuzz_envelope - libFuzzer target for lib/envelope.c (BATV tags, SRS
 * decoding, envelope_unwrap) and lib/netlist.c (trusted_forwarders lists).
 *
 * Input: one selector byte, then the text.  Bit 0: the client is trusted;
 * bit 1: the text is a netlist (and the last line an address to match)
 * rather than an envelope sender.
 * Invariants: every string written is NUL-terminated inside its buffer; an
 * unwrapped sender is an address with a domain that parses back to itself;
 * without trust nothing SRS is decoded and the domain never changes; a BATV
 * removal only ever shortens the local part; a failed netlist_add leaves the
 * list as it was, and an address always matches a list that holds it.
 * No files, no network.
 */
#include "fuzz.h"
#include "addr.h"
#include "envelope.h"
#include "netlist.h"

#include <stdint.h>
#include <string.h>

static void check_sender(const char *s, int trusted)
{
    struct addr a, before, again;
    char err[200], out[ADDR_MAX + 2], tmp[ADDR_MAX + 1], l[ADDR_MAX + 1], d[ADDR_MAX + 1];

    if (addr_parse(s, "+", &a, err, sizeof(err)) < 0)
        return;
    before = a;
    if (!a.is_null && a.local[0]) {
        if (envelope_strip_batv(a.local, tmp, sizeof(tmp))) {
            FUZZ_CHECK(fuzz_terminated(tmp, sizeof(tmp)));
            FUZZ_CHECK(tmp[0] != '\0' && strlen(tmp) < strlen(a.local));
        }
        if (envelope_decode_srs(a.local, l, sizeof(l), d, sizeof(d))) {
            FUZZ_CHECK(fuzz_terminated(l, sizeof(l)) && fuzz_terminated(d, sizeof(d)));
            FUZZ_CHECK(l[0] != '\0' && d[0] != '\0');
        }
    }
    int bits = envelope_unwrap(&a, trusted, "+");
    FUZZ_CHECK((bits & ~(ENVELOPE_BATV | ENVELOPE_SRS | ENVELOPE_SRS_UNTRUSTED)) == 0);
    FUZZ_CHECK(fuzz_terminated(a.local, sizeof(a.local)) && fuzz_terminated(a.domain, sizeof(a.domain)));
    if (!trusted) {
        FUZZ_CHECK(!(bits & ENVELOPE_SRS));
        FUZZ_CHECK(strcmp(a.domain, before.domain) == 0);
    } else {
        FUZZ_CHECK(!(bits & ENVELOPE_SRS_UNTRUSTED));
    }
    if (!(bits & (ENVELOPE_BATV | ENVELOPE_SRS))) {
        FUZZ_CHECK(memcmp(&a, &before, sizeof(a)) == 0);
        return;
    }
    FUZZ_CHECK(!a.is_null && a.domain[0] && a.local[0]);
    FUZZ_CHECK(addr_format(&a, 0, out, sizeof(out)) == 0);
    FUZZ_CHECK(addr_parse(out, "+", &again, err, sizeof(err)) == 0);
    FUZZ_CHECK(strcmp(again.local, a.local) == 0 && strcmp(again.domain, a.domain) == 0);
}

static void check_netlist(char *s)
{
    static struct netlist nl;
    struct netlist before;
    char err[200];
    char *last = strrchr(s, '\n');
    const char *ip = last ? last + 1 : "";

    if (last)
        *last = '\0';
    memset(&nl, 0, sizeof(nl));
    netlist_add(&nl, "192.0.2.0/24", err, sizeof(err));
    before = nl;
    if (netlist_add(&nl, s, err, sizeof(err)) < 0) {
        FUZZ_CHECK(memcmp(&nl, &before, sizeof(nl)) == 0);
        FUZZ_CHECK(err[0] != '\0' && fuzz_terminated(err, sizeof(err)));
    } else {
        FUZZ_CHECK(nl.n >= before.n && nl.n <= NETLIST_MAX);
        for (size_t i = 0; i < nl.n; i++)
            FUZZ_CHECK(nl.e[i].bits <= (nl.e[i].v6 ? 128u : 32u));
    }
    (void)netlist_match(&nl, ip);
    /* an address in a list of itself matches */
    struct netlist one = { 0 };
    if (strlen(ip) < 60 && !strpbrk(ip, " \t,/") && netlist_add(&one, ip, err, sizeof(err)) == 0 && one.n == 1)
        FUZZ_CHECK(netlist_match(&one, ip) == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1)
        return 0;
    char *s = fuzz_cstr(data + 1, len - 1);

    if (data[0] & 2)
        check_netlist(s);
    else
        check_sender(s, data[0] & 1);
    free(s);
    return 0;
}
