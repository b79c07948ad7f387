/* control.h - guardlistd's control thread (main's): signals, accepting
 * connections, publishing new rules, writing behind the replies. */
#ifndef GUARDLISTD_CONTROL_H
#define GUARDLISTD_CONTROL_H

struct refresher;

/* Blocks SIGTERM, SIGINT and SIGHUP (call before any thread starts: they
 * inherit the mask), ignores SIGPIPE, and creates the signalfd, the wake
 * eventfd and the epoll set watching them and LISTEN_FD.  Returns -1 with
 * errno set on failure. */
int control_init(int listen_fd);

/* Wakes the control thread; for the refresher, safe from any thread. */
void control_wake(void);

/* Before control_run(): waits up to MS milliseconds for a wake-up. */
void control_wait_wake(int ms);

/* Runs until SIGTERM or SIGINT: accepts and gives connections to the loop
 * threads, publishes new rules from REFRESHER, hands the writes behind
 * the replies to the writer every second, re-reads the configuration on
 * SIGHUP.  Returns 0, or 1 if epoll failed. */
int control_run(struct refresher *refresher);

/* Closes what control_init() opened. */
void control_free(void);

#endif
