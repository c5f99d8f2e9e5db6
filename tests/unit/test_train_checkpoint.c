/* What a run writes (docs/training.md, "Checkpoints"): a full run's checkpoint is a self-describing
 * single-file model (tagbench.* metadata, model.diffusion_model.* / cond_stage_model.* names) that
 * dmodel_load reads back and dmodel_sample draws from; a LoRA run's file has kohya's module names,
 * .alpha tensors and ss_* metadata (network dim and alpha, output name, tag frequency per folder
 * with lower-cased tags, dataset dirs, steps), loads onto its base with dmodel_lora_load, changes
 * nothing at multiplier 0 and something at 1; network_train_unet_only leaves the text encoder
 * out; save_precision fp16 stores F16. */
#include <cJSON.h>

#include "tests/unit/train_fixture.h"
#include "trainer/dmodel.h"
#include "trainer/dmodel_sample.h"

static st_file *open_checked(const char *rel)
{
    char *p = tf_path(rel);
    tg_error err = {{0}};
    st_file *f = st_open(p, &err);
    CHECK(f != NULL);
    if (!f)
        fprintf(stderr, "    %s\n", err.msg);
    free(p);
    return f;
}

/* Tensors whose name starts with prefix (but the text encoder's position_ids, I64 as in SD
 * checkpoints); how many of them are stored as dt. */
static size_t count_prefix(const st_file *f, const char *prefix, st_dtype dt, size_t *of_dt)
{
    size_t n = 0;
    *of_dt = 0;
    for (size_t i = 0; i < st_count(f); i++)
        if (!strncmp(st_at(f, i)->name, prefix, strlen(prefix)) && !strstr(st_at(f, i)->name, "position_ids")) {
            n++;
            *of_dt += st_at(f, i)->dtype == dt;
        }
    return n;
}

/* A 32x32 sample of m (4 steps, DDIM, guidance 4, seed 3); true when it worked. */
static bool sample(dmodel *m, kctx *k, image *img)
{
    dmodel_sample_opts o = {.prompt = "red square, white background", .negative = NULL, .width = 32, .height = 32,
                            .steps = 4, .cfg_scale = 4, .seed = 3, .sampler = SAMPLER_DDIM};
    tg_error err = {{0}};
    memset(img, 0, sizeof *img);
    int rc = dmodel_sample(m, k, &o, img, &err);
    CHECK_INT(rc, 0);
    if (rc < 0)
        fprintf(stderr, "    dmodel_sample: %s\n", err.msg);
    else {
        CHECK_INT(img->w, 32);
        CHECK_INT(img->h, 32);
    }
    return rc == 0;
}

static bool same_image(const image *a, const image *b)
{
    return a->px && b->px && a->w == b->w && a->h == b->h && !memcmp(a->px, b->px, (size_t)a->w * a->h * 3);
}

static bool image_flat(const image *a)
{
    for (size_t i = 3; i < (size_t)a->w * a->h * 3; i++)
        if (a->px[i] != a->px[i % 3])
            return false;
    return true;
}

/* A model loaded from rel (no gradients), with a LoRA file at mult when lora_rel is set. */
static bool model_load(dmodel *m, kctx *k, const char *rel, const char *lora_rel, float mult)
{
    char *p = tf_path(rel);
    tg_error err = {{0}};
    int rc = dmodel_load(m, k, p, false, &err);
    free(p);
    CHECK_INT(rc, 0);
    if (rc < 0) {
        fprintf(stderr, "    dmodel_load: %s\n", err.msg);
        return false;
    }
    if (lora_rel) {
        p = tf_path(lora_rel);
        rc = dmodel_lora_load(m, k, p, mult, &err);
        free(p);
        CHECK_INT(rc, 0);
        if (rc < 0) {
            fprintf(stderr, "    dmodel_lora_load: %s\n", err.msg);
            dmodel_free(m, k);
            return false;
        }
    }
    return true;
}

/* ---- a full run ---- */

static void test_full_checkpoint(void)
{
    run_config c;
    tf_run_result r;
    CHECK_INT(tf_config_at(&c, "F", 2), 0);
    run_config_string_set(&c.output_name, "shapes");
    tf_run(&c, NULL, NULL, &r);
    run_config_free(&c);
    bool ok = tf_finished(&r, RUN_FINISH_COMPLETED);
    const run_event *ck = tf_first(&r, RUN_EV_CHECKPOINT_WRITTEN);
    CHECK(ck && strstr(ck->checkpoint.path, "/F/shapes.safetensors") && ck->checkpoint.step == 2);
    CHECK(fixture_exists(tf_root, "F/config.json"));
    CHECK(fixture_exists(tf_root, "F/events.jsonl"));
    CHECK(fixture_exists(tf_root, "F/tags.json"));
    CHECK(!fixture_exists(tf_root, "F/shapes-state"));
    tf_result_free(&r);
    if (!ok)
        return;

    st_file *f = open_checked("F/shapes.safetensors");
    if (f) {
        CHECK_STR(st_meta(f, "tagbench.model"), "pixels-v1");
        CHECK_STR(st_meta(f, "tagbench.unshuffle"), "2");
        CHECK_STR(st_meta(f, "tagbench.prediction"), "epsilon");
        CHECK_STR(st_meta(f, "tagbench.steps"), "2");
        CHECK(st_meta(f, "tagbench.unet_config") != NULL);
        CHECK(st_meta(f, "tagbench.clip_config") != NULL);
        cJSON *tags = cJSON_Parse(st_meta(f, "tagbench.tags") ? st_meta(f, "tagbench.tags") : "");
        CHECK(cJSON_IsArray(tags));
        bool red = false, white = false;
        for (cJSON *t = tags ? tags->child : NULL; t; t = t->next) {
            red |= cJSON_IsString(t) && !strcmp(t->valuestring, "red square");
            white |= cJSON_IsString(t) && !strcmp(t->valuestring, "white background");
        }
        CHECK(red && white);
        /* the vocabulary, most frequent first: the backgrounds are on 3 or 4 images each */
        CHECK(tags && cJSON_IsString(tags->child) && strstr(tags->child->valuestring, "background"));
        cJSON_Delete(tags);
        size_t f32, nu = count_prefix(f, "model.diffusion_model.", ST_F32, &f32);
        CHECK(nu > 10);
        CHECK_INT(f32, nu);
        size_t nt = count_prefix(f, "cond_stage_model.transformer.text_model.", ST_F32, &f32);
        CHECK(nt > 10);
        CHECK_INT(f32, nt);
        const st_tensor *pos = st_find(f, "cond_stage_model.transformer.text_model.embeddings.position_ids");
        CHECK(pos && pos->dtype == ST_I64);
        CHECK_INT(nu + nt + 1, st_count(f));
        st_close(f);
    }

    kctx k;
    CHECK_INT(k_init(&k, "cpu", TF_THREADS), 0);
    dmodel m;
    if (model_load(&m, &k, "F/shapes.safetensors", NULL, 0)) {
        CHECK_INT(m.native, 32);
        CHECK_INT(m.unshuffle, 2);
        image a, b;
        if (sample(&m, &k, &a) && sample(&m, &k, &b)) {
            CHECK(same_image(&a, &b)); /* the same seed draws the same image */
            CHECK(!image_flat(&a));
        }
        image_free(&a), image_free(&b);
        dmodel_free(&m, &k);
    }
    k_free_ctx(&k);
}

/* save_precision fp16: every weight F16, and the file still loads and samples. */
static void test_full_fp16(void)
{
    run_config c;
    tf_run_result r;
    CHECK_INT(tf_config_at(&c, "F16", 1), 0);
    run_config_string_set(&c.save_precision, "fp16");
    tf_run(&c, NULL, NULL, &r);
    run_config_free(&c);
    bool ok = tf_finished(&r, RUN_FINISH_COMPLETED);
    tf_result_free(&r);
    if (!ok)
        return;
    st_file *f = open_checked("F16/last.safetensors");
    if (f) {
        size_t f16, n = count_prefix(f, "", ST_F16, &f16);
        CHECK(n > 20);
        CHECK_INT(f16, n);
        CHECK_INT(n + 1, st_count(f)); /* and position_ids */
        st_close(f);
    }
    kctx k;
    CHECK_INT(k_init(&k, "cpu", TF_THREADS), 0);
    dmodel m;
    if (model_load(&m, &k, "F16/last.safetensors", NULL, 0)) {
        image a;
        sample(&m, &k, &a);
        image_free(&a);
        dmodel_free(&m, &k);
    }
    k_free_ctx(&k);
}

/* ---- LoRA runs on F's checkpoint ---- */

static bool lora_run(const char *out_rel, int steps, bool unet_only, const char *precision)
{
    run_config c;
    tf_run_result r;
    CHECK_INT(tf_config_at(&c, out_rel, steps), 0);
    char *base = tf_path("F/shapes.safetensors");
    run_config_string_set(&c.pretrained_model_name_or_path, base);
    free(base);
    run_config_string_set(&c.train_mode, "lora");
    run_config_string_set(&c.output_name, "shapes_lora");
    run_config_string_set(&c.save_precision, precision);
    c.network_dim = 4;
    c.network_alpha = 2;
    c.network_train_unet_only = unet_only;
    c.learning_rate = 1e-2; /* so that 2 steps change an 8-bit sample */
    tf_run(&c, NULL, NULL, &r);
    run_config_free(&c);
    bool ok = tf_finished(&r, RUN_FINISH_COMPLETED);
    tf_result_free(&r);
    return ok;
}

/* The module's down, up and alpha: rank 4, alpha 2, as dt. */
static void module_check(const st_file *f, const char *module, st_dtype dt)
{
    char name[256];
    snprintf(name, sizeof name, "%s.lora_down.weight", module);
    const st_tensor *d = st_find(f, name);
    snprintf(name, sizeof name, "%s.lora_up.weight", module);
    const st_tensor *u = st_find(f, name);
    snprintf(name, sizeof name, "%s.alpha", module);
    const st_tensor *a = st_find(f, name);
    CHECK(d && u && a);
    if (!d || !u || !a) {
        fprintf(stderr, "    %s: not all of down, up, alpha\n", module);
        return;
    }
    CHECK_INT(d->shape[0], 4);
    CHECK(u->ndim >= 2 && u->shape[1] == 4);
    CHECK_INT(d->dtype, dt);
    CHECK_INT(u->dtype, dt);
    CHECK_INT(a->ndim, 0);
    float alpha = 0;
    tg_error err = {{0}};
    CHECK_INT(st_read_f32(a, &alpha, 1, &err), 0);
    CHECK(alpha == 2.0f);
}

static void test_lora_file(void)
{
    if (!fixture_exists(tf_root, "F/shapes.safetensors")) {
        CHECK(!"no base checkpoint: test_full_checkpoint failed");
        return;
    }
    if (!lora_run("L", 2, false, NULL))
        return;
    st_file *f = open_checked("L/shapes_lora.safetensors");
    if (!f)
        return;
    module_check(f, "lora_unet_down_blocks_1_attentions_0_proj_in", ST_F32);
    module_check(f, "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k", ST_F32);
    module_check(f, "lora_unet_up_blocks_0_attentions_0_proj_out", ST_F32);
    module_check(f, "lora_te_text_model_encoder_layers_0_self_attn_q_proj", ST_F32);
    module_check(f, "lora_te_text_model_encoder_layers_1_mlp_fc2", ST_F32);
    size_t x, nu = count_prefix(f, "lora_unet_", ST_F32, &x), nt = count_prefix(f, "lora_te_", ST_F32, &x);
    CHECK(nu > 0 && nu % 3 == 0);
    CHECK_INT(nt, 2 * 6 * 3); /* 2 layers x (q, k, v, out, fc1, fc2) x (down, up, alpha) */
    CHECK_INT(nu + nt, st_count(f));

    CHECK_STR(st_meta(f, "ss_network_module"), "networks.lora");
    CHECK_STR(st_meta(f, "ss_network_dim"), "4");
    CHECK_STR(st_meta(f, "ss_network_alpha"), "2.0");
    CHECK_STR(st_meta(f, "ss_output_name"), "shapes_lora");
    CHECK_STR(st_meta(f, "ss_steps"), "2");
    CHECK_STR(st_meta(f, "ss_epoch"), "1");
    CHECK_STR(st_meta(f, "ss_num_train_images"), "80");
    CHECK_STR(st_meta(f, "ss_base_model_version"), "sd_v1");
    CHECK_STR(st_meta(f, "ss_learning_rate"), "0.01");
    CHECK_STR(st_meta(f, "ss_seed"), "7");
    CHECK(st_meta(f, "modelspec.sai_model_spec") != NULL);

    /* per folder, the raw captions' tags lower-cased, counted per image */
    const char *freq = st_meta(f, "ss_tag_frequency");
    cJSON *fj = freq ? cJSON_Parse(freq) : NULL;
    CHECK(cJSON_IsObject(fj));
    CHECK_INT(cJSON_GetArraySize(fj), 1);
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(fj, "10_shapes");
    CHECK(cJSON_IsObject(sh));
    const struct { const char *tag; int n; } want[] = {
        {"red square", 2}, {"white background", 4}, {"black background", 4}, {"red circle", 1},
        {"blue square", 1}, {"blue circle", 1}, {"green square", 1}, {"green circle", 1}, {"yellow circle", 1}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(sh, want[i].tag);
        CHECK(cJSON_IsNumber(n) && n->valueint == want[i].n);
        if (!cJSON_IsNumber(n) || n->valueint != want[i].n)
            fprintf(stderr, "    ss_tag_frequency[\"10_shapes\"][\"%s\"] is not %d: %s\n", want[i].tag, want[i].n,
                    freq ? freq : "(none)");
    }
    CHECK_INT(cJSON_GetArraySize(sh), sizeof want / sizeof *want); /* no "Red Square" */
    cJSON_Delete(fj);

    const char *dirs = st_meta(f, "ss_dataset_dirs");
    cJSON *dj = dirs ? cJSON_Parse(dirs) : NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(dj, "10_shapes");
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(d, "n_repeats");
    const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(d, "img_count");
    CHECK(cJSON_IsNumber(rep) && rep->valueint == 10);
    CHECK(cJSON_IsNumber(cnt) && cnt->valueint == 8);
    CHECK_INT(cJSON_GetArraySize(dj), 1);
    cJSON_Delete(dj);
    st_close(f);

    /* onto the base: multiplier 0 changes nothing, 1 changes the image */
    kctx k;
    CHECK_INT(k_init(&k, "cpu", TF_THREADS), 0);
    dmodel base, off, on;
    image ib = {0}, i0 = {0}, i1 = {0};
    if (model_load(&base, &k, "F/shapes.safetensors", NULL, 0)) {
        sample(&base, &k, &ib);
        dmodel_free(&base, &k);
    }
    if (model_load(&off, &k, "F/shapes.safetensors", "L/shapes_lora.safetensors", 0)) {
        CHECK(off.lora && off.lora->n == (nu + nt) / 3);
        sample(&off, &k, &i0);
        dmodel_free(&off, &k);
    }
    if (model_load(&on, &k, "F/shapes.safetensors", "L/shapes_lora.safetensors", 1)) {
        sample(&on, &k, &i1);
        dmodel_free(&on, &k);
    }
    CHECK(same_image(&i0, &ib));
    CHECK(ib.px && i1.px && !same_image(&i1, &ib));
    image_free(&ib), image_free(&i0), image_free(&i1);
    k_free_ctx(&k);
}

/* network_train_unet_only: no lora_te_ modules; save_precision fp16: F16 tensors. */
static void test_lora_unet_only_fp16(void)
{
    if (!fixture_exists(tf_root, "F/shapes.safetensors")) {
        CHECK(!"no base checkpoint: test_full_checkpoint failed");
        return;
    }
    if (!lora_run("LU", 1, true, "fp16"))
        return;
    st_file *f = open_checked("LU/shapes_lora.safetensors");
    if (!f)
        return;
    size_t f16, nt = count_prefix(f, "lora_te_", ST_F16, &f16), nu = count_prefix(f, "lora_unet_", ST_F16, &f16);
    CHECK_INT(nt, 0);
    CHECK(nu > 0);
    CHECK_INT(f16, nu);
    CHECK_INT(nu, st_count(f));
    module_check(f, "lora_unet_down_blocks_1_attentions_0_proj_in", ST_F16);
    CHECK_STR(st_meta(f, "ss_network_dim"), "4");
    CHECK_STR(st_meta(f, "ss_steps"), "1");
    st_close(f);
    kctx k;
    CHECK_INT(k_init(&k, "cpu", TF_THREADS), 0);
    dmodel m;
    if (model_load(&m, &k, "F/shapes.safetensors", "LU/shapes_lora.safetensors", 1)) {
        CHECK(m.lora && m.lora_te_first == (int)m.lora->n);
        dmodel_free(&m, &k);
    }
    k_free_ctx(&k);
}

int main(void)
{
    if (tf_setup() < 0)
        return 1;
    RUN(test_full_checkpoint);
    RUN(test_full_fp16);
    RUN(test_lora_file);
    RUN(test_lora_unet_only_fp16);
    tf_teardown();
    return check_finish();
}
