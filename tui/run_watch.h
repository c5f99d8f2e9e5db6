/* The workbench's view of a training run: the run it launched (going, paused or ended), or a
 * run folder opened to look at (its events.jsonl replayed). The app loop polls run_watch_fd and
 * calls run_watch_poll; the Run and Samples screens only read what is folded here. One per app
 * (app->run, NULL until the first run). */
#ifndef TUI_RUN_WATCH_H
#define TUI_RUN_WATCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trainer/run_events.h"
#include "trainer/run_thread.h"
#include "tui/loss_series.h"

typedef enum run_state {
    RUN_STATE_STARTING, /* launched, no step yet (loading the model, opening the data) */
    RUN_STATE_RUNNING,
    RUN_STATE_PAUSED,
    RUN_STATE_FINISHED, /* completed or stopped; finish_reason says which */
    RUN_STATE_FAILED,   /* fail_message says why */
    RUN_STATE_VIEWED,   /* an old run folder, read from its events.jsonl */
} run_state;

enum { RUN_WATCH_LOG_LINES = 500, RUN_WATCH_RATE_N = 16 };
#define RUN_WATCH_SMOOTHING 0.6 /* the loss line's initial weight: TensorBoard's default */

/* A sample image written by the run. */
typedef struct run_sample {
    int64_t step;
    int prompt;   /* index into the run's prompts */
    char *path;
} run_sample;

typedef struct run_watch {
    run_thread *thread;     /* NULL once the run ended and was joined, or for a viewed folder */
    char *run_dir;
    run_state state;
    run_finish_reason finish_reason;
    char *fail_message;

    /* the newest STEP event's figures */
    int64_t step, total_steps;
    int epoch, total_epochs;
    double lr, grad_norm, samples_per_s;
    int64_t mem_bytes;
    double started_at;      /* time of the first event (seconds since the epoch) */
    double last_step_at;

    loss_series *loss;      /* every STEP's loss, bounded memory */

    /* The event log as lines ("12:03:04 checkpoint last-step00000200.safetensors"), the newest
     * RUN_WATCH_LOG_LINES kept. */
    char **log;
    size_t n_log, log_head; /* ring: log[(log_head + i) % RUN_WATCH_LOG_LINES], i < n_log */

    run_sample *samples;    /* in the order written */
    size_t n_samples, cap_samples;
    char **prompts;         /* the prompt lines of the run's sample_prompts file (may be 0) */
    size_t n_prompts;

    char **checkpoints;     /* paths, in the order written */
    size_t n_checkpoints;

    uint64_t generation;    /* grows whenever anything above changes: screens redraw on it */

    /* Derived from the events' times, so a replayed folder shows what the live run showed. */
    double steps_per_s;     /* over the last RUN_WATCH_RATE_N steps since the last (re)start; 0:
                             * not known yet */
    double last_event_at;
    uint64_t steps_merged;  /* STEP events the channel merged (the plot thinned; the file has all) */
    bool stop_requested;    /* run_watch_stop was called: the run is ending (quitting need not ask) */
    run_state view_state;   /* for RUN_STATE_VIEWED: the state the folder's events left */
    size_t n_bad_lines;     /* for RUN_STATE_VIEWED: lines of events.jsonl that did not parse */
    int rate_n, rate_head;  /* internal: ring of recent (time, step) for steps_per_s */
    double rate_t[RUN_WATCH_RATE_N];
    int64_t rate_step[RUN_WATCH_RATE_N];
} run_watch;


struct app;

/* Launches a run from the app's run config on a snapshot of the app's dataset (edits after this
 * do not reach the run). Refuses while a run is going. 0, or -1 with the reason on the status
 * line (app_error). */
int run_watch_start(struct app *a);
/* Opens an existing run folder for viewing (replays its events.jsonl). */
int run_watch_view(struct app *a, const char *run_dir);
/* The fd to poll (-1 when no run thread is going). */
int run_watch_fd(const run_watch *w);
/* Pops and folds every pending event; true when anything changed. Joins the thread after its
 * last event. */
bool run_watch_poll(run_watch *w);
/* Requests (no-ops without a going run). */
void run_watch_pause(run_watch *w);
void run_watch_resume(run_watch *w);
void run_watch_stop(run_watch *w);
void run_watch_save_now(run_watch *w);
void run_watch_sample_now(run_watch *w);
bool run_watch_active(const run_watch *w); /* a thread is going (starting, running or paused) */
/* Stops a going run (saving), waits for it, frees everything. NULL is fine. */
void run_watch_free(run_watch *w);

/* ---- the parts under the above, for the screens and the tests ---- */

/* An empty watch of run_dir (may be NULL) in RUN_STATE_STARTING, no thread. NULL: out of memory. */
run_watch *run_watch_new(const char *run_dir);
/* Folds one event into w (a run's events in order; the event is only read). */
void run_watch_fold(run_watch *w, const run_event *ev);
/* A watch of run_dir in RUN_STATE_VIEWED: its events.jsonl replayed, the prompts of its
 * config.json's sample_prompts (a relative path taken from base_dir). NULL with err set when
 * events.jsonl cannot be read. */
run_watch *run_watch_read(const char *run_dir, const char *base_dir, tg_error *err);
/* Keeps the prompt texts of a sample_prompts file; -1 with err set (w keeps none). */
int run_watch_load_prompts(run_watch *w, const char *path, tg_error *err);
/* Line i of the event log, 0 = the oldest kept (i < n_log). */
const char *run_watch_log_line(const run_watch *w, size_t i);
/* "starting", "running", "paused", "finished", "stopped", "failed"; for a viewed folder the
 * state its events left ("ended early" when they stop without a finish). */
const char *run_watch_state_name(const run_watch *w);
/* Seconds to the last step at the current speed; -1 when not known (no speed, not running). */
double run_watch_eta(const run_watch *w);
/* One short phrase for the header ("run 120/1600", "run paused", "run failed"); "" when w is
 * NULL or viewed. */
void run_watch_summary(const run_watch *w, char *buf, size_t size);
/* The newest run folder under DIR/.tagbench/runs (malloc'd), NULL when there is none. */
char *run_watch_latest_dir(const char *dataset_dir);

#endif
