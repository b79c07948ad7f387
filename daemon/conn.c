/*
 * conn - guardlistd's client connections: accepts them within the limits,
 * reads requests (policy.c), answers them strictly in order (answer.c),
 * writes the replies and closes idle or stuck ones.
 *
 * The control thread accepts (conn_accept_all) and gives each connection
 * to a loop thread (loop.c), which from then on owns it alone, in its own
 * table indexed by fd; answer.c hands a reply back with conn_reply() when a
 * challenge write it waited for is done.  A wake-up's reads are made
 * together, then its requests answered, then its replies written together
 * (batchio.c: one system call each way where io_uring is allowed).  Shared
 * by all: the count of open connections (atomic) and the count per client
 * (a mutex; taken on accept and close only).  The peer is untrusted: a
 * malformed request closes its connection after the answers already given,
 * and nothing here ever blocks.
 */
#include "conn.h"
#include "answer.h"
#include "batchio.h"
#include "decide.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "pairset.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct config *cfg;
static size_t conns_cap;                        /* set once, before the loops start */
static size_t nconns;                           /* atomic: open, in every loop */
static uint64_t next_conn_id = 1;               /* control thread only */
static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pairset *open_per_client;         /* ("", address) -> open connections */
static __thread struct conn **conns;            /* this loop thread's, by fd */

/* A connection queued for this wake-up's reads or writes: by fd and id, so
 * one closed meanwhile (its fd maybe reused) is passed over. */
struct queued {
    int fd;
    long op;                                    /* its batchio_op, or -1 */
    uint64_t id;
};
static __thread struct queued *to_read, *to_send;   /* CONN_BATCH each */
static __thread size_t nto_read, nto_send;
static __thread struct batchio_op *ops;             /* CONN_BATCH */
static __thread int deferring;                      /* replies wait for the wake-up's writes */
static int told_io;                                 /* atomic: the I/O way is logged once */

int conn_init(const struct config *conf)
{
    cfg = conf;
    conns_cap = (size_t)cfg->policy.max_connections + 64;
    open_per_client = pairset_new(conns_cap);
    return open_per_client ? 0 : -1;
}

void conn_free(void)
{
    pairset_free(open_per_client);
    open_per_client = NULL;
}

int conn_thread_init(void)
{
    conns = calloc(conns_cap, sizeof(*conns));     /* NOLINT(bugprone-sizeof-expression): pointers */
    to_read = calloc(CONN_BATCH, sizeof(*to_read));
    to_send = calloc(CONN_BATCH, sizeof(*to_send));
    ops = calloc(CONN_BATCH, sizeof(*ops));
    if (!conns || !to_read || !to_send || !ops)
        return -1;
    int uring = batchio_thread_init(1);
    if (__atomic_exchange_n(&told_io, 1, __ATOMIC_RELAXED))
        return 0;
    if (uring)
        log_info("policy connections: reads and writes batched through io_uring");
    else
        log_info("policy connections: reads and writes by plain system calls (io_uring not available: %s)",
                 batchio_why_plain());
    return 0;
}

/* One connection of CLIENT less (any thread). */
static void client_closed(const char *client)
{
    pthread_mutex_lock(&open_mu);
    struct pair_entry *e = pairset_get(open_per_client, "", client);
    if (e && e->hits > 0)
        e->hits--;
    pthread_mutex_unlock(&open_mu);
    __atomic_sub_fetch(&nconns, 1, __ATOMIC_RELAXED);
}

void conn_drop(struct conn *c)
{
    close(c->fd);
    client_closed(c->client);
    free(c);
}

size_t conn_open_count(void)
{
    return __atomic_load_n(&nconns, __ATOMIC_RELAXED);
}

size_t conn_capacity(void)
{
    return conns_cap;
}

struct conn *conn_find(int fd)
{
    return fd >= 0 && (size_t)fd < conns_cap ? conns[fd] : NULL;
}

static void conn_close(struct conn *c, const char *why)
{
    if (why)
        log_debug("closing connection from %s: %s", c->peer, why);
    loop_remove(c->fd);
    conns[c->fd] = NULL;        /* before close: the control thread may reuse the number at once */
    loop_conn_closed();
    conn_drop(c);
}

static void conn_update_events(struct conn *c)
{
    unsigned int ev = 0;

    if (c->detached)
        return;
    if (!c->waiting && !c->eof && c->inlen < CONN_IN_BUF && c->outlen + POLICY_REPLY_MAX <= CONN_OUT_BUF)
        ev |= EPOLLIN;
    if (c->outlen > c->outoff)
        ev |= EPOLLOUT;
    if (ev != c->events) {
        loop_set(c->fd, ev);
        c->events = ev;
    }
}

/* The send of C's pending replies. */
static struct batchio_op send_op(struct conn *c)
{
    return (struct batchio_op){ .fd = c->fd, .send = 1, .buf = c->out + c->outoff, .len = c->outlen - c->outoff };
}

/* What that send gave, R (bytes, -errno): the bytes written leave the
 * buffer, EAGAIN leaves it as it is (epoll waits for room), anything else
 * closes C.  Returns -1 if the connection was closed. */
static int conn_sent(struct conn *c, ssize_t r)
{
    if (r <= 0 && r != -EAGAIN) {
        conn_close(c, "write failed");
        return -1;
    }
    if (r > 0)
        c->outoff += (size_t)r;
    if (c->outoff == c->outlen)
        c->outoff = c->outlen = 0;
    return 0;
}

/* Writes C's pending replies now, until done or the socket is full.
 * Returns -1 if the connection was closed. */
static int conn_flush(struct conn *c)
{
    while (c->outoff < c->outlen) {
        struct batchio_op op = send_op(c);
        batchio_run(&op, 1);
        if (conn_sent(c, op.result) < 0)
            return -1;
        if (op.result == -EAGAIN)
            return 0;
    }
    c->outoff = c->outlen = 0;
    return 0;
}

/* Queues C in Q (one of to_read, to_send; N its count).  Returns -1 when Q
 * is full: it holds CONN_BATCH, the events of one wake-up, so only the
 * replies the writer and the SPF workers hand back can overflow it. */
static int queue(struct queued *q, size_t *n, struct conn *c, int bit)
{
    if (c->queued & bit)
        return 0;
    if (*n >= CONN_BATCH)
        return -1;
    c->queued |= bit;
    q[*n].fd = c->fd;
    q[*n].id = c->id;
    q[*n].op = -1;
    (*n)++;
    return 0;
}

/* The connection Q names, if it is still open. */
static struct conn *queued_conn(const struct queued *q)
{
    struct conn *c = conn_find(q->fd);

    return c && c->id == q->id ? c : NULL;
}

/* Writes C's replies now or, during a wake-up, with the wake-up's other
 * writes.  Returns -1 if the connection was closed. */
static int conn_send(struct conn *c)
{
    if (!deferring || queue(to_send, &nto_send, c, CONN_Q_SEND) < 0)
        return conn_flush(c);
    return 0;
}

void conn_reply(struct conn *c, const char *action, const char *logline)
{
    char printable[POLICY_REPLY_MAX * 4];
    int n = policy_format_reply(c->out + c->outlen, CONN_OUT_BUF - c->outlen, action);

    if (n < 0) {    /* cannot happen: actions are validated; never send half a reply */
        n = policy_format_reply(c->out + c->outlen, CONN_OUT_BUF - c->outlen, REPLY_TEMPFAIL);
        action = REPLY_TEMPFAIL;
    }
    c->outlen += (size_t)n;
    if (logline)
        log_concat(LOG_LVL_INFO, logline, " reply=\"", log_printable(printable, sizeof(printable), action), "\"",
                   (const char *)NULL);
}

int conn_process(struct conn *c, time_t now)
{
    char err[160];

    for (;;) {
        int need_input = 0;

        while (!c->waiting && c->inlen > 0 && c->outlen + POLICY_REPLY_MAX <= CONN_OUT_BUF) {
            size_t used = 0;
            int was_idle = !policy_in_progress(&c->req);
            enum policy_status st = policy_feed(&c->req, c->in, c->inlen, &used, err, sizeof(err));

            memmove(c->in, c->in + used, c->inlen - used);
            c->inlen -= used;
            if (st == POLICY_ERROR) {
                log_warning("malformed policy request from %s: %s; closing the connection", c->peer, err);
                if (conn_flush(c) == 0)         /* answers already given still go out */
                    conn_close(c, NULL);
                return -1;
            }
            if (st == POLICY_MORE) {
                if (was_idle && policy_in_progress(&c->req))
                    c->req_start = now;
                need_input = 1;
                break;
            }
            c->read_ns = metrics_request_start();
            answer_request(c);
            if (!c->spf_wait)       /* else answered again, from req, with the verdict */
                policy_reset(&c->req);
        }
        if (c->outlen > c->outoff && conn_send(c) < 0)
            return -1;
        if (need_input || c->waiting || c->inlen == 0 || c->outlen > 0)
            break;
    }
    if (deferring && (c->queued & CONN_Q_SEND))
        return 0;       /* again once the replies are written (conn_batch_end) */
    if (c->eof && !c->waiting && c->outlen == 0 && c->inlen == 0) {
        if (policy_in_progress(&c->req))
            log_warning("connection from %s closed in the middle of a request", c->peer);
        conn_close(c, "closed by peer");
        return -1;
    }
    conn_update_events(c);
    return 0;
}

/* What a read of C gave (bytes, 0 at end of file, -errno).  Returns -1 if
 * the connection was closed. */
static int conn_got(struct conn *c, ssize_t n, time_t now)
{
    if (n == -EAGAIN)
        return 0;
    if (n < 0) {
        conn_close(c, "read failed");
        return -1;
    }
    if (n == 0) {
        c->eof = 1;
        return 0;
    }
    c->inlen += (size_t)n;
    c->last_active = now;
    return 0;
}

/* Sets C's peer ("address:port") and client (the address) for the log and
 * the per-client limit. */
static void name_peer(struct conn *c, const struct sockaddr_storage *ss, socklen_t sl)
{
    if (ss->ss_family == AF_UNIX) {
        snprintf(c->peer, sizeof(c->peer), "unix");
        snprintf(c->client, sizeof(c->client), "unix");
    } else {
        char p[8];
        if (getnameinfo((const struct sockaddr *)ss, sl, c->client, sizeof(c->client), p, sizeof(p),
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
            snprintf(c->peer, sizeof(c->peer), "%s:%s", c->client, p);
        } else {
            snprintf(c->peer, sizeof(c->peer), "?");
            snprintf(c->client, sizeof(c->client), "?");
        }
    }
}

/* Counts a connection of C's client; 0 past max_connections_per_client. */
static int client_opened(const struct conn *c)
{
    int room = 1;

    pthread_mutex_lock(&open_mu);
    struct pair_entry *open = pairset_put(open_per_client, "", c->client);
    if (open && open->hits >= (unsigned int)cfg->policy.max_connections_per_client)
        room = 0;
    else if (open)
        open->hits++;
    pthread_mutex_unlock(&open_mu);
    /* Not counted (bucket crowded): client_closed() finds no entry or one
     * another connection counted, and never goes below 0. */
    return room;
}

/* Accepts until the backlog is empty; past a limit a connection is closed at once. */
void conn_accept_all(int listen_fd, time_t now)
{
    for (;;) {
        struct sockaddr_storage ss = { 0 };
        socklen_t sl = sizeof(ss);
        int fd = accept4(listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        static time_t last_full_warning;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                log_warning("accept: %s", strerror(errno));
            return;
        }
        if (__atomic_load_n(&nconns, __ATOMIC_RELAXED) >= (size_t)cfg->policy.max_connections
            || (size_t)fd >= conns_cap) {
            if (now != last_full_warning)
                log_warning("connection limit %d reached, refusing a connection", cfg->policy.max_connections);
            last_full_warning = now;
            close(fd);
            continue;
        }
        struct conn *c = malloc(sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        memset(c, 0, offsetof(struct conn, req));
        policy_reset(&c->req);
        c->fd = fd;
        c->id = next_conn_id++;
        c->last_active = now;
        name_peer(c, &ss, sl);
        /* One client (a runaway or hostile one) cannot take every slot. */
        if (!client_opened(c)) {
            if (now != last_full_warning)
                log_warning("connection limit %d per client reached for %s, refusing a connection",
                            cfg->policy.max_connections_per_client, c->client);
            last_full_warning = now;
            close(fd);
            free(c);
            continue;
        }
        __atomic_add_fetch(&nconns, 1, __ATOMIC_RELAXED);
        c->events = EPOLLIN;
        if (loop_give(c) < 0)
            conn_drop(c);
    }
}

void conn_adopt(struct conn *c)
{
    if (loop_add(c->fd) < 0) {
        loop_conn_closed();
        conn_drop(c);
        return;
    }
    conns[c->fd] = c;
}

void conn_event(int fd, unsigned int events)
{
    struct conn *c = conn_find(fd);

    if (!c)
        return;
    /* Queues full: level-triggered epoll tells again at the next wake-up. */
    if (events & EPOLLOUT)
        (void)queue(to_send, &nto_send, c, CONN_Q_SEND);
    if ((events & (EPOLLHUP | EPOLLERR)) && c->eof && c->waiting) {
        /* Nothing more to read and the answer is not ready:
         * stop the level-triggered hang-up from spinning. */
        loop_remove(fd);
        c->detached = 1;
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        (void)queue(to_read, &nto_read, c, CONN_Q_READ);
}

void conn_batch_begin(void)
{
    deferring = 1;
}

/* Reads what the queued connections sent, all in one batch, and answers it. */
static void read_queued(time_t now)
{
    size_t n = 0;

    for (size_t i = 0; i < nto_read; i++) {
        struct conn *c = queued_conn(&to_read[i]);
        if (c && c->inlen < CONN_IN_BUF) {
            to_read[i].op = (long)n;
            ops[n++] = (struct batchio_op){ .fd = c->fd, .buf = c->in + c->inlen, .len = CONN_IN_BUF - c->inlen };
        }
    }
    batchio_run(ops, n);
    for (size_t i = 0; i < nto_read; i++) {
        struct conn *c = queued_conn(&to_read[i]);
        if (!c)
            continue;
        c->queued &= ~CONN_Q_READ;
        if (to_read[i].op >= 0 && conn_got(c, ops[to_read[i].op].result, now) < 0)
            continue;
        conn_process(c, now);
    }
    nto_read = 0;
}

/* Writes the queued replies, all in one batch; then each connection goes on
 * (requests it sent ahead, end of file, what epoll waits for). */
static void send_queued(time_t now)
{
    size_t n = 0;

    for (size_t i = 0; i < nto_send; i++) {
        struct conn *c = queued_conn(&to_send[i]);
        if (c && c->outlen > c->outoff) {
            to_send[i].op = (long)n;
            ops[n++] = send_op(c);
        }
    }
    batchio_run(ops, n);
    deferring = 0;
    for (size_t i = 0; i < nto_send; i++) {
        struct conn *c = queued_conn(&to_send[i]);
        if (!c)
            continue;
        c->queued &= ~CONN_Q_SEND;
        if (to_send[i].op >= 0 && conn_sent(c, ops[to_send[i].op].result) < 0)
            continue;
        conn_process(c, now);
    }
    nto_send = 0;
}

void conn_batch_end(time_t now)
{
    read_queued(now);
    send_queued(now);
}

void conn_sweep(time_t now)
{
    for (size_t fd = 0; fd < conns_cap; fd++) {
        struct conn *c = conns[fd];
        if (!c || c->waiting)
            continue;
        if (policy_in_progress(&c->req) && now - c->req_start > cfg->policy.read_timeout) {
            log_warning("read timeout on connection from %s; closing", c->peer);
            conn_close(c, NULL);
        } else if (!policy_in_progress(&c->req) && now - c->last_active > cfg->policy.idle_timeout) {
            conn_close(c, "idle timeout");
        }
    }
}

void conn_thread_close_all(void)
{
    for (size_t fd = 0; fd < conns_cap; fd++)
        if (conns[fd])
            conn_close(conns[fd], NULL);
    free(conns);
    free(to_read);
    free(to_send);
    free(ops);
    conns = NULL;
    to_read = to_send = NULL;
    ops = NULL;
    batchio_thread_done();
}
