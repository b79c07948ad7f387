/* capkey.h - the key an SMTP client address is counted under by the hourly
 * per-client cap: a flood cannot dodge it by moving inside one network. */
#ifndef GUARDLISTD_CAPKEY_H
#define GUARDLISTD_CAPKEY_H

#include <stddef.h>

#define CAPKEY_MAX 64

/* Writes into OUT (size OUTLEN, at least CAPKEY_MAX) the cap key of the
 * client address ADDR as Postfix sends it: an IPv4 address as it is, an
 * IPv6 address as its /64 ("2001:db8:1:2::/64"), an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) as the IPv4 address, and anything else (unknown,
 * garbage) as itself, cut to fit.  NULL or empty gives "".  Returns OUT. */
char *capkey_client(const char *addr, char *out, size_t outlen);

#endif
