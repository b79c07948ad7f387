/* test_stats.c - unit tests of lib/stats.c's pieces that need no database:
 * durations as a person reads them, the dates of the 30-day series (across
 * a month, a year and a leap day), the series' largest value and the names
 * every output uses.  One row a case. */
#include "unit.h"
#include "stats.h"

struct duration_row {
    const char *name;
    double secs;
    const char *want;
};

static struct duration_row duration_rows[] = {
    {"duration: none is -", -1, "-"},
    {"duration: 0 s", 0, "0s"},
    {"duration: 59.4 s rounds to 59s", 59.4, "59s"},
    {"duration: 59.6 s rounds to a minute", 59.6, "1m"},
    {"duration: 3599 s is 59m", 3599, "59m"},
    {"duration: an hour", 3600, "1h00m"},
    {"duration: 2 h 5 m", 7500, "2h05m"},
    {"duration: 23 h 59 m", 86399, "23h59m"},
    {"duration: a day", 86400, "1d00h"},
    {"duration: 9 days 4 hours", 9 * 86400 + 4 * 3600 + 59, "9d04h"},
};

static void test_duration(void **state)
{
    const struct duration_row *row = *state;
    char out[32];

    stats_duration(row->secs, out, sizeof(out));
    assert_string_equal(out, row->want);
}

struct day_row {
    const char *name;
    const char *today;
    int i, short_form;
    const char *want;
};

static struct day_row day_rows[] = {
    {"day: the last is today", "2026-12-06", STATS_DAYS - 1, 0, "2026-12-06"},
    {"day: the first is 29 days before", "2026-12-06", 0, 0, "2026-11-07"},
    {"day: short form", "2026-12-06", 0, 1, "11-07"},
    {"day: across a year", "2027-01-10", 0, 0, "2026-12-12"},
    {"day: across a leap day", "2028-03-01", STATS_DAYS - 2, 0, "2028-02-29"},
    {"day: no date, no label", "", 3, 0, ""},
    {"day: not a date, no label", "2026-13-45", 3, 0, ""},
};

static void test_day(void **state)
{
    const struct day_row *row = *state;
    struct stats s = { 0 };
    char out[16] = "junk";

    snprintf(s.today, sizeof(s.today), "%s", row->today);
    stats_day(&s, row->i, row->short_form, out, sizeof(out));
    assert_string_equal(out, row->want);
}

static void test_daily_max(void **state)
{
    struct stats s = { 0 };

    (void)state;
    assert_int_equal(stats_daily_max(&s), 0);
    s.created[0] = 3;
    s.approved[STATS_DAYS - 1] = 7;
    s.created[12] = 5;
    assert_int_equal(stats_daily_max(&s), 7);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(stats_status_name(STATS_OPEN), "open");
    assert_string_equal(stats_status_name(STATS_APPROVED), "approved");
    assert_string_equal(stats_status_name(STATS_DENIED), "denied");
    assert_string_equal(stats_status_name(STATS_EXPIRED), "expired");
    assert_string_equal(stats_status_name(STATS_NSTATUS), "?");
    assert_string_equal(stats_window_name(STATS_1D), "1d");
    assert_string_equal(stats_window_name(STATS_7D), "7d");
    assert_string_equal(stats_window_name(STATS_NWINDOW), "?");
}

static struct CMUnitTest tests[UNIT_LEN(duration_rows) + UNIT_LEN(day_rows) + 2];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_duration, duration_rows);
    UNIT_ADD_ROWS(tests, n, test_day, day_rows);
    UNIT_ADD(tests, n, test_daily_max);
    UNIT_ADD(tests, n, test_names);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
