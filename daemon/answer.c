/*
 * answer - guardlistd's answer to one policy request, and the glue between
 * the event loop and the challenge writer thread (challenge.c).
 *
 * Called by conn.c for each whole request and by the event loop when the
 * writer reports, both on the event-loop thread (no locking).  A known pair
 * is answered from the ruleset in memory; a new unknown pair is answered
 * only once its challenge is committed; a pair already recorded (pairset.c)
 * is answered at once and its refresh written behind the reply, one write
 * per pair at a time.  It never answers an allow it cannot vouch for: a
 * failed write or a full queue is 451 4.3.0.
 */
#include "answer.h"
#include "addr.h"
#include "caps.h"
#include "conn.h"
#include "log.h"
#include "pairset.h"
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAIRS_MAX 100000            /* recorded pairs remembered (~100 bytes each) */

static const struct decide_opts *opts;
static struct challenge_writer *writer;
static struct ruleset *rules;
static struct pairset *pairs;

int answer_init(const struct decide_opts *decide_opts, struct challenge_writer *challenge_writer)
{
    opts = decide_opts;
    writer = challenge_writer;
    pairs = pairset_new(PAIRS_MAX);
    return pairs ? 0 : -1;
}

void answer_free(void)
{
    pairset_free(pairs);
    ruleset_free(rules);
    pairs = NULL;
    rules = NULL;
}

void answer_use_rules(struct ruleset *fresh)
{
    if (fresh) {
        ruleset_free(rules);
        rules = fresh;
        pairset_unverify(pairs);    /* approvals and closes are in the new rules */
    }
}

int answer_has_rules(void)
{
    return rules != NULL;
}

static void build_logline(char *out, size_t outlen, const struct policy_req *r, const struct decision *d)
{
    char s[300], rc[300], ca[80], cn[300], rule[600], pk[300];

    snprintf(out, outlen, "decision sender=\"%s\" recipient=\"%s\" client=%s[%s] protected=\"%s\" rule=\"%s\" why=\"%s\"",
             log_printable(s, sizeof(s), policy_get(r, PA_SENDER)),
             log_printable(rc, sizeof(rc), policy_get(r, PA_RECIPIENT)),
             log_printable(cn, sizeof(cn), policy_get(r, PA_CLIENT_NAME) ? policy_get(r, PA_CLIENT_NAME) : "unknown"),
             log_printable(ca, sizeof(ca), policy_get(r, PA_CLIENT_ADDRESS) ? policy_get(r, PA_CLIENT_ADDRESS) : "?"),
             log_printable(pk, sizeof(pk), d->protected_key[0] ? d->protected_key : "-"),
             decision_rule_text(d, rule, sizeof(rule)), d->detail);
}

/* A challenge write for the pair of D, asked for by the request on C.  NULL
 * when out of memory. */
static struct challenge_job *new_job(const struct conn *c, const struct decision *d)
{
    const struct policy_req *r = &c->req;
    struct challenge_job *job = calloc(1, sizeof(*job));

    if (!job)
        return NULL;
    job->fd = c->fd;
    job->conn_id = c->id;
    job->attempts = 1;
    snprintf(job->sender, sizeof(job->sender), "%s", d->challenge_sender);
    snprintf(job->recipient, sizeof(job->recipient), "%s", d->challenge_recipient);
    snprintf(job->protected_key, sizeof(job->protected_key), "%s", d->protected_key);
    const char *ca = policy_get(r, PA_CLIENT_ADDRESS), *cn = policy_get(r, PA_CLIENT_NAME);
    if (ca && strlen(ca) < sizeof(job->client_address) && addr_utf8_valid(ca, strlen(ca)))
        snprintf(job->client_address, sizeof(job->client_address), "%s", ca);
    if (cn && strlen(cn) < sizeof(job->client_name) && addr_utf8_valid(cn, strlen(cn)))
        snprintf(job->client_name, sizeof(job->client_name), "%s", cn);
    return job;
}

/* Sends the retries counted in E (the pair of J) to the writer in J, a
 * write-behind refresh nobody waits for.  Returns 1 if J went, 0 if the
 * caller still owns it. */
static int send_counted_retries(struct pair_entry *e, struct challenge_job *j)
{
    if (!e || e->closed || !e->recorded || e->refresh_out || e->hits == 0)
        return 0;
    j->fd = -1;
    j->attempts = e->hits;
    j->ok = j->closed = 0;
    if (challenge_submit(writer, j) < 0)
        return 0;
    e->hits = 0;
    e->refresh_out = 1;
    return 1;
}

void answer_request(struct conn *c)
{
    struct decision d;
    char logline[sizeof(c->pending_log)];
    const struct policy_req *r = &c->req;
    int want_log = log_enabled(LOG_LVL_INFO);

    decide(rules, opts, policy_get(r, PA_PROTOCOL_STATE), policy_get(r, PA_SENDER),
           policy_get(r, PA_RECIPIENT), &d);
    if (want_log)
        build_logline(logline, sizeof(logline), r, &d);
    /* Non-RCPT states would flood the log with DUNNO lines that say nothing. */
    if (d.kind == DK_NOT_RCPT)
        want_log = 0;
    if (d.kind != DK_CHALLENGE) {
        conn_reply(c, d.reply, want_log ? logline : NULL);
        return;
    }
    struct pair_entry *e = pairset_get(pairs, d.challenge_sender, d.challenge_recipient);
    if (e && e->recorded) {
        conn_reply(c, e->closed ? REPLY_ACCESS_DENIED : d.reply, want_log ? logline : NULL);
        if (!e->closed) {
            e->hits++;
            struct challenge_job *refresh = e->refresh_out ? NULL : new_job(c, &d);
            if (refresh && !send_counted_retries(e, refresh))
                free(refresh);      /* not queued: the retries stay counted in E */
        }
        return;
    }
    struct challenge_job *job = new_job(c, &d);
    if (!job) {
        conn_reply(c, REPLY_TEMPFAIL, want_log ? logline : NULL);
        return;
    }
    caps_roll(time(NULL));
    job->capped = caps_reached(job->protected_key, job->client_address);
    if (challenge_submit(writer, job) < 0) {
        free(job);
        log_warning("challenge queue full, answering 451");
        conn_reply(c, REPLY_TEMPFAIL, want_log ? logline : NULL);
        return;
    }
    c->waiting = 1;
    snprintf(c->pending_reply, sizeof(c->pending_reply), "%s", d.reply);
    if (want_log)
        snprintf(c->pending_log, sizeof(c->pending_log), "%s", logline);
    else
        c->pending_log[0] = '\0';
}

void answer_take_results(time_t now)
{
    struct challenge_job *j = challenge_take_done(writer);

    while (j) {
        struct challenge_job *next = j->next;
        struct conn *c = conn_find(j->fd);

        /* A pair found closed means the rules in memory are behind a denial
         * or expiry: forget every pair, so each is checked by the writer again
         * until the refresh brings the closed challenges. */
        if (j->ok && j->closed)
            pairset_unverify(pairs);
        if (j->ok && j->created)
            caps_count(j->protected_key, j->client_address);
        /* A pair a rule decides (j->ruled) is not recorded: the refresh brings the rule. */
        struct pair_entry *e = j->ok && !j->none && !j->ruled ? pairset_put(pairs, j->sender, j->recipient)
                                                              : pairset_get(pairs, j->sender, j->recipient);
        if (e) {
            if (j->fd < 0)
                e->refresh_out = 0;
            e->recorded = j->ok && !j->none && !j->ruled;
            e->closed = j->ok && j->closed;
            if (!j->ok && j->fd < 0)
                e->hits += j->attempts;     /* not written: goes with the next write */
        }
        if (c && c->id == j->conn_id && c->waiting) {
            c->waiting = 0;
            const char *reply = !j->ok ? REPLY_TEMPFAIL : j->closed ? REPLY_ACCESS_DENIED
                              : !j->none ? c->pending_reply
                              : opts->unknown_sender == UNKNOWN_REJECT ? REPLY_ACCESS_DENIED : REPLY_CAPPED;
            conn_reply(c, reply, c->pending_log[0] ? c->pending_log : NULL);
            c->last_active = now;
            conn_process(c, now);
        }
        /* Retries answered while this write was out go in one more. */
        if (!send_counted_retries(pairset_get(pairs, j->sender, j->recipient), j))
            free(j);
        j = next;
    }
}
