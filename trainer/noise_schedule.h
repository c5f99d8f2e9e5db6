/* The DDPM forward process as kohya sd-scripts trains it (reference/trainers.md §4.1, §4.2;
 * docs/schedules.md): a beta schedule and its tables, timestep sampling, noise offset, the
 * ε/v targets and the min-SNR loss weight.
 *
 * Tables are computed in double (diffusers keeps them in float32; the difference is ~1e-7
 * relative). Index t runs 0 .. T-1 as in diffusers: t = 0 is the least noisy step.
 *
 * Random numbers: the host-side draws of a step (timesteps, the noise offset's per-channel shift)
 * come from tagger/rng.h (xoshiro256**), one stream seeded from the run's seed, so a seed
 * reproduces them on every backend. The big ε tensor itself is the training loop's business
 * (k_randn on a kernels k_rng), so this file needs no compute context.
 *
 * The loop works on tensors: it takes the per-sample coefficients from here and combines with
 * k_axpby on one sample's slice at a time:
 *     x_t = a·x0 + b·ε           (a = sqrt(ᾱ_t), b = sqrt(1 − ᾱ_t): noise_coeffs)
 *     v   = a·ε − b·x0           (the v-prediction target, same coefficients)
 * The host-array helpers below (noise_add, noise_v_target) do the same for tests and the CPU. */
#ifndef TRAINER_NOISE_SCHEDULE_H
#define TRAINER_NOISE_SCHEDULE_H
#include <stdbool.h>
#include <stdint.h>

#include "tagger/error.h"
#include "tagger/rng.h"

/* diffusers' beta_schedule names. scaled_linear is what LDM (and so SD 1.x) calls "linear". */
typedef enum beta_schedule {
    BETA_SCALED_LINEAR, /* betas = linspace(sqrt(b0), sqrt(b1), T)^2 */
    BETA_LINEAR,        /* betas = linspace(b0, b1, T) */
    BETA_COSINE,        /* Nichol & Dhariwal 2021, s = 0.008, betas clipped at 0.999; b0, b1 unused */
} beta_schedule;

typedef struct noise_schedule_opts {
    beta_schedule kind;     /* BETA_SCALED_LINEAR */
    int num_train_timesteps; /* T, 1000 */
    double beta_start;      /* 0.00085 */
    double beta_end;        /* 0.012 */
    bool zero_terminal_snr; /* false; rescale so that ᾱ_{T-1} = 0 (Lin et al. 2023, kohya's fix) */
} noise_schedule_opts;

typedef struct noise_schedule {
    int T;
    /* T values each, one allocation owned by the schedule */
    double *betas;
    double *alphas_cumprod;       /* ᾱ_t = prod_{i<=t} (1 − β_i) */
    double *sqrt_alphas_cumprod;  /* sqrt(ᾱ_t): the signal coefficient */
    double *sqrt_one_minus_alphas_cumprod; /* sqrt(1 − ᾱ_t): the noise coefficient */
    double *snr;                  /* ᾱ_t / (1 − ᾱ_t); 0 at the last step with zero_terminal_snr */
} noise_schedule;

/* Stable Diffusion 1.x's schedule (kohya's DDPMScheduler): scaled_linear 0.00085 .. 0.012, 1000. */
void noise_schedule_opts_default(noise_schedule_opts *o);

/* "scaled_linear", "linear", "cosine" (diffusers' spelling; "squaredcos_cap_v2" is accepted as
 * diffusers' name for cosine). Anything else is an error naming beta_schedule and the valid names. */
int beta_schedule_parse(const char *name, beta_schedule *out, tg_error *err);
const char *beta_schedule_name(beta_schedule kind);

/* Builds the tables. Errors name the option: num_train_timesteps < 2, beta_start / beta_end
 * outside (0, 1) for the linear kinds. 0, or -1 with err set (also on out of memory). */
int noise_schedule_init(noise_schedule *s, const noise_schedule_opts *o, tg_error *err);
void noise_schedule_free(noise_schedule *s);

/* ---- timesteps ---- */

/* kohya's --min_timestep / --max_timestep (defaults 0 and T): 0 <= min <= max <= T, and when
 * min == max (a fixed timestep, which kohya allows) max < T. Errors name the option. */
int noise_timesteps_check(const noise_schedule *s, int min_timestep, int max_timestep, tg_error *err);
/* n timesteps, each uniform in [min_timestep, max_timestep) (torch.randint's half-open range),
 * or all equal to max_timestep without a draw when min == max (kohya's get_timesteps).
 * The range must have passed noise_timesteps_check. */
void noise_timesteps_sample(rng *r, int min_timestep, int max_timestep, int n, int *t_out);

/* ---- noise offset ---- */

/* The shift kohya adds to each (sample, channel) of the noise: off[b*C + c] = strength·N(0, 1),
 * strength = offset, or offset·U(0, 1) drawn once for the batch first when random_strength
 * (--noise_offset_random_strength). offset 0: all zeros, no draw. Normals are Box–Muller from
 * two uniforms each. */
void noise_offset_draw(rng *r, double offset, bool random_strength, int B, int C, float *off_bc);
/* noise[b, c, :, :] += off_bc[b*C + c] on a host NCHW array (hw = H·W). On tensors the loop
 * copies off_bc into a (B, C) tensor and uses k_add_bcast_bc. */
void noise_offset_apply(float *noise, const float *off_bc, int B, int C, int64_t hw);

/* ---- forward process and targets ---- */

/* Per sample: a[i] = sqrt(ᾱ_t[i]), b[i] = sqrt(1 − ᾱ_t[i]) (either pointer may be NULL). */
void noise_coeffs(const noise_schedule *s, const int *t, int n, float *a, float *b);
/* Host arrays of B samples of `per` floats each: x_t = a·x0 + b·ε. xt may alias neither input. */
void noise_add(const noise_schedule *s, const int *t, int B, int64_t per, const float *x0,
               const float *eps, float *xt);
/* v = a·ε − b·x0 (diffusers' get_velocity), the target with --v_parameterization. */
void noise_v_target(const noise_schedule *s, const int *t, int B, int64_t per, const float *x0,
                    const float *eps, float *v);

/* ---- min-SNR weighting ---- */

/* kohya's apply_snr_weight: min(SNR_t, γ)/SNR_t for ε-prediction, min(SNR_t, γ)/(SNR_t + 1) for
 * v-prediction. gamma <= 0 means off (weight 1). Where SNR_t = 0 (the last step with
 * zero_terminal_snr) the ε weight is its limit, 1; kohya computes 0/0 = NaN there. */
double noise_min_snr_weight(const noise_schedule *s, int t, double gamma, bool v_prediction);
/* The weights of a batch, for k_mse_forward's weight_b. */
void noise_min_snr_weights(const noise_schedule *s, const int *t, int n, double gamma,
                           bool v_prediction, float *w);

#endif
