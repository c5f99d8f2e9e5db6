/* kohya's aspect-ratio buckets (reference/trainers.md §2): model_util.make_bucket_resolutions,
 * BaseDataset.adjust_min_max_bucket_reso_by_steps, BucketManager.select_bucket, and the centre
 * crop of trim_and_resize_if_required. Arithmetic is done in the same order and with the same
 * double/integer split as the Python, so that the same image lands in the same bucket.
 *
 * A returned bucket with a zero side means the image has no bucket: with bucket_no_upscale an
 * image side shorter than bucket_reso_steps floors to 0, where kohya fails with a division by
 * zero; callers refuse such an image. */
#include "tagger/bucket.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

void bucket_opts_default(bucket_opts *o, int resolution)
{
    *o = (bucket_opts){
        .width = resolution,
        .height = resolution,
        .min_bucket_reso = 256,
        .max_bucket_reso = 1024,
        .bucket_reso_steps = 64,
        .bucket_no_upscale = false,
    };
}

/* Rounds min down and max up to multiples of the step, then checks kohya's asserts. */
static int opts_snap(bucket_opts *o, tg_error *err)
{
    int step = o->bucket_reso_steps;
    if (o->width <= 0 || o->height <= 0)
        return error_set(err, "resolution must be positive, got %dx%d", o->width, o->height);
    if (step <= 0)
        return error_set(err, "bucket_reso_steps must be > 0, got %d", step);
    if (o->min_bucket_reso < 0 || o->max_bucket_reso <= 0)
        return error_set(err, "min_bucket_reso and max_bucket_reso must be positive, got %d and %d",
                         o->min_bucket_reso, o->max_bucket_reso);
    if (o->max_bucket_reso > INT_MAX - step)
        return error_set(err, "max_bucket_reso is too large: %d", o->max_bucket_reso);
    o->min_bucket_reso -= o->min_bucket_reso % step;
    if (o->max_bucket_reso % step)
        o->max_bucket_reso += step - o->max_bucket_reso % step;
    int lo = o->width < o->height ? o->width : o->height;
    int hi = o->width > o->height ? o->width : o->height;
    if (lo < o->min_bucket_reso)
        return error_set(err, "min_bucket_reso (%d, a multiple of bucket_reso_steps %d) must be <= "
                         "the smaller side of resolution %dx%d", o->min_bucket_reso, step,
                         o->width, o->height);
    if (hi > o->max_bucket_reso)
        return error_set(err, "max_bucket_reso (%d, rounded up to a multiple of bucket_reso_steps "
                         "%d) must be >= the larger side of resolution %dx%d", o->max_bucket_reso,
                         step, o->width, o->height);
    return 0;
}

/* Python's float floor division a // b for positive operands (fmod-based, so a quotient that
 * rounds up to an integer is not taken for that integer). */
static double py_floordiv(double a, double b)
{
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    double f = floor(div);
    return div - f > 0.5 ? f + 1.0 : f;
}

static int reso_compare(const void *pa, const void *pb)
{
    const bucket_reso *a = pa, *b = pb;
    if (a->w != b->w)
        return a->w < b->w ? -1 : 1;
    return (a->h > b->h) - (a->h < b->h);
}

/* Sorts as Python sorts (w, h) tuples and drops repeats, as kohya's set() then sort() does. */
static void resos_sort_unique(bucket_list *bl)
{
    qsort(bl->resos, bl->n, sizeof *bl->resos, reso_compare);
    size_t m = 0;
    for (size_t i = 0; i < bl->n; i++)
        if (m == 0 || reso_compare(&bl->resos[m - 1], &bl->resos[i]) != 0)
            bl->resos[m++] = bl->resos[i];
    bl->n = m;
}

static int resos_make(bucket_list *bl, tg_error *err)
{
    const bucket_opts *o = &bl->opts;
    int step = o->bucket_reso_steps, lo = o->min_bucket_reso, hi = o->max_bucket_reso;
    if (lo == 0) /* kohya divides max_area by every candidate width, starting at min */
        return error_set(err, "min_bucket_reso must be at least bucket_reso_steps (%d) once "
                         "rounded down to a multiple of it", step);
    long long max_area = (long long)o->width * o->height;
    size_t cap = 1 + 2 * (size_t)((hi - lo) / step + 1);
    bl->resos = malloc(cap * sizeof *bl->resos);
    if (!bl->resos)
        return error_set(err, "out of memory making %zu buckets", cap);
    int side = (int)py_floordiv(sqrt((double)max_area), step) * step;
    bl->resos[bl->n++] = (bucket_reso){side, side};
    for (int w = lo; w <= hi; w += step) {
        long long h = max_area / w / step * step;
        if (h > hi)
            h = hi;
        if (h >= lo) {
            bl->resos[bl->n++] = (bucket_reso){w, (int)h};
            bl->resos[bl->n++] = (bucket_reso){(int)h, w};
        }
    }
    resos_sort_unique(bl);
    return 0;
}

int bucket_list_make(bucket_list *bl, const bucket_opts *o, tg_error *err)
{
    *bl = (bucket_list){.opts = *o};
    if (opts_snap(&bl->opts, err) < 0)
        return -1;
    /* With no_upscale kohya still snaps and checks min/max, then ignores them: each image's
     * own size makes its bucket. */
    if (bl->opts.bucket_no_upscale)
        return 0;
    if (resos_make(bl, err) < 0) {
        bucket_list_free(bl);
        return -1;
    }
    return 0;
}

void bucket_list_free(bucket_list *bl)
{
    free(bl->resos);
    bl->resos = NULL;
    bl->n = 0;
}

/* Python's int(x) for the sizes here, saturating instead of overflowing on absurd inputs. */
static int to_int(double x)
{
    if (!(x < (double)INT_MAX))
        return x != x ? 0 : INT_MAX;
    return x > (double)INT_MIN ? (int)x : INT_MIN;
}

/* The exact size if it is a bucket, else the first bucket of least |bucket_ar - image_ar|. */
static bucket_reso predefined_choose(const bucket_list *bl, int w, int h, double ar)
{
    bucket_reso key = {w, h};
    if (bsearch(&key, bl->resos, bl->n, sizeof key, reso_compare))
        return key;
    size_t best = 0;
    double best_err = INFINITY;
    for (size_t i = 0; i < bl->n; i++) {
        double e = fabs((double)bl->resos[i].w / bl->resos[i].h - ar);
        if (e < best_err) {
            best_err = e;
            best = i;
        }
    }
    return bl->resos[best];
}

/* Scale so that the image covers the bucket: match the height when the image is wider. */
static bucket_reso cover_size(bucket_reso b, int w, int h, double ar)
{
    double scale = ar > (double)b.w / b.h ? (double)b.h / h : (double)b.w / w;
    return (bucket_reso){to_int(w * scale + 0.5), to_int(h * scale + 0.5)};
}

static int round_to_steps(double x, int step)
{
    int v = to_int(x + 0.5);
    return v - v % step;
}

/* An image larger than max_area shrinks to that area, with one side a multiple of the step:
 * the width or the height, whichever keeps the aspect ratio closer. */
static bucket_reso shrink_size(long long max_area, double ar, int step)
{
    double rw = sqrt((double)max_area * ar);
    double rh = (double)max_area / rw;
    int bw = round_to_steps(rw, step);
    int bh_of_w = round_to_steps(bw / ar, step);
    int bh = round_to_steps(rh, step);
    int bw_of_h = round_to_steps(bh * ar, step);
    /* kohya divides by these and fails on a zero; an infinite error loses the comparison */
    double ar_w = bh_of_w ? (double)bw / bh_of_w : INFINITY;
    double ar_h = bh ? (double)bw_of_h / bh : INFINITY;
    if (fabs(ar_w - ar) < fabs(ar_h - ar))
        return (bucket_reso){bw, to_int(bw / ar + 0.5)};
    return (bucket_reso){to_int(bh * ar + 0.5), bh};
}

static bucket_fit fit_no_upscale(const bucket_list *bl, int w, int h, double ar)
{
    bucket_fit f = {0};
    long long max_area = (long long)bl->opts.width * bl->opts.height;
    int step = bl->opts.bucket_reso_steps;
    if ((long long)w * h > max_area)
        f.resized = shrink_size(max_area, ar, step);
    else
        f.resized = (bucket_reso){w, h};
    /* the bucket is the resized size floored to the step: cropped a little, never padded */
    f.bucket = (bucket_reso){f.resized.w - f.resized.w % step, f.resized.h - f.resized.h % step};
    return f;
}

bucket_fit bucket_select(const bucket_list *bl, int w, int h)
{
    bucket_fit f = {0};
    if (w <= 0 || h <= 0 || (!bl->opts.bucket_no_upscale && bl->n == 0))
        return f;
    double ar = (double)w / h;
    if (bl->opts.bucket_no_upscale) {
        f = fit_no_upscale(bl, w, h, ar);
    } else {
        f.bucket = predefined_choose(bl, w, h, ar);
        f.resized = cover_size(f.bucket, w, h, ar);
    }
    f.crop_x = f.resized.w > f.bucket.w ? (f.resized.w - f.bucket.w) / 2 : 0;
    f.crop_y = f.resized.h > f.bucket.h ? (f.resized.h - f.bucket.h) / 2 : 0;
    f.ar_error = f.bucket.h ? (double)f.bucket.w / f.bucket.h - ar : 0.0;
    return f;
}
