/* test_spfcache.c - unit tests of daemon/spfcache.c: a verdict is found for
 * its own (domain, client) only, until it expires; the table never holds
 * more than its bound, and a full set gives up the entry that expires first;
 * and spfpool_key(), the key a verdict is kept under. */
#include "unit.h"
#include "spfcache.h"
#include "spfpool.h"

struct key_row {
    const char *name;
    const char *put_d, *put_c;
    const char *get_d, *get_c;
    int found;
};

static struct key_row key_rows[] = {
    {"spfcache: the same key is found", "pass.test", "192.0.2.9", "pass.test", "192.0.2.9", 1},
    {"spfcache: another client is not", "pass.test", "192.0.2.9", "pass.test", "192.0.2.66", 0},
    {"spfcache: another domain is not", "pass.test", "192.0.2.9", "soft.test", "192.0.2.9", 0},
    {"spfcache: the split point matters (ab|c vs a|bc)", "ab", "c", "a", "bc", 0},
    {"spfcache: a parent domain is another key", "mail.pass.test", "192.0.2.9", "pass.test", "192.0.2.9", 0},
};

static void test_key(void **state)
{
    const struct key_row *row = *state;
    struct spfcache *sc = spfcache_new(64);
    enum spf_verdict v = SPF_V_NONE;

    assert_non_null(sc);
    assert_int_equal(spfcache_put(sc, row->put_d, row->put_c, SPF_V_FAIL, 100, 130), 0);
    assert_int_equal(spfcache_get(sc, row->get_d, row->get_c, 100, &v), row->found);
    if (row->found)
        assert_int_equal(v, SPF_V_FAIL);
    assert_int_equal(spfcache_count(sc), 1);
    spfcache_free(sc);
}

struct expiry_row {
    const char *name;
    time_t now;
    int found;
};

static struct expiry_row expiry_rows[] = {
    {"spfcache: found before it expires", 129, 1},
    {"spfcache: gone the second it expires", 130, 0},
    {"spfcache: gone after", 4000, 0},
};

static void test_expiry(void **state)
{
    const struct expiry_row *row = *state;
    struct spfcache *sc = spfcache_new(8);
    enum spf_verdict v;

    assert_int_equal(spfcache_put(sc, "d.test", "192.0.2.1", SPF_V_PASS, 100, 130), 0);
    assert_int_equal(spfcache_get(sc, "d.test", "192.0.2.1", row->now, &v), row->found);
    spfcache_free(sc);
}

/* A new verdict for a key replaces the old one in place. */
static void test_replace(void **state)
{
    struct spfcache *sc = spfcache_new(8);
    enum spf_verdict v;

    (void)state;
    spfcache_put(sc, "d.test", "192.0.2.1", SPF_V_TEMPERROR, 0, 10);
    spfcache_put(sc, "d.test", "192.0.2.1", SPF_V_PASS, 5, 300);
    assert_int_equal(spfcache_count(sc), 1);
    assert_int_equal(spfcache_get(sc, "d.test", "192.0.2.1", 200, &v), 1);
    assert_int_equal(v, SPF_V_PASS);
    spfcache_free(sc);
}

/* Many more keys than the bound: never more than the capacity held, and
 * the newest verdict of a key is always the one found. */
static void test_bound(void **state)
{
    struct spfcache *sc = spfcache_new(100);
    char d[64];
    enum spf_verdict v;

    (void)state;
    assert_int_equal(spfcache_capacity(sc), 128);   /* 32 sets of 4 */
    for (int i = 0; i < 5000; i++) {
        snprintf(d, sizeof(d), "d%d.test", i);
        assert_int_equal(spfcache_put(sc, d, "192.0.2.1", SPF_V_NONE, 0, 1000 + i), 0);
        assert_true(spfcache_count(sc) <= spfcache_capacity(sc));
        assert_int_equal(spfcache_get(sc, d, "192.0.2.1", 0, &v), 1);
    }
    assert_int_equal(spfcache_count(sc), 128);
    spfcache_clear(sc);
    assert_int_equal(spfcache_count(sc), 0);
    assert_int_equal(spfcache_get(sc, "d4999.test", "192.0.2.1", 0, &v), 0);
    spfcache_free(sc);
    spfcache_free(NULL);
}

/* One set (a table of 4): an expired entry goes first, else the one that
 * expires first; the others stay. */
static void test_eviction(void **state)
{
    struct spfcache *sc = spfcache_new(1);
    enum spf_verdict v;

    (void)state;
    assert_int_equal(spfcache_capacity(sc), SPFCACHE_WAYS);
    spfcache_put(sc, "a.test", "c", SPF_V_PASS, 0, 500);
    spfcache_put(sc, "b.test", "c", SPF_V_PASS, 0, 100);     /* expires first */
    spfcache_put(sc, "c.test", "c", SPF_V_PASS, 0, 900);
    spfcache_put(sc, "d.test", "c", SPF_V_PASS, 0, 700);
    spfcache_put(sc, "e.test", "c", SPF_V_FAIL, 50, 800);    /* full: b goes */
    assert_int_equal(spfcache_get(sc, "b.test", "c", 50, &v), 0);
    assert_int_equal(spfcache_get(sc, "a.test", "c", 50, &v), 1);
    assert_int_equal(spfcache_get(sc, "e.test", "c", 50, &v), 1);
    assert_int_equal(v, SPF_V_FAIL);
    spfcache_put(sc, "f.test", "c", SPF_V_NONE, 600, 1000);  /* a (500) has expired: it goes, not d (700) */
    assert_int_equal(spfcache_get(sc, "a.test", "c", 600, &v), 0);
    assert_int_equal(spfcache_get(sc, "d.test", "c", 600, &v), 1);
    assert_int_equal(spfcache_get(sc, "f.test", "c", 600, &v), 1);
    assert_int_equal(spfcache_count(sc), SPFCACHE_WAYS);
    spfcache_free(sc);
}

struct pool_key_row {
    const char *name;
    const char *sender, *domain, *helo;
    const char *key;            /* NULL: -1 (does not fit) */
};

static struct pool_key_row pool_key_rows[] = {
    {"spfpool_key: local part, domain and HELO, lower case", "Alice@LM.test", "lm.test", "MX.Example",
     "alice@lm.test\nmx.example"},
    {"spfpool_key: another local part is another key (%{l})", "grandma@lm.test", "lm.test", "mx.example",
     "grandma@lm.test\nmx.example"},
    {"spfpool_key: no HELO", "a@pass.test", "pass.test", NULL, "a@pass.test\n"},
    {"spfpool_key: the domain judged, not the one written", "a@b\xc3\xbc" "cher.test", "xn--bcher-kva.test", "",
     "a@xn--bcher-kva.test\n"},
    {"spfpool_key: the last '@' splits", "\"x@y\"@pass.test", "pass.test", "h", "\"x@y\"@pass.test\nh"},
    {"spfpool_key: too long for the buffer", "a@pass.test", "pass.test", "0123456789012345678901234567890", NULL},
};

static void test_pool_key(void **state)
{
    const struct pool_key_row *row = *state;
    char out[40];

    if (!row->key) {
        assert_int_equal(spfpool_key(row->sender, row->domain, row->helo, out, sizeof(out)), -1);
        return;
    }
    assert_int_equal(spfpool_key(row->sender, row->domain, row->helo, out, sizeof(out)), 0);
    assert_string_equal(out, row->key);
}

static struct CMUnitTest tests[UNIT_LEN(key_rows) + UNIT_LEN(expiry_rows) + UNIT_LEN(pool_key_rows) + 3];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_key, key_rows);
    UNIT_ADD_ROWS(tests, n, test_expiry, expiry_rows);
    UNIT_ADD(tests, n, test_replace);
    UNIT_ADD(tests, n, test_bound);
    UNIT_ADD(tests, n, test_eviction);
    UNIT_ADD_ROWS(tests, n, test_pool_key, pool_key_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
