/* The Dataset screen: the file list (filtered, with marks, edited markers and tag counts), the
 * preview of the current image with its size and training bucket, and its tags. */
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/occurrence.h"
#include "tui/dataset_screen.h"
#include "tui/draw.h"
#include "tui/preview.h"
#include "tui/screen.h"
#include "tui/tag_pane.h"

/* Keeps a list's cursor inside [0, n) and visible in `rows` rows. */
void list_clamp(list_pos *p, size_t n, int rows)
{
    if (p->cur >= n)
        p->cur = n ? n - 1 : 0;
    if (rows < 1)
        rows = 1;
    if (p->cur < p->top)
        p->top = p->cur;
    if (p->cur >= p->top + (size_t)rows)
        p->top = p->cur - (size_t)rows + 1;
    if (p->top + (size_t)rows > n)
        p->top = n > (size_t)rows ? n - (size_t)rows : 0;
}

void dataset_layout_get(int top, int rows, dataset_layout *l)
{
    l->top = top;
    l->rows = rows;
    l->list_w = COLS * 2 / 5;
    if (l->list_w > 60)
        l->list_w = 60;
    l->right_x = l->list_w + 1;
    l->right_w = COLS - l->right_x;
    l->preview_rows = rows / 2;
    l->tags_top = top + l->preview_rows + 2;
    l->tags_rows = top + rows - l->tags_top;
}

static void file_row(app *a, int y, int w, size_t k)
{
    const ds_item *it = &a->ds->items[a->view[k]];
    bool cur = k == a->files.cur;
    theme_el el = cur ? (a->focus == FOCUS_FILES ? TH_CURSOR : TH_CURSOR_OFF) : TH_NORMAL;
    draw_fill(y, 0, w, el);
    draw_text(y, 0, 1, a->marked[a->view[k]] ? "*" : " ", cur ? el : TH_MARKED);
    /* + unsaved edits; ! a caption that could not be read (shown, never edited) */
    draw_text(y, 1, 1, it->locked ? "!" : it->dirty ? "+" : " ", cur ? el : it->locked ? TH_ERROR : TH_EDITED);
    char n[16];
    snprintf(n, sizeof n, " %u", it->n_tags);
    draw_text(y, 3, w - 3 - (int)strlen(n), it->image, el);
    draw_text_right(y, w, n, cur ? el : TH_DIM);
}

static void files_draw(app *a, const dataset_layout *l)
{
    int rows = l->rows - 1;
    list_clamp(&a->files, a->n_view, rows);
    char title[256];
    int n = snprintf(title, sizeof title, "Images %zu/%zu", a->n_view ? a->files.cur + 1 : 0, a->n_view);
    if (a->n_marked)
        n += snprintf(title + n, sizeof title - n, " · %zu marked", a->n_marked);
    if (a->filter_text)
        snprintf(title + n, sizeof title - n, " · filter: ");
    int x = draw_text(l->top, 0, l->list_w, title, TH_TITLE);
    if (a->filter_text)
        draw_text(l->top, x, l->list_w - x, a->filter_text, TH_KEY);
    if (!a->n_view)
        draw_text(l->top + 1, 1, l->list_w - 1, a->filter_text ? "no image matches the filter"
                                                                : "no images in this folder", TH_DIM);
    for (int r = 0; r < rows && a->files.top + r < a->n_view; r++)
        file_row(a, l->top + 1 + r, l->list_w, a->files.top + r);
    attr_set(theme_attr(TH_DIM), theme_pair(TH_DIM), NULL);
    mvvline(l->top, l->list_w, ACS_VLINE, l->rows);
    attr_set(A_NORMAL, 0, NULL);
}

/* "1024×768 · 1.33 · bucket 576×448 · 10_shapes ×10" */
static void info_draw(app *a, const dataset_layout *l, long cur)
{
    int y = l->top + l->preview_rows, x = l->right_x + 1, w = l->right_w - 1;
    if (cur < 0)
        return;
    tg_error err;
    ds_item *it = &a->ds->items[cur];
    if (a->disk_item == cur && *a->disk_note) {
        draw_textf(y, x, w, TH_ERROR, "caption %s: Ctrl-S will not overwrite it", a->disk_note);
        return;
    }
    if (dataset_probe(a->ds, (size_t)cur, &err) < 0) {
        draw_text(y, x, w, err.msg, TH_ERROR);
        return;
    }
    const ds_folder *fo = &a->ds->folders[it->folder];
    char info[256];
    int n = snprintf(info, sizeof info, "%d×%d · %.2f", it->w, it->h, (double)it->w / it->h);
    if (a->buckets.n || a->buckets.opts.bucket_no_upscale) {
        bucket_fit f = bucket_select(&a->buckets, it->w, it->h);
        n += snprintf(info + n, sizeof info - n, " · bucket %d×%d at %d", f.bucket.w, f.bucket.h,
                      a->buckets.opts.width);
    }
    if (fo->repeats)
        snprintf(info + n, sizeof info - n, " · %s ×%d", fo->name, fo->repeats);
    draw_text(y, x, w, info, TH_DIM);
}

static void preview_draw(app *a, const dataset_layout *l, long cur)
{
    if (cur < 0)
        return;
    char *path = dataset_path(a->ds, a->ds->items[cur].image);
    if (path)
        preview_place(a->pv, l->top, l->right_x + 1, l->preview_rows, l->right_w - 1, path);
    free(path);
    /* the neighbours, so that stepping through the list finds them ready */
    for (int d = -1; d <= 1; d += 2) {
        size_t k = a->files.cur + d;
        if (k < a->n_view && (path = dataset_path(a->ds, a->ds->items[a->view[k]].image))) {
            preview_prefetch(a->pv, path, l->preview_rows, l->right_w - 1);
            free(path);
        }
    }
}

static void tag_row(app *a, const tag_pane *p, const dataset_layout *l, int y, size_t k)
{
    bool cur = k == a->tags.cur;
    theme_el el = cur ? (a->focus == FOCUS_TAGS ? TH_CURSOR : TH_CURSOR_OFF) : TH_NORMAL;
    int x = l->right_x + 1, w = l->right_w - 1;
    draw_fill(y, x, w, el);
    char n[48];
    if (p->marked_mode)
        snprintf(n, sizeof n, " %u/%zu", p->counts[k], a->n_marked);
    else
        snprintf(n, sizeof n, " %u", dataset_occurrence(a->ds, p->tags[k]));
    draw_textf(y, x, 4, cur ? el : TH_DIM, "%3zu ", k + 1);
    draw_text(y, x + 4, w - 4 - (int)strlen(n), dataset_tag_text(a->ds, p->tags[k]), el);
    draw_text_right(y, x + w, n, cur ? el : TH_DIM);
}

static void tags_draw(app *a, const dataset_layout *l)
{
    tag_pane p = {0};
    if (tag_pane_build(a, &p) < 0)
        return;
    int rows = l->tags_rows, x = l->right_x + 1;
    list_clamp(&a->tags, p.n, rows);
    if (p.marked_mode)
        draw_textf(l->tags_top - 1, x, l->right_w - 1, TH_TITLE,
                   "Tags of the %zu marked images (edits apply to all of them)", a->n_marked);
    else
        draw_textf(l->tags_top - 1, x, l->right_w - 1, TH_TITLE, "Tags %zu  (count = images in the dataset)", p.n);
    for (int r = 0; r < rows && a->tags.top + r < p.n; r++)
        tag_row(a, &p, l, l->tags_top + r, a->tags.top + r);
    tag_pane_free(&p);
}

static void dataset_draw(app *a, int top, int rows)
{
    dataset_layout l;
    dataset_layout_get(top, rows, &l);
    long cur = app_current_item(a);
    files_draw(a, &l);
    preview_draw(a, &l, cur);
    info_draw(a, &l, cur);
    tags_draw(a, &l);
}

static void dataset_click(app *a, int y, int x, int button)
{
    dataset_layout l;
    dataset_layout_get(1, LINES - 3, &l);
    list_pos *p = x < l.list_w ? &a->files : &a->tags;
    if (button == 4 || button == 5) {
        size_t step = 3;
        if (button == 4)
            p->cur = p->cur > step ? p->cur - step : 0;
        else
            p->cur += step; /* clamped when drawn */
        return;
    }
    if (x < l.list_w && y > l.top && y < l.top + l.rows) {
        a->focus = FOCUS_FILES;
        a->files.cur = a->files.top + (size_t)(y - l.top - 1);
        a->tags.cur = a->tags.top = 0;
    } else if (x > l.list_w && y >= l.tags_top && y < l.top + l.rows) {
        a->focus = FOCUS_TAGS;
        a->tags.cur = a->tags.top + (size_t)(y - l.tags_top);
    }
}

const screen_def screen_dataset = {
    .name = "Dataset",
    .draw = dataset_draw,
    .click = dataset_click,
    .keys = dataset_keys,
};
