/* The table a backend fills. The public functions in kernels.h check shapes and dtypes, then call
 * these, which may assume valid arguments. A backend is a `const k_backend` with every entry set
 * (cpu/cpu_backend.c); a CUDA one (later) fills the same table. An op that cannot finish for a
 * reason no shape check can foresee (its scratch memory could not be allocated) writes k->msg and
 * returns; the wrapper clears k->msg before the call and returns -1 when it is set after. */
#ifndef KERNELS_PRIVATE_BACKEND_H
#define KERNELS_PRIVATE_BACKEND_H
#include "kernels/kernels.h"

struct k_backend {
    const char *name;
    int (*init)(kctx *k);
    void (*fini)(kctx *k);
    void *(*alloc)(kctx *k, size_t bytes);
    void (*release)(kctx *k, void *p);
    void (*zero)(kctx *k, tensor *t);
    void (*upload)(kctx *k, tensor *t, const float *host);
    void (*download)(kctx *k, const tensor *t, float *host);

    void (*linear_fwd)(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b);
    void (*linear_bwd)(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x,
                       const tensor *w);
    void (*conv2d_fwd)(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b, int stride,
                       int pad);
    void (*conv2d_bwd)(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x,
                       const tensor *w, int stride, int pad);
    void (*embedding_fwd)(kctx *k, tensor *y, const int32_t *ids, const tensor *table);
    void (*embedding_bwd)(kctx *k, tensor *dtable, const tensor *dy, const int32_t *ids);

    void (*group_norm_fwd)(kctx *k, tensor *y, tensor *stats, const tensor *x, const tensor *gamma,
                           const tensor *beta, int groups, float eps);
    void (*group_norm_bwd)(kctx *k, tensor *dx, tensor *dgamma, tensor *dbeta, const tensor *dy,
                           const tensor *x, const tensor *stats, const tensor *gamma, int groups);
    void (*layer_norm_fwd)(kctx *k, tensor *y, tensor *stats, const tensor *x, const tensor *gamma,
                           const tensor *beta, float eps);
    void (*layer_norm_bwd)(kctx *k, tensor *dx, tensor *dgamma, tensor *dbeta, const tensor *dy,
                           const tensor *x, const tensor *stats, const tensor *gamma);

    void (*attention_fwd)(kctx *k, tensor *out, tensor *lse, const tensor *q, const tensor *kk,
                          const tensor *v, int heads, float scale, bool causal);
    void (*attention_bwd)(kctx *k, tensor *dq, tensor *dk, tensor *dv, const tensor *dout,
                          const tensor *out, const tensor *lse, const tensor *q, const tensor *kk,
                          const tensor *v, int heads, float scale, bool causal);

    void (*act_fwd)(kctx *k, k_act act, tensor *y, const tensor *x);
    void (*act_bwd)(kctx *k, k_act act, tensor *dx, const tensor *dy, const tensor *x);
    void (*geglu_fwd)(kctx *k, tensor *y, const tensor *x);
    void (*geglu_bwd)(kctx *k, tensor *dx, const tensor *dy, const tensor *x);
    void (*add)(kctx *k, tensor *y, const tensor *a, const tensor *b);
    void (*add_bcast_bc)(kctx *k, tensor *y, const tensor *a, const tensor *b);
    void (*add_bcast_bc_bwd)(kctx *k, tensor *db, const tensor *dy);
    void (*axpby)(kctx *k, tensor *y, float alpha, const tensor *x, float beta);
    void (*concat_fwd)(kctx *k, tensor *y, const tensor *a, const tensor *b);
    void (*concat_bwd)(kctx *k, tensor *da, tensor *db, const tensor *dy);
    void (*upsample2x_fwd)(kctx *k, tensor *y, const tensor *x);
    void (*upsample2x_bwd)(kctx *k, tensor *dx, const tensor *dy);
    void (*nchw_to_nlc)(kctx *k, tensor *y, const tensor *x);
    void (*nlc_to_nchw)(kctx *k, tensor *y, const tensor *x);

    void (*mse_fwd)(kctx *k, float *loss, const tensor *pred, const tensor *target, const float *wb);
    void (*mse_bwd)(kctx *k, tensor *dpred, const tensor *pred, const tensor *target, const float *wb,
                    float grad_scale);
    void (*adamw)(kctx *k, tensor *p, const tensor *g, tensor *m, tensor *v, int t, float lr,
                  float beta1, float beta2, float eps, float wd);
    double (*sum_squares)(kctx *k, const tensor *g);
    void (*randn)(kctx *k, tensor *t, k_rng *r, float mean, float std);
    void (*rand_uniform)(kctx *k, tensor *t, k_rng *r, float lo, float hi);
};

extern const k_backend k_backend_cpu;

#endif
