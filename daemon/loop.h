/* loop.h - guardlistd's event-loop threads: each owns some client
 * connections and answers them from memory; see loop.c. */
#ifndef GUARDLISTD_LOOP_H
#define GUARDLISTD_LOOP_H

struct conn;
struct challenge_job;
struct spf_job;

/* Starts N event-loop threads (1 to LOOP_MAX), each with its own epoll set
 * and wake eventfd.  Call after answer_init() and conn_init(), with the
 * signals blocked (control_init()).  Returns -1 with errno set on failure
 * (then loop_stop() and loop_free() stop and free what was started). */
#define LOOP_MAX 256
int loop_start(int n);

/* Stops every loop thread and waits for it; each closes its connections
 * first.  The wake fds stay until loop_free(), for a late loop_deliver(). */
void loop_stop(void);
void loop_free(void);

/* Control thread: hands the accepted connection C to the loop thread with
 * the fewest connections.  Returns -1 if it cannot (C is still the
 * caller's). */
int loop_give(struct conn *c);

/* Control thread: a new ruleset is published; every loop takes it. */
void loop_wake_all(void);

/* The challenge writer's done function: hands each finished job back to
 * the loop thread that made it (job->owner), and wakes it. */
void loop_deliver(struct challenge_job *done);

/* The SPF workers' done function: hands the finished job back to the loop
 * thread that made it (job->owner), and wakes it. */
void loop_deliver_spf(struct spf_job *done);

/* On a loop thread (conn.c): watch FD for input, for EVENTS (an epoll
 * mask) instead, or not at all, in this thread's epoll set; and count a
 * connection of this thread closed. */
int loop_add(int fd);
void loop_set(int fd, unsigned int events);
void loop_remove(int fd);
void loop_conn_closed(void);

/* The calling loop thread (the owner of the jobs it makes), NULL on any
 * other thread. */
void *loop_self(void);

#endif
