/* One model run on tensors read from a file, for `tagbench model` (docs/models.md, "Checking
 * against a reference"): the model is built from a config, its weights are loaded by checkpoint
 * name, it runs forward (and backward) on the inputs, and what it computed is written to a
 * safetensors file whose tensor names any reference implementation can produce as well
 * (tests/ref/ldm_reference.py does), so the two are compared tensor by tensor.
 *
 *   unet  in:  x [B, in_channels, H, W], timesteps [B], context [B, T, context_dim],
 *              dy [B, out_channels, H, W] (backward)
 *         out: eps; backward: grad_x, grad_context, and grad.<weight key> for every weight, or
 *              with a LoRA (base frozen) grad.<kohya name>.lora_down.weight / .lora_up.weight
 *   clip  in:  input_ids [B, T] (I64 or I32), dy [B, T, C] (backward: the gradient of
 *              last_hidden_state), dy_penultimate [B, T, C] (optional: of penultimate_ln)
 *         out: last_hidden_state, penultimate_ln (when num_hidden_layers >= 2), hidden_ln with a
 *              clip_skip; backward: grad_embeds, grad.<weight key> or the LoRA's as above
 *   vae   in:  image [B, in_channels, H, W] with noise [B, embed_dim, h, w], and/or latent
 *              [B, embed_dim, h', w']
 *         out: moments, mean, logvar, std, z_sample (from image), decoded (from latent)
 * The backward's loss is sum(dy * output) (+ sum(dy_penultimate * penultimate_ln)), so the
 * gradients written are d loss / d tensor.
 *
 * Library code: it prints nothing; progress goes through the callback, failures into err with
 * the file, the tensor and the reason. */
#ifndef TRAINER_MODEL_RUN_H
#define TRAINER_MODEL_RUN_H
#include <stdbool.h>

#include "tagger/error.h"

typedef enum model_family { MODEL_UNET, MODEL_CLIP, MODEL_VAE } model_family;

/* Called at the start of each phase ("loading weights", "forward", "backward", "writing"). */
typedef void (*model_progress_fn)(void *ctx, const char *phase);

typedef struct model_run_opts {
    model_family family;
    const char *config;       /* a built-in name (sd15, tiny) or a JSON file */
    const char *weights;      /* single-file checkpoint keys; other models' tensors are ignored */
    const char *inputs, *out;
    const char *lora;         /* kohya LoRA file (unet, clip), or NULL */
    bool backward;            /* unet, clip */
    int threads;              /* <= 0: all cores */
    int clip_skip;            /* clip: also write hidden_ln at this clip skip (1..L); 0: no */
    model_progress_fn progress;
    void *progress_ctx;
} model_run_opts;

/* "unet", "clip", "vae"; 0, or -1 for another name. */
int model_family_parse(const char *name, model_family *f);
const char *model_family_name(model_family f);

/* Runs it and writes o->out atomically. 0, or -1 with err (nothing written then). */
int model_run(const model_run_opts *o, tg_error *err);

#endif
