/* The SD VAE (LDM's AutoencoderKL), forward only: the encoder turns images into latents once, to
 * cache them for training; the decoder turns sampled latents into images. Exactly LDM's
 * ldm/modules/diffusionmodules/model.py Encoder/Decoder and ldm/models/autoencoder.py
 * (reference/engines.md §5):
 *
 *   encode: image (B, in_channels, H, W) -> encoder -> quant_conv -> moments (B, 2*embed_dim, h, w)
 *           moments = [mean, logvar]; logvar clamped to [-30, 20]; std = exp(logvar / 2);
 *           z = mean + std * noise (DiagonalGaussianDistribution.sample)
 *   decode: latent (B, embed_dim, h, w) -> post_quant_conv -> decoder -> image (B, out_ch, H', W')
 *   h = H / 2^(levels-1) (each Downsample floors: pad right/bottom by 1, 3x3 conv stride 2),
 *   H' = h * 2^(levels-1); pixels in [-1, 1]; the decoder has no tanh.
 *
 * The UNet sees latents scaled by VAE_LATENT_SCALE (SD 1.x `scale_factor`; kohya uses the same
 * constant): z_unet = VAE_LATENT_SCALE * z, and a sample decodes as decode(z_unet / VAE_LATENT_SCALE).
 * vae_encode / vae_decode themselves never scale.
 *
 * Weights are named as in single-file SD 1.x checkpoints (`first_stage_model.encoder.*`,
 * `.decoder.*`, `.quant_conv.*`, `.post_quant_conv.*`) for every config. Inference only: dropout is
 * the identity (eval mode), nothing is saved for a backward, and the activations live in a few
 * reusable buffers sized by a dry run of the same walk, so decoding a 64x64 sd15 latent to 512x512
 * holds 768 MiB of activations (encoding 512x512: 512 MiB) besides the 335 MB of weights and the
 * kernels' 64 MiB im2col scratch (bench/bench_vae.c: peak RSS 1.2 GB and 0.9 GB). */
#ifndef TRAINER_VAE_H
#define TRAINER_VAE_H
#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>

#include "kernels/kernels.h"
#include "tagger/error.h"
#include "trainer/params.h"

/* SD 1.x's latent scale factor (v1-inference.yaml `scale_factor`): z_unet = 0.18215 * z. */
#define VAE_LATENT_SCALE 0.18215f
#define VAE_PREFIX "first_stage_model."
/* logvar is clamped to this range before std = exp(logvar / 2), as LDM does. */
#define VAE_LOGVAR_MIN (-30.0f)
#define VAE_LOGVAR_MAX 20.0f
#define VAE_NORM_EPS 1e-6f /* LDM's Normalize: GroupNorm(32, C, eps=1e-6) */

/* Limits of this implementation (a config beyond them is refused by name). */
#define VAE_MAX_LEVELS 8      /* len(ch_mult) */
#define VAE_MAX_RES_BLOCKS 8  /* num_res_blocks (the decoder has one more per level) */
#define VAE_MAX_ATTN_RES 16   /* len(attn_resolutions) */

/* LDM's first_stage_config params: embed_dim, and ddconfig's keys; norm_num_groups (LDM: always
 * 32) makes small test configs possible. */
typedef struct vae_config {
    int embed_dim;
    bool double_z;            /* must be true (AutoencoderKL asserts it) */
    int z_channels, resolution, in_channels, out_ch, ch;
    int n_levels;             /* len(ch_mult) */
    int ch_mult[VAE_MAX_LEVELS];
    int num_res_blocks;
    int n_attn_res;
    int attn_resolutions[VAE_MAX_ATTN_RES]; /* compared with the *config* resolution per level */
    float dropout;            /* accepted, unused: forward is eval mode */
    int norm_num_groups;
} vae_config;

/* Built-in configs: "sd15" (SD 1.x, 83,653,863 parameters) and "tiny" (32x32 RGB -> 16x16x4:
 * ch 32, ch_mult [1, 2], num_res_blocks 1, no level attention, norm_num_groups 8; 658,375
 * parameters). Unknown name: -1 with the list of names. */
int vae_config_builtin(vae_config *c, const char *name, tg_error *err);
/* From LDM's first_stage_config params as JSON: {"embed_dim": 4, "ddconfig": {...}}, or the whole
 * {"target": "ldm.models.autoencoder.AutoencoderKL", "params": {...}} (yaml turned json). Required,
 * as LDM requires them: embed_dim, ddconfig, and in ddconfig ch, out_ch, num_res_blocks,
 * attn_resolutions, in_channels, resolution, z_channels; defaults: ch_mult [1, 2, 4, 8],
 * dropout 0, double_z true, norm_num_groups 32. Accepted and unused: `monitor`, `lossconfig`
 * (params) and LDM's `resamp_with_conv` (true), `give_pre_end`, `tanh_out`, `use_linear_attn`
 * (false) and `attn_type` ("vanilla") in ddconfig, each only with the value this implementation
 * computes. Any other key, a wrong type or an impossible value is refused naming the key. */
int vae_config_from_json(vae_config *c, const cJSON *json, tg_error *err);
/* A built-in name, else a path to a JSON file as above. */
int vae_config_load(vae_config *c, const char *name_or_path, tg_error *err);
/* Checks a config filled by hand (vae_config_from_json calls it). */
int vae_config_check(const vae_config *c, tg_error *err);
/* The config as {"embed_dim": ..., "ddconfig": {...}} (for a run's config.json); NULL when out of
 * memory. */
cJSON *vae_config_to_json(const vae_config *c);
/* The latent size of an H x W image: each of the n_levels - 1 Downsamples floors H / 2. -1 when
 * the image is too small (a Downsample needs at least 2 rows and columns). */
int vae_latent_size(const vae_config *c, int64_t H, int64_t W, int64_t *h, int64_t *w, tg_error *err);

/* ---- the model ---- */

/* Parameter indices (into vae.ps) of the blocks; -1 where a block has no such tensor. */
typedef struct vae_norm {
    int w, b;
} vae_norm;

typedef struct vae_conv {
    int w, b;
} vae_conv;

/* ResnetBlock without timestep: x + conv2(silu(norm2(conv1(silu(norm1(x)))))), x through the
 * 1x1 nin_shortcut when cin != cout. */
typedef struct vae_resblock {
    int cin, cout;
    vae_norm norm1, norm2;
    vae_conv conv1, conv2, nin_shortcut; /* nin_shortcut.w == -1 when cin == cout */
} vae_resblock;

/* AttnBlock: single-head self-attention over the H*W positions, q/k/v/proj_out 1x1 convs. */
typedef struct vae_attn {
    int c;
    vae_norm norm;
    vae_conv q, k, v, proj_out;
} vae_attn;

typedef struct vae_level {
    int n_blocks;                            /* encoder: num_res_blocks; decoder: + 1 */
    vae_resblock block[VAE_MAX_RES_BLOCKS + 1];
    bool has_attn;                           /* attn[j] follows block[j] */
    vae_attn attn[VAE_MAX_RES_BLOCKS + 1];
    vae_conv resample;                       /* down.N.downsample.conv / up.N.upsample.conv; w -1: none */
} vae_level;

/* Encoder or Decoder: conv_in, levels (the decoder runs them from the last down to 0), mid,
 * norm_out, conv_out. */
typedef struct vae_coder {
    vae_conv conv_in;
    vae_level level[VAE_MAX_LEVELS];
    vae_resblock mid_block_1, mid_block_2;
    vae_attn mid_attn_1;
    vae_norm norm_out;
    vae_conv conv_out;
} vae_coder;

#define VAE_SLOTS 4

typedef struct vae {
    vae_config cfg;
    params ps;
    vae_coder enc, dec;
    vae_conv quant_conv, post_quant_conv;
    /* Activations: VAE_SLOTS buffers; a layer reads one and writes another, so nothing but the
     * current feature map (and a block's input, for its residual) stays alive. Each grows to the
     * most its slot needed in a call so far; vae_release frees them. */
    tensor slot[VAE_SLOTS];
    size_t slot_floats[VAE_SLOTS];
    tensor stats;        /* group norm statistics, (B, groups, 2); never read back */
    size_t stats_floats;
} vae;

/* Adds the config's parameters (names and shapes of LDM's AutoencoderKL state dict) and allocates
 * them, zeroed, without gradients; load real weights with params_load(&m->ps, ...). */
int vae_build(vae *m, kctx *k, const vae_config *c, tg_error *err);
void vae_free(vae *m, kctx *k);
/* Frees the activation buffers (the next encode/decode allocates them again). */
void vae_release(vae *m, kctx *k);
/* Bytes of activation memory held now (0 before the first encode/decode). */
size_t vae_acts_bytes(const vae *m);

/* moments (B, 2*embed_dim, h, w) = quant_conv(encoder(image (B, in_channels, H, W))). */
int vae_encode(vae *m, kctx *k, tensor *moments, const tensor *image, tg_error *err);
/* image (B, out_ch, h*f, w*f) = decoder(post_quant_conv(latent (B, embed_dim, h, w))), f =
 * 2^(n_levels-1). The latent is used as given (divide a UNet latent by VAE_LATENT_SCALE first). */
int vae_decode(vae *m, kctx *k, tensor *image, const tensor *latent, tg_error *err);
/* DiagonalGaussianDistribution of moments (B, 2E, h, w): mean, logvar (clamped), std and
 * z = mean + std * noise, each (B, E, h, w); any output may be NULL (z needs noise). */
int vae_posterior(kctx *k, const tensor *moments, const tensor *noise, tensor *mean, tensor *logvar,
                  tensor *std, tensor *z, tg_error *err);

#endif
