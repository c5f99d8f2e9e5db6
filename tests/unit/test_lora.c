/* LoRA adapters: forward against a loop in double and backward against central differences
 * (linear and 1x1 conv, batch > 1, rank 1 and 4, chunked and not); the zero-init property and the
 * init's bound; scale = alpha / rank; save -> load in F32/F16/BF16 and the file's kohya layout read
 * back with st_open; refusals with file and key named. (kohya's module names: test_lora_names.c.) */
#include "tests/unit/check.h"
#include "tests/unit/gradcheck.h"
#include "tests/unit/kernels_test.h"
#include "tests/unit/fixture.h"
#include "trainer/dtype.h"
#include "trainer/lora.h"

static kctx K;
static char *ROOT; /* a temporary folder for the files */

/* ---- forward and backward ---- */

typedef struct ad_case {
    lora_set ls;
    const lora_module *m;
    kt_buf x, y0, y, h, r;
    float *down, *up; /* host copies of the weights, perturbed by the gradient check */
    size_t nd, nu;
} ad_case;

static double ad_loss(void *p)
{
    ad_case *c = p;
    k_upload(&K, params_w(&c->ls.ps, c->m->down), c->down);
    k_upload(&K, params_w(&c->ls.ps, c->m->up), c->up);
    kt_up(&K, &c->x);
    k_upload(&K, &c->y.t, c->y0.h); /* y starts as the base layer's output */
    CHECK_INT(lora_forward(&K, &c->ls, 0, &c->y.t, &c->x.t, &c->h.t), 0);
    kt_down(&K, &c->y);
    return gc_project(c->y.h, c->r.h, c->y.n);
}

/* y0 + s * up . down . x in double, rows n of C channels at P pixels (P = 1 for a linear). */
static void ad_ref(double *want, const ad_case *c, int64_t rows, int64_t P, float s)
{
    const lora_module *m = c->m;
    for (int64_t n = 0; n < rows; n++)
        for (int64_t p = 0; p < P; p++)
            for (int o = 0; o < m->out; o++) {
                double acc = 0;
                for (int r = 0; r < m->rank; r++) {
                    double h = 0;
                    for (int i = 0; i < m->in; i++)
                        h += (double)c->down[r * m->in + i] * c->x.h[(n * m->in + i) * P + p];
                    acc += (double)c->up[o * m->rank + r] * h;
                }
                int64_t at = (n * m->out + o) * P + p;
                want[at] = c->y0.h[at] + s * acc;
            }
}

static void ad_case_run(bool conv, int rank, size_t budget)
{
    uint64_t seed = 77 + (uint64_t)(rank * 2 + conv) + budget;
    int in = 5, out = 7, B = 2, T = 3, H = 3, W = 4;
    ad_case c = {0};
    lora_set_init(&c.ls);
    c.ls.multiplier = 0.7f;
    tg_error err = {{0}};
    CHECK_INT(lora_attach(&c.ls, "lora_unet_test", in, out, conv, rank, 3.0f), 0);
    CHECK_INT(lora_alloc(&c.ls, &K, true, 1, &err), 0);
    c.m = &c.ls.m[0];
    c.x = conv ? kt_new(&K, B, in, H, W) : kt_new(&K, B, T, in, 0);
    c.y0 = conv ? kt_new(&K, B, out, H, W) : kt_new(&K, B, T, out, 0);
    c.y = conv ? kt_new(&K, B, out, H, W) : kt_new(&K, B, T, out, 0);
    c.r = conv ? kt_new(&K, B, out, H, W) : kt_new(&K, B, T, out, 0);
    int hnd;
    int64_t hs[K_MAX_DIMS];
    lora_hidden_shape(&c.ls, 0, &c.x.t, &hnd, hs);
    CHECK_INT(hnd, conv ? 4 : 3);
    CHECK_INT(hs[conv ? 1 : 2], rank);
    c.h = kt_new(&K, hs[0], hs[1], hs[2], hnd == 4 ? hs[3] : 0);
    c.nd = (size_t)rank * in;
    c.nu = (size_t)out * rank;
    c.down = malloc(sizeof(float) * c.nd);
    c.up = malloc(sizeof(float) * c.nu);
    gc_fill(c.down, c.nd, &seed, -1, 1);
    gc_fill(c.up, c.nu, &seed, -1, 1);
    gc_fill(c.x.h, c.x.n, &seed, -1, 1);
    gc_fill(c.y0.h, c.y0.n, &seed, -1, 1);
    gc_fill(c.r.h, c.r.n, &seed, -1, 1);
    lora_tmp_floats = budget;

    float s = 0.7f * 3.0f / (float)rank;
    ad_loss(&c);
    double *want = malloc(sizeof *want * c.y.n);
    ad_ref(want, &c, conv ? B : B * T, conv ? H * W : 1, s);
    CHECK(kt_close("lora forward", c.y.h, want, c.y.n, 1e-5, 1e-5));
    free(want);

    /* gradients start random: the backward must add to them */
    size_t ng = c.ls.ps.numel;
    float *g0 = malloc(sizeof *g0 * ng), *g = malloc(sizeof *g * ng), *g2 = malloc(sizeof *g2 * ng);
    gc_fill(g0, ng, &seed, -0.5f, 0.5f);
    k_upload(&K, &c.ls.ps.all_g, g0);
    kt_buf dx = conv ? kt_new(&K, B, in, H, W) : kt_new(&K, B, T, in, 0);
    float *gx = kt_grad_start(&K, &dx, &seed);
    kt_up(&K, &c.r);
    CHECK_INT(lora_backward(&K, &c.ls, 0, &dx.t, &c.r.t, &c.x.t, &c.h.t), 0);
    k_download(&K, &c.ls.ps.all_g, g);
    for (size_t i = 0; i < ng; i++)
        g[i] -= g0[i];
    const char *what = conv ? "conv1x1" : "linear";
    char label[64];
    snprintf(label, sizeof label, "%s r%d dx", what, rank);
    CHECK(kt_grad_ok(&K, label, &c.x, &dx, gx, ad_loss, &c, 1e-2f, 2e-3, 2e-3));
    snprintf(label, sizeof label, "%s r%d ddown", what, rank);
    CHECK(gc_ok(label, gc_compare(c.down, g + c.ls.ps.p[c.m->down].offset, c.nd, ad_loss, &c, 1e-2f,
                                  2e-3, 2e-3, 400)));
    snprintf(label, sizeof label, "%s r%d dup", what, rank);
    CHECK(gc_ok(label, gc_compare(c.up, g + c.ls.ps.p[c.m->up].offset, c.nu, ad_loss, &c, 1e-2f,
                                  2e-3, 2e-3, 400)));

    /* without dx: the same weight gradients */
    ad_loss(&c);
    k_zero(&K, &c.ls.ps.all_g);
    CHECK_INT(lora_backward(&K, &c.ls, 0, NULL, &c.r.t, &c.x.t, &c.h.t), 0);
    k_download(&K, &c.ls.ps.all_g, g2);
    double worst = 0;
    for (size_t i = 0; i < ng; i++)
        worst = fmax(worst, fabs((double)g2[i] - g[i]));
    CHECK(worst < 1e-5);

    lora_tmp_floats = (size_t)1 << 20;
    free(g0);
    free(g);
    free(g2);
    free(c.down);
    free(c.up);
    kt_buf *bufs[] = {&c.x, &c.y0, &c.y, &c.h, &c.r, &dx};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        kt_free(&K, bufs[i]);
    lora_set_free(&c.ls, &K);
}

static void test_forward_backward(void)
{
    /* budget 4 floats: one row (or item) per up-projection chunk, several per backward chunk */
    size_t budgets[] = {(size_t)1 << 20, 4};
    for (int conv = 0; conv < 2; conv++)
        for (int rank = 1; rank <= 4; rank += 3)
            for (int b = 0; b < 2; b++)
                ad_case_run(conv, rank, budgets[b]);
}

/* ---- init and scale ---- */

static void test_zero_init(void)
{
    tg_error err = {{0}};
    lora_set a, b, c;
    lora_set_init(&a);
    lora_set_init(&b);
    lora_set_init(&c);
    lora_set *sets[] = {&a, &b, &c};
    uint64_t seeds[] = {42, 42, 43};
    for (int i = 0; i < 3; i++) {
        CHECK_INT(lora_attach(sets[i], "lin", 64, 48, false, 4, 1), 0);
        CHECK_INT(lora_attach(sets[i], "conv", 32, 16, true, 8, 0), 1);
        CHECK_INT(lora_alloc(sets[i], &K, true, seeds[i], &err), 0);
    }
    size_t n = a.ps.numel;
    float *wa = malloc(sizeof *wa * n), *wb = malloc(sizeof *wb * n), *wc = malloc(sizeof *wc * n);
    k_download(&K, &a.ps.all_w, wa);
    k_download(&K, &b.ps.all_w, wb);
    k_download(&K, &c.ps.all_w, wc);
    CHECK(memcmp(wa, wb, sizeof *wa * n) == 0); /* the seed decides */
    CHECK(memcmp(wa, wc, sizeof *wa * n) != 0);
    for (size_t mi = 0; mi < 2; mi++) {
        const lora_module *m = &a.m[mi];
        const param *pd = &a.ps.p[m->down], *pu = &a.ps.p[m->up];
        size_t nd = (size_t)m->rank * m->in, nu = (size_t)m->out * m->rank;
        double bound = 1 / sqrt((double)m->in), sum = 0, sq = 0, most = 0;
        for (size_t i = 0; i < nd; i++) {
            double v = wa[pd->offset + i];
            sum += v;
            sq += v * v;
            most = fmax(most, fabs(v));
        }
        CHECK(most <= bound && most > 0.8 * bound);
        CHECK(fabs(sum / nd) < 0.1 * bound);
        CHECK_NEAR(sq / nd, bound * bound / 3, 0.2 * bound * bound / 3); /* uniform's variance */
        for (size_t i = 0; i < nu; i++)
            CHECK(wa[pu->offset + i] == 0);
    }
    /* a fresh adapter leaves y exactly as the base layer made it */
    uint64_t s = 5;
    for (int mi = 0; mi < 2; mi++) {
        bool conv = mi == 1;
        kt_buf x = conv ? kt_new(&K, 2, 32, 3, 5) : kt_new(&K, 3, 64, 0, 0);
        kt_buf y = conv ? kt_new(&K, 2, 16, 3, 5) : kt_new(&K, 3, 48, 0, 0);
        kt_buf h = conv ? kt_new(&K, 2, 8, 3, 5) : kt_new(&K, 3, 4, 0, 0);
        kt_fill(&K, &x, &s, -1, 1);
        kt_fill(&K, &y, &s, -1, 1);
        float *y0 = malloc(sizeof *y0 * y.n);
        memcpy(y0, y.h, sizeof *y0 * y.n);
        CHECK_INT(lora_forward(&K, &a, mi, &y.t, &x.t, &h.t), 0);
        kt_down(&K, &y);
        CHECK(memcmp(y0, y.h, sizeof *y0 * y.n) == 0);
        free(y0);
        kt_free(&K, &x);
        kt_free(&K, &y);
        kt_free(&K, &h);
    }
    free(wa);
    free(wb);
    free(wc);
    for (int i = 0; i < 3; i++)
        lora_set_free(sets[i], &K);
}

static void test_scale(void)
{
    lora_set ls;
    lora_set_init(&ls);
    CHECK_INT(lora_attach(&ls, "a", 8, 8, false, 4, 0), 0);  /* kohya: alpha None/0 -> rank */
    CHECK_INT(lora_attach(&ls, "b", 8, 8, false, 8, 16), 1);
    CHECK_INT(lora_attach(&ls, "c", 8, 8, true, 4, 1), 2);
    CHECK_NEAR(ls.m[0].alpha, 4, 0);
    CHECK_NEAR(ls.m[0].scale, 1, 0);
    CHECK_NEAR(ls.m[1].scale, 2, 0);
    CHECK_NEAR(ls.m[2].scale, 0.25, 0);
    CHECK_NEAR(ls.multiplier, 1, 0);
    tg_error err = {{0}};
    CHECK_INT(lora_alloc(&ls, &K, true, 3, &err), 0);
    /* strength 0: nothing added, nothing accumulated, even with trained (non-zero) up */
    uint64_t s = 9;
    float *w = malloc(sizeof *w * ls.ps.numel);
    gc_fill(w, ls.ps.numel, &s, -1, 1);
    k_upload(&K, &ls.ps.all_w, w);
    k_zero(&K, &ls.ps.all_g);
    ls.multiplier = 0;
    kt_buf x = kt_new(&K, 3, 8, 0, 0), y = kt_new(&K, 3, 8, 0, 0), h = kt_new(&K, 3, 8, 0, 0);
    kt_buf dx = kt_new(&K, 3, 8, 0, 0);
    kt_fill(&K, &x, &s, -1, 1);
    kt_fill(&K, &y, &s, -1, 1);
    float *y0 = malloc(sizeof *y0 * y.n);
    memcpy(y0, y.h, sizeof *y0 * y.n);
    CHECK_INT(lora_forward(&K, &ls, 1, &y.t, &x.t, &h.t), 0);
    kt_down(&K, &y);
    CHECK(memcmp(y0, y.h, sizeof *y0 * y.n) == 0);
    CHECK_INT(lora_backward(&K, &ls, 1, &dx.t, &y.t, &x.t, &h.t), 0);
    kt_down(&K, &dx);
    k_download(&K, &ls.ps.all_g, w);
    for (size_t i = 0; i < dx.n; i++)
        CHECK(dx.h[i] == 0);
    for (size_t i = 0; i < ls.ps.numel; i++)
        CHECK(w[i] == 0);
    free(w);
    free(y0);
    kt_free(&K, &x);
    kt_free(&K, &y);
    kt_free(&K, &h);
    kt_free(&K, &dx);
    lora_set_free(&ls, &K);
}

static void test_refusals_compute(void)
{
    lora_set ls;
    lora_set_init(&ls);
    tg_error err = {{0}};
    CHECK_INT(lora_attach(&ls, "lora_unet_m", 6, 5, false, 2, 1), 0);
    CHECK_INT(lora_attach(&ls, "lora_unet_c", 6, 5, true, 2, 1), 1);
    CHECK_INT(lora_attach(&ls, "lora_unet_m", 6, 5, false, 2, 1), -1); /* twice */
    CHECK_INT(lora_attach(&ls, "lora_unet.m", 6, 5, false, 2, 1), -1);
    CHECK_INT(lora_attach(&ls, "", 6, 5, false, 2, 1), -1);
    CHECK_INT(lora_attach(&ls, "r0", 6, 5, false, 0, 1), -1);
    CHECK_INT(lora_attach(&ls, "in0", 0, 5, false, 2, 1), -1);
    CHECK_INT(lora_attach(&ls, "nan", 6, 5, false, 2, NAN), -1);
    kt_buf x = kt_new(&K, 4, 6, 0, 0), y = kt_new(&K, 4, 5, 0, 0), h = kt_new(&K, 4, 2, 0, 0);
    kt_buf xbad = kt_new(&K, 4, 7, 0, 0), hbad = kt_new(&K, 4, 3, 0, 0);
    CHECK(kt_refused(&K, lora_forward(&K, &ls, 0, &y.t, &x.t, &h.t), "lora_unet_m", "not allocated"));
    CHECK_INT(lora_alloc(&ls, &K, true, 1, &err), 0);
    CHECK_INT(lora_alloc(&ls, &K, true, 1, &err), -1);
    CHECK(strstr(err.msg, "already") != NULL);
    CHECK_INT(lora_attach(&ls, "late", 6, 5, false, 2, 1), -1);
    CHECK_INT(lora_forward(&K, &ls, 0, &y.t, &x.t, &h.t), 0);
    CHECK(kt_refused(&K, lora_forward(&K, &ls, 0, &y.t, &xbad.t, &h.t), "lora_unet_m", "x is [4, 7]"));
    CHECK(kt_refused(&K, lora_forward(&K, &ls, 0, &y.t, &x.t, &hbad.t), "lora_unet_m", "h [4, 3]"));
    CHECK(kt_refused(&K, lora_forward(&K, &ls, 1, &y.t, &x.t, &h.t), "lora_unet_c", "NCHW"));
    CHECK(kt_refused(&K, lora_forward(&K, &ls, 2, &y.t, &x.t, &h.t), "lora", "no module 2"));
    CHECK(kt_refused(&K, lora_backward(&K, &ls, 0, &xbad.t, &y.t, &x.t, &h.t), "lora_unet_m", "dx [4, 7]"));
    CHECK(kt_refused(&K, lora_backward(&K, &ls, 0, NULL, &x.t, &x.t, &h.t), "lora_unet_m", "dy [4, 6]"));
    kt_buf *bufs[] = {&x, &y, &h, &xbad, &hbad};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        kt_free(&K, bufs[i]);
    lora_set_free(&ls, &K);
}

/* ---- files ---- */

static float stored(float v, st_dtype dt)
{
    return dt == ST_F16 ? f16_to_f32(f16_from_f32(v)) : dt == ST_BF16 ? bf16_to_f32(bf16_from_f32(v)) : v;
}

static const struct {
    const char *name;
    int in, out, rank;
    bool conv;
    float alpha;
} SAVE_MODULES[] = {
    {"lora_unet_down_blocks_0_attentions_0_proj_in", 8, 8, 4, true, 2},
    {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 12, 8, 4, false, 2},
    {"lora_te_text_model_encoder_layers_0_mlp_fc1", 8, 16, 4, false, 0.3f},
};
#define N_SAVE (sizeof SAVE_MODULES / sizeof *SAVE_MODULES)

static void save_set(lora_set *ls, float alpha_override, uint64_t seed)
{
    tg_error err = {{0}};
    lora_set_init(ls);
    for (size_t i = 0; i < N_SAVE; i++)
        CHECK_INT(lora_attach(ls, SAVE_MODULES[i].name, SAVE_MODULES[i].in, SAVE_MODULES[i].out,
                              SAVE_MODULES[i].conv, SAVE_MODULES[i].rank,
                              alpha_override ? alpha_override : SAVE_MODULES[i].alpha), (int)i);
    CHECK_INT(lora_alloc(ls, &K, false, seed, &err), 0);
    float *w = malloc(sizeof *w * ls->ps.numel);
    gc_fill(w, ls->ps.numel, &seed, -1, 1);
    k_upload(&K, &ls->ps.all_w, w);
    free(w);
}

/* The file as kohya lays it out: three keys per module, [r, in]/[out, r] (4-D for 1x1 convs), a
 * 0-d alpha, all in dt, and the header text saying so. */
static void check_layout(const char *rel, st_dtype dt, const char *base_version)
{
    tg_error err = {{0}};
    char *path = fixture_path(ROOT, rel);
    st_file *f = st_open(path, &err);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "  %s\n", err.msg);
        free(path);
        return;
    }
    CHECK_INT(st_count(f), 3 * N_SAVE);
    size_t len = 0;
    char *bytes = fixture_read(ROOT, rel, &len);
    for (size_t i = 0; i < N_SAVE; i++) {
        char key[256];
        int r = SAVE_MODULES[i].rank, nd = SAVE_MODULES[i].conv ? 4 : 2;
        snprintf(key, sizeof key, "%s.lora_down.weight", SAVE_MODULES[i].name);
        const st_tensor *d = st_find(f, key);
        snprintf(key, sizeof key, "%s.lora_up.weight", SAVE_MODULES[i].name);
        const st_tensor *u = st_find(f, key);
        snprintf(key, sizeof key, "%s.alpha", SAVE_MODULES[i].name);
        const st_tensor *a = st_find(f, key);
        CHECK(d && u && a);
        if (!d || !u || !a)
            continue;
        CHECK_INT(d->ndim, nd);
        CHECK_INT(u->ndim, nd);
        CHECK(d->shape[0] == r && d->shape[1] == SAVE_MODULES[i].in);
        CHECK(u->shape[0] == SAVE_MODULES[i].out && u->shape[1] == r);
        if (nd == 4)
            CHECK(d->shape[2] == 1 && d->shape[3] == 1 && u->shape[2] == 1 && u->shape[3] == 1);
        CHECK_INT(a->ndim, 0);
        CHECK_INT(a->numel, 1);
        CHECK(d->dtype == dt && u->dtype == dt && a->dtype == dt);
        char text[400];
        snprintf(text, sizeof text, "\"%s.alpha\":{\"dtype\":\"%s\",\"shape\":[],\"data_offsets\":[",
                 SAVE_MODULES[i].name, st_dtype_name(dt));
        CHECK(bytes && memmem(bytes, len, text, strlen(text)) != NULL);
    }
    CHECK_STR(st_meta(f, "ss_network_module"), "networks.lora");
    CHECK_STR(st_meta(f, "ss_network_dim"), "4");
    CHECK_STR(st_meta(f, "ss_network_alpha"), "2.0");
    CHECK_STR(st_meta(f, "ss_base_model_version"), base_version);
    free(bytes);
    st_close(f);
    free(path);
}

static void test_save_load(void)
{
    const st_dtype dts[] = {ST_F32, ST_F16, ST_BF16};
    for (int di = 0; di < 3; di++) {
        st_dtype dt = dts[di];
        tg_error err = {{0}};
        lora_set a, b;
        save_set(&a, 0, 100 + di);
        save_set(&b, 7, 200 + di); /* other weights and alphas, to be replaced */
        char rel[64];
        snprintf(rel, sizeof rel, "lora_%s.safetensors", st_dtype_name(dt));
        char *path = fixture_path(ROOT, rel);
        const char *const meta_out[] = {"ss_output_name", "mychar", NULL};
        const char *const meta_v[] = {"ss_base_model_version", "sd_v1_v", NULL};
        CHECK_INT(lora_save(&a, &K, path, dt, dt == ST_BF16 ? meta_v : meta_out, &err), 0);
        check_layout(rel, dt, dt == ST_BF16 ? "sd_v1_v" : "sd_v1");
        st_file *f = st_open(path, &err);
        CHECK(f != NULL);
        if (dt != ST_BF16)
            CHECK_STR(f ? st_meta(f, "ss_output_name") : NULL, "mychar");
        CHECK_INT(f ? lora_load(&b, &K, f, &err) : -1, 0);
        size_t n = a.ps.numel;
        float *wa = malloc(sizeof *wa * n), *wb = malloc(sizeof *wb * n);
        k_download(&K, &a.ps.all_w, wa);
        k_download(&K, &b.ps.all_w, wb);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += memcmp(&wb[i], &(float){stored(wa[i], dt)}, sizeof(float)) != 0;
        CHECK_INT(bad, 0);
        for (size_t i = 0; i < N_SAVE; i++) {
            CHECK(b.m[i].alpha == stored(a.m[i].alpha, dt));
            CHECK(b.m[i].scale == b.m[i].alpha / (float)b.m[i].rank);
        }
        int rank = 0, in = 0, out = 0;
        bool conv = false;
        float alpha = 0;
        CHECK_INT(f ? lora_file_module(f, SAVE_MODULES[0].name, &rank, &in, &out, &conv, &alpha, &err) : -1, 1);
        CHECK(rank == 4 && in == 8 && out == 8 && conv && alpha == 2);
        CHECK_INT(f ? lora_file_module(f, "lora_unet_absent", &rank, &in, &out, &conv, &alpha, &err) : -1, 0);
        st_close(f);
        free(wa);
        free(wb);
        free(path);
        lora_set_free(&a, &K);
        lora_set_free(&b, &K);
    }
}

/* A set of modules a, b, c..., linear 6 -> 5 at rank r. */
static void simple_set(lora_set *ls, const char *letters, int rank, bool conv, bool alloc)
{
    tg_error err = {{0}};
    lora_set_init(ls);
    for (const char *p = letters; *p; p++) {
        char name[32];
        snprintf(name, sizeof name, "lora_unet_%c", *p);
        CHECK(lora_attach(ls, name, 6, 5, conv, rank, 1) >= 0);
    }
    if (alloc)
        CHECK_INT(lora_alloc(ls, &K, false, 4, &err), 0);
}

/* lora_load on f fails with a message holding the file's path and want; ls keeps its weights. */
static void expect_load_fails(lora_set *ls, const char *path, const char *want)
{
    tg_error err = {{0}};
    st_file *f = st_open(path, &err);
    CHECK(f != NULL);
    if (!f)
        return;
    size_t n = ls->ps.numel;
    float *before = malloc(sizeof *before * n), *after = malloc(sizeof *after * n);
    if (ls->ps.all_w.data)
        k_download(&K, &ls->ps.all_w, before);
    CHECK_INT(lora_load(ls, &K, f, &err), -1);
    if (!strstr(err.msg, path) || !strstr(err.msg, want)) {
        fprintf(stderr, "  load message \"%s\" lacks \"%s\"\n", err.msg, want);
        CHECK(0);
    }
    if (ls->ps.all_w.data) {
        k_download(&K, &ls->ps.all_w, after);
        CHECK(memcmp(before, after, sizeof *before * n) == 0);
    }
    free(before);
    free(after);
    st_close(f);
}

/* Writes a hand-made file: module a with down [4, 6], up as given, and alpha as given (NULL: none). */
static char *hand_file(const char *rel, const int64_t *up_shape, st_dtype alpha_dt, int alpha_nd,
                       const int64_t *alpha_shape)
{
    static float down[24], up[20];
    static double alpha64[2] = {3, 3};
    static float alpha32[2] = {3, 3};
    tg_error err = {{0}};
    char *path = fixture_path(ROOT, rel);
    st_writer *w = st_writer_new();
    CHECK_INT(st_writer_add(w, "lora_unet_a.lora_down.weight", ST_F32, 2, (int64_t[]){4, 6}, down, &err), 0);
    CHECK_INT(st_writer_add(w, "lora_unet_a.lora_up.weight", ST_F32, 2, up_shape, up, &err), 0);
    if (alpha_nd >= 0)
        CHECK_INT(st_writer_add(w, "lora_unet_a.alpha", alpha_dt, alpha_nd, alpha_shape,
                                alpha_dt == ST_F64 ? (void *)alpha64 : (void *)alpha32, &err), 0);
    CHECK_INT(st_writer_save(w, path, &err), 0);
    st_writer_free(w);
    return path;
}

static void test_refusals_files(void)
{
    tg_error err = {{0}};
    lora_set ab, abc, a, a2, aconv, none;
    simple_set(&ab, "ab", 4, false, true);
    char *path = fixture_path(ROOT, "ab.safetensors");
    CHECK_INT(lora_save(&ab, &K, path, ST_F32, NULL, &err), 0);
    simple_set(&abc, "abc", 4, false, true);
    expect_load_fails(&abc, path, "no tensor 'lora_unet_c.lora_down.weight'");
    simple_set(&a, "a", 4, false, true);
    expect_load_fails(&a, path, "unknown key 'lora_unet_b.");
    simple_set(&a2, "ab", 2, false, true);
    expect_load_fails(&a2, path, "'lora_unet_a.lora_down.weight' is [4, 6], the module needs [2, 6]");
    simple_set(&aconv, "ab", 4, true, true);
    expect_load_fails(&aconv, path, "the module needs [4, 6, 1, 1]");
    simple_set(&none, "ab", 4, false, false);
    expect_load_fails(&none, path, "not allocated");

    /* saving: dtype, an empty set, a key without a value */
    CHECK_INT(lora_save(&ab, &K, path, ST_F64, NULL, &err), -1);
    CHECK(strstr(err.msg, "F64") != NULL);
    lora_set empty;
    lora_set_init(&empty);
    CHECK_INT(lora_save(&empty, &K, path, ST_F16, NULL, &err), -1);
    CHECK(strstr(err.msg, "no LoRA modules") != NULL);
    const char *const odd[] = {"ss_output_name", NULL};
    CHECK_INT(lora_save(&ab, &K, path, ST_F16, odd, &err), -1);
    CHECK(strstr(err.msg, "ss_output_name") != NULL);

    /* alpha: any dtype, missing = rank, one value only; a pair that does not fit */
    lora_set one;
    simple_set(&one, "a", 4, false, true);
    char *p1 = hand_file("f64.safetensors", (int64_t[]){5, 4}, ST_F64, 0, NULL);
    st_file *f = st_open(p1, &err);
    CHECK_INT(f ? lora_load(&one, &K, f, &err) : -1, 0);
    CHECK(one.m[0].alpha == 3 && one.m[0].scale == 0.75f);
    st_close(f);
    char *p2 = hand_file("noalpha.safetensors", (int64_t[]){5, 4}, ST_F32, -1, NULL);
    f = st_open(p2, &err);
    CHECK_INT(f ? lora_load(&one, &K, f, &err) : -1, 0);
    CHECK(one.m[0].alpha == 4 && one.m[0].scale == 1);
    st_close(f);
    char *p3 = hand_file("alpha2.safetensors", (int64_t[]){5, 4}, ST_F32, 1, (int64_t[]){2});
    expect_load_fails(&one, p3, "'lora_unet_a.alpha' should hold one value");
    char *p4 = hand_file("pair.safetensors", (int64_t[]){5, 3}, ST_F32, 0, NULL);
    int rank, in, out;
    bool conv;
    float alpha;
    f = st_open(p4, &err);
    CHECK_INT(f ? lora_file_module(f, "lora_unet_a", &rank, &in, &out, &conv, &alpha, &err) : 0, -1);
    CHECK(strstr(err.msg, "not a linear or 1x1 LoRA pair") != NULL);
    st_close(f);

    lora_set *sets[] = {&ab, &abc, &a, &a2, &aconv, &none, &empty, &one};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        lora_set_free(sets[i], &K);
    free(path);
    free(p1);
    free(p2);
    free(p3);
    free(p4);
}

int main(void)
{
    if (k_init(&K, "cpu", 2) != 0) {
        fprintf(stderr, "k_init: %s\n", K.msg);
        return 1;
    }
    ROOT = fixture_make();
    RUN(test_forward_backward);
    RUN(test_zero_init);
    RUN(test_scale);
    RUN(test_refusals_compute);
    RUN(test_save_load);
    RUN(test_refusals_files);
    fixture_remove(ROOT);
    k_free_ctx(&K);
    return check_finish();
}
