/* Tag occurrence, kept current on every change of an item's tags: per tag the number of images
 * carrying it (an image counts once even if it repeats the tag), overall and per folder. The
 * per-folder counts live in one hash map keyed by (folder, tag) so that a dataset of many folders
 * and many tags costs memory only for pairs that occur. That map is built on the first per-folder
 * question (a third of the time of opening 100k captions went into it) and kept current from
 * then on. */
#include <stdlib.h>
#include <string.h>

#include "tagger/private/dataset_build.h"

typedef struct occ_folder_map {
    uint64_t *keys; /* (folder + 1) << 32 | tag; 0 = empty */
    uint32_t *counts;
    uint32_t n, cap;
} occ_folder_map;

static uint64_t key_of(uint32_t folder, uint32_t tag)
{
    return ((uint64_t)folder + 1) << 32 | tag;
}

static uint32_t slot_find(const occ_folder_map *m, uint64_t key)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ULL;
    uint32_t mask = m->cap - 1, i = (uint32_t)(h >> 32) & mask;
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

static int map_grow(occ_folder_map *m)
{
    occ_folder_map g = {0};
    g.cap = m->cap ? m->cap * 2 : 4096;
    g.keys = calloc(g.cap, sizeof *g.keys);
    g.counts = calloc(g.cap, sizeof *g.counts);
    if (!g.keys || !g.counts) {
        free(g.keys);
        free(g.counts);
        return -1;
    }
    for (uint32_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        uint32_t s = slot_find(&g, m->keys[i]);
        g.keys[s] = m->keys[i];
        g.counts[s] = m->counts[i];
        g.n++;
    }
    free(m->keys);
    free(m->counts);
    *m = g;
    return 0;
}

static int map_add(occ_folder_map *m, uint64_t key, int delta)
{
    if ((m->n + 1) * 2 > m->cap && map_grow(m) < 0)
        return -1;
    uint32_t s = slot_find(m, key);
    if (!m->keys[s]) {
        m->keys[s] = key;
        m->n++;
    }
    m->counts[s] += (uint32_t)delta; /* never below zero: removals follow additions */
    return 0;
}

static int occ_reserve(dataset *ds)
{
    uint32_t need = ds->tags.n;
    if (need <= ds->occ_cap)
        return 0;
    uint32_t cap = ds->occ_cap ? ds->occ_cap : 1024;
    while (cap < need)
        cap *= 2;
    uint32_t *occ = realloc(ds->occ, sizeof *occ * cap);
    uint32_t *mark = realloc(ds->mark, sizeof *mark * cap);
    if (occ)
        ds->occ = occ;
    if (mark)
        ds->mark = mark;
    if (!occ || !mark)
        return -1;
    memset(occ + ds->occ_cap, 0, sizeof *occ * (cap - ds->occ_cap));
    memset(mark + ds->occ_cap, 0, sizeof *mark * (cap - ds->occ_cap));
    ds->occ_cap = cap;
    return 0;
}

/* Marks each distinct tag of the item once; calls back for each. */
static int distinct_tags(dataset *ds, const ds_item *it, int sign,
                         int (*each)(dataset *ds, const ds_item *it, uint32_t tag, int sign))
{
    if (occ_reserve(ds) < 0)
        return -1;
    if (++ds->mark_epoch == 0) { /* wrapped: old marks could collide with the new epoch */
        memset(ds->mark, 0, sizeof *ds->mark * ds->occ_cap);
        ds->mark_epoch = 1;
    }
    for (uint32_t k = 0; k < it->n_tags; k++) {
        uint32_t t = it->tags[k];
        if (ds->mark[t] == ds->mark_epoch)
            continue;
        ds->mark[t] = ds->mark_epoch;
        if (each(ds, it, t, sign) < 0)
            return -1;
    }
    return 0;
}

static int count_tag(dataset *ds, const ds_item *it, uint32_t t, int sign)
{
    ds->occ[t] += (uint32_t)sign;
    return ds->occ_folder ? map_add(ds->occ_folder, key_of(it->folder, t), sign) : 0;
}

static int count_folder_tag(dataset *ds, const ds_item *it, uint32_t t, int sign)
{
    return map_add(ds->occ_folder, key_of(it->folder, t), sign);
}

int occ_add_item(dataset *ds, const ds_item *it, int sign)
{
    return distinct_tags(ds, it, sign, count_tag);
}

/* Builds the per-folder map from the items; -1 (and no map) when out of memory. */
static int occ_folders_build(dataset *ds)
{
    if (!(ds->occ_folder = calloc(1, sizeof *ds->occ_folder)))
        return -1;
    for (size_t i = 0; i < ds->n_items; i++)
        if (distinct_tags(ds, &ds->items[i], +1, count_folder_tag) < 0) {
            free(ds->occ_folder->keys);
            free(ds->occ_folder->counts);
            free(ds->occ_folder);
            ds->occ_folder = NULL;
            return -1;
        }
    return 0;
}

uint32_t dataset_occurrence(const dataset *ds, uint32_t tag)
{
    return tag < ds->occ_cap ? ds->occ[tag] : 0;
}

uint32_t dataset_folder_occurrence(const dataset *ds, uint32_t folder, uint32_t tag)
{
    /* the map is a cache of what the items say: building it does not change the dataset */
    if (!ds->occ_folder && occ_folders_build((dataset *)ds) < 0)
        return 0;
    const occ_folder_map *m = ds->occ_folder;
    if (!m || !m->cap)
        return 0;
    uint32_t s = slot_find(m, key_of(folder, tag));
    return m->keys[s] ? m->counts[s] : 0;
}

void occ_free(dataset *ds)
{
    if (ds->occ_folder) {
        free(ds->occ_folder->keys);
        free(ds->occ_folder->counts);
        free(ds->occ_folder);
    }
    free(ds->occ);
    free(ds->mark);
}
