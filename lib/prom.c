/*
 * prom - writes the Prometheus text exposition format (version 0.0.4).
 *
 * Callers: guardlistd's and guardlist-notify's /metrics pages (daemon/
 * metrics.c, notifier/notifystats.c).  Label values are escaped as the
 * format requires, so any text may be a label; metric and label names are
 * the callers' constants, never outside input.  Writes into a buf (out of
 * memory is the buf's sticky flag); never fails otherwise.
 */
#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void prom_head(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_addf(b, "# HELP %s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            buf_adds(b, "\\\\");
        else if (*p == '\n')
            buf_adds(b, "\\n");
        else
            buf_add(b, p, 1);
    }
    buf_addf(b, "\n# TYPE %s %s\n", name, type);
}

static void label_value(struct buf *b, const char *v)
{
    buf_adds(b, "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            buf_adds(b, "\\\\");
        else if (*p == '"')
            buf_adds(b, "\\\"");
        else if (*p == '\n')
            buf_adds(b, "\\n");
        else
            buf_add(b, p, 1);
    }
    buf_adds(b, "\"");
}

/* NAME and its labels, plus LE (NULL: none) as the last label. */
static void series(struct buf *b, const char *name, const char *suffix, const char *const *labels,
                   const char *le)
{
    int any = 0;

    buf_addf(b, "%s%s", name, suffix);
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
        buf_adds(b, any ? "," : "{");
        buf_addf(b, "%s=", labels[i]);
        label_value(b, labels[i + 1]);
        any = 1;
    }
    if (le) {
        buf_adds(b, any ? "," : "{");
        buf_adds(b, "le=");
        label_value(b, le);
        any = 1;
    }
    if (any)
        buf_adds(b, "}");
}

/* A float as the format spells it. */
static void number(char *out, size_t outlen, double v)
{
    if (isnan(v))
        snprintf(out, outlen, "NaN");
    else if (isinf(v))
        snprintf(out, outlen, "%cInf", v > 0 ? '+' : '-');
    else if (snprintf(out, outlen, "%.15g", v) > 0 && strtod(out, NULL) != v)
        snprintf(out, outlen, "%.17g", v);     /* the shortest that reads back the same */
}

void prom_count(struct buf *b, const char *name, const char *const *labels, uint64_t value)
{
    series(b, name, "", labels, NULL);
    buf_addf(b, " %llu\n", (unsigned long long)value);
}

void prom_value(struct buf *b, const char *name, const char *const *labels, double value)
{
    char num[40];

    number(num, sizeof(num), value);
    series(b, name, "", labels, NULL);
    buf_addf(b, " %s\n", num);
}

void prom_histogram(struct buf *b, const char *name, const char *const *labels, const double *bounds,
                    const uint64_t *counts, size_t n, double sum)
{
    uint64_t total = 0;
    char le[40];

    for (size_t i = 0; i <= n; i++) {
        total += counts[i];
        if (i < n)
            number(le, sizeof(le), bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        series(b, name, "_bucket", labels, le);
        buf_addf(b, " %llu\n", (unsigned long long)total);
    }
    number(le, sizeof(le), sum);
    series(b, name, "_sum", labels, NULL);
    buf_addf(b, " %s\n", le);
    series(b, name, "_count", labels, NULL);
    buf_addf(b, " %llu\n", (unsigned long long)total);
}
