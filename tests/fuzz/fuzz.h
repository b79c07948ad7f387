/* fuzz.h - helpers shared by the libFuzzer targets in tests/fuzz/: an
 * invariant check that aborts (libFuzzer reports it as a crash and keeps the
 * input), a NUL-terminated copy of the input, and an in-memory file (memfd)
 * for the lib functions that only read a path.  Nothing here touches the
 * disk or the network. */
#ifndef GUARDLIST_FUZZ_H
#define GUARDLIST_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_CHECK(cond)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                       \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* A malloc'd copy of DATA with a NUL after it (the caller frees).  C
 * strings end at the first NUL, as they do for every caller of lib/. */
static inline char *fuzz_cstr(const uint8_t *data, size_t len)
{
    char *s = malloc(len + 1);

    FUZZ_CHECK(s != NULL);
    if (len)
        memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

/* 1 if [S, S+SIZE) holds a NUL: a string kept in a fixed buffer ends in it. */
static inline int fuzz_terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

/* An anonymous in-memory file holding DATA, with MODE, named in PATH
 * ("/proc/self/fd/N", 32 bytes).  Returns the fd (the caller closes it). */
static inline int fuzz_memfile(const void *data, size_t len, unsigned mode, char path[32])
{
    int fd = memfd_create("guardlist-fuzz", MFD_CLOEXEC);
    size_t off = 0;

    FUZZ_CHECK(fd >= 0);
    while (off < len) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        FUZZ_CHECK(n > 0);
        off += (size_t)n;
    }
    FUZZ_CHECK(fchmod(fd, mode) == 0);
    snprintf(path, 32, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
