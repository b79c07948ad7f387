/* loginwarn.h - one warning a SASL login that is no protected child while
 * its mail claims a child's address (lib/outbound.c, d->login_unmapped). */
#ifndef GUARDLISTD_LOGINWARN_H
#define GUARDLISTD_LOGINWARN_H

#define LOGINWARN_SLOTS 512     /* logins remembered; a new one past it forgets the oldest */

/* 1 the first time LOGIN is seen (or again once LOGINWARN_SLOTS others came
 * after it), else 0.  Thread-safe; fixed memory. */
int loginwarn_first(const char *login);

#endif
