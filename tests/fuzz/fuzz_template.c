/*
 * fuzz_template - libFuzzer target for lib/template.c: parsing {{name}}
 * templates (from files an administrator may edit) and rendering them with
 * values that come from the network (sender addresses, client names) in
 * the three contexts, and the encoders behind them (header_encode,
 * qp_encode, template_html_escape).
 *
 * Input: one flag byte, then the template text, then the values for the
 * placeholder names below in order, each after a NUL.  Flag bit 0 marks the
 * names the programs render raw (body, items, domain_button) as raw.
 * The text is parsed from memory and loaded from an in-memory file
 * (template_load), which must agree.
 * Invariants: HTML output holds no < > " ' that the template text did not;
 * text output no control character the template did not; a header is
 * printable ASCII folded only by CRLF-space, and its RFC 2047 words decode
 * to the text rendering; quoted-printable lines are at most 76 bytes and
 * decode to what was encoded.  No files on disk, no network.
 */
#include "fuzz.h"
#include "addr.h"
#include "buf.h"
#include "template.h"

#include <fcntl.h>
#include <stdint.h>
#include <string.h>

/* Every name a guardlist template may use (notifier and approver). */
static const char *const names[] = {
    "sender", "child", "protected", "first_seen", "last_seen", "attempts", "client", "link",
    "guardian", "ttl_days", "count", "items", "title", "body", "message", "detail", "token",
    "action", "domain_button", NULL,
};
#define NNAMES (sizeof(names) / sizeof(names[0]) - 1)

static int is_raw_name(const char *n)
{
    return strcmp(n, "body") == 0 || strcmp(n, "items") == 0 || strcmp(n, "domain_button") == 0;
}

static int b64_value(int c)
{
    const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(tab, c) : NULL;
    return p ? (int)(p - tab) : -1;
}

/* Checks a rendered header and decodes it into DEC: the text it stands for. */
static void check_header(const char *h, struct buf *dec)
{
    const char *p = h;
    int encoded = strncmp(h, "=?UTF-8?B?", 10) == 0;

    for (const unsigned char *q = (const unsigned char *)h; *q; q++) {
        if (*q == '\r') {
            FUZZ_CHECK(encoded && q[1] == '\n' && q[2] == ' ');
            q += 2;
            continue;
        }
        FUZZ_CHECK(*q >= 0x20 && *q < 0x7f);
    }
    if (!encoded) {
        buf_adds(dec, h);
        return;
    }
    while (*p) {
        FUZZ_CHECK(strncmp(p, "=?UTF-8?B?", 10) == 0);
        p += 10;
        const char *end = strstr(p, "?=");
        FUZZ_CHECK(end != NULL && (end - p) % 4 == 0 && end - p <= 60);
        size_t start = dec->len;
        for (; p < end; p += 4) {
            int v[4];
            for (int i = 0; i < 4; i++)
                v[i] = p[i] == '=' ? 0 : b64_value(p[i]);
            FUZZ_CHECK(v[0] >= 0 && v[1] >= 0 && v[2] >= 0 && v[3] >= 0);
            char out[3] = { (char)(v[0] << 2 | v[1] >> 4), (char)((v[1] & 15) << 4 | v[2] >> 2),
                            (char)((v[2] & 3) << 6 | v[3]) };
            buf_add(dec, out, p[2] == '=' ? 1 : p[3] == '=' ? 2 : 3);
        }
        /* Each word is whole UTF-8 on its own (RFC 2047 section 5). */
        FUZZ_CHECK(addr_utf8_valid(dec->p + start, dec->len - start));
        p = end + 2;
        if (*p) {
            FUZZ_CHECK(strncmp(p, "\r\n ", 3) == 0);
            p += 3;
        }
    }
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* qp_encode(S) has lines of at most 76 bytes and decodes to S without CRs. */
static void check_qp(const char *s)
{
    struct buf qp = { 0 }, dec = { 0 }, want = { 0 };

    qp_encode(&qp, s);
    FUZZ_CHECK(!qp.oom);
    const char *p = qp.p ? qp.p : "";
    size_t col = 0;
    while (*p) {
        if (p[0] == '\r') {
            FUZZ_CHECK(p[1] == '\n');
            FUZZ_CHECK(col == 0 || (p[-1] != ' ' && p[-1] != '\t'));     /* trailing blanks get lost */
            col = 0;
            p += 2;
            buf_add(&dec, "\n", 1);
            continue;
        }
        FUZZ_CHECK(++col <= 76);
        if (p[0] == '=') {
            if (p[1] == '\r') {
                FUZZ_CHECK(p[2] == '\n');
                col = 0;
                p += 3;
                continue;
            }
            int h = hexval(p[1]), l = h >= 0 ? hexval(p[2]) : -1;
            FUZZ_CHECK(h >= 0 && l >= 0);
            col += 2;
            FUZZ_CHECK(col <= 76);
            char c = (char)(h * 16 + l);
            buf_add(&dec, &c, 1);
            p += 3;
            continue;
        }
        FUZZ_CHECK(((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f) || *p == '\t');
        buf_add(&dec, p, 1);
        p++;
    }
    FUZZ_CHECK(!qp.p || qp.len == 0 || (qp.p[qp.len - 1] != ' ' && qp.p[qp.len - 1] != '\t'));
    for (const char *q = s; *q; q++)
        if (*q != '\r')
            buf_add(&want, q, 1);
    FUZZ_CHECK(strcmp(dec.p ? dec.p : "", want.p ? want.p : "") == 0);
    buf_free(&qp);
    buf_free(&dec);
    buf_free(&want);
}

static int render(const struct template *t, enum tpl_ctx ctx, const struct tpl_value *v, struct buf *out)
{
    char err[200];

    err[0] = '\0';
    int rc = template_render(t, ctx, v, NNAMES, out, err, sizeof(err));
    if (rc < 0)
        FUZZ_CHECK(err[0] != '\0' && fuzz_terminated(err, sizeof(err)));
    else
        FUZZ_CHECK(!out->oom);
    return rc;
}

static int any_of(const char *s, const char *set)
{
    return s[strcspn(s, set)] != '\0';
}

static int has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct tpl_value v[NNAMES];
    char err[300];
    int raw_ok;

    if (len < 1 || len > 64 * 1024)
        return 0;
    raw_ok = data[0] & 1;
    char *s = fuzz_cstr(data + 1, len - 1);
    const char *end = s + (len - 1), *text = s, *p = s + strlen(s) + 1;

    for (size_t i = 0; i < NNAMES; i++) {
        v[i].name = names[i];
        v[i].raw = raw_ok && is_raw_name(names[i]);
        v[i].value = p <= end ? p : NULL;      /* a name without a value: render must refuse */
        if (p <= end)
            p += strlen(p) + 1;
    }

    err[0] = '\0';
    struct template *t = template_parse("fuzz", text, names, err, sizeof(err));
    FUZZ_CHECK(t || (err[0] != '\0' && fuzz_terminated(err, sizeof(err))));

    /* The same text from a file: template_load must agree (it also wants UTF-8). */
    char path[32];
    int fd = fuzz_memfile(text, strlen(text), 0644, path);
    struct template *tf = template_load(path, names, err, sizeof(err));
    close(fd);
    FUZZ_CHECK((tf != NULL) == (t != NULL && addr_utf8_valid(text, strlen(text))));

    if (t) {
        struct buf html = { 0 }, txt = { 0 }, hdr = { 0 }, again = { 0 }, dec = { 0 };
        int any_raw = 0;
        for (size_t i = 0; i < NNAMES; i++)
            any_raw |= v[i].raw;

        if (render(t, TPL_HTML, v, &html) == 0) {
            if (!any_raw)
                FUZZ_CHECK(any_of(html.p ? html.p : "", "<>\"'") <= any_of(text, "<>\"'"));
            if (tf) {
                FUZZ_CHECK(render(tf, TPL_HTML, v, &again) == 0);
                FUZZ_CHECK(again.len == html.len && (html.len == 0 || memcmp(again.p, html.p, html.len) == 0));
            }
            check_qp(html.p ? html.p : "");
        }
        int txt_ok = render(t, TPL_TEXT, v, &txt) == 0;
        if (txt_ok) {
            if (!any_raw)
                FUZZ_CHECK(has_control(txt.p ? txt.p : "") <= has_control(text));
            check_qp(txt.p ? txt.p : "");
        }
        if (render(t, TPL_HEADER, v, &hdr) == 0) {
            FUZZ_CHECK(txt_ok);     /* the same values are refused in both */
            check_header(hdr.p ? hdr.p : "", &dec);
            /* The header is the text rendering without its trailing line end. */
            size_t n = txt.len;
            while (n > 0 && (txt.p[n - 1] == '\n' || txt.p[n - 1] == '\r'))
                n--;
            FUZZ_CHECK(dec.len == n && (n == 0 || memcmp(dec.p, txt.p, n) == 0));
        }
        buf_free(&html);
        buf_free(&txt);
        buf_free(&hdr);
        buf_free(&again);
        buf_free(&dec);
    }
    template_free(t);
    template_free(tf);

    /* The escapers on their own, on the first value (any bytes). */
    const char *val = v[0].value ? v[0].value : text;
    struct buf e = { 0 };
    template_html_escape(&e, val);
    FUZZ_CHECK(!any_of(e.p ? e.p : "", "<>\"'"));
    buf_free(&e);
    if (header_encode(&e, val) == 0) {
        struct buf dec = { 0 };
        check_header(e.p ? e.p : "", &dec);
        FUZZ_CHECK(strcmp(dec.p ? dec.p : "", val) == 0);
        buf_free(&dec);
    } else {
        FUZZ_CHECK(has_control(val) || !addr_utf8_valid(val, strlen(val)));
    }
    buf_free(&e);
    check_qp(val);
    free(s);
    return 0;
}
