/*
 * stats - the figures `guardlist stats` prints and the web overview page
 * shows, read from the database in one place so both say the same.
 *
 * Callers: admin/stats.c, web/overview.c.  Every window is counted by the
 * database's clock (CURRENT_TIMESTAMP, CURRENT_DATE), never the caller's,
 * and through the first_seen and decided_at keys (schema version 11).
 * Reports, never prints or exits; senders are copied as stored (they came
 * from the network): the caller escapes them for its output.
 */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "action.h"

static const char *const status_names[STATS_NSTATUS] = { "open", "approved", "denied", "expired" };
static const char *const window_names[STATS_NWINDOW] = { "1d", "7d" };

const char *stats_status_name(enum stats_status st)
{
    return st >= 0 && st < STATS_NSTATUS ? status_names[st] : "?";
}

const char *stats_window_name(enum stats_window w)
{
    return w >= 0 && w < STATS_NWINDOW ? window_names[w] : "?";
}

static long long num(const char *s)
{
    return s ? strtoll(s, NULL, 10) : 0;
}

/* The clock, the date and the counts that are one number each. */
static int row_head(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct stats *s = arg;

    (void)len;
    if (ncol != 4 || !col[1] || strlen(col[1]) != 10)
        return -1;
    s->now = num(col[0]);
    memcpy(s->today, col[1], 11);
    s->protected_recipients = num(col[2]);
    s->open_now = num(col[3]);
    return 0;
}

/* One distinct action and its rules, counted by what the action does. */
static int row_rules(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct stats *s = arg;
    char out[ACTION_MAX + 1], err[200];
    enum action_kind kind;

    (void)len;
    if (ncol != 2)
        return -1;
    if (!col[0] || action_check(col[0], out, sizeof(out), &kind, err, sizeof(err)) < 0)
        kind = ACTION_OTHER;        /* a raw SQL edit the daemon would not apply either */
    long long n = num(col[1]);
    if (kind == ACTION_ALLOW)
        s->rules_allow += n;
    else if (kind == ACTION_BLOCK)
        s->rules_block += n;
    else
        s->rules_other += n;
    return 0;
}

/* A status, its count in the last day and in the last 7 days. */
static int row_windows(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct stats *s = arg;

    (void)len;
    if (ncol != 3 || !col[0])
        return -1;
    for (int st = 0; st < STATS_NSTATUS; st++) {
        if (strcmp(col[0], status_names[st]) == 0) {
            s->challenges[STATS_1D][st] = num(col[1]);
            s->challenges[STATS_7D][st] = num(col[2]);
        }
    }
    return 0;
}

static int row_median(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct stats *s = arg;

    (void)len;
    if (ncol != 2)
        return -1;
    s->median_decision_s = col[0] ? strtod(col[0], NULL) : -1;
    s->decisions_7d = num(col[1]);
    return 0;
}

static int row_top(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct stats *s = arg;

    if (ncol != 3 || !col[0] || len[0] > STATS_SENDER_MAX || s->ntop >= STATS_TOP)
        return -1;
    struct stats_sender *t = &s->top[s->ntop++];
    memcpy(t->sender, col[0], len[0]);
    t->sender[len[0]] = '\0';
    t->attempts = num(col[1]);
    t->recipients = num(col[2]);
    return 0;
}

/* A series ('c' created, 'a' approved), days ago, the count. */
static int row_daily(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct stats *s = arg;

    (void)len;
    if (ncol != 3 || !col[0] || !col[1])
        return -1;
    long long ago = num(col[1]);
    if (ago < 0 || ago >= STATS_DAYS)
        return 0;           /* a clock that went back: outside the chart */
    long long *series = col[0][0] == 'a' ? s->approved : s->created;
    series[STATS_DAYS - 1 - ago] = num(col[2]);
    return 0;
}

_Static_assert(STATS_TOP == 10, "the held-off query's LIMIT is STATS_TOP");
_Static_assert(STATS_DAYS == 30, "the daily query's INTERVAL 29 DAY is STATS_DAYS - 1");

static const struct stats_query {
    const char *what;
    const char *sql;
    db_row_fn row;
} queries[] = {
    { "the totals",
      "SELECT UNIX_TIMESTAMP(), DATE_FORMAT(CURRENT_DATE, '%Y-%m-%d'), "
      "(SELECT COUNT(*) FROM protected_users), "
      "(SELECT COUNT(*) FROM challenges WHERE status = 'pending')", row_head },
    /* A scan of the rule tables, but a row per distinct action. */
    { "the rules",
      "SELECT action, COUNT(*) FROM sender_rules GROUP BY action "
      "UNION ALL SELECT action, COUNT(*) FROM whitelist GROUP BY action", row_rules },
    { "the challenges",
      "SELECT 'open', COALESCE(SUM(first_seen >= CURRENT_TIMESTAMP - INTERVAL 1 DAY), 0), COUNT(*) "
      "FROM challenges WHERE first_seen >= CURRENT_TIMESTAMP - INTERVAL 7 DAY AND status = 'pending' "
      "UNION ALL SELECT status, SUM(decided_at >= CURRENT_TIMESTAMP - INTERVAL 1 DAY), COUNT(*) "
      "FROM challenges WHERE decided_at >= CURRENT_TIMESTAMP - INTERVAL 7 DAY AND status <> 'pending' "
      "GROUP BY status", row_windows },
    /* A person's decisions: not expiry, not a rule that closed it. */
    { "the time to decide",
      "SELECT MEDIAN(TIMESTAMPDIFF(SECOND, first_seen, decided_at)) OVER (), COUNT(*) OVER () "
      "FROM challenges WHERE decided_at >= CURRENT_TIMESTAMP - INTERVAL 7 DAY "
      "AND status IN ('approved', 'denied') AND decided_rule IS NULL LIMIT 1", row_median },
    { "the senders held off",
      "SELECT sender, SUM(attempts) AS n, COUNT(*) FROM challenges WHERE status = 'pending' "
      "GROUP BY sender ORDER BY n DESC, sender LIMIT 10", row_top },
    { "the last 30 days",
      "SELECT 'c', DATEDIFF(CURRENT_DATE, first_seen) AS ago, COUNT(*) FROM challenges "
      "WHERE first_seen >= CURRENT_DATE - INTERVAL 29 DAY GROUP BY ago "
      "UNION ALL SELECT 'a', DATEDIFF(CURRENT_DATE, decided_at) AS ago, COUNT(*) FROM challenges "
      "WHERE decided_at >= CURRENT_DATE - INTERVAL 29 DAY AND status = 'approved' GROUP BY ago", row_daily },
};

int stats_read(struct db *db, struct stats *s, char *err, size_t errlen)
{
    char e[600];

    memset(s, 0, sizeof(*s));
    s->median_decision_s = -1;
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        if (db_query(db, queries[i].sql, NULL, 0, queries[i].row, s, e, sizeof(e)) < 0) {
            snprintf(err, errlen, "reading %s: %s", queries[i].what, e);
            return -1;
        }
    }
    if (!s->today[0]) {
        snprintf(err, errlen, "reading the totals: no answer");
        return -1;
    }
    return 0;
}

void stats_duration(double secs, char *out, size_t outlen)
{
    if (secs < 0) {
        snprintf(out, outlen, "-");
        return;
    }
    long long t = (long long)(secs + 0.5);
    if (t < 60)
        snprintf(out, outlen, "%llds", t);
    else if (t < 3600)
        snprintf(out, outlen, "%lldm", t / 60);
    else if (t < 86400)
        snprintf(out, outlen, "%lldh%02lldm", t / 3600, t % 3600 / 60);
    else
        snprintf(out, outlen, "%lldd%02lldh", t / 86400, t % 86400 / 3600);
}

void stats_day(const struct stats *s, int i, int short_form, char *out, size_t outlen)
{
    struct tm tm = { 0 };
    char *end;

    out[0] = '\0';
    if (!s->today[0] || !(end = strptime(s->today, "%Y-%m-%d", &tm)) || *end)
        return;
    time_t t = timegm(&tm) - (time_t)(STATS_DAYS - 1 - i) * 86400;
    if (!gmtime_r(&t, &tm))
        return;
    strftime(out, outlen, short_form ? "%m-%d" : "%Y-%m-%d", &tm);
}

long long stats_daily_max(const struct stats *s)
{
    long long m = 0;

    for (int i = 0; i < STATS_DAYS; i++) {
        if (s->created[i] > m)
            m = s->created[i];
        if (s->approved[i] > m)
            m = s->approved[i];
    }
    return m;
}
