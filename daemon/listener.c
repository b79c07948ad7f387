/*
 * listener - opens and closes guardlistd's listen socket (inet:HOST:PORT or
 * unix:PATH) for main(), while it may still be root.
 *
 * A unix socket is born with its final mode and owner, so there is no moment
 * where it is wider open.  It never removes anything at the path but a dead
 * socket file: a regular file is refused, and so is a socket that a live
 * server still accepts on.
 */
#include "listener.h"
#include "tcpbind.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* A socket file left at PATH: 1 if a server still accepts on it. */
static int unix_socket_live(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), live;

    if (fd < 0)
        return 0;
    live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
    close(fd);
    return live;
}

/* Binds the unix socket at PATH (unix:PATH without the prefix). */
static int open_unix(const char *path, uid_t owner, gid_t group, mode_t mode, char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    mode_t old_umask;
    int fd, rc;
    size_t plen = strlen(path);

    if (plen >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "unix socket path too long");
        return -1;
    }
    memcpy(sa.sun_path, path, plen + 1);
    if (lstat(sa.sun_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket (remove it, or choose another listen path)",
                     sa.sun_path);
            return -1;
        }
        if (unix_socket_live(&sa)) {
            snprintf(err, errlen, "cannot bind %s: another process accepts connections on it", sa.sun_path);
            return -1;
        }
        unlink(sa.sun_path);    /* stale, from a run that did not remove it */
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    /* Created with its final mode: no moment where it is wider open. */
    old_umask = umask(~mode & 0777);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old_umask);
    if (rc < 0) {
        snprintf(err, errlen, "cannot bind %s: %s", sa.sun_path, strerror(errno));
        close(fd);
        return -1;
    }
    memcpy(unix_path, sa.sun_path, sizeof(unix_path));
    if ((owner != (uid_t)-1 || group != (gid_t)-1) && lchown(sa.sun_path, owner, group) < 0) {
        snprintf(err, errlen, "cannot give %s to uid %ld gid %ld: %s", sa.sun_path, (long)owner,
                 (long)group, strerror(errno));
        close(fd);
        unlink(sa.sun_path);
        unix_path[0] = '\0';
        return -1;
    }
    return fd;
}

int listener_open(const char *spec, uid_t owner, gid_t group, mode_t mode, char *err, size_t errlen)
{
    int fd = strncmp(spec, "unix:", 5) == 0 ? open_unix(spec + 5, owner, group, mode, err, errlen)
                                            : tcpbind_open(spec, err, errlen);

    if (fd < 0)
        return -1;
    if (listen(fd, 1024) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void listener_close(int fd)
{
    close(fd);
    /* After the drop the directory (Postfix's private/) may not be ours to
     * change: the file then stays, and the next start replaces it. */
    if (unix_path[0] && unlink(unix_path) < 0)
        log_debug("cannot remove %s: %s (replaced at the next start)", unix_path, strerror(errno));
}
