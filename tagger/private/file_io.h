/* Small file helpers shared by the reader, the saver and the journal. */
#ifndef TAGGER_PRIVATE_FILE_IO_H
#define TAGGER_PRIVATE_FILE_IO_H
#include <stddef.h>

/* Caption files larger than this are refused: no caption is a megabyte long, and a huge file
 * here is almost always a mistake (a log or an image renamed .txt). */
#define CAPTION_MAX_BYTES ((size_t)1 << 20)

/* A journal holds whole captions for every edited image: allow it far more. */
#define JOURNAL_MAX_BYTES ((size_t)1 << 31)

/* Reads the regular file `name` relative to dirfd (AT_FDCWD for a path), at most `limit` bytes,
 * into a malloc'd, NUL-terminated buffer. On failure writes a one-line reason (no file name) and
 * returns -1. */
int file_read_at(int dirfd, const char *name, size_t limit, char **out, size_t *len, char *reason,
                 size_t rsize);
struct stat;
/* file_read_at that also gives the file's stat (mode, size) from the same open. */
int file_read_stat(int dirfd, const char *name, size_t limit, char **out, size_t *len,
                   struct stat *st, char *reason, size_t rsize);
/* Writes all of buf to fd, retrying short writes; -1 with errno set on failure. */
int file_write_all(int fd, const char *buf, size_t len);

#endif
