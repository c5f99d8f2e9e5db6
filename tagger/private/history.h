/* The undo/redo history of a dataset: a list of steps, each the before/after tags of the items it
 * changed. Internal to the tagger (dataset_undo/dataset_redo in edit.h are the public face). */
#ifndef TAGGER_PRIVATE_HISTORY_H
#define TAGGER_PRIVATE_HISTORY_H
#include <stddef.h>
#include <stdint.h>

typedef struct history history;

typedef struct hist_change {
    uint32_t item;
    uint32_t *before, n_before;
    uint32_t *after, n_after;
} hist_change;

history *history_new(void);
void history_free(history *h);
/* Adds a step (taking ownership of changes[0..n) and their arrays) after the current one,
 * dropping steps that had been undone. */
int history_push(history *h, const char *label, hist_change *changes, size_t n);
/* The step to undo (moving the cursor back) or redo (forward); NULL when there is none. */
const hist_change *history_undo(history *h, const char **label, size_t *n);
const hist_change *history_redo(history *h, const char **label, size_t *n);
const char *history_peek_undo(const history *h);
const char *history_peek_redo(const history *h);

#endif
