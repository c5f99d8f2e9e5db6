/* The edit operations by name, as `tagbench edit --NAME` and the app's `:NAME` command line
 * spell them, with the number of arguments each takes. */
#ifndef TUI_EDIT_SPEC_H
#define TUI_EDIT_SPEC_H
#include "tagger/edit.h"

typedef struct edit_spec {
    const char *name;   /* "add", "rename", "move-to-front", ... */
    edit_kind kind;
    int nargs;
    const char *args;   /* "TAG", "OLD NEW", ... for help */
} edit_spec;

extern const edit_spec edit_specs[];
extern const size_t n_edit_specs;

const edit_spec *edit_spec_find(const char *name);

#endif
