/* Steps: running operations over a selection, recording what changed for undo/redo, and telling
 * the journal, so an edit exists on disk (in the journal) the moment it is made. */
#include <stdlib.h>
#include <string.h>

#include "tagger/private/dataset_build.h"
#include "tagger/private/edit_ops.h"
#include "tagger/private/edit_step.h"
#include "tagger/private/history.h"
#include "tagger/private/journal_write.h"

static int ctx_prepare(op_ctx *cx, dataset *ds, const edit_op *op, tg_error *err)
{
    memset(cx, 0, sizeof *cx);
    cx->ds = ds;
    cx->op = op;
    cx->id_a = cx->id_b = DICT_NONE;
    if (op->kind == EDIT_ADD || op->kind == EDIT_PREPEND)
        cx->id_a = dict_intern(&ds->tags, op->a, strlen(op->a));
    if (op->kind == EDIT_REMOVE || op->kind == EDIT_MOVE_FRONT) {
        uint32_t id = dict_find(&ds->tags, op->a, strlen(op->a));
        cx->literal = id != DICT_NONE && dataset_occurrence(ds, id) > 0;
    }
    if (op->kind == EDIT_RENAME) {
        cx->id_a = dict_find(&ds->tags, op->a, strlen(op->a));
        cx->id_b = dict_intern(&ds->tags, op->b, strlen(op->b));
    }
    if (op->kind == EDIT_SET)
        cx->set = tags_intern(ds, op->a, strlen(op->a), &cx->n_set);
    cx->n_memo = ds->tags.n;
    cx->memo = malloc(sizeof *cx->memo * (cx->n_memo + 1));
    if (!cx->memo || (op->kind == EDIT_SET && !cx->set))
        return error_set(err, "out of memory");
    memset(cx->memo, 0xff, sizeof *cx->memo * cx->n_memo);
    return 0;
}

static void ctx_free(op_ctx *cx)
{
    free(cx->memo);
    free(cx->set);
}

static uint32_t *ids_dup(const uint32_t *t, uint32_t n)
{
    uint32_t *d = malloc(sizeof *d * (n ? n : 1));
    if (d && n)
        memcpy(d, t, sizeof *d * n);
    return d;
}

/* Sets an item's tags as an edit: the first edit remembers the tags as on disk. */
static int item_change(dataset *ds, uint32_t i, const uint32_t *tags, uint32_t n)
{
    ds_item *it = &ds->items[i];
    if (!it->orig) {
        if (!(it->orig = ids_dup(it->tags, it->n_tags)))
            return -1;
        it->n_orig = it->n_tags;
    }
    return item_set_tags(ds, it, tags, n);
}

static bool same(const tagbuf *b, const ds_item *it)
{
    return b->n == it->n_tags && (!b->n || memcmp(b->t, it->tags, sizeof *b->t * b->n) == 0);
}

/* Runs all ops on one item into b; returns 1 if the tags changed, 0 if not, -1 on OOM. */
static int item_run(op_ctx *cxs, size_t nops, const ds_item *it, tagbuf *b)
{
    b->n = 0;
    for (uint32_t k = 0; k < it->n_tags; k++)
        if (tagbuf_push(b, it->tags[k]) < 0)
            return -1;
    for (size_t o = 0; o < nops; o++)
        if (op_run(&cxs[o], b) < 0)
            return -1;
    return !same(b, it);
}

static int record_change(hist_change **ch, size_t *n, size_t *cap, uint32_t item,
                         const ds_item *it, const tagbuf *b)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        hist_change *t = realloc(*ch, sizeof *t * c);
        if (!t)
            return -1;
        *ch = t;
        *cap = c;
    }
    hist_change *h = &(*ch)[(*n)++];
    h->item = item;
    h->before = ids_dup(it->tags, it->n_tags);
    h->n_before = it->n_tags;
    h->after = ids_dup(b->t, b->n);
    h->n_after = b->n;
    return h->before && h->after ? 0 : -1;
}

static void changes_free(hist_change *ch, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ch[i].before);
        free(ch[i].after);
    }
    free(ch);
}

/* Puts items back as they were before a step that could not be completed (out of memory), so
 * that no edit exists that cannot be undone or is not journaled. The before-tags fit the arrays
 * the items already have, so this allocates nothing. */
static void changes_revert(dataset *ds, const hist_change *ch, size_t n)
{
    for (size_t k = n; k-- > 0;)
        if (ch[k].before)
            item_change(ds, ch[k].item, ch[k].before, ch[k].n_before);
}

static int journal_changes(dataset *ds, const hist_change *ch, size_t n, tg_error *err)
{
    if (!ds->jr || n == 0)
        return 0;
    uint32_t *items = malloc(sizeof *items * n);
    if (!items)
        return error_set(err, "out of memory");
    for (size_t i = 0; i < n; i++)
        items[i] = ch[i].item;
    int rc = journal_record(ds, items, n, err);
    free(items);
    return rc;
}

static int apply_all(dataset *ds, op_ctx *cxs, size_t nops, const uint32_t *sel, size_t nsel,
                     hist_change **ch, size_t *nch, edit_result *res)
{
    tagbuf b = {0};
    size_t cap = 0;
    int rc = 0;
    for (size_t s = 0; s < nsel && rc == 0; s++) {
        ds_item *it = &ds->items[sel[s]];
        if (it->locked) {
            res->locked++;
            continue;
        }
        int changed = item_run(cxs, nops, it, &b);
        if (changed < 0 || (changed && (record_change(ch, nch, &cap, sel[s], it, &b) < 0 ||
                                        item_change(ds, sel[s], b.t, b.n) < 0)))
            rc = -1;
        res->changed += changed > 0;
    }
    free(b.t);
    return rc;
}

int dataset_apply(dataset *ds, const edit_op *ops, size_t nops, const uint32_t *sel, size_t nsel,
                  const char *label, edit_result *res, tg_error *err)
{
    edit_result local;
    res = res ? res : &local;
    memset(res, 0, sizeof *res);
    op_ctx *cxs = calloc(nops ? nops : 1, sizeof *cxs);
    if (!cxs)
        return error_set(err, "out of memory");
    int rc = 0;
    size_t prepared = 0;
    for (; prepared < nops && rc == 0; prepared++)
        rc = ctx_prepare(&cxs[prepared], ds, &ops[prepared], err);
    hist_change *ch = NULL;
    size_t nch = 0;
    if (rc == 0 && apply_all(ds, cxs, nops, sel, nsel, &ch, &nch, res) < 0)
        rc = error_set(err, "out of memory while editing");
    for (size_t o = 0; o < prepared; o++)
        ctx_free(&cxs[o]);
    free(cxs);
    if (rc == 0 && nch && history_push(ds->hist, label, ch, nch) < 0)
        rc = error_set(err, "out of memory");
    else if (rc == 0 && nch)
        return journal_changes(ds, ch, nch, err);
    if (rc < 0)
        changes_revert(ds, ch, nch);
    changes_free(ch, nch);
    return rc;
}

static int history_move(dataset *ds, bool undo, tg_error *err)
{
    const char *label;
    size_t n;
    const hist_change *ch = undo ? history_undo(ds->hist, &label, &n)
                                 : history_redo(ds->hist, &label, &n);
    if (!ch)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t *t = undo ? ch[i].before : ch[i].after;
        uint32_t nt = undo ? ch[i].n_before : ch[i].n_after;
        if (item_change(ds, ch[i].item, t, nt) < 0)
            return error_set(err, "out of memory");
    }
    return journal_changes(ds, ch, n, err) < 0 ? -1 : 1;
}

int dataset_undo(dataset *ds, tg_error *err)
{
    return history_move(ds, true, err);
}

int dataset_redo(dataset *ds, tg_error *err)
{
    return history_move(ds, false, err);
}

const char *dataset_undo_label(const dataset *ds)
{
    return history_peek_undo(ds->hist);
}

const char *dataset_redo_label(const dataset *ds)
{
    return history_peek_redo(ds->hist);
}

uint32_t *dataset_select_all(const dataset *ds, size_t *n)
{
    uint32_t *sel = malloc(sizeof *sel * (ds->n_items + 1));
    *n = 0;
    for (size_t i = 0; sel && i < ds->n_items; i++)
        sel[(*n)++] = (uint32_t)i;
    return sel;
}

uint32_t *dataset_select_filter(const dataset *ds, const tag_filter *f, size_t *n)
{
    uint32_t *sel = malloc(sizeof *sel * (ds->n_items + 1));
    const char **strs = NULL;
    size_t cap = 0;
    *n = 0;
    for (size_t i = 0; sel && i < ds->n_items; i++) {
        const ds_item *it = &ds->items[i];
        if (it->n_tags > cap) {
            cap = it->n_tags * 2;
            const char **t = realloc(strs, sizeof *t * cap);
            if (!t) { /* a partial selection would look like a complete one */
                free(sel);
                sel = NULL;
                break;
            }
            strs = t;
        }
        for (uint32_t k = 0; k < it->n_tags; k++)
            strs[k] = dict_str(&ds->tags, it->tags[k]);
        if (filter_match(f, strs, it->n_tags))
            sel[(*n)++] = (uint32_t)i;
    }
    free(strs);
    return sel;
}

int step_set_tags(dataset *ds, const uint32_t *items, uint32_t *const *tags, const uint32_t *n_tags,
                  size_t n, const char *label, tg_error *err)
{
    hist_change *ch = NULL;
    size_t nch = 0, cap = 0;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        tagbuf b = {tags[k], n_tags[k], n_tags[k]};
        ds_item *it = &ds->items[items[k]];
        if (same(&b, it))
            continue;
        if (record_change(&ch, &nch, &cap, items[k], it, &b) < 0 ||
            item_change(ds, items[k], tags[k], n_tags[k]) < 0)
            rc = error_set(err, "out of memory");
    }
    if (rc == 0 && nch && history_push(ds->hist, label, ch, nch) == 0)
        return journal_changes(ds, ch, nch, err);
    changes_revert(ds, ch, nch);
    changes_free(ch, nch);
    return rc ? rc : nch ? error_set(err, "out of memory") : 0;
}
