/* sha256.h - SHA-256 (FIPS 180-4), for approval token hashes. */
#ifndef GUARDLIST_SHA256_H
#define GUARDLIST_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256 {
    uint32_t h[8];
    uint64_t len;           /* bytes hashed so far */
    unsigned char buf[64];
    size_t used;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, unsigned char out[SHA256_LEN]);
/* One call: OUT = SHA-256(DATA). */
void sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]);

#endif
