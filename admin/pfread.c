/*
 * pfread - reads a Postfix configuration for `guardlist doctor`: parameters
 * through `postconf -c DIR`, and the entries of its alias tables through
 * `postmap -s` and `postalias -s`, into the routing model (admin/reach.c).
 *
 * Caller: admin/doctor.c.  Programs run through subproc (no shell, bounded
 * lines, a time limit).  Table output is outside input: a line that is too
 * long, holds a control character or cannot be parsed is left out and
 * counted in a warning that names the table, never trusted or cut.  Tables
 * are only read: a cdb table, which Postfix cannot list, is rebuilt from a
 * copy of its source in a private temporary directory.
 */
#include "pfread.h"
#include "admin.h"
#include "pftext.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TIMEOUT_S 120               /* one postconf, postmap or postalias run */
#define ENTRIES_MAX 5000000UL       /* entries read from one table */
#define SOURCE_MAX (256L << 20)     /* bytes of a cdb table's source copied */
#define FILE_MAX (1L << 20)         /* bytes of a $mydestination /file */

static const struct {
    const char *name;
    size_t off;
} params[] = {
    { "mydestination", offsetof(struct pfread_conf, mydestination) },
    { "myorigin", offsetof(struct pfread_conf, myorigin) },
    { "virtual_alias_maps", offsetof(struct pfread_conf, virtual_alias_maps) },
    { "alias_maps", offsetof(struct pfread_conf, alias_maps) },
    { "recipient_delimiter", offsetof(struct pfread_conf, recipient_delimiter) },
    { "propagate_unmatched_extensions", offsetof(struct pfread_conf, propagate_unmatched_extensions) },
    { "smtpd_recipient_restrictions", offsetof(struct pfread_conf, smtpd_recipient_restrictions) },
    { "smtpd_relay_restrictions", offsetof(struct pfread_conf, smtpd_relay_restrictions) },
    { "queue_directory", offsetof(struct pfread_conf, queue_directory) },
    { "smtpd_policy_service_default_action", offsetof(struct pfread_conf, default_action) },
};
#define NPARAMS (sizeof(params) / sizeof(params[0]))

static char **param_slot(struct pfread_conf *c, size_t i)
{
    return (char **)(void *)((char *)c + params[i].off);
}

/* Splits "name = value" (value may be empty).  Returns 0, or -1. */
static int name_value(const char *line, size_t len, const char **value, size_t *namelen)
{
    const char *eq = strstr(line, " =");

    if (strlen(line) != len || !eq || eq == line)
        return -1;
    *namelen = (size_t)(eq - line);
    *value = eq[2] == ' ' ? eq + 3 : eq + 2;
    return 0;
}

struct conf_ctx {
    struct pfread_conf *c;
    int mode;               /* 0 postconf -x, 1 postconf -n, 2 postconf -P */
    int oom;
};

static int service_setting(struct conf_ctx *x, const char *name, size_t nlen, const char *value)
{
    const char *slash = memrchr(name, '/', nlen);
    struct pfread_conf *c = x->c;
    int is_action;

    if (!slash)
        return 0;
    size_t plen = nlen - (size_t)(slash + 1 - name), svclen = (size_t)(slash - name);
    if (plen == strlen("smtpd_recipient_restrictions") && strncmp(slash + 1, "smtpd_recipient_restrictions", plen) == 0)
        is_action = 0;
    else if (plen == strlen(params[NPARAMS - 1].name) && strncmp(slash + 1, params[NPARAMS - 1].name, plen) == 0)
        is_action = 1;
    else
        return 0;
    size_t i = 0;
    while (i < c->nsvc && !(strlen(c->svc[i].name) == svclen && strncmp(c->svc[i].name, name, svclen) == 0))
        i++;
    if (i == c->nsvc) {
        struct pfread_service *v = realloc(c->svc, (c->nsvc + 1) * sizeof(*v));
        if (!v)
            return x->oom = 1;
        c->svc = v;
        memset(&c->svc[i], 0, sizeof(c->svc[i]));
        if (!(c->svc[i].name = strndup(name, svclen)))
            return x->oom = 1;
        c->nsvc++;
    }
    char **slot = is_action ? &c->svc[i].default_action : &c->svc[i].restrictions;
    free(*slot);
    return (*slot = strdup(value)) ? 0 : (x->oom = 1);
}

static int conf_line(void *arg, const char *line, size_t len, int too_long)
{
    struct conf_ctx *x = arg;
    const char *value;
    size_t nlen;

    if (too_long || name_value(line, len, &value, &nlen) < 0)
        return 0;           /* not a parameter line: postconf's own notes */
    if (x->mode == 2)
        return service_setting(x, line, nlen, value);
    for (size_t i = 0; i < NPARAMS; i++) {
        if (strlen(params[i].name) != nlen || strncmp(line, params[i].name, nlen) != 0)
            continue;
        if (x->mode == 1) {
            x->c->default_action_set = 1;
            return 0;
        }
        char **f = param_slot(x->c, i);
        free(*f);
        return (*f = strdup(value)) ? 0 : (x->oom = 1);
    }
    return 0;
}

int pfread_conf(const char *dir, struct pfread_conf *c, char *err, size_t errlen)
{
    const char *argv[NPARAMS + 5] = { "postconf", "-c", dir, "-x" };
    const char *argv_n[] = { "postconf", "-c", dir, "-n", params[NPARAMS - 1].name, NULL };
    const char *argv_p[] = { "postconf", "-c", dir, "-P", "-x", NULL };
    struct conf_ctx x = { c, 0, 0 };
    char why[500];

    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NPARAMS; i++)
        argv[4 + i] = params[i].name;
    argv[4 + NPARAMS] = NULL;
    int rc = subproc_lines(argv, TIMEOUT_S, PFREAD_LINE_MAX, conf_line, &x, why, sizeof(why));
    if (rc != 0) {
        snprintf(err, errlen, "postconf -c %s: %s", dir, why[0] ? why : "failed");
        return -1;
    }
    x.mode = 1;
    if (subproc_lines(argv_n, TIMEOUT_S, PFREAD_LINE_MAX, conf_line, &x, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "postconf -c %s -n: %s", dir, why[0] ? why : "failed");
        return -1;
    }
    x.mode = 2;             /* master.cf: an old postconf without -P has none to show */
    subproc_lines(argv_p, TIMEOUT_S, PFREAD_LINE_MAX, conf_line, &x, why, sizeof(why));
    for (size_t i = 0; i < NPARAMS && !x.oom; i++)
        if (!*param_slot(c, i) && !(*param_slot(c, i) = strdup("")))
            x.oom = 1;
    if (x.oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void pfread_conf_free(struct pfread_conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NPARAMS; i++)
        free(*param_slot(c, i));
    for (size_t i = 0; i < c->nsvc; i++) {
        free(c->svc[i].name);
        free(c->svc[i].restrictions);
        free(c->svc[i].default_action);
    }
    free(c->svc);
    memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------ tables */

struct tab_ctx {
    struct reach *r;
    int table, alias;
    int domains;            /* keys are $mydestination domains, not aliases */
    char *buf;              /* a copy of the line, parsed in place */
    unsigned long entries, bad;
    char first[300];        /* the first bad entry and why */
};

static void bad(struct tab_ctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bad(struct tab_ctx *t, const char *fmt, ...)
{
    va_list ap;

    if (t->bad++ == 0) {
        va_start(ap, fmt);
        vsnprintf(t->first, sizeof(t->first), fmt, ap);
        va_end(ap);
    }
}

static int tab_line(void *arg, const char *line, size_t len, int too_long)
{
    struct tab_ctx *t = arg;
    char *key, *value, err[300];

    if (++t->entries > ENTRIES_MAX) {
        bad(t, "more than %lu entries; the rest is not read", ENTRIES_MAX);
        return 1;
    }
    if (too_long) {
        bad(t, "an entry longer than %d bytes", PFREAD_LINE_MAX);
        return 0;
    }
    if (strlen(line) != len) {
        bad(t, "an entry holding a NUL byte");
        return 0;
    }
    memcpy(t->buf, line, len + 1);
    int rc = pftext_table_line(t->buf, t->alias, &key, &value);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        bad(t, "a malformed entry or a control character: '%.80s'", line);
        return 0;
    }
    if (t->domains) {
        if (reach_local_domain(t->r, key) < 0)
            bad(t, "'%.80s' is no domain name", key);
        return 0;
    }
    if (reach_entry(t->r, t->table, t->alias, key, value, err, sizeof(err)) < 0)
        bad(t, "%.80s: %s", key, err);
    return 0;
}

/* Runs `postmap|postalias -c DIR -s SPEC` into T.  Returns its exit status
 * or -1, with WHY set when it failed. */
static int list_table(const char *dir, const char *spec, struct tab_ctx *t, char *why, size_t whylen)
{
    const char *argv[] = { t->alias ? "postalias" : "postmap", "-c", dir, "-s", spec, NULL };

    t->buf = malloc(PFREAD_LINE_MAX + 1);
    if (!t->buf) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    int rc = subproc_lines(argv, TIMEOUT_S, PFREAD_LINE_MAX, tab_line, t, why, whylen);
    free(t->buf);
    t->buf = NULL;
    if (rc > 0 && !why[0])
        snprintf(why, whylen, "%s exited with status %d", argv[0], rc);
    return rc;
}

/* Copies SRC (at most SOURCE_MAX bytes) to DST.  Returns 0, or -1 with WHY. */
static int copy_file(const char *src, const char *dst, char *why, size_t whylen)
{
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1;
    struct stat st;
    char chunk[65536];
    ssize_t n = 0;

    if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SOURCE_MAX) {
        snprintf(why, whylen, "its source file %s %s", src,
                 in < 0 ? strerror(errno) : !S_ISREG(st.st_mode) ? "is no regular file" : "is too large");
        if (in >= 0)
            close(in);
        return -1;
    }
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    while (out >= 0 && (n = read(in, chunk, sizeof(chunk))) > 0)
        if (write(out, chunk, (size_t)n) != n)
            n = -1;
    close(in);
    if (out < 0 || n < 0 || close(out) < 0) {
        snprintf(why, whylen, "cannot copy %s: %s", src, strerror(errno));
        return -1;
    }
    return 0;
}

/* cdb has no sequence operation: lists a hash table built from a copy of
 * its source (NAME without .cdb) in a private directory.  NOTE gets a
 * warning when the source is newer than the table Postfix uses. */
static int list_cdb(const char *dir, const char *name, struct tab_ctx *t, char *why, size_t whylen,
                    char *note, size_t notelen)
{
    char tmpl[] = "/tmp/guardlist-doctor-XXXXXX", src[64], spec[80], cdb[1100];
    const char *tmpdir = mkdtemp(tmpl);
    struct stat s1, s2;

    note[0] = '\0';
    if (!tmpdir) {
        snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    snprintf(src, sizeof(src), "%s/source", tmpdir);
    snprintf(spec, sizeof(spec), "hash:%s", src);
    int rc = copy_file(name, src, why, whylen);
    if (rc == 0) {
        const char *argv[] = { t->alias ? "postalias" : "postmap", "-c", dir, spec, NULL };
        rc = subproc_lines(argv, TIMEOUT_S, PFREAD_LINE_MAX, NULL, NULL, why, whylen);
        if (rc == 0)
            rc = list_table(dir, spec, t, why, whylen);
        else if (!why[0])
            snprintf(why, whylen, "%s could not build a copy of %s", argv[0], name);
    }
    snprintf(cdb, sizeof(cdb), "%s.cdb", name);
    if (rc == 0 && stat(name, &s1) == 0 && stat(cdb, &s2) == 0 && s1.st_mtime > s2.st_mtime)
        snprintf(note, notelen, "%s is newer than %s: Postfix uses the older table until you run %s; "
                 "doctor read the source", name, cdb, t->alias ? "postalias" : "postmap");
    unlink(src);
    snprintf(cdb, sizeof(cdb), "%s.db", src);
    unlink(cdb);
    rmdir(tmpdir);
    return rc;
}

static void pfread_warnf(pfread_warn_fn warn, void *arg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void pfread_warnf(pfread_warn_fn warn, void *arg, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    warn(arg, msg);
}

/* Lists one table SPEC of PARAM into T; warns when it cannot.  Returns 0, -1 out of memory. */
static int read_table(const char *dir, const char *param, const char *spec, struct tab_ctx *t,
                      pfread_warn_fn warn, void *arg)
{
    const char *inner;
    char why[500] = "", note[1300] = "";
    enum pftext_table kind = pftext_table_kind(spec, &inner);
    int rc;

    if (kind == PFT_OTHER) {
        pfread_warnf(warn, arg, "%s: cannot list %s (a table that cannot be enumerated): its entries are not checked",
                     param, spec);
        return 0;
    }
    if (kind == PFT_SOURCE)
        rc = list_cdb(dir, strchr(inner, ':') + 1, t, why, sizeof(why), note, sizeof(note));
    else
        rc = list_table(dir, inner, t, why, sizeof(why));
    if (rc != 0)
        pfread_warnf(warn, arg, "%s: cannot list %s (%s): its entries are not checked", param, spec, why);
    if (note[0])
        pfread_warnf(warn, arg, "%s: %s", param, note);
    if (t->bad)
        pfread_warnf(warn, arg, "%s: %lu entr%s of %s left out, not checked; the first: %s", param, t->bad,
                     t->bad == 1 ? "y" : "ies", spec, t->first);
    return strcmp(why, "out of memory") == 0 ? -1 : 0;
}

int pfread_tables(const char *dir, const char *param, const char *value, int alias, struct reach *r,
                  pfread_warn_fn warn, void *arg)
{
    struct pftext_list l;
    char err[200], label[1200];
    int rc = 0;

    if (pftext_split(value, &l, err, sizeof(err)) < 0) {
        pfread_warnf(warn, arg, "%s: cannot read its value (%s): no table of it is checked", param, err);
        pftext_list_free(&l);
        return 0;
    }
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        struct tab_ctx t = { .r = r, .alias = alias };
        snprintf(label, sizeof(label), "%s %s", param, l.item[i]);
        if ((t.table = reach_table(r, label)) < 0)
            rc = -1;
        else
            rc = read_table(dir, param, l.item[i], &t, warn, arg);
    }
    pftext_list_free(&l);
    return rc;
}

/* Domains listed in a /file of $mydestination: blank or comma separated, # comments. */
static void file_domains(const char *path, struct reach *r, pfread_warn_fn warn, void *arg)
{
    FILE *f = fopen(path, "re");
    char line[1024], err[120];
    long total = 0;

    if (!f) {
        pfread_warnf(warn, arg, "mydestination: cannot read %s (%s): its domains are not checked", path,
                     strerror(errno));
        return;
    }
    while (fgets(line, sizeof(line), f) && (total += (long)strlen(line)) <= FILE_MAX) {
        struct pftext_list l;
        line[strcspn(line, "#")] = '\0';
        if (pftext_split(line, &l, err, sizeof(err)) == 0)
            for (size_t i = 0; i < l.n; i++)
                if (reach_local_domain(r, l.item[i]) < 0)
                    pfread_warnf(warn, arg, "mydestination: '%.80s' in %s is no domain name; ignored", l.item[i], path);
        pftext_list_free(&l);
    }
    fclose(f);
}

int pfread_local_domains(const char *dir, const char *value, struct reach *r, pfread_warn_fn warn, void *arg)
{
    struct pftext_list l;
    char err[200], why[500];

    if (pftext_split(value, &l, err, sizeof(err)) < 0) {
        pfread_warnf(warn, arg, "mydestination: cannot read its value (%s): no local domain is checked", err);
        pftext_list_free(&l);
        return 0;
    }
    for (size_t i = 0; i < l.n; i++) {
        const char *item = l.item[i], *inner;
        if (item[0] == '/') {
            file_domains(item, r, warn, arg);
        } else if (strchr(item, ':')) {
            struct tab_ctx t = { .r = r, .domains = 1 };
            why[0] = '\0';
            if (pftext_table_kind(item, &inner) != PFT_LIST || list_table(dir, inner, &t, why, sizeof(why)) != 0)
                pfread_warnf(warn, arg, "mydestination: cannot list %s%s%s: its domains are not checked", item,
                             why[0] ? ": " : "", why);
        } else if (reach_local_domain(r, item) < 0) {
            pfread_warnf(warn, arg, "mydestination: '%.80s' is no domain name; ignored", item);
        }
    }
    pftext_list_free(&l);
    return 0;
}
