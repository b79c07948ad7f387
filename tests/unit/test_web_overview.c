/* test_web_overview.c - unit tests of web/overview.c's chart: one
 * "created" and one "approved" bar a day, each as tall as its count over
 * the largest, nothing but numbers and fixed words in the SVG.  One row a
 * case. */
#include "unit.h"
#include "web.h"
#include "stats.h"

struct height_row {
    const char *name;
    long long n, max;
    double want;
};

static struct height_row height_rows[] = {
    {"height: the largest is the full plot", 7, 7, 100.0},
    {"height: half", 3, 6, 50.0},
    {"height: a third", 1, 3, 100.0 / 3},
    {"height: none is flat", 0, 5, 0.0},
    {"height: all zero is flat, no division by zero", 0, 0, 0.0},
};

static void test_height(void **state)
{
    const struct height_row *row = *state;

    assert_true(overview_bar_height(row->n, row->max) > row->want - 1e-9);
    assert_true(overview_bar_height(row->n, row->max) < row->want + 1e-9);
}

/* The value of attribute NAME (e.g. " height=\"") after P, as a number. */
static double attr(const char *p, const char *name)
{
    const char *a = strstr(p, name);
    assert_non_null(a);
    return strtod(a + strlen(name), NULL);
}

static void test_chart(void **state)
{
    struct stats s = { 0 };
    struct buf b = { 0 };

    (void)state;
    snprintf(s.today, sizeof(s.today), "2026-12-06");
    for (int i = 0; i < STATS_DAYS; i++) {
        s.created[i] = i % 5;
        s.approved[i] = i % 3;
    }
    s.created[7] = 8;
    overview_chart(&s, &b);
    assert_false(b.oom);
    assert_prefix(b.p, "<svg class=\"chart\" viewBox=\"0 0 ");
    assert_contains(b.p, "</svg>");
    assert_null(strstr(b.p, "<script"));
    assert_null(strstr(b.p, "href"));
    assert_contains(b.p, "data-day=\"2026-11-07\"");
    assert_contains(b.p, ">today</text>");
    assert_contains(b.p, "<text class=\"ymax\" x=\"19\" y=\"24\" text-anchor=\"end\">8</text>");
    int created = 0, approved = 0;
    for (const char *p = b.p; (p = strstr(p, "<rect class=\"bar ")) != NULL; p++) {
        int is_created = strncmp(p + 17, "created", 7) == 0;
        int i = is_created ? created++ : approved++;
        long long n = is_created ? s.created[i] : s.approved[i];
        assert_int_equal((long long)attr(p, " data-n=\""), n);
        double h = attr(p, " height=\"");
        assert_true(h > n * 100.0 / 8 - 0.01 && h < n * 100.0 / 8 + 0.01);
    }
    assert_int_equal(created, STATS_DAYS);
    assert_int_equal(approved, STATS_DAYS);
    buf_free(&b);
}

static struct CMUnitTest tests[UNIT_LEN(height_rows) + 1];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_height, height_rows);
    UNIT_ADD(tests, n, test_chart);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
