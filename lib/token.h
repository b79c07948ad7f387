/* token.h - approval tokens: 128 random bits shown once as 32 hex digits;
 * only their SHA-256 is stored. */
#ifndef GUARDLIST_TOKEN_H
#define GUARDLIST_TOKEN_H

#include <stddef.h>
#include "crypto.h"

#define TOKEN_CHARS 32

/* A fresh token (getrandom) in OUT and its SHA-256 in HASH.  Returns 0 or -1. */
int token_new(char out[TOKEN_CHARS + 1], unsigned char hash[SHA256_LEN]);

/* 1 if S has the exact token shape: 32 lowercase hex digits and nothing else. */
int token_valid(const char *s);

/* HASH = SHA-256 of the token's characters.  Returns 0 or -1 (libcrypto failed). */
int token_hash(const char *token, unsigned char hash[SHA256_LEN]);

/* Lowercase hex of LEN bytes into OUT (2 * LEN + 1 bytes). */
void token_hex(const unsigned char *in, size_t len, char *out);

#endif
