/* test_rulesdb.c - unit tests of lib/rulesdb.c's rule merging
 * (rulesdb_add_rule), the part of loading that needs no database: the key
 * columns are binary, so 'pal@x.example' and 'PAL@x.example' are two rows
 * that fold to one key, and their order in a table scan or in an
 * incremental refresh must not decide whether the sender is refused.
 * One row a case: the actions of the rows in the order read, the action
 * the key ends with, and how many rows were counted as unusable. */
#include "unit.h"
#include "decide.h"
#include "rulesdb.h"

struct merge_row {
    const char *name;
    enum rs_kind kind;
    const char *actions[4];     /* NULL-terminated, in the order the rows are read */
    const char *want;
    size_t skipped;
};

static struct merge_row merge_rows[] = {
    {"allow then block: the block replaces the allow", RS_GLOBAL, {"OK", "REJECT", NULL}, "REJECT", 0},
    {"block then allow: the block stays", RS_GLOBAL, {"REJECT", "OK", NULL}, "REJECT", 0},
    {"per-recipient allow then block: the block replaces the allow", RS_RULE, {"OK", "REJECT", NULL}, "REJECT", 0},
    {"per-recipient block then allow: the block stays", RS_RULE, {"REJECT", "OK", NULL}, "REJECT", 0},
    {"allow then 5NN text: the refusal replaces the allow", RS_GLOBAL, {"OK", "554 5.7.1 no", NULL},
     "554 5.7.1 no", 0},
    {"allow then DEFER_IF_PERMIT: replaces the allow", RS_RULE, {"OK", "DEFER_IF_PERMIT later", NULL},
     "DEFER_IF_PERMIT later", 0},
    {"numeric allow then block: the block replaces it", RS_GLOBAL, {"200", "REJECT", NULL}, "REJECT", 0},
    {"allow then allow: the first stays", RS_GLOBAL, {"OK", "ok", NULL}, "OK", 0},
    {"block then another block: the first stays", RS_GLOBAL, {"REJECT first", "REJECT second", NULL},
     "REJECT first", 0},
    {"invalid action alone: kept, answering 451", RS_GLOBAL, {"BOGUS", NULL}, REPLY_TEMPFAIL, 1},
    {"allow then invalid: the 451 replaces the allow", RS_RULE, {"OK", "BOGUS", NULL}, REPLY_TEMPFAIL, 1},
    {"invalid then allow: the 451 stays", RS_RULE, {"BOGUS", "OK", NULL}, REPLY_TEMPFAIL, 1},
    {"allow, block, allow: still the block", RS_GLOBAL, {"OK", "REJECT", "OK", NULL}, "REJECT", 0},
};

static void test_merge(void **state)
{
    const struct merge_row *row = *state;
    struct ruleset *rs = ruleset_new();
    struct rulesdb_skips skips = { 0, "" };
    const char *k1 = row->kind == RS_RULE ? "kid@family.test" : "pal@x.example";
    const char *k2 = row->kind == RS_RULE ? "pal@x.example" : NULL;

    assert_non_null(rs);
    for (size_t i = 0; row->actions[i]; i++)
        assert_int_equal(rulesdb_add_rule(rs, row->kind, k1, k2, row->actions[i], &skips), 0);
    const char *got = ruleset_get(rs, row->kind, k1, k2);
    char msg[200];
    snprintf(msg, sizeof msg, "%s", got ? got : "(none)");
    ruleset_free(rs);
    assert_string_equal(msg, row->want);
    assert_int_equal(skips.count, row->skipped);
}

/* The end the merging serves: the decision for the sender. */
static void test_merge_decides(void **state)
{
    struct ruleset *rs = ruleset_new();
    struct rulesdb_skips skips = { 0, "" };
    struct decide_opts opts = { UNKNOWN_DEFER, "DUNNO", NULL_REJECT, "+", NULL, 0, 0, 0, 0 };
    struct decision d;

    (void)state;
    assert_non_null(rs);
    assert_int_equal(ruleset_add(rs, RS_PROTECTED, "kid@family.test", NULL, "whitelist", 0), 1);
    assert_int_equal(rulesdb_add_rule(rs, RS_GLOBAL, "pal@x.example", NULL, "OK", &skips), 0);
    assert_int_equal(rulesdb_add_rule(rs, RS_GLOBAL, "pal@x.example", NULL, "REJECT", &skips), 0);
    decide(rs, &opts, "RCPT", "PAL@x.example", "kid@family.test", NULL, &d);
    char reply[sizeof d.reply];
    memcpy(reply, d.reply, sizeof reply);
    ruleset_free(rs);
    assert_string_equal(reply, REPLY_ACCESS_DENIED);
}

static struct CMUnitTest tests[UNIT_LEN(merge_rows) + 1];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_merge, merge_rows);
    UNIT_ADD(tests, n, test_merge_decides);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
