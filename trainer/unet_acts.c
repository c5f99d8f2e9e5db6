/* The UNet's activation memory (trainer/private/unet_layers.h), llm.c style: one allocation, laid
 * out by walking the layers twice with the same code — once to add up the sizes, once to hand out
 * the pointers. A tensor is either the layer's own (kept for the backward in UNET_TRAIN, and the
 * skip connections always) or a view of a shared slot, sized to the largest use of that slot. */
#include "trainer/private/unet_layers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN_FLOATS 16 /* 64 bytes */

typedef struct planner {
    unet *u;
    unet_pass pass;
    float *base;                 /* NULL while sizing */
    size_t used;                 /* floats of own memory */
    size_t slot_max[SLOT_COUNT]; /* floats each slot must hold */
    size_t slot_off[SLOT_COUNT];
} planner;

static size_t numel4(int64_t a, int64_t b, int64_t c, int64_t d)
{
    return (size_t)a * (size_t)(b ? b : 1) * (size_t)(c ? c : 1) * (size_t)(d ? d : 1);
}

static tensor shaped(float *data, int64_t a, int64_t b, int64_t c, int64_t d)
{
    tensor t = {.data = data, .dtype = K_F32, .ndim = d ? 4 : c ? 3 : b ? 2 : 1};
    int64_t s[4] = {a, b, c, d};
    memcpy(t.shape, s, sizeof s);
    return t;
}

/* A tensor with memory of its own. */
static void own(planner *pl, tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    size_t n = numel4(a, b, c, d);
    *t = shaped(pl->base ? pl->base + pl->used : NULL, a, b, c, d);
    pl->used += (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* Reserves room in a slot for a temporary the layer code takes with unet_slot. */
static void need(planner *pl, int slot, size_t n)
{
    if (n > pl->slot_max[slot])
        pl->slot_max[slot] = n;
}

/* Kept for the backward: own memory in UNET_TRAIN, the slot in UNET_INFER. */
static void keep(planner *pl, tensor *t, int slot, int64_t a, int64_t b, int64_t c, int64_t d)
{
    if (pl->pass == UNET_TRAIN) {
        own(pl, t, a, b, c, d);
        return;
    }
    need(pl, slot, numel4(a, b, c, d));
    *t = shaped(pl->base ? pl->base + pl->slot_off[slot] : NULL, a, b, c, d);
}

/* Needed only by the backward (attention's log-sum-exp): no memory at all in UNET_INFER. */
static void keep_train(planner *pl, tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    if (pl->pass == UNET_TRAIN)
        own(pl, t, a, b, c, d);
    else
        *t = shaped(NULL, a, b, c, d);
}

/* Backward temporaries exist only for UNET_TRAIN. */
static void need_bwd(planner *pl, int slot, size_t n)
{
    if (pl->pass == UNET_TRAIN)
        need(pl, slot, n);
}

/* An adapter's down(x) for input shape xs. */
static void lora_keep(planner *pl, tensor *h, int m, int ndim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    if (m < 0)
        return;
    tensor x = shaped(NULL, a, b, c, d);
    x.ndim = ndim;
    int hd;
    int64_t hs[K_MAX_DIMS] = {0};
    lora_hidden_shape(pl->u->lora, m, &x, &hd, hs);
    keep(pl, h, SLOT_LH, hs[0], hd > 1 ? hs[1] : 0, hd > 2 ? hs[2] : 0, hd > 3 ? hs[3] : 0);
}

static void res_plan(planner *pl, unet_layer *L, int64_t B, int64_t h, int64_t w)
{
    int64_t G = pl->u->cfg.norm_num_groups, ci = L->cin, co = L->cout, hw = h * w;
    keep(pl, &L->h1, SLOT_H1, B, ci, h, w);
    keep(pl, &L->s1, SLOT_S1, B, G, 2, 0);
    keep(pl, &L->h3, SLOT_H3, B, co, h, w);
    keep(pl, &L->h4, SLOT_H4, B, co, h, w);
    keep(pl, &L->s2, SLOT_S2, B, G, 2, 0);
    size_t big = (size_t)B * (ci > co ? ci : co) * hw;
    need(pl, SLOT_A, big);
    need(pl, SLOT_E, (size_t)B * co);
    if (L->res.skip_w >= 0)
        need(pl, SLOT_SKIP, (size_t)B * co * hw);
    need_bwd(pl, SLOT_DA, big);
    need_bwd(pl, SLOT_DH, big);
    need_bwd(pl, SLOT_DH3, (size_t)B * co * hw);
    need_bwd(pl, SLOT_DE, (size_t)B * co);
}

static void tblock_plan(planner *pl, unet_tblock *t, tensor *t0, int heads, int64_t B, int64_t T,
                        int64_t C, int64_t Tc, int64_t D)
{
    unet_tblock_acts *a = &t->a;
    a->t0 = *t0;
    keep(pl, &a->l1, SLOT_L, B, T, C, 0);
    keep(pl, &a->s1, SLOT_LS, B * T, 2, 0, 0);
    keep(pl, &a->q1, SLOT_Q, B, T, C, 0);
    keep(pl, &a->k1, SLOT_K, B, T, C, 0);
    keep(pl, &a->v1, SLOT_V, B, T, C, 0);
    keep(pl, &a->o1, SLOT_O, B, T, C, 0);
    keep_train(pl, &a->lse1, B, heads, T, 0);
    keep(pl, &a->t1, SLOT_T, B, T, C, 0);
    keep(pl, &a->l2, SLOT_L, B, T, C, 0);
    keep(pl, &a->s2, SLOT_LS, B * T, 2, 0, 0);
    keep(pl, &a->q2, SLOT_Q, B, T, C, 0);
    keep(pl, &a->k2, SLOT_K, B, Tc, C, 0);
    keep(pl, &a->v2, SLOT_V, B, Tc, C, 0);
    keep(pl, &a->o2, SLOT_O, B, T, C, 0);
    keep_train(pl, &a->lse2, B, heads, T, 0);
    keep(pl, &a->t2, SLOT_T, B, T, C, 0);
    keep(pl, &a->l3, SLOT_L, B, T, C, 0);
    keep(pl, &a->s3, SLOT_LS, B * T, 2, 0, 0);
    keep(pl, &a->g, SLOT_G, B, T, 8 * C, 0);
    keep(pl, &a->t3, SLOT_T, B, T, C, 0);
    need(pl, SLOT_F, (size_t)(B * T * 4 * C));
    need(pl, SLOT_TMP, (size_t)(B * T * C));
    /* adapters, in the order of unet_tblock_acts.lh */
    const int mods[10] = {t->attn1.lq, t->attn1.lk, t->attn1.lv, t->attn1.lout,
                          t->attn2.lq, t->attn2.lk, t->attn2.lv, t->attn2.lout, t->lff0, t->lff2};
    for (int i = 0; i < 10; i++) {
        bool ctx = i == 5 || i == 6, ff2 = i == 9;
        lora_keep(pl, &a->lh[i], mods[i], 3, B, ctx ? Tc : T, ctx ? D : ff2 ? 4 * C : C, 0);
    }
    int64_t tk = T > Tc ? T : Tc;
    need_bwd(pl, SLOT_DT, (size_t)(B * T * C));
    need_bwd(pl, SLOT_DL, (size_t)(B * T * C));
    need_bwd(pl, SLOT_DQ, (size_t)(B * T * C));
    need_bwd(pl, SLOT_DK, (size_t)(B * tk * C));
    need_bwd(pl, SLOT_DV, (size_t)(B * tk * C));
    need_bwd(pl, SLOT_DO, (size_t)(B * T * C));
    need_bwd(pl, SLOT_DG, (size_t)(B * T * 8 * C));
    need_bwd(pl, SLOT_DF, (size_t)(B * T * 4 * C));
}

static void st_plan(planner *pl, unet_layer *L, int64_t B, int64_t h, int64_t w, int64_t Tc)
{
    unet_st *s = &L->st;
    int64_t C = L->cout, T = h * w, G = pl->u->cfg.norm_num_groups;
    keep(pl, &L->h1, SLOT_H1, B, C, h, w);
    keep(pl, &L->s1, SLOT_S1, B, G, 2, 0);
    need(pl, SLOT_P, (size_t)(B * C * T));
    lora_keep(pl, &L->lh_in, s->lproj_in, 4, B, C, h, w);
    tensor t0;
    keep(pl, &t0, SLOT_T, B, T, C, 0);
    for (int d = 0; d < s->depth; d++) {
        tblock_plan(pl, &s->tb[d], &t0, s->heads, B, T, C, Tc, pl->u->cfg.context_dim);
        t0 = s->tb[d].a.t3;
    }
    keep(pl, &L->yt, SLOT_YT, B, C, h, w);
    lora_keep(pl, &L->lh_out, s->lproj_out, 4, B, C, h, w);
    need_bwd(pl, SLOT_DN, (size_t)(B * C * T));
    need_bwd(pl, SLOT_DH, (size_t)(B * C * T));
}

static void layer_plan(planner *pl, int i, int64_t B, int64_t H, int64_t W, int64_t Tc)
{
    unet_layer *L = &pl->u->layers[i];
    int64_t h = H / L->div, w = W / L->div;
    if (L->pop >= 0) {
        keep(pl, &L->cat, SLOT_CAT, B, L->cin, h, w);
        need_bwd(pl, SLOT_DCAT, (size_t)(B * L->cin * h * w));
    }
    int64_t ho = h, wo = w;
    switch (L->kind) {
    case UNET_CONV_IN:
        break;
    case UNET_RES:
        res_plan(pl, L, B, h, w);
        break;
    case UNET_ST:
        st_plan(pl, L, B, h, w, Tc);
        break;
    case UNET_DOWN:
        ho = (h + 1) / 2, wo = (w + 1) / 2;
        break;
    case UNET_UP:
        ho = 2 * h, wo = 2 * w;
        keep(pl, &L->up, SLOT_UP, B, L->cin, ho, wo);
        need_bwd(pl, SLOT_DA, (size_t)(B * L->cin * ho * wo));
        break;
    case UNET_OUT:
        keep(pl, &L->h1, SLOT_H1, B, L->cin, h, w);
        keep(pl, &L->s1, SLOT_S1, B, pl->u->cfg.norm_num_groups, 2, 0);
        need(pl, SLOT_A, (size_t)(B * L->cin * h * w));
        need_bwd(pl, SLOT_DA, (size_t)(B * L->cin * h * w));
        need_bwd(pl, SLOT_DH, (size_t)(B * L->cin * h * w));
        break;
    }
    if (L->kind == UNET_OUT) /* written straight into the caller's eps */
        L->y = shaped(NULL, B, L->cout, ho, wo);
    else if (L->push >= 0)
        own(pl, &L->y, B, L->cout, ho, wo);
    else
        keep(pl, &L->y, i % 2 ? SLOT_Y1 : SLOT_Y0, B, L->cout, ho, wo);
    /* gradients of this layer's input and output pass through the ping-pong pair */
    size_t gin = (size_t)(B * L->cprev * h * w), gout = (size_t)(B * L->cout * ho * wo);
    need_bwd(pl, SLOT_DG0, gin > gout ? gin : gout);
    need_bwd(pl, SLOT_DG1, gin > gout ? gin : gout);
}

static void acts_walk(planner *pl, int64_t B, int64_t H, int64_t W, int64_t Tc)
{
    unet *u = pl->u;
    unet_acts *a = u->acts;
    int64_t mc = u->cfg.model_channels, D = u->cfg.context_dim;
    pl->used = 0;
    own(pl, &a->temb, B, mc, 0, 0);
    own(pl, &a->e1, B, 4 * mc, 0, 0);
    own(pl, &a->e1s, B, 4 * mc, 0, 0);
    own(pl, &a->emb, B, 4 * mc, 0, 0);
    own(pl, &a->emb_s, B, 4 * mc, 0, 0);
    if (pl->pass == UNET_TRAIN) {
        own(pl, &a->x, B, u->cfg.in_channels, H, W);
        own(pl, &a->context, B, Tc, D, 0);
        own(pl, &a->demb_s, B, 4 * mc, 0, 0);
        own(pl, &a->demb, B, 4 * mc, 0, 0);
        own(pl, &a->de1s, B, 4 * mc, 0, 0);
        own(pl, &a->de1, B, 4 * mc, 0, 0);
        for (int i = 0; i < u->n_layers; i++) {
            const unet_layer *L = &u->layers[i];
            if (L->push >= 0)
                own(pl, &a->dskip[L->push], L->y.shape[0], L->y.shape[1], L->y.shape[2], L->y.shape[3]);
        }
    }
    for (int i = 0; i < u->n_layers; i++)
        layer_plan(pl, i, B, H, W, Tc);
}

void unet_acts_free(unet *u, kctx *k)
{
    if (!u->acts)
        return;
    k_tensor_free(k, &u->acts->mem);
    free(u->acts->dskip);
    free(u->acts);
    u->acts = NULL;
}

int unet_acts_prepare(unet *u, kctx *k, int B, int H, int W, int T, unet_pass pass, tg_error *err)
{
    unet_acts *a = u->acts;
    bool lora = u->lora != NULL;
    if (a && a->B == B && a->H == H && a->W == W && a->T == T && a->pass == pass && a->lora == lora)
        return 0;
    unet_acts_free(u, k);
    a = u->acts = calloc(1, sizeof *a);
    if (!a || !(a->dskip = calloc(u->n_skips, sizeof *a->dskip))) {
        unet_acts_free(u, k);
        return error_set(err, "unet: out of memory for activations");
    }
    planner pl = {.u = u, .pass = pass};
    acts_walk(&pl, B, H, W, T); /* the layers' y shapes first (dskip needs them) */
    memset(pl.slot_max, 0, sizeof pl.slot_max);
    acts_walk(&pl, B, H, W, T);
    size_t total = pl.used;
    for (int s = 0; s < SLOT_COUNT; s++) {
        pl.slot_off[s] = total;
        total += (pl.slot_max[s] + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    }
    int64_t n = (int64_t)(total ? total : 1);
    a->mem = k_tensor(k, K_F32, 1, &n);
    if (!a->mem.data) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", k->msg);
        unet_acts_free(u, k);
        return error_set(err, "unet: activations for batch %d at %dx%d (%.1f MB): %s", B, H, W,
                         (double)total * 4 / 1e6, msg);
    }
    pl.base = a->mem.data;
    acts_walk(&pl, B, H, W, T);
    for (int s = 0; s < SLOT_COUNT; s++) /* an unused slot has no memory: a NULL base */
        a->slot[s] = shaped(pl.slot_max[s] ? pl.base + pl.slot_off[s] : NULL,
                            (int64_t)(pl.slot_max[s] ? pl.slot_max[s] : 1), 0, 0, 0);
    a->B = B, a->H = H, a->W = W, a->T = T;
    a->pass = pass;
    a->lora = lora;
    a->bytes = total * sizeof(float);
    return 0;
}

tensor unet_slot(unet *u, int s, int64_t a, int64_t b, int64_t c, int64_t d)
{
    tensor *base = &u->acts->slot[s];
    bool fits = base->data && numel4(a, b, c, d) <= (size_t)base->shape[0];
    return shaped(fits ? base->data : NULL, a, b, c, d); /* a NULL view makes the next op refuse */
}

size_t unet_acts_bytes(const unet *u)
{
    return u->acts ? u->acts->bytes : 0;
}
