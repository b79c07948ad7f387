/*
 * domainwide - which domains may be approved as a whole ("allow everyone at
 * DOMAIN", which also covers its subdomains).
 *
 * Callers: store.c, before it writes a domain rule for a challenge, and the
 * approval and admin pages, to leave out a button that would be refused.
 * Never for a public suffix (co.uk, github.io: strangers register their own
 * domains under it) or a freemail domain (strangers get addresses at it).
 * Reads its files once, at load; no network.
 */
#include "domainwide.h"
#include "addr.h"

#include <errno.h>
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Built from etc/freemail-domains (Makefile: build/gen/freemail.c). */
extern const char domainwide_freemail_builtin[];

#define FREEMAIL_MAX 10000
#define FREEMAIL_FILE_MAX (1024 * 1024)

struct domainwide {
    char **names;
    size_t n;
    char source[300];           /* where the freemail list came from, for messages */
    psl_ctx_t *psl_owned;       /* psl_latest()'s, freed with the policy */
    const psl_ctx_t *psl;       /* NULL: no public suffix check (domainwide_parse) */
};

void domainwide_free(struct domainwide *dw)
{
    if (!dw)
        return;
    for (size_t i = 0; i < dw->n; i++)
        free(dw->names[i]);
    free(dw->names);
    psl_free(dw->psl_owned);
    free(dw);
}

static int add_name(struct domainwide *dw, const char *line, char *err, size_t errlen, const char *name,
                    int lineno)
{
    char key[ADDR_MAX + 2], why[160];
    enum addr_key_kind kind = AK_ADDRESS;

    if (addr_key_check(line, 0, key, sizeof(key), &kind, why, sizeof(why)) < 0 || kind != AK_DOMAIN) {
        snprintf(err, errlen, "%s:%d: '%.80s' is not a domain%s%s", name, lineno, line,
                 kind == AK_DOMAIN ? ": " : "", kind == AK_DOMAIN ? why : "");
        return -1;
    }
    if (dw->n >= FREEMAIL_MAX) {
        snprintf(err, errlen, "%s:%d: more than %d domains", name, lineno, FREEMAIL_MAX);
        return -1;
    }
    char **grown = realloc(dw->names, (dw->n + 1) * sizeof(*grown));
    if (!grown || !(grown[dw->n] = strdup(key))) {
        if (grown)
            dw->names = grown;
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    dw->names = grown;
    dw->n++;
    return 0;
}

struct domainwide *domainwide_parse(const char *name, const char *text, char *err, size_t errlen)
{
    struct domainwide *dw = calloc(1, sizeof(*dw));
    int lineno = 0;

    if (!dw) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    snprintf(dw->source, sizeof(dw->source), "%s", name);
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n'), *end = eol ? eol : p + strlen(p);
        char line[300];
        lineno++;
        const char *hash = memchr(p, '#', (size_t)(end - p));
        const char *e = hash ? hash : end, *b = p;
        while (b < e && (*b == ' ' || *b == '\t' || *b == '\r'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (e > b) {
            if ((size_t)(e - b) >= sizeof(line)) {
                snprintf(err, errlen, "%s:%d: line longer than %zu bytes", name, lineno, sizeof(line) - 1);
                domainwide_free(dw);
                return NULL;
            }
            memcpy(line, b, (size_t)(e - b));
            line[e - b] = '\0';
            if (add_name(dw, line, err, errlen, name, lineno) < 0) {
                domainwide_free(dw);
                return NULL;
            }
        }
        p = eol ? eol + 1 : end;
    }
    return dw;
}

/* Reads PATH whole into a new string (caller frees), or NULL with ERR. */
static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *text;
    size_t n;

    if (!f) {
        snprintf(err, errlen, "%s: cannot open the freemail list: %s ([policy] freemail_domains)", path,
                 strerror(errno));
        return NULL;
    }
    text = malloc(FREEMAIL_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    n = fread(text, 1, FREEMAIL_FILE_MAX + 1, f);
    fclose(f);
    if (n > FREEMAIL_FILE_MAX) {
        free(text);
        snprintf(err, errlen, "%s: the freemail list is larger than 1 MiB", path);
        return NULL;
    }
    text[n] = '\0';
    if (memchr(text, '\0', n)) {
        free(text);
        snprintf(err, errlen, "%s: the freemail list holds a NUL byte", path);
        return NULL;
    }
    return text;
}

struct domainwide *domainwide_load(const char *path, char *err, size_t errlen)
{
    struct domainwide *dw;

    if (path && *path) {
        char *text = read_file(path, err, errlen);
        if (!text)
            return NULL;
        dw = domainwide_parse(path, text, err, errlen);
        free(text);
    } else {
        dw = domainwide_parse("the built-in freemail list", domainwide_freemail_builtin, err, errlen);
    }
    if (!dw)
        return NULL;
    /* The newest of Debian's list (package publicsuffix) and the one built
     * into libpsl. */
    dw->psl_owned = psl_latest(NULL);
    dw->psl = dw->psl_owned ? dw->psl_owned : psl_builtin();
    if (!dw->psl) {
        snprintf(err, errlen, "no public suffix list (install Debian's publicsuffix package)");
        domainwide_free(dw);
        return NULL;
    }
    return dw;
}

int domainwide_ok(const struct domainwide *dw, const char *domain, char *why, size_t whylen)
{
    if (!dw) {
        snprintf(why, whylen, "domain-wide approvals are off: the freemail and public suffix lists are not loaded");
        return 0;
    }
    if (!domain || !*domain || domain[0] == '[') {
        snprintf(why, whylen, "there is no domain to approve");
        return 0;
    }
    if (dw->psl && psl_is_public_suffix(dw->psl, domain)) {
        snprintf(why, whylen, "everyone at %s cannot be allowed: %s is a public suffix, under which unrelated "
                 "people register their own domains; allow the sender alone", domain, domain);
        return 0;
    }
    /* The domain itself or any parent: a domain rule covers subdomains,
     * and a freemail provider's subdomains are its own. */
    for (const char *d = domain; d; d = strchr(d, '.') ? strchr(d, '.') + 1 : NULL) {
        for (size_t i = 0; i < dw->n; i++) {
            if (strcmp(dw->names[i], d) == 0) {
                snprintf(why, whylen, "everyone at %s cannot be allowed: %s is a freemail provider, where anyone "
                         "can get an address (listed in %s); allow the sender alone", domain, d, dw->source);
                return 0;
            }
        }
    }
    return 1;
}
