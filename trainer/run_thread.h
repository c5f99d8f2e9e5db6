/* A training run in its own thread (docs/run_events.md).
 *
 * The caller (the workbench, or `tagbench train`) starts a thread that runs a body, the training
 * loop, and then talks to it only through the run's event channel (run_thread_chan: poll its fd,
 * pop events) and requests (pause, resume, stop, save now, sample now). The body reports through
 * run_emit / run_log, and calls run_checkpoint_requests at each step boundary to learn what was
 * asked; a pause blocks it there (on a condition variable) until resume or stop.
 *
 * When the body returns, the thread publishes the run's last event: FINISHED (reason "stopped"
 * when the body saw a stop request, "completed" otherwise) for 0, FAILED with the body's error
 * message for -1; run_check_loss publishes FAILED itself, and then nothing more is published.
 * Every event also goes to RUN_DIR/events.jsonl when a run folder is given.
 *
 * The thread blocks asynchronous signals (SIGINT, SIGWINCH, ...) so that they reach the caller's
 * poll loop. Requests are not async-signal-safe: a Ctrl-C handler should wake the main loop
 * (a self-pipe), which then calls run_request_stop. */
#ifndef TRAINER_RUN_THREAD_H
#define TRAINER_RUN_THREAD_H
#include <stdbool.h>
#include <stdint.h>

#include "tagger/error.h"
#include "trainer/run_events.h"

typedef struct run_ctx run_ctx;
typedef struct run_thread run_thread;

/* The training loop. Returns 0 when the run ended (completed, or stopped after saving), -1 with
 * run_ctx_err(ctx) set when it failed. */
typedef int (*run_body_fn)(run_ctx *ctx);

typedef struct run_thread_opts {
    const char *run_dir;         /* events.jsonl is appended here (the folder is made if missing);
                                  * NULL: no file */
    size_t chan_capacity;        /* see run_chan_new; 0: the default */
    void *user;                  /* the body's data: run_ctx_user */
    const char *last_checkpoint; /* a resumed run's checkpoint, named if the loss goes NaN before
                                  * a new one is written; NULL: none */
} run_thread_opts;

/* Opens the event log and the channel, then starts the thread running body. NULL opts: no run
 * folder, default channel, no user data. -1 with err set when nothing was started. */
int run_thread_start(run_thread **out, run_body_fn body, const run_thread_opts *opts, tg_error *err);

/* The channel to poll (run_chan_fd) and pop; valid until run_thread_free. */
run_chan *run_thread_chan(run_thread *t);

/* Waits for the thread to end (a paused run waits for resume or stop: call run_request_stop
 * first to end it). Returns the body's status: 0, or -1 with err set to its message. Joining
 * again returns the same. */
int run_thread_join(run_thread *t, tg_error *err);

/* Stops the run (run_request_stop) if it still runs, joins it, frees everything. NULL is fine. */
void run_thread_free(run_thread *t);

/* ---- requests: from any thread but the run's own; seen at the next step boundary ---- */

void run_request_pause(run_thread *t);
void run_request_resume(run_thread *t);
/* Save, then finish: the body sees RUN_DO_SAVE | RUN_DO_STOP (also when paused). */
void run_request_stop(run_thread *t);
void run_request_save(run_thread *t);
void run_request_sample(run_thread *t);

/* ---- for the body (on the run thread) ---- */

void *run_ctx_user(run_ctx *ctx);
/* Where the body puts its error before returning -1. */
tg_error *run_ctx_err(run_ctx *ctx);

/* What run_checkpoint_requests asks the body to do, in this order: save a checkpoint, write
 * samples, then (after saving) return 0. */
enum { RUN_DO_SAVE = 1u << 0, RUN_DO_SAMPLE = 1u << 1, RUN_DO_STOP = 1u << 2 };

/* Call at each step boundary. Cheap when nothing was asked (one atomic load). When a pause was
 * asked, publishes PAUSED and blocks without using the CPU until resume (then RESUMED is
 * published) or stop. Save-now and sample-now are each returned once; a stop returns
 * RUN_DO_SAVE | RUN_DO_STOP the first time and RUN_DO_STOP after; save and sample requests made
 * during a pause are returned after it. */
unsigned run_checkpoint_requests(run_ctx *ctx);

/* True once a stop was asked (or the loss failed): for long work inside a step (sampling)
 * that may end early. Never blocks. */
bool run_stop_requested(run_ctx *ctx);

/* Publishes ev (a copy) on the channel and appends it to events.jsonl; CHECKPOINT_WRITTEN events
 * also become the "last good checkpoint". FINISHED and FAILED are the thread's to send: refused
 * (-1). Failing to write events.jsonl is reported once as a LOG warning on the channel and the
 * run goes on. -1 only when the channel is out of memory (the body may ignore it). */
int run_emit(run_ctx *ctx, const run_event *ev);
/* A LOG event (printf-style). */
int run_log(run_ctx *ctx, run_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* 0 when loss is finite. Otherwise publishes FAILED "loss is NaN at step N; the last good
 * checkpoint is PATH (kept)" (or "... infinite ...", "...; no checkpoint was written yet"), sets
 * run_ctx_err to the same message, turns later run_checkpoint_requests into RUN_DO_STOP (no save:
 * the weights are not good), and returns -1: the body should return -1 at once. */
int run_check_loss(run_ctx *ctx, int64_t step, double loss);

#endif
