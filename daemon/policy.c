/*
 * policy - reads Postfix policy delegation requests (name=value lines ended
 * by an empty line) and writes replies.
 *
 * Callers: guardlistd (incremental, non-blocking) and tests (policy_read).
 * The peer is untrusted: lines over POLICY_LINE_MAX, more than POLICY_ATTR_MAX
 * attributes, NUL bytes, lines without '=', repeated attributes that decide,
 * and bad UTF-8 where it matters are errors; the caller closes the connection.
 */
#include "policy.h"
#include "addr.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The attributes kept, by enum policy_attr; STRICT ones must be UTF-8. */
#define ATTR(name, strict) { name, sizeof(name) - 1, strict }
static const struct {
    const char *name;
    size_t len;
    int strict;
} attrs[PA_COUNT] = {
    ATTR("request", 1), ATTR("protocol_state", 1), ATTR("sender", 1), ATTR("recipient", 1),
    ATTR("client_address", 1), ATTR("client_name", 0), ATTR("helo_name", 0), ATTR("instance", 1),
    ATTR("queue_id", 1), ATTR("sasl_username", 0),
};

void policy_reset(struct policy_req *r)
{
    r->line_len = 0;
    r->nattr = 0;
    r->complete = 0;
    r->keep_used = 0;
    memset(r->val, 0, sizeof(r->val));
}

int policy_in_progress(const struct policy_req *r)
{
    return !r->complete && (r->line_len > 0 || r->nattr > 0);
}

const char *policy_get(const struct policy_req *r, enum policy_attr a)
{
    return (a >= 0 && a < PA_COUNT) ? r->val[a] : NULL;
}

/* One complete line (without its newline) in r->line. */
static int take_line(struct policy_req *r, char *err, size_t errlen)
{
    char *line = r->line, *eq;
    size_t len = r->line_len;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    if (len > POLICY_LINE_MAX) {
        snprintf(err, errlen, "line longer than %d bytes", POLICY_LINE_MAX);
        return -1;
    }
    if (++r->nattr > POLICY_ATTR_MAX) {
        snprintf(err, errlen, "more than %d attributes", POLICY_ATTR_MAX);
        return -1;
    }
    eq = memchr(line, '=', len);
    if (!eq) {
        snprintf(err, errlen, "line without '='");
        return -1;
    }
    if (eq == line) {
        snprintf(err, errlen, "empty attribute name");
        return -1;
    }
    *eq = '\0';
    size_t name_len = (size_t)(eq - line);
    for (int a = 0; a < PA_COUNT; a++) {
        /* Most attributes Postfix sends are none of ours: the length sorts them out. */
        if (name_len != attrs[a].len || memcmp(line, attrs[a].name, name_len) != 0)
            continue;
        const char *v = eq + 1;
        size_t vlen = len - (size_t)(eq + 1 - line);
        if (r->val[a]) {
            snprintf(err, errlen, "attribute %s repeated", attrs[a].name);
            return -1;
        }
        if (attrs[a].strict && !addr_utf8_valid(v, vlen)) {
            snprintf(err, errlen, "invalid UTF-8 in %s", attrs[a].name);
            return -1;
        }
        if (r->keep_used + vlen + 1 > sizeof(r->keep)) {
            snprintf(err, errlen, "request larger than %d bytes of kept values", POLICY_KEEP_MAX);
            return -1;
        }
        memcpy(r->keep + r->keep_used, v, vlen + 1);
        r->val[a] = r->keep + r->keep_used;
        r->keep_used += vlen + 1;
        break;
    }
    return 0;
}

enum policy_status policy_feed(struct policy_req *r, const char *data, size_t len,
                               size_t *used, char *err, size_t errlen)
{
    size_t i = 0;

    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t chunk = nl ? (size_t)(nl - (data + i)) : len - i;

        if (memchr(data + i, '\0', chunk)) {
            *used = i;
            snprintf(err, errlen, "NUL byte in request");
            return POLICY_ERROR;
        }
        /* One byte over the bound may be the CR of a CRLF; take_line checks. */
        if (r->line_len + chunk > (size_t)POLICY_LINE_MAX + 1) {
            *used = i;
            snprintf(err, errlen, "line longer than %d bytes", POLICY_LINE_MAX);
            return POLICY_ERROR;
        }
        memcpy(r->line + r->line_len, data + i, chunk);
        r->line_len += chunk;
        i += chunk;
        if (!nl)
            break;
        i++;                                    /* the newline */
        if (r->line_len == 0 || (r->line_len == 1 && r->line[0] == '\r')) {
            r->line_len = 0;
            *used = i;
            if (r->nattr == 0) {
                snprintf(err, errlen, "empty request");
                return POLICY_ERROR;
            }
            if (!r->val[PA_REQUEST]) {
                snprintf(err, errlen, "request attribute missing");
                return POLICY_ERROR;
            }
            if (strcmp(r->val[PA_REQUEST], "smtpd_access_policy") != 0) {
                snprintf(err, errlen, "unsupported request type");
                return POLICY_ERROR;
            }
            r->complete = 1;
            return POLICY_DONE;
        }
        if (take_line(r, err, errlen) < 0) {
            *used = i;
            return POLICY_ERROR;
        }
        r->line_len = 0;
    }
    *used = i;
    return POLICY_MORE;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int policy_read(int fd, struct policy_req *r, char *carry, size_t *carry_len,
                int idle_ms, int read_ms, char *err, size_t errlen)
{
    char buf[POLICY_LINE_MAX];
    long deadline = now_ms() + idle_ms;
    int started = 0;

    policy_reset(r);
    for (;;) {
        size_t n, used;

        if (*carry_len > 0) {
            n = *carry_len;
            memcpy(buf, carry, n);
            *carry_len = 0;
        } else {
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            long left = deadline - now_ms();
            ssize_t got;

            if (left <= 0) {
                snprintf(err, errlen, started ? "read timeout" : "idle timeout");
                return -1;
            }
            int pr = poll(&pfd, 1, (int)left);
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr < 0) {
                snprintf(err, errlen, "poll: %s", strerror(errno));
                return -1;
            }
            if (pr == 0)
                continue;
            got = read(fd, buf, sizeof(buf));
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got < 0) {
                snprintf(err, errlen, "read: %s", strerror(errno));
                return -1;
            }
            if (got == 0) {
                if (!started && !policy_in_progress(r))
                    return 0;
                snprintf(err, errlen, "connection closed in the middle of a request");
                return -1;
            }
            n = (size_t)got;
        }
        if (!started) {
            started = 1;
            deadline = now_ms() + read_ms;
        }
        enum policy_status st = policy_feed(r, buf, n, &used, err, errlen);
        if (st == POLICY_ERROR)
            return -1;
        if (st == POLICY_DONE) {
            memcpy(carry, buf + used, n - used);
            *carry_len = n - used;
            return 1;
        }
    }
}

int policy_format_reply(char *out, size_t outlen, const char *action)
{
    int n;

    if (!action || !*action)
        return -1;
    for (const unsigned char *p = (const unsigned char *)action; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return -1;
    n = snprintf(out, outlen, "action=%s\n\n", action);
    return (n < 0 || (size_t)n >= outlen) ? -1 : n;
}
