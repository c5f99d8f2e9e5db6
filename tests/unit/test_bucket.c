/* Aspect-ratio buckets against kohya's numbers (reference/trainers.md §2): the bucket lists it
 * makes, the bucket each image lands in, and the resize and crop that put it there. */
#include "tagger/bucket.h"

#include <string.h>

#include "tests/unit/check.h"

static int list_make(bucket_list *bl, int resolution, bool no_upscale)
{
    bucket_opts o;
    bucket_opts_default(&o, resolution);
    o.bucket_no_upscale = no_upscale;
    tg_error err = {{0}};
    int rc = bucket_list_make(bl, &o, &err);
    if (rc < 0)
        fprintf(stderr, "  bucket_list_make: %s\n", err.msg);
    return rc;
}

static void check_list(const bucket_list *bl, const int (*want)[2], size_t n)
{
    CHECK_INT(bl->n, n);
    for (size_t i = 0; i < n && i < bl->n; i++) {
        CHECK_INT(bl->resos[i].w, want[i][0]);
        CHECK_INT(bl->resos[i].h, want[i][1]);
    }
}

static void test_list_at_512(void)
{
    static const int want[][2] = {
        {256, 832}, {256, 896}, {256, 960}, {256, 1024}, {320, 704}, {320, 768},
        {384, 640}, {448, 576}, {512, 512}, {576, 448}, {640, 384}, {704, 320},
        {768, 320}, {832, 256}, {896, 256}, {960, 256}, {1024, 256},
    };
    bucket_list bl;
    CHECK_INT(list_make(&bl, 512, false), 0);
    check_list(&bl, want, 17);
    bucket_list_free(&bl);
}

static void test_list_at_768(void)
{
    static const int want[][2] = {
        {256, 1024}, {320, 1024}, {384, 1024}, {448, 1024}, {512, 1024}, {576, 960},
        {576, 1024}, {640, 896}, {704, 832}, {768, 768}, {832, 704}, {896, 640},
        {960, 576}, {1024, 256}, {1024, 320}, {1024, 384}, {1024, 448}, {1024, 512},
        {1024, 576},
    };
    bucket_list bl;
    CHECK_INT(list_make(&bl, 768, false), 0);
    check_list(&bl, want, 19);
    bucket_list_free(&bl);
}

/* min is rounded down and max up to the step, as kohya does before building the list. */
static void test_min_max_snap_to_step(void)
{
    bucket_opts o;
    bucket_opts_default(&o, 512);
    o.min_bucket_reso = 300;
    o.max_bucket_reso = 1000;
    bucket_list bl;
    tg_error err = {{0}};
    CHECK_INT(bucket_list_make(&bl, &o, &err), 0);
    CHECK_INT(bl.opts.min_bucket_reso, 256);
    CHECK_INT(bl.opts.max_bucket_reso, 1024);
    CHECK_INT(bl.n, 17);
    bucket_list_free(&bl);
}

static void test_asserts_become_errors(void)
{
    bucket_opts o;
    bucket_list bl;
    tg_error err = {{0}};
    bucket_opts_default(&o, 512);
    o.min_bucket_reso = 576; /* above the resolution */
    CHECK_INT(bucket_list_make(&bl, &o, &err), -1);
    CHECK(strstr(err.msg, "min_bucket_reso") != NULL);
    CHECK(strstr(err.msg, "512x512") != NULL);

    bucket_opts_default(&o, 512);
    o.max_bucket_reso = 448; /* below the resolution */
    CHECK_INT(bucket_list_make(&bl, &o, &err), -1);
    CHECK(strstr(err.msg, "max_bucket_reso") != NULL);

    bucket_opts_default(&o, 512);
    o.bucket_reso_steps = 0;
    CHECK_INT(bucket_list_make(&bl, &o, &err), -1);
    CHECK(strstr(err.msg, "bucket_reso_steps") != NULL);
    CHECK(bl.resos == NULL);
}

static void check_fit(const bucket_list *bl, int w, int h, int bw, int bh, int rw, int rh, int cx,
                      int cy)
{
    bucket_fit f = bucket_select(bl, w, h);
    CHECK_INT(f.bucket.w, bw);
    CHECK_INT(f.bucket.h, bh);
    CHECK_INT(f.resized.w, rw);
    CHECK_INT(f.resized.h, rh);
    CHECK_INT(f.crop_x, cx);
    CHECK_INT(f.crop_y, cy);
    CHECK_NEAR(f.ar_error, (double)bw / bh - (double)w / h, 1e-15);
}

/* The derived examples of §2.2: the image covers its bucket and the excess is trimmed evenly. */
static void test_select_examples_at_512(void)
{
    bucket_list bl;
    CHECK_INT(list_make(&bl, 512, false), 0);
    check_fit(&bl, 1920, 1080, 640, 384, 683, 384, 21, 0);
    check_fit(&bl, 1000, 1500, 384, 640, 427, 640, 21, 0);
    check_fit(&bl, 300, 400, 448, 576, 448, 597, 0, 10); /* upscaled */
    bucket_list_free(&bl);
}

/* kohya logs bucket_ar - image_ar: negative when the bucket is narrower than the image. */
static void test_ar_error_sign(void)
{
    bucket_list bl;
    CHECK_INT(list_make(&bl, 512, false), 0);
    CHECK(bucket_select(&bl, 1920, 1080).ar_error < 0);
    CHECK(bucket_select(&bl, 300, 400).ar_error > 0);
    bucket_list_free(&bl);
}

static void test_exact_bucket_is_kept(void)
{
    bucket_list bl;
    CHECK_INT(list_make(&bl, 512, false), 0);
    check_fit(&bl, 512, 512, 512, 512, 512, 512, 0, 0);
    check_fit(&bl, 832, 256, 832, 256, 832, 256, 0, 0);
    check_fit(&bl, 1024, 1024, 512, 512, 512, 512, 0, 0); /* same aspect, scaled down */
    bucket_list_free(&bl);
}

/* Resolution 256, buckets 128..512 step 128 give aspects 1/3, 1/4, 1, 3, 4. An image of aspect 3.5
 * is exactly as far from 3 as from 4: the first in list order (384x128) wins, like numpy argmin. */
static void test_ties_go_to_the_first_bucket(void)
{
    bucket_opts o;
    bucket_opts_default(&o, 256);
    o.min_bucket_reso = 128;
    o.max_bucket_reso = 512;
    o.bucket_reso_steps = 128;
    bucket_list bl;
    tg_error err = {{0}};
    CHECK_INT(bucket_list_make(&bl, &o, &err), 0);
    static const int want[][2] = {{128, 384}, {128, 512}, {256, 256}, {384, 128}, {512, 128}};
    check_list(&bl, want, 5);
    check_fit(&bl, 700, 200, 384, 128, 448, 128, 32, 0);
    bucket_list_free(&bl);
}

/* bucket_no_upscale: a small image keeps its size and its bucket is that size floored to the
 * step (the changelog's 300x300 -> 256x256); a large one shrinks to the area first. */
static void test_no_upscale(void)
{
    bucket_list bl;
    CHECK_INT(list_make(&bl, 512, true), 0);
    CHECK_INT(bl.n, 0);
    check_fit(&bl, 300, 300, 256, 256, 300, 300, 22, 22);
    check_fit(&bl, 2048, 1024, 640, 320, 640, 320, 0, 0);
    check_fit(&bl, 1000, 3000, 256, 768, 256, 768, 0, 0);
    check_fit(&bl, 512, 512, 512, 512, 512, 512, 0, 0);
    bucket_list_free(&bl);
}

/* An image side below the step has no bucket without upscaling (kohya divides by zero there). */
static void test_no_upscale_too_small_has_no_bucket(void)
{
    bucket_list bl;
    CHECK_INT(list_make(&bl, 512, true), 0);
    bucket_fit f = bucket_select(&bl, 10, 200);
    CHECK_INT(f.bucket.w, 0);
    CHECK_INT(f.resized.w, 10);
    bucket_list_free(&bl);
}

static void test_bad_image_size_has_no_bucket(void)
{
    bucket_list bl;
    CHECK_INT(list_make(&bl, 512, false), 0);
    bucket_fit f = bucket_select(&bl, 0, 100);
    CHECK_INT(f.bucket.w, 0);
    CHECK_INT(f.bucket.h, 0);
    bucket_list_free(&bl);
}

int main(void)
{
    RUN(test_list_at_512);
    RUN(test_list_at_768);
    RUN(test_min_max_snap_to_step);
    RUN(test_asserts_become_errors);
    RUN(test_select_examples_at_512);
    RUN(test_ar_error_sign);
    RUN(test_exact_bucket_is_kept);
    RUN(test_ties_go_to_the_first_bucket);
    RUN(test_no_upscale);
    RUN(test_no_upscale_too_small_has_no_bucket);
    RUN(test_bad_image_size_has_no_bucket);
    return check_finish();
}
