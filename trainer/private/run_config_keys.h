/* What run_config.c, run_config_load.c and run_config_save.c share: the table of known keys
 * (each step walks it, so a key is described once), the checks a value must pass both when it
 * is loaded and when it is validated, and the file reader (load reads the file; save reads it
 * again to see whether it changed on disk). */
#ifndef TRAINER_PRIVATE_RUN_CONFIG_KEYS_H
#define TRAINER_PRIVATE_RUN_CONFIG_KEYS_H
#include <stdbool.h>
#include <stddef.h>

#include "trainer/run_config.h"

typedef enum key_kind {
    K_STRING,     /* a string or null */
    K_SEPARATOR,  /* a non-empty string */
    K_EXTENSION,  /* a string without '/' */
    K_RESOLUTION, /* "SIZE" or "WIDTH,HEIGHT", or null */
    K_SEED,       /* an integer in [0, 2^32 - 1], or null */
    K_COUNT,      /* an integer >= 0 */
    K_RATE,       /* a number in [0, 1] */
    K_STEPS,      /* a finite number >= 0 */
    K_BOOL,
} key_kind;

typedef struct key_def {
    const char *name;
    key_kind kind;
    size_t off; /* of the field in run_config */
} key_def;

/* The known keys, in the order they are written. */
extern const key_def config_keys[];
extern const size_t config_n_keys;

static inline bool kind_is_string(key_kind k)
{
    return k == K_STRING || k == K_SEPARATOR || k == K_EXTENSION || k == K_RESOLUTION;
}

static inline char **field_str(run_config *c, const key_def *k)
{
    return (char **)((char *)c + k->off);
}

static inline const void *field_of(const run_config *c, const key_def *k)
{
    return (const char *)c + k->off;
}

/* The known key called name; NULL when it is not one. */
const key_def *config_key_find(const char *name);

/* Whether a value fits a key of this kind (s may be NULL: null). */
bool config_string_ok(key_kind kind, const char *s);
bool config_number_ok(key_kind kind, double x);

/* Sets err to "PATH: KEY: must be ..., got GOT" (no "PATH: " when path is NULL); returns -1. */
int config_key_error(tg_error *err, const char *path, const key_def *k, const char *got);

/* The file's bytes, NUL-terminated; NULL with errno set (ENOENT: no file) or with *why. */
char *config_file_slurp(const char *path, size_t *len, char *why, size_t wsize);

#endif
