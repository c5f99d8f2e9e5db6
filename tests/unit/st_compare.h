/* Compares two safetensors files tensor by tensor, the way tests/ref/compare.py does (its README
 * "Tolerance"): a tensor matches when max|got - expected| <= atol + rtol * max|expected|, i.e. the
 * error is measured against the tensor's own scale, so elements that are zero up to rounding
 * (CLIP's k_proj.bias gradient) do not fail on noise. Names only in one file, other shapes and
 * non-finite values are mismatches. Each mismatch is printed on stderr with its numbers. */
#ifndef TESTS_ST_COMPARE_H
#define TESTS_ST_COMPARE_H
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/safetensors.h"

typedef struct st_cmp_result {
    int compared, mismatches;
    double worst;            /* largest max|d| / max|expected| over tensors with a scale > 1e-6 */
    char worst_name[256];
} st_cmp_result;

/* rtol for one tensor (forward outputs and gradients may get different ones). */
typedef double (*st_cmp_rtol_fn)(const char *name, void *ctx);

static inline bool st_cmp_same_shape(const st_tensor *a, const st_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return false;
    return true;
}

/* One tensor present in both; returns true when it matches. */
static inline bool st_cmp_tensor(const st_tensor *g, const st_tensor *e, double rtol, double atol,
                                 st_cmp_result *r)
{
    if (!st_cmp_same_shape(g, e)) {
        fprintf(stderr, "    SHAPE    %s: %d dims (%lld, ...) vs expected %d dims (%lld, ...)\n", e->name,
                g->ndim, g->ndim ? (long long)g->shape[0] : 0LL, e->ndim,
                e->ndim ? (long long)e->shape[0] : 0LL);
        return false;
    }
    size_t n = e->numel;
    float *a = malloc(sizeof *a * (n ? n : 1)), *b = malloc(sizeof *b * (n ? n : 1));
    tg_error err;
    bool ok = a && b && st_read_f32(g, a, n, &err) == 0 && st_read_f32(e, b, n, &err) == 0;
    double dmax = 0, scale = 0;
    size_t at = 0;
    bool finite = true;
    for (size_t i = 0; ok && i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i]))
            finite = false;
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > dmax) {
            dmax = d;
            at = i;
        }
        if (fabs((double)b[i]) > scale)
            scale = fabs((double)b[i]);
    }
    if (ok && finite && scale > 1e-6 && dmax / scale > r->worst) {
        r->worst = dmax / scale;
        snprintf(r->worst_name, sizeof r->worst_name, "%s", e->name);
    }
    bool match = ok && finite && dmax <= atol + rtol * scale;
    if (!match)
        fprintf(stderr, "    MISMATCH %s: max|d| %.3e at element %zu (got %.7g, expected %.7g), "
                "max|expected| %.3e, max|d|/max|expected| %.3e > rtol %.0e%s%s\n", e->name, dmax, at,
                ok ? a[at] : 0.0, ok ? b[at] : 0.0, scale, scale > 0 ? dmax / scale : INFINITY, rtol,
                finite ? "" : ", NON-FINITE", ok ? "" : ", unreadable");
    free(a);
    free(b);
    return match;
}

/* Compares every tensor of got_path with expected_path. 0 when all match, else the number of
 * mismatches (-1: a file could not be opened); *r gets the details. */
static inline int st_compare_files(const char *got_path, const char *expected_path, st_cmp_rtol_fn rtol,
                                   void *ctx, double atol, st_cmp_result *r)
{
    memset(r, 0, sizeof *r);
    tg_error err;
    st_file *g = st_open(got_path, &err);
    if (!g) {
        fprintf(stderr, "    %s\n", err.msg);
        return -1;
    }
    st_file *e = st_open(expected_path, &err);
    if (!e) {
        fprintf(stderr, "    %s\n", err.msg);
        st_close(g);
        return -1;
    }
    for (size_t i = 0; i < st_count(e); i++) {
        const st_tensor *te = st_at(e, i), *tg = st_find(g, te->name);
        if (!tg) {
            fprintf(stderr, "    MISSING  %s (only in %s)\n", te->name, expected_path);
            r->mismatches++;
            continue;
        }
        r->compared++;
        if (!st_cmp_tensor(tg, te, rtol(te->name, ctx), atol, r))
            r->mismatches++;
    }
    for (size_t i = 0; i < st_count(g); i++)
        if (!st_find(e, st_at(g, i)->name)) {
            fprintf(stderr, "    EXTRA    %s (only in %s)\n", st_at(g, i)->name, got_path);
            r->mismatches++;
        }
    st_close(e);
    st_close(g);
    return r->mismatches;
}

#endif
