/* The Dataset screen's keys and what they do: moving, marking, filtering, and the tag edits.
 * An edit applies to the marked images when there are any, else to the current image; the keys
 * in capitals apply to every image of the dataset. */
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/occurrence.h"
#include "tui/dataset_screen.h"
#include "tui/prompt.h"
#include "tui/tag_pane.h"

static list_pos *focused(app *a, size_t *n)
{
    if (a->focus == FOCUS_FILES) {
        *n = a->n_view;
        return &a->files;
    }
    tag_pane p = {0};
    tag_pane_build(a, &p);
    *n = p.n;
    tag_pane_free(&p);
    return &a->tags;
}

static void move_by(app *a, long d)
{
    size_t n;
    list_pos *p = focused(a, &n);
    if (!n)
        return;
    long c = (long)p->cur + d;
    p->cur = c < 0 ? 0 : (size_t)c >= n ? n - 1 : (size_t)c;
    if (p == &a->files)
        a->tags.cur = a->tags.top = 0;
}

static long page(void)
{
    return LINES > 8 ? LINES - 6 : 1;
}

static void act_down(app *a) { move_by(a, 1); }
static void act_up(app *a) { move_by(a, -1); }
static void act_page_down(app *a) { move_by(a, page()); }
static void act_page_up(app *a) { move_by(a, -page()); }
static void act_home(app *a) { move_by(a, -(long)a->ds->n_items - 1000000); }
static void act_end(app *a) { move_by(a, (long)a->ds->n_items + 1000000); }
static void act_focus_files(app *a) { a->focus = FOCUS_FILES; }
static void act_focus_tags(app *a) { a->focus = FOCUS_TAGS; }

static void act_mark(app *a)
{
    long cur = app_current_item(a);
    if (cur < 0)
        return;
    a->marked[cur] = !a->marked[cur];
    a->n_marked += a->marked[cur] ? 1 : -1;
    a->tags.cur = a->tags.top = 0;
    if (a->files.cur + 1 < a->n_view)
        a->files.cur++;
}

static void act_mark_view(app *a)
{
    size_t already = 0;
    for (size_t k = 0; k < a->n_view; k++)
        already += a->marked[a->view[k]];
    bool on = already < a->n_view;
    for (size_t k = 0; k < a->n_view; k++) {
        uint8_t *m = &a->marked[a->view[k]];
        a->n_marked += on && !*m ? 1 : !on && *m ? (size_t)-1 : 0;
        *m = on;
    }
    a->tags.cur = a->tags.top = 0;
    app_say(a, on ? "marked the %zu images shown (edits now apply to all %zu marked)"
                  : "unmarked the %zu images shown (%zu still marked)", a->n_view, a->n_marked);
}

static void act_unmark_all(app *a)
{
    if (!a->n_marked)
        return;
    memset(a->marked, 0, a->ds->n_items);
    a->n_marked = 0;
    a->tags.cur = a->tags.top = 0;
    app_say(a, "no image marked: edits apply to the current image");
}

static void submit_filter(app *a, const char *text, const char *arg)
{
    (void)arg;
    app_set_filter(a, text);
}

static void act_filter(app *a)
{
    prompt_open(a, "filter (tag & !tag | glob* ~sub)", a->filter_text, NULL, false, submit_filter);
}

/* One operation on sel (all images when `all`, else the edit targets). */
static void apply_one(app *a, edit_kind kind, const char *x, const char *y, bool all, const char *what)
{
    edit_op op;
    tg_error err;
    if (edit_op_init(&op, kind, x, y, 0, &err) < 0) {
        app_error(a, "%s: %s", what, err.msg);
        edit_op_free(&op);
        return;
    }
    size_t n;
    uint32_t *sel = all ? dataset_select_all(a->ds, &n) : app_edit_targets(a, &n);
    char label[600];
    snprintf(label, sizeof label, "%s%s", what, all ? " everywhere" : a->n_marked ? " (marked)" : "");
    if (sel)
        app_apply(a, &op, 1, sel, n, label);
    else
        app_error(a, "out of memory");
    free(sel);
    edit_op_free(&op);
}

static void submit_add(app *a, const char *text, const char *arg)
{
    char what[600];
    snprintf(what, sizeof what, "add \"%s\"", text);
    apply_one(a, *arg == 'p' ? EDIT_PREPEND : EDIT_ADD, text, NULL, false, what);
}

static const char *target_words(const app *a)
{
    return a->n_marked ? "to the marked images" : "to this image";
}

static void act_add(app *a)
{
    char label[64];
    snprintf(label, sizeof label, "add tag %s", target_words(a));
    prompt_open(a, label, "", "a", true, submit_add);
    a->prompt->exclude_current = !a->n_marked;
}

static void act_prepend(app *a)
{
    char label[64];
    snprintf(label, sizeof label, "add tag first %s", target_words(a));
    prompt_open(a, label, "", "p", true, submit_add);
}

/* The highlighted tag's text, or NULL (with a message). */
static const char *tag_at_cursor(app *a)
{
    long id = tag_pane_current(a);
    if (id < 0)
        app_error(a, "no tag highlighted (→ or l moves to the tag list)");
    return id < 0 ? NULL : dataset_tag_text(a->ds, (uint32_t)id);
}

/* A removal by exact name: a tag that looks like a glob must not take its look-alikes along. */
static void remove_tag(app *a, bool all)
{
    const char *t = tag_at_cursor(a);
    if (!t)
        return;
    char what[600];
    snprintf(what, sizeof what, "remove \"%s\"", t);
    char *copy = strdup(t);
    if (copy)
        apply_one(a, EDIT_REMOVE, copy, NULL, all, what);
    free(copy);
}

static void act_remove(app *a) { remove_tag(a, false); }
static void act_remove_all(app *a) { remove_tag(a, true); }

static void submit_rename(app *a, const char *text, const char *arg)
{
    char what[1200];
    bool all = arg[0] == 'A';
    snprintf(what, sizeof what, "rename \"%s\" → \"%s\"", arg + 1, text);
    apply_one(a, EDIT_RENAME, arg + 1, text, all, what);
}

static void rename_tag(app *a, bool all)
{
    const char *t = tag_at_cursor(a);
    if (!t)
        return;
    char arg[PROMPT_MAX], label[96];
    snprintf(arg, sizeof arg, "%c%s", all ? 'A' : 'T', t);
    snprintf(label, sizeof label, "rename %s", all ? "everywhere (merges)" : a->n_marked ? "in the marked images" : "in this image");
    prompt_open(a, label, t, arg, true, submit_rename);
}

static void act_rename(app *a) { rename_tag(a, false); }
static void act_rename_all(app *a) { rename_tag(a, true); }

static void act_front(app *a)
{
    const char *t = tag_at_cursor(a);
    if (!t)
        return;
    char what[600], *copy = strdup(t);
    snprintf(what, sizeof what, "\"%s\" to front", t);
    if (copy)
        apply_one(a, EDIT_MOVE_FRONT, copy, NULL, false, what);
    free(copy);
    a->tags.cur = 0;
}

/* Reordering one image: its caption rewritten with two neighbours swapped. */
static void swap_tags(app *a, int d)
{
    long cur = app_current_item(a);
    if (a->n_marked || cur < 0) {
        app_error(a, "reordering works on one image (Esc unmarks)");
        return;
    }
    ds_item *it = &a->ds->items[cur];
    size_t k = a->tags.cur, j = k + d;
    if (k >= it->n_tags || j >= it->n_tags)
        return;
    size_t len = 1;
    for (uint32_t t = 0; t < it->n_tags; t++)
        len += strlen(dataset_tag(a->ds, it, t)) + 2;
    char *line = malloc(len);
    if (!line)
        return;
    line[0] = 0;
    for (size_t t = 0; t < it->n_tags; t++) {
        size_t src = t == k ? j : t == j ? k : t;
        if (t)
            strcat(line, ", ");
        strcat(line, dataset_tag(a->ds, it, (uint32_t)src));
    }
    apply_one(a, EDIT_SET, line, NULL, false, "reorder");
    free(line);
    a->tags.cur = j;
}

static void act_tag_down(app *a) { swap_tags(a, 1); }
static void act_tag_up(app *a) { swap_tags(a, -1); }

static void submit_caption(app *a, const char *text, const char *arg)
{
    (void)arg;
    apply_one(a, EDIT_SET, text, NULL, false, "edit caption");
}

/* The whole caption as one line of text, for edits no single key covers. */
static void act_edit_caption(app *a)
{
    long cur = app_current_item(a);
    if (a->n_marked || cur < 0) {
        app_error(a, "e edits one image's caption (Esc unmarks)");
        return;
    }
    size_t len;
    char *text = dataset_caption_text(a->ds, (size_t)cur, &len);
    if (!text)
        return;
    text[strcspn(text, "\r\n")] = 0;
    const char *start = strncmp(text, "\xef\xbb\xbf", 3) ? text : text + 3;
    prompt_open(a, "caption", start, NULL, false, submit_caption);
    free(text);
}

/* Enter on a tag: show the images that carry it. */
static void act_enter(app *a)
{
    if (a->focus == FOCUS_FILES) {
        a->focus = FOCUS_TAGS;
        return;
    }
    const char *t = tag_at_cursor(a);
    if (!t)
        return;
    char expr[1100];
    filter_quote(t, expr, sizeof expr);
    app_set_filter(a, expr);
    a->focus = FOCUS_FILES;
}

const key_binding dataset_keys[] = {
    {{KEY_FN(KEY_DOWN), 'j'}, act_down, "next image (or next tag in the tag list)", NULL},
    {{KEY_FN(KEY_UP), 'k'}, act_up, "previous image (or tag)", NULL},
    {{KEY_FN(KEY_NPAGE), KEY_CTRL('f')}, act_page_down, "page down", NULL},
    {{KEY_FN(KEY_PPAGE), KEY_CTRL('b')}, act_page_up, "page up", NULL},
    {{KEY_FN(KEY_HOME), 'g'}, act_home, "first", NULL},
    {{KEY_FN(KEY_END), 'G'}, act_end, "last", NULL},
    {{KEY_FN(KEY_LEFT), 'h'}, act_focus_files, "focus the image list", NULL},
    {{KEY_FN(KEY_RIGHT), 'l'}, act_focus_tags, "focus the tag list", NULL},
    {{'\r', '\n', KEY_FN(KEY_ENTER)}, act_enter, "on a tag: show the images carrying it", NULL},
    {{'/'}, act_filter, "filter images by tags: red & !large | blu* , ~sub", "Filter"},
    {{' '}, act_mark, "mark/unmark the image (edits then apply to all marked)", "Mark"},
    {{'*'}, act_mark_view, "mark/unmark every image shown", NULL},
    {{KEY_ESC}, act_unmark_all, "unmark all", NULL},
    {{'a'}, act_add, "add a tag (Tab completes from the dataset and --tags-csv)", "Add"},
    {{'A'}, act_prepend, "add a tag at the front (trigger word)", NULL},
    {{'d', KEY_FN(KEY_DC)}, act_remove, "remove the highlighted tag (from the marked images)", "Del"},
    {{'D'}, act_remove_all, "remove the highlighted tag from every image", NULL},
    {{'r'}, act_rename, "rename the highlighted tag here (or in the marked images)", "Rename"},
    {{'R'}, act_rename_all, "rename the highlighted tag everywhere (merges into an existing one)", NULL},
    {{'t'}, act_front, "move the highlighted tag to the front", NULL},
    {{'J', KEY_FN(KEY_SF)}, act_tag_down, "move the highlighted tag down", NULL},
    {{'K', KEY_FN(KEY_SR)}, act_tag_up, "move the highlighted tag up", NULL},
    {{'e'}, act_edit_caption, "edit the caption as text", NULL},
    {{0}, NULL, NULL, NULL},
};
