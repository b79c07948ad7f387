/*
 * contactplan - an address book's import for a protected child, planned
 * and written: each address judged by the rules now (decide(), as
 * guardlistd would), then the new contacts written in one transaction
 * (store_contacts_import()).
 *
 * Callers: admin/contactscmd.c (guardlist contacts import) and
 * web/import.c (the admin page's preview and confirm).  SECURITY: a
 * blocked or refused address is never turned into an allow, here by the
 * verdict and again inside the transaction by the store; a child that is
 * not protected gets nothing.
 */
#include "contactplan.h"
#include "decide.h"
#include "rulesdb.h"
#include "store.h"
#include "storebook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum contactplan_verdict judge(const struct ruleset *rs, const struct decide_opts *o, const char *contact,
                                      const char *child)
{
    struct decision d;

    decide(rs, o, "RCPT", contact, child, NULL, &d);
    switch (d.kind) {
    case DK_RULE:
        return d.allows ? CP_ALREADY : CP_BLOCKED;
    case DK_CLOSED:
        return CP_BLOCKED;
    case DK_CHALLENGE:
    case DK_NULL_SENDER:
        return CP_ADD;
    default:
        return CP_UNUSABLE;
    }
}

int contactplan_make(struct db *db, const struct config *cfg, const char *child_in, const struct contacts *c,
                     struct contactplan *p, char *err, size_t errlen)
{
    char why[200];
    enum addr_key_kind kind;
    struct rulesdb_skips skips;

    memset(p, 0, sizeof(*p));
    if (addr_key_check(child_in, 0, p->child, sizeof(p->child), &kind, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "invalid child '%.80s': %s", child_in, why);
        return CONTACTPLAN_BAD_CHILD;
    }
    if (kind != AK_ADDRESS) {
        snprintf(err, errlen, "the child needs a full address (user@domain), not '%.80s'", child_in);
        return CONTACTPLAN_BAD_CHILD;
    }
    struct ruleset *rs = rulesdb_load(db, &skips, NULL, err, errlen);
    if (!rs)
        return CONTACTPLAN_ERROR;
    if (!decide_protected(rs, p->child, cfg->policy.recipient_delimiter)) {
        ruleset_free(rs);
        snprintf(err, errlen, "%s is not protected (guardlist protect %s first)", p->child, p->child);
        return CONTACTPLAN_BAD_CHILD;
    }
    struct decide_opts o = {
        .unknown_sender = cfg->policy.unknown_sender,
        .on_allow = cfg->policy.on_allow,
        .null_sender = cfg->policy.null_sender,
        .delims = cfg->policy.recipient_delimiter,
        .trusted_forwarders = &cfg->policy.trusted_forwarders,
    };
    if (!(p->v = calloc(c->n + 1, sizeof(*p->v)))) {
        ruleset_free(rs);
        snprintf(err, errlen, "out of memory");
        return CONTACTPLAN_ERROR;
    }
    for (size_t i = 0; i < c->n; i++) {
        p->v[i] = judge(rs, &o, c->e[i].addr, p->child);
        p->add += p->v[i] == CP_ADD;
        p->already += p->v[i] == CP_ALREADY;
        p->blocked += p->v[i] == CP_BLOCKED;
        p->unusable += p->v[i] == CP_UNUSABLE;
    }
    ruleset_free(rs);
    return 0;
}

void contactplan_free(struct contactplan *p)
{
    if (!p)
        return;
    free(p->v);
    p->v = NULL;
}

const char *contactplan_word(enum contactplan_verdict v, int dry)
{
    switch (v) {
    case CP_ADD:
        return dry ? "would add" : "add";
    case CP_ALREADY:
        return "already a contact";
    case CP_BLOCKED:
        return "blocked, left alone";
    default:
        return "not usable here, skipped";
    }
}

void contactplan_summary(const struct contacts *c, const struct contactplan *p, size_t added, int dry, char *out,
                         size_t outlen)
{
    size_t n = dry ? p->add : added, o;

    o = (size_t)snprintf(out, outlen, "%zu contact%s %s, %zu already contact%s, %zu blocked (left alone), %zu invalid",
                         n, n == 1 ? "" : "s", dry ? "would be added" : "added", p->already,
                         p->already == 1 ? "" : "s", p->blocked, c->ninvalid + p->unusable);
    if (c->ninvalid && o < outlen)
        o += (size_t)snprintf(out + o, outlen - o, " (line %lu: %s%s)", c->bad[0].line, c->bad[0].why,
                              c->ninvalid > 1 ? "; ..." : "");
    if (c->ndup && o < outlen)
        snprintf(out + o, outlen - o, ", %zu duplicate%s counted once", c->ndup, c->ndup == 1 ? "" : "s");
}

int contactplan_write(struct db *db, const char *actor, const struct contacts *c, const struct contactplan *p,
                      size_t *added, char *err, size_t errlen)
{
    char summary[900];
    const char **senders = calloc(p->add + 1, sizeof(*senders));
    size_t n = 0;

    *added = 0;
    if (!senders) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    for (size_t i = 0; i < c->n && n < p->add; i++)
        if (p->v[i] == CP_ADD)
            senders[n++] = c->e[i].addr;
    snprintf(summary, sizeof(summary), "child=%s added=%zu already=%zu blocked=%zu invalid=%zu", p->child, n,
             p->already, p->blocked, c->ninvalid + p->unusable);
    int rc = store_contacts_import(db, actor, p->child, senders, n, summary, added, err, errlen);
    free(senders);
    return rc;
}
