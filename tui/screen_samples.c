/* The Samples screen: the run's sample images as a grid of prompt (rows) x step (columns), the
 * newest steps in view unless the user scrolls back; two steps marked and compared side by side,
 * larger; one cell zoomed to fill the screen. Images go through the preview layer as on the
 * Dataset screen, one placement per cell. The grid is rebuilt from the run's sample list on every
 * frame (it is small), so samples written while the run goes on appear at the next redraw. */
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "tui/draw.h"
#include "tui/keymap.h"
#include "tui/preview.h"
#include "tui/run_watch.h"
#include "tui/sample_grid.h"
#include "tui/screen.h"

#define MIN_COLS_IN_VIEW 5 /* cells shrink (to a floor) rather than show fewer steps */

typedef enum samples_mode { MODE_GRID, MODE_COMPARE, MODE_ZOOM } samples_mode;

typedef struct samples_state {
    samples_mode mode;
    int prompt;        /* the cursor's row */
    int64_t step;      /* the cursor's column, by step, so it stays put as columns arrive */
    bool follow;       /* the cursor is on the newest step and moves on with it */
    size_t left;       /* first column in view */
    int ptop;          /* first prompt in view */
    int64_t marks[2];  /* the steps marked for comparing, oldest mark first */
    int n_marks;
    const run_watch *seen; /* the run the above is about: another one starts afresh */
    sample_grid g;
} samples_state;

/* Where the grid's parts go this frame. */
typedef struct grid_layout {
    int label_w;         /* the prompts' column */
    int cell_w, cell_h;  /* a cell, with one column and one row of gap */
    int n_cols, n_rows;  /* cells in view */
    int y0, x0;          /* the first cell's corner */
} grid_layout;

static samples_state *st(app *a)
{
    return a->screen_state[SCREEN_SAMPLES];
}

static void *samples_create(app *a)
{
    (void)a;
    samples_state *s = calloc(1, sizeof *s);
    if (s)
        s->follow = true;
    return s;
}

static void samples_destroy(void *p)
{
    samples_state *s = p;
    if (s)
        sample_grid_free(&s->g);
    free(s);
}

/* The grid as the run has it now; the cursor kept on its step (or the newest, following). */
static void grid_refresh(app *a)
{
    samples_state *s = st(a);
    if (s->seen != a->run)
        *s = (samples_state){.follow = true, .seen = a->run, .g = s->g};
    sample_grid_free(&s->g);
    sample_grid_build(&s->g, a->run);
    if (!s->g.n_steps)
        return;
    if (s->follow)
        s->step = s->g.steps[s->g.n_steps - 1];
    s->step = s->g.steps[sample_grid_column(&s->g, s->step)];
    if (s->prompt >= s->g.n_prompts)
        s->prompt = s->g.n_prompts - 1;
}

static size_t cur_col(const samples_state *s)
{
    return sample_grid_column(&s->g, s->step);
}

static const char *prompt_text(const app *a, int p)
{
    if (a->run && p >= 0 && (size_t)p < a->run->n_prompts)
        return a->run->prompts[p];
    return "(prompt not known)";
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Cells as large as the prompts allow (all of them in view when they fit), square images. */
static void layout_get(app *a, int top, int rows, grid_layout *l)
{
    samples_state *s = st(a);
    int avail_h = rows - 3, n_p = s->g.n_prompts ? s->g.n_prompts : 1;
    l->label_w = clampi(COLS / 6, 14, 28);
    int avail_w = COLS - l->label_w;
    int cw = a->caps.cell_w > 0 ? a->caps.cell_w : 8, ch = a->caps.cell_h > 0 ? a->caps.cell_h : 16;
    int fit_w = (avail_w / MIN_COLS_IN_VIEW - 1) * cw / ch + 1; /* MIN_COLS_IN_VIEW steps across */
    l->cell_h = clampi(avail_h / n_p < fit_w ? avail_h / n_p : fit_w, 4, 14);
    l->cell_w = clampi((l->cell_h - 1) * ch / cw + 1, 12, avail_w);
    l->n_cols = avail_w / l->cell_w > 0 ? avail_w / l->cell_w : 1;
    l->n_rows = avail_h / l->cell_h > 0 ? avail_h / l->cell_h : 1;
    l->y0 = top + 2;
    l->x0 = l->label_w;
}

/* Keeps the cursor's cell in view; following, the newest column is the last in view. */
static void scroll_fit(samples_state *s, const grid_layout *l)
{
    size_t c = cur_col(s), n = (size_t)l->n_cols;
    if (s->follow && s->g.n_steps > n)
        s->left = s->g.n_steps - n;
    if (c < s->left)
        s->left = c;
    if (c >= s->left + n)
        s->left = c - n + 1;
    if (s->left + n > s->g.n_steps)
        s->left = s->g.n_steps > n ? s->g.n_steps - n : 0;
    if (s->prompt < s->ptop)
        s->ptop = s->prompt;
    if (s->prompt >= s->ptop + l->n_rows)
        s->ptop = s->prompt - l->n_rows + 1;
}

static int mark_of(const samples_state *s, int64_t step)
{
    for (int i = 0; i < s->n_marks; i++)
        if (s->marks[i] == step)
            return i;
    return -1;
}

/* ---- drawing ---- */

/* An image in a box; where the terminal shows none (--graphics none), its file name instead. */
static void image_box(app *a, int y, int x, int rows, int cols, const char *path)
{
    if (!path) {
        draw_text(y + rows / 2, x + cols / 2, 1, "-", TH_DIM);
        return;
    }
    if (a->caps.gfx != GFX_NONE) {
        preview_place(a->pv, y, x, rows, cols, path);
        return;
    }
    const char *base = strrchr(path, '/');
    draw_wrapped(y + rows / 2, x, cols, rows - rows / 2, base ? base + 1 : path, TH_DIM);
}

static void empty_draw(app *a, int top)
{
    if (!a->run) {
        draw_text(top + 1, 2, COLS - 4, "No run yet.", TH_TITLE);
    } else {
        draw_textf(top + 1, 2, COLS - 4, TH_TITLE, "No samples yet: %s, step %lld.",
                   run_watch_state_name(a->run), (long long)a->run->step);
        draw_text(top + 2, 2, COLS - 4, a->run->run_dir ? a->run->run_dir : "", TH_DIM);
    }
    draw_wrapped(top + 4, 2, COLS - 4, 3,
                 "Samples are images the run draws from its prompts as it trains: set "
                 "sample_prompts and sample_every_n_steps in the Train screen (4), then start "
                 "the run (T). They appear here as they are written: prompts down, steps across.",
                 TH_NORMAL);
    draw_text(top + 8, 2, COLS - 4, "An earlier run: :run DIR opens its folder (:run alone, the "
              "newest run of this dataset).", TH_DIM);
}

static void info_draw(app *a, int y)
{
    samples_state *s = st(a);
    char marks[96] = "";
    if (s->n_marks == 2)
        snprintf(marks, sizeof marks, "marked steps %lld and %lld: c compares",
                 (long long)s->marks[0], (long long)s->marks[1]);
    else if (s->n_marks == 1)
        snprintf(marks, sizeof marks, "marked step %lld: mark another (Space)",
                 (long long)s->marks[0]);
    else
        snprintf(marks, sizeof marks, "Space marks two steps to compare");
    int room = COLS - (int)strlen(marks) - 2; /* the hint on the right keeps its place */
    int x = draw_textf(y, 0, room, TH_TITLE, "%zu samples: %d prompts x %zu steps  ",
                       a->run->n_samples, s->g.n_prompts, s->g.n_steps);
    if (room - x > 0)
        draw_textf(y, x, room - x, TH_DIM, "%s · %s", run_watch_state_name(a->run),
                   a->run->run_dir ? a->run->run_dir : "");
    draw_text_right(y, COLS, marks, s->n_marks ? TH_MARKED : TH_DIM);
}

static void header_draw(app *a, const grid_layout *l)
{
    samples_state *s = st(a);
    int y = l->y0 - 1;
    if (s->left > 0)
        draw_textf(y, 0, l->label_w, TH_DIM, "< %zu earlier", s->left);
    for (int k = 0; k < l->n_cols && s->left + k < s->g.n_steps; k++) {
        size_t c = s->left + k;
        int m = mark_of(s, s->g.steps[c]);
        theme_el el = c == cur_col(s) ? TH_CURSOR : m >= 0 ? TH_MARKED : TH_TITLE;
        draw_textf(y, l->x0 + k * l->cell_w, l->cell_w - 1, el, "%sstep %lld",
                   m >= 0 ? (m ? "B " : "A ") : "", (long long)s->g.steps[c]);
    }
    size_t after = s->left + l->n_cols;
    if (after < s->g.n_steps)
        draw_textf(y, COLS - 10, 10, TH_DIM, "%zu more >", s->g.n_steps - after);
}

static void row_draw(app *a, const grid_layout *l, int p, int y)
{
    samples_state *s = st(a);
    int img_rows = l->cell_h - 1;
    bool cur_row = p == s->prompt;
    draw_textf(y, 0, l->label_w - 1, cur_row ? TH_CURSOR : TH_KEY, "%d", p + 1);
    draw_wrapped(y + 1, 0, l->label_w - 1, img_rows - 1, prompt_text(a, p),
                 cur_row ? TH_NORMAL : TH_DIM);
    for (int k = 0; k < l->n_cols && s->left + k < s->g.n_steps; k++) {
        size_t c = s->left + k;
        int x = l->x0 + k * l->cell_w;
        image_box(a, y, x, img_rows, l->cell_w - 1, sample_grid_cell(&s->g, p, c));
        if (cur_row && c == cur_col(s)) /* the gap row under the cursor's cell */
            draw_fill(y + img_rows, x, l->cell_w - 1, TH_CURSOR);
    }
}

/* The columns just out of view, so that scrolling finds them decoded. */
static void neighbours_prefetch(app *a, const grid_layout *l)
{
    samples_state *s = st(a);
    size_t cols[2] = {s->left - 1, s->left + (size_t)l->n_cols}; /* the first may wrap: skipped */
    if (a->caps.gfx == GFX_NONE)
        return;
    for (int r = 0; r < l->n_rows && s->ptop + r < s->g.n_prompts; r++)
        for (int k = 0; k < 2; k++) {
            const char *path = sample_grid_cell(&s->g, s->ptop + r, cols[k]);
            if (path)
                preview_prefetch(a->pv, path, l->cell_h - 1, l->cell_w - 1);
        }
}

static void grid_draw(app *a, int top, int rows)
{
    samples_state *s = st(a);
    grid_layout l;
    layout_get(a, top, rows, &l);
    scroll_fit(s, &l);
    info_draw(a, top);
    header_draw(a, &l);
    for (int r = 0; r < l.n_rows && s->ptop + r < s->g.n_prompts; r++)
        row_draw(a, &l, s->ptop + r, l.y0 + r * l.cell_h);
    neighbours_prefetch(a, &l);
    const char *path = sample_grid_cell(&s->g, s->prompt, cur_col(s));
    draw_textf(top + rows - 1, 0, COLS, TH_DIM, "prompt %d, step %lld: %s", s->prompt + 1,
               (long long)s->step, path ? path : "no image");
}

/* Prompt p's images at two steps, side by side. */
static void compare_draw(app *a, int top, int rows)
{
    samples_state *s = st(a);
    int64_t st2[2] = {s->marks[0] < s->marks[1] ? s->marks[0] : s->marks[1],
                      s->marks[0] < s->marks[1] ? s->marks[1] : s->marks[0]};
    int w = (COLS - 1) / 2, img_rows = rows - 4;
    draw_textf(top, 0, COLS, TH_TITLE, "Compare step %lld | step %lld, prompt %d of %d  "
               "(up/down: another prompt, Esc: the grid)", (long long)st2[0], (long long)st2[1],
               s->prompt + 1, s->g.n_prompts);
    draw_text(top + 1, 0, COLS, prompt_text(a, s->prompt), TH_NORMAL);
    for (int i = 0; i < 2; i++) {
        int x = i * (w + 1);
        const char *path = sample_grid_cell(&s->g, s->prompt, sample_grid_column(&s->g, st2[i]));
        image_box(a, top + 2, x, img_rows, w, path);
        draw_textf(top + 2 + img_rows, x + w / 2 - 6, w / 2 + 6, TH_MARKED, "step %lld",
                   (long long)st2[i]);
    }
}

/* The cursor's cell alone, as large as the screen allows. */
static void zoom_draw(app *a, int top, int rows)
{
    samples_state *s = st(a);
    const char *path = sample_grid_cell(&s->g, s->prompt, cur_col(s));
    draw_textf(top, 0, COLS, TH_TITLE, "Prompt %d of %d, step %lld  (arrows: neighbours, Esc: "
               "the grid)", s->prompt + 1, s->g.n_prompts, (long long)s->step);
    draw_text(top + 1, 0, COLS, prompt_text(a, s->prompt), TH_NORMAL);
    image_box(a, top + 2, 0, rows - 3, COLS, path);
    draw_text(top + rows - 1, 0, COLS, path ? path : "no image at this step", TH_DIM);
}

static void samples_draw(app *a, int top, int rows)
{
    samples_state *s = st(a);
    grid_refresh(a);
    if (!s->g.n_steps) {
        s->mode = MODE_GRID;
        empty_draw(a, top);
    } else if (s->mode == MODE_COMPARE && s->n_marks == 2) {
        compare_draw(a, top, rows);
    } else if (s->mode == MODE_ZOOM) {
        zoom_draw(a, top, rows);
    } else {
        s->mode = MODE_GRID;
        grid_draw(a, top, rows);
    }
}

/* ---- keys ---- */

static void column_move(app *a, long d)
{
    samples_state *s = st(a);
    grid_refresh(a);
    if (!s->g.n_steps)
        return;
    long c = (long)cur_col(s) + d, last = (long)s->g.n_steps - 1;
    c = c < 0 ? 0 : c > last ? last : c;
    s->step = s->g.steps[c];
    s->follow = c == last;
}

static void prompt_move(app *a, int d)
{
    samples_state *s = st(a);
    grid_refresh(a);
    s->prompt = clampi(s->prompt + d, 0, s->g.n_prompts ? s->g.n_prompts - 1 : 0);
}

static void act_left(app *a) { column_move(a, -1); }
static void act_right(app *a) { column_move(a, 1); }
static void act_up(app *a) { prompt_move(a, -1); }
static void act_down(app *a) { prompt_move(a, 1); }
static void act_first(app *a) { column_move(a, -(1L << 40)); }
static void act_newest(app *a) { column_move(a, 1L << 40); }

static void act_page_left(app *a)
{
    grid_layout l;
    layout_get(a, 1, LINES - 3, &l);
    column_move(a, -l.n_cols);
}

static void act_page_right(app *a)
{
    grid_layout l;
    layout_get(a, 1, LINES - 3, &l);
    column_move(a, l.n_cols);
}

/* Marks the cursor's step (or unmarks it); a third mark replaces the oldest. */
static void act_mark(app *a)
{
    samples_state *s = st(a);
    grid_refresh(a);
    if (!s->g.n_steps)
        return;
    int m = mark_of(s, s->step);
    if (m >= 0) {
        s->marks[m] = s->marks[1];
        s->n_marks--;
        app_say(a, "step %lld unmarked", (long long)s->step);
        return;
    }
    if (s->n_marks == 2)
        s->marks[0] = s->marks[1], s->n_marks = 1;
    s->marks[s->n_marks++] = s->step;
    if (s->n_marks == 2)
        app_say(a, "steps %lld and %lld marked: c compares them", (long long)s->marks[0],
                (long long)s->marks[1]);
    else
        app_say(a, "step %lld marked: mark another to compare", (long long)s->step);
}

static void act_unmark(app *a)
{
    st(a)->n_marks = 0;
}

static void act_compare(app *a)
{
    samples_state *s = st(a);
    grid_refresh(a);
    if (s->mode == MODE_COMPARE) {
        s->mode = MODE_GRID;
        return;
    }
    if (s->n_marks == 1 && s->marks[0] != s->step) /* the mark and the cursor's step */
        s->marks[s->n_marks++] = s->step;
    if (s->n_marks < 2) {
        app_error(a, "mark two steps first (Space on each)");
        return;
    }
    s->mode = MODE_COMPARE;
}

static void act_zoom(app *a)
{
    samples_state *s = st(a);
    grid_refresh(a);
    if (s->g.n_steps)
        s->mode = s->mode == MODE_ZOOM ? MODE_GRID : MODE_ZOOM;
}

static void act_back(app *a)
{
    st(a)->mode = MODE_GRID;
}

/* A click puts the cursor on a cell; the wheel scrolls the steps. */
static void samples_click(app *a, int y, int x, int button)
{
    samples_state *s = st(a);
    grid_layout l;
    grid_refresh(a);
    if (button == 4 || button == 5) {
        column_move(a, button == 4 ? -1 : 1);
        return;
    }
    layout_get(a, 1, LINES - 3, &l);
    if (s->mode != MODE_GRID || !s->g.n_steps || y < l.y0 || x < l.x0)
        return;
    size_t c = s->left + (size_t)((x - l.x0) / l.cell_w);
    int p = s->ptop + (y - l.y0) / l.cell_h;
    if (c >= s->g.n_steps || p >= s->g.n_prompts || (y - l.y0) / l.cell_h >= l.n_rows)
        return;
    s->prompt = p;
    s->step = s->g.steps[c];
    s->follow = c + 1 == s->g.n_steps;
}

static const key_binding samples_keys[] = {
    {{KEY_FN(KEY_LEFT), 'h'}, act_left, "earlier step", NULL},
    {{KEY_FN(KEY_RIGHT), 'l'}, act_right, "later step", NULL},
    {{KEY_FN(KEY_UP), 'k'}, act_up, "previous prompt", NULL},
    {{KEY_FN(KEY_DOWN), 'j'}, act_down, "next prompt", NULL},
    {{KEY_FN(KEY_HOME), 'g'}, act_first, "first step", NULL},
    {{KEY_FN(KEY_END), 'G'}, act_newest, "newest step (and follow new ones)", "Newest"},
    {{KEY_FN(KEY_PPAGE)}, act_page_left, "a page of earlier steps", NULL},
    {{KEY_FN(KEY_NPAGE)}, act_page_right, "a page of later steps", NULL},
    {{' ', 'm'}, act_mark, "mark / unmark this step for comparing (two at most)", "Mark"},
    {{'x'}, act_unmark, "clear the marks", NULL},
    {{'c'}, act_compare, "compare the two marked steps side by side", "Compare"},
    {{'z', '\r', '\n', KEY_FN(KEY_ENTER)}, act_zoom, "zoom this image to the whole screen", "Zoom"},
    {{KEY_ESC}, act_back, "back to the grid", NULL},
    {{0}, NULL, NULL, NULL},
};

const screen_def screen_samples = {
    .name = "Samples",
    .create = samples_create,
    .destroy = samples_destroy,
    .draw = samples_draw,
    .click = samples_click,
    .keys = samples_keys,
};
