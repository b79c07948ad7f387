/* pftext.h - Postfix's text formats as `guardlist doctor` reads them, parsed
 * without I/O: parameter lists, `postmap -s` / `postalias -s` lines, alias
 * values, policy services, actions and restrictions. */
#ifndef GUARDLIST_PFTEXT_H
#define GUARDLIST_PFTEXT_H

#include <stddef.h>

#define PFTEXT_ITEMS_MAX 4096       /* items in one parameter value */
#define PFTEXT_TARGET_MAX 1024      /* bytes of one alias target */

struct pftext_list {
    size_t n;
    char **item;
};

/* Splits a parameter value into its items as Postfix does: separated by
 * blanks and commas; a { } group is one item, braces included
 * ("check_policy_service { inet:h:p, timeout=10s }" is two items,
 * "inline:{ a=b, c=d }" one).  Returns 0, or -1 with ERR (unbalanced braces,
 * more than PFTEXT_ITEMS_MAX items, out of memory).  Free with
 * pftext_list_free() (also after an error). */
int pftext_split(const char *value, struct pftext_list *out, char *err, size_t errlen);
void pftext_list_free(struct pftext_list *l);

/* Parses one line of `postmap -s` ("key<TAB>value"; ALIAS 0) or `postalias
 * -s` ("key:<TAB>value"; ALIAS 1) in place: *KEY and *VALUE point into LINE.
 * Returns 0, 1 for an entry that is no alias (postalias's own "@" and YP_
 * entries), or -1 when the line is malformed or holds a control character. */
int pftext_table_line(char *line, int alias, char **key, char **value);

enum pftext_target_kind { PFT_ADDRESS, PFT_COMMAND, PFT_FILE, PFT_INCLUDE };
typedef int (*pftext_target_fn)(void *arg, enum pftext_target_kind kind, const char *text);

/* Splits an alias or virtual(5) value into its destinations, as RFC 822
 * address lists: items separated by commas (and blanks), "quoted strings"
 * kept, (comments) dropped, "Name <addr>" taken as addr, a leading backslash
 * ("\user") dropped.  Calls FN for each: an address (possibly without a
 * domain), "|command", "/file" or ":include:/file" (the file name).  FN
 * returns non-zero to stop.  Returns 0, 1 when FN stopped, or -1 with ERR
 * (unbalanced quote, bracket or parenthesis; a destination longer than
 * PFTEXT_TARGET_MAX). */
int pftext_targets(const char *value, pftext_target_fn fn, void *arg, char *err, size_t errlen);

/* How a lookup table can be listed: PFT_LIST by `postmap -s` (hash, btree,
 * lmdb, dbm, sdbm, texthash, inline), PFT_SOURCE through its source file
 * (cdb has no sequence operation), PFT_OTHER not at all (SQL, LDAP, regular
 * expressions, network tables, ...).  *INNER gets SPEC without its proxy:
 * prefix. */
enum pftext_table { PFT_LIST, PFT_SOURCE, PFT_OTHER };
enum pftext_table pftext_table_kind(const char *spec, const char **inner);

/* 1 when SERVICE, a check_policy_service endpoint (inet:host:port,
 * host:port, unix:path, or a path, relative ones under QUEUE_DIR), is
 * guardlistd's LISTEN ([policy] listen: inet:host:port or unix:/path):
 * the same path, or the same port on the same host (loopback names are
 * one host; a listen host of 0.0.0.0, :: or * matches any). */
int pftext_service_matches(const char *service, const char *listen, const char *queue_dir);

/* The endpoint and the default_action= option of a check_policy_service
 * argument ARG: an endpoint, or a { endpoint, name=value, { name = value } }
 * group.  DEFAULT_ACTION gets "" when the group sets none.  Returns 0, or -1
 * when ARG is malformed or a value does not fit. */
int pftext_policy_arg(const char *arg, char *endpoint, size_t elen, char *default_action, size_t dlen);

/* 1 when ACTION, as a default_action, refuses or defers the mail (4NN/5NN
 * text, REJECT, DEFER, DEFER_IF_PERMIT); 0 when it may let the mail through
 * or drop it, with WHY saying how. */
int pftext_action_holds(const char *action, char *why, size_t whylen);

/* For a restriction that can permit a recipient before the policy check is
 * reached: who then skips the check.  NULL for any other restriction. */
const char *pftext_permit_who(const char *restriction);

/* 1 for check_*_access restrictions (a table can answer OK: a permit). */
int pftext_is_access_check(const char *restriction);

/* 1 when RESTRICTION takes the next item as its argument (a table, a policy
 * service, a DNS list), so that item is no restriction itself. */
int pftext_takes_arg(const char *restriction);

/* 1 when A and B hold the same set of bytes (recipient_delimiter values). */
int pftext_same_chars(const char *a, const char *b);

#endif
