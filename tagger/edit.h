/* Edit operations on captions. Every operation works on one image, a selection, a filter result
 * or the whole dataset alike (the caller passes the item indices), and one call of dataset_apply
 * is one undoable step, however many operations and images it touches. Normalisations
 * (underscores, case, parentheses) exist only as explicit operations: nothing is ever
 * normalised silently. */
#ifndef TAGGER_EDIT_H
#define TAGGER_EDIT_H
#include <stddef.h>
#include <stdint.h>

#include "tagger/dataset.h"
#include "tagger/error.h"
#include "tagger/filter.h"

typedef enum edit_kind {
    EDIT_ADD,           /* a: tag; appended unless present */
    EDIT_PREPEND,       /* a: tag; put first (moved there if present) */
    EDIT_REMOVE,        /* a: tag or glob pattern (a pattern that is the name of a tag in the
                         * dataset is that tag only: `hat [red]`, `what?`) */
    EDIT_RENAME,        /* a -> b; merges into b where b is already present */
    EDIT_REPLACE,       /* a: POSIX extended regex, b: replacement (\0..\9); on every tag, all
                         * matches; a tag that becomes empty is removed */
    EDIT_MOVE_FRONT,    /* a: tag or glob; matching tags move to the front, in their order */
    EDIT_SORT,          /* a: "name" or "count"; keep: number of leading tags left in place */
    EDIT_DEDUP,         /* drop repeated tags, keeping the first */
    EDIT_UNDERSCORES,   /* `_` -> space, except in tags of 3 characters or fewer (emoticons
                         * such as ^_^), as sd-scripts' --remove_underscore does */
    EDIT_LOWERCASE,     /* ASCII lower case */
    EDIT_ESCAPE_PARENS, /* ( ) -> \( \) (A1111 weighted-caption syntax), unless already escaped */
    EDIT_SET,           /* a: a whole caption line; replaces the tags */
} edit_kind;

typedef struct edit_op {
    edit_kind kind;
    char *a, *b;
    int keep;
    void *re; /* compiled regex for EDIT_REPLACE */
} edit_op;

/* Validates and prepares an operation (compiles the regex, checks the sort key, refuses empty
 * tags); the message names the operation and the reason. */
int edit_op_init(edit_op *op, edit_kind kind, const char *a, const char *b, int keep, tg_error *err);
void edit_op_free(edit_op *op);
const char *edit_kind_name(edit_kind kind);

typedef struct edit_result {
    size_t changed; /* images whose tags changed */
    size_t locked;  /* selected images skipped because their caption could not be read */
} edit_result;

/* Applies ops[0..nops) in order to each item in sel[0..nsel) (indices into ds->items), as one
 * undoable step called label. Items that end up unchanged are not part of the step. */
int dataset_apply(dataset *ds, const edit_op *ops, size_t nops, const uint32_t *sel, size_t nsel,
                  const char *label, edit_result *res, tg_error *err);

/* Selections: all items, or the items matching a filter. malloc'd index arrays. */
uint32_t *dataset_select_all(const dataset *ds, size_t *n);
uint32_t *dataset_select_filter(const dataset *ds, const tag_filter *f, size_t *n);

/* Undo and redo whole steps. Return 1 when a step was undone/redone, 0 when there was none,
 * -1 on error. The label of the step that would be undone/redone, or NULL. */
int dataset_undo(dataset *ds, tg_error *err);
int dataset_redo(dataset *ds, tg_error *err);
const char *dataset_undo_label(const dataset *ds);
const char *dataset_redo_label(const dataset *ds);

#endif
