/* Linear, conv2d and embedding on the CPU. The FLOPs are in GEMMs handed to OpenBLAS (with its own
 * threads); what is around them (im2col, col2im, bias, gathers) runs on the context's pool.
 *
 * Convolution is im2col + GEMM over several batch items at once: col (K, n*P) with K = C*kh*kw,
 * P = Ho*Wo, so that the small feature maps of a tiny model still make GEMMs big enough to keep
 * every core busy, while the column buffer stays under cpu_conv_col_budget bytes (conv_plan_of). */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_threads.h"

/* <cblas.h> may bring <complex.h>, whose macro I rules out I as a name: inputs are IN here. */

size_t cpu_conv_col_budget = (size_t)64 << 20;
#define GRAIN 4096 /* elements per chunk for cheap loops: below this, a wake-up costs more */

/* ---------------------------------------------------------------------------------------------- */
/* linear */

typedef struct bias_job {
    float *y;
    const float *b;
    int64_t O;
} bias_job;

static void bias_rows(void *p, int64_t begin, int64_t end)
{
    bias_job *j = p;
    for (int64_t n = begin; n < end; n++)
        memcpy(j->y + n * j->O, j->b, (size_t)j->O * sizeof(float));
}

/* x is (N, I), w is (O, I), b is (O) or NULL, y is (N, O) */
void cpu_linear_fwd(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b)
{
    int64_t O = w->shape[0], IN = w->shape[1], N = (int64_t)(tensor_numel(x) / IN);
    float beta = 0;
    if (b) { /* y starts as the bias, and the GEMM adds onto it */
        bias_job j = {y->data, b->data, O};
        cpu_parallel_for(k, N, GRAIN / O + 1, bias_rows, &j);
        beta = 1;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, IN, 1, x->data, IN, w->data, IN, beta,
                y->data, O);
}

typedef struct colsum_job {
    float *out;           /* (O) += sum over rows */
    const float *m;       /* (rows, O) */
    int64_t rows, O;
} colsum_job;

/* Each chunk owns a range of columns and walks every row, so no two threads add to one column. */
static void colsum_range(void *p, int64_t begin, int64_t end)
{
    colsum_job *j = p;
    for (int64_t r = 0; r < j->rows; r++) {
        const float *row = j->m + r * j->O;
        for (int64_t o = begin; o < end; o++)
            j->out[o] += row[o];
    }
}

/* dy is (N, O); dx (N, I) += dy . w; dw (O, I) += dy^T . x; db (O) += sum_n dy */
void cpu_linear_bwd(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x,
                    const tensor *w)
{
    int64_t O = w->shape[0], IN = w->shape[1], N = (int64_t)(tensor_numel(x) / IN);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, O, 1, dy->data, O, w->data, IN,
                    1, dx->data, IN);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, IN, N, 1, dy->data, O, x->data, IN, 1,
                    dw->data, IN);
    if (db) {
        colsum_job j = {db->data, dy->data, N, O};
        cpu_parallel_for(k, O, 64, colsum_range, &j);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* conv2d */

typedef struct conv_geom {
    int64_t B, C, H, W, O, kh, kw, Ho, Wo, K, P;
    int stride, pad;
} conv_geom;

static conv_geom conv_geom_of(const tensor *x, const tensor *w, int stride, int pad)
{
    conv_geom g = {.B = x->shape[0], .C = x->shape[1], .H = x->shape[2], .W = x->shape[3],
                   .O = w->shape[0], .kh = w->shape[2], .kw = w->shape[3], .stride = stride, .pad = pad};
    g.Ho = (g.H + 2 * pad - g.kh) / stride + 1;
    g.Wo = (g.W + 2 * pad - g.kw) / stride + 1;
    g.K = g.C * g.kh * g.kw;
    g.P = g.Ho * g.Wo;
    return g;
}

/* A tile is what one GEMM covers: n whole batch items from b0, or (for a big feature map such as a
 * VAE's 512x512 layers, whose columns alone would be a gigabyte) rows oy0 .. oy0+rows of one item.
 * Its columns are (K, n * rows * Wo). */
typedef struct conv_tile {
    int64_t b0, n, oy0, rows;
} conv_tile;

typedef struct conv_plan {
    int64_t items, rows; /* per tile: items (rows == Ho), or rows of one item */
    size_t floats;       /* scratch: columns (K, cols) then a GEMM output (O, cols) */
    bool pointwise;      /* 1x1, stride 1, no padding: x already is the column matrix */
} conv_plan;

/* Tiles are sized so that columns plus GEMM output stay in cache (4 MiB: two cores' L2, well inside
 * L3) while the im2col writes and the GEMM reads them, rather than streaming tens of megabytes
 * through memory. Smaller tiles (1 MiB, one 16x16 item of 64 channels) measured slower: OpenBLAS's
 * threaded GEMM loses more on 64 x 256 x 576 than the cache gains. cpu_conv_col_budget caps it
 * further (the tests force small tilings through it). */
#define CONV_TILE_BYTES ((size_t)4 << 20)

static conv_plan conv_plan_of(const conv_geom *g)
{
    size_t per_row = (size_t)(g->K + g->O) * (size_t)g->Wo, per_item = per_row * (size_t)g->Ho;
    size_t cap = cpu_conv_col_budget < CONV_TILE_BYTES ? cpu_conv_col_budget : CONV_TILE_BYTES;
    size_t budget = cap / sizeof(float);
    conv_plan p = {1, g->Ho, 0, false};
    if (g->kh == 1 && g->kw == 1 && g->stride == 1 && g->pad == 0) {
        /* one item per tile, read and written in place: no scratch at all */
        p.pointwise = true;
        return p;
    }
    if (per_item <= budget) {
        p.items = (int64_t)(budget / per_item);
        p.items = p.items > g->B ? g->B : p.items;
    } else {
        p.rows = (int64_t)(budget / per_row);
        p.rows = p.rows < 1 ? 1 : p.rows;
    }
    p.floats = per_row * (size_t)p.rows * (size_t)p.items;
    return p;
}

/* The next tile after t (t.n == 0: the first); false when done. */
static bool conv_tile_next(const conv_geom *g, const conv_plan *p, conv_tile *t)
{
    if (t->n == 0) {
        *t = (conv_tile){0, 0, 0, 0};
    } else if (t->oy0 + t->rows < g->Ho) {
        t->oy0 += t->rows;
    } else {
        t->b0 += t->n;
        t->oy0 = 0;
    }
    if (t->b0 >= g->B)
        return false;
    t->n = g->B - t->b0 < p->items ? g->B - t->b0 : p->items;
    t->rows = g->Ho - t->oy0 < p->rows ? g->Ho - t->oy0 : p->rows;
    return true;
}

typedef struct col_job {
    const conv_geom *g;
    conv_tile t;
    float *col;        /* (K, t.n * t.rows * Wo) */
    float *x;          /* (B, C, H, W); read by im2col, added to by col2im */
} col_job;

/* The output columns [*lo, *hi) whose input column ix = ox * stride - pad + kj falls inside the
 * image; the others read padding. Hoisting the bounds out of the inner loops keeps them branch-free
 * (and a plain copy at stride 1). */
static void tap_cols(const conv_geom *g, int64_t kj, int64_t *lo, int64_t *hi)
{
    int64_t first = g->pad - kj, last = g->W - 1 + g->pad - kj; /* ox * stride in [first, last] */
    *lo = first <= 0 ? 0 : (first + g->stride - 1) / g->stride;
    *hi = last < 0 ? 0 : last / g->stride + 1;
    *hi = *hi > g->Wo ? g->Wo : *hi;
    *lo = *lo > *hi ? *hi : *lo;
}

/* One row r = (c, ki, kj) of col: the input pixel each output position of the tile sees through
 * tap (ki, kj), zero where that falls in the padding. */
static void im2col_row(const col_job *j, int64_t r)
{
    const conv_geom *g = j->g;
    int64_t c = r / (g->kh * g->kw), ki = r / g->kw % g->kh, kj = r % g->kw, tp = j->t.rows * g->Wo;
    int64_t lo, hi, s = g->stride;
    tap_cols(g, kj, &lo, &hi);
    for (int64_t it = 0; it < j->t.n; it++) {
        const float *plane = j->x + ((j->t.b0 + it) * g->C + c) * g->H * g->W;
        float *out = j->col + (r * j->t.n + it) * tp;
        for (int64_t oy = j->t.oy0; oy < j->t.oy0 + j->t.rows; oy++) {
            int64_t iy = oy * s - g->pad + ki;
            float *orow = out + (oy - j->t.oy0) * g->Wo;
            if (iy < 0 || iy >= g->H || lo == hi) {
                memset(orow, 0, (size_t)g->Wo * sizeof(float));
                continue;
            }
            const float *irow = plane + iy * g->W + lo * s - g->pad + kj; /* input of column lo */
            memset(orow, 0, (size_t)lo * sizeof(float));
            if (s == 1)
                memcpy(orow + lo, irow, (size_t)(hi - lo) * sizeof(float));
            else
                for (int64_t ox = lo; ox < hi; ox++)
                    orow[ox] = irow[(ox - lo) * s];
            memset(orow + hi, 0, (size_t)(g->Wo - hi) * sizeof(float));
        }
    }
}

static void im2col_range(void *p, int64_t begin, int64_t end)
{
    for (int64_t r = begin; r < end; r++)
        im2col_row(p, r);
}

/* The adjoint of im2col for channel c: every tap's column entries added back onto the pixel they
 * were read from. Chunks own whole channels, so no two threads add to one pixel. */
static void col2im_channel(const col_job *j, int64_t c)
{
    const conv_geom *g = j->g;
    int64_t tp = j->t.rows * g->Wo, s = g->stride;
    for (int64_t it = 0; it < j->t.n; it++) {
        float *plane = j->x + ((j->t.b0 + it) * g->C + c) * g->H * g->W;
        for (int64_t tap = 0; tap < g->kh * g->kw; tap++) {
            int64_t ki = tap / g->kw, kj = tap % g->kw, r = c * g->kh * g->kw + tap, lo, hi;
            const float *in = j->col + (r * j->t.n + it) * tp;
            tap_cols(g, kj, &lo, &hi);
            for (int64_t oy = j->t.oy0; oy < j->t.oy0 + j->t.rows; oy++) {
                int64_t iy = oy * s - g->pad + ki;
                if (iy < 0 || iy >= g->H)
                    continue;
                const float *crow = in + (oy - j->t.oy0) * g->Wo;
                float *xrow = plane + iy * g->W + lo * s - g->pad + kj; /* pixel of column lo */
                for (int64_t ox = lo; ox < hi; ox++)
                    xrow[(ox - lo) * s] += crow[ox];
            }
        }
    }
}

static void col2im_range(void *p, int64_t begin, int64_t end)
{
    for (int64_t c = begin; c < end; c++)
        col2im_channel(p, c);
}

/* Between the GEMM's (O, n, rows*Wo) layout and NCHW's (B, O, Ho*Wo): each (o, item) pair is one
 * contiguous run in both. to_nchw: y = m (+ bias); else m = y. */
typedef struct gather_job {
    const conv_geom *g;
    conv_tile t;
    float *m, *y;
    const float *bias;
    bool to_nchw;
} gather_job;

static void gather_range(void *p, int64_t begin, int64_t end)
{
    gather_job *j = p;
    int64_t tp = j->t.rows * j->g->Wo;
    for (int64_t q = begin; q < end; q++) {
        int64_t o = q / j->t.n, it = q % j->t.n;
        float *m = j->m + q * tp;
        float *y = j->y + ((j->t.b0 + it) * j->g->O + o) * j->g->P + j->t.oy0 * j->g->Wo;
        if (!j->to_nchw) {
            memcpy(m, y, (size_t)tp * sizeof(float));
            continue;
        }
        float b = j->bias ? j->bias[o] : 0.0f;
        for (int64_t i = 0; i < tp; i++)
            y[i] = m[i] + b;
    }
}

static int conv_scratch_fail(kctx *k, const conv_plan *p)
{
    snprintf(k->msg, sizeof k->msg, "conv2d: out of memory for %zu bytes of column scratch",
             p->floats * sizeof(float));
    return -1;
}

/* x is (B, C, H, W), w is (O, C, kh, kw) = (O, K), b is (O) or NULL, y is (B, O, Ho, Wo).
 * Per tile: col (K, cols) = im2col(x); out (O, cols) = w . col; y = out + b. A tile of one item
 * (or a band of its rows) is already laid out as y's (O, rows*Wo) with row stride P, so its GEMM
 * writes straight into y (onto the bias) and skips the gather; a pointwise conv's columns are x. */
void cpu_conv2d_fwd(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b, int stride,
                    int pad)
{
    conv_geom g = conv_geom_of(x, w, stride, pad);
    conv_plan p = conv_plan_of(&g);
    float *col = NULL;
    if (p.floats && !(col = cpu_scratch(k, p.floats * sizeof(float)))) {
        conv_scratch_fail(k, &p);
        return;
    }
    float *xd = x->data, *yd = y->data;
    for (conv_tile t = {0}; conv_tile_next(&g, &p, &t);) {
        int64_t cols = t.n * t.rows * g.Wo;
        const float *bcol = col;
        int64_t ldb = cols;
        if (p.pointwise) {
            bcol = xd + t.b0 * g.C * g.P + t.oy0 * g.Wo;
            ldb = g.P;
        } else {
            col_job cj = {&g, t, col, xd};
            cpu_parallel_for(k, g.K, 1, im2col_range, &cj);
        }
        if (t.n == 1) {
            float *out = yd + t.b0 * g.O * g.P + t.oy0 * g.Wo;
            float beta = 0;
            if (b) {
                const float *bd = b->data;
                for (int64_t o = 0; o < g.O; o++)
                    for (int64_t i = 0; i < cols; i++)
                        out[o * g.P + i] = bd[o];
                beta = 1;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.O, cols, g.K, 1, w->data, g.K,
                        bcol, ldb, beta, out, g.P);
            continue;
        }
        float *out = col + g.K * cols;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.O, cols, g.K, 1, w->data, g.K, bcol,
                    ldb, 0, out, cols);
        gather_job gj = {&g, t, out, yd, b ? b->data : NULL, true};
        cpu_parallel_for(k, g.O * t.n, GRAIN / (t.rows * g.Wo) + 1, gather_range, &gj);
    }
}

/* db (O) += sum over batch and positions of dy (B, O, P): chunks own output channels. */
typedef struct convdb_job {
    float *db;
    const float *dy;
    int64_t B, O, P;
} convdb_job;

static void convdb_range(void *p, int64_t begin, int64_t end)
{
    convdb_job *j = p;
    for (int64_t o = begin; o < end; o++) {
        double s = 0;
        for (int64_t b = 0; b < j->B; b++) {
            const float *d = j->dy + (b * j->O + o) * j->P;
            for (int64_t i = 0; i < j->P; i++)
                s += d[i];
        }
        j->db[o] += (float)s;
    }
}

/* dy is (B, O, Ho, Wo). Per tile, with dy_m (O, cols) = dy gathered: dw (O, K) += dy_m . col^T;
 * dcol (K, cols) = w^T . dy_m, dx += col2im(dcol) (the column buffer serves col, then dcol);
 * db (O) += sum dy. A one-item tile reads dy_m in place (row stride P); a pointwise conv reads its
 * columns from x and adds w^T . dy_m straight into dx. */
void cpu_conv2d_bwd(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x,
                    const tensor *w, int stride, int pad)
{
    conv_geom g = conv_geom_of(x, w, stride, pad);
    if (db) {
        convdb_job j = {db->data, dy->data, g.B, g.O, g.P};
        cpu_parallel_for(k, g.O, 1, convdb_range, &j);
    }
    if (!dx && !dw)
        return;
    conv_plan p = conv_plan_of(&g);
    float *col = NULL;
    if (p.floats && !(col = cpu_scratch(k, p.floats * sizeof(float)))) {
        conv_scratch_fail(k, &p);
        return;
    }
    float *xd = x->data, *dyd = dy->data;
    for (conv_tile t = {0}; conv_tile_next(&g, &p, &t);) {
        int64_t cols = t.n * t.rows * g.Wo;
        float *dym;
        int64_t ldd;
        if (t.n == 1) {
            dym = dyd + t.b0 * g.O * g.P + t.oy0 * g.Wo;
            ldd = g.P;
        } else {
            dym = col + g.K * cols;
            ldd = cols;
            gather_job gj = {&g, t, dym, dyd, NULL, false};
            cpu_parallel_for(k, g.O * t.n, GRAIN / (t.rows * g.Wo) + 1, gather_range, &gj);
        }
        if (p.pointwise) {
            int64_t off = t.b0 * g.C * g.P + t.oy0 * g.Wo;
            if (dw)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g.O, g.K, cols, 1, dym, ldd,
                            xd + off, g.P, 1, dw->data, g.K);
            if (dx)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.K, cols, g.O, 1, w->data, g.K,
                            dym, ldd, 1, (float *)dx->data + off, g.P);
            continue;
        }
        if (dw) {
            col_job cj = {&g, t, col, xd};
            cpu_parallel_for(k, g.K, 1, im2col_range, &cj);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g.O, g.K, cols, 1, dym, ldd, col,
                        cols, 1, dw->data, g.K);
        }
        if (dx) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.K, cols, g.O, 1, w->data, g.K, dym,
                        ldd, 0, col, cols);
            col_job cj = {&g, t, col, dx->data};
            cpu_parallel_for(k, g.C, 1, col2im_range, &cj);
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* embedding */

/* table is (V, C), ids (N), y is (N, C) */
void cpu_embedding_fwd(kctx *k, tensor *y, const int32_t *ids, const tensor *table)
{
    (void)k;
    int64_t C = table->shape[1], N = (int64_t)(tensor_numel(y) / C);
    const float *t = table->data;
    float *out = y->data;
    for (int64_t n = 0; n < N; n++)
        memcpy(out + n * C, t + (int64_t)ids[n] * C, (size_t)C * sizeof(float));
}

/* dtable (V, C) += dy rows scattered by ids (repeated ids add up, in order) */
void cpu_embedding_bwd(kctx *k, tensor *dtable, const tensor *dy, const int32_t *ids)
{
    (void)k;
    int64_t C = dtable->shape[1], N = (int64_t)(tensor_numel(dy) / C);
    const float *d = dy->data;
    float *t = dtable->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            t[(int64_t)ids[n] * C + c] += d[n * C + c];
}
