/* UNet configs (unet.h): LDM's unet_config keys from JSON, the built-ins, and the checks that make
 * a config buildable before anything is allocated. */
#include "trainer/unet.h"
#include "trainer/config_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* configs/stable-diffusion/v1-inference.yaml (reference/engines.md §3.1). */
static const unet_config config_sd15 = {
    .in_channels = 4, .out_channels = 4, .model_channels = 320,
    .channel_mult = {1, 2, 4, 4}, .n_levels = 4,
    .attention_resolutions = {4, 2, 1}, .n_attention_resolutions = 3,
    .num_res_blocks = 2, .num_heads = 8, .num_head_channels = -1,
    .transformer_depth = 1, .context_dim = 768, .norm_num_groups = 32,
};

/* reference/engines.md §7.3: ~1 M parameters, attention only at 8x8 of a 16x16 input (4 heads of
 * 16 at 64 channels). 4 input channels like SD's latents, so the demo exercises exactly SD's
 * in/out path; the 2x2 pixel-unshuffled RGB alternative of §7.3 would be 12 (a config file can say
 * so). context_dim 64 is the tag embedding's width. */
static const unet_config config_tiny = {
    .in_channels = 4, .out_channels = 4, .model_channels = 32,
    .channel_mult = {1, 2}, .n_levels = 2,
    .attention_resolutions = {2}, .n_attention_resolutions = 1,
    .num_res_blocks = 1, .num_heads = 4, .num_head_channels = -1,
    .transformer_depth = 1, .context_dim = 64, .norm_num_groups = 8,
};

int unet_config_builtin(unet_config *c, const char *name, tg_error *err)
{
    if (!strcmp(name, "sd15"))
        *c = config_sd15;
    else if (!strcmp(name, "tiny"))
        *c = config_tiny;
    else
        return error_set(err, "unet config '%s': not a built-in (sd15, tiny)", name);
    return 0;
}

void unet_config_heads(const unet_config *c, int ch, int *heads, int *dim_head)
{
    if (c->num_head_channels == -1) {
        *heads = c->num_heads;
        *dim_head = ch / c->num_heads;
    } else {
        *heads = ch / c->num_head_channels;
        *dim_head = c->num_head_channels;
    }
}

static bool has_attention(const unet_config *c, int ds)
{
    for (int i = 0; i < c->n_attention_resolutions; i++)
        if (c->attention_resolutions[i] == ds)
            return true;
    return false;
}

/* Every SpatialTransformer width must split into whole heads. */
static int heads_check(const unet_config *c, int ch, const char *where, tg_error *err)
{
    if (c->num_head_channels != -1) {
        if (ch % c->num_head_channels)
            return error_set(err, "num_head_channels: %d does not divide the %d channels of %s",
                             c->num_head_channels, ch, where);
    } else if (ch % c->num_heads) {
        return error_set(err, "num_heads: %d heads do not divide the %d channels of %s", c->num_heads,
                         ch, where);
    }
    return 0;
}

static int groups_check(const unet_config *c, int ch, const char *where, tg_error *err)
{
    if (ch % c->norm_num_groups)
        return error_set(err, "norm_num_groups: %d groups do not divide the %d channels of %s",
                         c->norm_num_groups, ch, where);
    return 0;
}

static int positive(int v, const char *key, tg_error *err)
{
    return v >= 1 ? 0 : error_set(err, "%s: %d (must be at least 1)", key, v);
}

/* Walks LDM's channel bookkeeping (input_block_chans) to check every norm and head split. */
static int widths_check(const unet_config *c, tg_error *err)
{
    int chans[1 + UNET_MAX_LEVELS * 64], n = 0, ch = c->model_channels, ds = 1;
    char where[64];
    chans[n++] = ch;
    for (int level = 0; level < c->n_levels; level++) {
        int out = c->model_channels * c->channel_mult[level];
        snprintf(where, sizeof where, "level %d (channel_mult %d)", level, c->channel_mult[level]);
        if (groups_check(c, ch, where, err) || groups_check(c, out, where, err))
            return -1;
        if (has_attention(c, ds) && heads_check(c, out, where, err))
            return -1;
        for (int r = 0; r < c->num_res_blocks; r++)
            chans[n++] = ch = out;
        if (level != c->n_levels - 1) {
            chans[n++] = ch;
            ds *= 2;
        }
    }
    if (heads_check(c, ch, "middle_block", err))
        return -1;
    for (int level = c->n_levels - 1; level >= 0; level--) {
        for (int r = 0; r <= c->num_res_blocks; r++) {
            int ich = chans[--n];
            snprintf(where, sizeof where, "an output block at level %d (%d + %d concatenated)", level, ch, ich);
            if (groups_check(c, ch + ich, where, err))
                return -1;
            ch = c->model_channels * c->channel_mult[level];
        }
    }
    return 0;
}

int unet_config_check(const unet_config *c, tg_error *err)
{
    if (positive(c->in_channels, "in_channels", err) || positive(c->out_channels, "out_channels", err) ||
        positive(c->model_channels, "model_channels", err) ||
        positive(c->num_res_blocks, "num_res_blocks", err) ||
        positive(c->transformer_depth, "transformer_depth", err) ||
        positive(c->context_dim, "context_dim", err) || positive(c->norm_num_groups, "norm_num_groups", err))
        return -1;
    /* Beyond these sizes a config is a typo, and the products below could overflow an int. */
    if (c->model_channels > 65536 || c->num_res_blocks > 64 || c->transformer_depth > 64 ||
        c->context_dim > 65536 || c->in_channels > 65536 || c->out_channels > 65536)
        return error_set(err, "unet config: a size beyond any real model (model_channels %d, "
                         "num_res_blocks %d, transformer_depth %d, context_dim %d)", c->model_channels,
                         c->num_res_blocks, c->transformer_depth, c->context_dim);
    if (c->n_levels < 1 || c->n_levels > UNET_MAX_LEVELS)
        return error_set(err, "channel_mult: %d levels (1 to %d)", c->n_levels, UNET_MAX_LEVELS);
    for (int i = 0; i < c->n_levels; i++)
        if (c->channel_mult[i] < 1 || c->channel_mult[i] > 64)
            return error_set(err, "channel_mult: entry %d is %d (1 to 64)", i, c->channel_mult[i]);
    if (c->channel_mult[0] != 1) /* LDM's out.2 takes model_channels, the width its last block has only then */
        return error_set(err, "channel_mult: the first entry is %d (must be 1: LDM's out.2 conv takes "
                         "model_channels)", c->channel_mult[0]);
    if (c->num_heads == -1 && c->num_head_channels == -1)
        return error_set(err, "num_heads: one of num_heads or num_head_channels must be set");
    if (c->num_heads != -1 && c->num_heads < 1)
        return error_set(err, "num_heads: %d (-1 or at least 1)", c->num_heads);
    if (c->num_head_channels != -1 && c->num_head_channels < 1)
        return error_set(err, "num_head_channels: %d (-1 or at least 1)", c->num_head_channels);
    if (c->n_attention_resolutions < 0 || c->n_attention_resolutions > UNET_MAX_LEVELS)
        return error_set(err, "attention_resolutions: %d entries (at most %d)", c->n_attention_resolutions,
                         UNET_MAX_LEVELS);
    for (int i = 0; i < c->n_attention_resolutions; i++) {
        int ds = c->attention_resolutions[i], ok = 0;
        for (int level = 0; level < c->n_levels; level++)
            ok |= ds == 1 << level;
        if (!ok)
            return error_set(err, "attention_resolutions: %d is not a downsampling factor of this UNet "
                             "(1 to %d, doubling: LDM counts factors, not pixels)", ds, 1 << (c->n_levels - 1));
    }
    return widths_check(c, err);
}

/* ---- JSON ---- */

static int json_int(const cJSON *v, const char *key, int *out, tg_error *err)
{
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!cJSON_IsNumber(v) || d != floor(d) || d < -1e9 || d > 1e9)
        return error_set(err, "%s: must be an integer", key);
    *out = (int)d;
    return 0;
}

static int json_int_list(const cJSON *v, const char *key, int *out, int *n, tg_error *err)
{
    if (!cJSON_IsArray(v))
        return error_set(err, "%s: must be a list of integers", key);
    int count = cJSON_GetArraySize(v);
    if (count > UNET_MAX_LEVELS)
        return error_set(err, "%s: %d entries (at most %d)", key, count, UNET_MAX_LEVELS);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++)
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || fabs(e->valuedouble) > 1e9)
            return error_set(err, "%s: entry %d must be an integer", key, i);
        else
            out[i] = (int)e->valuedouble;
    *n = count;
    return 0;
}

/* Keys LDM's UNetModel takes that change nothing here, with the only values that mean so. */
static int ignored_key(const cJSON *v, const char *key, bool *known, tg_error *err)
{
    *known = true;
    if (!strcmp(key, "image_size") || !strcmp(key, "use_checkpoint")) /* checkpointing: a memory trade */
        return cJSON_IsNumber(v) || cJSON_IsBool(v) ? 0 : error_set(err, "%s: must be a number or a boolean", key);
    if (!strcmp(key, "use_spatial_transformer"))
        return cJSON_IsTrue(v) ? 0 : error_set(err, "use_spatial_transformer: only true (the SD 1.x "
                                                "SpatialTransformer; LDM's AttentionBlock is not built)");
    if (!strcmp(key, "legacy"))
        return cJSON_IsFalse(v) ? 0 : error_set(err, "legacy: only false (SD 1.x uses false; legacy "
                                                "true changes the head widths)");
    if (!strcmp(key, "num_heads_upsample"))
        return cJSON_IsNumber(v) && v->valuedouble == -1 ? 0
            : error_set(err, "num_heads_upsample: only -1 (the same heads as num_heads)");
    if (!strcmp(key, "dropout"))
        return cJSON_IsNumber(v) && v->valuedouble == 0 ? 0
            : error_set(err, "dropout: only 0 (dropout is not implemented)");
    *known = false;
    return 0;
}

static int key_load(unet_config *c, const cJSON *v, const char *key, tg_error *err)
{
    struct { const char *name; int *field; } ints[] = {
        {"in_channels", &c->in_channels}, {"out_channels", &c->out_channels},
        {"model_channels", &c->model_channels}, {"num_res_blocks", &c->num_res_blocks},
        {"num_heads", &c->num_heads}, {"num_head_channels", &c->num_head_channels},
        {"transformer_depth", &c->transformer_depth}, {"context_dim", &c->context_dim},
        {"norm_num_groups", &c->norm_num_groups},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (!strcmp(key, ints[i].name))
            return json_int(v, key, ints[i].field, err);
    if (!strcmp(key, "channel_mult"))
        return json_int_list(v, key, c->channel_mult, &c->n_levels, err);
    if (!strcmp(key, "attention_resolutions"))
        return json_int_list(v, key, c->attention_resolutions, &c->n_attention_resolutions, err);
    bool known;
    if (ignored_key(v, key, &known, err))
        return -1;
    return known ? 0 : error_set(err, "%s: not a unet_config key", key);
}

int unet_config_from_json(unet_config *c, const cJSON *obj, tg_error *err)
{
    if (!cJSON_IsObject(obj))
        return error_set(err, "unet config: must be a JSON object");
    unet_config cfg = {.num_heads = -1, .num_head_channels = -1, .norm_num_groups = 32};
    static const char *required[] = {"in_channels", "out_channels", "model_channels", "attention_resolutions",
                                     "num_res_blocks", "channel_mult", "context_dim"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!cJSON_GetObjectItemCaseSensitive(obj, required[i]))
            return error_set(err, "%s: missing", required[i]);
    cfg.transformer_depth = 1; /* LDM's default */
    for (const cJSON *v = obj->child; v; v = v->next)
        if (key_load(&cfg, v, v->string ? v->string : "", err))
            return -1;
    if (unet_config_check(&cfg, err))
        return -1;
    *c = cfg;
    return 0;
}

int unet_config_load(unet_config *c, const char *name_or_path, tg_error *err)
{
    if (!config_is_file(name_or_path))
        return unet_config_builtin(c, name_or_path, err);
    char *text = config_file_read(name_or_path, "UNet config: sd15, tiny", err);
    if (!text)
        return -1;
    cJSON *obj = cJSON_Parse(text);
    free(text);
    if (!obj)
        return error_set(err, "%s: not valid JSON", name_or_path);
    int rc = unet_config_from_json(c, obj, err);
    cJSON_Delete(obj);
    if (rc) {
        tg_error e = *err;
        error_set(err, "%s: %s", name_or_path, e.msg);
    }
    return rc;
}

static cJSON *int_array(const int *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        if (!cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]))) {
            cJSON_Delete(a);
            return NULL;
        }
    return a;
}

cJSON *unet_config_to_json(const unet_config *c)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddNumberToObject(o, "in_channels", c->in_channels) &&
              cJSON_AddNumberToObject(o, "out_channels", c->out_channels) &&
              cJSON_AddNumberToObject(o, "model_channels", c->model_channels);
    cJSON *att = ok ? int_array(c->attention_resolutions, c->n_attention_resolutions) : NULL;
    ok = att && cJSON_AddItemToObject(o, "attention_resolutions", att);
    if (att && !ok)
        cJSON_Delete(att);
    ok = ok && cJSON_AddNumberToObject(o, "num_res_blocks", c->num_res_blocks);
    cJSON *mult = ok ? int_array(c->channel_mult, c->n_levels) : NULL;
    ok = mult && cJSON_AddItemToObject(o, "channel_mult", mult);
    if (mult && !ok)
        cJSON_Delete(mult);
    ok = ok && cJSON_AddNumberToObject(o, "num_heads", c->num_heads) &&
         cJSON_AddNumberToObject(o, "num_head_channels", c->num_head_channels) &&
         cJSON_AddTrueToObject(o, "use_spatial_transformer") &&
         cJSON_AddNumberToObject(o, "transformer_depth", c->transformer_depth) &&
         cJSON_AddNumberToObject(o, "context_dim", c->context_dim) &&
         cJSON_AddFalseToObject(o, "legacy") &&
         cJSON_AddNumberToObject(o, "norm_num_groups", c->norm_num_groups);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
