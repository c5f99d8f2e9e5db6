/* The SD VAE's blocks, inference only (trainer/private/vae_run.h). Each block reads the feature map
 * in one slot and leaves its output in another; a block's input stays alive only until its
 * residual add. Shapes are (B, C, H, W) unless noted. */
#include <math.h>

#include "trainer/private/vae_run.h"

int vae_groupnorm(vae_run *r, const vae_norm *n, tensor *y, const tensor *x)
{
    /* (B, groups, 2) at the start of the statistics buffer, which may be larger (an earlier B) */
    tensor stats = {.data = r->m->stats.data, .dtype = K_F32, .ndim = 3,
                    .shape = {r->B, r->m->cfg.norm_num_groups, 2}};
    VAE_OP(r, k_group_norm_forward(r->k, y, &stats, x, vae_w(r, n->w), vae_w(r, n->b),
                                   r->m->cfg.norm_num_groups, VAE_NORM_EPS));
    return 0;
}

int vae_norm_silu(vae_run *r, const vae_norm *n, tensor *y, const tensor *x)
{
    if (vae_groupnorm(r, n, y, x))
        return -1;
    VAE_OP(r, k_act_forward(r->k, K_SILU, y, y));
    return 0;
}

/* x + conv2(silu(norm2(conv1(silu(norm1(x)))))), x through nin_shortcut when the width changes.
 * Slots: x in a; norm1 in s1; conv1 (then norm2 in place) in s2; conv2 and the sum in s3; the
 * shortcut reuses s1. */
int vae_resblock_forward(vae_run *r, const vae_resblock *rb, vae_fm *x)
{
    int a = x->slot, s1 = vae_slot_free(a, -1, -1), s2 = vae_slot_free(a, s1, -1);
    int s3 = vae_slot_free(a, s1, s2);
    int64_t H = x->H, W = x->W;
    tensor in, h1, h2, out, sc;
    if (vae_view4(r, a, rb->cin, H, W, &in) || vae_view4(r, s1, rb->cin, H, W, &h1) ||
        vae_view4(r, s2, rb->cout, H, W, &h2) || vae_view4(r, s3, rb->cout, H, W, &out))
        return -1;
    if (vae_norm_silu(r, &rb->norm1, &h1, &in))
        return -1;
    VAE_OP(r, k_conv2d_forward(r->k, &h2, &h1, vae_w(r, rb->conv1.w), vae_w(r, rb->conv1.b), 1, 1));
    if (vae_norm_silu(r, &rb->norm2, &h2, &h2)) /* dropout: the identity in eval mode */
        return -1;
    VAE_OP(r, k_conv2d_forward(r->k, &out, &h2, vae_w(r, rb->conv2.w), vae_w(r, rb->conv2.b), 1, 1));
    if (rb->nin_shortcut.w >= 0) {
        if (vae_view4(r, s1, rb->cout, H, W, &sc))
            return -1;
        VAE_OP(r, k_conv2d_forward(r->k, &sc, &in, vae_w(r, rb->nin_shortcut.w),
                                   vae_w(r, rb->nin_shortcut.b), 1, 0));
        VAE_OP(r, k_add(r->k, &out, &out, &sc));
    } else {
        VAE_OP(r, k_add(r->k, &out, &out, &in));
    }
    *x = (vae_fm){s3, rb->cout, H, W};
    return 0;
}

/* A 1x1 conv applied to tokens (B, T, C): the linear y = x w^T + b with w (C, C, 1, 1) seen as
 * (C, C). Working on tokens saves transposing q, k and v separately. */
static int token_conv(vae_run *r, tensor *y, const tensor *x, const vae_conv *c, int64_t C)
{
    int64_t shape[2] = {C, C};
    tensor w = r->plan ? (tensor){0} : tensor_view(vae_w(r, c->w), 2, shape);
    VAE_OP(r, k_linear_forward(r->k, y, x, &w, vae_w(r, c->b)));
    return 0;
}

/* x + proj_out(attention(q, k, v)) with one head over the T = H*W positions, scale C^-1/2 (LDM's
 * `int(c)**(-0.5)`), q, k, v = 1x1 convs of norm(x). Slots: x in a; norm in s1, then the attention
 * output (B, T, C) and at last the result; tokens in s2, then proj_out's output; q, k, v side by
 * side in s3. */
int vae_attn_forward(vae_run *r, const vae_attn *at, vae_fm *x)
{
    int a = x->slot, s1 = vae_slot_free(a, -1, -1), s2 = vae_slot_free(a, s1, -1);
    int s3 = vae_slot_free(a, s1, s2);
    int64_t C = at->c, T = x->H * x->W, tok[3] = {r->B, T, C};
    size_t n = (size_t)(r->B * T * C);
    tensor in, hn, h, q, kk, v, o, p, back;
    if (vae_view4(r, a, C, x->H, x->W, &in) || vae_view4(r, s1, C, x->H, x->W, &hn) ||
        vae_view(r, s2, 0, 3, tok, &h) || vae_view(r, s3, 0, 3, tok, &q) ||
        vae_view(r, s3, n, 3, tok, &kk) || vae_view(r, s3, 2 * n, 3, tok, &v) ||
        vae_view(r, s1, 0, 3, tok, &o) || vae_view(r, s2, 0, 3, tok, &p) ||
        vae_view4(r, s1, C, x->H, x->W, &back))
        return -1;
    if (vae_groupnorm(r, &at->norm, &hn, &in))
        return -1;
    VAE_OP(r, k_nchw_to_nlc(r->k, &h, &hn));
    if (token_conv(r, &q, &h, &at->q, C) || token_conv(r, &kk, &h, &at->k, C) ||
        token_conv(r, &v, &h, &at->v, C))
        return -1;
    VAE_OP(r, k_attention_forward(r->k, &o, NULL, &q, &kk, &v, 1, (float)(1.0 / sqrt((double)C)), false));
    if (token_conv(r, &p, &o, &at->proj_out, C))
        return -1;
    VAE_OP(r, k_nlc_to_nchw(r->k, &back, &p));
    VAE_OP(r, k_add(r->k, &back, &back, &in));
    x->slot = s1;
    return 0;
}

/* LDM's Downsample(with_conv): F.pad(x, (0, 1, 0, 1)) -- one zero column on the right, one zero
 * row at the bottom -- then Conv2d(3, stride 2, padding 0). The kernels' convolution pads
 * symmetrically, so the pad is built from two concatenations with zeros: rows (B*C*H, W) gain a
 * column, then planes (B*C, H*(W+1)) gain a row. Slots: x in a, which then takes the output;
 * the zeros in s3; the column-padded rows in s1; the padded map in s2. */
int vae_downsample_forward(vae_run *r, const vae_conv *c, vae_fm *x)
{
    int a = x->slot, s1 = vae_slot_free(a, -1, -1), s2 = vae_slot_free(a, s1, -1);
    int s3 = vae_slot_free(a, s1, s2);
    int64_t B = r->B, C = x->C, H = x->H, W = x->W, Ho = (H + 1 - 3) / 2 + 1, Wo = (W + 1 - 3) / 2 + 1;
    int64_t rows = B * C * H, planes = B * C, nz = rows > planes * (W + 1) ? rows : planes * (W + 1);
    int64_t s_rows[2] = {rows, W}, s_zcol[2] = {rows, 1}, s_wide[2] = {rows, W + 1};
    int64_t s_planes[2] = {planes, H * (W + 1)}, s_zrow[2] = {planes, W + 1};
    int64_t s_pad[2] = {planes, (H + 1) * (W + 1)}, s_pad4[4] = {B, C, H + 1, W + 1};
    tensor zeros, zcol, zrow, xr, wide, wide_planes, pad, pad4, out;
    if (vae_view(r, s3, 0, 1, &nz, &zeros) || vae_view(r, s3, 0, 2, s_zcol, &zcol) ||
        vae_view(r, s3, 0, 2, s_zrow, &zrow) || vae_view(r, a, 0, 2, s_rows, &xr) ||
        vae_view(r, s1, 0, 2, s_wide, &wide) || vae_view(r, s1, 0, 2, s_planes, &wide_planes) ||
        vae_view(r, s2, 0, 2, s_pad, &pad) || vae_view(r, s2, 0, 4, s_pad4, &pad4) ||
        vae_view4(r, a, C, Ho, Wo, &out))
        return -1;
    if (!r->plan)
        k_zero(r->k, &zeros);
    VAE_OP(r, k_concat_forward(r->k, &wide, &xr, &zcol));
    VAE_OP(r, k_concat_forward(r->k, &pad, &wide_planes, &zrow));
    VAE_OP(r, k_conv2d_forward(r->k, &out, &pad4, vae_w(r, c->w), vae_w(r, c->b), 2, 0));
    *x = (vae_fm){a, C, Ho, Wo};
    return 0;
}

/* LDM's Upsample(with_conv): nearest 2x (F.interpolate, scale_factor 2) then Conv2d(3, padding 1).
 * Slots: x in a; the upsampled map in s1; the output in s2. */
int vae_upsample_forward(vae_run *r, const vae_conv *c, vae_fm *x)
{
    int a = x->slot, s1 = vae_slot_free(a, -1, -1), s2 = vae_slot_free(a, s1, -1);
    int64_t C = x->C, H2 = 2 * x->H, W2 = 2 * x->W;
    tensor in, up, out;
    if (vae_view4(r, a, C, x->H, x->W, &in) || vae_view4(r, s1, C, H2, W2, &up) ||
        vae_view4(r, s2, C, H2, W2, &out))
        return -1;
    VAE_OP(r, k_upsample2x_forward(r->k, &up, &in));
    VAE_OP(r, k_conv2d_forward(r->k, &out, &up, vae_w(r, c->w), vae_w(r, c->b), 1, 1));
    *x = (vae_fm){s2, C, H2, W2};
    return 0;
}
