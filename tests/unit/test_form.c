/* test_form.c - unit tests of lib/form.c (strict application/x-www-form-
 * urlencoded parsing for the approval CGI) and of token_valid() in
 * lib/token.c (the shape of the "t" value the CGI accepts).
 * One row a case.
 *
 * Every refused row also checks that ERR was set and that it does not echo
 * the raw value of any field (an attacker's bytes must not reach a page or a
 * log through the error text). */
#include "unit.h"
#include "form.h"
#include "token.h"

/* ---- allowed field lists ---- */

enum allowed_list { AL_TC, AL_T, AL_NINE, AL_LONG };

static const char *const allowed_tc[] = {"t", "choice", NULL};
static const char *const allowed_t[] = {"t", NULL};
static const char *const allowed_nine[] = {"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8",
                                           NULL};
/* 31 and 32 'n': the first fits a name (31 bytes + NUL), the second does not. */
#define NAME31 "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
#define NAME32 NAME31 "n"
static const char *const allowed_long[] = {"t", NAME31, NAME32, NULL};

static const char *const *allowed_of(enum allowed_list a)
{
    switch (a) {
    case AL_T:
        return allowed_t;
    case AL_NINE:
        return allowed_nine;
    case AL_LONG:
        return allowed_long;
    case AL_TC:
    default:
        return allowed_tc;
    }
}

/* Fails if ERR repeats the raw value of any field of IN (LEN bytes): the
 * whole value or its first 8 bytes, for values of at least 2 bytes. */
static void assert_err_clean(const char *err, const char *in, size_t len)
{
    const char *p = in, *end = in + len;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *fe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(fe - p));

        if (eq) {
            char v[2048];
            size_t vl = (size_t)(fe - eq - 1);

            if (vl >= sizeof v)
                vl = sizeof v - 1;
            memcpy(v, eq + 1, vl);
            v[vl] = '\0';
            if (strlen(v) >= 2 && strstr(err, v))
                fail_msg("error \"%s\" contains the raw value \"%s\"", err, v);
            if (strlen(v) > 8) {
                v[8] = '\0';
                if (strstr(err, v))
                    fail_msg("error \"%s\" contains the start of a raw value \"%s\"", err, v);
            }
        }
        p = amp ? amp + 1 : end;
    }
}

/* ---- form_parse: literal inputs ---- */

struct form_row {
    const char *name;
    const char *in;
    size_t len;                 /* 0: strlen(in) */
    enum allowed_list allowed;
    int rc;
    int n;                      /* fields expected on success */
    const char *k1, *v1;        /* expected name/value pairs (NULL: none) */
    const char *k2, *v2;
    const char *absent;         /* a name form_get must not find (NULL: none) */
    const char *err;            /* a substring the error must contain (NULL: any) */
    const char *secret;         /* must not appear in the error (NULL: none) */
};

#define OK1(nm, in, k, v) {nm, in, 0, AL_TC, 0, 1, k, v, NULL, NULL, "choice", NULL, NULL}
#define OK2(nm, in, k1, v1, k2, v2) {nm, in, 0, AL_TC, 0, 2, k1, v1, k2, v2, "x", NULL, NULL}
#define OK0(nm, in) {nm, in, 0, AL_TC, 0, 0, NULL, NULL, NULL, NULL, "t", NULL, NULL}
#define BAD(nm, in, err) {nm, in, 0, AL_TC, -1, 0, NULL, NULL, NULL, NULL, NULL, err, NULL}
#define BADS(nm, in, err, sec) {nm, in, 0, AL_TC, -1, 0, NULL, NULL, NULL, NULL, NULL, err, sec}
#define BADLEN(nm, in, len, err) {nm, in, len, AL_TC, -1, 0, NULL, NULL, NULL, NULL, NULL, err, NULL}

static struct form_row form_rows[] = {
    /* accepted shapes */
    OK1("ok: t=abc", "t=abc", "t", "abc"),
    OK2("ok: t=abc&choice=allow", "t=abc&choice=allow", "t", "abc", "choice", "allow"),
    OK2("ok: choice=allow&t=abc (any order)", "choice=allow&t=abc", "t", "abc", "choice",
        "allow"),
    OK0("ok: empty input has 0 fields", ""),
    OK1("ok: t= is an empty value", "t=", "t", ""),
    OK2("ok: t=&choice= two empty values", "t=&choice=", "t", "", "choice", ""),
    OK1("ok: '=' inside a value is kept (t=a=b)", "t=a=b", "t", "a=b"),
    /* decoding */
    OK1("decode: t=a+b is \"a b\"", "t=a+b", "t", "a b"),
    OK1("decode: t=+ is one space", "t=+", "t", " "),
    OK1("decode: t=%41 is \"A\"", "t=%41", "t", "A"),
    OK1("decode: lowercase hex %4a is \"J\"", "t=%4a", "t", "J"),
    OK1("decode: uppercase hex %4A is \"J\"", "t=%4A", "t", "J"),
    OK1("decode: mixed case %c3%A9 is e-acute", "t=%c3%A9", "t", "\xc3\xa9"),
    OK1("decode: %2b is a literal '+'", "t=a%2bb", "t", "a+b"),
    OK1("decode: %26 is a literal '&', not a separator", "t=a%26choice%3dx", "t", "a&choice=x"),
    OK1("decode: %20 is a space", "t=a%20b", "t", "a b"),
    OK1("decode: %25 is a literal '%'", "t=100%25", "t", "100%"),
    /* escapes */
    BAD("escape: t=%4 (truncated) refused", "t=%4", "%-escape"),
    BAD("escape: t=% (bare) refused", "t=%", "%-escape"),
    BAD("escape: t=%zz refused", "t=%zz", "%-escape"),
    BAD("escape: t=%g1 refused", "t=%g1", "%-escape"),
    BAD("escape: t=%1g refused", "t=%1g", "%-escape"),
    BAD("escape: t=%%41 refused", "t=%%41", "%-escape"),
    BAD("escape: t=%+1 (sign is not hex) refused", "t=%+1", "%-escape"),
    BAD("escape: truncated before '&' (t=%4&choice=allow) refused", "t=%4&choice=allow",
        "%-escape"),
    BADLEN("escape: cut by LEN (\"t=%41\" with len 4) refused", "t=%41", 4, "%-escape"),
    /* control characters */
    BAD("control: t=%00 (NUL) refused", "t=%00", "control"),
    BAD("control: t=a%00b (NUL inside) refused", "t=a%00b", "control"),
    BAD("control: t=%0a (newline) refused", "t=%0a", "control"),
    BAD("control: t=%0d (CR) refused", "t=%0d", "control"),
    BAD("control: t=%09 (tab) refused", "t=%09", "control"),
    BAD("control: t=%1f refused", "t=%1f", "control"),
    BAD("control: t=%7f (DEL) refused", "t=%7f", "control"),
    BAD("control: raw tab in value refused", "t=a\tb", "control"),
    BAD("control: raw newline in value refused", "t=a\nb", "control"),
    BADLEN("control: raw NUL in value (len 5) refused", "t=a\0b", 5, "control"),
    /* UTF-8 */
    BAD("utf8: t=%ff refused", "t=%ff", "UTF-8"),
    BAD("utf8: lone continuation %80 refused", "t=%80", "UTF-8"),
    BAD("utf8: truncated sequence %c3 refused", "t=%c3", "UTF-8"),
    BAD("utf8: overlong '/' %c0%af refused", "t=%c0%af", "UTF-8"),
    BAD("utf8: overlong 3-byte %e0%80%af refused", "t=%e0%80%af", "UTF-8"),
    BAD("utf8: surrogate %ed%a0%80 refused", "t=%ed%a0%80", "UTF-8"),
    BAD("utf8: above U+10FFFF %f4%90%80%80 refused", "t=%f4%90%80%80", "UTF-8"),
    BAD("utf8: raw 0xff byte refused", "t=a\xff", "UTF-8"),
    OK1("utf8: t=%c3%a9 (e-acute) ok", "t=%c3%a9", "t", "\xc3\xa9"),
    OK1("utf8: euro sign %e2%82%ac ok", "t=%e2%82%ac", "t", "\xe2\x82\xac"),
    OK1("utf8: 4-byte %f0%9f%98%80 ok", "t=%f0%9f%98%80", "t", "\xf0\x9f\x98\x80"),
    OK1("utf8: raw (unescaped) e-acute ok", "t=\xc3\xa9", "t", "\xc3\xa9"),
    /* field names */
    BAD("name: unknown field x=1 refused", "x=1", "unexpected field"),
    BAD("name: unknown field after a good one refused", "t=abc&x=1", "unexpected field"),
    BAD("name: names are case-sensitive (T=1) refused", "T=1", "unexpected field"),
    BAD("name: \"t \" (trailing space) refused", "t =1", "unexpected field"),
    BAD("name: \"t+\" decodes to \"t \" and is refused", "t+=1", "unexpected field"),
    BAD("name: empty name (=1) refused", "=1", "unexpected field"),
    BAD("name: bare '=' refused", "=", "unexpected field"),
    OK1("name: %74=1 is decoded to t and accepted", "%74=1", "t", "1"),
    {"name: %63hoice=allow is decoded to choice and accepted", "%63hoice=allow", 0, AL_TC, 0, 1,
     "choice", "allow", NULL, NULL, "t", NULL, NULL},
    BAD("name: bad escape in a name (%zz=1) refused", "%zz=1", "%-escape"),
    BAD("name: truncated escape in a name (t%7=1) refused", "t%7=1", "%-escape"),
    /* Bug probes: a NUL inside a decoded name must not cut it short to an allowed one. */
    BAD("name: t%00x=1 (NUL in a decoded name) refused", "t%00x=1", NULL),
    BADLEN("name: raw NUL in a name (\"t\\0x=1\", len 5) refused", "t\0x=1", 5, NULL),
    /* repeats */
    BAD("repeat: t=1&t=2 refused", "t=1&t=2", "given twice"),
    BAD("repeat: t=1&t=1 (same value) refused", "t=1&t=1", "given twice"),
    BAD("repeat: t=1&%74=2 (escaped repeat) refused", "t=1&%74=2", "given twice"),
    BAD("repeat: t=&t= (empty values) refused", "t=&t=", "given twice"),
    /* structure */
    BAD("structure: \"t\" (no '=') refused", "t", "without '='"),
    BAD("structure: \"t&choice=allow\" refused", "t&choice=allow", "without '='"),
    BAD("structure: \"choice=allow&t\" refused", "choice=allow&t", "without '='"),
    BAD("structure: unknown name without '=' (x) refused", "x", NULL),
    OK2("structure: empty part t=1&&choice=allow accepted", "t=1&&choice=allow", "t", "1",
        "choice", "allow"),
    OK1("structure: &t=1& accepted", "&t=1&", "t", "1"),
    OK0("structure: \"&\" has 0 fields", "&"),
    OK0("structure: \"&&&\" has 0 fields", "&&&"),
    {"structure: LEN is honoured (only \"t=abc\" of \"t=abc&choice=allow\")", "t=abc&choice=allow",
     5, AL_TC, 0, 1, "t", "abc", NULL, NULL, "choice", NULL, NULL},
    {"structure: choice refused when only t is allowed", "t=abc&choice=allow", 0, AL_T, -1, 0,
     NULL, NULL, NULL, NULL, NULL, "unexpected field", NULL},
    /* error text never echoes the value */
    BADS("err: bad escape does not echo the value", "t=s3cr3tVALUE%zz", "%-escape", "s3cr3t"),
    BADS("err: control char does not echo the value", "t=s3cr3tVALUE%0a", "control", "s3cr3t"),
    BADS("err: invalid UTF-8 does not echo the value", "t=s3cr3tVALUE%ff", "UTF-8", "s3cr3t"),
    BADS("err: unknown field does not echo the value", "x=s3cr3tVALUE", "unexpected field",
         "s3cr3t"),
    BADS("err: repeated field does not echo either value", "t=s3cr3tONE&t=s3cr3tTWO",
         "given twice", "s3cr3t"),
    BADS("err: decoded value is not echoed either", "t=%73%33%63%72%33%74%0a", "control",
         "s3cr3t"),
};

static void check_pair(const struct form *f, const char *k, const char *v)
{
    const char *got;

    if (!k)
        return;
    got = form_get(f, k);
    if (!got)
        fail_msg("form_get(\"%s\") is NULL, expected \"%s\"", k, v);
    assert_string_equal(got, v);
}

static void test_form(void **state)
{
    const struct form_row *row = *state;
    size_t len = row->len ? row->len : strlen(row->in);
    struct form f;
    char err[256] = "";
    int rc;

    memset(&f, 0x5a, sizeof f);
    rc = form_parse(row->in, len, allowed_of(row->allowed), &f, err, sizeof err);
    if (rc != row->rc)
        fail_msg("form_parse returned %d, expected %d (err \"%s\")", rc, row->rc, err);
    if (rc != 0) {
        if (err[0] == '\0')
            fail_msg("form_parse failed without an error message");
        if (row->err)
            assert_contains(err, row->err);
        if (row->secret && strstr(err, row->secret))
            fail_msg("error \"%s\" contains \"%s\"", err, row->secret);
        assert_err_clean(err, row->in, len);
        return;
    }
    assert_int_equal(f.n, row->n);
    check_pair(&f, row->k1, row->v1);
    check_pair(&f, row->k2, row->v2);
    if (row->absent)
        assert_null(form_get(&f, row->absent));
}

/* ---- form_parse: generated inputs (lengths, field counts) ---- */

enum gen {
    G_VALUE,        /* "t=" + N 'A' */
    G_VALUE_ESC,    /* "t=" + N "%41" */
    G_VALUE_PLUS,   /* "t=" + N '+' (N spaces) */
    G_VALUE_UTF8,   /* "t=" + N 'A' + "%c3%a9" (N + 2 bytes) */
    G_NAME,         /* N 'n' + "=1" (allowed: t, 31 'n', 32 'n') */
    G_NAME_ESC,     /* N "%6e" + "=1" */
    G_FIELDS,       /* "f0=v&f1=v&..." N fields (allowed: f0..f8) */
    G_FIELDS_GAPS,  /* the same with "&&" between fields and around them */
};

struct gen_row {
    const char *name;
    enum gen gen;
    size_t count;
    int rc;
    const char *err;
};

static struct gen_row gen_rows[] = {
    {"length: value of FORM_VALUE_MAX (512) bytes accepted", G_VALUE, FORM_VALUE_MAX, 0, NULL},
    {"length: value of 513 bytes refused", G_VALUE, FORM_VALUE_MAX + 1, -1, "too long"},
    {"length: value of 5000 bytes refused", G_VALUE, 5000, -1, "too long"},
    {"length: 512-byte value as %41 escapes (1536 bytes) accepted", G_VALUE_ESC, FORM_VALUE_MAX,
     0, NULL},
    {"length: 513-byte value as %41 escapes refused", G_VALUE_ESC, FORM_VALUE_MAX + 1, -1,
     "too long"},
    {"length: 512 '+' decode to 512 spaces, accepted", G_VALUE_PLUS, FORM_VALUE_MAX, 0, NULL},
    {"length: 510 bytes + 2-byte UTF-8 = 512 accepted", G_VALUE_UTF8, FORM_VALUE_MAX - 2, 0,
     NULL},
    {"length: 511 bytes + 2-byte UTF-8 = 513 refused", G_VALUE_UTF8, FORM_VALUE_MAX - 1, -1,
     "too long"},
    {"length: allowed name of 31 bytes accepted", G_NAME, 31, 0, NULL},
    {"length: allowed name of 31 bytes as escapes accepted", G_NAME_ESC, 31, 0, NULL},
    {"length: name of 32 bytes refused (even if allowed)", G_NAME, 32, -1, "too long"},
    {"length: name of 32 bytes as escapes refused", G_NAME_ESC, 32, -1, "too long"},
    {"length: name of 200 bytes refused", G_NAME, 200, -1, "too long"},
    {"length: unknown name of 30 bytes is an unexpected field", G_NAME, 30, -1,
     "unexpected field"},
    {"fields: FORM_MAX_FIELDS (8) fields accepted", G_FIELDS, FORM_MAX_FIELDS, 0, NULL},
    {"fields: 9 fields refused", G_FIELDS, FORM_MAX_FIELDS + 1, -1, "too many fields"},
    {"fields: 8 fields with empty parts around accepted", G_FIELDS_GAPS, FORM_MAX_FIELDS, 0, NULL},
    {"fields: 9 fields with empty parts around refused", G_FIELDS_GAPS, FORM_MAX_FIELDS + 1, -1,
     "too many fields"},
};

/* Builds the input of ROW into BUF (SIZE bytes); returns its length. */
static size_t gen_input(const struct gen_row *row, char *buf, size_t size)
{
    size_t o = 0;

#define PUT(s) do { size_t l_ = strlen(s); assert_true(o + l_ < size); memcpy(buf + o, s, l_); o += l_; } while (0)
    switch (row->gen) {
    case G_VALUE:
    case G_VALUE_ESC:
    case G_VALUE_PLUS:
    case G_VALUE_UTF8:
        PUT("t=");
        for (size_t i = 0; i < row->count; i++)
            PUT(row->gen == G_VALUE_ESC ? "%41" : row->gen == G_VALUE_PLUS ? "+" : "A");
        if (row->gen == G_VALUE_UTF8)
            PUT("%c3%a9");
        break;
    case G_NAME:
    case G_NAME_ESC:
        for (size_t i = 0; i < row->count; i++)
            PUT(row->gen == G_NAME_ESC ? "%6e" : "n");
        PUT("=1");
        break;
    case G_FIELDS:
    case G_FIELDS_GAPS:
        if (row->gen == G_FIELDS_GAPS)
            PUT("&&");
        for (size_t i = 0; i < row->count; i++) {
            char part[64];
            snprintf(part, sizeof part, "%sf%zu=v%zu", i ? (row->gen == G_FIELDS_GAPS ? "&&" : "&")
                                                         : "", i, i);
            PUT(part);
        }
        if (row->gen == G_FIELDS_GAPS)
            PUT("&&");
        break;
    }
#undef PUT
    buf[o] = '\0';
    return o;
}

static void test_gen(void **state)
{
    const struct gen_row *row = *state;
    static char in[16384];
    char want[FORM_VALUE_MAX + 1];
    size_t len = gen_input(row, in, sizeof in);
    enum allowed_list al = row->gen == G_NAME || row->gen == G_NAME_ESC ? AL_LONG
                         : row->gen == G_FIELDS || row->gen == G_FIELDS_GAPS ? AL_NINE : AL_TC;
    struct form f;
    char err[256] = "";
    int rc;

    rc = form_parse(in, len, allowed_of(al), &f, err, sizeof err);
    if (rc != row->rc)
        fail_msg("form_parse returned %d, expected %d (err \"%s\", input %zu bytes)", rc, row->rc,
                 err, len);
    if (rc != 0) {
        if (err[0] == '\0')
            fail_msg("form_parse failed without an error message");
        if (row->err)
            assert_contains(err, row->err);
        assert_err_clean(err, in, len);
        return;
    }
    switch (row->gen) {
    case G_VALUE:
    case G_VALUE_ESC:
    case G_VALUE_PLUS:
    case G_VALUE_UTF8:
        assert_int_equal(f.n, 1);
        memset(want, row->gen == G_VALUE_PLUS ? ' ' : 'A', row->count);
        want[row->count] = '\0';
        if (row->gen == G_VALUE_UTF8)
            memcpy(want + row->count, "\xc3\xa9", 3);
        assert_non_null(form_get(&f, "t"));
        assert_int_equal(strlen(form_get(&f, "t")), strlen(want));
        assert_string_equal(form_get(&f, "t"), want);
        break;
    case G_NAME:
    case G_NAME_ESC:
        assert_int_equal(f.n, 1);
        assert_int_equal(row->count, 31);
        assert_non_null(form_get(&f, NAME31));
        assert_string_equal(form_get(&f, NAME31), "1");
        break;
    case G_FIELDS:
    case G_FIELDS_GAPS:
        assert_int_equal(f.n, (int)row->count);
        for (size_t i = 0; i < row->count; i++) {
            char k[24], v[24];
            snprintf(k, sizeof k, "f%zu", i);
            snprintf(v, sizeof v, "v%zu", i);
            assert_non_null(form_get(&f, k));
            assert_string_equal(form_get(&f, k), v);
        }
        assert_null(form_get(&f, "f8"));
        break;
    }
}

/* ---- form_get ---- */

struct get_row {
    const char *name;
    const char *in;
    const char *key;
    const char *want;   /* NULL: form_get returns NULL */
};

static struct get_row get_rows[] = {
    {"form_get: present name", "t=abc&choice=allow", "choice", "allow"},
    {"form_get: missing name is NULL", "t=abc", "choice", NULL},
    {"form_get: unknown name is NULL", "t=abc", "x", NULL},
    {"form_get: empty name is NULL", "t=abc", "", NULL},
    {"form_get: case differs is NULL", "t=abc", "T", NULL},
    {"form_get: prefix of a name is NULL", "choice=allow", "choic", NULL},
    {"form_get: anything in an empty form is NULL", "", "t", NULL},
    {"form_get: empty value is \"\", not NULL", "t=", "t", ""},
};

static void test_get(void **state)
{
    const struct get_row *row = *state;
    struct form f;
    char err[256] = "";
    const char *got;

    assert_int_equal(form_parse(row->in, strlen(row->in), allowed_tc, &f, err, sizeof err), 0);
    got = form_get(&f, row->key);
    if (!row->want) {
        if (got)
            fail_msg("form_get(\"%s\") is \"%s\", expected NULL", row->key, got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, row->want);
}

/* ---- token_valid ---- */

#define HEX32 "0123456789abcdef0123456789abcdef"
#define HEX31 "0123456789abcdef0123456789abcde"

struct token_row {
    const char *name;
    const char *s;
    int ok;
};

static struct token_row token_rows[] = {
    {"token: 32 lowercase hex ok", HEX32, 1},
    {"token: 32 zeros ok", "00000000000000000000000000000000", 1},
    {"token: 32 'f' ok", "ffffffffffffffffffffffffffffffff", 1},
    {"token: 31 chars refused", HEX31, 0},
    {"token: 33 chars refused", HEX32 "0", 0},
    {"token: 64 chars refused", HEX32 HEX32, 0},
    {"token: uppercase refused", "0123456789ABCDEF0123456789ABCDEF", 0},
    {"token: one uppercase digit refused", "0123456789abcdef0123456789abcdeF", 0},
    {"token: 'g' refused", "0123456789abcdef0123456789abcdeg", 0},
    {"token: trailing newline refused", HEX32 "\n", 0},
    {"token: newline as the 32nd char refused", HEX31 "\n", 0},
    {"token: leading space refused", " " HEX31, 0},
    {"token: trailing space refused", HEX31 " ", 0},
    {"token: space inside refused", "0123456789abcdef 123456789abcdef", 0},
    {"token: 0x prefix refused", "0x23456789abcdef0123456789abcdef", 0},
    {"token: non-ASCII byte refused", "0123456789abcdef0123456789abcd\xc3\xa9", 0},
    {"token: \"\" refused", "", 0},
    {"token: NULL refused", NULL, 0},
};

static void test_token(void **state)
{
    const struct token_row *row = *state;

    assert_int_equal(token_valid(row->s), row->ok);
}

/* ---- form_parse_text: the admin page's address book field ---- */

struct text_row {
    const char *name;
    const char *in;
    size_t len;                 /* 0: strlen(in) */
    size_t max;                 /* the text's bound */
    int rc;
    const char *text;           /* expected text (NULL: none) */
    size_t text_len;
    const char *err;            /* part of the error */
};

static struct text_row text_rows[] = {
    {"text: lines, NUL and Latin-1 bytes kept as sent", "do=x&book=a%0D%0Ab%00c%E9&csrf=1", 0, 64, 0,
     "a\r\nb\0c\xe9", 7, NULL},
    {"text: '+' is a space", "book=a+b", 0, 64, 0, "a b", 3, NULL},
    {"text: exactly the bound", "book=abcd", 0, 4, 0, "abcd", 4, NULL},
    {"text: one byte over the bound refused", "book=abcde", 0, 4, -1, NULL, 0, "too long"},
    {"text: %-escapes count once decoded", "book=%41%42%43%44", 0, 4, 0, "ABCD", 4, NULL},
    {"text: empty", "book=&do=x", 0, 4, 0, "", 0, NULL},
    {"text: absent", "do=x", 0, 4, 0, NULL, 0, NULL},
    {"text: given twice refused", "book=a&book=b", 0, 64, -1, NULL, 0, "twice"},
    {"text: a bad escape refused", "book=%4", 0, 64, -1, NULL, 0, "escape"},
    {"text: another field after it still checked", "book=a&do=%01", 0, 64, -1, NULL, 0, "control"},
    {"text: an unknown field after it refused", "book=a&x=1", 0, 64, -1, NULL, 0, "unexpected"},
};

static void test_text(void **state)
{
    static const char *const allowed[] = { "do", "csrf", "book", NULL };
    const struct text_row *row = *state;
    struct form f;
    char err[256] = "";

    memset(&f, 0x5a, sizeof f);
    int rc = form_parse_text(row->in, row->len ? row->len : strlen(row->in), allowed, "book", row->max, &f, err,
                             sizeof err);
    if (rc != row->rc)
        fail_msg("form_parse_text returned %d, expected %d (err \"%s\")", rc, row->rc, err);
    if (rc != 0) {
        assert_null(f.text);
        assert_contains(err, row->err);
        return;
    }
    assert_null(form_get(&f, "book"));
    if (!row->text) {
        assert_null(f.text);
    } else {
        assert_non_null(f.text);
        assert_int_equal(f.text_len, row->text_len);
        assert_memory_equal(f.text, row->text, row->text_len);
        assert_int_equal(f.text[f.text_len], '\0');
    }
    form_free(&f);
    assert_null(f.text);
    form_free(&f);          /* twice is harmless */
}

static struct CMUnitTest tests[UNIT_LEN(form_rows) + UNIT_LEN(gen_rows) + UNIT_LEN(get_rows)
                               + UNIT_LEN(token_rows) + UNIT_LEN(text_rows)];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_form, form_rows);
    UNIT_ADD_ROWS(tests, n, test_gen, gen_rows);
    UNIT_ADD_ROWS(tests, n, test_get, get_rows);
    UNIT_ADD_ROWS(tests, n, test_token, token_rows);
    UNIT_ADD_ROWS(tests, n, test_text, text_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
