/*
 * reach - follows mail through Postfix's address mapping to find aliases
 * that reach a protected address while guardlistd lets them through.
 *
 * Caller: `guardlist doctor`; the unit tests.  The model is Postfix's own
 * (mail_addr_find, mail_addr_map, local(8)): a virtual alias lookup tries
 * user+ext@domain, user@domain, user+ext and user (only for $myorigin and
 * local domains), then @domain; a result "@other" keeps the user, a result
 * without a domain gets @$myorigin, an address that maps to itself is
 * delivered.  A local domain's address goes to local(8): the aliases of its
 * local part (user+ext, then user), whose results in a local domain stay
 * local and any other is forwarded through the virtual aliases again.  Every
 * local domain reaches the same local user.  Expansion is bounded in depth
 * and in addresses visited; table values are outside input, never trusted.
 */
#include "reach.h"
#include "addr.h"
#include "pftext.h"
#include "smap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_ (ADDR_MAX + 2)

/* ------------------------------------------------------------ the model */

struct strs {
    char **v;
    size_t n;
};

static int strs_add(struct strs *s, const char *x)
{
    char **v = realloc(s->v, (s->n + 1) * sizeof(*v));

    if (!v)
        return -1;
    s->v = v;
    if (!(s->v[s->n] = strdup(x)))
        return -1;
    s->n++;
    return 0;
}

static void strs_free(struct strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

struct reach {
    char myorigin[NAME_MAX_];
    char delims[16];
    int propagate;
    unsigned long work_max;
    struct strs local, tables, prot;
    struct smap virt, alias;
};

struct reach *reach_new(const char *myorigin, const char *delims, int propagate_virtual)
{
    struct reach *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    if (addr_key_normalize(myorigin, r->myorigin, sizeof(r->myorigin)) < 0
        || snprintf(r->delims, sizeof(r->delims), "%s", delims) >= (int)sizeof(r->delims)) {
        free(r);
        return NULL;
    }
    r->propagate = propagate_virtual;
    r->work_max = REACH_WORK_MAX;
    return r;
}

void reach_free(struct reach *r)
{
    if (!r)
        return;
    strs_free(&r->local);
    strs_free(&r->tables);
    strs_free(&r->prot);
    smap_free(&r->virt);
    smap_free(&r->alias);
    free(r);
}

static int is_local(const struct reach *r, const char *domain)
{
    for (size_t i = 0; i < r->local.n; i++)
        if (strcmp(r->local.v[i], domain) == 0)
            return 1;
    return 0;
}

int reach_local_domain(struct reach *r, const char *domain)
{
    char d[NAME_MAX_];

    if (addr_key_normalize(domain, d, sizeof(d)) < 0 || strchr(d, '@'))
        return -1;
    size_t n = strlen(d);
    if (n > 1 && d[n - 1] == '.')
        d[n - 1] = '\0';
    return is_local(r, d) ? 0 : strs_add(&r->local, d);
}

void reach_limit(struct reach *r, unsigned long work)
{
    r->work_max = work;
}

int reach_table(struct reach *r, const char *label)
{
    return strs_add(&r->tables, label) < 0 ? -1 : (int)r->tables.n - 1;
}

static int check_target(void *arg, enum pftext_target_kind kind, const char *text)
{
    (void)arg;
    (void)kind;
    (void)text;
    return 0;
}

int reach_entry(struct reach *r, int table, int alias, const char *key, const char *value,
                char *err, size_t errlen)
{
    char k[NAME_MAX_], why[200];

    if (addr_key_normalize(key, k, sizeof(k)) < 0) {
        snprintf(err, errlen, "unusable key (too long, control characters or bad UTF-8)");
        return -1;
    }
    if (alias && strchr(k, '@')) {
        snprintf(err, errlen, "an alias name holds '@'");
        return -1;
    }
    if (pftext_targets(value, check_target, NULL, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "unusable value: %s", why);
        return -1;
    }
    int rc = smap_put(alias ? &r->alias : &r->virt, k, value, table);
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    return rc < 0 ? -1 : rc == 0;
}

int reach_protected(struct reach *r, const char *addr)
{
    char a[NAME_MAX_];
    const char *at;

    if (addr_key_normalize(addr, a, sizeof(a)) < 0 || !(at = strrchr(a, '@')) || at == a || !at[1])
        return 0;           /* only full addresses have other forms */
    return strs_add(&r->prot, a);
}

/* ------------------------------------------------------------ one expansion */

struct node {
    char *name;             /* 'v' address (virtual stage) or 'l' local part (local(8)) */
    int parent, depth;
};

struct bfs {
    struct reach *r;
    struct node *q;
    size_t n, cap;
    struct smap seen;
    int truncated;
    unsigned long work;     /* nodes expanded in this run, against REACH_WORK_MAX */
    int cur;                /* the node being expanded */
    const char *from_key;   /* its table entry, for warnings */
    reach_warn_fn warn;
    void *arg;
    struct smap *warned;
};

static void reach_warnf(struct bfs *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Calls the warning callback once for each distinct message. */
static void reach_warnf(struct bfs *b, const char *fmt, ...)
{
    char msg[700];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (b->warn && smap_put(b->warned, msg, NULL, 0) == 1)
        b->warn(b->arg, msg);
}

/* Queues node KIND+NAME under the current one, once.  Returns 0, -1 out of memory. */
static int push(struct bfs *b, char kind, const char *name)
{
    char buf[NAME_MAX_ + 2];

    if (snprintf(buf, sizeof(buf), "%c%s", kind, name) >= (int)sizeof(buf))
        return 0;
    int depth = b->cur >= 0 ? b->q[b->cur].depth + 1 : 0;
    if (depth > REACH_DEPTH_MAX || b->n >= REACH_NODES_MAX) {
        b->truncated = 1;
        return 0;
    }
    int rc = smap_put(&b->seen, buf, NULL, 0);
    if (rc <= 0)
        return rc;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        struct node *q = realloc(b->q, cap * sizeof(*q));
        if (!q)
            return -1;
        b->q = q;
        b->cap = cap;
    }
    if (!(b->q[b->n].name = strdup(buf)))
        return -1;
    b->q[b->n].parent = b->cur;
    b->q[b->n].depth = depth;
    b->n++;
    return 0;
}

/* Length of LOCAL's part before its extension (Postfix's recipient_delimiter). */
static size_t base_len(const struct reach *r, const char *local, size_t len)
{
    if (!r->delims[0])
        return len;
    size_t pos = strcspn(local, r->delims);
    return pos > 0 && pos < len ? pos : len;
}

static const struct smap_ent *find_n(const struct smap *m, const char *a, size_t alen, const char *b)
{
    char key[NAME_MAX_ + 2];

    if (snprintf(key, sizeof(key), "%.*s%s", (int)alen, a, b) >= (int)sizeof(key))
        return NULL;
    return smap_get(m, key);
}

/* The virtual alias entry of ADDR, in mail_addr_find()'s order.  *EXT gets
 * the extension that was stripped to match ("" if none). */
static const struct smap_ent *virtual_find(const struct reach *r, const char *addr, char *ext, size_t extlen)
{
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t)(at - addr) : strlen(addr), blen = base_len(r, addr, llen);
    const struct smap_ent *e;

    ext[0] = '\0';
    if ((e = smap_get(&r->virt, addr)) != NULL)
        return e;
    if (blen < llen && at && (e = find_n(&r->virt, addr, blen, at)) != NULL)
        goto stripped;
    if (at && (strcmp(at + 1, r->myorigin) == 0 || is_local(r, at + 1))) {
        if ((e = find_n(&r->virt, addr, llen, "")) != NULL)
            return e;
        if (blen < llen && (e = find_n(&r->virt, addr, blen, "")) != NULL)
            goto stripped;
    }
    return at ? smap_get(&r->virt, at) : NULL;
stripped:
    snprintf(ext, extlen, "%.*s", (int)(llen - blen), addr + blen);
    return e;
}

/* An address at a local domain goes to local(8): the node of its local part. */
static int deliver(struct bfs *b, const char *addr)
{
    const char *at = strrchr(addr, '@');
    char local[NAME_MAX_];

    if (!at || !is_local(b->r, at + 1))
        return 0;           /* delivered elsewhere: this address is the end */
    snprintf(local, sizeof(local), "%.*s", (int)(at - addr), addr);
    return push(b, 'l', local);
}

struct vctx {
    struct bfs *b;
    const char *addr, *ext;
    int rc;
};

/* One result of a virtual alias lookup of C->addr. */
static int virtual_target(void *arg, enum pftext_target_kind kind, const char *t)
{
    struct vctx *c = arg;
    struct reach *r = c->b->r;
    char raw[NAME_MAX_ + 64], norm[NAME_MAX_];
    const char *at = strrchr(c->addr, '@');
    size_t llen = at ? (size_t)(at - c->addr) : strlen(c->addr);
    int n;

    if (kind != PFT_ADDRESS)
        return 0;           /* no commands or files in virtual(5) */
    if (t[0] == '@')        /* @other: the same user (its extension dropped) there */
        n = snprintf(raw, sizeof(raw), "%.*s%s", (int)(llen - strlen(c->ext)), c->addr, t);
    else if (!strchr(t, '@'))
        n = snprintf(raw, sizeof(raw), "%s%s@%s", t, r->propagate ? c->ext : "", r->myorigin);
    else if (r->propagate && c->ext[0])
        n = snprintf(raw, sizeof(raw), "%.*s%s%s", (int)(strrchr(t, '@') - t), t, c->ext, strrchr(t, '@'));
    else
        n = snprintf(raw, sizeof(raw), "%s", t);
    if (n < 0 || (size_t)n >= sizeof(raw) || addr_key_normalize(raw, norm, sizeof(norm)) < 0) {
        reach_warnf(c->b, "virtual alias %s: destination '%.100s' is unusable and not followed", c->b->from_key, t);
        return 0;
    }
    if (strcmp(norm, c->addr) == 0)
        c->rc = deliver(c->b, c->addr);     /* maps to itself: delivered */
    else
        c->rc = push(c->b, 'v', norm);
    return c->rc < 0;
}

static int expand_virtual(struct bfs *b, const char *addr)
{
    char ext[NAME_MAX_], err[200];
    const struct smap_ent *e = virtual_find(b->r, addr, ext, sizeof(ext));

    if (!e)
        return deliver(b, addr);
    struct vctx c = { b, addr, ext, 0 };
    b->from_key = e->key;
    if (pftext_targets(e->val, virtual_target, &c, err, sizeof(err)) < 0)
        return 0;           /* checked when the entry was added */
    return c.rc;
}

struct lctx {
    struct bfs *b;
    const char *name;
    int rc;
};

/* One destination of the local alias C->name. */
static int local_target(void *arg, enum pftext_target_kind kind, const char *t)
{
    struct lctx *c = arg;
    struct bfs *b = c->b;
    char norm[NAME_MAX_];
    const char *at;

    if (kind == PFT_INCLUDE)
        reach_warnf(b, "alias %s includes %.200s, which doctor does not read: its addresses are not checked",
                    c->name, t);
    if (kind != PFT_ADDRESS)
        return 0;
    if (addr_key_normalize(t, norm, sizeof(norm)) < 0) {
        reach_warnf(b, "alias %s: destination '%.100s' is unusable and not followed", c->name, t);
        return 0;
    }
    at = strrchr(norm, '@');
    if (!at || is_local(b->r, at + 1)) {
        /* A name without a domain gets @$myorigin; a local one stays in local(8). */
        if (at)
            norm[at - norm] = '\0';
        else if (!is_local(b->r, b->r->myorigin)) {
            char full[NAME_MAX_ * 2];
            snprintf(full, sizeof(full), "%s@%s", norm, b->r->myorigin);
            if (addr_key_normalize(full, norm, sizeof(norm)) < 0)
                return 0;
            c->rc = push(b, 'v', norm);
            return c->rc < 0;
        }
        c->rc = push(b, 'l', norm);
    } else {
        c->rc = push(b, 'v', norm);         /* forwarded: virtual aliases apply again */
    }
    return c->rc < 0;
}

static int expand_local(struct bfs *b, const char *name)
{
    char err[200];
    const struct smap_ent *e = smap_get(&b->r->alias, name);
    size_t len = strlen(name), blen = base_len(b->r, name, len);

    if (!e && blen < len)
        e = find_n(&b->r->alias, name, blen, "");
    if (!e)
        return 0;           /* the user's mailbox */
    struct lctx c = { b, e->key, 0 };
    if (pftext_targets(e->val, local_target, &c, err, sizeof(err)) < 0)
        return 0;
    return c.rc;
}

/* ------------------------------------------------------------ checking */

/* 1 when node NAME is protected: an address guardlistd protects, or a local
 * user whose address in some local domain it protects.  REACHED and KEY get
 * that address and its protected_users key. */
static int node_protected(const struct reach *r, const char *name, reach_prot_fn prot, void *arg,
                          char *reached, size_t rlen, char *key, size_t klen)
{
    if (name[0] == 'v') {
        if (prot(arg, name + 1, key, klen) != REACH_PROTECTED)
            return 0;
        snprintf(reached, rlen, "%s", name + 1);
        return 1;
    }
    for (size_t i = 0; i < r->local.n; i++) {
        if (snprintf(reached, rlen, "%s@%s", name + 1, r->local.v[i]) >= (int)rlen)
            continue;
        if (prot(arg, reached, key, klen) == REACH_PROTECTED)
            return 1;
    }
    return 0;
}

/* "a -> b -> c" from the first node to node IDX ("a -> ... -> c" if long). */
static void path_text(const struct bfs *b, int idx, char *out, size_t outlen)
{
    int chain[REACH_DEPTH_MAX + 2], n = 0;
    size_t o = 0;

    for (int i = idx; i >= 0 && n < (int)(sizeof(chain) / sizeof(chain[0])); i = b->q[i].parent)
        chain[n++] = i;
    out[0] = '\0';
    for (int k = n - 1; k >= 0; k--) {
        const char *name = b->q[chain[k]].name;
        int w = snprintf(out + o, outlen - o, "%s%s%s", k == n - 1 ? "" : " -> ", name + 1,
                         name[0] == 'l' ? " (local)" : "");
        if (w < 0 || (size_t)w >= outlen - o) {
            const char *last = b->q[chain[0]].name;
            snprintf(out, outlen, "%.200s -> ... -> %.200s%s", b->q[chain[n - 1]].name + 1, last + 1,
                     last[0] == 'l' ? " (local)" : "");
            return;
        }
        o += (size_t)w;
    }
}

struct cand {
    char *addr;             /* what is expanded */
    char *shown;            /* what is reported ("@domain" for a catch-all) */
    enum reach_kind kind;
    int table;
};

struct cands {
    struct cand *v;
    size_t n, cap;
    int full;
};

static int cand_add(struct cands *cs, const char *addr, const char *shown, enum reach_kind kind, int table)
{
    if (cs->n == REACH_CANDIDATES_MAX) {
        cs->full = 1;
        return 0;
    }
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 64;
        struct cand *v = realloc(cs->v, cap * sizeof(*v));
        if (!v)
            return -1;
        cs->v = v;
        cs->cap = cap;
    }
    struct cand *c = &cs->v[cs->n];
    c->addr = strdup(addr);
    c->shown = strdup(shown ? shown : addr);
    c->kind = kind;
    c->table = table;
    if (!c->addr || !c->shown) {
        free(c->addr);
        free(c->shown);
        return -1;
    }
    cs->n++;
    return 0;
}

/* Adds LOCAL@DOMAIN when it fits and is a usable address. */
static int cand_at(struct cands *cs, const char *local, const char *domain, enum reach_kind kind, int table)
{
    char raw[NAME_MAX_ * 2], norm[NAME_MAX_];

    snprintf(raw, sizeof(raw), "%s@%s", local, domain);
    if (addr_key_normalize(raw, norm, sizeof(norm)) < 0)
        return 0;
    return cand_add(cs, norm, NULL, kind, table);
}

static int is_rename(void *arg, enum pftext_target_kind kind, const char *t)
{
    if (kind == PFT_ADDRESS && t[0] == '@')
        *(int *)arg = 1;
    return 0;
}

/* The addresses of a virtual(5) key: user@domain itself; a bare user in
 * $myorigin and every local domain; a catch-all @domain as "any address
 * there", and when it renames the domain (a result "@other"), as each
 * protected user there (user@domain reaches user@other). */
static int cands_virtual(const struct reach *r, const struct smap_ent *e, struct cands *cs)
{
    char err[200];
    int rc = 0, rename = 0;

    if (e->key[0] == '@') {
        char probe[NAME_MAX_ + 2];
        snprintf(probe, sizeof(probe), "*%s", e->key);
        rc = cand_add(cs, probe, e->key, REACH_CATCHALL, e->tab);
        if (pftext_targets(e->val, is_rename, &rename, err, sizeof(err)) < 0)
            rename = 0;
        for (size_t i = 0; rc == 0 && rename && i < r->prot.n; i++) {
            char local[NAME_MAX_];
            snprintf(local, sizeof(local), "%.*s", (int)(strrchr(r->prot.v[i], '@') - r->prot.v[i]), r->prot.v[i]);
            rc = cand_at(cs, local, e->key + 1, REACH_ALIAS, e->tab);
        }
    } else if (!strchr(e->key, '@')) {
        if (!is_local(r, r->myorigin))
            rc = cand_at(cs, e->key, r->myorigin, REACH_ALIAS, e->tab);
        for (size_t i = 0; rc == 0 && i < r->local.n; i++)
            rc = cand_at(cs, e->key, r->local.v[i], REACH_ALIAS, e->tab);
    } else {
        rc = cand_add(cs, e->key, NULL, REACH_ALIAS, e->tab);
    }
    return rc;
}

static int cands_all(const struct reach *r, struct cands *cs)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < r->virt.cap; i++)
        if (r->virt.e[i].key)
            rc = cands_virtual(r, &r->virt.e[i], cs);
    /* A local alias is a name in every local domain. */
    for (size_t i = 0; rc == 0 && i < r->alias.cap; i++)
        for (size_t j = 0; rc == 0 && r->alias.e[i].key && j < r->local.n; j++)
            rc = cand_at(cs, r->alias.e[i].key, r->local.v[j], REACH_ALIAS, r->alias.e[i].tab);
    /* Every local domain reaches the same local user. */
    for (size_t i = 0; rc == 0 && i < r->prot.n; i++) {
        const char *p = r->prot.v[i], *at = strrchr(p, '@');
        char local[NAME_MAX_];
        if (!is_local(r, at + 1))
            continue;
        snprintf(local, sizeof(local), "%.*s", (int)(at - p), p);
        for (size_t j = 0; rc == 0 && j < r->local.n; j++)
            if (strcmp(r->local.v[j], at + 1) != 0)
                rc = cand_at(cs, local, r->local.v[j], REACH_LOCAL, -1);
    }
    return rc;
}

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    int c = strcmp(x->addr, y->addr);
    return c ? c : (int)x->kind - (int)y->kind;
}

static void bfs_reset(struct bfs *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->q[i].name);
    b->n = 0;
    b->truncated = 0;
    b->cur = -1;
    smap_clear(&b->seen);
}

/* Expands candidate C breadth-first (the shortest path is reported) until a
 * protected node.  Returns 1 found, 0 not, -1 out of memory. */
static int check_one(struct bfs *b, const struct cand *c, reach_prot_fn prot, reach_finding_fn found, void *arg)
{
    char reached[NAME_MAX_ * 2], key[NAME_MAX_], path[1200];

    bfs_reset(b);
    if (push(b, 'v', c->addr) < 0)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        const char *name = b->q[i].name;
        b->cur = (int)i;
        if (i > 0 && node_protected(b->r, name, prot, arg, reached, sizeof(reached), key, sizeof(key))) {
            path_text(b, (int)i, path, sizeof(path));
            struct reach_finding f = { c->kind, c->shown, c->table >= 0 ? b->r->tables.v[c->table] : NULL,
                                       reached, key, path };
            found(arg, &f);
            return 1;
        }
        if (++b->work > b->r->work_max)
            return 0;       /* the caller says what was left unchecked */
        int rc = name[0] == 'v' ? expand_virtual(b, name + 1) : expand_local(b, name + 1);
        if (rc < 0)
            return -1;
    }
    if (b->truncated)
        reach_warnf(b, "the expansion of %s stopped after %d addresses or %d levels: not fully checked",
                    c->shown, REACH_NODES_MAX, REACH_DEPTH_MAX);
    return 0;
}

long reach_check(struct reach *r, reach_prot_fn prot, reach_finding_fn found, reach_warn_fn warn, void *arg)
{
    struct cands cs = { 0 };
    struct smap warned = { 0 };
    struct bfs b = { .r = r, .cur = -1, .warn = warn, .arg = arg, .warned = &warned };
    char key[NAME_MAX_];
    long count = 0;
    int rc = cands_all(r, &cs);

    if (cs.full)
        reach_warnf(&b, "more than %d addresses to check: the rest is not checked", REACH_CANDIDATES_MAX);
    if (rc == 0 && cs.n > 0)
        qsort(cs.v, cs.n, sizeof(*cs.v), cand_cmp);
    for (size_t i = 0; rc == 0 && i < cs.n; i++) {
        if (i > 0 && strcmp(cs.v[i].addr, cs.v[i - 1].addr) == 0)
            continue;       /* one address, one report */
        if (prot(arg, cs.v[i].addr, key, sizeof(key)) != REACH_OPEN)
            continue;
        rc = check_one(&b, &cs.v[i], prot, found, arg);
        if (rc > 0) {
            count++;
            rc = 0;
        }
        /* Hostile tables must not make this run for hours. */
        if (b.work > r->work_max) {
            reach_warnf(&b, "checking stopped after %lu address expansions: %s and %zu more addresses not checked",
                        r->work_max, cs.v[i].shown, cs.n - i - 1);
            break;
        }
    }
    bfs_reset(&b);
    free(b.q);
    smap_free(&b.seen);
    smap_free(&warned);
    for (size_t i = 0; i < cs.n; i++) {
        free(cs.v[i].addr);
        free(cs.v[i].shown);
    }
    free(cs.v);
    return rc < 0 ? -1 : count;
}
