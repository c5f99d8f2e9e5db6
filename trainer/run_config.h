/* A training run's configuration, kept as a JSON file with kohya sd-scripts' key names
 * (docs/run_config.md), by default DIR/.tagbench/run.json beside the dataset's journal.
 *
 * This covers the caption pipeline's keys and a few dataset keys. Every other key is kept as it
 * was written (its value's text untouched, in file order) and written back after ours, so that
 * keys of a later version, or a whole kohya_ss GUI config, survive a load and a save; the caller
 * can say how many were kept but are not used yet. A save is atomic and refuses to overwrite a
 * file that changed on disk since it was loaded. */
#ifndef TRAINER_RUN_CONFIG_H
#define TRAINER_RUN_CONFIG_H
#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/error.h"
#include "tagger/pipeline.h"

/* Strings are malloc'd and owned by the config (NULL: unset, written as null); change them with
 * run_config_string_set or run_config_pipeline_set. */
typedef struct run_config {
    /* dataset */
    char *train_data_dir;         /* NULL */
    char *caption_extension;      /* ".caption" (kohya's default; the kohya_ss GUI's is ".txt") */
    char *resolution;             /* NULL; "512" or "512,768", kept as written */
    bool has_seed;                /* false: kohya picks a random seed */
    uint32_t seed;                /* kohya (numpy) takes seeds in [0, 2^32 - 1] */
    /* caption pipeline, as in pipeline_opts and with its defaults */
    int keep_tokens;
    char *keep_tokens_separator;  /* "" */
    char *caption_separator;      /* "," */
    char *secondary_separator;    /* NULL */
    bool shuffle_caption;
    double caption_tag_dropout_rate;
    double caption_dropout_rate;
    int caption_dropout_every_n_epochs;
    char *caption_prefix;         /* NULL */
    char *caption_suffix;         /* NULL */
    bool enable_wildcard;
    int token_warmup_min;         /* 1 */
    double token_warmup_step;     /* 0 */

    /* Keys this version does not use, in file order, each value a cJSON raw item holding the
     * value's text exactly as it was in the file. Add or remove through cJSON if need be. */
    cJSON *unknown;

    /* The file this config was loaded from, as it was then: a save to that path checks that it
     * is unchanged. NULL path: not loaded from a file (then a save never overwrites a file). */
    char *loaded_path;
    char *disk_text;  /* NULL: the file did not exist */
    size_t disk_len;
} run_config;

/* kohya's defaults, no unknown keys. 0, or -1 (out of memory) with err set. */
int run_config_init(run_config *c, tg_error *err);
void run_config_free(run_config *c);

/* Reads path into c (initialised here). A missing file gives the defaults, not an error. Bad JSON
 * is an error naming the file and the line and column; a known key of the wrong type or out of
 * range, one naming the key and the reason, e.g.
 *   "DIR/.tagbench/run.json: caption_dropout_rate: must be a number in [0, 1], got 1.5".
 * Numbers written as strings ("keep_tokens": "0", as the kohya_ss GUI writes some) are accepted.
 * On error c holds the defaults (safe to free). */
int run_config_load(const char *path, run_config *c, tg_error *err);

/* Validates c, then writes it to path: known keys in a fixed order, then the unknown ones as
 * they were, pretty-printed. Atomic (a temporary file in the same folder, fsync, rename, fsync of
 * the folder); creates the parent folder (one level: DIR/.tagbench/) if missing. Refuses to
 * overwrite a file that changed on disk since c was loaded from it, or any existing file c was
 * not loaded from. Afterwards c counts as loaded from path. */
int run_config_save(const char *path, run_config *c, tg_error *err);

/* Range checks of every known key; the message names the key ("keep_tokens: must be ..."). */
int run_config_validate(const run_config *c, tg_error *err);

/* The caption options as pipeline_opts; its strings point into c (valid until c changes). */
void run_config_pipeline(const run_config *c, pipeline_opts *o);
/* Sets the caption options from o (copying its strings); refused, c unchanged, when o does not
 * pass pipeline_opts_validate or memory runs out. */
int run_config_pipeline_set(run_config *c, const pipeline_opts *o, tg_error *err);

/* *field = a copy of value (NULL unsets); -1 when out of memory (the field is then unchanged). */
int run_config_string_set(char **field, const char *value);

/* Number of keys kept but not used, and the i-th one's name. */
size_t run_config_unknown_count(const run_config *c);
const char *run_config_unknown_key(const run_config *c, size_t i);

/* DIR/.tagbench/run.json for the dataset folder DIR; malloc'd (NULL when out of memory). */
char *run_config_default_path(const char *dataset_dir);

#endif
