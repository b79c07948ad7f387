/* tcpbind.h - a TCP socket bound to inet:HOST:PORT, for a listener. */
#ifndef GUARDLIST_TCPBIND_H
#define GUARDLIST_TCPBIND_H

#include <stddef.h>

/* Binds a non-blocking, close-on-exec TCP socket (SO_REUSEADDR) to SPEC,
 * "inet:HOST:PORT" (HOST may be [v6]; config.c checked the shape).  Not yet
 * listening.  Returns the fd, or -1 with ERR. */
int tcpbind_open(const char *spec, char *err, size_t errlen);

#endif
