/* store.h - every change a person makes (CLI, web page, approval page):
 * validated, written with its audit_log row in one transaction. */
#ifndef GUARDLIST_STORE_H
#define GUARDLIST_STORE_H

#include <stddef.h>
#include "db.h"

/* Return codes of the store_ functions. */
#define STORE_INVALID (-2)      /* bad input: nothing written, ERR says what */
#define STORE_ERROR (-1)        /* database failure: nothing written */
#define STORE_NOTFOUND 0        /* nothing to change (ERR says why) */
#define STORE_DONE 1

/* APPROVE: rule OK for the sender; APPROVE_DOMAIN: rule OK for its domain;
 * DENY: the challenge is refused (the pair stays blocked); BLOCK: DENY plus
 * a REJECT rule for the sender, so it is refused for that key everywhere. */
enum store_decision { STORE_APPROVE, STORE_APPROVE_DOMAIN, STORE_DENY, STORE_BLOCK };

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

/* RCPT NULL: a global rule (table whitelist); else a per-recipient rule. */
int store_rule_set(struct db *db, const char *actor, const char *rcpt, const char *sender,
                   const char *action, char *err, size_t errlen);
int store_rule_rm(struct db *db, const char *actor, const char *rcpt, const char *sender,
                  char *err, size_t errlen);

/* Approves (the sender, or its whole domain) or denies challenge ID.  A
 * challenge that is not pending is STORE_NOTFOUND with ERR saying its state.
 * RESULT (may be NULL) gets a one-line description of what was done. */
int store_challenge_decide(struct db *db, const char *actor, unsigned long long id,
                           enum store_decision how, char *result, size_t resultlen,
                           char *err, size_t errlen);

/* Pending challenges older than TTL_DAYS become expired; closed ones older
 * than PURGE_DAYS are deleted. */
int store_expire(struct db *db, const char *actor, int ttl_days, int purge_days,
                 unsigned long long *expired, unsigned long long *purged, char *err, size_t errlen);

#endif
