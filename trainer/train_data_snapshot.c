/* The snapshot a run takes of its dataset at launch: memory only, so that it is quick on the
 * dataset's thread, and owned by the run, so that edits made while it trains (saved or not) only
 * affect the next run. A caption is kept as the text dataset_save would write, i.e. the current
 * tags, so that the run trains on what the user sees, not on what was last saved. */
#include "trainer/train_data.h"

#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

static bool folders_copy(train_snapshot *s, const dataset *ds)
{
    bool oom = false;
    s->folders = calloc(ds->n_folders ? ds->n_folders : 1, sizeof *s->folders);
    if (!s->folders)
        return false;
    s->n_folders = ds->n_folders;
    for (size_t f = 0; f < ds->n_folders; f++) {
        const ds_folder *src = &ds->folders[f];
        train_snap_folder *dst = &s->folders[f];
        dst->rel = dup_or_null(src->rel, &oom);
        dst->name = dup_or_null(src->name, &oom);
        dst->class_tokens = dup_or_null(src->class_tokens, &oom);
        dst->repeats = src->repeats;
    }
    return !oom;
}

static bool items_copy(train_snapshot *s, const dataset *ds)
{
    bool oom = false;
    s->items = calloc(ds->n_items ? ds->n_items : 1, sizeof *s->items);
    if (!s->items)
        return false;
    s->n_items = ds->n_items;
    for (size_t i = 0; i < ds->n_items && !oom; i++) {
        const ds_item *it = &ds->items[i];
        train_snap_item *dst = &s->items[i];
        dst->rel = dup_or_null(it->image, &oom);
        dst->path = dataset_path(ds, it->image);
        oom |= dst->path == NULL;
        dst->folder = it->folder;
        dst->w = it->w > 0 ? it->w : 0;
        dst->h = it->h > 0 ? it->h : 0;
        dst->locked = it->locked;
        if (!it->locked && (it->has_file || it->n_tags > 0)) {
            size_t len;
            dst->text = dataset_caption_text(ds, i, &len);
            oom |= dst->text == NULL;
        }
    }
    return !oom;
}

train_snapshot *train_snapshot_take(const dataset *ds, tg_error *err)
{
    train_snapshot *s = calloc(1, sizeof *s);
    if (s && (s->root = strdup(ds->root)) && folders_copy(s, ds) && items_copy(s, ds))
        return s;
    train_snapshot_free(s);
    error_set(err, "out of memory taking a snapshot of the %zu captions of %s", ds->n_items,
              ds->root);
    return NULL;
}

void train_snapshot_free(train_snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->items && i < s->n_items; i++) {
        free(s->items[i].path);
        free(s->items[i].rel);
        free(s->items[i].text);
    }
    for (size_t f = 0; s->folders && f < s->n_folders; f++) {
        free(s->folders[f].rel);
        free(s->folders[f].name);
        free(s->folders[f].class_tokens);
    }
    free(s->items);
    free(s->folders);
    free(s->root);
    free(s);
}
