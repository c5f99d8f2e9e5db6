/* Atomic whole-file writes and folder creation (file_atomic.h). */
#include "trainer/file_atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w, len -= (size_t)w;
    }
    return 0;
}

/* Syncs the folder holding path, so that the rename itself survives a crash. */
static void dir_sync(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int file_write_atomic(const char *path, const void *data, size_t len, tg_error *err)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return error_set(err, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp), rc = 0;
    if (fd < 0) {
        rc = error_set(err, "%s: creating a temporary file beside it: %s", path, strerror(errno));
    } else {
        if (write_all(fd, data, len) < 0 || fsync(fd) < 0)
            rc = error_set(err, "%s: cannot write: %s", path, strerror(errno));
        if (close(fd) < 0 && rc == 0)
            rc = error_set(err, "%s: cannot write: %s", path, strerror(errno));
        if (rc == 0 && chmod(tmp, 0644) < 0)
            rc = error_set(err, "%s: %s", tmp, strerror(errno));
        if (rc == 0 && rename(tmp, path) < 0)
            rc = error_set(err, "%s: cannot rename the temporary file over it: %s", path, strerror(errno));
        if (rc < 0)
            unlink(tmp);
        else
            dir_sync(path);
    }
    free(tmp);
    return rc;
}

int dir_make_all(const char *path, tg_error *err)
{
    char *p = strdup(path);
    if (!p)
        return error_set(err, "%s: out of memory", path);
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        bool end = *s == 0;
        if (*s != '/' && !end)
            continue;
        *s = 0;
        struct stat st;
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            rc = error_set(err, "%s: cannot make the folder: %s", p, strerror(errno));
        else if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
            rc = error_set(err, "%s: exists and is not a folder", p);
        if (end)
            break;
        *s = '/';
    }
    free(p);
    return rc;
}
