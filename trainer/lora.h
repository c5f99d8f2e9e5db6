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
    float alpha, scale;   /* scale = alpha / rank; alpha as saved (attach turns 0 into rank) */
    bool conv1x1;      /* NCHW input, 4-D weights */
    int down, up;      /* indices into the set's params: down (rank, in[,1,1]), up (out, rank[,1,1]) */
} lora_module;

typedef struct lora_set {
    lora_module *m;
    size_t n, cap;
    params ps;         /* the trainable weights (names `<name>.lora_down.weight`, ...) */
    float multiplier;  /* 1 when training; a user's strength when sampling */
    tensor tmp;        /* scratch of the forward/backward (grows on demand, at most a few MB) */
} lora_set;

void lora_set_init(lora_set *ls);
void lora_set_free(lora_set *ls, kctx *k);
/* Declares an adapter on a layer (before lora_alloc); returns its module index, or -1 for a name
 * that is empty, holds a '.' or is already attached, in/out/rank < 1, a non-finite alpha, or
 * after lora_alloc.
 * alpha 0 means alpha = rank (kohya's default when network_alpha is not given). */
int lora_attach(lora_set *ls, const char *kohya_name, int in, int out, bool conv1x1, int rank,
                float alpha);
/* Allocates the weights (with gradients when training) and initialises them from seed: down
 * kaiming-uniform, up zero. */
int lora_alloc(lora_set *ls, kctx *k, bool with_grads, uint64_t seed, tg_error *err);

/* y += multiplier * scale * up(down(x)); h (N, rank) or (B, rank, H, W) receives down(x), which the
 * backward needs (the caller owns it, sized by lora_hidden_shape). */
int lora_forward(kctx *k, lora_set *ls, int m, tensor *y, const tensor *x, tensor *h);
/* Accumulates the adapter's weight gradients (when the set has gradients) and, when dx is not
 * NULL, its part of dx: dh = multiplier * scale * up^T dy, dup += multiplier * scale * dy h^T,
 * ddown += dh x^T, dx += down^T dh. Shape or kernel errors: -1 with k->msg naming the module. */
int lora_backward(kctx *k, lora_set *ls, int m, tensor *dx, const tensor *dy, const tensor *x,
                  const tensor *h);
/* The shape of h for an input x. */
void lora_hidden_shape(const lora_set *ls, int m, const tensor *x, int *ndim, int64_t *shape);
/* The up-projection and the backward run in chunks of rows (linear) or batch items (conv) whose
 * scratch (ls->tmp) stays under this many floats, or one row/item if that is more (default 1 M;
 * tests make it small to exercise the chunking). */
extern size_t lora_tmp_floats;

/* kohya's file: every module's down, up and 0-d alpha, stored as dt (F32, F16 or BF16), plus
 * metadata ss_network_module "networks.lora", ss_network_dim and ss_network_alpha (module 0's, as
 * Python's str() writes them: "4", "1.0"), ss_base_model_version "sd_v1", ss_v2 "False"; meta adds
 * key/value pairs (NULL-terminated) that may replace those — trainers.md §5.5 lists the rest. */
int lora_save(const lora_set *ls, kctx *k, const char *path, st_dtype dt, const char *const *meta,
              tg_error *err);
/* Loads a LoRA file onto the attached (and allocated) modules by name; a module missing from the
 * file, an unknown key in it, or a shape that differs (rank included) is an error naming the file
 * and the key, and nothing is loaded. `.alpha` (0-d, any dtype) is taken as written, as A1111 and
 * ComfyUI do (scale = alpha / rank); a module without one gets alpha = rank (scale 1). */
int lora_load(lora_set *ls, kctx *k, const st_file *f, tg_error *err);
/* The rank of a kohya LoRA file's modules (lora_down's first dim); a file mixing ranks, or without
 * any `*.lora_down.weight`, is refused naming the file. */
int lora_file_rank(const st_file *f, int *rank, tg_error *err);
/* What a file holds for module name, to attach it with the file's dims before loading: 1 with
 * rank (lora_down's first dim), in, out, conv1x1 (4-D weights) and alpha (rank when absent); 0 when
 * the file has no `<name>.lora_down.weight`; -1 with err when its tensors are malformed. */
int lora_file_module(const st_file *f, const char *name, int *rank, int *in, int *out,
                     bool *conv1x1, float *alpha, tg_error *err);

#endif
