/* reach.h - which addresses reach a protected one through Postfix's virtual
 * aliases, local aliases and local domains, without being protected
 * themselves.  No I/O: the tables are handed in, and what guardlistd decides
 * for an address is asked of a callback. */
#ifndef GUARDLIST_REACH_H
#define GUARDLIST_REACH_H

#include <stddef.h>

#define REACH_NODES_MAX 10000       /* addresses one expansion may visit */
#define REACH_DEPTH_MAX 1000        /* Postfix's virtual_alias_recursion_limit */
#define REACH_CANDIDATES_MAX 1000000
#define REACH_WORK_MAX 20000000UL   /* addresses expanded in one reach_check() */

/* What guardlistd does with mail to an address: asks a guardian
 * (PROTECTED; the callback writes the protected_users key into KEY), lets
 * it through (OPEN), or refuses it from everyone (REFUSED). */
enum reach_prot { REACH_OPEN, REACH_PROTECTED, REACH_REFUSED };
typedef enum reach_prot (*reach_prot_fn)(void *arg, const char *addr, char *key, size_t keylen);

enum reach_kind {
    REACH_ALIAS,        /* a table key reaches a protected address */
    REACH_LOCAL,        /* another local domain's form of a protected address */
    REACH_CATCHALL      /* a catch-all @domain reaches one: any address there does */
};

struct reach_finding {
    enum reach_kind kind;
    const char *alias;      /* the unprotected address ("@domain" for REACH_CATCHALL) */
    const char *table;      /* the table it is a key of (NULL for REACH_LOCAL) */
    const char *reached;    /* the protected address it reaches */
    const char *key;        /* the protected_users key that protects that */
    const char *path;       /* alias -> ... -> reached */
};
typedef void (*reach_finding_fn)(void *arg, const struct reach_finding *f);
typedef void (*reach_warn_fn)(void *arg, const char *msg);

struct reach;

/* A model of one Postfix: $myorigin, its recipient_delimiter characters
 * DELIMS, and whether propagate_unmatched_extensions names "virtual".
 * NULL when out of memory or MYORIGIN is unusable.  Free with reach_free(). */
struct reach *reach_new(const char *myorigin, const char *delims, int propagate_virtual);
void reach_free(struct reach *r);

/* Adds a $mydestination domain.  Returns 0, or -1 (unusable name, out of memory). */
int reach_local_domain(struct reach *r, const char *domain);

/* Names a table (e.g. "virtual_alias_maps hash:/etc/postfix/virtual") for
 * messages.  Returns its number for reach_entry(), or -1. */
int reach_table(struct reach *r, const char *label);

/* Adds KEY -> VALUE from table TABLE: a virtual(5) entry (ALIAS 0; keys
 * user@domain, user, @domain) or an aliases(5) entry (ALIAS 1; local names).
 * A key some earlier table has keeps that table's value, as Postfix searches
 * the tables in order.  Returns 0, 1 when the key was there already, or -1
 * with ERR when the key or value cannot be used (the entry is left out). */
int reach_entry(struct reach *r, int table, int alias, const char *key, const char *value,
                char *err, size_t errlen);

/* A protected full address (a protected_users key user@domain): its forms in
 * the other local domains and at catch-all domains are checked too.
 * Returns 0, or -1. */
int reach_protected(struct reach *r, const char *addr);

/* Stops reach_check() after WORK address expansions in all (default
 * REACH_WORK_MAX), with a warning naming what was left unchecked. */
void reach_limit(struct reach *r, unsigned long work);

/* Expands every alias and candidate address as Postfix would, and calls
 * FOUND for each one that guardlistd lets through although it reaches a
 * protected address, in address order; WARN for what could not be checked
 * fully.  Returns the number of findings, or -1 when out of memory. */
long reach_check(struct reach *r, reach_prot_fn prot, reach_finding_fn found, reach_warn_fn warn, void *arg);

#endif
