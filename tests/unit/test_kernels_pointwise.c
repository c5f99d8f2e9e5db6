/* Activations, GEGLU, adds, axpby, concat, upsample and the NCHW <-> NLC permutes: forwards against
 * loops written here in double, backwards against central differences, refusals of wrong shapes. */
#include "tests/unit/check.h"
#include "tests/unit/gradcheck.h"
#include "tests/unit/kernels_test.h"

static kctx K;

#define FREE_ALL(...) do { kt_buf *all_[] = {__VA_ARGS__}; \
    for (size_t i_ = 0; i_ < sizeof all_ / sizeof *all_; i_++) kt_free(&K, all_[i_]); } while (0)

/* ---- activations ---- */

static double act_ref(k_act act, double x)
{
    switch (act) {
    case K_SILU:
        return x / (1 + exp(-x));
    case K_GELU: /* 0.5 x (1 + erf(x / sqrt 2)), through erfc to keep the left tail's digits */
        return 0.5 * x * erfc(-x / sqrt(2.0));
    default:
        return x / (1 + exp(-1.702 * x));
    }
}

static double act_grad_ref(k_act act, double x)
{
    double s;
    switch (act) {
    case K_SILU:
        s = 1 / (1 + exp(-x));
        return s * (1 + x * (1 - s));
    case K_GELU:
        return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
    default:
        s = 1 / (1 + exp(-1.702 * x));
        return s + 1.702 * x * s * (1 - s);
    }
}

/* The vectorised exp / erfc (kernels/cpu/cpu_vmath.h) over a dense sweep of [-12, 12] against
 * double: forwards relative to |f| everywhere (gelu's left tail down to 1e-32 included), gradients
 * relative to max(|f'|, 1) since they cross zero. The gelu reference goes through erfc:
 * 1 + erf(x / sqrt 2) cancels in the left tail even in double. */
static void test_act_sweep(void)
{
    const char *names[] = {"silu", "gelu", "quick_gelu"};
    const int64_t N = 480001;
    kt_buf x = kt_new(&K, N, 0, 0, 0), y = kt_new(&K, N, 0, 0, 0), dy = kt_new(&K, N, 0, 0, 0),
           dx = kt_new(&K, N, 0, 0, 0);
    for (int64_t i = 0; i < N; i++) {
        x.h[i] = (float)(-12.0 + 24.0 * (double)i / (double)(N - 1));
        dy.h[i] = 1;
    }
    kt_up(&K, &x);
    kt_up(&K, &dy);
    for (int a = K_SILU; a <= K_QUICK_GELU; a++) {
        memset(dx.h, 0, (size_t)N * sizeof(float));
        kt_up(&K, &dx);
        CHECK_INT(k_act_forward(&K, (k_act)a, &y.t, &x.t), 0);
        CHECK_INT(k_act_backward(&K, (k_act)a, &dx.t, &dy.t, &x.t), 0);
        kt_down(&K, &y);
        kt_down(&K, &dx);
        double rel[2] = {0, 0}, abs_[2] = {0, 0};
        for (int64_t i = 0; i < N; i++) {
            double want[2] = {act_ref((k_act)a, x.h[i]), act_grad_ref((k_act)a, x.h[i])};
            float got[2] = {y.h[i], dx.h[i]};
            for (int d = 0; d < 2; d++) {
                double e = fabs(got[d] - want[d]);
                rel[d] = fmax(rel[d], e / fmax(fabs(want[d]), d ? 1.0 : 1e-30));
                abs_[d] = fmax(abs_[d], e);
            }
        }
        printf("  %-10s sweep: forward rel %.2e (abs %.2e), gradient rel %.2e (abs %.2e)\n", names[a],
               rel[0], abs_[0], rel[1], abs_[1]);
        /* quick-gelu's left tail: 1.702 x rounded in float shifts exp by up to 1.2e-6 relative */
        CHECK(rel[0] < (a == K_QUICK_GELU ? 2e-6 : 1e-6) && rel[1] < 1e-6);
    }
    FREE_ALL(&x, &y, &dy, &dx);
}

typedef struct unary_case {
    kt_buf x, y, r;
    k_act act;
    int (*fwd)(kctx *k, tensor *y, const tensor *x); /* when not an activation */
} unary_case;

static double unary_loss(void *p)
{
    unary_case *c = p;
    kt_up(&K, &c->x);
    CHECK_INT(c->fwd ? c->fwd(&K, &c->y.t, &c->x.t) : k_act_forward(&K, c->act, &c->y.t, &c->x.t), 0);
    kt_down(&K, &c->y);
    return gc_project(c->y.h, c->r.h, c->y.n);
}

static void test_act(void)
{
    const char *names[] = {"silu", "gelu", "quick_gelu"};
    for (int a = K_SILU; a <= K_QUICK_GELU; a++) {
        uint64_t s = 11 + (uint64_t)a;
        unary_case c = {kt_new(&K, 2, 3, 5, 7), kt_new(&K, 2, 3, 5, 7), kt_new(&K, 2, 3, 5, 7), (k_act)a, NULL};
        kt_fill(&K, &c.x, &s, -5, 5);
        gc_fill(c.r.h, c.r.n, &s, -1, 1);
        unary_loss(&c);
        double *want = malloc(c.x.n * sizeof *want);
        for (size_t i = 0; i < c.x.n; i++)
            want[i] = act_ref((k_act)a, c.x.h[i]);
        CHECK(kt_close(names[a], c.y.h, want, c.x.n, 1e-6, 1e-5));
        free(want);
        kt_buf dx = kt_new(&K, 2, 3, 5, 7);
        float *g0 = kt_grad_start(&K, &dx, &s);
        kt_up(&K, &c.r);
        CHECK_INT(k_act_backward(&K, (k_act)a, &dx.t, &c.r.t, &c.x.t), 0);
        CHECK(kt_grad_ok(&K, names[a], &c.x, &dx, g0, unary_loss, &c, 1e-2f, 5e-4, 5e-3));
        FREE_ALL(&c.x, &c.y, &c.r, &dx);
    }
}

/* ---- GEGLU ---- */

static int geglu_fwd(kctx *k, tensor *y, const tensor *x)
{
    return k_geglu_forward(k, y, x);
}

static void test_geglu(void)
{
    uint64_t s = 21;
    int N = 5, F = 7;
    unary_case c = {kt_new(&K, 1, N, 2 * F, 0), kt_new(&K, 1, N, F, 0), kt_new(&K, 1, N, F, 0), K_GELU, geglu_fwd};
    kt_fill(&K, &c.x, &s, -3, 3);
    gc_fill(c.r.h, c.r.n, &s, -1, 1);
    unary_loss(&c);
    double want[35];
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++)
            want[n * F + f] = c.x.h[n * 2 * F + f] * act_ref(K_GELU, c.x.h[n * 2 * F + F + f]);
    CHECK(kt_close("geglu forward", c.y.h, want, 35, 1e-6, 1e-5));
    kt_buf dx = kt_new(&K, 1, N, 2 * F, 0);
    float *g0 = kt_grad_start(&K, &dx, &s);
    kt_up(&K, &c.r);
    CHECK_INT(k_geglu_backward(&K, &dx.t, &c.r.t, &c.x.t), 0);
    CHECK(kt_grad_ok(&K, "geglu dx", &c.x, &dx, g0, unary_loss, &c, 1e-2f, 5e-4, 5e-3));
    FREE_ALL(&c.x, &c.y, &c.r, &dx);
}

/* ---- add, broadcast add, axpby ---- */

static void test_add_axpby(void)
{
    uint64_t s = 31;
    kt_buf a = kt_new(&K, 3, 5, 0, 0), b = kt_new(&K, 3, 5, 0, 0), y = kt_new(&K, 3, 5, 0, 0);
    kt_fill(&K, &a, &s, -1, 1);
    kt_fill(&K, &b, &s, -1, 1);
    CHECK_INT(k_add(&K, &y.t, &a.t, &b.t), 0);
    kt_down(&K, &y);
    double want[15];
    for (int i = 0; i < 15; i++)
        want[i] = (double)a.h[i] + b.h[i];
    CHECK(kt_close("add", y.h, want, 15, 1e-7, 1e-7));
    /* beta 0 overwrites: a NaN already in y must not survive */
    for (int i = 0; i < 15; i++)
        y.h[i] = NAN;
    kt_up(&K, &y);
    CHECK_INT(k_axpby(&K, &y.t, 2.5f, &a.t, 0.0f), 0);
    kt_down(&K, &y);
    for (int i = 0; i < 15; i++)
        want[i] = 2.5 * a.h[i];
    CHECK(kt_close("axpby beta 0", y.h, want, 15, 1e-7, 1e-7));
    CHECK_INT(k_axpby(&K, &y.t, -1.0f, &b.t, 0.5f), 0);
    kt_down(&K, &y);
    for (int i = 0; i < 15; i++)
        want[i] = 0.5 * want[i] - b.h[i];
    CHECK(kt_close("axpby", y.h, want, 15, 1e-6, 1e-6));
    FREE_ALL(&a, &b, &y);
}

typedef struct bcast_case {
    kt_buf a, b, y, r;
} bcast_case;

static double bcast_loss(void *p)
{
    bcast_case *c = p;
    kt_up(&K, &c->a);
    kt_up(&K, &c->b);
    CHECK_INT(k_add_bcast_bc(&K, &c->y.t, &c->a.t, &c->b.t), 0);
    kt_down(&K, &c->y);
    return gc_project(c->y.h, c->r.h, c->y.n);
}

static void test_add_bcast(void)
{
    uint64_t s = 41;
    int B = 2, C = 3, H = 5, W = 3;
    bcast_case c = {kt_new(&K, B, C, H, W), kt_new(&K, B, C, 0, 0), kt_new(&K, B, C, H, W), kt_new(&K, B, C, H, W)};
    kt_fill(&K, &c.a, &s, -1, 1);
    kt_fill(&K, &c.b, &s, -1, 1);
    gc_fill(c.r.h, c.r.n, &s, -1, 1);
    bcast_loss(&c);
    double want[90];
    for (int i = 0; i < 90; i++)
        want[i] = (double)c.a.h[i] + c.b.h[i / (H * W)];
    CHECK(kt_close("add_bcast_bc", c.y.h, want, 90, 1e-7, 1e-7));
    kt_buf db = kt_new(&K, B, C, 0, 0);
    float *g0 = kt_grad_start(&K, &db, &s);
    kt_up(&K, &c.r);
    CHECK_INT(k_add_bcast_bc_backward(&K, &db.t, &c.r.t), 0);
    CHECK(kt_grad_ok(&K, "add_bcast_bc db", &c.b, &db, g0, bcast_loss, &c, 1e-2f, 1e-4, 1e-3));
    /* in place, as a ResBlock adds its embedding: y is a (gc_compare left b's last perturbation on
     * the tensor side, so both go up again) */
    kt_up(&K, &c.a);
    kt_up(&K, &c.b);
    CHECK_INT(k_add_bcast_bc(&K, &c.a.t, &c.a.t, &c.b.t), 0);
    kt_down(&K, &c.a);
    CHECK(kt_close("add_bcast_bc in place", c.a.h, want, 90, 1e-7, 1e-7));
    FREE_ALL(&c.a, &c.b, &c.y, &c.r, &db);
}

/* ---- concat ---- */

typedef struct concat_case {
    kt_buf a, b, y, r;
} concat_case;

static double concat_loss(void *p)
{
    concat_case *c = p;
    kt_up(&K, &c->a);
    kt_up(&K, &c->b);
    CHECK_INT(k_concat_forward(&K, &c->y.t, &c->a.t, &c->b.t), 0);
    kt_down(&K, &c->y);
    return gc_project(c->y.h, c->r.h, c->y.n);
}

static void test_concat(void)
{
    uint64_t s = 51;
    int B = 2, Ca = 3, Cb = 5, H = 3, W = 2, S = H * W;
    concat_case c = {kt_new(&K, B, Ca, H, W), kt_new(&K, B, Cb, H, W), kt_new(&K, B, Ca + Cb, H, W),
                     kt_new(&K, B, Ca + Cb, H, W)};
    kt_fill(&K, &c.a, &s, -1, 1);
    kt_fill(&K, &c.b, &s, -1, 1);
    gc_fill(c.r.h, c.r.n, &s, -1, 1);
    concat_loss(&c);
    double want[96];
    for (int n = 0; n < B; n++)
        for (int ch = 0; ch < Ca + Cb; ch++)
            for (int i = 0; i < S; i++)
                want[(n * (Ca + Cb) + ch) * S + i] =
                    ch < Ca ? c.a.h[(n * Ca + ch) * S + i] : c.b.h[(n * Cb + ch - Ca) * S + i];
    CHECK(kt_close("concat forward", c.y.h, want, 96, 0, 0));
    kt_buf da = kt_new(&K, B, Ca, H, W), db = kt_new(&K, B, Cb, H, W);
    float *ga = kt_grad_start(&K, &da, &s), *gb = kt_grad_start(&K, &db, &s);
    kt_up(&K, &c.r);
    CHECK_INT(k_concat_backward(&K, &da.t, &db.t, &c.r.t), 0);
    CHECK(kt_grad_ok(&K, "concat da", &c.a, &da, ga, concat_loss, &c, 1e-2f, 1e-4, 1e-3));
    CHECK(kt_grad_ok(&K, "concat db", &c.b, &db, gb, concat_loss, &c, 1e-2f, 1e-4, 1e-3));
    /* only the skip branch's part (a NULL da): db is found from the channels left over */
    gb = kt_grad_start(&K, &db, &s);
    CHECK_INT(k_concat_backward(&K, NULL, &db.t, &c.r.t), 0);
    CHECK(kt_grad_ok(&K, "concat db alone", &c.b, &db, gb, concat_loss, &c, 1e-2f, 1e-4, 1e-3));
    FREE_ALL(&c.a, &c.b, &c.y, &c.r, &da, &db);
}

/* ---- upsample ---- */

static int upsample_fwd(kctx *k, tensor *y, const tensor *x)
{
    return k_upsample2x_forward(k, y, x);
}

static void test_upsample(void)
{
    uint64_t s = 61;
    int B = 2, C = 3, H = 3, W = 5;
    unary_case c = {kt_new(&K, B, C, H, W), kt_new(&K, B, C, 2 * H, 2 * W), kt_new(&K, B, C, 2 * H, 2 * W),
                    K_SILU, upsample_fwd};
    kt_fill(&K, &c.x, &s, -1, 1);
    gc_fill(c.r.h, c.r.n, &s, -1, 1);
    unary_loss(&c);
    double *want = malloc(c.y.n * sizeof *want);
    for (int p = 0; p < B * C; p++)
        for (int i = 0; i < 2 * H; i++)
            for (int j = 0; j < 2 * W; j++)
                want[(p * 2 * H + i) * 2 * W + j] = c.x.h[(p * H + i / 2) * W + j / 2];
    CHECK(kt_close("upsample2x forward", c.y.h, want, c.y.n, 0, 0));
    free(want);
    kt_buf dx = kt_new(&K, B, C, H, W);
    float *g0 = kt_grad_start(&K, &dx, &s);
    kt_up(&K, &c.r);
    CHECK_INT(k_upsample2x_backward(&K, &dx.t, &c.r.t), 0);
    CHECK(kt_grad_ok(&K, "upsample2x dx", &c.x, &dx, g0, unary_loss, &c, 1e-2f, 1e-4, 1e-3));
    FREE_ALL(&c.x, &c.y, &c.r, &dx);
}

/* ---- layout ---- */

static void test_layout(void)
{
    uint64_t s = 71;
    int B = 2, C = 5, H = 3, W = 7;
    kt_buf x = kt_new(&K, B, C, H, W), nlc = kt_new(&K, B, H * W, C, 0), back = kt_new(&K, B, C, H, W);
    kt_fill(&K, &x, &s, -1, 1);
    CHECK_INT(k_nchw_to_nlc(&K, &nlc.t, &x.t), 0);
    kt_down(&K, &nlc);
    double *want = malloc(x.n * sizeof *want);
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < H * W; p++)
                want[(n * H * W + p) * C + c] = x.h[(n * C + c) * H * W + p];
    CHECK(kt_close("nchw_to_nlc", nlc.h, want, x.n, 0, 0));
    CHECK_INT(k_nlc_to_nchw(&K, &back.t, &nlc.t), 0);
    kt_down(&K, &back);
    CHECK(memcmp(back.h, x.h, x.n * sizeof(float)) == 0);
    free(want);
    FREE_ALL(&x, &nlc, &back);
}

/* ---- refusals ---- */

static void test_refusals(void)
{
    kt_buf a = kt_new(&K, 2, 3, 4, 4), b = kt_new(&K, 2, 3, 4, 5), bc = kt_new(&K, 2, 4, 0, 0);
    kt_buf g = kt_new(&K, 3, 8, 0, 0), gy = kt_new(&K, 3, 5, 0, 0), up = kt_new(&K, 2, 3, 8, 9);
    kt_buf cat = kt_new(&K, 2, 7, 4, 4), nlc = kt_new(&K, 2, 16, 4, 0);
    CHECK(kt_refused(&K, k_act_forward(&K, K_GELU, &b.t, &a.t), "act", "y is (2, 3, 4, 5), x is (2, 3, 4, 4)"));
    CHECK(kt_refused(&K, k_act_forward(&K, (k_act)7, &a.t, &a.t), "act", "unknown activation"));
    CHECK(kt_refused(&K, k_add(&K, &a.t, &a.t, &b.t), "add", "must match"));
    CHECK(kt_refused(&K, k_add_bcast_bc(&K, &a.t, &a.t, &bc.t), "add_bcast_bc", "b is (2, 4)"));
    CHECK(kt_refused(&K, k_add_bcast_bc_backward(&K, &bc.t, &a.t), "add_bcast_bc backward", "db"));
    CHECK(kt_refused(&K, k_axpby(&K, &b.t, 1, &a.t, 1), "axpby", NULL));
    CHECK(kt_refused(&K, k_geglu_forward(&K, &gy.t, &g.t), "geglu", "x is (3, 8), y is (3, 5)"));
    CHECK(kt_refused(&K, k_geglu_backward(&K, &g.t, &gy.t, &g.t), "geglu backward", NULL));
    CHECK(kt_refused(&K, k_concat_forward(&K, &cat.t, &a.t, &a.t), "concat", "channels"));
    CHECK(kt_refused(&K, k_concat_forward(&K, &cat.t, &a.t, &b.t), "concat", NULL));
    CHECK(kt_refused(&K, k_concat_backward(&K, NULL, &cat.t, &cat.t), "concat backward", NULL));
    CHECK(kt_refused(&K, k_upsample2x_forward(&K, &up.t, &a.t), "upsample2x", "(2, 3, 8, 9)"));
    CHECK(kt_refused(&K, k_upsample2x_backward(&K, &a.t, &up.t), "upsample2x backward", NULL));
    CHECK(kt_refused(&K, k_nchw_to_nlc(&K, &nlc.t, &a.t), "nchw_to_nlc", "(2, 16, 4)"));
    CHECK(kt_refused(&K, k_nlc_to_nchw(&K, &a.t, &nlc.t), "nlc_to_nchw", NULL));
    tensor same = tensor_view(&a.t, 3, (int64_t[]){2, 16, 3});
    CHECK(kt_refused(&K, k_nchw_to_nlc(&K, &same, &a.t), "nchw_to_nlc", "in place"));
    FREE_ALL(&a, &b, &bc, &g, &gy, &up, &cat, &nlc);
}

int main(void)
{
    if (k_init(&K, "cpu", 2) != 0) {
        fprintf(stderr, "k_init: %s\n", K.msg);
        return 1;
    }
    RUN(test_act);
    RUN(test_act_sweep);
    RUN(test_geglu);
    RUN(test_add_axpby);
    RUN(test_add_bcast);
    RUN(test_concat);
    RUN(test_upsample);
    RUN(test_layout);
    RUN(test_refusals);
    k_free_ctx(&K);
    return check_finish();
}
