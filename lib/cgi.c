/*
 * cgi - the request loop, the response headers and the request reading
 * shared by guardlist-approve and guardlist-web.
 *
 * The same program runs as a CGI (one request from the environment and
 * stdin) or, started by a FastCGI server, as a persistent process serving
 * requests one after another (libfcgi's FCGX_ API with explicit streams:
 * nothing goes through stdio or the process environment, so nothing of one
 * request is there for the next).  SIGTERM and SIGINT are held off while a
 * request is answered and end the loop between requests.
 *
 * SECURITY: the request is untrusted.  Sizes are checked before anything
 * is read, the body is read to exactly CONTENT_LENGTH bytes, a NUL byte is
 * refused, and lib/form.c accepts only the names the page expects.
 */
#include "cgi.h"
#include "db.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

extern char **environ;

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
    FCGX_ShutdownPending();     /* libfcgi's accept() then gives up on EINTR */
}

int cgi_is_fastcgi(void)
{
    return !FCGX_IsCGI();
}

const char *cgi_param(const struct cgi_request *r, const char *name)
{
    return r->envp ? FCGX_GetParam(name, r->envp) : NULL;
}

void cgi_write(struct cgi_request *r, const void *p, size_t n)
{
    if (r->out) {
        /* FCGX_PutStr takes an int: large pages go in pieces */
        for (const char *s = p; n > 0;) {
            int k = n > 65536 ? 65536 : (int)n;
            if (FCGX_PutStr(s, k, r->out) != k)
                return;     /* the server is gone; FCGX_Finish_r ends the request */
            s += k;
            n -= (size_t)k;
        }
    } else {
        fwrite(p, 1, n, stdout);
    }
}

/* Reads up to N bytes of the request body; returns the count, 0 at its end, -1 on error. */
static long read_body(struct cgi_request *r, char *p, size_t n)
{
    if (r->in)
        return FCGX_GetStr(p, n > 65536 ? 65536 : (int)n, r->in);
    ssize_t got;
    do
        got = read(0, p, n);
    while (got < 0 && errno == EINTR);
    return got;
}

/* The FastCGI loop: request after request until told to stop. */
static int serve_fastcgi(cgi_handler_fn *h, void *arg, char *err, size_t errlen)
{
    FCGX_Request req;
    struct sigaction sa;
    sigset_t stop_set, old;

    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
        snprintf(err, errlen, "the FastCGI library could not start (FCGX_Init)");
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;    /* no SA_RESTART: a waiting accept() returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);   /* a client gone mid-answer is an error on the stream */
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    while (!stopping) {
        if (FCGX_Accept_r(&req) < 0)
            break;                                  /* stopping, or the socket is gone */
        /* A stop waits until this answer is out (no EINTR in the database client). */
        sigprocmask(SIG_BLOCK, &stop_set, &old);
        struct cgi_request r = { req.envp, req.in, req.out };
        h(&r, arg);
        FCGX_Finish_r(&req);
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    FCGX_Free(&req, 1);
    return 0;
}

int cgi_serve(cgi_handler_fn *h, void *arg, char *err, size_t errlen)
{
    if (cgi_is_fastcgi())
        return serve_fastcgi(h, arg, err, errlen);
    struct cgi_request r = { environ, NULL, NULL };
    h(&r, arg);
    fflush(stdout);
    return 0;
}

const char *cgi_status_text(int code)
{
    switch (code) {
    case 200: return "OK";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

void cgi_headers(struct cgi_request *r, int code, const char *extra)
{
    cgi_headers_scripts(r, code, NULL, extra);
}

void cgi_headers_scripts(struct cgi_request *r, int code, const char *script_src, const char *extra)
{
    char h[1200];
    int n = snprintf(h, sizeof(h), "Status: %d %s\r\n"
                     "Content-Type: text/html; charset=utf-8\r\n"
                     "Content-Security-Policy: default-src 'none'; %s%s%sstyle-src 'unsafe-inline'; "
                     "form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
                     "X-Frame-Options: DENY\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "Referrer-Policy: no-referrer\r\n"
                     "Cache-Control: no-store\r\n"
                     "%s\r\n", code, cgi_status_text(code), script_src ? "script-src " : "",
                     script_src ? script_src : "", script_src ? "; " : "", extra ? extra : "");

    if (n < 0 || (size_t)n >= sizeof(h)) {     /* EXTRA is the program's own text: never this long */
        static const char fallback[] = "Status: 500 Internal Server Error\r\nCache-Control: no-store\r\n\r\n";
        cgi_write(r, fallback, sizeof(fallback) - 1);
        return;
    }
    cgi_write(r, h, (size_t)n);
}

void cgi_unavailable(struct cgi_request *r, int code, const char *extra, int head_only)
{
    static const char page[] =
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>guardlist</title>"
        "</head><body><p>This page cannot be shown right now. Please try again later.</p></body></html>\n";

    cgi_headers(r, code == 200 ? 500 : code, extra);
    if (!head_only)
        cgi_write(r, page, sizeof(page) - 1);
}

static int refuse(struct cgi_error *e, int status, const char *what)
{
    e->status = status;
    e->what = what;
    return -1;
}

int cgi_read_form(struct cgi_request *r, const char *method, size_t query_max, size_t body_max,
                  const char *const *allowed, struct form *f, struct cgi_error *e)
{
    return cgi_read_form_text(r, method, query_max, body_max, allowed, NULL, f, e);
}

int cgi_read_form_text(struct cgi_request *r, const char *method, size_t query_max, size_t body_max,
                       const char *const *allowed, const char *text_name, struct form *f, struct cgi_error *e)
{
    char err[200];

    if (strcmp(method, "POST") != 0) {
        const char *q = cgi_param(r, "QUERY_STRING");
        q = q ? q : "";
        if (strlen(q) > query_max)
            return refuse(e, 414, "The address of this page is longer than it accepts.");
        if (form_parse(q, strlen(q), allowed, f, err, sizeof(err)) < 0)
            return refuse(e, 400, "The address of this page is not one it understands.");
        return 0;
    }
    const char *cl = cgi_param(r, "CONTENT_LENGTH"), *ct = cgi_param(r, "CONTENT_TYPE");
    char *end = NULL;
    long n = cl && *cl ? strtol(cl, &end, 10) : -1;

    if (!cl || !*cl)
        return refuse(e, 411, "The form arrived without its length.");
    if (n < 0 || *end)
        return refuse(e, 400, "The form could not be read.");
    if ((unsigned long)n > body_max)
        return refuse(e, 413, "The form was larger than this page accepts.");
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0
        || (ct[33] != '\0' && ct[33] != ';'))
        return refuse(e, 415, "The form was not sent the way this page expects.");
    char *body = malloc((size_t)n + 1);
    if (!body)
        return refuse(e, 503, "The form could not be read right now.");
    size_t got = 0;
    while (got < (size_t)n) {
        long k = read_body(r, body + got, (size_t)n - got);
        if (k <= 0) {
            free(body);
            return refuse(e, 400, "The form arrived incomplete.");
        }
        got += (size_t)k;
    }
    body[got] = '\0';
    int bad = memchr(body, '\0', got) != NULL
              || form_parse_text(body, got, allowed, text_name, body_max, f, err, sizeof(err)) < 0;
    free(body);
    return bad ? refuse(e, 400, "The form could not be read.") : 0;
}

int cgi_setup_config(struct config *cfg, const char *program)
{
    char err[800];

    config_defaults(cfg);
    if (config_load(cfg, config_path(NULL), err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    log_init(program, cfg->log.target, cfg->log.level);
    db_set_notice(log_notice_line);
    if (store_configure(cfg->policy.freemail_domains, cfg->policy.recipient_delimiter, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}
