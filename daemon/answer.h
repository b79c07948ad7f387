/* answer.h - guardlistd's answer to one policy request: the decision from
 * the rules in memory, and for an unknown sender the challenge behind it. */
#ifndef GUARDLISTD_ANSWER_H
#define GUARDLISTD_ANSWER_H

#include <time.h>

#include "challenge.h"
#include "decide.h"
#include "ruleset.h"

struct conn;
struct spf_job;

struct refresher;

/* Answers with OPTS (read at each request, so a reload is in force at once)
 * and records challenges through WRITER; answers from memory what would
 * wait for the database only while WRITER and REFRESHER both reach it.
 * Returns -1 when out of memory. */
int answer_init(const struct decide_opts *opts, struct challenge_writer *writer, struct refresher *refresher);

/* Frees the pairs remembered, the writes not handed over, and the rules
 * published.  After the loop threads and the writer stopped. */
void answer_free(void);

/* Control thread: publishes FRESH (ownership passes) for every loop thread
 * to take at its next wake-up. */
void answer_publish(struct ruleset *fresh);

/* 1 once a ruleset is published (until then every request is answered 451). */
int answer_has_rules(void);

/* Loop thread, at each wake-up: takes the newest published ruleset. */
void answer_thread_rules(void);

/* Loop thread, as it stops: drops its ruleset. */
void answer_thread_done(void);

/* Loop thread: answers the whole request buffered in C, or leaves C waiting
 * for the challenge writer (c->waiting) with the reply kept in C, or for an
 * SPF verdict (c->waiting and c->spf_wait) with the request kept in C. */
void answer_request(struct conn *c);

/* Loop thread: takes the writer's finished jobs DONE (a list, made by this
 * thread; ownership passes) and answers the connections waiting on them, in
 * order. */
void answer_take_results(struct challenge_job *done, time_t now);

/* Loop thread: takes the SPF workers' finished jobs (a list in arrival
 * order; ownership passes) and answers the requests parked on them. */
void answer_take_spf(struct spf_job *jobs, time_t now);

/* Control thread, every second or few (control.c): hands the writes
 * counted behind the replies (attempts, last seen, client) to the writer,
 * one per pair.  Returns how many it handed over. */
size_t answer_flush(void);

#endif
