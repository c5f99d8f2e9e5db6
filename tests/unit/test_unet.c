/* The LDM UNet (trainer/unet.h): the sd15 config has exactly SD 1.x's keys, shapes and parameter
 * count (checked against a list this test builds from reference/engines.md §3.2/§3.4, not from the
 * model's own walk); configs are refused with messages naming the key; the whole backward agrees
 * with finite differences on a micro config (x, context, every weight tensor, LoRA adapters); the
 * frozen-base backward gives the same input gradients; results are deterministic and the same in
 * UNET_INFER as in UNET_TRAIN; weights round-trip through a safetensors file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer/lora.h"
#include "trainer/unet.h"
#include "tests/unit/check.h"
#include "tests/unit/gradcheck.h"

static kctx K;

/* ---- sd15: the key set from the reference's table ---- */

#define SD15_KEYS 686
#define KEY_CAP 700

typedef struct key_list {
    char name[KEY_CAP][112];
    int64_t shape[KEY_CAP][4];
    int ndim[KEY_CAP];
    int n;
} key_list;

static void key_add(key_list *l, const char *mod, const char *leaf, int64_t a, int64_t b, int64_t c, int64_t d)
{
    if (l->n >= KEY_CAP)
        return;
    snprintf(l->name[l->n], sizeof l->name[0], "model.diffusion_model.%s%s%s", mod, *mod ? "." : "", leaf);
    int64_t s[4] = {a, b, c, d};
    memcpy(l->shape[l->n], s, sizeof s);
    l->ndim[l->n] = c ? 4 : b ? 2 : 1;
    l->n++;
}

/* engines.md §3.4's patterns for one module. */
static void keys_res(key_list *l, const char *m, int64_t ci, int64_t co)
{
    key_add(l, m, "in_layers.0.weight", ci, 0, 0, 0);
    key_add(l, m, "in_layers.0.bias", ci, 0, 0, 0);
    key_add(l, m, "in_layers.2.weight", co, ci, 3, 3);
    key_add(l, m, "in_layers.2.bias", co, 0, 0, 0);
    key_add(l, m, "emb_layers.1.weight", co, 1280, 0, 0);
    key_add(l, m, "emb_layers.1.bias", co, 0, 0, 0);
    key_add(l, m, "out_layers.0.weight", co, 0, 0, 0);
    key_add(l, m, "out_layers.0.bias", co, 0, 0, 0);
    key_add(l, m, "out_layers.3.weight", co, co, 3, 3);
    key_add(l, m, "out_layers.3.bias", co, 0, 0, 0);
    if (ci != co) {
        key_add(l, m, "skip_connection.weight", co, ci, 1, 1);
        key_add(l, m, "skip_connection.bias", co, 0, 0, 0);
    }
}

static void keys_st(key_list *l, const char *m, int64_t c)
{
    char t[160];
    key_add(l, m, "norm.weight", c, 0, 0, 0);
    key_add(l, m, "norm.bias", c, 0, 0, 0);
    key_add(l, m, "proj_in.weight", c, c, 1, 1);
    key_add(l, m, "proj_in.bias", c, 0, 0, 0);
    key_add(l, m, "proj_out.weight", c, c, 1, 1);
    key_add(l, m, "proj_out.bias", c, 0, 0, 0);
    snprintf(t, sizeof t, "%s.transformer_blocks.0", m);
    for (int n = 1; n <= 3; n++) {
        char leaf[32];
        snprintf(leaf, sizeof leaf, "norm%d.weight", n);
        key_add(l, t, leaf, c, 0, 0, 0);
        snprintf(leaf, sizeof leaf, "norm%d.bias", n);
        key_add(l, t, leaf, c, 0, 0, 0);
    }
    for (int a = 1; a <= 2; a++) {
        char leaf[32];
        int64_t kv = a == 1 ? c : 768;
        snprintf(leaf, sizeof leaf, "attn%d.to_q.weight", a);
        key_add(l, t, leaf, c, c, 0, 0);
        snprintf(leaf, sizeof leaf, "attn%d.to_k.weight", a);
        key_add(l, t, leaf, c, kv, 0, 0);
        snprintf(leaf, sizeof leaf, "attn%d.to_v.weight", a);
        key_add(l, t, leaf, c, kv, 0, 0);
        snprintf(leaf, sizeof leaf, "attn%d.to_out.0.weight", a);
        key_add(l, t, leaf, c, c, 0, 0);
        snprintf(leaf, sizeof leaf, "attn%d.to_out.0.bias", a);
        key_add(l, t, leaf, c, 0, 0, 0);
    }
    key_add(l, t, "ff.net.0.proj.weight", 8 * c, c, 0, 0);
    key_add(l, t, "ff.net.0.proj.bias", 8 * c, 0, 0, 0);
    key_add(l, t, "ff.net.2.weight", c, 4 * c, 0, 0);
    key_add(l, t, "ff.net.2.bias", c, 0, 0, 0);
}

/* The table of engines.md §3.2: R ResBlock, S SpatialTransformer, D Downsample, U Upsample. */
static const struct { const char *mod; char kind; int ci, co; } SD15_TABLE[] = {
    {"input_blocks.1.0", 'R', 320, 320}, {"input_blocks.1.1", 'S', 320, 320},
    {"input_blocks.2.0", 'R', 320, 320}, {"input_blocks.2.1", 'S', 320, 320},
    {"input_blocks.3.0", 'D', 320, 320},
    {"input_blocks.4.0", 'R', 320, 640}, {"input_blocks.4.1", 'S', 640, 640},
    {"input_blocks.5.0", 'R', 640, 640}, {"input_blocks.5.1", 'S', 640, 640},
    {"input_blocks.6.0", 'D', 640, 640},
    {"input_blocks.7.0", 'R', 640, 1280}, {"input_blocks.7.1", 'S', 1280, 1280},
    {"input_blocks.8.0", 'R', 1280, 1280}, {"input_blocks.8.1", 'S', 1280, 1280},
    {"input_blocks.9.0", 'D', 1280, 1280},
    {"input_blocks.10.0", 'R', 1280, 1280}, {"input_blocks.11.0", 'R', 1280, 1280},
    {"middle_block.0", 'R', 1280, 1280}, {"middle_block.1", 'S', 1280, 1280}, {"middle_block.2", 'R', 1280, 1280},
    {"output_blocks.0.0", 'R', 2560, 1280}, {"output_blocks.1.0", 'R', 2560, 1280},
    {"output_blocks.2.0", 'R', 2560, 1280}, {"output_blocks.2.1", 'U', 1280, 1280},
    {"output_blocks.3.0", 'R', 2560, 1280}, {"output_blocks.3.1", 'S', 1280, 1280},
    {"output_blocks.4.0", 'R', 2560, 1280}, {"output_blocks.4.1", 'S', 1280, 1280},
    {"output_blocks.5.0", 'R', 1920, 1280}, {"output_blocks.5.1", 'S', 1280, 1280},
    {"output_blocks.5.2", 'U', 1280, 1280},
    {"output_blocks.6.0", 'R', 1920, 640}, {"output_blocks.6.1", 'S', 640, 640},
    {"output_blocks.7.0", 'R', 1280, 640}, {"output_blocks.7.1", 'S', 640, 640},
    {"output_blocks.8.0", 'R', 960, 640}, {"output_blocks.8.1", 'S', 640, 640},
    {"output_blocks.8.2", 'U', 640, 640},
    {"output_blocks.9.0", 'R', 960, 320}, {"output_blocks.9.1", 'S', 320, 320},
    {"output_blocks.10.0", 'R', 640, 320}, {"output_blocks.10.1", 'S', 320, 320},
    {"output_blocks.11.0", 'R', 640, 320}, {"output_blocks.11.1", 'S', 320, 320},
};

static void keys_sd15(key_list *l)
{
    l->n = 0;
    key_add(l, "time_embed", "0.weight", 1280, 320, 0, 0);
    key_add(l, "time_embed", "0.bias", 1280, 0, 0, 0);
    key_add(l, "time_embed", "2.weight", 1280, 1280, 0, 0);
    key_add(l, "time_embed", "2.bias", 1280, 0, 0, 0);
    key_add(l, "input_blocks.0.0", "weight", 320, 4, 3, 3);
    key_add(l, "input_blocks.0.0", "bias", 320, 0, 0, 0);
    for (size_t i = 0; i < sizeof SD15_TABLE / sizeof SD15_TABLE[0]; i++) {
        const char *m = SD15_TABLE[i].mod;
        int ci = SD15_TABLE[i].ci, co = SD15_TABLE[i].co;
        switch (SD15_TABLE[i].kind) {
        case 'R': keys_res(l, m, ci, co); break;
        case 'S': keys_st(l, m, co); break;
        case 'D': key_add(l, m, "op.weight", co, ci, 3, 3); key_add(l, m, "op.bias", co, 0, 0, 0); break;
        case 'U': key_add(l, m, "conv.weight", co, ci, 3, 3); key_add(l, m, "conv.bias", co, 0, 0, 0); break;
        }
    }
    key_add(l, "out", "0.weight", 320, 0, 0, 0);
    key_add(l, "out", "0.bias", 320, 0, 0, 0);
    key_add(l, "out", "2.weight", 4, 320, 3, 3);
    key_add(l, "out", "2.bias", 4, 0, 0, 0);
}

static void test_sd15_keys(void)
{
    static key_list want;
    keys_sd15(&want);
    CHECK_INT(want.n, SD15_KEYS);
    size_t total = 0;
    for (int i = 0; i < want.n; i++) {
        size_t n = 1;
        for (int d = 0; d < want.ndim[i]; d++)
            n *= (size_t)want.shape[i][d];
        total += n;
    }
    CHECK_INT(total, 859520964); /* the list itself is right */

    unet_config c;
    tg_error err = {0};
    CHECK_INT(unet_config_builtin(&c, "sd15", &err), 0);
    unet u;
    /* the weights are only reserved (never touched), so this costs address space, not memory */
    if (unet_build(&u, &K, &c, false, &err)) {
        fprintf(stderr, "  sd15 build: %s\n", err.msg);
        CHECK(0);
        return;
    }
    CHECK_INT(u.ps.n, SD15_KEYS);
    CHECK_INT(params_count(&u.ps), 859520964);
    int missing = 0;
    for (int i = 0; i < want.n; i++) {
        long j = params_find(&u.ps, want.name[i]);
        bool ok = j >= 0 && u.ps.p[j].ndim == want.ndim[i];
        for (int d = 0; ok && d < want.ndim[i]; d++)
            ok = u.ps.p[j].shape[d] == want.shape[i][d];
        if (!ok && missing++ < 5)
            fprintf(stderr, "  sd15: %s missing or of another shape\n", want.name[i]);
    }
    CHECK_INT(missing, 0);
    /* SD 1.5's flops at 64x64 (engines.md §3.5: 803.3 GFLOP) */
    CHECK_NEAR(unet_forward_flops(&u, 1, 64, 64, 77) / 1e9, 803.3, 0.1);

    /* kohya's 192 adapters, named after the diffusers tree */
    lora_set ls;
    lora_set_init(&ls);
    CHECK_INT(unet_lora_attach(&u, &ls, 4, 1), 0);
    CHECK_INT(ls.n, 192);
    bool in0 = false, up3 = false, mid = false;
    for (size_t i = 0; i < ls.n; i++) {
        in0 |= !strcmp(ls.m[i].name, "lora_unet_down_blocks_0_attentions_0_proj_in") && ls.m[i].conv1x1 &&
               ls.m[i].in == 320;
        up3 |= !strcmp(ls.m[i].name, "lora_unet_up_blocks_3_attentions_2_proj_out");
        mid |= !strcmp(ls.m[i].name, "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_v") &&
               ls.m[i].in == 768 && ls.m[i].out == 1280;
    }
    CHECK(in0 && up3 && mid);
    lora_set_free(&ls, &K);
    unet_free(&u, &K);
}

static void test_tiny(void)
{
    unet_config c;
    tg_error err = {0};
    CHECK_INT(unet_config_builtin(&c, "tiny", &err), 0);
    unet u;
    CHECK_INT(unet_build(&u, &K, &c, true, &err), 0);
    printf("NOTE unet tiny: %zu tensors, %zu parameters, forward %.0f MFLOP per 16x16 sample\n", u.ps.n,
           params_count(&u.ps), unet_forward_flops(&u, 1, 16, 16, 4) / 1e6);
    CHECK_INT(params_count(&u.ps), 1001828);
    CHECK(params_find(&u.ps, "model.diffusion_model.input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight") >= 0);
    CHECK(params_find(&u.ps, "model.diffusion_model.output_blocks.1.2.conv.weight") >= 0);
    CHECK(params_find(&u.ps, "model.diffusion_model.input_blocks.1.1.proj_in.weight") < 0); /* no attention at 16x16 */
    /* a new model predicts 0: its last conv starts at zero (LDM's zero_module) */
    CHECK_INT(unet_init(&u, &K, 7, &err), 0);
    tensor x = k_tensor4(&K, 2, 4, 16, 16), ctx = k_tensor4(&K, 2, 3, 64, 0), eps = k_tensor4(&K, 2, 4, 16, 16);
    k_rng r = {1, 0};
    k_randn(&K, &x, &r, 0, 1);
    k_randn(&K, &ctx, &r, 0, 1);
    float t[2] = {10, 900}, host[2 * 4 * 16 * 16];
    CHECK_INT(unet_forward(&u, &K, &eps, &x, t, &ctx, UNET_INFER, &err), 0);
    k_download(&K, &eps, host);
    double amax = 0;
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        amax = fmax(amax, fabs(host[i]));
    CHECK(amax == 0);
    k_tensor_free(&K, &x);
    k_tensor_free(&K, &ctx);
    k_tensor_free(&K, &eps);
    unet_free(&u, &K);
}

/* ---- configs ---- */

static const char *MICRO =
    "{\"in_channels\": 4, \"out_channels\": 3, \"model_channels\": 8, \"channel_mult\": [1, 2],"
    " \"num_res_blocks\": 1, \"attention_resolutions\": [1, 2], \"num_heads\": 2, \"transformer_depth\": 1,"
    " \"context_dim\": 6, \"norm_num_groups\": 4}";

/* For the adapters: transformers only at the second level and in the middle (4 of them). */
static const char *MICRO_LORA =
    "{\"in_channels\": 4, \"out_channels\": 3, \"model_channels\": 8, \"channel_mult\": [1, 2],"
    " \"num_res_blocks\": 1, \"attention_resolutions\": [2], \"num_heads\": 2, \"transformer_depth\": 1,"
    " \"context_dim\": 6, \"norm_num_groups\": 4}";

/* MICRO with one key replaced or added (value NULL: removed). */
static int config_try(const char *key, const char *value, tg_error *err)
{
    cJSON *o = cJSON_Parse(MICRO);
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    if (value)
        cJSON_AddItemToObject(o, key, cJSON_Parse(value));
    unet_config c;
    int rc = unet_config_from_json(&c, o, err);
    cJSON_Delete(o);
    return rc;
}

static void refused(const char *key, const char *value, const char *says)
{
    tg_error err = {0};
    int rc = config_try(key, value, &err);
    CHECK_INT(rc, -1);
    if (rc != -1 || !strstr(err.msg, says))
        fprintf(stderr, "  %s = %s: got \"%s\", expected \"%s\"\n", key, value ? value : "(removed)", err.msg, says);
    CHECK(strstr(err.msg, says) != NULL);
}

static void accepted(const char *key, const char *value)
{
    tg_error err = {0};
    int rc = config_try(key, value, &err);
    if (rc)
        fprintf(stderr, "  %s = %s refused: %s\n", key, value, err.msg);
    CHECK_INT(rc, 0);
}

static void test_config(void)
{
    accepted("image_size", "32");
    accepted("use_checkpoint", "true");
    accepted("use_spatial_transformer", "true");
    accepted("legacy", "false");
    accepted("num_heads_upsample", "-1");
    accepted("dropout", "0");
    accepted("num_head_channels", "4");      /* wins over num_heads, as in LDM */
    refused("norm_num_groups", NULL, "norm_num_groups: 32 groups do not divide the 8 channels");
    refused("frobnicate", "1", "frobnicate: not a unet_config key");
    refused("legacy", "true", "legacy: only false");
    refused("use_spatial_transformer", "false", "use_spatial_transformer: only true");
    refused("dropout", "0.1", "dropout: only 0");
    refused("num_heads_upsample", "4", "num_heads_upsample: only -1");
    refused("model_channels", "\"8\"", "model_channels: must be an integer");
    refused("model_channels", "8.5", "model_channels: must be an integer");
    refused("model_channels", "0", "model_channels: 0 (must be at least 1)");
    refused("in_channels", NULL, "in_channels: missing");
    refused("channel_mult", "2", "channel_mult: must be a list of integers");
    refused("channel_mult", "[2, 4]", "channel_mult: the first entry is 2");
    refused("channel_mult", "[]", "channel_mult: 0 levels");
    refused("attention_resolutions", "[16]", "attention_resolutions: 16 is not a downsampling factor");
    refused("attention_resolutions", "[1, \"2\"]", "attention_resolutions: entry 1 must be an integer");
    refused("num_heads", "3", "num_heads: 3 heads do not divide the 8 channels");
    refused("num_heads", "-1", "num_heads: one of num_heads or num_head_channels must be set");
    refused("num_head_channels", "3", "num_head_channels: 3 does not divide the 8 channels");
    refused("norm_num_groups", "3", "norm_num_groups: 3 groups do not divide the 8 channels");
    refused("transformer_depth", "[1, 1]", "transformer_depth: must be an integer");

    tg_error err = {0};
    unet_config c, back;
    CHECK_INT(unet_config_load(&c, "sd21", &err), -1);
    CHECK(strstr(err.msg, "not a built-in (sd15, tiny)") != NULL);
    /* a config written out reads back the same */
    CHECK_INT(unet_config_builtin(&c, "sd15", &err), 0);
    cJSON *j = unet_config_to_json(&c);
    CHECK_INT(unet_config_from_json(&back, j, &err), 0);
    CHECK(!memcmp(&c, &back, sizeof c));
    /* ... and from a file */
    char path[] = "/tmp/tagbench-unet-XXXXXX.json";
    int fd = mkstemps(path, 5);
    char *text = cJSON_Print(j);
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    CHECK_INT(unet_config_load(&back, path, &err), 0);
    CHECK(!memcmp(&c, &back, sizeof c));
    FILE *f = fopen(path, "w");
    fputs("{\"in_channels\": 4,", f);
    fclose(f);
    CHECK_INT(unet_config_load(&back, path, &err), -1);
    CHECK(strstr(err.msg, "not valid JSON") != NULL);
    unlink(path);
    free(text);
    cJSON_Delete(j);
}

/* ---- a micro model with random weights, inputs and loss weights ---- */

typedef struct micro {
    unet u;
    lora_set ls;
    int B, H, T;
    tensor x, ctx, eps, dx, dctx;
    float *hx, *hctx, *r, *heps;
    float t[4];
} micro;

static int micro_open(micro *m, const char *json, int B, int H, int T, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    tg_error err = {0};
    unet_config c;
    cJSON *o = cJSON_Parse(json);
    int rc = unet_config_from_json(&c, o, &err);
    cJSON_Delete(o);
    if (rc || unet_build(&m->u, &K, &c, true, &err)) {
        fprintf(stderr, "  micro: %s\n", err.msg);
        return -1;
    }
    /* every weight random and of a size that keeps activations O(1): zero-initialised convs would
     * hide whole branches from the check */
    float *w = m->u.ps.all_w.data;
    for (size_t i = 0; i < m->u.ps.n; i++) {
        param *p = &m->u.ps.p[i];
        size_t n = tensor_numel(&p->w);
        double fan = p->ndim == 1 ? 1 : (double)p->shape[1] * (p->ndim == 4 ? p->shape[2] * p->shape[3] : 1);
        float b = p->ndim == 1 ? 0.3f : (float)(1.5 / sqrt(fan));
        gc_fill(w + p->offset, n, &seed, -b, b);
        if (p->ndim == 1 && strstr(p->name, "norm") && strstr(p->name, "weight"))
            for (size_t j = 0; j < n; j++)
                w[p->offset + j] += 1;
    }
    const unet_config *cf = &m->u.cfg;
    m->B = B, m->H = H, m->T = T;
    m->x = k_tensor4(&K, B, cf->in_channels, H, H);
    m->dx = k_tensor4(&K, B, cf->in_channels, H, H);
    m->ctx = k_tensor4(&K, B, T, cf->context_dim, 0);
    m->dctx = k_tensor4(&K, B, T, cf->context_dim, 0);
    m->eps = k_tensor4(&K, B, cf->out_channels, H, H);
    m->hx = malloc(sizeof(float) * tensor_numel(&m->x));
    m->hctx = malloc(sizeof(float) * tensor_numel(&m->ctx));
    m->r = malloc(sizeof(float) * tensor_numel(&m->eps));
    m->heps = malloc(sizeof(float) * tensor_numel(&m->eps));
    gc_fill(m->hx, tensor_numel(&m->x), &seed, -1, 1);
    gc_fill(m->hctx, tensor_numel(&m->ctx), &seed, -1, 1);
    gc_fill(m->r, tensor_numel(&m->eps), &seed, -1, 1);
    for (int b = 0; b < B && b < 4; b++)
        m->t[b] = 37.5f + 311 * b; /* fractional steps too */
    k_upload(&K, &m->x, m->hx);
    k_upload(&K, &m->ctx, m->hctx);
    return 0;
}

static void micro_close(micro *m)
{
    tensor *ts[] = {&m->x, &m->ctx, &m->eps, &m->dx, &m->dctx};
    for (int i = 0; i < 5; i++)
        k_tensor_free(&K, ts[i]);
    free(m->hx);
    free(m->hctx);
    free(m->r);
    free(m->heps);
    unet_free(&m->u, &K);
    lora_set_free(&m->ls, &K);
}

/* L = sum(eps * r), reading x and context from the host copies (which the check perturbs). */
static double micro_loss(void *ctx)
{
    micro *m = ctx;
    tg_error err = {0};
    k_upload(&K, &m->x, m->hx);
    k_upload(&K, &m->ctx, m->hctx);
    if (unet_forward(&m->u, &K, &m->eps, &m->x, m->t, &m->ctx, UNET_INFER, &err)) {
        fprintf(stderr, "  forward: %s\n", err.msg);
        return NAN;
    }
    k_download(&K, &m->eps, m->heps);
    return gc_project(m->heps, m->r, tensor_numel(&m->eps));
}

/* One analytic pass: forward (UNET_TRAIN), backward with deps = r into zeroed gradients. */
static int micro_grads(micro *m)
{
    tg_error err = {0};
    tensor dy = k_tensor4(&K, m->eps.shape[0], m->eps.shape[1], m->eps.shape[2], m->eps.shape[3]);
    k_upload(&K, &dy, m->r);
    k_upload(&K, &m->x, m->hx);
    k_upload(&K, &m->ctx, m->hctx);
    if (m->u.ps.all_g.data)
        k_zero(&K, &m->u.ps.all_g);
    if (m->ls.ps.all_g.data)
        k_zero(&K, &m->ls.ps.all_g);
    k_zero(&K, &m->dx);
    k_zero(&K, &m->dctx);
    int rc = unet_forward(&m->u, &K, &m->eps, &m->x, m->t, &m->ctx, UNET_TRAIN, &err);
    if (!rc)
        rc = unet_backward(&m->u, &K, &dy, &m->dx, &m->dctx, &err);
    if (rc)
        fprintf(stderr, "  micro grads: %s\n", err.msg);
    k_tensor_free(&K, &dy);
    return rc;
}

static float *download(const tensor *t)
{
    float *h = malloc(sizeof(float) * tensor_numel(t));
    k_download(&K, t, h);
    return h;
}

#define FD_H 1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2

/* Every parameter tensor of ps: a few elements each. */
static int params_check(micro *m, params *ps, const char *what, size_t per_tensor)
{
    float *g = download(&ps->all_g), *w = ps->all_w.data;
    int bad = 0;
    for (size_t i = 0; i < ps->n; i++) {
        const param *p = &ps->p[i];
        gc_result r = gc_compare(w + p->offset, g + p->offset, tensor_numel(&p->w), micro_loss, m, FD_H,
                                 FD_ATOL, FD_RTOL, per_tensor);
        char name[200];
        snprintf(name, sizeof name, "%s %s", what, p->name);
        bad += !gc_ok(name, r);
    }
    free(g);
    return bad;
}

static void test_gradcheck(void)
{
    micro m;
    if (micro_open(&m, MICRO, 2, 8, 3, 11)) {
        CHECK(0);
        return;
    }
    CHECK_INT(micro_grads(&m), 0);
    float *dx = download(&m.dx), *dc = download(&m.dctx);
    CHECK(gc_ok("dx", gc_compare(m.hx, dx, tensor_numel(&m.x), micro_loss, &m, FD_H, FD_ATOL, FD_RTOL, 32)));
    CHECK(gc_ok("dcontext", gc_compare(m.hctx, dc, tensor_numel(&m.ctx), micro_loss, &m, FD_H, FD_ATOL, FD_RTOL, 24)));
    CHECK_INT(params_check(&m, &m.u.ps, "weight", 3), 0);
    free(dx);
    free(dc);
    micro_close(&m);
}

/* The frozen base gives the same input gradients and no weight gradient at all. */
static void test_frozen(void)
{
    micro m;
    if (micro_open(&m, MICRO, 2, 8, 3, 12)) {
        CHECK(0);
        return;
    }
    CHECK_INT(micro_grads(&m), 0);
    float *dx = download(&m.dx), *dc = download(&m.dctx);
    m.u.freeze_base = true;
    CHECK_INT(micro_grads(&m), 0);
    float *dx2 = download(&m.dx), *dc2 = download(&m.dctx), *g = download(&m.u.ps.all_g);
    CHECK(!memcmp(dx, dx2, sizeof(float) * tensor_numel(&m.dx)));
    CHECK(!memcmp(dc, dc2, sizeof(float) * tensor_numel(&m.dctx)));
    size_t nonzero = 0;
    for (size_t i = 0; i < m.u.ps.numel; i++)
        nonzero += g[i] != 0;
    CHECK_INT(nonzero, 0);
    free(dx), free(dc), free(dx2), free(dc2), free(g);
    micro_close(&m);
}

/* LoRA on every transformer linear and 1x1 conv: the adapters' gradients and dx against finite
 * differences, with the base frozen (up is set non-zero so that down's gradient is not 0). */
static void test_lora(void)
{
    micro m;
    tg_error err = {0};
    if (micro_open(&m, MICRO_LORA, 2, 8, 3, 13)) {
        CHECK(0);
        return;
    }
    lora_set_init(&m.ls);
    CHECK_INT(unet_lora_attach(&m.u, &m.ls, 2, 1), 0);
    CHECK_INT(m.ls.n, 4 * 12); /* 4 transformers (input_blocks.3, middle, output_blocks.0 and .1) */
    CHECK_INT(lora_alloc(&m.ls, &K, true, 5, &err), 0);
    uint64_t s = 99;
    gc_fill(m.ls.ps.all_w.data, m.ls.ps.numel, &s, -0.4f, 0.4f);
    float before = (float)micro_loss(&m);
    m.u.freeze_base = true;
    CHECK_INT(micro_grads(&m), 0);
    float *dx = download(&m.dx), *dc = download(&m.dctx);
    CHECK(gc_ok("lora dx", gc_compare(m.hx, dx, tensor_numel(&m.x), micro_loss, &m, FD_H, FD_ATOL, FD_RTOL, 24)));
    CHECK(gc_ok("lora dcontext", gc_compare(m.hctx, dc, tensor_numel(&m.ctx), micro_loss, &m, FD_H, FD_ATOL,
                                            FD_RTOL, 24)));
    CHECK_INT(params_check(&m, &m.ls.ps, "lora", 2), 0);
    /* multiplier 0 is the base model */
    m.ls.multiplier = 0;
    float off = (float)micro_loss(&m);
    m.ls.multiplier = 1;
    micro base;
    CHECK_INT(micro_open(&base, MICRO_LORA, 2, 8, 3, 13), 0);
    CHECK(off == (float)micro_loss(&base));
    CHECK(before != off);
    micro_close(&base);
    free(dx), free(dc);
    micro_close(&m);
}

/* Same inputs, same bits: twice in a row, UNET_INFER against UNET_TRAIN, and across thread counts
 * (where only OpenBLAS's GEMMs may differ in the last bits). */
static void test_determinism(void)
{
    micro m;
    if (micro_open(&m, MICRO, 2, 8, 3, 14)) {
        CHECK(0);
        return;
    }
    size_t n = tensor_numel(&m.eps);
    CHECK_INT(micro_grads(&m), 0);
    float *train = download(&m.eps), *dx1 = download(&m.dx), *g1 = download(&m.u.ps.all_g);
    CHECK_INT(micro_grads(&m), 0);
    float *dx2 = download(&m.dx), *g2 = download(&m.u.ps.all_g);
    CHECK(!memcmp(dx1, dx2, sizeof(float) * tensor_numel(&m.dx)));
    CHECK(!memcmp(g1, g2, sizeof(float) * m.u.ps.numel));
    micro_loss(&m);
    CHECK(!memcmp(train, m.heps, sizeof(float) * n));

    /* the model's memory is the CPU backend's host memory, which any CPU context can use */
    k_free_ctx(&K);
    CHECK_INT(k_init(&K, "cpu", 2), 0);
    CHECK_INT(micro_grads(&m), 0);
    float *dx3 = download(&m.dx), *g3 = download(&m.u.ps.all_g), *eps3 = download(&m.eps);
    k_free_ctx(&K);
    CHECK_INT(k_init(&K, "cpu", 1), 0);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(eps3[i] - train[i]) / (1e-3 + fabs(train[i])));
    for (size_t i = 0; i < tensor_numel(&m.dx); i++)
        worst = fmax(worst, fabs(dx3[i] - dx1[i]) / (1e-3 + fabs(dx1[i])));
    for (size_t i = 0; i < m.u.ps.numel; i++)
        worst = fmax(worst, fabs(g3[i] - g1[i]) / (1e-3 + fabs(g1[i])));
    printf("NOTE unet: 1 vs 2 threads, largest relative difference of eps, dx and weight gradients %.2g\n", worst);
    CHECK(worst < 1e-4);
    free(train), free(dx1), free(g1), free(dx2), free(g2), free(dx3), free(g3), free(eps3);
    micro_close(&m);
}

/* Weights written with the project's writer load back by name into a fresh model. */
static void test_weights_roundtrip(void)
{
    micro a, b;
    tg_error err = {0};
    CHECK_INT(micro_open(&a, MICRO, 1, 4, 2, 21), 0);
    CHECK_INT(micro_open(&b, MICRO, 1, 4, 2, 22), 0);
    char path[] = "/tmp/tagbench-unet-XXXXXX.safetensors";
    int fd = mkstemps(path, 12);
    close(fd);
    st_writer *w = st_writer_new();
    float *hold = NULL;
    CHECK_INT(params_write(&a.u.ps, &K, w, ST_F32, &hold, &err), 0);
    CHECK_INT(st_writer_save(w, path, &err), 0);
    st_writer_free(w);
    free(hold);
    st_file *f = st_open(path, &err);
    CHECK(f != NULL);
    CHECK_INT(params_load(&b.u.ps, &K, f, &err), 0);
    st_close(f);
    unlink(path);
    memcpy(b.hx, a.hx, sizeof(float) * tensor_numel(&a.x));
    memcpy(b.hctx, a.hctx, sizeof(float) * tensor_numel(&a.ctx));
    micro_loss(&a);
    micro_loss(&b);
    CHECK(!memcmp(a.heps, b.heps, sizeof(float) * tensor_numel(&a.eps)));
    micro_close(&a);
    micro_close(&b);
}

static void test_refusals(void)
{
    micro m;
    tg_error err = {0};
    CHECK_INT(micro_open(&m, MICRO, 1, 4, 2, 31), 0);
    tensor deps = k_tensor4(&K, 1, 3, 4, 4);
    CHECK_INT(unet_backward(&m.u, &K, &deps, NULL, NULL, &err), -1);
    CHECK(strstr(err.msg, "no UNET_TRAIN forward") != NULL);
    tensor odd = k_tensor4(&K, 1, 4, 5, 4), eps = k_tensor4(&K, 1, 3, 5, 4);
    CHECK_INT(unet_forward(&m.u, &K, &eps, &odd, m.t, &m.ctx, UNET_INFER, &err), -1);
    CHECK(strstr(err.msg, "multiples of 2") != NULL);
    tensor ctx = k_tensor4(&K, 1, 2, 5, 0);
    CHECK_INT(unet_forward(&m.u, &K, &m.eps, &m.x, m.t, &ctx, UNET_INFER, &err), -1);
    CHECK(strstr(err.msg, "context must be (1, T, 6)") != NULL);
    CHECK_INT(unet_forward(&m.u, &K, &m.eps, &m.x, m.t, &m.ctx, UNET_TRAIN, &err), 0);
    tensor wrong = k_tensor4(&K, 1, 4, 4, 4);
    CHECK_INT(unet_backward(&m.u, &K, &wrong, NULL, NULL, &err), -1);
    CHECK(strstr(err.msg, "deps must be (1, 3, 4, 4)") != NULL);
    k_tensor_free(&K, &deps), k_tensor_free(&K, &odd), k_tensor_free(&K, &eps);
    k_tensor_free(&K, &ctx), k_tensor_free(&K, &wrong);
    micro_close(&m);
}

/* A config file is a file whatever its name: one without an extension, or named like a built-in,
 * is read, not taken for a built-in name; a missing path says "cannot open". */
static void test_config_file_names(void)
{
    char dir[] = "/tmp/tagbench-unetcfg-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/tiny", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("{\"in_channels\": 4, \"out_channels\": 4, \"model_channels\": 8, \"channel_mult\": [1, 2], "
          "\"num_res_blocks\": 1, \"attention_resolutions\": [2], \"num_heads\": 2, "
          "\"transformer_depth\": 1, \"context_dim\": 6, \"norm_num_groups\": 4}", f);
    fclose(f);
    unet_config c;
    tg_error err;
    CHECK_INT(unet_config_load(&c, path, &err), 0);
    CHECK_INT(c.model_channels, 8); /* the file's, not the built-in tiny's 32 */
    CHECK_INT(c.context_dim, 6);
    snprintf(path, sizeof path, "%s/missing.json", dir);
    CHECK(unet_config_load(&c, path, &err) < 0);
    CHECK(strstr(err.msg, "cannot open") != NULL);
    snprintf(path, sizeof path, "%s/tiny", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    /* one thread: at these sizes a pool's hand-offs cost more than the work (the determinism
     * test compares with two) */
    if (k_init(&K, "cpu", 1)) {
        fprintf(stderr, "%s\n", K.msg);
        return 1;
    }
    RUN(test_sd15_keys);
    RUN(test_tiny);
    RUN(test_config);
    RUN(test_config_file_names);
    RUN(test_gradcheck);
    RUN(test_frozen);
    RUN(test_lora);
    RUN(test_determinism);
    RUN(test_weights_roundtrip);
    RUN(test_refusals);
    k_free_ctx(&K);
    return check_finish();
}
