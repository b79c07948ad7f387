/*
 * mail - one email of a guardlist-notify cycle, from its plan through its
 * text to the smarthost's answer.
 *
 * The cycle frees each with mail_free() when it is over.  The links' tokens
 * are secrets until the message is sent: they are wiped before their memory
 * is given back.
 */
#include "mail.h"

#include <stdlib.h>
#include <string.h>

void mail_free(struct mail *m)
{
    buf_free(&m->text);
    if (m->token)
        explicit_bzero(m->token, m->nitems * sizeof(*m->token));
    explicit_bzero(m->digest_token, sizeof(m->digest_token));
    free(m->token);
    free(m->token_hash);
    m->token = NULL;
    m->token_hash = NULL;
}
