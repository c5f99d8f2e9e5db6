#include "tagger/private/file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads the `size` bytes fstat reported. A file that grows meanwhile is read as it was when we
 * looked; the content hash catches any change before a save overwrites it. */
static int read_fd(int fd, size_t size, char **out, size_t *len)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return -1;
    size_t got = 0;
    while (got < size) {
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

/* O_NOATIME spares the disk an inode write per caption read (a third of open's time on 100k
 * captions); the kernel allows it only to the file's owner, so fall back without it. */
static int open_read(int dirfd, const char *name)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    int fd = openat(dirfd, name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, flags);
    return fd;
}

int file_read_at(int dirfd, const char *name, size_t limit, char **out, size_t *len, char *reason,
                 size_t rsize)
{
    return file_read_stat(dirfd, name, limit, out, len, NULL, reason, rsize);
}

int file_read_stat(int dirfd, const char *name, size_t limit, char **out, size_t *len,
                   struct stat *st_out, char *reason, size_t rsize)
{
    int fd = open_read(dirfd, name);
    if (fd < 0) {
        int e = errno; /* callers tell a missing file from others by errno */
        snprintf(reason, rsize, "cannot open: %s", strerror(e));
        errno = e;
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
    if (rc == 0 && st_out)
        *st_out = st;
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
