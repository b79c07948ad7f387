/* test_capkey.c - unit tests of daemon/capkey.c: the key the per-client
 * hourly cap counts a client address under (IPv4 as is, IPv6 by /64,
 * IPv4-mapped IPv6 as IPv4, anything else as itself). */
#include "unit.h"
#include "capkey.h"

struct key_row {
    const char *name;
    const char *addr;
    const char *want;
};

static struct key_row key_rows[] = {
    {"capkey: IPv4 as it is", "192.0.2.1", "192.0.2.1"},
    {"capkey: IPv4 neighbours are two keys", "192.0.2.2", "192.0.2.2"},
    {"capkey: IPv6 counted by its /64", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
    {"capkey: another host of the same /64, the same key", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
    {"capkey: the next /64 is another key", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
    {"capkey: IPv6 spelt in capitals and in full, the same key", "2001:0DB8:0001:0002:0000:0000:0000:0009",
     "2001:db8:1:2::/64"},
    {"capkey: IPv4-mapped IPv6 is the IPv4 address", "::ffff:192.0.2.1", "192.0.2.1"},
    {"capkey: IPv4-mapped IPv6 in capitals", "::FFFF:192.0.2.7", "192.0.2.7"},
    {"capkey: IPv4-mapped IPv6 in hex", "::ffff:c000:201", "192.0.2.1"},
    {"capkey: a zone id is dropped", "fe80::1%eth0", "fe80::/64"},
    {"capkey: loopback IPv6", "::1", "::/64"},
    {"capkey: unknown stays itself", "unknown", "unknown"},
    {"capkey: garbage with a colon stays itself", "zz:yy", "zz:yy"},
    {"capkey: empty is empty", "", ""},
};

static void test_key(void **state)
{
    const struct key_row *row = *state;
    char out[CAPKEY_MAX];

    assert_string_equal(capkey_client(row->addr, out, sizeof(out)), row->want);
}

static void test_null_and_small(void **state)
{
    char out[CAPKEY_MAX], tiny[8];

    (void)state;
    assert_string_equal(capkey_client(NULL, out, sizeof(out)), "");
    /* Cut to fit, always terminated; never past the buffer. */
    capkey_client("a-very-long-client-name", tiny, sizeof(tiny));
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
    memset(out, 'x', sizeof(out));
    capkey_client("192.0.2.1", out, 0);
    assert_int_equal(out[0], 'x');
}

static struct CMUnitTest tests[UNIT_LEN(key_rows) + 1];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_key, key_rows);
    UNIT_ADD(tests, n, test_null_and_small);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
