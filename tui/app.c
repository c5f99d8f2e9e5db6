/* The app's shared operations: status line, the current view of the dataset, applying edits. */
#include "tui/app.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tagger/save.h"
#include "tui/screen.h"

static void say(app *a, bool error, const char *fmt, va_list ap)
{
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    a->msg_error = error;
    a->redraw = true;
}

void app_say(app *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(a, false, fmt, ap);
    va_end(ap);
}

void app_error(app *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(a, true, fmt, ap);
    va_end(ap);
}

long app_current_item(const app *a)
{
    return a->files.cur < a->n_view ? (long)a->view[a->files.cur] : -1;
}

uint32_t *app_edit_targets(const app *a, size_t *n)
{
    *n = 0;
    uint32_t *sel = malloc(sizeof *sel * (a->n_marked ? a->n_marked : 1));
    if (!sel)
        return NULL;
    if (a->n_marked) {
        for (size_t i = 0; i < a->ds->n_items; i++)
            if (a->marked[i])
                sel[(*n)++] = (uint32_t)i;
    } else if (app_current_item(a) >= 0) {
        sel[(*n)++] = (uint32_t)app_current_item(a);
    }
    return sel;
}

int app_apply(app *a, const edit_op *ops, size_t nops, const uint32_t *sel, size_t nsel,
              const char *label)
{
    edit_result res;
    tg_error err;
    if (!nsel) {
        app_error(a, "%s: no image to apply it to", label);
        return -1;
    }
    if (dataset_apply(a->ds, ops, nops, sel, nsel, label, &res, &err) < 0) {
        app_error(a, "%s: %s", label, err.msg);
        return -1;
    }
    app_refresh_view(a);
    if (res.locked)
        app_error(a, "%s: %zu image(s) changed; %zu skipped (caption unreadable, see `tagbench check`)",
                  label, res.changed, res.locked);
    else if (res.changed)
        app_say(a, "%s: %zu image%s changed (u undoes)", label, res.changed, res.changed == 1 ? "" : "s");
    else
        app_say(a, "%s: nothing changed", label);
    return 0;
}

/* The view's position of item it, or n_view. */
static size_t view_find(const app *a, long it)
{
    for (size_t k = 0; it >= 0 && k < a->n_view; k++)
        if (a->view[k] == (uint32_t)it)
            return k;
    return a->n_view;
}

static int view_build(app *a, const char *expr, uint32_t **view, size_t *n)
{
    if (!expr || !*expr) {
        *view = dataset_select_all(a->ds, n);
        return *view ? 0 : -1;
    }
    tg_error err;
    tag_filter *f = filter_parse(expr, &err);
    if (!f) {
        app_error(a, "filter: %s", err.msg);
        return -1;
    }
    *view = dataset_select_filter(a->ds, f, n);
    filter_free(f);
    if (!*view) {
        app_error(a, "filter: out of memory");
        return -1;
    }
    return 0;
}

static void view_replace(app *a, uint32_t *view, size_t n)
{
    long cur = app_current_item(a);
    free(a->view);
    a->view = view;
    a->n_view = n;
    size_t k = view_find(a, cur);
    if (k < n)
        a->files.cur = k;
    else if (a->files.cur >= n)
        a->files.cur = n ? n - 1 : 0;
    a->redraw = true;
}

int app_set_filter(app *a, const char *expr)
{
    uint32_t *view;
    size_t n;
    if (view_build(a, expr, &view, &n) < 0)
        return -1;
    char *copy = expr && *expr ? strdup(expr) : NULL;
    free(a->filter_text);
    a->filter_text = copy;
    view_replace(a, view, n);
    a->files.top = 0;
    if (copy)
        app_say(a, "filter: %zu of %zu images match (/ then Enter on an empty line shows all)", n,
                a->ds->n_items);
    else
        app_say(a, "all %zu images", n);
    return 0;
}

void app_refresh_view(app *a)
{
    uint32_t *view;
    size_t n;
    if (a->filter_text && view_build(a, a->filter_text, &view, &n) == 0)
        view_replace(a, view, n);
    a->redraw = true;
}

void app_show(app *a, screen_id s)
{
    a->screen = s;
    a->wake_at = 0; /* a timer belongs to the screen that asked for it */
    const screen_def *sd = screen_get(s);
    if (sd->enter)
        sd->enter(a);
    a->redraw = true;
}

bool app_tick(app *a)
{
    long cur = app_current_item(a);
    char why[256] = "";
    if (cur >= 0 && dataset_caption_check(a->ds, (size_t)cur, why, sizeof why) != 0 && !*why)
        snprintf(why, sizeof why, "cannot be read");
    bool news = cur != a->disk_item || strcmp(why, a->disk_note) != 0;
    a->disk_item = cur;
    snprintf(a->disk_note, sizeof a->disk_note, "%s", why);
    return news;
}

long long app_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void app_wake_in(app *a, int ms)
{
    a->wake_at = app_now_ms() + ms;
}
