/*
 * page - the admin page's layout and HTML: the templates, the whole page
 * with its tabs, message boxes, list sections, forms and the small pieces
 * (cells, hidden fields, query-string escaping) the lists are built from.
 *
 * Callers: every module of guardlist-web.  SECURITY: every value that is
 * not HTML this module or a template made is escaped here or by the
 * template (TPL_HTML); a template that fails to render never leaves a
 * half-written page: the answer falls back to cgi_unavailable().  The one
 * script (web-import.js, read at load) runs inline by its SHA-256 in the
 * Content-Security-Policy; no other script runs.
 */
#include "web.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cgi.h"
#include "crypto.h"
#include "log.h"
#include "template.h"

#define SCRIPT_MAX 8192
static char script[SCRIPT_MAX + 1];     /* web-import.js */
static char script_src[64];             /* 'sha256-BASE64' of it, for the CSP */

/* 'sha256-BASE64(SHA-256(script))' into script_src.  Returns 0 or -1. */
static int script_hash(size_t len)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char h[SHA256_LEN + 2] = { 0 };
    size_t o = (size_t)snprintf(script_src, sizeof(script_src), "'sha256-");

    if (crypto_sha256(script, len, h) < 0)
        return -1;
    for (size_t i = 0; i < SHA256_LEN; i += 3) {
        unsigned v = (unsigned)h[i] << 16 | (unsigned)h[i + 1] << 8 | h[i + 2];
        for (size_t k = 0; k < 4; k++)
            script_src[o++] = i + k <= SHA256_LEN ? b64[(v >> (18 - 6 * k)) & 63] : '=';
    }
    snprintf(script_src + o, sizeof(script_src) - o, "'");
    return 0;
}

/* Reads DIR/web-import.js, at most SCRIPT_MAX bytes.  Returns 0 or -1 (logged). */
static int script_load(const char *dir)
{
    char path[4200];
    size_t n = 0;

    script[0] = script_src[0] = '\0';
    snprintf(path, sizeof(path), "%s/web-import.js", dir);
    FILE *fp = fopen(path, "re");
    if (!fp) {
        log_error("%s: %s", path, strerror(errno));
        return -1;
    }
    n = fread(script, 1, SCRIPT_MAX + 1, fp);
    fclose(fp);
    if (n > SCRIPT_MAX || memchr(script, '\0', n) || strstr(script, "</")) {
        log_error("%s: longer than %d bytes, or holds a NUL or '</'", path, SCRIPT_MAX);
        script[0] = '\0';
        return -1;
    }
    script[n] = '\0';
    return script_hash(n);
}

void page_script(struct buf *b)
{
    buf_adds(b, "<script>");
    buf_adds(b, script);
    buf_adds(b, "</script>");
}

static const char *const page_names[] = { "title", "user", "role", "action", "nav", "q", "message", "body", NULL };
static const char *const list_names[] = { "heading", "intro", "forms", "head", "rows", "pager", NULL };
static const char *const form_names[] = { "action", "csrf", "page", "recipient_field", NULL };
static const char *const message_names[] = { "kind", "message", "detail", NULL };
static const char *const refused_names[] = { "reason", NULL };
static struct template *t_page, *t_list, *t_protect, *t_rule, *t_message, *t_refused;

static const struct template_file page_files[] = {
    { "web-page.html", page_names, &t_page }, { "web-list.html", list_names, &t_list },
    { "web-protect.html", form_names, &t_protect }, { "web-rule.html", form_names, &t_rule },
    { "web-message.html", message_names, &t_message }, { "web-refused.html", refused_names, &t_refused },
};
#define PAGE_NFILES (sizeof(page_files) / sizeof(page_files[0]))

int page_load(const char *dir)
{
    char err[4200];

    if (template_load_set(dir, page_files, PAGE_NFILES, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    return script_load(dir);
}

void page_unload(void)
{
    template_free_set(page_files, PAGE_NFILES);
}

void page_show(const struct web *w, int code, const char *title, const char *body, const char *message)
{
    struct buf out = { 0 }, nav = { 0 };
    char err[200];
    static const char *const tabs[][2] = {
        { "protected", "Protected" }, { "rules", "Rules" }, { "global", "Global rules" },
        { "pending", "Pending" }, { "audit", "Audit log" }, { "overview", "Overview" },
        { "import", "Import contacts" },
    };

    for (size_t i = 0; i < sizeof(tabs) / sizeof(tabs[0]); i++) {
        if (!w->is_admin && (strcmp(tabs[i][0], "global") == 0 || strcmp(tabs[i][0], "overview") == 0))
            continue;
        buf_addf(&nav, "<a href=\"?p=%s\">%s</a>", tabs[i][0], tabs[i][1]);
    }
    struct tpl_value v[8] = {
        { "title", title, 0 }, { "user", w->user, 0 }, { "role", w->is_admin ? "admin" : "guardian", 0 },
        { "action", w->script, 0 }, { "nav", nav.p ? nav.p : "", 1 }, { "q", w->q, 0 },
        { "message", message ? message : "", 1 }, { "body", body ? body : "", 1 },
    };
    if (!t_page || template_render(t_page, TPL_HTML, v, 8, &out, err, sizeof(err)) < 0 || out.oom) {
        buf_free(&out);
        buf_free(&nav);
        cgi_unavailable(w->io, code, NULL, w->head_only);
        return;
    }
    cgi_headers_scripts(w->io, code, script_src[0] ? script_src : NULL,
                        code == 405 ? "Allow: GET, HEAD, POST\r\n" : NULL);
    if (!w->head_only)
        cgi_write(w->io, out.p, out.len);
    buf_free(&out);
    buf_free(&nav);
}

void page_message(struct buf *out, const char *kind, const char *message, const char *detail)
{
    char err[200];
    struct tpl_value v[3] = { { "kind", kind, 0 }, { "message", message, 0 }, { "detail", detail ? detail : "", 0 } };
    struct buf m = { 0 };

    /* into its own buffer first: a failed render leaves no half-open tags */
    if (t_message && template_render(t_message, TPL_HTML, v, 3, &m, err, sizeof(err)) == 0 && m.p)
        buf_adds(out, m.p);
    else
        buf_adds(out, "<div class=\"msg error\" role=\"status\">(The message cannot be shown.)</div>");
    buf_free(&m);
}

void page_error(const struct web *w, int code, const char *title, const char *message, const char *detail)
{
    struct buf m = { 0 };

    page_message(&m, "error", message, detail);
    page_show(w, code, title, NULL, m.p);
    buf_free(&m);
}

void page_refused(const struct web *w, const char *reason)
{
    struct buf body = { 0 };
    char err[200];
    struct tpl_value v[1] = { { "reason", reason, 0 } };

    if (template_render(t_refused, TPL_HTML, v, 1, &body, err, sizeof(err)) < 0) {
        buf_free(&body);
        page_show(w, 403, "Login required", NULL, NULL);
        return;
    }
    page_show(w, 403, "Login required", body.p, NULL);
    buf_free(&body);
}

int page_form(const struct web *w, enum page_form which, const char *back, const char *rcpt_field,
              struct buf *out)
{
    char err[200];
    struct tpl_value v[4] = { { "action", w->script, 0 }, { "csrf", w->csrf, 0 }, { "page", back, 0 },
                              { "recipient_field", rcpt_field ? rcpt_field : "", 1 } };

    return template_render(which == PAGE_FORM_PROTECT ? t_protect : t_rule, TPL_HTML, v, 4, out, err,
                           sizeof(err));
}

int page_section(const struct page_section *l, struct buf *out)
{
    char err[200];
    struct tpl_value v[6] = {
        { "heading", l->heading, 1 }, { "intro", l->intro, 0 }, { "forms", l->forms, 1 },
        { "head", l->head, 1 }, { "rows", l->rows, 1 }, { "pager", l->pager, 1 },
    };

    return template_render(t_list, TPL_HTML, v, 6, out, err, sizeof(err));
}

void page_cell(struct buf *b, const char *label, enum page_cell kind, const char *text)
{
    buf_addf(b, "<td data-label=\"%s\"%s>", label, kind == PAGE_TEXT ? " class=\"text\"" : "");
    template_html_escape(b, text ? text : "");
    buf_adds(b, "</td>");
}

void page_hidden(struct buf *b, const char *name, const char *value)
{
    buf_addf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    template_html_escape(b, value);
    buf_adds(b, "\">");
}

void page_form_open(const struct web *w, struct buf *b, const char *what, const char *back, const char *cls)
{
    page_form_open_to(w, b, what, back, cls, NULL);
}

void page_form_open_to(const struct web *w, struct buf *b, const char *what, const char *back, const char *cls,
                       const char *query)
{
    buf_adds(b, "<form method=\"post\" action=\"");
    template_html_escape(b, w->script);
    if (query) {
        buf_adds(b, "?");
        template_html_escape(b, query);
    }
    buf_addf(b, "\" class=\"%s\">", cls);
    page_hidden(b, "do", what);
    page_hidden(b, "csrf", w->csrf);
    page_hidden(b, "p", back);
}

void page_url_escape(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~@", *p)) {
            buf_add(b, (const char *)p, 1);
        } else {
            char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
            buf_add(b, e, 3);
        }
    }
}
