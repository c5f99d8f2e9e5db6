/* SD VAE configs (vae.h): the built-ins, and LDM's first_stage_config params as JSON. */
#include <limits.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/vae.h"
#include "trainer/config_file.h"

/* v1-inference.yaml's first_stage_config. */
static const vae_config VAE_SD15 = {
    .embed_dim = 4, .double_z = true, .z_channels = 4, .resolution = 256, .in_channels = 3,
    .out_ch = 3, .ch = 128, .n_levels = 4, .ch_mult = {1, 2, 4, 4}, .num_res_blocks = 2,
    .n_attn_res = 0, .dropout = 0, .norm_num_groups = 32,
};

/* A latent stand-in for the tiny model's 32x32 RGB images (16x16x4), and a quick test subject. */
static const vae_config VAE_TINY = {
    .embed_dim = 4, .double_z = true, .z_channels = 4, .resolution = 32, .in_channels = 3,
    .out_ch = 3, .ch = 32, .n_levels = 2, .ch_mult = {1, 2}, .num_res_blocks = 1,
    .n_attn_res = 0, .dropout = 0, .norm_num_groups = 8,
};

int vae_config_builtin(vae_config *c, const char *name, tg_error *err)
{
    if (!strcmp(name, "sd15"))
        *c = VAE_SD15;
    else if (!strcmp(name, "tiny"))
        *c = VAE_TINY;
    else
        return error_set(err, "no built-in VAE config named '%s' (sd15, tiny)", name);
    return 0;
}

/* ---- checks ---- */

#define MAX_CHANNELS (1 << 20)

static int positive(int v, const char *key, tg_error *err)
{
    return v >= 1 ? 0 : error_set(err, "%s: must be >= 1, got %d", key, v);
}

/* Every GroupNorm sees ch * ch_mult[i] channels (the encoder's first level starts from ch). */
static int groups_check(const vae_config *c, tg_error *err)
{
    int g = c->norm_num_groups;
    if (g < 1)
        return error_set(err, "ddconfig.norm_num_groups: must be >= 1, got %d", g);
    if (c->ch % g)
        return error_set(err, "ddconfig.norm_num_groups: %d groups do not divide ch = %d channels", g,
                         c->ch);
    return 0; /* then every ch * ch_mult[i] divides too */
}

int vae_config_check(const vae_config *c, tg_error *err)
{
    if (positive(c->embed_dim, "embed_dim", err) || positive(c->z_channels, "ddconfig.z_channels", err) ||
        positive(c->resolution, "ddconfig.resolution", err) ||
        positive(c->in_channels, "ddconfig.in_channels", err) || positive(c->out_ch, "ddconfig.out_ch", err) ||
        positive(c->ch, "ddconfig.ch", err))
        return -1;
    if (!c->double_z)
        return error_set(err, "ddconfig.double_z: must be true (AutoencoderKL asserts it: the encoder "
                         "outputs a mean and a log-variance)");
    if (c->embed_dim > MAX_CHANNELS || c->z_channels > MAX_CHANNELS || c->in_channels > MAX_CHANNELS ||
        c->out_ch > MAX_CHANNELS)
        return error_set(err, "channels above %d are not supported", MAX_CHANNELS);
    if (c->n_levels < 1 || c->n_levels > VAE_MAX_LEVELS)
        return error_set(err, "ddconfig.ch_mult: needs 1 to %d levels, got %d", VAE_MAX_LEVELS,
                         c->n_levels);
    for (int i = 0; i < c->n_levels; i++) {
        if (c->ch_mult[i] < 1)
            return error_set(err, "ddconfig.ch_mult[%d]: must be >= 1, got %d", i, c->ch_mult[i]);
        if ((long)c->ch * c->ch_mult[i] > MAX_CHANNELS)
            return error_set(err, "ddconfig.ch_mult[%d]: ch * %d is above %d channels", i, c->ch_mult[i],
                             MAX_CHANNELS);
    }
    if (c->num_res_blocks < 1 || c->num_res_blocks > VAE_MAX_RES_BLOCKS)
        return error_set(err, "ddconfig.num_res_blocks: must be 1 to %d, got %d", VAE_MAX_RES_BLOCKS,
                         c->num_res_blocks);
    if (c->n_attn_res < 0 || c->n_attn_res > VAE_MAX_ATTN_RES)
        return error_set(err, "ddconfig.attn_resolutions: at most %d values, got %d", VAE_MAX_ATTN_RES,
                         c->n_attn_res);
    for (int i = 0; i < c->n_attn_res; i++)
        if (c->attn_resolutions[i] < 1)
            return error_set(err, "ddconfig.attn_resolutions[%d]: must be >= 1, got %d", i,
                             c->attn_resolutions[i]);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return error_set(err, "ddconfig.dropout: must be in [0, 1), got %g", (double)c->dropout);
    return groups_check(c, err);
}

int vae_latent_size(const vae_config *c, int64_t H, int64_t W, int64_t *h, int64_t *w, tg_error *err)
{
    int64_t y = H, x = W;
    if (y < 1 || x < 1)
        return error_set(err, "image %lldx%lld: empty", (long long)W, (long long)H);
    for (int i = 0; i + 1 < c->n_levels; i++) {
        if (y < 2 || x < 2)
            return error_set(err, "image %lldx%lld is too small for %d downsamplings (%lldx%lld at level %d)",
                             (long long)W, (long long)H, c->n_levels - 1, (long long)x, (long long)y, i);
        y /= 2; /* (y + 1 - 3) / 2 + 1: pad one row, 3x3 conv with stride 2 */
        x /= 2;
    }
    *h = y;
    *w = x;
    return 0;
}

/* ---- JSON ---- */

static void value_text(const cJSON *v, char *buf, size_t size)
{
    char *s = cJSON_PrintUnformatted(v);
    snprintf(buf, size, "%s", s ? s : "?");
    if (strlen(buf) == size - 1 && size > 4)
        memcpy(buf + size - 4, "...", 4);
    free(s);
}

static int int_read(const cJSON *v, const char *key, int *out, tg_error *err)
{
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(x == floor(x) && x >= INT_MIN && x <= INT_MAX)) {
        char got[64];
        value_text(v, got, sizeof got);
        return error_set(err, "%s: must be an integer, got %s", key, got);
    }
    *out = (int)x;
    return 0;
}

static int int_list_read(const cJSON *v, const char *key, int *out, int cap, int *n, tg_error *err)
{
    if (!cJSON_IsArray(v)) {
        char got[64];
        value_text(v, got, sizeof got);
        return error_set(err, "%s: must be a list of integers, got %s", key, got);
    }
    int len = cJSON_GetArraySize(v);
    if (len > cap)
        return error_set(err, "%s: at most %d values, got %d", key, cap, len);
    char name[64];
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        snprintf(name, sizeof name, "%s[%d]", key, i);
        if (int_read(e, name, &out[i], err))
            return -1;
    }
    *n = len;
    return 0;
}

/* LDM keys whose only value here is the one this implementation computes. */
static int fixed_read(const cJSON *v, const char *key, tg_error *err)
{
    static const struct { const char *key, *want; } FIXED[] = {
        {"resamp_with_conv", "true"}, {"give_pre_end", "false"}, {"tanh_out", "false"},
        {"use_linear_attn", "false"}, {"attn_type", "\"vanilla\""},
    };
    for (size_t i = 0; i < sizeof FIXED / sizeof *FIXED; i++) {
        if (strcmp(key, FIXED[i].key))
            continue;
        char got[64];
        value_text(v, got, sizeof got);
        if (strcmp(got, FIXED[i].want))
            return error_set(err, "ddconfig.%s: only %s is supported, got %s", key, FIXED[i].want, got);
        return 0;
    }
    return 1;
}

enum { REQ_CH = 1, REQ_OUT_CH = 2, REQ_NRB = 4, REQ_ATTN = 8, REQ_IN = 16, REQ_RES = 32, REQ_Z = 64 };

static int dd_member_read(vae_config *c, const cJSON *v, unsigned *seen, tg_error *err)
{
    static const struct { const char *key; size_t off; unsigned req; } INTS[] = {
        {"ch", offsetof(vae_config, ch), REQ_CH},
        {"out_ch", offsetof(vae_config, out_ch), REQ_OUT_CH},
        {"num_res_blocks", offsetof(vae_config, num_res_blocks), REQ_NRB},
        {"in_channels", offsetof(vae_config, in_channels), REQ_IN},
        {"resolution", offsetof(vae_config, resolution), REQ_RES},
        {"z_channels", offsetof(vae_config, z_channels), REQ_Z},
        {"norm_num_groups", offsetof(vae_config, norm_num_groups), 0},
    };
    const char *key = v->string;
    char path[96];
    snprintf(path, sizeof path, "ddconfig.%s", key);
    for (size_t i = 0; i < sizeof INTS / sizeof *INTS; i++)
        if (!strcmp(key, INTS[i].key)) {
            *seen |= INTS[i].req;
            return int_read(v, path, (int *)((char *)c + INTS[i].off), err);
        }
    if (!strcmp(key, "ch_mult"))
        return int_list_read(v, path, c->ch_mult, VAE_MAX_LEVELS, &c->n_levels, err);
    if (!strcmp(key, "attn_resolutions")) {
        *seen |= REQ_ATTN;
        return int_list_read(v, path, c->attn_resolutions, VAE_MAX_ATTN_RES, &c->n_attn_res, err);
    }
    if (!strcmp(key, "double_z")) {
        if (!cJSON_IsBool(v))
            return error_set(err, "%s: must be true or false", path);
        c->double_z = cJSON_IsTrue(v);
        return 0;
    }
    if (!strcmp(key, "dropout")) {
        if (!cJSON_IsNumber(v))
            return error_set(err, "%s: must be a number", path);
        c->dropout = (float)v->valuedouble;
        return 0;
    }
    int rc = fixed_read(v, key, err);
    if (rc <= 0)
        return rc;
    return error_set(err, "%s: unknown key (not an LDM Encoder/Decoder argument)", path);
}

static int ddconfig_read(vae_config *c, const cJSON *dd, tg_error *err)
{
    static const char *const REQUIRED[] = {"ch", "out_ch", "num_res_blocks", "attn_resolutions",
                                           "in_channels", "resolution", "z_channels"};
    if (!cJSON_IsObject(dd))
        return error_set(err, "ddconfig: must be an object");
    unsigned seen = 0;
    for (const cJSON *v = dd->child; v; v = v->next)
        if (dd_member_read(c, v, &seen, err))
            return -1;
    for (int i = 0; i < 7; i++)
        if (!(seen & (1u << i)))
            return error_set(err, "ddconfig.%s: missing (LDM requires it)", REQUIRED[i]);
    return 0;
}

/* LDM's defaults for what ddconfig may leave out (Encoder's signature), plus norm_num_groups. */
static const vae_config VAE_LDM_DEFAULTS = {
    .double_z = true, .n_levels = 4, .ch_mult = {1, 2, 4, 8}, .dropout = 0, .norm_num_groups = 32,
};

/* AutoencoderKL's params: {"embed_dim", "ddconfig", and the unused "monitor", "lossconfig"}. */
static int params_read(vae_config *c, const cJSON *p, tg_error *err)
{
    bool have_embed = false, have_dd = false;
    for (const cJSON *v = p->child; v; v = v->next) {
        if (!strcmp(v->string, "embed_dim")) {
            have_embed = true;
            if (int_read(v, "embed_dim", &c->embed_dim, err))
                return -1;
        } else if (!strcmp(v->string, "ddconfig")) {
            have_dd = true;
            if (ddconfig_read(c, v, err))
                return -1;
        } else if (strcmp(v->string, "monitor") && strcmp(v->string, "lossconfig")) {
            return error_set(err, "%s: unknown key (not an AutoencoderKL param)", v->string);
        }
    }
    if (!have_embed)
        return error_set(err, "embed_dim: missing (LDM requires it)");
    if (!have_dd)
        return error_set(err, "ddconfig: missing (LDM requires it)");
    return 0;
}

int vae_config_from_json(vae_config *c, const cJSON *json, tg_error *err)
{
    if (!cJSON_IsObject(json))
        return error_set(err, "expected a JSON object");
    const cJSON *p = json;
    const cJSON *wrapped = cJSON_GetObjectItemCaseSensitive(json, "params");
    if (wrapped) { /* {"target": ..., "params": {...}}, as LDM's yaml has it */
        for (const cJSON *v = json->child; v; v = v->next) {
            if (!strcmp(v->string, "params"))
                continue;
            if (strcmp(v->string, "target"))
                return error_set(err, "%s: unknown key (next to params: only target)", v->string);
            size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
            if (n < 13 || strcmp(v->valuestring + n - 13, "AutoencoderKL"))
                return error_set(err, "target: must name ldm.models.autoencoder.AutoencoderKL");
        }
        if (!cJSON_IsObject(wrapped))
            return error_set(err, "params: must be an object");
        p = wrapped;
    }
    vae_config cfg = VAE_LDM_DEFAULTS;
    if (params_read(&cfg, p, err) || vae_config_check(&cfg, err))
        return -1;
    *c = cfg;
    return 0;
}

int vae_config_load(vae_config *c, const char *name_or_path, tg_error *err)
{
    if (!config_is_file(name_or_path))
        return vae_config_builtin(c, name_or_path, err);
    char *text = config_file_read(name_or_path, "VAE config: sd15, tiny", err);
    if (!text)
        return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root)
        return error_set(err, "%s: not valid JSON", name_or_path);
    tg_error e = {{0}};
    int rc = vae_config_from_json(c, root, &e);
    cJSON_Delete(root);
    if (rc)
        return error_set(err, "%s: %s", name_or_path, e.msg);
    return 0;
}

cJSON *vae_config_to_json(const vae_config *c)
{
    cJSON *root = cJSON_CreateObject(), *dd = cJSON_CreateObject();
    if (!root || !dd || !cJSON_AddItemToObject(root, "ddconfig", dd)) {
        cJSON_Delete(root);
        if (!root)
            cJSON_Delete(dd);
        return NULL;
    }
    bool ok = cJSON_AddNumberToObject(root, "embed_dim", c->embed_dim) &&
              cJSON_AddBoolToObject(dd, "double_z", c->double_z) &&
              cJSON_AddNumberToObject(dd, "z_channels", c->z_channels) &&
              cJSON_AddNumberToObject(dd, "resolution", c->resolution) &&
              cJSON_AddNumberToObject(dd, "in_channels", c->in_channels) &&
              cJSON_AddNumberToObject(dd, "out_ch", c->out_ch) &&
              cJSON_AddNumberToObject(dd, "ch", c->ch);
    cJSON *mult = ok ? cJSON_CreateIntArray(c->ch_mult, c->n_levels) : NULL;
    ok = mult && cJSON_AddItemToObject(dd, "ch_mult", mult);
    ok = ok && cJSON_AddNumberToObject(dd, "num_res_blocks", c->num_res_blocks);
    cJSON *attn = ok ? cJSON_CreateIntArray(c->attn_resolutions, c->n_attn_res) : NULL;
    ok = attn && cJSON_AddItemToObject(dd, "attn_resolutions", attn);
    ok = ok && cJSON_AddNumberToObject(dd, "dropout", c->dropout) &&
         cJSON_AddNumberToObject(dd, "norm_num_groups", c->norm_num_groups);
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
