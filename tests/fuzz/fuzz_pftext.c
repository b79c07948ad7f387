/*
 * fuzz_pftext - libFuzzer target for what `guardlist doctor` reads from
 * Postfix (admin/pftext.c) and the routing model it feeds (admin/reach.c):
 * the output of `postmap -s` / `postalias -s`, alias values, parameter
 * lists, policy service arguments and actions.
 *
 * Input: one selector byte, then lines.  Bit 0: the lines are postalias
 * output (else postmap); bit 1: extensions propagate through virtual.
 * Every line goes through pftext_table_line(); the entries it accepts into a
 * model with two local domains, whose reach_check() then runs; the whole
 * text also goes through pftext_split(), pftext_targets(),
 * pftext_policy_arg(), pftext_action_holds() and pftext_service_matches().
 * Invariants: an accepted line has a non-empty key and value without
 * control characters (tabs aside); every item, destination and endpoint is a
 * terminated string within its bound; every finding names an address that
 * is not protected and a protected one it reaches, and a path from the
 * first to the second.  No files, no network.
 */
#include "fuzz.h"
#include "addr.h"
#include "pftext.h"
#include "reach.h"

#include <stdint.h>
#include <string.h>

static const char *const protected_keys[] = { "kid@x.test", "kid@", "safe.test", "kid+a@v.test" };

static enum reach_prot prot(void *arg, const char *a, char *key, size_t keylen)
{
    struct addr ad;
    static struct addr_keys k;
    char err[100];

    (void)arg;
    if (addr_parse(a, "+", &ad, err, sizeof(err)) < 0 || !ad.domain[0])
        return REACH_REFUSED;
    addr_keys(&ad, &k);
    for (size_t i = 0; i < k.n; i++)
        for (size_t j = 0; j < sizeof(protected_keys) / sizeof(protected_keys[0]); j++)
            if (strcmp(k.key[i], protected_keys[j]) == 0) {
                FUZZ_CHECK(snprintf(key, keylen, "%s", k.key[i]) < (int)keylen);
                return REACH_PROTECTED;
            }
    return REACH_OPEN;
}

static void found(void *arg, const struct reach_finding *f)
{
    char key[ADDR_MAX + 2];

    (void)arg;
    FUZZ_CHECK(f->alias && f->reached && f->key && f->path);
    FUZZ_CHECK(f->kind == REACH_LOCAL ? f->table == NULL : f->table != NULL);
    FUZZ_CHECK(prot(NULL, f->reached, key, sizeof(key)) == REACH_PROTECTED);
    FUZZ_CHECK(strcmp(key, f->key) == 0);
    if (f->kind != REACH_CATCHALL)
        FUZZ_CHECK(prot(NULL, f->alias, key, sizeof(key)) == REACH_OPEN);
    FUZZ_CHECK(strstr(f->path, " -> ") != NULL);
}

static void warned(void *arg, const char *msg)
{
    (void)arg;
    FUZZ_CHECK(msg && strlen(msg) < 1000);
}

static int target(void *arg, enum pftext_target_kind kind, const char *t)
{
    (void)arg;
    FUZZ_CHECK(kind <= PFT_INCLUDE);
    FUZZ_CHECK(strlen(t) <= PFTEXT_TARGET_MAX);
    return 0;
}

static void check_text(const char *s)
{
    struct pftext_list l;
    char err[300], ep[256], da[256], why[300];

    if (pftext_split(s, &l, err, sizeof(err)) == 0) {
        FUZZ_CHECK(l.n <= PFTEXT_ITEMS_MAX);
        for (size_t i = 0; i < l.n; i++) {
            FUZZ_CHECK(l.item[i][0] && !strchr(" \t\n\r,", l.item[i][0]));
            pftext_policy_arg(l.item[i], ep, sizeof(ep), da, sizeof(da));
            FUZZ_CHECK(fuzz_terminated(ep, sizeof(ep)) && fuzz_terminated(da, sizeof(da)));
            pftext_service_matches(l.item[i], "inet:127.0.0.1:10040", "/var/spool/postfix");
            pftext_service_matches("unix:private/g", l.item[i], "/var/spool/postfix");
            pftext_permit_who(l.item[i]);
            pftext_takes_arg(l.item[i]);
        }
    }
    pftext_list_free(&l);
    pftext_targets(s, target, NULL, err, sizeof(err));
    FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
    pftext_action_holds(s, why, sizeof(why));
    FUZZ_CHECK(fuzz_terminated(why, sizeof(why)));
}

/* Feeds each line of TEXT to the model R as a table entry. */
static void add_lines(struct reach *r, char *text, int alias)
{
    int t = reach_table(r, "fuzz");
    char err[300];

    FUZZ_CHECK(t >= 0);
    for (char *line = text, *next; line; line = next) {
        char *key, *value;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (pftext_table_line(line, alias, &key, &value) != 0)
            continue;
        FUZZ_CHECK(*key && *value);
        for (const unsigned char *p = (const unsigned char *)key; *p; p++)
            FUZZ_CHECK(*p >= 0x20 || *p == '\t');
        reach_entry(r, t, alias, key, value, err, sizeof(err));
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
        /* The same line as a virtual entry too, so both kinds meet. */
        if (alias && strchr(key, '@') == NULL)
            reach_entry(r, t, 0, key, value, err, sizeof(err));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int alias = data[0] & 1, propagate = (data[0] >> 1) & 1;
    char *text = fuzz_cstr(data + 1, size - 1);

    check_text(text);
    struct reach *r = reach_new("x.test", "+-", propagate);
    FUZZ_CHECK(r != NULL);
    FUZZ_CHECK(reach_local_domain(r, "x.test") == 0 && reach_local_domain(r, "localhost") == 0);
    reach_limit(r, 20000);      /* the bound itself, not hours of expansion */
    for (size_t j = 0; j < sizeof(protected_keys) / sizeof(protected_keys[0]); j++)
        FUZZ_CHECK(reach_protected(r, protected_keys[j]) == 0);
    add_lines(r, text, alias);
    FUZZ_CHECK(reach_check(r, prot, found, warned, NULL) >= 0);
    reach_free(r);
    free(text);
    return 0;
}
