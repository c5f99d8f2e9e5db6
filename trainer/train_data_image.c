/* The image path of one training sample, in kohya's order (train_util.py __getitem__ and
 * trim_and_resize_if_required): resize to cover the bucket, trim to it (centre, or a random offset
 * with random_crop), color_aug on the 8-bit pixels, flip, then ToTensor + Normalize(0.5, 0.5).
 *
 * color_aug is AugHelper.color_aug: with probability 0.33 (random() <= 0.33), either (random() >
 * 0.5) a hue shift of uniform(-8, 8) on OpenCV's 0-180 hue scale, or a "gamma" x**uniform(0.95,
 * 1.05) on the raw 0-255 values, clipped and truncated to uint8 (so it darkens or saturates
 * rather than being a true gamma; kohya's quirk, kept). The hue shift goes through OpenCV's 8-bit
 * RGB<->HSV conversions, reproduced from their scalar code below; kohya hands RGB pixels to
 * COLOR_BGR2HSV, so the channels are read in that swapped order here too. */
#include "trainer/train_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void train_aug_draw(train_aug *a, const train_data_opts *o, int rw, int rh, int bw, int bh,
                    rng *flip_rng, rng *crop_rng, rng *color_rng)
{
    *a = (train_aug){.color = TRAIN_COLOR_NONE, .gamma = 1.0};
    a->flip = o->flip_aug && rng_uniform(flip_rng) < 0.5;
    int trim_x = rw > bw ? rw - bw : 0, trim_y = rh > bh ? rh - bh : 0;
    a->crop_x = o->random_crop ? (int)rng_below(crop_rng, (uint64_t)trim_x + 1) : trim_x / 2;
    a->crop_y = o->random_crop ? (int)rng_below(crop_rng, (uint64_t)trim_y + 1) : trim_y / 2;
    if (o->color_aug && rng_uniform(color_rng) <= 0.33) {
        if (rng_uniform(color_rng) > 0.5) {
            a->color = TRAIN_COLOR_HUE;
            double shift = -8.0 + 16.0 * rng_uniform(color_rng); /* random.uniform(-8, 8) */
            a->hue_shift = shift < 0 ? 180.0 + shift : shift;
        } else {
            a->color = TRAIN_COLOR_GAMMA;
            a->gamma = 0.95 + (1.05 - 0.95) * rng_uniform(color_rng);
        }
    }
}

/* ---- OpenCV's 8-bit HSV (imgproc color_hsv: RGB2HSV_b, HSV2RGB_b with hrange 180) ---- */

enum { HSV_SHIFT = 12 };

static int sat_round(double x)
{
    return (int)lrint(x);
}

typedef struct hsv_tables {
    int sdiv[256], hdiv[256];
} hsv_tables;

static void hsv_tables_make(hsv_tables *t)
{
    t->sdiv[0] = t->hdiv[0] = 0;
    for (int i = 1; i < 256; i++) {
        t->sdiv[i] = sat_round((255 << HSV_SHIFT) / (1.0 * i));
        t->hdiv[i] = sat_round((180 << HSV_SHIFT) / (6.0 * i));
    }
}

/* b, g, r as OpenCV names them for COLOR_BGR2HSV. */
static void bgr_to_hsv(const hsv_tables *t, int b, int g, int r, uint8_t *hsv)
{
    int v = b, vmin = b;
    v = g > v ? g : v;
    v = r > v ? r : v;
    vmin = g < vmin ? g : vmin;
    vmin = r < vmin ? r : vmin;
    int diff = v - vmin;
    int vr = v == r ? -1 : 0, vg = v == g ? -1 : 0;
    int s = (diff * t->sdiv[v] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
    int h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + ((~vg) & (r - g + 4 * diff))));
    h = (h * t->hdiv[diff] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
    h += h < 0 ? 180 : 0;
    hsv[0] = (uint8_t)h;
    hsv[1] = (uint8_t)s;
    hsv[2] = (uint8_t)v;
}

static uint8_t sat_u8(float x)
{
    int v = (int)lrintf(x);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void hsv_to_bgr(const uint8_t *hsv, uint8_t *b8, uint8_t *g8, uint8_t *r8)
{
    static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1},
                                          {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
    float h = hsv[0], s = hsv[1] * (1.f / 255.f), v = hsv[2] * (1.f / 255.f), b, g, r;
    if (s == 0) {
        b = g = r = v;
    } else {
        h *= 6.f / 180.f;
        h = fmodf(h, 6.f);
        if (h < 0)
            h += 6;
        int sector = (int)floorf(h);
        h -= (float)sector;
        if ((unsigned)sector >= 6u) {
            sector = 0;
            h = 0.f;
        }
        float tab[4] = {v, v * (1.f - s), v * (1.f - s * h), v * (1.f - s * (1.f - h))};
        b = tab[sector_data[sector][0]];
        g = tab[sector_data[sector][1]];
        r = tab[sector_data[sector][2]];
    }
    *b8 = sat_u8(b * 255.f);
    *g8 = sat_u8(g * 255.f);
    *r8 = sat_u8(r * 255.f);
}

void train_color_hue(image *img, double hue_shift)
{
    hsv_tables t;
    hsv_tables_make(&t);
    size_t n = (size_t)img->w * img->h;
    for (size_t k = 0; k < n; k++) {
        uint8_t *p = img->px + 3 * k, hsv[3];
        /* RGB memory read as BGR: OpenCV's b is our R, its r our B */
        bgr_to_hsv(&t, p[0], p[1], p[2], hsv);
        /* (uint8 + float) % 180, stored back into uint8: truncation */
        hsv[0] = (uint8_t)fmod(hsv[0] + hue_shift, 180.0);
        hsv_to_bgr(hsv, &p[0], &p[1], &p[2]);
    }
}

void train_color_gamma(image *img, double gamma)
{
    uint8_t lut[256];
    for (int x = 0; x < 256; x++) {
        double y = pow((double)x, gamma);
        lut[x] = (uint8_t)(y > 255.0 ? 255.0 : y);
    }
    size_t n = (size_t)img->w * img->h * 3;
    for (size_t k = 0; k < n; k++)
        img->px[k] = lut[img->px[k]];
}

/* ---- the sample ---- */

void train_image_to_chw(const image *img, bool flip, float *chw)
{
    size_t plane = (size_t)img->w * img->h;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) {
            const uint8_t *p = img->px + 3 * ((size_t)y * img->w + (flip ? img->w - 1 - x : x));
            size_t o = (size_t)y * img->w + x;
            for (int c = 0; c < 3; c++) /* torch: div(255), then sub(0.5).div(0.5), in float */
                chw[c * plane + o] = ((float)p[c] / 255.f - 0.5f) / 0.5f;
        }
}

int train_image_prepare(const char *path, const bucket_fit *fit, const train_aug *aug,
                        float *chw, tg_error *err)
{
    image src = {0}, sized = {0}, cut = {0};
    if (image_load(path, &src, err) < 0)
        return -1;
    int rc = 0;
    const image *cur = &src;
    if (src.w != fit->resized.w || src.h != fit->resized.h) {
        rc = image_resize(&src, fit->resized.w, fit->resized.h, &sized, err);
        cur = &sized;
    }
    if (rc == 0 && (cur->w != fit->bucket.w || cur->h != fit->bucket.h)) {
        if (aug->crop_x < 0 || aug->crop_y < 0 || aug->crop_x + fit->bucket.w > cur->w ||
            aug->crop_y + fit->bucket.h > cur->h) {
            rc = error_set(err, "%s: %dx%d does not hold a %dx%d crop at (%d, %d)", path, cur->w,
                           cur->h, fit->bucket.w, fit->bucket.h, aug->crop_x, aug->crop_y);
        } else {
            rc = image_crop(cur, aug->crop_x, aug->crop_y, fit->bucket.w, fit->bucket.h, &cut, err);
            cur = &cut;
        }
    }
    if (rc == 0) {
        image *m = (image *)cur; /* one of our own copies, or src */
        if (aug->color == TRAIN_COLOR_HUE)
            train_color_hue(m, aug->hue_shift);
        else if (aug->color == TRAIN_COLOR_GAMMA)
            train_color_gamma(m, aug->gamma);
        train_image_to_chw(m, aug->flip, chw);
    }
    image_free(&src);
    image_free(&sized);
    image_free(&cut);
    return rc;
}
