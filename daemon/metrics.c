/*
 * metrics - guardlistd's counters and the /metrics page ([policy]
 * metrics_listen; served by lib/promhttp.c on a thread of its own).
 *
 * Counting stays off the decision path's shared memory: each event-loop
 * thread owns a slot (cache-line aligned) and is its one writer, so an
 * increment is a plain load and store (relaxed atomics, no lock prefix);
 * the scrape sums the slots with relaxed loads.  A sum may miss a request
 * counted at that instant; it never goes backwards.  The refresher, the
 * writer and the scrape touch only the shared counters below.  Nothing
 * here allocates but the page, or fails.
 */
#include "metrics.h"
#include "caps.h"
#include "conn.h"
#include "loop.h"
#include "prom.h"

#include <stdio.h>
#include <strings.h>
#include <time.h>

/* Decision latency buckets, nanoseconds: 25 us to 100 ms. */
#define NLAT 12
static const uint64_t lat_ns[NLAT] = { 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
                                       5000000, 10000000, 25000000, 50000000, 100000000 };
/* Rule load buckets, seconds. */
#define NLOAD 10
static const double load_s[NLOAD] = { 0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60 };

static const char *const outcome_names[MO_COUNT] = { "allowed", "deferred", "refused", "tempfail" };
static const char *const reason_names[MR_COUNT] = {
    "rule", "unknown_sender", "closed", "cap", "spf", "not_protected", "null_sender", "bad_address",
    "outbound_contact", "outbound_new_contact", "db", "other"
};

struct slot {
    uint64_t decisions[MO_COUNT][MR_COUNT];
    uint64_t caps[2];                   /* recipient, client */
    uint64_t latency[NLAT + 1];         /* per bucket, the last past 100 ms */
    uint64_t latency_sum_ns;
} __attribute__((aligned(64)));

static struct slot slots[LOOP_MAX + 1];     /* the last: threads without their own */
static unsigned int nslots;                 /* atomic: slots handed out */
static __thread struct slot *mine;

static const char *build_version = "";
static double started;                      /* wall clock, for process_start_time_seconds */
static uint64_t started_ns;                 /* monotonic */
static int enabled = 1;                     /* set before the loops start */
static uint64_t created, db_errors;         /* atomic, as is everything below */
static uint64_t loads[2], load_hist[2][NLOAD + 1], load_sum_ns[2];     /* [0] full, [1] incremental */
static uint64_t rules_now, protected_now, refreshed_ns;

uint64_t metrics_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void metrics_enable(int on)
{
    enabled = on;
}

uint64_t metrics_request_start(void)
{
    return enabled ? metrics_now_ns() : 0;
}

void metrics_init(const char *version)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    started = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    started_ns = metrics_now_ns();
    build_version = version;
}

void metrics_thread_init(void)
{
    unsigned int i = __atomic_fetch_add(&nslots, 1, __ATOMIC_RELAXED);

    mine = i < LOOP_MAX ? &slots[i] : NULL;
}

/* The owner's increment: one writer, so no read-modify-write is needed. */
static void bump(uint64_t *p, uint64_t by)
{
    if (mine)
        __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
    else
        __atomic_fetch_add(p, by, __ATOMIC_RELAXED);
}

static struct slot *slot_of_thread(void)
{
    return mine ? mine : &slots[LOOP_MAX];
}

enum metrics_outcome metrics_outcome(const char *reply, enum metrics_reason why)
{
    if (reply[0] == '4')
        return why == MR_RULE ? MO_DEFERRED : MO_TEMPFAIL;
    if (strncasecmp(reply, "DEFER", 5) == 0)
        return MO_DEFERRED;
    if (reply[0] == '5' || strncasecmp(reply, "REJECT", 6) == 0 || strncasecmp(reply, "BOUNCE", 6) == 0)
        return MO_REFUSED;
    return MO_ALLOWED;
}

void metrics_decision(const char *reply, enum metrics_reason why, uint64_t start_ns)
{
    if (!enabled)
        return;
    struct slot *s = slot_of_thread();
    uint64_t took = metrics_now_ns() - start_ns;
    int b = 0;

    while (b < NLAT && took > lat_ns[b])
        b++;
    bump(&s->decisions[metrics_outcome(reply, why)][why], 1);
    bump(&s->latency[b], 1);
    bump(&s->latency_sum_ns, took);
}

void metrics_cap_refusal(int which)
{
    bump(&slot_of_thread()->caps[which == CAP_FULL_CLIENT], 1);
}

void metrics_challenges_created(unsigned int n)
{
    __atomic_fetch_add(&created, n, __ATOMIC_RELAXED);
}

void metrics_db_error(void)
{
    __atomic_fetch_add(&db_errors, 1, __ATOMIC_RELAXED);
}

void metrics_refreshed(void)
{
    __atomic_store_n(&refreshed_ns, metrics_now_ns(), __ATOMIC_RELAXED);
}

void metrics_rules_loaded(int full, double seconds, size_t rules, size_t protected_keys)
{
    int k = full ? 0 : 1, b = 0;

    while (b < NLOAD && seconds > load_s[b])
        b++;
    __atomic_fetch_add(&loads[k], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&load_hist[k][b], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&load_sum_ns[k], (uint64_t)(seconds * 1e9), __ATOMIC_RELAXED);
    __atomic_store_n(&rules_now, (uint64_t)rules, __ATOMIC_RELAXED);
    __atomic_store_n(&protected_now, (uint64_t)protected_keys, __ATOMIC_RELAXED);
    metrics_refreshed();
}

static uint64_t get(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* The loops' slots summed (the shared one included). */
static void sum_slots(struct slot *t)
{
    unsigned int n = __atomic_load_n(&nslots, __ATOMIC_RELAXED);

    *t = (struct slot){ 0 };
    for (unsigned int i = 0; i <= LOOP_MAX; i++) {
        const struct slot *s = &slots[i];
        if (i >= n && i < LOOP_MAX)
            continue;
        for (int o = 0; o < MO_COUNT; o++)
            for (int r = 0; r < MR_COUNT; r++)
                t->decisions[o][r] += get(&s->decisions[o][r]);
        t->caps[0] += get(&s->caps[0]);
        t->caps[1] += get(&s->caps[1]);
        for (int b = 0; b <= NLAT; b++)
            t->latency[b] += get(&s->latency[b]);
        t->latency_sum_ns += get(&s->latency_sum_ns);
    }
}

static void render_decisions(struct buf *out, const struct slot *t)
{
    double bounds[NLAT];

    prom_head(out, "guardlist_decisions_total", "counter", "Policy requests answered, by outcome and reason.");
    for (int o = 0; o < MO_COUNT; o++)
        for (int r = 0; r < MR_COUNT; r++) {
            const char *labels[] = { "outcome", outcome_names[o], "reason", reason_names[r], NULL };
            prom_count(out, "guardlist_decisions_total", labels, t->decisions[o][r]);
        }
    prom_head(out, "guardlist_cap_refusals_total", "counter",
              "New senders answered without a challenge because an hourly cap was reached.");
    prom_count(out, "guardlist_cap_refusals_total", (const char *const[]){ "cap", "recipient", NULL }, t->caps[0]);
    prom_count(out, "guardlist_cap_refusals_total", (const char *const[]){ "cap", "client", NULL }, t->caps[1]);
    for (int b = 0; b < NLAT; b++)
        bounds[b] = (double)lat_ns[b] / 1e9;
    prom_head(out, "guardlist_decision_duration_seconds", "histogram",
              "Time from a whole request read to its reply queued (challenge writes and SPF included).");
    prom_histogram(out, "guardlist_decision_duration_seconds", NULL, bounds, t->latency, NLAT,
                   (double)t->latency_sum_ns / 1e9);
}

static void render_rules(struct buf *out)
{
    static const char *const kinds[2] = { "full", "incremental" };
    uint64_t hist[NLOAD + 1];

    prom_head(out, "guardlist_rule_loads_total", "counter", "Rulesets loaded from the database.");
    for (int k = 0; k < 2; k++)
        prom_count(out, "guardlist_rule_loads_total", (const char *const[]){ "kind", kinds[k], NULL },
                   get(&loads[k]));
    prom_head(out, "guardlist_rule_load_duration_seconds", "histogram", "Time to build a ruleset.");
    for (int k = 0; k < 2; k++) {
        for (int b = 0; b <= NLOAD; b++)
            hist[b] = get(&load_hist[k][b]);
        prom_histogram(out, "guardlist_rule_load_duration_seconds", (const char *const[]){ "kind", kinds[k], NULL },
                       load_s, hist, NLOAD, (double)get(&load_sum_ns[k]) / 1e9);
    }
    prom_head(out, "guardlist_rules", "gauge", "Rules in memory (global and per recipient).");
    prom_count(out, "guardlist_rules", NULL, get(&rules_now));
    prom_head(out, "guardlist_protected_keys", "gauge", "Protected recipients and domains in memory.");
    prom_count(out, "guardlist_protected_keys", NULL, get(&protected_now));
    uint64_t last = get(&refreshed_ns);
    prom_head(out, "guardlist_rules_refresh_age_seconds", "gauge",
              "Seconds since the database last confirmed the rules in memory (since start if never).");
    prom_value(out, "guardlist_rules_refresh_age_seconds", NULL,
               (double)(metrics_now_ns() - (last ? last : started_ns)) / 1e9);
}

void metrics_render(struct buf *out)
{
    struct slot t;

    sum_slots(&t);
    render_decisions(out, &t);
    prom_head(out, "guardlist_challenges_created_total", "counter", "Challenge rows the writer committed.");
    prom_count(out, "guardlist_challenges_created_total", NULL, get(&created));
    render_rules(out);
    prom_head(out, "guardlist_db_errors_total", "counter", "Failed database polls, loads and challenge writes.");
    prom_count(out, "guardlist_db_errors_total", NULL, get(&db_errors));
    prom_head(out, "guardlist_connections", "gauge", "Open policy connections.");
    prom_count(out, "guardlist_connections", NULL, conn_open_count());
    prom_head(out, "guardlist_build_info", "gauge", "The running guardlistd's version.");
    prom_count(out, "guardlist_build_info", (const char *const[]){ "version", build_version, NULL }, 1);
    prom_head(out, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
    prom_value(out, "process_start_time_seconds", NULL, started);
}
