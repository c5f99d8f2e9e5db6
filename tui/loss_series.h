/* The loss history of a training run, in constant memory: (step, loss) points go into a fixed
 * number of buckets (2048 by default). While there is room each point opens a bucket of its own;
 * when every bucket is used, neighbours are merged pairwise (1-2, 3-4, ...), halving the
 * resolution, and each bucket from then on takes twice as many points. So a run of any length
 * keeps between capacity/2 and capacity buckets, each summarising an equal run of consecutive
 * points (the newest one may be partly filled). Appending never allocates; it costs O(1) except
 * at a merge, which costs O(capacity) and happens once per capacity/2 * span points, so the
 * amortised cost is O(1) (about one bucket copy per point in the worst case).
 *
 * The smoothed line is TensorBoard's classicSmoothing
 * (tensorboard/webapp/widgets/line_chart_v2/data_transformer.ts), computed as the points arrive,
 * at full resolution (so it does not depend on the buckets or the pane width):
 *     last = last*w + (1-w)*y;  n++;  debias = (w == 1) ? 1 : 1 - w^n;  smoothed = last/debias
 * with last = 0 and n = 0 at the start, w clamped to [0,1] (NaN counts as 0); a non-finite y
 * passes through as it is and advances neither last nor n; and while every point so far equals
 * the first (TensorBoard's whole-series "isConstant" test, where NaN never equals anything), the
 * smoothed values are the raw values. The EMA is always computed too, so when a different value
 * arrives the series reports the EMA values TensorBoard would give for the whole series.
 *
 * Changing the weight (ls_set_weight) cannot replay the exact history once buckets hold more than
 * one point each: the series recomputes the EMA over the buckets, treating each bucket's finite
 * points as `n` copies of their mean (closed form: last = last*w^k + mean*(1-w^k), n += k). That
 * is exact while every bucket holds one point (the first `capacity` points) and an approximation
 * afterwards: the order of values inside a bucket is lost, which matters only for weights whose
 * memory (about 1/(1-w) points) is shorter than a bucket. The minimum of the smoothed line is
 * then the minimum over bucket ends. New points continue from the recomputed state.
 *
 * Steps are the caller's (usually the optimizer step); they are stored, not checked for order. */
#ifndef TUI_LOSS_SERIES_H
#define TUI_LOSS_SERIES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { LS_DEFAULT_BUCKETS = 2048 };

typedef struct loss_bucket {
    int64_t step_first, step_last; /* steps of the first and last point in the bucket */
    uint64_t count;                /* points, finite or not */
    uint64_t finite;               /* finite points among them */
    double raw_min, raw_max;       /* over the finite points (NAN when finite == 0) */
    double raw_sum;                /* of the finite points: mean = raw_sum / finite */
    double raw_last;               /* the last point's loss (may be NaN or infinite) */
    double ema_last;               /* the smoothed value at the last point, as TensorBoard shows
                                    * it (the raw value when that point is not finite) */
} loss_bucket;

typedef struct loss_series loss_series;

/* capacity: buckets (rounded up to even, at least 4; 0 = LS_DEFAULT_BUCKETS). weight: the
 * smoothing weight, clamped to [0,1]. NULL when out of memory. */
loss_series *ls_new(size_t capacity, double weight);
void ls_free(loss_series *s);
/* Forgets every point (keeps capacity and weight). */
void ls_clear(loss_series *s);

/* Adds a point. O(1) amortised, never allocates. */
void ls_append(loss_series *s, int64_t step, double loss);

/* The weight in [0,1]. Setting it recomputes the smoothed values (see above). */
double ls_weight(const loss_series *s);
void ls_set_weight(loss_series *s, double weight);

uint64_t ls_points(const loss_series *s);    /* every point appended */
uint64_t ls_nonfinite(const loss_series *s); /* NaN and infinite losses among them */
size_t ls_capacity(const loss_series *s);
size_t ls_bucket_count(const loss_series *s);
uint64_t ls_span(const loss_series *s);      /* points per full bucket (a power of two) */
/* Bucket i, oldest first (0 <= i < ls_bucket_count). The constant-series rule is already applied
 * to ema_last. */
loss_bucket ls_bucket(const loss_series *s, size_t i);

/* The newest point (false when empty). */
bool ls_last(const loss_series *s, int64_t *step, double *raw, double *smoothed);
/* The smallest finite smoothed value so far and its step (false when there is none). */
bool ls_min_smoothed(const loss_series *s, int64_t *step, double *value);

#endif
