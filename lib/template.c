/*
 * template - {{name}} templates for emails and pages, escaped by context.
 *
 * Callers: guardlist-notify (emails), the approval and admin pages.  Values
 * come from the network (sender addresses, client names), so escaping is
 * not optional: HTML gets entities, headers get RFC 2047 and may never hold
 * CR/LF (header injection), text refuses control characters.  Placeholders
 * are checked when a template is loaded, so a typo stops the program at
 * start-up instead of leaving a blank in a mail.
 */
#include "template.h"
#include "addr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_PARTS 512

struct part {
    const char *text;       /* literal text, or the placeholder name */
    size_t len;
    int is_name;
};

struct template {
    char *src;
    int nparts;
    struct part part[MAX_PARTS];
};

static int name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
}

struct template *template_parse(const char *name, const char *text, const char *const *allowed,
                                char *err, size_t errlen)
{
    struct template *t = calloc(1, sizeof(*t));
    int line = 1;

    if (!t || !(t->src = strdup(text))) {
        free(t);
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    const char *p = t->src;
    while (*p) {
        const char *open = strstr(p, "{{");
        const char *lit_end = open ? open : p + strlen(p);
        for (const char *q = p; q < lit_end; q++)
            line += *q == '\n';
        if (lit_end > p) {
            if (t->nparts == MAX_PARTS)
                goto too_many;
            t->part[t->nparts++] = (struct part){ p, (size_t)(lit_end - p), 0 };
        }
        if (!open)
            break;
        const char *s = open + 2, *e;
        while (*s == ' ')
            s++;
        for (e = s; name_char(*e, e == s); e++)
            ;
        const char *close = e;
        while (*close == ' ')
            close++;
        if (e == s || strncmp(close, "}}", 2) != 0) {
            snprintf(err, errlen, "%s:%d: '{{' without a placeholder name and '}}'", name, line);
            template_free(t);
            return NULL;
        }
        int known = 0;
        for (int i = 0; allowed[i]; i++)
            if (strlen(allowed[i]) == (size_t)(e - s) && strncmp(allowed[i], s, (size_t)(e - s)) == 0)
                known = 1;
        if (!known) {
            snprintf(err, errlen, "%s:%d: unknown placeholder {{%.*s}}", name, line, (int)(e - s), s);
            template_free(t);
            return NULL;
        }
        if (t->nparts == MAX_PARTS)
            goto too_many;
        t->part[t->nparts++] = (struct part){ s, (size_t)(e - s), 1 };
        p = close + 2;
    }
    return t;
too_many:
    snprintf(err, errlen, "%s: more than %d parts", name, MAX_PARTS);
    template_free(t);
    return NULL;
}

struct template *template_load(const char *path, const char *const *allowed, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    struct stat st;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 256 * 1024) {
        fclose(f);
        snprintf(err, errlen, "%s: not a regular file of at most 256 KiB", path);
        return NULL;
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t n = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    text[n] = '\0';
    if (strlen(text) != n || !addr_utf8_valid(text, n)) {
        free(text);
        snprintf(err, errlen, "%s: not UTF-8 text", path);
        return NULL;
    }
    struct template *t = template_parse(path, text, allowed, err, errlen);
    free(text);
    return t;
}

int template_load_set(const char *dir, const struct template_file *list, size_t n, char *err, size_t errlen)
{
    char path[4096];

    for (size_t i = 0; i < n; i++) {
        *list[i].t = NULL;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, list[i].file) >= sizeof(path)) {
            snprintf(err, errlen, "%s/%s: path too long", dir, list[i].file);
            template_free_set(list, i);
            return -1;
        }
        if (!(*list[i].t = template_load(path, list[i].names, err, errlen))) {
            template_free_set(list, i);
            return -1;
        }
    }
    return 0;
}

void template_free_set(const struct template_file *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        template_free(*list[i].t);
        *list[i].t = NULL;
    }
}

void template_free(struct template *t)
{
    if (!t)
        return;
    free(t->src);
    free(t);
}

void template_html_escape(struct buf *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': buf_adds(out, "&amp;"); break;
        case '<': buf_adds(out, "&lt;"); break;
        case '>': buf_adds(out, "&gt;"); break;
        case '"': buf_adds(out, "&quot;"); break;
        case '\'': buf_adds(out, "&#39;"); break;
        default: buf_add(out, s, 1);
        }
    }
}

/* C0 controls, DEL, and the C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F). */
static int has_control(const char *s, int allow_newline)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 0x20 && !(allow_newline && (*p == '\n' || *p == '\t'))) || *p == 0x7f)
            return 1;
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            return 1;
    }
    return 0;
}

int template_render(const struct template *t, enum tpl_ctx ctx, const struct tpl_value *values, int n,
                    struct buf *out, char *err, size_t errlen)
{
    struct buf line = { 0 };
    struct buf *dst = ctx == TPL_HEADER ? &line : out;

    for (int i = 0; i < t->nparts; i++) {
        const struct part *p = &t->part[i];
        if (!p->is_name) {
            buf_add(dst, p->text, p->len);
            continue;
        }
        const struct tpl_value *v = NULL;
        for (int j = 0; j < n; j++)
            if (strlen(values[j].name) == p->len && strncmp(values[j].name, p->text, p->len) == 0)
                v = &values[j];
        if (!v || !v->value) {
            snprintf(err, errlen, "no value for {{%.*s}}", (int)p->len, p->text);
            buf_free(&line);
            return -1;
        }
        if (!v->raw && (has_control(v->value, 0) || !addr_utf8_valid(v->value, strlen(v->value)))) {
            snprintf(err, errlen, "value of {{%s}} has a control character or bad UTF-8: refused", v->name);
            buf_free(&line);
            return -1;
        }
        if (ctx == TPL_HTML && !v->raw)
            template_html_escape(dst, v->value);
        else
            buf_adds(dst, v->value);
    }
    if (ctx == TPL_HEADER) {
        /* A header template is one line; a trailing newline in the file is not part of it. */
        while (line.len > 0 && (line.p[line.len - 1] == '\n' || line.p[line.len - 1] == '\r'))
            line.p[--line.len] = '\0';
        int rc = line.oom ? -1 : header_encode(out, line.p ? line.p : "");
        buf_free(&line);
        if (rc < 0) {
            snprintf(err, errlen, "header value has CR, LF or another control character: refused");
            return -1;
        }
    }
    if (out->oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static void base64(struct buf *out, const unsigned char *s, size_t n)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        char q[4] = { b64[v >> 18], b64[(v >> 12) & 63], i + 1 < n ? b64[(v >> 6) & 63] : '=',
                      i + 2 < n ? b64[v & 63] : '=' };
        buf_add(out, q, 4);
    }
}

int header_encode(struct buf *out, const char *s)
{
    size_t len = strlen(s);
    int ascii = 1;

    if (has_control(s, 0) || !addr_utf8_valid(s, len))
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80)
            ascii = 0;
    /* Text that looks like an encoded word would be decoded by mail
     * programs into whatever the sender chose: encode it ourselves. */
    if (strstr(s, "=?"))
        ascii = 0;
    if (ascii) {
        buf_adds(out, s);
        return 0;
    }
    /* Encoded words of at most 45 input bytes (60 base64 characters, 72 with
     * the =?UTF-8?B?...?= frame; 30 bytes for the first, which follows the
     * header name), split on UTF-8 character boundaries and folded onto
     * continuation lines. */
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    int first = 1;
    while (p < end) {
        /* The first word shares its line with the header name ("Subject: "). */
        size_t chunk = first ? 30 : 45;
        const unsigned char *q = (size_t)(end - p) > chunk ? p + chunk : end;
        while (q < end && q > p && (*q & 0xc0) == 0x80)
            q--;
        if (!first)
            buf_adds(out, "\r\n ");
        buf_adds(out, "=?UTF-8?B?");
        base64(out, p, (size_t)(q - p));
        buf_adds(out, "?=");
        first = 0;
        p = q;
    }
    return 0;
}

void qp_encode(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int col = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n') {
            buf_adds(out, "\r\n");
            col = 0;
            continue;
        }
        if (*p == '\r')
            continue;
        const unsigned char *nx = p + 1;
        while (*nx == '\r')            /* CRs are dropped: look past them */
            nx++;
        int next_is_eol = *nx == '\n' || *nx == '\0';
        int plain = (*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !next_is_eol);
        /* Dots at the start of a line are plain text but SMTP-sensitive;
         * libesmtp stuffs them, so they stay. */
        int need = plain ? 1 : 3;
        if (col + need > 75) {
            buf_adds(out, "=\r\n");
            col = 0;
        }
        if (plain) {
            buf_add(out, (const char *)p, 1);
        } else {
            char e[3] = { '=', hex[*p >> 4], hex[*p & 15] };
            buf_add(out, e, 3);
        }
        col += need;
    }
}
