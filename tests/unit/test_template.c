/* test_template.c - unit tests of lib/template.c: parsing {{name}}
 * templates (errors name NAME:LINE), rendering escaped by context (text,
 * HTML, one header value), RFC 2047 header encoding, quoted-printable, and
 * loading template files.  Encoded output is checked by decoding it again
 * with the small, independent decoders below.  One row a case. */
#include "unit.h"
#include "template.h"

#include <unistd.h>

/* ---- independent decoders and checkers ---- */

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i], cp, k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            k = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, cp = c & 0x07;
        else
            return 0;
        if (n - i <= k)
            return 0;
        for (unsigned j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict base64 of N characters into OUT; returns the byte count or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out)
{
    size_t o = 0;

    if (n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad)
                return -1;              /* data after '=' */
            if ((v[j] = b64_value(s[i + j])) < 0)
                return -1;
        }
        unsigned long w = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12
                        | (unsigned long)v[2] << 6 | (unsigned long)v[3];
        out[o++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)w;
    }
    return (long)o;
}

static char why[10000];    /* what a checker below found wrong (room for two 4 KiB texts) */

#define WHY(...) (snprintf(why, sizeof why, __VA_ARGS__), why)

/* OUT is what header_encode made of a value that is not plain ASCII: one or
 * more =?UTF-8?B?...?= words, each at most 75 characters, separated by
 * "\r\n " (so no line longer than 76), each decoding to valid UTF-8 on its
 * own; together they must decode to WANT.  Sets *WORDS to the number of
 * words.  Returns NULL, or what is wrong (the callers free, then fail). */
static const char *check_encoded_words(const char *out, const char *want, int *words)
{
    static const char pre[] = "=?UTF-8?B?", post[] = "?=";
    static unsigned char dec[4096];
    size_t declen = 0;
    const char *p = out;

    *words = 0;
    if (strlen(out) >= sizeof dec)
        return WHY("output of %zu bytes is too long for this test", strlen(out));
    for (;;) {
        const char *end = strstr(p, "\r\n ");
        size_t wlen = end ? (size_t)(end - p) : strlen(p);
        int w = ++*words;
        if (wlen > 75)
            return WHY("encoded word %d is %zu characters long (at most 75): %.*s", w, wlen,
                       (int)wlen, p);
        if (wlen < sizeof pre - 1 + sizeof post - 1 || strncmp(p, pre, sizeof pre - 1) != 0
            || strncmp(p + wlen - 2, post, 2) != 0)
            return WHY("word %d is not =?UTF-8?B?...?=: \"%.*s\"", w, (int)wlen, p);
        const char *b = p + sizeof pre - 1;
        size_t blen = wlen - (sizeof pre - 1) - (sizeof post - 1);
        for (size_t i = 0; i < blen; i++)
            if (b[i] == '\r' || b[i] == '\n' || b[i] == ' ' || b[i] == '?')
                return WHY("word %d holds a stray character: \"%.*s\"", w, (int)wlen, p);
        long n = b64_decode(b, blen, dec + declen);
        if (n < 0)
            return WHY("word %d is not strict base64: \"%.*s\"", w, (int)blen, b);
        if (n == 0)
            return WHY("word %d is empty", w);
        if (!utf8_ok(dec + declen, (size_t)n))
            return WHY("word %d does not decode to valid UTF-8 on its own", w);
        declen += (size_t)n;
        if (!end)
            break;
        p = end + 3;
    }
    dec[declen] = '\0';
    if (declen != strlen(want) || memcmp(dec, want, declen) != 0)
        return WHY("encoded words decode to \"%s\", expected \"%s\"", (char *)dec, want);
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;          /* RFC 2045: uppercase only */
}

/* Checks OUT is well-formed quoted-printable (RFC 2045 6.7): only CRLF line
 * ends, lines of at most 76 characters, no whitespace at the end of a line,
 * '=' only as =XX or a soft break, only printable ASCII, space and tab.  Then
 * decodes it (CRLF -> "\n") and compares with IN without its CRs.  Returns
 * NULL, or what is wrong. */
static const char *check_qp(const char *out, const char *in)
{
    static char dec[4096], want[4096];
    size_t n = strlen(out), col = 0, line = 1, d = 0, w = 0;

    if (n >= sizeof dec || strlen(in) >= sizeof want)
        return WHY("text too long for this test");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c == '\r') {
            if (out[i + 1] != '\n')
                return WHY("line %zu: bare CR", line);
            if (i > 0 && (out[i - 1] == ' ' || out[i - 1] == '\t'))
                return WHY("line %zu ends in unencoded whitespace: \"%.*s\"", line, (int)col,
                           out + i - col);
            dec[d++] = '\n';
            i++;
            col = 0;
            line++;
            continue;
        }
        if (c == '\n')
            return WHY("line %zu: bare LF", line);
        if (++col > 76)
            return WHY("line %zu is longer than 76 characters", line);
        if (c == '=') {
            if (out[i + 1] == '\r' && out[i + 2] == '\n') {
                i += 2;             /* soft line break */
                col = 0;
                line++;
                continue;
            }
            int hi = hexval(out[i + 1]), lo = hi < 0 ? -1 : hexval(out[i + 2]);
            if (hi < 0 || lo < 0)
                return WHY("line %zu: '=' not followed by two uppercase hex digits", line);
            dec[d++] = (char)(hi << 4 | lo);
            i += 2;
            col += 2;
            if (col > 76)
                return WHY("line %zu is longer than 76 characters", line);
            continue;
        }
        if (!((c >= 33 && c <= 126) || c == ' ' || c == '\t'))
            return WHY("line %zu: unencoded byte 0x%02x", line, c);
        dec[d++] = (char)c;
    }
    if (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        return WHY("the last line ends in unencoded whitespace: \"%.*s\"", (int)col,
                   out + n - col);
    dec[d] = '\0';
    for (const char *p = in; *p; p++)
        if (*p != '\r')
            want[w++] = *p;
    want[w] = '\0';
    if (strcmp(dec, want) != 0)
        return WHY("QP decodes to \"%s\", expected \"%s\"", dec, want);
    return NULL;
}

/* Frees OUT; fails unless it held exactly WANT. */
static void expect_text(struct buf *out, const char *want)
{
    const char *o = out->p ? out->p : "";

    if (strcmp(o, want) == 0 && !out->oom) {
        buf_free(out);
        return;
    }
    snprintf(why, sizeof why, "\"%s\" != \"%s\"", o, want);
    buf_free(out);
    fail_msg("%s", why);
}

/* Frees OUT; fails unless it is encoded words decoding to WANT, at least MIN_WORDS of them. */
static void expect_words(struct buf *out, const char *want, int min_words)
{
    int words;
    const char *msg = check_encoded_words(out->p ? out->p : "", want, &words);

    buf_free(out);
    if (msg)
        fail_msg("%s", msg);
    if (words < min_words)
        fail_msg("%d encoded words, expected at least %d", words, min_words);
}

/* ---- strings used by several tables ---- */

#define E1 "\xc3\xa9"                               /* é, two bytes */
#define E10 E1 E1 E1 E1 E1 E1 E1 E1 E1 E1
#define E100 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10  /* 200 bytes */
#define ZOE "Zo\xc3\xab"                            /* Zoë */
#define SMILE "\xf0\x9f\x98\x80"                    /* U+1F600, four bytes */
#define SMILE10 SMILE SMILE SMILE SMILE SMILE SMILE SMILE SMILE SMILE SMILE
#define A10 "aaaaaaaaaa"
#define A50 A10 A10 A10 A10 A10
#define A100 A50 A50
#define A300 A100 A100 A100
#define INJECT "x\r\nBcc: evil@example.com"

static const char *const allowed[] = { "name", "sender", "item2", "_x", "items", NULL };

/* ---- template_parse ---- */

struct parse_row {
    const char *name;
    const char *text;
    const char *err_prefix;     /* NULL: must parse */
    const char *err_has;        /* and the error must contain this */
    const char *out;            /* when it parses: rendered as TPL_TEXT with name=N, sender=S, item2=I, _x=X */
};

static struct parse_row parse_rows[] = {
    {"parse: no placeholders", "just text\nline 2\n", NULL, NULL, "just text\nline 2\n"},
    {"parse: empty text", "", NULL, NULL, ""},
    {"parse: {{name}}", "Hi {{name}}!", NULL, NULL, "Hi N!"},
    {"parse: {{ name }} with spaces", "Hi {{ name }}!", NULL, NULL, "Hi N!"},
    {"parse: {{  name}} and {{name  }}", "{{  name}}/{{name  }}", NULL, NULL, "N/N"},
    {"parse: digits after the first char", "{{item2}}", NULL, NULL, "I"},
    {"parse: underscore first", "{{_x}}", NULL, NULL, "X"},
    {"parse: adjacent placeholders", "{{name}}{{sender}}", NULL, NULL, "NS"},
    {"parse: placeholder at start and end, several lines", "{{name}}\n-\n{{sender}}", NULL, NULL,
     "N\n-\nS"},
    {"parse: lone }} is literal", "a }} b", NULL, NULL, "a }} b"},
    {"parse: single braces are literal", "{name} { {name} }", NULL, NULL, "{name} { {name} }"},
    {"parse: unknown placeholder on line 3", "line 1\nline 2\n{{nope}} here\n", "t.txt:3:", "nope",
     NULL},
    {"parse: unknown placeholder on line 1", "{{nope}}", "t.txt:1:", "nope", NULL},
    {"parse: unknown after known placeholders on line 5", "{{name}}\n\n{{sender}}\n\nx {{nope}}",
     "t.txt:5:", "nope", NULL},
    {"parse: unknown {{ nope }} with spaces", "a\n{{ nope }}", "t.txt:2:", "nope", NULL},
    {"parse: prefix of an allowed name", "{{nam}}", "t.txt:1:", "nam", NULL},
    {"parse: allowed name plus a suffix", "{{names}}", "t.txt:1:", "names", NULL},
    {"parse: uppercase name", "{{Name}}", "t.txt:1:", NULL, NULL},
    {"parse: {{ without }} at the end", "a\nb {{name", "t.txt:2:", NULL, NULL},
    {"parse: {{ alone at the end", "a\n\n{{", "t.txt:3:", NULL, NULL},
    {"parse: {{name} (one brace)", "{{name} x", "t.txt:1:", NULL, NULL},
    {"parse: {{name followed by newline and }}", "{{name\n}}", "t.txt:1:", NULL, NULL},
    {"parse: {{}}", "x {{}} y", "t.txt:1:", NULL, NULL},
    {"parse: {{ }}", "\n{{ }}", "t.txt:2:", NULL, NULL},
    {"parse: digit first {{1name}}", "{{1name}}", "t.txt:1:", NULL, NULL},
    {"parse: digit only {{2}}", "a\nb\nc\n{{2}}", "t.txt:4:", NULL, NULL},
    {"parse: space inside the name", "{{na me}}", "t.txt:1:", NULL, NULL},
    {"parse: dash in the name", "{{na-me}}", "t.txt:1:", NULL, NULL},
    {"parse: {{{name}}}", "{{{name}}}", "t.txt:1:", NULL, NULL},
};

static const struct tpl_value parse_values[] = {
    { "name", "N", 0 }, { "sender", "S", 0 }, { "item2", "I", 0 }, { "_x", "X", 0 },
};

static void test_parse(void **state)
{
    const struct parse_row *row = *state;
    char err[256] = "";
    struct template *t = template_parse("t.txt", row->text, allowed, err, sizeof err);

    if (row->err_prefix) {
        if (t) {
            template_free(t);
            fail_msg("parsed, expected an error starting \"%s\"", row->err_prefix);
        }
        assert_prefix(err, row->err_prefix);
        if (row->err_has)
            assert_contains(err, row->err_has);
        return;
    }
    if (!t)
        fail_msg("parse failed: %s", err);
    struct buf out = { 0 };
    int rc = template_render(t, TPL_TEXT, parse_values, (int)UNIT_LEN(parse_values), &out, err,
                             sizeof err);
    template_free(t);
    if (rc != 0) {
        buf_free(&out);
        fail_msg("render failed: %s", err);
    }
    expect_text(&out, row->out);
}

/* ---- template_render ---- */

enum cmp {
    EXACT,          /* OUT is exactly the expected text */
    WORDS           /* OUT is RFC 2047 encoded words decoding to the expected text */
};

struct render_row {
    const char *name;
    const char *text;
    enum tpl_ctx ctx;
    struct tpl_value v[3];
    int nv;
    int rc;
    const char *out;        /* rc 0: expected text; rc -1: a part the error must contain (or NULL) */
    enum cmp cmp;
};

static struct render_row render_rows[] = {
    /* text */
    {"text: plain value", "From {{sender}}.\n", TPL_TEXT, {{"sender", "a@b.example", 0}}, 1, 0,
     "From a@b.example.\n", EXACT},
    {"text: HTML characters stay as they are", "{{sender}}", TPL_TEXT,
     {{"sender", "<a&b>\"'", 0}}, 1, 0, "<a&b>\"'", EXACT},
    {"text: UTF-8 value", "Hi {{name}}", TPL_TEXT, {{"name", ZOE, 0}}, 1, 0, "Hi " ZOE, EXACT},
    {"text: value with CR refused", "{{name}}", TPL_TEXT, {{"name", "a\rb", 0}}, 1, -1, "name",
     EXACT},
    {"text: value with LF refused", "{{name}}", TPL_TEXT, {{"name", "a\nb", 0}}, 1, -1, "name",
     EXACT},
    {"text: value with \\x01 refused", "{{name}}", TPL_TEXT, {{"name", "a\x01" "b", 0}}, 1, -1,
     "name", EXACT},
    {"text: value with ESC refused", "{{name}}", TPL_TEXT, {{"name", "a\x1b[2Jb", 0}}, 1, -1,
     NULL, EXACT},
    {"text: value with DEL refused", "{{name}}", TPL_TEXT, {{"name", "a\x7f", 0}}, 1, -1, NULL,
     EXACT},
    {"text: value with C1 control NEL (U+0085) refused", "{{name}}", TPL_TEXT,
     {{"name", "a\xc2\x85" "b", 0}}, 1, -1, NULL, EXACT},
    {"text: invalid UTF-8 value refused", "{{name}}", TPL_TEXT, {{"name", "a\xff", 0}}, 1, -1,
     NULL, EXACT},
    {"text: overlong UTF-8 value refused", "{{name}}", TPL_TEXT, {{"name", "\xc0\xaf", 0}}, 1, -1,
     NULL, EXACT},
    {"text: truncated UTF-8 value refused", "{{name}}", TPL_TEXT, {{"name", "Zo\xc3", 0}}, 1, -1,
     NULL, EXACT},
    {"text: UTF-16 surrogate refused", "{{name}}", TPL_TEXT, {{"name", "\xed\xa0\x80", 0}}, 1, -1,
     NULL, EXACT},
    {"text: raw value with newlines kept", "Items:\n{{items}}--", TPL_TEXT,
     {{"items", "one\ntwo\n", 1}}, 1, 0, "Items:\none\ntwo\n--", EXACT},
    {"text: placeholder without a value", "{{name}} {{sender}}", TPL_TEXT, {{"name", "N", 0}}, 1,
     -1, "sender", EXACT},
    {"text: placeholder with a NULL value", "{{name}}", TPL_TEXT, {{"name", NULL, 0}}, 1, -1,
     "name", EXACT},
    {"text: no values at all", "x {{name}}", TPL_TEXT, {{NULL, NULL, 0}}, 0, -1, "name", EXACT},
    {"text: value name is matched exactly, not by prefix", "{{name}}", TPL_TEXT,
     {{"names", "wrong", 0}, {"nam", "wrong", 0}}, 2, -1, "name", EXACT},
    {"text: unused values are fine", "{{name}}", TPL_TEXT,
     {{"sender", "S", 0}, {"name", "N", 0}, {"items", "I", 0}}, 3, 0, "N", EXACT},
    {"text: same placeholder twice", "{{name}}+{{ name }}", TPL_TEXT, {{"name", "N", 0}}, 1, 0,
     "N+N", EXACT},
    {"text: empty value", "[{{name}}]", TPL_TEXT, {{"name", "", 0}}, 1, 0, "[]", EXACT},
    {"text: a value is not itself a template", "{{name}}", TPL_TEXT, {{"name", "{{sender}}", 0}},
     1, 0, "{{sender}}", EXACT},
    /* HTML */
    {"html: & < > \" ' escaped", "<p>{{name}}</p>", TPL_HTML, {{"name", "& < > \" '", 0}}, 1, 0,
     "<p>&amp; &lt; &gt; &quot; &#39;</p>", EXACT},
    {"html: <script> sender escaped", "<b>{{sender}}</b>", TPL_HTML,
     {{"sender", "<script>alert('x')</script>@evil.example", 0}}, 1, 0,
     "<b>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;@evil.example</b>", EXACT},
    {"html: attribute breakout escaped", "<a title=\"{{name}}\">", TPL_HTML,
     {{"name", "\" onmouseover=\"x", 0}}, 1, 0, "<a title=\"&quot; onmouseover=&quot;x\">", EXACT},
    {"html: an entity in the value is escaped again", "{{name}}", TPL_HTML,
     {{"name", "&amp;", 0}}, 1, 0, "&amp;amp;", EXACT},
    {"html: raw value inserted unescaped", "<ul>{{items}}</ul>", TPL_HTML,
     {{"items", "<li>a &amp; b</li>", 1}}, 1, 0, "<ul><li>a &amp; b</li></ul>", EXACT},
    {"html: raw and escaped side by side", "{{items}}{{name}}", TPL_HTML,
     {{"items", "<i>", 1}, {"name", "<i>", 0}}, 2, 0, "<i>&lt;i&gt;", EXACT},
    {"html: template literal is not escaped", "<a href=\"x?a=1&b=2\">{{name}}</a>", TPL_HTML,
     {{"name", "N", 0}}, 1, 0, "<a href=\"x?a=1&b=2\">N</a>", EXACT},
    {"html: UTF-8 unchanged", "{{name}}", TPL_HTML, {{"name", ZOE, 0}}, 1, 0, ZOE, EXACT},
    {"html: value with LF refused", "{{name}}", TPL_HTML, {{"name", "a\nb", 0}}, 1, -1, NULL,
     EXACT},
    {"html: invalid UTF-8 refused", "{{name}}", TPL_HTML, {{"name", "\xfe", 0}}, 1, -1, NULL,
     EXACT},
    {"html: missing value", "{{name}}", TPL_HTML, {{"sender", "S", 0}}, 1, -1, "name", EXACT},
    /* one header value */
    {"header: plain ASCII unchanged", "{{sender}} wants to mail {{name}}", TPL_HEADER,
     {{"sender", "a@b.example", 0}, {"name", "c@d.example", 0}}, 2, 0,
     "a@b.example wants to mail c@d.example", EXACT},
    {"header: HTML characters stay as they are", "{{name}}", TPL_HEADER,
     {{"name", "<a&b>", 0}}, 1, 0, "<a&b>", EXACT},
    {"header: trailing newline of the file dropped", "Hi {{name}}\n", TPL_HEADER,
     {{"name", "N", 0}}, 1, 0, "Hi N", EXACT},
    {"header: trailing CRLF of the file dropped", "Hi {{name}}\r\n", TPL_HEADER,
     {{"name", "N", 0}}, 1, 0, "Hi N", EXACT},
    {"header: injection x\\r\\nBcc: refused", "Mail from {{sender}}", TPL_HEADER,
     {{"sender", INJECT, 0}}, 1, -1, NULL, EXACT},
    {"header: injection with LF only refused", "{{sender}}", TPL_HEADER,
     {{"sender", "x\nBcc: evil@example.com", 0}}, 1, -1, NULL, EXACT},
    {"header: injection with CR only refused", "{{sender}}", TPL_HEADER,
     {{"sender", "x\rBcc: evil@example.com", 0}}, 1, -1, NULL, EXACT},
    {"header: injection in a raw value refused too", "{{items}}", TPL_HEADER,
     {{"items", INJECT, 1}}, 1, -1, NULL, EXACT},
    {"header: two-line template refused", "{{name}}\nBcc: x@y.example", TPL_HEADER,
     {{"name", "N", 0}}, 1, -1, NULL, EXACT},
    {"header: tab refused", "{{name}}", TPL_HEADER, {{"name", "a\tb", 0}}, 1, -1, NULL, EXACT},
    {"header: C1 control NEL (U+0085) refused", "{{name}}", TPL_HEADER,
     {{"name", "a\xc2\x85" "b", 0}}, 1, -1, NULL, EXACT},
    {"header: Zo\xc3\xab encoded", "Hello {{name}}", TPL_HEADER, {{"name", ZOE, 0}}, 1, 0,
     "Hello " ZOE, WORDS},
    {"header: 200 bytes of \xc3\xa9 folded", "{{name}}", TPL_HEADER, {{"name", E100, 0}}, 1, 0,
     E100, WORDS},
    {"header: long mixed subject folded", "{{sender}} wants to send email to {{name}}", TPL_HEADER,
     {{"sender", ZOE " <zoe@example.com>", 0}, {"name", "kid@example.org", 0}}, 2, 0,
     ZOE " <zoe@example.com> wants to send email to kid@example.org", WORDS},
    {"header: invalid UTF-8 refused", "{{name}}", TPL_HEADER, {{"name", "Zo\xeb", 0}}, 1, -1,
     NULL, EXACT},
    {"header: missing value", "{{name}}", TPL_HEADER, {{NULL, NULL, 0}}, 0, -1, "name", EXACT},
};

static void test_render(void **state)
{
    const struct render_row *row = *state;
    char err[256] = "";
    struct template *t = template_parse("r.txt", row->text, allowed, err, sizeof err);
    struct buf out = { 0 };

    if (!t)
        fail_msg("parse failed: %s", err);
    int rc = template_render(t, row->ctx, row->v, row->nv, &out, err, sizeof err);
    template_free(t);
    if (rc != row->rc) {
        char got[512];
        snprintf(got, sizeof got, "%s", out.p ? out.p : "");
        buf_free(&out);
        fail_msg("template_render returned %d, expected %d (err \"%s\", out \"%s\")", rc, row->rc,
                 err, got);
    }
    if (rc != 0) {
        buf_free(&out);
        assert_true(err[0] != '\0');
        if (row->out)
            assert_contains(err, row->out);
        return;
    }
    if (row->cmp == EXACT)
        expect_text(&out, row->out);
    else
        expect_words(&out, row->out, 1);
}

/* Render appends: what OUT held before stays in front. */
static void test_render_appends(void **state)
{
    char err[256] = "";
    struct template *t = template_parse("a.txt", "<{{name}}>", allowed, err, sizeof err);
    struct tpl_value v[] = { { "name", "&", 0 } };
    struct buf out = { 0 };

    (void)state;
    assert_non_null(t);
    buf_adds(&out, "before:");
    int rc1 = template_render(t, TPL_HTML, v, 1, &out, err, sizeof err);
    int rc2 = template_render(t, TPL_HTML, v, 1, &out, err, sizeof err);
    template_free(t);
    if (rc1 != 0 || rc2 != 0) {
        buf_free(&out);
        fail_msg("render failed: %s", err);
    }
    if (out.len != strlen(out.p)) {
        buf_free(&out);
        fail_msg("buf len does not match its text");
    }
    expect_text(&out, "before:<&amp;><&amp;>");
}

/* ---- header_encode ---- */

struct header_row {
    const char *name;
    const char *in;
    int rc;
    const char *out;        /* EXACT: the expected output; WORDS: NULL (decodes to IN) */
    enum cmp cmp;
    int min_words;          /* WORDS: at least this many encoded words */
};

static struct header_row header_rows[] = {
    {"header_encode: plain ASCII unchanged", "Approval needed: a@b.example", 0,
     "Approval needed: a@b.example", EXACT, 0},
    {"header_encode: empty", "", 0, "", EXACT, 0},
    {"header_encode: ASCII punctuation unchanged", "\"q\" <a> (c) ~! = ?", 0,
     "\"q\" <a> (c) ~! = ?", EXACT, 0},
    {"header_encode: text that looks like an encoded word is encoded (no spoofed decoding)",
     "=?x?= \"q\" <a> (c) ~!", 0, NULL, WORDS, 1},
    {"header_encode: a sender's own =?UTF-8?B?...?= is encoded, not passed through",
     "=?UTF-8?B?UGFwYQ==?=@evil.example wants to write", 0, NULL, WORDS, 1},
    {"header_encode: Zo\xc3\xab exact", ZOE, 0, "=?UTF-8?B?Wm/Dqw==?=", EXACT, 0},
    {"header_encode: Zo\xc3\xab decodes back", ZOE, 0, NULL, WORDS, 1},
    {"header_encode: one \xc3\xa9", E1, 0, NULL, WORDS, 1},
    {"header_encode: 200 bytes of \xc3\xa9: several words", E100, 0, NULL, WORDS, 5},
    {"header_encode: 40 four-byte characters", SMILE10 SMILE10 SMILE10 SMILE10, 0, NULL, WORDS, 4},
    {"header_encode: 44 ASCII then \xc3\xa9 across the 45-byte cut", "abcdefghij" "abcdefghij"
     "abcdefghij" "abcdefghij" "abcd" E1 "xyz", 0, NULL, WORDS, 2},
    {"header_encode: 43 ASCII then a 4-byte character across the cut", "abcdefghij" "abcdefghij"
     "abcdefghij" "abcdefghij" "abc" SMILE "z", 0, NULL, WORDS, 2},
    {"header_encode: long mixed subject", ZOE " <zoe@example.com> wants to send email to "
     "kid@example.org about " E10 E10, 0, NULL, WORDS, 2},
    {"header_encode: CRLF injection refused", INJECT, -1, NULL, EXACT, 0},
    {"header_encode: LF refused", "a\nb", -1, NULL, EXACT, 0},
    {"header_encode: CR refused", "a\rb", -1, NULL, EXACT, 0},
    {"header_encode: trailing CRLF refused", "a\r\n", -1, NULL, EXACT, 0},
    {"header_encode: non-ASCII with CRLF refused", ZOE "\r\nBcc: x@y.example", -1, NULL, EXACT, 0},
    {"header_encode: \\x01 refused", "a\x01", -1, NULL, EXACT, 0},
    {"header_encode: DEL refused", "a\x7f", -1, NULL, EXACT, 0},
    {"header_encode: C1 control NEL (U+0085) refused", "a\xc2\x85" "b", -1, NULL, EXACT, 0},
    {"header_encode: invalid UTF-8 refused", "Zo\xeb", -1, NULL, EXACT, 0},
    {"header_encode: lone continuation byte refused", "\xa9", -1, NULL, EXACT, 0},
    {"header_encode: overlong refused", "\xc0\xaf", -1, NULL, EXACT, 0},
    {"header_encode: above U+10FFFF refused", "\xf4\x90\x80\x80", -1, NULL, EXACT, 0},
};

static void test_header(void **state)
{
    const struct header_row *row = *state;
    struct buf out = { 0 };
    int rc = header_encode(&out, row->in);

    if (rc != row->rc) {
        buf_free(&out);
        fail_msg("header_encode returned %d, expected %d", rc, row->rc);
    }
    if (rc != 0)
        buf_free(&out);
    else if (row->cmp == EXACT)
        expect_text(&out, row->out);
    else
        expect_words(&out, row->in, row->min_words);
}

/* ---- qp_encode ---- */

struct qp_row {
    const char *name;
    const char *in;
    const char *out;        /* NULL: only the well-formedness and round-trip checks */
};

static struct qp_row qp_rows[] = {
    {"qp: empty", "", ""},
    {"qp: plain text unchanged", "Hello, world.", "Hello, world."},
    {"qp: = becomes =3D", "a=b", "a=3Db"},
    {"qp: non-ASCII bytes =XX", ZOE, "Zo=C3=AB"},
    {"qp: control byte", "a\x01" "b", "a=01b"},
    {"qp: DEL", "a\x7f", "a=7F"},
    {"qp: LF becomes CRLF", "a\nb\n", "a\r\nb\r\n"},
    {"qp: CRLF stays CRLF", "a\r\nb", "a\r\nb"},
    {"qp: inner spaces and tabs stay", "a  b\tc", "a  b\tc"},
    {"qp: trailing space before LF", "a \nb", "a=20\r\nb"},
    {"qp: trailing tab before LF", "a\t\nb", "a=09\r\nb"},
    {"qp: two trailing spaces before LF", "a  \nb", "a =20\r\nb"},
    {"qp: trailing space at the end", "a ", "a=20"},
    {"qp: trailing space before CRLF", "a \r\nb", "a=20\r\nb"},
    {"qp: trailing tab before CRLF", "a\t\r\nb", "a=09\r\nb"},
    {"qp: trailing space before a final CR", "a \r", NULL},
    {"qp: 75 characters fit one line", A50 "aaaaaaaaaaaaaaaaaaaaaaaaa", A50 "aaaaaaaaaaaaaaaaaaaaaaaaa"},
    {"qp: 76 characters need a soft break", A50 "aaaaaaaaaaaaaaaaaaaaaaaaaa",
     A50 "aaaaaaaaaaaaaaaaaaaaaaaaa=\r\na"},
    {"qp: =XX not split by a soft break", A50 "aaaaaaaaaaaaaaaaaaaaaaa=",
     A50 "aaaaaaaaaaaaaaaaaaaaaaa=\r\n=3D"},
    {"qp: 300-character line", A300, NULL},
    {"qp: 300-character line of =", "==========" "==========" "==========" "==========" "=========="
     "==========" "==========" "==========" "==========" "==========", NULL},
    {"qp: 200 bytes of \xc3\xa9", E100, NULL},
    {"qp: 300 characters of words and spaces", "a b c d e f g h i j k l m n o p q r s t u v w x y z "
     "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i j k l m n o p q r s t "
     "u v w x y z a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i j k l m n "
     "o p q r s t u v w x y z a b c d e f g h i j k l m n o p q r s t u v w x y z ", NULL},
    {"qp: space at column 75 before more text", A50 "aaaaaaaaaaaaaaaaaaaaaaaa b", NULL},
    {"qp: mail text with a link", "Hi " ZOE ",\n\nApprove: https://x.example/a?t=0123456789abcdef"
     "0123456789abcdef&x=1 \n\n-- \nguardlist\n", NULL},
    {"qp: dot lines kept", ".\n..\n.a", ".\r\n..\r\n.a"},
};

static void test_qp(void **state)
{
    const struct qp_row *row = *state;
    struct buf out = { 0 };

    qp_encode(&out, row->in);
    const char *msg = check_qp(out.p ? out.p : "", row->in);
    if (msg) {
        buf_free(&out);
        fail_msg("%s", msg);
    }
    if (row->out)
        expect_text(&out, row->out);
    else
        buf_free(&out);
}

/* ---- template_html_escape ---- */

struct html_row {
    const char *name;
    const char *in;
    const char *out;
};

static struct html_row html_rows[] = {
    {"template_html_escape: empty", "", ""},
    {"template_html_escape: plain unchanged", "abc 123", "abc 123"},
    {"template_html_escape: &", "&", "&amp;"},
    {"template_html_escape: <", "<", "&lt;"},
    {"template_html_escape: >", ">", "&gt;"},
    {"template_html_escape: \"", "\"", "&quot;"},
    {"template_html_escape: '", "'", "&#39;"},
    {"template_html_escape: all five", "a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&#39;f"},
    {"template_html_escape: <script>", "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
    {"template_html_escape: UTF-8 unchanged", ZOE, ZOE},
};

static void test_html(void **state)
{
    const struct html_row *row = *state;
    struct buf out = { 0 };

    buf_adds(&out, "[");
    template_html_escape(&out, row->in);
    buf_adds(&out, "]");
    char want[256];
    snprintf(want, sizeof want, "[%s]", row->out);
    expect_text(&out, want);
}

/* ---- template_load ---- */

struct load_row {
    const char *name;
    const char *content;    /* written to a fresh temporary file */
    size_t len;             /* bytes of CONTENT (it may hold a NUL) */
    const char *path;       /* instead of a temporary file */
    int ok;
    const char *err_has;    /* besides the path, which every error must name */
    const char *out;        /* OK: rendered as TPL_TEXT with name=N */
};

#define CONTENT(s) s, sizeof(s) - 1

static struct load_row load_rows[] = {
    {"load: good file", CONTENT("Hi {{name}},\nbye\n"), NULL, 1, NULL, "Hi N,\nbye\n"},
    {"load: empty file", CONTENT(""), NULL, 1, NULL, ""},
    {"load: UTF-8 file", CONTENT(ZOE " {{name}}"), NULL, 1, NULL, ZOE " N"},
    {"load: missing file", NULL, 0, "/nonexistent-guardlist-dir/notify.txt", 0,
     "No such file", NULL},
    {"load: a directory", NULL, 0, "/", 0, NULL, NULL},
    {"load: NUL byte refused", CONTENT("Hi\0{{name}}\n"), NULL, 0, NULL, NULL},
    {"load: NUL byte as the last byte refused", CONTENT("Hi {{name}}\n\0"), NULL, 0, NULL, NULL},
    {"load: invalid UTF-8 refused", CONTENT("Hi \xff {{name}}\n"), NULL, 0, NULL, NULL},
    {"load: Latin-1 text refused", CONTENT("Zo\xeb {{name}}\n"), NULL, 0, NULL, NULL},
    {"load: overlong UTF-8 refused", CONTENT("\xc0\xaf"), NULL, 0, NULL, NULL},
    {"load: unknown placeholder names path:line", CONTENT("a\nb\n{{nope}}\n"), NULL, 0, ":3:",
     NULL},
};

static void test_load(void **state)
{
    const struct load_row *row = *state;
    char path[] = "/tmp/guardlist-test-template-XXXXXX";
    const char *p = row->path;
    char err[512] = "";
    int fd = -1;

    if (!p) {
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, row->content, row->len), (ssize_t)row->len);
        close(fd);
        p = path;
    }
    struct template *t = template_load(p, allowed, err, sizeof err);
    if (fd >= 0)
        unlink(path);
    if (!row->ok) {
        if (t) {
            template_free(t);
            fail_msg("loaded, expected an error");
        }
        assert_contains(err, p);
        if (row->err_has)
            assert_contains(err, row->err_has);
        return;
    }
    if (!t)
        fail_msg("load failed: %s", err);
    struct tpl_value v[] = { { "name", "N", 0 } };
    struct buf out = { 0 };
    int rc = template_render(t, TPL_TEXT, v, 1, &out, err, sizeof err);
    template_free(t);
    if (rc != 0) {
        buf_free(&out);
        fail_msg("render failed: %s", err);
    }
    expect_text(&out, row->out);
}

/* A template set loads whole from its folder, or not at all: a missing
 * or bad file names itself and leaves no template of the set loaded. */
static void test_load_set(void **state)
{
    char dir[] = "/tmp/guardlist-test-tset-XXXXXX", path[128], err[512] = "";
    static const char *const names[] = { "name", NULL };
    struct template *a = NULL, *b = NULL;
    const struct template_file set[] = { { "a.txt", names, &a }, { "b.txt", names, &b } };
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.txt", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("A {{name}}\n", f);
    fclose(f);
    assert_int_equal(template_load_set(dir, set, 2, err, sizeof(err)), -1);
    assert_contains(err, "b.txt");
    assert_null(a);
    assert_null(b);
    snprintf(path, sizeof(path), "%s/b.txt", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("B {{nope}}\n", f);
    fclose(f);
    assert_int_equal(template_load_set(dir, set, 2, err, sizeof(err)), -1);
    assert_contains(err, "b.txt:1");
    assert_null(a);
    assert_non_null(f = fopen(path, "w"));
    fputs("B {{name}}\n", f);
    fclose(f);
    int rc = template_load_set(dir, set, 2, err, sizeof(err));
    unlink(path);
    snprintf(path, sizeof(path), "%s/a.txt", dir);
    unlink(path);
    rmdir(dir);
    if (rc != 0)
        fail_msg("load failed: %s", err);
    assert_non_null(a);
    assert_non_null(b);
    struct tpl_value v[] = { { "name", "N", 0 } };
    struct buf out = { 0 };
    assert_int_equal(template_render(b, TPL_TEXT, v, 1, &out, err, sizeof err), 0);
    template_free_set(set, 2);
    assert_null(a);
    assert_null(b);
    expect_text(&out, "B N\n");
}

static struct CMUnitTest tests[UNIT_LEN(parse_rows) + UNIT_LEN(render_rows) + 2
                               + UNIT_LEN(header_rows) + UNIT_LEN(qp_rows) + UNIT_LEN(html_rows)
                               + UNIT_LEN(load_rows)];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_parse, parse_rows);
    UNIT_ADD_ROWS(tests, n, test_render, render_rows);
    UNIT_ADD(tests, n, test_render_appends);
    UNIT_ADD_ROWS(tests, n, test_header, header_rows);
    UNIT_ADD_ROWS(tests, n, test_qp, qp_rows);
    UNIT_ADD_ROWS(tests, n, test_html, html_rows);
    UNIT_ADD_ROWS(tests, n, test_load, load_rows);
    UNIT_ADD(tests, n, test_load_set);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
