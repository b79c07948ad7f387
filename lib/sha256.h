/* sha256.h - SHA-256 (FIPS 180-4) for approval token hashes, and HMAC-SHA-256. */
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

/* OUT = HMAC-SHA-256(KEY, DATA) (RFC 2104): the admin page's form tokens. */
void hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[SHA256_LEN]);

/* 1 if the LEN bytes at A and B are equal, in a time that does not depend
 * on where they differ. */
int equal_consttime(const void *a, const void *b, size_t len);

#endif
