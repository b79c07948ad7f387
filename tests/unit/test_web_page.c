/* test_web_page.c - unit tests of web/page.c's HTML pieces: query-string
 * escaping for links, and the cells and form fields the lists are built
 * from (every value escaped).  One row a case. */
#include "unit.h"
#include "web.h"

/* ---- page_url_escape ---- */

struct url_row {
    const char *name;
    const char *in, *want;
};

static struct url_row url_rows[] = {
    {"url: an address stays as it is", "kid@family.test", "kid@family.test"},
    {"url: unreserved characters stay", "a-b.c_d~e", "a-b.c_d~e"},
    {"url: + & = # and space are escaped", "a+b&c=d#e f", "a%2Bb%26c%3Dd%23e%20f"},
    {"url: markup is escaped", "<b>\"'", "%3Cb%3E%22%27"},
    {"url: UTF-8 bytes are escaped one by one", "\xc3\xa4", "%C3%A4"},
    {"url: empty stays empty", "", ""},
};

static void test_url(void **state)
{
    const struct url_row *row = *state;
    struct buf b = { 0 };

    page_url_escape(&b, row->in);
    assert_string_equal(b.p ? b.p : "", row->want);
    buf_free(&b);
}

/* ---- page_cell, page_hidden, page_form_open ---- */

static void test_pieces_escape(void **state)
{
    struct web w = { .script = "/admin\"x", .csrf = "1.ab" };
    struct buf b = { 0 };

    (void)state;
    page_cell(&b, "Sender", PAGE_VALUE, "<a>&");
    page_cell(&b, "Action", PAGE_TEXT, NULL);
    page_cell(&b, "Detail", PAGE_TEXT, "a <b>");
    assert_string_equal(b.p, "<td data-label=\"Sender\">&lt;a&gt;&amp;</td>"
                             "<td data-label=\"Action\" class=\"text\"></td>"
                             "<td data-label=\"Detail\" class=\"text\">a &lt;b&gt;</td>");
    buf_reset(&b);
    page_form_open(&w, &b, "rule-rm", "rules", "inline");
    page_hidden(&b, "sender", "\"><script>");
    assert_string_equal(b.p, "<form method=\"post\" action=\"/admin&quot;x\" class=\"inline\">"
                             "<input type=\"hidden\" name=\"do\" value=\"rule-rm\">"
                             "<input type=\"hidden\" name=\"csrf\" value=\"1.ab\">"
                             "<input type=\"hidden\" name=\"p\" value=\"rules\">"
                             "<input type=\"hidden\" name=\"sender\" value=\"&quot;&gt;&lt;script&gt;\">");
    buf_free(&b);
}

static struct CMUnitTest tests[UNIT_LEN(url_rows) + 1];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_url, url_rows);
    UNIT_ADD(tests, n, test_pieces_escape);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
