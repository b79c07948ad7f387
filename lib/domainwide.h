/* domainwide.h - whether "allow everyone at DOMAIN" may be written: never
 * for a public suffix (libpsl) or a freemail domain (etc/freemail-domains). */
#ifndef GUARDLIST_DOMAINWIDE_H
#define GUARDLIST_DOMAINWIDE_H

#include <stddef.h>

struct domainwide;

/* Loads the freemail list from PATH (one domain a line, '#' comments), or
 * the list built in from etc/freemail-domains when PATH is NULL or "", and
 * the public suffix list (Debian's, else libpsl's built-in one).  Returns the
 * policy (free with domainwide_free), or NULL with ERR naming FILE:LINE. */
struct domainwide *domainwide_load(const char *path, char *err, size_t errlen);
void domainwide_free(struct domainwide *dw);

/* 1 if everyone at DOMAIN (folded, as a rule key) may be approved at once;
 * 0 with WHY, a sentence for the person who asked, if not: DOMAIN is a public
 * suffix, or a freemail domain or a subdomain of one. */
int domainwide_ok(const struct domainwide *dw, const char *domain, char *why, size_t whylen);

/* Parses TEXT as a freemail list (NAME for messages) into a policy without
 * the public suffix list; for tests and the fuzzer.  As domainwide_load. */
struct domainwide *domainwide_parse(const char *name, const char *text, char *err, size_t errlen);

#endif
