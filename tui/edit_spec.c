/* The table of edit operation names (edit_spec.h). */
#include "tui/edit_spec.h"

#include <string.h>

const edit_spec edit_specs[] = {
    {"add", EDIT_ADD, 1, "TAG"},
    {"prepend", EDIT_PREPEND, 1, "TAG"},
    {"remove", EDIT_REMOVE, 1, "PATTERN"},
    {"rename", EDIT_RENAME, 2, "OLD NEW"},
    {"replace", EDIT_REPLACE, 2, "REGEX TEXT"},
    {"move-to-front", EDIT_MOVE_FRONT, 1, "PATTERN"},
    {"sort", EDIT_SORT, 1, "name|count"},
    {"dedup", EDIT_DEDUP, 0, ""},
    {"underscores", EDIT_UNDERSCORES, 0, ""},
    {"lowercase", EDIT_LOWERCASE, 0, ""},
    {"escape-parens", EDIT_ESCAPE_PARENS, 0, ""},
};
const size_t n_edit_specs = sizeof edit_specs / sizeof edit_specs[0];

const edit_spec *edit_spec_find(const char *name)
{
    for (size_t i = 0; i < n_edit_specs; i++)
        if (!strcmp(edit_specs[i].name, name))
            return &edit_specs[i];
    return NULL;
}
