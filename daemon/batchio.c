/*
 * batchio - a loop thread's socket reads and writes, a wake-up's worth in
 * one system call.  On a virtual machine a system call costs about a
 * microsecond before it does anything (1.2 µs for getppid(2) on the bench
 * machine) and every request needs two, a read and a write: with io_uring
 * the reads of one wake-up enter the kernel once, its writes once more
 * (conn.c gathers them).
 *
 * Every operation is non-blocking (MSG_DONTWAIT): the kernel finishes it or
 * answers EAGAIN within the call and never keeps it, so no buffer is the
 * kernel's once batchio_run() returns and a connection may be closed at any
 * time.  batchio_thread_init() checks that on a socket pair before it
 * trusts a ring.  Without one (or if a ring ever fails) the thread makes the
 * same operations with recv(2)/send(2), one call each, same results.
 */
#include "batchio.h"
#include "log.h"

#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RING_ENTRIES 256
#define PENDING ((ssize_t)INT32_MIN)    /* no result yet */
#define ENTER_TRIES 100                 /* io_uring_enter(2) interrupted or short of memory */

static __thread struct io_uring ring;
static __thread const char *why_plain = "";
static __thread int have_ring;

static void run_plain(struct batchio_op *op)
{
    for (;;) {
        ssize_t n = op->send ? send(op->fd, op->buf, op->len, MSG_DONTWAIT | MSG_NOSIGNAL)
                             : recv(op->fd, op->buf, op->len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        op->result = n < 0 ? -errno : n;
        return;
    }
}

/* Takes the completions there are for OPS[0..K); returns how many. */
static size_t reap(struct batchio_op *ops, size_t k)
{
    struct io_uring_cqe *cqe;
    unsigned int head, seen = 0;
    size_t got = 0;

    io_uring_for_each_cqe(&ring, head, cqe) {
        uint64_t i = io_uring_cqe_get_data64(cqe);
        if (i < k && ops[i].result == PENDING) {
            ops[i].result = cqe->res;
            got++;
        }
        seen++;
    }
    io_uring_cq_advance(&ring, seen);
    return got;
}

/* OPS[0..K), K <= RING_ENTRIES, through the ring.  Returns -1 if the ring
 * failed: the operations without a result then have -EIO. */
static int run_ring(struct batchio_op *ops, size_t k)
{
    size_t got = 0;
    int r, tries = 0;

    for (size_t i = 0; i < k; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        if (!sqe) {             /* cannot happen: the queue is empty between calls */
            for (size_t j = i; j < k; j++)
                ops[j].result = -EIO;
            k = i;
            break;
        }
        if (ops[i].send)
            io_uring_prep_send(sqe, ops[i].fd, ops[i].buf, ops[i].len, MSG_DONTWAIT | MSG_NOSIGNAL);
        else
            io_uring_prep_recv(sqe, ops[i].fd, ops[i].buf, ops[i].len, MSG_DONTWAIT);
        io_uring_sqe_set_data64(sqe, i);
        ops[i].result = PENDING;
    }
    r = io_uring_submit_and_wait(&ring, (unsigned int)k);
    for (;;) {
        got += reap(ops, k);
        if (got >= k)
            return 0;
        if ((r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) || ++tries > ENTER_TRIES)
            break;
        r = io_uring_submit_and_wait(&ring, 1);
    }
    for (size_t i = 0; i < k; i++)
        if (ops[i].result == PENDING)
            ops[i].result = -EIO;
    return -1;
}

void batchio_run(struct batchio_op *ops, size_t n)
{
    size_t done = 0;

    while (done < n && have_ring) {
        size_t k = n - done < RING_ENTRIES ? n - done : RING_ENTRIES;
        if (run_ring(ops + done, k) < 0) {
            log_error("io_uring failed; this loop thread goes on with plain system calls");
            batchio_thread_done();
        }
        done += k;
    }
    for (; done < n; done++)
        run_plain(&ops[done]);
}

/* Does the ring finish a non-blocking receive within the call?  An empty
 * socket must answer EAGAIN at once; one the kernel keeps is ended.
 * Returns NULL when it does, else why not. */
static const char *probe(void)
{
    struct io_uring_cqe *cqe;
    int sv[2];
    const char *why = "the check's receive could not be submitted";
    char b;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return "no socket pair to check the ring on";
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (sqe) {
        io_uring_prep_recv(sqe, sv[0], &b, 1, MSG_DONTWAIT);
        if (io_uring_submit(&ring) == 1) {
            if (io_uring_peek_cqe(&ring, &cqe) == 0) {
                why = cqe->res == -EAGAIN ? NULL : "a non-blocking receive on an empty socket did not answer EAGAIN";
                io_uring_cqe_seen(&ring, cqe);
            } else {
                why = "a non-blocking receive was not finished within the call";
                shutdown(sv[1], SHUT_RDWR);     /* kept by the kernel: end it */
                if (io_uring_wait_cqe(&ring, &cqe) == 0)
                    io_uring_cqe_seen(&ring, cqe);
            }
        }
    }
    close(sv[0]);
    close(sv[1]);
    return why;
}

int batchio_thread_init(int want_uring)
{
    struct io_uring_params p;

    if (have_ring)
        return 1;
    if (!want_uring) {
        why_plain = "not asked for";
        return 0;
    }
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (io_uring_queue_init_params(RING_ENTRIES, &ring, &p) < 0) {
        memset(&p, 0, sizeof(p));       /* a kernel before 6.1 */
        int r = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
        if (r < 0) {
            why_plain = strerror(-r);
            return 0;
        }
    }
    const char *why = probe();
    if (why) {
        why_plain = why;
        io_uring_queue_exit(&ring);
        return 0;
    }
    have_ring = 1;
    return 1;
}

void batchio_thread_done(void)
{
    if (have_ring)
        io_uring_queue_exit(&ring);
    have_ring = 0;
}

const char *batchio_why_plain(void)
{
    return why_plain;
}
