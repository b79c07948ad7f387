/* test_cgi.c - unit tests of lib/cgi.c's request side: cgi_param() looks a
 * name up in the request's own parameters (exact names, never the process
 * environment, which a FastCGI process shares between requests), and
 * cgi_read_form() takes the query and the POST body of that request with
 * its bounds (411, 413, 414, 415, 400).  One row a case.  A POST body is
 * read from fd 0 in CGI mode: the rows that read one put a pipe there. */
#include "unit.h"
#include "cgi.h"

#include <unistd.h>

/* ---- cgi_param ---- */

struct param_row {
    const char *name;
    const char *want_of;        /* the name looked up */
    const char *want;           /* NULL: not found */
};

static char *param_env[] = {
    "REMOTE_USER_X=other", "REMOTE_USERX=other2", "QUERY_STRING=t=1", "EMPTY=", "SCRIPT_NAME=/a=b", NULL,
};

static struct param_row param_rows[] = {
    {"param: an exact name is found", "QUERY_STRING", "t=1"},
    {"param: a longer name with the same start is not the name", "REMOTE_USER", NULL},
    {"param: an empty value is found, empty", "EMPTY", ""},
    {"param: the value is everything after the first =", "SCRIPT_NAME", "/a=b"},
    {"param: a missing name is NULL", "CONTENT_TYPE", NULL},
    {"param: the process environment is never read", "GUARDLIST_TEST_PROCESS_ONLY", NULL},
};

static void test_param(void **state)
{
    const struct param_row *row = *state;
    struct cgi_request r = { param_env, NULL, NULL };
    const char *got;

    setenv("GUARDLIST_TEST_PROCESS_ONLY", "process", 1);
    got = cgi_param(&r, row->want_of);
    if (!row->want)
        assert_null(got);
    else
        assert_string_equal(got, row->want);
}

static void test_param_no_envp(void **state)
{
    struct cgi_request r = { NULL, NULL, NULL };

    (void)state;
    assert_null(cgi_param(&r, "QUERY_STRING"));
}

/* ---- cgi_read_form ---- */

struct form_row {
    const char *name;
    const char *method;
    const char *query;          /* QUERY_STRING, NULL: absent */
    const char *length;         /* CONTENT_LENGTH, NULL: absent */
    const char *type;           /* CONTENT_TYPE, NULL: absent */
    const char *body;           /* on fd 0, NULL: nothing put there */
    int status;                 /* 0: accepted */
    const char *t;              /* the t field afterwards, NULL: none */
};

static struct form_row form_rows[] = {
    {"form: GET takes t from the request's query", "GET", "t=abc", NULL, NULL, NULL, 0, "abc"},
    {"form: GET without a query has no t (not the process's)", "GET", NULL, NULL, NULL, NULL, 0, NULL},
    {"form: HEAD reads the query as GET does", "HEAD", "t=x", NULL, NULL, NULL, 0, "x"},
    {"form: a query over the bound is 414", "GET", "t=0123456789abcdef0123456789abcdef0", NULL, NULL, NULL, 414, NULL},
    {"form: an unknown field in the query is 400", "GET", "u=1", NULL, NULL, NULL, 400, NULL},
    {"form: POST takes t from its body, not the query", "POST", "t=query", "5", "application/x-www-form-urlencoded",
     "t=bod", 0, "bod"},
    {"form: POST with a charset parameter", "POST", NULL, "3", "application/x-www-form-urlencoded; charset=utf-8",
     "t=z", 0, "z"},
    {"form: POST without a length is 411", "POST", NULL, NULL, "application/x-www-form-urlencoded", NULL, 411, NULL},
    {"form: POST with a length that is not a number is 400", "POST", NULL, "5x", "application/x-www-form-urlencoded",
     NULL, 400, NULL},
    {"form: POST over the body bound is 413", "POST", NULL, "65", "application/x-www-form-urlencoded", NULL, 413, NULL},
    {"form: POST of another type is 415", "POST", NULL, "3", "multipart/form-data", NULL, 415, NULL},
    {"form: POST of a type that only starts the same is 415", "POST", NULL, "3",
     "application/x-www-form-urlencodedx", NULL, 415, NULL},
    {"form: POST whose body ends early is 400", "POST", NULL, "9", "application/x-www-form-urlencoded", "t=ab", 400,
     NULL},
};

/* Puts BODY on fd 0 (a pipe, closed for writing); returns the old fd 0. */
static int body_on_stdin(const char *body)
{
    int p[2], saved = dup(0);

    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], body, strlen(body)), (ssize_t)strlen(body));
    close(p[1]);
    dup2(p[0], 0);
    close(p[0]);
    return saved;
}

static void test_form(void **state)
{
    const struct form_row *row = *state;
    static const char *const allowed[] = { "t", "choice", NULL };
    char q[128], cl[64], ct[128], rm[32];
    char *envp[5];
    int n = 0, saved = -1;
    struct form f;
    struct cgi_error e = { 0, NULL };

    setenv("QUERY_STRING", "t=process", 1);      /* must never be read */
    snprintf(rm, sizeof(rm), "REQUEST_METHOD=%s", row->method);
    envp[n++] = rm;
    if (row->query) {
        snprintf(q, sizeof(q), "QUERY_STRING=%s", row->query);
        envp[n++] = q;
    }
    if (row->length) {
        snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%s", row->length);
        envp[n++] = cl;
    }
    if (row->type) {
        snprintf(ct, sizeof(ct), "CONTENT_TYPE=%s", row->type);
        envp[n++] = ct;
    }
    envp[n] = NULL;
    if (row->body)
        saved = body_on_stdin(row->body);
    struct cgi_request r = { envp, NULL, NULL };
    int rc = cgi_read_form(&r, row->method, 32, 64, allowed, &f, &e);
    if (saved >= 0) {
        dup2(saved, 0);
        close(saved);
    }
    if (row->status) {
        assert_int_equal(rc, -1);
        assert_int_equal(e.status, row->status);
        assert_non_null(e.what);
        return;
    }
    assert_int_equal(rc, 0);
    if (row->t)
        assert_string_equal(form_get(&f, "t"), row->t);
    else
        assert_null(form_get(&f, "t"));
}

static struct CMUnitTest tests[UNIT_LEN(param_rows) + 1 + UNIT_LEN(form_rows)];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_param, param_rows);
    UNIT_ADD(tests, n, test_param_no_envp);
    UNIT_ADD_ROWS(tests, n, test_form, form_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
