/* loop.h - guardlistd's event loop: epoll over the listen socket, the client
 * connections, a wake eventfd for the helper threads and a signalfd. */
#ifndef GUARDLISTD_LOOP_H
#define GUARDLISTD_LOOP_H

struct refresher;

/* Blocks SIGTERM, SIGINT and SIGHUP (call before any thread starts: they
 * inherit the mask), ignores SIGPIPE, and creates the signalfd, the wake
 * eventfd and the epoll set watching them and LISTEN_FD.  Returns -1 with
 * errno set on failure. */
int loop_init(int listen_fd);

/* Watches FD for input.  Returns -1 with errno set on failure. */
int loop_add(int fd);
/* Watches FD for EVENTS (an epoll mask) instead. */
void loop_set(int fd, unsigned int events);
/* Stops watching FD. */
void loop_remove(int fd);

/* Wakes the loop; for the helper threads (refresh.c, challenge.c), safe from
 * any thread, and all they may call here. */
void loop_wake(void);

/* Before loop_run(): waits up to MS milliseconds for a wake-up, and leaves
 * it pending for loop_run(). */
void loop_wait_wake(int ms);

/* Runs until SIGTERM or SIGINT: accepts, answers, takes new rules from
 * REFRESHER and results from the challenge writer, re-reads the
 * configuration on SIGHUP.  Returns 0, or 1 if epoll failed. */
int loop_run(struct refresher *refresher);

/* Closes what loop_init() opened. */
void loop_free(void);

#endif
