/* test_strcopy.c - unit tests of lib/strcopy.h: what fits is copied whole,
 * what does not is cut at the buffer's end, always terminated, never
 * written past, and the cut is reported. */
#include "unit.h"
#include "strcopy.h"

struct copy_row {
    const char *name;
    size_t len;                 /* the buffer's size given */
    const char *first, *second; /* appended in turn (second may be NULL) */
    const char *want;           /* what the buffer holds */
    int want_rc;                /* of the last append */
};

static struct copy_row copy_rows[] = {
    {"strcopy: a string that fits is copied whole", 16, "kid@family.test", NULL, "kid@family.test", 0},
    {"strcopy: one byte short of room is cut, terminated", 15, "kid@family.test", NULL, "kid@family.tes", -1},
    {"strcopy: an empty string gives an empty buffer", 8, "", NULL, "", 0},
    {"strcopy: two appends join", 32, "sender_rules:", "kid@family.test", "sender_rules:kid@family.test", 0},
    {"strcopy: the second append is cut at the end", 18, "sender_rules:", "kid@family.test", "sender_rules:kid@", -1},
    {"strcopy: a full buffer takes nothing more", 6, "abcde", "f", "abcde", -1},
    {"strcopy: a buffer of one byte holds only the terminator", 1, "abc", NULL, "", -1},
};

static void test_copy(void **state)
{
    const struct copy_row *row = *state;
    char buf[64];
    size_t at = 0;

    memset(buf, 'X', sizeof(buf));
    int rc = str_append(buf, row->len, &at, row->first);
    if (row->second)
        rc = str_append(buf, row->len, &at, row->second);
    assert_string_equal(buf, row->want);
    assert_int_equal(at, strlen(row->want));
    assert_int_equal(rc, row->want_rc);
    for (size_t i = row->len; i < sizeof(buf); i++)     /* nothing written past the size given */
        assert_int_equal(buf[i], 'X');
}

/* str_copy() is snprintf(dst, len, "%s", src) without the printf. */
static void test_copy_like_snprintf(void **state)
{
    const char *src[] = { "", "a", "kid@family.test", "a much longer text than the buffer holds" };
    (void)state;

    for (size_t i = 0; i < UNIT_LEN(src); i++)
        for (size_t len = 1; len < 24; len++) {
            char a[24], b[24];
            int rc = str_copy(a, len, src[i]);
            int n = snprintf(b, len, "%s", src[i]);
            assert_string_equal(a, b);
            assert_int_equal(rc, (size_t)n >= len ? -1 : 0);
        }
}

/* str_append_n() copies a prefix: the base of kid+ext@; str_concat() joins. */
static void test_append_n(void **state)
{
    char buf[16];
    size_t at = 0;
    (void)state;

    assert_int_equal(str_append_n(buf, sizeof(buf), &at, "kid+ext", 3), 0);
    assert_int_equal(str_append(buf, sizeof(buf), &at, "@"), 0);
    assert_string_equal(buf, "kid@");
    at = sizeof(buf);
    assert_int_equal(str_append(buf, sizeof(buf), &at, "x"), -1);    /* past the end: nothing */
    assert_string_equal(buf, "kid@");
    at = 0;                                                             /* str_concat: joined, cut reported */
    assert_int_equal(str_concat(buf, sizeof(buf), &at, "whitelist:", "kid@", (const char *)NULL), 0);
    assert_string_equal(buf, "whitelist:kid@");
    assert_int_equal(str_concat(buf, sizeof(buf), &at, "family", ".test", (const char *)NULL), -1);
    assert_string_equal(buf, "whitelist:kid@f");
}

static struct CMUnitTest tests[UNIT_LEN(copy_rows) + 2];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_copy, copy_rows);
    UNIT_ADD(tests, n, test_copy_like_snprintf);
    UNIT_ADD(tests, n, test_append_n);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
