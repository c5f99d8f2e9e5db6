/* Samplers (sampler.h; docs/samplers.md): option checks, the σ/timestep grids, the seeded noise,
 * the guided model call, and the four update rules. Per-element arithmetic is in double, the
 * state between steps in float (what the model reads and writes). */
#include "trainer/sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/rng.h"

#define KARRAS_RHO 7.0

static const struct {
    const char *name;
    sampler_kind kind;
} NAMES[] = {
    {"ddim", SAMPLER_DDIM},         {"euler", SAMPLER_EULER},          {"k_euler", SAMPLER_EULER},
    {"euler_a", SAMPLER_EULER_A},   {"k_euler_a", SAMPLER_EULER_A},    {"dpmsolver++", SAMPLER_DPMPP_2M},
    {"dpmpp_2m", SAMPLER_DPMPP_2M}, {"k_dpmpp_2m", SAMPLER_DPMPP_2M},
};
#define N_NAMES (sizeof NAMES / sizeof *NAMES)
#define NAME_LIST "ddim, euler, k_euler, euler_a, k_euler_a, dpmsolver++, dpmpp_2m, k_dpmpp_2m"

int sampler_from_name(const char *name, sampler_kind *out, tg_error *err)
{
    for (size_t i = 0; name && i < N_NAMES; i++)
        if (strcmp(name, NAMES[i].name) == 0) {
            *out = NAMES[i].kind;
            return 0;
        }
    return error_set(err, "sampler \"%s\" is not available; use one of: " NAME_LIST,
                     name ? name : "(null)");
}

const char *sampler_name(sampler_kind kind)
{
    switch (kind) {
    case SAMPLER_DDIM: return "ddim";
    case SAMPLER_EULER: return "euler";
    case SAMPLER_EULER_A: return "euler_a";
    case SAMPLER_DPMPP_2M: return "dpmpp_2m";
    }
    return "?";
}

/* ---- schedule ---- */

/* A zero-terminal-SNR schedule has ᾱ_{T−1} = 0 (σ = ∞); like diffusers' Euler scheduler with
 * rescale_betas_zero_snr, that step is taken as ᾱ = 2^-24 (σ = 4096). */
#define ZTSNR_ALPHA 0x1p-24

static double log_sigma_at(const double *ac, int i)
{
    double a = ac[i] > 0 ? ac[i] : ZTSNR_ALPHA;
    return 0.5 * log((1.0 - a) / a);
}

double sampler_t_to_sigma(const double *ac, int T, double t)
{
    if (t <= 0)
        return exp(log_sigma_at(ac, 0));
    if (t >= T - 1)
        return exp(log_sigma_at(ac, T - 1));
    int lo = (int)floor(t);
    double w = t - lo;
    if (w == 0)
        return exp(log_sigma_at(ac, lo));
    return exp((1 - w) * log_sigma_at(ac, lo) + w * log_sigma_at(ac, lo + 1));
}

double sampler_sigma_to_t(const double *ac, int T, double sigma)
{
    double ls = log(sigma);
    /* lo = the last i <= T-2 with log σ_i <= ls (0 when there is none); log σ_i increases with i */
    int lo = 0, hi = T - 2;
    if (ls < log_sigma_at(ac, 0))
        return 0;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (log_sigma_at(ac, mid) <= ls)
            lo = mid;
        else
            hi = mid - 1;
    }
    double a = log_sigma_at(ac, lo), b = log_sigma_at(ac, lo + 1);
    double w = (a - ls) / (a - b);
    if (w < 0)
        w = 0;
    if (w > 1)
        w = 1;
    return (1 - w) * lo + w * (lo + 1);
}

static int check_opts(const sampler_opts *o, tg_error *err)
{
    if (!o || !o->alphas_cumprod || o->T < 2)
        return error_set(err, "sampler: no noise schedule (alphas_cumprod with T >= 2 entries)");
    for (int i = 0; i < o->T; i++) {
        double a = o->alphas_cumprod[i];
        if (!(a > 0 && a < 1) && !(a == 0 && i == o->T - 1))
            return error_set(err, "sampler: alphas_cumprod[%d] = %g is not in (0, 1) (only the last "
                             "may be 0, zero terminal SNR)", i, a);
        if (i > 0 && !(a < o->alphas_cumprod[i - 1]))
            return error_set(err, "sampler: alphas_cumprod must decrease (index %d)", i);
    }
    if (o->steps < 1 || o->steps > o->T)
        return error_set(err, "sampler: steps = %d, must be 1..%d", o->steps, o->T);
    if (!isfinite(o->cfg_scale))
        return error_set(err, "sampler: the guidance scale is not a finite number");
    if ((unsigned)o->kind > SAMPLER_DPMPP_2M)
        return error_set(err, "sampler: unknown sampler kind %d", (int)o->kind);
    if (o->karras && o->kind == SAMPLER_DDIM)
        return error_set(err, "sampler: Karras sigmas apply to euler, euler_a and dpmpp_2m, not ddim");
    return 0;
}

int sampler_grid(const sampler_opts *o, double *t, double *sigma, tg_error *err)
{
    if (check_opts(o, err))
        return -1;
    const double *ac = o->alphas_cumprod;
    int T = o->T, N = o->steps;
    for (int i = 0; i < N; i++) {
        double ti, si;
        if (o->kind == SAMPLER_DDIM) {          /* diffusers "leading", steps_offset 0 */
            ti = (double)(N - 1 - i) * (T / N);
            si = sampler_t_to_sigma(ac, T, ti);
        } else if (o->karras) {
            double smin = sampler_t_to_sigma(ac, T, 0), smax = sampler_t_to_sigma(ac, T, T - 1);
            double ramp = N > 1 ? (double)i / (N - 1) : 0.0;
            double a = pow(smax, 1 / KARRAS_RHO), b = pow(smin, 1 / KARRAS_RHO);
            si = pow(a + ramp * (b - a), KARRAS_RHO);
            ti = sampler_sigma_to_t(ac, T, si);
        } else {                                /* k-diffusion get_sigmas: linspace(T-1, 0, N) */
            ti = N > 1 ? (double)(T - 1) * (N - 1 - i) / (N - 1) : (double)(T - 1);
            si = sampler_t_to_sigma(ac, T, ti);
        }
        if (t)
            t[i] = ti;
        if (sigma)
            sigma[i] = si;
    }
    if (sigma)
        sigma[N] = 0;
    return 0;
}

/* ---- noise ---- */

typedef struct normal_stream {
    rng r;
} normal_stream;

/* n standard normals, Box–Muller in pairs (cos, sin); an odd n drops the last sine. */
static void normals(normal_stream *s, float *z, size_t n)
{
    for (size_t i = 0; i < n; i += 2) {
        double u1 = 1.0 - rng_uniform(&s->r);   /* (0, 1]: log stays finite */
        double u2 = rng_uniform(&s->r);
        double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
        z[i] = (float)(rad * cos(th));
        if (i + 1 < n)
            z[i + 1] = (float)(rad * sin(th));
    }
}

void sampler_noise(uint64_t seed, float *z, size_t n)
{
    normal_stream s;
    rng_seed(&s.r, seed);
    normals(&s, z, n);
}

/* ---- the model ---- */

typedef struct run {
    const sampler_opts *o;
    size_t n;
    float *xin, *eps, *unc, *den, *old, *noise;
    tg_error *err;
} run;

/* ε at (x_in in model space, t, σ), guided, converted from v when the model predicts v:
 * with a = sqrt(ᾱ) = 1/sqrt(σ²+1), b = sqrt(1−ᾱ) = σ a: ε = b x_in + a v. */
static int model_eps(run *r, double t, double sigma)
{
    const sampler_opts *o = r->o;
    size_t n = r->n;
    if (o->cfg_scale == 1.0) {
        if (o->eps_fn(o->eps_ctx, r->xin, t, 1, r->eps, r->err))
            return -1;
    } else {
        if (o->eps_fn(o->eps_ctx, r->xin, t, 0, r->unc, r->err) ||
            o->eps_fn(o->eps_ctx, r->xin, t, 1, r->eps, r->err))
            return -1;
        double s = o->cfg_scale;
        for (size_t i = 0; i < n; i++)
            r->eps[i] = (float)(r->unc[i] + s * ((double)r->eps[i] - r->unc[i]));
    }
    if (o->v_prediction) {
        double a = 1.0 / sqrt(sigma * sigma + 1.0), b = sigma * a;
        for (size_t i = 0; i < n; i++)
            r->eps[i] = (float)(b * r->xin[i] + a * r->eps[i]);
    }
    return 0;
}

/* k-diffusion's denoiser D(x, σ) = x − σ ε(x / sqrt(σ²+1), t(σ)) into r->den. */
static int denoise(run *r, const float *x, double t, double sigma)
{
    double cin = 1.0 / sqrt(sigma * sigma + 1.0);
    for (size_t i = 0; i < r->n; i++)
        r->xin[i] = (float)(x[i] * cin);
    if (model_eps(r, t, sigma))
        return -1;
    for (size_t i = 0; i < r->n; i++)
        r->den[i] = (float)(x[i] - sigma * r->eps[i]);
    return 0;
}

/* ---- the update rules; x is the state, ts/sig the grid ---- */

static void step_ddim(run *r, float *x, double sigma, double sigma_next)
{
    double a = 1.0 / sqrt(sigma * sigma + 1.0), b = sigma * a;
    double an = 1.0 / sqrt(sigma_next * sigma_next + 1.0), bn = sigma_next * an;
    for (size_t i = 0; i < r->n; i++) {
        double x0 = (x[i] - b * r->eps[i]) / a;
        if (r->o->clip_sample)
            x0 = x0 < -1 ? -1 : x0 > 1 ? 1 : x0;
        x[i] = (float)(an * x0 + bn * r->eps[i]);
    }
}

static void step_euler(run *r, float *x, double sigma, double sigma_next)
{
    for (size_t i = 0; i < r->n; i++) {
        double d = (x[i] - r->den[i]) / sigma;
        x[i] = (float)(x[i] + d * (sigma_next - sigma));
    }
}

static void step_euler_a(run *r, normal_stream *ns, float *x, double sigma, double sigma_next)
{
    double up = 0, down = 0;
    if (sigma_next > 0) {
        up = sqrt(sigma_next * sigma_next * (sigma * sigma - sigma_next * sigma_next) / (sigma * sigma));
        if (up > sigma_next)
            up = sigma_next;
        down = sqrt(sigma_next * sigma_next - up * up);
    }
    step_euler(r, x, sigma, down);
    if (sigma_next > 0) {
        normals(ns, r->noise, r->n);
        for (size_t i = 0; i < r->n; i++)
            x[i] = (float)(x[i] + r->noise[i] * up);
    }
}

/* h = λ_next − λ with λ = −log σ; second order from the previous denoised (multistep). */
static void step_dpmpp_2m(run *r, float *x, double sigma_prev, double sigma, double sigma_next,
                          bool first)
{
    size_t n = r->n;
    if (sigma_next == 0) {
        memcpy(x, r->den, n * sizeof *x);
    } else {
        double h = log(sigma) - log(sigma_next);
        double ratio = sigma_next / sigma, c = -expm1(-h);
        double w_new = 1, w_old = 0;
        if (!first) {
            double rr = (log(sigma_prev) - log(sigma)) / h;
            w_new = 1 + 1 / (2 * rr);
            w_old = -1 / (2 * rr);
        }
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(ratio * x[i] + c * (w_new * r->den[i] + w_old * r->old[i]));
    }
    memcpy(r->old, r->den, n * sizeof *x);
}

int sampler_run(const sampler_opts *o, float *x, size_t n, tg_error *err)
{
    if (check_opts(o, err))
        return -1;
    if (!o->eps_fn)
        return error_set(err, "sampler: no model callback");
    if (n == 0)
        return error_set(err, "sampler: empty latent");
    int N = o->steps;
    double *ts = malloc((size_t)N * sizeof *ts), *sig = malloc((size_t)(N + 1) * sizeof *sig);
    float *buf = malloc(6 * n * sizeof *buf);
    if (!ts || !sig || !buf) {
        free(ts), free(sig), free(buf);
        return error_set(err, "sampler: out of memory for %zu floats", 6 * n);
    }
    sampler_grid(o, ts, sig, NULL);
    run r = {.o = o, .n = n, .xin = buf, .eps = buf + n, .unc = buf + 2 * n, .den = buf + 3 * n,
             .old = buf + 4 * n, .noise = buf + 5 * n, .err = err};
    normal_stream ns;
    rng_seed(&ns.r, o->seed);
    normals(&ns, x, n);
    int rc = 0;
    if (o->kind != SAMPLER_DDIM)        /* k-diffusion: x = σ_max z; DDIM: x_t = z */
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(x[i] * sig[0]);
    for (int i = 0; i < N && rc == 0; i++) {
        if (o->kind == SAMPLER_DDIM) {
            memcpy(r.xin, x, n * sizeof *x);
            rc = model_eps(&r, ts[i], sig[i]);
            if (rc == 0)
                step_ddim(&r, x, sig[i], sig[i + 1]);
        } else {
            rc = denoise(&r, x, ts[i], sig[i]);
            if (rc)
                break;
            if (o->kind == SAMPLER_EULER)
                step_euler(&r, x, sig[i], sig[i + 1]);
            else if (o->kind == SAMPLER_EULER_A)
                step_euler_a(&r, &ns, x, sig[i], sig[i + 1]);
            else
                step_dpmpp_2m(&r, x, i > 0 ? sig[i - 1] : 0, sig[i], sig[i + 1], i == 0);
        }
        if (rc == 0 && o->progress && o->progress(o->progress_ctx, i + 1, N))
            rc = error_set(err, "sampler: stopped at step %d of %d", i + 1, N);
    }
    free(ts), free(sig), free(buf);
    return rc;
}
