/* Samplers for an ε- or v-predicting diffusion model (docs/samplers.md has the update rules):
 * DDIM (η = 0, diffusers' "leading" timesteps, as kohya's default `--sample_sampler ddim`), and
 * k-diffusion's Euler, Euler ancestral and DPM++ 2M on the σ grid σ(t) = sqrt((1 − ᾱ_t) / ᾱ_t),
 * log-σ interpolated between integer timesteps (k-diffusion's DiscreteEpsDDPMDenoiser), with
 * classifier-free guidance.
 *
 * The model is a callback on host arrays of n floats: it gets x_t in the model's own (variance
 * preserving) space, x_t = sqrt(ᾱ) x0 + sqrt(1 − ᾱ) ε, the fractional timestep t in [0, T−1] and
 * which branch (cond 1 = the prompt, 0 = the unconditional branch, whose conditioning the caller
 * picks: the empty prompt, or the negative prompt); it writes ε (or v when v_prediction). Batching,
 * the UNet and the text encoder are the caller's. The schedule is an input: ᾱ_0..ᾱ_{T−1} as
 * doubles (trainer/noise_schedule makes SD's). The result is x0 (the latent at σ = 0).
 *
 * Randomness: one xoshiro256** stream (tagger/rng.h) seeded with the seed; standard normals by
 * Box–Muller from it. The initial noise is the first n normals (sampler_noise), Euler ancestral's
 * per-step noise the following ones, n per step. Same seed, schedule and model: same bits. */
#ifndef TRAINER_SAMPLER_H
#define TRAINER_SAMPLER_H
#include <stddef.h>
#include <stdint.h>

#include "tagger/error.h"

typedef enum sampler_kind {
    SAMPLER_DDIM,
    SAMPLER_EULER,
    SAMPLER_EULER_A,
    SAMPLER_DPMPP_2M,
} sampler_kind;

/* The model: ε (or v) for x (n floats, model space) at fractional timestep t; 0, or -1 with err set. */
typedef int (*sampler_eps_fn)(void *ctx, const float *x, double t, int cond, float *eps_out,
                              tg_error *err);
/* Called after each step, step = 1..steps. A nonzero return stops sampling (sampler_run then
 * fails with "stopped at step i of N"). */
typedef int (*sampler_progress_fn)(void *ctx, int step, int steps);

typedef struct sampler_opts {
    sampler_kind kind;
    int steps;                     /* 1..T (kohya clamps --s to 1..1000) */
    double cfg_scale;              /* ε = ε_u + s (ε_c − ε_u); exactly 1: one (cond) call a step */
    uint64_t seed;
    int v_prediction;              /* the model returns v = sqrt(ᾱ) ε − sqrt(1 − ᾱ) x0 */
    int karras;                    /* k-diffusion samplers: Karras σs (ρ = 7) instead of the plain grid */
    int clip_sample;               /* DDIM: clamp the predicted x0 to [−1, 1] (kohya forces it on) */
    const double *alphas_cumprod;  /* ᾱ_0..ᾱ_{T−1} in (0, 1), decreasing; the last may be 0
                                    * (zero terminal SNR: taken as 2^-24, σ = 4096, as diffusers) */
    int T;                         /* >= 2 */
    sampler_eps_fn eps_fn;
    void *eps_ctx;
    sampler_progress_fn progress;  /* may be NULL */
    void *progress_ctx;
} sampler_opts;

/* kohya's --sample_sampler names we implement: "ddim"; "euler", "k_euler"; "euler_a",
 * "k_euler_a"; "dpmsolver++" (diffusers' DPMSolverMultistep, order 2 = DPM++ 2M) and "dpmpp_2m",
 * "k_dpmpp_2m" (A1111/sd.cpp/ComfyUI spelling). Exact, case-sensitive like kohya. Other names
 * (kohya's pndm, lms, heun, dpm_2, ..., or a typo, which kohya silently turns into DDIM) fail with
 * the list. */
int sampler_from_name(const char *name, sampler_kind *out, tg_error *err);
const char *sampler_name(sampler_kind kind);   /* "ddim", "euler", "euler_a", "dpmpp_2m" */

/* Samples into x (n floats): initial noise from the seed, opts->steps steps, x0 out. 0, or -1 with
 * err set (bad options, out of memory, the model's error, stopped by progress). */
int sampler_run(const sampler_opts *opts, float *x, size_t n, tg_error *err);

/* The grid sampler_run walks: t[0..steps−1], the timesteps the model is called at, and
 * sigma[0..steps], σ at those timesteps followed by 0 (DDIM's last step goes to ᾱ = 1, σ = 0).
 * Either may be NULL. 0, or -1 with err set when opts are invalid. */
int sampler_grid(const sampler_opts *opts, double *t, double *sigma, tg_error *err);

/* k-diffusion's DiscreteSchedule: σ at fractional t (log σ linear between integer timesteps),
 * and its inverse (t clamped to [0, T−1]). */
double sampler_t_to_sigma(const double *alphas_cumprod, int T, double t);
double sampler_sigma_to_t(const double *alphas_cumprod, int T, double sigma);

/* The initial noise sampler_run draws for this seed: the first n standard normals of its stream. */
void sampler_noise(uint64_t seed, float *z, size_t n);

#endif
