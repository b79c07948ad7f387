/* decide.h - the decision table of DESIGN.md for one policy request, taken
 * from an in-memory ruleset.  Shared by guardlistd and `guardlist check`. */
#ifndef GUARDLIST_DECIDE_H
#define GUARDLIST_DECIDE_H

#include "addr.h"
#include "config.h"
#include "netlist.h"
#include "ruleset.h"

#define REPLY_ACCESS_DENIED "REJECT Access denied"
#define REPLY_TEMPFAIL "451 4.3.0 Temporary lookup failure"
#define REPLY_DEFER "DEFER_IF_PERMIT Sender not yet approved by the recipient's guardian, try again later"
#define REPLY_ROUTED "REJECT 5.1.3 Routed addresses and address literals are not accepted here; use the plain address"
#define REPLY_CAPPED "DEFER_IF_PERMIT Too many new senders for this recipient, try again later"

struct decide_opts {
    enum unknown_mode unknown_sender;
    const char *on_allow;           /* "DUNNO" or "OK" */
    enum null_mode null_sender;
    const char *delims;             /* recipient delimiter bytes */
    const struct netlist *trusted_forwarders;   /* SRS decoded from these clients, never judged by SPF */
    int spf;                        /* guardlistd: an allow or a challenge needs an SPF verdict */
    int outbound;                   /* a protected login's mail goes only to its contacts (outbound.c) */
    int exact_domain;               /* rules of a parent domain of the sender's do not match (guardlistd,
                                       when SPF did not pass for a domain-wide approval) */
    int recipient_contact;          /* the "sender" is the address a child writes to (set only by
                                       outbound.c): judged by its full address and its domains alone, no
                                       user@ or base+delimiter key, no BATV/SRS undone */
};

enum decision_kind {
    DK_NOT_RCPT,        /* protocol state other than RCPT: DUNNO */
    DK_NOT_PROTECTED,   /* DUNNO */
    DK_RULE,            /* a rule matched (see rule_* and action_kind) */
    DK_CLOSED,          /* denied or expired challenge: REJECT */
    DK_NULL_SENDER,     /* null sender without a rule, by null_sender */
    DK_CHALLENGE,       /* unknown sender: record challenge, then reply */
    DK_BAD_ADDRESS,     /* unusable recipient, or unusable sender for a protected one: REJECT */
    DK_NO_RULES         /* no ruleset loaded yet: 451 */
};

struct decision {
    enum decision_kind kind;
    int allows;                         /* the reply lets the mail through or gives it a rule's effect: any
                                           rule action but REJECT, 4NN/5NN and DEFER*; null_sender = allow */
    int exact_domain;                   /* decided with opts->exact_domain */
    int parent_domain;                  /* the rule matched through a parent domain of the sender's
                                           ("example.com" for x@mail.example.com) */
    char reply[300];
    char protected_key[ADDR_MAX + 2];   /* protected_users key that matched */
    char rule_scope[16];                /* "recipient", "global" or "" */
    char rule_recipient[ADDR_MAX + 2];  /* sender_rules recipient key */
    char rule_sender[ADDR_MAX + 2];     /* matched sender key */
    char sender[ADDR_MAX + 2];          /* the sender judged: BATV tag removed, trusted SRS decoded */
    int outbound;                       /* decided for a protected login's own mail (lib/outbound.c) */
    int login_unmapped;                 /* outbound: the login is no child, the envelope sender is */
    int envelope;                       /* ENVELOPE_ bits (envelope.h): what was undone to get it */
    char challenge_sender[ADDR_MAX + 2];    /* for DK_CHALLENGE: pair to record (the sender, +ext kept) */
    char challenge_base[ADDR_MAX + 2];      /* the sender without its +ext: its refusal covers this pair */
    char challenge_recipient[ADDR_MAX + 2];
    char detail[256];                   /* why, for logs and `guardlist check` */
};

/* Decides for one request.  RS may be NULL (no rules loaded: DK_NO_RULES).
 * CLIENT_ADDRESS is the SMTP client's IP (NULL or "" if unknown): an SRS
 * sender is decoded only when it is in opts->trusted_forwarders.
 * Never fails: every input yields a decision and a reply. */
void decide(const struct ruleset *rs, const struct decide_opts *opts,
            const char *protocol_state, const char *sender, const char *recipient,
            const char *client_address, struct decision *d);

/* A few words on what d->envelope says was undone ("" if nothing). */
const char *decision_envelope_text(const struct decision *d);

/* "rule=..." text naming what matched, for logs. */
const char *decision_rule_text(const struct decision *d, char *buf, size_t buflen);

/* 1 if ADDRESS (a full address, parsed with DELIMS) is protected in RS,
 * by its own key or one that covers it (its domain, a parent domain). */
int decide_protected(const struct ruleset *rs, const char *address, const char *delims);

/* As decide_protected(), and the protected_users key that covers ADDRESS,
 * most specific first, into OUT.  Returns 1, or 0 (OUT "") when ADDRESS is
 * not protected or OUT is too small. */
int decide_protected_key(const struct ruleset *rs, const char *address, const char *delims, char *out,
                         size_t outlen);

#endif
