/*
 * import - the admin page's address book import (issue 21): pick a child,
 * pick a vCard or CSV file (a few lines of script, templates/web-import.js,
 * put its text in the form's "book" field; it may be pasted too), see what
 * would be added or skipped, confirm.
 *
 * Callers: guardlist-web.c (the page "import", the POSTs contacts-preview
 * and contacts-import).  The file is read by lib/contacts.c and judged and
 * written by lib/contactplan.c, as `guardlist contacts import` does.
 * SECURITY: an admin imports for any protected child, a guardian only for a
 * child they guard (auth_may_manage()), asked again at the confirm; the
 * book is outside input, bounded (WEB_IMPORT_MAX) and refused whole when
 * the reader refuses it; the confirm parses and judges it again, and the
 * write is one transaction, so nothing is ever half imported.
 */
#include "web.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "contactplan.h"
#include "contacts.h"
#include "log.h"
#include "store.h"
#include "template.h"

#define TITLE "Import contacts"
#define SHOW_INVALID 50         /* invalid entries listed; the rest counted */

struct options {
    struct buf *b;
    const char *selected;
    int n;
};

static int option_row(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct options *o = arg;

    (void)len;
    if (ncol < 1 || !col[0])
        return 0;
    buf_addf(o->b, "<option%s>", strcmp(col[0], o->selected) == 0 ? " selected" : "");
    template_html_escape(o->b, col[0]);
    buf_adds(o->b, "</option>");
    o->n++;
    return 0;
}

/* The children W's user may import for, as <option>s into B (SELECTED
 * chosen).  Returns how many, or -1 with ERR. */
static int child_options(const struct web *w, const char *selected, struct buf *b, char *err, size_t errlen)
{
    /* Full addresses only: a child, not a domain or a user@ key. */
    static const char sql[] = "SELECT recipient FROM protected_users WHERE " AUTH_SCOPE("recipient") " "
                              "AND recipient LIKE '_%@_%' ORDER BY recipient LIMIT 1000";
    struct options o = { b, selected, 0 };
    const char *p[2] = { w->is_admin ? "1" : "0", w->user_key };

    if (db_query(w->db, sql, p, 2, option_row, &o, err, errlen) < 0)
        return -1;
    return o.n;
}

/* The pick form: child, file, the text it fills, Preview. */
static int pick_form(const struct web *w, const char *child, struct buf *out, char *err, size_t errlen)
{
    struct buf opts = { 0 };
    int n = child_options(w, child, &opts, err, errlen);

    if (n < 0) {
        buf_free(&opts);
        return -1;
    }
    buf_adds(out, "<section class=\"card\"><h2>" TITLE "</h2>");
    if (n == 0) {
        buf_adds(out, "<p class=\"note\">There is no protected child (a full address) you may import contacts "
                      "for.</p></section>");
        buf_free(&opts);
        return 0;
    }
    buf_addf(out, "<p class=\"note\">A child's existing address book (a vCard file, or a CSV export from Google, "
                  "Outlook or Thunderbird, at most %d MB, UTF-8) becomes the child's approved contacts: they may "
                  "write to the child and the child to them. Blocked addresses are left alone. You see what "
                  "would happen before anything is written.</p>", WEB_IMPORT_MAX / (1024 * 1024));
    page_form_open_to(w, out, "contacts-preview", "import", "import", WEB_IMPORT_QUERY);
    buf_adds(out, "<label>Child <select name=\"child\" id=\"import-child\">");
    buf_add(out, opts.p, opts.len);
    buf_addf(out, "</select></label>"
                  "<label>Address book file <input type=\"file\" id=\"import-file\" data-max=\"%d\" "
                  "accept=\".vcf,.vcard,.csv,.txt,text/vcard,text/csv,text/plain\"></label>"
                  "<p id=\"import-error\" class=\"msg error\" role=\"alert\" hidden></p>"
                  "<label>The file's text (filled in when you pick a file; you may paste it instead)"
                  "<textarea name=\"book\" id=\"import-book\" rows=\"8\" required></textarea></label>"
                  "<button type=\"submit\">Preview</button></form></section>", WEB_IMPORT_MAX);
    page_script(out);
    buf_free(&opts);
    return 0;
}

int import_show(const struct web *w, const struct lists_view *v, int limit, struct buf *out, char *err,
                size_t errlen)
{
    (void)limit;
    return pick_form(w, v->r, out, err, errlen);
}

/* The preview's table and the confirm form, into OUT. */
static void preview(const struct web *w, const struct contacts *c, const struct contactplan *p, const char *book,
                    struct buf *out)
{
    char line[900];

    buf_adds(out, "<section class=\"card\"><h2>Preview: contacts for ");
    template_html_escape(out, p->child);
    buf_addf(out, "</h2><p>%s, %zu address%s. Nothing is written until you confirm.</p>",
             c->format == CONTACTS_VCARD ? "vCard" : "CSV", c->n, c->n == 1 ? "" : "es");
    buf_adds(out, "<table id=\"import-preview\"><thead><tr><th>Address</th><th>Line</th><th>What happens</th>"
                  "</tr></thead><tbody>");
    for (size_t i = 0; i < c->n; i++) {
        char ln[24];
        snprintf(ln, sizeof(ln), "%lu", c->e[i].line);
        buf_adds(out, "<tr>");
        page_cell(out, "Address", PAGE_VALUE, c->e[i].addr);
        page_cell(out, "Line", PAGE_VALUE, ln);
        page_cell(out, "What happens", PAGE_TEXT, contactplan_word(p->v[i], 1));
        buf_adds(out, "</tr>");
    }
    buf_adds(out, "</tbody></table>");
    if (c->ninvalid) {
        buf_adds(out, "<h2>Skipped entries</h2><ul class=\"invalid\">");
        for (size_t i = 0; i < c->ninvalid && i < SHOW_INVALID; i++) {
            snprintf(line, sizeof(line), "line %lu: %s", c->bad[i].line, c->bad[i].why);
            buf_adds(out, "<li>");
            template_html_escape(out, line);
            buf_adds(out, "</li>");
        }
        if (c->ninvalid > SHOW_INVALID)
            buf_addf(out, "<li>... and %zu more</li>", c->ninvalid - SHOW_INVALID);
        buf_adds(out, "</ul>");
    }
    contactplan_summary(c, p, 0, 1, line, sizeof(line));
    buf_adds(out, "<p id=\"import-summary\">");
    template_html_escape(out, line);
    buf_adds(out, "</p>");
    if (p->add) {
        page_form_open_to(w, out, "contacts-import", "import", "inline", WEB_IMPORT_QUERY);
        page_hidden(out, "child", p->child);
        /* The same text again, checked again at the confirm; the newline
         * after the tag is the one a browser drops. */
        buf_adds(out, "<textarea name=\"book\" hidden>\n");
        template_html_escape(out, book);
        buf_addf(out, "</textarea><button type=\"submit\">Import %zu contact%s</button></form>", p->add,
                 p->add == 1 ? "" : "s");
    }
    buf_adds(out, "<a href=\"?p=import\">Start again</a></section>");
}

/* Reads the request's book and child into C and P, with the checks that
 * refuse it.  Returns 200, or the HTTP status with MSG saying why. */
static int read_book(const struct web *w, const struct form *f, struct contacts *c, struct contactplan *p,
                     char *msg, size_t msglen)
{
    char err[600], key[ADDR_MAX + 2];
    enum addr_key_kind kind;

    if (addr_key_check(web_field(f, "child"), 0, key, sizeof(key), &kind, err, sizeof(err)) < 0
        || kind != AK_ADDRESS) {
        snprintf(msg, msglen, "Please pick the child from the list.");
        return 400;
    }
    int may = auth_may_manage(w, key, err, sizeof(err));
    if (may <= 0) {
        if (may < 0)
            log_error("import: %s", err);
        snprintf(msg, msglen, may < 0 ? "This cannot be done right now. Please try again later."
                                      : "You may only import contacts for a child you guard.");
        return may < 0 ? 503 : 403;
    }
    if (!f->text || f->text_len == 0) {
        snprintf(msg, msglen, "Please pick an address book file (or paste its text).");
        return 400;
    }
    if (f->text_len > WEB_IMPORT_MAX) {
        snprintf(msg, msglen, "The address book is larger than %d MB; nothing was imported.",
                 WEB_IMPORT_MAX / (1024 * 1024));
        return 413;
    }
    if (contacts_parse(f->text, f->text_len, CONTACTS_GUESS, c, err, sizeof(err)) < 0) {
        snprintf(msg, msglen, "This address book cannot be imported: %s. Nothing was imported.", err);
        return 400;
    }
    int rc = contactplan_make(w->db, w->cfg, key, c, p, err, sizeof(err));
    if (rc < 0) {
        contacts_free(c);
        if (rc == CONTACTPLAN_ERROR)
            log_error("import: %s", err);
        snprintf(msg, msglen, "%s", rc == CONTACTPLAN_ERROR ? "This cannot be done right now. Please try again "
                 "later." : err);
        return rc == CONTACTPLAN_ERROR ? 503 : 400;
    }
    return 200;
}

/* The confirm: P's new contacts written.  Returns the status, MSG says what happened. */
static int write_book(const struct web *w, const struct contacts *c, const struct contactplan *p, char *msg,
                      size_t msglen)
{
    char err[600], summary[800];
    size_t added = 0;

    int rc = p->add ? contactplan_write(w->db, w->actor, c, p, &added, err, sizeof(err)) : STORE_DONE;
    if (rc == STORE_DONE) {
        contactplan_summary(c, p, added, 0, summary, sizeof(summary));
        snprintf(msg, msglen, "Contacts for %s: %s.", p->child, summary);
        return 200;
    }
    if (rc == STORE_ERROR)
        log_error("import for %s: %s", p->child, err);
    snprintf(msg, msglen, "Nothing was imported: %s", rc == STORE_ERROR ? "the database failed. Please try again "
             "later." : err);
    return rc == STORE_ERROR ? 503 : 409;
}

void import_post(const struct web *w, const struct form *f, int confirm)
{
    char msg[1200], printable[1400], err[800];
    struct contacts c;
    struct contactplan p;
    struct buf body = { 0 }, m = { 0 };

    int code = read_book(w, f, &c, &p, msg, sizeof(msg));
    int have = code == 200;     /* C and P are filled */
    if (have && !confirm) {
        preview(w, &c, &p, f->text, &body);
        page_show(w, 200, TITLE, body.p, NULL);
    } else {
        if (have)
            code = write_book(w, &c, &p, msg, sizeof(msg));
        log_info("user %s: %s", w->user, log_printable(printable, sizeof(printable), msg));
        page_message(&m, code == 200 ? "done" : "error", msg, NULL);
        if (pick_form(w, code == 200 ? "" : web_field(f, "child"), &body, err, sizeof(err)) < 0) {
            log_error("%s", log_printable(printable, sizeof(printable), err));
            buf_free(&body);
        }
        page_show(w, code, TITLE, body.p, m.p);
    }
    if (have) {
        contactplan_free(&p);
        contacts_free(&c);
    }
    buf_free(&body);
    buf_free(&m);
}
