/* batchio.h - the socket reads and writes of one loop wake-up, made in one
 * system call (io_uring) where the kernel allows it, else one by one. */
#ifndef GUARDLISTD_BATCHIO_H
#define GUARDLISTD_BATCHIO_H

#include <stddef.h>
#include <sys/types.h>

struct batchio_op {
    int fd;
    int send;           /* 1: send BUF, 0: receive into BUF */
    void *buf;
    size_t len;         /* > 0 */
    ssize_t result;     /* set by batchio_run(): bytes moved, 0 (end of file), or -errno */
};

/* On a loop thread, before its first batchio_run(): sets up its io_uring
 * unless WANT_URING is 0 or the kernel refuses one (too old,
 * kernel.io_uring_disabled, a seccomp filter) or would not finish a
 * non-blocking operation within the call (checked on a socket pair).
 * Returns 1 when io_uring is in use, 0 when plain recv(2)/send(2) are. */
int batchio_thread_init(int want_uring);

/* Why this thread's last batchio_thread_init() chose plain calls. */
const char *batchio_why_plain(void);

/* Makes OPS[0..N), each non-blocking (MSG_DONTWAIT; sends MSG_NOSIGNAL),
 * and sets each result.  Every operation is finished when it returns:
 * no buffer is used by the kernel after that. */
void batchio_run(struct batchio_op *ops, size_t n);

/* On a loop thread, as it stops: tears its io_uring down. */
void batchio_thread_done(void);

#endif
