/* conn.h - guardlistd's client connections: one Postfix smtpd process each,
 * all owned by the event-loop thread. */
#ifndef GUARDLISTD_CONN_H
#define GUARDLISTD_CONN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "policy.h"

#define CONN_IN_BUF 4096
#define CONN_OUT_BUF 4096

struct conn {
    int fd;
    uint64_t id;
    int waiting;                    /* a challenge write is out for this request */
    int eof;                        /* peer closed its side */
    int detached;                   /* hung up while waiting: out of epoll */
    unsigned int events;            /* registered epoll mask */
    time_t last_active, req_start;
    size_t inlen, outlen, outoff;
    char peer[64];
    char client[INET6_ADDRSTRLEN + 8];  /* peer address without the port, "unix" */
    char pending_reply[300];        /* sent when the challenge is recorded */
    char pending_log[1400];         /* the decision line, reply added later */
    struct policy_req req;
    char in[CONN_IN_BUF];
    char out[CONN_OUT_BUF];
};

/* Makes room for [policy] max_connections (+64) connections.  The limits
 * and timeouts are read from CFG at each use, so a reload is in force at
 * once.  Returns -1 when out of memory. */
int conn_init(const struct config *cfg);

/* How many connections the table holds: a reload cannot raise
 * max_connections past it. */
size_t conn_capacity(void);

/* The connection on FD, or NULL. */
struct conn *conn_find(int fd);

/* Accepts every connection waiting on LISTEN_FD, within the limits. */
void conn_accept_all(int listen_fd, time_t now);

/* Handles EVENTS (an epoll mask) on FD, if FD is a connection. */
void conn_event(int fd, unsigned int events, time_t now);

/* Queues the reply ACTION on C and logs LOGLINE (NULL: nothing) with it. */
void conn_reply(struct conn *c, const char *action, const char *logline);

/* Parses and answers what is buffered.  Returns -1 if the connection closed. */
int conn_process(struct conn *c, time_t now);

/* Closes the connections past their read or idle timeout. */
void conn_sweep(time_t now);

/* Closes every connection and frees the table. */
void conn_close_all(void);

#endif
