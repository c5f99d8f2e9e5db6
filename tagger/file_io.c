#include "tagger/private/file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_fd(int fd, size_t size, char **out, size_t *len)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return -1;
    size_t got = 0;
    for (;;) {
        if (got == size) { /* the file grew while we read it: take what fits, then stop */
            char probe;
            ssize_t extra = read(fd, &probe, 1);
            if (extra <= 0)
                break;
            errno = EFBIG;
            free(buf);
            return -1;
        }
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

int file_read_at(int dirfd, const char *name, size_t limit, char **out, size_t *len, char *reason,
                 size_t rsize)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(reason, rsize, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) < 0)
        snprintf(reason, rsize, "cannot stat: %s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(reason, rsize, "not a regular file");
    else if ((size_t)st.st_size > limit)
        snprintf(reason, rsize, "%lld bytes is too large (the limit is %zu)",
                 (long long)st.st_size, limit);
    else if (read_fd(fd, (size_t)st.st_size, out, len) < 0)
        snprintf(reason, rsize, "cannot read: %s", strerror(errno));
    else
        rc = 0;
    close(fd);
    return rc;
}

int file_write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}
