/* Braille loss plot (see plot.h). */
#include "tui/plot.h"

#include <curses.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "tui/draw.h"
#include "tui/theme.h"

#define PLOT_BAND_EL TH_DIM
#define PLOT_LINE_EL TH_KEY /* bold (and cyan with colours) */

enum { MAX_TICKS = 64 };

/* Braille dot bits by [row within cell][column within cell]. */
static const unsigned char dot_bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};

typedef struct canvas {
    int cw, ch, pw, ph;
    unsigned char *band, *line; /* ch * cw cells of dot bits */
} canvas;

static void dot(canvas *c, unsigned char *layer, int px, int py)
{
    if (px < 0 || py < 0 || px >= c->pw || py >= c->ph)
        return;
    layer[(py / 4) * c->cw + px / 2] |= dot_bit[py % 4][px % 2];
}

static void bresenham(canvas *c, unsigned char *layer, int x0, int y0, int x1, int y1)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        dot(c, layer, x0, y0);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

/* A segment between dot-space points whose y may lie far outside the canvas: cut to the canvas's
 * rows (in doubles, so an outlier does not cost a million steps), then drawn. */
static void segment(canvas *c, unsigned char *layer, double x0, double y0, double x1, double y1)
{
    double top = -0.5, bot = c->ph - 0.5;
    if ((y0 < top && y1 < top) || (y0 > bot && y1 > bot))
        return;
    if (y0 != y1) {
        double ya = y0, yb = y1;
        if (ya < top)
            x0 = x0 + (x1 - x0) * (top - ya) / (yb - ya), y0 = top;
        else if (ya > bot)
            x0 = x0 + (x1 - x0) * (bot - ya) / (yb - ya), y0 = bot;
        if (yb < top)
            x1 = x0 + (x1 - x0) * (top - y0) / (yb - y0), y1 = top;
        else if (yb > bot)
            x1 = x0 + (x1 - x0) * (bot - y0) / (yb - y0), y1 = bot;
    }
    bresenham(c, layer, (int)lround(x0), (int)lround(y0), (int)lround(x1), (int)lround(y1));
}

double plot_dot_row(double t, double lo, double hi, int ph)
{
    return (hi - t) / (hi - lo) * (ph - 1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, size_t n, double p)
{
    double r = p * (double)(n - 1);
    size_t i = p < 0.5 ? (size_t)floor(r) : (size_t)ceil(r);
    return v[i < n ? i : n - 1];
}

/* The smallest 1-2-5 step >= x (x > 0). */
static double nice_step(double x)
{
    double e = pow(10, floor(log10(x)));
    const double m[] = {1, 2, 5, 10};
    for (int i = 0; i < 4; i++)
        if (m[i] * e >= x * (1 - 1e-9))
            return m[i] * e;
    return 10 * e;
}

/* Linear 1-2-5 ticks over values [a, b]; returns the count. */
static int linear_ticks(double a, double b, int max_ticks, double *val)
{
    if (!(b > a))
        return 0;
    double step = nice_step((b - a) / max_ticks);
    int n = 0;
    for (double k = ceil(a / step - 1e-9); n < MAX_TICKS; k++) {
        double v = k * step;
        if (v > b + step * 1e-9)
            break;
        if (fabs(v) < step * 1e-9)
            v = 0;
        val[n++] = v;
    }
    return n;
}

/* Tick values (in loss units) for the axis [lo, hi] (axis units). */
static int make_ticks(bool log_y, double lo, double hi, int max_ticks, double *val)
{
    if (!log_y)
        return linear_ticks(lo, hi, max_ticks, val);
    int n = 0;
    double span = hi - lo;
    int d0 = (int)ceil(lo - 1e-9), d1 = (int)floor(hi + 1e-9);
    if (span < 3) {
        for (int k = (int)floor(lo) - 1; k <= (int)ceil(hi) && n < MAX_TICKS; k++) {
            const double m[] = {1, 2, 5};
            for (int i = 0; i < 3 && n < MAX_TICKS; i++) {
                double v = m[i] * pow(10, k), t = log10(v);
                if (t >= lo - 1e-9 && t <= hi + 1e-9)
                    val[n++] = v;
            }
        }
        if (n >= 2 && n <= max_ticks)
            return n;
        if (n < 2 && span < 1) /* narrow: 1-2-5 steps of the values, placed on the log axis */
            return linear_ticks(pow(10, lo), pow(10, hi), max_ticks, val);
        n = 0; /* too many: decades */
    }
    int ndec = d1 - d0 + 1;
    if (ndec < 2) /* under one decade's worth of decade ticks */
        return linear_ticks(pow(10, lo), pow(10, hi), max_ticks, val);
    int every = (ndec + max_ticks - 1) / max_ticks;
    for (int k = d0; k <= d1 && n < MAX_TICKS; k++)
        if (k % every == 0)
            val[n++] = pow(10, k);
    return n;
}

/* s right-aligned to end at x_end, never starting left of x0. */
static void text_right_in(int y, int x0, int x_end, const char *s, theme_el el)
{
    int w = draw_width(s);
    int at = x_end - w < x0 ? x0 : x_end - w;
    draw_text(y, at, x_end - at, s, el);
}

static void fill_rect(int y, int x, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        draw_fill(y + r, x, cols, TH_NORMAL);
}

static void put_cell(int y, int x, unsigned char bits, bool line)
{
    wchar_t w[2] = {(wchar_t)(0x2800 + bits), 0};
    theme_el el = line ? PLOT_LINE_EL : PLOT_BAND_EL;
    attr_t a = theme_attr(el) | (line ? A_BOLD : 0);
    cchar_t cc;
    if (setcchar(&cc, w, a, theme_pair(el), NULL) == OK)
        mvadd_wch(y, x, &cc);
}

static void status_line(const loss_series *s, int y, int x, int cols)
{
    int64_t step, min_step;
    double raw, sm, mn;
    if (!ls_last(s, &step, &raw, &sm)) {
        draw_textf(y, x, cols, TH_DIM, "smoothing %.3g", ls_weight(s));
        return;
    }
    char min_txt[64] = "-";
    if (ls_min_smoothed(s, &min_step, &mn))
        snprintf(min_txt, sizeof min_txt, "%.4g @%lld", mn, (long long)min_step);
    char bad[48] = "";
    if (ls_nonfinite(s))
        snprintf(bad, sizeof bad, "  %llu NaN/Inf", (unsigned long long)ls_nonfinite(s));
    draw_textf(y, x, cols, TH_NORMAL, "loss %.4g  smoothed %.4g  min %s  smoothing %.3g%s", raw, sm,
               min_txt, ls_weight(s), bad);
}

void plot_draw(const loss_series *s, int y, int x, int rows, int cols, const plot_opts *opts,
               plot_layout *out)
{
    plot_layout lay = {0};
    if (out)
        *out = lay;
    if (rows <= 0 || cols <= 0)
        return;
    fill_rect(y, x, rows, cols);
    const char *title = opts && opts->title ? opts->title : "loss";
    bool force_linear = opts && opts->linear;
    size_t nb = ls_bucket_count(s);

    /* Visible values and the axis. */
    double *vals = malloc((3 * nb + 1) * sizeof *vals);
    size_t nv = 0;
    bool all_pos = true;
    for (size_t i = 0; vals && i < nb; i++) {
        loss_bucket b = ls_bucket(s, i);
        double v[3] = {b.raw_min, b.raw_max, b.ema_last};
        for (int k = b.finite ? 0 : 2; k < 3; k++) {
            if (!isfinite(v[k]))
                continue;
            if (v[k] <= 0)
                all_pos = false;
            vals[nv++] = v[k];
        }
    }
    bool log_y = nv > 0 && all_pos && !force_linear;
    lay.log_y = log_y;

    const char *axis = log_y ? "log10 y" : force_linear ? "linear y" :
                       nv ? "linear y (a value <= 0)" : "";
    int used = draw_textf(y, x, cols, TH_TITLE, "%s", title);
    if (*axis && used + 2 < cols)
        draw_text(y, x + used + 2, cols - used - 2, axis, TH_DIM);
    if (ls_points(s)) {
        char cnt[48];
        snprintf(cnt, sizeof cnt, "%llu points", (unsigned long long)ls_points(s));
        if (draw_width(cnt) + used + 2 + draw_width(axis) + 2 <= cols)
            text_right_in(y, x, x + cols, cnt, TH_DIM);
    }
    if (rows >= 2)
        status_line(s, y + rows - 1, x, cols);

    int ch = rows - 3, cw = cols - PLOT_LABEL_COLS;
    if (rows < 5 || cw < 4) {
        free(vals);
        if (out)
            *out = lay;
        return;
    }
    int cy = y + 1, cx = x + PLOT_LABEL_COLS;
    lay.canvas_y = cy, lay.canvas_x = cx, lay.canvas_rows = ch, lay.canvas_cols = cw;
    for (int r = 0; r < ch; r++)
        draw_text(cy + r, cx - 1, 1, "\xe2\x94\x82", TH_DIM); /* │ */
    if (nv == 0 || !vals) {
        draw_text(cy + ch / 2, cx + 1, cw - 1, nb ? "no finite loss yet" : "waiting for the first step",
                  TH_DIM);
        free(vals);
        if (out)
            *out = lay;
        return;
    }

    for (size_t i = 0; i < nv; i++)
        vals[i] = log_y ? log10(vals[i]) : vals[i];
    qsort(vals, nv, sizeof *vals, cmp_double);
    double lo = percentile(vals, nv, 0.01), hi = percentile(vals, nv, 0.99);
    free(vals);
    if (hi - lo <= 1e-12 * fmax(1, fabs(hi))) {
        double d = log_y ? 0.1 : (hi != 0 ? fabs(hi) * 0.1 : 1);
        lo -= d, hi += d;
    } else {
        double d = (hi - lo) * 0.05;
        lo -= d, hi += d;
    }
    lay.lo = lo, lay.hi = hi;

    canvas c = {.cw = cw, .ch = ch, .pw = 2 * cw, .ph = 4 * ch};
    c.band = calloc((size_t)cw * ch, 1);
    c.line = calloc((size_t)cw * ch, 1);
    if (!c.band || !c.line) {
        free(c.band);
        free(c.line);
        if (out)
            *out = lay;
        return;
    }
    loss_bucket first = ls_bucket(s, 0), lastb = ls_bucket(s, nb - 1);
    double s0 = (double)first.step_first, s1 = (double)lastb.step_last;
#define PX(st) (s1 > s0 ? ((double)(st) - s0) / (s1 - s0) * (c.pw - 1) : 0.0)
#define T(v) (log_y ? log10(v) : (v))
    /* Band: per dot column, the union of the buckets' min..max. */
    int *top = malloc(c.pw * sizeof *top), *bot = malloc(c.pw * sizeof *bot);
    if (top && bot) {
        for (int i = 0; i < c.pw; i++)
            top[i] = INT32_MAX, bot[i] = INT32_MIN;
        for (size_t i = 0; i < nb; i++) {
            loss_bucket b = ls_bucket(s, i);
            if (!b.finite)
                continue;
            double ta = plot_dot_row(T(b.raw_max), lo, hi, c.ph);
            double tb = plot_dot_row(T(b.raw_min), lo, hi, c.ph);
            /* far outliers clipped before rounding */
            ta = fmin(fmax(ta, -1), c.ph), tb = fmin(fmax(tb, -1), c.ph);
            int a = (int)lround(PX(b.step_first)), z = (int)lround(PX(b.step_last));
            for (int col = a < 0 ? 0 : a; col <= z && col < c.pw; col++) {
                int t0 = (int)lround(ta), t1 = (int)lround(tb);
                if (t0 < top[col])
                    top[col] = t0;
                if (t1 > bot[col])
                    bot[col] = t1;
            }
        }
        for (int col = 0; col < c.pw; col++)
            for (int r = top[col] < 0 ? 0 : top[col]; r <= bot[col] && r < c.ph; r++)
                dot(&c, c.band, col, r);
    }
    free(top);
    free(bot);
    /* Smoothed line. */
    bool have = false;
    double lx = 0, ly = 0;
    for (size_t i = 0; i < nb; i++) {
        loss_bucket b = ls_bucket(s, i);
        if (!isfinite(b.ema_last) || (log_y && b.ema_last <= 0)) {
            have = false;
            continue;
        }
        double px = PX(b.step_last), py = plot_dot_row(T(b.ema_last), lo, hi, c.ph);
        if (have)
            segment(&c, c.line, lx, ly, px, py);
        else
            segment(&c, c.line, px, py, px, py);
        have = true, lx = px, ly = py;
    }
#undef PX
#undef T
    for (int r = 0; r < ch; r++)
        for (int col = 0; col < cw; col++) {
            unsigned char bl = c.band[r * cw + col], ln = c.line[r * cw + col];
            if (bl | ln)
                put_cell(cy + r, cx + col, bl | ln, ln != 0);
        }
    free(c.band);
    free(c.line);

    /* Y ticks. */
    double tv[MAX_TICKS];
    int max_ticks = ch / 2 + 1;
    if (max_ticks < 2)
        max_ticks = 2;
    int nt = make_ticks(log_y, lo, hi, max_ticks, tv);
    int last_row = -1;
    for (int i = nt - 1; i >= 0; i--) { /* top (largest) first */
        double t = log_y ? log10(tv[i]) : tv[i];
        int row = (int)lround(plot_dot_row(t, lo, hi, c.ph)) / 4;
        double pyd = plot_dot_row(t, lo, hi, c.ph);
        if (pyd < -0.5 || pyd > c.ph - 0.5 || row == last_row)
            continue;
        char lab[32];
        snprintf(lab, sizeof lab, "%.3g", tv[i]);
        if (draw_width(lab) > PLOT_LABEL_COLS - 1)
            snprintf(lab, sizeof lab, "%.0e", tv[i]);
        int lw = draw_width(lab);
        if (lw > PLOT_LABEL_COLS - 1)
            lw = PLOT_LABEL_COLS - 1;
        draw_text(cy + row, cx - 1 - lw, lw, lab, TH_DIM);
        draw_text(cy + row, cx - 1, 1, "\xe2\x94\xa4", TH_DIM); /* ┤ */
        last_row = row;
        lay.ticks++;
    }

    /* X labels. */
    char a[32], b[32];
    snprintf(a, sizeof a, "%lld", (long long)first.step_first);
    snprintf(b, sizeof b, "%lld", (long long)lastb.step_last);
    int xr = y + rows - 2;
    draw_text(xr, x, PLOT_LABEL_COLS - 1, "step", TH_DIM);
    if (draw_width(a) + draw_width(b) + 1 <= cw) {
        draw_text(xr, cx, cw, a, TH_DIM);
        if (nb && lastb.step_last != first.step_first)
            text_right_in(xr, cx, cx + cw, b, TH_DIM);
    } else {
        text_right_in(xr, cx, cx + cw, b, TH_DIM);
    }
    if (out)
        *out = lay;
}
