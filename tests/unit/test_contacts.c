/* test_contacts.c - unit tests of admin/contacts.c, the address book reader
 * of `guardlist contacts import`: vCard forms and folding, CSV quoting and
 * headers, limits, encodings.  One row a case. */
#include "unit.h"
#include "contacts.h"

struct parse_row {
    const char *name;
    const char *in;
    size_t len;                 /* 0: strlen(in) */
    int fmt;                    /* enum contacts_format */
    int rc;
    const char *out;            /* rc 0: addresses joined by '|'; rc -1: a word of the error */
    size_t ninvalid, ndup;
    const char *invalid;        /* "LINE:word" of the first invalid entry, or NULL */
};

static struct parse_row parse_rows[] = {
    /* vCard */
    {"vcard 3.0: one card, one EMAIL",
     "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Pal\r\nEMAIL;TYPE=INTERNET:Pal@Example.ORG\r\nEND:VCARD\r\n",
     0, CONTACTS_GUESS, 0, "pal@example.org", 0, 0, NULL},
    {"vcard 2.1: EMAIL;INTERNET and LF endings",
     "BEGIN:VCARD\nVERSION:2.1\nEMAIL;PREF;INTERNET:a@x.test\nEND:VCARD\n", 0, CONTACTS_GUESS, 0, "a@x.test", 0, 0, NULL},
    {"vcard 4.0: grouped item1.EMAIL and quoted parameter with a colon",
     "BEGIN:VCARD\nVERSION:4.0\nitem1.EMAIL;PID=1.1:b@x.test\nEMAIL;TYPE=\"work:x\":c@x.test\nEND:VCARD\n",
     0, CONTACTS_GUESS, 0, "b@x.test|c@x.test", 0, 0, NULL},
    {"vcard: several cards, several EMAILs, duplicate counted once",
     "BEGIN:VCARD\nEMAIL:a@x.test\nEMAIL;TYPE=home:b@x.test\nEND:VCARD\nBEGIN:VCARD\nemail:A@X.test\nEND:VCARD\n",
     0, CONTACTS_GUESS, 0, "a@x.test|b@x.test", 0, 1, NULL},
    {"vcard: folded EMAIL (space and tab continuations)",
     "BEGIN:VCARD\r\nEMAIL:long.name\r\n @exa\r\n\tmple.org\r\nEND:VCARD\r\n", 0, CONTACTS_GUESS, 0,
     "long.name@example.org", 0, 0, NULL},
    {"vcard: folded property name", "BEGIN:VCARD\nEM\n AIL:d@x.test\nEND:VCARD\n", 0, CONTACTS_GUESS, 0, "d@x.test",
     0, 0, NULL},
    {"vcard: other properties ignored, mailto: removed",
     "BEGIN:VCARD\nN:Doe;Jane\nTEL:+1 555\nNOTE:EMAIL:nope@x.test\nEMAIL:mailto:e@x.test\nEND:VCARD\n", 0,
     CONTACTS_GUESS, 0, "e@x.test", 0, 0, NULL},
    {"vcard: invalid address listed with its line",
     "BEGIN:VCARD\nEMAIL:not an address\nEMAIL:f@x.test\nEND:VCARD\n", 0, CONTACTS_GUESS, 0, "f@x.test", 1, 0, "2:"},
    {"vcard: a domain is not a contact", "BEGIN:VCARD\nEMAIL:x.test\nEND:VCARD\n", 0, CONTACTS_GUESS, 0, "", 1, 0,
     "2:full address"},
    {"vcard: the null sender is not a contact", "BEGIN:VCARD\nEMAIL:<>\nEND:VCARD\n", 0, CONTACTS_GUESS, 0, "", 1, 0,
     "2:"},
    {"vcard: no END:VCARD: that card is not imported",
     "BEGIN:VCARD\nEMAIL:g@x.test\nEND:VCARD\nBEGIN:VCARD\nEMAIL:h@x.te\n", 0, CONTACTS_GUESS, 0, "g@x.test", 1, 0,
     "5:no END:VCARD"},
    {"vcard: BEGIN inside a card drops the unterminated one",
     "BEGIN:VCARD\nEMAIL:i@x.test\nBEGIN:VCARD\nEMAIL:j@x.test\nEND:VCARD\n", 0, CONTACTS_GUESS, 0, "j@x.test", 1, 0,
     "2:no END:VCARD"},
    {"vcard: EMAIL outside a card", "EMAIL:k@x.test\nBEGIN:VCARD\nEND:VCARD\n", 0, CONTACTS_VCARD, 0, "", 1, 0,
     "1:outside"},
    {"vcard: byte order mark", "\xef\xbb\xbf" "BEGIN:VCARD\nEMAIL:l@x.test\nEND:VCARD\n", 0, CONTACTS_GUESS, 0,
     "l@x.test", 0, 0, NULL},
    {"vcard: empty file", "", 0, CONTACTS_VCARD, 0, "", 0, 0, NULL},
    /* CSV */
    {"csv: Google export, E-mail 1 - Value with ::: and a second column",
     "Name,Given Name,E-mail 1 - Type,E-mail 1 - Value,E-mail 2 - Value\n"
     "Pal,Pal,* Home,pal@x.test ::: pal2@x.test,other@x.test\n", 0, CONTACTS_GUESS, 0,
     "pal@x.test|pal2@x.test|other@x.test", 0, 0, NULL},
    {"csv: Outlook export, quoted fields with commas, quotes and newlines",
     "\"First Name\",\"Last Name\",\"Notes\",\"E-mail Address\",\"E-mail Display Name\"\r\n"
     "\"Ann\",\"Lee, Jr.\",\"said \"\"hi\"\"\r\non two lines\",\"ann@x.test\",\"Ann (ann@x.test)\"\r\n"
     "\"Bo\",\"\",\"\",\"BO@X.TEST\",\"\"\r\n", 0, CONTACTS_CSV, 0, "ann@x.test|bo@x.test", 0, 0, NULL},
    {"csv: line numbers count the newlines inside quotes",
     "Notes,Email\n\"a\nb\nc\",bad address\n", 0, CONTACTS_CSV, 0, "", 1, 0, "2:"},
    {"csv: Thunderbird Primary Email", "First Name,Primary Email,Secondary Email\nA,m@x.test,n@x.test\n", 0,
     CONTACTS_GUESS, 0, "m@x.test|n@x.test", 0, 0, NULL},
    {"csv: one column of addresses, no header", "o@x.test\r\np@x.test\r\n\r\no@x.test\r\n", 0, CONTACTS_GUESS, 0,
     "o@x.test|p@x.test", 0, 1, NULL},
    {"csv: one column with an Email header", "email\nq@x.test\n", 0, CONTACTS_GUESS, 0, "q@x.test", 0, 0, NULL},
    {"csv: a second column in a file of addresses", "r@x.test\ns@x.test,t@x.test\n", 0, CONTACTS_GUESS, 0,
     "r@x.test", 1, 0, "2:more than one column"},
    {"csv: no e-mail column", "Name,Phone\nA,1\n", 0, CONTACTS_GUESS, -1, "no e-mail column", 0, 0, NULL},
    {"csv: a quote never closed", "Email\n\"u@x.test\n", 0, CONTACTS_GUESS, -1, "never closed", 0, 0, NULL},
    {"csv: empty cells skipped", "Name,Email\nA,\nB,v@x.test\n", 0, CONTACTS_GUESS, 0, "v@x.test", 0, 0, NULL},
    /* hostile input */
    {"NUL byte refuses the file, naming the line", "Email\nw@x.test\n\0x@x.test\n", 20, CONTACTS_GUESS, -1,
     "line 3: NUL", 0, 0, NULL},
    {"UTF-16 refused (NUL bytes)", "\xff\xfe" "E\0m\0", 6, CONTACTS_GUESS, -1, "NUL", 0, 0, NULL},
    {"Latin-1 refuses the file, naming the line", "Name,Email\nJos\xe9,y@x.test\n", 0, CONTACTS_GUESS, -1,
     "line 2: not UTF-8", 0, 0, NULL},
    {"UTF-8 names are fine", "Name,Email\nJos\xc3\xa9,z@x.test\n", 0, CONTACTS_GUESS, 0, "z@x.test", 0, 0, NULL},
    {"control characters in an address are invalid", "Email\n\"a\x01@x.test\"\n", 0, CONTACTS_GUESS, 0, "", 1, 0,
     "2:"},
    /* addresses the rules would read as another (contactaddr.c) */
    {"%-hack is not a contact", "Email\npal%evil.example@x.test\nok@x.test\n", 0, CONTACTS_GUESS, 0, "ok@x.test",
     1, 0, "2:routed"},
    {"!-path is not a contact", "Email\nevil.example!pal@x.test\n", 0, CONTACTS_GUESS, 0, "", 1, 0, "2:routed"},
    {"address literal is not a contact", "Email\npal@[192.0.2.1]\n", 0, CONTACTS_GUESS, 0, "", 1, 0, "2:"},
    {"bidi override is not a contact", "Email\npal\xe2\x80\xae" "moc@x.test\n", 0, CONTACTS_GUESS, 0, "", 1, 0,
     "2:invisible"},
    {"zero-width joiner is not a contact", "Email\npal@x\xe2\x80\x8d.test\n", 0, CONTACTS_GUESS, 0, "", 1, 0,
     "2:invisible"},
    {"sharp s domain would become ss", "Email\npal@stra\xc3\x9f" "e.de\n", 0, CONTACTS_GUESS, 0, "", 1, 0,
     "2:another domain"},
    {"final sigma domain would become sigma", "Email\npal@\xce\xb1\xcf\x82.example\n", 0, CONTACTS_GUESS, 0, "",
     1, 0, "2:another domain"},
    {"an IDN that folds to itself is fine", "Email\npal@B\xc3\x9c" "cher.example\n", 0, CONTACTS_GUESS, 0,
     "pal@b\xc3\xbc" "cher.example", 0, 0, NULL},
};

static void test_parse(void **state)
{
    const struct parse_row *row = *state;
    struct contacts c;
    char err[300] = "", joined[2000] = "";
    size_t len = row->len ? row->len : strlen(row->in);
    int rc = contacts_parse(row->in, len, (enum contacts_format)row->fmt, &c, err, sizeof(err));

    assert_int_equal(rc, row->rc);
    if (rc < 0) {
        assert_contains(err, row->out);
        return;
    }
    for (size_t i = 0; i < c.n; i++) {
        if (i)
            strcat(joined, "|");
        strcat(joined, c.e[i].addr);
    }
    assert_string_equal(joined, row->out);
    assert_int_equal(c.ninvalid, row->ninvalid);
    assert_int_equal(c.ndup, row->ndup);
    if (row->invalid) {
        char first[300];
        const char *colon = strchr(row->invalid, ':');
        snprintf(first, sizeof(first), "%lu:%s", c.bad[0].line, c.bad[0].why);
        assert_prefix(first, "");
        assert_int_equal(c.bad[0].line, strtoul(row->invalid, NULL, 10));
        assert_contains(c.bad[0].why, colon + 1);
    }
    contacts_free(&c);
}

struct column_row {
    const char *name;
    const char *header;
    int email;
};

static struct column_row column_rows[] = {
    {"column: Email", "Email", 1},
    {"column: E-mail Address", "E-mail Address", 1},
    {"column: E-mail 2 Address", "E-mail 2 Address", 1},
    {"column: E-mail 1 - Value", "E-mail 1 - Value", 1},
    {"column: Primary Email", "Primary Email", 1},
    {"column: e-mail", "e-mail", 1},
    {"column: E-mail 1 - Type is not", "E-mail 1 - Type", 0},
    {"column: E-mail Display Name is not", "E-mail Display Name", 0},
    {"column: Name is not", "Name", 0},
    {"column: Emailing list? starts with email", "Emails", 1},
};

static void test_column(void **state)
{
    const struct column_row *row = *state;
    assert_int_equal(contacts_email_column(row->header), row->email);
}

/* A buffer of N copies of LINE. */
static char *repeat(const char *head, const char *line, size_t n, size_t *len)
{
    size_t hl = strlen(head), ll = strlen(line);
    char *s = malloc(hl + n * ll + 1);

    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * ll, line, ll);
    *len = hl + n * ll;
    s[*len] = '\0';
    return s;
}

static void test_too_big(void **state)
{
    size_t len;
    char *s = repeat("Email\n", "a@x.test\n", CONTACTS_MAX_BYTES / 9 + 1, &len);
    struct contacts c;
    char err[300];

    (void)state;
    assert_true(len > CONTACTS_MAX_BYTES);
    assert_int_equal(contacts_parse(s, len, CONTACTS_GUESS, &c, err, sizeof(err)), -1);
    assert_contains(err, "larger than 5 MB");
    free(s);
}

static void test_too_many(void **state)
{
    char *s = malloc(20 * (CONTACTS_MAX + 2));
    size_t o = 0;
    struct contacts c;
    char err[300];

    (void)state;
    assert_non_null(s);
    for (int i = 0; i <= CONTACTS_MAX; i++)
        o += (size_t)sprintf(s + o, "u%d@x.test\n", i);
    assert_int_equal(contacts_parse(s, o, CONTACTS_GUESS, &c, err, sizeof(err)), -1);
    assert_contains(err, "more than 5000");
    /* exactly the limit is fine */
    o = 0;
    for (int i = 0; i < CONTACTS_MAX; i++)
        o += (size_t)sprintf(s + o, "u%d@x.test\n", i);
    assert_int_equal(contacts_parse(s, o, CONTACTS_GUESS, &c, err, sizeof(err)), 0);
    assert_int_equal(c.n, CONTACTS_MAX);
    contacts_free(&c);
    free(s);
}

static void test_too_many_in_one_card(void **state)
{
    size_t len;
    char *s = repeat("BEGIN:VCARD\n", "EMAIL:a@x.test\n", CONTACTS_MAX + 1, &len);
    struct contacts c;
    char err[300];

    (void)state;
    assert_int_equal(contacts_parse(s, len, CONTACTS_GUESS, &c, err, sizeof(err)), -1);
    assert_contains(err, "more than 5000");
    free(s);
}

static void test_long_lines(void **state)
{
    size_t len;
    char *photo = repeat("BEGIN:VCARD\nPHOTO;ENCODING=b:", "QUFB", CONTACTS_MAX_LINE, &len);
    char *s = malloc(len + 200);
    struct contacts c;
    char err[300];

    (void)state;
    assert_non_null(s);
    /* A long PHOTO is ignored; a long EMAIL is invalid; a long CSV record is skipped. */
    len = (size_t)sprintf(s, "%s\nEMAIL:a@x.test\nEND:VCARD\n", photo);
    assert_int_equal(contacts_parse(s, len, CONTACTS_GUESS, &c, err, sizeof(err)), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.ninvalid, 0);
    contacts_free(&c);
    memcpy(photo + 12, "EMAIL:", 6);
    len = (size_t)sprintf(s, "%s\nEND:VCARD\n", photo);
    assert_int_equal(contacts_parse(s, len, CONTACTS_GUESS, &c, err, sizeof(err)), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.ninvalid, 1);
    assert_contains(c.bad[0].why, "longer than");
    contacts_free(&c);
    len = (size_t)sprintf(s, "Notes,Email\n\"%s\",b@x.test\nc,c@x.test\n", photo + 40);
    assert_int_equal(contacts_parse(s, len, CONTACTS_GUESS, &c, err, sizeof(err)), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.e[0].addr, "c@x.test");
    assert_int_equal(c.ninvalid, 1);
    assert_int_equal(c.bad[0].line, 2);
    contacts_free(&c);
    /* A header longer than the bound: refused, never read past the buffer. */
    len = (size_t)sprintf(s, "%s,Email\nd@x.test\n", photo + 40);
    assert_int_equal(contacts_parse(s, len, CONTACTS_CSV, &c, err, sizeof(err)), -1);
    assert_contains(err, "line 1: first record longer");
    free(s);
    free(photo);
}

static struct CMUnitTest tests[UNIT_LEN(parse_rows) + UNIT_LEN(column_rows) + 4];

int main(void)
{
    size_t n = 0;

    UNIT_ADD_ROWS(tests, n, test_parse, parse_rows);
    UNIT_ADD_ROWS(tests, n, test_column, column_rows);
    UNIT_ADD(tests, n, test_too_big);
    UNIT_ADD(tests, n, test_too_many);
    UNIT_ADD(tests, n, test_too_many_in_one_card);
    UNIT_ADD(tests, n, test_long_lines);
    UNIT_CHECK_COUNT(tests, n);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
