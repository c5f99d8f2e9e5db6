/* Multi-head attention: the forward (out and lse) against a reference written here that
 * materialises the softmax in double, the backward against the same reference and against finite
 * differences, on the shapes that cross the kernel's 64 x 64 tiles: batch 2, odd lengths (7, 77),
 * cross-attention (Tq != Tk, Tk = 77), heads 1 and 3, odd and > 64 head dims, causal on and off,
 * causal with Tq != Tk, logits near 80; plus accumulation, NULL gradients, thread-count
 * independence and refusals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tests/unit/check.h"
#include "tests/unit/gradcheck.h"

static kctx K;

/* fp32 against double: the kernels' errors are ~1e-7 here; 1e-6 leaves room and still catches a
 * wrong backward by orders of magnitude. */
#define TOL 1e-6

typedef struct attn_case {
    int64_t B, Tq, Tk, H, D, C;
    float scale;
    bool causal;
    size_t nq, nk, nl;                    /* numel of q (and out), k (and v), lse */
    float *q, *k, *v, *r, *out, *lse;     /* r: dout, and the projection of the FD loss */
} attn_case;

static void case_init(attn_case *c, int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t D, bool causal,
                      uint64_t seed)
{
    *c = (attn_case){.B = B, .Tq = Tq, .Tk = Tk, .H = H, .D = D, .C = H * D, .causal = causal,
                     .scale = (float)(1.0 / sqrt((double)D))};
    c->nq = (size_t)(B * Tq * c->C);
    c->nk = (size_t)(B * Tk * c->C);
    c->nl = (size_t)(B * H * Tq);
    c->q = malloc(c->nq * sizeof(float));
    c->r = malloc(c->nq * sizeof(float));
    c->out = malloc(c->nq * sizeof(float));
    c->k = malloc(c->nk * sizeof(float));
    c->v = malloc(c->nk * sizeof(float));
    c->lse = malloc(c->nl * sizeof(float));
    gc_fill(c->q, c->nq, &seed, -1.5f, 1.5f);
    gc_fill(c->k, c->nk, &seed, -1.5f, 1.5f);
    gc_fill(c->v, c->nk, &seed, -1.f, 1.f);
    gc_fill(c->r, c->nq, &seed, -1.f, 1.f);
}

static void case_free(attn_case *c)
{
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->r);
    free(c->out);
    free(c->lse);
}

static tensor tensor3(int64_t a, int64_t b, int64_t d, const float *host)
{
    int64_t shape[3] = {a, b, d};
    tensor t = k_tensor(&K, K_F32, 3, shape);
    if (t.data && host)
        k_upload(&K, &t, host);
    return t;
}

static void tensors_free(tensor **all, size_t n)
{
    for (size_t i = 0; i < n; i++)
        k_tensor_free(&K, all[i]);
}

/* c->out, c->lse from the kernel. */
static int case_forward(attn_case *c)
{
    tensor q = tensor3(c->B, c->Tq, c->C, c->q), kk = tensor3(c->B, c->Tk, c->C, c->k);
    tensor v = tensor3(c->B, c->Tk, c->C, c->v), out = tensor3(c->B, c->Tq, c->C, NULL);
    tensor lse = tensor3(c->B, c->H, c->Tq, NULL);
    int rc = k_attention_forward(&K, &out, &lse, &q, &kk, &v, (int)c->H, c->scale, c->causal);
    if (rc == 0) {
        k_download(&K, &out, c->out);
        k_download(&K, &lse, c->lse);
    }
    tensor *all[] = {&q, &kk, &v, &out, &lse};
    tensors_free(all, 5);
    return rc;
}

/* Backward with dout = c->r after case_forward; dq (nq), dk, dv (nk) accumulated into, or NULL. */
static int case_backward(attn_case *c, float *dq, float *dk, float *dv)
{
    tensor q = tensor3(c->B, c->Tq, c->C, c->q), kk = tensor3(c->B, c->Tk, c->C, c->k);
    tensor v = tensor3(c->B, c->Tk, c->C, c->v), out = tensor3(c->B, c->Tq, c->C, c->out);
    tensor lse = tensor3(c->B, c->H, c->Tq, c->lse), dout = tensor3(c->B, c->Tq, c->C, c->r);
    tensor tdq = dq ? tensor3(c->B, c->Tq, c->C, dq) : (tensor){0};
    tensor tdk = dk ? tensor3(c->B, c->Tk, c->C, dk) : (tensor){0};
    tensor tdv = dv ? tensor3(c->B, c->Tk, c->C, dv) : (tensor){0};
    int rc = k_attention_backward(&K, dq ? &tdq : NULL, dk ? &tdk : NULL, dv ? &tdv : NULL, &dout, &out,
                                  &lse, &q, &kk, &v, (int)c->H, c->scale, c->causal);
    if (rc == 0) {
        if (dq)
            k_download(&K, &tdq, dq);
        if (dk)
            k_download(&K, &tdk, dk);
        if (dv)
            k_download(&K, &tdv, dv);
    }
    tensor *all[] = {&q, &kk, &v, &out, &lse, &dout, &tdq, &tdk, &tdv};
    tensors_free(all, 9);
    return rc;
}

/* ---- the reference: the whole softmax row in double ---- */

typedef struct attn_ref {
    double *out, *lse, *dq, *dk, *dv;
} attn_ref;

/* Row i of head h of item b: p (Tk) = softmax, returns the log-sum-exp. */
static double ref_row(const attn_case *c, int64_t b, int64_t h, int64_t i, double *p)
{
    const float *q = c->q + (b * c->Tq + i) * c->C + h * c->D;
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < c->Tk; j++) {
        const float *kk = c->k + (b * c->Tk + j) * c->C + h * c->D;
        double s = 0;
        for (int64_t d = 0; d < c->D; d++)
            s += (double)q[d] * kk[d];
        p[j] = c->causal && j > i ? -INFINITY : s * c->scale;
        mx = fmax(mx, p[j]);
    }
    for (int64_t j = 0; j < c->Tk; j++)
        sum += p[j] = exp(p[j] - mx);
    for (int64_t j = 0; j < c->Tk; j++)
        p[j] /= sum;
    return mx + log(sum);
}

/* One row's backward: dq row, dk and dv rows (+=) for dout row g, probabilities p. */
static void ref_row_backward(const attn_case *c, const attn_ref *ref, int64_t b, int64_t h, int64_t i,
                             const double *p, double *dp)
{
    int64_t D = c->D, qo = (b * c->Tq + i) * c->C + h * D;
    const float *g = c->r + qo;
    double dvec = 0;
    for (int64_t j = 0; j < c->Tk; j++) {
        const float *v = c->v + (b * c->Tk + j) * c->C + h * D;
        dp[j] = 0;
        for (int64_t d = 0; d < D; d++)
            dp[j] += (double)g[d] * v[d];
        dvec += p[j] * dp[j];
    }
    for (int64_t j = 0; j < c->Tk; j++) {
        int64_t ko = (b * c->Tk + j) * c->C + h * D;
        double ds = p[j] * (dp[j] - dvec) * c->scale;
        for (int64_t d = 0; d < D; d++) {
            ref->dq[qo + d] += ds * c->k[ko + d];
            ref->dk[ko + d] += ds * c->q[qo + d];
            ref->dv[ko + d] += p[j] * g[d];
        }
    }
}

static attn_ref ref_compute(const attn_case *c)
{
    attn_ref ref = {calloc(c->nq, sizeof(double)), calloc(c->nl, sizeof(double)),
                    calloc(c->nq, sizeof(double)), calloc(c->nk, sizeof(double)),
                    calloc(c->nk, sizeof(double))};
    double *p = malloc(c->Tk * sizeof(double)), *dp = malloc(c->Tk * sizeof(double));
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->H; h++)
            for (int64_t i = 0; i < c->Tq; i++) {
                ref.lse[(b * c->H + h) * c->Tq + i] = ref_row(c, b, h, i, p);
                for (int64_t j = 0; j < c->Tk; j++)
                    for (int64_t d = 0; d < c->D; d++)
                        ref.out[(b * c->Tq + i) * c->C + h * c->D + d] +=
                            p[j] * c->v[(b * c->Tk + j) * c->C + h * c->D + d];
                ref_row_backward(c, &ref, b, h, i, p, dp);
            }
    free(p);
    free(dp);
    return ref;
}

static void ref_free(attn_ref *r)
{
    free(r->out);
    free(r->lse);
    free(r->dq);
    free(r->dk);
    free(r->dv);
}

/* Largest |got - want| / (1 + |want|). */
static double rel_error(const float *got, const double *want, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(got[i] - want[i]) / (1 + fabs(want[i])));
    return worst;
}

/* ---- the checks every shape gets ---- */

static double case_loss(void *ctx)
{
    attn_case *c = ctx;
    return case_forward(c) ? NAN : gc_project(c->out, c->r, c->nq);
}

/* Forward and backward against the reference (errors within tol, relative to 1 + |value|); with
 * fd, the backward against finite differences too. */
static void case_check(attn_case *c, const char *what, double tol, bool fd)
{
    attn_ref ref = ref_compute(c);
    CHECK_INT(case_forward(c), 0);
    CHECK(rel_error(c->out, ref.out, c->nq) < tol);
    CHECK(rel_error(c->lse, ref.lse, c->nl) < tol);
    float *dq = calloc(c->nq, sizeof(float)), *dk = calloc(c->nk, sizeof(float)), *dv = calloc(c->nk, sizeof(float));
    CHECK_INT(case_backward(c, dq, dk, dv), 0);
    CHECK(rel_error(dq, ref.dq, c->nq) < tol);
    CHECK(rel_error(dk, ref.dk, c->nk) < tol);
    CHECK(rel_error(dv, ref.dv, c->nk) < tol);
    if (fd) {
        char name[96];
        snprintf(name, sizeof name, "%s dq", what);
        CHECK(gc_ok(name, gc_compare(c->q, dq, c->nq, case_loss, c, 1e-2f, 3e-4, 1e-2, 120)));
        snprintf(name, sizeof name, "%s dk", what);
        CHECK(gc_ok(name, gc_compare(c->k, dk, c->nk, case_loss, c, 1e-2f, 3e-4, 1e-2, 120)));
        snprintf(name, sizeof name, "%s dv", what);
        CHECK(gc_ok(name, gc_compare(c->v, dv, c->nk, case_loss, c, 1e-2f, 3e-4, 1e-2, 120)));
    }
    free(dq);
    free(dk);
    free(dv);
    ref_free(&ref);
}

/* ---- shapes ---- */

/* CLIP-like self-attention in small: T = 7, 3 heads of odd dim 5, causal off and on. */
static void test_self_attention_odd_sizes(void)
{
    for (int causal = 0; causal < 2; causal++) {
        attn_case c;
        case_init(&c, 2, 7, 7, 3, 5, causal, 100 + causal);
        case_check(&c, causal ? "self T7 causal" : "self T7", TOL, true);
        case_free(&c);
    }
}

/* SpatialTransformer's cross-attention: Tq != Tk with Tk = 77 (two key tiles), heads 1 and 3. */
static void test_cross_attention_tk_77(void)
{
    int heads[2] = {1, 3};
    for (int i = 0; i < 2; i++) {
        attn_case c;
        case_init(&c, 2, 9, 77, heads[i], 7, false, 200 + i);
        case_check(&c, heads[i] == 1 ? "cross 9x77 h1" : "cross 9x77 h3", TOL, true);
        case_free(&c);
    }
}

/* CLIP's length: 77 queries and keys, causal, so the diagonal crosses tile boundaries. */
static void test_causal_t77_across_tiles(void)
{
    attn_case c;
    case_init(&c, 2, 77, 77, 3, 4, true, 300);
    case_check(&c, "causal T77", TOL, true);
    case_free(&c);
    case_init(&c, 1, 77, 77, 3, 4, false, 301);
    case_check(&c, "self T77", TOL, false);
    case_free(&c);
}

/* Causal with Tq > Tk (late queries see every key) and Tq < Tk (late keys are seen by no query). */
static void test_causal_tq_ne_tk(void)
{
    attn_case c;
    case_init(&c, 1, 130, 70, 2, 3, true, 400);
    case_check(&c, "causal 130x70", TOL, true);
    case_free(&c);
    case_init(&c, 2, 70, 130, 2, 3, true, 401);
    case_check(&c, "causal 70x130", TOL, true);
    case_free(&c);
}

/* A head dim over 64 (the VAE's single head is 512): each BLAS call is cut into pieces. */
static void test_head_dim_over_64(void)
{
    attn_case c;
    case_init(&c, 1, 70, 66, 2, 130, false, 500);
    case_check(&c, "D130", TOL, false);
    case_free(&c);
    case_init(&c, 1, 66, 66, 1, 65, true, 501);
    case_check(&c, "D65 causal", TOL, true);
    case_free(&c);
}

/* scale * q.k near 80 (exp(80) is within 2^127 of overflow, exp(89) overflows): no inf, no NaN, the
 * same values as the double reference. Rows are nearly one-hot, which the backward must survive. */
static void test_large_logits(void)
{
    attn_case c;
    case_init(&c, 1, 70, 70, 1, 8, false, 600);
    c.scale = 1.f;
    uint64_t s = 5;
    for (size_t i = 0; i < c.nq; i++)
        c.q[i] = (float)(3.2 * (gc_uniform(&s) < 0.5 ? -1 : 1));
    for (size_t i = 0; i < c.nk; i++)
        c.k[i] = (float)(3.2 * (gc_uniform(&s) < 0.5 ? -1 : 1) * (0.9 + 0.1 * gc_uniform(&s)));
    memcpy(c.k, c.q, 8 * 10 * sizeof(float)); /* some keys equal to queries: logits of ~82 */
    attn_ref ref = ref_compute(&c);
    double top = 0;
    for (size_t i = 0; i < c.nl; i++)
        top = fmax(top, ref.lse[i]);
    CHECK(top > 75 && top < 90);
    ref_free(&ref);
    CHECK_INT(case_forward(&c), 0);
    int finite = 1;
    for (size_t i = 0; i < c.nq; i++)
        finite &= isfinite(c.out[i]);
    CHECK(finite);
    /* a logit of 80 is rounded to ~5e-6 in fp32, and exp turns that into a relative error of p */
    case_check(&c, "large logits", 1e-4, false);
    case_free(&c);
}

/* ---- contract ---- */

/* Gradients are added to; NULL ones are skipped without changing the others; lse is optional in
 * the forward. */
static void test_accumulates_null_and_optional_lse(void)
{
    attn_case c;
    case_init(&c, 2, 9, 70, 3, 5, false, 700);
    CHECK_INT(case_forward(&c), 0);
    float *dq0 = calloc(c.nq, sizeof(float)), *dk0 = calloc(c.nk, sizeof(float)), *dv0 = calloc(c.nk, sizeof(float));
    float *dq1 = malloc(c.nq * sizeof(float)), *dv1 = malloc(c.nk * sizeof(float));
    float *dk2 = calloc(c.nk, sizeof(float)), *dv2 = calloc(c.nk, sizeof(float));
    uint64_t s = 1;
    gc_fill(dq1, c.nq, &s, -1, 1);
    gc_fill(dv1, c.nk, &s, -1, 1);
    float *kq = malloc(c.nq * sizeof(float)), *kv = malloc(c.nk * sizeof(float));
    memcpy(kq, dq1, c.nq * sizeof(float));
    memcpy(kv, dv1, c.nk * sizeof(float));
    CHECK_INT(case_backward(&c, dq0, dk0, dv0), 0);
    CHECK_INT(case_backward(&c, dq1, NULL, dv1), 0);
    for (size_t i = 0; i < c.nq; i++)
        CHECK_NEAR(dq1[i], kq[i] + dq0[i], 1e-5);
    for (size_t i = 0; i < c.nk; i++)
        CHECK_NEAR(dv1[i], kv[i] + dv0[i], 1e-5);
    CHECK_INT(case_backward(&c, NULL, dk2, NULL), 0);
    CHECK(memcmp(dk2, dk0, c.nk * sizeof(float)) == 0);
    CHECK_INT(case_backward(&c, NULL, NULL, dv2), 0);
    CHECK(memcmp(dv2, dv0, c.nk * sizeof(float)) == 0);
    CHECK_INT(case_backward(&c, NULL, NULL, NULL), 0);

    tensor q = tensor3(c.B, c.Tq, c.C, c.q), kk = tensor3(c.B, c.Tk, c.C, c.k);
    tensor v = tensor3(c.B, c.Tk, c.C, c.v), out = tensor3(c.B, c.Tq, c.C, NULL);
    CHECK_INT(k_attention_forward(&K, &out, NULL, &q, &kk, &v, 3, c.scale, false), 0);
    k_download(&K, &out, dq1);
    CHECK(memcmp(dq1, c.out, c.nq * sizeof(float)) == 0);
    tensor *all[] = {&q, &kk, &v, &out};
    tensors_free(all, 4);
    float *frees[] = {dq0, dk0, dv0, dq1, dv1, dk2, dv2, kq, kv};
    for (int i = 0; i < 9; i++)
        free(frees[i]);
    case_free(&c);
}

/* The same bits for 1 and 3 threads: every task writes only its own rows. */
static void test_thread_count_does_not_change_bits(void)
{
    attn_case c;
    case_init(&c, 2, 150, 150, 2, 6, true, 800);
    float *got[2][4];
    for (int run = 0; run < 2; run++) {
        k_free_ctx(&K);
        CHECK_INT(k_init(&K, "cpu", run ? 3 : 1), 0);
        CHECK_INT(case_forward(&c), 0);
        got[run][0] = malloc(c.nq * sizeof(float));
        memcpy(got[run][0], c.out, c.nq * sizeof(float));
        got[run][1] = calloc(c.nq, sizeof(float));
        got[run][2] = calloc(c.nk, sizeof(float));
        got[run][3] = calloc(c.nk, sizeof(float));
        CHECK_INT(case_backward(&c, got[run][1], got[run][2], got[run][3]), 0);
    }
    size_t n[4] = {c.nq, c.nq, c.nk, c.nk};
    for (int i = 0; i < 4; i++) {
        CHECK(memcmp(got[0][i], got[1][i], n[i] * sizeof(float)) == 0);
        free(got[0][i]);
        free(got[1][i]);
    }
    case_free(&c);
    k_free_ctx(&K);
    k_init(&K, "cpu", 0);
}

static void test_refuses_bad_shapes(void)
{
    tensor q = tensor3(2, 5, 12, NULL), kk = tensor3(2, 7, 12, NULL), v = tensor3(2, 7, 12, NULL);
    tensor out = tensor3(2, 5, 12, NULL), lse = tensor3(2, 3, 5, NULL), k8 = tensor3(2, 7, 8, NULL);
    tensor lse_bad = tensor3(2, 3, 7, NULL), v_bad = tensor3(2, 6, 12, NULL);
    CHECK_INT(k_attention_forward(&K, &out, &lse, &q, &kk, &v, 5, 1.f, false), -1);
    CHECK(strstr(K.msg, "12 channels do not divide into 5 heads") != NULL);
    CHECK_INT(k_attention_forward(&K, &out, &lse, &q, &k8, &v, 3, 1.f, false), -1);
    CHECK(strstr(K.msg, "must match") != NULL);
    CHECK_INT(k_attention_forward(&K, &out, &lse, &q, &kk, &v_bad, 3, 1.f, false), -1);
    CHECK_INT(k_attention_forward(&K, &out, &lse_bad, &q, &kk, &v, 3, 1.f, false), -1);
    CHECK(strstr(K.msg, "lse") != NULL);
    CHECK_INT(k_attention_forward(&K, &kk, &lse, &q, &kk, &v, 3, 1.f, false), -1);
    CHECK_INT(k_attention_forward(&K, &out, &lse, &q, &kk, &v, 3, NAN, false), -1);
    CHECK_INT(k_attention_backward(&K, NULL, &q, NULL, &out, &out, &lse, &q, &kk, &v, 3, 1.f, false), -1);
    CHECK(strstr(K.msg, "dk") != NULL);
    CHECK_INT(k_attention_backward(&K, NULL, NULL, NULL, &out, &out, NULL, &q, &kk, &v, 3, 1.f, false), -1);
    tensor *all[] = {&q, &kk, &v, &out, &lse, &k8, &lse_bad, &v_bad};
    tensors_free(all, 8);
}

int main(void)
{
    if (k_init(&K, "cpu", 0)) {
        fprintf(stderr, "k_init: %s\n", K.msg);
        return 1;
    }
    RUN(test_self_attention_odd_sizes);
    RUN(test_cross_attention_tk_77);
    RUN(test_causal_t77_across_tiles);
    RUN(test_causal_tq_ne_tk);
    RUN(test_head_dim_over_64);
    RUN(test_large_logits);
    RUN(test_accumulates_null_and_optional_lse);
    RUN(test_thread_count_does_not_change_bits);
    RUN(test_refuses_bad_shapes);
    k_free_ctx(&K);
    return check_finish();
}
