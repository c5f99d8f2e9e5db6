/* The UNet's forward (unet.h): the time embedding, then the layers in order (trainer/private/
 * unet_layers.h), with LDM's skip stack: every input block's output is kept, and each output
 * block starts with cat([h, hs.pop()], dim=1). */
#include "trainer/private/unet_layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OUT_EPS 1e-5f /* out.0 is GroupNorm32 */

/* util.py timestep_embedding(t, dim): freqs = exp(-ln(10000) * arange(half) / half),
 * [cos(t * freqs), sin(t * freqs)] (cos first), a zero column when dim is odd. Computed in float32
 * step by step as torch does, so that the embedding matches it to the rounding of cos/sin. */
static void timestep_embedding(float *out, const float *t, int B, int dim)
{
    int half = dim / 2;
    const float neg_log = (float)-log(10000.0);
    for (int b = 0; b < B; b++) {
        float *row = out + (size_t)b * dim;
        for (int i = 0; i < half; i++) {
            float freq = expf(neg_log * (float)i / (float)half);
            float arg = t[b] * freq;
            row[i] = (float)cos((double)arg);
            row[half + i] = (float)sin((double)arg);
        }
        if (dim % 2)
            row[dim - 1] = 0;
    }
}

/* time_embed: Linear(mc, 4mc), SiLU, Linear(4mc, 4mc); every ResBlock's emb_layers starts with a
 * SiLU of it, computed once here. */
static int time_embed_forward(unet *u, kctx *k, const float *timesteps, int B, tg_error *err)
{
    unet_acts *a = u->acts;
    int mc = u->cfg.model_channels;
    float *host = malloc(sizeof *host * (size_t)B * mc);
    if (!host)
        return error_set(err, "unet: out of memory");
    timestep_embedding(host, timesteps, B, mc);
    k_upload(k, &a->temb, host);
    free(host);
    const int *te = u->time_embed;
    if (k_linear_forward(k, &a->e1, &a->temb, unet_w(u, te[0]), unet_w(u, te[1])) ||
        k_act_forward(k, K_SILU, &a->e1s, &a->e1) ||
        k_linear_forward(k, &a->emb, &a->e1s, unet_w(u, te[2]), unet_w(u, te[3])) ||
        k_act_forward(k, K_SILU, &a->emb_s, &a->emb))
        return error_set(err, "unet time_embed: %s", k->msg);
    return 0;
}

/* The output of the layer that pushed skip j. */
const tensor *unet_skip(const unet *u, int j)
{
    for (int i = 0; i < u->n_layers; i++)
        if (u->layers[i].push == j)
            return &u->layers[i].y;
    return NULL;
}

static int layer_forward(unet *u, kctx *k, unet_layer *L, const tensor *x, const tensor *context)
{
    int G = u->cfg.norm_num_groups;
    switch (L->kind) {
    case UNET_CONV_IN:
        return k_conv2d_forward(k, &L->y, x, unet_w(u, L->conv_w), unet_w(u, L->conv_b), 1, 1);
    case UNET_RES:
        return unet_res_forward(u, k, L, x);
    case UNET_ST:
        return unet_st_forward(u, k, L, x, context);
    case UNET_DOWN: /* Downsample: conv3x3 stride 2 padding 1 (.op) */
        return k_conv2d_forward(k, &L->y, x, unet_w(u, L->conv_w), unet_w(u, L->conv_b), 2, 1);
    case UNET_UP: /* Upsample: nearest 2x, conv3x3 (.conv) */
        UNET_TRY(k_upsample2x_forward(k, &L->up, x));
        return k_conv2d_forward(k, &L->y, &L->up, unet_w(u, L->conv_w), unet_w(u, L->conv_b), 1, 1);
    case UNET_OUT: { /* GN, SiLU, conv3x3 */
        tensor a = unet_slot(u, SLOT_A, x->shape[0], x->shape[1], x->shape[2], x->shape[3]);
        UNET_TRY(k_group_norm_forward(k, &L->h1, &L->s1, x, unet_w(u, L->norm_w), unet_w(u, L->norm_b), G,
                                      OUT_EPS));
        UNET_TRY(k_act_forward(k, K_SILU, &a, &L->h1));
        return k_conv2d_forward(k, &L->y, &a, unet_w(u, L->conv_w), unet_w(u, L->conv_b), 1, 1);
    }
    }
    return -1;
}

static bool shape_is(const tensor *t, int ndim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t s[4] = {a, b, c, d};
    if (!t || !t->data || t->ndim != ndim)
        return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != s[i])
            return false;
    return true;
}

/* x (B, in, H, W) with H, W multiples of 2^(levels-1); context (B, T, context_dim); eps like x
 * with out_channels. */
int unet_inputs_check(const unet *u, const tensor *x, const tensor *context, const tensor *eps, tg_error *err)
{
    const unet_config *c = &u->cfg;
    if (!x || !x->data || x->ndim != 4 || x->shape[1] != c->in_channels)
        return error_set(err, "unet: x must be (B, %d, H, W)", c->in_channels);
    int64_t B = x->shape[0], H = x->shape[2], W = x->shape[3], m = (int64_t)1 << (c->n_levels - 1);
    if (H % m || W % m || H > 65536 || W > 65536)
        return error_set(err, "unet: x is %lldx%lld; height and width must be multiples of %lld (the "
                         "skip connections must match after %d downsamplings)", (long long)H, (long long)W,
                         (long long)m, c->n_levels - 1);
    if (!context || context->ndim != 3 || context->shape[0] != B || context->shape[2] != c->context_dim ||
        !context->data)
        return error_set(err, "unet: context must be (%lld, T, %d)", (long long)B, c->context_dim);
    if (eps && !shape_is(eps, 4, B, c->out_channels, H, W))
        return error_set(err, "unet: eps must be (%lld, %d, %lld, %lld)", (long long)B, c->out_channels,
                         (long long)H, (long long)W);
    return 0;
}

int unet_forward(unet *u, kctx *k, tensor *eps, const tensor *x, const float *timesteps,
                 const tensor *context, unet_pass pass, tg_error *err)
{
    if (unet_inputs_check(u, x, context, eps, err))
        return -1;
    int B = (int)x->shape[0], H = (int)x->shape[2], W = (int)x->shape[3], T = (int)context->shape[1];
    if (unet_acts_prepare(u, k, B, H, W, T, pass, err))
        return -1;
    unet_acts *a = u->acts;
    a->ready = false;
    if (pass == UNET_TRAIN) { /* the backward needs the inputs as they were */
        if (k_axpby(k, &a->x, 1, x, 0) || k_axpby(k, &a->context, 1, context, 0))
            return error_set(err, "unet inputs: %s", k->msg);
        x = &a->x;
        context = &a->context;
    }
    if (time_embed_forward(u, k, timesteps, B, err))
        return -1;
    unet_layer *out = &u->layers[u->n_layers - 1];
    out->y.data = eps->data;
    for (int i = 0; i < u->n_layers; i++) {
        unet_layer *L = &u->layers[i];
        const tensor *in = i ? &u->layers[i - 1].y : x;
        if (L->pop >= 0) {
            if (k_concat_forward(k, &L->cat, in, unet_skip(u, L->pop)))
                return error_set(err, "unet %s (skip concat): %s", L->path, k->msg);
            in = &L->cat;
        }
        if (layer_forward(u, k, L, in, context))
            return error_set(err, "unet %s: %s", L->path, k->msg);
    }
    a->ready = pass == UNET_TRAIN;
    return 0;
}
