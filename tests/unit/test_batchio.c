/* test_batchio.c - unit tests of daemon/batchio.c, through io_uring and
 * through plain system calls alike, on real socket pairs: every operation
 * is finished (or refused with EAGAIN) when batchio_run() returns, results
 * are those of recv(2)/send(2), a closed peer gives 0 or EPIPE (never
 * SIGPIPE), and a batch longer than the ring is made whole. */
#include "unit.h"
#include "batchio.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MANY 300        /* more than the ring's 256 entries */

struct mode_row {
    const char *name;
    int uring;          /* asked for */
};

static struct mode_row modes[] = {
    {"batchio: io_uring: receive, send, end of file, EPIPE, EBADF", 1},
    {"batchio: plain system calls: receive, send, end of file, EPIPE, EBADF", 0},
};

static struct mode_row many_modes[] = {
    {"batchio: io_uring: 300 operations in one batch (more than the ring holds)", 1},
    {"batchio: plain system calls: 300 operations in one batch", 0},
};

/* Can this kernel make a ring at all?  Only then must batchio use one. */
static int kernel_has_uring(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    long fd = syscall(__NR_io_uring_setup, 4, &p);
    if (fd < 0)
        return 0;
    close((int)fd);
    return 1;
}

static void start(const struct mode_row *row)
{
    batchio_thread_done();
    int got = batchio_thread_init(row->uring);
    if (row->uring && !got && !kernel_has_uring())
        skip();
    assert_int_equal(got, row->uring);
    if (!got)
        assert_string_equal(batchio_why_plain(), "not asked for");
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

static void test_recv_send(void **state)
{
    int sv[2];
    char in[16] = "", out[16] = "";
    struct batchio_op op[2];

    start(*state);
    pair(sv);
    /* Nothing to read: EAGAIN, at once. */
    op[0] = (struct batchio_op){ .fd = sv[0], .buf = in, .len = sizeof(in) };
    batchio_run(op, 1);
    assert_int_equal(op[0].result, -EAGAIN);
    /* A send and, in the same batch, a receive on the other end. */
    op[0] = (struct batchio_op){ .fd = sv[0], .send = 1, .buf = "action=DUNNO\n\n", .len = 14 };
    op[1] = (struct batchio_op){ .fd = sv[1], .buf = in, .len = sizeof(in) };
    batchio_run(op, 2);
    assert_int_equal(op[0].result, 14);
    assert_int_equal(op[1].result, 14);
    assert_memory_equal(in, "action=DUNNO\n\n", 14);
    /* The peer goes: end of file; a send fails with EPIPE, no signal. */
    close(sv[1]);
    op[0] = (struct batchio_op){ .fd = sv[0], .buf = in, .len = sizeof(in) };
    op[1] = (struct batchio_op){ .fd = sv[0], .send = 1, .buf = out, .len = sizeof(out) };
    batchio_run(op, 2);
    assert_int_equal(op[0].result, 0);
    assert_int_equal(op[1].result, -EPIPE);
    close(sv[0]);
    /* A closed descriptor is an error result, not a crash. */
    op[0] = (struct batchio_op){ .fd = sv[0], .buf = in, .len = sizeof(in) };
    batchio_run(op, 1);
    assert_int_equal(op[0].result, -EBADF);
    batchio_thread_done();
}

static void test_many(void **state)
{
    static int sv[MANY][2];
    static struct batchio_op op[MANY];
    static char got[MANY];
    static unsigned char byte[MANY];

    start(*state);
    for (int i = 0; i < MANY; i++) {
        pair(sv[i]);
        byte[i] = (unsigned char)(i * 7);
        op[i] = (struct batchio_op){ .fd = sv[i][0], .send = 1, .buf = &byte[i], .len = 1 };
    }
    batchio_run(op, MANY);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(op[i].result, 1);
        op[i] = (struct batchio_op){ .fd = sv[i][1], .buf = &got[i], .len = 1 };
    }
    batchio_run(op, MANY);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(op[i].result, 1);
        assert_int_equal((unsigned char)got[i], byte[i]);
        close(sv[i][0]);
        close(sv[i][1]);
    }
    batchio_thread_done();
}

static struct CMUnitTest tests[UNIT_LEN(modes) + UNIT_LEN(many_modes)];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_recv_send, modes);
    UNIT_ADD_ROWS(tests, n, test_many, many_modes);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
