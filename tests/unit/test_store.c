/* test_store.c - unit tests of the parts of lib/store.c that need no
 * database: an admin may decide without a guardian check.  The
 * transactions themselves are tested against MariaDB (tests/integration/
 * 110_approve.t, 84_cli_pending.t, 150_web.t). */
#include "unit.h"
#include "store.h"

/* An admin decides any challenge: no query is made (no database here). */
static void test_admin_needs_no_check(void **state)
{
    struct store_decider by = { STORE_BY_ADMIN, "admin", NULL };
    char err[200] = "";

    (void)state;
    assert_int_equal(store_decider_ok(NULL, &by, 1, "kid@family.test", err, sizeof(err)), 1);
    assert_string_equal(err, "");
}

static struct CMUnitTest tests[1];

int main(void)
{
    size_t n = 0;

    UNIT_ADD(tests, n, test_admin_needs_no_check);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
