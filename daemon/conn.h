/* conn.h - guardlistd's client connections: one Postfix smtpd process each,
 * accepted by the control thread, then owned by one event-loop thread. */
#ifndef GUARDLISTD_CONN_H
#define GUARDLISTD_CONN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "policy.h"
#include "spf.h"

#define CONN_IN_BUF 4096
#define CONN_OUT_BUF 4096
#define CONN_BATCH 256          /* epoll events a loop wake-up takes */
#define CONN_Q_READ 1
#define CONN_Q_SEND 2

struct conn {
    struct conn *next_given;        /* loop.c: in a loop thread's inbox */
    int fd;
    uint64_t id;
    int waiting;                    /* a challenge write or an SPF evaluation is out for this request */
    int spf_wait;                   /* ... the SPF evaluation: the request stays in req */
    int spf_have;                   /* spf_verdict is this request's, evaluated meanwhile */
    enum spf_verdict spf_verdict;
    int eof;                        /* peer closed its side */
    int detached;                   /* hung up while waiting: out of epoll */
    int queued;                     /* CONN_Q_*: in this wake-up's reads, writes */
    unsigned int events;            /* registered epoll mask */
    time_t last_active, req_start;
    uint64_t read_ns;               /* the request was read whole (metrics_now_ns), for its latency */
    int cap_hit;                    /* capped in memory: the cap (CAP_FULL_*) for the waiting request */
    size_t inlen, outlen, outoff;
    char peer[64];
    char client[INET6_ADDRSTRLEN + 8];  /* peer address without the port, "unix" */
    char pending_reply[300];        /* sent when the challenge is recorded */
    char pending_log[1400];         /* the decision line, reply added later */
    struct policy_req req;
    char in[CONN_IN_BUF];
    char out[CONN_OUT_BUF];
};

/* Sizes the tables for [policy] max_connections (+64) connections.  The
 * limits and timeouts are read from CFG at each use, so a reload is in
 * force at once.  Returns -1 when out of memory. */
int conn_init(const struct config *cfg);
void conn_free(void);

/* On a loop thread, before it takes connections: its own table (indexed by
 * fd).  Returns -1 when out of memory. */
int conn_thread_init(void);

/* On a loop thread, as it stops: closes its connections, frees its table. */
void conn_thread_close_all(void);

/* How many connections a table holds: a reload cannot raise
 * max_connections past it. */
size_t conn_capacity(void);

/* This loop thread's connection on FD, or NULL. */
struct conn *conn_find(int fd);

/* Control thread: accepts every connection waiting on LISTEN_FD, within the
 * limits, and gives each to a loop thread (loop_give). */
void conn_accept_all(int listen_fd, time_t now);

/* Loop thread: takes C, given by the control thread, into its table and
 * its epoll set (or closes it). */
void conn_adopt(struct conn *c);

/* Closes and frees C, which no loop thread took (at shutdown). */
void conn_drop(struct conn *c);

/* A wake-up of a loop thread: conn_batch_begin(), then conn_event() for
 * each epoll event (and whatever else answers requests), then
 * conn_batch_end(), which reads what the events announced, answers it and
 * writes every reply of the wake-up, each batch in one system call where
 * io_uring is allowed. */
void conn_batch_begin(void);
void conn_batch_end(time_t now);

/* Notes EVENTS (an epoll mask) on FD, if FD is a connection, for
 * conn_batch_end(). */
void conn_event(int fd, unsigned int events);

/* Queues the reply ACTION on C and logs LOGLINE (NULL: nothing) with it. */
void conn_reply(struct conn *c, const char *action, const char *logline);

/* Parses and answers what is buffered.  Returns -1 if the connection closed. */
int conn_process(struct conn *c, time_t now);

/* Open connections, in every loop (any thread). */
size_t conn_open_count(void);

/* Closes this loop thread's connections past their read or idle timeout. */
void conn_sweep(time_t now);

#endif
