/*
 * config - reads the one guardlist INI file (inih) over built-in defaults.
 *
 * Callers: every program at start-up and guardlistd on SIGHUP.  Strict: an
 * unknown section or key, or a value out of range, is an error naming
 * FILE:LINE, never ignored.  Files holding passwords must not be world-readable.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum key_type { K_STR, K_INT, K_AUTO_INT, K_ENUM, K_LISTEN, K_DELIM, K_ONALLOW, K_NETLIST, K_DBHOSTS,
                K_RESOLVER, K_METRICS };

struct key {
    const char *section, *name;
    enum key_type type;
    size_t off, size;           /* size: buffer size for strings */
    int min, max;               /* K_INT */
    const char *const *words;   /* K_ENUM, NULL-terminated; index is the value */
};

static const char *const w_unknown[] = { "defer", "reject", NULL };
static const char *const w_null[] = { "reject", "allow", "challenge", NULL };
static const char *const w_tls[] = { "required", "optional", "off", NULL };
static const char *const w_target[] = { "stderr", "syslog", NULL };
static const char *const w_level[] = { "debug", "info", "warning", "error", NULL };
static const char *const w_onoff[] = { "off", "on", NULL };

/* FIELD is a member path (policy.listen), which cannot be parenthesised. */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define S(sec, nm, field) { sec, nm, K_STR, offsetof(struct config, field), sizeof(((struct config *)0)->field), 0, 0, NULL }
#define I(sec, nm, field, lo, hi) { sec, nm, K_INT, offsetof(struct config, field), 0, lo, hi, NULL }
#define E(sec, nm, field, w) { sec, nm, K_ENUM, offsetof(struct config, field), 0, 0, 0, w }
#define ACCOUNT(sec, acct) S(sec, "user", acct.user), S(sec, "password", acct.password), \
    S(sec, "password_file", acct.password_file)
/* NOLINTEND(bugprone-macro-parentheses) */

static const struct key keys[] = {
    { "database", "host", K_DBHOSTS, offsetof(struct config, db), 0, 0, 0, NULL },
    S("database", "socket", db.socket),
    I("database", "port", db.port, 0, 65535),
    I("database", "failback_interval", db.failback_interval, 1, 3600),
    S("database", "name", db.name),
    S("database", "user", db.user),
    S("database", "password", db.password),
    S("database", "password_file", db.password_file),

    { "policy", "listen", K_LISTEN, offsetof(struct config, policy.listen),
      sizeof(((struct config *)0)->policy.listen), 0, 0, NULL },
    E("policy", "unknown_sender", policy.unknown_sender, w_unknown),
    { "policy", "on_allow", K_ONALLOW, offsetof(struct config, policy.on_allow),
      sizeof(((struct config *)0)->policy.on_allow), 0, 0, NULL },
    E("policy", "null_sender", policy.null_sender, w_null),
    { "policy", "recipient_delimiter", K_DELIM, offsetof(struct config, policy.recipient_delimiter),
      sizeof(((struct config *)0)->policy.recipient_delimiter), 0, 0, NULL },
    I("policy", "refresh_interval", policy.refresh_interval, 1, 3600),
    I("policy", "full_reload_interval", policy.full_reload_interval, 10, 86400),
    I("policy", "idle_timeout", policy.idle_timeout, 1, 86400),
    I("policy", "read_timeout", policy.read_timeout, 1, 3600),
    I("policy", "max_connections", policy.max_connections, 1, 100000),
    I("policy", "max_connections_per_client", policy.max_connections_per_client, 1, 100000),
    I("policy", "max_new_challenges_per_recipient", policy.max_new_per_recipient, 1, 1000000),
    I("policy", "max_new_challenges_per_client", policy.max_new_per_client, 1, 1000000),
    { "policy", "threads", K_AUTO_INT, offsetof(struct config, policy.threads), 0, 1, 64, NULL },
    S("policy", "run_as_user", policy.run_as_user),
    S("policy", "run_as_group", policy.run_as_group),
    S("policy", "listen_group", policy.listen_group),
    { "policy", "trusted_forwarders", K_NETLIST, offsetof(struct config, policy.trusted_forwarders), 0, 0, 0, NULL },
    S("policy", "freemail_domains", policy.freemail_domains),
    E("policy", "spf", policy.spf, w_onoff),
    { "policy", "metrics_listen", K_METRICS, offsetof(struct config, policy.metrics_listen),
      sizeof(((struct config *)0)->policy.metrics_listen), 0, 0, NULL },
    { "policy", "resolver", K_RESOLVER, offsetof(struct config, policy.resolver),
      sizeof(((struct config *)0)->policy.resolver), 0, 0, NULL },
    I("policy", "spf_threads", policy.spf_threads, 1, 64),
    I("policy", "spf_queue", policy.spf_queue, 1, 100000),
    E("policy", "outbound", policy.outbound, w_onoff),
    ACCOUNT("policy", policy.account),

    S("notifier", "smtp_host", notifier.smtp_host),
    I("notifier", "smtp_port", notifier.smtp_port, 1, 65535),
    E("notifier", "starttls", notifier.starttls, w_tls),
    S("notifier", "smtp_user", notifier.smtp_user),
    S("notifier", "smtp_password_file", notifier.smtp_password_file),
    S("notifier", "from", notifier.from),
    S("notifier", "approve_url", notifier.approve_url),
    I("notifier", "max_per_hour", notifier.max_per_hour, 1, 100000),
    I("notifier", "digest_delay", notifier.digest_delay, 1, 86400),
    I("notifier", "poll_interval", notifier.poll_interval, 1, 3600),
    I("notifier", "smtp_timeout", notifier.smtp_timeout, 1, 600),
    S("notifier", "template_dir", notifier.template_dir),
    S("notifier", "run_as_user", notifier.run_as_user),
    { "notifier", "metrics_listen", K_METRICS, offsetof(struct config, notifier.metrics_listen),
      sizeof(((struct config *)0)->notifier.metrics_listen), 0, 0, NULL },
    S("notifier", "run_as_group", notifier.run_as_group),
    ACCOUNT("notifier", notifier.account),

    I("approver", "token_ttl_days", approver.token_ttl_days, 1, 365),
    S("approver", "template_dir", approver.template_dir),
    ACCOUNT("approver", approver.account),

    S("web", "template_dir", web.template_dir),
    S("web", "secret_file", web.secret_file),
    S("web", "admins", web.admins),
    I("web", "page_size", web.page_size, 10, 500),
    ACCOUNT("web", web.account),

    I("admin", "purge_after_days", admin.purge_after_days, 1, 3650),
    ACCOUNT("admin", admin.account),

    E("log", "target", log.target, w_target),
    E("log", "level", log.level, w_level),
};

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    strcpy(cfg->db.host, "localhost");
    cfg->db.port = 3306;
    cfg->db.failback_interval = 30;
    strcpy(cfg->db.name, "guardlist");
    strcpy(cfg->db.user, "guardlist_daemon");
    strcpy(cfg->policy.listen, "inet:127.0.0.1:10040");
    cfg->policy.unknown_sender = UNKNOWN_DEFER;
    strcpy(cfg->policy.on_allow, "DUNNO");
    cfg->policy.null_sender = NULL_REJECT;
    strcpy(cfg->policy.recipient_delimiter, "+");
    cfg->policy.refresh_interval = 1;
    cfg->policy.full_reload_interval = 300;
    cfg->policy.idle_timeout = 600;
    cfg->policy.read_timeout = 30;
    cfg->policy.max_connections = 1000;
    cfg->policy.max_connections_per_client = 500;
    cfg->policy.max_new_per_recipient = 100;
    cfg->policy.max_new_per_client = 200;
    cfg->policy.spf_threads = 4;
    cfg->policy.spf_queue = 1000;

    strcpy(cfg->notifier.smtp_host, "localhost");
    cfg->notifier.smtp_port = 25;
    cfg->notifier.starttls = STARTTLS_OPTIONAL;
    strcpy(cfg->notifier.from, "guardlist@example.org");
    strcpy(cfg->notifier.approve_url, "https://mail.example.org/guardlist/approve");
    cfg->notifier.max_per_hour = 10;
    cfg->notifier.digest_delay = 900;
    cfg->notifier.poll_interval = 5;
    strcpy(cfg->notifier.template_dir, "/usr/local/share/guardlist/templates");
    cfg->notifier.smtp_timeout = 30;
    cfg->approver.token_ttl_days = 7;
    cfg->admin.purge_after_days = 30;
    strcpy(cfg->approver.template_dir, "/usr/local/share/guardlist/templates");
    strcpy(cfg->web.template_dir, "/usr/local/share/guardlist/templates");
    cfg->web.page_size = 50;
    cfg->log.target = LOG_TO_STDERR;
    cfg->log.level = LOG_LVL_INFO;
}

const char *config_path(const char *explicit_path)
{
    const char *env;

    if (explicit_path && *explicit_path)
        return explicit_path;
    env = getenv("GUARDLIST_CONFIG");
    if (env && *env)
        return env;
    return CONFIG_DEFAULT_PATH;
}

struct parse_ctx {
    struct config *cfg;
    char msg[256];          /* the first error, without file:line */
    int had_error;
    int has_password;
    int line;               /* counted by the handler for errors */
};

/* Validates "inet:HOST:PORT" / "unix:/PATH"; INET_ONLY: the former (the
 * /metrics listener, HTTP over TCP; empty, its "off", is the caller's). */
static int listen_ok(const char *v, int inet_only, char *why, size_t len)
{
    if (strncmp(v, "unix:", 5) == 0 && !inet_only) {
        if (v[5] != '/') {
            snprintf(why, len, "unix socket path must be absolute");
            return 0;
        }
        if (strlen(v + 5) > 107) {
            snprintf(why, len, "unix socket path longer than 107 bytes");
            return 0;
        }
        return 1;
    }
    if (strncmp(v, "inet:", 5) == 0) {
        const char *colon = strrchr(v + 5, ':');
        char *end;
        long port;

        if (!colon || colon == v + 5) {
            snprintf(why, len, "expected inet:HOST:PORT");
            return 0;
        }
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno || *end || colon[1] == '\0' || port < 1 || port > 65535) {
            snprintf(why, len, "port must be a number from 1 to 65535");
            return 0;
        }
        return 1;
    }
    snprintf(why, len, inet_only ? "expected inet:HOST:PORT, or nothing (off)"
                                 : "expected inet:HOST:PORT or unix:/PATH");
    return 0;
}

/* One host entry: NAME, NAME:PORT, [IPV6] or [IPV6]:PORT.  0, or -1 with WHY. */
static int dbhost_parse(const char *e, struct config_dbhost *h, char *why, size_t len)
{
    const char *name = e, *name_end, *port = NULL;

    if (e[0] == '/' || strncmp(e, "unix:", 5) == 0) {
        snprintf(why, len, "a unix socket goes in socket =, not in host");
        return -1;
    }
    if (e[0] == '[') {
        const char *close = strchr(e, ']');
        if (!close) {
            snprintf(why, len, "'[' without ']'");
            return -1;
        }
        name = e + 1;
        name_end = close;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1]) {
            snprintf(why, len, "expected :PORT after ']'");
            return -1;
        }
    } else {
        const char *colon = strchr(e, ':');
        if (colon && strchr(colon + 1, ':')) {
            snprintf(why, len, "an IPv6 address goes in brackets, as [2001:db8::1]:3306");
            return -1;
        }
        name_end = colon ? colon : e + strlen(e);
        port = colon ? colon + 1 : NULL;
    }
    if (name_end == name) {
        snprintf(why, len, "no host name");
        return -1;
    }
    if ((size_t)(name_end - name) >= sizeof(h->name)) {
        snprintf(why, len, "host name longer than %zu bytes", sizeof(h->name) - 1);
        return -1;
    }
    memcpy(h->name, name, (size_t)(name_end - name));
    h->name[name_end - name] = '\0';
    if (e[0] == '[') {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, h->name, &a6) != 1) {
            snprintf(why, len, "not an IPv6 address in the brackets");
            return -1;
        }
    } else if (strspn(h->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
               != strlen(h->name)) {
        snprintf(why, len, "not a host name or address");
        return -1;
    }
    h->port = 0;
    if (port) {
        char *end;
        long v;
        errno = 0;
        v = strtol(port, &end, 10);
        if (errno || !isdigit((unsigned char)*port) || *end || v < 1 || v > 65535) {
            snprintf(why, len, "port must be a number from 1 to 65535");
            return -1;
        }
        h->port = (int)v;
    }
    return 0;
}

int config_db_hosts(struct config_db *p, const char *list, char *why, size_t whylen)
{
    /* Zeroed and copied whole: the same list gives the same bytes (SIGHUP compares them). */
    struct config_dbhost hosts[CONFIG_DB_HOSTS_MAX] = { 0 };
    char entry[CONFIG_HOSTNAME_MAX + 16], reason[120];
    const char *s = list;
    int n = 0;

    if (strlen(list) >= sizeof(p->host)) {
        snprintf(why, whylen, "host list longer than %zu bytes", sizeof(p->host) - 1);
        return -1;
    }
    for (;;) {
        const char *end;
        size_t len;

        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        if (*s == ',') {
            snprintf(why, whylen, "host entry %d is empty", n + 1);
            return -1;
        }
        end = s + strcspn(s, ", \t");
        len = (size_t)(end - s);
        if (n == CONFIG_DB_HOSTS_MAX) {
            snprintf(why, whylen, "host lists more than %d entries", CONFIG_DB_HOSTS_MAX);
            return -1;
        }
        if (len >= sizeof(entry)) {
            snprintf(why, whylen, "host entry %d is longer than %zu bytes", n + 1, sizeof(entry) - 1);
            return -1;
        }
        memcpy(entry, s, len);
        entry[len] = '\0';
        if (dbhost_parse(entry, &hosts[n], reason, sizeof(reason)) < 0) {
            snprintf(why, whylen, "host entry %d '%.60s': %s", n + 1, entry, reason);
            return -1;
        }
        n++;
        s = end;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == ',') {
            s++;
            while (*s == ' ' || *s == '\t')
                s++;
            if (!*s) {
                snprintf(why, whylen, "host list ends with a comma");
                return -1;
            }
        }
    }
    if (n == 0) {
        snprintf(why, whylen, "host is empty (name at least one host, or leave host out for localhost)");
        return -1;
    }
    memcpy(p->hosts, hosts, sizeof(hosts));
    p->nhosts = n;
    memcpy(p->host, list, strlen(list) + 1);       /* length checked above */
    return 0;
}

static int set_value(struct parse_ctx *ctx, const struct key *k, const char *value)
{
    char *field = (char *)ctx->cfg + k->off;
    char why[200];

    switch (k->type) {
    case K_STR:
    case K_LISTEN:
    case K_METRICS:
    case K_DELIM:
    case K_RESOLVER:
        if (strlen(value) >= k->size) {
            snprintf(ctx->msg, sizeof(ctx->msg), "value of %s is longer than %zu bytes", k->name, k->size - 1);
            return 0;
        }
        for (const unsigned char *p = (const unsigned char *)value; *p; p++)
            if (*p < 0x20 || *p == 0x7f) {
                snprintf(ctx->msg, sizeof(ctx->msg), "value of %s has a control character", k->name);
                return 0;
            }
        if ((k->type == K_LISTEN || (k->type == K_METRICS && *value))
            && !listen_ok(value, k->type == K_METRICS, why, sizeof(why))) {
            snprintf(ctx->msg, sizeof(ctx->msg), "bad %s value '%.100s': %.100s", k->name, value, why);
            return 0;
        }
        if (k->type == K_RESOLVER && *value) {
            struct netlist_endpoint ep;
            if (netlist_endpoint(value, 53, &ep, why, sizeof(why)) < 0) {
                snprintf(ctx->msg, sizeof(ctx->msg), "resolver: %.200s", why);
                return 0;
            }
        }
        if (k->type == K_DELIM) {
            for (const char *p = value; *p; p++)
                if (isalnum((unsigned char)*p) || *p == '@' || *p == ' ' || *p == '.') {
                    snprintf(ctx->msg, sizeof(ctx->msg),
                             "recipient_delimiter may not contain letters, digits, '@', '.' or spaces");
                    return 0;
                }
        }
        memcpy(field, value, strlen(value) + 1);        /* length checked above */
        if (strcmp(k->name, "password") == 0 && *value)
            ctx->has_password = 1;

        return 1;
    case K_DBHOSTS:
        if (config_db_hosts((struct config_db *)(void *)field, value, why, sizeof(why)) < 0) {
            snprintf(ctx->msg, sizeof(ctx->msg), "%.200s", why);
            return 0;
        }
        return 1;
    case K_NETLIST:
        /* Repeated keys add up, so a long list fits the line limit. */
        if (netlist_add((struct netlist *)(void *)field, value, why, sizeof(why)) < 0) {
            snprintf(ctx->msg, sizeof(ctx->msg), "%s: %.200s", k->name, why);
            return 0;
        }
        return 1;
    case K_ONALLOW:
        if (strcasecmp(value, "DUNNO") != 0 && strcasecmp(value, "OK") != 0) {
            snprintf(ctx->msg, sizeof(ctx->msg), "on_allow must be DUNNO or OK, not '%.60s'", value);
            return 0;
        }
        snprintf(field, k->size, "%s", strcasecmp(value, "OK") == 0 ? "OK" : "DUNNO");
        return 1;
    case K_AUTO_INT:
    case K_INT: {
        char *end;
        long v;

        if (k->type == K_AUTO_INT && strcasecmp(value, "auto") == 0) {
            *(int *)(void *)field = 0;
            return 1;
        }
        errno = 0;
        v = strtol(value, &end, 10);
        if (errno || *value == '\0' || *end || v < k->min || v > k->max) {
            snprintf(ctx->msg, sizeof(ctx->msg), "%s must be %sa whole number from %d to %d, not '%.40s'",
                     k->name, k->type == K_AUTO_INT ? "auto or " : "", k->min, k->max, value);
            return 0;
        }
        *(int *)(void *)field = (int)v;
        return 1;
    }
    case K_ENUM:
        for (int i = 0; k->words[i]; i++)
            if (strcasecmp(value, k->words[i]) == 0) {
                *(int *)(void *)field = i;
                return 1;
            }
        {
            size_t o = (size_t)snprintf(ctx->msg, sizeof(ctx->msg), "%s must be one of", k->name);
            for (int i = 0; k->words[i] && o < sizeof(ctx->msg); i++)
                o += (size_t)snprintf(ctx->msg + o, sizeof(ctx->msg) - o, "%s %s", i ? "," : "", k->words[i]);
        }
        return 0;
    }
    return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *ctx = user;
    int known_section = 0;

    if (ctx->had_error)
        return 1;           /* keep the first error; inih reports its line */
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        known_section = 1;
        if (strcmp(keys[i].name, name) == 0) {
            if (set_value(ctx, &keys[i], value ? value : ""))
                return 1;
            ctx->had_error = 1;
            return 0;
        }
    }
    if (!known_section)
        snprintf(ctx->msg, sizeof(ctx->msg), "unknown section [%.60s]", section);
    else
        snprintf(ctx->msg, sizeof(ctx->msg), "unknown key '%.60s' in section [%s]", name, section);
    ctx->had_error = 1;
    return 0;
}

static int finish(struct parse_ctx *ctx, const char *name, int rc, char *err, size_t errlen)
{
    if (rc == 0)
        return 0;
    if (rc > 0 && ctx->had_error)
        snprintf(err, errlen, "%s:%d: %s", name, rc, ctx->msg);
    else if (rc > 0)
        snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)", name, rc);
    else if (rc == -1)
        snprintf(err, errlen, "%s: cannot open: %s", name, strerror(errno));
    else
        snprintf(err, errlen, "%s: out of memory", name);
    return -1;
}

static int section_known(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strlen(keys[i].section) == len && strncmp(keys[i].section, name, len) == 0)
            return 1;
    return 0;
}

/* inih (as Debian builds it) reads at most 199 bytes a line and would take
 * the rest of a longer line as a new line; it also treats an indented line
 * as the continuation of the previous value.  Neither may change what a
 * file means, so before inih sees the text: lines over CONFIG_LINE_MAX are
 * an error, leading blanks are removed, and, because inih calls the handler
 * only for keys, [section] names are checked here.  Returns a copy to parse
 * (caller frees), or NULL with *ERR_LINE and MSG set to the first problem. */
#define CONFIG_LINE_MAX 198

static char *prepare_text(const char *text, int *err_line, char *msg, size_t msglen)
{
    char *copy = malloc(strlen(text) + 1), *o = copy;
    int line = 1;

    if (!copy) {
        *err_line = 0;
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    for (const char *p = text; *p; line++) {
        const char *eol = strchr(p, '\n'), *end = eol ? eol : p + strlen(p);

        if (end - p > CONFIG_LINE_MAX) {
            *err_line = line;
            snprintf(msg, msglen, "line longer than %d bytes", CONFIG_LINE_MAX);
            free(copy);
            return NULL;
        }
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p == '[') {
            const char *close = memchr(p, ']', (size_t)(end - p));
            const char *b = p + 1, *e = close ? close : end;
            while (b < e && *b == ' ')
                b++;
            while (e > b && e[-1] == ' ')
                e--;
            if (close && !section_known(b, (size_t)(e - b))) {
                *err_line = line;
                snprintf(msg, msglen, "unknown section [%.*s]", (int)((e - b) > 60 ? 60 : (e - b)), b);
                free(copy);
                return NULL;
            }
        }
        memcpy(o, p, (size_t)(end - p));
        o += end - p;
        if (eol)
            *o++ = '\n';
        p = eol ? eol + 1 : end;
    }
    *o = '\0';
    return copy;
}

static int parse_text(struct config *cfg, const char *name, const char *text, int *has_password,
                      char *err, size_t errlen)
{
    struct parse_ctx ctx = { .cfg = cfg };
    char msg[256];
    int pre_line = 0, rc;
    char *copy = prepare_text(text, &pre_line, msg, sizeof(msg));

    if (copy) {
        rc = ini_parse_string(copy, handler, &ctx);
        free(copy);
    } else {
        /* Parse the original up to its problem line, so an earlier error
         * in a key still wins: the first error is the one reported. */
        rc = pre_line > 0 ? ini_parse_string(text, handler, &ctx) : -2;
        if (rc <= 0 || rc >= pre_line) {
            snprintf(err, errlen, "%s:%d: %s", name, pre_line, msg);
            return -1;
        }
    }
    if (has_password)
        *has_password = ctx.has_password;
    return finish(&ctx, name, rc, err, errlen);
}

int config_load_string(struct config *cfg, const char *name, const char *text, char *err, size_t errlen)
{
    if (parse_text(cfg, name, text, NULL, err, errlen) < 0)
        return -1;
    snprintf(cfg->path, sizeof(cfg->path), "%s", name);
    return 0;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
    struct stat st;
    FILE *f;
    char *text;
    size_t n;
    int rc, has_password = 0;

    f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s (give another file with -c, or with $GUARDLIST_CONFIG: "
                 "for the approval and admin pages, in the web server's environment)", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        snprintf(err, errlen, "%s: not a regular file", path);
        return -1;
    }
    if (st.st_size > 1024 * 1024) {
        fclose(f);
        snprintf(err, errlen, "%s: larger than 1 MiB", path);
        return -1;
    }
    text = malloc((size_t)st.st_size + 1);
    if (!text) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    n = fread(text, 1, (size_t)st.st_size, f);
    fclose(f);
    text[n] = '\0';
    if (memchr(text, '\0', n)) {
        free(text);
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        return -1;
    }
    rc = parse_text(cfg, path, text, &has_password, err, errlen);
    free(text);
    if (rc < 0)
        return -1;
    if (has_password && (st.st_mode & S_IROTH)) {
        snprintf(err, errlen, "%s: holds a password but is world-readable (chmod o-r %s, "
                 "or move the password to a password_file)", path, path);
        return -1;
    }
    snprintf(cfg->path, sizeof(cfg->path), "%s", path);
    return 0;
}

int config_read_secret(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    struct stat st;
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        snprintf(err, errlen, "%s: cannot open secret file: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        snprintf(err, errlen, "%s: secret file is not a regular file", path);
        return -1;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        fclose(f);
        snprintf(err, errlen, "%s: secret file is world-accessible (chmod 600 %s)", path, path);
        return -1;
    }
    if (!fgets(out, (int)outlen, f)) {
        out[0] = '\0';
    }
    fclose(f);
    n = strlen(out);
    if (n == outlen - 1 && out[n - 1] != '\n') {
        snprintf(err, errlen, "%s: secret longer than %zu bytes", path, outlen - 2);
        return -1;
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return 0;
}

int config_db_for(const struct config *cfg, const struct config_account *acct,
                  struct config_db *out, char *err, size_t errlen)
{
    *out = cfg->db;
    if (acct && acct->user[0]) {
        snprintf(out->user, sizeof(out->user), "%s", acct->user);
        snprintf(out->password, sizeof(out->password), "%s", acct->password);
        snprintf(out->password_file, sizeof(out->password_file), "%s", acct->password_file);
    } else if (acct && (acct->password[0] || acct->password_file[0])) {
        if (acct->password[0])
            snprintf(out->password, sizeof(out->password), "%s", acct->password);
        snprintf(out->password_file, sizeof(out->password_file), "%s", acct->password_file);
    }
    if (out->password_file[0]) {
        if (config_read_secret(out->password_file, out->password, sizeof(out->password), err, errlen) < 0)
            return -1;
    }
    return 0;
}
