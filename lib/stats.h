/* stats.h - what the database knows about guardlist's work, for a person:
 * protected recipients, rules, challenges by status over the last day and
 * week, the median time to decide, the senders held off most often and the
 * last 30 days day by day.  Read by `guardlist stats` and the web overview. */
#ifndef GUARDLIST_STATS_H
#define GUARDLIST_STATS_H

#include <stddef.h>

#include "db.h"

enum stats_status { STATS_OPEN, STATS_APPROVED, STATS_DENIED, STATS_EXPIRED, STATS_NSTATUS };
enum stats_window { STATS_1D, STATS_7D, STATS_NWINDOW };

#define STATS_TOP 10            /* senders held off most often */
#define STATS_DAYS 30           /* the day-by-day series, today included */
#define STATS_SENDER_MAX 1020        /* bytes: VARCHAR(255) of utf8mb4 */

struct stats_sender {
    char sender[STATS_SENDER_MAX + 1];  /* as stored: it came from the network, escape it to show it */
    long long attempts;                 /* over its open challenges */
    long long recipients;               /* its open challenges (one a recipient) */
};

struct stats {
    long long now;                      /* the database's clock, Unix seconds */
    char today[11];                     /* the database's date, YYYY-MM-DD */
    long long protected_recipients;
    long long rules_allow, rules_block, rules_other;   /* sender_rules and whitelist, by action */
    long long open_now;                 /* every challenge waiting now */
    /* [window][status]: open = arrived in the window and still waiting;
     * approved, denied, expired = decided in the window. */
    long long challenges[STATS_NWINDOW][STATS_NSTATUS];
    long long decisions_7d;             /* approved or denied by a person in the last 7 days */
    double median_decision_s;           /* their median decided_at - first_seen; -1: none */
    struct stats_sender top[STATS_TOP];
    int ntop;
    /* [0] is 29 days ago, [STATS_DAYS - 1] today (the database's dates):
     * challenges that arrived that day, and that were approved that day. */
    long long created[STATS_DAYS], approved[STATS_DAYS];
};

/* Reads every figure of S from DB in a handful of indexed queries (the
 * rules are counted by action: a scan of the rule tables).  Returns 0, or
 * -1 with ERR set. */
int stats_read(struct db *db, struct stats *s, char *err, size_t errlen);

/* The names used in every output: "open", "approved", "denied",
 * "expired"; "1d", "7d". */
const char *stats_status_name(enum stats_status st);
const char *stats_window_name(enum stats_window w);

/* Seconds as a person reads a duration: "45s", "12m", "3h05m", "2d04h";
 * "-" when SECS is negative (no value). */
void stats_duration(double secs, char *out, size_t outlen);

/* The date of day I of the series (0: 29 days before S->today) as
 * "MM-DD" (SHORT) or "YYYY-MM-DD".  "" when S->today is not a date. */
void stats_day(const struct stats *s, int i, int short_form, char *out, size_t outlen);

/* The largest value of both daily series (0 when there are none). */
long long stats_daily_max(const struct stats *s);

#endif
