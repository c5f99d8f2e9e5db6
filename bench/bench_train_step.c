/* bench_train_step: one full training step of the tiny model on the CPU backend, next to the
 * machine's SGEMM rate and PyTorch running the same step side by side. Figures only: it never
 * fails on time, and exits non-zero only when an API call fails, a result is not finite, or a
 * peer that started stops answering (no torch at all: a NOTE, and our figures alone).
 *
 *   build/release/bench/bench_train_step [--threads N] [--batch B]... [--rounds R] [--steps S]
 *       [--warmup W] [--vocab V] [--no-peer] [--one-peer] [--no-clip] [--python P] [--peer SCRIPT]
 *
 * The step (config `tiny`, from scratch, every weight trained):
 *   zero the gradients; eps = unet_forward(x, t, context, UNET_TRAIN); loss = MSE(eps, target);
 *   deps = d loss / d eps; unet_backward (every weight gradient; none for x and context);
 *   k_adamw over the whole parameter buffer (lr 1e-4, betas 0.9/0.999, eps 1e-8, wd 1e-2).
 * x (B, 4, 16, 16) and target random, timesteps in [0, 1000), context a random (B, 4, 64) tensor.
 * Separately, the tiny CLIP text encoder's step (B x 16 tokens of a --vocab word vocabulary,
 * forward keeping activations, MSE against a random (B, 16, 64) target, backward, AdamW).
 *
 * Timing: W warm-up steps, then R rounds of S steps; in each round ours and each peer's block run
 * one after the other, the order rotated every round, so drift on a shared machine hits all.
 * Reported: median, min and max ms per step over the R*S steps, the median per phase (fwd = zero
 * + forward + loss + its gradient, bwd, opt), and GFLOP/s at 3x unet_forward_flops (the forward,
 * plus the input and the weight gradient of every matmul, each as big as the forward).
 *
 * The peer (bench/peer_train_step.py under /usr/bin/python3: PyTorch on tests/ref/ldm_reference.py
 * models, float32, torch.set_num_threads(N), OPENBLAS_NUM_THREADS=N, torch.optim.AdamW, F.mse_loss)
 * is started once per batch size and driven over pipes; it times its own steps the same way. Two
 * variants run (--one-peer: the first only): `torch` with OMP_WAIT_POLICY=PASSIVE, the one the
 * ratio is taken against, and `torch*` with libgomp's default wait policy (see `variants`).
 *
 * The SGEMM probe is bench_sgemm's (k_linear_forward, y = x w^T) for 1024^3, plus the GEMMs that
 * carry most of this model's FLOPs in the layouts the CPU backend's conv2d issues them (im2col:
 * y = w . col; dw += dy . col^T; dcol = w^T . dy) at the batch being measured. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "bench/bench_util.h"
#include "trainer/clip_model.h"
#include "trainer/unet.h"

extern char **environ;

#define MAX_SAMPLES 4096
#define LR 1e-4f, 0.9f, 0.999f, 1e-8f, 1e-2f /* lr, beta1, beta2, eps, weight decay */

/* ---- samples ---- */

typedef struct series {
    double v[MAX_SAMPLES];
    int n;
} series;

static void series_add(series *s, double v)
{
    if (s->n < MAX_SAMPLES)
        s->v[s->n++] = v;
}

/* sorts in place; med/min/max of the samples */
static void series_stats(series *s, double *med, double *lo, double *hi)
{
    qsort(s->v, s->n, sizeof *s->v, bench_cmp_double);
    *med = s->n ? (s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2) : NAN;
    *lo = s->n ? s->v[0] : NAN;
    *hi = s->n ? s->v[s->n - 1] : NAN;
}

static double series_median(series *s)
{
    double m, lo, hi;
    series_stats(s, &m, &lo, &hi);
    return m;
}

typedef struct timing {
    series ms, fwd, bwd, opt;
} timing;

/* ---- the machine ---- */

static void print_machine(const char *when)
{
    char line[128], model[256];
    bench_loadavg(line, sizeof line, false);
    if (!strcmp(when, "start")) {
        bench_cpu_model(model, sizeof model);
        printf("machine: nproc %ld, CPU %s; OpenBLAS %s (core %s)\n", sysconf(_SC_NPROCESSORS_ONLN), model,
               openblas_get_config(), openblas_get_corename());
    }
    printf("loadavg at %s: %s\n", when, line);
}

/* ---- SGEMM probe ---- */

typedef struct gemm {
    char ta, tb; /* 'N' or 'T' for A and B of C (M, N) = op(A) op(B) */
    int M, N, K;
    const char *what;
} gemm;

static double gemm_rate(kctx *k, const gemm *g, int reps)
{
    size_t na = (size_t)g->M * g->K, nb = (size_t)g->K * g->N, nc = (size_t)g->M * g->N;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *c = calloc(nc, 4);
    double t[32], rate = NAN;
    if (!a || !b || !c)
        goto done;
    for (size_t i = 0; i < na; i++)
        a[i] = (float)(i % 17) * 0.01f - 0.08f;
    for (size_t i = 0; i < nb; i++)
        b[i] = (float)(i % 13) * 0.01f - 0.06f;
    if (g->ta == 'L') { /* bench_sgemm's probe: k_linear_forward, x (M, K), w (N, K) */
        tensor x = {.data = a, .ndim = 2, .shape = {g->M, g->K}}, w = {.data = b, .ndim = 2, .shape = {g->N, g->K}},
               y = {.data = c, .ndim = 2, .shape = {g->M, g->N}};
        for (int r = -1; r < reps; r++) {
            double t0 = bench_now();
            if (k_linear_forward(k, &y, &x, &w, NULL))
                goto done;
            if (r >= 0)
                t[r] = bench_now() - t0;
        }
    } else {
        bool ta = g->ta == 'T', tb = g->tb == 'T';
        for (int r = -1; r < reps; r++) {
            double t0 = bench_now();
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, g->M, g->N,
                        g->K, 1, a, ta ? g->M : g->K, b, tb ? g->K : g->N, 1, c, g->N);
            if (r >= 0)
                t[r] = bench_now() - t0;
        }
    }
    qsort(t, reps, sizeof *t, bench_cmp_double);
    rate = 2.0 * g->M * g->N * g->K / t[reps / 2] / 1e9;
done:
    free(a), free(b), free(c);
    return rate;
}

/* 1024^3, then the conv GEMMs that carry most of the tiny UNet's FLOPs at batch B (P = B x map):
 * 3x3 convs of 64 channels at 8x8 (the middle and level-1 ResBlocks: 7 of them, 1.1 of 5.4 GFLOP
 * at B 32) and at 16x16 (the Upsample), 32 channels at 16x16 (five convs), their weight and input
 * gradients, and the transformer's GEGLU projection (a linear over B x 64 tokens). */
static void probe_sgemm(kctx *k, int B)
{
    int p8 = B * 64, p16 = B * 256;
    gemm gs[] = {
        {'L', 0, 1024, 1024, 1024, "square, k_linear_forward (bench_sgemm's probe)"},
        {'N', 'N', 64, p8, 576, "conv 3x3 64->64 at 8x8, forward: w (64, 576) . col"},
        {'N', 'T', 64, 576, p8, "  its weight gradient: dy . col^T"},
        {'T', 'N', 576, p8, 64, "  its input gradient: w^T . dy (then col2im)"},
        {'N', 'N', 64, p16, 576, "conv 3x3 64->64 at 16x16 (Upsample), forward"},
        {'N', 'N', 32, p16, 288, "conv 3x3 32->32 at 16x16, forward"},
        {'N', 'T', 32, 288, p16, "  its weight gradient"},
        {'T', 'N', 288, p16, 32, "  its input gradient"},
        {'L', 0, p8, 512, 64, "linear ff.net.0.proj (GEGLU) 64 -> 512, B x 64 tokens"},
    };
    printf("SGEMM probe (OpenBLAS, %d threads, median of 7), batch %d:\n", k->threads, B);
    for (size_t i = 0; i < sizeof gs / sizeof *gs; i++) {
        const gemm *g = &gs[i];
        printf("  %6d x %6d x %6d %c%c %7.1f GFLOP/s  %s\n", g->M, g->N, g->K, g->ta == 'L' ? 'N' : g->ta,
               g->ta == 'L' ? 'T' : g->tb, gemm_rate(k, g, 7), g->what);
    }
}

/* ---- our steps ---- */

typedef struct unet_run {
    unet u;
    tensor m, v, x, ctx, eps, target, deps;
    float t[1024];
    int B, step;
    float loss;
} unet_run;

static int unet_run_open(unet_run *r, kctx *k, int B, tg_error *err)
{
    memset(r, 0, sizeof *r);
    r->B = B;
    unet_config c;
    if (unet_config_builtin(&c, "tiny", err) || unet_build(&r->u, k, &c, true, err) ||
        unet_init(&r->u, k, 1234, err))
        return -1;
    size_t n = params_count(&r->u.ps);
    r->m = k_tensor4(k, n, 0, 0, 0), r->v = k_tensor4(k, n, 0, 0, 0);
    r->x = k_tensor4(k, B, c.in_channels, 16, 16);
    r->eps = k_tensor4(k, B, c.out_channels, 16, 16);
    r->target = k_tensor4(k, B, c.out_channels, 16, 16);
    r->deps = k_tensor4(k, B, c.out_channels, 16, 16);
    r->ctx = k_tensor4(k, B, 4, c.context_dim, 0);
    if (!r->m.data || !r->v.data || !r->x.data || !r->eps.data || !r->target.data || !r->deps.data || !r->ctx.data)
        return error_set(err, "out of memory");
    k_zero(k, &r->m), k_zero(k, &r->v);
    k_rng rng = {99, 0};
    k_randn(k, &r->x, &rng, 0, 1), k_randn(k, &r->ctx, &rng, 0, 1), k_randn(k, &r->target, &rng, 0, 1);
    for (int b = 0; b < B; b++)
        r->t[b] = (float)(b * 997 % 1000);
    return 0;
}

static void unet_run_close(unet_run *r, kctx *k)
{
    tensor *ts[] = {&r->m, &r->v, &r->x, &r->ctx, &r->eps, &r->target, &r->deps};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        k_tensor_free(k, ts[i]);
    unet_free(&r->u, k);
}

static int unet_step(unet_run *r, kctx *k, timing *tm, tg_error *err)
{
    params *ps = &r->u.ps;
    double t0 = bench_now();
    k_zero(k, &ps->all_g);
    k_zero(k, &r->deps);
    if (unet_forward(&r->u, k, &r->eps, &r->x, r->t, &r->ctx, UNET_TRAIN, err) ||
        k_mse_forward(k, &r->loss, &r->eps, &r->target, NULL) ||
        k_mse_backward(k, &r->deps, &r->eps, &r->target, NULL, 1.0f))
        return -1;
    double t1 = bench_now();
    if (unet_backward(&r->u, k, &r->deps, NULL, NULL, err))
        return -1;
    double t2 = bench_now();
    if (k_adamw(k, &ps->all_w, &ps->all_g, &r->m, &r->v, ++r->step, LR))
        return -1;
    double t3 = bench_now();
    if (tm) {
        series_add(&tm->ms, (t3 - t0) * 1e3), series_add(&tm->fwd, (t1 - t0) * 1e3);
        series_add(&tm->bwd, (t2 - t1) * 1e3), series_add(&tm->opt, (t3 - t2) * 1e3);
    }
    return 0;
}

typedef struct clip_run {
    clip c;
    tensor m, v, target, dout;
    int32_t *ids;
    int B, T, step;
    float loss;
} clip_run;

static int clip_run_open(clip_run *r, kctx *k, int B, int T, int vocab, tg_error *err)
{
    memset(r, 0, sizeof *r);
    r->B = B, r->T = T;
    clip_config c;
    if (clip_config_builtin(&c, "tiny", err))
        return -1;
    c.vocab_size = vocab;
    if (clip_build(&r->c, k, &c, true, err) || clip_init_weights(&r->c, k, 1234, err))
        return -1;
    size_t n = params_count(&r->c.ps);
    r->m = k_tensor4(k, n, 0, 0, 0), r->v = k_tensor4(k, n, 0, 0, 0);
    r->target = k_tensor4(k, B, T, c.hidden_size, 0), r->dout = k_tensor4(k, B, T, c.hidden_size, 0);
    r->ids = malloc((size_t)B * T * sizeof *r->ids);
    if (!r->m.data || !r->v.data || !r->target.data || !r->dout.data || !r->ids)
        return error_set(err, "out of memory");
    k_zero(k, &r->m), k_zero(k, &r->v);
    k_rng rng = {7, 0};
    k_randn(k, &r->target, &rng, 0, 1);
    uint32_t s = 42;
    for (int i = 0; i < B * T; i++)
        r->ids[i] = (int32_t)((s = s * 1664525u + 1013904223u) >> 8) % vocab;
    return 0;
}

static void clip_run_close(clip_run *r, kctx *k)
{
    k_tensor_free(k, &r->m), k_tensor_free(k, &r->v), k_tensor_free(k, &r->target), k_tensor_free(k, &r->dout);
    free(r->ids);
    clip_free(&r->c, k);
}

static int clip_step(clip_run *r, kctx *k, timing *tm, tg_error *err)
{
    params *ps = &r->c.ps;
    double t0 = bench_now();
    k_zero(k, &ps->all_g);
    k_zero(k, &r->dout);
    if (clip_forward(&r->c, k, r->ids, r->B, r->T, 1, true, err) ||
        k_mse_forward(k, &r->loss, &r->c.acts.out, &r->target, NULL) ||
        k_mse_backward(k, &r->dout, &r->c.acts.out, &r->target, NULL, 1.0f))
        return -1;
    double t1 = bench_now();
    if (clip_backward(&r->c, k, &r->dout, err))
        return -1;
    double t2 = bench_now();
    if (k_adamw(k, &ps->all_w, &ps->all_g, &r->m, &r->v, ++r->step, LR))
        return -1;
    double t3 = bench_now();
    if (tm) {
        series_add(&tm->ms, (t3 - t0) * 1e3), series_add(&tm->fwd, (t1 - t0) * 1e3);
        series_add(&tm->bwd, (t2 - t1) * 1e3), series_add(&tm->opt, (t3 - t2) * 1e3);
    }
    return 0;
}

/* ---- the peer: a coprocess on two pipes ---- */

typedef struct peer {
    pid_t pid;
    FILE *in, *out; /* we write commands to in, read JSON lines from out */
    char *line;
    size_t cap;
} peer;

static cJSON *peer_read(peer *p)
{
    if (getline(&p->line, &p->cap, p->out) <= 0)
        return NULL;
    return cJSON_Parse(p->line);
}

static void peer_close(peer *p)
{
    if (p->in)
        fputs("quit\n", p->in), fclose(p->in);
    if (p->out)
        fclose(p->out);
    if (p->pid > 0)
        waitpid(p->pid, NULL, 0);
    free(p->line);
    memset(p, 0, sizeof *p);
}

/* Starts python script --serve ...; 0 once it printed {"ready": true}, else -1 (no torch, say). */
static int peer_open(peer *p, const char *python, const char *script, const char *unet_json, const char *clip_json,
                     int B, int threads, int T_clip)
{
    memset(p, 0, sizeof *p);
    int to[2], from[2];
    if (pipe(to) || pipe(from))
        return -1;
    char b[16], th[16], tok[16];
    snprintf(b, sizeof b, "%d", B), snprintf(th, sizeof th, "%d", threads), snprintf(tok, sizeof tok, "%d", T_clip);
    char *argv[] = {(char *)python, (char *)script, "--serve", "--unet", (char *)unet_json, "--clip",
                    (char *)clip_json, "--batch", b, "--threads", th, "--tokens", tok, NULL};
    setenv("OPENBLAS_NUM_THREADS", th, 1); /* the peer's BLAS on as many threads as ours */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    posix_spawn_file_actions_addclose(&fa, to[1]);
    posix_spawn_file_actions_addclose(&fa, from[0]);
    int rc = posix_spawnp(&p->pid, python, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(to[0]), close(from[1]);
    p->in = fdopen(to[1], "w"), p->out = fdopen(from[0], "r");
    if (rc || !p->in || !p->out) {
        fprintf(stderr, "bench_train_step: cannot start %s: %s\n", python, strerror(rc ? rc : errno));
        if (rc)
            p->pid = 0;
        peer_close(p);
        return -1;
    }
    cJSON *ready = peer_read(p);
    bool ok = cJSON_IsTrue(cJSON_GetObjectItem(ready, "ready"));
    if (ok)
        printf("peer: %s %s, torch %s, %d threads, UNet %.0f parameters, CLIP %.0f\n", python, script,
               cJSON_GetStringValue(cJSON_GetObjectItem(ready, "torch")),
               (int)cJSON_GetNumberValue(cJSON_GetObjectItem(ready, "threads")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(ready, "unet_params")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(ready, "clip_params")));
    cJSON_Delete(ready);
    if (!ok)
        peer_close(p);
    return ok ? 0 : -1;
}

static void add_array(series *s, const cJSON *a)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, a) series_add(s, e->valuedouble);
}

/* "what n": n steps on the peer, added to tm (NULL: warm-up). */
static int peer_steps(peer *p, const char *what, int n, timing *tm)
{
    fprintf(p->in, "%s %d\n", what, n);
    fflush(p->in);
    cJSON *r = peer_read(p);
    const cJSON *ms = cJSON_GetObjectItem(r, "ms"), *loss = cJSON_GetObjectItem(r, "loss");
    int rc = cJSON_IsArray(ms) && cJSON_GetArraySize(ms) == n && cJSON_IsNumber(loss) && isfinite(loss->valuedouble)
                 ? 0 : -1;
    if (rc)
        fprintf(stderr, "bench_train_step: peer %s: %s", what, p->line ? p->line : "no answer\n");
    if (!rc && tm) {
        add_array(&tm->ms, ms), add_array(&tm->fwd, cJSON_GetObjectItem(r, "fwd"));
        add_array(&tm->bwd, cJSON_GetObjectItem(r, "bwd")), add_array(&tm->opt, cJSON_GetObjectItem(r, "opt"));
    }
    cJSON_Delete(r);
    return rc;
}

/* ---- one batch size ---- */

/* The peer variants. PyTorch's OpenMP workers spin after each parallel region by default; on a
 * machine with as many cores as threads, that spinning competes with OpenBLAS's own threads (the
 * Debian build sends matmuls to OpenBLAS) and with any neighbour, and the step can slow down
 * tenfold. OMP_WAIT_POLICY=PASSIVE makes them sleep instead: that is torch at its best here, and
 * the variant the ratio is taken against; the default is measured too, as a user would run it. */
typedef struct variant {
    const char *name, *wait_policy; /* OMP_WAIT_POLICY, NULL: unset */
} variant;

static const variant variants[] = {{"torch", "PASSIVE"}, {"torch*", NULL}};
#define N_VARIANTS 2

typedef struct opts {
    int threads, rounds, steps, warmup, vocab, T_clip, n_variants;
    bool peer, clip;
    const char *python, *script;
} opts;

static void print_row(const char *who, timing *t, double flops)
{
    double med, lo, hi;
    series_stats(&t->ms, &med, &lo, &hi);
    printf("  %-6s %9.1f %9.1f %9.1f   %8.1f %8.1f %7.2f", who, med, lo, hi, series_median(&t->fwd),
           series_median(&t->bwd), series_median(&t->opt));
    if (flops > 0)
        printf("   %6.1f GFLOP/s", flops / med / 1e6);
    printf("   (n %d)\n", t->ms.n);
}

static char *clip_config_json(const clip_config *c)
{
    char *s = malloc(512);
    if (s)
        snprintf(s, 512,
                 "{\"vocab_size\": %d, \"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d, "
                 "\"num_attention_heads\": %d, \"max_position_embeddings\": %d, \"layer_norm_eps\": %g, "
                 "\"hidden_act\": \"%s\"}",
                 c->vocab_size, c->hidden_size, c->intermediate_size, c->num_hidden_layers, c->num_attention_heads,
                 c->max_position_embeddings, c->layer_norm_eps, c->hidden_act == K_GELU ? "gelu" : "quick_gelu");
    return s;
}

/* Starts the peer variants that will run (peers[i].pid 0: that one did not start). */
static int peers_open(peer *peers, const opts *o, int B)
{
    tg_error err = {0};
    unet_config uc;
    clip_config cc;
    if (unet_config_builtin(&uc, "tiny", &err) || clip_config_builtin(&cc, "tiny", &err))
        return -1;
    cc.vocab_size = o->vocab;
    cJSON *uj = unet_config_to_json(&uc);
    char *us = uj ? cJSON_PrintUnformatted(uj) : NULL, *cs = clip_config_json(&cc);
    int started = 0;
    for (int v = 0; v < o->n_variants && us && cs; v++) {
        if (variants[v].wait_policy)
            setenv("OMP_WAIT_POLICY", variants[v].wait_policy, 1);
        else
            unsetenv("OMP_WAIT_POLICY");
        if (!peer_open(&peers[v], o->python, o->script, us, cs, B, o->threads, o->T_clip)) {
            printf("  (%s: OMP_WAIT_POLICY %s)\n", variants[v].name,
                   variants[v].wait_policy ? variants[v].wait_policy : "unset, libgomp's default");
            started++;
        }
    }
    unsetenv("OMP_WAIT_POLICY");
    if (!started)
        printf("NOTE: no peer (%s %s did not start); PyTorch figures left out\n", o->python, o->script);
    cJSON_Delete(uj), free(us), free(cs);
    return 0;
}

/* One block of steps for contestant c (0: ours, 1 + v: peer variant v). */
static int block_run(int c, int n, kctx *k, unet_run *ur, clip_run *cr, peer *peers, timing *tu, timing *tc,
                     const opts *o, tg_error *err)
{
    if (c == 0) {
        for (int i = 0; i < n; i++)
            if (unet_step(ur, k, tu ? &tu[0] : NULL, err))
                return -1;
        for (int i = 0; o->clip && i < n; i++)
            if (clip_step(cr, k, tc ? &tc[0] : NULL, err))
                return -1;
        return 0;
    }
    peer *p = &peers[c - 1];
    if (!p->pid || n == 0)
        return 0;
    return peer_steps(p, "unet", n, tu ? &tu[c] : NULL) || (o->clip && peer_steps(p, "clip", n, tc ? &tc[c] : NULL))
               ? -1 : 0;
}

static void print_results(const opts *o, timing *tu, timing *tc, peer *peers, double flops, float uloss, float closs)
{
    printf("step, ms per step (%d rounds x %d steps after %d warm-up)   median       min       max       fwd      "
           "bwd     opt (medians)\n", o->rounds, o->steps, o->warmup);
    printf(" UNet (forward + backward with all weight gradients + AdamW), loss %.4f:\n", uloss);
    print_row("ours", &tu[0], flops);
    for (int v = 0; v < o->n_variants; v++)
        if (peers[v].pid)
            print_row(variants[v].name, &tu[1 + v], flops);
    if (o->clip) {
        printf(" CLIP text encoder (forward + backward + AdamW), loss %.4f:\n", closs);
        print_row("ours", &tc[0], 0);
        for (int v = 0; v < o->n_variants; v++)
            if (peers[v].pid)
                print_row(variants[v].name, &tc[1 + v], 0);
    }
    double mu = series_median(&tu[0].ms), mc = o->clip ? series_median(&tc[0].ms) : 0;
    for (int v = 0; v < o->n_variants; v++) {
        if (!peers[v].pid)
            continue;
        double pu = series_median(&tu[1 + v].ms);
        printf(" ratio ours / %s (median step): UNet %.3f", variants[v].name, mu / pu);
        if (o->clip) {
            double pc = series_median(&tc[1 + v].ms);
            printf(", CLIP %.3f, UNet + CLIP %.3f", mc / pc, (mu + mc) / (pu + pc));
        }
        printf("\n");
    }
}

static int bench_batch(kctx *k, int B, const opts *o)
{
    tg_error err = {0};
    static unet_run ur;
    static clip_run cr;
    static timing tu[1 + N_VARIANTS], tc[1 + N_VARIANTS]; /* ours, then each peer variant */
    memset(tu, 0, sizeof tu), memset(tc, 0, sizeof tc);
    if (unet_run_open(&ur, k, B, &err) || (o->clip && clip_run_open(&cr, k, B, o->T_clip, o->vocab, &err))) {
        fprintf(stderr, "bench_train_step: %s%s\n", err.msg, k->msg);
        return -1;
    }
    double flops = 3 * unet_forward_flops(&ur.u, B, 16, 16, 4);
    printf("\n== batch %d: tiny UNet %zu parameters, x (%d, 4, 16, 16), context (%d, 4, 64); %.2f GFLOP per step "
           "(3 x forward %.2f)\n", B, params_count(&ur.u.ps), B, B, flops / 1e9, flops / 3e9);
    if (o->clip)
        printf("   tiny CLIP text encoder %zu parameters (vocab %d), ids (%d, %d)\n", params_count(&cr.c.ps), o->vocab,
               B, o->T_clip);
    probe_sgemm(k, B);

    peer peers[N_VARIANTS] = {0};
    int rc = -1, n = 1 + (o->peer ? o->n_variants : 0);
    if (o->peer && peers_open(peers, o, B))
        goto done;
    for (int c = 0; c < n; c++)
        if (block_run(c, o->warmup, k, &ur, &cr, peers, NULL, NULL, o, &err))
            goto done;
    /* round r runs the contestants in turn from r mod n: each goes first as often as the others */
    for (int r = 0; r < o->rounds; r++)
        for (int i = 0; i < n; i++)
            if (block_run((r + i) % n, o->steps, k, &ur, &cr, peers, tu, tc, o, &err))
                goto done;
    if (!isfinite(ur.loss) || !isfinite(k_sum_squares(k, &ur.u.ps.all_w)) ||
        (o->clip && (!isfinite(cr.loss) || !isfinite(k_sum_squares(k, &cr.c.ps.all_w))))) {
        fprintf(stderr, "bench_train_step: a loss or a weight is not finite\n");
        goto done;
    }
    print_results(o, tu, tc, peers, flops, ur.loss, cr.loss);
    rc = 0;
done:
    if (rc && (err.msg[0] || k->msg[0]))
        fprintf(stderr, "bench_train_step: %s %s\n", err.msg, k->msg);
    for (int v = 0; v < N_VARIANTS; v++)
        peer_close(&peers[v]);
    unet_run_close(&ur, k);
    if (o->clip)
        clip_run_close(&cr, k);
    return rc;
}

int main(int argc, char **argv)
{
    opts o = {.rounds = 6, .steps = 3, .warmup = 2, .vocab = 1000, .T_clip = 16, .n_variants = N_VARIANTS,
              .peer = true, .clip = true, .python = "/usr/bin/python3", .script = "bench/peer_train_step.py"};
    int batches[8], nb = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool val = i + 1 < argc;
        if (!strcmp(a, "--threads") && val)
            o.threads = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && val && nb < 8)
            batches[nb++] = atoi(argv[++i]);
        else if (!strcmp(a, "--rounds") && val)
            o.rounds = atoi(argv[++i]);
        else if (!strcmp(a, "--steps") && val)
            o.steps = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && val)
            o.warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--vocab") && val)
            o.vocab = atoi(argv[++i]);
        else if (!strcmp(a, "--python") && val)
            o.python = argv[++i];
        else if (!strcmp(a, "--peer") && val)
            o.script = argv[++i];
        else if (!strcmp(a, "--no-peer"))
            o.peer = false;
        else if (!strcmp(a, "--one-peer"))
            o.n_variants = 1;
        else if (!strcmp(a, "--no-clip"))
            o.clip = false;
        else {
            fprintf(stderr, "usage: bench_train_step [--threads N] [--batch B]... [--rounds R] [--steps S] "
                            "[--warmup W] [--vocab V] [--no-peer] [--one-peer] [--no-clip] [--python P] [--peer SCRIPT]\n");
            return 2;
        }
    }
    if (!nb)
        batches[nb++] = 32, batches[nb++] = 8;
    for (int i = 0; i < nb; i++)
        if (batches[i] < 1 || batches[i] > 1024) {
            fprintf(stderr, "bench_train_step: --batch 1..1024\n");
            return 2;
        }
    if (o.rounds < 1 || o.steps < 1 || o.warmup < 0 || o.rounds * o.steps > MAX_SAMPLES || o.vocab < 3) {
        fprintf(stderr, "bench_train_step: --rounds, --steps >= 1 (at most %d steps), --warmup >= 0, --vocab >= 3\n",
                MAX_SAMPLES);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a peer that dies shows up as a failed read, not a killed bench */
    kctx k;
    if (k_init(&k, "cpu", o.threads)) {
        fprintf(stderr, "bench_train_step: %s\n", k.msg);
        return 1;
    }
    o.threads = k.threads;
    print_machine("start");
    printf("bench_train_step: cpu backend, %d threads\n", k.threads);
    int rc = 0;
    for (int i = 0; i < nb && !rc; i++)
        rc = bench_batch(&k, batches[i], &o);
    print_machine("end");
    k_free_ctx(&k);
    return rc ? 1 : 0;
}
