/* The app's run config (trainer/run_config.h): loaded at start, read by the Captions screen and
 * the bucket line, and saved whenever the Captions screen changes an option. */
#ifndef TUI_CAPTIONS_CONFIG_H
#define TUI_CAPTIONS_CONFIG_H
#include "tagger/pipeline.h"
#include "tui/app.h"

/* Loads --config or DIR/.tagbench/run.json (a missing file gives kohya's defaults). */
int captions_config_open(app *a, tg_error *err);
void captions_config_close(app *a);
void captions_config_get(app *a, pipeline_opts *o);
/* Stores the caption options and saves the file (atomically; refused when it changed on disk). */
int captions_config_put(app *a, const pipeline_opts *o, tg_error *err);
/* Saves the whole of a->cfg as captions_config_put does (the Train screen's changes). */
int captions_config_save(app *a, tg_error *err);
const char *captions_config_path(const app *a);
/* The training resolution the config asks for (its `resolution`, "512" or "512,768"); 512x512
 * when unset. */
void captions_config_resolution(const app *a, int *w, int *h);
/* The buckets the run config gives (its resolution and bucket keys; one size without
 * enable_bucket), for the Dataset screen's info line. -1 with err when they cannot be made. */
int captions_config_buckets(const app *a, bucket_list *out, tg_error *err);

#endif
