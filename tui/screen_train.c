/* The Train screen: the whole run config as a form in the sections of the saved file, what it
 * means for the open dataset above it, and the key that starts the run. Every change is checked
 * by run_config_validate and saved at once to the app's config file, as on the Captions screen
 * (which edits the same config). Another JSON config (a kohya_ss GUI one too) loads into the
 * form; the form writes to another file on request. */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trainer/run_config.h"
#include "tui/ask.h"
#include "tui/draw.h"
#include "tui/keymap.h"
#include "tui/overlay.h"
#include "tui/prompt.h"
#include "tui/run_watch.h"
#include "tui/screen.h"
#include "tui/train_config.h"
#include "tui/train_form.h"

#define MAX_ROWS 128
#define ROW_START (-1)   /* the "Start training" row */
#define ROW_SECTION (-2) /* a section's title */
#define SUMMARY_ROWS 5   /* title, three lines of figures, a blank */
#define KEY_W 31

typedef struct form_row {
    int field;           /* ROW_START, ROW_SECTION or a train_fields index */
    const char *section;
} form_row;

typedef struct train_state {
    form_row rows[MAX_ROWS];
    int n_rows;
    int cur, top;
    run_config defaults;  /* for "back to the default" and the default shown */
    bool defaults_ok;
    int refused_field;    /* the row the last refusal is shown on; -1 none */
    char refused[1024];   /* as long as a tg_error message */
    bool picking;         /* a choice list is open under the current row */
    int pick;
    char save_path[1024]; /* the file the overwrite question is about */
} train_state;

static train_state *st(app *a)
{
    return a->screen_state[SCREEN_TRAIN];
}

static void rows_build(train_state *s)
{
    s->rows[s->n_rows++] = (form_row){ROW_START, NULL};
    const char *section = NULL;
    for (int f = 0; f < n_train_fields && s->n_rows + 2 < MAX_ROWS; f++) {
        if (!section || strcmp(section, train_fields[f].section)) {
            section = train_fields[f].section;
            s->rows[s->n_rows++] = (form_row){ROW_SECTION, section};
        }
        s->rows[s->n_rows++] = (form_row){f, section};
    }
}

static void *train_create(app *a)
{
    (void)a;
    train_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    tg_error err;
    s->defaults_ok = run_config_init(&s->defaults, &err) == 0;
    s->refused_field = -1;
    rows_build(s);
    return s;
}

static void train_destroy(void *p)
{
    train_state *s = p;
    if (s && s->defaults_ok)
        run_config_free(&s->defaults);
    free(s);
}

static int cur_field(app *a)
{
    return st(a)->rows[st(a)->cur].field;
}

/* ---- drawing ---- */

static void summary_draw(app *a, int y, int w)
{
    train_plan p;
    train_config_plan(a, &p);
    const run_config *c = a->cfg;
    draw_textf(y, 0, w, TH_TITLE, "Run config  %s", a->config_path);
    if (p.trained == p.images)
        draw_textf(y + 1, 1, w - 1, TH_NORMAL, "dataset: %zu images, %zu per epoch with repeats",
                   p.images, p.per_epoch);
    else
        draw_textf(y + 1, 1, w - 1, p.trained ? TH_NORMAL : TH_ERROR,
                   "dataset: %zu images, %zu in N_name folders (the others are not trained), "
                   "%zu per epoch with repeats", p.images, p.trained, p.per_epoch);
    draw_textf(y + 2, 1, w - 1, TH_NORMAL,
               "steps: ~%ld per epoch (batch %d x accumulation %d), %ld in all = %.3g epochs",
               p.steps_per_epoch, c->train_batch_size, c->gradient_accumulation_steps,
               p.total_steps, p.epochs);
    tg_error err;
    if (run_watch_active(a->run))
        draw_text(y + 3, 1, w - 1, "a run is going: 5 shows it (changes here are for the next run)",
                  TH_OK);
    else if (run_config_validate(c, &err) < 0) /* train_data_dir: the open dataset when unset */
        draw_textf(y + 3, 1, w - 1, TH_ERROR, "not ready to start: %s", err.msg);
    else if (!c->pretrained_model_name_or_path || !*c->pretrained_model_name_or_path)
        draw_text(y + 3, 1, w - 1, "not ready to start: pretrained_model_name_or_path: not set "
                  "(tiny, sd15 or a checkpoint file)", TH_ERROR);
    else
        draw_textf(y + 3, 1, w - 1, TH_OK, "ready: T starts training %s on %s",
                   c->train_mode ? c->train_mode : "lora", c->pretrained_model_name_or_path);
}

static void start_row_draw(app *a, int y, int w, bool cur)
{
    theme_el el = cur ? TH_CURSOR : TH_OK;
    draw_fill(y, 0, w, cur ? TH_CURSOR : TH_NORMAL);
    draw_text(y, 1, w - 1, run_watch_active(a->run) ? "> Start training (a run is going)"
                                                    : "> Start training   (Enter, T or F5)", el);
}

static void field_row_draw(app *a, int y, int w, int vw, int f, bool cur)
{
    train_state *s = st(a);
    theme_el el = cur ? TH_CURSOR : TH_NORMAL;
    char v[1024], d[1024] = "";
    train_field_value(a->cfg, f, v, sizeof v);
    if (s->defaults_ok)
        train_field_value(&s->defaults, f, d, sizeof d);
    bool changed = strcmp(v, d) != 0, unset = train_field_unset(a->cfg, f);
    draw_fill(y, 0, w, el);
    draw_text(y, 2, KEY_W, train_fields[f].key, el);
    draw_text(y, KEY_W + 3, vw, v, cur ? el : unset ? TH_DIM : changed ? TH_KEY : TH_NORMAL);
    int hx = KEY_W + 4 + vw;
    if (f == s->refused_field)
        draw_text(y, hx, w - hx, s->refused, TH_ERROR);
    else
        draw_text(y, hx, w - hx, train_field_hint(f), cur ? el : TH_DIM);
}

/* The open choice list, over the rows under the current one (above it near the bottom). */
static void picker_draw(app *a, int y, int vw, int top, int bottom)
{
    train_state *s = st(a);
    const char *list[16];
    int f = cur_field(a), n = train_field_choices(f, list, 16);
    int y0 = y + 1 + n <= bottom ? y + 1 : y - n;
    for (int i = 0; i < n; i++) /* as wide as the longest choice, over the hints if need be */
        if (list[i] && draw_width(list[i]) > vw)
            vw = draw_width(list[i]);
    for (int i = 0; i < n && y0 + i < bottom; i++) {
        if (y0 + i < top)
            continue;
        theme_el el = i == s->pick ? TH_TAB_ON : TH_HEADER;
        draw_fill(y0 + i, KEY_W + 2, vw + 2, el);
        draw_text(y0 + i, KEY_W + 3, vw, list[i] ? list[i] : "(unset)", el);
    }
}

static int value_width(void)
{
    int vw = COLS / 5;
    return vw < 16 ? 16 : vw > 40 ? 40 : vw;
}

/* Keeps the cursor's row on screen, with a few rows of context around it where there are. */
static void scroll_fit(train_state *s, int visible)
{
    int margin = visible > 12 ? 3 : 0;
    if (s->cur - margin < s->top)
        s->top = s->cur - margin;
    if (s->cur + margin >= s->top + visible)
        s->top = s->cur + margin - visible + 1;
    if (s->top > s->n_rows - visible)
        s->top = s->n_rows - visible;
    if (s->top < 0)
        s->top = 0;
}

static void train_draw(app *a, int top, int rows)
{
    train_state *s = st(a);
    int w = COLS, vw = value_width(), y0 = top + SUMMARY_ROWS;
    int visible = rows - SUMMARY_ROWS - 1, cur_y = -1;
    summary_draw(a, top, w);
    scroll_fit(s, visible);
    for (int r = 0; r < visible && s->top + r < s->n_rows; r++) {
        int i = s->top + r, y = y0 + r;
        const form_row *row = &s->rows[i];
        if (row->field == ROW_START)
            start_row_draw(a, y, w, i == s->cur);
        else if (row->field == ROW_SECTION)
            draw_textf(y, 1, w - 1, TH_TITLE, "-- %s", row->section);
        else
            field_row_draw(a, y, w, vw, row->field, i == s->cur);
        if (i == s->cur)
            cur_y = y;
    }
    int f = cur_field(a);
    if (f >= 0 && s->defaults_ok) {
        char d[1024];
        train_field_value(&s->defaults, f, d, sizeof d);
        draw_textf(top + rows - 1, 1, w - 1, TH_DIM, "%s  default %s  (d: back to it)",
                   train_fields[f].key, d);
    }
    if (s->picking && cur_y >= 0)
        picker_draw(a, cur_y, vw, top + SUMMARY_ROWS, top + rows - 1);
}

/* ---- changing ---- */

static void refused(app *a, int f, const tg_error *err)
{
    train_state *s = st(a);
    s->refused_field = f;
    snprintf(s->refused, sizeof s->refused, "%s", err->msg);
    app_error(a, "%s", err->msg);
}

/* An accepted change: saved at once, like the Captions screen's. */
static void changed(app *a, int f)
{
    tg_error err;
    char v[1024];
    st(a)->refused_field = -1;
    train_field_value(a->cfg, f, v, sizeof v);
    if (train_config_changed(a, &err) < 0)
        app_error(a, "not saved: %s", err.msg);
    else
        app_say(a, "%s = %s (saved)", train_fields[f].key, v);
}

static void field_step(app *a, int dir)
{
    int f = cur_field(a);
    tg_error err;
    if (f < 0)
        return;
    if (train_field_step(a->cfg, f, dir, &err) < 0)
        refused(a, f, &err);
    else
        changed(a, f);
}

static void submit_value(app *a, const char *text, const char *arg)
{
    (void)arg;
    int f = cur_field(a);
    tg_error err;
    if (f < 0)
        return;
    if (train_field_set(a->cfg, f, text, &err) < 0)
        refused(a, f, &err);
    else
        changed(a, f);
}

static void start(app *a)
{
    if (run_watch_start(a) == 0)
        app_show(a, SCREEN_RUN);
}

static void picker_open(app *a)
{
    train_state *s = st(a);
    int i = train_field_choice_index(a->cfg, cur_field(a));
    s->picking = true;
    s->pick = i < 0 ? 0 : i;
}

static void picker_choose(app *a)
{
    train_state *s = st(a);
    const char *list[16];
    int f = cur_field(a);
    tg_error err;
    train_field_choices(f, list, 16);
    s->picking = false;
    if (train_field_choose(a->cfg, f, list[s->pick], &err) < 0)
        refused(a, f, &err);
    else
        changed(a, f);
}

/* ---- keys ---- */

static void cursor_move(app *a, int dir)
{
    train_state *s = st(a);
    if (s->picking) {
        const char *list[16];
        int n = train_field_choices(cur_field(a), list, 16);
        s->pick = (s->pick + dir + n) % n;
        return;
    }
    int i = s->cur;
    do
        i += dir;
    while (i >= 0 && i < s->n_rows && s->rows[i].field == ROW_SECTION);
    if (i >= 0 && i < s->n_rows)
        s->cur = i;
}

static void act_down(app *a) { cursor_move(a, 1); }
static void act_up(app *a) { cursor_move(a, -1); }

static void page(app *a, int dir)
{
    for (int k = 0; k < (LINES - 3 - SUMMARY_ROWS) / 2; k++)
        cursor_move(a, dir);
}

static void act_page_down(app *a) { page(a, 1); }
static void act_page_up(app *a) { page(a, -1); }

/* The first field of the next / previous section (before the first: the Start row). */
static void section_jump(app *a, int dir)
{
    train_state *s = st(a);
    if (s->picking)
        return;
    int i = s->cur;
    if (dir > 0) {
        for (i++; i < s->n_rows && s->rows[i].field != ROW_SECTION; i++)
            ;
        if (i + 1 < s->n_rows)
            s->cur = i + 1;
        return;
    }
    while (i > 0 && s->rows[i].field != ROW_SECTION) /* this section's title */
        i--;
    for (i--; i > 0 && s->rows[i].field != ROW_SECTION; i--)
        ;
    s->cur = i > 0 ? i + 1 : 0;
}

static void act_section_next(app *a) { section_jump(a, 1); }
static void act_section_prev(app *a) { section_jump(a, -1); }

static void act_more(app *a)
{
    if (st(a)->picking)
        cursor_move(a, 1);
    else
        field_step(a, 1);
}

static void act_less(app *a)
{
    if (st(a)->picking)
        cursor_move(a, -1);
    else
        field_step(a, -1);
}

static void act_edit(app *a)
{
    int f = cur_field(a);
    if (st(a)->picking) {
        picker_choose(a);
    } else if (f == ROW_START) {
        start(a);
    } else if (train_fields[f].kind == TK_BOOL) {
        field_step(a, 1);
    } else if (train_fields[f].kind == TK_CHOICE) {
        picker_open(a);
    } else {
        char v[1024];
        train_field_text(a->cfg, f, v, sizeof v);
        prompt_open(a, train_fields[f].key, v, NULL, false, submit_value);
    }
}

static void act_escape(app *a)
{
    st(a)->picking = false;
}

static void act_default(app *a)
{
    train_state *s = st(a);
    int f = cur_field(a);
    tg_error err;
    if (f < 0 || s->picking || !s->defaults_ok)
        return;
    if (train_field_reset(a->cfg, f, &s->defaults, &err) < 0)
        refused(a, f, &err);
    else
        changed(a, f);
}

/* The first option at or after the cursor (wrapping) whose key is text, else the first that
 * holds it: 70 options are quicker found by name than by scrolling. */
static void submit_find(app *a, const char *text, const char *arg)
{
    (void)arg;
    train_state *s = st(a);
    if (!*text)
        return;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < s->n_rows; k++) {
            int i = (s->cur + k) % s->n_rows, f = s->rows[i].field;
            if (f >= 0 && (pass ? strstr(train_fields[f].key, text) != NULL
                                : strcmp(train_fields[f].key, text) == 0)) {
                s->cur = i;
                return;
            }
        }
    app_error(a, "no option is called %s", text);
}

static void act_find(app *a)
{
    st(a)->picking = false;
    prompt_open(a, "find option", "", NULL, false, submit_find);
}

static void act_start(app *a)
{
    st(a)->picking = false;
    start(a);
}

/* ---- load and save as ---- */

static void submit_load(app *a, const char *path, const char *arg)
{
    (void)arg;
    tg_error err;
    bool saved;
    if (!*path)
        return;
    if (train_config_load(a, path, &saved, &err) < 0) {
        app_error(a, "not loaded: %s", err.msg);
        return;
    }
    st(a)->refused_field = -1;
    size_t n;
    char **lines = train_config_ignored_lines(a->cfg, &n);
    char *ignored = run_config_ignored_text(a->cfg);
    if (lines)
        overlay_open(a, "Loaded: keys tagbench keeps but does not use", lines, n);
    if (!saved)
        app_error(a, "loaded %s; not saved: %s", path, err.msg);
    else
        app_say(a, "loaded %s (saved)%s%s", path, ignored && *ignored ? "; " : "",
                ignored ? ignored : "");
    free(ignored);
}

static void act_load(app *a)
{
    st(a)->picking = false;
    prompt_open(a, "load a config (kohya_ss GUI too)", a->config_path, NULL, false, submit_load);
}

static void save_as(app *a, const char *path, bool overwrite)
{
    tg_error err;
    if (train_config_save_as(a, path, overwrite, &err) < 0)
        app_error(a, "not written: %s", err.msg);
    else
        app_say(a, "config written to %s", path);
}

static void answer_overwrite(app *a, int key)
{
    if (key == 'y')
        save_as(a, st(a)->save_path, true);
    else
        app_say(a, "not written");
}

static void submit_save_as(app *a, const char *path, const char *arg)
{
    (void)arg;
    struct stat sb;
    if (!*path)
        return;
    snprintf(st(a)->save_path, sizeof st(a)->save_path, "%s", path);
    if (stat(path, &sb) == 0)
        ask_open(a, "yn", answer_overwrite, "%s exists: overwrite it? y yes · n no", path);
    else
        save_as(a, path, false);
}

static void act_save_as(app *a)
{
    st(a)->picking = false;
    prompt_open(a, "write the config to", "", NULL, false, submit_save_as);
}

static void train_enter(app *a)
{
    st(a)->picking = false;
}

/* A click picks an option's row; the wheel moves the cursor. */
static void train_click(app *a, int y, int x, int button)
{
    train_state *s = st(a);
    (void)x;
    s->picking = false;
    if (button == 4 || button == 5) {
        for (int k = 0; k < 3; k++)
            cursor_move(a, button == 4 ? -1 : 1);
        return;
    }
    int i = s->top + y - (1 + SUMMARY_ROWS);
    if (y >= 1 + SUMMARY_ROWS && y < LINES - 3 && i < s->n_rows && s->rows[i].field != ROW_SECTION)
        s->cur = i;
}

static const key_binding train_keys[] = {
    {{KEY_FN(KEY_DOWN), 'j'}, act_down, "next option", NULL},
    {{KEY_FN(KEY_UP), 'k'}, act_up, "previous option", NULL},
    {{KEY_FN(KEY_NPAGE)}, act_page_down, "half a page down", NULL},
    {{KEY_FN(KEY_PPAGE)}, act_page_up, "half a page up", NULL},
    {{']'}, act_section_next, "next section", NULL},
    {{'['}, act_section_prev, "previous section", NULL},
    {{'+', KEY_FN(KEY_RIGHT), 'l'}, act_more, "increase / next choice (a switch toggles)", "More"},
    {{'-', KEY_FN(KEY_LEFT), 'h'}, act_less, "decrease / previous choice", "Less"},
    {{' '}, act_more, "toggle a switch, next choice", NULL},
    {{'\r', '\n', KEY_FN(KEY_ENTER), 'e'}, act_edit,
     "type a value, pick a choice; on Start training: start", "Edit"},
    {{'/'}, act_find, "find an option by name", "Find"},
    {{'d', KEY_FN(KEY_DC)}, act_default, "back to the default value", NULL},
    {{KEY_ESC}, act_escape, "close the choice list", NULL},
    {{'T', KEY_FN(KEY_F(5))}, act_start, "start training (then the Run screen)", "Train"},
    {{'L'}, act_load, "load another JSON config into the form (kohya_ss GUI configs too)", "Load"},
    {{'W'}, act_save_as, "write the config to another file", "Write"},
    {{0}, NULL, NULL, NULL},
};

const screen_def screen_train = {
    .name = "Train",
    .create = train_create,
    .destroy = train_destroy,
    .enter = train_enter,
    .draw = train_draw,
    .click = train_click,
    .keys = train_keys,
};
