/* listener.h - guardlistd's listening socket: inet:HOST:PORT or unix:PATH. */
#ifndef GUARDLISTD_LISTENER_H
#define GUARDLISTD_LISTENER_H

#include <stddef.h>
#include <sys/types.h>

/* Opens the non-blocking listen socket of SPEC ([policy] listen).  A unix
 * socket is created with MODE and given to OWNER:GROUP (-1 keeps that id); a
 * socket file left by a crashed run is replaced, anything else at the path is
 * refused.  Returns the fd, or -1 with ERR. */
int listener_open(const char *spec, uid_t owner, gid_t group, mode_t mode, char *err, size_t errlen);

/* Closes FD (from listener_open) and removes the unix socket file, if the
 * directory still lets us. */
void listener_close(int fd);

#endif
