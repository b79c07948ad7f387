/* test_outbound.c - unit tests of lib/outbound.c: a protected login's own
 * mail against a ruleset built here.  One row a case: options, login,
 * recipient, and whether outbound control applies, the kind, the reply and
 * the pair a contact request records. */
#include "unit.h"
#include "outbound.h"

struct rule {
    enum rs_kind kind;
    const char *k1, *k2, *value;
};

static const struct rule rules[] = {
    {RS_PROTECTED, "kid@family.test", NULL, "whitelist"},
    {RS_PROTECTED, "sis@family.test", NULL, "whitelist"},
    {RS_GLOBAL, "grandma@example.com", NULL, "OK"},
    {RS_GLOBAL, "bad@spam.test", NULL, "REJECT"},
    {RS_RULE, "kid@family.test", "pal@example.net", "OK"},
    {RS_RULE, "kid@family.test", "rude@example.net", "REJECT go away"},
    {RS_RULE, "kid@family.test", "school.test", "OK"},
    {RS_RULE_RCPT, "kid@family.test", NULL, ""},
    {RS_CLOSED, "denied@example.net", "kid@family.test", "denied"},
    {RS_ACCOUNT, "kid", NULL, "kid@family.test"},
    {RS_ACCOUNT, "sis@mail.family.test", NULL, "sis@family.test"},
    {RS_ACCOUNT, "gone", NULL, "gone@family.test"},             /* no longer protected */
    {RS_ACCOUNT, "kid@family.test", NULL, "gone@family.test"},  /* a protected login mapped away */
};

static struct ruleset *rs;

static int build_rules(void **state)
{
    (void)state;
    rs = ruleset_new();
    if (rs == NULL)
        return -1;
    for (size_t i = 0; i < UNIT_LEN(rules); i++)
        if (ruleset_add(rs, rules[i].kind, rules[i].k1, rules[i].k2, rules[i].value, 0) != 1)
            return -1;
    return 0;
}

static int free_rules(void **state)
{
    (void)state;
    ruleset_free(rs);
    return 0;
}

struct outbound_row {
    const char *name;
    int off;                        /* [policy] outbound = off */
    const char *state, *login, *recipient;
    int applies;                    /* outbound_decide's return */
    enum decision_kind kind;
    int allows;
    const char *reply;              /* NULL: not checked */
    const char *pair_sender, *pair_recipient;   /* the contact request (DK_CHALLENGE) */
};

static const struct outbound_row rows[] = {
    {"approved contact", 0, "RCPT", "kid@family.test", "pal@example.net", 1, DK_RULE, 1, "DUNNO", NULL, NULL},
    {"login in capitals", 0, "RCPT", "Kid@Family.TEST", "pal@example.net", 1, DK_RULE, 1, "DUNNO", NULL, NULL},
    {"login with +ext", 0, "RCPT", "kid+x@family.test", "pal@example.net", 1, DK_RULE, 1, "DUNNO", NULL, NULL},
    {"contact's domain allowed", 0, "RCPT", "kid@family.test", "teacher@school.test", 1, DK_RULE, 1, "DUNNO",
     NULL, NULL},
    {"global allow", 0, "RCPT", "sis@family.test", "grandma@example.com", 1, DK_RULE, 1, "DUNNO", NULL, NULL},
    {"blocked contact", 0, "RCPT", "kid@family.test", "rude@example.net", 1, DK_RULE, 0, REPLY_OUT_REFUSED,
     NULL, NULL},
    {"globally blocked", 0, "RCPT", "kid@family.test", "bad@spam.test", 1, DK_RULE, 0, REPLY_OUT_REFUSED,
     NULL, NULL},
    {"refused contact", 0, "RCPT", "kid@family.test", "denied@example.net", 1, DK_CLOSED, 0, REPLY_OUT_REFUSED,
     NULL, NULL},
    {"new contact", 0, "RCPT", "kid@family.test", "New@Example.ORG", 1, DK_CHALLENGE, 0, REPLY_OUT_ASKED,
     "new@example.org", "kid@family.test"},
    {"new contact, login with +ext", 0, "RCPT", "kid+x@family.test", "new@example.org", 1, DK_CHALLENGE, 0,
     REPLY_OUT_ASKED, "new@example.org", "kid@family.test"},
    {"other child's contact is not mine", 0, "RCPT", "sis@family.test", "pal@example.net", 1, DK_CHALLENGE, 0,
     REPLY_OUT_ASKED, "pal@example.net", "sis@family.test"},
    {"recipient without a domain", 0, "RCPT", "kid@family.test", "pal", 1, DK_BAD_ADDRESS, 0,
     REPLY_ACCESS_DENIED, NULL, NULL},
    {"routed recipient", 0, "RCPT", "kid@family.test", "pal%example.net@family.test", 1, DK_BAD_ADDRESS, 0,
     REPLY_ROUTED, NULL, NULL},
    {"empty recipient", 0, "RCPT", "kid@family.test", "", 1, DK_BAD_ADDRESS, 0, NULL, NULL, NULL},
    {"login not protected", 0, "RCPT", "mum@family.test", "new@example.org", 0, 0, 0, NULL, NULL, NULL},
    {"login without a domain", 0, "RCPT", "nobody", "new@example.org", 0, 0, 0, NULL, NULL, NULL},
    {"no login", 0, "RCPT", NULL, "new@example.org", 0, 0, 0, NULL, NULL, NULL},
    {"empty login", 0, "RCPT", "", "new@example.org", 0, 0, 0, NULL, NULL, NULL},
    {"not RCPT", 0, "DATA", "kid@family.test", "new@example.org", 0, 0, 0, NULL, NULL, NULL},
    {"outbound off", 1, "RCPT", "kid@family.test", "new@example.org", 0, 0, 0, NULL, NULL, NULL},
    {"mapped login, approved contact", 0, "RCPT", "kid", "pal@example.net", 1, DK_RULE, 1, "DUNNO", NULL, NULL},
    {"mapped login in capitals", 0, "RCPT", "KiD", "rude@example.net", 1, DK_RULE, 0, REPLY_OUT_REFUSED,
     NULL, NULL},
    {"mapped login, new contact", 0, "RCPT", "kid", "new@example.org", 1, DK_CHALLENGE, 0, REPLY_OUT_ASKED,
     "new@example.org", "kid@family.test"},
    {"mapped address login", 0, "RCPT", "SIS@mail.family.test", "pal@example.net", 1, DK_CHALLENGE, 0,
     REPLY_OUT_ASKED, "pal@example.net", "sis@family.test"},
    {"mapped to an unprotected address", 0, "RCPT", "gone", "new@example.org", 0, 0, 0, NULL, NULL, NULL},
    {"protected login mapped to an unprotected one", 0, "RCPT", "kid@family.test", "new@example.org", 1,
     DK_CHALLENGE, 0, REPLY_OUT_ASKED, "new@example.org", "kid@family.test"},
    {"unmapped login, mapping off", 1, "RCPT", "kid", "new@example.org", 0, 0, 0, NULL, NULL, NULL},
};

static void test_outbound(void **state)
{
    const struct outbound_row *row = *state;
    struct decide_opts opts = {
        .unknown_sender = UNKNOWN_DEFER, .on_allow = "DUNNO", .null_sender = NULL_REJECT, .delims = "+",
        .outbound = !row->off,
    };
    struct decision d;

    int applies = outbound_decide(rs, &opts, row->state, row->login, row->recipient, &d);
    assert_int_equal(applies, row->applies);
    if (!applies)
        return;
    assert_int_equal(d.outbound, 1);
    assert_int_equal(d.kind, row->kind);
    assert_int_equal(d.allows, row->allows);
    if (row->reply)
        assert_string_equal(d.reply, row->reply);
    else
        assert_true(d.reply[0] == '5' || strncmp(d.reply, "REJECT", 6) == 0);
    if (row->pair_sender) {
        assert_string_equal(d.challenge_sender, row->pair_sender);
        assert_string_equal(d.challenge_recipient, row->pair_recipient);
        assert_string_equal(d.protected_key, row->pair_recipient);
    }
}

static void test_no_rules(void **state)
{
    struct decide_opts opts = { .on_allow = "DUNNO", .delims = "+", .outbound = 1 };
    struct decision d;

    (void)state;
    /* Nothing known: the inbound decision answers (451 while no rules). */
    assert_int_equal(outbound_decide(NULL, &opts, "RCPT", "kid@family.test", "a@b.test", &d), 0);
}

static struct CMUnitTest tests[UNIT_LEN(rows) + 1];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_outbound, rows);
    UNIT_ADD(tests, n, test_no_rules);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, build_rules, free_rules);
}
