/* Shared between edit.c (steps, selections, undo) and edit_ops.c (the operations). */
#ifndef TAGGER_PRIVATE_EDIT_OPS_H
#define TAGGER_PRIVATE_EDIT_OPS_H
#include "tagger/edit.h"

#define MEMO_UNSET UINT32_MAX
#define MEMO_REMOVED (UINT32_MAX - 1)
#define MEMO_SPLIT (UINT32_MAX - 2) /* maps to several tags: recomputed each time */

typedef struct tagbuf {
    uint32_t *t, n, cap;
} tagbuf;

/* One operation while it runs over a selection. */
typedef struct op_ctx {
    dataset *ds;
    const edit_op *op;
    uint32_t id_a, id_b;     /* interned a and b for add/prepend/rename */
    uint32_t *set, n_set;    /* EDIT_SET: the parsed tags */
    uint32_t *memo, n_memo;  /* per tag id: mapped id or match result */
    bool literal;            /* the pattern is the name of a tag: `hat [red]` is no glob */
} op_ctx;

int op_run(op_ctx *cx, tagbuf *b);
int tagbuf_push(tagbuf *b, uint32_t id);

#endif
