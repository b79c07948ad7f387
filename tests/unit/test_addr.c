/* test_addr.c - unit tests of lib/addr.c: envelope address parsing and
 * normalisation, the access(5) lookup key order of DESIGN.md "Matching",
 * table key normalisation and UTF-8 validation.  One row a case. */
#include "unit.h"
#include "addr.h"

#define NOCHECK ((size_t)-1)

/* ---- addr_parse + addr_format: accepted inputs ---- */

struct parse_row {
    const char *name;
    const char *in;
    const char *delims;
    int is_null;
    const char *local;
    const char *domain;
    size_t base_len;        /* NOCHECK: not checked */
    const char *full;       /* addr_format(base=0), NULL: not checked */
    const char *base;       /* addr_format(base=1), NULL: not checked */
};

#define X16 "xxxxxxxxxxxxxxxx"
#define X63 X16 X16 X16 "xxxxxxxxxxxxxxx"
#define X64 X16 X16 X16 X16

static struct parse_row parse_rows[] = {
    {"parse: case folding", "Kid@Family.TEST", "+", 0,
     "kid", "family.test", 3, "kid@family.test", "kid@family.test"},
    {"parse: case folding of Z, the last letter (Zed@ is zed@)", "Zed@Zulu.EXAMPLE", "+", 0,
     "zed", "zulu.example", 3, "zed@zulu.example", "zed@zulu.example"},
    {"parse: ASCII folding: every letter A..Z, and the bytes beside them kept",
     "ABCDEFGHIJKLMNOPQRSTUVWXYZ[`{?@AZ.EXAMPLE", "+", 0,
     "abcdefghijklmnopqrstuvwxyz[`{?", "az.example", 30, "abcdefghijklmnopqrstuvwxyz[`{?@az.example", NULL},
    {"parse: non-ASCII case folding (SMTPUTF8)", "K\xc3\x8f" "D@EX\xc3\x84MPLE.ORG", "+", 0,
     "k\xc3\xaf" "d", "ex\xc3\xa4mple.org", 4, "k\xc3\xaf" "d@ex\xc3\xa4mple.org", NULL},
    {"parse: full case folding: U+0130 to i + U+0307, as Postfix (ICU) folds", "\xc4\xb0" "nes@example.org", "+", 0,
     "i\xcc\x87" "nes", "example.org", 6, "i\xcc\x87" "nes@example.org", NULL},
    {"parse: full case folding: long s U+017F is s", "\xc5\xbf" "am@family.test", "+", 0,
     "sam", "family.test", 3, "sam@family.test", NULL},
    {"parse: full case folding: sharp s is ss", "Stra\xc3\x9f" "e@example.de", "+", 0,
     "strasse", "example.de", 7, "strasse@example.de", NULL},
    {"parse: full case folding: the fi ligature is fi", "\xef\xac\x81" "x@example.org", "+", 0,
     "fix", "example.org", 3, "fix@example.org", NULL},
    /* ICU full case folding (CaseFolding.txt C+F, as Postfix casefold()) where it differs
     * from towlower() or from simple lower-casing; expected bytes from the Unicode tables. */
    {"parse: ICU fold: MICRO SIGN U+00B5 is Greek mu", "\x6b\xc2\xb5\x64" "@family.test", "+", 0,
     "\x6b\xce\xbc\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: final sigma U+03C2 is sigma", "\x6b\xcf\x82\x64" "@family.test", "+", 0,
     "\x6b\xcf\x83\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: beta symbol U+03D0", "\x6b\xcf\x90\x64" "@family.test", "+", 0,
     "\x6b\xce\xb2\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: theta symbol U+03D1", "\x6b\xcf\x91\x64" "@family.test", "+", 0,
     "\x6b\xce\xb8\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: phi symbol U+03D5", "\x6b\xcf\x95\x64" "@family.test", "+", 0,
     "\x6b\xcf\x86\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: pi symbol U+03D6", "\x6b\xcf\x96\x64" "@family.test", "+", 0,
     "\x6b\xcf\x80\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: kappa symbol U+03F0", "\x6b\xcf\xb0\x64" "@family.test", "+", 0,
     "\x6b\xce\xba\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: rho symbol U+03F1", "\x6b\xcf\xb1\x64" "@family.test", "+", 0,
     "\x6b\xcf\x81\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: lunate epsilon U+03F5", "\x6b\xcf\xb5\x64" "@family.test", "+", 0,
     "\x6b\xce\xb5\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: combining ypogegrammeni U+0345 is iota", "\x6b\xcd\x85\x64" "@family.test", "+", 0,
     "\x6b\xce\xb9\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: prosgegrammeni U+1FBE is iota", "\x6b\xe1\xbe\xbe\x64" "@family.test", "+", 0,
     "\x6b\xce\xb9\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: Cherokee small letter U+AB70 folds to capital U+13A0", "\x6b\xea\xad\xb0\x64" "@family.test", "+", 0,
     "\x6b\xe1\x8e\xa0\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: Cherokee small ye U+13F8 folds to U+13F0", "\x6b\xe1\x8f\xb8\x64" "@family.test", "+", 0,
     "\x6b\xe1\x8f\xb0\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: Cherokee capital U+13A0 stays", "\x6b\xe1\x8e\xa0\x64" "@family.test", "+", 0,
     "\x6b\xe1\x8e\xa0\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: capital sharp s U+1E9E is ss", "\x6b\xe1\xba\x9e\x64" "@family.test", "+", 0,
     "\x6b\x73\x73\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: sharp s U+00DF is ss", "\x6b\xc3\x9f\x64" "@family.test", "+", 0,
     "\x6b\x73\x73\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: Greek capital sigma U+03A3 is sigma", "\x6b\xce\xa3\x64" "@family.test", "+", 0,
     "\x6b\xcf\x83\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: Kelvin sign U+212A is k", "\x6b\xe2\x84\xaa\x64" "@family.test", "+", 0,
     "\x6b\x6b\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: angstrom sign U+212B is a-ring", "\x6b\xe2\x84\xab\x64" "@family.test", "+", 0,
     "\x6b\xc3\xa5\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: ICU fold: ohm sign U+2126 is omega", "\x6b\xe2\x84\xa6\x64" "@family.test", "+", 0,
     "\x6b\xcf\x89\x64", "family.test", NOCHECK, NULL, NULL},
    {"parse: surrounding <> removed", "<Kid@Family.TEST>", "+", 0,
     "kid", "family.test", 3, "kid@family.test", "kid@family.test"},
    {"parse: +ext with delimiter +", "User+Ext@Example.COM", "+", 0,
     "user+ext", "example.com", 4, "user+ext@example.com", "user@example.com"},
    {"parse: +ext with delimiters +-", "user+ext@example.com", "+-", 0,
     "user+ext", "example.com", 4, "user+ext@example.com", "user@example.com"},
    {"parse: -ext with delimiters +-", "user-ext@example.com", "+-", 0,
     "user-ext", "example.com", 4, "user-ext@example.com", "user@example.com"},
    {"parse: - is no delimiter when delims is +", "user-ext@example.com", "+", 0,
     "user-ext", "example.com", 8, "user-ext@example.com", "user-ext@example.com"},
    {"parse: first delimiter of the set splits", "a-b+c@example.com", "+-", 0,
     "a-b+c", "example.com", 1, "a-b+c@example.com", "a@example.com"},
    {"parse: no delimiter configured", "user+ext@example.com", "", 0,
     "user+ext", "example.com", 8, "user+ext@example.com", "user+ext@example.com"},
    {"parse: leading delimiter is not an extension", "+ext@example.com", "+", 0,
     "+ext", "example.com", 4, "+ext@example.com", "+ext@example.com"},
    {"parse: a domain label of 63 bytes, the most DNS allows", "a@" X63 ".example", "+", 0,
     "a", X63 ".example", 1, "a@" X63 ".example", NULL},
    {"parse: null sender <>", "<>", "+", 1, "", "", NOCHECK, "<>", "<>"},
    {"parse: null sender empty string", "", "+", 1, "", "", NOCHECK, "<>", "<>"},
    {"parse: blanks inside <> are the null sender", "< >", "+", 1, "", "", NOCHECK, "<>", "<>"},
    {"parse: quoted local part with space", "\"John Doe\"@Example.com", "+", 0,
     "john doe", "example.com", 8, NULL, NULL},
    {"parse: quoted local part with escaped quote", "\"a\\\"b\"@x.org", "+", 0,
     "a\"b", "x.org", 3, NULL, NULL},
    {"parse: quoted local part inside <>", "<\"john doe\"@example.com>", "+", 0,
     "john doe", "example.com", 8, NULL, NULL},
    {"parse: trailing dot in domain removed", "user@Example.COM.", "+", 0,
     "user", "example.com", 4, "user@example.com", "user@example.com"},
    {"parse: address literal", "user@[192.0.2.1]", "+", 0,
     "user", "[192.0.2.1]", 4, "user@[192.0.2.1]", "user@[192.0.2.1]"},
    {"parse: UTF-8 local part kept", "jos\xc3\xa9@example.com", "+", 0,
     "jos\xc3\xa9", "example.com", 5, "jos\xc3\xa9@example.com", "jos\xc3\xa9@example.com"},
    {"parse: address without domain", "Postmaster", "+", 0,
     "postmaster", "", 10, NULL, NULL},
};

static void test_parse(void **state)
{
    const struct parse_row *row = *state;
    struct addr a;
    char err[256] = "";
    char out[ADDR_MAX + 2];

    memset(&a, 0x5a, sizeof a);
    if (addr_parse(row->in, row->delims, &a, err, sizeof err) != 0)
        fail_msg("addr_parse refused a valid address: %s", err);
    assert_int_equal(a.is_null, row->is_null);
    if (!row->is_null) {
        assert_string_equal(a.local, row->local);
        assert_string_equal(a.domain, row->domain);
    }
    if (row->base_len != NOCHECK)
        assert_int_equal(a.base_len, row->base_len);
    if (row->full) {
        assert_int_equal(addr_format(&a, 0, out, sizeof out), 0);
        assert_string_equal(out, row->full);
    }
    if (row->base) {
        assert_int_equal(addr_format(&a, 1, out, sizeof out), 0);
        assert_string_equal(out, row->base);
    }
}

/* ---- addr_parse: refused inputs ---- */

struct reject_row {
    const char *name;
    const char *in;
};

static struct reject_row reject_rows[] = {
    {"reject: CR", "a\r@example.com"},
    /* Found by fuzz_addr: table keys are trimmed, so a rule for it would
     * name another address. */
    {"reject: quoted local part beginning with a space", "\" lead\"@example.com"},
    {"reject: LF", "a@example.com\n"},
    {"reject: TAB", "a\t@example.com"},
    {"reject: DEL 0x7f", "a\x7f@example.com"},
    {"reject: other control char 0x01", "a\x01" "b@example.com"},
    {"reject: control char inside quotes", "\"a\rb\"@example.com"},
    {"reject: overlong UTF-8 C0 80", "\xc0\x80@example.com"},
    {"reject: lone continuation byte 0x80", "a\x80@example.com"},
    {"reject: UTF-8 surrogate ED A0 80", "\xed\xa0\x80@example.com"},
    {"reject: truncated UTF-8 sequence", "a\xe2\x82@example.com"},
    {"reject: invalid UTF-8 in domain", "a@ex\xffmple.com"},
    {"reject: empty local part", "@example.com"},
    {"reject: empty local part inside <>", "<@example.com>"},
    {"reject: empty domain label", "a@b..c"},
    {"reject: leading empty domain label", "a@.example.com"},
    {"reject: a domain label of 64 bytes", "a@" X64 ".example"},
    {"reject: unbalanced quote", "\"john doe@example.com"},
};

static void test_reject(void **state)
{
    const struct reject_row *row = *state;
    struct addr a;
    char err[256] = "";

    assert_int_equal(addr_parse(row->in, "+", &a, err, sizeof err), -1);
    assert_true(err[0] != '\0');
}

/* ---- length bound: ADDR_MAX bytes of normalised address ---- */

/* Writes "a@" and a domain of DOMLEN bytes of one-letter labels into BUF. */
static void make_long_addr(char *buf, size_t domlen)
{
    size_t i = 0;

    buf[i++] = 'a';
    buf[i++] = '@';
    if (domlen % 2 == 0) {          /* one two-letter label keeps the length even */
        buf[i++] = 'b';
        domlen--;
    }
    for (size_t j = 0; j < domlen; j++)
        buf[i++] = (j % 2 == 0) ? 'b' : '.';
    buf[i] = '\0';
}

struct length_row {
    const char *name;
    size_t domlen;      /* the address is 2 + domlen bytes */
    int angle;          /* wrap in <> */
    int ok;
};

static struct length_row length_rows[] = {
    {"length: 255 bytes accepted", 253, 0, 1},
    {"length: 255 bytes inside <> accepted", 253, 1, 1},
    {"length: 256 bytes refused", 254, 0, 0},
    {"length: 256 bytes inside <> refused", 254, 1, 0},
    {"length: 400 bytes refused", 398, 0, 0},
};

static void test_length(void **state)
{
    const struct length_row *row = *state;
    char raw[512], in[520];
    struct addr a;
    char err[256] = "";

    make_long_addr(raw, row->domlen);
    assert_int_equal(strlen(raw), row->domlen + 2);
    snprintf(in, sizeof in, row->angle ? "<%s>" : "%s", raw);
    if (row->ok) {
        if (addr_parse(in, "+", &a, err, sizeof err) != 0)
            fail_msg("refused %zu-byte address: %s", strlen(raw), err);
        assert_string_equal(a.local, "a");
        assert_string_equal(a.domain, raw + 2);
    } else {
        assert_int_equal(addr_parse(in, "+", &a, err, sizeof err), -1);
        assert_true(err[0] != '\0');
    }
}

/* ---- addr_format: no silent truncation ---- */

struct format_row {
    const char *name;
    const char *in;
    int base;
    size_t outlen;
    int rc;
    const char *out;
};

static struct format_row format_rows[] = {
    {"format: exact fit", "user+ext@example.com", 0, 21, 0, "user+ext@example.com"},
    {"format: one byte short is an error", "user+ext@example.com", 0, 20, -1, NULL},
    {"format: base exact fit", "user+ext@example.com", 1, 17, 0, "user@example.com"},
    {"format: base one byte short is an error", "user+ext@example.com", 1, 16, -1, NULL},
    {"format: null sender", "<>", 0, 3, 0, "<>"},
    {"format: null sender too short", "<>", 0, 2, -1, NULL},
};

static void test_format(void **state)
{
    const struct format_row *row = *state;
    struct addr a;
    char err[256] = "";
    char out[64];

    assert_int_equal(addr_parse(row->in, "+", &a, err, sizeof err), 0);
    assert_int_equal(addr_format(&a, row->base, out, row->outlen), row->rc);
    if (row->rc == 0)
        assert_string_equal(out, row->out);
}

/* ---- addr_keys: the access(5) order of DESIGN.md "Matching" ---- */

struct keys_row {
    const char *name;
    const char *in;
    const char *delims;
    size_t n;
    const char *keys[8];
};

static struct keys_row keys_rows[] = {
    {"keys: user+ext@sub.example.com", "user+ext@sub.example.com", "+", 7,
     {"user+ext@sub.example.com", "user@sub.example.com", "sub.example.com",
      "example.com", "com", "user+ext@", "user@"}},
    {"keys: no extension has no duplicates", "user@example.com", "+", 4,
     {"user@example.com", "example.com", "com", "user@"}},
    {"keys: upper case and <> folded", "<Kid-Tag@Family.TEST>", "+-", 6,
     {"kid-tag@family.test", "kid@family.test", "family.test", "test", "kid-tag@", "kid@"}},
    {"keys: no delimiter configured", "user+ext@example.com", "", 4,
     {"user+ext@example.com", "example.com", "com", "user+ext@"}},
    {"keys: leading delimiter is not split", "+ext@example.com", "+", 4,
     {"+ext@example.com", "example.com", "com", "+ext@"}},
    {"keys: trailing dot removed", "user@example.com.", "+", 4,
     {"user@example.com", "example.com", "com", "user@"}},
    {"keys: null sender <>", "<>", "+", 1, {"<>"}},
    {"keys: null sender empty", "", "+", 1, {"<>"}},
};

static void test_keys(void **state)
{
    const struct keys_row *row = *state;
    struct addr a;
    struct addr_keys k;
    char err[256] = "";

    assert_int_equal(addr_parse(row->in, row->delims, &a, err, sizeof err), 0);
    addr_keys(&a, &k);
    for (size_t i = 0; i < k.n && i < row->n; i++)
        assert_string_equal(k.key[i], row->keys[i]);
    assert_int_equal(k.n, row->n);
}

/* An address literal has no parent domains: no key may be a fragment of it. */
static void test_keys_address_literal(void **state)
{
    struct addr a;
    struct addr_keys k;
    char err[256] = "";
    int seen_literal = 0;

    (void)state;
    assert_int_equal(addr_parse("user@[192.0.2.1]", "+", &a, err, sizeof err), 0);
    addr_keys(&a, &k);
    assert_true(k.n >= 3);
    assert_string_equal(k.key[0], "user@[192.0.2.1]");
    assert_string_equal(k.key[k.n - 1], "user@");
    for (size_t i = 0; i < k.n; i++) {
        size_t len = strlen(k.key[i]);
        if (strcmp(k.key[i], "[192.0.2.1]") == 0)
            seen_literal = 1;
        if (len > 0 && k.key[i][len - 1] == ']' && strchr(k.key[i], '[') == NULL)
            fail_msg("key %zu \"%s\" is a fragment of the address literal", i, k.key[i]);
    }
    assert_true(seen_literal);
}

/* Many labels: every parent domain is a key, and the user@ forms come last. */
struct labels_row {
    const char *name;
    size_t labels;
};

static struct labels_row labels_rows[] = {
    {"keys: 100-label domain yields every parent domain", 100},
    {"keys: 125-label domain (255 bytes) yields every parent domain", 125},
};

static void test_keys_labels(void **state)
{
    const struct labels_row *row = *state;
    char in[ADDR_MAX + 64];
    const char *domain;
    struct addr a;
    struct addr_keys k;
    char err[256] = "";
    size_t i = 0;

    /* user+ext@ then labels a.b.c...; the 125-label form is 4 + 249 + 2 = 255 bytes */
    i += (size_t)snprintf(in, sizeof in, "%s", row->labels == 125 ? "u+x@" : "user+ext@");
    for (size_t l = 0; l < row->labels; l++) {
        if (l > 0)
            in[i++] = '.';
        in[i++] = (char)('a' + l % 26);
    }
    if (row->labels == 125)         /* pad the last label to reach exactly 255 bytes */
        in[i++] = 'z', in[i++] = 'z';
    in[i] = '\0';
    assert_true(strlen(in) <= ADDR_MAX);
    domain = strchr(in, '@') + 1;

    if (addr_parse(in, "+", &a, err, sizeof err) != 0)
        fail_msg("refused %zu-byte address: %s", strlen(in), err);
    addr_keys(&a, &k);
    assert_int_equal(k.n, 2 + row->labels + 2);
    assert_string_equal(k.key[0], in);
    /* key 1 is the base form: local part without +ext */
    assert_true(strchr(k.key[1], '+') == NULL);
    assert_string_equal(strchr(k.key[1], '@') + 1, domain);
    /* keys 2 .. 2+labels-1: the domain, then each parent */
    const char *d = domain;
    for (size_t l = 0; l < row->labels; l++) {
        assert_string_equal(k.key[2 + l], d);
        d = strchr(d, '.') ? strchr(d, '.') + 1 : "";
    }
    assert_string_equal(k.key[k.n - 1], row->labels == 125 ? "u@" : "user@");
    assert_string_equal(k.key[k.n - 2], row->labels == 125 ? "u+x@" : "user+ext@");
}

/* ---- addr_key_normalize ---- */

struct norm_row {
    const char *name;
    const char *in;
    size_t outlen;      /* 0: the whole buffer */
    int rc;
    const char *out;
};

static struct norm_row norm_rows[] = {
    {"normalize: trim, <> and case", "  <User@Example.COM>  ", 0, 0, "user@example.com"},
    {"normalize: user@ key", "Vague@", 0, 0, "vague@"},
    {"normalize: domain key", "Example.COM", 0, 0, "example.com"},
    {"normalize: null sender key <> kept", "<>", 0, 0, "<>"},
    {"normalize: empty", "", 0, -1, NULL},
    {"normalize: blanks only", "   ", 0, -1, NULL},
    {"normalize: control character", "a\nb@example.com", 0, -1, NULL},
    {"normalize: exact fit", "User@Example.COM", 17, 0, "user@example.com"},
    {"normalize: one byte short is an error", "User@Example.COM", 16, -1, NULL},
    /* Found by fuzz_addr: a normalised key is its own normal form. */
    {"normalize: blanks inside <> trimmed", "< A@B.example >", 0, 0, "a@b.example"},
    {"normalize: blanks only inside <> is no key", "<  >", 0, -1, NULL},
    {"normalize: nested <<a>> is no key", "< <a@b.example> >", 0, -1, NULL},
};

static void test_normalize(void **state)
{
    const struct norm_row *row = *state;
    char out[ADDR_MAX + 2];

    assert_int_equal(addr_key_normalize(row->in, out, row->outlen ? row->outlen : sizeof out),
                     row->rc);
    if (row->rc == 0)
        assert_string_equal(out, row->out);
}

static void test_normalize_too_long(void **state)
{
    char in[400], out[1024];

    (void)state;
    memset(in, 'a', sizeof in - 1);
    in[sizeof in - 1] = '\0';
    in[10] = '@';
    /* a 399-byte key cannot be a table key (ADDR_MAX) even when OUT is large */
    assert_int_equal(addr_key_normalize(in, out, sizeof out), -1);
}

/* ---- addr_utf8_valid ---- */

struct utf8_row {
    const char *name;
    const char *s;
    size_t len;
    int valid;
};

static struct utf8_row utf8_rows[] = {
    {"utf8: empty", "", 0, 1},
    {"utf8: ASCII", "hello", 5, 1},
    {"utf8: 2-byte e acute", "\xc3\xa9", 2, 1},
    {"utf8: 3-byte euro sign", "\xe2\x82\xac", 3, 1},
    {"utf8: 4-byte emoji", "\xf0\x9f\x98\x80", 4, 1},
    {"utf8: U+10FFFF", "\xf4\x8f\xbf\xbf", 4, 1},
    {"utf8: mixed", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, 1},
    {"utf8: overlong C0 80", "\xc0\x80", 2, 0},
    {"utf8: overlong C1 BF", "\xc1\xbf", 2, 0},
    {"utf8: overlong 3-byte E0 80 80", "\xe0\x80\x80", 3, 0},
    {"utf8: overlong 4-byte F0 80 80 80", "\xf0\x80\x80\x80", 4, 0},
    {"utf8: lone continuation 80", "\x80", 1, 0},
    {"utf8: surrogate ED A0 80", "\xed\xa0\x80", 3, 0},
    {"utf8: surrogate ED BF BF", "\xed\xbf\xbf", 3, 0},
    {"utf8: above U+10FFFF", "\xf4\x90\x80\x80", 4, 0},
    {"utf8: F5 lead byte", "\xf5\x80\x80\x80", 4, 0},
    {"utf8: FF byte", "\xff", 1, 0},
    {"utf8: truncated 2-byte", "\xc3", 1, 0},
    {"utf8: truncated 3-byte", "\xe2\x82", 2, 0},
    {"utf8: truncated 4-byte", "\xf0\x9f\x98", 3, 0},
    {"utf8: truncated by len", "\xe2\x82\xac", 2, 0},
    {"utf8: bad continuation", "\xe2\x28\xac", 3, 0},
};

static void test_utf8(void **state)
{
    const struct utf8_row *row = *state;

    assert_int_equal(addr_utf8_valid(row->s, row->len), row->valid);
}

static struct CMUnitTest tests[UNIT_LEN(parse_rows) + UNIT_LEN(reject_rows) +
                               UNIT_LEN(length_rows) + UNIT_LEN(format_rows) +
                               UNIT_LEN(keys_rows) + 1 + UNIT_LEN(labels_rows) +
                               UNIT_LEN(norm_rows) + 1 + UNIT_LEN(utf8_rows)];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_parse, parse_rows);
    UNIT_ADD_ROWS(tests, n, test_reject, reject_rows);
    UNIT_ADD_ROWS(tests, n, test_length, length_rows);
    UNIT_ADD_ROWS(tests, n, test_format, format_rows);
    UNIT_ADD_ROWS(tests, n, test_keys, keys_rows);
    UNIT_ADD(tests, n, test_keys_address_literal);
    UNIT_ADD_ROWS(tests, n, test_keys_labels, labels_rows);
    UNIT_ADD_ROWS(tests, n, test_normalize, norm_rows);
    UNIT_ADD(tests, n, test_normalize_too_long);
    UNIT_ADD_ROWS(tests, n, test_utf8, utf8_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
