/* bench_unet: the UNet's figures on the CPU backend. Figures only: it never fails on time, and exits
 * non-zero only when an API call fails or a result is not finite.
 *
 *   build/release/bench/bench_unet [--threads N] [--reps N] [--batch N] [--no-sd15]
 *
 *  - tiny, one training pass (forward UNET_TRAIN + backward with every weight gradient) at batch 32
 *    (--batch), 16x16x4 latents, 4 context tokens: median and best ms over --reps (default 5) after
 *    one warm-up, and GFLOP/s at 3x the forward's FLOPs (forward + input and weight gradients);
 *  - sd15 forward (UNET_INFER) at batch 1, 64x64x4, context 77x768, random weights: time, the
 *    activation memory and the process's peak RSS (the target is under 8 GB: 3.4 GB of fp32
 *    weights plus the activations of one layer at a time and the skip connections). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench/bench_util.h"
#include "trainer/unet.h"

static double peak_rss_gb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1048576.0; /* KiB -> GiB */
}

static bool finite_all(kctx *k, const tensor *t)
{
    double s = k_sum_squares(k, t);
    return isfinite(s);
}

typedef struct run {
    unet u;
    tensor x, ctx, eps, deps;
    float t[64];
} run;

static int run_open(run *r, kctx *k, const char *config, int B, int H, int T, bool grads, tg_error *err)
{
    memset(r, 0, sizeof *r);
    unet_config c;
    if (unet_config_builtin(&c, config, err) || unet_build(&r->u, k, &c, grads, err) ||
        unet_init(&r->u, k, 1234, err))
        return -1;
    /* unet_init zeroes the last convs (LDM's zero_module): give them values too, so that every
     * branch carries signal */
    k_rng rng = {99, 0};
    for (size_t i = 0; i < r->u.ps.n; i++) {
        param *p = &r->u.ps.p[i];
        bool zeroed = strstr(p->name, "out_layers.3.weight") || strstr(p->name, "proj_out.weight") ||
                      strstr(p->name, "out.2.weight");
        if (zeroed && k_rand_uniform(k, &p->w, &rng, -0.02f, 0.02f))
            return -1;
    }
    r->x = k_tensor4(k, B, c.in_channels, H, H);
    r->eps = k_tensor4(k, B, c.out_channels, H, H);
    r->deps = k_tensor4(k, B, c.out_channels, H, H);
    r->ctx = k_tensor4(k, B, T, c.context_dim, 0);
    k_randn(k, &r->x, &rng, 0, 1);
    k_randn(k, &r->ctx, &rng, 0, 1);
    k_randn(k, &r->deps, &rng, 0, 1e-3f);
    for (int b = 0; b < B && b < 64; b++)
        r->t[b] = (float)(b * 997 % 1000);
    return 0;
}

static void run_close(run *r, kctx *k)
{
    k_tensor_free(k, &r->x);
    k_tensor_free(k, &r->eps);
    k_tensor_free(k, &r->deps);
    k_tensor_free(k, &r->ctx);
    unet_free(&r->u, k);
}

static int bench_tiny(kctx *k, int B, int reps)
{
    tg_error err = {0};
    run r;
    int H = 16, T = 4;
    if (run_open(&r, k, "tiny", B, H, T, true, &err)) {
        fprintf(stderr, "bench_unet tiny: %s\n", err.msg);
        return -1;
    }
    double *ms = calloc(reps + 1, sizeof *ms), flops = 3 * unet_forward_flops(&r.u, B, H, H, T);
    for (int i = 0; i <= reps; i++) {
        double t0 = bench_now();
        k_zero(k, &r.u.ps.all_g);
        if (unet_forward(&r.u, k, &r.eps, &r.x, r.t, &r.ctx, UNET_TRAIN, &err) ||
            unet_backward(&r.u, k, &r.deps, NULL, NULL, &err)) {
            fprintf(stderr, "bench_unet tiny: %s\n", err.msg);
            return -1;
        }
        ms[i] = (bench_now() - t0) * 1e3;
    }
    if (!finite_all(k, &r.eps) || !finite_all(k, &r.u.ps.all_g)) {
        fprintf(stderr, "bench_unet tiny: a result is not finite\n");
        return -1;
    }
    qsort(ms + 1, reps, sizeof *ms, bench_cmp_double); /* ms[0] is the warm-up */
    double med = ms[1 + reps / 2], best = ms[1];
    printf("tiny  forward+backward (all weight grads), batch %d, 16x16x4, T %d: median %.1f ms, best %.1f ms, "
           "%.2f GFLOP per pass -> %.1f GFLOP/s (median), activations %.1f MB\n",
           B, T, med, best, flops / 1e9, flops / med / 1e6, unet_acts_bytes(&r.u) / 1e6);
    free(ms);
    run_close(&r, k);
    return 0;
}

static int bench_sd15(kctx *k)
{
    tg_error err = {0};
    run r;
    double t0 = bench_now();
    if (run_open(&r, k, "sd15", 1, 64, 77, false, &err)) {
        fprintf(stderr, "bench_unet sd15: %s\n", err.msg);
        return -1;
    }
    double t_init = bench_now() - t0;
    t0 = bench_now();
    if (unet_forward(&r.u, k, &r.eps, &r.x, r.t, &r.ctx, UNET_INFER, &err)) {
        fprintf(stderr, "bench_unet sd15: %s\n", err.msg);
        return -1;
    }
    double t = bench_now() - t0, flops = unet_forward_flops(&r.u, 1, 64, 64, 77);
    if (!finite_all(k, &r.eps)) {
        fprintf(stderr, "bench_unet sd15: eps is not finite\n");
        return -1;
    }
    printf("sd15  forward (UNET_INFER), batch 1, 64x64x4, context 77x768: %.2f s, %.1f GFLOP -> %.1f GFLOP/s; "
           "weights %.2f GB, activations %.1f MB, peak RSS %.2f GiB (random init took %.1f s)\n",
           t, flops / 1e9, flops / t / 1e9, params_count(&r.u.ps) * 4 / 1e9, unet_acts_bytes(&r.u) / 1e6,
           peak_rss_gb(), t_init);
    run_close(&r, k);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 0, reps = 5, batch = 32;
    bool sd15 = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-sd15"))
            sd15 = false;
        else {
            fprintf(stderr, "usage: bench_unet [--threads N] [--reps N] [--batch N] [--no-sd15]\n");
            return 2;
        }
    }
    if (reps < 1 || batch < 1 || batch > 64) {
        fprintf(stderr, "bench_unet: --reps >= 1, --batch 1..64\n");
        return 2;
    }
    kctx k;
    if (k_init(&k, "cpu", threads)) {
        fprintf(stderr, "bench_unet: %s\n", k.msg);
        return 1;
    }
    printf("bench_unet: cpu, %d threads\n", k.threads);
    int rc = bench_tiny(&k, batch, reps);
    if (!rc && sd15)
        rc = bench_sd15(&k);
    k_free_ctx(&k);
    return rc ? 1 : 0;
}
