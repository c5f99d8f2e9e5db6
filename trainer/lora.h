/* LoRA adapters, kohya sd-scripts semantics (reference/trainers.md §5): for a frozen base layer
 * y = W x (+ b), the adapter adds scale * up(down(x)) with scale = alpha / rank, down initialised
 * like nn.Linear (kaiming-uniform, a = sqrt 5) and up to zero, so a new adapter changes nothing.
 * Linear layers take (N, in) inputs; 1x1 convolutions take NCHW and their adapter weights are
 * 4-D (rank, in, 1, 1) / (out, rank, 1, 1), as kohya saves them.
 *
 * Modules are named as kohya names them (lora_unet_<diffusers module path>, lora_te_<path>, dots
 * turned into underscores; lora_names.h maps our checkpoint keys to them), and a LoRA file holds
 * per module `<name>.lora_down.weight`, `<name>.lora_up.weight` and the 0-d `<name>.alpha`, with
 * kohya's `ss_*` metadata, so that A1111 and ComfyUI load it.
 *
 * A model keeps, for each layer that can carry an adapter, the module index returned by
 * lora_attach (or -1): its forward calls lora_forward right after the base layer, its backward
 * calls lora_backward before the base layer's backward. */
#ifndef TRAINER_LORA_H
#define TRAINER_LORA_H
#include <stdbool.h>

#include "kernels/kernels.h"
#include "tagger/error.h"
#include "trainer/params.h"
#include "trainer/safetensors.h"

typedef struct lora_module {
    char *name;        /* kohya's: "lora_unet_down_blocks_0_attentions_0_proj_in" */
    int in, out, rank;
    float alpha, scale;   /* scale = alpha / rank (alpha 0 means alpha = rank) */
    bool conv1x1;      /* NCHW input, 4-D weights */
    int down, up;      /* indices into the set's params: down (rank, in[,1,1]), up (out, rank[,1,1]) */
} lora_module;

typedef struct lora_set {
    lora_module *m;
    size_t n, cap;
    params ps;         /* the trainable weights (names `<name>.lora_down.weight`, ...) */
    float multiplier;  /* 1 when training; a user's strength when sampling */
} lora_set;

void lora_set_init(lora_set *ls);
void lora_set_free(lora_set *ls, kctx *k);
/* Declares an adapter on a layer (before lora_alloc); returns its module index or -1. */
int lora_attach(lora_set *ls, const char *kohya_name, int in, int out, bool conv1x1, int rank,
                float alpha);
/* Allocates the weights (with gradients when training) and initialises them from seed: down
 * kaiming-uniform, up zero. */
int lora_alloc(lora_set *ls, kctx *k, bool with_grads, uint64_t seed, tg_error *err);

/* y += multiplier * scale * up(down(x)); h (N, rank) or (B, rank, H, W) receives down(x), which the
 * backward needs (the caller owns it, sized by lora_hidden_shape). */
int lora_forward(kctx *k, lora_set *ls, int m, tensor *y, const tensor *x, tensor *h);
/* Accumulates the adapter's weight gradients and, when dx is not NULL, its part of dx. */
int lora_backward(kctx *k, lora_set *ls, int m, tensor *dx, const tensor *dy, const tensor *x,
                  const tensor *h);
/* The shape of h for an input x. */
void lora_hidden_shape(const lora_set *ls, int m, const tensor *x, int *ndim, int64_t *shape);

/* kohya's file: every module's down, up and alpha, stored as dt, plus metadata (ss_network_dim,
 * ss_network_alpha, ss_network_module "networks.lora", ... — trainers.md §5.5; meta may add more as
 * key/value pairs, NULL-terminated). */
int lora_save(const lora_set *ls, kctx *k, const char *path, st_dtype dt, const char *const *meta,
              tg_error *err);
/* Loads a LoRA file onto the attached modules by name; a module missing from the file, an unknown
 * key in it, or a shape that differs is an error naming the file and the key. */
int lora_load(lora_set *ls, kctx *k, const st_file *f, tg_error *err);

#endif
