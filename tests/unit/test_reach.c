/* test_reach.c - unit tests of admin/reach.c, Postfix's address routing as
 * `guardlist doctor` models it: virtual aliases (recursion, catch-alls,
 * bare users, @domain results, extensions), local aliases, local domains.
 * Protection is decided as guardlistd does: the first addr_keys() key of
 * the address in the row's protected keys.  One row a case. */
#include "unit.h"
#include "addr.h"
#include "reach.h"

#define MAXE 8

struct reach_row {
    const char *name;
    const char *myorigin;
    const char *local[4];           /* $mydestination */
    const char *virt[MAXE];         /* "key=value" */
    const char *alias[MAXE];        /* "name=value" */
    const char *prot[4];            /* protected_users keys */
    const char *want;               /* "A:alias>reached;L:...;C:..." in report order */
    const char *warn;               /* a word some warning must contain, or NULL */
};

static struct reach_row rows[] = {
    /* UBSan found qsort(NULL, 0, ...) here under doctor on a clean setup. */
    {"no tables at all", "x.test", {0}, {0}, {0}, {0}, "", NULL},
    {"virtual alias to a protected address", "x.test", {0}, {"bob@x.test=kid@x.test"}, {0}, {"kid@x.test"},
     "A:bob@x.test>kid@x.test", NULL},
    {"a protected alias is no problem", "x.test", {0}, {"bob@x.test=kid@x.test"}, {0}, {"kid@x.test", "bob@x.test"},
     "", NULL},
    {"recursion a -> b -> kid", "x.test", {0}, {"a@x.test=b@x.test", "b@x.test=kid@x.test"}, {0}, {"kid@x.test"},
     "A:a@x.test>kid@x.test;A:b@x.test>kid@x.test", NULL},
    {"a list with a protected member", "x.test", {0}, {"family@x.test=dad@x.test, kid@x.test"}, {0}, {"kid@x.test"},
     "A:family@x.test>kid@x.test", NULL},
    {"a protected address fanning out makes no problem", "x.test", {0}, {"kid@x.test=kid@x.test, dad@x.test"}, {0},
     {"kid@x.test"}, "", NULL},
    {"mapping to itself and more", "x.test", {0}, {"list@x.test=list@x.test, kid@x.test"}, {0}, {"kid@x.test"},
     "A:list@x.test>kid@x.test", NULL},
    {"a loop without protection", "x.test", {0}, {"a@x.test=b@x.test", "b@x.test=a@x.test"}, {0}, {"kid@x.test"},
     "", NULL},
    {"catch-all to a protected address", "x.test", {0}, {"@c.test=kid@x.test"}, {0}, {"kid@x.test"},
     "C:@c.test>kid@x.test", NULL},
    {"catch-all renaming a domain", "x.test", {0}, {"@old.test=@new.test"}, {0}, {"kid@new.test"},
     "A:kid@old.test>kid@new.test", NULL},
    {"catch-all renaming, and a list", "x.test", {0}, {"@old.test=@new.test, log@x.test"}, {0},
     {"kid@new.test", "dad@new.test"}, "A:dad@old.test>dad@new.test;A:kid@old.test>kid@new.test", NULL},
    {"catch-all renaming to a protected domain", "x.test", {0}, {"@old.test=@new.test"}, {0}, {"new.test"},
     "C:@old.test>*@new.test", NULL},
    {"catch-all behind an explicit entry", "x.test", {0}, {"@c.test=kid@x.test", "kid@c.test=dad@x.test"}, {0},
     {"kid@x.test"}, "C:@c.test>kid@x.test", NULL},
    {"protecting the domain covers the catch-all", "x.test", {0}, {"@c.test=kid@x.test"}, {0}, {"kid@x.test", "c.test"},
     "", NULL},
    {"bare virtual user in $myorigin", "x.test", {0}, {"kidalias=kid@x.test"}, {0}, {"kid@x.test"},
     "A:kidalias@x.test>kid@x.test", NULL},
    {"bare virtual user in each local domain", "x.test", {"localhost", "x.test"}, {"ka=kid@v.test"}, {0},
     {"kid@v.test"}, "A:ka@localhost>kid@v.test;A:ka@x.test>kid@v.test", NULL},
    {"result without a domain gets $myorigin", "v.test", {0}, {"a@x.test=kid"}, {0}, {"kid@v.test"},
     "A:a@x.test>kid@v.test", NULL},
    {"guardlist's extension: kid+fan is kid's", "x.test", {0}, {"fan@x.test=kid+fan@x.test"}, {0}, {"kid@x.test"},
     "A:fan@x.test>kid+fan@x.test", NULL},
    {"local alias in every local domain", "x.test", {"localhost", "x.test"}, {0}, {"kidalias=kid"}, {"kid@x.test"},
     "L:kid@localhost>kid@x.test;A:kidalias@localhost>kid@x.test;A:kidalias@x.test>kid@x.test", NULL},
    {"local aliases recurse", "x.test", {"x.test"}, {0}, {"a=b", "b=kid"}, {"kid@x.test"},
     "A:a@x.test>kid@x.test;A:b@x.test>kid@x.test", NULL},
    {"local alias to a local address with a domain", "x.test", {"x.test", "localhost"}, {0}, {"a=kid@localhost"},
     {"kid@x.test"}, "A:a@localhost>kid@x.test;A:a@x.test>kid@x.test;L:kid@localhost>kid@x.test", NULL},
    {"local alias with an extension", "x.test", {"x.test"}, {0}, {"bob=kid+news"}, {"kid@x.test"},
     "A:bob@x.test>kid+news@x.test", NULL},
    {"the other local domains of a protected address", "x.test", {"x.test", "localhost", "mx.x.test"}, {0}, {0},
     {"kid@x.test"}, "L:kid@localhost>kid@x.test;L:kid@mx.x.test>kid@x.test", NULL},
    {"user@ protects every local domain", "x.test", {"x.test", "localhost"}, {0}, {"ka=kid"}, {"kid@"},
     "A:ka@localhost>kid@x.test;A:ka@x.test>kid@x.test", NULL},
    {"local alias forwarded through virtual", "x.test", {"localhost"}, {"fwd@v.test=kid@v.test"}, {"bob=fwd@v.test"},
     {"kid@v.test"}, "A:bob@localhost>kid@v.test;A:fwd@v.test>kid@v.test", NULL},
    {"virtual before local aliases", "x.test", {"x.test"}, {"bob@x.test=dad@v.test"}, {"bob=kid"}, {"kid@x.test"},
     "", NULL},
    {"commands and files are not followed", "x.test", {"x.test"}, {0}, {"bob=\"|/bin/cat\", /tmp/f"}, {"kid@x.test"},
     "", NULL},
    {":include: is warned about", "x.test", {"x.test"}, {0}, {"list=:include:/etc/postfix/list"}, {"kid@x.test"},
     "", "includes"},
    {"a refused alias is no problem", "x.test", {0}, {"a%b@x.test=kid@x.test"}, {0}, {"kid@x.test"}, "", NULL},
};

struct ctx {
    const struct reach_row *row;
    char got[4000];
    char warns[2000];
};

static enum reach_prot prot(void *arg, const char *a, char *key, size_t keylen)
{
    const struct ctx *c = arg;
    struct addr ad;
    struct addr_keys k;
    char err[100];

    if (addr_parse(a, "+", &ad, err, sizeof(err)) < 0 || !ad.domain[0] || strchr(ad.local, '%'))
        return REACH_REFUSED;
    addr_keys(&ad, &k);
    for (size_t i = 0; i < k.n; i++)
        for (size_t j = 0; j < UNIT_LEN(c->row->prot) && c->row->prot[j]; j++)
            if (strcmp(k.key[i], c->row->prot[j]) == 0) {
                snprintf(key, keylen, "%s", k.key[i]);
                return REACH_PROTECTED;
            }
    return REACH_OPEN;
}

static void found(void *arg, const struct reach_finding *f)
{
    struct ctx *c = arg;
    size_t l = strlen(c->got);

    snprintf(c->got + l, sizeof(c->got) - l, "%s%c:%s>%s", l ? ";" : "", "ALC"[f->kind], f->alias, f->reached);
    assert_non_null(f->path);
    assert_non_null(f->key);
    assert_true(f->kind == REACH_LOCAL ? f->table == NULL : f->table != NULL);
}

static void warned(void *arg, const char *msg)
{
    struct ctx *c = arg;
    size_t l = strlen(c->warns);
    snprintf(c->warns + l, sizeof(c->warns) - l, "%s\n", msg);
}

/* Adds "key=value" entries of ROWS to R in table T. */
static void add_entries(struct reach *r, int t, int alias, const char *const *e, size_t n)
{
    for (size_t i = 0; i < n && e[i]; i++) {
        char buf[300], err[200];
        snprintf(buf, sizeof(buf), "%s", e[i]);
        char *eq = strchr(buf, '=');
        assert_non_null(eq);
        *eq = '\0';
        if (reach_entry(r, t, alias, buf, eq + 1, err, sizeof(err)) != 0)
            fail_msg("entry %s: %s", e[i], err);
    }
}

static void test_reach(void **state)
{
    const struct reach_row *row = *state;
    struct ctx c = { row, "", "" };
    struct reach *r = reach_new(row->myorigin, "+", 1);

    assert_non_null(r);
    for (size_t i = 0; i < UNIT_LEN(row->local) && row->local[i]; i++)
        assert_int_equal(reach_local_domain(r, row->local[i]), 0);
    int tv = reach_table(r, "virtual_alias_maps texthash:/v"), ta = reach_table(r, "alias_maps hash:/a");
    add_entries(r, tv, 0, row->virt, MAXE);
    add_entries(r, ta, 1, row->alias, MAXE);
    for (size_t i = 0; i < UNIT_LEN(row->prot) && row->prot[i]; i++)
        assert_int_equal(reach_protected(r, row->prot[i]), 0);
    long n = reach_check(r, prot, found, warned, &c);
    assert_string_equal(c.got, row->want);
    assert_true(n >= 0);
    if (row->warn)
        assert_contains(c.warns, row->warn);
    else if (c.warns[0])
        fail_msg("unexpected warning: %s", c.warns);
    reach_free(r);
}

static void test_first_table_wins(void **state)
{
    struct reach_row row = { "first table wins", "x.test", {0}, {0}, {0}, {"kid@x.test"}, "", NULL };
    struct ctx c = { &row, "", "" };
    struct reach *r = reach_new("x.test", "+", 1);
    char err[200];

    (void)state;
    assert_non_null(r);
    assert_int_equal(reach_entry(r, reach_table(r, "t1"), 0, "bob@x.test", "dad@x.test", err, sizeof(err)), 0);
    assert_int_equal(reach_entry(r, reach_table(r, "t2"), 0, "BOB@x.test", "kid@x.test", err, sizeof(err)), 1);
    assert_int_equal(reach_check(r, prot, found, warned, &c), 0);
    assert_int_equal(reach_entry(r, 0, 0, "a\001@x.test", "kid@x.test", err, sizeof(err)), -1);
    assert_int_equal(reach_entry(r, 0, 0, "a@x.test", "\"kid@x.test", err, sizeof(err)), -1);
    assert_contains(err, "quote");
    assert_int_equal(reach_entry(r, 0, 1, "a@x.test", "kid", err, sizeof(err)), -1);
    reach_free(r);
}

/* A chain longer than the depth bound stops with a warning, never crashes. */
static void test_depth_bound(void **state)
{
    struct reach_row row = { "depth", "x.test", {0}, {0}, {0}, {"kid@x.test"}, "", NULL };
    struct ctx *c = calloc(1, sizeof(*c));
    struct reach *r = reach_new("x.test", "+", 1);
    char k[64], v[64], err[200];
    const int len = REACH_DEPTH_MAX + 10;

    (void)state;
    assert_non_null(r);
    assert_non_null(c);
    c->row = &row;
    int t = reach_table(r, "t");
    for (int i = 0; i < len; i++) {
        snprintf(k, sizeof(k), "a%d@x.test", i);
        if (i + 1 < len)
            snprintf(v, sizeof(v), "a%d@x.test", i + 1);
        else
            snprintf(v, sizeof(v), "kid@x.test");
        assert_int_equal(reach_entry(r, t, 0, k, v, err, sizeof(err)), 0);
    }
    long n = reach_check(r, prot, found, warned, c);
    assert_true(n > 0 && n < len);
    assert_contains(c->warns, "stopped");
    assert_null(strstr(c->got, "A:a0@x.test>"));
    reach_free(r);
    free(c);
}

/* Hostile tables cannot make a run endless: past the work limit it stops
 * and says what it left unchecked. */
static void test_work_limit(void **state)
{
    struct reach_row row = { "work", "x.test", {0}, {0}, {0}, {"kid@x.test"}, "", NULL };
    struct ctx *c = calloc(1, sizeof(*c));
    struct reach *r = reach_new("x.test", "+", 1);
    char k[64], v[64], err[200];

    (void)state;
    assert_non_null(r);
    assert_non_null(c);
    c->row = &row;
    int t = reach_table(r, "t");
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof(k), "a%02d@x.test", i);
        snprintf(v, sizeof(v), i < 49 ? "a%02d@x.test" : "kid@x.test", i + 1);
        assert_int_equal(reach_entry(r, t, 0, k, v, err, sizeof(err)), 0);
    }
    reach_limit(r, 100);
    long n = reach_check(r, prot, found, warned, c);
    assert_true(n >= 0 && n < 50);
    assert_contains(c->warns, "checking stopped after 100 address expansions");
    assert_contains(c->warns, "more addresses not checked");
    reach_free(r);
    free(c);
}

static struct CMUnitTest tests[UNIT_LEN(rows) + 3];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_reach, rows);
    UNIT_ADD(tests, n, test_first_table_wins);
    UNIT_ADD(tests, n, test_depth_bound);
    UNIT_ADD(tests, n, test_work_limit);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
