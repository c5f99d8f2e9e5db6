/* The UNet's SpatialTransformer as SD 1.x has it (ldm/modules/attention.py):
 *   h = GN(x) (eps 1e-6); t = proj_in(h) (1x1 conv) as (B, HW, C);
 *   per BasicTransformerBlock: t += attn1(LN1(t)); t += attn2(LN2(t), context); t += ff(LN3(t));
 *   y = proj_out(t as NCHW) (1x1 conv) + x
 * CrossAttention: to_q/to_k/to_v without bias, to_out.0 with, scale dim_head^-0.5, no mask.
 * FeedForward: GEGLU ff.net.0.proj C -> 8C, (a, gate) = chunk(2), a * gelu(gate), ff.net.2 4C -> C.
 * LayerNorm eps 1e-5. Every linear and 1x1 conv may carry a LoRA adapter, added to its output. */
#include "trainer/private/unet_layers.h"

#include <math.h>

#define ST_GN_EPS 1e-6f
#define ST_LN_EPS 1e-5f

/* Where the LoRA hidden tensors of one attention sit in unet_tblock_acts.lh. */
enum { LH_Q, LH_K, LH_V, LH_OUT };

typedef struct attn_io {
    const unet_attn *at;
    int heads;
    float scale;
    const tensor *xq, *xkv;         /* the normed stream; itself (self) or the context (cross) */
    tensor *q, *kk, *v, *o, *lse;   /* saved */
    tensor *lh;                     /* 4 adapters' down(x) */
} attn_io;

/* out (B, T, C) = to_out(attention(to_q(xq), to_k(xkv), to_v(xkv))) */
static int attn_forward(unet *u, kctx *k, const attn_io *io, tensor *out)
{
    const unet_attn *at = io->at;
    UNET_TRY(k_linear_forward(k, io->q, io->xq, unet_w(u, at->q), NULL));
    UNET_LORA_FWD(u, k, at->lq, io->q, io->xq, &io->lh[LH_Q]);
    UNET_TRY(k_linear_forward(k, io->kk, io->xkv, unet_w(u, at->k), NULL));
    UNET_LORA_FWD(u, k, at->lk, io->kk, io->xkv, &io->lh[LH_K]);
    UNET_TRY(k_linear_forward(k, io->v, io->xkv, unet_w(u, at->v), NULL));
    UNET_LORA_FWD(u, k, at->lv, io->v, io->xkv, &io->lh[LH_V]);
    UNET_TRY(k_attention_forward(k, io->o, io->lse->data ? io->lse : NULL, io->q, io->kk, io->v, io->heads,
                                 io->scale, false));
    UNET_TRY(k_linear_forward(k, out, io->o, unet_w(u, at->out_w), unet_w(u, at->out_b)));
    UNET_LORA_FWD(u, k, at->lout, out, io->o, &io->lh[LH_OUT]);
    return 0;
}

static void attn_ios(const unet_st *s, unet_tblock *t, const tensor *context, attn_io *self, attn_io *cross)
{
    unet_tblock_acts *a = &t->a;
    float scale = (float)(1 / sqrt((double)s->dim_head));
    *self = (attn_io){&t->attn1, s->heads, scale, &a->l1, &a->l1, &a->q1, &a->k1, &a->v1, &a->o1, &a->lse1,
                      &a->lh[0]};
    *cross = (attn_io){&t->attn2, s->heads, scale, &a->l2, context, &a->q2, &a->k2, &a->v2, &a->o2, &a->lse2,
                       &a->lh[4]};
}

static int tblock_forward(unet *u, kctx *k, const unet_st *s, unet_tblock *t, const tensor *context)
{
    unet_tblock_acts *a = &t->a;
    int64_t B = a->t0.shape[0], T = a->t0.shape[1], C = a->t0.shape[2];
    tensor tmp = unet_slot(u, SLOT_TMP, B, T, C, 0);
    tensor f = unet_slot(u, SLOT_F, B, T, 4 * C, 0);
    attn_io self, cross;
    attn_ios(s, t, context, &self, &cross);
    /* self-attention */
    UNET_TRY(k_layer_norm_forward(k, &a->l1, &a->s1, &a->t0, unet_w(u, t->norm1_w), unet_w(u, t->norm1_b),
                                  ST_LN_EPS));
    UNET_TRY(attn_forward(u, k, &self, &tmp));
    UNET_TRY(k_add(k, &a->t1, &a->t0, &tmp)); /* in place when UNET_INFER shares t0 and t1 */
    /* cross-attention */
    UNET_TRY(k_layer_norm_forward(k, &a->l2, &a->s2, &a->t1, unet_w(u, t->norm2_w), unet_w(u, t->norm2_b),
                                  ST_LN_EPS));
    UNET_TRY(attn_forward(u, k, &cross, &tmp));
    UNET_TRY(k_add(k, &a->t2, &a->t1, &tmp));
    /* GEGLU feed-forward */
    UNET_TRY(k_layer_norm_forward(k, &a->l3, &a->s3, &a->t2, unet_w(u, t->norm3_w), unet_w(u, t->norm3_b),
                                  ST_LN_EPS));
    UNET_TRY(k_linear_forward(k, &a->g, &a->l3, unet_w(u, t->ff0_w), unet_w(u, t->ff0_b)));
    UNET_LORA_FWD(u, k, t->lff0, &a->g, &a->l3, &a->lh[8]);
    UNET_TRY(k_geglu_forward(k, &f, &a->g));
    UNET_TRY(k_linear_forward(k, &tmp, &f, unet_w(u, t->ff2_w), unet_w(u, t->ff2_b)));
    UNET_LORA_FWD(u, k, t->lff2, &tmp, &f, &a->lh[9]);
    return k_add(k, &a->t3, &a->t2, &tmp);
}

int unet_st_forward(unet *u, kctx *k, unet_layer *L, const tensor *x, const tensor *context)
{
    unet_st *s = &L->st;
    int64_t B = x->shape[0], C = L->cout, h = x->shape[2], w = x->shape[3];
    tensor p = unet_slot(u, SLOT_P, B, C, h, w); /* proj_in's output, NCHW */
    UNET_TRY(k_group_norm_forward(k, &L->h1, &L->s1, x, unet_w(u, s->norm_w), unet_w(u, s->norm_b),
                                  u->cfg.norm_num_groups, ST_GN_EPS));
    UNET_TRY(k_conv2d_forward(k, &p, &L->h1, unet_w(u, s->proj_in_w), unet_w(u, s->proj_in_b), 1, 0));
    UNET_LORA_FWD(u, k, s->lproj_in, &p, &L->h1, &L->lh_in);
    UNET_TRY(k_nchw_to_nlc(k, &s->tb[0].a.t0, &p));
    for (int d = 0; d < s->depth; d++)
        UNET_TRY(tblock_forward(u, k, s, &s->tb[d], context));
    UNET_TRY(k_nlc_to_nchw(k, &L->yt, &s->tb[s->depth - 1].a.t3));
    UNET_TRY(k_conv2d_forward(k, &L->y, &L->yt, unet_w(u, s->proj_out_w), unet_w(u, s->proj_out_b), 1, 0));
    UNET_LORA_FWD(u, k, s->lproj_out, &L->y, &L->yt, &L->lh_out);
    return k_add(k, &L->y, &L->y, x);
}

/* ---- backward ---- */

/* dy: gradient of `out` -> dxq +=, dxkv += (NULL: not wanted), weights and adapters +=. */
static int attn_backward(unet *u, kctx *k, const attn_io *io, const tensor *dy, tensor *dxq, tensor *dxkv)
{
    const unet_attn *at = io->at;
    tensor dout = unet_slot(u, SLOT_DO, io->o->shape[0], io->o->shape[1], io->o->shape[2], 0);
    UNET_TRY(unet_zero(k, &dout));
    UNET_LORA_BWD(u, k, at->lout, &dout, dy, io->o, &io->lh[LH_OUT]);
    UNET_TRY(k_linear_backward(k, &dout, unet_g(u, at->out_w), unet_g(u, at->out_b), dy, io->o,
                               unet_w(u, at->out_w)));
    tensor dq = unet_slot(u, SLOT_DQ, io->q->shape[0], io->q->shape[1], io->q->shape[2], 0);
    tensor dk = unet_slot(u, SLOT_DK, io->kk->shape[0], io->kk->shape[1], io->kk->shape[2], 0);
    tensor dv = unet_slot(u, SLOT_DV, io->v->shape[0], io->v->shape[1], io->v->shape[2], 0);
    /* frozen cross-attention without dcontext: k and v lead nowhere, skip their half of the work */
    bool kv = dxkv || unet_g(u, at->k) || at->lk >= 0 || at->lv >= 0;
    UNET_TRY(unet_zero(k, &dq));
    if (kv) {
        UNET_TRY(unet_zero(k, &dk));
        UNET_TRY(unet_zero(k, &dv));
    }
    UNET_TRY(k_attention_backward(k, &dq, kv ? &dk : NULL, kv ? &dv : NULL, &dout, io->o, io->lse, io->q,
                                  io->kk, io->v, io->heads, io->scale, false));
    UNET_LORA_BWD(u, k, at->lq, dxq, &dq, io->xq, &io->lh[LH_Q]);
    UNET_TRY(k_linear_backward(k, dxq, unet_g(u, at->q), NULL, &dq, io->xq, unet_w(u, at->q)));
    if (!kv)
        return 0;
    UNET_LORA_BWD(u, k, at->lk, dxkv, &dk, io->xkv, &io->lh[LH_K]);
    UNET_TRY(k_linear_backward(k, dxkv, unet_g(u, at->k), NULL, &dk, io->xkv, unet_w(u, at->k)));
    UNET_LORA_BWD(u, k, at->lv, dxkv, &dv, io->xkv, &io->lh[LH_V]);
    return k_linear_backward(k, dxkv, unet_g(u, at->v), NULL, &dv, io->xkv, unet_w(u, at->v));
}

/* dt: gradient of t3 on entry, of t0 on return (the residual stream accumulates in place). */
static int tblock_backward(unet *u, kctx *k, const unet_st *s, unet_tblock *t, const tensor *context,
                           tensor *dt, tensor *dcontext)
{
    unet_tblock_acts *a = &t->a;
    int64_t B = a->t0.shape[0], T = a->t0.shape[1], C = a->t0.shape[2];
    tensor f = unet_slot(u, SLOT_F, B, T, 4 * C, 0);
    tensor df = unet_slot(u, SLOT_DF, B, T, 4 * C, 0);
    tensor dg = unet_slot(u, SLOT_DG, B, T, 8 * C, 0);
    tensor dl = unet_slot(u, SLOT_DL, B, T, C, 0);
    attn_io self, cross;
    attn_ios(s, t, context, &self, &cross);
    /* feed-forward: t3 = t2 + ff2(geglu(ff0(LN3(t2)))) */
    UNET_TRY(k_geglu_forward(k, &f, &a->g));
    UNET_TRY(unet_zero(k, &df));
    UNET_LORA_BWD(u, k, t->lff2, &df, dt, &f, &a->lh[9]);
    UNET_TRY(k_linear_backward(k, &df, unet_g(u, t->ff2_w), unet_g(u, t->ff2_b), dt, &f, unet_w(u, t->ff2_w)));
    UNET_TRY(unet_zero(k, &dg));
    UNET_TRY(k_geglu_backward(k, &dg, &df, &a->g));
    UNET_TRY(unet_zero(k, &dl));
    UNET_LORA_BWD(u, k, t->lff0, &dl, &dg, &a->l3, &a->lh[8]);
    UNET_TRY(k_linear_backward(k, &dl, unet_g(u, t->ff0_w), unet_g(u, t->ff0_b), &dg, &a->l3,
                               unet_w(u, t->ff0_w)));
    UNET_TRY(k_layer_norm_backward(k, dt, unet_g(u, t->norm3_w), unet_g(u, t->norm3_b), &dl, &a->t2, &a->s3,
                                   unet_w(u, t->norm3_w)));
    /* cross-attention: t2 = t1 + attn2(LN2(t1), context) */
    UNET_TRY(unet_zero(k, &dl));
    UNET_TRY(attn_backward(u, k, &cross, dt, &dl, dcontext));
    UNET_TRY(k_layer_norm_backward(k, dt, unet_g(u, t->norm2_w), unet_g(u, t->norm2_b), &dl, &a->t1, &a->s2,
                                   unet_w(u, t->norm2_w)));
    /* self-attention: t1 = t0 + attn1(LN1(t0)); q, k and v all read LN1(t0) */
    UNET_TRY(unet_zero(k, &dl));
    UNET_TRY(attn_backward(u, k, &self, dt, &dl, &dl));
    return k_layer_norm_backward(k, dt, unet_g(u, t->norm1_w), unet_g(u, t->norm1_b), &dl, &a->t0, &a->s1,
                                 unet_w(u, t->norm1_w));
}

int unet_st_backward(unet *u, kctx *k, unet_layer *L, const tensor *x, const tensor *context,
                     tensor *dx, const tensor *dy, tensor *dcontext)
{
    unet_st *s = &L->st;
    int64_t B = x->shape[0], C = L->cout, h = x->shape[2], w = x->shape[3];
    tensor dn = unet_slot(u, SLOT_DN, B, C, h, w);   /* NCHW gradients: proj_out's input, proj_in's output */
    tensor dt = unet_slot(u, SLOT_DT, B, h * w, C, 0);
    tensor dh = unet_slot(u, SLOT_DH, B, C, h, w);   /* GN's output */
    if (dx) /* y = ... + x */
        UNET_TRY(k_axpby(k, dx, 1, dy, 1));
    UNET_TRY(unet_zero(k, &dn));
    UNET_LORA_BWD(u, k, s->lproj_out, &dn, dy, &L->yt, &L->lh_out);
    UNET_TRY(k_conv2d_backward(k, &dn, unet_g(u, s->proj_out_w), unet_g(u, s->proj_out_b), dy, &L->yt,
                               unet_w(u, s->proj_out_w), 1, 0));
    UNET_TRY(k_nchw_to_nlc(k, &dt, &dn));
    for (int d = s->depth - 1; d >= 0; d--)
        UNET_TRY(tblock_backward(u, k, s, &s->tb[d], context, &dt, dcontext));
    UNET_TRY(k_nlc_to_nchw(k, &dn, &dt));
    UNET_TRY(unet_zero(k, &dh));
    UNET_LORA_BWD(u, k, s->lproj_in, &dh, &dn, &L->h1, &L->lh_in);
    UNET_TRY(k_conv2d_backward(k, &dh, unet_g(u, s->proj_in_w), unet_g(u, s->proj_in_b), &dn, &L->h1,
                               unet_w(u, s->proj_in_w), 1, 0));
    return k_group_norm_backward(k, dx, unet_g(u, s->norm_w), unet_g(u, s->norm_b), &dh, x, &L->s1,
                                 unet_w(u, s->norm_w), u->cfg.norm_num_groups);
}
