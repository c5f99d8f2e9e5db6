#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/occurrence.h"
#include "tagger/private/dataset_build.h"

const char *dataset_tag_text(const dataset *ds, uint32_t tag)
{
    return dict_str(&ds->tags, tag);
}

static const dict *cmp_tags; /* qsort has no context argument in C11; single-threaded use */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(dict_str(cmp_tags, ((const occ_entry *)a)->tag),
                  dict_str(cmp_tags, ((const occ_entry *)b)->tag));
}

static int cmp_count(const void *a, const void *b)
{
    uint32_t ca = ((const occ_entry *)a)->count, cb = ((const occ_entry *)b)->count;
    return ca != cb ? (ca > cb ? -1 : 1) : cmp_name(a, b);
}

/* Sorts entries whose tag ids belong to `tags` (the dataset's, or kohya's lower-cased ones). */
static void entries_sort(occ_entry *e, size_t n, const dict *tags, occ_sort sort)
{
    cmp_tags = tags;
    qsort(e, n, sizeof *e, sort == OCC_BY_NAME ? cmp_name : cmp_count);
}

occ_entry *occurrence_list(const dataset *ds, uint32_t folder, occ_sort sort, size_t *n)
{
    occ_entry *e = malloc(sizeof *e * (ds->tags.n + 1));
    *n = 0;
    if (!e)
        return NULL;
    for (uint32_t t = 0; t < ds->tags.n; t++) {
        uint32_t c = folder == OCC_ALL_FOLDERS ? dataset_occurrence(ds, t)
                                               : dataset_folder_occurrence(ds, folder, t);
        if (c)
            e[(*n)++] = (occ_entry){t, c};
    }
    entries_sort(e, *n, &ds->tags, sort);
    return e;
}

/* Counts for kohya's rules: tag text interned into a dict, counts by id, in order of first
 * appearance (the order of sd-scripts' Python dict). */
typedef struct kohya_counts {
    dict tags;
    uint32_t *count;
    uint32_t cap;
} kohya_counts;

static bool kohya_count(kohya_counts *kc, const char *t, size_t len)
{
    uint32_t id = dict_intern(&kc->tags, t, len);
    if (id == DICT_NONE)
        return false;
    if (id >= kc->cap) {
        uint32_t cap = kc->cap ? kc->cap * 2 : 1024;
        uint32_t *c = realloc(kc->count, sizeof *c * cap);
        if (!c)
            return false;
        memset(c + kc->cap, 0, sizeof *c * (cap - kc->cap));
        kc->count = c;
        kc->cap = cap;
    }
    kc->count[id]++;
    return true;
}

/* kohya: split on ',', strip, lower-case, skip empties, count each occurrence. */
static bool kohya_caption(kohya_counts *kc, const char *caption)
{
    char *copy = strdup(caption), *save = NULL;
    bool ok = copy != NULL;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && ok; t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t))
            t++;
        size_t len = strlen(t);
        while (len && isspace((unsigned char)t[len - 1]))
            t[--len] = '\0';
        for (char *p = t; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (len)
            ok = kohya_count(kc, t, len);
    }
    free(copy);
    return ok;
}

static bool kohya_item(const dataset *ds, size_t i, kohya_counts *kc)
{
    const ds_item *it = &ds->items[i];
    if (!it->has_file)
        return kohya_caption(kc, ds->folders[it->folder].class_tokens);
    size_t len;
    char *text = dataset_caption_text(ds, i, &len);
    char *nl = text ? strchr(text, '\n') : NULL;
    if (nl)
        *nl = '\0'; /* kohya reads the first line */
    bool ok = text && kohya_caption(kc, text);
    free(text);
    return ok;
}

static bool kohya_folder(const dataset *ds, uint32_t f, occ_sort sort, cJSON *obj)
{
    kohya_counts kc = {.count = NULL};
    dict_init(&kc.tags);
    bool ok = true;
    for (size_t i = 0; ok && i < ds->n_items; i++)
        if (ds->items[i].folder == f)
            ok = kohya_item(ds, i, &kc);
    occ_entry *e = ok ? malloc(sizeof *e * (kc.tags.n + 1)) : NULL;
    for (uint32_t id = 0; e && id < kc.tags.n; id++)
        e[id] = (occ_entry){id, kc.count[id]};
    if (e)
        entries_sort(e, kc.tags.n, &kc.tags, sort);
    ok = e != NULL;
    for (uint32_t k = 0; ok && k < kc.tags.n; k++)
        ok = cJSON_AddNumberToObject(obj, dict_str(&kc.tags, e[k].tag), e[k].count) != NULL;
    free(e);
    free(kc.count);
    dict_free(&kc.tags);
    return ok;
}

static bool add_folder(const dataset *ds, uint32_t f, bool kohya_rules, occ_sort sort, cJSON *root)
{
    const ds_folder *fd = &ds->folders[f];
    cJSON *obj = cJSON_AddObjectToObject(root, kohya_rules ? fd->name : *fd->rel ? fd->rel : ".");
    if (!obj)
        return false;
    if (kohya_rules)
        return kohya_folder(ds, f, sort, obj);
    size_t n;
    occ_entry *e = occurrence_list(ds, f, sort, &n);
    bool ok = e != NULL;
    for (size_t k = 0; ok && k < n; k++)
        ok = cJSON_AddNumberToObject(obj, dict_str(&ds->tags, e[k].tag), e[k].count) != NULL;
    free(e);
    return ok;
}

cJSON *occurrence_by_folder(const dataset *ds, bool kohya_rules, occ_sort sort)
{
    cJSON *root = cJSON_CreateObject();
    for (uint32_t f = 0; root && f < ds->n_folders; f++) {
        const ds_folder *fd = &ds->folders[f];
        if (!fd->n_items || (kohya_rules && fd->repeats == 0))
            continue;
        if (!add_folder(ds, f, kohya_rules, sort, root)) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}
