/* Public linear, conv2d and embedding: shape checks, then the backend. */
#include <limits.h>

#include "kernels/private/backend.h"
#include "kernels/private/k_check.h"

/* ---- linear ---- */

/* x (..., I), w (O, I), b (O) or NULL, y (..., O) with x's leading dims */
static int linear_check(kctx *k, const char *op, const tensor *y, const char *yname, const tensor *x,
                        const tensor *w, const tensor *b)
{
    char sx[K_SHAPE_STR], sw[K_SHAPE_STR], sy[K_SHAPE_STR];
    if (k_check_f32(k, op, "x", x) || k_check_ndim(k, op, "w", w, 2))
        return -1;
    if (x->shape[x->ndim - 1] != w->shape[1])
        return k_fail(k, "%s: w %s takes %lld inputs, x %s has %lld", op, k_shape_str(w, sw),
                      (long long)w->shape[1], k_shape_str(x, sx), (long long)x->shape[x->ndim - 1]);
    if (b && k_check_ndim(k, op, "b", b, 1))
        return -1;
    if (b && b->shape[0] != w->shape[0])
        return k_fail(k, "%s: b has %lld entries, w has %lld outputs", op, (long long)b->shape[0],
                      (long long)w->shape[0]);
    if (tensor_numel(x) / (size_t)w->shape[1] > INT_MAX || w->shape[0] > INT_MAX || w->shape[1] > INT_MAX)
        return k_fail(k, "%s: x %s or w %s has a dim beyond BLAS's int range", op, k_shape_str(x, sx),
                      k_shape_str(w, sw));
    if (!y)
        return 0;
    if (k_check_f32(k, op, yname, y))
        return -1;
    if (y->data == x->data)
        return k_fail(k, "%s: %s and x are the same memory (a GEMM cannot run in place)", op, yname);
    bool ok = y->ndim == x->ndim && y->shape[y->ndim - 1] == w->shape[0];
    for (int i = 0; ok && i < x->ndim - 1; i++)
        ok = y->shape[i] == x->shape[i];
    if (!ok)
        return k_fail(k, "%s: %s is %s, expected x's leading dims %s with %lld outputs", op, yname,
                      k_shape_str(y, sy), k_shape_str(x, sx), (long long)w->shape[0]);
    return 0;
}

int k_linear_forward(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b)
{
    if (linear_check(k, "linear", y, "y", x, w, b) || (!y && k_fail(k, "linear: y is missing")))
        return -1;
    k_call_begin(k);
    k->be->linear_fwd(k, y, x, w, b);
    return k_call_end(k);
}

int k_linear_backward(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x,
                      const tensor *w)
{
    const char *op = "linear backward";
    if (!dy)
        return k_fail(k, "%s: dy is missing", op);
    if (linear_check(k, op, dy, "dy", x, w, db) || (dx && k_check_same(k, op, "x", x, "dx", dx)) ||
        (dw && k_check_same(k, op, "w", w, "dw", dw)))
        return -1;
    k_call_begin(k);
    k->be->linear_bwd(k, dx, dw, db, dy, x, w);
    return k_call_end(k);
}

/* ---- conv2d ---- */

/* x (B, C, H, W), w (O, C, kh, kw), b (O) or NULL, y (B, O, Ho, Wo) */
static int conv2d_check(kctx *k, const char *op, const tensor *y, const char *yname, const tensor *x,
                        const tensor *w, const tensor *b, int stride, int pad)
{
    char sx[K_SHAPE_STR], sw[K_SHAPE_STR], sy[K_SHAPE_STR];
    if (k_check_ndim(k, op, "x", x, 4) || k_check_ndim(k, op, "w", w, 4))
        return -1;
    if (w->shape[1] != x->shape[1])
        return k_fail(k, "%s: w %s has %lld input channels, x %s has %lld", op, k_shape_str(w, sw),
                      (long long)w->shape[1], k_shape_str(x, sx), (long long)x->shape[1]);
    if (stride < 1 || pad < 0)
        return k_fail(k, "%s: stride %d, pad %d (need stride >= 1, pad >= 0)", op, stride, pad);
    int64_t ho = (x->shape[2] + 2 * (int64_t)pad - w->shape[2]), wo = (x->shape[3] + 2 * (int64_t)pad - w->shape[3]);
    if (ho < 0 || wo < 0)
        return k_fail(k, "%s: kernel %lldx%lld is larger than x %s padded by %d", op,
                      (long long)w->shape[2], (long long)w->shape[3], k_shape_str(x, sx), pad);
    ho = ho / stride + 1;
    wo = wo / stride + 1;
    if (b && k_check_ndim(k, op, "b", b, 1))
        return -1;
    if (b && b->shape[0] != w->shape[0])
        return k_fail(k, "%s: b has %lld entries, w has %lld output channels", op,
                      (long long)b->shape[0], (long long)w->shape[0]);
    if (k_check_ndim(k, op, yname, y, 4))
        return -1;
    if (y->data == x->data)
        return k_fail(k, "%s: %s and x are the same memory (a convolution cannot run in place)", op, yname);
    if (y->shape[0] != x->shape[0] || y->shape[1] != w->shape[0] || y->shape[2] != ho || y->shape[3] != wo)
        return k_fail(k, "%s: %s is %s, expected (%lld, %lld, %lld, %lld) for x %s, w %s, stride %d, "
                      "pad %d", op, yname, k_shape_str(y, sy), (long long)x->shape[0],
                      (long long)w->shape[0], (long long)ho, (long long)wo, k_shape_str(x, sx),
                      k_shape_str(w, sw), stride, pad);
    return 0;
}

int k_conv2d_forward(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b, int stride,
                     int pad)
{
    if (conv2d_check(k, "conv2d", y, "y", x, w, b, stride, pad))
        return -1;
    k_call_begin(k);
    k->be->conv2d_fwd(k, y, x, w, b, stride, pad);
    return k_call_end(k);
}

int k_conv2d_backward(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x,
                      const tensor *w, int stride, int pad)
{
    const char *op = "conv2d backward";
    if (conv2d_check(k, op, dy, "dy", x, w, db, stride, pad) ||
        (dx && k_check_same(k, op, "x", x, "dx", dx)) || (dw && k_check_same(k, op, "w", w, "dw", dw)))
        return -1;
    k_call_begin(k);
    k->be->conv2d_bwd(k, dx, dw, db, dy, x, w, stride, pad);
    return k_call_end(k);
}

/* ---- embedding ---- */

/* table (V, C), y (..., C): one id per row of y, each in [0, V) */
static int embedding_check(kctx *k, const char *op, const tensor *y, const char *yname,
                           const int32_t *ids, const tensor *table, const char *tname)
{
    char sy[K_SHAPE_STR], st[K_SHAPE_STR];
    if (k_check_ndim(k, op, tname, table, 2) || k_check_f32(k, op, yname, y))
        return -1;
    if (y->ndim < 2 || y->shape[y->ndim - 1] != table->shape[1])
        return k_fail(k, "%s: %s is %s, %s is %s (need rows of %lld)", op, yname, k_shape_str(y, sy),
                      tname, k_shape_str(table, st), (long long)table->shape[1]);
    if (!ids)
        return k_fail(k, "%s: ids is missing", op);
    size_t n = tensor_numel(y) / (size_t)table->shape[1];
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= table->shape[0])
            return k_fail(k, "%s: ids[%zu] = %d is outside the table's %lld rows", op, i, (int)ids[i],
                          (long long)table->shape[0]);
    return 0;
}

int k_embedding_forward(kctx *k, tensor *y, const int32_t *ids, const tensor *table)
{
    if (embedding_check(k, "embedding", y, "y", ids, table, "table"))
        return -1;
    k_call_begin(k);
    k->be->embedding_fwd(k, y, ids, table);
    return k_call_end(k);
}

int k_embedding_backward(kctx *k, tensor *dtable, const tensor *dy, const int32_t *ids)
{
    if (!dtable)
        return 0; /* a frozen table: nothing to accumulate */
    if (embedding_check(k, "embedding backward", dy, "dy", ids, dtable, "dtable"))
        return -1;
    k_call_begin(k);
    k->be->embedding_bwd(k, dtable, dy, ids);
    return k_call_end(k);
}
