/* test_policy.c - unit tests of daemon/policy.c: the Postfix policy delegation
 * protocol reader (policy_feed, policy_read over a socketpair) and the reply
 * writer.  Input is hostile: every bound must be a hard error.  One row a case. */
#include "unit.h"
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char absent_[] = "(absent)";
#define ABSENT absent_      /* expected value: policy_get returns NULL */

#define REQ_NORMAL                                                             \
    "request=smtpd_access_policy\n"                                            \
    "protocol_state=RCPT\n"                                                    \
    "protocol_name=ESMTP\n"                                                    \
    "client_address=192.0.2.10\n"                                              \
    "client_name=mail.example.com\n"                                           \
    "helo_name=mail.example.com\n"                                             \
    "sender=grandma@example.com\n"                                             \
    "recipient=kid@family.test\n"                                              \
    "queue_id=8045F2AB23\n"                                                    \
    "instance=123.456.7\n"                                                     \
    "sasl_username=\n"                                                         \
    "size=12345\n"                                                             \
    "\n"

#define WANT_NORMAL                                                            \
    {[PA_REQUEST] = "smtpd_access_policy", [PA_PROTOCOL_STATE] = "RCPT",       \
     [PA_SENDER] = "grandma@example.com", [PA_RECIPIENT] = "kid@family.test",  \
     [PA_CLIENT_ADDRESS] = "192.0.2.10", [PA_CLIENT_NAME] = "mail.example.com", \
     [PA_HELO_NAME] = "mail.example.com", [PA_INSTANCE] = "123.456.7",         \
     [PA_QUEUE_ID] = "8045F2AB23", [PA_SASL_USERNAME] = ""}

#define REQ_MIN "request=smtpd_access_policy\nprotocol_state=RCPT\n"

/* Feeds DATA (LEN bytes) to R in pieces of CHUNK bytes (0: all at once) and
 * returns the first status other than MORE, or MORE when the data ran out.
 * *CONSUMED gets the bytes consumed in total. */
static enum policy_status feed_all(struct policy_req *r, const char *data, size_t len,
                                   size_t chunk, size_t *consumed, char *err, size_t errlen)
{
    size_t off = 0;

    while (off < len) {
        size_t n = (chunk == 0 || chunk > len - off) ? len - off : chunk;
        size_t used = (size_t)-1;
        enum policy_status st = policy_feed(r, data + off, n, &used, err, errlen);
        if (st != POLICY_ERROR) {
            if (used > n)
                fail_msg("policy_feed used %zu of %zu bytes", used, n);
            if (st == POLICY_MORE && used != n)
                fail_msg("policy_feed returned MORE but used %zu of %zu bytes", used, n);
            off += used;
        }
        if (st != POLICY_MORE) {
            *consumed = off;
            return st;
        }
    }
    *consumed = off;
    return POLICY_MORE;
}

static const char *status_name(enum policy_status st)
{
    return st == POLICY_DONE ? "DONE" : st == POLICY_MORE ? "MORE" : "ERROR";
}

static void check_values(const struct policy_req *r, const char *const want[PA_COUNT])
{
    for (int a = 0; a < PA_COUNT; a++) {
        const char *got = policy_get(r, (enum policy_attr)a);
        if (want[a] == NULL)
            continue;
        if (want[a] == ABSENT) {
            if (got != NULL)
                fail_msg("attribute %d: expected absent, got \"%s\"", a, got);
        } else {
            if (got == NULL)
                fail_msg("attribute %d: expected \"%s\", got NULL", a, want[a]);
            assert_string_equal(got, want[a]);
        }
    }
}

/* ---- policy_feed rows ---- */

struct feed_row {
    const char *name;
    const char *data;
    size_t len;                 /* 0: strlen(data) */
    size_t chunk;               /* 0: one feed */
    enum policy_status status;
    int nattr;                  /* -1: not checked */
    const char *want[PA_COUNT]; /* NULL: not checked; ABSENT: must be NULL */
};

static struct feed_row feed_rows[] = {
    {"feed: normal request in one piece", REQ_NORMAL, 0, 0, POLICY_DONE, 12, WANT_NORMAL},
    {"feed: normal request in 1-byte feeds", REQ_NORMAL, 0, 1, POLICY_DONE, 12, WANT_NORMAL},
    {"feed: normal request in 7-byte feeds", REQ_NORMAL, 0, 7, POLICY_DONE, 12, WANT_NORMAL},
    {"feed: unknown attributes ignored but counted",
     REQ_MIN "foo=bar\nsender=a@example.com\nccert_subject=x\nbaz=\n\n", 0, 0, POLICY_DONE, 6,
     {[PA_SENDER] = "a@example.com", [PA_RECIPIENT] = ABSENT, [PA_HELO_NAME] = ABSENT}},
    {"feed: CRLF line endings accepted, CR stripped",
     "request=smtpd_access_policy\r\nprotocol_state=RCPT\r\nsender=a@example.com\r\n"
     "recipient=kid@family.test\r\n\r\n", 0, 0, POLICY_DONE, 4,
     {[PA_REQUEST] = "smtpd_access_policy", [PA_PROTOCOL_STATE] = "RCPT",
      [PA_SENDER] = "a@example.com", [PA_RECIPIENT] = "kid@family.test"}},
    {"feed: CRLF in 1-byte feeds",
     "request=smtpd_access_policy\r\nprotocol_state=RCPT\r\nsender=a@example.com\r\n\r\n",
     0, 1, POLICY_DONE, 3, {[PA_SENDER] = "a@example.com", [PA_PROTOCOL_STATE] = "RCPT"}},
    {"feed: empty sender (null sender) is present and empty",
     REQ_MIN "sender=\nrecipient=kid@family.test\n\n", 0, 0, POLICY_DONE, 4,
     {[PA_SENDER] = "", [PA_RECIPIENT] = "kid@family.test"}},
    {"feed: value may contain =", REQ_MIN "sender=a=b@example.com\n\n", 0, 0, POLICY_DONE, 3,
     {[PA_SENDER] = "a=b@example.com"}},
    {"feed: invalid UTF-8 in helo_name tolerated",
     REQ_MIN "helo_name=h\xff\xfe.example\nsender=a@example.com\n\n", 0, 0, POLICY_DONE, 4,
     {[PA_HELO_NAME] = "h\xff\xfe.example", [PA_SENDER] = "a@example.com"}},
    {"feed: UTF-8 sender accepted", REQ_MIN "sender=jos\xc3\xa9@example.com\n\n", 0, 0,
     POLICY_DONE, 3, {[PA_SENDER] = "jos\xc3\xa9@example.com"}},
    {"feed: incomplete request needs more", REQ_MIN "sender=a@example.com\n", 0, 0,
     POLICY_MORE, -1, {NULL}},
    {"feed: missing request= rejected", "protocol_state=RCPT\nsender=a@example.com\n\n", 0, 0,
     POLICY_ERROR, -1, {NULL}},
    {"feed: request=other rejected", "request=other\nprotocol_state=RCPT\n\n", 0, 0,
     POLICY_ERROR, -1, {NULL}},
    {"feed: empty request rejected", "\n", 0, 0, POLICY_ERROR, -1, {NULL}},
    {"feed: NUL byte rejected", REQ_MIN "sender=a\0b@example.com\n\n",
     sizeof(REQ_MIN "sender=a\0b@example.com\n\n") - 1, 0, POLICY_ERROR, -1, {NULL}},
    {"feed: NUL byte in unknown attribute rejected", REQ_MIN "foo=a\0b\n\n",
     sizeof(REQ_MIN "foo=a\0b\n\n") - 1, 0, POLICY_ERROR, -1, {NULL}},
    {"feed: line without = rejected", REQ_MIN "garbage\n\n", 0, 0, POLICY_ERROR, -1, {NULL}},
    {"feed: empty attribute name rejected", REQ_MIN "=value\n\n", 0, 0, POLICY_ERROR, -1, {NULL}},
    {"feed: duplicate sender rejected",
     REQ_MIN "sender=a@example.com\nsender=b@example.com\n\n", 0, 0, POLICY_ERROR, -1, {NULL}},
    {"feed: duplicate recipient rejected",
     REQ_MIN "recipient=a@example.com\nrecipient=b@example.com\n\n", 0, 0, POLICY_ERROR, -1,
     {NULL}},
    {"feed: invalid UTF-8 in sender rejected", REQ_MIN "sender=a\xc0\x80@example.com\n\n", 0, 0,
     POLICY_ERROR, -1, {NULL}},
    {"feed: invalid UTF-8 in recipient rejected",
     REQ_MIN "recipient=kid\xed\xa0\x80@family.test\n\n", 0, 0, POLICY_ERROR, -1, {NULL}},
    {"feed: invalid UTF-8 in sender rejected in 1-byte feeds",
     REQ_MIN "sender=a\x80@example.com\n\n", 0, 1, POLICY_ERROR, -1, {NULL}},
};

static void test_feed(void **state)
{
    const struct feed_row *row = *state;
    static struct policy_req r;
    char err[256] = "";
    size_t len = row->len ? row->len : strlen(row->data);
    size_t consumed = 0;
    enum policy_status st;

    policy_reset(&r);
    st = feed_all(&r, row->data, len, row->chunk, &consumed, err, sizeof err);
    if (st != row->status)
        fail_msg("expected %s, got %s (err \"%s\")", status_name(row->status),
                 status_name(st), err);
    if (st == POLICY_ERROR) {
        assert_true(err[0] != '\0');
        return;
    }
    assert_int_equal(consumed, len);
    if (st == POLICY_MORE) {
        assert_true(policy_in_progress(&r));
        return;
    }
    if (row->nattr >= 0)
        assert_int_equal(r.nattr, row->nattr);
    check_values(&r, row->want);
}

/* ---- generated requests: line and attribute bounds ---- */

/* A request whose helo_name line is LINE bytes long (newline excluded). */
static size_t make_long_line(char *buf, size_t bufsize, size_t line)
{
    size_t n = (size_t)snprintf(buf, bufsize, "%s", REQ_MIN "helo_name=");
    size_t value = line - strlen("helo_name=");

    memset(buf + n, 'h', value);
    n += value;
    n += (size_t)snprintf(buf + n, bufsize - n, "\nsender=a@example.com\n\n");
    return n;
}

/* A request of NATTR attributes: request, protocol_state, sender, recipient, x4..x{n-1}. */
static size_t make_many_attrs(char *buf, size_t bufsize, int nattr)
{
    size_t n = (size_t)snprintf(buf, bufsize, "%s",
                                REQ_MIN "sender=a@example.com\nrecipient=kid@family.test\n");
    for (int i = 4; i < nattr; i++)
        n += (size_t)snprintf(buf + n, bufsize - n, "x%d=v%d\n", i, i);
    n += (size_t)snprintf(buf + n, bufsize - n, "\n");
    return n;
}

struct bound_row {
    const char *name;
    int kind;           /* 0: line length, 1: attribute count, 2: a line not ended yet */
    size_t size;        /* line bytes or attributes */
    size_t chunk;
    enum policy_status status;
};

static struct bound_row bound_rows[] = {
    {"bound: line of 2048 bytes accepted", 0, POLICY_LINE_MAX, 0, POLICY_DONE},
    {"bound: line of 2048 bytes accepted in 1-byte feeds", 0, POLICY_LINE_MAX, 1, POLICY_DONE},
    {"bound: line of 2049 bytes rejected", 0, POLICY_LINE_MAX + 1, 0, POLICY_ERROR},
    {"bound: line of 2049 bytes rejected in 1-byte feeds", 0, POLICY_LINE_MAX + 1, 1, POLICY_ERROR},
    {"bound: line of 10000 bytes rejected", 0, 10000, 0, POLICY_ERROR},
    /* Room is kept for one CR and the NUL: one byte more is refused at
     * once, before it is stored, not when its newline comes. */
    {"bound: 2049 bytes of a line not ended yet (may end in CR): more", 2, POLICY_LINE_MAX + 1, 0, POLICY_MORE},
    {"bound: 2050 bytes of a line not ended yet: rejected at once", 2, POLICY_LINE_MAX + 2, 0, POLICY_ERROR},
    {"bound: 2050 bytes of a line not ended yet, 1-byte feeds: rejected", 2, POLICY_LINE_MAX + 2, 1,
     POLICY_ERROR},
    {"bound: 64 attributes accepted", 1, POLICY_ATTR_MAX, 0, POLICY_DONE},
    {"bound: 65 attributes rejected", 1, POLICY_ATTR_MAX + 1, 0, POLICY_ERROR},
    {"bound: 65 attributes rejected in 1-byte feeds", 1, POLICY_ATTR_MAX + 1, 1, POLICY_ERROR},
    {"bound: 1000 attributes rejected", 1, 1000, 0, POLICY_ERROR},
};

static void test_bound(void **state)
{
    const struct bound_row *row = *state;
    static struct policy_req r;
    static char buf[32768];
    char err[256] = "";
    size_t len, consumed = 0;
    enum policy_status st;

    if (row->kind == 0)
        len = make_long_line(buf, sizeof buf, row->size);
    else if (row->kind == 2)
        len = make_long_line(buf, sizeof buf, row->size) - strlen("\nsender=a@example.com\n\n");
    else
        len = make_many_attrs(buf, sizeof buf, (int)row->size);
    policy_reset(&r);
    st = feed_all(&r, buf, len, row->chunk, &consumed, err, sizeof err);
    if (st != row->status)
        fail_msg("expected %s, got %s (err \"%s\")", status_name(row->status),
                 status_name(st), err);
    if (st == POLICY_ERROR) {
        assert_true(err[0] != '\0');
        return;
    }
    assert_int_equal(consumed, len);
    if (st == POLICY_MORE) {
        assert_true(policy_in_progress(&r));
        return;
    }
    assert_string_equal(policy_get(&r, PA_SENDER), "a@example.com");
    if (row->kind == 0) {
        const char *helo = policy_get(&r, PA_HELO_NAME);
        assert_non_null(helo);
        assert_int_equal(strlen(helo), row->size - strlen("helo_name="));
    } else {
        assert_int_equal(r.nattr, (int)row->size);
        assert_string_equal(policy_get(&r, PA_RECIPIENT), "kid@family.test");
    }
}

/* Kept values beyond POLICY_KEEP_MAX: an error, never a silently cut value. */
static void test_keep_overflow(void **state)
{
    static struct policy_req r;
    static char buf[32768];
    static const char *const names[] = {"helo_name", "client_name", "queue_id", "instance",
                                        "sasl_username", "sender"};
    char value[2001];
    char err[256] = "";
    size_t n, consumed = 0;
    enum policy_status st;

    (void)state;
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    n = (size_t)snprintf(buf, sizeof buf, "%s", REQ_MIN);
    for (size_t i = 0; i < UNIT_LEN(names); i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s=%s\n", names[i], value);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\n");

    policy_reset(&r);
    st = feed_all(&r, buf, n, 0, &consumed, err, sizeof err);
    if (st == POLICY_ERROR) {
        assert_true(err[0] != '\0');
        return;
    }
    assert_int_equal(st, POLICY_DONE);
    static const enum policy_attr attrs[] = {PA_HELO_NAME, PA_CLIENT_NAME, PA_QUEUE_ID,
                                             PA_INSTANCE, PA_SASL_USERNAME, PA_SENDER};
    for (size_t i = 0; i < UNIT_LEN(attrs); i++) {
        const char *got = policy_get(&r, attrs[i]);
        assert_non_null(got);
        assert_string_equal(got, value);
    }
}

/* Two requests in one buffer: the first stops right after its empty line. */
static void test_back_to_back(void **state)
{
    static struct policy_req r;
    static const char one[] = REQ_MIN "sender=one@example.com\nrecipient=kid@family.test\n\n";
    static const char two[] = "request=smtpd_access_policy\nprotocol_state=DATA\n"
                              "sender=two@example.com\n\n";
    char buf[sizeof one + sizeof two];
    char err[256] = "";
    size_t used = 0;
    size_t len1 = sizeof one - 1, len2 = sizeof two - 1;

    (void)state;
    memcpy(buf, one, len1);
    memcpy(buf + len1, two, len2);

    policy_reset(&r);
    assert_int_equal(policy_feed(&r, buf, len1 + len2, &used, err, sizeof err), POLICY_DONE);
    assert_int_equal(used, len1);
    assert_string_equal(policy_get(&r, PA_SENDER), "one@example.com");
    assert_string_equal(policy_get(&r, PA_RECIPIENT), "kid@family.test");

    policy_reset(&r);
    assert_int_equal(policy_feed(&r, buf + used, len2, &used, err, sizeof err), POLICY_DONE);
    assert_int_equal(used, len2);
    assert_string_equal(policy_get(&r, PA_SENDER), "two@example.com");
    assert_string_equal(policy_get(&r, PA_PROTOCOL_STATE), "DATA");
    assert_null(policy_get(&r, PA_RECIPIENT));
}

/* A complete request is not "a partly read request". */
static void test_in_progress_after_done(void **state)
{
    static struct policy_req r;
    static const char one[] = REQ_MIN "sender=one@example.com\n\n";
    char err[256] = "";
    size_t used = 0;

    (void)state;
    policy_reset(&r);
    assert_int_equal(policy_feed(&r, one, sizeof one - 1, &used, err, sizeof err), POLICY_DONE);
    if (policy_in_progress(&r))
        fail_msg("policy_in_progress is 1 after POLICY_DONE (policy.h: \"1 if R has a partly "
                 "read request\")");
}

/* After policy_reset nothing of the previous request is left. */
static void test_reset(void **state)
{
    static struct policy_req r;
    char err[256] = "";
    size_t used = 0;

    (void)state;
    policy_reset(&r);
    assert_false(policy_in_progress(&r));
    assert_int_equal(policy_feed(&r, REQ_MIN, strlen(REQ_MIN), &used, err, sizeof err),
                     POLICY_MORE);
    assert_true(policy_in_progress(&r));
    policy_reset(&r);
    assert_false(policy_in_progress(&r));
    for (int a = 0; a < PA_COUNT; a++)
        assert_null(policy_get(&r, (enum policy_attr)a));
    assert_int_equal(policy_feed(&r, "request=smtpd_access_policy\nsender=x@y.z\n\n",
                                 strlen("request=smtpd_access_policy\nsender=x@y.z\n\n"),
                                 &used, err, sizeof err), POLICY_DONE);
    assert_null(policy_get(&r, PA_PROTOCOL_STATE));
}

/* ---- policy_read over a socketpair ---- */

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

struct read_row {
    const char *name;
    const char *carry_in;       /* initial carry content */
    const char *written;        /* written to the peer before reading */
    int close_peer;             /* close the peer after writing */
    int idle_ms, read_ms;
    int rc;                     /* expected return of the first policy_read */
    const char *sender;         /* expected sender when rc == 1 */
    const char *carry_out;      /* expected carry after the first read (NULL: not checked) */
    int rc2;                    /* expected return of a second policy_read (9: none) */
    const char *sender2;
    double min_ms, max_ms;      /* bounds on the first read's duration (0: not checked) */
    size_t gen_line;            /* with written == NULL: a request with a line this long */
    int nonblock;               /* read from a non-blocking socket */
};

static struct read_row read_rows[] = {
    {"read: one request", "", REQ_MIN "sender=a@example.com\n\n", 1, 1000, 1000,
     1, "a@example.com", "", 0, NULL, 0, 0, 0, 0},
    {"read: clean EOF before any byte returns 0", "", "", 1, 1000, 1000,
     0, NULL, NULL, 9, NULL, 0, 0, 0, 0},
    {"read: EOF mid-request returns -1", "", REQ_MIN "sender=a@example.com\n", 1, 1000, 1000,
     -1, NULL, NULL, 9, NULL, 0, 0, 0, 0},
    {"read: EOF mid-line returns -1", "", REQ_MIN "sender=a@exa", 1, 1000, 1000,
     -1, NULL, NULL, 9, NULL, 0, 0, 0, 0},
    {"read: idle timeout returns -1", "", "", 0, 100, 5000,
     -1, NULL, NULL, 9, NULL, 80, 1500, 0, 0},
    {"read: read timeout mid-request returns -1", "", REQ_MIN "sender=a@", 0, 5000, 100,
     -1, NULL, NULL, 9, NULL, 80, 1500, 0, 0},
    {"read: extra bytes after a request stay in carry", "",
     REQ_MIN "sender=a@example.com\n\nrequest=smtpd_", 0, 1000, 1000,
     1, "a@example.com", "request=smtpd_", 9, NULL, 0, 0, 0, 0},
    {"read: two requests in one write are read one by one", "",
     REQ_MIN "sender=a@example.com\n\n" REQ_MIN "sender=b@example.com\n\n", 1, 1000, 1000,
     1, "a@example.com", REQ_MIN "sender=b@example.com\n\n", 1, "b@example.com", 0, 0, 0, 0},
    {"read: request completed from carry and the socket", REQ_MIN "sender=c@ex",
     "ample.com\n\n", 1, 1000, 1000, 1, "c@example.com", "", 0, NULL, 0, 0, 0, 0},
    {"read: whole request already in carry, no read needed",
     REQ_MIN "sender=d@example.com\n\n", "", 0, 100, 100, 1, "d@example.com", "", -1, NULL,
     0, 90, 0, 0},
    {"read: over-long line returns -1", "", NULL, 1, 1000, 1000,
     -1, NULL, NULL, 9, NULL, 0, 0, POLICY_LINE_MAX + 100, 0},
    {"read: request larger than one read (2048-byte line)", "", NULL, 1, 1000, 1000,
     1, "a@example.com", "", 0, NULL, 0, 0, POLICY_LINE_MAX, 0},
    {"read: non-blocking socket, one request", "", REQ_MIN "sender=a@example.com\n\n", 1,
     1000, 1000, 1, "a@example.com", "", 0, NULL, 0, 0, 0, 1},
    {"read: non-blocking socket, idle timeout", "", "", 0, 100, 5000,
     -1, NULL, NULL, 9, NULL, 80, 1500, 0, 1},
    {"read: non-blocking socket, clean EOF", "", "", 1, 1000, 1000,
     0, NULL, NULL, 9, NULL, 0, 0, 0, 1},
};

static void test_read(void **state)
{
    const struct read_row *row = *state;
    static struct policy_req r;
    static char longreq[POLICY_LINE_MAX * 3];
    char carry[POLICY_LINE_MAX];
    size_t carry_len = strlen(row->carry_in);
    char err[256] = "";
    int sv[2];
    int rc;
    double t0, dt;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memcpy(carry, row->carry_in, carry_len);
    if (row->written == NULL) {
        size_t n = make_long_line(longreq, sizeof longreq, row->gen_line);
        write_all(sv[1], longreq, n);
    } else {
        write_all(sv[1], row->written, strlen(row->written));
    }
    if (row->close_peer) {
        close(sv[1]);
        sv[1] = -1;
    }

    if (row->nonblock)
        assert_int_equal(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK), 0);
    policy_reset(&r);
    t0 = now_ms();
    rc = policy_read(sv[0], &r, carry, &carry_len, row->idle_ms, row->read_ms, err, sizeof err);
    dt = now_ms() - t0;
    if (rc != row->rc)
        fail_msg("policy_read returned %d, expected %d (err \"%s\")", rc, row->rc, err);
    if (rc == -1)
        assert_true(err[0] != '\0');
    if (rc == 1)
        assert_string_equal(policy_get(&r, PA_SENDER), row->sender);
    if (row->carry_out) {
        assert_true(carry_len <= POLICY_LINE_MAX);
        assert_int_equal(carry_len, strlen(row->carry_out));
        assert_memory_equal(carry, row->carry_out, carry_len);
    }
    if (row->max_ms > 0) {
        if (dt < row->min_ms || dt > row->max_ms)
            fail_msg("policy_read took %.0f ms, expected %.0f..%.0f", dt, row->min_ms,
                     row->max_ms);
    }
    if (row->rc2 != 9) {
        if (sv[1] >= 0 && row->rc2 == 0) {
            close(sv[1]);
            sv[1] = -1;
        }
        policy_reset(&r);
        rc = policy_read(sv[0], &r, carry, &carry_len, 100, 100, err, sizeof err);
        if (rc != row->rc2)
            fail_msg("second policy_read returned %d, expected %d (err \"%s\")", rc, row->rc2,
                     err);
        if (rc == 1)
            assert_string_equal(policy_get(&r, PA_SENDER), row->sender2);
    }
    close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
}

/* ---- policy_format_reply ---- */

struct reply_row {
    const char *name;
    const char *action;
    size_t outlen;      /* 0: the whole buffer */
    int rc;             /* -1 or the length of OUT */
    const char *out;
};

static struct reply_row reply_rows[] = {
    {"reply: DUNNO", "DUNNO", 0, 14, "action=DUNNO\n\n"},
    {"reply: REJECT with text", "REJECT Access denied", 0, 29, "action=REJECT Access denied\n\n"},
    {"reply: exact fit", "DUNNO", 15, 14, "action=DUNNO\n\n"},
    {"reply: one byte short is an error", "DUNNO", 14, -1, NULL},
    {"reply: empty action", "", 0, -1, NULL},
    {"reply: CRLF injection", "OK\r\nX", 0, -1, NULL},
    {"reply: LF injection", "OK\nX", 0, -1, NULL},
    {"reply: lone CR", "OK\rX", 0, -1, NULL},
    {"reply: control char 0x01", "REJECT a\x01" "b", 0, -1, NULL},
    {"reply: control char TAB", "REJECT a\tb", 0, -1, NULL},
    {"reply: DEL", "REJECT a\x7f", 0, -1, NULL},
};

static void test_reply(void **state)
{
    const struct reply_row *row = *state;
    char out[POLICY_REPLY_MAX + 16];
    size_t outlen = row->outlen ? row->outlen : sizeof out;

    assert_int_equal(policy_format_reply(out, outlen, row->action), row->rc);
    if (row->rc >= 0)
        assert_string_equal(out, row->out);
}

static void test_reply_too_long(void **state)
{
    char action[POLICY_REPLY_MAX + 10];
    char out[POLICY_REPLY_MAX];

    (void)state;
    memset(action, 'x', sizeof action - 1);
    action[sizeof action - 1] = '\0';
    memcpy(action, "REJECT ", 7);
    assert_int_equal(policy_format_reply(out, sizeof out, action), -1);
}

static struct CMUnitTest tests[UNIT_LEN(feed_rows) + UNIT_LEN(bound_rows) + 4 +
                               UNIT_LEN(read_rows) + UNIT_LEN(reply_rows) + 1];

int main(void)
{
    size_t n = 0;

    signal(SIGPIPE, SIG_IGN);
    UNIT_ADD_ROWS(tests, n, test_feed, feed_rows);
    UNIT_ADD_ROWS(tests, n, test_bound, bound_rows);
    UNIT_ADD(tests, n, test_keep_overflow);
    UNIT_ADD(tests, n, test_back_to_back);
    UNIT_ADD(tests, n, test_in_progress_after_done);
    UNIT_ADD(tests, n, test_reset);
    UNIT_ADD_ROWS(tests, n, test_read, read_rows);
    UNIT_ADD_ROWS(tests, n, test_reply, reply_rows);
    UNIT_ADD(tests, n, test_reply_too_long);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
