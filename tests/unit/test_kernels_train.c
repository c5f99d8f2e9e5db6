/* Loss, optimiser and random numbers: MSE against a loop written here and its backward against
 * central differences; AdamW against a 3-step sequence worked out by hand (torch.optim.AdamW's
 * order: decay, moments, bias-corrected step); sum of squares; Philox against Random123's
 * known answers, and randn/rand_uniform the same bits for 1 and 2 threads with the right moments. */
#include "tests/unit/check.h"
#include "tests/unit/gradcheck.h"
#include "tests/unit/kernels_test.h"
#include "kernels/cpu/cpu_ops.h" /* cpu_philox4x32_10 */

static kctx K;

#define FREE_ALL(...) do { kt_buf *all_[] = {__VA_ARGS__}; \
    for (size_t i_ = 0; i_ < sizeof all_ / sizeof *all_; i_++) kt_free(&K, all_[i_]); } while (0)

/* ---- MSE ---- */

typedef struct mse_case {
    kt_buf pred, target;
    const float *w;
    float scale;
} mse_case;

static double mse_loss(void *p)
{
    mse_case *c = p;
    float loss = NAN;
    kt_up(&K, &c->pred);
    CHECK_INT(k_mse_forward(&K, &loss, &c->pred.t, &c->target.t, c->w), 0);
    return (double)c->scale * loss;
}

/* kohya: loss.mean([1, 2, 3]) * weights, then .mean() */
static double mse_ref(const float *p, const float *t, const float *w, int B, int M)
{
    double total = 0;
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int i = 0; i < M; i++)
            s += ((double)p[b * M + i] - t[b * M + i]) * ((double)p[b * M + i] - t[b * M + i]);
        total += (w ? w[b] : 1.0) * s / M;
    }
    return total / B;
}

static void mse_case_run(const float *w, float scale)
{
    uint64_t s = 17;
    int B = 3, C = 2, H = 3, W = 5, M = C * H * W;
    mse_case c = {kt_new(&K, B, C, H, W), kt_new(&K, B, C, H, W), w, scale};
    kt_fill(&K, &c.pred, &s, -1, 1);
    kt_fill(&K, &c.target, &s, -1, 1);
    double want = mse_ref(c.pred.h, c.target.h, w, B, M);
    CHECK_NEAR(mse_loss(&c) / scale, want, 1e-6 * want);
    kt_buf d = kt_new(&K, B, C, H, W);
    float *g0 = kt_grad_start(&K, &d, &s);
    CHECK_INT(k_mse_backward(&K, &d.t, &c.pred.t, &c.target.t, w, scale), 0);
    CHECK(kt_grad_ok(&K, w ? "mse dpred (weighted)" : "mse dpred", &c.pred, &d, g0, mse_loss, &c, 5e-2f,
                     2e-6, 1e-3));
    FREE_ALL(&c.pred, &c.target, &d);
}

static void test_mse(void)
{
    static const float w[3] = {1.0f, 0.25f, 2.0f}; /* e.g. prior_loss_weight, min-SNR weights */
    mse_case_run(NULL, 1.0f);
    mse_case_run(w, 1.0f);
    mse_case_run(w, 0.5f); /* grad_scale: gradient accumulation's 1/steps */
}

/* ---- AdamW ---- */

/* Three parameters, three steps. By hand, step 1 of config A for p = 1, g = 0.5:
 *   decay p = 1 * (1 - 0.1 * 0.01) = 0.999; m = 0.05, v = 0.001 * 0.25 = 0.00025;
 *   bc1 = 0.1, bc2 = 0.001; denom = sqrt(0.00025) / sqrt(0.001) + 1e-8 = 0.5 + 1e-8;
 *   p = 0.999 - (0.1 / 0.1) * 0.05 / denom = 0.899000002.
 * Config B has eps 0.1, large enough that putting eps inside the bias correction (or inside the
 * square root) would change the numbers; the third parameter has g = 0 throughout, so only the
 * decoupled decay moves it. Later steps were computed the same way (in double). */
static void adamw_case(float lr, float b1, float b2, float eps, float wd, const double want[3][3])
{
    static const float grads[3][3] = {{0.5f, -0.1f, 0.0f}, {-0.25f, 0.2f, 0.0f}, {1.0f, 0.0f, 0.0f}};
    kt_buf p = kt_new(&K, 3, 0, 0, 0), g = kt_new(&K, 3, 0, 0, 0), m = kt_new(&K, 3, 0, 0, 0),
           v = kt_new(&K, 3, 0, 0, 0);
    p.h[0] = 1.0f, p.h[1] = -0.5f, p.h[2] = 2.0f;
    kt_up(&K, &p);
    for (int t = 1; t <= 3; t++) {
        memcpy(g.h, grads[t - 1], sizeof grads[0]);
        kt_up(&K, &g);
        CHECK_INT(k_adamw(&K, &p.t, &g.t, &m.t, &v.t, t, lr, b1, b2, eps, wd), 0);
        kt_down(&K, &p);
        CHECK(kt_close("adamw step", p.h, want[t - 1], 3, 1e-6, 1e-6));
    }
    FREE_ALL(&p, &g, &m, &v);
}

static void test_adamw(void)
{
    static const double a[3][3] = {{0.899000002, -0.39950001, 1.998},
                                   {0.871467299, -0.43571086, 1.996002},
                                   {0.804784672, -0.463575056, 1.994006}};
    static const double b[3][3] = {{0.991666667, -0.495, 2},
                                   {0.989982104, -0.497580458, 2},
                                   {0.983968835, -0.499298787, 2}};
    adamw_case(0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, a);
    adamw_case(0.01f, 0.8f, 0.99f, 0.1f, 0.0f, b);
}

/* ---- sum of squares ---- */

static void test_sum_squares(void)
{
    kctx one;
    CHECK_INT(k_init(&one, "cpu", 1), 0);
    uint64_t s = 3;
    kt_buf g = kt_new(&K, 200001, 0, 0, 0); /* several partial-sum blocks, a ragged last one */
    kt_fill(&K, &g, &s, -2, 2);
    double want = 0;
    for (size_t i = 0; i < g.n; i++)
        want += (double)g.h[i] * g.h[i];
    double got2 = k_sum_squares(&K, &g.t), got1 = k_sum_squares(&one, &g.t);
    CHECK_NEAR(got2, want, 1e-9 * want);
    CHECK(memcmp(&got1, &got2, sizeof got1) == 0); /* the same bits for any thread count */
    tensor bad = {0};
    CHECK(isnan(k_sum_squares(&K, &bad)) && strstr(K.msg, "sum_squares"));
    kt_free(&K, &g);
    k_free_ctx(&one);
}

/* ---- random numbers ---- */

/* Random123's kat_vectors for philox4x32 10. */
static void test_philox_known_answers(void)
{
    static const uint32_t cases[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        cpu_philox4x32_10(out, cases[i], cases[i] + 4);
        CHECK(memcmp(out, cases[i] + 6, sizeof out) == 0);
    }
}

static void moments(const float *x, size_t n, double *mean, double *std)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i], s2 += (double)x[i] * x[i];
    *mean = s / n;
    *std = sqrt(s2 / n - *mean * *mean);
}

static void test_randn(void)
{
    kctx one;
    CHECK_INT(k_init(&one, "cpu", 1), 0);
    size_t n = 100003; /* not a multiple of 4, and enough blocks for both threads */
    kt_buf a = kt_new(&K, (int64_t)n, 0, 0, 0), b = kt_new(&K, (int64_t)n, 0, 0, 0);
    k_rng r2 = {1234, 10}, r1 = {1234, 10};
    CHECK_INT(k_randn(&K, &a.t, &r2, 2.0f, 3.0f), 0);
    CHECK_INT(k_randn(&one, &b.t, &r1, 2.0f, 3.0f), 0);
    kt_down(&K, &a);
    kt_down(&K, &b);
    CHECK(memcmp(a.h, b.h, n * sizeof(float)) == 0);
    CHECK(r2.offset == 10 + (n + 3) / 4 && r1.offset == r2.offset);
    double mean, std;
    moments(a.h, n, &mean, &std);
    CHECK_NEAR(mean, 2.0, 0.05); /* 5 standard errors: 3 / sqrt(n) ~ 0.0095 */
    CHECK_NEAR(std, 3.0, 0.04);

    /* the next fill continues the stream: different numbers; a new seed too */
    CHECK_INT(k_randn(&K, &b.t, &r2, 0.0f, 1.0f), 0);
    kt_down(&K, &b);
    CHECK(memcmp(a.h, b.h, 64) != 0);
    moments(b.h, n, &mean, &std);
    CHECK_NEAR(mean, 0.0, 0.016);
    CHECK_NEAR(std, 1.0, 0.013);

    /* two fills of 4k and m elements = one fill of 4k + m: each value depends on (seed, index) */
    kt_buf head = kt_new(&K, 400, 0, 0, 0), tail = kt_new(&K, 37, 0, 0, 0), all = kt_new(&K, 437, 0, 0, 0);
    k_rng s1 = {99, 0}, s2 = {99, 0};
    k_randn(&K, &head.t, &s1, 0, 1);
    k_randn(&K, &tail.t, &s1, 0, 1);
    k_randn(&K, &all.t, &s2, 0, 1);
    kt_down(&K, &head), kt_down(&K, &tail), kt_down(&K, &all);
    CHECK(memcmp(all.h, head.h, 400 * 4) == 0 && memcmp(all.h + 400, tail.h, 37 * 4) == 0);
    FREE_ALL(&a, &b, &head, &tail, &all);
    k_free_ctx(&one);
}

static void test_rand_uniform(void)
{
    kctx one;
    CHECK_INT(k_init(&one, "cpu", 1), 0);
    size_t n = 65537;
    kt_buf a = kt_new(&K, (int64_t)n, 0, 0, 0), b = kt_new(&K, (int64_t)n, 0, 0, 0);
    k_rng r2 = {7, 0}, r1 = {7, 0};
    CHECK_INT(k_rand_uniform(&K, &a.t, &r2, -1.0f, 3.0f), 0);
    CHECK_INT(k_rand_uniform(&one, &b.t, &r1, -1.0f, 3.0f), 0);
    kt_down(&K, &a), kt_down(&K, &b);
    CHECK(memcmp(a.h, b.h, n * sizeof(float)) == 0);
    float lo = a.h[0], hi = a.h[0];
    for (size_t i = 0; i < n; i++)
        lo = fminf(lo, a.h[i]), hi = fmaxf(hi, a.h[i]);
    CHECK(lo >= -1.0f && hi < 3.0f && lo < -0.99f && hi > 2.99f);
    double mean, std;
    moments(a.h, n, &mean, &std);
    CHECK_NEAR(mean, 1.0, 0.03);            /* std of the mean: 4 / sqrt(12 n) ~ 0.0045 */
    CHECK_NEAR(std, 4.0 / sqrt(12.0), 0.02);
    FREE_ALL(&a, &b);
    k_free_ctx(&one);
}

/* ---- refusals ---- */

static void test_refusals(void)
{
    kt_buf p = kt_new(&K, 2, 3, 0, 0), q = kt_new(&K, 3, 2, 0, 0), m = kt_new(&K, 2, 3, 0, 0);
    float loss;
    float w[2] = {1, NAN};
    CHECK(kt_refused(&K, k_mse_forward(&K, &loss, &p.t, &q.t, NULL), "mse", "target is (3, 2), pred is (2, 3)"));
    CHECK(kt_refused(&K, k_mse_forward(&K, &loss, &p.t, &m.t, w), "mse", "not finite"));
    CHECK(kt_refused(&K, k_mse_backward(&K, &q.t, &p.t, &m.t, NULL, 1), "mse backward", "dpred"));
    CHECK(kt_refused(&K, k_adamw(&K, &p.t, &q.t, &m.t, &m.t, 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0), "adamw", "g is (3, 2)"));
    CHECK(kt_refused(&K, k_adamw(&K, &p.t, &m.t, &m.t, &m.t, 0, 1e-3f, 0.9f, 0.999f, 1e-8f, 0), "adamw", "step 0"));
    CHECK(kt_refused(&K, k_adamw(&K, &p.t, &m.t, &m.t, &m.t, 1, 1e-3f, 1.0f, 0.999f, 1e-8f, 0), "adamw", "betas"));
    CHECK(kt_refused(&K, k_randn(&K, &p.t, NULL, 0, 1), "randn", "rng"));
    tensor half = k_tensor(&K, K_BF16, 1, (int64_t[]){4});
    k_rng r = {0, 0};
    CHECK(kt_refused(&K, k_randn(&K, &half, &r, 0, 1), "randn", "not f32"));
    k_tensor_free(&K, &half);
    FREE_ALL(&p, &q, &m);
}

int main(void)
{
    if (k_init(&K, "cpu", 2) != 0) {
        fprintf(stderr, "k_init: %s\n", K.msg);
        return 1;
    }
    RUN(test_mse);
    RUN(test_adamw);
    RUN(test_sum_squares);
    RUN(test_philox_known_answers);
    RUN(test_randn);
    RUN(test_rand_uniform);
    RUN(test_refusals);
    k_free_ctx(&K);
    return check_finish();
}
