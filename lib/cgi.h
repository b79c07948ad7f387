/* cgi.h - what guardlist's web programs (the approval page, the admin page)
 * share: the request loop (one CGI request, or FastCGI requests one after
 * another in a persistent process), their response headers and the
 * bounded, strict reading of a request's form. */
#ifndef GUARDLIST_CGI_H
#define GUARDLIST_CGI_H

#include <stddef.h>
#include "config.h"
#include "form.h"

struct FCGX_Stream;

/* One request: its parameters and its streams.  Made by cgi_serve() for
 * each request and gone when the handler returns: a handler keeps nothing
 * of it (or of what cgi_param returned) for the next request. */
struct cgi_request {
    char **envp;                    /* NAME=VALUE: environ for a CGI, the request's own for FastCGI */
    struct FCGX_Stream *in, *out;   /* FastCGI streams; NULL for a CGI (fd 0, stdout) */
};

/* What a program does with one request.  ARG is cgi_serve's. */
typedef void cgi_handler_fn(struct cgi_request *r, void *arg);

/* 1 if this process was started by a FastCGI server (its stdin is a
 * listening socket), 0 for a CGI or a shell. */
int cgi_is_fastcgi(void);

/* Serves requests with H: as a CGI, the one request of the process's
 * environment; under a FastCGI server, request after request until SIGTERM
 * or SIGINT (each taken between requests, never during one).  No bound on
 * the count: a process that ends loses the requests the server has already
 * queued on its socket, and nothing grows from request to request.
 * Returns 0, or -1 with ERR set (the FastCGI library could not start). */
int cgi_serve(cgi_handler_fn *h, void *arg, char *err, size_t errlen);

/* The request's parameter NAME (REQUEST_METHOD, QUERY_STRING, REMOTE_USER
 * ...), or NULL.  Never the process environment under FastCGI. */
const char *cgi_param(const struct cgi_request *r, const char *name);

/* Writes N bytes of the response. */
void cgi_write(struct cgi_request *r, const void *p, size_t n);

/* The reason phrase of an HTTP status this project sends. */
const char *cgi_status_text(int code);

/* Prints the CGI response headers: Status, Content-Type text/html, the
 * Content-Security-Policy (nothing loads from anywhere; inline style only;
 * forms post only here), X-Frame-Options DENY, nosniff, no-referrer and
 * no-store; EXTRA (may be NULL) holds further header lines, each ending in
 * CRLF.  Ends the header block. */
void cgi_headers(struct cgi_request *r, int code, const char *extra);
/* As cgi_headers, and the page may run the inline scripts SCRIPT_SRC names
 * (CSP sources, e.g. 'sha256-...'; NULL: none, as cgi_headers). */
void cgi_headers_scripts(struct cgi_request *r, int code, const char *script_src, const char *extra);

/* The page of last resort, when the templates cannot be used: the headers
 * (status CODE, or 500 for a 200) and, unless HEAD_ONLY, a minimal HTML page
 * that asks to try again later. */
void cgi_unavailable(struct cgi_request *r, int code, const char *extra, int head_only);

/* Why cgi_read_form failed: the HTTP status to answer and a sentence for
 * the person who sent it. */
struct cgi_error {
    int status;
    const char *what;
};

/* Reads request R's form: for GET and HEAD the query string (at most
 * QUERY_MAX bytes), for POST the body (at most BODY_MAX bytes, which must
 * be application/x-www-form-urlencoded and exactly CONTENT_LENGTH long),
 * parsed by form_parse() with the names in ALLOWED.  Returns 0, or -1 with
 * E saying what to answer (400, 411, 413, 414 or 415).  Other methods are
 * the caller's to refuse. */
int cgi_read_form(struct cgi_request *r, const char *method, size_t query_max, size_t body_max,
                  const char *const *allowed, struct form *f, struct cgi_error *e);
/* As cgi_read_form, and a POST's field TEXT_NAME may be as long as the
 * body: it is read into F->text (form_parse_text(); form_free() frees it). */
int cgi_read_form_text(struct cgi_request *r, const char *method, size_t query_max, size_t body_max,
                       const char *const *allowed, const char *text_name, struct form *f, struct cgi_error *e);

/* The start of a web program's setup, as a CGI or before its FastCGI
 * loop: CFG read from the configuration file ($GUARDLIST_CONFIG or the
 * default), logging set up as PROGRAM, the store's domain policy and
 * recipient delimiter (store_configure).  Returns 0, or -1 with the reason
 * logged. */
int cgi_setup_config(struct config *cfg, const char *program);

#endif
