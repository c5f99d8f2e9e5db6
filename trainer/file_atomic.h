/* Writing a whole file so that it is either absent, the old one, or complete: a temporary file in
 * the same folder, written, synced, renamed over the name, then the folder synced. */
#ifndef TRAINER_FILE_ATOMIC_H
#define TRAINER_FILE_ATOMIC_H
#include <stddef.h>

#include "tagger/error.h"

/* 0, or -1 with err naming path and the reason (the temporary file is removed). */
int file_write_atomic(const char *path, const void *data, size_t len, tg_error *err);

/* mkdir -p for path's folders and path itself (mode 0755). 0, or -1 with err naming the folder. */
int dir_make_all(const char *path, tg_error *err);

#endif
