/* policy.h - the Postfix policy delegation protocol: bounded request reader
 * and reply writer.  Input is hostile: every bound is a hard error. */
#ifndef GUARDLIST_POLICY_H
#define GUARDLIST_POLICY_H

#include <stddef.h>

#define POLICY_LINE_MAX 2048    /* bytes in one name=value line, newline excluded */
#define POLICY_ATTR_MAX 64      /* attributes in one request */
#define POLICY_KEEP_MAX 8192    /* bytes of the attribute values kept */
#define POLICY_REPLY_MAX 600

enum policy_status { POLICY_MORE, POLICY_DONE, POLICY_ERROR };

/* Attributes kept from a request; all others are counted and dropped. */
enum policy_attr {
    PA_REQUEST, PA_PROTOCOL_STATE, PA_SENDER, PA_RECIPIENT, PA_CLIENT_ADDRESS,
    PA_CLIENT_NAME, PA_HELO_NAME, PA_INSTANCE, PA_QUEUE_ID, PA_SASL_USERNAME,
    PA_COUNT
};

struct policy_req {
    char line[POLICY_LINE_MAX + 2];     /* room for a CR and the NUL */
    size_t line_len;
    int nattr;
    int complete;                       /* a whole request is in here */
    const char *val[PA_COUNT];          /* NULL when absent */
    char keep[POLICY_KEEP_MAX];
    size_t keep_used;
};

void policy_reset(struct policy_req *r);

/* Feeds LEN bytes.  *USED is how many were consumed (everything up to and
 * including the empty line that ends a request, or all of them).  Returns
 * POLICY_DONE when a whole valid request is in R, POLICY_MORE when more input
 * is needed, POLICY_ERROR with ERR set on a malformed request. */
enum policy_status policy_feed(struct policy_req *r, const char *data, size_t len,
                               size_t *used, char *err, size_t errlen);

/* 1 if R has a partly read request. */
int policy_in_progress(const struct policy_req *r);

const char *policy_get(const struct policy_req *r, enum policy_attr a);

/* Reads one request from a blocking or non-blocking FD, waiting at most
 * IDLE_MS for its first byte and READ_MS for the rest.  Bytes after the
 * request are kept in CARRY (size POLICY_LINE_MAX, *CARRY_LEN in/out).
 * Returns 1 for a request, 0 on a clean end of input before one began, and
 * -1 with ERR set (timeout, bound exceeded, malformed, end mid-request). */
int policy_read(int fd, struct policy_req *r, char *carry, size_t *carry_len,
                int idle_ms, int read_ms, char *err, size_t errlen);

/* Formats "action=ACTION\n\n" into OUT.  Returns its length, or -1 if ACTION
 * is empty, holds CR, LF or another control character, or does not fit. */
int policy_format_reply(char *out, size_t outlen, const char *action);

#endif
