/* Public elementwise and layout ops: shape checks, then the backend. */
#include "kernels/private/backend.h"
#include "kernels/private/k_check.h"

#define RUN_BE(call) do { k_call_begin(k); k->be->call; return k_call_end(k); } while (0)

/* ---- activations ---- */

static int act_check(kctx *k, const char *op, k_act act)
{
    if (act != K_SILU && act != K_GELU && act != K_QUICK_GELU)
        return k_fail(k, "%s: unknown activation %d", op, (int)act);
    return 0;
}

/* y = act(x), x and y the same shape (y may be x) */
int k_act_forward(kctx *k, k_act act, tensor *y, const tensor *x)
{
    if (act_check(k, "act", act) || k_check_f32(k, "act", "x", x) || k_check_same(k, "act", "x", x, "y", y))
        return -1;
    RUN_BE(act_fwd(k, act, y, x));
}

/* dx += dy * act'(x) */
int k_act_backward(kctx *k, k_act act, tensor *dx, const tensor *dy, const tensor *x)
{
    const char *op = "act backward";
    if (!dx)
        return 0;
    if (act_check(k, op, act) || k_check_f32(k, op, "x", x) || k_check_same(k, op, "x", x, "dy", dy) ||
        k_check_same(k, op, "x", x, "dx", dx))
        return -1;
    RUN_BE(act_bwd(k, act, dx, dy, x));
}

/* ---- GEGLU ---- */

/* x (..., 2F), y (..., F) with x's leading dims */
static int geglu_check(kctx *k, const char *op, const tensor *y, const char *yname, const tensor *x)
{
    char sx[K_SHAPE_STR], sy[K_SHAPE_STR];
    if (k_check_f32(k, op, "x", x) || k_check_f32(k, op, yname, y))
        return -1;
    bool ok = y->ndim == x->ndim && x->shape[x->ndim - 1] == 2 * y->shape[y->ndim - 1];
    for (int i = 0; ok && i < x->ndim - 1; i++)
        ok = x->shape[i] == y->shape[i];
    if (!ok)
        return k_fail(k, "%s: x is %s, %s is %s (need x's last dim twice %s's, other dims equal)", op,
                      k_shape_str(x, sx), yname, k_shape_str(y, sy), yname);
    return 0;
}

int k_geglu_forward(kctx *k, tensor *y, const tensor *x)
{
    if (geglu_check(k, "geglu", y, "y", x))
        return -1;
    RUN_BE(geglu_fwd(k, y, x));
}

int k_geglu_backward(kctx *k, tensor *dx, const tensor *dy, const tensor *x)
{
    if (!dx)
        return 0;
    if (geglu_check(k, "geglu backward", dy, "dy", x) ||
        k_check_same(k, "geglu backward", "x", x, "dx", dx))
        return -1;
    RUN_BE(geglu_bwd(k, dx, dy, x));
}

/* ---- add ---- */

int k_add(kctx *k, tensor *y, const tensor *a, const tensor *b)
{
    if (k_check_f32(k, "add", "a", a) || k_check_same(k, "add", "a", a, "b", b) ||
        k_check_same(k, "add", "a", a, "y", y))
        return -1;
    RUN_BE(add(k, y, a, b));
}

/* a (B, C, H, W) or (B, C, ...) and b (B, C) */
static int bcast_check(kctx *k, const char *op, const tensor *a, const char *aname, const tensor *b,
                       const char *bname)
{
    char sa[K_SHAPE_STR], sb[K_SHAPE_STR];
    if (k_check_f32(k, op, aname, a) || k_check_ndim(k, op, bname, b, 2))
        return -1;
    if (a->ndim < 3 || a->shape[0] != b->shape[0] || a->shape[1] != b->shape[1])
        return k_fail(k, "%s: %s is %s, %s is %s (need %s (B, C, H, W) and %s (B, C))", op, aname,
                      k_shape_str(a, sa), bname, k_shape_str(b, sb), aname, bname);
    return 0;
}

int k_add_bcast_bc(kctx *k, tensor *y, const tensor *a, const tensor *b)
{
    if (bcast_check(k, "add_bcast_bc", a, "a", b, "b") || k_check_same(k, "add_bcast_bc", "a", a, "y", y))
        return -1;
    RUN_BE(add_bcast_bc(k, y, a, b));
}

int k_add_bcast_bc_backward(kctx *k, tensor *db, const tensor *dy)
{
    if (!db)
        return 0;
    if (bcast_check(k, "add_bcast_bc backward", dy, "dy", db, "db"))
        return -1;
    RUN_BE(add_bcast_bc_bwd(k, db, dy));
}

int k_axpby(kctx *k, tensor *y, float alpha, const tensor *x, float beta)
{
    if (k_check_f32(k, "axpby", "x", x) || k_check_same(k, "axpby", "x", x, "y", y))
        return -1;
    RUN_BE(axpby(k, y, alpha, x, beta));
}

/* ---- concat ---- */

/* a (B, Ca, ...), b (B, Cb, ...), y (B, Ca+Cb, ...): all dims but 1 equal. A NULL a or b (a
 * backward that needs only one part) is checked through y. */
static int concat_check(kctx *k, const char *op, const tensor *y, const char *yname, const tensor *a,
                        const char *aname, const tensor *b, const char *bname)
{
    char sy[K_SHAPE_STR], sa[K_SHAPE_STR], sb[K_SHAPE_STR];
    if (k_check_f32(k, op, yname, y) || (a && k_check_f32(k, op, aname, a)) ||
        (b && k_check_f32(k, op, bname, b)))
        return -1;
    if (y->ndim < 2)
        return k_fail(k, "%s: %s is %s (need a channel dim)", op, yname, k_shape_str(y, sy));
    /* both parts: channels add up to y's; one part (a backward): fewer channels than y */
    int64_t csum = (a ? a->shape[1] : 0) + (b ? b->shape[1] : 0);
    bool ok = a && b ? csum == y->shape[1] : csum < y->shape[1];
    for (int pass = 0; pass < 2; pass++) {
        const tensor *t = pass ? b : a;
        ok = ok && (!t || t->ndim == y->ndim);
        for (int i = 0; ok && t && i < y->ndim; i++)
            ok = i == 1 || t->shape[i] == y->shape[i];
    }
    if (!ok)
        return k_fail(k, "%s: %s is %s, %s is %s, %s is %s (need equal dims except channels, which "
                      "add up)", op, aname, a ? k_shape_str(a, sa) : "absent", bname,
                      b ? k_shape_str(b, sb) : "absent", yname, k_shape_str(y, sy));
    return 0;
}

int k_concat_forward(kctx *k, tensor *y, const tensor *a, const tensor *b)
{
    if (!a || !b)
        return k_fail(k, "concat: a or b is missing");
    if (concat_check(k, "concat", y, "y", a, "a", b, "b"))
        return -1;
    RUN_BE(concat_fwd(k, y, a, b));
}

/* With only one of da, db the other part's size is implied: dy's channels minus the given one's. */
int k_concat_backward(kctx *k, tensor *da, tensor *db, const tensor *dy)
{
    if (!da && !db)
        return 0;
    if (concat_check(k, "concat backward", dy, "dy", da, "da", db, "db"))
        return -1;
    RUN_BE(concat_bwd(k, da, db, dy));
}

/* ---- upsample ---- */

/* x (B, C, H, W), y (B, C, 2H, 2W) */
static int upsample_check(kctx *k, const char *op, const tensor *y, const char *yname, const tensor *x,
                          const char *xname)
{
    char sx[K_SHAPE_STR], sy[K_SHAPE_STR];
    if (k_check_ndim(k, op, xname, x, 4) || k_check_ndim(k, op, yname, y, 4))
        return -1;
    if (y->shape[0] != x->shape[0] || y->shape[1] != x->shape[1] || y->shape[2] != 2 * x->shape[2] ||
        y->shape[3] != 2 * x->shape[3])
        return k_fail(k, "%s: %s is %s, %s is %s (need (B, C, 2H, 2W) from (B, C, H, W))", op, yname,
                      k_shape_str(y, sy), xname, k_shape_str(x, sx));
    return 0;
}

int k_upsample2x_forward(kctx *k, tensor *y, const tensor *x)
{
    if (upsample_check(k, "upsample2x", y, "y", x, "x"))
        return -1;
    RUN_BE(upsample2x_fwd(k, y, x));
}

int k_upsample2x_backward(kctx *k, tensor *dx, const tensor *dy)
{
    if (!dx)
        return 0;
    if (upsample_check(k, "upsample2x backward", dy, "dy", dx, "dx"))
        return -1;
    RUN_BE(upsample2x_bwd(k, dx, dy));
}

/* ---- layout ---- */

/* nchw (B, C, H, W) and nlc (B, H*W, C) */
static int layout_check(kctx *k, const char *op, const tensor *nchw, const tensor *nlc)
{
    char s4[K_SHAPE_STR], s3[K_SHAPE_STR];
    if (k_check_ndim(k, op, "the NCHW tensor", nchw, 4) || k_check_ndim(k, op, "the NLC tensor", nlc, 3))
        return -1;
    if (nlc->shape[0] != nchw->shape[0] || nlc->shape[1] != nchw->shape[2] * nchw->shape[3] ||
        nlc->shape[2] != nchw->shape[1])
        return k_fail(k, "%s: %s and %s are not (B, C, H, W) and (B, H*W, C)", op,
                      k_shape_str(nchw, s4), k_shape_str(nlc, s3));
    if (nchw->data == nlc->data)
        return k_fail(k, "%s: x and y are the same memory (a transpose cannot run in place)", op);
    return 0;
}

int k_nchw_to_nlc(kctx *k, tensor *y, const tensor *x)
{
    if (layout_check(k, "nchw_to_nlc", x, y))
        return -1;
    RUN_BE(nchw_to_nlc(k, y, x));
}

int k_nlc_to_nchw(kctx *k, tensor *y, const tensor *x)
{
    if (layout_check(k, "nlc_to_nchw", y, x))
        return -1;
    RUN_BE(nlc_to_nchw(k, y, x));
}
