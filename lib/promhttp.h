/* promhttp.h - the /metrics HTTP listener of guardlistd and guardlist-notify
 * (libmicrohttpd, one thread, bounded). */
#ifndef GUARDLIST_PROMHTTP_H
#define GUARDLIST_PROMHTTP_H

#include <stddef.h>

#include "buf.h"

/* Writes the whole page (Prometheus text format) into OUT; called on the
 * listener's thread, one scrape at a time. */
typedef void promhttp_render_fn(struct buf *out);

/* Binds and listens on SPEC (inet:HOST:PORT): before the privilege drop
 * and before any fork.  Returns the fd, or -1 with ERR. */
int promhttp_bind(const char *spec, char *err, size_t errlen);

/* Serves GET /metrics on FD (from promhttp_bind; ownership passes) with
 * RENDER, on one thread of its own: start it after the fork and the
 * privilege drop, with the signals blocked that the thread must not take.
 * At most PROMHTTP_MAX_CONNS connections (4 per client address), requests
 * of at most PROMHTTP_MAX_REQUEST bytes, PROMHTTP_TIMEOUT seconds idle.
 * Returns NULL with ERR on failure (FD closed). */
#define PROMHTTP_MAX_CONNS 16
#define PROMHTTP_MAX_REQUEST 8192
#define PROMHTTP_TIMEOUT 10
struct promhttp;
struct promhttp *promhttp_start(int fd, promhttp_render_fn *render, char *err, size_t errlen);

/* Stops the thread, closes the connections and the socket.  NULL is fine. */
void promhttp_stop(struct promhttp *h);

#endif
