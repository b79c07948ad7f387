/* cgi.h - what guardlist's CGI programs (the approval page, the admin page)
 * share: their response headers and the bounded, strict reading of a
 * request's form. */
#ifndef GUARDLIST_CGI_H
#define GUARDLIST_CGI_H

#include <stddef.h>
#include "form.h"

/* The reason phrase of an HTTP status this project sends. */
const char *cgi_status_text(int code);

/* Prints the CGI response headers: Status, Content-Type text/html, the
 * Content-Security-Policy (nothing loads from anywhere; inline style only;
 * forms post only here), X-Frame-Options DENY, nosniff, no-referrer and
 * no-store; EXTRA (may be NULL) holds further header lines, each ending in
 * CRLF.  Ends the header block. */
void cgi_headers(int code, const char *extra);

/* The page of last resort, when the templates cannot be used: the headers
 * (status CODE, or 500 for a 200) and, unless HEAD_ONLY, a minimal HTML page
 * that asks to try again later. */
void cgi_unavailable(int code, const char *extra, int head_only);

/* Why cgi_read_form failed: the HTTP status to answer and a sentence for
 * the person who sent it. */
struct cgi_error {
    int status;
    const char *what;
};

/* Reads the request's form: for GET and HEAD the query string (at most
 * QUERY_MAX bytes), for POST the body (at most BODY_MAX bytes, which must
 * be application/x-www-form-urlencoded and exactly CONTENT_LENGTH long),
 * parsed by form_parse() with the names in ALLOWED.  Returns 0, or -1 with
 * E saying what to answer (400, 411, 413, 414 or 415).  Other methods are
 * the caller's to refuse. */
int cgi_read_form(const char *method, size_t query_max, size_t body_max, const char *const *allowed,
                  struct form *f, struct cgi_error *e);

#endif
