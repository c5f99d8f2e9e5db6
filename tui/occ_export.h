/* Writing the occurrence table to a file, in the text form `tagbench tags` prints. */
#ifndef TUI_OCC_EXPORT_H
#define TUI_OCC_EXPORT_H
#include "tagger/dataset.h"
#include "tagger/occurrence.h"

/* Writes atomically (a temporary file beside it, synced, then renamed): an existing file is
 * either replaced whole or left as it was. Returns 0 or -1 with err naming the file. */
int occ_export(const dataset *ds, uint32_t folder, occ_sort sort, const char *path, tg_error *err);

#endif
