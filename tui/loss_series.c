/* Bounded loss history with TensorBoard's debiased EMA (see loss_series.h). */
#include "tui/loss_series.h"

#include <math.h>
#include <stdlib.h>

struct loss_series {
    size_t cap, nb;
    uint64_t span;      /* points per full bucket */
    double w;
    /* EMA state at full resolution. */
    double last;
    uint64_t n;
    /* TensorBoard's isConstant, for the points so far. */
    bool constant;
    double first;
    int64_t first_step;
    uint64_t points, nonfinite;
    /* Minimum of the finite EMA outputs (before the constant rule). */
    bool has_min;
    double min_ema;
    int64_t min_step;
    loss_bucket b[];
};

static double clamp_weight(double w)
{
    if (!(w > 0)) /* NaN too */
        return 0;
    return w > 1 ? 1 : w;
}

loss_series *ls_new(size_t capacity, double weight)
{
    if (capacity == 0)
        capacity = LS_DEFAULT_BUCKETS;
    if (capacity < 4)
        capacity = 4;
    capacity += capacity & 1;
    loss_series *s = malloc(sizeof *s + capacity * sizeof s->b[0]);
    if (!s)
        return NULL;
    s->cap = capacity;
    s->w = clamp_weight(weight);
    ls_clear(s);
    return s;
}

void ls_free(loss_series *s)
{
    free(s);
}

void ls_clear(loss_series *s)
{
    s->nb = 0;
    s->span = 1;
    s->last = 0;
    s->n = 0;
    s->constant = true;
    s->first = 0;
    s->first_step = 0;
    s->points = s->nonfinite = 0;
    s->has_min = false;
    s->min_ema = 0;
    s->min_step = 0;
}

/* The EMA output for the current state (TensorBoard's last / debias). */
static double ema_value(const loss_series *s)
{
    double debias = s->w == 1 ? 1 : 1 - pow(s->w, (double)s->n);
    return s->last / debias;
}

static void note_min(loss_series *s, double v, int64_t step)
{
    if (isfinite(v) && (!s->has_min || v < s->min_ema)) {
        s->has_min = true;
        s->min_ema = v;
        s->min_step = step;
    }
}

static loss_bucket merge(const loss_bucket *a, const loss_bucket *b)
{
    loss_bucket m = *b;
    m.step_first = a->step_first;
    m.count = a->count + b->count;
    m.finite = a->finite + b->finite;
    m.raw_sum = a->raw_sum + b->raw_sum;
    if (a->finite && b->finite) {
        m.raw_min = fmin(a->raw_min, b->raw_min);
        m.raw_max = fmax(a->raw_max, b->raw_max);
    } else if (a->finite) {
        m.raw_min = a->raw_min;
        m.raw_max = a->raw_max;
    }
    return m;
}

static void halve(loss_series *s)
{
    for (size_t i = 0; i < s->nb / 2; i++)
        s->b[i] = merge(&s->b[2 * i], &s->b[2 * i + 1]);
    s->nb /= 2;
    s->span *= 2;
}

void ls_append(loss_series *s, int64_t step, double y)
{
    bool fin = isfinite(y);
    if (s->points == 0) {
        s->first = y;
        s->first_step = step;
    } else if (s->constant && !(y == s->first)) {
        s->constant = false;
    }
    s->points++;
    double out = y;
    if (fin) {
        s->last = s->last * s->w + (1 - s->w) * y;
        s->n++;
        out = ema_value(s);
        note_min(s, out, step);
    } else {
        s->nonfinite++;
    }

    if (s->nb == 0 || s->b[s->nb - 1].count >= s->span) {
        if (s->nb == s->cap)
            halve(s);
        loss_bucket *nbk = &s->b[s->nb++];
        nbk->step_first = step;
        nbk->count = 0;
        nbk->finite = 0;
        nbk->raw_min = nbk->raw_max = NAN;
        nbk->raw_sum = 0;
    }
    loss_bucket *k = &s->b[s->nb - 1];
    k->step_last = step;
    k->count++;
    k->raw_last = y;
    k->ema_last = out;
    if (fin) {
        if (k->finite == 0) {
            k->raw_min = k->raw_max = y;
        } else {
            if (y < k->raw_min)
                k->raw_min = y;
            if (y > k->raw_max)
                k->raw_max = y;
        }
        k->finite++;
        k->raw_sum += y;
    }
}

double ls_weight(const loss_series *s)
{
    return s->w;
}

void ls_set_weight(loss_series *s, double weight)
{
    s->w = clamp_weight(weight);
    s->last = 0;
    s->n = 0;
    s->has_min = false;
    for (size_t i = 0; i < s->nb; i++) {
        loss_bucket *k = &s->b[i];
        if (k->finite) {
            double mean = k->raw_sum / (double)k->finite;
            /* k copies of the mean; for k == 1 this is exactly the per-point update. */
            double wk = pow(s->w, (double)k->finite);
            s->last = s->last * wk + (1 - wk) * mean;
            s->n += k->finite;
        }
        double e = ema_value(s);
        k->ema_last = isfinite(k->raw_last) ? e : k->raw_last;
        if (s->n)
            note_min(s, e, k->step_last);
    }
}

uint64_t ls_points(const loss_series *s)
{
    return s->points;
}

uint64_t ls_nonfinite(const loss_series *s)
{
    return s->nonfinite;
}

size_t ls_capacity(const loss_series *s)
{
    return s->cap;
}

size_t ls_bucket_count(const loss_series *s)
{
    return s->nb;
}

uint64_t ls_span(const loss_series *s)
{
    return s->span;
}

loss_bucket ls_bucket(const loss_series *s, size_t i)
{
    loss_bucket k = s->b[i];
    if (s->constant)
        k.ema_last = k.raw_last;
    return k;
}

bool ls_last(const loss_series *s, int64_t *step, double *raw, double *smoothed)
{
    if (s->nb == 0)
        return false;
    loss_bucket k = ls_bucket(s, s->nb - 1);
    if (step)
        *step = k.step_last;
    if (raw)
        *raw = k.raw_last;
    if (smoothed)
        *smoothed = k.ema_last;
    return true;
}

bool ls_min_smoothed(const loss_series *s, int64_t *step, double *value)
{
    if (s->points && s->constant) {
        if (!isfinite(s->first))
            return false;
        if (step)
            *step = s->first_step;
        if (value)
            *value = s->first;
        return true;
    }
    if (!s->has_min)
        return false;
    if (step)
        *step = s->min_step;
    if (value)
        *value = s->min_ema;
    return true;
}
