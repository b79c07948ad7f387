/* test_action.c - unit tests of lib/action.c: which access(5) actions a rule
 * table may hold, and how each is classified (ALLOW / BLOCK / OTHER).
 * One row a case. */
#include "unit.h"
#include "action.h"

#include <strings.h>

enum cmp { EXACT, ICASE };

struct action_row {
    const char *name;
    const char *in;
    int rc;
    enum action_kind kind;
    const char *out;        /* the trimmed action */
    enum cmp cmp;           /* how OUT is compared: the case of a keyword may be kept or folded */
};

static struct action_row action_rows[] = {
    {"ok: OK", "OK", 0, ACTION_ALLOW, "OK", EXACT},
    {"ok: ok (any case)", "ok", 0, ACTION_ALLOW, "ok", ICASE},
    {"ok: \" OK \" trimmed", " OK ", 0, ACTION_ALLOW, "OK", EXACT},
    {"ok: all-numeric is ALLOW", "1234", 0, ACTION_ALLOW, "1234", EXACT},
    {"ok: REJECT", "REJECT", 0, ACTION_BLOCK, "REJECT", EXACT},
    {"ok: REJECT Access denied", "REJECT Access denied", 0, ACTION_BLOCK,
     "REJECT Access denied", EXACT},
    {"ok: reject custom", "reject custom", 0, ACTION_BLOCK, "reject custom", ICASE},
    {"ok: 554 5.7.1 no is BLOCK", "554 5.7.1 no", 0, ACTION_BLOCK, "554 5.7.1 no", EXACT},
    {"ok: 550 text is BLOCK", "550 go away", 0, ACTION_BLOCK, "550 go away", EXACT},
    {"ok: 450 4.7.1 later is OTHER", "450 4.7.1 later", 0, ACTION_OTHER, "450 4.7.1 later", EXACT},
    {"ok: DEFER_IF_PERMIT x", "DEFER_IF_PERMIT x", 0, ACTION_OTHER, "DEFER_IF_PERMIT x", EXACT},
    {"ok: DEFER_IF_REJECT x", "DEFER_IF_REJECT x", 0, ACTION_OTHER, "DEFER_IF_REJECT x", EXACT},
    {"ok: DEFER x", "DEFER x", 0, ACTION_OTHER, "DEFER x", EXACT},
    {"ok: DUNNO", "DUNNO", 0, ACTION_OTHER, "DUNNO", EXACT},
    {"ok: HOLD", "HOLD", 0, ACTION_OTHER, "HOLD", EXACT},
    {"ok: DISCARD", "DISCARD", 0, ACTION_OTHER, "DISCARD", EXACT},
    {"ok: PREPEND X-Header: v", "PREPEND X-Header: v", 0, ACTION_OTHER, "PREPEND X-Header: v",
     EXACT},
    {"ok: REDIRECT a@b.c", "REDIRECT a@b.c", 0, ACTION_OTHER, "REDIRECT a@b.c", EXACT},
    {"ok: BCC a@b.c", "BCC a@b.c", 0, ACTION_OTHER, "BCC a@b.c", EXACT},
    {"ok: FILTER smtp:[127.0.0.1]:10025", "FILTER smtp:[127.0.0.1]:10025", 0, ACTION_OTHER,
     "FILTER smtp:[127.0.0.1]:10025", EXACT},
    {"ok: WARN text", "WARN text", 0, ACTION_OTHER, "WARN text", EXACT},
    {"ok: INFO text", "INFO text", 0, ACTION_OTHER, "INFO text", EXACT},
    {"bad: empty", "", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: blanks only", "   ", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: PERMIT2", "PERMIT2", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: OKAY", "OKAY", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: REJECT\\nfoo", "REJECT\nfoo", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: REJECT\\r\\nfoo", "REJECT\r\nfoo", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: control char in text", "REJECT a\x01" "b", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: invalid UTF-8 in text", "REJECT \xff\xfe", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: 350 text", "350 text", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: 600 x", "600 x", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: 250 text", "250 text", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: REDIRECT needs an argument", "REDIRECT", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: REDIRECT with blank argument", "REDIRECT   ", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: PREPEND needs an argument", "PREPEND", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: FILTER needs an argument", "FILTER", -1, ACTION_OTHER, NULL, EXACT},
    {"bad: BCC needs an argument", "BCC", -1, ACTION_OTHER, NULL, EXACT},
};

static void test_action(void **state)
{
    const struct action_row *row = *state;
    char out[ACTION_MAX + 1];
    char err[256] = "";
    enum action_kind kind = (enum action_kind)-1;
    int rc;

    rc = action_check(row->in, out, sizeof out, &kind, err, sizeof err);
    if (rc != row->rc)
        fail_msg("action_check returned %d, expected %d (err \"%s\")", rc, row->rc, err);
    if (rc != 0) {
        assert_true(err[0] != '\0');
        return;
    }
    assert_int_equal(kind, row->kind);
    if (row->cmp == EXACT)
        assert_string_equal(out, row->out);
    else if (strcasecmp(out, row->out) != 0)
        fail_msg("out \"%s\" is not \"%s\" in any case", out, row->out);
}

/* Length bound: ACTION_MAX bytes, and no silent truncation into OUT. */
struct length_row {
    const char *name;
    size_t len;         /* "REJECT " padded with 'x' to LEN bytes */
    size_t outlen;      /* 0: ACTION_MAX + 1 */
    int rc;
};

static struct length_row length_rows[] = {
    {"length: 255 bytes accepted", ACTION_MAX, 0, 0},
    {"length: 256 bytes rejected", ACTION_MAX + 1, 0, -1},
    {"length: 1000 bytes rejected", 1000, 0, -1},
    {"length: OUT one byte too small is an error", 20, 20, -1},
    {"length: OUT exact fit", 20, 21, 0},
};

static void test_length(void **state)
{
    const struct length_row *row = *state;
    char in[1100];
    char out[ACTION_MAX + 1];
    char err[256] = "";
    enum action_kind kind;

    memset(in, 'x', row->len);
    memcpy(in, "REJECT ", 7);
    in[row->len] = '\0';
    assert_int_equal(action_check(in, out, row->outlen ? row->outlen : sizeof out, &kind, err,
                                  sizeof err), row->rc);
    if (row->rc == 0) {
        assert_int_equal(kind, ACTION_BLOCK);
        assert_string_equal(out, in);
    } else {
        assert_true(err[0] != '\0');
    }
}

static struct CMUnitTest tests[UNIT_LEN(action_rows) + UNIT_LEN(length_rows)];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_action, action_rows);
    UNIT_ADD_ROWS(tests, n, test_length, length_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
