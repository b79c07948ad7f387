/* envelope.h - the envelope forms of one sender: BATV tags removed, SRS
 * addresses of trusted forwarders decoded to the sender they stand for. */
#ifndef GUARDLIST_ENVELOPE_H
#define GUARDLIST_ENVELOPE_H

#include <stddef.h>
#include "addr.h"

/* What envelope_unwrap() undid (bits). */
#define ENVELOPE_BATV 1         /* a BATV tag (prvs=, msprvs1=, btv1==) */
#define ENVELOPE_SRS 2          /* an SRS0/SRS1 rewrite, decoded */
#define ENVELOPE_SRS_UNTRUSTED 4 /* an SRS address from a client not trusted: kept as it is */

/* LOCAL is a folded local part.  If it carries a BATV tag, writes the local
 * part without it to OUT and returns 1; else returns 0 (OUT untouched).
 * Forms: prvs=TAG=user (the draft), prvs=user=TAG (older), msprvs1=TAG=user
 * (SparkPost), btv1==TAG==user (Barracuda).  prvs TAG: [K]DDDSSSSSS, an
 * optional key digit, three day digits and six hex digits; a field that
 * does not look like one is not a tag, and nothing is removed. */
int envelope_strip_batv(const char *local, char *out, size_t outlen);

/* LOCAL is a folded local part.  If it is an SRS address (SRS0=HHH=TT=
 * domain=user, SRS1=HHH=fwd==HHH=TT=domain=user, or Exchange Online's
 * box+SRS=HHH=TT=domain=user), writes the original user and domain to
 * OLOCAL and ODOMAIN and returns 1; else returns 0.  Nothing is verified:
 * the hash belongs to the forwarder, whose word is what trusting it means. */
int envelope_decode_srs(const char *local, char *olocal, size_t olocal_len, char *odomain, size_t odomain_len);

/* Turns the parsed envelope sender A into the sender it stands for: SRS
 * decoded only when TRUSTED (the client is a trusted forwarder), BATV tags
 * removed always (they only ever hide the same address).  DELIMS as for
 * addr_parse().  Returns the ENVELOPE_ bits of what was undone or seen; A
 * is unchanged when nothing was undone.  Never fails: a form that does not
 * decode to a valid address is left as it is. */
int envelope_unwrap(struct addr *a, int trusted, const char *delims);

#endif
