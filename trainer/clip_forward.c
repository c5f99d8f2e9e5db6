/* CLIP text encoder forward: activation buffers for an input shape, embeddings, the pre-LN causal
 * transformer layers, the final layer norm (clip_model.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/clip_model.h"

/* ---- activation buffers ---- */

static void set_free(clip_layer_acts *s, kctx *k)
{
    tensor *all[] = {&s->ln1, &s->ln1_stats, &s->q, &s->k, &s->v, &s->att, &s->lse, &s->mid,
                     &s->ln2, &s->ln2_stats, &s->fc1, &s->act};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        k_tensor_free(k, all[i]);
    for (int i = 0; i < CLIP_LORA_SLOTS; i++)
        k_tensor_free(k, &s->lora_h[i]);
}

void clip_acts_free(clip_acts *a, kctx *k)
{
    int L = a->n_x > 0 ? a->n_x - 1 : 0;
    for (int l = 0; a->x && l <= L; l++)
        k_tensor_free(k, &a->x[l]);
    for (int i = 0; a->layer && i < (a->keep ? L : 1); i++)
        set_free(&a->layer[i], k);
    tensor *all[] = {&a->pos, &a->out, &a->out_stats, &a->grad_embeds, &a->d_ln, &a->d_q, &a->d_k,
                     &a->d_v, &a->d_att, &a->d_act, &a->d_fc1};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        k_tensor_free(k, all[i]);
    free(a->x);
    free(a->layer);
    free(a->ids);
    free(a->pos_ids);
    memset(a, 0, sizeof *a);
}

/* Allocates *t as (d0, d1, d2); clears *ok on failure (k->msg says why). */
static void alloc3(kctx *k, tensor *t, int64_t d0, int64_t d1, int64_t d2, bool *ok)
{
    *t = k_tensor4(k, d0, d1, d2, 0);
    *ok = *ok && t->data;
}

/* The input each adapter slot's linear reads (for the shape of its hidden). */
static const tensor *slot_input(const clip_layer_acts *s, int slot)
{
    switch (slot) {
    case CLIP_LORA_OUT: return &s->att;
    case CLIP_LORA_FC1: return &s->ln2;
    case CLIP_LORA_FC2: return &s->act;
    default: return &s->ln1;
    }
}

/* One layer's buffers; the adapter hiddens sized for layer l's modules (shared sets use layer 0's:
 * clip_lora_attach gives every layer the same rank). */
static bool set_alloc(clip *m, kctx *k, clip_layer_acts *s, int l)
{
    const clip_config *c = &m->cfg;
    int64_t B = m->acts.B, T = m->acts.T, C = c->hidden_size, F = c->intermediate_size;
    bool ok = true;
    tensor *btc[] = {&s->ln1, &s->q, &s->k, &s->v, &s->att, &s->mid, &s->ln2};
    for (size_t i = 0; i < sizeof btc / sizeof *btc; i++)
        alloc3(k, btc[i], B, T, C, &ok);
    alloc3(k, &s->ln1_stats, B * T, 2, 0, &ok);
    alloc3(k, &s->ln2_stats, B * T, 2, 0, &ok);
    alloc3(k, &s->lse, B, c->num_attention_heads, T, &ok);
    alloc3(k, &s->fc1, B, T, F, &ok);
    alloc3(k, &s->act, B, T, F, &ok);
    for (int slot = 0; ok && slot < CLIP_LORA_SLOTS; slot++) {
        int mi = m->layers[l].lora[slot];
        if (mi < 0 || !m->lora)
            continue;
        int ndim;
        int64_t shape[K_MAX_DIMS];
        lora_hidden_shape(m->lora, mi, slot_input(s, slot), &ndim, shape);
        s->lora_h[slot] = k_tensor(k, K_F32, ndim, shape);
        ok = s->lora_h[slot].data != NULL;
    }
    return ok;
}

static int lora_count(const clip *m)
{
    return m->lora ? (int)m->lora->n : 0;
}

/* Buffers for (B, T), kept when already of that shape, mode and adapter count. */
static int acts_ensure(clip *m, kctx *k, int B, int T, bool keep, tg_error *err)
{
    clip_acts *a = &m->acts;
    if (a->x && a->B == B && a->T == T && a->keep == keep && a->lora_n == lora_count(m))
        return 0;
    clip_acts_free(a, k);
    int L = m->cfg.num_hidden_layers, nsets = keep ? L : 1;
    int64_t C = m->cfg.hidden_size;
    *a = (clip_acts){.B = B, .T = T, .keep = keep, .lora_n = lora_count(m), .n_x = L + 1};
    a->x = calloc((size_t)L + 1, sizeof *a->x);
    a->layer = calloc((size_t)nsets, sizeof *a->layer);
    a->ids = malloc(sizeof *a->ids * (size_t)B * T);
    a->pos_ids = malloc(sizeof *a->pos_ids * (size_t)B * T);
    bool ok = a->x && a->layer && a->ids && a->pos_ids;
    for (int l = 0; ok && l <= L; l++)
        alloc3(k, &a->x[l], B, T, C, &ok);
    for (int i = 0; ok && i < nsets; i++)
        ok = set_alloc(m, k, &a->layer[i], i);
    if (ok) {
        alloc3(k, &a->pos, B, T, C, &ok);
        alloc3(k, &a->out, B, T, C, &ok);
        alloc3(k, &a->out_stats, (int64_t)B * T, 2, 0, &ok);
    }
    if (!ok) {
        clip_acts_free(a, k);
        return error_set(err, "CLIP text model: activations for batch %d x %d tokens: %s", B, T,
                         k->msg[0] ? k->msg : "out of memory");
    }
    for (int i = 0; i < B * T; i++)
        a->pos_ids[i] = i % T;
    return 0;
}

/* ---- layers ---- */

static tensor *W(clip *m, int i)
{
    return params_w(&m->ps, i);
}

/* y = x w^T + b, plus the adapter's scale * up(down(x)) when the layer's slot carries one (its
 * down(x) saved in s->lora_h[slot]). */
static int linear_forward(clip *m, kctx *k, const clip_layer *ly, clip_layer_acts *s, int slot, tensor *y,
                          const tensor *x, int w, int b)
{
    if (k_linear_forward(k, y, x, W(m, w), W(m, b)) < 0)
        return -1;
    int mi = ly->lora[slot];
    return mi >= 0 ? lora_forward(k, m->lora, mi, y, x, &s->lora_h[slot]) : 0;
}

/* x[0] (B, T, C) = token_embedding[ids] + position_embedding[t] */
static int embed_forward(clip *m, kctx *k)
{
    clip_acts *a = &m->acts;
    if (k_embedding_forward(k, &a->x[0], a->ids, W(m, m->tok_emb)) < 0 ||
        k_embedding_forward(k, &a->pos, a->pos_ids, W(m, m->pos_emb)) < 0)
        return -1;
    return k_add(k, &a->x[0], &a->x[0], &a->pos);
}

/* x[l+1] = mid + fc2(act(fc1(LN2(mid)))), mid = x[l] + out_proj(attn(LN1(x[l]))), all (B, T, C). */
static int layer_forward(clip *m, kctx *k, int l)
{
    const clip_config *c = &m->cfg;
    const clip_layer *ly = &m->layers[l];
    clip_acts *a = &m->acts;
    clip_layer_acts *s = &a->layer[a->keep ? l : 0];
    tensor *x = &a->x[l], *y = &a->x[l + 1];
    int H = c->num_attention_heads;
    float scale = 1.0f / sqrtf((float)(c->hidden_size / H));
    if (k_layer_norm_forward(k, &s->ln1, &s->ln1_stats, x, W(m, ly->ln1_w), W(m, ly->ln1_b),
                             c->layer_norm_eps) < 0 ||
        linear_forward(m, k, ly, s, CLIP_LORA_Q, &s->q, &s->ln1, ly->q_w, ly->q_b) < 0 ||
        linear_forward(m, k, ly, s, CLIP_LORA_K, &s->k, &s->ln1, ly->k_w, ly->k_b) < 0 ||
        linear_forward(m, k, ly, s, CLIP_LORA_V, &s->v, &s->ln1, ly->v_w, ly->v_b) < 0 ||
        k_attention_forward(k, &s->att, a->keep ? &s->lse : NULL, &s->q, &s->k, &s->v, H, scale, true) < 0 ||
        linear_forward(m, k, ly, s, CLIP_LORA_OUT, &s->mid, &s->att, ly->out_w, ly->out_b) < 0 ||
        k_axpby(k, &s->mid, 1.0f, x, 1.0f) < 0) /* the residual: mid += x */
        return -1;
    if (k_layer_norm_forward(k, &s->ln2, &s->ln2_stats, &s->mid, W(m, ly->ln2_w), W(m, ly->ln2_b),
                             c->layer_norm_eps) < 0 ||
        linear_forward(m, k, ly, s, CLIP_LORA_FC1, &s->fc1, &s->ln2, ly->fc1_w, ly->fc1_b) < 0 ||
        k_act_forward(k, c->hidden_act, &s->act, &s->fc1) < 0 ||
        linear_forward(m, k, ly, s, CLIP_LORA_FC2, y, &s->act, ly->fc2_w, ly->fc2_b) < 0 ||
        k_axpby(k, y, 1.0f, &s->mid, 1.0f) < 0)
        return -1;
    return 0;
}

/* ---- the model ---- */

static int input_check(const clip *m, const int32_t *ids, int B, int T, int clip_skip, tg_error *err)
{
    const clip_config *c = &m->cfg;
    if (B < 1 || T < 1)
        return error_set(err, "CLIP text model: input_ids is [%d, %d]: need at least one token", B, T);
    if (T > c->max_position_embeddings)
        return error_set(err, "CLIP text model: input_ids has %d tokens per row, the model has %d "
                         "positions (max_position_embeddings)", T, c->max_position_embeddings);
    if (clip_skip < 1 || clip_skip > c->num_hidden_layers)
        return error_set(err, "CLIP text model: clip_skip %d is outside 1..%d (the number of layers)",
                         clip_skip, c->num_hidden_layers);
    for (int i = 0; i < B * T; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return error_set(err, "CLIP text model: input_ids[%d][%d] = %d is outside the vocabulary "
                             "(0..%d)", i / T, i % T, (int)ids[i], c->vocab_size - 1);
    return 0;
}

int clip_forward(clip *m, kctx *k, const int32_t *ids, int B, int T, int clip_skip, bool for_backward,
                 tg_error *err)
{
    m->clip_skip = 0;
    if (input_check(m, ids, B, T, clip_skip, err) < 0 || acts_ensure(m, k, B, T, for_backward, err) < 0)
        return -1;
    clip_acts *a = &m->acts;
    memcpy(a->ids, ids, sizeof *ids * (size_t)B * T);
    int n = m->cfg.num_hidden_layers - clip_skip + 1; /* layers that feed the output */
    if (embed_forward(m, k) < 0)
        return error_set(err, "CLIP text model: embeddings: %s", k->msg);
    for (int l = 0; l < n; l++)
        if (layer_forward(m, k, l) < 0)
            return error_set(err, "CLIP text model: layer %d: %s", l, k->msg);
    if (k_layer_norm_forward(k, &a->out, &a->out_stats, &a->x[n], W(m, m->lnf_w), W(m, m->lnf_b),
                             m->cfg.layer_norm_eps) < 0)
        return error_set(err, "CLIP text model: final_layer_norm: %s", k->msg);
    m->clip_skip = clip_skip;
    m->forward_kept = for_backward;
    return 0;
}

int clip_hidden_ln(clip *m, kctx *k, int clip_skip, tensor *y, tg_error *err)
{
    int L = m->cfg.num_hidden_layers;
    if (!m->clip_skip)
        return error_set(err, "CLIP text model: no forward to take a hidden state from");
    if (clip_skip < m->clip_skip || clip_skip > L)
        return error_set(err, "CLIP text model: clip_skip %d: the last forward (clip_skip %d) computed "
                         "the hidden states for clip_skip %d..%d", clip_skip, m->clip_skip, m->clip_skip, L);
    clip_acts *a = &m->acts;
    int64_t shape[2] = {(int64_t)a->B * a->T, 2};
    tensor stats = k_tensor(k, K_F32, 2, shape);
    int rc = stats.data ? k_layer_norm_forward(k, y, &stats, &a->x[L - clip_skip + 1], W(m, m->lnf_w),
                                               W(m, m->lnf_b), m->cfg.layer_norm_eps) : -1;
    k_tensor_free(k, &stats);
    return rc < 0 ? error_set(err, "CLIP text model: final_layer_norm: %s", k->msg) : 0;
}
