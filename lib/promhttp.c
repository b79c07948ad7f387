/*
 * promhttp - the /metrics listener: GET /metrics answered in the
 * Prometheus text format through libmicrohttpd, on one thread of its own.
 *
 * Callers: guardlistd and guardlist-notify, when metrics_listen is set.
 * Never on the policy port: its own socket, its own thread, so a scrape or
 * a hostile client never waits in (or holds up) an event loop.  Bounded:
 * PROMHTTP_MAX_CONNS connections, 4 per address, a request (line and
 * headers) of PROMHTTP_MAX_REQUEST bytes (past it libmicrohttpd answers
 * 431 and closes), an idle timeout; anything but GET or HEAD is 405, any
 * other path 404.  Nothing of the request is logged or kept.
 *
 * libmicrohttpd is loaded (dlopen) only when a listener starts: linked,
 * it brings GnuTLS and p11-kit into every guardlistd, about 2.3 MB of
 * resident memory, metrics on or off.
 */
#include "promhttp.h"
#include "tcpbind.h"

#include <dlfcn.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MHD_LIBRARY "libmicrohttpd.so.12"    /* Debian 12's libmicrohttpd12 */

struct promhttp {
    struct MHD_Daemon *mhd;
    promhttp_render_fn *render;
};

/* The functions used, from the library once loaded (load_mhd). */
static struct {
    struct MHD_Daemon *(*start_daemon)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
                                       MHD_AccessHandlerCallback, void *, ...);
    void (*stop_daemon)(struct MHD_Daemon *);
    struct MHD_Response *(*create_response_from_buffer)(size_t, void *, enum MHD_ResponseMemoryMode);
    enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *, const char *);
    enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
    void (*destroy_response)(struct MHD_Response *);
} mhd;
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;
static char mhd_error[200];             /* why it could not be loaded; "" when loaded */

static void *mhd_symbol(void *lib, const char *name)
{
    void *f = dlsym(lib, name);

    if (!f && !mhd_error[0])
        snprintf(mhd_error, sizeof(mhd_error), "%s has no %s", MHD_LIBRARY, name);
    return f;
}

static void load_mhd_once(void)
{
    void *lib = dlopen(MHD_LIBRARY, RTLD_NOW | RTLD_LOCAL);

    if (!lib) {
        const char *why = dlerror();
        snprintf(mhd_error, sizeof(mhd_error), "cannot load %s: %s", MHD_LIBRARY, why ? why : "?");
        return;
    }
    *(void **)&mhd.start_daemon = mhd_symbol(lib, "MHD_start_daemon");
    *(void **)&mhd.stop_daemon = mhd_symbol(lib, "MHD_stop_daemon");
    *(void **)&mhd.create_response_from_buffer = mhd_symbol(lib, "MHD_create_response_from_buffer");
    *(void **)&mhd.add_response_header = mhd_symbol(lib, "MHD_add_response_header");
    *(void **)&mhd.queue_response = mhd_symbol(lib, "MHD_queue_response");
    *(void **)&mhd.destroy_response = mhd_symbol(lib, "MHD_destroy_response");
}

/* Loads libmicrohttpd the first time; 0, or -1 with ERR set. */
static int load_mhd(char *err, size_t errlen)
{
    pthread_once(&mhd_once, load_mhd_once);
    if (mhd_error[0]) {
        snprintf(err, errlen, "%s", mhd_error);
        return -1;
    }
    return 0;
}

int promhttp_bind(const char *spec, char *err, size_t errlen)
{
    int fd = tcpbind_open(spec, err, errlen);

    if (fd >= 0 && listen(fd, 64) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status, const char *text,
                                  const char *allow)
{
    struct MHD_Response *r = mhd.create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);

    if (!r)
        return MHD_NO;
    mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow)
        mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result rc = mhd.queue_response(conn, status, r);
    mhd.destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state)
{
    struct promhttp *h = cls;
    struct buf page = { 0 };

    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n", "GET, HEAD");
    if (strcmp(url, "/metrics") != 0)
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", NULL);
    h->render(&page);
    if (page.oom || !page.p) {
        buf_free(&page);
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
    }
    struct MHD_Response *r = mhd.create_response_from_buffer(page.len, page.p, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        buf_free(&page);
        return MHD_NO;
    }
    mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result rc = mhd.queue_response(conn, MHD_HTTP_OK, r);
    mhd.destroy_response(r);
    return rc;
}

struct promhttp *promhttp_start(int fd, promhttp_render_fn *render, char *err, size_t errlen)
{
    if (load_mhd(err, errlen) < 0) {
        close(fd);
        return NULL;
    }
    struct promhttp *h = calloc(1, sizeof(*h));

    if (!h) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        return NULL;
    }
    h->render = render;
    /* Its thread takes no signal: they stay the program's main thread's. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    h->mhd = mhd.start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, h,
                              MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned int)PROMHTTP_MAX_CONNS,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, 4u,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)PROMHTTP_TIMEOUT,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PROMHTTP_MAX_REQUEST,
                              MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!h->mhd) {
        snprintf(err, errlen, "cannot start the metrics listener (libmicrohttpd): %s", strerror(errno));
        close(fd);
        free(h);
        return NULL;
    }
    return h;
}

void promhttp_stop(struct promhttp *h)
{
    if (!h)
        return;
    mhd.stop_daemon(h->mhd);    /* closes the listen socket it was given too */
    free(h);
}
