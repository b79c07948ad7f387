/*
 * fuzz_policy - libFuzzer target for daemon/policy.c, the reader of Postfix
 * policy requests: the daemon's only network input.
 *
 * The input is what one Postfix connection sends: any number of requests.
 * It is read the way guardlistd reads it (policy_feed; the bytes after a
 * whole request begin the next one), once in one piece, once in two pieces
 * cut where the input says, and once a byte at a time.  All three must see
 * the same requests with the same values and byte counts, and end the same
 * way.  Every value kept must lie inside the request's keep buffer,
 * NUL-terminated, without newlines.  The first line is also tried as a reply
 * action (policy_format_reply).  No files, no network.
 */
#include "fuzz.h"
#include "addr.h"
#include "policy.h"

#include <stdint.h>
#include <string.h>

/* What reading a stream saw; equal streams give equal transcripts. */
struct transcript {
    int requests;               /* whole requests read */
    enum policy_status end;     /* POLICY_ERROR, or MORE when the input ran out */
    int partial;                /* a request was begun when the input ran out */
    uint64_t hash;              /* FNV-1a over every request's values and offsets */
};

static const int strict_attr[PA_COUNT] = {
    [PA_REQUEST] = 1, [PA_PROTOCOL_STATE] = 1, [PA_SENDER] = 1, [PA_RECIPIENT] = 1,
    [PA_CLIENT_ADDRESS] = 1, [PA_INSTANCE] = 1, [PA_QUEUE_ID] = 1,
};

static void mix(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 1099511628211ULL;
    }
}

static void check_request(const struct policy_req *r, uint64_t *h)
{
    const char *keep_end = r->keep + r->keep_used;

    FUZZ_CHECK(r->complete);
    FUZZ_CHECK(r->keep_used <= sizeof(r->keep));
    FUZZ_CHECK(r->nattr >= 1 && r->nattr <= POLICY_ATTR_MAX);
    FUZZ_CHECK(!policy_in_progress(r));
    FUZZ_CHECK(policy_get(r, PA_COUNT) == NULL);
    FUZZ_CHECK(policy_get(r, PA_REQUEST) && strcmp(policy_get(r, PA_REQUEST), "smtpd_access_policy") == 0);
    for (int a = 0; a < PA_COUNT; a++) {
        const char *v = policy_get(r, (enum policy_attr)a);
        unsigned char present = v != NULL;

        mix(h, &present, 1);
        if (!v)
            continue;
        FUZZ_CHECK(v >= r->keep && v < keep_end);
        FUZZ_CHECK(fuzz_terminated(v, (size_t)(keep_end - v)));
        size_t vlen = strlen(v);
        FUZZ_CHECK(vlen <= POLICY_LINE_MAX);
        FUZZ_CHECK(memchr(v, '\n', vlen) == NULL);
        if (strict_attr[a])
            FUZZ_CHECK(addr_utf8_valid(v, vlen));
        mix(h, v, vlen + 1);
    }
}

/* Reads DATA as guardlistd would, in pieces of STEP bytes (0: one cut at
 * SPLIT, so two pieces). */
static void read_stream(const uint8_t *data, size_t len, size_t step, size_t split, struct transcript *t)
{
    static struct policy_req r;
    size_t off = 0;
    char err[160];

    memset(t, 0, sizeof(*t));
    t->hash = 14695981039346656037ULL;
    t->end = POLICY_MORE;
    policy_reset(&r);
    while (off < len) {
        size_t end = step ? (len - off > step ? off + step : len) : (off < split ? split : len);
        size_t used = (size_t)-1;

        err[0] = '\0';
        enum policy_status st = policy_feed(&r, (const char *)data + off, end - off, &used, err, sizeof(err));
        FUZZ_CHECK(used <= end - off);
        if (st == POLICY_ERROR) {
            FUZZ_CHECK(err[0] != '\0' && fuzz_terminated(err, sizeof(err)));
            t->end = POLICY_ERROR;
            return;
        }
        if (st == POLICY_MORE) {
            FUZZ_CHECK(used == end - off);
            off = end;
            continue;
        }
        FUZZ_CHECK(st == POLICY_DONE);
        off += used;
        check_request(&r, &t->hash);
        mix(&t->hash, &off, sizeof(off));
        t->requests++;
        policy_reset(&r);
    }
    t->partial = policy_in_progress(&r);
}

static void same(const struct transcript *a, const struct transcript *b)
{
    FUZZ_CHECK(a->requests == b->requests);
    FUZZ_CHECK(a->end == b->end);
    FUZZ_CHECK(a->partial == b->partial);
    FUZZ_CHECK(a->hash == b->hash);
}

static void check_reply(const uint8_t *data, size_t len)
{
    char action[120], out[POLICY_REPLY_MAX];
    size_t n = 0;

    while (n < len && n < sizeof(action) - 1 && data[n] != '\n' && data[n] != '\0')
        n++;
    memcpy(action, data, n);
    action[n] = '\0';
    int rc = policy_format_reply(out, sizeof(out), action);
    int bad = n == 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)action[i] < 0x20 || action[i] == 0x7f)
            bad = 1;
    FUZZ_CHECK((rc < 0) == bad);
    if (rc >= 0) {
        FUZZ_CHECK((size_t)rc == strlen(out) && (size_t)rc == n + 9);
        FUZZ_CHECK(strncmp(out, "action=", 7) == 0 && strcmp(out + rc - 2, "\n\n") == 0);
        FUZZ_CHECK(memcmp(out + 7, action, n) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct transcript whole, two, bytes;
    size_t split = len ? ((size_t)data[len - 1] * 131 + len / 2) % (len + 1) : 0;

    read_stream(data, len, 0, len, &whole);
    read_stream(data, len, 0, split, &two);
    read_stream(data, len, 1, 0, &bytes);
    same(&whole, &two);
    same(&whole, &bytes);
    check_reply(data, len);
    return 0;
}
