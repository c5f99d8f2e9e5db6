/* The CLIP text encoder's test oracle: a double-precision reference forward, independent of the
 * kernels (token + position embeddings, pre-LN layers with causal attention and quick-GELU, the
 * final layer norm, clip_skip), with LoRA adapters on a layer's six linears; and the
 * finite-difference scaffolding that checks the model's fp32 backward against it (fd_ctx and its
 * loss, gradcheck_params, gradcheck_embeds). Used by test_clip_model.c. */
#ifndef TESTS_CLIP_REFERENCE_H
#define TESTS_CLIP_REFERENCE_H
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"
#include "tests/unit/gradcheck.h"
#include "trainer/clip_model.h"

/* ---- a double-precision reference forward ---- */

static const float *hw(const clip *m, const float *w, int i)
{
    return w + m->ps.p[i].offset;
}

static void ref_ln(const double *x, double *y, int C, const float *g, const float *b, double eps)
{
    double mean = 0, var = 0;
    for (int c = 0; c < C; c++)
        mean += x[c] / C;
    for (int c = 0; c < C; c++)
        var += (x[c] - mean) * (x[c] - mean) / C;
    for (int c = 0; c < C; c++)
        y[c] = (x[c] - mean) / sqrt(var + eps) * g[c] + b[c];
}

static void ref_linear(const double *x, double *y, int I, int O, const float *w, const float *b)
{
    for (int o = 0; o < O; o++) {
        double s = b[o];
        for (int i = 0; i < I; i++)
            s += w[(size_t)o * I + i] * x[i];
        y[o] = s;
    }
}

/* Adapters in the reference: host LoRA weights lw (laid out as ls's), or NULL. */
typedef struct ref_lora {
    const lora_set *ls;
    const float *lw;
} ref_lora;

/* y (O) += multiplier * scale * up (O, r) . down (r, I) . x (I), when slot carries an adapter. */
static void ref_lora_add(const ref_lora *rl, int mi, const double *x, double *y)
{
    if (!rl || !rl->lw || mi < 0)
        return;
    const lora_module *md = &rl->ls->m[mi];
    const float *down = rl->lw + rl->ls->ps.p[md->down].offset, *up = rl->lw + rl->ls->ps.p[md->up].offset;
    double h[16] = {0}, s = (double)rl->ls->multiplier * md->scale;
    for (int r = 0; r < md->rank; r++)
        for (int i = 0; i < md->in; i++)
            h[r] += down[(size_t)r * md->in + i] * x[i];
    for (int o = 0; o < md->out; o++)
        for (int r = 0; r < md->rank; r++)
            y[o] += s * up[(size_t)o * md->rank + r] * h[r];
}

/* x (T, C) -> x (T, C), one batch row through layer l. */
static void ref_layer(const clip *m, const float *w, const ref_lora *rl, const clip_layer *ly, double *x,
                      int T)
{
    int C = m->cfg.hidden_size, F = m->cfg.intermediate_size, H = m->cfg.num_attention_heads, D = C / H;
    double eps = m->cfg.layer_norm_eps;
    double *h = calloc((size_t)T * C, sizeof *h), *q = calloc((size_t)T * C, sizeof *q);
    double *k = calloc((size_t)T * C, sizeof *k), *v = calloc((size_t)T * C, sizeof *v);
    double *att = calloc((size_t)T * C, sizeof *att), *f = calloc(F, sizeof *f), *o = calloc(C, sizeof *o);
    for (int t = 0; t < T; t++) {
        ref_ln(x + t * C, h + t * C, C, hw(m, w, ly->ln1_w), hw(m, w, ly->ln1_b), eps);
        ref_linear(h + t * C, q + t * C, C, C, hw(m, w, ly->q_w), hw(m, w, ly->q_b));
        ref_linear(h + t * C, k + t * C, C, C, hw(m, w, ly->k_w), hw(m, w, ly->k_b));
        ref_linear(h + t * C, v + t * C, C, C, hw(m, w, ly->v_w), hw(m, w, ly->v_b));
        ref_lora_add(rl, ly->lora[CLIP_LORA_Q], h + t * C, q + t * C);
        ref_lora_add(rl, ly->lora[CLIP_LORA_K], h + t * C, k + t * C);
        ref_lora_add(rl, ly->lora[CLIP_LORA_V], h + t * C, v + t * C);
    }
    for (int hd = 0; hd < H; hd++)
        for (int t = 0; t < T; t++) {
            double p[64], mx = -1e300, sum = 0;
            for (int s = 0; s <= t; s++) { /* causal: keys up to t */
                p[s] = 0;
                for (int d = 0; d < D; d++)
                    p[s] += q[t * C + hd * D + d] * k[s * C + hd * D + d] / sqrt(D);
                mx = fmax(mx, p[s]);
            }
            for (int s = 0; s <= t; s++)
                sum += (p[s] = exp(p[s] - mx));
            for (int d = 0; d < D; d++) {
                double a = 0;
                for (int s = 0; s <= t; s++)
                    a += p[s] / sum * v[s * C + hd * D + d];
                att[t * C + hd * D + d] = a;
            }
        }
    for (int t = 0; t < T; t++) {
        ref_linear(att + t * C, o, C, C, hw(m, w, ly->out_w), hw(m, w, ly->out_b));
        ref_lora_add(rl, ly->lora[CLIP_LORA_OUT], att + t * C, o);
        for (int c = 0; c < C; c++)
            x[t * C + c] += o[c];
        ref_ln(x + t * C, h + t * C, C, hw(m, w, ly->ln2_w), hw(m, w, ly->ln2_b), eps);
        ref_linear(h + t * C, f, C, F, hw(m, w, ly->fc1_w), hw(m, w, ly->fc1_b));
        ref_lora_add(rl, ly->lora[CLIP_LORA_FC1], h + t * C, f);
        for (int j = 0; j < F; j++)
            f[j] = f[j] / (1 + exp(-1.702 * f[j]));
        ref_linear(f, o, F, C, hw(m, w, ly->fc2_w), hw(m, w, ly->fc2_b));
        ref_lora_add(rl, ly->lora[CLIP_LORA_FC2], f, o);
        for (int c = 0; c < C; c++)
            x[t * C + c] += o[c];
    }
    free(h), free(q), free(k), free(v), free(att), free(f), free(o);
}

/* out (B, T, C) for clip_skip, from host weights w (laid out as the model's). */
static void ref_forward(const clip *m, const float *w, const ref_lora *rl, const int32_t *ids, int B,
                        int T, int clip_skip, double *out)
{
    int C = m->cfg.hidden_size, n = m->cfg.num_hidden_layers - clip_skip + 1;
    double *x = malloc(sizeof *x * (size_t)T * C);
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++)
                x[t * C + c] = (double)hw(m, w, m->tok_emb)[ids[b * T + t] * C + c] +
                               hw(m, w, m->pos_emb)[t * C + c];
        for (int l = 0; l < n; l++)
            ref_layer(m, w, rl, &m->layers[l], x, T);
        for (int t = 0; t < T; t++)
            ref_ln(x + t * C, out + ((size_t)b * T + t) * C, C, hw(m, w, m->lnf_w), hw(m, w, m->lnf_b),
                   m->cfg.layer_norm_eps);
    }
    free(x);
}

/* ---- gradients by finite differences ---- */

/* The loss sum(out * r) of the double reference: central differences of it have no fp32
 * rounding noise, so they can be compared tightly with the model's fp32 backward (whose forward
 * matches the reference to 2e-5, test_forward_reference). */
typedef struct fd_ctx {
    clip *m;
    float *w;         /* host weights, perturbed by gc_compare */
    ref_lora rl;      /* and the adapters' (rl.lw), when attached */
    const int32_t *ids;
    int B, T;         /* ids is [B, T] */
    int clip_skip;
    float *r;         /* the projection (= dout) */
    double *out;
} fd_ctx;

static double fd_loss(void *p)
{
    fd_ctx *c = p;
    size_t n = (size_t)c->B * c->T * c->m->cfg.hidden_size;
    ref_forward(c->m, c->w, &c->rl, c->ids, c->B, c->T, c->clip_skip, c->out);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += c->out[i] * c->r[i];
    return sum;
}

#define FD_H 2e-4f
#define FD_ATOL 1e-5
#define FD_RTOL 5e-4

/* Every element of every tensor of ps: analytic g against central differences over w. */
static void gradcheck_params(fd_ctx *c, const params *ps, float *w, const float *g, const char *prefix)
{
    for (size_t i = 0; i < ps->n; i++) {
        const param *p = &ps->p[i];
        char what[200];
        snprintf(what, sizeof what, "clip_skip %d: %s", c->clip_skip, p->name + strlen(prefix));
        gc_result r = gc_compare(w + p->offset, g + p->offset, tensor_numel(&p->w), fd_loss, c, FD_H,
                                 FD_ATOL, FD_RTOL, 100000);
        CHECK(gc_ok(what, r));
    }
}

/* grad_embeds (B, T, C) against central differences over token_embedding rows: with distinct ids
 * the row ids[b, t] is used by (b, t) alone, so its gradient is grad_embeds[b, t]. */
static void gradcheck_embeds(fd_ctx *c, const float *ge)
{
    int C = c->m->cfg.hidden_size;
    for (int i = 0; i < c->B * c->T; i++) {
        float ana[64];
        memcpy(ana, ge + (size_t)i * C, sizeof(float) * C);
        char what[64];
        snprintf(what, sizeof what, "clip_skip %d: grad_embeds[%d][%d]", c->clip_skip, i / c->T, i % c->T);
        float *row = c->w + c->m->ps.p[c->m->tok_emb].offset + (size_t)c->ids[i] * C;
        CHECK(gc_ok(what, gc_compare(row, ana, C, fd_loss, c, FD_H, FD_ATOL, FD_RTOL, 1000)));
    }
}

#endif
