/*
 * fuzz_spfdns - libFuzzer target for daemon/spfdns.c's reading of DNS answers,
 * the one parser of network input under libspf2 (and spfdns_txt_refused()).
 *
 * Input: one selector byte (the query type: A, AAAA, MX, PTR or TXT), then a
 * DNS message as a server might send it.
 * Invariants: an answer is always returned (never NULL); its status is one
 * libspf2 handles (NETDB_SUCCESS with records, HOST_NOT_FOUND, NO_DATA,
 * TRY_AGAIN); every record is of the type asked; a TXT record is a C string
 * inside its buffer and never one spfdns refuses; an MX or PTR name is a C
 * string inside its buffer.  No network: the layer is never asked to query.
 */
#include "fuzz.h"
#include "spfdns.h"

#include <netdb.h>
#include <spf2/spf_dns_rr.h>

static int terminated_within(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const ns_type types[] = { ns_t_a, ns_t_aaaa, ns_t_mx, ns_t_ptr, ns_t_txt };
    static struct spfdns *dns;
    char err[200];

    if (len < 1)
        return 0;
    if (!dns)
        dns = spfdns_new("127.0.0.1:9", err, sizeof(err));
    FUZZ_CHECK(dns != NULL);
    ns_type type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
    spfdns_begin(dns);
    SPF_dns_rr_t *rr = spfdns_parse(dns, data + 1, len - 1, "fuzz.test", type);

    FUZZ_CHECK(rr != NULL);
    FUZZ_CHECK(rr->herrno == NETDB_SUCCESS || rr->herrno == HOST_NOT_FOUND || rr->herrno == NO_DATA
               || rr->herrno == TRY_AGAIN);
    FUZZ_CHECK(rr->herrno != NETDB_SUCCESS || rr->num_rr > 0);
    FUZZ_CHECK(rr->num_rr >= 0 && rr->num_rr <= rr->rr_buf_num);
    FUZZ_CHECK(rr->rr_type == type);
    for (int i = 0; i < rr->num_rr; i++) {
        if (type == ns_t_txt) {
            FUZZ_CHECK(terminated_within(rr->rr[i]->txt, rr->rr_buf_len[i]));
            FUZZ_CHECK(!spfdns_txt_refused(rr->rr[i]->txt));
        } else if (type == ns_t_mx || type == ns_t_ptr) {
            FUZZ_CHECK(terminated_within(rr->rr[i]->mx, rr->rr_buf_len[i]));
        }
    }
    SPF_dns_rr_free(rr);
    return 0;
}
