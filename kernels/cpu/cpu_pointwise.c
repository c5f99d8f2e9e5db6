/* Elementwise and layout ops on the CPU: memory-bound loops split over the pool. Every element is
 * computed by exactly one thread, so results do not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_threads.h"
#include "kernels/cpu/cpu_vmath.h"

#define GRAIN 16384 /* elements per chunk: below this, a wake-up costs more than the loop */

/* A generic job for the loops below: up to three inputs, two outputs, a few scalars. */
typedef struct pw_job {
    float *y, *y2;
    const float *a, *b, *c;
    int64_t n1, n2, n3; /* op-specific sizes */
    float alpha, beta;
    k_act act;
} pw_job;

/* ---------------------------------------------------------------------------------------------- */
/* activations */

/* Four at a time with exp4 (cpu_vmath.h) instead of libm's expf/erff one value at a time; the
 * last n % 4 values go through a zero-padded vector, so every value takes the same path. */

static inline __attribute__((always_inline)) f32x4 act4(k_act act, f32x4 x)
{
    switch (act) {
    case K_SILU:
        return x * sigmoid4(x);
    case K_GELU:
        return gelu4(x);
    default:
        return x * sigmoid4(SPLAT(1.702f) * x);
    }
}

/* silu' = s (1 + x (1 - s)); quick-gelu' = s + 1.702 x s (1 - s), with s the sigmoid */
static inline __attribute__((always_inline)) f32x4 act_grad4(k_act act, f32x4 x)
{
    f32x4 s;
    switch (act) {
    case K_SILU:
        s = sigmoid4(x);
        return s * (ONE + x * (ONE - s));
    case K_GELU:
        return gelu_grad4(x);
    default:
        s = sigmoid4(SPLAT(1.702f) * x);
        return s + SPLAT(1.702f) * x * s * (ONE - s);
    }
}

/* n % 4 floats of p as a vector padded with zeros, and back. */
static inline f32x4 load_tail(const float *p, int64_t n)
{
    float b[4] = {0, 0, 0, 0};
    memcpy(b, p, (size_t)n * sizeof(float));
    return load4(b);
}

static inline void store_tail(float *p, f32x4 v, int64_t n)
{
    float b[4];
    store4(b, v);
    memcpy(p, b, (size_t)n * sizeof(float));
}

/* y (n) = act(x); y may be x. The switch is hoisted so each loop inlines one activation. */
#define ACT_FWD_LOOP(ACT)                                                                          \
    do {                                                                                           \
        for (; i + 4 <= n; i += 4)                                                                 \
            store4(y + i, act4(ACT, load4(x + i)));                                                \
        if (i < n)                                                                                 \
            store_tail(y + i, act4(ACT, load_tail(x + i, n - i)), n - i);                          \
    } while (0)

static void act_fwd_vec(k_act act, float *y, const float *x, int64_t n)
{
    int64_t i = 0;
    if (act == K_SILU)
        ACT_FWD_LOOP(K_SILU);
    else if (act == K_GELU)
        ACT_FWD_LOOP(K_GELU);
    else
        ACT_FWD_LOOP(K_QUICK_GELU);
}

/* dx (n) += dy * act'(x) */
#define ACT_BWD_LOOP(ACT)                                                                          \
    do {                                                                                           \
        for (; i + 4 <= n; i += 4)                                                                 \
            store4(dx + i, load4(dx + i) + load4(dy + i) * act_grad4(ACT, load4(x + i)));          \
        if (i < n)                                                                                 \
            store_tail(dx + i,                                                                     \
                       load_tail(dx + i, n - i) +                                                  \
                           load_tail(dy + i, n - i) * act_grad4(ACT, load_tail(x + i, n - i)),     \
                       n - i);                                                                     \
    } while (0)

static void act_bwd_vec(k_act act, float *dx, const float *dy, const float *x, int64_t n)
{
    int64_t i = 0;
    if (act == K_SILU)
        ACT_BWD_LOOP(K_SILU);
    else if (act == K_GELU)
        ACT_BWD_LOOP(K_GELU);
    else
        ACT_BWD_LOOP(K_QUICK_GELU);
}

static void act_fwd_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    act_fwd_vec(j->act, j->y + begin, j->a + begin, end - begin);
}

static void act_bwd_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    act_bwd_vec(j->act, j->y + begin, j->b + begin, j->a + begin, end - begin);
}

/* x, y any shape (same numel) */
void cpu_act_fwd(kctx *k, k_act act, tensor *y, const tensor *x)
{
    pw_job j = {.y = y->data, .a = x->data, .act = act};
    cpu_parallel_for(k, (int64_t)tensor_numel(x), GRAIN, act_fwd_range, &j);
}

/* dx += dy * act'(x) */
void cpu_act_bwd(kctx *k, k_act act, tensor *dx, const tensor *dy, const tensor *x)
{
    pw_job j = {.y = dx->data, .a = x->data, .b = dy->data, .act = act};
    cpu_parallel_for(k, (int64_t)tensor_numel(x), GRAIN, act_bwd_range, &j);
}

/* ---------------------------------------------------------------------------------------------- */
/* GEGLU */

static void geglu_fwd_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    int64_t F = j->n1;
    for (int64_t r = begin; r < end; r++) {
        const float *a = j->a + r * 2 * F, *gate = a + F;
        float *y = j->y + r * F;
        int64_t f = 0;
        for (; f + 4 <= F; f += 4)
            store4(y + f, load4(a + f) * gelu4(load4(gate + f)));
        if (f < F)
            store_tail(y + f, load_tail(a + f, F - f) * gelu4(load_tail(gate + f, F - f)), F - f);
    }
}

/* da += dy * gelu(g), dgate += dy * a * gelu'(g) for n values; phi4 is shared by both. */
static inline __attribute__((always_inline)) void geglu_bwd4(f32x4 a, f32x4 g, f32x4 dy, f32x4 *da,
                                                               f32x4 *dg)
{
    f32x4 P = phi4(g);
    *da += dy * (g * P);
    *dg += dy * a * (P + g * VINV_SQRT_2PI * exp4(-HALF * g * g));
}

static void geglu_bwd_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    int64_t F = j->n1;
    for (int64_t r = begin; r < end; r++) {
        const float *a = j->a + r * 2 * F, *gate = a + F, *dy = j->b + r * F;
        float *da = j->y + r * 2 * F, *dgate = da + F;
        int64_t f = 0;
        for (; f + 4 <= F; f += 4) {
            f32x4 va = load4(da + f), vg = load4(dgate + f);
            geglu_bwd4(load4(a + f), load4(gate + f), load4(dy + f), &va, &vg);
            store4(da + f, va);
            store4(dgate + f, vg);
        }
        if (f < F) {
            int64_t m = F - f;
            f32x4 va = load_tail(da + f, m), vg = load_tail(dgate + f, m);
            geglu_bwd4(load_tail(a + f, m), load_tail(gate + f, m), load_tail(dy + f, m), &va, &vg);
            store_tail(da + f, va, m);
            store_tail(dgate + f, vg, m);
        }
    }
}

/* x is (N, 2F), y is (N, F) = x[:, :F] * gelu(x[:, F:]) */
void cpu_geglu_fwd(kctx *k, tensor *y, const tensor *x)
{
    int64_t F = y->shape[y->ndim - 1];
    pw_job j = {.y = y->data, .a = x->data, .n1 = F};
    cpu_parallel_for(k, (int64_t)tensor_numel(y) / F, GRAIN / F + 1, geglu_fwd_range, &j);
}

/* dy is (N, F); dx (N, 2F) += [dy * gelu(g), dy * a * gelu'(g)] */
void cpu_geglu_bwd(kctx *k, tensor *dx, const tensor *dy, const tensor *x)
{
    int64_t F = dy->shape[dy->ndim - 1];
    pw_job j = {.y = dx->data, .a = x->data, .b = dy->data, .n1 = F};
    cpu_parallel_for(k, (int64_t)tensor_numel(dy) / F, GRAIN / F + 1, geglu_bwd_range, &j);
}

/* ---------------------------------------------------------------------------------------------- */
/* add, broadcast add, axpby */

static void add_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    for (int64_t i = begin; i < end; i++)
        j->y[i] = j->a[i] + j->b[i];
}

/* y = a + b, any shape (y may be a or b) */
void cpu_add(kctx *k, tensor *y, const tensor *a, const tensor *b)
{
    pw_job j = {.y = y->data, .a = a->data, .b = b->data};
    cpu_parallel_for(k, (int64_t)tensor_numel(y), GRAIN, add_range, &j);
}

/* Rows are (b, c) planes of n1 = H*W elements. */
static void add_bcast_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    for (int64_t r = begin; r < end; r++) {
        const float *a = j->a + r * j->n1;
        float *y = j->y + r * j->n1, bias = j->b[r];
        for (int64_t i = 0; i < j->n1; i++)
            y[i] = a[i] + bias;
    }
}

/* a, y are (B, C, H, W), b is (B, C): y = a + b[:, :, None, None] */
void cpu_add_bcast_bc(kctx *k, tensor *y, const tensor *a, const tensor *b)
{
    int64_t hw = (int64_t)(tensor_numel(a) / tensor_numel(b));
    pw_job j = {.y = y->data, .a = a->data, .b = b->data, .n1 = hw};
    cpu_parallel_for(k, (int64_t)tensor_numel(b), GRAIN / hw + 1, add_bcast_range, &j);
}

static void plane_sum_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    for (int64_t r = begin; r < end; r++) {
        const float *d = j->a + r * j->n1;
        double s = 0;
        for (int64_t i = 0; i < j->n1; i++)
            s += d[i];
        j->y[r] += (float)s;
    }
}

/* dy is (B, C, H, W); db (B, C) += sum over H, W */
void cpu_add_bcast_bc_bwd(kctx *k, tensor *db, const tensor *dy)
{
    int64_t hw = (int64_t)(tensor_numel(dy) / tensor_numel(db));
    pw_job j = {.y = db->data, .a = dy->data, .n1 = hw};
    cpu_parallel_for(k, (int64_t)tensor_numel(db), GRAIN / hw + 1, plane_sum_range, &j);
}

static void axpby_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    if (j->beta == 0.0f) { /* y is not read: it may hold garbage (NaN) */
        for (int64_t i = begin; i < end; i++)
            j->y[i] = j->alpha * j->a[i];
        return;
    }
    for (int64_t i = begin; i < end; i++)
        j->y[i] = j->alpha * j->a[i] + j->beta * j->y[i];
}

/* y = alpha x + beta y, any shape */
void cpu_axpby(kctx *k, tensor *y, float alpha, const tensor *x, float beta)
{
    pw_job j = {.y = y->data, .a = x->data, .alpha = alpha, .beta = beta};
    cpu_parallel_for(k, (int64_t)tensor_numel(y), GRAIN, axpby_range, &j);
}

/* ---------------------------------------------------------------------------------------------- */
/* concat along channels */

/* Per batch item r: y's block is [a's block (n1 floats), b's block (n2 floats)]. Forward copies,
 * backward (c set) adds y's blocks into a and b (either may be NULL). */
static void concat_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    for (int64_t r = begin; r < end; r++) {
        int64_t na = j->n1, nb = j->n2;
        float *ya = j->y + r * (na + nb), *yb = ya + na;
        if (!j->c) {
            memcpy(ya, j->a + r * na, (size_t)na * sizeof(float));
            memcpy(yb, j->b + r * nb, (size_t)nb * sizeof(float));
            continue;
        }
        float *da = (float *)j->a, *db = (float *)j->b; /* the backward's outputs */
        for (int64_t i = 0; da && i < na; i++)
            da[r * na + i] += ya[i];
        for (int64_t i = 0; db && i < nb; i++)
            db[r * nb + i] += yb[i];
    }
}

/* a (B, Ca, ...), b (B, Cb, ...), y (B, Ca+Cb, ...) */
void cpu_concat_fwd(kctx *k, tensor *y, const tensor *a, const tensor *b)
{
    int64_t B = y->shape[0];
    pw_job j = {.y = y->data, .a = a->data, .b = b->data, .n1 = (int64_t)tensor_numel(a) / B,
                .n2 = (int64_t)tensor_numel(b) / B};
    cpu_parallel_for(k, B, 1, concat_range, &j);
}

/* dy (B, Ca+Cb, ...); da += dy[:, :Ca], db += dy[:, Ca:] */
void cpu_concat_bwd(kctx *k, tensor *da, tensor *db, const tensor *dy)
{
    int64_t B = dy->shape[0], per = (int64_t)tensor_numel(dy) / B;
    int64_t na = da ? (int64_t)tensor_numel(da) / B : per - (int64_t)tensor_numel(db) / B;
    pw_job j = {.y = dy->data, .a = da ? da->data : NULL, .b = db ? db->data : NULL, .c = dy->data,
                .n1 = na, .n2 = per - na};
    cpu_parallel_for(k, B, 1, concat_range, &j);
}

/* ---------------------------------------------------------------------------------------------- */
/* nearest 2x upsampling */

/* Rows are input rows (b, c, i) of n1 = W pixels; output rows 2i and 2i+1 repeat each pixel twice. */
static void upsample_fwd_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    int64_t W = j->n1;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->a + r * W;
        float *y0 = j->y + r * 4 * W, *y1 = y0 + 2 * W;
        for (int64_t i = 0; i < W; i++)
            y0[2 * i] = y0[2 * i + 1] = x[i];
        memcpy(y1, y0, (size_t)(2 * W) * sizeof(float));
    }
}

static void upsample_bwd_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    int64_t W = j->n1;
    for (int64_t r = begin; r < end; r++) {
        const float *d0 = j->a + r * 4 * W, *d1 = d0 + 2 * W;
        float *dx = j->y + r * W;
        for (int64_t i = 0; i < W; i++)
            dx[i] += d0[2 * i] + d0[2 * i + 1] + d1[2 * i] + d1[2 * i + 1];
    }
}

/* x (B, C, H, W) -> y (B, C, 2H, 2W) */
void cpu_upsample2x_fwd(kctx *k, tensor *y, const tensor *x)
{
    int64_t W = x->shape[3];
    pw_job j = {.y = y->data, .a = x->data, .n1 = W};
    cpu_parallel_for(k, (int64_t)tensor_numel(x) / W, GRAIN / W + 1, upsample_fwd_range, &j);
}

/* dy (B, C, 2H, 2W); dx (B, C, H, W) += sum of each 2x2 block */
void cpu_upsample2x_bwd(kctx *k, tensor *dx, const tensor *dy)
{
    int64_t W = dx->shape[3];
    pw_job j = {.y = dx->data, .a = dy->data, .n1 = W};
    cpu_parallel_for(k, (int64_t)tensor_numel(dx) / W, GRAIN / W + 1, upsample_bwd_range, &j);
}

/* ---------------------------------------------------------------------------------------------- */
/* layout: (B, C, H*W) <-> (B, H*W, C) */

/* One transpose per batch item, (n1 rows, n2 cols) -> (n2, n1); the pool splits the items'
 * rows of the output so that one image (SD's batch of 1) still spreads over every thread. */
static void transpose_range(void *p, int64_t begin, int64_t end)
{
    pw_job *j = p;
    int64_t R = j->n1, C = j->n2;
    for (int64_t q = begin; q < end; q++) { /* q = (item, output row c) */
        int64_t b = q / C, c = q % C;
        const float *x = j->a + b * R * C + c;
        float *y = j->y + q * R;
        for (int64_t r = 0; r < R; r++)
            y[r] = x[r * C];
    }
}

/* x (B, C, H, W) -> y (B, H*W, C) */
void cpu_nchw_to_nlc(kctx *k, tensor *y, const tensor *x)
{
    int64_t B = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    pw_job j = {.y = y->data, .a = x->data, .n1 = C, .n2 = HW};
    cpu_parallel_for(k, B * HW, GRAIN / C + 1, transpose_range, &j);
}

/* x (B, H*W, C) -> y (B, C, H, W) */
void cpu_nlc_to_nchw(kctx *k, tensor *y, const tensor *x)
{
    int64_t B = y->shape[0], C = y->shape[1], HW = y->shape[2] * y->shape[3];
    pw_job j = {.y = y->data, .a = x->data, .n1 = HW, .n2 = C};
    cpu_parallel_for(k, B * C, GRAIN / HW + 1, transpose_range, &j);
}
