/* The LDM UNet family (CompVis/stable-diffusion ldm/modules/diffusionmodules/openaimodel.py
 * `UNetModel` with `use_spatial_transformer`), written layer by layer with a hand-written backward.
 * One code path serves every config: the built-in `sd15` (Stable Diffusion 1.x, 859,520,964
 * parameters) and `tiny` (trains from scratch on a CPU), or any `unet_config` in LDM's key names.
 * Weights are named exactly as in single-file SD checkpoints (`model.diffusion_model.*`) for every
 * config, so one loader (params_load) serves all of them (the module tree: reference/engines.md §3,
 * and trainer/private/unet_layers.h).
 *
 * Tensors: x and eps (B, C, H, W), timesteps (B) floats on the host (fractional steps are fine:
 * samplers use them), context (B, T, context_dim). H and W must divide by 2^(levels - 1).
 *
 * Two passes:
 *  - UNET_TRAIN keeps what the backward needs (listed per block in trainer/private/unet_layers.h);
 *  - UNET_INFER keeps nothing: every intermediate lives in a few buffers reused layer after layer
 *    (only the skip connections stay), which is how sd15 runs at 64x64 in well under 8 GB.
 * Activation buffers are sized for the last (B, H, W, T, pass) and reallocated when it changes.
 *
 * Backward: unet_backward after a UNET_TRAIN forward. It ACCUMULATES (+=), as the kernels do, into
 * the weight gradients (u->ps, when built with gradients and not u->freeze_base), the LoRA
 * adapters' gradients (when attached), dx and dcontext (either may be NULL). With freeze_base only
 * activation gradients flow (LoRA training): no base weight gradient is computed, and the
 * branches that lead only to weights (time embedding, emb_layers) are skipped. */
#ifndef TRAINER_UNET_H
#define TRAINER_UNET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "kernels/kernels.h"
#include "tagger/error.h"
#include "trainer/lora.h"
#include "trainer/params.h"

#define UNET_MAX_LEVELS 8
#define UNET_PREFIX "model.diffusion_model."

/* LDM's `unet_config.params`, plus norm_num_groups (LDM hard-codes 32, which small widths cannot
 * divide). Heads follow LDM's rule for legacy false: num_head_channels -1 gives
 * dim_head = ch / num_heads, else heads = ch / num_head_channels. */
typedef struct unet_config {
    int in_channels, out_channels;
    int model_channels;
    int channel_mult[UNET_MAX_LEVELS];
    int n_levels;
    int attention_resolutions[UNET_MAX_LEVELS]; /* downsampling factors (1, 2, 4, ...) with attention */
    int n_attention_resolutions;
    int num_res_blocks;
    int num_heads;          /* -1: unset */
    int num_head_channels;  /* -1: unset; wins over num_heads when set (as in LDM) */
    int transformer_depth;
    int context_dim;
    int norm_num_groups;    /* every GroupNorm (ResBlocks, SpatialTransformer, out.0) */
} unet_config;

/* "sd15" or "tiny". */
int unet_config_builtin(unet_config *c, const char *name, tg_error *err);
/* A JSON object of LDM unet_config keys. Unknown keys, wrong types and impossible values are refused
 * with a message naming the key; image_size, use_checkpoint, use_spatial_transformer (true),
 * legacy (false), num_heads_upsample (-1) and dropout (0) are accepted and unused. */
int unet_config_from_json(unet_config *c, const cJSON *obj, tg_error *err);
/* A built-in name, or the path of a JSON file holding such an object. */
int unet_config_load(unet_config *c, const char *name_or_path, tg_error *err);
/* Checks a config filled by hand (the loaders call it). */
int unet_config_check(const unet_config *c, tg_error *err);
/* The config as a JSON object in LDM's key names (for a run's config.json); NULL when out of memory. */
cJSON *unet_config_to_json(const unet_config *c);
/* Heads and head width of a SpatialTransformer on ch channels. */
void unet_config_heads(const unet_config *c, int ch, int *heads, int *dim_head);

typedef enum unet_pass { UNET_INFER, UNET_TRAIN } unet_pass;

struct unet_layer;
struct unet_acts;

typedef struct unet {
    unet_config cfg;
    params ps;                      /* model.diffusion_model.* */
    int time_embed[4];              /* time_embed.0.weight, .0.bias, .2.weight, .2.bias */
    struct unet_layer *layers;      /* forward order: input_blocks, middle_block, output_blocks, out */
    int n_layers;
    int n_skips;                    /* = number of input_blocks */
    bool freeze_base;               /* backward: no base weight gradients (LoRA training) */
    lora_set *lora;                 /* adapters (unet_lora_attach), or NULL */
    struct unet_acts *acts;         /* activations for the last shape (private) */
} unet;

/* Builds the module tree and allocates the weights (uninitialised; unet_init or params_load fill
 * them), with gradient buffers when with_grads. */
int unet_build(unet *u, kctx *k, const unet_config *c, bool with_grads, tg_error *err);
void unet_free(unet *u, kctx *k);
/* PyTorch's default init as LDM gets it: Linear/Conv2d kaiming-uniform(a = sqrt 5), i.e. weight and
 * bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)); norms 1 and 0; zero_module for each ResBlock's
 * out_layers.3, proj_out and out.2 (a new model predicts 0). Deterministic for a seed. */
int unet_init(unet *u, kctx *k, uint64_t seed, tg_error *err);

/* eps (B, out_channels, H, W) from x (B, in_channels, H, W), timesteps[B], context (B, T, context_dim). */
int unet_forward(unet *u, kctx *k, tensor *eps, const tensor *x, const float *timesteps,
                 const tensor *context, unet_pass pass, tg_error *err);
/* After a UNET_TRAIN forward: deps (B, out_channels, H, W) -> += gradients (see above). */
int unet_backward(unet *u, kctx *k, const tensor *deps, tensor *dx, tensor *dcontext, tg_error *err);
/* The forward's FLOPs (2 per multiply-add of convs, linears and attention matmuls) for an input
 * (B, in, H, W) and T context tokens; a training step with all gradients is about 3x this. */
double unet_forward_flops(const unet *u, int B, int H, int W, int T);
/* Bytes of activation memory held now (0 before the first forward). */
size_t unet_acts_bytes(const unet *u);

/* Declares kohya's adapters on every SpatialTransformer linear and 1x1 conv (proj_in, attn1/attn2
 * to_q/to_k/to_v/to_out.0, ff.net.0.proj, ff.net.2, proj_out: 12 per SpatialTransformer of
 * depth 1, 192 on sd15), named by lora_name_unet. The caller then runs lora_alloc; the forward and backward
 * use the set from then on. Returns 0, or -1 (out of memory, or a name that cannot be mapped). */
int unet_lora_attach(unet *u, lora_set *ls, int rank, float alpha);

#endif
