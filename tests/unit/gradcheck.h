/* Finite-difference checks of hand-written backwards. An op's output y is reduced to a scalar
 * L = sum(y * r) with a fixed random r, so dL/dy = r is what the backward receives; every input's
 * analytic gradient is then compared, element by element (all of them, or an evenly spread sample
 * for big tensors), with the central difference (L(x + h) - L(x - h)) / 2h computed in double.
 *
 * Usage: fill a gc_case with a forward callback that computes y from the current inputs (on the
 * host copies the case owns) and returns L; the test runs the backward itself once with dy = r and
 * hands the analytic gradients to gc_compare. */
#ifndef TESTS_GRADCHECK_H
#define TESTS_GRADCHECK_H
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A small deterministic generator for test data (not the kernels' RNG under test). */
static inline double gc_uniform(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) * (1.0 / 9007199254740992.0);
}

static inline void gc_fill(float *x, size_t n, uint64_t *s, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * gc_uniform(s));
}

/* L = sum(y * r) in double. */
static inline double gc_project(const float *y, const float *r, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)y[i] * r[i];
    return sum;
}

/* The loss as a function of the inputs: the test's forward pass, reading its inputs from where the
 * test keeps them (gc_compare perturbs them in place). */
typedef double (*gc_loss_fn)(void *ctx);

typedef struct gc_result {
    double max_abs, max_rel; /* worst differences seen */
    size_t checked, bad;
    size_t first_bad;        /* index of the first element out of tolerance */
    double first_num, first_ana;
} gc_result;

/* Compares ana[0..n) with central differences of loss() w.r.t. x[0..n) (x perturbed in place and
 * restored). At most max_checks elements, evenly spread. An element is bad when
 * |num - ana| > atol + rtol * max(|num|, |ana|). */
static inline gc_result gc_compare(float *x, const float *ana, size_t n, gc_loss_fn loss, void *ctx,
                                   float h, double atol, double rtol, size_t max_checks)
{
    gc_result r = {0};
    size_t step = n > max_checks ? n / max_checks : 1;
    for (size_t i = 0; i < n; i += step) {
        float keep = x[i];
        x[i] = keep + h;
        double lp = loss(ctx);
        x[i] = keep - h;
        double lm = loss(ctx);
        x[i] = keep;
        double num = (lp - lm) / ((double)(keep + h) - (double)(keep - h)); /* the step fp32 took */
        double diff = fabs(num - ana[i]), scale = fmax(fabs(num), fabs(ana[i]));
        r.checked++;
        if (diff > r.max_abs)
            r.max_abs = diff;
        if (scale > 0 && diff / scale > r.max_rel)
            r.max_rel = diff / scale;
        if (diff > atol + rtol * scale) {
            if (!r.bad) {
                r.first_bad = i;
                r.first_num = num;
                r.first_ana = ana[i];
            }
            r.bad++;
        }
    }
    return r;
}

/* Prints a failing comparison (for the test log) and returns true when all were within tolerance. */
static inline bool gc_ok(const char *what, gc_result r)
{
    if (r.bad)
        fprintf(stderr, "  gradcheck %s: %zu of %zu out of tolerance; first at %zu: numeric %.6g, "
                "analytic %.6g (max abs %.3g, max rel %.3g)\n", what, r.bad, r.checked, r.first_bad,
                r.first_num, r.first_ana, r.max_abs, r.max_rel);
    return r.bad == 0 && r.checked > 0;
}

#endif
