/* ruleset.h - an immutable in-memory copy of the rule tables, built once and
 * then only read: the decision path looks keys up here, never in the database. */
#ifndef GUARDLIST_RULESET_H
#define GUARDLIST_RULESET_H

#include <stddef.h>

enum rs_kind {
    RS_PROTECTED,   /* k1 = recipient key; value = class */
    RS_GLOBAL,      /* k1 = sender key; value = action (table whitelist) */
    RS_RULE,        /* k1 = recipient key, k2 = sender key; value = action (sender_rules) */
    RS_RULE_RCPT,   /* k1 = recipient key that has at least one RS_RULE; value "" */
    RS_CLOSED,      /* k1 = sender, k2 = recipient of a denied/expired challenge; value = status */
    RS_ACCOUNT,     /* k1 = SASL login (account_login_fold); value = the protected address (table accounts) */
    RS_VALUE        /* internal: interned value strings */
};

struct ruleset;

/* Returns a new empty set, or NULL when out of memory.  Free with ruleset_free(). */
struct ruleset *ruleset_new(void);
/* Drops one reference (the creator holds the first); the last frees. */
void ruleset_free(struct ruleset *rs);
/* Takes one more reference to RS (thread-safe); returns RS. */
struct ruleset *ruleset_ref(struct ruleset *rs);
/* A private copy of SRC with one reference, to add to before it is
 * published, or NULL when out of memory. */
struct ruleset *ruleset_clone(const struct ruleset *src);

/* Adds (KIND, K1, K2) -> VALUE; K2 may be NULL.  An existing key keeps its
 * first value unless REPLACE is set.  Returns 1 added, 0 already present,
 * -1 out of memory or a key over 65535 bytes. */
int ruleset_add(struct ruleset *rs, enum rs_kind kind, const char *k1, const char *k2,
                const char *value, int replace);

/* The value of (KIND, K1, K2), or NULL.  The string lives as long as RS. */
const char *ruleset_get(const struct ruleset *rs, enum rs_kind kind, const char *k1,
                        const char *k2);

size_t ruleset_count(const struct ruleset *rs, enum rs_kind kind);
size_t ruleset_bytes(const struct ruleset *rs);     /* memory held */

/* The generation (change counter) the set was loaded at. */
unsigned long long ruleset_generation(const struct ruleset *rs);
void ruleset_set_generation(struct ruleset *rs, unsigned long long gen);

#endif
