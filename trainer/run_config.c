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
#include <string.h>

#include "trainer/private/run_config_keys.h"

#define SEED_MAX 4294967295.0

/* ---- the known keys ---- */

/* What a key of each kind must be, for the messages ("KEY: must be ..., got ..."). */
static const char *const kind_expect[] = {
    [K_STRING] = "a string or null",
    [K_SEPARATOR] = "a non-empty string",
    [K_EXTENSION] = "a string without '/' such as \".txt\"",
    [K_RESOLUTION] = "\"SIZE\" or \"WIDTH,HEIGHT\" with positive integers (e.g. \"512\" or "
                     "\"512,768\"), or null",
    [K_SEED] = "an integer in [0, 4294967295] or null",
    [K_COUNT] = "an integer >= 0",
    [K_RATE] = "a number in [0, 1]",
    [K_STEPS] = "a number >= 0",
    [K_BOOL] = "true or false",
};

#define KEY(field, kind) {#field, kind, offsetof(run_config, field)}

const key_def config_keys[] = {
    KEY(train_data_dir, K_STRING),
    KEY(caption_extension, K_EXTENSION),
    KEY(resolution, K_RESOLUTION),
    KEY(seed, K_SEED),
    KEY(shuffle_caption, K_BOOL),
    KEY(keep_tokens, K_COUNT),
    KEY(keep_tokens_separator, K_STRING),
    KEY(caption_separator, K_SEPARATOR),
    KEY(secondary_separator, K_STRING),
    KEY(caption_prefix, K_STRING),
    KEY(caption_suffix, K_STRING),
    KEY(caption_tag_dropout_rate, K_RATE),
    KEY(caption_dropout_rate, K_RATE),
    KEY(caption_dropout_every_n_epochs, K_COUNT),
    KEY(enable_wildcard, K_BOOL),
    KEY(token_warmup_min, K_COUNT),
    KEY(token_warmup_step, K_STEPS),
};
const size_t config_n_keys = sizeof config_keys / sizeof config_keys[0];

const key_def *config_key_find(const char *name)
{
    for (size_t i = 0; i < config_n_keys; i++)
        if (strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    return NULL;
}

/* ---- value checks, shared by load and validate ---- */

/* "512" or "512,768", spaces allowed around the numbers (Python's int() strips them). */
static bool resolution_ok(const char *s)
{
    for (int part = 0; part < 2; part++) {
        char *end;
        while (*s == ' ')
            s++;
        if (*s < '0' || *s > '9')
            return false;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || v <= 0 || v > 1000000)
            return false;
        for (s = end; *s == ' ';)
            s++;
        if (*s == '\0')
            return true;
        if (*s++ != ',' || part == 1)
            return false;
    }
    return false;
}

bool config_string_ok(key_kind kind, const char *s)
{
    switch (kind) {
    case K_SEPARATOR: return s && *s;
    case K_EXTENSION: return s && !strchr(s, '/');
    case K_RESOLUTION: return !s || resolution_ok(s);
    default: return true;
    }
}

bool config_number_ok(key_kind kind, double x)
{
    switch (kind) {
    case K_COUNT: return x >= 0 && x <= INT_MAX && x == floor(x);
    case K_SEED: return x >= 0 && x <= SEED_MAX && x == floor(x);
    case K_RATE: return x >= 0 && x <= 1;
    case K_STEPS: return x >= 0 && isfinite(x);
    default: return false;
    }
}

int config_key_error(tg_error *err, const char *path, const key_def *k, const char *got)
{
    return error_set(err, "%s%s%s: must be %s, got %s", path ? path : "", path ? ": " : "",
                     k->name, kind_expect[k->kind], got);
}

/* ---- init and free ---- */

int run_config_init(run_config *c, tg_error *err)
{
    memset(c, 0, sizeof *c);
    pipeline_opts o;
    pipeline_opts_default(&o);
    o.keep_tokens_separator = ""; /* kohya's default; NULL would be written as null */
    c->unknown = cJSON_CreateObject();
    if (!c->unknown || run_config_pipeline_set(c, &o, err) < 0 ||
        run_config_string_set(&c->caption_extension, ".caption") < 0) {
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
    } else if (k->kind == K_COUNT) {
        snprintf(buf, size, "%d", *(const int *)f);
    } else {
        snprintf(buf, size, "%g", *(const double *)f);
    }
}

static bool field_ok(const run_config *c, const key_def *k)
{
    const void *f = field_of(c, k);
    if (kind_is_string(k->kind))
        return config_string_ok(k->kind, *(char *const *)f);
    if (k->kind == K_COUNT)
        return config_number_ok(K_COUNT, *(const int *)f);
    if (k->kind == K_RATE || k->kind == K_STEPS)
        return config_number_ok(k->kind, *(const double *)f);
    return true; /* bools, and the seed, whose type holds only valid values */
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
