/*
 * dunnod - the benchmark's reference policy server: answers "action=DUNNO"
 * to every request at once, on every core, and does nothing else.  The
 * physical limit of any policy server driven by policyload on this machine:
 * `make bench` compares guardlistd with it in the same run.
 *
 * One thread per online CPU (or -n N), each with its own SO_REUSEPORT
 * listening socket on 127.0.0.1:PORT and its own epoll set; a request ends
 * at an empty line, its reply is written at once (pipelined requests get one
 * reply each, in order).  Not part of guardlist: no limits, no timeouts,
 * loopback only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 4096

static const char reply[] = "action=DUNNO\n\n";

struct client {
    int fd;
    int nl;             /* the last byte seen was a newline */
};

static int port;

static int listen_on(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0
        || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0) {
        fprintf(stderr, "dunnod: error: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        exit(1);
    }
    return fd;
}

/* Reads what C sent and answers each request in it; -1 when C is gone. */
static int serve(struct client *c)
{
    char in[BUF], out[BUF];

    for (;;) {
        ssize_t n = read(c->fd, in, sizeof(in));
        size_t o = 0;

        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return -1;
        for (ssize_t i = 0; i < n; i++) {
            if (in[i] != '\n') {
                c->nl = 0;
                continue;
            }
            if (c->nl) {                /* an empty line: one whole request */
                if (o + sizeof(reply) - 1 > sizeof(out)) {
                    if (write(c->fd, out, o) != (ssize_t)o)
                        return -1;
                    o = 0;
                }
                memcpy(out + o, reply, sizeof(reply) - 1);
                o += sizeof(reply) - 1;
                c->nl = 0;
            } else {
                c->nl = 1;
            }
        }
        if (o > 0 && write(c->fd, out, o) != (ssize_t)o)
            return -1;
        if ((size_t)n < sizeof(in))
            return 0;
    }
}

static void *worker(void *arg)
{
    int lfd = listen_on(), ep = epoll_create1(0);
    struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL }, ev[256];

    (void)arg;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
    for (;;) {
        int n = epoll_wait(ep, ev, 256, -1);
        for (int i = 0; i < n; i++) {
            struct client *c = ev[i].data.ptr;
            if (!c) {
                int fd, one = 1;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    c = calloc(1, sizeof(*c));
                    if (!c) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct epoll_event ce = { .events = EPOLLIN, .data.ptr = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
                }
                continue;
            }
            if (serve(c) < 0) {
                close(c->fd);
                free(c);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    int opt;

    while ((opt = getopt(argc, argv, "p:n:h")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'n': threads = atol(optarg); break;
        default:
            fprintf(opt == 'h' ? stdout : stderr, "Usage: dunnod -p PORT [-n THREADS]\n"
                    "Answers action=DUNNO to every policy request on 127.0.0.1:PORT, THREADS\n"
                    "threads (default: one per online CPU), until killed.\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (port < 1 || port > 65535 || threads < 1 || threads > 256) {
        fprintf(stderr, "dunnod: error: -p PORT (1-65535) is required; -n 1 to 256\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    pthread_t *t = calloc((size_t)threads, sizeof(*t));
    for (long i = 0; i < threads; i++)
        if (!t || pthread_create(&t[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "dunnod: error: cannot start threads\n");
            return 1;
        }
    pthread_join(t[0], NULL);
    return 0;
}
