/* test_account.c - unit tests of lib/account.c: a SASL login's compared
 * form (account_login_fold) and which child a login is (account_child)
 * against a ruleset built here.  One row a case. */
#include "unit.h"
#include "account.h"

struct fold_row {
    const char *name, *in, *out;    /* out NULL: refused */
};

static char long_login[ACCOUNT_LOGIN_MAX + 2];

static const struct fold_row fold_rows[] = {
    {"plain", "kid", "kid"},
    {"ASCII capitals", "KiD@Mail.Family.TEST", "kid@mail.family.test"},
    {"A and Z, the ends of the range", "AZaz@Zed", "azaz@zed"},
    {"the bytes around A-Z kept", "@[`{", "@[`{"},
    {"non-ASCII kept as it is", "\xc3\x89mile", "\xc3\x89mile"},
    {"digits and punctuation", "kid.2+x_y-z", "kid.2+x_y-z"},
    {"empty", "", NULL},
    {"NULL", NULL, NULL},
    {"space", "kid one", NULL},
    {"tab", "kid\tone", NULL},
    {"newline", "kid\n", NULL},
    {"DEL", "kid\x7f", NULL},
    {"not UTF-8", "kid\xff", NULL},
    {"overlong UTF-8", "\xc0\xafkid", NULL},
    {"over the bound", long_login, NULL},
};

static void test_fold(void **state)
{
    const struct fold_row *row = *state;
    char out[ACCOUNT_LOGIN_MAX + 1], err[128] = "";

    int rc = account_login_fold(row->in, out, sizeof(out), err, sizeof(err));
    if (row->out) {
        assert_int_equal(rc, 0);
        assert_string_equal(out, row->out);
    } else {
        assert_int_equal(rc, -1);
        assert_true(err[0] != '\0');
    }
}

static void test_fold_at_bound(void **state)
{
    char in[ACCOUNT_LOGIN_MAX + 1], out[ACCOUNT_LOGIN_MAX + 1], small[8], err[128];

    (void)state;
    memset(in, 'K', ACCOUNT_LOGIN_MAX);
    in[ACCOUNT_LOGIN_MAX] = '\0';
    assert_int_equal(account_login_fold(in, out, sizeof(out), err, sizeof(err)), 0);
    assert_int_equal(strlen(out), ACCOUNT_LOGIN_MAX);
    assert_int_equal(out[0], 'k');
    /* A buffer too small is an error, never a cut login. */
    assert_int_equal(account_login_fold("kid@family.test", small, sizeof(small), err, sizeof(err)), -1);
}

struct child_row {
    const char *name, *login, *child;   /* child NULL: not a child */
};

static const struct child_row child_rows[] = {
    {"mapped login", "kid", "kid@family.test"},
    {"mapped login in capitals", "KID", "kid@family.test"},
    {"mapped address login", "Kid@Mail.Family.Test", "kid@family.test"},
    {"login is the child's address", "sis@family.test", "sis@family.test"},
    {"login covered by a protected domain", "anyone@school.test", "anyone@school.test"},
    {"mapped to an address no longer protected", "gone", NULL},
    {"protected login mapped to an unprotected address", "sis@family.test", "sis@family.test"},
    {"login mapped to an unprotected address, no address itself", "sis", NULL},
    {"unmapped login", "mum", NULL},
    {"unmapped address login", "mum@family.test", NULL},
    {"mapped to a covered address", "pupil", "pupil@school.test"},
    {"empty login", "", NULL},
    {"NULL login", NULL, NULL},
    {"over the bound", long_login, NULL},
};

static struct ruleset *rs;

static int build_rules(void **state)
{
    (void)state;
    memset(long_login, 'k', sizeof(long_login) - 1);
    rs = ruleset_new();
    if (!rs || ruleset_add(rs, RS_PROTECTED, "kid@family.test", NULL, "whitelist", 0) != 1
        || ruleset_add(rs, RS_PROTECTED, "sis@family.test", NULL, "whitelist", 0) != 1
        || ruleset_add(rs, RS_PROTECTED, "school.test", NULL, "whitelist", 0) != 1
        || ruleset_add(rs, RS_ACCOUNT, "kid", NULL, "kid@family.test", 0) != 1
        || ruleset_add(rs, RS_ACCOUNT, "kid@mail.family.test", NULL, "kid@family.test", 0) != 1
        || ruleset_add(rs, RS_ACCOUNT, "gone", NULL, "gone@family.test", 0) != 1
        || ruleset_add(rs, RS_ACCOUNT, "sis", NULL, "gone@family.test", 0) != 1
        || ruleset_add(rs, RS_ACCOUNT, "sis@family.test", NULL, "gone@family.test", 0) != 1
        || ruleset_add(rs, RS_ACCOUNT, "pupil", NULL, "pupil@school.test", 0) != 1)
        return -1;
    return 0;
}

static int free_rules(void **state)
{
    (void)state;
    ruleset_free(rs);
    return 0;
}

static void test_child(void **state)
{
    const struct child_row *row = *state;
    const char *got = account_child(rs, row->login, "+");

    if (!row->child) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, row->child);
}

static void test_child_no_rules(void **state)
{
    (void)state;
    assert_null(account_child(NULL, "kid", "+"));
}

static struct CMUnitTest tests[UNIT_LEN(fold_rows) + UNIT_LEN(child_rows) + 2];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_fold, fold_rows);
    UNIT_ADD(tests, n, test_fold_at_bound);
    UNIT_ADD_ROWS(tests, n, test_child, child_rows);
    UNIT_ADD(tests, n, test_child_no_rules);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, build_rules, free_rules);
}
