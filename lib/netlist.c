/*
 * netlist - IP address and CIDR network lists ([policy] trusted_forwarders).
 *
 * Callers: config.c parses the list once; decide.c asks per request whether
 * the SMTP client is in it.  No allocation, no DNS: a host name is an error,
 * never looked up (a list that could change with DNS would move trust).
 * netlist_endpoint() reads the one address of a server ([policy] resolver).
 */
#include "netlist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses an IP address (no prefix) into E.  Returns 0 or -1. */
static int parse_ip(const char *s, struct netlist_entry *e)
{
    memset(e->addr, 0, sizeof(e->addr));
    if (inet_pton(AF_INET, s, e->addr) == 1) {
        e->v6 = 0;
        return 0;
    }
    if (inet_pton(AF_INET6, s, e->addr) == 1) {
        static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        e->v6 = 1;
        if (memcmp(e->addr, mapped, sizeof(mapped)) == 0) {
            memmove(e->addr, e->addr + 12, 4);
            memset(e->addr + 4, 0, 12);
            e->v6 = 0;
        }
        return 0;
    }
    return -1;
}

/* 1 if the first BITS bits of A and B are equal. */
static int prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;

    if (memcmp(a, b, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static int parse_entry(const char *tok, struct netlist_entry *e, char *err, size_t errlen)
{
    char ip[64];
    const char *slash = strchr(tok, '/');
    size_t iplen = slash ? (size_t)(slash - tok) : strlen(tok);

    if (iplen == 0 || iplen >= sizeof(ip)) {
        snprintf(err, errlen, "'%.60s' is not an IP address or network", tok);
        return -1;
    }
    memcpy(ip, tok, iplen);
    ip[iplen] = '\0';
    if (parse_ip(ip, e) < 0) {
        snprintf(err, errlen, "'%.60s' is not an IPv4 or IPv6 address (host names are not looked up)", ip);
        return -1;
    }
    /* ::ffff:a.b.c.d was read as the IPv4 address: its prefix is IPv4's. */
    unsigned max = e->v6 ? 128 : 32;
    e->bits = max;
    if (slash) {
        char *end;
        errno = 0;
        long bits = strtol(slash + 1, &end, 10);
        if (errno || slash[1] == '\0' || *end || bits < 0 || bits > (long)max
            || (slash[1] == '0' && slash[2] != '\0')) {
            snprintf(err, errlen, "'%.60s': the prefix length must be a number from 0 to %u", tok, max);
            return -1;
        }
        e->bits = (unsigned)bits;
        unsigned char masked[16];
        memcpy(masked, e->addr, sizeof(masked));
        /* host bits beyond the prefix must be zero */
        for (unsigned i = e->bits; i < max; i++)
            masked[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
        if (memcmp(masked, e->addr, max / 8) != 0) {
            snprintf(err, errlen, "'%.60s' has host bits set beyond /%u (write the network's first address)",
                     tok, e->bits);
            return -1;
        }
    }
    return 0;
}

int netlist_add(struct netlist *nl, const char *text, char *err, size_t errlen)
{
    struct netlist fresh = *nl;
    const char *p = text ? text : "";

    for (;;) {
        char tok[80];
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " \t,");
        if (len >= sizeof(tok)) {
            snprintf(err, errlen, "'%.60s...' is not an IP address or network", p);
            return -1;
        }
        memcpy(tok, p, len);
        tok[len] = '\0';
        p += len;
        if (fresh.n >= NETLIST_MAX) {
            snprintf(err, errlen, "more than %d addresses and networks", NETLIST_MAX);
            return -1;
        }
        if (parse_entry(tok, &fresh.e[fresh.n], err, errlen) < 0)
            return -1;
        fresh.n++;
    }
    *nl = fresh;
    return 0;
}

int netlist_match(const struct netlist *nl, const char *ip)
{
    struct netlist_entry c;

    if (!nl || nl->n == 0 || !ip || strlen(ip) >= 64 || parse_ip(ip, &c) < 0)
        return 0;
    for (size_t i = 0; i < nl->n; i++)
        if (nl->e[i].v6 == c.v6 && prefix_equal(nl->e[i].addr, c.addr, nl->e[i].bits))
            return 1;
    return 0;
}

/* ":PORT" at P (or nothing): the port into *PORT.  Returns 0 or -1. */
static int parse_port(const char *p, unsigned *port)
{
    char *end;
    long v;

    if (*p == '\0')
        return 0;
    if (*p != ':' || p[1] < '0' || p[1] > '9')
        return -1;
    errno = 0;
    v = strtol(p + 1, &end, 10);
    if (errno || *end || v < 1 || v > 65535)
        return -1;
    *port = (unsigned)v;
    return 0;
}

int netlist_endpoint(const char *text, unsigned default_port, struct netlist_endpoint *ep, char *err, size_t errlen)
{
    struct netlist_entry e;
    char ip[64];
    const char *rest;
    unsigned port = default_port;
    size_t len;

    if (!text || !*text || strlen(text) >= sizeof(ip) + 8) {
        snprintf(err, errlen, "'%.60s' is not IP, IP:PORT or [IPv6]:PORT", text ? text : "");
        return -1;
    }
    if (text[0] == '[') {                       /* [IPv6]:PORT */
        const char *close = strchr(text, ']');
        len = close ? (size_t)(close - text - 1) : 0;
        rest = close ? close + 1 : "";
        text++;
    } else if (strchr(text, ':') != strrchr(text, ':')) {   /* bare IPv6: no port */
        len = strlen(text);
        rest = "";
    } else {                                    /* IPv4 or IPv4:PORT */
        len = strcspn(text, ":");
        rest = text + len;
    }
    if (len == 0 || len >= sizeof(ip)) {
        snprintf(err, errlen, "'%.60s' is not IP, IP:PORT or [IPv6]:PORT", text);
        return -1;
    }
    memcpy(ip, text, len);
    ip[len] = '\0';
    if (parse_ip(ip, &e) < 0) {
        snprintf(err, errlen, "'%.60s' is not an IPv4 or IPv6 address (host names are not looked up)", ip);
        return -1;
    }
    if (parse_port(rest, &port) < 0) {
        snprintf(err, errlen, "'%.60s': the port must be a number from 1 to 65535", rest);
        return -1;
    }
    ep->v6 = e.v6;
    memcpy(ep->addr, e.addr, sizeof(ep->addr));
    ep->port = port;
    return 0;
}
