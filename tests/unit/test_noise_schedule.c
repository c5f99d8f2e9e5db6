/* The DDPM schedules and the forward process: SD's values from reference/trainers.md §4.1, the
 * min-SNR weights of §4.2, zero-terminal-SNR, timestep sampling, noise offset, the cosine and
 * linear schedules, and the refusals. */
#include "trainer/noise_schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

static noise_schedule make(beta_schedule kind, double b0, double b1, bool ztsnr)
{
    noise_schedule_opts o;
    noise_schedule_opts_default(&o);
    o.kind = kind;
    o.beta_start = b0;
    o.beta_end = b1;
    o.zero_terminal_snr = ztsnr;
    noise_schedule s;
    tg_error err = {{0}};
    int rc = noise_schedule_init(&s, &o, &err);
    CHECK_INT(rc, 0);
    return s;
}

static noise_schedule sd(void)
{
    return make(BETA_SCALED_LINEAR, 0.00085, 0.012, false);
}

/* Relative closeness. */
static int near_rel(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fabs(b);
}

/* a rounds to b (given with 4 significant digits): within half a unit of b's 4th digit. */
static int digits4(double a, double b)
{
    return fabs(a - b) <= 0.5 * pow(10, floor(log10(fabs(b))) - 3) * (1 + 1e-9);
}

static void test_sd_defaults_are_kohyas(void)
{
    noise_schedule_opts o;
    noise_schedule_opts_default(&o);
    CHECK(o.kind == BETA_SCALED_LINEAR);
    CHECK_INT(o.num_train_timesteps, 1000);
    CHECK(o.beta_start == 0.00085 && o.beta_end == 0.012);
    CHECK(!o.zero_terminal_snr);
}

/* trainers.md §4.1's derived values, to 4 significant digits. */
static void test_sd_alphas_cumprod_and_snr(void)
{
    noise_schedule s = sd();
    CHECK_INT(s.T, 1000);
    CHECK_NEAR(s.betas[0], 0.00085, 1e-15);
    CHECK_NEAR(s.betas[999], 0.012, 1e-15);
    CHECK_NEAR(s.alphas_cumprod[0], 0.99915, 1e-15); /* 1 − β_0 */
    CHECK(digits4(s.alphas_cumprod[99], 0.8955));
    CHECK(digits4(s.alphas_cumprod[499], 0.2777));
    CHECK(digits4(s.alphas_cumprod[999], 0.004660));
    CHECK(digits4(s.snr[0], 1175));
    CHECK(digits4(s.snr[99], 8.566));  /* §4.1 rounds it to 8.57 */
    CHECK(digits4(s.snr[499], 0.3844));
    CHECK(digits4(s.snr[999], 0.004682)); /* §4.1: 0.00468 */
    for (int t = 0; t < s.T; t++) {
        double a = s.sqrt_alphas_cumprod[t], b = s.sqrt_one_minus_alphas_cumprod[t];
        if (fabs(a * a + b * b - 1.0) > 1e-12 || fabs(a * a - s.alphas_cumprod[t]) > 1e-12 ||
            fabs(s.snr[t] - (a / b) * (a / b)) > 1e-9 * s.snr[t]) {
            CHECK(!"sqrt tables and SNR agree with alphas_cumprod");
            break;
        }
    }
    noise_schedule_free(&s);
}

/* §4.2 at γ = 5: w(0) = 0.0043, w(99) = 0.58, w(t >= ~180) = 1 for ε-prediction. The weight is
 * exactly 1 from the first t with SNR <= 5, which is t = 147 for SD's schedule. */
static void test_min_snr_weights(void)
{
    noise_schedule s = sd();
    CHECK_NEAR(noise_min_snr_weight(&s, 0, 5, false), 0.0043, 5e-5);
    CHECK_NEAR(noise_min_snr_weight(&s, 99, 5, false), 0.58, 5e-3);
    for (int t = 180; t < s.T; t++)
        if (noise_min_snr_weight(&s, t, 5, false) != 1.0) {
            CHECK(!"weight 1 from t = 180 on");
            break;
        }
    CHECK(noise_min_snr_weight(&s, 146, 5, false) < 1.0);
    CHECK(noise_min_snr_weight(&s, 147, 5, false) == 1.0);
    /* v-prediction: min(SNR, γ)/(SNR + 1), never above 1 */
    CHECK_NEAR(noise_min_snr_weight(&s, 0, 5, true), 5.0 / (s.snr[0] + 1.0), 1e-15);
    CHECK_NEAR(noise_min_snr_weight(&s, 499, 5, true), s.snr[499] / (s.snr[499] + 1.0), 1e-15);
    CHECK_NEAR(noise_min_snr_weight(&s, 499, 5, true), s.alphas_cumprod[499], 1e-12);
    /* off */
    CHECK(noise_min_snr_weight(&s, 0, 0, false) == 1.0);
    CHECK(noise_min_snr_weight(&s, 0, 0, true) == 1.0);
    int t[3] = {0, 99, 500};
    float w[3];
    noise_min_snr_weights(&s, t, 3, 5, false, w);
    CHECK_NEAR(w[0], noise_min_snr_weight(&s, 0, 5, false), 1e-9);
    CHECK_NEAR(w[1], noise_min_snr_weight(&s, 99, 5, false), 1e-7);
    CHECK(w[2] == 1.0f);
    noise_schedule_free(&s);
}

/* trainers.md §4.1: sqrt(ᾱ) <- (sqrt(ᾱ) − sqrt(ᾱ_T))·sqrt(ᾱ_0)/(sqrt(ᾱ_0) − sqrt(ᾱ_T)). */
static void test_zero_terminal_snr(void)
{
    noise_schedule base = sd(), z = make(BETA_SCALED_LINEAR, 0.00085, 0.012, true);
    CHECK(z.alphas_cumprod[999] == 0.0);
    CHECK(z.snr[999] == 0.0);
    CHECK(z.sqrt_alphas_cumprod[999] == 0.0 && z.sqrt_one_minus_alphas_cumprod[999] == 1.0);
    CHECK(z.betas[999] == 1.0);
    CHECK_NEAR(z.alphas_cumprod[0], base.alphas_cumprod[0], 1e-15);
    double r0 = base.sqrt_alphas_cumprod[0], rT = base.sqrt_alphas_cumprod[999];
    int ok = 1;
    for (int t = 0; t < 1000; t++) {
        double want = (base.sqrt_alphas_cumprod[t] - rT) * r0 / (r0 - rT);
        ok &= fabs(z.sqrt_alphas_cumprod[t] - want) < 1e-12;
        if (t > 0)
            ok &= z.alphas_cumprod[t] < z.alphas_cumprod[t - 1];
        ok &= z.betas[t] > 0 && z.betas[t] <= 1;
    }
    CHECK(ok);
    /* ε weight at SNR 0 is its limit 1, not kohya's 0/0; v weight 0 */
    CHECK(noise_min_snr_weight(&z, 999, 5, false) == 1.0);
    CHECK(noise_min_snr_weight(&z, 999, 5, true) == 0.0);
    noise_schedule_free(&base);
    noise_schedule_free(&z);
}

static void test_timesteps_default_range(void)
{
    noise_schedule s = sd();
    tg_error err = {{0}};
    CHECK_INT(noise_timesteps_check(&s, 0, 1000, &err), 0);
    enum { N = 200000 };
    int *t = malloc(N * sizeof *t);
    rng r;
    rng_seed(&r, 42);
    noise_timesteps_sample(&r, 0, 1000, N, t);
    int lo = 1 << 30, hi = -1;
    double sum = 0;
    for (int i = 0; i < N; i++) {
        lo = t[i] < lo ? t[i] : lo;
        hi = t[i] > hi ? t[i] : hi;
        sum += t[i];
    }
    CHECK_INT(lo, 0);
    CHECK_INT(hi, 999); /* upper bound excluded, as torch.randint */
    CHECK_NEAR(sum / N, 499.5, 3.0);
    free(t);
    noise_schedule_free(&s);
}

static void test_timesteps_reproducible_and_bounded(void)
{
    int a[64], b[64], c[64];
    rng r1, r2, r3;
    rng_seed(&r1, 7);
    rng_seed(&r2, 7);
    rng_seed(&r3, 8);
    noise_timesteps_sample(&r1, 200, 300, 64, a);
    noise_timesteps_sample(&r2, 200, 300, 64, b);
    noise_timesteps_sample(&r3, 200, 300, 64, c);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    int ok = 1;
    for (int i = 0; i < 64; i++)
        ok &= a[i] >= 200 && a[i] < 300;
    CHECK(ok);
    /* min == max: a fixed timestep, and no draw (kohya's torch.full) */
    rng before = r1;
    noise_timesteps_sample(&r1, 500, 500, 64, a);
    CHECK(a[0] == 500 && a[63] == 500);
    CHECK(memcmp(&before, &r1, sizeof r1) == 0);
}

static void test_timesteps_refusals(void)
{
    noise_schedule s = sd();
    tg_error err = {{0}};
    CHECK_INT(noise_timesteps_check(&s, 300, 200, &err), -1);
    CHECK(strstr(err.msg, "min_timestep") != NULL);
    CHECK_INT(noise_timesteps_check(&s, 0, 1001, &err), -1);
    CHECK(strstr(err.msg, "max_timestep") != NULL);
    CHECK_INT(noise_timesteps_check(&s, -1, 10, &err), -1);
    CHECK(strstr(err.msg, "min_timestep") != NULL);
    CHECK_INT(noise_timesteps_check(&s, 1000, 1000, &err), -1);
    CHECK(strstr(err.msg, "max_timestep") != NULL);
    CHECK_INT(noise_timesteps_check(&s, 999, 999, &err), 0);
    noise_schedule_free(&s);
}

/* Improved DDPM: ᾱ_t telescopes to f((t+1)/T)/f(0) where no beta was clipped; only the last one
 * is, at 0.999. */
static void test_cosine_schedule(void)
{
    noise_schedule s = make(BETA_COSINE, 0, 0, false); /* b0, b1 unused */
    double f0 = cos(0.008 / 1.008 * M_PI / 2);
    f0 *= f0;
    int ok = 1, clipped = 0;
    for (int t = 0; t < 1000; t++) {
        if (s.betas[t] >= 0.999)
            clipped++;
        ok &= s.betas[t] > 0 && s.betas[t] <= 0.999;
        if (t > 0)
            ok &= s.alphas_cumprod[t] < s.alphas_cumprod[t - 1];
        if (t < 999) {
            double c = cos(((t + 1) / 1000.0 + 0.008) / 1.008 * M_PI / 2);
            ok &= fabs(s.alphas_cumprod[t] - c * c / f0) < 1e-12;
        }
    }
    CHECK(ok);
    CHECK_INT(clipped, 1);
    CHECK(s.betas[999] == 0.999);
    CHECK(near_rel(s.betas[0], 4.1284e-5, 1e-4));
    CHECK(near_rel(s.alphas_cumprod[499], 0.49384, 1e-4)); /* about half the signal at the middle */
    CHECK(near_rel(s.alphas_cumprod[999], 2.4288e-9, 1e-4));
    noise_schedule_free(&s);
}

/* The tiny model's schedule (engines.md §7.3): linear 1e-4 .. 0.02, ᾱ_T ≈ 4e-5. */
static void test_linear_schedule(void)
{
    noise_schedule s = make(BETA_LINEAR, 1e-4, 0.02, false);
    CHECK_NEAR(s.betas[0], 1e-4, 1e-18);
    CHECK_NEAR(s.betas[999], 0.02, 1e-17);
    CHECK_NEAR(s.betas[1] - s.betas[0], (0.02 - 1e-4) / 999, 1e-15);
    CHECK(near_rel(s.alphas_cumprod[999], 4.0358e-5, 1e-4));
    noise_schedule_free(&s);
}

static void test_add_noise_and_v_target(void)
{
    noise_schedule s = sd();
    int t[2] = {10, 700};
    float x0[6] = {1, -0.5f, 0.25f, 2, 0, -1}, eps[6] = {0.3f, 1, -2, -0.1f, 0.7f, 1.5f};
    float xt[6], v[6], a[2], b[2];
    noise_coeffs(&s, t, 2, a, b);
    CHECK_NEAR(a[0], sqrt(s.alphas_cumprod[10]), 1e-7);
    CHECK_NEAR(b[1], sqrt(1 - s.alphas_cumprod[700]), 1e-7);
    noise_add(&s, t, 2, 3, x0, eps, xt);
    noise_v_target(&s, t, 2, 3, x0, eps, v);
    int ok = 1;
    for (int i = 0; i < 6; i++) {
        double ac = s.alphas_cumprod[t[i / 3]];
        ok &= fabs(xt[i] - (sqrt(ac) * x0[i] + sqrt(1 - ac) * eps[i])) < 1e-6;
        ok &= fabs(v[i] - (sqrt(ac) * eps[i] - sqrt(1 - ac) * x0[i])) < 1e-6;
        /* what a v-sampler relies on: x0 = a·x_t − b·v, ε = b·x_t + a·v */
        ok &= fabs(sqrt(ac) * xt[i] - sqrt(1 - ac) * v[i] - x0[i]) < 1e-5;
        ok &= fabs(sqrt(1 - ac) * xt[i] + sqrt(ac) * v[i] - eps[i]) < 1e-5;
    }
    CHECK(ok);
    noise_schedule_free(&s);
}

static void test_noise_offset(void)
{
    enum { B = 64, C = 4 };
    float off[B * C], off2[B * C];
    rng r, r2;
    rng_seed(&r, 1);
    rng before = r;
    noise_offset_draw(&r, 0, false, B, C, off);
    CHECK(off[0] == 0 && off[B * C - 1] == 0);
    CHECK(memcmp(&before, &r, sizeof r) == 0);

    rng_seed(&r, 3);
    rng_seed(&r2, 3);
    noise_offset_draw(&r, 0.1, false, B, C, off);
    noise_offset_draw(&r2, 0.1, false, B, C, off2);
    CHECK(memcmp(off, off2, sizeof off) == 0);
    double s1 = 0, s2 = 0;
    for (int i = 0; i < B * C; i++) {
        s1 += off[i];
        s2 += (double)off[i] * off[i];
    }
    double mean = s1 / (B * C), sd_ = sqrt(s2 / (B * C) - mean * mean);
    CHECK_NEAR(mean, 0, 0.02);
    CHECK_NEAR(sd_, 0.1, 0.015);

    /* random strength: offset·U(0,1) for the whole batch, so the spread is at most the offset's */
    rng_seed(&r, 3);
    noise_offset_draw(&r, 0.1, true, B, C, off2);
    s2 = 0;
    for (int i = 0; i < B * C; i++)
        s2 += (double)off2[i] * off2[i];
    CHECK(sqrt(s2 / (B * C)) < 0.1 * 1.2);
    CHECK(memcmp(off, off2, sizeof off) != 0);

    /* apply: one constant per (sample, channel) over H·W */
    float noise[2 * 3 * 4] = {0};
    float o6[6] = {1, 2, 3, -1, -2, -3};
    noise_offset_apply(noise, o6, 2, 3, 4);
    CHECK(noise[0] == 1 && noise[3] == 1 && noise[4] == 2 && noise[11] == 3);
    CHECK(noise[12] == -1 && noise[23] == -3);
}

static void test_names_and_refusals(void)
{
    beta_schedule k;
    tg_error err = {{0}};
    CHECK_INT(beta_schedule_parse("scaled_linear", &k, &err), 0);
    CHECK(k == BETA_SCALED_LINEAR);
    CHECK_INT(beta_schedule_parse("squaredcos_cap_v2", &k, &err), 0);
    CHECK(k == BETA_COSINE);
    CHECK_STR(beta_schedule_name(BETA_LINEAR), "linear");
    CHECK_INT(beta_schedule_parse("quadratic", &k, &err), -1);
    CHECK(strstr(err.msg, "beta_schedule") && strstr(err.msg, "quadratic") &&
          strstr(err.msg, "scaled_linear, linear, cosine"));

    noise_schedule_opts o;
    noise_schedule s;
    noise_schedule_opts_default(&o);
    o.beta_start = 0;
    CHECK_INT(noise_schedule_init(&s, &o, &err), -1);
    CHECK(strstr(err.msg, "beta_start") != NULL);
    noise_schedule_opts_default(&o);
    o.beta_end = 1.5;
    CHECK_INT(noise_schedule_init(&s, &o, &err), -1);
    CHECK(strstr(err.msg, "beta_end") != NULL);
    noise_schedule_opts_default(&o);
    o.num_train_timesteps = 1;
    CHECK_INT(noise_schedule_init(&s, &o, &err), -1);
    CHECK(strstr(err.msg, "num_train_timesteps") != NULL);
    noise_schedule_free(&s); /* harmless after a failed init */
}

int main(void)
{
    RUN(test_sd_defaults_are_kohyas);
    RUN(test_sd_alphas_cumprod_and_snr);
    RUN(test_min_snr_weights);
    RUN(test_zero_terminal_snr);
    RUN(test_timesteps_default_range);
    RUN(test_timesteps_reproducible_and_bounded);
    RUN(test_timesteps_refusals);
    RUN(test_cosine_schedule);
    RUN(test_linear_schedule);
    RUN(test_add_noise_and_v_target);
    RUN(test_noise_offset);
    RUN(test_names_and_refusals);
    return check_finish();
}
