/* The Train screen's operations on the app's run config as a whole (a->cfg, the one the Captions
 * screen edits too): saving after a change (the Captions screen's save, with its conflict check),
 * loading another JSON config (a kohya_ss GUI one too) into it, writing it to another file, and
 * the run it describes in figures. */
#ifndef TUI_TRAIN_CONFIG_H
#define TUI_TRAIN_CONFIG_H
#include <stdbool.h>
#include <stddef.h>

#include "tui/app.h"

/* After a change of a->cfg: saves it to the app's config file (captions_config_save) and brings
 * what depends on it up to date (the Dataset screen's buckets). -1 with err when not saved. */
int train_config_changed(app *a, tg_error *err);

/* Replaces a->cfg by the config at path. A file other than the app's own keeps this dataset's
 * train_data_dir and caption_extension (the workbench trains the open dataset), then is saved to
 * the app's file; *saved says whether that worked (err then says why not, the loaded values
 * stay). The app's own file is re-read as it is on disk (nothing to save). -1 with err when path
 * does not load (a->cfg unchanged). */
int train_config_load(app *a, const char *path, bool *saved, tg_error *err);
/* The lines listing the keys a config holds but tagbench does not use, for overlay_open: a
 * count, then "  key  reason" per ignored key, then the unknown keys. NULL (*n = 0) when there
 * are none. malloc'd strings in a malloc'd array. */
char **train_config_ignored_lines(const run_config *c, size_t *n);

/* Writes a->cfg to path, a file other than the app's (that one is saved on every change).
 * An existing file is replaced only with overwrite; a->cfg still saves to the app's file
 * afterwards. */
int train_config_save_as(app *a, const char *path, bool overwrite, tg_error *err);

/* What the config means for the open dataset. */
typedef struct train_plan {
    size_t images;           /* in the dataset */
    size_t trained;          /* of those, in N_name folders (repeats > 0) */
    size_t per_epoch;        /* images x repeats */
    long steps_per_epoch;    /* about: buckets add partial batches */
    long total_steps;
    double epochs;           /* total_steps / steps_per_epoch */
} train_plan;
void train_config_plan(const app *a, train_plan *p);

#endif
