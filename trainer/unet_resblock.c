/* The UNet's ResBlock (openaimodel.py ResBlock, use_scale_shift_norm False, dropout 0):
 *   h1 = GN(x); h3 = conv3x3(SiLU(h1)) + Linear(SiLU(emb))[:, :, None, None]
 *   h4 = GN(h3); y = skip(x) + conv3x3(SiLU(h4))        skip = identity or 1x1 conv
 * GroupNorm eps 1e-5 (GroupNorm32). Saved: h1, h3, h4 and both norms' stats; each SiLU output is
 * recomputed by the backward (one elementwise pass instead of a full map per ResBlock). */
#include "trainer/private/unet_layers.h"

#define RES_EPS 1e-5f

int unet_res_forward(unet *u, kctx *k, unet_layer *L, const tensor *x)
{
    const unet_res *r = &L->res;
    int G = u->cfg.norm_num_groups;
    int64_t B = x->shape[0], h = x->shape[2], w = x->shape[3];
    tensor a = unet_slot(u, SLOT_A, B, L->cin, h, w);               /* SiLU(h1) (B, cin, h, w) */
    tensor e = unet_slot(u, SLOT_E, B, L->cout, 0, 0);              /* emb_layers (B, cout) */
    UNET_TRY(k_group_norm_forward(k, &L->h1, &L->s1, x, unet_w(u, r->in_norm_w), unet_w(u, r->in_norm_b),
                                  G, RES_EPS));
    UNET_TRY(k_act_forward(k, K_SILU, &a, &L->h1));
    UNET_TRY(k_conv2d_forward(k, &L->h3, &a, unet_w(u, r->in_conv_w), unet_w(u, r->in_conv_b), 1, 1));
    UNET_TRY(k_linear_forward(k, &e, &u->acts->emb_s, unet_w(u, r->emb_w), unet_w(u, r->emb_b)));
    UNET_TRY(k_add_bcast_bc(k, &L->h3, &L->h3, &e));
    UNET_TRY(k_group_norm_forward(k, &L->h4, &L->s2, &L->h3, unet_w(u, r->out_norm_w),
                                  unet_w(u, r->out_norm_b), G, RES_EPS));
    a = unet_slot(u, SLOT_A, B, L->cout, h, w);                     /* SiLU(h4) (B, cout, h, w) */
    UNET_TRY(k_act_forward(k, K_SILU, &a, &L->h4));
    UNET_TRY(k_conv2d_forward(k, &L->y, &a, unet_w(u, r->out_conv_w), unet_w(u, r->out_conv_b), 1, 1));
    if (r->skip_w < 0)
        return k_add(k, &L->y, &L->y, x);
    tensor s = unet_slot(u, SLOT_SKIP, B, L->cout, h, w);
    UNET_TRY(k_conv2d_forward(k, &s, x, unet_w(u, r->skip_w), unet_w(u, r->skip_b), 1, 0));
    return k_add(k, &L->y, &L->y, &s);
}

/* dy (B, cout, h, w) -> dx (B, cin, h, w) +=, weight gradients +=, d SiLU(emb) += (for the time
 * embedding, only when weights learn). */
int unet_res_backward(unet *u, kctx *k, unet_layer *L, const tensor *x, tensor *dx, const tensor *dy)
{
    const unet_res *r = &L->res;
    int G = u->cfg.norm_num_groups;
    int64_t B = x->shape[0], h = x->shape[2], w = x->shape[3];
    /* skip(x) */
    if (r->skip_w >= 0)
        UNET_TRY(k_conv2d_backward(k, dx, unet_g(u, r->skip_w), unet_g(u, r->skip_b), dy, x,
                                   unet_w(u, r->skip_w), 1, 0));
    else if (dx)
        UNET_TRY(k_axpby(k, dx, 1, dy, 1));
    /* out_layers: conv3x3(SiLU(GN(h3))) */
    tensor a = unet_slot(u, SLOT_A, B, L->cout, h, w);
    tensor da = unet_slot(u, SLOT_DA, B, L->cout, h, w);
    tensor dh = unet_slot(u, SLOT_DH, B, L->cout, h, w);
    tensor dh3 = unet_slot(u, SLOT_DH3, B, L->cout, h, w);
    UNET_TRY(k_act_forward(k, K_SILU, &a, &L->h4));
    UNET_TRY(unet_zero(k, &da));
    UNET_TRY(k_conv2d_backward(k, &da, unet_g(u, r->out_conv_w), unet_g(u, r->out_conv_b), dy, &a,
                               unet_w(u, r->out_conv_w), 1, 1));
    UNET_TRY(unet_zero(k, &dh));
    UNET_TRY(k_act_backward(k, K_SILU, &dh, &da, &L->h4));
    UNET_TRY(unet_zero(k, &dh3));
    UNET_TRY(k_group_norm_backward(k, &dh3, unet_g(u, r->out_norm_w), unet_g(u, r->out_norm_b), &dh, &L->h3,
                                   &L->s2, unet_w(u, r->out_norm_w), G));
    /* emb_layers: its input is the time embedding, which leads only to weights */
    if (unet_wants_wgrad(u)) {
        tensor de = unet_slot(u, SLOT_DE, B, L->cout, 0, 0);
        UNET_TRY(unet_zero(k, &de));
        UNET_TRY(k_add_bcast_bc_backward(k, &de, &dh3));
        UNET_TRY(k_linear_backward(k, &u->acts->demb_s, unet_g(u, r->emb_w), unet_g(u, r->emb_b), &de,
                                   &u->acts->emb_s, unet_w(u, r->emb_w)));
    }
    /* in_layers: conv3x3(SiLU(GN(x))) */
    a = unet_slot(u, SLOT_A, B, L->cin, h, w);
    da = unet_slot(u, SLOT_DA, B, L->cin, h, w);
    dh = unet_slot(u, SLOT_DH, B, L->cin, h, w);
    UNET_TRY(k_act_forward(k, K_SILU, &a, &L->h1));
    UNET_TRY(unet_zero(k, &da));
    UNET_TRY(k_conv2d_backward(k, &da, unet_g(u, r->in_conv_w), unet_g(u, r->in_conv_b), &dh3, &a,
                               unet_w(u, r->in_conv_w), 1, 1));
    UNET_TRY(unet_zero(k, &dh));
    UNET_TRY(k_act_backward(k, K_SILU, &dh, &da, &L->h1));
    return k_group_norm_backward(k, dx, unet_g(u, r->in_norm_w), unet_g(u, r->in_norm_b), &dh, x, &L->s1,
                                 unet_w(u, r->in_norm_w), G);
}
