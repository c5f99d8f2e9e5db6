/* A text-to-image diffusion model as training and sampling see it: the UNet, the text encoder,
 * its tokenizer and the image space (docs/training.md, "Models").
 *
 * tagbench's own models (the built-in `tiny`) work on pixels: an RGB image at the resolution,
 * pixel_unshuffle'd by 2 (3 x 32 x 32 -> 12 x 16 x 16) is the UNet's x0, and the text encoder is
 * the tiny CLIP over the tag tokenizer (one token per dataset tag). Such a model is saved as one
 * safetensors file in the single-file layout (model.diffusion_model.*,
 * cond_stage_model.transformer.text_model.*) whose metadata says what it is:
 *   tagbench.model        "pixels-v1"
 *   tagbench.unet_config  the UNet's LDM unet_config (JSON)
 *   tagbench.clip_config  the text encoder's CLIPTextConfig (JSON)
 *   tagbench.tags         the tag vocabulary in id order (JSON list)
 *   tagbench.unshuffle    "2"
 *   tagbench.prediction   "epsilon" | "v"
 * so that `tagbench sample FILE` needs nothing else, and a LoRA trained on it loads back.
 * A checkpoint without tagbench.model (a Stable Diffusion 1.x file) is refused for now with a
 * message saying so: its VAE-latent training path is not wired yet. */
#ifndef TRAINER_DMODEL_H
#define TRAINER_DMODEL_H
#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "tagger/error.h"
#include "trainer/clip_model.h"
#include "trainer/lora.h"
#include "trainer/noise_schedule.h"
#include "trainer/tag_tokenizer.h"
#include "trainer/unet.h"

#define DMODEL_KIND_PIXELS "pixels-v1"

typedef struct dmodel {
    unet unet;
    clip te;
    tag_tokenizer *tags;
    int unshuffle;         /* pixels per side folded into channels (2) */
    int max_length;        /* tokens per caption: the text encoder's positions */
    int native;            /* the resolution it is meant for, in pixels (32) */
    bool v_prediction;
    noise_schedule sched;  /* SD's scaled_linear, 1000 steps */
    lora_set *lora;        /* attached adapters (dmodel_lora_*), or NULL */
    int lora_te_first;     /* index of the first text-encoder module in lora (n when none) */
} dmodel;

/* The built-in `tiny`, initialised from seed, with gradients on every weight when with_grads
 * (training from scratch), over the vocabulary tags[0..n). */
int dmodel_build_tiny(dmodel *m, kctx *k, const char *const *tags, size_t n, bool with_grads,
                      uint64_t seed, tg_error *err);
/* A checkpoint written by dmodel_save; with_grads as above (false: a frozen base for LoRA). */
int dmodel_load(dmodel *m, kctx *k, const char *path, bool with_grads, tg_error *err);
void dmodel_free(dmodel *m, kctx *k);

/* Writes the whole model (weights stored as dt: F32, F16 or BF16) with the metadata above plus
 * extra key/value pairs (NULL-terminated, may be NULL). Atomic. */
int dmodel_save(const dmodel *m, kctx *k, const char *path, st_dtype dt, const char *const *extra,
                tg_error *err);

/* Attaches kohya LoRA adapters of rank and alpha on the UNet and, unless unet_only, the text
 * encoder; the base is frozen. with_grads: training. seed: the adapters' initialisation. */
int dmodel_lora_new(dmodel *m, kctx *k, int rank, float alpha, bool unet_only, bool with_grads,
                    uint64_t seed, tg_error *err);
/* Loads a kohya LoRA file onto the model with the file's ranks and alphas, at strength mult. */
int dmodel_lora_load(dmodel *m, kctx *k, const char *path, float mult, tg_error *err);

/* Tokens of a caption: BOS, tags, EOS, padding (max_length ids). */
void dmodel_tokenize(const dmodel *m, const char *caption, int32_t *ids);
/* Model space of an image of h x w pixels: channels, height, width. -1 with err when the size
 * does not fit the model (a multiple of unshuffle x 2^(levels - 1)). */
int dmodel_space(const dmodel *m, int h, int w, int *c, int *mh, int *mw, tg_error *err);
/* Pixels [B,3,h,w] in [-1,1] <-> model space [B,c,h/r,w/r]. */
void dmodel_encode(const dmodel *m, const float *pixels, int B, int h, int w, float *x0);
void dmodel_decode(const dmodel *m, const float *x0, int B, int h, int w, float *pixels);

#endif
