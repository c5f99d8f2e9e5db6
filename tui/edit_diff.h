/* Unified diff of every edited caption against its file on disk (`tagbench edit --dry-run`). */
#ifndef TUI_EDIT_DIFF_H
#define TUI_EDIT_DIFF_H
#include <stdio.h>

#include "tagger/dataset.h"

/* Prints a diff for each dirty item; returns the number printed, -1 on failure. */
long edit_diff_print(const dataset *ds, FILE *out);

#endif
