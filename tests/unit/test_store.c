/* test_store.c - unit tests of the parts of lib/store.c that need no
 * database: which challenges are for the null sender (decided by an admin
 * only), and that an admin may decide without a guardian check.  The
 * challenge row reader (spf_result included).  The
 * transactions themselves are tested against MariaDB (tests/integration/
 * 110_approve.t, 84_cli_pending.t, 150_web.t).  One row a case. */
#include "unit.h"
#include "store.h"

struct null_row {
    const char *name;
    const char *sender;
    int is_null;
};

static struct null_row null_rows[] = {
    {"null sender: <> (the stored key)", "<>", 1},
    {"null sender: empty (raw SQL)", "", 1},
    {"null sender: NULL", NULL, 1},
    {"null sender: an address is not", "mailer-daemon@example.org", 0},
    {"null sender: a domain is not", "example.org", 0},
    {"null sender: \" <> \" (an approval would store it as <>)", " <> ", 1},
    {"null sender: < > is not (no approval could allow it)", "< >", 0},
    {"null sender: an address in <> is not", "<a@example.org>", 0},
    {"null sender: <<>> is not", "<<>>", 0},
};

static void test_null(void **state)
{
    const struct null_row *row = *state;

    assert_int_equal(store_is_null_sender(row->sender), row->is_null);
}

/* An admin decides any challenge: no query is made (no database here). */
static void test_admin_needs_no_check(void **state)
{
    struct store_decider by = { STORE_BY_ADMIN, "admin", NULL };
    char err[200] = "";

    (void)state;
    assert_int_equal(store_decider_ok(NULL, &by, 1, "kid@family.test", err, sizeof(err)), 1);
    assert_string_equal(err, "");
}

/* The shared challenge row: every column where it belongs, NULL read as
 * "", the id as a number too, extra columns left to the caller. */
static void test_challenge_read(void **state)
{
    const char *col[STORE_CHALLENGE_NCOLS + 1] = {
        "42", "grandma@example.com", "kid+news@family.test", "kid@family.test", "pending",
        "2026-12-01 10:00:00", "2026-12-01 11:00:00", "3", "mx.example.com", "192.0.2.7", NULL, NULL,
        "kid@family.test grandma@example.com OK", "pass", "out", "extra",
    };
    struct store_challenge c;

    (void)state;
    assert_int_equal(store_challenge_read(&c, STORE_CHALLENGE_NCOLS + 1, col), STORE_CHALLENGE_NCOLS);
    assert_true(c.found);
    assert_true(c.id == 42);
    assert_string_equal(c.id_text, "42");
    assert_string_equal(c.sender, "grandma@example.com");
    assert_string_equal(c.recipient, "kid+news@family.test");
    assert_string_equal(c.key, "kid@family.test");
    assert_string_equal(c.status, "pending");
    assert_string_equal(c.first_seen, "2026-12-01 10:00:00");
    assert_string_equal(c.last_seen, "2026-12-01 11:00:00");
    assert_string_equal(c.attempts, "3");
    assert_string_equal(c.client_name, "mx.example.com");
    assert_string_equal(c.client_address, "192.0.2.7");
    assert_string_equal(c.decided_by, "");
    assert_string_equal(c.decided_at, "");
    assert_string_equal(c.decided_rule, "kid@family.test grandma@example.com OK");
    assert_string_equal(c.spf_result, "pass");
    assert_string_equal(c.direction, "out");
    assert_true(store_is_outbound(&c));
    assert_int_equal(store_challenge_row(&c, STORE_CHALLENGE_NCOLS, col, NULL), 0);
    assert_string_equal(c.recipient, "kid+news@family.test");
}

/* spf_result NULL (nothing was checked) reads as "", which lib/spfword.c
 * calls "not checked". */
static void test_challenge_spf_null(void **state)
{
    const char *col[STORE_CHALLENGE_NCOLS] = { "7", "a@example.com", "kid@family.test", "kid@family.test", "pending" };
    struct store_challenge c;

    (void)state;
    memset(&c, 'x', sizeof(c));
    assert_int_equal(store_challenge_read(&c, STORE_CHALLENGE_NCOLS, col), STORE_CHALLENGE_NCOLS);
    assert_string_equal(c.spf_result, "");
}

/* A row shorter than the type is an error, and leaves nothing behind. */
static void test_challenge_short(void **state)
{
    const char *col[3] = { "1", "a@example.com", "kid@family.test" };
    struct store_challenge c;

    (void)state;
    memset(&c, 'x', sizeof(c));
    assert_int_equal(store_challenge_read(&c, 3, col), -1);
    assert_false(c.found);
    assert_string_equal(c.sender, "");
    assert_int_equal(store_challenge_row(&c, 3, col, NULL), -1);
}

/* The rule an approval writes: a child's request (direction 'out') is for
 * the child's own address, not the wider protected key it matched (review
 * finding 5: one child's request made the contact every sibling's). */
struct rule_rcpt_row {
    const char *name;
    const char *recipient, *key, *direction, *expect;
};

static const struct rule_rcpt_row rule_rcpt_rows[] = {
    {"out: a domain key, the child's address", "kid1@family.test", "family.test", "out", "kid1@family.test"},
    {"out: a user@ key, the child's address", "kid@family.test", "kid@", "out", "kid@family.test"},
    {"out: its own key", "kid@family.test", "kid@family.test", "out", "kid@family.test"},
    {"in: the protected key", "kid1+x@family.test", "family.test", "in", "family.test"},
};

static void test_rule_recipient(void **state)
{
    const struct rule_rcpt_row *row = *state;
    const char *col[STORE_CHALLENGE_NCOLS] = { "1", "pal@x.test", row->recipient, row->key, "pending" };
    struct store_challenge c;

    col[STORE_CHALLENGE_NCOLS - 1] = row->direction;
    assert_int_equal(store_challenge_read(&c, STORE_CHALLENGE_NCOLS, col), STORE_CHALLENGE_NCOLS);
    assert_string_equal(store_rule_recipient(&c), row->expect);
}

static struct CMUnitTest tests[UNIT_LEN(null_rows) + UNIT_LEN(rule_rcpt_rows) + 4];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_null, null_rows);
    UNIT_ADD(tests, n, test_admin_needs_no_check);
    UNIT_ADD(tests, n, test_challenge_read);
    UNIT_ADD(tests, n, test_challenge_spf_null);
    UNIT_ADD(tests, n, test_challenge_short);
    UNIT_ADD_ROWS(tests, n, test_rule_recipient, rule_rcpt_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
