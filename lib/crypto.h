/* crypto.h - SHA-256, HMAC-SHA-256 and a constant-time comparison, from
 * OpenSSL's libcrypto: approval token hashes and the admin page's form tokens. */
#ifndef GUARDLIST_CRYPTO_H
#define GUARDLIST_CRYPTO_H

#include <stddef.h>

#define SHA256_LEN 32

/* OUT = SHA-256(DATA).  Returns 0, or -1 if libcrypto failed (OUT is then
 * zeroed: a caller that ignores the error compares against no real hash). */
int crypto_sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]);

/* OUT = HMAC-SHA-256(KEY, DATA) (RFC 2104).  Returns 0, or -1 as above. */
int crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                       unsigned char out[SHA256_LEN]);

/* 1 if the LEN bytes at A and B are equal, in a time that does not depend
 * on where they differ (CRYPTO_memcmp); else 0. */
int crypto_equal(const void *a, const void *b, size_t len);

#endif
