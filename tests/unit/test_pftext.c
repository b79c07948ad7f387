/* test_pftext.c - unit tests of admin/pftext.c, the Postfix text `guardlist
 * doctor` reads: parameter lists, postmap/postalias -s lines, alias values,
 * policy endpoints, default actions, restrictions.  One row a case. */
#include "unit.h"
#include "pftext.h"

/* ------------------------------------------------------------ lists */

struct split_row {
    const char *name;
    const char *in;
    int rc;
    const char *out;        /* items joined by '|', or a word of the error */
};

static struct split_row split_rows[] = {
    {"split: commas and blanks", "permit_mynetworks, reject_unauth_destination\tcheck_policy_service inet:127.0.0.1:10040",
     0, "permit_mynetworks|reject_unauth_destination|check_policy_service|inet:127.0.0.1:10040"},
    {"split: empty", "", 0, ""},
    {"split: only separators", " ,, \t", 0, ""},
    {"split: a { } group is one item", "check_policy_service { inet:h:1, timeout=10s }, permit",
     0, "check_policy_service|{ inet:h:1, timeout=10s }|permit"},
    {"split: inline table", "inline:{ a=b, c=d } hash:/etc/postfix/virtual", 0, "inline:{ a=b, c=d }|hash:/etc/postfix/virtual"},
    {"split: nested groups", "{ a, { b = c d } }", 0, "{ a, { b = c d } }"},
    {"split: unbalanced {", "check_policy_service { inet:h:1", -1, "unbalanced"},
    {"split: unbalanced }", "a } b", -1, "unbalanced"},
};

static void test_split(void **state)
{
    const struct split_row *row = *state;
    struct pftext_list l;
    char err[200] = "", joined[1000] = "";
    int rc = pftext_split(row->in, &l, err, sizeof(err));

    assert_int_equal(rc, row->rc);
    if (rc == 0) {
        for (size_t i = 0; i < l.n; i++) {
            if (i)
                strcat(joined, "|");
            strcat(joined, l.item[i]);
        }
        assert_string_equal(joined, row->out);
    } else {
        assert_contains(err, row->out);
    }
    pftext_list_free(&l);
}

static void test_split_bound(void **state)
{
    size_t n = PFTEXT_ITEMS_MAX + 1;
    char *s = malloc(2 * n + 1);
    struct pftext_list l;
    char err[200];

    (void)state;
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + 2 * i, "a ", 2);
    s[2 * n] = '\0';
    assert_int_equal(pftext_split(s, &l, err, sizeof(err)), -1);
    assert_contains(err, "items");
    pftext_list_free(&l);
    free(s);
}

/* ------------------------------------------------------------ table lines */

struct line_row {
    const char *name;
    const char *in;
    int alias;
    int rc;
    const char *key, *value;
};

static struct line_row line_rows[] = {
    {"line: postmap", "kid@family.test\tkid@real.test", 0, 0, "kid@family.test", "kid@real.test"},
    {"line: postmap, value with blanks and tabs", "a@x.test\t b@x.test,\tc@x.test ", 0, 0, "a@x.test", "b@x.test,\tc@x.test"},
    {"line: postmap catch-all", "@x.test\tkid@y.test", 0, 0, "@x.test", "kid@y.test"},
    {"line: postalias", "root:\tkid, \"|/bin/cat\"", 1, 0, "root", "kid, \"|/bin/cat\""},
    {"line: postalias of a texthash file (the colon is in the key)", "root::\tkid", 1, 0, "root:", "kid"},
    {"line: postalias's @ entry skipped", "@:\t@", 1, 1, NULL, NULL},
    {"line: postalias's YP_MASTER_NAME skipped", "YP_MASTER_NAME:\tmx", 1, 1, NULL, NULL},
    {"line: no separator", "kid@family.test", 0, -1, NULL, NULL},
    {"line: postalias without colon", "root\tkid", 1, -1, NULL, NULL},
    {"line: empty value", "a@x.test\t  ", 0, -1, NULL, NULL},
    {"line: empty key", "\tkid@x.test", 0, -1, NULL, NULL},
    {"line: control character", "a@x.test\tkid\033[2J@x.test", 0, -1, NULL, NULL},
    {"line: carriage return", "a@x.test\tkid@x.test\r", 0, -1, NULL, NULL},
    {"line: DEL", "a\x7f@x.test\tkid@x.test", 0, -1, NULL, NULL},
};

static void test_line(void **state)
{
    const struct line_row *row = *state;
    char buf[300];
    char *k = NULL, *v = NULL;

    snprintf(buf, sizeof(buf), "%s", row->in);
    assert_int_equal(pftext_table_line(buf, row->alias, &k, &v), row->rc);
    if (row->rc == 0) {
        assert_string_equal(k, row->key);
        assert_string_equal(v, row->value);
    }
}

/* ------------------------------------------------------------ targets */

struct target_row {
    const char *name;
    const char *in;
    int rc;
    const char *out;        /* "A:addr|C:cmd|F:file|I:include", or a word of the error */
};

static struct target_row target_rows[] = {
    {"targets: one address", "kid@family.test", 0, "A:kid@family.test"},
    {"targets: comma list", "kid@family.test, dad@family.test,mom", 0, "A:kid@family.test|A:dad@family.test|A:mom"},
    {"targets: blank list", "kid@x.test dad@x.test", 0, "A:kid@x.test|A:dad@x.test"},
    {"targets: local name, no domain", "kid", 0, "A:kid"},
    {"targets: with an extension", "kid+news@x.test", 0, "A:kid+news@x.test"},
    {"targets: @domain result", "@new.test", 0, "A:@new.test"},
    {"targets: Name <addr>", "Kid Example <kid@x.test>, dad@x.test", 0, "A:kid@x.test|A:dad@x.test"},
    {"targets: quoted phrase with comma", "\"Doe, Kid\" <kid@x.test>", 0, "A:kid@x.test"},
    {"targets: comment dropped", "kid@x.test (the kid), dad@x.test", 0, "A:kid@x.test|A:dad@x.test"},
    {"targets: nested comment", "kid@x.test (a (b) c)", 0, "A:kid@x.test"},
    {"targets: source route dropped", "<@relay.test,@b.test:kid@x.test>", 0, "A:kid@x.test"},
    {"targets: quoted local part kept", "\"kid x\"@x.test", 0, "A:\"kid x\"@x.test"},
    {"targets: command", "\"|/usr/bin/procmail -a x\", kid", 0, "C:|/usr/bin/procmail -a x|A:kid"},
    {"targets: file", "/var/mail/archive", 0, "F:/var/mail/archive"},
    {"targets: include", ":include:/etc/postfix/list", 0, "I:/etc/postfix/list"},
    {"targets: quoted include", "\":include: /etc/postfix/list\"", 0, "I:/etc/postfix/list"},
    {"targets: backslash user", "\\kid, other", 0, "A:kid|A:other"},
    {"targets: empty items", ",, kid ,", 0, "A:kid"},
    {"targets: unbalanced quote", "\"kid@x.test", -1, "quote"},
    {"targets: unbalanced <", "Kid <kid@x.test", -1, "<"},
    {"targets: unbalanced (", "kid@x.test (oops", -1, "("},
    {"targets: unbalanced )", "kid@x.test oops)", -1, ")"},
    {"targets: stray >", "kid@x.test>", -1, ">"},
};

struct collect {
    char out[2000];
    int stop_after;
    int n;
};

static int collect(void *arg, enum pftext_target_kind kind, const char *text)
{
    struct collect *c = arg;
    static const char kinds[] = "ACFI";
    size_t l = strlen(c->out);

    snprintf(c->out + l, sizeof(c->out) - l, "%s%c:%s", l ? "|" : "", kinds[kind], text);
    return c->stop_after && ++c->n >= c->stop_after;
}

static void test_targets(void **state)
{
    const struct target_row *row = *state;
    struct collect c = { "", 0, 0 };
    char err[200] = "";
    int rc = pftext_targets(row->in, collect, &c, err, sizeof(err));

    if (rc != row->rc)
        fail_msg("rc %d, want %d (out \"%s\", err \"%s\")", rc, row->rc, c.out, err);
    if (rc == 0)
        assert_string_equal(c.out, row->out);
    else
        assert_contains(err, row->out);
}

static void test_targets_stop_and_bounds(void **state)
{
    struct collect c = { "", 2, 0 };
    char err[200] = "", *big = malloc(20000);

    (void)state;
    assert_int_equal(pftext_targets("a, b, c, d", collect, &c, err, sizeof(err)), 1);
    assert_string_equal(c.out, "A:a|A:b");
    /* A destination longer than the bound is an error, never cut. */
    assert_non_null(big);
    memset(big, 'a', PFTEXT_TARGET_MAX + 1);
    big[PFTEXT_TARGET_MAX + 1] = '\0';
    c.out[0] = '\0';
    c.stop_after = 0;
    assert_int_equal(pftext_targets(big, collect, &c, err, sizeof(err)), -1);
    assert_contains(err, "longer");
    /* An item longer than the item buffer too. */
    memset(big, 'a', 19999);
    big[19999] = '\0';
    assert_int_equal(pftext_targets(big, collect, &c, err, sizeof(err)), -1);
    assert_contains(err, "longer");
    free(big);
}

/* ------------------------------------------------------------ tables */

struct kind_row {
    const char *name;
    const char *in;
    enum pftext_table kind;
    const char *inner;
};

static struct kind_row kind_rows[] = {
    {"table: hash", "hash:/etc/postfix/virtual", PFT_LIST, "hash:/etc/postfix/virtual"},
    {"table: texthash", "texthash:/etc/postfix/virtual", PFT_LIST, "texthash:/etc/postfix/virtual"},
    {"table: lmdb", "lmdb:/etc/aliases", PFT_LIST, "lmdb:/etc/aliases"},
    {"table: btree", "btree:/etc/aliases", PFT_LIST, "btree:/etc/aliases"},
    {"table: inline", "inline:{ a@x=b@x }", PFT_LIST, "inline:{ a@x=b@x }"},
    {"table: proxy:hash unwrapped", "proxy:hash:/etc/postfix/virtual", PFT_LIST, "hash:/etc/postfix/virtual"},
    {"table: cdb through its source", "cdb:/etc/postfix/virtual", PFT_SOURCE, "cdb:/etc/postfix/virtual"},
    {"table: mysql", "mysql:/etc/postfix/v.cf", PFT_OTHER, "mysql:/etc/postfix/v.cf"},
    {"table: proxy:mysql", "proxy:mysql:/etc/postfix/v.cf", PFT_OTHER, "mysql:/etc/postfix/v.cf"},
    {"table: pcre", "pcre:/etc/postfix/v.pcre", PFT_OTHER, "pcre:/etc/postfix/v.pcre"},
    {"table: regexp", "regexp:/etc/postfix/v.re", PFT_OTHER, "regexp:/etc/postfix/v.re"},
    {"table: ldap", "ldap:/etc/postfix/ldap.cf", PFT_OTHER, "ldap:/etc/postfix/ldap.cf"},
    {"table: nis", "nis:mail.aliases", PFT_OTHER, "nis:mail.aliases"},
    {"table: no type", "/etc/aliases", PFT_OTHER, "/etc/aliases"},
    {"table: empty name", "hash:", PFT_OTHER, "hash:"},
};

static void test_kind(void **state)
{
    const struct kind_row *row = *state;
    const char *inner = NULL;

    assert_int_equal(pftext_table_kind(row->in, &inner), row->kind);
    assert_string_equal(inner, row->inner);
}

/* ------------------------------------------------------------ policy services */

struct svc_row {
    const char *name;
    const char *service, *listen;
    int match;
};

static struct svc_row svc_rows[] = {
    {"service: same inet", "inet:127.0.0.1:10040", "inet:127.0.0.1:10040", 1},
    {"service: inet implied", "127.0.0.1:10040", "inet:127.0.0.1:10040", 1},
    {"service: localhost is loopback", "inet:localhost:10040", "inet:127.0.0.1:10040", 1},
    {"service: [::1] is loopback", "inet:[::1]:10040", "inet:127.0.0.1:10040", 1},
    {"service: other port", "inet:127.0.0.1:10041", "inet:127.0.0.1:10040", 0},
    {"service: other host", "inet:192.0.2.7:10040", "inet:127.0.0.1:10040", 0},
    {"service: listen on any address", "inet:192.0.2.7:10040", "inet:0.0.0.0:10040", 1},
    {"service: unix relative to the queue directory", "unix:private/guardlist",
     "unix:/var/spool/postfix/private/guardlist", 1},
    {"service: unix absolute", "unix:/run/guardlist.sock", "unix:/run/guardlist.sock", 1},
    {"service: bare relative path", "private/guardlist", "unix:/var/spool/postfix/private/guardlist", 1},
    {"service: other socket", "unix:private/postgrey", "unix:/var/spool/postfix/private/guardlist", 0},
    {"service: unix vs inet", "unix:private/guardlist", "inet:127.0.0.1:10040", 0},
    {"service: malformed", "inet:", "inet:127.0.0.1:10040", 0},
};

static void test_service(void **state)
{
    const struct svc_row *row = *state;
    assert_int_equal(pftext_service_matches(row->service, row->listen, "/var/spool/postfix/"), row->match);
}

struct parg_row {
    const char *name;
    const char *in;
    int rc;
    const char *endpoint, *action;
};

static struct parg_row parg_rows[] = {
    {"policy arg: plain endpoint", "inet:127.0.0.1:10040", 0, "inet:127.0.0.1:10040", ""},
    {"policy arg: group without options", "{ inet:127.0.0.1:10040 }", 0, "inet:127.0.0.1:10040", ""},
    {"policy arg: group with default_action", "{ inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }", 0,
     "inet:127.0.0.1:10040", "DUNNO"},
    {"policy arg: braced option with blanks", "{ unix:private/g, { default_action = 451 4.3.5 try later } }", 0,
     "unix:private/g", "451 4.3.5 try later"},
    {"policy arg: no endpoint", "{ timeout=10s }", -1, "", ""},
    {"policy arg: unbalanced", "{ inet:h:1", -1, "", ""},
};

static void test_policy_arg(void **state)
{
    const struct parg_row *row = *state;
    char ep[200], da[200];

    assert_int_equal(pftext_policy_arg(row->in, ep, sizeof(ep), da, sizeof(da)), row->rc);
    if (row->rc == 0) {
        assert_string_equal(ep, row->endpoint);
        assert_string_equal(da, row->action);
    }
}

/* ------------------------------------------------------------ actions, restrictions */

struct action_row {
    const char *name;
    const char *in;
    int holds;
    const char *why;
};

static struct action_row action_rows[] = {
    {"action: 451 text", "451 4.3.5 Policy service unavailable, try again later", 1, ""},
    {"action: 554 text", "554 5.7.1 no", 1, ""},
    {"action: REJECT", "REJECT", 1, ""},
    {"action: defer, any case", "defer try later", 1, ""},
    {"action: DEFER_IF_PERMIT", "DEFER_IF_PERMIT", 1, ""},
    {"action: DUNNO", "DUNNO", 0, "accepted"},
    {"action: OK", "OK", 0, "accepts"},
    {"action: all-numeric is OK", "200", 0, "accepts"},
    {"action: DEFER_IF_REJECT", "DEFER_IF_REJECT", 0, "accepted"},
    {"action: DISCARD", "DISCARD", 0, "away"},
    {"action: PREPEND", "PREPEND X-Foo: bar", 0, "through"},
    {"action: empty", "", 0, "not a valid action"},
    {"action: nonsense", "MAYBE", 0, "not a valid action"},
};

static void test_action(void **state)
{
    const struct action_row *row = *state;
    char why[300] = "";

    assert_int_equal(pftext_action_holds(row->in, why, sizeof(why)), row->holds);
    assert_contains(why, row->why);
}

struct restr_row {
    const char *name;
    const char *in;
    const char *who;        /* a word of pftext_permit_who(), or NULL */
    int access, takes_arg;
};

static struct restr_row restr_rows[] = {
    {"restriction: permit_mynetworks", "permit_mynetworks", "mynetworks", 0, 0},
    {"restriction: permit_sasl_authenticated", "permit_sasl_authenticated", "SASL", 0, 0},
    {"restriction: permit_auth_destination", "permit_auth_destination", "every client", 0, 0},
    {"restriction: permit", "permit", "every client", 0, 0},
    {"restriction: unknown permit_*", "permit_something_new", "some clients", 0, 0},
    {"restriction: permit_dnswl_client takes a list", "permit_dnswl_client", "allow list", 0, 1},
    {"restriction: permitted is no permit", "permitted_thing", NULL, 0, 0},
    {"restriction: reject_unauth_destination", "reject_unauth_destination", NULL, 0, 0},
    {"restriction: check_recipient_access", "check_recipient_access", NULL, 1, 1},
    {"restriction: check_client_access", "check_client_access", NULL, 1, 1},
    {"restriction: check_policy_service", "check_policy_service", NULL, 0, 1},
    {"restriction: check_relay_domains takes nothing", "check_relay_domains", NULL, 0, 0},
    {"restriction: reject_rbl_client", "reject_rbl_client", NULL, 0, 1},
    {"restriction: reject_rhsbl_sender", "reject_rhsbl_sender", NULL, 0, 1},
};

static void test_restriction(void **state)
{
    const struct restr_row *row = *state;
    const char *who = pftext_permit_who(row->in);

    if (row->who)
        assert_contains(who, row->who);
    else
        assert_null(who);
    assert_int_equal(pftext_is_access_check(row->in), row->access);
    assert_int_equal(pftext_takes_arg(row->in), row->takes_arg);
}

struct chars_row {
    const char *name;
    const char *a, *b;
    int same;
};

static struct chars_row chars_rows[] = {
    {"delimiters: same", "+", "+", 1},
    {"delimiters: same set, other order", "+-", "-+", 1},
    {"delimiters: both empty", "", "", 1},
    {"delimiters: Postfix has none", "", "+", 0},
    {"delimiters: guardlist lacks one", "+-", "+", 0},
    {"delimiters: other character", "-", "+", 0},
};

static void test_chars(void **state)
{
    const struct chars_row *row = *state;
    assert_int_equal(pftext_same_chars(row->a, row->b), row->same);
}

static struct CMUnitTest tests[UNIT_LEN(split_rows) + 1 + UNIT_LEN(line_rows) + UNIT_LEN(target_rows) + 1
                               + UNIT_LEN(kind_rows) + UNIT_LEN(svc_rows) + UNIT_LEN(parg_rows)
                               + UNIT_LEN(action_rows) + UNIT_LEN(restr_rows) + UNIT_LEN(chars_rows)];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_split, split_rows);
    UNIT_ADD(tests, n, test_split_bound);
    UNIT_ADD_ROWS(tests, n, test_line, line_rows);
    UNIT_ADD_ROWS(tests, n, test_targets, target_rows);
    UNIT_ADD(tests, n, test_targets_stop_and_bounds);
    UNIT_ADD_ROWS(tests, n, test_kind, kind_rows);
    UNIT_ADD_ROWS(tests, n, test_service, svc_rows);
    UNIT_ADD_ROWS(tests, n, test_policy_arg, parg_rows);
    UNIT_ADD_ROWS(tests, n, test_action, action_rows);
    UNIT_ADD_ROWS(tests, n, test_restriction, restr_rows);
    UNIT_ADD_ROWS(tests, n, test_chars, chars_rows);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
