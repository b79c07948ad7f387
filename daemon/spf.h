/* spf.h - SPF verdicts (RFC 7208) on an envelope sender, through libspf2:
 * one checker a thread, its own bounded DNS layer (spfdns.c). */
#ifndef GUARDLIST_SPF_H
#define GUARDLIST_SPF_H

#include <stddef.h>

enum spf_verdict {
    SPF_V_NONE, SPF_V_NEUTRAL, SPF_V_PASS, SPF_V_FAIL, SPF_V_SOFTFAIL, SPF_V_PERMERROR, SPF_V_TEMPERROR
};

#define SPF_TTL_MIN 30          /* seconds a verdict is kept at least (DNS TTLs of 0 included) */
#define SPF_TTL_MAX 3600        /* ... and at most */
#define SPF_TTL_TEMPERROR 10    /* a DNS failure is asked again this soon */

/* The replies for the verdicts that overrule an allow or a challenge. */
#define REPLY_SPF_FAIL "550 5.7.23 Sender could not be verified: its domain does not allow this server to send its mail (SPF fail)"
#define REPLY_SPF_SOFTFAIL "550 5.7.23 Sender could not be verified: its domain does not vouch for this server (SPF softfail)"
#define REPLY_SPF_PERMERROR "550 5.7.23 Sender could not be verified: its domain's SPF record is broken (SPF permerror)"
#define REPLY_SPF_TEMPERROR "451 4.4.3 Sender could not be verified just now (SPF lookup failed), try again later"

/* "pass", "fail" ... as RFC 7208 names them, for logs and challenges.spf_result. */
const char *spf_verdict_name(enum spf_verdict v);

/* The reply that overrules an allow or a challenge for V, or NULL when V
 * lets the decision stand (pass, none, neutral). */
const char *spf_verdict_reply(enum spf_verdict v);

/* The domain SPF judges for SENDER (after its last '@') into OUT: lower
 * case, a UTF-8 domain as its A-labels ("bücher.test" is
 * "xn--bcher-kva.test", IDNA2008 with UTS #46 non-transitional mapping,
 * libidn2), the name its owner published the record at.  Returns 0, or -1
 * when SENDER has no '@', its domain is an address literal ("[192.0.2.1]"),
 * cannot be converted or does not fit
 * (then the caller judges it permerror, asking no DNS). */
int spf_domain(const char *sender, char *out, size_t outlen);

/* What one evaluation asks about. */
struct spf_query {
    const char *client_ip;      /* the SMTP client, as Postfix writes client_address */
    const char *sender;         /* the envelope sender as the client gave it */
    const char *domain;         /* its domain: the SPF record looked up */
    const char *helo;           /* the HELO name, for the %{h} macro; NULL or "" if unknown */
};

struct spf_outcome {
    enum spf_verdict verdict;
    unsigned ttl;               /* seconds the verdict may be kept (SPF_TTL_MIN..MAX, or TEMPERROR's) */
    unsigned queries;           /* DNS queries sent */
    int personal;               /* a record used a sender or HELO macro: the verdict is that sender's only */
    char why[200];              /* libspf2's reason, or ours; printable ASCII */
};

struct spf_checker;

/* A checker for the calling thread (libspf2's server object is not to be
 * shared).  RESOLVER as for spfdns_new().  NULL with ERR set on failure.
 * Free with spf_checker_free() on the same thread. */
struct spf_checker *spf_checker_new(const char *resolver, char *err, size_t errlen);
void spf_checker_free(struct spf_checker *ck);

/* Evaluates Q (check_host() of RFC 7208 for the MAIL FROM identity) and
 * fills OUT.  Blocks for DNS: at most SPFDNS_DEADLINE_S and a query's
 * timeout.  Any DNS failure is SPF_V_TEMPERROR, never another verdict.
 * Unlike libspf2's own entry point, a loopback client gets no free pass. */
void spf_check(struct spf_checker *ck, const struct spf_query *q, struct spf_outcome *out);

/* Clamps a TTL seen in DNS to what a verdict V is kept for. */
unsigned spf_ttl_for(enum spf_verdict v, unsigned dns_ttl);

#endif
