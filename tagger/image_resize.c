/* Resize, crop and flip on 8-bit RGB. Resizing is separable and chosen per axis: a shrinking axis
 * averages the source pixels each output pixel covers (weighted by overlap), so that downscaling a
 * photo for training does not alias; an enlarging axis interpolates linearly between pixel
 * centres. Each output row blends source rows into one float row, then resamples that row across,
 * so the only scratch memory is one source row of floats. */
#include "tagger/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The source samples behind each output sample along one axis: k weights starting at first[i]. */
typedef struct taps {
    int k;
    int *first;
    float *w; /* k weights per output sample, zero where unused; they sum to 1 */
} taps;

static void taps_free(taps *t)
{
    free(t->first);
    free(t->w);
    t->first = NULL;
    t->w = NULL;
}

/* Output i covers source interval [i*scale, (i+1)*scale); each source pixel weighs its overlap. */
static void taps_area(taps *t, int i, int n_in, double scale)
{
    double lo = i * scale, hi = (i + 1) * scale;
    int j0 = (int)lo, j1 = (int)ceil(hi);
    if (j1 > n_in)
        j1 = n_in;
    int first = j0 < n_in - t->k ? j0 : n_in - t->k;
    double sum = 0;
    for (int j = j0; j < j1; j++)
        sum += fmax(0.0, fmin(hi, j + 1.0) - fmax(lo, j));
    float *w = t->w + (size_t)i * t->k;
    for (int j = j0; j < j1; j++)
        w[j - first] = (float)(fmax(0.0, fmin(hi, j + 1.0) - fmax(lo, j)) / sum);
    t->first[i] = first;
}

/* Output i's centre mapped into the source, clamped at the edges, between its two neighbours. */
static void taps_linear(taps *t, int i, int n_in, double scale)
{
    double x = (i + 0.5) * scale - 0.5;
    x = x < 0 ? 0 : x > n_in - 1 ? n_in - 1 : x;
    int j0 = (int)x;
    float *w = t->w + (size_t)i * t->k;
    if (t->k == 1) {
        t->first[i] = j0;
        w[0] = 1;
        return;
    }
    double f = x - j0;
    int first = j0 < n_in - 2 ? j0 : n_in - 2;
    w[j0 - first] += (float)(1 - f);
    if (f > 0)
        w[j0 + 1 - first] += (float)f;
    t->first[i] = first;
}

static int taps_make(taps *t, int n_in, int n_out)
{
    double scale = (double)n_in / n_out;
    t->k = n_out < n_in ? (int)ceil(scale) + 1 : n_out > n_in ? 2 : 1;
    if (t->k > n_in)
        t->k = n_in;
    t->first = malloc((size_t)n_out * sizeof *t->first);
    t->w = calloc((size_t)n_out * t->k, sizeof *t->w);
    if (!t->first || !t->w) {
        taps_free(t);
        return -1;
    }
    for (int i = 0; i < n_out; i++) {
        if (n_out < n_in)
            taps_area(t, i, n_in, scale);
        else
            taps_linear(t, i, n_in, scale);
    }
    return 0;
}

/* acc = the weighted sum of the source rows behind output row y. */
static void rows_blend(const image *src, const taps *tv, int y, float *acc)
{
    size_t n = (size_t)src->w * 3;
    memset(acc, 0, n * sizeof *acc);
    for (int t = 0; t < tv->k; t++) {
        float w = tv->w[(size_t)y * tv->k + t];
        if (w == 0)
            continue;
        const uint8_t *row = src->px + (size_t)(tv->first[y] + t) * n;
        for (size_t i = 0; i < n; i++)
            acc[i] += w * row[i];
    }
}

static void row_resample(const float *acc, const taps *th, int w, uint8_t *out)
{
    for (int x = 0; x < w; x++) {
        const float *wt = th->w + (size_t)x * th->k;
        const float *in = acc + (size_t)th->first[x] * 3;
        float s[3] = {0, 0, 0};
        for (int t = 0; t < th->k; t++)
            for (int c = 0; c < 3; c++)
                s[c] += wt[t] * in[t * 3 + c];
        for (int c = 0; c < 3; c++)
            out[x * 3 + c] = (uint8_t)(s[c] <= 0 ? 0 : s[c] >= 255 ? 255 : s[c] + 0.5f);
    }
}

static int size_valid(int w, int h)
{
    return w > 0 && h > 0 && w <= IMAGE_MAX_SIDE && h <= IMAGE_MAX_SIDE &&
           (long long)w * h <= IMAGE_MAX_PIXELS;
}

int image_resize(const image *src, int w, int h, image *dst, tg_error *err)
{
    if (!src->px || !size_valid(src->w, src->h))
        return error_set(err, "resize: the source image is empty");
    if (!size_valid(w, h))
        return error_set(err, "resize to %dx%d: the size must be positive and within %dx%d and "
                         "%lld pixels", w, h, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE, IMAGE_MAX_PIXELS);
    taps th = {0}, tv = {0};
    uint8_t *px = malloc((size_t)w * h * 3);
    float *acc = malloc((size_t)src->w * 3 * sizeof *acc);
    int ok = px && acc && taps_make(&th, src->w, w) == 0;
    ok = ok && taps_make(&tv, src->h, h) == 0;
    for (int y = 0; ok && y < h; y++) {
        rows_blend(src, &tv, y, acc);
        row_resample(acc, &th, w, px + (size_t)y * w * 3);
    }
    taps_free(&th);
    taps_free(&tv);
    free(acc);
    if (!ok) {
        free(px);
        return error_set(err, "resize %dx%d to %dx%d: out of memory", src->w, src->h, w, h);
    }
    *dst = (image){w, h, px};
    return 0;
}

int image_crop(const image *src, int x, int y, int w, int h, image *dst, tg_error *err)
{
    /* compared as x <= src->w - w so that no sum can overflow */
    if (!src->px || w <= 0 || h <= 0 || x < 0 || y < 0 || w > src->w || h > src->h ||
        x > src->w - w || y > src->h - h)
        return error_set(err, "crop %dx%d at (%d,%d) does not fit inside the %dx%d image", w, h, x,
                         y, src->w, src->h);
    uint8_t *px = malloc((size_t)w * h * 3);
    if (!px)
        return error_set(err, "crop %dx%d: out of memory", w, h);
    for (int r = 0; r < h; r++)
        memcpy(px + (size_t)r * w * 3, src->px + ((size_t)(y + r) * src->w + x) * 3, (size_t)w * 3);
    *dst = (image){w, h, px};
    return 0;
}

void image_flip(image *img)
{
    for (int y = 0; y < img->h; y++) {
        uint8_t *row = img->px + (size_t)y * img->w * 3;
        for (int l = 0, r = img->w - 1; l < r; l++, r--) {
            uint8_t t[3];
            memcpy(t, row + l * 3, 3);
            memcpy(row + l * 3, row + r * 3, 3);
            memcpy(row + r * 3, t, 3);
        }
    }
}
