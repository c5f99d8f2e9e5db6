/* The UNet's backward (unet.h): the layers in exact reverse order, then the time embedding.
 *
 * Gradients of layer outputs travel through two ping-pong buffers (layer i's output gradient is in
 * one, its input's in the other), except the skip connections': each has its own buffer, because
 * it gathers the gradient from two places at different times — the output block's concatenation
 * (early in the backward) and the next input layer (late). */
#include "trainer/private/unet_layers.h"

/* Gradient buffer of layer j's output. */
static tensor grad_of(unet *u, int j)
{
    const unet_layer *L = &u->layers[j];
    if (L->push >= 0)
        return u->acts->dskip[L->push];
    return unet_slot(u, j % 2 ? SLOT_DG1 : SLOT_DG0, L->y.shape[0], L->y.shape[1], L->y.shape[2],
                     L->y.shape[3]);
}

static int layer_backward(unet *u, kctx *k, unet_layer *L, const tensor *x, tensor *dx, const tensor *dy,
                          tensor *dcontext)
{
    int G = u->cfg.norm_num_groups;
    switch (L->kind) {
    case UNET_CONV_IN: /* dx: the caller's, or NULL */
        return k_conv2d_backward(k, dx, unet_g(u, L->conv_w), unet_g(u, L->conv_b), dy, x,
                                 unet_w(u, L->conv_w), 1, 1);
    case UNET_RES:
        return unet_res_backward(u, k, L, x, dx, dy);
    case UNET_ST:
        return unet_st_backward(u, k, L, x, &u->acts->context, dx, dy, dcontext);
    case UNET_DOWN:
        return k_conv2d_backward(k, dx, unet_g(u, L->conv_w), unet_g(u, L->conv_b), dy, x,
                                 unet_w(u, L->conv_w), 2, 1);
    case UNET_UP: {
        tensor dup = unet_slot(u, SLOT_DA, L->up.shape[0], L->up.shape[1], L->up.shape[2], L->up.shape[3]);
        UNET_TRY(unet_zero(k, &dup));
        UNET_TRY(k_conv2d_backward(k, &dup, unet_g(u, L->conv_w), unet_g(u, L->conv_b), dy, &L->up,
                                   unet_w(u, L->conv_w), 1, 1));
        return k_upsample2x_backward(k, dx, &dup);
    }
    case UNET_OUT: {
        int64_t B = x->shape[0], C = x->shape[1], h = x->shape[2], w = x->shape[3];
        tensor a = unet_slot(u, SLOT_A, B, C, h, w), da = unet_slot(u, SLOT_DA, B, C, h, w);
        tensor dh = unet_slot(u, SLOT_DH, B, C, h, w);
        UNET_TRY(k_act_forward(k, K_SILU, &a, &L->h1)); /* recomputed, as in the ResBlocks */
        UNET_TRY(unet_zero(k, &da));
        UNET_TRY(k_conv2d_backward(k, &da, unet_g(u, L->conv_w), unet_g(u, L->conv_b), dy, &a,
                                   unet_w(u, L->conv_w), 1, 1));
        UNET_TRY(unet_zero(k, &dh));
        UNET_TRY(k_act_backward(k, K_SILU, &dh, &da, &L->h1));
        return k_group_norm_backward(k, dx, unet_g(u, L->norm_w), unet_g(u, L->norm_b), &dh, x, &L->s1,
                                     unet_w(u, L->norm_w), G);
    }
    }
    return -1;
}

/* time_embed, from d SiLU(emb) gathered by every ResBlock; its input (the timesteps) takes none. */
static int time_embed_backward(unet *u, kctx *k)
{
    unet_acts *a = u->acts;
    const int *te = u->time_embed;
    UNET_TRY(unet_zero(k, &a->demb));
    UNET_TRY(k_act_backward(k, K_SILU, &a->demb, &a->demb_s, &a->emb));
    UNET_TRY(unet_zero(k, &a->de1s));
    UNET_TRY(k_linear_backward(k, &a->de1s, unet_g(u, te[2]), unet_g(u, te[3]), &a->demb, &a->e1s,
                               unet_w(u, te[2])));
    UNET_TRY(unet_zero(k, &a->de1));
    UNET_TRY(k_act_backward(k, K_SILU, &a->de1, &a->de1s, &a->e1));
    return k_linear_backward(k, NULL, unet_g(u, te[0]), unet_g(u, te[1]), &a->de1, &a->temb, unet_w(u, te[0]));
}

static bool same_shape(const tensor *t, const tensor *ref)
{
    bool ok = t->data && t->ndim == ref->ndim;
    for (int i = 0; ok && i < ref->ndim; i++)
        ok = t->shape[i] == ref->shape[i];
    return ok;
}

static int grads_check(const unet *u, const tensor *deps, const tensor *dx, const tensor *dcontext, tg_error *err)
{
    const unet_acts *a = u->acts;
    const tensor *y = &u->layers[u->n_layers - 1].y;
    if (!deps || !same_shape(deps, y))
        return error_set(err, "unet backward: deps must be (%lld, %lld, %lld, %lld) like eps",
                         (long long)y->shape[0], (long long)y->shape[1], (long long)y->shape[2],
                         (long long)y->shape[3]);
    if (dx && !same_shape(dx, &a->x))
        return error_set(err, "unet backward: dx must have x's shape");
    if (dcontext && !same_shape(dcontext, &a->context))
        return error_set(err, "unet backward: dcontext must have context's shape");
    return 0;
}

int unet_backward(unet *u, kctx *k, const tensor *deps, tensor *dx, tensor *dcontext, tg_error *err)
{
    unet_acts *a = u->acts;
    if (!a || !a->ready)
        return error_set(err, "unet backward: no UNET_TRAIN forward to go back through");
    if (grads_check(u, deps, dx, dcontext, err))
        return -1;
    for (int j = 0; j < u->n_skips; j++)
        k_zero(k, &a->dskip[j]);
    bool wgrad = unet_wants_wgrad(u);
    if (wgrad)
        k_zero(k, &a->demb_s);
    for (int i = u->n_layers - 1; i >= 0; i--) {
        unet_layer *L = &u->layers[i];
        tensor dy = i == u->n_layers - 1 ? *deps : grad_of(u, i);
        const tensor *x = i ? &u->layers[i - 1].y : &a->x;
        tensor din = {0}, *pin = dx;
        if (L->pop >= 0) {
            x = &L->cat;
            din = unet_slot(u, SLOT_DCAT, L->cat.shape[0], L->cat.shape[1], L->cat.shape[2], L->cat.shape[3]);
            pin = &din;
        } else if (i > 0) {
            din = grad_of(u, i - 1);
            pin = &din;
        }
        /* a ping-pong buffer starts from zero; a skip's already holds the concatenation's share */
        if (pin && (L->pop >= 0 || (i > 0 && u->layers[i - 1].push < 0)) && unet_zero(k, pin))
            return error_set(err, "unet backward %s: %s", L->path, k->msg);
        if (layer_backward(u, k, L, x, pin, &dy, dcontext))
            return error_set(err, "unet backward %s: %s", L->path, k->msg);
        if (L->pop >= 0) {
            tensor dprev = grad_of(u, i - 1);
            if ((u->layers[i - 1].push < 0 && unet_zero(k, &dprev)) ||
                k_concat_backward(k, &dprev, &a->dskip[L->pop], &din))
                return error_set(err, "unet backward %s (skip concat): %s", L->path, k->msg);
        }
    }
    if (wgrad && time_embed_backward(u, k))
        return error_set(err, "unet backward time_embed: %s", k->msg);
    return 0;
}
