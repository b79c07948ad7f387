/* contactaddr.h - whether an address as written can be a child's contact:
 * the address a child writes to (lib/outbound.c) and an address-book entry
 * (lib/contactplan.c).  Shared by guardlistd, the CLI and the web admin. */
#ifndef GUARDLIST_CONTACTADDR_H
#define GUARDLIST_CONTACTADDR_H

#include <stddef.h>

enum contactaddr_verdict {
    CA_OK,
    CA_UNUSABLE,        /* addr_parse() refuses it, or it has no domain */
    CA_ROUTED,          /* '%', '!' or '@' in the local part, or an address literal */
    CA_FORMAT_CHAR,     /* a Unicode format character (Cf): bidi controls, zero-width */
    CA_FOLD_CROSSES     /* the domain's case folding names another domain (ß, ẞ, ς) */
};

/* Checks RAW, an address as the child or the address book wrote it.
 * Returns CA_OK, or another verdict with ERR saying why in words for a
 * person.  CA_FOLD_CROSSES: the IDNA A-label (UTS #46, non-transitional,
 * as Postfix delivers) of the raw domain differs from that of the folded
 * domain every rule is looked up by, so an approved "strasse.de" would let
 * mail go to "straße.de" (xn--strae-oqa.de).  No I/O. */
enum contactaddr_verdict contactaddr_check(const char *raw, char *err, size_t errlen);

/* The A-label form of the domain DOM (LEN bytes, no trailing dot) into OUT,
 * ASCII lower case: UTS #46 non-transitional (libidn2) for a U-label, an
 * ASCII one as it is.  Returns 0, or -1 if IDNA refuses it or it does not
 * fit.  Also used by guardlistd's spf_domain(). */
int contactaddr_a_label(const char *dom, size_t len, char *out, size_t outlen);

#endif
