/* Samplers against models whose exact answer is known: data x0 ~ N(μ, s²) per element (s = 0: a
 * single point) has the optimal denoiser D(x_k, σ) = μ + s²/(s²+σ²) (x_k − μ) in k-diffusion's
 * space x_k = x_t / sqrt(ᾱ), so the ideal ε- and v-models are closed-form, and the probability-flow
 * ODE maps a start x_k(σ0) to μ + (x_k(σ0) − μ) s / sqrt(s² + σ0²) at σ = 0. The schedule is SD's
 * (scaled_linear 0.00085..0.012, 1000 steps), built here. */
#include "trainer/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

#define T_SD 1000
static double AC[T_SD];

static void make_sd_schedule(void)
{
    double a = sqrt(0.00085), b = sqrt(0.012), prod = 1;
    for (int i = 0; i < T_SD; i++) {
        double beta = a + (b - a) * i / (T_SD - 1);
        prod *= 1 - beta * beta;
        AC[i] = prod;
    }
}

static size_t g_n;  /* the latent size of the current test (the model callback gets no n) */

typedef struct gauss_model {
    double mu, s;       /* data N(mu, s^2) per element; s = 0: the point mu */
    int v;              /* return v instead of eps */
    double cond_offset; /* added to the cond branch's output (CFG tests) */
    int calls, calls_cond, fail_at;
    double last_t;
    const double *ac;   /* the schedule the model was trained on; NULL: SD's */
} gauss_model;

static int gauss_eps(void *ctx, const float *x, double t, int cond, float *out, tg_error *err)
{
    gauss_model *m = ctx;
    m->calls++;
    m->calls_cond += cond;
    m->last_t = t;
    if (m->fail_at && m->calls == m->fail_at)
        return error_set(err, "model: out of coffee");
    double sigma = sampler_t_to_sigma(m->ac ? m->ac : AC, T_SD, t);
    double a = 1 / sqrt(sigma * sigma + 1), b = sigma * a;
    for (size_t i = 0; i < g_n; i++) {
        double xk = x[i] / a;
        double d = m->mu + m->s * m->s / (m->s * m->s + sigma * sigma) * (xk - m->mu);
        double eps = (xk - d) / sigma;
        double o = m->v ? a * eps - b * d : eps;
        out[i] = (float)(o + (cond ? m->cond_offset : 0));
    }
    return 0;
}

static sampler_opts opts_for(sampler_kind kind, int steps, gauss_model *m)
{
    return (sampler_opts){.kind = kind, .steps = steps, .cfg_scale = 1.0, .seed = 42,
                          .v_prediction = m->v, .alphas_cumprod = AC, .T = T_SD,
                          .eps_fn = gauss_eps, .eps_ctx = m};
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* The exact ODE answer for this seed: start x_k(σ0) as sampler_run makes it. */
static void exact_ode(const sampler_opts *o, const gauss_model *m, float *out, size_t n)
{
    double sig[T_SD + 1];
    sampler_grid(o, NULL, sig, NULL);
    sampler_noise(o->seed, out, n);
    double s0 = sig[0];
    double scale = o->kind == SAMPLER_DDIM ? sqrt(s0 * s0 + 1) : s0;
    for (size_t i = 0; i < n; i++) {
        double xk = out[i] * scale;
        out[i] = (float)(m->mu + (xk - m->mu) * m->s / sqrt(m->s * m->s + s0 * s0));
    }
}

static const sampler_kind KINDS[] = {SAMPLER_DDIM, SAMPLER_EULER, SAMPLER_EULER_A, SAMPLER_DPMPP_2M};

static void test_names(void)
{
    sampler_kind k;
    tg_error err = {{0}};
    CHECK(sampler_from_name("ddim", &k, &err) == 0 && k == SAMPLER_DDIM);
    CHECK(sampler_from_name("k_euler", &k, &err) == 0 && k == SAMPLER_EULER);
    CHECK(sampler_from_name("euler_a", &k, &err) == 0 && k == SAMPLER_EULER_A);
    CHECK(sampler_from_name("k_euler_a", &k, &err) == 0 && k == SAMPLER_EULER_A);
    CHECK(sampler_from_name("dpmsolver++", &k, &err) == 0 && k == SAMPLER_DPMPP_2M);
    CHECK(sampler_from_name("dpmpp_2m", &k, &err) == 0 && k == SAMPLER_DPMPP_2M);
    CHECK(sampler_from_name("k_lms", &k, &err) == -1);
    CHECK(strstr(err.msg, "\"k_lms\"") && strstr(err.msg, "euler_a") && strstr(err.msg, "dpmsolver++"));
    CHECK(sampler_from_name("DDIM", &k, &err) == -1);  /* kohya compares exactly */
    CHECK(sampler_from_name("dpmsolver", &k, &err) == -1);
    for (int i = 0; i < 4; i++) {
        CHECK(sampler_from_name(sampler_name(KINDS[i]), &k, &err) == 0);
        CHECK(k == KINDS[i]);
    }
}

static void test_schedule_and_grids(void)
{
    CHECK_NEAR(sampler_t_to_sigma(AC, T_SD, 999), 14.6146, 1e-3);
    CHECK_NEAR(sampler_t_to_sigma(AC, T_SD, 0), 0.029168, 1e-5);
    double mid = sampler_t_to_sigma(AC, T_SD, 499.5);
    CHECK_NEAR(log(mid), 0.5 * (log(sampler_t_to_sigma(AC, T_SD, 499)) +
                                log(sampler_t_to_sigma(AC, T_SD, 500))), 1e-12);
    for (double t = 0; t <= 999; t += 37.25)
        CHECK_NEAR(sampler_sigma_to_t(AC, T_SD, sampler_t_to_sigma(AC, T_SD, t)), t, 1e-9);
    CHECK_NEAR(sampler_sigma_to_t(AC, T_SD, 1e-4), 0, 0);
    CHECK_NEAR(sampler_sigma_to_t(AC, T_SD, 100), 999, 0);

    gauss_model m = {0};
    double t[60], s[61];
    sampler_opts o = opts_for(SAMPLER_DDIM, 50, &m);  /* leading: 980, 960, ..., 0 */
    CHECK(sampler_grid(&o, t, s, NULL) == 0);
    CHECK_NEAR(t[0], 980, 0);
    CHECK_NEAR(t[1], 960, 0);
    CHECK_NEAR(t[49], 0, 0);
    CHECK_NEAR(s[50], 0, 0);
    o.steps = 3;
    sampler_grid(&o, t, s, NULL);
    CHECK(t[0] == 666 && t[1] == 333 && t[2] == 0);
    o.steps = 1;
    sampler_grid(&o, t, s, NULL);
    CHECK(t[0] == 0 && s[1] == 0);

    o = opts_for(SAMPLER_EULER, 3, &m);      /* linspace(999, 0, N) */
    sampler_grid(&o, t, s, NULL);
    CHECK(t[0] == 999 && t[1] == 499.5 && t[2] == 0 && s[3] == 0);
    CHECK_NEAR(s[1], mid, 0);
    o.steps = 1;
    sampler_grid(&o, t, s, NULL);
    CHECK(t[0] == 999 && s[1] == 0);
    o.steps = 2;
    sampler_grid(&o, t, s, NULL);
    CHECK(t[0] == 999 && t[1] == 0);

    o = opts_for(SAMPLER_DPMPP_2M, 10, &m);
    o.karras = 1;
    sampler_grid(&o, t, s, NULL);
    CHECK_NEAR(s[0], sampler_t_to_sigma(AC, T_SD, 999), 1e-9);
    CHECK_NEAR(s[9], sampler_t_to_sigma(AC, T_SD, 0), 1e-9);
    CHECK_NEAR(t[0], 999, 1e-6);
    CHECK_NEAR(t[9], 0, 1e-6);
    CHECK(s[4] < sampler_t_to_sigma(AC, T_SD, t[4]) + 1e-9 && s[4] > sampler_t_to_sigma(AC, T_SD, t[4]) - 1e-9);
    CHECK(s[1] < s[0] && s[9] > 0 && s[10] == 0);
}

/* A point mass: D(x, σ) = x0* whatever x is, so every sampler, any step count, ends on x0*. */
static void test_point_mass_any_steps(void)
{
    enum { N = 257 };  /* odd: the last Box–Muller pair is half used */
    float x[N];
    g_n = N;
    const int steps[] = {1, 2, 3, 7, 30};
    for (int v = 0; v < 2; v++)
        for (int karras = 0; karras < 2; karras++)
            for (int k = 0; k < 4; k++)
                for (int si = 0; si < 5; si++) {
                    if (karras && KINDS[k] == SAMPLER_DDIM)
                        continue;
                    gauss_model m = {.mu = -0.75, .s = 0, .v = v};
                    sampler_opts o = opts_for(KINDS[k], steps[si], &m);
                    o.karras = karras;
                    tg_error err = {{0}};
                    CHECK(sampler_run(&o, x, N, &err) == 0);
                    double e = 0;
                    for (int i = 0; i < N; i++)
                        e = fmax(e, fabs(x[i] + 0.75));
                    if (e > 1e-4)
                        fprintf(stderr, "  %s steps %d v %d karras %d: error %g\n",
                                sampler_name(KINDS[k]), steps[si], v, karras, e);
                    CHECK(e <= 1e-4);
                    CHECK_INT(m.calls, steps[si]);
                }
}

/* A Gaussian: the deterministic samplers approach the exact ODE answer as steps grow, DPM++ 2M
 * (second order) faster than Euler and DDIM (first order). */
static void test_gaussian_converges_to_ode(void)
{
    enum { N = 512 };
    static float x[N], ref[N];
    g_n = N;
    const sampler_kind det[] = {SAMPLER_DDIM, SAMPLER_EULER, SAMPLER_DPMPP_2M};
    const int steps[] = {10, 20, 50, 200};
    double e[3][4];
    for (int k = 0; k < 3; k++)
        for (int si = 0; si < 4; si++) {
            gauss_model m = {.mu = 0.4, .s = 0.7};
            sampler_opts o = opts_for(det[k], steps[si], &m);
            CHECK(sampler_run(&o, x, N, NULL) == 0);
            exact_ode(&o, &m, ref, N);
            e[k][si] = max_abs_diff(x, ref, N);
        }
    for (int k = 0; k < 3; k++)
        for (int si = 1; si < 4; si++)
            CHECK(e[k][si] < e[k][si - 1]);
    /* first order: error ~ 1/steps; second order: ~ 1/steps² once the grid is fine enough */
    CHECK(e[0][3] < e[0][0] / 10 && e[0][3] < 0.03);  /* ddim */
    CHECK(e[1][3] < e[1][0] / 10 && e[1][3] < 0.03);  /* euler */
    CHECK(e[2][3] < e[2][2] / 8 && e[2][3] < 0.01);   /* dpmpp_2m */
    CHECK(e[2][2] < e[1][2] && e[2][3] < e[1][3] / 4);
    if (check_current_failed)
        for (int k = 0; k < 3; k++)
            fprintf(stderr, "  %s errors %g %g %g %g\n", sampler_name(det[k]), e[k][0], e[k][1],
                    e[k][2], e[k][3]);
}

/* Euler ancestral draws from N(μ, s²): mean and variance over many seeds approach μ and s² as
 * steps grow. It is a first-order SDE solver, so with few steps it loses variance (10 steps: about
 * 0.19 of 0.36 on SD's grid, whose log σ moves by 0.35 between t = 0 and 1 alone); the start
 * x = σ_max z (not x0 + σ_max z) costs a factor σ_max²/(σ_max² + s²) = 0.998 more. */
static void test_euler_a_gaussian_moments(void)
{
    enum { N = 4096, SEEDS = 8 };
    static float x[N];
    g_n = N;
    const int steps[] = {10, 100, 1000};
    double var_gap[3];
    for (int si = 0; si < 3; si++) {
        double sum = 0, sum2 = 0;
        for (int seed = 0; seed < SEEDS; seed++) {
            gauss_model m = {.mu = 0.5, .s = 0.6};
            sampler_opts o = opts_for(SAMPLER_EULER_A, steps[si], &m);
            o.seed = 1000 + seed;
            CHECK(sampler_run(&o, x, N, NULL) == 0);
            for (int i = 0; i < N; i++)
                sum += x[i], sum2 += (double)x[i] * x[i];
        }
        double cnt = (double)N * SEEDS, mean = sum / cnt, var = sum2 / cnt - mean * mean;
        CHECK_NEAR(mean, 0.5, 0.015);
        var_gap[si] = 0.36 - var;
        if (check_current_failed)
            fprintf(stderr, "  euler_a %d steps: mean %g var %g\n", steps[si], mean, var);
    }
    CHECK(var_gap[0] > var_gap[1] && var_gap[1] > var_gap[2]);
    CHECK(fabs(var_gap[2]) < 0.02);
}

/* CFG: cond = uncond + c, so guidance gives ε_u + s c: the same as a one-branch model that adds s c;
 * s = 1 makes one (cond) call a step, s != 1 two. */
static void test_cfg(void)
{
    enum { N = 64 };
    float a[N], b[N];
    g_n = N;
    for (int k = 0; k < 4; k++) {
        gauss_model m = {.mu = 0.2, .s = 0.5, .cond_offset = 0.1};
        sampler_opts o = opts_for(KINDS[k], 7, &m);
        o.cfg_scale = 7.5;
        CHECK(sampler_run(&o, a, N, NULL) == 0);
        CHECK_INT(m.calls, 14);
        CHECK_INT(m.calls_cond, 7);

        gauss_model m1 = {.mu = 0.2, .s = 0.5, .cond_offset = 0.75};
        o = opts_for(KINDS[k], 7, &m1);
        CHECK(sampler_run(&o, b, N, NULL) == 0);
        CHECK_INT(m1.calls, 7);
        CHECK_INT(m1.calls_cond, 7);
        CHECK(max_abs_diff(a, b, N) < 1e-4);

        gauss_model m0 = {.mu = 0.2, .s = 0.5, .cond_offset = 0.1};  /* s = 0: uncond only */
        o = opts_for(KINDS[k], 7, &m0);
        o.cfg_scale = 0;
        CHECK(sampler_run(&o, a, N, NULL) == 0);
        gauss_model mu = {.mu = 0.2, .s = 0.5};
        o = opts_for(KINDS[k], 7, &mu);
        CHECK(sampler_run(&o, b, N, NULL) == 0);
        CHECK(max_abs_diff(a, b, N) < 1e-5);
    }
}

static void test_seed_determinism(void)
{
    enum { N = 300 };
    float a[N], b[N];
    g_n = N;
    for (int k = 0; k < 4; k++) {
        gauss_model m = {.mu = 0.1, .s = 0.8};
        sampler_opts o = opts_for(KINDS[k], 9, &m);
        o.seed = 7;
        CHECK(sampler_run(&o, a, N, NULL) == 0);
        CHECK(sampler_run(&o, b, N, NULL) == 0);
        CHECK(memcmp(a, b, sizeof a) == 0);
        o.seed = 8;
        CHECK(sampler_run(&o, b, N, NULL) == 0);
        CHECK(max_abs_diff(a, b, N) > 0.1);
    }
    float z[N], z2[N];
    sampler_noise(5, z, N);
    sampler_noise(5, z2, N);
    CHECK(memcmp(z, z2, sizeof z) == 0);
    double s = 0, s2 = 0;
    enum { M = 100000 };
    float *big = malloc(M * sizeof *big);
    sampler_noise(123, big, M);
    for (int i = 0; i < M; i++)
        s += big[i], s2 += (double)big[i] * big[i];
    CHECK_NEAR(s / M, 0, 0.02);
    CHECK_NEAR(s2 / M, 1, 0.02);
    free(big);
}

/* The ideal v-model gives what the ideal ε-model gives, for every sampler. */
static void test_v_prediction_matches_eps(void)
{
    enum { N = 128 };
    float a[N], b[N];
    g_n = N;
    for (int k = 0; k < 4; k++)
        for (int steps = 1; steps <= 21; steps += 10) {
            gauss_model me = {.mu = -0.3, .s = 0.9}, mv = {.mu = -0.3, .s = 0.9, .v = 1};
            sampler_opts o = opts_for(KINDS[k], steps, &me);
            CHECK(sampler_run(&o, a, N, NULL) == 0);
            o = opts_for(KINDS[k], steps, &mv);
            CHECK(sampler_run(&o, b, N, NULL) == 0);
            CHECK(max_abs_diff(a, b, N) < 1e-4);
        }
}

/* kohya's DDIM (clip_sample forced on) clamps the predicted x0 to [-1, 1]. */
static void test_ddim_clip_sample(void)
{
    enum { N = 16 };
    float x[N];
    g_n = N;
    gauss_model m = {.mu = 3.0, .s = 0};
    sampler_opts o = opts_for(SAMPLER_DDIM, 10, &m);
    o.clip_sample = 1;
    CHECK(sampler_run(&o, x, N, NULL) == 0);
    for (int i = 0; i < N; i++)
        CHECK_NEAR(x[i], 1.0, 1e-5);
    o.clip_sample = 0;
    CHECK(sampler_run(&o, x, N, NULL) == 0);
    CHECK_NEAR(x[0], 3.0, 1e-4);
}

/* Zero terminal SNR (ᾱ_999 = 0, kohya's fix for v-prediction): the last step counts as σ = 4096;
 * every sampler still lands on a point mass with the v-model. */
static void test_zero_terminal_snr(void)
{
    enum { N = 64 };
    float x[N];
    g_n = N;
    static double z[T_SD];
    double s0 = sqrt(AC[0]), sl = sqrt(AC[T_SD - 1]);
    for (int i = 0; i < T_SD; i++) {
        double s = (sqrt(AC[i]) - sl) * s0 / (s0 - sl);
        z[i] = s * s;
    }
    CHECK(z[T_SD - 1] == 0);
    CHECK_NEAR(sampler_t_to_sigma(z, T_SD, 999), 4096, 1e-3);
    for (int k = 0; k < 4; k++) {
        gauss_model m = {.mu = 0.6, .s = 0, .v = 1, .ac = z};
        sampler_opts o = opts_for(KINDS[k], k == 0 ? 1000 : 20, &m);
        o.alphas_cumprod = z;
        tg_error err = {{0}};
        CHECK(sampler_run(&o, x, N, &err) == 0);
        for (int i = 0; i < N; i++)
            CHECK_NEAR(x[i], 0.6, 1e-3);
    }
}

static int stop_at, progress_calls, progress_last;
static int progress(void *ctx, int step, int steps)
{
    (void)ctx;
    progress_calls++;
    progress_last = step;
    CHECK_INT(steps, 6);
    return step == stop_at;
}

static void test_progress_and_errors(void)
{
    enum { N = 8 };
    float x[N];
    g_n = N;
    gauss_model m = {.mu = 0, .s = 1};
    sampler_opts o = opts_for(SAMPLER_EULER_A, 6, &m);
    o.progress = progress;
    stop_at = 0, progress_calls = 0;
    CHECK(sampler_run(&o, x, N, NULL) == 0);
    CHECK_INT(progress_calls, 6);
    CHECK_INT(progress_last, 6);
    stop_at = 3, progress_calls = 0;
    tg_error err = {{0}};
    CHECK(sampler_run(&o, x, N, &err) == -1);
    CHECK_INT(progress_calls, 3);
    CHECK_STR(err.msg, "sampler: stopped at step 3 of 6");

    o = opts_for(SAMPLER_DPMPP_2M, 6, &m);
    m.calls = 0, m.fail_at = 4;
    CHECK(sampler_run(&o, x, N, &err) == -1);
    CHECK_STR(err.msg, "model: out of coffee");
    m.fail_at = 0;

    o.steps = 0;
    CHECK(sampler_run(&o, x, N, &err) == -1 && strstr(err.msg, "steps = 0"));
    o.steps = 1001;
    CHECK(sampler_run(&o, x, N, &err) == -1 && strstr(err.msg, "1..1000"));
    o.steps = 1000;
    CHECK(sampler_run(&o, x, N, &err) == 0);
    o = opts_for(SAMPLER_DDIM, 10, &m);
    o.karras = 1;
    CHECK(sampler_run(&o, x, N, &err) == -1 && strstr(err.msg, "Karras"));
    o = opts_for(SAMPLER_EULER, 10, &m);
    double bad[4] = {0.99, 0.5, 0.0, 0.0};
    o.alphas_cumprod = bad, o.T = 4, o.steps = 2;
    CHECK(sampler_run(&o, x, N, &err) == -1 && strstr(err.msg, "alphas_cumprod[2]"));
    o.alphas_cumprod = NULL;
    CHECK(sampler_run(&o, x, N, &err) == -1 && strstr(err.msg, "schedule"));
}

int main(void)
{
    make_sd_schedule();
    RUN(test_names);
    RUN(test_schedule_and_grids);
    RUN(test_point_mass_any_steps);
    RUN(test_gaussian_converges_to_ode);
    RUN(test_euler_a_gaussian_moments);
    RUN(test_cfg);
    RUN(test_seed_determinism);
    RUN(test_v_prediction_matches_eps);
    RUN(test_ddim_clip_sample);
    RUN(test_zero_terminal_snr);
    RUN(test_progress_and_errors);
    return check_finish();
}
