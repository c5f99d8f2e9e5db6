/* The Train screen's form (train_form.h). */
#include "tui/train_form.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tui/caption_form.h"

/* The choices the config accepts (docs/run_config.md); run_config_validate stays the judge, so a
 * list that fell behind the trainer's would only offer less, never let a bad value through. */
static const char *const TRAIN_MODES[] = {"lora", "full", NULL};
static const char *const OPTIMIZERS[] = {"AdamW", "AdamW8bit", NULL};
static const char *const SCHEDULERS[] = {"constant", "constant_with_warmup", "linear", "cosine",
                                         "cosine_with_restarts", "polynomial", NULL};
static const char *const SAVE_PRECISIONS[] = {"float", "fp16", "bf16", NULL};
static const char *const SAMPLERS[] = {"ddim", "euler", "euler_a", "k_euler", "k_euler_a",
                                       "dpmsolver++", NULL};
static const char *const PRECISIONS[] = {"no", "fp16", "bf16", NULL};

#define AT(field) #field, .off = offsetof(run_config, field)
#define TEXT(field, sec, h) {AT(field), .section = sec, .kind = TK_TEXT, .hint = h}
#define CHOICE(field, sec, list, null, h)                                                        \
    {AT(field), .section = sec, .kind = TK_CHOICE, .choices = list, .nullable = null, .hint = h}
#define INT(field, sec, how, by, h)                                                              \
    {AT(field), .section = sec, .kind = TK_INT, .stepping = how, .step = by, .hint = h}
#define NUM(field, sec, how, by, h)                                                              \
    {AT(field), .section = sec, .kind = TK_NUM, .stepping = how, .step = by, .hint = h}
#define BOOL(field, sec, h) {AT(field), .section = sec, .kind = TK_BOOL, .hint = h}

/* In the order of the saved file. Caption keys take their hints from the Captions screen. */
const train_field train_fields[] = {
    TEXT(train_data_dir, "dataset", "the dataset folder; its N_name sub-folders give repeats"),
    TEXT(caption_extension, "dataset", "caption file = image stem + this, e.g. .txt"),
    TEXT(resolution, "dataset", "training size: 512 or 512,768; unset: the model's own"),
    BOOL(enable_bucket, "dataset", "aspect-ratio buckets, for images of mixed shapes"),
    INT(min_bucket_reso, "dataset", TS_ADD, 64, "smallest bucket side"),
    INT(max_bucket_reso, "dataset", TS_ADD, 64, "largest bucket side"),
    INT(bucket_reso_steps, "dataset", TS_ADD, 8, "bucket sides are multiples of this"),
    BOOL(bucket_no_upscale, "dataset", "buckets from each image's own size, never enlarged"),
    BOOL(flip_aug, "dataset", "random horizontal flips (not for asymmetric subjects)"),
    BOOL(color_aug, "dataset", "random hue / gamma jitter"),
    BOOL(random_crop, "dataset", "random instead of centred crops"),

    BOOL(shuffle_caption, "captions", NULL),
    INT(keep_tokens, "captions", TS_ADD, 1, NULL),
    TEXT(keep_tokens_separator, "captions", NULL),
    TEXT(caption_separator, "captions", NULL),
    TEXT(secondary_separator, "captions", NULL),
    TEXT(caption_prefix, "captions", NULL),
    TEXT(caption_suffix, "captions", NULL),
    NUM(caption_tag_dropout_rate, "captions", TS_ADD, 0.05, NULL),
    NUM(caption_dropout_rate, "captions", TS_ADD, 0.05, NULL),
    INT(caption_dropout_every_n_epochs, "captions", TS_ADD, 1, NULL),
    BOOL(enable_wildcard, "captions", NULL),
    INT(token_warmup_min, "captions", TS_ADD, 1, NULL),
    NUM(token_warmup_step, "captions", TS_ADD, 0.05, NULL),

    TEXT(pretrained_model_name_or_path, "network", "base model: tiny, sd15 or a checkpoint file"),
    CHOICE(train_mode, "network", TRAIN_MODES, false,
           "lora: an adapter on a frozen base; full: the whole model"),
    INT(network_dim, "network", TS_DOUBLE, 0, "LoRA rank: capacity and file size"),
    NUM(network_alpha, "network", TS_DOUBLE, 0, "LoRA scale = alpha / network_dim"),
    NUM(network_dropout, "network", TS_ADD, 0.05, "dropout on the LoRA's down output; 0: off"),
    BOOL(network_train_unet_only, "network", "no text-encoder LoRA"),

    CHOICE(optimizer_type, "optimizer", OPTIMIZERS, false, "AdamW8bit trains as AdamW"),
    NUM(learning_rate, "optimizer", TS_125, 0, "the base learning rate"),
    NUM(unet_lr, "optimizer", TS_125, 0, "the UNet's rate; 0: learning_rate"),
    NUM(text_encoder_lr, "optimizer", TS_125, 0, "the text encoder's rate; 0: learning_rate"),
    NUM(weight_decay, "optimizer", TS_ADD, 0.01, "AdamW weight decay (saved in optimizer_args)"),
    NUM(adam_beta1, "optimizer", TS_ADD, 0.01, "AdamW beta1 (saved in optimizer_args)"),
    NUM(adam_beta2, "optimizer", TS_ADD, 0.001, "AdamW beta2 (saved in optimizer_args)"),
    NUM(adam_epsilon, "optimizer", TS_DECADE, 0, "AdamW eps (saved in optimizer_args)"),

    CHOICE(lr_scheduler, "schedule", SCHEDULERS, false, "how the rate changes over the run"),
    {AT(lr_warmup_steps), .section = "schedule", .kind = TK_WARMUP,
     .hint = "warm-up steps; below 1: a share of the run; 0 with constant"},
    INT(lr_scheduler_num_cycles, "schedule", TS_ADD, 1, "restarts of cosine_with_restarts"),
    NUM(lr_scheduler_power, "schedule", TS_ADD, 0.5, "power of polynomial"),

    INT(max_train_steps, "steps", TS_ADD, 100, "optimizer steps (max_train_epochs overrides)"),
    INT(max_train_epochs, "steps", TS_ADD, 1, "epochs; 0: max_train_steps decides"),
    INT(train_batch_size, "steps", TS_ADD, 1, "images per micro-batch"),
    INT(gradient_accumulation_steps, "steps", TS_ADD, 1, "micro-batches per optimizer step"),
    NUM(max_grad_norm, "steps", TS_ADD, 0.5, "gradient clipping; 0: off"),

    NUM(noise_offset, "diffusion", TS_ADD, 0.01, "per-channel noise, ~0.1 for dark/bright; 0: off"),
    NUM(min_snr_gamma, "diffusion", TS_ADD, 1, "min-SNR loss weighting, 5 recommended; 0: off"),
    BOOL(v_parameterization, "diffusion", "v-prediction target instead of noise (v models)"),

    TEXT(output_dir, "saving", "where checkpoints go; unset: the run folder"),
    TEXT(output_name, "saving", "checkpoint file stem; unset: kohya's last / epoch / at"),
    INT(save_every_n_epochs, "saving", TS_ADD, 1, "a checkpoint every N epochs; 0: off"),
    INT(save_every_n_steps, "saving", TS_ADD, 100, "a checkpoint every N steps; 0: off"),
    CHOICE(save_precision, "saving", SAVE_PRECISIONS, true, "saved weights' type; unset: float"),
    BOOL(save_state, "saving", "also save the optimizer state, for resume"),
    TEXT(resume, "saving", "a -state folder to continue from"),

    INT(sample_every_n_steps, "sampling", TS_ADD, 100, "sample images every N steps; 0: off"),
    INT(sample_every_n_epochs, "sampling", TS_ADD, 1, "every N epochs (overrides steps); 0: off"),
    TEXT(sample_prompts, "sampling", "prompt file, kohya syntax: a prompt per line, --n --w --s"),
    CHOICE(sample_sampler, "sampling", SAMPLERS, false, "the samples' sampler"),

    {"seed", .off = offsetof(run_config, seed), .section = "misc", .kind = TK_SEED,
     .hint = "random seed; unset: a new one each run"},
    INT(clip_skip, "misc", TS_ADD, 1, "text-encoder layer from the end (2: penultimate)"),
    CHOICE(mixed_precision, "misc", PRECISIONS, false, "half precision on the GPU; no on the CPU"),
    TEXT(training_comment, "misc", "written into the LoRA's ss_training_comment"),
};
const int n_train_fields = sizeof train_fields / sizeof train_fields[0];

/* ---- reading ---- */

static char **str_at(run_config *c, int f)
{
    return (char **)((char *)c + train_fields[f].off);
}

static void *at(run_config *c, int f)
{
    return (char *)c + train_fields[f].off;
}

static bool is_string(int f)
{
    return f >= 0 && (train_fields[f].kind == TK_TEXT || train_fields[f].kind == TK_CHOICE);
}

const char *train_field_hint(int f)
{
    if (train_fields[f].hint)
        return train_fields[f].hint;
    for (int k = 0; k < n_caption_fields; k++)
        if (!strcmp(caption_fields[k].key, train_fields[f].key))
            return caption_fields[k].help;
    return "";
}

bool train_field_unset(const run_config *c, int f)
{
    run_config *m = (run_config *)c; /* the accessors only read here */
    if (train_fields[f].kind == TK_SEED)
        return !c->has_seed;
    return is_string(f) && !*str_at(m, f);
}

void train_field_text(const run_config *c, int f, char *out, size_t size)
{
    run_config *m = (run_config *)c;
    switch (train_fields[f].kind) {
    case TK_TEXT:
    case TK_CHOICE: snprintf(out, size, "%s", *str_at(m, f) ? *str_at(m, f) : ""); break;
    case TK_INT: snprintf(out, size, "%d", *(int *)at(m, f)); break;
    case TK_NUM:
    case TK_WARMUP: snprintf(out, size, "%.9g", *(double *)at(m, f)); break;
    case TK_BOOL: snprintf(out, size, "%s", *(bool *)at(m, f) ? "true" : "false"); break;
    case TK_SEED:
        if (c->has_seed)
            snprintf(out, size, "%lu", (unsigned long)c->seed);
        else
            snprintf(out, size, "%s", "");
        break;
    }
}

void train_field_value(const run_config *c, int f, char *out, size_t size)
{
    if (train_field_unset(c, f))
        snprintf(out, size, "%s", train_fields[f].kind == TK_SEED ? "(random)" : "(unset)");
    else if (train_fields[f].kind == TK_TEXT && !**str_at((run_config *)c, f))
        snprintf(out, size, "\"\"");
    else
        train_field_text(c, f, out, size);
    if (train_fields[f].kind == TK_WARMUP && c->lr_warmup_steps > 0 && c->lr_warmup_steps < 1) {
        size_t n = strlen(out);
        snprintf(out + n, size - n, " (%.4g%% of the steps)", 100 * c->lr_warmup_steps);
    }
}

/* ---- changing ---- */

/* Keeps the change when the whole config still validates; else puts c back as `before` (a
 * shallow copy taken before the change: only field f's string, if any, differs; f < 0: the
 * seed, no string). */
static int commit(run_config *c, const run_config *before, int f, tg_error *err)
{
    run_config *b = (run_config *)before;
    if (run_config_validate(c, err) == 0) {
        if (is_string(f) && *str_at(b, f) != *str_at(c, f))
            free(*str_at(b, f));
        return 0;
    }
    if (is_string(f) && *str_at(b, f) != *str_at(c, f))
        free(*str_at(c, f));
    *c = *before;
    return -1;
}

/* A string field gets a copy of s (NULL: unset), checked. */
static int string_put(run_config *c, int f, const char *s, tg_error *err)
{
    run_config before = *c;
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy)
        return error_set(err, "out of memory");
    *str_at(c, f) = copy;
    return commit(c, &before, f, err);
}

static int number_put(run_config *c, int f, double v, tg_error *err)
{
    run_config before = *c;
    if (train_fields[f].kind == TK_BOOL) {
        *(bool *)at(c, f) = v != 0;
    } else if (train_fields[f].kind == TK_INT) {
        if (fabs(v) > INT_MAX)
            return error_set(err, "%s: %.0f is too large", train_fields[f].key, v);
        *(int *)at(c, f) = (int)v;
    } else {
        *(double *)at(c, f) = v;
    }
    return commit(c, &before, f, err);
}

static int seed_put(run_config *c, bool has, double v, tg_error *err)
{
    run_config before = *c;
    c->has_seed = has;
    c->seed = has ? (uint32_t)v : 0;
    return commit(c, &before, -1, err);
}

static int bool_parse(const char *key, const char *text, bool *b, tg_error *err)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(text, yes[i]))
            return *b = true, 0;
        if (!strcasecmp(text, no[i]))
            return *b = false, 0;
    }
    return error_set(err, "%s: true or false, not \"%s\"", key, text);
}

/* A typed choice in the list's own spelling, whatever the case; unknown text is kept as typed
 * so that validation refuses it with the list. */
static const char *choice_spelling(int f, const char *text)
{
    for (const char *const *ch = train_fields[f].choices; *ch; ch++)
        if (!strcasecmp(*ch, text))
            return *ch;
    return text;
}

static int seed_set(run_config *c, const char *text, tg_error *err)
{
    double v;
    if (!*text || !strcasecmp(text, "null") || !strcasecmp(text, "random"))
        return seed_put(c, false, 0, err);
    if (form_number_parse("seed", text, true, &v, err) < 0)
        return -1;
    if (v < 0 || v > 4294967295.0)
        return error_set(err, "seed: must be an integer in [0, 4294967295] or empty (random), "
                         "got %s", text);
    return seed_put(c, true, v, err);
}

static int warmup_parse(const char *text, double *v, tg_error *err)
{
    size_t n = strlen(text);
    if (n > 1 && text[n - 1] == '%') { /* "10%", as the kohya_ss GUI's lr_warmup */
        char num[64];
        snprintf(num, sizeof num, "%.*s", (int)(n - 1), text);
        if (form_number_parse("lr_warmup_steps", num, false, v, err) < 0)
            return -1;
        *v /= 100;
        return 0;
    }
    return form_number_parse("lr_warmup_steps", text, false, v, err);
}

int train_field_set(run_config *c, int f, const char *text, tg_error *err)
{
    const train_field *fd = &train_fields[f];
    double v;
    bool b = false;
    switch (fd->kind) {
    case TK_TEXT: return string_put(c, f, *text ? text : NULL, err);
    case TK_CHOICE: return string_put(c, f, *text ? choice_spelling(f, text) : NULL, err);
    case TK_INT:
    case TK_NUM:
        if (form_number_parse(fd->key, text, fd->kind == TK_INT, &v, err) < 0)
            return -1;
        return number_put(c, f, v, err);
    case TK_WARMUP:
        if (warmup_parse(text, &v, err) < 0)
            return -1;
        return number_put(c, f, v, err);
    case TK_BOOL:
        if (bool_parse(fd->key, text, &b, err) < 0)
            return -1;
        return number_put(c, f, b, err);
    case TK_SEED: return seed_set(c, text, err);
    }
    return -1;
}

/* ---- stepping ---- */

/* v rounded to 12 significant digits: 0.1 + 0.05 is saved as 0.15, not 0.15000000000000002. */
static double tidy(double v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.12g", v);
    return strtod(buf, NULL);
}

/* The next value of the 1-2-5 sequence above (dir > 0) or below v. */
static double step_125(double v, int dir)
{
    if (v <= 0)
        return dir > 0 ? 1e-6 : 0;
    double e = pow(10, floor(log10(v))), best = dir > 0 ? INFINITY : 0;
    static const double m[] = {0.5, 1, 2, 5, 10, 20};
    for (int i = 0; i < 6; i++) {
        double x = tidy(m[i] * e);
        if (dir > 0 && x > v * (1 + 1e-9) && x < best)
            best = x;
        if (dir < 0 && x < v * (1 - 1e-9) && x > best)
            best = x;
    }
    return best < 1e-9 ? 0 : best;
}

static double number_next(const train_field *fd, double v, int dir)
{
    switch (fd->stepping) {
    case TS_ADD: return tidy(round(v / fd->step + dir) * fd->step);
    case TS_DOUBLE:
        if (dir > 0)
            return v > 0 ? v * 2 : 1;
        return fd->kind == TK_INT ? floor(v / 2) : v / 2;
    case TS_125: return step_125(v, dir);
    case TS_DECADE: return tidy(dir > 0 ? v * 10 : v / 10);
    }
    return v;
}

/* lr_warmup_steps: a fraction moves by 5% of the run, a count by 10 steps. */
static double warmup_next(double v, int dir)
{
    if (v > 0 && v < 1)
        return tidy(fmax(0, v + 0.05 * dir));
    return fmax(0, round(v / 10 + dir) * 10);
}

static int choice_step(run_config *c, int f, int dir, tg_error *err)
{
    const char *list[16];
    int n = train_field_choices(f, list, 16), i = train_field_choice_index(c, f);
    i = i < 0 ? 0 : (i + dir + n) % n;
    return train_field_choose(c, f, list[i], err);
}

int train_field_step(run_config *c, int f, int dir, tg_error *err)
{
    const train_field *fd = &train_fields[f];
    switch (fd->kind) {
    case TK_TEXT: return error_set(err, "%s is text: Enter types it", fd->key);
    case TK_CHOICE: return choice_step(c, f, dir, err);
    case TK_BOOL: return number_put(c, f, !*(bool *)at(c, f), err);
    case TK_INT: return number_put(c, f, number_next(fd, *(int *)at(c, f), dir), err);
    case TK_NUM: return number_put(c, f, number_next(fd, *(double *)at(c, f), dir), err);
    case TK_WARMUP: return number_put(c, f, warmup_next(c->lr_warmup_steps, dir), err);
    case TK_SEED:
        if (!c->has_seed)
            return dir > 0 ? seed_put(c, true, 0, err) : 0;
        if (dir < 0 && c->seed == 0)
            return seed_put(c, false, 0, err);
        return seed_put(c, true, (double)c->seed + dir, err);
    }
    return -1;
}

int train_field_reset(run_config *c, int f, const run_config *defaults, tg_error *err)
{
    run_config *d = (run_config *)defaults; /* only read */
    switch (train_fields[f].kind) {
    case TK_TEXT:
    case TK_CHOICE: return string_put(c, f, *str_at(d, f), err);
    case TK_INT: return number_put(c, f, *(int *)at(d, f), err);
    case TK_NUM:
    case TK_WARMUP: return number_put(c, f, *(double *)at(d, f), err);
    case TK_BOOL: return number_put(c, f, *(bool *)at(d, f), err);
    case TK_SEED: return seed_put(c, d->has_seed, d->seed, err);
    }
    return -1;
}

/* ---- choices ---- */

int train_field_choices(int f, const char **out, int max)
{
    int n = 0;
    if (train_fields[f].nullable && n < max)
        out[n++] = NULL;
    for (const char *const *ch = train_fields[f].choices; ch && *ch && n < max; ch++)
        out[n++] = *ch;
    return n;
}

int train_field_choose(run_config *c, int f, const char *choice, tg_error *err)
{
    return string_put(c, f, choice, err);
}

int train_field_choice_index(const run_config *c, int f)
{
    const char *list[16], *v = *str_at((run_config *)c, f);
    int n = train_field_choices(f, list, 16);
    for (int i = 0; i < n; i++)
        if (list[i] ? v && !strcasecmp(list[i], v) : !v)
            return i;
    return -1;
}
