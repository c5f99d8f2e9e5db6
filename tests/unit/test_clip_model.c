/* The CLIP text encoder: sd15's exact key set, shapes and parameter count; config refusals; the
 * forward against a double-precision reference (clip_reference.h); the whole backward against
 * finite differences (every weight tensor, every element, and grad_embeds) for clip_skip 1 and 2
 * on a micro config; causality; frozen vs full mode; determinism; save/load with position_ids;
 * input refusals; LoRA adapters (names, a zero adapter changes nothing, their gradients by FD). */
#include "trainer/clip_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/check.h"
#include "tests/unit/clip_reference.h"
#include "tests/unit/gradcheck.h"

static kctx K;

/* vocab 11, hidden 8, 2 layers, 2 heads, intermediate 12, 6 positions (one more than T: its row
 * must get no gradient). */
static const clip_config MICRO = {
    .vocab_size = 11, .hidden_size = 8, .intermediate_size = 12, .num_hidden_layers = 2,
    .num_attention_heads = 2, .max_position_embeddings = 6, .layer_norm_eps = 1e-5f,
    .hidden_act = K_QUICK_GELU, .bos_token_id = 1, .eos_token_id = 2, .pad_token_id = 0,
};
enum { MB = 2, MT = 5 };
/* Repeated ids (the scatter-add), id 10 never used (its row's gradient is 0). */
static const int32_t MICRO_IDS[MB * MT] = {1, 3, 4, 3, 2, 1, 9, 5, 5, 0};

static bool has(const char *s, const char *part)
{
    return s && strstr(s, part);
}

/* ---- sd15: keys, shapes, count ---- */

static bool key_expect(const clip *m, const char *name, int64_t d0, int64_t d1, int *seen)
{
    long i = params_find(&m->ps, name);
    if (i < 0) {
        fprintf(stderr, "  missing key %s\n", name);
        return false;
    }
    const param *p = &m->ps.p[i];
    (*seen)++;
    return p->ndim == (d1 ? 2 : 1) && p->shape[0] == d0 && (!d1 || p->shape[1] == d1);
}

static void test_sd15_keys(void)
{
    clip_config c;
    tg_error err = {0};
    CHECK_INT(clip_config_builtin(&c, "sd15", &err), 0);
    clip m;
    CHECK_INT(clip_build(&m, &K, &c, false, &err), 0);
    CHECK_INT(params_count(&m.ps), 123060480);
    CHECK_INT(m.ps.n, 196);
    const char *P = "cond_stage_model.transformer.text_model.";
    char name[256];
    int seen = 0;
    snprintf(name, sizeof name, "%sembeddings.token_embedding.weight", P);
    CHECK(key_expect(&m, name, 49408, 768, &seen));
    snprintf(name, sizeof name, "%sembeddings.position_embedding.weight", P);
    CHECK(key_expect(&m, name, 77, 768, &seen));
    snprintf(name, sizeof name, "%sfinal_layer_norm.weight", P);
    CHECK(key_expect(&m, name, 768, 0, &seen));
    snprintf(name, sizeof name, "%sfinal_layer_norm.bias", P);
    CHECK(key_expect(&m, name, 768, 0, &seen));
    const char *proj[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (int l = 0; l < 12; l++) {
        for (int j = 0; j < 4; j++) {
            snprintf(name, sizeof name, "%sencoder.layers.%d.self_attn.%s.weight", P, l, proj[j]);
            CHECK(key_expect(&m, name, 768, 768, &seen));
            snprintf(name, sizeof name, "%sencoder.layers.%d.self_attn.%s.bias", P, l, proj[j]);
            CHECK(key_expect(&m, name, 768, 0, &seen));
        }
        for (int j = 1; j <= 2; j++) {
            snprintf(name, sizeof name, "%sencoder.layers.%d.layer_norm%d.weight", P, l, j);
            CHECK(key_expect(&m, name, 768, 0, &seen));
            snprintf(name, sizeof name, "%sencoder.layers.%d.layer_norm%d.bias", P, l, j);
            CHECK(key_expect(&m, name, 768, 0, &seen));
        }
        snprintf(name, sizeof name, "%sencoder.layers.%d.mlp.fc1.weight", P, l);
        CHECK(key_expect(&m, name, 3072, 768, &seen));
        snprintf(name, sizeof name, "%sencoder.layers.%d.mlp.fc1.bias", P, l);
        CHECK(key_expect(&m, name, 3072, 0, &seen));
        snprintf(name, sizeof name, "%sencoder.layers.%d.mlp.fc2.weight", P, l);
        CHECK(key_expect(&m, name, 768, 3072, &seen));
        snprintf(name, sizeof name, "%sencoder.layers.%d.mlp.fc2.bias", P, l);
        CHECK(key_expect(&m, name, 768, 0, &seen));
    }
    CHECK_INT(seen, 196); /* every key expected, and (count above) no other */
    CHECK(params_find(&m.ps, "cond_stage_model.transformer.text_model.embeddings.position_ids") < 0);
    clip_free(&m, &K);
}

/* ---- configs ---- */

/* stable-diffusion-v1-5/text_encoder/config.json, as diffusers ships it. */
static const char SD15_JSON[] =
    "{\"_name_or_path\": \"openai/clip-vit-large-patch14\", \"architectures\": [\"CLIPTextModel\"],"
    " \"attention_dropout\": 0.0, \"bos_token_id\": 0, \"dropout\": 0.0, \"eos_token_id\": 2,"
    " \"hidden_act\": \"quick_gelu\", \"hidden_size\": 768, \"initializer_factor\": 1.0,"
    " \"initializer_range\": 0.02, \"intermediate_size\": 3072, \"layer_norm_eps\": 1e-05,"
    " \"max_position_embeddings\": 77, \"model_type\": \"clip_text_model\", \"num_attention_heads\": 12,"
    " \"num_hidden_layers\": 12, \"pad_token_id\": 1, \"projection_dim\": 768, \"torch_dtype\": \"float32\","
    " \"transformers_version\": \"4.22.0.dev0\", \"vocab_size\": 49408}";

static void test_config(void)
{
    clip_config c, sd;
    tg_error err = {0};
    CHECK_INT(clip_config_builtin(&sd, "sd15", &err), 0);
    CHECK_INT(clip_config_parse(&c, SD15_JSON, "config.json", &err), 0);
    CHECK(c.hidden_size == sd.hidden_size && c.intermediate_size == sd.intermediate_size &&
          c.num_hidden_layers == sd.num_hidden_layers && c.num_attention_heads == sd.num_attention_heads &&
          c.vocab_size == sd.vocab_size && c.max_position_embeddings == sd.max_position_embeddings &&
          c.layer_norm_eps == sd.layer_norm_eps && c.hidden_act == K_QUICK_GELU);
    CHECK(c.bos_token_id == 0 && c.eos_token_id == 2 && c.pad_token_id == 1);
    /* a whole CLIPConfig reads its text_config; missing keys take HF's defaults */
    CHECK_INT(clip_config_parse(&c, "{\"text_config\": {\"hidden_size\": 64, \"num_attention_heads\": 4,"
                                    " \"hidden_act\": \"gelu\"}, \"logit_scale_init_value\": 2.6592}",
                                "clip.json", &err), 0);
    CHECK(c.hidden_size == 64 && c.num_attention_heads == 4 && c.hidden_act == K_GELU &&
          c.intermediate_size == 2048 && c.num_hidden_layers == 12 && c.bos_token_id == -1);
    CHECK_INT(clip_config_builtin(&c, "tiny", &err), 0);
    CHECK(c.vocab_size == 0 && c.hidden_size == 64 && c.num_hidden_layers == 2 && c.num_attention_heads == 4);
    clip m;
    CHECK_INT(clip_build(&m, &K, &c, false, &err), -1);
    CHECK(has(err.msg, "vocab_size") && has(err.msg, "tag tokenizer"));
    c.vocab_size = 40;
    CHECK_INT(clip_build(&m, &K, &c, true, &err), 0);
    clip_free(&m, &K);
    CHECK_INT(clip_config_builtin(&c, "sd21", &err), -1);
    CHECK(has(err.msg, "sd21"));
    CHECK_INT(clip_config_load(&c, "sd15", &err), 0);
    CHECK_INT(c.hidden_size, 768);
    CHECK_INT(clip_config_load(&c, "/nonexistent/clip.json", &err), -1);
    CHECK(has(err.msg, "/nonexistent/clip.json"));

    struct { const char *json, *want1, *want2; } bad[] = {
        {"{\"hidden_sizee\": 768}", "hidden_sizee", "unknown key"},
        {"{\"hidden_size\": \"768\"}", "hidden_size", "integer"},
        {"{\"hidden_size\": 770}", "hidden_size 770", "num_attention_heads 8"},
        {"{\"num_hidden_layers\": 1.5}", "num_hidden_layers", "integer"},
        {"{\"num_hidden_layers\": 0}", "num_hidden_layers", ">= 1"},
        {"{\"vocab_size\": -3}", "vocab_size", "-3"},
        {"{\"layer_norm_eps\": -1e-5}", "layer_norm_eps", "> 0"},
        {"{\"layer_norm_eps\": \"tiny\"}", "layer_norm_eps", "tiny"},
        {"{\"hidden_act\": \"relu\"}", "hidden_act", "relu"},
        {"{\"pad_token_id\": 50000}", "pad_token_id 50000", "vocab_size 49408"},
        {"{\"bos_token_id\": -2}", "bos_token_id", "-2"},
        {"{\"hidden_size\": 768,", "not valid JSON", "cfg.json"},
        {"[1, 2]", "cfg.json", "object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        c = sd;
        err.msg[0] = '\0';
        CHECK_INT(clip_config_parse(&c, bad[i].json, "cfg.json", &err), -1);
        CHECK(c.hidden_size == sd.hidden_size); /* untouched on failure */
        if (!has(err.msg, bad[i].want1) || !has(err.msg, bad[i].want2) || !has(err.msg, "cfg.json")) {
            fprintf(stderr, "  FAIL config %s: message \"%s\"\n", bad[i].json, err.msg);
            check_current_failed++;
        }
    }
}

/* ---- the micro model ---- */

/* Random weights; layer norm gains near 1 so that the layers stay well conditioned. */
static void micro_weights(clip *m, uint64_t seed)
{
    float *host = malloc(sizeof *host * params_count(&m->ps));
    gc_fill(host, params_count(&m->ps), &seed, -0.6f, 0.6f);
    for (size_t i = 0; i < m->ps.n; i++)
        if (strstr(m->ps.p[i].name, "norm") && strstr(m->ps.p[i].name, ".weight"))
            for (size_t j = 0; j < tensor_numel(&m->ps.p[i].w); j++)
                host[m->ps.p[i].offset + j] += 1.0f;
    k_upload(&K, &m->ps.all_w, host);
    free(host);
}

static tensor host_tensor3(int64_t a, int64_t b, int64_t c, const float *host)
{
    tensor t = k_tensor4(&K, a, b, c, 0);
    if (host)
        k_upload(&K, &t, host);
    return t;
}

static float *download(const tensor *t)
{
    float *h = malloc(sizeof *h * tensor_numel(t));
    k_download(&K, t, h);
    return h;
}

static bool out_close(const char *what, const clip *m, const tensor *t, const double *want, double tol)
{
    size_t n = tensor_numel(t);
    float *got = malloc(sizeof *got * n);
    k_download(&K, t, got);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        if (!(fabs(got[i] - want[i]) <= tol)) {
            fprintf(stderr, "  %s: element %zu is %.8g, expected %.8g\n", what, i, got[i], want[i]);
            ok = false;
        }
    (void)m;
    free(got);
    return ok;
}

static void test_forward_reference(void)
{
    tg_error err = {0};
    clip m;
    CHECK_INT(clip_build(&m, &K, &MICRO, false, &err), 0);
    micro_weights(&m, 7);
    double *want = malloc(sizeof *want * MB * MT * MICRO.hidden_size);
    int64_t shape[3] = {MB, MT, MICRO.hidden_size};
    tensor pen = k_tensor(&K, K_F32, 3, shape);
    float *w = download(&m.ps.all_w);
    for (int skip = 1; skip <= 2; skip++) {
        CHECK_INT(clip_forward(&m, &K, MICRO_IDS, MB, MT, skip, skip == 1, &err), 0);
        ref_forward(&m, w, NULL, MICRO_IDS, MB, MT, skip, want);
        CHECK(out_close(skip == 1 ? "last_hidden_state" : "clip skip 2", &m, &m.acts.out, want, 2e-5));
    }
    /* both outputs from one forward */
    CHECK_INT(clip_forward(&m, &K, MICRO_IDS, MB, MT, 1, false, &err), 0);
    CHECK_INT(clip_hidden_ln(&m, &K, 2, &pen, &err), 0);
    CHECK(out_close("penultimate_ln", &m, &pen, want, 2e-5));
    CHECK_INT(clip_forward(&m, &K, MICRO_IDS, MB, MT, 2, false, &err), 0);
    CHECK_INT(clip_hidden_ln(&m, &K, 1, &pen, &err), -1); /* layer 1 was not run */
    CHECK(has(err.msg, "clip_skip 1"));
    k_tensor_free(&K, &pen);
    free(want);
    free(w);
    clip_free(&m, &K);
}

/* ---- gradients by finite differences (the scaffolding: clip_reference.h) ---- */

/* Random adapters (rank 2, alpha 3, multiplier 0.7) on a frozen model: up is not left at zero,
 * so that every adapter weight has a gradient. */
static void lora_setup(clip *m, lora_set *ls)
{
    lora_set_init(ls);
    tg_error err = {0};
    CHECK_INT(clip_lora_attach(m, ls, 2, 3.0f), 0);
    CHECK_INT(lora_alloc(ls, &K, true, 5, &err), 0);
    ls->multiplier = 0.7f;
    float *lw = malloc(sizeof *lw * params_count(&ls->ps));
    uint64_t seed = 77;
    gc_fill(lw, params_count(&ls->ps), &seed, -0.5f, 0.5f);
    k_upload(&K, &ls->ps.all_w, lw);
    free(lw);
}

typedef enum gc_mode { GC_WEIGHTS, GC_EMBEDS, GC_LORA } gc_mode;

/* GC_WEIGHTS: every weight gradient of the full model (ids with repeats); GC_EMBEDS: grad_embeds
 * (distinct ids); GC_LORA: a frozen model with adapters: every adapter gradient and grad_embeds. */
static void gradcheck_run(int clip_skip, gc_mode mode)
{
    static const int32_t distinct[MB * MT] = {1, 3, 4, 0, 2, 10, 9, 5, 6, 8};
    tg_error err = {0};
    clip m;
    lora_set ls;
    CHECK_INT(clip_build(&m, &K, &MICRO, mode != GC_LORA, &err), 0);
    micro_weights(&m, 11 + clip_skip);
    size_t no = (size_t)MB * MT * MICRO.hidden_size;
    fd_ctx c = {.m = &m, .ids = mode == GC_WEIGHTS ? MICRO_IDS : distinct, .B = MB, .T = MT,
                .clip_skip = clip_skip, .w = download(&m.ps.all_w), .r = malloc(sizeof(float) * no),
                .out = malloc(sizeof(double) * no)};
    if (mode == GC_LORA) {
        lora_setup(&m, &ls);
        c.rl = (ref_lora){&ls, download(&ls.ps.all_w)};
    }
    uint64_t seed = 99;
    gc_fill(c.r, no, &seed, -1.0f, 1.0f);
    tensor dout = host_tensor3(MB, MT, MICRO.hidden_size, c.r);
    CHECK_INT(clip_forward(&m, &K, c.ids, MB, MT, clip_skip, true, &err), 0);
    CHECK_INT(clip_backward(&m, &K, &dout, &err), 0);
    float *ge = download(&m.acts.grad_embeds);
    if (mode == GC_WEIGHTS) {
        float *g = download(&m.ps.all_g);
        gradcheck_params(&c, &m.ps, c.w, g, CLIP_KEY_PREFIX);
        free(g);
    } else {
        gradcheck_embeds(&c, ge);
    }
    if (mode == GC_LORA) {
        float *g = download(&ls.ps.all_g);
        gradcheck_params(&c, &ls.ps, (float *)c.rl.lw, g, "lora_te_");
        free(g);
        free((float *)c.rl.lw);
        lora_set_free(&ls, &K);
    }
    k_tensor_free(&K, &dout);
    free(ge), free(c.w), free(c.r), free(c.out);
    clip_free(&m, &K);
}

static void test_gradcheck_weights(void)
{
    gradcheck_run(1, GC_WEIGHTS);
    gradcheck_run(2, GC_WEIGHTS);
}

static void test_gradcheck_embeds(void)
{
    gradcheck_run(1, GC_EMBEDS);
    gradcheck_run(2, GC_EMBEDS);
}

static void test_gradcheck_lora(void)
{
    gradcheck_run(1, GC_LORA);
    gradcheck_run(2, GC_LORA);
}

/* ---- structure ---- */

/* Changing token t of row 0 changes no output before t in any row, nor row 1 at all. */
static void test_causal(void)
{
    tg_error err = {0};
    clip m;
    CHECK_INT(clip_build(&m, &K, &MICRO, false, &err), 0);
    micro_weights(&m, 5);
    int C = MICRO.hidden_size;
    CHECK_INT(clip_forward(&m, &K, MICRO_IDS, MB, MT, 1, false, &err), 0);
    float *base = download(&m.acts.out);
    for (int t = 1; t < MT; t++) {
        int32_t ids[MB * MT];
        memcpy(ids, MICRO_IDS, sizeof ids);
        ids[t] = (ids[t] + 5) % MICRO.vocab_size;
        CHECK_INT(clip_forward(&m, &K, ids, MB, MT, 1, false, &err), 0);
        float *got = download(&m.acts.out);
        CHECK(!memcmp(got, base, sizeof(float) * t * C));                     /* before t: same */
        CHECK(memcmp(got + t * C, base + t * C, sizeof(float) * C) != 0);     /* at t: changed */
        CHECK(!memcmp(got + MT * C, base + MT * C, sizeof(float) * MT * C));  /* row 1: same */
        free(got);
    }
    free(base);
    clip_free(&m, &K);
}

/* The same weights built with and without gradients give the same grad_embeds, bit for bit; a
 * second run of the same model gives the same outputs and gradients, bit for bit; two models
 * initialised from one seed have the same weights. */
static void test_frozen_and_determinism(void)
{
    tg_error err = {0};
    clip full, frozen;
    CHECK_INT(clip_build(&full, &K, &MICRO, true, &err), 0);
    CHECK_INT(clip_build(&frozen, &K, &MICRO, false, &err), 0);
    CHECK_INT(clip_init_weights(&full, &K, 42, &err), 0);
    CHECK_INT(clip_init_weights(&frozen, &K, 42, &err), 0);
    float *w1 = download(&full.ps.all_w), *w2 = download(&frozen.ps.all_w);
    CHECK(!memcmp(w1, w2, sizeof(float) * params_count(&full.ps)));
    micro_weights(&full, 3);
    micro_weights(&frozen, 3);
    size_t no = (size_t)MB * MT * MICRO.hidden_size;
    float *r = malloc(sizeof *r * no);
    uint64_t seed = 1;
    gc_fill(r, no, &seed, -1.0f, 1.0f);
    tensor dout = host_tensor3(MB, MT, MICRO.hidden_size, r);
    float *run[2][3];
    for (int i = 0; i < 2; i++) {
        k_zero(&K, &full.ps.all_g);
        CHECK_INT(clip_forward(&full, &K, MICRO_IDS, MB, MT, 1, true, &err), 0);
        CHECK_INT(clip_backward(&full, &K, &dout, &err), 0);
        run[i][0] = download(&full.acts.out);
        run[i][1] = download(&full.acts.grad_embeds);
        run[i][2] = download(&full.ps.all_g);
    }
    CHECK(!memcmp(run[0][0], run[1][0], sizeof(float) * no));
    CHECK(!memcmp(run[0][1], run[1][1], sizeof(float) * no));
    CHECK(!memcmp(run[0][2], run[1][2], sizeof(float) * params_count(&full.ps)));
    CHECK_INT(clip_forward(&frozen, &K, MICRO_IDS, MB, MT, 1, true, &err), 0);
    CHECK_INT(clip_backward(&frozen, &K, &dout, &err), 0);
    float *ge = download(&frozen.acts.grad_embeds);
    CHECK(!memcmp(ge, run[0][1], sizeof(float) * no));
    /* the forward-only mode computes the same output */
    CHECK_INT(clip_forward(&frozen, &K, MICRO_IDS, MB, MT, 1, false, &err), 0);
    float *fo = download(&frozen.acts.out);
    CHECK(!memcmp(fo, run[0][0], sizeof(float) * no));
    CHECK_INT(clip_backward(&frozen, &K, &dout, &err), -1); /* nothing kept for it */
    CHECK(has(err.msg, "for_backward"));
    free(fo), free(ge), free(w1), free(w2), free(r);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            free(run[i][j]);
    k_tensor_free(&K, &dout);
    clip_free(&full, &K);
    clip_free(&frozen, &K);
}

static void test_input_refusals(void)
{
    tg_error err = {0};
    clip m;
    CHECK_INT(clip_build(&m, &K, &MICRO, false, &err), 0);
    micro_weights(&m, 1);
    int32_t ids[MB * MT];
    memcpy(ids, MICRO_IDS, sizeof ids);
    ids[7] = 11;
    CHECK_INT(clip_forward(&m, &K, ids, MB, MT, 1, false, &err), -1);
    CHECK(has(err.msg, "input_ids[1][2] = 11") && has(err.msg, "0..10"));
    ids[7] = -1;
    CHECK_INT(clip_forward(&m, &K, ids, MB, MT, 1, false, &err), -1);
    CHECK(has(err.msg, "= -1"));
    int32_t longer[7] = {0};
    CHECK_INT(clip_forward(&m, &K, longer, 1, 7, 1, false, &err), -1);
    CHECK(has(err.msg, "7 tokens") && has(err.msg, "max_position_embeddings"));
    CHECK_INT(clip_forward(&m, &K, MICRO_IDS, MB, MT, 3, false, &err), -1);
    CHECK(has(err.msg, "clip_skip 3"));
    CHECK_INT(clip_forward(&m, &K, MICRO_IDS, MB, MT, 0, false, &err), -1);
    /* a shape change reallocates */
    CHECK_INT(clip_forward(&m, &K, MICRO_IDS, 1, 3, 1, true, &err), 0);
    CHECK_INT(m.acts.out.shape[1], 3);
    tensor bad = host_tensor3(MB, MT, MICRO.hidden_size, NULL);
    CHECK_INT(clip_backward(&m, &K, &bad, &err), -1);
    CHECK(has(err.msg, "(1, 3, 8)"));
    k_tensor_free(&K, &bad);
    clip_free(&m, &K);
}

/* Saved with position_ids, loaded back by name (position_ids accepted and ignored). */
static void test_save_load(void)
{
    tg_error err = {0};
    clip a, b;
    CHECK_INT(clip_build(&a, &K, &MICRO, false, &err), 0);
    CHECK_INT(clip_build(&b, &K, &MICRO, false, &err), 0);
    micro_weights(&a, 8);
    char path[] = "/tmp/test_clip_model_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    st_writer *w = st_writer_new();
    float *hold = NULL;
    CHECK_INT(clip_write(&a, &K, w, ST_F32, true, &hold, &err), 0);
    CHECK_INT(st_writer_save(w, path, &err), 0);
    st_writer_free(w);
    free(hold);
    st_file *f = st_open(path, &err);
    CHECK(f != NULL);
    if (f) {
        const st_tensor *pid = st_find(f, "cond_stage_model.transformer.text_model.embeddings.position_ids");
        CHECK(pid && pid->dtype == ST_I64 && pid->ndim == 2 && pid->shape[0] == 1 && pid->shape[1] == 6);
        if (pid) {
            int64_t v[6];
            memcpy(v, pid->data, sizeof v);
            CHECK(v[0] == 0 && v[5] == 5);
        }
        CHECK_INT(st_count(f), a.ps.n + 1);
        CHECK_INT(clip_load(&b, &K, f, &err), 0);
        st_close(f);
    }
    float *wa = download(&a.ps.all_w), *wb = download(&b.ps.all_w);
    CHECK(!memcmp(wa, wb, sizeof(float) * params_count(&a.ps)));
    /* a model of another width is refused, naming the key */
    clip_config c = MICRO;
    c.intermediate_size = 16;
    clip other;
    CHECK_INT(clip_build(&other, &K, &c, false, &err), 0);
    f = st_open(path, &err);
    CHECK_INT(clip_load(&other, &K, f, &err), -1);
    CHECK(has(err.msg, "mlp.fc1.weight") && has(err.msg, path));
    st_close(f);
    clip_free(&other, &K);
    unlink(path);
    free(wa), free(wb);
    clip_free(&a, &K);
    clip_free(&b, &K);
}

/* kohya's names on every layer's six linears; a new adapter (up = 0) changes nothing; the same
 * adapters give the same grad_embeds and adapter gradients over a frozen or a full base. */
static void test_lora_modules(void)
{
    tg_error err = {0};
    clip_config c;
    clip_config_builtin(&c, "sd15", &err);
    clip big;
    lora_set ls;
    lora_set_init(&ls);
    CHECK_INT(clip_build(&big, &K, &c, false, &err), 0);
    CHECK_INT(clip_lora_attach(&big, &ls, 4, 1.0f), 0);
    CHECK_INT(ls.n, 72);
    const lora_module *q0 = &ls.m[big.layers[0].lora[CLIP_LORA_Q]];
    const lora_module *f11 = &ls.m[big.layers[11].lora[CLIP_LORA_FC1]];
    const lora_module *g11 = &ls.m[big.layers[11].lora[CLIP_LORA_FC2]];
    CHECK_STR(q0->name, "lora_te_text_model_encoder_layers_0_self_attn_q_proj");
    CHECK(q0->in == 768 && q0->out == 768 && q0->rank == 4 && !q0->conv1x1);
    CHECK_STR(f11->name, "lora_te_text_model_encoder_layers_11_mlp_fc1");
    CHECK(f11->in == 768 && f11->out == 3072);
    CHECK_STR(g11->name, "lora_te_text_model_encoder_layers_11_mlp_fc2");
    CHECK(g11->in == 3072 && g11->out == 768);
    CHECK_STR(ls.m[big.layers[5].lora[CLIP_LORA_OUT]].name,
              "lora_te_text_model_encoder_layers_5_self_attn_out_proj");
    lora_set_free(&ls, &K);
    clip_free(&big, &K);

    clip plain, frozen, full;
    lora_set lf, lu;
    CHECK_INT(clip_build(&plain, &K, &MICRO, false, &err), 0);
    CHECK_INT(clip_build(&frozen, &K, &MICRO, false, &err), 0);
    CHECK_INT(clip_build(&full, &K, &MICRO, true, &err), 0);
    micro_weights(&plain, 4);
    micro_weights(&frozen, 4);
    micro_weights(&full, 4);
    lora_set_init(&lf);
    CHECK_INT(clip_lora_attach(&frozen, &lf, 2, 0.0f), 0);
    CHECK_INT(lora_alloc(&lf, &K, true, 9, &err), 0);
    size_t no = (size_t)MB * MT * MICRO.hidden_size;
    CHECK_INT(clip_forward(&plain, &K, MICRO_IDS, MB, MT, 1, false, &err), 0);
    CHECK_INT(clip_forward(&frozen, &K, MICRO_IDS, MB, MT, 1, true, &err), 0);
    float *o1 = download(&plain.acts.out), *o2 = download(&frozen.acts.out);
    CHECK(!memcmp(o1, o2, sizeof(float) * no));
    lora_setup(&frozen, &lu); /* a second set on the same model replaces the first */
    lora_set_free(&lf, &K);
    lora_setup(&full, &lf);
    float *r = malloc(sizeof *r * no);
    uint64_t seed = 3;
    gc_fill(r, no, &seed, -1.0f, 1.0f);
    tensor dout = host_tensor3(MB, MT, MICRO.hidden_size, r);
    CHECK_INT(clip_forward(&frozen, &K, MICRO_IDS, MB, MT, 2, true, &err), 0);
    CHECK_INT(clip_backward(&frozen, &K, &dout, &err), 0);
    CHECK_INT(clip_forward(&full, &K, MICRO_IDS, MB, MT, 2, true, &err), 0);
    CHECK_INT(clip_backward(&full, &K, &dout, &err), 0);
    float *ge1 = download(&frozen.acts.grad_embeds), *ge2 = download(&full.acts.grad_embeds);
    float *lg1 = download(&lu.ps.all_g), *lg2 = download(&lf.ps.all_g);
    CHECK(!memcmp(ge1, ge2, sizeof(float) * no));
    CHECK(!memcmp(lg1, lg2, sizeof(float) * params_count(&lu.ps)));
    free(ge1), free(ge2), free(lg1), free(lg2), free(o1), free(o2), free(r);
    k_tensor_free(&K, &dout);
    lora_set_free(&lu, &K);
    lora_set_free(&lf, &K);
    clip_free(&plain, &K);
    clip_free(&frozen, &K);
    clip_free(&full, &K);
}

int main(void)
{
    if (k_init(&K, "cpu", 2) < 0) {
        fprintf(stderr, "k_init: %s\n", K.msg);
        return 1;
    }
    RUN(test_sd15_keys);
    RUN(test_config);
    RUN(test_forward_reference);
    RUN(test_gradcheck_weights);
    RUN(test_gradcheck_embeds);
    RUN(test_gradcheck_lora);
    RUN(test_causal);
    RUN(test_frozen_and_determinism);
    RUN(test_input_refusals);
    RUN(test_save_load);
    RUN(test_lora_modules);
    k_free_ctx(&K);
    return check_finish();
}
