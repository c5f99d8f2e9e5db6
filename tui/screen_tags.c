/* The Tags screen: the occurrence table (count, share, bar, tag), overall or for one folder,
 * sorted by count or name, filtered by a substring or glob; and the edits that act on a tag
 * everywhere: rename, merge into another tag, delete. Each is one undoable step. */
#include <curses.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/occurrence.h"
#include "tui/ask.h"
#include "tui/dataset_screen.h"
#include "tui/draw.h"
#include "tui/occ_export.h"
#include "tui/prompt.h"
#include "tui/screen.h"

typedef struct tags_state {
    occ_sort sort;
    uint32_t folder;        /* OCC_ALL_FOLDERS or a folder index */
    char *match;            /* the tag-name filter, or NULL */
    list_pos pos;
    occ_entry *rows;        /* this frame's rows (rebuilt every frame: counts change with edits) */
    size_t n;
    char *doomed;           /* the tag a delete question is about */
} tags_state;

static tags_state *st(app *a)
{
    return a->screen_state[SCREEN_TAGS];
}

static void *tags_create(app *a)
{
    (void)a;
    tags_state *s = calloc(1, sizeof *s);
    if (s)
        s->folder = OCC_ALL_FOLDERS;
    return s;
}

static void tags_destroy(void *p)
{
    tags_state *s = p;
    if (!s)
        return;
    free(s->rows);
    free(s->match);
    free(s->doomed);
    free(s);
}

/* Case-insensitive substring, or a glob when the text holds * ? [ */
static bool name_matches(const char *match, const char *tag)
{
    if (strpbrk(match, "*?["))
        return fnmatch(match, tag, FNM_CASEFOLD) == 0;
    return strcasestr(tag, match) != NULL;
}

static void rows_build(app *a, tags_state *s)
{
    free(s->rows);
    s->rows = occurrence_list(a->ds, s->folder, s->sort, &s->n);
    if (!s->rows) {
        s->n = 0;
        return;
    }
    if (!s->match)
        return;
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (name_matches(s->match, dataset_tag_text(a->ds, s->rows[i].tag)))
            s->rows[k++] = s->rows[i];
    s->n = k;
}

static uint32_t folder_images(app *a, tags_state *s)
{
    return s->folder == OCC_ALL_FOLDERS ? (uint32_t)a->ds->n_items : a->ds->folders[s->folder].n_items;
}

/* A bar of eighth blocks, `cells` wide at 100%. */
static void bar_draw(int y, int x, int cells, double frac)
{
    static const char *const eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    int units = (int)(frac * cells * 8 + 0.5);
    char buf[512] = "";
    for (int c = 0; c < units / 8 && c < cells; c++)
        strcat(buf, "█");
    strcat(buf, eighths[units % 8]);
    draw_text(y, x, cells, buf, TH_KEY);
}

static void title_draw(app *a, tags_state *s, int y)
{
    char t[512];
    int n = snprintf(t, sizeof t, "%zu tags · sorted by %s · ", s->n,
                     s->sort == OCC_BY_COUNT ? "count" : "name");
    if (s->folder == OCC_ALL_FOLDERS) {
        snprintf(t + n, sizeof t - n, "all %zu images", a->ds->n_items);
    } else {
        const ds_folder *f = &a->ds->folders[s->folder];
        n += snprintf(t + n, sizeof t - n, "folder %s (%u images", *f->rel ? f->rel : ".", f->n_items);
        if (f->repeats)
            n += snprintf(t + n, sizeof t - n, ", %d repeats", f->repeats);
        snprintf(t + n, sizeof t - n, ")");
    }
    int x = draw_text(y, 0, COLS, t, TH_TITLE);
    if (s->match) {
        x += draw_text(y, x, COLS - x, " · matching ", TH_TITLE);
        draw_text(y, x, COLS - x, s->match, TH_KEY);
    }
}

static void row_draw(app *a, tags_state *s, int y, size_t k)
{
    const occ_entry *e = &s->rows[k];
    bool cur = k == s->pos.cur;
    theme_el el = cur ? TH_CURSOR : TH_NORMAL;
    uint32_t images = folder_images(a, s);
    double frac = images ? (double)e->count / images : 0;
    int bar_w = COLS / 5;
    draw_fill(y, 0, COLS, el);
    draw_textf(y, 0, 16, el, "%7u %5.1f%% ", e->count, 100 * frac);
    bar_draw(y, 15, bar_w, frac);
    draw_text(y, 16 + bar_w, COLS - 16 - bar_w, dataset_tag_text(a->ds, e->tag), el);
}

static void tags_draw(app *a, int top, int rows)
{
    tags_state *s = st(a);
    rows_build(a, s);
    title_draw(a, s, top);
    draw_textf(top + 1, 0, COLS, TH_DIM, "%7s %6s %-*s %s", "images", "share", COLS / 5, "", "tag");
    int list_rows = rows - 2;
    list_clamp(&s->pos, s->n, list_rows);
    for (int r = 0; r < list_rows && s->pos.top + r < s->n; r++)
        row_draw(a, s, top + 2 + r, s->pos.top + r);
    if (!s->n)
        draw_text(top + 2, 2, COLS - 2, s->match ? "no tag matches" : "no tags", TH_DIM);
}

static void tags_click(app *a, int y, int x, int button)
{
    (void)x;
    tags_state *s = st(a);
    if (button == 4)
        s->pos.cur = s->pos.cur > 3 ? s->pos.cur - 3 : 0;
    else if (button == 5)
        s->pos.cur += 3;
    else if (y >= 3)
        s->pos.cur = s->pos.top + (size_t)(y - 3);
}

/* The highlighted row's tag text, or NULL with a message. */
static const char *current_tag(app *a)
{
    tags_state *s = st(a);
    rows_build(a, s);
    if (s->pos.cur >= s->n) {
        app_error(a, "no tag highlighted");
        return NULL;
    }
    return dataset_tag_text(a->ds, s->rows[s->pos.cur].tag);
}

static void move_by(app *a, long d)
{
    tags_state *s = st(a);
    long c = (long)s->pos.cur + d;
    s->pos.cur = c < 0 ? 0 : (size_t)c; /* the upper end is clamped when drawn */
}

static void act_down(app *a) { move_by(a, 1); }
static void act_up(app *a) { move_by(a, -1); }
static void act_page_down(app *a) { move_by(a, LINES - 6); }
static void act_page_up(app *a) { move_by(a, -(LINES - 6)); }
static void act_home(app *a) { st(a)->pos.cur = 0; }
static void act_end(app *a) { st(a)->pos.cur = (size_t)-1 / 2; }

static void act_sort(app *a)
{
    tags_state *s = st(a);
    s->sort = s->sort == OCC_BY_COUNT ? OCC_BY_NAME : OCC_BY_COUNT;
    s->pos.cur = s->pos.top = 0;
}

/* Cycles all → each folder that holds images → all. */
static void folder_step(app *a, int d)
{
    tags_state *s = st(a);
    size_t nf = a->ds->n_folders;
    long f = s->folder == OCC_ALL_FOLDERS ? (d > 0 ? -1 : (long)nf) : (long)s->folder;
    for (size_t tries = 0; tries <= nf; tries++) {
        f += d;
        if (f < 0 || f >= (long)nf) {
            s->folder = OCC_ALL_FOLDERS;
            break;
        }
        if (a->ds->folders[f].n_items) {
            s->folder = (uint32_t)f;
            break;
        }
    }
    s->pos.cur = s->pos.top = 0;
}

static void act_folder_next(app *a) { folder_step(a, 1); }
static void act_folder_prev(app *a) { folder_step(a, -1); }

static void submit_match(app *a, const char *text, const char *arg)
{
    (void)arg;
    tags_state *s = st(a);
    free(s->match);
    s->match = *text ? strdup(text) : NULL;
    s->pos.cur = s->pos.top = 0;
}

static void act_match(app *a)
{
    prompt_open(a, "show tags containing (or glob*)", st(a)->match, NULL, false, submit_match);
}

/* Enter: the Dataset screen, showing the images that carry the tag. */
static void act_jump(app *a)
{
    const char *t = current_tag(a);
    if (!t)
        return;
    char expr[1100];
    filter_quote(t, expr, sizeof expr);
    if (app_set_filter(a, expr) == 0) {
        a->focus = FOCUS_FILES;
        app_show(a, SCREEN_DATASET);
    }
}

static void everywhere(app *a, edit_kind kind, const char *x, const char *y, const char *what)
{
    edit_op op;
    tg_error err;
    if (edit_op_init(&op, kind, x, y, 0, &err) < 0) {
        app_error(a, "%s: %s", what, err.msg);
        edit_op_free(&op);
        return;
    }
    size_t n;
    uint32_t *sel = dataset_select_all(a->ds, &n);
    if (sel)
        app_apply(a, &op, 1, sel, n, what);
    free(sel);
    edit_op_free(&op);
}

static void submit_rename(app *a, const char *text, const char *old)
{
    char what[1200];
    long id = dataset_tag_id(a->ds, text);
    bool merge = id >= 0 && dataset_occurrence(a->ds, (uint32_t)id) > 0 && strcmp(text, old);
    snprintf(what, sizeof what, "%s \"%s\" %s \"%s\"", merge ? "merge" : "rename", old,
             merge ? "into" : "→", text);
    everywhere(a, EDIT_RENAME, old, text, what);
}

static void act_rename(app *a)
{
    const char *t = current_tag(a);
    if (t)
        prompt_open(a, "rename everywhere to", t, t, true, submit_rename);
}

static void act_merge(app *a)
{
    const char *t = current_tag(a);
    if (t)
        prompt_open(a, "merge into tag", "", t, true, submit_rename);
}

static void delete_answer(app *a, int key)
{
    tags_state *s = st(a);
    char *t = s->doomed;
    s->doomed = NULL;
    if (key == 'y' && t) {
        char what[600];
        snprintf(what, sizeof what, "delete \"%s\" everywhere", t);
        everywhere(a, EDIT_REMOVE, t, NULL, what);
    }
    free(t);
}

static void act_delete(app *a)
{
    tags_state *s = st(a);
    const char *t = current_tag(a);
    if (!t)
        return;
    uint32_t images = dataset_occurrence(a->ds, s->rows[s->pos.cur].tag);
    free(s->doomed);
    if (!(s->doomed = strdup(t)))
        return;
    ask_open(a, "yn", delete_answer, "Remove \"%.200s\" from all %u images that carry it? "
             "y yes · n no (u undoes it afterwards)", t, images);
}

static void submit_export(app *a, const char *path, const char *arg)
{
    (void)arg;
    tags_state *s = st(a);
    tg_error err;
    if (occ_export(a->ds, s->folder, s->sort, path, &err) < 0)
        app_error(a, "export: %s", err.msg);
    else
        app_say(a, "wrote the occurrence table to %s", path);
}

static void act_export(app *a)
{
    char *path = dataset_path(a->ds, ".tagbench/occurrence.txt");
    prompt_open(a, "export occurrence to", path ? path : "occurrence.txt", NULL, false, submit_export);
    free(path);
}

static const key_binding tags_keys[] = {
    {{KEY_FN(KEY_DOWN), 'j'}, act_down, "next tag", NULL},
    {{KEY_FN(KEY_UP), 'k'}, act_up, "previous tag", NULL},
    {{KEY_FN(KEY_NPAGE), KEY_CTRL('f')}, act_page_down, "page down", NULL},
    {{KEY_FN(KEY_PPAGE), KEY_CTRL('b')}, act_page_up, "page up", NULL},
    {{KEY_FN(KEY_HOME), 'g'}, act_home, "first", NULL},
    {{KEY_FN(KEY_END), 'G'}, act_end, "last", NULL},
    {{'\r', '\n', KEY_FN(KEY_ENTER)}, act_jump, "show the images carrying the tag (Dataset screen)", "Images"},
    {{'/'}, act_match, "show only tags containing a text (or matching a glob*)", "Find"},
    {{'s'}, act_sort, "sort by count / by name", "Sort"},
    {{'f'}, act_folder_next, "counts of the next folder (kohya N_name folders)", "Folder"},
    {{'F'}, act_folder_prev, "counts of the previous folder", NULL},
    {{'r'}, act_rename, "rename the tag everywhere", "Rename"},
    {{'m'}, act_merge, "merge the tag into another one everywhere", "Merge"},
    {{'d', KEY_FN(KEY_DC)}, act_delete, "delete the tag from every image", "Del"},
    {{'x'}, act_export, "export this table to a text file", "Export"},
    {{0}, NULL, NULL, NULL},
};

const screen_def screen_tags = {
    .name = "Tags",
    .create = tags_create,
    .destroy = tags_destroy,
    .draw = tags_draw,
    .click = tags_click,
    .keys = tags_keys,
};
