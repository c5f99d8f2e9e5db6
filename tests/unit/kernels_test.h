/* Helpers for the kernels' unit tests: a tensor paired with a host copy, comparisons against
 * reference values computed in double, and a gradient check that also proves a backward
 * accumulates: the gradient starts from random values g0, and (result - g0) is what gets compared
 * with central differences. Include after check.h and gradcheck.h. */
#ifndef TESTS_KERNELS_TEST_H
#define TESTS_KERNELS_TEST_H
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

typedef struct kt_buf {
    tensor t;
    float *h; /* host copy, numel floats */
    size_t n;
} kt_buf;

/* Trailing 0 dims = fewer dims (as k_tensor4). Zero-filled on both sides. */
static inline kt_buf kt_new(kctx *k, int64_t a, int64_t b, int64_t c, int64_t d)
{
    kt_buf x = {.t = k_tensor4(k, a, b, c, d)};
    x.n = tensor_numel(&x.t);
    x.h = calloc(x.n, sizeof(float));
    if (x.t.data)
        k_upload(k, &x.t, x.h);
    return x;
}

static inline void kt_up(kctx *k, kt_buf *x)
{
    k_upload(k, &x->t, x->h);
}

static inline void kt_down(kctx *k, kt_buf *x)
{
    k_download(k, &x->t, x->h);
}

static inline void kt_fill(kctx *k, kt_buf *x, uint64_t *seed, float lo, float hi)
{
    gc_fill(x->h, x->n, seed, lo, hi);
    kt_up(k, x);
}

static inline void kt_free(kctx *k, kt_buf *x)
{
    k_tensor_free(k, &x->t);
    free(x->h);
    x->h = NULL;
}

/* got[i] within atol + rtol |want[i]| of want[i] for every i; prints the first miss. */
static inline bool kt_close(const char *what, const float *got, const double *want, size_t n,
                            double atol, double rtol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= atol + rtol * fabs(want[i]))) {
            fprintf(stderr, "  %s: element %zu is %.8g, expected %.8g\n", what, i, got[i], want[i]);
            return false;
        }
    return true;
}

/* Fills grad (on both sides) with random values and returns a copy of them, to subtract after the
 * backward has accumulated. */
static inline float *kt_grad_start(kctx *k, kt_buf *grad, uint64_t *seed)
{
    kt_fill(k, grad, seed, -0.5f, 0.5f);
    float *g0 = malloc(grad->n * sizeof(float));
    memcpy(g0, grad->h, grad->n * sizeof(float));
    return g0;
}

/* Downloads grad, subtracts g0 (then frees it) and compares with central differences of loss() with
 * respect to in->h (the loss must upload its inputs from their host copies). */
static inline bool kt_grad_ok(kctx *k, const char *what, kt_buf *in, kt_buf *grad, float *g0,
                              gc_loss_fn loss, void *ctx, float h, double atol, double rtol)
{
    kt_down(k, grad);
    for (size_t i = 0; i < grad->n; i++)
        grad->h[i] -= g0[i];
    free(g0);
    return gc_ok(what, gc_compare(in->h, grad->h, in->n, loss, ctx, h, atol, rtol, 400));
}

/* The op failed and said so: a -1, and a message naming the op and containing `part`. */
static inline bool kt_refused(kctx *k, int rc, const char *op, const char *part)
{
    bool ok = rc == -1 && strstr(k->msg, op) && (!part || strstr(k->msg, part));
    if (!ok)
        fprintf(stderr, "  expected %s to refuse (\"%s\"), got %d, msg \"%s\"\n", op, part ? part : "",
                rc, k->msg);
    k->msg[0] = '\0';
    return ok;
}

#endif
