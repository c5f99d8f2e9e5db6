/* Linear, conv2d and embedding: forwards against naive loops written here in double, backwards
 * against central differences (tests/unit/gradcheck.h), on shapes that cover the edge cases: batch
 * > 1, odd and non-square sizes, stride 2 over odd sizes, padding 0 and 1, 1x1, 3x3 and non-square
 * kernels, channel counts that are not multiples of 4, a leading-dims view, and the tiled paths of
 * conv2d (several batch items per GEMM, and rows of one item). */
#include "tests/unit/check.h"
#include "tests/unit/gradcheck.h"
#include "tests/unit/kernels_test.h"
#include "kernels/cpu/cpu_ops.h" /* cpu_conv_col_budget */

static kctx K;

/* ---- linear ---- */

/* x (N, I), w (O, I), b (O) or NULL -> y (N, O) */
static void linear_ref(double *y, const float *x, const float *w, const float *b, int N, int I, int O)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double s = b ? b[o] : 0;
            for (int i = 0; i < I; i++)
                s += (double)x[n * I + i] * w[o * I + i];
            y[n * O + o] = s;
        }
}

typedef struct lin_case {
    kt_buf x, w, b, y, r;
    tensor xv, yv; /* x and y seen as (A, N/A, I) and (A, N/A, O) */
    bool bias;
} lin_case;

static double lin_loss(void *p)
{
    lin_case *c = p;
    kt_up(&K, &c->x);
    kt_up(&K, &c->w);
    kt_up(&K, &c->b);
    CHECK_INT(k_linear_forward(&K, &c->yv, &c->xv, &c->w.t, c->bias ? &c->b.t : NULL), 0);
    kt_down(&K, &c->y);
    return gc_project(c->y.h, c->r.h, c->y.n);
}

static void linear_case(int A, int N, int I, int O, bool bias)
{
    uint64_t s = 1000 + (uint64_t)(A * 7 + N * 5 + I * 3 + O + bias);
    lin_case c = {.x = kt_new(&K, A * N, I, 0, 0), .w = kt_new(&K, O, I, 0, 0), .b = kt_new(&K, O, 0, 0, 0),
                  .y = kt_new(&K, A * N, O, 0, 0), .r = kt_new(&K, A * N, O, 0, 0), .bias = bias};
    c.xv = tensor_view(&c.x.t, 3, (int64_t[]){A, N, I});
    c.yv = tensor_view(&c.y.t, 3, (int64_t[]){A, N, O});
    kt_fill(&K, &c.x, &s, -1, 1);
    kt_fill(&K, &c.w, &s, -1, 1);
    kt_fill(&K, &c.b, &s, -1, 1);
    gc_fill(c.r.h, c.r.n, &s, -1, 1);

    lin_loss(&c);
    double *want = malloc(c.y.n * sizeof *want);
    linear_ref(want, c.x.h, c.w.h, bias ? c.b.h : NULL, A * N, I, O);
    CHECK(kt_close("linear forward", c.y.h, want, c.y.n, 1e-5, 1e-5));
    free(want);

    kt_buf dx = kt_new(&K, A * N, I, 0, 0), dw = kt_new(&K, O, I, 0, 0), db = kt_new(&K, O, 0, 0, 0);
    tensor dxv = tensor_view(&dx.t, 3, (int64_t[]){A, N, I});
    float *gx = kt_grad_start(&K, &dx, &s), *gw = kt_grad_start(&K, &dw, &s), *gb = kt_grad_start(&K, &db, &s);
    kt_up(&K, &c.r);
    tensor dyv = tensor_view(&c.r.t, 3, (int64_t[]){A, N, O});
    CHECK_INT(k_linear_backward(&K, &dxv, &dw.t, bias ? &db.t : NULL, &dyv, &c.xv, &c.w.t), 0);
    CHECK(kt_grad_ok(&K, "linear dx", &c.x, &dx, gx, lin_loss, &c, 1e-2f, 1e-3, 1e-3));
    CHECK(kt_grad_ok(&K, "linear dw", &c.w, &dw, gw, lin_loss, &c, 1e-2f, 1e-3, 1e-3));
    if (bias)
        CHECK(kt_grad_ok(&K, "linear db", &c.b, &db, gb, lin_loss, &c, 1e-2f, 1e-3, 1e-3));
    else
        free(gb);
    kt_buf *bufs[] = {&c.x, &c.w, &c.b, &c.y, &c.r, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        kt_free(&K, bufs[i]);
}

static void test_linear(void)
{
    linear_case(2, 3, 5, 7, true);   /* a (2, 3, 5) view: N = 6 */
    linear_case(1, 1, 1, 1, true);   /* everything 1 */
    linear_case(3, 5, 13, 6, false); /* no bias, odd sizes */
    linear_case(1, 9, 33, 17, true); /* not multiples of 4 or 8 */
}

/* A NULL gradient is skipped, and the others are the same as when all are asked for. */
static void test_linear_null_grads(void)
{
    uint64_t s = 7;
    kt_buf x = kt_new(&K, 4, 6, 0, 0), w = kt_new(&K, 5, 6, 0, 0), dy = kt_new(&K, 4, 5, 0, 0);
    kt_buf dw1 = kt_new(&K, 5, 6, 0, 0), dw2 = kt_new(&K, 5, 6, 0, 0), dx = kt_new(&K, 4, 6, 0, 0);
    kt_buf db = kt_new(&K, 5, 0, 0, 0);
    kt_fill(&K, &x, &s, -1, 1);
    kt_fill(&K, &w, &s, -1, 1);
    kt_fill(&K, &dy, &s, -1, 1);
    CHECK_INT(k_linear_backward(&K, &dx.t, &dw1.t, &db.t, &dy.t, &x.t, &w.t), 0);
    CHECK_INT(k_linear_backward(&K, NULL, &dw2.t, NULL, &dy.t, &x.t, &w.t), 0);
    kt_down(&K, &dw1);
    kt_down(&K, &dw2);
    CHECK(memcmp(dw1.h, dw2.h, dw1.n * sizeof(float)) == 0);
    kt_buf *bufs[] = {&x, &w, &dy, &dw1, &dw2, &dx, &db};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        kt_free(&K, bufs[i]);
}

/* ---- conv2d ---- */

typedef struct conv_shape {
    int B, C, H, W, O, kh, kw, stride, pad;
    bool bias;
} conv_shape;

static int conv_out(int n, int kern, int stride, int pad)
{
    return (n + 2 * pad - kern) / stride + 1;
}

static void conv_ref(double *y, const float *x, const float *w, const float *b, conv_shape g)
{
    int Ho = conv_out(g.H, g.kh, g.stride, g.pad), Wo = conv_out(g.W, g.kw, g.stride, g.pad);
    for (int n = 0; n < g.B; n++)
        for (int o = 0; o < g.O; o++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double s = b ? b[o] : 0;
                    for (int c = 0; c < g.C; c++)
                        for (int i = 0; i < g.kh; i++)
                            for (int j = 0; j < g.kw; j++) {
                                int iy = oy * g.stride - g.pad + i, ix = ox * g.stride - g.pad + j;
                                if (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W)
                                    s += (double)x[((n * g.C + c) * g.H + iy) * g.W + ix] *
                                         w[((o * g.C + c) * g.kh + i) * g.kw + j];
                            }
                    y[((n * g.O + o) * Ho + oy) * Wo + ox] = s;
                }
}

typedef struct conv_case {
    conv_shape g;
    kt_buf x, w, b, y, r;
} conv_case;

static double conv_loss(void *p)
{
    conv_case *c = p;
    kt_up(&K, &c->x);
    kt_up(&K, &c->w);
    kt_up(&K, &c->b);
    CHECK_INT(k_conv2d_forward(&K, &c->y.t, &c->x.t, &c->w.t, c->g.bias ? &c->b.t : NULL, c->g.stride,
                               c->g.pad), 0);
    kt_down(&K, &c->y);
    return gc_project(c->y.h, c->r.h, c->y.n);
}

static void conv_case_run(conv_shape g)
{
    uint64_t s = 77 + (uint64_t)(g.B * 1000 + g.C * 100 + g.H * 10 + g.W + g.stride);
    int Ho = conv_out(g.H, g.kh, g.stride, g.pad), Wo = conv_out(g.W, g.kw, g.stride, g.pad);
    conv_case c = {g, kt_new(&K, g.B, g.C, g.H, g.W), kt_new(&K, g.O, g.C, g.kh, g.kw),
                   kt_new(&K, g.O, 0, 0, 0), kt_new(&K, g.B, g.O, Ho, Wo), kt_new(&K, g.B, g.O, Ho, Wo)};
    kt_fill(&K, &c.x, &s, -1, 1);
    kt_fill(&K, &c.w, &s, -1, 1);
    kt_fill(&K, &c.b, &s, -1, 1);
    gc_fill(c.r.h, c.r.n, &s, -1, 1);

    conv_loss(&c);
    double *want = malloc(c.y.n * sizeof *want);
    conv_ref(want, c.x.h, c.w.h, g.bias ? c.b.h : NULL, g);
    CHECK(kt_close("conv2d forward", c.y.h, want, c.y.n, 1e-5, 1e-5));
    free(want);

    kt_buf dx = kt_new(&K, g.B, g.C, g.H, g.W), dw = kt_new(&K, g.O, g.C, g.kh, g.kw), db = kt_new(&K, g.O, 0, 0, 0);
    float *gx = kt_grad_start(&K, &dx, &s), *gw = kt_grad_start(&K, &dw, &s), *gb = kt_grad_start(&K, &db, &s);
    kt_up(&K, &c.r);
    CHECK_INT(k_conv2d_backward(&K, &dx.t, &dw.t, g.bias ? &db.t : NULL, &c.r.t, &c.x.t, &c.w.t, g.stride,
                                g.pad), 0);
    char what[96];
    snprintf(what, sizeof what, "conv2d %dx%d s%d p%d dx", g.kh, g.kw, g.stride, g.pad);
    CHECK(kt_grad_ok(&K, what, &c.x, &dx, gx, conv_loss, &c, 1e-2f, 1e-3, 1e-3));
    snprintf(what, sizeof what, "conv2d %dx%d s%d p%d dw", g.kh, g.kw, g.stride, g.pad);
    CHECK(kt_grad_ok(&K, what, &c.w, &dw, gw, conv_loss, &c, 1e-2f, 1e-3, 1e-3));
    if (g.bias)
        CHECK(kt_grad_ok(&K, "conv2d db", &c.b, &db, gb, conv_loss, &c, 1e-2f, 1e-3, 1e-3));
    else
        free(gb);
    kt_buf *bufs[] = {&c.x, &c.w, &c.b, &c.y, &c.r, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        kt_free(&K, bufs[i]);
}

static const conv_shape conv_shapes[] = {
    {2, 3, 5, 7, 4, 3, 3, 1, 1, true},  /* 3x3 same-size, batch 2, non-square */
    {1, 5, 7, 9, 6, 3, 3, 2, 1, true},  /* stride 2 over odd H and W (Downsample) */
    {2, 6, 4, 6, 5, 1, 1, 1, 0, true},  /* 1x1 (proj_in/out, skip) */
    {2, 2, 6, 5, 3, 2, 3, 2, 0, false}, /* non-square kernel, stride 2, no padding, no bias */
    {3, 3, 5, 5, 2, 3, 3, 1, 0, true},  /* valid 3x3, batch 3 */
    {1, 9, 3, 3, 7, 3, 3, 2, 1, true},  /* 3x3 map to 2x2 */
    {2, 1, 1, 1, 3, 3, 3, 1, 1, true},  /* 1x1 image, all but the centre tap in the padding */
    {1, 2, 4, 3, 2, 5, 5, 2, 2, true},  /* 5x5 kernel, padding 2, stride 2, image narrower than kernel */
    {2, 3, 7, 4, 3, 3, 1, 3, 1, true},  /* 3x1 kernel, stride 3 */
};

static void test_conv2d(void)
{
    for (size_t i = 0; i < sizeof conv_shapes / sizeof *conv_shapes; i++)
        conv_case_run(conv_shapes[i]);
}

/* A budget so small that each GEMM covers one output row of one item, then one large enough for
 * several items per GEMM: the same numbers (up to summation order) as the default plan. */
static void conv_run(conv_shape g, size_t budget, float *y, float *dx, float *dw)
{
    uint64_t s = 5;
    int Ho = conv_out(g.H, g.kh, g.stride, g.pad), Wo = conv_out(g.W, g.kw, g.stride, g.pad);
    kt_buf x = kt_new(&K, g.B, g.C, g.H, g.W), w = kt_new(&K, g.O, g.C, g.kh, g.kw), b = kt_new(&K, g.O, 0, 0, 0);
    kt_buf out = kt_new(&K, g.B, g.O, Ho, Wo), gx = kt_new(&K, g.B, g.C, g.H, g.W), gw = kt_new(&K, g.O, g.C, g.kh, g.kw);
    kt_fill(&K, &x, &s, -1, 1);
    kt_fill(&K, &w, &s, -1, 1);
    kt_fill(&K, &b, &s, -1, 1);
    size_t keep = cpu_conv_col_budget;
    cpu_conv_col_budget = budget;
    CHECK_INT(k_conv2d_forward(&K, &out.t, &x.t, &w.t, &b.t, g.stride, g.pad), 0);
    CHECK_INT(k_conv2d_backward(&K, &gx.t, &gw.t, NULL, &out.t, &x.t, &w.t, g.stride, g.pad), 0);
    cpu_conv_col_budget = keep;
    k_download(&K, &out.t, y);
    k_download(&K, &gx.t, dx);
    k_download(&K, &gw.t, dw);
    kt_buf *bufs[] = {&x, &w, &b, &out, &gx, &gw};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        kt_free(&K, bufs[i]);
}

static void test_conv2d_tiling(void)
{
    conv_shape g = {3, 4, 9, 7, 5, 3, 3, 2, 1, true};
    int Ho = conv_out(g.H, 3, 2, 1), Wo = conv_out(g.W, 3, 2, 1);
    size_t ny = (size_t)g.B * g.O * Ho * Wo, nx = (size_t)g.B * g.C * g.H * g.W, nw = (size_t)g.O * g.C * 9;
    float *y[3], *dx[3], *dw[3];
    size_t budgets[3] = {(size_t)64 << 20, 64, (size_t)(36 + 5) * Ho * Wo * 4 * 2};
    for (int i = 0; i < 3; i++) {
        y[i] = malloc(ny * 4), dx[i] = malloc(nx * 4), dw[i] = malloc(nw * 4);
        conv_run(g, budgets[i], y[i], dx[i], dw[i]);
    }
    for (int i = 1; i < 3; i++) {
        double *want = malloc((ny > nx ? ny : nx) * sizeof *want);
        for (size_t j = 0; j < ny; j++)
            want[j] = y[0][j];
        CHECK(kt_close("tiled conv2d forward", y[i], want, ny, 1e-5, 1e-5));
        for (size_t j = 0; j < nx; j++)
            want[j] = dx[0][j];
        CHECK(kt_close("tiled conv2d dx", dx[i], want, nx, 1e-5, 1e-5));
        for (size_t j = 0; j < nw; j++)
            want[j] = dw[0][j];
        CHECK(kt_close("tiled conv2d dw", dw[i], want, nw, 1e-4, 1e-5));
        free(want);
    }
    for (int i = 0; i < 3; i++)
        free(y[i]), free(dx[i]), free(dw[i]);
}

/* ---- embedding ---- */

typedef struct emb_case {
    kt_buf table, y, r;
    const int32_t *ids;
} emb_case;

static double emb_loss(void *p)
{
    emb_case *c = p;
    kt_up(&K, &c->table);
    CHECK_INT(k_embedding_forward(&K, &c->y.t, c->ids, &c->table.t), 0);
    kt_down(&K, &c->y);
    return gc_project(c->y.h, c->r.h, c->y.n);
}

static void test_embedding(void)
{
    static const int32_t ids[6] = {3, 0, 6, 3, 3, 1}; /* repeats must add up in the backward */
    uint64_t s = 99;
    emb_case c = {kt_new(&K, 7, 5, 0, 0), kt_new(&K, 2, 3, 5, 0), kt_new(&K, 2, 3, 5, 0), ids};
    kt_fill(&K, &c.table, &s, -1, 1);
    gc_fill(c.r.h, c.r.n, &s, -1, 1);
    emb_loss(&c);
    double want[30];
    for (int t = 0; t < 6; t++)
        for (int j = 0; j < 5; j++)
            want[t * 5 + j] = c.table.h[ids[t] * 5 + j];
    CHECK(kt_close("embedding forward", c.y.h, want, 30, 0, 0));
    kt_buf dt = kt_new(&K, 7, 5, 0, 0);
    float *g0 = kt_grad_start(&K, &dt, &s);
    kt_up(&K, &c.r);
    CHECK_INT(k_embedding_backward(&K, &dt.t, &c.r.t, ids), 0);
    CHECK(kt_grad_ok(&K, "embedding dtable", &c.table, &dt, g0, emb_loss, &c, 1e-2f, 1e-4, 1e-3));
    kt_free(&K, &c.table), kt_free(&K, &c.y), kt_free(&K, &c.r), kt_free(&K, &dt);
}

/* ---- refusals ---- */

static void test_refusals(void)
{
    kt_buf x = kt_new(&K, 2, 4, 6, 6), w3 = kt_new(&K, 5, 3, 3, 3), w = kt_new(&K, 5, 4, 3, 3);
    kt_buf w1 = kt_new(&K, 4, 4, 1, 1);
    kt_buf y = kt_new(&K, 2, 5, 6, 6), ybad = kt_new(&K, 2, 5, 5, 6), b = kt_new(&K, 4, 0, 0, 0);
    CHECK(kt_refused(&K, k_conv2d_forward(&K, &y.t, &x.t, &w3.t, NULL, 1, 1), "conv2d",
                     "has 3 input channels, x (2, 4, 6, 6) has 4"));
    CHECK(kt_refused(&K, k_conv2d_forward(&K, &ybad.t, &x.t, &w.t, NULL, 1, 1), "conv2d",
                     "y is (2, 5, 5, 6), expected (2, 5, 6, 6)"));
    CHECK(kt_refused(&K, k_conv2d_forward(&K, &y.t, &x.t, &w.t, &b.t, 1, 1), "conv2d", "b has 4"));
    CHECK(kt_refused(&K, k_conv2d_forward(&K, &y.t, &x.t, &w.t, NULL, 0, 1), "conv2d", "stride 0"));
    CHECK(kt_refused(&K, k_conv2d_backward(&K, &ybad.t, NULL, NULL, &y.t, &x.t, &w.t, 1, 1),
                     "conv2d backward", "dx"));
    CHECK_INT(k_conv2d_forward(&K, &y.t, &x.t, &w.t, NULL, 1, 1), 0);

    kt_buf lx = kt_new(&K, 3, 7, 0, 0), lw = kt_new(&K, 2, 6, 0, 0), ly = kt_new(&K, 3, 2, 0, 0);
    CHECK(kt_refused(&K, k_linear_forward(&K, &ly.t, &lx.t, &lw.t, NULL), "linear", "takes 6 inputs"));
    kt_buf sq = kt_new(&K, 3, 3, 0, 0), sqw = kt_new(&K, 3, 3, 0, 0);
    CHECK(kt_refused(&K, k_linear_forward(&K, &sq.t, &sq.t, &sqw.t, NULL), "linear", "same memory"));
    CHECK(kt_refused(&K, k_conv2d_forward(&K, &x.t, &x.t, &w1.t, NULL, 1, 0), "conv2d", "same memory"));
    tensor bad_view = tensor_view(&lx.t, 2, (int64_t[]){4, 5}); /* 20 != 21 elements: no data */
    CHECK(bad_view.data == NULL);
    CHECK(kt_refused(&K, k_linear_forward(&K, &ly.t, &bad_view, &lw.t, NULL), "linear", "x has no data"));

    kt_buf table = kt_new(&K, 4, 3, 0, 0), ey = kt_new(&K, 2, 3, 0, 0);
    int32_t ids[2] = {1, 4};
    CHECK(kt_refused(&K, k_embedding_forward(&K, &ey.t, ids, &table.t), "embedding", "ids[1] = 4"));
    ids[1] = -1;
    CHECK(kt_refused(&K, k_embedding_backward(&K, &table.t, &ey.t, ids), "embedding backward", "ids[1] = -1"));
    kt_buf *bufs[] = {&x, &w3, &w, &w1, &y, &ybad, &b, &lx, &lw, &ly, &sq, &sqw, &table, &ey};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        kt_free(&K, bufs[i]);
}

static void test_context(void)
{
    kctx k;
    CHECK_INT(k_init(&k, "cuda", 1), -1);
    CHECK(strstr(k.msg, "cuda") != NULL);
    CHECK_INT(k_init(&k, "tpu", 1), -1);
    CHECK(strstr(k.msg, "unknown backend") != NULL);
    CHECK_INT(k_init(&k, "auto", 0), 0);
    CHECK(k.threads >= 1);
    tensor t = k_tensor(&k, K_F32, 2, (int64_t[]){INT64_MAX / 2, 4}); /* bytes overflow */
    CHECK(t.data == NULL && strstr(k.msg, "too large"));
    t = k_tensor4(&k, 3, 5, 0, 0);
    CHECK(t.data && t.ndim == 2 && ((uintptr_t)t.data & 63) == 0);
    k_tensor_free(&k, &t);
    /* half-precision storage round-trips through f32 */
    tensor h = k_tensor(&k, K_BF16, 1, (int64_t[]){4}), f = k_tensor(&k, K_F16, 1, (int64_t[]){4});
    float in[4] = {1.0f, -2.5f, 0.1f, 65504.0f}, out[4];
    k_upload(&k, &h, in);
    k_download(&k, &h, out);
    CHECK(out[0] == 1.0f && out[1] == -2.5f && fabsf(out[2] - 0.1f) < 1e-3f);
    k_upload(&k, &f, in);
    k_download(&k, &f, out);
    CHECK(out[0] == 1.0f && out[1] == -2.5f && fabsf(out[2] - 0.1f) < 1e-4f && out[3] == 65504.0f);
    k_tensor_free(&k, &h);
    k_tensor_free(&k, &f);
    k_free_ctx(&k);
}

int main(void)
{
    if (k_init(&K, "cpu", 2) != 0) {
        fprintf(stderr, "k_init: %s\n", K.msg);
        return 1;
    }
    RUN(test_context);
    RUN(test_linear);
    RUN(test_linear_null_grads);
    RUN(test_conv2d);
    RUN(test_conv2d_tiling);
    RUN(test_embedding);
    RUN(test_refusals);
    k_free_ctx(&K);
    return check_finish();
}
