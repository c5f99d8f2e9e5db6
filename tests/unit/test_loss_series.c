/* The bounded loss series: the smoothed values against an independent, whole-series transcription
 * of TensorBoard's classicSmoothing (random series with NaN and infinities, every prefix, several
 * weights, clamping, constant series), bucket merging (step ranges, counts, min/max against brute
 * force), changing the weight, and a million appends (bounded buckets; a NOTE line with the time). */
#include "tui/loss_series.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tests/unit/check.h"

/* TensorBoard's classicSmoothing over y[0..n), as data_transformer.ts writes it: the whole series
 * is inspected for isConstant (every value == the first) before smoothing. */
static void classic_smoothing(const double *y, size_t n, double w, double *out)
{
    w = w < 0 ? 0 : w > 1 ? 1 : w;
    double last = n > 0 ? 0 : NAN;
    int num_accum = 0;
    int is_constant = 1;
    for (size_t i = 0; i < n; i++)
        if (!(y[i] == y[0]))
            is_constant = 0;
    for (size_t i = 0; i < n; i++) {
        double next = y[i];
        if (is_constant || !isfinite(next)) {
            out[i] = next;
        } else {
            last = last * w + (1 - w) * next;
            num_accum++;
            double debias = 1;
            if (w != 1)
                debias = 1 - pow(w, num_accum);
            out[i] = last / debias;
        }
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rnd(void) /* [0,1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* A noisy decreasing loss with occasional NaN / +-Inf. */
static void random_series(double *y, size_t n, int with_bad)
{
    for (size_t i = 0; i < n; i++) {
        double r = rnd();
        y[i] = 2.0 * exp(-(double)i / 80.0) + 0.05 + 0.3 * rnd();
        if (with_bad && r < 0.03)
            y[i] = NAN;
        else if (with_bad && r < 0.05)
            y[i] = r < 0.04 ? INFINITY : -INFINITY;
    }
}

/* Same value, or both NaN, or within a relative 1e-12. */
static int same(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b))
        return a == b;
    return fabs(a - b) <= 1e-12 * fmax(1, fabs(b));
}

static void check_against_reference(const double *y, size_t n, double w)
{
    double *ref = malloc(n * sizeof *ref);
    classic_smoothing(y, n, w, ref);
    loss_series *s = ls_new(n + 2, w); /* room for every point: one bucket each */
    for (size_t i = 0; i < n; i++)
        ls_append(s, (int64_t)i, y[i]);
    CHECK_INT(ls_bucket_count(s), n);
    CHECK_INT(ls_span(s), 1);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        loss_bucket b = ls_bucket(s, i);
        if (!same(b.ema_last, ref[i]) && bad++ < 3)
            fprintf(stderr, "    w=%g i=%zu: %.17g, reference %.17g\n", w, i, b.ema_last, ref[i]);
        if (!same(b.raw_last, y[i]))
            bad++;
    }
    CHECK_INT(bad, 0);
    /* The minimum of the smoothed line. */
    double mn = INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && ref[i] < mn)
            mn = ref[i];
    double got;
    if (isfinite(mn)) {
        CHECK(ls_min_smoothed(s, NULL, &got));
        CHECK(same(got, mn));
    } else {
        CHECK(!ls_min_smoothed(s, NULL, &got));
    }
    ls_free(s);
    free(ref);
}

static void test_ema_matches_classic_smoothing(void)
{
    enum { N = 1500 };
    static double y[N];
    const double weights[] = {0, 0.3, 0.6, 0.9, 0.99, 0.999, 1, -0.5, 1.7};
    for (int bad = 0; bad <= 1; bad++) {
        for (int rep = 0; rep < 3; rep++) {
            random_series(y, N, bad);
            for (size_t k = 0; k < sizeof weights / sizeof weights[0]; k++)
                check_against_reference(y, N, weights[k]);
        }
    }
    /* A series that starts with non-finite points. */
    random_series(y, 200, 0);
    y[0] = NAN, y[1] = INFINITY, y[2] = NAN;
    check_against_reference(y, 200, 0.6);
}

/* The live value after every append equals TensorBoard's over that prefix (isConstant included). */
static void test_every_prefix(void)
{
    enum { N = 300 };
    double y[N], ref[N];
    random_series(y, N, 1);
    for (int i = 0; i < 20; i++)
        y[i] = 0.75; /* a constant start, then the random tail */
    loss_series *s = ls_new(64, 0.8); /* merges many times on the way */
    int bad = 0;
    for (size_t i = 0; i < N; i++) {
        ls_append(s, (int64_t)i, y[i]);
        classic_smoothing(y, i + 1, 0.8, ref);
        double sm, raw;
        int64_t st;
        CHECK(ls_last(s, &st, &raw, &sm));
        if (!same(sm, ref[i]) || st != (int64_t)i)
            bad++;
    }
    CHECK_INT(bad, 0);
    ls_free(s);
}

static void test_constant_series_unchanged(void)
{
    loss_series *s = ls_new(16, 0.6);
    for (int i = 0; i < 100; i++)
        ls_append(s, i, 0.1);
    int bad = 0;
    for (size_t i = 0; i < ls_bucket_count(s); i++)
        if (ls_bucket(s, i).ema_last != 0.1)
            bad++;
    CHECK_INT(bad, 0);
    double v;
    int64_t st;
    CHECK(ls_min_smoothed(s, &st, &v));
    CHECK(v == 0.1);
    CHECK_INT(st, 0);
    ls_free(s);

    /* All +Inf: constant, passed through; no finite minimum. */
    s = ls_new(16, 0.6);
    ls_append(s, 0, INFINITY);
    ls_append(s, 1, INFINITY);
    CHECK(ls_bucket(s, 1).ema_last == INFINITY);
    CHECK(!ls_min_smoothed(s, NULL, &v));
    CHECK_INT(ls_nonfinite(s), 2);
    ls_free(s);

    /* Weight clamping: w < 0 behaves as 0 (the raw values), w > 1 as 1 (TensorBoard's last stays 0),
     * NaN as 0. */
    s = ls_new(16, -3);
    CHECK(ls_weight(s) == 0);
    ls_append(s, 0, 1.0);
    ls_append(s, 1, 3.0);
    CHECK(ls_bucket(s, 1).ema_last == 3.0);
    ls_set_weight(s, 5);
    CHECK(ls_weight(s) == 1);
    CHECK(ls_bucket(s, 1).ema_last == 0.0);
    ls_set_weight(s, NAN);
    CHECK(ls_weight(s) == 0);
    ls_free(s);
}

/* After many merges every bucket covers a contiguous run of steps and its min/max/count/sum are
 * those of exactly those points. */
static void test_merging_keeps_ranges(void)
{
    enum { N = 1000, BASE = 10 };
    double y[N];
    random_series(y, N, 1);
    loss_series *s = ls_new(8, 0.6);
    for (size_t i = 0; i < N; i++) {
        ls_append(s, BASE + (int64_t)i, y[i]);
        CHECK(ls_bucket_count(s) <= 8);
    }
    size_t nb = ls_bucket_count(s);
    uint64_t span = ls_span(s);
    CHECK(nb >= 4 && nb <= 8);
    CHECK((span & (span - 1)) == 0);
    CHECK(span * 8 >= N && span * 4 < N);
    uint64_t total = 0;
    int64_t expect_first = BASE;
    for (size_t i = 0; i < nb; i++) {
        loss_bucket b = ls_bucket(s, i);
        CHECK_INT(b.step_first, expect_first);
        CHECK_INT(b.step_last - b.step_first + 1, b.count);
        if (i + 1 < nb)
            CHECK_INT(b.count, span);
        else
            CHECK(b.count >= 1 && b.count <= span);
        double mn = INFINITY, mx = -INFINITY, sum = 0;
        uint64_t fin = 0;
        for (int64_t st = b.step_first; st <= b.step_last; st++) {
            double v = y[st - BASE];
            if (isfinite(v)) {
                mn = fmin(mn, v), mx = fmax(mx, v), sum += v;
                fin++;
            }
        }
        CHECK_INT(b.finite, fin);
        if (fin) {
            CHECK(b.raw_min == mn);
            CHECK(b.raw_max == mx);
            CHECK_NEAR(b.raw_sum, sum, 1e-9);
        } else {
            CHECK(isnan(b.raw_min) && isnan(b.raw_max));
        }
        CHECK(same(b.raw_last, y[b.step_last - BASE]));
        total += b.count;
        expect_first = b.step_last + 1;
    }
    CHECK_INT(total, N);
    CHECK_INT(ls_points(s), N);
    /* The bucket's smoothed value is TensorBoard's at its last point. */
    double ref[N];
    classic_smoothing(y, N, 0.6, ref);
    for (size_t i = 0; i < nb; i++) {
        loss_bucket b = ls_bucket(s, i);
        CHECK(same(b.ema_last, ref[b.step_last - BASE]));
    }
    /* A bucket with no finite point next to one with some. */
    loss_series *t = ls_new(4, 0.5);
    ls_append(t, 0, NAN);
    ls_append(t, 1, NAN);
    ls_append(t, 2, 5.0);
    ls_append(t, 3, 4.0);
    ls_append(t, 4, 1.0); /* merges (0,1) and (2,3) */
    CHECK_INT(ls_bucket_count(t), 3);
    CHECK(isnan(ls_bucket(t, 0).raw_min));
    CHECK_INT(ls_bucket(t, 0).finite, 0);
    CHECK(ls_bucket(t, 1).raw_min == 4.0 && ls_bucket(t, 1).raw_max == 5.0);
    ls_free(t);
    ls_clear(s);
    CHECK_INT(ls_bucket_count(s), 0);
    CHECK_INT(ls_points(s), 0);
    CHECK(!ls_last(s, NULL, NULL, NULL));
    ls_free(s);
}

static void test_set_weight(void)
{
    enum { N = 500 };
    double y[N], ref[N];
    random_series(y, N, 1);
    /* One point per bucket: the recomputation is exact. */
    loss_series *s = ls_new(N, 0.6);
    for (size_t i = 0; i < N; i++)
        ls_append(s, (int64_t)i, y[i]);
    ls_set_weight(s, 0.95);
    classic_smoothing(y, N, 0.95, ref);
    int bad = 0;
    for (size_t i = 0; i < N; i++)
        if (!same(ls_bucket(s, i).ema_last, ref[i]))
            bad++;
    CHECK_INT(bad, 0);
    /* New points continue from the recomputed state. */
    double more[N + 1];
    for (size_t i = 0; i < N; i++)
        more[i] = y[i];
    more[N] = 0.5;
    ls_append(s, N, 0.5);
    double ref2[N + 1];
    classic_smoothing(more, N + 1, 0.95, ref2);
    double sm;
    ls_last(s, NULL, NULL, &sm);
    CHECK(same(sm, ref2[N]));
    ls_free(s);

    /* Merged buckets: an approximation (bucket means); close for a slowly varying series when the
     * weight's memory is longer than a bucket. */
    enum { M = 20000 };
    double *z = malloc(M * sizeof *z), *zr = malloc(M * sizeof *zr);
    for (size_t i = 0; i < M; i++)
        z[i] = 1.0 + exp(-(double)i / 5000.0) + 0.01 * (rnd() - 0.5);
    s = ls_new(256, 0.6);
    for (size_t i = 0; i < M; i++)
        ls_append(s, (int64_t)i, z[i]);
    ls_set_weight(s, 0.999);
    classic_smoothing(z, M, 0.999, zr);
    double worst = 0;
    for (size_t i = 0; i < ls_bucket_count(s); i++) {
        loss_bucket b = ls_bucket(s, i);
        worst = fmax(worst, fabs(b.ema_last - zr[b.step_last]) / zr[b.step_last]);
    }
    CHECK(worst < 0.01);
    printf("NOTE loss_series: weight change over merged buckets (span %llu, w 0.6 -> 0.999): "
           "worst relative error %.2e\n", (unsigned long long)ls_span(s), worst);
    ls_free(s);
    free(z);
    free(zr);
}

static void test_million_appends_bounded(void)
{
    loss_series *s = ls_new(0, 0.6);
    CHECK_INT(ls_capacity(s), LS_DEFAULT_BUCKETS);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int64_t n = 1000000;
    size_t most = 0;
    for (int64_t i = 0; i < n; i++) {
        ls_append(s, i + 1, 1.0 / (1.0 + (double)i * 1e-4) + 0.01 * (double)(i % 7));
        if (ls_bucket_count(s) > most)
            most = ls_bucket_count(s);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(most <= LS_DEFAULT_BUCKETS);
    CHECK(ls_bucket_count(s) >= LS_DEFAULT_BUCKETS / 2);
    CHECK_INT(ls_span(s), 512); /* 2048 * 256 < 1e6 <= 2048 * 512 */
    CHECK_INT(ls_points(s), n);
    CHECK_INT(ls_bucket(s, 0).step_first, 1);
    CHECK_INT(ls_bucket(s, ls_bucket_count(s) - 1).step_last, n);
    printf("NOTE loss_series: 1,000,000 appends in %.1f ms (%.1f ns each), %zu buckets of %llu "
           "points, %zu bytes of buckets whatever the run length\n",
           ms, ms * 1e6 / (double)n, ls_bucket_count(s), (unsigned long long)ls_span(s),
           ls_capacity(s) * sizeof(loss_bucket));
    ls_free(s);
}

int main(void)
{
    RUN(test_ema_matches_classic_smoothing);
    RUN(test_every_prefix);
    RUN(test_constant_series_unchanged);
    RUN(test_merging_keeps_ranges);
    RUN(test_set_weight);
    RUN(test_million_appends_bounded);
    return check_finish();
}
