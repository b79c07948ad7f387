/*
 * token - approval tokens.  128 bits from the kernel's CSPRNG (getrandom),
 * so guessing one is hopeless; the database keeps only SHA-256(token), so a
 * stolen copy of it approves nothing.  Callers: the notifier (makes them),
 * the approval page (checks the shape before any lookup, then hashes).
 */
#include "token.h"

#include <string.h>
#include <sys/random.h>

void token_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int token_new(char out[TOKEN_CHARS + 1], unsigned char hash[SHA256_LEN])
{
    unsigned char raw[TOKEN_CHARS / 2];

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -1;
    token_hex(raw, sizeof(raw), out);
    return token_hash(out, hash);
}

int token_valid(const char *s)
{
    if (!s || strlen(s) != TOKEN_CHARS)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

int token_hash(const char *token, unsigned char hash[SHA256_LEN])
{
    return crypto_sha256(token, strlen(token), hash);
}
