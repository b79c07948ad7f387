/*
 * loop - guardlistd's event loop: one thread, one epoll set over the listen
 * socket, every client connection, the wake eventfd and the signalfd.
 *
 * main() sets it up and runs it; conn.c adds and removes its connections;
 * the helper threads (refresh.c, challenge.c) only ever call loop_wake().
 * Nothing on this thread may block but epoll_wait itself: every request is
 * answered from memory or handed to a thread.  SIGHUP re-reads the
 * configuration (settings.c) between two events; SIGTERM and SIGINT stop it.
 */
#include "loop.h"
#include "answer.h"
#include "conn.h"
#include "log.h"
#include "refresh.h"
#include "settings.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

static int epfd = -1, listen_fd = -1, wake_fd = -1, sig_fd = -1;

int loop_init(int listen)
{
    sigset_t mask;

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);        /* before threads: they inherit it */
    signal(SIGPIPE, SIG_IGN);
    sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (sig_fd < 0 || wake_fd < 0 || epfd < 0)
        return -1;
    listen_fd = listen;
    loop_add(listen_fd);
    loop_add(wake_fd);
    loop_add(sig_fd);
    return 0;
}

int loop_add(int fd)
{
    struct epoll_event e = { .events = EPOLLIN, .data.fd = fd };

    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
}

void loop_set(int fd, unsigned int events)
{
    struct epoll_event e = { .events = events, .data.fd = fd };

    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
}

void loop_remove(int fd)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
}

void loop_wake(void)
{
    uint64_t one = 1;
    ssize_t n = write(wake_fd, &one, sizeof(one));
    (void)n;    /* a full counter already means "wake up" */
}

void loop_wait_wake(int ms)
{
    struct pollfd pfd = { .fd = wake_fd, .events = POLLIN };

    if (poll(&pfd, 1, ms) > 0) {
        uint64_t v;
        ssize_t r = read(wake_fd, &v, sizeof(v));
        (void)r;
        loop_wake();     /* the loop still takes challenge results */
    }
}

/* The helper threads have news: a new ruleset, finished challenge writes. */
static void woken(struct refresher *refresher, time_t now)
{
    uint64_t v;
    ssize_t r = read(wake_fd, &v, sizeof(v));

    (void)r;
    answer_use_rules(refresher_take(refresher));
    answer_take_results(now);
}

/* Returns 1 when a signal says stop. */
static int signalled(struct refresher *refresher)
{
    struct signalfd_siginfo si;

    while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            settings_reload(conn_capacity(), refresher);
        } else {
            log_info("signal %u: stopping", si.ssi_signo);
            return 1;
        }
    }
    return 0;
}

int loop_run(struct refresher *refresher)
{
    struct epoll_event ev[256];
    time_t last_sweep = time(NULL);

    for (;;) {
        int n = epoll_wait(epfd, ev, 256, 500);
        time_t now = time(NULL);

        if (n < 0 && errno != EINTR) {
            log_fatal("epoll_wait: %s", strerror(errno));
            return 1;
        }
        /* The replies of this wake-up go out first, its log lines after. */
        log_hold();
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;

            if (fd == listen_fd) {
                conn_accept_all(listen_fd, now);
            } else if (fd == wake_fd) {
                woken(refresher, now);
            } else if (fd == sig_fd) {
                if (signalled(refresher)) {
                    log_release();
                    return 0;
                }
            } else {
                conn_event(fd, ev[i].events, now);
            }
        }
        if (now != last_sweep) {
            last_sweep = now;
            conn_sweep(now);
        }
        log_release();
    }
}

void loop_free(void)
{
    close(epfd);
    close(wake_fd);
    close(sig_fd);
    epfd = wake_fd = sig_fd = -1;
}
