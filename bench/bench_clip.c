/* bench_clip: the CLIP text encoder on the CPU backend. Figures only: it never fails on time, and
 * exits non-zero only when the model API fails.
 *
 *   build/release/bench/bench_clip [--threads N] [--reps N]
 *
 * Rows (T = 77 for sd15, 16 for tiny; random weights from clip_init_weights, random ids):
 *   sd15 forward at batch 1 and 4, forward-only mode (what encoding captions for a frozen text
 *   encoder costs); sd15 forward + backward at batch 1 with the base frozen (the path of text
 *   encoder LoRA, less the adapters) and in full mode; tiny (vocabulary 64) forward + backward at
 *   batch 32 in full mode. Each runs once to warm up, then --reps times (default 5); it prints the
 *   median and best time and the median's GFLOP/s, counting 2 FLOPs per multiply-add of every
 *   linear and of attention's QK^T and PV (full T x T, as reference/engines.md counts it), and for
 *   a backward one more forward's worth for dx and, in full mode, another for the weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"
#include "kernels/kernels.h"
#include "trainer/clip_model.h"

static double forward_flops(const clip_config *c, int B, int T)
{
    double C = c->hidden_size, F = c->intermediate_size, L = c->num_hidden_layers;
    return 2.0 * B * T * L * (4 * C * C + 2 * C * F) + 4.0 * B * L * (double)T * T * C;
}

typedef struct row {
    const char *what;
    int B;
    bool backward;
} row;

/* One timed call: forward (kept when a backward follows) and the backward. */
static int step(clip *m, kctx *k, const int32_t *ids, int B, int T, bool backward, const tensor *dout,
                tg_error *err)
{
    if (clip_forward(m, k, ids, B, T, 1, backward, err) < 0)
        return -1;
    return backward ? clip_backward(m, k, dout, err) : 0;
}

static int run_row(clip *m, kctx *k, const row *r, int T, int reps)
{
    tg_error err = {0};
    int B = r->B;
    int32_t *ids = malloc(sizeof *ids * (size_t)B * T);
    uint64_t s = 12345;
    for (int i = 0; i < B * T; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)m->cfg.vocab_size);
    }
    tensor dout = k_tensor4(k, B, T, m->cfg.hidden_size, 0);
    k_rng rng = {.seed = 7};
    k_randn(k, &dout, &rng, 0.0f, 1.0f);
    double *t = malloc(sizeof *t * (size_t)reps);
    int rc = step(m, k, ids, B, T, r->backward, &dout, &err);
    for (int i = 0; i < reps && rc == 0; i++) {
        double t0 = bench_now();
        rc = step(m, k, ids, B, T, r->backward, &dout, &err);
        t[i] = bench_now() - t0;
    }
    if (rc == 0) {
        qsort(t, (size_t)reps, sizeof *t, bench_cmp_double);
        /* a backward costs dx (one forward) and, in full mode, dW (another) */
        double flops = forward_flops(&m->cfg, B, T) * (r->backward ? (m->ps.all_g.data ? 3 : 2) : 1);
        printf("%-44s batch %2d  median %9.2f ms  best %9.2f ms  %7.1f GFLOP/s\n", r->what, B,
               t[reps / 2] * 1e3, t[0] * 1e3, flops / t[reps / 2] * 1e-9);
    } else {
        fprintf(stderr, "bench_clip: %s: %s\n", r->what, err.msg);
    }
    k_tensor_free(k, &dout);
    free(t);
    free(ids);
    return rc;
}

static int run_model(kctx *k, const char *name, bool grads, const row *rows, size_t n, int T, int reps)
{
    tg_error err = {0};
    clip_config c;
    clip m;
    if (clip_config_builtin(&c, name, &err) < 0)
        return fprintf(stderr, "bench_clip: %s\n", err.msg), -1;
    if (!c.vocab_size)
        c.vocab_size = 64; /* tiny: a tag vocabulary of 60 tags */
    if (clip_build(&m, k, &c, grads, &err) < 0 || clip_init_weights(&m, k, 1, &err) < 0)
        return fprintf(stderr, "bench_clip: %s\n", err.msg), -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = run_row(&m, k, &rows[i], T, reps);
    clip_free(&m, k);
    return rc;
}

int main(int argc, char **argv)
{
    int threads = 0, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else
            return fprintf(stderr, "usage: bench_clip [--threads N] [--reps N]\n"), 2;
    }
    if (reps < 1)
        reps = 1;
    kctx k;
    if (k_init(&k, "cpu", threads) < 0)
        return fprintf(stderr, "bench_clip: %s\n", k.msg), 1;
    printf("bench_clip: CPU backend, %d threads, %d reps\n", k.threads, reps);
    static const row frozen[] = {
        {"sd15 forward (forward-only), T 77", 1, false},
        {"sd15 forward (forward-only), T 77", 4, false},
        {"sd15 forward + backward, frozen base, T 77", 1, true},
    };
    static const row full[] = {{"sd15 forward + backward, full, T 77", 1, true}};
    static const row tiny[] = {{"tiny forward + backward, full, T 16", 32, true}};
    int rc = run_model(&k, "sd15", false, frozen, 3, 77, reps);
    if (rc == 0)
        rc = run_model(&k, "sd15", true, full, 1, 77, reps);
    if (rc == 0)
        rc = run_model(&k, "tiny", true, tiny, 1, 16, reps);
    k_free_ctx(&k);
    return rc ? 1 : 0;
}
