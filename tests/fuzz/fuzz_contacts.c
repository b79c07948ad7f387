/*
 * fuzz_contacts - libFuzzer target for lib/contacts.c, the address book
 * reader of `guardlist contacts import` and the admin page (vCard and CSV files from outside).
 *
 * Input: one selector byte (its low two bits: guess, vCard or CSV), then the
 * file.  Invariants: the parse either refuses the file with a message or
 * returns entries that are distinct full addresses in the form `guardlist
 * allow` stores (fixed points of addr_key_normalize()), with a line number
 * inside the file; invalid entries have a line and a printable reason; at
 * most CONTACTS_MAX addresses in all.  No files, no network.
 */
#include "fuzz.h"
#include "addr.h"
#include "contacts.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct contacts c;
    char err[300], out[ADDR_MAX + 2];

    if (size < 1)
        return 0;
    enum contacts_format fmt = (enum contacts_format)(data[0] % 3);
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    unsigned long lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    err[0] = '\0';
    if (contacts_parse(buf, len, fmt, &c, err, sizeof(err)) < 0) {
        FUZZ_CHECK(err[0] != '\0' && fuzz_terminated(err, sizeof(err)));
        return 0;
    }
    FUZZ_CHECK(c.format == CONTACTS_VCARD || c.format == CONTACTS_CSV);
    FUZZ_CHECK(c.n + c.ninvalid + c.ndup <= (size_t)CONTACTS_MAX + c.ninvalid);
    for (size_t i = 0; i < c.n; i++) {
        FUZZ_CHECK(fuzz_terminated(c.e[i].addr, sizeof(c.e[i].addr)));
        FUZZ_CHECK(c.e[i].line >= 1 && c.e[i].line <= lines);
        /* Stored as addr_key_check() stores a sender (a quoted local part
         * unquoted), so a form addr_key_normalize() leaves alone. */
        const char *at = strrchr(c.e[i].addr, '@');
        FUZZ_CHECK(at && at > c.e[i].addr && at[1]);
        FUZZ_CHECK(addr_key_normalize(c.e[i].addr, out, sizeof(out)) == 0 && strcmp(out, c.e[i].addr) == 0);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(c.e[i].addr, c.e[j].addr) != 0);
    }
    for (size_t i = 0; i < c.ninvalid; i++) {
        FUZZ_CHECK(fuzz_terminated(c.bad[i].why, sizeof(c.bad[i].why)));
        FUZZ_CHECK(c.bad[i].line >= 1 && c.bad[i].line <= lines);
        for (const unsigned char *p = (const unsigned char *)c.bad[i].why; *p; p++)
            FUZZ_CHECK(*p >= 0x20 && *p != 0x7f);
    }
    contacts_free(&c);
    return 0;
}
