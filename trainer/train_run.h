/* A training run from a run_config (docs/training.md): the one entry point the workbench and
 * `tagbench train` share.
 *
 * train_start does the quick, checkable part on the caller's thread: validates the config,
 * resolves its paths, makes the run folder, writes RUN_DIR/config.json (the config as the run
 * uses it), and starts a run thread (run_thread.h) that does the rest and reports through the
 * thread's event channel and RUN_DIR/events.jsonl:
 *   load or build the model, open the data (sizes, buckets), then the loop: per optimizer step
 *   gradient_accumulation_steps micro-batches (timesteps, noise + offset, ε or v target, min-SNR
 *   weights, MSE, backward), clipping to max_grad_norm, AdamW with the scheduler's lr, the EMA
 *   of the weights (full training), then STEP events, checkpoints, state and samples when due.
 *
 * The run folder: output_dir when the config sets it, else
 *   TRAIN_DATA_DIR/.tagbench/runs/YYYYmmdd-HHMMSS[-N]
 * It holds config.json, events.jsonl, the checkpoints (kohya's names: NAME.safetensors,
 * NAME-000002.safetensors, NAME-step00000500.safetensors), their -state folders with save_state,
 * tags.json (the tiny model's tag vocabulary) and samples/NAME_SSSSSS_PP_YYYYmmddHHMMSS_SEED.png.
 * A fresh run in a folder that already has an events.jsonl moves it aside
 * (events-YYYYmmdd-HHMMSS.jsonl); a resumed run (resume set) appends to it.
 *
 * Relative paths in the config (train_data_dir, output_dir, sample_prompts, resume,
 * pretrained_model_name_or_path when it names a file) are taken relative to base_dir, the
 * folder of the config file, so a config travels with its dataset. */
#ifndef TRAINER_TRAIN_RUN_H
#define TRAINER_TRAIN_RUN_H
#include <stdbool.h>

#include "tagger/error.h"
#include "trainer/run_config.h"
#include "trainer/run_thread.h"
#include "trainer/train_data.h"

typedef struct train_launch {
    const run_config *cfg;  /* read only during train_start (the run keeps its own copy) */
    const char *base_dir;   /* relative paths resolve against it; NULL: the current folder */
    /* The dataset as it is at launch (train_snapshot_take), so edits made during the run do not
     * reach it. Taken: the run frees it, also when train_start fails. NULL: the run reads
     * train_data_dir itself (headless). */
    train_snapshot *snap;
    const char *backend;    /* "cpu" (NULL), "cuda", "auto" */
    int threads;            /* compute threads; 0: every core */
} train_launch;

/* Starts a run. On success *thread is the running run (poll run_thread_chan, send requests, join,
 * free) and *run_dir its folder (malloc'd). -1 with err set, nothing started and nothing written
 * but possibly the run folder itself, when the config fails validation, a path does not exist,
 * or the folder cannot be made. */
int train_start(const train_launch *l, run_thread **thread, char **run_dir, tg_error *err);

#endif
