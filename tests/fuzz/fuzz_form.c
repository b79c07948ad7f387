/*
 * fuzz_form - libFuzzer target for lib/form.c and token_valid() in
 * lib/token.c: what guardlist-approve does with QUERY_STRING (GET, HEAD)
 * and with a POST body, up to the token's database lookup.  The CGI's own
 * checks around them (method, CONTENT_LENGTH, CONTENT_TYPE) are static in
 * approver/guardlist-approve.c and are repeated here where they bound the
 * input: a query over 256 bytes or a body over 1024 is never parsed, a body
 * with a NUL is refused.
 *
 * Invariants: on success every name is an allowed one, at most once, and
 * every value is NUL-terminated inside its buffer, at most FORM_VALUE_MAX
 * bytes, valid UTF-8 without C0/C1 controls, and found by form_get; a form
 * %-encoded again parses to the same fields; a valid token is 32 lower-case
 * hex digits.  form_parse_text() (the admin page's address book field
 * "book"): the text is at most its bound, NUL-terminated, and exactly the
 * field's decoded bytes; it never appears among the values; a failed parse
 * leaves no text.  No files, no network.
 */
#include "fuzz.h"
#include "addr.h"
#include "form.h"
#include "token.h"

#include <stdint.h>
#include <string.h>

#define QUERY_MAX 256   /* as guardlist-approve.c */
#define BODY_MAX 1024

static const char *const get_fields[] = { "t", NULL };
static const char *const post_fields[] = { "t", "choice", NULL };
static const char *const many_fields[] = { "t", "choice", "a", "b", "c", "d", "e", "f", "g", "h", NULL };

static int allowed(const char *const *list, const char *name)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

static void check_token(const char *t)
{
    if (!token_valid(t))
        return;
    FUZZ_CHECK(strlen(t) == TOKEN_CHARS && strspn(t, "0123456789abcdef") == TOKEN_CHARS);
    unsigned char hash[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    FUZZ_CHECK(token_hash(t, hash) == 0);
    token_hex(hash, SHA256_LEN, hex);
    FUZZ_CHECK(strlen(hex) == 2 * SHA256_LEN && strspn(hex, "0123456789abcdef") == 2 * SHA256_LEN);
}

/* %-encodes F again (every byte) and parses it: the same fields come back. */
static void check_reencode(const struct form *f, const char *const *list)
{
    static char text[FORM_MAX_FIELDS * (32 * 3 + 1 + FORM_VALUE_MAX * 3 + 1) + 1];
    static struct form g;
    char err[200];
    size_t o = 0;

    for (int i = 0; i < f->n; i++) {
        const char *parts[2] = { f->name[i], f->value[i] };
        if (i)
            text[o++] = '&';
        for (int j = 0; j < 2; j++) {
            for (const unsigned char *p = (const unsigned char *)parts[j]; *p; p++)
                o += (size_t)snprintf(text + o, sizeof(text) - o, "%%%02X", *p);
            if (j == 0)
                text[o++] = '=';
        }
    }
    FUZZ_CHECK(o < sizeof(text));
    FUZZ_CHECK(form_parse(text, o, list, &g, err, sizeof(err)) == 0);
    FUZZ_CHECK(g.n == f->n);
    for (int i = 0; i < f->n; i++) {
        FUZZ_CHECK(strcmp(g.name[i], f->name[i]) == 0);
        FUZZ_CHECK(strcmp(g.value[i], f->value[i]) == 0);
    }
}

static void parse(const char *in, size_t len, const char *const *list)
{
    static struct form f;
    char err[200];

    memset(&f, 0xa5, sizeof(f));
    err[0] = '\0';
    if (form_parse(in, len, list, &f, err, sizeof(err)) < 0) {
        FUZZ_CHECK(err[0] != '\0' && fuzz_terminated(err, sizeof(err)));
        return;
    }
    FUZZ_CHECK(f.n >= 0 && f.n <= FORM_MAX_FIELDS);
    for (int i = 0; i < f.n; i++) {
        FUZZ_CHECK(fuzz_terminated(f.name[i], sizeof(f.name[i])));
        FUZZ_CHECK(fuzz_terminated(f.value[i], sizeof(f.value[i])));
        FUZZ_CHECK(allowed(list, f.name[i]));
        for (int j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(f.name[i], f.name[j]) != 0);
        size_t vlen = strlen(f.value[i]);
        FUZZ_CHECK(vlen <= FORM_VALUE_MAX);
        FUZZ_CHECK(addr_utf8_valid(f.value[i], vlen));
        for (size_t k = 0; k < vlen; k++) {
            unsigned char c = (unsigned char)f.value[i][k];
            FUZZ_CHECK(c >= 0x20 && c != 0x7f);
            FUZZ_CHECK(!(c == 0xc2 && k + 1 < vlen && (unsigned char)f.value[i][k + 1] <= 0x9f));
        }
        FUZZ_CHECK(form_get(&f, f.name[i]) == f.value[i]);
    }
    check_reencode(&f, list);
    if (list != many_fields) {
        const char *t = form_get(&f, "t");
        if (t)
            check_token(t);
    }
}

/* The long-text path: the field "book" of at most TEXT_MAX bytes. */
#define TEXT_MAX 64
static void parse_text(const char *in, size_t len)
{
    static const char *const fields[] = { "do", "csrf", "book", NULL };
    static struct form f;
    char err[200];

    memset(&f, 0xa5, sizeof(f));
    err[0] = '\0';
    if (form_parse_text(in, len, fields, "book", TEXT_MAX, &f, err, sizeof(err)) < 0) {
        FUZZ_CHECK(err[0] != '\0' && fuzz_terminated(err, sizeof(err)) && f.text == NULL);
        return;
    }
    FUZZ_CHECK(form_get(&f, "book") == NULL);
    if (f.text) {
        FUZZ_CHECK(f.text_len <= TEXT_MAX && f.text[f.text_len] == '\0');
        /* a field spelt plainly "book=" without escapes: its bytes are the text */
        const char *b = NULL, *end = in + len;
        for (const char *p = in; p < end;) {
            if ((size_t)(end - p) >= 5 && memcmp(p, "book=", 5) == 0)
                b = p + 5;
            const char *amp = memchr(p, '&', (size_t)(end - p));
            p = amp ? amp + 1 : end;
        }
        if (b) {
            const char *e = memchr(b, '&', (size_t)(end - b));
            size_t n = e ? (size_t)(e - b) : (size_t)(end - b);
            if (!memchr(b, '%', n) && !memchr(b, '+', n))
                FUZZ_CHECK(n == f.text_len && memcmp(b, f.text, n) == 0);
        }
    }
    form_free(&f);
    FUZZ_CHECK(f.text == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const char *in = (const char *)data;

    if (len <= QUERY_MAX) {
        char *q = fuzz_cstr(data, len);    /* QUERY_STRING is a C string */
        parse(q, strlen(q), get_fields);
        free(q);
    }
    if (len <= BODY_MAX && !memchr(in, '\0', len))
        parse(in, len, post_fields);
    parse(in, len, many_fields);        /* no CGI bound: the parser alone */
    parse_text(in, len);
    FUZZ_CHECK(token_valid(NULL) == 0);
    return 0;
}
