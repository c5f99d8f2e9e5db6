/* A step that sets given items to given tags outright (journal replay uses it). */
#ifndef TAGGER_PRIVATE_EDIT_STEP_H
#define TAGGER_PRIVATE_EDIT_STEP_H
#include "tagger/dataset.h"

int step_set_tags(dataset *ds, const uint32_t *items, uint32_t *const *tags, const uint32_t *n_tags,
                  size_t n, const char *label, tg_error *err);

#endif
