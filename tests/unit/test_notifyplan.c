/* test_notifyplan.c - unit tests of notifier/notifyplan.c: which waiting
 * challenge gets its own email, a line in the digest, or waits (the hourly
 * cap), and the retry backoff.  One row a case. */
#include "unit.h"
#include "notifyplan.h"

#include <limits.h>

#define S NOTIFYPLAN_SINGLE
#define D NOTIFYPLAN_DIGEST
#define W NOTIFYPLAN_WAIT
#define GUARD 0xa5          /* byte pattern the plan must not touch past N */
#define MAXN 64

struct plan_row {
    const char *name;
    int max, singles;
    long since_digest;              /* seconds since the last digest, -1 none; the delay is DELAY */
    size_t n;
    int nsingle, ndigest, nwait;    /* expected: this many S, then D, then W, in that order */
};

#define DELAY 900           /* [notifier] digest_delay of these rows */

static struct plan_row plan_rows[] = {
    {"plan: 30 fresh with cap 10: 10 single, 20 digest", 10, 0, -1, 30, 10, 20, 0},
    {"plan: cap used, no digest yet: 5 digest", 10, 10, -1, 5, 0, 5, 0},
    {"plan: cap and digest used: 5 wait", 10, 10, 0, 5, 0, 0, 5},
    {"plan: 3 left of the cap: 3 single, 2 digest", 10, 7, -1, 5, 3, 2, 0},
    {"plan: 3 left, digest used: 3 single, 2 wait", 10, 7, 0, 5, 3, 0, 2},
    {"plan: already over the cap: 3 digest", 10, 12, -1, 3, 0, 3, 0},
    {"plan: already over the cap, digest used: 3 wait", 10, 12, 0, 3, 0, 0, 3},
    {"plan: cap 1, one waiting: single", 1, 0, -1, 1, 1, 0, 0},
    {"plan: cap 1, two waiting: single, digest", 1, 0, -1, 2, 1, 1, 0},
    {"plan: exactly the room left: all single", 10, 5, -1, 5, 5, 0, 0},
    {"plan: exactly the room left, digest used: all single", 10, 5, 0, 5, 5, 0, 0},
    {"plan: cap 0: everything in the digest", 0, 0, -1, 4, 0, 4, 0},
    {"plan: n 0 writes nothing", 10, 0, -1, 0, 0, 0, 0},
    {"plan: n 0 with cap used writes nothing", 10, 10, 0, 0, 0, 0, 0},
    {"plan: digest delay passed exactly: 4 digest", 10, 10, DELAY, 4, 0, 4, 0},
    {"plan: one second before the delay: 4 wait", 10, 10, DELAY - 1, 4, 0, 0, 4},
    {"plan: an old digest an hour ago: 30 past the cap all digest", 10, 10, 3600, 30, 0, 30, 0},
    {"plan: 30 fresh, last digest long ago: 10 single, 20 digest", 10, 0, 7200, 30, 10, 20, 0},
};

static void test_plan(void **state)
{
    const struct plan_row *row = *state;
    enum notifyplan_action actions[MAXN];

    assert_true(row->n + 1 <= MAXN);
    memset(actions, GUARD, sizeof actions);
    notifyplan_actions(row->max, row->singles, row->since_digest, DELAY, row->n, actions);
    for (size_t i = 0; i < row->n; i++) {
        enum notifyplan_action want = i < (size_t)row->nsingle ? S
                              : i < (size_t)(row->nsingle + row->ndigest) ? D : W;
        if (actions[i] != want)
            fail_msg("actions[%zu] is %d, expected %d (0 single, 1 digest, 2 wait)", i,
                     (int)actions[i], (int)want);
    }
    const unsigned char *rest = (const unsigned char *)&actions[row->n];
    for (size_t b = 0; b < sizeof(actions) - row->n * sizeof(actions[0]); b++)
        if (rest[b] != GUARD)
            fail_msg("byte %zu past actions[%zu] was written", b, row->n);
}

/* n = 0 with a NULL array: nothing may be dereferenced. */
static void test_plan_zero_null(void **state)
{
    (void)state;
    notifyplan_actions(10, 0, -1, DELAY, 0, NULL);
}

struct backoff_row {
    const char *name;
    int attempts;
    long seconds;
};

static struct backoff_row backoff_rows[] = {
    {"backoff: 1 failed try -> 60", 1, 60},
    {"backoff: 2 -> 120", 2, 120},
    {"backoff: 3 -> 240", 3, 240},
    {"backoff: 4 -> 480", 4, 480},
    {"backoff: 5 -> 960", 5, 960},
    {"backoff: 6 -> 1920", 6, 1920},
    {"backoff: 7 -> 3600 (cap)", 7, 3600},
    {"backoff: 8 -> 3600", 8, 3600},
    {"backoff: 100 -> 3600", 100, 3600},
    {"backoff: INT_MAX -> 3600", INT_MAX, 3600},
    {"backoff: 0 -> 60", 0, 60},
    {"backoff: -1 -> 60", -1, 60},
    {"backoff: INT_MIN -> 60", INT_MIN, 60},
};

static void test_backoff(void **state)
{
    const struct backoff_row *row = *state;

    assert_int_equal(notifyplan_backoff(row->attempts), row->seconds);
}

static void test_backoff_monotonic(void **state)
{
    long prev = notifyplan_backoff(-5);

    (void)state;
    for (int a = -4; a <= 200; a++) {
        long s = notifyplan_backoff(a);
        if (s < prev)
            fail_msg("backoff(%d) = %ld is less than backoff(%d) = %ld", a, s, a - 1, prev);
        if (s < 60 || s > 3600)
            fail_msg("backoff(%d) = %ld is outside 60..3600", a, s);
        prev = s;
    }
}

struct wait_row {
    const char *name;
    long since;
    long want;
};

static struct wait_row wait_rows[] = {
    {"digest wait: none sent yet: 1 s", -1, 1},
    {"digest wait: just sent: the whole delay", 0, DELAY},
    {"digest wait: 100 s ago: the rest", 100, DELAY - 100},
    {"digest wait: due: 1 s", DELAY, 1},
    {"digest wait: long overdue: 1 s", 100000, 1},
};

static void test_digest_wait(void **state)
{
    const struct wait_row *row = *state;

    assert_int_equal(notifyplan_digest_wait(row->since, DELAY), row->want);
}

static struct CMUnitTest tests[UNIT_LEN(plan_rows) + UNIT_LEN(backoff_rows) + UNIT_LEN(wait_rows) + 2];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_plan, plan_rows);
    UNIT_ADD(tests, n, test_plan_zero_null);
    UNIT_ADD_ROWS(tests, n, test_backoff, backoff_rows);
    UNIT_ADD(tests, n, test_backoff_monotonic);
    UNIT_ADD_ROWS(tests, n, test_digest_wait, wait_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
