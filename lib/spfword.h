/* spfword.h - what a challenge's SPF result (challenges.spf_result) means,
 * in words a guardian understands: for the email, the approval page, the
 * admin page and the CLI, so all four say the same. */
#ifndef GUARDLIST_SPFWORD_H
#define GUARDLIST_SPFWORD_H

#include <stddef.h>

#define SPFWORD_MAX 800         /* a sentence: fits two 255-byte domains and the words */

/* "verified" for 'pass'; "not checked" for NULL or "" (SPF off, a trusted
 * forwarder, a row from before schema 7); "not verified" for anything
 * else ('none', 'neutral', and any other value: only a pass is called
 * verified). */
const char *spfword_of(const char *spf_result);

/* One sentence about SENDER's domain for SPF_RESULT, starting with the word
 * ("Verified: example.com allows the server this email came from to send its mail.")
 * into OUT.  Returns 0, or -1 if OUTLEN is too small (OUT is then "").  */
int spfword_sentence(const char *spf_result, const char *sender, char *out, size_t outlen);

#endif
