/*
 * guardlist-web - the household's admin page: a CGI program behind the web
 * server's login (the article's whitelist.php, done safely), or a
 * persistent FastCGI process (lib/cgi.c's loop) that keeps its
 * configuration, templates and database connection; each request starts
 * from a fresh struct web (user, role, form token, key, search text).
 *
 * Pages (GET ?p=..., the pages[] table, lists.c): protected recipients and
 * their guardians, rules for one recipient, global rules, the pending
 * queue, the audit log, a search over the first four, the import of a
 * child's address book (import.c), and an overview for administrators
 * (overview.c: figures, a chart of the last 30 days).
 * Changes (POST do=..., the actions[] table, changes.c) go through lib/store.c, the
 * CLI's own code, each with its audit row naming the user.
 *
 * SECURITY: nobody is served without a REMOTE_USER from the web server's
 * authentication.  With [web] admins set, any other user is a guardian and
 * sees and changes only the recipients they guard (guardians.email equals
 * their user name).  A change needs POST and a form token (auth.c), so a
 * page of another site, another user's token or a stale token changes
 * nothing.  Input is bounded and strictly parsed (lib/cgi.c, lib/form.c,
 * lib/addr.c through store); every value on a page is HTML-escaped
 * (page.c); SQL only with bound parameters.  Diagnostics go through
 * lib/log.c ([log]; under a web server stderr is its error log).
 */
#include "web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cgi.h"
#include "store.h"
#include "log.h"

#define VERSION "0.1.0"
#define QUERY_MAX 1024

/* Kept from request to request: loaded by setup() at the first request
 * (again after a failed one); the database handle made by open_db(). */
static struct config cfg;
static struct db *kept_db;
static int ready;

/* The pages a GET shows (p=...), and a POST after its change; a guardian
 * is refused a page with ADMIN_ONLY set. */
static const struct get_handler {
    const char *name;
    const char *title;
    lists_fn *show;
    const char *admin_only;
} pages[] = {
    { "protected", "Protected recipients", lists_protected, NULL },
    { "rules", "Rules", lists_rules, NULL },
    { "global", "Global rules", lists_global,
      "Global rules apply to everyone; only an administrator sees and changes them." },
    { "pending", "Pending senders", lists_pending, NULL },
    { "audit", "Audit log", lists_audit, NULL },
    { "search", "Search", lists_search, NULL },
    { "overview", "Overview", overview_show,
      "The overview counts every household's senders; only an administrator sees it." },
    { "import", "Import contacts", import_show, NULL },
};

/* The changes a POST makes (do=...). */
static const struct post_handler {
    const char *name;
    changes_fn *change;
} actions[] = {
    { "protect", changes_protect }, { "unprotect", changes_unprotect },
    { "guardian-add", changes_guardian_add }, { "guardian-rm", changes_guardian_rm },
    { "rule-set", changes_rule_set }, { "rule-rm", changes_rule_rm },
    { "decide", changes_decide },
};

static const char usage_text[] =
    "Usage: guardlist-web   (run by a web server as a CGI or FastCGI program, behind its login)\n"
    "\n"
    "The admin page: protected recipients and guardians, rules, the pending\n"
    "queue, the audit log and an overview.\n"
    "GET ?p=protected|rules|global|pending|audit|search|overview\n"
    "shows; POST changes, with the page's form token.  The web server must\n"
    "authenticate every request and pass REMOTE_USER; without it nothing is served.\n"
    "Configuration: $GUARDLIST_CONFIG, else " CONFIG_DEFAULT_PATH "\n"
    "(section [web]: its database account, secret_file, admins, template_dir,\n"
    "page_size).  Started by a FastCGI server (stdin a listening socket) it\n"
    "serves request after request until SIGTERM.\n";

/* The page named NAME, or NULL. */
static const struct get_handler *find_page(const char *name)
{
    for (size_t i = 0; name && i < sizeof(pages) / sizeof(pages[0]); i++)
        if (strcmp(name, pages[i].name) == 0)
            return &pages[i];
    return NULL;
}

/* Answers with page PG as V asks, status CODE, MESSAGE (HTML, may be NULL) above it. */
static void show(const struct web *w, int code, const struct get_handler *pg, const struct lists_view *v,
                 const char *message)
{
    char err[800], printable[1024];
    struct buf body = { 0 };

    if (pg->admin_only && !w->is_admin) {
        page_error(w, 403, "Not yours", pg->admin_only, NULL);
        return;
    }
    if (pg->show(w, v, w->cfg->web.page_size, &body, err, sizeof(err)) < 0) {
        buf_free(&body);
        log_error("%s", log_printable(printable, sizeof(printable), err));
        page_error(w, 503, "Not available", "This page cannot be shown right now. Please try again later.", NULL);
        return;
    }
    page_show(w, code, pg->title, body.p, message);
    buf_free(&body);
}

/* Makes the change form F asks for; returns the HTTP status, MSG says what happened. */
static int change(const struct web *w, const struct form *f, char *msg, size_t msglen)
{
    const char *what = web_field(f, "do");

    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(what, actions[i].name) == 0)
            return actions[i].change(w, f, msg, msglen);
    snprintf(msg, msglen, "Please use the forms on the page.");
    return 400;
}

/* A POST: the change, if its form token is good, then the page it came from. */
static void post(const struct web *w, const struct form *f, const struct get_handler *pg, const struct lists_view *v)
{
    char msg[1600], printable[2048];
    struct buf m = { 0 };

    if (!auth_token_ok(w, form_get(f, "csrf"))) {
        log_warning("user %s: a form without a valid token was refused", w->user);
        page_error(w, 403, "Form expired", "This form is too old or did not come from this page, so nothing "
                   "was changed. Open the page again and repeat your change.", NULL);
        return;
    }
    const char *what = web_field(f, "do");
    if (strcmp(what, "contacts-preview") == 0 || strcmp(what, "contacts-import") == 0) {
        import_post(w, f, strcmp(what, "contacts-import") == 0);
        return;
    }
    int code = change(w, f, msg, sizeof(msg));
    if (code == 200)
        log_info("user %s: %s", w->user, log_printable(printable, sizeof(printable), msg));
    page_message(&m, code == 200 ? "done" : "error", msg, NULL);
    show(w, code, pg, v, m.p);
    buf_free(&m);
}

/* SN, the script's own path, if it is a plain absolute path (never
 * "//host"): the forms post there.  Else "". */
static const char *script_path(const char *sn)
{
    if (sn && sn[0] == '/' && sn[1] != '/' && strlen(sn) <= 200
        && strspn(sn, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._~-") == strlen(sn))
        return sn;
    return "";
}

/* Reads the request's form into F.  Returns 0, or -1 when the answer (an
 * error page) is given. */
static int read_form(const struct web *w, const char *method, struct form *f)
{
    static const char *const get_fields[] = { "p", "q", "r", "after", "before", NULL };
    static const char *const post_fields[] = { "do", "csrf", "p", "key", "email", "rcpt", "sender", "kind",
                                               "action", "id", "how", "child", "book", NULL };
    struct cgi_error ce;
    int is_post = strcmp(method, "POST") == 0;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && !is_post) {
        page_error(w, 405, "Not allowed", "This page only answers GET, HEAD and POST.", NULL);
        return -1;
    }
    /* Only the import page's POSTs (to ?p=import) carry an address book. */
    const char *query = cgi_param(w->io, "QUERY_STRING");
    int import = is_post && query && strcmp(query, WEB_IMPORT_QUERY) == 0;
    if (cgi_read_form_text(w->io, method, QUERY_MAX, import ? WEB_IMPORT_BODY_MAX : WEB_BODY_MAX,
                           is_post ? post_fields : get_fields, import ? "book" : NULL, f, &ce) < 0) {
        page_error(w, ce.status, "Bad request", ce.what, NULL);
        return -1;
    }
    return 0;
}

/* Loads the form-token key and makes this page's token.  Returns 0, or -1
 * when the answer (an error page) is given. */
static int start_tokens(struct web *w)
{
    char err[800] = "";

    if (auth_load_secret(w, err, sizeof(err)) < 0) {
        log_error("%s", err);
        page_error(w, 503, "Not available", "This page is not set up completely. "
                   "The administrator finds the reason in the web server's error log.", NULL);
        return -1;
    }
    auth_token_make(w, (long long)time(NULL), w->csrf, sizeof(w->csrf));
    return 0;
}

/* The page form F names (default: the first) into PG and, for a GET, what
 * it asks to see into V.  Returns 0, or -1 when the answer (an error page)
 * is given. */
static int read_view(struct web *w, int is_post, const struct form *f, const struct get_handler **pg,
                     struct lists_view *v)
{
    const char *p = form_get(f, "p");

    *pg = p ? find_page(p) : &pages[0];
    if (!*pg) {
        page_error(w, 404, "No such page", "This page does not exist.", NULL);
        return -1;
    }
    *v = (struct lists_view){ (*pg)->name, "", "", "" };
    if (!is_post) {
        if (lists_read(v, f) < 0) {
            page_error(w, 400, "Bad request", "The search text is longer than this page accepts.", NULL);
            return -1;
        }
        w->q = v->q;
    }
    return 0;
}

/* Connects W->db with the [web] account: the kept connection when it is
 * still good, else a new one.  Returns 0, or -1 when the answer (an error
 * page) is given. */
static int open_db(struct web *w)
{
    char err[800] = "";
    struct config_db p;

    if (!kept_db) {
        if (config_db_for(w->cfg, &w->cfg->web.account, &p, err, sizeof(err)) < 0) {
            log_error("%s", err);
            page_error(w, 503, "Not available", "This page is not available right now. Please try again later.", NULL);
            return -1;
        }
        kept_db = db_new(&p);
        explicit_bzero(&p, sizeof(p));
    }
    db_idle_check(kept_db);     /* one the server dropped since the last request is made again */
    if (!kept_db || db_connect(kept_db, err, sizeof(err)) < 0) {
        log_error("%s", kept_db ? err : "out of memory");
        page_error(w, 503, "Not available", "This page is not available right now. Please try again later.", NULL);
        return -1;
    }
    w->db = kept_db;
    return 0;
}

/* One request, METHOD, answered in steps; each step that refuses gives
 * the answer itself. */
static void run(struct web *w, const char *method)
{
    struct form f = { .n = 0, .text = NULL };
    const struct get_handler *pg;
    struct lists_view v;
    int is_post = strcmp(method, "POST") == 0;
    const char *refusal = auth_identify(w, cgi_param(w->io, "REMOTE_USER"), w->cfg->web.admins);

    if (refusal) {
        page_refused(w, refusal);
        return;
    }
    w->script = script_path(cgi_param(w->io, "SCRIPT_NAME"));
    if (read_form(w, method, &f) < 0 || start_tokens(w) < 0 || read_view(w, is_post, &f, &pg, &v) < 0
        || open_db(w) < 0) {
        form_free(&f);
        return;
    }
    if (is_post)
        post(w, &f, pg, &v);
    else
        show(w, 200, pg, &v, NULL);
    form_free(&f);
    w->db = NULL;
}

static void teardown(void)
{
    page_unload();
    db_free(kept_db);
    kept_db = NULL;
    store_unconfigure();
    ready = 0;
}

/* Loads what requests share: the configuration and the templates.
 * Returns 0, or -1 with the reason logged; the next request tries again. */
static int setup(void)
{
    teardown();
    if (cgi_setup_config(&cfg, "guardlist-web") < 0)
        return -1;
    if (page_load(cfg.web.template_dir) < 0) {
        page_unload();      /* no half set: the page of last resort */
        return -1;
    }
    ready = 1;
    return 0;
}

/* One request, from a fresh struct web: nothing of the last one is kept
 * but what setup() loaded and the database connection. */
static void serve(struct cgi_request *r, void *arg)
{
    struct web w = { .cfg = &cfg, .io = r, .script = "", .q = "" };
    const char *method = cgi_param(r, "REQUEST_METHOD");

    (void)arg;
    w.head_only = method && strcmp(method, "HEAD") == 0;
    if (!method)
        page_show(&w, 400, "Bad request", NULL, NULL);
    else if (!ready && setup() < 0)
        page_show(&w, 503, "Not available", NULL, NULL);
    else
        run(&w, method);
    explicit_bzero(w.secret, sizeof(w.secret));
}

/* Run from a shell (no REQUEST_METHOD), not by a web server: --help,
 * --version or a usage error.  Returns the exit status.  Under a web
 * server arguments are not options: a query without '=' may come as
 * arguments (CGI/1.1's ISINDEX form). */
static int from_shell(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("guardlist-web %s\n", VERSION);
        return 0;
    }
    if (argc > 1) {
        fputs(usage_text, stdout);
        return strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? 0 : 2;
    }
    /* a person at a terminal: not a log line */
    fprintf(stderr, "guardlist-web: error: REQUEST_METHOD is not set: run me from a web server "
                    "as a CGI or FastCGI program (see --help)\n");
    return 2;
}

int main(int argc, char **argv)
{
    char err[800];

    if (!cgi_is_fastcgi() && !getenv("REQUEST_METHOD"))
        return from_shell(argc, argv);
    log_init("guardlist-web", LOG_TO_STDERR, LOG_LVL_INFO);
    int rc = cgi_serve(serve, NULL, err, sizeof(err));
    if (rc < 0)
        log_error("%s", err);
    teardown();
    return rc < 0 ? 1 : 0;
}
