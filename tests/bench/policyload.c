/*
 * policyload - a load generator for Postfix policy servers (guardlistd,
 * postgrey, anything speaking the policy delegation protocol).
 *
 * CONNS persistent connections, each sending one request and waiting for
 * its reply, as Postfix's smtpd processes do; one epoll thread.  Requests
 * come from a file ("sender recipient" per line) or from a built-in mix of
 * known pairs, unknown senders and unprotected recipients.  Prints
 * requests/s, latency percentiles and errors; loopback targets only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct pair {
    char *sender, *recipient;
};

struct conn {
    int fd;
    double sent_at;
    char out[1024];
    size_t outlen, outoff;
    char in[1024];
    size_t inlen;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: policyload [-c CONNS] [-d SECONDS] [-n MAX] (-t HOST:PORT | -U PATH)\n"
            "                  [-f PAIRS | --rules N --known PCT --unknown PCT --unprotected PCT]\n"
            "                  [--json] [--expect-mix]\n"
            "\n"
            "  -t HOST:PORT      TCP target (loopback only)\n"
            "  -U PATH           unix socket target\n"
            "  -c CONNS          persistent connections (default 8)\n"
            "  -d SECONDS        run time (default 5)\n"
            "  -n MAX            stop after MAX requests (default: no limit)\n"
            "  -f PAIRS          requests from a file: \"sender recipient\" per line\n"
            "  --rules N         built-in mix: known pairs are sN@known.test -> kidM@family.test\n"
            "                    (N known senders, 100 protected kids), as made by `--print-rules`\n"
            "  --known/--unknown/--unprotected PCT   the mix (default 80/15/5)\n"
            "  --print-rules N   print N rule rows (TSV: recipient, sender, action) and exit\n"
            "  --json            one JSON object instead of text\n"
            "Exit status: 0 ok, 1 errors seen, 2 usage.\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "rules", required_argument, NULL, 'r' }, { "known", required_argument, NULL, 'k' },
        { "unknown", required_argument, NULL, 'u' }, { "unprotected", required_argument, NULL, 'p' },
        { "json", no_argument, NULL, 'j' }, { "print-rules", required_argument, NULL, 'P' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int conns = 8, json = 0, opt;
    double seconds = 5;
    long max = -1, rules = 1000, known = 80, unknown = 15, unprotected = 5;
    const char *target = NULL, *upath = NULL, *file = NULL;

    while ((opt = getopt_long(argc, argv, "c:d:n:t:U:f:h", lo, NULL)) != -1) {
        switch (opt) {
        case 'c': conns = atoi(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'n': max = atol(optarg); break;
        case 't': target = optarg; break;
        case 'U': upath = optarg; break;
        case 'f': file = optarg; break;
        case 'r': rules = atol(optarg); break;
        case 'k': known = atol(optarg); break;
        case 'u': unknown = atol(optarg); break;
        case 'p': unprotected = atol(optarg); break;
        case 'j': json = 1; break;
        case 'P': {
            long n = atol(optarg);
            for (long i = 0; i < n; i++)
                printf("kid%ld@family.test\ts%ld@known.test\tOK\n", i % 100, i);
            return 0;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if ((!target == !upath) || conns < 1 || conns > 10000 || seconds <= 0 || rules < 1
        || known + unknown + unprotected != 100 || known < 0 || unknown < 0 || unprotected < 0) {
        usage(stderr);
        return 2;
    }

    /* The request list. */
    size_t npairs = 0, cap = 0;
    struct pair *pairs = NULL;
    if (file) {
        FILE *f = fopen(file, "r");
        char line[1100], s[520], r[520];
        if (!f) {
            fprintf(stderr, "policyload: error: %s: %s\n", file, strerror(errno));
            return 2;
        }
        while (fgets(line, sizeof(line), f)) {
            if (sscanf(line, "%519s %519s", s, r) != 2)
                continue;
            if (npairs == cap) {
                cap = cap ? cap * 2 : 1024;
                pairs = realloc(pairs, cap * sizeof(*pairs));
            }
            pairs[npairs].sender = strdup(s);
            pairs[npairs].recipient = strdup(r);
            npairs++;
        }
        fclose(f);
    } else {
        npairs = 10000;
        pairs = calloc(npairs, sizeof(*pairs));
        for (size_t i = 0; i < npairs; i++) {
            char s[128], r[128];
            long k = (long)(i % 100), pick = (long)((i * 7919) % 100);
            long sid = (long)((i * 2654435761u) % (unsigned long)rules);
            if (pick < known) {                 /* a rule of --print-rules */
                snprintf(s, sizeof(s), "s%ld@known.test", sid);
                snprintf(r, sizeof(r), "kid%ld@family.test", sid % 100);
            } else if (pick < known + unknown) {
                snprintf(s, sizeof(s), "stranger%zu@unknown.test", i);
                snprintf(r, sizeof(r), "kid%ld@family.test", k);
            } else {
                snprintf(s, sizeof(s), "someone%zu@example.org", i);
                snprintf(r, sizeof(r), "adult%ld@family.test", k);
            }
            pairs[i].sender = strdup(s);
            pairs[i].recipient = strdup(r);
        }
    }
    if (npairs == 0) {
        fprintf(stderr, "policyload: error: no requests\n");
        return 2;
    }

    /* Connect. */
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    if (upath) {
        struct sockaddr_un *su = (struct sockaddr_un *)&ss;
        su->sun_family = AF_UNIX;
        snprintf(su->sun_path, sizeof(su->sun_path), "%s", upath);
        sl = sizeof(*su);
    } else {
        char host[256];
        const char *colon = strrchr(target, ':');
        struct sockaddr_in *si = (struct sockaddr_in *)&ss;
        if (!colon || (size_t)(colon - target) >= sizeof(host)) {
            usage(stderr);
            return 2;
        }
        memcpy(host, target, (size_t)(colon - target));
        host[colon - target] = '\0';
        si->sin_family = AF_INET;
        si->sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &si->sin_addr) != 1 || (ntohl(si->sin_addr.s_addr) >> 24) != 127) {
            fprintf(stderr, "policyload: error: the target must be a 127.x.x.x address\n");
            return 2;
        }
        sl = sizeof(*si);
    }
    int ep = epoll_create1(0);
    struct conn *c = calloc((size_t)conns, sizeof(*c));
    size_t lat_cap = 1 << 20, nlat = 0, next = 0;
    double *lat = malloc(lat_cap * sizeof(*lat));
    long errors = 0, done = 0;
    char first_error[256] = "";

    for (int i = 0; i < conns; i++) {
        int one = 1;
        c[i].fd = socket(ss.ss_family, SOCK_STREAM, 0);
        if (c[i].fd < 0 || connect(c[i].fd, (struct sockaddr *)&ss, sl) < 0) {
            fprintf(stderr, "policyload: error: connect: %s\n", strerror(errno));
            return 1;
        }
        if (!upath)
            setsockopt(c[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fcntl(c[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &e);
    }

    double start = now(), end = start + seconds;
    /* Send the first request on every connection. */
    for (int i = 0; i < conns; i++) {
        struct pair *p = &pairs[next++ % npairs];
        int n = snprintf(c[i].out, sizeof(c[i].out),
                         "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                         "client_address=192.0.2.1\nclient_name=mx.example.net\nhelo_name=mx.example.net\n"
                         "sender=%s\nrecipient=%s\nrecipient_count=0\ninstance=%x.%lx\n\n",
                         p->sender, p->recipient, i, (unsigned long)next);
        c[i].sent_at = now();
        if (write(c[i].fd, c[i].out, (size_t)n) != n) {
            errors++;
        }
    }
    int active = conns;
    while (active > 0) {
        struct epoll_event ev[256];
        double t = now();
        int after_end = t >= end;
        int timeout = after_end ? 2000 : (int)((end - t) * 1000) + 1;
        int n = epoll_wait(ep, ev, 256, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && !after_end)
            continue;   /* the end came: now wait for the replies still out */
        if (n <= 0)
            break;      /* no answer in 2 s after the end: counted below */
        for (int k = 0; k < n; k++) {
            struct conn *cc = &c[ev[k].data.u32];
            ssize_t r = read(cc->fd, cc->in + cc->inlen, sizeof(cc->in) - 1 - cc->inlen);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                errors++;
                if (!first_error[0])
                    snprintf(first_error, sizeof(first_error), "connection closed by the server");
                epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
                close(cc->fd);
                active--;
                continue;
            }
            cc->inlen += (size_t)r;
            cc->in[cc->inlen] = '\0';
            char *endp = strstr(cc->in, "\n\n");
            if (!endp)
                continue;
            double tt = now();
            if (strncmp(cc->in, "action=", 7) != 0) {
                errors++;
                if (!first_error[0])
                    snprintf(first_error, sizeof(first_error), "bad reply: %.80s", cc->in);
            } else if (strncmp(cc->in, "action=451", 10) == 0 || strncmp(cc->in, "action=DEFER ", 13) == 0) {
                errors++;       /* temporary failure: the server could not decide */
                if (!first_error[0])
                    snprintf(first_error, sizeof(first_error), "%.100s", cc->in);
            }
            if (nlat == lat_cap) {
                lat_cap *= 2;
                lat = realloc(lat, lat_cap * sizeof(*lat));
            }
            lat[nlat++] = tt - cc->sent_at;
            done++;
            size_t used = (size_t)(endp + 2 - cc->in);
            memmove(cc->in, cc->in + used, cc->inlen - used);
            cc->inlen -= used;
            if (tt >= end || (max >= 0 && done >= max)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
                close(cc->fd);
                active--;
                continue;
            }
            struct pair *p = &pairs[next++ % npairs];
            int m = snprintf(cc->out, sizeof(cc->out),
                             "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                             "client_address=192.0.2.1\nclient_name=mx.example.net\nhelo_name=mx.example.net\n"
                             "sender=%s\nrecipient=%s\nrecipient_count=0\ninstance=%x.%lx\n\n",
                             p->sender, p->recipient, (unsigned)ev[k].data.u32, (unsigned long)next);
            cc->sent_at = now();
            if (write(cc->fd, cc->out, (size_t)m) != m)
                errors++;
        }
    }
    double elapsed = now() - start;
    errors += active;       /* connections still waiting for a reply */
    qsort(lat, nlat, sizeof(*lat), cmp_double);
#define PCT(p) (nlat ? lat[(size_t)((double)(nlat - 1) * (p))] * 1000 : 0)
    double rps = elapsed > 0 ? (double)done / elapsed : 0;
    if (json)
        printf("{\"requests\":%ld,\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%ld,\"connections\":%d}\n",
               done, elapsed, rps, PCT(0.5), PCT(0.9), PCT(0.99), nlat ? lat[nlat - 1] * 1000 : 0, errors, conns);
    else
        printf("requests %ld in %.2f s: %.0f/s  latency p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  "
               "errors %ld  (%d connections)\n", done, elapsed, rps, PCT(0.5), PCT(0.9), PCT(0.99),
               nlat ? lat[nlat - 1] * 1000 : 0, errors, conns);
    if (first_error[0])
        fprintf(stderr, "policyload: first error: %s\n", first_error);
    return errors ? 1 : 0;
}
