/* One encode or decode of the SD VAE (private to trainer/vae_*.c). The same walk runs twice: first
 * as a plan, where ops are skipped and every slot view only records how many floats that slot must
 * hold, then for real on slots of those sizes. The plan cannot drift from the forward, since it is
 * the forward. */
#ifndef TRAINER_PRIVATE_VAE_RUN_H
#define TRAINER_PRIVATE_VAE_RUN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trainer/vae.h"

typedef struct vae_run {
    vae *m;
    kctx *k;
    tg_error *err;
    int64_t B;
    bool plan;
    size_t need[VAE_SLOTS]; /* plan: floats each slot must hold */
} vae_run;

/* The current feature map: (B, C, H, W) in slot `slot`. */
typedef struct vae_fm {
    int slot;
    int64_t C, H, W;
} vae_fm;

/* An op, skipped in the plan; a failure becomes an error with the kernel's message. */
#define VAE_OP(r, call) do { if (!(r)->plan && (call) < 0) return vae_run_fail(r); } while (0)

int vae_run_fail(vae_run *r);
/* A slot other than a, b and c (-1: none). */
int vae_slot_free(int a, int b, int c);
/* A view of ndim dims at `offset` floats into slot s (plan: records the need, data NULL). */
int vae_view(vae_run *r, int s, size_t offset, int ndim, const int64_t *shape, tensor *t);
/* The view (B, C, H, W) of slot s. */
int vae_view4(vae_run *r, int s, int64_t C, int64_t H, int64_t W, tensor *t);
/* The weight or bias tensor of parameter i. */
tensor *vae_w(vae_run *r, int i);

/* ---- blocks (vae_blocks.c); each replaces *x by its output ---- */

/* y = GroupNorm(x) (eps 1e-6, the model's groups); y may be x. */
int vae_groupnorm(vae_run *r, const vae_norm *n, tensor *y, const tensor *x);
/* y = silu(GroupNorm(x)) (eps 1e-6); y may be x. */
int vae_norm_silu(vae_run *r, const vae_norm *n, tensor *y, const tensor *x);
int vae_resblock_forward(vae_run *r, const vae_resblock *rb, vae_fm *x);
int vae_attn_forward(vae_run *r, const vae_attn *a, vae_fm *x);
/* F.pad(x, (0, 1, 0, 1)) then the 3x3 conv with stride 2 and no padding. */
int vae_downsample_forward(vae_run *r, const vae_conv *c, vae_fm *x);
/* Nearest 2x then the 3x3 conv with padding 1. */
int vae_upsample_forward(vae_run *r, const vae_conv *c, vae_fm *x);

#endif
