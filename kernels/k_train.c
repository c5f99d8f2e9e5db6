/* Public loss, optimiser and random-number ops: argument checks, then the backend. */
#include <math.h>

#include "kernels/private/backend.h"
#include "kernels/private/k_check.h"

/* pred, target (B, ...) the same shape; weights finite when given */
static int mse_check(kctx *k, const char *op, const tensor *pred, const tensor *target, const float *wb)
{
    if (k_check_f32(k, op, "pred", pred) || k_check_same(k, op, "pred", pred, "target", target))
        return -1;
    for (int64_t b = 0; wb && b < pred->shape[0]; b++)
        if (!isfinite(wb[b]))
            return k_fail(k, "%s: weight of batch item %lld is not finite", op, (long long)b);
    return 0;
}

int k_mse_forward(kctx *k, float *loss, const tensor *pred, const tensor *target, const float *wb)
{
    if (!loss)
        return k_fail(k, "mse: loss is missing");
    if (mse_check(k, "mse", pred, target, wb))
        return -1;
    k_call_begin(k);
    k->be->mse_fwd(k, loss, pred, target, wb);
    return k_call_end(k);
}

int k_mse_backward(kctx *k, tensor *dpred, const tensor *pred, const tensor *target,
                   const float *weight_b, float grad_scale)
{
    if (!dpred)
        return 0;
    if (mse_check(k, "mse backward", pred, target, weight_b) ||
        k_check_same(k, "mse backward", "pred", pred, "dpred", dpred))
        return -1;
    k_call_begin(k);
    k->be->mse_bwd(k, dpred, pred, target, weight_b, grad_scale);
    return k_call_end(k);
}

int k_adamw(kctx *k, tensor *p, const tensor *g, tensor *m, tensor *v, int t, float lr, float beta1,
            float beta2, float eps, float wd)
{
    const char *op = "adamw";
    if (k_check_f32(k, op, "p", p) || k_check_same(k, op, "p", p, "g", g) ||
        k_check_same(k, op, "p", p, "m", m) || k_check_same(k, op, "p", p, "v", v))
        return -1;
    if (t < 1)
        return k_fail(k, "adamw: step %d (steps count from 1)", t);
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0) || !(lr >= 0) || !(wd >= 0))
        return k_fail(k, "adamw: lr %g, betas (%g, %g), eps %g, weight decay %g out of range", lr, beta1,
                      beta2, eps, wd);
    k_call_begin(k);
    k->be->adamw(k, p, g, m, v, t, lr, beta1, beta2, eps, wd);
    return k_call_end(k);
}

/* NaN for a bad tensor (k->msg says why): a norm that is NaN stops clipping and shows up in logs. */
double k_sum_squares(kctx *k, const tensor *g)
{
    if (k_check_f32(k, "sum_squares", "g", g))
        return NAN;
    return k->be->sum_squares(k, g);
}

int k_randn(kctx *k, tensor *t, k_rng *r, float mean, float std)
{
    if (k_check_f32(k, "randn", "t", t))
        return -1;
    if (!r)
        return k_fail(k, "randn: rng is missing");
    k_call_begin(k);
    k->be->randn(k, t, r, mean, std);
    return k_call_end(k);
}

int k_rand_uniform(kctx *k, tensor *t, k_rng *r, float lo, float hi)
{
    if (k_check_f32(k, "rand_uniform", "t", t))
        return -1;
    if (!r)
        return k_fail(k, "rand_uniform: rng is missing");
    k_call_begin(k);
    k->be->rand_uniform(k, t, r, lo, hi);
    return k_call_end(k);
}
