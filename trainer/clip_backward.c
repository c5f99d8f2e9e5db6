/* CLIP text encoder backward: the forward's steps in exact reverse order (clip_model.h). Every
 * kernel backward accumulates, so the residual stream's gradient (acts.grad_embeds) is one buffer
 * that each layer's branches add into on their way down; the per-op scratch gradients are zeroed
 * right before the op that accumulates into them. */
#include <math.h>
#include <string.h>

#include "trainer/clip_model.h"

/* Scratch gradients for the forward's shape (once per shape). */
static int grads_ensure(clip *m, kctx *k, tg_error *err)
{
    clip_acts *a = &m->acts;
    if (a->grad_embeds.data)
        return 0;
    int64_t B = a->B, T = a->T, C = m->cfg.hidden_size, F = m->cfg.intermediate_size;
    tensor *btc[] = {&a->grad_embeds, &a->d_ln, &a->d_q, &a->d_k, &a->d_v, &a->d_att};
    bool ok = true;
    for (size_t i = 0; i < sizeof btc / sizeof *btc; i++)
        ok = ok && (*btc[i] = k_tensor4(k, B, T, C, 0)).data;
    ok = ok && (a->d_act = k_tensor4(k, B, T, F, 0)).data && (a->d_fc1 = k_tensor4(k, B, T, F, 0)).data;
    if (ok)
        return 0;
    tensor *all[] = {&a->grad_embeds, &a->d_ln, &a->d_q, &a->d_k, &a->d_v, &a->d_att, &a->d_act, &a->d_fc1};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        k_tensor_free(k, all[i]);
    return error_set(err, "CLIP text model: gradients for batch %d x %d tokens: %s", a->B, a->T,
                     k->msg[0] ? k->msg : "out of memory");
}

static tensor *W(clip *m, int i)
{
    return params_w(&m->ps, i);
}

/* NULL in frozen mode: the kernels then skip the weight gradients. */
static tensor *G(clip *m, int i)
{
    return params_g(&m->ps, i);
}

/* The backward of linear_forward: the adapter's first (it comes after the base in the forward),
 * both adding into dx. */
static int linear_backward(clip *m, kctx *k, const clip_layer *ly, const clip_layer_acts *s, int slot,
                           tensor *dx, const tensor *dy, const tensor *x, int w, int b)
{
    int mi = ly->lora[slot];
    if (mi >= 0 && lora_backward(k, m->lora, mi, dx, dy, x, &s->lora_h[slot]) < 0)
        return -1;
    return k_linear_backward(k, dx, G(m, w), G(m, b), dy, x, W(m, w));
}

/* d (B, T, C) = the gradient of x[l+1] on entry, of x[l] on return. */
static int layer_backward(clip *m, kctx *k, int l)
{
    const clip_config *c = &m->cfg;
    const clip_layer *ly = &m->layers[l];
    clip_acts *a = &m->acts;
    clip_layer_acts *s = &a->layer[l];
    tensor *d = &a->grad_embeds;
    int H = c->num_attention_heads;
    float scale = 1.0f / sqrtf((float)(c->hidden_size / H));
    /* x[l+1] = mid + fc2(act(fc1(LN2(mid)))): d flows to mid unchanged, plus the MLP's part */
    k_zero(k, &a->d_act);
    k_zero(k, &a->d_fc1);
    k_zero(k, &a->d_ln);
    if (linear_backward(m, k, ly, s, CLIP_LORA_FC2, &a->d_act, d, &s->act, ly->fc2_w, ly->fc2_b) < 0 ||
        k_act_backward(k, c->hidden_act, &a->d_fc1, &a->d_act, &s->fc1) < 0 ||
        linear_backward(m, k, ly, s, CLIP_LORA_FC1, &a->d_ln, &a->d_fc1, &s->ln2, ly->fc1_w, ly->fc1_b) < 0 ||
        k_layer_norm_backward(k, d, G(m, ly->ln2_w), G(m, ly->ln2_b), &a->d_ln, &s->mid, &s->ln2_stats,
                              W(m, ly->ln2_w)) < 0)
        return -1;
    /* mid = x[l] + out_proj(attn(q, k, v of LN1(x[l]))): likewise */
    k_zero(k, &a->d_att);
    k_zero(k, &a->d_q);
    k_zero(k, &a->d_k);
    k_zero(k, &a->d_v);
    k_zero(k, &a->d_ln);
    if (linear_backward(m, k, ly, s, CLIP_LORA_OUT, &a->d_att, d, &s->att, ly->out_w, ly->out_b) < 0 ||
        k_attention_backward(k, &a->d_q, &a->d_k, &a->d_v, &a->d_att, &s->att, &s->lse, &s->q, &s->k,
                             &s->v, H, scale, true) < 0 ||
        linear_backward(m, k, ly, s, CLIP_LORA_V, &a->d_ln, &a->d_v, &s->ln1, ly->v_w, ly->v_b) < 0 ||
        linear_backward(m, k, ly, s, CLIP_LORA_K, &a->d_ln, &a->d_k, &s->ln1, ly->k_w, ly->k_b) < 0 ||
        linear_backward(m, k, ly, s, CLIP_LORA_Q, &a->d_ln, &a->d_q, &s->ln1, ly->q_w, ly->q_b) < 0 ||
        k_layer_norm_backward(k, d, G(m, ly->ln1_w), G(m, ly->ln1_b), &a->d_ln, &a->x[l], &s->ln1_stats,
                              W(m, ly->ln1_w)) < 0)
        return -1;
    return 0;
}

static int dout_check(const clip *m, const tensor *dout, tg_error *err)
{
    const clip_acts *a = &m->acts;
    if (!m->clip_skip || !m->forward_kept)
        return error_set(err, "CLIP text model: backward without a forward run for_backward");
    if (!dout || !dout->data || dout->dtype != K_F32 || dout->ndim != 3 || dout->shape[0] != a->B ||
        dout->shape[1] != a->T || dout->shape[2] != m->cfg.hidden_size)
        return error_set(err, "CLIP text model: the output gradient must be F32 (%d, %d, %d) like the "
                         "output", a->B, a->T, m->cfg.hidden_size);
    return 0;
}

int clip_backward(clip *m, kctx *k, const tensor *dout, tg_error *err)
{
    if (dout_check(m, dout, err) < 0 || grads_ensure(m, k, err) < 0)
        return -1;
    clip_acts *a = &m->acts;
    int n = m->cfg.num_hidden_layers - m->clip_skip + 1;
    k_zero(k, &a->grad_embeds);
    if (k_layer_norm_backward(k, &a->grad_embeds, G(m, m->lnf_w), G(m, m->lnf_b), dout, &a->x[n],
                              &a->out_stats, W(m, m->lnf_w)) < 0)
        return error_set(err, "CLIP text model: final_layer_norm backward: %s", k->msg);
    for (int l = n - 1; l >= 0; l--)
        if (layer_backward(m, k, l) < 0)
            return error_set(err, "CLIP text model: layer %d backward: %s", l, k->msg);
    /* x[0] = token_embedding[ids] + position_embedding[t]: both tables get grad_embeds */
    if (k_embedding_backward(k, G(m, m->tok_emb), &a->grad_embeds, a->ids) < 0 ||
        k_embedding_backward(k, G(m, m->pos_emb), &a->grad_embeds, a->pos_ids) < 0)
        return error_set(err, "CLIP text model: embeddings backward: %s", k->msg);
    return 0;
}
