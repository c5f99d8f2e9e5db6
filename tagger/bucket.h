/* kohya's aspect-ratio bucketing as pure functions (reference/trainers.md §2): the bucket list,
 * the bucket an image falls in, and the resize and crop that fit it there. */
#ifndef TAGGER_BUCKET_H
#define TAGGER_BUCKET_H
#include <stdbool.h>
#include <stddef.h>

#include "tagger/error.h"

typedef struct bucket_reso {
    int w, h;
} bucket_reso;

typedef struct bucket_opts {
    int width, height;     /* resolution, e.g. 512x512 */
    int min_bucket_reso;   /* 256 */
    int max_bucket_reso;   /* 1024 */
    int bucket_reso_steps; /* 64 */
    bool bucket_no_upscale;
} bucket_opts;

typedef struct bucket_list {
    bucket_reso *resos; /* sorted as Python sorts (w, h) tuples */
    size_t n;
    bucket_opts opts;   /* after kohya's snapping of min/max to the step */
} bucket_list;

/* Where one image goes. */
typedef struct bucket_fit {
    bucket_reso bucket;  /* the bucket's size */
    bucket_reso resized; /* the image resized to cover the bucket, aspect kept */
    int crop_x, crop_y;  /* centre-crop offset of the bucket inside the resized image */
    double ar_error;     /* bucket aspect minus image aspect (signed, as kohya logs it) */
} bucket_fit;

void bucket_opts_default(bucket_opts *o, int resolution);
/* Builds the predefined list (make_bucket_resolutions); with bucket_no_upscale the list stays
 * empty because buckets come from each image's own size. Validates as kohya asserts. */
int bucket_list_make(bucket_list *bl, const bucket_opts *o, tg_error *err);
void bucket_list_free(bucket_list *bl);
/* select_bucket for an image of w x h (w, h > 0). */
bucket_fit bucket_select(const bucket_list *bl, int w, int h);

#endif
