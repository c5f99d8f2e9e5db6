/* The braille loss plot, drawn on a headless ncurses screen (newterm on /dev/null) and read back
 * cell by cell with mvin_wch: a constant series is one dot row across the canvas, a decreasing one
 * goes down, decade ticks on a log axis spanning decades, 1-2-5 ticks on a narrow one, linear when
 * a value is <= 0, the line bold over a dim band, robust range against a spike, nothing drawn
 * outside the rectangle, empty and tiny panes. A NOTE gives the redraw time of a full series. */
#include "tui/plot.h"

#include <curses.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "tests/unit/check.h"
#include "tui/theme.h"

static SCREEN *screen;
static FILE *screen_out, *screen_in;

enum { SCR_ROWS = 30, SCR_COLS = 100 };

static void curses_start(void)
{
    setenv("LINES", "30", 1);
    setenv("COLUMNS", "100", 1);
    screen_out = fopen("/dev/null", "w");
    screen_in = fopen("/dev/null", "r");
    screen = newterm("xterm-256color", screen_out, screen_in);
    CHECK(screen != NULL);
    set_term(screen);
    theme_init();
}

static void curses_stop(void)
{
    endwin();
    delscreen(screen);
    fclose(screen_out);
    fclose(screen_in);
}

typedef struct cell {
    wchar_t ch;
    attr_t attr;
} cell;

static cell cell_at(int y, int x)
{
    cchar_t cc;
    cell c = {0, 0};
    wchar_t w[CCHARW_MAX + 1] = {0};
    short pair;
    if (mvin_wch(y, x, &cc) == OK && getcchar(&cc, w, &c.attr, &pair, NULL) == OK)
        c.ch = w[0];
    return c;
}

static int is_braille(wchar_t ch)
{
    return ch >= 0x2800 && ch <= 0x28ff;
}

/* The dots of a braille glyph: dot rows (0..3) by column, as a bit mask per column. */
static void dot_rows(wchar_t ch, unsigned *left, unsigned *right)
{
    static const unsigned char bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
    unsigned b = (unsigned)(ch - 0x2800);
    *left = *right = 0;
    for (int r = 0; r < 4; r++) {
        if (b & bit[r][0])
            *left |= 1u << r;
        if (b & bit[r][1])
            *right |= 1u << r;
    }
}

/* Row y's text from column x0 to x1 (exclusive), non-ASCII as '#', spaces trimmed at both ends. */
static void text_at(int y, int x0, int x1, char *buf, size_t n)
{
    size_t k = 0;
    for (int x = x0; x < x1 && k + 1 < n; x++) {
        cell c = cell_at(y, x);
        buf[k++] = c.ch >= 32 && c.ch < 127 ? (char)c.ch : c.ch == 0 ? ' ' : '#';
    }
    buf[k] = 0;
    while (k > 0 && buf[k - 1] == ' ')
        buf[--k] = 0;
    size_t s = 0;
    while (buf[s] == ' ')
        s++;
    memmove(buf, buf + s, k - s + 1);
}

/* Non-blank cells outside the rectangle. */
static int outside_marks(int y, int x, int rows, int cols)
{
    int n = 0;
    for (int r = 0; r < SCR_ROWS; r++)
        for (int c = 0; c < SCR_COLS; c++) {
            if (r >= y && r < y + rows && c >= x && c < x + cols)
                continue;
            wchar_t ch = cell_at(r, c).ch;
            if (ch != ' ' && ch != 0)
                n++;
        }
    return n;
}

/* The row of the label `want` in the label column, or -1. */
static int label_row(const plot_layout *l, int x, const char *want)
{
    char buf[64];
    for (int r = 0; r < l->canvas_rows; r++) {
        text_at(l->canvas_y + r, x, l->canvas_x - 1, buf, sizeof buf);
        if (!strcmp(buf, want))
            return r;
    }
    return -1;
}

static void draw(const loss_series *s, int y, int x, int rows, int cols, const plot_opts *o,
                 plot_layout *l)
{
    erase();
    plot_draw(s, y, x, rows, cols, o, l);
}

static void test_constant_series_is_one_dot_row(void)
{
    loss_series *s = ls_new(0, 0.6);
    for (int i = 1; i <= 500; i++)
        ls_append(s, i, 0.5);
    plot_layout l;
    draw(s, 2, 3, 20, 80, NULL, &l);
    CHECK_INT(l.canvas_rows, 17);
    CHECK_INT(l.canvas_cols, 80 - PLOT_LABEL_COLS);
    CHECK(l.log_y);
    int row_seen = -1, rows_with_dots = 0, cols_with_dots = 0, bad = 0;
    for (int r = 0; r < l.canvas_rows; r++) {
        int any = 0;
        for (int c = 0; c < l.canvas_cols; c++) {
            cell ce = cell_at(l.canvas_y + r, l.canvas_x + c);
            if (!is_braille(ce.ch))
                continue;
            any = 1;
            cols_with_dots++;
            unsigned a, b;
            dot_rows(ce.ch, &a, &b);
            /* Both dot columns, the same single dot row. */
            if (a != b || (a & (a - 1)) != 0 || a == 0)
                bad++;
            int dr = r * 4 + (a == 1 ? 0 : a == 2 ? 1 : a == 4 ? 2 : 3);
            if (row_seen >= 0 && dr != row_seen)
                bad++;
            row_seen = dr;
        }
        rows_with_dots += any;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(rows_with_dots, 1);
    CHECK_INT(cols_with_dots, l.canvas_cols);                   /* across the whole width */
    CHECK(fabs(row_seen - (4 * l.canvas_rows - 1) / 2.0) <= 0.5); /* in the middle */
    char buf[128];
    text_at(2, 3, 83, buf, sizeof buf);
    CHECK(strstr(buf, "loss") == buf);
    CHECK(strstr(buf, "log10 y") != NULL);
    CHECK(strstr(buf, "500 points") != NULL);
    text_at(2 + 18, l.canvas_x, 83, buf, sizeof buf); /* x labels */
    CHECK(strncmp(buf, "1 ", 2) == 0);
    CHECK(strlen(buf) >= 3 && !strcmp(buf + strlen(buf) - 3, "500"));
    text_at(2 + 19, 3, 83, buf, sizeof buf);          /* status */
    CHECK(strstr(buf, "loss 0.5") == buf);
    CHECK(strstr(buf, "smoothed 0.5") != NULL);
    CHECK(strstr(buf, "min 0.5 @1") != NULL);
    CHECK(strstr(buf, "smoothing 0.6") != NULL);
    CHECK_INT(outside_marks(2, 3, 20, 80), 0);
    ls_free(s);
}

/* The topmost dot row of the line (bold cells) in each cell column; -1 where none. */
static void line_profile(const plot_layout *l, int *top)
{
    for (int c = 0; c < l->canvas_cols; c++) {
        top[c] = -1;
        for (int r = 0; r < l->canvas_rows && top[c] < 0; r++) {
            cell ce = cell_at(l->canvas_y + r, l->canvas_x + c);
            if (!is_braille(ce.ch) || !(ce.attr & A_BOLD))
                continue;
            unsigned a, b;
            dot_rows(ce.ch, &a, &b);
            unsigned m = a | b;
            for (int k = 0; k < 4; k++)
                if (m & (1u << k)) {
                    top[c] = r * 4 + k;
                    break;
                }
        }
    }
}

static void test_decreasing_series_goes_down(void)
{
    loss_series *s = ls_new(0, 0.6);
    for (int i = 0; i < 1000; i++)
        ls_append(s, i, 2.0 * exp(-i / 300.0) + 0.05);
    plot_layout l;
    draw(s, 0, 0, 24, 90, NULL, &l);
    int top[100];
    line_profile(&l, top);
    int bad = 0, missing = 0;
    for (int c = 0; c < l.canvas_cols; c++) {
        if (top[c] < 0)
            missing++;
        else if (c > 0 && top[c - 1] >= 0 && top[c] < top[c - 1])
            bad++; /* never goes up */
    }
    CHECK_INT(missing, 0);
    CHECK_INT(bad, 0);
    CHECK(top[l.canvas_cols - 1] - top[0] > 2 * l.canvas_rows); /* a good part of the height */
    ls_free(s);
}

static void test_log_ticks_at_decades(void)
{
    loss_series *s = ls_new(0, 0.0); /* w 0: the line is the raw series */
    const int n = 3000;
    for (int i = 0; i < n; i++)
        ls_append(s, i, pow(10, 0.5 - 3.0 * i / (n - 1))); /* 3.16 .. 0.00316 */
    plot_layout l;
    draw(s, 1, 2, 26, 96, NULL, &l);
    CHECK(l.log_y);
    int r1 = label_row(&l, 2, "1"), r01 = label_row(&l, 2, "0.1"), r001 = label_row(&l, 2, "0.01");
    CHECK(r1 >= 0 && r01 > r1 && r001 > r01);
    /* Decades are evenly spaced on a log axis. */
    CHECK(abs((r01 - r1) - (r001 - r01)) <= 1);
    CHECK(label_row(&l, 2, "0.5") < 0); /* 3 decades or more: decades only */
    /* The axis has a tick mark at the labelled rows. */
    if (r01 >= 0)
        CHECK(cell_at(l.canvas_y + r01, l.canvas_x - 1).ch == 0x2524);
    /* The line crosses 0.1 on the tick's row, a third of the way along. */
    int top[100];
    line_profile(&l, top);
    int c = (l.canvas_cols - 1) / 2; /* 10^(0.5 - 1.5) = 0.1 at the middle */
    CHECK(top[c] >= 0 && abs(top[c] / 4 - r01) <= 1);
    ls_free(s);
}

static void test_log_125_ticks_within_two_decades(void)
{
    loss_series *s = ls_new(0, 0.6);
    for (int i = 0; i < 400; i++)
        ls_append(s, i, 0.9 - 0.75 * i / 399.0); /* 0.9 .. 0.15 */
    plot_layout l;
    draw(s, 0, 0, 22, 70, NULL, &l);
    CHECK(l.log_y);
    int r5 = label_row(&l, 0, "0.5"), r2 = label_row(&l, 0, "0.2");
    CHECK(r5 >= 0 && r2 > r5);
    CHECK(l.ticks >= 2);
    ls_free(s);

    /* Under a decade with no 1-2-5 value inside: 1-2-5 steps of the values. */
    s = ls_new(0, 0.6);
    for (int i = 0; i < 100; i++)
        ls_append(s, i, 0.3 + 0.15 * i / 99.0);
    draw(s, 0, 0, 22, 70, NULL, &l);
    CHECK(l.log_y);
    CHECK(l.ticks >= 2);
    CHECK(label_row(&l, 0, "0.4") >= 0);
    ls_free(s);
}

static void test_linear_when_a_value_is_not_positive(void)
{
    loss_series *s = ls_new(0, 0.6);
    for (int i = 0; i < 200; i++)
        ls_append(s, i, 1.0 - 2.0 * i / 199.0);
    plot_layout l;
    draw(s, 0, 0, 20, 70, NULL, &l);
    CHECK(!l.log_y);
    char buf[128];
    text_at(0, 0, 70, buf, sizeof buf);
    CHECK(strstr(buf, "linear y (a value <= 0)") != NULL);
    CHECK(label_row(&l, 0, "0") >= 0);
    ls_free(s);

    /* Asked for. */
    s = ls_new(0, 0.6);
    for (int i = 0; i < 200; i++)
        ls_append(s, i, 1.0 + i);
    plot_opts o = {.title = "train loss", .linear = true};
    draw(s, 0, 0, 20, 70, &o, &l);
    CHECK(!l.log_y);
    text_at(0, 0, 70, buf, sizeof buf);
    CHECK(strstr(buf, "train loss") == buf);
    CHECK(strstr(buf, "linear y") != NULL && strstr(buf, "(a value") == NULL);
    CHECK(label_row(&l, 0, "100") >= 0);
    ls_free(s);
}

static void test_band_dim_line_bold(void)
{
    loss_series *s = ls_new(0, 0.95);
    unsigned r = 12345;
    for (int i = 0; i < 5000; i++) {
        r = r * 1103515245u + 12345u;
        double noise = (double)(r >> 8) / (double)(1u << 24);
        ls_append(s, i, 1.0 + 0.8 * noise); /* a wide band around a flat mean */
    }
    plot_layout l;
    draw(s, 0, 0, 24, 80, NULL, &l);
    int dim = 0, bold = 0, other = 0;
    for (int y = 0; y < l.canvas_rows; y++)
        for (int x = 0; x < l.canvas_cols; x++) {
            cell c = cell_at(l.canvas_y + y, l.canvas_x + x);
            if (!is_braille(c.ch))
                continue;
            if (c.attr & A_BOLD)
                bold++;
            else if (c.attr & A_DIM)
                dim++;
            else
                other++;
        }
    CHECK(bold >= l.canvas_cols);
    CHECK(dim > bold); /* the band is several rows tall, the line about one */
    CHECK_INT(other, 0);
    ls_free(s);
}

static void test_robust_range(void)
{
    loss_series *s = ls_new(0, 0.6);
    for (int i = 0; i < 2000; i++)
        ls_append(s, i, i == 1000 ? 1e6 : 0.5 + 0.1 * sin(i / 50.0));
    ls_append(s, 2000, NAN);
    plot_layout l;
    draw(s, 0, 0, 20, 80, NULL, &l);
    CHECK(l.log_y);
    CHECK(l.hi < log10(2.0)); /* the spike does not set the range */
    CHECK(l.lo > log10(0.3));
    char buf[128];
    text_at(19, 0, 80, buf, sizeof buf);
    CHECK(strstr(buf, "1 NaN/Inf") != NULL);
    CHECK(strstr(buf, "loss nan") == buf);
    CHECK_INT(outside_marks(0, 0, 20, 80), 0);
    ls_free(s);
}

static void test_empty_and_tiny(void)
{
    loss_series *s = ls_new(0, 0.6);
    plot_layout l;
    draw(s, 3, 4, 12, 50, NULL, &l);
    char buf[128];
    int found = 0;
    for (int y = 3; y < 15; y++) {
        text_at(y, 4, 54, buf, sizeof buf);
        if (strstr(buf, "waiting for the first step"))
            found = 1;
    }
    CHECK(found);
    CHECK_INT(outside_marks(3, 4, 12, 50), 0);

    ls_append(s, 1, NAN);
    draw(s, 3, 4, 12, 50, NULL, &l);
    found = 0;
    for (int y = 3; y < 15; y++) {
        text_at(y, 4, 54, buf, sizeof buf);
        if (strstr(buf, "no finite loss yet"))
            found = 1;
    }
    CHECK(found);

    for (int i = 2; i < 100; i++)
        ls_append(s, i, 1.0 / i);
    const int sizes[][2] = {{0, 0}, {1, 5}, {2, 12}, {4, 40}, {5, 12}, {5, 13}, {6, 200}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        draw(s, 5, 7, sizes[k][0], sizes[k][1], NULL, &l);
        int cols = sizes[k][1] > SCR_COLS - 7 ? SCR_COLS - 7 : sizes[k][1];
        CHECK_INT(outside_marks(5, 7, sizes[k][0], cols), 0);
        if (sizes[k][0] < 5 || sizes[k][1] < PLOT_LABEL_COLS + 4)
            CHECK_INT(l.canvas_rows, 0);
    }
    ls_free(s);
}

static void test_redraw_cost(void)
{
    loss_series *s = ls_new(0, 0.9);
    for (int i = 0; i < 1000000; i++)
        ls_append(s, i, 2.0 / (1.0 + i * 1e-4) + 0.05 * (double)(i % 13) / 13.0);
    plot_layout l;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int reps = 20;
    for (int k = 0; k < reps; k++)
        draw(s, 0, 0, 28, 100, NULL, &l);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) / reps;
    CHECK(l.canvas_rows == 25);
    printf("NOTE plot: one draw of a 1,000,000-step series (%zu buckets) into 100x28 cells: %.2f ms "
           "(into the ncurses buffer, no terminal output)\n", ls_bucket_count(s), ms);
    ls_free(s);
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    curses_start();
    RUN(test_constant_series_is_one_dot_row);
    RUN(test_decreasing_series_goes_down);
    RUN(test_log_ticks_at_decades);
    RUN(test_log_125_ticks_within_two_decades);
    RUN(test_linear_when_a_value_is_not_positive);
    RUN(test_band_dim_line_bold);
    RUN(test_robust_range);
    RUN(test_empty_and_tiny);
    RUN(test_redraw_cost);
    curses_stop();
    return check_finish();
}
