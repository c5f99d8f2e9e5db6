/* bench_vae: the sd15 VAE on the CPU at batch 1 -- encode a 512x512 image (latent caching) and
 * decode a 64x64 latent (showing a sample): time and peak resident memory. Figures only: it never
 * fails on time, and exits non-zero only on an API error or a non-finite output.
 *
 *   build/release/bench/bench_vae [--threads N] [--reps N] [--size PIXELS]
 *
 * Each of encode and decode runs in its own child process, so that its peak RSS (getrusage of the
 * child) counts the weights (335 MB in fp32), its activations and the kernels' scratch, and nothing
 * of the other. Weights are random (uniform, PyTorch's fan-in ranges): the cost does not depend on
 * them. One warm-up call (which also allocates the activations), then --reps timed calls (default
 * 3); median and best. GFLOP/s use reference/engines.md §5's counts at 512x512: encode 1,117 GFLOP,
 * decode 2,515 GFLOP (scaled by the pixel count at another --size). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "trainer/vae.h"

static uint64_t rng = 88172645463325252ULL;

static float uniform(float lo, float hi)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 11) * (1.0 / 9007199254740992.0));
}

/* One parameter at a time, so that no host copy of all the weights inflates the peak RSS. */
static void weights_random(vae *m, kctx *k)
{
    for (size_t i = 0; i < m->ps.n; i++) {
        param *p = &m->ps.p[i];
        size_t n = tensor_numel(&p->w), fan = p->ndim == 4 ? (size_t)(p->shape[1] * p->shape[2] * p->shape[3]) : 0;
        bool norm_w = strstr(p->name, "norm") && strstr(p->name, ".weight");
        float r = fan ? 1.0f / sqrtf((float)fan) : 0.1f, *h = malloc(sizeof *h * n);
        for (size_t j = 0; j < n; j++)
            h[j] = norm_w ? uniform(0.8f, 1.2f) : uniform(-r, r);
        k_upload(k, &p->w, h);
        free(h);
    }
}

static bool finite_all(kctx *k, const tensor *t)
{
    size_t n = tensor_numel(t);
    float *h = malloc(sizeof *h * n);
    k_download(k, t, h);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = isfinite(h[i]);
    free(h);
    return ok;
}

/* The child: build, one warm-up, reps timed calls; prints one line. */
static int run_one(bool decode, int threads, int reps, int size)
{
    kctx k;
    tg_error err = {{0}};
    vae_config c;
    vae m;
    if (k_init(&k, "cpu", threads) < 0 || vae_config_builtin(&c, "sd15", &err) || vae_build(&m, &k, &c, &err)) {
        fprintf(stderr, "bench_vae: %s%s\n", err.msg, k.msg);
        return 1;
    }
    weights_random(&m, &k);
    int64_t lat = size / 8;
    tensor img = k_tensor4(&k, 1, 3, size, size), z = k_tensor4(&k, 1, decode ? 4 : 8, lat, lat);
    tensor *in = decode ? &z : &img, *out = decode ? &img : &z;
    float *h = malloc(sizeof *h * tensor_numel(in));
    for (size_t i = 0; i < tensor_numel(in); i++)
        h[i] = uniform(-1, 1);
    k_upload(&k, in, h);
    free(h);
    double t[64];
    reps = reps > 64 ? 64 : reps;
    for (int r = -1; r < reps; r++) {
        double t0 = bench_now();
        int rc = decode ? vae_decode(&m, &k, out, in, &err) : vae_encode(&m, &k, out, in, &err);
        if (rc) {
            fprintf(stderr, "bench_vae: %s\n", err.msg);
            return 1;
        }
        if (r >= 0)
            t[r] = bench_now() - t0;
    }
    if (!finite_all(&k, out)) {
        fprintf(stderr, "bench_vae: %s produced a non-finite value\n", decode ? "decode" : "encode");
        return 1;
    }
    qsort(t, reps, sizeof *t, bench_cmp_double);
    double gflop = (decode ? 2515.0 : 1117.0) * (double)size * size / (512.0 * 512.0);
    printf("%-7s %4dx%-4d -> %4lldx%-4lld  median %7.2f s  best %7.2f s  %6.1f GFLOP/s  activations %5zu MiB",
           decode ? "decode" : "encode", decode ? (int)lat : size, decode ? (int)lat : size,
           (long long)(decode ? size : lat), (long long)(decode ? size : lat), t[reps / 2], t[0],
           gflop / t[0], vae_acts_bytes(&m) >> 20);
    fflush(stdout);
    vae_free(&m, &k);
    k_tensor_free(&k, &img);
    k_tensor_free(&k, &z);
    k_free_ctx(&k);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 0, reps = 3, size = 512;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_vae [--threads N] [--reps N] [--size PIXELS (a multiple of 8)]\n");
            return 2;
        }
    }
    if (reps < 1 || size < 8 || size % 8) {
        fprintf(stderr, "bench_vae: --reps >= 1, --size a multiple of 8\n");
        return 2;
    }
    char nthreads[16] = "all";
    if (threads > 0)
        snprintf(nthreads, sizeof nthreads, "%d", threads);
    printf("sd15 VAE, batch 1, fp32 CPU, %s threads, %d reps (+1 warm-up)\n", nthreads, reps);
    for (int pass = 0; pass < 2; pass++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0)
            _exit(run_one(pass == 1, threads, reps, size));
        int status;
        struct rusage ru;
        if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
            return 1;
        printf("  peak RSS %6.0f MiB\n", ru.ru_maxrss / 1024.0);
    }
    return 0;
}
