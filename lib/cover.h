/* cover.h - the pending challenges a rule now decides: closed with the rule,
 * in its transaction, so no one is asked again about what is decided. */
#ifndef GUARDLIST_COVER_H
#define GUARDLIST_COVER_H

#include <stddef.h>

#include "db.h"
#include "ruleset.h"

#define COVER_MAX 1000          /* challenges one rule closes at most (the rest by the next rule or expiry) */
#define COVER_RULE_MAX 600      /* challenges.decided_rule */

/* 1 if the rule (RULE_RCPT, RULE_SENDER) is among the keys decide() tries
 * for the pair (SENDER, RECIPIENT) as challenges store it (no extension):
 * RULE_RCPT NULL is a global rule; a domain key covers its subdomains. */
/* The recipient delimiter bytes ([policy] recipient_delimiter; "+" until
 * set) by which a stored sender's +ext is told apart. */
void cover_set_delimiters(const char *delims);

int cover_matches(const char *rule_rcpt, const char *rule_sender, const char *sender, const char *recipient);

/* How RS (which must hold the pair's protected key and every rule whose
 * sender is one of the pair's keys) decides (SENDER, RECIPIENT): "approved"
 * for an allow rule, "denied" for a block rule, NULL for no rule or another
 * action (then the challenge stays open).  RULE (RULELEN bytes) gets the
 * deciding rule as challenges.decided_rule holds it: "RCPT SENDER ACTION",
 * RCPT "*" for a global rule. */
const char *cover_outcome(const struct ruleset *rs, const char *sender, const char *recipient, char *rule,
                          size_t rulelen);

/* Inside the caller's transaction: every pending challenge the rule
 * (RULE_RCPT or NULL for global, RULE_SENDER), just written, now decides
 * (by the whole rule tables, in decide()'s order) is closed, decided_by
 * ACTOR, decided_rule the deciding rule, each with an audit_log row
 * "close-covered".  *CLOSED gets the count.  Returns 0, or -1 with ERR. */
int cover_close(struct db *db, const char *actor, const char *rule_rcpt, const char *rule_sender,
                unsigned long long *closed, char *err, size_t errlen);

/* How the rule tables decide (SENDER, RECIPIENT) of protected key KEY now,
 * read from the database (decide()'s order): *STATUS "approved", "denied"
 * or NULL (no allow or block rule).  guardlistd's writer asks before it
 * opens a challenge, as its rules in memory may be a refresh behind a rule
 * just written.  EXACT_DOMAIN: rules of a parent domain of the sender's
 * do not count (decide_opts.exact_domain).  Returns 0, or -1 with ERR. */
int cover_pair(struct db *db, const char *sender, const char *recipient, const char *key, int exact_domain,
               const char **status, char *err, size_t errlen);

/* The words for a decided_rule value, for pages: "everyone at example.net
 * and its subdomains is allowed to write to kid@family.test".  OUT gets ""
 * for an empty RULE. */
void cover_describe(const char *rule, char *out, size_t outlen);

#endif
