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
    {RS_GLOBAL, "noreply@", NULL, "OK"},                        /* a sender key, never a contact */
    {RS_RULE, "kid@family.test", "pal@strasse.de", "OK"},
    {RS_RULE, "kid@family.test", "pal@example.net", "OK"},
    {RS_RULE, "kid@family.test", "rude@example.net", "REJECT go away"},
    {RS_RULE, "kid@family.test", "school.test", "OK"},
    {RS_RULE_RCPT, "kid@family.test", NULL, ""},
    {RS_CLOSED, "denied@example.net", "kid@family.test", "denied"},
    {RS_CLOSED, "old@example.net", "kid@family.test", "expired"},
    {RS_CLOSED, "pal@example.org", "kid@family.test", "denied"},   /* covers no pal+x@ for a child */
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

/* Rows with an envelope sender; the rows above send as <>. */
struct sender_row {
    struct outbound_row r;
    const char *sender;
    int unmapped;                   /* d.login_unmapped */
};

#define CHILD "kid@family.test"
static const struct sender_row sender_rows[] = {
    /* A login that is no child, sending as one: that child's mail. */
    {{"unmapped login, protected sender", 0, "RCPT", "kiddo", "new@example.org", 1, DK_CHALLENGE, 0,
      REPLY_OUT_ASKED, "new@example.org", CHILD}, CHILD, 1},
    {{"unmapped login, protected sender, contact", 0, "RCPT", "kiddo", "pal@example.net", 1, DK_RULE, 1, "DUNNO",
      NULL, NULL}, CHILD, 1},
    {{"login mapped away, protected sender", 0, "RCPT", "gone", "new@example.org", 1, DK_CHALLENGE, 0,
      REPLY_OUT_ASKED, "new@example.org", CHILD}, "Kid+x@family.test", 1},
    {{"unmapped login, unprotected sender", 0, "RCPT", "kiddo", "new@example.org", 0, 0, 0, NULL, NULL, NULL},
     "mum@family.test", 0},
    {{"unmapped login, outbound off", 1, "RCPT", "kiddo", "new@example.org", 0, 0, 0, NULL, NULL, NULL}, CHILD, 0},
    {{"protected login sends as itself", 0, "RCPT", CHILD, "pal@example.net", 1, DK_RULE, 1, "DUNNO", NULL, NULL},
     CHILD, 0},
    /* The envelope sender is the child's own address or <>. */
    {{"foreign sender", 0, "RCPT", CHILD, "pal@example.net", 1, DK_BAD_ADDRESS, 0, REPLY_OUT_SENDER, NULL, NULL},
     "stranger@evil.example", 0},
    {{"sibling's sender", 0, "RCPT", CHILD, "pal@example.net", 1, DK_BAD_ADDRESS, 0, REPLY_OUT_SENDER, NULL, NULL},
     "sis@family.test", 0},
    {{"own sender with +ext", 0, "RCPT", CHILD, "new@example.org", 1, DK_CHALLENGE, 0, REPLY_OUT_ASKED,
      "new@example.org", CHILD}, "kid+list@family.test", 0},
    {{"mapped login, own sender", 0, "RCPT", "kid", "pal@example.net", 1, DK_RULE, 1, "DUNNO", NULL, NULL},
     "KID@family.test", 0},
    {{"mapped login, foreign sender", 0, "RCPT", "kid", "pal@example.net", 1, DK_BAD_ADDRESS, 0, REPLY_OUT_SENDER,
      NULL, NULL}, "kid@evil.example", 0},
    {{"unusable sender", 0, "RCPT", CHILD, "pal@example.net", 1, DK_BAD_ADDRESS, 0, REPLY_OUT_SENDER, NULL, NULL},
     "kid@@family.test", 0},
    {{"null sender in brackets", 0, "RCPT", CHILD, "pal@example.net", 1, DK_RULE, 1, "DUNNO", NULL, NULL}, "<>", 0},
    /* A contact is its full address and its domains: no sender keys. */
    {{"user@ rule is no contact", 0, "RCPT", CHILD, "noreply@evil.example", 1, DK_CHALLENGE, 0, REPLY_OUT_ASKED,
      "noreply@evil.example", CHILD}, CHILD, 0},
    {{"base+ext is another mailbox", 0, "RCPT", CHILD, "pal+x@example.net", 1, DK_CHALLENGE, 0, REPLY_OUT_ASKED,
      "pal+x@example.net", CHILD}, CHILD, 0},
    {{"BATV form is another mailbox", 0, "RCPT", CHILD, "prvs=0123456789=pal@example.net", 1, DK_CHALLENGE, 0,
      REPLY_OUT_ASKED, "prvs=0123456789=pal@example.net", CHILD}, CHILD, 0},
    {{"contact's subdomain", 0, "RCPT", CHILD, "t@mail.school.test", 1, DK_RULE, 1, "DUNNO", NULL, NULL}, CHILD, 0},
    /* A domain whose folding names another domain; format characters. */
    {{"sharp s folds onto an approved domain", 0, "RCPT", CHILD, "pal@stra\xc3\x9f" "e.de", 1, DK_BAD_ADDRESS, 0,
      REPLY_OUT_FOLD, NULL, NULL}, CHILD, 0},
    {{"final sigma", 0, "RCPT", CHILD, "pal@\xce\xb1\xcf\x82.example", 1, DK_BAD_ADDRESS, 0, REPLY_OUT_FOLD,
      NULL, NULL}, CHILD, 0},
    {{"approved ss domain", 0, "RCPT", CHILD, "Pal@STRASSE.de", 1, DK_RULE, 1, "DUNNO", NULL, NULL}, CHILD, 0},
    {{"IDN that folds to itself", 0, "RCPT", CHILD, "pal@B\xc3\x9c" "cher.example", 1, DK_CHALLENGE, 0,
      REPLY_OUT_ASKED, "pal@b\xc3\xbc" "cher.example", CHILD}, CHILD, 0},
    {{"right-to-left override", 0, "RCPT", CHILD, "pal\xe2\x80\xae" "ten@example.net", 1, DK_BAD_ADDRESS, 0,
      REPLY_OUT_FORMAT_CHAR, NULL, NULL}, CHILD, 0},
    {{"zero-width space in the domain", 0, "RCPT", CHILD, "pal@exa\xe2\x80\x8bmple.net", 1, DK_BAD_ADDRESS, 0,
      REPLY_OUT_FORMAT_CHAR, NULL, NULL}, CHILD, 0},
    /* An expired request was decided by nobody: asked again. */
    {{"expired earlier request", 0, "RCPT", CHILD, "Old@example.net", 1, DK_CHALLENGE, 0, REPLY_OUT_ASKED,
      "old@example.net", CHILD}, CHILD, 0},
    {{"denied earlier request", 0, "RCPT", CHILD, "pal@example.org", 1, DK_CLOSED, 0, REPLY_OUT_REFUSED, NULL, NULL},
     CHILD, 0},
    {{"denied base is not this mailbox", 0, "RCPT", CHILD, "pal+x@example.org", 1, DK_CHALLENGE, 0, REPLY_OUT_ASKED,
      "pal+x@example.org", CHILD}, CHILD, 0},
    {{"address literal", 0, "RCPT", CHILD, "pal@[192.0.2.1]", 1, DK_BAD_ADDRESS, 0, REPLY_ROUTED, NULL, NULL},
     CHILD, 0},
};

static void check_outbound(const struct outbound_row *row, const char *sender, int unmapped)
{
    struct decide_opts opts = {
        .unknown_sender = UNKNOWN_DEFER, .on_allow = "DUNNO", .null_sender = NULL_REJECT, .delims = "+",
        .outbound = !row->off,
    };
    struct decision d;

    int applies = outbound_decide(rs, &opts, row->state, row->login, sender, row->recipient, &d);
    assert_int_equal(applies, row->applies);
    if (!applies)
        return;
    assert_int_equal(d.outbound, 1);
    assert_int_equal(d.login_unmapped, unmapped);
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
    } else {
        assert_string_equal(d.challenge_sender, "");
    }
}

static void test_outbound(void **state)
{
    check_outbound(*state, "", 0);
}

static void test_sender(void **state)
{
    const struct sender_row *row = *state;

    check_outbound(&row->r, row->sender, row->unmapped);
}

static void test_no_rules(void **state)
{
    struct decide_opts opts = { .on_allow = "DUNNO", .delims = "+", .outbound = 1 };
    struct decision d;

    (void)state;
    /* Nothing known: the inbound decision answers (451 while no rules). */
    assert_int_equal(outbound_decide(NULL, &opts, "RCPT", "kid@family.test", "", "a@b.test", &d), 0);
}

static struct CMUnitTest tests[UNIT_LEN(rows) + UNIT_LEN(sender_rows) + 1];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_outbound, rows);
    for (size_t i = 0; i < UNIT_LEN(sender_rows); i++) {
        tests[n] = (struct CMUnitTest){ sender_rows[i].r.name, test_sender, NULL, NULL,
                                        (void *)(uintptr_t)&sender_rows[i] };
        n++;
    }
    UNIT_ADD(tests, n, test_no_rules);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, build_rules, free_rules);
}
