/* DDPM schedules, timesteps, noise offset, targets and min-SNR weights (noise_schedule.h). The
 * formulas and their sources are in docs/schedules.md. */
#include "trainer/noise_schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COSINE_S 0.008
#define COSINE_MAX_BETA 0.999

void noise_schedule_opts_default(noise_schedule_opts *o)
{
    *o = (noise_schedule_opts){
        .kind = BETA_SCALED_LINEAR,
        .num_train_timesteps = 1000,
        .beta_start = 0.00085,
        .beta_end = 0.012,
        .zero_terminal_snr = false,
    };
}

static const struct {
    const char *name;
    beta_schedule kind;
} beta_names[] = {
    {"scaled_linear", BETA_SCALED_LINEAR},
    {"linear", BETA_LINEAR},
    {"cosine", BETA_COSINE},
    {"squaredcos_cap_v2", BETA_COSINE},
};

int beta_schedule_parse(const char *name, beta_schedule *out, tg_error *err)
{
    for (size_t i = 0; name && i < sizeof beta_names / sizeof beta_names[0]; i++) {
        if (strcmp(name, beta_names[i].name) == 0) {
            *out = beta_names[i].kind;
            return 0;
        }
    }
    return error_set(err, "beta_schedule: unknown schedule \"%s\"; valid: scaled_linear, linear, "
                     "cosine", name ? name : "(null)");
}

const char *beta_schedule_name(beta_schedule kind)
{
    switch (kind) {
    case BETA_SCALED_LINEAR: return "scaled_linear";
    case BETA_LINEAR: return "linear";
    case BETA_COSINE: return "cosine";
    }
    return "?";
}

/* Improved DDPM's ᾱ(τ) for τ in [0, 1]; the betas are its successive ratios. */
static double cosine_alpha_bar(double tau)
{
    double c = cos((tau + COSINE_S) / (1.0 + COSINE_S) * M_PI / 2.0);
    return c * c;
}

static void fill_betas(double *betas, const noise_schedule_opts *o)
{
    int T = o->num_train_timesteps;
    for (int i = 0; i < T; i++) {
        double f = (double)i / (double)(T - 1);
        switch (o->kind) {
        case BETA_SCALED_LINEAR: {
            double r0 = sqrt(o->beta_start), r1 = sqrt(o->beta_end);
            double r = r0 + (r1 - r0) * f;
            betas[i] = r * r;
            break;
        }
        case BETA_LINEAR:
            betas[i] = o->beta_start + (o->beta_end - o->beta_start) * f;
            break;
        case BETA_COSINE: {
            double b = 1.0 - cosine_alpha_bar((double)(i + 1) / T) / cosine_alpha_bar((double)i / T);
            betas[i] = b < COSINE_MAX_BETA ? b : COSINE_MAX_BETA;
            break;
        }
        }
    }
}

static void cumprod(const double *betas, double *ac, int T)
{
    double p = 1.0;
    for (int i = 0; i < T; i++) {
        p *= 1.0 - betas[i];
        ac[i] = p;
    }
}

/* kohya's fix_noise_scheduler_betas_for_zero_terminal_snr: shift sqrt(ᾱ) so the last is 0, scale
 * so the first is unchanged, then rebuild the betas from the ratios (the last beta becomes 1) and
 * the cumulative product from those, as kohya does. */
static void rescale_zero_terminal_snr(double *betas, double *ac, int T)
{
    double r0 = sqrt(ac[0]), rT = sqrt(ac[T - 1]);
    double scale = r0 / (r0 - rT);
    double prev = 0.0;
    for (int i = 0; i < T; i++) {
        double r = (sqrt(ac[i]) - rT) * scale;
        double a = r * r;
        betas[i] = 1.0 - (i == 0 ? a : a / prev);
        prev = a;
    }
    cumprod(betas, ac, T);
}

int noise_schedule_init(noise_schedule *s, const noise_schedule_opts *o, tg_error *err)
{
    memset(s, 0, sizeof *s);
    int T = o->num_train_timesteps;
    if (T < 2 || T > 1000000)
        return error_set(err, "num_train_timesteps: must be an integer in [2, 1000000], got %d", T);
    if (o->kind != BETA_COSINE) {
        if (!(o->beta_start > 0 && o->beta_start < 1))
            return error_set(err, "beta_start: must be in (0, 1), got %g", o->beta_start);
        if (!(o->beta_end > 0 && o->beta_end < 1))
            return error_set(err, "beta_end: must be in (0, 1), got %g", o->beta_end);
    }
    double *mem = malloc(sizeof(double) * 5 * (size_t)T);
    if (!mem)
        return error_set(err, "out of memory");
    s->T = T;
    s->betas = mem;
    s->alphas_cumprod = mem + T;
    s->sqrt_alphas_cumprod = mem + 2 * (size_t)T;
    s->sqrt_one_minus_alphas_cumprod = mem + 3 * (size_t)T;
    s->snr = mem + 4 * (size_t)T;

    fill_betas(s->betas, o);
    cumprod(s->betas, s->alphas_cumprod, T);
    if (o->zero_terminal_snr)
        rescale_zero_terminal_snr(s->betas, s->alphas_cumprod, T);
    for (int i = 0; i < T; i++) {
        double a = s->alphas_cumprod[i];
        s->sqrt_alphas_cumprod[i] = sqrt(a);
        s->sqrt_one_minus_alphas_cumprod[i] = sqrt(1.0 - a);
        s->snr[i] = a / (1.0 - a);
    }
    return 0;
}

void noise_schedule_free(noise_schedule *s)
{
    free(s->betas);
    memset(s, 0, sizeof *s);
}

/* ---- timesteps ---- */

int noise_timesteps_check(const noise_schedule *s, int min_timestep, int max_timestep, tg_error *err)
{
    if (min_timestep < 0 || min_timestep > s->T)
        return error_set(err, "min_timestep: must be in [0, %d], got %d", s->T, min_timestep);
    if (max_timestep < 0 || max_timestep > s->T)
        return error_set(err, "max_timestep: must be in [0, %d], got %d", s->T, max_timestep);
    if (min_timestep > max_timestep)
        return error_set(err, "min_timestep: must not exceed max_timestep (%d), got %d", max_timestep,
                         min_timestep);
    if (min_timestep == max_timestep && max_timestep == s->T)
        return error_set(err, "max_timestep: a fixed timestep (min_timestep = max_timestep) must be "
                         "below %d, got %d", s->T, max_timestep);
    return 0;
}

void noise_timesteps_sample(rng *r, int min_timestep, int max_timestep, int n, int *t_out)
{
    for (int i = 0; i < n; i++)
        t_out[i] = min_timestep < max_timestep
                       ? min_timestep + (int)rng_below(r, (uint64_t)(max_timestep - min_timestep))
                       : max_timestep;
}

/* ---- noise offset ---- */

static double randn(rng *r)
{
    double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void noise_offset_draw(rng *r, double offset, bool random_strength, int B, int C, float *off_bc)
{
    size_t n = (size_t)B * (size_t)C;
    if (offset == 0) {
        memset(off_bc, 0, n * sizeof *off_bc);
        return;
    }
    double strength = random_strength ? offset * rng_uniform(r) : offset;
    for (size_t i = 0; i < n; i++)
        off_bc[i] = (float)(strength * randn(r));
}

void noise_offset_apply(float *noise, const float *off_bc, int B, int C, int64_t hw)
{
    for (int64_t bc = 0; bc < (int64_t)B * C; bc++) {
        float o = off_bc[bc];
        float *p = noise + bc * hw;
        for (int64_t i = 0; i < hw; i++)
            p[i] += o;
    }
}

/* ---- forward process and targets ---- */

void noise_coeffs(const noise_schedule *s, const int *t, int n, float *a, float *b)
{
    for (int i = 0; i < n; i++) {
        if (a)
            a[i] = (float)s->sqrt_alphas_cumprod[t[i]];
        if (b)
            b[i] = (float)s->sqrt_one_minus_alphas_cumprod[t[i]];
    }
}

void noise_add(const noise_schedule *s, const int *t, int B, int64_t per, const float *x0,
               const float *eps, float *xt)
{
    for (int i = 0; i < B; i++) {
        float a = (float)s->sqrt_alphas_cumprod[t[i]], b = (float)s->sqrt_one_minus_alphas_cumprod[t[i]];
        for (int64_t j = i * per; j < (i + 1) * per; j++)
            xt[j] = a * x0[j] + b * eps[j];
    }
}

void noise_v_target(const noise_schedule *s, const int *t, int B, int64_t per, const float *x0,
                    const float *eps, float *v)
{
    for (int i = 0; i < B; i++) {
        float a = (float)s->sqrt_alphas_cumprod[t[i]], b = (float)s->sqrt_one_minus_alphas_cumprod[t[i]];
        for (int64_t j = i * per; j < (i + 1) * per; j++)
            v[j] = a * eps[j] - b * x0[j];
    }
}

/* ---- min-SNR weighting ---- */

double noise_min_snr_weight(const noise_schedule *s, int t, double gamma, bool v_prediction)
{
    if (!(gamma > 0))
        return 1.0;
    double snr = s->snr[t];
    double m = snr < gamma ? snr : gamma;
    if (v_prediction)
        return m / (snr + 1.0);
    return snr > 0 ? m / snr : 1.0;
}

void noise_min_snr_weights(const noise_schedule *s, const int *t, int n, double gamma,
                           bool v_prediction, float *w)
{
    for (int i = 0; i < n; i++)
        w[i] = (float)noise_min_snr_weight(s, t[i], gamma, v_prediction);
}
