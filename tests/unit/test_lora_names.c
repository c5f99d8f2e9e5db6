/* LoRA module names: kohya's names for every SD 1.5 UNet and text-encoder module (known names from
 * reference/trainers.md §5.3 and the diffusers conversion tables, structure, the inverse), for a
 * small layout, and the modules that have none. (test_lora.c tests the adapters themselves.) */
#include "tests/unit/check.h"
#include "trainer/lora_names.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- module lists ---- */

typedef struct names {
    char **s;
    size_t n, cap;
} names;

static void names_add(names *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void names_add(names *v, const char *fmt, ...)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->s = realloc(v->s, sizeof *v->s * v->cap);
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&v->s[v->n], fmt, ap) >= 0)
        v->n++;
    va_end(ap);
}

static void names_free(names *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->s[i]);
    free(v->s);
    memset(v, 0, sizeof *v);
}

static void add_attn(names *v, const char *block, int depth)
{
    static const char *const per_block[] = {"attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
                                            "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0",
                                            "ff.net.0.proj", "ff.net.2"};
    names_add(v, "model.diffusion_model.%s.proj_in", block);
    for (int d = 0; d < depth; d++)
        for (int i = 0; i < 10; i++)
            names_add(v, "model.diffusion_model.%s.transformer_blocks.%d.%s", block, d, per_block[i]);
    names_add(v, "model.diffusion_model.%s.proj_out", block);
}

static void add_res(names *v, const char *block, bool shortcut)
{
    names_add(v, "model.diffusion_model.%s.in_layers.2", block);
    names_add(v, "model.diffusion_model.%s.out_layers.3", block);
    names_add(v, "model.diffusion_model.%s.emb_layers.1", block);
    if (shortcut)
        names_add(v, "model.diffusion_model.%s.skip_connection", block);
}

/* Every module of an LDM UNet that kohya's LoRA can wrap, generated from the layout the way
 * openaimodel.py builds the blocks: attention modules, and with convs the ResBlock, Downsample and
 * Upsample layers (a ResBlock has a 1x1 shortcut where its channels change). */
static void unet_modules(const unet_layout *lay, const int *mult, int depth, bool convs, names *v)
{
    char b[64];
    int R = lay->num_res_blocks, n = lay->n_levels, idx = 1, j = 0;
    for (int L = 0; L < n; L++) {
        for (int r = 0; r < R; r++, idx++) {
            snprintf(b, sizeof b, "input_blocks.%d.0", idx);
            if (convs)
                add_res(v, b, r == 0 && L > 0 && mult[L] != mult[L - 1]);
            snprintf(b, sizeof b, "input_blocks.%d.1", idx);
            if ((lay->attn_levels >> L) & 1)
                add_attn(v, b, depth);
        }
        if (L < n - 1 && convs)
            names_add(v, "model.diffusion_model.input_blocks.%d.0.op", idx);
        idx += L < n - 1;
    }
    if (convs) {
        add_res(v, "middle_block.0", false);
        add_res(v, "middle_block.2", false);
    }
    add_attn(v, "middle_block.1", depth);
    for (int L = n - 1; L >= 0; L--)
        for (int r = 0; r <= R; r++, j++) {
            int sub = 1;
            snprintf(b, sizeof b, "output_blocks.%d.0", j);
            if (convs)
                add_res(v, b, true); /* the skip concatenation always changes the channels */
            if ((lay->attn_levels >> L) & 1) {
                snprintf(b, sizeof b, "output_blocks.%d.1", j);
                add_attn(v, b, depth);
                sub = 2;
            }
            if (convs && r == R && L > 0)
                names_add(v, "model.diffusion_model.output_blocks.%d.%d.conv", j, sub);
        }
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Maps every module, checks the names are unique and carry prefix, and that the inverse gives
 * the module back; the kohya names go to out (when not NULL). */
static void check_map(const names *v, const unet_layout *lay, const char *prefix, names *out)
{
    char name[LORA_NAME_MAX], back[256];
    names got = {0};
    for (size_t i = 0; i < v->n; i++) {
        int rc = lay ? lora_name_unet(v->s[i], lay, name, sizeof name) : lora_name_clip(v->s[i], name, sizeof name);
        if (rc != 0) {
            fprintf(stderr, "  no name for %s\n", v->s[i]);
            CHECK_INT(rc, 0);
            continue;
        }
        CHECK(starts(name, prefix));
        CHECK(!strchr(name, '.'));
        CHECK_INT(lora_name_to_ldm(name, lay, back, sizeof back), 0);
        CHECK_STR(back, v->s[i]);
        names_add(&got, "%s", name);
    }
    for (size_t i = 0; i < got.n; i++)
        for (size_t k = i + 1; k < got.n; k++)
            if (!strcmp(got.s[i], got.s[k])) {
                fprintf(stderr, "  %s twice\n", got.s[i]);
                CHECK(0);
            }
    if (out)
        *out = got;
    else
        names_free(&got);
}

static void expect_unet(const unet_layout *lay, const char *ldm, const char *kohya)
{
    char name[LORA_NAME_MAX] = "", back[256] = "";
    if (!kohya) {
        if (lora_name_unet(ldm, lay, name, sizeof name) != -1) {
            fprintf(stderr, "  %s should have no name, got %s\n", ldm, name);
            CHECK(0);
        }
        return;
    }
    CHECK_INT(lora_name_unet(ldm, lay, name, sizeof name), 0);
    CHECK_STR(name, kohya);
    CHECK_INT(lora_name_to_ldm(kohya, lay, back, sizeof back), 0);
    CHECK_STR(back + (starts(ldm, "model.") ? 0 : strlen("model.diffusion_model.")), ldm);
}

static const int SD15_MULT[] = {1, 2, 4, 4};

static void test_names_sd15_unet(void)
{
    unet_layout lay = UNET_LAYOUT_SD15;
    names v = {0}, got = {0};
    unet_modules(&lay, SD15_MULT, 1, false, &v);
    CHECK_INT(v.n, 192);
    check_map(&v, &lay, "lora_unet_", &got);
    CHECK_INT(got.n, 192);
    /* 16 transformers: down_blocks 0-2 x 2, mid_block 1, up_blocks 1-3 x 3, 12 modules each */
    names blocks = {0};
    for (int b = 0; b < 3; b++)
        for (int a = 0; a < 2; a++)
            names_add(&blocks, "lora_unet_down_blocks_%d_attentions_%d_", b, a);
    names_add(&blocks, "lora_unet_mid_block_attentions_0_");
    for (int b = 1; b < 4; b++)
        for (int a = 0; a < 3; a++)
            names_add(&blocks, "lora_unet_up_blocks_%d_attentions_%d_", b, a);
    CHECK_INT(blocks.n, 16);
    size_t total = 0;
    for (size_t i = 0; i < blocks.n; i++) {
        int in_block = 0;
        for (size_t k = 0; k < got.n; k++)
            in_block += starts(got.s[k], blocks.s[i]);
        CHECK_INT(in_block, 12);
        total += (size_t)in_block;
    }
    CHECK_INT(total, 192);
    names_free(&blocks);
    names_free(&got);
    names_free(&v);

    const char *const known[][2] = { /* trainers.md §5.3, and the diffusers block numbering */
        {"input_blocks.1.1.proj_in", "lora_unet_down_blocks_0_attentions_0_proj_in"},
        {"input_blocks.1.1.transformer_blocks.0.attn1.to_q",
         "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"},
        {"input_blocks.1.1.transformer_blocks.0.attn2.to_k",
         "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"},
        {"input_blocks.1.1.transformer_blocks.0.attn1.to_out.0",
         "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0"},
        {"input_blocks.1.1.transformer_blocks.0.ff.net.0.proj",
         "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_0_proj"},
        {"input_blocks.1.1.transformer_blocks.0.ff.net.2",
         "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_2"},
        {"middle_block.1.transformer_blocks.0.attn2.to_v",
         "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_v"},
        {"output_blocks.11.1.proj_out", "lora_unet_up_blocks_3_attentions_2_proj_out"},
        {"model.diffusion_model.input_blocks.2.1.proj_in", "lora_unet_down_blocks_0_attentions_1_proj_in"},
        {"input_blocks.4.1.proj_out", "lora_unet_down_blocks_1_attentions_0_proj_out"},
        {"input_blocks.8.1.proj_in", "lora_unet_down_blocks_2_attentions_1_proj_in"},
        {"output_blocks.3.1.proj_in", "lora_unet_up_blocks_1_attentions_0_proj_in"},
        {"output_blocks.5.1.proj_in", "lora_unet_up_blocks_1_attentions_2_proj_in"},
        {"output_blocks.6.1.proj_in", "lora_unet_up_blocks_2_attentions_0_proj_in"},
        /* conv_dim (LoCon) modules */
        {"input_blocks.1.0.in_layers.2", "lora_unet_down_blocks_0_resnets_0_conv1"},
        {"input_blocks.4.0.skip_connection", "lora_unet_down_blocks_1_resnets_0_conv_shortcut"},
        {"input_blocks.11.0.out_layers.3", "lora_unet_down_blocks_3_resnets_1_conv2"},
        {"input_blocks.3.0.op", "lora_unet_down_blocks_0_downsamplers_0_conv"},
        {"input_blocks.9.0.op", "lora_unet_down_blocks_2_downsamplers_0_conv"},
        {"middle_block.0.in_layers.2", "lora_unet_mid_block_resnets_0_conv1"},
        {"middle_block.2.emb_layers.1", "lora_unet_mid_block_resnets_1_time_emb_proj"},
        {"output_blocks.0.0.out_layers.3", "lora_unet_up_blocks_0_resnets_0_conv2"},
        {"output_blocks.2.1.conv", "lora_unet_up_blocks_0_upsamplers_0_conv"},
        {"output_blocks.5.2.conv", "lora_unet_up_blocks_1_upsamplers_0_conv"},
        {"output_blocks.8.2.conv", "lora_unet_up_blocks_2_upsamplers_0_conv"},
        {"output_blocks.11.0.skip_connection", "lora_unet_up_blocks_3_resnets_2_conv_shortcut"},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        expect_unet(&lay, known[i][0], known[i][1]);
}

/* With conv_dim kohya wraps 278 UNet modules: +50 3x3 convs, +22 time_emb_proj, +14 shortcuts. */
static void test_names_sd15_convs(void)
{
    unet_layout lay = UNET_LAYOUT_SD15;
    names v = {0};
    unet_modules(&lay, SD15_MULT, 1, true, &v);
    CHECK_INT(v.n, 278);
    int shortcuts = 0, emb = 0;
    for (size_t i = 0; i < v.n; i++) {
        shortcuts += strstr(v.s[i], "skip_connection") != NULL;
        emb += strstr(v.s[i], "emb_layers") != NULL;
    }
    CHECK_INT(shortcuts, 14);
    CHECK_INT(emb, 22);
    check_map(&v, &lay, "lora_unet_", NULL);
    names_free(&v);
}

static void test_names_refused(void)
{
    unet_layout lay = UNET_LAYOUT_SD15;
    const char *const none[] = {
        "input_blocks.1.1.norm", "input_blocks.1.1.transformer_blocks.0.norm1",
        "input_blocks.1.0.in_layers.0", "input_blocks.0.0", "time_embed.0", "out.2",
        "input_blocks.12.0.in_layers.2", "input_blocks.10.1.proj_in", "input_blocks.3.1.proj_in",
        "output_blocks.1.1.proj_in", "output_blocks.3.1.conv", "output_blocks.11.2.conv",
        "output_blocks.2.2.conv", "output_blocks.12.0.in_layers.2", "middle_block.3.in_layers.2",
        "input_blocks.01.1.proj_in", "input_blocks.1.1.proj_in.weight",
        "input_blocks.1.1.transformer_blocks.0.attn1.to_out", "input_blocks.3.0.conv",
        "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj", "", "input_blocks",
    };
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        expect_unet(&lay, none[i], NULL);
    char small[12];
    CHECK_INT(lora_name_unet("input_blocks.1.1.proj_in", &lay, small, sizeof small), -1);
    CHECK_INT(lora_name_unet("input_blocks.1.1.proj_in", &(unet_layout){0, 4, 7}, small, sizeof small), -1);
    char back[256];
    const char *const bad[] = {
        "lora_unet_down_blocks_3_attentions_0_proj_in", "lora_unet_up_blocks_0_attentions_0_proj_in",
        "lora_unet_down_blocks_3_downsamplers_0_conv", "lora_unet_up_blocks_3_upsamplers_0_conv",
        "lora_unet_down_blocks_0_attentions_2_proj_in", "lora_unet_up_blocks_1_attentions_3_proj_in",
        "lora_unet_down_blocks_0_attentions_0_norm", "lora_unet_mid_block_attentions_1_proj_in",
        "lora_unet_mid_block_resnets_2_conv1", "lora_unet_down_blocks_4_resnets_0_conv1",
        "lora_unet_down_blocks_0_attentions_0_proj_in_", "lora_te_text_model_encoder_layers_0_layer_norm1",
        "lora_te1_text_model_encoder_layers_0_mlp_fc1", "lora_unet_down_blocks_0_attentions_00_proj_in",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (lora_name_to_ldm(bad[i], &lay, back, sizeof back) != -1) {
            fprintf(stderr, "  %s should not map, got %s\n", bad[i], back);
            CHECK(0);
        }
}

/* channel_mult [1,2,2], num_res_blocks 1, attention at levels 1 and 2 only, depth 2. */
static void test_names_small_layout(void)
{
    unet_layout lay = {.num_res_blocks = 1, .n_levels = 3, .attn_levels = 0x6};
    names v = {0};
    unet_modules(&lay, (const int[]){1, 2, 2}, 2, true, &v);
    check_map(&v, &lay, "lora_unet_", NULL);
    names_free(&v);
    const char *const known[][2] = {
        {"input_blocks.1.0.in_layers.2", "lora_unet_down_blocks_0_resnets_0_conv1"},
        {"input_blocks.1.1.proj_in", NULL},
        {"input_blocks.2.0.op", "lora_unet_down_blocks_0_downsamplers_0_conv"},
        {"input_blocks.3.1.transformer_blocks.1.attn1.to_q",
         "lora_unet_down_blocks_1_attentions_0_transformer_blocks_1_attn1_to_q"},
        {"input_blocks.5.1.proj_in", "lora_unet_down_blocks_2_attentions_0_proj_in"},
        {"input_blocks.6.0.in_layers.2", NULL},
        {"output_blocks.0.1.proj_in", "lora_unet_up_blocks_0_attentions_0_proj_in"},
        {"output_blocks.1.2.conv", "lora_unet_up_blocks_0_upsamplers_0_conv"},
        {"output_blocks.1.1.conv", NULL},
        {"output_blocks.3.2.conv", "lora_unet_up_blocks_1_upsamplers_0_conv"},
        {"output_blocks.4.1.proj_in", NULL},
        {"output_blocks.5.1.conv", NULL},
        {"output_blocks.5.0.skip_connection", "lora_unet_up_blocks_2_resnets_1_conv_shortcut"},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        expect_unet(&lay, known[i][0], known[i][1]);
}

static void test_names_clip(void)
{
    static const char *const parts[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                        "self_attn.out_proj", "mlp.fc1", "mlp.fc2"};
    names v = {0};
    for (int l = 0; l < 12; l++)
        for (int p = 0; p < 6; p++)
            names_add(&v, "cond_stage_model.transformer.text_model.encoder.layers.%d.%s", l, parts[p]);
    CHECK_INT(v.n, 72);
    check_map(&v, NULL, "lora_te_text_model_encoder_layers_", NULL);
    names_free(&v);
    char name[LORA_NAME_MAX];
    CHECK_INT(lora_name_clip("cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj",
                             name, sizeof name), 0);
    CHECK_STR(name, "lora_te_text_model_encoder_layers_0_self_attn_q_proj");
    CHECK_INT(lora_name_clip("text_model.encoder.layers.11.mlp.fc1", name, sizeof name), 0);
    CHECK_STR(name, "lora_te_text_model_encoder_layers_11_mlp_fc1");
    CHECK_INT(lora_name_clip("text_model.encoder.layers.11.mlp.fc2", name, sizeof name), 0);
    CHECK_STR(name, "lora_te_text_model_encoder_layers_11_mlp_fc2");
    const char *const none[] = {"text_model.embeddings.token_embedding", "text_model.final_layer_norm",
                                "text_model.encoder.layers.0.layer_norm1", "text_model.encoder.layers.0.mlp",
                                "text_model.encoder.layers.x.mlp.fc1", "model.diffusion_model.input_blocks.1.1.proj_in"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        CHECK_INT(lora_name_clip(none[i], name, sizeof name), -1);
}

int main(void)
{
    RUN(test_names_sd15_unet);
    RUN(test_names_sd15_convs);
    RUN(test_names_refused);
    RUN(test_names_small_layout);
    RUN(test_names_clip);
    return check_finish();
}
