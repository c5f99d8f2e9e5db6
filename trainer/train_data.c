/* The run's data as kohya sd-scripts builds it (BaseDataset.make_buckets, shuffle_buckets,
 * __getitem__; reference/trainers.md §1.4, §2, §3):
 *   - each image is assigned a bucket once (select_bucket, or the one resolution bucket), and put
 *     `repeats` times into its bucket's list, in snapshot order;
 *   - a bucket of n samples gives ceil(n / batch_size) batches; batches never mix buckets;
 *   - every epoch, the list of batches and each bucket's list are shuffled.
 * kohya shuffles with Python's random seeded by seed + epoch, cumulatively (each epoch shuffles the
 * previous epoch's order), and the DataLoader then permutes the batches again with torch's
 * generator. Here each epoch shuffles the initial lists afresh from an rng seeded by (seed, epoch):
 * the same uniform distribution, and any epoch can be produced directly (resume). Numbers differ
 * from Python's; the structure and the distributions do not. */
#include "trainer/train_data.h"

#include <stdlib.h>
#include <string.h>

enum { STREAM_ORDER = 1, STREAM_FLIP, STREAM_CROP, STREAM_COLOR, STREAM_CAPTION, STREAM_LATENT };

typedef struct td_image {
    uint32_t item;
    int repeats;
    char *caption; /* as read_caption gives it, or the class tokens */
    bucket_fit fit;
    size_t bucket;
} td_image;

typedef struct td_batch_ref {
    uint32_t bucket;
    uint32_t k; /* batch within the bucket */
} td_batch_ref;

struct train_data {
    train_snapshot *snap;
    train_data_opts o;
    char *strs[6]; /* the pipeline strings, owned */
    td_image *img;
    size_t n_img, n_samples;
    train_skip *skip;
    size_t n_skip;
    train_bucket *buckets;
    size_t n_buckets;
    size_t *bucket_off; /* where each bucket's samples start in base/order */
    uint32_t *base;     /* every bucket's samples in make_buckets order */
    uint32_t *order;    /* the same, shuffled for order_epoch */
    td_batch_ref *batches;
    size_t n_batches;
    int order_epoch;    /* 0: none planned yet */
    double mean_ar_error;
    /* latent cache: per (image, flip), NULL until first used */
    float **latent;
    size_t latent_floats, latent_entries;
    float *scratch;     /* pixels of one image for the encoder */
};

void train_data_opts_default(train_data_opts *o)
{
    *o = (train_data_opts){
        .min_bucket_reso = 256,
        .max_bucket_reso = 1024,
        .bucket_reso_steps = 64,
        .no_bucket_resize = true,
        .batch_size = 1,
        .latent_channels = 4,
        .latent_factor = 8,
    };
    pipeline_opts_default(&o->pipeline);
}

/* A seed for one purpose of one sample: splitmix64's finaliser chained over the coordinates, so
 * that neighbouring coordinates give unrelated streams. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void stream_seed(rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t purpose)
{
    uint64_t h = mix64(seed);
    h = mix64(h ^ a);
    h = mix64(h ^ b);
    h = mix64(h ^ c);
    rng_seed(r, mix64(h ^ purpose));
}

/* Python's random.shuffle: i from n-1 down to 1, j = randbelow(i + 1). */
static void shuffle_u32(uint32_t *v, size_t n, rng *r)
{
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)rng_below(r, (uint64_t)i + 1);
        uint32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* ---- opening ---- */

static int opts_check(const train_data_opts *o, tg_error *err)
{
    if (o->width <= 0 || o->height <= 0)
        return error_set(err, "resolution: must be positive, got %dx%d", o->width, o->height);
    if (o->batch_size < 1)
        return error_set(err, "train_batch_size: must be at least 1, got %d", o->batch_size);
    if (o->repeats_outside < 0)
        return error_set(err, "repeats outside N_name folders must be >= 0, got %d",
                         o->repeats_outside);
    if (o->tokenize && o->max_length < 2)
        return error_set(err, "max token length must be at least 2, got %d", o->max_length);
    if (o->encode && (o->color_aug || o->random_crop))
        return error_set(err, "cache_latents: latents cannot be cached with %s (kohya refuses "
                         "it too: the cached latent would freeze the augmentation)",
                         o->color_aug ? "color_aug" : "random_crop");
    if (o->encode && (o->latent_channels < 1 || o->latent_factor < 1))
        return error_set(err, "latent shape must be positive, got %d channels, factor %d",
                         o->latent_channels, o->latent_factor);
    return pipeline_opts_validate(&o->pipeline, err);
}

static int opts_copy(train_data *td, const train_data_opts *o)
{
    td->o = *o;
    const char **f[6] = {&td->o.pipeline.keep_tokens_separator, &td->o.pipeline.caption_separator,
                         &td->o.pipeline.secondary_separator, &td->o.pipeline.caption_prefix,
                         &td->o.pipeline.caption_suffix, NULL};
    for (int k = 0; f[k]; k++) {
        if (!*f[k])
            continue;
        if (!(td->strs[k] = strdup(*f[k])))
            return -1;
        *f[k] = td->strs[k];
    }
    return 0;
}

/* Records why item is left out; 1 (skipped), or -1 when out of memory. */
static int skip_add(train_data *td, uint32_t item, const char *reason, tg_error *err)
{
    train_skip *s = realloc(td->skip, sizeof *s * (td->n_skip + 1));
    if (s)
        td->skip = s;
    if (!s || !(s[td->n_skip].reason = strdup(reason)))
        return error_set(err, "out of memory");
    s[td->n_skip++].item = item;
    return 1;
}

/* The bucket when bucketing is off: the resolution; resized to cover it (kohya's BucketManager
 * with the one predefined reso), or left as it is in kohya's strict image path. */
static int fit_fixed(const train_data *td, const train_snap_item *it, bucket_fit *fit, tg_error *err)
{
    const train_data_opts *o = &td->o;
    bucket_reso one = {o->width, o->height};
    if (o->no_bucket_resize) {
        bucket_list bl = {.resos = &one, .n = 1, .opts = {.width = o->width, .height = o->height}};
        *fit = bucket_select(&bl, it->w, it->h);
        return 0;
    }
    *fit = (bucket_fit){.bucket = one, .resized = {it->w, it->h}};
    if (it->w < o->width || it->h < o->height)
        return error_set(err, "%s: image size is small (%dx%d for resolution %dx%d; kohya "
                         "refuses it without enable_bucket)", it->path, it->w, it->h, o->width,
                         o->height);
    if ((it->w > o->width || it->h > o->height) && !o->random_crop)
        return error_set(err, "%s: image too large (%dx%d for resolution %dx%d), but cropping "
                         "and bucketing are disabled: set random_crop or enable_bucket",
                         it->path, it->w, it->h, o->width, o->height);
    fit->crop_x = (it->w - o->width) / 2;
    fit->crop_y = (it->h - o->height) / 2;
    return 0;
}

/* Size, repeats and bucket of one snapshot item; 1 when it is skipped, -1 on error. */
static int image_add(train_data *td, const bucket_list *bl, uint32_t i, tg_error *err)
{
    train_snap_item *it = &td->snap->items[i];
    const train_snap_folder *f = &td->snap->folders[it->folder];
    int repeats = f->repeats > 0 ? f->repeats : td->o.repeats_outside;
    if (repeats <= 0)
        return skip_add(td, i, "not in an N_name folder directly under the root (kohya uses only "
                        "those)", err);
    if (it->locked)
        return skip_add(td, i, "caption file unreadable", err);
    if (it->w <= 0 || it->h <= 0) {
        image_info info;
        tg_error perr = {{0}};
        if (image_probe(it->path, &info, &perr) < 0)
            return skip_add(td, i, perr.msg, err);
        if (!info.decodable)
            return skip_add(td, i, "format not decodable by stb_image", err);
        it->w = info.w;
        it->h = info.h;
    }
    td_image *m = &td->img[td->n_img];
    *m = (td_image){.item = i, .repeats = repeats};
    if (td->o.enable_bucket) {
        m->fit = bucket_select(bl, it->w, it->h);
        if (m->fit.bucket.w <= 0 || m->fit.bucket.h <= 0)
            return skip_add(td, i, "smaller than bucket_reso_steps: no bucket fits it", err);
    } else if (fit_fixed(td, it, &m->fit, err) < 0) {
        return -1;
    }
    if (it->text)
        m->caption = pipeline_read_caption(it->text, strlen(it->text), td->o.pipeline.enable_wildcard);
    else
        m->caption = strdup(f->class_tokens ? f->class_tokens : "");
    if (!m->caption)
        return error_set(err, "out of memory reading captions");
    td->n_img++;
    td->n_samples += (size_t)repeats;
    return 0;
}

static int reso_cmp(const void *pa, const void *pb)
{
    const train_bucket *a = pa, *b = pb;
    if (a->w != b->w)
        return a->w < b->w ? -1 : 1;
    return (a->h > b->h) - (a->h < b->h);
}

/* Non-empty buckets sorted by (w, h) as kohya's bucket_manager.sort(); samples in image order,
 * each image `repeats` times in a row, as make_buckets adds them. */
static int buckets_make(train_data *td, tg_error *err)
{
    td->buckets = calloc(td->n_img, sizeof *td->buckets);
    td->bucket_off = calloc(td->n_img + 1, sizeof *td->bucket_off);
    td->base = malloc(td->n_samples * sizeof *td->base);
    td->order = malloc(td->n_samples * sizeof *td->order);
    if (!td->buckets || !td->bucket_off || !td->base || !td->order)
        return error_set(err, "out of memory making buckets for %zu samples", td->n_samples);
    double ar_sum = 0;
    for (size_t j = 0; j < td->n_img; j++) {
        train_bucket key = {.w = td->img[j].fit.bucket.w, .h = td->img[j].fit.bucket.h};
        ar_sum += td->img[j].fit.ar_error < 0 ? -td->img[j].fit.ar_error : td->img[j].fit.ar_error;
        size_t b = 0;
        while (b < td->n_buckets && reso_cmp(&td->buckets[b], &key) != 0)
            b++;
        if (b == td->n_buckets)
            td->buckets[td->n_buckets++] = key;
    }
    td->mean_ar_error = td->o.enable_bucket ? ar_sum / (double)td->n_img : 0.0;
    qsort(td->buckets, td->n_buckets, sizeof *td->buckets, reso_cmp);
    for (size_t j = 0; j < td->n_img; j++) {
        train_bucket key = {.w = td->img[j].fit.bucket.w, .h = td->img[j].fit.bucket.h};
        train_bucket *b = bsearch(&key, td->buckets, td->n_buckets, sizeof key, reso_cmp);
        td->img[j].bucket = (size_t)(b - td->buckets);
        b->n_images++;
        b->n_samples += (size_t)td->img[j].repeats;
    }
    size_t bs = (size_t)td->o.batch_size;
    for (size_t b = 0; b < td->n_buckets; b++) {
        td->bucket_off[b + 1] = td->bucket_off[b] + td->buckets[b].n_samples;
        td->buckets[b].n_batches = (td->buckets[b].n_samples + bs - 1) / bs;
        td->n_batches += td->buckets[b].n_batches;
        if (td->o.encode && (td->buckets[b].w % td->o.latent_factor || td->buckets[b].h % td->o.latent_factor))
            return error_set(err, "bucket %dx%d is not a multiple of the latent factor %d",
                             td->buckets[b].w, td->buckets[b].h, td->o.latent_factor);
    }
    size_t *fill = calloc(td->n_buckets ? td->n_buckets : 1, sizeof *fill);
    td->batches = malloc((td->n_batches ? td->n_batches : 1) * sizeof *td->batches);
    if (!fill || !td->batches) {
        free(fill);
        return error_set(err, "out of memory making %zu batches", td->n_batches);
    }
    for (size_t j = 0; j < td->n_img; j++)
        for (int r = 0; r < td->img[j].repeats; r++) {
            size_t b = td->img[j].bucket;
            td->base[td->bucket_off[b] + fill[b]++] = (uint32_t)j;
        }
    free(fill);
    return 0;
}

train_data *train_data_open(train_snapshot *snap, const train_data_opts *o, tg_error *err)
{
    train_data *td = calloc(1, sizeof *td);
    if (!td) {
        train_snapshot_free(snap);
        error_set(err, "out of memory");
        return NULL;
    }
    td->snap = snap;
    if (opts_check(o, err) < 0)
        goto fail;
    if (opts_copy(td, o) < 0 || !(td->img = calloc(snap->n_items ? snap->n_items : 1, sizeof *td->img))) {
        error_set(err, "out of memory");
        goto fail;
    }
    bucket_list bl = {0};
    if (o->enable_bucket) {
        bucket_opts bo = {o->width, o->height, o->min_bucket_reso, o->max_bucket_reso,
                          o->bucket_reso_steps, o->bucket_no_upscale};
        if (bucket_list_make(&bl, &bo, err) < 0)
            goto fail;
    }
    int rc = 0;
    for (size_t i = 0; i < snap->n_items && rc >= 0; i++)
        rc = image_add(td, &bl, (uint32_t)i, err);
    bucket_list_free(&bl);
    if (rc < 0)
        goto fail;
    if (td->n_img == 0) {
        error_set(err, "%s: no image to train on (%zu found, %zu left out%s)", snap->root,
                  snap->n_items, td->n_skip,
                  td->n_skip ? "; kohya uses only images in N_name folders, e.g. 10_name/" : "");
        goto fail;
    }
    if (buckets_make(td, err) < 0)
        goto fail;
    if (o->encode) {
        td->latent = calloc(2 * td->n_img, sizeof *td->latent);
        if (!td->latent) {
            error_set(err, "out of memory");
            goto fail;
        }
    }
    return td;
fail:
    train_data_free(td);
    return NULL;
}

void train_data_free(train_data *td)
{
    if (!td)
        return;
    for (size_t j = 0; j < td->n_img; j++)
        free(td->img[j].caption);
    for (size_t k = 0; k < td->n_skip; k++)
        free(td->skip[k].reason);
    for (size_t k = 0; td->latent && k < 2 * td->n_img; k++)
        free(td->latent[k]);
    for (int k = 0; k < 6; k++)
        free(td->strs[k]);
    free(td->latent);
    free(td->scratch);
    free(td->img);
    free(td->skip);
    free(td->buckets);
    free(td->bucket_off);
    free(td->base);
    free(td->order);
    free(td->batches);
    train_snapshot_free(td->snap);
    free(td);
}

/* ---- questions ---- */

const train_snapshot *train_data_snapshot(const train_data *td) { return td->snap; }
size_t train_data_n_images(const train_data *td) { return td->n_img; }
size_t train_data_n_samples(const train_data *td) { return td->n_samples; }
size_t train_data_n_skipped(const train_data *td) { return td->n_skip; }
const train_skip *train_data_skipped(const train_data *td, size_t k)
{
    return k < td->n_skip ? &td->skip[k] : NULL;
}
uint32_t train_data_image_item(const train_data *td, size_t j) { return td->img[j].item; }
int train_data_image_repeats(const train_data *td, size_t j) { return td->img[j].repeats; }
const char *train_data_image_caption(const train_data *td, size_t j) { return td->img[j].caption; }
bucket_fit train_data_image_fit(const train_data *td, size_t j) { return td->img[j].fit; }
size_t train_data_image_bucket(const train_data *td, size_t j) { return td->img[j].bucket; }
size_t train_data_n_buckets(const train_data *td) { return td->n_buckets; }
const train_bucket *train_data_bucket(const train_data *td, size_t b)
{
    return b < td->n_buckets ? &td->buckets[b] : NULL;
}
double train_data_mean_ar_error(const train_data *td) { return td->mean_ar_error; }
size_t train_data_batches_per_epoch(const train_data *td) { return td->n_batches; }

long train_data_steps_per_epoch(const train_data *td, int grad_accum)
{
    long g = grad_accum < 1 ? 1 : grad_accum;
    return ((long)td->n_batches + g - 1) / g;
}

/* ---- the order of an epoch ---- */

static void order_plan(train_data *td, int epoch)
{
    if (td->order_epoch == epoch)
        return;
    rng r;
    stream_seed(&r, td->o.seed, (uint64_t)epoch, 0, 0, STREAM_ORDER);
    size_t n = 0;
    for (size_t b = 0; b < td->n_buckets; b++)
        for (size_t k = 0; k < td->buckets[b].n_batches; k++)
            td->batches[n++] = (td_batch_ref){(uint32_t)b, (uint32_t)k};
    /* as shuffle_buckets: the batch list, then each bucket */
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)rng_below(&r, (uint64_t)i + 1);
        td_batch_ref t = td->batches[i];
        td->batches[i] = td->batches[j];
        td->batches[j] = t;
    }
    memcpy(td->order, td->base, td->n_samples * sizeof *td->order);
    for (size_t b = 0; b < td->n_buckets; b++)
        shuffle_u32(td->order + td->bucket_off[b], td->buckets[b].n_samples, &r);
    td->order_epoch = epoch;
}

size_t train_data_batch_images(train_data *td, int epoch, size_t index, uint32_t *images,
                               size_t *bucket)
{
    if (epoch < 1 || index >= td->n_batches)
        return 0;
    order_plan(td, epoch);
    td_batch_ref ref = td->batches[index];
    size_t bs = (size_t)td->o.batch_size, start = (size_t)ref.k * bs;
    size_t n = td->buckets[ref.bucket].n_samples - start;
    n = n < bs ? n : bs;
    memcpy(images, td->order + td->bucket_off[ref.bucket] + start, n * sizeof *images);
    if (bucket)
        *bucket = ref.bucket;
    return n;
}

/* ---- loading a batch ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    void *q = realloc(*p, need * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = need;
    return 0;
}

/* Room for n samples: the per-sample arrays, ids [n,T], and pixels or latents (the other one
 * freed, so that a batch shows which of the two it carries). */
static int batch_reserve(train_batch *b, size_t n, size_t ids, size_t floats, size_t latent)
{
    if (n > b->cap_n) {
        char **c = realloc(b->captions, n * sizeof *c);
        if (!c)
            return -1;
        memset(c + b->cap_n, 0, (n - b->cap_n) * sizeof *c);
        b->captions = c;
        void *q[5] = {realloc(b->images, n * sizeof *b->images),
                      realloc(b->flipped, n * sizeof *b->flipped),
                      realloc(b->crop_x, n * sizeof *b->crop_x),
                      realloc(b->crop_y, n * sizeof *b->crop_y),
                      realloc(b->n_ids, n * sizeof *b->n_ids)};
        b->images = q[0] ? q[0] : b->images;
        b->flipped = q[1] ? q[1] : b->flipped;
        b->crop_x = q[2] ? q[2] : b->crop_x;
        b->crop_y = q[3] ? q[3] : b->crop_y;
        b->n_ids = q[4] ? q[4] : b->n_ids;
        if (!q[0] || !q[1] || !q[2] || !q[3] || !q[4])
            return -1;
        b->cap_n = n;
    }
    if (ids) {
        int32_t *p = realloc(b->ids, n * ids * sizeof *p);
        if (!p)
            return -1;
        b->ids = p;
    } else {
        free(b->ids);
        b->ids = NULL;
    }
    if (!floats) {
        free(b->pixels);
        b->pixels = NULL;
        b->cap_floats = 0;
    }
    if (!latent) {
        free(b->latents);
        b->latents = NULL;
        b->cap_latent = 0;
    }
    if (floats && grow((void **)&b->pixels, &b->cap_floats, floats, sizeof *b->pixels) < 0)
        return -1;
    if (latent && grow((void **)&b->latents, &b->cap_latent, latent, sizeof *b->latents) < 0)
        return -1;
    return 0;
}

/* The cached latent of image j (flipped or not), encoding it on first use. */
static const float *latent_get(train_data *td, uint32_t j, bool flip, const train_aug *aug,
                               tg_error *err)
{
    float **slot = &td->latent[2 * (size_t)j + flip];
    if (*slot)
        return *slot;
    const td_image *m = &td->img[j];
    const train_snap_item *it = &td->snap->items[m->item];
    int h = m->fit.bucket.h, w = m->fit.bucket.w, f = td->o.latent_factor;
    size_t px = (size_t)3 * h * w, lat = (size_t)td->o.latent_channels * (h / f) * (w / f);
    float *scratch = realloc(td->scratch, px * sizeof *scratch);
    float *out = malloc(lat * sizeof *out);
    if (scratch)
        td->scratch = scratch;
    if (!scratch || !out) {
        free(out);
        error_set(err, "out of memory caching the latent of %s", it->path);
        return NULL;
    }
    rng r;
    stream_seed(&r, td->o.seed, m->item, flip, 0, STREAM_LATENT);
    if (train_image_prepare(it->path, &m->fit, aug, scratch, err) < 0 ||
        td->o.encode(td->o.encode_ctx, scratch, h, w, rng_next(&r), out, err) < 0) {
        free(out);
        return NULL;
    }
    td->latent_entries++;
    td->latent_floats += lat;
    return *slot = out;
}

static int sample_load(train_data *td, int epoch, size_t index, int s, long global_step,
                       train_batch *b, tg_error *err)
{
    uint32_t j = b->images[s];
    const td_image *m = &td->img[j];
    const train_snap_item *it = &td->snap->items[m->item];
    rng rf, rc, rcol, rcap;
    stream_seed(&rf, td->o.seed, (uint64_t)epoch, index, (uint64_t)s, STREAM_FLIP);
    stream_seed(&rc, td->o.seed, (uint64_t)epoch, index, (uint64_t)s, STREAM_CROP);
    stream_seed(&rcol, td->o.seed, (uint64_t)epoch, index, (uint64_t)s, STREAM_COLOR);
    stream_seed(&rcap, td->o.seed, (uint64_t)epoch, index, (uint64_t)s, STREAM_CAPTION);
    train_aug aug;
    train_aug_draw(&aug, &td->o, m->fit.resized.w, m->fit.resized.h, m->fit.bucket.w,
                   m->fit.bucket.h, &rf, &rc, &rcol);
    b->flipped[s] = aug.flip;
    b->crop_x[s] = aug.crop_x;
    b->crop_y[s] = aug.crop_y;
    if (td->o.encode) {
        size_t lat = (size_t)b->latent_c * b->latent_h * b->latent_w;
        const float *l = latent_get(td, j, aug.flip, &aug, err);
        if (!l)
            return -1;
        memcpy(b->latents + (size_t)s * lat, l, lat * sizeof *l);
    } else if (train_image_prepare(it->path, &m->fit, &aug,
                                   b->pixels + (size_t)s * 3 * b->h * b->w, err) < 0) {
        return -1;
    }
    pipeline_when when = {.epoch = epoch, .step = global_step, .max_train_steps = td->o.max_train_steps};
    free(b->captions[s]);
    if (!(b->captions[s] = pipeline_process(m->caption, &td->o.pipeline, &when, &rcap, NULL)))
        return error_set(err, "out of memory processing the caption of %s", it->path);
    if (td->o.tokenize) {
        int n = td->o.tokenize(td->o.tokenize_ctx, b->captions[s], b->ids + (size_t)s * b->max_length,
                               b->max_length);
        if (n < 0)
            return error_set(err, "%s: the caption could not be tokenized: \"%s\"", it->path,
                             b->captions[s]);
        b->n_ids[s] = n;
    }
    return 0;
}

int train_data_batch_load(train_data *td, int epoch, size_t index, long global_step,
                          train_batch *b, tg_error *err)
{
    if (epoch < 1 || index >= td->n_batches)
        return error_set(err, "no batch %zu in epoch %d (epochs count from 1, %zu batches each)",
                         index, epoch, td->n_batches);
    size_t bs = (size_t)td->o.batch_size, bucket = 0;
    if (bs > b->cap_n && batch_reserve(b, bs, 0, 0, 0) < 0)
        return error_set(err, "out of memory for a batch of %zu", bs);
    size_t n = train_data_batch_images(td, epoch, index, b->images, &bucket);
    const train_bucket *bk = &td->buckets[bucket];
    b->epoch = epoch;
    b->index = index;
    b->n = (int)n;
    b->w = bk->w;
    b->h = bk->h;
    b->max_length = td->o.tokenize ? td->o.max_length : 0;
    size_t floats = 0, latent = 0;
    if (td->o.encode) {
        b->latent_c = td->o.latent_channels;
        b->latent_h = bk->h / td->o.latent_factor;
        b->latent_w = bk->w / td->o.latent_factor;
        latent = n * (size_t)b->latent_c * b->latent_h * b->latent_w;
    } else {
        b->latent_c = b->latent_h = b->latent_w = 0;
        floats = n * 3 * (size_t)bk->h * bk->w;
    }
    if (batch_reserve(b, bs, (size_t)b->max_length, floats, latent) < 0)
        return error_set(err, "out of memory for a batch of %zu at %dx%d", n, bk->w, bk->h);
    for (int s = 0; s < (int)n; s++)
        if (sample_load(td, epoch, index, s, global_step, b, err) < 0)
            return -1;
    return 0;
}

void train_data_cache_stats(const train_data *td, size_t *entries, size_t *bytes)
{
    if (entries)
        *entries = td->latent_entries;
    if (bytes)
        *bytes = td->latent_floats * sizeof(float);
}
