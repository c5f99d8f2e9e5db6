/* The Dataset screen's tag list (tag_pane.h). */
#include "tui/tag_pane.h"

#include <stdlib.h>
#include <string.h>

static int single_build(const app *a, tag_pane *p)
{
    long cur = app_current_item(a);
    if (cur < 0)
        return 0;
    const ds_item *it = &a->ds->items[cur];
    if (!(p->tags = malloc(sizeof *p->tags * (it->n_tags + 1))))
        return -1;
    memcpy(p->tags, it->tags, sizeof *p->tags * it->n_tags);
    p->n = it->n_tags;
    return 0;
}

static const uint32_t *sort_counts;

static int by_count_desc(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    if (sort_counts[a] != sort_counts[b])
        return sort_counts[a] < sort_counts[b] ? 1 : -1;
    return a < b ? -1 : a > b;
}

static int marked_build(const app *a, tag_pane *p)
{
    size_t nt = dataset_n_tags(a->ds);
    uint32_t *cnt = calloc(nt + 1, sizeof *cnt);
    if (!cnt)
        return -1;
    for (size_t i = 0; i < a->ds->n_items; i++)
        if (a->marked[i])
            for (uint32_t k = 0; k < a->ds->items[i].n_tags; k++)
                cnt[a->ds->items[i].tags[k]]++;
    size_t n = 0;
    for (size_t t = 0; t < nt; t++)
        n += cnt[t] > 0;
    p->tags = malloc(sizeof *p->tags * (n + 1));
    p->counts = malloc(sizeof *p->counts * (n + 1));
    if (!p->tags || !p->counts) {
        free(cnt);
        return -1;
    }
    for (size_t t = 0; t < nt; t++)
        if (cnt[t])
            p->tags[p->n++] = (uint32_t)t;
    sort_counts = cnt; /* single-threaded UI: qsort has no context argument in C11 */
    qsort(p->tags, p->n, sizeof *p->tags, by_count_desc);
    for (size_t k = 0; k < p->n; k++)
        p->counts[k] = cnt[p->tags[k]];
    free(cnt);
    return 0;
}

int tag_pane_build(const app *a, tag_pane *p)
{
    tag_pane_free(p);
    p->marked_mode = a->n_marked > 0;
    return p->marked_mode ? marked_build(a, p) : single_build(a, p);
}

void tag_pane_free(tag_pane *p)
{
    free(p->tags);
    free(p->counts);
    memset(p, 0, sizeof *p);
}

long tag_pane_current(const app *a)
{
    tag_pane p = {0};
    long id = -1;
    if (tag_pane_build(a, &p) == 0 && a->tags.cur < p.n)
        id = p.tags[a->tags.cur];
    tag_pane_free(&p);
    return id;
}
