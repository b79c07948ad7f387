/* test_token.c - unit tests of lib/token.c and lib/crypto.c (libcrypto):
 * SHA-256 against the FIPS 180-4 / NIST example vectors and the padding
 * boundaries, HMAC-SHA-256 against RFC 4231, the constant-time comparison,
 * fresh tokens, the exact token shape, hex encoding.  One row a case. */
#include "unit.h"
#include "crypto.h"
#include "token.h"

/* ---- SHA-256 vectors ---- */

struct sha_row {
    const char *name;
    const char *msg;        /* NULL: REPEAT copies of 'a' */
    size_t repeat;
    const char *hex;
};

#define ABC448 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define ABC896 "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno" \
               "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
#define H_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define H_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define H_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define H_896 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
#define H_MILLION "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static struct sha_row sha_rows[] = {
    {"sha256: \"\" (FIPS)", "", 0, H_EMPTY},
    {"sha256: \"abc\" (FIPS)", "abc", 0, H_ABC},
    {"sha256: 448-bit abcdbcde... (FIPS)", ABC448, 0, H_448},
    {"sha256: 896-bit abcdefgh... (NIST)", ABC896, 0, H_896},
    {"sha256: one million 'a' one-shot", NULL, 1000000, H_MILLION},
    /* padding boundaries (reference values from coreutils sha256sum) */
    {"sha256: 55 'a' (padding fits one block)", NULL, 55,
     "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
    {"sha256: 56 'a' (padding needs a second block)", NULL, 56,
     "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
    {"sha256: 57 'a'", NULL, 57,
     "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
    {"sha256: 63 'a'", NULL, 63,
     "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
    {"sha256: 64 'a' (one full block)", NULL, 64,
     "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
    {"sha256: 65 'a'", NULL, 65,
     "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
    {"sha256: 119 'a'", NULL, 119,
     "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
    {"sha256: 120 'a'", NULL, 120,
     "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    {"sha256: 128 'a' (two full blocks)", NULL, 128,
     "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
};

static void test_sha(void **state)
{
    const struct sha_row *row = *state;
    unsigned char md[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    const char *msg = row->msg;
    char *owned = NULL;
    size_t len;

    if (!msg) {
        owned = malloc(row->repeat + 1);
        assert_non_null(owned);
        memset(owned, 'a', row->repeat);
        owned[row->repeat] = '\0';
        msg = owned;
        len = row->repeat;
    } else {
        len = strlen(msg);
    }
    assert_int_equal(crypto_sha256(msg, len, md), 0);
    free(owned);
    token_hex(md, sizeof md, hex);
    assert_string_equal(hex, row->hex);
}

/* ---- tokens ---- */

static int is_token_shape(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == TOKEN_CHARS;
}

static void test_token_new(void **state)
{
    char tok[TOKEN_CHARS + 1];
    unsigned char hash[SHA256_LEN], again[SHA256_LEN];

    (void)state;
    memset(tok, 'X', sizeof tok);
    assert_int_equal(token_new(tok, hash), 0);
    assert_int_equal(strlen(tok), TOKEN_CHARS);
    if (!is_token_shape(tok))
        fail_msg("token \"%s\" is not 32 lowercase hex digits", tok);
    assert_int_equal(token_valid(tok), 1);
    assert_int_equal(token_hash(tok, again), 0);
    assert_memory_equal(hash, again, SHA256_LEN);
    assert_int_equal(crypto_sha256(tok, strlen(tok), again), 0);
    assert_memory_equal(hash, again, SHA256_LEN);
}

static int cmp_tok(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_token_distinct(void **state)
{
    static char toks[1000][TOKEN_CHARS + 1];
    unsigned char hash[SHA256_LEN];
    size_t n = sizeof toks / sizeof toks[0];

    (void)state;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(token_new(toks[i], hash), 0);
        assert_int_equal(token_valid(toks[i]), 1);
    }
    qsort(toks, n, sizeof toks[0], cmp_tok);
    for (size_t i = 1; i < n; i++)
        if (strcmp(toks[i - 1], toks[i]) == 0)
            fail_msg("token %s made twice in %zu", toks[i], n);
}

/* token_hash is SHA-256 of the 32 ASCII characters, nothing more. */
static void test_token_hash_known(void **state)
{
    unsigned char hash[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];

    (void)state;
    assert_int_equal(token_hash("abc", hash), 0);
    token_hex(hash, sizeof hash, hex);
    assert_string_equal(hex, H_ABC);
    /* A token hashed by guardlist's own SHA-256 before libcrypto (the value
     * in existing databases) hashes the same now. */
    assert_int_equal(token_hash("0123456789abcdef0123456789abcdef", hash), 0);
    token_hex(hash, sizeof hash, hex);
    assert_string_equal(hex, "3eb1bd439947eb762998e566ccc2e099c791118b2f40579cc4f7da2b5061b7f9");
}

struct valid_row {
    const char *name;
    const char *s;
    int valid;
};

#define T32 "0123456789abcdef0123456789abcdef"

static struct valid_row valid_rows[] = {
    {"valid: 32 lowercase hex", T32, 1},
    {"valid: all zeros", "00000000000000000000000000000000", 1},
    {"valid: all f", "ffffffffffffffffffffffffffffffff", 1},
    {"invalid: 31 chars", "0123456789abcdef0123456789abcde", 0},
    {"invalid: 33 chars", T32 "0", 0},
    {"invalid: 64 chars", T32 T32, 0},
    {"invalid: uppercase hex", "0123456789ABCDEF0123456789abcdef", 0},
    {"invalid: one uppercase A", "A123456789abcdef0123456789abcdef", 0},
    {"invalid: 'g'", "0123456789abcdefg123456789abcdef", 0},
    {"invalid: trailing newline", T32 "\n", 0},
    {"invalid: newline replacing the last char", "0123456789abcdef0123456789abcde\n", 0},
    {"invalid: leading space", " " T32, 0},
    {"invalid: space inside (32 chars)", "0123456789abcdef 123456789abcdef", 0},
    {"invalid: empty", "", 0},
    {"invalid: NULL", NULL, 0},
    /* A NUL in the middle: token_valid sees a 16-char C string. */
    {"invalid: NUL after 16 chars", "0123456789abcdef\0" "0123456789abcde", 0},
    {"invalid: %-encoded first char (34 chars)", "%30123456789abcdef0123456789abcdef", 0},
    {"invalid: %-encoded chars, 32 long", "%30%31%32%33%34%35%36%37%38%39%6", 0},
    {"invalid: fully %-encoded", "%30%31%32%33%34%35%36%37%38%39%61%62%63%64%65%66"
                                 "%30%31%32%33%34%35%36%37%38%39%61%62%63%64%65%66", 0},
    {"invalid: '+' (form-encoded space)", "0123456789abcdef+123456789abcdef", 0},
    {"invalid: high byte", "0123456789abcdef\xc3\xa9" "23456789abcdef", 0},
    {"invalid: '-' (uuid-like)", "01234567-89ab-cdef-0123-456789ab", 0},
};

static void test_valid(void **state)
{
    const struct valid_row *row = *state;

    assert_int_equal(token_valid(row->s), row->valid);
}

/* ---- token_hex ---- */

struct hex_row {
    const char *name;
    const char *in;
    size_t len;
    const char *out;
};

static struct hex_row hex_rows[] = {
    {"hex: empty", "", 0, ""},
    {"hex: 00", "\x00", 1, "00"},
    {"hex: ff", "\xff", 1, "ff"},
    {"hex: 0f f0 (nibble order)", "\x0f\xf0", 2, "0ff0"},
    {"hex: 01 23 45 67 89 ab cd ef", "\x01\x23\x45\x67\x89\xab\xcd\xef", 8, "0123456789abcdef"},
    {"hex: NUL in the middle", "a\0b", 3, "610062"},
};

static void test_hex(void **state)
{
    const struct hex_row *row = *state;
    char out[64];

    memset(out, '#', sizeof out);
    token_hex((const unsigned char *)row->in, row->len, out);
    assert_string_equal(out, row->out);
    assert_int_equal(out[2 * row->len + 1], '#');    /* nothing written past 2 * LEN + 1 */
}

static void test_hex_all_bytes(void **state)
{
    unsigned char in[256];
    char out[513];
    char want[3];

    (void)state;
    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)i;
    token_hex(in, sizeof in, out);
    assert_int_equal(strlen(out), 512);
    for (int i = 0; i < 256; i++) {
        snprintf(want, sizeof want, "%02x", (unsigned)i);
        if (out[2 * i] != want[0] || out[2 * i + 1] != want[1])
            fail_msg("byte %d encoded as %.2s, expected %s", i, out + 2 * i, want);
    }
}

/* HMAC-SHA-256: RFC 4231's test cases 1, 2, 3 and 6, and the edges of the
 * key's length (empty; exactly one 64-byte block, which is not hashed). */
struct hmac_row {
    const char *name;
    const char *key;            /* NULL: KEY_BYTE repeated KEY_LEN times */
    unsigned char key_byte;
    size_t key_len;
    const char *data;           /* NULL: DATA_BYTE repeated DATA_LEN times */
    unsigned char data_byte;
    size_t data_len;
    const char *hex;
};

static struct hmac_row hmac_rows[] = {
    {"hmac: RFC 4231 case 1", NULL, 0x0b, 20, "Hi There", 0, 0,
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {"hmac: RFC 4231 case 2", "Jefe", 0, 0, "what do ya want for nothing?", 0, 0,
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {"hmac: RFC 4231 case 3", NULL, 0xaa, 20, NULL, 0xdd, 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {"hmac: RFC 4231 case 6 (131-byte key, hashed first)", NULL, 0xaa, 131,
     "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {"hmac: 64-byte key (one block, used as is)", NULL, 'k', 64, "exactly one block of key", 0, 0,
     "baa93ea4ccc7062ed6870c5e7937dbd35ad7791df4e29df9addeb429ff491acf"},
    {"hmac: empty key, empty data", "", 0, 0, "", 0, 0,
     "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"},
};

static void test_hmac(void **state)
{
    const struct hmac_row *row = *state;
    unsigned char key[200], data[200], mac[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    size_t klen = row->key ? strlen(row->key) : row->key_len;
    size_t dlen = row->data ? strlen(row->data) : row->data_len;

    assert_true(klen <= sizeof key && dlen <= sizeof data);
    if (row->key)
        memcpy(key, row->key, klen);
    else
        memset(key, row->key_byte, klen);
    if (row->data)
        memcpy(data, row->data, dlen);
    else
        memset(data, row->data_byte, dlen);
    assert_int_equal(crypto_hmac_sha256(key, klen, data, dlen, mac), 0);
    token_hex(mac, SHA256_LEN, hex);
    assert_string_equal(hex, row->hex);
}

/* crypto_equal: equal, and a difference at the first, a middle and the
 * last byte, and a zero length. */
static void test_crypto_equal(void **state)
{
    char a[33] = "0123456789abcdef0123456789abcdef", b[33];

    (void)state;
    memcpy(b, a, sizeof b);
    assert_true(crypto_equal(a, b, 32));
    assert_true(crypto_equal(a, "x", 0));
    for (size_t at = 0; at < 32; at += 15) {
        memcpy(b, a, sizeof b);
        b[at] ^= 1;
        if (crypto_equal(a, b, 32))
            fail_msg("a difference at byte %zu was not seen", at);
    }
    b[31] = a[31];
    b[30] ^= (char)0x80;
    assert_false(crypto_equal(a, b, 32));
}

static struct CMUnitTest tests[UNIT_LEN(sha_rows) + UNIT_LEN(valid_rows)
                               + UNIT_LEN(hex_rows) + UNIT_LEN(hmac_rows) + 5];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_sha, sha_rows);
    UNIT_ADD(tests, n, test_token_new);
    UNIT_ADD(tests, n, test_token_distinct);
    UNIT_ADD(tests, n, test_token_hash_known);
    UNIT_ADD_ROWS(tests, n, test_valid, valid_rows);
    UNIT_ADD_ROWS(tests, n, test_hex, hex_rows);
    UNIT_ADD(tests, n, test_hex_all_bytes);
    UNIT_ADD_ROWS(tests, n, test_hmac, hmac_rows);
    UNIT_ADD(tests, n, test_crypto_equal);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
