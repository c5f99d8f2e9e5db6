/* What the dataset's own files share while building and changing a dataset. */
#ifndef TAGGER_PRIVATE_DATASET_BUILD_H
#define TAGGER_PRIVATE_DATASET_BUILD_H
#include "tagger/dataset.h"

int dataset_add_note(dataset *ds, ds_note_kind kind, const char *path, const char *reason);
/* Scans the folder tree into ds->items/folders/notes (dataset_scan.c). */
int dataset_scan(dataset *ds, tg_error *err);
/* Reads and parses the caption file of every item that has one (dataset_read.c). */
int dataset_read_captions(dataset *ds);
/* The tags of a caption line, interned: malloc'd ids, their number in *n; NULL when out of memory.
 * The one place that turns caption text into tag ids (reading, journal replay, EDIT_SET). */
uint32_t *tags_intern(dataset *ds, const char *text, size_t len, uint32_t *n);
/* Replaces an item's tags, keeping occurrence counts and the dirty flag current. */
int item_set_tags(dataset *ds, ds_item *it, const uint32_t *tags, uint32_t n);
/* Occurrence bookkeeping (occurrence.c). */
int occ_add_item(dataset *ds, const ds_item *it, int sign);
void occ_free(dataset *ds);
/* Appends msg (owned; NULL means out of memory) to a message list; -1 on OOM (msg freed). */
int messages_add(char ***list, size_t *n, char *msg);
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
