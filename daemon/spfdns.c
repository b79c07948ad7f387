/*
 * spfdns - the DNS layer under libspf2 (an SPF_dns_server_t of our own).
 *
 * Called by spf.c, one layer per thread (a res_state is not shared).  It
 * exists because libspf2's own layer cannot be pointed at one server, does
 * not bound its waits, keeps no TTL, and turns REFUSED into a permanent
 * error; here every query has a timeout and a number of tries, one
 * evaluation has a deadline and a query budget, and every failure that is
 * the DNS's rather than the domain's (timeout, SERVFAIL, REFUSED, a garbled
 * answer, a limit) is TRY_AGAIN, which libspf2 turns into temperror: a DNS
 * problem never comes out as pass, fail or none.  It also never asks for
 * the obsolete SPF RR type (RFC 7208 3.1) and never fetches exp= texts.
 * Must never return NULL to libspf2 but when out of memory (it aborts).
 */
#include "spfdns.h"
#include "netlist.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <spf2/spf_dns_rr.h>

#define ANSWER_MAX 65536
#define MACRO_TERM_MAX 128      /* a term with a macro longer than this is refused */

struct spfdns {
    SPF_dns_server_t layer;
    struct __res_state res;
    int res_ok;
    struct sockaddr_in6 ns6;    /* [policy] resolver when it is IPv6 */
    unsigned ttl, queries;
    int failed;
    int personal;               /* an SPF record used a macro of the sender or the HELO */
    time_t deadline;
    unsigned char answer[ANSWER_MAX];
};

static time_t mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

int spfdns_txt_refused(const char *txt)
{
    if (strncasecmp(txt, "v=spf1", 6) != 0 || (txt[6] != ' ' && txt[6] != '\0'))
        return 0;
    for (const char *p = txt + 6; *p;) {
        size_t len = strcspn(p, " ");
        if (len > MACRO_TERM_MAX && memchr(p, '%', len))
            return 1;
        p += len;
        p += strspn(p, " ");
    }
    return 0;
}

int spfdns_txt_personal(const char *txt)
{
    if (strncasecmp(txt, "v=spf1", 6) != 0 || (txt[6] != ' ' && txt[6] != '\0'))
        return 0;
    for (const char *p = txt; (p = strstr(p, "%{")) != NULL; p += 2)
        if (p[2] && strchr("lLsSoOhH", p[2]))
            return 1;
    return 0;
}

/* What libspf2 gets for a failed lookup: an RR set of no records. */
static SPF_dns_rr_t *no_records(struct spfdns *d, const char *domain, ns_type type, int herrno)
{
    if (herrno == TRY_AGAIN)
        d->failed = 1;
    return SPF_dns_rr_new_init(&d->layer, domain, type, 0, herrno);
}

static void saw_ttl(struct spfdns *d, unsigned ttl)
{
    if (ttl < d->ttl)
        d->ttl = ttl;
}

/* A negative answer's TTL: its SOA's, no more than the SOA's minimum. */
static void negative_ttl(struct spfdns *d, ns_msg *msg)
{
    ns_rr rr;

    for (int i = 0; i < ns_msg_count(*msg, ns_s_ns); i++) {
        if (ns_parserr(msg, ns_s_ns, i, &rr) < 0 || ns_rr_type(rr) != ns_t_soa)
            continue;
        unsigned ttl = ns_rr_ttl(rr);
        /* The SOA's RDATA ends with five 32-bit numbers; MINIMUM is last. */
        if (ns_rr_rdlen(rr) >= 20) {
            unsigned min = ns_get32(ns_rr_rdata(rr) + ns_rr_rdlen(rr) - 4);
            if (min < ttl)
                ttl = min;
        }
        saw_ttl(d, ttl);
        return;
    }
    saw_ttl(d, 0);      /* no SOA: kept for the shortest time spf.c allows */
}

/* A TXT record's character-strings joined (RFC 7208 3.3) into OUT.
 * Returns 0, or -1 if the record is garbled. */
static int txt_join(const unsigned char *rd, size_t rdlen, char *out, size_t outlen)
{
    size_t o = 0;

    while (rdlen > 0) {
        size_t n = *rd++;
        rdlen--;
        if (n > rdlen || o + n >= outlen)
            return -1;
        memcpy(out + o, rd, n);
        o += n;
        rd += n;
        rdlen -= n;
    }
    out[o] = '\0';
    return strlen(out) == o ? 0 : -1;   /* a NUL inside would cut the record short */
}

/* Copies the RDATA of answer RR into record CNT of SPFRR.  Returns 1 if
 * copied, 0 if RR is not one to copy, -1 when the answer is garbled. */
static int copy_record(struct spfdns *d, ns_msg *msg, ns_rr *rr, SPF_dns_rr_t *spfrr, int cnt)
{
    const unsigned char *rd = ns_rr_rdata(*rr);
    size_t rdlen = ns_rr_rdlen(*rr);
    char name[NS_MAXDNAME];
    char *txt;

    switch (ns_rr_type(*rr)) {
    case ns_t_a:
    case ns_t_aaaa:
        if (rdlen != (ns_rr_type(*rr) == ns_t_a ? 4u : 16u))
            return -1;
        if (SPF_dns_rr_buf_realloc(spfrr, cnt, rdlen) != SPF_E_SUCCESS)
            return -1;
        memcpy(spfrr->rr[cnt], rd, rdlen);
        return 1;
    case ns_t_mx:
    case ns_t_ptr: {
        size_t skip = ns_rr_type(*rr) == ns_t_mx ? NS_INT16SZ : 0;
        if (rdlen < skip || ns_name_uncompress(ns_msg_base(*msg), ns_msg_end(*msg), rd + skip, name,
                                               sizeof(name)) < 0)
            return -1;
        if (SPF_dns_rr_buf_realloc(spfrr, cnt, strlen(name) + 1) != SPF_E_SUCCESS)
            return -1;
        memcpy(spfrr->rr[cnt], name, strlen(name) + 1);
        return 1;
    }
    case ns_t_txt:
        if (SPF_dns_rr_buf_realloc(spfrr, cnt, rdlen + 1) != SPF_E_SUCCESS)
            return -1;
        txt = spfrr->rr[cnt]->txt;
        if (txt_join(rd, rdlen, txt, rdlen + 1) < 0)
            return -1;
        if (spfdns_txt_refused(txt))    /* compiles to "unknown mechanism": permerror */
            snprintf(txt, rdlen + 1 > 64 ? 64 : rdlen + 1, "v=spf1 refused-by-guardlist");
        if (spfdns_txt_personal(txt))
            d->personal = 1;
        return 1;
    default:
        return 0;
    }
}

SPF_dns_rr_t *spfdns_parse(struct spfdns *d, const unsigned char *answer, size_t len, const char *domain,
                           ns_type type)
{
    ns_msg msg;
    ns_rr rr;
    int cnt = 0;

    if (len > ANSWER_MAX || ns_initparse(answer, (int)len, &msg) < 0)
        return no_records(d, domain, type, TRY_AGAIN);
    switch (ns_msg_getflag(msg, ns_f_rcode)) {
    case ns_r_noerror:
        break;
    case ns_r_nxdomain:
        negative_ttl(d, &msg);
        return no_records(d, domain, type, HOST_NOT_FOUND);
    default:            /* SERVFAIL, REFUSED ...: the server's problem, not the domain's */
        return no_records(d, domain, type, TRY_AGAIN);
    }
    SPF_dns_rr_t *spfrr = SPF_dns_rr_new_init(&d->layer, domain, type, 0, NETDB_SUCCESS);
    if (!spfrr)
        return NULL;
    for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
        if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) {
            SPF_dns_rr_free(spfrr);
            return no_records(d, domain, type, TRY_AGAIN);
        }
        saw_ttl(d, ns_rr_ttl(rr));      /* CNAMEs on the way count too */
        if (ns_rr_class(rr) != ns_c_in || ns_rr_type(rr) != type)
            continue;
        int got = copy_record(d, &msg, &rr, spfrr, cnt);
        if (got < 0) {
            SPF_dns_rr_free(spfrr);
            return no_records(d, domain, type, TRY_AGAIN);
        }
        cnt += got;
    }
    spfrr->num_rr = cnt;
    if (cnt == 0) {
        spfrr->herrno = NO_DATA;
        negative_ttl(d, &msg);
    }
    return spfrr;
}

static SPF_dns_rr_t *lookup(SPF_dns_server_t *layer, const char *domain, ns_type type, int should_cache)
{
    struct spfdns *d = layer->hook;
    unsigned char query[NS_PACKETSZ];

    (void)should_cache;
    if (type == ns_t_spf)       /* obsolete (RFC 7208 3.1): no query, no wait */
        return SPF_dns_rr_new_init(layer, domain, type, 0, NO_DATA);
    if (!d->res_ok || d->queries >= SPFDNS_QUERIES_MAX || mono_seconds() >= d->deadline)
        return no_records(d, domain, type, TRY_AGAIN);
    d->queries++;
    int qlen = res_nmkquery(&d->res, ns_o_query, domain, ns_c_in, type, NULL, 0, NULL, query, sizeof(query));
    if (qlen < 0)               /* not a name DNS can carry */
        return no_records(d, domain, type, HOST_NOT_FOUND);
    int len = res_nsend(&d->res, query, qlen, d->answer, sizeof(d->answer));
    if (len < 0 || len > (int)sizeof(d->answer))
        return no_records(d, domain, type, TRY_AGAIN);
    return spfdns_parse(d, d->answer, (size_t)len, domain, type);
}

/* exp= texts are never fetched: nobody reads them, and they are where
 * libspf2's macro expansion had its worst bugs. */
static SPF_errcode_t get_exp(SPF_server_t *server, const char *domain, char **bufp, size_t *buflenp)
{
    static const char text[] = "not fetched";

    (void)server;
    (void)domain;
    if (*buflenp < sizeof(text)) {
        char *tmp = realloc(*bufp, sizeof(text));
        if (!tmp)
            return SPF_E_NO_MEMORY;
        *bufp = tmp;
        *buflenp = sizeof(text);
    }
    memcpy(*bufp, text, sizeof(text));
    return SPF_E_SUCCESS;
}

/* Points D's res_state at the one server EP. */
static void use_server(struct spfdns *d, const struct netlist_endpoint *ep)
{
    d->res.nscount = 1;
    if (!ep->v6) {
        struct sockaddr_in *sin = &d->res.nsaddr_list[0];
        memset(sin, 0, sizeof(*sin));
        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short)ep->port);
        memcpy(&sin->sin_addr, ep->addr, 4);
        return;
    }
    /* glibc keeps IPv6 servers beside nsaddr_list, whose slot is then unused. */
    memset(&d->ns6, 0, sizeof(d->ns6));
    d->ns6.sin6_family = AF_INET6;
    d->ns6.sin6_port = htons((unsigned short)ep->port);
    memcpy(&d->ns6.sin6_addr, ep->addr, 16);
    memset(&d->res.nsaddr_list[0], 0, sizeof(d->res.nsaddr_list[0]));
    d->res._u._ext.nsaddrs[0] = &d->ns6;
}

struct spfdns *spfdns_new(const char *resolver, char *err, size_t errlen)
{
    struct netlist_endpoint ep;
    struct spfdns *d;

    if (resolver && *resolver && netlist_endpoint(resolver, 53, &ep, err, errlen) < 0)
        return NULL;
    d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (res_ninit(&d->res) != 0) {
        snprintf(err, errlen, "cannot set up a resolver (res_ninit failed)");
        free(d);
        return NULL;
    }
    d->res_ok = 1;
    d->res.retrans = SPFDNS_TIMEOUT_S;
    d->res.retry = SPFDNS_TRIES;
    /* The names libspf2 asks for are whole: no search list, no dots rule. */
    d->res.options &= ~(unsigned long)(RES_DEFNAMES | RES_DNSRCH);
    if (resolver && *resolver)
        use_server(d, &ep);
    d->layer.destroy = NULL;            /* ours: SPF_server_free leaves it */
    d->layer.lookup = lookup;
    d->layer.get_exp = get_exp;
    d->layer.name = "guardlist";
    d->layer.hook = d;
    spfdns_begin(d);
    return d;
}

void spfdns_free(struct spfdns *d)
{
    if (!d)
        return;
    if (d->res._u._ext.nsaddrs[0] == &d->ns6)
        d->res._u._ext.nsaddrs[0] = NULL;   /* not glibc's to free */
    res_nclose(&d->res);
    free(d);
}

SPF_dns_server_t *spfdns_layer(struct spfdns *d)
{
    return &d->layer;
}

void spfdns_begin(struct spfdns *d)
{
    d->ttl = UINT_MAX;
    d->queries = 0;
    d->failed = 0;
    d->personal = 0;
    d->deadline = mono_seconds() + SPFDNS_DEADLINE_S;
}

unsigned spfdns_ttl(const struct spfdns *d)
{
    return d->ttl;
}

int spfdns_personal(const struct spfdns *d)
{
    return d->personal;
}

unsigned spfdns_queries(const struct spfdns *d)
{
    return d->queries;
}

int spfdns_failed(const struct spfdns *d)
{
    return d->failed;
}
