/* Tag occurrence as lists and as kohya's ss_tag_frequency. The counts themselves are kept current
 * by every edit (dataset_occurrence in dataset.h); these functions only read them. */
#ifndef TAGGER_OCCURRENCE_H
#define TAGGER_OCCURRENCE_H
#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/dataset.h"

typedef struct occ_entry {
    uint32_t tag;   /* tag id (dataset_tag_text) */
    uint32_t count; /* images carrying it */
} occ_entry;

typedef enum occ_sort { OCC_BY_COUNT, OCC_BY_NAME } occ_sort;

#define OCC_ALL_FOLDERS UINT32_MAX

/* Tags with a non-zero count in one folder (or OCC_ALL_FOLDERS), sorted by count (descending, then
 * name) or by name (byte order). malloc'd; NULL on allocation failure. */
occ_entry *occurrence_list(const dataset *ds, uint32_t folder, occ_sort sort, size_t *n);

const char *dataset_tag_text(const dataset *ds, uint32_t tag);

/* {"folder": {"tag": count}} per folder that holds images. With kohya_rules, exactly what
 * sd-scripts writes into ss_tag_frequency: only N_name folders, keyed by their name; tags split
 * on ',', stripped, lower-cased, every occurrence counted (a repeated tag twice); an image without
 * a caption counts its folder's class tokens. Without, our own counts: images per tag as written,
 * every folder (keyed by its path, "." for the root). Tags are in `sort` order within a folder. */
cJSON *occurrence_by_folder(const dataset *ds, bool kohya_rules, occ_sort sort);

#endif
