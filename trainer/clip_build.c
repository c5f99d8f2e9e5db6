/* CLIP text encoder: parameters (names, shapes, HF's order), initialisation, loading and saving,
 * LoRA attachment, and freeing (clip_model.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/clip_model.h"
#include "trainer/lora_names.h"

const char CLIP_KEY_PREFIX[] = "cond_stage_model.transformer.text_model.";

/* ---- parameters ---- */

/* A weight (rows, cols) or a vector (rows) named P + text; -1 stops the chain. */
static int add2(params *ps, int64_t rows, int64_t cols, const char *name, int layer)
{
    int64_t shape[2] = {rows, cols};
    if (layer < 0)
        return params_add(ps, cols ? 2 : 1, shape, "%s%s", CLIP_KEY_PREFIX, name);
    return params_add(ps, cols ? 2 : 1, shape, "%sencoder.layers.%d.%s", CLIP_KEY_PREFIX, layer, name);
}

/* A linear's weight (out, in) and bias (out). */
static bool linear_add(params *ps, int *w, int *b, int64_t out, int64_t in, const char *name, int layer)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s.weight", name);
    *w = add2(ps, out, in, buf, layer);
    snprintf(buf, sizeof buf, "%s.bias", name);
    *b = add2(ps, out, 0, buf, layer);
    return *w >= 0 && *b >= 0;
}

/* HF CLIPEncoderLayer's state-dict order: self_attn (k, v, q, out), layer_norm1, mlp, layer_norm2. */
static bool layer_add(params *ps, clip_layer *ly, const clip_config *c, int l)
{
    int64_t C = c->hidden_size, F = c->intermediate_size;
    for (int s = 0; s < CLIP_LORA_SLOTS; s++)
        ly->lora[s] = -1;
    return linear_add(ps, &ly->k_w, &ly->k_b, C, C, "self_attn.k_proj", l) &&
           linear_add(ps, &ly->v_w, &ly->v_b, C, C, "self_attn.v_proj", l) &&
           linear_add(ps, &ly->q_w, &ly->q_b, C, C, "self_attn.q_proj", l) &&
           linear_add(ps, &ly->out_w, &ly->out_b, C, C, "self_attn.out_proj", l) &&
           linear_add(ps, &ly->ln1_w, &ly->ln1_b, C, 0, "layer_norm1", l) &&
           linear_add(ps, &ly->fc1_w, &ly->fc1_b, F, C, "mlp.fc1", l) &&
           linear_add(ps, &ly->fc2_w, &ly->fc2_b, C, F, "mlp.fc2", l) &&
           linear_add(ps, &ly->ln2_w, &ly->ln2_b, C, 0, "layer_norm2", l);
}

static bool params_declare(clip *m)
{
    const clip_config *c = &m->cfg;
    params *ps = &m->ps;
    m->tok_emb = add2(ps, c->vocab_size, c->hidden_size, "embeddings.token_embedding.weight", -1);
    m->pos_emb = add2(ps, c->max_position_embeddings, c->hidden_size,
                      "embeddings.position_embedding.weight", -1);
    if (m->tok_emb < 0 || m->pos_emb < 0)
        return false;
    for (int l = 0; l < c->num_hidden_layers; l++)
        if (!layer_add(ps, &m->layers[l], c, l))
            return false;
    return linear_add(ps, &m->lnf_w, &m->lnf_b, c->hidden_size, 0, "final_layer_norm", -1);
}

int clip_build(clip *m, kctx *k, const clip_config *c, bool with_grads, tg_error *err)
{
    memset(m, 0, sizeof *m);
    params_init(&m->ps);
    if (clip_config_check(c, err) < 0)
        return -1;
    m->cfg = *c;
    m->layers = calloc((size_t)c->num_hidden_layers, sizeof *m->layers);
    m->position_ids = malloc(sizeof *m->position_ids * (size_t)c->max_position_embeddings);
    if (!m->layers || !m->position_ids || !params_declare(m)) {
        clip_free(m, k);
        return error_set(err, "CLIP text model: out of memory declaring its parameters");
    }
    for (int i = 0; i < c->max_position_embeddings; i++)
        m->position_ids[i] = i;
    if (params_alloc(&m->ps, k, with_grads, err) < 0) {
        clip_free(m, k);
        return -1;
    }
    return 0;
}

void clip_free(clip *m, kctx *k)
{
    clip_acts_free(&m->acts, k);
    params_free(&m->ps, k);
    free(m->layers);
    free(m->position_ids);
    memset(m, 0, sizeof *m);
}

/* ---- initialisation ---- */

static int fill_normal(clip *m, kctx *k, k_rng *r, int i, float std)
{
    return k_randn(k, params_w(&m->ps, i), r, 0.0f, std);
}

static int fill_const(clip *m, kctx *k, int i, float v)
{
    tensor *t = params_w(&m->ps, i);
    if (v == 0.0f) {
        k_zero(k, t);
        return 0;
    }
    size_t n = tensor_numel(t);
    float *host = malloc(sizeof *host * n);
    if (!host)
        return -1;
    for (size_t j = 0; j < n; j++)
        host[j] = v;
    k_upload(k, t, host);
    free(host);
    return 0;
}

static int layer_init(clip *m, kctx *k, k_rng *r, const clip_layer *ly)
{
    double C = m->cfg.hidden_size, L = m->cfg.num_hidden_layers;
    float in_std = (float)(pow(C, -0.5) * pow(2 * L, -0.5)), out_std = (float)pow(C, -0.5);
    float fc_std = (float)pow(2 * C, -0.5);
    int rc = fill_normal(m, k, r, ly->q_w, in_std) | fill_normal(m, k, r, ly->k_w, in_std) |
             fill_normal(m, k, r, ly->v_w, in_std) | fill_normal(m, k, r, ly->out_w, out_std) |
             fill_normal(m, k, r, ly->fc1_w, fc_std) | fill_normal(m, k, r, ly->fc2_w, in_std);
    int zero[] = {ly->q_b, ly->k_b, ly->v_b, ly->out_b, ly->fc1_b, ly->fc2_b, ly->ln1_b, ly->ln2_b};
    for (size_t i = 0; i < sizeof zero / sizeof *zero; i++)
        rc |= fill_const(m, k, zero[i], 0.0f);
    return rc | fill_const(m, k, ly->ln1_w, 1.0f) | fill_const(m, k, ly->ln2_w, 1.0f);
}

int clip_init_weights(clip *m, kctx *k, uint64_t seed, tg_error *err)
{
    k_rng r = {.seed = seed, .offset = 0};
    int rc = fill_normal(m, k, &r, m->tok_emb, 0.02f) | fill_normal(m, k, &r, m->pos_emb, 0.02f);
    for (int l = 0; l < m->cfg.num_hidden_layers; l++)
        rc |= layer_init(m, k, &r, &m->layers[l]);
    rc |= fill_const(m, k, m->lnf_w, 1.0f) | fill_const(m, k, m->lnf_b, 0.0f);
    return rc ? error_set(err, "CLIP text model: initialising the weights failed: %s",
                          k->msg[0] ? k->msg : "out of memory") : 0;
}

/* ---- files ---- */

int clip_load(clip *m, kctx *k, const st_file *f, tg_error *err)
{
    return params_load(&m->ps, k, f, err);
}

int clip_write(const clip *m, kctx *k, st_writer *w, st_dtype dt, bool position_ids, float **hold,
               tg_error *err)
{
    if (params_write(&m->ps, k, w, dt, hold, err) < 0)
        return -1;
    if (!position_ids)
        return 0;
    char name[128];
    snprintf(name, sizeof name, "%sembeddings.position_ids", CLIP_KEY_PREFIX);
    int64_t shape[2] = {1, m->cfg.max_position_embeddings};
    return st_writer_add(w, name, ST_I64, 2, shape, m->position_ids, err);
}

/* ---- LoRA ---- */

int clip_lora_attach(clip *m, lora_set *ls, int rank, float alpha)
{
    static const char *const module[CLIP_LORA_SLOTS] = {
        [CLIP_LORA_Q] = "self_attn.q_proj", [CLIP_LORA_K] = "self_attn.k_proj",
        [CLIP_LORA_V] = "self_attn.v_proj", [CLIP_LORA_OUT] = "self_attn.out_proj",
        [CLIP_LORA_FC1] = "mlp.fc1",        [CLIP_LORA_FC2] = "mlp.fc2",
    };
    int C = m->cfg.hidden_size, F = m->cfg.intermediate_size;
    for (int l = 0; l < m->cfg.num_hidden_layers; l++)
        for (int s = 0; s < CLIP_LORA_SLOTS; s++) {
            char key[192], name[192];
            snprintf(key, sizeof key, "%sencoder.layers.%d.%s", CLIP_KEY_PREFIX, l, module[s]);
            int in = s == CLIP_LORA_FC2 ? F : C, out = s == CLIP_LORA_FC1 ? F : C;
            int mi = -1;
            if (lora_name_clip(key, name, sizeof name) == 0)
                mi = lora_attach(ls, name, in, out, false, rank, alpha);
            if (mi < 0) { /* the model stays without adapters */
                for (int j = 0; j < m->cfg.num_hidden_layers; j++)
                    for (int t = 0; t < CLIP_LORA_SLOTS; t++)
                        m->layers[j].lora[t] = -1;
                return -1;
            }
            m->layers[l].lora[s] = mi;
        }
    m->lora = ls;
    m->acts.lora_n = -1; /* the next forward sizes the adapters' hiddens */
    return 0;
}
