/* test_web_auth.c - unit tests of web/auth.c: who the admin page's user is
 * (the shape of REMOTE_USER, admin or guardian) and the form tokens (made
 * for one user, under one key, for a limited time).  One row a case. */
#include "unit.h"
#include "web.h"

#include <ctype.h>
#include <time.h>

/* ---- auth_identify ---- */

struct identify_row {
    const char *name;
    const char *user;           /* REMOTE_USER, may be NULL */
    const char *admins;         /* [web] admins */
    int served;
    int is_admin;
    const char *user_key;       /* when served */
};

#define U128 "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu" \
             "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"

static struct identify_row identify_rows[] = {
    {"identify: no REMOTE_USER is nobody", NULL, "admin", 0, 0, NULL},
    {"identify: an empty REMOTE_USER is nobody", "", "*", 0, 0, NULL},
    {"identify: markup in the name is refused", "odd<name>", "*", 0, 0, NULL},
    {"identify: a space in the name is refused", "a b", "*", 0, 0, NULL},
    {"identify: a newline in the name is refused", "admin\n", "admin", 0, 0, NULL},
    {"identify: non-ASCII is refused", "m\xc3\xbcm@family.test", "*", 0, 0, NULL},
    {"identify: 128 bytes are accepted", U128, "", 1, 0, U128},
    {"identify: 129 bytes are refused", U128 "u", "*", 0, 0, NULL},
    {"identify: without admins every login is a guardian", "admin", "", 1, 0, "admin"},
    {"identify: a listed user is an admin", "admin", "admin", 1, 1, "admin"},
    {"identify: admins may be separated by commas and spaces", "root", "admin, \troot", 1, 1, "root"},
    {"identify: a prefix of a listed name is not it", "admin", "administrator", 1, 0, "admin"},
    {"identify: a listed name's prefix is not it", "administrator", "admin", 1, 0, "administrator"},
    {"identify: names are compared exactly (case too)", "Admin", "admin", 1, 0, "admin"},
    {"identify: * makes everyone an admin", "parent@family.test", "*", 1, 1, "parent@family.test"},
    {"identify: the scope key is the name in lower case", "Parent@Family.TEST", "", 1, 0, "parent@family.test"},
    {"identify: . _ @ + - are allowed", "a.b_c+d-e@f.test", "", 1, 0, "a.b_c+d-e@f.test"},
};

static void test_identify(void **state)
{
    const struct identify_row *row = *state;
    struct web w = { 0 };
    const char *why = auth_identify(&w, row->user, row->admins);

    if (!row->served) {
        assert_non_null(why);
        assert_string_equal(w.user, "");
        assert_int_equal(w.is_admin, 0);
        return;
    }
    assert_null(why);
    assert_string_equal(w.user, row->user);
    assert_string_equal(w.user_key, row->user_key);
    assert_int_equal(w.is_admin, row->is_admin);
    assert_prefix(w.actor, "web:");
    assert_string_equal(w.actor + 4, row->user);
}

/* ---- auth_token_make / auth_token_ok ---- */

enum spoil { KEEP, OTHER_USER, OTHER_KEY, FLIP_HEX, CUT_HEX, ADD_HEX, UPPER_HEX, NO_DOT, LITERAL };

struct token_row {
    const char *name;
    long long age;              /* seconds before now the token was made (negative: in the future) */
    enum spoil spoil;
    const char *literal;        /* LITERAL: the token checked, may be NULL */
    int ok;
};

static struct token_row token_rows[] = {
    {"token: a fresh token is good", 0, KEEP, NULL, 1},
    {"token: eleven hours old is still good", 11 * 3600, KEEP, NULL, 1},
    {"token: just under twelve hours is good", 12 * 3600 - 60, KEEP, NULL, 1},
    {"token: over twelve hours is stale", 12 * 3600 + 60, KEEP, NULL, 0},
    {"token: four minutes ahead (clock skew) is good", -240, KEEP, NULL, 1},
    {"token: six minutes ahead is refused", -360, KEEP, NULL, 0},
    {"token: another user's token is refused", 0, OTHER_USER, NULL, 0},
    {"token: a token under another key is refused", 0, OTHER_KEY, NULL, 0},
    {"token: one hex digit changed is refused", 0, FLIP_HEX, NULL, 0},
    {"token: a digit short is refused", 0, CUT_HEX, NULL, 0},
    {"token: a digit too many is refused", 0, ADD_HEX, NULL, 0},
    {"token: upper-case hex is refused", 0, UPPER_HEX, NULL, 0},
    {"token: without the dot it is refused", 0, NO_DOT, NULL, 0},
    {"token: none is refused", 0, LITERAL, NULL, 0},
    {"token: empty is refused", 0, LITERAL, "", 0},
    {"token: a bare time is refused", 0, LITERAL, "1700000000.", 0},
    {"token: a sign in front is refused", 0, LITERAL, "+1700000000.0000", 0},
    {"token: garbage is refused", 0, LITERAL, "abc.def", 0},
};

static void identify(struct web *w, const char *user, const char *secret)
{
    assert_null(auth_identify(w, user, ""));
    snprintf(w->secret, sizeof(w->secret), "%s", secret);
}

static void test_token(void **state)
{
    const struct token_row *row = *state;
    struct web maker = { 0 }, checker = { 0 };
    char t[sizeof(maker.csrf) + 2];

    identify(&maker, "parent@family.test", "0123456789abcdef0123456789abcdef");
    identify(&checker, "parent@family.test", "0123456789abcdef0123456789abcdef");
    if (row->spoil == OTHER_USER)
        identify(&maker, "other@family.test", "0123456789abcdef0123456789abcdef");
    if (row->spoil == OTHER_KEY)
        identify(&maker, "parent@family.test", "fedcba9876543210fedcba9876543210");
    auth_token_make(&maker, (long long)time(NULL) - row->age, t, sizeof(t));
    assert_non_null(strchr(t, '.'));
    assert_int_equal(strlen(strchr(t, '.') + 1), 2 * SHA256_LEN);
    size_t n = strlen(t);
    switch (row->spoil) {
    case FLIP_HEX: t[n - 1] = t[n - 1] == '0' ? '1' : '0'; break;
    case CUT_HEX: t[n - 1] = '\0'; break;
    case ADD_HEX: strcat(t, "0"); break;
    case UPPER_HEX:
        for (char *p = strchr(t, '.'); *p; p++)     /* 64 digits without a letter: 1 in 10^13 */
            *p = (char)toupper((unsigned char)*p);
        break;
    case NO_DOT: memmove(strchr(t, '.'), strchr(t, '.') + 1, strlen(strchr(t, '.'))); break;
    default: break;
    }
    assert_int_equal(auth_token_ok(&checker, row->spoil == LITERAL ? row->literal : t), row->ok);
}

/* The token fits the page's buffer exactly; a failed HMAC (no key) gives
 * "", which is never good. */
static void test_token_sizes(void **state)
{
    struct web w = { 0 };

    (void)state;
    identify(&w, "admin", "0123456789abcdef");
    auth_token_make(&w, (long long)time(NULL), w.csrf, sizeof(w.csrf));
    assert_true(strlen(w.csrf) > 2 * SHA256_LEN + 1);
    assert_int_equal(auth_token_ok(&w, w.csrf), 1);
    assert_int_equal(auth_token_ok(&w, ""), 0);
}

static struct CMUnitTest tests[UNIT_LEN(identify_rows) + UNIT_LEN(token_rows) + 1];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_identify, identify_rows);
    UNIT_ADD_ROWS(tests, n, test_token, token_rows);
    UNIT_ADD(tests, n, test_token_sizes);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
