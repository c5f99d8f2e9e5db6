/* A model's weights: named tensors living in one allocation (and their gradients in another), as
 * llm.c keeps them, so that zeroing gradients, the optimiser step and the gradient norm are single
 * loops. Names are the keys of single-file SD 1.x checkpoints (`model.diffusion_model.*`,
 * `cond_stage_model.transformer.text_model.*`, `first_stage_model.*`), for every config, so the
 * same loader reads a tiny test model and a 4 GB checkpoint.
 *
 * A model adds its parameters (params_add) while it is built, then params_alloc makes the buffers;
 * after that the tensors do not move. Parameters are referred to by the index params_add returns. */
#ifndef TRAINER_PARAMS_H
#define TRAINER_PARAMS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "tagger/error.h"
#include "trainer/safetensors.h"

typedef struct param {
    char *name;
    int ndim;
    int64_t shape[K_MAX_DIMS];
    size_t offset;        /* in elements, into the buffers */
    tensor w, g;          /* views (set by params_alloc); g.data NULL without gradients */
} param;

typedef struct params {
    param *p;
    size_t n, cap;
    size_t numel;
    tensor all_w, all_g;  /* the buffers: numel floats each (all_g.data NULL without gradients) */
} params;

void params_init(params *ps);
void params_free(params *ps, kctx *k);
/* Adds a parameter named printf-style; returns its index, or -1 when out of memory or after
 * params_alloc. Shapes have 1..K_MAX_DIMS positive dimensions. */
int params_add(params *ps, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Allocates the buffers (gradients too when with_grads) and points every param into them. */
int params_alloc(params *ps, kctx *k, bool with_grads, tg_error *err);
/* Index of the parameter named name, or -1. */
long params_find(const params *ps, const char *name);
static inline tensor *params_w(params *ps, int i) { return &ps->p[i].w; }
static inline tensor *params_g(params *ps, int i) { return ps->p[i].g.data ? &ps->p[i].g : NULL; }

/* Fills every parameter from f by name, converting F32/F16/BF16 to the backend's dtype. A missing
 * tensor or one of another shape is an error naming both (the file and the key); tensors of f
 * that are not parameters are ignored (a checkpoint holds three models). */
int params_load(params *ps, kctx *k, const st_file *f, tg_error *err);
/* Adds every parameter to w, stored as dt (F32, F16 or BF16). The data is copied to host memory
 * owned by *hold (free it after st_writer_save). */
int params_write(const params *ps, kctx *k, st_writer *w, st_dtype dt, float **hold, tg_error *err);

/* "[2, 3, 4]" for messages. */
void params_shape_text(char *buf, size_t size, int ndim, const int64_t *shape);

/* Sum of all elements counted (for "859,520,964 parameters"). */
static inline size_t params_count(const params *ps) { return ps->numel; }

#endif
