/* contacts.h - a child's existing address book (vCard or CSV) read into
 * e-mail addresses, each checked and normalised as a rule's sender. */
#ifndef GUARDLIST_CONTACTS_H
#define GUARDLIST_CONTACTS_H

#include <stddef.h>
#include "addr.h"

#define CONTACTS_MAX_BYTES (5u * 1024 * 1024)  /* a bigger file is refused unread */
#define CONTACTS_MAX 5000                       /* addresses found (valid or not) */
#define CONTACTS_MAX_LINE 16384                 /* an unfolded vCard line or a CSV record */

enum contacts_format { CONTACTS_GUESS, CONTACTS_VCARD, CONTACTS_CSV };

struct contacts_entry {
    char addr[ADDR_MAX + 2];    /* as addr_key_check() stores it */
    unsigned long line;         /* where it was first found */
};

struct contacts_invalid {
    unsigned long line;
    char why[200];
};

struct contacts {
    enum contacts_format format;        /* the one used */
    size_t n, ninvalid, ndup;
    struct contacts_entry *e;           /* n distinct valid addresses, file order */
    struct contacts_invalid *bad;       /* ninvalid entries skipped, and why */
};

/* Reads the address book BUF (LEN bytes, need not end in NUL) as FMT
 * (CONTACTS_GUESS: vCard if it holds BEGIN:VCARD, else CSV).  Returns 0
 * with C filled (the caller frees it with contacts_free()), or -1 with ERR
 * naming the line when the whole file is refused: too big, a NUL byte,
 * bytes that are not UTF-8, more than CONTACTS_MAX addresses, a CSV without
 * an e-mail column, an unclosed quote.  Nothing else of outside input stops it: an
 * entry that is not a usable address is listed in C->bad with its line. */
int contacts_parse(const char *buf, size_t len, enum contacts_format fmt, struct contacts *c,
                   char *err, size_t errlen);
void contacts_free(struct contacts *c);

/* 1 if the CSV header NAME names an e-mail address column ("E-mail",
 * "E-mail Address", "E-mail 1 - Value", "Primary Email"...), else 0. */
int contacts_email_column(const char *name);

#endif
