/* A training run's data (docs/train_data.md): the captions and images of a dataset as they were at
 * launch, turned into batches the way kohya sd-scripts does it (reference/trainers.md §1-§3):
 * repeats from `N_name` folders, aspect-ratio buckets, batches cut within a bucket and shuffled per
 * epoch with seed + epoch, resize to cover and crop, flip_aug, color_aug, the caption pipeline per
 * sample, tokenization, and an in-memory latent cache fed by a VAE-encoder callback.
 *
 * Two stages, because the dataset is not thread-safe and a run lives in its own thread:
 *   1. train_snapshot_take, on the dataset's thread at launch: copies in memory what the run
 *      needs (paths, current captions even unsaved, folders). Fast, no file I/O. Later edits of
 *      the dataset do not reach the run.
 *   2. train_data_open, on the run's thread: probes image sizes, assigns buckets, plans epochs.
 * Every random choice is drawn from an rng seeded by (seed, epoch, batch, slot, purpose), so the
 * same seed gives the same batches, captions, crops, flips and colour shifts, and a resumed run
 * can start at any epoch. A train_data is used by one thread at a time. */
#ifndef TRAINER_TRAIN_DATA_H
#define TRAINER_TRAIN_DATA_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/bucket.h"
#include "tagger/dataset.h"
#include "tagger/error.h"
#include "tagger/image.h"
#include "tagger/pipeline.h"
#include "tagger/rng.h"

/* ---- 1. the snapshot ---- */

typedef struct train_snap_folder {
    char *rel, *name;   /* as ds_folder */
    int repeats;        /* N of an N_name folder directly under the root; 0 otherwise */
    char *class_tokens; /* NULL when not an N_name folder */
} train_snap_folder;

typedef struct train_snap_item {
    char *path;         /* image path (root joined with the relative path) */
    char *rel;          /* image path relative to the root */
    char *text;         /* the caption's text as dataset_save would write it now (current tags,
                           BOM, line ends and extra lines kept); NULL when the image has no
                           caption (no file and no tags): then the class tokens stand for it */
    uint32_t folder;
    int w, h;           /* size if the dataset had probed it, else 0 */
    bool locked;        /* caption file unreadable: the item is left out of the run */
} train_snap_item;

typedef struct train_snapshot {
    char *root;
    train_snap_item *items;
    size_t n_items;
    train_snap_folder *folders;
    size_t n_folders;
} train_snapshot;

/* NULL with err set when memory runs out. */
train_snapshot *train_snapshot_take(const dataset *ds, tg_error *err);
void train_snapshot_free(train_snapshot *s);

/* ---- 2. the data of a run ---- */

/* Turns a caption (as the caption pipeline outputs it) into max_len ids, padded. Returns the
 * number of positions before the padding (>= 0), or -1. */
typedef int (*train_tokenize_fn)(void *ctx, const char *caption, int32_t *ids, int max_len);
/* Ready-made callbacks: ctx is a tag_tokenizer * (tiny) or a clip_tokenizer * (sd15, padded with
 * CLIP_SD1_PAD_ID as SD 1.x pads). */
int train_tokenize_tags(void *tag_tokenizer_ctx, const char *caption, int32_t *ids, int max_len);
int train_tokenize_clip(void *clip_tokenizer_ctx, const char *caption, int32_t *ids, int max_len);

/* A VAE encoder: pixels [3,h,w] in [-1,1] -> latent [channels, h/factor, w/factor]. `seed` is
 * fixed per (image, flip), for latent_dist.sample(). Returns 0, or -1 with err set. */
typedef int (*train_encode_fn)(void *ctx, const float *pixels, int h, int w, uint64_t seed,
                               float *latent, tg_error *err);

typedef struct train_data_opts {
    int width, height;          /* resolution (no default: 0 is refused) */
    bool enable_bucket;         /* false */
    int min_bucket_reso, max_bucket_reso, bucket_reso_steps; /* 256, 1024, 64 */
    bool bucket_no_upscale;     /* false */
    /* Without buckets: true (default) resizes each image to cover the resolution, then crops,
     * as kohya's latent-caching path does; false is kohya's image path exactly: no resize, an
     * image larger than the resolution needs random_crop, a smaller one is refused. */
    bool no_bucket_resize;
    int batch_size;             /* train_batch_size, 1 */
    uint64_t seed;              /* 0 */
    bool flip_aug, color_aug, random_crop; /* false */
    /* Repeats of images outside N_name folders (at the root, or nested deeper): 0 (default)
     * leaves them out, as kohya does; N > 0 uses them N times per epoch. */
    int repeats_outside;
    pipeline_opts pipeline;     /* the run's caption options (strings are copied) */
    long max_train_steps;       /* for token_warmup_step < 1; 0 = unknown */
    /* Tokenization (optional): T = max_length ids per caption. */
    train_tokenize_fn tokenize;
    void *tokenize_ctx;
    int max_length;
    /* Latent cache (optional): with an encoder, batches carry latents instead of pixels.
     * Refused with color_aug or random_crop, as kohya refuses caching them. */
    train_encode_fn encode;
    void *encode_ctx;
    int latent_channels;        /* 4 */
    int latent_factor;          /* 8 */
} train_data_opts;

void train_data_opts_default(train_data_opts *o);

typedef struct train_data train_data;

/* A bucket with images in it. */
typedef struct train_bucket {
    int w, h;
    size_t n_images;  /* distinct images */
    size_t n_samples; /* images x repeats */
    size_t n_batches; /* ceil(n_samples / batch_size) */
} train_bucket;

/* An image of the snapshot left out of the run, and why. */
typedef struct train_skip {
    uint32_t item;
    char *reason;
} train_skip;

/* Takes ownership of snap (freed here even on error). Probes the size of every image the
 * snapshot does not know, assigns buckets, checks the options; images that cannot be used
 * (unreadable, undecodable, caption unreadable, outside N_name folders) are skipped and listed.
 * Refused, with the reason, when no image is left, or an option is invalid. */
train_data *train_data_open(train_snapshot *snap, const train_data_opts *o, tg_error *err);
void train_data_free(train_data *td);

const train_snapshot *train_data_snapshot(const train_data *td);
size_t train_data_n_images(const train_data *td);   /* images used */
size_t train_data_n_samples(const train_data *td);  /* sum of images x repeats: one epoch */
size_t train_data_n_skipped(const train_data *td);
const train_skip *train_data_skipped(const train_data *td, size_t k);
/* Image j (0 .. n_images-1): its snapshot item, repeats, caption as read (kohya's read_caption,
 * or the class tokens), and where it goes. */
uint32_t train_data_image_item(const train_data *td, size_t j);
int train_data_image_repeats(const train_data *td, size_t j);
const char *train_data_image_caption(const train_data *td, size_t j);
bucket_fit train_data_image_fit(const train_data *td, size_t j);
size_t train_data_image_bucket(const train_data *td, size_t j);
size_t train_data_n_buckets(const train_data *td);
const train_bucket *train_data_bucket(const train_data *td, size_t b);
double train_data_mean_ar_error(const train_data *td); /* kohya's mean |ar error| (no repeats) */

/* kohya's len(train_dataloader): the sum over buckets of ceil(samples / batch_size). */
size_t train_data_batches_per_epoch(const train_data *td);
/* Optimizer steps per epoch: ceil(batches / gradient_accumulation_steps). */
long train_data_steps_per_epoch(const train_data *td, int grad_accum);

/* The images of batch `index` (0 .. batches_per_epoch-1) of epoch `epoch` (>= 1): writes up to
 * batch_size image indices to images, the bucket to *bucket; returns how many (0 when out of
 * range). */
size_t train_data_batch_images(train_data *td, int epoch, size_t index, uint32_t *images,
                               size_t *bucket);

/* One batch, ready for the model. Zero it before first use; train_data_batch_load reuses its
 * buffers; free with train_batch_free. */
typedef struct train_batch {
    int epoch;
    size_t index;
    int n;            /* samples */
    int w, h;         /* the bucket, in pixels */
    float *pixels;    /* [n,3,h,w] in [-1,1]; NULL when latents come from the cache */
    float *latents;   /* [n,C,h/f,w/f]; NULL without an encoder */
    int latent_c, latent_h, latent_w;
    int max_length;   /* T */
    int32_t *ids;     /* [n,T]; NULL without a tokenizer */
    int32_t *n_ids;   /* [n] positions before the padding */
    char **captions;  /* [n] the processed captions */
    uint32_t *images; /* [n] image indices (train_data_image_*) */
    uint8_t *flipped; /* [n] */
    int *crop_x, *crop_y; /* [n] trim offsets inside the resized image */
    size_t cap_n, cap_floats, cap_latent; /* internal capacities */
} train_batch;

/* Loads batch `index` of epoch `epoch`: decode, resize, crop, colour, flip, caption pipeline
 * (pipeline_when = {epoch, global_step, max_train_steps}), tokens, latents. 0, or -1 with err
 * naming the file. */
int train_data_batch_load(train_data *td, int epoch, size_t index, long global_step,
                          train_batch *b, tg_error *err);
void train_batch_free(train_batch *b);

/* Latent cache figures: entries filled and their bytes. */
void train_data_cache_stats(const train_data *td, size_t *entries, size_t *bytes);

/* ---- per-sample image steps (train_data_image.c), exposed for tests and previews ---- */

typedef enum train_color_kind { TRAIN_COLOR_NONE, TRAIN_COLOR_HUE, TRAIN_COLOR_GAMMA } train_color_kind;

/* The random choices of one sample, drawn in kohya's order (flip, crop, colour). */
typedef struct train_aug {
    bool flip;
    int crop_x, crop_y;      /* trim offsets */
    train_color_kind color;
    double hue_shift;        /* in [0, 180): kohya's uniform(-8, 8), negatives + 180 */
    double gamma;            /* uniform(0.95, 1.05) */
} train_aug;

/* Draws flip (p 0.5, if flip_aug), crop (centre, or uniform over [0, trim] per axis with
 * random_crop) and colour (p 0.33, then hue or gamma half each, if color_aug) for an image
 * resized to rw x rh that goes into a bw x bh bucket. Each purpose has its own stream. */
void train_aug_draw(train_aug *a, const train_data_opts *o, int rw, int rh, int bw, int bh,
                    rng *flip_rng, rng *crop_rng, rng *color_rng);
/* kohya's color_aug on 8-bit RGB in place: OpenCV's 8-bit HSV round trip (on the channels in
 * BGR order, as kohya passes RGB to COLOR_BGR2HSV) with the hue shifted, or x^gamma clipped. */
void train_color_hue(image *img, double hue_shift);
void train_color_gamma(image *img, double gamma);
/* The whole image path of one sample: load, resize to fit->resized (if it differs), trim at
 * (aug->crop_x, aug->crop_y) to fit->bucket, colour, flip, then float CHW (x/255 - 0.5)/0.5. */
int train_image_prepare(const char *path, const bucket_fit *fit, const train_aug *aug,
                        float *chw, tg_error *err);
/* RGB8 -> float [3,h,w] in [-1,1], mirrored if flip. */
void train_image_to_chw(const image *img, bool flip, float *chw);

/* ---- tensor layouts for the pixel-space tiny model ---- */

/* PyTorch's pixel_unshuffle: [B,C,H,W] -> [B,C*r*r,H/r,W/r], out channel c*r*r + i*r + j holding
 * in[c][y*r+i][x*r+j] (r = 2: RGB 32x32 -> 12x16x16). -1 when H or W is not a multiple of r. */
int train_data_space_to_depth(const float *src, int B, int C, int H, int W, int r, float *dst);
/* pixel_shuffle, the inverse: [B,C*r*r,H,W] -> [B,C,H*r,W*r]; C is the output's channels. */
int train_data_depth_to_space(const float *src, int B, int C, int H, int W, int r, float *dst);

#endif
