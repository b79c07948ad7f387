/*
 * lists - the admin page's list pages: protected recipients and their
 * guardians, rules, global rules, pending senders, the audit log, and the
 * search over the first four; keyset paging; the forms beside each row.
 *
 * Callers: guardlist-web.c (its pages[] table).  SECURITY: reads only, with
 * bound parameters; every query carries the user's scope (AUTH_SCOPE), so a
 * guardian's page never holds another family's rows; every value shown is
 * HTML-escaped (page.c).
 */
#include "web.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "spfword.h"
#include "store.h"
#include "template.h"

#define PAGE_MAX 500            /* [web] page_size at most */
#define LIMIT " LIMIT 501"      /* PAGE_MAX + 1: SQL text stays constant (lib/db.c caches by it) */
#define SEARCH_ROWS 20          /* rows of each list the search page shows */

struct list;

/* How a list shows a row: a cell per label (the query's columns 1..n;
 * column 0 is the row's id) of the kind KINDS says (one letter a label:
 * t text, v value; see enum page_cell), then, with LAST, the cells it
 * writes, headed by LAST_HEAD. */
struct columns {
    const char *page;           /* the list's own page, for its pager */
    const char *const *labels;
    const char *kinds;
    void (*last)(struct buf *b, const struct list *l, const char *const *col);
    const char *last_head;
};

struct list {
    const struct web *w;
    struct buf rows;
    int n;                      /* rows seen (one more than shown: there is a next page) */
    int limit;                  /* rows to show */
    char last[24];              /* id of the last row shown */
    const char *page;           /* for the row forms: where to come back */
    const struct columns *cols;
    const char *after;          /* the cursor for "id > ?": "0" on the first page */
    const char *admin;          /* "1" for an admin: the scope's first parameter */
    char like[3 * WEB_SEARCH_MAX + 4];      /* the search text as a LIKE pattern */
};

/* ------------------------------------------------------------ rows */

/* Counts the row; 1 if it is to be shown. */
static int list_take(struct list *l, const char *id)
{
    if (++l->n > l->limit)
        return 0;
    snprintf(l->last, sizeof(l->last), "%s", id);
    return 1;
}

/* db_query's row function for every list. */
static int row_list(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct list *l = arg;

    (void)len;
    if (!list_take(l, col[0]))
        return 0;
    buf_adds(&l->rows, "<tr>");
    for (int i = 0; l->cols->labels[i] && i + 1 < ncol; i++)
        page_cell(&l->rows, l->cols->labels[i],
                  l->cols->kinds[i] == 't' ? PAGE_TEXT : PAGE_VALUE,
                  col[i + 1]);
    if (l->cols->last)
        l->cols->last(&l->rows, l, col);
    buf_adds(&l->rows, "</tr>\n");
    return 0;
}

/* Protected: the guardians, a list (a form may sit in a list item, not in
 * a span), each removable by an admin. */
static void protected_guardians(struct buf *b, const struct list *l, const char *const *col)
{
    char e[ADDR_MAX + 2];

    buf_adds(b, "<ul class=\"guardians\">");
    for (const char *g = col[2]; *g; g += strspn(g, "\n")) {
        size_t n = strcspn(g, "\n");
        snprintf(e, sizeof(e), "%.*s", (int)(n < sizeof(e) - 1 ? n : sizeof(e) - 1), g);
        g += n;
        buf_adds(b, "<li>");
        template_html_escape(b, e);
        if (l->w->is_admin) {
            page_form_open(l->w, b, "guardian-rm", l->page, "inline");
            page_hidden(b, "key", col[1]);
            page_hidden(b, "email", e);
            buf_adds(b, "<button type=\"submit\" class=\"small\" title=\"Remove this guardian\">Remove</button></form>");
        }
        buf_adds(b, "</li>");
    }
    buf_adds(b, "</ul>");
}

/* Protected: the guardians, then the links and forms. */
static void protected_last(struct buf *b, const struct list *l, const char *const *col)
{
    buf_adds(b, "<td data-label=\"Guardians\" class=\"text\">");
    if (col[2])
        protected_guardians(b, l, col);
    else
        buf_adds(b, "<em>none: nobody is told of new senders</em>");
    buf_adds(b, "</td><td data-label=\"\" class=\"actions\">");
    buf_adds(b, "<a class=\"rules\" href=\"?p=rules&amp;r=");
    page_url_escape(b, col[1]);
    buf_adds(b, "\">Rules</a>");
    if (l->w->is_admin) {
        page_form_open(l->w, b, "guardian-add", l->page, "inline");
        page_hidden(b, "key", col[1]);
        buf_adds(b, "<input type=\"email\" name=\"email\" maxlength=\"254\" required placeholder=\"guardian@example.org\" "
                    "aria-label=\"Another guardian\"><button type=\"submit\">Add guardian</button></form>");
        page_form_open(l->w, b, "unprotect", l->page, "inline");
        page_hidden(b, "key", col[1]);
        buf_adds(b, "<button type=\"submit\" class=\"danger\">Stop protecting</button></form>");
    }
    buf_adds(b, "</td>");
}

static void rule_forms(struct buf *b, const struct list *l, const char *rcpt, const char *sender, const char *action)
{
    page_form_open(l->w, b, "rule-set", l->page, "inline");
    page_hidden(b, "rcpt", rcpt);
    page_hidden(b, "sender", sender);
    page_hidden(b, "kind", "action");
    buf_adds(b, "<input name=\"action\" maxlength=\"255\" required aria-label=\"Action\" value=\"");
    template_html_escape(b, action);
    buf_adds(b, "\"><button type=\"submit\">Save</button></form>");
    page_form_open(l->w, b, "rule-rm", l->page, "inline");
    page_hidden(b, "rcpt", rcpt);
    page_hidden(b, "sender", sender);
    buf_adds(b, "<button type=\"submit\" class=\"danger\">Remove</button></form>");
}

static void rule_last(struct buf *b, const struct list *l, const char *const *col)
{
    buf_adds(b, "<td data-label=\"\" class=\"actions\">");
    rule_forms(b, l, col[1], col[2], col[3]);
    buf_adds(b, "</td>");
}

static void global_last(struct buf *b, const struct list *l, const char *const *col)
{
    buf_adds(b, "<td data-label=\"\" class=\"actions\">");
    rule_forms(b, l, "", col[1], col[2]);
    buf_adds(b, "</td>");
}

/* Pending: who asked, in the words of the guardian's email: a sender who
 * wrote to the child, or the child's own request for a new contact (direction
 * 'out', issue 21), which no sender check concerns. */
static void pending_request(struct buf *b, const char *const *col, int out)
{
    buf_adds(b, "<td data-label=\"Request\" class=\"text\">");
    template_html_escape(b, out ? col[2] : col[1]);
    buf_adds(b, out ? " wants to write to " : " wrote to ");
    template_html_escape(b, out ? col[1] : col[2]);
    buf_adds(b, "</td>");
}

static void pending_last(struct buf *b, const struct list *l, const char *const *col)
{
    const char *at = strrchr(col[1], '@');
    int bounce = store_is_null_sender(col[1]);
    int out = col[8] && strcmp(col[8], "out") == 0;

    pending_request(b, col, out);
    /* The sender check in the words the guardian's email uses (lib/spfword.c),
     * so one who decides here knows what the email would have said. */
    page_cell(b, "Sender check", PAGE_VALUE, bounce || out ? "" : spfword_of(col[7]));
    buf_adds(b, "<td data-label=\"\" class=\"actions\">");
    if (bounce && !l->w->is_admin) {    /* allowing <> lets every bounce through: an admin's call */
        buf_adds(b, "<span class=\"note\">A bounce message (delivery report): only your mail administrator "
                    "can decide it.</span></td>");
        return;
    }
    page_form_open(l->w, b, "decide", l->page, "inline decide");
    page_hidden(b, "id", col[0]);
    buf_adds(b, out ? "<button type=\"submit\" name=\"how\" value=\"approve\">Allow contact</button>"
                    : "<button type=\"submit\" name=\"how\" value=\"approve\">Allow sender</button>");
    char why[300];
    /* Offered only where store.c would accept it (no public suffix, no
     * freemail domain). */
    if (at && at[1] && store_domain_approvable(col[1], why, sizeof(why))) {
        buf_adds(b, "<button type=\"submit\" name=\"how\" value=\"approve-domain\">Allow everyone at ");
        template_html_escape(b, at + 1);
        buf_adds(b, " and its subdomains</button>");
    }
    buf_adds(b, "<button type=\"submit\" name=\"how\" value=\"deny\">Deny</button>"
                "<button type=\"submit\" name=\"how\" value=\"block\" class=\"danger\">Block sender</button></form>");
    if (bounce)
        buf_adds(b, "<p class=\"note\">A bounce message (delivery report): allowing &lt;&gt; lets every bounce "
                    "message through to this recipient, from anyone.</p>");
    buf_adds(b, "</td>");
}

/* The buttons' column is headed for screen readers only. */
#define ACTIONS_HEAD "<th><span class=\"vh\">Actions</span></th>"

static const char *const protected_labels[] = { "Recipient", NULL };
static const char *const rule_labels[] = { "Recipient", "Sender", "Action", "By", NULL };
static const char *const global_labels[] = { "Sender", "Action", NULL };
static const char *const pending_labels[] = { "Sender", "Recipient", "Tries", "First seen", "Last seen", "From", NULL };
static const char *const audit_labels[] = { "When (UTC)", "Who", "What", "Detail", NULL };
static const struct columns protected_cols = { "protected", protected_labels, "v", protected_last,
                                               "<th>Guardians</th>" ACTIONS_HEAD };
static const struct columns rule_cols = { "rules", rule_labels, "vvtv", rule_last, ACTIONS_HEAD };
static const struct columns global_cols = { "global", global_labels, "vt", global_last, ACTIONS_HEAD };
static const struct columns pending_cols = { "pending", pending_labels, "vvvvvv", pending_last,
                                             "<th>Request</th><th>Sender check</th>" ACTIONS_HEAD };
static const struct columns audit_cols = { "audit", audit_labels, "vvvt", NULL, "" };

/* ------------------------------------------------------------ search and paging */

/* Key columns compare bytes and hold folded keys, so the search text is
 * folded the same way: "Kid" finds kid@family.test.  LIKE's own
 * characters are escaped with '!'. */
void lists_like_pattern(const char *q, char *out, size_t outlen)
{
    size_t o = 0;
    char folded[ADDR_MAX + 2];

    if (outlen < 3)
        return;
    if (addr_key_normalize(q, folded, sizeof(folded)) == 0)
        q = folded;
    out[o++] = '%';
    for (const char *p = q; *p && o + 4 < outlen; p++) {
        if (*p == '%' || *p == '_' || *p == '!')
            out[o++] = '!';
        out[o++] = *p;
    }
    out[o++] = '%';
    out[o] = '\0';
}

/* A number from the query (a cursor): digits only, else "". */
static const char *cursor_arg(const struct form *f, const char *name)
{
    const char *v = form_get(f, name);

    if (!v || !*v || strlen(v) > 20)
        return "";
    for (const char *p = v; *p; p++)
        if (!isdigit((unsigned char)*p))
            return "";
    return v;
}

int lists_read(struct lists_view *v, const struct form *f)
{
    v->q = web_field(f, "q");
    v->r = web_field(f, "r");
    v->after = cursor_arg(f, strcmp(v->page, "audit") == 0 ? "before" : "after");
    return strlen(v->q) > WEB_SEARCH_MAX || strlen(v->r) > ADDR_MAX ? -1 : 0;
}

/* The links under a list: the next page (keyset: rows after the last one
 * shown, so page 2,000 costs what page 1 does) and back to the first.  No
 * links, no <nav>: an empty landmark only clutters a screen reader's list. */
static void pager(struct buf *b, const struct list *l, const char *cursor_name, const char *cursor, const char *q,
                  const char *r)
{
    int first = cursor && *cursor, next_page = l->n > l->limit;

    if (!first && !next_page)
        return;
    buf_adds(b, "<nav class=\"pager\" aria-label=\"More of this list\">");
    for (int next = 0; next < 2; next++) {
        if (next ? !next_page : !first)
            continue;
        buf_addf(b, "<a %shref=\"?p=%s", next ? "rel=\"next\" " : "", l->cols->page);
        if (next)
            buf_addf(b, "&amp;%s=%s", cursor_name, l->last);
        if (q && *q) {
            buf_adds(b, "&amp;q=");
            page_url_escape(b, q);
        }
        if (r && *r) {
            buf_adds(b, "&amp;r=");
            page_url_escape(b, r);
        }
        buf_adds(b, next ? "\">Next page</a>" : "\">First page</a> ");
    }
    buf_adds(b, "</nav>");
}

/* On the search page, where several lists meet: the list's heading, and a
 * link to all matches when it shows only the first few. */
static void search_parts(struct buf *h2, struct buf *pg, const struct lists_view *v, const struct list *l,
                         const char *heading)
{
    buf_adds(h2, "<h2>");
    template_html_escape(h2, heading);
    buf_adds(h2, "</h2>");
    if (l->n > l->limit) {
        buf_adds(pg, "<nav class=\"pager\" aria-label=\"");      /* one a list: each its own name */
        template_html_escape(pg, heading);
        buf_addf(pg, ": all matches\"><a href=\"?p=%s&amp;q=", l->cols->page);
        page_url_escape(pg, v->q);
        buf_adds(pg, "\">All matches</a></nav>");
    }
}

/* How many columns a list's table has: its labels and LAST's headings. */
static int columns_count(const struct columns *c)
{
    int n = 0;

    while (c->labels[n])
        n++;
    for (const char *th = c->last_head; (th = strstr(th, "<th")) != NULL; th += 3)
        n++;
    return n;
}

/* Renders the list L as one section into OUT: HEADING (shown on the search
 * page; elsewhere the page's own title says it), INTRO, the FORMS above
 * the table, the rows or EMPTY, and the pager (CURSOR_NAME) except on the
 * search page.  Frees L's rows and FORMS.  Returns 0, or -1 if the
 * template failed. */
static int section(struct buf *out, const struct lists_view *v, struct list *l, const char *cursor_name,
                   const char *heading, const char *intro, struct buf *forms, const char *empty)
{
    struct buf h2 = { 0 }, none = { 0 }, head = { 0 }, pg = { 0 };

    if (strcmp(v->page, "search") == 0)
        search_parts(&h2, &pg, v, l, heading);
    else
        pager(&pg, l, cursor_name, v->after, v->q, l->cols == &rule_cols ? v->r : NULL);
    for (int i = 0; l->cols->labels[i]; i++)
        buf_addf(&head, "<th>%s</th>", l->cols->labels[i]);
    buf_adds(&head, l->cols->last_head);
    if (!l->n) {
        buf_addf(&none, "<tr><td class=\"empty\" colspan=\"%d\">", columns_count(l->cols));
        template_html_escape(&none, empty);
        buf_adds(&none, "</td></tr>");
    }
    struct page_section parts = { h2.p ? h2.p : "", intro, forms && forms->p ? forms->p : "", head.p,
                               l->n ? l->rows.p : none.p, pg.p ? pg.p : "" };
    int rc = page_section(&parts, out);
    buf_free(&h2);
    buf_free(&none);
    buf_free(&head);
    buf_free(&pg);
    buf_free(&l->rows);
    if (forms)
        buf_free(forms);
    return rc;
}

/* ------------------------------------------------------------ the lists */

/* Starts L, a list of COLS for the page V asks for, at most LIMIT rows. */
static void list_start(struct list *l, const struct web *w, const struct lists_view *v, int limit,
                       const struct columns *cols)
{
    *l = (struct list){ .w = w, .limit = limit, .page = v->page, .cols = cols,
                        .after = v->after[0] ? v->after : "0", .admin = w->is_admin ? "1" : "0" };
    lists_like_pattern(v->q, l->like, sizeof(l->like));
}

/* Runs the list's query into L.  Returns 0, or -1 with ERR set. */
static int list_query(struct list *l, const char *sql, const char *const *p, int n, char *err, size_t errlen)
{
    if (db_query(l->w->db, sql, p, n, row_list, l, err, errlen) < 0) {
        buf_free(&l->rows);
        return -1;
    }
    return 0;
}

int lists_protected(const struct web *w, const struct lists_view *v, int limit, struct buf *out, char *err,
                    size_t errlen)
{
    static const char sql[] = "SELECT p.id, p.recipient, (SELECT GROUP_CONCAT(g.email ORDER BY g.email SEPARATOR '\n') "
             "FROM guardians g WHERE g.recipient = p.recipient) "
             "FROM protected_users p WHERE p.id > ? AND " AUTH_SCOPE("p.recipient") " "
             "AND (? = '' OR p.recipient LIKE ? ESCAPE '!') ORDER BY p.id" LIMIT;
    struct list l;
    struct buf forms = { 0 };
    list_start(&l, w, v, limit, &protected_cols);
    const char *p[5] = { l.after, l.admin, w->user_key, v->q, l.like };

    if (list_query(&l, sql, p, 5, err, errlen) < 0)
        return -1;
    if (w->is_admin && strcmp(v->page, "search") != 0)
        page_form(w, PAGE_FORM_PROTECT, v->page, NULL, &forms);
    return section(out, v, &l, "after", "Protected recipients",
                   w->is_admin ? "Only senders on a recipient's rules reach them; guardians approve the others."
                               : "The recipients you guard. Only senders on their rules reach them.",
                   &forms, w->is_admin ? "Nothing is protected yet." : "You do not guard any recipient.");
}

struct options {
    struct buf *b;
    const char *preset;
};

static int row_option(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct options *o = arg;

    (void)ncol;
    (void)len;
    buf_adds(o->b, "<option value=\"");
    template_html_escape(o->b, col[0]);
    buf_adds(o->b, strcasecmp(col[0], o->preset) == 0 ? "\" selected>" : "\">");
    template_html_escape(o->b, col[0]);
    buf_adds(o->b, "</option>");
    return 0;
}

/* The recipient field of the add-rule form: free text for admins, the
 * recipients they guard for a guardian. */
static int recipient_choice(const struct web *w, struct buf *b, const char *preset, char *err, size_t errlen)
{
    if (w->is_admin) {
        buf_adds(b, "<label>Recipient <input name=\"rcpt\" maxlength=\"255\" required "
                    "placeholder=\"kid@example.org\" value=\"");
        template_html_escape(b, preset);
        buf_adds(b, "\"></label>");
        return 0;
    }
    struct options o = { b, preset };
    const char *p[1] = { w->user_key };
    buf_adds(b, "<label>Recipient <select name=\"rcpt\" required>");
    long long n = db_query(w->db, "SELECT DISTINCT recipient FROM guardians WHERE email" AUTH_BIN " = ? ORDER BY "
                           "recipient LIMIT 1000", p, 1, row_option, &o, err, errlen);
    buf_adds(b, "</select></label>");
    return n < 0 ? -1 : 0;
}

int lists_rules(const struct web *w, const struct lists_view *v, int limit, struct buf *out, char *err,
                size_t errlen)
{
    static const char sql[] = "SELECT id, recipient, sender, action, created_by FROM sender_rules "
             "WHERE id > ? AND " AUTH_SCOPE("recipient") " AND (? = '' OR recipient = ?) "
             "AND (? = '' OR sender LIKE ? ESCAPE '!' OR recipient LIKE ? ESCAPE '!') "
             "ORDER BY id" LIMIT;
    struct list l;
    struct buf forms = { 0 }, field = { 0 };
    char heading[ADDR_MAX + 40];
    list_start(&l, w, v, limit, &rule_cols);
    const char *p[8] = { l.after, l.admin, w->user_key, v->r, v->r, v->q, l.like, l.like };

    if (list_query(&l, sql, p, 8, err, errlen) < 0)
        return -1;
    if (strcmp(v->page, "search") != 0) {
        if (recipient_choice(w, &field, v->r, err, errlen) < 0) {
            buf_free(&l.rows);
            buf_free(&field);
            return -1;
        }
        page_form(w, PAGE_FORM_RULE, v->page, field.p, &forms);
        buf_free(&field);
    }
    snprintf(heading, sizeof(heading), "Rules%s%s", v->r[0] ? " for " : "", v->r);
    return section(out, v, &l, "after", heading, "Per-recipient rules: OK lets a sender through, REJECT refuses "
                   "it; a sender may be an address, user@ or a domain.", &forms, "No rules here yet.");
}

int lists_global(const struct web *w, const struct lists_view *v, int limit, struct buf *out, char *err,
                 size_t errlen)
{
    static const char sql[] = "SELECT id, sender, action FROM whitelist WHERE id > ? "
             "AND (? = '' OR sender LIKE ? ESCAPE '!') ORDER BY id" LIMIT;
    struct list l;
    struct buf forms = { 0 };
    list_start(&l, w, v, limit, &global_cols);
    const char *p[3] = { l.after, v->q, l.like };

    if (list_query(&l, sql, p, 3, err, errlen) < 0)
        return -1;
    if (strcmp(v->page, "search") != 0)
        page_form(w, PAGE_FORM_RULE, v->page, "<input type=\"hidden\" name=\"rcpt\" value=\"\">", &forms);
    return section(out, v, &l, "after", "Global rules",
                   "These apply to every protected recipient (the article's whitelist table).", &forms,
                   "No global rules yet.");
}

int lists_pending(const struct web *w, const struct lists_view *v, int limit, struct buf *out, char *err,
                  size_t errlen)
{
    static const char sql[] = "SELECT id, sender, recipient, attempts, first_seen, last_seen, client_address, "
             "spf_result, direction FROM challenges WHERE status = 'pending' AND id > ? AND " AUTH_SCOPE("protected_key") " "
             "AND (? = '' OR sender LIKE ? ESCAPE '!' OR recipient LIKE ? ESCAPE '!') "
             "ORDER BY id" LIMIT;
    struct list l;
    list_start(&l, w, v, limit, &pending_cols);
    const char *p[6] = { l.after, l.admin, w->user_key, v->q, l.like, l.like };

    if (list_query(&l, sql, p, 6, err, errlen) < 0)
        return -1;
    return section(out, v, &l, "after", "Pending senders", "Senders who tried to write and are waiting for a "
                   "decision, and children asking to write to a new contact (one approval allows both ways). "
                   "Allowing one lets their next retry through. Sender check: verified means the "
                   "sender's domain allows the server the email came from; not verified means the domain does not "
                   "say, so the address could be made up; not checked means guardlist did not check.", NULL,
                   "Nobody is waiting.");
}

int lists_audit(const struct web *w, const struct lists_view *v, int limit, struct buf *out, char *err,
                size_t errlen)
{
    static const char sql[] = "SELECT id, at, actor, action, detail FROM audit_log "
             "WHERE (? = '' OR id < ?) AND (? = '1' OR actor" AUTH_BIN " = ?) AND (? = '' OR detail LIKE ? ESCAPE '!') "
             "ORDER BY id DESC" LIMIT;
    struct list l;
    list_start(&l, w, v, limit, &audit_cols);
    const char *p[6] = { v->after, v->after, l.admin, w->actor, v->q, l.like };     /* id < ?: newest first */

    if (list_query(&l, sql, p, 6, err, errlen) < 0)
        return -1;
    return section(out, v, &l, "before", "Audit log", w->is_admin ? "Every change by a person, newest first."
                                                                  : "Your own changes, newest first.",
                   NULL, "Nothing yet.");
}

/* The search: the first SEARCH_ROWS matches of each list the user sees
 * (LIMIT, the page size, is for the lists' own pages). */
int lists_search(const struct web *w, const struct lists_view *v, int limit, struct buf *out, char *err,
                 size_t errlen)
{
    struct lists_view t = *v;
    int rc;

    (void)limit;
    t.after = "";
    if (!*v->q) {
        buf_adds(out, "<p>Type part of an address into the search box.</p>");
        return 0;
    }
    rc = lists_protected(w, &t, SEARCH_ROWS, out, err, errlen);
    if (rc == 0)
        rc = lists_rules(w, &t, SEARCH_ROWS, out, err, errlen);
    if (rc == 0 && w->is_admin)
        rc = lists_global(w, &t, SEARCH_ROWS, out, err, errlen);
    if (rc == 0)
        rc = lists_pending(w, &t, SEARCH_ROWS, out, err, errlen);
    return rc;
}
