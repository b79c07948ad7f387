/*
 * overview - the admin page's overview (GET ?p=overview, administrators
 * only): the figures `guardlist stats` prints (lib/stats.c, the same
 * queries) and a bar chart of the last 30 days, challenges that arrived
 * each day beside those approved that day.
 *
 * The chart is inline SVG made here: no script, no external resource (the
 * page's CSP allows neither), scaled by its viewBox to the card's width,
 * so it reads on a phone.  SECURITY: senders came from the network and are
 * HTML-escaped; every other value is a number or a fixed word.
 */
#include "web.h"

#include <stdio.h>
#include <stdlib.h>

#include "stats.h"
#include "template.h"

/* The chart's coordinates (viewBox units): the plot area and a day's slot. */
#define CH_W 240
#define CH_H 146
#define CH_LEFT 22.0
#define CH_RIGHT 236.0
#define CH_TOP 18.0
#define CH_PLOT 100.0                   /* the tallest bar */
#define CH_BASE (CH_TOP + CH_PLOT)
#define CH_DAY ((CH_RIGHT - CH_LEFT) / STATS_DAYS)
#define CH_BAR 2.9
#define CREATED_FILL "#24435f"
#define APPROVED_FILL "#1a7f37"

double overview_bar_height(long long n, long long max)
{
    return max > 0 && n > 0 ? (double)n * CH_PLOT / (double)max : 0.0;
}

static void bar(struct buf *out, const struct stats *s, int i, int approved, long long max)
{
    long long n = approved ? s->approved[i] : s->created[i];
    double h = overview_bar_height(n, max);
    double x = CH_LEFT + i * CH_DAY + 0.6 + (approved ? CH_BAR + 0.1 : 0);
    char day[16];

    stats_day(s, i, 0, day, sizeof(day));
    buf_addf(out, "<rect class=\"bar %s\" data-day=\"%s\" data-n=\"%lld\" x=\"%.2f\" y=\"%.2f\" width=\"%.1f\" "
             "height=\"%.2f\" fill=\"%s\"><title>%s: %lld %s</title></rect>\n", approved ? "approved" : "created",
             day, n, x, CH_BASE - h, CH_BAR, h, approved ? APPROVED_FILL : CREATED_FILL, day, n,
             approved ? "approved" : "arrived");
}

void overview_chart(const struct stats *s, struct buf *out)
{
    long long max = stats_daily_max(s);
    char day[16];

    buf_addf(out, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" width=\"100%%\" preserveAspectRatio=\"xMidYMid meet\" "
             "role=\"img\" aria-label=\"Challenges that arrived and were approved each day, the last %d days\" "
             "style=\"max-width:34rem;height:auto;display:block\" font-family=\"system-ui, sans-serif\" "
             "font-size=\"9\" fill=\"#1c1c1c\">\n", CH_W, CH_H, STATS_DAYS);
    /* the legend */
    buf_addf(out, "<rect x=\"%.0f\" y=\"3\" width=\"8\" height=\"8\" fill=\"%s\"/>"
             "<text x=\"%.0f\" y=\"10.5\">arrived</text>\n", CH_LEFT, CREATED_FILL, CH_LEFT + 11);
    buf_addf(out, "<rect x=\"%.0f\" y=\"3\" width=\"8\" height=\"8\" fill=\"%s\"/>"
             "<text x=\"%.0f\" y=\"10.5\">approved</text>\n", CH_LEFT + 60, APPROVED_FILL, CH_LEFT + 71);
    /* the axes: the largest count at the top, 0 at the base line */
    buf_addf(out, "<text class=\"ymax\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%lld</text>"
             "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">0</text>\n", CH_LEFT - 3, CH_TOP + 6, max,
             CH_LEFT - 3, CH_BASE);
    buf_addf(out, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#888\" stroke-width=\"0.5\"/>\n",
             CH_LEFT, CH_TOP, CH_RIGHT, CH_TOP);
    buf_addf(out, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#555\" stroke-width=\"0.8\"/>\n",
             CH_LEFT, CH_BASE, CH_RIGHT, CH_BASE);
    for (int i = 0; i < STATS_DAYS; i++) {
        bar(out, s, i, 0, max);
        bar(out, s, i, 1, max);
    }
    /* day labels under the first day, every tenth and today */
    static const int labelled[] = { 0, 10, 20, STATS_DAYS - 1 };
    for (size_t k = 0; k < sizeof(labelled) / sizeof(labelled[0]); k++) {
        int i = labelled[k];
        int last = i == STATS_DAYS - 1;
        stats_day(s, i, 1, day, sizeof(day));
        buf_addf(out, "<text class=\"day\" x=\"%.2f\" y=\"%.0f\" text-anchor=\"%s\">%s</text>\n",
                 last ? CH_RIGHT : CH_LEFT + i * CH_DAY + CH_DAY / 2, CH_BASE + 12, last ? "end" : "middle",
                 last ? "today" : day);
    }
    buf_adds(out, "</svg>\n");
}

/* A number cell that the tests find by its name. */
static void figure(struct buf *out, const char *label, const char *name, long long n)
{
    buf_addf(out, "<td data-label=\"%s\" data-figure=\"%s\">%lld</td>", label, name, n);
}

static void totals(struct buf *out, const struct stats *s)
{
    char d[32];

    stats_duration(s->median_decision_s, d, sizeof(d));
    buf_adds(out, "<section class=\"card\"><h2>Totals</h2><table><thead><tr><th>What</th><th>Count</th></tr>"
                  "</thead><tbody>\n");
    static const char *const names[] = { "Protected recipients", "Rules that allow", "Rules that block",
                                         "Other rules", "Challenges waiting now" };
    static const char *const keys[] = { "protected", "rules-allow", "rules-block", "rules-other", "open-now" };
    const long long vals[] = { s->protected_recipients, s->rules_allow, s->rules_block, s->rules_other,
                               s->open_now };
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        buf_addf(out, "<tr><td data-label=\"\" class=\"text\">%s</td>", names[i]);
        figure(out, "", keys[i], vals[i]);
        buf_adds(out, "</tr>\n");
    }
    buf_addf(out, "<tr><td data-label=\"\" class=\"text\">Median time to decide, last 7 days</td>"
             "<td data-label=\"\" data-figure=\"median\">%s</td></tr>\n", d);
    buf_addf(out, "<tr><td data-label=\"\" class=\"text\">Decisions by a person, last 7 days</td>");
    figure(out, "", "decisions-7d", s->decisions_7d);
    buf_adds(out, "</tr>\n</tbody></table></section>\n");
}

static void windows(struct buf *out, const struct stats *s)
{
    static const char *const words[STATS_NSTATUS] = { "Arrived, still waiting", "Approved", "Denied", "Expired" };
    char key[32];

    buf_adds(out, "<section class=\"card\"><h2>Challenges</h2><p class=\"note\">Waiting: arrived in the window "
                  "and not decided yet; the others: decided in the window.</p>\n<table><thead><tr><th>Status</th>"
                  "<th>Last day</th><th>Last 7 days</th></tr></thead><tbody>\n");
    for (int st = 0; st < STATS_NSTATUS; st++) {
        buf_addf(out, "<tr><td data-label=\"\" class=\"text\">%s</td>", words[st]);
        for (int w = 0; w < STATS_NWINDOW; w++) {
            snprintf(key, sizeof(key), "%s-%s", stats_status_name(st), stats_window_name(w));
            figure(out, w == STATS_1D ? "Last day" : "Last 7 days", key, s->challenges[w][st]);
        }
        buf_adds(out, "</tr>\n");
    }
    buf_adds(out, "</tbody></table></section>\n");
}

static void held_off(struct buf *out, const struct stats *s)
{
    buf_adds(out, "<section class=\"card\"><h2>Senders held off most often</h2>\n");
    if (s->ntop == 0) {
        buf_adds(out, "<p>Nobody is held off right now.</p></section>\n");
        return;
    }
    buf_adds(out, "<table><thead><tr><th>Sender</th><th>Attempts</th><th>Recipients</th></tr></thead><tbody>\n");
    for (int i = 0; i < s->ntop; i++) {
        buf_adds(out, "<tr class=\"held\">");
        /* anywhere: a sender may be one 255-character word, wider than the card at any width */
        buf_adds(out, "<td data-label=\"Sender\" class=\"text\" style=\"overflow-wrap:anywhere\">");
        template_html_escape(out, s->top[i].sender[0] ? s->top[i].sender : "<>");
        buf_adds(out, "</td>");
        figure(out, "Attempts", "attempts", s->top[i].attempts);
        figure(out, "Recipients", "recipients", s->top[i].recipients);
        buf_adds(out, "</tr>\n");
    }
    buf_adds(out, "</tbody></table></section>\n");
}

int overview_show(const struct web *w, const struct lists_view *v, int limit, struct buf *out, char *err,
                  size_t errlen)
{
    (void)v;
    (void)limit;
    struct stats *s = malloc(sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (stats_read(w->db, s, err, errlen) < 0) {
        free(s);
        return -1;
    }
    buf_addf(out, "<p class=\"note\">What the database knows on %s (its own date).</p>\n", s->today);
    totals(out, s);
    windows(out, s);
    buf_adds(out, "<section class=\"card\"><h2>Last 30 days</h2><p class=\"note\">Challenges that arrived each "
                  "day, and those approved that day.</p>\n");
    overview_chart(s, out);
    buf_adds(out, "</section>\n");
    held_off(out, s);
    free(s);
    if (out->oom) {
        snprintf(err, errlen, "overview: out of memory");
        return -1;
    }
    return 0;
}
