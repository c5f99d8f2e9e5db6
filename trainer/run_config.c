/* The run configuration (run_config.h): the table of known keys and the checks their values must
 * pass, init and free, validate, the pipeline options, strings, unknown keys and the default
 * path. Load (run_config_load.c) and save (run_config_save.c) walk the same table
 * (trainer/private/run_config_keys.h), so a key is described once. */
#include "trainer/run_config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "trainer/private/run_config_keys.h"

#define SEED_MAX 4294967295.0
#define NOMAX ((double)INT_MAX)

/* ---- the known keys ---- */

static const char *const SCHEDULERS[] = {"constant", "constant_with_warmup", "linear", "cosine",
                                         "cosine_with_restarts", "polynomial", NULL};
static const char *const SCHEDULERS_LATER[] = {"inverse_sqrt", "cosine_with_min_lr",
                                               "warmup_stable_decay", "piecewise_constant",
                                               "adafactor", NULL};
/* AdamW8bit (the kohya_ss GUI's default) is AdamW with 8-bit optimizer state, a memory saving
 * only: the run trains it as AdamW with fp32 state and says so, rather than refusing most GUI
 * configs. */
static const char *const OPTIMIZERS[] = {"AdamW", "AdamW8bit", NULL};
/* sample_sampler: DDIM, Euler, Euler ancestral and DPM++ 2M under kohya's names and aliases */
static const char *const SAMPLERS[] = {"ddim", "euler", "euler_a", "k_euler", "k_euler_a",
                                       "dpmsolver++", NULL};
static const char *const SAMPLERS_LATER[] = {"pndm", "lms", "heun", "dpm_2", "dpm_2_a",
                                             "dpmsolver", "dpmsingle", "k_lms", "k_dpm_2",
                                             "k_dpm_2_a", NULL};
static const char *const PRECISIONS[] = {"no", "fp16", "bf16", NULL};
static const char *const SAVE_PRECISIONS[] = {"float", "fp16", "bf16", NULL};
static const char *const TRAIN_MODES[] = {"lora", "full", NULL};

#define F(field) #field, .off = offsetof(run_config, field)
#define STR(field, kind_, sec, dflt) {F(field), .kind = kind_, .section = sec, .sdef = dflt}
#define CHOICE(field, sec, dflt, list, fl, lat)                                                  \
    {F(field), .kind = K_CHOICE, .section = sec, .sdef = dflt, .choices = list, .flags = fl,    \
     .later = lat}
#define INT(field, sec, dflt, lo_, hi_, fl)                                                      \
    {F(field), .kind = K_INT, .section = sec, .def = dflt, .lo = lo_, .hi = hi_, .flags = fl}
#define NUM(field, sec, dflt, lo_, hi_, fl)                                                      \
    {F(field), .kind = K_NUMBER, .section = sec, .def = dflt, .lo = lo_, .hi = hi_, .flags = fl}
#define BOOL(field, sec, dflt) {F(field), .kind = K_BOOL, .section = sec, .def = dflt}

/* In the order they are written, section by section. */
const key_def config_keys[] = {
    STR(train_data_dir, K_STRING, "dataset", NULL),
    STR(caption_extension, K_EXTENSION, "dataset", ".caption"),
    STR(resolution, K_RESOLUTION, "dataset", NULL),
    BOOL(enable_bucket, "dataset", 1),
    INT(min_bucket_reso, "dataset", 256, 1, 100000, F_BLANK),
    INT(max_bucket_reso, "dataset", 1024, 1, 100000, F_BLANK),
    INT(bucket_reso_steps, "dataset", 64, 1, 4096, F_BLANK),
    BOOL(bucket_no_upscale, "dataset", 0),
    BOOL(flip_aug, "dataset", 0),
    BOOL(color_aug, "dataset", 0),
    BOOL(random_crop, "dataset", 0),

    BOOL(shuffle_caption, "captions", 0),
    INT(keep_tokens, "captions", 0, 0, NOMAX, 0),
    STR(keep_tokens_separator, K_STRING, "captions", ""),
    STR(caption_separator, K_SEPARATOR, "captions", ","),
    STR(secondary_separator, K_STRING, "captions", NULL),
    STR(caption_prefix, K_STRING, "captions", NULL),
    STR(caption_suffix, K_STRING, "captions", NULL),
    NUM(caption_tag_dropout_rate, "captions", 0, 0, 1, 0),
    NUM(caption_dropout_rate, "captions", 0, 0, 1, 0),
    INT(caption_dropout_every_n_epochs, "captions", 0, 0, NOMAX, 0),
    BOOL(enable_wildcard, "captions", 0),
    INT(token_warmup_min, "captions", 1, 0, NOMAX, 0),
    NUM(token_warmup_step, "captions", 0, 0, INFINITY, 0),

    STR(pretrained_model_name_or_path, K_STRING, "network", NULL),
    CHOICE(train_mode, "network", "lora", TRAIN_MODES, F_BLANK, NULL),
    INT(network_dim, "network", 8, 1, 4096, F_BLANK),
    NUM(network_alpha, "network", 1, 0, INFINITY, F_LO_OPEN | F_BLANK),
    NUM(network_dropout, "network", 0, 0, 1, F_HI_OPEN | F_BLANK),
    BOOL(network_train_unet_only, "network", 0),

    CHOICE(optimizer_type, "optimizer", "AdamW", OPTIMIZERS, F_BLANK | F_NOCASE | F_LATER, NULL),
    NUM(learning_rate, "optimizer", 1e-4, 0, INFINITY, F_LO_OPEN),
    NUM(unet_lr, "optimizer", 0, 0, INFINITY, F_BLANK),
    NUM(text_encoder_lr, "optimizer", 0, 0, INFINITY, F_BLANK),
    {"optimizer_args", .kind = K_OPTARGS, .section = "optimizer", .flags = F_BLANK},
    NUM(weight_decay, "optimizer", 0.01, 0, INFINITY, F_NOSAVE),
    NUM(adam_beta1, "optimizer", 0.9, 0, 1, F_HI_OPEN | F_NOSAVE),
    NUM(adam_beta2, "optimizer", 0.999, 0, 1, F_HI_OPEN | F_NOSAVE),
    NUM(adam_epsilon, "optimizer", 1e-8, 0, 1, F_LO_OPEN | F_NOSAVE),

    CHOICE(lr_scheduler, "schedule", "constant", SCHEDULERS, F_BLANK, SCHEDULERS_LATER),
    {F(lr_warmup_steps), .kind = K_WARMUP, .section = "schedule", .flags = F_BLANK},
    INT(lr_scheduler_num_cycles, "schedule", 1, 1, NOMAX, F_BLANK),
    NUM(lr_scheduler_power, "schedule", 1, 0, INFINITY, F_LO_OPEN | F_BLANK),

    INT(max_train_steps, "steps", 1600, 0, NOMAX, F_BLANK),
    INT(max_train_epochs, "steps", 0, 0, NOMAX, F_BLANK),
    INT(train_batch_size, "steps", 1, 1, 65536, 0),
    INT(gradient_accumulation_steps, "steps", 1, 1, 65536, 0),
    NUM(max_grad_norm, "steps", 1, 0, INFINITY, 0),

    NUM(noise_offset, "diffusion", 0, 0, 1, F_BLANK),
    NUM(min_snr_gamma, "diffusion", 0, 0, INFINITY, F_BLANK),
    BOOL(v_parameterization, "diffusion", 0),

    STR(output_dir, K_STRING, "saving", NULL),
    STR(output_name, K_STRING, "saving", NULL),
    INT(save_every_n_epochs, "saving", 0, 0, NOMAX, F_BLANK),
    INT(save_every_n_steps, "saving", 0, 0, NOMAX, F_BLANK),
    CHOICE(save_precision, "saving", NULL, SAVE_PRECISIONS, F_NULL | F_BLANK, NULL),
    BOOL(save_state, "saving", 0),
    STR(resume, K_STRING, "saving", NULL),

    INT(sample_every_n_steps, "sampling", 0, 0, NOMAX, F_BLANK),
    INT(sample_every_n_epochs, "sampling", 0, 0, NOMAX, F_BLANK),
    STR(sample_prompts, K_STRING, "sampling", NULL),
    CHOICE(sample_sampler, "sampling", "ddim", SAMPLERS, F_BLANK, SAMPLERS_LATER),

    {"seed", .kind = K_SEED, .off = offsetof(run_config, seed), .section = "misc"},
    INT(clip_skip, "misc", 1, 1, 12, F_BLANK),
    CHOICE(mixed_precision, "misc", "no", PRECISIONS, F_BLANK, NULL),
    STR(training_comment, K_STRING, "misc", NULL),
};
const size_t config_n_keys = sizeof config_keys / sizeof config_keys[0];

const char *const config_optarg_keys[4] = {"weight_decay", "adam_beta1", "adam_beta2",
                                           "adam_epsilon"};

const key_def *config_key_find(const char *name)
{
    for (size_t i = 0; i < config_n_keys; i++)
        if (strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    return NULL;
}

/* ---- value checks, shared by load and validate ---- */

bool config_resolution_parse(const char *s, int *w, int *h)
{
    long v[2];
    for (int part = 0; part < 2; part++) {
        char *end;
        while (*s == ' ')
            s++;
        if (*s < '0' || *s > '9')
            return false;
        errno = 0;
        v[part] = strtol(s, &end, 10);
        if (errno || v[part] <= 0 || v[part] > 1000000)
            return false;
        for (s = end; *s == ' ';)
            s++;
        if (*s == '\0') {
            *w = (int)v[0];
            *h = (int)v[part];
            return true;
        }
        if (*s++ != ',' || part == 1)
            return false;
    }
    return false;
}

const char *config_choice(const key_def *k, const char *s)
{
    for (const char *const *c = k->choices; s && c && *c; c++)
        if ((k->flags & F_NOCASE) ? strcasecmp(*c, s) == 0 : strcmp(*c, s) == 0)
            return *c;
    return NULL;
}

bool config_choice_later(const key_def *k, const char *s)
{
    if (!s || !*s)
        return false;
    if (k->flags & F_LATER)
        return true;
    for (const char *const *c = k->later; c && *c; c++)
        if (strcmp(*c, s) == 0)
            return true;
    return false;
}

bool config_string_ok(const key_def *k, const char *s)
{
    int w, h;
    switch (k->kind) {
    case K_SEPARATOR: return s && *s;
    case K_EXTENSION: return s && !strchr(s, '/');
    case K_RESOLUTION: return !s || config_resolution_parse(s, &w, &h);
    case K_CHOICE: return s ? config_choice(k, s) != NULL : (k->flags & F_NULL) != 0;
    default: return true;
    }
}

bool config_number_ok(const key_def *k, double x)
{
    switch (k->kind) {
    case K_SEED: return x >= 0 && x <= SEED_MAX && x == floor(x);
    case K_WARMUP: return x >= 0 && x <= NOMAX && (x < 1 || x == floor(x));
    case K_INT:
        if (x != floor(x))
            return false;
        /* fall through */
    case K_NUMBER:
        return isfinite(x) && ((k->flags & F_LO_OPEN) ? x > k->lo : x >= k->lo) &&
               ((k->flags & F_HI_OPEN) ? x < k->hi : x <= k->hi);
    default: return false;
    }
}

/* What a value of k must be, for the messages ("KEY: must be ..., got ..."). */
static void key_expect(const key_def *k, char *buf, size_t size)
{
    static const char *const fixed[] = {
        [K_STRING] = "a string or null",
        [K_SEPARATOR] = "a non-empty string",
        [K_EXTENSION] = "a string without '/' such as \".txt\"",
        [K_RESOLUTION] = "\"SIZE\" or \"WIDTH,HEIGHT\" with positive integers (e.g. \"512\" or "
                         "\"512,768\"), or null",
        [K_SEED] = "an integer in [0, 4294967295] or null",
        [K_WARMUP] = "an integer >= 0 (steps) or a fraction in [0, 1) of the training steps",
        [K_BOOL] = "true or false",
        [K_OPTARGS] = "a string such as \"weight_decay=0.01 betas=0.9,0.999\", or a list of "
                      "such strings",
    };
    const char *what = k->kind == K_INT ? "an integer" : "a number";
    size_t n = 0;
    switch (k->kind) {
    case K_CHOICE:
        n = (size_t)snprintf(buf, size, "one of");
        for (const char *const *c = k->choices; *c && n < size; c++)
            n += (size_t)snprintf(buf + n, size - n, "%s \"%s\"", c == k->choices ? "" : ",", *c);
        if ((k->flags & F_NULL) && n < size)
            snprintf(buf + n, size - n, " or null");
        break;
    case K_INT:
    case K_NUMBER:
        if (k->hi >= NOMAX)
            snprintf(buf, size, "%s %s %.9g", what, (k->flags & F_LO_OPEN) ? ">" : ">=", k->lo);
        else
            snprintf(buf, size, "%s in %c%.9g, %.9g%c", what, (k->flags & F_LO_OPEN) ? '(' : '[',
                     k->lo, k->hi, (k->flags & F_HI_OPEN) ? ')' : ']');
        break;
    default: snprintf(buf, size, "%s", fixed[k->kind]);
    }
}

int config_key_error(tg_error *err, const char *path, const key_def *k, const char *got)
{
    char expect[256];
    key_expect(k, expect, sizeof expect);
    return error_set(err, "%s%s%s: must be %s, got %s", path ? path : "", path ? ": " : "",
                     k->name, expect, got);
}

int config_key_fail(tg_error *err, const char *path, const char *name, const char *fmt, ...)
{
    char why[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return error_set(err, "%s%s%s: %s", path ? path : "", path ? ": " : "", name, why);
}

/* ---- init and free ---- */

int run_config_init(run_config *c, tg_error *err)
{
    memset(c, 0, sizeof *c);
    bool ok = (c->unknown = cJSON_CreateObject()) != NULL;
    for (size_t i = 0; ok && i < config_n_keys; i++) {
        const key_def *k = &config_keys[i];
        void *f = (char *)c + k->off;
        if (kind_is_string(k->kind))
            ok = run_config_string_set(field_str(c, k), k->sdef) == 0;
        else if (k->kind == K_BOOL)
            *(bool *)f = k->def != 0;
        else if (k->kind == K_INT)
            *(int *)f = (int)k->def;
        else if (k->kind == K_NUMBER || k->kind == K_WARMUP)
            *(double *)f = k->def;
    }
    pipeline_opts o;
    pipeline_opts_default(&o);
    o.keep_tokens_separator = ""; /* kohya's default; NULL would be written as null */
    if (!ok || run_config_pipeline_set(c, &o, err) < 0) {
        run_config_free(c);
        return error_set(err, "out of memory");
    }
    return 0;
}

void run_config_free(run_config *c)
{
    for (size_t i = 0; i < config_n_keys; i++)
        if (kind_is_string(config_keys[i].kind))
            free(*field_str(c, &config_keys[i]));
    cJSON_Delete(c->unknown);
    free(c->loaded_path);
    free(c->disk_text);
    memset(c, 0, sizeof *c);
}

/* ---- validate ---- */

static void field_got(const run_config *c, const key_def *k, char *buf, size_t size)
{
    const void *f = field_of(c, k);
    if (kind_is_string(k->kind)) {
        const char *s = *(char *const *)f;
        snprintf(buf, size, s ? "\"%.60s\"" : "null", s);
    } else if (k->kind == K_INT) {
        snprintf(buf, size, "%d", *(const int *)f);
    } else {
        snprintf(buf, size, "%.9g", *(const double *)f);
    }
}

static bool field_ok(const run_config *c, const key_def *k)
{
    const void *f = field_of(c, k);
    if (kind_is_string(k->kind))
        return config_string_ok(k, *(char *const *)f);
    if (k->kind == K_INT)
        return config_number_ok(k, *(const int *)f);
    if (k->kind == K_NUMBER || k->kind == K_WARMUP)
        return config_number_ok(k, *(const double *)f);
    return true; /* bools, optimizer_args, and the seed, whose type holds only valid values */
}

/* The checks between keys, each message naming the key to change and why. */
static int cross_check(const run_config *c, tg_error *err)
{
    int w = 0, h = 0;
    bool res = c->resolution && config_resolution_parse(c->resolution, &w, &h);
    if (c->enable_bucket && !c->bucket_no_upscale && c->min_bucket_reso > c->max_bucket_reso)
        return error_set(err, "min_bucket_reso: %d is above max_bucket_reso (%d)",
                         c->min_bucket_reso, c->max_bucket_reso);
    if (c->enable_bucket && res && (w % c->bucket_reso_steps || h % c->bucket_reso_steps))
        return error_set(err, "resolution: \"%s\" is not a multiple of bucket_reso_steps (%d), "
                         "which enable_bucket needs", c->resolution, c->bucket_reso_steps);
    if (c->enable_bucket && !c->bucket_no_upscale && res && (w < h ? w : h) < c->min_bucket_reso)
        return error_set(err, "min_bucket_reso: %d is above the resolution's smaller side (%d); "
                         "lower min_bucket_reso or raise resolution", c->min_bucket_reso,
                         w < h ? w : h);
    if (c->enable_bucket && !c->bucket_no_upscale && res && (w > h ? w : h) > c->max_bucket_reso)
        return error_set(err, "max_bucket_reso: %d is below the resolution's larger side (%d); "
                         "raise max_bucket_reso or lower resolution", c->max_bucket_reso,
                         w > h ? w : h);
    if (c->max_train_steps == 0 && c->max_train_epochs == 0)
        return error_set(err, "max_train_steps: is 0 and so is max_train_epochs; "
                         "one of them must be > 0");
    if (c->lr_warmup_steps > 0 && c->lr_scheduler && strcmp(c->lr_scheduler, "constant") == 0)
        return error_set(err, "lr_warmup_steps: must be 0 with lr_scheduler \"constant\" (as in "
                         "sd-scripts); use \"constant_with_warmup\" for a warm-up");
    if (c->max_train_epochs == 0 && c->lr_warmup_steps >= 1 &&
        c->lr_warmup_steps >= c->max_train_steps)
        return error_set(err, "lr_warmup_steps: %.0f is not below max_train_steps (%d)",
                         c->lr_warmup_steps, c->max_train_steps);
    return 0;
}

int run_config_validate(const run_config *c, tg_error *err)
{
    for (size_t i = 0; i < config_n_keys; i++) {
        if (!field_ok(c, &config_keys[i])) {
            char got[80];
            field_got(c, &config_keys[i], got, sizeof got);
            return config_key_error(err, NULL, &config_keys[i], got);
        }
    }
    return cross_check(c, err);
}

int run_config_validate_run(const run_config *c, tg_error *err)
{
    if (run_config_validate(c, err) < 0)
        return -1;
    if (!c->pretrained_model_name_or_path || !*c->pretrained_model_name_or_path)
        return error_set(err, "pretrained_model_name_or_path: not set; a run needs a model "
                         "(a built-in name such as \"tiny\", or a checkpoint file)");
    if (!c->train_data_dir || !*c->train_data_dir)
        return error_set(err, "train_data_dir: not set; a run needs the dataset folder");
    return 0;
}

/* ---- the optimizer's arguments and learning rates ---- */

void run_config_optimizer_args(const run_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "weight_decay=%.9g betas=%.9g,%.9g eps=%.9g", c->weight_decay,
             c->adam_beta1, c->adam_beta2, c->adam_epsilon);
}

double run_config_unet_lr(const run_config *c)
{
    return c->unet_lr > 0 ? c->unet_lr : c->learning_rate;
}

double run_config_text_encoder_lr(const run_config *c)
{
    return c->text_encoder_lr > 0 ? c->text_encoder_lr : c->learning_rate;
}

/* One "name=value" of optimizer_args into vals; the value of betas is "b1,b2", "(b1, b2)" or
 * "[b1, b2]" (what ast.literal_eval reads). */
static int optarg_one(const char *arg, size_t n, double vals[4], bool given[4], char *why,
                      size_t wsize)
{
    const char *eq = memchr(arg, '=', n);
    if (!eq)
        return snprintf(why, wsize, "\"%.*s\" is not name=value", (int)n, arg), 1;
    size_t kn = (size_t)(eq - arg);
    char val[128];
    snprintf(val, sizeof val, "%.*s", (int)(n - kn - 1), eq + 1);
    int slot = kn == 12 && !strncmp(arg, "weight_decay", 12) ? 0
               : kn == 5 && !strncmp(arg, "betas", 5)        ? 1
               : kn == 3 && !strncmp(arg, "eps", 3)          ? 3
                                                              : -1;
    if (slot < 0)
        return snprintf(why, wsize, "\"%.*s\" is not supported yet (tagbench reads "
                        "weight_decay, betas and eps)", (int)kn, arg), 1;
    char *p = val, *end;
    for (int j = 0; j < (slot == 1 ? 2 : 1); j++) {
        while (*p == ' ' || (j == 0 && (*p == '(' || *p == '[')))
            p++;
        double x = strtod(p, &end);
        if (end == p || !isfinite(x))
            return snprintf(why, wsize, "%.*s: \"%s\" is not %s", (int)kn, arg, val,
                            slot == 1 ? "two numbers such as 0.9,0.999" : "a number"), 1;
        for (p = end; *p == ' ';)
            p++;
        if (j == 0 && slot == 1 && *p++ != ',')
            return snprintf(why, wsize, "betas: \"%s\" is not two numbers such as 0.9,0.999",
                            val), 1;
        vals[slot + j] = x;
        given[slot + j] = true;
    }
    while (*p == ' ' || (slot == 1 && (*p == ')' || *p == ']')))
        p++;
    if (*p)
        return snprintf(why, wsize, "%.*s: \"%s\" is not %s", (int)kn, arg, val,
                        slot == 1 ? "two numbers such as 0.9,0.999" : "a number"), 1;
    return 0;
}

/* Splits one string at the spaces outside brackets. */
static int optargs_string(const char *s, double vals[4], bool given[4], char *why, size_t wsize)
{
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        const char *start = s;
        for (int depth = 0; *s && (depth > 0 || (*s != ' ' && *s != '\t')); s++)
            depth += (*s == '(' || *s == '[') - (*s == ')' || *s == ']');
        if (s > start && optarg_one(start, (size_t)(s - start), vals, given, why, wsize))
            return 1;
    }
    return 0;
}

int config_optargs_parse(const cJSON *v, double vals[4], bool given[4], char *why, size_t wsize)
{
    if (cJSON_IsString(v))
        return optargs_string(v->valuestring, vals, given, why, wsize);
    if (!cJSON_IsArray(v))
        return snprintf(why, wsize, "must be a string such as \"weight_decay=0.01 "
                        "betas=0.9,0.999\", or a list of such strings"), 1;
    for (const cJSON *e = v->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return snprintf(why, wsize, "must be a list of strings such as "
                            "\"weight_decay=0.01\""), 1;
        if (optargs_string(e->valuestring, vals, given, why, wsize))
            return 1;
    }
    return 0;
}

/* ---- pipeline options, strings, unknown keys, path ---- */

void run_config_pipeline(const run_config *c, pipeline_opts *o)
{
    *o = (pipeline_opts){
        .keep_tokens = c->keep_tokens,
        .keep_tokens_separator = c->keep_tokens_separator,
        .caption_separator = c->caption_separator,
        .secondary_separator = c->secondary_separator,
        .shuffle_caption = c->shuffle_caption,
        .caption_tag_dropout_rate = c->caption_tag_dropout_rate,
        .caption_dropout_rate = c->caption_dropout_rate,
        .caption_dropout_every_n_epochs = c->caption_dropout_every_n_epochs,
        .caption_prefix = c->caption_prefix,
        .caption_suffix = c->caption_suffix,
        .enable_wildcard = c->enable_wildcard,
        .token_warmup_min = c->token_warmup_min,
        .token_warmup_step = c->token_warmup_step,
    };
}

static bool dup_or_null(const char *s, char **out)
{
    *out = s ? strdup(s) : NULL;
    return !s || *out;
}

int run_config_pipeline_set(run_config *c, const pipeline_opts *o, tg_error *err)
{
    if (pipeline_opts_validate(o, err) < 0)
        return -1;
    /* all the copies first, so that running out of memory leaves c as it was */
    char *s[5];
    bool ok = dup_or_null(o->keep_tokens_separator, &s[0]) &
              dup_or_null(o->caption_separator ? o->caption_separator : ",", &s[1]) &
              dup_or_null(o->secondary_separator, &s[2]) &
              dup_or_null(o->caption_prefix, &s[3]) & dup_or_null(o->caption_suffix, &s[4]);
    char **dst[5] = {&c->keep_tokens_separator, &c->caption_separator, &c->secondary_separator,
                     &c->caption_prefix, &c->caption_suffix};
    for (int i = 0; i < 5; i++) {
        free(ok ? *dst[i] : s[i]);
        if (ok)
            *dst[i] = s[i];
    }
    if (!ok)
        return error_set(err, "out of memory");
    c->keep_tokens = o->keep_tokens;
    c->shuffle_caption = o->shuffle_caption;
    c->caption_tag_dropout_rate = o->caption_tag_dropout_rate;
    c->caption_dropout_rate = o->caption_dropout_rate;
    c->caption_dropout_every_n_epochs = o->caption_dropout_every_n_epochs;
    c->enable_wildcard = o->enable_wildcard;
    c->token_warmup_min = o->token_warmup_min;
    c->token_warmup_step = o->token_warmup_step;
    return 0;
}

int run_config_string_set(char **field, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

size_t run_config_unknown_count(const run_config *c)
{
    return c->unknown ? (size_t)cJSON_GetArraySize(c->unknown) : 0;
}

const char *run_config_unknown_key(const run_config *c, size_t i)
{
    const cJSON *u = c->unknown ? cJSON_GetArrayItem(c->unknown, (int)i) : NULL;
    return u ? u->string : NULL;
}

char *run_config_default_path(const char *dataset_dir)
{
    size_t n = strlen(dataset_dir);
    while (n > 1 && dataset_dir[n - 1] == '/')
        n--;
    size_t size = n + sizeof "/.tagbench/run.json";
    char *p = malloc(size);
    if (p)
        snprintf(p, size, "%.*s/.tagbench/run.json", (int)n, dataset_dir);
    return p;
}
