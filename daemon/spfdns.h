/* spfdns.h - the DNS layer guardlist gives libspf2: bounded queries to the
 * system's resolvers or to one configured server, and the TTLs seen. */
#ifndef GUARDLIST_SPFDNS_H
#define GUARDLIST_SPFDNS_H

#include <stddef.h>
#include <netinet/in.h>         /* libspf2's headers need it first */
#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#define SPFDNS_TIMEOUT_S 2          /* one try of one query */
#define SPFDNS_TRIES 2
#define SPFDNS_DEADLINE_S 12        /* one whole evaluation */
#define SPFDNS_QUERIES_MAX 50       /* one whole evaluation (RFC 7208 needs fewer) */

struct spfdns;

/* A layer for one thread.  RESOLVER: "" for the servers of
 * /etc/resolv.conf, else IP[:PORT] or [IPv6]:PORT.  NULL with ERR set when
 * RESOLVER is unusable or memory is short.  Free with spfdns_free(). */
struct spfdns *spfdns_new(const char *resolver, char *err, size_t errlen);
void spfdns_free(struct spfdns *dns);

/* The layer to hand to SPF_server_new_dns(); it stays D's (never freed by
 * libspf2). */
SPF_dns_server_t *spfdns_layer(struct spfdns *dns);

/* Starts one evaluation: the TTL, query count and deadline start again. */
void spfdns_begin(struct spfdns *dns);

/* Since spfdns_begin(): the smallest TTL of the answers used (negative
 * answers count with their SOA's minimum; UINT_MAX when none had one), the
 * queries sent, and whether a query failed for a reason of the DNS (timeout,
 * SERVFAIL, a limit of this layer), which makes any verdict temporary. */
unsigned spfdns_ttl(const struct spfdns *dns);
/* Since spfdns_begin(): 1 if a record read used a macro of the sender's
 * local part or address, or of the HELO name (%{l}, %{s}, %{o}, %{h}): the
 * verdict then holds only for that sender and HELO, not for the domain. */
int spfdns_personal(const struct spfdns *dns);
/* 1 if TXT is an SPF record with such a macro. */
int spfdns_txt_personal(const char *txt);
unsigned spfdns_queries(const struct spfdns *dns);
int spfdns_failed(const struct spfdns *dns);

/* The records of TYPE that the DNS message ANSWER (LEN bytes, from the
 * network) holds for DOMAIN, as libspf2 takes them: NETDB_SUCCESS with at
 * least one record, HOST_NOT_FOUND, NO_DATA, or TRY_AGAIN for anything
 * garbled or any RCODE but NOERROR and NXDOMAIN.  NULL only when out of
 * memory.  Free with SPF_dns_rr_free().  Used by the lookups and the fuzz
 * target. */
SPF_dns_rr_t *spfdns_parse(struct spfdns *dns, const unsigned char *answer, size_t len, const char *domain,
                           ns_type type);

/* 1 if the TXT string TXT is an SPF record this layer refuses to hand to
 * libspf2: a term with a macro longer than libspf2 compiles safely (the
 * integer underflow of CVE-2023-42118, unfixed in Debian 12's 1.2.10-7.2). */
int spfdns_txt_refused(const char *txt);

#endif
