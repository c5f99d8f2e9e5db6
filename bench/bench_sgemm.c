/* bench_sgemm: the machine's SGEMM rate through OpenBLAS, the figure later benchmarks of the
 * trainer compare against (a step cannot go faster than its GEMM FLOPs at this rate). Figures
 * only: it never fails on time, and exits non-zero only when a product is wrong.
 *
 *   build/release/bench/bench_sgemm [--threads N] [--reps N]
 *
 * Each shape runs through k_linear_forward (y = x w^T: row-major x (M, K), w (N, K), the layout of
 * every linear and of conv2d's im2col GEMM) on a CPU context with N threads (default: all cores),
 * once to warm up, then --reps times (default 7); it prints the median and best GFLOP/s, at
 * 2*M*N*K FLOPs per product. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"
#include "kernels/kernels.h"

typedef struct shape {
    int64_t M, N, K;
    const char *what;
} shape;

static const shape shapes[] = {
    {512, 512, 512, "square"},
    {1024, 1024, 1024, "square"},
    {2048, 2048, 2048, "square"},
    {4096, 320, 1280, "SD1.5 64x64 ff.net.2: 4096 tokens, 1280 -> 320"},
    {256, 64, 288, "tiny UNet 3x3 conv, 16x16 map, 32 -> 64 ch (one item)"},
};

/* One element of y against a double dot product: a wrong BLAS setup must not report a rate. */
static int spot_check(const float *x, const float *w, const float *y, const shape *s)
{
    int64_t m = s->M / 3, n = s->N / 2;
    double want = 0;
    for (int64_t k = 0; k < s->K; k++)
        want += (double)x[m * s->K + k] * w[n * s->K + k];
    double got = y[m * s->N + n];
    if (got - want > 1e-3 * (1 + (want < 0 ? -want : want)) || want - got > 1e-3 * (1 + (want < 0 ? -want : want))) {
        fprintf(stderr, "bench_sgemm: %lldx%lldx%lld: y[%lld][%lld] = %g, expected %g\n", (long long)s->M,
                (long long)s->N, (long long)s->K, (long long)m, (long long)n, got, want);
        return -1;
    }
    return 0;
}

static int run_shape(kctx *k, const shape *s, int reps)
{
    tensor x = k_tensor4(k, s->M, s->K, 0, 0), w = k_tensor4(k, s->N, s->K, 0, 0), y = k_tensor4(k, s->M, s->N, 0, 0);
    size_t nx = tensor_numel(&x), nw = tensor_numel(&w);
    float *hx = malloc(nx * sizeof(float)), *hw = malloc(nw * sizeof(float)), *hy = malloc(tensor_numel(&y) * sizeof(float));
    int rc = -1;
    if (!x.data || !w.data || !y.data || !hx || !hw || !hy) {
        fprintf(stderr, "bench_sgemm: out of memory\n");
        goto done;
    }
    uint32_t seed = 12345;
    for (size_t i = 0; i < nx; i++)
        hx[i] = (float)((seed = seed * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < nw; i++)
        hw[i] = (float)((seed = seed * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    k_upload(k, &x, hx);
    k_upload(k, &w, hw);
    double t[64], flop = 2.0 * s->M * s->N * s->K;
    for (int r = -1; r < reps; r++) {
        double t0 = bench_now();
        if (k_linear_forward(k, &y, &x, &w, NULL) != 0) {
            fprintf(stderr, "bench_sgemm: %s\n", k->msg);
            goto done;
        }
        if (r >= 0)
            t[r] = bench_now() - t0;
    }
    k_download(k, &y, hy);
    if (spot_check(hx, hw, hy, s) != 0)
        goto done;
    qsort(t, (size_t)reps, sizeof *t, bench_cmp_double);
    printf("%5lld x %5lld x %5lld  %8.1f GFLOP/s median  %8.1f best  %8.3f ms  %s\n", (long long)s->M,
           (long long)s->N, (long long)s->K, flop / t[reps / 2] * 1e-9, flop / t[0] * 1e-9, t[reps / 2] * 1e3,
           s->what);
    rc = 0;
done:
    k_tensor_free(k, &x), k_tensor_free(k, &w), k_tensor_free(k, &y);
    free(hx), free(hw), free(hy);
    return rc;
}

int main(int argc, char **argv)
{
    int threads = 0, reps = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads N] [--reps N]\n", argv[0]);
            return 2;
        }
    }
    reps = reps < 1 ? 1 : reps > 64 ? 64 : reps;
    kctx k;
    if (k_init(&k, "cpu", threads) != 0) {
        fprintf(stderr, "bench_sgemm: %s\n", k.msg);
        return 1;
    }
    printf("bench_sgemm: OpenBLAS SGEMM through k_linear_forward, %d threads, median of %d runs\n"
           "    M x     N x     K\n", k.threads, reps);
    int rc = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes && rc == 0; i++)
        rc = run_shape(&k, &shapes[i], reps);
    k_free_ctx(&k);
    return rc ? 1 : 0;
}
