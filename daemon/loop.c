/*
 * loop - guardlistd's event-loop threads ([policy] threads of them): each
 * has its own epoll set over the client connections it was given and a wake
 * eventfd, and answers every request from memory (conn.c, answer.c).
 *
 * The control thread (control.c) accepts and gives each connection to the
 * loop with the fewest; the challenge writer and the SPF workers hand each
 * finished job back to the loop that made it (loop_deliver, loop_deliver_spf).  A loop thread never blocks but in
 * epoll_wait: a request that needs the database is handed to the writer.
 * It holds the settings' read lock while it handles one wake-up, so a
 * SIGHUP reload never changes a setting under it.
 */
#include "loop.h"
#include "answer.h"
#include "challenge.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "settings.h"
#include "spfpool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct loop {
    pthread_t thread;
    int started;
    int epfd, wake_fd;
    int stop;                       /* atomic */
    unsigned int nconns;            /* atomic: connections it owns, for loop_give */
    pthread_mutex_t mu;             /* guards the two lists below */
    struct conn *inbox;             /* given, not yet taken (linked by next_given) */
    struct challenge_job *done;     /* the writer's results for this loop */
    struct spf_job *spf_done;       /* the SPF workers' verdicts for this loop */
};

static struct loop *loops;
static int nloops;
static __thread struct loop *self;

static void wake(struct loop *l)
{
    uint64_t one = 1;
    ssize_t n = write(l->wake_fd, &one, sizeof(one));
    (void)n;    /* a full counter already means "wake up" */
}

int loop_add(int fd)
{
    struct epoll_event e = { .events = EPOLLIN, .data.fd = fd };

    return epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &e);
}

void loop_set(int fd, unsigned int events)
{
    struct epoll_event e = { .events = events, .data.fd = fd };

    epoll_ctl(self->epfd, EPOLL_CTL_MOD, fd, &e);
}

void loop_remove(int fd)
{
    epoll_ctl(self->epfd, EPOLL_CTL_DEL, fd, NULL);
}

void loop_conn_closed(void)
{
    __atomic_sub_fetch(&self->nconns, 1, __ATOMIC_RELAXED);
}

void *loop_self(void)
{
    return self;
}

int loop_give(struct conn *c)
{
    struct loop *best = NULL;
    unsigned int least = 0;

    for (int i = 0; i < nloops; i++) {
        unsigned int n = __atomic_load_n(&loops[i].nconns, __ATOMIC_RELAXED);
        if (!best || n < least) {
            best = &loops[i];
            least = n;
        }
    }
    if (!best)
        return -1;
    __atomic_add_fetch(&best->nconns, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&best->mu);
    c->next_given = best->inbox;
    best->inbox = c;
    pthread_mutex_unlock(&best->mu);
    wake(best);
    return 0;
}

void loop_wake_all(void)
{
    for (int i = 0; i < nloops; i++)
        wake(&loops[i]);
}

void loop_deliver(struct challenge_job *done)
{
    while (done) {
        struct challenge_job *next = done->next;
        struct loop *l = done->owner;

        pthread_mutex_lock(&l->mu);
        done->next = l->done;
        l->done = done;
        pthread_mutex_unlock(&l->mu);
        if (!next || next->owner != l)
            wake(l);
        done = next;
    }
}

void loop_deliver_spf(struct spf_job *done)
{
    struct loop *l = done->owner;

    pthread_mutex_lock(&l->mu);
    done->next = l->spf_done;
    l->spf_done = done;
    pthread_mutex_unlock(&l->mu);
    wake(l);
}

/* Reverses LIST (pushed newest first) into arrival order. */
static struct spf_job *spf_in_order(struct spf_job *list)
{
    struct spf_job *ordered = NULL;

    while (list) {
        struct spf_job *next = list->next;
        list->next = ordered;
        ordered = list;
        list = next;
    }
    return ordered;
}

/* The wake eventfd fired: new connections, the writer's results, SPF
 * verdicts, new rules (taken at every wake-up anyway), or stop. */
static void woken(struct loop *l, time_t now)
{
    uint64_t v;
    ssize_t r = read(l->wake_fd, &v, sizeof(v));
    struct conn *given;
    struct challenge_job *done, *ordered = NULL;
    struct spf_job *spf_done;

    (void)r;
    pthread_mutex_lock(&l->mu);
    given = l->inbox;
    done = l->done;
    spf_done = l->spf_done;
    l->inbox = NULL;
    l->done = NULL;
    l->spf_done = NULL;
    pthread_mutex_unlock(&l->mu);
    while (given) {
        struct conn *next = given->next_given;
        conn_adopt(given);
        given = next;
    }
    while (done) {      /* pushed newest first: back in the writer's order */
        struct challenge_job *next = done->next;
        done->next = ordered;
        ordered = done;
        done = next;
    }
    answer_take_results(ordered, now);
    answer_take_spf(spf_in_order(spf_done), now);
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    struct epoll_event ev[CONN_BATCH];
    time_t last_sweep = time(NULL);
    int held = 0;                   /* log lines held: wake up in time to write them */

    self = l;
    metrics_thread_init();
    if (conn_thread_init() < 0) {
        /* It would be given connections it cannot serve: stop the daemon
         * (the control thread reads the signal). */
        log_fatal("cannot allocate a connection table: %s; stopping", strerror(errno));
        kill(getpid(), SIGTERM);
        return NULL;
    }
    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        int n = epoll_wait(l->epfd, ev, CONN_BATCH, held ? HOLD_WAIT_MS : 500);
        time_t now = time(NULL);

        if (n < 0 && errno != EINTR) {
            log_fatal("epoll_wait: %s", strerror(errno));
            break;
        }
        settings_read_lock();
        answer_thread_rules();
        /* The replies of this wake-up go out first, its log lines after. */
        log_hold();
        conn_batch_begin();
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == l->wake_fd)
                woken(l, now);
            else
                conn_event(ev[i].data.fd, ev[i].events);
        }
        conn_batch_end(now);
        if (now != last_sweep) {
            last_sweep = now;
            conn_sweep(now);
        }
        held = log_release();
        settings_read_unlock();
    }
    log_flush();
    conn_thread_close_all();
    answer_thread_done();
    return NULL;
}

int loop_start(int n)
{
    loops = calloc((size_t)n, sizeof(*loops));
    if (!loops)
        return -1;
    nloops = n;
    for (int i = 0; i < n; i++)
        loops[i].epfd = loops[i].wake_fd = -1;
    for (int i = 0; i < n; i++) {
        struct loop *l = &loops[i];
        struct epoll_event e = { .events = EPOLLIN };

        pthread_mutex_init(&l->mu, NULL);
        l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        e.data.fd = l->wake_fd;
        if (l->wake_fd < 0 || l->epfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &e) < 0)
            return -1;
        int rc = pthread_create(&l->thread, NULL, loop_main, l);
        if (rc != 0) {
            errno = rc;
            return -1;
        }
        l->started = 1;
    }
    return 0;
}

void loop_stop(void)
{
    for (int i = 0; i < nloops; i++) {
        __atomic_store_n(&loops[i].stop, 1, __ATOMIC_RELEASE);
        if (loops[i].wake_fd >= 0)
            wake(&loops[i]);
    }
    for (int i = 0; i < nloops; i++)
        if (loops[i].started)
            pthread_join(loops[i].thread, NULL);
}

void loop_free(void)
{
    for (int i = 0; i < nloops; i++) {
        struct loop *l = &loops[i];
        while (l->inbox) {
            struct conn *next = l->inbox->next_given;
            conn_drop(l->inbox);
            l->inbox = next;
        }
        while (l->done) {
            struct challenge_job *next = l->done->next;
            free(l->done);
            l->done = next;
        }
        while (l->spf_done) {
            struct spf_job *next = l->spf_done->next;
            free(l->spf_done);
            l->spf_done = next;
        }
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->wake_fd >= 0)
            close(l->wake_fd);
        pthread_mutex_destroy(&l->mu);
    }
    free(loops);
    loops = NULL;
    nloops = 0;
}
