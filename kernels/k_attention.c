/* Multi-head attention: the public wrappers. They check shapes, then call the backend, which may
 * assume valid arguments (and reports only running out of scratch memory, through k->msg). */
#include <math.h>

#include "kernels/private/backend.h"
#include "kernels/private/k_check.h"

/* q (B, Tq, C) and kk, v (B, Tk, C) with C = heads * head_dim and the same B and C. */
static int qkv_check(kctx *k, const char *op, const tensor *q, const tensor *kk, const tensor *v,
                     int heads, float scale)
{
    if (k_check_ndim(k, op, "q", q, 3) || k_check_ndim(k, op, "k", kk, 3) ||
        k_check_same(k, op, "k", kk, "v", v))
        return -1;
    char sq[K_SHAPE_STR], sk[K_SHAPE_STR];
    if (kk->shape[0] != q->shape[0] || kk->shape[2] != q->shape[2])
        return k_fail(k, "%s: q is %s, k is %s (batch and channels must match)", op, k_shape_str(q, sq),
                      k_shape_str(kk, sk));
    if (heads < 1 || q->shape[2] % heads)
        return k_fail(k, "%s: %lld channels do not divide into %d heads", op, (long long)q->shape[2],
                      heads);
    if (!isfinite(scale))
        return k_fail(k, "%s: scale %g is not finite", op, (double)scale);
    return 0;
}

/* lse holding one value per (b, head, query). */
static int lse_check(kctx *k, const char *op, const tensor *lse, const tensor *q, int heads)
{
    if (k_check_f32(k, op, "lse", lse))
        return -1;
    char s[K_SHAPE_STR];
    int64_t want = q->shape[0] * heads * q->shape[1];
    if ((int64_t)tensor_numel(lse) != want)
        return k_fail(k, "%s: lse is %s, expected (B, heads, Tq) = %lld values", op, k_shape_str(lse, s),
                      (long long)want);
    return 0;
}

/* out (B, Tq, C); lse (B, heads, Tq), or NULL when no backward follows (sampling, the VAE). */
int k_attention_forward(kctx *k, tensor *out, tensor *lse, const tensor *q, const tensor *kk,
                        const tensor *v, int heads, float scale, bool causal)
{
    const char *op = "attention";
    if (qkv_check(k, op, q, kk, v, heads, scale) || k_check_same(k, op, "q", q, "out", out) ||
        (lse && lse_check(k, op, lse, q, heads)))
        return -1;
    k_call_begin(k);
    k->be->attention_fwd(k, out, lse, q, kk, v, heads, scale, causal);
    return k_call_end(k);
}

/* dq, dout, out (B, Tq, C), dk, dv (B, Tk, C) or NULL; lse from the forward with the same
 * arguments. Gradients are accumulated (+=). */
int k_attention_backward(kctx *k, tensor *dq, tensor *dk, tensor *dv, const tensor *dout,
                         const tensor *out, const tensor *lse, const tensor *q, const tensor *kk,
                         const tensor *v, int heads, float scale, bool causal)
{
    const char *op = "attention backward";
    if (qkv_check(k, op, q, kk, v, heads, scale) || k_check_same(k, op, "q", q, "dout", dout) ||
        k_check_same(k, op, "q", q, "out", out) || lse_check(k, op, lse, q, heads) ||
        (dq && k_check_same(k, op, "q", q, "dq", dq)) || (dk && k_check_same(k, op, "k", kk, "dk", dk)) ||
        (dv && k_check_same(k, op, "v", v, "dv", dv)))
        return -1;
    if (!dq && !dk && !dv)
        return 0;
    k_call_begin(k);
    k->be->attention_bwd(k, dq, dk, dv, dout, out, lse, q, kk, v, heads, scale, causal);
    return k_call_end(k);
}
