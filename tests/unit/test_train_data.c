/* A run's data: repeats and epoch length as kohya counts them, buckets, batches within a bucket,
 * per-epoch shuffles, augmentation draws and their determinism, the caption pipeline per sample,
 * the snapshot's isolation from later edits, tokenization, the latent cache, pixel (un)shuffle.
 * The images are PNGs of several aspect ratios written with stb_image_write at test time. */
#include "trainer/train_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stb_image_write.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"
#include "trainer/tag_tokenizer.h"

/* A w x h PNG whose pixels encode their position (so crops and flips are visible). */
static void png_write(const char *root, const char *rel, int w, int h, int seed)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px + 3 * ((size_t)y * w + x);
            p[0] = (uint8_t)(x * 255 / (w - 1));
            p[1] = (uint8_t)(y * 255 / (h - 1));
            p[2] = (uint8_t)((x * 7 + y * 13 + seed * 50) & 255);
        }
    char *path = fixture_path(root, rel);
    char *slash = strrchr(rel, '/');
    if (slash) {
        char *dir = strndup(rel, (size_t)(slash - rel));
        fixture_mkdir(root, dir);
        free(dir);
    }
    CHECK(stbi_write_png(path, w, h, 3, px, w * 3) != 0);
    free(path);
    free(px);
}

/* 3_cats: a 64x64, b 96x64 (wide), c 64x192 (tall, no caption); 2_dogs: d 64x64, e 192x64;
 * f.png at the root (kohya leaves it out). */
static char *dataset_make(void)
{
    char *root = fixture_make();
    png_write(root, "3_cats/a.png", 64, 64, 0);
    fixture_write(root, "3_cats/a.txt", "cat, red, big, round, soft, furry\n");
    png_write(root, "3_cats/b.png", 96, 64, 1);
    fixture_write(root, "3_cats/b.txt", "cat, blue");
    png_write(root, "3_cats/c.png", 64, 192, 2);
    png_write(root, "2_dogs/d.png", 64, 64, 3);
    fixture_write(root, "2_dogs/d.txt", "dog, green");
    png_write(root, "2_dogs/e.png", 192, 64, 4);
    fixture_write(root, "2_dogs/e.txt", "dog, wide");
    png_write(root, "f.png", 64, 64, 5);
    fixture_write(root, "f.txt", "outside");
    return root;
}

static void opts_bucketed(train_data_opts *o)
{
    train_data_opts_default(o);
    o->width = o->height = 64;
    o->enable_bucket = true;
    o->min_bucket_reso = 32;
    o->max_bucket_reso = 128;
    o->bucket_reso_steps = 32;
    o->batch_size = 2;
    o->seed = 42;
}

static train_data *open_with(const dataset *ds, const train_data_opts *o)
{
    tg_error err = {{0}};
    train_snapshot *s = train_snapshot_take(ds, &err);
    train_data *td = s ? train_data_open(s, o, &err) : NULL;
    if (!td)
        fprintf(stderr, "    train_data_open: %s\n", err.msg);
    return td;
}

/* Index of the used image whose snapshot path ends in name, or -1. */
static long image_named(const train_data *td, const char *name)
{
    const train_snapshot *s = train_data_snapshot(td);
    for (size_t j = 0; j < train_data_n_images(td); j++) {
        const char *rel = s->items[train_data_image_item(td, j)].rel;
        size_t n = strlen(rel), m = strlen(name);
        if (n >= m && strcmp(rel + n - m, name) == 0)
            return (long)j;
    }
    return -1;
}

static void test_repeats_and_epoch_length(void)
{
    char *root = dataset_make();
    dataset *ds = fixture_open(root, NULL);
    train_data_opts o;
    opts_bucketed(&o);
    train_data *td = ds ? open_with(ds, &o) : NULL;
    CHECK(td != NULL);
    if (td) {
        CHECK_INT(train_data_n_images(td), 5);
        CHECK_INT(train_data_n_skipped(td), 1);
        CHECK(strstr(train_data_skipped(td, 0)->reason, "N_name") != NULL);
        CHECK_INT(train_data_n_samples(td), 3 * 3 + 2 * 2);
        /* buckets (32,96): c x3; (64,64): a x3, b x3, d x2; (96,32): e x2 */
        CHECK_INT(train_data_n_buckets(td), 3);
        size_t want_samples[3] = {3, 8, 2}, want_batches[3] = {2, 4, 1};
        int want_w[3] = {32, 64, 96}, want_h[3] = {96, 64, 32};
        for (size_t b = 0; b < 3 && b < train_data_n_buckets(td); b++) {
            const train_bucket *bk = train_data_bucket(td, b);
            CHECK_INT(bk->w, want_w[b]);
            CHECK_INT(bk->h, want_h[b]);
            CHECK_INT(bk->n_samples, want_samples[b]);
            CHECK_INT(bk->n_batches, want_batches[b]);
        }
        /* kohya: len(dataloader) = sum of ceil(samples / batch); steps = ceil(len / accum) */
        CHECK_INT(train_data_batches_per_epoch(td), 2 + 4 + 1);
        CHECK_INT(train_data_steps_per_epoch(td, 1), 7);
        CHECK_INT(train_data_steps_per_epoch(td, 2), 4);
        CHECK_INT(train_data_steps_per_epoch(td, 3), 3);
        for (int epoch = 1; epoch <= 3; epoch++) {
            int seen[5] = {0}, singles = 0;
            for (size_t k = 0; k < train_data_batches_per_epoch(td); k++) {
                uint32_t im[2];
                size_t bucket = 99, n = train_data_batch_images(td, epoch, k, im, &bucket);
                CHECK(n == 1 || n == 2);
                singles += n == 1;
                for (size_t s = 0; s < n; s++) {
                    seen[im[s]]++;
                    CHECK_INT(train_data_image_bucket(td, im[s]), bucket); /* never mixed */
                }
            }
            CHECK_INT(singles, 1); /* only the 3-sample bucket has a short batch */
            for (size_t j = 0; j < 5; j++)
                CHECK_INT(seen[j], train_data_image_repeats(td, j));
        }
        uint32_t im[2];
        CHECK_INT(train_data_batch_images(td, 0, 0, im, NULL), 0);
        CHECK_INT(train_data_batch_images(td, 1, 7, im, NULL), 0);
    }
    train_data_free(td);
    /* images outside N_name folders, when asked for */
    o.repeats_outside = 4;
    td = ds ? open_with(ds, &o) : NULL;
    CHECK(td != NULL);
    if (td) {
        CHECK_INT(train_data_n_images(td), 6);
        CHECK_INT(train_data_n_samples(td), 13 + 4);
        CHECK_INT(train_data_batches_per_epoch(td), 2 + 6 + 1);
    }
    train_data_free(td);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_bucket_assignment(void)
{
    char *root = dataset_make();
    dataset *ds = fixture_open(root, NULL);
    train_data_opts o;
    opts_bucketed(&o);
    train_data *td = ds ? open_with(ds, &o) : NULL;
    CHECK(td != NULL);
    if (td) {
        long b = image_named(td, "b.png"), c = image_named(td, "c.png"), e = image_named(td, "e.png");
        CHECK(b >= 0 && c >= 0 && e >= 0);
        bucket_fit f = train_data_image_fit(td, (size_t)b);
        CHECK_INT(f.bucket.w, 64);
        CHECK_INT(f.bucket.h, 64);
        CHECK_INT(f.resized.w, 96); /* covers: height matched */
        CHECK_INT(f.resized.h, 64);
        CHECK_INT(f.crop_x, 16);
        f = train_data_image_fit(td, (size_t)c);
        CHECK_INT(f.bucket.w, 32);
        CHECK_INT(f.bucket.h, 96);
        CHECK_INT(f.resized.w, 32);
        f = train_data_image_fit(td, (size_t)e);
        CHECK_INT(f.bucket.w, 96);
        CHECK_INT(f.bucket.h, 32);
        CHECK_NEAR(train_data_mean_ar_error(td), 0.5 / 5, 1e-12); /* only b misses: 1 - 1.5 */
        train_batch bt = {0};
        tg_error err = {{0}};
        for (size_t k = 0; k < train_data_batches_per_epoch(td); k++) {
            CHECK(train_data_batch_load(td, 1, k, 0, &bt, &err) == 0);
            const train_bucket *bk = train_data_bucket(td, train_data_image_bucket(td, bt.images[0]));
            CHECK_INT(bt.w, bk->w);
            CHECK_INT(bt.h, bk->h);
            for (size_t q = 0; q < (size_t)bt.n * 3 * bt.w * bt.h; q++)
                if (!(bt.pixels[q] >= -1.f && bt.pixels[q] <= 1.f)) {
                    CHECK(!"pixel out of [-1, 1]");
                    break;
                }
        }
        /* the wide image, centre-cropped: its left column is source x = 16 (of 0..95) */
        uint32_t im[2];
        for (size_t k = 0; k < train_data_batches_per_epoch(td); k++) {
            size_t n = train_data_batch_images(td, 1, k, im, NULL);
            for (size_t s = 0; s < n; s++)
                if (im[s] == (uint32_t)b && train_data_batch_load(td, 1, k, 0, &bt, &err) == 0)
                    CHECK_NEAR(bt.pixels[s * 3 * 64 * 64], ((float)(16 * 255 / 95) / 255.f - .5f) / .5f, 1e-6);
        }
        train_batch_free(&bt);
    }
    train_data_free(td);

    /* bucketing off: one 32x32 bucket, each image resized to cover it, then centre-cropped */
    o.enable_bucket = false;
    o.width = o.height = 32;
    td = ds ? open_with(ds, &o) : NULL;
    CHECK(td != NULL);
    if (td) {
        CHECK_INT(train_data_n_buckets(td), 1);
        CHECK_INT(train_data_batches_per_epoch(td), 7); /* ceil(13 / 2) */
        bucket_fit f = train_data_image_fit(td, (size_t)image_named(td, "b.png"));
        CHECK_INT(f.resized.w, 48);
        CHECK_INT(f.resized.h, 32);
        CHECK_INT(f.crop_x, 8);
    }
    train_data_free(td);
    /* kohya's strict path: no resize; a larger image needs random_crop */
    o.no_bucket_resize = false;
    o.width = o.height = 64;
    tg_error err = {{0}};
    train_snapshot *s = train_snapshot_take(ds, &err);
    td = train_data_open(s, &o, &err);
    CHECK(td == NULL);
    CHECK(strstr(err.msg, "random_crop") != NULL);
    o.random_crop = true;
    td = open_with(ds, &o);
    CHECK(td != NULL);
    if (td) {
        train_batch bt = {0};
        for (size_t k = 0; k < train_data_batches_per_epoch(td); k++) {
            CHECK(train_data_batch_load(td, 1, k, 0, &bt, &err) == 0);
            CHECK_INT(bt.w, 64);
            for (int q = 0; q < bt.n; q++) {
                bucket_fit f = train_data_image_fit(td, bt.images[q]);
                CHECK(bt.crop_x[q] >= 0 && bt.crop_x[q] <= f.resized.w - 64);
                CHECK(bt.crop_y[q] >= 0 && bt.crop_y[q] <= f.resized.h - 64);
            }
        }
        train_batch_free(&bt);
    }
    train_data_free(td);
    dataset_close(ds);
    fixture_remove(root);
}

/* Everything a batch holds, for comparing two runs. */
static bool batch_same(const train_batch *a, const train_batch *b)
{
    if (a->n != b->n || a->w != b->w || a->h != b->h)
        return false;
    for (int s = 0; s < a->n; s++)
        if (a->images[s] != b->images[s] || a->flipped[s] != b->flipped[s] ||
            a->crop_x[s] != b->crop_x[s] || a->crop_y[s] != b->crop_y[s] ||
            strcmp(a->captions[s], b->captions[s]) != 0)
            return false;
    return memcmp(a->pixels, b->pixels, (size_t)a->n * 3 * a->w * a->h * sizeof(float)) == 0;
}

static void test_determinism(void)
{
    char *root = dataset_make();
    dataset *ds = fixture_open(root, NULL);
    train_data_opts o;
    opts_bucketed(&o);
    o.flip_aug = o.color_aug = o.random_crop = true;
    o.pipeline.shuffle_caption = true;
    o.pipeline.caption_tag_dropout_rate = 0.2;
    train_data *t1 = ds ? open_with(ds, &o) : NULL, *t2 = ds ? open_with(ds, &o) : NULL;
    o.seed = 43;
    train_data *t3 = ds ? open_with(ds, &o) : NULL;
    CHECK(t1 && t2 && t3);
    if (t1 && t2 && t3) {
        train_batch a = {0}, b = {0};
        tg_error err = {{0}};
        int differ_seed = 0, differ_epoch = 0;
        size_t nb = train_data_batches_per_epoch(t1);
        /* t2 goes through the epochs backwards: each epoch's plan depends on nothing else */
        for (int e = 3; e >= 1; e--)
            for (size_t k = 0; k < nb; k++) {
                CHECK(train_data_batch_load(t2, e, k, 0, &b, &err) == 0);
                CHECK(train_data_batch_load(t1, e, k, 0, &a, &err) == 0);
                CHECK(batch_same(&a, &b));
                CHECK(train_data_batch_load(t3, e, k, 0, &b, &err) == 0);
                differ_seed += !batch_same(&a, &b);
                CHECK(train_data_batch_load(t1, e == 3 ? 1 : e + 1, k, 0, &b, &err) == 0);
                differ_epoch += !batch_same(&a, &b);
            }
        CHECK(differ_seed > 0);
        CHECK(differ_epoch > 0);
        train_batch_free(&a);
        train_batch_free(&b);
    }
    train_data_free(t1);
    train_data_free(t2);
    train_data_free(t3);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_augmentation_draws(void)
{
    train_data_opts o;
    train_data_opts_default(&o);
    o.flip_aug = o.color_aug = o.random_crop = true;
    int flips = 0, hue = 0, gamma = 0, xs[5] = {0}, ys[3] = {0};
    enum { N = 20000 };
    rng rf, rc, rcol;
    rng_seed(&rf, 1);
    rng_seed(&rc, 2);
    rng_seed(&rcol, 3);
    for (int i = 0; i < N; i++) {
        train_aug a;
        train_aug_draw(&a, &o, 68, 34, 64, 32, &rf, &rc, &rcol);
        flips += a.flip;
        hue += a.color == TRAIN_COLOR_HUE;
        gamma += a.color == TRAIN_COLOR_GAMMA;
        CHECK(a.crop_x >= 0 && a.crop_x <= 4 && a.crop_y >= 0 && a.crop_y <= 2);
        xs[a.crop_x]++;
        ys[a.crop_y]++;
        if (a.color == TRAIN_COLOR_HUE)
            CHECK((a.hue_shift >= 0 && a.hue_shift <= 8) || (a.hue_shift >= 172 && a.hue_shift < 180));
        if (a.color == TRAIN_COLOR_GAMMA)
            CHECK(a.gamma >= 0.95 && a.gamma <= 1.05);
    }
    CHECK_NEAR(flips / (double)N, 0.5, 0.02);
    CHECK_NEAR(hue / (double)N, 0.165, 0.015);
    CHECK_NEAR(gamma / (double)N, 0.165, 0.015);
    for (int k = 0; k < 5; k++) /* randint(0, trim): both ends included */
        CHECK_NEAR(xs[k] / (double)N, 0.2, 0.02);
    for (int k = 0; k < 3; k++)
        CHECK_NEAR(ys[k] / (double)N, 1 / 3.0, 0.02);
    /* off: centre crop, no flip, no colour */
    train_data_opts_default(&o);
    train_aug a;
    train_aug_draw(&a, &o, 68, 35, 64, 32, &rf, &rc, &rcol);
    CHECK(!a.flip && a.color == TRAIN_COLOR_NONE);
    CHECK_INT(a.crop_x, 2);
    CHECK_INT(a.crop_y, 1);

    /* the hue shift works on the channels as kohya hands them to OpenCV (RGB read as BGR):
     * our red is OpenCV's blue (H 120); +60 makes it OpenCV's red (H 0), i.e. our blue */
    uint8_t px[12] = {255, 0, 0, 0, 255, 0, 10, 200, 30, 128, 128, 128};
    image img = {4, 1, px};
    train_color_hue(&img, 0.0);
    CHECK_INT(px[0], 255);
    CHECK_INT(px[1], 0);
    CHECK_INT(px[2], 0);
    CHECK_INT(px[4], 255);
    CHECK_INT(px[9], 128); /* grey stays grey */
    train_color_hue(&img, 60.0);
    CHECK_INT(px[0], 0);
    CHECK_INT(px[1], 0);
    CHECK_INT(px[2], 255);
    CHECK_INT(px[9], 128);
    /* kohya's "gamma" is x ** g on 0..255, clipped and truncated */
    uint8_t g[3] = {200, 1, 255};
    image gi = {1, 1, g};
    train_color_gamma(&gi, 0.95);
    CHECK_INT(g[0], (int)pow(200, 0.95));
    CHECK_INT(g[1], 1);
    CHECK_INT(g[2], (int)pow(255, 0.95));
    g[0] = 200;
    train_color_gamma(&gi, 1.05);
    CHECK_INT(g[0], 255);

    /* flip mirrors the float image */
    uint8_t q[6] = {0, 0, 0, 255, 255, 255};
    image qi = {2, 1, q};
    float chw[6];
    train_image_to_chw(&qi, true, chw);
    CHECK_NEAR(chw[0], 1.0, 0);
    CHECK_NEAR(chw[1], -1.0, 0);
}

static void test_caption_pipeline(void)
{
    char *root = dataset_make();
    dataset *ds = fixture_open(root, NULL);
    train_data_opts o;
    opts_bucketed(&o);
    o.pipeline.keep_tokens = 1;
    o.pipeline.shuffle_caption = true;
    o.pipeline.caption_tag_dropout_rate = 0.3;
    o.pipeline.caption_dropout_every_n_epochs = 4;
    train_data *td = ds ? open_with(ds, &o) : NULL;
    CHECK(td != NULL);
    if (td) {
        long a = image_named(td, "a.png"), c = image_named(td, "c.png");
        CHECK_STR(train_data_image_caption(td, (size_t)a), "cat, red, big, round, soft, furry");
        CHECK_STR(train_data_image_caption(td, (size_t)c), "cats"); /* class tokens */
        train_batch bt = {0};
        tg_error err = {{0}};
        int draws = 0, reordered = 0, dropped = 0, empty_in_4 = 0, in_4 = 0;
        char first[256] = "";
        for (int e = 1; e <= 4; e++)
            for (size_t k = 0; k < train_data_batches_per_epoch(td); k++) {
                CHECK(train_data_batch_load(td, e, k, 0, &bt, &err) == 0);
                for (int s = 0; s < bt.n; s++) {
                    const char *cap = bt.captions[s];
                    if (e == 4) {
                        in_4++;
                        empty_in_4 += cap[0] == '\0';
                        continue;
                    }
                    if (bt.images[s] == (uint32_t)c)
                        CHECK_STR(cap, "cats");
                    if (bt.images[s] != (uint32_t)a)
                        continue;
                    draws++;
                    CHECK(strncmp(cap, "cat", 3) == 0); /* keep_tokens: never moved */
                    int commas = 0;
                    for (const char *p = cap; *p; p++)
                        commas += *p == ',';
                    dropped += commas < 5;
                    if (!first[0])
                        snprintf(first, sizeof first, "%s", cap);
                    else
                        reordered += strcmp(first, cap) != 0;
                }
            }
        CHECK_INT(draws, 9);
        CHECK(dropped > 0);
        CHECK(reordered > 0);
        CHECK_INT(empty_in_4, in_4); /* caption_dropout_every_n_epochs = 4 */
        train_batch_free(&bt);
    }
    train_data_free(td);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_snapshot_isolation(void)
{
    char *root = dataset_make();
    dataset *ds = fixture_open(root, NULL);
    if (!ds) {
        fixture_remove(root);
        return;
    }
    /* an unsaved edit before launch is what the run trains on */
    CHECK(ds_edit(ds, "2_dogs/d.png", EDIT_ADD, "unsaved", NULL) == 0);
    tg_error err = {{0}};
    train_snapshot *s = train_snapshot_take(ds, &err);
    CHECK(s != NULL);
    /* edits after launch are not */
    CHECK(ds_edit(ds, "2_dogs/d.png", EDIT_ADD, "later", NULL) == 0);
    CHECK(ds_edit(ds, "3_cats/a.png", EDIT_REMOVE, "cat", NULL) == 0);
    CHECK(ds_edit(ds, "3_cats/c.png", EDIT_ADD, "now captioned", NULL) == 0);
    train_data_opts o;
    opts_bucketed(&o);
    train_data *td = s ? train_data_open(s, &o, &err) : NULL;
    dataset_close(ds); /* the run does not need the dataset any more */
    CHECK(td != NULL);
    if (td) {
        CHECK_STR(train_data_image_caption(td, (size_t)image_named(td, "d.png")), "dog, green, unsaved");
        CHECK_STR(train_data_image_caption(td, (size_t)image_named(td, "a.png")),
                  "cat, red, big, round, soft, furry");
        CHECK_STR(train_data_image_caption(td, (size_t)image_named(td, "c.png")), "cats");
        train_batch bt = {0};
        for (size_t k = 0; k < train_data_batches_per_epoch(td); k++) {
            CHECK(train_data_batch_load(td, 1, k, 0, &bt, &err) == 0);
            for (int q = 0; q < bt.n; q++)
                CHECK(strstr(bt.captions[q], "later") == NULL && strstr(bt.captions[q], "now") == NULL);
        }
        train_batch_free(&bt);
    }
    train_data_free(td);
    fixture_remove(root);
}

/* A fake tokenizer: one id per tag (its length), 1 = BOS, 2 = EOS, 0 pads. */
static int fake_tokenize(void *ctx, const char *caption, int32_t *ids, int max_len)
{
    (*(int *)ctx)++;
    int n = 0;
    ids[n++] = 1;
    for (const char *p = caption; *p && n < max_len - 1;) {
        size_t len = strcspn(p, ",");
        ids[n++] = (int32_t)len + 10;
        p += len;
        while (*p == ',' || *p == ' ')
            p++;
    }
    ids[n++] = 2;
    for (int k = n; k < max_len; k++)
        ids[k] = 0;
    return n;
}

static void test_tokenization(void)
{
    char *root = dataset_make();
    dataset *ds = fixture_open(root, NULL);
    train_data_opts o;
    opts_bucketed(&o);
    int calls = 0;
    o.tokenize = fake_tokenize;
    o.tokenize_ctx = &calls;
    o.max_length = 8;
    train_data *td = ds ? open_with(ds, &o) : NULL;
    CHECK(td != NULL);
    train_batch bt = {0};
    tg_error err = {{0}};
    if (td) {
        CHECK(train_data_batch_load(td, 1, 0, 0, &bt, &err) == 0);
        CHECK_INT(calls, bt.n);
        CHECK_INT(bt.max_length, 8);
        for (int s = 0; s < bt.n; s++) {
            const int32_t *ids = bt.ids + s * 8;
            CHECK_INT(ids[0], 1);
            CHECK_INT(ids[bt.n_ids[s] - 1], 2);
            if (bt.n_ids[s] < 8)
                CHECK_INT(ids[bt.n_ids[s]], 0);
        }
    }
    train_data_free(td);
    /* the tag tokenizer through its ready-made callback */
    const char *tags[] = {"cat", "dog", "red", "big"};
    tag_tokenizer *tt = tag_tokenizer_from_tags(tags, 4, &err);
    CHECK(tt != NULL);
    o.tokenize = train_tokenize_tags;
    o.tokenize_ctx = tt;
    o.max_length = 6;
    o.batch_size = 1;
    td = tt && ds ? open_with(ds, &o) : NULL;
    CHECK(td != NULL);
    if (td) {
        long a = image_named(td, "a.png");
        for (size_t k = 0; k < train_data_batches_per_epoch(td); k++) {
            CHECK(train_data_batch_load(td, 1, k, 0, &bt, &err) == 0);
            if (bt.images[0] != (uint32_t)a)
                continue;
            /* "cat, red, big, round, soft, furry" cut to 4 tags between BOS and EOS */
            int32_t want[6] = {TAG_BOS_ID, TAG_FIRST_ID, TAG_FIRST_ID + 2, TAG_FIRST_ID + 3,
                               tag_token_id(tt, "round", 5), TAG_EOS_ID};
            CHECK(want[4] >= TAG_FIRST_ID + 4); /* "round" is not in the vocabulary: a new tag's id */
            for (int q = 0; q < 6; q++)
                CHECK_INT(bt.ids[q], want[q]);
            CHECK_INT(bt.n_ids[0], 6);
        }
    }
    train_batch_free(&bt);
    train_data_free(td);
    tag_tokenizer_free(tt);
    dataset_close(ds);
    fixture_remove(root);
}

/* A fake VAE: latent[c][y][x] = pixel[c % 3][8y][8x], counting calls. */
typedef struct fake_vae {
    int calls;
} fake_vae;

static int fake_encode(void *ctx, const float *pixels, int h, int w, uint64_t seed, float *latent,
                       tg_error *err)
{
    (void)err;
    (void)seed;
    ((fake_vae *)ctx)->calls++;
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < h / 8; y++)
            for (int x = 0; x < w / 8; x++)
                latent[(c * (h / 8) + y) * (w / 8) + x] =
                    pixels[((size_t)(c % 3) * h + y * 8) * w + x * 8];
    return 0;
}

static void test_latent_cache(void)
{
    char *root = dataset_make();
    dataset *ds = fixture_open(root, NULL);
    train_data_opts o;
    opts_bucketed(&o);
    fake_vae vae = {0};
    o.encode = fake_encode;
    o.encode_ctx = &vae;
    o.flip_aug = true;
    o.color_aug = true;
    tg_error err = {{0}};
    train_snapshot *s = ds ? train_snapshot_take(ds, &err) : NULL;
    CHECK(s && train_data_open(s, &o, &err) == NULL);
    CHECK(strstr(err.msg, "color_aug") != NULL);
    o.color_aug = false;
    train_data *td = ds ? open_with(ds, &o) : NULL;
    CHECK(td != NULL);
    if (td) {
        train_batch bt = {0};
        for (int e = 1; e <= 4; e++)
            for (size_t k = 0; k < train_data_batches_per_epoch(td); k++) {
                CHECK(train_data_batch_load(td, e, k, 0, &bt, &err) == 0);
                CHECK(bt.pixels == NULL && bt.latents != NULL);
                CHECK_INT(bt.latent_c, 4);
                CHECK_INT(bt.latent_h, bt.h / 8);
                /* the cached latent is the encoder's output of this sample's image and flip */
                for (int q = 0; q < bt.n; q++) {
                    bucket_fit f = train_data_image_fit(td, bt.images[q]);
                    train_aug aug = {.flip = bt.flipped[q], .crop_x = f.crop_x, .crop_y = f.crop_y};
                    float *px = malloc(sizeof *px * 3 * f.bucket.w * f.bucket.h);
                    const char *path = train_data_snapshot(td)->items[train_data_image_item(td, bt.images[q])].path;
                    CHECK(train_image_prepare(path, &f, &aug, px, &err) == 0);
                    size_t lat = (size_t)4 * bt.latent_h * bt.latent_w, lw = (size_t)bt.latent_w;
                    size_t W8 = (size_t)f.bucket.w, H8 = (size_t)f.bucket.h;
                    CHECK_NEAR(bt.latents[q * lat], px[0], 0);
                    CHECK_NEAR(bt.latents[q * lat + (1 * bt.latent_h + 1) * lw + 1], px[(1 * H8 + 8) * W8 + 8], 0);
                    free(px);
                }
            }
        size_t entries = 0, bytes = 0;
        train_data_cache_stats(td, &entries, &bytes);
        CHECK_INT(vae.calls, entries); /* each (image, flip) encoded once */
        CHECK(entries > 5 && entries <= 10);
        CHECK(bytes > 0);
        train_batch_free(&bt);
    }
    train_data_free(td);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_space_to_depth(void)
{
    enum { B = 2, C = 3, H = 4, W = 6 };
    float src[B * C * H * W], mid[B * C * H * W], back[B * C * H * W];
    for (int i = 0; i < B * C * H * W; i++)
        src[i] = (float)i;
    CHECK(train_data_space_to_depth(src, B, C, H, W, 2, mid) == 0);
    /* out[b][c*4 + i*2 + j][y][x] = in[b][c][2y+i][2x+j] */
    int b = 1, c = 2, i = 1, j = 0, y = 1, x = 2;
    CHECK_NEAR(mid[((b * 12 + c * 4 + i * 2 + j) * 2 + y) * 3 + x], src[((b * C + c) * H + 2 * y + i) * W + 2 * x + j], 0);
    CHECK(train_data_depth_to_space(mid, B, C, H / 2, W / 2, 2, back) == 0);
    CHECK(memcmp(src, back, sizeof src) == 0);
    CHECK(train_data_space_to_depth(src, B, C, H, 5, 2, mid) == -1);
}

/* The bundled demo: 64x64 images trained at 32x32 without buckets, as the tiny model takes them. */
static void test_demo_dataset(void)
{
    const char *base = getenv("ROOT");
    char *dir = fixture_path(base && *base ? base : ".", "datasets/shapes");
    dataset_opts dopts = {0};
    tg_error err = {{0}};
    dataset *ds = dataset_open(dir, &dopts, &err);
    free(dir);
    if (!ds) {
        printf("  SKIP test_demo_dataset: %s\n", err.msg);
        return;
    }
    train_data_opts o;
    train_data_opts_default(&o);
    o.width = o.height = 32;
    o.batch_size = 8;
    o.flip_aug = true;
    train_data *td = open_with(ds, &o);
    dataset_close(ds);
    CHECK(td != NULL);
    if (td) {
        CHECK_INT(train_data_image_repeats(td, 0), 10);
        CHECK_INT(train_data_n_samples(td), 10 * train_data_n_images(td));
        train_batch bt = {0};
        CHECK(train_data_batch_load(td, 1, 0, 0, &bt, &err) == 0);
        CHECK_INT(bt.n, 8);
        CHECK_INT(bt.w, 32);
        float *s2d = malloc(sizeof *s2d * 8 * 3 * 32 * 32);
        CHECK(train_data_space_to_depth(bt.pixels, 8, 3, 32, 32, 2, s2d) == 0);
        free(s2d);
        train_batch_free(&bt);
    }
    train_data_free(td);
}

int main(void)
{
    RUN(test_repeats_and_epoch_length);
    RUN(test_bucket_assignment);
    RUN(test_determinism);
    RUN(test_augmentation_draws);
    RUN(test_caption_pipeline);
    RUN(test_snapshot_isolation);
    RUN(test_tokenization);
    RUN(test_latent_cache);
    RUN(test_space_to_depth);
    RUN(test_demo_dataset);
    return check_finish();
}
