/* kernels: tensors and the ops the models are built from, each with a forward and a hand-written
 * backward (no autograd), behind a backend so that a CUDA backend can replace the CPU one without
 * touching the models. The CPU backend (fp32, threaded, GEMM through BLAS) is the reference the
 * CUDA one will be tested against.
 *
 * Conventions, for every op:
 *  - Shapes are explicit in the tensors; images are NCHW (B, C, H, W), sequences are (B, T, C) with
 *    attention heads interleaved in C (C = heads * head_dim), matrices are row-major.
 *  - A forward writes its output (=). A backward ACCUMULATES (+=) into every gradient it is given,
 *    inputs and parameters alike, so residual and skip branches just add up; the caller zeroes
 *    gradients once per step. A NULL gradient pointer means "not needed" (frozen weights, inputs).
 *  - What a backward needs beyond inputs and outputs (norm statistics, attention log-sum-exps) is
 *    saved by the forward into a tensor the caller owns and passes to both.
 *  - An op checks its shapes and returns -1 with a message in k->msg on a mismatch (e.g. a group
 *    norm whose channels do not divide into the groups): models check configs up front, so this
 *    is a last line of defence, never a normal path.
 * Kernels know nothing of models, datasets or screens. */
#ifndef KERNELS_KERNELS_H
#define KERNELS_KERNELS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum k_dtype { K_F32, K_F16, K_BF16 } k_dtype;

#define K_MAX_DIMS 4

typedef struct tensor {
    void *data;       /* memory of the backend that allocated it (CPU: host memory, 64-byte aligned) */
    k_dtype dtype;    /* the CPU backend works in K_F32 only */
    int ndim;
    int64_t shape[K_MAX_DIMS];
} tensor;

typedef struct k_backend k_backend; /* the implementation's table (kernels/backend.h) */

/* A compute context: one backend, its worker threads and scratch memory. Not thread-safe: one
 * context per thread that computes. */
typedef struct kctx {
    const k_backend *be;
    int threads;
    void *scratch;        /* grows on demand (im2col, attention tiles) */
    size_t scratch_size;
    char msg[256];        /* why the last op returned -1 */
    void *impl;           /* the backend's own state (CPU: its worker pool) */
} kctx;

/* "cpu" (or "cuda" when built with it and a GPU is present; "auto" picks). threads <= 0: all
 * cores. Returns -1 with k->msg set when the backend is not available. */
int k_init(kctx *k, const char *backend, int threads);
void k_free_ctx(kctx *k);

/* ---- tensors ---- */
size_t tensor_numel(const tensor *t);
/* Allocates (uninitialised) on k's backend; data NULL on failure (k->msg says why). */
tensor k_tensor(kctx *k, k_dtype dt, int ndim, const int64_t *shape);
tensor k_tensor4(kctx *k, int64_t a, int64_t b, int64_t c, int64_t d); /* F32; trailing 0s = fewer dims */
void k_tensor_free(kctx *k, tensor *t);
void k_zero(kctx *k, tensor *t);
/* Host <-> tensor copies of numel floats (the tensor converts to/from its dtype). */
void k_upload(kctx *k, tensor *t, const float *host);
void k_download(kctx *k, const tensor *t, float *host);
/* A view with another shape of the same numel (no copy). */
tensor tensor_view(const tensor *t, int ndim, const int64_t *shape);

/* ---- dense ---- */
/* y (N, O) = x (N, I) . w (O, I)^T + b (O); b may be NULL. N is every leading dim of x. */
int k_linear_forward(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b);
int k_linear_backward(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x,
                      const tensor *w);
/* y (B, O, Ho, Wo) = conv2d(x (B, C, H, W), w (O, C, kh, kw)) + b (O), stride, zero padding pad. */
int k_conv2d_forward(kctx *k, tensor *y, const tensor *x, const tensor *w, const tensor *b, int stride,
                     int pad);
int k_conv2d_backward(kctx *k, tensor *dx, tensor *dw, tensor *db, const tensor *dy, const tensor *x,
                      const tensor *w, int stride, int pad);
/* y (B, T, C) = table (V, C)[ids (B*T)] (token embedding); backward scatters into dtable. */
int k_embedding_forward(kctx *k, tensor *y, const int32_t *ids, const tensor *table);
int k_embedding_backward(kctx *k, tensor *dtable, const tensor *dy, const int32_t *ids);

/* ---- normalisation ---- */
/* x (B, C, ...) in `groups` groups of C/groups channels; stats (B, groups, 2) = mean, rstd. */
int k_group_norm_forward(kctx *k, tensor *y, tensor *stats, const tensor *x, const tensor *gamma,
                         const tensor *beta, int groups, float eps);
int k_group_norm_backward(kctx *k, tensor *dx, tensor *dgamma, tensor *dbeta, const tensor *dy,
                          const tensor *x, const tensor *stats, const tensor *gamma, int groups);
/* Over the last dim C of x (N, C); stats (N, 2) = mean, rstd. */
int k_layer_norm_forward(kctx *k, tensor *y, tensor *stats, const tensor *x, const tensor *gamma,
                         const tensor *beta, float eps);
int k_layer_norm_backward(kctx *k, tensor *dx, tensor *dgamma, tensor *dbeta, const tensor *dy,
                          const tensor *x, const tensor *stats, const tensor *gamma);

/* ---- attention ---- */
/* out (B, Tq, C) = softmax(q k^T * scale [+ causal mask]) v per head, q (B, Tq, C), k and v
 * (B, Tk, C), C = heads * head_dim; lse (B, heads, Tq) saves each row's log-sum-exp so the
 * backward recomputes probabilities instead of storing the Tq x Tk matrix. lse may be NULL when
 * no backward follows (sampling, the VAE). */
int k_attention_forward(kctx *k, tensor *out, tensor *lse, const tensor *q, const tensor *kk,
                        const tensor *v, int heads, float scale, bool causal);
int k_attention_backward(kctx *k, tensor *dq, tensor *dk, tensor *dv, const tensor *dout,
                         const tensor *out, const tensor *lse, const tensor *q, const tensor *kk,
                         const tensor *v, int heads, float scale, bool causal);

/* ---- pointwise ---- */
typedef enum k_act { K_SILU, K_GELU /* exact, erf */, K_QUICK_GELU /* x sigmoid(1.702 x) */ } k_act;
int k_act_forward(kctx *k, k_act act, tensor *y, const tensor *x);
int k_act_backward(kctx *k, k_act act, tensor *dx, const tensor *dy, const tensor *x);
/* GEGLU: x (N, 2F) -> y (N, F) = x[:, :F] * gelu(x[:, F:]) (LDM's chunk(2, dim=-1) order). */
int k_geglu_forward(kctx *k, tensor *y, const tensor *x);
int k_geglu_backward(kctx *k, tensor *dx, const tensor *dy, const tensor *x);
/* y = a + b (same shape), or b broadcast as (B, C) over (B, C, H, W) when bcast_bc (timestep
 * embedding added to a ResBlock's feature map). */
int k_add(kctx *k, tensor *y, const tensor *a, const tensor *b);
int k_add_bcast_bc(kctx *k, tensor *y, const tensor *a, const tensor *b);
int k_add_bcast_bc_backward(kctx *k, tensor *db, const tensor *dy); /* db (B, C) += sum over H, W */
/* y = alpha * x + beta * y (beta 0: y is overwritten). */
int k_axpby(kctx *k, tensor *y, float alpha, const tensor *x, float beta);
/* Along channels: y (B, Ca+Cb, H, W) = [a, b]; backward splits dy into da, db (+=). */
int k_concat_forward(kctx *k, tensor *y, const tensor *a, const tensor *b);
int k_concat_backward(kctx *k, tensor *da, tensor *db, const tensor *dy);
/* Nearest-neighbour 2x upsampling, (B, C, H, W) -> (B, C, 2H, 2W). */
int k_upsample2x_forward(kctx *k, tensor *y, const tensor *x);
int k_upsample2x_backward(kctx *k, tensor *dx, const tensor *dy);
/* (B, C, H, W) <-> (B, H*W, C): SpatialTransformer's rearrange. */
int k_nchw_to_nlc(kctx *k, tensor *y, const tensor *x);
int k_nlc_to_nchw(kctx *k, tensor *y, const tensor *x);

/* ---- loss and optimiser ---- */
/* mean((pred - target)^2 * weight_b) over all elements, weight per batch item (NULL: 1);
 * backward: dpred += grad_scale * d loss / d pred. */
int k_mse_forward(kctx *k, float *loss, const tensor *pred, const tensor *target, const float *weight_b);
int k_mse_backward(kctx *k, tensor *dpred, const tensor *pred, const tensor *target,
                   const float *weight_b, float grad_scale);
/* PyTorch's AdamW (decoupled weight decay), step t >= 1: p -= lr * (m_hat / (sqrt(v_hat) + eps)
 * + wd * p). m, v: state tensors like p. */
int k_adamw(kctx *k, tensor *p, const tensor *g, tensor *m, tensor *v, int t, float lr, float beta1,
            float beta2, float eps, float wd);
/* Sum of squares of g (for gradient-norm clipping). */
double k_sum_squares(kctx *k, const tensor *g);

/* ---- random numbers ---- */
/* A counter-based generator (Philox-like): the same seed and offset give the same numbers on
 * every backend and thread count. */
typedef struct k_rng {
    uint64_t seed, offset;
} k_rng;
int k_randn(kctx *k, tensor *t, k_rng *r, float mean, float std);
int k_rand_uniform(kctx *k, tensor *t, k_rng *r, float lo, float hi);

#endif
