/*
 * control - guardlistd's control thread (main's own): one epoll set over
 * the listen socket, a wake eventfd for the refresher and a signalfd.
 *
 * It accepts connections and gives each to a loop thread (loop.c), which
 * answers it; publishes the rulesets the refresher builds (answer.c) and
 * wakes the loops to take them; once a second hands the writes counted
 * behind the replies to the challenge writer (answer_flush; every few
 * seconds while many pairs retry: a write per pair counts every retry it
 * carries, so a flood of retries costs the database one write a pair
 * every few seconds, not every second); and on SIGHUP
 * re-reads the configuration under the settings' write lock.  It answers no
 * request itself, so nothing it does delays one but that lock.
 */
#include "control.h"
#include "answer.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "refresh.h"
#include "settings.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define FLUSH_QUIET 50              /* pairs written in one flush that keep the next one a second away */
#define FLUSH_MAX_S 3               /* the longest wait between flushes, however many */

static int epfd = -1, listen_fd = -1, wake_fd = -1, sig_fd = -1;

static int watch(int fd)
{
    struct epoll_event e = { .events = EPOLLIN, .data.fd = fd };

    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
}

int control_init(int listen)
{
    sigset_t mask;

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);    /* before threads: they inherit it */
    signal(SIGPIPE, SIG_IGN);
    sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (sig_fd < 0 || wake_fd < 0 || epfd < 0)
        return -1;
    listen_fd = listen;
    if (watch(listen_fd) < 0 || watch(wake_fd) < 0 || watch(sig_fd) < 0)
        return -1;
    return 0;
}

void control_wake(void)
{
    uint64_t one = 1;
    ssize_t n = write(wake_fd, &one, sizeof(one));
    (void)n;    /* a full counter already means "wake up" */
}

void control_wait_wake(int ms)
{
    struct pollfd pfd = { .fd = wake_fd, .events = POLLIN };

    if (poll(&pfd, 1, ms) > 0) {
        uint64_t v;
        ssize_t r = read(wake_fd, &v, sizeof(v));
        (void)r;
    }
}

/* The refresher has a new ruleset. */
static void woken(struct refresher *refresher)
{
    uint64_t v;
    ssize_t r = read(wake_fd, &v, sizeof(v));
    struct ruleset *fresh = refresher_take(refresher);

    (void)r;
    if (fresh) {
        answer_publish(fresh);
        loop_wake_all();
    }
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

int control_run(struct refresher *refresher)
{
    struct epoll_event ev[8];
    time_t last_flush = time(NULL);
    long flush_every = 1;

    for (;;) {
        int n = epoll_wait(epfd, ev, 8, 250);
        time_t now = time(NULL);

        if (n < 0 && errno != EINTR) {
            log_fatal("epoll_wait: %s", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;

            if (fd == listen_fd)
                conn_accept_all(listen_fd, now);
            else if (fd == wake_fd)
                woken(refresher);
            else if (fd == sig_fd && signalled(refresher))
                return 0;
        }
        if (now - last_flush >= flush_every || now < last_flush) {
            size_t handed = answer_flush();
            last_flush = now;
            flush_every = 1 + (long)(handed / FLUSH_QUIET);
            if (flush_every > FLUSH_MAX_S)
                flush_every = FLUSH_MAX_S;
        }
    }
}

void control_free(void)
{
    if (epfd >= 0)
        close(epfd);
    if (wake_fd >= 0)
        close(wake_fd);
    if (sig_fd >= 0)
        close(sig_fd);
    epfd = wake_fd = sig_fd = -1;
}
