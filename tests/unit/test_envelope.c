/* test_envelope.c - unit tests of lib/envelope.c (BATV tags, SRS decoding,
 * envelope_unwrap) and lib/netlist.c (trusted forwarder lists).  One row a
 * case. */
#include "unit.h"
#include "envelope.h"
#include "netlist.h"

/* ---- envelope_strip_batv ---- */

struct batv_row {
    const char *name;
    const char *local;      /* folded local part */
    const char *want;       /* NULL: not a BATV form, nothing removed */
};

static struct batv_row batv_rows[] = {
    {"batv: prvs=TAG=user, the draft's K DDD SSSSSS", "prvs=4068eb2540=simexpand", "simexpand"},
    {"batv: prvs=TAG=user, DDD SSSSSS without K (Cisco)", "prvs=374a1453b=andrew.cooper3", "andrew.cooper3"},
    {"batv: prvs=TAG=user keeps '=' in the user", "prvs=1940025abc=a=b", "a=b"},
    {"batv: prvs=user=TAG, the older order", "prvs=grandma=0123abcdef", "grandma"},
    {"batv: prvs=user=TAG, user with '='", "prvs=a=b=0123abcdef", "a=b"},
    {"batv: prvs with an 11-character field is no tag", "prvs=01234567890=grandma", NULL},
    {"batv: prvs with non-hex signature is no tag", "prvs=012abcdefg=grandma", NULL},
    {"batv: prvs with a letter in the day is no tag", "prvs=0a2abcdef0=grandma", NULL},
    {"batv: prvs without a second field", "prvs=0123abcdef", NULL},
    {"batv: prvs=TAG= with an empty user", "prvs=0123abcdef=", NULL},
    {"batv: prvs==TAG (empty user, older order)", "prvs==0123abcdef", NULL},
    {"batv: msprvs1 (SparkPost)", "msprvs1=17582z2tky0dk=bounces-9178", "bounces-9178"},
    {"batv: msprvs1 tag with '-'", "msprvs1=20681k-oj8lal=bounces-274689", "bounces-274689"},
    {"batv: msprvs1 tag too short", "msprvs1=ab=bounces", NULL},
    {"batv: btv1 (Barracuda)", "btv1==760cdc7c545==julian.burellaperez", "julian.burellaperez"},
    {"batv: btv1 with a non-hex tag", "btv1==tag==user", NULL},
    {"batv: btv1 without the closing ==", "btv1==760cdc7c545=user", NULL},
    {"batv: a plain address", "grandma", NULL},
    {"batv: prvs only inside the local part", "x-prvs=0123abcdef=grandma", NULL},
};

static void test_batv(void **state)
{
    const struct batv_row *row = *state;
    char out[ADDR_MAX + 1] = "untouched";

    int rc = envelope_strip_batv(row->local, out, sizeof(out));
    if (row->want) {
        assert_int_equal(rc, 1);
        assert_string_equal(out, row->want);
    } else {
        assert_int_equal(rc, 0);
        assert_string_equal(out, "untouched");
    }
}

/* ---- envelope_decode_srs ---- */

struct srs_row {
    const char *name;
    const char *local;
    const char *want_local, *want_domain;   /* NULL: not decoded */
};

static struct srs_row srs_rows[] = {
    {"srs: SRS0", "srs0=hhhh=tt=example.com=grandma", "grandma", "example.com"},
    {"srs: SRS0 with '+' as first separator", "srs0+hhhh=tt=example.com=grandma", "grandma", "example.com"},
    {"srs: SRS0 with '-' as first separator", "srs0-hhhh=tt=example.com=grandma", "grandma", "example.com"},
    {"srs: SRS0 user keeps '='", "srs0=kjsf=5o=citrix.com=prvs=374a1453b=andrew.cooper3",
     "prvs=374a1453b=andrew.cooper3", "citrix.com"},
    {"srs: SRS0 hash with + and /", "srs0=a+/b=tt=example.com=x", "x", "example.com"},
    {"srs: SRS1", "srs1=hhhh=first.example==hhhh=tt=example.com=grandma", "grandma", "example.com"},
    {"srs: SRS1 with '+' inner separator", "srs1=hhhh=first.example=+hhhh=tt=example.com=grandma", "grandma",
     "example.com"},
    {"srs: Exchange Online box+SRS=", "forward+srs=44ldt=ix=example.com=alice", "alice", "example.com"},
    {"srs: SRS0 with a 3-character timestamp", "srs0=hhhh=ttt=example.com=grandma", NULL, NULL},
    {"srs: SRS0 missing the user", "srs0=hhhh=tt=example.com=", NULL, NULL},
    {"srs: SRS0 missing a field", "srs0=hhhh=tt=example.com", NULL, NULL},
    {"srs: SRS0 with an empty hash", "srs0==tt=example.com=grandma", NULL, NULL},
    {"srs: SRS0 domain with a bad character", "srs0=hhhh=tt=exa!mple.com=grandma", NULL, NULL},
    {"srs: SRS0 user with a space", "srs0=hhhh=tt=example.com=a b", NULL, NULL},
    {"srs: SRS2 is not SRS", "srs2=hhhh=tt=example.com=grandma", NULL, NULL},
    {"srs: srs0 without a separator", "srs0hhhh=tt=example.com=grandma", NULL, NULL},
    {"srs: SRS1 without the inner separator", "srs1=hhhh=first.example=hhhh=tt=example.com=grandma", NULL, NULL},
    {"srs: +srs= at the start is not Exchange's form", "+srs=44ldt=ix=example.com=alice", NULL, NULL},
    {"srs: a plain address", "grandma", NULL, NULL},
};

static void test_srs(void **state)
{
    const struct srs_row *row = *state;
    char l[ADDR_MAX + 1] = "untouched", d[ADDR_MAX + 1] = "untouched";

    int rc = envelope_decode_srs(row->local, l, sizeof(l), d, sizeof(d));
    if (row->want_local) {
        assert_int_equal(rc, 1);
        assert_string_equal(l, row->want_local);
        assert_string_equal(d, row->want_domain);
    } else {
        assert_int_equal(rc, 0);
        assert_string_equal(d, "untouched");
    }
}

/* ---- envelope_unwrap ---- */

struct unwrap_row {
    const char *name;
    const char *in;
    int trusted;
    int want_bits;
    const char *want;       /* the address after */
};

static struct unwrap_row unwrap_rows[] = {
    {"unwrap: plain address unchanged", "Grandma@Example.com", 0, 0, "grandma@example.com"},
    {"unwrap: BATV removed, untrusted client", "prvs=4068eb2540=Grandma@Example.com", 0, ENVELOPE_BATV,
     "grandma@example.com"},
    {"unwrap: BATV older order removed", "PRVS=grandma=0123ABCDEF@example.com", 0, ENVELOPE_BATV,
     "grandma@example.com"},
    {"unwrap: Barracuda removed", "btv1==0777abbcc85==TCWM179387@ipen.br", 0, ENVELOPE_BATV, "tcwm179387@ipen.br"},
    {"unwrap: SRS0 from a trusted forwarder decoded", "SRS0=HHHh=TT=example.com=grandma@fwd.test", 1,
     ENVELOPE_SRS, "grandma@example.com"},
    {"unwrap: SRS0 from a stranger kept", "SRS0=HHHh=TT=example.com=grandma@fwd.test", 0,
     ENVELOPE_SRS_UNTRUSTED, "srs0=hhhh=tt=example.com=grandma@fwd.test"},
    {"unwrap: SRS1 from a trusted forwarder decoded", "SRS1=x=one.test==hhhh=tt=example.com=grandma@two.test", 1,
     ENVELOPE_SRS, "grandma@example.com"},
    {"unwrap: SRS of a BATV sender: both undone", "SRS0=Kjsf=5O=citrix.com=prvs=374a1453b=Andrew.Cooper3@srs.test",
     1, ENVELOPE_SRS | ENVELOPE_BATV, "andrew.cooper3@citrix.com"},
    {"unwrap: BATV around SRS, untrusted: BATV removed, SRS kept", "prvs=4068eb2540=srs0=h=tt=example.com=g@fwd.test",
     0, ENVELOPE_BATV | ENVELOPE_SRS_UNTRUSTED, "srs0=h=tt=example.com=g@fwd.test"},
    {"unwrap: SRS decoding to an invalid domain kept", "srs0=h=tt=a..b=g@fwd.test", 1, 0,
     "srs0=h=tt=a..b=g@fwd.test"},
    {"unwrap: the null sender", "<>", 1, 0, "<>"},
    {"unwrap: +ext after BATV kept (extension of the real sender)", "prvs=4068eb2540=bounces+77@list.test", 0,
     ENVELOPE_BATV, "bounces+77@list.test"},
};

static void test_unwrap(void **state)
{
    const struct unwrap_row *row = *state;
    struct addr a;
    char err[128], out[ADDR_MAX + 2];

    assert_int_equal(addr_parse(row->in, "+", &a, err, sizeof(err)), 0);
    assert_int_equal(envelope_unwrap(&a, row->trusted, "+"), row->want_bits);
    assert_int_equal(addr_format(&a, 0, out, sizeof(out)), 0);
    assert_string_equal(out, row->want);
}

/* ---- netlist ---- */

struct net_row {
    const char *name;
    const char *list;
    const char *ip;
    int want;           /* -1: the list does not parse */
};

static struct net_row net_rows[] = {
    {"net: one IPv4 address", "192.0.2.1", "192.0.2.1", 1},
    {"net: one IPv4 address, another client", "192.0.2.1", "192.0.2.2", 0},
    {"net: IPv4 /24", "192.0.2.0/24", "192.0.2.77", 1},
    {"net: IPv4 /24, outside", "192.0.2.0/24", "192.0.3.1", 0},
    {"net: IPv4 /0 covers all IPv4", "0.0.0.0/0", "203.0.113.9", 1},
    {"net: IPv4 /0 covers no IPv6", "0.0.0.0/0", "2001:db8::1", 0},
    {"net: IPv4 /31 boundary", "10.0.0.2/31", "10.0.0.3", 1},
    {"net: IPv4 /31 boundary, outside", "10.0.0.2/31", "10.0.0.4", 0},
    {"net: IPv6 /64", "2001:db8:1:2::/64", "2001:db8:1:2:abcd::1", 1},
    {"net: IPv6 /64, outside", "2001:db8:1:2::/64", "2001:db8:1:3::1", 0},
    {"net: IPv6 address", "::1", "::1", 1},
    {"net: IPv4-mapped client matches IPv4", "127.0.0.1", "::ffff:127.0.0.1", 1},
    {"net: list with commas and blanks", "10.1.1.1, 192.0.2.0/24  2001:db8::/32", "2001:db8:ffff::5", 1},
    {"net: empty list matches nothing", "", "127.0.0.1", 0},
    {"net: unparsable client", "127.0.0.1", "localhost", 0},
    {"net: host name refused", "mail.example.com", NULL, -1},
    {"net: host bits set refused", "10.0.0.1/8", NULL, -1},
    {"net: prefix too long for IPv4", "10.0.0.0/33", NULL, -1},
    {"net: prefix not a number", "10.0.0.0/x", NULL, -1},
    {"net: empty prefix", "10.0.0.0/", NULL, -1},
    {"net: IPv6 prefix 129", "2001:db8::/129", NULL, -1},
};

static void test_net(void **state)
{
    const struct net_row *row = *state;
    struct netlist nl = { 0 };
    char err[200] = "";

    if (row->want < 0) {
        assert_int_equal(netlist_add(&nl, row->list, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
        assert_int_equal(nl.n, 0);
        return;
    }
    assert_int_equal(netlist_add(&nl, row->list, err, sizeof(err)), 0);
    assert_int_equal(netlist_match(&nl, row->ip), row->want);
}

/* Entries add up across calls (the config key may repeat), up to the bound. */
static void test_net_bound(void **state)
{
    struct netlist nl = { 0 };
    char err[200], ip[32];

    (void)state;
    for (int i = 0; i < NETLIST_MAX; i++) {
        snprintf(ip, sizeof(ip), "10.0.%d.1", i);
        assert_int_equal(netlist_add(&nl, ip, err, sizeof(err)), 0);
    }
    assert_int_equal(netlist_add(&nl, "10.9.9.9", err, sizeof(err)), -1);
    assert_int_equal(nl.n, NETLIST_MAX);
    assert_int_equal(netlist_match(&nl, "10.0.63.1"), 1);
    assert_int_equal(netlist_match(NULL, "10.0.63.1"), 0);
}

static struct CMUnitTest tests[UNIT_LEN(batv_rows) + UNIT_LEN(srs_rows) + UNIT_LEN(unwrap_rows)
                               + UNIT_LEN(net_rows) + 1];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_batv, batv_rows);
    UNIT_ADD_ROWS(tests, n, test_srs, srs_rows);
    UNIT_ADD_ROWS(tests, n, test_unwrap, unwrap_rows);
    UNIT_ADD_ROWS(tests, n, test_net, net_rows);
    UNIT_ADD(tests, n, test_net_bound);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
