/* Group norm and layer norm: the public wrappers. They check shapes, then call the backend, which
 * may assume valid arguments (and reports only running out of scratch memory, through k->msg). */
#include <math.h>

#include "kernels/private/backend.h"
#include "kernels/private/k_check.h"

/* t (C), or NULL: an optional per-channel parameter or its gradient. */
static int param_check(kctx *k, const char *op, const char *name, const tensor *t, int64_t C)
{
    if (!t)
        return 0;
    if (k_check_f32(k, op, name, t))
        return -1;
    char s[K_SHAPE_STR];
    if ((int64_t)tensor_numel(t) != C)
        return k_fail(k, "%s: %s is %s, expected %lld values (one per channel)", op, name,
                      k_shape_str(t, s), (long long)C);
    return 0;
}

/* stats holding `rows` (mean, rstd) pairs. */
static int stats_check(kctx *k, const char *op, const tensor *stats, int64_t rows, const char *want)
{
    if (k_check_f32(k, op, "stats", stats))
        return -1;
    char s[K_SHAPE_STR];
    if ((int64_t)tensor_numel(stats) != 2 * rows)
        return k_fail(k, "%s: stats is %s, expected %s = %lld values", op, k_shape_str(stats, s), want,
                      (long long)(2 * rows));
    return 0;
}

static int eps_check(kctx *k, const char *op, float eps)
{
    if (!(eps >= 0) || isinf(eps))
        return k_fail(k, "%s: eps %g must be finite and >= 0", op, (double)eps);
    return 0;
}

/* ---- group norm ---- */

/* x (B, C, ...) with C a multiple of groups; the channel count comes from x. */
static int gn_shape_check(kctx *k, const char *op, const tensor *x, int groups)
{
    if (k_check_f32(k, op, "x", x))
        return -1;
    char s[K_SHAPE_STR];
    if (x->ndim < 2)
        return k_fail(k, "%s: x is %s, expected (B, C, ...)", op, k_shape_str(x, s));
    if (groups < 1 || x->shape[1] % groups)
        return k_fail(k, "%s: %lld channels do not divide into %d groups", op, (long long)x->shape[1],
                      groups);
    return 0;
}

/* y, x (B, C, ...), stats (B, groups, 2), gamma, beta (C) or NULL. */
int k_group_norm_forward(kctx *k, tensor *y, tensor *stats, const tensor *x, const tensor *gamma,
                         const tensor *beta, int groups, float eps)
{
    const char *op = "group_norm";
    if (gn_shape_check(k, op, x, groups))
        return -1;
    int64_t C = x->shape[1];
    if (k_check_same(k, op, "x", x, "y", y) ||
        stats_check(k, op, stats, x->shape[0] * groups, "(B, groups, 2)") ||
        param_check(k, op, "gamma", gamma, C) || param_check(k, op, "beta", beta, C) ||
        eps_check(k, op, eps))
        return -1;
    k_call_begin(k);
    k->be->group_norm_fwd(k, y, stats, x, gamma, beta, groups, eps);
    return k_call_end(k);
}

/* dx, dy, x (B, C, ...), stats (B, groups, 2) from the forward; gamma, dgamma, dbeta (C) or NULL. */
int k_group_norm_backward(kctx *k, tensor *dx, tensor *dgamma, tensor *dbeta, const tensor *dy,
                          const tensor *x, const tensor *stats, const tensor *gamma, int groups)
{
    const char *op = "group_norm backward";
    if (gn_shape_check(k, op, x, groups))
        return -1;
    int64_t C = x->shape[1];
    if (k_check_same(k, op, "x", x, "dy", dy) || (dx && k_check_same(k, op, "x", x, "dx", dx)) ||
        stats_check(k, op, stats, x->shape[0] * groups, "(B, groups, 2)") ||
        param_check(k, op, "gamma", gamma, C) || param_check(k, op, "dgamma", dgamma, C) ||
        param_check(k, op, "dbeta", dbeta, C))
        return -1;
    if (!dx && !dgamma && !dbeta)
        return 0;
    k_call_begin(k);
    k->be->group_norm_bwd(k, dx, dgamma, dbeta, dy, x, stats, gamma, groups);
    return k_call_end(k);
}

/* ---- layer norm ---- */

/* y, x (N, C) with N every leading dim, stats (N, 2), gamma, beta (C) or NULL. */
int k_layer_norm_forward(kctx *k, tensor *y, tensor *stats, const tensor *x, const tensor *gamma,
                         const tensor *beta, float eps)
{
    const char *op = "layer_norm";
    if (k_check_f32(k, op, "x", x) || k_check_same(k, op, "x", x, "y", y))
        return -1;
    int64_t C = x->shape[x->ndim - 1];
    if (stats_check(k, op, stats, (int64_t)tensor_numel(x) / C, "(N, 2)") ||
        param_check(k, op, "gamma", gamma, C) || param_check(k, op, "beta", beta, C) ||
        eps_check(k, op, eps))
        return -1;
    k_call_begin(k);
    k->be->layer_norm_fwd(k, y, stats, x, gamma, beta, eps);
    return k_call_end(k);
}

/* dx, dy, x (N, C), stats (N, 2) from the forward; gamma, dgamma, dbeta (C) or NULL. */
int k_layer_norm_backward(kctx *k, tensor *dx, tensor *dgamma, tensor *dbeta, const tensor *dy,
                          const tensor *x, const tensor *stats, const tensor *gamma)
{
    const char *op = "layer_norm backward";
    if (k_check_f32(k, op, "x", x) || k_check_same(k, op, "x", x, "dy", dy) ||
        (dx && k_check_same(k, op, "x", x, "dx", dx)))
        return -1;
    int64_t C = x->shape[x->ndim - 1];
    if (stats_check(k, op, stats, (int64_t)tensor_numel(x) / C, "(N, 2)") ||
        param_check(k, op, "gamma", gamma, C) || param_check(k, op, "dgamma", dgamma, C) ||
        param_check(k, op, "dbeta", dbeta, C))
        return -1;
    if (!dx && !dgamma && !dbeta)
        return 0;
    k_call_begin(k);
    k->be->layer_norm_bwd(k, dx, dgamma, dbeta, dy, x, stats, gamma);
    return k_call_end(k);
}
