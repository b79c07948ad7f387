/* netlist.h - lists of IP addresses and CIDR networks (IPv4 and IPv6), as
 * the configuration names trusted hosts: parse once, match per request. */
#ifndef GUARDLIST_NETLIST_H
#define GUARDLIST_NETLIST_H

#include <stddef.h>

#define NETLIST_MAX 64          /* entries in one list */

struct netlist_entry {
    int v6;                     /* 0: IPv4 (4 bytes of addr), 1: IPv6 (16) */
    unsigned char addr[16];     /* host bits beyond BITS are zero */
    unsigned bits;              /* prefix length */
};

struct netlist {
    size_t n;
    struct netlist_entry e[NETLIST_MAX];
};

/* Appends the entries of TEXT (addresses or ADDRESS/BITS networks, separated
 * by commas and/or blanks; empty adds nothing) to NL.  A network with host
 * bits set (10.0.0.1/8) is an error, as a typo would widen it silently.
 * Returns 0, or -1 with ERR naming the entry and what is wrong; NL is then
 * unchanged. */
int netlist_add(struct netlist *nl, const char *text, char *err, size_t errlen);

/* 1 if the client address IP (as Postfix writes client_address: dotted IPv4
 * or IPv6, an IPv4-mapped IPv6 address counts as its IPv4 address) is in
 * NL, else 0 (also for NULL, an empty list or an unparsable IP). */
int netlist_match(const struct netlist *nl, const char *ip);

/* One server the configuration names by address, as [policy] resolver does. */
struct netlist_endpoint {
    int v6;                     /* 0: IPv4 (4 bytes of addr), 1: IPv6 (16) */
    unsigned char addr[16];
    unsigned port;
};

/* Parses TEXT: IPv4, IPv4:PORT, IPv6, or [IPv6]:PORT (no host names: a DNS
 * server cannot be found through DNS).  PORT defaults to DEFAULT_PORT.
 * Returns 0, or -1 with ERR saying what is wrong; EP is then unchanged. */
int netlist_endpoint(const char *text, unsigned default_port, struct netlist_endpoint *ep, char *err, size_t errlen);

#endif
