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
    K_CHOICE,     /* one of the key's choices (a string field) */
    K_SEED,       /* an integer in [0, 2^32 - 1], or null */
    K_INT,        /* an integer in [lo, hi] (int field) */
    K_NUMBER,     /* a number in [lo, hi], ends open with F_LO_OPEN / F_HI_OPEN (double field) */
    K_WARMUP,     /* an integer >= 0, or a fraction in [0, 1) (double field) */
    K_BOOL,
    K_OPTARGS,    /* optimizer_args: no field of its own, sets weight_decay and the betas */
} key_kind;

enum {
    F_LO_OPEN = 1,  /* x > lo */
    F_HI_OPEN = 2,  /* x < hi */
    F_BLANK = 4,    /* null or "" (the kohya_ss GUI's "unset") read as the default */
    F_NULL = 8,     /* a choice may be null */
    F_NOCASE = 16,  /* a choice is compared without case, and stored as the table spells it */
    F_LATER = 32,   /* a choice not in the list is "not supported yet" rather than invalid */
    F_NOSAVE = 64,  /* read, but saved through another key (optimizer_args) */
};

typedef struct key_def {
    const char *name;
    key_kind kind;
    size_t off;          /* of the field in run_config */
    const char *section; /* of the saved file and the docs */
    double lo, hi;       /* K_INT, K_NUMBER */
    unsigned flags;
    double def;          /* the default of a number or bool field */
    const char *sdef;    /* the default of a string field */
    const char *const *choices; /* K_CHOICE: NULL-terminated */
    const char *const *later;   /* K_CHOICE: kohya's values that tagbench does not do yet */
} key_def;

/* The known keys, in the order they are written. */
extern const key_def config_keys[];
extern const size_t config_n_keys;

static inline bool kind_is_string(key_kind k)
{
    return k == K_STRING || k == K_SEPARATOR || k == K_EXTENSION || k == K_RESOLUTION ||
           k == K_CHOICE;
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

/* Whether a value fits the key (s may be NULL: null). */
bool config_string_ok(const key_def *k, const char *s);
bool config_number_ok(const key_def *k, double x);
/* The choice of k that s names (F_NOCASE: whatever the case), or NULL. */
const char *config_choice(const key_def *k, const char *s);
/* Whether s is one of kohya's values that tagbench does not do yet (any value with F_LATER). */
bool config_choice_later(const key_def *k, const char *s);

/* Sets err to "PATH: KEY: must be ..., got GOT" (no "PATH: " when path is NULL); returns -1. */
int config_key_error(tg_error *err, const char *path, const key_def *k, const char *got);
/* Sets err to "PATH: NAME: " + the formatted reason; returns -1. */
int config_key_fail(tg_error *err, const char *path, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "512" -> 512x512, "512,768" -> 512x768; false when s is not a resolution. */
bool config_resolution_parse(const char *s, int *w, int *h);

/* Parses kohya's optimizer_args ("weight_decay=0.01 betas=0.9,0.999 eps=1e-8"), one string or an
 * array of them, into vals (weight_decay, beta1, beta2, eps), setting given[i] for each one
 * present; 1 with why set when it cannot. */
int config_optargs_parse(const cJSON *v, double vals[4], bool given[4], char *why, size_t wsize);
/* The fields optimizer_args sets, in the order of vals above. */
extern const char *const config_optarg_keys[4];

/* The kohya_ss GUI's names for kohya keys (read when the kohya key is absent or unset) */
typedef struct config_alias {
    const char *gui, *key;
    double scale; /* the GUI value times this (lr_warmup is a percentage) */
} config_alias;
extern const config_alias config_aliases[];
extern const size_t config_n_aliases;

/* The known-and-ignored key called name: 0 when it is not one, else 1 with *why set, and *accept
 * set to NULL (any value), "" (only false, 0, "" or null) or the one other value allowed. */
int config_ignored_find(const char *name, const char **why, const char **accept);

/* The file's bytes, NUL-terminated; NULL with errno set (ENOENT: no file) or with *why. */
char *config_file_slurp(const char *path, size_t *len, char *why, size_t wsize);

#endif
