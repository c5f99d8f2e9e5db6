/* Generating an image from a prompt with a diffusion model (docs/training.md, "Samples"):
 * the prompt and the negative prompt through the text encoder, one of the samplers (sampler.h)
 * with classifier-free guidance over the UNet, then model space back to pixels. */
#ifndef TRAINER_DMODEL_SAMPLE_H
#define TRAINER_DMODEL_SAMPLE_H
#include <stdint.h>

#include "tagger/image.h"
#include "trainer/dmodel.h"
#include "trainer/sampler.h"

typedef struct dmodel_sample_opts {
    const char *prompt;
    const char *negative;  /* the unconditional branch's text; NULL or "": the empty caption */
    int width, height;     /* pixels */
    int steps;
    double cfg_scale;
    uint64_t seed;
    sampler_kind sampler;
    sampler_progress_fn progress; /* may be NULL; a nonzero return stops */
    void *progress_ctx;
} dmodel_sample_opts;

/* Writes an 8-bit RGB image of width x height into out (allocated here; image_free it). */
int dmodel_sample(dmodel *m, kctx *k, const dmodel_sample_opts *o, image *out, tg_error *err);

/* Writes img as a PNG, atomically. */
int png_write(const char *path, const image *img, tg_error *err);

#endif
