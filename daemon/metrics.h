/* metrics.h - guardlistd's counters for /metrics ([policy] metrics_listen):
 * each event-loop thread counts its own decisions; a scrape sums them. */
#ifndef GUARDLISTD_METRICS_H
#define GUARDLISTD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum metrics_outcome { MO_ALLOWED, MO_DEFERRED, MO_REFUSED, MO_TEMPFAIL, MO_COUNT };
enum metrics_reason {
    MR_RULE, MR_UNKNOWN_SENDER, MR_CLOSED, MR_CAP, MR_SPF, MR_NOT_PROTECTED, MR_NULL_SENDER,
    MR_BAD_ADDRESS, MR_OUTBOUND_CONTACT, MR_OUTBOUND_NEW_CONTACT, MR_DB, MR_OTHER, MR_COUNT
};

/* At start, before any thread: the version for guardlist_build_info and the
 * process start time. */
void metrics_init(const char *version);

/* On each event-loop thread as it starts: its own counters (past LOOP_MAX
 * threads, shared ones counted atomically). */
void metrics_thread_init(void);

/* A monotonic clock in nanoseconds: when a request was read whole. */
uint64_t metrics_now_ns(void);

/* Before the loops start: whether anything serves the counters ([policy]
 * metrics_listen set).  Off, the decisions are not timed nor counted: two
 * clock reads and a few stores a request nobody would see. */
void metrics_enable(int on);
/* metrics_now_ns(), or 0 while metrics are off. */
uint64_t metrics_request_start(void);

/* What REPLY (a Postfix action) is for the sender: 4xx is a temporary
 * failure unless a rule (WHY) said it. */
enum metrics_outcome metrics_outcome(const char *reply, enum metrics_reason why);

/* Loop thread: one request answered REPLY for WHY, read whole at START_NS. */
void metrics_decision(const char *reply, enum metrics_reason why, uint64_t start_ns);

/* Loop thread: a new sender refused by the cap WHICH (CAP_FULL_RCPT or
 * CAP_FULL_CLIENT, caps.h). */
void metrics_cap_refusal(int which);

/* Any thread: N challenge rows committed; a database statement or
 * connection failed. */
void metrics_challenges_created(unsigned int n);
void metrics_db_error(void);

/* Refresher: the database answered its poll (the rules in memory are
 * current); a ruleset of RULES rules and PROTECTED keys was loaded, FULL or
 * incrementally, in SECONDS. */
void metrics_refreshed(void);
void metrics_rules_loaded(int full, double seconds, size_t rules, size_t protected_keys);

/* The whole /metrics page (promhttp's render function). */
void metrics_render(struct buf *out);

#endif
