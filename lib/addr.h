/* addr.h - envelope address parsing, normalisation and access(5) lookup keys. */
#ifndef GUARDLIST_ADDR_H
#define GUARDLIST_ADDR_H

#include <stddef.h>

#define ADDR_MAX 255            /* bytes of a normalised address (fits the schema) */
#define ADDR_MAX_KEYS 136       /* 4 address forms + every parent domain (<=128 labels) */

struct addr {
    int is_null;                /* the null sender <> */
    char local[ADDR_MAX + 1];   /* unquoted, lower case */
    char domain[ADDR_MAX + 1];  /* lower case, no trailing dot; "" if none */
    size_t base_len;            /* length of local before the first delimiter */
};

/* Parses IN (optionally inside <>; a quoted local part is unquoted) and lower-
 * cases it.  DELIMS is the set of recipient delimiter bytes ("" for none).
 * Returns 0, or -1 with ERR saying what is wrong: control characters, bad
 * UTF-8, empty local part, domain syntax, or longer than ADDR_MAX. */
int addr_parse(const char *in, const char *delims, struct addr *a, char *err, size_t errlen);

/* Writes the normalised address into OUT ("<>" for the null sender).  With
 * BASE set, the delimiter extension is left out.  Returns 0, or -1 if it does
 * not fit. */
int addr_format(const struct addr *a, int base, char *out, size_t outlen);

/* The lookup keys of an address, most specific first, as Postfix access(5):
 * user+ext@sub.example.com, user@sub.example.com, sub.example.com,
 * example.com, com, user+ext@, user@.  The null sender has the one key "<>".
 * Key strings live inside the struct. */
struct addr_keys {
    size_t n;
    const char *key[ADDR_MAX_KEYS];
    char full[ADDR_MAX + 2];
    char base[ADDR_MAX + 2];
    char local_at[ADDR_MAX + 2];
    char base_at[ADDR_MAX + 2];
};
void addr_keys(const struct addr *a, struct addr_keys *k);

/* Normalises a key as stored in a table (an address, user@, a domain or <>)
 * the way lookups are written: trimmed, outer <> removed, lower case.
 * Returns 0, or -1 when it is empty, too long or holds control characters. */
int addr_key_normalize(const char *in, char *out, size_t outlen);

/* 1 if S is valid UTF-8 (no overlongs, no surrogates), else 0. */
int addr_utf8_valid(const char *s, size_t len);


/* What a table key names. */
enum addr_key_kind { AK_ADDRESS, AK_USER, AK_DOMAIN, AK_NULL };

/* Checks a key typed by a person (CLI, web) against RFC 5321 limits and
 * writes its stored form (lower case, no <>) to OUT: a full address
 * (local part <= 64 bytes, domain <= 255, whole <= 254), a "user@" key, a
 * domain, or "<>" when ALLOW_NULL.  Returns 0, or -1 with ERR saying what
 * is wrong. */
int addr_key_check(const char *in, int allow_null, char *out, size_t outlen,
                   enum addr_key_kind *kind, char *err, size_t errlen);

#endif
