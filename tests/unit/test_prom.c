/* test_prom.c - unit tests of lib/prom.c (the Prometheus text format:
 * escaped label values and HELP text, numbers as the format spells them,
 * cumulative histogram buckets ending in +Inf) and of daemon/metrics.c's
 * outcome of a reply. */
#include "unit.h"
#include "metrics.h"
#include "prom.h"

#include <math.h>

struct sample_row {
    const char *name;
    const char *label_value;        /* NULL: no labels */
    double value;
    int count;                      /* 1: written with prom_count */
    const char *want;
};

static struct sample_row sample_rows[] = {
    {"prom: no labels, a count", NULL, 42, 1, "m 42\n"},
    {"prom: a plain label", "allowed", 1, 1, "m{l=\"allowed\"} 1\n"},
    {"prom: a quote in a label is escaped", "say \"hi\"", 1, 1, "m{l=\"say \\\"hi\\\"\"} 1\n"},
    {"prom: a backslash in a label is escaped", "a\\b", 1, 1, "m{l=\"a\\\\b\"} 1\n"},
    {"prom: a newline in a label is escaped", "a\nb", 1, 1, "m{l=\"a\\nb\"} 1\n"},
    {"prom: UTF-8 in a label as it is", "\xc3\xa9t\xc3\xa9", 1, 1, "m{l=\"\xc3\xa9t\xc3\xa9\"} 1\n"},
    {"prom: a value with the fewest digits that read back", NULL, 0.1, 0, "m 0.1\n"},
    {"prom: a small value", NULL, 2.5e-05, 0, "m 2.5e-05\n"},
    {"prom: a value needing 17 digits", NULL, 0.30000000000000004, 0, "m 0.30000000000000004\n"},
    {"prom: +Inf", NULL, INFINITY, 0, "m +Inf\n"},
    {"prom: -Inf", NULL, -INFINITY, 0, "m -Inf\n"},
    {"prom: NaN", NULL, NAN, 0, "m NaN\n"},
    {"prom: a count past 2^53 stays exact", NULL, 0, 2, "m 18446744073709551615\n"},
};

static void test_sample(void **state)
{
    const struct sample_row *row = *state;
    struct buf b = { 0 };
    const char *labels[] = { "l", row->label_value, NULL };

    if (row->count == 2)
        prom_count(&b, "m", NULL, UINT64_MAX);
    else if (row->count)
        prom_count(&b, "m", row->label_value ? labels : NULL, (uint64_t)row->value);
    else
        prom_value(&b, "m", row->label_value ? labels : NULL, row->value);
    assert_string_equal(b.p, row->want);
    buf_free(&b);
}

static void test_head(void **state)
{
    struct buf b = { 0 };

    (void)state;
    prom_head(&b, "m_total", "counter", "two\nlines and a \\ backslash");
    assert_string_equal(b.p, "# HELP m_total two\\nlines and a \\\\ backslash\n# TYPE m_total counter\n");
    buf_free(&b);
}

static void test_histogram(void **state)
{
    struct buf b = { 0 };
    const double bounds[] = { 0.5, 1, 2.5 };
    const uint64_t counts[] = { 2, 0, 3, 1 };     /* per bucket, the last past 2.5 */
    const char *labels[] = { "kind", "full", NULL };

    (void)state;
    prom_histogram(&b, "h", labels, bounds, counts, 3, 7.25);
    assert_string_equal(b.p,
                        "h_bucket{kind=\"full\",le=\"0.5\"} 2\n"
                        "h_bucket{kind=\"full\",le=\"1\"} 2\n"
                        "h_bucket{kind=\"full\",le=\"2.5\"} 5\n"
                        "h_bucket{kind=\"full\",le=\"+Inf\"} 6\n"
                        "h_sum{kind=\"full\"} 7.25\n"
                        "h_count{kind=\"full\"} 6\n");
    buf_reset(&b);
    prom_histogram(&b, "h", NULL, bounds, (const uint64_t[]){ 0, 0, 0, 0 }, 3, 0);
    assert_string_equal(b.p,
                        "h_bucket{le=\"0.5\"} 0\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"2.5\"} 0\n"
                        "h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
    buf_free(&b);
}

struct outcome_row {
    const char *name;
    const char *reply;
    enum metrics_reason why;
    enum metrics_outcome want;
};

static struct outcome_row outcome_rows[] = {
    {"outcome: DUNNO is allowed", "DUNNO", MR_NOT_PROTECTED, MO_ALLOWED},
    {"outcome: OK is allowed", "OK", MR_RULE, MO_ALLOWED},
    {"outcome: a rule's PREPEND is allowed", "PREPEND X-Guardlist: yes", MR_RULE, MO_ALLOWED},
    {"outcome: DEFER_IF_PERMIT is deferred", "DEFER_IF_PERMIT Sender not yet approved", MR_UNKNOWN_SENDER,
     MO_DEFERRED},
    {"outcome: defer in lower case", "defer try later", MR_RULE, MO_DEFERRED},
    {"outcome: REJECT is refused", "REJECT Access denied", MR_CLOSED, MO_REFUSED},
    {"outcome: 550 is refused", "550 5.7.23 SPF fail", MR_SPF, MO_REFUSED},
    {"outcome: 451 from the database is a temporary failure", "451 4.3.0 Temporary lookup failure", MR_DB,
     MO_TEMPFAIL},
    {"outcome: 451 from SPF is a temporary failure", "451 4.4.3 SPF lookup failed", MR_SPF, MO_TEMPFAIL},
    {"outcome: a rule's 450 is a deferral", "450 4.7.1 come back later", MR_RULE, MO_DEFERRED},
};

static void test_outcome(void **state)
{
    const struct outcome_row *row = *state;

    assert_int_equal(metrics_outcome(row->reply, row->why), row->want);
}

static struct CMUnitTest tests[UNIT_LEN(sample_rows) + UNIT_LEN(outcome_rows) + 2];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_sample, sample_rows);
    UNIT_ADD_ROWS(tests, n, test_outcome, outcome_rows);
    UNIT_ADD(tests, n, test_head);
    UNIT_ADD(tests, n, test_histogram);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
