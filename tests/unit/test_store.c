/* test_store.c - unit tests of the parts of lib/store.c that need no
 * database: which challenges are for the null sender (decided by an admin
 * only), and that an admin may decide without a guardian check.  The
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

static struct CMUnitTest tests[UNIT_LEN(null_rows) + 1];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_null, null_rows);
    UNIT_ADD(tests, n, test_admin_needs_no_check);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
