/* The loss plot of the Run screen: a loss_series drawn into a rectangle of stdscr as a braille
 * canvas (2x4 dots per cell, glyph U+2800 + dot bits), after reference/terminal.md §5.2.
 *
 *   row 0          title: "loss  log10 y" (or "linear y", with the reason when it was not chosen)
 *                  and the number of points, right-aligned
 *   rows 1..R-3    y labels (PLOT_LABEL_COLS columns: label, then an axis with ┤ at ticks) and
 *                  the canvas
 *   row R-2        x labels: the first and the last step, under the canvas's ends
 *   row R-1        status: last raw loss, last smoothed, minimum smoothed (and its step), the
 *                  smoothing weight, and the count of NaN/Inf losses when there are any
 *
 * Canvas: x is the step, linear from the first bucket's first step to the last bucket's last step.
 * The raw loss is a dim band: each dot column gets the min..max of the buckets that fall in it (a
 * bucket spanning several columns fills them all; with fewer points than columns the band is a
 * row of separate dots). The smoothed loss (the buckets' ema_last at their last steps) is a bold
 * line, consecutive points joined with Bresenham in dot space; a non-finite smoothed value breaks
 * the line. A cell holding line dots is drawn bold (a cell has one colour), band-only cells dim.
 *
 * Y axis: log10 when every visible value (the buckets' finite raw min/max and finite smoothed
 * values) is > 0 and opts->linear is false, otherwise linear; the title says which and why. The
 * range is the 1st..99th percentile of those values (in axis units; with fewer than 100 values
 * that is min..max), padded by 5% each side (a flat range gets ±0.1 decade or ±10%); dots outside
 * are clipped, lines crossing the edge are cut at it. Ticks on a log axis: the 1-2-5 values of
 * each decade when the axis spans under 3 decades and they fit (about one label every other row),
 * else decades (every k-th when there are too many); under a decade with fewer than two 1-2-5
 * values inside, multiples of a 1-2-5 step of the values, placed on the log axis. On a linear
 * axis, multiples of a 1-2-5 step. At most one label per cell row.
 *
 * Cost: O(buckets + canvas cells) plus sorting at most 3 values per bucket; no state kept between
 * calls, so the caller redraws at its own rate (≤ 4-10 Hz is plenty). Everything drawn stays inside
 * the rectangle, which is cleared first; a rectangle too small for a canvas (fewer than 5 rows or
 * fewer than PLOT_LABEL_COLS + 4 columns) gets the title and status lines only, as they fit. */
#ifndef TUI_PLOT_H
#define TUI_PLOT_H
#include <stdbool.h>

#include "tui/loss_series.h"

enum { PLOT_LABEL_COLS = 9 }; /* 8 for the label, 1 for the axis */

typedef struct plot_opts {
    const char *title; /* NULL: "loss" */
    bool linear;       /* a linear y axis even when log10 would do (the `l` key) */
} plot_opts;

/* What plot_draw drew, for tests and callers that place things over the canvas. */
typedef struct plot_layout {
    int canvas_y, canvas_x;       /* screen position of the canvas's top-left cell */
    int canvas_rows, canvas_cols; /* in cells (dots: 4x rows, 2x cols); 0 when not drawn */
    bool log_y;
    double lo, hi;                /* the y range in axis units (log10 of the loss when log_y) */
    int ticks;                    /* labelled ticks */
} plot_layout;

/* Draws s into rows x cols cells at (y, x) of stdscr. opts and out may be NULL. */
void plot_draw(const loss_series *s, int y, int x, int rows, int cols, const plot_opts *opts,
               plot_layout *out);

/* The dot row (0 = top) of a value on a canvas of ph dot rows over [lo, hi] in axis units, before
 * clipping (may be outside 0..ph-1). */
double plot_dot_row(double t, double lo, double hi, int ph);

#endif
