/*
 * spf - SPF verdicts through libspf2 (Debian's libspf2-2).
 *
 * Called by guardlistd's SPF worker threads, one checker each: libspf2's
 * server object and our DNS layer (spfdns.c) are not shared between threads.
 * Blocks on DNS, so it must never run on an event-loop thread.  libspf2
 * prints nothing here (its info and warning hooks are silenced); it still
 * aborts the process on out-of-memory and on its internal assertions, which
 * nothing here can prevent.
 */
#include "spf.h"
#include "contactaddr.h"
#include "spfdns.h"

#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spf2/spf.h>

struct spf_checker {
    SPF_server_t *server;
    struct spfdns *dns;
};

static const char *const names[] = {
    [SPF_V_NONE] = "none", [SPF_V_NEUTRAL] = "neutral", [SPF_V_PASS] = "pass", [SPF_V_FAIL] = "fail",
    [SPF_V_SOFTFAIL] = "softfail", [SPF_V_PERMERROR] = "permerror", [SPF_V_TEMPERROR] = "temperror",
};

const char *spf_verdict_name(enum spf_verdict v)
{
    return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "temperror";
}

const char *spf_verdict_reply(enum spf_verdict v)
{
    switch (v) {
    case SPF_V_PASS:
    case SPF_V_NONE:
    case SPF_V_NEUTRAL:
        return NULL;
    case SPF_V_FAIL:
        return REPLY_SPF_FAIL;
    case SPF_V_SOFTFAIL:
        return REPLY_SPF_SOFTFAIL;
    case SPF_V_PERMERROR:
        return REPLY_SPF_PERMERROR;
    case SPF_V_TEMPERROR:
    default:
        return REPLY_SPF_TEMPERROR;
    }
}

unsigned spf_ttl_for(enum spf_verdict v, unsigned dns_ttl)
{
    if (v == SPF_V_TEMPERROR)
        return SPF_TTL_TEMPERROR;
    if (dns_ttl < SPF_TTL_MIN)
        return SPF_TTL_MIN;
    return dns_ttl > SPF_TTL_MAX ? SPF_TTL_MAX : dns_ttl;
}

int spf_domain(const char *sender, char *out, size_t outlen)
{
    const char *at = sender ? strrchr(sender, '@') : NULL;

    if (!at || !at[1] || at[1] == '[')
        return -1;              /* an address literal names no domain that could publish SPF */
    /* A domain IDNA refuses is not a name DNS can hold: nobody published SPF for it. */
    return contactaddr_a_label(at + 1, strlen(at + 1), out, outlen);
}

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

/* libspf2 would print its notes to stdout/stderr (a daemon's /dev/null, or
 * the test's log); its errors still print and abort. */
static void quiet_libspf2(void)
{
    SPF_warning_handler = NULL;
    SPF_info_handler = NULL;
    SPF_debug_handler = NULL;
}

struct spf_checker *spf_checker_new(const char *resolver, char *err, size_t errlen)
{
    struct spf_checker *ck = calloc(1, sizeof(*ck));

    pthread_once(&quiet_once, quiet_libspf2);
    if (!ck) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ck->dns = spfdns_new(resolver, err, errlen);
    if (ck->dns)
        ck->server = SPF_server_new_dns(spfdns_layer(ck->dns), 0);
    if (!ck->server) {
        if (ck->dns)
            snprintf(err, errlen, "out of memory (libspf2 server)");
        spfdns_free(ck->dns);
        free(ck);
        return NULL;
    }
    return ck;
}

void spf_checker_free(struct spf_checker *ck)
{
    if (!ck)
        return;
    SPF_server_free(ck->server);    /* leaves our layer (no destroy function) */
    spfdns_free(ck->dns);
    free(ck);
}

/* Sets REQ's client address from IP (an IPv4-mapped IPv6 address counts as
 * IPv4, as SPF's ip4: mechanisms expect).  Returns 0 or -1. */
static int set_client(SPF_request_t *req, const char *ip)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (!ip)
        return -1;
    if (inet_pton(AF_INET, ip, &a4) == 1)
        return SPF_request_set_ipv4(req, a4) == SPF_E_SUCCESS ? 0 : -1;
    if (inet_pton(AF_INET6, ip, &a6) != 1)
        return -1;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        memcpy(&a4, &a6.s6_addr[12], 4);
        return SPF_request_set_ipv4(req, a4) == SPF_E_SUCCESS ? 0 : -1;
    }
    return SPF_request_set_ipv6(req, a6) == SPF_E_SUCCESS ? 0 : -1;
}

/* SPF_request_query_mailfrom() without its free pass for loopback clients
 * (in guardlist's tests, and behind a local relay, they are real clients):
 * the same steps, from libspf2's public API. */
static SPF_result_t query_mailfrom(SPF_server_t *server, SPF_request_t *req, SPF_response_t **respp)
{
    SPF_record_t *rec = NULL;
    SPF_response_t *resp = SPF_response_new(req);

    *respp = resp;
    if (!resp)
        return SPF_RESULT_TEMPERROR;
    req->use_helo = 0;
    req->cur_dom = req->env_from_dp;
    SPF_errcode_t err = SPF_server_get_record(server, req, resp, &rec);
    if (err != SPF_E_SUCCESS) {
        if (rec)
            SPF_record_free(rec);
        SPF_i_done(resp, resp->result, resp->reason, resp->err);
    } else {
        resp->spf_record_exp = rec;
        SPF_record_interpret(rec, req, resp, 0);
        SPF_record_free(rec);
    }
    return SPF_response_result(resp);
}

static enum spf_verdict from_libspf2(SPF_result_t r)
{
    switch (r) {
    case SPF_RESULT_PASS: return SPF_V_PASS;
    case SPF_RESULT_FAIL: return SPF_V_FAIL;
    case SPF_RESULT_SOFTFAIL: return SPF_V_SOFTFAIL;
    case SPF_RESULT_NEUTRAL: return SPF_V_NEUTRAL;
    case SPF_RESULT_NONE: return SPF_V_NONE;
    case SPF_RESULT_TEMPERROR: return SPF_V_TEMPERROR;
    case SPF_RESULT_PERMERROR:
    case SPF_RESULT_INVALID:    /* a record that did not compile */
    default: return SPF_V_PERMERROR;
    }
}

/* The first message libspf2 left in RESP, made printable, into OUT. */
static void reason(SPF_response_t *resp, char *out, size_t outlen)
{
    const char *msg = NULL;

    out[0] = '\0';
    if (resp && SPF_response_messages(resp) > 0) {
        SPF_error_t *e = SPF_response_message(resp, 0);
        msg = e ? SPF_error_message(e) : NULL;
    }
    if (!msg && resp)
        msg = SPF_response_get_smtp_comment(resp);
    snprintf(out, outlen, "%s", msg ? msg : "");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '"' || *p == '\\')
            *p = '?';
}

void spf_check(struct spf_checker *ck, const struct spf_query *q, struct spf_outcome *out)
{
    SPF_request_t *req = SPF_request_new(ck->server);
    SPF_response_t *resp = NULL;
    char from[600];

    memset(out, 0, sizeof(*out));
    spfdns_begin(ck->dns);
    /* The domain judged is Q's (A-labels); the local part stays, for %{l}. */
    const char *at = strrchr(q->sender, '@');
    if (at && at > q->sender)
        snprintf(from, sizeof(from), "%.*s@%s", (int)(at - q->sender), q->sender, q->domain);
    else
        snprintf(from, sizeof(from), "postmaster@%s", q->domain);
    if (!req || set_client(req, q->client_ip) < 0 || strlen(q->sender) >= sizeof(from)
        || (q->helo && *q->helo && SPF_request_set_helo_dom(req, q->helo) != SPF_E_SUCCESS)
        || SPF_request_set_env_from(req, from) != 0) {
        out->verdict = req ? SPF_V_PERMERROR : SPF_V_TEMPERROR;
        snprintf(out->why, sizeof(out->why), "%s", req ? "client address or sender unusable for SPF"
                                                        : "out of memory");
    } else {
        out->verdict = from_libspf2(query_mailfrom(ck->server, req, &resp));
        reason(resp, out->why, sizeof(out->why));
    }
    /* A DNS failure anywhere makes a verdict other than pass unsure. */
    if (spfdns_failed(ck->dns) && out->verdict != SPF_V_PASS && out->verdict != SPF_V_TEMPERROR) {
        out->verdict = SPF_V_TEMPERROR;
        snprintf(out->why, sizeof(out->why), "a DNS lookup failed");
    }
    out->queries = spfdns_queries(ck->dns);
    out->ttl = spf_ttl_for(out->verdict, spfdns_ttl(ck->dns));
    out->personal = spfdns_personal(ck->dns);
    if (resp)
        SPF_response_free(resp);
    if (req)
        SPF_request_free(req);
}
