/*
 * guardlist-web - the household's admin page: a CGI program behind the web
 * server's login (the article's whitelist.php, done safely).
 *
 * Pages (GET ?p=...): protected recipients and their guardians, rules for
 * one recipient, global rules, the pending queue, the audit log, and a
 * search over the first three.  Changes (POST do=...) go through
 * lib/store.c, the CLI's own code, each with its audit row naming the user.
 *
 * SECURITY: nobody is served without a REMOTE_USER from the web server's
 * authentication.  With [web] admins set, any other user is a guardian and
 * sees and changes only the recipients they guard (guardians.email equals
 * their user name).  A change needs POST and a form token: an HMAC of the
 * user and the time under [web] secret_file, so a page of another site,
 * another user's token or a stale token changes nothing.  Input is bounded
 * and strictly parsed (lib/cgi.c, lib/form.c, lib/addr.c through store);
 * every value on a page is HTML-escaped; SQL only with bound parameters.
 */
#include "addr.h"
#include "buf.h"
#include "cgi.h"
#include "config.h"
#include "db.h"
#include "form.h"
#include "crypto.h"
#include "store.h"
#include "template.h"
#include "token.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define VERSION "0.1.0"
#define QUERY_MAX 1024
#define BODY_MAX 4096
#define USER_MAX 128
#define SECRET_MIN 16
#define CSRF_MAX_AGE (12 * 3600)     /* a page left open over a working day still works */
#define CSRF_SKEW 300
#define SEARCH_MAX 100
#define PAGE_MAX 500             /* [web] page_size at most */
#define LIMIT " LIMIT 501"      /* PAGE_MAX + 1: SQL text stays constant (lib/db.c caches by it) */

static struct config cfg;
static int head_only;
static char user[USER_MAX + 1];
static char user_key[USER_MAX + 1];     /* USER in lower case: guardians.email is stored so */
static char actor[USER_MAX + 8];
static int is_admin;
static const char *script = "";
static char secret[CONFIG_STR_MAX];
static struct db *db;
static char csrf[24 + 2 * SHA256_LEN];
static const char *cur_q = "";      /* the search text, shown again in the box */

static const char *const page_names[] = { "title", "user", "role", "action", "nav", "q", "message", "body", NULL };
static const char *const list_names[] = { "heading", "intro", "forms", "head", "rows", "pager", NULL };
static const char *const form_names[] = { "action", "csrf", "page", "recipient_field", NULL };
static const char *const message_names[] = { "kind", "message", "detail", NULL };
static const char *const refused_names[] = { "reason", NULL };
static struct template *t_page, *t_list, *t_protect, *t_rule, *t_message, *t_refused;

/* ------------------------------------------------------------ output */

/* A whole page with the layout; BODY and MESSAGE are HTML already escaped. */
static int page(int code, const char *title, const char *body, const char *message)
{
    struct buf out = { 0 }, nav = { 0 };
    char err[200];
    static const char *const tabs[][2] = {
        { "protected", "Protected" }, { "rules", "Rules" }, { "global", "Global rules" },
        { "pending", "Pending" }, { "audit", "Audit log" },
    };

    for (size_t i = 0; i < sizeof(tabs) / sizeof(tabs[0]); i++) {
        if (!is_admin && strcmp(tabs[i][0], "global") == 0)
            continue;
        buf_addf(&nav, "<a href=\"?p=%s\">%s</a>", tabs[i][0], tabs[i][1]);
    }
    const char *q = cur_q;
    struct tpl_value v[8] = {
        { "title", title, 0 }, { "user", user, 0 }, { "role", is_admin ? "admin" : "guardian", 0 },
        { "action", script, 0 }, { "nav", nav.p ? nav.p : "", 1 }, { "q", q, 0 },
        { "message", message ? message : "", 1 }, { "body", body ? body : "", 1 },
    };
    if (!t_page || template_render(t_page, TPL_HTML, v, 8, &out, err, sizeof(err)) < 0 || out.oom) {
        buf_free(&out);
        buf_free(&nav);
        cgi_unavailable(code, NULL, head_only);
        return 0;
    }
    cgi_headers(code, code == 405 ? "Allow: GET, HEAD, POST\r\n" : NULL);
    if (!head_only)
        fwrite(out.p, 1, out.len, stdout);
    buf_free(&out);
    buf_free(&nav);
    return 0;
}

/* A message box (KIND: done, error) appended to OUT. */
static void message_box(struct buf *out, const char *kind, const char *message, const char *detail)
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

static int error_page(int code, const char *title, const char *message, const char *detail)
{
    struct buf m = { 0 };

    message_box(&m, "error", message, detail);
    page(code, title, NULL, m.p);
    buf_free(&m);
    return 0;
}

/* ------------------------------------------------------------ identity and tokens */

/* A user name from the web server: 1..USER_MAX bytes of letters, digits and
 * . _ @ + - (an account or an email address); anything else is refused. */
static int user_ok(const char *u)
{
    size_t n = u ? strlen(u) : 0;

    if (n == 0 || n > USER_MAX)
        return 0;
    for (const char *p = u; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._@+-", *p))
            return 0;
    return 1;
}

/* 1 if U is in the comma- or space-separated LIST. */
static int in_list(const char *list, const char *u)
{
    size_t n = strlen(u);

    for (const char *p = list; *p;) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (len == n && strncmp(p, u, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

static void csrf_make(long long ts, char *out, size_t outlen)
{
    char msg[USER_MAX + 64], hex[2 * SHA256_LEN + 1];
    unsigned char mac[SHA256_LEN];
    int n = snprintf(msg, sizeof(msg), "guardlist-web form\n%s\n%lld", user, ts);

    /* A failed HMAC gives an empty token, which csrf_ok() never accepts. */
    if (n < 0 || (size_t)n >= sizeof(msg)
        || crypto_hmac_sha256(secret, strlen(secret), msg, (size_t)n, mac) < 0) {
        snprintf(out, outlen, "%s", "");
        return;
    }
    hex_encode(mac, SHA256_LEN, hex);
    snprintf(out, outlen, "%lld.%s", ts, hex);
}

/* 1 if T is a token this program made for this user, not too old. */
static int csrf_ok(const char *t)
{
    char want[sizeof(csrf)];
    char *end;
    long long ts, now = (long long)time(NULL);

    if (!t || !isdigit((unsigned char)t[0]) || strlen(t) > sizeof(want) - 1)
        return 0;
    ts = strtoll(t, &end, 10);
    if (*end != '.' || strlen(end + 1) != 2 * SHA256_LEN || ts < now - CSRF_MAX_AGE || ts > now + CSRF_SKEW)
        return 0;
    csrf_make(ts, want, sizeof(want));
    return want[0] && strlen(want) == strlen(t) && crypto_equal(want, t, strlen(t));
}

/* ------------------------------------------------------------ scope */

/* Keys are compared byte for byte, as guardlistd compares them.  The key
 * columns are utf8mb4_bin since schema version 5; BIN keeps the comparison
 * byte for byte on a database not migrated yet (utf8mb4_general_ci took
 * "kiss@" for "kiß@" and "anna@" for "änna@") and for audit_log.actor. */
#define BIN " COLLATE utf8mb4_bin"

/* 1 if this user may see and change protected key KEY (in its stored form). */
static int may_manage(const char *key, char *err, size_t errlen)
{
    long long n = 0;
    const char *p[2] = { key, user_key };

    if (is_admin)
        return 1;
    if (db_query_number(db, "SELECT COUNT(*) FROM guardians WHERE recipient" BIN " = ? AND email" BIN " = ?",
                        p, 2, &n, err, errlen) < 0)
        return -1;
    return n > 0;
}

/* The scope condition on a recipient-key column COL, for SQL: binds two
 * parameters (is admin, user_key). */
#define SCOPE(col) "(? = '1' OR " col BIN " IN (SELECT recipient" BIN " FROM guardians WHERE email" BIN " = ?))"

/* ------------------------------------------------------------ lists */

struct list;

/* How a list shows a row: a cell per label (the query's columns 1..n;
 * column 0 is the row's id), then, with LAST, the cells it writes, headed
 * by LAST_HEAD. */
struct columns {
    const char *page;           /* the list's own page, for its pager */
    const char *const *labels;
    void (*last)(struct buf *b, const struct list *l, const char *const *col);
    const char *last_head;
};

struct list {
    struct buf rows;
    int n;                      /* rows seen (one more than shown: there is a next page) */
    int limit;                  /* rows to show */
    char last[24];              /* id of the last row shown */
    const char *page;           /* for the row forms: where to come back */
    const struct columns *cols;
};

struct show {
    const char *page;       /* protected, rules, global, pending, audit, search */
    const char *q;          /* search text, may be "" */
    const char *r;          /* rules: one recipient, may be "" */
    const char *after;      /* cursor */
};

/* Appends S %-encoded for a query string: only unreserved characters stay,
 * so the result is plain ASCII that needs no HTML escaping either. */
static void url_escape(struct buf *b, const char *s)
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

static void cell(struct buf *b, const char *label, const char *text)
{
    buf_addf(b, "<td data-label=\"%s\">", label);
    html_escape(b, text ? text : "");
    buf_adds(b, "</td>");
}

static void hidden(struct buf *b, const char *name, const char *value)
{
    buf_addf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    html_escape(b, value);
    buf_adds(b, "\">");
}

/* The start of a POST form doing DO, with the token and the page to come back to. */
static void form_open(struct buf *b, const char *what, const char *back, const char *cls)
{
    buf_adds(b, "<form method=\"post\" action=\"");
    html_escape(b, script);
    buf_addf(b, "\" class=\"%s\">", cls);
    hidden(b, "do", what);
    hidden(b, "csrf", csrf);
    hidden(b, "p", back);
}

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
        cell(&l->rows, l->cols->labels[i], col[i + 1]);
    if (l->cols->last)
        l->cols->last(&l->rows, l, col);
    buf_adds(&l->rows, "</tr>\n");
    return 0;
}

/* Protected: the guardians (each removable by an admin), then the links and forms. */
static void protected_last(struct buf *b, const struct list *l, const char *const *col)
{
    buf_adds(b, "<td data-label=\"Guardians\">");
    if (col[2]) {
        char e[ADDR_MAX + 2];
        for (const char *g = col[2]; *g; g += strspn(g, "\n")) {
            size_t n = strcspn(g, "\n");
            snprintf(e, sizeof(e), "%.*s", (int)(n < sizeof(e) - 1 ? n : sizeof(e) - 1), g);
            g += n;
            buf_adds(b, "<span class=\"guardian\">");
            html_escape(b, e);
            if (is_admin) {
                form_open(b, "guardian-rm", l->page, "inline");
                hidden(b, "key", col[1]);
                hidden(b, "email", e);
                buf_adds(b, "<button type=\"submit\" class=\"small\" title=\"Remove this guardian\">Remove</button></form>");
            }
            buf_adds(b, "</span> ");
        }
    } else {
        buf_adds(b, "<em>none: nobody is told of new senders</em>");
    }
    buf_adds(b, "</td><td data-label=\"\">");
    buf_adds(b, "<a href=\"?p=rules&amp;r=");
    url_escape(b, col[1]);
    buf_adds(b, "\">Rules</a>");
    if (is_admin) {
        form_open(b, "guardian-add", l->page, "inline");
        hidden(b, "key", col[1]);
        buf_adds(b, "<input type=\"email\" name=\"email\" maxlength=\"254\" required placeholder=\"guardian@example.org\" "
                    "aria-label=\"Another guardian\"><button type=\"submit\">Add guardian</button></form>");
        form_open(b, "unprotect", l->page, "inline");
        hidden(b, "key", col[1]);
        buf_adds(b, "<button type=\"submit\" class=\"danger\">Stop protecting</button></form>");
    }
    buf_adds(b, "</td>");
}

static void rule_forms(struct buf *b, const char *back, const char *rcpt, const char *sender, const char *action)
{
    form_open(b, "rule-set", back, "inline");
    hidden(b, "rcpt", rcpt);
    hidden(b, "sender", sender);
    hidden(b, "kind", "action");
    buf_adds(b, "<input name=\"action\" maxlength=\"255\" required aria-label=\"Action\" value=\"");
    html_escape(b, action);
    buf_adds(b, "\"><button type=\"submit\">Save</button></form>");
    form_open(b, "rule-rm", back, "inline");
    hidden(b, "rcpt", rcpt);
    hidden(b, "sender", sender);
    buf_adds(b, "<button type=\"submit\" class=\"danger\">Remove</button></form>");
}

static void rule_last(struct buf *b, const struct list *l, const char *const *col)
{
    buf_adds(b, "<td data-label=\"\">");
    rule_forms(b, l->page, col[1], col[2], col[3]);
    buf_adds(b, "</td>");
}

static void global_last(struct buf *b, const struct list *l, const char *const *col)
{
    buf_adds(b, "<td data-label=\"\">");
    rule_forms(b, l->page, "", col[1], col[2]);
    buf_adds(b, "</td>");
}

static void pending_last(struct buf *b, const struct list *l, const char *const *col)
{
    const char *at = strrchr(col[1], '@');
    int bounce = store_is_null_sender(col[1]);

    buf_adds(b, "<td data-label=\"\">");
    if (bounce && !is_admin) {      /* allowing <> lets every bounce through: an admin's call */
        buf_adds(b, "<span class=\"note\">A bounce message (delivery report): only your mail administrator "
                    "can decide it.</span></td>");
        return;
    }
    form_open(b, "decide", l->page, "inline");
    hidden(b, "id", col[0]);
    buf_adds(b, "<button type=\"submit\" name=\"how\" value=\"approve\">Allow sender</button>");
    if (at && at[1]) {
        buf_adds(b, "<button type=\"submit\" name=\"how\" value=\"approve-domain\">Allow everyone at ");
        html_escape(b, at + 1);
        buf_adds(b, "</button>");
    }
    buf_adds(b, "<button type=\"submit\" name=\"how\" value=\"deny\">Deny</button>"
                "<button type=\"submit\" name=\"how\" value=\"block\" class=\"danger\">Block sender</button></form>");
    if (bounce)
        buf_adds(b, "<p class=\"note\">A bounce message (delivery report): allowing &lt;&gt; lets every bounce "
                    "message through to this recipient, from anyone.</p>");
    buf_adds(b, "</td>");
}

static const char *const protected_labels[] = { "Recipient", NULL };
static const char *const rule_labels[] = { "Recipient", "Sender", "Action", "By", NULL };
static const char *const global_labels[] = { "Sender", "Action", NULL };
static const char *const pending_labels[] = { "Sender", "Recipient", "Tries", "First seen", "Last seen", "From", NULL };
static const char *const audit_labels[] = { "When (UTC)", "Who", "What", "Detail", NULL };
static const struct columns protected_cols = { "protected", protected_labels, protected_last,
                                               "<th>Guardians</th><th></th>" };
static const struct columns rule_cols = { "rules", rule_labels, rule_last, "<th></th>" };
static const struct columns global_cols = { "global", global_labels, global_last, "<th></th>" };
static const struct columns pending_cols = { "pending", pending_labels, pending_last, "<th></th>" };
static const struct columns audit_cols = { "audit", audit_labels, NULL, "" };

/* "%q%" with LIKE's own characters escaped (ESCAPE '!').  Key columns
 * compare bytes and hold folded keys, so the search text is folded the same
 * way: "Kid" finds kid@family.test. */
static void like_pattern(const char *q, char *out, size_t outlen)
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

/* The links under a list: the next page (keyset: rows after the last one
 * shown, so page 2,000 costs what page 1 does) and back to the first. */
static void pager(struct buf *b, const struct list *l, const char *pagename, const char *cursor_name,
                  const char *cursor, const char *q, const char *r)
{
    buf_adds(b, "<nav class=\"pager\">");
    for (int next = 0; next < 2; next++) {
        if (next ? l->n <= l->limit : !(cursor && *cursor))
            continue;
        buf_addf(b, "<a %shref=\"?p=%s", next ? "rel=\"next\" " : "", pagename);
        if (next)
            buf_addf(b, "&amp;%s=%s", cursor_name, l->last);
        if (q && *q) {
            buf_adds(b, "&amp;q=");
            url_escape(b, q);
        }
        if (r && *r) {
            buf_adds(b, "&amp;r=");
            url_escape(b, r);
        }
        buf_adds(b, next ? "\">Next page</a>" : "\">First page</a> ");
    }
    buf_adds(b, "</nav>");
}

/* Renders the list L as one section into OUT: HEADING (shown on the search
 * page, where several lists meet), INTRO, the FORMS above the table, the
 * rows or EMPTY, and the pager (CURSOR_NAME) except on the search page.
 * Frees L's rows and FORMS.  Returns 0, or -1 if the template failed. */
static int section(struct buf *out, const struct show *s, struct list *l, const char *cursor_name,
                   const char *heading, const char *intro, struct buf *forms, const char *empty)
{
    char err[200];
    struct buf h2 = { 0 }, none = { 0 }, head = { 0 }, pg = { 0 };
    int search = strcmp(s->page, "search") == 0;

    if (search) {       /* elsewhere the page's own title says it */
        buf_adds(&h2, "<h2>");
        html_escape(&h2, heading);
        buf_adds(&h2, "</h2>");
        if (l->n > l->limit) {      /* the search shows the first few of each list */
            buf_addf(&pg, "<nav class=\"pager\"><a href=\"?p=%s&amp;q=", l->cols->page);
            url_escape(&pg, s->q);
            buf_adds(&pg, "\">All matches</a></nav>");
        }
    } else {
        pager(&pg, l, l->cols->page, cursor_name, s->after, s->q, l->cols == &rule_cols ? s->r : NULL);
    }
    for (int i = 0; l->cols->labels[i]; i++)
        buf_addf(&head, "<th>%s</th>", l->cols->labels[i]);
    buf_adds(&head, l->cols->last_head);
    if (!l->n) {
        buf_adds(&none, "<tr><td class=\"empty\" colspan=\"7\">");
        html_escape(&none, empty);
        buf_adds(&none, "</td></tr>");
    }
    struct tpl_value v[6] = {
        { "heading", h2.p ? h2.p : "", 1 }, { "intro", intro, 0 }, { "forms", forms && forms->p ? forms->p : "", 1 },
        { "head", head.p, 1 }, { "rows", l->n ? l->rows.p : none.p, 1 }, { "pager", pg.p ? pg.p : "", 1 },
    };
    int rc = template_render(t_list, TPL_HTML, v, 6, out, err, sizeof(err));
    buf_free(&h2);
    buf_free(&none);
    buf_free(&head);
    buf_free(&pg);
    buf_free(&l->rows);
    if (forms)
        buf_free(forms);
    return rc;
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

static int render_form(const struct template *t, const char *back, const char *rcpt_field, struct buf *out)
{
    char err[200];
    struct tpl_value v[4] = { { "action", script, 0 }, { "csrf", csrf, 0 }, { "page", back, 0 },
                              { "recipient_field", rcpt_field ? rcpt_field : "", 1 } };

    return template_render(t, TPL_HTML, v, 4, out, err, sizeof(err));
}


/* Runs the list's query into L.  Returns 0, or -1 with ERR set. */
static int list_query(struct list *l, const char *sql, const char *const *p, int n, char *err, size_t errlen)
{
    if (db_query(db, sql, p, n, row_list, l, err, errlen) < 0) {
        buf_free(&l->rows);
        return -1;
    }
    return 0;
}

static int list_protected(struct buf *out, const struct show *s, int limit, char *err, size_t errlen)
{
    static const char sql[] = "SELECT p.id, p.recipient, (SELECT GROUP_CONCAT(g.email ORDER BY g.email SEPARATOR '\n') "
             "FROM guardians g WHERE g.recipient = p.recipient) "
             "FROM protected_users p WHERE p.id > ? AND " SCOPE("p.recipient") " "
             "AND (? = '' OR p.recipient LIKE ? ESCAPE '!') ORDER BY p.id" LIMIT;
    struct list l = { .limit = limit, .page = s->page, .cols = &protected_cols };
    struct buf forms = { 0 };
    char like[3 * SEARCH_MAX + 4];
    like_pattern(s->q, like, sizeof(like));
    const char *p[5] = { s->after[0] ? s->after : "0", is_admin ? "1" : "0", user_key, s->q, like };

    if (list_query(&l, sql, p, 5, err, errlen) < 0)
        return -1;
    if (is_admin && strcmp(s->page, "search") != 0)
        render_form(t_protect, s->page, NULL, &forms);
    return section(out, s, &l, "after", "Protected recipients",
                   is_admin ? "Only senders on a recipient's rules reach them; guardians approve the others."
                            : "The recipients you guard. Only senders on their rules reach them.",
                   &forms, is_admin ? "Nothing is protected yet." : "You do not guard any recipient.");
}

/* The recipient field of the add-rule form: free text for admins, the
 * recipients they guard for a guardian. */
static int recipient_choice(struct buf *b, const char *preset, char *err, size_t errlen);

static int list_rules(struct buf *out, const struct show *s, int limit, char *err, size_t errlen)
{
    static const char sql[] = "SELECT id, recipient, sender, action, created_by FROM sender_rules "
             "WHERE id > ? AND " SCOPE("recipient") " AND (? = '' OR recipient = ?) "
             "AND (? = '' OR sender LIKE ? ESCAPE '!' OR recipient LIKE ? ESCAPE '!') "
             "ORDER BY id" LIMIT;
    struct list l = { .limit = limit, .page = s->page, .cols = &rule_cols };
    struct buf forms = { 0 }, field = { 0 };
    char like[3 * SEARCH_MAX + 4], heading[ADDR_MAX + 40];
    like_pattern(s->q, like, sizeof(like));
    const char *p[8] = { s->after[0] ? s->after : "0", is_admin ? "1" : "0", user_key, s->r, s->r, s->q, like, like };

    if (list_query(&l, sql, p, 8, err, errlen) < 0)
        return -1;
    if (strcmp(s->page, "search") != 0) {
        if (recipient_choice(&field, s->r, err, errlen) < 0) {
            buf_free(&l.rows);
            buf_free(&field);
            return -1;
        }
        render_form(t_rule, s->page, field.p, &forms);
        buf_free(&field);
    }
    snprintf(heading, sizeof(heading), "Rules%s%s", s->r[0] ? " for " : "", s->r);
    return section(out, s, &l, "after", heading, "Per-recipient rules: OK lets a sender through, REJECT refuses "
                   "it; a sender may be an address, user@ or a domain.", &forms, "No rules here yet.");
}

static int list_global(struct buf *out, const struct show *s, int limit, char *err, size_t errlen)
{
    static const char sql[] = "SELECT id, sender, action FROM whitelist WHERE id > ? "
             "AND (? = '' OR sender LIKE ? ESCAPE '!') ORDER BY id" LIMIT;
    struct list l = { .limit = limit, .page = s->page, .cols = &global_cols };
    struct buf forms = { 0 };
    char like[3 * SEARCH_MAX + 4];
    like_pattern(s->q, like, sizeof(like));
    const char *p[3] = { s->after[0] ? s->after : "0", s->q, like };

    if (list_query(&l, sql, p, 3, err, errlen) < 0)
        return -1;
    if (strcmp(s->page, "search") != 0)
        render_form(t_rule, s->page, "<input type=\"hidden\" name=\"rcpt\" value=\"\">", &forms);
    return section(out, s, &l, "after", "Global rules",
                   "These apply to every protected recipient (the article's whitelist table).", &forms,
                   "No global rules yet.");
}

static int list_pending(struct buf *out, const struct show *s, int limit, char *err, size_t errlen)
{
    static const char sql[] = "SELECT id, sender, recipient, attempts, first_seen, last_seen, client_address "
             "FROM challenges WHERE status = 'pending' AND id > ? AND " SCOPE("protected_key") " "
             "AND (? = '' OR sender LIKE ? ESCAPE '!' OR recipient LIKE ? ESCAPE '!') "
             "ORDER BY id" LIMIT;
    struct list l = { .limit = limit, .page = s->page, .cols = &pending_cols };
    char like[3 * SEARCH_MAX + 4];
    like_pattern(s->q, like, sizeof(like));
    const char *p[6] = { s->after[0] ? s->after : "0", is_admin ? "1" : "0", user_key, s->q, like, like };

    if (list_query(&l, sql, p, 6, err, errlen) < 0)
        return -1;
    return section(out, s, &l, "after", "Pending senders", "Senders who tried to write and are waiting for a "
                   "decision. Allowing one lets their next retry through.", NULL, "Nobody is waiting.");
}

static int list_audit(struct buf *out, const struct show *s, int limit, char *err, size_t errlen)
{
    static const char sql[] = "SELECT id, at, actor, action, detail FROM audit_log "
             "WHERE (? = '' OR id < ?) AND (? = '1' OR actor" BIN " = ?) AND (? = '' OR detail LIKE ? ESCAPE '!') "
             "ORDER BY id DESC" LIMIT;
    struct list l = { .limit = limit, .page = s->page, .cols = &audit_cols };
    char like[3 * SEARCH_MAX + 4], me[USER_MAX + 8];
    like_pattern(s->q, like, sizeof(like));
    snprintf(me, sizeof(me), "web:%s", user);
    const char *p[6] = { s->after, s->after, is_admin ? "1" : "0", me, s->q, like };

    if (list_query(&l, sql, p, 6, err, errlen) < 0)
        return -1;
    return section(out, s, &l, "before", "Audit log", is_admin ? "Every change by a person, newest first."
                                                               : "Your own changes, newest first.",
                   NULL, "Nothing yet.");
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
    html_escape(o->b, col[0]);
    buf_adds(o->b, strcasecmp(col[0], o->preset) == 0 ? "\" selected>" : "\">");
    html_escape(o->b, col[0]);
    buf_adds(o->b, "</option>");
    return 0;
}

static int recipient_choice(struct buf *b, const char *preset, char *err, size_t errlen)
{
    if (is_admin) {
        buf_adds(b, "<label>Recipient <input name=\"rcpt\" maxlength=\"255\" required "
                    "placeholder=\"kid@example.org\" value=\"");
        html_escape(b, preset);
        buf_adds(b, "\"></label>");
        return 0;
    }
    struct options o = { b, preset };
    const char *p[1] = { user_key };
    buf_adds(b, "<label>Recipient <select name=\"rcpt\" required>");
    long long n = db_query(db, "SELECT DISTINCT recipient FROM guardians WHERE email" BIN " = ? ORDER BY recipient "
                           "LIMIT 1000", p, 1, row_option, &o, err, errlen);
    buf_adds(b, "</select></label>");
    return n < 0 ? -1 : 0;
}

/* ------------------------------------------------------------ pages */

static int show_page(int code, const struct show *s, const char *message_html)
{
    char err[800];
    struct buf body = { 0 };
    int rc = 0;
    const char *title = "Protected recipients";

    if (strcmp(s->page, "protected") == 0) {
        rc = list_protected(&body, s, cfg.web.page_size, err, sizeof(err));
    } else if (strcmp(s->page, "rules") == 0) {
        title = "Rules";
        rc = list_rules(&body, s, cfg.web.page_size, err, sizeof(err));
    } else if (strcmp(s->page, "global") == 0) {
        title = "Global rules";
        if (!is_admin) {
            buf_free(&body);
            return error_page(403, "Not yours", "Global rules apply to everyone; only an administrator "
                              "sees and changes them.", NULL);
        }
        rc = list_global(&body, s, cfg.web.page_size, err, sizeof(err));
    } else if (strcmp(s->page, "pending") == 0) {
        title = "Pending senders";
        rc = list_pending(&body, s, cfg.web.page_size, err, sizeof(err));
    } else if (strcmp(s->page, "audit") == 0) {
        title = "Audit log";
        rc = list_audit(&body, s, cfg.web.page_size, err, sizeof(err));
    } else {
        title = "Search";
        struct show t = *s;
        t.after = "";
        if (!*s->q) {
            buf_adds(&body, "<p>Type part of an address into the search box.</p>");
        } else {
            rc = list_protected(&body, &t, 20, err, sizeof(err));
            if (rc == 0)
                rc = list_rules(&body, &t, 20, err, sizeof(err));
            if (rc == 0 && is_admin)
                rc = list_global(&body, &t, 20, err, sizeof(err));
            if (rc == 0)
                rc = list_pending(&body, &t, 20, err, sizeof(err));
        }
    }
    if (rc < 0) {
        buf_free(&body);
        fprintf(stderr, "guardlist-web: error: %s\n", err);
        return error_page(503, "Not available", "This page cannot be shown right now. Please try again later.", NULL);
    }
    page(code, title, body.p, message_html);
    buf_free(&body);
    return 0;
}

/* ------------------------------------------------------------ changes */

struct pair {
    int found;
    char sender[ADDR_MAX + 2], recipient[ADDR_MAX + 2];
};

static int row_pair(void *arg, int ncol, const char *const *col, const unsigned long *len)
{
    struct pair *c = arg;

    (void)ncol;
    (void)len;
    c->found = 1;
    snprintf(c->sender, sizeof(c->sender), "%s", col[0]);
    snprintf(c->recipient, sizeof(c->recipient), "%s", col[1]);
    return 0;
}

static const char *const pages[] = { "protected", "rules", "global", "pending", "audit", "search", NULL };

static const char *page_arg(const char *v)
{
    for (int i = 0; v && pages[i]; i++)
        if (strcmp(v, pages[i]) == 0)
            return pages[i];
    return NULL;
}

/* 1 if ACTION acts on one recipient only: OK, DUNNO, REJECT, DEFER,
 * DEFER_IF_REJECT, DEFER_IF_PERMIT (with or without text), a 4NN or 5NN
 * code, or an all-numeric value.  HOLD, DISCARD, FILTER, REDIRECT, BCC,
 * PREPEND, INFO and WARN act on the whole message, other families' copies
 * too, so only an administrator sets them. */
static int per_recipient_action(const char *action)
{
    static const char *const words[] = { "OK", "DUNNO", "REJECT", "DEFER", "DEFER_IF_REJECT", "DEFER_IF_PERMIT",
                                         NULL };
    size_t n = strcspn(action, " \t");

    if (n == 0)
        return 0;
    if (strspn(action, "0123456789") == n)
        return n == strlen(action) || (n == 3 && (action[0] == '4' || action[0] == '5'));
    for (int i = 0; words[i]; i++)
        if (strlen(words[i]) == n && strncasecmp(action, words[i], n) == 0)
            return 1;
    return 0;
}

/* What a change needs from the form; missing fields are "". */
static const char *field(const struct form *f, const char *name)
{
    const char *v = form_get(f, name);
    return v ? v : "";
}

/* Runs the change the form asks for.  Returns the HTTP status; MSG gets
 * what happened (done or refused) in words for the page. */
static int change(const struct form *f, char *msg, size_t msglen)
{
    char err[800];
    const char *what = field(f, "do");
    int rc;

    err[0] = '\0';
    if (strcmp(what, "protect") == 0 || strcmp(what, "unprotect") == 0 || strcmp(what, "guardian-add") == 0
        || strcmp(what, "guardian-rm") == 0) {
        const char *key = field(f, "key"), *email = field(f, "email");
        if (!is_admin) {
            snprintf(msg, msglen, "Only an administrator can change who is protected and who guards them.");
            return 403;
        }
        if (strcmp(what, "protect") == 0) {
            const char *g[1] = { email };
            rc = store_protect(db, actor, key, g, *email ? 1 : 0, err, sizeof(err));
            snprintf(msg, msglen, "%s is now protected%s%s.", key, *email ? "; guardian " : "", email);
        } else if (strcmp(what, "unprotect") == 0) {
            rc = store_unprotect(db, actor, key, err, sizeof(err));
            snprintf(msg, msglen, "%s is no longer protected.", key);
        } else if (strcmp(what, "guardian-add") == 0) {
            rc = store_guardian_add(db, actor, key, email, err, sizeof(err));
            snprintf(msg, msglen, "%s now guards %s.", email, key);
        } else {
            rc = store_guardian_remove(db, actor, key, email, err, sizeof(err));
            snprintf(msg, msglen, "%s no longer guards %s.", email, key);
        }
    } else if (strcmp(what, "rule-set") == 0 || strcmp(what, "rule-rm") == 0) {
        const char *rcpt = field(f, "rcpt"), *sender = field(f, "sender"), *kind = field(f, "kind");
        char action[300], key[ADDR_MAX + 2], why[160];
        enum addr_key_kind kk;
        if (*rcpt && addr_key_check(rcpt, 0, key, sizeof(key), &kk, why, sizeof(why)) < 0) {
            snprintf(msg, msglen, "Not saved: invalid recipient '%.80s': %s.", rcpt, why);
            return 400;
        }
        if (*rcpt)
            rcpt = key;     /* the scope is checked on the key the rule is written for */
        int ok = *rcpt ? may_manage(rcpt, err, sizeof(err)) : is_admin;
        if (ok < 0)
            goto failed;
        if (!ok) {
            snprintf(msg, msglen, *rcpt ? "You do not guard %s." : "Only an administrator can change global rules.",
                     rcpt);
            return 403;
        }
        if (strcmp(what, "rule-rm") == 0) {
            rc = store_rule_rm(db, actor, *rcpt ? rcpt : NULL, sender, err, sizeof(err));
            snprintf(msg, msglen, "The rule for %s%s%s is removed.", sender, *rcpt ? " to " : "", rcpt);
        } else {
            if (strcmp(kind, "allow") == 0)
                snprintf(action, sizeof(action), "OK");
            else if (strcmp(kind, "block") == 0)
                snprintf(action, sizeof(action), "REJECT");
            else if (strcmp(kind, "action") == 0 && strlen(field(f, "action")) < sizeof(action))
                snprintf(action, sizeof(action), "%s", field(f, "action"));
            else {
                snprintf(msg, msglen, "Choose allow, block, or type an action.");
                return 400;
            }
            if (!is_admin && !per_recipient_action(action)) {
                snprintf(msg, msglen, "Only an administrator can set the action '%.60s': it acts on the whole "
                         "message, for every recipient of it.", action);
                return 403;
            }
            rc = store_rule_set(db, actor, *rcpt ? rcpt : NULL, sender, action, err, sizeof(err));
            snprintf(msg, msglen, "Saved: %s%s%s gets %s.", sender, *rcpt ? " to " : " to everyone protected",
                     rcpt, action);
        }
    } else if (strcmp(what, "decide") == 0) {
        const char *how = field(f, "how"), *id_s = field(f, "id");
        enum store_decision d;
        unsigned long long id;
        char *end, result[1500];
        if (strcmp(how, "approve") == 0)
            d = STORE_APPROVE;
        else if (strcmp(how, "approve-domain") == 0)
            d = STORE_APPROVE_DOMAIN;
        else if (strcmp(how, "deny") == 0)
            d = STORE_DENY;
        else if (strcmp(how, "block") == 0)
            d = STORE_BLOCK;
        else {
            snprintf(msg, msglen, "Please use one of the buttons on the page.");
            return 400;
        }
        id = strtoull(id_s, &end, 10);
        if (!*id_s || *end || !isdigit((unsigned char)id_s[0]) || strlen(id_s) > 20) {
            snprintf(msg, msglen, "That is not a pending sender on this page.");
            return 400;
        }
        struct pair c = { 0 };
        const char *pk[3] = { id_s, is_admin ? "1" : "0", user_key };
        if (db_query(db, "SELECT sender, recipient FROM challenges WHERE id = ? AND " SCOPE("protected_key"),
                     pk, 3, row_pair, &c, err, sizeof(err)) < 0)
            goto failed;
        if (!c.found) {
            snprintf(msg, msglen, "That sender is not waiting for you.");
            return is_admin ? 404 : 403;
        }
        struct store_decider by = { is_admin ? STORE_BY_ADMIN : STORE_BY_GUARDIAN, actor, user_key };
        rc = store_challenge_decide(db, &by, id, d, result, sizeof(result), err, sizeof(err));
        const char *at = strrchr(c.sender, '@');
        if (d == STORE_APPROVE)
            snprintf(msg, msglen, "%s may now write to %s%s.", c.sender, c.recipient,
                     store_is_null_sender(c.sender) ? ": every bounce message is let through, from anyone" : "");
        else if (d == STORE_APPROVE_DOMAIN)
            snprintf(msg, msglen, "Everyone at %s may now write to %s.", at ? at + 1 : c.sender, c.recipient);
        else if (d == STORE_DENY)
            snprintf(msg, msglen, "%s is denied: its attempts to write to %s are refused.", c.sender, c.recipient);
        else
            snprintf(msg, msglen, "%s is blocked for %s.", c.sender, c.recipient);
    } else {
        snprintf(msg, msglen, "Please use the forms on the page.");
        return 400;
    }
    if (rc == STORE_DONE)
        return 200;
    if (rc == STORE_INVALID) {
        snprintf(msg, msglen, "Not saved: %s.", err);
        return 400;
    }
    if (rc == STORE_NOTFOUND || rc == STORE_NOT_GUARDIAN || rc == STORE_ADMIN_ONLY) {
        snprintf(msg, msglen, "Nothing changed: %s.", err);
        return rc == STORE_NOTFOUND ? 409 : 403;
    }
failed:
    fprintf(stderr, "guardlist-web: error: %s\n", err);
    snprintf(msg, msglen, "Your change could not be saved. Please try again later.");
    return 503;
}

/* ------------------------------------------------------------ the request */

static int load_templates(void)
{
    static const struct {
        const char *file;
        const char *const *names;
        struct template **t;
    } list[] = {
        { "web-page.html", page_names, &t_page }, { "web-list.html", list_names, &t_list },
        { "web-protect.html", form_names, &t_protect }, { "web-rule.html", form_names, &t_rule },
        { "web-message.html", message_names, &t_message }, { "web-refused.html", refused_names, &t_refused },
    };
    char path[CONFIG_STR_MAX + 40], err[600];

    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", cfg.web.template_dir, list[i].file);
        *list[i].t = template_load(path, list[i].names, err, sizeof(err));
        if (!*list[i].t) {
            fprintf(stderr, "guardlist-web: error: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static void free_templates(void)
{
    template_free(t_page);
    template_free(t_list);
    template_free(t_protect);
    template_free(t_rule);
    template_free(t_message);
    template_free(t_refused);
}

/* No login in front of this page: say how to put one there. */
static int refused(const char *reason)
{
    struct buf body = { 0 };
    char err[200];
    struct tpl_value v[1] = { { "reason", reason, 0 } };

    if (template_render(t_refused, TPL_HTML, v, 1, &body, err, sizeof(err)) < 0) {
        buf_free(&body);
        return page(403, "Login required", NULL, NULL);
    }
    page(403, "Login required", body.p, NULL);
    buf_free(&body);
    return 0;
}

static int run(const char *method)
{
    static const char *const get_fields[] = { "p", "q", "r", "after", "before", NULL };
    static const char *const post_fields[] = { "do", "csrf", "p", "key", "email", "rcpt", "sender", "kind",
                                               "action", "id", "how", NULL };
    char err[800] = "";
    struct form f;
    struct cgi_error ce;
    const char *u = getenv("REMOTE_USER"), *sn = getenv("SCRIPT_NAME");

    head_only = strcmp(method, "HEAD") == 0;
    if (!u || !*u)
        return refused("The web server passed no REMOTE_USER: nobody logged in.");
    if (!user_ok(u))
        return refused("The user name from the web server's login is not one this page accepts "
                       "(letters, digits and . _ @ + -, at most 128).");
    snprintf(user, sizeof(user), "%s", u);
    for (size_t i = 0; i <= strlen(user); i++)
        user_key[i] = (char)tolower((unsigned char)user[i]);
    snprintf(actor, sizeof(actor), "web:%s", user);
    /* The forms post here: a plain absolute path, never "//host" */
    if (sn && sn[0] == '/' && sn[1] != '/' && strlen(sn) <= 200
        && strspn(sn, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._~-") == strlen(sn))
        script = sn;
    /* Fails closed: without [web] admins every login is a guardian; "*" names everyone. */
    is_admin = in_list(cfg.web.admins, user) || in_list(cfg.web.admins, "*");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "POST") != 0)
        return error_page(405, "Not allowed", "This page only answers GET, HEAD and POST.", NULL);
    int post = strcmp(method, "POST") == 0;
    if (cgi_read_form(method, QUERY_MAX, BODY_MAX, post ? post_fields : get_fields, &f, &ce) < 0)
        return error_page(ce.status, "Bad request", ce.what, NULL);

    if (!cfg.web.secret_file[0]) {
        fprintf(stderr, "guardlist-web: error: [web] secret_file is not set (it keys the form tokens; "
                        "see etc/guardlist.ini.example)\n");
        return error_page(503, "Not available", "This page is not set up completely. "
                          "The administrator finds the reason in the web server's error log.", NULL);
    }
    int bad = config_read_secret(cfg.web.secret_file, secret, sizeof(secret), err, sizeof(err)) < 0;
    if (bad || strlen(secret) < SECRET_MIN) {
        fprintf(stderr, "guardlist-web: error: %s\n", bad ? err : "[web] secret_file: its first line holds fewer "
                "than 16 characters");
        return error_page(503, "Not available", "This page is not set up completely. "
                          "The administrator finds the reason in the web server's error log.", NULL);
    }
    csrf_make((long long)time(NULL), csrf, sizeof(csrf));

    struct show s = { "protected", "", "", "" };
    const char *pg = page_arg(form_get(&f, "p"));
    if (form_get(&f, "p") && !pg)
        return error_page(404, "No such page", "This page does not exist.", NULL);
    if (pg)
        s.page = pg;
    if (!post) {
        s.q = field(&f, "q");
        s.r = field(&f, "r");
        s.after = cursor_arg(&f, strcmp(s.page, "audit") == 0 ? "before" : "after");
        if (strlen(s.q) > SEARCH_MAX || strlen(s.r) > ADDR_MAX)
            return error_page(400, "Bad request", "The search text is longer than this page accepts.", NULL);
        cur_q = s.q;
    }

    struct config_db p;
    if (config_db_for(&cfg, &cfg.web.account, &p, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlist-web: error: %s\n", err);
        return error_page(503, "Not available", "This page is not available right now. Please try again later.", NULL);
    }
    db = db_new(&p);
    explicit_bzero(&p, sizeof(p));
    if (!db || db_connect(db, err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlist-web: error: %s\n", db ? err : "out of memory");
        db_free(db);
        db = NULL;
        return error_page(503, "Not available", "This page is not available right now. Please try again later.", NULL);
    }
    int rc;
    if (!post) {
        rc = show_page(200, &s, NULL);
    } else if (!csrf_ok(form_get(&f, "csrf"))) {
        fprintf(stderr, "guardlist-web: warning: user %s: a form without a valid token was refused\n", user);
        rc = error_page(403, "Form expired", "This form is too old or did not come from this page, so nothing "
                        "was changed. Open the page again and repeat your change.", NULL);
    } else {
        char msg[1600];
        struct buf m = { 0 };
        int code = change(&f, msg, sizeof(msg));
        if (code == 200)
            fprintf(stderr, "guardlist-web: info: user %s: %s\n", user, msg);
        message_box(&m, code == 200 ? "done" : "error", msg, NULL);
        rc = show_page(code, &s, m.p);
        buf_free(&m);
    }
    db_free(db);
    db = NULL;
    explicit_bzero(secret, sizeof(secret));
    return rc;
}

int main(int argc, char **argv)
{
    char err[800];

    /* A web server may pass a query without '=' as arguments (CGI/1.1's
     * ISINDEX form): under a web server they are not options. */
    if (argc > 1 && !getenv("REQUEST_METHOD")) {
        if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
            printf("guardlist-web %s\n", VERSION);
            return 0;
        }
        printf("Usage: guardlist-web   (run by a web server as a CGI program, behind its login)\n"
               "\n"
               "The admin page: protected recipients and guardians, rules, the pending\n"
               "queue and the audit log.  GET ?p=protected|rules|global|pending|audit|search\n"
               "shows; POST changes, with the page's form token.  The web server must\n"
               "authenticate every request and pass REMOTE_USER; without it nothing is served.\n"
               "Configuration: $GUARDLIST_CONFIG, else " CONFIG_DEFAULT_PATH "\n"
               "(section [web]: its database account, secret_file, admins, template_dir,\n"
               "page_size).\n");
        return strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? 0 : 2;
    }
    const char *method = getenv("REQUEST_METHOD");
    if (!method) {
        fprintf(stderr, "guardlist-web: error: REQUEST_METHOD is not set: run me from a web server "
                        "as a CGI program (see --help)\n");
        return 2;
    }
    head_only = strcmp(method, "HEAD") == 0;
    config_defaults(&cfg);
    if (config_load(&cfg, config_path(NULL), err, sizeof(err)) < 0) {
        fprintf(stderr, "guardlist-web: error: %s\n", err);
        return page(503, "Not available", NULL, NULL);
    }
    if (load_templates() < 0) {
        free_templates();
        t_page = NULL;
        return page(503, "Not available", NULL, NULL);
    }
    run(method);
    fflush(stdout);
    free_templates();
    return 0;
}
