/* prom.h - the Prometheus text exposition format (version 0.0.4): the
 * HELP/TYPE lines, samples with escaped labels, cumulative histograms. */
#ifndef GUARDLIST_PROM_H
#define GUARDLIST_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* "# HELP NAME HELP" (backslash and newline escaped) and "# TYPE NAME TYPE"
 * (counter, gauge, histogram). */
void prom_head(struct buf *b, const char *name, const char *type, const char *help);

/* One sample line: NAME{LABELS} VALUE.  LABELS is NULL or a NULL-ended list
 * of name, value pairs; each value is escaped (\\, \", \n).  Counts are
 * written as integers, other values with 17 significant digits (NaN, +Inf,
 * -Inf as Prometheus spells them). */
void prom_count(struct buf *b, const char *name, const char *const *labels, uint64_t value);
void prom_value(struct buf *b, const char *name, const char *const *labels, double value);

/* A histogram's samples: NAME_bucket{LABELS,le="B"} for each of the N upper
 * bounds BOUNDS (ascending) and le="+Inf", cumulative, from COUNTS (N + 1
 * per-bucket counts, the last the overflow past BOUNDS[N-1]), then NAME_sum
 * (SUM) and NAME_count. */
void prom_histogram(struct buf *b, const char *name, const char *const *labels, const double *bounds,
                    const uint64_t *counts, size_t n, double sum);

#endif
