/* LoRA adapters: declaring, allocating and initialising them, and their forward and backward
 * (lora.h). Files are in lora_io.c, names in lora_names.c.
 *
 * The adapter is two GEMMs through the kernels (linear, or 1x1 conv2d for NCHW inputs, which is
 * exactly a per-pixel linear): h = down(x) over the whole input, then y += m * scale * up(h) in
 * chunks of rows (linear) or batch items (conv), because no kernel accumulates a GEMM into its
 * output: up(h) goes to a scratch chunk that is then added with k_axpby, and chunking keeps that
 * scratch near lora_tmp_floats instead of the size of y (ff.net.0.proj's output is 10.5 M floats
 * per 64x64 latent). The backward runs over the same chunks; every product accumulates, so
 * chunking changes nothing but the order of additions. */
#include "trainer/lora.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t lora_tmp_floats = (size_t)1 << 20; /* 4 MB of scratch, or one row/item if that is more */

void lora_set_init(lora_set *ls)
{
    memset(ls, 0, sizeof *ls);
    params_init(&ls->ps);
    ls->multiplier = 1;
}

void lora_set_free(lora_set *ls, kctx *k)
{
    for (size_t i = 0; i < ls->n; i++)
        free(ls->m[i].name);
    free(ls->m);
    params_free(&ls->ps, k);
    if (ls->tmp.data)
        k_tensor_free(k, &ls->tmp);
    lora_set_init(ls);
}

static long module_find(const lora_set *ls, const char *name)
{
    for (size_t i = 0; i < ls->n; i++)
        if (!strcmp(ls->m[i].name, name))
            return (long)i;
    return -1;
}

int lora_attach(lora_set *ls, const char *kohya_name, int in, int out, bool conv1x1, int rank,
                float alpha)
{
    /* a '.' would make `<name>.alpha` ambiguous; kohya's names have none */
    if (!kohya_name || !*kohya_name || strchr(kohya_name, '.') || in < 1 || out < 1 || rank < 1 ||
        !isfinite(alpha) || ls->ps.all_w.data || module_find(ls, kohya_name) >= 0)
        return -1;
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? 2 * ls->cap : 64;
        lora_module *m = realloc(ls->m, sizeof *m * cap);
        if (!m)
            return -1;
        ls->m = m;
        ls->cap = cap;
    }
    int nd = conv1x1 ? 4 : 2;
    int64_t dshape[4] = {rank, in, 1, 1}, ushape[4] = {out, rank, 1, 1};
    lora_module *m = &ls->m[ls->n];
    *m = (lora_module){.name = strdup(kohya_name), .in = in, .out = out, .rank = rank,
                       .alpha = alpha == 0 ? (float)rank : alpha, .conv1x1 = conv1x1};
    m->scale = m->alpha / (float)rank;
    m->down = params_add(&ls->ps, nd, dshape, "%s.lora_down.weight", kohya_name);
    m->up = params_add(&ls->ps, nd, ushape, "%s.lora_up.weight", kohya_name);
    if (!m->name || m->down < 0 || m->up < 0) {
        free(m->name);
        return -1;
    }
    return (int)ls->n++;
}

int lora_alloc(lora_set *ls, kctx *k, bool with_grads, uint64_t seed, tg_error *err)
{
    if (ls->ps.all_w.data)
        return error_set(err, "LoRA: the weights are already allocated");
    if (params_alloc(&ls->ps, k, with_grads, err) < 0)
        return -1;
    /* kaiming_uniform_(a = sqrt 5) as nn.Linear: bound = gain * sqrt(3 / fan_in) with gain =
     * sqrt(2 / (1 + a^2)), i.e. 1 / sqrt(fan_in); fan_in = in (the kernel is 1x1) */
    k_rng rng = {seed, 0};
    for (size_t i = 0; i < ls->n; i++) {
        const lora_module *m = &ls->m[i];
        float bound = 1.0f / sqrtf((float)m->in);
        if (k_rand_uniform(k, params_w(&ls->ps, m->down), &rng, -bound, bound) < 0)
            return error_set(err, "LoRA %s: %s", m->name, k->msg);
        k_zero(k, params_w(&ls->ps, m->up));
    }
    return 0;
}

/* ---- shapes ---- */

static void shape_text(char *buf, size_t size, const tensor *t)
{
    params_shape_text(buf, size, t->ndim, t->shape);
}

static int fail(kctx *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(kctx *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->msg, sizeof k->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* A kernel's refusal, with the module named in front. */
static int kernel_fail(kctx *k, const lora_module *m)
{
    char why[sizeof k->msg];
    memcpy(why, k->msg, sizeof why);
    return fail(k, "lora %.80s: %.160s", m->name, why);
}

static int channel_dim(const lora_module *m, const tensor *x)
{
    return m->conv1x1 ? 1 : x->ndim - 1;
}

/* t has x's shape with channels c in x's channel dim. */
static bool shape_like(const tensor *t, const tensor *x, int cdim, int64_t c)
{
    if (!t || t->ndim != x->ndim || t->shape[cdim] != c)
        return false;
    for (int d = 0; d < x->ndim; d++)
        if (d != cdim && t->shape[d] != x->shape[d])
            return false;
    return true;
}

/* x (..., in) or (B, in, H, W); h the same with rank channels, y (or dy) with out. */
static int check_shapes(kctx *k, const lora_module *m, const tensor *x, const tensor *h,
                        const tensor *y, const char *yname)
{
    char sx[64], sh[64], sy[64];
    if (!x || !h || !y || x->ndim < 1 || (m->conv1x1 && x->ndim != 4))
        return fail(k, "lora %.80s: %s needs x, h and %s%s", m->name,
                    m->conv1x1 ? "a 1x1 conv" : "a linear", yname, m->conv1x1 ? ", NCHW" : "");
    int cd = channel_dim(m, x);
    if (x->shape[cd] != m->in || !shape_like(h, x, cd, m->rank) || !shape_like(y, x, cd, m->out)) {
        shape_text(sx, sizeof sx, x);
        shape_text(sh, sizeof sh, h);
        shape_text(sy, sizeof sy, y);
        return fail(k, "lora %.80s (in %d, rank %d, out %d): x is %s, h %s, %s %s", m->name, m->in,
                    m->rank, m->out, sx, sh, yname, sy);
    }
    return 0;
}

static const lora_module *module_at(kctx *k, const lora_set *ls, int m)
{
    if (m < 0 || (size_t)m >= ls->n) {
        fail(k, "lora: no module %d (%zu attached)", m, ls->n);
        return NULL;
    }
    if (!ls->ps.all_w.data) {
        fail(k, "lora %.80s: the weights are not allocated (lora_alloc)", ls->m[m].name);
        return NULL;
    }
    return &ls->m[m];
}

void lora_hidden_shape(const lora_set *ls, int m, const tensor *x, int *ndim, int64_t *shape)
{
    *ndim = x->ndim;
    memcpy(shape, x->shape, sizeof *shape * (size_t)x->ndim);
    shape[channel_dim(&ls->m[m], x)] = ls->m[m].rank;
}

/* ---- chunks ---- */

/* Rows are what the GEMMs run over: the flattened leading dims of a linear's input, or a conv's
 * batch items; a chunk of n rows from r0 is a view of t (x, h, y or their gradients). */
typedef struct rows {
    int64_t n;      /* rows in all */
    int64_t pixels; /* values per channel in a row: H*W for a conv, 1 for a linear */
} rows;

static rows rows_of(const lora_module *m, const tensor *x)
{
    if (m->conv1x1)
        return (rows){x->shape[0], x->shape[2] * x->shape[3]};
    return (rows){(int64_t)(tensor_numel(x) / (size_t)m->in), 1};
}

static tensor chunk(const tensor *t, const lora_module *m, int64_t r0, int64_t n)
{
    tensor c = *t;
    int64_t per_row;
    if (m->conv1x1) {
        per_row = t->shape[1] * t->shape[2] * t->shape[3];
        c.shape[0] = n;
    } else {
        per_row = t->shape[t->ndim - 1];
        c.ndim = 2;
        c.shape[0] = n;
        c.shape[1] = per_row;
    }
    c.data = (float *)t->data + r0 * per_row;
    return c;
}

/* Rows per chunk when a row needs `floats` of scratch; the scratch is made that big. */
static int64_t chunk_rows(lora_set *ls, kctx *k, const lora_module *m, rows r, int64_t floats)
{
    int64_t n = (int64_t)lora_tmp_floats / floats;
    n = n < 1 ? 1 : n > r.n ? r.n : n;
    size_t need = (size_t)(n * floats);
    if (!ls->tmp.data || tensor_numel(&ls->tmp) < need) {
        if (ls->tmp.data)
            k_tensor_free(k, &ls->tmp);
        int64_t len = (int64_t)need;
        ls->tmp = k_tensor(k, K_F32, 1, &len);
        if (!ls->tmp.data)
            return kernel_fail(k, m);
    }
    return n;
}

/* The scratch seen with like's shape. */
static tensor tmp_as(const lora_set *ls, const tensor *like)
{
    tensor t = ls->tmp;
    t.ndim = like->ndim;
    memcpy(t.shape, like->shape, sizeof t.shape);
    return t;
}

/* y = w(x): the linear or 1x1 conv of the module's kind. */
static int apply(kctx *k, const lora_module *m, tensor *y, const tensor *x, const tensor *w)
{
    return m->conv1x1 ? k_conv2d_forward(k, y, x, w, NULL, 1, 0) : k_linear_forward(k, y, x, w, NULL);
}

/* dx += w^T dy, dw += dy x^T (either may be NULL). */
static int apply_back(kctx *k, const lora_module *m, tensor *dx, tensor *dw, const tensor *dy,
                      const tensor *x, const tensor *w)
{
    return m->conv1x1 ? k_conv2d_backward(k, dx, dw, NULL, dy, x, w, 1, 0)
                      : k_linear_backward(k, dx, dw, NULL, dy, x, w);
}

/* ---- forward and backward ---- */

int lora_forward(kctx *k, lora_set *ls, int mi, tensor *y, const tensor *x, tensor *h)
{
    const lora_module *m = module_at(k, ls, mi);
    if (!m || check_shapes(k, m, x, h, y, "y") < 0)
        return -1;
    tensor *down = params_w(&ls->ps, m->down), *up = params_w(&ls->ps, m->up);
    if (apply(k, m, h, x, down) < 0) /* h = down(x): the backward needs it even at strength 0 */
        return kernel_fail(k, m);
    float s = ls->multiplier * m->scale;
    if (s == 0)
        return 0;
    rows r = rows_of(m, x);
    int64_t step = chunk_rows(ls, k, m, r, m->out * r.pixels);
    if (step < 0)
        return -1;
    for (int64_t r0 = 0; r0 < r.n; r0 += step) {
        int64_t n = r.n - r0 < step ? r.n - r0 : step;
        tensor hc = chunk(h, m, r0, n), yc = chunk(y, m, r0, n), t = tmp_as(ls, &yc);
        if (apply(k, m, &t, &hc, up) < 0 || k_axpby(k, &yc, s, &t, 1) < 0) /* y += s up(h) */
            return kernel_fail(k, m);
    }
    return 0;
}

/* One chunk of the backward; t is scratch shaped like hc. */
static int backward_chunk(kctx *k, lora_set *ls, const lora_module *m, float s, tensor *dxc,
                          const tensor *dyc, const tensor *xc, const tensor *hc, tensor *t)
{
    tensor *down = params_w(&ls->ps, m->down), *up = params_w(&ls->ps, m->up);
    tensor *ddown = params_g(&ls->ps, m->down), *dup = params_g(&ls->ps, m->up);
    if (dup) { /* dup += s dy h^T: the weight gradient of up applied to s h */
        if (k_axpby(k, t, s, hc, 0) < 0 || apply_back(k, m, NULL, dup, dyc, t, up) < 0)
            return -1;
    }
    if (!ddown && !dxc)
        return 0;
    k_zero(k, t); /* dh = s up^T dy, then through down */
    if (apply_back(k, m, t, NULL, dyc, hc, up) < 0 || k_axpby(k, t, s, t, 0) < 0)
        return -1;
    return apply_back(k, m, dxc, ddown, t, xc, down);
}

int lora_backward(kctx *k, lora_set *ls, int mi, tensor *dx, const tensor *dy, const tensor *x,
                  const tensor *h)
{
    const lora_module *m = module_at(k, ls, mi);
    if (!m || check_shapes(k, m, x, h, dy, "dy") < 0)
        return -1;
    if (dx && !shape_like(dx, x, channel_dim(m, x), m->in))
        return check_shapes(k, m, x, h, dx, "dx");
    float s = ls->multiplier * m->scale;
    bool grads = params_g(&ls->ps, m->down) || params_g(&ls->ps, m->up);
    if (s == 0 || (!dx && !grads)) /* every term is a multiple of s */
        return 0;
    rows r = rows_of(m, x);
    int64_t step = chunk_rows(ls, k, m, r, m->rank * r.pixels);
    if (step < 0)
        return -1;
    for (int64_t r0 = 0; r0 < r.n; r0 += step) {
        int64_t n = r.n - r0 < step ? r.n - r0 : step;
        tensor xc = chunk(x, m, r0, n), hc = chunk(h, m, r0, n), dyc = chunk(dy, m, r0, n);
        tensor dxc = dx ? chunk(dx, m, r0, n) : (tensor){0}, t = tmp_as(ls, &hc);
        if (backward_chunk(k, ls, m, s, dx ? &dxc : NULL, &dyc, &xc, &hc, &t) < 0)
            return kernel_fail(k, m);
    }
    return 0;
}
