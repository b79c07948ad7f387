/* test_cover.c - unit tests of lib/cover.c's pure parts: which challenge
 * pairs a rule's keys reach (decide()'s keys: address, user@, a domain and
 * its subdomains), how the whole rules decide a pair (the most specific rule
 * wins; only allow and block close), and the words for a closing rule.
 * The closing itself runs against MariaDB (tests/integration/126_rule_closes.t).
 * One row a case. */
#include "unit.h"
#include "cover.h"

struct match_row {
    const char *name;
    const char *rule_rcpt, *rule_sender, *sender, *recipient;
    int want;
};

static struct match_row match_rows[] = {
    {"match: the address", "kid@family.test", "a@example.net", "a@example.net", "kid@family.test", 1},
    {"match: another address", "kid@family.test", "a@example.net", "b@example.net", "kid@family.test", 0},
    {"match: the domain", "kid@family.test", "example.net", "a@example.net", "kid@family.test", 1},
    {"match: a subdomain", "kid@family.test", "example.net", "x@sub.example.net", "kid@family.test", 1},
    {"match: a deeper subdomain", NULL, "example.net", "y@deep.sub.example.net", "kid@family.test", 1},
    {"match: a look-alike domain is not one", NULL, "example.net", "n@notexample.net", "kid@family.test", 0},
    {"match: a parent domain is not covered", NULL, "sub.example.net", "a@example.net", "kid@family.test", 0},
    {"match: user@ any domain", NULL, "someone@", "someone@any.example", "kid@family.test", 1},
    {"match: user@ is not another user", NULL, "someone@", "someoneelse@any.example", "kid@family.test", 0},
    {"match: another recipient key", "kid2@family.test", "a@example.net", "a@example.net", "kid@family.test", 0},
    {"match: a domain recipient key", "family.test", "a@example.net", "a@example.net", "kid@family.test", 1},
    {"match: a user@ recipient key", "kid@", "a@example.net", "a@example.net", "kid@family.test", 1},
    {"match: the null sender", NULL, "<>", "<>", "kid@family.test", 1},
    {"match: the null sender is no domain's", NULL, "example.net", "<>", "kid@family.test", 0},
    {"match: a global rule, any recipient", NULL, "a@example.net", "a@example.net", "other@else.test", 1},
    {"match: case is already folded in the stored keys", NULL, "example.net", "a@EXAMPLE.net", "kid@family.test", 1},
};

static void test_match(void **state)
{
    const struct match_row *row = *state;

    assert_int_equal(cover_matches(row->rule_rcpt, row->rule_sender, row->sender, row->recipient), row->want);
}

/* Rules: per-recipient (rcpt, sender, action) then global (NULL, sender, action). */
struct outcome_row {
    const char *name;
    const char *rules[4][3];
    const char *sender, *recipient;
    const char *want, *want_rule;
};

static struct outcome_row outcome_rows[] = {
    {"outcome: a domain allow", {{"kid@family.test", "example.net", "OK"}}, "x@sub.example.net", "kid@family.test",
     "approved", "kid@family.test example.net OK"},
    {"outcome: an address block beats a domain allow",
     {{"kid@family.test", "example.net", "OK"}, {"kid@family.test", "w@example.net", "REJECT"}},
     "w@example.net", "kid@family.test", "denied", "kid@family.test w@example.net REJECT"},
    {"outcome: a HOLD rule leaves it open", {{"kid@family.test", "h@example.net", "HOLD"}, {NULL, "example.net", "OK"}},
     "h@example.net", "kid@family.test", NULL, ""},
    {"outcome: a per-recipient rule beats a global one",
     {{"kid@family.test", "example.net", "REJECT Go away"}, {NULL, "a@example.net", "OK"}},
     "a@example.net", "kid@family.test", "denied", "kid@family.test example.net REJECT"},
    {"outcome: a global allow", {{NULL, "ext.example", "OK"}}, "pat@ext.example", "kid@family.test",
     "approved", "* ext.example OK"},
    {"outcome: another kid's rule decides nothing", {{"kid2@family.test", "example.net", "OK"}}, "a@example.net",
     "kid@family.test", NULL, ""},
    {"outcome: a 5NN rule is a block", {{NULL, "spam.example", "554 no"}}, "s@spam.example", "kid@family.test",
     "denied", "* spam.example REJECT"},
};

static void test_outcome(void **state)
{
    const struct outcome_row *row = *state;
    struct ruleset *rs = ruleset_new();
    char rule[COVER_RULE_MAX];

    assert_non_null(rs);
    assert_int_equal(ruleset_add(rs, RS_PROTECTED, row->recipient, NULL, "whitelist", 0), 1);
    for (int i = 0; i < 4 && row->rules[i][1]; i++) {
        if (row->rules[i][0]) {
            ruleset_add(rs, RS_RULE, row->rules[i][0], row->rules[i][1], row->rules[i][2], 0);
            ruleset_add(rs, RS_RULE_RCPT, row->rules[i][0], NULL, "", 0);
        } else {
            ruleset_add(rs, RS_GLOBAL, row->rules[i][1], NULL, row->rules[i][2], 0);
        }
    }
    const char *got = cover_outcome(rs, row->sender, row->recipient, rule, sizeof(rule));
    if (row->want)
        assert_string_equal(got ? got : "(none)", row->want);
    else
        assert_null(got);
    assert_string_equal(rule, row->want_rule);
    ruleset_free(rs);
}

struct describe_row {
    const char *name, *rule, *want;
};

static struct describe_row describe_rows[] = {
    {"describe: a domain", "kid@family.test example.net OK",
     "everyone at example.net and its subdomains was allowed for kid@family.test"},
    {"describe: an address block", "kid@family.test w@example.net REJECT", "w@example.net was blocked for kid@family.test"},
    {"describe: global", "* ext.example OK", "everyone at ext.example and its subdomains was allowed for every protected address"},
    {"describe: user@", "kid@ someone@ OK", "someone@ at any domain was allowed for kid@"},
    {"describe: empty", "", ""},
    {"describe: garbage", "one-word", ""},
};

static void test_describe(void **state)
{
    const struct describe_row *row = *state;
    char out[COVER_RULE_MAX + 300];

    cover_describe(row->rule, out, sizeof(out));
    assert_string_equal(out, row->want);
}

static struct CMUnitTest tests[UNIT_LEN(match_rows) + UNIT_LEN(outcome_rows) + UNIT_LEN(describe_rows)];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_match, match_rows);
    UNIT_ADD_ROWS(tests, n, test_outcome, outcome_rows);
    UNIT_ADD_ROWS(tests, n, test_describe, describe_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
