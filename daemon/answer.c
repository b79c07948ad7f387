/*
 * answer - guardlistd's answer to one policy request, and the glue between
 * the event-loop threads and the challenge writer thread (challenge.c).
 *
 * Called by conn.c for each whole request and by loop.c when the writer
 * reports, on the loop threads; by the control thread to publish rules and
 * to flush the writes behind the replies.  A known pair is answered from
 * the ruleset in memory.  A new unknown pair is answered only once its
 * challenge is committed.  A pair already recorded (pairset.c), and a new
 * one past an hourly cap (caps.c), is answered at once from memory, and
 * what must be written (attempts, last seen, an open challenge refreshed)
 * is counted in the pair and handed to the writer once a second (every
 * few seconds while many pairs retry, control.c), one write per pair at a
 * time: a flood costs no database round trip per request.
 *
 * Shared between the loops: the published ruleset (a mutex around the
 * pointer; each loop holds its own reference and reads it with no lock),
 * the pairs and the writes not yet handed over (one mutex, held for a hash
 * lookup).  It never answers an allow it cannot vouch for: memory only ever
 * gives a DEFER or a REJECT; a failed write or a full queue is 451 4.3.0;
 * while the writer fails or the refresher cannot reach the database, a
 * request past a cap waits for the writer as it did before (and gets 451).
 *
 * With [policy] spf = on, an answer that would let a sender through or
 * challenge it first needs the SPF verdict on the sender's domain for the
 * client, the sender and its HELO (spfpool.c): a cached one costs a hash lookup; else the request is
 * parked, like one waiting for the writer, and answered again when the
 * verdict comes back.  Refusals, memory answers and unprotected recipients
 * never wait for DNS.
 *
 * With [policy] outbound = on, a request whose client logged in
 * (sasl_username) as a protected child (its address, or a login `guardlist
 * account` maps to one) is the child's own mail, decided
 * first by lib/outbound.c: a new contact is a challenge of (contact, child)
 * written like any other, with direction 'out'; no SPF is asked for it.
 */
#include "answer.h"
#include "addr.h"
#include "caps.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "netlist.h"
#include "loginwarn.h"
#include "outbound.h"
#include "pairset.h"
#include "policy.h"
#include "refresh.h"
#include "spf.h"
#include "spfpool.h"
#include "strcopy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PAIRS_MAX 100000            /* recorded pairs remembered (~100 bytes each) */
#define BEHIND_MAX 10000            /* writes behind replies held before the flush (~1.2 KB each) */

static const struct decide_opts *opts;
static struct challenge_writer *writer;
static struct refresher *refresher;

static pthread_mutex_t pub_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ruleset *published;           /* under pub_mu */
static unsigned long pub_gen;               /* atomic; changed under pub_mu */
static __thread struct ruleset *rules;      /* this loop thread's reference */
static __thread unsigned long rules_gen;

static pthread_mutex_t pairs_mu = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;  /* held for a lookup: spin, not sleep */
static struct pairset *pairs;               /* under pairs_mu, as are the two below */
static struct challenge_job *behind;        /* writes behind replies, not yet handed over */
static size_t nbehind;

int answer_init(const struct decide_opts *decide_opts, struct challenge_writer *challenge_writer,
                struct refresher *rules_refresher)
{
    opts = decide_opts;
    writer = challenge_writer;
    refresher = rules_refresher;
    pairs = pairset_new(PAIRS_MAX);
    return pairs ? 0 : -1;
}

void answer_free(void)
{
    while (behind) {
        struct challenge_job *next = behind->next;
        free(behind);
        behind = next;
    }
    nbehind = 0;
    pairset_free(pairs);
    ruleset_free(published);
    pairs = NULL;
    published = NULL;
}

void answer_publish(struct ruleset *fresh)
{
    struct ruleset *old;

    pthread_mutex_lock(&pub_mu);
    old = published;
    published = fresh;
    __atomic_add_fetch(&pub_gen, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&pub_mu);
    ruleset_free(old);          /* the loops still reading it hold their own reference */
    pthread_mutex_lock(&pairs_mu);
    pairset_unverify(pairs);    /* approvals and closes are in the new rules */
    pthread_mutex_unlock(&pairs_mu);
}

int answer_has_rules(void)
{
    pthread_mutex_lock(&pub_mu);
    int have = published != NULL;
    pthread_mutex_unlock(&pub_mu);
    return have;
}

void answer_thread_rules(void)
{
    if (__atomic_load_n(&pub_gen, __ATOMIC_ACQUIRE) == rules_gen)
        return;
    pthread_mutex_lock(&pub_mu);
    struct ruleset *fresh = published ? ruleset_ref(published) : NULL;
    rules_gen = pub_gen;
    pthread_mutex_unlock(&pub_mu);
    ruleset_free(rules);
    rules = fresh;
}

void answer_thread_done(void)
{
    ruleset_free(rules);
    rules = NULL;
    rules_gen = 0;
}

/* The decision line; SPF: the verdict used, or NULL.  Put together by
 * hand: it is written for every request, and printf's parsing of nine
 * fields cost more than the copying. */
static void build_logline(char *out, size_t outlen, const struct policy_req *r, const struct decision *d,
                          const char *spf)
{
    char s[300], rc[300], ca[80], cn[300], rule[600], pk[300];
    const char *name = policy_get(r, PA_CLIENT_NAME), *addr = policy_get(r, PA_CLIENT_ADDRESS);
    size_t n = 0;

    out[0] = '\0';
    str_concat(out, outlen, &n, "decision sender=\"", log_printable(s, sizeof(s), policy_get(r, PA_SENDER)),
               "\" recipient=\"", log_printable(rc, sizeof(rc), policy_get(r, PA_RECIPIENT)),
               "\" client=", log_printable(cn, sizeof(cn), name ? name : "unknown"),
               "[", log_printable(ca, sizeof(ca), addr ? addr : "?"),
               "] protected=\"", log_printable(pk, sizeof(pk), d->protected_key[0] ? d->protected_key : "-"),
               "\" rule=\"", decision_rule_text(d, rule, sizeof(rule)), "\" why=\"", d->detail, "\"",
               spf ? " spf=" : "", spf ? spf : "", (const char *)NULL);
}

/* Answers C with REPLY, counted for the metrics as WHY. */
static void reply_as(struct conn *c, enum metrics_reason why, const char *reply, const char *logline)
{
    metrics_decision(reply, why, c->read_ns);
    conn_reply(c, reply, logline);
}

/* Why D answers as it does, for the metrics. */
static enum metrics_reason reason_of(const struct decision *d)
{
    switch (d->kind) {
    case DK_RULE: return d->outbound ? MR_OUTBOUND_CONTACT : MR_RULE;
    case DK_CHALLENGE: return d->outbound ? MR_OUTBOUND_NEW_CONTACT : MR_UNKNOWN_SENDER;
    case DK_CLOSED: return MR_CLOSED;
    case DK_NOT_PROTECTED: return MR_NOT_PROTECTED;
    case DK_NULL_SENDER: return MR_NULL_SENDER;
    case DK_BAD_ADDRESS: return MR_BAD_ADDRESS;
    case DK_NO_RULES: return MR_DB;
    case DK_NOT_RCPT:
    default: return MR_OTHER;
    }
}

/* Answers C with REPLY for WHY, and logs the decision D with it when WANT_LOG. */
static void reply_logged(struct conn *c, const struct decision *d, enum metrics_reason why, const char *reply,
                         const char *spf, int want_log)
{
    char logline[sizeof(c->pending_log)];

    if (want_log)
        build_logline(logline, sizeof(logline), &c->req, d, spf);
    reply_as(c, why, reply, want_log ? logline : NULL);
}

/* A challenge write for the pair of D, asked for by the request on C.  NULL
 * when out of memory. */
static struct challenge_job *new_job(const struct conn *c, const struct decision *d, const char *spf)
{
    const struct policy_req *r = &c->req;
    struct challenge_job *job = calloc(1, sizeof(*job));

    if (!job)
        return NULL;
    job->owner = loop_self();
    job->fd = c->fd;
    job->conn_id = c->id;
    job->attempts = 1;
    job->exact_domain = d->exact_domain;
    snprintf(job->spf_result, sizeof(job->spf_result), "%s", spf ? spf : "");
    snprintf(job->sender, sizeof(job->sender), "%s", d->challenge_sender);
    snprintf(job->base, sizeof(job->base), "%s", d->challenge_base[0] ? d->challenge_base
                                                                         : d->challenge_sender);
    snprintf(job->recipient, sizeof(job->recipient), "%s", d->challenge_recipient);
    snprintf(job->protected_key, sizeof(job->protected_key), "%s", d->protected_key);
    job->outbound = d->outbound;
    const char *ca = policy_get(r, PA_CLIENT_ADDRESS), *cn = policy_get(r, PA_CLIENT_NAME);
    if (ca && strlen(ca) < sizeof(job->client_address) && addr_utf8_valid(ca, strlen(ca)))
        snprintf(job->client_address, sizeof(job->client_address), "%s", ca);
    if (cn && strlen(cn) < sizeof(job->client_name) && addr_utf8_valid(cn, strlen(cn)))
        snprintf(job->client_name, sizeof(job->client_name), "%s", cn);
    return job;
}

/* Turns J into the write behind the replies of its pair (E, which must have
 * no write out), held until the next flush; its attempts are E's hits then.
 * Caller holds pairs_mu.  Returns 1 if J was taken, 0 if the caller still
 * owns it (too many held: the hits stay counted in E for its next write). */
static int hold_behind(struct pair_entry *e, struct challenge_job *j, int capped)
{
    if (nbehind >= BEHIND_MAX)
        return 0;
    j->fd = -1;
    j->attempts = 0;
    j->ok = j->closed = j->created = j->none = j->reserved = 0;
    j->capped = capped;
    j->next = behind;
    behind = j;
    nbehind++;
    e->refresh_out = 1;
    return 1;
}

/* A retry of a recorded pair E (caller holds pairs_mu), or a request past a
 * cap (CAPPED, in caps window WINDOW): counted in E, written behind the
 * reply. */
static void count_behind(struct pair_entry *e, const struct conn *c, const struct decision *d, int capped,
                         unsigned long window)
{
    e->hits++;
    if (e->refresh_out)
        return;                 /* goes with the write already held or out */
    struct challenge_job *j = new_job(c, d, NULL);
    if (!j)
        return;
    j->window = window;
    if (!hold_behind(e, j, capped))
        free(j);
}

/* The answer to a new pair past a cap: OUTBOUND (a child's new contact)
 * in the child's words, else the stranger's. */
static const char *capped_reply(int outbound)
{
    if (outbound)
        return REPLY_OUT_CAPPED;
    return opts->unknown_sender == UNKNOWN_REJECT ? REPLY_ACCESS_DENIED : REPLY_CAPPED;
}

/* Past a cap, with the writer working: answered from memory (a deferral, or
 * the refusal of unknown_sender = reject), the pair's open challenge, if it
 * has one, refreshed behind the reply. */
static void answer_capped(struct conn *c, const struct decision *d, unsigned long window, const char *logline)
{
    metrics_cap_refusal(c->cap_hit);
    reply_as(c, MR_CAP, capped_reply(d->outbound), logline);
    pthread_mutex_lock(&pairs_mu);
    struct pair_entry *e = pairset_put(pairs, d->challenge_sender, d->challenge_recipient);
    if (e && e->none_window != window) /* else known to have no open challenge this hour: nothing to write */
        count_behind(e, c, d, 1, window);
    pthread_mutex_unlock(&pairs_mu);
}

/* 1 if D, for the request on C, must have the sender's SPF verdict first:
 * it would let the sender through or give it a rule's effect (d->allows:
 * any action but a refusal or deferral) or challenge it, the sender has a domain
 * (a null sender has none to verify), and the client is no trusted
 * forwarder (whose mail is never judged by SPF). */
static int needs_spf(const struct conn *c, const struct decision *d)
{
    if (!opts->spf || !(d->allows || d->kind == DK_CHALLENGE) || !strchr(d->sender, '@'))
        return 0;
    /* A client logged in (SASL) as the very address it sends from is that
     * sender: SPF would judge the user's home connection against the
     * domain's servers (a child writing to another protected child).  Any
     * other envelope from a logged-in client is judged as usual. */
    const char *login = policy_get(&c->req, PA_SASL_USERNAME), *sender = policy_get(&c->req, PA_SENDER);
    if (login && *login && sender && strcasecmp(login, sender) == 0)
        return 0;
    return !netlist_match(opts->trusted_forwarders, policy_get(&c->req, PA_CLIENT_ADDRESS));
}

/* JOB's client, sender and HELO name from the request on C and D (copied
 * only when they fit and are text; SPF then judges without them), DOMAIN
 * (spf_domain()) and the cache key of the three. */
static void fill_spf_job(struct spf_job *job, const struct conn *c, const struct decision *d, const char *domain)
{
    const struct policy_req *r = &c->req;
    const char *ca = policy_get(r, PA_CLIENT_ADDRESS), *helo = policy_get(r, PA_HELO_NAME);
    const char *sender = policy_get(r, PA_SENDER);

    job->owner = loop_self();
    job->fd = c->fd;
    job->conn_id = c->id;
    if (ca && strlen(ca) < sizeof(job->client))
        str_copy(job->client, sizeof(job->client), ca);
    str_copy(job->domain, sizeof(job->domain), domain);
    str_copy(job->sender, sizeof(job->sender),
             sender && strlen(sender) < sizeof(job->sender) && addr_utf8_valid(sender, strlen(sender)) ? sender
                                                                                                    : d->sender);
    if (helo && strlen(helo) < sizeof(job->helo) && addr_utf8_valid(helo, strlen(helo)))
        str_copy(job->helo, sizeof(job->helo), helo);
    (void)spfpool_key(job->sender, job->domain, job->helo, job->key, sizeof(job->key));  /* always fits */
}

/* Hands the SPF evaluation for D to a worker and parks C until it is back
 * (answer_take_spf); a full queue is a 451 now, never an allow. */
static void park_for_spf(struct conn *c, const struct decision *d, const struct spf_job *asked, int want_log)
{
    struct spf_job *job = malloc(sizeof(*job));

    if (job)
        *job = *asked;
    if (!job || spfpool_submit(job) < 0) {
        free(job);
        log_warning("SPF queue full, answering 451");
        reply_logged(c, d, MR_OTHER, REPLY_TEMPFAIL, NULL, want_log);
        return;
    }
    c->waiting = 1;
    c->spf_wait = 1;
}

/* The SPF step of D (see needs_spf): returns 0 when the decision stands,
 * with *SPF the verdict's name (NULL: not checked); 1 when C was answered
 * (the verdict refuses: no allow, no challenge) or parked.  HAVE: the
 * verdict *VP was evaluated for this request meanwhile; else *VP is set
 * from the cache when the step returns 0 with *SPF set. */
static int spf_step(struct conn *c, struct decision *d, int have, enum spf_verdict *vp, int want_log,
                    const char **spf)
{
    char domain[ADDR_MAX + 2];
    struct spf_job asked;

    *spf = NULL;
    if (!needs_spf(c, d))
        return 0;
    if (spf_domain(d->sender, domain, sizeof(domain)) < 0) {
        *vp = SPF_V_PERMERROR;      /* a domain no DNS name can spell */
    } else if (!have) {
        memset(&asked, 0, sizeof(asked));
        fill_spf_job(&asked, c, d, domain);
        if (!spfpool_cached(&asked, vp)) {
            park_for_spf(c, d, &asked, want_log);
            return 1;
        }
    }
    enum spf_verdict v = *vp;
    *spf = spf_verdict_name(v);
    const char *refusal = spf_verdict_reply(v);
    if (!refusal)
        return 0;
    size_t n = strlen(d->detail);
    snprintf(d->detail + n, sizeof(d->detail) - n, "; SPF %s: the sender could not be verified, %s", *spf,
             v == SPF_V_TEMPERROR ? "try again later" : d->kind == DK_CHALLENGE ? "refused, no challenge"
                                                                              : "refused");
    reply_logged(c, d, MR_SPF, refusal, *spf, 1);   /* always said: one line that says why */
    return 1;
}

/* A challenge of D whose pair is recorded: answered from memory (a retry),
 * its refresh written behind the reply.  Returns 1 if C was answered. */
static int answer_recorded(struct conn *c, const struct decision *d, int want_log)
{
    pthread_mutex_lock(&pairs_mu);
    struct pair_entry *e = pairset_get(pairs, d->challenge_sender, d->challenge_recipient);
    /* A pair found closed by an inbound request may have expired: the
     * child's request goes to the writer, which tells (decide.c). */
    if (!e || !e->recorded || (e->closed && d->outbound)) {
        pthread_mutex_unlock(&pairs_mu);
        return 0;
    }
    reply_logged(c, d, e->closed ? MR_CLOSED : reason_of(d), e->closed ? REPLY_ACCESS_DENIED : d->reply, NULL,
                 want_log);
    if (!e->closed)
        count_behind(e, c, d, 0, 0);
    pthread_mutex_unlock(&pairs_mu);
    return 1;
}

/* A new unknown pair (D) past an hourly cap while the writer and the
 * database work: answered from memory, no DNS (answer_capped).  Else *ROOM
 * and *WINDOW are the cap's reservation, taken for the challenge (0 when
 * the writer must say whether an open challenge exists).  Returns 1 if C was
 * answered. */
static int capped_from_memory(struct conn *c, const struct decision *d, int want_log, int *room,
                              unsigned long *window)
{
    char logline[sizeof(c->pending_log)];

    c->cap_hit = 0;
    *room = caps_reserve(d->protected_key, policy_get(&c->req, PA_CLIENT_ADDRESS), time(NULL), window,
                         &c->cap_hit);
    if (*room || !challenge_writer_ok(writer) || !refresher_db_ok(refresher))
        return 0;
    if (want_log)
        build_logline(logline, sizeof(logline), &c->req, d, NULL);
    answer_capped(c, d, *window, want_log ? logline : NULL);
    return 1;
}

/* A new unknown pair (D): its challenge goes to the writer and C waits for
 * it.  ROOM, WINDOW: the cap's reservation (capped_from_memory()).  SPF: the
 * verdict to record with the challenge (NULL: not checked). */
static void answer_challenge(struct conn *c, const struct decision *d, const char *spf, int room,
                             unsigned long window, int want_log)
{
    const char *ca = policy_get(&c->req, PA_CLIENT_ADDRESS);
    char logline[sizeof(c->pending_log)];

    if (want_log)
        build_logline(logline, sizeof(logline), &c->req, d, spf);
    struct challenge_job *job = new_job(c, d, spf);
    if (!job || challenge_submit(writer, job) < 0) {
        if (room)
            caps_release(d->protected_key, ca, window);
        if (job)
            log_warning("challenge queue full, answering 451");
        free(job);
        reply_as(c, MR_OTHER, REPLY_TEMPFAIL, want_log ? logline : NULL);
        return;
    }
    job->capped = !room;
    job->cap_hit = c->cap_hit;
    job->reserved = room;
    job->window = window;
    c->waiting = 1;
    snprintf(c->pending_reply, sizeof(c->pending_reply), "%s", d->reply);
    snprintf(c->pending_log, sizeof(c->pending_log), "%s", want_log ? logline : "");
}

/* A login that is no protected child sent as one (outbound.c judged it as
 * that child's mail): said once a login, the admin should map it. */
static void warn_unmapped_login(const struct policy_req *r)
{
    const char *login = policy_get(r, PA_SASL_USERNAME), *sender = policy_get(r, PA_SENDER);
    char l[200], s[300];

    if (loginwarn_first(login))
        log_warning("login=%s is no protected child and has no mapping, but sends as the protected %s: "
                    "judged as that child's mail (map it: guardlist account add LOGIN ADDRESS)",
                    log_printable(l, sizeof(l), login), log_printable(s, sizeof(s), sender));
}

/* The outbound decision D (lib/outbound.c) for the request on C.  Returns
 * 1 if C was answered or waits (a refusal, the contact request); 0 for an
 * approved contact, which goes on to the inbound decision (the recipient
 * may be protected too). */
static int answer_outbound(struct conn *c, const struct decision *d, int want_log)
{
    int room = 0;
    unsigned long window = 0;

    if (d->allows)
        return 0;
    if (d->kind != DK_CHALLENGE) {
        reply_logged(c, d, reason_of(d), d->reply, NULL, want_log);
        return 1;
    }
    if (answer_recorded(c, d, want_log) || capped_from_memory(c, d, want_log, &room, &window))
        return 1;
    answer_challenge(c, d, NULL, room, window, want_log);   /* the child's own mail: no SPF */
    return 1;
}

void answer_request(struct conn *c)
{
    struct decision d;
    const struct policy_req *r = &c->req;
    struct decide_opts exact;
    const struct decide_opts *o = opts;
    int want_log = log_enabled(LOG_LVL_INFO);
    int have = c->spf_have;     /* a verdict evaluated for this very request */
    enum spf_verdict v = c->spf_verdict;
    int room = 0;
    unsigned long window = 0;
    const char *spf;

    c->spf_have = 0;
    int out = outbound_decide(rules, opts, policy_get(r, PA_PROTOCOL_STATE), policy_get(r, PA_SASL_USERNAME),
                              policy_get(r, PA_SENDER), policy_get(r, PA_RECIPIENT), &d);
    if (out && d.login_unmapped)
        warn_unmapped_login(r);
    if (out && answer_outbound(c, &d, want_log))
        return;
    struct decision contact;
    if (out)
        contact = d;            /* an approved contact: the usual allow, unless the recipient is protected too */
again:
    decide(rules, o, policy_get(r, PA_PROTOCOL_STATE), policy_get(r, PA_SENDER),
           policy_get(r, PA_RECIPIENT), policy_get(r, PA_CLIENT_ADDRESS), &d);
    if (out && d.kind == DK_NOT_PROTECTED)
        d = contact;
    if (o == &exact) {
        size_t n = strlen(d.detail);
        snprintf(d.detail + n, sizeof(d.detail) - n, "; a domain-wide rule needs SPF pass, got %s",
                 spf_verdict_name(v));
    }
    /* Non-RCPT states would flood the log with DUNNO lines that say nothing. */
    if (d.kind == DK_NOT_RCPT)
        want_log = 0;
    /* Retries and caps are answered from memory before any DNS. */
    if (d.kind == DK_CHALLENGE
        && (answer_recorded(c, &d, want_log) || capped_from_memory(c, &d, want_log, &room, &window)))
        return;
    /* A child's own mail (outbound control applied and allowed it) is sent
     * as the child, by the client that logged in as the child: no sender to
     * verify, and SPF would judge the child's home connection (or, for an
     * unprotected recipient, the contact's domain). */
    spf = NULL;
    if (!out && spf_step(c, &d, have, &v, want_log, &spf)) {
        if (room)       /* refused or parked: no challenge now (taken again when answered again) */
            caps_release(d.protected_key, policy_get(r, PA_CLIENT_ADDRESS), window);
        return;
    }
    /* A domain-wide approval vouches only for a sender SPF verifies: with
     * none or neutral anyone could name a subdomain that does not exist.
     * Decided again without parent-domain rules: what an unknown sender
     * gets (a challenge, recorded with the verdict), or an exact rule. */
    if (spf && d.allows && d.parent_domain && v != SPF_V_PASS && o != &exact) {
        exact = *opts;
        exact.exact_domain = 1;
        o = &exact;
        have = 1;
        goto again;
    }
    if (d.kind != DK_CHALLENGE) {
        reply_logged(c, &d, reason_of(&d), d.reply, spf, want_log);
        return;
    }
    answer_challenge(c, &d, spf, room, window, want_log);
}

/* Loop thread: the SPF verdicts of JOBS (a list in arrival order; ownership
 * passes) for the connections parked on them, answered again with them. */
void answer_take_spf(struct spf_job *j, time_t now)
{
    while (j) {
        struct spf_job *next = j->next;
        struct conn *c = conn_find(j->fd);

        if (c && c->id == j->conn_id && c->waiting && c->spf_wait) {
            c->waiting = c->spf_wait = 0;
            c->spf_have = 1;
            c->spf_verdict = j->verdict;
            answer_request(c);
            if (!c->spf_wait)
                policy_reset(&c->req);
            c->last_active = now;
            conn_process(c, now);
        }
        free(j);
        j = next;
    }
}

/* What the writer learned of J's pair goes into the pairs.  Returns 1 if
 * J was taken to carry the retries counted meanwhile. */
static int learn(struct challenge_job *j)
{
    int taken = 0;

    pthread_mutex_lock(&pairs_mu);
    /* A pair found closed means the rules in memory are behind a denial
     * or expiry: forget every pair, so each is checked by the writer again
     * until the refresh brings the closed challenges. */
    if (j->ok && j->closed)
        pairset_unverify(pairs);
    /* A pair a rule decides (j->ruled) is not recorded: the refresh brings the rule. */
    int record = j->ok && !j->none && !j->ruled;
    struct pair_entry *e = record ? pairset_put(pairs, j->sender, j->recipient)
                                  : pairset_get(pairs, j->sender, j->recipient);
    if (e) {
        if (j->fd < 0)
            e->refresh_out = 0;
        e->recorded = record;
        e->closed = j->ok && j->closed;
        if (j->ok && j->none) {
            e->none_window = j->window;     /* capped, no open challenge: nothing to write */
            e->hits = 0;
        }
        /* Not written: held again with the retries counted meanwhile, and
         * written once the database answers (answer_flush()), whether or
         * not the sender tries again. */
        if (!j->ok && j->fd < 0) {
            e->hits += j->attempts;
            taken = hold_behind(e, j, j->capped);
        } else if (e->recorded && !e->closed && !e->refresh_out && e->hits > 0) {
            taken = hold_behind(e, j, 0);   /* the retries answered while J was out */
        }
    }
    pthread_mutex_unlock(&pairs_mu);
    return taken;
}

void answer_take_results(struct challenge_job *j, time_t now)
{
    while (j) {
        struct challenge_job *next = j->next;
        struct conn *c = j->fd >= 0 ? conn_find(j->fd) : NULL;

        if (j->reserved && !(j->ok && j->created))
            caps_release(j->protected_key, j->client_address, j->window);
        if (j->ok && j->db_full)    /* full in the database: the next ones answered from memory */
            caps_fill(j->protected_key, j->client_address, j->window, j->db_full);
        if (c && c->id == j->conn_id && c->waiting) {
            c->waiting = 0;
            const char *reply = !j->ok ? REPLY_TEMPFAIL
                              : j->closed ? (j->outbound ? REPLY_OUT_REFUSED : REPLY_ACCESS_DENIED)
                              : !j->none ? c->pending_reply : capped_reply(j->outbound);
            enum metrics_reason why = !j->ok ? MR_DB : j->closed ? MR_CLOSED
                                    : !j->none ? (j->outbound ? MR_OUTBOUND_NEW_CONTACT : MR_UNKNOWN_SENDER)
                                    : MR_CAP;
            if (why == MR_CAP)
                metrics_cap_refusal(j->db_full ? j->db_full : j->cap_hit);
            reply_as(c, why, reply, c->pending_log[0] ? c->pending_log : NULL);
            c->last_active = now;
            conn_process(c, now);
        }
        if (!learn(j))
            free(j);
        j = next;
    }
}

size_t answer_flush(void)
{
    struct challenge_job *list;
    size_t handed = 0;

    /* The writer failing and the database unreachable: held until the
     * refresher reaches it again, not failed once a flush. */
    if (!challenge_writer_ok(writer) && !refresher_db_ok(refresher))
        return 0;
    pthread_mutex_lock(&pairs_mu);
    list = behind;
    behind = NULL;
    nbehind = 0;
    pthread_mutex_unlock(&pairs_mu);
    while (list) {
        struct challenge_job *j = list;
        list = j->next;
        pthread_mutex_lock(&pairs_mu);
        struct pair_entry *e = pairset_get(pairs, j->sender, j->recipient);
        if (e) {
            j->attempts = e->hits;
            e->hits = 0;
            if (j->attempts == 0)
                e->refresh_out = 0;
        }
        pthread_mutex_unlock(&pairs_mu);
        if (!e || j->attempts == 0) {   /* forgotten (the set was full), or nothing left */
            free(j);
            continue;
        }
        if (challenge_submit_behind(writer, j) == 0) {
            handed++;
        } else {
            pthread_mutex_lock(&pairs_mu);  /* the writer is busy: held again, for the next flush */
            e = pairset_get(pairs, j->sender, j->recipient);
            if (e)
                e->hits += j->attempts;
            j->attempts = 0;
            j->next = behind;
            behind = j;
            nbehind++;
            pthread_mutex_unlock(&pairs_mu);
        }
    }
    return handed;
}
