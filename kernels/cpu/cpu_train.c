/* Loss, optimiser and random numbers on the CPU. Reductions are split into fixed blocks whose
 * partial sums are added in block order, so that like the RNG they give the same bits for any
 * thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_threads.h"

#define GRAIN 16384
#define SUM_BLOCK 65536 /* elements per partial sum */

/* ---------------------------------------------------------------------------------------------- */
/* MSE, weighted per batch item: loss = mean_b(w_b * mean_i((pred - target)^2)) over items of M
 * elements, i.e. kohya's loss.mean([1, 2, 3]) * weights, then .mean() (trainers.md 4.2). */

typedef struct mse_job {
    const float *p, *t, *w;
    float *d;
    double *item_sq; /* forward: sum of squares per item */
    int64_t M;
    float scale; /* backward: grad_scale * 2 / (B * M) */
} mse_job;

static void mse_fwd_range(void *p, int64_t begin, int64_t end)
{
    mse_job *j = p;
    for (int64_t b = begin; b < end; b++) {
        const float *pr = j->p + b * j->M, *ta = j->t + b * j->M;
        double s = 0;
        for (int64_t i = 0; i < j->M; i++) {
            double e = (double)pr[i] - ta[i];
            s += e * e;
        }
        j->item_sq[b] = s;
    }
}

/* pred, target (B, ...), wb (B) or NULL */
void cpu_mse_fwd(kctx *k, float *loss, const tensor *pred, const tensor *target, const float *wb)
{
    int64_t B = pred->shape[0], M = (int64_t)tensor_numel(pred) / B;
    double *sq = malloc((size_t)B * sizeof *sq);
    if (!sq) {
        snprintf(k->msg, sizeof k->msg, "mse: out of memory");
        return;
    }
    mse_job j = {.p = pred->data, .t = target->data, .item_sq = sq, .M = M};
    cpu_parallel_for(k, B, 1, mse_fwd_range, &j);
    double total = 0;
    for (int64_t b = 0; b < B; b++)
        total += (wb ? wb[b] : 1.0) * (sq[b] / (double)M);
    *loss = (float)(total / (double)B);
    free(sq);
}

static void mse_bwd_range(void *p, int64_t begin, int64_t end)
{
    mse_job *j = p;
    for (int64_t i = begin; i < end; i++) {
        float w = j->w ? j->w[i / j->M] : 1.0f;
        j->d[i] += j->scale * w * (j->p[i] - j->t[i]);
    }
}

/* dpred += grad_scale * 2 w_b (pred - target) / (B * M) */
void cpu_mse_bwd(kctx *k, tensor *dpred, const tensor *pred, const tensor *target, const float *wb,
                 float grad_scale)
{
    int64_t n = (int64_t)tensor_numel(pred), B = pred->shape[0];
    mse_job j = {.p = pred->data, .t = target->data, .w = wb, .d = dpred->data, .M = n / B,
                 .scale = (float)(2.0 * grad_scale / (double)n)};
    cpu_parallel_for(k, n, GRAIN, mse_bwd_range, &j);
}

/* ---------------------------------------------------------------------------------------------- */
/* AdamW, as torch.optim.AdamW's single-tensor path (torch/optim/adamw.py): decay first, then
 * m.lerp_(g, 1 - beta1), v = beta2 v + (1 - beta2) g^2, p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2)
 * + eps), with the bias corrections bc = 1 - beta^t in double as Python computes them. */

typedef struct adamw_job {
    float *p, *m, *v;
    const float *g;
    float decay, beta1, beta2, step_size, bc2_sqrt, eps;
} adamw_job;

/* torch.lerp: start + w (end - start) for w < 0.5, else end - (end - start)(1 - w) */
static inline float lerpf(float start, float end, float w)
{
    return w < 0.5f ? start + w * (end - start) : end - (end - start) * (1.0f - w);
}

static void adamw_range(void *p, int64_t begin, int64_t end)
{
    adamw_job *j = p;
    float w1 = 1.0f - j->beta1, w2 = 1.0f - j->beta2;
    for (int64_t i = begin; i < end; i++) {
        float g = j->g[i];
        j->p[i] *= j->decay;
        j->m[i] = lerpf(j->m[i], g, w1);
        j->v[i] = j->v[i] * j->beta2 + w2 * g * g;
        float denom = sqrtf(j->v[i]) / j->bc2_sqrt + j->eps;
        j->p[i] += -j->step_size * (j->m[i] / denom);
    }
}

/* p, g, m, v: same shape */
void cpu_adamw(kctx *k, tensor *p, const tensor *g, tensor *m, tensor *v, int t, float lr, float beta1,
               float beta2, float eps, float wd)
{
    double bc1 = 1.0 - pow(beta1, t), bc2 = 1.0 - pow(beta2, t);
    adamw_job j = {.p = p->data, .m = m->data, .v = v->data, .g = g->data,
                   .decay = (float)(1.0 - (double)lr * wd), .beta1 = beta1, .beta2 = beta2,
                   .step_size = (float)(lr / bc1), .bc2_sqrt = (float)sqrt(bc2), .eps = eps};
    cpu_parallel_for(k, (int64_t)tensor_numel(p), GRAIN, adamw_range, &j);
}

/* ---------------------------------------------------------------------------------------------- */
/* sum of squares */

typedef struct sumsq_job {
    const float *g;
    double *part;
    int64_t n;
} sumsq_job;

static void sumsq_range(void *p, int64_t begin, int64_t end)
{
    sumsq_job *j = p;
    for (int64_t blk = begin; blk < end; blk++) {
        int64_t lo = blk * SUM_BLOCK, hi = lo + SUM_BLOCK < j->n ? lo + SUM_BLOCK : j->n;
        double s = 0;
        for (int64_t i = lo; i < hi; i++)
            s += (double)j->g[i] * j->g[i];
        j->part[blk] = s;
    }
}

double cpu_sum_squares(kctx *k, const tensor *g)
{
    int64_t n = (int64_t)tensor_numel(g), blocks = (n + SUM_BLOCK - 1) / SUM_BLOCK;
    double one, *part = blocks > 1 ? malloc((size_t)blocks * sizeof *part) : &one;
    sumsq_job j = {g->data, part, n};
    if (!part) { /* no room for partial sums: one block, serial */
        j.part = &one;
        double s = 0;
        for (int64_t blk = 0; blk < blocks; blk++) {
            sumsq_range(&j, blk, blk + 1);
            s += one;
        }
        return s;
    }
    cpu_parallel_for(k, blocks, 1, sumsq_range, &j);
    double s = 0;
    for (int64_t blk = 0; blk < blocks; blk++)
        s += part[blk];
    if (part != &one)
        free(part);
    return s;
}

/* ---------------------------------------------------------------------------------------------- */
/* Random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11; the generator of curand and of torch's CUDA RNG). Key = the seed's two 32-bit halves;
 * counter = (offset + i / 4) as a 64-bit value in words 0-1, words 2-3 zero. Element i of a fill
 * takes output word i % 4 of counter block offset + i / 4, and the fill then advances r->offset by
 * ceil(n / 4) blocks, so each element's value depends only on (seed, offset, i). */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void cpu_philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

typedef struct rng_job {
    float *out;
    int64_t n;
    uint64_t seed, offset;
    float a, b;  /* normal: mean, std; uniform: lo, hi - lo */
    bool normal;
} rng_job;

/* Box-Muller on two words: u1 in (0, 1] (log finite), u2 in [0, 1); in double, then rounded. */
static void box_muller(uint32_t w1, uint32_t w2, float *z0, float *z1)
{
    double u1 = ((double)w1 + 1.0) * (1.0 / 4294967296.0), u2 = (double)w2 * (1.0 / 4294967296.0);
    double r = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    *z0 = (float)(r * cos(th));
    *z1 = (float)(r * sin(th));
}

static void rng_range(void *p, int64_t begin, int64_t end)
{
    rng_job *j = p;
    uint32_t key[2] = {(uint32_t)j->seed, (uint32_t)(j->seed >> 32)};
    for (int64_t blk = begin; blk < end; blk++) {
        uint64_t c = j->offset + (uint64_t)blk;
        uint32_t ctr[4] = {(uint32_t)c, (uint32_t)(c >> 32), 0, 0}, w[4];
        float v[4];
        cpu_philox4x32_10(w, ctr, key);
        if (j->normal) {
            box_muller(w[0], w[1], &v[0], &v[1]);
            box_muller(w[2], w[3], &v[2], &v[3]);
        } else {
            for (int q = 0; q < 4; q++)
                v[q] = (float)(w[q] >> 8) * (1.0f / 16777216.0f); /* [0, 1), 24 bits exact */
        }
        for (int q = 0; q < 4 && blk * 4 + q < j->n; q++)
            j->out[blk * 4 + q] = j->a + j->b * v[q];
    }
}

static void rng_fill(kctx *k, tensor *t, k_rng *r, float a, float b, bool normal)
{
    int64_t n = (int64_t)tensor_numel(t), blocks = (n + 3) / 4;
    rng_job j = {t->data, n, r->seed, r->offset, a, b, normal};
    cpu_parallel_for(k, blocks, GRAIN / 4, rng_range, &j);
    r->offset += (uint64_t)blocks;
}

void cpu_randn(kctx *k, tensor *t, k_rng *r, float mean, float std)
{
    rng_fill(k, t, r, mean, std, true);
}

void cpu_rand_uniform(kctx *k, tensor *t, k_rng *r, float lo, float hi)
{
    rng_fill(k, t, r, lo, hi - lo, false);
}
