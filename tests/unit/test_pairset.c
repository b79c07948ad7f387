/* test_pairset.c - unit tests of daemon/pairset.c: pairs are found by both
 * halves exactly, state survives, and the set never grows past its bound. */
#include "unit.h"
#include "pairset.h"

struct key_row {
    const char *name;
    const char *put_s, *put_r;      /* the pair stored */
    const char *get_s, *get_r;      /* the pair looked up */
    int found;
};

static struct key_row key_rows[] = {
    {"pairset: the same pair is found", "a@x.test", "kid@f.test", "a@x.test", "kid@f.test", 1},
    {"pairset: another sender is not", "a@x.test", "kid@f.test", "b@x.test", "kid@f.test", 0},
    {"pairset: another recipient is not", "a@x.test", "kid@f.test", "a@x.test", "kid2@f.test", 0},
    {"pairset: halves swapped are another pair", "a@x.test", "kid@f.test", "kid@f.test", "a@x.test", 0},
    {"pairset: the split point matters (ab|c vs a|bc)", "ab", "c", "a", "bc", 0},
    {"pairset: a prefix of the sender is another pair", "a@x.test", "kid@f.test", "a@x.tes", "kid@f.test", 0},
    {"pairset: the null sender is a pair like any", "", "kid@f.test", "", "kid@f.test", 1},
    {"pairset: empty vs non-empty sender differ", "", "kid@f.test", "a", "kid@f.test", 0},
};

static void test_key(void **state)
{
    const struct key_row *row = *state;
    struct pairset *ps = pairset_new(16);

    assert_non_null(ps);
    struct pair_entry *e = pairset_put(ps, row->put_s, row->put_r);
    assert_non_null(e);
    e->recorded = 1;
    e->hits = 7;
    struct pair_entry *g = pairset_get(ps, row->get_s, row->get_r);
    if (row->found) {
        assert_ptr_equal(g, e);
        assert_int_equal(g->recorded, 1);
        assert_int_equal(g->hits, 7);
    } else {
        assert_null(g);
    }
    assert_ptr_equal(pairset_put(ps, row->put_s, row->put_r), e);  /* put of a present pair: same entry */
    assert_int_equal(pairset_count(ps), 1);
    pairset_free(ps);
}

static void test_new_entry_zeroed(void **state)
{
    (void)state;
    struct pairset *ps = pairset_new(4);
    struct pair_entry *e = pairset_put(ps, "s@x.test", "r@y.test");

    assert_non_null(e);
    assert_int_equal(e->recorded, 0);
    assert_int_equal(e->closed, 0);
    assert_int_equal(e->refresh_out, 0);
    assert_int_equal(e->hits, 0);
    assert_int_equal(e->warned, 0);
    assert_int_equal(e->none_window, 0);
    pairset_free(ps);
}

/* Filling past the bound forgets what was there; the count never exceeds it. */
static void test_bound(void **state)
{
    (void)state;
    struct pairset *ps = pairset_new(100);
    char s[64];

    for (int i = 0; i < 1000; i++) {
        snprintf(s, sizeof(s), "stranger%d@x.test", i);
        if (pairset_put(ps, s, "kid@f.test"))
            assert_true(pairset_count(ps) <= 100);
    }
    assert_true(pairset_count(ps) <= 100);
    assert_true(pairset_count(ps) > 0);
    assert_non_null(pairset_get(ps, "stranger999@x.test", "kid@f.test"));  /* the newest is kept */
    assert_null(pairset_get(ps, "stranger0@x.test", "kid@f.test"));
    pairset_free(ps);
}

static void test_clear(void **state)
{
    (void)state;
    struct pairset *ps = pairset_new(10);

    pairset_put(ps, "a", "b");
    pairset_put(ps, "c", "d");
    assert_int_equal(pairset_count(ps), 2);
    pairset_clear(ps);
    assert_int_equal(pairset_count(ps), 0);
    assert_null(pairset_get(ps, "a", "b"));
    assert_non_null(pairset_put(ps, "a", "b"));
    pairset_free(ps);
    pairset_free(NULL);
    pairset_clear(NULL);
}

/* After the rules change every pair is checked again, but retries already
 * answered and writes still out are not forgotten. */
static void test_unverify(void **state)
{
    (void)state;
    struct pairset *ps = pairset_new(10);
    struct pair_entry *e = pairset_put(ps, "a", "b");

    e->recorded = e->closed = e->refresh_out = 1;
    e->hits = 5;
    e->none_window = 3;
    pairset_unverify(ps);
    e = pairset_get(ps, "a", "b");
    assert_non_null(e);
    assert_int_equal(e->recorded, 0);
    assert_int_equal(e->closed, 0);
    assert_int_equal(e->none_window, 0);     /* "no open challenge" is checked again too */
    assert_int_equal(e->refresh_out, 1);
    assert_int_equal(e->hits, 5);
    assert_int_equal(pairset_count(ps), 1);
    pairset_unverify(NULL);
    pairset_free(ps);
}

static struct CMUnitTest tests[UNIT_LEN(key_rows) + 4];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_key, key_rows);
    UNIT_ADD(tests, n, test_new_entry_zeroed);
    UNIT_ADD(tests, n, test_bound);
    UNIT_ADD(tests, n, test_clear);
    UNIT_ADD(tests, n, test_unverify);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
