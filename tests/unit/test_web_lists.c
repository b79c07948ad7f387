/* test_web_lists.c - unit tests of web/lists.c's pure pieces: the LIKE
 * pattern of a search (folded as keys are, escaped, cut whole) and the
 * paging cursors of a GET.  One row a case. */
#include "unit.h"
#include "web.h"

/* ---- lists_like_pattern ---- */

struct like_row {
    const char *name;
    const char *q;
    size_t outlen;              /* 0: the size the lists use */
    const char *want;
};

static struct like_row like_rows[] = {
    {"like: no text matches everything", "", 0, "%%"},
    {"like: text matches anywhere", "kid", 0, "%kid%"},
    {"like: the text is folded as keys are", "Kid@Family.TEST", 0, "%kid@family.test%"},
    {"like: outer <> are removed as from keys", "<Kid@family.test>", 0, "%kid@family.test%"},
    {"like: % _ and ! are escaped with !", "a%b_c!d", 0, "%a!%b!_c!!d%"},
    {"like: spaces inside are kept", "A B", 0, "%a b%"},
    {"like: text a key cannot be is used as typed", "A\x01" "B", 0, "%A\x01" "B%"},
    {"like: a short buffer cuts the text", "abcdef", 7, "%ab%"},
    {"like: a cut never leaves half an escape", "a%b", 7, "%a!%%"},
    {"like: a cut before an escape drops it whole", "a%b", 6, "%a%"},
    {"like: three bytes hold the empty pattern", "abc", 3, "%%"},
};

static void test_like(void **state)
{
    const struct like_row *row = *state;
    char out[3 * WEB_SEARCH_MAX + 4];

    memset(out, 'x', sizeof(out));
    lists_like_pattern(row->q, out, row->outlen ? row->outlen : sizeof(out));
    assert_string_equal(out, row->want);
}

/* ---- lists_read ---- */

struct read_row {
    const char *name;
    const char *page;
    const char *query;          /* the GET's query string */
    int rc;
    const char *q, *r, *after;
};

#define A100 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static struct read_row read_rows[] = {
    {"read: nothing asked", "protected", "", 0, "", "", ""},
    {"read: search text and recipient", "rules", "q=kid&r=kid%40family.test", 0, "kid", "kid@family.test", ""},
    {"read: a cursor of digits", "protected", "after=12345", 0, "", "", "12345"},
    {"read: twenty digits are a cursor", "rules", "after=12345678901234567890", 0, "", "",
     "12345678901234567890"},
    {"read: twenty-one digits are not", "rules", "after=123456789012345678901", 0, "", "", ""},
    {"read: a cursor with a letter is ignored", "pending", "after=12a", 0, "", "", ""},
    {"read: a negative cursor is ignored", "pending", "after=-1", 0, "", "", ""},
    {"read: an empty cursor is none", "global", "after=", 0, "", "", ""},
    {"read: the audit log pages with before", "audit", "before=77", 0, "", "", "77"},
    {"read: the audit log ignores after", "audit", "after=77", 0, "", "", ""},
    {"read: other lists ignore before", "rules", "before=77", 0, "", "", ""},
    {"read: 100 bytes of search text are fine", "search", "q=" A100, 0, A100, "", ""},
    {"read: 101 bytes of search text are too long", "search", "q=" A100 "a", -1, NULL, NULL, NULL},
};

static void test_read(void **state)
{
    static const char *const fields[] = { "p", "q", "r", "after", "before", NULL };
    const struct read_row *row = *state;
    struct lists_view v = { row->page, NULL, NULL, NULL };
    struct form f;
    char err[200];

    assert_int_equal(form_parse(row->query, strlen(row->query), fields, &f, err, sizeof(err)), 0);
    assert_int_equal(lists_read(&v, &f), row->rc);
    assert_string_equal(v.page, row->page);
    if (row->rc < 0)
        return;
    assert_string_equal(v.q, row->q);
    assert_string_equal(v.r, row->r);
    assert_string_equal(v.after, row->after);
}

static struct CMUnitTest tests[UNIT_LEN(like_rows) + UNIT_LEN(read_rows)];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_like, like_rows);
    UNIT_ADD_ROWS(tests, n, test_read, read_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
