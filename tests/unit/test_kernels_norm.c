/* Group norm and layer norm: the forward against a reference computed here in double, the backward
 * against finite differences and against a double reference, on SD's shapes in small (groups 1, 4
 * and 32 of 64 channels, batch 2, odd spatial sizes), an input with a mean of 1e3 and a spread of
 * 1e-2, accumulation into given gradients, NULL gradients, thread-count independence, refusals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tests/unit/check.h"
#include "tests/unit/gradcheck.h"

static kctx K;

/* One norm problem: x (B, C, S) for group norm, (N, C) for layer norm; host copies of everything. */
typedef struct norm_case {
    bool layer;
    int ndim, groups;
    int64_t shape[4];
    float eps;
    size_t n, C, spans, span; /* span: values normalised together */
    int64_t S;                /* group norm: values per channel */
    float *x, *gamma, *beta, *r, *y, *stats;
} norm_case;

static void case_init(norm_case *c, bool layer, int ndim, const int64_t *shape, int groups, bool affine,
                      uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->layer = layer;
    c->ndim = ndim;
    c->groups = groups;
    c->eps = 1e-5f;
    memcpy(c->shape, shape, (size_t)ndim * sizeof *shape);
    c->n = 1;
    for (int i = 0; i < ndim; i++)
        c->n *= (size_t)shape[i];
    c->C = (size_t)(layer ? shape[ndim - 1] : shape[1]);
    c->spans = layer ? c->n / c->C : (size_t)shape[0] * (size_t)groups;
    c->span = c->n / c->spans;
    c->S = layer ? 1 : (int64_t)(c->n / ((size_t)shape[0] * c->C));
    c->x = malloc(c->n * sizeof(float));
    c->r = malloc(c->n * sizeof(float));
    c->y = malloc(c->n * sizeof(float));
    c->stats = malloc(2 * c->spans * sizeof(float));
    gc_fill(c->x, c->n, &seed, -2.f, 3.f);
    gc_fill(c->r, c->n, &seed, -1.f, 1.f);
    if (affine) {
        c->gamma = malloc(c->C * sizeof(float));
        c->beta = malloc(c->C * sizeof(float));
        gc_fill(c->gamma, c->C, &seed, 0.5f, 1.5f);
        gc_fill(c->beta, c->C, &seed, -0.5f, 0.5f);
    }
}

static void case_free(norm_case *c)
{
    free(c->x);
    free(c->r);
    free(c->y);
    free(c->stats);
    free(c->gamma);
    free(c->beta);
}

/* The channel of flat element e. */
static size_t case_channel(const norm_case *c, size_t e)
{
    return c->layer ? e % c->C : (e / (size_t)c->S) % c->C;
}

static tensor tensor_from(int ndim, const int64_t *shape, const float *host)
{
    tensor t = k_tensor(&K, K_F32, ndim, shape);
    if (t.data && host)
        k_upload(&K, &t, host);
    return t;
}

static tensor param_from(const norm_case *c, const float *host)
{
    int64_t shape[1] = {(int64_t)c->C};
    return host ? tensor_from(1, shape, host) : (tensor){0};
}

/* Runs the op's forward on the case's host inputs into c->y, c->stats. */
static int case_forward(norm_case *c)
{
    int64_t sshape[2] = {(int64_t)c->spans, 2};
    tensor x = tensor_from(c->ndim, c->shape, c->x), y = tensor_from(c->ndim, c->shape, NULL);
    tensor st = tensor_from(2, sshape, NULL), g = param_from(c, c->gamma), b = param_from(c, c->beta);
    int rc = c->layer ? k_layer_norm_forward(&K, &y, &st, &x, c->gamma ? &g : NULL, c->beta ? &b : NULL, c->eps)
                      : k_group_norm_forward(&K, &y, &st, &x, c->gamma ? &g : NULL, c->beta ? &b : NULL,
                                             c->groups, c->eps);
    if (rc == 0) {
        k_download(&K, &y, c->y);
        k_download(&K, &st, c->stats);
    }
    k_tensor_free(&K, &x);
    k_tensor_free(&K, &y);
    k_tensor_free(&K, &st);
    k_tensor_free(&K, &g);
    k_tensor_free(&K, &b);
    return rc;
}

/* Backward with dy = c->r (after case_forward); each of dx (n), dgamma, dbeta (C) that is non-NULL
 * is uploaded first, accumulated into, and downloaded. */
static int case_backward(norm_case *c, float *dx, float *dgamma, float *dbeta)
{
    int64_t sshape[2] = {(int64_t)c->spans, 2};
    tensor x = tensor_from(c->ndim, c->shape, c->x), dy = tensor_from(c->ndim, c->shape, c->r);
    tensor st = tensor_from(2, sshape, c->stats), g = param_from(c, c->gamma);
    tensor tdx = dx ? tensor_from(c->ndim, c->shape, dx) : (tensor){0};
    tensor tdg = param_from(c, dgamma), tdb = param_from(c, dbeta);
    tensor *pdx = dx ? &tdx : NULL, *pdg = dgamma ? &tdg : NULL, *pdb = dbeta ? &tdb : NULL;
    int rc = c->layer ? k_layer_norm_backward(&K, pdx, pdg, pdb, &dy, &x, &st, c->gamma ? &g : NULL)
                      : k_group_norm_backward(&K, pdx, pdg, pdb, &dy, &x, &st, c->gamma ? &g : NULL,
                                              c->groups);
    if (rc == 0) {
        if (dx)
            k_download(&K, &tdx, dx);
        if (dgamma)
            k_download(&K, &tdg, dgamma);
        if (dbeta)
            k_download(&K, &tdb, dbeta);
    }
    tensor *all[] = {&x, &dy, &st, &g, &tdx, &tdg, &tdb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        k_tensor_free(&K, all[i]);
    return rc;
}

/* ---- the reference, in double ---- */

static void ref_moments(const norm_case *c, size_t t, double *mean, double *rstd)
{
    const float *x = c->x + t * c->span;
    double s = 0, ss = 0;
    for (size_t i = 0; i < c->span; i++)
        s += x[i];
    *mean = s / (double)c->span;
    for (size_t i = 0; i < c->span; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *rstd = 1.0 / sqrt(ss / (double)c->span + c->eps);
}

/* Largest |y - reference| over the case (and of the stats, relative). */
static double ref_forward_error(const norm_case *c, double *stats_rel)
{
    double worst = 0;
    *stats_rel = 0;
    for (size_t t = 0; t < c->spans; t++) {
        double mean, rstd;
        ref_moments(c, t, &mean, &rstd);
        *stats_rel = fmax(*stats_rel, fabs(c->stats[2 * t] - mean) / fmax(fabs(mean), 1e-3));
        *stats_rel = fmax(*stats_rel, fabs(c->stats[2 * t + 1] - rstd) / rstd);
        for (size_t i = t * c->span; i < (t + 1) * c->span; i++) {
            size_t ch = case_channel(c, i);
            double want = (c->x[i] - mean) * rstd * (c->gamma ? c->gamma[ch] : 1) + (c->beta ? c->beta[ch] : 0);
            worst = fmax(worst, fabs(c->y[i] - want));
        }
    }
    return worst;
}

/* dx (n), dgamma, dbeta (C) = the exact gradients for dy = c->r, in double. */
static void ref_backward(const norm_case *c, double *dx, double *dgamma, double *dbeta)
{
    memset(dgamma, 0, c->C * sizeof *dgamma);
    memset(dbeta, 0, c->C * sizeof *dbeta);
    for (size_t t = 0; t < c->spans; t++) {
        double mean, rstd, a = 0, b = 0;
        ref_moments(c, t, &mean, &rstd);
        for (size_t i = t * c->span; i < (t + 1) * c->span; i++) {
            size_t ch = case_channel(c, i);
            double xhat = (c->x[i] - mean) * rstd, g = c->r[i] * (c->gamma ? c->gamma[ch] : 1);
            a += g / (double)c->span;
            b += g * xhat / (double)c->span;
            dgamma[ch] += c->r[i] * xhat;
            dbeta[ch] += c->r[i];
        }
        for (size_t i = t * c->span; i < (t + 1) * c->span; i++) {
            size_t ch = case_channel(c, i);
            double xhat = (c->x[i] - mean) * rstd, g = c->r[i] * (c->gamma ? c->gamma[ch] : 1);
            dx[i] = rstd * (g - a - xhat * b);
        }
    }
}

/* Largest |got - want| / (1 + |want|). */
static double rel_error(const float *got, const double *want, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(got[i] - want[i]) / (1 + fabs(want[i])));
    return worst;
}

/* ---- checks shared by the tests ---- */

static double case_loss(void *ctx)
{
    norm_case *c = ctx;
    if (case_forward(c))
        return NAN;
    return gc_project(c->y, c->r, c->n);
}

/* Forward against the reference; backward against the reference and finite differences. */
static void case_check(norm_case *c, const char *what)
{
    CHECK_INT(case_forward(c), 0);
    double stats_rel, err = ref_forward_error(c, &stats_rel);
    CHECK(err < 2e-6);
    CHECK(stats_rel < 1e-6);
    float *dx = calloc(c->n, sizeof(float)), *dg = calloc(c->C, sizeof(float)), *db = calloc(c->C, sizeof(float));
    double *rdx = malloc(c->n * sizeof(double)), *rdg = malloc(c->C * sizeof(double)),
           *rdb = malloc(c->C * sizeof(double));
    CHECK_INT(case_backward(c, dx, c->gamma ? dg : NULL, c->gamma ? db : NULL), 0);
    ref_backward(c, rdx, rdg, rdb);
    CHECK(rel_error(dx, rdx, c->n) < 1e-5);
    if (c->gamma) {
        CHECK(rel_error(dg, rdg, c->C) < 1e-5);
        CHECK(rel_error(db, rdb, c->C) < 1e-5);
    }
    char name[96];
    snprintf(name, sizeof name, "%s dx", what);
    CHECK(gc_ok(name, gc_compare(c->x, dx, c->n, case_loss, c, 1e-2f, 5e-4, 1e-2, 300)));
    if (c->gamma) {
        snprintf(name, sizeof name, "%s dgamma", what);
        CHECK(gc_ok(name, gc_compare(c->gamma, dg, c->C, case_loss, c, 1e-2f, 5e-4, 1e-2, 64)));
        snprintf(name, sizeof name, "%s dbeta", what);
        CHECK(gc_ok(name, gc_compare(c->beta, db, c->C, case_loss, c, 1e-2f, 5e-4, 1e-2, 64)));
    }
    free(dx);
    free(dg);
    free(db);
    free(rdx);
    free(rdg);
    free(rdb);
}

/* ---- group norm ---- */

static void test_group_norm_groups_1_4_32(void)
{
    int64_t shape[4] = {2, 64, 3, 5};
    int groups[] = {1, 4, 32};
    for (int i = 0; i < 3; i++) {
        norm_case c;
        case_init(&c, false, 4, shape, groups[i], true, 11 + i);
        char what[32];
        snprintf(what, sizeof what, "group_norm g%d", groups[i]);
        case_check(&c, what);
        case_free(&c);
    }
}

/* No gamma and beta (and a (B, C) input with one value per channel, 3-d odd spatial). */
static void test_group_norm_without_affine_and_other_ranks(void)
{
    int64_t s3[3] = {3, 8, 7}, s2[2] = {4, 12};
    norm_case c;
    case_init(&c, false, 3, s3, 2, false, 5);
    case_check(&c, "group_norm no affine");
    case_free(&c);
    case_init(&c, false, 2, s2, 3, true, 6);
    case_check(&c, "group_norm (B, C)");
    case_free(&c);
}

/* SD's VAE uses eps 1e-6; a constant group (variance 0) then gives y = beta, not NaN. */
static void test_group_norm_eps_and_constant_group(void)
{
    int64_t shape[4] = {1, 4, 2, 2};
    norm_case c;
    case_init(&c, false, 4, shape, 2, true, 9);
    c.eps = 1e-6f;
    for (int i = 0; i < 8; i++)
        c.x[i] = 0.25f; /* group 0 constant */
    CHECK_INT(case_forward(&c), 0);
    double stats_rel;
    CHECK(ref_forward_error(&c, &stats_rel) < 1e-6);
    for (int i = 0; i < 8; i++)
        CHECK_NEAR(c.y[i], c.beta[i / 4], 1e-6);
    case_free(&c);
}

/* A mean of 1e3 with a spread of 1e-2: a one-pass float variance would lose every digit. */
static void test_group_norm_large_mean(void)
{
    int64_t shape[4] = {2, 64, 4, 4};
    norm_case c;
    case_init(&c, false, 4, shape, 32, true, 21);
    uint64_t s = 99;
    for (size_t i = 0; i < c.n; i++)
        c.x[i] = (float)(1000.0 + 0.01 * (gc_uniform(&s) - 0.5));
    CHECK_INT(case_forward(&c), 0);
    double stats_rel;
    CHECK(ref_forward_error(&c, &stats_rel) < 1e-5);
    CHECK(stats_rel < 1e-6);
    float *dx = calloc(c.n, sizeof(float)), dg[64] = {0}, db[64] = {0};
    double *rdx = malloc(c.n * sizeof(double)), rdg[64], rdb[64];
    CHECK_INT(case_backward(&c, dx, dg, db), 0);
    ref_backward(&c, rdx, rdg, rdb);
    /* dx is of the order of rstd (~350 here): compare relative to the largest */
    double scale = 0;
    for (size_t i = 0; i < c.n; i++)
        scale = fmax(scale, fabs(rdx[i]));
    double worst = 0;
    for (size_t i = 0; i < c.n; i++)
        worst = fmax(worst, fabs(dx[i] - rdx[i]) / scale);
    CHECK(worst < 1e-5);
    CHECK(rel_error(dg, rdg, 64) < 1e-5);
    CHECK(rel_error(db, rdb, 64) < 1e-5);
    free(dx);
    free(rdx);
    case_free(&c);
}

static void test_group_norm_refuses_groups_not_dividing(void)
{
    int64_t shape[4] = {2, 64, 3, 3}, sshape[3] = {2, 24, 2};
    tensor x = k_tensor(&K, K_F32, 4, shape), y = k_tensor(&K, K_F32, 4, shape);
    tensor st = k_tensor(&K, K_F32, 3, sshape);
    k_zero(&K, &x);
    CHECK_INT(k_group_norm_forward(&K, &y, &st, &x, NULL, NULL, 24, 1e-5f), -1);
    CHECK(strstr(K.msg, "64 channels do not divide into 24 groups") != NULL);
    CHECK_INT(k_group_norm_backward(&K, &x, NULL, NULL, &y, &x, &st, NULL, 24), -1);
    CHECK(strstr(K.msg, "do not divide") != NULL);
    CHECK_INT(k_group_norm_forward(&K, &y, &st, &x, NULL, NULL, 0, 1e-5f), -1);
    /* stats of the wrong size, gamma of the wrong size */
    CHECK_INT(k_group_norm_forward(&K, &y, &st, &x, NULL, NULL, 32, 1e-5f), -1);
    CHECK(strstr(K.msg, "stats") != NULL);
    int64_t s32[3] = {2, 32, 2}, gshape[1] = {63};
    tensor st32 = k_tensor(&K, K_F32, 3, s32), g = k_tensor(&K, K_F32, 1, gshape);
    CHECK_INT(k_group_norm_forward(&K, &y, &st32, &x, &g, NULL, 32, 1e-5f), -1);
    CHECK(strstr(K.msg, "gamma") != NULL);
    CHECK_INT(k_group_norm_forward(&K, &y, &st32, &x, NULL, NULL, 32, 1e-5f), 0);
    tensor *all[] = {&x, &y, &st, &st32, &g};
    for (size_t i = 0; i < 5; i++)
        k_tensor_free(&K, all[i]);
}

/* ---- layer norm ---- */

static void test_layer_norm_rows(void)
{
    int64_t shape[3] = {2, 7, 33}, flat[2] = {5, 768};
    norm_case c;
    case_init(&c, true, 3, shape, 1, true, 31);
    case_check(&c, "layer_norm (2, 7, 33)");
    case_free(&c);
    case_init(&c, true, 2, flat, 1, false, 32);
    case_check(&c, "layer_norm no affine");
    case_free(&c);
}

static void test_layer_norm_large_mean(void)
{
    int64_t shape[2] = {3, 40};
    norm_case c;
    case_init(&c, true, 2, shape, 1, true, 41);
    uint64_t s = 7;
    for (size_t i = 0; i < c.n; i++)
        c.x[i] = (float)(-1000.0 + 0.01 * (gc_uniform(&s) - 0.5));
    CHECK_INT(case_forward(&c), 0);
    double stats_rel;
    CHECK(ref_forward_error(&c, &stats_rel) < 1e-5);
    float dx[120] = {0}, dg[40] = {0}, db[40] = {0};
    double rdx[120], rdg[40], rdb[40], scale = 0, worst = 0;
    CHECK_INT(case_backward(&c, dx, dg, db), 0);
    ref_backward(&c, rdx, rdg, rdb);
    for (int i = 0; i < 120; i++)
        scale = fmax(scale, fabs(rdx[i]));
    for (int i = 0; i < 120; i++)
        worst = fmax(worst, fabs(dx[i] - rdx[i]) / scale);
    CHECK(worst < 1e-5);
    CHECK(rel_error(dg, rdg, 40) < 1e-5);
    case_free(&c);
}

static void test_layer_norm_refuses_bad_shapes(void)
{
    int64_t shape[2] = {4, 10}, sbad[2] = {4, 1}, gbad[1] = {9};
    tensor x = k_tensor(&K, K_F32, 2, shape), y = k_tensor(&K, K_F32, 2, shape);
    tensor st = k_tensor(&K, K_F32, 2, sbad), g = k_tensor(&K, K_F32, 1, gbad);
    k_zero(&K, &x);
    CHECK_INT(k_layer_norm_forward(&K, &y, &st, &x, NULL, NULL, 1e-5f), -1);
    CHECK(strstr(K.msg, "stats") != NULL);
    int64_t sok[2] = {4, 2};
    tensor st2 = k_tensor(&K, K_F32, 2, sok);
    CHECK_INT(k_layer_norm_forward(&K, &y, &st2, &x, &g, NULL, 1e-5f), -1);
    CHECK(strstr(K.msg, "gamma") != NULL);
    CHECK_INT(k_layer_norm_forward(&K, &y, &st2, &x, NULL, NULL, -1.f), -1);
    CHECK_INT(k_layer_norm_backward(&K, &y, &g, NULL, &y, &x, &st2, NULL), -1);
    CHECK(strstr(K.msg, "dgamma") != NULL);
    tensor *all[] = {&x, &y, &st, &g, &st2};
    for (size_t i = 0; i < 5; i++)
        k_tensor_free(&K, all[i]);
}

/* ---- both ---- */

/* Backwards add to what the gradients hold; a NULL gradient is skipped, the others unchanged. */
static void test_backward_accumulates_and_skips_null(void)
{
    int64_t gshape[4] = {2, 8, 3, 1}, lshape[2] = {6, 9};
    for (int layer = 0; layer < 2; layer++) {
        norm_case c;
        case_init(&c, layer, layer ? 2 : 4, layer ? lshape : gshape, 4, true, 51 + layer);
        CHECK_INT(case_forward(&c), 0);
        float *dx0 = calloc(c.n, sizeof(float)), *dx1 = malloc(c.n * sizeof(float));
        float dg0[9] = {0}, db0[9] = {0}, dg1[9], db1[9], dg2[9] = {0};
        uint64_t s = 3;
        gc_fill(dx1, c.n, &s, -1, 1);
        gc_fill(dg1, c.C, &s, -1, 1);
        gc_fill(db1, c.C, &s, -1, 1);
        float *keep = malloc(c.n * sizeof(float)), kg[9], kb[9];
        memcpy(keep, dx1, c.n * sizeof(float));
        memcpy(kg, dg1, sizeof kg);
        memcpy(kb, db1, sizeof kb);
        CHECK_INT(case_backward(&c, dx0, dg0, db0), 0);
        CHECK_INT(case_backward(&c, dx1, dg1, db1), 0);
        for (size_t i = 0; i < c.n; i++)
            CHECK_NEAR(dx1[i], keep[i] + dx0[i], 1e-5);
        for (size_t i = 0; i < c.C; i++) {
            CHECK_NEAR(dg1[i], kg[i] + dg0[i], 1e-5);
            CHECK_NEAR(db1[i], kb[i] + db0[i], 1e-5);
        }
        CHECK_INT(case_backward(&c, NULL, dg2, NULL), 0); /* dgamma alone: the same values */
        CHECK(memcmp(dg2, dg0, c.C * sizeof(float)) == 0);
        CHECK_INT(case_backward(&c, NULL, NULL, NULL), 0);
        free(dx0);
        free(dx1);
        free(keep);
        case_free(&c);
    }
}

/* The same bits for 1 and 3 threads (the parameter sums are reduced in a fixed order). */
static void test_thread_count_does_not_change_bits(void)
{
    int64_t gshape[4] = {3, 64, 5, 7}, lshape[2] = {200, 96};
    for (int layer = 0; layer < 2; layer++) {
        float *out[2][3];
        norm_case c;
        case_init(&c, layer, layer ? 2 : 4, layer ? lshape : gshape, 32, true, 61 + layer);
        for (int run = 0; run < 2; run++) {
            k_free_ctx(&K);
            CHECK_INT(k_init(&K, "cpu", run ? 3 : 1), 0);
            CHECK_INT(case_forward(&c), 0);
            out[run][0] = calloc(c.n, sizeof(float));
            out[run][1] = calloc(c.C, sizeof(float));
            out[run][2] = calloc(c.C, sizeof(float));
            CHECK_INT(case_backward(&c, out[run][0], out[run][1], out[run][2]), 0);
        }
        CHECK(memcmp(out[0][0], out[1][0], c.n * sizeof(float)) == 0);
        CHECK(memcmp(out[0][1], out[1][1], c.C * sizeof(float)) == 0);
        CHECK(memcmp(out[0][2], out[1][2], c.C * sizeof(float)) == 0);
        for (int i = 0; i < 6; i++)
            free(out[i / 3][i % 3]);
        case_free(&c);
    }
    k_free_ctx(&K);
    k_init(&K, "cpu", 0);
}

int main(void)
{
    if (k_init(&K, "cpu", 0)) {
        fprintf(stderr, "k_init: %s\n", K.msg);
        return 1;
    }
    RUN(test_group_norm_groups_1_4_32);
    RUN(test_group_norm_without_affine_and_other_ranks);
    RUN(test_group_norm_eps_and_constant_group);
    RUN(test_group_norm_large_mean);
    RUN(test_group_norm_refuses_groups_not_dividing);
    RUN(test_layer_norm_rows);
    RUN(test_layer_norm_large_mean);
    RUN(test_layer_norm_refuses_bad_shapes);
    RUN(test_backward_accumulates_and_skips_null);
    RUN(test_thread_count_does_not_change_bits);
    k_free_ctx(&K);
    return check_finish();
}
