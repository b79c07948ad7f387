/*
 * contacts - reads a child's existing address book, a vCard file (2.1, 3.0,
 * 4.0: EMAIL properties, folded lines, several cards) or a CSV export
 * (Google, Outlook, Thunderbird, or one column of addresses), into the
 * addresses `guardlist contacts import` turns into contacts.
 *
 * Callers: admin/contactscmd.c and web/import.c, through lib/contactplan.c
 * for the verdicts.  No I/O, no database.  The file is hostile:
 * its size, its lines and the number of addresses are bounded; a NUL byte
 * or bytes that are not UTF-8 refuse the whole file (naming the line), so a
 * wrongly encoded export is never half read.  Each address is checked by
 * addr_key_check(), exactly as `guardlist allow` checks a sender, and must
 * be a full address.
 */
#include "contacts.h"
#include "contactaddr.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CSV_MAX_FIELDS 1024
#define VALUE_MAX 320           /* longer is no address (ADDR_MAX is 255) */

struct parse {
    const char *buf;
    size_t len, pos;
    unsigned long line;         /* of the byte at pos */
    struct contacts *c;
    size_t found;               /* addresses seen, valid or not */
    size_t cap_e, cap_bad;
    char *err;
    size_t errlen;
};

static int add_invalid(struct parse *p, unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int add_invalid(struct parse *p, unsigned long line, const char *fmt, ...)
{
    va_list ap;
    struct contacts *c = p->c;

    if (c->ninvalid == p->cap_bad) {
        size_t n = p->cap_bad ? 2 * p->cap_bad : 16;
        void *v = realloc(c->bad, n * sizeof(*c->bad));
        if (!v) {
            snprintf(p->err, p->errlen, "out of memory");
            return -1;
        }
        c->bad = v;
        p->cap_bad = n;
    }
    struct contacts_invalid *b = &c->bad[c->ninvalid++];
    b->line = line;
    va_start(ap, fmt);
    vsnprintf(b->why, sizeof(b->why), fmt, ap);
    va_end(ap);
    return 0;
}

/* Makes S printable for a message (it came from the file). */
static void printable(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 5 < outlen; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", ch);
        else
            out[o++] = (char)ch;
    }
    out[o] = '\0';
}

/* One address as found at LINE: checked, normalised and kept once.
 * Returns 0 (kept, a duplicate or listed as invalid), or -1 with the file
 * refused (too many addresses, out of memory). */
static int add_address(struct parse *p, const char *v, size_t n, unsigned long line)
{
    struct contacts *c = p->c;
    char raw[VALUE_MAX + 1], shown[80], out[ADDR_MAX + 2], why[160];
    enum addr_key_kind kind;

    while (n && isspace((unsigned char)*v))
        v++, n--;
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    if (n >= 7 && strncasecmp(v, "mailto:", 7) == 0)
        v += 7, n -= 7;
    if (n == 0)
        return 0;
    if (++p->found > CONTACTS_MAX) {
        snprintf(p->err, p->errlen, "line %lu: more than %d addresses in the file; import it in parts",
                 line, CONTACTS_MAX);
        return -1;
    }
    printable(v, n < 60 ? n : 60, shown, sizeof(shown));
    if (n > VALUE_MAX)
        return add_invalid(p, line, "'%.60s...': too long for an address", shown);
    memcpy(raw, v, n);
    raw[n] = '\0';
    if (addr_key_check(raw, 0, out, sizeof(out), &kind, why, sizeof(why)) < 0)
        return add_invalid(p, line, "'%.60s': %.120s", shown, why);
    if (kind != AK_ADDRESS)
        return add_invalid(p, line, "'%.60s': not a full address (user@domain)", shown);
    /* What the guardian reads must be the mailbox mail goes to. */
    if (contactaddr_check(raw, why, sizeof(why)) != CA_OK)
        return add_invalid(p, line, "'%.60s': %.120s", shown, why);
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].addr, out) == 0) {
            c->ndup++;
            return 0;
        }
    if (c->n == p->cap_e) {
        size_t m = p->cap_e ? 2 * p->cap_e : 16;
        void *e = realloc(c->e, m * sizeof(*c->e));
        if (!e) {
            snprintf(p->err, p->errlen, "out of memory");
            return -1;
        }
        c->e = e;
        p->cap_e = m;
    }
    memcpy(c->e[c->n].addr, out, strlen(out) + 1);
    c->e[c->n].line = line;
    c->n++;
    return 0;
}

/* ---- the whole file: size, NUL, UTF-8 ---- */

static int check_text(const char *buf, size_t len, char *err, size_t errlen)
{
    unsigned long line = 1;
    size_t start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && buf[i] == '\0') {
            snprintf(err, errlen, "line %lu: NUL byte: not a text file (UTF-16? save it as UTF-8)", line);
            return -1;
        }
        if (i == len || buf[i] == '\n') {
            if (!addr_utf8_valid(buf + start, i - start)) {
                snprintf(err, errlen, "line %lu: not UTF-8 (save the address book as UTF-8 and import it again)",
                         line);
                return -1;
            }
            line++;
            start = i + 1;
        }
    }
    return 0;
}

/* ---- vCard ---- */

/* The next logical line (folded lines joined, RFC 6350 3.2) into OUT (at
 * most CONTACTS_MAX_LINE bytes; *LONG set when it was longer).  Returns 0,
 * or -1 at the end of the file. */
static int vcard_line(struct parse *p, char *out, size_t *outlen, int *too_long, unsigned long *line)
{
    size_t o = 0;

    if (p->pos >= p->len)
        return -1;
    *too_long = 0;
    *line = p->line;
    for (;;) {
        while (p->pos < p->len && p->buf[p->pos] != '\n') {
            char ch = p->buf[p->pos++];
            if (ch == '\r' && (p->pos == p->len || p->buf[p->pos] == '\n'))
                continue;
            if (o < CONTACTS_MAX_LINE)
                out[o++] = ch;
            else
                *too_long = 1;
        }
        if (p->pos < p->len) {
            p->pos++;
            p->line++;
        }
        if (p->pos < p->len && (p->buf[p->pos] == ' ' || p->buf[p->pos] == '\t'))
            p->pos++;       /* a continuation: its first blank is the fold */
        else
            break;
    }
    out[o] = '\0';
    *outlen = o;
    return 0;
}

/* Splits "group.NAME;param=x;...:value": NAME (without group) and the value. */
static int vcard_split(const char *l, size_t n, char *name, size_t namelen, const char **value)
{
    size_t i = 0, start = 0;
    int quoted = 0;

    while (i < n && l[i] != ';' && l[i] != ':') {
        if (l[i] == '.')
            start = i + 1;
        i++;
    }
    if (i - start >= namelen)
        return -1;
    memcpy(name, l + start, i - start);
    name[i - start] = '\0';
    for (; i < n; i++) {
        if (l[i] == '"')
            quoted = !quoted;
        else if (l[i] == ':' && !quoted)
            break;
    }
    if (i >= n)
        return -1;
    *value = l + i + 1;
    return 0;
}

struct pending {
    char v[VALUE_MAX + 2];
    size_t n;
    unsigned long line;
};

/* An unterminated card: its addresses are not imported (the file may have
 * been cut in the middle of one), each listed as invalid. */
static int vcard_drop(struct parse *p, struct pending *pend, size_t npend, unsigned long card_line)
{
    for (size_t i = 0; i < npend; i++)
        if (add_invalid(p, pend[i].line, "the card begun at line %lu has no END:VCARD (file cut short?): "
                        "not imported", card_line) < 0)
            return -1;
    return 0;
}

static int vcard_parse(struct parse *p)
{
    char *l = calloc(1, CONTACTS_MAX_LINE + 1);
    char name[32];
    struct pending *pend = NULL;
    size_t npend = 0, cap = 0, n;
    unsigned long line, card_line = 0;
    int in_card = 0, too_long, rc = 0;
    const char *value;

    if (!l) {
        snprintf(p->err, p->errlen, "out of memory");
        return -1;
    }
    while (rc == 0 && vcard_line(p, l, &n, &too_long, &line) == 0) {
        if (n == 0 || vcard_split(l, n, name, sizeof(name), &value) < 0)
            continue;
        size_t vn = n - (size_t)(value - l);
        if (strcasecmp(name, "BEGIN") == 0 && vn >= 5 && strncasecmp(value, "VCARD", 5) == 0) {
            if (in_card)
                rc = vcard_drop(p, pend, npend, card_line);
            in_card = 1;
            card_line = line;
            npend = 0;
        } else if (strcasecmp(name, "END") == 0 && vn >= 5 && strncasecmp(value, "VCARD", 5) == 0 && in_card) {
            for (size_t i = 0; rc == 0 && i < npend; i++)
                rc = add_address(p, pend[i].v, pend[i].n, pend[i].line);
            in_card = 0;
            npend = 0;
        } else if (strcasecmp(name, "EMAIL") == 0) {
            if (too_long)
                rc = add_invalid(p, line, "longer than %d bytes", CONTACTS_MAX_LINE);
            else if (!in_card)
                rc = add_invalid(p, line, "EMAIL outside BEGIN:VCARD ... END:VCARD");
            else if (p->found + npend >= CONTACTS_MAX) {
                snprintf(p->err, p->errlen, "line %lu: more than %d addresses in the file; import it in parts",
                         line, CONTACTS_MAX);
                rc = -1;
            } else {
                if (npend == cap) {
                    size_t m = cap ? 2 * cap : 4;
                    void *v = realloc(pend, m * sizeof(*pend));
                    if (!v) {
                        snprintf(p->err, p->errlen, "out of memory");
                        rc = -1;
                        break;
                    }
                    pend = v;
                    cap = m;
                }
                /* Longer than VALUE_MAX + 1 stays "too long" in add_address(). */
                pend[npend].n = vn > VALUE_MAX + 1 ? VALUE_MAX + 1 : vn;
                memcpy(pend[npend].v, value, pend[npend].n);
                pend[npend].line = line;
                npend++;
            }
        }
    }
    if (rc == 0 && in_card)
        rc = vcard_drop(p, pend, npend, card_line);
    free(pend);
    free(l);
    return rc;
}

/* ---- CSV (RFC 4180) ---- */

struct record {
    char *buf;                  /* fields, each ending in NUL */
    size_t f[CSV_MAX_FIELDS];   /* offsets into buf */
    size_t nf;
    int too_long;
    unsigned long line;
};

/* Reads one record.  Returns 1, 0 at the end of the file, -1 for a quote
 * never closed (ERR set). */
static int csv_record(struct parse *p, struct record *r)
{
    size_t o = 0;
    int quoted = 0, field_start = 1;

    if (p->pos >= p->len)
        return 0;
    r->nf = 0;
    r->too_long = 0;
    r->line = p->line;
    r->f[r->nf++] = 0;
    while (p->pos < p->len) {
        char ch = p->buf[p->pos++];
        if (ch == '\n')
            p->line++;
        if (quoted) {
            if (ch == '"' && p->pos < p->len && p->buf[p->pos] == '"') {
                p->pos++;
            } else if (ch == '"') {
                quoted = 0;
                continue;
            }
        } else if (ch == '"' && field_start) {
            quoted = 1;
            field_start = 0;
            continue;
        } else if (ch == ',' || ch == '\n' || ch == '\r') {
            if (ch == '\r' && p->pos < p->len && p->buf[p->pos] != '\n')
                goto keep;      /* a lone CR is data */
            if (ch == '\r')
                continue;
            if (o < CONTACTS_MAX_LINE)
                r->buf[o++] = '\0';
            else
                r->too_long = 1;
            if (ch == '\n') {
                r->buf[o < CONTACTS_MAX_LINE ? o : CONTACTS_MAX_LINE] = '\0';  /* every field ends in the buffer */
                return 1;
            }
            if (r->nf == CSV_MAX_FIELDS)
                r->too_long = 1;
            else
                r->f[r->nf++] = o;
            field_start = 1;
            continue;
        }
keep:
        field_start = 0;
        if (o < CONTACTS_MAX_LINE)
            r->buf[o++] = ch;
        else
            r->too_long = 1;
    }
    if (quoted) {
        snprintf(p->err, p->errlen, "line %lu: a quoted field is never closed", r->line);
        return -1;
    }
    r->buf[o < CONTACTS_MAX_LINE ? o : CONTACTS_MAX_LINE] = '\0';
    return 1;
}

static const char *field(const struct record *r, size_t i)
{
    return i < r->nf ? r->buf + r->f[i] : "";
}

static int blank_record(const struct record *r)
{
    for (size_t i = 0; i < r->nf; i++)
        for (const char *s = field(r, i); *s; s++)
            if (!isspace((unsigned char)*s))
                return 0;
    return 1;
}

int contacts_email_column(const char *name)
{
    char n[64];
    size_t o = 0;

    for (const char *s = name; *s && o + 1 < sizeof(n); s++)
        if (isalnum((unsigned char)*s))
            n[o++] = (char)tolower((unsigned char)*s);
    n[o] = '\0';
    if (strstr(n, "type") || strstr(n, "display") || strstr(n, "name") || strstr(n, "label")
        || strstr(n, "kind"))
        return 0;
    return strncmp(n, "email", 5) == 0 || (o >= 5 && strcmp(n + o - 5, "email") == 0)
           || strstr(n, "emailaddress") != NULL;
}

/* A Google export puts several addresses in one cell: "a@x ::: b@y". */
static int csv_cell(struct parse *p, const char *v, unsigned long line)
{
    const char *sep;

    while ((sep = strstr(v, ":::")) != NULL) {
        if (add_address(p, v, (size_t)(sep - v), line) < 0)
            return -1;
        v = sep + 3;
    }
    return add_address(p, v, strlen(v), line);
}

static int csv_parse(struct parse *p)
{
    struct record *r = calloc(1, sizeof(*r));
    size_t cols[64], ncols = 0;
    int rc, header_seen = 0, single = 0;

    if (!r || !(r->buf = calloc(1, CONTACTS_MAX_LINE + 1))) {
        free(r);
        snprintf(p->err, p->errlen, "out of memory");
        return -1;
    }
    while ((rc = csv_record(p, r)) == 1) {
        if (blank_record(r))
            continue;
        if (!header_seen && r->too_long) {
            snprintf(p->err, p->errlen, "line %lu: first record longer than %d bytes", r->line, CONTACTS_MAX_LINE);
            rc = -1;
            break;
        }
        if (!header_seen) {
            header_seen = 1;
            for (size_t i = 0; i < r->nf && ncols < 64; i++)
                if (contacts_email_column(field(r, i)))
                    cols[ncols++] = i;
            if (ncols)
                continue;
            if (r->nf == 1 && strchr(field(r, 0), '@')) {
                single = 1;         /* one column of addresses, no header */
            } else {
                snprintf(p->err, p->errlen, "line %lu: no e-mail column in the header (looked for a column named "
                         "like E-mail, Email Address, E-mail 1 - Value) and not one address a line", r->line);
                rc = -1;
                break;
            }
        }
        if (r->too_long) {
            if ((rc = add_invalid(p, r->line, "record longer than %d bytes: skipped", CONTACTS_MAX_LINE)) < 0)
                break;
            continue;
        }
        if (single && r->nf > 1) {
            if ((rc = add_invalid(p, r->line, "more than one column in a file of addresses")) < 0)
                break;
            continue;
        }
        for (size_t i = 0; i < (single ? 1 : ncols); i++)
            if ((rc = csv_cell(p, field(r, single ? 0 : cols[i]), r->line)) < 0)
                break;
        if (rc < 0)
            break;
    }
    free(r->buf);
    free(r);
    return rc < 0 ? -1 : 0;
}

/* ---- the entry point ---- */

static int holds_vcard(const char *buf, size_t len)
{
    static const char b[] = "BEGIN:VCARD";

    for (size_t i = 0; i + sizeof(b) - 1 <= len; i++)
        if ((i == 0 || buf[i - 1] == '\n') && strncasecmp(buf + i, b, sizeof(b) - 1) == 0)
            return 1;
    return 0;
}

int contacts_parse(const char *buf, size_t len, enum contacts_format fmt, struct contacts *c,
                   char *err, size_t errlen)
{
    struct parse p = { .buf = buf, .len = len, .line = 1, .c = c, .err = err, .errlen = errlen };

    memset(c, 0, sizeof(*c));
    if (len > CONTACTS_MAX_BYTES) {
        snprintf(err, errlen, "the file is larger than %u MB", CONTACTS_MAX_BYTES / (1024 * 1024));
        return -1;
    }
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        p.pos = 3;      /* a UTF-8 byte order mark (Excel's CSV) */
    if (check_text(buf + p.pos, len - p.pos, err, errlen) < 0)
        return -1;
    c->format = fmt != CONTACTS_GUESS ? fmt : holds_vcard(buf + p.pos, len - p.pos) ? CONTACTS_VCARD : CONTACTS_CSV;
    if ((c->format == CONTACTS_VCARD ? vcard_parse(&p) : csv_parse(&p)) < 0) {
        contacts_free(c);
        return -1;
    }
    return 0;
}

void contacts_free(struct contacts *c)
{
    if (!c)
        return;
    free(c->e);
    free(c->bad);
    c->e = NULL;
    c->bad = NULL;
    c->n = c->ninvalid = c->ndup = 0;
}
