/* Group norm and layer norm on the CPU.
 *
 * Both normalise spans of a tensor: group norm the (C/groups) x S values of one (batch item,
 * group) of an NCHW tensor, which are contiguous; layer norm one row of C values. Statistics come
 * from two vectorised passes (mean, then sums of the deviations from it; float blocks added into
 * doubles), so an input with a mean of 1e3 and a spread of 1e-2 loses nothing to cancellation. The forward saves
 * (mean, rstd) per span as floats; the backward uses the saved rstd but re-centres the saved mean
 * in double (one extra read of the span), because a float mean of 1e3 is off by up to 3e-5, which
 * is a visible error in xhat when the spread is small.
 *
 * Backward per span of n values, with g = dy * gamma and xhat = (x - mean) * rstd:
 *   dx += rstd * (g - mean(g) - xhat * mean(g * xhat))
 *   dgamma[c] += sum dy * xhat,  dbeta[c] += sum dy     (over every value of channel c)
 * Parameter gradients are reductions across spans; each task writes its own partial sums (double)
 * to scratch and one fixed-order pass adds them up, so the bits do not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_threads.h"
#include "kernels/cpu/cpu_vmath.h"
#include "kernels/private/k_check.h"

/* ---- spans ---- */

/* The span loops run four floats at a time (cpu_vmath.h) and add each block of NORM_BLOCK values,
 * summed in float, into a double: float rounding only within a block, the double keeps the long
 * sums; deviations are taken from a float split (mh + ml) of a mean known in double, so they are
 * exact up to one rounding even for a mean of 1e3 and a spread of 1e-2. */
#define NORM_BLOCK 256

static inline float hsum4(f32x4 v)
{
    return (v[0] + v[1]) + (v[2] + v[3]);
}

/* x (n): sum of (x - s). */
static double span_sum_sub(const float *x, int64_t n, float s)
{
    double sum = 0;
    for (int64_t b = 0; b < n; b += NORM_BLOCK) {
        int64_t e = b + NORM_BLOCK < n ? b + NORM_BLOCK : n, i = b;
        f32x4 a0 = SPLAT(0.f), a1 = SPLAT(0.f);
        for (; i + 8 <= e; i += 8) {
            a0 += load4(x + i) - SPLAT(s);
            a1 += load4(x + i + 4) - SPLAT(s);
        }
        float t = hsum4(a0 + a1);
        for (; i < e; i++)
            t += x[i] - s;
        sum += t;
    }
    return sum;
}

/* x (n): sums of d and d^2 with d = (x - mh) - ml. */
static void span_dev_sums(const float *x, int64_t n, float mh, float ml, double *s1, double *s2)
{
    double u = 0, v = 0;
    for (int64_t b = 0; b < n; b += NORM_BLOCK) {
        int64_t e = b + NORM_BLOCK < n ? b + NORM_BLOCK : n, i = b;
        f32x4 a0 = SPLAT(0.f), a1 = SPLAT(0.f), q0 = SPLAT(0.f), q1 = SPLAT(0.f);
        for (; i + 8 <= e; i += 8) {
            f32x4 d0 = (load4(x + i) - SPLAT(mh)) - SPLAT(ml), d1 = (load4(x + i + 4) - SPLAT(mh)) - SPLAT(ml);
            a0 += d0;
            a1 += d1;
            q0 += d0 * d0;
            q1 += d1 * d1;
        }
        float t = hsum4(a0 + a1), q = hsum4(q0 + q1);
        for (; i < e; i++) {
            float d = (x[i] - mh) - ml;
            t += d;
            q += d * d;
        }
        u += t;
        v += q;
    }
    *s1 = u;
    *s2 = v;
}

/* mean (double) as mh + ml in floats */
static void split_mean(double mean, float *mh, float *ml)
{
    *mh = (float)mean;
    *ml = (float)(mean - *mh);
}

/* x (n): mean and 1/sqrt(var + eps), in double from two passes: a first mean, then the sums of
 * the deviations from it, which correct the mean and give the variance without cancellation. */
static void span_moments(const float *x, int64_t n, double eps, double *mean, double *rstd)
{
    double m0 = span_sum_sub(x, n, 0.f) / (double)n, s1, s2;
    float mh, ml;
    split_mean(m0, &mh, &ml);
    span_dev_sums(x, n, mh, ml, &s1, &s2);
    double dm = s1 / (double)n, var = s2 / (double)n - dm * dm;
    *mean = (double)mh + (double)ml + dm;
    *rstd = 1.0 / sqrt((var > 0 ? var : 0) + eps);
}

/* x (n): the saved float mean corrected in double: saved + mean(x - saved). */
static double span_mean_refine(const float *x, int64_t n, float saved)
{
    return saved + span_sum_sub(x, n, saved) / (double)n;
}

/* y (n) = (x - mean) * rstd * g + b for one channel's values (x, y (n)). */
static void span_affine(float *y, const float *x, int64_t n, double mean, double rstd, float g, float b)
{
    float mh, ml, sc = (float)(rstd * g);
    split_mean(mean, &mh, &ml);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        store4(y + i, ((load4(x + i) - SPLAT(mh)) - SPLAT(ml)) * SPLAT(sc) + SPLAT(b));
    for (; i < n; i++)
        y[i] = ((x[i] - mh) - ml) * sc + b;
}

/* Over one channel's values x, dy (n): s[0] += sum dy, s[1] += sum dy * xhat. */
static void span_dsums(const float *x, const float *dy, int64_t n, double mean, double rstd, double s[2])
{
    float mh, ml, r = (float)rstd;
    split_mean(mean, &mh, &ml);
    double u = 0, v = 0;
    for (int64_t b = 0; b < n; b += NORM_BLOCK) {
        int64_t e = b + NORM_BLOCK < n ? b + NORM_BLOCK : n, i = b;
        f32x4 a0 = SPLAT(0.f), a1 = SPLAT(0.f), q0 = SPLAT(0.f), q1 = SPLAT(0.f);
        for (; i + 8 <= e; i += 8) {
            f32x4 g0 = load4(dy + i), g1 = load4(dy + i + 4);
            a0 += g0;
            a1 += g1;
            q0 += g0 * (((load4(x + i) - SPLAT(mh)) - SPLAT(ml)) * SPLAT(r));
            q1 += g1 * (((load4(x + i + 4) - SPLAT(mh)) - SPLAT(ml)) * SPLAT(r));
        }
        float t = hsum4(a0 + a1), q = hsum4(q0 + q1);
        for (; i < e; i++) {
            t += dy[i];
            q += dy[i] * (((x[i] - mh) - ml) * r);
        }
        u += t;
        v += q;
    }
    s[0] += u;
    s[1] += v;
}

/* dx (n) += rstd * (dy * g - a - xhat * b) for one channel with gamma g; a = mean(dy*gamma),
 * b = mean(dy*gamma*xhat) over the whole span. */
static void span_dx(float *dx, const float *x, const float *dy, int64_t n, double mean, double rstd,
                    double g, double a, double b)
{
    float mh, ml, r = (float)rstd, gf = (float)g, af = (float)a, bf = (float)b;
    split_mean(mean, &mh, &ml);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        f32x4 xhat = ((load4(x + i) - SPLAT(mh)) - SPLAT(ml)) * SPLAT(r);
        store4(dx + i, load4(dx + i) + SPLAT(r) * (load4(dy + i) * SPLAT(gf) - SPLAT(af) - xhat * SPLAT(bf)));
    }
    for (; i < n; i++) {
        float xhat = ((x[i] - mh) - ml) * r;
        dx[i] += r * (dy[i] * gf - af - xhat * bf);
    }
}

/* ---- group norm ---- */

typedef struct gn_job {
    float *y, *stats, *dx;
    const float *x, *dy, *gamma, *beta;
    double *part;         /* backward: (B, C, 2) per-channel sums dy, dy * xhat */
    int64_t C, S, groups; /* S: values per channel (H * W) */
    double eps;
} gn_job;

/* One task per (b, g): stats (B, groups, 2), y (B, C, S) from x (B, C, S). */
static void gn_fwd_range(void *arg, int64_t begin, int64_t end)
{
    const gn_job *j = arg;
    int64_t cg = j->C / j->groups, n = cg * j->S;
    for (int64_t t = begin; t < end; t++) {
        const float *x = j->x + t * n; /* (b, g) spans channels g*cg .. of item b: contiguous */
        float *y = j->y + t * n;
        double mean, rstd;
        span_moments(x, n, j->eps, &mean, &rstd);
        j->stats[2 * t] = (float)mean;
        j->stats[2 * t + 1] = (float)rstd;
        int64_t c0 = (t % j->groups) * cg;
        for (int64_t c = 0; c < cg; c++)
            span_affine(y + c * j->S, x + c * j->S, j->S, mean, rstd, j->gamma ? j->gamma[c0 + c] : 1.f,
                        j->beta ? j->beta[c0 + c] : 0.f);
    }
}

/* y, x (B, C, ...), stats (B, groups, 2), gamma, beta (C) or NULL. */
void cpu_group_norm_fwd(kctx *k, tensor *y, tensor *stats, const tensor *x, const tensor *gamma,
                        const tensor *beta, int groups, float eps)
{
    int64_t B = x->shape[0], C = x->shape[1];
    gn_job j = {.y = y->data, .stats = stats->data, .x = x->data, .gamma = gamma ? gamma->data : NULL,
                .beta = beta ? beta->data : NULL, .C = C, .S = (int64_t)tensor_numel(x) / (B * C),
                .groups = groups, .eps = eps};
    cpu_parallel_for(k, B * groups, 1, gn_fwd_range, &j);
}

/* One task per (b, g): dx (B, C, S) += ..., part (B, C, 2) = per-channel sums of dy, dy * xhat. */
static void gn_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const gn_job *j = arg;
    int64_t cg = j->C / j->groups, n = cg * j->S, S = j->S;
    for (int64_t t = begin; t < end; t++) {
        const float *x = j->x + t * n, *dy = j->dy + t * n;
        double mean = span_mean_refine(x, n, j->stats[2 * t]), rstd = j->stats[2 * t + 1];
        int64_t c0 = (t % j->groups) * cg;
        double *part = j->part + 2 * (t / j->groups * j->C + c0), a = 0, b = 0;
        for (int64_t c = 0; c < cg; c++) {
            double g = j->gamma ? j->gamma[c0 + c] : 1.0;
            part[2 * c] = part[2 * c + 1] = 0;
            span_dsums(x + c * S, dy + c * S, S, mean, rstd, part + 2 * c);
            a += g * part[2 * c];
            b += g * part[2 * c + 1];
        }
        if (!j->dx)
            continue;
        a /= (double)n;
        b /= (double)n;
        for (int64_t c = 0; c < cg; c++)
            span_dx(j->dx + t * n + c * S, x + c * S, dy + c * S, S, mean, rstd,
                    j->gamma ? j->gamma[c0 + c] : 1.0, a, b);
    }
}

/* dgamma, dbeta (C) += sum over b of part (B, C, 2), in the order of b. */
static void params_reduce(float *dgamma, float *dbeta, const double *part, int64_t B, int64_t C)
{
    for (int64_t c = 0; c < C; c++) {
        double s0 = 0, s1 = 0;
        for (int64_t b = 0; b < B; b++) {
            s0 += part[2 * (b * C + c)];
            s1 += part[2 * (b * C + c) + 1];
        }
        if (dbeta)
            dbeta[c] += (float)s0;
        if (dgamma)
            dgamma[c] += (float)s1;
    }
}

/* dx, dy, x (B, C, ...), stats (B, groups, 2), gamma, dgamma, dbeta (C) or NULL. */
void cpu_group_norm_bwd(kctx *k, tensor *dx, tensor *dgamma, tensor *dbeta, const tensor *dy,
                        const tensor *x, const tensor *stats, const tensor *gamma, int groups)
{
    int64_t B = x->shape[0], C = x->shape[1];
    double *part = cpu_scratch(k, (size_t)(B * C) * 2 * sizeof(double));
    if (!part) {
        k_fail(k, "group_norm backward: out of memory for %lld partial sums", (long long)(B * C * 2));
        return;
    }
    gn_job j = {.dx = dx ? dx->data : NULL, .x = x->data, .dy = dy->data, .stats = stats->data,
                .gamma = gamma ? gamma->data : NULL, .part = part, .C = C,
                .S = (int64_t)tensor_numel(x) / (B * C), .groups = groups};
    cpu_parallel_for(k, B * groups, 1, gn_bwd_range, &j);
    if (dgamma || dbeta)
        params_reduce(dgamma ? dgamma->data : NULL, dbeta ? dbeta->data : NULL, part, B, C);
}

/* ---- layer norm ---- */

/* The backward cuts the rows into at most this many blocks, each with its own partial parameter
 * sums: the block count depends on N alone, so the thread count never changes the sum's order. */
#define LN_BLOCKS_MAX 64

typedef struct ln_job {
    float *y, *stats, *dx;
    const float *x, *dy, *gamma, *beta;
    double *part; /* backward: (blocks, C, 2) */
    int64_t N, C, blocks;
    double eps;
} ln_job;

/* Rows [begin, end) of y, x (N, C), stats (N, 2). */
static void ln_fwd_range(void *arg, int64_t begin, int64_t end)
{
    const ln_job *j = arg;
    int64_t C = j->C;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * C;
        float *y = j->y + r * C;
        double mean, rstd;
        span_moments(x, C, j->eps, &mean, &rstd);
        j->stats[2 * r] = (float)mean;
        j->stats[2 * r + 1] = (float)rstd;
        float mh, ml, rs = (float)rstd;
        split_mean(mean, &mh, &ml);
        if (j->gamma && j->beta)
            for (int64_t c = 0; c < C; c++)
                y[c] = ((x[c] - mh) - ml) * rs * j->gamma[c] + j->beta[c];
        else
            for (int64_t c = 0; c < C; c++)
                y[c] = ((x[c] - mh) - ml) * rs * (j->gamma ? j->gamma[c] : 1.f) + (j->beta ? j->beta[c] : 0.f);
    }
}

/* y, x (N, C) with N every leading dim, stats (N, 2), gamma, beta (C) or NULL. */
void cpu_layer_norm_fwd(kctx *k, tensor *y, tensor *stats, const tensor *x, const tensor *gamma,
                        const tensor *beta, float eps)
{
    int64_t C = x->shape[x->ndim - 1];
    ln_job j = {.y = y->data, .stats = stats->data, .x = x->data, .gamma = gamma ? gamma->data : NULL,
                .beta = beta ? beta->data : NULL, .N = (int64_t)tensor_numel(x) / C, .C = C, .eps = eps};
    cpu_parallel_for(k, j.N, 16, ln_fwd_range, &j);
}

/* One row r of dx, dy, x (N, C); adds dy and dy * xhat into part (C, 2) when it is set. */
static void ln_bwd_row(const ln_job *j, int64_t r, double *part)
{
    int64_t C = j->C;
    const float *x = j->x + r * C, *dy = j->dy + r * C;
    double mean = span_mean_refine(x, C, j->stats[2 * r]), rstd = j->stats[2 * r + 1], a = 0, b = 0;
    for (int64_t c = 0; c < C; c++) {
        double xhat = (x[c] - mean) * rstd, g = dy[c] * (j->gamma ? j->gamma[c] : 1.0);
        a += g;
        b += g * xhat;
        if (part) {
            part[2 * c] += dy[c];
            part[2 * c + 1] += dy[c] * xhat;
        }
    }
    if (!j->dx)
        return;
    a /= (double)C;
    b /= (double)C;
    float *dx = j->dx + r * C;
    for (int64_t c = 0; c < C; c++) {
        double xhat = (x[c] - mean) * rstd, g = dy[c] * (j->gamma ? j->gamma[c] : 1.0);
        dx[c] += (float)(rstd * (g - a - xhat * b));
    }
}

/* Blocks [begin, end) of rows; block i covers rows N*i/blocks .. N*(i+1)/blocks. */
static void ln_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const ln_job *j = arg;
    for (int64_t i = begin; i < end; i++) {
        double *part = j->part ? j->part + 2 * i * j->C : NULL;
        if (part)
            memset(part, 0, 2 * (size_t)j->C * sizeof *part);
        for (int64_t r = j->N * i / j->blocks; r < j->N * (i + 1) / j->blocks; r++)
            ln_bwd_row(j, r, part);
    }
}

/* dx, dy, x (N, C), stats (N, 2), gamma, dgamma, dbeta (C) or NULL. */
void cpu_layer_norm_bwd(kctx *k, tensor *dx, tensor *dgamma, tensor *dbeta, const tensor *dy,
                        const tensor *x, const tensor *stats, const tensor *gamma)
{
    int64_t C = x->shape[x->ndim - 1], N = (int64_t)tensor_numel(x) / C;
    ln_job j = {.dx = dx ? dx->data : NULL, .x = x->data, .dy = dy->data, .stats = stats->data,
                .gamma = gamma ? gamma->data : NULL, .N = N, .C = C,
                .blocks = N < LN_BLOCKS_MAX ? N : LN_BLOCKS_MAX};
    if (dgamma || dbeta) {
        j.part = cpu_scratch(k, (size_t)(j.blocks * C) * 2 * sizeof(double));
        if (!j.part) {
            k_fail(k, "layer_norm backward: out of memory for %lld partial sums",
                   (long long)(j.blocks * C * 2));
            return;
        }
    }
    cpu_parallel_for(k, j.blocks, 1, ln_bwd_range, &j);
    if (j.part)
        params_reduce(dgamma ? dgamma->data : NULL, dbeta ? dbeta->data : NULL, j.part, j.blocks, C);
}
