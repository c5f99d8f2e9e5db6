/* The CPU backend's implementations of the backend table (private/backend.h), one file per
 * family: cpu_tensor.c, cpu_dense.c (linear, conv2d, embedding), cpu_norm.c, cpu_attention.c,
 * cpu_pointwise.c, cpu_train.c (loss, AdamW, random numbers). Arguments are already checked. */
#ifndef KERNELS_CPU_CPU_OPS_H
#define KERNELS_CPU_CPU_OPS_H
#include "kernels/private/backend.h"

int cpu_init(kctx *k);
void cpu_fini(kctx *k);
void *cpu_alloc(kctx *k, size_t bytes);
void cpu_release(kctx *k, void *p);
void cpu_zero(kctx *k, tensor *t);
void cpu_upload(kctx *k, tensor *t, const float *host);
void cpu_download(kctx *k, const tensor *t, float *host);
/* k->scratch grown to at least `bytes` (64-byte aligned, contents undefined); NULL when out of
 * memory. One buffer per context: an op may use it, never across a call to another op. */
void *cpu_scratch(kctx *k, size_t bytes);
/* Bytes of im2col columns conv2d may use per GEMM (64 MiB); more batch items or fewer output rows
 * go into one GEMM accordingly. Process-wide; tests lower it to exercise the tiling. */
extern size_t cpu_conv_col_budget;
void cpu_linear_fwd(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b);
void cpu_linear_bwd(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x, const tensor *w);
void cpu_conv2d_fwd(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b, int stride, int pad);
void cpu_conv2d_bwd(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x, const tensor *w, int stride, int pad);
void cpu_embedding_fwd(kctx *k, tensor *y, const int32_t *ids, const tensor *table);
void cpu_embedding_bwd(kctx *k, tensor *dtable, const tensor *dy, const int32_t *ids);
void cpu_group_norm_fwd(kctx *k, tensor *y, tensor *stats, const tensor *x, const tensor *gamma, const tensor *beta, int groups, float eps);
void cpu_group_norm_bwd(kctx *k, tensor *dx, tensor *dgamma, tensor *dbeta, const tensor *dy, const tensor *x, const tensor *stats, const tensor *gamma, int groups);
void cpu_layer_norm_fwd(kctx *k, tensor *y, tensor *stats, const tensor *x, const tensor *gamma, const tensor *beta, float eps);
void cpu_layer_norm_bwd(kctx *k, tensor *dx, tensor *dgamma, tensor *dbeta, const tensor *dy, const tensor *x, const tensor *stats, const tensor *gamma);
void cpu_attention_fwd(kctx *k, tensor *out, tensor *lse, const tensor *q, const tensor *kk, const tensor *v, int heads, float scale, bool causal);
void cpu_attention_bwd(kctx *k, tensor *dq, tensor *dk, tensor *dv, const tensor *dout, const tensor *out, const tensor *lse, const tensor *q, const tensor *kk, const tensor *v, int heads, float scale, bool causal);
void cpu_act_fwd(kctx *k, k_act act, tensor *y, const tensor *x);
void cpu_act_bwd(kctx *k, k_act act, tensor *dx, const tensor *dy, const tensor *x);
void cpu_geglu_fwd(kctx *k, tensor *y, const tensor *x);
void cpu_geglu_bwd(kctx *k, tensor *dx, const tensor *dy, const tensor *x);
void cpu_add(kctx *k, tensor *y, const tensor *a, const tensor *b);
void cpu_add_bcast_bc(kctx *k, tensor *y, const tensor *a, const tensor *b);
void cpu_add_bcast_bc_bwd(kctx *k, tensor *db, const tensor *dy);
void cpu_axpby(kctx *k, tensor *y, float alpha, const tensor *x, float beta);
void cpu_concat_fwd(kctx *k, tensor *y, const tensor *a, const tensor *b);
void cpu_concat_bwd(kctx *k, tensor *da, tensor *db, const tensor *dy);
void cpu_upsample2x_fwd(kctx *k, tensor *y, const tensor *x);
void cpu_upsample2x_bwd(kctx *k, tensor *dx, const tensor *dy);
void cpu_nchw_to_nlc(kctx *k, tensor *y, const tensor *x);
void cpu_nlc_to_nchw(kctx *k, tensor *y, const tensor *x);
void cpu_mse_fwd(kctx *k, float *loss, const tensor *pred, const tensor *target, const float *wb);
void cpu_mse_bwd(kctx *k, tensor *dpred, const tensor *pred, const tensor *target, const float *wb, float grad_scale);
void cpu_adamw(kctx *k, tensor *p, const tensor *g, tensor *m, tensor *v, int t, float lr, float beta1, float beta2, float eps, float wd);
double cpu_sum_squares(kctx *k, const tensor *g);
void cpu_randn(kctx *k, tensor *t, k_rng *r, float mean, float std);
void cpu_rand_uniform(kctx *k, tensor *t, k_rng *r, float lo, float hi);
/* The block function under k_randn and k_rand_uniform (exposed for its known-answer test). */
void cpu_philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]);

#endif
