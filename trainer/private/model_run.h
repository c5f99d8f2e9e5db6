/* What the per-family runners of model_run share (trainer/model_run*.c): the open files, the
 * compute context, reading named inputs with shape checks, and collecting outputs for the
 * writer (their host copies stay alive until the file is saved). */
#ifndef TRAINER_PRIVATE_MODEL_RUN_H
#define TRAINER_PRIVATE_MODEL_RUN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "trainer/lora.h"
#include "trainer/model_run.h"
#include "trainer/params.h"
#include "trainer/safetensors.h"

typedef struct mr_ctx {
    const model_run_opts *o;
    kctx k;
    st_file *weights, *inputs, *lora;
    st_writer *w;
    void **keep;            /* host buffers the writer borrows */
    size_t n_keep, cap_keep;
    tensor *tensors;        /* device tensors made by mr_tensor, freed at the end */
    size_t n_tensors, cap_tensors;
} mr_ctx;

void mr_phase(mr_ctx *c, const char *phase);

/* A host buffer of n floats (zeroed) that lives until the run ends; NULL with err. */
float *mr_host(mr_ctx *c, size_t n, tg_error *err);
/* A device tensor freed at the end of the run (uninitialised); data NULL with err. */
tensor *mr_tensor(mr_ctx *c, int ndim, const int64_t *shape, tg_error *err);

/* The float input `name` with ndim dimensions (`dims` spells them for messages: "[B, C, H, W]"):
 * its shape into shape[], its values (converted from F32/F16/BF16/F64, or integers when
 * ints_ok) into a new device tensor *t. Returns 1, or 0 when absent and not required, or -1. */
int mr_input(mr_ctx *c, const char *name, bool required, int ndim, const char *dims, bool ints_ok,
             tensor **t, tg_error *err);
/* The same into host floats (timesteps). */
int mr_input_host(mr_ctx *c, const char *name, bool required, int ndim, const char *dims,
                  bool ints_ok, int64_t *shape, float **data, tg_error *err);
/* Checks that dimension d of input `name` (shape got) equals want; what names where want comes
 * from ("in_channels of the config", "x's batch"). */
int mr_dim(mr_ctx *c, const char *name, const tensor *t, int d, int64_t want, const char *what,
           tg_error *err);

/* Adds output `name` = t (downloaded into a kept host buffer). */
int mr_output(mr_ctx *c, const char *name, const tensor *t, tg_error *err);
/* Adds `grad.<param name>` for every parameter of ps (which has gradients). */
int mr_output_grads(mr_ctx *c, const params *ps, tg_error *err);

/* Loads ps by name from the weights file, refusing weights that are not F32/F16/BF16 and saying
 * when the file has nothing under the model's key prefix. */
int mr_load_weights(mr_ctx *c, params *ps, const char *prefix, tg_error *err);
/* The rank of a LoRA file's modules (lora_down's first dimension), checked equal for all of them
 * (the models attach one rank to every module); the file must hold at least one module. */
int mr_lora_rank(mr_ctx *c, int *rank, tg_error *err);

int mr_run_unet(mr_ctx *c, tg_error *err);
int mr_run_clip(mr_ctx *c, tg_error *err);
int mr_run_vae(mr_ctx *c, tg_error *err);

#endif
