/* The state of one training run, shared by the files of the training engine (train_run.h):
 * train_run.c (launch), train_setup.c (model, data, optimizer), train_loop.c (the loop),
 * train_step.c (one optimizer step), train_save.c (checkpoints), train_state.c (save_state and
 * resume), train_samples.c (sample images). */
#ifndef TRAINER_PRIVATE_TRAIN_JOB_H
#define TRAINER_PRIVATE_TRAIN_JOB_H
#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "trainer/dmodel.h"
#include "trainer/lr_schedule.h"
#include "trainer/run_config.h"
#include "trainer/run_thread.h"
#include "trainer/sample_prompt.h"
#include "trainer/sampler.h"
#include "trainer/train_data.h"

/* The weights one learning rate applies to: a network's parameters, or a LoRA set's range. */
typedef struct opt_group {
    const char *name;      /* "unet", "text_encoder": keys in the state file */
    tensor w, g;           /* views of the trainable buffers (1-d) */
    tensor m, v;           /* AdamW's moments */
    tensor ema;            /* the weights' EMA (full training), else data NULL */
    double base_lr;
} opt_group;

typedef struct train_job {
    run_config cfg;        /* as written to RUN_DIR/config.json, paths absolute */
    char *run_dir;
    char *backend;
    int threads;
    train_snapshot *snap;  /* until train_data_open takes it */

    kctx k;
    bool k_ready;
    dmodel m;
    bool full;             /* train_mode "full": every weight, EMA; else LoRA on a frozen base */
    bool te_trained;       /* the text encoder (or its adapters) learns */
    train_data *td;
    lr_schedule lrs;
    opt_group groups[2];
    int n_groups;
    tensor ema_hold;       /* the live weights while the EMA is swapped in */
    uint64_t seed;

    long step;             /* optimizer steps done */
    long total_steps;
    int total_epochs;
    long steps_per_epoch;
    size_t batches_per_epoch;
    int accum;

    sample_prompt_list prompts;
    sampler_kind sampler;
    train_batch batch;
    double t0;             /* when the loop started (for it/s) */
    long step0;            /* the step it started from */
    double loss_sum;       /* of the steps since the last STEP event */
} train_job;

/* train_run.c: frees what train_start made (config, folder name, snapshot) and j itself. */
void train_job_release(train_job *j);

/* train_vocab.c: every tag of the snapshot's captions (the class tokens of images without one)
 * and of the prefix and suffix, most frequent first; malloc'd strings, NULL when out of memory. */
char **train_vocab(const train_snapshot *s, const char *prefix, const char *suffix, size_t *n);

/* train_setup.c */
int job_setup(run_ctx *ctx, train_job *j, tg_error *err);
void job_free(train_job *j);

/* train_step.c: one optimizer step (its micro-batches, the update); *loss is the mean loss. */
int job_step(train_job *j, double *loss, double *grad_norm, double *lr, tg_error *err);

/* train_save.c: the checkpoint (and with save_state or always_state its state folder) named for
 * `what`: "final", "epoch" or "step"; a CHECKPOINT_WRITTEN event is emitted. */
int job_save(run_ctx *ctx, train_job *j, const char *what, int epoch, bool always_state, tg_error *err);
/* The EMA weights in place of the live ones (full training) for sampling and saving, and back. */
void job_ema_swap_in(train_job *j);
void job_ema_swap_out(train_job *j);

/* train_state.c */
int job_state_save(train_job *j, const char *dir, int epoch, tg_error *err);
/* Reads RESUME/train_state.json's step and the weights and optimizer moments into the groups. */
int job_state_load(train_job *j, const char *dir, tg_error *err);
/* The vocabulary a resumed full run must keep: RESUME/tags.json's tags, or NULL when absent. */
char **job_state_tags(const char *dir, size_t *n, tg_error *err);

/* train_samples.c: every prompt at the current step. */
int job_samples(run_ctx *ctx, train_job *j, tg_error *err);

/* The epoch (from 1) that optimizer step s (from 1) belongs to. */
static inline int job_epoch_of(const train_job *j, long s)
{
    return (int)((s - 1) / j->steps_per_epoch) + 1;
}

#endif
