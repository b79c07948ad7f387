/*
 * capkey - the key under which guardlistd's per-client hourly cap counts an
 * SMTP client: the IPv4 address, or the /64 of an IPv6 one (one subscriber
 * line, one host on a server LAN, holds a whole /64, so counting single IPv6
 * addresses would give a flood 2^64 fresh caps), with IPv4-mapped IPv6
 * mapped back to IPv4.
 *
 * Called by caps.c.  Pure: no state, no allocation.  The input comes from
 * Postfix (client_address), which is trusted to name the client but is still
 * only text here: anything that does not parse is counted as itself.
 */
#include "capkey.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

char *capkey_client(const char *addr, char *out, size_t outlen)
{
    struct in6_addr a6;
    struct in_addr a4;
    char host[INET6_ADDRSTRLEN + 16];
    size_t len;

    if (outlen == 0)
        return out;
    out[0] = '\0';
    if (!addr || !addr[0])
        return out;
    len = strcspn(addr, "%");           /* a zone id (fe80::1%eth0) names no other host */
    if (len < sizeof(host) && strchr(addr, ':')) {
        memcpy(host, addr, len);
        host[len] = '\0';
        if (inet_pton(AF_INET6, host, &a6) == 1) {
            if (IN6_IS_ADDR_V4MAPPED(&a6)) {
                memcpy(&a4, &a6.s6_addr[12], 4);
                inet_ntop(AF_INET, &a4, out, (socklen_t)outlen);
                return out;
            }
            memset(&a6.s6_addr[8], 0, 8);
            char net[INET6_ADDRSTRLEN];
            if (inet_ntop(AF_INET6, &a6, net, sizeof(net)))
                snprintf(out, outlen, "%s/64", net);
            return out;
        }
    }
    if (inet_pton(AF_INET, addr, &a4) == 1) {
        inet_ntop(AF_INET, &a4, out, (socklen_t)outlen);   /* one spelling for one address */
        return out;
    }
    snprintf(out, outlen, "%s", addr);
    return out;
}
