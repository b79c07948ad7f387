/*
 * pftext - reads Postfix's text as `guardlist doctor` needs it: parameter
 * lists, the lines of `postmap -s` and `postalias -s`, alias values, policy
 * service endpoints, actions and restrictions.
 *
 * Callers: admin/pfread.c, admin/reach.c, admin/doctor.c; the unit tests.
 * No I/O.  Table contents are outside input: every length is checked, a
 * control character makes a line malformed, and nothing here can crash on
 * what it is given or write past a buffer.
 */
#include "pftext.h"
#include "action.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_sep(char c)
{
    return c == ' ' || c == '\t' || c == ',' || c == '\n' || c == '\r';
}

int pftext_split(const char *value, struct pftext_list *out, char *err, size_t errlen)
{
    size_t i = 0, len = strlen(value);

    out->n = 0;
    out->item = NULL;
    while (i < len) {
        while (i < len && is_sep(value[i]))
            i++;
        if (i == len)
            break;
        size_t start = i;
        int depth = 0;
        while (i < len && (depth > 0 || !is_sep(value[i]))) {
            if (value[i] == '{')
                depth++;
            else if (value[i] == '}' && --depth < 0)
                break;
            i++;
        }
        if (depth != 0) {
            snprintf(err, errlen, "unbalanced { } in '%.60s'", value + start);
            return -1;
        }
        if (out->n == PFTEXT_ITEMS_MAX) {
            snprintf(err, errlen, "more than %d items", PFTEXT_ITEMS_MAX);
            return -1;
        }
        if (out->n % 16 == 0) {
            char **more = realloc(out->item, (out->n + 16) * sizeof(*more));
            if (!more) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            out->item = more;
        }
        out->item[out->n] = strndup(value + start, i - start);
        if (!out->item[out->n]) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        out->n++;
    }
    return 0;
}

void pftext_list_free(struct pftext_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->item[i]);
    free(l->item);
    l->item = NULL;
    l->n = 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

int pftext_table_line(char *line, int alias, char **key, char **value)
{
    char *sep;

    for (const unsigned char *p = (const unsigned char *)line; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return -1;
    sep = alias ? strstr(line, ":\t") : strchr(line, '\t');
    if (!sep || sep == line)
        return -1;
    *sep = '\0';
    *key = line;
    *value = trim(sep + (alias ? 2 : 1));
    if (!**value || strchr(*key, ' ') == *key)
        return -1;
    /* postalias adds these for sendmail and NIS; they name no alias. */
    if (alias && (strcmp(*key, "@") == 0 || strcmp(*key, "YP_LAST_MODIFIED") == 0
                  || strcmp(*key, "YP_MASTER_NAME") == 0))
        return 1;
    return 0;
}

/* ------------------------------------------------------------ targets */

struct item {
    char text[4 * PFTEXT_TARGET_MAX];
    size_t len;
};

/* Copies the next comma-separated item of S from *POS into IT, without its
 * (comments).  Returns 0, or -1 with ERR. */
static int next_item(const char *s, size_t *pos, struct item *it, char *err, size_t errlen)
{
    size_t i = *pos;
    int quoted = 0, angle = 0, paren = 0;

    it->len = 0;
    for (; s[i]; i++) {
        char c = s[i];
        if (!quoted && !angle && !paren && c == ',')
            break;
        if (quoted && c == '\\' && s[i + 1]) {
            if (it->len + 2 >= sizeof(it->text))
                goto too_long;
            it->text[it->len++] = c;
            it->text[it->len++] = s[++i];
            continue;
        }
        if (c == '"' && !paren)
            quoted = !quoted;
        else if (!quoted && c == '(')
            paren++;
        else if (!quoted && c == ')' && paren-- == 0)
            return snprintf(err, errlen, "unbalanced ')'"), -1;
        else if (!quoted && !paren && c == '<')
            angle++;
        else if (!quoted && !paren && c == '>' && angle-- == 0)
            return snprintf(err, errlen, "unbalanced '>'"), -1;
        if (paren || (c == ')' && !quoted))
            continue;               /* a comment */
        if (it->len + 1 >= sizeof(it->text))
            goto too_long;
        it->text[it->len++] = c;
    }
    if (quoted || angle || paren)
        return snprintf(err, errlen, "unbalanced %s", quoted ? "quote" : angle ? "'<'" : "'('"), -1;
    it->text[it->len] = '\0';
    *pos = s[i] ? i + 1 : i;
    return 0;
too_long:
    snprintf(err, errlen, "an item longer than %d bytes", (int)sizeof(it->text) - 1);
    return -1;
}

/* Classifies one destination WORD (LEN bytes) and hands it to FN. */
static int emit(const char *word, size_t len, pftext_target_fn fn, void *arg, char *err, size_t errlen)
{
    char t[PFTEXT_TARGET_MAX + 1];
    size_t n = 0;

    if (len > 0 && word[0] == '\\') {       /* "\user": no further aliasing */
        word++;
        len--;
    }
    if (len == 0)
        return 0;
    if (len >= 2 && word[0] == '"' && word[len - 1] == '"' && memchr(word + 1, '"', len - 2) == NULL) {
        for (size_t i = 1; i + 1 < len; i++) {      /* one quoted string: unquote */
            if (word[i] == '\\' && i + 2 < len)
                i++;
            if (n >= PFTEXT_TARGET_MAX)
                break;
            t[n++] = word[i];
        }
        if (n >= PFTEXT_TARGET_MAX)
            return snprintf(err, errlen, "a destination longer than %d bytes", PFTEXT_TARGET_MAX), -1;
    } else {
        if (len > PFTEXT_TARGET_MAX)
            return snprintf(err, errlen, "a destination longer than %d bytes", PFTEXT_TARGET_MAX), -1;
        memcpy(t, word, len);
        n = len;
    }
    t[n] = '\0';
    if (t[0] == '|')
        return fn(arg, PFT_COMMAND, t) ? 1 : 0;
    if (t[0] == '/')
        return fn(arg, PFT_FILE, t) ? 1 : 0;
    if (n >= 9 && strncasecmp(t, ":include:", 9) == 0) {
        char *f = t + 9;
        while (*f == ' ' || *f == '\t')
            f++;
        return fn(arg, PFT_INCLUDE, f) ? 1 : 0;
    }
    return fn(arg, PFT_ADDRESS, t) ? 1 : 0;
}

/* One item: "Name <addr>" gives addr (a source route "@a,@b:addr" dropped);
 * otherwise every blank-separated word is a destination. */
static int item_targets(const struct item *it, pftext_target_fn fn, void *arg, char *err, size_t errlen)
{
    const char *s = it->text;
    int quoted = 0;

    for (size_t i = 0; i < it->len; i++) {
        if (s[i] == '\\' && quoted) {
            i++;
            continue;
        }
        if (s[i] == '"')
            quoted = !quoted;
        if (!quoted && s[i] == '<') {
            const char *b = s + i + 1, *e = strchr(b, '>');
            if (!e)
                return snprintf(err, errlen, "unbalanced '<'"), -1;
            if (*b == '@' && memchr(b, ':', (size_t)(e - b)))
                b = (const char *)memchr(b, ':', (size_t)(e - b)) + 1;
            while (b < e && (*b == ' ' || *b == '\t'))
                b++;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            return emit(b, (size_t)(e - b), fn, arg, err, errlen);
        }
    }
    for (size_t i = 0; i < it->len;) {
        while (i < it->len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t start = i;
        quoted = 0;
        for (; i < it->len && (quoted || (s[i] != ' ' && s[i] != '\t')); i++) {
            if (s[i] == '\\' && quoted && i + 1 < it->len)
                i++;
            else if (s[i] == '"')
                quoted = !quoted;
        }
        int rc = emit(s + start, i - start, fn, arg, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int pftext_targets(const char *value, pftext_target_fn fn, void *arg, char *err, size_t errlen)
{
    struct item *it = malloc(sizeof(*it));
    size_t pos = 0;
    int rc = 0;

    if (!it)
        return snprintf(err, errlen, "out of memory"), -1;
    while (value[pos] && rc == 0) {
        rc = next_item(value, &pos, it, err, errlen);
        if (rc == 0)
            rc = item_targets(it, fn, arg, err, errlen);
    }
    free(it);
    return rc;
}

/* ------------------------------------------------------------ tables */

enum pftext_table pftext_table_kind(const char *spec, const char **inner)
{
    static const char *const listable[] = { "hash", "btree", "lmdb", "dbm", "sdbm", "texthash", "inline" };

    while (strncasecmp(spec, "proxy:", 6) == 0)
        spec += 6;
    *inner = spec;
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec || !colon[1])
        return PFT_OTHER;
    size_t tl = (size_t)(colon - spec);
    for (size_t i = 0; i < sizeof(listable) / sizeof(listable[0]); i++)
        if (strlen(listable[i]) == tl && strncasecmp(spec, listable[i], tl) == 0)
            return PFT_LIST;
    if (tl == 3 && strncasecmp(spec, "cdb", 3) == 0)
        return PFT_SOURCE;
    return PFT_OTHER;
}

/* ------------------------------------------------------------ policy services */

struct endpoint {
    int is_unix;
    char host[256];
    char where[1024];           /* port, or socket path */
};

static int parse_endpoint(const char *s, const char *queue_dir, struct endpoint *ep)
{
    int inet;

    memset(ep, 0, sizeof(*ep));
    if (strncasecmp(s, "inet:", 5) == 0) {
        inet = 1;
        s += 5;
    } else if (strncasecmp(s, "unix:", 5) == 0) {
        inet = 0;
        s += 5;
    } else {
        inet = s[0] != '/' && strchr(s, ':') != NULL;
    }
    if (!inet) {
        ep->is_unix = 1;
        int n = s[0] == '/' || !queue_dir ? snprintf(ep->where, sizeof(ep->where), "%s", s)
                                          : snprintf(ep->where, sizeof(ep->where), "%s/%s", queue_dir, s);
        return n < 0 || (size_t)n >= sizeof(ep->where) || !s[0] ? -1 : 0;
    }
    const char *colon = strrchr(s, ':');
    if (!colon || !colon[1] || (size_t)(colon - s) >= sizeof(ep->host) || strlen(colon + 1) >= sizeof(ep->where))
        return -1;
    const char *h = s, *he = colon;
    if (*h == '[' && he > h && he[-1] == ']') {
        h++;
        he--;
    }
    memcpy(ep->host, h, (size_t)(he - h));
    ep->host[he - h] = '\0';
    snprintf(ep->where, sizeof(ep->where), "%s", colon + 1);
    return 0;
}

static int loopback(const char *h)
{
    return strcasecmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0;
}

int pftext_service_matches(const char *service, const char *listen, const char *queue_dir)
{
    struct endpoint a, b;

    if (parse_endpoint(service, queue_dir, &a) < 0 || parse_endpoint(listen, NULL, &b) < 0)
        return 0;
    if (a.is_unix != b.is_unix)
        return 0;
    if (a.is_unix) {
        /* "private/x" under a queue_directory given with a trailing slash */
        char *p;
        while ((p = strstr(a.where, "//")) != NULL)
            memmove(p, p + 1, strlen(p));
        return strcmp(a.where, b.where) == 0;
    }
    if (strcmp(a.where, b.where) != 0)
        return 0;
    return strcasecmp(a.host, b.host) == 0 || (loopback(a.host) && loopback(b.host)) || !b.host[0]
           || strcmp(b.host, "0.0.0.0") == 0 || strcmp(b.host, "::") == 0 || strcmp(b.host, "*") == 0;
}

/* NAME=VALUE (blanks around = allowed): copies VALUE to OUT if NAME is
 * default_action.  Returns 0, or -1 when it does not fit. */
static int policy_option(char *opt, char *out, size_t outlen)
{
    char *eq = strchr(opt, '=');

    if (!eq)
        return 0;
    *eq = '\0';
    if (strcasecmp(trim(opt), "default_action") != 0)
        return 0;
    char *v = trim(eq + 1);
    return snprintf(out, outlen, "%s", v) >= (int)outlen ? -1 : 0;
}

int pftext_policy_arg(const char *arg, char *endpoint, size_t elen, char *default_action, size_t dlen)
{
    struct pftext_list l;
    char err[120], *inner;
    size_t len = strlen(arg);
    int rc = 0;

    endpoint[0] = default_action[0] = '\0';
    if (arg[0] != '{')
        return snprintf(endpoint, elen, "%s", arg) >= (int)elen ? -1 : 0;
    if (len < 2 || arg[len - 1] != '}' || !(inner = strndup(arg + 1, len - 2)))
        return -1;
    if (pftext_split(inner, &l, err, sizeof(err)) < 0 || l.n == 0)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        char *it = l.item[i];
        size_t il = strlen(it);
        if (it[0] == '{' && il >= 2 && it[il - 1] == '}') {
            it[il - 1] = '\0';
            rc = policy_option(it + 1, default_action, dlen);
        } else if (strchr(it, '=')) {
            rc = policy_option(it, default_action, dlen);
        } else if (!endpoint[0]) {
            rc = snprintf(endpoint, elen, "%s", it) >= (int)elen ? -1 : 0;
        }
    }
    pftext_list_free(&l);
    free(inner);
    return rc == 0 && endpoint[0] ? 0 : -1;
}

/* ------------------------------------------------------------ actions and restrictions */

int pftext_action_holds(const char *action, char *why, size_t whylen)
{
    static const struct {
        const char *word;
        int holds;
        const char *why;
    } words[] = {
        { "REJECT", 1, "" },
        { "DEFER", 1, "" },
        { "DEFER_IF_PERMIT", 1, "" },
        { "DEFER_IF_REJECT", 0, "defers only when a later restriction rejects, else the mail is accepted" },
        { "DUNNO", 0, "leaves the decision to later restrictions, so the mail is accepted" },
        { "OK", 0, "accepts the mail" },
        { "DISCARD", 0, "accepts the mail and throws it away" },
        { "HOLD", 0, "accepts the mail into the hold queue" },
    };
    char text[ACTION_MAX + 1], err[200];
    enum action_kind kind;

    if (action_check(action, text, sizeof(text), &kind, err, sizeof(err)) < 0) {
        snprintf(why, whylen, "is not a valid action (%s)", err);
        return 0;
    }
    if (kind == ACTION_ALLOW) {
        snprintf(why, whylen, "accepts the mail");
        return 0;
    }
    if ((text[0] == '4' || text[0] == '5') && isdigit((unsigned char)text[1]))
        return 1;
    size_t wl = strcspn(text, " \t");
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].word) == wl && strncasecmp(text, words[i].word, wl) == 0) {
            snprintf(why, whylen, "%s", words[i].why);
            return words[i].holds;
        }
    }
    snprintf(why, whylen, "lets the mail through");
    return 0;
}

const char *pftext_permit_who(const char *r)
{
    static const struct {
        const char *name, *who;
    } permits[] = {
        { "permit", "every client" },
        { "permit_mynetworks", "clients in $mynetworks" },
        { "permit_sasl_authenticated", "SASL-authenticated clients" },
        { "permit_auth_destination", "every client writing to a local, virtual or relay domain (so to every protected address)" },
        { "permit_mx_backup", "every client writing to a domain this host is backup MX for" },
        { "permit_tls_clientcerts", "clients with a certificate listed in relay_clientcerts" },
        { "permit_tls_all_clientcerts", "clients with any trusted TLS certificate" },
        { "permit_inet_interfaces", "clients on this host's own addresses" },
        { "permit_dnswl_client", "clients on that DNS allow list" },
        { "permit_rhswl_client", "clients whose name is on that DNS allow list" },
    };

    if (strncasecmp(r, "permit", 6) != 0 || (r[6] && r[6] != '_'))
        return NULL;
    for (size_t i = 0; i < sizeof(permits) / sizeof(permits[0]); i++)
        if (strcasecmp(r, permits[i].name) == 0)
            return permits[i].who;
    return "some clients";
}

int pftext_is_access_check(const char *r)
{
    size_t n = strlen(r);
    return strncasecmp(r, "check_", 6) == 0 && n > 13 && strcasecmp(r + n - 7, "_access") == 0;
}

int pftext_takes_arg(const char *r)
{
    if (strncasecmp(r, "check_", 6) == 0)
        return strcasecmp(r, "check_relay_domains") != 0;
    return strstr(r, "rbl_") != NULL || strstr(r, "rhsbl_") != NULL || strstr(r, "swl_client") != NULL;
}

int pftext_same_chars(const char *a, const char *b)
{
    for (const char *p = a; *p; p++)
        if (!strchr(b, *p))
            return 0;
    for (const char *p = b; *p; p++)
        if (!strchr(a, *p))
            return 0;
    return 1;
}
