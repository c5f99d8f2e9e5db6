/* A training run's configuration, kept as a JSON file with kohya sd-scripts' key names
 * (docs/run_config.md), by default DIR/.tagbench/run.json beside the dataset's journal.
 *
 * This covers the training keys of sd-scripts' train_network.py that tagbench implements (dataset,
 * captions, network, optimizer, schedule, steps, diffusion, saving, sampling, misc). Every other
 * key is kept as it was written (its value's text untouched, in file order) and written back after
 * ours, so that keys of a later version, or a whole kohya_ss GUI config, survive a load and a save;
 * keys tagbench knows but ignores (cache_latents, xformers, ...) are told apart from unknown ones,
 * with the reason. A save is atomic and refuses to overwrite a file that changed on disk since it
 * was loaded. */
#ifndef TRAINER_RUN_CONFIG_H
#define TRAINER_RUN_CONFIG_H
#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/error.h"
#include "tagger/pipeline.h"

/* Strings are malloc'd and owned by the config (NULL: unset, written as null); change them with
 * run_config_string_set or run_config_pipeline_set. A choice (lr_scheduler, ...) is one of the
 * strings docs/run_config.md lists for its key. Defaults are sd-scripts' argparse defaults except
 * where docs/run_config.md says why a LoRA run wants another one (learning_rate, network_dim,
 * enable_bucket). The sections are those of the saved file. */
typedef struct run_config {
    /* dataset */
    char *train_data_dir;         /* NULL */
    char *caption_extension;      /* ".caption" (kohya's default; the kohya_ss GUI's is ".txt") */
    char *resolution;             /* NULL (the model's size); "512" or "512,768", kept as written */
    bool enable_bucket;           /* true (sd-scripts: false) */
    int min_bucket_reso;          /* 256 */
    int max_bucket_reso;          /* 1024 */
    int bucket_reso_steps;        /* 64 */
    bool bucket_no_upscale;
    bool flip_aug, color_aug, random_crop;
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
    /* network */
    char *pretrained_model_name_or_path; /* NULL; a built-in name ("tiny", "sd15") or a file */
    char *train_mode;             /* "lora" | "full" (tagbench's key, not kohya's) */
    int network_dim;              /* 8 (sd-scripts: 4) */
    double network_alpha;         /* 1, > 0 */
    double network_dropout;       /* 0: off */
    bool network_train_unet_only;
    /* optimizer */
    char *optimizer_type;         /* "AdamW" (the only one so far) */
    double learning_rate;         /* 1e-4 (sd-scripts: 2e-6, a fine-tune default) */
    double unet_lr;               /* 0: learning_rate */
    double text_encoder_lr;       /* 0: learning_rate */
    double weight_decay;          /* 0.01 \ written as optimizer_args */
    double adam_beta1;            /* 0.9   | "weight_decay=0.01 betas=0.9,0.999 eps=1e-08" */
    double adam_beta2;            /* 0.999 | (torch's AdamW defaults) */
    double adam_epsilon;          /* 1e-8  / */
    /* schedule */
    char *lr_scheduler;           /* "constant" */
    double lr_warmup_steps;       /* 0; >= 1: steps (an integer), < 1: a fraction of the steps */
    int lr_scheduler_num_cycles;  /* 1 */
    double lr_scheduler_power;    /* 1 */
    /* steps */
    int max_train_steps;          /* 1600 */
    int max_train_epochs;         /* 0: unset; > 0 overrides max_train_steps */
    int train_batch_size;         /* 1 */
    int gradient_accumulation_steps; /* 1 */
    double max_grad_norm;         /* 1; 0: no clipping */
    /* diffusion */
    double noise_offset;          /* 0: off */
    double min_snr_gamma;         /* 0: off */
    bool v_parameterization;
    /* saving */
    char *output_dir;             /* NULL: the run folder */
    char *output_name;            /* NULL: kohya's "last" / "epoch" / "at" names */
    int save_every_n_epochs;      /* 0: off */
    int save_every_n_steps;       /* 0: off */
    char *save_precision;         /* NULL (the weights' own, float) | "float" | "fp16" | "bf16" */
    bool save_state;
    char *resume;                 /* NULL; a state folder */
    /* sampling */
    int sample_every_n_steps;     /* 0: off */
    int sample_every_n_epochs;    /* 0: off; overrides sample_every_n_steps */
    char *sample_prompts;         /* NULL; a prompt file in kohya's syntax */
    char *sample_sampler;         /* "ddim" */
    /* misc */
    bool has_seed;                /* false: kohya picks a random seed */
    uint32_t seed;                /* kohya (numpy) takes seeds in [0, 2^32 - 1] */
    int clip_skip;                /* 1 */
    char *mixed_precision;        /* "no" | "fp16" | "bf16"; only "no" on the CPU */
    char *training_comment;       /* NULL */

    /* Keys this version does not read, in file order, each value a cJSON raw item holding the
     * value's text exactly as it was in the file: kohya or kohya_ss GUI keys tagbench knows and
     * ignores (run_config_key_ignored says why), and keys it does not know at all. Add or remove
     * through cJSON if need be. */
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

/* The text run_config_save writes (known keys in order, then the kept ones), malloc'd with its
 * length in *len; NULL when out of memory. */
char *run_config_text(const run_config *c, size_t *len);

/* Range checks of every known key, then the checks between keys (min_bucket_reso <= max_bucket_reso,
 * resolution a multiple of bucket_reso_steps with enable_bucket, max_train_steps or
 * max_train_epochs > 0, no warm-up with "constant", ...); the message names the key and the reason
 * ("keep_tokens: must be ..."). Load runs it too. */
int run_config_validate(const run_config *c, tg_error *err);

/* What a run needs on top of run_config_validate: a model and a dataset folder. */
int run_config_validate_run(const run_config *c, tg_error *err);

/* The optimizer_args text save writes for weight_decay and the betas ("weight_decay=0.01
 * betas=0.9,0.999 eps=1e-08"), into buf. */
void run_config_optimizer_args(const run_config *c, char *buf, size_t size);

/* The effective learning rates: unet_lr / text_encoder_lr, or learning_rate where they are 0. */
double run_config_unet_lr(const run_config *c);
double run_config_text_encoder_lr(const run_config *c);

/* Why tagbench ignores a kohya or kohya_ss GUI key it knows, e.g. "latents are cached always"
 * for "cache_latents", or "read as max_train_epochs when that is unset" for the GUI's "epoch";
 * NULL for a key it reads or does not know. */
const char *run_config_key_ignored(const char *key);
/* Of the kept keys (run_config_unknown_*): how many are known and ignored; the rest are unknown. */
size_t run_config_ignored_count(const run_config *c);
/* A line for the user, malloc'd: "3 keys ignored: cache_latents (latents are cached always),
 * xformers (...), ...; 1 unknown key kept as written: foo", "" when every key was read; NULL
 * when out of memory. */
char *run_config_ignored_text(const run_config *c);

/* The caption options as pipeline_opts; its strings point into c (valid until c changes). */
void run_config_pipeline(const run_config *c, pipeline_opts *o);
/* Sets the caption options from o (copying its strings); refused, c unchanged, when o does not
 * pass pipeline_opts_validate or memory runs out. */
int run_config_pipeline_set(run_config *c, const pipeline_opts *o, tg_error *err);

/* *field = a copy of value (NULL unsets); -1 when out of memory (the field is then unchanged). */
int run_config_string_set(char **field, const char *value);

/* Number of keys kept but not used (ignored or unknown), and the i-th one's name. */
size_t run_config_unknown_count(const run_config *c);
const char *run_config_unknown_key(const run_config *c, size_t i);

/* DIR/.tagbench/run.json for the dataset folder DIR; malloc'd (NULL when out of memory). */
char *run_config_default_path(const char *dataset_dir);

#endif
