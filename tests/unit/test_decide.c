/* test_decide.c - unit tests of lib/decide.c: every row of the decision table
 * of DESIGN.md ("Decision" and "Matching") against a ruleset built here.
 * One table row a case: protocol state, sender, recipient, options, and the
 * expected decision kind, reply and matched keys. */
#include "unit.h"
#include "decide.h"

#include <strings.h>

/* ---- the rules every row is decided against ---- */

struct rule {
    enum rs_kind kind;
    const char *k1, *k2, *value;
};

static const struct rule rules[] = {
    /* protected_users */
    {RS_PROTECTED, "kid@family.test", NULL, "whitelist"},
    {RS_PROTECTED, "sis@family.test", NULL, "whitelist"},
    {RS_PROTECTED, "vague@", NULL, "whitelist"},
    {RS_PROTECTED, "school.test", NULL, "whitelist"},
    {RS_PROTECTED, "zed@", NULL, "whitelist"},
    /* whitelist (global rules) */
    {RS_GLOBAL, "grandma@example.com", NULL, "OK"},
    {RS_GLOBAL, "bad@spam.test", NULL, "REJECT"},
    {RS_GLOBAL, "blocked@example.net", NULL, "REJECT"},
    {RS_GLOBAL, "postmaster@", NULL, "OK"},
    {RS_GLOBAL, "wide.test", NULL, "OK"},
    {RS_GLOBAL, "dunno@wide.test", NULL, "DUNNO"},
    /* sender_rules (per recipient) */
    {RS_RULE, "kid@family.test", "bad@spam.test", "OK"},
    {RS_RULE, "sis@family.test", "grandma@example.com", "REJECT"},
    {RS_RULE, "kid@family.test", "rude@example.net", "REJECT go away"},
    {RS_RULE, "kid@family.test", "code@example.net", "554 5.7.1 no"},
    {RS_RULE, "kid@family.test", "held@example.net", "HOLD"},
    {RS_RULE, "kid@family.test", "warn@example.net", "WARN approved"},
    {RS_RULE, "kid@family.test", "prep@example.net", "PREPEND X-Approved: yes"},
    {RS_RULE, "kid@family.test", "num@example.net", "250"},
    {RS_RULE, "kid@family.test", "later@example.net", "450 4.7.1 later"},
    {RS_RULE, "kid@family.test", "dip@example.net", "DEFER_IF_PERMIT wait"},
    {RS_RULE, "kid@family.test", "dunno@example.net", "DUNNO"},
    {RS_RULE, "kid@family.test", "example.org", "OK"},
    {RS_RULE, "sis@family.test", "<>", "OK"},
    {RS_RULE, "vague@", "friend@example.net", "OK"},
    {RS_RULE, "kid@family.test", "bounces+1111111-aaaa-kid=family.test@sendgrid.net", "OK"},
    {RS_RULE_RCPT, "kid@family.test", NULL, ""},
    {RS_RULE_RCPT, "sis@family.test", NULL, ""},
    {RS_RULE_RCPT, "vague@", NULL, ""},
    /* denied or expired challenges, keyed (sender base, recipient base) */
    {RS_CLOSED, "denied@example.net", "kid@family.test", "denied"},
    {RS_CLOSED, "bad@spam.test", "kid@family.test", "denied"},
    {RS_CLOSED, "gone@example.net", "vague@a.test", "expired"},
    {RS_CLOSED, "<>", "pupil@school.test", "denied"},
    {RS_CLOSED, "pest+a@example.net", "kid@family.test", "denied"},
};

static struct ruleset *rs;

static int build_rules(void **state)
{
    (void)state;
    rs = ruleset_new();
    if (rs == NULL)
        return -1;
    for (size_t i = 0; i < UNIT_LEN(rules); i++)
        if (ruleset_add(rs, rules[i].kind, rules[i].k1, rules[i].k2, rules[i].value, 0) != 1) {
            fprintf(stderr, "ruleset_add(%s) failed\n", rules[i].k1);
            return -1;
        }
    return 0;
}

static int free_rules(void **state)
{
    (void)state;
    ruleset_free(rs);
    return 0;
}

/* ---- the table ---- */

enum reply_check {
    R_EXACT,        /* reply equals .reply */
    R_REJECT,       /* a permanent refusal: starts with REJECT or 5 */
    R_NOT_ALLOW     /* neither DUNNO nor OK: REJECT, DEFER..., 4NN or 5NN */
};

struct decide_row {
    const char *name;
    const char *state;
    const char *sender, *recipient;
    enum unknown_mode unknown;      /* default UNKNOWN_DEFER */
    const char *on_allow;           /* NULL: "DUNNO" */
    enum null_mode null_mode;       /* default NULL_REJECT */
    int no_rules;                   /* decide with rs == NULL */
    int kind_unchecked;
    enum decision_kind kind;
    enum reply_check check;
    const char *reply;
    const char *protected_key;      /* NULL: not checked */
    const char *scope;
    const char *rule_sender;
    const char *ch_sender;          /* for DK_CHALLENGE */
    const char *ch_recipient;
    const char *client;             /* client_address; trusted: 192.0.2.0/24, 2001:db8::/32 */
    const char *judged;             /* d.sender, NULL: not checked */
    int allows;                     /* 1: d.allows set, -1: not set, 0: not checked */
    int parent;                     /* 1: d.parent_domain set, -1: not set, 0: not checked */
    int exact_domain;               /* decide with opts.exact_domain */
    int contact;                    /* decide with opts.recipient_contact (outbound.c) */
};

#define X10 "xxxxxxxxxx"
#define X100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10

static struct decide_row rows[] = {
    /* recipient_contact: the "sender" is where a child's mail goes */
    {.name = "contact: a global user@ key is no contact", .state = "RCPT", .sender = "postmaster@evil.example",
     .recipient = "kid@family.test", .contact = 1, .kind = DK_CHALLENGE, .check = R_NOT_ALLOW,
     .ch_sender = "postmaster@evil.example", .ch_recipient = "kid@family.test"},
    {.name = "contact: a sender's user@ key still holds inbound", .state = "RCPT",
     .sender = "postmaster@evil.example", .recipient = "kid@family.test", .kind = DK_RULE, .reply = "DUNNO"},
    {.name = "contact: +ext is not the base's rule", .state = "RCPT", .sender = "grandma+x@example.com",
     .recipient = "kid@family.test", .contact = 1, .kind = DK_CHALLENGE, .check = R_NOT_ALLOW,
     .ch_sender = "grandma+x@example.com", .ch_recipient = "kid@family.test"},
    {.name = "contact: BATV is not undone", .state = "RCPT", .sender = "prvs=4068eb2540=grandma@example.com",
     .recipient = "kid@family.test", .contact = 1, .kind = DK_CHALLENGE, .check = R_NOT_ALLOW,
     .judged = "prvs=4068eb2540=grandma@example.com"},
    {.name = "contact: SRS is not decoded", .state = "RCPT",
     .sender = "SRS0=abcd=TT=example.com=grandma@fwd.test", .recipient = "kid@family.test",
     .client = "192.0.2.1", .contact = 1, .kind = DK_CHALLENGE, .check = R_NOT_ALLOW},
    {.name = "contact: the full address and its domains still match", .state = "RCPT",
     .sender = "pal@mail.example.org", .recipient = "kid@family.test", .contact = 1, .kind = DK_RULE,
     .reply = "DUNNO"},
    {.name = "contact: an expired challenge is a new request", .state = "RCPT", .sender = "gone@example.net",
     .recipient = "vague@a.test", .contact = 1, .kind = DK_CHALLENGE, .check = R_NOT_ALLOW},
    {.name = "inbound: an expired challenge stays closed", .state = "RCPT", .sender = "gone@example.net",
     .recipient = "vague@a.test", .kind = DK_CLOSED, .check = R_REJECT},
    {.name = "contact: a denied one stays closed", .state = "RCPT", .sender = "denied@example.net",
     .recipient = "kid@family.test", .contact = 1, .kind = DK_CLOSED, .check = R_REJECT},
    {.name = "contact: a denied base does not cover a +ext mailbox", .state = "RCPT",
     .sender = "denied+x@example.net", .recipient = "kid@family.test", .contact = 1, .kind = DK_CHALLENGE,
     .check = R_NOT_ALLOW},
    {.name = "inbound: a denied base covers its +ext", .state = "RCPT", .sender = "denied+x@example.net",
     .recipient = "kid@family.test", .kind = DK_CLOSED, .check = R_REJECT},
    /* other protocol states */
    {.name = "DATA state -> DUNNO", .state = "DATA", .sender = "stranger@unknown.test",
     .recipient = "kid@family.test", .kind = DK_NOT_RCPT, .reply = "DUNNO"},
    {.name = "END-OF-MESSAGE state -> DUNNO", .state = "END-OF-MESSAGE",
     .sender = "stranger@unknown.test", .recipient = "kid@family.test", .kind = DK_NOT_RCPT,
     .reply = "DUNNO"},
    {.name = "VRFY state -> DUNNO", .state = "VRFY", .sender = "",
     .recipient = "kid@family.test", .kind = DK_NOT_RCPT, .reply = "DUNNO"},

    /* protection */
    {.name = "unprotected recipient -> DUNNO", .state = "RCPT",
     .sender = "stranger@unknown.test", .recipient = "someone@else.test",
     .kind = DK_NOT_PROTECTED, .reply = "DUNNO"},
    {.name = "unprotected recipient, null sender -> DUNNO", .state = "RCPT", .sender = "",
     .recipient = "someone@else.test", .kind = DK_NOT_PROTECTED, .reply = "DUNNO"},
    {.name = "unprotected domain sibling of a protected address -> DUNNO", .state = "RCPT",
     .sender = "stranger@unknown.test", .recipient = "dad@family.test",
     .kind = DK_NOT_PROTECTED, .reply = "DUNNO"},

    /* rules */
    /* every action that is no refusal or deferral needs the sender verified (allows) */
    {.name = "rule OK -> allows", .state = "RCPT", .sender = "grandma@example.com",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "DUNNO", .allows = 1, .parent = -1},
    {.name = "rule DUNNO -> allows (the mail goes on)", .state = "RCPT", .sender = "dunno@example.net",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "DUNNO", .allows = 1},
    {.name = "rule WARN -> allows", .state = "RCPT", .sender = "warn@example.net",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "WARN approved", .allows = 1},
    {.name = "rule PREPEND -> allows", .state = "RCPT", .sender = "prep@example.net",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "PREPEND X-Approved: yes", .allows = 1},
    {.name = "rule numeric -> allows", .state = "RCPT", .sender = "num@example.net",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "DUNNO", .allows = 1},
    {.name = "rule HOLD -> allows (a forger gets no rule's effect)", .state = "RCPT",
     .sender = "held@example.net", .recipient = "kid@family.test", .kind = DK_RULE, .reply = "HOLD",
     .allows = 1},
    {.name = "rule REJECT -> not allows", .state = "RCPT", .sender = "rude@example.net",
     .recipient = "kid@family.test", .kind = DK_RULE, .check = R_REJECT, .allows = -1},
    {.name = "rule 5NN -> not allows", .state = "RCPT", .sender = "code@example.net",
     .recipient = "kid@family.test", .kind = DK_RULE, .check = R_REJECT, .allows = -1},
    {.name = "rule 4NN -> not allows", .state = "RCPT", .sender = "later@example.net",
     .recipient = "kid@family.test", .kind = DK_RULE, .check = R_NOT_ALLOW, .allows = -1},
    {.name = "rule DEFER_IF_PERMIT -> not allows", .state = "RCPT", .sender = "dip@example.net",
     .recipient = "kid@family.test", .kind = DK_RULE, .check = R_NOT_ALLOW, .allows = -1},
    /* a domain-wide rule matched through a parent domain says so */
    {.name = "domain rule, exact domain -> not through a parent", .state = "RCPT", .sender = "x@wide.test",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "DUNNO", .rule_sender = "wide.test",
     .allows = 1, .parent = -1},
    {.name = "domain rule, subdomain -> through a parent", .state = "RCPT", .sender = "x@nx.wide.test",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "DUNNO", .rule_sender = "wide.test",
     .allows = 1, .parent = 1},
    {.name = "domain rule, subdomain, exact_domain -> unknown sender", .state = "RCPT",
     .sender = "x@nx.wide.test", .recipient = "kid@family.test", .exact_domain = 1, .kind = DK_CHALLENGE,
     .check = R_NOT_ALLOW, .ch_sender = "x@nx.wide.test", .allows = -1, .parent = -1},
    {.name = "domain rule, exact domain, exact_domain -> still the rule", .state = "RCPT",
     .sender = "x@wide.test", .recipient = "kid@family.test", .exact_domain = 1, .kind = DK_RULE,
     .reply = "DUNNO", .parent = -1},
    {.name = "address rule at a subdomain beats nothing under exact_domain", .state = "RCPT",
     .sender = "dunno@wide.test", .recipient = "kid@family.test", .exact_domain = 1, .kind = DK_RULE,
     .reply = "DUNNO", .rule_sender = "dunno@wide.test", .parent = -1},
    {.name = "global OK -> DUNNO", .state = "RCPT", .sender = "grandma@example.com",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "DUNNO",
     .protected_key = "kid@family.test", .scope = "global", .rule_sender = "grandma@example.com"},
    {.name = "global OK with on_allow OK -> OK", .state = "RCPT",
     .sender = "grandma@example.com", .recipient = "kid@family.test", .on_allow = "OK",
     .kind = DK_RULE, .reply = "OK", .scope = "global"},
    {.name = "sender case, <> and +ext folded", .state = "RCPT",
     .sender = "<Grandma+News@Example.COM>", .recipient = "kid@family.test", .kind = DK_RULE,
     .reply = "DUNNO", .rule_sender = "grandma@example.com"},
    {.name = "recipient +ext and case folded", .state = "RCPT", .sender = "grandma@example.com",
     .recipient = "Kid+School@Family.TEST", .kind = DK_RULE, .reply = "DUNNO",
     .protected_key = "kid@family.test"},
    {.name = "global user@ key (postmaster@) matches any domain", .state = "RCPT",
     .sender = "postmaster@anywhere.test", .recipient = "kid@family.test", .kind = DK_RULE,
     .reply = "DUNNO", .rule_sender = "postmaster@"},
    {.name = "per-recipient OK beats global REJECT", .state = "RCPT", .sender = "bad@spam.test",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "DUNNO", .scope = "recipient",
     .rule_sender = "bad@spam.test"},
    {.name = "per-recipient REJECT beats global OK", .state = "RCPT",
     .sender = "grandma@example.com", .recipient = "sis@family.test", .kind = DK_RULE,
     .reply = REPLY_ACCESS_DENIED, .scope = "recipient"},
    {.name = "global REJECT -> REJECT Access denied", .state = "RCPT",
     .sender = "bad@spam.test", .recipient = "sis@family.test", .kind = DK_RULE,
     .reply = REPLY_ACCESS_DENIED, .scope = "global"},
    {.name = "rule REJECT -> REJECT Access denied", .state = "RCPT",
     .sender = "blocked@example.net", .recipient = "kid@family.test", .kind = DK_RULE,
     .reply = REPLY_ACCESS_DENIED},
    {.name = "rule REJECT go away -> verbatim", .state = "RCPT", .sender = "rude@example.net",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "REJECT go away"},
    {.name = "rule 554 5.7.1 no -> verbatim", .state = "RCPT", .sender = "code@example.net",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "554 5.7.1 no"},
    {.name = "rule HOLD -> verbatim", .state = "RCPT", .sender = "held@example.net",
     .recipient = "kid@family.test", .kind = DK_RULE, .reply = "HOLD"},
    {.name = "per-recipient rule does not apply to another recipient", .state = "RCPT",
     .sender = "rude@example.net", .recipient = "sis@family.test", .kind = DK_CHALLENGE,
     .reply = REPLY_DEFER, .ch_sender = "rude@example.net", .ch_recipient = "sis@family.test"},
    {.name = "domain rule example.org matches a@sub.example.org", .state = "RCPT",
     .sender = "a@sub.example.org", .recipient = "kid@family.test", .kind = DK_RULE,
     .reply = "DUNNO", .scope = "recipient", .rule_sender = "example.org"},
    {.name = "domain rule example.org matches a@example.org", .state = "RCPT",
     .sender = "a@example.org", .recipient = "kid@family.test", .kind = DK_RULE,
     .reply = "DUNNO", .rule_sender = "example.org"},
    {.name = "domain rule does not match a longer domain (notexample.org)", .state = "RCPT",
     .sender = "a@notexample.org", .recipient = "kid@family.test", .kind = DK_CHALLENGE,
     .reply = REPLY_DEFER},
    {.name = "rule keyed on the protected key vague@ applies", .state = "RCPT",
     .sender = "friend@example.net", .recipient = "vague@x.test", .kind = DK_RULE,
     .reply = "DUNNO", .protected_key = "vague@", .scope = "recipient"},
    {.name = "a rule beats a closed challenge of the same pair", .state = "RCPT",
     .sender = "bad@spam.test", .recipient = "kid@family.test", .kind = DK_RULE,
     .reply = "DUNNO"},

    /* user@ and domain protection */
    {.name = "vague@ protects vague@anything.example", .state = "RCPT",
     .sender = "stranger@unknown.test", .recipient = "vague@anything.example",
     .kind = DK_CHALLENGE, .reply = REPLY_DEFER, .protected_key = "vague@",
     .ch_sender = "stranger@unknown.test", .ch_recipient = "vague@anything.example"},
    {.name = "vague@ protects Vague+tag@Other.Test", .state = "RCPT",
     .sender = "stranger@unknown.test", .recipient = "Vague+tag@Other.Test",
     .kind = DK_CHALLENGE, .reply = REPLY_DEFER, .protected_key = "vague@",
     .ch_recipient = "vague@other.test"},
    {.name = "global OK applies to a vague@ recipient", .state = "RCPT",
     .sender = "grandma@example.com", .recipient = "vague@anything.example", .kind = DK_RULE,
     .reply = "DUNNO", .scope = "global"},
    {.name = "zed@ protects Zed@Family.Example (Z folds like the other letters)", .state = "RCPT",
     .sender = "stranger@unknown.test", .recipient = "Zed@Family.Example",
     .kind = DK_CHALLENGE, .reply = REPLY_DEFER, .protected_key = "zed@",
     .ch_recipient = "zed@family.example"},
    {.name = "domain key school.test protects pupil@class1.school.test", .state = "RCPT",
     .sender = "stranger@unknown.test", .recipient = "pupil@class1.school.test",
     .kind = DK_CHALLENGE, .reply = REPLY_DEFER, .protected_key = "school.test"},

    /* unknown senders */
    {.name = "unknown sender, defer -> challenge for the sender as written (+ext kept), recipient without +ext",
     .state = "RCPT", .sender = "<Stranger+Promo@Unknown.TEST>",
     .recipient = "Kid+tag@Family.Test", .kind = DK_CHALLENGE, .reply = REPLY_DEFER,
     .protected_key = "kid@family.test", .ch_sender = "stranger+promo@unknown.test",
     .ch_recipient = "kid@family.test"},
    {.name = "rule for a bulk host's bounces+CUSTOMER address matches it", .state = "RCPT",
     .sender = "bounces+1111111-aaaa-kid=family.test@sendgrid.net", .recipient = "kid@family.test",
     .kind = DK_RULE, .reply = "DUNNO", .rule_sender = "bounces+1111111-aaaa-kid=family.test@sendgrid.net"},
    {.name = "... and not another customer's bounces+ address", .state = "RCPT",
     .sender = "bounces+9999999-bbbb-kid=family.test@sendgrid.net", .recipient = "kid@family.test",
     .kind = DK_CHALLENGE, .reply = REPLY_DEFER,
     .ch_sender = "bounces+9999999-bbbb-kid=family.test@sendgrid.net"},
    {.name = "denied +ext challenge closes that address", .state = "RCPT", .sender = "pest+a@example.net",
     .recipient = "kid@family.test", .kind = DK_CLOSED, .reply = REPLY_ACCESS_DENIED},
    {.name = "denied +ext challenge leaves another extension to be asked", .state = "RCPT",
     .sender = "pest+b@example.net", .recipient = "kid@family.test", .kind = DK_CHALLENGE,
     .reply = REPLY_DEFER, .ch_sender = "pest+b@example.net"},

    /* envelope forms of one sender (BATV, SRS) */
    {.name = "BATV prvs=TAG=user matches the user's rule", .state = "RCPT",
     .sender = "prvs=4068eb2540=grandma@example.com", .recipient = "kid@family.test", .kind = DK_RULE,
     .reply = "DUNNO", .rule_sender = "grandma@example.com", .judged = "grandma@example.com"},
    {.name = "BATV older prvs=user=TAG matches the user's rule", .state = "RCPT",
     .sender = "prvs=grandma=1068eb2541@example.com", .recipient = "kid@family.test", .kind = DK_RULE,
     .reply = "DUNNO", .rule_sender = "grandma@example.com"},
    {.name = "BATV Barracuda btv1==TAG==user matches the user's block", .state = "RCPT",
     .sender = "btv1==0777abbcc85==blocked@example.net", .recipient = "kid@family.test", .kind = DK_RULE,
     .reply = REPLY_ACCESS_DENIED},
    {.name = "BATV unknown sender: challenge for the user, tag gone", .state = "RCPT",
     .sender = "prvs=0123abcdef=Stranger@Unknown.test", .recipient = "kid@family.test", .kind = DK_CHALLENGE,
     .reply = REPLY_DEFER, .ch_sender = "stranger@unknown.test"},
    {.name = "BATV denied user stays denied under a new tag", .state = "RCPT",
     .sender = "prvs=9999abcdef=denied@example.net", .recipient = "kid@family.test", .kind = DK_CLOSED,
     .reply = REPLY_ACCESS_DENIED},
    {.name = "SRS0 from a trusted forwarder: the original sender's rule", .state = "RCPT",
     .sender = "SRS0=abcd=TT=example.com=grandma@fwd.test", .recipient = "kid@family.test",
     .client = "192.0.2.7", .kind = DK_RULE, .reply = "DUNNO", .rule_sender = "grandma@example.com",
     .judged = "grandma@example.com"},
    {.name = "SRS1 from a trusted IPv6 forwarder: the original sender's rule", .state = "RCPT",
     .sender = "SRS1=x=one.test==abcd=TT=example.com=grandma@two.test", .recipient = "kid@family.test",
     .client = "2001:db8::25", .kind = DK_RULE, .reply = "DUNNO", .rule_sender = "grandma@example.com"},
    {.name = "SRS0 from a stranger grants nothing of the original's rules", .state = "RCPT",
     .sender = "SRS0=abcd=TT=example.com=grandma@fwd.test", .recipient = "kid@family.test",
     .client = "203.0.113.5", .kind = DK_CHALLENGE, .reply = REPLY_DEFER,
     .ch_sender = "srs0=abcd=tt=example.com=grandma@fwd.test",
     .judged = "srs0=abcd=tt=example.com=grandma@fwd.test"},
    {.name = "SRS0 with no client address is not decoded", .state = "RCPT",
     .sender = "SRS0=abcd=TT=example.com=grandma@fwd.test", .recipient = "kid@family.test",
     .kind = DK_CHALLENGE, .reply = REPLY_DEFER, .ch_sender = "srs0=abcd=tt=example.com=grandma@fwd.test"},
    {.name = "SRS0 from a trusted forwarder, unknown original: challenge for the original", .state = "RCPT",
     .sender = "SRS0=abcd=TT=elsewhere.test=newfriend@fwd.test", .recipient = "kid@family.test",
     .client = "192.0.2.200", .kind = DK_CHALLENGE, .reply = REPLY_DEFER,
     .ch_sender = "newfriend@elsewhere.test"},
    {.name = "SRS0 from a trusted forwarder for a blocked original: blocked", .state = "RCPT",
     .sender = "SRS0=abcd=TT=spam.test=bad@fwd.test", .recipient = "sis@family.test",
     .client = "192.0.2.1", .kind = DK_RULE, .reply = REPLY_ACCESS_DENIED},
    {.name = "unknown sender, reject -> challenge and REJECT Access denied", .state = "RCPT",
     .sender = "stranger@unknown.test", .recipient = "kid@family.test",
     .unknown = UNKNOWN_REJECT, .kind = DK_CHALLENGE, .reply = REPLY_ACCESS_DENIED,
     .ch_sender = "stranger@unknown.test", .ch_recipient = "kid@family.test"},
    {.name = "unknown sender, on_allow OK does not change the defer", .state = "RCPT",
     .sender = "stranger@unknown.test", .recipient = "kid@family.test", .on_allow = "OK",
     .kind = DK_CHALLENGE, .reply = REPLY_DEFER},

    /* closed (denied or expired) challenges */
    {.name = "denied pair -> closed, REJECT Access denied", .state = "RCPT",
     .sender = "denied@example.net", .recipient = "kid@family.test", .kind = DK_CLOSED,
     .reply = REPLY_ACCESS_DENIED},
    {.name = "denied pair matched by base addresses", .state = "RCPT",
     .sender = "Denied+x@Example.NET", .recipient = "kid+y@family.test", .kind = DK_CLOSED,
     .reply = REPLY_ACCESS_DENIED},
    {.name = "denied pair does not close another recipient", .state = "RCPT",
     .sender = "denied@example.net", .recipient = "sis@family.test", .kind = DK_CHALLENGE,
     .reply = REPLY_DEFER},
    {.name = "expired pair keyed by the recipient address, not the protected key",
     .state = "RCPT", .sender = "gone@example.net", .recipient = "vague@a.test",
     .kind = DK_CLOSED, .reply = REPLY_ACCESS_DENIED},
    {.name = "expired pair does not close the same user@ in another domain", .state = "RCPT",
     .sender = "gone@example.net", .recipient = "vague@b.test", .kind = DK_CHALLENGE,
     .reply = REPLY_DEFER, .ch_recipient = "vague@b.test"},

    /* the null sender */
    {.name = "null sender \"\", null_sender reject -> REJECT Access denied", .state = "RCPT",
     .sender = "", .recipient = "kid@family.test", .kind = DK_NULL_SENDER,
     .reply = REPLY_ACCESS_DENIED},
    {.name = "null sender <>, null_sender reject -> REJECT Access denied", .state = "RCPT",
     .sender = "<>", .recipient = "kid@family.test", .kind = DK_NULL_SENDER,
     .reply = REPLY_ACCESS_DENIED},
    {.name = "null sender, null_sender allow -> DUNNO", .state = "RCPT", .sender = "",
     .recipient = "kid@family.test", .null_mode = NULL_ALLOW, .kind = DK_NULL_SENDER,
     .reply = "DUNNO"},
    {.name = "null sender, null_sender challenge -> challenge from <>", .state = "RCPT",
     .sender = "", .recipient = "Kid+x@family.test", .null_mode = NULL_CHALLENGE,
     .kind = DK_CHALLENGE, .reply = REPLY_DEFER, .ch_sender = "<>",
     .ch_recipient = "kid@family.test"},
    {.name = "null sender, challenge with unknown_sender reject -> REJECT", .state = "RCPT",
     .sender = "<>", .recipient = "kid@family.test", .null_mode = NULL_CHALLENGE,
     .unknown = UNKNOWN_REJECT, .kind = DK_CHALLENGE, .reply = REPLY_ACCESS_DENIED,
     .ch_sender = "<>"},
    {.name = "null sender, challenge already denied -> closed", .state = "RCPT", .sender = "",
     .recipient = "pupil@school.test", .null_mode = NULL_CHALLENGE, .kind = DK_CLOSED,
     .reply = REPLY_ACCESS_DENIED},
    {.name = "rule for <> beats null_sender reject", .state = "RCPT", .sender = "",
     .recipient = "sis@family.test", .kind = DK_RULE, .reply = "DUNNO", .rule_sender = "<>"},
    {.name = "rule for <> beats null_sender challenge", .state = "RCPT", .sender = "<>",
     .recipient = "sis@family.test", .null_mode = NULL_CHALLENGE, .kind = DK_RULE,
     .reply = "DUNNO"},

    /* forms Postfix rewrites after the policy check: refused, never a silent allow */
    {.name = "recipient without a domain (Postfix adds @myorigin later) -> REJECT", .state = "RCPT",
     .sender = "stranger@example.net", .recipient = "kid", .kind = DK_BAD_ADDRESS, .check = R_REJECT},
    {.name = "percent-hack recipient kid%family.test@mx.local -> REJECT", .state = "RCPT",
     .sender = "stranger@example.net", .recipient = "kid%family.test@mx.local", .kind = DK_BAD_ADDRESS,
     .check = R_REJECT},
    {.name = "bang-path recipient family.test!kid@mx.local -> REJECT", .state = "RCPT",
     .sender = "stranger@example.net", .recipient = "family.test!kid@mx.local", .kind = DK_BAD_ADDRESS,
     .check = R_REJECT},
    {.name = "route form kid@family.test@localhost -> 5.1.3", .state = "RCPT",
     .sender = "stranger@example.net", .recipient = "kid@family.test@localhost", .kind = DK_BAD_ADDRESS,
     .reply = REPLY_ROUTED},
    {.name = "quoted route form \"kid@family.test\"@localhost -> 5.1.3", .state = "RCPT",
     .sender = "stranger@example.net", .recipient = "\"kid@family.test\"@localhost", .kind = DK_BAD_ADDRESS,
     .reply = REPLY_ROUTED},
    {.name = "route form to an unprotected address is refused too", .state = "RCPT",
     .sender = "stranger@example.net", .recipient = "other@else.test@localhost", .kind = DK_BAD_ADDRESS,
     .reply = REPLY_ROUTED},
    {.name = "route through an address literal kid@family.test@[127.0.0.1] -> 5.1.3", .state = "RCPT",
     .sender = "stranger@example.net", .recipient = "kid@family.test@[127.0.0.1]", .kind = DK_BAD_ADDRESS,
     .reply = REPLY_ROUTED},
    {.name = "address literal kid@[127.0.0.1] -> 5.1.3", .state = "RCPT",
     .sender = "stranger@example.net", .recipient = "kid@[127.0.0.1]", .kind = DK_BAD_ADDRESS,
     .reply = REPLY_ROUTED},
    {.name = "IPv6 address literal kid@[IPv6:::1] -> 5.1.3", .state = "RCPT",
     .sender = "stranger@example.net", .recipient = "kid@[IPv6:::1]", .kind = DK_BAD_ADDRESS,
     .reply = REPLY_ROUTED},
    {.name = "source route @localhost:kid@family.test -> 5.1.3", .state = "RCPT",
     .sender = "stranger@example.net", .recipient = "@localhost:kid@family.test", .kind = DK_BAD_ADDRESS,
     .reply = REPLY_ROUTED},
    {.name = "percent-hack reply text is the routed one", .state = "RCPT",
     .sender = "stranger@example.net", .recipient = "kid%family.test@localhost", .kind = DK_BAD_ADDRESS,
     .reply = REPLY_ROUTED},
    {.name = "sender without a domain (would match a domain rule) -> REJECT", .state = "RCPT",
     .sender = "example.com", .recipient = "kid@family.test", .kind = DK_BAD_ADDRESS, .check = R_REJECT},

    /* unusable addresses: never a silent allow */
    {.name = "sender with control char, protected recipient -> bad address REJECT",
     .state = "RCPT", .sender = "a\x01" "b@example.com", .recipient = "kid@family.test",
     .kind = DK_BAD_ADDRESS, .check = R_REJECT},
    {.name = "sender with invalid UTF-8, protected recipient -> bad address REJECT",
     .state = "RCPT", .sender = "\xc0\x80@example.com", .recipient = "kid@family.test",
     .kind = DK_BAD_ADDRESS, .check = R_REJECT},
    {.name = "sender over 255 bytes, protected recipient -> bad address REJECT",
     .state = "RCPT", .sender = X100 X100 X100 "@example.com", .recipient = "kid@family.test",
     .kind = DK_BAD_ADDRESS, .check = R_REJECT},
    {.name = "bad sender with a rule-matching domain is still refused", .state = "RCPT",
     .sender = "a\rb@example.org", .recipient = "kid@family.test", .kind = DK_BAD_ADDRESS,
     .check = R_REJECT},
    {.name = "bad sender, unprotected recipient -> DUNNO", .state = "RCPT",
     .sender = "a\x01" "b@example.com", .recipient = "someone@else.test",
     .kind = DK_NOT_PROTECTED, .reply = "DUNNO"},
    {.name = "recipient with control char -> not allowed", .state = "RCPT",
     .sender = "grandma@example.com", .recipient = "kid\x01@family.test",
     .kind_unchecked = 1, .check = R_NOT_ALLOW},
    {.name = "recipient with empty domain label -> not allowed", .state = "RCPT",
     .sender = "grandma@example.com", .recipient = "kid@family..test", .kind_unchecked = 1,
     .check = R_NOT_ALLOW},
    {.name = "recipient with invalid UTF-8 -> not allowed", .state = "RCPT",
     .sender = "grandma@example.com", .recipient = "kid\xed\xa0\x80@family.test",
     .kind_unchecked = 1, .check = R_NOT_ALLOW},
    {.name = "empty recipient at RCPT -> not allowed", .state = "RCPT",
     .sender = "grandma@example.com", .recipient = "", .kind_unchecked = 1,
     .check = R_NOT_ALLOW},
    {.name = "absent (NULL) recipient at RCPT -> not allowed", .state = "RCPT",
     .sender = "grandma@example.com", .recipient = NULL, .kind_unchecked = 1,
     .check = R_NOT_ALLOW},
    {.name = "absent (NULL) sender to a protected recipient -> not allowed", .state = "RCPT",
     .sender = NULL, .recipient = "kid@family.test", .kind_unchecked = 1,
     .check = R_NOT_ALLOW},

    /* no rules loaded yet */
    {.name = "no ruleset at RCPT -> 451", .state = "RCPT", .sender = "grandma@example.com",
     .recipient = "kid@family.test", .no_rules = 1, .kind = DK_NO_RULES,
     .reply = REPLY_TEMPFAIL},
    {.name = "no ruleset at RCPT, any recipient -> 451", .state = "RCPT", .sender = "",
     .recipient = "someone@else.test", .no_rules = 1, .kind = DK_NO_RULES,
     .reply = REPLY_TEMPFAIL},
    {.name = "no ruleset at DATA -> DUNNO", .state = "DATA", .sender = "grandma@example.com",
     .recipient = "kid@family.test", .no_rules = 1, .kind_unchecked = 1, .reply = "DUNNO"},
    {.name = "no ruleset at END-OF-MESSAGE -> DUNNO", .state = "END-OF-MESSAGE",
     .sender = "grandma@example.com", .recipient = "kid@family.test", .no_rules = 1,
     .kind_unchecked = 1, .reply = "DUNNO"},
};

static const char *kind_name(enum decision_kind k)
{
    static const char *const names[] = {"DK_NOT_RCPT", "DK_NOT_PROTECTED", "DK_RULE",
                                        "DK_CLOSED", "DK_NULL_SENDER", "DK_CHALLENGE",
                                        "DK_BAD_ADDRESS", "DK_NO_RULES"};
    return (unsigned)k < UNIT_LEN(names) ? names[k] : "?";
}

static int is_refusal(const char *reply)
{
    return strncmp(reply, "REJECT", 6) == 0 || strncmp(reply, "reject", 6) == 0 ||
           (reply[0] == '5' && reply[1] >= '0' && reply[1] <= '9');
}

static void test_decide(void **state)
{
    const struct decide_row *row = *state;
    static struct netlist trusted;
    char err[200];
    struct decide_opts opts = {
        .unknown_sender = row->unknown,
        .on_allow = row->on_allow ? row->on_allow : "DUNNO",
        .null_sender = row->null_mode,
        .delims = "+",
        .trusted_forwarders = &trusted,
        .exact_domain = row->exact_domain,
        .recipient_contact = row->contact,
    };
    struct decision d;

    if (trusted.n == 0)
        assert_int_equal(netlist_add(&trusted, "192.0.2.0/24, 2001:db8::/32", err, sizeof(err)), 0);
    memset(&d, 0x5a, sizeof d);
    d.reply[sizeof d.reply - 1] = '\0';
    decide(row->no_rules ? NULL : rs, &opts, row->state, row->sender, row->recipient, row->client, &d);

    assert_non_null(memchr(d.reply, '\0', sizeof d.reply));
    if (!row->kind_unchecked && d.kind != row->kind)
        fail_msg("kind %s, expected %s (reply \"%s\", detail \"%.100s\")", kind_name(d.kind),
                 kind_name(row->kind), d.reply, d.detail);
    switch (row->check) {
    case R_EXACT:
        assert_string_equal(d.reply, row->reply);
        break;
    case R_REJECT:
        if (!is_refusal(d.reply))
            fail_msg("reply \"%s\" is not a permanent refusal", d.reply);
        break;
    case R_NOT_ALLOW:
        if (strcasecmp(d.reply, "DUNNO") == 0 || strcasecmp(d.reply, "OK") == 0 ||
            !(is_refusal(d.reply) || strncmp(d.reply, "DEFER", 5) == 0 ||
              (d.reply[0] == '4' && d.reply[1] >= '0' && d.reply[1] <= '9')))
            fail_msg("reply \"%s\" lets the message through", d.reply);
        break;
    }
    if (row->protected_key)
        assert_string_equal(d.protected_key, row->protected_key);
    if (row->scope)
        assert_string_equal(d.rule_scope, row->scope);
    if (row->rule_sender)
        assert_string_equal(d.rule_sender, row->rule_sender);
    if (row->ch_sender)
        assert_string_equal(d.challenge_sender, row->ch_sender);
    if (row->ch_recipient)
        assert_string_equal(d.challenge_recipient, row->ch_recipient);
    if (row->judged)
        assert_string_equal(d.sender, row->judged);
    if (row->allows)
        assert_int_equal(d.allows, row->allows > 0);
    if (row->parent)
        assert_int_equal(d.parent_domain, row->parent > 0);
    if (d.kind == DK_CHALLENGE && !row->kind_unchecked) {
        /* a challenge always names the pair to record */
        assert_true(d.challenge_sender[0] != '\0');
        assert_true(d.challenge_recipient[0] != '\0');
        assert_null(strchr(d.challenge_recipient, '+'));
    }
}

/* decision_rule_text names the matched rule for logs. */
static void test_rule_text(void **state)
{
    struct decide_opts opts = {UNKNOWN_DEFER, "DUNNO", NULL_REJECT, "+", NULL, 0, 0, 0, 0};
    struct decision d;
    char buf[512];
    const char *text;

    (void)state;
    decide(rs, &opts, "RCPT", "rude@example.net", "kid@family.test", NULL, &d);
    assert_int_equal(d.kind, DK_RULE);
    text = decision_rule_text(&d, buf, sizeof buf);
    assert_non_null(text);
    assert_contains(text, "rude@example.net");
    /* a tiny buffer is still NUL-terminated */
    text = decision_rule_text(&d, buf, 8);
    assert_non_null(text);
    assert_true(strlen(text) < 8 || text != buf);
}

static struct CMUnitTest tests[UNIT_LEN(rows) + 1];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_decide, rows);
    UNIT_ADD(tests, n, test_rule_text);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, build_rules, free_rules);
}
