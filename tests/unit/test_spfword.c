/* test_spfword.c - unit tests of lib/spfword.c: a challenge's SPF result in
 * the words the guardian reads.  Only 'pass' is ever called verified; NULL
 * is "not checked"; the sentence names the sender's domain.  One row a case. */
#include "unit.h"
#include "spfword.h"

struct word_row {
    const char *name;
    const char *spf_result;
    const char *word;
};

static struct word_row word_rows[] = {
    {"word: pass is verified", "pass", "verified"},
    {"word: PASS (by hand) is verified", "PASS", "verified"},
    {"word: none is not verified", "none", "not verified"},
    {"word: neutral is not verified", "neutral", "not verified"},
    {"word: NULL is not checked", NULL, "not checked"},
    {"word: '' (NULL as read) is not checked", "", "not checked"},
    {"word: fail (never written) is not verified", "fail", "not verified"},
    {"word: softfail is not verified", "softfail", "not verified"},
    {"word: temperror is not verified", "temperror", "not verified"},
    {"word: 'passed' is no pass", "passed", "not verified"},
    {"word: ' pass' is no pass", " pass", "not verified"},
};

static void test_word(void **state)
{
    const struct word_row *row = *state;

    assert_string_equal(spfword_of(row->spf_result), row->word);
}

struct sentence_row {
    const char *name;
    const char *spf_result;
    const char *sender;
    const char *sentence;
};

static struct sentence_row sentence_rows[] = {
    {"sentence: pass", "pass", "grandma@example.com",
     "Verified: example.com allows the server this email came from to send its mail."},
    {"sentence: none", "none", "grandma@example.com",
     "Not verified: example.com does not say which servers send its mail, so guardlist cannot tell whether "
     "this email really came from example.com."},
    {"sentence: neutral", "neutral", "grandma@example.com",
     "Not verified: example.com does not vouch for the server this email came from, so guardlist cannot tell "
     "whether this email really came from example.com."},
    {"sentence: NULL", NULL, "grandma@example.com",
     "Not checked: guardlist did not check whether this email really came from example.com."},
    {"sentence: an unknown value is no pass", "fail", "grandma@example.com",
     "Not verified: guardlist cannot tell whether this email really came from example.com."},
    {"sentence: the last @ starts the domain", "pass", "\"a@b\"@example.org",
     "Verified: example.org allows the server this email came from to send its mail."},
    {"sentence: the null sender has no domain", "", "<>",
     "Not checked: guardlist did not check whether this email really came from the sender's domain."},
    {"sentence: no sender at all", "none", NULL,
     "Not verified: the sender's domain does not say which servers send its mail, so guardlist cannot tell "
     "whether this email really came from the sender's domain."},
    {"sentence: an address ending in @", "pass", "a@",
     "Verified: the sender's domain allows the server this email came from to send its mail."},
};

static void test_sentence(void **state)
{
    const struct sentence_row *row = *state;
    char out[SPFWORD_MAX];

    assert_int_equal(spfword_sentence(row->spf_result, row->sender, out, sizeof(out)), 0);
    assert_string_equal(out, row->sentence);
}

/* The longest domain (255 bytes) twice still fits SPFWORD_MAX. */
static void test_long_domain(void **state)
{
    char sender[300], out[SPFWORD_MAX];

    (void)state;
    memset(sender, 'd', sizeof(sender));
    sender[0] = 'a';
    sender[1] = '@';
    sender[2 + 255] = '\0';
    for (int i = 0; i < 5; i++) {
        static const char *const r[] = { "pass", "none", "neutral", "x", NULL };
        assert_int_equal(spfword_sentence(r[i], sender, out, sizeof(out)), 0);
        assert_non_null(strstr(out, sender + 2));
    }
}

/* Too small a buffer: an error and "", never half a sentence (the half of
 * "Not verified" could read "Not" alone, the half of others worse). */
static void test_too_small(void **state)
{
    char out[20];

    (void)state;
    memset(out, 'x', sizeof(out));
    assert_int_equal(spfword_sentence("none", "a@example.com", out, sizeof(out)), -1);
    assert_string_equal(out, "");
    assert_int_equal(spfword_sentence("pass", "a@example.com", out, 0), -1);
}

static struct CMUnitTest tests[UNIT_LEN(word_rows) + UNIT_LEN(sentence_rows) + 2];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_word, word_rows);
    UNIT_ADD_ROWS(tests, n, test_sentence, sentence_rows);
    UNIT_ADD(tests, n, test_long_domain);
    UNIT_ADD(tests, n, test_too_small);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
