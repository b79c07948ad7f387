/* answer.h - guardlistd's answer to one policy request: the decision from
 * the rules in memory, and for an unknown sender the challenge behind it. */
#ifndef GUARDLISTD_ANSWER_H
#define GUARDLISTD_ANSWER_H

#include <time.h>

#include "challenge.h"
#include "decide.h"
#include "ruleset.h"

struct conn;

/* Answers with OPTS (read at each request, so a reload is in force at once)
 * and records challenges through WRITER.  Returns -1 when out of memory. */
int answer_init(const struct decide_opts *opts, struct challenge_writer *writer);

/* Frees the pairs remembered and the rules in use. */
void answer_free(void);

/* Decides from FRESH from now on (ownership passes; NULL: no change). */
void answer_use_rules(struct ruleset *fresh);

/* 1 once a ruleset is in use (until then every request is answered 451). */
int answer_has_rules(void);

/* Answers the whole request buffered in C, or leaves C waiting for the
 * challenge writer (c->waiting) with the reply kept in C. */
void answer_request(struct conn *c);

/* Takes the writer's finished jobs and answers the connections waiting on
 * them, in order. */
void answer_take_results(time_t now);

#endif
