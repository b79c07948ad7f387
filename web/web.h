/* web.h - guardlist-web's modules (auth, page, lists, changes) and the
 * request they share. */
#ifndef GUARDLIST_WEB_H
#define GUARDLIST_WEB_H

#include <stddef.h>

#include "buf.h"
#include "cgi.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "form.h"

#define WEB_USER_MAX 128
#define WEB_SEARCH_MAX 100
#define WEB_BODY_MAX 4096               /* a POST's body */
#define WEB_IMPORT_MAX (1024 * 1024)    /* an address book imported on the page, once decoded */
/* The body of a POST to ?p=import (WEB_IMPORT_QUERY): an address book of
 * WEB_IMPORT_MAX bytes %-encoded (at most three bytes each) and the
 * form's other fields. */
#define WEB_IMPORT_QUERY "p=import"
#define WEB_IMPORT_BODY_MAX (3 * WEB_IMPORT_MAX + 8192)

/* One request: made afresh for each by serve(), filled by it and
 * auth_identify(), read by every module. */
struct web {
    const struct config *cfg;
    struct cgi_request *io;             /* the request's parameters and streams */
    struct db *db;                      /* kept between requests; connected while a page is built */
    int head_only;                      /* HEAD: headers, no body */
    int is_admin;                       /* in [web] admins; else a guardian */
    char user[WEB_USER_MAX + 1];        /* REMOTE_USER, checked by auth_identify() */
    char user_key[WEB_USER_MAX + 1];    /* USER in lower case: guardians.email is stored so */
    char actor[WEB_USER_MAX + 8];       /* "web:USER", the audit log's actor */
    const char *script;                 /* SCRIPT_NAME, where the forms post; may be "" */
    char secret[CONFIG_STR_MAX];        /* the form-token key ([web] secret_file) */
    char csrf[24 + 2 * SHA256_LEN];     /* the form token for this page */
    const char *q;                      /* the search text, shown again in the box */
};

/* The value of NAME in F, or "" when missing. */
static inline const char *web_field(const struct form *f, const char *name)
{
    const char *v = form_get(f, name);
    return v ? v : "";
}

/* ------------------------------------------------------------ auth.c */

/* Keys are compared byte for byte, as guardlistd compares them.  The key
 * columns are utf8mb4_bin since schema version 5; BIN keeps the comparison
 * byte for byte on a database not migrated yet (utf8mb4_general_ci took
 * "kiss@" for "kiß@" and "anna@" for "änna@") and for audit_log.actor. */
#define AUTH_BIN " COLLATE utf8mb4_bin"

/* The scope condition on a recipient-key column COL, for SQL: binds two
 * parameters (is admin, user_key). */
#define AUTH_SCOPE(col) \
    "(? = '1' OR " col AUTH_BIN " IN (SELECT recipient" AUTH_BIN " FROM guardians WHERE email" AUTH_BIN " = ?))"

/* Fills W's user, user_key, actor and is_admin from the web server's
 * REMOTE_USER (may be NULL) and ADMINS ([web] admins).  Returns NULL, or
 * why nobody is served (a sentence for the login-required page). */
const char *auth_identify(struct web *w, const char *remote_user, const char *admins);

/* Reads the form-token key from [web] secret_file into W->secret.  Returns
 * 0, or -1 with ERR saying what is wrong for the error log. */
int auth_load_secret(struct web *w, char *err, size_t errlen);

/* The form token for W's user at time TS into OUT; "" if it cannot be made. */
void auth_token_make(const struct web *w, long long ts, char *out, size_t outlen);

/* 1 if T is a token made for W's user, neither too old nor from the future. */
int auth_token_ok(const struct web *w, const char *t);

/* 1 if W's user may see and change protected key KEY (in its stored
 * form), 0 if not, -1 with ERR if the database could not say. */
int auth_may_manage(const struct web *w, const char *key, char *err, size_t errlen);

/* ------------------------------------------------------------ page.c */

enum page_form { PAGE_FORM_PROTECT, PAGE_FORM_RULE };

/* Loads the page templates from DIR.  Returns 0, or -1 with the reason
 * logged.  page_unload() frees them (also after a failed load). */
int page_load(const char *dir);
void page_unload(void);

/* Answers with a whole page in the layout: status CODE, TITLE, BODY and
 * MESSAGE (HTML already escaped; NULL for none).  Without templates, the
 * page of last resort (cgi_unavailable). */
void page_show(const struct web *w, int code, const char *title, const char *body, const char *message);

/* Appends a message box (KIND: done, error) to OUT; DETAIL may be NULL. */
void page_message(struct buf *out, const char *kind, const char *message, const char *detail);

/* Answers with an error page: the layout with one message box. */
void page_error(const struct web *w, int code, const char *title, const char *message, const char *detail);

/* Answers 403 with the page that says how to put a login in front. */
void page_refused(const struct web *w, const char *reason);

/* Appends the page's one script (templates/web-import.js) as an inline
 * <script>; page_show() lets exactly it run (its SHA-256 in the CSP). */
void page_script(struct buf *b);

/* Renders form template WHICH (posting back to page BACK, with
 * RCPT_FIELD's HTML, may be NULL) into OUT.  Returns 0 or -1. */
int page_form(const struct web *w, enum page_form which, const char *back, const char *rcpt_field,
              struct buf *out);

/* The parts of a list section (HTML already escaped but INTRO). */
struct page_section {
    const char *heading, *intro, *forms, *head, *rows, *pager;
};

/* Renders one list section into OUT.  Returns 0 or -1. */
int page_section(const struct page_section *l, struct buf *out);

/* What a table cell holds: a value (an address, a date, a number: kept
 * whole, on one line at desktop width) or text that wraps between words
 * (class text).  The page's CSS says how each is laid out. */
enum page_cell { PAGE_VALUE, PAGE_TEXT };

/* HTML pieces: a table cell of KIND, a hidden field, the start of a POST
 * form doing WHAT (with the token and BACK, the page to come back to). */
void page_cell(struct buf *b, const char *label, enum page_cell kind, const char *text);
void page_hidden(struct buf *b, const char *name, const char *value);
void page_form_open(const struct web *w, struct buf *b, const char *what, const char *back, const char *cls);
/* As page_form_open, posting to the script's address with ?QUERY. */
void page_form_open_to(const struct web *w, struct buf *b, const char *what, const char *back, const char *cls,
                       const char *query);

/* Appends S %-encoded for a query string: only unreserved characters stay,
 * so the result is plain ASCII that needs no HTML escaping either. */
void page_url_escape(struct buf *b, const char *s);

/* ------------------------------------------------------------ lists.c */

/* What a GET asks to see. */
struct lists_view {
    const char *page;       /* protected, rules, global, pending, audit, search */
    const char *q;          /* search text, may be "" */
    const char *r;          /* rules: one recipient, may be "" */
    const char *after;      /* cursor: digits or "" */
};

/* Reads q, r and the cursor (after; before on the audit log) of a GET
 * from F into V (V->page set).  Returns 0, or -1 if q or r is too long. */
int lists_read(struct lists_view *v, const struct form *f);

/* One list page into OUT, at most LIMIT rows.  Each returns 0, or -1
 * with ERR set (the database failed, or a template). */
typedef int lists_fn(const struct web *w, const struct lists_view *v, int limit, struct buf *out,
                     char *err, size_t errlen);
lists_fn lists_protected, lists_rules, lists_global, lists_pending, lists_audit, lists_search;

/* "%Q%" for LIKE ... ESCAPE '!', Q folded as keys are (into OUT, OUTLEN >= 3). */
void lists_like_pattern(const char *q, char *out, size_t outlen);

/* ------------------------------------------------------------ overview.c */

struct stats;

/* The overview page (administrators): lib/stats.c's figures and the chart. */
lists_fn overview_show;

/* The last 30 days as an inline SVG bar chart into OUT: a rect of class
 * "bar created" and one of class "bar approved" a day, each as tall as
 * overview_bar_height() of its count and the largest count of both. */
void overview_chart(const struct stats *s, struct buf *out);
double overview_bar_height(long long n, long long max);

/* ------------------------------------------------------------ changes.c */

/* One change a POST asks for (do=...): it is made through lib/store.c.
 * Each returns the HTTP status and writes into MSG what happened (done or
 * refused) in words for the page. */
typedef int changes_fn(const struct web *w, const struct form *f, char *msg, size_t msglen);
changes_fn changes_protect, changes_unprotect, changes_guardian_add, changes_guardian_rm,
    changes_rule_set, changes_rule_rm, changes_decide;

/* 1 if ACTION acts on one recipient only (a guardian may set it). */
int changes_per_recipient(const char *action);

/* ------------------------------------------------------------ import.c */

/* The import page (p=import): pick a child and an address book. */
lists_fn import_show;

/* A POST of the import page: the preview (do=contacts-preview), or with
 * CONFIRM the import (do=contacts-import).  Answers with the whole page. */
void import_post(const struct web *w, const struct form *f, int confirm);

#endif
