/*
 * cgi - the response headers and the request reading shared by
 * guardlist-approve and guardlist-web.
 *
 * SECURITY: the request is untrusted.  Sizes are checked before anything
 * is read, the body is read to exactly CONTENT_LENGTH bytes, a NUL byte is
 * refused, and lib/form.c accepts only the names the page expects.
 */
#include "cgi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

void cgi_headers(int code, const char *extra)
{
    printf("Status: %d %s\r\n"
           "Content-Type: text/html; charset=utf-8\r\n"
           "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
           "frame-ancestors 'none'; base-uri 'none'\r\n"
           "X-Frame-Options: DENY\r\n"
           "X-Content-Type-Options: nosniff\r\n"
           "Referrer-Policy: no-referrer\r\n"
           "Cache-Control: no-store\r\n"
           "%s\r\n", code, cgi_status_text(code), extra ? extra : "");
}

void cgi_unavailable(int code, const char *extra, int head_only)
{
    cgi_headers(code == 200 ? 500 : code, extra);
    if (!head_only)
        printf("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>guardlist</title>"
               "</head><body><p>This page cannot be shown right now. Please try again later.</p></body></html>\n");
}

static int refuse(struct cgi_error *e, int status, const char *what)
{
    e->status = status;
    e->what = what;
    return -1;
}

int cgi_read_form(const char *method, size_t query_max, size_t body_max, const char *const *allowed,
                  struct form *f, struct cgi_error *e)
{
    char err[200];

    if (strcmp(method, "POST") != 0) {
        const char *q = getenv("QUERY_STRING");
        q = q ? q : "";
        if (strlen(q) > query_max)
            return refuse(e, 414, "The address of this page is longer than it accepts.");
        if (form_parse(q, strlen(q), allowed, f, err, sizeof(err)) < 0)
            return refuse(e, 400, "The address of this page is not one it understands.");
        return 0;
    }
    const char *cl = getenv("CONTENT_LENGTH"), *ct = getenv("CONTENT_TYPE");
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
        ssize_t r = read(0, body + got, (size_t)n - got);
        if (r <= 0) {
            free(body);
            return refuse(e, 400, "The form arrived incomplete.");
        }
        got += (size_t)r;
    }
    body[got] = '\0';
    int bad = memchr(body, '\0', got) != NULL || form_parse(body, got, allowed, f, err, sizeof(err)) < 0;
    free(body);
    return bad ? refuse(e, 400, "The form could not be read.") : 0;
}
