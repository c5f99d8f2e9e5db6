/* The UNet's module tree and weights (unet.h): LDM's UNetModel.__init__ walked for a config, each
 * module's parameters added under its state-dict name, in the state dict's order. */
#include "trainer/private/unet_layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct builder {
    unet *u;
    int cap;
    int bad;            /* a params_add or allocation failed */
} builder;

static int add(builder *b, int64_t d0, int64_t d1, int64_t d2, int64_t d3, const char *path,
               const char *leaf)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    int ndim = d1 ? d2 ? 4 : 2 : 1;
    int i = params_add(&b->u->ps, ndim, shape, UNET_PREFIX "%s.%s", path, leaf);
    if (i < 0)
        b->bad = 1;
    return i;
}

static unet_layer *layer_new(builder *b, unet_kind kind, const char *path, int cin, int cout, int div)
{
    unet *u = b->u;
    if (u->n_layers == b->cap) {
        int cap = b->cap ? 2 * b->cap : 32;
        unet_layer *l = realloc(u->layers, sizeof *l * cap);
        if (!l) {
            b->bad = 1;
            return NULL;
        }
        u->layers = l;
        b->cap = cap;
    }
    unet_layer *L = &u->layers[u->n_layers++];
    memset(L, 0, sizeof *L);
    L->kind = kind;
    snprintf(L->path, sizeof L->path, "%s", path);
    L->cin = L->cprev = cin;
    L->cout = cout;
    L->div = div;
    L->push = L->pop = -1;
    L->st.lproj_in = L->st.lproj_out = -1;
    return L;
}

/* openaimodel.py ResBlock (use_scale_shift_norm False, 3x3 convs, 1x1 skip when channels change). */
static void res_add(builder *b, const char *path, int cin, int cout, int div)
{
    unet_layer *L = layer_new(b, UNET_RES, path, cin, cout, div);
    if (!L)
        return;
    int temb = 4 * b->u->cfg.model_channels;
    unet_res *r = &L->res;
    r->in_norm_w = add(b, cin, 0, 0, 0, path, "in_layers.0.weight");
    r->in_norm_b = add(b, cin, 0, 0, 0, path, "in_layers.0.bias");
    r->in_conv_w = add(b, cout, cin, 3, 3, path, "in_layers.2.weight");
    r->in_conv_b = add(b, cout, 0, 0, 0, path, "in_layers.2.bias");
    r->emb_w = add(b, cout, temb, 0, 0, path, "emb_layers.1.weight");
    r->emb_b = add(b, cout, 0, 0, 0, path, "emb_layers.1.bias");
    r->out_norm_w = add(b, cout, 0, 0, 0, path, "out_layers.0.weight");
    r->out_norm_b = add(b, cout, 0, 0, 0, path, "out_layers.0.bias");
    r->out_conv_w = add(b, cout, cout, 3, 3, path, "out_layers.3.weight");
    r->out_conv_b = add(b, cout, 0, 0, 0, path, "out_layers.3.bias");
    r->skip_w = r->skip_b = -1;
    if (cin != cout) {
        r->skip_w = add(b, cout, cin, 1, 1, path, "skip_connection.weight");
        r->skip_b = add(b, cout, 0, 0, 0, path, "skip_connection.bias");
    }
}

static void attn_add(builder *b, unet_attn *a, const char *path, int ch, int ctx)
{
    a->q = add(b, ch, ch, 0, 0, path, "to_q.weight");
    a->k = add(b, ch, ctx, 0, 0, path, "to_k.weight");
    a->v = add(b, ch, ctx, 0, 0, path, "to_v.weight");
    a->out_w = add(b, ch, ch, 0, 0, path, "to_out.0.weight");
    a->out_b = add(b, ch, 0, 0, 0, path, "to_out.0.bias");
    a->lq = a->lk = a->lv = a->lout = -1;
}

/* attention.py BasicTransformerBlock, registered as attn1, ff, attn2, norm1, norm2, norm3. */
static void tblock_add(builder *b, unet_tblock *t, const char *st_path, int d, int ch)
{
    char p[96];
    memset(t, 0, sizeof *t);
    snprintf(p, sizeof p, "%s.transformer_blocks.%d.attn1", st_path, d);
    attn_add(b, &t->attn1, p, ch, ch);
    snprintf(p, sizeof p, "%s.transformer_blocks.%d", st_path, d);
    t->ff0_w = add(b, 8 * (int64_t)ch, ch, 0, 0, p, "ff.net.0.proj.weight");
    t->ff0_b = add(b, 8 * (int64_t)ch, 0, 0, 0, p, "ff.net.0.proj.bias");
    t->ff2_w = add(b, ch, 4 * (int64_t)ch, 0, 0, p, "ff.net.2.weight");
    t->ff2_b = add(b, ch, 0, 0, 0, p, "ff.net.2.bias");
    t->lff0 = t->lff2 = -1;
    char pa[128];
    snprintf(pa, sizeof pa, "%s.attn2", p);
    attn_add(b, &t->attn2, pa, ch, b->u->cfg.context_dim);
    t->norm1_w = add(b, ch, 0, 0, 0, p, "norm1.weight");
    t->norm1_b = add(b, ch, 0, 0, 0, p, "norm1.bias");
    t->norm2_w = add(b, ch, 0, 0, 0, p, "norm2.weight");
    t->norm2_b = add(b, ch, 0, 0, 0, p, "norm2.bias");
    t->norm3_w = add(b, ch, 0, 0, 0, p, "norm3.weight");
    t->norm3_b = add(b, ch, 0, 0, 0, p, "norm3.bias");
}

/* attention.py SpatialTransformer (SD 1.x: proj_in/proj_out are 1x1 convs). Heads divide ch
 * (checked with the config), so inner_dim = heads * dim_head = ch. */
static void st_add(builder *b, const char *path, int ch, int div)
{
    unet_layer *L = layer_new(b, UNET_ST, path, ch, ch, div);
    if (!L)
        return;
    unet_st *s = &L->st;
    unet_config_heads(&b->u->cfg, ch, &s->heads, &s->dim_head);
    s->depth = b->u->cfg.transformer_depth;
    s->norm_w = add(b, ch, 0, 0, 0, path, "norm.weight");
    s->norm_b = add(b, ch, 0, 0, 0, path, "norm.bias");
    s->proj_in_w = add(b, ch, ch, 1, 1, path, "proj_in.weight");
    s->proj_in_b = add(b, ch, 0, 0, 0, path, "proj_in.bias");
    s->tb = calloc(s->depth, sizeof *s->tb);
    if (!s->tb) {
        b->bad = 1;
        return;
    }
    for (int d = 0; d < s->depth; d++)
        tblock_add(b, &s->tb[d], path, d, ch);
    s->proj_out_w = add(b, ch, ch, 1, 1, path, "proj_out.weight");
    s->proj_out_b = add(b, ch, 0, 0, 0, path, "proj_out.bias");
}

static void conv_add(builder *b, unet_kind kind, const char *path, const char *leaf, int cin, int cout,
                     int div)
{
    unet_layer *L = layer_new(b, kind, path, cin, cout, div);
    if (!L)
        return;
    char w[32], bias[32];
    snprintf(w, sizeof w, "%sweight", leaf);
    snprintf(bias, sizeof bias, "%sbias", leaf);
    L->conv_w = add(b, cout, cin, 3, 3, path, w);
    L->conv_b = add(b, cout, 0, 0, 0, path, bias);
}

static bool attention_at(const unet_config *c, int ds)
{
    for (int i = 0; i < c->n_attention_resolutions; i++)
        if (c->attention_resolutions[i] == ds)
            return true;
    return false;
}

/* UNetModel.__init__: the same loops, the same channel bookkeeping (input_block_chans). */
static void tree_build(builder *b)
{
    unet *u = b->u;
    const unet_config *c = &u->cfg;
    int mc = c->model_channels, temb = 4 * mc;
    u->time_embed[0] = add(b, temb, mc, 0, 0, "time_embed", "0.weight");
    u->time_embed[1] = add(b, temb, 0, 0, 0, "time_embed", "0.bias");
    u->time_embed[2] = add(b, temb, temb, 0, 0, "time_embed", "2.weight");
    u->time_embed[3] = add(b, temb, 0, 0, 0, "time_embed", "2.bias");

    int chans[1 + UNET_MAX_LEVELS * 65], n = 0, ch = mc, ds = 1, block = 0;
    char p[48];
    conv_add(b, UNET_CONV_IN, "input_blocks.0.0", "", c->in_channels, mc, 1);
    chans[n++] = ch;
    for (int level = 0; level < c->n_levels && !b->bad; level++) {
        for (int r = 0; r < c->num_res_blocks; r++) {
            block++;
            snprintf(p, sizeof p, "input_blocks.%d.0", block);
            res_add(b, p, ch, mc * c->channel_mult[level], ds);
            ch = mc * c->channel_mult[level];
            if (attention_at(c, ds)) {
                snprintf(p, sizeof p, "input_blocks.%d.1", block);
                st_add(b, p, ch, ds);
            }
            chans[n++] = ch;
        }
        if (level != c->n_levels - 1) {
            block++;
            snprintf(p, sizeof p, "input_blocks.%d.0", block);
            conv_add(b, UNET_DOWN, p, "op.", ch, ch, ds);
            chans[n++] = ch;
            ds *= 2;
        }
    }
    u->n_skips = n;
    res_add(b, "middle_block.0", ch, ch, ds);
    st_add(b, "middle_block.1", ch, ds);
    res_add(b, "middle_block.2", ch, ch, ds);

    block = 0;
    for (int level = c->n_levels - 1; level >= 0 && !b->bad; level--) {
        for (int r = 0; r <= c->num_res_blocks; r++, block++) {
            int ich = chans[--n], sub = 0;
            snprintf(p, sizeof p, "output_blocks.%d.%d", block, sub++);
            res_add(b, p, ch + ich, mc * c->channel_mult[level], ds);
            if (b->bad)
                return;
            unet_layer *first = &u->layers[u->n_layers - 1];
            first->pop = n;
            first->cprev = ch;
            ch = mc * c->channel_mult[level];
            if (attention_at(c, ds)) {
                snprintf(p, sizeof p, "output_blocks.%d.%d", block, sub++);
                st_add(b, p, ch, ds);
            }
            if (level && r == c->num_res_blocks) {
                snprintf(p, sizeof p, "output_blocks.%d.%d", block, sub++);
                conv_add(b, UNET_UP, p, "conv.", ch, ch, ds);
                ds /= 2;
            }
        }
    }
    unet_layer *L = layer_new(b, UNET_OUT, "out", ch, c->out_channels, 1);
    if (!L)
        return;
    L->norm_w = add(b, ch, 0, 0, 0, "out", "0.weight");
    L->norm_b = add(b, ch, 0, 0, 0, "out", "0.bias");
    L->conv_w = add(b, c->out_channels, mc, 3, 3, "out", "2.weight");
    L->conv_b = add(b, c->out_channels, 0, 0, 0, "out", "2.bias");
}

/* The last layer of each input block pushes its output (skip index = the block's number). */
static void pushes_mark(unet *u)
{
    int skip = 0;
    for (int i = 0; i < u->n_layers; i++) {
        const char *p = u->layers[i].path;
        if (strncmp(p, "input_blocks.", 13))
            break;
        bool last = i + 1 == u->n_layers || strncmp(u->layers[i + 1].path, p, strlen(p) - 1) != 0;
        if (last)
            u->layers[i].push = skip++;
    }
}

int unet_build(unet *u, kctx *k, const unet_config *c, bool with_grads, tg_error *err)
{
    memset(u, 0, sizeof *u);
    if (unet_config_check(c, err))
        return -1;
    u->cfg = *c;
    params_init(&u->ps);
    builder b = {.u = u};
    tree_build(&b);
    if (b.bad) {
        unet_free(u, k);
        return error_set(err, "unet: out of memory building the module tree");
    }
    pushes_mark(u);
    if (params_alloc(&u->ps, k, with_grads, err)) {
        unet_free(u, k);
        return -1;
    }
    return 0;
}

void unet_free(unet *u, kctx *k)
{
    unet_acts_free(u, k);
    for (int i = 0; i < u->n_layers; i++)
        free(u->layers[i].st.tb);
    free(u->layers);
    params_free(&u->ps, k);
    memset(u, 0, sizeof *u);
}

/* ---- init ---- */

static bool name_ends(const char *name, const char *tail)
{
    size_t n = strlen(name), t = strlen(tail);
    return n >= t && !strcmp(name + n - t, tail);
}

/* Zeroed by LDM's zero_module: a new ResBlock, transformer and the whole model start as identity/0. */
static bool zero_init(const char *name)
{
    return strstr(name, ".out_layers.3.") || strstr(name, ".proj_out.") ||
           !strncmp(name, UNET_PREFIX "out.2.", strlen(UNET_PREFIX "out.2."));
}

int unet_init(unet *u, kctx *k, uint64_t seed, tg_error *err)
{
    k_rng rng = {seed, 0};
    for (size_t i = 0; i < u->ps.n; i++) {
        param *p = &u->ps.p[i];
        bool is_norm = p->ndim == 1 && (strstr(p->name, "norm") || strstr(p->name, "layers.0.") ||
                                        !strncmp(p->name, UNET_PREFIX "out.0.", strlen(UNET_PREFIX "out.0.")));
        int rc = 0;
        if (zero_init(p->name) || (is_norm && name_ends(p->name, ".bias"))) {
            k_zero(k, &p->w);
        } else if (is_norm) {
            rc = k_rand_uniform(k, &p->w, &rng, 1, 1);
        } else {
            /* the weight's fan-in; a bias takes its weight's (the parameter just before it) */
            const param *w = p->ndim == 1 ? &u->ps.p[i - 1] : p;
            double fan_in = (double)w->shape[1] * (w->ndim == 4 ? w->shape[2] * w->shape[3] : 1);
            float bound = (float)(1 / sqrt(fan_in));
            rc = k_rand_uniform(k, &p->w, &rng, -bound, bound);
        }
        if (rc)
            return error_set(err, "unet init %s: %s", p->name, k->msg);
    }
    return 0;
}

/* ---- cost ---- */

/* Multiply-adds of the convs, linears and attention matmuls (elementwise ops and norms are <1 %),
 * times 2: the figure reference/engines.md §3.5 counts (803.3 GFLOP for sd15 at 64x64). */
double unet_forward_flops(const unet *u, int B, int H, int W, int T)
{
    const unet_config *c = &u->cfg;
    double mc = c->model_channels, te = 4 * mc, D = c->context_dim;
    double macs = B * (mc * te + te * te);
    for (int i = 0; i < u->n_layers; i++) {
        const unet_layer *L = &u->layers[i];
        double hw = (double)(H / L->div) * (W / L->div), ci = L->cin, co = L->cout;
        switch (L->kind) {
        case UNET_CONV_IN:
        case UNET_OUT:
            macs += B * hw * ci * co * 9;
            break;
        case UNET_RES:
            macs += B * (hw * co * (ci + co) * 9 + te * co + (L->res.skip_w >= 0 ? hw * ci * co : 0));
            break;
        case UNET_ST:
            macs += B * 2 * hw * co * co; /* proj_in, proj_out */
            macs += L->st.depth * B * (6 * hw * co * co + 2 * T * D * co + 2 * hw * hw * co + 2 * hw * T * co +
                                       12 * hw * co * co);
            break;
        case UNET_DOWN:
            macs += B * hw / 4 * ci * co * 9;
            break;
        case UNET_UP:
            macs += B * hw * 4 * ci * co * 9;
            break;
        }
    }
    return 2 * macs;
}
