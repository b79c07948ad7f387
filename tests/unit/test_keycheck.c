/* test_keycheck.c - unit tests of addr_key_check() (lib/addr.c), the
 * validation of addresses people type into the CLI and web page, and of
 * json_string() (admin/json.c).  One row a case. */
#include "unit.h"
#include "addr.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D60 "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define I10 "\xc4\xb0\xc4\xb0\xc4\xb0\xc4\xb0\xc4\xb0\xc4\xb0\xc4\xb0\xc4\xb0\xc4\xb0\xc4\xb0"
#define D86I I10 I10 I10 I10 I10 I10 I10 I10 "\xc4\xb0\xc4\xb0\xc4\xb0\xc4\xb0\xc4\xb0\xc4\xb0"

struct key_row {
    const char *name;
    const char *in;
    int allow_null;
    int rc;
    enum addr_key_kind kind;
    const char *out;        /* stored form, or a word the error must contain */
};

static struct key_row key_rows[] = {
    {"address folded", "Kid@Family.TEST", 0, 0, AK_ADDRESS, "kid@family.test"},
    {"address in <>", "<kid@family.test>", 0, 0, AK_ADDRESS, "kid@family.test"},
    {"address with +ext kept", "kid+x@family.test", 0, 0, AK_ADDRESS, "kid+x@family.test"},
    {"user@ key", "Vague@", 0, 0, AK_USER, "vague@"},
    {"domain key", "Example.COM", 0, 0, AK_DOMAIN, "example.com"},
    {"domain key, trailing dot", "example.com.", 0, 0, AK_DOMAIN, "example.com"},
    {"null sender allowed", "<>", 1, 0, AK_NULL, "<>"},
    {"null sender refused", "<>", 0, -1, AK_NULL, "null sender"},
    {"local part of 64 bytes", L64 "@x.org", 0, 0, AK_ADDRESS, L64 "@x.org"},
    {"local part of 65 bytes", L64 "a@x.org", 0, -1, AK_ADDRESS, "64"},
    {"user@ of 65 bytes", L64 "a@", 0, -1, AK_USER, "64"},
    {"address of 255 bytes", "a@" D60 "." D60 "." D60 "." D60 ".dddddddd.org", 0, -1, AK_ADDRESS, "254"},
    {"control character", "a\001b@example.com", 0, -1, AK_ADDRESS, "control"},
    /* Found by fuzz_addr: 86 x U+0130 folds from 172 to 258 bytes; the
     * error must say so (it was left unset, and printed). */
    {"domain key longer once lower-cased", D86I, 0, -1, AK_DOMAIN, "lower-cased"},
    {"newline", "a@example.com\nX", 0, -1, AK_ADDRESS, "control"},
    {"invalid UTF-8", "a\xff@example.com", 0, -1, AK_ADDRESS, "UTF-8"},
    {"empty", "", 0, -1, AK_ADDRESS, "empty"},
    {"blanks", "   ", 0, -1, AK_ADDRESS, "empty"},
    {"empty local part", "@example.com", 0, -1, AK_ADDRESS, "local"},
    {"two @", "user@@example.com", 0, -1, AK_ADDRESS, "@"},
    {"empty domain label", "a@b..c", 0, -1, AK_ADDRESS, "label"},
    {"space inside", "a b@example.com", 0, -1, AK_ADDRESS, "space"},
    {"bad domain character", "exa$mple.com", 0, -1, AK_DOMAIN, "character"},
    {"address literal as a key", "[192.0.2.1]", 0, -1, AK_DOMAIN, "literal"},
    {"just @", "@", 0, -1, AK_USER, "local"},
};

static void test_key(void **state)
{
    const struct key_row *row = *state;
    char out[ADDR_MAX + 2] = "", err[200] = "";
    enum addr_key_kind kind = AK_ADDRESS;
    int rc = addr_key_check(row->in, row->allow_null, out, sizeof(out), &kind, err, sizeof(err));

    if (rc != row->rc)
        fail_msg("rc %d, want %d (out \"%s\", err \"%s\")", rc, row->rc, out, err);
    if (rc == 0) {
        assert_string_equal(out, row->out);
        assert_int_equal(kind, row->kind);
    } else if (!strstr(err, row->out)) {
        fail_msg("error \"%s\" does not mention \"%s\"", err, row->out);
    }
}

struct json_row {
    const char *name;
    const char *in;
    const char *out;
};

static struct json_row json_rows[] = {
    {"json: plain", "kid@family.test", "\"kid@family.test\""},
    {"json: NULL is null", NULL, "null"},
    {"json: quote and backslash", "a\"b\\c", "\"a\\\"b\\\\c\""},
    {"json: control characters escaped", "a\nb\tc\001d", "\"a\\nb\\tc\\u0001d\""},
    {"json: UTF-8 kept", "k\xc3\xaf" "d", "\"k\xc3\xaf" "d\""},
    {"json: invalid UTF-8 escaped", "a\xff", "\"a\\u00ff\""},
};

static void test_json(void **state)
{
    const struct json_row *row = *state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    json_string(f, row->in);
    fclose(f);
    assert_string_equal(buf, row->out);
    free(buf);
}

static struct CMUnitTest tests[UNIT_LEN(key_rows) + UNIT_LEN(json_rows)];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_key, key_rows);
    UNIT_ADD_ROWS(tests, n, test_json, json_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
