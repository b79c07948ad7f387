/*
 * tcpbind - binds the TCP socket of an inet:HOST:PORT setting.
 *
 * Callers: guardlistd's policy listener (daemon/listener.c) and the
 * /metrics listeners (lib/promhttp.c), before they drop privileges.  The
 * host is resolved once, at start; nothing here listens or accepts.
 */
#include "tcpbind.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int tcpbind_open(const char *spec, char *err, size_t errlen)
{
    char host[256];
    const char *hp = spec + 5, *colon = strrchr(hp, ':');
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res;
    int fd, rc, one = 1;

    if (strncmp(spec, "inet:", 5) != 0 || !colon) {
        snprintf(err, errlen, "expected inet:HOST:PORT, got '%.100s'", spec);
        return -1;
    }
    size_t hl = (size_t)(colon - hp);
    if (hl >= sizeof(host)) {
        snprintf(err, errlen, "listen host too long");
        return -1;
    }
    if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
        hp++;
        hl -= 2;
    }
    memcpy(host, hp, hl);
    host[hl] = '\0';
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listen address %s: %s", host, gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
        snprintf(err, errlen, "cannot bind %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}
