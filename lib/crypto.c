/*
 * crypto - the three primitives guardlist needs, from OpenSSL's libcrypto
 * (which MariaDB Connector/C loads anyway), so no hand-written cryptography
 * is left in the tree.  Callers: lib/token.c (approval token hashes), the
 * admin page (HMAC form tokens, compared in constant time).
 * Never returns a partial result: on failure the output is zeroed.
 */
#include "crypto.h"

#include <limits.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int crypto_sha256(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
    unsigned int n = 0;

    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != SHA256_LEN) {
        memset(out, 0, SHA256_LEN);
        return -1;
    }
    return 0;
}

int crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                       unsigned char out[SHA256_LEN])
{
    unsigned int n = 0;
    static const unsigned char empty[1];

    /* HMAC() takes the key length as an int, and an empty key as a
     * non-NULL pointer. */
    if (keylen > INT_MAX
        || !HMAC(EVP_sha256(), keylen ? key : empty, (int)keylen, data, len, out, &n)
        || n != SHA256_LEN) {
        memset(out, 0, SHA256_LEN);
        return -1;
    }
    return 0;
}

int crypto_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}
