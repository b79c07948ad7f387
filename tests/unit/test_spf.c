/* test_spf.c - unit tests of daemon/spf.c (verdict names, the reply each
 * verdict gives, TTL clamps), daemon/spfdns.c's refusal of records libspf2
 * cannot compile safely, and netlist_endpoint() ([policy] resolver).
 * Evaluations against DNS are integration (129_spf.t, a private dnsmasq). */
#include "unit.h"
#include "netlist.h"
#include "spf.h"
#include "spfdns.h"

struct verdict_row {
    const char *name;
    enum spf_verdict v;
    const char *word;           /* spf_verdict_name() */
    const char *reply_prefix;   /* spf_verdict_reply(): NULL = the decision stands */
};

static struct verdict_row verdict_rows[] = {
    {"verdict: pass lets the decision stand", SPF_V_PASS, "pass", NULL},
    {"verdict: none lets the decision stand (not verified)", SPF_V_NONE, "none", NULL},
    {"verdict: neutral lets the decision stand", SPF_V_NEUTRAL, "neutral", NULL},
    {"verdict: fail refuses 550 5.7.23", SPF_V_FAIL, "fail", "550 5.7.23 "},
    {"verdict: softfail refuses 550 5.7.23", SPF_V_SOFTFAIL, "softfail", "550 5.7.23 "},
    {"verdict: permerror refuses 550 5.7.23", SPF_V_PERMERROR, "permerror", "550 5.7.23 "},
    {"verdict: temperror is 451 4.4.3, never an allow", SPF_V_TEMPERROR, "temperror", "451 4.4.3 "},
    {"verdict: out of range is treated as temperror", (enum spf_verdict)99, "temperror", "451 4.4.3 "},
};

static void test_verdict(void **state)
{
    const struct verdict_row *row = *state;
    const char *reply = spf_verdict_reply(row->v);

    assert_string_equal(spf_verdict_name(row->v), row->word);
    if (!row->reply_prefix) {
        assert_null(reply);
        return;
    }
    assert_non_null(reply);
    assert_memory_equal(reply, row->reply_prefix, strlen(row->reply_prefix));
    assert_non_null(strstr(reply, "could not be verified"));
    assert_null(strstr(reply, "Access denied"));    /* a text of its own, not the article's */
    for (const char *p = reply; *p; p++)            /* a valid policy action: no control bytes */
        assert_true(*p >= 0x20 && *p < 0x7f);
}

struct ttl_row {
    const char *name;
    enum spf_verdict v;
    unsigned dns, want;
};

static struct ttl_row ttl_rows[] = {
    {"ttl: a DNS TTL of 0 is kept SPF_TTL_MIN", SPF_V_PASS, 0, SPF_TTL_MIN},
    {"ttl: a TTL within bounds is kept as is", SPF_V_FAIL, 300, 300},
    {"ttl: a long TTL is capped at SPF_TTL_MAX", SPF_V_NONE, 86400, SPF_TTL_MAX},
    {"ttl: no TTL seen (UINT_MAX) is capped", SPF_V_NEUTRAL, 0xffffffffu, SPF_TTL_MAX},
    {"ttl: temperror is asked again soon whatever DNS said", SPF_V_TEMPERROR, 3000, SPF_TTL_TEMPERROR},
};

static void test_ttl(void **state)
{
    const struct ttl_row *row = *state;

    assert_int_equal(spf_ttl_for(row->v, row->dns), row->want);
}

struct txt_row {
    const char *name;
    const char *txt;
    int refused;
};

static char long_macro[300], long_plain[300];

static struct txt_row txt_rows[] = {
    {"txt: a plain record is handed on", "v=spf1 ip4:192.0.2.0/24 include:_spf.example.com -all", 0},
    {"txt: a short macro is handed on", "v=spf1 exists:%{i}._ip.%{h}._ehlo.%{d}._spf.vali.email ~all", 0},
    {"txt: a term with a macro past the bound is refused", long_macro, 1},
    {"txt: a long term without a macro is handed on", long_plain, 0},
    {"txt: not an SPF record: never refused", "google-site-verification=abc%{d}", 0},
    {"txt: v=spf10 is not SPF", "v=spf10 %{d}", 0},
};

static void test_txt(void **state)
{
    const struct txt_row *row = *state;

    assert_int_equal(spfdns_txt_refused(row->txt), row->refused);
}

struct endpoint_row {
    const char *name;
    const char *text;
    int ok, v6;
    unsigned port;
};

static struct endpoint_row endpoint_rows[] = {
    {"resolver: IPv4 alone is port 53", "127.0.0.53", 1, 0, 53},
    {"resolver: IPv4:PORT", "192.0.2.1:5353", 1, 0, 5353},
    {"resolver: bare IPv6 is port 53", "2001:db8::53", 1, 1, 53},
    {"resolver: [IPv6]:PORT", "[::1]:10053", 1, 1, 10053},
    {"resolver: [IPv6] without a port", "[::1]", 1, 1, 53},
    {"resolver: IPv4-mapped counts as IPv4", "[::ffff:127.0.0.1]:53", 1, 0, 53},
    {"resolver: a host name is refused", "dns.example.org:53", 0, 0, 0},
    {"resolver: port 0 is refused", "127.0.0.1:0", 0, 0, 0},
    {"resolver: port 65536 is refused", "127.0.0.1:65536", 0, 0, 0},
    {"resolver: an empty port is refused", "127.0.0.1:", 0, 0, 0},
    {"resolver: [IPv6] with junk after it is refused", "[::1]x53", 0, 0, 0},
    {"resolver: empty is refused", "", 0, 0, 0},
};

static void test_endpoint(void **state)
{
    const struct endpoint_row *row = *state;
    struct netlist_endpoint ep = { 0, { 0 }, 7 };
    char err[200] = "";

    int rc = netlist_endpoint(row->text, 53, &ep, err, sizeof(err));
    assert_int_equal(rc, row->ok ? 0 : -1);
    if (!row->ok) {
        assert_int_equal(ep.port, 7);           /* unchanged on error */
        assert_true(err[0] != '\0');
        return;
    }
    assert_int_equal(ep.v6, row->v6);
    assert_int_equal(ep.port, row->port);
}

/* A checker can be made and freed without DNS; a bad resolver is an error. */
static void test_checker_new(void **state)
{
    char err[200] = "";
    struct spf_checker *ck = spf_checker_new("127.0.0.1:9", err, sizeof(err));

    (void)state;
    assert_non_null(ck);
    spf_checker_free(ck);
    spf_checker_free(NULL);
    assert_null(spf_checker_new("resolver.example", err, sizeof(err)));
    assert_non_null(strstr(err, "resolver.example"));
}

struct domain_row {
    const char *name;
    const char *sender;
    const char *domain;         /* spf_domain()'s, NULL: -1 (judged permerror) */
};

static struct domain_row domain_rows[] = {
    {"domain: ASCII, lower-cased", "Grandma@Example.COM", "example.com"},
    {"domain: UTF-8 as A-labels", "grandma@b\xc3\xbc" "cher.test", "xn--bcher-kva.test"},
    {"domain: UTF-8 upper case mapped (UTS #46) before A-labels", "grandma@B\xc3\x9c" "CHER.test",
     "xn--bcher-kva.test"},
    {"domain: A-labels as given", "grandma@XN--BCHER-KVA.test", "xn--bcher-kva.test"},
    {"domain: the last '@' counts", "\"a@b\"@pass.test", "pass.test"},
    {"domain: invalid UTF-8 cannot be converted", "grandma@b\xfc" "cher.test", NULL},
    {"domain: a disallowed code point cannot be converted", "grandma@a\xe2\x80\xae" "b.test", NULL},
    {"domain: an address literal names no domain", "grandma@[192.0.2.66]", NULL},
    {"domain: none", "grandma", NULL},
    {"domain: empty", "grandma@", NULL},
};

/* Records whose verdict depends on the sender or HELO (cached for them only). */
static void test_personal(void **state)
{
    (void)state;
    assert_int_equal(spfdns_txt_personal("v=spf1 exists:%{l}.%{i}.u.example -all"), 1);
    assert_int_equal(spfdns_txt_personal("v=spf1 exists:%{S}.x.example -all"), 1);
    assert_int_equal(spfdns_txt_personal("v=spf1 include:%{o}._spf.example ~all"), 1);
    assert_int_equal(spfdns_txt_personal("v=spf1 a:%{h} -all"), 1);
    assert_int_equal(spfdns_txt_personal("v=spf1 exists:%{i}.%{d}.x.example -all"), 0);
    assert_int_equal(spfdns_txt_personal("v=spf1 ip4:192.0.2.0/24 -all"), 0);
    assert_int_equal(spfdns_txt_personal("v=spf1 exists:%{ir}.%{v}._spf.%{d2} -all"), 0);
    assert_int_equal(spfdns_txt_personal("google-site-verification=%{l}"), 0);     /* not SPF */
    assert_int_equal(spfdns_txt_personal("v=spf1 %{"), 0);
}

static void test_domain(void **state)
{
    const struct domain_row *row = *state;
    char out[300];

    if (!row->domain) {
        assert_int_equal(spf_domain(row->sender, out, sizeof(out)), -1);
        return;
    }
    assert_int_equal(spf_domain(row->sender, out, sizeof(out)), 0);
    assert_string_equal(out, row->domain);
    assert_int_equal(spf_domain(row->sender, out, strlen(row->domain)), -1);    /* never truncated */
}

static struct CMUnitTest tests[UNIT_LEN(verdict_rows) + UNIT_LEN(ttl_rows) + UNIT_LEN(txt_rows)
                               + UNIT_LEN(endpoint_rows) + UNIT_LEN(domain_rows) + 2];

int main(void)
{
    size_t n = 0;

    memset(long_macro, 0, sizeof(long_macro));
    strcpy(long_macro, "v=spf1 exists:%{l}");
    memset(long_macro + strlen(long_macro), 'a', 200);
    memcpy(long_macro + strlen(long_macro), ".example -all", 13);
    strcpy(long_plain, "v=spf1 include:");
    memset(long_plain + strlen(long_plain), 'b', 200);
    UNIT_ADD_ROWS(tests, n, test_verdict, verdict_rows);
    UNIT_ADD_ROWS(tests, n, test_ttl, ttl_rows);
    UNIT_ADD_ROWS(tests, n, test_txt, txt_rows);
    UNIT_ADD_ROWS(tests, n, test_endpoint, endpoint_rows);
    UNIT_ADD_ROWS(tests, n, test_domain, domain_rows);
    UNIT_ADD(tests, n, test_checker_new);
    UNIT_ADD(tests, n, test_personal);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
