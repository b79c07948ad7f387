/* test_ruleset.c - unit tests of lib/ruleset.c: the in-memory copy of the
 * rule tables the decision path reads.  Kinds are separate namespaces, the
 * two key parts never run together, values are interned.  One row a case. */
#include "unit.h"
#include "ruleset.h"

/* A row is a list of adds (with the expected ruleset_add result) followed by
 * a list of lookups (with the expected value, NULL for absent). */
struct add_op {
    enum rs_kind kind;
    const char *k1, *k2, *value;
    int replace;
    int rc;
};

struct get_op {
    enum rs_kind kind;
    const char *k1, *k2;
    const char *want;
};

struct count_op {
    enum rs_kind kind;
    size_t n;
};

struct set_row {
    const char *name;
    struct add_op add[8];
    size_t nadd;
    struct get_op get[8];
    size_t nget;
    struct count_op count[4];
    size_t ncount;
};

static struct set_row set_rows[] = {
    {"empty set finds nothing", {{0}}, 0,
     {{RS_PROTECTED, "kid@family.test", NULL, NULL}, {RS_RULE, "a", "b", NULL}}, 2,
     {{RS_PROTECTED, 0}, {RS_GLOBAL, 0}, {RS_RULE, 0}, {RS_CLOSED, 0}}, 4},
    {"kinds are separate namespaces",
     {{RS_PROTECTED, "a@b.c", NULL, "whitelist", 0, 1},
      {RS_GLOBAL, "a@b.c", NULL, "OK", 0, 1},
      {RS_RULE_RCPT, "a@b.c", NULL, "", 0, 1}}, 3,
     {{RS_PROTECTED, "a@b.c", NULL, "whitelist"},
      {RS_GLOBAL, "a@b.c", NULL, "OK"},
      {RS_RULE_RCPT, "a@b.c", NULL, ""},
      {RS_RULE, "a@b.c", NULL, NULL},
      {RS_CLOSED, "a@b.c", NULL, NULL}}, 5,
     {{RS_PROTECTED, 1}, {RS_GLOBAL, 1}, {RS_RULE_RCPT, 1}, {RS_RULE, 0}}, 4},
    {"k2 separates (a,bc) from (ab,c)",
     {{RS_RULE, "a", "bc", "OK", 0, 1}}, 1,
     {{RS_RULE, "a", "bc", "OK"}, {RS_RULE, "ab", "c", NULL}, {RS_RULE, "abc", NULL, NULL},
      {RS_RULE, "a", NULL, NULL}}, 4,
     {{RS_RULE, 1}}, 1},
    {"(a,bc) and (ab,c) are two entries",
     {{RS_RULE, "a", "bc", "OK", 0, 1}, {RS_RULE, "ab", "c", "REJECT", 0, 1}}, 2,
     {{RS_RULE, "a", "bc", "OK"}, {RS_RULE, "ab", "c", "REJECT"}}, 2,
     {{RS_RULE, 2}}, 1},
    {"closed pair is keyed by (sender, recipient) in that order",
     {{RS_CLOSED, "s@x.test", "kid@family.test", "denied", 0, 1}}, 1,
     {{RS_CLOSED, "s@x.test", "kid@family.test", "denied"},
      {RS_CLOSED, "kid@family.test", "s@x.test", NULL}}, 2,
     {{RS_CLOSED, 1}}, 1},
    {"existing key keeps its first value without replace",
     {{RS_GLOBAL, "s@x.test", NULL, "OK", 0, 1}, {RS_GLOBAL, "s@x.test", NULL, "REJECT", 0, 0}}, 2,
     {{RS_GLOBAL, "s@x.test", NULL, "OK"}}, 1,
     {{RS_GLOBAL, 1}}, 1},
    {"replace overwrites the value",
     {{RS_GLOBAL, "s@x.test", NULL, "OK", 0, 1}, {RS_GLOBAL, "s@x.test", NULL, "REJECT", 1, 0}}, 2,
     {{RS_GLOBAL, "s@x.test", NULL, "REJECT"}}, 1,
     {{RS_GLOBAL, 1}}, 1},
    {"empty value is a value, not absence",
     {{RS_RULE_RCPT, "kid@family.test", NULL, "", 0, 1}}, 1,
     {{RS_RULE_RCPT, "kid@family.test", NULL, ""}, {RS_RULE_RCPT, "kid@family.tes", NULL, NULL}},
     2, {{RS_RULE_RCPT, 1}}, 1},
    {"lookups are exact (no prefix match)",
     {{RS_PROTECTED, "kid@family.test", NULL, "whitelist", 0, 1}}, 1,
     {{RS_PROTECTED, "kid@family.tes", NULL, NULL}, {RS_PROTECTED, "kid@family.test.", NULL, NULL},
      {RS_PROTECTED, "", NULL, NULL}}, 3,
     {{RS_PROTECTED, 1}}, 1},
};

static void test_set(void **state)
{
    const struct set_row *row = *state;
    struct ruleset *rs = ruleset_new();

    assert_non_null(rs);
    for (size_t i = 0; i < row->nadd; i++) {
        const struct add_op *op = &row->add[i];
        int rc = ruleset_add(rs, op->kind, op->k1, op->k2, op->value, op->replace);
        if (rc != op->rc) {
            ruleset_free(rs);
            fail_msg("add %zu (%s,%s) returned %d, expected %d", i, op->k1,
                     op->k2 ? op->k2 : "NULL", rc, op->rc);
        }
    }
    for (size_t i = 0; i < row->nget; i++) {
        const struct get_op *op = &row->get[i];
        const char *got = ruleset_get(rs, op->kind, op->k1, op->k2);
        if (op->want == NULL ? got != NULL : (got == NULL || strcmp(got, op->want) != 0)) {
            char msg[256];
            snprintf(msg, sizeof msg, "get %zu (%s,%s): got \"%s\", expected \"%s\"", i, op->k1,
                     op->k2 ? op->k2 : "NULL", got ? got : "NULL", op->want ? op->want : "NULL");
            ruleset_free(rs);
            fail_msg("%s", msg);
        }
    }
    for (size_t i = 0; i < row->ncount; i++) {
        size_t got = ruleset_count(rs, row->count[i].kind);
        if (got != row->count[i].n) {
            ruleset_free(rs);
            fail_msg("count of kind %d is %zu, expected %zu", (int)row->count[i].kind, got,
                     row->count[i].n);
        }
    }
    ruleset_free(rs);
}

/* Growth well past 100,000 entries: every key is still found. */
static void test_growth(void **state)
{
    enum { N = 150000 };
    struct ruleset *rs = ruleset_new();
    char k1[64], k2[64];

    (void)state;
    assert_non_null(rs);
    for (unsigned i = 0; i < N; i++) {
        snprintf(k1, sizeof k1, "rcpt%u@family.test", i % 1000);
        snprintf(k2, sizeof k2, "sender%u@example.com", i);
        assert_int_equal(ruleset_add(rs, RS_RULE, k1, k2, (i % 3 == 0) ? "REJECT" : "OK", 0), 1);
    }
    for (unsigned i = 0; i < N; i++) {
        snprintf(k1, sizeof k1, "rcpt%u@family.test", i % 1000);
        snprintf(k2, sizeof k2, "sender%u@example.com", i);
        const char *v = ruleset_get(rs, RS_RULE, k1, k2);
        if (v == NULL || strcmp(v, (i % 3 == 0) ? "REJECT" : "OK") != 0) {
            ruleset_free(rs);
            fail_msg("entry %u lost after growth (got %s)", i, v ? v : "NULL");
        }
        /* the same sender for another recipient was never added */
        snprintf(k1, sizeof k1, "rcpt%u@family.test", (i + 1) % 1000);
        if (ruleset_get(rs, RS_RULE, k1, k2) != NULL) {
            ruleset_free(rs);
            fail_msg("entry %u found under the wrong recipient", i);
        }
    }
    assert_int_equal(ruleset_count(rs, RS_RULE), N);
    assert_true(ruleset_bytes(rs) > 0);
    ruleset_free(rs);
}

/* Values are interned: equal values share one string, and a value is a copy. */
static void test_interned(void **state)
{
    struct ruleset *rs = ruleset_new();
    char value[16];
    const char *a, *b, *c;

    (void)state;
    assert_non_null(rs);
    snprintf(value, sizeof value, "OK");
    assert_int_equal(ruleset_add(rs, RS_GLOBAL, "a@example.com", NULL, value, 0), 1);
    assert_int_equal(ruleset_add(rs, RS_RULE, "kid@family.test", "b@example.com", "OK", 0), 1);
    assert_int_equal(ruleset_add(rs, RS_GLOBAL, "c@example.com", NULL, "REJECT", 0), 1);
    snprintf(value, sizeof value, "XX");     /* the caller's buffer changes */
    a = ruleset_get(rs, RS_GLOBAL, "a@example.com", NULL);
    b = ruleset_get(rs, RS_RULE, "kid@family.test", "b@example.com");
    c = ruleset_get(rs, RS_GLOBAL, "c@example.com", NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_string_equal(a, "OK");
    assert_string_equal(b, "OK");
    assert_ptr_equal(a, b);
    assert_string_equal(c, "REJECT");
    ruleset_free(rs);
}

/* Keys are copies too. */
static void test_key_copied(void **state)
{
    struct ruleset *rs = ruleset_new();
    char k1[32], k2[32];

    (void)state;
    assert_non_null(rs);
    snprintf(k1, sizeof k1, "kid@family.test");
    snprintf(k2, sizeof k2, "s@example.com");
    assert_int_equal(ruleset_add(rs, RS_RULE, k1, k2, "OK", 0), 1);
    memset(k1, 'z', sizeof k1 - 1);
    memset(k2, 'z', sizeof k2 - 1);
    assert_string_equal(ruleset_get(rs, RS_RULE, "kid@family.test", "s@example.com"), "OK");
    ruleset_free(rs);
}

static void test_key_too_long(void **state)
{
    struct ruleset *rs = ruleset_new();
    char *key = malloc(70000);

    (void)state;
    assert_non_null(rs);
    assert_non_null(key);
    memset(key, 'k', 69999);
    key[69999] = '\0';
    assert_int_equal(ruleset_add(rs, RS_GLOBAL, key, NULL, "OK", 0), -1);
    assert_int_equal(ruleset_add(rs, RS_RULE, "kid@family.test", key, "OK", 0), -1);
    assert_null(ruleset_get(rs, RS_GLOBAL, key, NULL));
    assert_int_equal(ruleset_count(rs, RS_GLOBAL), 0);
    free(key);
    ruleset_free(rs);
}

static void test_generation(void **state)
{
    struct ruleset *rs = ruleset_new();

    (void)state;
    assert_non_null(rs);
    ruleset_set_generation(rs, 42ULL);
    assert_true(ruleset_generation(rs) == 42ULL);
    ruleset_set_generation(rs, 18446744073709551615ULL);
    assert_true(ruleset_generation(rs) == 18446744073709551615ULL);
    ruleset_free(rs);
}

static void test_free_null(void **state)
{
    (void)state;
    ruleset_free(NULL);
}

/* A clone answers like its source, grows on its own, and leaves the source
 * (which the event loop may be reading) untouched; references keep a set
 * alive until the last holder frees it. */
static void test_clone(void **state)
{
    (void)state;
    struct ruleset *rs = ruleset_new();
    char k[64];

    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "s%d@x.test", i);
        assert_int_equal(ruleset_add(rs, RS_GLOBAL, k, NULL, i % 2 ? "OK" : "REJECT", 0), 1);
    }
    ruleset_set_generation(rs, 41);
    struct ruleset *c = ruleset_clone(rs);
    assert_non_null(c);
    assert_string_equal(ruleset_get(c, RS_GLOBAL, "s7@x.test", NULL), "OK");
    assert_string_equal(ruleset_get(c, RS_GLOBAL, "s4998@x.test", NULL), "REJECT");
    assert_int_equal(ruleset_count(c, RS_GLOBAL), 5000);
    assert_int_equal(ruleset_generation(c), 41);
    for (int i = 5000; i < 20000; i++) {        /* enough to grow the clone's table and arena */
        snprintf(k, sizeof(k), "s%d@x.test", i);
        assert_int_equal(ruleset_add(c, RS_GLOBAL, k, NULL, "OK", 0), 1);
    }
    assert_int_equal(ruleset_add(c, RS_GLOBAL, "s8@x.test", NULL, "DISCARD", 1), 0);
    assert_string_equal(ruleset_get(c, RS_GLOBAL, "s8@x.test", NULL), "DISCARD");
    assert_string_equal(ruleset_get(rs, RS_GLOBAL, "s8@x.test", NULL), "REJECT");
    assert_null(ruleset_get(rs, RS_GLOBAL, "s19999@x.test", NULL));
    assert_int_equal(ruleset_count(rs, RS_GLOBAL), 5000);
    assert_int_equal(ruleset_count(c, RS_GLOBAL), 20000);

    assert_ptr_equal(ruleset_ref(rs), rs);
    ruleset_free(rs);                           /* one holder left */
    assert_string_equal(ruleset_get(rs, RS_GLOBAL, "s1@x.test", NULL), "OK");
    ruleset_free(rs);
    ruleset_free(c);
}

static struct CMUnitTest tests[UNIT_LEN(set_rows) + 7];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_set, set_rows);
    UNIT_ADD(tests, n, test_growth);
    UNIT_ADD(tests, n, test_interned);
    UNIT_ADD(tests, n, test_key_copied);
    UNIT_ADD(tests, n, test_key_too_long);
    UNIT_ADD(tests, n, test_generation);
    UNIT_ADD(tests, n, test_free_null);
    UNIT_ADD(tests, n, test_clone);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
