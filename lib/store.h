/* store.h - every change a person makes (CLI, web page, approval page):
 * validated, written with its audit_log row in one transaction. */
#ifndef GUARDLIST_STORE_H
#define GUARDLIST_STORE_H

#include <stddef.h>
#include "addr.h"
#include "db.h"

/* One row of the challenges table, as every program that shows, mails or
 * decides it reads it: select STORE_CHALLENGE_COLUMNS(alias) first in the
 * query and read the row with store_challenge_read() (or pass
 * store_challenge_row as the db_query callback for a one-row query). */
struct store_challenge {
    int found;
    unsigned long long id;
    char id_text[24];
    char sender[ADDR_MAX + 2], recipient[ADDR_MAX + 2], key[ADDR_MAX + 2], status[16];
    char first_seen[32], last_seen[32], attempts[24];
    char client_name[256], client_address[72];
    char decided_by[256], decided_at[32];
    char decided_rule[600];     /* the rule that closed it, when it covered this challenge (lib/cover.c) */
    char spf_result[68];        /* 'pass', 'none', 'neutral'; "" when nothing was checked (lib/spfword.c
                                 * says it in words); VARCHAR(16) of utf8mb4 is at most 64 bytes */
    char direction[8];          /* 'in': the sender wrote to the child; 'out': the child asked to write to it */
};

/* The columns store_challenge_read() reads, in its order; T is the table's
 * alias with its dot ("c.") or "". */
#define STORE_CHALLENGE_COLUMNS(t) \
    t "id, " t "sender, " t "recipient, " t "protected_key, " t "status, " t "first_seen, " t "last_seen, " \
    t "attempts, COALESCE(" t "client_name, ''), COALESCE(" t "client_address, ''), " \
    "COALESCE(" t "decided_by, ''), COALESCE(" t "decided_at, ''), COALESCE(" t "decided_rule, ''), " \
    "COALESCE(" t "spf_result, ''), " t "direction"
#define STORE_CHALLENGE_NCOLS 15

/* Fills C from the first STORE_CHALLENGE_NCOLS of a row's NCOL columns
 * (NULL reads as "").  Returns STORE_CHALLENGE_NCOLS, or -1 if the row is
 * too short (C is then cleared). */
int store_challenge_read(struct store_challenge *c, int ncol, const char *const *col);
/* A db_query row callback: store_challenge_read() into ARG. */
int store_challenge_row(void *arg, int ncol, const char *const *col, const unsigned long *len);
/* 1 if C is a child's request to write to C->sender (direction 'out'). */
int store_is_outbound(const struct store_challenge *c);
/* The sender_rules recipient an approval or block of C writes: the child's
 * own address for a child's request (direction 'out': the guardian read
 * "kid1@ wants to write to pal@", not every child under a domain or user@
 * key), else the protected key the challenge matched.  Either way one rule
 * covers both directions.  A child's request is never approved domain-wide
 * (STORE_INVALID). */
const char *store_rule_recipient(const struct store_challenge *c);

/* Return codes of the store_ functions. */
#define STORE_INVALID (-2)      /* bad input: nothing written, ERR says what */
#define STORE_ERROR (-1)        /* database failure: nothing written */
#define STORE_NOTFOUND 0        /* nothing to change (ERR says why) */
#define STORE_DONE 1
#define STORE_NOT_GUARDIAN (-3) /* the deciding guardian no longer guards the key: nothing written */
#define STORE_ADMIN_ONLY (-4)   /* a null-sender challenge, and not an admin: nothing written */

/* APPROVE: rule OK for the sender; APPROVE_DOMAIN: rule OK for its domain;
 * DENY: the challenge is refused (the pair stays blocked); BLOCK: DENY plus
 * a REJECT rule for the sender, so it is refused for that key everywhere. */
enum store_decision { STORE_APPROVE, STORE_APPROVE_DOMAIN, STORE_DENY, STORE_BLOCK,
                      STORE_APPROVE_DOMAIN_FORCED };
/* APPROVE_DOMAIN is refused (STORE_INVALID, ERR says why) for a public
 * suffix or a freemail domain (domainwide.h), judged by the policy given
 * to store_use_domainwide() (none given: every domain approval is refused).
 * APPROVE_DOMAIN_FORCED skips that check: only an admin (CLI --force). */

struct domainwide;
/* The policy store_challenge_decide() judges domain approvals by; the
 * caller keeps it alive.  Each program that decides challenges sets it once. */
void store_use_domainwide(const struct domainwide *dw);

/* For a program that stays up (the web programs): loads the domain policy
 * from FREEMAIL_DOMAINS (as domainwide_load) and uses it, and sets the
 * recipient delimiter by which a stored sender's +ext is read (lib/cover.c).
 * Returns 0, or -1 with ERR set.  store_unconfigure() frees it. */
int store_configure(const char *freemail_domains, const char *recipient_delimiter, char *err, size_t errlen);
void store_unconfigure(void);

/* 1 if approving everyone at SENDER's domain would be accepted now, 0 with
 * WHY if not (no domain, a public suffix, a freemail domain): for showing
 * the button only where it works. */
int store_domain_approvable(const char *sender, char *why, size_t whylen);

/* Writes one audit_log row (inside the caller's transaction, if any). */
int store_audit(struct db *db, const char *actor, const char *action, const char *detail,
                char *err, size_t errlen);

int store_protect(struct db *db, const char *actor, const char *key, const char *const *guardians,
                  int nguardians, char *err, size_t errlen);
int store_unprotect(struct db *db, const char *actor, const char *key, char *err, size_t errlen);
int store_guardian_add(struct db *db, const char *actor, const char *rcpt, const char *email,
                       char *err, size_t errlen);
int store_guardian_remove(struct db *db, const char *actor, const char *rcpt, const char *email,
                          char *err, size_t errlen);

/* Guardians whose own address is protected get nothing from guardlist
 * unless its emails reach them by a path Postfix permits before the policy
 * check (docs/postfix.md).  With EMAIL: whether that guardian address is
 * protected; else whether the key KEY (just protected) covers a guardian's
 * address.  WARN gets "guardian X is protected (by K); ..." (at most 8).
 * Returns how many, or STORE_INVALID / STORE_ERROR with ERR. */
int store_guardians_protected(struct db *db, const char *key, const char *email, char *warn, size_t warnlen,
                              char *err, size_t errlen);

/* RCPT NULL: a global rule (table whitelist); else a per-recipient rule.
 * Every pending challenge the rule now decides is closed with it
 * (lib/cover.c): on STORE_DONE, ERR is "" or says how many closed. */
int store_rule_set(struct db *db, const char *actor, const char *rcpt, const char *sender,
                   const char *action, char *err, size_t errlen);
int store_rule_rm(struct db *db, const char *actor, const char *rcpt, const char *sender,
                  char *err, size_t errlen);

/* guardlist account: the SASL login LOGIN (stored as account_login_fold()
 * writes it) is the child ADDRESS, a full address a protected key covers
 * (else STORE_INVALID, nothing written); an earlier mapping of LOGIN is
 * replaced.  STORE_NOTFOUND: it was so already. */
int store_account_set(struct db *db, const char *actor, const char *login, const char *address,
                      char *err, size_t errlen);
int store_account_remove(struct db *db, const char *actor, const char *login, char *err, size_t errlen);

/* Who decides a challenge.  An admin (CLI, admin on the web page) decides
 * any pending challenge.  A guardian (the approval link, a guardian on the
 * web page) only while GUARDIAN is still a guardian of the challenge's
 * protected key, byte for byte, and never a null-sender (<>) challenge:
 * allowing <> lets every bounce message through, an admin's call.  A link
 * with the challenge's own token (from before per-guardian links) names no
 * one: every guardian it was mailed to (its notifications rows without a
 * token) must still guard the key, and at least one was. */
enum store_role { STORE_BY_ADMIN, STORE_BY_GUARDIAN, STORE_BY_OLD_LINK };
struct store_decider {
    enum store_role role;
    const char *actor;          /* for decided_by, created_by and audit_log */
    const char *guardian;       /* STORE_BY_GUARDIAN: the address, as stored */
};

/* 1 if BY may decide for protected key KEY of challenge ID now, 0 if not
 * (ERR says why), -1 on a database error.  store_challenge_decide() asks
 * again inside its transaction; this is for showing a page. */
int store_decider_ok(struct db *db, const struct store_decider *by, unsigned long long id, const char *key,
                     char *err, size_t errlen);

/* 1 if SENDER, as stored in challenges.sender, is the null sender (bounce
 * messages and delivery reports, which no single person sends). */
int store_is_null_sender(const char *sender);

/* Approves (the sender, or its whole domain) or denies challenge ID for BY.
 * The other pending challenges the rule it writes now decides are closed
 * with it (lib/cover.c); RESULT says how many.
 * A challenge that is not pending is STORE_NOTFOUND with ERR saying its
 * state; one BY may not decide is STORE_NOT_GUARDIAN or STORE_ADMIN_ONLY.
 * RESULT (may be NULL) gets a one-line description of what was done. */
int store_challenge_decide(struct db *db, const struct store_decider *by, unsigned long long id,
                           enum store_decision how, char *result, size_t resultlen,
                           char *err, size_t errlen);

/* Pending challenges older than TTL_DAYS become expired; closed ones older
 * than PURGE_DAYS are deleted, and so are the hourly caps' counts of hours
 * more than two hours past (cap_counts). */
int store_expire(struct db *db, const char *actor, int ttl_days, int purge_days,
                 unsigned long long *expired, unsigned long long *purged, char *err, size_t errlen);

#endif
